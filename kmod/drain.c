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
 *
 * Watermarks (dbos_uapi.h, "Order"): once a ring is empty the run reads the
 * global seq G, then asks the ring whether it is quiet (dbos_ring_quiet():
 * no producer between reserve and commit, nothing left); if so, every record
 * of that CPU up to G has been sent, and G becomes the CPU's watermark. The
 * run ends with one message of every CPU's watermark. A producer caught
 * mid-record leaves its CPU's watermark where it was: its commit kicks the
 * drain again, and the run re-arms itself after a jiffy in any case.
 */

#include "drain.h"
#include "buffer.h"
#include "genl.h"
#include "record.h"

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
/* Times a run drains a ring again that a producer keeps busy. */
#define DBOS_DRAIN_QUIET_TRIES	3
/* dbos_drain_cpu(): come back at once (budget spent), or after a jiffy. */
#define DBOS_DRAIN_MORE		1
#define DBOS_DRAIN_BUSY		2

/*
 * Serializes the consumer side of every ring (their tails) and the writers
 * of dbos_drain_stats.
 */
static DEFINE_MUTEX(dbos_drain_lock);
static struct dbos_drain_stats dbos_drain_stats;
/*
 * Each CPU's watermark: every record of that CPU with a seq up to it has
 * been sent (0: none known yet). Under dbos_drain_lock, like
 * dbos_drain_wm_sent (the values in the last watermarks message).
 */
static DEFINE_PER_CPU(u64, dbos_drain_wm);
static DEFINE_PER_CPU(u64, dbos_drain_wm_sent);

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
	/*
	 * -ESRCH: nobody received it (the last listener just left, or every
	 * listener overran or filtered it without asking for
	 * NETLINK_BROADCAST_ERROR); -ENOBUFS: a listener that asked for it
	 * (dbosd does) overran.
	 */
	if (ret == -ESRCH) {
		dbos_drain_count(&dbos_drain_stats.unheard, n);
		return bytes;
	}
	dbos_drain_count(&dbos_drain_stats.batches, 1);
	if (ret)
		dbos_drain_count(&dbos_drain_stats.send_failed, n);
	else
		dbos_drain_count(&dbos_drain_stats.sent, n);
	return bytes;
}

/*
 * Multicast every CPU's watermark, in as many messages as they take, when
 * one moved since the last time. Return: 0, or -ENOMEM (retry later).
 */
static int dbos_drain_send_wm(void)
{
	struct dbos_rec_hdr *rec;
	bool moved = false;
	int cpu, next, ret;

	lockdep_assert_held(&dbos_drain_lock);

	for_each_possible_cpu(cpu)
		moved |= per_cpu(dbos_drain_wm, cpu) != per_cpu(dbos_drain_wm_sent, cpu);
	if (!moved || !genl_has_listeners(&dbos_genl_family, &init_net,
					  DBOS_MCGRP_EVENTS_IDX))
		return 0;

	cpu = cpumask_first(cpu_possible_mask);
	while (cpu < nr_cpu_ids) {
		u32 n = nr_cpu_ids * sizeof(*rec) + DBOS_BATCH_OVERHEAD;
		struct sk_buff *skb;
		struct nlattr *attr;
		void *hdr;

		skb = nlmsg_new(min_t(u32, DBOS_BATCH_MAX, n) - NLMSG_HDRLEN, GFP_KERNEL);
		if (!skb)
			return -ENOMEM;
		attr = dbos_genl_records_start(skb, 0, 0, 0, U32_MAX, &hdr);
		if (WARN_ON_ONCE(!attr)) {
			nlmsg_free(skb);
			return -ENOMEM;
		}
		for (; cpu < nr_cpu_ids && skb_tailroom(skb) >= sizeof(*rec); cpu = next) {
			next = cpumask_next(cpu, cpu_possible_mask);
			rec = skb_put_zero(skb, sizeof(*rec));
			rec->type = DBOS_REC_WATERMARK;
			rec->len = sizeof(*rec);
			rec->cpu = cpu;
			rec->seq = per_cpu(dbos_drain_wm, cpu);
			per_cpu(dbos_drain_wm_sent, cpu) = rec->seq;
		}
		dbos_genl_records_end(skb, hdr, attr);
		ret = genlmsg_multicast(&dbos_genl_family, skb, 0,
					DBOS_MCGRP_EVENTS_IDX, GFP_KERNEL);
		/* -ESRCH: nobody listens; -ENOBUFS: a listener overran and re-syncs */
		if (ret && ret != -ESRCH && ret != -ENOBUFS)
			return ret;
	}
	return 0;
}

/*
 * Empty @cpu's ring, taking at most @budget bytes, and move its watermark
 * when it is quiet. Return: 0; DBOS_DRAIN_MORE when the budget is spent;
 * DBOS_DRAIN_BUSY when a producer kept the ring busy; -ENOMEM when no
 * message could be allocated.
 */
static int dbos_drain_cpu(int cpu, u32 budget)
{
	struct dbos_ring *ring = dbos_buffer(cpu);
	u32 done = 0;
	int ret, tries;

	lockdep_assert_held(&dbos_drain_lock);

	for (tries = 0; tries < DBOS_DRAIN_QUIET_TRIES; tries++) {
		u64 seq;

		/*
		 * Empty the ring, but take at most one ring's worth per run so
		 * that a CPU producing as fast as we send cannot keep us here.
		 */
		while (done < budget) {
			ret = dbos_drain_batch(ring, cpu, budget - done);
			if (ret < 0)
				return ret;
			if (!ret)
				break;
			done += ret;
			cond_resched();
		}
		if (done >= budget)
			return DBOS_DRAIN_MORE;
		seq = atomic64_read(&dbos_seq);
		/* Pairs with the barrier of the producer's seq increment: dbos_ring_quiet(). */
		smp_mb();
		if (dbos_ring_quiet(ring)) {
			per_cpu(dbos_drain_wm, cpu) = seq;
			return 0;
		}
	}
	return DBOS_DRAIN_BUSY;
}

static void dbos_drain_work_fn(struct work_struct *work)
{
	u32 budget = dbos_buffer_size();
	unsigned long delay = 0;
	bool again = false;
	int cpu, ret;

	mutex_lock(&dbos_drain_lock);
	for_each_possible_cpu(cpu) {
		ret = dbos_drain_cpu(cpu, budget);
		if (ret < 0)
			goto retry;
		if (ret == DBOS_DRAIN_MORE) {
			again = true;	/* right away */
			delay = 0;
		} else if (ret == DBOS_DRAIN_BUSY && !again) {
			again = true;
			delay = DBOS_DRAIN_DELAY;
		}
	}
	if (!dbos_drain_send_wm())
		goto out;
retry:
	again = true;
	delay = DBOS_DRAIN_RETRY;
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
