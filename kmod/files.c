// SPDX-License-Identifier: GPL-2.0
/*
 * files.c - where dbos watches file descriptors and sockets.
 *
 *   fd_install (kretprobe)      FD_OPEN (+ SOCK_INFO for a socket, or
 *                               SOCK_ACCEPT inside accept()), once the fd
 *                               is visible
 *   do_dup2 (kretprobe)         FD_CLOSE of the target's old file, then
 *                               FD_OPEN of the target fd (+ SOCK_INFO)
 *   pick_file (kretprobe)       FD_CLOSE: close(), close_range()
 *   do_close_on_exec (kprobe)   FD_CLOSE of every close-on-exec fd at exec
 *   __sys_bind/listen/connect (kretprobes)
 *                               SOCK_BIND/LISTEN/CONNECT
 *   inet_sock_set_state (tp)    SOCK_STATE: TCP state changes
 *
 * Every fd hook concerns current's own table (current->files): pid is
 * current's tgid. Hooks never sleep or allocate; they take only the locks
 * named in their comments. Records go through fdrec.c, after the kind filter
 * (filter.c); held-back records are counted.
 */

#include "files.h"
#include "fdrec.h"
#include "filter.h"
#include "shared.h"
#include "dbos_uapi.h"

#include <linux/compat.h>
#include <linux/errno.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/net.h>
#include <linux/ptrace.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task_stack.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <linux/unistd.h>
#include <net/sock.h>
#include <asm/syscall.h>

/* Kind filter check, counting what it holds back. */
static bool dbos_kind_pass(u16 kind)
{
	if (dbos_filter_kind(kind))
		return true;
	dbos_filter_count();
	return false;
}

/*
 * Whether current is in accept() or accept4(): the fd being installed is
 * the accepted connection. Read from the syscall number in current's user
 * registers rather than from a kretprobe on __sys_accept4(), which would
 * hold one of its instances for as long as accept() blocks: threads
 * blocked in accept() (any user can start them) used up the pool, and the
 * misses made dbosd re-sync. 32-bit callers (socketcall) and io_uring get
 * SOCK_INFO: the same state, no 'accept' history row.
 */
static bool dbos_in_accept(void)
{
	long nr;

	if (in_compat_syscall() || (current->flags & PF_KTHREAD))
		return false;
	nr = syscall_get_nr(current, task_pt_regs(current));
	return nr == __NR_accept || nr == __NR_accept4;
}

struct dbos_shared_rec {
	u16 type;
	const struct dbos_fd *rec;
	const struct path *path;
};

static void dbos_shared_one(pid_t tgid, void *arg)
{
	const struct dbos_shared_rec *r = arg;
	struct dbos_fd rec = *r->rec;

	rec.pid = tgid;
	dbos_fd_emit(r->type, &rec, r->path);
}

/*
 * The record @rec of current's table @files again for every other process
 * that uses the table (CLONE_FILES: shared.c), under the same lock.
 */
static void dbos_shared_emit(struct files_struct *files, u16 type,
			     const struct dbos_fd *rec, const struct path *path)
{
	struct dbos_shared_rec r = { type, rec, path };

	dbos_shared_each(files, dbos_shared_one, &r);
}

/*
 * @file, just installed as @fd in current's table and still there, gets its
 * FD_OPEN and, for a socket, SOCK_INFO. The FD_OPEN is emitted under
 * files->file_lock, after the lookup that found @file at @fd, so its seq is
 * taken after the fd was published and before any close of it (a close's
 * FD_CLOSE comes from pick_file or do_dup2, under the same lock): a dump
 * that missed the fd read its slot before the FD_OPEN's seq was taken
 * (fdump.c reads the counter first), and a close always comes after. The
 * SOCK_INFO follows outside the lock (dbos_sock_fill() takes unix state
 * locks), on a reference taken under it. @want NULL: whatever file is at @fd.
 */
