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
 * group requires CAP_NET_ADMIN too (the module does not load where it
 * cannot require it). DUMP_FILES, DUMP_PROCS, GET_PROC and GET_LIVE also require
 * CAP_SYS_ADMIN (open files, working directories, executables); SCHED_SET
 * and SCHED_RULES also require CAP_SYS_NICE. Capabilities count in the
 * initial user namespace; without one, -EPERM with an extack message (the
 * dumps report it, and -ESRCH, in their NLMSG_DONE). Every pid, in commands and
 * records, is the initial pid namespace's. Attributes are validated strictly: unknown
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
 *     snapshots, each followed by a DBOS_REC_SCHED snapshot (cause
 *     DBOS_SCHED_SNAPSHOT) of the same process with the same seq. A snapshot's hdr.seq is the global sequence number read just
 *     before the task was read: every event with a larger seq happened after
 *     the snapshot, every event with a smaller or equal seq is reflected in it.
 *
 * DBOS_CMD_GET_PROC: doit.
 *         DBOS_A_PID: u32, a tgid (required)
 *     Replies with one DBOS_CMD_RECORDS message holding one DBOS_REC_PROC
 *     snapshot, or fails with -ESRCH.
 *
 * DBOS_CMD_DUMP_FILES: dumpit.
 *         DBOS_A_PID: u32, optional: only this process (-ESRCH if none)
 *     Walks the file descriptor tables of every thread group (or of one) in
 *     ascending tgid order, fds ascending within a process. Reply messages
 *     are DBOS_CMD_RECORDS messages holding, per open fd that passes the
 *     filter (DBOS_CMD_SET_FILTER), one DBOS_REC_FD snapshot, followed for a
 *     socket by one DBOS_REC_SOCK snapshot of that socket. Snapshot seq
 *     follows the DUMP_PROCS rule (read before the fd is read). Processes
 *     sharing one table (CLONE_FILES without CLONE_THREAD) each list it.
 *
 * DBOS_CMD_GET_LIVE: dumpit. What changes without an event, read now.
 *         DBOS_A_PIDS: binary, 1..DBOS_LIVE_PIDS_MAX tgids (u32 each, any
 *             order; required)
 *         DBOS_A_LIVE_FIELDS: u32, optional: which of the dearer parts of
 *             the record to read (DBOS_LIVE_F_*; absent: all); the others
 *             are 0 and empty, and dbos_live.fields says which were read
 *     Reply messages are DBOS_CMD_RECORDS messages holding one DBOS_REC_LIVE
 *     record per listed process that exists (none for a pid that does not:
 *     the caller sees its absence), in the order asked. hdr.seq follows the
 *     DUMP_PROCS rule; cpu_seq is 0. Needs CAP_SYS_ADMIN like the other
 *     snapshots (working and root directories, cgroups).
 *
 * DBOS_CMD_SET_FILTER: doit. Which files the FD_* and SOCK_* records and
 *     DUMP_FILES report; the process_open_files mirror is exact with respect
 *     to it. Replaces the whole filter; the default (at load) lets all
 *     through. Records held back by it are counted in DBOS_STATS_FILTERED.
 *         DBOS_A_FILE_KINDS: u32, bit (1 << DBOS_FILE_*) per kind to report;
 *             absent: all kinds. Sockets are reported only with DBOS_FILE_SOCK.
 *         DBOS_A_PATH_EXCLUDE: nest, optional, at most DBOS_FILTER_PREFIXES
 *             attributes of type DBOS_A_PATH_PREFIX (NUL-terminated string,
 *             1..DBOS_FILTER_PREFIX_MAX bytes with the NUL): an fd whose path
 *             starts with one of them is not reported by FD_OPEN or FD
 *             snapshots. FD_CLOSE carries no path and is not filtered by
 *             prefix (a reader ignores closes of fds it does not know).
 *
 * DBOS_CMD_SCHED_SET: doit. Changes how whole processes are scheduled.
 *         DBOS_A_SCHED_TARGETS: nest (required) of 1..DBOS_SCHED_TARGETS_MAX
 *             DBOS_A_SCHED_TARGET nests, each:
 *             DBOS_A_PID: u32, a tgid (required)
 *             DBOS_A_NICE: s32, -20..19 (optional)
 *             DBOS_A_SCHED_POLICY: u32, SCHED_OTHER, SCHED_BATCH, SCHED_IDLE,
 *                 SCHED_FIFO or SCHED_RR (optional; SCHED_DEADLINE refused)
 *             DBOS_A_SCHED_PRIORITY: u32, 1..99: required with FIFO and RR,
 *                 refused otherwise
 *             DBOS_A_CPUS: binary, CPU bitmap (bit n % 8 of byte n / 8 is CPU
 *                 n), at most DBOS_CPUS_MAX bytes, with an online CPU in it
 *     Every target is checked before anything changes (-ESRCH: no such
 *     process; -EPERM: a kernel thread; -EINVAL: a bad value or CPU set; the
 *     extack names the target). Then every thread of every target is changed
 *     (NICE alone keeps the policy; NICE with OTHER/BATCH/IDLE sets both).
 *     If a change fails, the targets already changed are put back as they
 *     were (their leader's values, for all their threads) and the error is
 *     returned. On success each target gets one DBOS_REC_SCHED record on the
 *     event stream with the values now in force (cause DBOS_SCHED_COMMAND,
 *     tag = DBOS_A_SCHED_TAG); the reply is the ack.
 *         DBOS_A_SCHED_TAG: u32 (optional, top level): echoed in the records'
 *             dbos_sched.tag, so the caller can tell who asked
 *
 * DBOS_CMD_SCHED_RULES: doit. Scheduling rules the module keeps true: at
 *     every exec, comm change and credential change of a process, and at
 *     activation for every process, the first matching term (in the order
 *     given; the server sends them by rule id) sets its values on the whole
 *     thread group, if they differ from what is in force. The change is made
 *     from the task's own context before it returns to user mode (task_work),
 *     so a program exec'ed under a rule runs its first instruction with the
 *     rule's settings. Each change emits one DBOS_REC_SCHED (cause
 *     DBOS_SCHED_RULE_*, tag = the rule id). Two steps, so that the server
 *     can make a rule set live only after it stored it:
 *     Stage (no DBOS_A_SCHED_ACTIVATE): validate and keep as the staged set,
 *     replacing any staged one; nothing is enforced yet.
 *         DBOS_A_SCHED_VERSION: u64 (required), the server's version
 *         DBOS_A_SCHED_RULES: nest (optional: absent = no rules) of at most
 *             DBOS_SCHED_TERMS_MAX DBOS_A_SCHED_TERM nests, each:
 *             DBOS_A_SCHED_RULE_ID: u32 (required, not 0)
 *             DBOS_A_NICE, DBOS_A_SCHED_POLICY, DBOS_A_SCHED_PRIORITY,
 *                 DBOS_A_CPUS: as in SCHED_SET (at least one)
 *             DBOS_A_SCHED_MATCH: nest, 0..DBOS_SCHED_MATCH_MAX times; the term
 *                 matches when every MATCH holds. Each:
 *                 DBOS_A_SCHED_FIELD: u32, enum dbos_sched_field (required)
 *                 DBOS_A_SCHED_NEGATE: flag: holds when no value matches
 *                 DBOS_A_SCHED_VALUES: nest (required) of 0.. values:
 *                     DBOS_A_SCHED_INT: u32 (PID, UID, EUID, GID)
 *                     DBOS_A_SCHED_STR: string, exact (NAME: 1..15 bytes; EXE)
 *                     DBOS_A_SCHED_PREFIX: string, a prefix (EXE only)
 *                 A MATCH holds when the field's value equals one value (or,
 *                 for PREFIX, starts with it); with NEGATE, when none does.
 *                 A process with no executable (kernel thread) matches no
 *                 term; kernel threads are never changed.
 *         At most DBOS_SCHED_VALUES_MAX values in all. -EINVAL with an extack
 *         naming the term on a bad one; -ENOMEM.
 *     Activate (DBOS_A_SCHED_ACTIVATE flag + DBOS_A_SCHED_VERSION): the staged
 *     set of that version becomes live (-ESTALE when none is staged with that
 *     version; nothing changes). Then every thread group is checked against
 *     it and changed where a term matches (cause DBOS_SCHED_RULE_COMMIT). The
 *     ack comes after that walk. A change that fails for one process (it
 *     exited, a CPU went offline) is skipped and counted
 *     (DBOS_STATS_SCHED_FAILED), never fails the command.
 *     Removing the module drops the rules; what they set stays in force.
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
 * (DBOS_REC_PROC, DBOS_REC_FD, DBOS_REC_SOCK) are outside these streams:
 * their cpu_seq is 0.
 *
 * Order. Each CPU's records arrive in seq order (a CPU takes the seq and
 * writes the record with interrupts off). After every drain of the buffers
 * the module multicasts one more DBOS_CMD_RECORDS message (DBOS_A_CPU
 * U32_MAX) of DBOS_REC_WATERMARK records, one per possible CPU (cpu_seq 0,
 * time_ns 0): every record of hdr.cpu with a seq <= hdr.seq has been sent
 * before this message, so every later record of that CPU has a larger seq
 * (hdr.seq 0: nothing known yet). A reader that holds records back until the
 * smallest watermark (or each CPU's last record seq, when larger) has passed
 * them sees every event in seq order; a CPU that stays idle holds nothing
 * back, since its watermark follows the global counter at each drain.
 */
#ifndef _UAPI_LINUX_DBOS_H
#define _UAPI_LINUX_DBOS_H

#include <linux/types.h>

#define DBOS_GENL_NAME		"dbos"
#define DBOS_GENL_VERSION	6
#define DBOS_MCGRP_EVENTS	"events"

enum dbos_cmd {
	DBOS_CMD_UNSPEC,
	DBOS_CMD_GET_STATS,
	DBOS_CMD_DUMP_PROCS,
	DBOS_CMD_GET_PROC,
	DBOS_CMD_RECORDS,
	DBOS_CMD_DUMP_FILES,
	DBOS_CMD_SET_FILTER,
	DBOS_CMD_SCHED_SET,
	DBOS_CMD_SCHED_RULES,
	DBOS_CMD_GET_LIVE,
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
	DBOS_A_FILE_KINDS,	/* u32: mask of 1 << DBOS_FILE_* */
	DBOS_A_PATH_EXCLUDE,	/* nest: DBOS_A_PATH_PREFIX strings */
	DBOS_A_PATH_PREFIX,	/* string (inside DBOS_A_PATH_EXCLUDE only) */
	DBOS_A_SCHED_TARGETS,	/* nest: DBOS_A_SCHED_TARGET nests */
	DBOS_A_SCHED_TARGET,	/* nest: PID, NICE, SCHED_POLICY, SCHED_PRIORITY, CPUS */
	DBOS_A_NICE,		/* s32 */
	DBOS_A_SCHED_POLICY,	/* u32: SCHED_* */
	DBOS_A_SCHED_PRIORITY,	/* u32 */
	DBOS_A_CPUS,		/* binary: CPU bitmap */
	DBOS_A_SCHED_TAG,	/* u32 */
	DBOS_A_SCHED_VERSION,	/* u64 */
	DBOS_A_SCHED_ACTIVATE,	/* flag */
	DBOS_A_SCHED_RULES,	/* nest: DBOS_A_SCHED_TERM nests */
	DBOS_A_SCHED_TERM,	/* nest: RULE_ID, NICE, SCHED_POLICY, SCHED_PRIORITY, CPUS, MATCH */
	DBOS_A_SCHED_RULE_ID,	/* u32 */
	DBOS_A_SCHED_MATCH,	/* nest: FIELD, NEGATE, VALUES */
	DBOS_A_SCHED_FIELD,	/* u32: enum dbos_sched_field */
	DBOS_A_SCHED_NEGATE,	/* flag */
	DBOS_A_SCHED_VALUES,	/* nest: INT, STR, PREFIX */
	DBOS_A_SCHED_INT,	/* u32 */
	DBOS_A_SCHED_STR,	/* string */
	DBOS_A_SCHED_PREFIX,	/* string */
	DBOS_A_PIDS,		/* binary: u32 tgids */
	DBOS_A_LIVE_FIELDS,	/* u32: mask of DBOS_LIVE_F_* */
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
	DBOS_STATS_FILTERED,	/* FD/SOCK records held back by the filter */
	DBOS_STATS_MISSED,	/* events no record was produced for: a hook could
				 * not run (kretprobe instances exhausted); a rise
				 * means loss, like DROPPED */
	DBOS_STATS_SCHED_APPLIED, /* thread groups changed by a scheduling rule */
	DBOS_STATS_SCHED_FAILED, /* rule changes that failed or could not be queued */
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
	DBOS_REC_FD_OPEN,	/* dbos_fd + path: an fd was installed (open,
				 * socket, accept, pipe, dup*, fcntl, SCM_RIGHTS);
				 * it replaces whatever had this number before */
	DBOS_REC_FD_CLOSE,	/* dbos_fd, no path: an fd was removed (close,
				 * close_range, close-on-exec at exec, or the old
				 * file of a dup2 target) */
	DBOS_REC_FD,		/* dbos_fd + path: a snapshot from DUMP_FILES */
	DBOS_REC_SOCK_INFO,	/* dbos_sock: a socket fd was installed (socket,
				 * socketpair, accept, dup...): its state then */
	DBOS_REC_SOCK_BIND,	/* dbos_sock: after a successful bind() */
	DBOS_REC_SOCK_LISTEN,	/* dbos_sock: after a successful listen() */
	DBOS_REC_SOCK_CONNECT,	/* dbos_sock: after connect() returned 0 or
				 * EINPROGRESS */
	DBOS_REC_SOCK_ACCEPT,	/* dbos_sock: the new socket after accept() (its
				 * fd is dbos_sock.fd; FD_OPEN + SOCK_INFO for it
				 * come first) */
	DBOS_REC_SOCK_STATE,	/* dbos_sock: TCP state change (pid 0 when not
				 * in a task's context); only sockets that have
				 * an inode (not yet accepted or orphaned ones
				 * are left out) */
	DBOS_REC_SOCK,		/* dbos_sock: a snapshot from DUMP_FILES */
	DBOS_REC_SCHED,		/* dbos_sched + CPU bitmap: scheduling changed
				 * (by SCHED_SET or a rule: values now in force),
				 * or a snapshot from DUMP_PROCS (after the
				 * process's PROC snapshot, same seq) */
	DBOS_REC_WATERMARK,	/* hdr only: hdr.cpu's stream is complete up to
				 * hdr.seq (see "Order" above) */
	DBOS_REC_LIVE,		/* dbos_live + strings: GET_LIVE's answer */
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
#define DBOS_RECF_CHILDREN	(1U << 3) /* EXIT (a thread's too): it had children; they get a new parent */
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

/* Kinds of file, from the inode's S_IFMT (DBOS_FILE_OTHER: none, e.g. anon inodes). */
enum dbos_file_kind {
	DBOS_FILE_OTHER,	/* anon_inode: eventfd, epoll, timerfd, ... */
	DBOS_FILE_REG,
	DBOS_FILE_DIR,
	DBOS_FILE_CHR,
	DBOS_FILE_BLK,
	DBOS_FILE_FIFO,		/* pipes too */
	DBOS_FILE_SOCK,
	DBOS_FILE_LNK,		/* O_PATH of a symlink */
	__DBOS_FILE_MAX
};
#define DBOS_FILE_KINDS_ALL	((1U << __DBOS_FILE_MAX) - 1)
#define DBOS_FILTER_PREFIXES	16
#define DBOS_FILTER_PREFIX_MAX	256

/**
 * struct dbos_fd - payload of FD_OPEN/FD_CLOSE/FD records (40 bytes)
 * @pid: tgid of the process whose table holds the fd
 * @fd: the descriptor number
 * @flags: file->f_flags (O_ACCMODE, O_APPEND, O_NONBLOCK, ...); O_CLOEXEC
 *	is added when the fd's close-on-exec bit is set (FD snapshots and
 *	FD_OPEN)
 * @kind: enum dbos_file_kind
 * @path_len: bytes of the path that follow (d_path(), as readlink of
 *	/proc/PID/fd/N shows it: "socket:[123]", "pipe:[45]", "anon_inode:[eventfd]"
 *	for files outside the tree; " (deleted)" is appended for unlinked files)
 * @inode: the inode number (st_ino)
 * @dev: st_dev of the file, as stat(2) reports it (new_encode_dev)
 * @mode: the inode's i_mode (type and permission bits)
 */
struct dbos_fd {
	__u32 pid;
	__u32 fd;
	__u32 flags;
	__u16 kind;
	__u16 path_len;
	__u64 inode;
	__u64 dev;
	__u32 mode;
	__u32 __pad;
};

#define DBOS_UNIX_PATH_MAX	108	/* sizeof(sun_path) */

/**
 * struct dbos_sock - payload of SOCK_* records (80 bytes)
 * @pid: tgid of the task that did it (0 for SOCK_STATE outside a task, and
 *	for SOCK snapshots)
 * @fd: the fd used (SOCK_BIND/LISTEN/CONNECT: the call's fd; SOCK_ACCEPT:
 *	the new fd; SOCK_INFO and SOCK: the fd being installed or dumped;
 *	otherwise ~0U)
 * @inode: the socket's inode number (what "socket:[N]" and ss show)
 * @netns: inode number of the socket's network namespace (/proc/PID/ns/net)
 * @family: AF_INET, AF_INET6, AF_UNIX, ... (other families: addresses zero)
 * @type: SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_RAW
 * @protocol: sk_protocol (IPPROTO_TCP, IPPROTO_UDP, ...; 0 for unix)
 * @state: sk_state, TCP_* numbering for every family (unix and UDP sockets
 *	use TCP_ESTABLISHED, TCP_LISTEN and TCP_CLOSE)
 * @oldstate: SOCK_STATE: the state before; otherwise 0
 * @local_port, @remote_port: host byte order; 0 when unset
 * @local_addr, @remote_addr: network byte order; AF_INET uses the first 4
 *	bytes, AF_INET6 all 16; zero when unset
 * @peer_inode: AF_UNIX: inode of the connected peer socket, else 0
 * @path_len: AF_UNIX: bytes of the bound name that follow (abstract names
 *	start with a NUL byte), else 0
 * @peer_path_len: AF_UNIX: bytes of the peer's bound name that follow the path
 */
struct dbos_sock {
	__u32 pid;
	__u32 fd;
	__u64 inode;
	__u64 peer_inode;
	__u32 netns;
	__u16 family;
	__u16 type;
	__u16 protocol;
	__u8 state;
	__u8 oldstate;
	__u16 local_port;
	__u16 remote_port;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 path_len;
	__u16 peer_path_len;
	__u32 __pad;
};

#define DBOS_SCHED_TARGETS_MAX	1024
#define DBOS_CPUS_MAX		128	/* bytes of a CPU bitmap: 1024 CPUs */

#define DBOS_SCHED_TERMS_MAX	1024	/* terms of a SCHED_RULES set */
#define DBOS_SCHED_MATCH_MAX	16	/* MATCH nests of one term */
#define DBOS_SCHED_VALUES_MAX	65536	/* values of a SCHED_RULES set, in all */

/* What a SCHED_RULES MATCH compares (the process at the event). */
enum dbos_sched_field {
	DBOS_SCHED_F_PID,	/* tgid */
	DBOS_SCHED_F_UID,	/* real uid */
	DBOS_SCHED_F_EUID,	/* effective uid */
	DBOS_SCHED_F_GID,	/* real gid */
	DBOS_SCHED_F_NAME,	/* comm (of the thread that exec'ed / renamed itself) */
	DBOS_SCHED_F_EXE,	/* path of the executable (as /proc/PID/exe) */
	__DBOS_SCHED_F_MAX
};

/* Why a SCHED record was produced (dbos_sched.cause). */
enum dbos_sched_cause {
	DBOS_SCHED_COMMAND,	/* DBOS_CMD_SCHED_SET; tag = its DBOS_A_SCHED_TAG */
	DBOS_SCHED_SNAPSHOT,	/* DUMP_PROCS; tag 0 */
	DBOS_SCHED_RULE_EXEC,	/* a rule, at exec; tag = rule id */
	DBOS_SCHED_RULE_COMM,	/* a rule, at a comm change; tag = rule id */
	DBOS_SCHED_RULE_CRED,	/* a rule, at a credential change; tag = rule id */
	DBOS_SCHED_RULE_COMMIT,	/* a rule, when its set was activated; tag = rule id */
	__DBOS_SCHED_CAUSE_MAX
};

/**
 * struct dbos_sched - payload of SCHED records (32 bytes)
 * @pid: the tgid changed
 * @nice: its leader's nice value now
 * @policy: SCHED_* now
 * @priority: real-time priority now (0 unless FIFO/RR)
 * @cpus_len: bytes of CPU bitmap that follow (as DBOS_A_CPUS)
 * @cause: enum dbos_sched_cause
 * @tag: COMMAND: the command's DBOS_A_SCHED_TAG (0 if none); RULE_*: rule id
 */
struct dbos_sched {
	__u32 pid;
	__s32 nice;
	__u32 policy;
	__u32 priority;
	__u32 cpus_len;
	__u32 cause;
	__u32 tag;
	__u32 __pad;
};

#define DBOS_LIVE_PIDS_MAX	1024	/* tgids per GET_LIVE */

/* The parts of a LIVE record read only when asked (DBOS_A_LIVE_FIELDS). */
#define DBOS_LIVE_F_CPU		(1U << 0)	/* user_ns, system_ns: a walk of the threads */
#define DBOS_LIVE_F_IO		(1U << 1)	/* read_bytes, write_bytes: a walk of the threads */
#define DBOS_LIVE_F_MM		(1U << 2)	/* resident/total/locked bytes, on_disk */
#define DBOS_LIVE_F_CWD		(1U << 3)	/* the working directory */
#define DBOS_LIVE_F_ROOT	(1U << 4)	/* the root directory */
#define DBOS_LIVE_F_CGROUP	(1U << 5)	/* the cgroup v2 path */
#define DBOS_LIVE_F_ALL		0x3fU

/**
 * struct dbos_live - payload of LIVE records (96 bytes): what /proc shows of
 * a process now, for the columns no event keeps current
 * @pid: the tgid asked for
 * @pgid: process group (initial pid namespace)
 * @suid: saved uid, @sgid: saved gid (initial user namespace)
 * @state: task state letter as in /proc/PID/stat
 * @on_disk: 1 the executable is linked in the file system, 0 it was deleted
 *	(or replaced), -1 no executable (kernel thread, zombie)
 * @start_time_ns: process start, CLOCK_REALTIME ns, as in dbos_proc: with
 *	@pid, which process this is
 * @resident_bytes: resident set (VmRSS), @total_bytes: virtual size (VmSize),
 *	@locked_bytes: mlocked memory (VmLck); 0 without an mm
 * @user_ns, @system_ns: CPU time of every thread, living and exited
 *	(/proc/PID/stat utime, stime)
 * @read_bytes, @write_bytes: storage I/O caused, all threads
 *	(/proc/PID/io read_bytes, write_bytes); 0 without task I/O accounting
 * @cwd_len, @root_len, @cgroup_len: bytes of the working directory, root
 *	directory and cgroup v2 path (as /proc/PID/cgroup's 0:: line, from the
 *	initial cgroup namespace) that follow back to back, not NUL-terminated
 * @fields: the DBOS_LIVE_F_* parts read (pid, pgid, suid, sgid, state and
 *	start_time_ns always are)
 */
struct dbos_live {
	__u32 pid;
	__u32 pgid;
	__u32 suid;
	__u32 sgid;
	__u32 state;
	__s32 on_disk;
	__u64 start_time_ns;
	__u64 resident_bytes;
	__u64 total_bytes;
	__u64 locked_bytes;
	__u64 user_ns;
	__u64 system_ns;
	__u64 read_bytes;
	__u64 write_bytes;
	__u16 cwd_len;
	__u16 root_len;
	__u16 cgroup_len;
	__u16 fields;
};

#define DBOS_REC_ALIGN(len)	(((len) + 7U) & ~7U)

#endif /* _UAPI_LINUX_DBOS_H */
