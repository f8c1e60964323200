// SPDX-License-Identifier: GPL-2.0
/* viewtab.c - the views that take a moment (process_open_sockets, listening_ports, process_ancestors): a view's SELECT over the live tables or the tables as of a moment, and <view>_changes(since, until). */

/*
 * USAGE
 *
 *   SELECT * FROM listening_ports;                           -- now, as a view
 *   SELECT * FROM listening_ports('2026-12-05 03:12:00');    -- as of a moment
 *   SELECT * FROM process_open_sockets WHERE as_of_seq = 123456;
 *   SELECT * FROM listening_ports_changes('2026-12-05 03:00', '2026-12-05 04:00');
 *
 * HOW IT WORKS
 *
 *   SQLite views take no arguments, so a view whose schema_view has a
 *   @past form is registered as an eponymous virtual table of its name
 *   instead: its columns are the view's (read from its prepared SELECT),
 *   plus the HIDDEN as_of and as_of_seq. xFilter runs the view's SELECT
 *   (live) or its @past form (the tables as of ?1 / ?2, the tables' own
 *   as_of and as_of_seq) on the same connection and keeps the rows; a later
 *   xFilter with the same arguments (the inner side of a join) reuses them,
 *   so a statement sees one state of the view and computes it once.
 *   Equality on pid is passed down ("SELECT * FROM (view) WHERE pid = ?3",
 *   which SQLite flattens into a pid lookup of process_open_files), as the
 *   view did; SQLite applies every other constraint itself. dbos_schema
 *   still shows it as a view, with its SELECT.
 *
 *   <view>_changes(since, until) (or since_seq, until_seq) runs the @past
 *   form at both moments, sorts both row sets by every column and walks
 *   them together: a row only at until is 'added', only at since
 *   'removed'. A view has no key, so a row that changed is both, as
 *   osquery reports a view's differences.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/sql/sql_int.h"

struct view_vtab {
	sqlite3_vtab base;		/* must be first */
	sqlite3 *db;
	const struct schema_view *v;
	int ncols;			/* the view's columns (then as_of, as_of_seq) */
	int pid_col;			/* the column named pid, or -1 */
};

struct view_cursor {
	sqlite3_vtab_cursor base;	/* must be first */
	sqlite3_value **cells;		/* rows x ncols */
	size_t n, cap, i;
	bool valid;			/* cells hold the rows of args[] */
	sqlite3_value *args[3];		/* as_of, as_of_seq, pid of those rows */
	sqlite3_stmt *st;		/* the SELECT for idxNum st_idx, kept */
	int st_idx;
};

static int view_connect(sqlite3 *db, void *paux, int argc, const char *const *argv,
			sqlite3_vtab **out, char **errp)
{
	const struct schema_view *v = paux;
	struct view_vtab *vt;
	sqlite3_stmt *st;
	sqlite3_str *decl;
	char *sql;
	int rc, n, vt_pid;

	rc = sqlite3_prepare_v2(db, v->select, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		*errp = sqlite3_mprintf("%s: %s", v->name, sqlite3_errmsg(db));
		return rc;
	}
	n = sqlite3_column_count(st);
	vt_pid = -1;
	for (int i = 0; i < n; i++)
		if (!strcmp(sqlite3_column_name(st, i), "pid"))
			vt_pid = i;
	decl = sqlite3_str_new(db);
	sqlite3_str_appendf(decl, "CREATE TABLE %s(", v->name);
	for (int i = 0; i < n; i++)
		sqlite3_str_appendf(decl, "%s\"%w\"", i ? ", " : "", sqlite3_column_name(st, i));
	sqlite3_str_appendall(decl, ", as_of HIDDEN, as_of_seq HIDDEN)");
	sqlite3_finalize(st);
	sql = sqlite3_str_finish(decl);
	if (!sql)
		return SQLITE_NOMEM;
	rc = sqlite3_declare_vtab(db, sql);
	sqlite3_free(sql);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
	vt = sqlite3_malloc(sizeof(*vt));
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof(*vt));
	vt->db = db;
	vt->v = v;
	vt->ncols = n;
	vt->pid_col = v->pid_lookup ? vt_pid : -1;
	*out = &vt->base;
	return SQLITE_OK;
}

