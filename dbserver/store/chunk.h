/* SPDX-License-Identifier: GPL-2.0 */
/* chunk.h - the value format of a history chunk: many rows of one history table under one key. */
#ifndef DBOS_STORE_CHUNK_H
#define DBOS_STORE_CHUNK_H

#include <stddef.h>
#include <stdint.h>

/*
 * A history column family (store_cf_chunked()) maps be64 key -> chunk. The
 * key is the seq of the chunk's first row; a chunk holds the rows whose seqs
 * lie between its key and the next chunk's key, in ascending seq order, so
 * that the rows of the whole family are in seq order too: the chunk holding
 * seq s is the last key <= s (SeekForPrev).
 *
 *   byte  0      CHUNK_TAG
 *   bytes 1..4   le32 number of rows
 *   bytes 5..12  le64 seq of the last row
 *   then per row: varint (seq - key), varint length, the row (row.h)
 *
 * The header lets the server count rows and find the newest seq at startup
 * without decoding the rows.
 */
#define CHUNK_TAG		0xC1
#define CHUNK_HDR		13
#define CHUNK_MAX_ROWS		64		/* a chunk is closed at this many rows ... */
#define CHUNK_MAX_BYTES		(4u << 10)	/* ... or once this large */

/* One decoded row: @row points into the chunk's value. */
struct chunk_ent {
	uint64_t seq;
	const char *row;
	size_t len;
};

/* A chunk being built (rows appended in ascending seq order). */
struct chunk_buf {
	uint64_t key;		/* seq of the first row */
	uint64_t last;		/* seq of the last row */
	uint32_t count;
	char *b;
	size_t len, cap;
};

/* chunk_start - make @c an empty chunk under @key (keeps its buffer). 0, or -1 on ENOMEM. */
int chunk_start(struct chunk_buf *c, uint64_t key);

/* chunk_append - add the row @row of @len bytes at @seq (> the last seq, >= the key). 0, or -1 on ENOMEM. */
int chunk_append(struct chunk_buf *c, uint64_t seq, const void *row, size_t len);

void chunk_buf_free(struct chunk_buf *c);

/* chunk_header - the row count and last seq of chunk @val. 0, or -1 if it is not a chunk. */
int chunk_header(const char *val, size_t vlen, uint32_t *count, uint64_t *last);

/*
 * chunk_decode - the rows of chunk @val (stored under @key) into *@ents,
 * which is grown with realloc() as needed (*@cap entries). Entries point
 * into @val. Returns the number of rows, -EINVAL if @val is malformed, or
 * -ENOMEM.
 */
long chunk_decode(uint64_t key, const char *val, size_t vlen,
		  struct chunk_ent **ents, size_t *cap);

#endif /* DBOS_STORE_CHUNK_H */
