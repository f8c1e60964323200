// SPDX-License-Identifier: GPL-2.0
/* test_store.c - host tests of the RocksDB store (store.h) and the row codec (row.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "kselftest_harness.h"

#include "dbserver/store/row.h"
#include "dbserver/store/store.h"
#include "tests/host/history_put.h"

static void rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "# could not remove %s\n", dir);
}

static void key32(unsigned char k[4], uint32_t v) { store_key_be32(k, v); }

/* Puts @val under be32 @key in @cf in a batch of its own. */
static int put32(struct store *st, enum store_cf cf, uint32_t key, const char *val)
{
	struct store_batch *b = store_batch_new();
	unsigned char k[4];
	char *err = NULL;
	int ret;

	key32(k, key);
	store_batch_put(b, cf, k, 4, val, strlen(val));
	ret = store_write(st, b, &err);
	if (ret)
		fprintf(stderr, "# store_write: %s\n", err);
	free(err);
	store_batch_free(b);
	return ret;
}

/* 1: present (and *out, malloc'ed, NUL-terminated), 0 absent, -1 error. */
static int get32(struct store *st, enum store_cf cf, uint32_t key, char **out)
{
	unsigned char k[4];
	char *val = NULL, *err = NULL;
	size_t len = 0;
	int r;

	key32(k, key);
	r = store_get(st, cf, k, 4, &val, &len, &err);
	if (r < 0)
		fprintf(stderr, "# store_get: %s\n", err);
	free(err);
	if (r == 1 && out)
		*out = val;
	else
		free(val);
	return r;
}

static uint64_t cur_key(const struct store_iter *it)
{
	size_t len;
	const char *k = store_iter_key(it, &len);

	return store_key_get(k, len);
}

FIXTURE(store) {
	char dir[64];
	struct store *st;
};

