// SPDX-License-Identifier: GPL-2.0
/*
 * test_pgwire.c - dbosd speaks PostgreSQL's protocol (issue 18): real
 * clients (libpq, psql) against dbosd's SQL side composed as dbosd composes
 * it: a real store in a temporary directory, the SQL layer, the policy
 * manager (over an in-test kernel that accepts everything) and the endpoint
 * with its PostgreSQL socket. The rows the store holds are known
 * (process_events: seq 1..NEVENTS, pid 1000 + seq, event 'exec', path
 * /usr/bin/true), so every answer is checked against them; bad input is
 * sent raw, and other users connect from forked children.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "kselftest_harness.h"

#include "dbserver/endpoint/endpoint.h"
#include "dbserver/pgwire/auth.h"
#include "dbserver/pgwire/pgwire.h"
#include "dbserver/sql/schema.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/row.h"
#include "dbserver/store/store.h"
#include "as_user.h"
#include "pg_side.h"

#define NOBODY		65534
#define TEST_GROUP	4242
#define NEVENTS		300

FIXTURE(pg) {
	struct pg_side s;
};

static int start(struct __test_metadata *_metadata, FIXTURE_DATA(pg) *self)
{
	char *err = NULL;

	if (!pg_side_start(&self->s, &err))
		return 0;
	TH_LOG("start: %s", err);
	free(err);
	return -1;
}

static void stop(FIXTURE_DATA(pg) *self)
{
	pg_side_stop(&self->s);
}

FIXTURE_SETUP(pg)
{
	char *err = NULL;

	ASSERT_EQ(0, sql_init(&err)) TH_LOG("%s", err);
	ASSERT_EQ(0, pg_side_init(&self->s, TEST_GROUP, NEVENTS, &err)) TH_LOG("%s", err);
}

FIXTURE_TEARDOWN(pg)
{
	pg_side_remove(&self->s);
}

static PGconn *connect_ok(struct __test_metadata *_metadata, FIXTURE_DATA(pg) *self)
{
	PGconn *c = PQconnectdb(self->s.conninfo);

	if (PQstatus(c) != CONNECTION_OK)
		TH_LOG("connect: %s", PQerrorMessage(c));
	return c;
}

/* The SQLSTATE of a failed result ("" if none). */
static const char *state_of(const PGresult *r)
{
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	return s ? s : "";
}

/* Run @sql, expect it to fail with @code. */
#define EXPECT_SQLSTATE(c, sql, code) do {					\
		PGresult *_r = PQexec(c, sql);					\
		EXPECT_EQ(PGRES_FATAL_ERROR, PQresultStatus(_r)) TH_LOG("%s", sql);	\
		EXPECT_STREQ(code, state_of(_r)) TH_LOG("%s: %s", sql,		\
						       PQresultErrorMessage(_r));	\
		PQclear(_r);							\
	} while (0)

/* ---------------------------------------------------------------------- */

TEST_F(pg, startup_reports_what_clients_check)
{
	PGconn *c = connect_ok(_metadata, self);

	ASSERT_EQ(CONNECTION_OK, PQstatus(c));
	EXPECT_EQ(3, PQprotocolVersion(c));
	EXPECT_GE(PQserverVersion(c), 150000);
	EXPECT_STREQ("UTF8", PQparameterStatus(c, "client_encoding"));
	EXPECT_STREQ("UTF8", PQparameterStatus(c, "server_encoding"));
	EXPECT_STREQ("on", PQparameterStatus(c, "integer_datetimes"));
	EXPECT_STREQ("on", PQparameterStatus(c, "standard_conforming_strings"));
	ASSERT_NE(NULL, PQparameterStatus(c, "DateStyle"));
	EXPECT_EQ(0, strncmp(PQparameterStatus(c, "DateStyle"), "ISO", 3));
	EXPECT_STREQ("on", PQparameterStatus(c, "is_superuser"));	/* we are root */
	EXPECT_NE(0, PQbackendPID(c));
	EXPECT_EQ(PQTRANS_IDLE, PQtransactionStatus(c));
	PQfinish(c);
}

TEST_F(pg, simple_query_rows_and_types_match_the_store)
{
	PGconn *c = connect_ok(_metadata, self);
	PGresult *r;

	r = PQexec(c, "SELECT seq, pid, event, path, exit_code FROM process_events "
		   "WHERE seq BETWEEN 11 AND 20 ORDER BY seq");
	ASSERT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	ASSERT_EQ(10, PQntuples(r));
	ASSERT_EQ(5, PQnfields(r));
	EXPECT_STREQ("seq", PQfname(r, 0));
	EXPECT_EQ(20, PQftype(r, 0));	/* INTEGER: int8 */
	EXPECT_EQ(25, PQftype(r, 2));	/* TEXT: text */
	for (int i = 0; i < 10; i++) {
		char want[32];

		snprintf(want, sizeof(want), "%d", 11 + i);
		EXPECT_STREQ(want, PQgetvalue(r, i, 0));
		snprintf(want, sizeof(want), "%d", 1011 + i);
		EXPECT_STREQ(want, PQgetvalue(r, i, 1));
		EXPECT_STREQ("exec", PQgetvalue(r, i, 2));
		EXPECT_STREQ("/usr/bin/true", PQgetvalue(r, i, 3));
		EXPECT_TRUE(PQgetisnull(r, i, 4));
	}
	EXPECT_STREQ("SELECT 10", PQcmdStatus(r));
	PQclear(r);

	/* expressions take their first value's type */
	r = PQexec(c, "SELECT count(*) AS n, 1.5 AS f, x'00ff' AS b, 'a' AS t, NULL AS z "
		   "FROM process_events");
	ASSERT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	EXPECT_EQ(20, PQftype(r, 0));
	EXPECT_STREQ("300", PQgetvalue(r, 0, 0));
	EXPECT_EQ(701, PQftype(r, 1));
	EXPECT_STREQ("1.5", PQgetvalue(r, 0, 1));
	EXPECT_EQ(17, PQftype(r, 2));
	EXPECT_STREQ("\\x00ff", PQgetvalue(r, 0, 2));
	EXPECT_EQ(25, PQftype(r, 3));
	EXPECT_TRUE(PQgetisnull(r, 0, 4));
	PQclear(r);

	/* no rows: the row description is still sent */
	r = PQexec(c, "SELECT seq FROM process_events WHERE seq < 0");
	EXPECT_EQ(PGRES_TUPLES_OK, PQresultStatus(r));
	EXPECT_EQ(0, PQntuples(r));
	EXPECT_EQ(1, PQnfields(r));
	EXPECT_STREQ("SELECT 0", PQcmdStatus(r));
	PQclear(r);

	/* several statements: the last result; an empty query */
	r = PQexec(c, "SELECT 1; SELECT 2, 3;");
	EXPECT_EQ(PGRES_TUPLES_OK, PQresultStatus(r));
	EXPECT_STREQ("3", PQgetvalue(r, 0, 1));
	PQclear(r);
	r = PQexec(c, "  -- nothing\n ; ");
	EXPECT_EQ(PGRES_EMPTY_QUERY, PQresultStatus(r));
	PQclear(r);
	PQfinish(c);
}

