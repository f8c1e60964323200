// SPDX-License-Identifier: GPL-2.0
/* files.c - applies FD_* and SOCK_* records to the open files and sockets working copy, rows and history. */

/*
 * How records become rows
 * -----------------------
 * The working copy holds, per pid, its fds sorted by number (fdtab.h), and,
 * per socket inode, what the last SOCK_* record said about it and how many
 * live fd rows point at it (refs). An fd row is written at commit time, once
 * per (pid, fd) changed since the previous commit (the dirty list), so that
 * an open and its close within one batch write no process_open_files row at
 * all (only their two file_events rows); those writes come after every
 * range delete of the batch, which is right since they are the final state.
 * Socket rows are written as they change.
 *
 * Rules, for a record with (epoch-mapped) seq s:
 *
 *  1. FD_OPEN/FD (snapshot) for (pid, fd) with s > the entry's seq (live row
 *     or tombstone) replaces whatever had this number and makes the row; an
 *     older record is stale: history only. A record with s <= the seq at
 *     which the process died (its floor) is stale too.
 *  2. FD_CLOSE with s > the live row's seq removes the row and leaves a
 *     tombstone (s) that keeps the file's columns, pruned after a few
 *     seconds; file_events gets the path and the rest from the row. A close
 *     of an unknown fd (not reported because of the filter, or whose FD_OPEN
 *     is still in another CPU's buffer) leaves a tombstone and no history
 *     yet; if the late FD_OPEN (or the late FORK that gave the fd) comes,
 *     the close goes into file_events then. A stale close (older than the
 *     row: the fd was reused meanwhile) goes into file_events with the
 *     columns of the earlier file if one is remembered (fdtab.h, struct
 *     fdver), NULL ones otherwise.
 *  3. A socket row exists while some live fd row refers to its inode AND a
 *     SOCK_* record has described it: SOCK_* records with s > the info's seq
 *     replace the info (any socket record carries the whole state). Infos
 *     without fds are kept a few seconds (their FD_OPEN may still come),
 *     never shown. BIND/LISTEN/CONNECT/ACCEPT/STATE go into socket_events
 *     with the record's own columns; closing a socket fd adds a 'close' row.
 *  4. A process FORK at s copies to the child (seq s) the parent's files
 *     that were open at s (a live row older than s, a tombstone of a file
 *     opened before and closed after s, or an earlier version), after
 *     dropping what the child's pid held before s (an earlier incarnation).
 *     A process's death at s deletes every fd row of the pid older than s
 *     (point deletes: range deletes slow down every later scan) and sets
 *     the pid's floor; its fds stay as tombstones for a few
 *     seconds, holding what it had, for the FORKs of its children that are
 *     still to come. A parent's record older than a child's FORK that
 *     arrives after it is applied to the child's copy too, and so on down
 *     the tree (fd_propagate()), unless the child changed that fd since.
 *     Limits: two earlier versions per fd, eight generations, the tombstone
 *     lifetime; beyond them a re-sync is what repairs the table.
 *  5. Re-sync: see files.h. A swept fd leaves a tombstone at the sweep seq.
 */
#include <stdlib.h>
#include <string.h>

#include "dbserver/mirror/files_int.h"
#include "dbserver/sql/schema.h"


static const char *const kind_names[__DBOS_FILE_MAX] = {
	[DBOS_FILE_OTHER] = "other", [DBOS_FILE_REG] = "regular",
	[DBOS_FILE_DIR] = "directory", [DBOS_FILE_CHR] = "character",
	[DBOS_FILE_BLK] = "block", [DBOS_FILE_FIFO] = "fifo",
	[DBOS_FILE_SOCK] = "socket", [DBOS_FILE_LNK] = "symlink",
};

static struct row_value kind_value(uint16_t kind)
{
	return files_text(kind < __DBOS_FILE_MAX ? kind_names[kind] : "other");
}

int files_encode(struct files *f, const struct row_value *v, int n, size_t *len)
{
	size_t need = row_encode(v, n, f->enc, f->enc_cap);

	if (need > f->enc_cap) {
		char *p = realloc(f->enc, need * 2);

		if (!p)
			return -1;
		f->enc = p;
		f->enc_cap = need * 2;
		need = row_encode(v, n, f->enc, f->enc_cap);
	}
	*len = need;
	return 0;
}

static void fd_key(unsigned char k[8], uint32_t pid, uint32_t fd)
{
	store_key_be32(k, pid);
	store_key_be32(k + 4, fd);
}

/* ---- rows ------------------------------------------------------------------ */

static int fd_put_row(struct files *f, uint32_t pid, const struct fdent *e)
{
	struct row_value v[FDS__COUNT];
	unsigned char k[8];
	size_t len;

	v[FDS_PID] = row_int(pid);
	v[FDS_FD] = row_int(e->fd);
	v[FDS_PATH] = row_text(e->path ? e->path : "", e->plen);
	v[FDS_FLAGS] = row_int(e->flags);
	v[FDS_INODE] = row_int((int64_t)e->inode);
	v[FDS_DEVICE] = row_int((int64_t)e->dev);
	v[FDS_TYPE] = kind_value(e->kind);
	v[FDS_MODE] = row_int(e->mode);
	v[FDS_SEQ] = row_int((int64_t)e->seq);
	if (files_encode(f, v, FDS__COUNT, &len))
		return -1;
	fd_key(k, pid, e->fd);
	store_batch_put(f->b, STORE_CF_FDS, k, sizeof(k), f->enc, len);
	return 0;
}

