// SPDX-License-Identifier: GPL-2.0
/* store.c - dbosd's storage layer over the RocksDB C API (see store.h for the contract). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <rocksdb/c.h>

#include "dbserver/store/chunk.h"
#include "dbserver/store/store.h"

/*
 * Tuning. The workload is a small, hot "live" table (processes: point reads
 * and full scans, rewritten constantly), an append-mostly history
 * (process_events: sequential keys, range-deleted from the front by
 * retention, read newest-first) and a tiny metadata family. Memory is bounded
 * by one write buffer manager shared by every family (memtables) and one LRU
 * block cache (data, index and filter blocks).
 */
#define MEMTABLE_TOTAL		(64u << 20)	/* all memtables together */
#define BLOCK_CACHE_SIZE	(32u << 20)
#define MAX_TOTAL_WAL		(128u << 20)	/* forces flushes of idle families */
#define MAX_OPEN_FILES		512
#define BACKGROUND_THREADS	2
#define BLOOM_BITS_PER_KEY	10.0
#define REOPEN_INTERVAL_NS	500000000LL	/* between attempts after a write error */
#define RESERVE_MAX		(128ull << 20)	/* free space kept (less on small file systems) */

/* Per-family memtable budget for optimize_level_style_compaction (write
 * buffer = budget / 4); MEMTABLE_TOTAL caps the sum at run time. */
static const struct {
	const char *name;
	uint64_t memtable_budget;
	bool point_lookups;	/* bloom filter + hash index on data blocks */
	bool chunked;		/* history chunks (chunk.h) */
} cf_conf[STORE_CF__COUNT] = {
	[STORE_CF_META]           = { "meta", 4u << 20, true, false },
	[STORE_CF_PROCESSES]      = { "processes", 16u << 20, true, false },
	[STORE_CF_PROCESS_EVENTS] = { "process_events", 32u << 20, false, true },
	[STORE_CF_FDS]            = { "fds", 16u << 20, true, false },
	[STORE_CF_SOCKETS]        = { "sockets", 4u << 20, true, false },
	[STORE_CF_FILE_EVENTS]    = { "file_events", 32u << 20, false, true },
	[STORE_CF_SOCKET_EVENTS]  = { "socket_events", 8u << 20, false, true },
	[STORE_CF_POLICY_VERSIONS]  = { "policy_versions", 1u << 20, true, false },
	[STORE_CF_POLICY_RULES]     = { "policy_rules", 1u << 20, false, false },
	/* one key per row: refused attempts are deleted one by one (decisions.c) */
	[STORE_CF_POLICY_DECISIONS] = { "policy_decisions", 8u << 20, false, false },
	[STORE_CF_SCHED_DECISIONS] = { "sched_decisions", 8u << 20, false, true },
	[STORE_CF_CHANGES]        = { "changes", 32u << 20, false, false },
	[STORE_CF_CHECKPOINTS]    = { "checkpoints", 8u << 20, false, false },
};

/*
 * Recovering from a failed write. RocksDB stops accepting writes after a WAL
 * or flush I/O error (a full disk, typically): the database stays readable
 * but every later write returns the same error, and the C API has no
 * DB::Resume(). So the store marks itself @stopped, keeps serving reads, and
 * on a later store_write() (at most every REOPEN_INTERVAL_NS, and only once
 * the file system has some room again) closes and reopens the database. The
 * reopen replays the WAL up to the last complete record: every acknowledged
 * write is kept, the failed one was never acknowledged. Reopening needs the
 * store to be idle, so every operation counts itself in @users (iterators for
 * their whole life); a reopen that finds a user gives up until the next try.
 */
