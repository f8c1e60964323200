// SPDX-License-Identifier: GPL-2.0
/*
 * record.c - turning tasks into dbos_proc records, for events and snapshots.
 */

#include "record.h"
#include "buffer.h"
#include "drain.h"

#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/version.h>

atomic64_t dbos_seq = ATOMIC64_INIT(0);

/*
 * Per-CPU scratch space of the hooks, for d_path() and the command line. Only
 * used with interrupts disabled on its own CPU, so nothing else can use it at
 * the same time.
 */
struct dbos_scratch {
	char path[DBOS_PATH_MAX];
	char cmdline[DBOS_CMDLINE_MAX];
};

static DEFINE_PER_CPU(struct dbos_scratch *, dbos_scratch);

static_assert(DBOS_COMM_LEN == TASK_COMM_LEN);
static_assert(sizeof(struct dbos_rec_hdr) == 32);
static_assert(sizeof(struct dbos_proc) == 80);
static_assert(DBOS_SNAPSHOT_MAX <= U16_MAX);	/* hdr.len */
static_assert(NR_CPUS <= U16_MAX + 1);		/* hdr.cpu */

/**
 * dbos_scratch_path - the current CPU's d_path() scratch, DBOS_PATH_MAX bytes
 *
 * Only with interrupts disabled, until the record using it is committed.
 */
char *dbos_scratch_path(void)
{
	lockdep_assert_irqs_disabled();
	return this_cpu_read(dbos_scratch)->path;
}

/* CLOCK_BOOTTIME ns (task->start_boottime) to CLOCK_REALTIME ns. */
u64 dbos_boot_to_real(u64 boot_ns)
{
	return boot_ns + ktime_mono_to_any(0, TK_OFFS_REAL) -
	       ktime_mono_to_any(0, TK_OFFS_BOOT);
}

/*
 * Fill the fixed part of @proc from @task: ids, parent, state, scheduling and
 * start time. Strings, comm, threads and exit_code are the caller's. Reads only
 * what stays valid while the caller keeps @task alive (a reference, or @task
 * being current or not yet running), plus RCU-protected parent and creds.
 */
static void dbos_proc_fill(struct dbos_proc *proc, struct task_struct *task)
{
	const struct cred *cred;

	RCU_LOCKDEP_WARN(!rcu_read_lock_held(), "task read outside RCU");

	cred = __task_cred(task);
	proc->pid = task_tgid_nr(task);
	proc->tid = task_pid_nr(task);
	proc->ppid = pid_alive(task) ?
		     task_tgid_nr(rcu_dereference(task->real_parent)) : 0;
	proc->uid = from_kuid_munged(&init_user_ns, cred->uid);
	proc->gid = from_kgid_munged(&init_user_ns, cred->gid);
	proc->euid = from_kuid_munged(&init_user_ns, cred->euid);
	proc->egid = from_kgid_munged(&init_user_ns, cred->egid);
	proc->state = task_state_to_char(task);
	proc->nice = task_nice(task);
	proc->policy = READ_ONCE(task->policy);
	proc->start_time_ns = dbos_boot_to_real(task->start_boottime);
}

/*
 * Apply /proc/PID/cmdline's rules to @len bytes of argument area in @buf:
 * arguments end with a NUL, which we drop; when the last byte is not a NUL
 * the program rewrote its arguments (setproctitle()) and the title ends at
 * the first NUL. @cut: the area was longer than what @buf holds. Returns the
 * command line's length.
 */
static u32 dbos_cmdline_trim(const char *buf, u32 len, bool cut, u16 *flags)
{
	u32 n;

	if (!len)
		return 0;
	if (cut) {
		*flags |= DBOS_RECF_TRUNCATED;
		return min_t(u32, len, DBOS_CMDLINE_MAX);
	}
	if (!buf[len - 1])
		return len - 1;
	n = strnlen(buf, len);
	if (n == len)	/* the title goes on past the argument area */
		*flags |= DBOS_RECF_TRUNCATED;
	return min_t(u32, n, DBOS_CMDLINE_MAX);
}

/*
 * The current task's command line, read from its own memory without
 * faulting (pages that are not present make it empty and TRUNCATED).
 */