static void fd_del_row(struct files *f, uint32_t pid, uint32_t fd)
{
	unsigned char k[8];

	fd_key(k, pid, fd);
	store_batch_delete(f->b, STORE_CF_FDS, k, sizeof(k));
}

/* @e changed: its row (put or delete) is written at the next commit. */
static void fd_dirty(struct files *f, uint32_t pid, struct fdent *e)
{
	if (e->dirty)
		return;
	if (f->ndirty == f->dirty_cap) {
		size_t cap = f->dirty_cap ? f->dirty_cap * 2 : 1024;
		void *p = realloc(f->dirty, cap * sizeof(*f->dirty));

		if (!p) {	/* no room on the list: write it now */
			if (e->live) {
				if (!fd_put_row(f, pid, e))
					e->stored = true;
			} else if (e->stored) {
				fd_del_row(f, pid, e->fd);
				e->stored = false;
			}
			return;
		}
		f->dirty = p;
		f->dirty_cap = cap;
	}
	f->dirty[f->ndirty].pid = pid;
	f->dirty[f->ndirty].fd = e->fd;
	f->ndirty++;
	e->dirty = true;
}

/* ---- history ------------------------------------------------------------------- */

static void file_history(struct files *f, const struct mirror_rec *r, uint64_t s,
			 const char *action, const struct fdent *e)
{
	struct row_value v[FILE_EVENTS__COUNT];
	size_t len;

	if (!history_wants(&f->fev, s))
		return;
	v[FILE_EVENTS_SEQ] = row_int((int64_t)s);
	v[FILE_EVENTS_TIME] = row_int((int64_t)(r->hdr.time_ns / NSEC));
	v[FILE_EVENTS_TIME_NS] = row_int((int64_t)r->hdr.time_ns);
	v[FILE_EVENTS_ACTION] = files_text(action);
	v[FILE_EVENTS_PID] = row_int(r->fd.pid);
	v[FILE_EVENTS_FD] = row_int(r->fd.fd);
	v[FILE_EVENTS_PATH] = e ? row_text(e->path ? e->path : "", e->plen) : row_null();
	v[FILE_EVENTS_FLAGS] = e ? row_int(e->flags) : row_null();
	v[FILE_EVENTS_INODE] = e ? row_int((int64_t)e->inode) : row_null();
	v[FILE_EVENTS_DEVICE] = e ? row_int((int64_t)e->dev) : row_null();
	v[FILE_EVENTS_TYPE] = e ? kind_value(e->kind) : row_null();
	v[FILE_EVENTS_CPU] = row_int(r->hdr.cpu);
	if (!files_encode(f, v, FILE_EVENTS__COUNT, &len))
		history_put(&f->fev, f->b, s, f->enc, len);
}

/* ---- fds ---------------------------------------------------------------------------- */

static struct fdproc *proc_get(struct files *f, uint32_t pid)
{
	struct fdproc *p = ptrmap_get(&f->procs, pid);

	if (p || !pid)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->t_s = files_now_s(f);
	if (ptrmap_put(&f->procs, pid, p)) {
		free(p);
		return NULL;
	}
	return p;
}

/* Ends live entry @e (row deleted, socket unreferenced) as a tombstone at @s. */
static void fd_entomb(struct files *f, struct fdproc *p, struct fdent *e, uint64_t s)
{
	if (e->live) {
		if (e->kind == DBOS_FILE_SOCK)
			sock_ref(f, e->inode, -1);
		f->nfds--;
	}
	e->open_seq = e->live ? e->seq : 0;
	e->live = false;
	e->close_unlogged = false;
	e->seq = s;
	e->t_s = files_now_s(f);
	if (e->stored)
		fd_dirty(f, p->pid, e);
}

/* Drops entry @i of @p now (an earlier incarnation's): its row goes in this batch. */
static void fd_drop(struct files *f, struct fdproc *p, uint32_t i)
{
	fd_entomb(f, p, &p->v[i], p->v[i].seq);
	if (p->v[i].stored)
		fd_del_row(f, p->pid, p->v[i].fd);
	fdproc_remove(p, i);
}

/*
 * Before @e is overwritten: keep the file it held during [@open, @close) as
 * its newest version (taking its path), if it held one.
 */
static void fd_save_version(struct files *f, struct fdent *e, uint64_t open, uint64_t close)
{
	struct fdver *v;

	if (!open || (!e->ver && !(e->ver = calloc(FD_VERSIONS, sizeof(*e->ver)))))
		return;
	free(e->ver[FD_VERSIONS - 1].path);
	memmove(&e->ver[1], &e->ver[0], (FD_VERSIONS - 1) * sizeof(*e->ver));
	v = &e->ver[0];
	*v = (struct fdver){
		.open_seq = open, .close_seq = close, .inode = e->inode, .dev = e->dev,
		.flags = e->flags, .mode = e->mode, .t_s = files_now_s(f),
		.kind = e->kind, .plen = e->plen, .path = e->path,
	};
	e->path = NULL;
	e->plen = 0;
}