static int view_disconnect(sqlite3_vtab *pvt)
{
	sqlite3_free(pvt);
	return SQLITE_OK;
}

/* as_of (bit 0), as_of_seq (bit 1), pid (bit 2): equality, their values in that order. */
static int view_best_index(sqlite3_vtab *pvt, sqlite3_index_info *info)
{
	const struct view_vtab *vt = (const struct view_vtab *)pvt;
	int use[3] = { -1, -1, -1 }, argv = 0;
	bool unusable = false;

	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *c = &info->aConstraint[i];
		int a = c->iColumn == vt->pid_col && vt->pid_col >= 0 ? 2 : c->iColumn - vt->ncols;

		if (a < 0 || a > 2 || c->op != SQLITE_INDEX_CONSTRAINT_EQ)
			continue;
		if (!c->usable)
			unusable |= a < 2;
		else if (use[a] < 0)
			use[a] = i;
	}
	info->idxNum = 0;
	for (int a = 0; a < 3; a++) {
		if (use[a] < 0)
			continue;
		info->idxNum |= 1 << a;
		info->aConstraintUsage[use[a]].argvIndex = ++argv;
		info->aConstraintUsage[use[a]].omit = 1;
	}
	if (unusable && !(info->idxNum & 3))
		return SQLITE_CONSTRAINT;
	/* the whole SELECT once (a few rows: sockets), or one process's (a lookup) */
	info->estimatedCost = (info->idxNum & 4 ? 100 : 1000) * (info->idxNum & 3 ? 10 : 1);
	info->estimatedRows = info->idxNum & 4 ? 2 : 100;
	return SQLITE_OK;
}

static int view_open(sqlite3_vtab *pvt, sqlite3_vtab_cursor **out)
{
	struct view_cursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static void view_reset(struct view_cursor *c, int ncols)
{
	for (size_t i = 0; i < c->n * (size_t)ncols; i++)
		sqlite3_value_free(c->cells[i]);
	c->n = 0;
	c->valid = false;
	for (int a = 0; a < 3; a++) {
		sqlite3_value_free(c->args[a]);
		c->args[a] = NULL;
	}
}

static int view_close(sqlite3_vtab_cursor *cur)
{
	struct view_cursor *c = (struct view_cursor *)cur;

	view_reset(c, ((struct view_vtab *)cur->pVtab)->ncols);
	sqlite3_finalize(c->st);
	sqlite3_free(c->cells);
	sqlite3_free(c);
	return SQLITE_OK;
}

/* Whether @a and @b are the same argument (both absent, or equal values of one type). */
static bool same_arg(sqlite3_value *a, sqlite3_value *b)
{
	if (!a || !b)
		return !a && !b;
	if (sqlite3_value_type(a) != sqlite3_value_type(b))
		return false;
	if (sqlite3_value_type(a) == SQLITE_NULL)
		return true;
	return sqlite3_value_bytes(a) == sqlite3_value_bytes(b) &&
	       !memcmp(sqlite3_value_blob(a), sqlite3_value_blob(b), (size_t)sqlite3_value_bytes(a));
}

static int view_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
		       sqlite3_value **argv)
{
	struct view_cursor *c = (struct view_cursor *)cur;
	const struct view_vtab *vt = (const struct view_vtab *)cur->pVtab;
	sqlite3_value *args[3] = { NULL, NULL, NULL };
	sqlite3_stmt *st;
	char *sql;
	int n = 0, rc;

	for (int a = 0; a < 3; a++)
		if ((idx & (1 << a)) && n < argc)
			args[a] = argv[n++];
	c->i = 0;
	if (c->valid && same_arg(c->args[0], args[0]) && same_arg(c->args[1], args[1]) &&
	    same_arg(c->args[2], args[2]))
		return SQLITE_OK;	/* (a join's inner side: the rows it read already) */
	view_reset(c, vt->ncols);
	for (int a = 0; a < 3; a++)
		if (args[a] && !(c->args[a] = sqlite3_value_dup(args[a])))
			return SQLITE_NOMEM;
	if (!c->st || c->st_idx != idx) {
		sqlite3_finalize(c->st);
		c->st = NULL;
		sql = sqlite3_mprintf(idx & 4 ? "SELECT * FROM (%s) WHERE pid = ?3" : "%s",
				      idx & 3 ? vt->v->past : vt->v->select);
		if (!sql)
			return SQLITE_NOMEM;
		rc = sqlite3_prepare_v2(vt->db, sql, -1, &c->st, NULL);
		sqlite3_free(sql);
		if (rc != SQLITE_OK)
			return vtab_fail(&c->base, rc, sqlite3_mprintf("%s: %s", vt->v->name,
					  sqlite3_errmsg(vt->db)));
		c->st_idx = idx;
	}
	st = c->st;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (int a = 0; a < 3; a++)
		if (idx & (1 << a))
			sqlite3_bind_value(st, a + 1, args[a]);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;
			sqlite3_value **nc = sqlite3_realloc64(c->cells, cap * vt->ncols * sizeof(*nc));

			if (!nc) {
				rc = SQLITE_NOMEM;
				break;
			}
			c->cells = nc;
			c->cap = cap;
		}
		for (int col = 0; col < vt->ncols; col++)
			if (!(c->cells[c->n * vt->ncols + col] = sqlite3_value_dup(sqlite3_column_value(st, col))))
				rc = SQLITE_NOMEM;
		c->n++;
		if (rc == SQLITE_NOMEM)
			break;
	}
	if (rc != SQLITE_DONE) {
		char *msg = sqlite3_mprintf("%s", sqlite3_errmsg(vt->db));

		sqlite3_reset(st);
		view_reset(c, vt->ncols);
		return vtab_fail(&c->base, rc == SQLITE_NOMEM ? rc : SQLITE_ERROR, msg);
	}
	sqlite3_reset(st);	/* (lets go of its tables' cursors and iterators) */
	c->valid = true;
	return SQLITE_OK;
}