struct store {
	char *dir;
	bool lz4;
	atomic_int users;		/* operations in flight + live iterators */
	atomic_bool reopening;		/* newcomers wait on @cond */
	atomic_bool stopped;		/* a write failed with an I/O error */
	pthread_mutex_t mu;		/* serialises reopens; protects the fields below */
	pthread_cond_t cond;
	char *stop_reason;		/* the RocksDB error that stopped writes */
	atomic_bool faulty;		/* @fault is set (checked without the lock) */
	char *fault;			/* store_fail_writes(): every write fails with it */
	int64_t next_reopen_ns;
	/* NULL only when a reopen failed: every operation fails until one succeeds. */
	rocksdb_t *db;
	rocksdb_column_family_handle_t *cf[STORE_CF__COUNT];
	/* Families that exist on disk but this build does not know (a newer
	 * dbosd wrote them): RocksDB requires opening them, we never touch them. */
	rocksdb_column_family_handle_t **other;
	int nother;
	rocksdb_writeoptions_t *wopts;
	rocksdb_writeoptions_t *wopts_sync;	/* store_write_sync: the WAL fsynced */
	rocksdb_readoptions_t *ropts;
};

/*
 * A batch records its operations in its own buffer rather than in a
 * rocksdb_writebatch_t, because RocksDB batches name column families by
 * handles that belong to one open database, and a store_batch is built before
 * (and independently of) any store. store_write() translates it.
 */
enum batch_op { OP_PUT, OP_DELETE, OP_DELETE_RANGE };

struct op_hdr {
	unsigned char op;
	unsigned char cf;
	size_t alen, blen;	/* key + value, key, or begin + end */
};

struct store_batch {
	char *buf;
	size_t len, cap;
	size_t count;
	int error;		/* an append failed (ENOMEM, EINVAL): store_write() refuses */
	rocksdb_writebatch_t *wb;	/* scratch, rebuilt by every store_write() */
};

struct store_iter {
	struct store *st;
	rocksdb_iterator_t *it;		/* NULL when the store was unavailable */
	char *err;			/* ... and why */
};

char *store_errorf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Sets *@err from a RocksDB error string (which it frees); returns -1. */
static int fail(char **err, const char *what, char *rerr)
{
	if (err)
		*err = store_errorf("%s: %s", what, rerr ? rerr : "unknown RocksDB error");
	rocksdb_free(rerr);
	return -1;
}

static rocksdb_options_t *cf_options(enum store_cf cf, rocksdb_cache_t *cache,
				     bool lz4)
{
	/* none for L0/L1 (short-lived, hot), lz4 below: what
	 * optimize_level_style_compaction picks, minus its snappy fallback. */
	int levels[7];
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();

	rocksdb_options_optimize_level_style_compaction(o, cf_conf[cf].memtable_budget);
	for (int i = 0; i < 7; i++)
		levels[i] = (lz4 && i >= 2) ? rocksdb_lz4_compression : rocksdb_no_compression;
	rocksdb_options_set_compression_per_level(o, levels, 7);
	rocksdb_options_set_compression(o, lz4 ? rocksdb_lz4_compression
					       : rocksdb_no_compression);

	rocksdb_block_based_options_set_block_cache(t, cache);
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 1);
	rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(t, 1);
	rocksdb_block_based_options_set_format_version(t, 5);
	rocksdb_block_based_options_set_block_size(t, 16 << 10);
	if (cf_conf[cf].point_lookups) {
		rocksdb_block_based_options_set_filter_policy(
			t, rocksdb_filterpolicy_create_bloom_full(BLOOM_BITS_PER_KEY));
		rocksdb_block_based_options_set_whole_key_filtering(t, 1);
		rocksdb_block_based_options_set_data_block_index_type(
			t, rocksdb_block_based_table_data_block_index_type_binary_search_and_hash);
		rocksdb_options_set_memtable_whole_key_filtering(o, 1);
		rocksdb_options_set_memtable_prefix_bloom_size_ratio(o, 0.02);
	}
	rocksdb_options_set_block_based_table_factory(o, t);
	rocksdb_block_based_options_destroy(t);
	return o;
}

