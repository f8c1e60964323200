// SPDX-License-Identifier: GPL-2.0
/* reorder.c - the reorder stage: per-CPU FIFOs of raw records merged by seq up to the watermarks' frontier. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/intake/reorder.h"

/* One CPU's stream: its held records back to back in buf[rd, wr). */
struct cpuq {
	unsigned char *buf;
	size_t rd, wr, cap;
	uint64_t pos;		/* nothing more from this CPU at or below this seq */
	bool known;		/* a record or a watermark came from it */
	bool has_wm;		/* a watermark came from it */
};

struct reorder {
	struct cpuq *q;
	uint32_t nq;		/* entries in q (the largest CPU id seen + 1) */
	uint32_t ncpus;		/* CPUs the module has (0: unknown) */
	uint32_t nwm;		/* CPUs that sent a watermark */
	uint64_t released;	/* the largest frontier records were released up to */
	size_t bytes;		/* held, in all FIFOs */
	struct reorder_stats st;
};

int reorder_new(uint32_t ncpus, struct reorder **out)
{
	struct reorder *r = calloc(1, sizeof(*r));

	*out = r;
	if (!r)
		return -ENOMEM;
	r->ncpus = ncpus;
	return 0;
}

void reorder_free(struct reorder *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->nq; i++)
		free(r->q[i].buf);
	free(r->q);
	free(r);
}

/* The FIFO of CPU @cpu, NULL when the table could not grow. */
static struct cpuq *queue_of(struct reorder *r, uint16_t cpu)
{
	if (cpu >= r->nq) {
		uint32_t n = r->nq ? r->nq : 4;
		struct cpuq *p;

		while (n <= cpu)
			n *= 2;
		p = realloc(r->q, n * sizeof(*p));
		if (!p)
			return NULL;
		memset(p + r->nq, 0, (n - r->nq) * sizeof(*p));
		r->q = p;
		r->nq = n;
	}
	return &r->q[cpu];
}

uint64_t reorder_frontier(const struct reorder *r)
{
	uint64_t f = UINT64_MAX;

	/* Every CPU must have spoken: one that has not may still send anything. */
	if (r->ncpus ? r->nwm < r->ncpus : r->nwm == 0)
		return 0;
	for (uint32_t i = 0; i < r->nq; i++)
		if (r->q[i].known && r->q[i].pos < f)
			f = r->q[i].pos;
	return f == UINT64_MAX ? 0 : f;
}

/* Room for @len more bytes at the end of @q's buffer. */
static int make_room(struct cpuq *q, size_t len)
{
	size_t cap;
	unsigned char *p;

	if (q->cap - q->wr >= len)
		return 0;
	if (q->rd) {
		memmove(q->buf, q->buf + q->rd, q->wr - q->rd);
		q->wr -= q->rd;
		q->rd = 0;
		if (q->cap - q->wr >= len)
			return 0;
	}
	cap = q->cap ? q->cap : 64 << 10;
	while (cap - q->wr < len)
		cap *= 2;
	p = realloc(q->buf, cap);
	if (!p)
		return -ENOMEM;
	q->buf = p;
	q->cap = cap;
	return 0;
}

int reorder_push(struct reorder *r, const struct dbos_rec_hdr *rec, const void *raw)
{
	struct cpuq *q = queue_of(r, rec->cpu);

	if (!q)
		return -ENOMEM;
	if ((q->known && rec->seq <= q->pos) || rec->seq <= r->released) {
		r->st.late++;
		return -EALREADY;
	}
	if (make_room(q, rec->len))
		return -ENOMEM;
	memcpy(q->buf + q->wr, raw, rec->len);
	q->wr += rec->len;
	q->pos = rec->seq;
	q->known = true;
	r->bytes += rec->len;
	if (++r->st.held > r->st.held_max)
		r->st.held_max = r->st.held;
	return 0;
}

void reorder_watermark(struct reorder *r, uint16_t cpu, uint64_t seq)
{
	struct cpuq *q = queue_of(r, cpu);

	if (!q)
		return;
	if (!q->has_wm) {
		q->has_wm = true;
		r->nwm++;
	}
	q->known = true;
	if (seq > q->pos)
		q->pos = seq;
}

static const struct dbos_rec_hdr *head_of(const struct cpuq *q)
{
	return q->rd < q->wr ? (const struct dbos_rec_hdr *)(q->buf + q->rd) : NULL;
}

/* Merge the FIFOs' heads up to @upto, smallest seq first. */
static size_t merge(struct reorder *r, uint64_t upto, uint64_t frontier, reorder_fn fn, void *arg)
{
	size_t n = 0;

	for (;;) {
		const struct dbos_rec_hdr *best = NULL, *h;
		struct cpuq *bq = NULL;

		for (uint32_t i = 0; i < r->nq; i++) {
			h = head_of(&r->q[i]);
			if (h && h->seq <= upto && (!best || h->seq < best->seq)) {
				best = h;
				bq = &r->q[i];
			}
		}
		if (!best)
			break;
		if (best->seq > frontier)
			r->st.forced++;
		bq->rd += best->len;
		r->bytes -= best->len;
		r->st.held--;
		fn(arg, best);	/* bq's buffer is not touched until the next push */
		if (bq->rd == bq->wr)
			bq->rd = bq->wr = 0;
		n++;
	}
	return n;
}

size_t reorder_release(struct reorder *r, reorder_fn fn, void *arg)
{
	uint64_t f;
	size_t n = 0;

	if (r->bytes > REORDER_MAX_BYTES)
		return reorder_release_all(r, fn, arg);
	f = reorder_frontier(r);
	if (f && r->st.held)
		n = merge(r, f, f, fn, arg);
	if (f > r->released)
		r->released = f;
	return n;
}

size_t reorder_release_all(struct reorder *r, reorder_fn fn, void *arg)
{
	return merge(r, UINT64_MAX, reorder_frontier(r), fn, arg);
}

void reorder_reset(struct reorder *r, uint32_t ncpus)
{
	for (uint32_t i = 0; i < r->nq; i++) {
		struct cpuq *q = &r->q[i];

		q->rd = q->wr = 0;
		q->pos = 0;
		q->known = q->has_wm = false;
	}
	r->ncpus = ncpus;
	r->nwm = 0;
	r->released = 0;
	r->bytes = 0;
	r->st.held = 0;
}

void reorder_stats(const struct reorder *r, struct reorder_stats *st)
{
	*st = r->st;
}
