// SPDX-License-Identifier: GPL-2.0
/* proc_update.c - UPDATE processes SET nice/sched_policy/sched_priority/cpus: one DBOS_CMD_SCHED_SET per transaction. */

/*
 * USAGE
 *
 *   UPDATE processes SET nice = 10 WHERE name = 'make';
 *   UPDATE processes SET cpus = '0-1,3' WHERE pid = 1234;
 *   UPDATE processes SET sched_policy = 'fifo', sched_priority = 10 WHERE pid = 1234;
 *
 * HOW IT WORKS
 *
 *   The processes vtab (vtab.c) hands its write callbacks to a writer, one
 *   per table per connection. xBegin refuses non-root sessions. xUpdate
 *   refuses INSERT, DELETE and a new value in any column but the four above,
 *   checks the new values and stages one sched_target per row with the
 *   values the SET clause names: a column the statement does not set reaches
 *   xUpdate as "no change" (vtab.c's xColumn honours sqlite3_vtab_nochange),
 *   so "SET nice = 5" on a row the mirror shows at nice 5 is still sent.
 *   Nothing is written to the store: xSync sends every staged target as one
 *   SCHED_SET (all or nothing in the kernel, tagged with the session's
 *   uid/pid for sched_decisions), and its failure, with the kernel's message,
 *   fails the statement or COMMIT. The kernel's SCHED records then update the
 *   rows through the mirror; xSync waits (at most WAIT_MS) until the stored
 *   rows show the values set, so that a SELECT right after sees them.
 *   Savepoints (the statement journal of an explicit transaction) remember
 *   how many targets were staged, so a statement that fails half-way leaves
 *   none of its rows staged. xCommit and xRollback drop the staged targets.
 *
 *   Limits: at most DBOS_SCHED_TARGETS_MAX processes per transaction (one
 *   command). xBegin cannot tell an UPDATE from a DELETE, so a DELETE that
 *   matches no row succeeds, deleting nothing; one that matches is refused.
 */
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbserver/kernel/kernel.h"
#include "dbserver/sched/sched.h"
#include "dbserver/sql/sql_int.h"
#include "dbserver/store/row.h"

#define WAIT_MS		1000	/* for the mirror to show what the kernel did */
#define STAGED_MAX	(4 * DBOS_SCHED_TARGETS_MAX)	/* rows of one transaction */

#define REFUSED "processes: rows come from the kernel; only nice, sched_policy, " \
		"sched_priority and cpus can be changed (UPDATE)"

struct proc_writer {
	struct store *st;
	struct sql_session who;
	struct sched_target *t;		/* staged, in statement order (a pid may repeat) */
	size_t n, cap;
	size_t *sp;			/* sp[i]: n at savepoint i */
	int nsp, capsp;
};

struct proc_writer *proc_writer_new(struct store *st, const struct sql_session *who)
{
	struct proc_writer *w = calloc(1, sizeof(*w));

	if (w) {
		w->st = st;
		w->who = *who;
	}
	return w;
}

void proc_writer_free(struct proc_writer *w)
{
	if (!w)
		return;
	free(w->t);
	free(w->sp);
	free(w);
}

static int fail(char **msg, int rc, char *text)
{
	*msg = text;
	return text ? rc : SQLITE_NOMEM;
}

int proc_writer_begin(struct proc_writer *w, char **msg)
{
	if (w->who.uid != 0)
		return fail(msg, SQLITE_AUTH,
			    sqlite3_mprintf("permission denied: only root may change scheduling"));
	return SQLITE_OK;
}

/* The stored row of @pid into @vals (text points into *@buf: free() it); false if none. */
static bool stored_row(struct proc_writer *w, uint32_t pid, char **buf,
		       struct row_value vals[PROCESSES__COUNT])
{
	unsigned char k[4];
	size_t len;
	char *err = NULL;

	*buf = NULL;
	store_key_be32(k, pid);
	if (store_get(w->st, STORE_CF_PROCESSES, k, sizeof(k), buf, &len, &err) <= 0) {
		free(err);
		free(*buf);
		*buf = NULL;
		return false;
	}
	if (row_decode(*buf, len, vals, PROCESSES__COUNT)) {
		free(*buf);
		*buf = NULL;
		return false;
	}
	return true;
}