static rocksdb_options_t *db_options(void)
{
	rocksdb_options_t *o = rocksdb_options_create();

	rocksdb_options_set_create_if_missing(o, 1);
	rocksdb_options_set_create_missing_column_families(o, 1);
	rocksdb_options_increase_parallelism(o, BACKGROUND_THREADS);
	rocksdb_options_set_max_background_jobs(o, BACKGROUND_THREADS);
	rocksdb_options_set_db_write_buffer_size(o, MEMTABLE_TOTAL);
	rocksdb_options_set_max_total_wal_size(o, MAX_TOTAL_WAL);
	rocksdb_options_set_max_open_files(o, MAX_OPEN_FILES);
	/*
	 * Open table files on the opening thread: the default (16) starts 16
	 * threads per column family at every open, ~190 in all, which was most
	 * of an open's time (0.13 s on the host, seconds under TCG).
	 */
	rocksdb_options_set_max_file_opening_threads(o, 1);
	rocksdb_options_set_keep_log_file_num(o, 4);
	rocksdb_options_set_max_log_file_size(o, 4u << 20);
	rocksdb_options_set_info_log_level(o, 2);	/* WARN */
	return o;
}

/* Reopening after a full disk must not need room for flushing the replayed WAL. */
static rocksdb_options_t *db_options_recovery(rocksdb_options_t *base)
{
	rocksdb_options_t *o = rocksdb_options_create();
	char *err = NULL;

	rocksdb_get_options_from_string(base, "avoid_flush_during_recovery=true", o, &err);
	if (err) {
		rocksdb_free(err);
		rocksdb_options_destroy(o);
		return base;
	}
	rocksdb_options_destroy(base);
	return o;
}

static bool known_cf(const char *name)
{
	if (!strcmp(name, "default"))
		return true;
	for (int i = 0; i < STORE_CF__COUNT; i++)
		if (!strcmp(name, cf_conf[i].name))
			return true;
	return false;
}

/* One attempt at opening @dir; @lz4 selects the compression of deep levels. */
static int open_db(struct store *st, const char *dir, bool lz4, char **rerr)
{
	rocksdb_options_t *dbo = db_options_recovery(db_options());
	rocksdb_cache_t *cache = rocksdb_cache_create_lru(BLOCK_CACHE_SIZE);
	char **existing = NULL;
	size_t nexisting = 0;
	char *lerr = NULL;
	int n = 0, ret = -1;

	/* Families on disk that we do not know must be opened too. */
	existing = rocksdb_list_column_families(dbo, dir, &nexisting, &lerr);
	rocksdb_free(lerr);	/* a new database has none: not an error */

	int total = 1 + STORE_CF__COUNT + (int)nexisting;
	const char **names = calloc(total, sizeof(*names));
	const rocksdb_options_t **opts = calloc(total, sizeof(*opts));
	rocksdb_options_t **owned = calloc(total, sizeof(*owned));
	rocksdb_column_family_handle_t **handles = calloc(total, sizeof(*handles));

	if (!names || !opts || !owned || !handles) {
		*rerr = strdup("out of memory");
		goto out;
	}
	/* "default" (unused) and unknown families get the small meta settings,
	 * so that they share the block cache and stay within the budget. */
	names[n] = "default";
	opts[n] = owned[n] = cf_options(STORE_CF_META, cache, lz4);
	n++;
	for (int i = 0; i < STORE_CF__COUNT; i++, n++) {
		names[n] = cf_conf[i].name;
		opts[n] = owned[n] = cf_options(i, cache, lz4);
	}
	for (size_t i = 0; i < nexisting; i++) {
		if (known_cf(existing[i]))
			continue;
		names[n] = existing[i];
		opts[n] = owned[n] = cf_options(STORE_CF_META, cache, lz4);
		n++;
	}

	st->db = rocksdb_open_column_families(dbo, dir, n, names, opts, handles, rerr);
	if (!st->db)
		goto out;
	rocksdb_column_family_handle_destroy(handles[0]);	/* "default": unused */
	for (int i = 0; i < STORE_CF__COUNT; i++)
		st->cf[i] = handles[1 + i];
	st->nother = n - 1 - STORE_CF__COUNT;
	if (st->nother) {
		st->other = malloc(st->nother * sizeof(*st->other));
		if (!st->other) {
			/* handles are released with the database in store_close */
			st->nother = 0;
		} else {
			memcpy(st->other, handles + 1 + STORE_CF__COUNT,
			       st->nother * sizeof(*st->other));
		}
	}
	ret = 0;
out:
	for (int i = 0; owned && i < n; i++)
		rocksdb_options_destroy(owned[i]);
	free(names);
	free(opts);
	free(owned);
	free(handles);
	if (existing)
		rocksdb_list_column_families_destroy(existing, nexisting);
	rocksdb_cache_destroy(cache);	/* the table factories keep it alive */
	rocksdb_options_destroy(dbo);
	return ret;
}

