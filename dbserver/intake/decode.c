// SPDX-License-Identifier: GPL-2.0
/* decode.c - strict, bounds-checked walk of DBOS_CMD_RECORDS netlink messages (no libnl: plain bytes in, records out). */
#include <linux/genetlink.h>
#include <string.h>

#include "dbserver/intake/decode.h"

#define REC_HDR_LEN	sizeof(struct dbos_rec_hdr)
#define PROC_LEN	sizeof(struct dbos_proc)
#define FD_LEN		sizeof(struct dbos_fd)
#define SOCK_LEN	sizeof(struct dbos_sock)
#define SCHED_LEN	sizeof(struct dbos_sched)

_Static_assert(sizeof(struct dbos_rec_hdr) == 32, "uapi: dbos_rec_hdr is 32 bytes");
_Static_assert(sizeof(struct dbos_proc) == 80, "uapi: dbos_proc is 80 bytes");
_Static_assert(sizeof(struct dbos_fd) == 40, "uapi: dbos_fd is 40 bytes");
_Static_assert(sizeof(struct dbos_sock) == 80, "uapi: dbos_sock is 80 bytes");
_Static_assert(sizeof(struct dbos_sched) == 32, "uapi: dbos_sched is 32 bytes");

void intake_decode_records(const void *records, size_t n, const struct intake_sink *sink,
			   struct intake_decode_stats *ds)
{
	const unsigned char *p = records, *raw;
	size_t off = 0;

	while (off < n) {
		struct mirror_rec rec = { .cpus = NULL };
		enum intake_rec_status st = INTAKE_REC_OK;
		const unsigned char *body;
		size_t blen, slen;

		if (n - off < REC_HDR_LEN) {
			ds->malformed_records++;	/* truncated header */
			return;
		}
		memcpy(&rec.hdr, p + off, REC_HDR_LEN);
		if (rec.hdr.len < REC_HDR_LEN || rec.hdr.len % 8 || rec.hdr.len > n - off) {
			ds->malformed_records++;	/* framing lost: cannot find the next one */
			return;
		}
		raw = p + off;
		body = p + off + REC_HDR_LEN;
		blen = rec.hdr.len - REC_HDR_LEN;
		off += rec.hdr.len;

		switch (rec.hdr.type) {
		case DBOS_REC_PAD:
			continue;
		case DBOS_REC_FORK:
		case DBOS_REC_EXEC:
		case DBOS_REC_EXIT:
		case DBOS_REC_COMM:
		case DBOS_REC_CRED:
		case DBOS_REC_PROC:
			if (blen < PROC_LEN) {
				st = INTAKE_REC_MALFORMED;
				break;
			}
			memcpy(&rec.proc, body, PROC_LEN);
			slen = (size_t)rec.proc.path_len + rec.proc.cmdline_len + rec.proc.cwd_len;
			if (slen > blen - PROC_LEN) {
				st = INTAKE_REC_MALFORMED;
				break;
			}
			rec.path = (const char *)body + PROC_LEN;
			rec.cmdline = rec.path + rec.proc.path_len;
			rec.cwd = rec.cmdline + rec.proc.cmdline_len;
			rec.peer_path = NULL;
			break;
		case DBOS_REC_FD_OPEN:
		case DBOS_REC_FD_CLOSE:
		case DBOS_REC_FD:
			if (blen < FD_LEN) {
				st = INTAKE_REC_MALFORMED;
				break;
			}
			memcpy(&rec.fd, body, FD_LEN);
			if (rec.fd.path_len > blen - FD_LEN || rec.fd.kind >= __DBOS_FILE_MAX) {
				st = INTAKE_REC_MALFORMED;
				break;
			}
			rec.path = (const char *)body + FD_LEN;
			rec.cmdline = rec.cwd = rec.peer_path = NULL;
			break;
		case DBOS_REC_SOCK_INFO:
		case DBOS_REC_SOCK_BIND:
		case DBOS_REC_SOCK_LISTEN:
		case DBOS_REC_SOCK_CONNECT:
		case DBOS_REC_SOCK_ACCEPT:
		case DBOS_REC_SOCK_STATE:
		case DBOS_REC_SOCK:
			if (blen < SOCK_LEN) {
				st = INTAKE_REC_MALFORMED;
				break;
			}
			memcpy(&rec.sock, body, SOCK_LEN);
			slen = (size_t)rec.sock.path_len + rec.sock.peer_path_len;
			if (slen > blen - SOCK_LEN || rec.sock.path_len > DBOS_UNIX_PATH_MAX ||
			    rec.sock.peer_path_len > DBOS_UNIX_PATH_MAX) {
				st = INTAKE_REC_MALFORMED;
				break;
			}
			rec.path = (const char *)body + SOCK_LEN;
			rec.peer_path = rec.path + rec.sock.path_len;
			rec.cmdline = rec.cwd = NULL;
			break;
		case DBOS_REC_SCHED:
			if (blen < SCHED_LEN) {
				st = INTAKE_REC_MALFORMED;
				break;
			}
			memcpy(&rec.sched, body, SCHED_LEN);
			if (rec.sched.cpus_len > DBOS_CPUS_MAX || rec.sched.cpus_len > blen - SCHED_LEN) {
				st = INTAKE_REC_MALFORMED;
				break;
			}
			if (rec.sched.cause >= __DBOS_SCHED_CAUSE_MAX) {
				st = INTAKE_REC_UNKNOWN;	/* a cause this server cannot name */
				break;
			}
			rec.cpus = body + SCHED_LEN;
			rec.path = rec.cmdline = rec.cwd = rec.peer_path = NULL;
			break;
		case DBOS_REC_WATERMARK:
			st = INTAKE_REC_WATERMARK;	/* the header says it all */
			break;
		default:
			st = INTAKE_REC_UNKNOWN;
			break;
		}
		ds->records++;
		if (st == INTAKE_REC_MALFORMED)
			ds->malformed_records++;
		else if (st == INTAKE_REC_UNKNOWN)
			ds->unknown_records++;
		if (sink->record)
			sink->record(sink->ctx, &rec.hdr, raw, st == INTAKE_REC_OK ? &rec : NULL, st);
	}
}

