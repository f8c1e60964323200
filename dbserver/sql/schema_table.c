// SPDX-License-Identifier: GPL-2.0
/* schema_table.c - dbos_schema(name, sql): every dbos table's declaration, with a doc per column. */

/*
 * USAGE
 *
 *   SELECT name FROM dbos_schema;                      -- what .tables shows
 *   SELECT sql FROM dbos_schema WHERE name = 'processes';  -- .schema processes
 *
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
 *   stored table (schema_tables[], in order), then dbos_stats and dbos_schema
 *   itself, then the views (schema_views[], which sql_open() creates in every
 *   connection). The text is generated from the declarations in schema.h, the
 *   same ones xConnect declares to SQLite, so it cannot drift from what the
 *   tables really are. It is built once per connection, in xConnect. A
 *   handful of rows: xBestIndex offers a full scan only (idxNum 0).
 */
#include <string.h>

#include "dbserver/sql/sql_int.h"

static const struct schema_column schema_cols[] = {
	{ "name", "TEXT", "Table name" },
	{ "sql", "TEXT", "CREATE TABLE statement, one column per line with its doc" },
};

const struct schema_table sql_table_dbos_schema = {
	.name = "dbos_schema",
	.doc = "The declaration of every dbos table",
	.cols = schema_cols,
	.ncols = 2,
};

/* What dbos_schema says after a table's declaration: how it can be written, if at all. */
static const char *table_note(const struct schema_table *t)
{
	if (t == &schema_processes)
		return "-- UPDATE processes SET nice, sched_policy, sched_priority, cpus changes the "
		       "processes themselves (root only; the rows then show what the kernel reports)";
	return NULL;
}

char *sql_create_table(const struct schema_table *t, int docs)
{
	sqlite3_str *s = sqlite3_str_new(NULL);

	sqlite3_str_appendf(s, docs ? "CREATE TABLE %s (\n" : "CREATE TABLE %s(", t->name);
	for (int i = 0; i < t->ncols; i++) {
		const struct schema_column *c = &t->cols[i];
		const char *sep = i + 1 < t->ncols ? "," : "";

		if (docs)
			sqlite3_str_appendf(s, "  %s %s%s -- %s\n", c->name, c->type, sep, c->doc);
		else
			sqlite3_str_appendf(s, "%s %s%s", c->name, c->type, sep[0] ? ", " : "");
	}
	sqlite3_str_appendall(s, docs ? ");" : ")");
	if (docs && table_note(t))
		sqlite3_str_appendf(s, "\n%s", table_note(t));
	return sqlite3_str_finish(s);
}

char *sql_create_view(const struct schema_view *v, int docs)
{
	return docs ? sqlite3_mprintf("-- %s\nCREATE VIEW %s AS %s;", v->doc, v->name, v->select)
		    : sqlite3_mprintf("CREATE VIEW %s AS %s", v->name, v->select);
}

struct schema_row {
	const char *name;
	char *sql;
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

	for (int i = 0; i < vt->n; i++)
		sqlite3_free(vt->rows[i].sql);
	sqlite3_free(vt->rows);
	sqlite3_free(vt);
	return SQLITE_OK;
}

/* xConnect: declares (name TEXT, sql TEXT) and builds every row. */
static int schema_connect(sqlite3 *db, void *aux, int argc,
			  const char *const *argv, sqlite3_vtab **out, char **errp)
{
	const struct schema_table *extra[] = { &sql_table_dbos_stats, &sql_table_dbos_schema };
	struct schema_vtab *vt;
	char *decl = sql_create_table(&sql_table_dbos_schema, 0);
	int rc, nstored = 0, nviews = 0, n;

	if (!decl)
		return SQLITE_NOMEM;
	rc = sqlite3_declare_vtab(db, decl);
	sqlite3_free(decl);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);

	while (schema_tables[nstored])
		nstored++;
	while (schema_views[nviews])
		nviews++;
	n = nstored + 2 + nviews;
	vt = sqlite3_malloc(sizeof(*vt));
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof(*vt));
	vt->rows = sqlite3_malloc64(n * sizeof(*vt->rows));
	if (!vt->rows) {
		sqlite3_free(vt);
		return SQLITE_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		if (i < nstored + 2) {
			const struct schema_table *t = i < nstored ? schema_tables[i]
							       : extra[i - nstored];

			vt->rows[i].name = t->name;
			vt->rows[i].sql = sql_create_table(t, 1);
		} else {
			const struct schema_view *v = schema_views[i - nstored - 2];

			vt->rows[i].name = v->name;
			vt->rows[i].sql = sql_create_view(v, 1);
		}
		vt->n = i + 1;
		if (!vt->rows[i].sql) {
			schema_disconnect(&vt->base);
			return SQLITE_NOMEM;
		}
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

/* xColumn: 0 name, 1 sql. */
static int schema_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct schema_vtab *vt = (const struct schema_vtab *)cur->pVtab;
	const struct schema_row *r = &vt->rows[((struct schema_cursor *)cur)->i];

	sqlite3_result_text(ctx, col == 0 ? r->name : r->sql, -1, SQLITE_TRANSIENT);
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
	.xConnect    = schema_connect,		/* declares (name, sql), builds the rows */
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
	return sqlite3_create_module_v2(db, sql_table_dbos_schema.name, &schema_module,
					NULL, NULL);
}
