// SPDX-License-Identifier: GPL-2.0
/*
 * test_guard.c - dbosd cannot be turned against the machine (issue 14, the
 * server's part): what a client's SQL may not do, and the limits that keep
 * one client from holding the server, as an attacker would try them.
 *
 * Each test runs dbosd's SQL side in-process as dbosd composes it: a real
 * store in a fresh temporary directory, the SQL layer, the policy manager
 * (over an in-test kernel that accepts everything) and the endpoint on a
 * Unix socket, and talks to it over the socket with libdbos or raw frames,
 * as root and, from forked children, as a group member (uid NOBODY).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "dbos_client.h"
#include "dbos_proto.h"
#include "dbserver/endpoint/endpoint.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/store.h"
#include "as_user.h"
#include "raw_client.h"
#include "sql_side.h"

#define NOBODY		65534
#define TEST_GROUP	4242
#define NEVENTS		200	/* process_events rows the fixture stores */

/* ---------------------------------------------------------------------- */
/* Fixture: dbosd's SQL side                                              */

FIXTURE(guard) {
	char dir[PATH_MAX];
	char db[PATH_MAX];
	char path[PATH_MAX];
	bool mounted;		/* a tmpfs on @dir (tests that fill the disk) */
	struct store *st;
	struct sql_env env;
	struct test_kernel k;
	struct policy_kernel_ops ops;
	struct policy *p;
	struct endpoint *ep;
	struct endpoint_config ec;
	uint64_t session_memory;	/* each client's sql_session.memory_limit */
	uint64_t retention;		/* policy_decisions rows kept (0: 1000) */
};

/* dbosd's open_db (main.c): the client's session, told who it is. */
static sqlite3 *open_client(void *arg, const struct ucred *peer, void *sink, char **err)
{
	FIXTURE_DATA(guard) *self = arg;
	struct sql_session who = { .uid = peer->uid, .pid = peer->pid,
				   .notice = endpoint_notice, .notice_arg = sink,
				   .memory_limit = self->session_memory };
	sqlite3 *db = NULL;

	if (sql_open_session(&self->env, &who, &db, err))
		return NULL;
	return db;
}

/* Open the store, the manager and the endpoint with @self->ec (socket and callbacks filled in). */
static int start(struct __test_metadata *_metadata, FIXTURE_DATA(guard) *self)
{
	struct policy_config pc = { .ops = &self->ops,
				    .retention = self->retention ? self->retention : 1000 };
	char *err = NULL;

	if (store_open(self->db, &self->st, &err) || test_store_events(self->st, NEVENTS, &err))
		goto fail;
	self->env = (struct sql_env){ .st = self->st, .stats = test_policy_stats,
				      .stats_arg = &self->p };
	pc.st = self->st;
	pc.env = &self->env;
	if (policy_open(&pc, &self->p, &err))
		goto fail;
	self->env.extend = policy_sql_register;
	self->env.extend_arg = self->p;
	self->ec.socket_path = self->path;
	self->ec.open_db_peer = open_client;
	self->ec.errmsg = sql_errmsg;
	self->ec.park = sql_park;
	self->ec.nomem = sql_nomem_errmsg;
	self->ec.arg = self;
	if (endpoint_start(&self->ec, &self->ep, &err))
		goto fail;
	return 0;
fail:
	TH_LOG("start: %s", err ? err : "?");
	free(err);
	return -1;
}

static void stop(FIXTURE_DATA(guard) *self)
{
	endpoint_stop(self->ep);
	self->ep = NULL;
	policy_close(self->p);
	self->p = NULL;
	if (self->st)
		store_close(self->st);
	self->st = NULL;
}