static void dbos_emit_installed(unsigned int fd, const struct file *want)
{
	struct files_struct *files = current->files;
	struct dbos_sock_info si;
	struct file *file = NULL;
	struct fdtable *fdt;
	struct dbos_fd rec;
	struct sock *sk;

	if (!files)
		return;
	spin_lock(&files->file_lock);
	fdt = files_fdtable(files);
	if (fd < fdt->max_fds)
		file = rcu_dereference_protected(fdt->fd[fd],
				lockdep_is_held(&files->file_lock));
	if (!file || (want && file != want)) {
		/* Closed (and maybe reused) already: its close came first. */
		spin_unlock(&files->file_lock);
		return;
	}
	dbos_fd_fill(&rec, current->tgid, fd, file, test_bit(fd, fdt->close_on_exec));
	if (!dbos_kind_pass(rec.kind) ||
	    !dbos_fd_emit(DBOS_REC_FD_OPEN, &rec, &file->f_path)) {
		spin_unlock(&files->file_lock);
		return;
	}
	dbos_shared_emit(files, DBOS_REC_FD_OPEN, &rec, &file->f_path);
	if (!dbos_file_sock(file)) {
		spin_unlock(&files->file_lock);
		return;
	}
	get_file(file);
	spin_unlock(&files->file_lock);
	sk = dbos_file_sock(file);
	dbos_sock_fill(&si, sk, true);
	si.sock.pid = current->tgid;
	si.sock.fd = fd;
	si.sock.inode = file_inode(file)->i_ino;
	dbos_sock_emit(dbos_in_accept() ? DBOS_REC_SOCK_ACCEPT : DBOS_REC_SOCK_INFO, &si);
	fput(file);
}

/* FD_CLOSE of @fd of current's table (holding @file, kept alive by the caller). */
static void dbos_emit_close(unsigned int fd, const struct file *file)
{
	struct dbos_fd rec;

	dbos_fd_fill(&rec, current->tgid, fd, file, false);
	if (dbos_kind_pass(rec.kind) && dbos_fd_emit(DBOS_REC_FD_CLOSE, &rec, NULL))
		dbos_shared_emit(current->files, DBOS_REC_FD_CLOSE, &rec, NULL);
}

/**
 * struct dbos_fd_call - what an entry handler keeps for its return handler
 * @fd: the fd argument
 * @file: fd_install()'s file argument, only compared on return
 */
struct dbos_fd_call {
	unsigned int fd;
	const struct file *file;
};

/*
 * fd_install(fd, file) publishes @file as @fd in current's own table. The
 * entry only notes the arguments (@file is compared, never dereferenced, on
 * return: another thread may close the fd at once); the return emits, once
 * the fd is visible (dbos_emit_installed()).
 */
static int dbos_fd_install_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct dbos_fd_call *call = (struct dbos_fd_call *)ri->data;

	call->fd = regs_get_kernel_argument(regs, 0);
	call->file = (const struct file *)regs_get_kernel_argument(regs, 1);
	return 0;
}

static int dbos_fd_install_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct dbos_fd_call *call = (struct dbos_fd_call *)ri->data;

	if (call->file)
		dbos_emit_installed(call->fd, call->file);
	return 0;
}

static int dbos_stash_fd0(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	((struct dbos_fd_call *)ri->data)->fd = regs_get_kernel_argument(regs, 0);
	return 0;
}

static int dbos_stash_fd1(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	((struct dbos_fd_call *)ri->data)->fd = regs_get_kernel_argument(regs, 1);
	return 0;
}


/*
 * do_dup2(files, file, fd, flags) is entered with files->file_lock held (by
 * ksys_dup3() or replace_fd(), on current's table), fd < max_fds. Once past
 * the one failure (fd reserved but not installed: no file there), it always
 * replaces the file at @fd: that file, held by the table under the lock, is
 * closed, so FD_CLOSE it here.
 */
static int dbos_dup2_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct files_struct *files = (struct files_struct *)
				     regs_get_kernel_argument(regs, 0);
	unsigned int fd = regs_get_kernel_argument(regs, 2);
	struct fdtable *fdt;
	struct file *old;

	((struct dbos_fd_call *)ri->data)->fd = fd;
	fdt = files_fdtable(files);
	if (fd >= fdt->max_fds)
		return 0;
	old = rcu_dereference_protected(fdt->fd[fd],
					lockdep_is_held(&files->file_lock));
	if (old)
		dbos_emit_close(fd, old);
	return 0;
}

/*
 * do_dup2() returns fd once its file is installed there (and file_lock is
 * dropped); another thread may already have closed it again.
 */
static int dbos_dup2_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	unsigned int fd = ((struct dbos_fd_call *)ri->data)->fd;

	if (regs_return_value(regs) == fd)
		dbos_emit_installed(fd, NULL);
	return 0;
}

/*
 * pick_file(files, fd) returns the file it removed from the table, under
 * files->file_lock (held by its callers close_fd(), __range_close() and
 * close_fd_get_file(), all on current's table). The caller owns that
 * reference until it calls filp_close(), after we return.
 */
static int dbos_pick_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct file *file = (struct file *)regs_return_value(regs);

	if (file)
		dbos_emit_close(((struct dbos_fd_call *)ri->data)->fd, file);
	return 0;
}

/*
 * A FD_CLOSE for every fd of @files that holds a file and is open (or, with
 * @cloexec_only, has its close-on-exec bit set): they are about to be
 * closed. Under files->file_lock, which keeps the table's files alive;
 * process context, preemption disabled.
 */
