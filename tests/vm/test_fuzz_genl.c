// SPDX-License-Identifier: GPL-2.0
/*
 * test_fuzz_genl.c - a structure-aware fuzzer of dbos.ko's generic netlink
 * family (issue 14), run in the test VM as root, as root with CAP_NET_ADMIN
 * only (a quarter as many messages) and as an unprivileged user.
 *
 * Each message starts as a valid request of the family (nlmsghdr +
 * genlmsghdr + the attribute tree of one of its commands, or of none) and is
 * then mutated: the command (every one, UNSPEC, RECORDS, unknown ones), the
 * header's flags (ACK, DUMP, ECHO, reserved bits), version and reserved
 * field; nlctrl's views of the family (GETFAMILY, GETPOLICY of each op); attributes of the wrong type, level, length or byte order, missing
 * or repeated, nests that are not nests or nest too deep; values at and past
 * their bounds; then bytes flipped, nla_len fields broken, the message cut,
 * or nlmsg_len shorter than the datagram (the rest is a second message).
 *
 * What each message deserves is computed from its bytes as the kernel reads
 * them (netlink_rcv_skb, genl_family_rcv_msg in 6.1): no answer (not a
 * request), EINVAL (too short, reserved bits), EOPNOTSUPP (no such command
 * or operation), EPERM (an unprivileged sender: every message that reaches
 * one of the family's commands), or, as root, the command's answer or an
 * errno with an extack message. Every answer must come, with the right
 * sequence number, and nothing else. The kernel itself is checked by the VM
 * harness: any KASAN, lockdep, kmemleak or WARN report fails the run.
 *
 * DBOS_TEST_FUZZ_MESSAGES (default 20000, 5000 on the debug kernel: the
 * short form of `make check`) sets how many messages for each of root and
 * the unprivileged user; DBOS_TEST_FUZZ_SEED (default 1) the seed. `make
 * fuzz` runs 1,000,000 of each on the debug kernel and prints messages per
 * second.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "kselftest_harness.h"
#include "dbos_uapi.h"
#include "tests/host/as_user.h"
#include "tests/host/fuzz.h"

#define NOBODY		65534
#define MSG_MAX		(64 * 1024)	/* largest message built */
#define RCV_BUF		(256 * 1024)
#define REPLY_MS	30000
#define VICTIM_COMM	"fuzzvictim"
#define BATCH		16		/* messages in one datagram, at most */
#define MAX_EXPECT	64		/* messages the kernel reads in one datagram, at most */
#define PROGRESS	100000		/* a line on the console every so many messages */

/* ---------------------------------------------------------------------- */
/* Building messages                                                       */

struct msg {
	uint8_t b[MSG_MAX];
	size_t len;
	bool full;		/* something did not fit: the message is dropped */
	int depth;		/* open nests */
	size_t nest[32];
};

