// SPDX-License-Identifier: GPL-2.0
/* test_sql.c - host tests of SQL over the store: the stored tables, dbos_schema and dbos_stats. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "dbserver/kernel/kernel.h"
#include "dbserver/sched/sched.h"
#include "dbserver/sql/schema.h"
#include "dbserver/sql/sql.h"
#include "dbserver/sql/sql_int.h"
#include "dbserver/store/row.h"
#include "dbserver/store/store.h"
#include "tests/host/history_put.h"

#define NPROC	200		/* pids 1..NPROC */
#define NEVENT	1000		/* seqs 1..NEVENT */

static const char *const events[] = { "fork", "exec", "exit", "comm", "cred" };

/* The text of one generated row, which row_value.s points into. */
struct textbuf {
	char s[6][96];
};

/* processes row for @pid: every kind of value, NULLs and empty strings included. */
static void proc_row(uint32_t pid, struct row_value *v, struct textbuf *t)
{
	snprintf(t->s[0], sizeof(t->s[0]), "proc-%u", pid);
	snprintf(t->s[1], sizeof(t->s[1]), pid % 7 ? "/usr/bin/p%u" : "", pid);
	snprintf(t->s[2], sizeof(t->s[2]), "p%u --flag 'a b'", pid);
	snprintf(t->s[3], sizeof(t->s[3]), "/home/u%u", pid);
	v[PROCESSES_PID] = row_int(pid);
	v[PROCESSES_PARENT] = row_int(pid / 2);
	v[PROCESSES_NAME] = row_text(t->s[0], strlen(t->s[0]));
	v[PROCESSES_PATH] = row_text(t->s[1], strlen(t->s[1]));
	v[PROCESSES_CMDLINE] = row_text(t->s[2], strlen(t->s[2]));
	v[PROCESSES_STATE] = row_text(pid % 2 ? "S" : "R", 1);
	v[PROCESSES_UID] = row_int(pid % 3 * 1000);
	v[PROCESSES_GID] = row_int(pid % 3 * 1000 + 1);
	v[PROCESSES_EUID] = row_int(0);
	v[PROCESSES_EGID] = row_int(0);
	v[PROCESSES_NICE] = row_int((int)(pid % 40) - 20);
	v[PROCESSES_THREADS] = row_int(1 + pid % 5);
	v[PROCESSES_START_TIME] = row_int(1700000000LL + pid);
	v[PROCESSES_CWD] = pid % 5 ? row_text(t->s[3], strlen(t->s[3])) : row_null();
	v[PROCESSES_SCHED_POLICY] = pid == 3 ? row_text("fifo", 4) : row_text("other", 5);
	v[PROCESSES_SCHED_PRIORITY] = row_int(pid == 3 ? 10 : 0);
	v[PROCESSES_CPUS] = row_text("0-3", 3);
	v[PROCESSES_SEQ] = row_int(pid * 10LL);
	for (int c = PROCESSES__STORED; c < PROCESSES__COUNT; c++)
		v[c] = row_null();	/* read live, never stored */
}

static uint32_t event_pid(uint64_t seq)
{
	return seq % NPROC + 1;
}

static void event_row(uint64_t seq, struct row_value *v, struct textbuf *t)
{
	uint32_t pid = event_pid(seq);
	const char *ev = events[seq % 5];

	snprintf(t->s[0], sizeof(t->s[0]), "proc-%u", pid);
	snprintf(t->s[1], sizeof(t->s[1]), "/usr/bin/p%u", pid);
	snprintf(t->s[2], sizeof(t->s[2]), "p%u arg%llu", pid, (unsigned long long)seq);
	v[PROCESS_EVENTS_SEQ] = row_int((int64_t)seq);
	v[PROCESS_EVENTS_TIME] = row_int(1700000000LL + (int64_t)seq / 100);
	v[PROCESS_EVENTS_TIME_NS] = row_int(1700000000000000000LL + (int64_t)seq * 1000);
	v[PROCESS_EVENTS_EVENT] = row_text(ev, strlen(ev));
	v[PROCESS_EVENTS_PID] = row_int(pid);
	v[PROCESS_EVENTS_TID] = row_int(pid + 1000000);
	v[PROCESS_EVENTS_PARENT] = row_int(pid / 2);
	v[PROCESS_EVENTS_NAME] = row_text(t->s[0], strlen(t->s[0]));
	v[PROCESS_EVENTS_PATH] = row_text(t->s[1], strlen(t->s[1]));
	v[PROCESS_EVENTS_CMDLINE] = row_text(t->s[2], strlen(t->s[2]));
	v[PROCESS_EVENTS_UID] = row_int(1000);
	v[PROCESS_EVENTS_GID] = row_int(1000);
	v[PROCESS_EVENTS_EUID] = row_int(1000);
	v[PROCESS_EVENTS_EGID] = row_int(1000);
	v[PROCESS_EVENTS_EXIT_CODE] = strcmp(ev, "exit") ? row_null() : row_int((int64_t)(seq % 256) << 8);
	v[PROCESS_EVENTS_CPU] = row_int((int64_t)seq % 4);
}

static void put_row(struct store_batch *b, const struct schema_table *t, uint64_t key,
		    const struct row_value *v)
{
	char buf[1024];
	size_t len = row_encode(v, t->ncols, buf, sizeof(buf));

	test_put_row(b, t->cf, key, schema_key_bytes(t), buf, len);
}

/* Checks that the current row of @st (SELECT * order) equals @v. */
static void expect_row(struct __test_metadata *_metadata, sqlite3_stmt *st,
		       const struct row_value *v, int n)
{
	ASSERT_EQ(n, sqlite3_column_count(st));
	for (int c = 0; c < n; c++) {
		switch (v[c].type) {
		case ROW_NULL:
			EXPECT_EQ(SQLITE_NULL, sqlite3_column_type(st, c)) TH_LOG("col %d", c);
			break;
		case ROW_INT:
			ASSERT_EQ(SQLITE_INTEGER, sqlite3_column_type(st, c)) TH_LOG("col %d", c);
			EXPECT_EQ(v[c].i, sqlite3_column_int64(st, c)) TH_LOG("col %d", c);
			break;
		case ROW_TEXT:
			ASSERT_EQ(SQLITE_TEXT, sqlite3_column_type(st, c)) TH_LOG("col %d", c);
			ASSERT_EQ(v[c].len, sqlite3_column_bytes(st, c)) TH_LOG("col %d", c);
			EXPECT_EQ(0, memcmp(v[c].s, sqlite3_column_text(st, c), v[c].len));
			break;
		}
	}
}

static int stats_cb(void *arg, struct sql_stat *out, int max)
{
	static const struct sql_stat rows[] = {
		{ "events_received", 12345, "Events read from the kernel" },
		{ "events_lost", 7, "Events the kernel could not deliver" },
		{ "resyncs", 0, NULL },
	};
	int n = 0;

	(*(int *)arg)++;
	for (; n < 3 && n < max; n++)
		out[n] = rows[n];
	return n;
}

FIXTURE(sql) {
	char dir[64];
	struct store *st;
	struct sql_env env;
	int stats_calls;
	sqlite3 *db;
};

