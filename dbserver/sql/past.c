// SPDX-License-Identifier: GPL-2.0
/* past.c - moments (as_of's forms), the live tables rebuilt as of one, and the <table>_changes(since, until) table-valued functions. */

/*
 * USAGE
 *
 *   SELECT * FROM processes_changes('2026-12-05 03:00', '2026-12-05 04:00');
 *   SELECT change, pid, name, changed_columns FROM processes_changes(1733367600, 1733371200);
 *   SELECT * FROM process_open_files_changes WHERE since_seq = 1000 AND until_seq = 2000;
 *   SELECT * FROM sockets_changes('2026-12-05 03:00', '2026-12-05 04:00')
 *     WHERE change = 'added' AND state = 'LISTEN';
 *
 *   One row per row of the table that differs between the two moments:
 *   change 'added' (not there at since, there at until: its columns as of
 *   until), 'removed' (the other way round: its columns as of since) or
 *   'changed' (there at both, some column other than seq differs: its
 *   columns as of until, and changed_columns names the ones that differ,
 *   comma-separated), in key order. Like osquery's differential results,
 *   but between any two moments the change log keeps.
 *
 * HOW IT WORKS
 *
 *   A moment is what vtab.c's as_of takes (sql_moment()). xFilter rebuilds
 *   the table at both moments (changes_asof(), store/changes.h) and walks
 *   the two key-ordered row sets together; rows whose bytes are equal are
 *   skipped without decoding, the others are decoded and compared column by
 *   column. The result is built once per xFilter, in memory.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbserver/sql/sql_int.h"
#include "dbserver/store/changes.h"
#include "dbserver/store/row.h"

/* ---- moments ---- */

void sql_format_time(uint64_t ns, char *buf, size_t len)
{
	time_t secs = (time_t)(ns / 1000000000);
	struct tm tm;

	if (!gmtime_r(&secs, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "%llu ns", (unsigned long long)ns);
	else
		snprintf(buf + strlen(buf), len - strlen(buf), ".%03u",
			 (unsigned)(ns / 1000000 % 1000));
}

int sql_moment(sqlite3 *db, sqlite3_value *v, uint64_t *ns, char **msg)
{
	int type = sqlite3_value_numeric_type(v);
	double secs = -1;

	if (type == SQLITE_INTEGER) {
		sqlite3_int64 i = sqlite3_value_int64(v);

		if (i >= 0 && i < 10000000000LL) {
			*ns = (uint64_t)i * 1000000000;
			return SQLITE_OK;
		}
	} else if (type == SQLITE_FLOAT) {
		secs = sqlite3_value_double(v);
	} else if (type != SQLITE_NULL) {
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(db, "SELECT (julianday(?1) - 2440587.5) * 86400000.0", -1,
				       &st, NULL) != SQLITE_OK) {
			*msg = sqlite3_mprintf("%s", sqlite3_errmsg(db));
			return SQLITE_ERROR;
		}
		sqlite3_bind_value(st, 1, v);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
			double ms = sqlite3_column_double(st, 0);

			sqlite3_finalize(st);
			if (ms >= 0 && ms < 1e13) {
				*ns = (uint64_t)llround(ms) * 1000000;
				return SQLITE_OK;
			}
		} else {
			sqlite3_finalize(st);
			*msg = sqlite3_mprintf("'%s' is not a moment: give a time ('2026-12-05 "
					       "03:12:00', UTC) or Unix seconds, or a sequence "
					       "number as as_of_seq", (const char *)sqlite3_value_text(v));
			return SQLITE_ERROR;
		}
	}
	if (secs >= 0 && secs < 1e10) {	/* (a double holds microseconds exactly here) */
		*ns = (uint64_t)llround(secs * 1e6) * 1000;
		return SQLITE_OK;
	}
	*msg = sqlite3_mprintf("%s is out of range (Unix seconds from 0 to 9999999999)",
			       (const char *)sqlite3_value_text(v));
	return SQLITE_ERROR;
}

int sql_past(struct store *st, int table, const char *name, int kind, uint64_t bound,
	     struct changes_state *out, char **msg)
{
	uint64_t oldest_seq = 0, oldest_time = 0;
	char when[64], oldest[64], *err = NULL;
	int rc = changes_asof(st, table, kind, bound, out, &oldest_seq, &oldest_time, &err);

