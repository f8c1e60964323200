// SPDX-License-Identifier: GPL-2.0
/* bench_sql.c - host benchmark of SQL over the store: full scan, point lookup, newest events. */

/*
 * Fills a store in a temporary directory with 100,000 processes rows and
 * 1,000,000 process_events rows (realistic strings), then prints one line per
 * figure, "name value (target ...)":
 *
 *   sql_scan_100k_ms        SELECT * FROM processes, every row and column read
 *   sql_pid_lookup_us       SELECT * FROM processes WHERE pid = ? (prepared)
 *   sql_events_desc10_us    SELECT * FROM process_events ORDER BY seq DESC LIMIT 10
 *   sql_events_seq_lookup_us  SELECT * FROM process_events WHERE seq = ? (prepared)
 *   sql_events_range100_us  SELECT * FROM process_events WHERE seq >= ? AND seq < ? + 100
 *
 * Each is the median of repeated runs. Exits 1 if a query fails or returns
 * the wrong number of rows; missing a target only shows in the output.
 * Usage: bench_sql [dir]   (default: a fresh directory under $TMPDIR or /tmp)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbserver/sql/schema.h"
#include "dbserver/sql/sql.h"
#include "dbserver/sql/sql_int.h"
#include "dbserver/store/chunk.h"
#include "dbserver/store/row.h"
#include "dbserver/store/store.h"

#define NPROC		100000
#define NEVENT		1000000
#define SCAN_RUNS	9
#define LOOKUPS		20000
#define DESC_RUNS	2000

static const char *const progs[][3] = {	/* name, path, cmdline */
	{ "systemd", "/usr/lib/systemd/systemd", "/sbin/init splash" },
	{ "bash", "/usr/bin/bash", "-bash" },
	{ "nginx", "/usr/sbin/nginx", "nginx: worker process" },
	{ "python3", "/usr/bin/python3.11", "/usr/bin/python3 -m http.server 8000 --bind 127.0.0.1" },
	{ "postgres", "/usr/lib/postgresql/15/bin/postgres", "postgres: 15/main: checkpointer" },
	{ "sshd", "/usr/sbin/sshd", "sshd: alice [priv]" },
	{ "kworker/3:1", "", "" },
	{ "java", "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
	  "java -Xmx2g -Dlog4j.configurationFile=/etc/app/log4j2.xml -jar /opt/app/app.jar --spring.profiles.active=prod" },
	{ "containerd-shim", "/usr/bin/containerd-shim-runc-v2",
	  "/usr/bin/containerd-shim-runc-v2 -namespace moby -id 4f1c2b9e8a7d -address /run/containerd/containerd.sock" },
	{ "node", "/usr/bin/node", "node /srv/web/server.js --port 3000" },
};
#define NPROGS (sizeof(progs) / sizeof(progs[0]))
static const char *const states[] = { "S", "R", "D", "I", "Z" };
static const char *const events[] = { "fork", "exec", "exit", "comm", "cred" };

static double clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double now_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

/* CPU time of this thread: what the query cost, whatever else the machine runs. */
static double cpu_us(void)
{
	return clock_us(CLOCK_THREAD_CPUTIME_ID);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_sql: %s: %s\n", what, msg ? msg : "failed");
	exit(1);
}

static void put(struct store_batch *b, const struct schema_table *t, uint64_t key,
		const struct row_value *v)
{
	char buf[2048];
	unsigned char k[8];
	size_t len = row_encode(v, t->ncols, buf, sizeof(buf));

	if (len > sizeof(buf))
		die("row_encode", "row too large");
	if (schema_key_bytes(t) == 4)
		store_key_be32(k, (uint32_t)key);
	else
		store_key_be64(k, key);
	store_batch_put(b, t->cf, k, schema_key_bytes(t), buf, len);
}

