// SPDX-License-Identifier: GPL-2.0
/* mirror.c - applies kernel records to the processes working copy and writes rows and history to the store. */

/*
 * How records become rows
 * -----------------------
 * Every record carries the global seq of its event, and records come in seq
 * order: the reorder stage in intake merges the per-CPU streams, and a
 * record that could not be merged in order makes intake re-sync (the dump
 * repairs whatever it changed). What interleaves with them are snapshots
 * (dumps, GET_PROC replies): a snapshot at seq q shows every record up to
 * q, and records older than q may still come after it (they sat in the
 * kernel's rings while it was taken). Each pid is in one of two states:
 *
 *   LIVE     a row; slot.seq is the seq of the newest record or snapshot
 *            applied to it.
 *   DEAD     the process exited at slot.seq (EXIT with GROUP_DEAD, or swept
 *            by a re-sync); the row is deleted and the slot freed at the
 *            next commit.
 *
 * Rules, for a record with (epoch-mapped) seq s about pid p:
 *
 *  1. A record with s <= the row's seq is stale: the snapshot that set the
 *     row already shows it. It changes no column; process events still go
 *     into process_events. A snapshot at s == the row's seq wins (it shows
 *     the record at s too).
 *  2. Only a FORK or a snapshot makes a row. Another record about a pid
 *     without a row changes nothing: its process's FORK came before it, so
 *     the process has exited (or the record is older than the last dump).
 *  3. A FORK with s > a live row's seq starts a new incarnation (pid reuse
 *     whose predecessor's EXIT was lost) and replaces the row, except for a
 *     FORK that a dump overtook (the dump saw the child before its FORK took
 *     a seq: same start time, so the snapshot's cwd stays).
 *  4. EXIT with GROUP_DEAD and s > the row's seq deletes the row. So does a
 *     snapshot flagged GROUP_DEAD (every thread is past the point of no
 *     return in do_exit()): a dying process is never brought back. An EXIT
 *     without GROUP_DEAD is a thread's exit.
 *  5. Thread events (FORK/EXIT that are not a process's birth/death, and
 *     THREAD-flagged EXEC/COMM/CRED, which concern one thread's name or
 *     credentials) never change the row's other columns and are not stored
 *     in process_events. processes.threads = base + delta, where base is
 *     the thread count of the snapshot (or 1 for the FORK) with seq
 *     threads_seq, and delta sums +1/-1 for each thread FORK/EXIT with seq
 *     > threads_seq. Exactly once: the kernel delivers each record once,
 *     records with seq <= threads_seq are already counted in the base and are
 *     skipped, the others are added once. A snapshot resets delta to 0; that
 *     is exact because intake applies snapshots (dump, GET_PROC) while it is
 *     not reading the event socket, so every delta applied so far comes from
 *     an event received, hence happened, before the snapshot was taken.
 *  6. PROC snapshots newer than the row replace it entirely (including cwd
 *     and threads) and mark the pid for the running re-sync.
 *  7. cwd comes only from snapshots: NULL until a dump saw the process; EXEC
 *     keeps it; a FORK of a new process starts with NULL (unless the dump
 *     saw the child before its FORK record took its seq: rule 3).
 *
 * Batching: rows are written at commit time, once per pid changed since the
 * previous commit (the dirty list), so fork+exec+exit within one batch writes
 * no processes row at all; history rows are added as records arrive.
 *
 * History retention: see history.h (one struct history per history table).
 *
 * Scheduling columns (nice, sched_policy, sched_priority, cpus) merge by
 * their own seqs, and SCHED records add sched_decisions rows: see schedrec.c.
 *
 * Open files and sockets (FD_* and SOCK_* records) are mirrored by files.c,
 * which shares this mirror's batch, epoch and clock; mirror_apply() hands it
 * those records, and tells it about process births (a FORK copies the
 * parent's fd table) and deaths (the process's fd rows go).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbserver/mirror/files.h"
#include "dbserver/mirror/history.h"
#include "dbserver/mirror/mirror.h"
#include "dbserver/mirror/proctab.h"
#include "dbserver/mirror/schedrec.h"
#include "dbserver/sched/sched.h"
#include "dbserver/sql/schema.h"
#include "dbserver/store/changes.h"
#include "dbserver/store/row.h"

#define META_EPOCH	"epoch"	/* be64 instance, be64 base */
#define NSEC		1000000000ULL
#define SAME_START_NS	1000000ULL	/* start times this close: the same process */

struct mirror {
	struct store *st;
	struct mirror_config cfg;
	void (*orphan)(void *arg, uint32_t child, uint32_t old_parent);
	void *orphan_arg;
	struct proctab tab;
	struct proc_live *free_live;	/* recycled, with their string buffers */
	struct store_batch *batch;
	uint32_t *dirty;
	size_t ndirty, dirty_cap;
	char *enc;			/* row encode buffer */
	size_t enc_cap;
	char *join;			/* history cmdline scratch */
	size_t join_cap;

	/* epochs */
	bool has_instance;
	uint64_t instance, base;
	bool has_epoch;			/* stored (or pending) epoch record */
	uint64_t epoch_instance, epoch_base;
	bool epoch_dirty;
	uint64_t max_seq;		/* largest mapped seq stored or applied */

	/* re-sync */
	uint32_t gen;
	bool in_resync;
	uint64_t first_snap;		/* the running dump's oldest snapshot */
	uint64_t dump_floor;		/* the last complete dump's first snapshot seq */
	uint32_t files_swept;		/* by the last re-sync */

	struct history hist;		/* process_events */
	struct history shist;		/* sched_decisions */
	char cpus_text[SCHEDREC_CPUS_TEXT];	/* scratch: the CPU list of the record applied */
	char *srow;			/* scratch: a sched_decisions row */
	size_t srow_cap;
	struct files *files;		/* open files and sockets */
	struct changes_log chg;		/* every live row change, as it happens (changes.h) */
	uint64_t cause_seq, cause_time;	/* of the record being applied */
	uint64_t first_snap_time;	/* the time of first_snap */
	uint64_t last_time;		/* the largest record time applied */
	bool lossy;			/* a re-sync is repairing the tables since ... */
	uint64_t loss_seq, loss_time;	/* ... the last record before it */

	uint64_t live_count;
	uint64_t c[MIRROR_STAT__COUNT];
	_Atomic int64_t pub[MIRROR_STAT__COUNT];
};

