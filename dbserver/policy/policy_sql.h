/* SPDX-License-Identifier: GPL-2.0 */
/* policy_sql.h - what the policies and sched_rules tables share: one connection's staged rules and the module slots. */
#ifndef DBOS_POLICY_SQL_H
#define DBOS_POLICY_SQL_H

#include <sqlite3.h>
#include <stdbool.h>

#include "dbserver/policy/policy.h"

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
};

struct rules_vtab {
	sqlite3_vtab base;		/* must be first */
	struct pol_conn *c;
	bool sched;			/* sched_rules: hook 'sched' rows; policies: the others */
};

#define POLICY_ID_MAX	0x7fffffff	/* ids are stored as be32 */

/* Sets the table's error message (@msg from sqlite3_mprintf; NULL: out of memory). */
int rules_error(sqlite3_vtab *vt, int rc, char *msg);
struct schema_table;
/* xConnect body: declares table @t (sql/schema.h), a vtab over @aux (a struct pol_conn). */
int rules_connect(sqlite3 *db, void *aux, const struct schema_table *t, bool sched,
		  sqlite3_vtab **out);
/*
 * xBegin body: a non-root client is refused with @denied (and recorded);
 * else the first table of the transaction copies the live rules.
 */
int rules_begin(sqlite3_vtab *pvt, const char *denied);
/*
 * The id of an inserted or updated row: @idcol, else @rowid, else max + 1
 * over both kinds. SQLITE_OK, or an error naming @table.
 */
int rules_row_id(struct rules_vtab *vt, sqlite3_value *idcol, sqlite3_value *rowid,
		 const char *table, int64_t *id);
/* @version (the written version column) must equal row @old's (NULL for an insert). */
int rules_version_unchanged(struct rules_vtab *vt, long old, sqlite3_value *version,
			    const char *table);
/* id and name unique among all rules but @old. */
int rules_unique(struct rules_vtab *vt, long old, int64_t id, const char *name,
		 const char *table);
/* Checks @rule (policy_check) and puts @row in place of row @old (-1: none). */
int rules_stage(struct rules_vtab *vt, long old, const struct policy_rule *rule,
		const struct policy_row *row, sqlite3_int64 *rowid);
/* The notes column: policy_notes() of row @r (NULL when none). */
void rules_result_notes(sqlite3_context *ctx, const struct policy_row *r);
/* The text of @v, or NULL for SQL NULL. */
const char *rules_text_arg(sqlite3_value *v);
void rules_result_str(sqlite3_context *ctx, const char *s);

/* The module slots both tables use as they are. */
int rules_disconnect(sqlite3_vtab *pvt);
int rules_best_index(sqlite3_vtab *vt, sqlite3_index_info *info);
int rules_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out);
int rules_close(sqlite3_vtab_cursor *cur);
int rules_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
		 sqlite3_value **argv);
int rules_next(sqlite3_vtab_cursor *cur);
int rules_eof(sqlite3_vtab_cursor *cur);
int rules_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid);
int rules_sync(sqlite3_vtab *pvt);
int rules_savepoint(sqlite3_vtab *pvt, int i);
int rules_release(sqlite3_vtab *pvt, int i);
int rules_rollback_to(sqlite3_vtab *pvt, int i);
int rules_end(sqlite3_vtab *pvt);
/* The row under the cursor. */
const struct policy_row *rules_cursor_row(sqlite3_vtab_cursor *cur);

/* Module destructor: drops one reference to a struct pol_conn. */
void rules_conn_unref(void *aux);

/* sched_rules.c: registers sched_rules on @db over @c (takes one reference). */
int sched_rules_register(sqlite3 *db, struct pol_conn *c);

#endif /* DBOS_POLICY_SQL_H */
