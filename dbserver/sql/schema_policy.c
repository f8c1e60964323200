// SPDX-License-Identifier: GPL-2.0
/* schema_policy.c - declarations of the policy tables, policy_simulate, policy_rollback and the policy context views. */
#include "dbserver/sql/schema.h"

#define COL(n, t, d) { .name = n, .type = t, .doc = d }
#define ARG(n, t, d) { .name = n, .type = t, .doc = d, .hidden = true }

/* policies: the live security rules (policy/tables.c); column order is its COL_* enum. */
static const struct schema_column policies_cols[] = {
	COL("id", "INTEGER", "Rule ID, unique across policies and sched_rules (NULL on INSERT: max + 1)"),
	COL("name", "TEXT", "Rule name, unique across policies and sched_rules"),
	COL("hook", "TEXT", "exec, open, connect, bind or kill"),
	COL("action", "TEXT", "deny (the call fails with EPERM, recorded), audit (allowed, recorded) or allow (an exception to deny rules)"),
	COL("condition", "TEXT", "SQL condition over the hook's context columns (see policy_context_<hook>); NULL: always"),
	COL("version", "INTEGER", "Policy version that last changed this rule (read-only)"),
	COL("exactness", "TEXT", "kernel: decided by the kernel at the moment of the call, lineage "
	    "included; server: has a subquery the server evaluates and keeps current, a little "
	    "behind the kernel (read-only)"),
	COL("notes", "TEXT", "What to know about the condition, e.g. a path that is a symlink and "
	    "the resolved path the kernel compares, which the rule matches too (read-only)"),
};

const struct schema_table schema_policies = {
	.name = "policies",
	.doc = "The live security policy: one row per rule, enforced by the kernel (BPF LSM)",
	.note = "-- Writable by root: INSERT, UPDATE and DELETE in one transaction make one new "
		"policy version, live in the kernel when COMMIT returns (see policy_versions)",
	.cols = policies_cols,
	.ncols = sizeof(policies_cols) / sizeof(policies_cols[0]),
};

/* policy_simulate(hook, condition): policy/simulate.c; the last two columns are the arguments. */
static const struct schema_column simulate_cols[] = {
	COL("seq", "INTEGER", "Event sequence number (sched: the process's row)"),
	COL("time", "INTEGER", "Event time, seconds since the Unix epoch (sched: NULL)"),
	COL("pid", "INTEGER", "Process ID of the caller"),
	COL("uid", "INTEGER", "Real user ID of the caller"),
	COL("euid", "INTEGER", "Effective user ID of the caller"),
	COL("gid", "INTEGER", "Real group ID of the caller"),
	COL("name", "TEXT", "Caller's comm"),
	COL("cgroup", "INTEGER", "Caller's cgroup v2 ID (NULL: not recorded in the history)"),
	COL("exe", "TEXT", "Caller's executable, where the history records it"),
	COL("path", "TEXT", "exec, open: the file; connect, bind: the unix socket path"),
	COL("mode", "TEXT", "open: r, w or rw"),
	COL("family", "TEXT", "connect, bind: inet, inet6 or unix"),
	COL("remote_address", "TEXT", "connect: remote address"),
	COL("remote_port", "INTEGER", "connect: remote port"),
	COL("local_address", "TEXT", "bind: local address"),
	COL("local_port", "INTEGER", "bind: local port"),
	COL("target_pid", "INTEGER", "kill: process signalled"),
	COL("signal", "INTEGER", "kill: signal number"),
	ARG("hook", "TEXT", "Argument 1: exec, open, connect, bind, kill or sched"),
	ARG("condition", "TEXT", "Argument 2: the candidate rule's condition"),
};

const struct schema_table schema_policy_simulate = {
	.name = "policy_simulate",
	.doc = "Table-valued function: the recorded events (sched: the live processes) a candidate rule's condition matches",
	.note = "-- SELECT * FROM policy_simulate('exec', 'path GLOB ''/tmp/*''')",
	.cols = simulate_cols,
	.ncols = sizeof(simulate_cols) / sizeof(simulate_cols[0]),
};

const struct schema_function schema_fn_policy_rollback = {
	.name = "policy_rollback",
	.signature = "policy_rollback(version INTEGER) -> INTEGER",
	.doc = "Makes the rules of an earlier policy version live again as a new version, "
	       "and returns the new version (root only)",
};

