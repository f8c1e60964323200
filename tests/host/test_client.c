// SPDX-License-Identifier: GPL-2.0
/*
 * test_client.c - the dbos client library, the `dbos` CLI and the dbosd
 * endpoint, end to end over a real Unix socket.
 *
 * Each test starts the endpoint in-process on a socket in a fresh temporary
 * directory, serving an in-memory SQLite database with a small table, and
 * talks to it with libdbos, with raw frames, or with build/bin/dbos
 * (found next to this binary, or at $DBOS_BIN).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "kselftest_harness.h"

#include "dbos_client.h"
#include "dbos_proto.h"
#include "dbserver/endpoint/endpoint.h"
#include "as_user.h"
#include "raw_client.h"

#define NOBODY		65534
#define TEST_GROUP	4242

/* ---------------------------------------------------------------------- */
/* The database every connection gets                                     */

static const char setup_sql[] =
	"CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB);"
	"INSERT INTO t VALUES (1, 'alice', 1.5, x'00ff');"
	"INSERT INTO t VALUES (2, 'bob \"the\" builder, jr.', NULL, NULL);"
	"INSERT INTO t VALUES (3, 'line1' || char(10) || 'line2', -2.25, x'');"
	"INSERT INTO t VALUES (4, 'héllo ☃ 日本', 1e20, NULL);"
	"CREATE TABLE dbos_schema(name TEXT, type TEXT, sql TEXT);"
	"INSERT INTO dbos_schema VALUES"
	" ('t', 'table', 'CREATE TABLE t(id INTEGER PRIMARY KEY, -- row id' || char(10) ||"
	"       '  name TEXT)'),"
	" ('processes', 'table', 'CREATE TABLE processes(pid INTEGER);'),"
	" ('undo', 'function', '-- FUNCTION undo(version INTEGER)');";

static int open_db_fails;	/* set by a test before it starts the endpoint */

static sqlite3 *open_test_db(void *arg, char **err)
{
	sqlite3 *db = NULL;

	if (open_db_fails) {
		*err = strdup("boom");
		return NULL;
	}
	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, setup_sql, NULL, NULL, NULL) != SQLITE_OK) {
		*err = strdup(db ? sqlite3_errmsg(db) : "sqlite3_open_v2 failed");
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

/* Results rendered as text: "C:a|b" per column set, "R:i:1|t:x|n" per row. */
struct dump {
	struct dbos_buf b;
	long rows;
	long abort_after;	/* > 0: abort the query after this many rows */
};

static void dump_str(struct dump *d, const char *s)
{
	dbos_buf_put(&d->b, s, strlen(s));
}

static int dump_columns(void *arg, int ncol, const char *const *names)
{
	struct dump *d = arg;
	int i;

	dump_str(d, "C:");
	for (i = 0; i < ncol; i++) {
		if (i)
			dump_str(d, "|");
		dump_str(d, names[i]);
	}
	dump_str(d, "\n");
	return 0;
}

static int dump_row(void *arg, int ncol, const struct dbos_value *v)
{
	struct dump *d = arg;
	char tmp[64];
	size_t j;
	int i;

	d->rows++;
	if (d->abort_after > 0) {
		/* Big results: only count and check the sequence. */
		if (ncol != 1 || v[0].type != DBOS_T_INT || v[0].i != d->rows)
			return 1;
		return d->rows >= d->abort_after;
	}
	dump_str(d, "R:");
	for (i = 0; i < ncol; i++) {
		if (i)
			dump_str(d, "|");
		switch (v[i].type) {
		case DBOS_T_NULL:
			dump_str(d, "n");
			break;
		case DBOS_T_INT:
			snprintf(tmp, sizeof(tmp), "i:%lld", (long long)v[i].i);
			dump_str(d, tmp);
			break;
		case DBOS_T_FLOAT:
			snprintf(tmp, sizeof(tmp), "f:%g", v[i].f);
			dump_str(d, tmp);
			break;
		case DBOS_T_TEXT:
			dump_str(d, "t:");
			dbos_buf_put(&d->b, v[i].s, v[i].len);
			if (v[i].s[v[i].len] != 0)
				dump_str(d, "<not terminated>");
			break;
		case DBOS_T_BLOB:
			dump_str(d, "b:");
			/* big blobs: the first bytes and the length */
			for (j = 0; j < v[i].len && j < 32; j++) {
				snprintf(tmp, sizeof(tmp), "%02x",
					 (unsigned char)v[i].s[j]);
				dump_str(d, tmp);
			}
			if (v[i].len > 32) {
				snprintf(tmp, sizeof(tmp), "...(%zu bytes)", v[i].len);
				dump_str(d, tmp);
			}
			break;
		default:
			dump_str(d, "?");
		}
	}
	dump_str(d, "\n");
	return 0;
}

static const struct dbos_callbacks dump_cb = {
	.on_columns = dump_columns,
	.on_row = dump_row,
};

static struct dump last_dump;	/* of query() */

/* Run @sql; returns the dump text (valid until the next call), error in *err. */
static const char *query(struct dbos_conn *c, const char *sql, int *ret, char **err)
{
	struct dump *d = &last_dump;

	dbos_buf_free(&d->b);
	memset(d, 0, sizeof(*d));
	*ret = dbos_query(c, sql, &dump_cb, d, err);
	dbos_buf_u8(&d->b, 0);
	return (const char *)d->b.data;
}

static void free_dump(void)
{
	dbos_buf_free(&last_dump.b);
}

/* raw_connect() retried for up to 5 s, for when a slot is being freed. */
static int raw_connect_soon(const char *path)
{
	int i, fd = -1;

	for (i = 0; i < 250 && fd < 0; i++) {
		fd = raw_connect(path, true);
		if (fd < 0)
			usleep(20 * 1000);
	}
	return fd;
}

/*
 * Read frames until the stream ends or @stop_type arrives; the last frame's
 * type and text are returned. Returns the number of frames read, -1 on error.
 */
static int read_until(int fd, uint8_t stop_type, uint8_t *last, char *text, size_t size)
{
	struct dbos_buf b;
	uint8_t type = 0;
	int n = 0, r;

	dbos_buf_init(&b);
	*last = 0;
	for (;;) {
		r = dbos_read_frame(fd, 10000, 10000, &type, &b, NULL);
		if (r <= 0)
			break;
		n++;
		*last = type;
		if (text)
			snprintf(text, size, "%.*s", (int)b.len, (const char *)b.data);
		if (type == stop_type)
			break;
	}
	dbos_buf_free(&b);
	return r < 0 ? -1 : n;
}

/* Is the stream at its end (the server closed the connection)? */
static bool at_eof(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, 5000) <= 0)
		return false;
	return recv(fd, &c, 1, 0) == 0 || errno == ECONNRESET;
}

