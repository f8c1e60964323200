/* SPDX-License-Identifier: GPL-2.0 */
/* schema.h - the one place that names every dbos table, column, type and doc. */
#ifndef DBOS_SCHEMA_H
#define DBOS_SCHEMA_H

#include <stdbool.h>

#include "dbserver/store/store.h"

struct schema_column {
	const char *name;
	const char *type;	/* SQL type: "INTEGER" or "TEXT" */
	const char *doc;
	bool hidden;		/* an argument of a table-valued function (HIDDEN) */
	bool live;		/* read from the kernel when a query asks (vtab.c), not stored */
};

/* One part of a stored table's key: column @col, stored big-endian in @bytes bytes. */
struct schema_key {
	int col;
	int bytes;		/* 4 (be32) or 8 (be64) */
};

#define SCHEMA_MAX_KEYS	2

/*
 * A table stored in RocksDB: one column family, keyed by the big-endian
 * values of its @nkeys key columns, concatenated (at most 8 bytes in all, so
 * that the whole key is one uint64_t: part 0 in the high bits); the value is
 * the whole row encoded by row.h in @cols order. @nkeys is 0 for the tables
 * that are not stored (policies, sched_rules, dbos_stats, dbos_schema and the
 * table-valued function policy_simulate, whose arguments are @hidden columns).
 */
struct schema_table {
	const char *name;
	const char *doc;
	const char *note;	/* how it is used or written, if not obvious (NULL: nothing) */
	const char *readonly;	/* why writes are refused (NULL: "it mirrors the kernel") */
	enum store_cf cf;
	int nkeys;
	struct schema_key key[SCHEMA_MAX_KEYS];
	const struct schema_column *cols;
	int ncols;
};

/* Bytes of the whole store key of @t. */
static inline int schema_key_bytes(const struct schema_table *t)
{
	int n = 0;

	for (int i = 0; i < t->nkeys; i++)
		n += t->key[i].bytes;
	return n;
}

/* processes: one row per live process (thread group). */
enum processes_col {
	PROCESSES_PID,
	PROCESSES_PARENT,
	PROCESSES_NAME,
	PROCESSES_PATH,
	PROCESSES_CMDLINE,
	PROCESSES_STATE,
	PROCESSES_UID,
	PROCESSES_GID,
	PROCESSES_EUID,
	PROCESSES_EGID,
	PROCESSES_NICE,
	PROCESSES_THREADS,
	PROCESSES_START_TIME,
	PROCESSES_CWD,
	PROCESSES_SCHED_POLICY,
	PROCESSES_SCHED_PRIORITY,
	PROCESSES_CPUS,
	PROCESSES_SEQ,
	PROCESSES__STORED,		/* the columns above are stored; those below are read live */
	PROCESSES_ROOT = PROCESSES__STORED,
	PROCESSES_SUID,
	PROCESSES_SGID,
	PROCESSES_ON_DISK,
	PROCESSES_WIRED_SIZE,
	PROCESSES_RESIDENT_SIZE,
	PROCESSES_TOTAL_SIZE,
	PROCESSES_USER_TIME,
	PROCESSES_SYSTEM_TIME,
	PROCESSES_DISK_BYTES_READ,
	PROCESSES_DISK_BYTES_WRITTEN,
	PROCESSES_PGROUP,
	PROCESSES_ELAPSED_TIME,
	PROCESSES_CGROUP_PATH,
	PROCESSES__COUNT,		/* the columns above are what SELECT * shows */
	PROCESSES_AS_OF = PROCESSES__COUNT,	/* HIDDEN: the table as of a moment (vtab.c) */
	PROCESSES_AS_OF_SEQ,
	PROCESSES__ALL
};

/* process_events: history of fork/exec/exit/comm/cred, by seq. */
enum process_events_col {
	PROCESS_EVENTS_SEQ,
	PROCESS_EVENTS_TIME,
	PROCESS_EVENTS_TIME_NS,
	PROCESS_EVENTS_EVENT,
	PROCESS_EVENTS_PID,
	PROCESS_EVENTS_TID,
	PROCESS_EVENTS_PARENT,
	PROCESS_EVENTS_NAME,
	PROCESS_EVENTS_PATH,
	PROCESS_EVENTS_CMDLINE,
	PROCESS_EVENTS_UID,
	PROCESS_EVENTS_GID,
	PROCESS_EVENTS_EUID,
	PROCESS_EVENTS_EGID,
	PROCESS_EVENTS_EXIT_CODE,
	PROCESS_EVENTS_CPU,
	PROCESS_EVENTS__COUNT
};