static int view_next(sqlite3_vtab_cursor *cur)
{
	((struct view_cursor *)cur)->i++;
	return SQLITE_OK;
}

static int view_eof(sqlite3_vtab_cursor *cur)
{
	const struct view_cursor *c = (const struct view_cursor *)cur;

	return c->i >= c->n;
}

static int view_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct view_cursor *c = (const struct view_cursor *)cur;
	const struct view_vtab *vt = (const struct view_vtab *)cur->pVtab;

	if (col >= vt->ncols) {
		if (c->args[col - vt->ncols])
			sqlite3_result_value(ctx, c->args[col - vt->ncols]);
		return SQLITE_OK;
	}
	sqlite3_result_value(ctx, c->cells[c->i * vt->ncols + col]);
	return SQLITE_OK;
}

static int view_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((struct view_cursor *)cur)->i;
	return SQLITE_OK;
}

static const sqlite3_module view_module = {
	.iVersion      = 0,
	.xConnect      = view_connect,		/* eponymous-only: no xCreate */
	.xBestIndex    = view_best_index,
	.xDisconnect   = view_disconnect,
	.xOpen         = view_open,
	.xClose        = view_close,
	.xFilter       = view_filter,
	.xNext         = view_next,
	.xEof          = view_eof,
	.xColumn       = view_column,
	.xRowid        = view_rowid,
};

/* ---- <view>_changes(since, until) ---- */

enum { VC_SINCE, VC_UNTIL, VC_SINCE_SEQ, VC_UNTIL_SEQ, VC_NARGS };

struct vchange_vtab {
	sqlite3_vtab base;		/* must be first */
	sqlite3 *db;
	const struct schema_view *v;
	char name[64];
	int ncols;			/* change, the view's columns, then the 4 arguments */
};

struct vrow {
	int change;			/* 1 added, 2 removed */
	sqlite3_value **cells;		/* ncols - 1 */
};

