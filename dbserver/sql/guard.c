// SPDX-License-Identifier: GPL-2.0
/* guard.c - what a dbos SQL connection may do: no file, no code, no setting; its authorizer and fixed settings. */

/*
 * USAGE
 *
 *   Every connection sql_open_session() returns is guarded, root's too:
 *
 *     ATTACH '/root/x.db' AS k;        -- not authorized: ATTACH, DETACH and
 *                                      -- VACUUM are refused: dbosd never
 *                                      -- opens a file for a client
 *     VACUUM INTO '/etc/x';            -- the same (VACUUM attaches its output)
 *     SELECT load_extension('x.so');   -- not authorized: load_extension() is refused: ...
 *     PRAGMA journal_mode = WAL;       -- not authorized: PRAGMA journal_mode = WAL is refused: ...
 *     PRAGMA table_info(processes);    -- fine: a read of the catalogue
 *
 * HOW IT WORKS
 *
 *   dbosd runs as root, so a client's SQL must not reach anything but the
 *   connection's own memory. guard_apply() fixes the connection's settings
 *   before any client statement runs, and installs sql_authorize(), which
 *   SQLite asks about every action of every statement as it is prepared
 *   (also the statements SQLite prepares itself, e.g. VACUUM's ATTACH, and
 *   the ones dbos's own virtual tables prepare, e.g. policy_simulate):
 *
 *   - Files. ATTACH (any file name or URI, ':memory:' and shared-cache
 *     memory too: nothing may be shared between connections), DETACH, and
 *     VACUUM (which attaches its output, or a temporary database) are
 *     refused; SQLITE_LIMIT_ATTACHED is 0 as a second wall. Temporary
 *     tables, indexes and sorts live in memory (temp_store = MEMORY, which
 *     clients cannot change), never in temporary files. The main database
 *     is ":memory:", private to the connection.
 *   - Code. load_extension() is refused (and loading stays disabled in the
 *     connection); fts3_tokenizer() is refused: Debian builds SQLite with
 *     SQLITE_ENABLE_FTS3_TOKENIZER, which lets SQL install a tokenizer by
 *     its address, i.e. run code at any address in dbosd. CREATE VIRTUAL
 *     TABLE is refused: a module is code with its own access to the world;
 *     a client's tables are plain tables. readfile(), writefile(), edit()
 *     and fsdir (the sqlite3 shell's) are not in the library; they are
 *     refused by name all the same.
 *   - Settings. A PRAGMA is allowed only as a read of the catalogue or of a
 *     harmless setting (pragma_reads below), never with a value (which sets
 *     it) unless the pragma takes a table or index name. Everything else,
 *     e.g. journal_mode, temp_store_directory, writable_schema,
 *     trusted_schema, mmap_size, cache_size, threads, is refused.
 *   - Defensive mode is on (no writable_schema, no writes to shadow tables
 *     or sqlite_dbpage), trusted_schema is off (a view or trigger may only
 *     use innocuous functions and virtual tables: dbos's stored tables are).
 *   - Everything else is allowed: reads and writes of dbos's tables (which
 *     refuse writes themselves, or let root change policy and scheduling),
 *     transactions and savepoints, and tables, views, indexes and triggers
 *     the client creates in main or temp: they are in the connection's
 *     memory, bounded by the session's memory limit (memory.c), and gone
 *     with it; no other connection can see them.
 *
 *   SQLite's own message for a refusal is only "not authorized". The
 *   authorizer keeps its reason in a thread-local buffer (a connection is
 *   used by one thread at a time; the reason is read right after the failing
 *   call, on that thread) and sql_errmsg() tells it, as it tells a session
 *   memory limit (memory.c) behind SQLite's "out of memory".
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dbserver/sql/sql_int.h"

/* The longest statement or value a client may have: a longer one could not be sent in a frame. */
#define GUARD_MAX_LENGTH	(64 << 20)
/* The longest single SQL statement. */
#define GUARD_MAX_SQL_LENGTH	(1 << 20)

/* PRAGMAs a client may read. */
static const char *const pragma_reads[] = {
	"application_id", "collation_list", "compile_options", "data_version",
	"database_list", "encoding", "foreign_key_check", "foreign_key_list",
	"foreign_keys", "freelist_count", "function_list", "index_info", "index_list",
	"index_xinfo", "integrity_check", "module_list", "page_count", "page_size",
	"pragma_list", "quick_check", "schema_version", "table_info", "table_list",
	"table_xinfo", "temp_store", "trusted_schema", "user_version",
};

/* ... of which these take an argument that is a name (or a row count), not a new value. */
static const char *const pragma_named[] = {
	"foreign_key_check", "foreign_key_list", "index_info", "index_list", "index_xinfo",
	"integrity_check", "quick_check", "table_info", "table_list", "table_xinfo",
};

