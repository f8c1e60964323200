// SPDX-License-Identifier: GPL-2.0
/* test_history.c - host tests of history chunks: the codec, the writer (late rows, replaced rows, failed commits, retention, reload), SQL over chunks, the store format conversion. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#include "dbserver/mirror/history.h"
#include "dbserver/sql/schema.h"
#include "dbserver/sql/sql.h"
#include "dbserver/sql/sql_int.h"
#include "dbserver/store/chunk.h"
#include "dbserver/store/row.h"
#include "dbserver/store/store.h"
#include "tests/host/history_put.h"

#define NSEQ		3000		/* seqs 1..NSEQ */
#define OUT_MAX		(4u << 20)

/* The process_events row of @seq, version @ver (a replaced row has another). */
static size_t event_row(uint64_t seq, int ver, char *buf, size_t cap)
{
	struct row_value v[PROCESS_EVENTS__COUNT];
	char path[64], big[1500];

	for (int i = 0; i < PROCESS_EVENTS__COUNT; i++)
		v[i] = row_null();
	snprintf(path, sizeof(path), "/usr/bin/p%llu-v%d", (unsigned long long)seq, ver);
	v[PROCESS_EVENTS_SEQ] = row_int((int64_t)seq);
	v[PROCESS_EVENTS_EVENT] = row_text("exec", 4);
	v[PROCESS_EVENTS_PID] = row_int(1000 + (int64_t)(seq % 777));
	v[PROCESS_EVENTS_PATH] = row_text(path, strlen(path));
	/* rows of very different sizes: some chunks close on CHUNK_MAX_BYTES */
	memset(big, 'x', sizeof(big));
	v[PROCESS_EVENTS_CMDLINE] = seq % 97 == 0 ? row_text(big, sizeof(big)) : row_null();
	v[PROCESS_EVENTS_CPU] = row_int((int64_t)seq % 4);
	return row_encode(v, PROCESS_EVENTS__COUNT, buf, cap);
}

/* A deterministic generator (xorshift64). */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Every row of every query in @sql, as text, into @out (NUL-terminated). */
static void dump(struct __test_metadata *_metadata, sqlite3 *db, const char *const *sql,
		 char *out)
{
	size_t len = 0;

	for (; *sql; sql++) {
		sqlite3_stmt *st = NULL;
		int rc;

		ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(db, *sql, -1, &st, NULL))
			TH_LOG("%s: %s", *sql, sqlite3_errmsg(db));
		len += snprintf(out + len, OUT_MAX - len, "-- %s\n", *sql);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(st) && len < OUT_MAX; c++) {
				const unsigned char *t = sqlite3_column_text(st, c);

				len += snprintf(out + len, OUT_MAX - len, "%s|", t ? (const char *)t : "NULL");
			}
			if (len < OUT_MAX)
				len += snprintf(out + len, OUT_MAX - len, "\n");
		}
		EXPECT_EQ(SQLITE_DONE, rc) TH_LOG("%s: %s", *sql, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		ASSERT_LT(len, OUT_MAX);
	}
}

static const char *const queries[] = {
	"SELECT * FROM process_events",
	"SELECT * FROM process_events ORDER BY seq DESC LIMIT 10",
	"SELECT seq, path FROM process_events ORDER BY seq DESC",
	"SELECT * FROM process_events WHERE seq BETWEEN 100 AND 300",
	"SELECT * FROM process_events WHERE seq > 517 AND seq <= 1500 ORDER BY seq DESC",
	"SELECT * FROM process_events WHERE seq >= 2990.5",
	"SELECT * FROM process_events WHERE seq = 777",
	"SELECT * FROM process_events WHERE rowid = 64",
	"SELECT seq FROM process_events WHERE seq IN (0, 1, 64, 65, 129, 2999, 3000, 99999)",
	"SELECT count(*), sum(seq), min(seq), max(seq), sum(length(path)) FROM process_events",
	"SELECT seq FROM process_events WHERE seq < 200 ORDER BY seq DESC LIMIT 5",
	"SELECT seq FROM process_events WHERE seq > 2000 LIMIT 3",
	"SELECT a.seq, b.path FROM process_events a JOIN process_events b ON b.seq = a.seq + 1 "
	"WHERE a.seq < 400",
	"SELECT pid, count(*) FROM process_events GROUP BY pid ORDER BY pid LIMIT 20",
	NULL,
};