FIXTURE_SETUP(guard)
{
	char *err = NULL;

	/* As dbosd's main() does, before anything else uses SQLite. */
	ASSERT_EQ(0, sql_init(&err)) TH_LOG("%s", err);
	strcpy(self->dir, "/tmp/dbos-test-guard.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, chmod(self->dir, 0755));	/* group members reach the socket */
	snprintf(self->db, sizeof(self->db), "%s/db", self->dir);
	snprintf(self->path, sizeof(self->path), "%s/dbosd.sock", self->dir);
	self->ops = test_kernel_ops(&self->k);
	self->ec.group = TEST_GROUP;
	/* Tests that need other limits restart with them (restart()). */
	ASSERT_EQ(0, start(_metadata, self));
}

FIXTURE_TEARDOWN(guard)
{
	char cmd[PATH_MAX + 16];

	stop(self);
	if (self->mounted)
		umount2(self->dir, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
	if (system(cmd))
		TH_LOG("could not remove %s", self->dir);
}

/* Stop everything and start again with the endpoint limits in @self->ec. */
static void restart(struct __test_metadata *_metadata, FIXTURE_DATA(guard) *self)
{
	stop(self);
	ASSERT_EQ(0, start(_metadata, self));
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

/* Rows as text, "a|b\n" per row (NULL as "NULL"), for small results. */
static int text_row(void *arg, int ncol, const struct dbos_value *v)
{
	char *out = arg;
	size_t n = strlen(out);

	for (int i = 0; i < ncol && n < 4000; i++) {
		if (v[i].type == DBOS_T_INT)
			n += snprintf(out + n, 4096 - n, "%s%lld", i ? "|" : "", (long long)v[i].i);
		else if (v[i].type == DBOS_T_TEXT)
			n += snprintf(out + n, 4096 - n, "%s%.*s", i ? "|" : "", (int)v[i].len, v[i].s);
		else
			n += snprintf(out + n, 4096 - n, "%s%s", i ? "|" : "",
				      v[i].type == DBOS_T_NULL ? "NULL" : "?");
	}
	if (n < 4000)
		snprintf(out + n, 4096 - n, "\n");
	return 0;
}

static const struct dbos_callbacks text_cb = { .on_row = text_row };

/*
 * Run @sql on @c: 0 with the rows in @out (4096 bytes), or -1 with the
 * error in @out.
 */
static int run(struct dbos_conn *c, const char *sql, char out[4096])
{
	char *err = NULL;
	int ret;

	out[0] = 0;
	ret = dbos_query(c, sql, &text_cb, out, &err);
	if (ret)
		snprintf(out, 4096, "%s", err ? err : "?");
	free(err);
	return ret;
}

/* @sql must fail, with a message containing @want. */
#define REFUSED(c, sql, want) do { \
	char o_[4096]; \
	EXPECT_EQ(-1, run(c, sql, o_)) TH_LOG("%s was not refused: %s", sql, o_); \
	EXPECT_NE(NULL, strstr(o_, want)) TH_LOG("%s: %s", sql, o_); \
} while (0)

#define WORKS(c, sql) do { \
	char o_[4096]; \
	EXPECT_EQ(0, run(c, sql, o_)) TH_LOG("%s: %s", sql, o_); \
} while (0)

/* Nothing was created under @dir but what was there: the socket and the store. */
static void expect_no_new_files(struct __test_metadata *_metadata, const char *dir)
{
	char cmd[PATH_MAX + 64], line[PATH_MAX];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ls -A '%s'", dir);
	f = popen(cmd, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		EXPECT_TRUE(!strcmp(line, "db") || !strcmp(line, "dbosd.sock"))
			TH_LOG("dbosd created %s/%s", dir, line);
	}
	pclose(f);
}

/* ---------------------------------------------------------------------- */
/* 1. No files, no code                                                   */

/*
 * Every way into the file system that SQLite offers a connection: ATTACH
 * (plain, URI, shared-cache memory), VACUUM and VACUUM INTO, DETACH. dbosd is
 * root: each of these would create or overwrite any file on the machine.
 */
TEST_F(guard, no_statement_opens_a_file)
{
	struct dbos_conn *c = dbos_connect(self->path, NULL);
	char f[PATH_MAX + 64], sql[2 * PATH_MAX];
	struct stat st;

	ASSERT_NE(NULL, c);
	snprintf(f, sizeof(f), "%s/x.db", self->dir);

	snprintf(sql, sizeof(sql), "ATTACH '%s' AS k; CREATE TABLE k.t(x)", f);
	REFUSED(c, sql, "not authorized: ATTACH");
	snprintf(sql, sizeof(sql), "ATTACH \"%s\" AS k", f);
	REFUSED(c, sql, "not authorized: ATTACH");
	snprintf(sql, sizeof(sql), "ATTACH DATABASE 'file:%s?mode=rwc' AS k", f);
	REFUSED(c, sql, "not authorized: ATTACH");
	snprintf(sql, sizeof(sql), "ATTACH (SELECT '%s') AS k", f);
	REFUSED(c, sql, "not authorized: ATTACH");
	REFUSED(c, "ATTACH 'file::memory:?cache=shared' AS shared", "not authorized: ATTACH");
	REFUSED(c, "ATTACH ':memory:' AS m", "not authorized: ATTACH");
	REFUSED(c, "DETACH temp", "not authorized: ");
	snprintf(sql, sizeof(sql), "VACUUM INTO '%s'", f);
	REFUSED(c, sql, "VACUUM");
	snprintf(sql, sizeof(sql), "VACUUM main INTO 'file:%s'", f);
	REFUSED(c, sql, "VACUUM");
	REFUSED(c, "VACUUM", "VACUUM");
	EXPECT_EQ(-1, stat(f, &st)) TH_LOG("%s was created", f);
	expect_no_new_files(_metadata, self->dir);
	/* The connection is still usable after each refusal. */
	WORKS(c, "SELECT count(*) FROM process_events");
	dbos_close(c);
}

/* Loading code: load_extension() and fts3_tokenizer(), which installs a tokenizer by address. */
TEST_F(guard, no_statement_loads_code)
{
	struct dbos_conn *c = dbos_connect(self->path, NULL);
	char out[4096];

	ASSERT_NE(NULL, c);
	REFUSED(c, "SELECT load_extension('/nonexistent/x.so')", "not authorized: load_extension()");
	REFUSED(c, "SELECT load_extension('/nonexistent/x.so', 'init')", "load_extension() is refused");
	/* A NULL tokenizer: an fts3 table using it would call through address 0. */
	REFUSED(c, "SELECT fts3_tokenizer('simple', x'0000000000000000')", "fts3_tokenizer() is refused");
	REFUSED(c, "SELECT hex(fts3_tokenizer('simple'))", "fts3_tokenizer() is refused");
	REFUSED(c, "CREATE VIRTUAL TABLE temp.f USING fts3(x, tokenize=simple)",
		"CREATE VIRTUAL TABLE is refused");
	/* SQL that dbos runs for a client: a simulated condition, a rule's subquery. */
	REFUSED(c, "SELECT * FROM policy_simulate('exec', 'load_extension(''/nonexistent/x.so'') = 0')",
		"policy_simulate: not authorized: load_extension() is refused");
	REFUSED(c, "INSERT INTO policies(name, hook, action, condition) VALUES ('x', 'exec', 'deny', "
		   "'pid IN (SELECT fts3_tokenizer(''simple'', x''0000000000000000''))')",
		"fts3_tokenizer() is refused");
	/* What reaches files in the sqlite3 shell is not in the library dbosd uses. */
	EXPECT_EQ(0, run(c, "SELECT count(*) FROM pragma_function_list WHERE name IN "
			    "('readfile', 'writefile', 'edit', 'fsdir', 'zipfile')", out));
	EXPECT_STREQ("0\n", out);
	EXPECT_EQ(0, run(c, "SELECT count(*) FROM pragma_module_list WHERE name IN "
			    "('fsdir', 'zipfile', 'sqlite_dbpage', 'sqlite_dbdata')", out));
	EXPECT_STREQ("0\n", out);
	dbos_close(c);
}

/* Settings: PRAGMAs that write, or reach files, are refused; reading the catalogue is not. */
TEST_F(guard, pragmas_read_but_never_write)
{
	static const char *const refused[] = {
		"PRAGMA main.journal_mode = WAL", "PRAGMA journal_mode = DELETE",
		"PRAGMA temp_store_directory = '/tmp'", "PRAGMA temp_store = FILE",
		"PRAGMA writable_schema = 1", "PRAGMA trusted_schema = 1",
		"PRAGMA mmap_size = 1000000", "PRAGMA cache_size = -1000000",
		"PRAGMA soft_heap_limit = 0", "PRAGMA hard_heap_limit = 0",
		"PRAGMA threads = 4", "PRAGMA user_version = 5", "PRAGMA shrink_memory",
		"PRAGMA wal_checkpoint", "PRAGMA optimize", "PRAGMA query_only = 0",
		"PRAGMA temp.journal_mode", "SELECT * FROM pragma_journal_mode",
	};
	static const char *const allowed[] = {
		"PRAGMA table_info(processes)", "PRAGMA table_xinfo(process_events)",
		"SELECT * FROM pragma_table_info('listening_ports')",
		"PRAGMA index_list(processes)", "PRAGMA function_list", "PRAGMA module_list",
		"PRAGMA database_list", "PRAGMA compile_options", "PRAGMA pragma_list",
		"PRAGMA collation_list", "PRAGMA table_list", "PRAGMA foreign_key_list(processes)",
		"PRAGMA schema_version", "PRAGMA encoding", "PRAGMA quick_check",
		"SELECT name FROM pragma_function_list WHERE name = 'policy_rollback'",
	};
	struct dbos_conn *c = dbos_connect(self->path, NULL);

	ASSERT_NE(NULL, c);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		REFUSED(c, refused[i], "not authorized: PRAGMA");
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		WORKS(c, allowed[i]);
	dbos_close(c);
}

/*
 * Everything README teaches still works under the guard, for root: every
 * table, view and table-valued function, the shell's dot-command queries,
 * policy changes (INSERT, UPDATE, DELETE, rollback), scheduling, simulation,
 * transactions and savepoints, and a client's own scratch tables.
 */
TEST_F(guard, what_the_readme_teaches_still_works)
{
	struct dbos_conn *c = dbos_connect(self->path, NULL);
	char names[4096], out[4096], sql[512];

	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, run(c, "SELECT group_concat(name || ':' || type, ',') FROM dbos_schema", names));
	for (char *tok = strtok(names, ",\n"); tok; tok = strtok(NULL, ",\n")) {
		char *type = strchr(tok, ':');

		ASSERT_NE(NULL, type);
		*type++ = 0;
		if (!strcmp(type, "table") || !strcmp(type, "view"))
			snprintf(sql, sizeof(sql), "SELECT * FROM %s LIMIT 3", tok);
		else if (!strcmp(tok, "policy_simulate"))
			snprintf(sql, sizeof(sql), "SELECT * FROM policy_simulate('exec', "
				 "'path GLOB ''/usr/*''') LIMIT 3");
		else
			continue;	/* functions: below */
		WORKS(c, sql);
	}
	/* The shell's .tables, .schema and dbos policy versions. */
	WORKS(c, "SELECT name FROM dbos_schema WHERE type <> 'function' ORDER BY name");
	WORKS(c, "SELECT sql FROM dbos_schema WHERE name = 'processes'");
	WORKS(c, "SELECT version, datetime(time, 'unixepoch') AS time, uid, pid, action, "
		 "from_version, rules, live FROM policy_versions ORDER BY version");
	/* Policy: one version per transaction, rollback. */
	WORKS(c, "INSERT INTO policies(name, hook, action, condition) VALUES "
		 "('no-4444', 'connect', 'deny', 'remote_port = 4444')");
	WORKS(c, "BEGIN; UPDATE policies SET condition = 'remote_port = 4445' WHERE name = 'no-4444'; "
		 "SAVEPOINT s; DELETE FROM policies WHERE name = 'no-4444'; ROLLBACK TO s; "
		 "RELEASE s; COMMIT");
	EXPECT_EQ(0, run(c, "SELECT condition FROM policies", out));
	EXPECT_STREQ("remote_port = 4445\n", out);
	WORKS(c, "DELETE FROM policies WHERE name = 'no-4444'");
	EXPECT_EQ(0, run(c, "SELECT policy_rollback(1)", out));
	EXPECT_STREQ("4\n", out);
	EXPECT_EQ(0, run(c, "SELECT count(*) FROM policy_simulate('exec', 'path = ''/usr/bin/true''')",
			 out));
	EXPECT_EQ(NEVENTS, atoi(out));
	/* Scheduling (no process matches: nothing to send to the module). */
	WORKS(c, "UPDATE processes SET nice = 10 WHERE name = 'make'");
	/* A client's own tables, views, indexes and triggers, in its memory. */
	WORKS(c, "CREATE TEMP TABLE mine AS SELECT pid, path FROM process_events WHERE seq <= 10; "
		 "CREATE INDEX temp.mine_pid ON mine(pid); CREATE TABLE main.notes(x); "
		 "CREATE TEMP VIEW v AS SELECT count(*) AS n FROM mine; "
		 "CREATE TEMP TRIGGER tr AFTER INSERT ON notes BEGIN DELETE FROM mine; END; "
		 "INSERT INTO notes VALUES (1); ANALYZE; DROP VIEW v; DROP TABLE notes");
	EXPECT_EQ(0, run(c, "SELECT count(*) FROM mine", out));
	EXPECT_STREQ("0\n", out);
	WORKS(c, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100) "
		 "SELECT sum(n) FROM r");
	dbos_close(c);
}

