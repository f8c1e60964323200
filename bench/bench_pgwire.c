// SPDX-License-Identifier: GPL-2.0
/* bench_pgwire.c - host benchmark of PostgreSQL's protocol: dbosd through libpq vs through libdbos vs a real PostgreSQL. */

/*
 * Starts dbosd's SQL side with its PostgreSQL socket in-process
 * (tests/host/pg_side.h; process_events holds 100,000 rows) and, if
 * PostgreSQL 15 is installed, a real PostgreSQL (initdb in a temporary
 * directory, run as user postgres, a Unix socket only) with a table of the
 * same shape and rows. Then, interleaved, so that the three columns share
 * whatever else the machine runs, prints "name value (target ...)" lines:
 *
 *   pg_connect_*_us       connect + SELECT 1 + close: libpq on dbosd, libdbos
 *                         on dbosd, libpq on PostgreSQL (median, p90)
 *   pg_connect_lookup_*_us  connect + a first statement naming a table (the
 *                         key lookup) + close: SQLite reads a session's schema
 *                         (pg_catalog's too) at the first such statement
 *   pg_scan_*_ms          SELECT * FROM process_events, every row: libpq text
 *                         and binary on dbosd, libdbos on dbosd, libpq text and
 *                         binary on PostgreSQL (median); and psql -A -o /dev/null
 *                         (a process: connect, the rows, formatting) on both
 *   pg_lookup_*_us        SELECT * FROM process_events WHERE seq = $1: prepared
 *                         once through libpq, random seqs (p50, p99); libdbos has
 *                         no parameters, so its text carries the seq
 *
 * and the ratios pgwire/dbos-protocol and dbosd/PostgreSQL. Exits 1 if a
 * query fails or returns the wrong number of rows. Must run as root (it
 * starts PostgreSQL as user postgres); without PostgreSQL its column is
 * skipped with a line saying so.
 * Usage: bench_pgwire [rows [lookups [connects]]]   (100000 2000 60)
 */
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "dbos_client.h"
#include "tests/host/pg_side.h"

#define PG_BIN		"/usr/lib/postgresql/15/bin"
#define PG_PORT		5433	/* the socket is in our own directory: any port is free */
#define SCAN_RUNS	7

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The @q quantile (0.5: median) of @v[0..@n), sorting @v. */
static double quantile(double *v, int n, double q)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(int)(q * (n - 1) + 0.5)];
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_pgwire: %s: %s\n", what, msg ? msg : "failed");
	exit(1);
}

/* ---- a real PostgreSQL ---- */

struct realpg {
	char dir[PATH_MAX];
	char conninfo[PATH_MAX + 64];
	bool up;
};

static int run(const char *cmd)
{
	int rc = system(cmd);

	if (rc)
		fprintf(stderr, "bench_pgwire: failed (%d): %s\n", rc, cmd);
	return rc;
}

/* initdb, start, fill: false (and a line saying why) if PostgreSQL cannot be run. */
static bool realpg_start(struct realpg *pg, uint64_t rows)
{
	char cmd[PATH_MAX * 4];
	struct passwd *pw = getpwnam("postgres");
	PGconn *c;
	PGresult *r;

	if (access(PG_BIN "/postgres", X_OK) || access(PG_BIN "/initdb", X_OK) || !pw ||
	    geteuid()) {
		printf("postgresql: skipped (needs %s and user postgres, run as root)\n", PG_BIN);
		return false;
	}
	strcpy(pg->dir, "/tmp/dbos-bench-pg.XXXXXX");
	if (!mkdtemp(pg->dir) || chown(pg->dir, pw->pw_uid, pw->pw_gid)) {
		printf("postgresql: skipped (cannot make a temporary directory)\n");
		return false;
	}
	snprintf(cmd, sizeof(cmd), "runuser -u postgres -- %s/initdb -D '%s/data' -U postgres "
		 "--auth=trust -E UTF8 --locale=C >'%s/initdb.log' 2>&1", PG_BIN, pg->dir, pg->dir);
	if (run(cmd)) {
		printf("postgresql: skipped (initdb failed: %s/initdb.log)\n", pg->dir);
		return false;
	}
	snprintf(cmd, sizeof(cmd), "runuser -u postgres -- %s/pg_ctl -D '%s/data' -w -l '%s/log' "
		 "-o \"-k '%s' -p %d -c listen_addresses='' -c fsync=off\" start >/dev/null",
		 PG_BIN, pg->dir, pg->dir, pg->dir, PG_PORT);
	if (run(cmd)) {
		printf("postgresql: skipped (it did not start: %s/log)\n", pg->dir);
		return false;
	}
	pg->up = true;
	snprintf(pg->conninfo, sizeof(pg->conninfo), "host=%s port=%d user=postgres dbname=postgres",
		 pg->dir, PG_PORT);
	c = PQconnectdb(pg->conninfo);
	if (PQstatus(c) != CONNECTION_OK)
		die("postgresql", PQerrorMessage(c));
	snprintf(cmd, sizeof(cmd),
		 "CREATE TABLE process_events(seq bigint PRIMARY KEY, time bigint, time_ns bigint,"
		 " event text, pid bigint, tid bigint, parent bigint, name text, path text,"
		 " cmdline text, uid bigint, gid bigint, euid bigint, egid bigint, exit_code bigint,"
		 " cpu bigint);"
		 "INSERT INTO process_events (seq, event, pid, path) SELECT s, 'exec', 1000 + s,"
		 " '/usr/bin/true' FROM generate_series(1, %llu) s", (unsigned long long)rows);
	r = PQexec(c, cmd);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		die("postgresql: filling", PQerrorMessage(c));
	PQclear(r);
	r = PQexec(c, "VACUUM ANALYZE process_events");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		die("postgresql: vacuum", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return true;
}

static struct realpg pg;	/* stopped at exit, also when a query fails */

static void realpg_stop(void)
{
	char cmd[PATH_MAX * 2];

	if (!pg.dir[0])
		return;
	if (pg.up) {
		snprintf(cmd, sizeof(cmd), "runuser -u postgres -- %s/pg_ctl -D '%s/data' -m fast -w "
			 "stop >/dev/null", PG_BIN, pg.dir);
		run(cmd);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pg.dir);
	run(cmd);
	pg.dir[0] = 0;
}

/* ---- the clients ---- */

static PGconn *pq_connect(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK)
		die(conninfo, PQerrorMessage(c));
	return c;
}