static const struct fdent *fd_version_at(const struct fdent *pe, uint64_t s, struct fdent *tmp);

/* Remember in @e's versions a close at @seq of a file never seen (its row waits for it). */
static void fd_save_unknown(struct files *f, struct fdent *e, uint64_t seq, uint16_t cpu,
			    uint64_t time_ns)
{
	if (!e->ver && !(e->ver = calloc(FD_VERSIONS, sizeof(*e->ver))))
		return;
	free(e->ver[FD_VERSIONS - 1].path);
	memmove(&e->ver[1], &e->ver[0], (FD_VERSIONS - 1) * sizeof(*e->ver));
	e->ver[0] = (struct fdver){
		.open_seq = 1, .close_seq = seq, .t_s = files_now_s(f), .unknown = true,
		.close_unlogged = true, .close_cpu = cpu, .close_time_ns = time_ns,
	};
}

/*
 * The file that entry @pe held at @s (rule 4), as an entry to copy (@tmp
 * when it is an earlier version), or NULL when the fd was not open then.
 */
static const struct fdent *fd_at(const struct fdent *pe, uint64_t s, struct fdent *tmp)
{
	if (pe->live ? pe->seq < s : pe->seq > s && pe->open_seq && pe->open_seq < s)
		return pe;
	return fd_version_at(pe, s, tmp);
}

/* The earlier version of @pe open at @s, in @tmp, or NULL. */
static const struct fdent *fd_version_at(const struct fdent *pe, uint64_t s, struct fdent *tmp)
{
	for (int i = 0; pe->ver && i < FD_VERSIONS; i++) {
		const struct fdver *v = &pe->ver[i];

		if (v->open_seq && !v->unknown && v->open_seq < s && s < v->close_seq) {
			*tmp = (struct fdent){
				.fd = pe->fd, .live = true, .kind = v->kind, .flags = v->flags,
				.mode = v->mode, .inode = v->inode,
				.dev = v->dev, .path = v->path, .plen = v->plen,
			};
			return tmp;
		}
	}
	return NULL;
}

/* Makes @e the live row described by @d + @path at @s (replacing what it was). */
static int fd_make(struct files *f, struct fdproc *p, struct fdent *e, const struct dbos_fd *d,
		  const char *path, uint64_t s)
{
	char *np = NULL;

	if (d->path_len && !(np = malloc(d->path_len)))
		return -1;
	if (d->path_len)
		memcpy(np, path, d->path_len);
	if (e->live) {
		if (e->kind == DBOS_FILE_SOCK)
			sock_ref(f, e->inode, -1);
		fd_save_version(f, e, e->seq, s);
	} else {
		f->nfds++;
		if (e->open_seq)
			fd_save_version(f, e, e->open_seq, e->seq);
		else if (e->close_unlogged)
			fd_save_unknown(f, e, e->seq, e->close_cpu, e->close_time_ns);
	}
	free(e->path);
	e->path = np;
	e->plen = d->path_len;
	e->live = true;
	e->close_unlogged = false;
	e->kind = d->kind;
	e->flags = d->flags;
	e->mode = d->mode;
	e->inode = d->inode;
	e->dev = d->dev;
	e->seq = s;
	if (e->kind == DBOS_FILE_SOCK)
		sock_ref(f, e->inode, +1);
	fd_dirty(f, p->pid, e);
	return 0;
}

/*
 * Rule 2: tombstone @e is a close that came before anything said what the fd
 * was; now @what (the late open, or the parent's file for a close that
 * overtook its FORK) says it: write the close into file_events.
 */
static void log_close_at(struct files *f, uint32_t pid, uint32_t fd, uint64_t seq,
			 uint16_t cpu, uint64_t time_ns, const struct fdent *what)
{
	struct mirror_rec c = {
		.hdr = { .type = DBOS_REC_FD_CLOSE, .cpu = cpu, .time_ns = time_ns },
		.fd = { .pid = pid, .fd = fd },
	};

	file_history(f, &c, seq, "close", what);
	if (what->kind == DBOS_FILE_SOCK) {
		const struct sockent *so = ptrmap_get(&f->socks, what->inode);

		socket_history(f, &c.hdr, seq, "close", pid, fd, what->inode,
			       so && so->has_info ? so : NULL);
	}
}

static void log_late_close(struct files *f, const struct fdproc *p, struct fdent *e,
			   const struct fdent *what)
{
	log_close_at(f, p->pid, e->fd, e->seq, e->close_cpu, e->close_time_ns, what);
	e->close_unlogged = false;
}

/*
 * Rule 4: until when child entry @e (changed since its fork at @fork) held
 * what it inherited: its first close after the fork, as far as its versions
 * tell (else @until); a close of that unknown file not logged yet is, as @pe.
 */
static uint64_t fd_held_until(struct files *f, const struct fdproc *c, struct fdent *e,
			      const struct fdent *pe, uint64_t until)
{
	for (int i = 0; e->ver && i < FD_VERSIONS; i++) {
		struct fdver *v = &e->ver[i];

		if (!v->open_seq || v->open_seq > c->fork_seq || v->close_seq <= c->fork_seq)
			continue;
		if (v->close_seq < until)
			until = v->close_seq;
		if (v->unknown && v->close_unlogged && pe) {
			log_close_at(f, c->pid, e->fd, v->close_seq, v->close_cpu, v->close_time_ns, pe);
			v->close_unlogged = false;
		}
	}
	return until;
}

