/* SPDX-License-Identifier: GPL-2.0 */
/* tables.h - what a policy table (policies, sched_rules) adds to the module tables.c shares between them. */
#ifndef DBOS_POLICY_TABLES_H
#define DBOS_POLICY_TABLES_H

#include <sqlite3.h>
#include <stdbool.h>

#include "dbserver/policy/policy.h"

struct schema_table;

/*
 * One INSERT or UPDATE of a policy table, as tables.c hands it to the
 * table's @fill: @row's id and name are set (a default name when none was
 * given), the rest is for @fill; @row's strings may point into @cols or the
 * buffers here. @sched is what a sched rule sets (struct policy_rule.sched).
 */
struct rules_write {
	struct policy_row row;
	struct sched_vals sched;
	char name[32];
	char cpus[DBOS_CPUS_MAX * 8];
};

/*
 * rules_kind - one policy table: its columns (where the ones every policy
 * table has stand), which rules it shows (hook 'sched' or the others), and
 * its own columns' reading (@column) and writing (@fill). Everything else,
 * the transaction that stages both tables' rows into one version included,
 * is tables.c's.
 */
struct rules_kind {
	const struct schema_table *schema;
	bool sched;
	int col_id, col_name, col_condition, col_version, col_notes;
	const char *denied;		/* the error a non-root writer gets */
	/* Sets @ctx to @r's column @col, one of the table's own (left unset: NULL). */
	void (*column)(sqlite3_context *ctx, const struct policy_row *r, int col);
	/*
	 * Fills and checks the table's own columns of @w->row from @cols (the
	 * written values in column order); the compiler then checks the rule.
	 * SQLITE_OK, or an error code with the message set (rules_error).
	 */
	int (*fill)(sqlite3_vtab *vt, sqlite3_value **cols, struct rules_write *w);
};

/* sched_rules.c */
extern const struct rules_kind sched_rules_kind;

/* Sets @vt's error message (@msg from sqlite3_mprintf; NULL: out of memory); returns @rc. */
int rules_error(sqlite3_vtab *vt, int rc, char *msg);
/* The text of @v, or NULL for SQL NULL. */
const char *rules_text_arg(sqlite3_value *v);
/* @s as a text result, or NULL. */
void rules_result_str(sqlite3_context *ctx, const char *s);

/* simulate.c: registers policy_simulate(hook, condition) on @db. */
int policy_simulate_register(sqlite3 *db);

#endif /* DBOS_POLICY_TABLES_H */