/* @sql through libpq: its row count (text or binary results), or exit. */
static long pq_rows(PGconn *c, const char *sql, int binary)
{
	PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, binary);
	long n;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		die(sql, PQerrorMessage(c));
	n = PQntuples(r);
	PQclear(r);
	return n;
}

static int count_row(void *arg, int ncol, const struct dbos_value *vals)
{
	(*(long *)arg)++;
	return 0;
}

static long dbos_rows(struct dbos_conn *c, const char *sql)
{
	struct dbos_callbacks cb = { .on_row = count_row };
	char *err = NULL;
	long n = 0;

	if (dbos_query(c, sql, &cb, &n, &err))
		die(sql, err);
	return n;
}

static struct dbos_conn *dbos_open(const char *path)
{
	char *err = NULL;
	struct dbos_conn *c = dbos_connect(path, &err);

	if (!c)
		die(path, err);
	return c;
}

/* psql printing every row of process_events to /dev/null, in ms (connect included). */
static double psql_scan(const char *conninfo)
{
	char cmd[PATH_MAX + 256];
	double t = now_us();

	snprintf(cmd, sizeof(cmd), "psql -X -q -A -t -o /dev/null -d '%s' -c 'SELECT * FROM "
		 "process_events'", conninfo);
	if (system(cmd))
		die("psql", cmd);
	return (now_us() - t) / 1e3;
}

#define FIRST_LOOKUP	"SELECT * FROM process_events WHERE seq = 1"

/* connect + @sql (one row) + close through libpq, in µs. */
static double pq_connect_once(const char *conninfo, const char *sql)
{
	double t = now_us();
	PGconn *c = pq_connect(conninfo);

	if (pq_rows(c, sql, 0) != 1)
		die(sql, "not one row");
	PQfinish(c);
	return now_us() - t;
}

static double dbos_connect_once(const char *path, const char *sql)
{
	double t = now_us();
	struct dbos_conn *c = dbos_open(path);

	if (dbos_rows(c, sql) != 1)
		die(sql, "not one row");
	dbos_close(c);
	return now_us() - t;
}

/* The prepared lookup through libpq: one row, in µs. */
static double pq_lookup(PGconn *c, long seq)
{
	char arg[32];
	const char *vals[1] = { arg };
	double t;
	PGresult *r;

	snprintf(arg, sizeof(arg), "%ld", seq);
	t = now_us();
	r = PQexecPrepared(c, "lookup", 1, vals, NULL, NULL, 0);
	t = now_us() - t;
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		die("lookup", PQresultStatus(r) == PGRES_TUPLES_OK ? "not one row" : PQerrorMessage(c));
	PQclear(r);
	return t;
}

static double dbos_lookup(struct dbos_conn *c, long seq)
{
	char sql[96];
	double t;

	snprintf(sql, sizeof(sql), "SELECT * FROM process_events WHERE seq = %ld", seq);
	t = now_us();
	if (dbos_rows(c, sql) != 1)
		die("lookup", "not one row");
	return now_us() - t;
}