/* process_open_files: one row per open file descriptor, key (pid, fd). */
enum fds_col {
	FDS_PID,
	FDS_FD,
	FDS_PATH,
	FDS_FLAGS,
	FDS_INODE,
	FDS_DEVICE,
	FDS_TYPE,
	FDS_MODE,
	FDS_SEQ,
	FDS__COUNT,
	FDS_AS_OF = FDS__COUNT,		/* HIDDEN, as in processes */
	FDS_AS_OF_SEQ,
	FDS__ALL
};

/* sockets: one row per socket that some open fd refers to, key inode. */
enum sockets_col {
	SOCKETS_SOCKET,
	SOCKETS_FAMILY,
	SOCKETS_PROTOCOL,
	SOCKETS_TYPE,
	SOCKETS_LOCAL_ADDRESS,
	SOCKETS_LOCAL_PORT,
	SOCKETS_REMOTE_ADDRESS,
	SOCKETS_REMOTE_PORT,
	SOCKETS_PATH,
	SOCKETS_PEER_PATH,
	SOCKETS_PEER_SOCKET,
	SOCKETS_STATE,
	SOCKETS_NET_NAMESPACE,
	SOCKETS_SEQ,
	SOCKETS__COUNT,
	SOCKETS_AS_OF = SOCKETS__COUNT,	/* HIDDEN, as in processes */
	SOCKETS_AS_OF_SEQ,
	SOCKETS__ALL
};

/* file_events: history of fd opens and closes, by seq. */
enum file_events_col {
	FILE_EVENTS_SEQ,
	FILE_EVENTS_TIME,
	FILE_EVENTS_TIME_NS,
	FILE_EVENTS_ACTION,
	FILE_EVENTS_PID,
	FILE_EVENTS_FD,
	FILE_EVENTS_PATH,
	FILE_EVENTS_FLAGS,
	FILE_EVENTS_INODE,
	FILE_EVENTS_DEVICE,
	FILE_EVENTS_TYPE,
	FILE_EVENTS_CPU,
	FILE_EVENTS__COUNT
};

/* socket_events: history of bind/listen/connect/accept/close/state, by seq. */
enum socket_events_col {
	SOCKET_EVENTS_SEQ,
	SOCKET_EVENTS_TIME,
	SOCKET_EVENTS_TIME_NS,
	SOCKET_EVENTS_ACTION,
	SOCKET_EVENTS_PID,
	SOCKET_EVENTS_FD,
	SOCKET_EVENTS_SOCKET,
	SOCKET_EVENTS_FAMILY,
	SOCKET_EVENTS_PROTOCOL,
	SOCKET_EVENTS_LOCAL_ADDRESS,
	SOCKET_EVENTS_LOCAL_PORT,
	SOCKET_EVENTS_REMOTE_ADDRESS,
	SOCKET_EVENTS_REMOTE_PORT,
	SOCKET_EVENTS_PATH,
	SOCKET_EVENTS_STATE,
	SOCKET_EVENTS_SUCCESS,
	SOCKET_EVENTS_CPU,
	SOCKET_EVENTS__COUNT
};

/* policy_versions: one row per policy version, key version. */
enum policy_versions_col {
	POLICY_VERSIONS_VERSION,
	POLICY_VERSIONS_TIME,
	POLICY_VERSIONS_UID,
	POLICY_VERSIONS_PID,
	POLICY_VERSIONS_ACTION,
	POLICY_VERSIONS_FROM_VERSION,
	POLICY_VERSIONS_RULES,
	POLICY_VERSIONS_LIVE,
	POLICY_VERSIONS__COUNT
};

/*
 * policy_rule_revisions: how the rules of every version are stored. One row
 * per revision of a rule (its content over a run of consecutive versions),
 * key (id, from_version); the view policy_rules shows each version's rules.
 */
enum policy_rule_revisions_col {
	POLICY_REVS_ID,
	POLICY_REVS_FROM_VERSION,
	POLICY_REVS_UNTIL_VERSION,
	POLICY_REVS_NAME,
	POLICY_REVS_HOOK,
	POLICY_REVS_ACTION,
	POLICY_REVS_CONDITION,
	/* sched_rules rows only (hook 'sched'); NULL for security policy rules */
	POLICY_REVS_NICE,
	POLICY_REVS_SCHED_POLICY,
	POLICY_REVS_SCHED_PRIORITY,
	POLICY_REVS_CPUS,
	POLICY_REVS__COUNT
};