static u32 dbos_current_cmdline(char *buf, u16 *flags)
{
	struct mm_struct *mm = current->mm;
	unsigned long start, end, len;
	bool cut = false;

	if (!mm || (current->flags & PF_KTHREAD))
		return 0;
	/* Only prctl(PR_SET_MM) moves these; any value is safe to try. */
	start = READ_ONCE(mm->arg_start);
	end = READ_ONCE(mm->arg_end);
	if (start >= end)
		return 0;
	len = end - start;
	if (len > DBOS_CMDLINE_MAX) {
		len = DBOS_CMDLINE_MAX;
		cut = true;
	}
	if (copy_from_user_nofault(buf, (const void __user *)start, len)) {
		*flags |= DBOS_RECF_TRUNCATED;
		return 0;
	}
	return dbos_cmdline_trim(buf, len, cut, flags);
}

/*
 * d_path() of @path into @buf (DBOS_PATH_MAX bytes); sets *@len. NULL and
 * *@len 0 when there is none (TRUNCATED added to *@flags when too long).
 */
const char *dbos_path(const struct path *path, char *buf, u32 *len,
			     u16 *flags)
{
	char *p = d_path(path, buf, DBOS_PATH_MAX);

	if (IS_ERR(p)) {
		if (PTR_ERR(p) == -ENAMETOOLONG)
			*flags |= DBOS_RECF_TRUNCATED;
		*len = 0;
		return NULL;
	}
	*len = buf + DBOS_PATH_MAX - 1 - p;
	return p;
}

/*
 * Keep a record within half of the ring so that one event cannot fill it:
 * cut the command line first, then the path.
 */
static void dbos_fit(const struct dbos_ring *ring, u32 *path_len,
		     u32 *cmd_len, u16 *flags)
{
	u32 room = ring->size / 2 - sizeof(struct dbos_rec_hdr) -
		   sizeof(struct dbos_proc);

	if (*path_len + *cmd_len <= room)
		return;
	*flags |= DBOS_RECF_TRUNCATED;
	*path_len = min(*path_len, room);
	*cmd_len = room - *path_len;
}

/**
 * dbos_record_emit - record an event in the current CPU's ring
 * @ev: what to record
 *
 * Callable from any hook in process context, also with preemption or
 * interrupts disabled: it never sleeps, never allocates and takes no lock
 * shared with other CPUs. When the ring is full the record is dropped and
 * counted (its cpu_seq is skipped, so readers see the hole).
 */
void dbos_record_emit(const struct dbos_event *ev)
{
	u32 path_len = 0, cmd_len = 0, len, used, cpu_seq;
	struct dbos_scratch *scratch;
	const char *path = NULL;
	struct dbos_rec_hdr *hdr;
	struct dbos_ring *ring;
	unsigned long irqflags;
	struct dbos_proc *proc;
	u16 flags = ev->flags;
	bool kick = true;
	char *str;
	int cpu;

	/* From here to the commit nothing else may run on this CPU's ring. */
	local_irq_save(irqflags);
	cpu = smp_processor_id();
	ring = dbos_buffer(cpu);
	scratch = per_cpu(dbos_scratch, cpu);

	if (ev->exe)
		path = dbos_path(ev->exe, scratch->path, &path_len, &flags);
	if (ev->cmdline)
		cmd_len = dbos_current_cmdline(scratch->cmdline, &flags);
	dbos_fit(ring, &path_len, &cmd_len, &flags);

	used = sizeof(*hdr) + sizeof(*proc) + path_len + cmd_len;
	len = DBOS_REC_ALIGN(used);
	hdr = dbos_ring_reserve(ring, len, &cpu_seq);
	if (!hdr)
		goto out;

	hdr->type = ev->type;
	hdr->len = len;
	hdr->cpu = cpu;
	hdr->flags = flags;
	hdr->cpu_seq = cpu_seq;
	hdr->__pad = 0;
	hdr->seq = atomic64_inc_return(&dbos_seq);
	hdr->time_ns = ktime_get_real_ns();

	proc = (struct dbos_proc *)(hdr + 1);
	memset(proc, 0, sizeof(*proc));
	rcu_read_lock();
	dbos_proc_fill(proc, ev->task);
	rcu_read_unlock();
	if (ev->comm)
		strscpy_pad(proc->comm, ev->comm, sizeof(proc->comm));
	else
		memcpy(proc->comm, ev->task->comm, sizeof(proc->comm));
	proc->comm[DBOS_COMM_LEN - 1] = '\0';
	proc->exit_code = ev->exit_code;
	proc->path_len = path_len;
	proc->cmdline_len = cmd_len;

	str = (char *)(proc + 1);
	memcpy(str, path, path_len);
	memcpy(str + path_len, scratch->cmdline, cmd_len);
	memset((u8 *)hdr + used, 0, len - used);

	kick = dbos_ring_commit(ring);
out:
	local_irq_restore(irqflags);
	if (kick)
		dbos_drain_kick();
}