/* Makes child entry @e (or a new one at @pos) a copy of parent entry @pe at @s. */
static int fd_copy(struct files *f, struct fdproc *c, struct fdent *e, uint32_t pos,
		   const struct fdent *pe, uint64_t s)
{
	struct dbos_fd d = {
		.pid = c->pid, .fd = pe->fd, .flags = pe->flags, .kind = pe->kind,
		.path_len = (uint16_t)pe->plen, .inode = pe->inode, .dev = pe->dev,
		.mode = pe->mode,
	};

	if (!e && !(e = fdproc_insert(c, pe->fd, pos)))
		return -1;
	return fd_make(f, c, e, &d, pe->path, s);
}

/* Dead process's tombstone @e: it held @pe (NULL: nothing) from @from until its exit. */
static void fd_tomb_hold(struct fdent *e, const struct fdent *pe, uint64_t from)
{
	char *np = NULL;

	if (pe && pe->plen && !(np = malloc(pe->plen)))
		return;
	if (np)
		memcpy(np, pe->path, pe->plen);
	free(e->path);
	e->path = np;
	e->plen = pe ? pe->plen : 0;
	e->open_seq = pe ? from : 0;
	if (pe) {
		e->kind = pe->kind;
		e->flags = pe->flags;
		e->mode = pe->mode;
		e->inode = pe->inode;
		e->dev = pe->dev;
	}
}

/*
 * Rule 4: child @c got fd @fd at its fork, where the parent had @pe (NULL:
 * nothing). Makes @c's entry say so unless @c changed that fd since, and
 * returns until when @c held what it inherited (its own children forked
 * before that inherited it in turn). A dead @c (its EXIT came first) keeps
 * tombstones that say what it held, for the FORKs of its children to come.
 */
static uint64_t fd_inherit(struct files *f, struct fdproc *c, uint32_t fd, const struct fdent *pe)
{
	bool alive = c->floor == c->fork_seq;
	struct fdent *e;
	uint32_t pos;

	e = fdproc_find(c, fd, &pos);
	if (e && e->live && e->seq > c->fork_seq)	/* replaced by the child itself */
		return fd_held_until(f, c, e, pe, e->seq);
	if (e && !e->live && e->seq > c->fork_seq) {
		if (e->open_seq > c->fork_seq)	/* closed, then reopened by the child */
			return fd_held_until(f, c, e, pe, e->open_seq);
		/* held what it inherited until then: a close (maybe unlogged) or its death */
		if (pe && e->close_unlogged)
			log_late_close(f, c, e, pe);
		fd_tomb_hold(e, pe, c->fork_seq);
		return e->seq;
	}
	if (alive) {
		if (pe)
			fd_copy(f, c, e, pos, pe, c->fork_seq);
		else if (e && e->live)
			fd_entomb(f, c, e, c->fork_seq);
	} else if (pe) {
		if (!e && (e = fdproc_insert(c, fd, pos))) {
			e->seq = c->floor;
			e->t_s = files_now_s(f);
		}
		if (e)
			fd_tomb_hold(e, pe, c->fork_seq);
	}
	return UINT64_MAX;
}

/*
 * Rule 4: the file of fd @fd of process @ppid changed to @pe (NULL: closed)
 * at @after, and that record arrived after the FORKs of some of its children
 * (forked in (@after, @before)): their copies follow it, and so on down to
 * the grandchildren that copied from them.
 */
static void fd_propagate(struct files *f, uint32_t ppid, uint32_t fd, const struct fdent *pe,
			 uint64_t after, uint64_t before, int depth)
{
	struct ptrmap_slot *sl;

	ptrmap_for_each(&f->procs, sl) {
		struct fdproc *c = sl->val;
		uint64_t until;

		if (c->parent != ppid || c->pid == ppid || c->fork_seq <= after ||
		    c->fork_seq >= before)
			continue;
		until = fd_inherit(f, c, fd, pe);
		if (depth < 8)
			fd_propagate(f, c->pid, fd, pe, c->fork_seq, until, depth + 1);
	}
}

static enum mirror_result fd_open(struct files *f, const struct mirror_rec *r, uint64_t s)
{
	bool snap = r->hdr.type == DBOS_REC_FD;
	struct fdproc *p = proc_get(f, r->fd.pid);
	struct fdent *e;
	uint32_t pos;

