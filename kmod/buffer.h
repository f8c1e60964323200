/* SPDX-License-Identifier: GPL-2.0 */
/*
 * buffer.h - per-CPU single-producer/single-consumer rings of records.
 *
 * Each possible CPU owns one ring. The producer is whatever hook runs on that
 * CPU, with interrupts disabled from dbos_ring_reserve() to dbos_ring_commit()
 * so nothing else on the CPU can interleave; the consumer is the drain worker,
 * serialized by its mutex. The ring functions below take no locks, never
 * sleep and never allocate: they are pure functions over a struct dbos_ring
 * whose memory the caller provides, so they can be unit-tested on their own.
 *
 * A ring holds records (struct dbos_rec_hdr + payload, hdr.len bytes, a
 * multiple of 8) back to back. A record is never split: when it does not fit
 * before the end of the memory, the producer fills the rest with a
 * DBOS_REC_PAD filler (only its type and len fields are written) and puts the
 * record at offset 0. head == tail means empty; the producer never lets head
 * catch up with tail from behind, so at least 8 bytes always stay unused.
 */
#ifndef _DBOS_BUFFER_H
#define _DBOS_BUFFER_H

#include <linux/types.h>
#include <linux/cache.h>

/**
 * struct dbos_ring - one CPU's record ring
 * @data: the ring's memory, @size bytes (constant after dbos_ring_init())
 * @size: a multiple of 8, at least 64
 * @head: offset where the next record goes; written only by the producer and
 *	published with smp_store_release() once the record is complete
 * @next_head: head after the record being written (producer only)
 * @busy: 1 from dbos_ring_reserve() to dbos_ring_commit() (or the drop),
 *	so that the drain can tell a record whose seq may already be taken
 *	but which is not in the ring yet (written by the producer, read by
 *	dbos_ring_quiet())
 * @cpu_seq: records produced so far, written or dropped (producer only); the
 *	value of the last record's hdr.cpu_seq
 * @produced: records produced, written or dropped (producer writes, anyone
 *	may READ_ONCE() it for statistics)
 * @dropped: records dropped because the ring was full (likewise)
 * @tail: offset of the oldest unread record; written only by the consumer and
 *	published with smp_store_release() once the record has been copied out
 */
struct dbos_ring {
	u8 *data;
	u32 size;

	u32 head ____cacheline_aligned_in_smp;
	u32 next_head;
	u32 busy;
	u32 cpu_seq;
	u64 produced;
	u64 dropped;

	u32 tail ____cacheline_aligned_in_smp;
};

void dbos_ring_init(struct dbos_ring *ring, void *data, u32 size);
void *dbos_ring_reserve(struct dbos_ring *ring, u32 len, u32 *cpu_seq);
bool dbos_ring_commit(struct dbos_ring *ring);
const void *dbos_ring_peek(struct dbos_ring *ring, u32 *len);
void dbos_ring_consume(struct dbos_ring *ring, u32 len);
u32 dbos_ring_used(const struct dbos_ring *ring);
bool dbos_ring_quiet(struct dbos_ring *ring);

/* The module's rings, one per possible CPU. */
int dbos_buffers_init(u32 size);
void dbos_buffers_uninit(void);
struct dbos_ring *dbos_buffer(int cpu);
u32 dbos_buffer_size(void);

#endif /* _DBOS_BUFFER_H */
