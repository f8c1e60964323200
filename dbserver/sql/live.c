// SPDX-License-Identifier: GPL-2.0
/* live.c - a cursor's batch of what the kernel says now of the processes it reads (DBOS_CMD_GET_LIVE, kernel/live.c). */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/kernel/kernel.h"
#include "dbserver/sql/live.h"

struct live_batch {
	struct kernel_live **sk;	/* the session's socket (NULL until opened) */
	bool off;			/* the kernel cannot be asked: every pid "not found" */
	struct live_row rows[LIVE_BATCH];
	size_t n;
	size_t hint;			/* where the last search ended (index_of()) */
	char *strs;			/* every row's strings, back to back */
	size_t slen, scap;
	bool nomem;
};

struct live_batch *live_new(struct kernel_live **sk)
{
	struct live_batch *b = sqlite3_malloc64(sizeof(*b));

	if (b) {
		memset(b, 0, sizeof(*b));
		b->sk = sk;
	}
	return b;
}

void live_free(struct live_batch *b)
{
	if (!b)
		return;
	sqlite3_free(b->strs);
	sqlite3_free(b);
}

/*
 * The row of @pid in @b (b->n when it was not asked for), looked for from where
 * the last search ended: the kernel answers, and a scan reads, in the order asked.
 */
static size_t index_of(struct live_batch *b, uint32_t pid)
{
	size_t i;

	for (i = b->hint; i < b->n && b->rows[i].pid != pid; i++)
		;
	if (i == b->n)
		for (i = 0; i < b->hint && b->rows[i].pid != pid; i++)
			;
	if (i < b->n && b->rows[i].pid == pid) {
		b->hint = i;
		return i;
	}
	return b->n;
}

/* One process the kernel reported: into its row. */
static void got(void *arg, const struct dbos_live *v, const char *strings)
{
	struct live_batch *b = arg;
	size_t len = (size_t)v->cwd_len + v->root_len + v->cgroup_len;
	size_t i;

	i = index_of(b, v->pid);
	if (i == b->n)
		return;			/* not asked for: ignore */
	if (b->slen + len > b->scap) {
		size_t cap = (b->slen + len) * 2 + 1024;
		char *nb = sqlite3_realloc64(b->strs, cap);

		if (!nb) {
			b->nomem = true;
			return;
		}
		b->strs = nb;
		b->scap = cap;
	}
	memcpy(b->strs + b->slen, strings, len);
	b->rows[i].found = true;
	b->rows[i].v = *v;
	b->rows[i].str = b->slen;
	b->slen += len;
}

int live_fetch(struct live_batch *b, const uint32_t *pids, size_t n, uint32_t parts)
{
	char *err = NULL;

	if (n > LIVE_BATCH)
		n = LIVE_BATCH;
	b->n = n;
	b->hint = 0;
	b->slen = 0;
	b->nomem = false;
	for (size_t i = 0; i < n; i++)
		b->rows[i] = (struct live_row){ .pid = pids[i] };
	if (n == 0)
		return 0;
	if (!b->off && !*b->sk && kernel_live_open(b->sk, &err))
		b->off = true;
	if (!b->off && kernel_live_get(*b->sk, pids, n, parts, got, b, &err)) {
		/* a refusal or a lost module: the rows keep their mirrored values */
		b->off = true;
		kernel_live_close(*b->sk);
		*b->sk = NULL;
		for (size_t i = 0; i < n; i++)
			b->rows[i].found = false;
	}
	free(err);
	b->hint = 0;
	if (b->nomem) {
		b->n = 0;
		return -ENOMEM;
	}
	return 0;
}

const struct live_row *live_find(struct live_batch *b, uint32_t pid, const char **s)
{
	size_t i = index_of(b, pid);

	if (i == b->n)
		return NULL;
	*s = b->strs ? b->strs + b->rows[i].str : "";
	return &b->rows[i];
}
