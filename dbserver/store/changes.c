// SPDX-License-Identifier: GPL-2.0
/* changes.c - the live tables' change log and checkpoints: writing them, trimming them, and rebuilding a table as of a moment (see changes.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/store/bytes.h"
#include "dbserver/store/changes.h"

#define ENTRY_HDR	45	/* tag, count, min seq, min time, run seq, run time, run total */
#define INDEX_VAL	44	/* seq, time, total, rows, parts */
#define ENTRY_KEY	9	/* [t][be64 n] */
#define CKPT_KEY	10	/* ['I' or 'D'][t][be64 pos] */
#define PART_KEY	14	/* ... [be32 part] */

static const enum store_cf table_cf[CHANGES__TABLES] = {
	[CHANGES_PROCESSES] = STORE_CF_PROCESSES,
	[CHANGES_FDS] = STORE_CF_FDS,
	[CHANGES_SOCKETS] = STORE_CF_SOCKETS,
};

enum store_cf changes_table_cf(enum changes_table t)
{
	return table_cf[t];
}

size_t changes_key_len(enum changes_table t)
{
	return t == CHANGES_PROCESSES ? 4 : 8;
}

static void entry_key(unsigned char k[ENTRY_KEY], enum changes_table t, uint64_t n)
{
	k[0] = (unsigned char)t;
	store_key_be64(k + 1, n);
}

static void ckpt_key(unsigned char k[PART_KEY], char kind, enum changes_table t, uint64_t pos,
		     uint32_t part)
{
	k[0] = (unsigned char)kind;
	k[1] = (unsigned char)t;
	store_key_be64(k + 2, pos);
	store_key_be32(k + 10, part);
}

/* Whether iterator @it is on a key of @klen bytes starting with @prefix. */
static bool on_prefix(struct store_iter *it, const unsigned char *prefix, size_t plen,
		      size_t klen)
{
	const char *k;
	size_t len;

	if (!store_iter_valid(it))
		return false;
	k = store_iter_key(it, &len);
	return len == klen && !memcmp(k, prefix, plen);
}

/* Reads the checkpoint index of table @t into @ck (oldest first). 0, or -1 and *@err. */
static int read_index(struct store *st, enum changes_table t, struct changes_ckpt **ck,
		      size_t *n, char **err)
{
	struct store_iter *it = store_iter_new(st, STORE_CF_CHECKPOINTS);
	unsigned char k[PART_KEY];
	size_t cap = 0;

	*ck = NULL;
	*n = 0;
	if (!it) {
		*err = store_errorf("changes: %s", strerror(ENOMEM));
		return -1;
	}
	ckpt_key(k, 'I', t, 0, 0);
	for (store_iter_seek(it, k, CKPT_KEY); on_prefix(it, k, 2, CKPT_KEY); store_iter_next(it)) {
		size_t klen, vlen;
		const char *key = store_iter_key(it, &klen);
		const char *v = store_iter_value(it, &vlen);

		if (vlen != INDEX_VAL)
			continue;	/* not ours: never written by this format */
		if (*n == cap) {
			struct changes_ckpt *nc;

			cap = cap ? cap * 2 : 8;
			nc = realloc(*ck, cap * sizeof(*nc));
			if (!nc) {
				store_iter_free(it);
				*err = store_errorf("changes: %s", strerror(ENOMEM));
				return -1;
			}
			*ck = nc;
		}
		(*ck)[(*n)++] = (struct changes_ckpt){
			.pos = store_key_get(key + 2, 8),
			.seq = get_le(v, 8), .time = get_le(v + 8, 8),
			.total = get_le(v + 16, 8), .rows = get_le(v + 24, 8),
			.parts = (uint32_t)get_le(v + 32, 4),
		};
	}
	if (store_iter_error(it, err)) {
		store_iter_free(it);
		free(*ck);
		*ck = NULL;
		*n = 0;
		return -1;
	}
	store_iter_free(it);
	return 0;
}

/* ---- writer ---------------------------------------------------------------- */

