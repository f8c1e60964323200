// SPDX-License-Identifier: GPL-2.0
/* tables.c - the writable policy tables' one module (one transaction = one policy version), the policies table, policy_rollback(N). */

/*
 * USAGE
 *
 *   INSERT INTO policies(name, hook, action, condition)
 *     VALUES ('no-tmp-exec', 'exec', 'deny', 'path GLOB ''/tmp/x*'' AND uid <> 0');
 *   BEGIN; DELETE FROM policies WHERE name = 'a'; UPDATE policies SET ...; COMMIT;
 *   SELECT policy_rollback(3);
 *
 * HOW IT WORKS
 *
 *   An eponymous virtual table per connection; sched_rules (sched_rules.c)
 *   is a second one over the same rules (hook 'sched'). Both are this
 *   file's module: a table adds only its columns (struct rules_kind,
 *   tables.h), and both share one struct pol_conn, so that a transaction
 *   over both is one version. xBegin (the first write of a transaction) refuses non-root
 *   clients (and records the attempt), else copies the live rules and
 *   remembers their version. xUpdate checks and edits the copy (id
 *   assigned max + 1 when NULL, id and name unique across both tables, hook
 *   and action known, the condition checked by the compiler). Reads inside
 *   the transaction see the copy. xSync commits the copy through the policy
 *   manager, which fails when another version went live meanwhile; its
 *   error becomes the COMMIT's. xCommit and xRollback drop the copy. A
 *   transaction that changed nothing commits nothing.
 *
 *   Savepoints (SAVEPOINT, and the statement journal SQLite opens around a
 *   statement that may fail half-way) keep a copy of the rules per level,
 *   so a multi-row statement that fails on a later row leaves nothing
 *   behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/policy/tables.h"
#include "dbserver/sql/schema.h"

/*
 * One per connection, shared by its policies and sched_rules tables: a
 * transaction that writes both stages into one copy of the live rules and
 * commits it as one version. SQLite calls a table's xBegin when the
 * transaction first writes it, xSync/xCommit/xRollback and the savepoint
 * slots on every table it wrote: the first xBegin copies, the first xSync
 * commits (clearing @dirty), the savepoint slots are idempotent per level,
 * xCommit/xRollback drop the copy. Used by the connection's thread only.
 */
struct pol_conn {
	struct policy *p;
	struct sql_session who;
	int refs;			/* the modules registered with it */
	bool in_txn, dirty;
	struct policy_set copy;		/* the transaction's rules (both kinds) */
	uint64_t base_version;
	struct pol_savepoint {
		struct policy_set rules;
		bool dirty;
	} *sp;				/* sp[i]: the copy at savepoint i */
	int nsp, capsp;
	/* Each table's module data (sqlite3_create_module_v2's aux). */
	struct pol_table {
		struct pol_conn *c;
		const struct rules_kind *kind;
	} tables[2];
};

struct rules_vtab {
	sqlite3_vtab base;		/* must be first */
	struct pol_conn *c;
	const struct rules_kind *kind;
};

struct rules_cursor {
	sqlite3_vtab_cursor base;	/* must be first */
	struct policy_set rows;		/* a snapshot of one table's rows */
	uint64_t version;
	size_t i;
};

#define POLICY_ID_MAX	0x7fffffff	/* ids are stored as be32 */

int rules_error(sqlite3_vtab *vt, int rc, char *msg)
{
	sqlite3_free(vt->zErrMsg);
	vt->zErrMsg = msg;
	return msg ? rc : SQLITE_NOMEM;
}

void rules_result_str(sqlite3_context *ctx, const char *s)
{
	if (s)
		sqlite3_result_text(ctx, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_result_null(ctx);
}

const char *rules_text_arg(sqlite3_value *v)
{
	return sqlite3_value_type(v) == SQLITE_NULL ? NULL : (const char *)sqlite3_value_text(v);
}

static int rules_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
			 sqlite3_vtab **out, char **errp)
{
	const struct pol_table *t = aux;
	struct rules_vtab *vt;
	int rc = sql_declare_table(db, t->kind->schema);

	if (rc != SQLITE_OK)
		return rc;
	vt = sqlite3_malloc(sizeof(*vt));
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof(*vt));
	vt->c = t->c;
	vt->kind = t->kind;
	*out = &vt->base;
	return SQLITE_OK;
}