static void pq_prepare_lookup(PGconn *c)
{
	Oid types[1] = { 20 };
	PGresult *r = PQprepare(c, "lookup", "SELECT * FROM process_events WHERE seq = $1", 1, types);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		die("prepare", PQerrorMessage(c));
	PQclear(r);
}

static void ratio(const char *name, double a, double b, const char *what)
{
	if (a > 0 && b > 0)
		printf("%s %.2f (%s)\n", name, a / b, what);
}

int main(int argc, char **argv)
{
	long rows = argc > 1 ? atol(argv[1]) : 100000;
	int lookups = argc > 2 ? atoi(argv[2]) : 2000;
	int connects = argc > 3 ? atoi(argv[3]) : 60;
	double *cq = calloc(connects, sizeof(double)), *cd = calloc(connects, sizeof(double));
	double *cp = calloc(connects, sizeof(double));
	double *lq = calloc(lookups, sizeof(double)), *ld = calloc(lookups, sizeof(double));
	double *lp = calloc(lookups, sizeof(double));
	double *fq = calloc(connects, sizeof(double)), *fd = calloc(connects, sizeof(double));
	double *fp = calloc(connects, sizeof(double));
	double sq[SCAN_RUNS], sqb[SCAN_RUNS], sd[SCAN_RUNS], sp[SCAN_RUNS], spb[SCAN_RUNS];
	double pq[SCAN_RUNS], pp[SCAN_RUNS];
	bool have_psql = !system("psql --version >/dev/null 2>&1");
	double conn_q, conn_d, conn_p = 0, scan_q, scan_qb, scan_d, scan_p = 0, scan_pb = 0;
	double lk_q, lk_d, lk_p = 0;
	struct pg_side s;
	PGconn *q, *p = NULL;
	struct dbos_conn *d;
	bool have_pg;
	char *err = NULL;

	if (rows < 1 || lookups < 1 || connects < 1 || !cq || !cd || !cp || !lq || !ld || !lp ||
	    !fq || !fd || !fp)
		die("usage", "bench_pgwire [rows [lookups [connects]]]");
	signal(SIGPIPE, SIG_IGN);
	srandom(1);
	if (pg_side_init(&s, getgid(), rows, &err))
		die("dbosd", err);
	atexit(realpg_stop);
	have_pg = realpg_start(&pg, rows);

	/* Connection setup, the three interleaved (the first of each warms up). */
	pq_connect_once(s.conninfo, "SELECT 1");
	dbos_connect_once(s.path, "SELECT 1");
	if (have_pg)
		pq_connect_once(pg.conninfo, "SELECT 1");
	for (int i = 0; i < connects; i++) {
		cq[i] = pq_connect_once(s.conninfo, "SELECT 1");
		cd[i] = dbos_connect_once(s.path, "SELECT 1");
		if (have_pg)
			cp[i] = pq_connect_once(pg.conninfo, "SELECT 1");
		fq[i] = pq_connect_once(s.conninfo, FIRST_LOOKUP);
		fd[i] = dbos_connect_once(s.path, FIRST_LOOKUP);
		if (have_pg)
			fp[i] = pq_connect_once(pg.conninfo, FIRST_LOOKUP);
	}
	printf("pg_connect_libpq_dbosd_us %.0f (p90 %.0f; connect + SELECT 1 + close)\n",
	       conn_q = quantile(cq, connects, 0.5), quantile(cq, connects, 0.9));
	printf("pg_connect_libdbos_dbosd_us %.0f (p90 %.0f)\n",
	       conn_d = quantile(cd, connects, 0.5), quantile(cd, connects, 0.9));
	if (have_pg)
		printf("pg_connect_libpq_postgresql_us %.0f (p90 %.0f; a backend forked per connection)\n",
		       conn_p = quantile(cp, connects, 0.5), quantile(cp, connects, 0.9));
	printf("pg_connect_lookup_libpq_dbosd_us %.0f (p90 %.0f; connect + seq = 1 + close)\n",
	       quantile(fq, connects, 0.5), quantile(fq, connects, 0.9));
	printf("pg_connect_lookup_libdbos_dbosd_us %.0f (p90 %.0f)\n",
	       quantile(fd, connects, 0.5), quantile(fd, connects, 0.9));
	if (have_pg)
		printf("pg_connect_lookup_libpq_postgresql_us %.0f (p90 %.0f)\n",
		       quantile(fp, connects, 0.5), quantile(fp, connects, 0.9));

	/* SELECT * of every row. */
	q = pq_connect(s.conninfo);
	d = dbos_open(s.path);
	if (have_pg)
		p = pq_connect(pg.conninfo);
	for (int i = 0; i < SCAN_RUNS; i++) {
		const char *sql = "SELECT * FROM process_events";
		double t = now_us();

		if (pq_rows(q, sql, 0) != rows)
			die(sql, "wrong row count (libpq, dbosd)");
		sq[i] = (now_us() - t) / 1e3;
		t = now_us();
		if (pq_rows(q, sql, 1) != rows)
			die(sql, "wrong row count (libpq binary, dbosd)");
		sqb[i] = (now_us() - t) / 1e3;
		t = now_us();
		if (dbos_rows(d, sql) != rows)
			die(sql, "wrong row count (libdbos)");
		sd[i] = (now_us() - t) / 1e3;
		if (have_psql)
			pq[i] = psql_scan(s.conninfo);
		if (!have_pg)
			continue;
		if (have_psql)
			pp[i] = psql_scan(pg.conninfo);
		t = now_us();
		if (pq_rows(p, sql, 0) != rows)
			die(sql, "wrong row count (PostgreSQL)");
		sp[i] = (now_us() - t) / 1e3;
		t = now_us();
		if (pq_rows(p, sql, 1) != rows)
			die(sql, "wrong row count (PostgreSQL binary)");
		spb[i] = (now_us() - t) / 1e3;
	}
	printf("pg_scan_%ld_libpq_dbosd_ms %.1f (text)\n", rows, scan_q = quantile(sq, SCAN_RUNS, 0.5));
	printf("pg_scan_%ld_libpq_binary_dbosd_ms %.1f\n", rows, scan_qb = quantile(sqb, SCAN_RUNS, 0.5));
	printf("pg_scan_%ld_libdbos_dbosd_ms %.1f\n", rows, scan_d = quantile(sd, SCAN_RUNS, 0.5));
	if (have_psql)
		printf("pg_scan_%ld_psql_dbosd_ms %.1f (psql -A to /dev/null, connect included)\n", rows,
		       quantile(pq, SCAN_RUNS, 0.5));
	if (have_psql && have_pg)
		printf("pg_scan_%ld_psql_postgresql_ms %.1f\n", rows, quantile(pp, SCAN_RUNS, 0.5));
	if (have_pg) {
		printf("pg_scan_%ld_libpq_postgresql_ms %.1f (text)\n", rows,
		       scan_p = quantile(sp, SCAN_RUNS, 0.5));
		printf("pg_scan_%ld_libpq_binary_postgresql_ms %.1f\n", rows,
		       scan_pb = quantile(spb, SCAN_RUNS, 0.5));
	}

	/* The key lookup, prepared once. */
	pq_prepare_lookup(q);
	if (have_pg)
		pq_prepare_lookup(p);
	for (int i = 0; i < lookups; i++) {
		long seq = 1 + random() % rows;

		lq[i] = pq_lookup(q, seq);
		ld[i] = dbos_lookup(d, seq);
		if (have_pg)
			lp[i] = pq_lookup(p, seq);
	}
	lk_q = quantile(lq, lookups, 0.5);
	printf("pg_lookup_libpq_dbosd_us %.0f (p99 %.0f; prepared, seq = $1)\n", lk_q,
	       quantile(lq, lookups, 0.99));
	lk_d = quantile(ld, lookups, 0.5);
	printf("pg_lookup_libdbos_dbosd_us %.0f (p99 %.0f; the seq in the text)\n", lk_d,
	       quantile(ld, lookups, 0.99));
	if (have_pg) {
		lk_p = quantile(lp, lookups, 0.5);
		printf("pg_lookup_libpq_postgresql_us %.0f (p99 %.0f; prepared, primary key)\n", lk_p,
		       quantile(lp, lookups, 0.99));
	}

	ratio("ratio_connect_pgwire_vs_dbos", conn_q, conn_d, "libpq/libdbos on dbosd");
	ratio("ratio_scan_pgwire_vs_dbos", scan_q, scan_d, "libpq text/libdbos on dbosd");
	ratio("ratio_scan_pgwire_binary_vs_dbos", scan_qb, scan_d, "libpq binary/libdbos on dbosd");
	ratio("ratio_lookup_pgwire_vs_dbos", lk_q, lk_d, "p50, libpq/libdbos on dbosd");
	ratio("ratio_connect_dbosd_vs_postgresql", conn_q, conn_p, "libpq: dbosd/PostgreSQL");
	ratio("ratio_scan_dbosd_vs_postgresql", scan_q, scan_p, "libpq text: dbosd/PostgreSQL");
	ratio("ratio_scan_binary_dbosd_vs_postgresql", scan_qb, scan_pb,
	      "libpq binary: dbosd/PostgreSQL");
	ratio("ratio_lookup_dbosd_vs_postgresql", lk_q, lk_p, "p50, libpq: dbosd/PostgreSQL");

	PQfinish(q);
	if (p)
		PQfinish(p);
	dbos_close(d);
	realpg_stop();
	pg_side_remove(&s);
	return 0;
}
