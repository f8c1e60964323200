// SPDX-License-Identifier: GPL-2.0
/* policies.c - the writable policies table (one transaction = one policy version) and policy_rollback(N). */

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
 *   An eponymous virtual table per connection. xBegin (the first write of a
 *   transaction) refuses non-root clients (and records the attempt), else
 *   copies the live rules and remembers their version. xUpdate checks and
 *   edits the copy (id assigned max + 1 when NULL, name unique, hook and
 *   action known, the condition checked by the compiler). Reads inside the
 *   transaction see the copy. xSync commits the copy through the policy
 *   manager, which fails when another version went live meanwhile; its
 *   error becomes the COMMIT's. xCommit and xRollback drop the copy. A
 *   transaction that changed nothing commits nothing.
 *
 *   Savepoints (SAVEPOINT, and the statement journal SQLite opens around a
 *   statement that may fail half-way) keep a copy of the rules per level,
 *   so a multi-row statement that fails on a later row leaves nothing
 *   behind.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/policy/policy.h"
#include "dbserver/sql/sql_int.h"

enum { COL_ID, COL_NAME, COL_HOOK, COL_ACTION, COL_CONDITION, COL_VERSION, NCOLS };

#define POLICY_ID_MAX	0x7fffffff	/* ids are stored as be32 */

struct pol_aux {
	struct policy *p;
	struct sql_session who;
};

struct pol_vtab {
	sqlite3_vtab base;		/* must be first */
	const struct pol_aux *aux;
	bool in_txn, dirty;
	struct policy_set copy;		/* the transaction's rules */
	uint64_t base_version;
	struct pol_savepoint {
		struct policy_set rules;
		bool dirty;
	} *sp;				/* sp[i]: the copy at savepoint i */
	int nsp, capsp;
};

struct pol_cursor {
	sqlite3_vtab_cursor base;	/* must be first */
	struct policy_set rows;		/* a snapshot */
	uint64_t version;
	size_t i;
};

static int pol_error(sqlite3_vtab *vt, int rc, char *msg)
{
	sqlite3_free(vt->zErrMsg);
	vt->zErrMsg = msg;
	return msg ? rc : SQLITE_NOMEM;
}

static int pol_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
		       sqlite3_vtab **out, char **errp)
{
	struct pol_vtab *vt;
	int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(id INTEGER, name TEXT, hook TEXT, "
				      "action TEXT, condition TEXT, version INTEGER)");

	if (rc != SQLITE_OK)
		return rc;
	vt = sqlite3_malloc(sizeof(*vt));
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof(*vt));
	vt->aux = aux;
	*out = &vt->base;
	return SQLITE_OK;
}

/* Forgets savepoints @i and above. */
static void drop_savepoints(struct pol_vtab *vt, int i)
{
	while (vt->nsp > i && vt->nsp > 0)
		policy_set_free(&vt->sp[--vt->nsp].rules);
}

static int pol_disconnect(sqlite3_vtab *pvt)
{
	struct pol_vtab *vt = (struct pol_vtab *)pvt;

	drop_savepoints(vt, 0);
	free(vt->sp);
	policy_set_free(&vt->copy);
	sqlite3_free(vt);
	return SQLITE_OK;
}

static int pol_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	info->idxNum = 0;
	info->estimatedCost = 100;
	info->estimatedRows = 100;
	return SQLITE_OK;
}

static int pol_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	struct pol_cursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static int pol_close(sqlite3_vtab_cursor *cur)
{
	policy_set_free(&((struct pol_cursor *)cur)->rows);
	sqlite3_free(cur);
	return SQLITE_OK;
}

/* xFilter: a snapshot of the transaction's copy, or of the live rules. */
static int pol_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr,
		      int argc, sqlite3_value **argv)
{
	struct pol_cursor *c = (struct pol_cursor *)cur;
	struct pol_vtab *vt = (struct pol_vtab *)cur->pVtab;
	char *err = NULL;

	policy_set_free(&c->rows);
	c->i = 0;
	if (vt->in_txn)
		return policy_set_copy(&c->rows, &vt->copy) ? SQLITE_NOMEM : SQLITE_OK;
	if (policy_live_rules(vt->aux->p, &c->rows, &c->version, &err)) {
		pol_error(&vt->base, SQLITE_ERROR, sqlite3_mprintf("policies: %s", err));
		free(err);
		return SQLITE_ERROR;
	}
	return SQLITE_OK;
}

