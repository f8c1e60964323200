// SPDX-License-Identifier: GPL-2.0
/* history.c - a history table's writer: rows into chunks, bucketed row counts and range-delete trimming (see history.h). */
#include <errno.h>
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
	h->chunked = store_cf_chunked(cf);
	while (h->shift < 40 && (2ULL << h->shift) <= per_bucket)
		h->shift++;
	/* A chunk is trimmed whole: no more rows than a bucket holds. */
	h->chunk_rows = per_bucket < 1 ? 1 : per_bucket > CHUNK_MAX_ROWS ? CHUNK_MAX_ROWS :
			(uint32_t)per_bucket;
}

static void done_clear(struct history *h)
{
	for (size_t i = 0; i < h->ndone; i++)
		chunk_buf_free(&h->done[i].c);
	h->ndone = 0;
}

void history_free(struct history *h)
{
	done_clear(h);
	free(h->done);
	free(h->bk);
	free(h->pend);
	free(h->pbuf);
	free(h->ents);
	chunk_buf_free(&h->open);
	chunk_buf_free(&h->merged);
	h->bk = NULL;
	h->done = NULL;
	h->pend = NULL;
	h->pbuf = NULL;
	h->ents = NULL;
}

/* Counts @n rows stored under a key of bucket @id. */
static int bucket_add(struct history *h, uint64_t id, uint64_t n)
{
	struct hist_bucket *b = h->bk + h->bk_start;
	size_t i;

	h->count += n;
	if (h->bk_len && b[h->bk_len - 1].id == id) {
		b[h->bk_len - 1].count += n;
		return 0;
	}
	for (i = h->bk_len; i > 0 && b[i - 1].id > id; i--)
		;
	if (i > 0 && b[i - 1].id == id) {
		b[i - 1].count += n;
		return 0;
	}
	if (h->bk_start + h->bk_len == h->bk_cap) {
		if (h->bk_start) {
			memmove(h->bk, b, h->bk_len * sizeof(*b));
			h->bk_start = 0;
		} else {
			size_t cap = h->bk_cap ? h->bk_cap * 2 : 256;
			struct hist_bucket *nb = realloc(h->bk, cap * sizeof(*nb));

			if (!nb) {
				h->count -= n;
				return -1;
			}
			h->bk = nb;
			h->bk_cap = cap;
		}
		b = h->bk + h->bk_start;
	}
	memmove(&b[i + 1], &b[i], (h->bk_len - i) * sizeof(*b));
	b[i] = (struct hist_bucket){ .id = id, .count = n };
	h->bk_len++;
	return 0;
}

/* Buffers a row of a chunked family until the next flush. */
static int pend_add(struct history *h, uint64_t seq, const void *val, size_t vlen)
{
	if (h->npend == h->pend_cap) {
		size_t cap = h->pend_cap ? h->pend_cap * 2 : 1024;
		struct hist_pend *np = realloc(h->pend, cap * sizeof(*np));

		if (!np)
			return -1;
		h->pend = np;
		h->pend_cap = cap;
	}
	if (h->plen + vlen > h->pbuf_cap) {
		size_t cap = h->pbuf_cap ? h->pbuf_cap : 64 << 10;
		char *nb;

		while (cap < h->plen + vlen)
			cap *= 2;
		nb = realloc(h->pbuf, cap);
		if (!nb)
			return -1;
		h->pbuf = nb;
		h->pbuf_cap = cap;
	}
	memcpy(h->pbuf + h->plen, val, vlen);
	h->pend[h->npend++] = (struct hist_pend){ .seq = seq, .off = h->plen, .len = vlen };
	h->plen += vlen;
	return 0;
}

int history_put(struct history *h, struct store_batch *b, uint64_t seq,
		const void *val, size_t vlen)
{
	unsigned char key[8];

	if (h->chunked)
		return pend_add(h, seq, val, vlen);
	if (bucket_add(h, seq >> h->shift, 1))
		return -1;
	store_key_be64(key, seq);
	store_batch_put(b, h->cf, key, sizeof(key), val, vlen);
	return 0;
}

