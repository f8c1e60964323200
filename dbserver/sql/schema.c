// SPDX-License-Identifier: GPL-2.0
/* schema.c - declarations of the stored dbos tables (osquery's names where osquery has them). */
#include "dbserver/sql/schema.h"

#define COL(n, t, d) { .name = n, .type = t, .doc = d }

static const struct schema_column processes_cols[PROCESSES__COUNT] = {
	[PROCESSES_PID]        = COL("pid", "INTEGER", "Process (thread group) ID"),
	[PROCESSES_PARENT]     = COL("parent", "INTEGER", "Parent process ID"),
	[PROCESSES_NAME]       = COL("name", "TEXT", "Task name (comm), as in /proc/PID/comm"),
	[PROCESSES_PATH]       = COL("path", "TEXT", "Path of the executable; empty for kernel threads"),
	[PROCESSES_CMDLINE]    = COL("cmdline", "TEXT", "Command line, arguments joined by spaces"),
	[PROCESSES_STATE]      = COL("state", "TEXT", "Task state letter (R, S, D, ...) as of the last event or dump"),
	[PROCESSES_UID]        = COL("uid", "INTEGER", "Real user ID"),
	[PROCESSES_GID]        = COL("gid", "INTEGER", "Real group ID"),
	[PROCESSES_EUID]       = COL("euid", "INTEGER", "Effective user ID"),
	[PROCESSES_EGID]       = COL("egid", "INTEGER", "Effective group ID"),
	[PROCESSES_NICE]       = COL("nice", "INTEGER", "Nice value (-20..19)"),
	[PROCESSES_THREADS]    = COL("threads", "INTEGER", "Number of threads"),
	[PROCESSES_START_TIME] = COL("start_time", "INTEGER", "Start time, seconds since the Unix epoch"),
	[PROCESSES_CWD]        = COL("cwd", "TEXT", "Working directory as of the last dump (NULL if unknown)"),
	[PROCESSES_SCHED_POLICY] = COL("sched_policy", "TEXT", "Scheduling policy: other, fifo, rr, batch, idle, deadline"),
	[PROCESSES_SEQ]        = COL("seq", "INTEGER", "Sequence number of the last event or dump that set this row"),
};

static const struct schema_column process_events_cols[PROCESS_EVENTS__COUNT] = {
	[PROCESS_EVENTS_SEQ]       = COL("seq", "INTEGER", "Event sequence number: the order events happened in"),
	[PROCESS_EVENTS_TIME]      = COL("time", "INTEGER", "Time of the event, seconds since the Unix epoch"),
	[PROCESS_EVENTS_TIME_NS]   = COL("time_ns", "INTEGER", "Time of the event, nanoseconds since the Unix epoch"),
	[PROCESS_EVENTS_EVENT]     = COL("event", "TEXT", "fork, exec, exit, comm (rename) or cred (credential change)"),
	[PROCESS_EVENTS_PID]       = COL("pid", "INTEGER", "Process (thread group) ID"),
	[PROCESS_EVENTS_TID]       = COL("tid", "INTEGER", "Thread ID"),
	[PROCESS_EVENTS_PARENT]    = COL("parent", "INTEGER", "Parent process ID at that moment"),
	[PROCESS_EVENTS_NAME]      = COL("name", "TEXT", "Task name (comm) at that moment"),
	[PROCESS_EVENTS_PATH]      = COL("path", "TEXT", "Executable path (exec, fork)"),
	[PROCESS_EVENTS_CMDLINE]   = COL("cmdline", "TEXT", "Command line (exec, fork)"),
	[PROCESS_EVENTS_UID]       = COL("uid", "INTEGER", "Real user ID (new one for cred)"),
	[PROCESS_EVENTS_GID]       = COL("gid", "INTEGER", "Real group ID (new one for cred)"),
	[PROCESS_EVENTS_EUID]      = COL("euid", "INTEGER", "Effective user ID (new one for cred)"),
	[PROCESS_EVENTS_EGID]      = COL("egid", "INTEGER", "Effective group ID (new one for cred)"),
	[PROCESS_EVENTS_EXIT_CODE] = COL("exit_code", "INTEGER", "exit: wait status; NULL otherwise"),
	[PROCESS_EVENTS_CPU]       = COL("cpu", "INTEGER", "CPU that recorded the event"),
};

const struct schema_table schema_processes = {
	.name = "processes",
	.doc = "Live processes, mirrored from the kernel (exact at rest)",
	.cf = STORE_CF_PROCESSES,
	.key_col = PROCESSES_PID,
	.key_bytes = 4,
	.cols = processes_cols,
	.ncols = PROCESSES__COUNT,
};

const struct schema_table schema_process_events = {
	.name = "process_events",
	.doc = "History of process events (fork, exec, exit, comm, cred), kept up to a retention limit",
	.cf = STORE_CF_PROCESS_EVENTS,
	.key_col = PROCESS_EVENTS_SEQ,
	.key_bytes = 8,
	.cols = process_events_cols,
	.ncols = PROCESS_EVENTS__COUNT,
};

const struct schema_table *const schema_tables[] = {
	&schema_processes,
	&schema_process_events,
	NULL,
};