/* Forgets savepoints @i and above. */
static void drop_savepoints(struct pol_conn *c, int i)
{
	while (c->nsp > i && c->nsp > 0)
		policy_set_free(&c->sp[--c->nsp].rules);
}

static void conn_reset(struct pol_conn *c)
{
	drop_savepoints(c, 0);
	policy_set_free(&c->copy);
	c->in_txn = c->dirty = false;
}

/* Module destructor: drops one table's reference to its struct pol_conn. */
static void conn_unref(void *aux)
{
	struct pol_conn *c = ((struct pol_table *)aux)->c;

	if (--c->refs > 0)
		return;
	conn_reset(c);
	free(c->sp);
	sqlite3_free(c);
}

static int rules_disconnect(sqlite3_vtab *pvt)
{
	sqlite3_free(pvt);
	return SQLITE_OK;
}

static int rules_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	info->idxNum = 0;
	info->estimatedCost = 100;
	info->estimatedRows = 100;
	return SQLITE_OK;
}

static int rules_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	struct rules_cursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static int rules_close(sqlite3_vtab_cursor *cur)
{
	policy_set_free(&((struct rules_cursor *)cur)->rows);
	sqlite3_free(cur);
	return SQLITE_OK;
}

/* xFilter: a snapshot of the table's rows in the transaction's copy, or in the live rules. */
static int rules_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
			sqlite3_value **argv)
{
	struct rules_cursor *c = (struct rules_cursor *)cur;
	struct rules_vtab *vt = (struct rules_vtab *)cur->pVtab;
	char *err = NULL;
	int rc;

	policy_set_free(&c->rows);
	c->i = 0;
	if (vt->c->in_txn) {
		rc = policy_set_copy(&c->rows, &vt->c->copy);
	} else {
		rc = policy_live_rules(vt->c->p, &c->rows, &c->version, &err);
		if (rc) {
			rules_error(&vt->base, SQLITE_ERROR, sqlite3_mprintf("%s: %s",
				    vt->kind->schema->name, err ? err : "out of memory"));
			free(err);
			return SQLITE_ERROR;
		}
	}
	if (rc)
		return SQLITE_NOMEM;
	for (size_t i = c->rows.n; i-- > 0;)
		if (policy_row_is_sched(&c->rows.rows[i]) != vt->kind->sched)
			policy_set_remove(&c->rows, i);
	return SQLITE_OK;
}

static int rules_next(sqlite3_vtab_cursor *cur)
{
	((struct rules_cursor *)cur)->i++;
	return SQLITE_OK;
}

static int rules_eof(sqlite3_vtab_cursor *cur)
{
	const struct rules_cursor *c = (const struct rules_cursor *)cur;

	return c->i >= c->rows.n;
}

static const struct policy_row *cursor_row(sqlite3_vtab_cursor *cur)
{
	const struct rules_cursor *c = (const struct rules_cursor *)cur;

	return &c->rows.rows[c->i];
}

static int rules_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = cursor_row(cur)->id;
	return SQLITE_OK;
}

/* xColumn: the columns every policy table has, else the table's own (kind->column). */
static int rules_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct rules_kind *k = ((struct rules_vtab *)cur->pVtab)->kind;
	const struct policy_row *r = cursor_row(cur);
	char *notes;

	if (col == k->col_id) {
		sqlite3_result_int64(ctx, r->id);
	} else if (col == k->col_name) {
		rules_result_str(ctx, r->name);
	} else if (col == k->col_condition) {
		rules_result_str(ctx, r->condition);
	} else if (col == k->col_version) {
		if (r->changed)		/* 0: changed in this transaction, not committed yet */
			sqlite3_result_int64(ctx, (sqlite3_int64)r->changed);
	} else if (col == k->col_notes) {
		notes = policy_notes(r->hook, r->condition);
		if (notes)
			sqlite3_result_text(ctx, notes, -1, free);
	} else {
		k->column(ctx, r, col);
	}
	return SQLITE_OK;
}

