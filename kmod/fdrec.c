// SPDX-License-Identifier: GPL-2.0
/*
 * fdrec.c - turning open files and sockets into dbos_fd / dbos_sock records,
 * for events (hooks) and snapshots (DUMP_FILES).
 */

#include "fdrec.h"
#include "buffer.h"
#include "drain.h"
#include "filter.h"
#include "record.h"

#include <linux/dcache.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/in6.h>
#include <linux/kdev_t.h>
#include <linux/mount.h>
#include <linux/net.h>
#include <linux/rcupdate.h>
#include <linux/smp.h>
#include <linux/socket.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <net/af_unix.h>
#include <net/inet_sock.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include <net/tcp_states.h>

static_assert(sizeof(struct dbos_fd) == 40);
static_assert(sizeof(struct dbos_sock) == 80);
static_assert(DBOS_FD_REC_MAX <= U16_MAX);
static_assert(DBOS_UNIX_PATH_MAX == sizeof_field(struct sockaddr_un, sun_path));

/* enum dbos_file_kind of an inode's @mode. Pure. */
u16 dbos_file_kind(umode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return DBOS_FILE_REG;
	case S_IFDIR:
		return DBOS_FILE_DIR;
	case S_IFCHR:
		return DBOS_FILE_CHR;
	case S_IFBLK:
		return DBOS_FILE_BLK;
	case S_IFIFO:
		return DBOS_FILE_FIFO;
	case S_IFSOCK:
		return DBOS_FILE_SOCK;
	case S_IFLNK:
		return DBOS_FILE_LNK;
	default:
		return DBOS_FILE_OTHER;
	}
}

/**
 * dbos_fd_fill - describe @file, installed as @fdnum in @pid's table
 * @fd: the payload to fill (path_len is left 0)
 * @pid: tgid owning the table
 * @fdnum: the descriptor
 * @file: a file the caller keeps alive (a reference, or a table lock)
 * @cloexec: the fd's close-on-exec bit
 *
 * Any context: reads only fields fixed for a file's lifetime, and f_flags.
 */
void dbos_fd_fill(struct dbos_fd *fd, u32 pid, u32 fdnum,
		  const struct file *file, bool cloexec)
{
	const struct inode *inode = file_inode(file);

	memset(fd, 0, sizeof(*fd));
	fd->pid = pid;
	fd->fd = fdnum;
	fd->flags = READ_ONCE(file->f_flags) & ~O_CLOEXEC;
	if (cloexec)
		fd->flags |= O_CLOEXEC;
	fd->kind = dbos_file_kind(inode->i_mode);
	fd->inode = inode->i_ino;
	fd->dev = new_encode_dev(inode->i_sb->s_dev);
	fd->mode = inode->i_mode;
}

/* The socket behind @file, or NULL. The file's reference keeps it alive. */
struct sock *dbos_file_sock(const struct file *file)
{
	struct socket *sock = sock_from_file((struct file *)file);

	return sock ? sock->sk : NULL;
}

/* Copy the bound name of unix socket @sk into @dst; returns its length. */
static u16 dbos_unix_name(struct sock *sk, char *dst)
{
	/* Set once by bind, freed with the sock: pairs with its release. */
	struct unix_address *addr = smp_load_acquire(&unix_sk(sk)->addr);
	int len;

	if (!addr)
		return 0;
	len = addr->len - (int)offsetof(struct sockaddr_un, sun_path);
	len = clamp(len, 0, DBOS_UNIX_PATH_MAX);
	memcpy(dst, addr->name->sun_path, len);
	return len;
}

/*
 * The peer of unix socket @sk: its inode and name. Locking as in
 * net/unix/diag.c: the peer pointer is read and referenced under @sk's state
 * lock, the peer's socket under the peer's state lock (unix_release_sock()
 * orphans it under that lock, so a non-NULL sk_socket is a live socket whose
 * inode is still there). Never two state locks at once. Process context;
 * spinlocks only.
 */
