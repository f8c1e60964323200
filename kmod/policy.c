// SPDX-License-Identifier: GPL-2.0
/*
 * policy.c - the netlink attribute policies of every dbos command (pure data).
 *
 * Every array names every attribute: those a command does not take are
 * NLA_REJECT with a message saying why, so nothing is silently ignored.
 */

#include "policy.h"

#define DBOS_REJECT(msg)	{ .type = NLA_REJECT, .reject_message = (msg) }
#define DBOS_REJECT_OUT		DBOS_REJECT("attribute is sent by the kernel only")
#define DBOS_REJECT_CMD		DBOS_REJECT("attribute not accepted by this command")

/* The attributes no command takes from userspace. */
#define DBOS_POLICY_OUT						\
	[DBOS_A_PAD]		= DBOS_REJECT_OUT,		\
	[DBOS_A_VERSION]	= DBOS_REJECT_OUT,		\
	[DBOS_A_INSTANCE]	= DBOS_REJECT_OUT,		\
	[DBOS_A_STATS]		= DBOS_REJECT_OUT,		\
	[DBOS_A_CPU]		= DBOS_REJECT_OUT,		\
	[DBOS_A_RECORDS]	= DBOS_REJECT_OUT

/* The attributes of DBOS_CMD_SCHED_SET, refused by every other command. */
#define DBOS_POLICY_NO_SCHED					\
	[DBOS_A_SCHED_TARGETS]	= DBOS_REJECT_CMD,		\
	[DBOS_A_SCHED_TARGET]	= DBOS_REJECT_CMD,		\
	[DBOS_A_NICE]		= DBOS_REJECT_CMD,		\
	[DBOS_A_SCHED_POLICY]	= DBOS_REJECT_CMD,		\
	[DBOS_A_SCHED_PRIORITY]	= DBOS_REJECT_CMD,		\
	[DBOS_A_CPUS]		= DBOS_REJECT_CMD

/* The attributes of DBOS_CMD_SET_FILTER, refused by every other command. */
#define DBOS_POLICY_NO_FILTER					\
	[DBOS_A_FILE_KINDS]	= DBOS_REJECT_CMD,		\
	[DBOS_A_PATH_EXCLUDE]	= DBOS_REJECT_CMD,		\
	[DBOS_A_PATH_PREFIX]	= DBOS_REJECT_CMD

const struct nla_policy dbos_policy_none[DBOS_A_MAX + 1] = {
	DBOS_POLICY_OUT,
	DBOS_POLICY_NO_FILTER,
	DBOS_POLICY_NO_SCHED,
	[DBOS_A_PID]		= DBOS_REJECT_CMD,
};

const struct nla_policy dbos_policy_pid[DBOS_A_MAX + 1] = {
	DBOS_POLICY_OUT,
	DBOS_POLICY_NO_FILTER,
	DBOS_POLICY_NO_SCHED,
	[DBOS_A_PID]		= { .type = NLA_U32 },
};

const struct nla_policy dbos_policy_exclude[DBOS_A_MAX + 1] = {
	DBOS_POLICY_OUT,
	DBOS_POLICY_NO_SCHED,
	[DBOS_A_PID]		= DBOS_REJECT_CMD,
	[DBOS_A_FILE_KINDS]	= DBOS_REJECT_CMD,
	[DBOS_A_PATH_EXCLUDE]	= DBOS_REJECT_CMD,
	/* len counts the NUL: at most DBOS_FILTER_PREFIX_MAX bytes with it */
	[DBOS_A_PATH_PREFIX]	= { .type = NLA_NUL_STRING,
				    .len = DBOS_FILTER_PREFIX_MAX - 1 },
};

const struct nla_policy dbos_policy_set_filter[DBOS_A_MAX + 1] = {
	DBOS_POLICY_OUT,
	DBOS_POLICY_NO_SCHED,
	[DBOS_A_PID]		= DBOS_REJECT_CMD,
	[DBOS_A_FILE_KINDS]	= NLA_POLICY_MASK(NLA_U32, DBOS_FILE_KINDS_ALL),
	[DBOS_A_PATH_EXCLUDE]	= NLA_POLICY_NESTED(dbos_policy_exclude),
	[DBOS_A_PATH_PREFIX]	= DBOS_REJECT("DBOS_A_PATH_PREFIX belongs inside DBOS_A_PATH_EXCLUDE"),
};

#define DBOS_SCHED_INSIDE_TARGET \
	DBOS_REJECT("attribute belongs inside a DBOS_A_SCHED_TARGET")

/* One DBOS_A_SCHED_TARGET: which process and what to set. */
const struct nla_policy dbos_policy_sched_target[DBOS_A_MAX + 1] = {
	DBOS_POLICY_OUT,
	DBOS_POLICY_NO_FILTER,
	[DBOS_A_PID]		= { .type = NLA_U32 },
	[DBOS_A_SCHED_TARGETS]	= DBOS_REJECT("targets do not nest"),
	[DBOS_A_SCHED_TARGET]	= DBOS_REJECT("targets do not nest"),
	[DBOS_A_NICE]		= NLA_POLICY_RANGE(NLA_S32, -20, 19),
	[DBOS_A_SCHED_POLICY]	= { .type = NLA_U32 },
	[DBOS_A_SCHED_PRIORITY]	= NLA_POLICY_RANGE(NLA_U32, 1, 99),
	[DBOS_A_CPUS]		= { .type = NLA_BINARY, .len = DBOS_CPUS_MAX },
};

/* DBOS_A_SCHED_TARGETS: DBOS_A_SCHED_TARGET nests only. */
const struct nla_policy dbos_policy_sched_targets[DBOS_A_MAX + 1] = {
	DBOS_POLICY_OUT,
	DBOS_POLICY_NO_FILTER,
	[DBOS_A_PID]		= DBOS_SCHED_INSIDE_TARGET,
	[DBOS_A_SCHED_TARGETS]	= DBOS_REJECT("targets do not nest"),
	[DBOS_A_SCHED_TARGET]	= NLA_POLICY_NESTED(dbos_policy_sched_target),
	[DBOS_A_NICE]		= DBOS_SCHED_INSIDE_TARGET,
	[DBOS_A_SCHED_POLICY]	= DBOS_SCHED_INSIDE_TARGET,
	[DBOS_A_SCHED_PRIORITY]	= DBOS_SCHED_INSIDE_TARGET,
	[DBOS_A_CPUS]		= DBOS_SCHED_INSIDE_TARGET,
};

const struct nla_policy dbos_policy_sched_set[DBOS_A_MAX + 1] = {
	DBOS_POLICY_OUT,
	DBOS_POLICY_NO_FILTER,
	[DBOS_A_PID]		= DBOS_SCHED_INSIDE_TARGET,
	[DBOS_A_SCHED_TARGETS]	= NLA_POLICY_NESTED(dbos_policy_sched_targets),
	[DBOS_A_SCHED_TARGET]	= DBOS_REJECT("DBOS_A_SCHED_TARGET belongs inside DBOS_A_SCHED_TARGETS"),
	[DBOS_A_NICE]		= DBOS_SCHED_INSIDE_TARGET,
	[DBOS_A_SCHED_POLICY]	= DBOS_SCHED_INSIDE_TARGET,
	[DBOS_A_SCHED_PRIORITY]	= DBOS_SCHED_INSIDE_TARGET,
	[DBOS_A_CPUS]		= DBOS_SCHED_INSIDE_TARGET,
};
