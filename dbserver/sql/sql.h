/* SPDX-License-Identifier: GPL-2.0 */
/* sql.h - SQLite over the store: one virtual table per stored table, plus dbos_stats and dbos_schema. */
#ifndef DBOS_SQL_H
#define DBOS_SQL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dbserver/store/store.h"

/* One row of dbos_stats. @name and @doc must stay valid until the next call. */
struct sql_stat {
	const char *name;
	int64_t value;
	const char *doc;
};

/*
 * Fills up to @max entries of @out and returns how many it filled. Called
 * from client threads, concurrently with intake: it must be thread-safe.
 */
typedef int (*sql_stats_fn)(void *arg, struct sql_stat *out, int max);

/* Who a connection serves: the peer's SO_PEERCRED (in-process callers: uid 0, their pid). */
struct sql_session {
	uid_t uid;
	pid_t pid;
	/*
	 * The policy compiler's connection: `processes` there also holds, for
	 * every live process P, the child P would fork now (pid P +
	 * SQL_FORK_PID_OFFSET, parent P, the rest of P's row), so that a pid
	 * set evaluated on it says who a new child would be (see
	 * docs/ARCHITECTURE.md, "Sets kept current").
	 */
	bool fork_children;
	/*
	 * Where a statement's notices go (the client's connection: an 'N'
	 * frame), called from the statement's thread; NULL: dropped.
	 */
	void (*notice)(void *arg, const char *text);
	void *notice_arg;
};

#define SQL_FORK_PID_OFFSET	(1LL << 32)

struct sql_env;

/*
 * Registers more modules and functions on a new connection (the policy
 * layer's tables and functions: policy_sql_register(), policy/tables.c).
 * SQLITE_OK or an error code; @session is copied if kept.
 */
typedef int (*sql_extend_fn)(sqlite3 *db, const struct sql_env *env,
			     const struct sql_session *session);

struct sql_env {
	struct store *st;
	sql_stats_fn stats;	/* may be NULL: dbos_stats is then empty */
	void *stats_arg;
	sql_extend_fn extend;	/* may be NULL: no policy tables */
	void *extend_arg;	/* for @extend (the policy manager) */
};

/*
 * sql_open - open a new SQLite connection (an in-memory main database) in
 * which every table of schema_tables[] is readable under its own name, with
 * pushdown of its key columns (equality, ranges, ORDER BY key [DESC]), where
 * the views of schema_views[] exist, and where dbos_stats(name, value, doc)
 * and dbos_schema(name, sql) are defined.
 * @env must outlive the connection. One connection per thread. Returns 0 and
 * *@out (close with sqlite3_close), or -1 and *@err (free with free()).
 */
int sql_open(const struct sql_env *env, sqlite3 **out, char **err);
/* sql_open_session - the same for the client @session (sql_open: uid 0, this process). */
int sql_open_session(const struct sql_env *env, const struct sql_session *session,
		     sqlite3 **out, char **err);

struct schema_table;
/*
 * sql_declare_table - for a virtual table module another layer registers
 * (sql_env.extend): declare @t's columns (sql/schema.h) from its xConnect.
 * SQLITE_OK or an error code.
 */
int sql_declare_table(sqlite3 *db, const struct schema_table *t);

#endif /* DBOS_SQL_H */