/* Opens st->dir into st->db and st->cf[]; 0, or -1 with a RocksDB message. */
static int open_store(struct store *st, char **rerr)
{
	if (!open_db(st, st->dir, st->lz4, rerr))
		return 0;
	/* A RocksDB built without LZ4 refuses the option: retry without. */
	if (st->lz4 && *rerr && strstr(*rerr, "ompression")) {
		rocksdb_free(*rerr);
		*rerr = NULL;
		st->lz4 = false;
		return open_db(st, st->dir, false, rerr);
	}
	return -1;
}

static void close_db(struct store *st)
{
	if (!st->db)
		return;
	for (int i = 0; i < STORE_CF__COUNT; i++)
		rocksdb_column_family_handle_destroy(st->cf[i]);
	for (int i = 0; i < st->nother; i++)
		rocksdb_column_family_handle_destroy(st->other[i]);
	free(st->other);
	st->other = NULL;
	st->nother = 0;
	rocksdb_close(st->db);
	st->db = NULL;
}

/* ---- the store's format (store.h) ---- */

#define META_FORMAT		"store_format"	/* be32 STORE_FORMAT */
#define MIGRATE_BATCH_OPS	2048		/* batch operations per commit while converting */

bool store_cf_chunked(enum store_cf cf)
{
	return cf_conf[cf].chunked;
}

/* Adds chunk @c (its rows stored one per key until now) to @b: the rows' keys go, the chunk takes the first. */
static void migrate_put(struct store_batch *b, enum store_cf cf, const struct chunk_buf *c)
{
	unsigned char lo[8], hi[8];

	store_key_be64(lo, c->key);
	store_key_be64(hi, c->last);
	if (c->last != c->key) {
		store_batch_delete_range(b, cf, lo, sizeof(lo), hi, sizeof(hi));
		store_batch_delete(b, cf, hi, sizeof(hi));
	}
	store_batch_put(b, cf, lo, sizeof(lo), c->b, c->len);
}

/*
 * Rewrites the rows of chunked family @cf stored one per key (format 1) as
 * chunks of consecutive rows; values that are chunks already (an earlier,
 * interrupted conversion) stay, and end the chunk being built, so chunks
 * never overlap. 0, or -1 and *@err.
 */
static int migrate_cf(struct store *st, enum store_cf cf, char **err)
{
	struct store_iter *it = store_iter_new(st, cf);
	struct store_batch *b = store_batch_new();
	struct chunk_buf c = { 0 };
	int ret = -1;

	if (!it || !b)
		goto nomem;
	for (store_iter_seek_first(it);; store_iter_next(it)) {
		bool valid = store_iter_valid(it);
		size_t klen = 0, vlen = 0;
		const char *k = valid ? store_iter_key(it, &klen) : NULL;
		const char *v = valid ? store_iter_value(it, &vlen) : NULL;
		bool row = valid && klen == 8 && !(vlen && (unsigned char)v[0] == CHUNK_TAG);

		if (c.count && (!row || c.count == CHUNK_MAX_ROWS || c.len + vlen > CHUNK_MAX_BYTES)) {
			migrate_put(b, cf, &c);
			c.count = 0;
			if (store_batch_count(b) >= MIGRATE_BATCH_OPS) {
				if (store_write(st, b, err))
					goto out;
				store_batch_clear(b);
			}
		}
		if (!valid)
			break;
		if (!row)
			continue;
		if ((!c.count && chunk_start(&c, store_key_get(k, klen))) ||
		    chunk_append(&c, store_key_get(k, klen), v, vlen))
			goto nomem;
	}
	if (store_iter_error(it, err) || store_write(st, b, err))
		goto out;
	ret = 0;
	goto out;
nomem:
	*err = store_errorf("store_open %s: converting %s to chunks: %s", st->dir, cf_conf[cf].name,
		      strerror(ENOMEM));
out:
	chunk_buf_free(&c);
	store_batch_free(b);
	store_iter_free(it);
	return ret;
}