FIXTURE_SETUP(store)
{
	char *err = NULL;

	strcpy(self->dir, "/tmp/dbos-test-store.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, store_open(self->dir, &self->st, &err)) TH_LOG("%s", err);
}

FIXTURE_TEARDOWN(store)
{
	store_close(self->st);
	rm_rf(self->dir);
}

TEST_F(store, put_get_overwrite_delete)
{
	struct store_batch *b = store_batch_new();
	unsigned char k[4];
	char *val = NULL, *err = NULL;
	size_t len = 99;

	ASSERT_EQ(0, get32(self->st, STORE_CF_PROCESSES, 1, NULL));
	ASSERT_EQ(0, put32(self->st, STORE_CF_PROCESSES, 1, "one"));
	ASSERT_EQ(1, get32(self->st, STORE_CF_PROCESSES, 1, &val));
	EXPECT_STREQ("one", val);
	free(val);
	ASSERT_EQ(0, put32(self->st, STORE_CF_PROCESSES, 1, "uno"));
	ASSERT_EQ(1, get32(self->st, STORE_CF_PROCESSES, 1, &val));
	EXPECT_STREQ("uno", val);
	free(val);

	/* An empty value is present, with length 0 and a buffer to free. */
	ASSERT_EQ(0, put32(self->st, STORE_CF_PROCESSES, 2, ""));
	key32(k, 2);
	ASSERT_EQ(1, store_get(self->st, STORE_CF_PROCESSES, k, 4, &val, &len, &err));
	EXPECT_EQ(0, len);
	EXPECT_NE(NULL, val);
	free(val);

	key32(k, 1);
	store_batch_delete(b, STORE_CF_PROCESSES, k, 4);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	EXPECT_EQ(0, get32(self->st, STORE_CF_PROCESSES, 1, NULL));
	EXPECT_EQ(1, get32(self->st, STORE_CF_PROCESSES, 2, NULL));
	store_batch_free(b);
}

TEST_F(store, column_families_are_separate)
{
	char *val = NULL;

	ASSERT_EQ(0, put32(self->st, STORE_CF_PROCESSES, 7, "proc"));
	ASSERT_EQ(0, put32(self->st, STORE_CF_META, 7, "meta"));
	EXPECT_EQ(0, get32(self->st, STORE_CF_PROCESS_EVENTS, 7, NULL));
	ASSERT_EQ(1, get32(self->st, STORE_CF_META, 7, &val));
	EXPECT_STREQ("meta", val);
	free(val);
	EXPECT_EQ(1, test_count_keys(self->st, STORE_CF_PROCESSES));
	EXPECT_EQ(0, test_count_keys(self->st, STORE_CF_PROCESS_EVENTS));
}

TEST_F(store, batch_order_count_clear_reuse)
{
	struct store_batch *b = store_batch_new();
	unsigned char k1[4], k2[4];
	char *err = NULL;

	key32(k1, 1);
	key32(k2, 2);
	/* Later operations in a batch win: put+delete is absent, delete+put present. */
	store_batch_put(b, STORE_CF_PROCESSES, k1, 4, "a", 1);
	store_batch_delete(b, STORE_CF_PROCESSES, k1, 4);
	store_batch_delete(b, STORE_CF_PROCESSES, k2, 4);
	store_batch_put(b, STORE_CF_PROCESSES, k2, 4, "b", 1);
	EXPECT_EQ(4, store_batch_count(b));
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	EXPECT_EQ(4, store_batch_count(b));	/* left unchanged */
	EXPECT_EQ(0, get32(self->st, STORE_CF_PROCESSES, 1, NULL));
	EXPECT_EQ(1, get32(self->st, STORE_CF_PROCESSES, 2, NULL));

	/* The same batch can be written again, and reused after a clear. */
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_clear(b);
	EXPECT_EQ(0, store_batch_count(b));
	ASSERT_EQ(0, store_write(self->st, b, &err));	/* empty: a no-op */
	store_batch_put(b, STORE_CF_PROCESSES, k1, 4, "c", 1);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	EXPECT_EQ(2, test_count_keys(self->st, STORE_CF_PROCESSES));
	store_batch_free(b);
}

TEST_F(store, bad_batch_is_refused_whole)
{
	struct store_batch *b = store_batch_new();
	unsigned char k[4];
	char *err = NULL;

	key32(k, 1);
	store_batch_put(b, STORE_CF_PROCESSES, k, 4, "ok", 2);
	store_batch_put(b, (enum store_cf)STORE_CF__COUNT, k, 4, "bad", 3);
	EXPECT_EQ(-1, store_write(self->st, b, &err));
	ASSERT_NE(NULL, err);
	EXPECT_NE(NULL, strstr(err, "unknown column family")) TH_LOG("%s", err);
	free(err);
	EXPECT_EQ(0, get32(self->st, STORE_CF_PROCESSES, 1, NULL));
	store_batch_clear(b);	/* and usable again after a clear */
	store_batch_put(b, STORE_CF_PROCESSES, k, 4, "ok", 2);
	EXPECT_EQ(0, store_write(self->st, b, &err));
	EXPECT_EQ(1, get32(self->st, STORE_CF_PROCESSES, 1, NULL));
	store_batch_free(b);
}

TEST_F(store, delete_range)
{
	struct store_batch *b = store_batch_new();
	unsigned char lo[4], hi[4];
	char *err = NULL;

	for (uint32_t i = 0; i < 100; i++)
		ASSERT_EQ(0, put32(self->st, STORE_CF_PROCESSES, i, "x"));
	key32(lo, 10);
	key32(hi, 20);
	store_batch_delete_range(b, STORE_CF_PROCESSES, lo, 4, hi, 4);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	EXPECT_EQ(1, get32(self->st, STORE_CF_PROCESSES, 9, NULL));
	for (uint32_t i = 10; i < 20; i++)
		EXPECT_EQ(0, get32(self->st, STORE_CF_PROCESSES, i, NULL));
	EXPECT_EQ(1, get32(self->st, STORE_CF_PROCESSES, 20, NULL));	/* end is exclusive */
	EXPECT_EQ(90, test_count_keys(self->st, STORE_CF_PROCESSES));

	/* A key written after the tombstone is visible again. */
	ASSERT_EQ(0, put32(self->st, STORE_CF_PROCESSES, 15, "back"));
	EXPECT_EQ(1, get32(self->st, STORE_CF_PROCESSES, 15, NULL));
	store_batch_free(b);
}

static void key_pid_fd(unsigned char k[8], uint32_t pid, uint32_t fd)
{
	store_key_be32(k, pid);
	store_key_be32(k + 4, fd);
}

/* What files_exit() relies on: one range delete over a pid prefix, then puts after it. */
TEST_F(store, pid_prefix_range_delete_on_two_part_keys)
{
	static const uint32_t fds[] = { 0, 1, 2, 9, 255, 256, 65536, 0xffffffffu };
	const int nfds = sizeof(fds) / sizeof(fds[0]);
	struct store_batch *b = store_batch_new();
	unsigned char k[8], lo[8], hi[8];
	struct store_iter *it;
	char *err = NULL;
	uint64_t prev = 0;
	int n = 0;

	for (uint32_t pid = 99; pid <= 101; pid++)
		for (int i = 0; i < nfds; i++) {
			key_pid_fd(k, pid, fds[i]);
			store_batch_put(b, STORE_CF_FDS, k, 8, "f", 1);
		}
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_clear(b);
	/* pid 100 exits, and (in the same batch) a row newer than its death is written again. */
	key_pid_fd(lo, 100, 0);
	key_pid_fd(hi, 101, 0);
	store_batch_delete_range(b, STORE_CF_FDS, lo, 8, hi, 8);
	key_pid_fd(k, 100, 7);
	store_batch_put(b, STORE_CF_FDS, k, 8, "new", 3);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);

	it = store_iter_new(self->st, STORE_CF_FDS);
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it), n++) {
		size_t klen;
		const char *kk = store_iter_key(it, &klen);
		uint64_t key = store_key_get(kk, klen);

		ASSERT_EQ(8, klen);
		EXPECT_TRUE(n == 0 || prev < key);	/* (pid, fd) in numeric order */
		prev = key;
		if (key >> 32 == 100)
			EXPECT_EQ(7, key & 0xffffffffu);
	}
	store_iter_free(it);
	EXPECT_EQ(2 * nfds + 1, n);
	EXPECT_EQ(0, test_count_keys(self->st, STORE_CF_SOCKETS));
}