FIXTURE(hist) {
	char dir[2][64];
	struct store *st[2];		/* 0: the writer's chunks, 1: one row per chunk */
	struct sql_env env[2];
	sqlite3 *db[2];
	char *out[2];
	struct history h;
};

FIXTURE_SETUP(hist)
{
	char *err = NULL;

	for (int i = 0; i < 2; i++) {
		strcpy(self->dir[i], "/tmp/dbos-test-history.XXXXXX");
		ASSERT_NE(NULL, mkdtemp(self->dir[i]));
		ASSERT_EQ(0, store_open(self->dir[i], &self->st[i], &err)) TH_LOG("%s", err);
		self->env[i].st = self->st[i];
		ASSERT_EQ(0, sql_open(&self->env[i], &self->db[i], &err)) TH_LOG("%s", err);
		ASSERT_NE(NULL, self->out[i] = malloc(OUT_MAX));
	}
	history_init(&self->h, STORE_CF_PROCESS_EVENTS, 1000000);
}

FIXTURE_TEARDOWN(hist)
{
	char cmd[128];

	history_free(&self->h);
	for (int i = 0; i < 2; i++) {
		sqlite3_close(self->db[i]);
		store_close(self->st[i]);
		free(self->out[i]);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir[i]);
		if (system(cmd))
			TH_LOG("could not remove %s", self->dir[i]);
	}
}

/* Puts row @seq (version @ver) through the writer into @b and into the reference store's @ref. */
static void put_both(struct __test_metadata *_metadata, struct history *h, struct store_batch *b,
		     struct store_batch *ref, uint64_t seq, int ver)
{
	char buf[2048];
	size_t len = event_row(seq, ver, buf, sizeof(buf));

	ASSERT_EQ(0, history_put(h, b, seq, buf, len));
	test_put_row(ref, STORE_CF_PROCESS_EVENTS, seq, 8, buf, len);
}

/* One commit, as mirror_commit() makes it. 0, or -1 when the write failed (the batch kept). */
static int commit(struct __test_metadata *_metadata, struct history *h, struct store *st,
		  struct store_batch *b)
{
	char *err = NULL;

	EXPECT_EQ(0, history_flush(h, st, b, &err)) TH_LOG("%s", err);
	history_trim(h, b);
	if (store_write(st, b, &err)) {
		free(err);
		return -1;
	}
	store_batch_clear(b);
	history_committed(h);
	return 0;
}

static void expect_same(struct __test_metadata *_metadata, FIXTURE_DATA(hist) *self)
{
	for (int i = 0; i < 2; i++)
		dump(_metadata, self->db[i], queries, self->out[i]);
	EXPECT_EQ(0, strcmp(self->out[0], self->out[1]));
	if (strcmp(self->out[0], self->out[1])) {
		size_t i = 0;

		while (self->out[0][i] == self->out[1][i])
			i++;
		TH_LOG("first difference at byte %zu: chunks \"%.80s\" vs rows \"%.80s\"", i,
		       self->out[0] + i, self->out[1] + i);
	}
}

TEST(chunk_codec)
{
	struct chunk_buf c = { 0 };
	struct chunk_ent *ents = NULL;
	size_t cap = 0;
	uint64_t last;
	uint32_t count;
	char row[300];

	memset(row, 'r', sizeof(row));
	ASSERT_EQ(0, chunk_start(&c, 1000));
	for (uint64_t i = 0; i < 100; i++)
		ASSERT_EQ(0, chunk_append(&c, 1000 + i * i, row, i * 3 % 300));
	ASSERT_EQ(0, chunk_header(c.b, c.len, &count, &last));
	EXPECT_EQ(100, count);
	EXPECT_EQ(1000 + 99 * 99, last);
	ASSERT_EQ(100, chunk_decode(1000, c.b, c.len, &ents, &cap));
	for (uint64_t i = 0; i < 100; i++) {
		EXPECT_EQ(1000 + i * i, ents[i].seq);
		EXPECT_EQ(i * 3 % 300, ents[i].len);
	}
	/* truncated, or not a chunk at all (a row of one key per row) */
	EXPECT_EQ(-EINVAL, chunk_decode(1000, c.b, c.len - 1, &ents, &cap));
	EXPECT_EQ(-1, chunk_header("\x01\x01\x02", 3, &count, &last));
	free(ents);
	chunk_buf_free(&c);
}