static void put(struct msg *m, const void *p, size_t n)
{
	if (m->len + n > MSG_MAX) {
		m->full = true;
		return;
	}
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

/* An attribute of @n bytes at @p, padded. */
static void attr(struct msg *m, uint16_t type, const void *p, size_t n)
{
	struct nlattr a = { .nla_len = (uint16_t)(NLA_HDRLEN + n), .nla_type = type };
	static const uint8_t zero[NLA_ALIGNTO];

	if (n > 0xffff - NLA_HDRLEN) {
		m->full = true;
		return;
	}
	put(m, &a, sizeof(a));
	put(m, p, n);
	put(m, zero, NLA_ALIGN(n) - n);
}

static void attr_u32(struct msg *m, uint16_t type, uint32_t v)
{
	attr(m, type, &v, sizeof(v));
}

static void attr_u64(struct msg *m, uint16_t type, uint64_t v)
{
	attr(m, type, &v, sizeof(v));
}

static void nest_start(struct msg *m, uint16_t type)
{
	struct nlattr a = { .nla_type = type | NLA_F_NESTED };

	if (m->depth == 32) {
		m->full = true;
		return;
	}
	m->nest[m->depth++] = m->len;
	put(m, &a, sizeof(a));
}

static void nest_end(struct msg *m)
{
	size_t at = m->nest[--m->depth];
	uint16_t len;

	if (m->full)
		return;
	if (m->len - at > 0xffff) {
		m->full = true;
		return;
	}
	len = (uint16_t)(m->len - at);
	memcpy(m->b + at, &len, sizeof(len));
}

/* ---------------------------------------------------------------------- */
/* The attribute trees, valid or nearly                                    */

struct gen {
	uint64_t s;
	uint32_t victim;	/* a sleeping child's pid: what SCHED_* may change */
};

/* An attribute type: mostly @want, sometimes any of the family's, or past them. */
static uint16_t atype(struct gen *g, uint16_t want)
{
	switch (below(&g->s, 40)) {
	case 0:
		return (uint16_t)below(&g->s, DBOS_A_MAX + 1);
	case 1:
		return (uint16_t)(DBOS_A_MAX + 1 + below(&g->s, 4));
	case 2:
		return want ^ NLA_F_NET_BYTEORDER;
	case 3:
		return (uint16_t)rnd(&g->s);
	default:
		return want;
	}
}

/* A u32 value: mostly @want, else a boundary. */
static uint32_t u32v(struct gen *g, uint32_t want)
{
	static const uint32_t edge[] = { 0, 1, 2, 15, 19, 20, 99, 100, 0x7fffffff,
					 0x80000000, 0xffffffff, 0xffffffec, 4194304, 4194305 };

	return below(&g->s, 6) ? want : edge[below(&g->s, sizeof(edge) / sizeof(edge[0]))];
}

/* A scalar attribute of type @type holding @v, sometimes of the wrong size. */
static void scalar(struct gen *g, struct msg *m, uint16_t type, uint32_t v)
{
	uint64_t v64 = v;

	switch (below(&g->s, 30)) {
	case 0:
		attr(m, atype(g, type), &v, below(&g->s, 4));	/* too short */
		break;
	case 1:
		attr(m, atype(g, type), &v64, sizeof(v64));	/* too long */
		break;
	case 2:
		attr(m, atype(g, type), NULL, 0);
		break;
	default:
		attr_u32(m, atype(g, type), u32v(g, v));
		break;
	}
}

/* A pid: the victim, or nobody, or anyone. */
static uint32_t pid(struct gen *g)
{
	switch (below(&g->s, 8)) {
	case 0:
		return 0;
	case 1:
		return 0x3ffff0;			/* no such process */
	case 2:
		return 1;				/* init: sleeps, whatever it is set to */
	default:
		return g->victim;
	}
}

/* A string attribute: usually NUL-terminated and short, sometimes neither. */
static void string(struct gen *g, struct msg *m, uint16_t type, const char *s, size_t max)
{
	static char big[5000];
	size_t n;

	switch (below(&g->s, 12)) {
	case 0:		/* no NUL */
		attr(m, atype(g, type), s, strlen(s));
		break;
	case 1:		/* too long, or just fits */
		n = max - 2 + below(&g->s, 4);
		if (n >= sizeof(big))
			n = sizeof(big) - 1;
		memset(big, 'a' + below(&g->s, 26), n);
		big[0] = '/';
		big[n] = 0;
		attr(m, atype(g, type), big, n + 1);
		break;
	case 2:		/* empty */
		attr(m, atype(g, type), "", below(&g->s, 2));
		break;
	case 3:		/* a NUL inside */
		attr(m, atype(g, type), "/usr\0/bin", 10);
		break;
	default:
		attr(m, atype(g, type), s, strlen(s) + 1);
		break;
	}
}

/* A CPU bitmap: CPU 0, none, offline ones, too long. */
static void cpus(struct gen *g, struct msg *m, uint16_t type)
{
	uint8_t map[DBOS_CPUS_MAX + 8] = { 1 };
	size_t n = 1;

	switch (below(&g->s, 6)) {
	case 0:
		map[0] = 0;
		break;
	case 1:
		map[0] = 0;
		map[below(&g->s, DBOS_CPUS_MAX)] = 0x80;
		n = DBOS_CPUS_MAX;
		break;
	case 2:
		n = DBOS_CPUS_MAX + 1 + below(&g->s, 7);
		break;
	case 3:
		n = 0;
		break;
	}
	attr(m, atype(g, type), map, n);
}

/* A nest of type @type, sometimes without NLA_F_NESTED. */
static void nest(struct gen *g, struct msg *m, uint16_t type)
{
	nest_start(m, atype(g, type));
	if (below(&g->s, 40) == 0 && !m->full) {
		struct nlattr *a = (void *)(m->b + m->nest[m->depth - 1]);

		a->nla_type &= ~NLA_F_NESTED;
	}
}

/* A random attribute of the family, anywhere: the wrong level, a stray one. */
static void stray(struct gen *g, struct msg *m, int level)
{
	uint16_t t = (uint16_t)below(&g->s, DBOS_A_MAX + 3);

	if (level < 6 && below(&g->s, 3) == 0) {
		nest_start(m, t);
		for (int i = below(&g->s, 3); i > 0; i--)
			stray(g, m, level + 1);
		nest_end(m);
	} else {
		scalar(g, m, t, (uint32_t)rnd(&g->s));
	}
}

static void sched_values(struct gen *g, struct msg *m, uint32_t field)
{
	int i, n = below(&g->s, 4);

	for (i = 0; i < n; i++) {
		switch (field) {
		case DBOS_SCHED_F_NAME:
			string(g, m, DBOS_A_SCHED_STR, VICTIM_COMM, 16);
			break;
		case DBOS_SCHED_F_EXE:
			string(g, m, below(&g->s, 2) ? DBOS_A_SCHED_STR : DBOS_A_SCHED_PREFIX,
			       "/nonexistent/fuzzvictim", DBOS_PATH_MAX);
			break;
		default:
			scalar(g, m, DBOS_A_SCHED_INT, field == DBOS_SCHED_F_PID ? g->victim :
			       NOBODY + 1);
			break;
		}
	}
}

/* Scheduling values: nice, a policy, a priority, CPUs (at least one, mostly). */
static void sched_settings(struct gen *g, struct msg *m)
{
	/* SCHED_OTHER, BATCH, IDLE mostly: FIFO and RR sometimes, others rarely. */
	static const uint32_t policies[] = { 0, 3, 5, 0, 3, 5, 1, 2, 6, 4, 7 };
	uint32_t policy = policies[below(&g->s, sizeof(policies) / sizeof(policies[0]))];
	unsigned int what = 1 + below(&g->s, 15);

	if (what & 1)
		scalar(g, m, DBOS_A_NICE, (uint32_t)(int32_t)(below(&g->s, 40) - 20));
	if (what & 2)
		scalar(g, m, DBOS_A_SCHED_POLICY, policy);
	if ((what & 4) || policy == 1 || policy == 2)
		scalar(g, m, DBOS_A_SCHED_PRIORITY, 1 + below(&g->s, 99));
	if (what & 8)
		cpus(g, m, DBOS_A_CPUS);
}

/* The attributes of command @cmd, nearly right. */
static void attrs(struct gen *g, struct msg *m, uint8_t cmd)
{
	int i, j, n;

	switch (cmd) {
	case DBOS_CMD_GET_PROC:
	case DBOS_CMD_DUMP_FILES:
		if (cmd == DBOS_CMD_GET_PROC || below(&g->s, 2))
			scalar(g, m, DBOS_A_PID, pid(g));
		break;
	case DBOS_CMD_GET_LIVE:
		if (below(&g->s, 8)) {
			uint32_t pids[8];

			n = (int)below(&g->s, 9);
			for (i = 0; i < n; i++)
				pids[i] = pid(g);
			/* sometimes not whole u32s */
			attr(m, DBOS_A_PIDS, pids, n * sizeof(uint32_t) - (n && !below(&g->s, 6)));
		}
		/* the parts to read: known bits, sometimes an unknown one */
		if (below(&g->s, 2))
			scalar(g, m, DBOS_A_LIVE_FIELDS, below(&g->s, 4) ? (uint32_t)rnd(&g->s) :
			       (uint32_t)rnd(&g->s) & DBOS_LIVE_F_ALL);
		break;
	case DBOS_CMD_SET_FILTER:
		if (below(&g->s, 4))
			scalar(g, m, DBOS_A_FILE_KINDS, below(&g->s, 2) ? DBOS_FILE_KINDS_ALL :
			       (uint32_t)rnd(&g->s) & 0x1ff);
		if (below(&g->s, 2)) {
			nest(g, m, DBOS_A_PATH_EXCLUDE);
			n = below(&g->s, 4) ? below(&g->s, 4) : DBOS_FILTER_PREFIXES + below(&g->s, 3);
			for (i = 0; i < n; i++)
				string(g, m, DBOS_A_PATH_PREFIX, below(&g->s, 2) ? "/proc/" : "/dev/",
				       DBOS_FILTER_PREFIX_MAX);
			nest_end(m);
		}
		break;
	case DBOS_CMD_SCHED_SET:
		if (below(&g->s, 3) == 0)
			scalar(g, m, DBOS_A_SCHED_TAG, (uint32_t)rnd(&g->s));
		if (below(&g->s, 20) == 0)
			break;		/* no targets */
		nest(g, m, DBOS_A_SCHED_TARGETS);
		n = below(&g->s, 8) ? 1 + below(&g->s, 3) : below(&g->s, 2) ? 0 :
		    DBOS_SCHED_TARGETS_MAX + below(&g->s, 3);
		for (i = 0; i < n && !m->full; i++) {
			nest(g, m, DBOS_A_SCHED_TARGET);
			if (below(&g->s, 10))
				scalar(g, m, DBOS_A_PID, pid(g));
			if (n < 8)
				sched_settings(g, m);
			else
				scalar(g, m, DBOS_A_NICE, 5);
			nest_end(m);
		}
		nest_end(m);
		break;
	case DBOS_CMD_SCHED_RULES:
		if (below(&g->s, 10))
			attr_u64(m, atype(g, DBOS_A_SCHED_VERSION), below(&g->s, 4));
		if (below(&g->s, 3) == 0)
			attr(m, atype(g, DBOS_A_SCHED_ACTIVATE), NULL, 0);
		if (below(&g->s, 4) == 0)
			break;		/* no rules */
		nest(g, m, DBOS_A_SCHED_RULES);
		n = below(&g->s, 8) ? below(&g->s, 3) : below(&g->s, 2) ? 64 :
		    DBOS_SCHED_TERMS_MAX + below(&g->s, 2);
		for (i = 0; i < n && !m->full; i++) {
			nest(g, m, DBOS_A_SCHED_TERM);
			if (below(&g->s, 10))
				scalar(g, m, DBOS_A_SCHED_RULE_ID, 1 + i);
			sched_settings(g, m);
			/*
			 * The victim only (mostly): a rule must not reach the system. The
			 * first match is its pid; more may follow.
			 */
			if (below(&g->s, 10)) {
				nest_start(m, DBOS_A_SCHED_MATCH);
				attr_u32(m, DBOS_A_SCHED_FIELD, DBOS_SCHED_F_PID);
				nest_start(m, DBOS_A_SCHED_VALUES);
				attr_u32(m, DBOS_A_SCHED_INT, g->victim);
				nest_end(m);
				nest_end(m);
			}
			for (j = below(&g->s, 8) ? below(&g->s, 2) :
				 below(&g->s, DBOS_SCHED_MATCH_MAX + 3); j > 0; j--) {
				uint32_t field = below(&g->s, 4) ? DBOS_SCHED_F_PID :
						 below(&g->s, __DBOS_SCHED_F_MAX + 2);

				nest(g, m, DBOS_A_SCHED_MATCH);
				if (below(&g->s, 10))
					scalar(g, m, DBOS_A_SCHED_FIELD, field);
				if (below(&g->s, 6) == 0)
					attr(m, atype(g, DBOS_A_SCHED_NEGATE), NULL, 0);
				if (below(&g->s, 10)) {
					nest(g, m, DBOS_A_SCHED_VALUES);
					sched_values(g, m, field);
					nest_end(m);
				}
				nest_end(m);
			}
			nest_end(m);
		}
		nest_end(m);
		break;
	}
	/* Strays: an attribute of another command, level, or none. */
	for (i = below(&g->s, 5) ? 0 : 1 + below(&g->s, 3); i > 0; i--)
		stray(g, m, 0);
}

/*
 * One message (or, with nlmsg_len mutated, a datagram of more) for family
 * @family into @m. Returns the sequence number it carries.
 */
static uint32_t make_msg(struct gen *g, struct msg *m, uint16_t family, uint32_t seq)
{
	static const uint16_t flag_bits[] = { NLM_F_ACK, NLM_F_ECHO, NLM_F_ROOT, NLM_F_MATCH,
					      NLM_F_ATOMIC, NLM_F_MULTI, NLM_F_REPLACE,
					      NLM_F_EXCL, 0x1000, 0x8000 };
	struct nlmsghdr *nh = (void *)m->b;
	struct genlmsghdr *gh = (void *)(m->b + NLMSG_HDRLEN);
	/* Every command; dumps of every process less often (they are slow under KASAN). */
	static const uint8_t cmds[] = {
		DBOS_CMD_GET_STATS, DBOS_CMD_GET_STATS, DBOS_CMD_GET_PROC, DBOS_CMD_GET_PROC,
		DBOS_CMD_GET_PROC, DBOS_CMD_SET_FILTER, DBOS_CMD_SET_FILTER, DBOS_CMD_SET_FILTER,
		DBOS_CMD_SCHED_SET, DBOS_CMD_SCHED_SET, DBOS_CMD_SCHED_SET, DBOS_CMD_SCHED_SET,
		DBOS_CMD_SCHED_RULES, DBOS_CMD_SCHED_RULES, DBOS_CMD_SCHED_RULES,
		DBOS_CMD_SCHED_RULES, DBOS_CMD_DUMP_FILES, DBOS_CMD_DUMP_FILES,
		DBOS_CMD_DUMP_PROCS, DBOS_CMD_RECORDS, DBOS_CMD_GET_LIVE, DBOS_CMD_GET_LIVE,
	};
	uint8_t cmd = cmds[below(&g->s, sizeof(cmds))];
	size_t i, n;

	memset(m->b, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
	m->full = false;
	m->depth = 0;
	nh->nlmsg_type = family;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	if (cmd == DBOS_CMD_DUMP_PROCS || cmd == DBOS_CMD_DUMP_FILES || cmd == DBOS_CMD_GET_LIVE)
		nh->nlmsg_flags |= NLM_F_DUMP;
	nh->nlmsg_seq = seq;
	gh->version = DBOS_GENL_VERSION;
	if (below(&g->s, 25) == 0) {
		/* The family as nlctrl shows it: its ops and their policies (a dump each). */
		nh->nlmsg_type = GENL_ID_CTRL;
		nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP | (below(&g->s, 2) ? NLM_F_ACK : 0);
		cmd = below(&g->s, 3) ? CTRL_CMD_GETPOLICY : CTRL_CMD_GETFAMILY;
		gh->version = 2;
		if (below(&g->s, 2))
			attr(m, CTRL_ATTR_FAMILY_ID, &family, sizeof(family));
		else
			string(g, m, CTRL_ATTR_FAMILY_NAME, DBOS_GENL_NAME, GENL_NAMSIZ);
		if (below(&g->s, 2))
			scalar(g, m, CTRL_ATTR_OP, below(&g->s, DBOS_CMD_MAX + 3));
	} else {
		attrs(g, m, cmd);
	}

	/* The header. */
	switch (below(&g->s, 12)) {
	case 0:
		cmd = below(&g->s, 2) ? (uint8_t)below(&g->s, DBOS_CMD_MAX + 4) : (uint8_t)rnd(&g->s);
		break;
	case 1:
		nh->nlmsg_flags ^= flag_bits[below(&g->s, sizeof(flag_bits) / sizeof(flag_bits[0]))];
		break;
	case 2:
		nh->nlmsg_flags ^= NLM_F_DUMP;
		break;
	case 3:
		gh->version = (uint8_t)rnd(&g->s);
		break;
	case 4:
		gh->reserved = (uint16_t)(1 + below(&g->s, 0xffff));
		break;
	case 5:
		nh->nlmsg_type = below(&g->s, 2) ? (uint16_t)below(&g->s, NLMSG_MIN_TYPE) : family;
		nh->nlmsg_flags &= ~NLM_F_REQUEST;
		break;
	case 6:
		nh->nlmsg_pid = (uint32_t)rnd(&g->s);
		break;
	}
	gh->cmd = cmd;

	/* The bytes. */
	n = below(&g->s, 4) ? 0 : 1 + below(&g->s, 4);
	for (i = 0; i < n && m->len > NLMSG_HDRLEN + GENL_HDRLEN; i++) {
		size_t at = NLMSG_HDRLEN + GENL_HDRLEN +
			    below(&g->s, (uint32_t)(m->len - NLMSG_HDRLEN - GENL_HDRLEN));
		uint16_t v;

		switch (below(&g->s, 4)) {
		case 0:
			m->b[at] ^= (uint8_t)(1u << below(&g->s, 8));
			break;
		case 1:
			m->b[at] = (uint8_t)rnd(&g->s);
			break;
		case 2:		/* an nla_len-sized field, at 4-byte alignment */
			at &= ~(size_t)3;
			v = below(&g->s, 2) ? (uint16_t)below(&g->s, 12) : (uint16_t)rnd(&g->s);
			memcpy(m->b + at, &v, sizeof(v));
			break;
		case 3:		/* cut */
			m->len = at;
			break;
		}
	}
	nh->nlmsg_len = (uint32_t)m->len;
	switch (below(&g->s, 40)) {
	case 0:		/* shorter than the datagram: the rest is read as another message */
		nh->nlmsg_len = below(&g->s, (uint32_t)m->len);
		break;
	case 1:		/* longer: the kernel drops it */
		nh->nlmsg_len = (uint32_t)m->len + 1 + below(&g->s, 64);
		break;
	case 2:		/* the header only, or less (not nothing: that is ENODATA) */
		m->len = 1 + below(&g->s, NLMSG_HDRLEN + GENL_HDRLEN);
		if (m->len >= sizeof(nh->nlmsg_len))
			nh->nlmsg_len = (uint32_t)m->len;
		break;
	}
	return seq;
}

/* ---------------------------------------------------------------------- */
/* What the kernel must answer                                             */

enum want {
	W_NOTHING,	/* no answer at all */
	W_ACK,		/* an ACK (error 0) */
	W_ERRNO,	/* NLMSG_ERROR with exactly @err */
	W_ANSWER,	/* root, a command ran: its answer, or an errno with extack */
	W_CTRL,		/* to nlctrl: whatever it answers (a dump ends with DONE or an error) */
};

struct expect {
	enum want want;
	int err;		/* W_ERRNO: the negative errno */
	bool ack;		/* W_ANSWER: NLM_F_ACK was set (an ACK ends a success) */
	bool dump;		/* W_ANSWER: a dump (NLMSG_DONE ends it) */
	bool reply;		/* W_ANSWER: a doit that replies with data (GET_STATS, GET_PROC) */
	uint32_t seq;
	uint8_t cmd;
};

/* Does the family have @cmd, and as doit or dumpit? */
static bool has_op(uint8_t cmd, bool dump)
{
	switch (cmd) {
	case DBOS_CMD_DUMP_PROCS:
	case DBOS_CMD_DUMP_FILES:
	case DBOS_CMD_GET_LIVE:
		return dump;
	case DBOS_CMD_GET_STATS:
	case DBOS_CMD_GET_PROC:
	case DBOS_CMD_SET_FILTER:
	case DBOS_CMD_SCHED_SET:
	case DBOS_CMD_SCHED_RULES:
		return !dump;
	}
	return false;
}

static bool known_cmd(uint8_t cmd)
{
	return has_op(cmd, true) || has_op(cmd, false);
}

/*
 * Read the datagram @m as netlink_rcv_skb and genl_family_rcv_msg (6.1) do:
 * what each message in it deserves, into @ex (at most @max). Returns how many.
 */
static int predict(const struct msg *m, uint16_t family, bool root, struct expect *ex, int max)
{
	size_t at = 0;
	int n = 0;

	while (m->len - at >= NLMSG_HDRLEN && n < max) {
		const struct nlmsghdr *nh = (const void *)(m->b + at);
		const struct genlmsghdr *gh = (const void *)(m->b + at + NLMSG_HDRLEN);
		struct expect *e = &ex[n];
		uint16_t flags = nh->nlmsg_flags;
		bool dump = (flags & NLM_F_DUMP) == NLM_F_DUMP;
		size_t len;

		if (nh->nlmsg_len < NLMSG_HDRLEN || nh->nlmsg_len > m->len - at)
			break;		/* dropped, and the rest with it */
		memset(e, 0, sizeof(*e));
		e->seq = nh->nlmsg_seq;
		n++;
		if (!(flags & NLM_F_REQUEST) || nh->nlmsg_type < NLMSG_MIN_TYPE) {
			e->want = flags & NLM_F_ACK ? W_ACK : W_NOTHING;
		} else if (nh->nlmsg_type == GENL_ID_CTRL) {
			e->want = W_CTRL;
			e->dump = dump;
		} else if (nh->nlmsg_type != family) {
			e->want = W_ERRNO;	/* another family: not ours to judge */
			e->err = 1;
		} else if (nh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN) {
			e->want = W_ERRNO;
			e->err = -EINVAL;
		} else if (gh->cmd >= DBOS_CMD_GET_STATS &&
			   (gh->reserved ||
			    ((dump ? flags & ~NLM_F_DUMP : flags) &
			     ~(NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO)))) {
			e->want = W_ERRNO;
			e->err = -EINVAL;
		} else if (!known_cmd(gh->cmd)) {
			e->want = W_ERRNO;
			e->err = -EOPNOTSUPP;
		} else if (!root) {
			e->want = W_ERRNO;
			e->err = -EPERM;
		} else if (!has_op(gh->cmd, dump)) {
			e->want = W_ERRNO;
			e->err = -EOPNOTSUPP;
		} else {
			e->want = W_ANSWER;
			e->ack = flags & NLM_F_ACK;
			e->dump = dump;
			e->reply = gh->cmd == DBOS_CMD_GET_STATS || gh->cmd == DBOS_CMD_GET_PROC;
			e->cmd = gh->cmd;
		}
		len = NLMSG_ALIGN(nh->nlmsg_len);
		at += len > m->len - at ? m->len - at : len;
	}
	return n;
}

/* ---------------------------------------------------------------------- */
/* Talking to the kernel                                                   */

struct fuzzer {
	int fd;
	uint16_t family;
	bool root;
	uint64_t seed;
	long messages;		/* to send */
	long sent, answers, errors, eperm, no_extack, dumps;
	char fail[2048];
	uint8_t rbuf[RCV_BUF];
};

static int nl_socket(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd, one = 1, size = 4 << 20;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	return fd;
}

static int nl_send(int fd, const void *p, size_t n)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	return sendto(fd, p, n, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
}

/* The next datagram from the kernel into f->rbuf: its length, or -errno (-ETIMEDOUT). */
static ssize_t nl_recv(struct fuzzer *f)
{
	struct pollfd p = { .fd = f->fd, .events = POLLIN };
	ssize_t n;
	int r;

	do {
		r = poll(&p, 1, REPLY_MS);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	n = recv(f->fd, f->rbuf, sizeof(f->rbuf), MSG_TRUNC);
	if (n > (ssize_t)sizeof(f->rbuf))
		return -EMSGSIZE;
	return n < 0 ? -errno : n;
}

/* The extack text of an NLMSG_ERROR or NLMSG_DONE, or "". */
static void extack(const struct nlmsghdr *nh, char *out, size_t size)
{
	size_t off = NLMSG_HDRLEN + (nh->nlmsg_type == NLMSG_DONE ? sizeof(int) :
				     sizeof(struct nlmsgerr));
	const uint8_t *p = (const uint8_t *)nh + off, *end = (const uint8_t *)nh + nh->nlmsg_len;

	out[0] = 0;
	if (!(nh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	while (end - p >= NLA_HDRLEN) {
		const struct nlattr *a = (const void *)p;

		if (a->nla_len < NLA_HDRLEN || a->nla_len > end - p)
			return;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
			snprintf(out, size, "%.*s", (int)(a->nla_len - NLA_HDRLEN),
				 (const char *)(a + 1));
			return;
		}
		p += NLA_ALIGN(a->nla_len);
	}
}

/* Resolve the family's id through nlctrl. 0, or -errno. */
static int resolve_family(struct fuzzer *f)
{
	struct msg *m = malloc(sizeof(*m));
	struct nlmsghdr *nh;
	ssize_t n;
	int ret = -ENOENT;

	if (!m)
		return -ENOMEM;
	memset(m->b, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
	m->full = false;
	m->depth = 0;
	attr(m, CTRL_ATTR_FAMILY_NAME, DBOS_GENL_NAME, sizeof(DBOS_GENL_NAME));
	nh = (void *)m->b;
	nh->nlmsg_len = (uint32_t)m->len;
	nh->nlmsg_type = GENL_ID_CTRL;
	nh->nlmsg_flags = NLM_F_REQUEST;
	nh->nlmsg_seq = 1;
	((struct genlmsghdr *)(m->b + NLMSG_HDRLEN))->cmd = CTRL_CMD_GETFAMILY;
	((struct genlmsghdr *)(m->b + NLMSG_HDRLEN))->version = 1;
	ret = nl_send(f->fd, m->b, m->len);
	free(m);
	if (ret)
		return ret;
	n = nl_recv(f);
	if (n < 0)
		return (int)n;
	for (nh = (void *)f->rbuf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
		const uint8_t *p = NLMSG_DATA(nh) + GENL_HDRLEN;
		const uint8_t *end = (const uint8_t *)nh + nh->nlmsg_len;

		if (nh->nlmsg_type == NLMSG_ERROR)
			return ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
		while (end - p >= NLA_HDRLEN) {
			const struct nlattr *a = (const void *)p;

			if (a->nla_len < NLA_HDRLEN)
				break;
			if (a->nla_type == CTRL_ATTR_FAMILY_ID) {
				memcpy(&f->family, a + 1, sizeof(f->family));
				return 0;
			}
			p += NLA_ALIGN(a->nla_len);
		}
	}
	return -ENOENT;
}

/* The sentinel after a datagram: GET_STATS with ACK, @seq. Ends what can be answered. */
static int send_sentinel(struct fuzzer *f, uint32_t seq)
{
	struct {
		struct nlmsghdr nh;
		struct genlmsghdr gh;
	} s = {
		.nh = { .nlmsg_len = sizeof(s), .nlmsg_type = f->family,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = seq },
		.gh = { .cmd = DBOS_CMD_GET_STATS, .version = DBOS_GENL_VERSION },
	};

	return nl_send(f->fd, &s, sizeof(s));
}

#define FAIL(f, ...) do { snprintf((f)->fail, sizeof((f)->fail), __VA_ARGS__); return -1; } while (0)

/* Hex of the first bytes of @m, for a failure message. */
static const char *hex(const struct msg *m)
{
	static char out[600];
	size_t i, n = 0;

	for (i = 0; i < m->len && i < 256; i++)
		n += snprintf(out + n, sizeof(out) - n, "%02x", m->b[i]);
	return out;
}

/* Count the error @err of command @e; true (f->fail set) when it has no extack text. */
static bool extack_missing(struct fuzzer *f, const struct expect *e, int err, const char *text,
			   const struct msg *m)
{
	f->errors++;
	f->eperm += err == -EPERM;
	if (text[0])
		return false;
	f->no_extack++;
	snprintf(f->fail, sizeof(f->fail), "seed %#" PRIx64 ": command %u: %s without an extack "
		 "message for %s", f->seed, e->cmd, strerror(-err), hex(m));
	return true;
}

/*
 * Read until every message of @ex has had what it deserves and the sentinel
 * @sseq (0: none was sent) its ACK. 0, or -1 with f->fail set.
 */
static int check_answers(struct fuzzer *f, const struct msg *m, struct expect *ex, int n,
			 uint32_t sseq)
{
	bool done[MAX_EXPECT] = { false }, sentinel = !sseq;
	char text[256];
	int i, left = 0;

	for (i = 0; i < n; i++) {
		done[i] = ex[i].want == W_NOTHING || (ex[i].want == W_CTRL && !ex[i].dump) ||
			  (ex[i].want == W_ANSWER && !ex[i].ack && !ex[i].dump && !ex[i].reply);
		left += !done[i];
	}
	while (left || !sentinel) {
		ssize_t len = nl_recv(f);
		struct nlmsghdr *nh;

		if (len < 0)
			FAIL(f, "seed %#" PRIx64 ": no answer (%s) to %s", f->seed, strerror((int)-len),
			     hex(m));
		for (nh = (void *)f->rbuf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
			int err = 0;

			if (nh->nlmsg_type == NLMSG_ERROR || nh->nlmsg_type == NLMSG_DONE) {
				if (nh->nlmsg_type == NLMSG_ERROR)
					err = ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
				else
					memcpy(&err, NLMSG_DATA(nh), sizeof(err));
				extack(nh, text, sizeof(text));
			}
			if (sseq && nh->nlmsg_seq == sseq) {
				if (nh->nlmsg_type == NLMSG_ERROR) {
					/* (EBUSY: a dump of the datagram still runs) */
					if (err && err != (f->root ? -EBUSY : -EPERM))
						FAIL(f, "the sentinel after %s got %s", hex(m),
						     strerror(-err));
					sentinel = true;
				}
				continue;
			}
			for (i = 0; i < n; i++)
				if (!done[i] && ex[i].seq == nh->nlmsg_seq)
					break;
			if (i == n) {
				/* Messages of a datagram can share a seq; a finished one gets nothing more. */
				for (i = 0; i < n; i++)
					if (ex[i].seq == nh->nlmsg_seq &&
					    (ex[i].want == W_ANSWER || ex[i].want == W_CTRL))
						break;
				if (i < n && ex[i].want == W_CTRL)
					continue;
				if (i == n || (nh->nlmsg_type == NLMSG_ERROR && err >= 0))
					FAIL(f, "seed %#" PRIx64 ": an unexpected message (type %u, seq %u, "
					     "error %d) after %s", f->seed, nh->nlmsg_type, nh->nlmsg_seq,
					     err, hex(m));
				/* A command that answers only when it fails: it failed. */
				if (nh->nlmsg_type == NLMSG_ERROR && extack_missing(f, &ex[i], err, text, m))
					return -1;
				continue;	/* more of a dump, or an echo */
			}
			switch (ex[i].want) {
			case W_ACK:
				if (nh->nlmsg_type != NLMSG_ERROR || err)
					FAIL(f, "seed %#" PRIx64 ": wanted an ACK, got type %u error %d "
					     "for %s", f->seed, nh->nlmsg_type, err, hex(m));
				break;
			case W_ERRNO:
				if (nh->nlmsg_type != NLMSG_ERROR || (ex[i].err != 1 && err != ex[i].err))
					FAIL(f, "seed %#" PRIx64 ": wanted %s, got type %u error %d (%s) "
					     "for %s", f->seed, strerror(-ex[i].err), nh->nlmsg_type, err,
					     text, hex(m));
				f->errors++;
				f->eperm += err == -EPERM;
				break;
			case W_CTRL:	/* a dump */
				if (nh->nlmsg_type != NLMSG_ERROR && nh->nlmsg_type != NLMSG_DONE)
					continue;
				f->answers += !err;
				f->errors += !!err;
				break;
			default:	/* W_ANSWER */
				if (nh->nlmsg_type != NLMSG_ERROR && nh->nlmsg_type != NLMSG_DONE) {
					if (nh->nlmsg_type != f->family)
						FAIL(f, "an answer of type %u to %s", nh->nlmsg_type,
						     hex(m));
					if (ex[i].dump || (ex[i].ack && ex[i].reply)) {
						ex[i].reply = false;
						continue;	/* more to come */
					}
					f->answers++;
					break;
				}
				if (err > 0)
					FAIL(f, "error %d for %s", err, hex(m));
				if (err < 0) {
					if (extack_missing(f, &ex[i], err, text, m))
						return -1;
				} else {
					f->answers++;
				}
				f->dumps += ex[i].dump;
				break;
			}
			done[i] = true;
			left--;
		}
	}
	return 0;
}

/*
 * Send f->messages fuzzed messages and check every answer. Up to BATCH
 * messages go in one datagram (the kernel reads them in turn: fewer system
 * calls in a slow VM), at most one dump among them, and a message whose
 * nlmsg_len or header was cut goes last (what follows it is its tail).
 * 0, or -1 with f->fail.
 */
static int fuzz(struct fuzzer *f, uint32_t victim)
{
	struct gen g = { .s = f->seed, .victim = victim };
	struct msg *m = malloc(sizeof(*m)), *one = malloc(sizeof(*one));
	struct expect ex[MAX_EXPECT], ex1[MAX_EXPECT];
	uint32_t seq = 1000;
	double t0 = now_s();
	int n, ret = -1;

	if (!m || !one) {
		snprintf(f->fail, sizeof(f->fail), "out of memory");
		goto out;
	}
	while (f->sent < f->messages) {
		int i, k, err, want = 1 + below(&g.s, BATCH);
		bool dump = false, last = false, quiet = true;
		uint32_t sseq = 0;

		m->len = 0;
		n = 0;
		for (k = 0; k < want && !last && f->sent + n < f->messages; k++) {
			int n1;

			make_msg(&g, one, f->family, ++seq);
			if (one->full)
				continue;
			n1 = predict(one, f->family, f->root, ex1, MAX_EXPECT);
			last = n1 != 1 || ex1[0].seq != seq ||
			       ((const struct nlmsghdr *)one->b)->nlmsg_len != one->len;
			for (i = 0; i < n1; i++)
				if ((ex1[i].want == W_ANSWER || ex1[i].want == W_CTRL) && ex1[i].dump)
					break;
			if (i < n1 && dump)
				break;		/* a second dump would be EBUSY */
			dump |= i < n1;
			if (n && (last || NLMSG_ALIGN(m->len) + one->len > MSG_MAX))
				break;		/* alone, next time */
			memset(m->b + m->len, 0, NLMSG_ALIGN(m->len) - m->len);
			m->len = NLMSG_ALIGN(m->len);
			memcpy(m->b + m->len, one->b, one->len);
			m->len += one->len;
			n += n1 ? n1 : 1;
		}
		if (!m->len)
			continue;
		n = predict(m, f->family, f->root, ex, MAX_EXPECT);
		/* What ends without an answer needs the sentinel to be known to have ended. */
		for (i = 0; i < n; i++)
			quiet &= ex[i].want != W_NOTHING && !(ex[i].want == W_CTRL && !ex[i].dump) &&
				 !(ex[i].want == W_ANSWER && !ex[i].ack && !ex[i].dump && !ex[i].reply);
		err = nl_send(f->fd, m->b, m->len);
		if (err) {
			snprintf(f->fail, sizeof(f->fail), "send: %s", strerror(-err));
			goto out;
		}
		f->sent += n ? n : 1;
		if (f->sent / PROGRESS != (f->sent - (n ? n : 1)) / PROGRESS) {
			ksft_print_msg("fuzz_genl as %s: %ld messages, %.0f/s so far\n",
				       f->root ? "root" : "an unprivileged user", f->sent,
				       f->sent / (now_s() - t0));
			fflush(stdout);
		}
		if (!quiet || n == 0 || last) {
			sseq = ++seq;
			if (send_sentinel(f, sseq)) {
				snprintf(f->fail, sizeof(f->fail), "send: %s", strerror(errno));
				goto out;
			}
		}
		if (check_answers(f, m, ex, n, sseq))
			goto out;
	}
	ret = 0;
out:
	free(one);
	free(m);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* The suite                                                               */

/* How many messages: DBOS_TEST_FUZZ_MESSAGES, or the short form's. */
static long messages(void)
{
	const char *k = getenv("DBOS_TEST_KERNEL");

	return env_long("DBOS_TEST_FUZZ_MESSAGES", k && !strcmp(k, "debug") ? 5000 : 20000);
}

FIXTURE(fuzz) {
	pid_t victim;
};

FIXTURE_SETUP(fuzz)
{
	ASSERT_EQ(0, access("/sys/module/dbos", F_OK)) TH_LOG("dbos.ko is not loaded");
	self->victim = fork();
	ASSERT_LE(0, self->victim);
	if (self->victim == 0) {
		prctl(PR_SET_NAME, VICTIM_COMM);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
}

FIXTURE_TEARDOWN(fuzz)
{
	struct fuzzer *f = calloc(1, sizeof(*f));
	struct {
		struct nlmsghdr nh;
		struct genlmsghdr gh;
		struct nlattr a;
		uint64_t version;
		struct nlattr activate;
	} clear = {
		.nh = { .nlmsg_len = sizeof(clear) - NLA_HDRLEN,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK },
		.gh = { .cmd = DBOS_CMD_SCHED_RULES, .version = DBOS_GENL_VERSION },
		.a = { .nla_len = NLA_HDRLEN + 8, .nla_type = DBOS_A_SCHED_VERSION },
		.version = 1 << 30,
		.activate = { .nla_len = NLA_HDRLEN, .nla_type = DBOS_A_SCHED_ACTIVATE },
	};

	kill(self->victim, SIGKILL);
	waitpid(self->victim, NULL, 0);
	/* No scheduling rule of the fuzzer's stays: stage an empty set, activate it. */
	if (f && (f->fd = nl_socket()) >= 0 && !resolve_family(f)) {
		clear.nh.nlmsg_type = f->family;
		nl_send(f->fd, &clear, clear.nh.nlmsg_len);
		nl_recv(f);
		clear.nh.nlmsg_len += NLA_HDRLEN;
		nl_send(f->fd, &clear, clear.nh.nlmsg_len);
		nl_recv(f);
		close(f->fd);
	}
	free(f);
}

/* Run one fuzzer as the current user; 0, or -1 with f->fail. */
static int run(struct fuzzer *f, uint32_t victim)
{
	f->fd = nl_socket();
	if (f->fd < 0)
		FAIL(f, "netlink socket: %s", strerror(errno));
	if (resolve_family(f))
		FAIL(f, "cannot resolve the %s family", DBOS_GENL_NAME);
	return fuzz(f, victim);
}

/* As root: every command runs; errors come with extack. */
TEST_F_TIMEOUT(fuzz, as_root, 36000)
{
	struct fuzzer *f = calloc(1, sizeof(*f));
	double t0, dt;

	ASSERT_NE(NULL, f);
	f->root = true;
	f->seed = (uint64_t)env_long("DBOS_TEST_FUZZ_SEED", 1);
	f->messages = messages();
	t0 = now_s();
	EXPECT_EQ(0, run(f, (uint32_t)self->victim)) TH_LOG("%s", f->fail);
	dt = now_s() - t0;
	ksft_print_msg("fuzz_genl as root: %ld messages in %.1f s: %.0f messages/s (seed %#"
		       PRIx64 "; %ld answered, %ld errors, %ld dumps)\n", f->sent, dt,
		       f->sent / dt, f->seed, f->answers, f->errors, f->dumps);
	fflush(stdout);
	EXPECT_LT(0, f->answers);
	EXPECT_LT(0, f->errors);
	close(f->fd);
	free(f);
}

static int fuzz_child(void *arg, char *msg, size_t size)
{
	struct fuzzer *f = arg;
	double t0 = now_s();
	int ret = run(f, (uint32_t)f->answers);

	snprintf(msg, size, "%ld %ld %ld %.3f|%s", f->sent, f->errors, f->eperm, now_s() - t0,
		 f->fail);
	return ret ? 1 : 0;
}

/*
 * Root with CAP_NET_ADMIN alone: the family lets it in, and the commands that
 * need more (CAP_SYS_ADMIN for snapshots, CAP_SYS_NICE for scheduling) refuse
 * with EPERM and an extack message naming what is missing.
 */
static int net_admin_child(void *arg, char *msg, size_t size)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {
		{ .effective = 1u << CAP_NET_ADMIN, .permitted = 1u << CAP_NET_ADMIN },
	};
	struct fuzzer *f = arg;
	double t0 = now_s();
	int ret;

	if (syscall(SYS_capset, &h, d)) {
		snprintf(msg, size, "0 0 0 0|capset: %s", strerror(errno));
		return 1;
	}
	ret = run(f, (uint32_t)f->answers);
	snprintf(msg, size, "%ld %ld %ld %.3f|%s", f->sent, f->errors, f->eperm, now_s() - t0,
		 f->fail);
	return ret ? 1 : 0;
}

TEST_F_TIMEOUT(fuzz, as_net_admin_only, 36000)
{
	struct fuzzer *f = calloc(1, sizeof(*f));
	char msg[4096] = "", *bar;
	double dt = 0;
	int status;

	ASSERT_NE(NULL, f);
	f->root = true;
	f->seed = (uint64_t)env_long("DBOS_TEST_FUZZ_SEED", 1) + 2;
	f->messages = messages() / 4;
	f->answers = self->victim;	/* (passed to the child) */
	/* uid 0 stays; every capability but CAP_NET_ADMIN goes (as_user with root's ids). */
	status = as_user(0, 0, (gid_t)-1, net_admin_child, f, msg, sizeof(msg));
	bar = strchr(msg, '|');
	ASSERT_NE(NULL, bar) TH_LOG("the child said %s (status %d)", msg, status);
	*bar = 0;
	sscanf(msg, "%ld %ld %ld %lf", &f->sent, &f->errors, &f->eperm, &dt);
	EXPECT_EQ(0, status) TH_LOG("%s", bar + 1);
	ksft_print_msg("fuzz_genl as root with CAP_NET_ADMIN only: %ld messages in %.1f s: %.0f "
		       "messages/s (%ld errors, %ld of them EPERM)\n", f->sent, dt,
		       dt > 0 ? f->sent / dt : 0, f->errors, f->eperm);
	fflush(stdout);
	EXPECT_LT(0, f->eperm);
	free(f);
}

/* As an unprivileged user: every message that reaches a command is EPERM. */
TEST_F_TIMEOUT(fuzz, as_nobody, 36000)
{
	struct fuzzer *f = calloc(1, sizeof(*f));
	char msg[4096], *bar;
	double dt = 0;
	int status;

	ASSERT_NE(NULL, f);
	f->seed = (uint64_t)env_long("DBOS_TEST_FUZZ_SEED", 1) + 1;
	f->messages = messages();
	f->answers = self->victim;	/* (passed to the child) */
	status = as_user(NOBODY, NOBODY, (gid_t)-1, fuzz_child, f, msg, sizeof(msg));
	bar = strchr(msg, '|');
	ASSERT_NE(NULL, bar) TH_LOG("the child said %s (status %d)", msg, status);
	*bar = 0;
	sscanf(msg, "%ld %ld %ld %lf", &f->sent, &f->errors, &f->eperm, &dt);
	EXPECT_EQ(0, status) TH_LOG("%s", bar + 1);
	ksft_print_msg("fuzz_genl as uid %d: %ld messages in %.1f s: %.0f messages/s (seed %#"
		       PRIx64 "; %ld errors, %ld of them EPERM)\n", NOBODY, f->sent, dt,
		       dt > 0 ? f->sent / dt : 0, f->seed, f->errors, f->eperm);
	fflush(stdout);
	EXPECT_LT(0, f->eperm);
	free(f);
}

TEST_HARNESS_MAIN