static int pol_next(sqlite3_vtab_cursor *cur)
{
	((struct pol_cursor *)cur)->i++;
	return SQLITE_OK;
}

static int pol_eof(sqlite3_vtab_cursor *cur)
{
	const struct pol_cursor *c = (const struct pol_cursor *)cur;

	return c->i >= c->rows.n;
}

static void result_str(sqlite3_context *ctx, const char *s)
{
	if (s)
		sqlite3_result_text(ctx, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_result_null(ctx);
}

static int pol_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct pol_cursor *c = (const struct pol_cursor *)cur;
	const struct policy_row *r = &c->rows.rows[c->i];

	switch (col) {
	case COL_ID: sqlite3_result_int64(ctx, r->id); break;
	case COL_NAME: result_str(ctx, r->name); break;
	case COL_HOOK: result_str(ctx, r->hook); break;
	case COL_ACTION: result_str(ctx, r->action); break;
	case COL_CONDITION: result_str(ctx, r->condition); break;
	default:	/* 0: changed in this transaction, not committed yet */
		if (r->changed)
			sqlite3_result_int64(ctx, (sqlite3_int64)r->changed);
		else
			sqlite3_result_null(ctx);
	}
	return SQLITE_OK;
}

static int pol_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	const struct pol_cursor *c = (const struct pol_cursor *)cur;

	*rowid = c->rows.rows[c->i].id;
	return SQLITE_OK;
}

static const char *text_arg(sqlite3_value *v)
{
	return sqlite3_value_type(v) == SQLITE_NULL ? NULL : (const char *)sqlite3_value_text(v);
}

/* The id of an inserted or updated row: the id column, else the new rowid, else max + 1. */
static int row_id(struct pol_vtab *vt, sqlite3_value **argv, int64_t *id)
{
	sqlite3_value *v = sqlite3_value_type(argv[2 + COL_ID]) != SQLITE_NULL ? argv[2 + COL_ID]
											: argv[1];

	if (sqlite3_value_type(v) == SQLITE_NULL) {
		*id = vt->copy.n ? vt->copy.rows[vt->copy.n - 1].id + 1 : 1;
	} else if (sqlite3_value_numeric_type(v) == SQLITE_INTEGER) {
		*id = sqlite3_value_int64(v);
	} else {
		return pol_error(&vt->base, SQLITE_MISMATCH,
				 sqlite3_mprintf("policies.id must be an integer"));
	}
	if (*id < 1 || *id > POLICY_ID_MAX)
		return pol_error(&vt->base, SQLITE_CONSTRAINT,
				 sqlite3_mprintf("policies.id must be 1 to %d, not %lld",
						 POLICY_ID_MAX, (long long)*id));
	return SQLITE_OK;
}