/* Rows in order, many commits: every chunk is full but the newest; SQL reads as from rows. */
TEST_F(hist, in_order)
{
	struct store_batch *b = store_batch_new(), *ref = store_batch_new();
	char *err = NULL;

	for (uint64_t seq = 1; seq <= NSEQ; seq++) {
		put_both(_metadata, &self->h, b, ref, seq, 0);
		if (seq % 37 == 0)
			ASSERT_EQ(0, commit(_metadata, &self->h, self->st[0], b));
	}
	ASSERT_EQ(0, commit(_metadata, &self->h, self->st[0], b));
	ASSERT_EQ(0, store_write(self->st[1], ref, &err)) TH_LOG("%s", err);
	EXPECT_EQ(NSEQ, self->h.count);
	/* a chunk closes at CHUNK_MAX_ROWS, earlier before a large row would overflow it */
	EXPECT_LE(test_count_keys(self->st[0], STORE_CF_PROCESS_EVENTS),
		  NSEQ / CHUNK_MAX_ROWS + 1 + NSEQ / 97);
	expect_same(_metadata, self);
	store_batch_free(b);
	store_batch_free(ref);
}

/*
 * Rows arrive out of order (four "CPUs" drained at different times, some
 * rows several commits late), some twice (the later row replaces the
 * earlier), one commit fails and is retried: SQL reads what one key per
 * row would hold; reloaded, the counts are the same and rows keep coming.
 */
