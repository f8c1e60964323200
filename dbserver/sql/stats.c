// SPDX-License-Identifier: GPL-2.0
/* stats.c - dbos_stats(name, value, doc): the server's counters as a SQL table. */

/*
 * USAGE
 *
 *   SELECT name, value FROM dbos_stats;
 *   SELECT value FROM dbos_stats WHERE name = 'events_lost';
 *
 * HOW IT WORKS
 *
 *   An eponymous-only, read-only virtual table. xFilter calls the server's
 *   sql_env.stats callback once (a snapshot: every row of one scan comes from
 *   the same call) and copies what it returns into the cursor, since the
 *   callback's strings only live until its next call, which may come from
 *   another connection's thread. No callback: the table is empty. The table
 *   has a few dozen rows, so xBestIndex offers only a full scan (idxNum 0)
 *   and lets SQLite apply every constraint.
 */
#include <stdlib.h>
#include <string.h>

#include "dbserver/sql/sql_int.h"

#define STATS_FIRST	64		/* entries asked for first */
#define STATS_MAX	65536		/* and at most */

static const struct schema_column stats_cols[] = {
	{ "name", "TEXT", "Counter name" },
	{ "value", "INTEGER", "Current value" },
	{ "doc", "TEXT", "What it counts" },
};

const struct schema_table schema_dbos_stats = {
	.name = "dbos_stats",
	.doc = "dbosd's counters: events received, lost, re-syncs, ...",
	.cols = stats_cols,
	.ncols = 3,
};

struct stat_row {
	char *name;
	char *doc;
	int64_t value;
};

struct stats_vtab {
	sqlite3_vtab base;		/* must be first */
	const struct sql_env *env;
};

struct stats_cursor {
	sqlite3_vtab_cursor base;	/* must be first */
	struct stat_row *rows;
	int n;
	int i;				/* current row; the rowid is i + 1 */
};

/* xConnect: declares (name TEXT, value INTEGER, doc TEXT). */
static int stats_connect(sqlite3 *db, void *aux, int argc,
			 const char *const *argv, sqlite3_vtab **out, char **errp)
{
	struct stats_vtab *vt;
	char *decl = sql_create_table(&schema_dbos_stats, 0);
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
	vt->env = aux;
	*out = &vt->base;
	return SQLITE_OK;
}

/* xDisconnect */
static int stats_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

/* xBestIndex: always a full scan of a small table. */
static int stats_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	info->idxNum = 0;
	info->estimatedCost = 100;
	info->estimatedRows = 50;
	return SQLITE_OK;
}

/* xOpen */
static int stats_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	struct stats_cursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static void free_rows(struct stats_cursor *c)
{
	for (int i = 0; i < c->n; i++) {
		free(c->rows[i].name);
		free(c->rows[i].doc);
	}
	free(c->rows);
	c->rows = NULL;
	c->n = c->i = 0;
}

/* xClose */
static int stats_close(sqlite3_vtab_cursor *cur)
{
	free_rows((struct stats_cursor *)cur);
	sqlite3_free(cur);
	return SQLITE_OK;
}

/* xFilter: takes the snapshot (see above). */
static int stats_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr,
			int argc, sqlite3_value **argv)
{
	struct stats_cursor *c = (struct stats_cursor *)cur;
	const struct sql_env *env = ((struct stats_vtab *)cur->pVtab)->env;
	struct sql_stat *buf = NULL;
	int max = STATS_FIRST, n;

	free_rows(c);
	if (!env || !env->stats)
		return SQLITE_OK;
	/* A full buffer may mean more entries: ask again with a bigger one. */
	for (;;) {
		struct sql_stat *nb = realloc(buf, max * sizeof(*buf));

		if (!nb) {
			free(buf);
			return SQLITE_NOMEM;
		}
		buf = nb;
		n = env->stats(env->stats_arg, buf, max);
		if (n < max || max >= STATS_MAX)
			break;
		max *= 2;
	}
	if (n < 0)
		n = 0;
	if (n > max)
		n = max;
	c->rows = calloc(n ? n : 1, sizeof(*c->rows));
	if (!c->rows) {
		free(buf);
		return SQLITE_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		c->rows[i].value = buf[i].value;
		c->rows[i].name = buf[i].name ? strdup(buf[i].name) : NULL;
		c->rows[i].doc = buf[i].doc ? strdup(buf[i].doc) : NULL;
		c->n = i + 1;
		if ((buf[i].name && !c->rows[i].name) || (buf[i].doc && !c->rows[i].doc)) {
			free(buf);
			free_rows(c);
			return SQLITE_NOMEM;
		}
	}
	free(buf);
	return SQLITE_OK;
}

/* xNext */
static int stats_next(sqlite3_vtab_cursor *cur)
{
	((struct stats_cursor *)cur)->i++;
	return SQLITE_OK;
}

/* xEof */
static int stats_eof(sqlite3_vtab_cursor *cur)
{
	const struct stats_cursor *c = (const struct stats_cursor *)cur;

	return c->i >= c->n;
}

/* xColumn: 0 name, 1 value, 2 doc. */
static int stats_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct stats_cursor *c = (const struct stats_cursor *)cur;
	const struct stat_row *r = &c->rows[c->i];

	switch (col) {
	case 0:
		sqlite3_result_text(ctx, r->name, -1, SQLITE_TRANSIENT);
		break;
	case 1:
		sqlite3_result_int64(ctx, r->value);
		break;
	default:
		sqlite3_result_text(ctx, r->doc, -1, SQLITE_TRANSIENT);
		break;
	}
	return SQLITE_OK;
}

/* xRowid: the position in the snapshot, from 1. */
static int stats_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = ((const struct stats_cursor *)cur)->i + 1;
	return SQLITE_OK;
}

static const sqlite3_module stats_module = {
	.iVersion    = 0,
	.xCreate     = NULL,			/* NULL: eponymous-only */
	.xConnect    = stats_connect,		/* declares (name, value, doc) */
	.xBestIndex  = stats_best_index,	/* always a full scan */
	.xDisconnect = stats_disconnect,
	.xDestroy    = NULL,			/* eponymous-only: nothing to drop */
	.xOpen       = stats_open,
	.xClose      = stats_close,		/* frees the snapshot */
	.xFilter     = stats_filter,		/* takes the snapshot from sql_env.stats */
	.xNext       = stats_next,
	.xEof        = stats_eof,
	.xColumn     = stats_column,
	.xRowid      = stats_rowid,		/* position in the snapshot */
	.xUpdate     = NULL,			/* read-only: "may not be modified" */
};

int stats_register(sqlite3 *db, const struct sql_env *env)
{
	return sqlite3_create_module_v2(db, schema_dbos_stats.name, &stats_module,
					(void *)env, NULL);
}