static void dbos_unix_peer(struct dbos_sock_info *si, struct sock *sk)
{
	struct socket *psock;
	struct sock *peer;

	unix_state_lock(sk);
	peer = unix_peer(sk);
	if (peer)
		sock_hold(peer);
	unix_state_unlock(sk);
	if (!peer)
		return;

	unix_state_lock(peer);
	psock = peer->sk_socket;
	if (psock)
		si->sock.peer_inode = SOCK_INODE(psock)->i_ino;
	unix_state_unlock(peer);
	si->sock.peer_path_len = dbos_unix_name(peer, si->peer_path);
	sock_put(peer);
}

/**
 * dbos_sock_fill - describe socket @sk
 * @si: filled, except sock.pid, sock.fd, sock.inode and sock.oldstate
 * @sk: a sock the caller keeps alive
 * @locks: may take the unix state locks (process context, no such lock
 *	held); without it a unix socket's peer is left out
 *
 * Addresses and ports are read without the socket lock: a record shows one
 * moment's values, each field read once.
 */
void dbos_sock_fill(struct dbos_sock_info *si, struct sock *sk, bool locks)
{
	struct dbos_sock *s = &si->sock;
	const struct inet_sock *inet;

	memset(s, 0, sizeof(*s));
	s->fd = ~0U;
	s->netns = sock_net(sk)->ns.inum;
	s->family = READ_ONCE(sk->sk_family);
	s->type = READ_ONCE(sk->sk_type);
	s->protocol = READ_ONCE(sk->sk_protocol);
	s->state = READ_ONCE(sk->sk_state);

	switch (s->family) {
	case AF_INET:
		inet = inet_sk(sk);
		memcpy(s->local_addr, &inet->inet_rcv_saddr, 4);
		memcpy(s->remote_addr, &inet->inet_daddr, 4);
		s->local_port = READ_ONCE(inet->inet_num);
		s->remote_port = ntohs(READ_ONCE(inet->inet_dport));
		break;
#if IS_ENABLED(CONFIG_IPV6)
	case AF_INET6:
		inet = inet_sk(sk);
		memcpy(s->local_addr, &sk->sk_v6_rcv_saddr, 16);
		memcpy(s->remote_addr, &sk->sk_v6_daddr, 16);
		s->local_port = READ_ONCE(inet->inet_num);
		s->remote_port = ntohs(READ_ONCE(inet->inet_dport));
		break;
#endif
	case AF_UNIX:
		s->path_len = dbos_unix_name(sk, si->path);
		if (locks)
			dbos_unix_peer(si, sk);
		break;
	}
}

/**
 * dbos_unix_connecting - a unix stream connect as it will stand once done
 * @si: filled by dbos_sock_fill(@si, sk, false) for the connecting sock
 * @listener: the listening sock it connects to
 *
 * From inside unix_stream_connect(), where the connect can no longer fail
 * (security_unix_stream_connect() returned 0), with the state locks of the
 * connecting sock and of @listener held by the caller: the connecting sock
 * is about to become ESTABLISHED with a new embryo sock as its peer. The
 * embryo has no struct socket until accept() (peer inode 0, as a connect
 * seen at its return before the accept also shows) and takes @listener's
 * address (its name). Takes no lock; any context.
 */
void dbos_unix_connecting(struct dbos_sock_info *si, struct sock *listener)
{
	si->sock.state = TCP_ESTABLISHED;
	si->sock.peer_inode = 0;
	si->sock.peer_path_len = dbos_unix_name(listener, si->peer_path);
}

/* Record length of an FD record with @path_len bytes of path. */
static u32 dbos_fd_rec_len(u32 path_len)
{
	return DBOS_REC_ALIGN(sizeof(struct dbos_rec_hdr) +
			      sizeof(struct dbos_fd) + path_len);
}

