/* SPDX-License-Identifier: GPL-2.0 */
/* store.h - dbosd's storage layer: RocksDB, one column family per table, WAL on. */
#ifndef DBOS_STORE_H
#define DBOS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Column families. Keys are big-endian integers so that RocksDB's bytewise
 * order is numeric order; values are rows encoded by row.h in the column order
 * that sql/schema.h declares, but in the chunked history families
 * (store_cf_chunked()), where a value is a chunk of rows (chunk.h) under the
 * seq of its first row.
 */
enum store_cf {
	STORE_CF_META,			/* "name" -> server metadata (opaque bytes) */
	STORE_CF_PROCESSES,		/* be32 pid -> processes row */
	STORE_CF_PROCESS_EVENTS,	/* be64 first seq -> chunk of process_events rows */
	STORE_CF_FDS,			/* be32 pid, be32 fd -> process_open_files row */
	STORE_CF_SOCKETS,		/* be64 inode -> sockets row */
	STORE_CF_FILE_EVENTS,		/* be64 first seq -> chunk of file_events rows */
	STORE_CF_SOCKET_EVENTS,		/* be64 first seq -> chunk of socket_events rows */
	STORE_CF_POLICY_VERSIONS,	/* be64 version -> policy_versions row */
	STORE_CF_POLICY_RULES,		/* be32 id, be32 from_version -> policy_rule_revisions row */
	STORE_CF_POLICY_DECISIONS,	/* be64 seq -> policy_decisions row */
	STORE_CF_SCHED_DECISIONS,	/* be64 first seq -> chunk of sched_decisions rows */
	STORE_CF_CHANGES,		/* u8 table, be64 entry -> the live rows a commit changed (changes.h) */
	STORE_CF_CHECKPOINTS,		/* the live tables as of a change-log entry (changes.h) */
	STORE_CF__COUNT
};

struct store;
struct store_batch;
struct store_iter;

/*
 * store_open - open (creating if needed) the database in directory @dir.
 * Returns 0 and sets *@out, or -1 and sets *@err (caller frees with free()).
 * Writes go through the WAL: a write acknowledged by store_write() survives a
 * kill -9 of the process.
 *
 * The store's format is STORE_FORMAT, recorded in META under "store_format".
 * A store of format 1 (before chunks: one key per history row, no
 * "store_format") is converted in place at open, before anything reads it:
 * the rows of each chunked family become chunks, written in atomic
 * batches of whole chunks, so that a crash during the conversion leaves
 * each row either as it was or in a chunk, and the next open finishes the
 * job; the format is recorded (synced) last. Format 3 added the change log
 * and checkpoint families (changes.h); a format 2 store only gets them,
 * empty, and the mirror's first start writes their first checkpoints. A
 * store of a later format (a newer
 * dbosd's) is refused with a message that says so.
 */
#define STORE_FORMAT	3
int store_open(const char *dir, struct store **out, char **err);
void store_close(struct store *st);

/* store_errorf - a malloc'ed message (printf's @fmt), or NULL if even that fails: the store's *@err. */
char *store_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* store_cf_chunked - whether @cf holds history chunks (chunk.h) rather than one row per key. */
bool store_cf_chunked(enum store_cf cf);

/* Batches: every put/delete in a batch commits atomically in store_write(). */
struct store_batch *store_batch_new(void);
void store_batch_put(struct store_batch *b, enum store_cf cf, const void *key,
		     size_t klen, const void *val, size_t vlen);
void store_batch_delete(struct store_batch *b, enum store_cf cf,
			const void *key, size_t klen);
/* Deletes every key in [@begin, @end) of @cf with one range tombstone. */
void store_batch_delete_range(struct store_batch *b, enum store_cf cf,
			      const void *begin, size_t blen, const void *end,
			      size_t elen);
size_t store_batch_count(const struct store_batch *b);
void store_batch_clear(struct store_batch *b);
void store_batch_free(struct store_batch *b);
/* Commits @b (which stays owned by the caller and is left unchanged). 0 or -1 + *@err. */
int store_write(struct store *st, struct store_batch *b, char **err);
/*
 * store_write_sync - the same, and returns only once the WAL is on stable
 * storage (fsync): the write survives a power loss, not only a kill -9.
 */
int store_write_sync(struct store *st, struct store_batch *b, char **err);
/*
 * store_fail_writes - fault injection for tests: while @msg is not NULL,
 * every store_write() fails with "store_write: <msg>" and writes nothing.
 */
void store_fail_writes(struct store *st, const char *msg);

/*
 * store_get - point lookup. Returns 1 and a malloc'ed copy in *@val, *@vlen
 * (caller frees with free()), 0 when absent, -1 with *@err on error.
 */
int store_get(struct store *st, enum store_cf cf, const void *key, size_t klen,
	      char **val, size_t *vlen, char **err);

/*
 * Iterators see one consistent snapshot, taken at store_iter_new() (NULL only
 * when out of memory). Free every iterator before store_close().
 */
struct store_iter *store_iter_new(struct store *st, enum store_cf cf);
void store_iter_seek_first(struct store_iter *it);
void store_iter_seek_last(struct store_iter *it);
void store_iter_seek(struct store_iter *it, const void *key, size_t klen);	/* first >= key */
void store_iter_seek_for_prev(struct store_iter *it, const void *key, size_t klen); /* last <= key */
bool store_iter_valid(const struct store_iter *it);
void store_iter_next(struct store_iter *it);
void store_iter_prev(struct store_iter *it);
const char *store_iter_key(const struct store_iter *it, size_t *len);
const char *store_iter_value(const struct store_iter *it, size_t *len);
/*
 * store_iter_error - once store_iter_valid() is false: 0 if the iterator just
 * ran off the end, -1 with *@err (free with free()) if it stopped on an I/O
 * or corruption error (so that a scan is never silently truncated).
 */
int store_iter_error(const struct store_iter *it, char **err);
void store_iter_free(struct store_iter *it);

/* Approximate number of keys in @cf (RocksDB's estimate; cheap). */
uint64_t store_estimate_keys(struct store *st, enum store_cf cf);

static inline void store_key_be32(unsigned char k[4], uint32_t v)
{
	k[0] = v >> 24; k[1] = v >> 16; k[2] = v >> 8; k[3] = v;
}

static inline void store_key_be64(unsigned char k[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		k[i] = (unsigned char)v;
}

static inline uint64_t store_key_get(const char *k, size_t len)
{
	uint64_t v = 0;

	for (size_t i = 0; i < len; i++)
		v = v << 8 | (unsigned char)k[i];
	return v;
}

#endif /* DBOS_STORE_H */
