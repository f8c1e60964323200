// SPDX-License-Identifier: GPL-2.0
/* schema.c - declarations of the stored dbos tables (osquery's names where osquery has them). */
#include "dbserver/sql/schema.h"

#define COL(n, t, d) { .name = n, .type = t, .doc = d }
/* A column read from the kernel for the rows a query reads (vtab.c), not stored. */
#define LIVE(n, t, d) { .name = n, .type = t, .doc = d, .live = true }
/* The arguments of a live table read as of a moment (vtab.c, store/changes.h). */
#define AS_OF_COL { .name = "as_of", .type = "ANY", .hidden = true, .doc = \
	"Argument: the table as it was at this moment, a time ('2026-12-05 03:12:00', UTC, as " \
	"SQLite's date functions read it) or Unix seconds (1733368320, fractions to the microsecond); " \
	"columns read live are NULL then" }
#define AS_OF_SEQ_COL { .name = "as_of_seq", .type = "INTEGER", .hidden = true, .doc = \
	"Argument: the table as it was right after the event or dump with this sequence number" }

static const struct schema_column processes_cols[PROCESSES__ALL] = {
	[PROCESSES_PID]        = COL("pid", "INTEGER", "Process (thread group) ID"),
	[PROCESSES_PARENT]     = COL("parent", "INTEGER", "Parent process ID"),
	[PROCESSES_NAME]       = COL("name", "TEXT", "Task name (comm), as in /proc/PID/comm"),
	[PROCESSES_PATH]       = COL("path", "TEXT", "Path of the executable; empty for kernel threads"),
	[PROCESSES_CMDLINE]    = COL("cmdline", "TEXT", "Command line, arguments joined by spaces"),
	[PROCESSES_STATE]      = LIVE("state", "TEXT", "Task state letter (R, S, D, Z, T, ...) as /proc/PID/stat shows it now (the last event's or dump's when the module is not loaded)"),
	[PROCESSES_UID]        = COL("uid", "INTEGER", "Real user ID"),
	[PROCESSES_GID]        = COL("gid", "INTEGER", "Real group ID"),
	[PROCESSES_EUID]       = COL("euid", "INTEGER", "Effective user ID"),
	[PROCESSES_EGID]       = COL("egid", "INTEGER", "Effective group ID"),
	[PROCESSES_NICE]       = COL("nice", "INTEGER", "Nice value (-20..19)"),
	[PROCESSES_THREADS]    = COL("threads", "INTEGER", "Number of threads"),
	[PROCESSES_START_TIME] = COL("start_time", "INTEGER", "Start time, seconds since the Unix epoch"),
	[PROCESSES_CWD]        = LIVE("cwd", "TEXT", "Working directory now, as /proc/PID/cwd (the last dump's when the module is not loaded; NULL if unknown)"),
	[PROCESSES_SCHED_POLICY] = COL("sched_policy", "TEXT", "Scheduling policy: other, fifo, rr, batch, idle, deadline"),
	[PROCESSES_SCHED_PRIORITY] = COL("sched_priority", "INTEGER", "Real-time priority (1..99 for fifo and rr, else 0); NULL until the kernel reported it"),
	[PROCESSES_CPUS] = COL("cpus", "TEXT", "CPUs it may run on, as Cpus_allowed_list ('0-3,5'); as of the last dump or scheduling change"),
	[PROCESSES_SEQ]        = COL("seq", "INTEGER", "Sequence number of the last event or dump that set this row"),
	[PROCESSES_ROOT]       = LIVE("root", "TEXT", "Root directory, as /proc/PID/root (chroot)"),
	[PROCESSES_SUID]       = LIVE("suid", "INTEGER", "Saved user ID"),
	[PROCESSES_SGID]       = LIVE("sgid", "INTEGER", "Saved group ID"),
	[PROCESSES_ON_DISK]    = LIVE("on_disk", "INTEGER", "1: the executable is in the file system, 0: it was deleted or replaced, -1: none (kernel thread, zombie)"),
	[PROCESSES_WIRED_SIZE] = LIVE("wired_size", "INTEGER", "Bytes of unpageable (mlocked) memory, VmLck"),
	[PROCESSES_RESIDENT_SIZE] = LIVE("resident_size", "INTEGER", "Bytes of memory resident, VmRSS"),
	[PROCESSES_TOTAL_SIZE] = LIVE("total_size", "INTEGER", "Bytes of virtual memory, VmSize"),
	[PROCESSES_USER_TIME]  = LIVE("user_time", "INTEGER", "CPU time in user space, milliseconds, all threads (utime)"),
	[PROCESSES_SYSTEM_TIME] = LIVE("system_time", "INTEGER", "CPU time in the kernel, milliseconds, all threads (stime)"),
	[PROCESSES_DISK_BYTES_READ] = LIVE("disk_bytes_read", "INTEGER", "Bytes read from storage, all threads (/proc/PID/io read_bytes)"),
	[PROCESSES_DISK_BYTES_WRITTEN] = LIVE("disk_bytes_written", "INTEGER", "Bytes written to storage, all threads (/proc/PID/io write_bytes)"),
	[PROCESSES_PGROUP]     = LIVE("pgroup", "INTEGER", "Process group ID"),
	[PROCESSES_ELAPSED_TIME] = LIVE("elapsed_time", "INTEGER", "Seconds since the process started"),
	[PROCESSES_CGROUP_PATH] = LIVE("cgroup_path", "TEXT", "Control group (v2) path, as the 0:: line of /proc/PID/cgroup"),
	[PROCESSES_AS_OF]      = AS_OF_COL,
	[PROCESSES_AS_OF_SEQ]  = AS_OF_SEQ_COL,
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
	.note = "-- UPDATE processes SET nice, sched_policy, sched_priority, cpus changes the "
		"processes themselves (root only; the rows then show what the kernel reports)",
	.cf = STORE_CF_PROCESSES,
	.nkeys = 1,
	.key = { { PROCESSES_PID, 4 } },
	.cols = processes_cols,
	.ncols = PROCESSES__ALL,
};

