// SPDX-License-Identifier: GPL-2.0
/*
 * buffer.c - per-CPU single-producer/single-consumer rings of records.
 *
 * Ordering. The producer fills a record, then publishes it by storing head
 * with release semantics; the consumer loads head with acquire semantics
 * before reading the record. Symmetrically the consumer releases the bytes of
 * a record it has copied out by a release store of tail, which the producer
 * loads with acquire before reusing them.
 *
 * Wake-ups. The consumer is a work item that runs only when kicked, so a
 * record must never be left behind with nobody coming for it. The producer
 * asks for a kick (dbos_ring_commit() returns true) when the tail it reads
 * after publishing equals its head before the record, i.e. the consumer had
 * emptied the ring. The consumer, when it finds the ring empty, issues a full
 * barrier and looks at head again. With smp_mb() on both sides between the
 * store of one index and the load of the other, at least one of them sees
 * the other's store: either the consumer finds the new record, or the
 * producer sees the ring had been emptied and kicks.
 */

#include "buffer.h"
#include "dbos_uapi.h"

#include <linux/bug.h>
#include <linux/compiler.h>
#include <linux/minmax.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/topology.h>
#include <asm/barrier.h>

/**
 * dbos_ring_init - set up an empty ring over @size bytes at @data
 * @ring: the ring
 * @data: its memory, owned by the caller
 * @size: a multiple of 8, at least 64
 */
void dbos_ring_init(struct dbos_ring *ring, void *data, u32 size)
{
	memset(ring, 0, sizeof(*ring));
	ring->data = data;
	ring->size = size;
}

/* Bytes between @from and @to going forward around the ring. */
static u32 dbos_ring_dist(const struct dbos_ring *ring, u32 from, u32 to)
{
	return to >= from ? to - from : to + ring->size - from;
}

/**
 * dbos_ring_used - bytes the consumer has not released yet (a snapshot)
 * @ring: the ring
 */
u32 dbos_ring_used(const struct dbos_ring *ring)
{
	return dbos_ring_dist(ring, READ_ONCE(ring->tail),
			      READ_ONCE(ring->head));
}

/**
 * dbos_ring_reserve - make room for a record of @len bytes (producer only)
 * @ring: the ring
 * @len: the record's length, a multiple of 8
 * @cpu_seq: set to the record's cpu_seq, whether it fits or not
 *
 * Counts the record as produced. Return: where to write it, contiguous; or
 * NULL when the ring has no room, in which case the record is counted as
 * dropped and nothing is to be committed. Never blocks.
 */
void *dbos_ring_reserve(struct dbos_ring *ring, u32 len, u32 *cpu_seq)
{
	u32 size = ring->size, head = ring->head, tail, pos;

	/*
	 * Before the record's seq is taken (atomic64_inc_return(), a full
	 * barrier, follows in the caller): see dbos_ring_quiet().
	 */
	WRITE_ONCE(ring->busy, 1);
	*cpu_seq = ++ring->cpu_seq;
	WRITE_ONCE(ring->produced, ring->produced + 1);

	/* Pairs with smp_store_release() in dbos_ring_consume(). */
	tail = smp_load_acquire(&ring->tail);

	if (WARN_ON_ONCE(!len || len % 8))
		goto drop;
	if (head >= tail) {
		u32 room = size - head;

		/* Ending exactly at the end is fine unless tail is at 0. */
		if (len < room || (len == room && tail)) {
			pos = head;
		} else if (len < tail) {
			struct dbos_rec_hdr *pad = (void *)(ring->data + head);

			/* room >= 8: type and len of the filler fit. */
			pad->type = DBOS_REC_PAD;
			pad->len = min_t(u32, room, U16_MAX & ~7U);
			pos = 0;
		} else {
			goto drop;
		}
	} else if (len < tail - head) {
		pos = head;
	} else {
		goto drop;
	}
	ring->next_head = pos + len == size ? 0 : pos + len;
	return ring->data + pos;

drop:
	WRITE_ONCE(ring->dropped, ring->dropped + 1);
	WRITE_ONCE(ring->busy, 0);	/* no seq taken, nothing to wait for */
	return NULL;
}

/**
 * dbos_ring_commit - publish the record dbos_ring_reserve() returned
 * @ring: the ring
 *
 * Return: true when the consumer should be kicked: the ring was empty before
 * this record (as far as the consumer had released it), or this record
 * brought it to half full.
 */
bool dbos_ring_commit(struct dbos_ring *ring)
{
	u32 old = ring->head, new = ring->next_head, half = ring->size / 2;
	u32 tail;

	/* Pairs with smp_load_acquire() in dbos_ring_peek(). */
	smp_store_release(&ring->head, new);
	/* Pairs with smp_mb() in dbos_ring_peek(); see the top of the file. */
	smp_mb();
	/* After the head: pairs with smp_load_acquire() in dbos_ring_quiet(). */
	smp_store_release(&ring->busy, 0);
	tail = READ_ONCE(ring->tail);
	if (tail == old)
		return true;
	return dbos_ring_dist(ring, tail, old) < half &&
	       dbos_ring_dist(ring, tail, new) >= half;
}

