/* SPDX-License-Identifier: GPL-2.0 */
/* sql_int.h - internal interface between sql_open() and the virtual table modules of dbserver/sql. */
#ifndef DBOS_SQL_INT_H
#define DBOS_SQL_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "dbserver/sql/schema.h"
#include "dbserver/sql/sql.h"

/*
 * Registers the stored table @t (vtab.c) on @db, as @name (NULL: its own), for
 * the client @who (processes: who may UPDATE it). SQLITE_OK or an error code.
 */
int vtab_register(sqlite3 *db, const struct sql_env *env, const struct sql_session *who,
		  const struct schema_table *t, const char *name);

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

#endif /* DBOS_SQL_INT_H */