	if (!p)
		return MIRROR_ENOMEM;
	if (snap) {
		f->c[MIRROR_STAT_FILE_SNAPSHOTS]++;
		if (f->in_resync && (!f->first_snap || s < f->first_snap))
			f->first_snap = s;
	} else {
		struct fdent tmp = {
			.fd = r->fd.fd, .kind = r->fd.kind, .flags = r->fd.flags,
			.inode = r->fd.inode, .dev = r->fd.dev,
			.path = (char *)r->path, .plen = r->fd.path_len,
		};

		file_history(f, r, s, "open", &tmp);
	}
	if (!snap && s < f->dump_floor) {
		/* taken before the last dump read the kernel: the dump shows it */
		f->c[MIRROR_STAT_BEFORE_DUMP]++;
		return MIRROR_STALE;
	}
	e = fdproc_find(p, r->fd.fd, &pos);
	if (s <= p->floor || (e && s <= e->seq)) {
		if (e && snap && e->live && s <= e->seq)
			e->gen = f->gen;	/* the row is newer than the snapshot: still there */
		struct fdent tmp = {
			.fd = r->fd.fd, .kind = r->fd.kind, .flags = r->fd.flags,
			.mode = r->fd.mode, .inode = r->fd.inode,
			.dev = r->fd.dev, .path = (char *)r->path, .plen = r->fd.path_len,
		};

		if (e && !e->live && e->close_unlogged && !snap) {
			/* rule 2: the close that overtook this open */
			log_late_close(f, p, e, &tmp);
			fd_tomb_hold(e, &tmp, s);	/* it held that file from s to the close */
			if (s < p->child_fork_max)
				fd_propagate(f, p->pid, tmp.fd, &tmp, s, e->seq, 0);
		} else if (!e && !snap && s > p->fork_seq && p->floor > p->fork_seq &&
			   (e = fdproc_insert(p, r->fd.fd, pos))) {
			/* rule 4: its EXIT came first; it held the file until then */
			e->seq = p->floor;
			e->t_s = files_now_s(f);
			fd_tomb_hold(e, &tmp, s);
			if (s < p->child_fork_max)
				fd_propagate(f, p->pid, tmp.fd, &tmp, s, p->floor, 0);
		}
		f->c[MIRROR_STAT_FILE_RECORDS_STALE]++;
		return MIRROR_STALE;
	}
	if (!e && !(e = fdproc_insert(p, r->fd.fd, pos)))
		return MIRROR_ENOMEM;
	if (fd_make(f, p, e, &r->fd, r->path, s))
		return MIRROR_ENOMEM;
	if (snap) {
		e->gen = f->gen;
	} else if (s < p->child_fork_max) {
		struct fdent copy = *e;	/* @e may move as children's tables grow */

		fd_propagate(f, p->pid, copy.fd, &copy, s, UINT64_MAX, 0);
	}
	f->c[MIRROR_STAT_FILE_RECORDS_APPLIED]++;
	return MIRROR_APPLIED;
}

static enum mirror_result fd_close(struct files *f, const struct mirror_rec *r, uint64_t s)
{
	struct fdproc *p = proc_get(f, r->fd.pid);
	struct fdent *e;
	uint32_t pos;

	if (!p)
		return MIRROR_ENOMEM;
	e = fdproc_find(p, r->fd.fd, &pos);
	if (e && e->live && s > e->seq) {
		file_history(f, r, s, "close", e);
		if (e->kind == DBOS_FILE_SOCK) {
			const struct sockent *so = ptrmap_get(&f->socks, e->inode);

			socket_history(f, &r->hdr, s, "close", r->fd.pid, r->fd.fd, e->inode,
				       so && so->has_info ? so : NULL);
		}
		fd_entomb(f, p, e, s);
		e->close_time_ns = r->hdr.time_ns;	/* in case the close turns out to be a later file's */
		e->close_cpu = r->hdr.cpu;
		if (s < p->child_fork_max)
			fd_propagate(f, p->pid, r->fd.fd, NULL, s, UINT64_MAX, 0);
		f->c[MIRROR_STAT_FILE_RECORDS_APPLIED]++;
		return MIRROR_APPLIED;
	}
	if (e && !e->live && e->open_seq && e->open_seq < s && s < e->seq && !e->close_unlogged &&
	    e->seq == p->floor && p->floor > p->fork_seq) {
		/* it closed the file before the exit that made this tombstone */
		uint64_t end = e->seq;

		file_history(f, r, s, "close", e);
		e->seq = s;
		if (s < p->child_fork_max)
			fd_propagate(f, p->pid, r->fd.fd, NULL, s, end, 0);
		f->c[MIRROR_STAT_FILE_RECORDS_APPLIED]++;
		return MIRROR_APPLIED;
	}
	if (e && !e->live && e->open_seq && e->open_seq < s && s < e->seq && !e->close_unlogged &&
	    s > p->floor) {
		/*
		 * The tombstone's file was closed at s already: the close at
		 * e->seq was of a later file, whose open has not come yet
		 * (its file_events row is rewritten then).
		 */
		uint64_t end = e->seq;

		file_history(f, r, s, "close", e);
		fd_save_version(f, e, e->open_seq, s);
		e->open_seq = 0;
		e->close_unlogged = true;
		if (s < p->child_fork_max)
			fd_propagate(f, p->pid, r->fd.fd, NULL, s, end, 0);
		f->c[MIRROR_STAT_FILE_RECORDS_APPLIED]++;
		return MIRROR_APPLIED;
	}
	if (e && s <= e->seq && s > p->floor) {
		/* rule 2: a stale close, of a file that a newer one replaced since */
		struct fdent tmp;
		const struct fdent *was = fd_version_at(e, s, &tmp);
		uint64_t next = e->live ? e->seq : e->open_seq > s ? e->open_seq : 0;

		if (e->live || was)
			file_history(f, r, s, "close", was);
		if (!was)	/* what it closed is unknown: a FORK may tell (rule 4) */
			fd_save_unknown(f, e, s, r->hdr.cpu, r->hdr.time_ns);
		for (int i = 0; e->ver && i < FD_VERSIONS; i++)
			if (e->ver[i].open_seq && !e->ver[i].unknown && e->ver[i].open_seq < s &&
			    s < e->ver[i].close_seq)
				e->ver[i].close_seq = s;
		/* children forked between the close and the newer open had no such fd */
		if (next && s < p->child_fork_max)
			fd_propagate(f, p->pid, r->fd.fd, NULL, s, next, 0);
	} else if (!e && s > p->floor) {
		e = fdproc_insert(p, r->fd.fd, pos);
		if (!e)
			return MIRROR_ENOMEM;
		e->seq = s;
		e->t_s = files_now_s(f);
		e->close_unlogged = true;
		e->close_time_ns = r->hdr.time_ns;
		e->close_cpu = r->hdr.cpu;
		return MIRROR_APPLIED;
	} else if (e && s > e->seq) {
		/* closes a file whose open has not come (yet: or the filter hid it) */
		fd_save_version(f, e, e->open_seq, e->seq);
		free(e->path);
		e->path = NULL;
		e->plen = 0;
		e->seq = s;
		e->open_seq = 0;
		e->t_s = files_now_s(f);
		e->close_unlogged = true;
		e->close_time_ns = r->hdr.time_ns;
		e->close_cpu = r->hdr.cpu;
		return MIRROR_APPLIED;
	}
	f->c[MIRROR_STAT_FILE_RECORDS_STALE]++;
	return MIRROR_STALE;
}

