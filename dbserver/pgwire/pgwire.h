/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pgwire.h - PostgreSQL's frontend/backend protocol (v3) over dbos sessions.
 *
 * dbosd serves it on a second socket of its endpoint (endpoint.h), named as
 * PostgreSQL names its sockets, so that `psql -h /run/dbos -d dbos`, libpq,
 * psycopg, JDBC and postgres_fdw connect as to a PostgreSQL server. Who the
 * client is comes from the socket's peer credentials, exactly as on dbos's
 * own socket; the user name a client sends is not trusted for anything.
 */
#ifndef DBOS_PGWIRE_H
#define DBOS_PGWIRE_H

#include "dbserver/endpoint/endpoint.h"

/* The socket in DBOS_DEFAULT_SOCKET's directory: PostgreSQL's name for port 5432. */
#define PGWIRE_DEFAULT_SOCKET	"/run/dbos/.s.PGSQL.5432"

/*
 * The protocol for endpoint_config.also: fill in socket_path and
 * open_db_peer (which must call pgwire_session_setup() on the session it
 * opens, see below) and keep the copy alive while the endpoint runs.
 */
extern const struct endpoint_protocol pgwire_protocol;

/*
 * For open_db_peer: a struct sql_session's setup hook and its argument,
 * which give the session PostgreSQL's catalogues (pg_catalog,
 * information_schema) and functions before its guard is applied. @sink is
 * the one open_db_peer was given.
 */
int pgwire_session_setup(sqlite3 *db, void *sink, char **err);

#endif /* DBOS_PGWIRE_H */