/* xUpdate: DELETE (argc 1), INSERT (argv[0] NULL) or UPDATE, on the transaction's copy. */
static int pol_update(sqlite3_vtab *pvt, int argc, sqlite3_value **argv, sqlite3_int64 *rowid)
{
	struct pol_vtab *vt = (struct pol_vtab *)pvt;
	long old = -1;
	int64_t id;
	const char *name, *hook, *action, *cond;
	char defname[32], *err = NULL;
	struct policy_rule rule;
	int rc;

	if (!vt->in_txn)
		return pol_error(pvt, SQLITE_ERROR, sqlite3_mprintf("policies: no transaction"));
	if (sqlite3_value_type(argv[0]) != SQLITE_NULL) {
		old = policy_set_find(&vt->copy, sqlite3_value_int64(argv[0]));
		if (old < 0)
			return SQLITE_OK;	/* nothing to change */
	}
	if (argc == 1) {
		policy_set_remove(&vt->copy, (size_t)old);
		vt->dirty = true;
		return SQLITE_OK;
	}
	rc = row_id(vt, argv, &id);
	if (rc != SQLITE_OK)
		return rc;
	if (old < 0 ? sqlite3_value_type(argv[2 + COL_VERSION]) != SQLITE_NULL
		    : (sqlite3_value_type(argv[2 + COL_VERSION]) == SQLITE_NULL
		       ? vt->copy.rows[old].changed != 0
		       : (uint64_t)sqlite3_value_int64(argv[2 + COL_VERSION]) != vt->copy.rows[old].changed))
		return pol_error(pvt, SQLITE_CONSTRAINT,
				 sqlite3_mprintf("policies.version is read-only: the server sets it"));
	name = text_arg(argv[2 + COL_NAME]);
	hook = text_arg(argv[2 + COL_HOOK]);
	action = text_arg(argv[2 + COL_ACTION]);
	cond = text_arg(argv[2 + COL_CONDITION]);
	if (!name || !name[0]) {
		snprintf(defname, sizeof(defname), "rule-%lld", (long long)id);
		name = defname;
	}
	for (size_t i = 0; i < vt->copy.n; i++) {
		if ((long)i == old)
			continue;
		if (vt->copy.rows[i].id == id)
			return pol_error(pvt, SQLITE_CONSTRAINT, sqlite3_mprintf(
				"UNIQUE constraint failed: policies.id (%lld)", (long long)id));
		if (!strcmp(vt->copy.rows[i].name, name))
			return pol_error(pvt, SQLITE_CONSTRAINT, sqlite3_mprintf(
				"UNIQUE constraint failed: policies.name ('%s')", name));
	}
	if (!hook || policy_hook_parse(hook) < 0)
		return pol_error(pvt, SQLITE_CONSTRAINT, sqlite3_mprintf(
			"rule '%s': hook must be exec, open, connect, bind or kill, not '%s'",
			name, hook ? hook : "NULL"));
	if (!action || policy_action_parse(action) < 0)
		return pol_error(pvt, SQLITE_CONSTRAINT, sqlite3_mprintf(
			"rule '%s': action must be deny, audit or allow, not '%s'",
			name, action ? action : "NULL"));
	rule = (struct policy_rule){ id, name, hook, action, cond };
	if (policy_check(vt->aux->p, &rule, &err)) {
		rc = pol_error(pvt, SQLITE_ERROR, sqlite3_mprintf("%s", err ? err : "invalid rule"));
		free(err);
		return rc;
	}
	if (old >= 0)
		policy_set_remove(&vt->copy, (size_t)old);
	if (policy_set_add(&vt->copy, id, name, hook, action, cond, 0))
		return SQLITE_NOMEM;
	*rowid = id;
	vt->dirty = true;
	return SQLITE_OK;
}

/* xBegin: root only (the attempt is recorded); copies the live rules. */
static int pol_begin(sqlite3_vtab *pvt)
{
	struct pol_vtab *vt = (struct pol_vtab *)pvt;
	char *err = NULL;

	if (vt->aux->who.uid != 0) {
		policy_refused(vt->aux->p, &vt->aux->who);
		return pol_error(pvt, SQLITE_AUTH,
				 sqlite3_mprintf("permission denied: only root may change policy"));
	}
	policy_set_free(&vt->copy);
	if (policy_live_rules(vt->aux->p, &vt->copy, &vt->base_version, &err)) {
		pol_error(pvt, SQLITE_ERROR, sqlite3_mprintf("policies: %s", err));
		free(err);
		return SQLITE_ERROR;
	}
	vt->in_txn = true;
	vt->dirty = false;
	return SQLITE_OK;
}

/* xSync: the commit of the policy version; its error is the COMMIT's. */
static int pol_sync(sqlite3_vtab *pvt)
{
	struct pol_vtab *vt = (struct pol_vtab *)pvt;
	uint64_t version;
	char *err = NULL;
	int rc;

	if (!vt->in_txn || !vt->dirty)
		return SQLITE_OK;
	if (policy_commit(vt->aux->p, &vt->copy, vt->base_version, &vt->aux->who, &version, &err)) {
		rc = pol_error(pvt, SQLITE_ERROR, sqlite3_mprintf("%s", err ? err : "commit failed"));
		free(err);
		return rc;
	}
	return SQLITE_OK;
}

