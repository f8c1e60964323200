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
 *   __sys_bind/listen (kretprobes)
 *                               SOCK_BIND/LISTEN
 *   __sys_connect (kretprobe)   SOCK_CONNECT of the connects that cannot
 *                               block (UDP, raw, ping, unix datagram,
 *                               netlink, ...; other stream families only
 *                               with O_NONBLOCK); skips the rest at entry,
 *                               holding no instance while they run
 *   tcp_v4/v6_connect (kretprobes)
 *                               SOCK_CONNECT of TCP, once the SYN is sent
 *                               (before connect() waits for the handshake)
 *   security_unix_stream_connect (kretprobe)
 *                               SOCK_CONNECT of unix stream/seqpacket, once
 *                               it can no longer fail (after any wait for
 *                               the listener's backlog)
 *   inet_sock_set_state (tp)    SOCK_STATE: TCP state changes
 *
 * No kretprobe instance is held while a call waits for another party (a
 * peer, a backlog, a handshake: a blocked connect() or accept()): the pool
 * is shared by every user, and a miss makes dbosd re-sync. What is left is
 * the path lookup of a unix bind() or datagram connect() to a name on a
 * filesystem that can stall (FUSE): README, limits. connect()'s fd comes
 * from the syscall's arguments in current's user registers
 * (dbos_connect_fd()) and is only used when it holds the very sock the
 * hook saw.
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
#include <linux/uaccess.h>
#include <linux/unistd.h>
#include <net/sock.h>
#include <asm/syscall.h>

/*
 * The kretprobes, in dbos_kretprobes[] (defined with the handlers below).
 * The connect hooks are optional: one that cannot be attached (a kernel
 * without the function) leaves its sockets to __sys_connect's return.
 */
enum {
	DBOS_RP_FD_INSTALL,
	DBOS_RP_DUP2,
	DBOS_RP_PICK,
	DBOS_RP_BIND,
	DBOS_RP_LISTEN,
	DBOS_RP_TCP4,
	DBOS_RP_TCP6,
	DBOS_RP_UNIX,
	DBOS_RP_CONNECT,	/* after the three it leaves sockets to */
	DBOS_RP_COUNT,
};
static struct kretprobe dbos_kretprobes[DBOS_RP_COUNT];
/*
 * Which kretprobes are attached: written at init and unload, read by
 * dbos_connect_entry() meanwhile (READ_ONCE/WRITE_ONCE, no lock).
 */
static bool dbos_kretprobe_on[DBOS_RP_COUNT];

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

/*
 * The fd argument of the connect() current is in, or -1 when current is
 * not in connect() (another syscall connecting a socket, such as sendto()
 * with MSG_FASTOPEN, io_uring, a kernel thread). Read from the syscall
 * number and arguments saved in current's user registers at syscall entry;
 * a 32-bit socketcall(SYS_CONNECT, args) passes them in user memory, read
 * without faulting. Callers use the fd only if it holds the sock they saw
 * (dbos_connect_emit()), so a value changed by another thread meanwhile
 * costs at most the record. Process context, any preemption state.
 */
static int dbos_connect_fd(void)
{
	struct pt_regs *regs;
	unsigned long args[6];
	long nr;

	if (current->flags & (PF_KTHREAD | PF_IO_WORKER))
		return -1;
	regs = task_pt_regs(current);
	nr = syscall_get_nr(current, regs);
	syscall_get_arguments(current, regs, args);
#if defined(CONFIG_IA32_EMULATION) && defined(__NR_ia32_connect)
	if (in_ia32_syscall()) {
		u32 fd;

		if (nr == __NR_ia32_connect)
			return (int)(u32)args[0];
		if (nr == __NR_ia32_socketcall && args[0] == SYS_CONNECT &&
		    !copy_from_user_nofault(&fd, compat_ptr(args[1]), sizeof(fd)))
			return (int)fd;
		return -1;
	}
#endif
#ifdef __X32_SYSCALL_BIT
	nr &= ~__X32_SYSCALL_BIT;
#endif
	return nr == __NR_connect ? (int)args[0] : -1;
}

/*
 * SOCK_CONNECT of @sk, which current's connect(@fd, ...) is connecting, from
 * a hook inside the call (the socket lock, or for unix the state locks of
 * @sk and of @listener, held by the caller: nothing here takes a lock on the
 * sock). @listener: the unix listener of a stream connect that is about to
 * succeed (dbos_unix_connecting()), NULL for TCP. The fd is looked up with
 * fget() (RCU and a reference, no lock) and must hold @sk. Process context,
 * preemption disabled.
 */
static void dbos_connect_emit(int fd, struct sock *sk, struct sock *listener)
{
	struct dbos_sock_info si;
	struct file *file;

	if (fd < 0 || !dbos_kind_pass(DBOS_FILE_SOCK))
		return;
	file = fget(fd);
	if (!file)
		return;
	if (dbos_file_sock(file) == sk) {
		dbos_sock_fill(&si, sk, false);
		if (listener)
			dbos_unix_connecting(&si, listener);
		si.sock.pid = current->tgid;
		si.sock.fd = fd;
		si.sock.inode = file_inode(file)->i_ino;
		dbos_sock_emit(DBOS_REC_SOCK_CONNECT, &si);
	}
	fput(file);
}

/**
 * struct dbos_connect_call - what a connect hook's entry keeps for its return
 * @sk: the sock being connected
 * @listener: unix: the listener it connects to
 * @fd: the fd argument of the connect() current is in
 */
struct dbos_connect_call {
	struct sock *sk;
	struct sock *listener;
	int fd;
};

/*
 * tcp_v4_connect(sk, uaddr, len), tcp_v6_connect(): sk->sk_prot->connect
 * of TCP, called by __inet_stream_connect() with the socket lock owned.
 * They send the SYN (or defer it for TCP_FASTOPEN_CONNECT) and return with
 * both ends' addresses and ports set, without waiting: connect() waits for
 * the handshake afterwards, in inet_wait_for_connect(), outside this probe.
 * Only calls from connect() are recorded (dbos_connect_fd()); the entry
 * skips the others, so they hold no instance.
 */
static int dbos_tcp_connect_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct dbos_connect_call *call = (struct dbos_connect_call *)ri->data;

	call->fd = dbos_connect_fd();
	call->sk = (struct sock *)regs_get_kernel_argument(regs, 0);
	call->listener = NULL;
	return call->fd < 0;
}

