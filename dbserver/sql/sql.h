/* SPDX-License-Identifier: GPL-2.0 */
/* sql.h - SQLite over the store: one virtual table per stored table, plus dbos_stats and dbos_schema; guarded sessions. */
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
	/*
	 * Bytes of SQLite memory the session may hold (0: no limit; needs
	 * sql_init()): everything SQLite allocates on the thread that opened
	 * the session is charged to it until it is closed, so serve it from
	 * that thread only, and open one such session per thread. A statement
	 * that would go over fails with SQLITE_NOMEM (sql_errmsg says why).
	 */
	uint64_t memory_limit;
	/*
	 * Called by sql_open_session() once the connection has its tables and
	 * views, just before its guard is applied: what it does may attach
	 * (the PostgreSQL wire protocol's pg_catalog, pgwire/catalog.c). 0,
	 * or non-zero and *@err (free()): the open fails with it. NULL: none.
	 */
	int (*setup)(sqlite3 *db, void *arg, char **err);
	void *setup_arg;
};

#define SQL_FORK_PID_OFFSET	(1LL << 32)

/*
 * sql_init - make SQLite's allocator charge each session's memory to it
 * (memory.c), so that sql_session.memory_limit holds. Call it before
 * anything else uses SQLite (it shuts SQLite down and up again); calling
 * it again does nothing. 0, or -1 and *@err (free()).
 */
int sql_init(char **err);

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
/*
 * sql_open_session - the same for the client @session (sql_open: uid 0, this
 * process). Every connection, root's too, is guarded (guard.c): its SQL
 * reaches the dbos tables and its own memory, never a file, extension code
 * or a setting; see sql_authorize().
 */
int sql_open_session(const struct sql_env *env, const struct sql_session *session,
		     sqlite3 **out, char **err);

/*
 * sql_authorize - the authorizer of every session (guard.c): refuses ATTACH,
 * DETACH, VACUUM, CREATE VIRTUAL TABLE, load_extension(), fts3_tokenizer()
 * and every PRAGMA but reads of the catalogue; allows everything else. Code
 * that installs an authorizer of its own on a session for a while (the
 * policy compiler watches what a subquery reads) must return this one's
 * answer first and put it back with sqlite3_set_authorizer(db,
 * sql_authorize, NULL).
 */
int sql_authorize(void *arg, int action, const char *a, const char *b, const char *db,
		  const char *view);

/*
 * sql_errmsg - the text of @db's last error as a client should read it: for
 * a refusal by sql_authorize(), "not authorized: <what was refused and
 * why>" (SQLite itself only says "not authorized"); for an allocation the
 * session's memory limit refused, "statement stopped: this session reached
 * its memory limit of N MiB (dbosd --session-memory)"; otherwise
 * sqlite3_errmsg(). Call it on the thread that ran the failing call, right
 * after it. The text is valid until the next call on this thread.
 */
const char *sql_errmsg(sqlite3 *db);

/*
 * sql_nomem_errmsg - the text for an allocation from SQLite's allocator
 * outside a statement (the endpoint's buffers) that failed on this thread:
 * "this session reached its memory limit of N MiB (dbosd --session-memory)"
 * when the session's limit refused it, else "out of memory". Same lifetime
 * as sql_errmsg()'s text.
 */
const char *sql_nomem_errmsg(void);

/*
 * sql_park - release the store iterators (the RocksDB snapshots) that @db's
 * open cursors hold, keeping their current rows; each cursor re-seeks to the
 * next key when its statement goes on. For a statement that waits, e.g. for
 * a client to read rows: call it between two sqlite3_step() calls, on the
 * connection's thread. A cursor also re-seeks by itself once its iterator
 * is ITER_MAX_AGE old (vtab.c). @db not a session: nothing happens.
 */
void sql_park(sqlite3 *db);

struct schema_table;
/*
 * sql_declare_table - for a virtual table module another layer registers
 * (sql_env.extend): declare @t's columns (sql/schema.h) from its xConnect.
 * SQLITE_OK or an error code.
 */
int sql_declare_table(sqlite3 *db, const struct schema_table *t);

#endif /* DBOS_SQL_H */
