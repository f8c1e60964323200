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

/* ---- SCHED records for a pid with no row yet (its FORK is in another CPU's buffer) ---- */

#define SCHEDREC_EARLY_MAX	64

struct sched_early {
	uint32_t pid;
	uint32_t t_s;			/* when it was kept (mirror clock, seconds) */
	uint64_t seq;
	struct dbos_sched v;
	uint8_t cpus[DBOS_CPUS_MAX];	/* v.cpus_len bytes */
};

struct sched_stash {
	struct sched_early e[SCHEDREC_EARLY_MAX];
	unsigned n;
};

/*
 * schedrec_stash - keep @v (seq @s, CPU bitmap @cpus) for @pid; a newer one
 * for the same pid replaces it, a full stash drops its oldest.
 */
void schedrec_stash(struct sched_stash *st, uint32_t pid, uint64_t s, uint32_t t_s,
		    const struct dbos_sched *v, const uint8_t *cpus);

/*
 * schedrec_unstash - the row @L of @pid was just created: apply what was
 * kept for it if it belongs to this incarnation (seq > L->floor), and forget
 * it. 1 if applied, 0 if nothing was kept, -1 on ENOMEM.
 */
int schedrec_unstash(struct sched_stash *st, uint32_t pid, struct proc_live *L);

/* schedrec_stash_prune - forget entries kept since before @now_s - @ttl_s. */
void schedrec_stash_prune(struct sched_stash *st, uint32_t now_s, uint32_t ttl_s);

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
