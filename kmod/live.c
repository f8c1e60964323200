// SPDX-License-Identifier: GPL-2.0
/*
 * live.c - DBOS_CMD_GET_LIVE: what /proc shows now of listed processes, for
 * the columns no event keeps current (state, memory, CPU time, I/O, process
 * group, saved ids, working and root directory, cgroup, executable on disk).
 *
 * A dump over the pids of the request, in the order given: each one is looked
 * up, read in process context with no lock held across the read but the ones
 * /proc takes (task_lock for fs, the mm's reference, RCU for the threads and
 * credentials, the group's prev_cputime lock), and becomes one DBOS_REC_LIVE
 * record. A pid with no process gives no record. Only the parts the request
 * names are read (the thread walks, the mm, the paths and the cgroup path,
 * under cgroup's lock, are what a record costs).
 */

#include "live.h"
#include "genl.h"
#include "record.h"
#include "dbos_uapi.h"

#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/fs_struct.h>
#include <linux/math64.h>
#include <linux/mm.h>
#include <linux/nsproxy.h>
#include <linux/pid_namespace.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/timekeeping.h>
#include <net/genetlink.h>
#include <net/netlink.h>

/* Longest LIVE record: three paths. */
#define DBOS_LIVE_REC_MAX DBOS_REC_ALIGN(sizeof(struct dbos_rec_hdr) +	\
					 sizeof(struct dbos_live) +	\
					 3 * (DBOS_PATH_MAX - 1))

/*
 * State of one GET_LIVE, from .start to .done, in cb->args[0].
 * @bad: why the request is refused (said by the first .dumpit), or NULL
 * @npids: pids in @pids; @next: the next one to read
 * @fields: the DBOS_LIVE_F_* parts to read
 * @pending: length of a record in @rec that did not fit the last message
 */
struct dbos_live_dump {
	const char *bad;
	u32 npids;
	u32 next;
	u32 fields;
	u32 pending;
	u32 pids[DBOS_LIVE_PIDS_MAX];
	u8 rec[DBOS_LIVE_REC_MAX] __aligned(8);
	char tmp[DBOS_PATH_MAX];
};

static_assert(sizeof(struct dbos_live) == 96);
static_assert(DBOS_LIVE_REC_MAX <= U16_MAX);	/* hdr.len */

int dbos_live_start(struct netlink_callback *cb)
{
	const struct genl_dumpit_info *info = genl_dumpit_info(cb);
	struct nlattr *pids = info->attrs[DBOS_A_PIDS];
	struct dbos_live_dump *d;
	int ret;

	ret = dbos_dump_capable(cb);
	if (ret)
		return ret < 0 ? ret : 0;	/* 1: refused by dbos_get_live() */
	d = kvzalloc(sizeof(*d), GFP_KERNEL);
	if (!d) {
		NL_SET_ERR_MSG(cb->extack, "out of memory");
		return -ENOMEM;
	}
	/* The policy bounds the length; .start has no extack to say more. */
	if (!pids)
		d->bad = "DBOS_A_PIDS is required";
	else if (nla_len(pids) % sizeof(u32))
		d->bad = "DBOS_A_PIDS must be whole u32 tgids";
	else {
		d->npids = nla_len(pids) / sizeof(u32);
		memcpy(d->pids, nla_data(pids), d->npids * sizeof(u32));
	}
	d->fields = info->attrs[DBOS_A_LIVE_FIELDS] ?
		    nla_get_u32(info->attrs[DBOS_A_LIVE_FIELDS]) : DBOS_LIVE_F_ALL;
	cb->args[0] = (unsigned long)d;
	cb->min_dump_alloc = DBOS_LIVE_REC_MAX + DBOS_MSG_OVERHEAD;
	return 0;
}

int dbos_live_done(struct netlink_callback *cb)
{
	kvfree((void *)cb->args[0]);
	return 0;
}

