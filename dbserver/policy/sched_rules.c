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
 *   columns). The module, and with it the per-connection staging and commit,
 *   is the one tables.c keeps for both policy tables: this file adds only
 *   its columns (struct rules_kind, tables.h). A write checks the values
 *   (policy_sched_vals) and the condition (the compiler, over
 *   policy_context_sched), and stores the policy name and CPU list in their
 *   canonical forms ('fifo', '0-3,5').
 */
#include <stdlib.h>
#include <string.h>

#include "dbserver/policy/tables.h"
#include "dbserver/sched/sched.h"
#include "dbserver/sql/schema.h"

/* The columns, in schema_sched_rules' order (sql/schema_sched.c). */
enum {
	COL_ID, COL_NAME, COL_CONDITION, COL_NICE, COL_SCHED_POLICY, COL_SCHED_PRIORITY,
	COL_CPUS, COL_VERSION, COL_NOTES, NCOLS
};

static void sr_column(sqlite3_context *ctx, const struct policy_row *r, int col)
{
	switch (col) {
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
	}
}

/* An integer column within [lo, hi] into *@has, *@out; else an error naming the rule. */
static int int_arg(sqlite3_vtab *vt, sqlite3_value *v, const char *rule, const char *col,
		   int lo, int hi, bool *has, int32_t *out)
{
	sqlite3_int64 i;

	*has = false;
	*out = 0;
	if (sqlite3_value_type(v) == SQLITE_NULL)
		return SQLITE_OK;
	if (sqlite3_value_numeric_type(v) != SQLITE_INTEGER)
		return rules_error(vt, SQLITE_MISMATCH, sqlite3_mprintf(
			"rule '%s': %s must be an integer", rule, col));
	i = sqlite3_value_int64(v);
	if (i < lo || i > hi)
		return rules_error(vt, SQLITE_CONSTRAINT, sqlite3_mprintf(
			"rule '%s': %s is %d..%d, not %lld", rule, col, lo, hi, (long long)i));
	*has = true;
	*out = (int32_t)i;
	return SQLITE_OK;
}

/* The values the rule sets, checked (policy_sched_vals), in their canonical forms. */
static int sr_fill(sqlite3_vtab *pvt, sqlite3_value **cols, struct rules_write *w)
{
	struct policy_row *row = &w->row;
	char *err = NULL;
	int rc;

	row->hook = "sched";
	row->action = "set";
	row->sched_policy = (char *)rules_text_arg(cols[COL_SCHED_POLICY]);
	row->cpus = (char *)rules_text_arg(cols[COL_CPUS]);
	rc = int_arg(pvt, cols[COL_NICE], row->name, "nice", -20, 19, &row->has_nice, &row->nice);
	if (rc == SQLITE_OK)
		rc = int_arg(pvt, cols[COL_SCHED_PRIORITY], row->name, "sched_priority", 0, 99,
			     &row->has_priority, &row->priority);
	if (rc != SQLITE_OK)
		return rc;
	if (policy_sched_vals(row, &w->sched, &err)) {
		rc = rules_error(pvt, SQLITE_CONSTRAINT, sqlite3_mprintf("%s", err ? err : "invalid"));
		free(err);
		return rc;
	}
	/* Canonical forms: as /proc and the processes table show them. */
	if (w->sched.has_policy)
		row->sched_policy = (char *)sched_policy_name(w->sched.policy);
	if (w->sched.cpus_len) {
		sched_cpus_format(w->sched.cpus, w->sched.cpus_len, w->cpus, sizeof(w->cpus));
		row->cpus = w->cpus;
	}
	if (!row->has_priority || !row->priority)
		row->has_priority = false;
	return SQLITE_OK;
}

const struct rules_kind sched_rules_kind = {
	.schema = &schema_sched_rules,
	.sched = true,
	.col_id = COL_ID, .col_name = COL_NAME, .col_condition = COL_CONDITION,
	.col_version = COL_VERSION, .col_notes = COL_NOTES,
	.denied = "permission denied: only root may change scheduling",
	.column = sr_column,
	.fill = sr_fill,
};