/* What a group member runs (member_fn). */
struct member_sql {
	const char *path, *sql;
	int times;
};

/* Runs @arg's SQL @times times on one connection: 1 when the last run failed (its error in @msg). */
static int member_fn(void *arg, char *msg, size_t size)
{
	const struct member_sql *m = arg;
	struct dbos_conn *c = dbos_connect(m->path, NULL);
	char out[4096] = "";
	int ret = 0;

	if (!c)
		return 101;
	for (int i = 0; i < m->times; i++)
		ret = run(c, m->sql, out);
	snprintf(msg, size, "%s", out);
	dbos_close(c);
	return ret ? 1 : 0;
}

/*
 * Run @sql @times times as a group member (uid NOBODY, group TEST_GROUP) over
 * its own connection. Returns the child's exit status: 0 when every run
 * succeeded, 1 when the last failed (its message in @msg).
 */
static int run_as_member_n(const char *path, const char *sql, int times, char *msg, size_t size)
{
	struct member_sql m = { path, sql, times };

	return as_user(NOBODY, TEST_GROUP, TEST_GROUP, member_fn, &m, msg, size);
}

static int run_as_member(const char *path, const char *sql, char *msg, size_t size)
{
	return run_as_member_n(path, sql, 1, msg, size);
}

/*
 * A group member's session shares nothing with anyone's later sessions:
 * its tables, views and triggers, in main or temp, and the dbos views it
 * dropped or shadowed, exist in its own connection's memory only.
 */