/**
 * dbos_mm_exe_file - the executable of @mm, pinned (fput() it); NULL if none
 * @mm: an mm the caller keeps alive
 *
 * Any context: takes no lock, only a reference on the file.
 */
struct file *dbos_mm_exe_file(struct mm_struct *mm)
{
	struct file *exe;

	rcu_read_lock();
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	exe = get_file_rcu(&mm->exe_file);
#else
	exe = rcu_dereference(mm->exe_file);
	if (exe && !get_file_rcu(exe))
		exe = NULL;
#endif
	rcu_read_unlock();
	return exe;
}

/* Copy the d_path() of @path to @dst (@tmp: d_path()'s scratch); returns its length (0: none). */
u32 dbos_snapshot_path(const struct path *path, char *dst, char *tmp,
		       u16 *flags)
{
	const char *p;
	u32 len;

	p = dbos_path(path, tmp, &len, flags);
	if (p)
		memcpy(dst, p, len);
	return len;
}

/*
 * @task's command line as /proc/PID/cmdline shows it (without the final
 * NUL), read into @dst, which holds DBOS_CMDLINE_MAX + 1 bytes. May sleep.
 */
static u32 dbos_snapshot_cmdline(struct task_struct *task,
				 struct mm_struct *mm, char *dst, u16 *flags)
{
	unsigned long arg_start, arg_end, env_start, env_end, len;
	char c;
	int got;

	if (!mm->env_end)	/* not far enough into exec to have one */
		return 0;

	spin_lock(&mm->arg_lock);
	arg_start = mm->arg_start;
	arg_end = mm->arg_end;
	env_start = mm->env_start;
	env_end = mm->env_end;
	spin_unlock(&mm->arg_lock);

	if (arg_start >= arg_end)
		return 0;
	if (env_start != arg_end || env_end < env_start) {
		env_start = arg_end;
		env_end = arg_end;
	}

	if (access_process_vm(task, arg_end - 1, &c, 1, FOLL_ANON) == 1 && c) {
		/* setproctitle(): up to the first NUL, like /proc. */
		len = min_t(unsigned long, env_end - arg_start, DBOS_CMDLINE_MAX);
		got = access_process_vm(task, arg_start, dst, len, FOLL_ANON);
		if (got <= 0)
			return 0;
		len = strnlen(dst, got);
		if (len == got && env_end - arg_start > got)
			*flags |= DBOS_RECF_TRUNCATED;
		return len;
	}

	len = arg_end - arg_start;
	got = access_process_vm(task, arg_start, dst,
				min_t(unsigned long, len, DBOS_CMDLINE_MAX + 1),
				FOLL_ANON);
	if (got <= 0)
		return 0;
	return dbos_cmdline_trim(dst, got, got < len, flags);
}

/**
 * dbos_record_snapshot - write a DBOS_REC_PROC record describing a process
 * @task: a thread-group leader the caller holds a reference to
 * @buf: where to build the record (buf->rec) and scratch space
 *
 * hdr.seq is the global sequence number read before anything of @task is:
 * every event with a seq up to it is reflected in the snapshot. hdr.cpu_seq
 * is 0: snapshots are outside every CPU's stream. Process context; sleeps.
 *
 * Return: the record's length (hdr.len).
 */