const struct schema_table schema_process_events = {
	.name = "process_events",
	.doc = "History of process events (fork, exec, exit, comm, cred), kept up to a retention limit",
	.cf = STORE_CF_PROCESS_EVENTS,
	.nkeys = 1,
	.key = { { PROCESS_EVENTS_SEQ, 8 } },
	.cols = process_events_cols,
	.ncols = PROCESS_EVENTS__COUNT,
};

#define FILE_TYPE_DOC "Kind of file: regular, directory, character, block, fifo (pipes too), socket, symlink, other (anon inodes)"

static const struct schema_column fds_cols[FDS__ALL] = {
	[FDS_PID]    = COL("pid", "INTEGER", "Process (thread group) ID"),
	[FDS_FD]     = COL("fd", "INTEGER", "File descriptor number"),
	[FDS_PATH]   = COL("path", "TEXT", "Path as readlink /proc/PID/fd/FD shows it (socket:[N], pipe:[N], anon_inode:[...])"),
	[FDS_FLAGS]  = COL("flags", "INTEGER", "Open flags (O_ACCMODE, O_APPEND, O_NONBLOCK, ...; O_CLOEXEC when close-on-exec)"),
	[FDS_INODE]  = COL("inode", "INTEGER", "Inode number (st_ino); the socket inode for sockets"),
	[FDS_DEVICE] = COL("device", "INTEGER", "Device of the file system (st_dev)"),
	[FDS_TYPE]   = COL("type", "TEXT", FILE_TYPE_DOC),
	[FDS_MODE]   = COL("mode", "INTEGER", "Inode mode: type and permission bits (st_mode)"),
	[FDS_SEQ]    = COL("seq", "INTEGER", "Sequence number of the last event or dump that set this row"),
	[FDS_AS_OF]     = AS_OF_COL,
	[FDS_AS_OF_SEQ] = AS_OF_SEQ_COL,
};

