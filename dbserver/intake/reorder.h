/* SPDX-License-Identifier: GPL-2.0 */
/*
 * reorder.h - the reorder stage: merges the kernel's per-CPU record streams
 * into one stream in global seq order.
 *
 * Each CPU's records arrive in seq order, but records of different CPUs
 * interleave as the drain sends them (dbos_uapi.h, "Order"). The stage keeps
 * one FIFO of raw records per CPU and a position per CPU: the larger of its
 * last watermark and its last record's seq, below which that CPU sends
 * nothing more. Records up to the smallest position (the frontier) are
 * released in seq order, merged from the FIFOs' heads. Until every CPU the
 * module has has sent a watermark the frontier is 0 and nothing is released.
 *
 * What can still come out of order, counted, never hidden:
 *   - late: a record at or below the frontier already released (a watermark
 *     that lied, or records after a reset); the caller applies it at once;
 *   - out of order within its CPU's stream: likewise;
 *   - forced: reorder_release_all() (before a dump, on detach, on a new
 *     module instance, or when the held records pass REORDER_MAX_BYTES)
 *     releases records the frontier has not passed; records of other CPUs
 *     with smaller seqs may follow them.
 * The stage allocates nothing per record: each FIFO is one growing buffer.
 */
#ifndef DBOS_INTAKE_REORDER_H
#define DBOS_INTAKE_REORDER_H

#include <stddef.h>
#include <stdint.h>

#include "dbos_uapi.h"

/* Held records above this many bytes are released at once (forced). */
#define REORDER_MAX_BYTES	(64u << 20)

struct reorder;

struct reorder_stats {
	uint64_t held;		/* records held now */
	uint64_t held_max;	/* the most ever held at once */
	uint64_t late;		/* records that came at or below the released frontier */
	uint64_t forced;	/* records released before the frontier passed them */
};

/* A released record: @rec->len bytes. Valid only during the call. */
typedef void (*reorder_fn)(void *arg, const struct dbos_rec_hdr *rec);

/* reorder_new - an empty stage expecting @ncpus CPUs (0: any number). 0 or -ENOMEM. */
int reorder_new(uint32_t ncpus, struct reorder **out);
void reorder_free(struct reorder *r);

/*
 * reorder_push - hold a copy of the event record at @raw (@hdr->len bytes,
 * framing validated by the decoder; @hdr: its header, aligned). 0 when held;
 * -EALREADY when it is late or out of order within its CPU, -ENOMEM when it
 * could not be copied: in both cases nothing is held and the caller applies
 * it now. Released records are 8-byte aligned.
 */
int reorder_push(struct reorder *r, const struct dbos_rec_hdr *hdr, const void *raw);

/* reorder_watermark - CPU @cpu sent every record up to @seq. */
void reorder_watermark(struct reorder *r, uint16_t cpu, uint64_t seq);

/* reorder_release - hand @fn every held record the frontier has passed, in seq order. */
size_t reorder_release(struct reorder *r, reorder_fn fn, void *arg);

/* reorder_release_all - hand @fn every held record, in seq order (forced). */
size_t reorder_release_all(struct reorder *r, reorder_fn fn, void *arg);

/*
 * reorder_reset - forget every CPU's position and watermark, e.g. for a new
 * module instance whose seqs start again; expect @ncpus CPUs. Call
 * reorder_release_all() first: held records are dropped.
 */
void reorder_reset(struct reorder *r, uint32_t ncpus);

/* The frontier: every record with a seq up to it has been released or is held. */
uint64_t reorder_frontier(const struct reorder *r);

void reorder_stats(const struct reorder *r, struct reorder_stats *st);

#endif /* DBOS_INTAKE_REORDER_H */
