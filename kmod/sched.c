// SPDX-License-Identifier: GPL-2.0
/*
 * sched.c - DBOS_CMD_SCHED_SET: checks every target, changes every thread of
 * each, puts back what it changed when a change fails, and reports the values
 * now in force as DBOS_REC_SCHED records. Also the pieces SCHED_RULES
 * (schedrules.c) and the SCHED snapshots (genl.c) share: value checks, group
 * changes, SCHED payloads, and the SCHED_APPLIED / SCHED_FAILED counters.
 *
 * Privileges: the scheduling commands need CAP_SYS_NICE besides CAP_NET_ADMIN
 * (both in the initial user namespace, as netlink_capable() checks them).
 * sched_setattr() is not exported to modules, so changes go through
 * sched_setattr_nocheck(), set_user_nice() and set_cpus_allowed_ptr(); with
 * CAP_SYS_NICE held, sched_setattr() and setpriority() would skip exactly
 * the checks these skip (RLIMIT_RTPRIO, RLIMIT_NICE, the caller owning the
 * task, SCHED_RESET_ON_FORK). What they still do and the module cannot:
 * - cpusets: sched_setaffinity() cuts the mask to the task's cpuset, and
 *   cpuset_cpus_allowed() is not exported. An affinity change is refused
 *   (EPERM) for a thread whose cpuset is not the root one, so no change ever
 *   takes a task outside its cpuset; nice and policy still apply.
 * - the LSM hooks security_task_setscheduler() and security_task_setnice()
 *   are not consulted (not exported either); nor, with CONFIG_RT_GROUP_SCHED,
 *   a group's zero RT runtime.
 * Kernel threads are never changed.
 *
 * Pids are the initial pid namespace's, whatever the caller's (the events
 * and snapshots carry the same), so one pid names one process everywhere.
 *
 * Locking: dbos_sched_mutex serializes whole SCHED_SET commands, so that the
 * values one command saves for its undo are not another command's half-done
 * change. Threads are walked under rcu_read_lock() only to take references;
 * the changes themselves (which may sleep) are made outside it.
 */

#include "sched.h"
#include "genl.h"
#include "policy.h"
#include "record.h"
#include "dbos_uapi.h"

#include <linux/capability.h>
#include <linux/cgroup.h>
#include <linux/cpumask.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <uapi/linux/sched/types.h>

static DEFINE_MUTEX(dbos_sched_mutex);

/* DBOS_STATS_SCHED_APPLIED and DBOS_STATS_SCHED_FAILED. */
atomic64_t dbos_sched_applied = ATOMIC64_INIT(0);
atomic64_t dbos_sched_failed = ATOMIC64_INIT(0);

/* One target: its leader (a reference), what is wanted, what was there. */
struct dbos_sched_target {
	struct task_struct *leader;
	struct dbos_sched_vals want;
	struct dbos_sched_vals old;
};

static_assert(sizeof(struct dbos_sched) == 32);

static bool dbos_policy_valid(u32 policy)
{
	return policy == SCHED_NORMAL || policy == SCHED_BATCH ||
	       policy == SCHED_IDLE || policy == SCHED_FIFO || policy == SCHED_RR;
}

static bool dbos_policy_rt(u32 policy)
{
	return policy == SCHED_FIFO || policy == SCHED_RR;
}

/* CPU bitmap (DBOS_A_CPUS) -> @mask; -EINVAL with the reason in *@why. */
static int dbos_cpus_parse(const struct nlattr *a, struct cpumask *mask,
			   const char **why)
{
	const u8 *bits = nla_data(a);
	int len = nla_len(a), i;

	cpumask_clear(mask);
	if (!len) {
		*why = "empty CPU set";
		return -EINVAL;
	}
	for (i = 0; i < len * 8; i++) {
		if (!(bits[i / 8] & (1U << (i % 8))))
			continue;
		if (i >= nr_cpu_ids) {
			*why = "CPU set names a CPU that does not exist";
			return -EINVAL;
		}
		cpumask_set_cpu(i, mask);
	}
	if (!cpumask_intersects(mask, cpu_online_mask)) {
		*why = "CPU set has no online CPU";
		return -EINVAL;
	}
	return 0;
}

/*
 * Is thread @p in the root cpuset (all CPUs), or does the kernel have no
 * cpusets? Any context. The css_set is freed after a grace period, and a
 * cpuset's css outlives every css_set that points to it.
 */