FIXTURE_SETUP(sql)
{
	struct store_batch *b = store_batch_new();
	struct chunk_buf chunk = { 0 };
	struct row_value v[32];
	struct textbuf t;
	char *err = NULL;

	strcpy(self->dir, "/tmp/dbos-test-sql.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, store_open(self->dir, &self->st, &err)) TH_LOG("%s", err);
	for (uint32_t pid = 1; pid <= NPROC; pid++) {
		proc_row(pid, v, &t);
		put_row(b, &schema_processes, pid, v);
	}
	/*
	 * process_events in chunks of 1, 2, 3, 4, 1, 2, ... rows, as the mirror
	 * writes them: chunks start at seqs 1, 11, 21, ... and at 2, 4, 7 above them.
	 */
	for (uint64_t seq = 1; seq <= NEVENT; seq++) {
		static const bool ends[10] = { 1, 0, 1, 0, 0, 1, 0, 0, 0, 1 };
		char buf[1024];
		size_t len;

		event_row(seq, v, &t);
		len = row_encode(v, PROCESS_EVENTS__COUNT, buf, sizeof(buf));
		if (!chunk.count)
			ASSERT_EQ(0, chunk_start(&chunk, seq));
		ASSERT_EQ(0, chunk_append(&chunk, seq, buf, len));
		if (ends[(seq - 1) % 10] || seq == NEVENT) {
			test_put_chunk(b, STORE_CF_PROCESS_EVENTS, &chunk);
			chunk.count = 0;
		}
	}
	chunk_buf_free(&chunk);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);

	self->env.st = self->st;
	self->env.stats = stats_cb;
	self->env.stats_arg = &self->stats_calls;
	ASSERT_EQ(0, sql_open(&self->env, &self->db, &err)) TH_LOG("%s", err);
}