static int dbos_tcp6_connect_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct dbos_connect_call *call = (struct dbos_connect_call *)ri->data;

	if (!regs_return_value(regs))
		dbos_connect_emit(call->fd, call->sk, NULL);
	return 0;
}

/* tcp_v6_connect() hands a v4-mapped address to tcp_v4_connect(): once. */
static int dbos_tcp4_connect_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct dbos_connect_call *call = (struct dbos_connect_call *)ri->data;

	if (READ_ONCE(call->sk->sk_family) == AF_INET)
		return dbos_tcp6_connect_ret(ri, regs);
	return 0;
}

/*
 * security_unix_stream_connect(sk, other, newsk): called by
 * unix_stream_connect() after any wait for room in the listener @other's
 * backlog, with the state locks of @other and @sk held, before @sk becomes
 * ESTABLISHED. A return of 0 means the connect succeeds: everything after
 * it in unix_stream_connect() cannot fail. The record shows @sk as it is
 * once connected (dbos_unix_connecting()); the held state locks are why
 * the peer is not read the way dbos_sock_fill() would (it takes them).
 */
static int dbos_unix_connect_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct dbos_connect_call *call = (struct dbos_connect_call *)ri->data;

	call->fd = dbos_connect_fd();
	call->sk = (struct sock *)regs_get_kernel_argument(regs, 0);
	call->listener = (struct sock *)regs_get_kernel_argument(regs, 1);
	return call->fd < 0;
}

static int dbos_unix_connect_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct dbos_connect_call *call = (struct dbos_connect_call *)ri->data;

	if (!regs_return_value(regs))
		dbos_connect_emit(call->fd, call->sk, call->listener);
	return 0;
}

/*
 * Whether connect() on @sk (of @file) is left to __sys_connect's return:
 * only when the call cannot block. TCP and unix stream/seqpacket are
 * recorded by their own hooks (when attached) from inside the call, before
 * or after their waits. Datagram-like sockets (UDP, raw, ping, unix
 * datagram, netlink, packet) do not wait for a peer. Any other stream-like
 * socket (SCTP, MPTCP, vsock, Bluetooth, TIPC, ...) waits for its handshake
 * unless O_NONBLOCK is set: such a blocking connect is not recorded
 * (README, limits). Reads fields that only change under the socket lock as
 * a hint: a connect racing a change of them is counted the wrong way at
 * worst.
 */
