/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mirror.h - applies decoded kernel records to the live processes table and
 * the process_events history, through the store.
 *
 * The mirror knows records (dbos_uapi.h), the schema and the store; it does
 * not know netlink. Its caller (intake) hands it one decoded record at a time
 * and commits once per netlink message or receive burst:
 *
 *	mirror_set_instance(m, instance);	// once per kernel module instance
 *	mirror_apply(m, &rec);  ...		// any number of records
 *	mirror_commit(m, &err);			// one store batch: now visible via SQL
 *
 * Rows become visible to SQL only when mirror_commit() has written them
 * (store_write() returned): the in-memory working copy runs ahead of the
 * store, never the other way round.
 *
 * Not thread-safe except mirror_stats_read(), which any thread may call.
 */
#ifndef DBOS_MIRROR_H
#define DBOS_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbos_uapi.h"
#include "dbserver/store/store.h"

/*
 * One decoded record. @hdr and the payload are copies (the wire offers no
 * 8-byte alignment); the payload is @proc (FORK..PROC), @fd (FD_*), @sock
 * (SOCK_*) or @sched (SCHED), by hdr.type. The strings point into the
 * message buffer and are valid only during the mirror_apply() call: for
 * @proc, @path, @cmdline and @cwd (proc.path_len, cmdline_len, cwd_len
 * bytes); for @fd, @path (fd.path_len bytes); for @sock, @path and
 * @peer_path (sock.path_len, peer_path_len bytes); for @sched, @cpus (the
 * CPU bitmap, sched.cpus_len bytes).
 */
struct mirror_rec {
	struct dbos_rec_hdr hdr;
	union {
		struct dbos_proc proc;
		struct dbos_fd fd;
		struct dbos_sock sock;
		struct dbos_sched sched;
	};
	const char *path;
	const char *cmdline;
	const char *cwd;
	const char *peer_path;
	const uint8_t *cpus;
};

struct mirror_config {
	/* Keep at most this many rows in each history table (0: keep none). */
	uint64_t retention;
	/* Changes between checkpoints of the change log, at least (0: CHANGES_CHECKPOINT_MIN). */
	uint64_t checkpoint_every;
};

struct mirror;

/*
 * mirror_open - load the working copy from @st: every stored processes row
 * (so that processes which died while dbosd was down are swept by the first
 * re-sync), the history's row count and bounds, and the epoch of the last
 * kernel instance. @st must outlive the mirror. 0 and *@out, or -1 and *@err
 * (free with free()).
 */
int mirror_open(struct store *st, const struct mirror_config *cfg,
		struct mirror **out, char **err);

/*
 * mirror_set_orphan_handler - @fn is called from mirror_apply() for every
 * live child of a process whose last thread exited with DBOS_RECF_CHILDREN:
 * the kernel gives those children a new parent right after the event, which
 * no record reports, so the caller should fetch a fresh snapshot of @child
 * (whose parent was @old_parent). @fn must not call back into the mirror.
 */
void mirror_set_orphan_handler(struct mirror *m,
			       void (*fn)(void *arg, uint32_t child, uint32_t old_parent),
			       void *arg);

/* mirror_close - frees the working copy. Does not commit: call mirror_commit() first. */
void mirror_close(struct mirror *m);

/* mirror_set_now - the caller's monotonic clock (ns), used to age what mirror_prune() forgets. */
void mirror_set_now(struct mirror *m, uint64_t now_ns);

/*
 * mirror_set_instance - records from now on come from kernel module instance
 * @instance (DBOS_A_INSTANCE). History seq = epoch base + kernel seq, so that
 * seq stays unique and increasing across module reloads: a known instance
 * (dbosd restarted, module stayed) keeps its stored base; a new one gets a
 * base above every seq stored so far, persisted in STORE_CF_META in the next
 * commit, i.e. in the same batch as the first rows that use it.
 */
void mirror_set_instance(struct mirror *m, uint64_t instance);

/* What mirror_apply() did with a record. */
enum mirror_result {
	MIRROR_APPLIED,		/* changed the live table */
	MIRROR_STALE,		/* older than the row / tombstone: history only */
	MIRROR_THREAD,		/* thread-level record: thread count only */
	MIRROR_IGNORED,		/* not a process record, or pid 0 */
	MIRROR_ENOMEM,
};

/*
 * mirror_apply - apply one record to the working copy and add its writes to
 * the pending batch. FORK/EXEC/EXIT/COMM/CRED of a process go into
 * process_events (even when too old to change the live row); thread-level
 * FORK/EXIT only adjust processes.threads; PROC snapshots only change the
 * live table (and mark the pid as seen by the running re-sync). FD_* and
 * SOCK_* records go to the files mirror (files.h). SCHED records change the
 * scheduling columns of the process (nice, sched_policy, sched_priority,
 * cpus) and, unless they are snapshots, add a sched_decisions row. The
 * ordering rules are documented at the top of mirror.c and files.c.
 */