/* ---- sockets --------------------------------------------------------------------------- */

enum mirror_result files_apply(struct files *f, const struct mirror_rec *r, uint64_t s)
{
	switch (r->hdr.type) {
	case DBOS_REC_FD_OPEN:
	case DBOS_REC_FD:
		return r->fd.pid ? fd_open(f, r, s) : MIRROR_IGNORED;
	case DBOS_REC_FD_CLOSE:
		return r->fd.pid ? fd_close(f, r, s) : MIRROR_IGNORED;
	}
	/* every other file record is a SOCK_* one (numbered SOCK_INFO..SOCK) */
	if (r->hdr.type >= DBOS_REC_SOCK_INFO && r->hdr.type <= DBOS_REC_SOCK)
		return sock_apply(f, r, s);
	return MIRROR_IGNORED;
}

/* ---- process lifecycle ------------------------------------------------------------------- */

int files_fork(struct files *f, uint32_t parent, uint32_t child, uint64_t s)
{
	struct fdproc *pp, *c = proc_get(f, child);
	uint32_t i;

	if (!c)
		return -1;
	if (s <= c->fork_seq)
		return 0;	/* an older incarnation's FORK */
	if (s > c->floor) {
		/* What the pid held before s belongs to an earlier incarnation. */
		for (i = 0; i < c->n;) {
			if (c->v[i].seq < s)
				fd_drop(f, c, i);
			else
				i++;
		}
		c->floor = s;
	}	/* else its EXIT came first: it is dead, its tombstones learn what it had */
	c->fork_seq = s;
	c->parent = parent;
	pp = parent && parent != child ? proc_get(f, parent) : NULL;
	if (!pp)
		return parent && parent != child ? -1 : 0;
	if (s > pp->child_fork_max)
		pp->child_fork_max = s;
	for (i = 0; i < pp->n; i++) {
		struct fdent tmp, copy;
		const struct fdent *pe = fd_at(&pp->v[i], s, &tmp);
		uint64_t until;

		if (!pe)
			continue;
		copy = *pe;	/* pp->v may not move, but keep it simple */
		until = fd_inherit(f, c, copy.fd, &copy);
		/* children of @c whose FORK came before this one copied nothing */
		if (s < c->child_fork_max)
			fd_propagate(f, c->pid, copy.fd, &copy, s, until, 1);
	}
	return 0;
}

int files_exit(struct files *f, uint32_t pid, uint64_t s)
{
	struct fdproc *p = proc_get(f, pid);
	unsigned char k[8];
	uint32_t i;

	if (!p)
		return -1;
	if (s <= p->floor)
		return 0;
	for (i = 0; i < p->n; i++) {
		struct fdent *e = &p->v[i];

		if (e->seq > s)
			continue;	/* newer than the death: stays */
		/*
		 * One point delete per stored row (live, or a pending delete),
		 * not a range delete over the pid: every new iterator of the
		 * family re-fragments the memtable's range tombstones, so a
		 * range delete per exit made each scan cost more, exit by exit
		 * (a quarter of a host test's time at a few thousand exits).
		 */
		if (e->stored) {
			fd_key(k, pid, e->fd);
			store_batch_delete(f->b, STORE_CF_FDS, k, sizeof(k));
			e->stored = false;
		}
		/* A tombstone that keeps the file, for FORKs that are still to come. */
		if (e->live) {
			if (e->kind == DBOS_FILE_SOCK)
				sock_ref(f, e->inode, -1);
			f->nfds--;
			e->open_seq = e->seq;
			e->live = false;
			e->close_unlogged = false;
			e->seq = s;
			e->t_s = files_now_s(f);
		}
	}
	p->floor = s;
	p->t_s = files_now_s(f);
	return 0;
}