/* Run "SELECT 42" on a fresh connection; true if it worked. */
static bool server_works(const char *path)
{
	struct dbos_conn *c = dbos_connect(path, NULL);
	char *err = NULL;
	const char *out;
	bool ok;
	int ret;

	if (!c)
		return false;
	out = query(c, "SELECT 42", &ret, &err);
	ok = ret == 0 && !strcmp(out, "C:42\nR:i:42\n");
	free(err);
	dbos_close(c);
	return ok;
}

/* Retry server_works() for up to @ms: the server frees slots asynchronously. */
static bool server_works_soon(const char *path, int ms)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int i;

	for (i = 0; i < ms / 20; i++) {
		if (server_works(path))
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static const char *dbos_bin(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("DBOS_BIN");
	char self[PATH_MAX - 32];
	ssize_t n;
	char *slash;

	if (env)
		return env;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return "build/bin/dbos";
	self[n] = 0;
	slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(path, sizeof(path), "%s/../../bin/dbos", self);
	return path;
}

/* Everything a run of the CLI produced. */
struct cli {
	char *out;
	char *err;
	int status;		/* exit status, or 128 + signal */
};

static char *slurp_fd(int fd)
{
	struct dbos_buf b;
	char tmp[65536];
	ssize_t n;

	dbos_buf_init(&b);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		dbos_buf_put(&b, tmp, (size_t)n);
	dbos_buf_u8(&b, 0);
	return (char *)b.data;
}

/*
 * Run build/bin/dbos with @args (NULL-terminated, without argv[0]) and
 * @input on stdin (NULL: /dev/null). Stdout comes through a pipe, stderr and
 * stdin through memfds.
 */
static void run_cli(struct cli *r, const char *input, const char *const *args)
{
	const char *argv[32] = { dbos_bin() };
	int out[2], errfd, infd, status, i;
	pid_t pid;

	for (i = 0; args[i] && i < 30; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	memset(r, 0, sizeof(*r));
	if (pipe2(out, O_CLOEXEC) < 0)
		abort();
	errfd = memfd_create("stderr", 0);
	infd = memfd_create("stdin", 0);
	if (errfd < 0 || infd < 0)
		abort();
	if (input && write(infd, input, strlen(input)) != (ssize_t)strlen(input))
		abort();
	lseek(infd, 0, SEEK_SET);
	pid = fork();
	if (pid == 0) {
		dup2(infd, 0);
		dup2(out[1], 1);
		dup2(errfd, 2);
		setenv("HOME", "/nonexistent", 1);
		unsetenv("DBOS_SOCKET");
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(infd);
	r->out = slurp_fd(out[0]);
	close(out[0]);
	waitpid(pid, &status, 0);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	lseek(errfd, 0, SEEK_SET);
	r->err = slurp_fd(errfd);
	close(errfd);
}

static void cli_free(struct cli *r)
{
	free(r->out);
	free(r->err);
}

/* dbos_connect(@arg) as the user as_user() made: errno (0 when connected), the error in @msg. */
static int connect_fn(void *arg, char *msg, size_t size)
{
	char *err = NULL;
	struct dbos_conn *c = dbos_connect(arg, &err);
	int e = c ? 0 : errno;

	snprintf(msg, size, "%s", err ? err : "");
	dbos_close(c);
	free(err);
	return e;
}

/*
 * Connect as uid NOBODY, gid @gid and supplementary group @group (-1:
 * none). Returns the child's errno (0 when connected), its error in @msg.
 */
static int connect_as_nobody(const char *path, gid_t gid, gid_t group, char *msg,
			     size_t size)
{
	return as_user(NOBODY, gid, group, connect_fn, (void *)path, msg, size);
}

/* ---------------------------------------------------------------------- */
/* Fixture                                                                */

FIXTURE(srv) {
	char dir[64];
	char path[128];
	struct endpoint *ep;
};

static int start(struct __test_metadata *_metadata, FIXTURE_DATA(srv) *self,
		 gid_t group, unsigned int max)
{
	struct endpoint_config cfg = {
		.socket_path = self->path,
		.group = group,
		.open_db = open_test_db,
		.max_connections = max,
	};
	char *err = NULL;
	int ret;

	ret = endpoint_start(&cfg, &self->ep, &err);
	if (ret)
		TH_LOG("endpoint_start: %s", err);
	free(err);
	return ret;
}

static void restart(struct __test_metadata *_metadata, FIXTURE_DATA(srv) *self,
		    gid_t group, unsigned int max)
{
	endpoint_stop(self->ep);
	self->ep = NULL;
	ASSERT_EQ(0, start(_metadata, self, group, max));
}

FIXTURE_SETUP(srv)
{
	strcpy(self->dir, "/tmp/dbos-test-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	/* traversable by others: the socket's own mode must be what protects it */
	ASSERT_EQ(0, chmod(self->dir, 0755));
	/* a directory that does not exist yet: the endpoint creates it */
	snprintf(self->path, sizeof(self->path), "%s/run/dbosd.sock", self->dir);
	ASSERT_EQ(0, start(_metadata, self, (gid_t)-1, 0));
}

FIXTURE_TEARDOWN(srv)
{
	char run[160];
	struct stat st;

	endpoint_stop(self->ep);
	EXPECT_EQ(-1, lstat(self->path, &st));	/* the socket is gone */
	unlink(self->path);
	snprintf(run, sizeof(run), "%s/run", self->dir);
	rmdir(run);
	rmdir(self->dir);
	free_dump();
}

/* ---------------------------------------------------------------------- */
/* Library                                                                */

TEST_F(srv, types_round_trip)
{
	struct dbos_conn *c = dbos_connect(self->path, NULL);
	char *err = NULL;
	const char *out;
	int ret;

	ASSERT_NE(NULL, c);
	out = query(c, "SELECT id, name, score, data FROM t ORDER BY id", &ret, &err);
	EXPECT_EQ(0, ret);
	EXPECT_STREQ("C:id|name|score|data\n"
		     "R:i:1|t:alice|f:1.5|b:00ff\n"
		     "R:i:2|t:bob \"the\" builder, jr.|n|n\n"
		     "R:i:3|t:line1\nline2|f:-2.25|b:\n"
		     "R:i:4|t:héllo ☃ 日本|f:1e+20|n\n", out);

	out = query(c, "SELECT 9223372036854775807 AS a, -9223372036854775807 - 1 AS b, "
		       "0.1 AS c, x'000102' AS d, NULL AS e, '' AS f", &ret, &err);
	EXPECT_EQ(0, ret);
	EXPECT_STREQ("C:a|b|c|d|e|f\n"
		     "R:i:9223372036854775807|i:-9223372036854775808|f:0.1|b:000102|n|t:\n",
		     out);

	/* A statement without rows still announces its columns. */
	out = query(c, "SELECT * FROM t WHERE id < 0", &ret, &err);
	EXPECT_EQ(0, ret);
	EXPECT_STREQ("C:id|name|score|data\n", out);
	dbos_close(c);
}

TEST_F(srv, text_with_nul_keeps_its_length)
{
	struct dbos_conn *c = dbos_connect(self->path, NULL);
	struct dump d = { 0 };
	char *err = NULL;

	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, dbos_query(c, "SELECT 'a' || char(0) || 'b'", &dump_cb, &d, &err));
	ASSERT_LE(8, d.b.len);
	EXPECT_EQ(0, memcmp(d.b.data + d.b.len - 8, "R:t:a\0b\n", 8));
	dbos_buf_free(&d.b);
	dbos_close(c);
}

TEST_F(srv, multiple_statements_and_changes)
{
	struct dbos_conn *c = dbos_connect(self->path, NULL);
	char *err = NULL;
	const char *out;
	int ret;

	ASSERT_NE(NULL, c);
	out = query(c, "CREATE TABLE u(x); INSERT INTO u VALUES (1), (2), (3);"
		       "SELECT count(*) AS n FROM u; UPDATE u SET x = x + 1;"
		       "SELECT x FROM u ORDER BY x;  -- trailing comment\n ;",
		    &ret, &err);
	EXPECT_EQ(0, ret);
	EXPECT_STREQ("C:n\nR:i:3\nC:x\nR:i:2\nR:i:3\nR:i:4\n", out);
	EXPECT_EQ(6, dbos_changes(c));

	out = query(c, "", &ret, &err);
	EXPECT_EQ(0, ret);
	EXPECT_STREQ("", out);
	EXPECT_EQ(0, dbos_changes(c));
	out = query(c, "  -- nothing here\n /* at all */ ;;", &ret, &err);
	EXPECT_EQ(0, ret);
	EXPECT_STREQ("", out);
	dbos_close(c);
}

/* The message SQLite itself gives for @sql on the test database. */
static char *sqlite_message(const char *sql)
{
	char *err = NULL, *msg;
	sqlite3 *db = open_test_db(NULL, &err);

	free(err);
	sqlite3_exec(db, sql, NULL, NULL, NULL);
	msg = strdup(sqlite3_errmsg(db));
	sqlite3_close(db);
	return msg;
}

TEST_F(srv, sql_error_is_sqlite_message_verbatim)
{
	static const char *const bad[] = {
		"SELEC 1",
		"SELECT * FROM nosuch",
		"SELECT nosuchcol FROM t",
		"INSERT INTO t(id) VALUES (1)",
		"SELECT abs(-9223372036854775807 - 1)",
		"SELECT 1; SELECT 'unterminated",
	};
	struct dbos_conn *c = dbos_connect(self->path, NULL);
	char *err = NULL, *want;
	size_t i;
	int ret;

	ASSERT_NE(NULL, c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		query(c, bad[i], &ret, &err);
		want = sqlite_message(bad[i]);
		EXPECT_EQ(-1, ret);
		ASSERT_NE(NULL, err);
		EXPECT_STREQ(want, err);
		free(want);
		free(err);
		err = NULL;
		EXPECT_FALSE(dbos_conn_broken(c));
	}
	EXPECT_STREQ("near \"SELEC\": syntax error", (want = sqlite_message("SELEC 1")));
	free(want);
	/* The connection is still good. */
	EXPECT_STREQ("C:1\nR:i:1\n", query(c, "SELECT 1", &ret, &err));
	EXPECT_EQ(0, ret);
	dbos_close(c);
}

TEST_F(srv, statements_after_an_error_do_not_run)
{
	struct dbos_conn *c = dbos_connect(self->path, NULL);
	char *err = NULL;
	const char *out;
	int ret;

	ASSERT_NE(NULL, c);
	out = query(c, "CREATE TABLE v(x); SELECT 7; INSERT INTO v VALUES (1);"
		       "SELECT * FROM nosuch; INSERT INTO v VALUES (2)", &ret, &err);
	EXPECT_EQ(-1, ret);
	EXPECT_STREQ("no such table: nosuch", err);
	EXPECT_STREQ("C:7\nR:i:7\n", out);
	free(err);
	err = NULL;
	out = query(c, "SELECT x FROM v", &ret, &err);
	EXPECT_EQ(0, ret);
	EXPECT_STREQ("C:x\nR:i:1\n", out);

	/* An error while stepping, after rows were sent: the rows stay. */
	out = query(c, "SELECT CASE WHEN id < 3 THEN id ELSE abs(-9223372036854775807 - 1) END "
		       "AS v FROM t ORDER BY id", &ret, &err);
	EXPECT_EQ(-1, ret);
	EXPECT_STREQ("integer overflow", err);
	EXPECT_STREQ("C:v\nR:i:1\nR:i:2\n", out);
	free(err);
	dbos_close(c);
}

TEST_F_TIMEOUT(srv, oversized_row_is_an_error, 120)
{
	struct dbos_conn *c = dbos_connect(self->path, NULL);
	char *err = NULL;
	const char *out;
	int ret;

	ASSERT_NE(NULL, c);
	out = query(c, "SELECT 1 AS n UNION ALL SELECT 2;"
		       "SELECT length(zeroblob(64 * 1024 * 1024 - 16)) AS ok;"
		       "SELECT zeroblob(64 * 1024 * 1024) AS big", &ret, &err);
	EXPECT_EQ(-1, ret);
	EXPECT_STREQ("result row too large (the limit is 64 MiB)", err);
	EXPECT_STREQ("C:n\nR:i:1\nR:i:2\nC:ok\nR:i:67108848\nC:big\n", out);
	free(err);
	err = NULL;
	/* a row just under the limit passes */
	out = query(c, "SELECT zeroblob(64 * 1024 * 1024 - 16) AS b", &ret, &err);
	EXPECT_EQ(0, ret);
	EXPECT_STREQ("C:b\nR:b:0000000000000000000000000000000000000000000000000000000000000000"
		     "...(67108848 bytes)\n", out);
	dbos_close(c);
}

#define SEQ_SQL "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s"

TEST_F_TIMEOUT(srv, big_result_streams, 120)
{
	struct dbos_conn *c = dbos_connect(self->path, NULL);
	struct dump d = { .abort_after = 0 };
	char *err = NULL;

	ASSERT_NE(NULL, c);
	/* 100k rows, each checked in order (abort_after only counts). */
	d.abort_after = 100001;
	ASSERT_EQ(0, dbos_query(c, SEQ_SQL " WHERE x < 100000) SELECT x FROM s",
				&dump_cb, &d, &err));
	EXPECT_EQ(100000, d.rows);
	dbos_buf_free(&d.b);

	/*
	 * A result without end can only be consumed if it is streamed: take
	 * 100k rows of it and abort.
	 */
	memset(&d, 0, sizeof(d));
	d.abort_after = 100000;
	EXPECT_EQ(-1, dbos_query(c, SEQ_SQL ") SELECT x FROM s", &dump_cb, &d, &err));
	EXPECT_EQ(100000, d.rows);
	EXPECT_STREQ("query aborted", err);
	dbos_buf_free(&d.b);
	EXPECT_TRUE(dbos_conn_broken(c));
	free(err);
	err = NULL;
	EXPECT_EQ(-1, dbos_query(c, "SELECT 1", NULL, NULL, &err));
	EXPECT_EQ(ENOTCONN, errno);
	free(err);
	dbos_close(c);
	/* The server went on. */
	EXPECT_TRUE(server_works(self->path));
}

TEST_F(srv, client_disconnecting_mid_result_leaves_server_working)
{
	uint8_t type;
	char buf[4096];
	int fd;

	/* One slot only: the next client is served only if the slot is freed. */
	restart(_metadata, self, (gid_t)-1, 1);

	/* Gone while rows are flowing. */
	fd = raw_connect_soon(self->path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, send_query(fd, SEQ_SQL ") SELECT x, 'some padding text' FROM s"));
	ASSERT_LT(0, recv(fd, buf, sizeof(buf), MSG_WAITALL));
	close(fd);
	EXPECT_TRUE(server_works_soon(self->path, 5000));

	/* Gone while a statement runs without producing rows. */
	fd = raw_connect_soon(self->path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, send_query(fd, SEQ_SQL ") SELECT count(*) FROM s"));
	usleep(100 * 1000);
	close(fd);
	EXPECT_TRUE(server_works_soon(self->path, 5000));

	/* A half-closed client that sent its query still gets the answer. */
	fd = raw_connect_soon(self->path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, send_query(fd, "SELECT 1; SELECT 2"));
	shutdown(fd, SHUT_WR);
	EXPECT_EQ(5, read_until(fd, DBOS_F_DONE, &type, NULL, 0));
	EXPECT_EQ(DBOS_F_DONE, type);
	close(fd);
}

/* ---------------------------------------------------------------------- */
/* Protocol errors                                                        */

static void expect_protocol_error(struct __test_metadata *_metadata,
				  const char *path, const void *bytes, size_t n,
				  bool half_close, const char *want)
{
	char text[256];
	uint8_t type;
	int fd = raw_connect(path, true);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, dbos_send_all(fd, bytes, n));
	if (half_close)
		shutdown(fd, SHUT_WR);
	EXPECT_EQ(1, read_until(fd, DBOS_F_ERROR, &type, text, sizeof(text)));
	EXPECT_EQ(DBOS_F_ERROR, type);
	EXPECT_STREQ(want, text);
	EXPECT_TRUE(at_eof(fd));
	close(fd);
	EXPECT_TRUE(server_works(path));
}

TEST_F(srv, malformed_frames_get_protocol_error)
{
	static const char garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t oversized[] = { 0x01, 0x00, 0x00, 0x04, 'Q' };
	static const uint8_t unknown[] = { 0x01, 0x00, 0x00, 0x00, 'X', '!' };
	static const uint8_t answer[] = { 0x00, 0x00, 0x00, 0x00, 'D' };
	static const uint8_t truncated[] = { 0x0a, 0x00, 0x00, 0x00, 'Q', 'S', 'E' };
	static const uint8_t short_hdr[] = { 0x0a, 0x00 };
	static const uint8_t nul[] = { 0x0a, 0x00, 0x00, 0x00, 'Q',
				       'S', 'E', 'L', 'E', 'C', 'T', 0, ' ', '1', ';' };
	char text[256];
	uint8_t type;
	int fd;

	expect_protocol_error(_metadata, self->path, garbage, sizeof(garbage) - 1,
			      false, "protocol error: frame longer than the 64 MiB limit");
	expect_protocol_error(_metadata, self->path, oversized, sizeof(oversized),
			      false, "protocol error: frame longer than the 64 MiB limit");
	expect_protocol_error(_metadata, self->path, unknown, sizeof(unknown),
			      false, "protocol error: unexpected frame type 0x58");
	expect_protocol_error(_metadata, self->path, answer, sizeof(answer),
			      false, "protocol error: unexpected frame type 0x44");
	expect_protocol_error(_metadata, self->path, truncated, sizeof(truncated),
			      true, "protocol error: connection closed in the middle of a frame");
	expect_protocol_error(_metadata, self->path, short_hdr, sizeof(short_hdr),
			      true, "protocol error: connection closed in the middle of a frame");

	/* The largest allowed size is fine (here: an empty query). */
	fd = raw_connect(self->path, true);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, send_query(fd, ""));
	EXPECT_EQ(1, read_until(fd, DBOS_F_DONE, &type, NULL, 0));
	EXPECT_EQ(DBOS_F_DONE, type);

	/* SQL with a NUL byte is an error, but not a protocol error. */
	ASSERT_EQ(0, dbos_send_all(fd, nul, sizeof(nul)));
	EXPECT_EQ(1, read_until(fd, DBOS_F_ERROR, &type, text, sizeof(text)));
	EXPECT_STREQ("the query text contains a NUL byte", text);
	ASSERT_EQ(0, send_query(fd, "SELECT 1"));
	EXPECT_EQ(3, read_until(fd, DBOS_F_DONE, &type, NULL, 0));
	close(fd);
}

TEST_F(srv, hello_carries_the_version)
{
	struct dbos_buf b;
	uint8_t type;
	int fd = raw_connect(self->path, false);

	ASSERT_LE(0, fd);
	dbos_buf_init(&b);
	ASSERT_EQ(1, dbos_read_frame(fd, 5000, 5000, &type, &b, NULL));
	EXPECT_EQ(DBOS_F_HELLO, type);
	ASSERT_EQ(4, b.len);
	EXPECT_EQ(DBOS_PROTO_VERSION, b.data[0] | b.data[1] << 8);
	dbos_buf_free(&b);
	close(fd);
}

/* A fake server for the client side: sends @script after each query. */
struct fake {
	int lfd;
	const uint8_t *hello;
	size_t hello_len;
	const uint8_t *reply;
	size_t reply_len;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct dbos_buf b;
	uint8_t type;
	int fd;

	dbos_buf_init(&b);
	while ((fd = accept(f->lfd, NULL, NULL)) >= 0) {
		dbos_send_all(fd, f->hello, f->hello_len);
		if (f->reply && dbos_read_frame(fd, 5000, 5000, &type, &b, NULL) == 1)
			dbos_send_all(fd, f->reply, f->reply_len);
		close(fd);
	}
	dbos_buf_free(&b);
	return NULL;
}

static int fake_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8))
		return -1;
	return fd;
}

