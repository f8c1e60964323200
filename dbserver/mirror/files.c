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
 * Records come in seq order (the intake's reorder stage merges the CPUs'
 * streams); where order broke (a late record, a forced release) the intake
 * re-syncs, and the dump repairs whatever the record got wrong. Rules, for
 * a record with (epoch-mapped) seq s:
 *
 *  1. FD_OPEN/FD (snapshot) for (pid, fd) with s > the row's seq makes the
 *     row (replacing what had this number); an older record is stale:
 *     history only. So is a record with s <= the seq at which the process
 *     died or was born (its floor), and an FD_OPEN older than the last
 *     complete dump (it sat in a ring while the dump ran: mirror.h).
 *  2. FD_CLOSE with s > the row's seq removes the row; file_events gets the
 *     path and the rest from the row. A close of an fd without a row (one
 *     the kind filter hid, or older than a snapshot) goes into file_events
 *     with NULL columns.
 *  3. A socket row exists while some fd row refers to its inode AND a
 *     SOCK_* record has described it: SOCK_* records with s > the info's seq
 *     replace the info (any socket record carries the whole state). Infos
 *     without fds are kept a few seconds (their FD_OPEN may still come),
 *     never shown. BIND/LISTEN/CONNECT/ACCEPT/STATE go into socket_events
 *     with the record's own columns; closing a socket fd adds a 'close' row.
 *  4. A process FORK at s drops what the child's pid held before s (an
 *     earlier incarnation) and copies to it the parent's rows older than s
 *     (a newer row is a snapshot taken after the fork, which may show a
 *     file opened since; the child's own snapshot, newer still, shows what
 *     it has). A process's death at s deletes its rows older than s (point
 *     deletes: range deletes slow down every later scan; the module records
 *     a close for each fd first) and sets the pid's floor.
 *  5. Re-sync: see files.h. Rows the dump did not show and older than its
 *     first snapshot are removed.
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

/* Encodes the row of @e (process @pid) into f->enc. 0, or -1 on ENOMEM. */
static int fd_encode(struct files *f, uint32_t pid, const struct fdent *e, size_t *len)
{
	struct row_value v[FDS__COUNT];

	v[FDS_PID] = row_int(pid);
	v[FDS_FD] = row_int(e->fd);
	v[FDS_PATH] = row_text(e->path ? e->path : "", e->plen);
	v[FDS_FLAGS] = row_int(e->flags);
	v[FDS_INODE] = row_int((int64_t)e->inode);
	v[FDS_DEVICE] = row_int((int64_t)e->dev);
	v[FDS_TYPE] = kind_value(e->kind);
	v[FDS_MODE] = row_int(e->mode);
	v[FDS_SEQ] = row_int((int64_t)e->seq);
	return files_encode(f, v, FDS__COUNT, len);
}

