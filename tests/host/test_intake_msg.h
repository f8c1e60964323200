/* SPDX-License-Identifier: GPL-2.0 */
/*
 * test_intake_msg.h - builds DBOS_CMD_RECORDS netlink messages byte for byte
 * as dbos.ko sends them (nlmsghdr + genlmsghdr + DBOS_A_INSTANCE, DBOS_A_CPU,
 * DBOS_A_RECORDS of packed uapi records), for host tests and the benchmark.
 *
 *	struct tmsg m;
 *	tmsg_begin(&m, instance, cpu);
 *	tmsg_proc(&m, &(struct trec){ .type = DBOS_REC_FORK, .seq = 7, ... });
 *	tmsg_end(&m);
 *	tmsg_feed(in, &m);	(intake_feed(), then every CPU's watermark at the message's last seq)
 */
#ifndef DBOS_TEST_INTAKE_MSG_H
#define DBOS_TEST_INTAKE_MSG_H

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dbos_uapi.h"
#include "dbserver/intake/intake.h"

#define TMSG_FAMILY	0x1c		/* any id >= NLMSG_MIN_TYPE: the decoder does not care */
#define TMSG_CAP	(128 << 10)
#define TMSG_WM_CPUS	8		/* CPUs a watermarks message names (tests use 0..7) */

struct tmsg {
	_Alignas(8) unsigned char buf[TMSG_CAP];
	size_t len;
	size_t recs;		/* offset of the DBOS_A_RECORDS attribute header */
	uint64_t instance;	/* tmsg_begin()'s */
	uint64_t max_seq;	/* the largest seq of the records appended */
};

/*
 * One record to append. Strings are byte strings (cmdline: NUL-separated, no
 * trailing NUL). The payload is @p, @fd, @sk or @sc according to @type (see
 * tmsg_rec()); @path is the fd's path or the socket's bound name, @peer_path
 * the socket peer's; @cpus the SCHED record's CPU bitmap (sc.cpus_len bytes).
 */
struct trec {
	uint16_t type, flags, cpu;
	uint32_t cpu_seq;
	uint64_t seq, time_ns;
	struct dbos_proc p;
	struct dbos_fd fd;
	struct dbos_sock sk;
	struct dbos_sched sc;
	const uint8_t *cpus;
	const char *path, *cmdline, *cwd, *peer_path;
	size_t path_len, cmdline_len, cwd_len, peer_path_len;	/* 0: strlen() of the string (if any) */
};

static inline struct nlmsghdr *tmsg_nlh(struct tmsg *m)
{
	return (struct nlmsghdr *)m->buf;
}

static inline void tmsg_put(struct tmsg *m, const void *p, size_t n)
{
	if (n)
		memcpy(m->buf + m->len, p, n);
	m->len += n;
}

static inline void tmsg_attr(struct tmsg *m, uint16_t type, const void *p, size_t n)
{
	struct nlattr a = { .nla_len = (uint16_t)(NLA_HDRLEN + n), .nla_type = type };
	size_t pad = NLA_ALIGN(n) - n;

	tmsg_put(m, &a, sizeof(a));
	tmsg_put(m, p, n);
	memset(m->buf + m->len, 0, pad);
	m->len += pad;
}

/* Start a message as the kernel multicasts it (genlmsg_put + nla_put_u64_64bit + nla_put_u32). */
static inline void tmsg_begin(struct tmsg *m, uint64_t instance, uint32_t cpu)
{
	struct nlmsghdr h = { .nlmsg_type = TMSG_FAMILY };
	struct genlmsghdr g = { .cmd = DBOS_CMD_RECORDS, .version = DBOS_GENL_VERSION };
	struct nlattr a = { .nla_len = NLA_HDRLEN, .nla_type = DBOS_A_RECORDS };

	m->len = 0;
	m->instance = instance;
	m->max_seq = 0;
	tmsg_put(m, &h, sizeof(h));
	tmsg_put(m, &g, sizeof(g));
	tmsg_attr(m, DBOS_A_INSTANCE, &instance, sizeof(instance));
	tmsg_attr(m, DBOS_A_CPU, &cpu, sizeof(cpu));
	m->recs = m->len;
	tmsg_put(m, &a, sizeof(a));
}

/* Append raw bytes to the records attribute (for malformed records). */
static inline void tmsg_raw(struct tmsg *m, const void *p, size_t n)
{
	tmsg_put(m, p, n);
}

/* Append one record: header, struct dbos_proc, the strings, zero padding to 8. */
static inline size_t tmsg_proc(struct tmsg *m, const struct trec *r)
{
	struct dbos_rec_hdr h = {
		.type = r->type, .cpu = r->cpu, .flags = r->flags,
		.cpu_seq = r->cpu_seq, .seq = r->seq, .time_ns = r->time_ns,
	};
	struct dbos_proc p = r->p;
	size_t pl = r->path ? (r->path_len ? r->path_len : strlen(r->path)) : 0;
	size_t cl = r->cmdline ? (r->cmdline_len ? r->cmdline_len : strlen(r->cmdline)) : 0;
	size_t wl = r->cwd ? (r->cwd_len ? r->cwd_len : strlen(r->cwd)) : 0;
	size_t start = m->len, len = sizeof(h) + sizeof(p) + pl + cl + wl;

	p.path_len = (uint16_t)pl;
	p.cmdline_len = (uint16_t)cl;
	p.cwd_len = (uint16_t)wl;
	h.len = (uint16_t)DBOS_REC_ALIGN(len);
	if (r->seq > m->max_seq)
		m->max_seq = r->seq;
	tmsg_put(m, &h, sizeof(h));
	tmsg_put(m, &p, sizeof(p));
	if (pl)
		tmsg_put(m, r->path, pl);
	if (cl)
		tmsg_put(m, r->cmdline, cl);
	if (wl)
		tmsg_put(m, r->cwd, wl);
	memset(m->buf + m->len, 0, h.len - len);
	m->len = start + h.len;
	return h.len;
}