const struct mirror_stat_info mirror_stat_info[MIRROR_STAT__COUNT] = {
	[MIRROR_STAT_EVENTS_APPLIED] = { "events_applied", "Process records that changed the live processes table" },
	[MIRROR_STAT_EVENTS_STALE] = { "events_stale", "Records older than the row they concern (a snapshot already showed them), or about a pid with no row: not applied to the live row (still kept in history)" },
	[MIRROR_STAT_BEFORE_DUMP] = { "records_before_dump", "Records taken before the last re-sync's dump read the kernel but delivered after it (they sat in a ring): the dump already shows their effect, so they go into history only" },
	[MIRROR_STAT_THREAD_EVENTS] = { "thread_events", "Thread-level records: adjust processes.threads, not stored in process_events" },
	[MIRROR_STAT_SNAPSHOTS] = { "snapshots", "Process snapshots (dumps and GET_PROC replies) received" },
	[MIRROR_STAT_PROCESSES_ROWS] = { "processes_rows", "Rows in processes (as of the last commit)" },
	[MIRROR_STAT_PROCESS_EVENTS_ROWS] = { "process_events_rows", "Rows in process_events (as of the last commit)" },
	[MIRROR_STAT_HISTORY_TRIMMED] = { "history_trimmed", "process_events rows deleted by the retention limit since start" },
	[MIRROR_STAT_LAST_SEQ] = { "last_seq", "Largest seq seen, in history seq space (epoch base + kernel seq)" },
	[MIRROR_STAT_EPOCH_BASE] = { "epoch_base", "History seq base of the current kernel module instance" },
	[MIRROR_STAT_STORE_ERRORS] = { "store_errors", "Failed store writes (the batch is retried with the next commit)" },
	[MIRROR_STAT_FILE_RECORDS_APPLIED] = { "file_records_applied", "FD and socket records that changed process_open_files or sockets" },
	[MIRROR_STAT_FILE_RECORDS_STALE] = { "file_records_stale", "FD and socket records older than the row or tombstone they concern (history only)" },
	[MIRROR_STAT_FILE_SNAPSHOTS] = { "file_snapshots", "FD and socket snapshots received from DUMP_FILES" },
	[MIRROR_STAT_FILES_ROWS] = { "process_open_files_rows", "Rows in process_open_files (as of the last commit)" },
	[MIRROR_STAT_SOCKETS_ROWS] = { "sockets_rows", "Rows in sockets (as of the last commit)" },
	[MIRROR_STAT_FILE_EVENTS_ROWS] = { "file_events_rows", "Rows in file_events (as of the last commit)" },
	[MIRROR_STAT_SOCKET_EVENTS_ROWS] = { "socket_events_rows", "Rows in socket_events (as of the last commit)" },
	[MIRROR_STAT_FILE_EVENTS_TRIMMED] = { "file_events_trimmed", "file_events rows deleted by the retention limit since start" },
	[MIRROR_STAT_SOCKET_EVENTS_TRIMMED] = { "socket_events_trimmed", "socket_events rows deleted by the retention limit since start" },
	[MIRROR_STAT_FILES_SWEPT] = { "files_swept", "Open file rows removed by re-syncs (the kernel's dump no longer had them)" },
	[MIRROR_STAT_SCHED_APPLIED] = { "sched_applied", "SCHED records (changes and dump snapshots) that changed a process's scheduling columns" },
	[MIRROR_STAT_SCHED_STALE] = { "sched_stale", "SCHED records older than the scheduling values of their process, or for a process with no row (sched_decisions only)" },
	[MIRROR_STAT_SCHED_DECISIONS_ROWS] = { "sched_decisions_rows", "Rows in sched_decisions (as of the last commit)" },
	[MIRROR_STAT_SCHED_DECISIONS_TRIMMED] = { "sched_decisions_trimmed", "sched_decisions rows deleted by the retention limit since start" },
	[MIRROR_STAT_CHANGES_LOGGED] = { "changes_logged", "Live row changes in the change log (as-of queries), the trimmed ones included" },
	[MIRROR_STAT_CHECKPOINTS] = { "checkpoints_written", "Checkpoints of the live tables written since start (as-of queries replay from the nearest)" },
	[MIRROR_STAT_CHANGES_TRIMMED] = { "changes_trimmed", "Change log rows deleted by the retention limit since start" },
	[MIRROR_STAT_CHANGES_LOST] = { "changes_lost", "Live row changes the change log could not keep (out of memory): as-of results may be wrong (0 unless memory ran out)" },
};

/* ---- small helpers ---------------------------------------------------- */

/* Command lines come as NUL-separated arguments; SQL shows them joined by spaces. */
static void join_args(char *p, size_t n)
{
	for (char *q = memchr(p, 0, n); q; q = memchr(q, 0, n - (size_t)(q - p)))
		*q = ' ';
}

static size_t cmdline_len(const struct mirror_rec *r)
{
	size_t n = r->proc.cmdline_len;

	if (n && r->cmdline[n - 1] == '\0')	/* tolerate a trailing NUL */
		n--;
	return n;
}

static const char *const policy_names[] = {
	"other", "fifo", "rr", "batch", NULL, "idle", "deadline",
};

static struct row_value policy_value(uint32_t policy, char buf[12])
{
	if (policy < sizeof(policy_names) / sizeof(policy_names[0]) && policy_names[policy])
		return row_text(policy_names[policy], strlen(policy_names[policy]));
	return row_text(buf, (size_t)snprintf(buf, 12, "%u", policy));
}

static uint32_t policy_from_text(const struct row_value *v)
{
	if (v->type != ROW_TEXT)
		return 0;
	for (uint32_t i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++)
		if (policy_names[i] && strlen(policy_names[i]) == v->len &&
		    !memcmp(policy_names[i], v->s, v->len))
			return i;
	char buf[12] = "";

	if (v->len < sizeof(buf))
		memcpy(buf, v->s, v->len);
	return (uint32_t)strtoul(buf, NULL, 10);
}

static struct row_value opt_text(const struct proc_str *s, bool known)
{
	return known ? row_text(s->p ? s->p : "", s->len) : row_null();
}

static int encode(struct mirror *m, const struct row_value *v, int n, size_t *len)
{
	size_t need = row_encode(v, n, m->enc, m->enc_cap);

	if (need > m->enc_cap) {
		size_t cap = need * 2;
		char *p = realloc(m->enc, cap);

		if (!p)
			return -1;
		m->enc = p;
		m->enc_cap = cap;
		need = row_encode(v, n, m->enc, m->enc_cap);
	}
	*len = need;
	return 0;
}

