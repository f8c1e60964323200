// SPDX-License-Identifier: GPL-2.0
/* sched.c - DBOS_CMD_SCHED_SET and DBOS_CMD_SCHED_RULES: one command socket per call, the extack naming the target or rule at fault. */
#include <errno.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/kernel/genl.h"

#define CMD_TIMEOUT_S	30		/* SCHED_RULES activation walks every process */
#define SNDBUF		(4 << 20)	/* a full rule set is megabytes */

/* Where an item (target, term) of a request lies in it, to name it in an error. */
struct span {
	uint32_t start, end;		/* byte offsets from the nlmsghdr */
	uint32_t id;			/* its pid or rule id */
};

struct req {
	struct kernel_genl g;
	struct nl_msg *msg;
	struct span *spans;
	size_t nspans;
};

static void req_free(struct req *r)
{
	nlmsg_free(r->msg);
	kernel_genl_close(&r->g);
	free(r->spans);
}

/*
 * A socket to the dbos family and a request @cmd of @size bytes with the ACK
 * asked for. 0, or -ENOENT ("dbos module not loaded"), -ENOMEM, -EIO.
 */
static int req_init(struct req *r, uint8_t cmd, size_t size, size_t nspans, char **err)
{
	int rc;

	memset(r, 0, sizeof(*r));
	rc = kernel_genl_open(&r->g, CMD_TIMEOUT_S, SNDBUF, err);
	if (rc)
		return rc;
	r->spans = calloc(nspans ? nspans : 1, sizeof(*r->spans));
	r->msg = kernel_genl_msg(&r->g, cmd, NLM_F_ACK, size);
	if (!r->spans || !r->msg) {
		kernel_genl_err(err, "out of memory");
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

/*
 * Send the request and wait for its ACK; 0 or the kernel's -errno and *@err,
 * its extack message, prefixed with the item (@what: "pid", "rule") the
 * attribute at fault lies in.
 */
static int req_run(struct req *r, const char *what, char **err)
{
	uint32_t off;
	char *why = NULL;
	int rc;

	rc = kernel_genl_transact(&r->g, r->msg, false, NULL, NULL, &why, &off);
	r->msg = NULL;		/* consumed */
	if (!rc)
		return 0;
	for (size_t i = 0; i < r->nspans; i++) {
		if (off >= r->spans[i].start && off < r->spans[i].end) {
			kernel_genl_err(err, "%s %u: %s", what, r->spans[i].id, why ? why : "?");
			free(why);
			return rc;
		}
	}
	if (err) {
		free(*err);
		*err = why;
	} else {
		free(why);
	}
	return rc;
}

int kernel_sched_set(const struct sched_target *t, size_t n, uint32_t tag, char **err)
{
	struct nlattr *all, *one;
	struct req r;
	size_t size = attr_size(4) + attr_size(0);
	int rc;

	if (!n || n > DBOS_SCHED_TARGETS_MAX) {
		kernel_genl_err(err, "1 to %d processes per change, not %zu", DBOS_SCHED_TARGETS_MAX,
				n);
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
	kernel_genl_err(err, "request too large or out of memory (%zu targets)", n);
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

int kernel_sched_rules_stage(uint64_t version, const struct sched_term *t, size_t n, char **err)
{
	size_t size = attr_size(8) + attr_size(0);
	struct nlattr *all, *one;
	struct req r;
	int rc;

	if (n > DBOS_SCHED_TERMS_MAX) {
		kernel_genl_err(err, "at most %d scheduling rule terms, not %zu",
				DBOS_SCHED_TERMS_MAX, n);
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
	kernel_genl_err(err, "request too large or out of memory (%zu terms)", n);
out:
	req_free(&r);
	return rc;
}

int kernel_sched_rules_activate(uint64_t version, char **err)
{
	struct req r;
	int rc = req_init(&r, DBOS_CMD_SCHED_RULES, attr_size(8) + attr_size(0), 0, err);

	if (!rc) {
		if (nla_put_u64(r.msg, DBOS_A_SCHED_VERSION, version) < 0 ||
		    nla_put_flag(r.msg, DBOS_A_SCHED_ACTIVATE) < 0) {
			kernel_genl_err(err, "out of memory building the request");
			rc = -ENOMEM;
		} else {
			rc = req_run(&r, "rule", err);
		}
	}
	req_free(&r);
	return rc;
}
