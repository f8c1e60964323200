// SPDX-License-Identifier: GPL-2.0
/* fdtab.c - hash maps and fd vectors of the files mirror (see fdtab.h). */
#include <stdlib.h>
#include <string.h>

#include "dbserver/mirror/fdtab.h"

static uint32_t slot_of(const struct ptrmap *m, uint64_t key)
{
	return (uint32_t)((key * 0x9E3779B97F4A7C15ULL) >> 32) & m->mask;
}

int ptrmap_init(struct ptrmap *m, uint32_t hint)
{
	uint32_t cap = 16;

	while (cap < hint * 2)
		cap *= 2;
	m->slots = calloc(cap, sizeof(*m->slots));
	m->mask = cap - 1;
	m->used = 0;
	return m->slots ? 0 : -1;
}

void ptrmap_free(struct ptrmap *m)
{
	free(m->slots);
	m->slots = NULL;
}

void *ptrmap_get(const struct ptrmap *m, uint64_t key)
{
	for (uint32_t i = slot_of(m, key);; i = (i + 1) & m->mask) {
		if (!m->slots[i].val)
			return NULL;
		if (m->slots[i].key == key)
			return m->slots[i].val;
	}
}

static int grow(struct ptrmap *m)
{
	struct ptrmap old = *m;

	if (ptrmap_init(m, (old.mask + 1)))	/* twice the capacity */
		goto fail;
	for (uint32_t i = 0; i <= old.mask; i++)
		if (old.slots[i].val && ptrmap_put(m, old.slots[i].key, old.slots[i].val))
			goto fail_new;
	free(old.slots);
	return 0;
fail_new:
	free(m->slots);
fail:
	*m = old;
	return -1;
}

int ptrmap_put(struct ptrmap *m, uint64_t key, void *val)
{
	uint32_t i;

	if ((m->used + 1) * 4 > (m->mask + 1) * 3 && grow(m))
		return -1;
	for (i = slot_of(m, key); m->slots[i].val; i = (i + 1) & m->mask) {
		if (m->slots[i].key == key) {
			m->slots[i].val = val;
			return 0;
		}
	}
	m->slots[i].key = key;
	m->slots[i].val = val;
	m->used++;
	return 0;
}

void *ptrmap_del(struct ptrmap *m, uint64_t key)
{
	uint32_t i, j;
	void *val;

	for (i = slot_of(m, key);; i = (i + 1) & m->mask) {
		if (!m->slots[i].val)
			return NULL;
		if (m->slots[i].key == key)
			break;
	}
	val = m->slots[i].val;
	/* Backward-shift deletion: no markers left behind. */
	for (j = (i + 1) & m->mask; m->slots[j].val; j = (j + 1) & m->mask) {
		uint32_t home = slot_of(m, m->slots[j].key);

		/* Move j into the hole at i unless its home lies in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].val = NULL;
	m->slots[i].key = 0;
	m->used--;
	return val;
}

struct fdent *fdproc_find(const struct fdproc *p, uint32_t fd, uint32_t *pos)
{
	uint32_t lo = 0, hi = p->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (p->v[mid].fd < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return lo < p->n && p->v[lo].fd == fd ? &p->v[lo] : NULL;
}

struct fdent *fdproc_insert(struct fdproc *p, uint32_t fd, uint32_t pos)
{
	if (p->n == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 8;
		struct fdent *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		p->v = v;
		p->cap = cap;
	}
	memmove(&p->v[pos + 1], &p->v[pos], (p->n - pos) * sizeof(*p->v));
	p->n++;
	memset(&p->v[pos], 0, sizeof(p->v[pos]));
	p->v[pos].fd = fd;
	return &p->v[pos];
}

void fdent_free(struct fdent *e)
{
	free(e->path);
}

void fdproc_remove(struct fdproc *p, uint32_t i)
{
	fdent_free(&p->v[i]);
	memmove(&p->v[i], &p->v[i + 1], (p->n - i - 1) * sizeof(*p->v));
	p->n--;
}

void sockent_free(struct sockent *so)
{
	if (!so)
		return;
	free(so->path);
	free(so->peer_path);
	free(so);
}
