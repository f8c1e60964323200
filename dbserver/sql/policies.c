// SPDX-License-Identifier: GPL-2.0
/* policies.c - the writable policies table (one transaction = one policy version), policy_rollback(N), and what sched_rules shares. */

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
 *   is a second one over the same rules (hook 'sched'), and both share one
 *   struct pol_conn (policy_sql.h), so that a transaction over both is one
 *   version. xBegin (the first write of a transaction) refuses non-root
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

#include "dbserver/policy/policy_sql.h"
#include "dbserver/sql/sql_int.h"

/* The columns, in schema_policies' order (schema_policy.c). */
enum { COL_ID, COL_NAME, COL_HOOK, COL_ACTION, COL_CONDITION, COL_VERSION, COL_EXACTNESS,
       COL_NOTES, NCOLS };

struct rules_cursor {
	sqlite3_vtab_cursor base;	/* must be first */
	struct policy_set rows;		/* a snapshot of one table's rows */
	uint64_t version;
	size_t i;
};

void rules_result_notes(sqlite3_context *ctx, const struct policy_row *r)
{
	char *notes = policy_notes(r->hook, r->condition);

	if (notes)
		sqlite3_result_text(ctx, notes, -1, free);
}

int rules_error(sqlite3_vtab *vt, int rc, char *msg)
{
	sqlite3_free(vt->zErrMsg);
	vt->zErrMsg = msg;
	return msg ? rc : SQLITE_NOMEM;
}

int rules_connect(sqlite3 *db, void *aux, const struct schema_table *t, bool sched,
		  sqlite3_vtab **out)
{
	struct rules_vtab *vt;
	char *decl = sql_create_table(t, 0);
	int rc;

	if (!decl)
		return SQLITE_NOMEM;
	rc = sqlite3_declare_vtab(db, decl);
	sqlite3_free(decl);
	if (rc != SQLITE_OK)
		return rc;
	vt = sqlite3_malloc(sizeof(*vt));
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof(*vt));
	vt->c = aux;
	vt->sched = sched;
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

void rules_conn_unref(void *aux)
{
	struct pol_conn *c = aux;

	if (--c->refs > 0)
		return;
	conn_reset(c);
	free(c->sp);
	sqlite3_free(c);
}

int rules_disconnect(sqlite3_vtab *pvt)
{
	sqlite3_free(pvt);
	return SQLITE_OK;
}

int rules_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	info->idxNum = 0;
	info->estimatedCost = 100;
	info->estimatedRows = 100;
	return SQLITE_OK;
}

int rules_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	struct rules_cursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

int rules_close(sqlite3_vtab_cursor *cur)
{
	policy_set_free(&((struct rules_cursor *)cur)->rows);
	sqlite3_free(cur);
	return SQLITE_OK;
}

/* xFilter: a snapshot of the table's rows in the transaction's copy, or in the live rules. */
int rules_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
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
			rules_error(&vt->base, SQLITE_ERROR, sqlite3_mprintf("%s: %s", vt->sched ?
				    "sched_rules" : "policies", err ? err : "out of memory"));
			free(err);
			return SQLITE_ERROR;
		}
	}
	if (rc)
		return SQLITE_NOMEM;
	for (size_t i = c->rows.n; i-- > 0;)
		if (policy_row_is_sched(&c->rows.rows[i]) != vt->sched)
			policy_set_remove(&c->rows, i);
	return SQLITE_OK;
}

int rules_next(sqlite3_vtab_cursor *cur)
{
	((struct rules_cursor *)cur)->i++;
	return SQLITE_OK;
}

int rules_eof(sqlite3_vtab_cursor *cur)
{
	const struct rules_cursor *c = (const struct rules_cursor *)cur;

	return c->i >= c->rows.n;
}

const struct policy_row *rules_cursor_row(sqlite3_vtab_cursor *cur)
{
	const struct rules_cursor *c = (const struct rules_cursor *)cur;

	return &c->rows.rows[c->i];
}

int rules_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = rules_cursor_row(cur)->id;
	return SQLITE_OK;
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