TEST_F(hist, late_rows)
{
	struct store_batch *b = store_batch_new(), *ref = store_batch_new();
	uint64_t *order = calloc(NSEQ, sizeof(*order)), s = 88172645463325252ULL, max_seq = 0;
	char *err = NULL;
	int failed = 0;

	ASSERT_NE(NULL, order);
	/* seqs in blocks of 200, shuffled within a block, a few moved far back */
	for (uint64_t i = 0; i < NSEQ; i++)
		order[i] = i + 1;
	for (uint64_t i = 0; i < NSEQ; i++) {
		uint64_t blk = i / 200 * 200, j = blk + rnd(&s) % 200;
		uint64_t t;

		if (j >= NSEQ)
			continue;
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (uint64_t i = 0; i + 700 < NSEQ; i += 331) {
		uint64_t t = order[i];

		memmove(&order[i], &order[i + 1], 600 * sizeof(*order));
		order[i + 600] = t;	/* three commits late */
	}
	for (uint64_t i = 0; i < NSEQ; i++) {
		put_both(_metadata, &self->h, b, ref, order[i], 0);
		if (order[i] % 101 == 0)	/* sent again, changed */
			put_both(_metadata, &self->h, b, ref, order[i], 1);
		if (i % 173 == 172) {
			if (i == 1729)
				store_fail_writes(self->st[0], "IO error: injected");
			failed += commit(_metadata, &self->h, self->st[0], b) != 0;
			store_fail_writes(self->st[0], NULL);
		}
	}
	ASSERT_EQ(0, commit(_metadata, &self->h, self->st[0], b));
	EXPECT_EQ(1, failed);
	ASSERT_EQ(0, store_write(self->st[1], ref, &err)) TH_LOG("%s", err);
	store_batch_clear(ref);
	EXPECT_EQ(NSEQ, self->h.count);
	expect_same(_metadata, self);

	/* A restart: the counts from the chunk headers; new and late rows keep coming. */
	history_free(&self->h);
	history_init(&self->h, STORE_CF_PROCESS_EVENTS, 1000000);
	ASSERT_EQ(0, history_load(&self->h, self->st[0], &max_seq, &err)) TH_LOG("%s", err);
	EXPECT_EQ(NSEQ, self->h.count);
	EXPECT_EQ(NSEQ, max_seq);
	for (uint64_t seq = NSEQ + 1; seq <= NSEQ + 100; seq++)
		put_both(_metadata, &self->h, b, ref, seq, 0);
	put_both(_metadata, &self->h, b, ref, 5, 2);
	put_both(_metadata, &self->h, b, ref, NSEQ, 2);
	ASSERT_EQ(0, commit(_metadata, &self->h, self->st[0], b));
	ASSERT_EQ(0, store_write(self->st[1], ref, &err)) TH_LOG("%s", err);
	EXPECT_EQ(NSEQ + 100, self->h.count);
	expect_same(_metadata, self);
	free(order);
	store_batch_free(b);
	store_batch_free(ref);
}

/*
 * The writer of a child process commits two rows at a time (every tenth row
 * held back and sent 25 rows late, so chunks in the store are rewritten) and
 * reports each seq once its commit returned; killed with SIGKILL mid-stream,
 * the store it leaves holds every seq it reported.
 */
static void kill9_child(const char *dir, int fd)
{
	struct store_batch *b = store_batch_new();
	struct history h;
	struct store *st;
	char *err = NULL, row[2048];
	uint64_t held[64], first = 0, nheld = 0, sent[8], nsent;

	if (store_open(dir, &st, &err)) {
		fprintf(stderr, "# child: %s\n", err);
		_exit(1);
	}
	history_init(&h, STORE_CF_PROCESS_EVENTS, 1000000);
	for (uint64_t seq = 1;; seq += 2) {
		nsent = 0;
		for (uint64_t s = seq; s < seq + 2; s++) {
			if (s % 10 == 5)
				held[(first + nheld++) % 64] = s;
			else
				sent[nsent++] = s;
		}
		if (nheld && held[first % 64] + 25 < seq) {
			sent[nsent++] = held[first++ % 64];
			nheld--;
		}
		for (uint64_t i = 0; i < nsent; i++)
			if (history_put(&h, b, sent[i], row, event_row(sent[i], 0, row, sizeof(row))))
				_exit(1);
		if (history_flush(&h, st, b, &err) || store_write(st, b, &err)) {
			fprintf(stderr, "# child: %s\n", err);
			_exit(1);
		}
		store_batch_clear(b);
		history_committed(&h);
		/* Only now are these rows acknowledged. */
		if (write(fd, sent, nsent * sizeof(*sent)) != (ssize_t)(nsent * sizeof(*sent)))
			_exit(1);
	}
}

TEST_F_TIMEOUT(hist, kill9_keeps_every_acknowledged_row, 300)
{
	static unsigned char acked[1 << 20];
	uint64_t seq, n = 0, late = 0, missing = 0;
	struct sql_env env = { 0 };
	sqlite3_stmt *q = NULL;
	char *err = NULL;
	int fds[2], status;
	pid_t pid;

	sqlite3_close(self->db[0]);
	self->db[0] = NULL;
	store_close(self->st[0]);
	self->st[0] = NULL;
	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(fds[0]);
		kill9_child(self->dir[0], fds[1]);
	}
	close(fds[1]);
	while (n < 20000 && read(fds[0], &seq, sizeof(seq)) == sizeof(seq)) {
		ASSERT_LT(seq, sizeof(acked));
		acked[seq] = 1;
		late += seq % 10 == 5;
		n++;
	}
	ASSERT_EQ(0, kill(pid, SIGKILL));
	/* Acknowledgements already in the pipe count too. */
	while (read(fds[0], &seq, sizeof(seq)) == sizeof(seq) && seq < sizeof(acked))
		acked[seq] = 1;
	close(fds[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));

	ASSERT_EQ(0, store_open(self->dir[0], &self->st[0], &err)) TH_LOG("%s", err);
	env.st = self->st[0];
	ASSERT_EQ(0, sql_open(&env, &self->db[0], &err)) TH_LOG("%s", err);
	ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(self->db[0], "SELECT seq FROM process_events",
						-1, &q, NULL));
	while (sqlite3_step(q) == SQLITE_ROW) {
		seq = (uint64_t)sqlite3_column_int64(q, 0);
		if (seq < sizeof(acked))
			acked[seq] = 0;
	}
	sqlite3_finalize(q);
	for (seq = 0; seq < sizeof(acked); seq++)
		missing += acked[seq];
	EXPECT_EQ(0, missing) TH_LOG("of at least %llu acknowledged rows", (unsigned long long)n);
	EXPECT_LT(1000, late);	/* written into chunks already stored */
}