TEST_F(store, iterate_both_directions_in_numeric_order)
{
	/* Inserted out of order, across byte boundaries of the big-endian key. */
	static const uint32_t keys[] = { 300, 1, 256, 65536, 255, 0, 70000, 2 };
	static const uint32_t sorted[] = { 0, 1, 2, 255, 256, 300, 65536, 70000 };
	struct store_iter *it;
	size_t n = sizeof(keys) / sizeof(keys[0]);
	size_t i, len;
	char buf[16];

	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "v%u", keys[i]);
		ASSERT_EQ(0, put32(self->st, STORE_CF_PROCESSES, keys[i], buf));
	}
	it = store_iter_new(self->st, STORE_CF_PROCESSES);
	ASSERT_NE(NULL, it);
	i = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it), i++) {
		const char *k = store_iter_key(it, &len);
		const char *v;

		ASSERT_EQ(4, len);
		ASSERT_LT(i, n);
		EXPECT_EQ(sorted[i], store_key_get(k, len));
		v = store_iter_value(it, &len);
		snprintf(buf, sizeof(buf), "v%u", sorted[i]);
		EXPECT_EQ(strlen(buf), len);
		EXPECT_EQ(0, memcmp(buf, v, len));
	}
	EXPECT_EQ(n, i);
	char *err = NULL;

	EXPECT_EQ(0, store_iter_error(it, &err));
	i = n;
	for (store_iter_seek_last(it); store_iter_valid(it); store_iter_prev(it)) {
		const char *k = store_iter_key(it, &len);

		ASSERT_GT(i, 0);
		EXPECT_EQ(sorted[--i], store_key_get(k, len));
	}
	EXPECT_EQ(0, i);
	store_iter_free(it);
}

TEST_F(store, seek_and_seek_for_prev)
{
	struct store_iter *it;
	unsigned char k[4];

	for (uint32_t i = 10; i <= 50; i += 10)
		ASSERT_EQ(0, put32(self->st, STORE_CF_PROCESSES, i, "x"));
	it = store_iter_new(self->st, STORE_CF_PROCESSES);

	key32(k, 25);
	store_iter_seek(it, k, 4);		/* first >= 25 */
	ASSERT_TRUE(store_iter_valid(it));
	EXPECT_EQ(30, cur_key(it));
	key32(k, 30);
	store_iter_seek(it, k, 4);		/* exact */
	ASSERT_TRUE(store_iter_valid(it));
	EXPECT_EQ(30, cur_key(it));
	key32(k, 51);
	store_iter_seek(it, k, 4);		/* past the end */
	EXPECT_FALSE(store_iter_valid(it));

	key32(k, 25);
	store_iter_seek_for_prev(it, k, 4);	/* last <= 25 */
	ASSERT_TRUE(store_iter_valid(it));
	EXPECT_EQ(20, cur_key(it));
	store_iter_prev(it);
	ASSERT_TRUE(store_iter_valid(it));
	EXPECT_EQ(10, cur_key(it));
	key32(k, 40);
	store_iter_seek_for_prev(it, k, 4);	/* exact */
	ASSERT_TRUE(store_iter_valid(it));
	EXPECT_EQ(40, cur_key(it));
	key32(k, 9);
	store_iter_seek_for_prev(it, k, 4);	/* before the start */
	EXPECT_FALSE(store_iter_valid(it));
	store_iter_free(it);
}

TEST_F(store, iterator_sees_snapshot_at_creation)
{
	struct store_iter *it;

	ASSERT_EQ(0, put32(self->st, STORE_CF_PROCESSES, 1, "old"));
	it = store_iter_new(self->st, STORE_CF_PROCESSES);
	ASSERT_EQ(0, put32(self->st, STORE_CF_PROCESSES, 1, "new"));
	ASSERT_EQ(0, put32(self->st, STORE_CF_PROCESSES, 2, "new"));

	int n = 0;
	size_t len;

	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it), n++) {
		const char *v = store_iter_value(it, &len);

		EXPECT_EQ(3, len);
		EXPECT_EQ(0, memcmp("old", v, 3));
	}
	EXPECT_EQ(1, n);
	store_iter_free(it);
	EXPECT_EQ(2, test_count_keys(self->st, STORE_CF_PROCESSES));
}