static int encode_proc(struct mirror *m, const struct proc_slot *sl, size_t *len);

/*
 * @sl's row changed (or went): logged now, with what caused it (the change
 * log keeps every state a row had), and written at commit (only the last).
 */
static void mark_dirty(struct mirror *m, struct proc_slot *sl)
{
	size_t len;

	if (m->chg.on) {
		if (sl->state != PROC_LIVE)
			changes_del(&m->chg, CHANGES_PROCESSES, sl->pid, m->cause_seq, m->cause_time);
		else if (!encode_proc(m, sl, &len))
			changes_put(&m->chg, CHANGES_PROCESSES, sl->pid, m->cause_seq, m->cause_time,
				    m->enc, len);
		else
			m->chg.lost++;
	}
	if (sl->flags & PROC_F_DIRTY)
		return;
	if (m->ndirty == m->dirty_cap) {
		size_t cap = m->dirty_cap ? m->dirty_cap * 2 : 1024;
		uint32_t *p = realloc(m->dirty, cap * sizeof(*p));

		if (!p)
			return;	/* row written at the next change or re-sync */
		m->dirty = p;
		m->dirty_cap = cap;
	}
	m->dirty[m->ndirty++] = sl->pid;
	sl->flags |= PROC_F_DIRTY;
}

static struct proc_live *live_alloc(struct mirror *m)
{
	struct proc_live *L = m->free_live;

	if (L) {
		struct proc_str p = L->path, c = L->cmdline, w = L->cwd, u = L->cpus;

		m->free_live = L->next_free;
		memset(L, 0, sizeof(*L));
		L->path = p;
		L->cmdline = c;
		L->cwd = w;
		L->cpus = u;
		L->path.len = L->cmdline.len = L->cwd.len = L->cpus.len = 0;
		return L;
	}
	return calloc(1, sizeof(*L));
}

static void live_release(struct mirror *m, struct proc_live *L)
{
	L->next_free = m->free_live;
	m->free_live = L;
}

static void live_destroy(struct proc_live *L)
{
	free(L->path.p);
	free(L->cmdline.p);
	free(L->cwd.p);
	free(L->cpus.p);
	free(L);
}

/* ---- field groups ------------------------------------------------------ */

static void set_fields(struct proc_live *L, const struct dbos_proc *p, uint64_t s)
{
	L->ppid = p->ppid;
	L->uid = p->uid;
	L->gid = p->gid;
	L->euid = p->euid;
	L->egid = p->egid;
	schedrec_from_proc(L, p, s);
	L->state = p->state;
	L->start_time_ns = p->start_time_ns;
	memcpy(L->comm, p->comm, sizeof(L->comm));
}

static int set_strings(struct proc_live *L, const struct mirror_rec *r, uint64_t s)
{
	size_t n = cmdline_len(r);

	if (proc_str_set(&L->path, r->path, r->proc.path_len) ||
	    proc_str_set(&L->cmdline, r->cmdline, n))
		return -1;
	if (n)
		join_args(L->cmdline.p, n);
	L->str_seq = s;
	return 0;
}

static int set_snapshot_extras(struct proc_live *L, const struct mirror_rec *r, uint64_t s)
{
	if (proc_str_set(&L->cwd, r->cwd, r->proc.cwd_len))
		return -1;
	L->cwd_seq = s;
	L->threads_base = r->proc.threads ? (int32_t)r->proc.threads : 1;
	L->threads_seq = s;
	L->threads_delta = 0;
	return 0;
}

/* Fill a row from a FORK (new process) or PROC snapshot that supersedes everything. */
static int set_all(struct proc_live *L, const struct mirror_rec *r, uint64_t s)
{
	set_fields(L, &r->proc, s);
	if (set_strings(L, r, s))
		return -1;
	if (r->hdr.type == DBOS_REC_PROC)
		return set_snapshot_extras(L, r, s);
	L->cwd.len = 0;
	L->cwd_seq = 0;
	L->threads_base = 1;
	L->threads_seq = s;
	L->threads_delta = 0;
	return 0;
}

/* ---- history ------------------------------------------------------------ */

static const char *event_name(uint16_t type)
{
	switch (type) {
	case DBOS_REC_FORK: return "fork";
	case DBOS_REC_EXEC: return "exec";
	case DBOS_REC_EXIT: return "exit";
	case DBOS_REC_COMM: return "comm";
	case DBOS_REC_CRED: return "cred";
	}
	return "?";
}

static int event_put(struct mirror *m, const struct mirror_rec *r, uint64_t s)
{
	struct row_value v[PROCESS_EVENTS__COUNT];
	const struct dbos_proc *p = &r->proc;
	const char *ev = event_name(r->hdr.type);
	bool strs = r->hdr.type == DBOS_REC_FORK || r->hdr.type == DBOS_REC_EXEC;
	size_t n, len;

	if (!history_wants(&m->hist, s))
		return 0;	/* keeping none, or already older than the retained range */
	n = cmdline_len(r);
	if (n > m->join_cap) {
		char *j = realloc(m->join, n * 2);

		if (!j)
			return -1;
		m->join = j;
		m->join_cap = n * 2;
	}
	if (n) {
		memcpy(m->join, r->cmdline, n);
		join_args(m->join, n);
	}
	v[PROCESS_EVENTS_SEQ] = row_int((int64_t)s);
	v[PROCESS_EVENTS_TIME] = row_int((int64_t)(r->hdr.time_ns / NSEC));
	v[PROCESS_EVENTS_TIME_NS] = row_int((int64_t)r->hdr.time_ns);
	v[PROCESS_EVENTS_EVENT] = row_text(ev, strlen(ev));
	v[PROCESS_EVENTS_PID] = row_int(p->pid);
	v[PROCESS_EVENTS_TID] = row_int(p->tid);
	v[PROCESS_EVENTS_PARENT] = row_int(p->ppid);
	v[PROCESS_EVENTS_NAME] = row_text(p->comm, strnlen(p->comm, sizeof(p->comm)));
	v[PROCESS_EVENTS_PATH] = strs || p->path_len ?
		row_text(p->path_len ? r->path : "", p->path_len) : row_null();
	v[PROCESS_EVENTS_CMDLINE] = strs || n ? row_text(n ? m->join : "", n) : row_null();
	v[PROCESS_EVENTS_UID] = row_int(p->uid);
	v[PROCESS_EVENTS_GID] = row_int(p->gid);
	v[PROCESS_EVENTS_EUID] = row_int(p->euid);
	v[PROCESS_EVENTS_EGID] = row_int(p->egid);
	v[PROCESS_EVENTS_EXIT_CODE] = r->hdr.type == DBOS_REC_EXIT ? row_int(p->exit_code) : row_null();
	v[PROCESS_EVENTS_CPU] = row_int(r->hdr.cpu);
	if (encode(m, v, PROCESS_EVENTS__COUNT, &len))
		return -1;
	return history_put(&m->hist, m->batch, s, m->enc, len);
}