u32 dbos_record_snapshot(struct task_struct *task, struct dbos_snapshot_buf *buf)
{
	struct dbos_rec_hdr *hdr = (struct dbos_rec_hdr *)buf->rec;
	struct dbos_proc *proc = (struct dbos_proc *)(hdr + 1);
	char *str = (char *)(proc + 1);
	struct mm_struct *mm;
	struct path pwd;
	u16 flags = 0;
	u32 used, len;
	u64 seq;

	might_sleep();

	seq = atomic64_read(&dbos_seq);
	/* Pairs with the full barrier of atomic64_inc_return() in the hooks. */
	smp_rmb();

	memset(hdr, 0, sizeof(*hdr) + sizeof(*proc));
	rcu_read_lock();
	dbos_proc_fill(proc, task);
	rcu_read_unlock();
	get_task_comm(proc->comm, task);
	proc->threads = get_nr_threads(task);
	/* Every thread is past the point of no return in do_exit(). */
	if (!atomic_read(&task->signal->live))
		flags |= DBOS_RECF_GROUP_DEAD;

	mm = get_task_mm(task);
	if (mm) {
		struct file *exe = dbos_mm_exe_file(mm);

		if (exe) {
			proc->path_len = dbos_snapshot_path(&exe->f_path, str,
							    buf->tmp, &flags);
			fput(exe);
		}
		proc->cmdline_len = dbos_snapshot_cmdline(task, mm,
							  str + proc->path_len,
							  &flags);
		mmput(mm);
	}

	pwd.mnt = NULL;
	task_lock(task);
	if (task->fs)
		get_fs_pwd(task->fs, &pwd);
	task_unlock(task);
	if (pwd.mnt) {
		proc->cwd_len = dbos_snapshot_path(&pwd, str + proc->path_len +
						   proc->cmdline_len,
						   buf->tmp, &flags);
		path_put(&pwd);
	}

	used = sizeof(*hdr) + sizeof(*proc) + proc->path_len +
	       proc->cmdline_len + proc->cwd_len;
	len = DBOS_REC_ALIGN(used);
	memset(buf->rec + used, 0, len - used);

	hdr->type = DBOS_REC_PROC;
	hdr->len = len;
	hdr->cpu = raw_smp_processor_id();
	hdr->flags = flags;
	hdr->seq = seq;
	hdr->time_ns = ktime_get_real_ns();
	return len;
}

/* Allocate the hooks' per-CPU scratch space. */
int dbos_record_init(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct dbos_scratch *s = kmalloc_node(sizeof(*s), GFP_KERNEL,
						      cpu_to_node(cpu));

		if (!s) {
			dbos_record_uninit();
			return -ENOMEM;
		}
		per_cpu(dbos_scratch, cpu) = s;
	}
	return 0;
}

/* Free what dbos_record_init() allocated; no hook may be running. */
void dbos_record_uninit(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		kfree(per_cpu(dbos_scratch, cpu));
		per_cpu(dbos_scratch, cpu) = NULL;
	}
}

/*
 * Header of a record of @len bytes: type, len and flags; the rest zero, for
 * the caller to set.
 */
void dbos_hdr_put(struct dbos_rec_hdr *hdr, u16 type, u16 flags, u32 len)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->type = type;
	hdr->len = len;
	hdr->flags = flags;
}

/* Fill the per-CPU fields of a record just reserved in a ring. */
void dbos_hdr_event(struct dbos_rec_hdr *hdr, int cpu, u32 cpu_seq)
{
	hdr->cpu = cpu;
	hdr->cpu_seq = cpu_seq;
	hdr->seq = atomic64_inc_return(&dbos_seq);
	hdr->time_ns = ktime_get_real_ns();
}

/**
 * dbos_record_put_event - record one fixed payload and its tail as an event
 * @type: DBOS_REC_*
 * @payload: @plen bytes that follow the header
 * @tail: @tlen bytes that follow the payload (may be NULL when @tlen is 0)
 *
 * For records that are small and rare (well within half a ring). Any
 * context; never sleeps or allocates. A full ring counts the record as
 * dropped, like every other record.
 */
void dbos_record_put_event(u16 type, const void *payload, u32 plen,
			   const void *tail, u32 tlen)
{
	u32 used = sizeof(struct dbos_rec_hdr) + plen + tlen;
	u32 len = DBOS_REC_ALIGN(used), cpu_seq;
	struct dbos_ring *ring;
	unsigned long irqflags;
	bool kick = true;
	u8 *rec;
	int cpu;

	local_irq_save(irqflags);
	cpu = smp_processor_id();
	ring = dbos_buffer(cpu);
	rec = dbos_ring_reserve(ring, len, &cpu_seq);
	if (rec) {
		dbos_hdr_put((struct dbos_rec_hdr *)rec, type, 0, len);
		memcpy(rec + sizeof(struct dbos_rec_hdr), payload, plen);
		if (tlen)
			memcpy(rec + sizeof(struct dbos_rec_hdr) + plen, tail, tlen);
		memset(rec + used, 0, len - used);
		dbos_hdr_event((struct dbos_rec_hdr *)rec, cpu, cpu_seq);
		kick = dbos_ring_commit(ring);
	}
	local_irq_restore(irqflags);
	if (kick)
		dbos_drain_kick();
}
