// SPDX-License-Identifier: GPL-2.0
/* request.c - DBOS_CMD_SCHED_SET and DBOS_CMD_SCHED_RULES: one generic netlink socket per call, extack as the error. */
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "dbserver/sched/sched.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define CMD_TIMEOUT_S	30		/* SCHED_RULES activation walks every process */
#define SNDBUF		(4 << 20)	/* a full rule set is megabytes */
#define RECV_BUF	(64 << 10)	/* replies are ACKs (NETLINK_CAP_ACK: no echo) */

/* Where an item (target, term) of a request lies in it, to name it in an error. */
struct span {
	uint32_t start, end;		/* byte offsets from the nlmsghdr */
	uint32_t id;			/* its pid or rule id */
};

struct req {
	struct nl_sock *sk;
	struct nl_msg *msg;
	int family;
	struct span *spans;
	size_t nspans;
};

static void set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(char **err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	free(*err);
	*err = NULL;
	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
}

static void req_free(struct req *r)
{
	nlmsg_free(r->msg);
	if (r->sk)
		nl_socket_free(r->sk);
	free(r->spans);
}

/*
 * A socket to the dbos family and a request @cmd of @size bytes with the ACK
 * asked for. 0, or -ENOENT ("dbos module not loaded"), -ENOMEM, -EIO.
 */