/*
 * CPU time of every thread of @task's group, living and dead, scaled as
 * /proc/PID/stat scales it: the precise runtime split in the ratio of the
 * sampled user and system time, never going backwards (the group's
 * prev_cputime, shared with /proc, under its lock).
 */
static void dbos_live_cputime(struct task_struct *task, u64 *ut, u64 *st)
{
	struct signal_struct *sig = task->signal;
	struct prev_cputime *prev = &sig->prev_cputime;
	u64 utime, stime, rtime;
	struct task_struct *t;
	unsigned long flags;
	unsigned int seq;

	rcu_read_lock();
	do {
		seq = read_seqbegin(&sig->stats_lock);
		utime = sig->utime;
		stime = sig->stime;
		rtime = sig->sum_sched_runtime;
		for_each_thread(task, t) {
			utime += READ_ONCE(t->utime);
			stime += READ_ONCE(t->stime);
			rtime += READ_ONCE(t->se.sum_exec_runtime);
		}
	} while (read_seqretry(&sig->stats_lock, seq));
	rcu_read_unlock();

	raw_spin_lock_irqsave(&prev->lock, flags);
	if (prev->stime + prev->utime < rtime) {
		if (!stime)
			utime = rtime;
		else if (!utime)
			stime = rtime;
		else
			stime = min(rtime, mul_u64_u64_div_u64(stime, rtime,
							       stime + utime));
		if (stime < prev->stime)
			stime = prev->stime;
		utime = rtime - stime;
		if (utime < prev->utime) {
			utime = prev->utime;
			stime = rtime - utime;
		}
		prev->stime = stime;
		prev->utime = utime;
	}
	*ut = prev->utime;
	*st = prev->stime;
	raw_spin_unlock_irqrestore(&prev->lock, flags);
}

/* Storage bytes read and written by every thread, living and dead (/proc/PID/io). */
static void dbos_live_io(struct task_struct *task, struct dbos_live *live)
{
#ifdef CONFIG_TASK_IO_ACCOUNTING
	struct task_struct *t;

	rcu_read_lock();
	live->read_bytes = READ_ONCE(task->signal->ioac.read_bytes);
	live->write_bytes = READ_ONCE(task->signal->ioac.write_bytes);
	for_each_thread(task, t) {
		live->read_bytes += READ_ONCE(t->ioac.read_bytes);
		live->write_bytes += READ_ONCE(t->ioac.write_bytes);
	}
	rcu_read_unlock();
#endif
}

/* Memory sizes and the executable's presence, from @task's mm if it has one. */
static void dbos_live_mm(struct task_struct *task, struct dbos_live *live)
{
	struct mm_struct *mm = get_task_mm(task);
	struct file *exe;

	live->on_disk = -1;
	if (!mm)
		return;
	live->resident_bytes = (u64)get_mm_rss(mm) << PAGE_SHIFT;
	live->total_bytes = (u64)READ_ONCE(mm->total_vm) << PAGE_SHIFT;
	live->locked_bytes = (u64)READ_ONCE(mm->locked_vm) << PAGE_SHIFT;
	exe = dbos_mm_exe_file(mm);
	if (exe) {
		live->on_disk = !d_unlinked(exe->f_path.dentry);
		fput(exe);
	}
	mmput(mm);
}

/* @task's working (@root false) or root directory into @dst; its length. */
static u16 dbos_live_fs(struct task_struct *task, bool root, char *dst,
			char *tmp)
{
	struct path path = {};
	u16 flags = 0;
	u32 len;

	task_lock(task);
	if (task->fs) {
		if (root)
			get_fs_root(task->fs, &path);
		else
			get_fs_pwd(task->fs, &path);
	}
	task_unlock(task);
	if (!path.mnt)
		return 0;
	len = dbos_snapshot_path(&path, dst, tmp, &flags);
	path_put(&path);
	return len;
}