enum mirror_result mirror_apply(struct mirror *m, const struct mirror_rec *r);

/*
 * Re-sync (mark and sweep). mirror_resync_begin() starts a new generation;
 * every PROC snapshot applied until mirror_resync_end() marks its pid, every
 * FD snapshot its (pid, fd). mirror_resync_end() then removes every live row
 * that no snapshot marked and whose seq is older than the oldest snapshot of
 * the dump (it vanished before the dump could see it), leaving a tombstone,
 * and returns how many processes it removed (mirror_files_swept() tells how
 * many fds). mirror_resync_abort() ends a failed dump without sweeping.
 */
void mirror_resync_begin(struct mirror *m);
/*
 * mirror_lost - records may have been lost from here on (the caller will
 * re-sync): the window from the last record applied to the end of the
 * next re-sync is stored (store/changes.h), so that a table read as of a
 * moment inside it says it may be wrong. mirror_resync_begin() calls it.
 */
void mirror_lost(struct mirror *m);
/* mirror_resync_files_dumped - the files dump completed too: sweep fds at the end. */
void mirror_resync_files_dumped(struct mirror *m);
uint32_t mirror_resync_end(struct mirror *m);
void mirror_resync_abort(struct mirror *m);
uint32_t mirror_files_swept(const struct mirror *m);

/*
 * mirror_commit - write the pending changes in one store batch: the rows of
 * every pid changed since the last commit (coalesced: a process born and
 * gone within one batch costs no processes write), the history rows, the
 * epoch record, and the retention trim (one range delete). 0 (also when
 * there was nothing to write), or -1 and *@err: the pending batch is kept
 * and retried by the next commit.
 */
int mirror_commit(struct mirror *m, char **err);

/* mirror_pending - number of writes waiting for mirror_commit(). */
size_t mirror_pending(const struct mirror *m);

/*
 * mirror_prune - forget what the open files mirror keeps of processes and
 * sockets with no fd left, once older than @ttl_ns. Call after a commit.
 */
void mirror_prune(struct mirror *m, uint64_t ttl_ns);

/* mirror_history_seq - the history seq that kernel seq @kseq maps to in the current epoch. */
uint64_t mirror_history_seq(const struct mirror *m, uint64_t kseq);

/* Counters, published at each commit; readable from any thread. */
enum mirror_stat {
	MIRROR_STAT_EVENTS_APPLIED,
	MIRROR_STAT_EVENTS_STALE,
	MIRROR_STAT_BEFORE_DUMP,
	MIRROR_STAT_THREAD_EVENTS,
	MIRROR_STAT_SNAPSHOTS,
	MIRROR_STAT_PROCESSES_ROWS,
	MIRROR_STAT_PROCESS_EVENTS_ROWS,
	MIRROR_STAT_HISTORY_TRIMMED,
	MIRROR_STAT_LAST_SEQ,
	MIRROR_STAT_EPOCH_BASE,
	MIRROR_STAT_STORE_ERRORS,
	/* files.c */
	MIRROR_STAT_FILE_RECORDS_APPLIED,
	MIRROR_STAT_FILE_RECORDS_STALE,
	MIRROR_STAT_FILE_SNAPSHOTS,
	MIRROR_STAT_FILES_ROWS,
	MIRROR_STAT_SOCKETS_ROWS,
	MIRROR_STAT_FILE_EVENTS_ROWS,
	MIRROR_STAT_SOCKET_EVENTS_ROWS,
	MIRROR_STAT_FILE_EVENTS_TRIMMED,
	MIRROR_STAT_SOCKET_EVENTS_TRIMMED,
	MIRROR_STAT_FILES_SWEPT,
	/* scheduling (sched.c) */
	MIRROR_STAT_SCHED_APPLIED,
	MIRROR_STAT_SCHED_STALE,
	MIRROR_STAT_SCHED_DECISIONS_ROWS,
	MIRROR_STAT_SCHED_DECISIONS_TRIMMED,
	/* the change log (store/changes.h) */
	MIRROR_STAT_CHANGES_LOGGED,
	MIRROR_STAT_CHECKPOINTS,
	MIRROR_STAT_CHANGES_TRIMMED,
	MIRROR_STAT_CHANGES_LOST,
	MIRROR_STAT__COUNT
};

struct mirror_stat_info {
	const char *name;
	const char *doc;
};

extern const struct mirror_stat_info mirror_stat_info[MIRROR_STAT__COUNT];

/* mirror_stats_read - the counters as of the last commit. Thread-safe. */
void mirror_stats_read(const struct mirror *m, int64_t vals[MIRROR_STAT__COUNT]);

#endif /* DBOS_MIRROR_H */