/* Writes a checkpoint of table @t as it is stored now (every entry before tab->next). */
static int write_checkpoint(struct changes_log *c, enum changes_table t, char **err)
{
	struct changes_tab *tab = &c->tab[t];
	struct store_iter *it = store_iter_new(c->st, table_cf[t]);
	struct store_batch *b = store_batch_new();
	struct changes_ckpt ck = { .pos = tab->next, .seq = tab->run_seq, .time = tab->run_time,
				   .total = tab->total };
	unsigned char k[PART_KEY];
	char *part = NULL, iv[INDEX_VAL];
	size_t len = 4, cap = 0;
	uint32_t count = 0;
	int ret = -1;

	if (!it || !b || bytes_reserve(&part, &cap, 0, CHANGES_PART_BYTES + 64))
		goto nomem;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t klen, vlen;
		const char *key = store_iter_key(it, &klen);
		const char *v = store_iter_value(it, &vlen);

		if (bytes_reserve(&part, &cap, len, 8 + 10 + vlen))
			goto nomem;
		put_le(part + len, store_key_get(key, klen), 8);
		len += 8;
		len += put_varint(part + len, vlen);
		memcpy(part + len, v, vlen);
		len += vlen;
		count++;
		ck.rows++;
		if (len >= CHANGES_PART_BYTES) {
			put_le(part, count, 4);
			ckpt_key(k, 'D', t, ck.pos, ck.parts++);
			store_batch_put(b, STORE_CF_CHECKPOINTS, k, PART_KEY, part, len);
			len = 4;
			count = 0;
		}
	}
	if (store_iter_error(it, err))
		goto out;
	if (count) {
		put_le(part, count, 4);
		ckpt_key(k, 'D', t, ck.pos, ck.parts++);
		store_batch_put(b, STORE_CF_CHECKPOINTS, k, PART_KEY, part, len);
	}
	put_le(iv, ck.seq, 8);
	put_le(iv + 8, ck.time, 8);
	put_le(iv + 16, ck.total, 8);
	put_le(iv + 24, ck.rows, 8);
	put_le(iv + 32, ck.parts, 4);
	memset(iv + 36, 0, INDEX_VAL - 36);
	ckpt_key(k, 'I', t, ck.pos, 0);
	store_batch_put(b, STORE_CF_CHECKPOINTS, k, CKPT_KEY, iv, INDEX_VAL);
	/* (the iterator pins what it read: let go of it before writing) */
	store_iter_free(it);
	it = NULL;
	if (store_write(c->st, b, err))
		goto out;
	{
		struct changes_ckpt *nc = realloc(tab->ckpts, (tab->nckpts + 1) * sizeof(*nc));

		if (!nc)
			goto nomem;	/* stored: read again at the next start */
		tab->ckpts = nc;
		tab->ckpts[tab->nckpts++] = ck;
	}
	c->checkpoints++;
	ret = 0;
	goto out;
nomem:
	*err = store_errorf("changes: checkpoint: %s", strerror(ENOMEM));
out:
	if (it)
		store_iter_free(it);
	store_batch_free(b);
	free(part);
	return ret;
}

/* Drops the oldest checkpoints of table @t, and the entries only they needed, beyond retention. */
static int trim(struct changes_log *c, enum changes_table t, char **err)
{
	struct changes_tab *tab = &c->tab[t];
	size_t drop = 0;
	int ret = 0;

	while (tab->nckpts - drop >= 2 && tab->total - tab->ckpts[drop + 1].total >= c->retention)
		drop++;
	if (!drop)
		return 0;
	{
		struct store_batch *b = store_batch_new();
		unsigned char lo[PART_KEY], hi[PART_KEY];
		uint64_t keep = tab->ckpts[drop].pos;

		if (!b) {
			*err = store_errorf("changes: trim: %s", strerror(ENOMEM));
			return -1;
		}
		ckpt_key(lo, 'I', t, 0, 0);
		ckpt_key(hi, 'I', t, keep, 0);
		store_batch_delete_range(b, STORE_CF_CHECKPOINTS, lo, CKPT_KEY, hi, CKPT_KEY);
		ckpt_key(lo, 'D', t, 0, 0);
		ckpt_key(hi, 'D', t, keep, 0);
		store_batch_delete_range(b, STORE_CF_CHECKPOINTS, lo, PART_KEY, hi, PART_KEY);
		entry_key(lo, t, 0);
		entry_key(hi, t, keep);
		store_batch_delete_range(b, STORE_CF_CHANGES, lo, ENTRY_KEY, hi, ENTRY_KEY);
		ret = store_write(c->st, b, err);
		store_batch_free(b);
	}
	if (ret)
		return -1;
	c->trimmed += tab->ckpts[drop].total - tab->ckpts[0].total;
	memmove(tab->ckpts, tab->ckpts + drop, (tab->nckpts - drop) * sizeof(*tab->ckpts));
	tab->nckpts -= drop;
	return 0;
}