static bool dbos_connect_on_return(struct sock *sk, const struct file *file)
{
	int family = READ_ONCE(sk->sk_family);
	int type = READ_ONCE(sk->sk_type);

	if ((family == AF_INET || family == AF_INET6) && type == SOCK_STREAM &&
	    READ_ONCE(sk->sk_protocol) == IPPROTO_TCP)
		return !READ_ONCE(dbos_kretprobe_on[DBOS_RP_TCP4]) ||
		       !READ_ONCE(dbos_kretprobe_on[DBOS_RP_TCP6]);
	if (family == AF_UNIX && type != SOCK_DGRAM)
		return !READ_ONCE(dbos_kretprobe_on[DBOS_RP_UNIX]);
	if (type == SOCK_DGRAM || type == SOCK_RAW || family == AF_NETLINK ||
	    family == AF_PACKET)
		return true;
	return READ_ONCE(file->f_flags) & O_NONBLOCK;
}

/*
 * __sys_connect(fd, ...) at entry: keep the instance (return 0) only for a
 * connect that cannot block (dbos_connect_on_return()); a kretprobe whose
 * entry handler returns non-zero frees its instance at once and never runs
 * the return handler. The fd is looked up with fget() (RCU, a reference).
 */
static int dbos_connect_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	unsigned int fd = regs_get_kernel_argument(regs, 0);
	struct file *file;
	struct sock *sk;
	bool keep = false;

	((struct dbos_fd_call *)ri->data)->fd = fd;
	file = fget(fd);
	if (!file)
		return 1;
	sk = dbos_file_sock(file);
	if (sk)
		keep = dbos_connect_on_return(sk, file);
	fput(file);
	return !keep;
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


#define DBOS_KRETPROBE(sym, entry, ret, call) {			\
	.kp.symbol_name = sym,						\
	.entry_handler = entry,						\
	.handler = ret,							\
	.data_size = sizeof(struct call),				\
}

static struct kretprobe dbos_kretprobes[DBOS_RP_COUNT] = {
	[DBOS_RP_FD_INSTALL] = DBOS_KRETPROBE("fd_install", dbos_fd_install_entry,
					      dbos_fd_install_ret, dbos_fd_call),
	[DBOS_RP_DUP2] = DBOS_KRETPROBE("do_dup2", dbos_dup2_entry, dbos_dup2_ret,
					dbos_fd_call),
	[DBOS_RP_PICK] = DBOS_KRETPROBE("pick_file", dbos_stash_fd1, dbos_pick_ret,
					dbos_fd_call),
	[DBOS_RP_BIND] = DBOS_KRETPROBE("__sys_bind", dbos_stash_fd0, dbos_bind_ret,
					dbos_fd_call),
	[DBOS_RP_LISTEN] = DBOS_KRETPROBE("__sys_listen", dbos_stash_fd0,
					  dbos_listen_ret, dbos_fd_call),
	[DBOS_RP_TCP4] = DBOS_KRETPROBE("tcp_v4_connect", dbos_tcp_connect_entry,
					dbos_tcp4_connect_ret, dbos_connect_call),
	[DBOS_RP_TCP6] = DBOS_KRETPROBE("tcp_v6_connect", dbos_tcp_connect_entry,
					dbos_tcp6_connect_ret, dbos_connect_call),
	[DBOS_RP_UNIX] = DBOS_KRETPROBE("security_unix_stream_connect",
					dbos_unix_connect_entry, dbos_unix_connect_ret,
					dbos_connect_call),
	[DBOS_RP_CONNECT] = DBOS_KRETPROBE("__sys_connect", dbos_connect_entry,
					   dbos_connect_ret, dbos_fd_call),
};

static struct tracepoint *dbos_sock_tp;

static void dbos_find_sock_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "inet_sock_set_state"))
		dbos_sock_tp = tp;
}

/* Only written at init and unload: which probes are attached. */
static bool dbos_kprobe_on[ARRAY_SIZE(dbos_kprobes)];
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

		/*
		 * No probed call sleeps for long (files.c's header), but
		 * some may sleep briefly (allocation, a unix datagram
		 * connect's path lookup): room for many per CPU.
		 */
		rp->maxactive = 64 + 8 * num_possible_cpus();
		ret = register_kretprobe(rp);
		if (ret && (i == DBOS_RP_TCP4 || i == DBOS_RP_TCP6 ||
			    i == DBOS_RP_UNIX)) {
			pr_warn("cannot probe %s (%d): its connects are recorded at connect()'s return\n",
				rp->kp.symbol_name, ret);
			continue;
		}
		if (ret) {
			pr_err("cannot probe %s (%d)\n", rp->kp.symbol_name, ret);
			goto err;
		}
		WRITE_ONCE(dbos_kretprobe_on[i], true);
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
		WRITE_ONCE(dbos_kretprobe_on[i], false);
	}
	for (i = 0; i < ARRAY_SIZE(dbos_kprobes); i++) {
		if (dbos_kprobe_on[i])
			unregister_kprobe(&dbos_kprobes[i]);
		dbos_kprobe_on[i] = false;
	}
}