static const struct schema_column sockets_cols[SOCKETS__ALL] = {
	[SOCKETS_SOCKET]         = COL("socket", "INTEGER", "Socket inode number (socket:[N], as ss shows it)"),
	[SOCKETS_FAMILY]         = COL("family", "INTEGER", "Address family (AF_UNIX 1, AF_INET 2, AF_INET6 10, ...)"),
	[SOCKETS_PROTOCOL]       = COL("protocol", "INTEGER", "IP protocol (IPPROTO_TCP 6, IPPROTO_UDP 17, ...); 0 for unix"),
	[SOCKETS_TYPE]           = COL("type", "INTEGER", "Socket type (SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_RAW 3, SOCK_SEQPACKET 5)"),
	[SOCKETS_LOCAL_ADDRESS]  = COL("local_address", "TEXT", "Local address (0.0.0.0 or :: when bound to any); '' for unix"),
	[SOCKETS_LOCAL_PORT]     = COL("local_port", "INTEGER", "Local port; 0 when unbound or unix"),
	[SOCKETS_REMOTE_ADDRESS] = COL("remote_address", "TEXT", "Remote address (0.0.0.0 or :: when unconnected); '' for unix"),
	[SOCKETS_REMOTE_PORT]    = COL("remote_port", "INTEGER", "Remote port; 0 when unconnected or unix"),
	[SOCKETS_PATH]           = COL("path", "TEXT", "Unix: the bound name (abstract names as @name); '' otherwise"),
	[SOCKETS_PEER_PATH]      = COL("peer_path", "TEXT", "Unix: the peer's bound name; '' otherwise"),
	[SOCKETS_PEER_SOCKET]    = COL("peer_socket", "INTEGER", "Unix: the peer socket's inode; 0 otherwise"),
	[SOCKETS_STATE]          = COL("state", "TEXT", "TCP state name (ESTABLISHED, LISTEN, CLOSE, ...); unix and UDP use ESTABLISHED, LISTEN, CLOSE"),
	[SOCKETS_NET_NAMESPACE]  = COL("net_namespace", "INTEGER", "Inode of the socket's network namespace (/proc/PID/ns/net)"),
	[SOCKETS_SEQ]            = COL("seq", "INTEGER", "Sequence number of the last event or dump that set this row"),
	[SOCKETS_AS_OF]          = AS_OF_COL,
	[SOCKETS_AS_OF_SEQ]      = AS_OF_SEQ_COL,
};

static const struct schema_column file_events_cols[FILE_EVENTS__COUNT] = {
	[FILE_EVENTS_SEQ]     = COL("seq", "INTEGER", "Event sequence number: the order events happened in"),
	[FILE_EVENTS_TIME]    = COL("time", "INTEGER", "Time of the event, seconds since the Unix epoch"),
	[FILE_EVENTS_TIME_NS] = COL("time_ns", "INTEGER", "Time of the event, nanoseconds since the Unix epoch"),
	[FILE_EVENTS_ACTION]  = COL("action", "TEXT", "open (an fd was installed: open, dup, socket, pipe, accept, ...) or close"),
	[FILE_EVENTS_PID]     = COL("pid", "INTEGER", "Process (thread group) ID"),
	[FILE_EVENTS_FD]      = COL("fd", "INTEGER", "File descriptor number"),
	[FILE_EVENTS_PATH]    = COL("path", "TEXT", "Path of the file (close: of the file closed; NULL if unknown)"),
	[FILE_EVENTS_FLAGS]   = COL("flags", "INTEGER", "Open flags"),
	[FILE_EVENTS_INODE]   = COL("inode", "INTEGER", "Inode number"),
	[FILE_EVENTS_DEVICE]  = COL("device", "INTEGER", "Device of the file system (st_dev)"),
	[FILE_EVENTS_TYPE]    = COL("type", "TEXT", FILE_TYPE_DOC),
	[FILE_EVENTS_CPU]     = COL("cpu", "INTEGER", "CPU that recorded the event"),
};