static inline size_t tmsg_slen(const char *s, size_t n)
{
	return s ? (n ? n : strlen(s)) : 0;
}

/* Append one FD_* or SOCK_* record: header, payload, strings, zero padding to 8. */
static inline size_t tmsg_file(struct tmsg *m, const struct trec *r)
{
	struct dbos_rec_hdr h = {
		.type = r->type, .cpu = r->cpu, .flags = r->flags,
		.cpu_seq = r->cpu_seq, .seq = r->seq, .time_ns = r->time_ns,
	};
	bool fd = r->type >= DBOS_REC_FD_OPEN && r->type <= DBOS_REC_FD;
	struct dbos_fd f = r->fd;
	struct dbos_sock k = r->sk;
	size_t pl = tmsg_slen(r->path, r->path_len);
	size_t ql = fd ? 0 : tmsg_slen(r->peer_path, r->peer_path_len);
	size_t start = m->len, len = sizeof(h) + (fd ? sizeof(f) : sizeof(k)) + pl + ql;

	h.len = (uint16_t)DBOS_REC_ALIGN(len);
	if (r->seq > m->max_seq)
		m->max_seq = r->seq;
	tmsg_put(m, &h, sizeof(h));
	if (fd) {
		f.path_len = (uint16_t)pl;
		tmsg_put(m, &f, sizeof(f));
	} else {
		k.path_len = (uint16_t)pl;
		k.peer_path_len = (uint16_t)ql;
		tmsg_put(m, &k, sizeof(k));
	}
	if (pl)
		tmsg_put(m, r->path, pl);
	if (ql)
		tmsg_put(m, r->peer_path, ql);
	memset(m->buf + m->len, 0, h.len - len);
	m->len = start + h.len;
	return h.len;
}

/* Append one SCHED record: header, struct dbos_sched, the CPU bitmap, zero padding to 8. */
static inline size_t tmsg_sched(struct tmsg *m, const struct trec *r)
{
	struct dbos_rec_hdr h = {
		.type = r->type, .cpu = r->cpu, .flags = r->flags,
		.cpu_seq = r->cpu_seq, .seq = r->seq, .time_ns = r->time_ns,
	};
	size_t cl = r->cpus ? r->sc.cpus_len : 0;
	size_t start = m->len, len = sizeof(h) + sizeof(r->sc) + cl;

	h.len = (uint16_t)DBOS_REC_ALIGN(len);
	if (r->seq > m->max_seq)
		m->max_seq = r->seq;
	tmsg_put(m, &h, sizeof(h));
	tmsg_put(m, &r->sc, sizeof(r->sc));
	if (cl)
		tmsg_put(m, r->cpus, cl);
	memset(m->buf + m->len, 0, h.len - len);
	m->len = start + h.len;
	return h.len;
}

/* Append any record: tmsg_file() for FD_* and SOCK_*, tmsg_sched() for SCHED, tmsg_proc() otherwise. */
static inline size_t tmsg_rec(struct tmsg *m, const struct trec *r)
{
	if (r->type >= DBOS_REC_FD_OPEN && r->type <= DBOS_REC_SOCK)
		return tmsg_file(m, r);
	if (r->type == DBOS_REC_SCHED)
		return tmsg_sched(m, r);
	return tmsg_proc(m, r);
}

/* Close the records attribute and the message. */
static inline void tmsg_end(struct tmsg *m)
{
	struct nlattr *a = (struct nlattr *)(m->buf + m->recs);
	size_t pad;

	a->nla_len = (uint16_t)(m->len - m->recs);
	pad = NLA_ALIGN(m->len) - m->len;
	memset(m->buf + m->len, 0, pad);
	m->len += pad;
	tmsg_nlh(m)->nlmsg_len = (uint32_t)m->len;
}

/*
 * A watermarks message as dbos.ko multicasts after each drain: CPU i's
 * stream is complete up to @wm[i], for @n CPUs.
 */
static inline void tmsg_watermarks(struct tmsg *m, uint64_t instance, const uint64_t *wm, int n)
{
	tmsg_begin(m, instance, UINT32_MAX);
	for (int i = 0; i < n; i++) {
		struct dbos_rec_hdr h = {
			.type = DBOS_REC_WATERMARK, .len = sizeof(h), .cpu = (uint16_t)i, .seq = wm[i],
		};

		tmsg_put(m, &h, sizeof(h));
	}
	tmsg_end(m);
}

/* Feed every CPU's watermark at @seq: the reorder stage releases everything up to it. */
static inline void tmsg_feed_watermark(struct intake *in, uint64_t instance, uint64_t seq)
{
	static struct tmsg w;
	uint64_t wm[TMSG_WM_CPUS];

	for (int i = 0; i < TMSG_WM_CPUS; i++)
		wm[i] = seq;
	tmsg_watermarks(&w, instance, wm, TMSG_WM_CPUS);
	intake_feed(in, tmsg_nlh(&w), w.len);
}

/*
 * Feed @m as received, then every CPU's watermark at its last seq, as if
 * the drain had sent it alone: its records are applied now; a later message
 * with smaller seqs arrives late (applied at once, out of order).
 */
static inline void tmsg_feed(struct intake *in, struct tmsg *m)
{
	intake_feed(in, tmsg_nlh(m), m->len);
	if (m->max_seq)
		tmsg_feed_watermark(in, m->instance, m->max_seq);
}

#endif /* DBOS_TEST_INTAKE_MSG_H */