TEST_F(guard, a_session_leaves_nothing_for_the_next)
{
	struct dbos_conn *c;
	char msg[4096];

	EXPECT_EQ(0, run_as_member(self->path,
		"CREATE TABLE main.bait(x); CREATE TEMP TABLE tbait(x); "
		"CREATE TEMP VIEW process_ancestors AS SELECT 1 AS pid; "
		"CREATE TEMP VIEW listening_ports AS SELECT 1 AS pid, 2 AS port; "
		"DROP VIEW policy_context_exec; "
		"CREATE VIEW policy_context_exec AS SELECT 1 AS pid, '/x' AS path", msg, sizeof(msg)))
		TH_LOG("%s", msg);
	c = dbos_connect(self->path, NULL);
	ASSERT_NE(NULL, c);
	REFUSED(c, "SELECT * FROM bait", "no such table: bait");
	REFUSED(c, "SELECT * FROM tbait", "no such table: tbait");
	WORKS(c, "SELECT pid, port FROM listening_ports");
	WORKS(c, "SELECT pid, ancestor, depth FROM process_ancestors");
	EXPECT_EQ(0, run(c, "SELECT count(*) FROM policy_simulate('exec', '1')", msg));
	EXPECT_EQ(NEVENTS, atoi(msg));
	dbos_close(c);
	/* A group member cannot change policy (and the refusal is recorded, see item 3). */
	EXPECT_EQ(1, run_as_member(self->path, "INSERT INTO policies(name, hook, action, condition) "
				   "VALUES ('x', 'exec', 'deny', 'uid = 0')", msg, sizeof(msg)));
	EXPECT_STREQ("permission denied: only root may change policy", msg);
}