/* ---- applying records ---------------------------------------------------- */

static void notify_orphans(struct mirror *m, uint32_t parent)
{
	struct proc_slot *x;

	if (!m->orphan)
		return;
	proctab_for_each(&m->tab, x)
		if (x->state == PROC_LIVE && x->live->ppid == parent && x->pid != parent)
			m->orphan(m->orphan_arg, x->pid, parent);
}

/*
 * A row just set from a record names a parent that has already exited here:
 * the parent's EXIT was applied before this process's record (it was taken
 * at the exit tracepoint, before the kernel reparents; or the child's record
 * sat in another CPU's buffer), so notify_orphans() could not name it. Ask
 * for it the same way.
 */
static void check_parent(struct mirror *m, uint32_t pid)
{
	struct proc_slot *sl = proctab_find(&m->tab, pid);
	struct proc_slot *p;

	if (!sl || sl->state != PROC_LIVE || !sl->live->ppid || !m->orphan)
		return;
	p = proctab_find(&m->tab, sl->live->ppid);
	if (p && p->state == PROC_DEAD)
		m->orphan(m->orphan_arg, pid, sl->live->ppid);
}

/* The process of @sl ended at @seq: its row (if stored) is deleted at commit. */
static void mark_dead(struct mirror *m, struct proc_slot *sl, uint64_t seq)
{
	if (sl->state == PROC_LIVE) {
		live_release(m, sl->live);
		sl->live = NULL;
		m->live_count--;
	}
	sl->state = PROC_DEAD;
	sl->flags &= ~PROC_F_CHILDREN;
	if (seq > sl->seq)
		sl->seq = seq;
	mark_dirty(m, sl);
}

/* Make @sl (DEAD or EMPTY) LIVE with a fresh proc_live. Returns NULL on ENOMEM. */
static struct proc_live *vivify(struct mirror *m, struct proc_slot *sl)
{
	struct proc_live *L = live_alloc(m);

	if (!L)
		return NULL;
	L->floor = sl->state == PROC_EMPTY ? 0 : sl->seq;
	sl->state = PROC_LIVE;
	sl->live = L;
	m->live_count++;
	return L;
}

/* A new incarnation reuses the row: its scheduling values start unknown. */
static void sched_reset(struct proc_live *L)
{
	L->sched_seq = 0;
	L->cpus_seq = 0;
	L->prio_known = false;
	L->cpus.len = 0;
}

/* A FORK (seq @s) made @L: the kernel copied its parent's CPUs and priority. */
static int fork_inherit(struct mirror *m, struct proc_live *L, uint32_t ppid, uint64_t s)
{
	struct proc_slot *p = ppid ? proctab_find(&m->tab, ppid) : NULL;

	if (!p || p->state != PROC_LIVE || p->live == L)
		return 0;
	return schedrec_inherit(L, p->live, s);
}

static enum mirror_result stale(struct mirror *m)
{
	m->c[MIRROR_STAT_EVENTS_STALE]++;
	return MIRROR_STALE;
}

/* Whether @r, a FORK, is the process a dump already saw as @L (rule 3). */
static bool same_process(const struct proc_live *L, const struct mirror_rec *r)
{
	return L->cwd_seq && L->start_time_ns + SAME_START_NS > r->proc.start_time_ns &&
	       r->proc.start_time_ns + SAME_START_NS > L->start_time_ns;
}

/* A FORK (a new process) or a PROC snapshot (rules 1, 3, 6). */
static enum mirror_result apply_birth(struct mirror *m, const struct mirror_rec *r, uint64_t s)
{
	bool snap = r->hdr.type == DBOS_REC_PROC;
	struct proc_slot *sl = proctab_insert(&m->tab, r->proc.pid);
	struct proc_live *L;

	if (!sl)
		return MIRROR_ENOMEM;
	if (snap) {
		m->c[MIRROR_STAT_SNAPSHOTS]++;
		if (m->in_resync && (!m->first_snap || s < m->first_snap)) {
			m->first_snap = s;
			m->first_snap_time = m->cause_time;
		}
	}
	if (sl->state == PROC_LIVE) {
		L = sl->live;
		if (snap)
			L->gen = m->gen;
		if (s < sl->seq || (s == sl->seq && !snap))
			return stale(m);
		if (!snap) {
			/* a new incarnation, or the FORK of the process a dump saw */
			uint64_t cwd_seq = L->cwd_seq;
			uint32_t cwd_len = L->cwd.len;
			bool same = same_process(L, r);

			L->floor = sl->seq;
			if (!same)
				sched_reset(L);
			if (set_all(L, r, s))
				return MIRROR_ENOMEM;
			if (same) {
				L->cwd_seq = cwd_seq;
				L->cwd.len = cwd_len;
			}
		} else if (set_all(L, r, s)) {
			return MIRROR_ENOMEM;
		}
	} else {
		if (sl->state == PROC_DEAD && s <= sl->seq)
			return stale(m);
		L = vivify(m, sl);
		if (!L || set_all(L, r, s))
			return MIRROR_ENOMEM;
		L->gen = snap ? m->gen : 0;
	}
	if (!snap && fork_inherit(m, L, r->proc.ppid, s))
		return MIRROR_ENOMEM;
	sl->seq = s;
	mark_dirty(m, sl);
	m->c[MIRROR_STAT_EVENTS_APPLIED]++;
	return MIRROR_APPLIED;
}

/* EXEC, COMM or CRED of a process (rules 1, 2). */
static enum mirror_result apply_update(struct mirror *m, const struct mirror_rec *r, uint64_t s)
{
	struct proc_slot *sl = proctab_find(&m->tab, r->proc.pid);
	struct proc_live *L;

	if (!sl || sl->state != PROC_LIVE || s <= sl->seq)
		return stale(m);
	L = sl->live;
	set_fields(L, &r->proc, s);
	if (r->hdr.type == DBOS_REC_EXEC && set_strings(L, r, s))
		return MIRROR_ENOMEM;
	sl->seq = s;
	mark_dirty(m, sl);
	m->c[MIRROR_STAT_EVENTS_APPLIED]++;
	return MIRROR_APPLIED;
}