/* Checks the format recorded in META, converting a format 1 store (store.h). 0, or -1 and *@err. */
static int check_format(struct store *st, char **err)
{
	struct store_batch *b;
	unsigned char v[4];
	char *val = NULL;
	size_t vlen = 0;
	int r = store_get(st, STORE_CF_META, META_FORMAT, strlen(META_FORMAT), &val, &vlen, err);

	if (r < 0)
		return -1;
	if (r) {
		uint64_t format = vlen == 4 ? store_key_get(val, 4) : 0;

		free(val);
		if (format == STORE_FORMAT)
			return 0;
		if (format == 2)
			goto record;	/* 2 -> 3: only new, empty families (changes.h) */
		*err = store_errorf("store_open %s: the store has format %" PRIu64 " and this dbosd reads "
			      "format %d (it was written by a newer dbosd): run that one, or move "
			      "the directory away to start an empty store", st->dir, format,
			      STORE_FORMAT);
		return -1;
	}
	for (int cf = 0; cf < STORE_CF__COUNT; cf++)
		if (cf_conf[cf].chunked && migrate_cf(st, cf, err))
			return -1;
record:
	b = store_batch_new();
	if (!b) {
		*err = store_errorf("store_open %s: %s", st->dir, strerror(ENOMEM));
		return -1;
	}
	store_key_be32(v, STORE_FORMAT);
	store_batch_put(b, STORE_CF_META, META_FORMAT, strlen(META_FORMAT), v, sizeof(v));
	r = store_write_sync(st, b, err);
	store_batch_free(b);
	return r;
}

int store_open(const char *dir, struct store **out, char **err)
{
	struct store *st = calloc(1, sizeof(*st));
	char *rerr = NULL;

	if (!st || !(st->dir = strdup(dir))) {
		free(st);
		*err = store_errorf("store_open %s: %s", dir, strerror(ENOMEM));
		return -1;
	}
	st->lz4 = true;
	if (open_store(st, &rerr)) {
		*err = store_errorf("store_open %s: %s", dir, rerr ? rerr : "failed");
		rocksdb_free(rerr);
		free(st->dir);
		free(st);
		return -1;
	}
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cond, NULL);
	st->wopts = rocksdb_writeoptions_create();	/* WAL on, no fsync */
	st->wopts_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(st->wopts_sync, 1);
	st->ropts = rocksdb_readoptions_create();
	if (check_format(st, err)) {
		store_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	close_db(st);
	rocksdb_writeoptions_destroy(st->wopts);
	rocksdb_writeoptions_destroy(st->wopts_sync);
	rocksdb_readoptions_destroy(st->ropts);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cond);
	free(st->stop_reason);
	free(st->fault);
	free(st->dir);
	free(st);
}

/* Counts the caller as a user of st->db; waits while a reopen is under way. */
static void enter(struct store *st)
{
	for (;;) {
		atomic_fetch_add(&st->users, 1);
		if (!atomic_load(&st->reopening))
			return;
		atomic_fetch_sub(&st->users, 1);
		pthread_mutex_lock(&st->mu);
		while (atomic_load(&st->reopening))
			pthread_cond_wait(&st->cond, &st->mu);
		pthread_mutex_unlock(&st->mu);
	}
}

