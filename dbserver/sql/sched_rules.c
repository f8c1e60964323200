// SPDX-License-Identifier: GPL-2.0
/* sched_rules.c - the writable sched_rules table: scheduling rules dbos.ko keeps true, versioned with policies. */

/*
 * USAGE
 *
 *   INSERT INTO sched_rules(name, condition, nice, sched_policy) VALUES
 *     ('batch-jobs', 'name IN (''make'', ''cc1'', ''ld'')', 15, 'batch');
 *   BEGIN;
 *     INSERT INTO policies(name, hook, action, condition) VALUES ('q-net', 'connect', 'deny', 'pid = 42');
 *     INSERT INTO sched_rules(name, condition, sched_policy) VALUES ('q-cpu', 'pid = 42', 'idle');
 *   COMMIT;	-- one policy version
 *
 * HOW IT WORKS
 *
 *   The rows are policy rules with hook 'sched' and action 'set' plus the
 *   values they set (policy_rules' nice, sched_policy, sched_priority, cpus
 *   columns). The table shares policies' per-connection staging and commit
 *   (policy_sql.h, policies.c): only xConnect, xColumn, xUpdate and xBegin
 *   are its own. xUpdate checks the values (policy_sched_vals) and the
 *   condition (the compiler, over policy_context_sched), and stores the
 *   policy name and CPU list in their canonical forms ('fifo', '0-3,5').
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/policy/policy_sql.h"
#include "dbserver/sched/sched.h"
#include "dbserver/sql/schema.h"

/* The columns, in schema_sched_rules' order (schema_sched.c). */
enum {
	COL_ID, COL_NAME, COL_CONDITION, COL_NICE, COL_SCHED_POLICY, COL_SCHED_PRIORITY,
	COL_CPUS, COL_VERSION, COL_NOTES, NCOLS
};

static int sr_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
		      sqlite3_vtab **out, char **errp)
{
	return rules_connect(db, aux, &schema_sched_rules, true, out);
}

static int sr_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	const struct policy_row *r = rules_cursor_row(cur);

	switch (col) {
	case COL_ID: sqlite3_result_int64(ctx, r->id); break;
	case COL_NAME: rules_result_str(ctx, r->name); break;
	case COL_CONDITION: rules_result_str(ctx, r->condition); break;
	case COL_NICE:
		if (r->has_nice)
			sqlite3_result_int(ctx, r->nice);
		break;
	case COL_SCHED_POLICY: rules_result_str(ctx, r->sched_policy); break;
	case COL_SCHED_PRIORITY:
		if (r->has_priority)
			sqlite3_result_int(ctx, r->priority);
		break;
	case COL_CPUS: rules_result_str(ctx, r->cpus); break;
	case COL_NOTES: rules_result_notes(ctx, r); break;
	default:	/* 0: changed in this transaction, not committed yet */
		if (r->changed)
			sqlite3_result_int64(ctx, (sqlite3_int64)r->changed);
	}
	return SQLITE_OK;
}

/* An integer column within [lo, hi] into *@has, *@out; else an error naming the rule. */
static int int_arg(struct rules_vtab *vt, sqlite3_value *v, const char *rule, const char *col,
		   int lo, int hi, bool *has, int32_t *out)
{
	sqlite3_int64 i;

	*has = false;
	*out = 0;
	if (sqlite3_value_type(v) == SQLITE_NULL)
		return SQLITE_OK;
	if (sqlite3_value_numeric_type(v) != SQLITE_INTEGER)
		return rules_error(&vt->base, SQLITE_MISMATCH, sqlite3_mprintf(
			"rule '%s': %s must be an integer", rule, col));
	i = sqlite3_value_int64(v);
	if (i < lo || i > hi)
		return rules_error(&vt->base, SQLITE_CONSTRAINT, sqlite3_mprintf(
			"rule '%s': %s is %d..%d, not %lld", rule, col, lo, hi, (long long)i));
	*has = true;
	*out = (int32_t)i;
	return SQLITE_OK;
}