/* ---------------------------------------------------------------------- */
/* 2. Limits                                                              */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Read frames until an 'E' or 'D' frame, the end of the stream or @ms.
 * Returns the last frame's type (0: end of stream, -1: timed out or
 * error), its text in @text.
 */
static int read_answer(int fd, int ms, char *text, size_t size)
{
	int64_t end = now_ms() + ms;
	struct dbos_buf b;
	uint8_t type = 0;
	int r;

	dbos_buf_init(&b);
	text[0] = 0;
	for (;;) {
		int left = (int)(end - now_ms());

		r = dbos_read_frame(fd, left > 0 ? left : 0, 5000, &type, &b, NULL);
		if (r <= 0)
			break;
		snprintf(text, size, "%.*s", (int)b.len, (const char *)b.data);
		if (type == DBOS_F_ERROR || type == DBOS_F_DONE)
			break;
	}
	dbos_buf_free(&b);
	return r < 0 ? -1 : r == 0 ? 0 : type;
}

/* A runaway statement is cancelled after --statement-timeout, with that reason. */
TEST_F(guard, a_runaway_statement_is_cancelled)
{
	char text[512];
	int64_t t0;
	int fd;

	self->ec.statement_timeout = 1;
	restart(_metadata, self);
	fd = raw_connect(self->path, true);
	ASSERT_LE(0, fd);
	t0 = now_ms();
	ASSERT_EQ(0, send_query(fd, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
			       "SELECT count(*) FROM r"));
	EXPECT_EQ(DBOS_F_ERROR, read_answer(fd, 10000, text, sizeof(text))) TH_LOG("%s", text);
	EXPECT_STREQ("statement cancelled after 1 s (dbosd --statement-timeout)", text);
	EXPECT_GE(now_ms() - t0, 900);
	EXPECT_LE(now_ms() - t0, 5000);
	TH_LOG("cancelled after %lld ms", (long long)(now_ms() - t0));
	/* The same inside policy_simulate, whose statement runs nested. */
	ASSERT_EQ(0, send_query(fd, "SELECT count(*) FROM policy_simulate('exec', "
			       "'pid IN (WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
			       "SELECT n FROM r WHERE n < 0)')"));
	EXPECT_EQ(DBOS_F_ERROR, read_answer(fd, 10000, text, sizeof(text))) TH_LOG("%s", text);
	EXPECT_STREQ("statement cancelled after 1 s (dbosd --statement-timeout)", text);
	/* The connection goes on. */
	ASSERT_EQ(0, send_query(fd, "SELECT 1"));
	EXPECT_EQ(DBOS_F_DONE, read_answer(fd, 5000, text, sizeof(text)));
	close(fd);
}

/* A session that wants more memory than --session-memory is stopped, and goes on. */
TEST_F(guard, a_session_cannot_take_the_memory)
{
	struct dbos_conn *c;
	char out[4096];

	self->session_memory = 16 << 20;
	restart(_metadata, self);
	c = dbos_connect(self->path, NULL);
	ASSERT_NE(NULL, c);
	/* ~100 MB of temp table, then ~100 MB of sort, then of one string. */
	REFUSED(c, "CREATE TEMP TABLE big AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL "
		   "SELECT n + 1 FROM r WHERE n < 100000) SELECT n, randomblob(1000) AS b FROM r",
		"statement stopped: this session reached its memory limit of 16 MiB "
		"(dbosd --session-memory)");
	REFUSED(c, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100000) "
		   "SELECT n FROM r ORDER BY randomblob(1000)",
		"this session reached its memory limit of 16 MiB");
	REFUSED(c, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100000) "
		   "SELECT length(group_concat(hex(randomblob(500)))) FROM r",
		"this session reached its memory limit of 16 MiB");
	EXPECT_EQ(0, run(c, "SELECT count(*) FROM process_events", out)) TH_LOG("%s", out);
	EXPECT_EQ(NEVENTS, atoi(out));
	/* What fits is fine. */
	WORKS(c, "CREATE TEMP TABLE small AS SELECT randomblob(1000) FROM process_events");
	dbos_close(c);
}

/*
 * The query a client sends counts against its memory limit too: a frame may
 * announce up to 64 MiB, and each of 64 connections could otherwise make
 * dbosd hold that much outside any limit.
 */