static int pol_savepoint(sqlite3_vtab *pvt, int i)
{
	struct pol_vtab *vt = (struct pol_vtab *)pvt;

	if (!vt->in_txn || i < 0)
		return SQLITE_OK;
	drop_savepoints(vt, i);
	if (i >= vt->capsp) {
		int cap = i + 8;
		struct pol_savepoint *n = realloc(vt->sp, cap * sizeof(*n));

		if (!n)
			return SQLITE_NOMEM;
		vt->sp = n;
		vt->capsp = cap;
	}
	/* Levels skipped (savepoints taken before the table joined) hold the same copy. */
	while (vt->nsp <= i) {
		struct pol_savepoint *s = &vt->sp[vt->nsp];

		if (policy_set_copy(&s->rules, &vt->copy))
			return SQLITE_NOMEM;
		s->dirty = vt->dirty;
		vt->nsp++;
	}
	return SQLITE_OK;
}

static int pol_release(sqlite3_vtab *pvt, int i)
{
	drop_savepoints((struct pol_vtab *)pvt, i);
	return SQLITE_OK;
}

static int pol_rollback_to(sqlite3_vtab *pvt, int i)
{
	struct pol_vtab *vt = (struct pol_vtab *)pvt;
	struct policy_set back;

	if (!vt->in_txn || i < 0 || i >= vt->nsp)
		return SQLITE_OK;
	if (policy_set_copy(&back, &vt->sp[i].rules))
		return SQLITE_NOMEM;
	policy_set_free(&vt->copy);
	vt->copy = back;
	vt->dirty = vt->sp[i].dirty;
	drop_savepoints(vt, i + 1);	/* savepoint i itself stays */
	return SQLITE_OK;
}

static int pol_end(sqlite3_vtab *pvt)
{
	struct pol_vtab *vt = (struct pol_vtab *)pvt;

	drop_savepoints(vt, 0);
	policy_set_free(&vt->copy);
	vt->in_txn = vt->dirty = false;
	return SQLITE_OK;
}

static const sqlite3_module pol_module = {
	.iVersion    = 2,
	.xConnect    = pol_connect,		/* eponymous-only: xCreate NULL */
	.xBestIndex  = pol_best_index,		/* a full scan of a few rows */
	.xDisconnect = pol_disconnect,
	.xOpen       = pol_open,
	.xClose      = pol_close,
	.xFilter     = pol_filter,		/* snapshot: the copy or the live rules */
	.xNext       = pol_next,
	.xEof        = pol_eof,
	.xColumn     = pol_column,
	.xRowid      = pol_rowid,		/* the id */
	.xUpdate     = pol_update,		/* edits the transaction's copy */
	.xBegin      = pol_begin,		/* root only; copies the live rules */
	.xSync       = pol_sync,		/* commits the version */
	.xCommit     = pol_end,
	.xRollback   = pol_end,
	.xSavepoint  = pol_savepoint,		/* a copy per level */
	.xRelease    = pol_release,
	.xRollbackTo = pol_rollback_to,
};

/* SELECT policy_rollback(N): the new version. */
static void rollback_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct pol_aux *aux = sqlite3_user_data(ctx);
	uint64_t version;
	char *err = NULL;

	if (sqlite3_value_numeric_type(argv[0]) != SQLITE_INTEGER || sqlite3_value_int64(argv[0]) < 0) {
		sqlite3_result_error(ctx, "policy_rollback(N) wants a version number", -1);
		return;
	}
	if (aux->who.uid != 0) {
		policy_refused(aux->p, &aux->who);
		sqlite3_result_error(ctx, "permission denied: only root may change policy", -1);
		sqlite3_result_error_code(ctx, SQLITE_AUTH);
		return;
	}
	if (policy_rollback(aux->p, (uint64_t)sqlite3_value_int64(argv[0]), &aux->who, &version, &err)) {
		sqlite3_result_error(ctx, err ? err : "policy_rollback failed", -1);
		free(err);
		return;
	}
	sqlite3_result_int64(ctx, (sqlite3_int64)version);
}

int policy_sql_register(sqlite3 *db, const struct sql_env *env, const struct sql_session *who)
{
	struct pol_aux *aux = sqlite3_malloc(sizeof(*aux));
	int rc;

	if (!aux)
		return SQLITE_NOMEM;
	aux->p = env->extend_arg;
	aux->who = *who;
	/* The module owns @aux (freed when @db closes); the function borrows it. */
	rc = sqlite3_create_module_v2(db, "policies", &pol_module, aux, sqlite3_free);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "policy_rollback", 1,
						SQLITE_UTF8 | SQLITE_DIRECTONLY, aux,
						rollback_fn, NULL, NULL, NULL);
	return rc;
}