/* EXIT with GROUP_DEAD, or a snapshot of a process whose threads all exited (rule 4). */
static enum mirror_result apply_exit(struct mirror *m, const struct mirror_rec *r, uint64_t s)
{
	struct proc_slot *sl = proctab_find(&m->tab, r->proc.pid);
	uint32_t pid = r->proc.pid;

	if (sl && sl->state == PROC_LIVE &&
	    (s > sl->seq || (r->hdr.type == DBOS_REC_PROC && s == sl->seq))) {
		if ((r->hdr.flags & DBOS_RECF_CHILDREN) || (sl->flags & PROC_F_CHILDREN))
			notify_orphans(m, pid);
		mark_dead(m, sl, s);
		m->c[MIRROR_STAT_EVENTS_APPLIED]++;
		return MIRROR_APPLIED;
	}
	/*
	 * Two last threads exiting at once both say GROUP_DEAD, and the other
	 * one had the children (the row may be gone and forgotten already).
	 */
	if ((!sl || sl->state != PROC_LIVE) && (r->hdr.flags & DBOS_RECF_CHILDREN) &&
	    r->hdr.type == DBOS_REC_EXIT)
		notify_orphans(m, pid);
	return stale(m);
}

/*
 * A thread FORK (@d +1) or EXIT (-1) of process @pid at @s (rule 5);
 * @children: the exiting thread had children (they may go to a reaper
 * outside the process if the whole group is exiting: asked for at the
 * process's exit).
 */
static enum mirror_result apply_thread(struct mirror *m, uint32_t pid, uint64_t s, int d,
				       bool children)
{
	struct proc_slot *sl = proctab_find(&m->tab, pid);

	m->c[MIRROR_STAT_THREAD_EVENTS]++;
	if (!sl || sl->state != PROC_LIVE || s <= sl->live->threads_seq || s <= sl->live->floor)
		return stale(m);
	if (children)
		sl->flags |= PROC_F_CHILDREN;
	sl->live->threads_delta += d;
	mark_dirty(m, sl);
	return MIRROR_THREAD;
}

/* One sched_decisions row for SCHED record @r (the CPU list is in m->cpus_text). */
static int decision_put(struct mirror *m, const struct mirror_rec *r, uint64_t s, const char *comm)
{
	size_t len;

	if (!history_wants(&m->shist, s))
		return 0;
	len = schedrec_decision(r, s, comm, m->cpus_text, m->srow, m->srow_cap);
	if (len > m->srow_cap) {
		char *p = realloc(m->srow, len * 2);

		if (!p)
			return -1;
		m->srow = p;
		m->srow_cap = len * 2;
		len = schedrec_decision(r, s, comm, m->cpus_text, m->srow, m->srow_cap);
	}
	return history_put(&m->shist, m->batch, s, m->srow, len);
}

/*
 * A SCHED record: the values now in force for the process (see schedrec.c
 * for the merge by seq), and a sched_decisions row unless it is a snapshot.
 * A record for a pid with no row of this incarnation changes no row: in seq
 * order its process's first record came before it, so the process has
 * exited, or it is one the next dump brings (before the first re-sync).
 */
static enum mirror_result apply_sched(struct mirror *m, const struct mirror_rec *r, uint64_t s)
{
	const struct dbos_sched *v = &r->sched;
	struct proc_slot *sl = proctab_find(&m->tab, v->pid);
	struct proc_live *L = sl && sl->state == PROC_LIVE && s > sl->live->floor ? sl->live : NULL;
	int ret;

	sched_cpus_format(r->cpus, v->cpus_len, m->cpus_text, sizeof(m->cpus_text));
	if (v->cause != DBOS_SCHED_SNAPSHOT && decision_put(m, r, s, L ? L->comm : NULL))
		return MIRROR_ENOMEM;
	if (L) {
		ret = schedrec_apply(L, v, m->cpus_text, s);
		if (ret < 0)
			return MIRROR_ENOMEM;
		if (ret) {
			mark_dirty(m, sl);
			m->c[MIRROR_STAT_SCHED_APPLIED]++;
			return MIRROR_APPLIED;
		}
	}
	m->c[MIRROR_STAT_SCHED_STALE]++;
	return MIRROR_STALE;
}

enum mirror_result mirror_apply(struct mirror *m, const struct mirror_rec *r)
{
	const struct dbos_rec_hdr *h = &r->hdr;
	enum mirror_result res;
	bool group_dead, thread;
	uint64_t s;

	bool files = h->type >= DBOS_REC_FD_OPEN && h->type <= DBOS_REC_SOCK;
	bool sched = h->type == DBOS_REC_SCHED;

	if (sched ? !r->sched.pid :
	    !files && (h->type < DBOS_REC_FORK || h->type > DBOS_REC_PROC || !r->proc.pid))
		return MIRROR_IGNORED;
	if (!m->has_instance)
		mirror_set_instance(m, 0);
	s = m->base + h->seq;
	if (s > m->max_seq)
		m->max_seq = s;
	m->cause_seq = s;
	m->cause_time = h->time_ns;
	if (h->time_ns > m->last_time)
		m->last_time = h->time_ns;
	files_set_cause(m->files, s, h->time_ns);
	if (files)
		return files_apply(m->files, r, s);
	if (sched)
		return apply_sched(m, r, s);
	group_dead = h->type == DBOS_REC_EXIT && (h->flags & DBOS_RECF_GROUP_DEAD);
	thread = !group_dead && h->type != DBOS_REC_PROC &&
		 ((h->flags & DBOS_RECF_THREAD) || h->type == DBOS_REC_EXIT);
	/*
	 * Taken before the last dump read the kernel (it sat in a ring while
	 * the dump ran): the dump shows its effect, and applying it could
	 * bring back a process the dump no longer had. History only.
	 */
	if (s < m->dump_floor && h->type != DBOS_REC_PROC) {
		m->c[MIRROR_STAT_BEFORE_DUMP]++;
		if (!thread && event_put(m, r, s))
			return MIRROR_ENOMEM;
		return MIRROR_STALE;
	}
	if (thread) {
		if (h->type == DBOS_REC_FORK || h->type == DBOS_REC_EXIT)
			return apply_thread(m, r->proc.pid, s, h->type == DBOS_REC_FORK ? 1 : -1,
					    h->flags & DBOS_RECF_CHILDREN);
		m->c[MIRROR_STAT_THREAD_EVENTS]++;
		return MIRROR_THREAD;
	}
	if (h->type != DBOS_REC_PROC && event_put(m, r, s))
		return MIRROR_ENOMEM;
	/* The fd table: a fork copies it, the end of the process takes it away. */
	if (h->type == DBOS_REC_FORK &&
	    files_fork(m->files, r->proc.ppid, r->proc.pid, s))
		return MIRROR_ENOMEM;
	if ((group_dead || (h->type == DBOS_REC_PROC && (h->flags & DBOS_RECF_GROUP_DEAD))) &&
	    files_exit(m->files, r->proc.pid, s))
		return MIRROR_ENOMEM;
	/* a snapshot of a zombie: it has exited (its EXIT may be older), so it is gone */
	if (h->type == DBOS_REC_PROC && (h->flags & DBOS_RECF_GROUP_DEAD))
		return apply_exit(m, r, s);
	switch (h->type) {
	case DBOS_REC_FORK:
	case DBOS_REC_PROC:
		res = apply_birth(m, r, s);
		break;
	case DBOS_REC_EXIT:
		return apply_exit(m, r, s);
	default:
		res = apply_update(m, r, s);
		break;
	}
	if (res == MIRROR_APPLIED)
		check_parent(m, r->proc.pid);
	return res;
}

