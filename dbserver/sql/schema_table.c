// SPDX-License-Identifier: GPL-2.0
/* schema_table.c - dbos_schema(name, type, sql): every dbos table, view and function, with a doc per column. */

/*
 * USAGE
 *
 *   SELECT name FROM dbos_schema WHERE type <> 'function';  -- what .tables shows
 *   SELECT sql FROM dbos_schema WHERE name = 'processes';   -- .schema processes
 *
 *   -- Live processes, one row per process (thread group)
 *   CREATE TABLE processes (
 *     pid INTEGER, -- Process (thread group) ID
 *     ...
 *     seq INTEGER -- Sequence number of the last event or dump that set this row
 *   );
 *   -- UPDATE processes SET nice, sched_policy, sched_priority, cpus changes ...
 *
 * HOW IT WORKS
 *
 *   The virtual tables live in no schema that sqlite_schema would show, so
 *   this eponymous-only, read-only table is their catalogue: one row per
 *   entry of schema_catalog_tables[] (type 'table', or 'table-valued
 *   function' when it has HIDDEN argument columns), then the
 *   <table>_changes functions (past.c), then the views
 *   (schema_views[], which sql_open() creates in every connection), then the
 *   functions (schema_catalog_functions[]). The text is generated from the
 *   declarations in schema.h, the same ones each xConnect declares to
 *   SQLite, so it cannot drift from what the tables really are. It is built
 *   once per connection, in xConnect. A few dozen rows: xBestIndex offers a
 *   full scan only (idxNum 0).
 */
#include <string.h>

#include "dbserver/sql/sql_int.h"

enum { SCHEMA_NAME, SCHEMA_TYPE, SCHEMA_SQL };

static const struct schema_column schema_cols[] = {
	[SCHEMA_NAME] = { "name", "TEXT", "Table, view or function name" },
	[SCHEMA_TYPE] = { "type", "TEXT", "table, view, table-valued function or function" },
	[SCHEMA_SQL]  = { "sql", "TEXT", "Its declaration with a doc comment, one column per line with its doc" },
};

const struct schema_table schema_dbos_schema = {
	.name = "dbos_schema",
	.doc = "Every dbos table, view and function, declared and documented",
	.cols = schema_cols,
	.ncols = sizeof(schema_cols) / sizeof(schema_cols[0]),
};

/*
 * True if @t is a table-valued function: it has HIDDEN argument columns and
 * no rows of its own (the live tables' as_of makes them no less tables).
 */
static bool is_table_function(const struct schema_table *t)
{
	if (t->nkeys)
		return false;
	for (int i = 0; i < t->ncols; i++)
		if (t->cols[i].hidden)
			return true;
	return false;
}

char *sql_create_table(const struct schema_table *t, int docs)
{
	sqlite3_str *s = sqlite3_str_new(NULL);

	if (docs)
		sqlite3_str_appendf(s, "-- %s\nCREATE TABLE %s (\n", t->doc, t->name);
	else
		sqlite3_str_appendf(s, "CREATE TABLE %s(", t->name);
	for (int i = 0; i < t->ncols; i++) {
		const struct schema_column *c = &t->cols[i];
		const char *sep = i + 1 < t->ncols ? "," : "";
		const char *hidden = c->hidden ? " HIDDEN" : "";

		if (docs)
			sqlite3_str_appendf(s, "  %s %s%s%s -- %s%s\n", c->name, c->type, hidden, sep,
					    c->live ? "[read live] " : "", c->doc);
		else
			sqlite3_str_appendf(s, "%s %s%s%s", c->name, c->type, hidden,
					    sep[0] ? ", " : "");
	}
	sqlite3_str_appendall(s, docs ? ");" : ")");
	if (docs && t->note)
		sqlite3_str_appendf(s, "\n%s", t->note);
	return sqlite3_str_finish(s);
}

int sql_declare_table(sqlite3 *db, const struct schema_table *t)
{
	char *decl = sql_create_table(t, 0);
	int rc;

	if (!decl)
		return SQLITE_NOMEM;
	rc = sqlite3_declare_vtab(db, decl);
	sqlite3_free(decl);
	return rc;
}

char *sql_create_view(const struct schema_view *v, int docs)
{
	return docs ? sqlite3_mprintf("-- %s\nCREATE VIEW %s AS %s;", v->doc, v->name, v->select)
		    : sqlite3_mprintf("CREATE VIEW %s AS %s", v->name, v->select);
}

struct schema_row {
	const char *name;
	const char *type;
	char *sql;
	bool name_owned;	/* @name is sqlite3_malloc'ed (a <view>_changes) */
};

struct schema_vtab {
	sqlite3_vtab base;		/* must be first */
	struct schema_row *rows;
	int n;
};

struct schema_cursor {
	sqlite3_vtab_cursor base;	/* must be first */
	int i;				/* current row; the rowid is i + 1 */
};

/* xDisconnect */
static int schema_disconnect(sqlite3_vtab *pvt)
{
	struct schema_vtab *vt = (struct schema_vtab *)pvt;

	for (int i = 0; i < vt->n; i++) {
		sqlite3_free(vt->rows[i].sql);
		if (vt->rows[i].name_owned)
			sqlite3_free((char *)vt->rows[i].name);
	}
	sqlite3_free(vt->rows);
	sqlite3_free(vt);
	return SQLITE_OK;
}

