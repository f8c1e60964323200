// SPDX-License-Identifier: GPL-2.0
/* test_pgsql.c - host tests of the PostgreSQL dialect (pgsql.c), settings and pg_catalog on a real dbos session. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "dbserver/pgwire/catalog.h"
#include "dbserver/pgwire/pgsql.h"
#include "dbserver/pgwire/settings.h"
#include "dbserver/sql/schema.h"
#include "dbserver/sql/sql.h"
#include "dbserver/sql/sql_int.h"
#include "dbserver/store/row.h"
#include "dbserver/store/store.h"
#include "tests/host/history_put.h"

/* ---- translation ---------------------------------------------------------------------------- */

static bool strip_names = true;

/* The SQLite text of the one statement @pg ("" if it is not a QUERY). Static buffer. */
static const char *tr(const char *pg)
{
	static char buf[4096];
	struct pgsql_stmt st;
	const char *state;
	char *err;

	if (pgsql_next(pg, &st, &err, &state)) {
		snprintf(buf, sizeof(buf), "ERROR %s %s", state, err);
		free(err);
		return buf;
	}
	snprintf(buf, sizeof(buf), "%s", st.sql ? st.sql : "");
	pgsql_stmt_free(&st);
	if (strip_names) {
		/* drop the column names column_names() adds: tested on their own */
		char *p;

		while ((p = strstr(buf, " AS \""))) {
			char *q = strchr(p + 5, '"');

			if (!q)
				break;
			memmove(p, q + 1, strlen(q + 1) + 1);
		}
	}
	return buf;
}

static const struct {
	const char *pg, *sqlite;
} rules[] = {
	/* casts, by type family; chained; operands of every kind */
	{ "SELECT x::int", "SELECT CAST(x AS INTEGER)" },
	{ "SELECT 'a'::text, 1::bigint, $1::int8", "SELECT CAST('a' AS TEXT), CAST(1 AS INTEGER), CAST(?1 AS INTEGER)" },
	{ "SELECT c.oid::pg_catalog.regclass", "SELECT regclass(c.oid)" },
	{ "SELECT c.reloftype::pg_catalog.regtype::pg_catalog.text", "SELECT regtype_name(c.reloftype)" },
	{ "SELECT 'a'::regclass::oid", "SELECT CAST(regclass('a') AS INTEGER)" },
	{ "SELECT (a + b)::double precision", "SELECT CAST((a + b) AS REAL)" },
	{ "SELECT f(x, y)::character varying(10)", "SELECT CAST(f(x, y) AS TEXT)" },
	{ "SELECT t::timestamp with time zone", "SELECT CAST(t AS TEXT)" },
	{ "SELECT '{a}'::text[]", "SELECT '{a}'" },
	{ "SELECT 't'::bool, x::boolean", "SELECT pg_bool('t'), pg_bool(x)" },
	{ "SELECT n::regnamespace, p::regproc", "SELECT regnamespace(n), regproc(p)" },
	{ "SELECT CAST(x AS pg_catalog.int4), CAST(y AS regclass)", "SELECT CAST(x AS INTEGER), regclass(y)" },
	{ "SELECT a.b.c::int", "SELECT CAST(a.b.c AS INTEGER)" },
	{ "SELECT now(), date '2026-01-01'", "SELECT now(), CAST('2026-01-01' AS TEXT)" },
	{ "SELECT int '5' + 1, x AS text", "SELECT CAST('5' AS INTEGER) + 1, x AS text" },
	/* qualifiers */
	{ "SELECT pg_catalog.pg_table_is_visible(c.oid) FROM pg_catalog.pg_class c",
	  "SELECT pg_table_is_visible(c.oid) FROM pg_catalog.pg_class c" },
	{ "SELECT * FROM public.processes", "SELECT * FROM main.processes" },
	{ "SELECT * FROM \"public\".processes", "SELECT * FROM main.processes" },
	{ "SELECT * FROM information_schema.tables", "SELECT * FROM information_schema.tables" },
	/* operators */
	{ "SELECT 1 WHERE n OPERATOR(pg_catalog.~) '^a' COLLATE pg_catalog.default",
	  "SELECT 1 WHERE n REGEXP '^a'" },
	{ "SELECT a ~ 'x', a !~ 'x', a ~* 'x', a !~* 'x'",
	  "SELECT a REGEXP 'x', a NOT REGEXP 'x', a REGEXP '(?i)' || 'x', a NOT REGEXP '(?i)' || 'x'" },
	{ "SELECT a ~~ 'x%', a !~~ 'x%'", "SELECT a LIKE 'x%', a NOT LIKE 'x%'" },
	{ "SELECT ~5", "SELECT ~5" },
	{ "SELECT a ILIKE 'x', a NOT ILIKE 'y'", "SELECT a LIKE 'x', a NOT LIKE 'y'" },
	{ "SELECT a COLLATE \"C\", b COLLATE NOCASE", "SELECT a, b COLLATE NOCASE" },
	{ "SELECT a IS DISTINCT FROM b, a IS NOT DISTINCT FROM b", "SELECT a IS NOT b, a IS b" },
	/* arrays */
	{ "SELECT x = ANY(ARRAY[1,2])", "SELECT x IN (1,2)" },
	{ "SELECT x <> ALL(ARRAY['a','b'])", "SELECT x NOT IN ('a','b')" },
	{ "SELECT 'd' = any(stxkind)", "SELECT pg_array_contains(stxkind, 'd')" },
	{ "SELECT x = ANY('{a,b}')", "SELECT pg_array_contains('{a,b}', x)" },
	{ "SELECT ARRAY[1, 2]", "SELECT pg_array(1, 2)" },
	{ "SELECT x = ANY (SELECT y FROM t)", "SELECT x IN (SELECT y FROM t)" },
	{ "SELECT ARRAY(SELECT a FROM t)",
	  "SELECT (WITH pg_array_rows(v) AS (SELECT a FROM t) SELECT pg_array_agg(v) FROM pg_array_rows)" },
	{ "SELECT prattrs[s]", "SELECT pg_array_get(prattrs, s)" },
	/* limits */
	{ "SELECT 1 LIMIT ALL", "SELECT 1" },
	{ "SELECT 1 FETCH FIRST 3 ROWS ONLY", "SELECT 1 LIMIT 3" },
	{ "SELECT 1 OFFSET 2 ROWS FETCH NEXT 3 ROWS ONLY", "SELECT 1 LIMIT 3 OFFSET 2" },
	{ "SELECT 1 OFFSET 2", "SELECT 1 LIMIT -1 OFFSET 2" },
	{ "SELECT 1 LIMIT 5 OFFSET 2", "SELECT 1 LIMIT 5 OFFSET 2" },
	/* keywords that are functions; parameters */
	{ "SELECT current_user, session_user, current_schema, current_catalog, user",
	  "SELECT current_user(), session_user(), current_schema(), current_database(), current_user()" },
	{ "SELECT current_schema(), now(), version()", "SELECT current_schema(), now(), version()" },
	{ "SELECT $1, $12", "SELECT ?1, ?12" },
	{ "SELECT * FROM generate_series(1, 3) AS i", "SELECT * FROM (SELECT value AS i FROM generate_series(1, 3)) AS i" },
	{ "SELECT x FROM unnest(a) x", "SELECT x FROM (SELECT value AS x FROM json_each(pg_array_json(a))) AS x" },
	{ "SELECT s.r FROM generate_series(1, 2) as s(r)", "SELECT s.r FROM (SELECT value AS r FROM generate_series(1, 2)) AS s" },
	{ "SELECT (current_schemas(false))[s.r]", "SELECT pg_array_get((current_schemas(false)), s.r)" },
	/* strings, identifiers and comments are never rewritten */
	{ "SELECT 'x::int ~ ILIKE', \"a::b\" -- x::int\n", "SELECT 'x::int ~ ILIKE', \"a::b\"" },
	{ "SELECT /* a /* nested */ x::int */ 1", "SELECT 1" },
	{ "SELECT E'a\\nb\\t\\\\\\'c'", "SELECT 'a\nb\t\\''c'" },
	{ "SELECT E'\\x41\\101\\u00e9'", "SELECT 'AA\xc3\xa9'" },
	{ "SELECT $$it's ~ $1$$, $tag$a$$b$tag$", "SELECT 'it''s ~ $1', 'a$$b'" },
	{ "SELECT 'it''s'", "SELECT 'it''s'" },
	/* the examples of issue 18, each: casts and qualified names above; ILIKE, now(), $1, true/false, LIMIT ALL */
	{ "SELECT * FROM pg_catalog.pg_class c, public.processes p WHERE p.name ILIKE $1 AND c.relname ILIKE 'p%'",
	  "SELECT * FROM pg_catalog.pg_class c, main.processes p WHERE p.name LIKE ?1 AND c.relname LIKE 'p%'" },
	{ "SELECT now(), true, false, x IS TRUE FROM t LIMIT ALL", "SELECT now(), true, false, x IS TRUE FROM t" },
	/* EXTRACT -> date_part() */
	{ "SELECT EXTRACT(EPOCH FROM now()), extract('year' FROM t.x::timestamp)",
	  "SELECT date_part('epoch', now()), date_part('year', CAST(t.x AS TEXT))" },
	/* dropped: row locks (a session is serializable), ONLY, CONCURRENTLY */
	{ "SELECT * FROM t WHERE a = 1 FOR UPDATE", "SELECT * FROM t WHERE a = 1" },
	{ "SELECT * FROM t FOR NO KEY UPDATE OF t, u NOWAIT", "SELECT * FROM t" },
	{ "SELECT * FROM t FOR SHARE SKIP LOCKED LIMIT 1", "SELECT * FROM t LIMIT 1" },
	{ "SELECT * FROM t FOR KEY SHARE OF s.t", "SELECT * FROM t" },
	{ "SELECT * FROM ONLY public.t JOIN ONLY u ON true", "SELECT * FROM main.t JOIN u ON true" },
	{ "UPDATE ONLY t SET a = 1", "UPDATE t SET a = 1" },
	{ "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t(a)", "CREATE INDEX IF NOT EXISTS i ON t(a)" },
	/* what is not understood passes through */
	{ "SELECT x::", "SELECT x::" },
	{ "SELECT sum(x) FILTER (WHERE y)", "SELECT sum(x) FILTER (WHERE y)" },
};

