/* SPDX-License-Identifier: GPL-2.0 */
/*
 * record.h - turning tasks into dbos_proc records.
 *
 * Two producers: dbos_record_emit() writes an event record into the current
 * CPU's ring from a hook (atomic context: no sleeping, no allocation), and
 * dbos_record_snapshot() writes a DBOS_REC_PROC snapshot into memory the
 * caller owns (process context, may sleep).
 */
#ifndef _DBOS_RECORD_H
#define _DBOS_RECORD_H

#include "dbos_uapi.h"

#include <linux/types.h>
#include <linux/atomic.h>

struct task_struct;
struct mm_struct;
struct file;
struct path;

/* The global sequence number: the last one handed out. */
extern atomic64_t dbos_seq;

/* Longest record the hooks write: no cwd, and the path at most PATH_MAX - 1. */
#define DBOS_EVENT_MAX	DBOS_REC_ALIGN(sizeof(struct dbos_rec_hdr) +	\
				       sizeof(struct dbos_proc) +	\
				       DBOS_PATH_MAX - 1 + DBOS_CMDLINE_MAX)

/* Longest snapshot record: path, command line and cwd. */
#define DBOS_SNAPSHOT_MAX DBOS_REC_ALIGN(sizeof(struct dbos_rec_hdr) +	\
					 sizeof(struct dbos_proc) +	\
					 2 * (DBOS_PATH_MAX - 1) +	\
					 DBOS_CMDLINE_MAX)

/* Longest SCHED snapshot (it follows each PROC snapshot: see genl.c). */
#define DBOS_SCHED_SNAPSHOT_MAX DBOS_REC_ALIGN(sizeof(struct dbos_rec_hdr) + \
					       sizeof(struct dbos_sched) + \
					       DBOS_CPUS_MAX)

/**
 * struct dbos_event - what a hook wants recorded
 * @type: DBOS_REC_*
 * @flags: DBOS_RECF_* known to the hook (TRUNCATED is added as needed)
 * @task: the task the record describes; the caller keeps it stable
 * @comm: name to record instead of @task->comm, or NULL
 * @exit_code: for DBOS_REC_EXIT
 * @exe: executable whose path is recorded, or NULL; the caller pins it
 * @cmdline: record the current task's command line (from its own memory)
 */
struct dbos_event {
	u16 type;
	u16 flags;
	struct task_struct *task;
	const char *comm;
	u32 exit_code;
	const struct path *exe;
	bool cmdline;
};

int dbos_record_init(void);
void dbos_record_uninit(void);
void dbos_record_emit(const struct dbos_event *ev);
struct file *dbos_mm_exe_file(struct mm_struct *mm);
char *dbos_scratch_path(void);
u64 dbos_boot_to_real(u64 boot_ns);
const char *dbos_path(const struct path *path, char *buf, u32 *len, u16 *flags);

/* Record headers: type, len and flags (the rest zeroed); then the event's cpu, cpu_seq, seq, time. */
void dbos_hdr_put(struct dbos_rec_hdr *hdr, u16 type, u16 flags, u32 len);
void dbos_hdr_event(struct dbos_rec_hdr *hdr, int cpu, u32 cpu_seq);
void dbos_record_put_event(u16 type, const void *payload, u32 plen,
			   const void *tail, u32 tlen);

/**
 * struct dbos_snapshot_buf - memory for dbos_record_snapshot()
 * @rec: the record (one spare byte: the command line is read with its NUL),
 *	and room for the SCHED snapshot that follows it in a dump
 * @tmp: scratch for d_path()
 */
struct dbos_snapshot_buf {
	u8 rec[DBOS_SNAPSHOT_MAX + DBOS_SCHED_SNAPSHOT_MAX + 8];
	char tmp[DBOS_PATH_MAX];
};

u32 dbos_record_snapshot(struct task_struct *task, struct dbos_snapshot_buf *buf);
u32 dbos_snapshot_path(const struct path *path, char *dst, char *tmp, u16 *flags);

#endif /* _DBOS_RECORD_H */
