/* SPDX-License-Identifier: GPL-2.0 */
/* sql.h - SQLite over the store: one virtual table per schema table, plus dbos_stats and dbos_schema. */
#ifndef DBOS_SQL_H
#define DBOS_SQL_H

#include <sqlite3.h>
#include <stdint.h>

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

struct sql_env {
	struct store *st;
	sql_stats_fn stats;	/* may be NULL: dbos_stats is then empty */
	void *stats_arg;
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

#endif /* DBOS_SQL_H */
