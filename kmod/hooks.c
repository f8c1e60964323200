// SPDX-License-Identifier: GPL-2.0
/*
 * hooks.c - where dbos watches processes.
 *
 *   sched_process_fork   FORK  the new task; a new process also carries its
 *                              parent's executable and command line
 *   sched_process_exec   EXEC  the task after a successful exec
 *   sched_process_exit   EXIT  the task as it exits
 *   task_rename          COMM  the new name
 *   commit_creds (ret)   CRED  the new ids, once installed
 *
 * The sched_* tracepoints are not exported to modules; they are found by name
 * with for_each_kernel_tracepoint(). Every hook runs in the context of a task
 * in the middle of a system call (or a kernel thread), may be called with
 * preemption disabled, and only reads what that context keeps stable; see
 * each one. Recording is dbos_record_emit(): no sleeping, no allocation.
 * The exec, rename and cred hooks also hand current to the scheduling rules
 * (dbos_srules_event(): nothing without live rules; else a GFP_ATOMIC task
 * work, see schedrules.c).
 */

#include "hooks.h"
#include "files.h"
#include "record.h"
#include "schedrules.h"
#include "shared.h"
#include "dbos_uapi.h"

#include <linux/binfmts.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fdtable.h>
#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/ptrace.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/string.h>
#include <linux/tracepoint.h>

/*
 * The child is fully set up and hashed, but has not run yet: nothing of it can
 * change under us. When it got its own mm (no CLONE_VM), its mm->exe_file is
 * pinned by that mm and only the child itself could replace it. With CLONE_VM
 * the mm is the parent's, where another thread may swap exe_file
 * (PR_SET_MM_EXE_FILE): pin the file for the time we read its path. The
 * parent's command line is read from its own memory (current is the parent).
 */
static void dbos_probe_fork(void *data, struct task_struct *parent,
			    struct task_struct *child)
{
	struct dbos_event ev = { .type = DBOS_REC_FORK, .task = child };
	struct mm_struct *mm = child->mm;
	struct files_struct *shared;
	struct file *exe = NULL;
	bool pinned = false;

	if (!thread_group_leader(child)) {
		ev.flags = DBOS_RECF_THREAD;
		dbos_record_emit(&ev);
		return;
	}
	if (mm && !(current->flags & PF_KTHREAD)) {
		if (mm == current->mm) {
			exe = dbos_mm_exe_file(mm);
			pinned = exe != NULL;
		} else {
			rcu_read_lock();
			exe = rcu_dereference(mm->exe_file);
			rcu_read_unlock();
		}
		ev.exe = exe ? &exe->f_path : NULL;
		ev.cmdline = true;
	}
	/*
	 * A child sharing the parent's fd table joins its members, and takes
	 * the FORK's seq, under the lock its fd hooks record under: each fd
	 * change is recorded before the FORK, or for the child too (shared.c).
	 */
	shared = dbos_shared_with(parent, child);
	if (shared)
		spin_lock(&shared->file_lock);
	dbos_shared_fork(parent, child);
	dbos_record_emit(&ev);
	if (shared)
		spin_unlock(&shared->file_lock);
	if (pinned)
		fput(exe);
}

/*
 * Current has just exec'ed: bprm->file (held by bprm) is the executable now
 * in mm->exe_file, and the new command line is in its memory.
 */
static void dbos_probe_exec(void *data, struct task_struct *task,
			    pid_t old_pid, struct linux_binprm *bprm)
{
	struct dbos_event ev = {
		.type = DBOS_REC_EXEC,
		.task = task,
		.exe = &bprm->file->f_path,
		.cmdline = true,
	};

	dbos_record_emit(&ev);
	dbos_srules_event(DBOS_SCHED_RULE_EXEC, task, NULL);
}

/*
 * Current is exiting: its exit_code is set and signal->live already counts it
 * out (kernel/exit.c: do_exit()), so live == 0 means the whole group is dead.
 * Two last threads exiting together may both see 0 and both say GROUP_DEAD.
 * Its mm is gone already, so there are no strings to record.
 */
static void dbos_probe_exit(void *data, struct task_struct *task)
{
	struct dbos_event ev = {
		.type = DBOS_REC_EXIT,
		.task = task,
		.exit_code = task->exit_code,
	};
	struct files_struct *shared = NULL;

	/* Its fds' closes first: they happen before it is gone. */
	if (task == current)
		dbos_files_exit();
	ev.flags = atomic_read(&task->signal->live) ? DBOS_RECF_THREAD : DBOS_RECF_GROUP_DEAD;
	/*
	 * A racy peek is enough: the children are reparented later. A thread
	 * says so too: when the whole group is exiting, its children go to a
	 * reaper outside the group, and the last thread (the GROUP_DEAD one)
	 * may have none of its own.
	 */
	if (!list_empty(&task->children))
		ev.flags |= DBOS_RECF_CHILDREN;
	/*
	 * A process leaving a shared fd table takes its EXIT's seq and leaves
	 * under the lock the table's fd hooks record under: no fd record for it
	 * comes after its EXIT (shared.c).
	 */
	if (ev.flags & DBOS_RECF_GROUP_DEAD)
		shared = dbos_shared_leaving(task);
	if (shared)
		spin_lock(&shared->file_lock);
	dbos_record_emit(&ev);
	if (ev.flags & DBOS_RECF_GROUP_DEAD)
		dbos_shared_exit(task);
	if (shared)
		spin_unlock(&shared->file_lock);
}