static int fd_put_row(struct files *f, uint32_t pid, const struct fdent *e)
{
	unsigned char k[8];
	size_t len;

	if (fd_encode(f, pid, e, &len))
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
			if (!fd_put_row(f, pid, e))
				e->stored = true;
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

/* Logs what the row of @e (process @pid) became: @e's row, or deleted (@e NULL). */
static void fd_log(struct files *f, uint32_t pid, uint32_t fd, const struct fdent *e)
{
	uint64_t key = (uint64_t)pid << 32 | fd;
	size_t len;

	if (!f->chg->on)
		return;
	if (!e)
		changes_del(f->chg, CHANGES_FDS, key, f->cause_seq, f->cause_time);
	else if (!fd_encode(f, pid, e, &len))
		changes_put(f->chg, CHANGES_FDS, key, f->cause_seq, f->cause_time, f->enc, len);
	else
		f->chg->lost++;
}

/* Removes entry @i of @p (a live row): its row is deleted in this batch. */
static void fd_remove(struct files *f, struct fdproc *p, uint32_t i)
{
	struct fdent *e = &p->v[i];

	fd_log(f, p->pid, e->fd, NULL);
	if (e->kind == DBOS_FILE_SOCK)
		sock_ref(f, e->inode, -1);
	f->nfds--;
	if (e->stored)
		fd_del_row(f, p->pid, e->fd);
	fdproc_remove(p, i);
}

/*
 * Makes @e the row described by @d + @path at @s (replacing what it was;
 * @fresh: @e was just inserted). 0, or -1 on ENOMEM (@e unchanged).
 */
static int fd_make(struct files *f, struct fdproc *p, struct fdent *e, bool fresh,
		   const struct dbos_fd *d, const char *path, uint64_t s)
{
	char *np = NULL;

	if (d->path_len && !(np = malloc(d->path_len)))
		return -1;
	if (d->path_len)
		memcpy(np, path, d->path_len);
	if (fresh)
		f->nfds++;
	else if (e->kind == DBOS_FILE_SOCK)
		sock_ref(f, e->inode, -1);
	free(e->path);
	e->path = np;
	e->plen = d->path_len;
	e->kind = d->kind;
	e->flags = d->flags;
	e->mode = d->mode;
	e->inode = d->inode;
	e->dev = d->dev;
	e->seq = s;
	if (e->kind == DBOS_FILE_SOCK)
		sock_ref(f, e->inode, +1);
	fd_dirty(f, p->pid, e);
	fd_log(f, p->pid, e->fd, e);
	return 0;
}

static enum mirror_result fd_stale(struct files *f)
{
	f->c[MIRROR_STAT_FILE_RECORDS_STALE]++;
	return MIRROR_STALE;
}

static enum mirror_result fd_open(struct files *f, const struct mirror_rec *r, uint64_t s)
{
	bool snap = r->hdr.type == DBOS_REC_FD, fresh;
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
		if (s < f->dump_floor) {
			/* taken before the last dump read the kernel: the dump shows it */
			f->c[MIRROR_STAT_BEFORE_DUMP]++;
			return MIRROR_STALE;
		}
	}
	e = fdproc_find(p, r->fd.fd, &pos);
	/* A snapshot at s shows every record up to s, the one at s too. */
	if (s <= p->floor || (e && (snap ? s < e->seq : s <= e->seq))) {
		if (e && snap && s < e->seq)
			e->gen = f->gen;	/* the row is newer than the snapshot: still there */
		return fd_stale(f);
	}
	fresh = !e;
	if (fresh && !(e = fdproc_insert(p, r->fd.fd, pos)))
		return MIRROR_ENOMEM;
	if (fd_make(f, p, e, fresh, &r->fd, r->path, s)) {
		if (fresh)
			fdproc_remove(p, pos);
		return MIRROR_ENOMEM;
	}
	if (snap)
		e->gen = f->gen;
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
	if (!e || s <= e->seq) {
		/*
		 * Of a file the table does not show: one older than the row
		 * (a snapshot taken after the close), or not reported (the
		 * kind filter, a record lost before a re-sync).
		 */
		file_history(f, r, s, "close", NULL);
		return fd_stale(f);
	}
	file_history(f, r, s, "close", e);
	if (e->kind == DBOS_FILE_SOCK) {
		const struct sockent *so = ptrmap_get(&f->socks, e->inode);

		socket_history(f, &r->hdr, s, "close", r->fd.pid, r->fd.fd, e->inode,
			       so && so->has_info ? so : NULL);
	}
	fd_remove(f, p, pos);
	f->c[MIRROR_STAT_FILE_RECORDS_APPLIED]++;
	return MIRROR_APPLIED;
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
	if (s <= c->floor)
		return 0;	/* an older incarnation's FORK */
	/* What the pid held before s belongs to an earlier incarnation. */
	for (i = 0; i < c->n;) {
		if (c->v[i].seq < s)
			fd_remove(f, c, i);
		else
			i++;
	}
	c->floor = s;
	c->t_s = files_now_s(f);
	pp = parent && parent != child ? proc_get(f, parent) : NULL;
	if (!pp)
		return parent && parent != child ? -1 : 0;
	/*
	 * The parent's files open at s. A row newer than s (a snapshot taken
	 * after the fork) may show a file opened since: not copied; the
	 * child's own snapshot, newer still, shows what it has.
	 */
	for (i = 0; i < pp->n; i++) {
		const struct fdent *pe = &pp->v[i];
		struct dbos_fd d = {
			.pid = child, .fd = pe->fd, .flags = pe->flags, .kind = pe->kind,
			.path_len = (uint16_t)pe->plen, .inode = pe->inode, .dev = pe->dev,
			.mode = pe->mode,
		};
		struct fdent *e;
		uint32_t pos;

		if (pe->seq >= s)
			continue;
		e = fdproc_find(c, pe->fd, &pos);
		if (e)
			continue;	/* newer than the fork (seq >= s): the child's own */
		if (!(e = fdproc_insert(c, pe->fd, pos)))
			return -1;
		/* @pe may move as @c grows only if @c == @pp, excluded above */
		if (fd_make(f, c, e, true, &d, pe->path, s)) {
			fdproc_remove(c, pos);
			return -1;
		}
	}
	return 0;
}

int files_exit(struct files *f, uint32_t pid, uint64_t s)
{
	struct fdproc *p = proc_get(f, pid);
	uint32_t i;

	if (!p)
		return -1;
	if (s <= p->floor)
		return 0;
	/*
	 * One point delete per stored row, not a range delete over the pid:
	 * every new iterator of the family re-fragments the memtable's range
	 * tombstones, so a range delete per exit made each scan cost more,
	 * exit by exit (a quarter of a host test's time at a few thousand
	 * exits). The module records a close for every fd the process still
	 * held before its exit (file_events); a row newer than the death (a
	 * later incarnation's snapshot) stays.
	 */
	for (i = 0; i < p->n;) {
		if (p->v[i].seq < s)
			fd_remove(f, p, i);
		else
			i++;
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

		for (uint32_t i = 0; i < p->n;) {
			struct fdent *e = &p->v[i];

			if (e->gen == f->gen || e->seq >= cut) {
				i++;
				continue;
			}
			fd_remove(f, p, i);
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

	/* pids with no fd left, once their floor is old, then sockets */
	ptrmap_for_each(&f->procs, sl) {
		struct fdproc *p = sl->val;

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
			continue;	/* closed (its delete is in the batch), or done */
		e->dirty = false;
		if (!fd_put_row(f, p->pid, e))
			e->stored = true;
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

void files_set_cause(struct files *f, uint64_t seq, uint64_t time_ns)
{
	f->cause_seq = seq;
	f->cause_time = time_ns;
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
	       uint64_t *c, uint64_t *max_seq, struct changes_log *chg, struct files **out,
	       char **err)
{
	struct files *f = calloc(1, sizeof(*f));

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
	f->chg = chg;
	history_init(&f->fev, STORE_CF_FILE_EVENTS, retention);
	history_init(&f->sev, STORE_CF_SOCKET_EVENTS, retention);
	if (load(f, STORE_CF_FDS, err) || load(f, STORE_CF_SOCKETS, err) ||
	    history_load(&f->fev, st, max_seq, err) || history_load(&f->sev, st, max_seq, err)) {
		files_close(f);
		return -1;
	}
	*out = f;
	return 0;
}

int files_start(struct files *f, char **err)
{
	struct ptrmap_slot *sl;

	/* Stored sockets that no stored fd points at: delete at the first commit. */
	ptrmap_for_each(&f->socks, sl)
		sock_sync(f, sl->val, false);
	return files_commit(f, err);
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
