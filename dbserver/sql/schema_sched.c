// SPDX-License-Identifier: GPL-2.0
/* schema_sched.c - declarations of the scheduling rules and history tables and of the sched rules' context view. */
#include "dbserver/sql/schema.h"

#define COL(n, t, d) { .name = n, .type = t, .doc = d }

/* sched_rules (policy/sched_rules.c); column order is its COL_* enum. */
static const struct schema_column sched_rules_cols[] = {
	COL("id", "INTEGER", "Rule ID, unique across policies and sched_rules (NULL on INSERT: max + 1); where rules overlap the lowest id wins"),
	COL("name", "TEXT", "Rule name, unique across policies and sched_rules"),
	COL("condition", "TEXT", "SQL condition over pid, uid, euid, gid, name, exe (see policy_context_sched); NULL: every process"),
	COL("nice", "INTEGER", "Nice value to set, -20..19 (NULL: leave it)"),
	COL("sched_policy", "TEXT", "other, batch, idle, fifo or rr (NULL: leave it)"),
	COL("sched_priority", "INTEGER", "Real-time priority 1..99, with fifo or rr"),
	COL("cpus", "TEXT", "CPU list to allow, as taskset -c ('0-3,5'; NULL: leave it)"),
	COL("version", "INTEGER", "Policy version that last changed this rule (read-only)"),
	COL("notes", "TEXT", "What to know about the condition, e.g. an exe path that is a "
	    "symlink and the resolved path the kernel compares, which the rule matches too (read-only)"),
};

const struct schema_table schema_sched_rules = {
	.name = "sched_rules",
	.doc = "Scheduling rules the kernel keeps true: at COMMIT for every matching process, then at exec, rename and uid change",
	.note = "-- Writable by root, versioned with policies (one transaction over both is one version)",
	.cols = sched_rules_cols,
	.ncols = sizeof(sched_rules_cols) / sizeof(sched_rules_cols[0]),
};

static const struct schema_column sched_decisions_cols[SCHED_DECISIONS__COUNT] = {
	[SCHED_DECISIONS_SEQ]      = COL("seq", "INTEGER", "Event sequence number of the kernel's report"),
	[SCHED_DECISIONS_TIME]     = COL("time", "INTEGER", "Time of the change, seconds since the Unix epoch"),
	[SCHED_DECISIONS_TIME_NS]  = COL("time_ns", "INTEGER", "Time of the change, nanoseconds since the Unix epoch"),
	[SCHED_DECISIONS_PID]      = COL("pid", "INTEGER", "Process changed"),
	[SCHED_DECISIONS_NAME]     = COL("name", "TEXT", "Its comm at the time (NULL if unknown)"),
	[SCHED_DECISIONS_CAUSE]    = COL("cause", "TEXT", "statement (UPDATE processes), or the rule's trigger: exec, comm, cred, commit"),
	[SCHED_DECISIONS_RULE_ID]  = COL("rule_id", "INTEGER", "sched_rules.id of the rule (NULL for a statement)"),
	[SCHED_DECISIONS_BY_UID]   = COL("by_uid", "INTEGER", "statement: user ID of the SQL client (NULL for rules)"),
	[SCHED_DECISIONS_BY_PID]   = COL("by_pid", "INTEGER", "statement: process ID of the SQL client (NULL for rules)"),
	[SCHED_DECISIONS_NICE]     = COL("nice", "INTEGER", "Nice value now in force"),
	[SCHED_DECISIONS_SCHED_POLICY] = COL("sched_policy", "TEXT", "Scheduling policy now in force"),
	[SCHED_DECISIONS_SCHED_PRIORITY] = COL("sched_priority", "INTEGER", "Real-time priority now in force"),
	[SCHED_DECISIONS_CPUS]     = COL("cpus", "TEXT", "CPUs now allowed ('0-3,5')"),
};

const struct schema_table schema_sched_decisions = {
	.name = "sched_decisions",
	.doc = "Every scheduling change made through dbos (UPDATE processes or a sched rule), as the kernel reported it, kept up to a retention limit",
	.cf = STORE_CF_SCHED_DECISIONS,
	.nkeys = 1,
	.key = { { SCHED_DECISIONS_SEQ, 8 } },
	.cols = sched_decisions_cols,
	.ncols = SCHED_DECISIONS__COUNT,
};

const struct schema_view schema_view_policy_context_sched = {
	.name = "policy_context_sched",
	.doc = "sched rule context: the live processes (a rule's condition is checked against these columns)",
	.select =
		"SELECT p.seq AS seq, NULL AS time, p.pid AS pid, p.uid AS uid, p.euid AS euid, "
		"p.gid AS gid, p.name AS name, NULL AS cgroup, p.path AS exe FROM processes p",
};