/* Record length of the SOCK record of @si. */
static u32 dbos_sock_rec_len(const struct dbos_sock_info *si)
{
	return DBOS_REC_ALIGN(sizeof(struct dbos_rec_hdr) +
			      sizeof(struct dbos_sock) + si->sock.path_len +
			      si->sock.peer_path_len);
}

/**
 * dbos_fd_rec_put - lay out a FD_OPEN/FD_CLOSE/FD record at @rec. Pure.
 * @rec: dbos_fd_rec_len(@fd->path_len) bytes, 8-byte aligned
 * @type: DBOS_REC_FD*
 * @flags: hdr.flags
 * @fd: the payload; fd->path_len bytes of @path follow it
 * @path: the path (not NUL-terminated), or NULL when fd->path_len is 0
 *
 * hdr.cpu, cpu_seq, seq and time_ns are left 0. Return: hdr.len.
 */
u32 dbos_fd_rec_put(void *rec, u16 type, u16 flags, const struct dbos_fd *fd,
		    const char *path)
{
	u32 used = sizeof(struct dbos_rec_hdr) + sizeof(*fd) + fd->path_len;
	u32 len = DBOS_REC_ALIGN(used);
	struct dbos_rec_hdr *hdr = rec;

	dbos_hdr_put(hdr, type, flags, len);
	memcpy(hdr + 1, fd, sizeof(*fd));
	if (fd->path_len)
		memcpy((u8 *)rec + sizeof(*hdr) + sizeof(*fd), path, fd->path_len);
	memset((u8 *)rec + used, 0, len - used);
	return len;
}

/**
 * dbos_sock_rec_put - lay out a SOCK_* record of @si at @rec. Pure.
 * @rec: dbos_sock_rec_len(@si) bytes, 8-byte aligned
 * @type: DBOS_REC_SOCK*
 * @flags: hdr.flags
 * @si: payload and names
 *
 * hdr.cpu, cpu_seq, seq and time_ns are left 0. Return: hdr.len.
 */
u32 dbos_sock_rec_put(void *rec, u16 type, u16 flags,
		      const struct dbos_sock_info *si)
{
	const struct dbos_sock *s = &si->sock;
	u32 used = sizeof(struct dbos_rec_hdr) + sizeof(*s) + s->path_len +
		   s->peer_path_len;
	u32 len = DBOS_REC_ALIGN(used);
	struct dbos_rec_hdr *hdr = rec;
	u8 *p = (u8 *)(hdr + 1);

	dbos_hdr_put(hdr, type, flags, len);
	memcpy(p, s, sizeof(*s));
	p += sizeof(*s);
	memcpy(p, si->path, s->path_len);
	memcpy(p + s->path_len, si->peer_path, s->peer_path_len);
	memset((u8 *)rec + used, 0, len - used);
	return len;
}

/*
 * Keep an FD record within half of @ring so that one event cannot fill it:
 * the path length to record (TRUNCATED in *@flags when cut). Pure.
 */
static u32 dbos_fd_fit(const struct dbos_ring *ring, u32 path_len, u16 *flags)
{
	u32 room = ring->size / 2 - sizeof(struct dbos_rec_hdr) -
		   sizeof(struct dbos_fd);

	if (path_len <= room)
		return path_len;
	*flags |= DBOS_RECF_TRUNCATED;
	return room;
}

/**
 * dbos_fd_emit - record an FD_OPEN or FD_CLOSE in the current CPU's ring
 * @type: DBOS_REC_FD_OPEN or DBOS_REC_FD_CLOSE
 * @fd: the payload (path_len is set here)
 * @path: the file's path, recorded and matched against the filter's
 *	prefixes; NULL for none
 *
 * The caller has checked the kind filter. Any process context, also with
 * preemption or interrupts off; never sleeps or allocates. The path is cut
 * to keep the record within half the ring (TRUNCATED).
 * Return: false when the path filter held the record back.
 */