/* xUpdate: DELETE (argc 1), INSERT (argv[0] NULL) or UPDATE, on the transaction's copy. */
static int sr_update(sqlite3_vtab *pvt, int argc, sqlite3_value **argv, sqlite3_int64 *rowid)
{
	struct rules_vtab *vt = (struct rules_vtab *)pvt;
	struct policy_set *copy = &vt->c->copy;
	struct policy_row row = { .hook = "sched", .action = "set" };
	struct policy_rule rule;
	struct sched_vals v;
	char defname[32], cpus[DBOS_CPUS_MAX * 8], *err = NULL;
	long old = -1;
	int rc;

	if (!vt->c->in_txn)
		return rules_error(pvt, SQLITE_ERROR, sqlite3_mprintf("sched_rules: no transaction"));
	if (sqlite3_value_type(argv[0]) != SQLITE_NULL) {
		old = policy_set_find(copy, sqlite3_value_int64(argv[0]));
		if (old < 0 || !policy_row_is_sched(&copy->rows[old]))
			return SQLITE_OK;	/* nothing to change */
	}
	if (argc == 1) {
		policy_set_remove(copy, (size_t)old);
		vt->c->dirty = true;
		return SQLITE_OK;
	}
	rc = rules_row_id(vt, argv[2 + COL_ID], argv[1], "sched_rules", &row.id);
	if (rc == SQLITE_OK)
		rc = rules_version_unchanged(vt, old, argv[2 + COL_VERSION], "sched_rules");
	if (rc != SQLITE_OK)
		return rc;
	row.name = (char *)rules_text_arg(argv[2 + COL_NAME]);
	row.condition = (char *)rules_text_arg(argv[2 + COL_CONDITION]);
	row.sched_policy = (char *)rules_text_arg(argv[2 + COL_SCHED_POLICY]);
	row.cpus = (char *)rules_text_arg(argv[2 + COL_CPUS]);
	if (!row.name || !row.name[0]) {
		snprintf(defname, sizeof(defname), "rule-%lld", (long long)row.id);
		row.name = defname;
	}
	rc = rules_unique(vt, old, row.id, row.name, "sched_rules");
	if (rc == SQLITE_OK)
		rc = int_arg(vt, argv[2 + COL_NICE], row.name, "nice", -20, 19, &row.has_nice,
			     &row.nice);
	if (rc == SQLITE_OK)
		rc = int_arg(vt, argv[2 + COL_SCHED_PRIORITY], row.name, "sched_priority", 0, 99,
			     &row.has_priority, &row.priority);
	if (rc != SQLITE_OK)
		return rc;
	if (policy_sched_vals(&row, &v, &err)) {
		rc = rules_error(pvt, SQLITE_CONSTRAINT, sqlite3_mprintf("%s", err ? err : "invalid"));
		free(err);
		return rc;
	}
	/* Canonical forms: as /proc and the processes table show them. */
	if (v.has_policy)
		row.sched_policy = (char *)sched_policy_name(v.policy);
	if (v.cpus_len) {
		sched_cpus_format(v.cpus, v.cpus_len, cpus, sizeof(cpus));
		row.cpus = cpus;
	}
	if (!row.has_priority || !row.priority)
		row.has_priority = false;
	rule = (struct policy_rule){ row.id, row.name, row.hook, row.action, row.condition,
				     .sched = &v };
	return rules_stage(vt, old, &rule, &row, rowid);
}

static int sr_begin(sqlite3_vtab *pvt)
{
	return rules_begin(pvt, "permission denied: only root may change scheduling");
}

static const sqlite3_module sr_module = {
	.iVersion    = 2,
	.xConnect    = sr_connect,		/* eponymous-only: xCreate NULL */
	.xBestIndex  = rules_best_index,	/* a full scan of a few rows */
	.xDisconnect = rules_disconnect,
	.xOpen       = rules_open,
	.xClose      = rules_close,
	.xFilter     = rules_filter,		/* snapshot of the hook 'sched' rows */
	.xNext       = rules_next,
	.xEof        = rules_eof,
	.xColumn     = sr_column,
	.xRowid      = rules_rowid,		/* the id */
	.xUpdate     = sr_update,		/* edits the transaction's copy */
	.xBegin      = sr_begin,		/* root only; copies the live rules */
	.xSync       = rules_sync,		/* commits the version (with policies) */
	.xCommit     = rules_end,
	.xRollback   = rules_end,
	.xSavepoint  = rules_savepoint,
	.xRelease    = rules_release,
	.xRollbackTo = rules_rollback_to,
};

int sched_rules_register(sqlite3 *db, struct pol_conn *c)
{
	return sqlite3_create_module_v2(db, schema_sched_rules.name, &sr_module, c, rules_conn_unref);
}