TEST_F(srv, client_rejects_malformed_server_frames)
{
	static const uint8_t hello[] = { 4, 0, 0, 0, 'H', DBOS_PROTO_VERSION, 0, 0, 0 };
	static const uint8_t hello_v9[] = { 4, 0, 0, 0, 'H', 9, 0, 0, 0 };
	static const uint8_t not_hello[] = { 2, 0, 0, 0, 'Z', 1, 0 };
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 'R' };
	static const uint8_t row_first[] = { 1, 0, 0, 0, 'R', 0 };
	static const uint8_t bad_type[] = { 5, 0, 0, 0, 'C', 1, 0, 1, 0, 'x',
					    2, 0, 0, 0, 'R', 9, 0 };
	static const uint8_t cut_row[] = { 5, 0, 0, 0, 'C', 1, 0, 1, 0, 'x',
					   5, 0, 0, 0, 'R', 3, 9, 0, 0, 0 };
	static const struct {
		const uint8_t *hello, *reply;
		size_t hello_len, reply_len;
		const char *want;
	} cases[] = {
		{ hello_v9, NULL, sizeof(hello_v9), 0,
		  "dbosd speaks protocol version 9, this client 2" },
		{ not_hello, NULL, sizeof(not_hello), 0,
		  "protocol error: not a dbosd hello" },
		{ hello, huge, sizeof(hello), sizeof(huge),
		  "protocol error: frame longer than the 64 MiB limit" },
		{ hello, row_first, sizeof(hello), sizeof(row_first),
		  "protocol error: row frame before columns frame" },
		{ hello, bad_type, sizeof(hello), sizeof(bad_type),
		  "protocol error: malformed row frame" },
		{ hello, cut_row, sizeof(hello), sizeof(cut_row),
		  "protocol error: malformed row frame" },
	};
	char path[160], *err = NULL;
	struct dbos_conn *c;
	struct dump d;
	pthread_t th;
	struct fake f;
	size_t i;

	snprintf(path, sizeof(path), "%s/fake.sock", self->dir);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f.lfd = fake_listen(path);
		ASSERT_LE(0, f.lfd);
		f.hello = cases[i].hello;
		f.hello_len = cases[i].hello_len;
		f.reply = cases[i].reply;
		f.reply_len = cases[i].reply_len;
		ASSERT_EQ(0, pthread_create(&th, NULL, fake_main, &f));
		c = dbos_connect(path, &err);
		if (!cases[i].reply) {
			EXPECT_EQ(NULL, c);
			EXPECT_EQ(EPROTO, errno);
			ASSERT_NE(NULL, err);
			EXPECT_NE(NULL, strstr(err, cases[i].want));
		} else {
			ASSERT_NE(NULL, c);
			memset(&d, 0, sizeof(d));
			EXPECT_EQ(-1, dbos_query(c, "SELECT 1", &dump_cb, &d, &err));
			dbos_buf_free(&d.b);
			EXPECT_EQ(EPROTO, errno);
			EXPECT_STREQ(cases[i].want, err);
			EXPECT_TRUE(dbos_conn_broken(c));
			dbos_close(c);
		}
		free(err);
		err = NULL;
		shutdown(f.lfd, SHUT_RDWR);
		pthread_join(th, NULL);
		close(f.lfd);
		unlink(path);
	}
}