	if (!rc)
		return SQLITE_OK;
	if (kind == CHANGES_BY_SEQ)
		snprintf(when, sizeof(when), "seq %llu", (unsigned long long)bound);
	else
		sql_format_time(bound, when, sizeof(when));
	if (rc < 0) {
		*msg = sqlite3_mprintf("%s as of %s: %s", name, when, err ? err : "read error");
		free(err);
		return SQLITE_IOERR;
	}
	sql_format_time(oldest_time, oldest, sizeof(oldest));
	*msg = sqlite3_mprintf("%s as of %s: that is before the oldest moment kept, %s (seq %llu)",
			       name, when, oldest, (unsigned long long)oldest_seq);
	return SQLITE_ERROR;
}

void sql_past_warn(const struct sql_session *who, struct store *st, const char *name, int kind,
		   uint64_t bound)
{
	uint64_t fs, ts, ft, tt;
	char *err = NULL, a[64], b[64], *text;

	if (!who || !who->notice || changes_lost_at(st, kind, bound, &fs, &ts, &ft, &tt, &err) != 1) {
		free(err);
		return;
	}
	sql_format_time(ft, a, sizeof(a));
	sql_format_time(tt, b, sizeof(b));
	text = sqlite3_mprintf("%s as of this moment may be wrong: events were lost between seq "
			       "%llu (%s) and seq %llu (%s), when a re-sync repaired the tables",
			       name, (unsigned long long)fs, a, (unsigned long long)ts, b);
	if (text)
		who->notice(who->notice_arg, text);
	sqlite3_free(text);
}

/* ---- <table>_changes(since, until) ---- */

enum { DIFF_CHANGE, DIFF_COLUMNS, DIFF_FIRST };	/* then the table's columns, then the 4 arguments */
enum { ARG_SINCE, ARG_UNTIL, ARG_SINCE_SEQ, ARG_UNTIL_SEQ, NARGS };

static const char *const arg_names[NARGS] = { "since", "until", "since_seq", "until_seq" };

/* One function: its declaration, built once from its table's. */
struct diff_fn {
	const struct schema_table *t;
	int table;			/* enum changes_table */
	int ncols;			/* the table's visible columns (SELECT *) */
	char name[64];
	char doc[160];
	struct schema_column cols[DIFF_FIRST + PROCESSES__COUNT + NARGS];
	struct schema_table decl;
};

static struct diff_fn fns[CHANGES__TABLES];

static const struct schema_table *const diff_tables[CHANGES__TABLES] = {
	[CHANGES_PROCESSES] = &schema_processes,
	[CHANGES_FDS] = &schema_fds,
	[CHANGES_SOCKETS] = &schema_sockets,
};

static void diff_fn_init(struct diff_fn *f, int table)
{
	const struct schema_table *t = diff_tables[table];
	int n = 0;

	f->t = t;
	f->table = table;
	snprintf(f->name, sizeof(f->name), "%s_changes", t->name);
	snprintf(f->doc, sizeof(f->doc), "The rows of %s that differ between two moments: "
		 "added, removed or changed", t->name);
	f->cols[n++] = (struct schema_column){ "change", "TEXT",
		"added (columns as of until), removed (as of since) or changed (as of until)" };
	f->cols[n++] = (struct schema_column){ "changed_columns", "TEXT",
		"changed: the columns that differ (seq not counted), comma-separated; else NULL" };
	for (int c = 0; c < t->ncols && !t->cols[c].hidden; c++) {
		f->cols[n] = t->cols[c];
		f->cols[n++].live = false;	/* (the past has none: NULL or what was stored) */
		f->ncols++;
	}
	for (int a = 0; a < NARGS; a++)
		f->cols[n++] = (struct schema_column){ arg_names[a], a < ARG_SINCE_SEQ ? "ANY" : "INTEGER",
			a == ARG_SINCE ? "Argument: the first moment, as as_of takes it" :
			a == ARG_UNTIL ? "Argument: the second moment" :
			a == ARG_SINCE_SEQ ? "Argument: the first moment as a sequence number" :
					     "Argument: the second moment as a sequence number", .hidden = true };
	f->decl = (struct schema_table){ .name = f->name, .doc = f->doc, .cols = f->cols,
					 .ncols = n, .cf = t->cf };
}

static void diff_fns_init(void)
{
	for (int t = 0; t < CHANGES__TABLES; t++)
		diff_fn_init(&fns[t], t);
}

