/* SPDX-License-Identifier: GPL-2.0 */
/* live.h - a cursor's batch of what the kernel says now of the processes it reads (the columns marked live in schema.h). */
#ifndef DBOS_SQL_LIVE_H
#define DBOS_SQL_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbos_uapi.h"

#define LIVE_BATCH	256	/* pids asked for at once */

/* What the kernel said of one pid of the batch; @found false: no such process. */
struct live_row {
	uint32_t pid;
	bool found;
	struct dbos_live v;
	size_t str;		/* offset of its strings (cwd, root, cgroup) in the batch's */
};

struct live_batch;
struct kernel_live;

/*
 * A new, empty batch (SQLite's allocator: the session's memory limit) that
 * asks the kernel over *@sk, the session's socket (opened on first use,
 * closed by the session); NULL: no memory.
 */
struct live_batch *live_new(struct kernel_live **sk);
void live_free(struct live_batch *b);

/*
 * live_fetch - replace @b's contents with what the kernel says now of @pids
 * (@n <= LIVE_BATCH), reading the DBOS_LIVE_F_* @parts. When the kernel cannot be asked (module not loaded,
 * refused, gone) the batch says "not found" for every pid, @b stops asking
 * and the session's socket is closed (the next statement tries again).
 * 0, or -ENOMEM.
 */
int live_fetch(struct live_batch *b, const uint32_t *pids, size_t n, uint32_t parts);

/* @pid's entry in the batch, NULL when it was not asked for; @s: its strings. */
const struct live_row *live_find(struct live_batch *b, uint32_t pid, const char **s);

#endif /* DBOS_SQL_LIVE_H */