static void take_notice(void *arg, const char *text, size_t len)
{
	struct dbos_buf *b = arg;

	dbos_buf_put(b, text, len);
	dbos_buf_put(b, "|", 1);
}

/* Notices ('N') reach on_notice() in order, whole, and change nothing else. */
TEST_F(srv, notices_reach_the_callback)
{
	static const uint8_t hello[] = { 4, 0, 0, 0, 'H', DBOS_PROTO_VERSION, 0, 0, 0 };
	static const uint8_t reply[] = { 3, 0, 0, 0, 'N', 'o', 'n', 'e',
					 0, 0, 0, 0, 'N',
					 3, 0, 0, 0, 'N', 't', 'w', 'o',
					 8, 0, 0, 0, 'D', 5, 0, 0, 0, 0, 0, 0, 0 };
	static const struct dbos_callbacks cb = { .on_notice = take_notice };
	char path[160], *err = NULL;
	struct dbos_buf got = { 0 };
	struct dbos_conn *c;
	pthread_t th;
	struct fake f = { .hello = hello, .hello_len = sizeof(hello),
			  .reply = reply, .reply_len = sizeof(reply) };

	snprintf(path, sizeof(path), "%s/fake.sock", self->dir);
	f.lfd = fake_listen(path);
	ASSERT_LE(0, f.lfd);
	ASSERT_EQ(0, pthread_create(&th, NULL, fake_main, &f));
	c = dbos_connect(path, &err);
	ASSERT_NE(NULL, c) TH_LOG("%s", err);
	EXPECT_EQ(0, dbos_query(c, "COMMIT", &cb, &got, &err)) TH_LOG("%s", err);
	EXPECT_EQ(5, dbos_changes(c));
	dbos_buf_u8(&got, 0);
	EXPECT_STREQ("one||two|", (const char *)got.data);
	dbos_buf_free(&got);
	dbos_close(c);
	shutdown(f.lfd, SHUT_RDWR);
	pthread_join(th, NULL);
	close(f.lfd);
	unlink(path);
}