int changes_open(struct changes_log *c, struct store *st, uint64_t retention,
		 uint64_t seq, uint64_t time_ns, char **err)
{
	memset(c, 0, sizeof(*c));
	c->st = st;
	c->retention = retention;
	c->on = retention > 0;
	c->min_interval = CHANGES_CHECKPOINT_MIN;
	if (!c->on)
		return 0;
	for (int t = 0; t < CHANGES__TABLES; t++) {
		struct changes_tab *tab = &c->tab[t];
		struct store_iter *it = store_iter_new(st, STORE_CF_CHANGES);
		unsigned char k[ENTRY_KEY];

		if (!it) {
			*err = store_errorf("changes: %s", strerror(ENOMEM));
			return -1;
		}
		entry_key(k, t, UINT64_MAX);
		store_iter_seek_for_prev(it, k, ENTRY_KEY);
		if (on_prefix(it, k, 1, ENTRY_KEY)) {
			size_t klen, vlen;
			const char *key = store_iter_key(it, &klen);
			const char *v = store_iter_value(it, &vlen);

			if (vlen < ENTRY_HDR || (unsigned char)v[0] != CHANGES_TAG) {
				store_iter_free(it);
				*err = store_errorf("changes: entry %" PRIu64 " of table %d is malformed",
					      store_key_get(key + 1, 8), t);
				return -1;
			}
			tab->next = store_key_get(key + 1, 8) + 1;
			tab->run_seq = get_le(v + 21, 8);
			tab->run_time = get_le(v + 29, 8);
			tab->total = get_le(v + 37, 8);
		}
		if (store_iter_error(it, err)) {
			store_iter_free(it);
			return -1;
		}
		store_iter_free(it);
		if (read_index(st, t, &tab->ckpts, &tab->nckpts, err))
			return -1;
		if (tab->nckpts)
			continue;
		/* (an empty table: "the beginning", which the first entry dates) */
		if (seq > tab->run_seq && store_estimate_keys(st, table_cf[t]))
			tab->run_seq = seq;
		if (time_ns > tab->run_time && store_estimate_keys(st, table_cf[t]))
			tab->run_time = time_ns;
		if (write_checkpoint(c, t, err))
			return -1;
	}
	return 0;
}

void changes_close(struct changes_log *c)
{
	for (int t = 0; t < CHANGES__TABLES; t++) {
		free(c->tab[t].cur.b);
		free(c->tab[t].ckpts);
	}
	memset(c, 0, sizeof(*c));
}

static void add(struct changes_log *c, enum changes_table t, int op, uint64_t key,
		uint64_t seq, uint64_t time_ns, const void *row, size_t len)
{
	struct changes_tab *tab = &c->tab[t];
	struct changes_entry *e = &tab->cur;

	if (!c->on)
		return;
	if (bytes_reserve(&e->b, &e->cap, e->len, ENTRY_HDR + 25 + 10 + len)) {
		c->lost++;
		return;
	}
	if (!e->count) {
		e->len = ENTRY_HDR;
		e->min_seq = seq;
		e->min_time = time_ns;
	}
	e->b[e->len++] = (char)op;
	put_le(e->b + e->len, key, 8);
	put_le(e->b + e->len + 8, seq, 8);
	put_le(e->b + e->len + 16, time_ns, 8);
	e->len += 24;
	if (op == CHANGE_PUT) {
		e->len += put_varint(e->b + e->len, len);
		memcpy(e->b + e->len, row, len);
		e->len += len;
	}
	e->count++;
	if (seq < e->min_seq)
		e->min_seq = seq;
	if (time_ns < e->min_time)
		e->min_time = time_ns;
	if (seq > tab->run_seq)
		tab->run_seq = seq;
	if (time_ns > tab->run_time)
		tab->run_time = time_ns;
	tab->total++;
}

void changes_put(struct changes_log *c, enum changes_table t, uint64_t key, uint64_t seq,
		 uint64_t time_ns, const void *row, size_t len)
{
	add(c, t, CHANGE_PUT, key, seq, time_ns, row, len);
}

void changes_del(struct changes_log *c, enum changes_table t, uint64_t key, uint64_t seq,
		 uint64_t time_ns)
{
	add(c, t, CHANGE_DEL, key, seq, time_ns, NULL, 0);
}