static void leave(struct store *st)
{
	atomic_fetch_sub(&st->users, 1);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Free bytes the store keeps in reserve: RESERVE_MAX (enough to flush every
 * memtable), or 1/16 of a smaller file system. Writes stop before RocksDB
 * itself runs into ENOSPC, whose background error paths are less tidy (an
 * assertion in its WAL writer was seen firing), and resume once it is free.
 */
static bool has_room(const char *dir, uint64_t *avail, uint64_t *want)
{
	struct statvfs sv;

	if (statvfs(dir, &sv))
		return true;	/* cannot tell: let RocksDB decide */
	*avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	*want = (uint64_t)sv.f_blocks * sv.f_frsize / 16;
	if (*want > RESERVE_MAX)
		*want = RESERVE_MAX;
	return *avail >= *want;
}

/*
 * Called by store_write() outside enter()/leave() once writes are stopped:
 * 0 when writes work again, -1 with *@err saying why not (yet).
 */
static int reopen(struct store *st, char **err)
{
	uint64_t avail = 0, want = 0;
	char *rerr = NULL;
	int ret = -1;

	pthread_mutex_lock(&st->mu);
	if (!atomic_load(&st->stopped)) {
		pthread_mutex_unlock(&st->mu);
		return 0;	/* another writer got there first */
	}
	if (!has_room(st->dir, &avail, &want)) {
		*err = store_errorf("store_write: writes stopped after %s (%" PRIu64
			      " bytes free; they resume once %" PRIu64 " are)",
			      st->stop_reason, avail, want);
		goto out;
	}
	if (now_ns() < st->next_reopen_ns) {
		*err = store_errorf("store_write: writes stopped after %s (reopening "
			      "the store shortly)", st->stop_reason);
		goto out;
	}
	st->next_reopen_ns = now_ns() + REOPEN_INTERVAL_NS;
	atomic_store(&st->reopening, true);
	if (atomic_load(&st->users)) {
		*err = store_errorf("store_write: writes stopped after %s (reopen "
			      "postponed: the store is in use)", st->stop_reason);
		goto done;
	}
	close_db(st);
	if (open_store(st, &rerr)) {
		*err = store_errorf("store_write: writes stopped after %s; reopen "
			      "failed: %s", st->stop_reason, rerr ? rerr : "?");
		rocksdb_free(rerr);
		goto done;
	}
	free(st->stop_reason);
	st->stop_reason = NULL;
	atomic_store(&st->stopped, false);
	ret = 0;
done:
	atomic_store(&st->reopening, false);
	pthread_cond_broadcast(&st->cond);
out:
	pthread_mutex_unlock(&st->mu);
	return ret;
}

/* Records that RocksDB stopped writes because of @rerr (an I/O error). */
static void stop_writes(struct store *st, const char *rerr)
{
	pthread_mutex_lock(&st->mu);
	if (!atomic_load(&st->stopped)) {
		free(st->stop_reason);
		st->stop_reason = strdup(rerr);
		if (!st->stop_reason)
			st->stop_reason = strdup("an I/O error");
		st->next_reopen_ns = 0;
		atomic_store(&st->stopped, true);
	}
	pthread_mutex_unlock(&st->mu);
}

static int unavailable(struct store *st, char **err, const char *what)
{
	pthread_mutex_lock(&st->mu);
	*err = store_errorf("%s: store unavailable since %s", what,
		      st->stop_reason ? st->stop_reason : "a failed reopen");
	pthread_mutex_unlock(&st->mu);
	return -1;
}

/* ---- batches ---- */

struct store_batch *store_batch_new(void)
{
	return calloc(1, sizeof(struct store_batch));
}

static void batch_append(struct store_batch *b, enum batch_op op,
			 enum store_cf cf, const void *a, size_t alen,
			 const void *c, size_t clen)
{
	struct op_hdr h = { .op = op, .cf = cf, .alen = alen, .blen = clen };
	size_t need = sizeof(h) + alen + clen;

	if (b->error)
		return;
	if ((unsigned)cf >= STORE_CF__COUNT) {
		b->error = EINVAL;
		return;
	}
	if (b->cap - b->len < need) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap - b->len < need)
			cap *= 2;
		char *nb = realloc(b->buf, cap);

		if (!nb) {
			b->error = ENOMEM;
			return;
		}
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, &h, sizeof(h));
	if (alen)
		memcpy(b->buf + b->len + sizeof(h), a, alen);
	if (clen)
		memcpy(b->buf + b->len + sizeof(h) + alen, c, clen);
	b->len += need;
	b->count++;
}

void store_batch_put(struct store_batch *b, enum store_cf cf, const void *key,
		     size_t klen, const void *val, size_t vlen)
{
	batch_append(b, OP_PUT, cf, key, klen, val, vlen);
}