/* ---------------------------------------------------------------------- */
/* Server behaviour                                                       */

TEST_F(srv, connect_errors)
{
	char path[160], *err = NULL;
	struct dbos_conn *c;

	snprintf(path, sizeof(path), "%s/nothing.sock", self->dir);
	EXPECT_EQ(NULL, dbos_connect(path, &err));
	EXPECT_EQ(ENOENT, errno);
	ASSERT_NE(NULL, err);
	EXPECT_NE(NULL, strstr(err, "cannot connect to "));
	EXPECT_NE(NULL, strstr(err, "nothing.sock: No such file or directory"));
	free(err);

	/* NULL path: $DBOS_SOCKET wins over the default. */
	setenv("DBOS_SOCKET", self->path, 1);
	c = dbos_connect(NULL, NULL);
	EXPECT_NE(NULL, c);
	if (c)
		EXPECT_STREQ(self->path, dbos_conn_path(c));
	dbos_close(c);
	unsetenv("DBOS_SOCKET");
}

TEST_F(srv, open_db_failure_is_reported_at_connect)
{
	char *err = NULL;

	open_db_fails = 1;
	EXPECT_EQ(NULL, dbos_connect(self->path, &err));
	EXPECT_EQ(ECONNREFUSED, errno);
	EXPECT_STREQ("cannot open the database: boom", err);
	free(err);
	open_db_fails = 0;
	EXPECT_TRUE(server_works(self->path));
}