/* A writer moves units between two keys in one batch; readers must never see a half. */
struct transfer {
	struct store *st;
	volatile int stop;
	int torn;
	int reads;
};

static void *transfer_reader(void *arg)
{
	struct transfer *t = arg;

	while (!t->stop) {
		struct store_iter *it = store_iter_new(t->st, STORE_CF_META);
		long sum = 0;
		int n = 0;
		size_t len;

		for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it), n++) {
			const char *v = store_iter_value(it, &len);
			char buf[32];

			memcpy(buf, v, len < 31 ? len : 31);
			buf[len < 31 ? len : 31] = 0;
			sum += atol(buf);
		}
		store_iter_free(it);
		if (n && sum != 0)
			t->torn++;
		t->reads++;
	}
	return NULL;
}

TEST_F(store, batch_is_atomic_for_readers)
{
	struct transfer t = { .st = self->st };
	struct store_batch *b = store_batch_new();
	pthread_t th;
	char *err = NULL;

	ASSERT_EQ(0, pthread_create(&th, NULL, transfer_reader, &t));
	for (int i = 1; i <= 3000; i++) {
		unsigned char a[4], c[4];
		char va[16], vc[16];

		key32(a, 1);
		key32(c, 2);
		snprintf(va, sizeof(va), "%d", i);
		snprintf(vc, sizeof(vc), "%d", -i);
		store_batch_clear(b);
		store_batch_put(b, STORE_CF_META, a, 4, va, strlen(va));
		store_batch_put(b, STORE_CF_META, c, 4, vc, strlen(vc));
		ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	}
	t.stop = 1;
	pthread_join(th, NULL);
	EXPECT_EQ(0, t.torn);
	EXPECT_LT(0, t.reads);
	store_batch_free(b);
}

TEST_F(store, persists_across_close_and_reopen)
{
	char *err = NULL, *val = NULL;
	struct store_batch *b = store_batch_new();
	unsigned char lo[4], hi[4];

	for (uint32_t i = 0; i < 1000; i++)
		ASSERT_EQ(0, put32(self->st, STORE_CF_PROCESSES, i, "persist"));
	key32(lo, 0);
	key32(hi, 500);
	store_batch_delete_range(b, STORE_CF_PROCESSES, lo, 4, hi, 4);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);

	store_close(self->st);
	self->st = NULL;
	ASSERT_EQ(0, store_open(self->dir, &self->st, &err)) TH_LOG("%s", err);
	EXPECT_EQ(500, test_count_keys(self->st, STORE_CF_PROCESSES));
	ASSERT_EQ(1, get32(self->st, STORE_CF_PROCESSES, 999, &val));
	EXPECT_STREQ("persist", val);
	free(val);
	EXPECT_EQ(0, get32(self->st, STORE_CF_PROCESSES, 499, NULL));
	EXPECT_LT(0, store_estimate_keys(self->st, STORE_CF_PROCESSES));
}