static const struct schema_column socket_events_cols[SOCKET_EVENTS__COUNT] = {
	[SOCKET_EVENTS_SEQ]            = COL("seq", "INTEGER", "Event sequence number: the order events happened in"),
	[SOCKET_EVENTS_TIME]           = COL("time", "INTEGER", "Time of the event, seconds since the Unix epoch"),
	[SOCKET_EVENTS_TIME_NS]        = COL("time_ns", "INTEGER", "Time of the event, nanoseconds since the Unix epoch"),
	[SOCKET_EVENTS_ACTION]         = COL("action", "TEXT", "bind, listen, connect, accept, close (of an fd) or state (TCP state change)"),
	[SOCKET_EVENTS_PID]            = COL("pid", "INTEGER", "Process ID (0: a state change outside any process)"),
	[SOCKET_EVENTS_FD]             = COL("fd", "INTEGER", "File descriptor used (accept: the new one); NULL when none"),
	[SOCKET_EVENTS_SOCKET]         = COL("socket", "INTEGER", "Socket inode number"),
	[SOCKET_EVENTS_FAMILY]         = COL("family", "INTEGER", "Address family"),
	[SOCKET_EVENTS_PROTOCOL]       = COL("protocol", "INTEGER", "IP protocol; 0 for unix"),
	[SOCKET_EVENTS_LOCAL_ADDRESS]  = COL("local_address", "TEXT", "Local address at that moment"),
	[SOCKET_EVENTS_LOCAL_PORT]     = COL("local_port", "INTEGER", "Local port at that moment"),
	[SOCKET_EVENTS_REMOTE_ADDRESS] = COL("remote_address", "TEXT", "Remote address at that moment"),
	[SOCKET_EVENTS_REMOTE_PORT]    = COL("remote_port", "INTEGER", "Remote port at that moment"),
	[SOCKET_EVENTS_PATH]           = COL("path", "TEXT", "Unix: the bound name (abstract names as @name)"),
	[SOCKET_EVENTS_STATE]          = COL("state", "TEXT", "State after the event (TCP state names)"),
	[SOCKET_EVENTS_SUCCESS]        = COL("success", "INTEGER", "1: the call succeeded (failed calls are not reported)"),
	[SOCKET_EVENTS_CPU]            = COL("cpu", "INTEGER", "CPU that recorded the event"),
};

const struct schema_table schema_fds = {
	.name = "process_open_files",
	.doc = "Open file descriptors of every process, mirrored from the kernel (exact at rest, within the file filter)",
	.cf = STORE_CF_FDS,
	.nkeys = 2,
	.key = { { FDS_PID, 4 }, { FDS_FD, 4 } },
	.cols = fds_cols,
	.ncols = FDS__ALL,
};

const struct schema_table schema_sockets = {
	.name = "sockets",
	.doc = "Sockets that some open file descriptor refers to (TCP, UDP, unix, ...)",
	.cf = STORE_CF_SOCKETS,
	.nkeys = 1,
	.key = { { SOCKETS_SOCKET, 8 } },
	.cols = sockets_cols,
	.ncols = SOCKETS__ALL,
};

const struct schema_table schema_file_events = {
	.name = "file_events",
	.doc = "History of file descriptor opens and closes, kept up to a retention limit",
	.cf = STORE_CF_FILE_EVENTS,
	.nkeys = 1,
	.key = { { FILE_EVENTS_SEQ, 8 } },
	.cols = file_events_cols,
	.ncols = FILE_EVENTS__COUNT,
};

const struct schema_table schema_socket_events = {
	.name = "socket_events",
	.doc = "History of socket binds, listens, connects, accepts, closes and TCP state changes, kept up to a retention limit",
	.cf = STORE_CF_SOCKET_EVENTS,
	.nkeys = 1,
	.key = { { SOCKET_EVENTS_SEQ, 8 } },
	.cols = socket_events_cols,
	.ncols = SOCKET_EVENTS__COUNT,
};