static bool dbos_cpuset_is_root(struct task_struct *p)
{
#ifdef CONFIG_CPUSETS
	bool root;

	rcu_read_lock();
	root = !rcu_dereference(p->cgroups)->subsys[cpuset_cgrp_id]->parent;
	rcu_read_unlock();
	return root;
#else
	return true;
#endif
}

/* DBOS_A_NICE etc. need CAP_SYS_NICE as well: 0 or -EPERM (extack set). */
int dbos_sched_capable(const struct sk_buff *skb, struct netlink_ext_ack *extack)
{
	return dbos_genl_capable(skb, CAP_SYS_NICE,
				 "scheduling commands need CAP_SYS_NICE", extack);
}

/**
 * dbos_sched_vals_parse - the values of a SCHED_SET target or SCHED_RULES term
 * @tb: the nest's attributes (NICE, SCHED_POLICY, SCHED_PRIORITY, CPUS)
 * @v: filled in; v->cpus must be allocated
 *
 * Return: NULL when the values are valid, else why not (a string literal).
 */
const char *dbos_sched_vals_parse(struct nlattr **tb, struct dbos_sched_vals *v)
{
	const char *why = NULL;

	if (tb[DBOS_A_NICE]) {
		v->set_nice = true;
		v->nice = nla_get_s32(tb[DBOS_A_NICE]);
	}
	if (tb[DBOS_A_SCHED_POLICY]) {
		v->set_policy = true;
		v->policy = nla_get_u32(tb[DBOS_A_SCHED_POLICY]);
		if (!dbos_policy_valid(v->policy))
			why = "policy must be SCHED_OTHER, BATCH, IDLE, FIFO or RR";
		else if (dbos_policy_rt(v->policy) && !tb[DBOS_A_SCHED_PRIORITY])
			why = "SCHED_FIFO and SCHED_RR need DBOS_A_SCHED_PRIORITY";
		else if (dbos_policy_rt(v->policy) && v->set_nice)
			why = "nice does not apply to SCHED_FIFO and SCHED_RR";
	}
	if (tb[DBOS_A_SCHED_PRIORITY]) {
		v->prio = nla_get_u32(tb[DBOS_A_SCHED_PRIORITY]);
		if (!v->set_policy || !dbos_policy_rt(v->policy))
			why = "DBOS_A_SCHED_PRIORITY goes with SCHED_FIFO or SCHED_RR only";
	}
	if (tb[DBOS_A_CPUS]) {
		v->set_cpus = true;
		if (dbos_cpus_parse(tb[DBOS_A_CPUS], v->cpus, &why))
			return why;
	}
	if (!why && !v->set_nice && !v->set_policy && !v->set_cpus)
		why = "target changes nothing";
	return why;
}

/* Parse and check one DBOS_A_SCHED_TARGET into @t (leader referenced). */
static int dbos_target_parse(struct dbos_sched_target *t, struct nlattr *nest,
			     struct netlink_ext_ack *extack)
{
	struct nlattr *tb[DBOS_A_MAX + 1];
	const char *why;
	struct task_struct *leader;
	u32 tgid;
	int ret;

	ret = nla_parse_nested(tb, DBOS_A_MAX, nest, dbos_policy_sched_target,
			       extack);
	if (ret)
		return ret;
	if (!tb[DBOS_A_PID]) {
		NL_SET_ERR_MSG_ATTR(extack, nest, "target without DBOS_A_PID");
		return -EINVAL;
	}
	tgid = nla_get_u32(tb[DBOS_A_PID]);
	why = dbos_sched_vals_parse(tb, &t->want);
	if (why)
		goto invalid;

	leader = dbos_get_tgid(tgid);
	if (!leader || (READ_ONCE(leader->exit_state) && thread_group_empty(leader))) {
		if (leader)
			put_task_struct(leader);
		NL_SET_ERR_MSG_ATTR(extack, nest, "no such process");
		return -ESRCH;
	}
	t->leader = leader;
	if (leader->flags & PF_KTHREAD) {
		NL_SET_ERR_MSG_ATTR(extack, nest, "kernel threads are not changed");
		return -EPERM;
	}
	if (t->want.set_cpus && !dbos_cpuset_is_root(leader)) {
		NL_SET_ERR_MSG_ATTR(extack, nest,
				    "the process is in a cpuset: set the cpuset's CPUs instead");
		return -EPERM;
	}