static int req_init(struct req *r, uint8_t cmd, size_t size, size_t nspans, char **err)
{
	struct timeval tv = { .tv_sec = CMD_TIMEOUT_S };
	int one = 1, fd, rc;

	memset(r, 0, sizeof(*r));
	r->sk = nl_socket_alloc();
	r->spans = calloc(nspans ? nspans : 1, sizeof(*r->spans));
	if (!r->sk || !r->spans) {
		set_err(err, "out of memory");
		return -ENOMEM;
	}
	/* Before connecting: libnl otherwise sets 32 KiB, too small for 1,024 targets. */
	nl_socket_set_buffer_size(r->sk, RECV_BUF, SNDBUF);
	rc = genl_connect(r->sk);
	if (rc < 0) {
		set_err(err, "netlink: %s", nl_geterror(rc));
		return -EIO;
	}
	fd = nl_socket_get_fd(r->sk);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &(int){ SNDBUF }, sizeof(int));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	r->family = genl_ctrl_resolve(r->sk, DBOS_GENL_NAME);
	if (r->family < 0) {
		if (r->family == -NLE_OBJ_NOTFOUND) {
			set_err(err, "dbos module not loaded");
			return -ENOENT;
		}
		set_err(err, "resolving the dbos netlink family: %s", nl_geterror(r->family));
		return -EIO;
	}
	r->msg = nlmsg_alloc_size(size + NLMSG_HDRLEN + GENL_HDRLEN + 64);
	if (!r->msg || !genlmsg_put(r->msg, NL_AUTO_PORT, NL_AUTO_SEQ, r->family, 0,
				    NLM_F_ACK, cmd, DBOS_GENL_VERSION)) {
		set_err(err, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* Offset of @p (inside the message being built) from its nlmsghdr. */
static uint32_t msg_off(struct req *r, const void *p)
{
	return (uint32_t)((const char *)p - (const char *)nlmsg_hdr(r->msg));
}

static void span_open(struct req *r, const struct nlattr *nest, uint32_t id)
{
	r->spans[r->nspans].start = msg_off(r, nest);
	r->spans[r->nspans].id = id;
}

static void span_close(struct req *r)
{
	r->spans[r->nspans].end = nlmsg_hdr(r->msg)->nlmsg_len;
	r->nspans++;
}

/* Bytes of one attribute with @len bytes of payload. */
static size_t attr_size(size_t len)
{
	return NLA_ALIGN(NLA_HDRLEN + len);
}

static size_t vals_size(const struct sched_vals *v)
{
	return 3 * attr_size(4) + (v->cpus_len ? attr_size(v->cpus_len) : 0);
}

/* The value attributes of @v (NICE, SCHED_POLICY, SCHED_PRIORITY, CPUS): 0 or -1 (no room). */
static int put_vals(struct nl_msg *msg, const struct sched_vals *v)
{
	if (v->has_nice && nla_put_s32(msg, DBOS_A_NICE, v->nice) < 0)
		return -1;
	if (v->has_policy && nla_put_u32(msg, DBOS_A_SCHED_POLICY, v->policy) < 0)
		return -1;
	if (v->has_policy && v->priority &&
	    nla_put_u32(msg, DBOS_A_SCHED_PRIORITY, v->priority) < 0)
		return -1;
	if (v->cpus_len && nla_put(msg, DBOS_A_CPUS, v->cpus_len, v->cpus) < 0)
		return -1;
	return 0;
}

/* The item of @r that byte @off of the request lies in, or NULL. */
static const struct span *span_at(const struct req *r, uint32_t off)
{
	for (size_t i = 0; i < r->nspans; i++)
		if (off >= r->spans[i].start && off < r->spans[i].end)
			return &r->spans[i];
	return NULL;
}

/*
 * The kernel's answer to an NLMSG_ERROR: its errno, and in *@err its extack
 * message naming the item (@what: "pid", "rule") the bad attribute lies in.
 */
static int error_reply(const struct req *r, const struct nlmsghdr *h, const char *what,
		       char **err)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	const char *msg = NULL;
	const struct span *sp = NULL;
	size_t off;
	int len;

	if (h->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
		return -EBADMSG;
	if (!e->error)
		return 0;
	/* TLVs follow the echoed request: only its header with NETLINK_CAP_ACK. */
	off = NLMSG_HDRLEN + sizeof(*e);
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
	len = (int)h->nlmsg_len - (int)off;
	if ((h->nlmsg_flags & NLM_F_ACK_TLVS) && len > 0) {
		const struct nlattr *a = (const struct nlattr *)((const char *)h + off);

		for (; nla_ok(a, len); a = nla_next(a, &len)) {
			if (nla_type(a) == NLMSGERR_ATTR_MSG && nla_len(a) > 0 &&
			    ((const char *)nla_data(a))[nla_len(a) - 1] == '\0')
				msg = nla_data(a);
			else if (nla_type(a) == NLMSGERR_ATTR_OFFS && nla_len(a) >= 4)
				sp = span_at(r, nla_get_u32((struct nlattr *)a));
		}
	}
	if (!msg)
		msg = strerror(-e->error);
	if (sp)
		set_err(err, "%s %u: %s", what, sp->id, msg);
	else
		set_err(err, "%s", msg);
	return e->error;
}

/* Send the request and wait for its ACK; 0 or the kernel's -errno and *@err. */
static int req_run(struct req *r, const char *what, char **err)
{
	unsigned char *buf = malloc(RECV_BUF);
	uint32_t seq;
	int fd, rc;

	if (!buf) {
		set_err(err, "out of memory");
		return -ENOMEM;
	}
	rc = nl_send_auto(r->sk, r->msg);
	seq = nlmsg_hdr(r->msg)->nlmsg_seq;
	if (rc < 0) {
		rc = rc == -NLE_MSGSIZE ? -EMSGSIZE : -EIO;
		set_err(err, "sending the request to dbos.ko: %s", strerror(-rc));
		goto out;
	}
	fd = nl_socket_get_fd(r->sk);
	for (;;) {
		struct sockaddr_nl sa;
		socklen_t salen = sizeof(sa);
		ssize_t n = recvfrom(fd, buf, RECV_BUF, 0, (struct sockaddr *)&sa, &salen);
		const struct nlmsghdr *h;
		int left;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
			set_err(err, "waiting for dbos.ko: %s", strerror(-rc));
			goto out;
		}
		if (sa.nl_pid != 0)
			continue;
		left = (int)n;
		for (h = (const struct nlmsghdr *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			rc = error_reply(r, h, what, err);
			if (rc == -EBADMSG)
				set_err(err, "malformed reply from dbos.ko");
			goto out;
		}
	}
out:
	free(buf);
	return rc;
}

int sched_set(const struct sched_target *t, size_t n, uint32_t tag, char **err)
{
	struct nlattr *all, *one;
	struct req r;
	size_t size = attr_size(4) + attr_size(0);
	int rc;

	if (!n || n > DBOS_SCHED_TARGETS_MAX) {
		set_err(err, "1 to %d processes per change, not %zu", DBOS_SCHED_TARGETS_MAX, n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		size += attr_size(0) + attr_size(4) + vals_size(&t[i].v);
	rc = req_init(&r, DBOS_CMD_SCHED_SET, size, n, err);
	if (rc)
		goto out;
	rc = -ENOMEM;
	if (tag && nla_put_u32(r.msg, DBOS_A_SCHED_TAG, tag) < 0)
		goto nomem;
	all = nla_nest_start(r.msg, DBOS_A_SCHED_TARGETS | NLA_F_NESTED);
	if (!all)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		one = nla_nest_start(r.msg, DBOS_A_SCHED_TARGET | NLA_F_NESTED);
		if (!one)
			goto nomem;
		span_open(&r, one, t[i].pid);
		if (nla_put_u32(r.msg, DBOS_A_PID, t[i].pid) < 0 || put_vals(r.msg, &t[i].v))
			goto nomem;
		if (nla_nest_end(r.msg, one) < 0)
			goto nomem;
		span_close(&r);
	}
	if (nla_nest_end(r.msg, all) < 0)
		goto nomem;
	rc = req_run(&r, "pid", err);
	goto out;
nomem:
	set_err(err, "request too large or out of memory (%zu targets)", n);
out:
	req_free(&r);
	return rc;
}

static size_t match_size(const struct sched_match *m)
{
	size_t s = attr_size(0) + attr_size(4) + attr_size(0) + attr_size(0);

	s += m->nints * attr_size(4);
	for (size_t i = 0; i < m->nstrs; i++)
		s += attr_size(strlen(m->strs[i]) + 1);
	for (size_t i = 0; i < m->nprefixes; i++)
		s += attr_size(strlen(m->prefixes[i]) + 1);
	return s;
}

static int put_match(struct nl_msg *msg, const struct sched_match *m)
{
	struct nlattr *nest = nla_nest_start(msg, DBOS_A_SCHED_MATCH | NLA_F_NESTED), *vals;

	if (!nest || nla_put_u32(msg, DBOS_A_SCHED_FIELD, m->field) < 0 ||
	    (m->negate && nla_put_flag(msg, DBOS_A_SCHED_NEGATE) < 0))
		return -1;
	vals = nla_nest_start(msg, DBOS_A_SCHED_VALUES | NLA_F_NESTED);
	if (!vals)
		return -1;
	for (size_t i = 0; i < m->nints; i++)
		if (nla_put_u32(msg, DBOS_A_SCHED_INT, m->ints[i]) < 0)
			return -1;
	for (size_t i = 0; i < m->nstrs; i++)
		if (nla_put_string(msg, DBOS_A_SCHED_STR, m->strs[i]) < 0)
			return -1;
	for (size_t i = 0; i < m->nprefixes; i++)
		if (nla_put_string(msg, DBOS_A_SCHED_PREFIX, m->prefixes[i]) < 0)
			return -1;
	/* An empty VALUES nest is valid (matches nothing): keep it. */
	if (nla_nest_end_keep_empty(msg, vals) < 0 || nla_nest_end(msg, nest) < 0)
		return -1;
	return 0;
}

int sched_rules_stage(uint64_t version, const struct sched_term *t, size_t n, char **err)
{
	size_t size = attr_size(8) + attr_size(0);
	struct nlattr *all, *one;
	struct req r;
	int rc;

	if (n > DBOS_SCHED_TERMS_MAX) {
		set_err(err, "at most %d scheduling rule terms, not %zu", DBOS_SCHED_TERMS_MAX, n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		size += attr_size(0) + attr_size(4) + vals_size(&t[i].v);
		for (size_t j = 0; j < t[i].nm; j++)
			size += match_size(&t[i].m[j]);
	}
	rc = req_init(&r, DBOS_CMD_SCHED_RULES, size, n, err);
	if (rc)
		goto out;
	rc = -ENOMEM;
	if (nla_put_u64(r.msg, DBOS_A_SCHED_VERSION, version) < 0)
		goto nomem;
	if (n) {
		all = nla_nest_start(r.msg, DBOS_A_SCHED_RULES | NLA_F_NESTED);
		if (!all)
			goto nomem;
		for (size_t i = 0; i < n; i++) {
			one = nla_nest_start(r.msg, DBOS_A_SCHED_TERM | NLA_F_NESTED);
			if (!one)
				goto nomem;
			span_open(&r, one, t[i].rule_id);
			if (nla_put_u32(r.msg, DBOS_A_SCHED_RULE_ID, t[i].rule_id) < 0 ||
			    put_vals(r.msg, &t[i].v))
				goto nomem;
			for (size_t j = 0; j < t[i].nm; j++)
				if (put_match(r.msg, &t[i].m[j]))
					goto nomem;
			if (nla_nest_end(r.msg, one) < 0)
				goto nomem;
			span_close(&r);
		}
		if (nla_nest_end(r.msg, all) < 0)
			goto nomem;
	}
	rc = req_run(&r, "rule", err);
	goto out;
nomem:
	/* Attribute lengths are 16 bits: a nest holds at most 64 KiB. */
	set_err(err, "request too large or out of memory (%zu terms)", n);
out:
	req_free(&r);
	return rc;
}

int sched_rules_activate(uint64_t version, char **err)
{
	struct req r;
	int rc = req_init(&r, DBOS_CMD_SCHED_RULES, attr_size(8) + attr_size(0), 0, err);

	if (!rc) {
		if (nla_put_u64(r.msg, DBOS_A_SCHED_VERSION, version) < 0 ||
		    nla_put_flag(r.msg, DBOS_A_SCHED_ACTIVATE) < 0) {
			set_err(err, "out of memory building the request");
			rc = -ENOMEM;
		} else {
			rc = req_run(&r, "rule", err);
		}
	}
	req_free(&r);
	return rc;
}