/* ---- flushing buffered rows into chunks ---- */

/* By seq, then in the order put (a later row with the same seq replaces an earlier one). */
static int pend_cmp(const void *a, const void *b)
{
	const struct hist_pend *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

static void pend_sort(struct history *h)
{
	for (size_t i = 1; i < h->npend; i++) {
		if (pend_cmp(&h->pend[i - 1], &h->pend[i]) > 0) {
			qsort(h->pend, h->npend, sizeof(*h->pend), pend_cmp);
			return;
		}
	}
}

/* Index of the chunk in done[] with the largest key <= @seq, or -1. */
static long done_find(const struct history *h, uint64_t seq)
{
	size_t lo = 0, hi = h->ndone;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->done[mid].c.key <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (long)lo - 1;
}

/* Inserts an empty chunk into done[] at @at (keeping it sorted by key). NULL on ENOMEM. */
static struct hist_chunk *done_insert(struct history *h, size_t at)
{
	if (h->ndone == h->done_cap) {
		size_t cap = h->done_cap ? h->done_cap * 2 : 64;
		struct hist_chunk *nd = realloc(h->done, cap * sizeof(*nd));

		if (!nd)
			return NULL;
		h->done = nd;
		h->done_cap = cap;
	}
	memmove(&h->done[at + 1], &h->done[at], (h->ndone - at) * sizeof(*h->done));
	h->ndone++;
	memset(&h->done[at], 0, sizeof(h->done[at]));
	return &h->done[at];
}

/* Closes the open chunk: it moves to the end of done[] (it has the largest key). */
static int close_open(struct history *h)
{
	struct hist_chunk *d = done_insert(h, h->ndone);

	if (!d)
		return -1;
	d->c = h->open;
	d->dirty = h->open_dirty;
	memset(&h->open, 0, sizeof(h->open));
	h->has_open = false;
	h->open_dirty = false;
	return 0;
}

/* Appends pend[i] (newer than every stored row) to the open chunk, opening one as needed. */
static int append_new(struct history *h, const struct hist_pend *e)
{
	if (h->has_open && (h->open.count >= h->chunk_rows ||
			    h->open.len + e->len > CHUNK_MAX_BYTES) && close_open(h))
		return -1;
	if (!h->has_open) {
		if (chunk_start(&h->open, e->seq))
			return -1;
		h->has_open = true;
	}
	if (chunk_append(&h->open, e->seq, h->pbuf + e->off, e->len) ||
	    bucket_add(h, h->open.key >> h->shift, 1))
		return -1;
	h->open_dirty = true;
	h->top = e->seq;
	return 0;
}

static char *errf(const char *what, enum store_cf cf, uint64_t key)
{
	char *s = NULL;

	if (asprintf(&s, "history (column family %d): %s at key %llu", (int)cf, what,
		     (unsigned long long)key) < 0)
		return NULL;
	return s;
}

/*
 * Merges the rows pend[*i..] below @bound into chunk @t (rows of @t with the
 * same seq are replaced), advancing *@i. A corrupt @t (its rows unreadable,
 * SQL says so) is replaced by the new rows rather than holding up every
 * commit after it. 0, or -1 and *@err (*@i unchanged).
 */
static int merge_into(struct history *h, struct chunk_buf *t, size_t *i, uint64_t bound,
		      char **err)
{
	long n = chunk_decode(t->key, t->b, t->len, &h->ents, &h->ents_cap);
	uint64_t added = 0;
	size_t first = *i;
	long a = 0;

	if (n == -ENOMEM)
		goto nomem;
	if (n < 0)
		n = 0;
	if (chunk_start(&h->merged, t->key))
		goto nomem;
	while (a < n || (*i < h->npend && h->pend[*i].seq < bound)) {
		const struct hist_pend *e = *i < h->npend && h->pend[*i].seq < bound ?
					    &h->pend[*i] : NULL;
		const struct chunk_ent *o = a < n ? &h->ents[a] : NULL;
		int r;

		if (e && (!o || e->seq <= o->seq)) {
			/* later rows with the same seq replace this one */
			bool last = *i + 1 >= h->npend || h->pend[*i + 1].seq != e->seq;

			r = last ? chunk_append(&h->merged, e->seq, h->pbuf + e->off, e->len) : 0;
			added += last && !(o && o->seq == e->seq);
			a += o && o->seq == e->seq && last;
			++*i;
		} else {
			r = chunk_append(&h->merged, o->seq, o->row, o->len);
			a++;
		}
		if (r)
			goto nomem;
	}
	if (added && bucket_add(h, t->key >> h->shift, added))
		goto nomem;
	{
		struct chunk_buf tmp = *t;

		*t = h->merged;
		h->merged = tmp;
	}
	if (t->last > h->top)
		h->top = t->last;
	return 0;
nomem:
	*i = first;
	*err = errf("out of memory merging a late row", h->cf, t->key);
	return -1;
}

/* Positions *@it (created on first use) at the last key <= @seq (@prev) or the first >= @seq; 1 and the key when valid, 0 when not, -1 and *@err. */
static int store_probe(struct history *h, struct store *st, struct store_iter **it, uint64_t seq,
		       bool prev, uint64_t *key, char **err)
{
	unsigned char k[8];
	const char *sk;
	size_t klen;

	if (!*it && !(*it = store_iter_new(st, h->cf))) {
		*err = errf("out of memory reading a chunk", h->cf, seq);
		return -1;
	}
	store_key_be64(k, seq);
	if (prev)
		store_iter_seek_for_prev(*it, k, sizeof(k));
	else
		store_iter_seek(*it, k, sizeof(k));
	if (!store_iter_valid(*it))
		return store_iter_error(*it, err) ? -1 : 0;
	sk = store_iter_key(*it, &klen);
	*key = store_key_get(sk, klen);
	return 1;
}

/*
 * Merges the late rows from pend[*i] on into the chunks that hold their
 * seqs: the open chunk, one in done[], or one read from the store into
 * done[]; or starts a chunk under pend[*i]'s seq. 0, or -1 and *@err.
 */
static int merge_late(struct history *h, struct store *st, struct store_iter **it, size_t *i,
		      char **err)
{
	uint64_t s = h->pend[*i].seq, skey = 0, next;
	long d;
	int r;

	if (h->has_open && s >= h->open.key) {
		h->open_dirty = true;
		return merge_into(h, &h->open, i, h->open.last + 1, err);
	}
	d = done_find(h, s);
	r = store_probe(h, st, it, s, true, &skey, err);
	if (r < 0)
		return -1;
	if (r && (d < 0 || skey > h->done[d].c.key)) {
		/* the chunk is the store's: copy it into done[] */
		size_t vlen;
		const char *v = store_iter_value(*it, &vlen);
		struct hist_chunk *c = done_insert(h, (size_t)(d + 1));

		if (!c || !(c->c.b = malloc(vlen ? vlen : 1))) {
			*err = errf("out of memory reading a chunk", h->cf, skey);
			return -1;
		}
		d++;
		memcpy(c->c.b, v, vlen);
		c->c.len = c->c.cap = vlen;
		c->c.key = skey;
		if (chunk_header(v, vlen, &c->c.count, &c->c.last)) {
			c->c.count = 0;		/* corrupt: replaced (merge_into) */
			c->c.last = skey;
		}
	} else if (d < 0) {
		/* no chunk at or below @s: a new one starts at @s */
		struct hist_chunk *c = done_insert(h, 0);

		if (!c || chunk_start(&c->c, s)) {
			*err = errf("out of memory starting a chunk", h->cf, s);
			return -1;
		}
		d = 0;
	}
	/* The chunk's rows end where the next chunk starts. */
	next = h->has_open ? h->open.key : UINT64_MAX;
	if ((size_t)d + 1 < h->ndone && h->done[d + 1].c.key < next)
		next = h->done[d + 1].c.key;
	if (h->done[d].c.key < UINT64_MAX) {
		r = store_probe(h, st, it, h->done[d].c.key + 1, false, &skey, err);
		if (r < 0)
			return -1;
		if (r && skey < next)
			next = skey;
	}
	h->done[d].dirty = true;
	return merge_into(h, &h->done[d].c, i, next, err);
}

static void put_chunk(struct history *h, struct store_batch *b, const struct chunk_buf *c)
{
	unsigned char key[8];

	store_key_be64(key, c->key);
	store_batch_put(b, h->cf, key, sizeof(key), c->b, c->len);
}

int history_flush(struct history *h, struct store *st, struct store_batch *b, char **err)
{
	struct store_iter *it = NULL;
	size_t i = 0;
	int ret = 0;

	if (!h->npend)
		return 0;
	pend_sort(h);
	while (i < h->npend && !ret) {
		const struct hist_pend *e = &h->pend[i];

		if (i + 1 < h->npend && h->pend[i + 1].seq == e->seq && e->seq > h->top) {
			i++;	/* a later row with the same seq replaces it */
		} else if (e->seq > h->top) {
			ret = append_new(h, e);
			if (ret)
				*err = errf("out of memory", h->cf, e->seq);
			else
				i++;
		} else {
			ret = merge_late(h, st, &it, &i, err);
		}
	}
	store_iter_free(it);
	for (size_t j = 0; j < h->ndone; j++) {
		if (h->done[j].dirty) {
			put_chunk(h, b, &h->done[j].c);
			h->done[j].dirty = false;
		}
	}
	if (h->open_dirty) {
		put_chunk(h, b, &h->open);
		h->open_dirty = false;
	}
	/* What was not flushed (an error) waits for the next flush. */
	memmove(h->pend, h->pend + i, (h->npend - i) * sizeof(*h->pend));
	h->npend -= i;
	if (!h->npend)
		h->plen = 0;
	return ret;
}

void history_committed(struct history *h)
{
	done_clear(h);
}

void history_trim(struct history *h, struct store_batch *b)
{
	uint64_t need, removed = 0, end_id = 0, cut;
	unsigned char begin[8], end[8];
	size_t keep = 0;

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
	/* Chunks under the cut are gone with their buckets (the delete follows their puts). */
	while (keep < h->ndone && h->done[keep].c.key < cut)
		chunk_buf_free(&h->done[keep++].c);
	memmove(h->done, h->done + keep, (h->ndone - keep) * sizeof(*h->done));
	h->ndone -= keep;
	if (h->has_open && h->open.key < cut) {
		h->has_open = false;
		h->open_dirty = false;
	}
}

int history_count(struct history *h, uint64_t seq)
{
	return bucket_add(h, seq >> h->shift, 1);
}

int history_load(struct history *h, struct store *st, uint64_t *max_seq, char **err)
{
	struct store_iter *it = store_iter_new(st, h->cf);

	if (!it) {
		*err = strdup("out of memory iterating a history table");
		return -1;
	}
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t klen, vlen;
		const char *k = store_iter_key(it, &klen);
		const char *v = store_iter_value(it, &vlen);
		uint64_t key = store_key_get(k, klen), last = key;
		uint32_t n = 1;

		/* not a chunk: counted as the one row it would be, and read as corrupt */
		chunk_header(v, vlen, &n, &last);
		if (bucket_add(h, key >> h->shift, n)) {
			store_iter_free(it);
			*err = strdup("out of memory indexing a history table");
			return -1;
		}
		if (last > h->top)
			h->top = last;
	}
	if (store_iter_error(it, err)) {
		store_iter_free(it);
		return -1;
	}
	store_iter_free(it);
	if (h->top > *max_seq)
		*max_seq = h->top;
	return 0;
}