TEST_F(store, open_errors_are_returned)
{
	struct store *st2 = NULL;
	char *err = NULL;
	char path[128];
	int fd;

	/* The directory is locked by the fixture's store. */
	EXPECT_EQ(-1, store_open(self->dir, &st2, &err));
	ASSERT_NE(NULL, err);
	EXPECT_NE(NULL, strstr(err, "lock")) TH_LOG("%s", err);
	free(err);
	err = NULL;

	/* A regular file is not a database directory. */
	snprintf(path, sizeof(path), "%s/plainfile", self->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	ASSERT_LE(0, fd);
	close(fd);
	EXPECT_EQ(-1, store_open(path, &st2, &err));
	ASSERT_NE(NULL, err);
	TH_LOG("file as database: %s", err);
	free(err);
}

TEST(opens_a_database_with_families_it_does_not_know)
{
	char dir[] = "/tmp/dbos-test-cf.XXXXXX";
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_column_family_handle_t *h;
	struct store *st;
	char *err = NULL;
	rocksdb_t *db;

	ASSERT_NE(NULL, mkdtemp(dir));
	/* As if a newer dbosd had added a family. */
	rocksdb_options_set_create_if_missing(o, 1);
	db = rocksdb_open(o, dir, &err);
	ASSERT_NE(NULL, db) TH_LOG("%s", err);
	h = rocksdb_create_column_family(db, o, "from_the_future", &err);
	ASSERT_NE(NULL, h) TH_LOG("%s", err);
	rocksdb_column_family_handle_destroy(h);
	rocksdb_close(db);
	rocksdb_options_destroy(o);

	ASSERT_EQ(0, store_open(dir, &st, &err)) TH_LOG("%s", err);
	EXPECT_EQ(0, put32(st, STORE_CF_PROCESSES, 1, "x"));
	store_close(st);
	ASSERT_EQ(0, store_open(dir, &st, &err)) TH_LOG("%s", err);
	EXPECT_EQ(1, get32(st, STORE_CF_PROCESSES, 1, NULL));
	store_close(st);
	rm_rf(dir);
}

/* A store written before the files tables existed: they are created on open. */
TEST(opens_an_older_database_without_the_files_families)
{
	static const char *const old[] = { "default", "meta", "processes", "process_events" };
	char dir[] = "/tmp/dbos-test-old.XXXXXX";
	rocksdb_options_t *o = rocksdb_options_create();
	const rocksdb_options_t *opts[4] = { o, o, o, o };
	rocksdb_column_family_handle_t *h[4];
	unsigned char k[8];
	struct store *st;
	char *err = NULL;
	rocksdb_t *db;

	ASSERT_NE(NULL, mkdtemp(dir));
	rocksdb_options_set_create_if_missing(o, 1);
	rocksdb_options_set_create_missing_column_families(o, 1);
	db = rocksdb_open_column_families(o, dir, 4, old, opts, h, &err);
	ASSERT_NE(NULL, db) TH_LOG("%s", err);
	for (int i = 0; i < 4; i++)
		rocksdb_column_family_handle_destroy(h[i]);
	rocksdb_close(db);
	rocksdb_options_destroy(o);

	ASSERT_EQ(0, store_open(dir, &st, &err)) TH_LOG("%s", err);
	EXPECT_EQ(0, test_count_keys(st, STORE_CF_FDS));
	key_pid_fd(k, 1, 3);
	{
		struct store_batch *b = store_batch_new();

		store_batch_put(b, STORE_CF_FDS, k, 8, "x", 1);
		store_batch_put(b, STORE_CF_SOCKET_EVENTS, k, 8, "y", 1);
		EXPECT_EQ(0, store_write(st, b, &err)) TH_LOG("%s", err);
		store_batch_free(b);
	}
	store_close(st);
	ASSERT_EQ(0, store_open(dir, &st, &err)) TH_LOG("%s", err);
	EXPECT_EQ(1, test_count_keys(st, STORE_CF_FDS));
	EXPECT_EQ(1, test_count_keys(st, STORE_CF_SOCKET_EVENTS));
	EXPECT_EQ(0, test_count_keys(st, STORE_CF_FILE_EVENTS));
	store_close(st);
	rm_rf(dir);
}

/* ---- kill -9 durability ---- */

/*
 * Tests that fork, mount or fill disks: more time (valgrind runs them too),
 * and a directory that is unmounted and removed even when an assertion fails.
 */
FIXTURE(slow) {
	char dir[64];
};

FIXTURE_SETUP(slow)
{
	strcpy(self->dir, "/tmp/dbos-test-slow.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
}

FIXTURE_TEARDOWN(slow)
{
	umount2(self->dir, MNT_DETACH);	/* if the test mounted a tmpfs there */
	rm_rf(self->dir);
}

#define KILL_ROWS_PER_BATCH	3

static void kill9_child(const char *dir, int fd)
{
	struct store *st;
	struct store_batch *b = store_batch_new();
	char *err = NULL;

	if (store_open(dir, &st, &err)) {
		fprintf(stderr, "# child: %s\n", err);
		_exit(1);
	}
	for (uint32_t i = 0;; i++) {
		unsigned char k4[4], k8[8];
		char v[64];
		int n = snprintf(v, sizeof(v), "row %u of an acknowledged batch", i);

		store_batch_clear(b);
		key32(k4, i);
		store_key_be64(k8, i);
		store_batch_put(b, STORE_CF_PROCESSES, k4, 4, v, n);
		store_batch_put(b, STORE_CF_PROCESS_EVENTS, k8, 8, v, n);
		store_batch_put(b, STORE_CF_META, "last", 4, &i, sizeof(i));
		if (store_write(st, b, &err)) {
			fprintf(stderr, "# child: %s\n", err);
			_exit(1);
		}
		/* Only now is row i acknowledged. */
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(1);
	}
}

TEST_F_TIMEOUT(slow, kill9_keeps_every_acknowledged_batch, 300)
{
	const char *dir = self->dir;
	int fds[2], status;
	uint32_t idx, last = 0;
	bool any = false;
	pid_t pid;
	struct store *st;
	char *err = NULL;

	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(fds[0]);
		kill9_child(dir, fds[1]);
	}
	close(fds[1]);
	/* Kill it mid-stream, a few thousand acknowledged batches in. */
	while (read(fds[0], &idx, sizeof(idx)) == sizeof(idx)) {
		last = idx;
		any = true;
		if (idx >= 4000)
			break;
	}
	ASSERT_TRUE(any);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	/* Acknowledgements already in the pipe count too. */
	while (read(fds[0], &idx, sizeof(idx)) == sizeof(idx))
		last = idx;
	close(fds[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(SIGKILL, WTERMSIG(status));

	ASSERT_EQ(0, store_open(dir, &st, &err)) TH_LOG("%s", err);
	uint32_t missing = 0;

	for (uint32_t i = 0; i <= last; i++) {
		unsigned char k8[8];
		char *val = NULL;
		size_t len;

		store_key_be64(k8, i);
		if (get32(st, STORE_CF_PROCESSES, i, NULL) != 1)
			missing++;
		if (store_get(st, STORE_CF_PROCESS_EVENTS, k8, 8, &val, &len, &err) != 1)
			missing++;
		free(val);
	}
	EXPECT_EQ(0, missing) TH_LOG("of %u acknowledged batches", last + 1);
	/* A batch past the last acknowledged one is there entirely or not at all. */
	for (uint32_t i = last + 1;; i++) {
		unsigned char k8[8];
		char *val = NULL;
		size_t len;
		int p = get32(st, STORE_CF_PROCESSES, i, NULL);
		int e;

		store_key_be64(k8, i);
		e = store_get(st, STORE_CF_PROCESS_EVENTS, k8, 8, &val, &len, &err);
		free(val);
		EXPECT_EQ(p, e) TH_LOG("batch %u torn", i);
		if (p != 1)
			break;
	}
	TH_LOG("killed after %u acknowledged batches", last + 1);
	store_close(st);
}

/* ---- full disk ---- */

static int make_file(const char *path, size_t size)
{
	static char buf[64 << 10];
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	if (fd < 0)
		return -1;
	memset(buf, 0xa5, sizeof(buf));
	for (size_t done = 0; done < size; done += sizeof(buf))
		if (write(fd, buf, sizeof(buf)) != sizeof(buf)) {
			close(fd);
			return -1;
		}
	return close(fd);
}

/*
 * Fills the file system under @dir (through the store) until store_write()
 * fails, frees @ballast, and checks that writing resumes and that every
 * acknowledged row survives a reopen. @reason is what the error must say.
 * With @disk_full (a real full file system, not a file size limit, which a
 * fresh WAL file escapes), later writes must keep failing until space is freed.
 */
static void fill_free_and_check(struct __test_metadata *_metadata, const char *dir,
				const char *ballast, const char *reason,
				void (*free_space)(const char *), bool disk_full)
{
	struct store_batch *b = store_batch_new();
	static char val[8192];
	struct store *st;
	char *err = NULL;
	long acked = -1, i;
	bool resumed = false;

	ASSERT_EQ(0, store_open(dir, &st, &err)) TH_LOG("%s", err);
	memset(val, 'v', sizeof(val));
	for (i = 0; i < 100000; i++) {
		unsigned char k[4];

		key32(k, i);
		snprintf(val, 32, "row %ld", i);
		store_batch_clear(b);
		store_batch_put(b, STORE_CF_PROCESSES, k, 4, val, sizeof(val));
		if (store_write(st, b, &err))
			break;
		acked = i;
	}
	ASSERT_LT(i, 100000) TH_LOG("the disk never filled up");
	ASSERT_LT(0, acked);
	ASSERT_NE(NULL, err);
	TH_LOG("full: %s", err);
	EXPECT_NE(NULL, strstr(err, reason)) TH_LOG("%s", err);
	free(err);
	err = NULL;

	/* Reads keep working on a full disk; writes keep failing, saying why. */
	EXPECT_EQ(1, get32(st, STORE_CF_PROCESSES, 0, NULL));
	store_batch_clear(b);
	if (disk_full) {
		store_batch_put(b, STORE_CF_META, "k", 1, "v", 1);
		EXPECT_EQ(-1, store_write(st, b, &err));
		ASSERT_NE(NULL, err);
		TH_LOG("still full: %s", err);
		EXPECT_NE(NULL, strstr(err, reason)) TH_LOG("%s", err);
		free(err);
		err = NULL;
	}

	free_space(ballast);
	/* Writing resumes (the store reopens itself; allow a few retries). */
	for (int t = 0; t < 50 && !resumed; t++) {
		resumed = put32(st, STORE_CF_META, 1, "after") == 0;
		if (!resumed)
			usleep(100 * 1000);
	}
	ASSERT_TRUE(resumed);
	ASSERT_EQ(0, put32(st, STORE_CF_META, 2, "after again"));
	store_close(st);

	ASSERT_EQ(0, store_open(dir, &st, &err)) TH_LOG("%s", err);
	long missing = 0;

	for (i = 0; i <= acked; i++) {
		char *v = NULL;
		char want[32];

		snprintf(want, sizeof(want), "row %ld", i);
		if (get32(st, STORE_CF_PROCESSES, i, &v) != 1 || strcmp(v, want))
			missing++;
		free(v);
	}
	EXPECT_EQ(0, missing) TH_LOG("of %ld acknowledged rows", acked + 1);
	EXPECT_EQ(1, get32(st, STORE_CF_META, 1, NULL));
	EXPECT_EQ(1, get32(st, STORE_CF_META, 2, NULL));
	store_close(st);
	store_batch_free(b);
}

static void unlink_ballast(const char *path)
{
	unlink(path);
}

static void raise_fsize_limit(const char *unused)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	setrlimit(RLIMIT_FSIZE, &rl);
}

TEST_F_TIMEOUT(slow, full_disk_fails_writes_clearly_and_recovers, 300)
{
	const char *top = self->dir;
	char db[PATH_MAX], ballast[PATH_MAX];

	snprintf(db, sizeof(db), "%s/db", top);
	snprintf(ballast, sizeof(ballast), "%s/ballast", top);

	/* A private mount namespace: the tmpfs vanishes with this process. */
	/* DBOS_TEST_NO_MOUNT=1 exercises the fallback where mounting is allowed. */
	if (!getenv("DBOS_TEST_NO_MOUNT") && unshare(CLONE_NEWNS) == 0 &&
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0 &&
	    mount("tmpfs", top, "tmpfs", 0, "size=4m") == 0) {
		TH_LOG("4 MiB tmpfs with a 1 MiB ballast file");
		ASSERT_EQ(0, make_file(ballast, 1 << 20));
		fill_free_and_check(_metadata, db, ballast, "No space left on device",
				    unlink_ballast, true);
	} else {
		/* No mounting here: a file size limit stands in for the disk. */
		struct rlimit rl = { 2 << 20, RLIM_INFINITY };

		TH_LOG("no tmpfs (cannot mount, or DBOS_TEST_NO_MOUNT): using RLIMIT_FSIZE");
		signal(SIGXFSZ, SIG_IGN);
		ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &rl));
		fill_free_and_check(_metadata, db, NULL, "File too large",
				    raise_fsize_limit, false);
	}
}