TEST(translation_rules)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		EXPECT_STREQ(rules[i].sqlite, tr(rules[i].pg)) TH_LOG("from: %s", rules[i].pg);
	}
}

/* Result columns are named as PostgreSQL names them. */
TEST(column_names)
{
	static const struct {
		const char *pg, *sqlite;
	} cases[] = {
		{ "SELECT quote_ident(schema_name) FROM s", "SELECT quote_ident(schema_name) AS \"quote_ident\" FROM s" },
		{ "SELECT pg_catalog.format_type(a, b), c.relname, x AS y, count(*) n FROM t",
		  "SELECT format_type(a, b) AS \"format_type\", c.relname, x AS y, count(*) n FROM t" },
		{ "SELECT 1, 'a'::text, x::int, 1::integer, CAST(x AS text), CAST(1 AS bigint)",
		  "SELECT 1 AS \"?column?\", CAST('a' AS TEXT) AS \"text\", CAST(x AS INTEGER) AS \"x\", "
		  "CAST(1 AS INTEGER) AS \"int4\", CAST(x AS TEXT) AS \"x\", CAST(1 AS INTEGER) AS \"int8\"" },
		{ "SELECT CASE WHEN a THEN 1 END, ARRAY[1], current_user, c.oid::regclass, *, t.*",
		  "SELECT CASE WHEN a THEN 1 END AS \"case\", pg_array(1) AS \"array\", current_user() AS "
		  "\"current_user\", regclass(c.oid) AS \"oid\", *, t.*" },
		{ "SELECT a IS DISTINCT FROM b FROM t", "SELECT a IS NOT b AS \"?column?\" FROM t" },
		{ "SELECT DISTINCT f(x) FROM t UNION SELECT g(y) FROM u",
		  "SELECT DISTINCT f(x) AS \"f\" FROM t UNION SELECT g(y) FROM u" },
		{ "SELECT x IS NULL, y IS NOT NULL FROM t",
		  "SELECT x IS NULL AS \"?column?\", y IS NOT NULL AS \"?column?\" FROM t" },
	};

	strip_names = false;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EXPECT_STREQ(cases[i].sqlite, tr(cases[i].pg)) TH_LOG("from: %s", cases[i].pg);
	}
	strip_names = true;
}

/* Every statement of @text: kinds and consumed bytes add up. */
TEST(splitting)
{
	const char *text = "SELECT 'a;b'; -- c;\n SELECT \"x;y\" FROM t; /* ; */ ;; SELECT $$;$$";
	enum pgsql_kind kinds[8];
	const char *p = text, *state;
	struct pgsql_stmt st;
	int n = 0;
	char *err;

	while (n < 8) {
		ASSERT_EQ(0, pgsql_next(p, &st, &err, &state));
		if (!st.consumed) {
			EXPECT_EQ(PGSQL_EMPTY, st.kind);
			pgsql_stmt_free(&st);
			break;
		}
		kinds[n++] = st.kind;
		p += st.consumed;
		pgsql_stmt_free(&st);
	}
	ASSERT_EQ(5, n);
	EXPECT_EQ(PGSQL_QUERY, kinds[0]);
	EXPECT_EQ(PGSQL_QUERY, kinds[1]);	/* the comment is whitespace before it */
	EXPECT_EQ(PGSQL_EMPTY, kinds[2]);	/* a comment, then ';' */
	EXPECT_EQ(PGSQL_EMPTY, kinds[3]);
	EXPECT_EQ(PGSQL_QUERY, kinds[4]);
	EXPECT_EQ((size_t)(p - text), strlen(text));
	/* a trigger's body keeps its ';' */
	ASSERT_EQ(0, pgsql_next("CREATE TEMP TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; SELECT 2; END; SELECT 3",
				&st, &err, &state));
	EXPECT_EQ(PGSQL_QUERY, st.kind);
	EXPECT_STREQ("CREATE TRIGGER", st.tag);
	EXPECT_NE(NULL, strstr(st.sql, "SELECT 2; END"));
	pgsql_stmt_free(&st);
}

struct kind_case {
	const char *pg;
	enum pgsql_kind kind;
	const char *name, *value, *tag;
};