const struct schema_table *const schema_tables[] = {
	&schema_processes,
	&schema_process_events,
	&schema_fds,
	&schema_sockets,
	&schema_file_events,
	&schema_socket_events,
	&schema_policy_versions,
	&schema_policy_rule_revisions,
	&schema_policy_decisions,
	&schema_sched_decisions,
	NULL,
};

const struct schema_table *const schema_catalog_tables[] = {
	&schema_processes,
	&schema_process_events,
	&schema_fds,
	&schema_sockets,
	&schema_file_events,
	&schema_socket_events,
	&schema_policies,
	&schema_policy_versions,
	&schema_policy_rule_revisions,
	&schema_policy_decisions,
	&schema_policy_simulate,
	&schema_sched_rules,
	&schema_sched_decisions,
	&schema_dbos_stats,
	&schema_dbos_schema,
	NULL,
};

const struct schema_function *const schema_catalog_functions[] = {
	&schema_fn_policy_rollback,
	NULL,
};

/* The join both views share: each socket fd with its socket's row. */
#define SOCKET_FDS \
	"FROM process_open_files f JOIN sockets s ON s.socket = f.inode WHERE f.type = 'socket'"
#define SOCKET_FDS_PAST \
	"FROM process_open_files(?1, ?2) f JOIN sockets(?1, ?2) s ON s.socket = f.inode " \
	"WHERE f.type = 'socket'"
#define PROCESS_OPEN_SOCKETS_COLS \
	"SELECT f.pid AS pid, f.fd AS fd, s.socket AS socket, s.family AS family, " \
	"s.protocol AS protocol, s.local_address AS local_address, " \
	"s.local_port AS local_port, s.remote_address AS remote_address, " \
	"s.remote_port AS remote_port, s.path AS path, s.state AS state, " \
	"s.net_namespace AS net_namespace, s.type AS type, s.peer_path AS peer_path, " \
	"s.peer_socket AS peer_socket "
#define LISTENING_PORTS_COLS \
	"SELECT f.pid AS pid, s.local_port AS port, s.protocol AS protocol, " \
	"s.family AS family, s.local_address AS address, f.fd AS fd, s.socket AS socket, " \
	"s.path AS path, s.net_namespace AS net_namespace "
#define LISTENING_PORTS_WHERE \
	" AND ((s.protocol = 6 AND s.state = 'LISTEN') OR " \
	"(s.protocol = 17 AND s.local_port <> 0 AND s.remote_port = 0) OR " \
	"(s.family = 1 AND s.type IN (1, 5) AND s.state = 'LISTEN'))"

static const struct schema_view view_process_open_sockets = {
	.name = "process_open_sockets",
	.doc = "Open sockets of every process (osquery's columns, plus type, peer_path, peer_socket); "
	       "as of a moment: process_open_sockets(as_of) or WHERE as_of_seq = N",
	.select = PROCESS_OPEN_SOCKETS_COLS SOCKET_FDS,
	.past = PROCESS_OPEN_SOCKETS_COLS SOCKET_FDS_PAST,
	.pid_lookup = true,
};

static const struct schema_view view_listening_ports = {
	.name = "listening_ports",
	.doc = "Sockets that accept traffic: TCP and unix stream/seqpacket in LISTEN, bound "
	       "unconnected UDP; as of a moment: listening_ports(as_of) or WHERE as_of_seq = N",
	.select = LISTENING_PORTS_COLS SOCKET_FDS LISTENING_PORTS_WHERE,
	.past = LISTENING_PORTS_COLS SOCKET_FDS_PAST LISTENING_PORTS_WHERE,
	.pid_lookup = true,
};

const struct schema_view *const schema_views[] = {
	&view_process_open_sockets,
	&view_listening_ports,
	&schema_view_process_ancestors,
	&schema_view_policy_context_exec,
	&schema_view_policy_context_open,
	&schema_view_policy_context_connect,
	&schema_view_policy_context_bind,
	&schema_view_policy_context_kill,
	&schema_view_policy_context_sched,
	&schema_view_policy_rules,
	NULL,
};