FIXTURE_TEARDOWN(sql)
{
	char cmd[128];

	sqlite3_close(self->db);
	store_close(self->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
	if (system(cmd))
		TH_LOG("could not remove %s", self->dir);
}

static sqlite3_stmt *prepare(struct __test_metadata *_metadata, sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	EXPECT_EQ(SQLITE_OK, rc) TH_LOG("%s: %s", sql, sqlite3_errmsg(db));
	return st;
}

/* Runs @sql, which must return one integer. */
static int64_t query_int(struct __test_metadata *_metadata, sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = prepare(_metadata, db, sql);
	int64_t v = -999;

	if (!st)
		return v;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		TH_LOG("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return v;
}

/* Runs @sql, which must return one text value; copies it to @buf. */
static void query_text(struct __test_metadata *_metadata, sqlite3 *db, const char *sql,
		       char *buf, size_t size)
{
	sqlite3_stmt *st = prepare(_metadata, db, sql);

	snprintf(buf, size, "(no row)");
	if (st && sqlite3_step(st) == SQLITE_ROW)
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

/* Runs @sql to the end; returns its number of rows and the rows read from the store. */
static int run(struct __test_metadata *_metadata, sqlite3 *db, const char *sql,
	       uint64_t *read)
{
	uint64_t before = vtab_rows_read();
	sqlite3_stmt *st = prepare(_metadata, db, sql);
	int n = 0, rc;

	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		n++;
	EXPECT_EQ(SQLITE_DONE, rc) TH_LOG("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	if (read)
		*read = vtab_rows_read() - before;
	return n;
}

/* The error that running @sql ends with (prepare or step), copied to @buf. */
static int run_error(sqlite3 *db, const char *sql, char *buf, size_t size)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	snprintf(buf, size, "%s", rc == SQLITE_OK ? "" : sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

static bool plan_contains(sqlite3 *db, const char *sql, const char *what)
{
	char eqp[512];
	sqlite3_stmt *st = NULL;
	bool found = false;

	snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sql);
	if (sqlite3_prepare_v2(db, eqp, -1, &st, NULL) != SQLITE_OK)
		return false;
	while (sqlite3_step(st) == SQLITE_ROW)
		if (strstr((const char *)sqlite3_column_text(st, 3), what))
			found = true;
	sqlite3_finalize(st);
	return found;
}

TEST_F(sql, full_scan_equals_what_was_written)
{
	sqlite3_stmt *st = prepare(_metadata, self->db, "SELECT * FROM processes");
	struct row_value v[PROCESSES__COUNT];
	struct textbuf t;
	uint32_t pid = 0;

	ASSERT_NE(NULL, st);
	while (sqlite3_step(st) == SQLITE_ROW) {
		proc_row(++pid, v, &t);
		expect_row(_metadata, st, v, PROCESSES__COUNT);
	}
	EXPECT_EQ(NPROC, pid);
	sqlite3_finalize(st);

	st = prepare(_metadata, self->db, "SELECT * FROM process_events");
	ASSERT_NE(NULL, st);
	struct row_value e[PROCESS_EVENTS__COUNT];
	uint64_t seq = 0;

	while (sqlite3_step(st) == SQLITE_ROW) {
		event_row(++seq, e, &t);
		expect_row(_metadata, st, e, PROCESS_EVENTS__COUNT);
	}
	EXPECT_EQ(NEVENT, seq);
	sqlite3_finalize(st);

	/* Column names and declared types come from schema.h. */
	st = prepare(_metadata, self->db, "SELECT * FROM processes");
	for (int c = 0; c < PROCESSES__COUNT; c++) {
		EXPECT_STREQ(schema_processes.cols[c].name, sqlite3_column_name(st, c));
		EXPECT_STREQ(schema_processes.cols[c].type, sqlite3_column_decltype(st, c));
	}
	sqlite3_finalize(st);
	EXPECT_EQ(NPROC, query_int(_metadata, self->db, "SELECT count(*) FROM processes"));
	/* rowid is the key */
	EXPECT_EQ(0, query_int(_metadata, self->db,
			       "SELECT count(*) FROM processes WHERE rowid != pid"));
}

TEST_F(sql, point_lookup_by_pid)
{
	sqlite3_stmt *st;
	struct row_value v[PROCESSES__COUNT];
	struct textbuf t;
	uint64_t read;

	st = prepare(_metadata, self->db, "SELECT * FROM processes WHERE pid = ?");
	ASSERT_NE(NULL, st);
	for (uint32_t pid = 1; pid <= NPROC; pid += 17) {
		sqlite3_bind_int(st, 1, pid);
		ASSERT_EQ(SQLITE_ROW, sqlite3_step(st));
		proc_row(pid, v, &t);
		expect_row(_metadata, st, v, PROCESSES__COUNT);
		EXPECT_EQ(SQLITE_DONE, sqlite3_step(st));
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);

	EXPECT_TRUE(plan_contains(self->db, "SELECT * FROM processes WHERE pid = 5",
				  "VIRTUAL TABLE INDEX 1:"));
	EXPECT_EQ(1, run(_metadata, self->db, "SELECT name FROM processes WHERE pid = 42", &read));
	EXPECT_EQ(1, read);
	EXPECT_EQ(0, run(_metadata, self->db, "SELECT * FROM processes WHERE pid = 100000", &read));
	EXPECT_EQ(0, read);
	/* SQLite's comparison rules: text and integral reals are numbers. */
	EXPECT_EQ(42, query_int(_metadata, self->db, "SELECT pid FROM processes WHERE pid = '42'"));
	EXPECT_EQ(42, query_int(_metadata, self->db, "SELECT pid FROM processes WHERE pid = 42.0"));
	EXPECT_EQ(0, run(_metadata, self->db, "SELECT * FROM processes WHERE pid = 42.5", NULL));
	EXPECT_EQ(0, run(_metadata, self->db, "SELECT * FROM processes WHERE pid = 'abc'", NULL));
	EXPECT_EQ(0, run(_metadata, self->db, "SELECT * FROM processes WHERE pid = NULL", NULL));
	EXPECT_EQ(0, run(_metadata, self->db, "SELECT * FROM processes WHERE pid = -1", NULL));
	EXPECT_EQ(0, run(_metadata, self->db, "SELECT * FROM processes WHERE pid = 4294967297", NULL));
	EXPECT_EQ(1, run(_metadata, self->db, "SELECT * FROM processes WHERE pid IS 7", NULL));
	/* IN is repeated equality: three lookups. */
	EXPECT_EQ(3, run(_metadata, self->db,
			 "SELECT * FROM processes WHERE pid IN (3, 9, 150, 100000)", &read));
	EXPECT_EQ(3, read);
	EXPECT_EQ(150, query_int(_metadata, self->db,
				 "SELECT max(pid) FROM processes WHERE pid IN (3, 9, 150)"));
	char buf[64];

	/* IN with ORDER BY: SQLite sorts what the lookups return. */
	query_text(_metadata, self->db, "SELECT group_concat(pid) FROM (SELECT pid FROM processes "
		   "WHERE pid IN (150, 3, 9) ORDER BY pid DESC)", buf, sizeof(buf));
	EXPECT_STREQ("150,9,3", buf);
	query_text(_metadata, self->db, "SELECT group_concat(pid) FROM (SELECT pid FROM processes "
		   "WHERE pid IN (150, 3, 9) ORDER BY pid)", buf, sizeof(buf));
	EXPECT_STREQ("3,9,150", buf);
	query_text(_metadata, self->db, "SELECT group_concat(seq) FROM (SELECT seq FROM process_events "
		   "WHERE seq BETWEEN 5 AND 8 ORDER BY seq DESC)", buf, sizeof(buf));
	EXPECT_STREQ("8,7,6,5", buf);
}

TEST_F(sql, ranges_on_seq)
{
	uint64_t read;

	EXPECT_EQ(100, run(_metadata, self->db,
			   "SELECT * FROM process_events WHERE seq > 100 AND seq <= 200", &read));
	EXPECT_EQ(100, read);
	EXPECT_EQ(101, query_int(_metadata, self->db,
				 "SELECT min(seq) FROM process_events WHERE seq > 100 AND seq <= 200"));
	EXPECT_EQ(200, query_int(_metadata, self->db,
				 "SELECT max(seq) FROM process_events WHERE seq > 100 AND seq <= 200"));
	EXPECT_EQ(11, run(_metadata, self->db, "SELECT * FROM process_events WHERE seq >= 990", &read));
	EXPECT_EQ(11, read);
	EXPECT_EQ(4, run(_metadata, self->db, "SELECT * FROM process_events WHERE seq < 5", &read));
	EXPECT_EQ(4, read);
	EXPECT_EQ(21, run(_metadata, self->db,
			  "SELECT * FROM process_events WHERE seq BETWEEN 10 AND 30", &read));
	EXPECT_EQ(21, read);
	/* Real bounds admit the integers between them. */
	EXPECT_EQ(3, run(_metadata, self->db,
			 "SELECT * FROM process_events WHERE seq > 2.5 AND seq < 5.5", NULL));
	EXPECT_EQ(3, query_int(_metadata, self->db,
			       "SELECT min(seq) FROM process_events WHERE seq > 2.5"));
	/* Empty and inverted ranges, bounds outside the key space. */
	EXPECT_EQ(0, run(_metadata, self->db,
			 "SELECT * FROM process_events WHERE seq > 500 AND seq < 400", &read));
	EXPECT_EQ(0, read);
	EXPECT_EQ(NEVENT, run(_metadata, self->db, "SELECT * FROM process_events WHERE seq > -5", NULL));
	EXPECT_EQ(0, run(_metadata, self->db, "SELECT * FROM process_events WHERE seq < -5", NULL));
	EXPECT_EQ(0, run(_metadata, self->db, "SELECT * FROM process_events WHERE seq > NULL", NULL));
	EXPECT_EQ(1, run(_metadata, self->db,
			 "SELECT * FROM process_events WHERE seq >= 9223372036854775807 OR seq = 1", NULL));
	/* Numbers sort before text. */
	EXPECT_EQ(NEVENT, run(_metadata, self->db, "SELECT * FROM process_events WHERE seq < 'z'", NULL));
	EXPECT_EQ(0, run(_metadata, self->db, "SELECT * FROM process_events WHERE seq > 'z'", NULL));
	EXPECT_EQ(10, run(_metadata, self->db, "SELECT * FROM process_events WHERE seq <= '10'", NULL));
	/* Ranges on pid, the other table's key, with several bounds. */
	EXPECT_EQ(5, run(_metadata, self->db,
			 "SELECT * FROM processes WHERE pid > 10 AND pid > 20 AND pid <= 25", NULL));
	/* Other columns are filtered by SQLite. */
	EXPECT_EQ(NEVENT / 5, query_int(_metadata, self->db,
					"SELECT count(*) FROM process_events WHERE event = 'exec'"));
}

TEST_F(sql, order_by_seq_desc_limit_reads_only_those_rows)
{
	const char *q = "SELECT seq, event FROM process_events ORDER BY seq DESC LIMIT 10";
	sqlite3_stmt *st;
	uint64_t before = vtab_rows_read(), expect = NEVENT;

	EXPECT_FALSE(plan_contains(self->db, q, "TEMP B-TREE"));
	st = prepare(_metadata, self->db, q);
	ASSERT_NE(NULL, st);
	while (sqlite3_step(st) == SQLITE_ROW) {
		EXPECT_EQ(expect, sqlite3_column_int64(st, 0));
		EXPECT_STREQ(events[expect % 5], (const char *)sqlite3_column_text(st, 1));
		expect--;
	}
	sqlite3_finalize(st);
	EXPECT_EQ(NEVENT - 10, expect);
	EXPECT_LE(vtab_rows_read() - before, 11);
	EXPECT_GE(vtab_rows_read() - before, 10);

	/* Ascending, descending within a range, and ORDER BY other columns. */
	uint64_t read;

	EXPECT_EQ(1, query_int(_metadata, self->db,
			       "SELECT seq FROM process_events ORDER BY seq LIMIT 1"));
	EXPECT_EQ(300, query_int(_metadata, self->db,
				 "SELECT seq FROM process_events WHERE seq < 301 ORDER BY seq DESC"));
	EXPECT_EQ(5, run(_metadata, self->db,
			 "SELECT seq FROM process_events WHERE seq >= 100 ORDER BY seq DESC LIMIT 5",
			 &read));
	EXPECT_LE(read, 6);
	EXPECT_EQ(200, query_int(_metadata, self->db,
				 "SELECT pid FROM processes ORDER BY rowid DESC"));
	/* Sorted by SQLite: "proc-99" is the greatest name. */
	EXPECT_EQ(99, query_int(_metadata, self->db,
				"SELECT pid FROM processes ORDER BY name DESC, pid LIMIT 1"));
	EXPECT_EQ(1, query_int(_metadata, self->db,
			       "SELECT seq FROM process_events ORDER BY seq DESC LIMIT 1 OFFSET 999"));
}

TEST_F(sql, joins_on_pid)
{
	uint64_t read;
	sqlite3_stmt *st;
	int n = 0;

	st = prepare(_metadata, self->db,
		     "SELECT e.seq, e.pid, p.name, p.parent FROM process_events e "
		     "JOIN processes p ON p.pid = e.pid WHERE e.seq <= 20 ORDER BY e.seq");
	ASSERT_NE(NULL, st);
	while (sqlite3_step(st) == SQLITE_ROW) {
		uint64_t seq = sqlite3_column_int64(st, 0);
		char name[32];

		n++;
		EXPECT_EQ((uint64_t)n, seq);
		EXPECT_EQ(event_pid(seq), sqlite3_column_int64(st, 1));
		snprintf(name, sizeof(name), "proc-%u", event_pid(seq));
		EXPECT_STREQ(name, (const char *)sqlite3_column_text(st, 2));
		EXPECT_EQ(event_pid(seq) / 2, sqlite3_column_int64(st, 3));
	}
	sqlite3_finalize(st);
	EXPECT_EQ(20, n);

	/* The join looks processes up by pid: 20 events + 20 lookups. */
	EXPECT_EQ(20, run(_metadata, self->db,
			  "SELECT * FROM process_events e JOIN processes p USING (pid) WHERE e.seq <= 20",
			  &read));
	EXPECT_EQ(40, read);
	EXPECT_EQ(NEVENT, query_int(_metadata, self->db,
				    "SELECT count(*) FROM process_events e JOIN processes p "
				    "ON p.pid = e.pid"));
	/* Processes with their latest event; a self join on parent. */
	EXPECT_EQ(NPROC, query_int(_metadata, self->db,
				   "SELECT count(*) FROM processes p WHERE EXISTS "
				   "(SELECT 1 FROM process_events e WHERE e.pid = p.pid)"));
	EXPECT_EQ(NPROC - 1, query_int(_metadata, self->db,
				       "SELECT count(*) FROM processes c JOIN processes p "
				       "ON p.pid = c.parent"));
}

/* process_open_files rows: pid 1..NPROC has fds 0..pid % 8; fd 3 is a socket (inode pid * 100 + 3). */
static void put_files(struct __test_metadata *_metadata, struct store *st)
{
	struct store_batch *b = store_batch_new();
	struct row_value v[32];
	char *err = NULL;

	for (uint32_t pid = 1; pid <= NPROC; pid++) {
		for (uint32_t fd = 0; fd <= pid % 8; fd++) {
			char path[32];
			bool sock = fd == 3;
			uint64_t ino = pid * 100 + fd;

			snprintf(path, sizeof(path), sock ? "socket:[%u]" : "/f/%u", (unsigned)ino);
			v[FDS_PID] = row_int(pid);
			v[FDS_FD] = row_int(fd);
			v[FDS_PATH] = row_text(path, strlen(path));
			v[FDS_FLAGS] = row_int(2);
			v[FDS_INODE] = row_int((int64_t)ino);
			v[FDS_DEVICE] = row_int(sock ? 8 : 2051);
			v[FDS_TYPE] = sock ? row_text("socket", 6) : row_text("regular", 7);
			v[FDS_MODE] = row_int(sock ? 0140777 : 0100644);
			v[FDS_SEQ] = row_int(pid);
			put_row(b, &schema_fds, (uint64_t)pid << 32 | fd, v);
			if (!sock)
				continue;
			v[SOCKETS_SOCKET] = row_int((int64_t)ino);
			v[SOCKETS_FAMILY] = row_int(2);
			v[SOCKETS_PROTOCOL] = row_int(6);
			v[SOCKETS_TYPE] = row_int(1);
			v[SOCKETS_LOCAL_ADDRESS] = row_text("0.0.0.0", 7);
			v[SOCKETS_LOCAL_PORT] = row_int(pid);
			v[SOCKETS_REMOTE_ADDRESS] = row_text("0.0.0.0", 7);
			v[SOCKETS_REMOTE_PORT] = row_int(0);
			v[SOCKETS_PATH] = row_text("", 0);
			v[SOCKETS_PEER_PATH] = row_text("", 0);
			v[SOCKETS_PEER_SOCKET] = row_int(0);
			v[SOCKETS_STATE] = pid % 2 ? row_text("ESTABLISHED", 11) : row_text("LISTEN", 6);
			v[SOCKETS_NET_NAMESPACE] = row_int(4026531840LL);
			v[SOCKETS_SEQ] = row_int(pid);
			put_row(b, &schema_sockets, ino, v);
		}
	}
	ASSERT_EQ(0, store_write(st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);
}

/* Plan lines of @sql joined by ';' (for messages). */
static void plan_text(sqlite3 *db, const char *sql, char *buf, size_t size)
{
	char eqp[512];
	sqlite3_stmt *st = NULL;
	size_t n = 0;

	buf[0] = '\0';
	snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sql);
	if (sqlite3_prepare_v2(db, eqp, -1, &st, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(st) == SQLITE_ROW && n < size)
		n += snprintf(buf + n, size - n, "%s;", (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
}

TEST_F(sql, composite_key_pushdown_on_pid_and_fd)
{
	const char *join = "SELECT p.name, l.port FROM listening_ports l JOIN processes p USING (pid)";
	char a[4096], b[4096];
	uint64_t read;
	int n;

	put_files(_metadata, self->st);
	/* pid = ?: a prefix scan that reads that process's rows only. */
	EXPECT_TRUE(plan_contains(self->db, "SELECT * FROM process_open_files WHERE pid = 123",
				  "VIRTUAL TABLE INDEX 1:"));
	EXPECT_EQ(123 % 8 + 1, run(_metadata, self->db,
				   "SELECT * FROM process_open_files WHERE pid = 123", &read));
	EXPECT_EQ(123 % 8 + 1, read);
	/* pid = ? AND fd = ?: a point lookup. */
	EXPECT_TRUE(plan_contains(self->db, "SELECT * FROM process_open_files WHERE pid = 7 AND fd = 2",
				  "VIRTUAL TABLE INDEX 257:"));
	EXPECT_EQ(1, run(_metadata, self->db,
			 "SELECT * FROM process_open_files WHERE pid = 7 AND fd = 2", &read));
	EXPECT_EQ(1, read);
	EXPECT_EQ(0, run(_metadata, self->db,
			 "SELECT * FROM process_open_files WHERE pid = 8 AND fd = 2", &read));
	EXPECT_EQ(0, read);
	/* pid = ? AND fd >= ?: a narrower scan. */
	EXPECT_EQ(5, run(_metadata, self->db,
			 "SELECT * FROM process_open_files WHERE pid = 7 AND fd >= 3", &read));
	EXPECT_EQ(5, read);
	/* A range of pids reads those pids' rows only. */
	EXPECT_EQ(3 + 4 + 5, run(_metadata, self->db,
				 "SELECT * FROM process_open_files WHERE pid BETWEEN 10 AND 12", &read));
	EXPECT_EQ(12, read);
	/* Key columns come from the key; pushdown returns what a full scan filters. */
	query_text(_metadata, self->db, "SELECT group_concat(pid || ':' || fd || ':' || path) FROM "
		   "process_open_files WHERE pid = 77 AND fd > 1 AND fd < 5", a, sizeof(a));
	query_text(_metadata, self->db, "SELECT group_concat(pid || ':' || fd || ':' || path) FROM "
		   "process_open_files WHERE +pid = 77 AND +fd > 1 AND +fd < 5", b, sizeof(b));
	EXPECT_STREQ("77:2:/f/7702,77:3:socket:[7703],77:4:/f/7704", a);
	EXPECT_STREQ(a, b);
	/* fd alone cannot use the key: a full scan, still right. */
	n = 0;
	for (uint32_t pid = 1; pid <= NPROC; pid++)
		n += pid % 8 >= 3;
	EXPECT_EQ(n, query_int(_metadata, self->db,
			       "SELECT count(*) FROM process_open_files WHERE fd = 3"));
	/* ORDER BY the key, either way, is the iteration order. */
	plan_text(self->db, "SELECT * FROM process_open_files ORDER BY pid DESC, fd DESC", a, sizeof(a));
	EXPECT_EQ(NULL, strstr(a, "TEMP B-TREE")) TH_LOG("%s", a);
	query_text(_metadata, self->db, "SELECT group_concat(fd) FROM (SELECT fd FROM "
		   "process_open_files WHERE pid = 13 ORDER BY fd DESC)", a, sizeof(a));
	EXPECT_STREQ("5,4,3,2,1,0", a);
	query_text(_metadata, self->db, "SELECT pid || ':' || fd FROM process_open_files "
		   "ORDER BY pid DESC, fd DESC LIMIT 1", a, sizeof(a));
	EXPECT_STREQ("200:0", a);

	/*
	 * The views (viewtab.c: one run of their SELECT), and the join with
	 * processes by pid: lookups, not scans.
	 */
	plan_text(self->db, join, a, sizeof(a));
	EXPECT_NE(NULL, strstr(a, "SCAN p VIRTUAL TABLE INDEX 1:")) TH_LOG("%s", a);
	n = 0;
	for (uint32_t pid = 2; pid <= NPROC; pid += 2)
		n += pid % 8 >= 3;
	EXPECT_EQ(n, run(_metadata, self->db, join, NULL));
	query_text(_metadata, self->db, "SELECT p.name || '=' || l.port FROM listening_ports l "
		   "JOIN processes p USING (pid) WHERE pid = 14", a, sizeof(a));
	EXPECT_STREQ("proc-14=14", a);
	EXPECT_EQ(n, query_int(_metadata, self->db,
			       "SELECT count(*) FROM process_open_sockets WHERE state = 'LISTEN'"));
	EXPECT_EQ(1, query_int(_metadata, self->db, "SELECT count(*) FROM process_open_sockets "
			       "WHERE pid = 15 AND socket = 1503 AND state = 'ESTABLISHED'"));
	/* pid passed down into the view's SELECT: a lookup of one process's fds */
	plan_text(self->db, "SELECT * FROM process_open_sockets WHERE pid = 15", a, sizeof(a));
	EXPECT_NE(NULL, strstr(a, "VIRTUAL TABLE INDEX 4:")) TH_LOG("%s", a);
	{
		uint64_t before = vtab_rows_read();

		EXPECT_EQ(1, query_int(_metadata, self->db, "SELECT count(*) FROM "
				       "process_open_sockets WHERE pid = 15 AND socket = 1503"));
		EXPECT_GT(20, vtab_rows_read() - before);
	}
}

TEST_F(sql, dbos_schema_describes_every_table)
{
	static const char *const names[] = {
		"processes", "process_events", "process_open_files", "sockets", "file_events",
		"socket_events", "policies", "policy_versions", "policy_rule_revisions", "policy_decisions",
		"policy_simulate", "sched_rules", "sched_decisions", "dbos_stats", "dbos_schema",
		"processes_changes", "process_open_files_changes", "sockets_changes",
		"process_open_sockets_changes", "listening_ports_changes", "process_ancestors_changes",
		"process_open_sockets", "listening_ports",
		"process_ancestors", "policy_context_exec", "policy_context_open",
		"policy_context_connect", "policy_context_bind", "policy_context_kill",
		"policy_context_sched", "policy_rules", "policy_rollback",
	};
	const int nnames = sizeof(names) / sizeof(names[0]);
	sqlite3_stmt *st = prepare(_metadata, self->db, "SELECT name, sql FROM dbos_schema");
	sqlite3 *scratch;
	int n = 0;

	ASSERT_NE(NULL, st);
	ASSERT_EQ(SQLITE_OK, sqlite3_open(":memory:", &scratch));
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *sql = (const char *)sqlite3_column_text(st, 1);
		char *err = NULL;

		ASSERT_LT(n, nnames);
		EXPECT_STREQ(names[n], name);
		/* Valid SQL that declares the same columns. */
		EXPECT_EQ(SQLITE_OK, sqlite3_exec(scratch, sql, NULL, NULL, &err)) TH_LOG("%s", err);
		sqlite3_free(err);
		if (n == 0) {
			const char *head = "-- Live processes, mirrored from the kernel (exact at rest)\n"
					   "CREATE TABLE processes (\n"
					   "  pid INTEGER, -- Process (thread group) ID\n"
					   "  parent INTEGER, -- Parent process ID\n";

			EXPECT_EQ(0, strncmp(head, sql, strlen(head))) TH_LOG("%s", sql);
			EXPECT_NE(NULL, strstr(sql, "\n  seq INTEGER, -- Sequence number of the last "
						    "event or dump that set this row\n"));
			EXPECT_NE(NULL, strstr(sql, "\n  cgroup_path TEXT, -- [read live] Control group "
						    "(v2) path, as the 0:: line of /proc/PID/cgroup\n"));
			EXPECT_NE(NULL, strstr(sql, "\n  as_of_seq INTEGER HIDDEN -- Argument: the table "
						    "as it was right after the event or dump with this "
						    "sequence number\n);\n-- UPDATE processes"));
			EXPECT_NE(NULL, strstr(sql, "\n  state TEXT, -- [read live] "));
			/* one line per column, plus the doc, the first, the last and the note */
			int lines = 0;

			for (const char *p = sql; *p; p++)
				lines += *p == '\n';
			EXPECT_EQ(PROCESSES__ALL + 3, lines);
		}
		n++;
	}
	sqlite3_finalize(st);
	EXPECT_EQ(nnames, n);
	/* The views' columns: osquery's first. */
	EXPECT_EQ(15, query_int(_metadata, scratch,
				"SELECT count(*) FROM pragma_table_info('process_open_sockets')"));
	EXPECT_EQ(9, query_int(_metadata, scratch,
			       "SELECT count(*) FROM pragma_table_info('listening_ports')"));
	EXPECT_EQ(FDS__ALL, query_int(_metadata, scratch,
					"SELECT count(*) FROM pragma_table_info('process_open_files')"));
	EXPECT_EQ(PROCESS_EVENTS__COUNT,
		  query_int(_metadata, scratch, "SELECT count(*) FROM pragma_table_info('process_events')"));
	EXPECT_EQ(3, query_int(_metadata, scratch, "SELECT count(*) FROM pragma_table_info('dbos_stats')"));
	/* policy_simulate is the policy layer's (test_policy); its arguments are HIDDEN. */
	EXPECT_EQ(1, query_int(_metadata, self->db, "SELECT count(*) FROM dbos_schema "
			       "WHERE name = 'policy_simulate' AND type = 'table-valued function'"));
	EXPECT_EQ(1, query_int(_metadata, self->db, "SELECT count(*) FROM dbos_schema "
			       "WHERE name = 'policy_rollback' AND type = 'function'"));
	sqlite3_close(scratch);
}

TEST_F(sql, dbos_stats_from_the_callback)
{
	sqlite3_stmt *st = prepare(_metadata, self->db,
				   "SELECT name, value, doc FROM dbos_stats ORDER BY name");
	sqlite3 *db2;
	struct sql_env env = { .st = self->st, .stats = NULL };
	char *err = NULL;

	ASSERT_NE(NULL, st);
	ASSERT_EQ(SQLITE_ROW, sqlite3_step(st));
	EXPECT_STREQ("events_lost", (const char *)sqlite3_column_text(st, 0));
	EXPECT_EQ(7, sqlite3_column_int64(st, 1));
	EXPECT_STREQ("Events the kernel could not deliver", (const char *)sqlite3_column_text(st, 2));
	ASSERT_EQ(SQLITE_ROW, sqlite3_step(st));
	EXPECT_STREQ("events_received", (const char *)sqlite3_column_text(st, 0));
	EXPECT_EQ(12345, sqlite3_column_int64(st, 1));
	ASSERT_EQ(SQLITE_ROW, sqlite3_step(st));
	EXPECT_STREQ("resyncs", (const char *)sqlite3_column_text(st, 0));
	EXPECT_EQ(SQLITE_NULL, sqlite3_column_type(st, 2));
	EXPECT_EQ(SQLITE_DONE, sqlite3_step(st));
	sqlite3_finalize(st);
	EXPECT_EQ(1, self->stats_calls);	/* one snapshot per scan */
	EXPECT_EQ(12345, query_int(_metadata, self->db,
				   "SELECT value FROM dbos_stats WHERE name = 'events_received'"));

	/* No callback: an empty table. */
	ASSERT_EQ(0, sql_open(&env, &db2, &err)) TH_LOG("%s", err);
	EXPECT_EQ(0, query_int(_metadata, db2, "SELECT count(*) FROM dbos_stats"));
	EXPECT_EQ(NPROC, query_int(_metadata, db2, "SELECT count(*) FROM processes"));
	sqlite3_close(db2);
}

TEST_F(sql, writes_are_refused_clearly)
{
	static const char *const writes[] = {
		"INSERT INTO process_events(seq) VALUES (5000)",
		"UPDATE process_events SET pid = 1 WHERE seq = 1",
		"DELETE FROM process_events WHERE seq = 1",
		"DELETE FROM process_events WHERE seq = -1",	/* matches nothing */
		"DELETE FROM process_open_files",
	};
	char msg[256];

	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		EXPECT_NE(SQLITE_OK, run_error(self->db, writes[i], msg, sizeof(msg)));
		EXPECT_NE(NULL, strstr(msg, "is read-only: it mirrors the kernel"))
			TH_LOG("%s: %s", writes[i], msg);
	}
	run_error(self->db, writes[0], msg, sizeof(msg));
	EXPECT_STREQ("table process_events is read-only: it mirrors the kernel", msg);
	/* Nothing changed. */
	EXPECT_EQ(NPROC, query_int(_metadata, self->db, "SELECT count(*) FROM processes"));
	EXPECT_EQ(1, query_int(_metadata, self->db, "SELECT count(*) FROM processes WHERE pid = 1"));
	EXPECT_NE(SQLITE_OK, run_error(self->db, "DELETE FROM dbos_stats", msg, sizeof(msg)));
	TH_LOG("dbos_stats: %s", msg);
	/* The connection still works, and scratch tables are allowed. */
	EXPECT_EQ(SQLITE_OK, run_error(self->db,
				       "CREATE TEMP TABLE mine AS SELECT pid FROM processes WHERE pid < 10",
				       msg, sizeof(msg))) TH_LOG("%s", msg);
	EXPECT_EQ(9, query_int(_metadata, self->db, "SELECT count(*) FROM mine"));
}

#define PROC_REFUSED "processes: rows come from the kernel; only nice, sched_policy, " \
		     "sched_priority and cpus can be changed (UPDATE)"

/* processes: only an UPDATE of the four scheduling columns, and nothing else, is taken. */
TEST_F(sql, processes_takes_only_scheduling_updates)
{
	static const struct {
		const char *sql, *msg;
	} refused[] = {
		{ "INSERT INTO processes(pid, name) VALUES (99999, 'x')", PROC_REFUSED },
		{ "DELETE FROM processes WHERE pid = 1", PROC_REFUSED },
		{ "DELETE FROM processes", PROC_REFUSED },
		{ "UPDATE processes SET name = 'x' WHERE pid = 1", PROC_REFUSED "; name cannot" },
		{ "UPDATE processes SET pid = 7 WHERE pid = 1", PROC_REFUSED "; pid cannot" },
		{ "UPDATE processes SET nice = 5, parent = 9 WHERE pid = 1",
		  PROC_REFUSED "; parent cannot" },
		{ "UPDATE processes SET cwd = NULL, nice = 1 WHERE pid = 2",
		  PROC_REFUSED "; cwd cannot" },
		{ "UPDATE processes SET seq = seq + 1 WHERE pid = 2", PROC_REFUSED "; seq cannot" },
		{ "UPDATE processes SET rowid = 8 WHERE pid = 2", PROC_REFUSED "; pid cannot" },
	};
	char msg[512];

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		EXPECT_NE(SQLITE_OK, run_error(self->db, refused[i].sql, msg, sizeof(msg)));
		EXPECT_STREQ(refused[i].msg, msg) TH_LOG("%s", refused[i].sql);
	}
	/* Nothing changed. */
	EXPECT_EQ(NPROC, query_int(_metadata, self->db, "SELECT count(*) FROM processes"));
	query_text(_metadata, self->db, "SELECT name FROM processes WHERE pid = 1", msg, sizeof(msg));
	EXPECT_STREQ("proc-1", msg);
	/* An unchanged value is no change, and there is nothing to send to the kernel. */
	EXPECT_EQ(SQLITE_OK, run_error(self->db, "UPDATE processes SET name = name, cwd = cwd, "
				       "sched_priority = 0 WHERE pid <= 3", msg, sizeof(msg)))
		TH_LOG("%s", msg);
	EXPECT_EQ(3, sqlite3_changes(self->db));
	/* The other tables stay read-only. */
	EXPECT_NE(SQLITE_OK, run_error(self->db, "UPDATE sched_decisions SET nice = 1", msg,
				       sizeof(msg)));
	EXPECT_STREQ("table sched_decisions is read-only: it mirrors the kernel", msg);
}

/* Bad values are refused at the row, naming the column, before anything is sent. */
TEST_F(sql, processes_bad_scheduling_values_name_the_column)
{
	static const struct {
		const char *set, *msg;
	} bad[] = {
		{ "nice = 20", "processes.nice must be an integer from -20 to 19, not '20'" },
		{ "nice = -21", "processes.nice must be an integer from -20 to 19, not '-21'" },
		{ "nice = 'x'", "processes.nice must be an integer from -20 to 19, not 'x'" },
		{ "nice = 1.5", "processes.nice must be an integer from -20 to 19, not '1.5'" },
		{ "nice = NULL", "processes.nice must be an integer from -20 to 19, not NULL" },
		{ "cpus = 'x'", "processes.cpus: a CPU list is numbers and ranges like '0-3,5', not 'x'" },
		{ "cpus = '5000'", "processes.cpus: CPU 5000 is beyond 1023, not '5000'" },
		{ "cpus = '3-1'", "processes.cpus: CPU range 3-1 runs backwards, not '3-1'" },
		{ "cpus = ''", "processes.cpus: the CPU list is empty, not ''" },
		{ "cpus = NULL", "processes.cpus must be a CPU list like '0-3,5', not NULL" },
		{ "sched_policy = 'fast'",
		  "processes.sched_policy must be other, batch, idle, fifo or rr, not 'fast'" },
		{ "sched_policy = 'deadline'",
		  "processes.sched_policy must be other, batch, idle, fifo or rr, not 'deadline'" },
		{ "sched_policy = NULL",
		  "processes.sched_policy must be other, batch, idle, fifo or rr, not NULL" },
		{ "sched_policy = 'fifo'",
		  "processes.sched_priority must be 1 to 99 with sched_policy 'fifo' "
		  "(SET sched_policy = 'fifo', sched_priority = 10)" },
		{ "sched_policy = 'rr', sched_priority = 0",
		  "processes.sched_priority must be 1 to 99 with sched_policy 'rr' "
		  "(SET sched_policy = 'rr', sched_priority = 10)" },
		{ "sched_policy = 'fifo', sched_priority = 100",
		  "processes.sched_priority must be an integer from 0 to 99, not '100'" },
		{ "sched_policy = 'idle', sched_priority = 5",
		  "processes.sched_priority must be 0 or NULL with sched_policy 'idle', not 5" },
		{ "sched_policy = 'fifo', sched_priority = 5, nice = 3",
		  "processes.nice does not apply to sched_policy 'fifo'" },
		{ "sched_priority = 5",		/* pid 2 is 'other' */
		  "processes.sched_priority 5 needs sched_policy fifo or rr (the process has 'other')" },
	};
	char sql[256], msg[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(sql, sizeof(sql), "UPDATE processes SET %s WHERE pid = 2", bad[i].set);
		EXPECT_EQ(SQLITE_CONSTRAINT, run_error(self->db, sql, msg, sizeof(msg)) & 0xff)
			TH_LOG("%s", sql);
		EXPECT_STREQ(bad[i].msg, msg) TH_LOG("%s", sql);
	}
	/* One bad row fails the whole statement. */
	EXPECT_NE(SQLITE_OK, run_error(self->db, "UPDATE processes SET nice = CASE pid WHEN 5 "
				       "THEN 99 ELSE 1 END WHERE pid < 10", msg, sizeof(msg)));
	EXPECT_STREQ("processes.nice must be an integer from -20 to 19, not '99'", msg);
	EXPECT_EQ(-18, query_int(_metadata, self->db, "SELECT nice FROM processes WHERE pid = 2"));
}

/* Only root (the session's uid 0) may change scheduling. */
TEST_F(sql, processes_update_is_root_only)
{
	struct sql_session user = { .uid = 1000, .pid = getpid() };
	const char *const writes[] = {
		"UPDATE processes SET nice = 5 WHERE pid = 1",
		"UPDATE processes SET nice = 5 WHERE pid = -1",	/* matches nothing */
		"UPDATE processes SET cpus = '0' WHERE name = 'proc-7'",
	};
	sqlite3 *db = NULL;
	char *err = NULL, msg[256];

	ASSERT_EQ(0, sql_open_session(&self->env, &user, &db, &err)) TH_LOG("%s", err);
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		EXPECT_EQ(SQLITE_AUTH, run_error(db, writes[i], msg, sizeof(msg)) & 0xff);
		EXPECT_STREQ("permission denied: only root may change scheduling", msg)
			TH_LOG("%s", writes[i]);
	}
	/* Reading is still fine. */
	EXPECT_EQ(NPROC, query_int(_metadata, db, "SELECT count(*) FROM processes"));
	sqlite3_close(db);
}

/*
 * With no dbos module (the host), a valid UPDATE fails when it commits with
 * the reason, and the row is unchanged: the server never writes it itself.
 */
TEST_F(sql, processes_update_without_the_module_fails_at_commit)
{
	char msg[512];

	EXPECT_EQ(SQLITE_ERROR, run_error(self->db, "UPDATE processes SET nice = 5 WHERE pid = 1",
					  msg, sizeof(msg)));
	EXPECT_STREQ("processes: dbos module not loaded; nothing was changed", msg);
	EXPECT_EQ(-19, query_int(_metadata, self->db, "SELECT nice FROM processes WHERE pid = 1"));

	/* In a transaction: the statement succeeds (staged), COMMIT fails, nothing remains. */
	EXPECT_EQ(SQLITE_OK, run_error(self->db, "BEGIN", msg, sizeof(msg)));
	EXPECT_EQ(SQLITE_OK, run_error(self->db, "UPDATE processes SET cpus = '0', "
				       "sched_policy = 'batch' WHERE pid IN (1, 2)", msg, sizeof(msg)))
		TH_LOG("%s", msg);
	EXPECT_EQ(2, sqlite3_changes(self->db));
	EXPECT_EQ(SQLITE_ERROR, run_error(self->db, "COMMIT", msg, sizeof(msg)));
	EXPECT_STREQ("processes: dbos module not loaded; nothing was changed", msg);
	/* COMMIT failed in xSync: SQLite rolls the transaction back. */
	EXPECT_EQ(1, sqlite3_get_autocommit(self->db));
	query_text(_metadata, self->db, "SELECT sched_policy || ' ' || cpus FROM processes "
		   "WHERE pid = 2", msg, sizeof(msg));
	EXPECT_STREQ("other 0-3", msg);

	/* A priority alone on a fifo process is valid (it keeps fifo); it too needs the module. */
	EXPECT_EQ(SQLITE_ERROR, run_error(self->db, "UPDATE processes SET sched_priority = 20 "
					  "WHERE pid = 3", msg, sizeof(msg)));
	EXPECT_STREQ("processes: dbos module not loaded; nothing was changed", msg);
	/* A statement that matches no row sends nothing and succeeds. */
	EXPECT_EQ(SQLITE_OK, run_error(self->db, "UPDATE processes SET nice = 5 WHERE pid = -1",
				       msg, sizeof(msg))) TH_LOG("%s", msg);
	EXPECT_EQ(0, sqlite3_changes(self->db));
}

/* kernel/sched.c with no module: every request says so; bad sizes are refused first. */
TEST(sched_requests_without_the_module)
{
	int before = getpriority(PRIO_PROCESS, 0);
	struct sched_target t = { .pid = (uint32_t)getpid(),
				  .v = { .has_nice = true, .nice = before < 19 ? before + 1 : 0 } };
	char *err = NULL;

	EXPECT_EQ(-ENOENT, kernel_sched_set(&t, 1, 7, &err));
	EXPECT_STREQ("dbos module not loaded", err ? err : "(none)");
	free(err);
	err = NULL;
	EXPECT_EQ(-ENOENT, kernel_sched_rules_stage(1, NULL, 0, &err));
	EXPECT_STREQ("dbos module not loaded", err ? err : "(none)");
	free(err);
	err = NULL;
	EXPECT_EQ(-ENOENT, kernel_sched_rules_activate(1, &err));
	EXPECT_STREQ("dbos module not loaded", err ? err : "(none)");
	free(err);
	err = NULL;
	EXPECT_EQ(-EINVAL, kernel_sched_set(&t, 0, 0, &err));
	EXPECT_STREQ("1 to 1024 processes per change, not 0", err ? err : "(none)");
	free(err);
	err = NULL;
	EXPECT_EQ(-EINVAL, kernel_sched_set(&t, DBOS_SCHED_TARGETS_MAX + 1, 0, &err));
	free(err);
	EXPECT_EQ(before, getpriority(PRIO_PROCESS, 0));	/* and nothing changed */
}

TEST_F(sql, bad_sql_gets_sqlites_message)
{
	char msg[256];

	EXPECT_EQ(SQLITE_ERROR, run_error(self->db, "SELEC pid FROM processes", msg, sizeof(msg)));
	EXPECT_STREQ("near \"SELEC\": syntax error", msg);
	EXPECT_EQ(SQLITE_ERROR, run_error(self->db, "SELECT nosuch FROM processes", msg, sizeof(msg)));
	EXPECT_STREQ("no such column: nosuch", msg);
	EXPECT_EQ(SQLITE_ERROR, run_error(self->db, "SELECT * FROM nosuch", msg, sizeof(msg)));
	EXPECT_STREQ("no such table: nosuch", msg);
}

TEST_F(sql, corrupt_row_is_an_error_not_a_crash)
{
	struct store_batch *b = store_batch_new();
	unsigned char k[4];
	char *err = NULL, msg[256];

	store_key_be32(k, 1000);
	store_batch_put(b, STORE_CF_PROCESSES, k, 4, "\x01\x02\x7f", 3);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);

	EXPECT_EQ(SQLITE_CORRUPT_VTAB, run_error(self->db,
		  "SELECT name FROM processes WHERE pid = 1000", msg, sizeof(msg)));
	EXPECT_STREQ("processes: corrupt row at key 1000", msg);
	/* The key alone needs no decoding; other rows are fine. */
	EXPECT_EQ(1000, query_int(_metadata, self->db, "SELECT pid FROM processes WHERE pid = 1000"));
	EXPECT_EQ(NPROC, query_int(_metadata, self->db, "SELECT count(*) FROM processes WHERE pid < 1000 AND name IS NOT NULL"));
}

TEST_F(sql, text_with_nuls_and_long_text_comes_back_exactly)
{
	static const char nul_name[] = "a\0b";
	struct store_batch *b = store_batch_new();
	struct row_value v[PROCESSES__COUNT];
	struct textbuf t;
	sqlite3_stmt *st;
	unsigned char k[4];
	char *err = NULL, *big = malloc(100000), *buf = malloc(200000);
	size_t len;

	ASSERT_NE(NULL, big);
	ASSERT_NE(NULL, buf);
	for (int i = 0; i < 100000; i++)
		big[i] = 'a' + i % 26;
	proc_row(5000, v, &t);
	v[PROCESSES_NAME] = row_text(nul_name, 3);
	v[PROCESSES_CMDLINE] = row_text(big, 100000);
	v[PROCESSES_STATE] = row_text("", 0);
	len = row_encode(v, PROCESSES__COUNT, buf, 200000);
	store_key_be32(k, 5000);
	store_batch_put(b, STORE_CF_PROCESSES, k, 4, buf, len);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);
	free(buf);

	st = prepare(_metadata, self->db, "SELECT * FROM processes WHERE pid >= 4999");
	ASSERT_NE(NULL, st);
	ASSERT_EQ(SQLITE_ROW, sqlite3_step(st));
	expect_row(_metadata, st, v, PROCESSES__COUNT);
	EXPECT_EQ(3, sqlite3_column_bytes(st, PROCESSES_NAME));
	EXPECT_EQ(SQLITE_DONE, sqlite3_step(st));
	sqlite3_finalize(st);
	free(big);
	EXPECT_EQ(100000, query_int(_metadata, self->db,
				    "SELECT length(cmdline) FROM processes WHERE pid = 5000"));
	/* Rows around a long one decode normally. */
	EXPECT_EQ(NPROC, query_int(_metadata, self->db,
				   "SELECT count(*) FROM processes WHERE cmdline GLOB 'p* --flag *'"));
}

TEST_F(sql, empty_tables)
{
	struct store_batch *b = store_batch_new();
	unsigned char lo[8], hi[8];
	char *err = NULL;

	store_key_be32(lo, 0);
	store_key_be32(hi, UINT32_MAX);
	store_batch_delete_range(b, STORE_CF_PROCESSES, lo, 4, hi, 4);
	store_key_be64(lo, 0);
	store_key_be64(hi, UINT64_MAX);
	store_batch_delete_range(b, STORE_CF_PROCESS_EVENTS, lo, 8, hi, 8);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);
	EXPECT_EQ(0, run(_metadata, self->db, "SELECT * FROM processes", NULL));
	EXPECT_EQ(0, run(_metadata, self->db, "SELECT * FROM process_events ORDER BY seq DESC LIMIT 10", NULL));
	EXPECT_EQ(0, run(_metadata, self->db, "SELECT * FROM processes WHERE pid = 1", NULL));
}

