/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy.h - the netlink attribute policies of every dbos command.
 */
#ifndef _DBOS_POLICY_H
#define _DBOS_POLICY_H

#include "dbos_uapi.h"

#include <net/netlink.h>

/* GET_STATS and DUMP_PROCS: no attributes. */
extern const struct nla_policy dbos_policy_none[DBOS_A_MAX + 1];
/* GET_PROC (PID required) and DUMP_FILES (PID optional). */
extern const struct nla_policy dbos_policy_pid[DBOS_A_MAX + 1];
/* GET_LIVE: PIDS. */
extern const struct nla_policy dbos_policy_live[DBOS_A_MAX + 1];
/* SET_FILTER: FILE_KINDS and PATH_EXCLUDE. */
extern const struct nla_policy dbos_policy_set_filter[DBOS_A_MAX + 1];
/* Inside DBOS_A_PATH_EXCLUDE: DBOS_A_PATH_PREFIX strings only. */
extern const struct nla_policy dbos_policy_exclude[DBOS_A_MAX + 1];

/* SCHED_SET: SCHED_TARGETS (nest of SCHED_TARGET nests, each sched_target). */
extern const struct nla_policy dbos_policy_sched_set[DBOS_A_MAX + 1];
extern const struct nla_policy dbos_policy_sched_targets[DBOS_A_MAX + 1];
extern const struct nla_policy dbos_policy_sched_target[DBOS_A_MAX + 1];

/*
 * SCHED_RULES: VERSION, ACTIVATE, RULES (nest of TERM nests: sched_term,
 * whose MATCH nests are sched_match, whose VALUES nest is sched_values).
 */
extern const struct nla_policy dbos_policy_sched_rules[DBOS_A_MAX + 1];
extern const struct nla_policy dbos_policy_sched_terms[DBOS_A_MAX + 1];
extern const struct nla_policy dbos_policy_sched_term[DBOS_A_MAX + 1];
extern const struct nla_policy dbos_policy_sched_match[DBOS_A_MAX + 1];
extern const struct nla_policy dbos_policy_sched_values[DBOS_A_MAX + 1];

#endif /* _DBOS_POLICY_H */