/* Does new value @v equal stored value @old? */
static bool same_value(sqlite3_value *v, const struct row_value *old)
{
	switch (sqlite3_value_type(v)) {
	case SQLITE_NULL:
		return old->type == ROW_NULL;
	case SQLITE_INTEGER:
		return old->type == ROW_INT && old->i == sqlite3_value_int64(v);
	case SQLITE_TEXT:
		return old->type == ROW_TEXT && (size_t)sqlite3_value_bytes(v) == old->len &&
		       !memcmp(sqlite3_value_text(v), old->s, old->len);
	default:
		return false;
	}
}

static bool is_writable(int col)
{
	return col == PROCESSES_NICE || col == PROCESSES_SCHED_POLICY ||
	       col == PROCESSES_SCHED_PRIORITY || col == PROCESSES_CPUS;
}

static bool rt_policy(int policy)
{
	return policy == SCHED_FIFO || policy == SCHED_RR;
}

/* An integer argument: 0 and *@out, or -1 (NULL, text that is no number, a real). */
static int int_arg(sqlite3_value *v, int64_t *out)
{
	if (sqlite3_value_numeric_type(v) != SQLITE_INTEGER)
		return -1;
	*out = sqlite3_value_int64(v);
	return 0;
}

static char *value_text(sqlite3_value *v)
{
	if (sqlite3_value_type(v) == SQLITE_NULL)
		return sqlite3_mprintf("NULL");
	return sqlite3_mprintf("'%s'", sqlite3_value_text(v));
}

/* Error "processes.@col ...: @why, not <value>" (SQLITE_CONSTRAINT). */
static int bad_value(char **msg, const char *col, const char *why, sqlite3_value *v)
{
	char *vt = value_text(v);
	int rc = fail(msg, SQLITE_CONSTRAINT,
		      sqlite3_mprintf("processes.%s %s, not %s", col, why, vt ? vt : "?"));

	sqlite3_free(vt);
	return rc;
}

/*
 * The values an UPDATE row sets (argv[2 + col], "no change" for columns the
 * statement does not set) into @v, checked; @old is the stored row (NULL if
 * the process is not stored). SQLITE_OK or an error and *@msg.
 */
static int parse_vals(sqlite3_value **cols, const struct row_value *old,
		      struct sched_vals *v, char **msg)
{
	sqlite3_value *nice = cols[PROCESSES_NICE], *pol = cols[PROCESSES_SCHED_POLICY];
	sqlite3_value *prio = cols[PROCESSES_SCHED_PRIORITY], *cpus = cols[PROCESSES_CPUS];
	bool set_prio = !sqlite3_value_nochange(prio);
	int64_t i = 0, pr = 0;

	memset(v, 0, sizeof(*v));
	if (!sqlite3_value_nochange(nice)) {
		if (int_arg(nice, &i) || i < -20 || i > 19)
			return bad_value(msg, "nice", "must be an integer from -20 to 19", nice);
		v->has_nice = true;
		v->nice = (int32_t)i;
	}
	if (set_prio && sqlite3_value_type(prio) != SQLITE_NULL &&
	    (int_arg(prio, &pr) || pr < 0 || pr > 99))
		return bad_value(msg, "sched_priority", "must be an integer from 0 to 99", prio);
	if (!sqlite3_value_nochange(pol)) {
		int p = sqlite3_value_type(pol) == SQLITE_TEXT
			? sched_policy_parse((const char *)sqlite3_value_text(pol)) : -1;

		if (p < 0)
			return bad_value(msg, "sched_policy", "must be other, batch, idle, fifo or rr", pol);
		if (rt_policy(p) && (pr < 1 || pr > 99))
			return fail(msg, SQLITE_CONSTRAINT, sqlite3_mprintf(
				"processes.sched_priority must be 1 to 99 with sched_policy '%s' "
				"(SET sched_policy = '%s', sched_priority = 10)",
				sched_policy_name(p), sched_policy_name(p)));
		if (!rt_policy(p) && pr)
			return fail(msg, SQLITE_CONSTRAINT, sqlite3_mprintf(
				"processes.sched_priority must be 0 or NULL with sched_policy '%s', not %lld",
				sched_policy_name(p), (long long)pr));
		if (rt_policy(p) && v->has_nice)
			return fail(msg, SQLITE_CONSTRAINT, sqlite3_mprintf(
				"processes.nice does not apply to sched_policy '%s'", sched_policy_name(p)));
		v->has_policy = true;
		v->policy = (uint32_t)p;
		v->priority = (uint32_t)pr;
	} else if (set_prio && pr) {
		/* A new priority alone: the process must already be fifo or rr. */
		const struct row_value *op = old ? &old[PROCESSES_SCHED_POLICY] : NULL;
		char name[16] = "";
		int p = -1;

		if (op && op->type == ROW_TEXT && op->len < sizeof(name)) {
			memcpy(name, op->s, op->len);
			p = sched_policy_parse(name);
		}
		if (!rt_policy(p))
			return fail(msg, SQLITE_CONSTRAINT, sqlite3_mprintf(
				"processes.sched_priority %lld needs sched_policy fifo or rr "
				"(the process has '%s')", (long long)pr, p < 0 ? "?" : name));
		if (v->has_nice)
			return fail(msg, SQLITE_CONSTRAINT, sqlite3_mprintf(
				"processes.nice does not apply to sched_policy '%s'", name));
		v->has_policy = true;
		v->policy = (uint32_t)p;
		v->priority = (uint32_t)pr;
	}
	if (!sqlite3_value_nochange(cpus)) {
		char why[128];

		if (sqlite3_value_type(cpus) != SQLITE_TEXT)
			return bad_value(msg, "cpus", "must be a CPU list like '0-3,5'", cpus);
		if (sched_cpus_parse((const char *)sqlite3_value_text(cpus), v->cpus,
				     &v->cpus_len, why, sizeof(why)))
			return fail(msg, SQLITE_CONSTRAINT, sqlite3_mprintf(
				"processes.cpus: %s, not '%s'", why, sqlite3_value_text(cpus)));
	}
	return SQLITE_OK;
}