/* ---- row codec ---- */

static void expect_same(struct __test_metadata *_metadata,
			const struct row_value *a, const struct row_value *b, int n)
{
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(a[i].type, b[i].type) TH_LOG("column %d", i);
		if (a[i].type == ROW_INT)
			EXPECT_EQ(a[i].i, b[i].i) TH_LOG("column %d", i);
		if (a[i].type == ROW_TEXT) {
			ASSERT_EQ(a[i].len, b[i].len) TH_LOG("column %d", i);
			EXPECT_EQ(0, memcmp(a[i].s, b[i].s, a[i].len)) TH_LOG("column %d", i);
		}
	}
}

TEST(row_round_trip)
{
	static const char nuls[] = "a\0b\0\0c";
	const struct row_value in[] = {
		row_int(0), row_int(1), row_int(-1), row_int(63), row_int(-64),
		row_int(64), row_int(INT64_MAX), row_int(INT64_MIN),
		row_int(INT64_MIN + 1), row_int(1234567890123LL),
		row_text("", 0), row_text(NULL, 0), row_null(),
		row_text("bash", 4), row_text(nuls, sizeof(nuls)),
		row_null(),
	};
	int n = sizeof(in) / sizeof(in[0]);
	struct row_value out[sizeof(in) / sizeof(in[0])];
	char buf[512];
	size_t len = row_encode(in, n, buf, sizeof(buf));

	ASSERT_LT(len, sizeof(buf));
	ASSERT_EQ(0, row_decode(buf, len, out, n));
	expect_same(_metadata, in, out, n);
	/* Text points into the buffer. */
	EXPECT_TRUE(out[14].s >= buf && out[14].s + out[14].len <= buf + len);

	/* Compact: a small int takes two bytes, a NULL one. */
	struct row_value small[] = { row_int(5), row_null() };

	EXPECT_EQ(1 + 2 + 1, row_encode(small, 2, buf, sizeof(buf)));
	EXPECT_EQ(1, row_encode(NULL, 0, buf, sizeof(buf)));
}

