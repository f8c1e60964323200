/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dbos_client.h - client library for dbosd: connect, run SQL, stream rows.
 *
 *	char *err = NULL;
 *	struct dbos_conn *c = dbos_connect(NULL, &err);
 *	if (!c) { fprintf(stderr, "%s\n", err); free(err); return 2; }
 *	if (dbos_query(c, "SELECT pid, name FROM processes", &cb, arg, &err)) {
 *		fprintf(stderr, "Error: %s\n", err);
 *		free(err);
 *	}
 *	dbos_close(c);
 *
 * A connection is used by one thread at a time; it is reusable for any number
 * of queries, including after a query failed with an SQL error. dbosd closes
 * a connection that sends no query within its first-query timeout (10 s by
 * default); the first dbos_query() on such a connection connects again by
 * itself (nothing was sent on it). The wire format is described in
 * dbos_proto.h.
 */
#ifndef DBOS_CLIENT_H
#define DBOS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "dbos_proto.h"

struct dbos_conn;

/*
 * Callbacks of dbos_query(); any may be NULL. on_columns() is called once
 * per statement that returns columns, before its rows; @names (NUL-terminated)
 * are valid only during the call. on_row() gets @ncol values, valid only during
 * the call. A callback that returns non-zero aborts the query: dbos_query()
 * then returns -1 with "query aborted" and the connection is closed (the
 * server abandons the statement); later queries on it fail, so reconnect.
 */
struct dbos_callbacks {
	int (*on_columns)(void *arg, int ncol, const char *const *names);
	int (*on_row)(void *arg, int ncol, const struct dbos_value *vals);
	/* A notice from the server (@text, @len bytes, NUL-terminated, valid during the call). */
	void (*on_notice)(void *arg, const char *text, size_t len);
};

/*
 * dbos_connect() - connect to dbosd.
 * @path: the socket; NULL means $DBOS_SOCKET if set and non-empty, else
 *        DBOS_DEFAULT_SOCKET ("/run/dbos/dbosd.sock").
 * @errmsg: if not NULL, receives a malloc()ed message on failure (caller
 *          frees), e.g. "cannot connect to /run/dbos/dbosd.sock: Permission
 *          denied", or the server's refusal ("permission denied: dbosd
 *          accepts root only").
 * Returns a connection to free with dbos_close(), or NULL with errno set
 * (ECONNREFUSED when the server itself refused the connection, EPROTO when
 * it does not speak this protocol version).
 */
struct dbos_conn *dbos_connect(const char *path, char **errmsg);

/*
 * dbos_query() - run @sql (one or more statements separated by ';') and
 * stream each result to @cb (may be NULL) with @arg.
 * Returns 0 when every statement ran. Returns -1 with *@errmsg set (if
 * @errmsg is not NULL; a malloc()ed string the caller frees) when one failed:
 * the message is SQLite's, verbatim; statements after the failing one were
 * not run; rows already delivered stay delivered. The connection stays
 * usable after an SQL error. After a connection or protocol failure (the
 * message then says so, e.g. "connection to dbosd lost: ..." or "protocol
 * error: ...") the connection is closed and dbos_conn_broken() is true.
 * Never raises SIGPIPE.
 */
int dbos_query(struct dbos_conn *conn, const char *sql,
	       const struct dbos_callbacks *cb, void *arg, char **errmsg);

/*
 * dbos_changes() - rows inserted, updated or deleted by the last successful
 * dbos_query() on @conn (triggers included), 0 if there was none.
 */
int64_t dbos_changes(const struct dbos_conn *conn);

/*
 * dbos_conn_broken() - true once @conn can no longer carry queries (the
 * server went away, a protocol error, or a callback aborted a query).
 */
int dbos_conn_broken(const struct dbos_conn *conn);

/* dbos_conn_path() - the socket path @conn was opened on (owned by @conn). */
const char *dbos_conn_path(const struct dbos_conn *conn);

/* dbos_close() - close and free @conn. NULL is accepted. */
void dbos_close(struct dbos_conn *conn);

/*
 * The fleet: every dbosd started with --fleet URL on one NATS server, queried
 * as one database (libdbos/dbos_fleet.c, docs/ARCHITECTURE.md "Fleet").
 *
 *	struct dbos_fleet_options o = { .url = "nats://nats.example:4222" };
 *	struct dbos_fleet *f = dbos_fleet_connect(&o, &err);
 *	dbos_fleet_query(f, "SELECT host, count(*) FROM processes GROUP BY host",
 *			 &cb, arg, &err);
 *	for (int i = 0; dbos_fleet_report(f, i, &host, &why); i++)
 *		fprintf(stderr, "%s is missing from the result: %s\n", host, why);
 *	dbos_fleet_close(f);
 *
 * Each table of the hosts' schema is a table here with a first column
 * `host`: a scan asks every host of the target (in parallel, one NATS
 * request) for the rows and columns the statement needs, the hosts filtering
 * by the statement's constant constraints; aggregates, joins and ordering
 * across hosts are computed here. fleet_hosts(host, labels, version,
 * started, seen, live) lists the members. A fleet statement only reads,
 * except on fleet_policies(target, name, hook, action, condition, nice,
 * sched_policy, sched_priority, cpus): the fleet's policy, a transaction on
 * it one version, which the statement waits for every live host to
 * enforce (those that did not are reported); fleet_policy_status(host,
 * version, live, error, local_version, online), fleet_policy_versions and
 * fleet_policy_rollback(N) go with it (README, "Fleet policy").
 */
struct dbos_fleet;

struct dbos_fleet_options {
	const char *url;	/* nats://[user:pass@]host:port[,nats://...] */
	const char *creds;	/* a NATS .creds file, or NULL */
	const char *ca;		/* CA to trust: TLS; or NULL */
	const char *cert;	/* client certificate (mutual TLS), or NULL */
	const char *key;	/* its key, or NULL: in @cert */
	const char *target;	/* NULL or "all", "host:ID", "label:NAME" */
	int timeout_ms;		/* how long a scan waits for the hosts (0: 2000) */
};

/*
 * dbos_fleet_connect() - connect to the fleet's NATS server, read its
 * members and learn the tables from one of them. Returns the coordinator
 * (free with dbos_fleet_close()), or NULL and *@errmsg.
 */
struct dbos_fleet *dbos_fleet_connect(const struct dbos_fleet_options *opts, char **errmsg);

/*
 * dbos_fleet_query() - run @sql (statements separated by ';') over the
 * fleet; like dbos_query(). Hosts that did not answer a scan in time, or
 * failed it, contribute no rows and are listed by dbos_fleet_report()
 * until the next query: check it after every query.
 */
int dbos_fleet_query(struct dbos_fleet *f, const char *sql, const struct dbos_callbacks *cb,
		     void *arg, char **errmsg);

/*
 * dbos_fleet_report() - the @i-th host missing from the last query's result
 * (0, 1, ...): 1 with *@host and *@reason set (valid until the next
 * query), or 0 when there are no more.
 */
int dbos_fleet_report(const struct dbos_fleet *f, int i, const char **host, const char **reason);

/* dbos_fleet_hosts() - members known now; *@live (if not NULL): how many are live. */
int dbos_fleet_hosts(struct dbos_fleet *f, int *live);

/* dbos_fleet_close() - disconnect and free @f. NULL is accepted. */
void dbos_fleet_close(struct dbos_fleet *f);

#endif /* DBOS_CLIENT_H */