/* A late row that falls into a corrupt chunk replaces it instead of failing every commit after it. */
TEST_F(hist, corrupt_chunk)
{
	struct store_batch *b = store_batch_new(), *ref = store_batch_new();
	uint64_t max_seq = 0;
	unsigned char k[8];
	char *err = NULL;

	store_key_be64(k, 10);
	store_batch_put(b, STORE_CF_PROCESS_EVENTS, k, 8, "\xC1garbage", 8);
	ASSERT_EQ(0, store_write(self->st[0], b, &err)) TH_LOG("%s", err);
	store_batch_clear(b);
	ASSERT_EQ(0, history_load(&self->h, self->st[0], &max_seq, &err)) TH_LOG("%s", err);
	EXPECT_EQ(10, max_seq);
	put_both(_metadata, &self->h, b, ref, 10, 0);
	put_both(_metadata, &self->h, b, ref, 11, 0);
	ASSERT_EQ(0, commit(_metadata, &self->h, self->st[0], b));
	ASSERT_EQ(0, store_write(self->st[1], ref, &err)) TH_LOG("%s", err);
	expect_same(_metadata, self);
	store_batch_free(b);
	store_batch_free(ref);
}

/* "ORDER BY seq DESC LIMIT 10" reads as few rows from chunks as from one row per key. */
TEST_F(hist, desc_limit_reads)
{
	struct store_batch *b = store_batch_new(), *ref = store_batch_new();
	uint64_t read[2];
	char *err = NULL;

	for (uint64_t seq = 1; seq <= NSEQ; seq++)
		put_both(_metadata, &self->h, b, ref, seq, 0);
	ASSERT_EQ(0, commit(_metadata, &self->h, self->st[0], b));
	ASSERT_EQ(0, store_write(self->st[1], ref, &err)) TH_LOG("%s", err);
	for (int i = 0; i < 2; i++) {
		uint64_t before = vtab_rows_read();
		sqlite3_stmt *st = NULL;
		int n = 0;

		ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(self->db[i],
			"SELECT * FROM process_events WHERE seq < 2500 ORDER BY seq DESC LIMIT 10",
			-1, &st, NULL));
		while (sqlite3_step(st) == SQLITE_ROW)
			n++;
		sqlite3_finalize(st);
		EXPECT_EQ(10, n);
		read[i] = vtab_rows_read() - before;
	}
	EXPECT_EQ(read[1], read[0]);
	EXPECT_LE(read[0], 11);
	store_batch_free(b);
	store_batch_free(ref);
}

/* Retention trims whole chunks; a small retention makes small chunks, so it keeps close to its limit. */
TEST(retention)
{
	char dir[] = "/tmp/dbos-test-history.XXXXXX", cmd[128], *err = NULL;
	struct store_batch *b = store_batch_new();
	struct history h;
	struct store *st;
	sqlite3 *db;
	struct sql_env env = { 0 };
	char row[2048];

	ASSERT_NE(NULL, mkdtemp(dir));
	ASSERT_EQ(0, store_open(dir, &st, &err)) TH_LOG("%s", err);
	env.st = st;
	ASSERT_EQ(0, sql_open(&env, &db, &err)) TH_LOG("%s", err);
	history_init(&h, STORE_CF_PROCESS_EVENTS, 640);
	EXPECT_EQ(10, h.chunk_rows);
	for (uint64_t seq = 1; seq <= NSEQ; seq++) {
		ASSERT_EQ(0, history_put(&h, b, seq, row, event_row(seq, 0, row, sizeof(row))));
		if (seq % 50 == 0) {
			ASSERT_EQ(0, history_flush(&h, st, b, &err)) TH_LOG("%s", err);
			history_trim(&h, b);
			ASSERT_EQ(0, store_write(st, b, &err)) TH_LOG("%s", err);
			store_batch_clear(b);
			history_committed(&h);
			EXPECT_LE(h.count, 640 + 64);
		}
	}
	{
		sqlite3_stmt *q = NULL;

		ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(db,
			"SELECT count(*), max(seq) FROM process_events", -1, &q, NULL));
		ASSERT_EQ(SQLITE_ROW, sqlite3_step(q));
		EXPECT_EQ(h.count, sqlite3_column_int64(q, 0));
		EXPECT_GE(sqlite3_column_int64(q, 0), 640);
		EXPECT_EQ(NSEQ, sqlite3_column_int64(q, 1));
		sqlite3_finalize(q);
	}
	EXPECT_GT(h.trimmed, 0);
	history_free(&h);
	sqlite3_close(db);
	store_close(st);
	store_batch_free(b);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		TH_LOG("could not remove %s", dir);
}