const struct schema_table *sql_changes_table(int i)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, diff_fns_init);
	return i >= 0 && i < CHANGES__TABLES ? &fns[i].decl : NULL;
}

struct diff_vtab {
	sqlite3_vtab base;		/* must be first */
	const struct sql_session *who;	/* its client (notices) */
	sqlite3 *db;
	struct store *st;
	const struct diff_fn *f;
};

enum { ADDED = 1, REMOVED, CHANGED };
static const char *const change_names[] = { NULL, "added", "removed", "changed" };

struct diff_row {
	int change;
	const struct changes_row *r;	/* in a (removed) or b */
	char *cols;			/* changed: the columns that differ (sqlite3_malloc'ed) */
};

struct diff_cursor {
	sqlite3_vtab_cursor base;	/* must be first */
	struct changes_state a, b;	/* the table at since and at until */
	struct diff_row *rows;
	size_t n, i;
	sqlite3_value *args[NARGS];
	bool decoded;
	struct row_value vals[PROCESSES__ALL];
};

static int diff_connect(sqlite3 *db, void *paux, int argc, const char *const *argv,
			sqlite3_vtab **out, char **errp)
{
	void *const *aux = paux;	/* sql_changes_register(): env, function, client */
	const struct sql_env *env = aux[0];
	const struct diff_fn *f = aux[1];
	struct diff_vtab *vt;
	char *decl = sql_create_table(&f->decl, 0);
	int rc;

	if (!decl)
		return SQLITE_NOMEM;
	rc = sqlite3_declare_vtab(db, decl);
	sqlite3_free(decl);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
	vt = sqlite3_malloc(sizeof(*vt));
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof(*vt));
	vt->db = db;
	vt->st = env->st;
	vt->f = f;
	vt->who = aux[2];
	*out = &vt->base;
	return SQLITE_OK;
}

static int diff_disconnect(sqlite3_vtab *pvt)
{
	sqlite3_free(pvt);
	return SQLITE_OK;
}

/* The arguments: equality on since/until/since_seq/until_seq, their values in that order. */
static int diff_best_index(sqlite3_vtab *pvt, sqlite3_index_info *info)
{
	const struct diff_vtab *vt = (const struct diff_vtab *)pvt;
	int first = DIFF_FIRST + vt->f->ncols, use[NARGS], argv = 0;
	bool unusable = false;

	for (int a = 0; a < NARGS; a++)
		use[a] = -1;
	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *c = &info->aConstraint[i];
		int a = c->iColumn - first;

		if (a < 0 || a >= NARGS || c->op != SQLITE_INDEX_CONSTRAINT_EQ)
			continue;
		if (!c->usable)
			unusable = true;
		else if (use[a] < 0)
			use[a] = i;
	}
	info->idxNum = 0;
	for (int a = 0; a < NARGS; a++) {
		if (use[a] < 0)
			continue;
		info->idxNum |= 1 << a;
		info->aConstraintUsage[use[a]].argvIndex = ++argv;
		info->aConstraintUsage[use[a]].omit = 1;
	}
	if (unusable && !info->idxNum)
		return SQLITE_CONSTRAINT;
	info->estimatedCost = 200000;	/* two rebuilds */
	info->estimatedRows = 1000;
	return SQLITE_OK;
}

