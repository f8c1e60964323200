// SPDX-License-Identifier: GPL-2.0
/* simulate.c - policy_simulate(hook, condition): the recorded events a candidate rule would have matched. */

/*
 * USAGE
 *
 *   SELECT pid, name, path FROM policy_simulate('exec', 'path GLOB ''/tmp/x*''');
 *   SELECT count(*) FROM policy_simulate('connect', 'remote_port = 4444');
 *   SELECT pid, name FROM policy_simulate('sched', 'uid = 1000');  -- live processes a sched rule matches now
 *
 * HOW IT WORKS
 *
 *   An eponymous table-valued virtual table whose columns are the union of
 *   every hook's context columns (plus seq and time); a hook's row leaves
 *   the others NULL. xFilter prepares, on the same connection,
 *
 *     SELECT * FROM policy_context_<hook> WHERE (<condition>)
 *
 *   and maps the view's columns onto its own by name, so the views in
 *   sql/schema_policy.c are the one definition of each hook's context. Bad SQL
 *   gets SQLite's message; only one expression is accepted (no trailing
 *   statement) and the statement must be read-only.
 */
#include <string.h>

#include "dbserver/policy/tables.h"
#include "dbserver/sql/schema.h"

/* The columns are schema_policy_simulate's (sql/schema_policy.c): the result columns, then the two arguments. */
#define SIM_NCOLS	(schema_policy_simulate.ncols - 2)
#define SIM_HOOK	SIM_NCOLS		/* hidden argument columns */
#define SIM_COND	(SIM_NCOLS + 1)
#define SIM_MAXCOLS	32

static const char *const sim_hooks[] = { "exec", "open", "connect", "bind", "kill", "sched" };

struct sim_vtab {
	sqlite3_vtab base;		/* must be first */
	sqlite3 *db;
};

struct sim_cursor {
	sqlite3_vtab_cursor base;	/* must be first */
	sqlite3_stmt *stmt;
	int map[SIM_MAXCOLS];		/* column of @stmt, or -1 */
	char *hook, *cond;
	int eof;
	sqlite3_int64 row;
};

static int sim_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
		       sqlite3_vtab **out, char **errp)
{
	struct sim_vtab *vt;
	int rc;

	if (SIM_NCOLS > SIM_MAXCOLS)
		return SQLITE_INTERNAL;
	rc = sql_declare_table(db, &schema_policy_simulate);
	if (rc != SQLITE_OK)
		return rc;
	vt = sqlite3_malloc(sizeof(*vt));
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof(*vt));
	vt->db = db;
	*out = &vt->base;
	return SQLITE_OK;
}

static int sim_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

/* xBestIndex: hook = ? and condition = ? become argv[0] and argv[1] (idxNum bits 1, 2). */
static int sim_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	int have = 0;

	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *c = &info->aConstraint[i];
		int bit = c->iColumn == SIM_HOOK ? 1 : c->iColumn == SIM_COND ? 2 : 0;

		if (!bit || c->op != SQLITE_INDEX_CONSTRAINT_EQ)
			continue;
		if (!c->usable)
			return SQLITE_CONSTRAINT;
		info->aConstraintUsage[i].argvIndex = bit;
		info->aConstraintUsage[i].omit = 1;
		have |= bit;
	}
	info->idxNum = have;
	info->estimatedCost = 100000;
	return SQLITE_OK;
}

static int sim_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	struct sim_cursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static void sim_reset(struct sim_cursor *c)
{
	sqlite3_finalize(c->stmt);
	sqlite3_free(c->hook);
	sqlite3_free(c->cond);
	c->stmt = NULL;
	c->hook = c->cond = NULL;
}

static int sim_close(sqlite3_vtab_cursor *cur)
{
	sim_reset((struct sim_cursor *)cur);
	sqlite3_free(cur);
	return SQLITE_OK;
}

static int sim_error(struct sim_cursor *c, char *msg)
{
	sqlite3_free(c->base.pVtab->zErrMsg);
	c->base.pVtab->zErrMsg = msg;
	return SQLITE_ERROR;
}

static int sim_step(struct sim_cursor *c)
{
	int rc = sqlite3_step(c->stmt);

	if (rc == SQLITE_ROW) {
		c->row++;
		return SQLITE_OK;
	}
	c->eof = 1;
	if (rc == SQLITE_DONE)
		return SQLITE_OK;
	return sim_error(c, sqlite3_mprintf("policy_simulate: %s",
					    sql_errmsg(sqlite3_db_handle(c->stmt))));
}

