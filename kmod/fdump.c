// SPDX-License-Identifier: GPL-2.0
/*
 * fdump.c - DBOS_CMD_DUMP_FILES: snapshots of every process's open files.
 *
 * Walks processes in ascending tgid order (genl.c's helpers), and each one's
 * fd table in ascending fd order, one fd at a time: task_lock() + RCU to find
 * the next open fd and take a reference on its file, then d_path() and the
 * socket (fdrec.c) in process context with no lock held.
 */

#include "fdump.h"
#include "fdrec.h"
#include "filter.h"
#include "genl.h"
#include "record.h"
#include "dbos_uapi.h"

#include <linux/capability.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/timekeeping.h>
#include <linux/version.h>
#include <net/genetlink.h>
#include <net/netlink.h>

/*
 * State of one DUMP_FILES, from .start to .done, in cb->args[0].
 * @task: the process being walked, referenced; NULL between processes
 * @next_tgid: the next tgid to look for (whole-system dumps)
 * @one: DBOS_A_PID was given: only @task
 * @esrch: ... but there is no such process
 * @fd: the next fd of @task to read
 * @pending: bytes of records in @rec that did not fit the last message
 * @rec: an FD record, and for a socket the SOCK record after it
 * @tmp: scratch for d_path()
 */
struct dbos_fdump {
	struct task_struct *task;
	unsigned long next_tgid;
	bool one;
	bool esrch;
	u32 fd;
	u32 pending;
	u8 rec[DBOS_FD_REC_MAX + DBOS_SOCK_REC_MAX] __aligned(8);
	char tmp[DBOS_PATH_MAX];
};

int dbos_fdump_start(struct netlink_callback *cb)
{
	const struct genl_dumpit_info *info = genl_dumpit_info(cb);
	struct nlattr *pid = info->attrs[DBOS_A_PID];
	struct dbos_fdump *d;
	int ret;

	ret = dbos_dump_capable(cb);
	if (ret)
		return ret < 0 ? ret : 0;	/* 1: refused by dbos_dump_files() */
	d = kvzalloc(sizeof(*d), GFP_KERNEL);
	if (!d) {
		NL_SET_ERR_MSG(cb->extack, "out of memory");
		return -ENOMEM;
	}
	d->next_tgid = 1;
	if (pid) {
		d->one = true;
		d->task = dbos_get_tgid(nla_get_u32(pid));
		/* Failed in dumpit: start has no extack to explain it in. */
		d->esrch = !d->task;
	}
	cb->args[0] = (unsigned long)d;
	/* Every message must be able to hold an FD and a SOCK record. */
	cb->min_dump_alloc = sizeof(d->rec) + DBOS_MSG_OVERHEAD;
	return 0;
}

int dbos_fdump_done(struct netlink_callback *cb)
{
	struct dbos_fdump *d = (struct dbos_fdump *)cb->args[0];

	if (d && d->task)
		put_task_struct(d->task);
	kvfree(d);
	return 0;
}

/*
 * The file at @task's lowest open fd >= *@fd, referenced (fput() it), with
 * *@fd set to that fd; NULL when there is none. task_lock() keeps
 * task->files from going away (exit_files() clears it under that lock), RCU
 * keeps the fdtable and the file's memory, and the reference is taken only
 * if the file is not already on its way out.
 *
 * A process whose every thread is past the point of no return in do_exit()
 * (signal->live 0) has none: its EXIT record is taken between that point
 * and exit_files(), so a snapshot of its fds there would be newer than its
 * EXIT and outlive it as rows of a dead process (the debug kernel's wide
 * exit path showed them after kill -9 storms). If live was still above 0,
 * the EXIT's seq comes after the one the caller read, and the EXIT removes
 * what this snapshot shows.
 */
static struct file *dbos_task_next_file(struct task_struct *task, u32 *fd,
					bool *cloexec)
{
	struct files_struct *files;
	struct file *file = NULL;
	struct fdtable *fdt;

	task_lock(task);
	files = task->files;
	if (!files || !atomic_read(&task->signal->live))
		goto out;
	rcu_read_lock();
	for (;; (*fd)++) {
		fdt = files_fdtable(files);
		*fd = find_next_bit(fdt->open_fds, fdt->max_fds, *fd);
		if (*fd >= fdt->max_fds)
			break;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
		file = get_file_rcu(&fdt->fd[*fd]);
#else
		file = files_lookup_fd_rcu(files, *fd);
		if (file && !get_file_rcu(file))
			file = NULL;
#endif
		if (file) {
			*cloexec = test_bit(*fd, fdt->close_on_exec);
			break;
		}
	}
	rcu_read_unlock();
out:
	task_unlock(task);
	return file;
}

/*
 * Records for @file at d->fd of d->task into d->rec: FD, then SOCK for a
 * socket. Return: their length, 0 when the filter holds them back.
 */
static u32 dbos_fdump_file(struct dbos_fdump *d, struct file *file,
			   bool cloexec, u64 seq)
{
	struct dbos_sock_info si;
	struct dbos_rec_hdr *hdr;
	struct sock *sk;
	u32 len;

	if (!dbos_filter_kind(dbos_file_kind(file_inode(file)->i_mode))) {
		dbos_filter_count();
		return 0;
	}
	len = dbos_fd_snapshot(d->rec, d->tmp, task_tgid_nr(d->task), d->fd,
			       file, cloexec, seq);
	sk = dbos_file_sock(file);
	if (!len || !sk)
		return len;
	dbos_sock_fill(&si, sk, true);
	si.sock.fd = d->fd;
	si.sock.inode = file_inode(file)->i_ino;
	hdr = (struct dbos_rec_hdr *)(d->rec + len);
	len += dbos_sock_rec_put(hdr, DBOS_REC_SOCK, 0, &si);
	hdr->cpu = raw_smp_processor_id();
	hdr->seq = seq;
	hdr->time_ns = ktime_get_real_ns();
	return len;
}

/* Fill d->rec with the next fd's records; false when the dump is over. */
static bool dbos_fdump_next(void *arg)
{
	struct dbos_fdump *d = arg;
	struct file *file;
	bool cloexec;
	u64 seq;

	for (;;) {
		if (!d->task) {
			if (d->one)
				return false;
			d->task = dbos_next_tgid(&d->next_tgid);
			if (!d->task)
				return false;
			d->fd = 0;
		}
		seq = atomic64_read(&dbos_seq);
		/* Pairs with the full barrier of atomic64_inc_return() in the hooks. */
		smp_rmb();
		file = dbos_task_next_file(d->task, &d->fd, &cloexec);
		if (!file) {
			put_task_struct(d->task);
			d->task = NULL;
			continue;
		}
		d->pending = dbos_fdump_file(d, file, cloexec, seq);
		fput(file);
		d->fd++;
		if (d->pending)
			return true;
		cond_resched();
	}
}

int dbos_dump_files(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct dbos_fdump *d = (struct dbos_fdump *)cb->args[0];

	if (!d)
		return dbos_dump_refuse(cb);
	if (d->esrch) {
		NL_SET_ERR_MSG(cb->extack, "no process with this pid");
		return -ESRCH;
	}
	return dbos_genl_dump_records(skb, cb, dbos_fdump_next, d, d->rec,
				      &d->pending);
}