TEST_F(guard, a_long_query_counts_against_the_memory_limit)
{
	size_t big = 24 << 20, fits = 4 << 20;
	char *sql = malloc(big + 1), text[512];
	int fd;

	ASSERT_NE(NULL, sql);
	self->session_memory = 16 << 20;
	restart(_metadata, self);
	memcpy(sql, "SELECT 1; --", 12);
	memset(sql + 12, 'x', big - 12);
	sql[big] = 0;
	fd = raw_connect(self->path, true);
	ASSERT_LE(0, fd);
	(void)send_query(fd, sql);	/* EPIPE once dbosd stopped reading is expected */
	EXPECT_EQ(DBOS_F_ERROR, read_answer(fd, 10000, text, sizeof(text))) TH_LOG("%s", text);
	EXPECT_STREQ("this session reached its memory limit of 16 MiB (dbosd --session-memory)", text);
	close(fd);
	/* A long request within the limit is served (statements of 512 KiB: SQLite's own limit is 1 MiB). */
	for (size_t at = 0; at < fits; at += 512 << 10) {
		memcpy(sql + at, "SELECT 1; --", 12);
		sql[at + (512 << 10) - 1] = '\n';
	}
	sql[fits] = 0;
	fd = raw_connect(self->path, true);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, send_query(fd, sql));
	EXPECT_EQ(DBOS_F_DONE, read_answer(fd, 10000, text, sizeof(text))) TH_LOG("%s", text);
	close(fd);
	free(sql);
}

/* Opens connections to @arg until one is refused (at most 200), keeps them: "N|refusal" in @msg. */
static int hog_fn(void *arg, char *msg, size_t size)
{
	int count = 0;
	char *err = NULL;

	while (count < 200 && dbos_connect(arg, &err))	/* kept open on purpose */
		count++;
	snprintf(msg, size, "%d|%s", count, err ? err : "");
	free(err);
	return 0;
}

/*
 * As uid @uid (group TEST_GROUP), open every connection dbosd grants and
 * hold them until as_user_wait(@u). *@n: how many; @msg: the refusal.
 */
static void hog_connections(struct __test_metadata *_metadata, const char *path, uid_t uid,
			    struct as_user *u, int *n, char *msg, size_t size)
{
	char report[1024], *bar;

	ASSERT_EQ(0, as_user_start(u, uid, TEST_GROUP, TEST_GROUP, hog_fn, (void *)path, true));
	as_user_report(u, report, sizeof(report));
	*n = atoi(report);
	bar = strchr(report, '|');
	snprintf(msg, size, "%s", bar ? bar + 1 : "");
}

/*
 * A group member who opens every connection it can does not lock root (or
 * the other members) out: per-uid limit, slots kept for root.
 */
TEST_F(guard, a_member_cannot_take_every_connection)
{
	struct as_user u1, u2;
	char msg1[512], msg2[512];
	struct dbos_conn *c;
	char out[4096];
	int n1, n2;

	hog_connections(_metadata, self->path, NOBODY, &u1, &n1, msg1, sizeof(msg1));
	TH_LOG("uid %d got %d connections, then: %s", NOBODY, n1, msg1);
	EXPECT_EQ(ENDPOINT_DEFAULT_PER_USER, n1);
	EXPECT_STREQ("too many connections: uid 65534 already has 16 (dbosd "
		     "--max-connections-per-user)", msg1);
	/* Another member still gets its own share. */
	hog_connections(_metadata, self->path, NOBODY - 1, &u2, &n2, msg2, sizeof(msg2));
	EXPECT_EQ(ENDPOINT_DEFAULT_PER_USER, n2) TH_LOG("%s", msg2);
	/* And root always has its reserved slots. */
	c = dbos_connect(self->path, NULL);
	ASSERT_NE(NULL, c) TH_LOG("root was locked out");
	EXPECT_EQ(0, run(c, "SELECT 42", out));
	dbos_close(c);
	as_user_wait(&u1);
	as_user_wait(&u2);

	/* With the per-user limit off, members share what is not reserved; root keeps its own. */
	self->ec.max_connections = 12;
	self->ec.reserved_connections = 4;
	self->ec.max_connections_per_user = ENDPOINT_OFF;
	restart(_metadata, self);
	hog_connections(_metadata, self->path, NOBODY, &u1, &n1, msg1, sizeof(msg1));
	EXPECT_EQ(8, n1);
	EXPECT_STREQ("too many connections: dbosd serves at most 12 clients at once, "
		     "4 of them only for root (dbosd --max-connections, --reserved-connections)", msg1);
	for (int i = 0; i < 4; i++) {
		struct dbos_conn *r = dbos_connect(self->path, NULL);

		EXPECT_NE(NULL, r) TH_LOG("root connection %d of 4 refused", i + 1);
		/* kept open: the fifth is one too many for root too */
	}
	as_user_wait(&u1);
}

/*
 * A connection that never sends a query is closed after
 * --first-query-timeout, saying why; one that has sent a query may idle.
 * libdbos reconnects by itself when its first query finds the connection
 * closed that way (nothing was sent on it yet).
 */