struct vchange_cursor {
	sqlite3_vtab_cursor base;	/* must be first */
	sqlite3_value **side[2];	/* the rows at since and at until */
	size_t nside[2];
	struct vrow *rows;
	size_t n, i;
	sqlite3_value *args[VC_NARGS];
};

static int vchange_connect(sqlite3 *db, void *paux, int argc, const char *const *argv,
			   sqlite3_vtab **out, char **errp)
{
	const struct schema_view *v = paux;
	struct vchange_vtab *vt;
	sqlite3_stmt *st;
	sqlite3_str *decl;
	char *sql;
	int rc, n;

	rc = sqlite3_prepare_v2(db, v->select, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		*errp = sqlite3_mprintf("%s: %s", v->name, sqlite3_errmsg(db));
		return rc;
	}
	n = sqlite3_column_count(st);
	decl = sqlite3_str_new(db);
	sqlite3_str_appendf(decl, "CREATE TABLE %s_changes(change", v->name);
	for (int i = 0; i < n; i++)
		sqlite3_str_appendf(decl, ", \"%w\"", sqlite3_column_name(st, i));
	sqlite3_str_appendall(decl, ", since HIDDEN, until HIDDEN, since_seq HIDDEN, until_seq HIDDEN)");
	sqlite3_finalize(st);
	sql = sqlite3_str_finish(decl);
	if (!sql)
		return SQLITE_NOMEM;
	rc = sqlite3_declare_vtab(db, sql);
	sqlite3_free(sql);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
	vt = sqlite3_malloc(sizeof(*vt));
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof(*vt));
	vt->db = db;
	vt->v = v;
	vt->ncols = n + 1;
	snprintf(vt->name, sizeof(vt->name), "%s_changes", v->name);
	*out = &vt->base;
	return SQLITE_OK;
}

static int vchange_best_index(sqlite3_vtab *pvt, sqlite3_index_info *info)
{
	const struct vchange_vtab *vt = (const struct vchange_vtab *)pvt;
	int use[VC_NARGS] = { -1, -1, -1, -1 }, argv = 0;
	bool unusable = false;

	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *c = &info->aConstraint[i];
		int a = c->iColumn - vt->ncols;

		if (a < 0 || a >= VC_NARGS || c->op != SQLITE_INDEX_CONSTRAINT_EQ)
			continue;
		if (!c->usable)
			unusable = true;
		else if (use[a] < 0)
			use[a] = i;
	}
	info->idxNum = 0;
	for (int a = 0; a < VC_NARGS; a++) {
		if (use[a] < 0)
			continue;
		info->idxNum |= 1 << a;
		info->aConstraintUsage[use[a]].argvIndex = ++argv;
		info->aConstraintUsage[use[a]].omit = 1;
	}
	if (unusable && !info->idxNum)
		return SQLITE_CONSTRAINT;
	info->estimatedCost = 200000;
	info->estimatedRows = 100;
	return SQLITE_OK;
}