TEST_F(srv, too_many_connections)
{
	struct dbos_conn *a, *b, *c;
	char *err = NULL;

	restart(_metadata, self, (gid_t)-1, 2);
	a = dbos_connect(self->path, NULL);
	b = dbos_connect(self->path, NULL);
	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	c = dbos_connect(self->path, &err);
	EXPECT_EQ(NULL, c);
	EXPECT_STREQ("too many connections: dbosd serves at most 2 clients at once", err);
	free(err);
	dbos_close(c);
	dbos_close(a);
	EXPECT_TRUE(server_works_soon(self->path, 5000));
	dbos_close(b);
}

TEST_F(srv, default_connection_limit_is_64)
{
	struct dbos_conn *c[65];
	char *err = NULL;
	int i;

	for (i = 0; i < 64; i++) {
		c[i] = dbos_connect(self->path, NULL);
		ASSERT_NE(NULL, c[i]);
	}
	c[64] = dbos_connect(self->path, &err);
	EXPECT_EQ(NULL, c[64]);
	EXPECT_STREQ("too many connections: dbosd serves at most 64 clients at once", err);
	free(err);
	for (i = 0; i < 64; i++)
		dbos_close(c[i]);
}

TEST_F(srv, socket_file_setup)
{
	struct endpoint_config cfg = { .group = (gid_t)-1, .open_db = open_test_db };
	char path[160], dir[160], *err = NULL;
	struct endpoint *ep2 = NULL;
	struct stat st;
	int fd;

	ASSERT_EQ(0, stat(self->path, &st));
	EXPECT_TRUE(S_ISSOCK(st.st_mode));
	EXPECT_EQ(0660, st.st_mode & 07777);
	EXPECT_EQ(geteuid() == 0 ? 0 : geteuid(), st.st_uid);
	if (geteuid() == 0)
		EXPECT_EQ(0, st.st_gid);
	snprintf(dir, sizeof(dir), "%s/run", self->dir);
	ASSERT_EQ(0, stat(dir, &st));
	EXPECT_EQ(0755, st.st_mode & 07777);

	/* A live server's socket is not taken over. */
	cfg.socket_path = self->path;
	EXPECT_EQ(-1, endpoint_start(&cfg, &ep2, &err));
	EXPECT_EQ(EADDRINUSE, errno);
	ASSERT_NE(NULL, err);
	EXPECT_NE(NULL, strstr(err, "another server is listening on it"));
	free(err);
	EXPECT_TRUE(server_works(self->path));

	/* A stale socket (nobody listening) is replaced. */
	snprintf(path, sizeof(path), "%s/stale.sock", self->dir);
	fd = fake_listen(path);
	ASSERT_LE(0, fd);
	close(fd);
	cfg.socket_path = path;
	EXPECT_EQ(0, endpoint_start(&cfg, &ep2, &err));
	EXPECT_TRUE(server_works(path));
	endpoint_stop(ep2);
	EXPECT_EQ(-1, lstat(path, &st));

	/* Anything else is left alone. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	ASSERT_LE(0, fd);
	close(fd);
	EXPECT_EQ(-1, endpoint_start(&cfg, &ep2, &err));
	EXPECT_EQ(EEXIST, errno);
	ASSERT_NE(NULL, err);
	EXPECT_NE(NULL, strstr(err, "exists and is not a socket"));
	free(err);
	EXPECT_EQ(0, unlink(path));
}

struct bg_query {
	const char *path;
	const char *sql;
	int ret;
	char *err;
	atomic_int connected;
};

static void *bg_query_main(void *arg)
{
	struct bg_query *q = arg;
	struct dbos_conn *c = dbos_connect(q->path, &q->err);

	if (!c) {
		q->ret = -2;
		q->connected = 1;
		return NULL;
	}
	q->connected = 1;
	q->ret = dbos_query(c, q->sql, NULL, NULL, &q->err);
	dbos_close(c);
	return NULL;
}

TEST_F(srv, stop_interrupts_running_statements)
{
	struct bg_query q = {
		.path = self->path,
		.sql = SEQ_SQL ") SELECT count(*) FROM s",
	};
	struct timespec t0, t1;
	pthread_t th;

	ASSERT_EQ(0, pthread_create(&th, NULL, bg_query_main, &q));
	while (!q.connected)
		usleep(10 * 1000);
	usleep(200 * 1000);	/* let the statement run */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	endpoint_stop(self->ep);
	self->ep = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	EXPECT_GT(2, t1.tv_sec - t0.tv_sec);
	pthread_join(th, NULL);
	EXPECT_EQ(-1, q.ret);
	ASSERT_NE(NULL, q.err);
	TH_LOG("client saw: %s", q.err);
	free(q.err);
	/* Restart so teardown has something to stop. */
	ASSERT_EQ(0, start(_metadata, self, (gid_t)-1, 0));
}

