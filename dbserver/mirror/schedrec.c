// SPDX-License-Identifier: GPL-2.0
/* schedrec.c - SCHED records in the mirror: scheduling columns merged by seq, sched_decisions rows. */

/*
 * Scheduling values reach a process row from two kinds of record: every
 * process record (FORK, EXEC, COMM, CRED, PROC) carries nice and policy, and
 * SCHED records (a SCHED_SET, a rule, or the snapshot after each PROC
 * snapshot of a dump) carry nice, policy, priority and the CPU bitmap. They
 * travel in per-CPU buffers, so each group remembers the seq of the record
 * that set it and an older record never overwrites a newer one:
 *
 *   sched_seq  nice, policy, priority (priority is only ever reported by
 *              SCHED records; a non-real-time policy implies 0)
 *   cpus_seq   cpus (SCHED records; a FORK copies the parent's)
 *
 * SCHED records do not move the row's own seq (slot.seq), which orders the
 * other columns: a COMM older than a SCHED but newer than the row still
 * renames the process.
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "dbserver/mirror/schedrec.h"
#include "dbserver/sched/sched.h"
#include "dbserver/sql/schema.h"
#include "dbserver/store/row.h"

#define NSEC	1000000000ULL

static bool is_rt(uint32_t policy)
{
	return policy == SCHED_FIFO || policy == SCHED_RR;
}

void schedrec_from_proc(struct proc_live *L, const struct dbos_proc *p, uint64_t s)
{
	if (s <= L->sched_seq)
		return;
	if (!is_rt(p->policy)) {
		L->priority = 0;
		L->prio_known = true;
	} else if (!is_rt(L->policy)) {
		L->prio_known = false;
	}
	L->nice = p->nice;
	L->policy = p->policy;
	L->sched_seq = s;
}

int schedrec_apply(struct proc_live *L, const struct dbos_sched *v, const char *cpus, uint64_t s)
{
	int changed = 0;

	if (s >= L->sched_seq) {
		L->nice = v->nice;
		L->policy = v->policy;
		L->priority = v->priority;
		L->prio_known = true;
		L->sched_seq = s;
		changed = 1;
	}
	if (v->cpus_len && s >= L->cpus_seq) {
		if (proc_str_set(&L->cpus, cpus, strlen(cpus)))
			return -1;
		L->cpus_seq = s;
		changed = 1;
	}
	return changed;
}

int schedrec_inherit(struct proc_live *L, const struct proc_live *parent, uint64_t s)
{
	if (parent->cpus_seq && parent->cpus_seq <= s && L->cpus_seq < s) {
		if (proc_str_set(&L->cpus, parent->cpus.p, parent->cpus.len))
			return -1;
		L->cpus_seq = s;
	}
	if (is_rt(L->policy) && !L->prio_known && parent->prio_known &&
	    is_rt(parent->policy) && parent->sched_seq <= s) {
		L->priority = parent->priority;
		L->prio_known = true;
	}
	return 0;
}

/* ---- sched_decisions ---- */

static const char *cause_name(uint32_t cause)
{
	switch (cause) {
	case DBOS_SCHED_COMMAND: return "statement";
	case DBOS_SCHED_RULE_EXEC: return "exec";
	case DBOS_SCHED_RULE_COMM: return "comm";
	case DBOS_SCHED_RULE_CRED: return "cred";
	case DBOS_SCHED_RULE_COMMIT: return "commit";
	}
	return "snapshot";	/* not written: the decoder refuses unknown causes */
}

size_t schedrec_decision(const struct mirror_rec *r, uint64_t s, const char *comm,
			 const char *cpus, char *buf, size_t cap)
{
	const struct dbos_sched *d = &r->sched;
	struct row_value v[SCHED_DECISIONS__COUNT];
	const char *cause = cause_name(d->cause), *pol = sched_policy_name(d->policy);
	char polnum[12];
	uint32_t uid, pid;

	if (!pol) {
		snprintf(polnum, sizeof(polnum), "%u", d->policy);
		pol = polnum;
	}
	v[SCHED_DECISIONS_SEQ] = row_int((int64_t)s);
	v[SCHED_DECISIONS_TIME] = row_int((int64_t)(r->hdr.time_ns / NSEC));
	v[SCHED_DECISIONS_TIME_NS] = row_int((int64_t)r->hdr.time_ns);
	v[SCHED_DECISIONS_PID] = row_int(d->pid);
	v[SCHED_DECISIONS_NAME] = comm ? row_text(comm, strnlen(comm, DBOS_COMM_LEN)) : row_null();
	v[SCHED_DECISIONS_CAUSE] = row_text(cause, strlen(cause));
	v[SCHED_DECISIONS_RULE_ID] = d->cause == DBOS_SCHED_COMMAND ? row_null() : row_int(d->tag);
	v[SCHED_DECISIONS_BY_UID] = row_null();
	v[SCHED_DECISIONS_BY_PID] = row_null();
	if (d->cause == DBOS_SCHED_COMMAND && !sched_tag_who(d->tag, &uid, &pid)) {
		v[SCHED_DECISIONS_BY_UID] = row_int(uid);
		v[SCHED_DECISIONS_BY_PID] = row_int(pid);
	}
	v[SCHED_DECISIONS_NICE] = row_int(d->nice);
	v[SCHED_DECISIONS_SCHED_POLICY] = row_text(pol, strlen(pol));
	v[SCHED_DECISIONS_SCHED_PRIORITY] = row_int(d->priority);
	v[SCHED_DECISIONS_CPUS] = d->cpus_len ? row_text(cpus, strlen(cpus)) : row_null();
	return row_encode(v, SCHED_DECISIONS__COUNT, buf, cap);
}