/* A process_events row, in chunks as the mirror writes them (store/chunk.h); NULL @v: the last. */
static void put_event(struct store_batch *b, uint64_t seq, const struct row_value *v)
{
	static struct chunk_buf c;
	unsigned char k[8];
	char buf[2048];
	size_t len = v ? row_encode(v, PROCESS_EVENTS__COUNT, buf, sizeof(buf)) : 0;

	if (len > sizeof(buf))
		die("row_encode", "row too large");
	if (c.count && (!v || c.count == CHUNK_MAX_ROWS || c.len + len > CHUNK_MAX_BYTES)) {
		store_key_be64(k, c.key);
		store_batch_put(b, STORE_CF_PROCESS_EVENTS, k, sizeof(k), c.b, c.len);
		c.count = 0;
	}
	if (!v) {
		chunk_buf_free(&c);
		return;
	}
	if ((!c.count && chunk_start(&c, seq)) || chunk_append(&c, seq, buf, len))
		die("chunk_append", "out of memory");
}

static void flush(struct store *st, struct store_batch *b)
{
	char *err = NULL;

	if (store_write(st, b, &err))
		die("store_write", err);
	store_batch_clear(b);
}

static void fill(struct store *st)
{
	struct store_batch *b = store_batch_new();
	struct row_value v[32];
	char cwd[64];

	for (uint32_t pid = 1; pid <= NPROC; pid++) {
		const char *const *p = progs[pid % NPROGS];

		snprintf(cwd, sizeof(cwd), "/home/user%u/src/project", pid % 50);
		v[PROCESSES_PID] = row_int(pid);
		v[PROCESSES_PARENT] = row_int(pid > 1 ? pid / 3 + 1 : 0);
		v[PROCESSES_NAME] = row_text(p[0], strlen(p[0]));
		v[PROCESSES_PATH] = row_text(p[1], strlen(p[1]));
		v[PROCESSES_CMDLINE] = row_text(p[2], strlen(p[2]));
		v[PROCESSES_STATE] = row_text(states[pid % 5], 1);
		v[PROCESSES_UID] = row_int(pid % 4 ? 1000 + pid % 7 : 0);
		v[PROCESSES_GID] = row_int(pid % 4 ? 1000 + pid % 7 : 0);
		v[PROCESSES_EUID] = row_int(pid % 4 ? 1000 + pid % 7 : 0);
		v[PROCESSES_EGID] = row_int(pid % 4 ? 1000 + pid % 7 : 0);
		v[PROCESSES_NICE] = row_int((int)(pid % 40) - 20);
		v[PROCESSES_THREADS] = row_int(1 + pid % 64);
		v[PROCESSES_START_TIME] = row_int(1732400000LL + pid);
		v[PROCESSES_CWD] = pid % 10 ? row_text(cwd, strlen(cwd)) : row_null();
		v[PROCESSES_SCHED_POLICY] = row_text("other", 5);
		v[PROCESSES_SEQ] = row_int(pid * 7LL);
		put(b, &schema_processes, pid, v);
		if (pid % 10000 == 0)
			flush(st, b);
	}
	for (uint64_t seq = 1; seq <= NEVENT; seq++) {
		const char *const *p = progs[seq % NPROGS];
		const char *ev = events[seq % 5];
		uint32_t pid = seq % NPROC + 1;

		v[PROCESS_EVENTS_SEQ] = row_int((int64_t)seq);
		v[PROCESS_EVENTS_TIME] = row_int(1732400000LL + (int64_t)seq / 1000);
		v[PROCESS_EVENTS_TIME_NS] = row_int(1732400000000000000LL + (int64_t)seq * 1000003);
		v[PROCESS_EVENTS_EVENT] = row_text(ev, strlen(ev));
		v[PROCESS_EVENTS_PID] = row_int(pid);
		v[PROCESS_EVENTS_TID] = row_int(pid);
		v[PROCESS_EVENTS_PARENT] = row_int(pid / 3 + 1);
		v[PROCESS_EVENTS_NAME] = row_text(p[0], strlen(p[0]));
		v[PROCESS_EVENTS_PATH] = row_text(p[1], strlen(p[1]));
		v[PROCESS_EVENTS_CMDLINE] = row_text(p[2], strlen(p[2]));
		v[PROCESS_EVENTS_UID] = row_int(1000);
		v[PROCESS_EVENTS_GID] = row_int(1000);
		v[PROCESS_EVENTS_EUID] = row_int(1000);
		v[PROCESS_EVENTS_EGID] = row_int(1000);
		v[PROCESS_EVENTS_EXIT_CODE] = seq % 5 == 2 ? row_int(0) : row_null();
		v[PROCESS_EVENTS_CPU] = row_int((int64_t)seq % 8);
		put_event(b, seq, v);
		if (seq % 10000 == 0)
			flush(st, b);
	}
	put_event(b, 0, NULL);
	flush(st, b);
	store_batch_free(b);
}