static int vchange_open(sqlite3_vtab *pvt, sqlite3_vtab_cursor **out)
{
	struct vchange_cursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static void vchange_reset(struct vchange_cursor *c, int width)
{
	for (int s = 0; s < 2; s++) {
		for (size_t i = 0; i < c->nside[s] * (size_t)width; i++)
			sqlite3_value_free(c->side[s][i]);
		sqlite3_free(c->side[s]);
		c->side[s] = NULL;
		c->nside[s] = 0;
	}
	sqlite3_free(c->rows);
	c->rows = NULL;
	c->n = c->i = 0;
	for (int a = 0; a < VC_NARGS; a++) {
		sqlite3_value_free(c->args[a]);
		c->args[a] = NULL;
	}
}

static int vchange_close(sqlite3_vtab_cursor *cur)
{
	struct vchange_cursor *c = (struct vchange_cursor *)cur;

	vchange_reset(c, ((struct vchange_vtab *)cur->pVtab)->ncols - 1);
	sqlite3_free(c);
	return SQLITE_OK;
}

/* SQLite's order of two values (NULL < numbers < text < blobs; numbers by value). */
static int value_cmp(sqlite3_value *a, sqlite3_value *b)
{
	int ta = sqlite3_value_type(a), tb = sqlite3_value_type(b), n;

	if ((ta == SQLITE_INTEGER || ta == SQLITE_FLOAT) && (tb == SQLITE_INTEGER || tb == SQLITE_FLOAT)) {
		if (ta == SQLITE_INTEGER && tb == SQLITE_INTEGER) {
			sqlite3_int64 x = sqlite3_value_int64(a), y = sqlite3_value_int64(b);

			return x < y ? -1 : x > y;
		}
		return sqlite3_value_double(a) < sqlite3_value_double(b) ? -1 :
		       sqlite3_value_double(a) > sqlite3_value_double(b);
	}
	if (ta != tb)
		return ta == SQLITE_NULL ? -1 : tb == SQLITE_NULL ? 1 :
		       (ta == SQLITE_INTEGER || ta == SQLITE_FLOAT) ? -1 :
		       (tb == SQLITE_INTEGER || tb == SQLITE_FLOAT) ? 1 : ta < tb ? -1 : 1;
	if (ta == SQLITE_NULL)
		return 0;
	n = memcmp(sqlite3_value_blob(a), sqlite3_value_blob(b),
		   (size_t)(sqlite3_value_bytes(a) < sqlite3_value_bytes(b) ? sqlite3_value_bytes(a)
									   : sqlite3_value_bytes(b)));
	return n ? n : sqlite3_value_bytes(a) - sqlite3_value_bytes(b);
}

/* Two rows of @width values, column by column (qsort_r's comparator: @arg is the width). */
static int row_cmp(const void *a, const void *b, void *arg)
{
	sqlite3_value *const *x = a, *const *y = b;
	int width = *(const int *)arg;

	for (int i = 0; i < width; i++) {
		int c = value_cmp(x[i], y[i]);

		if (c)
			return c;
	}
	return 0;
}

/* The view's rows as of one side's moment (@when or @seq), sorted, into side @s. */
static int vchange_side(struct vchange_cursor *c, int s, const char *what, sqlite3_value *when,
			sqlite3_value *seq)
{
	const struct vchange_vtab *vt = (const struct vchange_vtab *)c->base.pVtab;
	int width = vt->ncols - 1, rc;
	size_t cap = 0;
	sqlite3_stmt *st;

	if (when && sqlite3_value_type(when) == SQLITE_NULL)
		when = NULL;
	if (seq && sqlite3_value_type(seq) == SQLITE_NULL)
		seq = NULL;
	if (!when == !seq)
		return vtab_fail(&c->base, SQLITE_ERROR, sqlite3_mprintf(
			"%s needs two moments: %s(since, until), or since_seq and until_seq; %s has %s",
			vt->name, vt->name, what, when ? "both" : "neither"));
	rc = sqlite3_prepare_v2(vt->db, vt->v->past, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return vtab_fail(&c->base, rc, sqlite3_mprintf("%s: %s", vt->name, sqlite3_errmsg(vt->db)));
	if (when)
		sqlite3_bind_value(st, 1, when);
	else
		sqlite3_bind_value(st, 2, seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (c->nside[s] == cap) {
			size_t nc = cap ? cap * 2 : 64;
			sqlite3_value **p = sqlite3_realloc64(c->side[s], nc * width * sizeof(*p));

			if (!p) {
				rc = SQLITE_NOMEM;
				break;
			}
			c->side[s] = p;
			cap = nc;
		}
		for (int col = 0; col < width; col++)
			if (!(c->side[s][c->nside[s] * width + col] =
			      sqlite3_value_dup(sqlite3_column_value(st, col))))
				rc = SQLITE_NOMEM;
		c->nside[s]++;
		if (rc == SQLITE_NOMEM)
			break;
	}
	if (rc != SQLITE_DONE) {
		char *msg = sqlite3_mprintf("%s", sqlite3_errmsg(vt->db));

		sqlite3_finalize(st);
		return vtab_fail(&c->base, rc == SQLITE_NOMEM ? rc : SQLITE_ERROR, msg);
	}
	sqlite3_finalize(st);
	qsort_r(c->side[s], c->nside[s], width * sizeof(sqlite3_value *), row_cmp, &width);
	return SQLITE_OK;
}

static int vchange_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
			  sqlite3_value **argv)
{
	struct vchange_cursor *c = (struct vchange_cursor *)cur;
	int width = ((struct vchange_vtab *)cur->pVtab)->ncols - 1, n = 0, rc;
	size_t i = 0, j = 0, cap = 0;

	vchange_reset(c, width);
	for (int a = 0; a < VC_NARGS; a++)
		if ((idx & (1 << a)) && n < argc && !(c->args[a] = sqlite3_value_dup(argv[n++])))
			return SQLITE_NOMEM;
	if ((rc = vchange_side(c, 0, "since", c->args[VC_SINCE], c->args[VC_SINCE_SEQ])) ||
	    (rc = vchange_side(c, 1, "until", c->args[VC_UNTIL], c->args[VC_UNTIL_SEQ])))
		return rc;
	while (i < c->nside[0] || j < c->nside[1]) {
		sqlite3_value **x = i < c->nside[0] ? &c->side[0][i * width] : NULL;
		sqlite3_value **y = j < c->nside[1] ? &c->side[1][j * width] : NULL;
		int d = !x ? 1 : !y ? -1 : row_cmp(x, y, &width);
		struct vrow r = { 0 };

		if (!d) {
			i++;
			j++;
			continue;
		}
		r = d < 0 ? (struct vrow){ 2, x } : (struct vrow){ 1, y };
		if (d < 0)
			i++;
		else
			j++;
		if (c->n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct vrow *p = sqlite3_realloc64(c->rows, nc * sizeof(*p));

			if (!p)
				return SQLITE_NOMEM;
			c->rows = p;
			cap = nc;
		}
		c->rows[c->n++] = r;
	}
	return SQLITE_OK;
}

static int vchange_next(sqlite3_vtab_cursor *cur)
{
	((struct vchange_cursor *)cur)->i++;
	return SQLITE_OK;
}

static int vchange_eof(sqlite3_vtab_cursor *cur)
{
	const struct vchange_cursor *c = (const struct vchange_cursor *)cur;

	return c->i >= c->n;
}

static int vchange_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct vchange_cursor *c = (const struct vchange_cursor *)cur;
	const struct vchange_vtab *vt = (const struct vchange_vtab *)cur->pVtab;
	const struct vrow *r = &c->rows[c->i];

	if (col == 0)
		sqlite3_result_text(ctx, r->change == 1 ? "added" : "removed", -1, SQLITE_STATIC);
	else if (col < vt->ncols)
		sqlite3_result_value(ctx, r->cells[col - 1]);
	else if (c->args[col - vt->ncols])
		sqlite3_result_value(ctx, c->args[col - vt->ncols]);
	return SQLITE_OK;
}

static int vchange_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((struct vchange_cursor *)cur)->i;
	return SQLITE_OK;
}

static const sqlite3_module vchange_module = {
	.iVersion      = 0,
	.xConnect      = vchange_connect,	/* eponymous-only: no xCreate */
	.xBestIndex    = vchange_best_index,
	.xDisconnect   = view_disconnect,
	.xOpen         = vchange_open,
	.xClose        = vchange_close,
	.xFilter       = vchange_filter,
	.xNext         = vchange_next,
	.xEof          = vchange_eof,
	.xColumn       = vchange_column,
	.xRowid        = vchange_rowid,
};

int viewtab_register(sqlite3 *db, const struct schema_view *v)
{
	char name[64];
	int rc = sqlite3_create_module_v2(db, v->name, &view_module, (void *)v, NULL);

	snprintf(name, sizeof(name), "%s_changes", v->name);
	return rc ? rc : sqlite3_create_module_v2(db, name, &vchange_module, (void *)v, NULL);
}
