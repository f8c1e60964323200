// SPDX-License-Identifier: GPL-2.0
/* live.c - DBOS_CMD_GET_LIVE: what /proc shows now of listed processes, over a command socket of the caller's own. */
#include <errno.h>
#include <linux/genetlink.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/kernel/genl.h"

#define LIVE_TIMEOUT_S	10

struct kernel_live {
	struct kernel_genl g;
};

int kernel_live_open(struct kernel_live **out, char **err)
{
	struct kernel_live *kl = calloc(1, sizeof(*kl));
	int rc;

	*out = NULL;
	if (!kl) {
		kernel_genl_err(err, "out of memory");
		return -ENOMEM;
	}
	rc = kernel_genl_open(&kl->g, LIVE_TIMEOUT_S, 0, err);
	if (rc) {
		kernel_genl_close(&kl->g);
		free(kl);
		return rc;
	}
	*out = kl;
	return 0;
}

void kernel_live_close(struct kernel_live *kl)
{
	if (!kl)
		return;
	kernel_genl_close(&kl->g);
	free(kl);
}

struct live_ctx {
	kernel_live_fn fn;
	void *arg;
	int rc;
};

/* One reply message: its DBOS_A_RECORDS, each a DBOS_REC_LIVE checked whole before @fn sees it. */
static void live_reply(void *arg, const struct nlmsghdr *nlh, size_t len)
{
	struct live_ctx *c = arg;
	const struct nlattr *a;
	size_t off, alen;

	if (len < NLMSG_HDRLEN + GENL_HDRLEN || nlh->nlmsg_len > len)
		goto bad;
	off = NLMSG_HDRLEN + GENL_HDRLEN;
	for (; off + NLA_HDRLEN <= nlh->nlmsg_len; off += NLA_ALIGN(alen)) {
		const unsigned char *p, *end;

		a = (const struct nlattr *)((const char *)nlh + off);
		alen = a->nla_len;
		if (alen < NLA_HDRLEN || off + alen > nlh->nlmsg_len)
			goto bad;
		if ((a->nla_type & NLA_TYPE_MASK) != DBOS_A_RECORDS)
			continue;
		p = (const unsigned char *)a + NLA_HDRLEN;
		end = (const unsigned char *)a + alen;
		while (p < end) {
			struct dbos_rec_hdr h;
			struct dbos_live v;
			size_t need;

			if ((size_t)(end - p) < sizeof(h))
				goto bad;
			memcpy(&h, p, sizeof(h));
			if (h.len < sizeof(h) || h.len > (size_t)(end - p))
				goto bad;
			if (h.type == DBOS_REC_LIVE) {
				if (h.len < sizeof(h) + sizeof(v))
					goto bad;
				memcpy(&v, p + sizeof(h), sizeof(v));
				need = sizeof(h) + sizeof(v) + (size_t)v.cwd_len + v.root_len +
				       v.cgroup_len;
				if (need > h.len)
					goto bad;
				if (c->rc == 0)
					c->fn(c->arg, &v, (const char *)p + sizeof(h) + sizeof(v));
			}
			p += h.len;
		}
	}
	return;
bad:
	c->rc = -EBADMSG;
}

int kernel_live_get(struct kernel_live *kl, const uint32_t *pids, size_t n, uint32_t parts,
		    kernel_live_fn fn, void *arg, char **err)
{
	struct live_ctx c = { fn, arg, 0 };
	struct nl_msg *msg;
	int rc;

	if (n == 0)
		return 0;
	if (n > DBOS_LIVE_PIDS_MAX) {
		kernel_genl_err(err, "at most %d pids per GET_LIVE", DBOS_LIVE_PIDS_MAX);
		return -EINVAL;
	}
	msg = kernel_genl_msg(&kl->g, DBOS_CMD_GET_LIVE, NLM_F_DUMP, n * sizeof(*pids) + 64);
	if (!msg || nla_put(msg, DBOS_A_PIDS, (int)(n * sizeof(*pids)), pids) < 0 ||
	    nla_put_u32(msg, DBOS_A_LIVE_FIELDS, parts & DBOS_LIVE_F_ALL) < 0) {
		nlmsg_free(msg);
		kernel_genl_err(err, "out of memory");
		return -ENOMEM;
	}
	rc = kernel_genl_transact(&kl->g, msg, true, live_reply, &c, err, NULL);
	if (rc == 0 && c.rc) {
		kernel_genl_err(err, "malformed GET_LIVE reply");
		rc = c.rc;
	}
	return rc;
}