static const struct schema_column versions_cols[POLICY_VERSIONS__COUNT] = {
	[POLICY_VERSIONS_VERSION]      = COL("version", "INTEGER", "Policy version (1, 2, ...; 0 is the empty policy)"),
	[POLICY_VERSIONS_TIME]         = COL("time", "INTEGER", "Commit time, seconds since the Unix epoch"),
	[POLICY_VERSIONS_UID]          = COL("uid", "INTEGER", "User ID of the client that committed it"),
	[POLICY_VERSIONS_PID]          = COL("pid", "INTEGER", "Process ID of the client that committed it"),
	[POLICY_VERSIONS_ACTION]       = COL("action", "TEXT", "commit (a transaction on policies), rollback (policy_rollback) or fleet (the fleet's rules for this host, names starting with 'fleet:')"),
	[POLICY_VERSIONS_FROM_VERSION] = COL("from_version", "INTEGER", "commit: the version it changed; rollback: the version whose rules it restored; fleet: the fleet policy version"),
	[POLICY_VERSIONS_RULES]        = COL("rules", "INTEGER", "Number of rules"),
	[POLICY_VERSIONS_LIVE]         = COL("live", "INTEGER", "1 for the version the kernel enforces, 0 otherwise (no row has 1 when it enforces none)"),
};

static const struct schema_column revisions_cols[POLICY_REVS__COUNT] = {
	[POLICY_REVS_ID]           = COL("id", "INTEGER", "policies.id"),
	[POLICY_REVS_FROM_VERSION] = COL("from_version", "INTEGER", "First version with this content of the rule (policy_rules.changed)"),
	[POLICY_REVS_UNTIL_VERSION] = COL("until_version", "INTEGER", "First version without it (the rule changed or went); NULL: the latest version has it"),
	[POLICY_REVS_NAME]         = COL("name", "TEXT", "policies.name"),
	[POLICY_REVS_HOOK]         = COL("hook", "TEXT", "exec, open, connect, bind, kill or sched"),
	[POLICY_REVS_ACTION]       = COL("action", "TEXT", "deny, audit or allow; set for sched rules"),
	[POLICY_REVS_CONDITION]    = COL("condition", "TEXT", "SQL condition over the hook's context columns (NULL: always)"),
	[POLICY_REVS_NICE]         = COL("nice", "INTEGER", "sched rules: nice value set (NULL: not set; security rules: NULL)"),
	[POLICY_REVS_SCHED_POLICY] = COL("sched_policy", "TEXT", "sched rules: other, batch, idle, fifo or rr (NULL: not set)"),
	[POLICY_REVS_SCHED_PRIORITY] = COL("sched_priority", "INTEGER", "sched rules: real-time priority with fifo/rr"),
	[POLICY_REVS_CPUS]         = COL("cpus", "TEXT", "sched rules: CPU list set ('0-3,5'; NULL: not set)"),
};