static int diff_open(sqlite3_vtab *pvt, sqlite3_vtab_cursor **out)
{
	struct diff_cursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static void diff_reset(struct diff_cursor *c)
{
	for (size_t i = 0; i < c->n; i++)
		sqlite3_free(c->rows[i].cols);
	sqlite3_free(c->rows);
	c->rows = NULL;
	c->n = c->i = 0;
	changes_state_free(&c->a);
	changes_state_free(&c->b);
	for (int a = 0; a < NARGS; a++) {
		sqlite3_value_free(c->args[a]);
		c->args[a] = NULL;
	}
}

static int diff_close(sqlite3_vtab_cursor *cur)
{
	diff_reset((struct diff_cursor *)cur);
	sqlite3_free(cur);
	return SQLITE_OK;
}

/* One side's moment: @when (as_of's forms) or @seq. */
static int diff_side(struct diff_cursor *c, const char *side, sqlite3_value *when,
		     sqlite3_value *seq, struct changes_state *out)
{
	const struct diff_vtab *vt = (const struct diff_vtab *)c->base.pVtab;
	const struct diff_fn *f = vt->f;
	uint64_t bound;
	char *msg = NULL;
	int rc, kind;

	if (when && sqlite3_value_type(when) == SQLITE_NULL)
		when = NULL;
	if (seq && sqlite3_value_type(seq) == SQLITE_NULL)
		seq = NULL;
	if (!when == !seq)
		return vtab_fail(&c->base, SQLITE_ERROR, sqlite3_mprintf(
			"%s needs two moments: %s(since, until), or since_seq and until_seq; "
			"%s has %s", f->name, f->name, side, when ? "both" : "neither"));
	if (seq) {
		if (sqlite3_value_numeric_type(seq) != SQLITE_INTEGER || sqlite3_value_int64(seq) < 0)
			return vtab_fail(&c->base, SQLITE_ERROR, sqlite3_mprintf(
				"%s: %s_seq %s is not a sequence number", f->name, side,
				(const char *)sqlite3_value_text(seq)));
		kind = CHANGES_BY_SEQ;
		bound = (uint64_t)sqlite3_value_int64(seq);
	} else {
		if ((rc = sql_moment(vt->db, when, &bound, &msg)) != SQLITE_OK) {
			rc = vtab_fail(&c->base, rc, sqlite3_mprintf("%s: %s %s", f->name, side, msg));
			sqlite3_free(msg);
			return rc;
		}
		kind = CHANGES_BY_TIME;
	}
	if ((rc = sql_past(vt->st, f->table, f->t->name, kind, bound, out, &msg)) != SQLITE_OK)
		return vtab_fail(&c->base, rc, msg);
	sql_past_warn(vt->who, vt->st, f->t->name, kind, bound);
	return SQLITE_OK;
}

/* The columns of @x and @y (rows of @f's table) that differ, seq not counted: "a,b", or NULL if none. */
static char *differing(const struct diff_fn *f, const struct changes_row *x,
		       const struct changes_row *y, int *rc)
{
	struct row_value vx[PROCESSES__ALL], vy[PROCESSES__ALL];
	sqlite3_str *s;

	*rc = SQLITE_OK;
	if (row_decode(x->row, x->len, vx, f->ncols) || row_decode(y->row, y->len, vy, f->ncols)) {
		*rc = SQLITE_CORRUPT_VTAB;
		return NULL;
	}
	s = sqlite3_str_new(NULL);
	for (int c = 0; c < f->ncols; c++) {
		const struct row_value *p = &vx[c], *q = &vy[c];
		bool same = p->type == q->type &&
			    (p->type == ROW_NULL || (p->type == ROW_INT && p->i == q->i) ||
			     (p->type == ROW_TEXT && p->len == q->len && !memcmp(p->s, q->s, p->len)));

		if (same || !strcmp(f->t->cols[c].name, "seq"))
			continue;
		sqlite3_str_appendf(s, "%s%s", sqlite3_str_length(s) ? "," : "", f->t->cols[c].name);
	}
	if (!sqlite3_str_length(s)) {
		sqlite3_free(sqlite3_str_finish(s));
		return NULL;
	}
	return sqlite3_str_finish(s);
}

static int diff_push(struct diff_cursor *c, size_t *cap, int change, const struct changes_row *r,
		     char *cols)
{
	if (c->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		struct diff_row *nr = sqlite3_realloc64(c->rows, nc * sizeof(*nr));

		if (!nr) {
			sqlite3_free(cols);
			return SQLITE_NOMEM;
		}
		c->rows = nr;
		*cap = nc;
	}
	c->rows[c->n++] = (struct diff_row){ .change = change, .r = r, .cols = cols };
	return SQLITE_OK;
}

static int diff_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
		       sqlite3_value **argv)
{
	struct diff_cursor *c = (struct diff_cursor *)cur;
	const struct diff_fn *f = ((const struct diff_vtab *)cur->pVtab)->f;
	size_t i = 0, j = 0, cap = 0;
	int n = 0, rc;

	diff_reset(c);
	for (int a = 0; a < NARGS; a++)
		if ((idx & (1 << a)) && n < argc && !(c->args[a] = sqlite3_value_dup(argv[n++])))
			return SQLITE_NOMEM;
	if ((rc = diff_side(c, "since", c->args[ARG_SINCE], c->args[ARG_SINCE_SEQ], &c->a)) ||
	    (rc = diff_side(c, "until", c->args[ARG_UNTIL], c->args[ARG_UNTIL_SEQ], &c->b)))
		return rc;
	while (i < c->a.n || j < c->b.n) {
		const struct changes_row *x = i < c->a.n ? &c->a.rows[i] : NULL;
		const struct changes_row *y = j < c->b.n ? &c->b.rows[j] : NULL;

		if (x && (!y || x->key < y->key)) {
			rc = diff_push(c, &cap, REMOVED, x, NULL);
			i++;
		} else if (y && (!x || y->key < x->key)) {
			rc = diff_push(c, &cap, ADDED, y, NULL);
			j++;
		} else {
			char *cols = NULL;

			if (x->len != y->len || memcmp(x->row, y->row, x->len))
				cols = differing(f, x, y, &rc);
			if (cols)
				rc = diff_push(c, &cap, CHANGED, y, cols);
			i++;
			j++;
		}
		if (rc != SQLITE_OK)
			return vtab_fail(&c->base, rc, sqlite3_mprintf("%s: %s", f->name,
					  rc == SQLITE_NOMEM ? "out of memory" : "a malformed row"));
	}
	c->decoded = false;
	return SQLITE_OK;
}