void changes_flush(struct changes_log *c, struct store_batch *b)
{
	for (int t = 0; c->on && t < CHANGES__TABLES; t++) {
		struct changes_tab *tab = &c->tab[t];
		struct changes_entry *e = &tab->cur;
		unsigned char k[ENTRY_KEY];

		if (!e->count)
			continue;
		e->b[0] = (char)CHANGES_TAG;
		put_le(e->b + 1, e->count, 4);
		put_le(e->b + 5, e->min_seq, 8);
		put_le(e->b + 13, e->min_time, 8);
		put_le(e->b + 21, tab->run_seq, 8);
		put_le(e->b + 29, tab->run_time, 8);
		put_le(e->b + 37, tab->total, 8);
		entry_key(k, t, tab->next);
		store_batch_put(b, STORE_CF_CHANGES, k, ENTRY_KEY, e->b, e->len);
	}
}

int changes_committed(struct changes_log *c, char **err)
{
	int ret = 0;

	for (int t = 0; c->on && t < CHANGES__TABLES; t++) {
		struct changes_tab *tab = &c->tab[t];
		const struct changes_ckpt *last;
		uint64_t interval;

		if (tab->cur.count) {
			tab->next++;
			tab->cur.count = 0;
			tab->cur.len = 0;
		}
		last = tab->nckpts ? &tab->ckpts[tab->nckpts - 1] : NULL;
		interval = c->min_interval;
		if (last && last->rows * CHANGES_CHECKPOINT_ROWS > interval)
			interval = last->rows * CHANGES_CHECKPOINT_ROWS;
		if (last && tab->total - last->total < interval)
			continue;
		if (write_checkpoint(c, t, err) || trim(c, t, err))
			ret = -1;
	}
	return ret;
}

size_t changes_pending(const struct changes_log *c)
{
	size_t n = 0;

	for (int t = 0; t < CHANGES__TABLES; t++)
		n += c->tab[t].cur.count > 0;
	return n;
}

/* ---- windows where events were lost ----------------------------------------- */

#define LOST_KEY	"lost"
#define LOST_KEY_LEN	4

void changes_lost_put(struct store_batch *b, uint64_t from_seq, uint64_t to_seq,
		      uint64_t from_time, uint64_t to_time)
{
	unsigned char k[LOST_KEY_LEN + 8];
	char v[24];

	memcpy(k, LOST_KEY, LOST_KEY_LEN);
	store_key_be64(k + LOST_KEY_LEN, from_seq);
	put_le(v, to_seq, 8);
	put_le(v + 8, from_time, 8);
	put_le(v + 16, to_time, 8);
	store_batch_put(b, STORE_CF_META, k, sizeof(k), v, sizeof(v));
}

int changes_lost_at(struct store *st, int kind, uint64_t bound, uint64_t *from_seq,
		    uint64_t *to_seq, uint64_t *from_time, uint64_t *to_time, char **err)
{
	struct store_iter *it = store_iter_new(st, STORE_CF_META);
	int found = 0;

	if (!it) {
		*err = store_errorf("changes: %s", strerror(ENOMEM));
		return -1;
	}
	for (store_iter_seek(it, LOST_KEY, LOST_KEY_LEN); !found && store_iter_valid(it);
	     store_iter_next(it)) {
		size_t klen, vlen;
		const char *k = store_iter_key(it, &klen), *v = store_iter_value(it, &vlen);

		if (klen != LOST_KEY_LEN + 8 || memcmp(k, LOST_KEY, LOST_KEY_LEN))
			break;
		if (vlen != 24)
			continue;
		*from_seq = store_key_get(k + LOST_KEY_LEN, 8);
		*to_seq = get_le(v, 8);
		*from_time = get_le(v + 8, 8);
		*to_time = get_le(v + 16, 8);
		found = kind == CHANGES_BY_SEQ ? bound > *from_seq && bound <= *to_seq
					       : bound > *from_time && bound <= *to_time;
	}
	if (!found && store_iter_error(it, err)) {
		store_iter_free(it);
		return -1;
	}
	store_iter_free(it);
	return found;
}

/* ---- reader ----------------------------------------------------------------- */

/*
 * The table being rebuilt: rows[] in arrival order, a hash index key ->
 * position (open addressing, linear probing; a deleted row keeps its slot
 * with row NULL, so no tombstones).
 */
struct replay {
	struct changes_row *rows;
	size_t n, cap;
	uint32_t *slots;	/* position + 1, 0 = empty */
	size_t nslots;
};

static uint64_t mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

