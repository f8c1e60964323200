/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sched.h - DBOS_CMD_SCHED_SET: the scheduling actuator.
 */
#ifndef _DBOS_SCHED_H
#define _DBOS_SCHED_H

struct sk_buff;
struct genl_info;

int dbos_sched_set(struct sk_buff *skb, struct genl_info *info);

#endif /* _DBOS_SCHED_H */
