/* SPDX-License-Identifier: GPL-2.0 */
/*
 * loop.h - the intake thread: one thread that poll()s the event socket, the
 * nlctrl notification socket, a timerfd and a shutdown eventfd, and drives
 * an intake session over the real netlink sockets.
 *
 * It attaches to the "dbos" module when it is there (at start, on nlctrl
 * NEWFAMILY, or by polling every few seconds), detaches when it goes away
 * (DELFAMILY, or GET_STATS failing / showing a new instance) and attaches
 * again to the new instance. Without the module, nothing is written and SQL
 * keeps serving the stored state.
 */
#ifndef DBOS_INTAKE_LOOP_H
#define DBOS_INTAKE_LOOP_H

#include <stdint.h>

#include "dbserver/intake/intake.h"
#include "dbserver/mirror/mirror.h"

#define INTAKE_LOOP_ATTACH_RETRY_NS	5000000000ULL	/* module absent: look again */
#define INTAKE_LOOP_BURST		32		/* messages per commit, at most (~1 MiB) */

struct intake_loop_config {
	struct mirror *mirror;		/* must outlive the loop */
	const struct kernel_filter *filter;	/* NULL: report every file; must outlive the loop */
	void (*log)(void *arg, const char *line);
	void *log_arg;
};

struct intake_loop;

/*
 * intake_loop_start - open the netlink handle and start the intake thread.
 * Call with SIGINT/SIGTERM blocked (the thread inherits the mask). 0 and
 * *@out, or -1 and *@err (free()).
 */
int intake_loop_start(const struct intake_loop_config *cfg, struct intake_loop **out,
		      char **err);

/*
 * intake_loop_stop - wake the thread through its eventfd, wait for it to
 * commit what it has received and detach. The session's counters stay
 * readable until intake_loop_free().
 */
void intake_loop_stop(struct intake_loop *l);
void intake_loop_free(struct intake_loop *l);

/* The session (for intake_stats_read(); valid until intake_loop_free()). */
const struct intake *intake_loop_session(const struct intake_loop *l);

#endif /* DBOS_INTAKE_LOOP_H */