/* The row for catalogue entry @i (tables, then views, then functions); false past the end. */
static bool catalogue_row(int i, struct schema_row *r)
{
	int n = 0;

	memset(r, 0, sizeof(*r));
	while (schema_catalog_tables[n])
		n++;
	if (i < n) {
		const struct schema_table *t = schema_catalog_tables[i];

		r->name = t->name;
		r->type = is_table_function(t) ? "table-valued function" : "table";
		r->sql = sql_create_table(t, 1);
		return true;
	}
	i -= n;
	for (n = 0; sql_changes_table(n);)	/* processes_changes, ... (past.c) */
		n++;
	if (i < n) {
		const struct schema_table *t = sql_changes_table(i);

		r->name = t->name;
		r->type = "table-valued function";
		r->sql = sql_create_table(t, 1);
		return true;
	}
	i -= n;
	/* <view>_changes of the views that take a moment (viewtab.c) */
	for (int v = 0; schema_views[v]; v++) {
		if (!schema_views[v]->past)
			continue;
		if (i-- > 0)
			continue;
		r->name = sqlite3_mprintf("%s_changes", schema_views[v]->name);
		r->name_owned = true;
		r->type = "table-valued function";
		r->sql = sqlite3_mprintf("-- The rows of %s that differ between two moments: added "
					 "or removed (a changed row is both)\n-- TABLE-VALUED FUNCTION "
					 "%s_changes(since, until), or since_seq and until_seq: change, "
					 "then %s's columns", schema_views[v]->name,
					 schema_views[v]->name, schema_views[v]->name);
		return true;
	}
	for (n = 0; schema_views[n];)
		n++;
	if (i < n) {
		r->name = schema_views[i]->name;
		r->type = "view";
		r->sql = sql_create_view(schema_views[i], 1);
		return true;
	}
	i -= n;
	for (n = 0; schema_catalog_functions[n];)
		n++;
	if (i < n) {
		const struct schema_function *f = schema_catalog_functions[i];

		r->name = f->name;
		r->type = "function";
		r->sql = sqlite3_mprintf("-- %s\n-- FUNCTION %s", f->doc, f->signature);
		return true;
	}
	return false;
}

/* xConnect: declares (name, type, sql) and builds every row. */
static int schema_connect(sqlite3 *db, void *aux, int argc,
			  const char *const *argv, sqlite3_vtab **out, char **errp)
{
	struct schema_vtab *vt;
	struct schema_row r;
	char *decl = sql_create_table(&schema_dbos_schema, 0);
	int rc, n = 0;

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
	while (catalogue_row(n, &r)) {
		struct schema_row *rows = sqlite3_realloc64(vt->rows, (n + 1) * sizeof(*rows));

		if (!rows || !r.sql || !r.name) {
			sqlite3_free(r.sql);
			if (r.name_owned)
				sqlite3_free((char *)r.name);
			schema_disconnect(&vt->base);
			return SQLITE_NOMEM;
		}
		vt->rows = rows;
		vt->rows[n++] = r;
		vt->n = n;
	}
	*out = &vt->base;
	return SQLITE_OK;
}

/* xBestIndex: a full scan of a few rows. */
static int schema_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	info->idxNum = 0;
	info->estimatedCost = 10;
	info->estimatedRows = 4;
	return SQLITE_OK;
}

/* xOpen */
static int schema_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	struct schema_cursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

/* xClose */
static int schema_close(sqlite3_vtab_cursor *cur)
{
	sqlite3_free(cur);
	return SQLITE_OK;
}

/* xFilter: rewinds to the first table. */
static int schema_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr,
			 int argc, sqlite3_value **argv)
{
	((struct schema_cursor *)cur)->i = 0;
	return SQLITE_OK;
}

/* xNext */
static int schema_next(sqlite3_vtab_cursor *cur)
{
	((struct schema_cursor *)cur)->i++;
	return SQLITE_OK;
}

/* xEof */
static int schema_eof(sqlite3_vtab_cursor *cur)
{
	const struct schema_vtab *vt = (const struct schema_vtab *)cur->pVtab;

	return ((struct schema_cursor *)cur)->i >= vt->n;
}

/* xColumn: SCHEMA_NAME, SCHEMA_TYPE, SCHEMA_SQL. */
static int schema_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct schema_vtab *vt = (const struct schema_vtab *)cur->pVtab;
	const struct schema_row *r = &vt->rows[((struct schema_cursor *)cur)->i];

	sqlite3_result_text(ctx, col == SCHEMA_NAME ? r->name : col == SCHEMA_TYPE ? r->type : r->sql,
			    -1, SQLITE_TRANSIENT);
	return SQLITE_OK;
}

/* xRowid: the position, from 1. */
static int schema_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = ((struct schema_cursor *)cur)->i + 1;
	return SQLITE_OK;
}

static const sqlite3_module schema_module = {
	.iVersion    = 0,
	.xCreate     = NULL,			/* NULL: eponymous-only */
	.xConnect    = schema_connect,		/* declares (name, type, sql), builds the rows */
	.xBestIndex  = schema_best_index,	/* always a full scan */
	.xDisconnect = schema_disconnect,	/* frees the rows */
	.xDestroy    = NULL,			/* eponymous-only: nothing to drop */
	.xOpen       = schema_open,
	.xClose      = schema_close,
	.xFilter     = schema_filter,		/* rewinds */
	.xNext       = schema_next,
	.xEof        = schema_eof,
	.xColumn     = schema_column,
	.xRowid      = schema_rowid,		/* position, from 1 */
	.xUpdate     = NULL,			/* read-only: "may not be modified" */
};

int schema_table_register(sqlite3 *db)
{
	return sqlite3_create_module_v2(db, schema_dbos_schema.name, &schema_module,
					NULL, NULL);
}