/* ---- re-sync --------------------------------------------------------------- */

void mirror_lost(struct mirror *m)
{
	/* (a window still open, e.g. after a failed dump, goes on to the next end) */
	if (m && !m->lossy) {
		m->lossy = true;
		m->loss_seq = m->max_seq;
		m->loss_time = m->last_time;
	}
}

void mirror_resync_begin(struct mirror *m)
{
	mirror_lost(m);
	m->gen++;
	m->in_resync = true;
	m->first_snap = 0;
	files_resync_begin(m->files, m->gen);
}

void mirror_resync_files_dumped(struct mirror *m)
{
	files_resync_dumped(m->files);
}

uint32_t mirror_files_swept(const struct mirror *m)
{
	return m->files_swept;
}

uint32_t mirror_resync_end(struct mirror *m)
{
	struct proc_slot *sl;
	uint32_t n = 0;

	m->in_resync = false;
	/* the tables may have been wrong from the last record before until now */
	if (m->lossy) {
		changes_lost_put(m->batch, m->loss_seq, m->max_seq, m->loss_time, m->last_time);
		m->lossy = false;
	}
	/* what no snapshot showed went before the dump's first one (change log) */
	m->cause_seq = m->first_snap;
	m->cause_time = m->first_snap_time;
	files_set_cause(m->files, m->first_snap, m->first_snap_time);
	m->files_swept = files_resync_end(m->files, m->first_snap);
	if (!m->first_snap)
		return 0;	/* an empty dump proves nothing: sweep nothing */
	if (m->first_snap > m->dump_floor)
		m->dump_floor = m->first_snap;
	proctab_for_each(&m->tab, sl) {
		if (sl->state != PROC_LIVE || sl->live->gen == m->gen || sl->seq >= m->first_snap)
			continue;
		mark_dead(m, sl, m->first_snap);
		n++;
	}
	/*
	 * A snapshot taken between its parent's exit and the kernel's
	 * reparenting names a parent that no longer exists: ask again.
	 */
	proctab_for_each(&m->tab, sl) {
		struct proc_slot *p;

		if (sl->state != PROC_LIVE || !sl->live->ppid || !m->orphan)
			continue;
		p = proctab_find(&m->tab, sl->live->ppid);
		if (!p || p->state != PROC_LIVE)
			m->orphan(m->orphan_arg, sl->pid, sl->live->ppid);
	}
	return n;
}

void mirror_resync_abort(struct mirror *m)
{
	m->in_resync = false;
	files_resync_abort(m->files);
}

/* ---- commit ------------------------------------------------------------------ */

/* Encodes the row of live process @sl into m->enc. 0, or -1 on ENOMEM. */
static int encode_proc(struct mirror *m, const struct proc_slot *sl, size_t *len)
{
	const struct proc_live *L = sl->live;
	struct row_value v[PROCESSES__STORED];
	char state[1] = { (char)L->state }, pol[12];
	int32_t threads = L->threads_base + L->threads_delta;
	uint64_t seq = sl->seq;

	v[PROCESSES_PID] = row_int(sl->pid);
	v[PROCESSES_PARENT] = row_int(L->ppid);
	v[PROCESSES_NAME] = row_text(L->comm, strnlen(L->comm, sizeof(L->comm)));
	v[PROCESSES_PATH] = opt_text(&L->path, L->str_seq);
	v[PROCESSES_CMDLINE] = opt_text(&L->cmdline, L->str_seq);
	v[PROCESSES_STATE] = L->state > ' ' && L->state < 127 ? row_text(state, 1) : row_null();
	v[PROCESSES_UID] = row_int(L->uid);
	v[PROCESSES_GID] = row_int(L->gid);
	v[PROCESSES_EUID] = row_int(L->euid);
	v[PROCESSES_EGID] = row_int(L->egid);
	v[PROCESSES_NICE] = row_int(L->nice);
	v[PROCESSES_THREADS] = row_int(threads < 1 ? 1 : threads);
	v[PROCESSES_START_TIME] = row_int((int64_t)(L->start_time_ns / NSEC));
	v[PROCESSES_CWD] = opt_text(&L->cwd, L->cwd_seq);
	v[PROCESSES_SCHED_POLICY] = policy_value(L->policy, pol);
	v[PROCESSES_SCHED_PRIORITY] = L->prio_known ? row_int(L->priority) : row_null();
	v[PROCESSES_CPUS] = opt_text(&L->cpus, L->cpus_seq);
	/* the last record that set any column: SCHED records do not move slot.seq */
	if (L->sched_seq > seq)
		seq = L->sched_seq;
	if (L->cpus_seq > seq)
		seq = L->cpus_seq;
	v[PROCESSES_SEQ] = row_int((int64_t)seq);
	return encode(m, v, PROCESSES__STORED, len);
}

static int put_row(struct mirror *m, const struct proc_slot *sl)
{
	unsigned char key[4];
	size_t len;

	if (encode_proc(m, sl, &len))
		return -1;
	store_key_be32(key, sl->pid);
	store_batch_put(m->batch, STORE_CF_PROCESSES, key, sizeof(key), m->enc, len);
	return 0;
}