/* ---- re-sync, prune, commit ------------------------------------------------------------------ */

void files_resync_begin(struct files *f, uint32_t gen)
{
	f->gen = gen;
	f->in_resync = true;
	f->dumped = false;
	f->first_snap = 0;
}

void files_resync_dumped(struct files *f)
{
	f->dumped = true;
}

uint32_t files_resync_end(struct files *f, uint64_t first_proc_snap)
{
	uint64_t cut = f->first_snap ? f->first_snap : first_proc_snap;
	struct ptrmap_slot *sl;
	uint32_t n = 0;

	f->in_resync = false;
	if (!cut || !f->dumped)
		return 0;
	if (cut > f->dump_floor)
		f->dump_floor = cut;
	ptrmap_for_each(&f->procs, sl) {
		struct fdproc *p = sl->val;

		for (uint32_t i = 0; i < p->n; i++) {
			struct fdent *e = &p->v[i];

			if (!e->live || e->gen == f->gen || e->seq >= cut)
				continue;
			fd_entomb(f, p, e, cut);
			n++;
		}
	}
	f->c[MIRROR_STAT_FILES_SWEPT] += n;
	return n;
}

void files_resync_abort(struct files *f)
{
	f->in_resync = false;
}

/* Appends @key to the growing array *@keys (*@n used of *@cap); false when out of memory. */
static bool push_key(uint64_t **keys, size_t *n, size_t *cap, uint64_t key)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		uint64_t *k = realloc(*keys, c * sizeof(*k));

		if (!k)
			return false;
		*keys = k;
		*cap = c;
	}
	(*keys)[(*n)++] = key;
	return true;
}

void files_prune(struct files *f, uint64_t ttl_ns)
{
	struct ptrmap_slot *sl;
	uint64_t *dead = NULL;
	size_t n = 0, cap = 0;

	/* fd tombstones, then pids with nothing left */
	ptrmap_for_each(&f->procs, sl) {
		struct fdproc *p = sl->val;

		for (uint32_t i = 0; i < p->n;) {
			struct fdent *e = &p->v[i];

			if (!e->live && !e->dirty && f->now_ns >= (uint64_t)e->t_s * NSEC + ttl_ns) {
				fdproc_remove(p, i);
				continue;
			}
			if (e->ver && f->now_ns >= (uint64_t)e->ver[0].t_s * NSEC + ttl_ns) {
				for (int k = 0; k < FD_VERSIONS; k++)
					free(e->ver[k].path);
				free(e->ver);
				e->ver = NULL;
			}
			i++;
		}
		if (p->n || f->now_ns < (uint64_t)p->t_s * NSEC + ttl_ns)
			continue;
		if (!push_key(&dead, &n, &cap, sl->key))
			break;
	}
	for (size_t i = 0; i < n; i++) {
		struct fdproc *p = ptrmap_del(&f->procs, dead[i]);

		free(p->v);
		free(p);
	}
	n = 0;
	ptrmap_for_each(&f->socks, sl) {
		struct sockent *so = sl->val;

		if (so->refs || so->stored || f->now_ns < (uint64_t)so->t_s * NSEC + ttl_ns)
			continue;
		if (!push_key(&dead, &n, &cap, sl->key))
			break;
	}
	for (size_t i = 0; i < n; i++)
		sockent_free(ptrmap_del(&f->socks, dead[i]));
	free(dead);
}

int files_commit(struct files *f, char **err)
{
	if (history_flush(&f->fev, f->st, f->b, err) || history_flush(&f->sev, f->st, f->b, err))
		return -1;
	for (size_t i = 0; i < f->ndirty; i++) {
		struct fdproc *p = ptrmap_get(&f->procs, f->dirty[i].pid);
		struct fdent *e;
		uint32_t pos;

		if (!p || !(e = fdproc_find(p, f->dirty[i].fd, &pos)) || !e->dirty)
			continue;	/* gone with its process (range delete), or done */
		e->dirty = false;
		if (e->live) {
			if (!fd_put_row(f, p->pid, e))
				e->stored = true;
		} else if (e->stored) {
			fd_del_row(f, p->pid, e->fd);
			e->stored = false;
		}
	}
	f->ndirty = 0;
	history_trim(&f->fev, f->b);
	history_trim(&f->sev, f->b);
	f->c[MIRROR_STAT_FILES_ROWS] = f->nfds;
	f->c[MIRROR_STAT_SOCKETS_ROWS] = f->nsocks;
	f->c[MIRROR_STAT_FILE_EVENTS_ROWS] = f->fev.count;
	f->c[MIRROR_STAT_SOCKET_EVENTS_ROWS] = f->sev.count;
	f->c[MIRROR_STAT_FILE_EVENTS_TRIMMED] = f->fev.trimmed;
	f->c[MIRROR_STAT_SOCKET_EVENTS_TRIMMED] = f->sev.trimmed;
	return 0;
}

void files_committed(struct files *f)
{
	history_committed(&f->fev);
	history_committed(&f->sev);
}

