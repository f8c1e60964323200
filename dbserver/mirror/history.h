/* SPDX-License-Identifier: GPL-2.0 */
/* history.h - one history table's retention: row counts per seq bucket, trimmed by whole buckets with one range delete. */
#ifndef DBOS_MIRROR_HISTORY_H
#define DBOS_MIRROR_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbserver/store/store.h"

/*
 * Rows are counted per key bucket (2^shift seqs wide, shift chosen so that
 * a bucket holds at most ~retention/64 rows). When more than retention + 10%
 * rows are stored, whole buckets are dropped from the oldest end with ONE
 * range delete, leaving at most @retention rows. Counts stay exact even
 * though history keys arrive out of order.
 */
struct hist_bucket {
	uint64_t id;		/* key >> shift */
	uint64_t count;		/* rows stored with keys in this bucket */
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
};

void history_init(struct history *h, enum store_cf cf, uint64_t retention);
void history_free(struct history *h);

/* history_wants - whether a row with key @seq is kept at all. */
static inline bool history_wants(const struct history *h, uint64_t seq)
{
	return h->retention && seq >= h->cut;
}

/* history_put - add the row @val under key @seq to @b and count it. 0, or -1 on ENOMEM. */
int history_put(struct history *h, struct store_batch *b, uint64_t seq,
		const void *val, size_t vlen);

/* history_trim - if over the limit, add the range delete of the oldest buckets to @b. */
void history_trim(struct history *h, struct store_batch *b);

/* history_count - count a row already stored under @seq (a caller's own load). 0, or -1 on ENOMEM. */
int history_count(struct history *h, uint64_t seq);

/*
 * history_load - count the rows stored in @h->cf (at startup); raises
 * *@max_seq to the largest key. 0, or -1 and *@err (free()).
 */
int history_load(struct history *h, struct store *st, uint64_t *max_seq, char **err);

#endif /* DBOS_MIRROR_HISTORY_H */