static int rehash(struct replay *r, size_t nslots)
{
	uint32_t *s = calloc(nslots, sizeof(*s));

	if (!s)
		return -1;
	for (size_t i = 0; i < r->n; i++) {
		size_t h = mix(r->rows[i].key) & (nslots - 1);

		while (s[h])
			h = (h + 1) & (nslots - 1);
		s[h] = (uint32_t)(i + 1);
	}
	free(r->slots);
	r->slots = s;
	r->nslots = nslots;
	return 0;
}

/* Sets row @key to a copy of @row (or deletes it: @row NULL). 0, or -1 on ENOMEM. */
static int replay_set(struct replay *r, uint64_t key, const char *row, size_t len)
{
	size_t h;
	char *copy = NULL;

	if (row && !(copy = malloc(len ? len : 1)))
		return -1;
	if (copy)
		memcpy(copy, row, len);
	if ((r->n + 1) * 2 > r->nslots && rehash(r, r->nslots ? r->nslots * 2 : 1024)) {
		free(copy);
		return -1;
	}
	for (h = mix(key) & (r->nslots - 1); r->slots[h]; h = (h + 1) & (r->nslots - 1)) {
		struct changes_row *e = &r->rows[r->slots[h] - 1];

		if (e->key == key) {
			free(e->row);
			e->row = copy;
			e->len = len;
			return 0;
		}
	}
	if (!copy)
		return 0;	/* deleting a row that is not there */
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		struct changes_row *nr = realloc(r->rows, cap * sizeof(*nr));

		if (!nr) {
			free(copy);
			return -1;
		}
		r->rows = nr;
		r->cap = cap;
	}
	r->rows[r->n] = (struct changes_row){ .key = key, .row = copy, .len = len };
	r->slots[h] = (uint32_t)(++r->n);
	return 0;
}

static int by_key(const void *a, const void *b)
{
	uint64_t x = ((const struct changes_row *)a)->key, y = ((const struct changes_row *)b)->key;

	return x < y ? -1 : x > y;
}

/* Loads the parts of checkpoint @ck of table @t into @r. 0, -1 on error (*@err). */
static int load_checkpoint(struct store *st, enum changes_table t, const struct changes_ckpt *ck,
			   struct replay *r, char **err)
{
	struct store_iter *it = store_iter_new(st, STORE_CF_CHECKPOINTS);
	unsigned char k[PART_KEY];
	uint32_t parts = 0;

	if (!it) {
		*err = store_errorf("changes: %s", strerror(ENOMEM));
		return -1;
	}
	ckpt_key(k, 'D', t, ck->pos, 0);
	for (store_iter_seek(it, k, PART_KEY); on_prefix(it, k, CKPT_KEY, PART_KEY);
	     store_iter_next(it), parts++) {
		size_t vlen;
		const char *v = store_iter_value(it, &vlen), *p = v + 4, *end = v + vlen;
		uint32_t count = vlen >= 4 ? (uint32_t)get_le(v, 4) : 0;

		for (uint32_t i = 0; i < count; i++) {
			uint64_t key, len;

			if (end - p < 8)
				goto bad;
			key = get_le(p, 8);
			p += 8;
			if (!get_varint(&p, end, &len) || len > (uint64_t)(end - p))
				goto bad;
			if (replay_set(r, key, p, len)) {
				store_iter_free(it);
				*err = store_errorf("changes: %s", strerror(ENOMEM));
				return -1;
			}
			p += len;
		}
		if (p != end || vlen < 4)
			goto bad;
	}
	if (store_iter_error(it, err)) {
		store_iter_free(it);
		return -1;
	}
	store_iter_free(it);
	if (parts != ck->parts) {
		*err = store_errorf("changes: checkpoint %" PRIu64 " of table %d has %u of its %u parts",
			      ck->pos, t, parts, ck->parts);
		return -1;
	}
	return 0;
bad:
	store_iter_free(it);
	*err = store_errorf("changes: checkpoint %" PRIu64 " of table %d is malformed", ck->pos, t);
	return -1;
}