bool dbos_fd_emit(u16 type, struct dbos_fd *fd, const struct path *path)
{
	const char *p = NULL;
	struct dbos_ring *ring;
	unsigned long irqflags;
	bool kick = true, pass = true;
	u32 path_len = 0, len, cpu_seq;
	u16 flags = 0;
	void *rec;
	int cpu;

	/* From here to the commit nothing else may run on this CPU's ring. */
	local_irq_save(irqflags);
	cpu = smp_processor_id();
	ring = dbos_buffer(cpu);
	if (path) {
		p = dbos_path(path, dbos_scratch_path(), &path_len, &flags);
		if (p && !dbos_filter_path(p, path_len)) {
			pass = false;
			kick = false;
			goto out;
		}
	}
	fd->path_len = dbos_fd_fit(ring, path_len, &flags);
	/* The record written is the (maybe cut) one: reserve just that. */
	len = dbos_fd_rec_len(fd->path_len);
	rec = dbos_ring_reserve(ring, len, &cpu_seq);
	if (!rec)
		goto out;
	dbos_fd_rec_put(rec, type, flags, fd, p);
	dbos_hdr_event(rec, cpu, cpu_seq);
	kick = dbos_ring_commit(ring);
out:
	local_irq_restore(irqflags);
	if (!pass)
		dbos_filter_count();
	if (kick)
		dbos_drain_kick();
	return pass;
}

/**
 * dbos_sock_emit - record a SOCK_* event in the current CPU's ring
 * @type: DBOS_REC_SOCK_*
 * @si: the socket (at most two unix names: always within half a ring of
 *	the smallest size)
 *
 * The caller has checked the kind filter. Any context, also hard or soft
 * interrupts; never sleeps or allocates.
 */
void dbos_sock_emit(u16 type, const struct dbos_sock_info *si)
{
	struct dbos_ring *ring;
	unsigned long irqflags;
	u32 len, cpu_seq;
	bool kick = true;
	void *rec;
	int cpu;

	len = dbos_sock_rec_len(si);
	local_irq_save(irqflags);
	cpu = smp_processor_id();
	ring = dbos_buffer(cpu);
	rec = dbos_ring_reserve(ring, len, &cpu_seq);
	if (rec) {
		dbos_sock_rec_put(rec, type, 0, si);
		dbos_hdr_event(rec, cpu, cpu_seq);
		kick = dbos_ring_commit(ring);
	}
	local_irq_restore(irqflags);
	if (kick)
		dbos_drain_kick();
}

/**
 * dbos_fd_snapshot - write a DBOS_REC_FD snapshot of one fd at @rec
 * @rec: DBOS_FD_REC_MAX bytes
 * @tmp: DBOS_PATH_MAX bytes of scratch for d_path()
 * @pid: tgid owning the table
 * @fdnum: the fd
 * @file: its file, referenced by the caller
 * @cloexec: the fd's close-on-exec bit
 * @seq: hdr.seq, read before the fd was
 *
 * Process context. Return: the record's length, or 0 when the path filter
 * holds it back (counted).
 */
u32 dbos_fd_snapshot(void *rec, char *tmp, u32 pid, u32 fdnum,
		     struct file *file, bool cloexec, u64 seq)
{
	struct dbos_rec_hdr *hdr = rec;
	struct dbos_fd fd;
	const char *p;
	u16 flags = 0;
	u32 len;

	dbos_fd_fill(&fd, pid, fdnum, file, cloexec);
	p = dbos_path(&file->f_path, tmp, &len, &flags);
	if (p && !dbos_filter_path(p, len)) {
		dbos_filter_count();
		return 0;
	}
	fd.path_len = len;
	len = dbos_fd_rec_put(rec, DBOS_REC_FD, flags, &fd, p);
	hdr->cpu = raw_smp_processor_id();
	hdr->seq = seq;
	hdr->time_ns = ktime_get_real_ns();
	return len;
}