/**
 * dbos_ring_peek - the oldest unread record (consumer only)
 * @ring: the ring
 * @len: set to the record's length
 *
 * Fillers are skipped (and released). The record stays in the ring until
 * dbos_ring_consume(). Return: the record, or NULL when the ring is empty.
 */
const void *dbos_ring_peek(struct dbos_ring *ring, u32 *len)
{
	const struct dbos_rec_hdr *hdr;
	u32 tail = ring->tail, head;

	for (;;) {
		/* Pairs with smp_store_release() in dbos_ring_commit(). */
		head = smp_load_acquire(&ring->head);
		if (head == tail) {
			/* Pairs with smp_mb() in dbos_ring_commit(). */
			smp_mb();
			/* Pairs with smp_store_release() in dbos_ring_commit(). */
			head = smp_load_acquire(&ring->head);
			if (head == tail)
				return NULL;
		}
		hdr = (const void *)(ring->data + tail);
		if (hdr->type != DBOS_REC_PAD)
			break;
		/*
		 * A filler always runs to the end: the record is at 0. Pairs
		 * with smp_load_acquire() in dbos_ring_reserve().
		 */
		smp_store_release(&ring->tail, 0);
		tail = 0;
	}

	*len = hdr->len;
	if (WARN_ON_ONCE(*len < sizeof(*hdr) || *len % 8 ||
			 *len > dbos_ring_dist(ring, tail, head))) {
		/* Cannot happen; do not loop on garbage: drop it all. */
		smp_store_release(&ring->tail, head);
		return NULL;
	}
	return hdr;
}

/**
 * dbos_ring_quiet - is every record with a seq taken so far out of the ring?
 * @ring: the ring (consumer only)
 *
 * The caller reads the global seq G, then smp_mb(), then calls this. True
 * when no producer is between reserve and commit and the ring is empty: a
 * record whose seq is <= G was reserved (busy set, then the seq taken with
 * a full barrier) before G was read, so it is either seen busy here or was
 * committed, and then consumed, before; every later record of this CPU has
 * a seq > G. False: drain again, or try again later.
 */
bool dbos_ring_quiet(struct dbos_ring *ring)
{
	u32 len;

	/* Pairs with smp_store_release() in dbos_ring_commit(). */
	if (smp_load_acquire(&ring->busy))
		return false;
	return !dbos_ring_peek(ring, &len);
}

/**
 * dbos_ring_consume - release the record dbos_ring_peek() returned
 * @ring: the ring
 * @len: its length
 */
void dbos_ring_consume(struct dbos_ring *ring, u32 len)
{
	u32 tail = ring->tail + len;

	if (tail == ring->size)
		tail = 0;
	/* Pairs with smp_load_acquire() in dbos_ring_reserve(). */
	smp_store_release(&ring->tail, tail);
}

/* The module's rings: one per possible CPU, each with its own memory. */
static DEFINE_PER_CPU(struct dbos_ring *, dbos_rings);
static u32 dbos_rings_size;

/**
 * dbos_buffers_init - allocate one ring of @size bytes per possible CPU
 * @size: bytes per ring, a multiple of 8
 */
int dbos_buffers_init(u32 size)
{
	int cpu;

	dbos_rings_size = size;
	for_each_possible_cpu(cpu) {
		int node = cpu_to_node(cpu);
		struct dbos_ring *ring;
		void *data;

		ring = kzalloc_node(sizeof(*ring), GFP_KERNEL, node);
		if (!ring)
			goto err;
		data = kvmalloc_node(size, GFP_KERNEL, node);
		if (!data) {
			kfree(ring);
			goto err;
		}
		dbos_ring_init(ring, data, size);
		per_cpu(dbos_rings, cpu) = ring;
	}
	return 0;

err:
	dbos_buffers_uninit();
	return -ENOMEM;
}

/* Free the rings; nothing may produce or consume any more. */
void dbos_buffers_uninit(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct dbos_ring *ring = per_cpu(dbos_rings, cpu);

		if (!ring)
			continue;
		kvfree(ring->data);
		kfree(ring);
		per_cpu(dbos_rings, cpu) = NULL;
	}
}

/* The ring of @cpu (a possible CPU). */
struct dbos_ring *dbos_buffer(int cpu)
{
	return per_cpu(dbos_rings, cpu);
}

/* Bytes per ring. */
u32 dbos_buffer_size(void)
{
	return dbos_rings_size;
}