/* The id of a written row: the id column, else the rowid, else max + 1 over both tables. */
static int row_id(struct rules_vtab *vt, sqlite3_value *idcol, sqlite3_value *rowid,
		  int64_t *id)
{
	const struct policy_set *s = &vt->c->copy;
	const char *table = vt->kind->schema->name;
	sqlite3_value *v = sqlite3_value_type(idcol) != SQLITE_NULL ? idcol : rowid;

	if (sqlite3_value_type(v) == SQLITE_NULL) {
		*id = s->n ? s->rows[s->n - 1].id + 1 : 1;
	} else if (sqlite3_value_numeric_type(v) == SQLITE_INTEGER) {
		*id = sqlite3_value_int64(v);
	} else {
		return rules_error(&vt->base, SQLITE_MISMATCH,
				   sqlite3_mprintf("%s.id must be an integer", table));
	}
	if (*id < 1 || *id > POLICY_ID_MAX)
		return rules_error(&vt->base, SQLITE_CONSTRAINT,
				   sqlite3_mprintf("%s.id must be 1 to %d, not %lld", table,
						   POLICY_ID_MAX, (long long)*id));
	return SQLITE_OK;
}

/* @version (the written version column) must equal row @old's (NULL for an insert). */
static int version_unchanged(struct rules_vtab *vt, long old, sqlite3_value *version)
{
	bool null = sqlite3_value_type(version) == SQLITE_NULL;
	uint64_t had = old < 0 ? 0 : vt->c->copy.rows[old].changed;

	if (old < 0 ? !null : (null ? had != 0 : (uint64_t)sqlite3_value_int64(version) != had))
		return rules_error(&vt->base, SQLITE_CONSTRAINT, sqlite3_mprintf(
			"%s.version is read-only: the server sets it", vt->kind->schema->name));
	return SQLITE_OK;
}

/* id and name unique among all rules (both tables') but @old. */
static int unique(struct rules_vtab *vt, long old, int64_t id, const char *name)
{
	const struct policy_set *s = &vt->c->copy;
	const char *table = vt->kind->schema->name;

	for (size_t i = 0; i < s->n; i++) {
		const struct policy_row *r = &s->rows[i];
		const char *where = policy_row_is_sched(r) ? "sched_rules" : "policies";

		if ((long)i == old)
			continue;
		if (r->id == id)
			return rules_error(&vt->base, SQLITE_CONSTRAINT, sqlite3_mprintf(
				"UNIQUE constraint failed: %s.id (%lld%s%s)", table, (long long)id,
				strcmp(where, table) ? " is a rule of " : "",
				strcmp(where, table) ? where : ""));
		if (!strcmp(r->name, name))
			return rules_error(&vt->base, SQLITE_CONSTRAINT, sqlite3_mprintf(
				"UNIQUE constraint failed: %s.name ('%s'%s%s)", table, name,
				strcmp(where, table) ? " is a rule of " : "",
				strcmp(where, table) ? where : ""));
	}
	return SQLITE_OK;
}

/* Whether @name is one of the fleet's rules, which only the fleet changes (the error set). */
static bool fleet_rule(sqlite3_vtab *vt, const char *name)
{
	if (strncmp(name, POLICY_FLEET_PREFIX, sizeof(POLICY_FLEET_PREFIX) - 1))
		return false;
	rules_error(vt, SQLITE_ERROR, sqlite3_mprintf("rule '%s' is the fleet's: change it in "
		    "fleet_policies (dbos --fleet), names starting with '%s' are the fleet's",
		    name, POLICY_FLEET_PREFIX));
	return true;
}