/* Steps @stmt to the end reading every column; returns the row count. */
static long drain(sqlite3 *db, sqlite3_stmt *stmt)
{
	int ncol = sqlite3_column_count(stmt);
	long rows = 0;
	size_t bytes = 0;
	int rc;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		for (int c = 0; c < ncol; c++) {
			switch (sqlite3_column_type(stmt, c)) {
			case SQLITE_INTEGER:
				bytes += (size_t)sqlite3_column_int64(stmt, c) & 1;
				break;
			case SQLITE_TEXT:
				bytes += sqlite3_column_bytes(stmt, c) +
					 (sqlite3_column_text(stmt, c) != NULL);
				break;
			}
		}
		rows++;
	}
	if (rc != SQLITE_DONE)
		die("sqlite3_step", sqlite3_errmsg(db));
	sqlite3_reset(stmt);
	return bytes ? rows : -1;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		die(sql, sqlite3_errmsg(db));
	return stmt;
}

int main(int argc, char **argv)
{
	static double t[LOOKUPS > DESC_RUNS ? LOOKUPS : DESC_RUNS];
	char dir[4096];
	const char *tmp = getenv("TMPDIR");
	struct store *st;
	struct sql_env env = { 0 };
	sqlite3 *db;
	sqlite3_stmt *stmt;
	struct sql_session client = { .uid = 1000, .pid = getpid(), .memory_limit = 256 << 20 };
	char *err = NULL;
	double t0;
	long n;

	if (sql_init(&err))	/* as dbosd does, before anything uses SQLite */
		die("sql_init", err);
	if (argc > 1) {
		snprintf(dir, sizeof(dir), "%s", argv[1]);
	} else {
		snprintf(dir, sizeof(dir), "%s/dbos-bench-sql.XXXXXX", tmp ? tmp : "/tmp");
		if (!mkdtemp(dir))
			die("mkdtemp", dir);
	}
	if (store_open(dir, &st, &err))
		die("store_open", err);
	t0 = now_us();
	fill(st);
	printf("store_fill_rows_per_s %.0f (%d processes + %d process_events rows)\n",
	       (NPROC + NEVENT) / ((now_us() - t0) / 1e6), NPROC, NEVENT);
	/* Measure a settled store, as after a restart: memtables flushed,
	 * background work done (store_close waits for it). */
	store_close(st);
	if (store_open(dir, &st, &err))
		die("store_open", err);
	env.st = st;
	/* A client's session as dbosd opens it: guarded, with its memory charged. */
	if (sql_open_session(&env, &client, &db, &err))
		die("sql_open_session", err);

	/* Full scan of processes: every row, every column. */
	static double cpu[SCAN_RUNS];

	stmt = prepare(db, "SELECT * FROM processes");
	drain(db, stmt);	/* warm-up: loads the block cache */
	for (int r = 0; r < SCAN_RUNS; r++) {
		double c0 = cpu_us();

		t0 = now_us();
		n = drain(db, stmt);
		t[r] = (now_us() - t0) / 1e3;
		cpu[r] = (cpu_us() - c0) / 1e3;
		if (n != NPROC)
			die("scan", "wrong row count");
	}
	sqlite3_finalize(stmt);
	double scan = median(t, SCAN_RUNS), scan_cpu = median(cpu, SCAN_RUNS);

	/* For scale: the same scan of a table in SQLite's own in-memory btree. */
	if (sqlite3_exec(db, "CREATE TEMP TABLE native AS SELECT * FROM processes",
			 NULL, NULL, &err) != SQLITE_OK)
		die("CREATE TEMP TABLE", err);
	stmt = prepare(db, "SELECT * FROM native");
	drain(db, stmt);
	for (int r = 0; r < SCAN_RUNS; r++) {
		double c0 = cpu_us();

		t0 = now_us();
		n = drain(db, stmt);
		t[r] = (now_us() - t0) / 1e3;
		cpu[r] = (cpu_us() - c0) / 1e3;
		if (n != NPROC)
			die("native scan", "wrong row count");
	}
	sqlite3_finalize(stmt);
	sqlite3_exec(db, "DROP TABLE native", NULL, NULL, NULL);
	printf("sql_scan_100k_ms %.1f (target < 50; cpu %.1f ms; the same scan of "
	       "a SQLite in-memory table: %.1f ms, cpu %.1f ms)\n", scan, scan_cpu,
	       median(t, SCAN_RUNS), median(cpu, SCAN_RUNS));

	/* Point lookups by random pid. */
	stmt = prepare(db, "SELECT * FROM processes WHERE pid = ?");
	srand(42);
	for (int r = 0; r < LOOKUPS; r++) {
		int pid = 1 + rand() % NPROC;

		t0 = now_us();
		sqlite3_bind_int(stmt, 1, pid);
		n = drain(db, stmt);
		t[r] = now_us() - t0;
		if (n != 1)
			die("lookup", "wrong row count");
	}
	sqlite3_finalize(stmt);
	printf("sql_pid_lookup_us %.1f (target < 100)\n", median(t, LOOKUPS));

	/* The newest ten of a million events. */
	uint64_t before = vtab_rows_read();

	stmt = prepare(db, "SELECT * FROM process_events ORDER BY seq DESC LIMIT 10");
	for (int r = 0; r < DESC_RUNS; r++) {
		t0 = now_us();
		n = drain(db, stmt);
		t[r] = now_us() - t0;
		if (n != 10)
			die("desc", "wrong row count");
	}
	sqlite3_finalize(stmt);
	printf("sql_events_desc10_us %.1f (%.1f rows read per query; %d events)\n",
	       median(t, DESC_RUNS), (double)(vtab_rows_read() - before) / DESC_RUNS, NEVENT);

	/* Events by seq: one, and a range of a hundred, at random places (CPU time: steadier). */
	stmt = prepare(db, "SELECT * FROM process_events WHERE seq = ?");
	for (int r = 0; r < LOOKUPS; r++) {
		sqlite3_int64 seq = 1 + rand() % NEVENT;

		t0 = cpu_us();
		sqlite3_bind_int64(stmt, 1, seq);
		n = drain(db, stmt);
		t[r] = cpu_us() - t0;
		if (n != 1)
			die("seq lookup", "wrong row count");
	}
	sqlite3_finalize(stmt);
	printf("sql_events_seq_lookup_us %.1f (CPU time)\n", median(t, LOOKUPS));
	stmt = prepare(db, "SELECT * FROM process_events WHERE seq >= ?1 AND seq < ?1 + 100");
	for (int r = 0; r < DESC_RUNS; r++) {
		sqlite3_int64 seq = 1 + rand() % (NEVENT - 100);

		t0 = cpu_us();
		sqlite3_bind_int64(stmt, 1, seq);
		n = drain(db, stmt);
		t[r] = cpu_us() - t0;
		if (n != 100)
			die("seq range", "wrong row count");
	}
	sqlite3_finalize(stmt);
	printf("sql_events_range100_us %.1f (CPU time)\n", median(t, DESC_RUNS));

	sqlite3_close(db);
	store_close(st);
	if (argc <= 1) {
		char cmd[4200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			fprintf(stderr, "bench_sql: could not remove %s\n", dir);
	}
	return 0;
}