int rules_row_id(struct rules_vtab *vt, sqlite3_value *idcol, sqlite3_value *rowid,
		 const char *table, int64_t *id)
{
	const struct policy_set *s = &vt->c->copy;
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

int rules_version_unchanged(struct rules_vtab *vt, long old, sqlite3_value *version,
			    const char *table)
{
	bool null = sqlite3_value_type(version) == SQLITE_NULL;
	uint64_t had = old < 0 ? 0 : vt->c->copy.rows[old].changed;

	if (old < 0 ? !null : (null ? had != 0 : (uint64_t)sqlite3_value_int64(version) != had))
		return rules_error(&vt->base, SQLITE_CONSTRAINT, sqlite3_mprintf(
			"%s.version is read-only: the server sets it", table));
	return SQLITE_OK;
}

int rules_unique(struct rules_vtab *vt, long old, int64_t id, const char *name,
		 const char *table)
{
	const struct policy_set *s = &vt->c->copy;

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

int rules_stage(struct rules_vtab *vt, long old, const struct policy_rule *rule,
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

int rules_begin(sqlite3_vtab *pvt, const char *denied)
{
	struct pol_conn *c = ((struct rules_vtab *)pvt)->c;
	char *err = NULL;

	if (c->who.uid != 0) {
		policy_refused(c->p, &c->who);
		return rules_error(pvt, SQLITE_AUTH, sqlite3_mprintf("%s", denied));
	}
	if (c->in_txn)		/* the other table began this transaction */
		return SQLITE_OK;
	policy_set_free(&c->copy);
	if (policy_live_rules(c->p, &c->copy, &c->base_version, &err)) {
		rules_error(pvt, SQLITE_ERROR, sqlite3_mprintf("policies: %s", err));
		free(err);
		return SQLITE_ERROR;
	}
	c->in_txn = true;
	c->dirty = false;
	return SQLITE_OK;
}

/* xSync: the commit of the policy version (once for both tables); its error is the COMMIT's. */
int rules_sync(sqlite3_vtab *pvt)
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

int rules_savepoint(sqlite3_vtab *pvt, int i)
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

int rules_release(sqlite3_vtab *pvt, int i)
{
	drop_savepoints(((struct rules_vtab *)pvt)->c, i);
	return SQLITE_OK;
}

int rules_rollback_to(sqlite3_vtab *pvt, int i)
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

int rules_end(sqlite3_vtab *pvt)
{
	conn_reset(((struct rules_vtab *)pvt)->c);
	return SQLITE_OK;
}

/* ---- policies ---- */

static int pol_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
		       sqlite3_vtab **out, char **errp)
{
	return rules_connect(db, aux, &schema_policies, false, out);
}

static int pol_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct policy_row *r = rules_cursor_row(cur);

	switch (col) {
	case COL_ID: sqlite3_result_int64(ctx, r->id); break;
	case COL_NAME: rules_result_str(ctx, r->name); break;
	case COL_HOOK: rules_result_str(ctx, r->hook); break;
	case COL_ACTION: rules_result_str(ctx, r->action); break;
	case COL_CONDITION: rules_result_str(ctx, r->condition); break;
	case COL_EXACTNESS: rules_result_str(ctx, policy_exactness(r->hook, r->condition)); break;
	case COL_NOTES: rules_result_notes(ctx, r); break;
	default:	/* 0: changed in this transaction, not committed yet */
		if (r->changed)
			sqlite3_result_int64(ctx, (sqlite3_int64)r->changed);
		else
			sqlite3_result_null(ctx);
	}
	return SQLITE_OK;
}

/* xUpdate: DELETE (argc 1), INSERT (argv[0] NULL) or UPDATE, on the transaction's copy. */
static int pol_update(sqlite3_vtab *pvt, int argc, sqlite3_value **argv, sqlite3_int64 *rowid)
{
	struct rules_vtab *vt = (struct rules_vtab *)pvt;
	struct policy_set *copy = &vt->c->copy;
	struct policy_row row = { 0 };
	struct policy_rule rule;
	char defname[32];
	long old = -1;
	int rc;

	if (!vt->c->in_txn)
		return rules_error(pvt, SQLITE_ERROR, sqlite3_mprintf("policies: no transaction"));
	if (sqlite3_value_type(argv[0]) != SQLITE_NULL) {
		old = policy_set_find(copy, sqlite3_value_int64(argv[0]));
		if (old < 0 || policy_row_is_sched(&copy->rows[old]))
			return SQLITE_OK;	/* nothing to change */
	}
	if (argc == 1) {
		policy_set_remove(copy, (size_t)old);
		vt->c->dirty = true;
		return SQLITE_OK;
	}
	rc = rules_row_id(vt, argv[2 + COL_ID], argv[1], "policies", &row.id);
	if (rc == SQLITE_OK)
		rc = rules_version_unchanged(vt, old, argv[2 + COL_VERSION], "policies");
	if (rc != SQLITE_OK)
		return rc;
	row.name = (char *)rules_text_arg(argv[2 + COL_NAME]);
	row.hook = (char *)rules_text_arg(argv[2 + COL_HOOK]);
	row.action = (char *)rules_text_arg(argv[2 + COL_ACTION]);
	row.condition = (char *)rules_text_arg(argv[2 + COL_CONDITION]);
	if (!row.name || !row.name[0]) {
		snprintf(defname, sizeof(defname), "rule-%lld", (long long)row.id);
		row.name = defname;
	}
	rc = rules_unique(vt, old, row.id, row.name, "policies");
	if (rc != SQLITE_OK)
		return rc;
	if (row.hook && !strcmp(row.hook, "sched"))
		return rules_error(pvt, SQLITE_CONSTRAINT, sqlite3_mprintf(
			"rule '%s': scheduling rules go into sched_rules, not policies", row.name));
	if (!row.hook || policy_hook_parse(row.hook) < 0)
		return rules_error(pvt, SQLITE_CONSTRAINT, sqlite3_mprintf(
			"rule '%s': hook must be exec, open, connect, bind or kill, not '%s'",
			row.name, row.hook ? row.hook : "NULL"));
	if (!row.action || policy_action_parse(row.action) < 0 ||
	    policy_action_parse(row.action) == POLICY_SET)
		return rules_error(pvt, SQLITE_CONSTRAINT, sqlite3_mprintf(
			"rule '%s': action must be deny, audit or allow, not '%s'",
			row.name, row.action ? row.action : "NULL"));
	rule = (struct policy_rule){ row.id, row.name, row.hook, row.action, row.condition };
	return rules_stage(vt, old, &rule, &row, rowid);
}

static int pol_begin(sqlite3_vtab *pvt)
{
	return rules_begin(pvt, "permission denied: only root may change policy");
}

static const sqlite3_module pol_module = {
	.iVersion    = 2,
	.xConnect    = pol_connect,		/* eponymous-only: xCreate NULL */
	.xBestIndex  = rules_best_index,	/* a full scan of a few rows */
	.xDisconnect = rules_disconnect,
	.xOpen       = rules_open,
	.xClose      = rules_close,
	.xFilter     = rules_filter,		/* snapshot: the copy or the live rules */
	.xNext       = rules_next,
	.xEof        = rules_eof,
	.xColumn     = pol_column,
	.xRowid      = rules_rowid,		/* the id */
	.xUpdate     = pol_update,		/* edits the transaction's copy */
	.xBegin      = pol_begin,		/* root only; copies the live rules */
	.xSync       = rules_sync,		/* commits the version */
	.xCommit     = rules_end,
	.xRollback   = rules_end,
	.xSavepoint  = rules_savepoint,		/* a copy per level */
	.xRelease    = rules_release,
	.xRollbackTo = rules_rollback_to,
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
	int rc;

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	c->p = env->extend_arg;
	c->who = *who;
	/* The modules own @c (one reference each, dropped when @db closes); the function borrows it. */
	c->refs = 2;
	rc = sqlite3_create_module_v2(db, schema_policies.name, &pol_module, c, rules_conn_unref);
	if (rc != SQLITE_OK) {		/* SQLite dropped that module's reference */
		rules_conn_unref(c);
		return rc;
	}
	rc = sched_rules_register(db, c);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, schema_fn_policy_rollback.name, 1,
						SQLITE_UTF8 | SQLITE_DIRECTONLY, c,
						rollback_fn, NULL, NULL, NULL);
	return rc;
}