	/* What an undo puts back: the leader's values, for every thread. */
	t->old.set_nice = t->want.set_nice || t->want.set_policy;
	t->old.set_policy = t->want.set_policy;
	t->old.set_cpus = t->want.set_cpus;
	t->old.nice = task_nice(leader);
	t->old.policy = READ_ONCE(leader->policy);
	t->old.prio = READ_ONCE(leader->rt_priority);
	cpumask_copy(t->old.cpus, leader->cpus_ptr);
	if (dbos_policy_rt(t->old.policy))
		t->old.set_nice = false;
	return 0;

invalid:
	/* @why is always a string literal: static storage, as extack wants. */
	NL_SET_BAD_ATTR(extack, nest);
	if (extack)
		extack->_msg = why;
	return -EINVAL;
}

/* Does thread @p already have @v? */
static bool dbos_sched_matches(struct task_struct *p, const struct dbos_sched_vals *v)
{
	if (v->set_policy && (READ_ONCE(p->policy) != v->policy ||
			      READ_ONCE(p->rt_priority) != v->prio))
		return false;
	if (v->set_nice && task_nice(p) != v->nice)
		return false;
	if (v->set_cpus && !cpumask_equal(p->cpus_ptr, v->cpus))
		return false;
	return true;
}

/*
 * Apply @v to one thread. Process context: may sleep. A CPU set for a
 * thread in a cpuset other than the root one is refused before anything
 * changes (see the top of the file).
 */
static int dbos_sched_apply_thread(struct task_struct *p, const struct dbos_sched_vals *v)
{
	int ret = 0;

	if (v->set_cpus && !dbos_cpuset_is_root(p))
		return -EPERM;
	if (v->set_policy) {
		struct sched_attr attr = {
			.size = sizeof(attr),
			.sched_policy = v->policy,
			.sched_priority = v->prio,
			.sched_nice = v->set_nice ? v->nice : task_nice(p),
		};

		ret = sched_setattr_nocheck(p, &attr);
		/* sched_setattr() takes sched_nice for OTHER and BATCH only. */
		if (!ret && v->set_nice && task_nice(p) != v->nice)
			set_user_nice(p, v->nice);
	} else if (v->set_nice) {
		set_user_nice(p, v->nice);
	}
	if (!ret && v->set_cpus)
		ret = set_cpus_allowed_ptr(p, v->cpus);
	return ret;
}

/*
 * Apply @v to every thread of @leader's group. A thread created meanwhile by
 * a thread not yet changed inherits the old values, so the walk repeats until
 * one pass finds every thread done (bounded: a group that keeps spawning
 * threads faster than this can walk it gets -EAGAIN).
 */
int dbos_sched_apply_group(struct task_struct *leader,
			   const struct dbos_sched_vals *v)
{
	struct task_struct **threads, *p;
	int pass, ret = 0;

	for (pass = 0; pass < 4; pass++) {
		unsigned int n = 0, cap, i, changed = 0;

		cap = get_nr_threads(leader) + 16;
		threads = kvmalloc_array(cap, sizeof(*threads), GFP_KERNEL);
		if (!threads)
			return -ENOMEM;
		rcu_read_lock();
		for_each_thread(leader, p) {
			if (n == cap)
				break;
			if (dbos_sched_matches(p, v) || (p->flags & PF_EXITING))
				continue;
			get_task_struct(p);
			threads[n++] = p;
		}
		rcu_read_unlock();

		for (i = 0; i < n; i++) {
			int r = ret ? 0 : dbos_sched_apply_thread(threads[i], v);

			/* A thread that exited meanwhile is not a failure. */
			if (r && !(threads[i]->flags & PF_EXITING))
				ret = r;
			changed++;
			put_task_struct(threads[i]);
		}
		kvfree(threads);
		if (ret || !changed)
			return ret;
	}
	return -EAGAIN;
}

/*
 * Does every live thread of @leader's group already have @v? Any context
 * where @leader is referenced.
 */
bool dbos_sched_group_has(struct task_struct *leader,
			  const struct dbos_sched_vals *v)
{
	struct task_struct *p;
	bool ret = true;

	rcu_read_lock();
	for_each_thread(leader, p) {
		if (!(p->flags & PF_EXITING) && !dbos_sched_matches(p, v)) {
			ret = false;
			break;
		}
	}
	rcu_read_unlock();
	return ret;
}

