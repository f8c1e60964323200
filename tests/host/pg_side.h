/* SPDX-License-Identifier: GPL-2.0 */
/* pg_side.h - host tests and benchmarks of PostgreSQL's protocol: dbosd's SQL side (store, SQL, policy manager, endpoint with its PostgreSQL sockets) in-process. */
#ifndef DBOS_TEST_PG_SIDE_H
#define DBOS_TEST_PG_SIDE_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dbserver/endpoint/endpoint.h"
#include "dbserver/pgwire/auth.h"
#include "dbserver/pgwire/pgwire.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/store.h"
#include "tests/host/sql_side.h"

/* dbosd's SQL side with its PostgreSQL sockets, as dbosd composes it. */
struct pg_side {
	char dir[PATH_MAX];
	char db[PATH_MAX];
	char path[PATH_MAX];
	char pgpath[PATH_MAX];
	char conninfo[PATH_MAX + 64];
	char cert[PATH_MAX], key[PATH_MAX], passwords[PATH_MAX];
	struct store *st;
	struct sql_env env;
	struct test_kernel k;
	struct policy_kernel_ops ops;
	struct policy *p;
	struct endpoint *ep;
	struct endpoint_config ec;
	struct endpoint_protocol pg;
	struct endpoint_protocol pg_tcp;	/* TLS + SCRAM on 127.0.0.1, any port */
	struct pgwire_tcp *tcp;
	int port;
	uint64_t nevents;	/* process_events rows: seq 1..n, pid 1000 + seq, 'exec', /usr/bin/true */
};

/* dbosd's open_pg_db (main.c): the client's session with PostgreSQL's catalogues. */
static inline sqlite3 *pg_side_open(void *arg, const struct ucred *peer, void *sink, char **err)
{
	struct pg_side *self = arg;
	struct sql_session who = { .uid = peer->uid, .pid = peer->pid,
				   .notice = endpoint_notice, .notice_arg = sink,
				   .setup = pgwire_session_setup, .setup_arg = sink };
	sqlite3 *db = NULL;

	if (sql_open_session(&self->env, &who, &db, err))
		return NULL;
	return db;
}

/* dbosd's open_db: a dbos-protocol client's session (no pg_catalog). */
static inline sqlite3 *pg_side_open_dbos(void *arg, const struct ucred *peer, void *sink, char **err)
{
	struct pg_side *self = arg;
	struct sql_session who = { .uid = peer->uid, .pid = peer->pid,
				   .notice = endpoint_notice, .notice_arg = sink };
	sqlite3 *db = NULL;

	if (sql_open_session(&self->env, &who, &db, err))
		return NULL;
	return db;
}

#define ROOT_PASSWORD	"correct horse battery staple"
#define NOBODY_PASSWORD	"nobody-pw"

/*
 * A self-signed certificate (openssl) and the password file: root's and
 * nobody's verifiers (nobody may log in to TLS but is not in the group).
 */
static inline int pg_side_tls_files(const char *dir, char **err)
{
	char cmd[PATH_MAX * 3], path[PATH_MAX];
	char *root = scram_hash_line("root", ROOT_PASSWORD);
	char *nobody = scram_hash_line("nobody", NOBODY_PASSWORD);
	FILE *f;

	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
		 "-subj /CN=localhost -keyout '%s/server.key' -out '%s/server.crt' "
		 ">/dev/null 2>&1", dir, dir);
	if (!root || !nobody || system(cmd)) {
		*err = strdup("cannot make a certificate with openssl");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/pg-passwords", dir);
	f = fopen(path, "w");
	if (!f) {
		*err = strdup("cannot write the password file");
		return -1;
	}
	fprintf(f, "# test users\n%s\n%s\n", root, nobody);
	fclose(f);
	free(root);
	free(nobody);
	return chmod(path, 0600);
}