TEST(row_encode_reports_size_and_respects_capacity)
{
	const struct row_value in[] = { row_int(-5), row_text("hello world", 11), row_null() };
	char buf[64];
	size_t need = row_encode(in, 3, NULL, 0);

	ASSERT_LT(10, need);
	memset(buf, 0x5a, sizeof(buf));
	EXPECT_EQ(need, row_encode(in, 3, buf, need - 1));
	for (size_t i = need - 1; i < sizeof(buf); i++) {
		ASSERT_EQ(0x5a, (unsigned char)buf[i]) TH_LOG("wrote byte %zu", i);
	}
	EXPECT_EQ(need, row_encode(in, 3, buf, need));
	struct row_value out[3];

	EXPECT_EQ(0, row_decode(buf, need, out, 3));
	expect_same(_metadata, in, out, 3);
}

TEST(row_schema_evolution)
{
	const struct row_value in[] = { row_int(1), row_text("x", 1), row_int(3) };
	struct row_value out[5];
	char buf[64];
	size_t len = row_encode(in, 3, buf, sizeof(buf));

	/* A newer reader: the columns the writer did not know are NULL. */
	ASSERT_EQ(0, row_decode(buf, len, out, 5));
	expect_same(_metadata, in, out, 3);
	EXPECT_EQ(ROW_NULL, out[3].type);
	EXPECT_EQ(ROW_NULL, out[4].type);
	/* An older reader: extra columns are ignored. */
	ASSERT_EQ(0, row_decode(buf, len, out, 2));
	expect_same(_metadata, in, out, 2);
	/* A row of no columns decodes as all NULL. */
	ASSERT_EQ(0, row_decode("\x01", 1, out, 3));
	EXPECT_EQ(ROW_NULL, out[0].type);
}