static int sim_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr,
		      int argc, sqlite3_value **argv)
{
	struct sim_cursor *c = (struct sim_cursor *)cur;
	sqlite3 *db = ((struct sim_vtab *)cur->pVtab)->db;
	const char *hook, *cond, *tail;
	char *sql;
	int known = 0, rc;

	sim_reset(c);
	c->eof = 1;
	c->row = 0;
	if (idx != 3)
		return sim_error(c, sqlite3_mprintf(
			"policy_simulate(hook, condition) needs both arguments"));
	hook = (const char *)sqlite3_value_text(argv[0]);
	cond = (const char *)sqlite3_value_text(argv[1]);
	for (size_t i = 0; hook && i < sizeof(sim_hooks) / sizeof(sim_hooks[0]); i++)
		known |= !strcmp(hook, sim_hooks[i]);
	if (!known)
		return sim_error(c, sqlite3_mprintf(
			"policy_simulate: unknown hook '%s' (want exec, open, connect, bind, kill or sched)",
			hook ? hook : "NULL"));
	c->hook = sqlite3_mprintf("%s", hook);
	c->cond = cond ? sqlite3_mprintf("%s", cond) : NULL;
	sql = sqlite3_mprintf("SELECT * FROM policy_context_%s WHERE (%s\n)", hook,
			      cond && cond[strspn(cond, " \t\r\n")] ? cond : "1");
	if (!sql || !c->hook)
		return SQLITE_NOMEM;
	rc = sqlite3_prepare_v2(db, sql, -1, &c->stmt, &tail);
	if (rc != SQLITE_OK) {
		sqlite3_free(sql);
		return sim_error(c, sqlite3_mprintf("policy_simulate: %s", sql_errmsg(db)));
	}
	rc = tail[strspn(tail, " \t\r\n;")] || !sqlite3_stmt_readonly(c->stmt);
	sqlite3_free(sql);
	if (rc)
		return sim_error(c, sqlite3_mprintf(
			"policy_simulate: the condition must be one SQL expression"));
	for (int i = 0; i < SIM_NCOLS; i++) {
		c->map[i] = -1;
		for (int j = 0; j < sqlite3_column_count(c->stmt); j++)
			if (!strcmp(sqlite3_column_name(c->stmt, j),
				    schema_policy_simulate.cols[i].name))
				c->map[i] = j;
	}
	c->eof = 0;
	return sim_step(c);
}

static int sim_next(sqlite3_vtab_cursor *cur)
{
	return sim_step((struct sim_cursor *)cur);
}

static int sim_eof(sqlite3_vtab_cursor *cur)
{
	return ((struct sim_cursor *)cur)->eof;
}

static int sim_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	struct sim_cursor *c = (struct sim_cursor *)cur;

	if (col == SIM_HOOK)
		sqlite3_result_text(ctx, c->hook, -1, SQLITE_TRANSIENT);
	else if (col == SIM_COND && c->cond)
		sqlite3_result_text(ctx, c->cond, -1, SQLITE_TRANSIENT);
	else if (col < SIM_NCOLS && c->map[col] >= 0)
		sqlite3_result_value(ctx, sqlite3_column_value(c->stmt, c->map[col]));
	else
		sqlite3_result_null(ctx);
	return SQLITE_OK;
}

static int sim_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = ((struct sim_cursor *)cur)->row;
	return SQLITE_OK;
}

static const sqlite3_module sim_module = {
	.iVersion    = 0,
	.xConnect    = sim_connect,		/* eponymous-only: xCreate NULL */
	.xBestIndex  = sim_best_index,		/* the two arguments */
	.xDisconnect = sim_disconnect,
	.xOpen       = sim_open,
	.xClose      = sim_close,
	.xFilter     = sim_filter,		/* prepares the view query */
	.xNext       = sim_next,
	.xEof        = sim_eof,
	.xColumn     = sim_column,
	.xRowid      = sim_rowid,
};

int policy_simulate_register(sqlite3 *db)
{
	return sqlite3_create_module_v2(db, schema_policy_simulate.name, &sim_module, NULL, NULL);
}