/*
 * Every row of @sql as text ("a|b\n" per row), read after sql_park() when
 * @park: the cursors give up their iterators after every row and must go on
 * where they were. sqlite3_free() the result.
 */
static char *rows_parked(struct __test_metadata *_metadata, sqlite3 *db, const char *sql, bool park)
{
	sqlite3_stmt *st = prepare(_metadata, db, sql);
	sqlite3_str *out = sqlite3_str_new(NULL);
	int rc;

	while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (park)
			sql_park(db);
		for (int i = 0; i < sqlite3_column_count(st); i++)
			sqlite3_str_appendf(out, "%s%s", i ? "|" : "", sqlite3_column_text(st, i));
		sqlite3_str_appendall(out, "\n");
	}
	if (st)
		EXPECT_EQ(SQLITE_DONE, rc) TH_LOG("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return sqlite3_str_finish(out);
}

/*
 * A statement whose cursors let go of their iterators (sql_park, as the
 * endpoint does while a client is slow to read) goes on where it was: the
 * same rows, in the same order, for scans both ways, ranges, two-part keys
 * and joins, with the current row's columns still there.
 */
TEST_F(sql, parked_statements_go_on_where_they_were)
{
	static const char *const queries[] = {
		"SELECT seq, pid, name, cmdline FROM process_events",
		"SELECT seq, path FROM process_events ORDER BY seq DESC",
		"SELECT seq, event FROM process_events WHERE seq BETWEEN 100 AND 200",
		"SELECT seq FROM process_events WHERE seq > 900 ORDER BY seq DESC",
		"SELECT e.seq, p.name, p.cwd FROM process_events e JOIN processes p ON p.pid = e.pid "
		"WHERE e.seq < 300",
		"SELECT p.pid, e.seq, e.name FROM processes p JOIN process_events e "
		"ON e.pid = p.pid AND e.seq < 400 ORDER BY p.pid DESC",
		"SELECT pid, name FROM processes WHERE pid IN (3, 50, 7, 199)",
	};
	sqlite3_stmt *st;
	char *a, *b;
	int n = 0, rc;

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		a = rows_parked(_metadata, self->db, queries[i], false);
		b = rows_parked(_metadata, self->db, queries[i], true);
		ASSERT_NE(NULL, a);
		ASSERT_NE(NULL, b);
		EXPECT_STREQ(a, b) TH_LOG("%s", queries[i]);
		EXPECT_LT(10, strlen(a)) TH_LOG("%s", queries[i]);
		sqlite3_free(a);
		sqlite3_free(b);
	}

	/*
	 * After a release, a forward scan sees rows as they are when it gets to
	 * them (deleted ones are skipped) and stops at the last key it had:
	 * rows appended meanwhile are not chased.
	 */
	st = prepare(_metadata, self->db, "SELECT seq FROM process_events");
	ASSERT_NE(NULL, st);
	for (int i = 1; i <= 10; i++) {
		ASSERT_EQ(SQLITE_ROW, sqlite3_step(st));
		EXPECT_EQ(i, sqlite3_column_int64(st, 0));
	}
	sql_park(self->db);
	{
		struct store_batch *wb = store_batch_new();
		unsigned char lo[8], hi[8];
		struct row_value v[32];
		struct textbuf t;
		char *err = NULL;

		for (uint64_t seq = NEVENT + 1; seq <= NEVENT + 10; seq++) {
			event_row(seq, v, &t);
			put_row(wb, &schema_process_events, seq, v);
		}
		store_key_be64(lo, 11);
		store_key_be64(hi, 21);
		store_batch_delete_range(wb, STORE_CF_PROCESS_EVENTS, lo, 8, hi, 8);
		ASSERT_EQ(0, store_write(self->st, wb, &err)) TH_LOG("%s", err);
		store_batch_free(wb);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0);

		EXPECT_TRUE(seq > 20 && seq <= NEVENT) TH_LOG("seq %lld", (long long)seq);
		n++;
	}
	EXPECT_EQ(SQLITE_DONE, rc);
	EXPECT_EQ(NEVENT - 20, n);
	sqlite3_finalize(st);
}