/* Checks @rule (policy_check) and puts @row in place of row @old (-1: none). */
static int stage(struct rules_vtab *vt, long old, const struct policy_rule *rule,
		 const struct policy_row *row, sqlite3_int64 *rowid)
{
	char *err = NULL;
	int rc;

	if (policy_check(vt->c->p, rule, &err)) {
		rc = rules_error(&vt->base, SQLITE_ERROR,
				 sqlite3_mprintf("%s", err ? err : "invalid rule"));
		free(err);
		return rc;
	}
	if (old >= 0)
		policy_set_remove(&vt->c->copy, (size_t)old);
	if (policy_set_add_row(&vt->c->copy, row))
		return SQLITE_NOMEM;
	*rowid = row->id;
	vt->c->dirty = true;
	return SQLITE_OK;
}

/* xUpdate: DELETE (argc 1), INSERT (argv[0] NULL) or UPDATE, on the transaction's copy. */
static int rules_update(sqlite3_vtab *pvt, int argc, sqlite3_value **argv,
			sqlite3_int64 *rowid)
{
	struct rules_vtab *vt = (struct rules_vtab *)pvt;
	const struct rules_kind *k = vt->kind;
	struct policy_set *copy = &vt->c->copy;
	sqlite3_value **cols = argv + 2;
	struct rules_write w = { 0 };
	struct policy_rule rule;
	long old = -1;
	int rc;

	if (!vt->c->in_txn)
		return rules_error(pvt, SQLITE_ERROR,
				   sqlite3_mprintf("%s: no transaction", k->schema->name));
	if (sqlite3_value_type(argv[0]) != SQLITE_NULL) {
		old = policy_set_find(copy, sqlite3_value_int64(argv[0]));
		if (old < 0 || policy_row_is_sched(&copy->rows[old]) != k->sched)
			return SQLITE_OK;	/* nothing to change */
	}
	if (old >= 0 && fleet_rule(pvt, copy->rows[old].name))
		return SQLITE_ERROR;
	if (argc == 1) {
		policy_set_remove(copy, (size_t)old);
		vt->c->dirty = true;
		return SQLITE_OK;
	}
	rc = row_id(vt, cols[k->col_id], argv[1], &w.row.id);
	if (rc == SQLITE_OK)
		rc = version_unchanged(vt, old, cols[k->col_version]);
	if (rc != SQLITE_OK)
		return rc;
	w.row.name = (char *)rules_text_arg(cols[k->col_name]);
	w.row.condition = (char *)rules_text_arg(cols[k->col_condition]);
	if (!w.row.name || !w.row.name[0]) {
		snprintf(w.name, sizeof(w.name), "rule-%lld", (long long)w.row.id);
		w.row.name = w.name;
	}
	if (fleet_rule(pvt, w.row.name))
		return SQLITE_ERROR;
	rc = unique(vt, old, w.row.id, w.row.name);
	if (rc == SQLITE_OK)
		rc = k->fill(pvt, cols, &w);
	if (rc != SQLITE_OK)
		return rc;
	rule = (struct policy_rule){ w.row.id, w.row.name, w.row.hook, w.row.action,
				     w.row.condition, .sched = k->sched ? &w.sched : NULL };
	return stage(vt, old, &rule, &w.row, rowid);
}

/* xBegin: a non-root client is refused (and recorded); else the first table of the transaction copies the live rules. */
static int rules_begin(sqlite3_vtab *pvt)
{
	struct rules_vtab *vt = (struct rules_vtab *)pvt;
	struct pol_conn *c = vt->c;
	char *err = NULL;

	if (c->who.uid != 0) {
		policy_refused(c->p, &c->who);
		return rules_error(pvt, SQLITE_AUTH, sqlite3_mprintf("%s", vt->kind->denied));
	}
	if (c->in_txn)		/* the other table began this transaction */
		return SQLITE_OK;
	policy_set_free(&c->copy);
	if (policy_live_rules(c->p, &c->copy, &c->base_version, &err)) {
		rules_error(pvt, SQLITE_ERROR, sqlite3_mprintf("%s: %s", vt->kind->schema->name, err));
		free(err);
		return SQLITE_ERROR;
	}
	c->in_txn = true;
	c->dirty = false;
	return SQLITE_OK;
}

