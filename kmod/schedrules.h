/* SPDX-License-Identifier: GPL-2.0 */
/*
 * schedrules.h - DBOS_CMD_SCHED_RULES: scheduling rules kept true at exec,
 * comm change, credential change and activation.
 */
#ifndef _DBOS_SCHEDRULES_H
#define _DBOS_SCHEDRULES_H

#include <linux/rcupdate.h>
#include <linux/types.h>

struct sk_buff;
struct genl_info;
struct dbos_sruleset;
struct task_struct;

/* The live rule set, NULL when there are no rules (see schedrules.c). */
extern struct dbos_sruleset __rcu *dbos_srules_live;

int dbos_sched_rules(struct sk_buff *skb, struct genl_info *info);
void dbos_srules_queue(u32 cause, struct task_struct *task, const char *comm);
void dbos_srules_quiesce(void);
void dbos_srules_uninit(void);

/**
 * dbos_srules_event - a hook saw an exec, comm change or credential change
 * @cause: DBOS_SCHED_RULE_EXEC, _COMM or _CRED
 * @task: the task it happened to (only current's own thread group counts)
 * @comm: COMM: the new name; otherwise NULL (current's name is used)
 *
 * Called by the hooks in current's context, in any context they run in.
 * Without live rules this is one pointer read.
 */
static inline void dbos_srules_event(u32 cause, struct task_struct *task,
				     const char *comm)
{
	if (unlikely(rcu_access_pointer(dbos_srules_live)))
		dbos_srules_queue(cause, task, comm);
}

#endif /* _DBOS_SCHEDRULES_H */
