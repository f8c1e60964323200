/* SPDX-License-Identifier: GPL-2.0 */
/*
 * intake.h - the intake session: decodes record messages into the mirror,
 * detects loss, re-syncs from dumps, refreshes reparented children, commits.
 *
 * The session never touches a socket: it reaches the kernel through struct
 * kernel_ops (dbserver/kernel/: kernel_nl_ops over generic netlink; host
 * tests and the benchmark supply their own), and its caller feeds it the
 * raw event messages. One thread drives a session; only intake_stats_read()
 * may be called from other threads.
 *
 * Loss detection, each counted and each answered by one re-sync (a full
 * dump applied with mark-and-sweep, see mirror.h):
 *   1. a hole in hdr.cpu_seq on some CPU (the first record per CPU after
 *      attaching or after an overrun sets that CPU's baseline);
 *   2. an overrun of the event socket (ENOBUFS: intake_overrun());
 *   3. DBOS_STATS_DROPPED, DBOS_STATS_SEND_FAILED, DBOS_STATS_UNHEARD or
 *      DBOS_STATS_MISSED grew between two GET_STATS polls (once a second,
 *      from intake_tick()): records lost in a ring, refused by the event
 *      socket, received by nobody, or never produced.
 *
 * A re-sync dumps the processes (DUMP_PROCS), then the open files and
 * sockets (DUMP_FILES), then sweeps what neither dump saw.
 *
 * Ordering: the re-sync runs from intake_flush(), after every record already
 * received has been applied, and nothing is read from the event socket while
 * the dump runs (events queue in the socket), so every event applied before
 * a snapshot happened before it; see the thread-count rule in mirror.c.
 */
#ifndef DBOS_INTAKE_H
#define DBOS_INTAKE_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbos_uapi.h"
#include "dbserver/kernel/kernel.h"
#include "dbserver/mirror/mirror.h"

struct intake_config {
	struct mirror *mirror;		/* must outlive the session */
	const struct kernel_ops *ops;
	void *ops_arg;
	/* Sent at every attach; NULL: every kind, no excluded prefix. Must outlive the session. */
	const struct kernel_filter *filter;
	/* One line per notable event (no trailing newline); may be NULL. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
};

struct intake;

/* Timing of the session's periodic work, in ns of the caller's monotonic clock. */
#define INTAKE_STATS_PERIOD_NS	1000000000ULL	/* GET_STATS poll */
#define INTAKE_PRUNE_TTL_NS	5000000000ULL	/* the files mirror forgets fd-less processes and sockets after this */
/*
 * GET_PROC retries while the kernel still shows the exited parent (its exit
 * is recorded before the kernel reparents): after 10 ms, then doubling up to
 * 1 s between tries, about 14 s in all (a loaded, emulated VM can be slow).
 */
#define INTAKE_REPARENT_RETRY_NS 10000000ULL
#define INTAKE_REPARENT_RETRY_MAX_NS 1000000000ULL
#define INTAKE_REPARENT_TRIES	20
#define INTAKE_RESYNC_RETRY_NS	1000000000ULL	/* after a failed dump */

/* intake_new - a detached session feeding @cfg->mirror. 0, or -ENOMEM. */
int intake_new(const struct intake_config *cfg, struct intake **out);
void intake_free(struct intake *in);

/*
 * intake_attach - the caller has just joined the events group of a (new)
 * kernel instance. Reads GET_STATS, refuses a module whose DBOS_A_VERSION is
 * not DBOS_GENL_VERSION (-EPROTO, logged), sends the file filter (its error,
 * logged, if the module refuses it), switches the mirror's epoch to the
 * module's instance, resets the per-CPU baselines and re-syncs (dumps, sweep,
 * commit). Returns 0 when attached (even if a dump failed: it is retried),
 * or the GET_STATS or SET_FILTER error.
 */
int intake_attach(struct intake *in, uint64_t now_ns);

/* intake_detach - the module went away: stop polling, drop queued work, commit. */
void intake_detach(struct intake *in);

bool intake_attached(const struct intake *in);

/*
 * intake_feed - apply the event messages in one received buffer (exactly the
 * bytes read from the events socket). Checks per-CPU continuity, notices a
 * new DBOS_A_INSTANCE (new epoch + re-sync), hands records to the mirror.
 * Nothing is committed until intake_flush().
 */
void intake_feed(struct intake *in, const struct nlmsghdr *nlh, size_t len);

/* intake_overrun - the event socket overflowed (ENOBUFS): count, re-baseline, re-sync. */
void intake_overrun(struct intake *in);

/* intake_resync_requested - a re-sync is due at the next intake_flush(). */
bool intake_resync_requested(const struct intake *in);

/*
 * intake_flush - end of a receive burst: run a requested re-sync, query due
 * reparented children, and commit the batch (rows visible to SQL once this
 * returns). 0, or -1 if the commit failed (logged; retried next time).
 */
int intake_flush(struct intake *in, uint64_t now_ns);

/*
 * intake_tick - periodic work, then intake_flush(): the GET_STATS poll (loss
 * check 3), tombstone pruning. Returns 0, -ESTALE when GET_STATS shows a
 * different module instance, or the GET_STATS error (e.g. -ENOENT: family
 * gone); in both cases the caller should detach and attach again.
 */
int intake_tick(struct intake *in, uint64_t now_ns);

/* intake_next_deadline - when intake_tick() next has work (ns, monotonic clock). */
uint64_t intake_next_deadline(const struct intake *in);

/* Counters, readable from any thread. */
enum intake_stat {
	INTAKE_STAT_EVENTS_RECEIVED,
	INTAKE_STAT_MESSAGES,
	INTAKE_STAT_RECORDS_MALFORMED,
	INTAKE_STAT_RECORDS_UNKNOWN,
	INTAKE_STAT_GAPS_DETECTED,
	INTAKE_STAT_OVERRUNS,
	INTAKE_STAT_RESYNCS,
	INTAKE_STAT_RESYNC_FAILURES,
	INTAKE_STAT_REPARENT_QUERIES,
	INTAKE_STAT_KERNEL_PRODUCED,
	INTAKE_STAT_KERNEL_DROPPED,
	INTAKE_STAT_KERNEL_SENT,
	INTAKE_STAT_KERNEL_SEND_FAILED,
	INTAKE_STAT_KERNEL_UNHEARD,
	INTAKE_STAT_KERNEL_FILTERED,
	INTAKE_STAT_KERNEL_MISSED,
	INTAKE_STAT_KERNEL_SCHED_APPLIED,
	INTAKE_STAT_KERNEL_SCHED_FAILED,
	INTAKE_STAT_MODULE_ATTACHED,
	INTAKE_STAT_MODULE_INSTANCE,
	INTAKE_STAT_REORDER_HELD,
	INTAKE_STAT_REORDER_HELD_MAX,
	INTAKE_STAT_REORDER_LATE,
	INTAKE_STAT_REORDER_FORCED,
	INTAKE_STAT__COUNT
};

struct intake_stat_info {
	const char *name;
	const char *doc;
};

extern const struct intake_stat_info intake_stat_info[INTAKE_STAT__COUNT];

void intake_stats_read(const struct intake *in, int64_t vals[INTAKE_STAT__COUNT]);

#endif /* DBOS_INTAKE_H */