static void publish(struct mirror *m)
{
	m->c[MIRROR_STAT_PROCESSES_ROWS] = m->live_count;
	m->c[MIRROR_STAT_PROCESS_EVENTS_ROWS] = m->hist.count;
	m->c[MIRROR_STAT_HISTORY_TRIMMED] = m->hist.trimmed;
	m->c[MIRROR_STAT_LAST_SEQ] = m->max_seq;
	m->c[MIRROR_STAT_EPOCH_BASE] = m->base;
	m->c[MIRROR_STAT_SCHED_DECISIONS_ROWS] = m->shist.count;
	m->c[MIRROR_STAT_SCHED_DECISIONS_TRIMMED] = m->shist.trimmed;
	m->c[MIRROR_STAT_CHANGES_LOGGED] = 0;
	for (int t = 0; t < CHANGES__TABLES; t++)
		m->c[MIRROR_STAT_CHANGES_LOGGED] += m->chg.tab[t].total;
	m->c[MIRROR_STAT_CHECKPOINTS] = m->chg.checkpoints;
	m->c[MIRROR_STAT_CHANGES_TRIMMED] = m->chg.trimmed;
	m->c[MIRROR_STAT_CHANGES_LOST] = m->chg.lost;
	for (int i = 0; i < MIRROR_STAT__COUNT; i++)
		atomic_store_explicit(&m->pub[i], (int64_t)m->c[i], memory_order_relaxed);
}

int mirror_commit(struct mirror *m, char **err)
{
	size_t i;

	for (i = 0; i < m->ndirty; i++) {
		struct proc_slot *sl = proctab_find(&m->tab, m->dirty[i]);
		unsigned char key[4];

		if (!sl)
			continue;
		sl->flags &= ~PROC_F_DIRTY;
		if (sl->state == PROC_LIVE) {
			if (put_row(m, sl))
				continue;
			sl->flags |= PROC_F_STORED;
			continue;
		}
		if (sl->flags & PROC_F_STORED) {
			store_key_be32(key, sl->pid);
			store_batch_delete(m->batch, STORE_CF_PROCESSES, key, sizeof(key));
		}
		proctab_remove(&m->tab, sl);	/* DEAD: nothing to remember once its delete is queued */
	}
	m->ndirty = 0;
	if (m->epoch_dirty) {
		unsigned char v[16];

		store_key_be64(v, m->epoch_instance);
		store_key_be64(v + 8, m->epoch_base);
		store_batch_put(m->batch, STORE_CF_META, META_EPOCH, strlen(META_EPOCH), v, sizeof(v));
		m->epoch_dirty = false;
	}
	if (history_flush(&m->hist, m->st, m->batch, err) ||
	    history_flush(&m->shist, m->st, m->batch, err) ||
	    files_commit(m->files, err))
		goto fail;
	history_trim(&m->hist, m->batch);
	history_trim(&m->shist, m->batch);
	changes_flush(&m->chg, m->batch);
	if (store_batch_count(m->batch)) {
		if (store_write(m->st, m->batch, err))
			goto fail;
		store_batch_clear(m->batch);
	}
	history_committed(&m->hist);
	history_committed(&m->shist);
	files_committed(m->files);
	{
		char *cerr = NULL;

		/* a checkpoint that failed is tried again after the next commit */
		if (changes_committed(&m->chg, &cerr))
			m->c[MIRROR_STAT_STORE_ERRORS]++;
		free(cerr);
	}
	publish(m);
	return 0;
fail:
	m->c[MIRROR_STAT_STORE_ERRORS]++;
	publish(m);
	return -1;
}

size_t mirror_pending(const struct mirror *m)
{
	return store_batch_count(m->batch) + m->ndirty + m->epoch_dirty + files_pending(m->files) +
	       changes_pending(&m->chg) +
	       history_pending(&m->hist) + history_pending(&m->shist);
}

void mirror_prune(struct mirror *m, uint64_t ttl_ns)
{
	files_prune(m->files, ttl_ns);
}

/* ---- epochs, clock, stats ------------------------------------------------------ */

void mirror_set_orphan_handler(struct mirror *m,
			       void (*fn)(void *arg, uint32_t child, uint32_t old_parent),
			       void *arg)
{
	m->orphan = fn;
	m->orphan_arg = arg;
}

void mirror_set_now(struct mirror *m, uint64_t now_ns)
{
	files_set_now(m->files, now_ns);
}

void mirror_set_instance(struct mirror *m, uint64_t instance)
{
	uint64_t base;

	if (m->has_instance && m->instance == instance)
		return;
	m->has_instance = true;
	m->instance = instance;
	if (m->has_epoch && m->epoch_instance == instance) {
		m->base = m->epoch_base;	/* dbosd restarted; the module stayed */
		return;
	}
	/* A new kernel seq space: start above everything stored or seen. */
	base = m->max_seq + 1;
	if (m->has_epoch && m->epoch_base > base)
		base = m->epoch_base;
	if (m->base > base)
		base = m->base;
	m->base = base;
	m->has_epoch = true;
	m->epoch_instance = instance;
	m->epoch_base = base;
	m->epoch_dirty = true;
}

uint64_t mirror_history_seq(const struct mirror *m, uint64_t kseq)
{
	return m->base + kseq;
}

void mirror_stats_read(const struct mirror *m, int64_t vals[MIRROR_STAT__COUNT])
{
	for (int i = 0; i < MIRROR_STAT__COUNT; i++)
		vals[i] = atomic_load_explicit(&m->pub[i], memory_order_relaxed);
}

/* ---- open / close -------------------------------------------------------------- */

static char *errf(const char *fmt, const char *a)
{
	char *s = NULL;

	if (asprintf(&s, fmt, a) < 0)
		s = NULL;
	return s;
}

