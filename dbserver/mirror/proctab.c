// SPDX-License-Identifier: GPL-2.0
/* proctab.c - open-addressing (linear probing) hash of pid -> struct proc_slot. */
#include <stdlib.h>
#include <string.h>

#include "dbserver/mirror/proctab.h"

static uint32_t home(const struct proctab *t, uint32_t pid)
{
	return (pid * 0x9E3779B1u) & t->mask;
}

int proc_str_set(struct proc_str *s, const char *p, size_t n)
{
	if (n > s->cap) {
		size_t cap = s->cap ? s->cap : 32;
		char *np;

		while (cap < n)
			cap *= 2;
		np = realloc(s->p, cap);
		if (!np)
			return -1;
		s->p = np;
		s->cap = (uint32_t)cap;
	}
	if (n)
		memcpy(s->p, p, n);
	s->len = (uint32_t)n;
	return 0;
}

int proctab_init(struct proctab *t, uint32_t hint)
{
	uint32_t cap = 1024;

	while (cap < hint * 2 && cap < (1U << 30))
		cap <<= 1;
	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots)
		return -1;
	t->mask = cap - 1;
	t->used = 0;
	return 0;
}

void proctab_free(struct proctab *t)
{
	free(t->slots);
	t->slots = NULL;
	t->mask = 0;
	t->used = 0;
}

static int grow(struct proctab *t)
{
	struct proctab n = { 0 };
	uint32_t cap = (t->mask + 1) * 2;

	n.slots = calloc(cap, sizeof(*n.slots));
	if (!n.slots)
		return -1;
	n.mask = cap - 1;
	for (uint32_t i = 0; i <= t->mask; i++) {
		struct proc_slot *s = &t->slots[i];
		uint32_t j;

		if (!s->pid)
			continue;
		for (j = home(&n, s->pid); n.slots[j].pid; j = (j + 1) & n.mask)
			;
		n.slots[j] = *s;
	}
	n.used = t->used;
	free(t->slots);
	*t = n;
	return 0;
}

struct proc_slot *proctab_insert(struct proctab *t, uint32_t pid)
{
	struct proc_slot *s = proctab_find(t, pid);
	uint32_t i;

	if (s)
		return s;
	/* Keep the load factor under 0.7: probe sequences stay short. */
	if ((uint64_t)(t->used + 1) * 10 > (uint64_t)(t->mask + 1) * 7 && grow(t))
		return NULL;
	for (i = home(t, pid); t->slots[i].pid; i = (i + 1) & t->mask)
		;
	s = &t->slots[i];
	memset(s, 0, sizeof(*s));
	s->pid = pid;
	t->used++;
	return s;
}

void proctab_remove(struct proctab *t, struct proc_slot *s)
{
	uint32_t i = (uint32_t)(s - t->slots), j = i;

	/*
	 * Backward-shift deletion: move later members of the probe run into
	 * the hole when their home slot does not lie cyclically in (i, j].
	 */
	for (;;) {
		j = (j + 1) & t->mask;
		if (!t->slots[j].pid)
			break;
		uint32_t h = home(t, t->slots[j].pid);

		if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
			continue;
		t->slots[i] = t->slots[j];
		i = j;
	}
	memset(&t->slots[i], 0, sizeof(t->slots[i]));
	t->used--;
}