/* Functions no client may call, and why. */
static const struct {
	const char *name;
	const char *why;
} functions_refused[] = {
	{ "load_extension", "dbosd loads no code for a client" },
	{ "fts3_tokenizer", "it installs a tokenizer by its address in memory" },
	{ "readfile", "dbosd never reads a file for a client" },
	{ "writefile", "dbosd never writes a file for a client" },
	{ "edit", "dbosd never starts an editor for a client" },
	{ "fsdir", "dbosd never lists a directory for a client" },
};

static _Thread_local char refusal[256];

static bool in_list(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(list[i], s))
			return true;
	return false;
}

static int refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int refuse(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(refusal, sizeof(refusal), fmt, ap);
	va_end(ap);
	return SQLITE_DENY;
}

static int pragma_check(const char *name, const char *arg, const char *schema)
{
	bool read = in_list(pragma_reads, sizeof(pragma_reads) / sizeof(pragma_reads[0]), name);
	bool named = in_list(pragma_named, sizeof(pragma_named) / sizeof(pragma_named[0]), name);

	if (read && (!arg || named))
		return SQLITE_OK;
	return refuse("PRAGMA %s%s%s%s%s is refused: a client's PRAGMAs may only read the "
		      "catalogue (table_info, index_list, function_list, ...) and change nothing",
		      schema ? schema : "", schema ? "." : "", name,
		      arg ? " = " : "", arg ? arg : "");
}

int sql_authorize(void *arg, int action, const char *a, const char *b, const char *db,
		  const char *view)
{
	switch (action) {
	case SQLITE_ATTACH:
	case SQLITE_DETACH:
		return refuse("ATTACH, DETACH and VACUUM are refused: dbosd never opens a file "
			      "for a client");
	case SQLITE_CREATE_VTABLE:
	case SQLITE_DROP_VTABLE:
		return refuse("CREATE VIRTUAL TABLE is refused: a client's own tables are plain "
			      "tables in its connection's memory");
	case SQLITE_PRAGMA:
		return pragma_check(a, b, db);
	case SQLITE_FUNCTION:
		for (size_t i = 0; b && i < sizeof(functions_refused) / sizeof(functions_refused[0]); i++)
			if (!strcasecmp(b, functions_refused[i].name))
				return refuse("%s() is refused: %s", functions_refused[i].name,
					      functions_refused[i].why);
		return SQLITE_OK;
	default:
		return SQLITE_OK;
	}
}

/* SQLite's texts for a refusal by the authorizer (at prepare, of a function, inside VACUUM). */
static bool is_refusal(const char *msg)
{
	return !strcmp(msg, "not authorized") || !strcmp(msg, "authorization denied") ||
	       !strncmp(msg, "not authorized to use function: ", 32);
}

const char *sql_errmsg(sqlite3 *db)
{
	static _Thread_local char text[sizeof(refusal) + 32];
	const char *msg = sqlite3_errmsg(db);
	uint64_t limit;

	if (refusal[0] && is_refusal(msg)) {
		snprintf(text, sizeof(text), "not authorized: %s", refusal);
		refusal[0] = 0;
		return text;
	}
	if ((sqlite3_errcode(db) & 0xff) == SQLITE_NOMEM && memory_limit_hit(&limit)) {
		snprintf(text, sizeof(text), "statement stopped: this session reached its memory "
			 "limit of %llu MiB (dbosd --session-memory)",
			 (unsigned long long)(limit >> 20));
		return text;
	}
	return msg;
}

const char *sql_nomem_errmsg(void)
{
	static _Thread_local char text[96];
	uint64_t limit;

	if (!memory_limit_hit(&limit))
		return "out of memory";
	snprintf(text, sizeof(text), "this session reached its memory limit of %llu MiB "
		 "(dbosd --session-memory)", (unsigned long long)(limit >> 20));
	return text;
}

int guard_apply(sqlite3 *db)
{
	static const int off[] = {
		SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER,
		SQLITE_DBCONFIG_TRUSTED_SCHEMA,
	};
	int v, rc;

	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		rc = sqlite3_db_config(db, off[i], 0, &v);
		if (rc != SQLITE_OK || v != 0)
			return rc != SQLITE_OK ? rc : SQLITE_ERROR;
	}
	rc = sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, &v);
	if (rc != SQLITE_OK || v != 1)
		return rc != SQLITE_OK ? rc : SQLITE_ERROR;
	rc = sqlite3_enable_load_extension(db, 0);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_limit(db, SQLITE_LIMIT_LENGTH, GUARD_MAX_LENGTH);
	sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, GUARD_MAX_SQL_LENGTH);
	/* Sorter threads would allocate outside the session's thread (memory.c). */
	sqlite3_limit(db, SQLITE_LIMIT_WORKER_THREADS, 0);
	rc = sqlite3_exec(db, "PRAGMA temp_store = MEMORY", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return rc;
	return sqlite3_set_authorizer(db, sql_authorize, NULL);
}