/* ---------------------------------------------------------------------- */
/* Permissions                                                            */

TEST_F(srv, others_cannot_connect_through_file_mode)
{
	char msg[512];

	if (geteuid() != 0)
		SKIP(return, "needs root to drop to uid %d", NOBODY);
	EXPECT_EQ(EACCES, connect_as_nobody(self->path, NOBODY, (gid_t)-1,
					    msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "cannot connect to "));
	EXPECT_NE(NULL, strstr(msg, ": Permission denied"));
}

TEST_F(srv, peercred_refuses_others_despite_open_file_mode)
{
	char msg[512];

	if (geteuid() != 0)
		SKIP(return, "needs root to drop to uid %d", NOBODY);
	ASSERT_EQ(0, chmod(self->path, 0666));
	EXPECT_EQ(ECONNREFUSED, connect_as_nobody(self->path, NOBODY, (gid_t)-1,
						  msg, sizeof(msg)));
	EXPECT_STREQ("permission denied: dbosd accepts root only", msg);
	EXPECT_TRUE(server_works(self->path));
}

TEST_F(srv, configured_group_is_served)
{
	char msg[512], want[128];
	struct group *g;
	struct stat st;

	if (geteuid() != 0)
		SKIP(return, "needs root to drop to uid %d", NOBODY);
	restart(_metadata, self, TEST_GROUP, 0);
	ASSERT_EQ(0, stat(self->path, &st));
	EXPECT_EQ(TEST_GROUP, st.st_gid);
	EXPECT_EQ(0660, st.st_mode & 07777);

	/* primary group */
	EXPECT_EQ(0, connect_as_nobody(self->path, TEST_GROUP, (gid_t)-1, msg, sizeof(msg)));
	/* supplementary group */
	EXPECT_EQ(0, connect_as_nobody(self->path, NOBODY, TEST_GROUP, msg, sizeof(msg)));
	/* neither: the file mode stops it ... */
	EXPECT_EQ(EACCES, connect_as_nobody(self->path, NOBODY, (gid_t)-1, msg, sizeof(msg)));
	/* ... and without it, SO_PEERCRED does */
	ASSERT_EQ(0, chmod(self->path, 0666));
	EXPECT_EQ(ECONNREFUSED, connect_as_nobody(self->path, NOBODY, NOBODY,
						  msg, sizeof(msg)));
	g = getgrgid(TEST_GROUP);
	if (g)
		snprintf(want, sizeof(want),
			 "permission denied: dbosd accepts root (or group %s) only", g->gr_name);
	else
		snprintf(want, sizeof(want),
			 "permission denied: dbosd accepts root (or group %d) only", TEST_GROUP);
	EXPECT_STREQ(want, msg);
}

/* ---------------------------------------------------------------------- */
/* The CLI                                                                */

#define SEL_ALL "SELECT id, name, score, data FROM t ORDER BY id"

TEST_F(srv, cli_table)
{
	const char *args[] = { "-s", self->path, "-c",
		SEL_ALL "; SELECT 'x' AS \"a|b\", char(9) || 'tab' || char(27) || '[31m' AS esc;"
		"SELECT 1 AS one WHERE 0", NULL };
	struct cli r;

	run_cli(&r, NULL, args);
	EXPECT_EQ(0, r.status);
	EXPECT_STREQ("", r.err);
	EXPECT_STREQ(
		"id  name                    score  data\n"
		"--  ----------------------  -----  ------\n"
		" 1  alice                     1.5  \\x00ff\n"
		" 2  bob \"the\" builder, jr.   NULL  NULL\n"
		" 3  line1\\nline2            -2.25  \\x\n"
		" 4  héllo ☃ 日本            1e+20  NULL\n"
		"a|b  esc\n"
		"---  -------------\n"
		"x    \\ttab\\x1b[31m\n"
		"one\n"
		"---\n", r.out);
	cli_free(&r);
}

TEST_F(srv, cli_csv)
{
	const char *args[] = { "-s", self->path, "--csv", "-c",
		SEL_ALL "; SELECT '' AS empty, NULL AS \"null\", 'a,\"b\"' AS \"c,d\", "
		"0.1 AS f, 2.0 AS g", NULL };
	struct cli r;

	run_cli(&r, NULL, args);
	EXPECT_EQ(0, r.status);
	EXPECT_STREQ("", r.err);
	EXPECT_STREQ(
		"id,name,score,data\n"
		"1,alice,1.5,\\x00ff\n"
		"2,\"bob \"\"the\"\" builder, jr.\",,\n"
		"3,\"line1\nline2\",-2.25,\\x\n"
		"4,héllo ☃ 日本,1e+20,\n"
		"empty,null,\"c,d\",f,g\n"
		"\"\",,\"a,\"\"b\"\"\",0.1,2.0\n", r.out);
	cli_free(&r);
}

