// SPDX-License-Identifier: GPL-2.0
/* history.c - retention of a history table: bucketed row counts and range-delete trimming (see history.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/mirror/history.h"

void history_init(struct history *h, enum store_cf cf, uint64_t retention)
{
	/* Buckets of at most ~retention/64 rows: a trim overshoots by < 1.6%. */
	uint64_t per_bucket = retention / 64;

	memset(h, 0, sizeof(*h));
	h->cf = cf;
	h->retention = retention;
	while (h->shift < 40 && (2ULL << h->shift) <= per_bucket)
		h->shift++;
}

void history_free(struct history *h)
{
	free(h->bk);
	h->bk = NULL;
}

static int bucket_add(struct history *h, uint64_t id)
{
	struct hist_bucket *b = h->bk + h->bk_start;
	size_t i;

	if (h->bk_len && b[h->bk_len - 1].id == id) {
		b[h->bk_len - 1].count++;
		return 0;
	}
	for (i = h->bk_len; i > 0 && b[i - 1].id > id; i--)
		;
	if (i > 0 && b[i - 1].id == id) {
		b[i - 1].count++;
		return 0;
	}
	if (h->bk_start + h->bk_len == h->bk_cap) {
		if (h->bk_start) {
			memmove(h->bk, b, h->bk_len * sizeof(*b));
			h->bk_start = 0;
		} else {
			size_t cap = h->bk_cap ? h->bk_cap * 2 : 256;
			struct hist_bucket *nb = realloc(h->bk, cap * sizeof(*nb));

			if (!nb)
				return -1;
			h->bk = nb;
			h->bk_cap = cap;
		}
		b = h->bk + h->bk_start;
	}
	memmove(&b[i + 1], &b[i], (h->bk_len - i) * sizeof(*b));
	b[i] = (struct hist_bucket){ .id = id, .count = 1 };
	h->bk_len++;
	return 0;
}

int history_put(struct history *h, struct store_batch *b, uint64_t seq,
		const void *val, size_t vlen)
{
	unsigned char key[8];

	if (bucket_add(h, seq >> h->shift))
		return -1;
	store_key_be64(key, seq);
	store_batch_put(b, h->cf, key, sizeof(key), val, vlen);
	h->count++;
	return 0;
}

void history_trim(struct history *h, struct store_batch *b)
{
	uint64_t need, removed = 0, end_id = 0, cut;
	unsigned char begin[8], end[8];

	if (!h->retention || h->count <= h->retention + h->retention / 10)
		return;
	need = h->count - h->retention;
	while (removed < need && h->bk_len) {
		struct hist_bucket *bk = &h->bk[h->bk_start];

		removed += bk->count;
		end_id = bk->id;
		h->bk_start++;
		h->bk_len--;
	}
	if (!h->bk_len)
		h->bk_start = 0;
	cut = (end_id + 1) << h->shift;
	store_key_be64(begin, 0);
	store_key_be64(end, cut);
	store_batch_delete_range(b, h->cf, begin, 8, end, 8);
	h->count -= removed;
	h->cut = cut;
	h->trimmed += removed;
}

int history_count(struct history *h, uint64_t seq)
{
	if (bucket_add(h, seq >> h->shift))
		return -1;
	h->count++;
	return 0;
}

int history_load(struct history *h, struct store *st, uint64_t *max_seq, char **err)
{
	struct store_iter *it = store_iter_new(st, h->cf);

	if (!it) {
		*err = strdup("out of memory iterating a history table");
		return -1;
	}
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t klen;
		const char *k = store_iter_key(it, &klen);
		uint64_t key = store_key_get(k, klen);

		if (history_count(h, key)) {
			store_iter_free(it);
			*err = strdup("out of memory indexing a history table");
			return -1;
		}
		if (key > *max_seq)
			*max_seq = key;
	}
	if (store_iter_error(it, err)) {
		store_iter_free(it);
		return -1;
	}
	store_iter_free(it);
	return 0;
}