TEST_F(guard, a_silent_connection_is_closed)
{
	struct dbos_conn *c;
	char text[512], out[4096];
	int fd, busy;
	int64_t t0;

	self->ec.first_query_timeout = 1;
	restart(_metadata, self);
	fd = raw_connect(self->path, true);
	busy = raw_connect(self->path, true);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, busy);
	ASSERT_EQ(0, send_query(busy, "SELECT 1"));
	EXPECT_EQ(DBOS_F_DONE, read_answer(busy, 5000, text, sizeof(text)));
	t0 = now_ms();
	EXPECT_EQ(DBOS_F_ERROR, read_answer(fd, 10000, text, sizeof(text)));
	EXPECT_STREQ("closing: no query within 1 s of connecting (dbosd --first-query-timeout)", text);
	EXPECT_EQ(0, read_answer(fd, 5000, text, sizeof(text)));	/* then the end */
	EXPECT_LE(now_ms() - t0, 3000);
	close(fd);
	/* The one that spoke is still served. */
	usleep(1500 * 1000);
	ASSERT_EQ(0, send_query(busy, "SELECT 2"));
	EXPECT_EQ(DBOS_F_DONE, read_answer(busy, 5000, text, sizeof(text)));
	close(busy);
	/* A library user that waits before its first query does not notice. */
	c = dbos_connect(self->path, NULL);
	ASSERT_NE(NULL, c);
	usleep(2000 * 1000);
	EXPECT_EQ(0, run(c, "SELECT 42", out)) TH_LOG("%s", out);
	EXPECT_STREQ("42\n", out);
	dbos_close(c);
}

/* Bytes waiting in @fd's receive queue. */
static int queued(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) < 0 ? -1 : n;
}

/* Wait until @fd's receive queue stops growing: the server is blocked sending. */
static bool wait_blocked(int fd)
{
	int last = -1, same = 0;

	for (int i = 0; i < 500 && same < 10; i++) {
		int n = queued(fd);

		same = n > 0 && n == last ? same + 1 : 0;
		last = n;
		usleep(20 * 1000);
	}
	return same >= 10;
}

/* A client that does not read its results is dropped after --send-timeout. */
TEST_F(guard, a_client_that_does_not_read_is_dropped)
{
	char buf[65536];
	size_t total = 0;
	bool eof = false;
	int fd;

	self->ec.send_timeout = 1;
	restart(_metadata, self);
	fd = raw_connect(self->path, true);
	ASSERT_LE(0, fd);
	/* 200 rows of 1 MB: far more than the socket holds. */
	ASSERT_EQ(0, send_query(fd, "SELECT seq, zeroblob(1000000) FROM process_events"));
	ASSERT_TRUE(wait_blocked(fd));
	usleep(3000 * 1000);
	/* Now read: what was queued, then the end (not 200 MB). */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 5000) <= 0)
			break;
		r = read(fd, buf, sizeof(buf));
		eof = r == 0 || (r < 0 && errno == ECONNRESET);
		if (r <= 0)
			break;
		total += (size_t)r;
	}
	EXPECT_TRUE(eof) TH_LOG("the server did not close the connection");
	EXPECT_LT(total, 20u << 20) TH_LOG("read %zu bytes", total);
	TH_LOG("read %zu bytes before the end", total);
	close(fd);
}

/*
 * A reader blocked on a full socket holds no store iterator: after the disk
 * filled up, the store reopens (which needs every iterator gone) and writes
 * resume while the reader is still stuck; its statement then finishes with
 * every row, in order.
 */
TEST_F_TIMEOUT(guard, a_stuck_reader_does_not_hold_the_store, 120)
{
	struct store_batch *b;
	static char val[8192];
	char ballast[PATH_MAX + 16], *err = NULL;
	struct dbos_buf in;
	bool full = false, resumed = false;
	int fd, rows = 0, i;
	uint8_t type;

	stop(self);
	if (unshare(CLONE_NEWNS) || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", self->dir, "tmpfs", 0, "size=8m")) {
		SKIP(return, "cannot mount a tmpfs (needs root): %s", strerror(errno));
	}
	self->mounted = true;
	ASSERT_EQ(0, start(_metadata, self));
	snprintf(ballast, sizeof(ballast), "%s/ballast", self->dir);
	{
		int bfd = open(ballast, O_CREAT | O_WRONLY, 0600);

		ASSERT_LE(0, bfd);
		memset(val, 'b', sizeof(val));
		for (i = 0; i < 256; i++)	/* 2 MiB */
			ASSERT_EQ((ssize_t)sizeof(val), write(bfd, val, sizeof(val)));
		close(bfd);
	}

	fd = raw_connect(self->path, true);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, send_query(fd, "SELECT seq, zeroblob(100000) FROM process_events"));
	ASSERT_TRUE(wait_blocked(fd));

	/* Fill the disk through the store until writes stop. */
	b = store_batch_new();
	for (i = 0; i < 100000 && !full; i++) {
		unsigned char k[4];

		store_key_be32(k, (uint32_t)i);
		store_batch_clear(b);
		store_batch_put(b, STORE_CF_META, k, 4, val, sizeof(val));
		full = store_write(self->st, b, &err) != 0;
		if (full)
			TH_LOG("full: %s", err);
		free(err);
		err = NULL;
	}
	ASSERT_TRUE(full);
	unlink(ballast);
	/* Writing resumes: the store reopens although the reader is still stuck. */
	for (int t = 0; t < 50 && !resumed; t++) {
		store_batch_clear(b);
		store_batch_put(b, STORE_CF_META, "after", 5, "x", 1);
		resumed = store_write(self->st, b, &err) == 0;
		if (!resumed) {
			if (t % 10 == 0)
				TH_LOG("%s", err);
			usleep(100 * 1000);
		}
		free(err);
		err = NULL;
	}
	EXPECT_TRUE(resumed);
	store_batch_free(b);

	/* The statement goes on where it stopped: every row, once, in order. */
	dbos_buf_init(&in);
	while (dbos_read_frame(fd, 10000, 10000, &type, &in, NULL) == 1) {
		struct dbos_rd rd;

		if (type == DBOS_F_DONE || type == DBOS_F_ERROR)
			break;
		if (type != DBOS_F_ROW)
			continue;
		dbos_rd_init(&rd, in.data, in.len);
		EXPECT_EQ(DBOS_T_INT, dbos_rd_u8(&rd));
		EXPECT_EQ((uint64_t)++rows, dbos_rd_u64(&rd));
	}
	EXPECT_EQ(DBOS_F_DONE, type) TH_LOG("%.*s", (int)in.len, (const char *)in.data);
	EXPECT_EQ(NEVENTS, rows);
	dbos_buf_free(&in);
	close(fd);
}

