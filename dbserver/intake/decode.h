/* SPDX-License-Identifier: GPL-2.0 */
/* decode.h - the wire codec: walks raw netlink buffers of DBOS_CMD_RECORDS messages into records. */
#ifndef DBOS_INTAKE_DECODE_H
#define DBOS_INTAKE_DECODE_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbserver/mirror/mirror.h"

/* The message-level attributes of one DBOS_CMD_RECORDS message. */
struct intake_msg {
	bool has_instance, has_cpu;
	uint64_t instance;	/* DBOS_A_INSTANCE */
	uint32_t cpu;		/* DBOS_A_CPU */
};

enum intake_rec_status {
	INTAKE_REC_OK,		/* a process, fd, socket or sched record, decoded into *rec */
	INTAKE_REC_UNKNOWN,	/* a type (or SCHED cause) this server does not know: skipped */
	INTAKE_REC_MALFORMED,	/* framed correctly, but its payload is invalid: skipped */
	INTAKE_REC_WATERMARK,	/* DBOS_REC_WATERMARK: hdr.cpu's stream is complete up to hdr.seq */
};

/*
 * Where decoded data goes. @message is called once per DBOS_CMD_RECORDS
 * message before its records; @record once per correctly framed record except
 * DBOS_REC_PAD, with @rec non-NULL only for INTAKE_REC_OK, and @raw the
 * record's hdr.len bytes as received (not aligned). @hdr, @raw and @rec (and
 * the strings it points to) are valid only during the call. Either callback
 * may be NULL.
 */
struct intake_sink {
	void (*message)(void *ctx, const struct intake_msg *msg);
	void (*record)(void *ctx, const struct dbos_rec_hdr *hdr, const void *raw,
		       const struct mirror_rec *rec, enum intake_rec_status st);
	void *ctx;
};

/* Counters the decoder adds to (never resets). */
struct intake_decode_stats {
	uint64_t messages;		/* DBOS_CMD_RECORDS messages decoded */
	uint64_t records;		/* records handed to the sink (any status) */
	uint64_t malformed_messages;	/* bad netlink/genl/attribute framing: message skipped */
	uint64_t malformed_records;	/* bad record framing (rest of the message skipped) or payload */
	uint64_t unknown_records;	/* record types this server does not know */
	uint64_t other_messages;	/* well-formed messages that are not DBOS_CMD_RECORDS */
};

/*
 * intake_decode - decode every netlink message in the @len bytes at @nlh,
 * exactly as received from the socket (one or more messages back to back).
 * Never reads outside [@nlh, @nlh + @len) and never fails: a message with bad
 * framing (nlmsg_len, genl header, attribute lengths, a wrong-sized
 * DBOS_A_INSTANCE/CPU, no DBOS_A_RECORDS) is counted and skipped whole; a
 * record whose header is truncated, whose len is < the header, not a multiple
 * of 8 or runs past the attribute ends the walk of that message (the records
 * before it were delivered); a record whose strings run past it, or that is
 * too short for its type, is counted and skipped; unknown types are skipped.
 * A SCHED record whose CPU bitmap runs past it or is longer than
 * DBOS_CPUS_MAX is malformed; one whose cause is past the known causes is
 * skipped as unknown.
 * Control messages (NLMSG_ERROR, NLMSG_DONE, ...) are ignored.
 */
void intake_decode(const struct nlmsghdr *nlh, size_t len,
		   const struct intake_sink *sink, struct intake_decode_stats *ds);

/*
 * intake_decode_records - decode @n bytes of records packed back to back (a
 * DBOS_A_RECORDS payload, or one record the reorder stage held), as above.
 */
void intake_decode_records(const void *p, size_t n, const struct intake_sink *sink,
			   struct intake_decode_stats *ds);

#endif /* DBOS_INTAKE_DECODE_H */