/*
 * Called under task_lock(task) just before task->comm becomes @comm, so a
 * snapshot (which reads comm under the same lock) taken after this record's
 * seq sees the new name. Renames done by exec are left to the EXEC record.
 */
static void dbos_probe_rename(void *data, struct task_struct *task,
			      const char *comm)
{
	struct dbos_event ev = {
		.type = DBOS_REC_COMM,
		.task = task,
		.comm = comm,
	};

	if (task == current && current->in_execve)
		return;
	if (!thread_group_leader(task))
		ev.flags = DBOS_RECF_THREAD;
	dbos_record_emit(&ev);
	dbos_srules_event(DBOS_SCHED_RULE_COMM, task, comm);
}

/*
 * commit_creds(new) installs new credentials for current. The entry handler
 * lets through only calls that change an id we record (most calls, e.g. the
 * one in every exec, do not); the return handler then records current, whose
 * creds are the new ones by now, so the record's seq is taken after the
 * change like every other event's.
 */
static int dbos_cred_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	const struct cred *new = (const struct cred *)
				 regs_get_kernel_argument(regs, 0);
	const struct cred *old = current_real_cred();

	if (uid_eq(new->uid, old->uid) && uid_eq(new->euid, old->euid) &&
	    gid_eq(new->gid, old->gid) && gid_eq(new->egid, old->egid))
		return 1;	/* nothing to record: skip the return handler */
	return 0;
}

static int dbos_cred_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct dbos_event ev = { .type = DBOS_REC_CRED, .task = current };

	if (!thread_group_leader(current))
		ev.flags = DBOS_RECF_THREAD;
	dbos_record_emit(&ev);
	dbos_srules_event(DBOS_SCHED_RULE_CRED, current, NULL);
	return 0;
}

static struct kretprobe dbos_cred_probe = {
	.kp.symbol_name = "commit_creds",
	.entry_handler = dbos_cred_entry,
	.handler = dbos_cred_ret,
};

static bool dbos_cred_probe_registered;

/**
 * struct dbos_tracepoint - a tracepoint we attach to
 * @name: its name
 * @probe: our probe function
 * @tp: the tracepoint, once found
 */
struct dbos_tracepoint {
	const char *name;
	void *probe;
	struct tracepoint *tp;
};

static struct dbos_tracepoint dbos_tracepoints[] = {
	{ .name = "sched_process_fork", .probe = dbos_probe_fork },
	{ .name = "sched_process_exec", .probe = dbos_probe_exec },
	{ .name = "sched_process_exit", .probe = dbos_probe_exit },
	{ .name = "task_rename", .probe = dbos_probe_rename },
};

static void dbos_find_tracepoint(struct tracepoint *tp, void *priv)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(dbos_tracepoints); i++)
		if (!strcmp(tp->name, dbos_tracepoints[i].name))
			dbos_tracepoints[i].tp = tp;
}

static void dbos_tracepoints_unregister(int n)
{
	while (n--)
		tracepoint_probe_unregister(dbos_tracepoints[n].tp,
					    dbos_tracepoints[n].probe, NULL);
	/* No CPU is inside a probe of ours after this. */
	tracepoint_synchronize_unregister();
}

/* Attach every hook: the CRED kretprobe first, then the tracepoints. */
int __init dbos_hooks_init(void)
{
	int i, ret;

	for_each_kernel_tracepoint(dbos_find_tracepoint, NULL);
	for (i = 0; i < ARRAY_SIZE(dbos_tracepoints); i++) {
		if (!dbos_tracepoints[i].tp) {
			pr_err("tracepoint %s not found\n",
			       dbos_tracepoints[i].name);
			return -ENOENT;
		}
	}

	/*
	 * commit_creds() can sleep (keyrings), so several tasks per CPU may
	 * be inside it at once; be generous with return instances.
	 */
	dbos_cred_probe.maxactive = 64 + 4 * num_possible_cpus();
	ret = register_kretprobe(&dbos_cred_probe);
	if (ret)
		pr_warn("cannot probe commit_creds (%d): no CRED records\n", ret);
	dbos_cred_probe_registered = !ret;

	for (i = 0; i < ARRAY_SIZE(dbos_tracepoints); i++) {
		ret = tracepoint_probe_register(dbos_tracepoints[i].tp,
						dbos_tracepoints[i].probe, NULL);
		if (ret) {
			pr_err("cannot attach to %s (%d)\n",
			       dbos_tracepoints[i].name, ret);
			goto err;
		}
	}
	return 0;

err:
	dbos_tracepoints_unregister(i);
	if (dbos_cred_probe_registered)
		unregister_kretprobe(&dbos_cred_probe);
	return ret;
}

/* Events the CRED kretprobe missed (no free instance). */
u64 dbos_hooks_missed(void)
{
	if (!dbos_cred_probe_registered)
		return 0;
	return READ_ONCE(dbos_cred_probe.nmissed) +
	       READ_ONCE(dbos_cred_probe.kp.nmissed);
}

/* Detach every hook and wait until none is running. */
void dbos_hooks_uninit(void)
{
	dbos_tracepoints_unregister(ARRAY_SIZE(dbos_tracepoints));
	if (dbos_cred_probe_registered)
		unregister_kretprobe(&dbos_cred_probe);
}