TEST_F(pg, errors_have_sqlstates_and_transactions_abort)
{
	PGconn *c = connect_ok(_metadata, self);
	PGresult *r;

	EXPECT_SQLSTATE(c, "SELECT * FROM no_such_table", "42P01");
	EXPECT_SQLSTATE(c, "SELECT no_such_column FROM processes", "42703");
	EXPECT_SQLSTATE(c, "SELEC 1", "42601");
	EXPECT_SQLSTATE(c, "SELECT no_such_function(1)", "42883");
	EXPECT_SQLSTATE(c, "ATTACH '/etc/passwd' AS x", "42501");

	/* an error inside BEGIN aborts the block until ROLLBACK, as in PostgreSQL */
	r = PQexec(c, "BEGIN");
	EXPECT_EQ(PGRES_COMMAND_OK, PQresultStatus(r));
	PQclear(r);
	EXPECT_EQ(PQTRANS_INTRANS, PQtransactionStatus(c));
	EXPECT_SQLSTATE(c, "SELECT * FROM no_such_table", "42P01");
	EXPECT_EQ(PQTRANS_INERROR, PQtransactionStatus(c));
	EXPECT_SQLSTATE(c, "SELECT 1", "25P02");
	r = PQexec(c, "COMMIT");	/* of a failed block: rolls back */
	EXPECT_EQ(PGRES_COMMAND_OK, PQresultStatus(r));
	EXPECT_STREQ("ROLLBACK", PQcmdStatus(r));
	PQclear(r);
	EXPECT_EQ(PQTRANS_IDLE, PQtransactionStatus(c));

	/* SAVEPOINT opens a transaction in SQLite: the client is told */
	r = PQexec(c, "SAVEPOINT a");
	EXPECT_EQ(PGRES_COMMAND_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	EXPECT_EQ(PQTRANS_INTRANS, PQtransactionStatus(c));
	r = PQexec(c, "RELEASE a");
	PQclear(r);
	EXPECT_EQ(PQTRANS_IDLE, PQtransactionStatus(c));
	r = PQexec(c, "START TRANSACTION ISOLATION LEVEL REPEATABLE READ; SELECT 1; COMMIT");
	EXPECT_EQ(PGRES_COMMAND_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	EXPECT_EQ(PQTRANS_IDLE, PQtransactionStatus(c));
	/* writes to the mirror are refused with a privilege or object error */
	r = PQexec(c, "DELETE FROM process_events");
	EXPECT_EQ(PGRES_FATAL_ERROR, PQresultStatus(r));
	PQclear(r);
	r = PQexec(c, "SELECT count(*) FROM process_events");
	EXPECT_STREQ("300", PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
}

static long long be64_value(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	long long v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

TEST_F(pg, extended_protocol_parameters_and_binary)
{
	PGconn *c = connect_ok(_metadata, self);
	const char *vals[2] = { "40", "44" };
	Oid types[2] = { 20, 20 }, t8[1] = { 20 };
	unsigned char be[8] = { 0, 0, 0, 0, 0, 0, 0, 7 };
	const char *bv[1] = { (const char *)be }, *tv[1] = { "1009" };
	const char *one[1] = { "1" }, *nan[2] = { "x", "2" };
	int lens[1] = { 8 }, fmts[1] = { 1 };
	PGresult *r;

	r = PQprepare(c, "byseq", "SELECT seq, pid, path FROM process_events "
		      "WHERE seq >= $1 AND seq <= $2 ORDER BY seq", 2, types);
	ASSERT_EQ(PGRES_COMMAND_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	r = PQdescribePrepared(c, "byseq");
	ASSERT_EQ(PGRES_COMMAND_OK, PQresultStatus(r));
	EXPECT_EQ(2, PQnparams(r));
	EXPECT_EQ(20, PQparamtype(r, 0));
	EXPECT_EQ(3, PQnfields(r));
	EXPECT_EQ(20, PQftype(r, 0));
	PQclear(r);

	r = PQexecPrepared(c, "byseq", 2, vals, NULL, NULL, 0);
	ASSERT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	ASSERT_EQ(5, PQntuples(r));
	EXPECT_STREQ("1040", PQgetvalue(r, 0, 1));
	EXPECT_STREQ("SELECT 5", PQcmdStatus(r));
	PQclear(r);

	/* binary results: int8 big-endian, text as is */
	r = PQexecPrepared(c, "byseq", 2, vals, NULL, NULL, 1);
	ASSERT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	ASSERT_EQ(8, PQgetlength(r, 0, 1));
	EXPECT_EQ(1040, be64_value(PQgetvalue(r, 0, 1)));
	EXPECT_EQ(0, strncmp("/usr/bin/true", PQgetvalue(r, 0, 2), 13));
	PQclear(r);

	/* binary parameters; an untyped text parameter compared with an integer column */
	r = PQexecParams(c, "SELECT pid FROM process_events WHERE seq = $1", 1, t8, bv,
				 lens, fmts, 0);
	ASSERT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	ASSERT_EQ(1, PQntuples(r));
	EXPECT_STREQ("1007", PQgetvalue(r, 0, 0));
	PQclear(r);
	r = PQexecParams(c, "SELECT seq FROM process_events WHERE pid = $1", 1, NULL, tv,
			 NULL, NULL, 0);
	ASSERT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	ASSERT_EQ(1, PQntuples(r));
	EXPECT_STREQ("9", PQgetvalue(r, 0, 0));
	PQclear(r);

	/* bad parameters: wrong count, not a number */
	r = PQexecPrepared(c, "byseq", 1, one, NULL, NULL, 0);
	EXPECT_EQ(PGRES_FATAL_ERROR, PQresultStatus(r));
	EXPECT_STREQ("08P01", state_of(r));
	PQclear(r);
	r = PQexecPrepared(c, "byseq", 2, nan, NULL, NULL, 0);
	EXPECT_EQ(PGRES_FATAL_ERROR, PQresultStatus(r));
	EXPECT_STREQ("22P02", state_of(r));
	PQclear(r);
	/* a statement that does not parse fails at Parse; two statements are refused */
	r = PQprepare(c, "bad", "SELEC 1", 0, NULL);
	EXPECT_STREQ("42601", state_of(r));
	PQclear(r);
	r = PQprepare(c, "two", "SELECT 1; SELECT 2", 0, NULL);
	EXPECT_STREQ("42601", state_of(r));
	PQclear(r);
	r = PQexecPrepared(c, "nosuch", 0, NULL, NULL, NULL, 0);
	EXPECT_STREQ("26000", state_of(r));
	PQclear(r);
	/* the connection is still usable after all that */
	r = PQexecPrepared(c, "byseq", 2, vals, NULL, NULL, 0);
	EXPECT_EQ(5, PQntuples(r));
	PQclear(r);
	PQfinish(c);
}

TEST_F(pg, set_show_and_current_setting)
{
	PGconn *c = connect_ok(_metadata, self);
	PGresult *r;

	r = PQexec(c, "SET application_name = 'dbos-test'");
	EXPECT_EQ(PGRES_COMMAND_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	EXPECT_STREQ("dbos-test", PQparameterStatus(c, "application_name"));
	r = PQexec(c, "SHOW application_name");
	ASSERT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	EXPECT_STREQ("dbos-test", PQgetvalue(r, 0, 0));
	PQclear(r);
	r = PQexec(c, "SELECT current_setting('server_version_num'), version(), current_schema()");
	ASSERT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	EXPECT_EQ(0, strncmp("15", PQgetvalue(r, 0, 0), 2));
	EXPECT_NE(NULL, strstr(PQgetvalue(r, 0, 1), "PostgreSQL"));
	EXPECT_STREQ("public", PQgetvalue(r, 0, 2));
	PQclear(r);
	EXPECT_SQLSTATE(c, "SET no_such_setting = 1", "42704");
	EXPECT_SQLSTATE(c, "SHOW no_such_setting", "42704");
	r = PQexec(c, "SHOW ALL");
	EXPECT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	EXPECT_GT(PQntuples(r), 10);
	PQclear(r);
	PQfinish(c);
}

TEST_F(pg, cursors_declare_fetch_close)
{
	PGconn *c = connect_ok(_metadata, self);
	const char *v250[1] = { "250" };
	PGresult *r;
	int seen = 0;

	EXPECT_SQLSTATE(c, "DECLARE c1 CURSOR FOR SELECT seq FROM process_events", "25P01");
	r = PQexec(c, "BEGIN; DECLARE c1 CURSOR FOR SELECT seq FROM process_events ORDER BY seq");
	ASSERT_EQ(PGRES_COMMAND_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	for (;;) {
		r = PQexec(c, "FETCH 64 FROM c1");
		ASSERT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
		if (!PQntuples(r)) {
			PQclear(r);
			break;
		}
		for (int i = 0; i < PQntuples(r); i++)
			EXPECT_EQ(++seen, atoi(PQgetvalue(r, i, 0)));
		PQclear(r);
	}
	EXPECT_EQ(NEVENTS, seen);
	r = PQexec(c, "CLOSE c1; COMMIT");
	EXPECT_EQ(PGRES_COMMAND_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	EXPECT_SQLSTATE(c, "FETCH 1 FROM c1", "34000");

	/* postgres_fdw's way: DECLARE with parameters through the extended protocol */
	r = PQexec(c, "BEGIN");
	PQclear(r);
	r = PQexecParams(c, "DECLARE c2 CURSOR FOR SELECT seq FROM process_events "
			 "WHERE seq > $1 ORDER BY seq", 1, NULL, v250, NULL, NULL, 0);
	EXPECT_EQ(PGRES_COMMAND_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	r = PQexec(c, "FETCH ALL FROM c2");
	ASSERT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	EXPECT_EQ(NEVENTS - 250, PQntuples(r));
	EXPECT_STREQ("251", PQgetvalue(r, 0, 0));
	PQclear(r);
	r = PQexec(c, "COMMIT");	/* closes c2 */
	PQclear(r);
	EXPECT_SQLSTATE(c, "FETCH 1 FROM c2", "34000");
	PQfinish(c);
}

/*
 * What test_fuzz_pgwire found: CLOSE ALL crashed, COMMIT through the
 * extended protocol freed its own portal, FunctionCall's error had no
 * ReadyForQuery (PQfn hung), a result format 2 was accepted.
 */
TEST_F(pg, close_all_extended_commit_fn_and_format_codes)
{
	PGconn *c = connect_ok(_metadata, self);
	PQArgBlock arg = { .len = 4, .isint = 1, .u.integer = -42 };
	int out = 0, outlen = 0;
	PGresult *r;

	r = PQexec(c, "BEGIN; DECLARE a CURSOR FOR SELECT 1; DECLARE b CURSOR FOR SELECT 2; "
		   "CLOSE ALL; COMMIT");
	EXPECT_EQ(PGRES_COMMAND_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	EXPECT_SQLSTATE(c, "BEGIN; FETCH 1 FROM a", "34000");
	r = PQexec(c, "ROLLBACK");
	PQclear(r);
	for (int i = 0; i < 3; i++) {	/* PQexecParams: Parse, Bind, Execute of each */
		r = PQexecParams(c, i == 0 ? "BEGIN" : i == 1 ? "SELECT count(*) FROM "
				 "process_events" : "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
		EXPECT_NE(PGRES_FATAL_ERROR, PQresultStatus(r)) TH_LOG("%s",
								       PQresultErrorMessage(r));
		PQclear(r);
	}
	r = PQfn(c, 1397, &out, &outlen, 1, &arg, 1);
	EXPECT_EQ(PGRES_FATAL_ERROR, PQresultStatus(r));
	EXPECT_STREQ("0A000", state_of(r));
	PQclear(r);
	r = PQexecParams(c, "SELECT 1", 0, NULL, NULL, NULL, NULL, 2);
	EXPECT_STREQ("22023", state_of(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	r = PQexec(c, "SELECT count(*) FROM process_events");
	EXPECT_STREQ("300", PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
}

TEST_F(pg, copy_to_stdout_text_and_csv)
{
	PGconn *c = connect_ok(_metadata, self);
	PGresult *r;
	char *line;
	int n;

	r = PQexec(c, "COPY (SELECT seq, path, exit_code FROM process_events WHERE seq <= 3 "
		   "ORDER BY seq) TO STDOUT");
	ASSERT_EQ(PGRES_COPY_OUT, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	for (int i = 1; (n = PQgetCopyData(c, &line, 0)) > 0; i++) {
		char want[64];

		snprintf(want, sizeof(want), "%d\t/usr/bin/true\t\\N\n", i);
		EXPECT_STREQ(want, line);
		PQfreemem(line);
	}
	EXPECT_EQ(-1, n);
	r = PQgetResult(c);
	EXPECT_EQ(PGRES_COMMAND_OK, PQresultStatus(r));
	EXPECT_STREQ("COPY 3", PQcmdStatus(r));
	PQclear(r);
	while ((r = PQgetResult(c)))
		PQclear(r);

	r = PQexec(c, "COPY (SELECT seq, 'a,b' AS t FROM process_events WHERE seq = 1) "
		   "TO STDOUT WITH (FORMAT csv, HEADER)");
	ASSERT_EQ(PGRES_COPY_OUT, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	ASSERT_GT(PQgetCopyData(c, &line, 0), 0);
	EXPECT_STREQ("seq,t\n", line);
	PQfreemem(line);
	ASSERT_GT(PQgetCopyData(c, &line, 0), 0);
	EXPECT_STREQ("1,\"a,b\"\n", line);
	PQfreemem(line);
	EXPECT_EQ(-1, PQgetCopyData(c, &line, 0));
	while ((r = PQgetResult(c)))
		PQclear(r);
	EXPECT_SQLSTATE(c, "COPY process_events FROM STDIN", "0A000");
	/* PostgreSQL's constructs SQLite lacks: refused by name, simple and extended protocol */
	EXPECT_SQLSTATE(c, "SELECT DISTINCT ON (seq) seq FROM process_events", "0A000");
	r = PQexecParams(c, "SELECT seq FROM process_events WHERE seq > $1 TABLESAMPLE SYSTEM (1)",
			 1, NULL, (const char *const[]){ "0" }, NULL, NULL, 0);
	EXPECT_STREQ("0A000", state_of(r));
	EXPECT_NE(NULL, strstr(PQresultErrorMessage(r), "TABLESAMPLE is PostgreSQL's"))
		TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	/* ... and the session goes on; FOR UPDATE is dropped, EXTRACT runs */
	r = PQexec(c, "SELECT extract(year FROM now()) >= 2026 FROM process_events WHERE seq = 1 FOR UPDATE");
	ASSERT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	EXPECT_EQ(1, PQntuples(r));
	PQclear(r);
	PQfinish(c);
}

/* A statement that runs until it is stopped. */
#define ENDLESS "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) " \
		"SELECT count(*) FROM n"

TEST_F(pg, cancel_request_stops_the_statement)
{
	PGconn *c = connect_ok(_metadata, self);
	PGcancel *cancel;
	PGresult *r;
	char err[256];

	ASSERT_EQ(1, PQsendQuery(c, ENDLESS));
	usleep(200 * 1000);
	cancel = PQgetCancel(c);
	ASSERT_NE(NULL, cancel);
	ASSERT_EQ(1, PQcancel(cancel, err, sizeof(err))) TH_LOG("%s", err);
	PQfreeCancel(cancel);
	r = PQgetResult(c);
	EXPECT_EQ(PGRES_FATAL_ERROR, PQresultStatus(r));
	EXPECT_STREQ("57014", state_of(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	while ((r = PQgetResult(c)))
		PQclear(r);
	/* the connection goes on */
	r = PQexec(c, "SELECT 1");
	EXPECT_EQ(PGRES_TUPLES_OK, PQresultStatus(r));
	PQclear(r);
	PQfinish(c);
}

TEST_F(pg, statement_timeout_is_query_canceled)
{
	PGconn *c;
	PGresult *r;

	stop(self);
	self->s.ec.statement_timeout = 1;
	ASSERT_EQ(0, start(_metadata, self));
	c = connect_ok(_metadata, self);
	r = PQexec(c, ENDLESS);
	EXPECT_STREQ("57014", state_of(r));
	EXPECT_NE(NULL, strstr(PQresultErrorMessage(r), "statement cancelled after 1 s"))
		TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	r = PQexec(c, "SELECT 1");	/* the next statement has its own second */
	EXPECT_EQ(PGRES_TUPLES_OK, PQresultStatus(r));
	PQclear(r);
	PQfinish(c);
}

/* libpq's notice receiver: keep the last NOTICE's text. */
static void on_notice(void *arg, const PGresult *r)
{
	char *last = arg;
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);

	if (sev && !strcmp(sev, "NOTICE"))
		snprintf(last, 1024, "%s", PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
}

TEST_F(pg, session_notices_are_notice_responses)
{
	PGconn *c = connect_ok(_metadata, self);
	char last[1024] = "";
	PGresult *r;

	PQsetNoticeReceiver(c, on_notice, last);
	/* /bin/sh goes through a symlink: COMMIT resolves it and says so (README) */
	r = PQexec(c, "INSERT INTO policies(name, hook, action, condition) VALUES "
		   "('pg-notice', 'exec', 'deny', 'path = ''/bin/sh''')");
	EXPECT_EQ(PGRES_COMMAND_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	EXPECT_STREQ("INSERT 0 1", PQcmdStatus(r));
	PQclear(r);
	EXPECT_NE(NULL, strstr(last, "/bin/sh")) TH_LOG("last notice: '%s'", last);
	r = PQexec(c, "SELECT count(*) FROM policies WHERE name = 'pg-notice'");
	EXPECT_STREQ("1", PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
}

/* From a child running as user @arg's conninfo: count the events. */
static int connect_as(void *arg, char *msg, size_t size)
{
	const char *conninfo = arg;
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r;
	int ret = 1;

	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(msg, size, "%s", PQerrorMessage(c));
		PQfinish(c);
		return 1;
	}
	r = PQexec(c, "SELECT count(*) FROM process_events");
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		snprintf(msg, size, "%s", PQgetvalue(r, 0, 0));
		ret = 0;
	} else {
		snprintf(msg, size, "%s", PQresultErrorMessage(r));
	}
	PQclear(r);
	PQfinish(c);
	return ret;
}

TEST_F(pg, access_is_root_and_the_group_as_on_dbos_socket)
{
	char msg[1024];

	/* not root, not in the group: the socket's mode (0660 root:group) refuses */
	EXPECT_EQ(1, as_user(NOBODY, NOBODY, (gid_t)-1, connect_as, self->s.conninfo, msg,
			     sizeof(msg)));
	EXPECT_NE(NULL, strcasestr(msg, "permission denied")) TH_LOG("%s", msg);
	/* a member of the group: served */
	EXPECT_EQ(0, as_user(NOBODY, NOBODY, TEST_GROUP, connect_as, self->s.conninfo, msg,
			     sizeof(msg))) TH_LOG("%s", msg);
	EXPECT_STREQ("300", msg);
}

/* As a group member: a second connection beyond the per-uid limit of 1. */
static int two_connections(void *arg, char *msg, size_t size)
{
	PGconn *a = PQconnectdb(arg), *b = PQconnectdb(arg);
	int ret = PQstatus(a) == CONNECTION_OK && PQstatus(b) == CONNECTION_BAD ? 0 : 1;

	snprintf(msg, size, "%s", PQerrorMessage(b));
	PQfinish(a);
	PQfinish(b);
	return ret;
}

TEST_F(pg, connection_limits_are_the_endpoints)
{
	char msg[1024];

	stop(self);
	self->s.ec.max_connections_per_user = 1;
	ASSERT_EQ(0, start(_metadata, self));
	EXPECT_EQ(0, as_user(NOBODY, NOBODY, TEST_GROUP, two_connections, self->s.conninfo, msg,
			     sizeof(msg))) TH_LOG("%s", msg);
	EXPECT_NE(NULL, strstr(msg, "too many connections")) TH_LOG("%s", msg);
}

/* As a group member: a policy change, which only root may make. */
static int member_writes_policy(void *arg, char *msg, size_t size)
{
	PGconn *c = PQconnectdb(arg);
	PGresult *r = PQexec(c, "INSERT INTO policies(name, hook, action, condition) VALUES "
			     "('member', 'exec', 'deny', 'path = ''/x''')");

	snprintf(msg, size, "%s %s", state_of(r), PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	return 0;
}

TEST_F(pg, writes_keep_their_rules_and_attribution)
{
	PGconn *c = connect_ok(_metadata, self);
	PGresult *r;
	char msg[1024];

	/* root's change is a policy version of uid 0, as through dbos's socket */
	r = PQexec(c, "INSERT INTO policies(name, hook, action, condition) VALUES "
		   "('root-rule', 'exec', 'deny', 'path = ''/usr/local/bin/x''')");
	EXPECT_EQ(PGRES_COMMAND_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	r = PQexec(c, "SELECT uid FROM policy_versions ORDER BY version DESC LIMIT 1");
	EXPECT_STREQ("0", PQgetvalue(r, 0, 0));
	PQclear(r);
	/* a group member may read, not change policy: 42501 and dbos's reason */
	EXPECT_EQ(0, as_user(NOBODY, NOBODY, TEST_GROUP, member_writes_policy, self->s.conninfo,
			     msg, sizeof(msg)));
	EXPECT_EQ(0, strncmp(msg, "42501 ", 6)) TH_LOG("%s", msg);
	r = PQexec(c, "SELECT count(*) FROM policies WHERE name = 'member'");
	EXPECT_STREQ("0", PQgetvalue(r, 0, 0));
	PQclear(r);
	/* several writes in one transaction are one policy version */
	r = PQexec(c, "BEGIN; "
		   "INSERT INTO policies(name, hook, action, condition) VALUES "
		   "('t1', 'exec', 'deny', 'path = ''/usr/local/bin/t1'''); "
		   "INSERT INTO policies(name, hook, action, condition) VALUES "
		   "('t2', 'exec', 'deny', 'path = ''/usr/local/bin/t2'''); COMMIT");
	EXPECT_EQ(PGRES_COMMAND_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	r = PQexec(c, "SELECT count(*) FROM policy_versions");
	EXPECT_STREQ("2", PQgetvalue(r, 0, 0)) TH_LOG("root-rule, then t1 + t2 together");
	PQclear(r);
	PQfinish(c);
}

/* Another user who knows the key cannot cancel root's statement. */
static int cancel_other(void *arg, char *msg, size_t size)
{
	PGcancel *cancel = PQgetCancel(arg);
	char err[256];
	int ok = PQcancel(cancel, err, sizeof(err));

	PQfreeCancel(cancel);
	snprintf(msg, size, "%s", ok ? "sent" : err);
	return ok ? 0 : 1;
}

TEST_F(pg, cancel_key_of_another_user_does_nothing)
{
	PGconn *c = connect_ok(_metadata, self);
	PGcancel *cancel;
	struct pollfd pfd;
	PGresult *r;
	char msg[256], err[256];

	ASSERT_EQ(1, PQsendQuery(c, ENDLESS));
	usleep(100 * 1000);
	EXPECT_EQ(0, as_user(NOBODY, NOBODY, TEST_GROUP, cancel_other, c, msg, sizeof(msg)))
		TH_LOG("%s", msg);
	/* still running a second later */
	pfd = (struct pollfd){ .fd = PQsocket(c), .events = POLLIN };
	EXPECT_EQ(0, poll(&pfd, 1, 1000));
	/* root's own cancel works */
	cancel = PQgetCancel(c);
	EXPECT_EQ(1, PQcancel(cancel, err, sizeof(err)));
	PQfreeCancel(cancel);
	r = PQgetResult(c);
	EXPECT_STREQ("57014", state_of(r));
	PQclear(r);
	while ((r = PQgetResult(c)))
		PQclear(r);
	PQfinish(c);
}

/* Raw bytes on the socket: the reply's first byte, or -1 when it closed silently. */
static int raw_exchange(const char *path, const void *data, size_t n, char *reply, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ssize_t got = 0, r;

	strcpy(sa.sun_path, path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -2;
	if (send(fd, data, n, MSG_NOSIGNAL) != (ssize_t)n) {
		close(fd);
		return -2;
	}
	shutdown(fd, SHUT_WR);
	while ((size_t)got < size - 1 && (r = recv(fd, reply + got, size - 1 - got, 0)) > 0)
		got += r;
	reply[got > 0 ? got : 0] = 0;
	close(fd);
	return got > 0 ? (unsigned char)reply[0] : -1;
}

/* A valid startup packet (user root, database dbos) at @p: its length. */
static size_t startup_packet(unsigned char *p)
{
	static const char params[] = "user\0root\0database\0dbos\0\0";
	uint32_t len = 8 + sizeof(params) - 1;
	size_t n = 0;

	p[n++] = len >> 24; p[n++] = len >> 16; p[n++] = len >> 8; p[n++] = len;
	p[n++] = 0; p[n++] = 3; p[n++] = 0; p[n++] = 0;
	memcpy(p + n, params, sizeof(params) - 1);
	return n + sizeof(params) - 1;
}

TEST_F(pg, bad_input_gets_an_error_and_the_server_goes_on)
{
	static const unsigned char huge[] = { 0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0 };
	static const unsigned char oldproto[] = { 0, 0, 0, 8, 0, 2, 0, 0 };
	/* a valid startup, then a message of an unknown type, then a bad length */
	unsigned char bad_msg[64], bad_len[64];
	size_t n = 0;
	char reply[4096];
	PGconn *c;
	PGresult *r;

	EXPECT_EQ('E', raw_exchange(self->s.pgpath, huge, sizeof(huge), reply, sizeof(reply)));
	EXPECT_EQ('E', raw_exchange(self->s.pgpath, oldproto, sizeof(oldproto), reply,
				    sizeof(reply)));
	EXPECT_NE(NULL, memmem(reply, sizeof(reply), "unsupported frontend protocol", 28));

	n = startup_packet(bad_msg);
	memcpy(bad_len, bad_msg, n);
	memcpy(bad_msg + n, "\x01\x00\x00\x00\x04", 5);
	EXPECT_EQ('R', raw_exchange(self->s.pgpath, bad_msg, n + 5, reply, sizeof(reply)));
	memcpy(bad_len + n, "Q\x00\x00\x00\x02", 5);	/* length < 4 */
	EXPECT_EQ('R', raw_exchange(self->s.pgpath, bad_len, n + 5, reply, sizeof(reply)));
	/* a Query without its terminating NUL */
	memcpy(bad_len + n, "Q\x00\x00\x00\x05X", 6);
	EXPECT_EQ('R', raw_exchange(self->s.pgpath, bad_len, n + 6, reply, sizeof(reply)));

	/* random bytes after a valid startup, many times: no crash, no hang */
	srand(42);
	for (int i = 0; i < 300; i++) {
		unsigned char buf[256];
		size_t k = n + (size_t)(rand() % 64);

		memcpy(buf, bad_len, n);
		for (size_t j = n; j < k; j++)
			buf[j] = (unsigned char)rand();
		if (i % 3 == 0 && k > n + 5) {	/* a plausible type and length */
			static const char types[] = "QPBDESCHXdcfF";

			buf[n] = (unsigned char)types[rand() % (sizeof(types) - 1)];
			buf[n + 1] = 0; buf[n + 2] = 0; buf[n + 3] = 0;
			buf[n + 4] = (unsigned char)(k - n - 1);
		}
		raw_exchange(self->s.pgpath, buf, k, reply, sizeof(reply));
	}
	c = connect_ok(_metadata, self);
	r = PQexec(c, "SELECT count(*) FROM process_events");
	EXPECT_STREQ("300", PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
}

TEST_F(pg, catalogs_list_every_table_of_the_registry)
{
	PGconn *c = connect_ok(_metadata, self);
	PGresult *r;
	int n = 0;

	r = PQexec(c, "SELECT table_name FROM information_schema.tables "
		   "WHERE table_schema = 'public' ORDER BY table_name");
	ASSERT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	for (int i = 0; schema_catalog_tables[i]; i++) {
		const struct schema_table *t = schema_catalog_tables[i];
		bool found = false, function = false;

		for (int k = 0; k < t->ncols; k++)
			function |= !t->nkeys && t->cols[k].hidden;
		if (function)
			continue;	/* a table-valued function: in pg_proc */

		for (int k = 0; k < PQntuples(r); k++)
			found |= !strcmp(PQgetvalue(r, k, 0), schema_catalog_tables[i]->name);
		EXPECT_TRUE(found) TH_LOG("%s missing", schema_catalog_tables[i]->name);
		n++;
	}
	EXPECT_GT(n, 5);
	PQclear(r);
	r = PQexec(c, "SELECT column_name, data_type FROM information_schema.columns "
		   "WHERE table_name = 'processes' ORDER BY ordinal_position");
	ASSERT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	ASSERT_GE(PQntuples(r), PROCESSES__COUNT);
	for (int i = 0; i < PROCESSES__COUNT; i++) {
		EXPECT_STREQ(schema_processes.cols[i].name, PQgetvalue(r, i, 0));
		EXPECT_STREQ(strcmp(schema_processes.cols[i].type, "INTEGER") ? "text" : "bigint",
			     PQgetvalue(r, i, 1));
	}
	PQclear(r);
	PQfinish(c);
}

/* Run psql with @args against the fixture; its stdout in @out. */
static int psql(FIXTURE_DATA(pg) *self, const char *args, char *out, size_t size)
{
	char cmd[PATH_MAX * 2];
	FILE *f;
	size_t n;

	snprintf(cmd, sizeof(cmd), "PGCONNECT_TIMEOUT=10 psql -X -h '%s' -d dbos %s 2>&1",
		 self->s.dir, args);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	n = fread(out, 1, size - 1, f);
	out[n] = 0;
	return pclose(f);
}

TEST_F(pg, psql_describes_tables)
{
	static char out[1 << 16];

	ASSERT_EQ(0, psql(self, "-A -t -c 'SELECT count(*) FROM process_events'", out,
			  sizeof(out))) TH_LOG("%s", out);
	EXPECT_STREQ("300\n", out);
	ASSERT_EQ(0, psql(self, "-c '\\dt'", out, sizeof(out))) TH_LOG("%s", out);
	for (int i = 0; schema_catalog_tables[i]; i++) {
		if (schema_catalog_tables[i]->nkeys) {	/* the stored tables at least */
			EXPECT_NE(NULL, strstr(out, schema_catalog_tables[i]->name))
				TH_LOG("\\dt lacks %s:\n%s", schema_catalog_tables[i]->name, out);
		}
	}
	ASSERT_EQ(0, psql(self, "-c '\\d processes'", out, sizeof(out))) TH_LOG("%s", out);
	for (int i = 0; i < PROCESSES__COUNT; i++) {
		EXPECT_NE(NULL, strstr(out, schema_processes.cols[i].name))
			TH_LOG("\\d processes lacks %s:\n%s", schema_processes.cols[i].name, out);
	}
	EXPECT_NE(NULL, strstr(out, "bigint")) TH_LOG("%s", out);
	EXPECT_EQ(NULL, strstr(out, "ERROR")) TH_LOG("%s", out);
}

TEST_F(pg, psql_expanded_copy_and_sqlstates)
{
	static char out[1 << 16];

	/* \x: one "column | value" line per column */
	ASSERT_EQ(0, psql(self, "-c '\\x on' -c 'SELECT seq, path FROM process_events WHERE seq = 3'",
			  out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "seq  | 3")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "path | /usr/bin/true")) TH_LOG("%s", out);
	/* \copy (query) TO STDOUT CSV: COPY TO STDOUT underneath */
	ASSERT_EQ(0, psql(self, "-c '\\copy (SELECT seq, pid FROM process_events WHERE seq <= 2 "
			  "ORDER BY seq) TO STDOUT CSV HEADER'", out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_STREQ("seq,pid\n1,1001\n2,1002\n", out);
	/* an error with its SQLSTATE, and psql's exit status */
	EXPECT_NE(0, psql(self, "-v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "
			  "'SELECT * FROM no_such_table'", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "ERROR:  42P01:")) TH_LOG("%s", out);
	/* psql variables: a query with a value interpolated client-side (psql 15 has no \bind) */
	ASSERT_EQ(0, psql(self, "-A -t -v seq=42 -f - <<EOF\nSELECT pid FROM process_events "
			  "WHERE seq = :seq\nEOF\n", out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_STREQ("1042\n", out);
}

/* Run shell command @cmd; its output (stdout and stderr) in @out. Exit status. */
static int shell(const char *cmd, char *out, size_t size)
{
	FILE *f = popen(cmd, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(out, 1, size - 1, f);
	out[n] = 0;
	return pclose(f);
}

/* Live processes rows for pids @first..@last: name proc-PID, path /usr/bin/pPID, the rest NULL. */
static int store_processes(struct store *st, uint32_t first, uint32_t last)
{
	struct store_batch *b = store_batch_new();
	char *err = NULL;
	int ret;

	for (uint32_t pid = first; pid <= last; pid++) {
		struct row_value v[PROCESSES__COUNT];
		char name[32], path[48], buf[512];
		unsigned char k[4];
		size_t len;

		for (int i = 0; i < PROCESSES__COUNT; i++)
			v[i] = row_null();
		snprintf(name, sizeof(name), "proc-%u", pid);
		snprintf(path, sizeof(path), "/usr/bin/p%u", pid);
		v[PROCESSES_PID] = row_int(pid);
		v[PROCESSES_NAME] = row_text(name, strlen(name));
		v[PROCESSES_PATH] = row_text(path, strlen(path));
		v[PROCESSES_SEQ] = row_int(pid);
		len = row_encode(v, PROCESSES__COUNT, buf, sizeof(buf));
		store_key_be32(k, pid);
		store_batch_put(b, STORE_CF_PROCESSES, k, 4, buf, len);
	}
	ret = store_write(st, b, &err);
	free(err);
	store_batch_free(b);
	return ret;
}

/*
 * PostgreSQL itself as the client: a real PostgreSQL 15 (as user postgres,
 * in a data directory of this test) imports dbos's tables with
 * postgres_fdw's IMPORT FOREIGN SCHEMA and queries them (cursors, FETCH,
 * pushed-down WHERE, parameters).
 */
TEST_F(pg, postgres_fdw_imports_and_queries)
{
	static char out[1 << 16], cmd[1 << 16];
	char pgdir[PATH_MAX + 16], sql[PATH_MAX + 1024];
	const char *bin = "/usr/lib/postgresql/15/bin";
	struct group *g = getgrnam("postgres");
	int port = 40000 + getpid() % 20000;

	ASSERT_NE(NULL, g) TH_LOG("no postgres group: is postgresql-15 installed?");
	/* dbosd lets the postgres group in, as an admin would with --group postgres */
	stop(self);
	self->s.ec.group = g->gr_gid;
	ASSERT_EQ(0, start(_metadata, self));
	ASSERT_EQ(0, store_processes(self->s.st, 1000, 1010));
	snprintf(pgdir, sizeof(pgdir), "%s/pg", self->s.dir);
	ASSERT_EQ(0, mkdir(pgdir, 0700));
	ASSERT_EQ(0, chown(pgdir, getpwnam("postgres")->pw_uid, g->gr_gid));
	snprintf(cmd, sizeof(cmd), "cd / && runuser -u postgres -- %s/initdb -A trust -D '%s/data' "
		 ">'%s/initdb.log' 2>&1 && runuser -u postgres -- %s/pg_ctl -w -t 60 -D '%s/data' "
		 "-l '%s/log' -o \"-p %d -k '%s' -c listen_addresses=''\" start 2>&1",
		 bin, pgdir, pgdir, bin, pgdir, pgdir, port, pgdir);
	ASSERT_EQ(0, shell(cmd, out, sizeof(out))) TH_LOG("%s", out);
	snprintf(sql, sizeof(sql),
		 "CREATE EXTENSION postgres_fdw; "
		 "CREATE SERVER dbos FOREIGN DATA WRAPPER postgres_fdw "
		 "OPTIONS (host '%s', dbname 'dbos'); "
		 "CREATE USER MAPPING FOR postgres SERVER dbos; "
		 "IMPORT FOREIGN SCHEMA public LIMIT TO (process_events, processes) "
		 "FROM SERVER dbos INTO public;", self->s.dir);
	snprintf(cmd, sizeof(cmd), "cd / && runuser -u postgres -- psql -X -v ON_ERROR_STOP=1 -h '%s' "
		 "-p %d -d postgres -c \"%s\" 2>&1", pgdir, port, sql);
	EXPECT_EQ(0, shell(cmd, out, sizeof(out))) TH_LOG("%s", out);
	snprintf(cmd, sizeof(cmd), "cd / && runuser -u postgres -- psql -X -A -t -v ON_ERROR_STOP=1 "
		 "-h '%s' -p %d -d postgres -c 'SELECT count(*), min(seq), max(pid) FROM "
		 "process_events' -c 'SELECT pid, path FROM process_events WHERE seq = 7' "
		 "-c '\\d process_events' 2>&1", pgdir, port);
	EXPECT_EQ(0, shell(cmd, out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_EQ(0, strncmp(out, "300|1|1300\n1007|/usr/bin/true\n", 30)) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "bigint")) TH_LOG("%s", out);
	/* a join of a local table with a dbos table; the WHERE goes to dbosd */
	snprintf(cmd, sizeof(cmd), "cd / && runuser -u postgres -- psql -X -A -t -v ON_ERROR_STOP=1 "
		 "-h '%s' -p %d -d postgres "
		 "-c \"CREATE TABLE watched(pid bigint, why text); INSERT INTO watched VALUES "
		 "(1007, 'x'), (1009, 'y'), (5, 'none')\" "
		 "-c 'SELECT w.why, e.seq FROM watched w JOIN process_events e ON e.pid = w.pid "
		 "ORDER BY e.seq' "
		 "-c 'SELECT w.why, p.name FROM watched w JOIN processes p ON p.pid = w.pid "
		 "ORDER BY p.pid' "
		 "-c 'EXPLAIN (VERBOSE, COSTS OFF) SELECT pid FROM process_events WHERE seq = 7' 2>&1",
		 pgdir, port);
	EXPECT_EQ(0, shell(cmd, out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "x|7\ny|9\nx|proc-1007\ny|proc-1009\n")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "WHERE ((seq = 7))")) TH_LOG("%s", out);
	snprintf(cmd, sizeof(cmd), "cd / && runuser -u postgres -- %s/pg_ctl -w -D '%s/data' -m fast "
		 "stop >/dev/null 2>&1", bin, pgdir);
	EXPECT_EQ(0, shell(cmd, out, sizeof(out)));
}

/* psycopg 3 and psycopg2 (Debian's): parameters, types, a server-side cursor (pg_python.py). */
TEST_F(pg, psycopg_and_psycopg2_parameters_named_cursors_types)
{
	static const char *const drivers[] = { "psycopg", "psycopg2" };
	static char out[1 << 14];
	char cmd[PATH_MAX * 2];

	for (int i = 0; i < 2; i++) {
		snprintf(cmd, sizeof(cmd), "/usr/bin/python3 tests/host/pg_python.py %s '%s' 2>&1",
			 drivers[i], self->s.dir);
		EXPECT_EQ(0, shell(cmd, out, sizeof(out))) TH_LOG("%s: %s", drivers[i], out);
		EXPECT_STREQ("[(5, 1005, '/usr/bin/true'), (6, 1006, '/usr/bin/true'), "
			     "(7, 1007, '/usr/bin/true')]\nTrue\n45150\n300\nUndefinedTable\n"
			     "(1.5, None, 'x', 7)\n", out) TH_LOG("%s", drivers[i]);
	}
}

/* A TCP connection to the fixture with @extra conninfo. */
static PGconn *tcp_connect(FIXTURE_DATA(pg) *self, const char *extra)
{
	char info[512];

	snprintf(info, sizeof(info), "host=127.0.0.1 port=%d dbname=dbos connect_timeout=10 %s",
		 self->s.port, extra);
	return PQconnectdb(info);
}

TEST_F(pg, tcp_is_tls_with_scram_only)
{
	PGconn *c;
	PGresult *r;

	ASSERT_GT(self->s.port, 0);
	c = tcp_connect(self, "user=root password='" ROOT_PASSWORD "' sslmode=require");
	ASSERT_EQ(CONNECTION_OK, PQstatus(c)) TH_LOG("%s", PQerrorMessage(c));
	EXPECT_EQ(1, PQsslInUse(c));
	r = PQexec(c, "SELECT count(*) FROM process_events");
	EXPECT_STREQ("300", PQgetvalue(r, 0, 0));
	PQclear(r);
	/* big results through TLS: many 64 KiB flushes */
	r = PQexec(c, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
		   "WHERE i < 200000) SELECT i, printf('%0100d', i) FROM n");
	EXPECT_EQ(PGRES_TUPLES_OK, PQresultStatus(r)) TH_LOG("%s", PQresultErrorMessage(r));
	EXPECT_EQ(200000, PQntuples(r));
	PQclear(r);
	PQfinish(c);

	/* the wrong password, and a user the file does not have: the same words */
	c = tcp_connect(self, "user=root password=wrong sslmode=require");
	EXPECT_EQ(CONNECTION_BAD, PQstatus(c));
	EXPECT_NE(NULL, strstr(PQerrorMessage(c), "password authentication failed for user "
			       "\"root\"")) TH_LOG("%s", PQerrorMessage(c));
	PQfinish(c);
	c = tcp_connect(self, "user=mallory password=x sslmode=require");
	EXPECT_EQ(CONNECTION_BAD, PQstatus(c));
	EXPECT_NE(NULL, strstr(PQerrorMessage(c), "password authentication failed for user "
			       "\"mallory\"")) TH_LOG("%s", PQerrorMessage(c));
	PQfinish(c);
	/* a right password of a user who may not query (not root, not in the group) */
	c = tcp_connect(self, "user=nobody password=" NOBODY_PASSWORD " sslmode=require");
	EXPECT_EQ(CONNECTION_BAD, PQstatus(c));
	EXPECT_NE(NULL, strstr(PQerrorMessage(c), "permission denied")) TH_LOG("%s",
										PQerrorMessage(c));
	PQfinish(c);
	/* no TLS: refused before any password is asked for */
	c = tcp_connect(self, "user=root password='" ROOT_PASSWORD "' sslmode=disable");
	EXPECT_EQ(CONNECTION_BAD, PQstatus(c));
	EXPECT_NE(NULL, strstr(PQerrorMessage(c), "TLS only")) TH_LOG("%s", PQerrorMessage(c));
	PQfinish(c);
	/* channel binding is not offered: a client that requires it gives up */
	c = tcp_connect(self, "user=root password='" ROOT_PASSWORD "' sslmode=require "
			"channel_binding=require");
	EXPECT_EQ(CONNECTION_BAD, PQstatus(c));
	PQfinish(c);
}

TEST_F(pg, tcp_cancel_reaches_only_tcp_statements)
{
	PGconn *c = tcp_connect(self, "user=root password='" ROOT_PASSWORD "' sslmode=require");
	PGcancel *cancel;
	PGresult *r;
	char err[256];

	ASSERT_EQ(CONNECTION_OK, PQstatus(c)) TH_LOG("%s", PQerrorMessage(c));
	ASSERT_EQ(1, PQsendQuery(c, ENDLESS));
	usleep(200 * 1000);
	cancel = PQgetCancel(c);
	ASSERT_EQ(1, PQcancel(cancel, err, sizeof(err))) TH_LOG("%s", err);
	PQfreeCancel(cancel);
	r = PQgetResult(c);
	EXPECT_STREQ("57014", state_of(r)) TH_LOG("%s", PQresultErrorMessage(r));
	PQclear(r);
	while ((r = PQgetResult(c)))
		PQclear(r);
	PQfinish(c);
}

TEST_HARNESS_MAIN