/* ---------------------------------------------------------------------- */
/* 3. The audit trail                                                     */

/*
 * Every refused policy change by a non-root user is recorded, but a loop of
 * them cannot flush the real denials out of policy_decisions: refused
 * attempts have a budget of their own.
 */
TEST_F(guard, refused_attempts_do_not_flush_real_denials)
{
	struct dbos_lsm_decision d = { .version = 1, .hook = DBOS_LSM_EXEC,
				       .verdict = DBOS_LSM_DENY, .pid = 4242, .uid = 1000 };
	struct dbos_conn *c;
	char *err = NULL, msg[4096], out[4096];
	struct timespec boot;

	self->retention = 20;
	restart(_metadata, self);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	d.time_ns = (uint64_t)boot.tv_sec * 1000000000 + boot.tv_nsec;
	strcpy(d.name, "evil");
	strcpy(d.path, "/tmp/evil");
	ASSERT_EQ(0, policy_decisions_write(self->p, &d, 1, &err)) TH_LOG("%s", err);

	/* The attacker: 500 refused changes, 25 times the retention. */
	EXPECT_EQ(1, run_as_member_n(self->path, "SELECT policy_rollback(1)", 250, msg, sizeof(msg)));
	EXPECT_STREQ("permission denied: only root may change policy", msg);
	EXPECT_EQ(1, run_as_member_n(self->path, "DELETE FROM policies", 250, msg, sizeof(msg)));

	c = dbos_connect(self->path, NULL);
	ASSERT_NE(NULL, c);
	EXPECT_EQ(0, run(c, "SELECT pid, path FROM policy_decisions WHERE verdict = 'deny'", out));
	EXPECT_STREQ("4242|/tmp/evil\n", out) TH_LOG("the real denial was flushed out");
	/* The refusals are recorded (the newest ones) and counted (all of them). */
	EXPECT_EQ(0, run(c, "SELECT count(*), count(DISTINCT uid), max(uid) FROM policy_decisions "
			    "WHERE verdict = 'refused'", out));
	EXPECT_STREQ("20|1|65534\n", out);
	EXPECT_EQ(0, run(c, "SELECT value FROM dbos_stats WHERE name = 'policy_refused'", out));
	EXPECT_STREQ("500\n", out);
	/* Real decisions keep their own retention. */
	for (int i = 0; i < 40; i++) {
		d.pid = 5000 + i;
		ASSERT_EQ(0, policy_decisions_write(self->p, &d, 1, &err)) TH_LOG("%s", err);
	}
	EXPECT_EQ(0, run(c, "SELECT count(*) <= 22, min(pid) > 5000, max(pid) FROM policy_decisions "
			    "WHERE verdict = 'deny'", out));
	EXPECT_STREQ("1|1|5039\n", out);
	dbos_close(c);

	/* After a restart, the budgets are counted again from the store. */
	restart(_metadata, self);
	EXPECT_EQ(0, run_as_member_n(self->path, "SELECT 1", 1, msg, sizeof(msg)));
	EXPECT_EQ(1, run_as_member_n(self->path, "SELECT policy_rollback(1)", 30, msg, sizeof(msg)));
	c = dbos_connect(self->path, NULL);
	ASSERT_NE(NULL, c);
	EXPECT_EQ(0, run(c, "SELECT count(*) FROM policy_decisions WHERE verdict = 'refused'", out));
	EXPECT_STREQ("20\n", out);
	EXPECT_EQ(0, run(c, "SELECT max(pid) FROM policy_decisions WHERE verdict = 'deny'", out));
	EXPECT_STREQ("5039\n", out);
	dbos_close(c);
}

TEST_HARNESS_MAIN