static void dbos_emit_closes(struct files_struct *files, bool cloexec_only)
{
	struct fdtable *fdt;
	unsigned int fd;

	spin_lock(&files->file_lock);
	fdt = files_fdtable(files);
	for_each_set_bit(fd, cloexec_only ? fdt->close_on_exec : fdt->open_fds,
			 fdt->max_fds) {
		struct file *file = rcu_dereference_protected(fdt->fd[fd],
				lockdep_is_held(&files->file_lock));

		if (file)
			dbos_emit_close(fd, file);
	}
	spin_unlock(&files->file_lock);
}

/**
 * dbos_files_exit - the fds of an exiting process, closed as it dies
 *
 * From the exit tracepoint (current exiting, before exit_files()): when
 * current is the last user of its fd table, every fd it holds is about to be
 * closed, so each gets its FD_CLOSE now, before the EXIT record, and
 * file_events has a close for every fd a process held when it died. A table
 * still shared (CLONE_FILES with another process, or two last threads
 * exiting at once) has a count above one: no records; the server drops the
 * rows at the exit without close rows.
 */
void dbos_files_exit(void)
{
	struct files_struct *files = current->files;

	if (files && atomic_read(&files->count) == 1)
		dbos_emit_closes(files, false);
}

/*
 * do_close_on_exec(files) at entry: exec has unshared @files (it is
 * current's own); every fd with its close-on-exec bit set is about to be
 * closed (the function takes files->file_lock as dbos_emit_closes() does).
 * Process context with preemption disabled (ftrace kprobe).
 */
static int dbos_close_on_exec(struct kprobe *p, struct pt_regs *regs)
{
	dbos_emit_closes((struct files_struct *)regs_get_kernel_argument(regs, 0),
			 true);
	return 0;
}

/*
 * Return of __sys_bind/listen/connect(fd, ...): on success look the socket fd up with fget() (a held file
 * keeps its socket and sock alive), emit, fput(). Process context,
 * preemption disabled; the unix state locks are free (the call returned).
 */
static void dbos_sock_ret(u16 type, unsigned int fd)
{
	struct dbos_sock_info si;
	struct file *file;
	struct sock *sk;

	file = fget(fd);
	if (!file)
		return;
	sk = dbos_file_sock(file);
	if (sk) {
		if (dbos_kind_pass(DBOS_FILE_SOCK)) {
			dbos_sock_fill(&si, sk, true);
			si.sock.pid = current->tgid;
			si.sock.fd = fd;
			si.sock.inode = file_inode(file)->i_ino;
			dbos_sock_emit(type, &si);
		}
	}
	fput(file);
}

static int dbos_bind_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	if (!regs_return_value(regs))
		dbos_sock_ret(DBOS_REC_SOCK_BIND,
			      ((struct dbos_fd_call *)ri->data)->fd);
	return 0;
}

static int dbos_listen_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	if (!regs_return_value(regs))
		dbos_sock_ret(DBOS_REC_SOCK_LISTEN,
			      ((struct dbos_fd_call *)ri->data)->fd);
	return 0;
}

static int dbos_connect_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	long ret = regs_return_value(regs);

	if (!ret || ret == -EINPROGRESS)
		dbos_sock_ret(DBOS_REC_SOCK_CONNECT,
			      ((struct dbos_fd_call *)ri->data)->fd);
	return 0;
}

/*
 * inet_sock_set_state(sk, oldstate, newstate): called with @sk locked (or
 * owned), in process or softirq context, before sk_state changes. The
 * struct socket (and its inode) is RCU-freed and sk->sk_socket is cleared
 * when the sock is orphaned: read it under rcu_read_lock() and skip sockets
 * without one (not yet accepted, or closed).
 */
static void dbos_probe_sock_state(void *data, const struct sock *csk,
				  const int oldstate, const int newstate)
{
	struct sock *sk = (struct sock *)csk;
	struct dbos_sock_info si;
	struct socket *sock;

	if (!dbos_kind_pass(DBOS_FILE_SOCK))
		return;
	dbos_sock_fill(&si, sk, false);
	rcu_read_lock();
	sock = READ_ONCE(sk->sk_socket);
	if (sock)
		si.sock.inode = SOCK_INODE(sock)->i_ino;
	rcu_read_unlock();
	if (!sock)
		return;
	si.sock.state = newstate;
	si.sock.oldstate = oldstate;
	si.sock.pid = in_task() ? current->tgid : 0;
	dbos_sock_emit(DBOS_REC_SOCK_STATE, &si);
}