/* Distinct pids staged, with @pid counted if new. */
static size_t distinct_with(const struct proc_writer *w, uint32_t pid)
{
	size_t d = 0;
	bool seen = false;

	for (size_t i = 0; i < w->n; i++) {
		size_t j;

		if (w->t[i].pid == pid)
			seen = true;
		for (j = 0; j < i && w->t[j].pid != w->t[i].pid; j++)
			;
		d += j == i;
	}
	return d + !seen;
}

int proc_writer_update(struct proc_writer *w, int argc, sqlite3_value **argv, char **msg)
{
	struct row_value old[PROCESSES__COUNT];
	struct sched_vals v;
	char *buf = NULL;
	bool have_old;
	int64_t pid;
	int rc;

	if (w->who.uid != 0)
		return proc_writer_begin(w, msg);
	if (argc == 1 || sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return fail(msg, SQLITE_READONLY, sqlite3_mprintf("%s", REFUSED));
	pid = sqlite3_value_int64(argv[0]);
	if (sqlite3_value_type(argv[1]) != SQLITE_INTEGER || sqlite3_value_int64(argv[1]) != pid)
		return fail(msg, SQLITE_READONLY, sqlite3_mprintf("%s; pid cannot", REFUSED));
	have_old = stored_row(w, (uint32_t)pid, &buf, old);
	for (int c = 0; c < PROCESSES__COUNT; c++) {
		sqlite3_value *nv = argv[2 + c];

		if (is_writable(c) || sqlite3_value_nochange(nv))
			continue;
		if (c == PROCESSES_PID ? sqlite3_value_type(nv) == SQLITE_INTEGER &&
					 sqlite3_value_int64(nv) == pid
				       : have_old && same_value(nv, &old[c]))
			continue;
		free(buf);
		return fail(msg, SQLITE_READONLY, sqlite3_mprintf(
			"%s; %s cannot", REFUSED, schema_processes.cols[c].name));
	}
	rc = parse_vals(argv + 2, have_old ? old : NULL, &v, msg);
	free(buf);
	if (rc != SQLITE_OK)
		return rc;
	if (!v.has_nice && !v.has_policy && !v.cpus_len)
		return SQLITE_OK;	/* nothing to change in the kernel */
	if (w->n == STAGED_MAX || distinct_with(w, (uint32_t)pid) > DBOS_SCHED_TARGETS_MAX)
		return fail(msg, SQLITE_TOOBIG, sqlite3_mprintf(
			"processes: at most %d processes per scheduling change",
			DBOS_SCHED_TARGETS_MAX));
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		struct sched_target *t = realloc(w->t, cap * sizeof(*t));

		if (!t)
			return SQLITE_NOMEM;
		w->t = t;
		w->cap = cap;
	}
	w->t[w->n].pid = (uint32_t)pid;
	w->t[w->n].v = v;
	w->n++;
	return SQLITE_OK;
}

