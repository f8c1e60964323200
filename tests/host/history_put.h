/* SPDX-License-Identifier: GPL-2.0 */
/* history_put.h - host tests: rows written straight into the store the way the mirror stores them (chunks in the history families), keys counted. */
#ifndef DBOS_TEST_HISTORY_PUT_H
#define DBOS_TEST_HISTORY_PUT_H

#include <stdio.h>
#include <stdlib.h>

#include "dbserver/store/chunk.h"
#include "dbserver/store/store.h"

/* The number of keys in @cf (chunks, in a chunked family). */
static inline int test_count_keys(struct store *st, enum store_cf cf)
{
	struct store_iter *it = store_iter_new(st, cf);
	int n = 0;

	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		n++;
	store_iter_free(it);
	return n;
}

/* Adds chunk @c to @b under its key. */
static inline void test_put_chunk(struct store_batch *b, enum store_cf cf, const struct chunk_buf *c)
{
	unsigned char k[8];

	store_key_be64(k, c->key);
	store_batch_put(b, cf, k, sizeof(k), c->b, c->len);
}

/*
 * Adds row @row under key @key (@klen bytes) of @cf to @b: as itself, or as
 * a chunk of one row in a chunked family.
 */
static inline void test_put_row(struct store_batch *b, enum store_cf cf, uint64_t key, size_t klen,
				const char *row, size_t len)
{
	struct chunk_buf c = { 0 };
	unsigned char k[8];

	if (store_cf_chunked(cf)) {
		if (chunk_start(&c, key) || chunk_append(&c, key, row, len)) {
			fprintf(stderr, "test_put_row: out of memory\n");
			abort();
		}
		test_put_chunk(b, cf, &c);
		chunk_buf_free(&c);
		return;
	}
	if (klen == 4)
		store_key_be32(k, (uint32_t)key);
	else
		store_key_be64(k, key);
	store_batch_put(b, cf, k, klen, row, len);
}

#endif /* DBOS_TEST_HISTORY_PUT_H */