/*
 * A store of format 1 (one key per row, no "store_format") is converted at
 * open, also one that an interrupted conversion left half done; SQL then
 * reads the same rows. A store of a later format is refused.
 */
TEST_F(hist, format_conversion)
{
	struct store_batch *b = store_batch_new(), *ref = store_batch_new();
	unsigned char k[8], v4[4];
	struct chunk_buf c = { 0 };
	char *err = NULL, row[2048], want[96];

	for (uint64_t seq = 1; seq <= NSEQ; seq++) {
		size_t len = event_row(seq, 0, row, sizeof(row));

		store_key_be64(k, seq);
		if (seq <= 100) {	/* a chunk an earlier conversion wrote */
			if (seq == 1)
				ASSERT_EQ(0, chunk_start(&c, 1));
			ASSERT_EQ(0, chunk_append(&c, seq, row, len));
			if (seq == 100)
				test_put_chunk(b, STORE_CF_PROCESS_EVENTS, &c);
		} else {
			store_batch_put(b, STORE_CF_PROCESS_EVENTS, k, 8, row, len);
		}
		test_put_row(ref, STORE_CF_PROCESS_EVENTS, seq, 8, row, len);
	}
	store_key_be64(k, 7);
	store_batch_put(b, STORE_CF_SOCKET_EVENTS, k, 8, row, event_row(7, 0, row, sizeof(row)));
	store_batch_delete(b, STORE_CF_META, "store_format", strlen("store_format"));
	ASSERT_EQ(0, store_write(self->st[0], b, &err)) TH_LOG("%s", err);
	ASSERT_EQ(0, store_write(self->st[1], ref, &err)) TH_LOG("%s", err);
	sqlite3_close(self->db[0]);
	store_close(self->st[0]);

	ASSERT_EQ(0, store_open(self->dir[0], &self->st[0], &err)) TH_LOG("%s", err);
	self->env[0].st = self->st[0];
	ASSERT_EQ(0, sql_open(&self->env[0], &self->db[0], &err)) TH_LOG("%s", err);
	/* the chunk that was there, and the rows 64 at a time (fewer before a large row) */
	EXPECT_LE(1 + (NSEQ - 100 + CHUNK_MAX_ROWS - 1) / CHUNK_MAX_ROWS,
		  test_count_keys(self->st[0], STORE_CF_PROCESS_EVENTS));
	EXPECT_GE(1 + (NSEQ - 100 + CHUNK_MAX_ROWS - 1) / CHUNK_MAX_ROWS + NSEQ / 97,
		  test_count_keys(self->st[0], STORE_CF_PROCESS_EVENTS));
	EXPECT_EQ(1, test_count_keys(self->st[0], STORE_CF_SOCKET_EVENTS));
	expect_same(_metadata, self);

	/* a newer dbosd's store */
	store_batch_clear(b);
	store_key_be32(v4, STORE_FORMAT + 1);
	store_batch_put(b, STORE_CF_META, "store_format", strlen("store_format"), v4, 4);
	ASSERT_EQ(0, store_write(self->st[0], b, &err)) TH_LOG("%s", err);
	sqlite3_close(self->db[0]);
	self->db[0] = NULL;
	store_close(self->st[0]);
	self->st[0] = NULL;
	EXPECT_EQ(-1, store_open(self->dir[0], &self->st[0], &err));
	ASSERT_NE(NULL, err);
	snprintf(want, sizeof(want), "the store has format %d and this dbosd reads format %d",
		 STORE_FORMAT + 1, STORE_FORMAT);
	EXPECT_NE(NULL, strstr(err, want)) TH_LOG("%s", err);
	free(err);
	chunk_buf_free(&c);
	store_batch_free(b);
	store_batch_free(ref);
}

TEST_HARNESS_MAIN
