// SPDX-License-Identifier: GPL-2.0
/* session.c - a dbos SQL session: sql_open_session() builds the guarded connection over the store. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbserver/kernel/kernel.h"
#include "dbserver/sql/sql_int.h"

/*
 * `processes` as the live rows plus, per live process P, the child it would
 * fork now: pid P + SQL_FORK_PID_OFFSET, parent P, everything else P's.
 */
static int fork_children_view(sqlite3 *db)
{
	sqlite3_str *q = sqlite3_str_new(db);
	char *sql;
	int rc;

	sqlite3_str_appendall(q, "CREATE VIEW processes AS SELECT * FROM processes_live "
			      "UNION ALL SELECT ");
	for (int i = 0; i < PROCESSES__COUNT; i++) {	/* what SELECT * shows: no as_of */
		const char *c = schema_processes.cols[i].name;

		if (i == PROCESSES_PID)
			sqlite3_str_appendf(q, "pid + %lld AS pid", SQL_FORK_PID_OFFSET);
		else if (i == PROCESSES_PARENT)
			sqlite3_str_appendf(q, ", pid AS %s", c);
		else
			sqlite3_str_appendf(q, ", %s", c);
	}
	sqlite3_str_appendall(q, " FROM processes_live");
	sql = sqlite3_str_finish(q);
	if (!sql)
		return SQLITE_NOMEM;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_free(sql);
	return rc;
}

int sql_open(const struct sql_env *env, sqlite3 **out, char **err)
{
	struct sql_session self = { .uid = 0, .pid = getpid() };

	return sql_open_session(env, &self, out, err);
}

/* Every open session, to find one from its handle (sql_park). */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sql_conn *registry;

void sql_conn_ref(struct sql_conn *sc)
{
	atomic_fetch_add(&sc->refs, 1);
}

void sql_conn_unref(struct sql_conn *sc)
{
	struct sql_conn **pp;

	if (atomic_fetch_sub(&sc->refs, 1) != 1)
		return;
	pthread_mutex_lock(&registry_lock);
	for (pp = &registry; *pp; pp = &(*pp)->next)
		if (*pp == sc) {
			*pp = sc->next;
			break;
		}
	pthread_mutex_unlock(&registry_lock);
	memory_account_release(sc->acct);
	kernel_live_close(sc->live_sk);
	free(sc);
}

void sql_park(sqlite3 *db)
{
	struct sql_conn *sc;

	pthread_mutex_lock(&registry_lock);
	for (sc = registry; sc && sc->db != db; sc = sc->next)
		;
	pthread_mutex_unlock(&registry_lock);
	/* Only @db's own thread closes it: @sc stays valid. */
	if (sc)
		vtab_park(sc);
}

int sql_open_session(const struct sql_env *env, const struct sql_session *session,
		     sqlite3 **out, char **err)
{
	struct sql_conn *sc = calloc(1, sizeof(*sc));
	sqlite3 *db = NULL;
	int rc;

	if (!sc) {
		*err = strdup("out of memory");
		return -1;
	}
	atomic_init(&sc->refs, 1);
	/* Before the first allocation of the connection: all of it is charged. */
	if (session->memory_limit && !(sc->acct = memory_account_bind(session->memory_limit))) {
		free(sc);
		*err = strdup("a session memory limit needs sql_init() before any other use of "
			      "SQLite");
		return -1;
	}

	/* A private in-memory main database: nothing in it is shared or kept. */
	rc = sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
			     SQLITE_OPEN_PRIVATECACHE | SQLITE_OPEN_EXRESCODE, NULL);
	for (int i = 0; rc == SQLITE_OK && schema_tables[i]; i++)
		rc = vtab_register(db, env, session, schema_tables[i],
				   session->fork_children &&
				   schema_tables[i] == &schema_processes ? "processes_live" : NULL,
				   sc);
	if (rc == SQLITE_OK && session->fork_children)
		rc = fork_children_view(db);
	if (rc == SQLITE_OK)
		rc = sql_changes_register(db, env, session);
	if (rc == SQLITE_OK)
		rc = stats_register(db, env);
	if (rc == SQLITE_OK)
		rc = schema_table_register(db);
	if (rc == SQLITE_OK && env->extend)
		rc = env->extend(db, env, session);
	for (int i = 0; rc == SQLITE_OK && schema_views[i]; i++) {
		char *sql;

		if (schema_views[i]->past) {	/* a view that takes a moment (viewtab.c) */
			rc = viewtab_register(db, schema_views[i]);
			continue;
		}
		sql = sql_create_view(schema_views[i], 0);
		rc = sql ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
		sqlite3_free(sql);
	}
	if (rc == SQLITE_OK && session->setup) {
		char *msg = NULL;

		if (session->setup(db, session->setup_arg, &msg)) {
			*err = msg ? msg : strdup("session setup failed");
			sqlite3_close(db);
			sql_conn_unref(sc);
			return -1;
		}
	}
	/* Last: the setup above may attach, and creates views. */
	if (rc == SQLITE_OK)
		rc = guard_apply(db);
	if (rc != SQLITE_OK) {
		const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

		*err = strdup(msg ? msg : "sql_open failed");
		sqlite3_close(db);
		sql_conn_unref(sc);
		return -1;
	}
	sc->db = db;
	pthread_mutex_lock(&registry_lock);
	sc->next = registry;
	registry = sc;
	pthread_mutex_unlock(&registry_lock);
	sql_conn_unref(sc);	/* the modules hold it now */
	*out = db;
	return 0;
}