static inline int pg_side_start(struct pg_side *self, char **errp)
{
	struct policy_config pc = { .ops = &self->ops, .retention = 1000 };
	char *err = NULL;

	if (store_open(self->db, &self->st, &err) || test_store_events(self->st, self->nevents, &err))
		goto fail;
	self->env = (struct sql_env){ .st = self->st, .stats = test_policy_stats,
				      .stats_arg = &self->p };
	pc.st = self->st;
	pc.env = &self->env;
	if (policy_open(&pc, &self->p, &err))
		goto fail;
	self->env.extend = policy_sql_register;
	self->env.extend_arg = self->p;
	self->pg = pgwire_protocol;
	self->pg.socket_path = self->pgpath;
	self->pg.open_db_peer = pg_side_open;
	self->ec.socket_path = self->path;
	self->ec.open_db_peer = pg_side_open_dbos;	/* dbos's own protocol (bench_pgwire) */
	self->ec.also[0] = &self->pg;
	if (pg_side_tls_files(self->dir, &err) ||
	    pgwire_tcp_open(self->cert, self->key, self->passwords, &self->tcp, &err))
		goto fail;
	self->pg_tcp = pgwire_protocol;
	self->pg_tcp.socket_path = NULL;
	self->pg_tcp.tcp_address = "127.0.0.1:0";
	self->pg_tcp.open_db_peer = pg_side_open;
	self->pg_tcp.arg = self->tcp;
	self->ec.also[1] = &self->pg_tcp;
	self->ec.errmsg = sql_errmsg;
	self->ec.park = sql_park;
	self->ec.nomem = sql_nomem_errmsg;
	self->ec.arg = self;
	if (endpoint_start(&self->ec, &self->ep, &err))
		goto fail;
	self->port = endpoint_tcp_port(self->ep, &self->pg_tcp);
	return 0;
fail:
	*errp = err ? err : strdup("?");
	return -1;
}

static inline void pg_side_stop(struct pg_side *self)
{
	endpoint_stop(self->ep);
	self->ep = NULL;
	pgwire_tcp_close(self->tcp);
	self->tcp = NULL;
	policy_close(self->p);
	self->p = NULL;
	if (self->st)
		store_close(self->st);
	self->st = NULL;
}


/*
 * A new temporary directory with the store, dbos's socket, .s.PGSQL.5432,
 * the TLS files and a TCP listener on 127.0.0.1 (any port): 0, or -1 and
 * *@err. @group: the endpoint's group (besides root).
 */
static inline int pg_side_init(struct pg_side *self, gid_t group, uint64_t nevents, char **err)
{
	memset(self, 0, sizeof(*self));
	strcpy(self->dir, "/tmp/dbos-test-pg.XXXXXX");
	if (!mkdtemp(self->dir) || chmod(self->dir, 0755)) {
		*err = strdup("cannot make a temporary directory");
		return -1;
	}
	snprintf(self->db, sizeof(self->db), "%s/db", self->dir);
	snprintf(self->path, sizeof(self->path), "%s/dbosd.sock", self->dir);
	snprintf(self->pgpath, sizeof(self->pgpath), "%s/.s.PGSQL.5432", self->dir);
	snprintf(self->conninfo, sizeof(self->conninfo), "host=%s dbname=dbos", self->dir);
	snprintf(self->cert, sizeof(self->cert), "%s/server.crt", self->dir);
	snprintf(self->key, sizeof(self->key), "%s/server.key", self->dir);
	snprintf(self->passwords, sizeof(self->passwords), "%s/pg-passwords", self->dir);
	self->ops = test_kernel_ops(&self->k);
	self->ec.group = group;
	self->nevents = nevents;
	return pg_side_start(self, err);
}

/* Stop it and remove its directory. */
static inline void pg_side_remove(struct pg_side *self)
{
	char cmd[PATH_MAX + 16];

	pg_side_stop(self);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", self->dir);
}

#endif /* DBOS_TEST_PG_SIDE_H */
