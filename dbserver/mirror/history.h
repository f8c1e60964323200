/* SPDX-License-Identifier: GPL-2.0 */
/* history.h - one history table's writer: rows into chunks (or one key per row), retention by seq bucket, trimmed by whole buckets with one range delete. */
#ifndef DBOS_MIRROR_HISTORY_H
#define DBOS_MIRROR_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbserver/store/chunk.h"
#include "dbserver/store/store.h"

/*
 * Rows are counted per key bucket (2^shift seqs wide, shift chosen so that
 * a bucket holds at most ~retention/64 rows). When more than retention + 10%
 * rows are stored, whole buckets are dropped from the oldest end with ONE
 * range delete, leaving at most @retention rows. Counts stay exact even
 * though history keys arrive out of order.
 *
 * In a chunked family (store_cf_chunked(): the mirror's histories) a key is
 * a chunk (chunk.h) and its rows count in the bucket of the chunk's key, so
 * a trim drops whole chunks. history_put() only buffers a row; at each
 * commit history_flush() sorts the buffered rows by seq and adds them to
 * the batch as chunks:
 *
 *   - a row newer than every stored one is appended to the open chunk (the
 *     newest), which is closed at CHUNK_MAX_ROWS rows (fewer with a small
 *     retention: at most a bucket's worth) or CHUNK_MAX_BYTES and
 *     a new one opened under the row's seq. The open chunk is put again in
 *     full at each flush that adds to it, in the same batch as everything
 *     else of that commit, so a commit that returned has stored every row
 *     it acknowledged, and a kill -9 loses nothing a commit acknowledged.
 *   - a late row (a seq at or below the newest stored one: records of
 *     another CPU arriving after a later commit) is merged into the chunk
 *     whose range holds it (the last key <= seq: in memory if written since
 *     the last successful commit, otherwise read from the store), which is
 *     put again whole; with no such chunk, it starts one under its own seq.
 *     A row with the seq of a stored row replaces it.
 *
 * Chunks written since the last history_committed() stay in memory, so that
 * a late row never merges into an older copy of a chunk than the batch holds
 * (a failed commit keeps its batch and is retried).
 */
struct hist_bucket {
	uint64_t id;		/* key >> shift */
	uint64_t count;		/* rows stored with keys in this bucket */
};

struct hist_pend {		/* a row buffered by history_put() */
	uint64_t seq;
	size_t off, len;	/* in pbuf */
};

struct hist_chunk {		/* a chunk written since the last commit */
	struct chunk_buf c;
	bool dirty;		/* changed since it was last added to a batch */
};

struct history {
	enum store_cf cf;
	uint64_t retention;	/* keep at most this many rows (0: none) */
	uint64_t count;		/* rows stored */
	uint64_t cut;		/* keys below this were trimmed */
	uint64_t trimmed;	/* rows deleted by retention since start */
	unsigned shift;
	struct hist_bucket *bk;
	size_t bk_start, bk_len, bk_cap;
	/* chunked families only */
	bool chunked;
	uint32_t chunk_rows;	/* close a chunk at this many rows (<= CHUNK_MAX_ROWS) */
	struct hist_pend *pend;	/* rows put since the last flush */
	size_t npend, pend_cap;
	char *pbuf;
	size_t plen, pbuf_cap;
	struct chunk_buf open;	/* the newest chunk, while it fills */
	bool has_open, open_dirty;
	uint64_t top;		/* the largest seq stored (or in the batch) */
	struct hist_chunk *done;	/* closed or merged since the last commit, by key */
	size_t ndone, done_cap;
	struct chunk_ent *ents;	/* scratch for merges */
	size_t ents_cap;
	struct chunk_buf merged;
};

void history_init(struct history *h, enum store_cf cf, uint64_t retention);
void history_free(struct history *h);

/* history_wants - whether a row with key @seq is kept at all. */
static inline bool history_wants(const struct history *h, uint64_t seq)
{
	return h->retention && seq >= h->cut;
}

/*
 * history_put - add the row @val under key @seq: to @b (one key per row),
 * or to the rows that the next history_flush() chunks (chunked families;
 * @val is copied). 0, or -1 on ENOMEM.
 */
int history_put(struct history *h, struct store_batch *b, uint64_t seq,
		const void *val, size_t vlen);

/* history_pending - rows put and not flushed yet. */
static inline size_t history_pending(const struct history *h)
{
	return h->npend;
}

/*
 * history_flush - chunked families: add the rows put since the last flush
 * to @b as chunks (see above), reading the chunks that late rows merge into
 * from @st. 0, or -1 and *@err (free()) on ENOMEM or a read error; the rows
 * not flushed yet stay for the next call.
 */
int history_flush(struct history *h, struct store *st, struct store_batch *b, char **err);

/* history_committed - the batch of the last flush is written: forget the chunks it held. */
void history_committed(struct history *h);

/* history_trim - if over the limit, add the range delete of the oldest buckets to @b. */
void history_trim(struct history *h, struct store_batch *b);

/* history_count - count a row already stored under @seq (one key per row: a caller's own load). 0, or -1 on ENOMEM. */
int history_count(struct history *h, uint64_t seq);

/*
 * history_load - chunked families: count the rows stored in @h->cf from the
 * chunk headers (at startup); raises *@max_seq to the largest seq stored.
 * 0, or -1 and *@err (free()).
 */
int history_load(struct history *h, struct store *st, uint64_t *max_seq, char **err);

#endif /* DBOS_MIRROR_HISTORY_H */