/* One genl message (@p: its @n bytes after the nlmsghdr): false if its framing is bad. */
static bool decode_one(const unsigned char *p, size_t n, const struct intake_sink *sink,
		       struct intake_decode_stats *ds)
{
	const unsigned char *recs = NULL;
	size_t recs_len = 0, off;
	struct intake_msg msg = { 0 };
	struct genlmsghdr g;

	if (n < GENL_HDRLEN)
		return false;
	memcpy(&g, p, sizeof(g));
	if (g.cmd != DBOS_CMD_RECORDS) {
		ds->other_messages++;
		return true;
	}
	for (off = GENL_HDRLEN; n - off >= NLA_HDRLEN; ) {
		struct nlattr a;
		size_t alen;

		memcpy(&a, p + off, sizeof(a));
		if (a.nla_len < NLA_HDRLEN || a.nla_len > n - off)
			return false;
		alen = a.nla_len - NLA_HDRLEN;
		switch (a.nla_type & NLA_TYPE_MASK) {
		case DBOS_A_INSTANCE:
			if (alen != sizeof(msg.instance))
				return false;
			memcpy(&msg.instance, p + off + NLA_HDRLEN, alen);
			msg.has_instance = true;
			break;
		case DBOS_A_CPU:
			if (alen != sizeof(msg.cpu))
				return false;
			memcpy(&msg.cpu, p + off + NLA_HDRLEN, alen);
			msg.has_cpu = true;
			break;
		case DBOS_A_RECORDS:
			recs = p + off + NLA_HDRLEN;
			recs_len = alen;
			break;
		default:
			break;	/* DBOS_A_PAD and attributes of newer modules */
		}
		off += NLA_ALIGN(a.nla_len);
		if (off > n)
			off = n;
	}
	if (n != off || !recs)
		return false;	/* trailing bytes that are no attribute, or no records */
	ds->messages++;
	if (sink->message)
		sink->message(sink->ctx, &msg);
	intake_decode_records(recs, recs_len, sink, ds);
	return true;
}

void intake_decode(const struct nlmsghdr *nlh, size_t len,
		   const struct intake_sink *sink, struct intake_decode_stats *ds)
{
	const unsigned char *base = (const unsigned char *)nlh;
	size_t off = 0;

	while (len - off >= NLMSG_HDRLEN) {
		struct nlmsghdr h;

		memcpy(&h, base + off, sizeof(h));
		if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len - off) {
			ds->malformed_messages++;
			return;	/* cannot find the next message */
		}
		if (h.nlmsg_type == NLMSG_DONE)
			return;
		if (h.nlmsg_type >= NLMSG_MIN_TYPE &&
		    !decode_one(base + off + NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN, sink, ds))
			ds->malformed_messages++;
		off += NLMSG_ALIGN(h.nlmsg_len);
		if (off > len)
			off = len;
	}
	if (off < len)
		ds->malformed_messages++;	/* trailing bytes too short for a header */
}
