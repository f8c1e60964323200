// SPDX-License-Identifier: GPL-2.0
/* viewtab.c - the views that take a moment (process_open_sockets, listening_ports): a view's SELECT, run over the live tables or over the tables as of as_of / as_of_seq. */

/*
 * USAGE
 *
 *   SELECT * FROM listening_ports;                           -- now, as a view
 *   SELECT * FROM listening_ports('2026-12-05 03:12:00');    -- as of a moment
 *   SELECT * FROM process_open_sockets WHERE as_of_seq = 123456;
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
 */
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

int viewtab_register(sqlite3 *db, const struct schema_view *v)
{
	return sqlite3_create_module_v2(db, v->name, &view_module, (void *)v, NULL);
}