static const struct schema_column decisions_cols[POLICY_DECISIONS__COUNT] = {
	[POLICY_DECISIONS_SEQ]        = COL("seq", "INTEGER", "Decision sequence number (the server's, in the order received)"),
	[POLICY_DECISIONS_TIME]       = COL("time", "INTEGER", "Time of the decision, seconds since the Unix epoch"),
	[POLICY_DECISIONS_HOOK]       = COL("hook", "TEXT", "exec, open, connect, bind, kill; policy for a refused policy change"),
	[POLICY_DECISIONS_VERDICT]    = COL("verdict", "TEXT", "deny (the call failed with EPERM), audit (allowed, reported) or refused (policy change by a non-root client)"),
	[POLICY_DECISIONS_PID]        = COL("pid", "INTEGER", "Process ID of the caller"),
	[POLICY_DECISIONS_UID]        = COL("uid", "INTEGER", "Real user ID of the caller"),
	[POLICY_DECISIONS_NAME]       = COL("name", "TEXT", "Caller's comm"),
	[POLICY_DECISIONS_PATH]       = COL("path", "TEXT", "exec/open: the file (exec: or the one mapped executable), by the name it was reached by ('': deeper than the kernel walks); connect on unix sockets: where the peer socket is bound ('@name': abstract); bind: the socket file made"),
	[POLICY_DECISIONS_ADDRESS]    = COL("address", "TEXT", "connect: remote address; bind: local address"),
	[POLICY_DECISIONS_PORT]       = COL("port", "INTEGER", "connect: remote port; bind: local port"),
	[POLICY_DECISIONS_TARGET_PID] = COL("target_pid", "INTEGER", "kill: process signalled"),
	[POLICY_DECISIONS_SIGNAL]     = COL("signal", "INTEGER", "kill: signal number"),
	[POLICY_DECISIONS_MODE]       = COL("mode", "TEXT", "open: r, w or rw"),
	[POLICY_DECISIONS_RULE_ID]    = COL("rule_id", "INTEGER", "policies.id of the deciding rule (NULL if unknown)"),
	[POLICY_DECISIONS_RULE]       = COL("rule", "TEXT", "policies.name of the deciding rule (NULL if unknown)"),
	[POLICY_DECISIONS_VERSION]    = COL("version", "INTEGER", "Policy version of the generation that decided"),
	[POLICY_DECISIONS_TIME_NS]    = COL("time_ns", "INTEGER", "Time of the decision, nanoseconds since the Unix epoch"),
	[POLICY_DECISIONS_GID]        = COL("gid", "INTEGER", "Real group ID of the caller"),
	[POLICY_DECISIONS_FAMILY]     = COL("family", "TEXT", "connect/bind: inet, inet6, unix or the number"),
};

const struct schema_table schema_policy_versions = {
	.name = "policy_versions",
	.doc = "Every policy version: who made it and how (read-only; change policy through policies)",
	.readonly = "dbosd writes it at each policy change (change policies or sched_rules)",
	.cf = STORE_CF_POLICY_VERSIONS,
	.nkeys = 1,
	.key = { { POLICY_VERSIONS_VERSION, 8 } },
	.cols = versions_cols,
	.ncols = POLICY_VERSIONS__COUNT,
};

const struct schema_table schema_policy_rule_revisions = {
	.name = "policy_rule_revisions",
	.doc = "How the rules of every policy version are stored: each content of each rule once, with the versions that had it (read-only; read policy_rules)",
	.readonly = "dbosd writes it at each policy change (change policies or sched_rules)",
	.cf = STORE_CF_POLICY_RULES,
	.nkeys = 2,
	.key = { { POLICY_REVS_ID, 4 }, { POLICY_REVS_FROM_VERSION, 4 } },
	.cols = revisions_cols,
	.ncols = POLICY_REVS__COUNT,
};

/* Version v has revision r when from_version <= v < until_version (NULL: no end). */
const struct schema_view schema_view_policy_rules = {
	.name = "policy_rules",
	.doc = "The rules of every policy version: version, id, name, hook, action, condition, changed (the version that last changed the rule), nice, sched_policy, sched_priority, cpus",
	.select =
		"SELECT v.version AS version, r.id AS id, r.name AS name, r.hook AS hook, "
		"r.action AS action, r.condition AS condition, r.from_version AS changed, "
		"r.nice AS nice, r.sched_policy AS sched_policy, "
		"r.sched_priority AS sched_priority, r.cpus AS cpus "
		"FROM policy_versions v JOIN policy_rule_revisions r "
		"ON r.from_version <= v.version "
		"AND (r.until_version IS NULL OR v.version < r.until_version)",
};

const struct schema_table schema_policy_decisions = {
	.name = "policy_decisions",
	.doc = "Every denial and audit match of the kernel's policy, and every refused policy change, kept up to a retention limit",
	.readonly = "it is the audit trail of the kernel's decisions and of refused policy changes",
	.cf = STORE_CF_POLICY_DECISIONS,
	.nkeys = 1,
	.key = { { POLICY_DECISIONS_SEQ, 8 } },
	.cols = decisions_cols,
	.ncols = POLICY_DECISIONS__COUNT,
};

/* The caller's credentials, name and executable, from the live processes row (NULL once it exited). */
#define CALLER "p.uid AS uid, p.euid AS euid, p.gid AS gid, p.name AS name, NULL AS cgroup, " \
	"p.path AS exe"