/* Connections on several threads share the store while it is written. */
struct reader {
	const struct sql_env *env;
	int scans;
	int bad;
};

static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	sqlite3 *db;
	char *err = NULL;

	if (sql_open(r->env, &db, &err)) {
		r->bad++;
		free(err);
		return NULL;
	}
	for (int i = 0; i < 50; i++) {
		sqlite3_stmt *st;
		int n = 0;

		if (sqlite3_prepare_v2(db, "SELECT pid, name, seq FROM processes", -1, &st, NULL)) {
			r->bad++;
			break;
		}
		while (sqlite3_step(st) == SQLITE_ROW)
			n++;
		sqlite3_finalize(st);
		if (n != NPROC)
			r->bad++;
		r->scans++;
	}
	sqlite3_close(db);
	return NULL;
}

TEST_F(sql, threads_with_own_connections)
{
	struct reader r[4];
	pthread_t th[4];
	struct store_batch *b = store_batch_new();
	struct row_value v[PROCESSES__COUNT];
	struct textbuf t;
	char *err = NULL;

	for (int i = 0; i < 4; i++) {
		r[i] = (struct reader){ .env = &self->env };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, reader_thread, &r[i]));
	}
	for (int round = 0; round < 20; round++) {
		store_batch_clear(b);
		for (uint32_t pid = 1; pid <= NPROC; pid++) {
			proc_row(pid, v, &t);
			v[PROCESSES_SEQ] = row_int(round);
			put_row(b, &schema_processes, pid, v);
		}
		ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		EXPECT_EQ(0, r[i].bad);
		EXPECT_EQ(50, r[i].scans);
	}
	store_batch_free(b);
	EXPECT_EQ(19, query_int(_metadata, self->db, "SELECT min(seq) FROM processes"));
}

TEST_HARNESS_MAIN
