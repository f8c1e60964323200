/* SPDX-License-Identifier: GPL-2.0 */
/* schema.h - the one place that names every dbos table, column, type and doc. */
#ifndef DBOS_SCHEMA_H
#define DBOS_SCHEMA_H

#include "dbserver/store/store.h"

struct schema_column {
	const char *name;
	const char *type;	/* SQL type: "INTEGER" or "TEXT" */
	const char *doc;
};

/*
 * A table stored in RocksDB: one column family, keyed by the big-endian value
 * of column @key_col (@key_bytes wide); the value is the whole row encoded by
 * row.h in @cols order.
 */
struct schema_table {
	const char *name;
	const char *doc;
	enum store_cf cf;
	int key_col;
	int key_bytes;		/* 4 (be32) or 8 (be64) */
	const struct schema_column *cols;
	int ncols;
};

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
	PROCESSES_SEQ,
	PROCESSES__COUNT
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

extern const struct schema_table schema_processes;
extern const struct schema_table schema_process_events;

/* Every stored table, NULL-terminated. */
extern const struct schema_table *const schema_tables[];

#endif /* DBOS_SCHEMA_H */