TEST_F(srv, cli_json)
{
	const char *args[] = { "-s", self->path, "--json", "-c",
		SEL_ALL "; SELECT char(1) || '\\' || char(9) AS \"q\"\"k\", 'ok' AS ok "
		"WHERE 1; SELECT 1 AS x WHERE 0", NULL };
	struct cli r;

	run_cli(&r, NULL, args);
	EXPECT_EQ(0, r.status);
	EXPECT_STREQ("", r.err);
	EXPECT_STREQ(
		"[{\"id\":1,\"name\":\"alice\",\"score\":1.5,\"data\":\"\\\\x00ff\"},\n"
		"{\"id\":2,\"name\":\"bob \\\"the\\\" builder, jr.\",\"score\":null,\"data\":null},\n"
		"{\"id\":3,\"name\":\"line1\\nline2\",\"score\":-2.25,\"data\":\"\\\\x\"},\n"
		"{\"id\":4,\"name\":\"héllo ☃ 日本\",\"score\":1e+20,\"data\":null}]\n"
		"[{\"q\\\"k\":\"\\u0001\\\\\\t\",\"ok\":\"ok\"}]\n"
		"[]\n", r.out);
	cli_free(&r);
}

TEST_F(srv, cli_sql_error_exits_1)
{
	const char *args[] = { "-s", self->path, "-c", "SELECT 1; SELEC 2", NULL };
	struct cli r;

	run_cli(&r, NULL, args);
	EXPECT_EQ(1, r.status);
	EXPECT_STREQ("Error: near \"SELEC\": syntax error\n", r.err);
	/* statements are prepared one by one: the first one ran */
	EXPECT_STREQ("1\n-\n1\n", r.out);
	cli_free(&r);
}

TEST_F(srv, cli_connection_and_usage_errors_exit_2)
{
	char path[160];
	const char *nosock[] = { "-s", path, "-c", "SELECT 1", NULL };
	const char *bad_opt[] = { "--bogus", NULL };
	const char *extra[] = { "SELECT 1", NULL };
	const char *help[] = { "--help", NULL };
	struct cli r;

	snprintf(path, sizeof(path), "%s/none.sock", self->dir);
	run_cli(&r, NULL, nosock);
	EXPECT_EQ(2, r.status);
	EXPECT_NE(NULL, strstr(r.err, "cannot connect to "));
	EXPECT_NE(NULL, strstr(r.err, "No such file or directory"));
	cli_free(&r);

	run_cli(&r, NULL, bad_opt);
	EXPECT_EQ(2, r.status);
	EXPECT_NE(NULL, strstr(r.err, "Usage: dbos"));
	cli_free(&r);

	run_cli(&r, NULL, extra);
	EXPECT_EQ(2, r.status);
	cli_free(&r);

	run_cli(&r, NULL, help);
	EXPECT_EQ(0, r.status);
	EXPECT_NE(NULL, strstr(r.out, "--json"));
	cli_free(&r);
}

TEST_F(srv, cli_script_on_stdin)
{
	const char *args[] = { "-s", self->path, NULL };
	struct cli r;

	run_cli(&r,
		"-- a comment\n"
		"CREATE TABLE w(x);\n"
		"INSERT INTO w\n"
		"  VALUES (1), (2);\n"
		".mode csv\n"
		"SELECT x FROM w\n"
		"  ORDER BY x; SELECT 'a;b' AS s;\n"
		".mode json\n"
		"SELECT count(*) AS n FROM w\n", args);
	EXPECT_EQ(0, r.status);
	EXPECT_STREQ("", r.err);
	EXPECT_STREQ("x\n1\n2\ns\na;b\n[{\"n\":2}]\n", r.out);
	cli_free(&r);

	/* The first error stops the script. */
	run_cli(&r, "SELECT 1 AS a;\nSELECT * FROM nosuch;\nSELECT 2 AS b;\n", args);
	EXPECT_EQ(1, r.status);
	EXPECT_STREQ("Error: no such table: nosuch\n", r.err);
	EXPECT_STREQ("a\n-\n1\n", r.out);
	cli_free(&r);
}

TEST_F(srv, cli_dot_commands)
{
	const char *tables[] = { "-s", self->path, "-c", ".tables", NULL };
	const char *schema[] = { "-s", self->path, "-c", ".schema", NULL };
	const char *schema_t[] = { "-s", self->path, "-c", ".schema t", NULL };
	const char *schema_x[] = { "-s", self->path, "-c", ".schema no'such", NULL };
	const char *bogus[] = { "-s", self->path, "-c", ".bogus", NULL };
	struct cli r;

	run_cli(&r, NULL, tables);
	EXPECT_EQ(0, r.status);
	EXPECT_STREQ("processes\nt\n", r.out);
	cli_free(&r);

	run_cli(&r, NULL, schema);
	EXPECT_EQ(0, r.status);
	EXPECT_STREQ("CREATE TABLE processes(pid INTEGER);\n"
		     "CREATE TABLE t(id INTEGER PRIMARY KEY, -- row id\n  name TEXT);\n"
		     "-- FUNCTION undo(version INTEGER);\n",
		     r.out);
	cli_free(&r);

	run_cli(&r, NULL, schema_t);
	EXPECT_EQ(0, r.status);
	EXPECT_STREQ("CREATE TABLE t(id INTEGER PRIMARY KEY, -- row id\n  name TEXT);\n",
		     r.out);
	cli_free(&r);

	run_cli(&r, NULL, schema_x);
	EXPECT_EQ(1, r.status);
	EXPECT_STREQ("Error: no such table: no'such\n", r.err);
	cli_free(&r);

	run_cli(&r, NULL, bogus);
	EXPECT_EQ(1, r.status);
	EXPECT_NE(NULL, strstr(r.err, "unknown command"));
	cli_free(&r);

	run_cli(&r, ".help\n.mode\n.mode json\n.mode\n.quit\nSELECT 1;\n",
		(const char *[]){ "-s", self->path, NULL });
	EXPECT_EQ(0, r.status);
	EXPECT_NE(NULL, strstr(r.out, ".schema [TABLE]"));
	EXPECT_NE(NULL, strstr(r.out, "\ntable\njson\n"));
	EXPECT_EQ(NULL, strstr(r.out, "[{"));	/* nothing ran after .quit */
	cli_free(&r);
}

TEST_HARNESS_MAIN
