/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * dbos_uapi.h - the wire protocol between dbos.ko and its userspace (dbosd).
 *
 * One header, included by the kernel module, the server and the tests. Only
 * fixed-width types, explicit padding, no pointers. Bump DBOS_GENL_VERSION on
 * any incompatible change; the server refuses a module whose version differs.
 *
 * Transport: the generic netlink family "dbos" (DBOS_GENL_NAME). Every command
 * requires CAP_NET_ADMIN (GENL_ADMIN_PERM); joining the "events" multicast
 * group requires CAP_NET_ADMIN too. Attributes are validated strictly: unknown
 * attributes, wrong types and wrong lengths are refused with -EINVAL and an
 * extack message.
 *
 * Commands (userspace -> kernel), as trees of attributes:
 *
 * DBOS_CMD_GET_STATS: doit, no attributes. Replies with one DBOS_CMD_GET_STATS
 *     message:
 *         DBOS_A_VERSION: u32, DBOS_GENL_VERSION of the module
 *         DBOS_A_INSTANCE: u64, random id chosen at module load
 *         DBOS_A_STATS: nest of DBOS_STATS_* (u64 each, all counters since load)
 *
 * DBOS_CMD_DUMP_PROCS: dumpit, no attributes. Walks every thread group in the
 *     initial pid namespace, in ascending tgid order. Each reply message is a
 *     DBOS_CMD_RECORDS message (see below) whose records are DBOS_REC_PROC
 *     snapshots. A snapshot's hdr.seq is the global sequence number read just
 *     before the task was read: every event with a larger seq happened after
 *     the snapshot, every event with a smaller or equal seq is reflected in it.
 *
 * DBOS_CMD_GET_PROC: doit.
 *         DBOS_A_PID: u32, a tgid (required)
 *     Replies with one DBOS_CMD_RECORDS message holding one DBOS_REC_PROC
 *     snapshot, or fails with -ESRCH.
 *
 * Kernel -> userspace:
 *
 * DBOS_CMD_RECORDS: a batch of records, multicast to DBOS_MCGRP_EVENTS (events)
 *     or unicast as a dump reply (snapshots).
 *         DBOS_A_INSTANCE: u64, as in GET_STATS
 *         DBOS_A_CPU: u32, the CPU whose buffer the records came from
 *         DBOS_A_RECORDS: binary, one or more records packed back to back
 *     A DBOS_CMD_RECORDS message is at most 32 KiB: receive with a buffer at
 *     least that large (or MSG_PEEK | MSG_TRUNC first).
 *
 * Records. Every record starts with struct dbos_rec_hdr; hdr.len is the whole
 * record's length in bytes (header included), always a multiple of 8, and the
 * next record starts hdr.len bytes later. A reader must skip record types it
 * does not know (forward compatibility) and must refuse a record whose len is
 * smaller than the header or runs past the attribute.
 *
 * Sequence numbers. hdr.seq is global: one counter for the whole machine,
 * taken when the event happens, so ordering by seq is the order in which
 * events happened (a fork always precedes its child's exec and exit). Records
 * travel in per-CPU buffers, so records from different CPUs may arrive out of
 * seq order. hdr.cpu_seq counts every record produced on hdr.cpu, including the
 * ones dropped because the buffer was full: a hole in cpu_seq on one CPU means
 * records were lost there and the reader must re-sync from a dump. Snapshots
 * (DBOS_REC_PROC) are outside these streams: their cpu_seq is 0.
 */
#ifndef _UAPI_LINUX_DBOS_H
#define _UAPI_LINUX_DBOS_H

#include <linux/types.h>

#define DBOS_GENL_NAME		"dbos"
#define DBOS_GENL_VERSION	1
#define DBOS_MCGRP_EVENTS	"events"

enum dbos_cmd {
	DBOS_CMD_UNSPEC,
	DBOS_CMD_GET_STATS,
	DBOS_CMD_DUMP_PROCS,
	DBOS_CMD_GET_PROC,
	DBOS_CMD_RECORDS,
	__DBOS_CMD_MAX
};
#define DBOS_CMD_MAX (__DBOS_CMD_MAX - 1)

enum dbos_attr {
	DBOS_A_UNSPEC,
	DBOS_A_PAD,		/* padding for 64-bit attributes */
	DBOS_A_VERSION,		/* u32 */
	DBOS_A_INSTANCE,	/* u64 */
	DBOS_A_STATS,		/* nest: DBOS_STATS_* */
	DBOS_A_PID,		/* u32 */
	DBOS_A_CPU,		/* u32 */
	DBOS_A_RECORDS,		/* binary: packed records */
	__DBOS_A_MAX
};
#define DBOS_A_MAX (__DBOS_A_MAX - 1)

/* Counters in DBOS_A_STATS, each a u64, all since module load. */
enum dbos_stats_attr {
	DBOS_STATS_UNSPEC,
	DBOS_STATS_PAD,
	DBOS_STATS_PRODUCED,	/* records produced by hooks (written + dropped) */
	DBOS_STATS_DROPPED,	/* records dropped: per-CPU buffer full */
	DBOS_STATS_SENT,	/* records multicast to at least one listener */
	DBOS_STATS_SEND_FAILED,	/* records in batches a listener could not take (ENOBUFS) */
	DBOS_STATS_UNHEARD,	/* records drained while nobody listened */
	DBOS_STATS_BATCHES,	/* DBOS_CMD_RECORDS messages multicast */
	DBOS_STATS_SEQ,		/* last global seq handed out */
	DBOS_STATS_BUFFER_BYTES, /* size of each per-CPU buffer */
	DBOS_STATS_NR_CPUS,	/* number of per-CPU buffers */
	__DBOS_STATS_MAX
};
#define DBOS_STATS_MAX (__DBOS_STATS_MAX - 1)

enum dbos_rec_type {
	DBOS_REC_UNSPEC,
	DBOS_REC_PAD,		/* filler: skip (hdr only, len covers it) */
	DBOS_REC_FORK,		/* dbos_proc: the new task (parent = creator) */
	DBOS_REC_EXEC,		/* dbos_proc: the task after a successful exec */
	DBOS_REC_EXIT,		/* dbos_proc: the task as it exits */
	DBOS_REC_COMM,		/* dbos_proc: comm changed (prctl, write to comm) */
	DBOS_REC_CRED,		/* dbos_proc: credentials changed (the new ids) */
	DBOS_REC_PROC,		/* dbos_proc: a snapshot from a dump */
	__DBOS_REC_MAX
};

/*
 * hdr.flags. GROUP_DEAD on EXIT: the group's last thread, the process is gone
 * (when its last threads exit at the same time, more than one EXIT may carry
 * it); on PROC: the process has exited and waits to be reaped (a zombie).
 */
#define DBOS_RECF_THREAD	(1U << 0) /* concerns a thread, not a whole process */
#define DBOS_RECF_GROUP_DEAD	(1U << 1) /* EXIT: last thread, the process is gone */
#define DBOS_RECF_TRUNCATED	(1U << 2) /* a string was cut to fit */
#define DBOS_RECF_CHILDREN	(1U << 3) /* EXIT: it had children; they get a new parent */
#define DBOS_RECF_ALL		((1U << 4) - 1)

/**
 * struct dbos_rec_hdr - header of every record (32 bytes)
 * @type: enum dbos_rec_type
 * @len: whole record length in bytes, a multiple of 8
 * @cpu: CPU whose buffer carried the record
 * @flags: DBOS_RECF_*
 * @cpu_seq: per-CPU record counter (holes mean loss)
 * @seq: global sequence number (order of events)
 * @time_ns: CLOCK_REALTIME when the event happened, in ns
 */
struct dbos_rec_hdr {
	__u16 type;
	__u16 len;
	__u16 cpu;
	__u16 flags;
	__u32 cpu_seq;
	__u32 __pad;
	__u64 seq;
	__u64 time_ns;
};

#define DBOS_COMM_LEN		16
#define DBOS_PATH_MAX		4096	/* longer paths are cut, DBOS_RECF_TRUNCATED */
#define DBOS_CMDLINE_MAX	4096	/* longer command lines are cut likewise */

/**
 * struct dbos_proc - payload of FORK/EXEC/EXIT/COMM/CRED/PROC records (80 bytes)
 * @pid: thread group id (what userspace calls the pid)
 * @tid: thread id
 * @ppid: tgid of the real parent
 * @uid: real uid, @gid: real gid, @euid/@egid: effective ids (init user ns)
 * @nice: nice value, -20..19
 * @policy: SCHED_* policy
 * @threads: threads in the group (PROC snapshots; 0 in events)
 * @exit_code: EXIT: the wait status (task->exit_code); otherwise 0
 * @state: task state letter as in /proc/PID/stat ('R', 'S', 'D', 'Z', ...)
 * @start_time_ns: process start, CLOCK_REALTIME ns
 * @comm: task name, NUL padded
 * @path_len: bytes of the executable path that follow
 * @cmdline_len: bytes of the command line that follow the path; arguments
 *	separated by single NUL bytes, no trailing NUL
 * @cwd_len: bytes of the working directory that follow the command line
 *
 * The three strings follow the struct back to back, not NUL-terminated; the
 * record is then padded with zeros to a multiple of 8. EXEC and PROC carry the
 * path and command line; PROC carries the cwd; other records may carry none.
 * FORK of a new thread group carries the parent's path and command line (the
 * child runs the same program until it execs).
 */
struct dbos_proc {
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__s32 nice;
	__u32 policy;
	__u32 threads;
	__u32 exit_code;
	__u32 state;
	__u64 start_time_ns;
	char comm[DBOS_COMM_LEN];
	__u16 path_len;
	__u16 cmdline_len;
	__u16 cwd_len;
	__u16 __pad2;
};

#define DBOS_REC_ALIGN(len)	(((len) + 7U) & ~7U)

#endif /* _UAPI_LINUX_DBOS_H */