void store_batch_delete(struct store_batch *b, enum store_cf cf,
			const void *key, size_t klen)
{
	batch_append(b, OP_DELETE, cf, key, klen, NULL, 0);
}

void store_batch_delete_range(struct store_batch *b, enum store_cf cf,
			      const void *begin, size_t blen, const void *end,
			      size_t elen)
{
	batch_append(b, OP_DELETE_RANGE, cf, begin, blen, end, elen);
}

size_t store_batch_count(const struct store_batch *b)
{
	return b->count;
}

void store_batch_clear(struct store_batch *b)
{
	b->len = 0;
	b->count = 0;
	b->error = 0;
}

void store_batch_free(struct store_batch *b)
{
	if (!b)
		return;
	if (b->wb)
		rocksdb_writebatch_destroy(b->wb);
	free(b->buf);
	free(b);
}

/* Fills the batch's scratch rocksdb_writebatch_t for @st's column families. */
static void build(struct store *st, struct store_batch *b)
{
	if (!b->wb)
		b->wb = rocksdb_writebatch_create();
	else
		rocksdb_writebatch_clear(b->wb);

	for (size_t off = 0; off < b->len;) {
		struct op_hdr h;

		memcpy(&h, b->buf + off, sizeof(h));
		const char *a = b->buf + off + sizeof(h);
		const char *c = a + h.alen;
		rocksdb_column_family_handle_t *cf = st->cf[h.cf];

		switch (h.op) {
		case OP_PUT:
			rocksdb_writebatch_put_cf(b->wb, cf, a, h.alen, c, h.blen);
			break;
		case OP_DELETE:
			rocksdb_writebatch_delete_cf(b->wb, cf, a, h.alen);
			break;
		case OP_DELETE_RANGE:
			rocksdb_writebatch_delete_range_cf(b->wb, cf, a, h.alen, c, h.blen);
			break;
		}
		off += sizeof(h) + h.alen + h.blen;
	}
}

static int write_batch(struct store *st, struct store_batch *b, bool sync, char **err)
{
	uint64_t avail = 0, want = 0;
	char *rerr = NULL;

	if (b->error) {
		*err = store_errorf("store_write: batch not written: %s while building it",
			      b->error == EINVAL ? "an unknown column family"
						 : strerror(b->error));
		return -1;
	}
	if (!b->count)
		return 0;
	if (atomic_load(&st->faulty)) {
		pthread_mutex_lock(&st->mu);
		*err = store_errorf("store_write: %s", st->fault ? st->fault : "injected failure");
		pthread_mutex_unlock(&st->mu);
		return -1;
	}
	if (atomic_load(&st->stopped) && reopen(st, err))
		return -1;
	if (!has_room(st->dir, &avail, &want)) {
		char *why = store_errorf("IO error: No space left on device: %" PRIu64
				   " bytes free, below the %" PRIu64 " kept in reserve",
				   avail, want);

		stop_writes(st, why ? why : "IO error: No space left on device");
		*err = store_errorf("store_write: %s", why ? why : "No space left on device");
		free(why);
		return -1;
	}

	enter(st);
	if (!st->db) {
		leave(st);
		return unavailable(st, err, "store_write");
	}
	build(st, b);
	rocksdb_write(st->db, sync ? st->wopts_sync : st->wopts, b->wb, &rerr);
	leave(st);
	/* Do not keep a copy of a large batch's data alive between writes. */
	if (b->cap > (1u << 20)) {
		rocksdb_writebatch_destroy(b->wb);
		b->wb = NULL;
	}
	if (rerr) {
		/* With paranoid_checks (the default), an I/O error during a
		 * write stops every later write: see struct store. */
		if (!strncmp(rerr, "IO error", 8))
			stop_writes(st, rerr);
		return fail(err, "store_write", rerr);
	}
	return 0;
}

int store_write(struct store *st, struct store_batch *b, char **err)
{
	return write_batch(st, b, false, err);
}

int store_write_sync(struct store *st, struct store_batch *b, char **err)
{
	return write_batch(st, b, true, err);
}

/* ---- reads ---- */