/* policy_decisions: every denial, audit match and refused policy change, by seq. */
enum policy_decisions_col {
	POLICY_DECISIONS_SEQ,
	POLICY_DECISIONS_TIME,
	POLICY_DECISIONS_HOOK,
	POLICY_DECISIONS_VERDICT,
	POLICY_DECISIONS_PID,
	POLICY_DECISIONS_UID,
	POLICY_DECISIONS_NAME,
	POLICY_DECISIONS_PATH,
	POLICY_DECISIONS_ADDRESS,
	POLICY_DECISIONS_PORT,
	POLICY_DECISIONS_TARGET_PID,
	POLICY_DECISIONS_SIGNAL,
	POLICY_DECISIONS_MODE,
	POLICY_DECISIONS_RULE_ID,
	POLICY_DECISIONS_RULE,
	POLICY_DECISIONS_VERSION,
	POLICY_DECISIONS_TIME_NS,
	POLICY_DECISIONS_GID,
	POLICY_DECISIONS_FAMILY,
	POLICY_DECISIONS__COUNT
};

/* sched_decisions: every scheduling change the kernel reports (a statement or a rule), by seq. */
enum sched_decisions_col {
	SCHED_DECISIONS_SEQ,
	SCHED_DECISIONS_TIME,
	SCHED_DECISIONS_TIME_NS,
	SCHED_DECISIONS_PID,
	SCHED_DECISIONS_NAME,
	SCHED_DECISIONS_CAUSE,
	SCHED_DECISIONS_RULE_ID,
	SCHED_DECISIONS_BY_UID,
	SCHED_DECISIONS_BY_PID,
	SCHED_DECISIONS_NICE,
	SCHED_DECISIONS_SCHED_POLICY,
	SCHED_DECISIONS_SCHED_PRIORITY,
	SCHED_DECISIONS_CPUS,
	SCHED_DECISIONS__COUNT
};

extern const struct schema_table schema_sched_decisions;
extern const struct schema_table schema_sched_rules;

extern const struct schema_table schema_policy_versions;
extern const struct schema_table schema_policy_rule_revisions;
extern const struct schema_table schema_policy_decisions;
extern const struct schema_table schema_policies;
extern const struct schema_table schema_policy_simulate;

/* The tables that are not stored (sql/stats.c, sql/schema_table.c). */
extern const struct schema_table schema_dbos_stats;
extern const struct schema_table schema_dbos_schema;

extern const struct schema_table schema_processes;
extern const struct schema_table schema_process_events;
extern const struct schema_table schema_fds;
extern const struct schema_table schema_sockets;
extern const struct schema_table schema_file_events;
extern const struct schema_table schema_socket_events;

/* A view over the stored tables, created in every SQL connection. */
struct schema_view {
	const char *name;
	const char *doc;
	const char *select;	/* the SELECT it stands for */
	/*
	 * The same over the tables as of a moment (?1: as_of, ?2: as_of_seq),
	 * or NULL: with one, the view takes a moment too (viewtab.c).
	 */
	const char *past;
	/* Equality on pid is a lookup in its SELECT (viewtab.c passes it down). */
	bool pid_lookup;
};

extern const struct schema_view schema_view_policy_context_exec;
extern const struct schema_view schema_view_policy_context_open;
extern const struct schema_view schema_view_policy_context_connect;
extern const struct schema_view schema_view_policy_context_bind;
extern const struct schema_view schema_view_policy_context_kill;
extern const struct schema_view schema_view_policy_context_sched;
extern const struct schema_view schema_view_process_ancestors;
extern const struct schema_view schema_view_policy_rules;

/* Every view, NULL-terminated. */
extern const struct schema_view *const schema_views[];

/* Every stored table, NULL-terminated. */
extern const struct schema_table *const schema_tables[];

/* A scalar SQL function dbos adds, as dbos_schema describes it. */
struct schema_function {
	const char *name;
	const char *signature;	/* "policy_rollback(version INTEGER) -> INTEGER" */
	const char *doc;
};

extern const struct schema_function schema_fn_policy_rollback;

/*
 * The catalogue a client sees (dbos_schema, the shell's .tables and .schema),
 * in order: every table (stored or not, table-valued functions too), every
 * view, every function; each NULL-terminated. Whatever a dbosd connection
 * has that plain SQLite lacks is here: test_policy checks it both ways
 * against PRAGMA module_list, function_list and the views, and against the
 * README's table of tables.
 */
extern const struct schema_table *const schema_catalog_tables[];
extern const struct schema_function *const schema_catalog_functions[];

#endif /* DBOS_SCHEMA_H */