/* @task's cgroup v2 path as the initial cgroup namespace shows it, into @dst. */
static u16 dbos_live_cgroup(struct task_struct *task, char *dst)
{
#ifdef CONFIG_CGROUPS
	struct cgroup *cgrp;
	int len;

	rcu_read_lock();
	cgrp = task_dfl_cgroup(task);
	if (!cgroup_tryget(cgrp))
		cgrp = NULL;
	rcu_read_unlock();
	if (!cgrp)
		return 0;
	len = cgroup_path_ns(cgrp, dst, DBOS_PATH_MAX,
			     init_task.nsproxy->cgroup_ns);
	cgroup_put(cgrp);
	return len > 0 && len < DBOS_PATH_MAX ? len : 0;
#else
	return 0;
#endif
}

/* Writes @task's LIVE record into d->rec; its length. Process context; sleeps. */
static u32 dbos_live_record(struct task_struct *task, struct dbos_live_dump *d)
{
	struct dbos_rec_hdr *hdr = (struct dbos_rec_hdr *)d->rec;
	struct dbos_live *live = (struct dbos_live *)(hdr + 1);
	char *str = (char *)(live + 1);
	const struct cred *cred;
	u32 used, len;
	u64 seq;

	might_sleep();
	seq = atomic64_read(&dbos_seq);
	smp_rmb();	/* pairs with the hooks' atomic64_inc_return() */

	memset(hdr, 0, sizeof(*hdr) + sizeof(*live));
	rcu_read_lock();
	cred = __task_cred(task);
	live->pid = task_tgid_nr(task);
	live->pgid = task_pgrp_nr_ns(task, &init_pid_ns);
	live->suid = from_kuid_munged(&init_user_ns, cred->suid);
	live->sgid = from_kgid_munged(&init_user_ns, cred->sgid);
	rcu_read_unlock();
	live->state = task_state_to_char(task);
	live->start_time_ns = dbos_boot_to_real(task->start_boottime);
	live->fields = d->fields;
	if (d->fields & DBOS_LIVE_F_CPU)
		dbos_live_cputime(task, &live->user_ns, &live->system_ns);
	if (d->fields & DBOS_LIVE_F_IO)
		dbos_live_io(task, live);
	if (d->fields & DBOS_LIVE_F_MM)
		dbos_live_mm(task, live);
	if (d->fields & DBOS_LIVE_F_CWD)
		live->cwd_len = dbos_live_fs(task, false, str, d->tmp);
	if (d->fields & DBOS_LIVE_F_ROOT)
		live->root_len = dbos_live_fs(task, true, str + live->cwd_len,
					      d->tmp);
	if (d->fields & DBOS_LIVE_F_CGROUP) {
		live->cgroup_len = dbos_live_cgroup(task, d->tmp);
		memcpy(str + live->cwd_len + live->root_len, d->tmp,
		       live->cgroup_len);
	}

	used = sizeof(*hdr) + sizeof(*live) + live->cwd_len + live->root_len +
	       live->cgroup_len;
	len = DBOS_REC_ALIGN(used);
	memset(d->rec + used, 0, len - used);
	dbos_hdr_put(hdr, DBOS_REC_LIVE, 0, len);
	hdr->cpu = raw_smp_processor_id();
	hdr->seq = seq;
	hdr->time_ns = ktime_get_real_ns();
	return len;
}

/* The next listed process that exists, into d->rec; false after the last pid. */
static bool dbos_live_next(void *arg)
{
	struct dbos_live_dump *d = arg;
	struct task_struct *task = NULL;

	while (!task && d->next < d->npids)
		task = dbos_get_tgid(d->pids[d->next++]);
	if (!task)
		return false;
	d->pending = dbos_live_record(task, d);
	put_task_struct(task);
	return true;
}

int dbos_get_live(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct dbos_live_dump *d = (struct dbos_live_dump *)cb->args[0];

	if (!d)
		return dbos_dump_refuse(cb);
	if (d->bad) {
		/* a string literal: static storage, as extack wants */
		if (cb->extack)
			cb->extack->_msg = d->bad;
		return -EINVAL;
	}
	return dbos_genl_dump_records(skb, cb, dbos_live_next, d, d->rec,
				      &d->pending);
}
