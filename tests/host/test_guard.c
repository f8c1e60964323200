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
#include "dbserver/policy/policy.h"
#include "dbserver/sql/schema.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/row.h"
#include "dbserver/store/store.h"

#define NOBODY		65534
#define TEST_GROUP	4242
#define NEVENTS		200	/* process_events rows the fixture stores */

/* ---------------------------------------------------------------------- */
/* The kernel as the policy manager sees it: accepts every version.       */

struct kernel {
	uint64_t live, prepared;
};

static int k_prepare(void *arg, const struct policy_image *img, char **err)
{
	((struct kernel *)arg)->prepared = img->version;
	return 0;
}

static void k_flip(void *arg)
{
	struct kernel *k = arg;

	k->live = k->prepared;
}

static uint64_t k_live(void *arg)
{
	return ((struct kernel *)arg)->live;
}

/* ---------------------------------------------------------------------- */
/* Fixture: dbosd's SQL side                                              */

FIXTURE(guard) {
	char dir[PATH_MAX];
	char db[PATH_MAX];
	char path[PATH_MAX];
	bool mounted;		/* a tmpfs on @dir (tests that fill the disk) */
	struct store *st;
	struct sql_env env;
	struct kernel k;
	struct policy_kernel_ops ops;
	struct policy *p;
	struct endpoint *ep;
	struct endpoint_config ec;
};

static int stats_cb(void *arg, struct sql_stat *out, int max)
{
	struct policy **p = arg;

	return *p ? policy_stats(*p, out, max) : 0;
}

/* dbosd's open_db (main.c): the client's session, told who it is. */
static sqlite3 *open_client(void *arg, const struct ucred *peer, void *sink, char **err)
{
	const struct sql_env *env = arg;
	struct sql_session who = { .uid = peer->uid, .pid = peer->pid,
				   .notice = endpoint_notice, .notice_arg = sink };
	sqlite3 *db = NULL;

	if (sql_open_session(env, &who, &db, err))
		return NULL;
	return db;
}

/* process_events rows 1..@n, as the mirror would store them. */
static int store_events(struct store *st, uint64_t n, char **err)
{
	struct store_batch *b = store_batch_new();
	int ret;

	for (uint64_t seq = 1; seq <= n; seq++) {
		struct row_value v[PROCESS_EVENTS__COUNT];
		unsigned char k[8];
		char buf[512];
		size_t len;

		for (int c = 0; c < PROCESS_EVENTS__COUNT; c++)
			v[c] = row_null();
		v[PROCESS_EVENTS_SEQ] = row_int((int64_t)seq);
		v[PROCESS_EVENTS_EVENT] = row_text("exec", 4);
		v[PROCESS_EVENTS_PID] = row_int(1000 + (int64_t)seq);
		v[PROCESS_EVENTS_PATH] = row_text("/usr/bin/true", 13);
		len = row_encode(v, PROCESS_EVENTS__COUNT, buf, sizeof(buf));
		store_key_be64(k, seq);
		store_batch_put(b, STORE_CF_PROCESS_EVENTS, k, 8, buf, len);
	}
	ret = store_write(st, b, err);
	store_batch_free(b);
	return ret;
}

/* Open the store, the manager and the endpoint with @self->ec (socket and callbacks filled in). */
static int start(struct __test_metadata *_metadata, FIXTURE_DATA(guard) *self)
{
	struct policy_config pc = { .ops = &self->ops, .retention = 1000 };
	char *err = NULL;

	if (store_open(self->db, &self->st, &err) || store_events(self->st, NEVENTS, &err))
		goto fail;
	self->env = (struct sql_env){ .st = self->st, .stats = stats_cb, .stats_arg = &self->p };
	pc.st = self->st;
	pc.env = &self->env;
	if (policy_open(&pc, &self->p, &err))
		goto fail;
	self->env.extend = policy_sql_register;
	self->env.extend_arg = self->p;
	self->ec.socket_path = self->path;
	self->ec.open_db_peer = open_client;
	self->ec.errmsg = sql_errmsg;
	self->ec.arg = &self->env;
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
	strcpy(self->dir, "/tmp/dbos-test-guard.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, chmod(self->dir, 0755));	/* group members reach the socket */
	snprintf(self->db, sizeof(self->db), "%s/db", self->dir);
	snprintf(self->path, sizeof(self->path), "%s/dbosd.sock", self->dir);
	self->ops = (struct policy_kernel_ops){ .prepare = k_prepare, .flip = k_flip,
						.live_version = k_live, .arg = &self->k };
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
static __attribute__((unused)) void restart(struct __test_metadata *_metadata, FIXTURE_DATA(guard) *self)
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

/* @sql must fail with a message containing @want (and name no SQLite internals). */
#define REFUSED(c, sql, want) do { \
	char o_[4096]; \
	EXPECT_EQ(-1, run(c, sql, o_)) TH_LOG("%s was not refused: %s", sql, o_); \
	EXPECT_NE(NULL, strstr(o_, want)) TH_LOG("%s: %s", sql, o_); \
	if (getenv("SHOWMSG")) { TH_LOG("%s => %s", sql, o_); } \
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

/*
 * Run @sql as a group member (uid NOBODY, group TEST_GROUP) over its own
 * connection. Returns the child's exit status: 0 when every statement ran.
 */
static int run_as_member(const char *path, const char *sql, char *msg, size_t size)
{
	int p[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		gid_t g = TEST_GROUP;
		struct dbos_conn *c;
		char out[4096];
		int ret;

		close(p[0]);
		if (setgroups(1, &g) < 0 || setgid(TEST_GROUP) < 0 || setuid(NOBODY) < 0)
			_exit(100);
		c = dbos_connect(path, NULL);
		if (!c)
			_exit(101);
		ret = run(c, sql, out);
		if (write(p[1], out, strlen(out)) < 0)
			_exit(102);
		dbos_close(c);
		_exit(ret ? 1 : 0);
	}
	close(p[1]);
	n = read(p[0], msg, size - 1);
	msg[n > 0 ? n : 0] = 0;
	close(p[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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
		"DROP VIEW listening_ports; CREATE VIEW listening_ports AS SELECT 1 AS pid; "
		"DROP VIEW policy_context_exec; "
		"CREATE VIEW policy_context_exec AS SELECT 1 AS pid, '/x' AS path", msg, sizeof(msg)))
		TH_LOG("%s", msg);
	c = dbos_connect(self->path, NULL);
	ASSERT_NE(NULL, c);
	REFUSED(c, "SELECT * FROM bait", "no such table: bait");
	REFUSED(c, "SELECT * FROM tbait", "no such table: tbait");
	WORKS(c, "SELECT pid, port FROM listening_ports");
	EXPECT_EQ(0, run(c, "SELECT count(*) FROM policy_simulate('exec', '1')", msg));
	EXPECT_EQ(NEVENTS, atoi(msg));
	dbos_close(c);
	/* A group member cannot change policy (and the refusal is recorded, see item 3). */
	EXPECT_EQ(1, run_as_member(self->path, "INSERT INTO policies(name, hook, action, condition) "
				   "VALUES ('x', 'exec', 'deny', 'uid = 0')", msg, sizeof(msg)));
	EXPECT_STREQ("permission denied: only root may change policy", msg);
}
TEST_HARNESS_MAIN