static int diff_next(sqlite3_vtab_cursor *cur)
{
	struct diff_cursor *c = (struct diff_cursor *)cur;

	c->i++;
	c->decoded = false;
	return SQLITE_OK;
}

static int diff_eof(sqlite3_vtab_cursor *cur)
{
	const struct diff_cursor *c = (const struct diff_cursor *)cur;

	return c->i >= c->n;
}

static int diff_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	struct diff_cursor *c = (struct diff_cursor *)cur;
	const struct diff_fn *f = ((const struct diff_vtab *)cur->pVtab)->f;
	const struct diff_row *d = &c->rows[c->i];
	const struct row_value *v;

	if (col == DIFF_CHANGE) {
		sqlite3_result_text(ctx, change_names[d->change], -1, SQLITE_STATIC);
		return SQLITE_OK;
	}
	if (col == DIFF_COLUMNS) {
		if (d->cols)
			sqlite3_result_text(ctx, d->cols, -1, SQLITE_TRANSIENT);
		return SQLITE_OK;
	}
	if (col >= DIFF_FIRST + f->ncols) {
		sqlite3_value *a = c->args[col - DIFF_FIRST - f->ncols];

		if (a)
			sqlite3_result_value(ctx, a);
		return SQLITE_OK;
	}
	if (!c->decoded) {
		if (row_decode(d->r->row, d->r->len, c->vals, f->ncols))
			return vtab_fail(&c->base, SQLITE_CORRUPT_VTAB, sqlite3_mprintf(
				"%s: a malformed row", f->name));
		c->decoded = true;
	}
	v = &c->vals[col - DIFF_FIRST];
	if (v->type == ROW_INT)
		sqlite3_result_int64(ctx, v->i);
	else if (v->type == ROW_TEXT)
		sqlite3_result_text(ctx, v->s, (int)v->len, SQLITE_TRANSIENT);
	return SQLITE_OK;
}

static int diff_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((struct diff_cursor *)cur)->i;
	return SQLITE_OK;
}

static const sqlite3_module diff_module = {
	.iVersion      = 0,
	.xConnect      = diff_connect,		/* eponymous-only: no xCreate */
	.xBestIndex    = diff_best_index,
	.xDisconnect   = diff_disconnect,
	.xOpen         = diff_open,
	.xClose        = diff_close,
	.xFilter       = diff_filter,
	.xNext         = diff_next,
	.xEof          = diff_eof,
	.xColumn       = diff_column,
	.xRowid        = diff_rowid,
};

/* The module's aux: the environment, the function and a copy of the client. */
struct diff_aux {
	void *ptrs[3];
	struct sql_session who;
};

int sql_changes_register(sqlite3 *db, const struct sql_env *env, const struct sql_session *who)
{
	int rc = SQLITE_OK;

	sql_changes_table(0);
	for (int t = 0; rc == SQLITE_OK && t < CHANGES__TABLES; t++) {
		struct diff_aux *da = sqlite3_malloc(sizeof(*da));
		void **aux = (void **)da;

		if (!da)
			return SQLITE_NOMEM;
		da->who = *who;
		aux[0] = (void *)env;
		aux[1] = &fns[t];
		aux[2] = &da->who;
		rc = sqlite3_create_module_v2(db, fns[t].name, &diff_module, aux, sqlite3_free);
	}
	return rc;
}