TEST(row_malformed_is_refused)
{
	static const struct { const char *buf; size_t len; const char *what; } bad[] = {
		{ "", 0, "empty" },
		{ "\x02\x00", 2, "unknown version" },
		{ "\x00\x00", 2, "version 0" },
		{ "\x01\x07", 2, "unknown tag" },
		{ "\x01\x01", 2, "int without varint" },
		{ "\x01\x01\x80", 3, "truncated varint" },
		{ "\x01\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 13, "11-byte varint" },
		{ "\x01\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 12, "varint over 64 bits" },
		{ "\x01\x02", 2, "text without length" },
		{ "\x01\x02\x05" "abcd", 7, "text past the end" },
		{ "\x01\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, "huge text length" },
	};
	struct row_value out[4];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* An exact-size heap copy, so that valgrind sees any overread. */
		char *copy = malloc(bad[i].len ? bad[i].len : 1);

		memcpy(copy, bad[i].buf, bad[i].len);
		EXPECT_EQ(-1, row_decode(copy, bad[i].len, out, 4)) TH_LOG("%s", bad[i].what);
		free(copy);
	}
	/* The largest valid varint: INT64_MIN zigzags to UINT64_MAX. */
	struct row_value in = row_int(INT64_MIN);
	char buf[16];
	size_t len = row_encode(&in, 1, buf, sizeof(buf));

	EXPECT_EQ(12, len);
	ASSERT_EQ(0, row_decode(buf, len, out, 1));
	EXPECT_EQ(INT64_MIN, out[0].i);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Decodes an exact-size copy of @buf; a success must only point inside it. */
static void fuzz_one(struct __test_metadata *_metadata, const char *buf, size_t len)
{
	char *copy = malloc(len ? len : 1);
	struct row_value out[8];
	int r;

	memcpy(copy, buf, len);
	r = row_decode(copy, len, out, 8);
	ASSERT_TRUE(r == 0 || r == -1);
	if (r == 0) {
		for (int c = 0; c < 8; c++) {
			ASSERT_TRUE(out[c].type == ROW_NULL || out[c].type == ROW_INT ||
				    out[c].type == ROW_TEXT);
			if (out[c].type == ROW_TEXT) {
				ASSERT_TRUE(out[c].s >= copy);
				ASSERT_TRUE(out[c].len <= len);
				ASSERT_TRUE(out[c].s + out[c].len <= copy + len);
				/* touch it: valgrind flags anything outside */
				volatile char sink = 0;

				for (size_t k = 0; k < out[c].len; k++)
					sink ^= out[c].s[k];
				(void)sink;
			}
		}
	}
	free(copy);
}

TEST(row_fuzz_never_reads_out_of_bounds)
{
	char buf[256], enc[256];
	int valid = 0;

	for (int iter = 0; iter < 4000; iter++) {
		/* Random bytes, usually with a valid version byte. */
		size_t len = rng() % 40;

		for (size_t i = 0; i < len; i++)
			buf[i] = (char)rng();
		if (len && rng() % 4)
			buf[0] = 1;
		fuzz_one(_metadata, buf, len);

		/* A valid encoding, truncated and with a flipped bit. */
		struct row_value vals[6];
		char text[6][24];

		for (int c = 0; c < 6; c++) {
			switch (rng() % 3) {
			case 0:
				vals[c] = row_null();
				break;
			case 1:
				vals[c] = row_int((int64_t)rng() >> (rng() % 64));
				break;
			default: {
				size_t tl = rng() % sizeof(text[c]);

				for (size_t k = 0; k < tl; k++)
					text[c][k] = (char)rng();
				vals[c] = row_text(text[c], tl);
			}
			}
		}
		size_t elen = row_encode(vals, 6, enc, sizeof(enc));

		ASSERT_LE(elen, sizeof(enc));
		struct row_value out[6];

		ASSERT_EQ(0, row_decode(enc, elen, out, 6));
		expect_same(_metadata, vals, out, 6);
		valid++;
		fuzz_one(_metadata, enc, rng() % (elen + 1));
		memcpy(buf, enc, elen);
		buf[rng() % elen] ^= (char)(1 << (rng() % 8));
		fuzz_one(_metadata, buf, elen);
	}
	EXPECT_EQ(4000, valid);
}

TEST_HARNESS_MAIN
