/* SPDX-License-Identifier: GPL-2.0 */
/* sql_int.h - internal interface between sql_open_session() (session.c), the guard and the virtual table modules of dbserver/sql. */
#ifndef DBOS_SQL_INT_H
#define DBOS_SQL_INT_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dbserver/sql/schema.h"
#include "dbserver/sql/sql.h"

struct table_cursor;
struct sql_account;
struct kernel_live;

/*
 * One session's own state (session.c), shared by the modules of its stored
 * tables: sql_park() finds it from the handle (a registry), vtab.c keeps the
 * open cursors in it. Freed with the last module, when the connection closes.
 */
struct sql_conn {
	sqlite3 *db;
	atomic_int refs;		/* sql_open_session's, then one per stored table's module */
	struct table_cursor *cursors;	/* open cursors of its stored tables (vtab.c) */
	struct sql_account *acct;	/* its memory account (memory.c); NULL: no limit */
	struct kernel_live *live_sk;	/* GET_LIVE socket of its cursors (live.c), opened on first use */
	struct sql_conn *next;		/* in the registry (session.c) */
};

void sql_conn_ref(struct sql_conn *sc);
void sql_conn_unref(struct sql_conn *sc);

/*
 * Registers the stored table @t (vtab.c) on @db, as @name (NULL: its own), for
 * the client @who (processes: who may UPDATE it), in session @sc (which the
 * module references until the connection closes). SQLITE_OK or an error code.
 */
int vtab_register(sqlite3 *db, const struct sql_env *env, const struct sql_session *who,
		  const struct schema_table *t, const char *name, struct sql_conn *sc);
/* vtab_park - release the store iterators of @sc's open cursors (sql_park; vtab.c). */
void vtab_park(struct sql_conn *sc);

/*
 * memory.c: memory_account_bind() makes a new account of @limit bytes the
 * calling thread's (NULL: sql_init() was not called, or no memory);
 * memory_account_release() unbinds it (if it is this thread's) and drops
 * the session's reference. memory_limit_hit() - whether this thread's
 * account refused an allocation since the last call (*@limit: its limit).
 */
struct sql_account *memory_account_bind(uint64_t limit);
void memory_account_release(struct sql_account *a);
bool memory_limit_hit(uint64_t *limit);

/*
 * UPDATE processes (proc_update.c): the processes vtab's write callbacks, one
 * writer per table per connection. Each returns SQLITE_OK or an error code and
 * *@msg (sqlite3_malloc'ed, for zErrMsg). Nothing is written to the store:
 * sync sends the staged changes to the kernel as one DBOS_CMD_SCHED_SET.
 */
struct proc_writer;
struct proc_writer *proc_writer_new(struct store *st, const struct sql_session *who);
void proc_writer_free(struct proc_writer *w);
int proc_writer_begin(struct proc_writer *w, char **msg);		/* xBegin: root only */
int proc_writer_update(struct proc_writer *w, int argc, sqlite3_value **argv,
		       char **msg);					/* xUpdate: stage a row */
int proc_writer_sync(struct proc_writer *w, char **msg);		/* xSync: SCHED_SET */
void proc_writer_end(struct proc_writer *w);				/* xCommit, xRollback */
int proc_writer_savepoint(struct proc_writer *w, int i);
void proc_writer_release(struct proc_writer *w, int i);
void proc_writer_rollback_to(struct proc_writer *w, int i);
/*
 * past.c: sql_moment() reads a moment as as_of takes it (a time SQLite's
 * julianday() reads, UTC, to the millisecond; or Unix seconds, to the
 * microsecond) into ns since the epoch; SQLITE_OK, or an error and *@msg
 * (sqlite3_malloc'ed). sql_past() rebuilds changes table @table (named
 * @name in messages) as of (@kind, @bound), with the messages SQL shows.
 * sql_format_time() writes @ns as "YYYY-MM-DD HH:MM:SS.mmm" (UTC).
 * sql_changes_table(i) is the declaration of the i-th <table>_changes
 * function (NULL past the last); sql_changes_register() registers them.
 */
struct changes_state;
int sql_moment(sqlite3 *db, sqlite3_value *v, uint64_t *ns, char **msg);
int sql_past(struct store *st, int table, const char *name, int kind, uint64_t bound,
	     struct changes_state *out, char **msg);
void sql_format_time(uint64_t ns, char *buf, size_t len);
const struct schema_table *sql_changes_table(int i);
/* sql_past_warn - tells @who (a notice) when (@kind, @bound) lies where events were lost. */
void sql_past_warn(const struct sql_session *who, struct store *st, const char *name, int kind,
		   uint64_t bound);
int sql_changes_register(sqlite3 *db, const struct sql_env *env, const struct sql_session *who);

/* viewtab_register - view @v (one with a past form) as a table that takes a moment (viewtab.c). */
int viewtab_register(sqlite3 *db, const struct schema_view *v);

/* vtab_fail - sets @cur's table's error message to @msg (sqlite3_malloc'ed, taken) and returns @rc. */
static inline int vtab_fail(sqlite3_vtab_cursor *cur, int rc, char *msg)
{
	sqlite3_free(cur->pVtab->zErrMsg);
	cur->pVtab->zErrMsg = msg;
	return rc;
}

/* Registers dbos_stats (stats.c) / dbos_schema (schema_table.c) on @db. */
int stats_register(sqlite3 *db, const struct sql_env *env);
int schema_table_register(sqlite3 *db);

/*
 * sql_create_table - "CREATE TABLE name(col TYPE, ...)" for @t, the form that
 * sqlite3_declare_vtab() wants; with @docs, one column per line followed by
 * "-- doc", the form dbos_schema shows. Returns a string to sqlite3_free(),
 * or NULL when out of memory.
 */
char *sql_create_table(const struct schema_table *t, int docs);

/* sql_create_view - "CREATE VIEW name AS SELECT ..." for @v; with @docs, preceded by "-- doc". */
char *sql_create_view(const struct schema_view *v, int docs);

/*
 * vtab_rows_read - how many stored rows every cursor of every connection has
 * read from the store since the process started (counted when a cursor is
 * re-filtered or closed, so finish a statement before reading it). A test and
 * benchmark hook: it shows that pushdown reads only the rows it needs.
 */
uint64_t vtab_rows_read(void);

/*
 * guard_apply - fix @db's settings for a client (no extension loading, no
 * fts3_tokenizer, defensive, untrusted schema, no attached databases, temp
 * store in memory, length limits) and install sql_authorize() (guard.c).
 * Call once the connection is set up. SQLITE_OK or an error code.
 */
int guard_apply(sqlite3 *db);

#endif /* DBOS_SQL_INT_H */