/* Applies the entries of table @t from @pos on, up to @bound. 0, or -1 and *@err. */
static int replay_entries(struct store *st, enum changes_table t, uint64_t pos, int kind,
			  uint64_t bound, struct replay *r, uint64_t *replayed, char **err)
{
	struct store_iter *it = store_iter_new(st, STORE_CF_CHANGES);
	unsigned char k[ENTRY_KEY];

	if (!it) {
		*err = store_errorf("changes: %s", strerror(ENOMEM));
		return -1;
	}
	entry_key(k, t, pos);
	for (store_iter_seek(it, k, ENTRY_KEY); on_prefix(it, k, 1, ENTRY_KEY);
	     store_iter_next(it)) {
		size_t vlen;
		const char *v = store_iter_value(it, &vlen), *p, *end = v + vlen;
		uint32_t count;

		if (vlen < ENTRY_HDR || (unsigned char)v[0] != CHANGES_TAG)
			goto bad;
		if (get_le(v + (kind == CHANGES_BY_SEQ ? 5 : 13), 8) > bound)
			break;	/* everything from here on is newer */
		count = (uint32_t)get_le(v + 1, 4);
		p = v + ENTRY_HDR;
		for (uint32_t i = 0; i < count; i++) {
			uint64_t key, seq, time, len = 0;
			int op;

			if (end - p < 25)
				goto bad;
			op = (unsigned char)*p;
			key = get_le(p + 1, 8);
			seq = get_le(p + 9, 8);
			time = get_le(p + 17, 8);
			p += 25;
			if (op == CHANGE_PUT &&
			    (!get_varint(&p, end, &len) || len > (uint64_t)(end - p)))
				goto bad;
			if (op != CHANGE_PUT && op != CHANGE_DEL)
				goto bad;
			if ((kind == CHANGES_BY_SEQ ? seq : time) <= bound) {
				if (replay_set(r, key, op == CHANGE_PUT ? p : NULL, len)) {
					store_iter_free(it);
					*err = store_errorf("changes: %s", strerror(ENOMEM));
					return -1;
				}
				(*replayed)++;
			}
			p += len;
		}
		if (p != end)
			goto bad;
	}
	if (store_iter_error(it, err)) {
		store_iter_free(it);
		return -1;
	}
	store_iter_free(it);
	return 0;
bad:
	store_iter_free(it);
	*err = store_errorf("changes: an entry of table %d is malformed", t);
	return -1;
}

/* The smallest seq and time of table @t's entry @pos: true, or false when there is none. */
static bool first_entry(struct store *st, enum changes_table t, uint64_t pos, uint64_t *seq,
			uint64_t *time)
{
	unsigned char k[ENTRY_KEY];
	char *v = NULL, *err = NULL;
	size_t vlen = 0;
	bool found;

	entry_key(k, t, pos);
	found = store_get(st, STORE_CF_CHANGES, k, ENTRY_KEY, &v, &vlen, &err) == 1 &&
		vlen >= ENTRY_HDR;
	if (found) {
		*seq = get_le(v + 5, 8);
		*time = get_le(v + 13, 8);
	}
	free(v);
	free(err);
	return found;
}

int changes_asof(struct store *st, enum changes_table t, enum changes_bound kind,
		 uint64_t bound, struct changes_state *out, uint64_t *oldest_seq,
		 uint64_t *oldest_time, char **err)
{
	struct changes_ckpt *ck;
	struct replay r = { 0 };
	size_t n, i, live = 0;

	memset(out, 0, sizeof(*out));
	if (read_index(st, t, &ck, &n, err))
		return -1;
	if (!n) {
		*err = store_errorf("no history of changes is kept (dbosd --retention 0)");
		return -1;
	}
	for (i = n; i > 0; i--)
		if ((kind == CHANGES_BY_SEQ ? ck[i - 1].seq : ck[i - 1].time) <= bound)
			break;
	if (i == 1 && !ck[0].rows && !ck[0].seq && !ck[0].time &&
	    first_entry(st, t, ck[0].pos, oldest_seq, oldest_time) &&
	    (kind == CHANGES_BY_SEQ ? *oldest_seq : *oldest_time) > bound)
		i = 0;	/* the beginning: nothing is known before the first change */
	else if (!i) {
		*oldest_seq = ck[0].seq;
		*oldest_time = ck[0].time;
	}
	if (!i) {
		free(ck);
		return 1;
	}
	if (load_checkpoint(st, t, &ck[i - 1], &r, err) ||
	    replay_entries(st, t, ck[i - 1].pos, kind, bound, &r, &out->replayed, err)) {
		free(ck);
		for (size_t j = 0; j < r.n; j++)
			free(r.rows[j].row);
		free(r.rows);
		free(r.slots);
		return -1;
	}
	free(ck);
	free(r.slots);
	for (size_t j = 0; j < r.n; j++)
		if (r.rows[j].row)
			r.rows[live++] = r.rows[j];
	qsort(r.rows, live, sizeof(*r.rows), by_key);
	out->rows = r.rows;
	out->n = live;
	return 0;
}

void changes_state_free(struct changes_state *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->rows[i].row);
	free(s->rows);
	memset(s, 0, sizeof(*s));
}
