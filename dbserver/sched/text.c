// SPDX-License-Identifier: GPL-2.0
/* text.c - CPU lists and scheduling policy names, as users write them and /proc shows them. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbserver/sched/sched.h"

#define NCPUS	(DBOS_CPUS_MAX * 8)

static int cpu_num(const char **p, unsigned long *out, char *why, size_t size)
{
	char *end;

	while (**p == ' ')
		(*p)++;
	if (**p < '0' || **p > '9') {
		snprintf(why, size, "a CPU list is numbers and ranges like '0-3,5'");
		return -1;
	}
	*out = strtoul(*p, &end, 10);
	*p = end;
	while (**p == ' ')
		(*p)++;
	if (*out >= NCPUS) {
		snprintf(why, size, "CPU %lu is beyond %d", *out, NCPUS - 1);
		return -1;
	}
	return 0;
}

int sched_cpus_parse(const char *list, uint8_t cpus[DBOS_CPUS_MAX], uint16_t *len,
		     char *why, size_t size)
{
	const char *p = list;
	unsigned long hi = 0;

	memset(cpus, 0, DBOS_CPUS_MAX);
	*len = 0;
	if (!p || !*p) {
		snprintf(why, size, "the CPU list is empty");
		return -1;
	}
	for (;;) {
		unsigned long a, b;

		if (cpu_num(&p, &a, why, size))
			return -1;
		b = a;
		if (*p == '-') {
			p++;
			if (cpu_num(&p, &b, why, size))
				return -1;
			if (b < a) {
				snprintf(why, size, "CPU range %lu-%lu runs backwards", a, b);
				return -1;
			}
		}
		for (unsigned long c = a; c <= b; c++)
			cpus[c / 8] |= 1u << (c % 8);
		if (b > hi)
			hi = b;
		if (!*p)
			break;
		if (*p != ',') {
			snprintf(why, size, "a CPU list is numbers and ranges like '0-3,5'");
			return -1;
		}
		p++;
	}
	*len = hi / 8 + 1;
	return 0;
}

void sched_cpus_format(const uint8_t *cpus, size_t len, char *out, size_t size)
{
	size_t off = 0;

	out[0] = 0;
	for (size_t c = 0; c < len * 8 && off < size; c++) {
		size_t e = c;

		if (!(cpus[c / 8] & (1u << (c % 8))))
			continue;
		while (e + 1 < len * 8 && (cpus[(e + 1) / 8] & (1u << ((e + 1) % 8))))
			e++;
		off += e == c ? snprintf(out + off, size - off, "%s%zu", off ? "," : "", c) :
				snprintf(out + off, size - off, "%s%zu-%zu", off ? "," : "", c, e);
		c = e;
	}
}

static const char *const names[] = {
	[SCHED_OTHER] = "other", [SCHED_FIFO] = "fifo", [SCHED_RR] = "rr",
	[SCHED_BATCH] = "batch", [SCHED_IDLE] = "idle", [6] = "deadline",
};

int sched_policy_parse(const char *name)
{
	for (int i = 0; name && i < 6; i++)	/* deadline is not settable */
		if (names[i] && !strcasecmp(name, names[i]))
			return i;
	return -1;
}

const char *sched_policy_name(uint32_t policy)
{
	return policy < sizeof(names) / sizeof(names[0]) ? names[policy] : NULL;
}
