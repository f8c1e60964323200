/* SPDX-License-Identifier: GPL-2.0 */
/* schedrec.h - SCHED records in the mirror: scheduling columns merged by seq, sched_decisions rows. */
#ifndef DBOS_MIRROR_SCHEDREC_H
#define DBOS_MIRROR_SCHEDREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbos_uapi.h"
#include "dbserver/mirror/mirror.h"
#include "dbserver/mirror/proctab.h"

/* Room for the text of any CPU bitmap ("0,2,4,...,1022" for 1024 CPUs). */
#define SCHEDREC_CPUS_TEXT	4096

/*
 * schedrec_from_proc - nice and policy of a process record (FORK..PROC) with
 * seq @s, unless the row has newer ones (a SCHED record with a larger seq was
 * applied first). A non-real-time policy implies priority 0; a switch to a
 * real-time policy the row did not have leaves the priority unknown.
 */
void schedrec_from_proc(struct proc_live *L, const struct dbos_proc *p, uint64_t s);

/*
 * schedrec_apply - the values of SCHED record @v (seq @s, CPU list @cpus, ""
 * when it carried none): nice, policy and priority if @s >= L->sched_seq,
 * cpus if @s >= L->cpus_seq (equal: the SCHED snapshot after the PROC
 * snapshot of the same seq). 1 if the row changed, 0 if both were older,
 * -1 on ENOMEM.
 */
int schedrec_apply(struct proc_live *L, const struct dbos_sched *v, const char *cpus, uint64_t s);

/*
 * schedrec_inherit - a FORK (seq @s) of @L from @parent: the kernel copied
 * the parent's CPUs and real-time priority, so take them unless the row
 * already has newer ones or the parent's changed after the fork. 0, or -1
 * on ENOMEM.
 */
int schedrec_inherit(struct proc_live *L, const struct proc_live *parent, uint64_t s);


/* ---- sched_decisions ---- */

/*
 * schedrec_decision - encode the sched_decisions row of SCHED record @r
 * (history seq @s, CPU list @cpus) into @buf: @comm is the process's name
 * (NULL: unknown); by_uid/by_pid come from sched_tag_who() for statements.
 * Returns the encoded length (more than @cap: nothing usable was written).
 */
size_t schedrec_decision(const struct mirror_rec *r, uint64_t s, const char *comm,
			 const char *cpus, char *buf, size_t cap);

#endif /* DBOS_MIRROR_SCHEDREC_H */