void store_fail_writes(struct store *st, const char *msg)
{
	pthread_mutex_lock(&st->mu);
	free(st->fault);
	st->fault = msg ? strdup(msg) : NULL;
	atomic_store(&st->faulty, msg != NULL);
	pthread_mutex_unlock(&st->mu);
}

int store_get(struct store *st, enum store_cf cf, const void *key, size_t klen,
	      char **val, size_t *vlen, char **err)
{
	char *rerr = NULL;
	rocksdb_pinnableslice_t *ps;
	const char *p;
	size_t n;

	enter(st);
	if (!st->db) {
		leave(st);
		return unavailable(st, err, "store_get");
	}
	ps = rocksdb_get_pinned_cf(st->db, st->ropts, st->cf[cf], key, klen, &rerr);
	leave(st);
	if (rerr)
		return fail(err, "store_get", rerr);
	if (!ps)
		return 0;
	p = rocksdb_pinnableslice_value(ps, &n);
	/* One spare byte so that an empty value is still a non-NULL buffer. */
	*val = malloc(n + 1);
	if (!*val) {
		rocksdb_pinnableslice_destroy(ps);
		*err = store_errorf("store_get: %s", strerror(ENOMEM));
		return -1;
	}
	memcpy(*val, p, n);
	(*val)[n] = '\0';
	*vlen = n;
	rocksdb_pinnableslice_destroy(ps);
	return 1;
}

struct store_iter *store_iter_new(struct store *st, enum store_cf cf)
{
	struct store_iter *it = calloc(1, sizeof(*it));

	if (!it)
		return NULL;
	it->st = st;
	enter(st);	/* until store_iter_free() */
	if (!st->db) {
		unavailable(st, &it->err, "store iterator");
		return it;
	}
	/* The iterator pins the sequence number current at creation: that is
	 * its snapshot, with no separate rocksdb_snapshot_t to manage. Reads
	 * fill the block cache: the tables scanned most (processes) are small
	 * and hot, and the cache is bounded. */
	it->it = rocksdb_create_iterator_cf(st->db, st->ropts, st->cf[cf]);
	return it;
}

void store_iter_seek_first(struct store_iter *it)
{
	if (it->it)
		rocksdb_iter_seek_to_first(it->it);
}

void store_iter_seek_last(struct store_iter *it)
{
	if (it->it)
		rocksdb_iter_seek_to_last(it->it);
}

void store_iter_seek(struct store_iter *it, const void *key, size_t klen)
{
	if (it->it)
		rocksdb_iter_seek(it->it, key, klen);
}

void store_iter_seek_for_prev(struct store_iter *it, const void *key, size_t klen)
{
	if (it->it)
		rocksdb_iter_seek_for_prev(it->it, key, klen);
}

bool store_iter_valid(const struct store_iter *it)
{
	return it->it && rocksdb_iter_valid(it->it);
}

void store_iter_next(struct store_iter *it)
{
	rocksdb_iter_next(it->it);
}

void store_iter_prev(struct store_iter *it)
{
	rocksdb_iter_prev(it->it);
}

const char *store_iter_key(const struct store_iter *it, size_t *len)
{
	return rocksdb_iter_key(it->it, len);
}

const char *store_iter_value(const struct store_iter *it, size_t *len)
{
	return rocksdb_iter_value(it->it, len);
}

int store_iter_error(const struct store_iter *it, char **err)
{
	char *rerr = NULL;

	if (it->err) {
		*err = strdup(it->err);
		return -1;
	}
	rocksdb_iter_get_error(it->it, &rerr);
	if (rerr)
		return fail(err, "store iterator", rerr);
	return 0;
}

void store_iter_free(struct store_iter *it)
{
	if (!it)
		return;
	if (it->it)
		rocksdb_iter_destroy(it->it);
	leave(it->st);
	free(it->err);
	free(it);
}

uint64_t store_estimate_keys(struct store *st, enum store_cf cf)
{
	uint64_t n = 0;

	enter(st);
	if (!st->db ||
	    rocksdb_property_int_cf(st->db, st->cf[cf], "rocksdb.estimate-num-keys", &n))
		n = 0;
	leave(st);
	return n;
}
