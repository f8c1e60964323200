/* SPDX-License-Identifier: GPL-2.0 */
/* files.h - the files mirror: FD_* and SOCK_* records -> process_open_files, sockets, file_events, socket_events. */
#ifndef DBOS_MIRROR_FILES_H
#define DBOS_MIRROR_FILES_H

#include <stdint.h>

#include "dbserver/store/changes.h"

#include "dbserver/mirror/mirror.h"

struct files;

/*
 * files_open - load every stored fd and socket row and count both
 * histories. @batch is the mirror's pending batch (shared), @c the mirror's
 * counters (files.c adds to the MIRROR_STAT_FILE* ones), @max_seq is raised
 * to the largest seq stored. Every change of an fd or sockets row is logged
 * in @chg (the mirror's change log), with the cause files_set_cause() set.
 * 0 and *@out, or -1 and *@err (free()).
 */
int files_open(struct store *st, struct store_batch *batch, uint64_t retention,
	       uint64_t *c, uint64_t *max_seq, struct changes_log *chg, struct files **out,
	       char **err);
/*
 * files_start - after files_open() and the change log's opening: deletes
 * (in the pending batch) the stored sockets no stored fd points at. 0, or
 * -1 and *@err.
 */
int files_start(struct files *f, char **err);
void files_close(struct files *f);

void files_set_now(struct files *f, uint64_t now_ns);

/* files_set_cause - the seq and time of what the next changes are made by (the record being applied). */
void files_set_cause(struct files *f, uint64_t seq, uint64_t time_ns);

/* files_apply - one FD_* or SOCK_* record with history seq @s. */
enum mirror_result files_apply(struct files *f, const struct mirror_rec *r, uint64_t s);

/* files_fork - process @child was forked from @parent at @s: it starts with a copy of its table. */
int files_fork(struct files *f, uint32_t parent, uint32_t child, uint64_t s);

/* files_exit - process @pid died at @s: all its fd rows go (one range delete). */
int files_exit(struct files *f, uint32_t pid, uint64_t s);

/*
 * Re-sync: FD snapshots applied between begin and end mark their (pid, fd)
 * with @gen; end removes live fds not marked and older than the dump's first
 * FD snapshot (or than @first_proc_snap, the process dump's first snapshot,
 * when the files dump was empty; 0: sweep nothing). Sweeps only after
 * files_resync_dumped(). Returns how many went.
 */
void files_resync_begin(struct files *f, uint32_t gen);
void files_resync_dumped(struct files *f);	/* the files dump completed: sweep at the end */
uint32_t files_resync_end(struct files *f, uint64_t first_proc_snap);
void files_resync_abort(struct files *f);

/*
 * files_commit - before the batch is written: the history rows as chunks,
 * the changed fd rows, the history trims, the counters. 0, or -1 and *@err
 * (free()) when the history rows could not be chunked (they stay pending).
 */
int files_commit(struct files *f, char **err);

/* files_committed - the batch is written (history.h: history_committed()). */
void files_committed(struct files *f);

/* files_pending - fd rows and history rows waiting for files_commit(). */
size_t files_pending(const struct files *f);

/* files_prune - forget tombstones and socket infos without fds older than @ttl_ns. */
void files_prune(struct files *f, uint64_t ttl_ns);

#endif /* DBOS_MIRROR_FILES_H */