TEST(statement_kinds)
{
	static const struct kind_case cases[] = {
		{ "set search_path = pg_catalog", PGSQL_SET, "search_path", "pg_catalog", "SET" },
		{ "SET SESSION DateStyle TO 'ISO', 'MDY'", PGSQL_SET, "datestyle", "ISO, MDY", "SET" },
		{ "SET LOCAL statement_timeout = 0", PGSQL_SET, "statement_timeout", "0", "SET" },
		{ "SET extra_float_digits = -1", PGSQL_SET, "extra_float_digits", "-1", "SET" },
		{ "SET search_path TO \"$user\", public", PGSQL_SET, "search_path", "\"$user\", public", "SET" },
		{ "SET myapp.tenant = 7", PGSQL_SET, "myapp.tenant", "7", "SET" },
		{ "SET TIME ZONE 'UTC'", PGSQL_SET, "timezone", "UTC", "SET" },
		{ "SET NAMES 'UTF8'", PGSQL_SET, "client_encoding", "UTF8", "SET" },
		{ "SET application_name TO DEFAULT", PGSQL_SET, "application_name", NULL, "SET" },
		{ "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", PGSQL_SET, "transaction", NULL, "SET" },
		{ "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", PGSQL_SET, "transaction", NULL, "SET" },
		{ "RESET ALL", PGSQL_RESET, "all", NULL, "RESET" },
		{ "RESET TimeZone", PGSQL_RESET, "timezone", NULL, "RESET" },
		{ "SHOW ALL", PGSQL_SHOW, "all", NULL, "SHOW" },
		{ "show server_version", PGSQL_SHOW, "server_version", NULL, "SHOW" },
		{ "SHOW TRANSACTION ISOLATION LEVEL", PGSQL_SHOW, "transaction_isolation", NULL, "SHOW" },
		{ "BEGIN", PGSQL_BEGIN, NULL, NULL, "BEGIN" },
		{ "BEGIN WORK ISOLATION LEVEL READ COMMITTED, READ WRITE", PGSQL_BEGIN, NULL, NULL, "BEGIN" },
		{ "START TRANSACTION ISOLATION LEVEL REPEATABLE READ", PGSQL_BEGIN, NULL, NULL, "BEGIN" },
		{ "start transaction read only not deferrable", PGSQL_BEGIN, NULL, NULL, "BEGIN" },
		{ "COMMIT", PGSQL_COMMIT, NULL, NULL, "COMMIT" },
		{ "END TRANSACTION", PGSQL_COMMIT, NULL, NULL, "COMMIT" },
		{ "COMMIT TRANSACTION", PGSQL_COMMIT, NULL, NULL, "COMMIT" },
		{ "ROLLBACK WORK", PGSQL_ROLLBACK, NULL, NULL, "ROLLBACK" },
		{ "ABORT TRANSACTION", PGSQL_ROLLBACK, NULL, NULL, "ROLLBACK" },
		{ "ROLLBACK TO SAVEPOINT a", PGSQL_QUERY, NULL, NULL, "ROLLBACK" },
		{ "SAVEPOINT \"_pg3_1\"", PGSQL_QUERY, NULL, NULL, "SAVEPOINT" },
		{ "DECLARE c1 CURSOR FOR SELECT 1::int", PGSQL_DECLARE, "c1", NULL, "DECLARE CURSOR" },
		{ "DECLARE \"Cur\" NO SCROLL CURSOR WITHOUT HOLD FOR SELECT 1", PGSQL_DECLARE, "Cur", NULL, "DECLARE CURSOR" },
		{ "FETCH 100 FROM c1", PGSQL_FETCH, "c1", NULL, "FETCH" },
		{ "FETCH FORWARD 10 FROM \"dbos_cursor\"", PGSQL_FETCH, "dbos_cursor", NULL, "FETCH" },
		{ "FETCH ALL IN c", PGSQL_FETCH, "c", NULL, "FETCH" },
		{ "FETCH c", PGSQL_FETCH, "c", NULL, "FETCH" },
		{ "MOVE FORWARD ALL FROM c", PGSQL_FETCH, "c", NULL, "MOVE" },
		{ "CLOSE c1", PGSQL_CLOSE, "c1", NULL, "CLOSE CURSOR" },
		{ "CLOSE ALL", PGSQL_CLOSE, NULL, NULL, "CLOSE CURSOR" },
		{ "COPY (SELECT 1) TO STDOUT", PGSQL_COPY_OUT, NULL, NULL, "COPY" },
		{ "DISCARD ALL", PGSQL_DISCARD, NULL, NULL, "DISCARD ALL" },
		{ "DEALLOCATE PREPARE s1", PGSQL_DISCARD, "s1", NULL, "DEALLOCATE" },
		{ "DEALLOCATE ALL", PGSQL_DISCARD, NULL, NULL, "DEALLOCATE ALL" },
		{ "LISTEN x", PGSQL_DISCARD, NULL, NULL, "LISTEN" },
		{ "INSERT INTO t VALUES (1)", PGSQL_QUERY, NULL, NULL, "INSERT" },
		{ "UPDATE processes SET nice = 1", PGSQL_QUERY, NULL, NULL, "UPDATE" },
		{ "WITH a AS (SELECT 1) SELECT * FROM a", PGSQL_QUERY, NULL, NULL, "SELECT" },
		{ "CREATE TEMP TABLE t(a)", PGSQL_QUERY, NULL, NULL, "CREATE TABLE" },
		{ "COPY t FROM STDIN", PGSQL_UNSUPPORTED, NULL, NULL, "COPY" },
		{ "COPY (SELECT 1) TO '/etc/x'", PGSQL_UNSUPPORTED, NULL, NULL, "COPY" },
		{ "SET ROLE postgres", PGSQL_UNSUPPORTED, NULL, NULL, "SET" },
		{ "FETCH PRIOR FROM c", PGSQL_UNSUPPORTED, NULL, NULL, "FETCH" },
		{ "CREATE EXTENSION postgres_fdw", PGSQL_UNSUPPORTED, NULL, NULL, NULL },
		{ "PREPARE p AS SELECT 1", PGSQL_UNSUPPORTED, NULL, NULL, NULL },
		{ "ANALYZE VERBOSE processes (pid)", PGSQL_DISCARD, NULL, NULL, "ANALYZE" },
		{ "analyse", PGSQL_DISCARD, NULL, NULL, "ANALYZE" },
		{ "ALTER SYSTEM SET x = 1", PGSQL_UNSUPPORTED, NULL, NULL, NULL },
		{ "ALTER TABLE t ADD COLUMN b", PGSQL_QUERY, NULL, NULL, "ALTER TABLE" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct kind_case *c = &cases[i];
		struct pgsql_stmt st;
		const char *state;
		char *err = NULL;

		ASSERT_EQ(0, pgsql_next(c->pg, &st, &err, &state)) TH_LOG("%s: %s", c->pg, err);
		EXPECT_EQ(c->kind, st.kind) TH_LOG("%s", c->pg);
		if (c->name) {
			EXPECT_STREQ(c->name, st.name ? st.name : "(null)") TH_LOG("%s", c->pg);
		} else if (c->kind != PGSQL_UNSUPPORTED && c->kind != PGSQL_QUERY) {
			EXPECT_EQ(NULL, st.name) TH_LOG("%s", c->pg);
		}
		if (c->value) {
			EXPECT_STREQ(c->value, st.value ? st.value : "(null)") TH_LOG("%s", c->pg);
		}
		if (c->tag) {
			EXPECT_STREQ(c->tag, st.tag ? st.tag : "(null)") TH_LOG("%s", c->pg);
		}
		if (c->kind == PGSQL_UNSUPPORTED) {
			EXPECT_NE(NULL, st.error);
			EXPECT_STREQ("0A000", st.sqlstate);
		}
		EXPECT_EQ(strlen(c->pg), st.consumed);
		pgsql_stmt_free(&st);
	}
}

/* What SQLite cannot run is refused, 0A000, with a message naming PostgreSQL's construct. */
TEST(refusals)
{
	static const struct {
		const char *pg, *words;
	} cases[] = {
		{ "SELECT DISTINCT ON (uid) uid, pid FROM processes ORDER BY uid, pid", "DISTINCT ON" },
		{ "SELECT * FROM processes p, LATERAL (SELECT 1 WHERE p.pid > 1) x", "LATERAL" },
		{ "SELECT * FROM processes p JOIN lateral f(p.pid) ON true", "LATERAL" },
		{ "SELECT U&'d\\0061t\\+000061'", "U&'...'" },
		{ "SELECT u&\"col\" FROM t", "U&'...'" },
		{ "SELECT (ARRAY[1,2,3])[1:2]", "array slices" },
		{ "SELECT a[2:] FROM t", "array slices" },
		{ "SELECT * FROM f(1) AS t(a int, b text)", "column alias lists, AS t(" },
		{ "SELECT * FROM (VALUES (1, 2)) AS v(a, b)", "column alias lists, AS v(" },
		{ "SELECT * FROM x, json_each('[]') j(k, v)", "column alias lists, AS j(" },
		{ "SELECT * FROM unnest('{a,b}'::text[]) WITH ORDINALITY AS t(x, n)", "WITH ORDINALITY" },
		{ "SELECT * FROM processes TABLESAMPLE SYSTEM (10)", "TABLESAMPLE" },
		{ "SELECT now() - interval '1 hour'", "interval" },
		{ "SELECT '1 day'::interval", "interval" },
		{ "SELECT x::pg_catalog.interval FROM t", "interval" },
		{ "SELECT CAST(x AS interval) FROM t", "interval" },
		{ "CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY, x text)", "GENERATED ... AS IDENTITY" },
		{ "CREATE TABLE t (id int GENERATED BY DEFAULT AS IDENTITY (START WITH 10))", "AS IDENTITY" },
		{ "SELECT name SIMILAR TO 'a%' FROM processes", "SIMILAR TO" },
		{ "SELECT now() AT TIME ZONE 'Europe/Paris'", "AT TIME ZONE" },
		{ "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY rss) FROM processes", "WITHIN GROUP" },
		{ "SELECT uid, count(*) FROM processes GROUP BY ROLLUP (uid)", "ROLLUP" },
		{ "SELECT uid FROM processes GROUP BY GROUPING SETS ((uid), ())", "GROUPING SETS" },
		{ "SELECT pid FROM processes ORDER BY rss FETCH FIRST 3 ROWS WITH TIES", "WITH TIES" },
		{ "INSERT INTO t VALUES (1) ON CONFLICT ON CONSTRAINT t_pkey DO NOTHING", "ON CONSTRAINT" },
		{ "DELETE FROM t USING u WHERE t.a = u.a", "DELETE ... USING" },
		{ "SELECT pid INTO saved FROM processes", "SELECT ... INTO" },
		{ "ALTER SYSTEM SET work_mem = '1MB'", "ALTER SYSTEM" },
		{ "ALTER ROLE x SET y = 1", "ALTER ROLE" },
		{ "LOCK TABLE processes", "LOCK" },
		/* inside what is translated or parsed here too */
		{ "DECLARE c CURSOR FOR SELECT DISTINCT ON (a) a FROM t", "DISTINCT ON" },
		{ "COPY (SELECT a FROM t TABLESAMPLE BERNOULLI (1)) TO STDOUT", "TABLESAMPLE" },
		{ "SELECT ARRAY(SELECT DISTINCT ON (a) a FROM t)", "DISTINCT ON" },
		{ "SELECT (SELECT U&'x')::int", "U&'...'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pgsql_stmt st;
		const char *state;
		char *err = NULL;

		ASSERT_EQ(0, pgsql_next(cases[i].pg, &st, &err, &state)) TH_LOG("%s: %s", cases[i].pg, err);
		EXPECT_EQ(PGSQL_UNSUPPORTED, st.kind) TH_LOG("%s: %s", cases[i].pg, st.sql);
		EXPECT_STREQ("0A000", st.sqlstate ? st.sqlstate : "(null)") TH_LOG("%s", cases[i].pg);
		ASSERT_NE(NULL, st.error) TH_LOG("%s", cases[i].pg);
		EXPECT_NE(NULL, strstr(st.error, cases[i].words)) TH_LOG("%s: %s", cases[i].pg, st.error);
		EXPECT_EQ(NULL, st.sql);
		EXPECT_EQ(strlen(cases[i].pg), st.consumed);
		pgsql_stmt_free(&st);
	}
	/* a Parse message's statement is refused the same way */
	{
		const char *state = NULL;
		char *err = NULL;

		EXPECT_EQ(NULL, pgsql_translate("SELECT DISTINCT ON (a) a FROM t WHERE b = $1", &err, &state));
		EXPECT_STREQ("0A000", state ? state : "(null)");
		ASSERT_NE(NULL, err);
		EXPECT_NE(NULL, strstr(err, "DISTINCT ON is PostgreSQL's and not supported by dbos (SQLite): use GROUP BY"));
		free(err);
	}
}

/*
 * Not refused: the same words inside strings, quoted identifiers and
 * comments, and what SQLite 3.40 runs itself (FILTER, RETURNING, ON
 * CONFLICT, MATERIALIZED, generated columns, a CTE's column list, window
 * functions).
 */
TEST(not_refused)
{
	static const char *const cases[] = {
		"SELECT 'DISTINCT ON (a)', 'LATERAL (', 'x[1:2]', 'interval ''1 day''', 'U&''x'''",
		"SELECT \"distinct on\", \"lateral\", \"interval\" FROM t",
		"SELECT 1 -- DISTINCT ON (a) LATERAL (x) TABLESAMPLE s (1) AT TIME ZONE 'x'\n",
		"SELECT /* SELECT a INTO b FROM c; SIMILAR TO; a[1:2]; GROUP BY ROLLUP (a) */ 1",
		"SELECT $$DISTINCT ON (a) ::interval$$, E'WITHIN GROUP (x)'",
		"SELECT sum(x) FILTER (WHERE y > 1) FROM t",
		"INSERT INTO t(a, b) VALUES (1, 2) ON CONFLICT (a) DO UPDATE SET b = excluded.b RETURNING a",
		"WITH w(a, b) AS MATERIALIZED (SELECT 1, 2) SELECT * FROM w",
		"CREATE TABLE t (a int, b int GENERATED ALWAYS AS (a * 2) STORED)",
		"CREATE TEMP TRIGGER tr AFTER UPDATE OF a ON t FOR EACH ROW BEGIN SELECT 1; END",
		"SELECT a, rank() OVER (ORDER BY a), count(*) OVER w FROM t WINDOW w AS (PARTITION BY b)",
		"SELECT * FROM json_each('[1]') AS j, t ORDER BY j.key",
		"CREATE INDEX i ON t(a)",
		"SELECT DISTINCT a FROM t",
		"SELECT interval FROM t",
		"INSERT INTO t SELECT a FROM u",
		"DELETE FROM t WHERE a IN (SELECT a FROM u JOIN v USING (a))",
		"SELECT prattrs[1] FROM t",
		"SELECT x AT_TIME FROM t",
		"SELECT true, false, x IS NOT TRUE FROM t",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pgsql_stmt st;
		const char *state;
		char *err = NULL;

		ASSERT_EQ(0, pgsql_next(cases[i], &st, &err, &state)) TH_LOG("%s: %s", cases[i], err);
		EXPECT_EQ(PGSQL_QUERY, st.kind) TH_LOG("%s: %s", cases[i], st.error);
		pgsql_stmt_free(&st);
	}
}

/* pgsql_translate: one statement, for a Parse message. */
TEST(translate_one)
{
	const char *state;
	char *err, *sql;

	sql = pgsql_translate("SELECT pid::int FROM public.processes WHERE name ILIKE $1", &err, &state);
	ASSERT_NE(NULL, sql);
	EXPECT_STREQ("SELECT CAST(pid AS INTEGER) AS \"pid\" FROM main.processes WHERE name LIKE ?1", sql);
	free(sql);
	EXPECT_EQ(NULL, pgsql_translate("SELECT 'x", &err, &state));
	EXPECT_STREQ("42601", state);
	free(err);
}

TEST(statement_fields)
{
	struct pgsql_stmt st;
	const char *state;
	char *err;

	ASSERT_EQ(0, pgsql_next("SET application_name TO DEFAULT", &st, &err, &state));
	EXPECT_TRUE(st.is_default);
	pgsql_stmt_free(&st);
	ASSERT_EQ(0, pgsql_next("SET LOCAL x.y = 'a''b'", &st, &err, &state));
	EXPECT_TRUE(st.local);
	EXPECT_STREQ("a'b", st.value);
	pgsql_stmt_free(&st);
	ASSERT_EQ(0, pgsql_next("FETCH FORWARD 10 FROM c", &st, &err, &state));
	EXPECT_EQ(10, st.count);
	EXPECT_FALSE(st.move);
	pgsql_stmt_free(&st);
	ASSERT_EQ(0, pgsql_next("FETCH ALL FROM c", &st, &err, &state));
	EXPECT_EQ(-1, st.count);
	pgsql_stmt_free(&st);
	ASSERT_EQ(0, pgsql_next("FETCH c", &st, &err, &state));
	EXPECT_EQ(1, st.count);
	pgsql_stmt_free(&st);
	ASSERT_EQ(0, pgsql_next("MOVE 5 IN c", &st, &err, &state));
	EXPECT_TRUE(st.move);
	EXPECT_EQ(5, st.count);
	pgsql_stmt_free(&st);
	ASSERT_EQ(0, pgsql_next("DECLARE c1 CURSOR WITH HOLD FOR\n\tSELECT pid FROM public.processes WHERE ((pid > 3)) ORDER BY name ASC NULLS LAST",
				&st, &err, &state));
	EXPECT_TRUE(st.hold);
	EXPECT_STREQ("SELECT pid FROM main.processes WHERE ((pid > 3)) ORDER BY name ASC NULLS LAST", st.sql);
	pgsql_stmt_free(&st);
	ASSERT_EQ(0, pgsql_next("START TRANSACTION READ ONLY", &st, &err, &state));
	EXPECT_TRUE(st.read_only);
	EXPECT_STREQ("BEGIN", st.sql);
	pgsql_stmt_free(&st);
	/* COPY, both syntaxes */
	ASSERT_EQ(0, pgsql_next("COPY (SELECT pid::int FROM processes) TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER ';')",
				&st, &err, &state));
	EXPECT_EQ(PGSQL_COPY_OUT, st.kind);
	EXPECT_STREQ("SELECT CAST(pid AS INTEGER) AS \"pid\" FROM processes", st.sql);
	EXPECT_TRUE(st.copy_csv);
	EXPECT_TRUE(st.copy_header);
	EXPECT_EQ(';', st.copy_delim);
	pgsql_stmt_free(&st);
	ASSERT_EQ(0, pgsql_next("COPY public.processes (pid, name) TO STDOUT CSV HEADER", &st, &err, &state));
	EXPECT_STREQ("SELECT pid, name FROM main.processes", st.sql);
	EXPECT_TRUE(st.copy_csv);
	EXPECT_EQ(',', st.copy_delim);
	pgsql_stmt_free(&st);
	ASSERT_EQ(0, pgsql_next("COPY processes TO STDOUT", &st, &err, &state));
	EXPECT_STREQ("SELECT * FROM processes", st.sql);
	EXPECT_FALSE(st.copy_csv);
	EXPECT_EQ('\t', st.copy_delim);
	pgsql_stmt_free(&st);
	/* the end */
	ASSERT_EQ(0, pgsql_next("", &st, &err, &state));
	EXPECT_EQ(PGSQL_EMPTY, st.kind);
	EXPECT_EQ(0, st.consumed);
	ASSERT_EQ(0, pgsql_next("  -- only a comment", &st, &err, &state));
	EXPECT_EQ(PGSQL_EMPTY, st.kind);
	EXPECT_NE(0, st.consumed);
}

TEST(errors_have_sqlstates)
{
	static const struct {
		const char *pg, *state, *words;
	} cases[] = {
		{ "SELECT 'abc", "42601", "unterminated quoted string" },
		{ "SELECT \"abc", "42601", "unterminated quoted identifier" },
		{ "SELECT /* a /* b */", "42601", "unterminated /* comment" },
		{ "SELECT $$abc", "42601", "unterminated dollar-quoted string" },
		{ "SELECT E'abc", "42601", "unterminated quoted string" },
		{ "SELECT E'\\x00'", "22021", "0x00" },
		{ "SELECT E'\\u12'", "22P06", "Unicode escape" },
		{ "SELECT \"\"", "42601", "zero-length" },
		{ "SET", "42601", "syntax error" },
		{ "SET x", "42601", "syntax error" },
		{ "SHOW", "42601", "syntax error" },
		{ "FETCH", "42601", "syntax error" },
		{ "FETCH 10 FROM", "42601", "syntax error" },
		{ "DECLARE c CURSOR", "42601", "syntax error" },
		{ "CLOSE", "42601", "syntax error" },
		{ "BEGIN ISOLATION LEVEL SOMETIMES", "42601", "SOMETIMES" },
		{ "COPY (SELECT 1", "42601", "syntax error" },
		{ "COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, DELIMITER ';;')", "22023", "delimiter" },
		{ "COPY (SELECT 1) TO STDOUT (BOGUS 1)", "42601", "not recognized" },
		{ "SELECT $1x", "42601", "syntax error" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pgsql_stmt st;
		const char *state = NULL;
		char *err = NULL;

		EXPECT_EQ(-1, pgsql_next(cases[i].pg, &st, &err, &state)) TH_LOG("%s", cases[i].pg);
		if (!err)
			continue;
		EXPECT_STREQ(cases[i].state, state) TH_LOG("%s: %s", cases[i].pg, err);
		EXPECT_NE(NULL, strstr(err, cases[i].words)) TH_LOG("%s: %s", cases[i].pg, err);
		free(err);
	}
}

/* Random and truncated inputs: an answer every time, never a crash (valgrind: no leak). */
TEST(fuzz)
{
	static const char *const pieces[] = {
		"SELECT ", "'", "\"", "$$", "$a$", "$1", "::", "::int", "::text[]", "(", ")", "[", "]",
		"E'\\", "--", "/*", "*/", ";", " ", "ARRAY", "ANY", "= ANY(", "~", "!~*", "ILIKE",
		"OPERATOR(", "pg_catalog.", "public.", "COLLATE ", "CAST(", " AS ", "regclass", "SET ",
		"SHOW ", "FETCH ", "DECLARE c CURSOR FOR ", "COPY ", "TO STDOUT ", "WITH (", "FORMAT csv",
		"LIMIT ALL", "OFFSET 1 ROWS", "FETCH FIRST", "x", "1", ",", ".", "IS DISTINCT FROM",
		"generate_series(1,2) AS i", "\\", "\xc3\xa9", "BEGIN", "END", "CREATE TRIGGER",
		"DISTINCT ON (", "LATERAL ", "U&'", "[1:2]", " FROM ", "f(x) AS t(a, b)", "FOR UPDATE ",
		"OF ", "SKIP LOCKED", "ONLY ", "EXTRACT(", "epoch FROM ", "interval '", "INTERVAL",
		"GENERATED ALWAYS AS IDENTITY", "AT TIME ZONE", "DELETE ", "USING ", "INTO ",
	};
	const char *iters_env = getenv("PGSQL_FUZZ_ITERS");
	int iters = iters_env ? atoi(iters_env) : 5000;
	unsigned seed = 12345;
	char buf[512];

	for (int it = 0; it < iters; it++) {
		size_t len = 0;
		int n = rand_r(&seed) % 24;
		const char *p;

		for (int k = 0; k < n; k++) {
			const char *s = pieces[rand_r(&seed) % (sizeof(pieces) / sizeof(pieces[0]))];

			if (len + strlen(s) + 1 >= sizeof(buf))
				break;
			memcpy(buf + len, s, strlen(s));
			len += strlen(s);
		}
		if (rand_r(&seed) % 4 == 0 && len)	/* random bytes */
			buf[rand_r(&seed) % len] = (char)(rand_r(&seed) % 255 + 1);
		buf[len] = 0;
		if (len && rand_r(&seed) % 3 == 0)	/* truncated */
			buf[rand_r(&seed) % len] = 0;
		p = buf;
		for (int guard = 0; guard < 100; guard++) {
			struct pgsql_stmt st;
			const char *state;
			char *err = NULL;

			if (pgsql_next(p, &st, &err, &state)) {
				ASSERT_NE(NULL, err);
				ASSERT_EQ(5, strlen(state));
				free(err);
				break;
			}
			if (!st.consumed)
				break;
			ASSERT_LE(st.consumed, strlen(p));
			if (st.kind == PGSQL_QUERY)
				ASSERT_NE(NULL, st.sql);
			if (st.kind == PGSQL_UNSUPPORTED)
				ASSERT_NE(NULL, st.error);
			p += st.consumed;
			pgsql_stmt_free(&st);
		}
	}
}

/* ---- settings ------------------------------------------------------------------------------- */

TEST(settings)
{
	struct pgsettings *s = pgsettings_new("alice");
	const char *state, *name, *value, *doc;
	char *err = NULL;
	int n = 0;

	ASSERT_NE(NULL, s);
	EXPECT_STREQ("15.0", pgsettings_get(s, "server_version"));
	EXPECT_STREQ("150000", pgsettings_get(s, "SERVER_VERSION_NUM"));
	EXPECT_STREQ("ISO, MDY", pgsettings_get(s, "datestyle"));
	EXPECT_STREQ("UTF8", pgsettings_get(s, "client_encoding"));
	EXPECT_STREQ("alice", pgsettings_get(s, "session_authorization"));
	EXPECT_STREQ("off", pgsettings_get(s, "is_superuser"));
	EXPECT_STREQ("serializable", pgsettings_get(s, "transaction_isolation"));
	EXPECT_STREQ("\"$user\", public", pgsettings_get(s, "search_path"));
	EXPECT_EQ(NULL, pgsettings_get(s, "no_such_thing"));

	EXPECT_EQ(0, pgsettings_set(s, "application_name", "psql", &err, &state));
	EXPECT_STREQ("psql", pgsettings_get(s, "Application_Name"));
	EXPECT_EQ(0, pgsettings_set(s, "client_encoding", "unicode", &err, &state));
	EXPECT_STREQ("UTF8", pgsettings_get(s, "client_encoding"));
	EXPECT_EQ(-1, pgsettings_set(s, "client_encoding", "LATIN1", &err, &state));
	EXPECT_STREQ("22023", state);
	EXPECT_NE(NULL, strstr(err, "UTF8"));
	free(err);
	EXPECT_EQ(-1, pgsettings_set(s, "no_such_thing", "1", &err, &state));
	EXPECT_STREQ("42704", state);
	EXPECT_STREQ("unrecognized configuration parameter \"no_such_thing\"", err);
	free(err);
	EXPECT_EQ(-1, pgsettings_set(s, "server_version", "16", &err, &state));
	EXPECT_STREQ("55P02", state);
	free(err);
	EXPECT_EQ(0, pgsettings_set(s, "TimeZone", "GMT", &err, &state));
	EXPECT_EQ(-1, pgsettings_set(s, "TimeZone", "Europe/Paris", &err, &state));
	free(err);
	EXPECT_EQ(0, pgsettings_set(s, "default_transaction_read_only", "true", &err, &state));
	EXPECT_STREQ("on", pgsettings_get(s, "default_transaction_read_only"));
	EXPECT_EQ(-1, pgsettings_set(s, "default_transaction_read_only", "maybe", &err, &state));
	free(err);
	EXPECT_EQ(0, pgsettings_set(s, "transaction_isolation", "read committed", &err, &state));
	EXPECT_STREQ("serializable", pgsettings_get(s, "transaction_isolation"));
	EXPECT_EQ(0, pgsettings_set(s, "MyApp.Tenant", "7", &err, &state));
	EXPECT_STREQ("7", pgsettings_get(s, "myapp.tenant"));
	EXPECT_EQ(0, pgsettings_set(s, "application_name", NULL, &err, &state));
	EXPECT_STREQ("", pgsettings_get(s, "application_name"));
	pgsettings_reset_all(s);
	EXPECT_STREQ("UTC", pgsettings_get(s, "timezone"));
	while (pgsettings_at(s, n, &name, &value, &doc))
		n++;
	EXPECT_GT(n, 30);
	EXPECT_TRUE(pgsettings_reported("timezone"));
	EXPECT_TRUE(pgsettings_reported("server_version"));
	EXPECT_TRUE(pgsettings_reported("standard_conforming_strings"));
	EXPECT_FALSE(pgsettings_reported("search_path"));
	EXPECT_STREQ("DateStyle", pgsettings_name("DATESTYLE"));
	pgsettings_free(s);
}

/* ---- the catalog on a real session -------------------------------------------------------- */

static int setup_hook(sqlite3 *db, void *arg, char **err)
{
	return pgcatalog_setup(db, arg, err);
}

/* A dbos session with the catalog, over a store with a few processes. */
FIXTURE(cat) {
	char dir[64];
	struct store *st;
	struct sql_env env;
	struct pgsettings *settings;
	sqlite3 *db;
};

FIXTURE_SETUP(cat)
{
	struct store_batch *b = store_batch_new();
	struct sql_session session = { .uid = 0, .pid = getpid() };
	struct row_value v[PROCESSES__COUNT];
	char *err = NULL;

	strcpy(self->dir, "/tmp/dbos-test-pgsql.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, store_open(self->dir, &self->st, &err)) TH_LOG("%s", err);
	for (uint32_t pid = 1; pid <= 5; pid++) {
		char name[16], buf[1024];
		size_t len;
		unsigned char k[4];

		snprintf(name, sizeof(name), "proc-%u", pid);
		for (int c = 0; c < PROCESSES__COUNT; c++)
			v[c] = row_null();
		v[PROCESSES_PID] = row_int(pid);
		v[PROCESSES_PARENT] = row_int(pid / 2);
		v[PROCESSES_NAME] = row_text(name, strlen(name));
		v[PROCESSES_UID] = row_int(0);
		len = row_encode(v, PROCESSES__STORED, buf, sizeof(buf));
		store_key_be32(k, pid);
		store_batch_put(b, schema_processes.cf, k, sizeof(k), buf, len);
	}
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);
	self->env.st = self->st;
	self->settings = pgsettings_new("root");
	ASSERT_NE(NULL, self->settings);
	session.setup = setup_hook;
	session.setup_arg = self->settings;
	ASSERT_EQ(0, sql_open_session(&self->env, &session, &self->db, &err)) TH_LOG("%s", err);
}

FIXTURE_TEARDOWN(cat)
{
	char cmd[128];

	sqlite3_close(self->db);
	pgsettings_free(self->settings);
	store_close(self->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
	if (system(cmd))
		TH_LOG("could not remove %s", self->dir);
}

/* The result of a query: its columns and rows, each row "a|b|c". */
struct result {
	int ncols, nrows;
	char cols[1024];
	char **rows;
	char err[512];
};

static void result_free(struct result *r)
{
	for (int i = 0; i < r->nrows; i++)
		free(r->rows[i]);
	free(r->rows);
	memset(r, 0, sizeof(*r));
}

/* Run the SQLite text @sql with ?1 = @param (if not NULL). 0, or -1 and r->err. */
static int run_sqlite(sqlite3 *db, const char *sql, const char *param, struct result *r)
{
	sqlite3_stmt *st;
	int rc;

	memset(r, 0, sizeof(*r));
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(r->err, sizeof(r->err), "%s", sql_errmsg(db));
		return -1;
	}
	if (param)
		sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT);
	r->ncols = sqlite3_column_count(st);
	for (int i = 0; i < r->ncols; i++)
		snprintf(r->cols + strlen(r->cols), sizeof(r->cols) - strlen(r->cols), "%s%s",
			 i ? "|" : "", sqlite3_column_name(st, i));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char line[4096] = "";

		for (int i = 0; i < r->ncols; i++) {
			const char *v = (const char *)sqlite3_column_text(st, i);

			snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%s", i ? "|" : "",
				 v ? v : "NULL");
		}
		r->rows = realloc(r->rows, (r->nrows + 1) * sizeof(*r->rows));
		r->rows[r->nrows++] = strdup(line);
	}
	if (rc != SQLITE_DONE)
		snprintf(r->err, sizeof(r->err), "%s", sql_errmsg(db));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Translate and run the PostgreSQL text @pg (one statement). */
static int run_pg(sqlite3 *db, const char *pg, const char *param, struct result *r)
{
	struct pgsql_stmt st;
	const char *state;
	char *err;
	int rc;

	memset(r, 0, sizeof(*r));
	if (pgsql_next(pg, &st, &err, &state)) {
		snprintf(r->err, sizeof(r->err), "%s: %s", state, err);
		free(err);
		return -1;
	}
	if (st.kind != PGSQL_QUERY && st.kind != PGSQL_DECLARE && st.kind != PGSQL_COPY_OUT) {
		pgsql_stmt_free(&st);
		return 0;
	}
	rc = run_sqlite(db, st.sql, param, r);
	if (rc)
		snprintf(r->err + strlen(r->err), sizeof(r->err) - strlen(r->err), " [in: %.300s]", st.sql);
	pgsql_stmt_free(&st);
	return rc;
}

static char *slurp(const char *name)
{
	char path[PATH_MAX + 64], exe[PATH_MAX];
	ssize_t n;
	FILE *f;
	char *buf;
	long len;

	snprintf(path, sizeof(path), "tests/host/pgsql/%s", name);
	f = fopen(path, "r");
	if (!f && (n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = 0;
		*strrchr(exe, '/') = 0;
		snprintf(path, sizeof(path), "%s/../../../tests/host/pgsql/%s", exe, name);
		f = fopen(path, "r");
	}
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = calloc(1, len + 1);
	if (buf && fread(buf, 1, len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* @s with every {OID} replaced by @oid. malloc()ed. */
static char *with_oid(const char *s, int oid)
{
	char *out = malloc(strlen(s) * 2 + 1), *o = out, num[16];

	snprintf(num, sizeof(num), "%d", oid);
	while (*s) {
		if (!strncmp(s, "{OID}", 5)) {
			o = stpcpy(o, num);
			s += 5;
		} else {
			*o++ = *s++;
		}
	}
	*o = 0;
	return out;
}

/*
 * Run every statement of fixture @name on @db ({OID}: processes' oid; $1:
 * @param); each must succeed. The result of the @which-th query (0..) goes
 * to *@keep. Returns the number of statements run, -1 on a failure.
 */
static int run_fixture(struct __test_metadata *_metadata, sqlite3 *db, const char *name,
		       const char *param, int which, struct result *keep)
{
	char *text = slurp(name), *sql;
	const char *p;
	int n = 0, queries = 0;

	if (!text) {
		TH_LOG("cannot read tests/host/pgsql/%s", name);
		return -1;
	}
	sql = with_oid(text, pgcatalog_table_oid("processes"));
	free(text);
	for (p = sql; *p;) {
		struct pgsql_stmt st;
		struct result r;
		const char *state;
		char *err;

		if (pgsql_next(p, &st, &err, &state)) {
			TH_LOG("%s: %s %s", name, state, err);
			free(err);
			free(sql);
			return -1;
		}
		if (!st.consumed)
			break;
		if (st.kind == PGSQL_QUERY || st.kind == PGSQL_DECLARE) {
			if (run_sqlite(db, st.sql, strstr(st.sql, "?1") ? param : NULL, &r)) {
				TH_LOG("%s, statement %d: %s\n  pg: %.*s\n  sqlite: %s", name, n, r.err,
				       (int)st.consumed, p, st.sql);
				pgsql_stmt_free(&st);
				result_free(&r);
				free(sql);
				return -1;
			}
			if (queries++ == which && keep)
				*keep = r;
			else
				result_free(&r);
		} else if (st.kind == PGSQL_UNSUPPORTED) {
			TH_LOG("%s, statement %d refused: %s", name, n, st.error);
			pgsql_stmt_free(&st);
			free(sql);
			return -1;
		}
		n += st.kind != PGSQL_EMPTY;
		p += st.consumed;
		pgsql_stmt_free(&st);
	}
	free(sql);
	return n;
}

/* The header line psql printed for the same command on PostgreSQL 15 (tests/host/pgsql/NAME.columns). */
static void expect_columns(struct __test_metadata *_metadata, const char *file, const struct result *r)
{
	char *cols = slurp(file);

	ASSERT_NE(NULL, cols) TH_LOG("%s", file);
	cols[strcspn(cols, "\n")] = 0;
	EXPECT_STREQ(cols, r->cols) TH_LOG("%s", file);
	free(cols);
}

static bool is_table_function(const struct schema_table *t)
{
	if (t->nkeys)
		return false;
	for (int i = 0; i < t->ncols; i++)
		if (t->cols[i].hidden)
			return true;
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* psql \dt and \dt+: exactly the dbos tables of the registry, by name, with their docs. */
TEST_F(cat, psql_dt)
{
	const char *names[64];
	struct result r = { 0 };
	int n = 0;

	for (int i = 0; schema_catalog_tables[i]; i++)
		if (!is_table_function(schema_catalog_tables[i]))
			names[n++] = schema_catalog_tables[i]->name;
	qsort(names, n, sizeof(names[0]), cmp_str);
	ASSERT_EQ(1, run_fixture(_metadata, self->db, "psql_dt.sql", NULL, 0, &r));
	expect_columns(_metadata, "psql_dt.columns", &r);
	ASSERT_EQ(n, r.nrows);
	for (int i = 0; i < n; i++) {
		char want[256];

		snprintf(want, sizeof(want), "public|%s|table|root", names[i]);
		EXPECT_STREQ(want, r.rows[i]);
	}
	result_free(&r);

	ASSERT_EQ(1, run_fixture(_metadata, self->db, "psql_dt_plus.sql", NULL, 0, &r));
	expect_columns(_metadata, "psql_dt_plus.columns", &r);
	ASSERT_EQ(n, r.nrows);
	for (int i = 0; i < n; i++) {
		const struct schema_table *t = NULL;
		char want[1024];

		for (int k = 0; schema_catalog_tables[k]; k++)
			if (!strcmp(schema_catalog_tables[k]->name, names[i]))
				t = schema_catalog_tables[k];
		snprintf(want, sizeof(want), "public|%s|table|root|permanent|heap|0 bytes|%s", names[i], t->doc);
		EXPECT_STREQ(want, r.rows[i]);
	}
	result_free(&r);
}

/* psql \d processes and \d+ processes: processes' columns in order, bigint/text, with docs. */
TEST_F(cat, psql_d_processes)
{
	struct result r = { 0 };
	char want[64];
	int n;

	/* 1: the lookup of the name gives processes' oid */
	ASSERT_LT(0, run_fixture(_metadata, self->db, "psql_d_processes.sql", NULL, 0, &r));
	ASSERT_EQ(1, r.nrows);
	snprintf(want, sizeof(want), "%d|public|processes", pgcatalog_table_oid("processes"));
	EXPECT_STREQ(want, r.rows[0]);
	result_free(&r);
	/* 2: the table's kind */
	ASSERT_LT(0, run_fixture(_metadata, self->db, "psql_d_processes.sql", NULL, 1, &r));
	ASSERT_EQ(1, r.nrows);
	EXPECT_EQ(0, strncmp(r.rows[0], "0|r|0|0|0|0|0|0|0||0||p|n|heap", 30)) TH_LOG("%s", r.rows[0]);
	result_free(&r);
	/* 3: the columns */
	n = run_fixture(_metadata, self->db, "psql_d_processes.sql", NULL, 2, &r);
	ASSERT_LT(0, n);
	ASSERT_EQ(PROCESSES__COUNT, r.nrows);
	for (int i = 0; i < PROCESSES__COUNT; i++) {
		const struct schema_column *c = &schema_processes.cols[i];
		char line[256];

		snprintf(line, sizeof(line), "%s|%s|NULL|0|NULL||", c->name,
			 !strcmp(c->type, "INTEGER") ? "bigint" : "text");
		EXPECT_STREQ(line, r.rows[i]);
	}
	result_free(&r);

	/* \d+: the descriptions are the registry's docs */
	ASSERT_LT(0, run_fixture(_metadata, self->db, "psql_d_plus_processes.sql", NULL, 2, &r));
	ASSERT_EQ(PROCESSES__COUNT, r.nrows);
	for (int i = 0; i < PROCESSES__COUNT; i++) {
		const char *doc = strrchr(r.rows[i], '|');

		ASSERT_NE(NULL, doc);
		EXPECT_STREQ(schema_processes.cols[i].doc, doc + 1) TH_LOG("%s", r.rows[i]);
	}
	result_free(&r);
}

/* psql \dv, \df, \dn, \l, \du. */
TEST_F(cat, psql_other_commands)
{
	struct result r = { 0 };
	int n = 0, fns = 0;

	for (int i = 0; schema_views[i]; i++)
		n++;
	ASSERT_EQ(1, run_fixture(_metadata, self->db, "psql_dv.sql", NULL, 0, &r));
	expect_columns(_metadata, "psql_dv.columns", &r);
	EXPECT_EQ(n, r.nrows);
	for (int i = 0; i < r.nrows; i++) {
		EXPECT_NE(NULL, strstr(r.rows[i], "|view|root"));
	}
	result_free(&r);

	for (int i = 0; schema_catalog_tables[i]; i++)
		fns += is_table_function(schema_catalog_tables[i]);
	for (int i = 0; sql_changes_table(i); i++)
		fns++;
	for (int i = 0; schema_catalog_functions[i]; i++)
		fns++;
	ASSERT_EQ(1, run_fixture(_metadata, self->db, "psql_df.sql", NULL, 0, &r));
	expect_columns(_metadata, "psql_df.columns", &r);
	EXPECT_EQ(fns, r.nrows);
	for (int i = 0; i < r.nrows; i++) {
		if (strstr(r.rows[i], "|policy_rollback|")) {
			EXPECT_STREQ("public|policy_rollback|bigint|version bigint|func", r.rows[i]);
		}
	}
	result_free(&r);

	ASSERT_EQ(1, run_fixture(_metadata, self->db, "psql_dn.sql", NULL, 0, &r));
	expect_columns(_metadata, "psql_dn.columns", &r);
	ASSERT_EQ(1, r.nrows);
	EXPECT_STREQ("public|root", r.rows[0]);
	result_free(&r);

	ASSERT_EQ(1, run_fixture(_metadata, self->db, "psql_l.sql", NULL, 0, &r));
	expect_columns(_metadata, "psql_l.columns", &r);
	ASSERT_EQ(1, r.nrows);
	EXPECT_STREQ("dbos|root|UTF8|C|C|NULL|libc|NULL", r.rows[0]);
	result_free(&r);

	ASSERT_EQ(1, run_fixture(_metadata, self->db, "psql_du.sql", NULL, 0, &r));
	ASSERT_EQ(1, r.nrows);
	EXPECT_EQ(0, strncmp(r.rows[0], "root|1|1|1|1|1|-1|NULL|NULL|1|1", 31)) TH_LOG("%s", r.rows[0]);
	result_free(&r);
}

/*
 * Every captured psql command runs through; its first query answers with
 * the header psql showed on PostgreSQL 15 (none when it found nothing).
 */
TEST_F(cat, psql_every_command)
{
	static const char *const commands[] = {
		"d", "dt", "dt_plus", "d_processes", "d_plus_processes", "dv", "df", "dn", "l", "du",
		"di", "dT", "dx",
	};
	int tables = 0, views = 0;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		struct result r = { 0 };
		char sql[64], columns[64], *want;

		snprintf(sql, sizeof(sql), "psql_%s.sql", commands[i]);
		snprintf(columns, sizeof(columns), "psql_%s.columns", commands[i]);
		ASSERT_LT(0, run_fixture(_metadata, self->db, sql, NULL, 0, &r)) TH_LOG("%s", sql);
		want = slurp(columns);
		ASSERT_NE(NULL, want) TH_LOG("%s", columns);
		want[strcspn(want, "\n")] = 0;
		if (strstr(commands[i], "processes") || !strcmp(commands[i], "du")) {
			/* psql builds these tables itself from several queries */
		} else if (*want) {
			EXPECT_STREQ(want, r.cols) TH_LOG("%s", sql);
		} else {
			EXPECT_EQ(0, r.nrows) TH_LOG("%s: PostgreSQL found nothing", sql);
		}
		if (!strcmp(commands[i], "d")) {
			for (int k = 0; schema_catalog_tables[k]; k++)
				tables += !is_table_function(schema_catalog_tables[k]);
			for (int k = 0; schema_views[k]; k++)
				views++;
			EXPECT_EQ(tables + views, r.nrows);
		}
		free(want);
		result_free(&r);
	}
}

/* postgres_fdw: IMPORT FOREIGN SCHEMA's query, then its cursor. */
TEST_F(cat, postgres_fdw)
{
	struct result r = { 0 };
	int cols = 0, n = 0;

	for (int i = 0; schema_catalog_tables[i]; i++)
		for (int c = 0; c < schema_catalog_tables[i]->ncols && !is_table_function(schema_catalog_tables[i]); c++)
			cols += !schema_catalog_tables[i]->cols[c].hidden;
	/* statement 1: SELECT 1 FROM pg_namespace WHERE nspname = 'public' */
	ASSERT_LT(0, run_fixture(_metadata, self->db, "fdw.sql", NULL, 0, &r));
	EXPECT_EQ(1, r.nrows);
	result_free(&r);
	/* the import query: one row per column of every table and view, processes' in order */
	ASSERT_LT(0, run_fixture(_metadata, self->db, "fdw.sql", NULL, 1, &r));
	EXPECT_STREQ("relname|attname|format_type|attnotnull|pg_get_expr|attgenerated|collname|nspname",
		     r.cols);
	EXPECT_LT(cols, r.nrows);	/* and the views' columns */
	for (int i = 0; i < r.nrows; i++) {
		char want[256];

		if (strncmp(r.rows[i], "processes|", 10))
			continue;
		ASSERT_LT(n, PROCESSES__COUNT);
		/* as PostgreSQL answers: text columns have the default collation */
		snprintf(want, sizeof(want), "processes|%s|%s",
			 schema_processes.cols[n].name,
			 !strcmp(schema_processes.cols[n].type, "INTEGER") ?
			 "bigint|0|NULL||NULL|NULL" : "text|0|NULL||default|pg_catalog");
		EXPECT_STREQ(want, r.rows[i]);
		n++;
	}
	EXPECT_EQ(PROCESSES__COUNT, n);
	result_free(&r);
	/* the DECLARE ... FOR SELECT with pushed-down WHERE and ORDER BY ... NULLS LAST */
	ASSERT_LT(0, run_fixture(_metadata, self->db, "fdw.sql", NULL, 2, &r));
	EXPECT_EQ(2, r.nrows);	/* pids 4 and 5 */
	EXPECT_STREQ("4|proc-4", r.rows[0]);
	result_free(&r);
}

/* psycopg 3's TypeInfo.fetch and psycopg2's named cursor. */
TEST_F(cat, psycopg)
{
	struct result r = { 0 };

	/* $1 = 1: the first query; TypeInfo.fetch('text') */
	ASSERT_LT(0, run_fixture(_metadata, self->db, "psycopg.sql", "text", 2, &r));
	EXPECT_STREQ("name|oid|array_oid|regtype|delimiter", r.cols);
	ASSERT_EQ(1, r.nrows);
	EXPECT_STREQ("text|25|1009|text|,", r.rows[0]);
	result_free(&r);
	ASSERT_LT(0, run_fixture(_metadata, self->db, "psycopg.sql", "int8[]", 5, &r));
	ASSERT_EQ(1, r.nrows);
	EXPECT_STREQ("_int8|1016|0|bigint[]|,", r.rows[0]);
	result_free(&r);
}

/*
 * Every query of fixture @name answers with the column names PostgreSQL 15
 * gave the same statement (@name.columns, one line per query: capture.sh).
 */
static void expect_fixture_columns(struct __test_metadata *_metadata, sqlite3 *db,
				   const char *name, const char *param)
{
	char file[64], *cols, *line, *save = NULL;
	int k = 0;

	snprintf(file, sizeof(file), "%.*s.columns", (int)(strlen(name) - 4), name);
	cols = slurp(file);
	ASSERT_NE(NULL, cols) TH_LOG("%s", file);
	for (line = strtok_r(cols, "\n", &save); line; line = strtok_r(NULL, "\n", &save), k++) {
		struct result r = { 0 };

		ASSERT_LT(0, run_fixture(_metadata, db, name, param, k, &r));
		EXPECT_STREQ(line, r.cols) TH_LOG("%s, query %d", name, k);
		result_free(&r);
	}
	EXPECT_LT(0, k);
	free(cols);
}

/* pgJDBC's TypeInfoCache: is a type an array? */
TEST_F(cat, pgjdbc)
{
	struct result r = { 0 };

	ASSERT_EQ(2, run_fixture(_metadata, self->db, "pgjdbc.sql", "1007", 0, &r));
	EXPECT_STREQ("is_array|typtype|typname|oid", r.cols);
	ASSERT_EQ(1, r.nrows);
	EXPECT_STREQ("1|b|_int4|1007", r.rows[0]);
	result_free(&r);
	ASSERT_EQ(2, run_fixture(_metadata, self->db, "pgjdbc.sql", "20", 0, &r));
	ASSERT_EQ(1, r.nrows);
	EXPECT_STREQ("0|b|int8|20", r.rows[0]);
	result_free(&r);
	ASSERT_EQ(2, run_fixture(_metadata, self->db, "pgjdbc.sql", NULL, 1, &r));
	EXPECT_LT(40, r.nrows);
	result_free(&r);
	expect_fixture_columns(_metadata, self->db, "pgjdbc.sql", "23");
}

/* Grafana's query builder: schemas, tables, columns. */
TEST_F(cat, grafana)
{
	struct result r = { 0 };
	int n = 0;

	ASSERT_EQ(4, run_fixture(_metadata, self->db, "grafana.sql", NULL, 0, &r));
	ASSERT_EQ(1, r.nrows);
	EXPECT_STREQ("public", r.rows[0]);
	result_free(&r);
	for (int i = 0; schema_catalog_tables[i]; i++)
		n += !is_table_function(schema_catalog_tables[i]);
	ASSERT_EQ(4, run_fixture(_metadata, self->db, "grafana.sql", NULL, 1, &r));
	EXPECT_EQ(n, r.nrows);
	result_free(&r);
	ASSERT_EQ(4, run_fixture(_metadata, self->db, "grafana.sql", NULL, 2, &r));
	ASSERT_EQ(PROCESSES__COUNT, r.nrows);
	EXPECT_STREQ("pid|bigint", r.rows[0]);
	EXPECT_STREQ("name|text", r.rows[2]);
	result_free(&r);
	expect_fixture_columns(_metadata, self->db, "grafana.sql", NULL);
}

/* The functions and casts the translation calls, on the session. */
TEST_F(cat, functions)
{
	static const struct {
		const char *pg, *want;
	} cases[] = {
		{ "SELECT 'processes'::regclass::oid", NULL },
		{ "SELECT 'public.processes'::regclass::text", "processes" },
		{ "SELECT 't'::bool, 'off'::boolean, 'yes'::bool", "1|0|1" },
		{ "SELECT 'abc' ~ '^a', 'ABC' ~* '^a', 'abc' !~ 'b', 'x' ~~ 'x%'", "1|1|0|1" },
		{ "SELECT 2 = ANY(ARRAY[1,2,3]), 'b' = ANY('{a,b}'), 'c' <> ALL('{a,b}')", "1|1|1" },
		{ "SELECT ARRAY['a b', NULL, 'c'], array_to_string(ARRAY[1,2], ',')", "{\"a b\",NULL,c}|1,2" },
		{ "SELECT array_upper('{a,b,c}'::text[], 1), cardinality('{}')", "3|0" },
		{ "SELECT current_setting('server_version_num')::int, current_setting('nope', true)", "150000|NULL" },
		{ "SELECT set_config('application_name', 'grafana', false), current_setting('application_name')", "grafana|grafana" },
		{ "SELECT current_user, current_database(), current_schema()", "root|dbos|public" },
		{ "SELECT format_type(20, -1), format_type(1009, NULL), format_type(16, -1)", "bigint|text[]|boolean" },
		{ "SELECT pg_get_userbyid(10), pg_encoding_to_char(6), quote_ident('Ab'), quote_ident('ab')", "root|UTF8|\"Ab\"|ab" },
		{ "SELECT obj_description('processes'::regclass, 'pg_class') IS NOT NULL", "1" },
		{ "SELECT col_description('processes'::regclass, 1) IS NOT NULL", "1" },
		{ "SELECT count(*) FROM generate_series(1, 10)", "10" },
		{ "SELECT string_agg(relname, ',') IS NOT NULL FROM pg_class", "1" },
		{ "SELECT has_table_privilege('processes', 'SELECT'), pg_table_is_visible(1)", "1|1" },
		{ "SELECT setting FROM pg_settings WHERE name = 'TimeZone'", "UTC" },
		{ "SELECT count(*) FROM information_schema.columns WHERE table_name = 'processes'", NULL },
		{ "SELECT to_regclass('nope') IS NULL, 'int4'::regtype::oid", "1|23" },
		{ "SELECT x IS DISTINCT FROM NULL FROM (SELECT 1 AS x)", "1" },
		{ "SELECT pid FROM public.processes ORDER BY pid LIMIT ALL OFFSET 3 ROWS", NULL },
		{ "SELECT length(version()) > 10, now() IS NOT NULL", "1|1" },
		{ "SELECT true, false, 1 IS TRUE, name ILIKE upper(name) FROM processes WHERE pid = $1", "1|0|1|1" },
		{ "SELECT EXTRACT(EPOCH FROM '2026-01-02 03:04:05.5+00'), extract(year from now()) >= 2026, "
		  "EXTRACT(dow FROM '2026-12-07'), extract(hour from '2026-01-02 03:04:05+02:00')", "1767323045.5|1|1|1" },
		{ "SELECT EXTRACT(epoch FROM 1767323045), date_part('second', '2026-01-02 03:04:05.25Z')", "1767323045|5.25" },
		{ "SELECT pid FROM processes WHERE pid = 1 FOR UPDATE", "1" },
	};
	struct result r;
	char want[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ASSERT_EQ(0, run_pg(self->db, cases[i].pg, strstr(cases[i].pg, "$1") ? "1" : NULL, &r))
			TH_LOG("%s: %s", cases[i].pg, r.err);
		ASSERT_EQ(1, r.nrows >= 1) TH_LOG("%s", cases[i].pg);
		if (cases[i].want) {
			EXPECT_STREQ(cases[i].want, r.rows[0]) TH_LOG("%s", cases[i].pg);
		}
		if (i == 0) {
			snprintf(want, sizeof(want), "%d", pgcatalog_table_oid("processes"));
			EXPECT_STREQ(want, r.rows[0]);
		}
		if (strstr(cases[i].pg, "information_schema.columns")) {
			snprintf(want, sizeof(want), "%d", PROCESSES__COUNT);
			EXPECT_STREQ(want, r.rows[0]);
		}
		if (strstr(cases[i].pg, "OFFSET 3")) {
			EXPECT_EQ(2, r.nrows);
			EXPECT_STREQ("4", r.rows[0]);
		}
		result_free(&r);
	}
	/* errors are SQLite's or the function's, never a crash */
	EXPECT_EQ(-1, run_pg(self->db, "SELECT 'nope'::regclass", NULL, &r));
	EXPECT_NE(NULL, strstr(r.err, "relation \"nope\" does not exist")) TH_LOG("%s", r.err);
	EXPECT_EQ(-1, run_pg(self->db, "SELECT 'maybe'::bool", NULL, &r));
	EXPECT_NE(NULL, strstr(r.err, "invalid input syntax for type boolean")) TH_LOG("%s", r.err);
	EXPECT_EQ(-1, run_pg(self->db, "SELECT 'a' ~ '('", NULL, &r));
	EXPECT_NE(NULL, strstr(r.err, "invalid regular expression")) TH_LOG("%s", r.err);
	EXPECT_EQ(-1, run_pg(self->db, "SELECT current_setting('nope')", NULL, &r));
	EXPECT_NE(NULL, strstr(r.err, "unrecognized configuration parameter")) TH_LOG("%s", r.err);
	/* the guard is on after the catalog's ATTACHes */
	EXPECT_EQ(-1, run_pg(self->db, "ATTACH ':memory:' AS x", NULL, &r));
	EXPECT_NE(NULL, strstr(r.err, "not authorized")) TH_LOG("%s", r.err);
}

/* The type and table oids the protocol side uses. */
TEST(type_oids)
{
	EXPECT_EQ(20, pgcatalog_type_oid("INTEGER"));
	EXPECT_EQ(25, pgcatalog_type_oid("TEXT"));
	EXPECT_EQ(25, pgcatalog_type_oid(NULL));
	EXPECT_EQ(701, pgcatalog_type_oid("REAL"));
	EXPECT_EQ(17, pgcatalog_type_oid("BLOB"));
	EXPECT_STREQ("int8", pgcatalog_type_name(20));
	EXPECT_STREQ("text", pgcatalog_type_name(25));
	EXPECT_STREQ("_text", pgcatalog_type_name(1009));
	EXPECT_EQ(NULL, pgcatalog_type_name(99999));
	EXPECT_EQ(8, pgcatalog_type_len(20));
	EXPECT_EQ(-1, pgcatalog_type_len(25));
	EXPECT_EQ(PGCATALOG_FIRST_TABLE, pgcatalog_table_oid(schema_catalog_tables[0]->name));
	EXPECT_EQ(PGCATALOG_FIRST_VIEW, pgcatalog_table_oid(schema_views[0]->name));
	EXPECT_EQ(0, pgcatalog_table_oid("no_such_table"));
}

TEST_HARNESS_MAIN