static struct kprobe dbos_kprobes[] = {
	{ .symbol_name = "do_close_on_exec", .pre_handler = dbos_close_on_exec },
};

#define DBOS_KRETPROBE(sym, entry, ret) {				\
	.kp.symbol_name = sym,						\
	.entry_handler = entry,						\
	.handler = ret,							\
	.data_size = sizeof(struct dbos_fd_call),			\
}

static struct kretprobe dbos_kretprobes[] = {
	DBOS_KRETPROBE("fd_install", dbos_fd_install_entry, dbos_fd_install_ret),
	DBOS_KRETPROBE("do_dup2", dbos_dup2_entry, dbos_dup2_ret),
	DBOS_KRETPROBE("pick_file", dbos_stash_fd1, dbos_pick_ret),
	DBOS_KRETPROBE("__sys_bind", dbos_stash_fd0, dbos_bind_ret),
	DBOS_KRETPROBE("__sys_listen", dbos_stash_fd0, dbos_listen_ret),
	DBOS_KRETPROBE("__sys_connect", dbos_stash_fd0, dbos_connect_ret),
};

static struct tracepoint *dbos_sock_tp;

static void dbos_find_sock_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "inet_sock_set_state"))
		dbos_sock_tp = tp;
}

/* Only written at init and unload: which probes are attached. */
static bool dbos_kprobe_on[ARRAY_SIZE(dbos_kprobes)];
static bool dbos_kretprobe_on[ARRAY_SIZE(dbos_kretprobes)];
static bool dbos_sock_tp_on;

/* Events missed by the probes: DBOS_STATS_MISSED. Any context. */
u64 dbos_files_missed(void)
{
	u64 n = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(dbos_kprobes); i++)
		n += READ_ONCE(dbos_kprobes[i].nmissed);
	for (i = 0; i < ARRAY_SIZE(dbos_kretprobes); i++)
		n += READ_ONCE(dbos_kretprobes[i].nmissed) +
		     READ_ONCE(dbos_kretprobes[i].kp.nmissed);
	return n;
}

/*
 * Attach every hook; one that cannot be attached is logged and left out
 * (its records are missing), as hooks.c does for commit_creds. The fd hooks
 * must all be there for the fd mirror to be exact, so a missing one is an
 * error.
 */
int dbos_files_init(void)
{
	int i, ret;

	for_each_kernel_tracepoint(dbos_find_sock_tp, NULL);
	for (i = 0; i < ARRAY_SIZE(dbos_kprobes); i++) {
		ret = register_kprobe(&dbos_kprobes[i]);
		if (ret) {
			pr_err("cannot probe %s (%d)\n",
			       dbos_kprobes[i].symbol_name, ret);
			goto err;
		}
		dbos_kprobe_on[i] = true;
	}
	for (i = 0; i < ARRAY_SIZE(dbos_kretprobes); i++) {
		struct kretprobe *rp = &dbos_kretprobes[i];

		/* connect() blocks: many calls per CPU at once (README, limits). */
		rp->maxactive = 64 + 8 * num_possible_cpus();
		ret = register_kretprobe(rp);
		if (ret) {
			pr_err("cannot probe %s (%d)\n", rp->kp.symbol_name, ret);
			goto err;
		}
		dbos_kretprobe_on[i] = true;
	}
	if (!dbos_sock_tp) {
		pr_warn("tracepoint inet_sock_set_state not found: no SOCK_STATE records\n");
		return 0;
	}
	ret = tracepoint_probe_register(dbos_sock_tp, dbos_probe_sock_state, NULL);
	if (ret) {
		pr_err("cannot attach to inet_sock_set_state (%d)\n", ret);
		goto err;
	}
	dbos_sock_tp_on = true;
	return 0;

err:
	dbos_files_uninit();
	return ret;
}

/* Detach every hook and wait until none is running. */
void dbos_files_uninit(void)
{
	int i;

	if (dbos_sock_tp_on) {
		tracepoint_probe_unregister(dbos_sock_tp, dbos_probe_sock_state,
					    NULL);
		dbos_sock_tp_on = false;
	}
	/* No CPU is inside the tracepoint probe after this. */
	tracepoint_synchronize_unregister();
	for (i = 0; i < ARRAY_SIZE(dbos_kretprobes); i++) {
		if (dbos_kretprobe_on[i])
			unregister_kretprobe(&dbos_kretprobes[i]);
		dbos_kretprobe_on[i] = false;
	}
	for (i = 0; i < ARRAY_SIZE(dbos_kprobes); i++) {
		if (dbos_kprobe_on[i])
			unregister_kprobe(&dbos_kprobes[i]);
		dbos_kprobe_on[i] = false;
	}
}
