/* SPDX-License-Identifier: GPL-2.0 */
/* sql_side.h - host tests that run dbosd's SQL side in-process: a kernel that accepts every policy version, the statistics callback, stored process_events rows. */
#ifndef DBOS_TEST_SQL_SIDE_H
#define DBOS_TEST_SQL_SIDE_H

#include <stdint.h>
#include <string.h>

#include "dbserver/policy/policy.h"
#include "dbserver/sql/schema.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/row.h"
#include "dbserver/store/store.h"
#include "tests/host/history_put.h"

/* The kernel as the policy manager sees it: accepts every version. */
struct test_kernel {
	uint64_t live, prepared;
};

static inline int test_kernel_prepare(void *arg, const struct policy_image *img, char **err)
{
	((struct test_kernel *)arg)->prepared = img->gen.version;
	return 0;
}

static inline void test_kernel_flip(void *arg)
{
	struct test_kernel *k = arg;

	k->live = k->prepared;
}

static inline uint64_t test_kernel_live(void *arg)
{
	return ((struct test_kernel *)arg)->live;
}

/* The policy manager's operations on @k. */
static inline struct policy_kernel_ops test_kernel_ops(struct test_kernel *k)
{
	return (struct policy_kernel_ops){ .prepare = test_kernel_prepare,
					   .flip = test_kernel_flip,
					   .live_version = test_kernel_live, .arg = k };
}

/* sql_env.stats as dbosd's: the manager's counters; @arg is a struct policy ** (NULL: none). */
static inline int test_policy_stats(void *arg, struct sql_stat *out, int max)
{
	struct policy **p = arg;

	return *p ? policy_stats(*p, out, max) : 0;
}

/* process_events rows 1..@n (pid 1000 + seq, exec of /usr/bin/true), as the mirror stores them: in chunks. */
static inline int test_store_events(struct store *st, uint64_t n, char **err)
{
	struct store_batch *b = store_batch_new();
	struct chunk_buf c = { 0 };
	int ret = -1;

	for (uint64_t seq = 1; seq <= n; seq++) {
		struct row_value v[PROCESS_EVENTS__COUNT];
		char buf[512];
		size_t len;

		for (int i = 0; i < PROCESS_EVENTS__COUNT; i++)
			v[i] = row_null();
		v[PROCESS_EVENTS_SEQ] = row_int((int64_t)seq);
		v[PROCESS_EVENTS_EVENT] = row_text("exec", 4);
		v[PROCESS_EVENTS_PID] = row_int(1000 + (int64_t)seq);
		v[PROCESS_EVENTS_PATH] = row_text("/usr/bin/true", 13);
		len = row_encode(v, PROCESS_EVENTS__COUNT, buf, sizeof(buf));
		if ((!c.count && chunk_start(&c, seq)) || chunk_append(&c, seq, buf, len)) {
			*err = strdup("out of memory");
			goto out;
		}
		if (c.count == CHUNK_MAX_ROWS || seq == n) {
			test_put_chunk(b, STORE_CF_PROCESS_EVENTS, &c);
			c.count = 0;
		}
	}
	ret = store_write(st, b, err);
out:
	chunk_buf_free(&c);
	store_batch_free(b);
	return ret;
}

#endif /* DBOS_TEST_SQL_SIDE_H */