#define FAMILY(c) "CASE " c " WHEN 1 THEN 'unix' WHEN 2 THEN 'inet' WHEN 10 THEN 'inet6' ELSE " c " END"

const struct schema_view schema_view_policy_context_exec = {
	.name = "policy_context_exec",
	.doc = "exec hook context from process_events (name: the comm after the exec, not before; exe, the program that called execve, and cgroup unknown)",
	.select =
		"SELECT e.seq AS seq, e.time AS time, e.pid AS pid, e.uid AS uid, e.euid AS euid, "
		"e.gid AS gid, e.name AS name, NULL AS cgroup, NULL AS exe, e.path AS path "
		"FROM process_events e WHERE e.event = 'exec'",
};

const struct schema_view schema_view_policy_context_open = {
	.name = "policy_context_open",
	.doc = "open hook context from file_events opens of files (dup'ed fds included; caller's uid, name and exe from processes)",
	.select =
		"SELECT f.seq AS seq, f.time AS time, f.pid AS pid, " CALLER ", f.path AS path, "
		"CASE f.flags & 3 WHEN 0 THEN 'r' WHEN 1 THEN 'w' ELSE 'rw' END AS mode "
		"FROM file_events f LEFT JOIN processes p ON p.pid = f.pid "
		"WHERE f.action = 'open' AND f.type IS NOT 'socket' "
		"AND f.path NOT GLOB 'pipe:*' AND f.path NOT GLOB 'anon_inode:*'",
};

const struct schema_view schema_view_policy_context_connect = {
	.name = "policy_context_connect",
	.doc = "connect hook context from socket_events connects (caller's uid, name and exe from processes)",
	.select =
		"SELECT s.seq AS seq, s.time AS time, s.pid AS pid, " CALLER ", "
		FAMILY("s.family") " AS family, s.remote_address AS remote_address, "
		"s.remote_port AS remote_port, s.path AS path "
		"FROM socket_events s LEFT JOIN processes p ON p.pid = s.pid WHERE s.action = 'connect'",
};

const struct schema_view schema_view_policy_context_bind = {
	.name = "policy_context_bind",
	.doc = "bind hook context from socket_events binds (caller's uid, name and exe from processes)",
	.select =
		"SELECT s.seq AS seq, s.time AS time, s.pid AS pid, " CALLER ", "
		FAMILY("s.family") " AS family, s.local_address AS local_address, "
		"s.local_port AS local_port, s.path AS path "
		"FROM socket_events s LEFT JOIN processes p ON p.pid = s.pid WHERE s.action = 'bind'",
};

const struct schema_view schema_view_policy_context_kill = {
	.name = "policy_context_kill",
	.doc = "kill hook context: always empty (signals have no history table yet)",
	.select =
		"SELECT NULL AS seq, NULL AS time, NULL AS pid, NULL AS uid, NULL AS euid, "
		"NULL AS gid, NULL AS name, NULL AS cgroup, NULL AS exe, NULL AS target_pid, NULL AS signal "
		"WHERE 0",
};

#define ANCESTORS(P) \
	"WITH RECURSIVE a(pid, ancestor, depth) AS (" \
	"SELECT pid, parent, 1 FROM " P " WHERE parent > 0 AND parent <> pid " \
	"UNION ALL " \
	"SELECT a.pid, p.parent, a.depth + 1 FROM a JOIN " P " p ON p.pid = a.ancestor " \
	"WHERE p.parent > 0 AND p.parent <> a.pid AND a.depth < 256) " \
	"SELECT a.pid AS pid, a.ancestor AS ancestor, q.name AS ancestor_name, " \
	"q.path AS ancestor_path, q.uid AS ancestor_uid, q.euid AS ancestor_euid, " \
	"q.gid AS ancestor_gid, a.depth AS depth " \
	"FROM a LEFT JOIN " P " q ON q.pid = a.ancestor"

const struct schema_view schema_view_process_ancestors = {
	.name = "process_ancestors",
	.doc = "Every live process's ancestors (parent at depth 1, ...); a process is not its own "
	       "ancestor; as of a moment: process_ancestors(as_of) or WHERE as_of_seq = N",
	.select = ANCESTORS("processes"),
	/* (no pid lookup: SQLite cannot filter the recursion by pid) */
	.past = ANCESTORS("processes(?1, ?2)"),
};