/**
 * dbos_sched_describe - a SCHED record's payload for @leader's group
 * @leader: a thread-group leader the caller keeps alive
 * @cause: enum dbos_sched_cause
 * @tag: dbos_sched.tag
 * @out: DBOS_SCHED_PAYLOAD_MAX bytes: struct dbos_sched, then the CPU bitmap
 *
 * The values are the leader's. Return: the payload's length.
 */
u32 dbos_sched_describe(struct task_struct *leader, u32 cause, u32 tag, u8 *out)
{
	struct dbos_sched *rec = (struct dbos_sched *)out;
	u8 *cpus = out + sizeof(*rec);
	u32 len = min_t(u32, DBOS_CPUS_MAX, BITS_TO_BYTES(nr_cpu_ids));
	int cpu;

	memset(out, 0, sizeof(*rec) + len);
	rec->pid = leader->tgid;
	rec->nice = task_nice(leader);
	rec->policy = READ_ONCE(leader->policy);
	rec->priority = READ_ONCE(leader->rt_priority);
	rec->cpus_len = len;
	rec->cause = cause;
	rec->tag = tag;
	for_each_cpu(cpu, leader->cpus_ptr)
		if (cpu < len * 8)
			cpus[cpu / 8] |= 1U << (cpu % 8);
	return sizeof(*rec) + len;
}

/* Report the values now in force on @leader's group as a SCHED event. */
void dbos_sched_report(struct task_struct *leader, u32 cause, u32 tag)
{
	u8 payload[DBOS_SCHED_PAYLOAD_MAX];
	u32 len = dbos_sched_describe(leader, cause, tag, payload);

	dbos_record_put_event(DBOS_REC_SCHED, payload, len, NULL, 0);
}

static void dbos_targets_free(struct dbos_sched_target *t, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (t[i].leader)
			put_task_struct(t[i].leader);
		free_cpumask_var(t[i].want.cpus);
		free_cpumask_var(t[i].old.cpus);
	}
	kvfree(t);
}

int dbos_sched_set(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *targets = info->attrs[DBOS_A_SCHED_TARGETS];
	struct nlattr *tag = info->attrs[DBOS_A_SCHED_TAG];
	struct dbos_sched_target *t;
	int n = 0, i, done, ret, rem;
	struct nlattr *a;

	ret = dbos_sched_capable(skb, info->extack);
	if (ret)
		return ret;
	if (!targets) {
		GENL_SET_ERR_MSG(info, "DBOS_A_SCHED_TARGETS is required");
		return -EINVAL;
	}
	nla_for_each_nested(a, targets, rem)
		n++;
	if (!n || n > DBOS_SCHED_TARGETS_MAX) {
		NL_SET_ERR_MSG_ATTR(info->extack, targets,
				    "1 to DBOS_SCHED_TARGETS_MAX targets");
		return -EINVAL;
	}
	t = kvcalloc(n, sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (!zalloc_cpumask_var(&t[i].want.cpus, GFP_KERNEL) ||
		    !zalloc_cpumask_var(&t[i].old.cpus, GFP_KERNEL)) {
			ret = -ENOMEM;
			goto out;
		}
	}

	mutex_lock(&dbos_sched_mutex);
	i = 0;
	nla_for_each_nested(a, targets, rem) {
		ret = dbos_target_parse(&t[i++], a, info->extack);
		if (ret)
			goto unlock;
	}

	for (done = 0; done < n; done++) {
		ret = dbos_sched_apply_group(t[done].leader, &t[done].want);
		if (ret) {
			NL_SET_ERR_MSG(info->extack,
				       "a target could not be changed; nothing was");
			/* The failed one may be half done: undo it too. */
			for (i = done; i >= 0; i--)
				if (dbos_sched_apply_group(t[i].leader, &t[i].old))
					pr_warn_ratelimited("sched: could not restore pid %d\n",
							    t[i].leader->tgid);
			goto unlock;
		}
	}
	for (i = 0; i < n; i++)
		dbos_sched_report(t[i].leader, DBOS_SCHED_COMMAND,
				  tag ? nla_get_u32(tag) : 0);
	ret = 0;
unlock:
	mutex_unlock(&dbos_sched_mutex);
out:
	dbos_targets_free(t, n);
	return ret;
}
