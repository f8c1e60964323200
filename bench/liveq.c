// SPDX-License-Identifier: GPL-2.0
/*
 * liveq.c - times one query through libdbos, repeated: "ms_per_query M rows R".
 * Usage: bench_liveq N SQL   (SQL may hold one %d: replaced by the repetition's pid
 * from the processes table, for point lookups)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbos_client.h"

struct pids {
	long long *v;
	int n, cap;
	long rows;
};

static int on_pid(void *arg, int ncol, const struct dbos_value *v)
{
	struct pids *p = arg;

	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 1024;
		p->v = realloc(p->v, p->cap * sizeof(*p->v));
		if (!p->v)
			return -1;
	}
	p->v[p->n++] = v[0].i;
	return 0;
}

static int on_row(void *arg, int ncol, const struct dbos_value *v)
{
	((struct pids *)arg)->rows++;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct dbos_callbacks pid_cb = { .on_row = on_pid }, row_cb = { .on_row = on_row };
	struct pids p = { 0 };
	struct dbos_conn *c;
	struct timespec a, b;
	char *err = NULL, q[1024];
	int n;

	if (argc != 3 || (n = atoi(argv[1])) <= 0) {
		fprintf(stderr, "usage: %s N SQL\n", argv[0]);
		return 2;
	}
	c = dbos_connect(NULL, &err);
	if (!c || dbos_query(c, "SELECT pid FROM processes", &pid_cb, &p, &err) || !p.n) {
		fprintf(stderr, "liveq: %s\n", err ? err : "no processes");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++) {
		snprintf(q, sizeof(q), argv[2], (int)p.v[i * 7919 % p.n]);
		if (dbos_query(c, q, &row_cb, &p, &err)) {
			fprintf(stderr, "liveq: %s\n", err);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("ms_per_query %.3f rows %ld\n",
	       ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / n, p.rows / n);
	dbos_close(c);
	return 0;
}