/* Rebuild the working copy of one stored processes row. */
static int load_row(struct mirror *m, uint32_t pid, const char *val, size_t vlen)
{
	struct row_value v[PROCESSES__STORED];
	struct proc_slot *sl = proctab_insert(&m->tab, pid);
	struct proc_live *L;
	uint64_t seq = 0;

	if (!sl || !(L = vivify(m, sl)))
		return -1;
	sl->flags = PROC_F_STORED;
	if (row_decode(val, vlen, v, PROCESSES__STORED))
		return 0;	/* unreadable: a bare entry, replaced or swept by the next dump */
	if (v[PROCESSES_SEQ].type == ROW_INT)
		seq = (uint64_t)v[PROCESSES_SEQ].i;
	sl->seq = seq;
	if (seq > m->max_seq)
		m->max_seq = seq;
	L->ppid = (uint32_t)v[PROCESSES_PARENT].i;
	L->uid = (uint32_t)v[PROCESSES_UID].i;
	L->gid = (uint32_t)v[PROCESSES_GID].i;
	L->euid = (uint32_t)v[PROCESSES_EUID].i;
	L->egid = (uint32_t)v[PROCESSES_EGID].i;
	L->nice = (int32_t)v[PROCESSES_NICE].i;
	L->policy = policy_from_text(&v[PROCESSES_SCHED_POLICY]);
	L->state = v[PROCESSES_STATE].type == ROW_TEXT && v[PROCESSES_STATE].len ?
		   (unsigned char)v[PROCESSES_STATE].s[0] : 0;
	L->start_time_ns = (uint64_t)v[PROCESSES_START_TIME].i * NSEC;
	if (v[PROCESSES_NAME].type == ROW_TEXT)
		memcpy(L->comm, v[PROCESSES_NAME].s,
		       v[PROCESSES_NAME].len < 16 ? v[PROCESSES_NAME].len : 15);
	if (v[PROCESSES_PATH].type == ROW_TEXT || v[PROCESSES_CMDLINE].type == ROW_TEXT) {
		if (proc_str_set(&L->path, v[PROCESSES_PATH].s, v[PROCESSES_PATH].len) ||
		    proc_str_set(&L->cmdline, v[PROCESSES_CMDLINE].s, v[PROCESSES_CMDLINE].len))
			return -1;
		L->str_seq = seq ? seq : 1;
	}
	if (v[PROCESSES_CWD].type == ROW_TEXT) {
		if (proc_str_set(&L->cwd, v[PROCESSES_CWD].s, v[PROCESSES_CWD].len))
			return -1;
		L->cwd_seq = seq ? seq : 1;
	}
	L->threads_base = v[PROCESSES_THREADS].type == ROW_INT ? (int32_t)v[PROCESSES_THREADS].i : 1;
	L->threads_seq = seq;
	L->sched_seq = seq;
	if (v[PROCESSES_SCHED_PRIORITY].type == ROW_INT) {
		L->priority = (uint32_t)v[PROCESSES_SCHED_PRIORITY].i;
		L->prio_known = true;
	}
	if (v[PROCESSES_CPUS].type == ROW_TEXT) {
		if (proc_str_set(&L->cpus, v[PROCESSES_CPUS].s, v[PROCESSES_CPUS].len))
			return -1;
		L->cpus_seq = seq ? seq : 1;
	}
	return 0;
}

static int load(struct mirror *m, char **err)
{
	struct timespec now;
	struct store_iter *it;
	char *val = NULL;
	size_t vlen = 0;
	int rc;

	rc = store_get(m->st, STORE_CF_META, META_EPOCH, strlen(META_EPOCH), &val, &vlen, err);
	if (rc < 0)
		return -1;
	if (rc == 1 && vlen == 16) {
		m->has_epoch = true;
		m->epoch_instance = store_key_get(val, 8);
		m->epoch_base = store_key_get(val + 8, 8);
	}
	free(val);

	it = store_iter_new(m->st, STORE_CF_PROCESSES);
	if (!it) {
		*err = errf("%s", "cannot iterate the processes table");
		return -1;
	}
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t klen, len;
		const char *k = store_iter_key(it, &klen);
		const char *v = store_iter_value(it, &len);
		uint32_t pid = (uint32_t)store_key_get(k, klen);

		if (klen != 4 || !pid)
			continue;
		if (load_row(m, pid, v, len)) {
			store_iter_free(it);
			*err = errf("%s", "out of memory loading the processes table");
			return -1;
		}
	}
	store_iter_free(it);

	if (history_load(&m->hist, m->st, &m->max_seq, err) ||
	    history_load(&m->shist, m->st, &m->max_seq, err) ||
	    files_open(m->st, m->batch, m->cfg.retention, m->c, &m->max_seq, &m->chg, &m->files,
		       err))
		return -1;
	if (m->has_epoch && m->epoch_base > m->max_seq)
		m->max_seq = m->epoch_base;	/* an epoch that never stored a row still counts */
	clock_gettime(CLOCK_REALTIME, &now);
	m->cause_seq = m->max_seq;
	m->cause_time = (uint64_t)now.tv_sec * NSEC + (uint64_t)now.tv_nsec;
	files_set_cause(m->files, m->cause_seq, m->cause_time);
	if (changes_open(&m->chg, m->st, m->cfg.retention, m->cause_seq, m->cause_time, err))
		return -1;
	for (int t = 0; t < CHANGES__TABLES; t++)	/* (a window of loss starts there) */
		if (m->chg.tab[t].run_time > m->last_time && m->chg.tab[t].run_time < m->cause_time)
			m->last_time = m->chg.tab[t].run_time;
	if (m->cfg.checkpoint_every)
		m->chg.min_interval = m->cfg.checkpoint_every;
	return files_start(m->files, err);
}

int mirror_open(struct store *st, const struct mirror_config *cfg,
		struct mirror **out, char **err)
{
	struct mirror *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m || proctab_init(&m->tab, 4096) || !(m->batch = store_batch_new())) {
		if (m) {
			proctab_free(&m->tab);
			free(m);
		}
		*err = errf("%s", "out of memory");
		return -1;
	}
	m->st = st;
	m->cfg = *cfg;
	history_init(&m->hist, STORE_CF_PROCESS_EVENTS, cfg->retention);
	history_init(&m->shist, STORE_CF_SCHED_DECISIONS, cfg->retention);
	if (load(m, err)) {
		mirror_close(m);
		return -1;
	}
	publish(m);
	*out = m;
	return 0;
}

void mirror_close(struct mirror *m)
{
	struct proc_slot *sl;

	if (!m)
		return;
	if (m->tab.slots)
		proctab_for_each(&m->tab, sl)
			if (sl->state == PROC_LIVE)
				live_destroy(sl->live);
	while (m->free_live) {
		struct proc_live *L = m->free_live;

		m->free_live = L->next_free;
		live_destroy(L);
	}
	proctab_free(&m->tab);
	if (m->batch)
		store_batch_free(m->batch);
	free(m->dirty);
	free(m->enc);
	free(m->join);
	history_free(&m->hist);
	history_free(&m->shist);
	free(m->srow);
	files_close(m->files);
	changes_close(&m->chg);
	free(m);
}