/* xSync: the commit of the policy version (once for both tables); its error is the COMMIT's. */
static int rules_sync(sqlite3_vtab *pvt)
{
	struct pol_conn *c = ((struct rules_vtab *)pvt)->c;
	uint64_t version;
	char *err = NULL;
	int rc;

	if (!c->in_txn || !c->dirty)
		return SQLITE_OK;
	if (policy_commit(c->p, &c->copy, c->base_version, &c->who, &version, &err)) {
		rc = rules_error(pvt, SQLITE_ERROR, sqlite3_mprintf("%s", err ? err : "commit failed"));
		free(err);
		return rc;
	}
	c->dirty = false;
	return SQLITE_OK;
}

static int rules_savepoint(sqlite3_vtab *pvt, int i)
{
	struct pol_conn *c = ((struct rules_vtab *)pvt)->c;

	if (!c->in_txn || i < 0)
		return SQLITE_OK;
	drop_savepoints(c, i);
	if (i >= c->capsp) {
		int cap = i + 8;
		struct pol_savepoint *n = realloc(c->sp, cap * sizeof(*n));

		if (!n)
			return SQLITE_NOMEM;
		c->sp = n;
		c->capsp = cap;
	}
	/* Levels skipped (savepoints taken before the table joined) hold the same copy. */
	while (c->nsp <= i) {
		struct pol_savepoint *s = &c->sp[c->nsp];

		if (policy_set_copy(&s->rules, &c->copy))
			return SQLITE_NOMEM;
		s->dirty = c->dirty;
		c->nsp++;
	}
	return SQLITE_OK;
}

static int rules_release(sqlite3_vtab *pvt, int i)
{
	drop_savepoints(((struct rules_vtab *)pvt)->c, i);
	return SQLITE_OK;
}

static int rules_rollback_to(sqlite3_vtab *pvt, int i)
{
	struct pol_conn *c = ((struct rules_vtab *)pvt)->c;
	struct policy_set back;

	if (!c->in_txn || i < 0 || i >= c->nsp)
		return SQLITE_OK;
	if (policy_set_copy(&back, &c->sp[i].rules))
		return SQLITE_NOMEM;
	policy_set_free(&c->copy);
	c->copy = back;
	c->dirty = c->sp[i].dirty;
	drop_savepoints(c, i + 1);	/* savepoint i itself stays */
	return SQLITE_OK;
}

static int rules_end(sqlite3_vtab *pvt)
{
	conn_reset(((struct rules_vtab *)pvt)->c);
	return SQLITE_OK;
}

/* Both policy tables' module; the table's kind comes with its aux (struct pol_table). */
static const sqlite3_module rules_module = {
	.iVersion    = 2,
	.xConnect    = rules_connect,		/* eponymous-only: xCreate NULL */
	.xBestIndex  = rules_best_index,	/* a full scan of a few rows */
	.xDisconnect = rules_disconnect,
	.xOpen       = rules_open,
	.xClose      = rules_close,
	.xFilter     = rules_filter,		/* snapshot: the copy or the live rules */
	.xNext       = rules_next,
	.xEof        = rules_eof,
	.xColumn     = rules_column,
	.xRowid      = rules_rowid,		/* the id */
	.xUpdate     = rules_update,		/* edits the transaction's copy */
	.xBegin      = rules_begin,		/* root only; copies the live rules */
	.xSync       = rules_sync,		/* commits the version (both tables') */
	.xCommit     = rules_end,
	.xRollback   = rules_end,
	.xSavepoint  = rules_savepoint,		/* a copy per level */
	.xRelease    = rules_release,
	.xRollbackTo = rules_rollback_to,
};

/* ---- policies ---- */

/* The columns, in schema_policies' order (sql/schema_policy.c). */
enum { COL_ID, COL_NAME, COL_HOOK, COL_ACTION, COL_CONDITION, COL_VERSION, COL_EXACTNESS,
       COL_NOTES, NCOLS };

static void pol_column(sqlite3_context *ctx, const struct policy_row *r, int col)
{
	switch (col) {
	case COL_HOOK: rules_result_str(ctx, r->hook); break;
	case COL_ACTION: rules_result_str(ctx, r->action); break;
	case COL_EXACTNESS: rules_result_str(ctx, policy_exactness(r->hook, r->condition)); break;
	}
}