/* One target per pid: later rows' values over earlier ones'. Returns the count. */
static size_t merge(struct sched_target *t, size_t n)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < m && t[j].pid != t[i].pid; j++)
			;
		if (j == m) {
			t[m++] = t[i];
			continue;
		}
		if (t[i].v.has_nice) {
			t[j].v.has_nice = true;
			t[j].v.nice = t[i].v.nice;
		}
		if (t[i].v.has_policy) {
			t[j].v.has_policy = true;
			t[j].v.policy = t[i].v.policy;
			t[j].v.priority = t[i].v.priority;
		}
		if (t[i].v.cpus_len) {
			t[j].v.cpus_len = t[i].v.cpus_len;
			memcpy(t[j].v.cpus, t[i].v.cpus, sizeof(t[j].v.cpus));
		}
	}
	return m;
}

/* Does the stored row of @t's process show @t's values (or is it gone)? */
static bool row_shows(struct proc_writer *w, const struct sched_target *t)
{
	struct row_value r[PROCESSES__COUNT];
	const struct row_value *c;
	char *buf, cpus[DBOS_CPUS_MAX * 8 * 2];
	const char *pol;
	bool ok = true;

	if (!stored_row(w, t->pid, &buf, r))
		return true;
	if (t->v.has_nice)
		ok = r[PROCESSES_NICE].type == ROW_INT && r[PROCESSES_NICE].i == t->v.nice;
	if (ok && t->v.has_policy) {
		pol = sched_policy_name(t->v.policy);
		c = &r[PROCESSES_SCHED_POLICY];
		ok = pol && c->type == ROW_TEXT && c->len == strlen(pol) && !memcmp(c->s, pol, c->len) &&
		     r[PROCESSES_SCHED_PRIORITY].type == ROW_INT &&
		     r[PROCESSES_SCHED_PRIORITY].i == t->v.priority;
	}
	if (ok && t->v.cpus_len) {
		sched_cpus_format(t->v.cpus, t->v.cpus_len, cpus, sizeof(cpus));
		c = &r[PROCESSES_CPUS];
		ok = c->type == ROW_TEXT && c->len == strlen(cpus) && !memcmp(c->s, cpus, c->len);
	}
	free(buf);
	return ok;
}

/* Waits until the mirror shows every target's values, at most WAIT_MS. */
static void wait_mirror(struct proc_writer *w, const struct sched_target *t, size_t n)
{
	struct timespec start, now, nap = { 0, 2 * 1000 * 1000 };
	size_t done = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		while (done < n && row_shows(w, &t[done]))
			done++;
		if (done == n)
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= WAIT_MS)
			return;
		nanosleep(&nap, NULL);
	}
}

int proc_writer_sync(struct proc_writer *w, char **msg)
{
	char *err = NULL;
	size_t n;
	int rc;

	if (!w->n)
		return SQLITE_OK;
	n = merge(w->t, w->n);
	w->n = n;
	rc = kernel_sched_set(w->t, n, sched_tag_new(w->who.uid, (uint32_t)w->who.pid), &err);
	if (rc) {
		rc = fail(msg, SQLITE_ERROR, sqlite3_mprintf(
			"processes: %s; nothing was changed", err ? err : "scheduling change failed"));
		free(err);
		return rc;
	}
	wait_mirror(w, w->t, n);
	return SQLITE_OK;
}

void proc_writer_end(struct proc_writer *w)
{
	w->n = 0;
	w->nsp = 0;
}

int proc_writer_savepoint(struct proc_writer *w, int i)
{
	if (i < 0)
		return SQLITE_OK;
	if (i >= w->capsp) {
		int cap = i + 8;
		size_t *sp = realloc(w->sp, cap * sizeof(*sp));

		if (!sp)
			return SQLITE_NOMEM;
		w->sp = sp;
		w->capsp = cap;
	}
	/* Levels skipped (taken before the table joined the transaction) hold the same. */
	if (w->nsp > i)
		w->nsp = i;
	while (w->nsp <= i)
		w->sp[w->nsp++] = w->n;
	return SQLITE_OK;
}

void proc_writer_release(struct proc_writer *w, int i)
{
	if (i >= 0 && w->nsp > i)
		w->nsp = i;
}

void proc_writer_rollback_to(struct proc_writer *w, int i)
{
	if (i < 0 || i >= w->nsp)
		return;
	w->n = w->sp[i];
	w->nsp = i + 1;		/* savepoint i itself stays */
}
