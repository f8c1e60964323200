// SPDX-License-Identifier: GPL-2.0
/*
 * drain.c - moving records from the per-CPU rings to the events group.
 *
 * One delayed work item drains every CPU's ring. Hooks kick it when a ring
 * goes from empty to non-empty or past half full; the small delay lets a
 * burst of events share messages. Each run packs whole records, in ring
 * order, into DBOS_CMD_RECORDS messages of at most DBOS_BATCH_MAX bytes and
 * multicasts them, until the rings are empty. It never re-arms itself when
 * there is nothing left, except to retry after a failed allocation (records
 * then wait in the ring; if it fills up, the loss shows as cpu_seq holes).
 */

#include "drain.h"
#include "buffer.h"
#include "genl.h"

#include <linux/jiffies.h>
#include <linux/lockdep.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>

/* Let a burst of events share messages, without adding visible latency. */
#define DBOS_DRAIN_DELAY	1
#define DBOS_DRAIN_RETRY	(HZ / 10)

/* The largest message: its skb fits a 32 KiB allocation. */
#define DBOS_BATCH_MAX		SKB_WITH_OVERHEAD(32768)
/* Message headers and the INSTANCE, CPU and RECORDS attribute headers. */
#define DBOS_BATCH_OVERHEAD	128

/*
 * Serializes the consumer side of every ring (their tails) and the writers
 * of dbos_drain_stats.
 */
static DEFINE_MUTEX(dbos_drain_lock);
static struct dbos_drain_stats dbos_drain_stats;

static void dbos_drain_work_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(dbos_drain_work, dbos_drain_work_fn);

static void dbos_drain_count(u64 *counter, u64 n)
{
	lockdep_assert_held(&dbos_drain_lock);
	WRITE_ONCE(*counter, *counter + n);
}

/* Consume up to @budget bytes of @ring's records without sending them. */
static u32 dbos_drain_discard(struct dbos_ring *ring, u32 budget)
{
	u32 len, bytes = 0, n = 0;

	while (bytes < budget && dbos_ring_peek(ring, &len)) {
		dbos_ring_consume(ring, len);
		bytes += len;
		n++;
	}
	dbos_drain_count(&dbos_drain_stats.unheard, n);
	return bytes;
}

/*
 * Send one message with as many of @ring's oldest records as fit.
 * Return: bytes consumed, 0 when the ring is empty, -ENOMEM when no message
 * could be allocated (nothing consumed).
 */
static int dbos_drain_batch(struct dbos_ring *ring, int cpu, u32 budget)
{
	struct sk_buff *skb;
	struct nlattr *attr;
	const void *rec;
	u32 len, size, bytes = 0, n = 0;
	void *hdr;
	int ret;

	lockdep_assert_held(&dbos_drain_lock);

	if (!dbos_ring_peek(ring, &len))
		return 0;
	if (!genl_has_listeners(&dbos_genl_family, &init_net,
				DBOS_MCGRP_EVENTS_IDX))
		return dbos_drain_discard(ring, budget);

	/* Size the message to what is waiting: receivers pay for truesize. */
	size = min_t(u32, DBOS_BATCH_MAX,
		     dbos_ring_used(ring) + DBOS_BATCH_OVERHEAD);
	skb = nlmsg_new(size - NLMSG_HDRLEN, GFP_KERNEL);
	if (!skb)
		return -ENOMEM;
	attr = dbos_genl_records_start(skb, 0, 0, 0, cpu, &hdr);
	if (WARN_ON_ONCE(!attr)) {
		nlmsg_free(skb);
		return -ENOMEM;
	}
	while ((rec = dbos_ring_peek(ring, &len)) && len <= skb_tailroom(skb)) {
		skb_put_data(skb, rec, len);
		dbos_ring_consume(ring, len);
		bytes += len;
		n++;
	}
	if (WARN_ON_ONCE(!n)) {		/* records always fit an empty message */
		nlmsg_free(skb);
		return -ENOMEM;
	}
	dbos_genl_records_end(skb, hdr, attr);

	ret = genlmsg_multicast(&dbos_genl_family, skb, 0,
				DBOS_MCGRP_EVENTS_IDX, GFP_KERNEL);
	if (ret == -ESRCH) {		/* the last listener just left */
		dbos_drain_count(&dbos_drain_stats.unheard, n);
		return bytes;
	}
	dbos_drain_count(&dbos_drain_stats.batches, 1);
	if (ret)			/* -ENOBUFS: a listener overran */
		dbos_drain_count(&dbos_drain_stats.send_failed, n);
	else
		dbos_drain_count(&dbos_drain_stats.sent, n);
	return bytes;
}

static void dbos_drain_work_fn(struct work_struct *work)
{
	u32 budget = dbos_buffer_size();
	unsigned long delay = 0;
	bool again = false;
	int cpu;

	mutex_lock(&dbos_drain_lock);
	for_each_possible_cpu(cpu) {
		struct dbos_ring *ring = dbos_buffer(cpu);
		u32 done = 0;
		int ret;

		/*
		 * Empty the ring, but take at most one ring's worth per run so
		 * that a CPU producing as fast as we send cannot keep us here.
		 */
		while (done < budget) {
			ret = dbos_drain_batch(ring, cpu, budget - done);
			if (ret < 0) {
				again = true;
				delay = DBOS_DRAIN_RETRY;
				goto out;
			}
			if (!ret)
				break;
			done += ret;
			cond_resched();
		}
		if (done >= budget)
			again = true;
	}
out:
	mutex_unlock(&dbos_drain_lock);
	if (again)
		queue_delayed_work(system_unbound_wq, &dbos_drain_work, delay);
}

/**
 * dbos_drain_kick - make sure the drain runs soon
 *
 * Any context: a no-op when it is already pending. Only arms a timer (the
 * delay is never 0), so it takes no lock a hook's caller might hold.
 */
void dbos_drain_kick(void)
{
	queue_delayed_work(system_unbound_wq, &dbos_drain_work,
			   DBOS_DRAIN_DELAY);
}

/* Copy the counters (each one is read atomically, not all together). */
void dbos_drain_read_stats(struct dbos_drain_stats *stats)
{
	stats->sent = READ_ONCE(dbos_drain_stats.sent);
	stats->send_failed = READ_ONCE(dbos_drain_stats.send_failed);
	stats->unheard = READ_ONCE(dbos_drain_stats.unheard);
	stats->batches = READ_ONCE(dbos_drain_stats.batches);
}

void __init dbos_drain_init(void)
{
	memset(&dbos_drain_stats, 0, sizeof(dbos_drain_stats));
}

/*
 * Stop the drain for good. No hook may kick it any more; a run that re-arms
 * itself is cancelled too. Records still in the rings are discarded with them.
 */
void dbos_drain_uninit(void)
{
	cancel_delayed_work_sync(&dbos_drain_work);
}