/* hook: a security hook; action: deny, audit or allow. */
static int pol_fill(sqlite3_vtab *pvt, sqlite3_value **cols, struct rules_write *w)
{
	struct policy_row *row = &w->row;

	row->hook = (char *)rules_text_arg(cols[COL_HOOK]);
	row->action = (char *)rules_text_arg(cols[COL_ACTION]);
	if (row->hook && !strcmp(row->hook, "sched"))
		return rules_error(pvt, SQLITE_CONSTRAINT, sqlite3_mprintf(
			"rule '%s': scheduling rules go into sched_rules, not policies", row->name));
	if (!row->hook || policy_hook_parse(row->hook) < 0)
		return rules_error(pvt, SQLITE_CONSTRAINT, sqlite3_mprintf(
			"rule '%s': hook must be exec, open, connect, bind or kill, not '%s'",
			row->name, row->hook ? row->hook : "NULL"));
	if (!row->action || policy_action_parse(row->action) < 0 ||
	    policy_action_parse(row->action) == POLICY_SET)
		return rules_error(pvt, SQLITE_CONSTRAINT, sqlite3_mprintf(
			"rule '%s': action must be deny, audit or allow, not '%s'",
			row->name, row->action ? row->action : "NULL"));
	return SQLITE_OK;
}

static const struct rules_kind policies_kind = {
	.schema = &schema_policies,
	.sched = false,
	.col_id = COL_ID, .col_name = COL_NAME, .col_condition = COL_CONDITION,
	.col_version = COL_VERSION, .col_notes = COL_NOTES,
	.denied = "permission denied: only root may change policy",
	.column = pol_column,
	.fill = pol_fill,
};

/* SELECT policy_rollback(N): the new version (security and sched rules of version N). */
static void rollback_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct pol_conn *c = sqlite3_user_data(ctx);
	uint64_t version;
	char *err = NULL;

	if (sqlite3_value_numeric_type(argv[0]) != SQLITE_INTEGER || sqlite3_value_int64(argv[0]) < 0) {
		sqlite3_result_error(ctx, "policy_rollback(N) wants a version number", -1);
		return;
	}
	if (c->who.uid != 0) {
		policy_refused(c->p, &c->who);
		sqlite3_result_error(ctx, "permission denied: only root may change policy", -1);
		sqlite3_result_error_code(ctx, SQLITE_AUTH);
		return;
	}
	if (policy_rollback(c->p, (uint64_t)sqlite3_value_int64(argv[0]), &c->who, &version, &err)) {
		sqlite3_result_error(ctx, err ? err : "policy_rollback failed", -1);
		free(err);
		return;
	}
	sqlite3_result_int64(ctx, (sqlite3_int64)version);
}

int policy_sql_register(sqlite3 *db, const struct sql_env *env, const struct sql_session *who)
{
	struct pol_conn *c = sqlite3_malloc(sizeof(*c));
	int rc = SQLITE_OK;

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	c->p = env->extend_arg;
	c->who = *who;
	c->tables[0] = (struct pol_table){ c, &policies_kind };
	c->tables[1] = (struct pol_table){ c, &sched_rules_kind };
	/* The modules own @c (one reference each, dropped when @db closes); the function borrows it. */
	c->refs = 2;
	for (int i = 0; i < 2; i++) {
		if (rc != SQLITE_OK) {		/* never registered: drop its reference */
			conn_unref(&c->tables[i]);
			continue;
		}
		/* On failure SQLite calls conn_unref itself. */
		rc = sqlite3_create_module_v2(db, c->tables[i].kind->schema->name, &rules_module,
					      &c->tables[i], conn_unref);
	}
	if (rc == SQLITE_OK)
		rc = policy_simulate_register(db);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, schema_fn_policy_rollback.name, 1,
						SQLITE_UTF8 | SQLITE_DIRECTONLY, c,
						rollback_fn, NULL, NULL, NULL);
	return rc;
}
