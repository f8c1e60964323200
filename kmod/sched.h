/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sched.h - the scheduling actuator: DBOS_CMD_SCHED_SET, and the pieces
 * SCHED_RULES (schedrules.c) and the snapshots (genl.c) share with it.
 */
#ifndef _DBOS_SCHED_H
#define _DBOS_SCHED_H

#include "dbos_uapi.h"

#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/types.h>

struct sk_buff;
struct genl_info;
struct netlink_ext_ack;
struct nlattr;
struct task_struct;

/* What to set on (or, for an undo, restore to) every thread of a process. */
struct dbos_sched_vals {
	bool set_nice, set_policy, set_cpus;
	int nice;
	u32 policy;
	u32 prio;
	cpumask_var_t cpus;
};

/* Longest SCHED record payload: struct dbos_sched and a full CPU bitmap. */
#define DBOS_SCHED_PAYLOAD_MAX	(sizeof(struct dbos_sched) + DBOS_CPUS_MAX)

/* DBOS_STATS_SCHED_APPLIED and DBOS_STATS_SCHED_FAILED. */
extern atomic64_t dbos_sched_applied;
extern atomic64_t dbos_sched_failed;

int dbos_sched_capable(const struct sk_buff *skb, struct netlink_ext_ack *extack);
int dbos_sched_set(struct sk_buff *skb, struct genl_info *info);

const char *dbos_sched_vals_parse(struct nlattr **tb, struct dbos_sched_vals *v);
bool dbos_sched_group_has(struct task_struct *leader,
			  const struct dbos_sched_vals *v);
int dbos_sched_apply_group(struct task_struct *leader,
			   const struct dbos_sched_vals *v);
u32 dbos_sched_describe(struct task_struct *leader, u32 cause, u32 tag, u8 *out);
void dbos_sched_report(struct task_struct *leader, u32 cause, u32 tag);

#endif /* _DBOS_SCHED_H */