size_t files_pending(const struct files *f)
{
	return f->ndirty + history_pending(&f->fev) + history_pending(&f->sev);
}

void files_set_now(struct files *f, uint64_t now_ns)
{
	f->now_ns = now_ns;
}

/* ---- open / close ------------------------------------------------------------------------------ */

/* One stored process_open_files row back into the working copy. */
static int load_fd(struct files *f, uint32_t pid, uint32_t fd, const char *val, size_t vlen)
{
	struct row_value v[FDS__COUNT];
	struct fdproc *p;
	struct fdent *e;
	uint32_t pos;

	if (row_decode(val, vlen, v, FDS__COUNT))
		return 0;	/* unreadable: swept by the next dump */
	if (!(p = proc_get(f, pid)))
		return -1;
	if (fdproc_find(p, fd, &pos))
		return 0;
	if (!(e = fdproc_insert(p, fd, pos)))
		return -1;
	e->live = true;
	e->stored = true;
	e->seq = files_int_col(&v[FDS_SEQ]);
	e->flags = (uint32_t)files_int_col(&v[FDS_FLAGS]);
	e->inode = files_int_col(&v[FDS_INODE]);
	e->dev = files_int_col(&v[FDS_DEVICE]);
	e->mode = (uint32_t)files_int_col(&v[FDS_MODE]);
	for (uint16_t k = 0; k < __DBOS_FILE_MAX; k++)
		if (v[FDS_TYPE].type == ROW_TEXT && strlen(kind_names[k]) == v[FDS_TYPE].len &&
		    !memcmp(kind_names[k], v[FDS_TYPE].s, v[FDS_TYPE].len))
			e->kind = k;
	if (v[FDS_PATH].type == ROW_TEXT && v[FDS_PATH].len) {
		if (!(e->path = malloc(v[FDS_PATH].len)))
			return -1;
		memcpy(e->path, v[FDS_PATH].s, v[FDS_PATH].len);
		e->plen = (uint32_t)v[FDS_PATH].len;
	}
	f->nfds++;
	if (e->kind == DBOS_FILE_SOCK) {
		struct sockent *so = sock_get(f, e->inode);

		if (!so)
			return -1;
		so->refs++;
	}
	return 0;
}

static int load(struct files *f, enum store_cf cf, char **err)
{
	struct store_iter *it = store_iter_new(f->st, cf);
	int rc = 0;

	if (!it) {
		*err = strdup("out of memory loading open files");
		return -1;
	}
	for (store_iter_seek_first(it); rc == 0 && store_iter_valid(it); store_iter_next(it)) {
		size_t klen, vlen;
		const char *k = store_iter_key(it, &klen);
		const char *v = store_iter_value(it, &vlen);

		if (klen != 8)
			continue;
		if (cf == STORE_CF_FDS)
			rc = load_fd(f, (uint32_t)store_key_get(k, 4), (uint32_t)store_key_get(k + 4, 4),
				     v, vlen);
		else
			rc = load_sock(f, store_key_get(k, 8), v, vlen);
	}
	if (rc)
		*err = strdup("out of memory loading open files");
	else
		rc = store_iter_error(it, err);
	store_iter_free(it);
	return rc;
}

int files_open(struct store *st, struct store_batch *batch, uint64_t retention,
	       uint64_t *c, uint64_t *max_seq, struct files **out, char **err)
{
	struct files *f = calloc(1, sizeof(*f));
	struct ptrmap_slot *sl;

	*out = NULL;
	if (!f || ptrmap_init(&f->procs, 1024) || ptrmap_init(&f->socks, 1024)) {
		if (f) {
			ptrmap_free(&f->procs);
			free(f);
		}
		*err = strdup("out of memory");
		return -1;
	}
	f->st = st;
	f->b = batch;
	f->c = c;
	history_init(&f->fev, STORE_CF_FILE_EVENTS, retention);
	history_init(&f->sev, STORE_CF_SOCKET_EVENTS, retention);
	if (load(f, STORE_CF_FDS, err) || load(f, STORE_CF_SOCKETS, err) ||
	    history_load(&f->fev, st, max_seq, err) || history_load(&f->sev, st, max_seq, err)) {
		files_close(f);
		return -1;
	}
	/* Stored sockets that no stored fd points at: delete at the first commit. */
	ptrmap_for_each(&f->socks, sl)
		sock_sync(f, sl->val, false);
	if (files_commit(f, err)) {
		files_close(f);
		return -1;
	}
	*out = f;
	return 0;
}

void files_close(struct files *f)
{
	struct ptrmap_slot *sl;

	if (!f)
		return;
	if (f->procs.slots) {
		ptrmap_for_each(&f->procs, sl) {
			struct fdproc *p = sl->val;

			for (uint32_t i = 0; i < p->n; i++)
				fdent_free(&p->v[i]);
			free(p->v);
			free(p);
		}
	}
	if (f->socks.slots)
		ptrmap_for_each(&f->socks, sl)
			sockent_free(sl->val);
	ptrmap_free(&f->procs);
	ptrmap_free(&f->socks);
	history_free(&f->fev);
	history_free(&f->sev);
	free(f->dirty);
	free(f->enc);
	free(f);
}
