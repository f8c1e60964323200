// SPDX-License-Identifier: GPL-2.0
/* memory.c - SQLite's allocator, wrapped to charge each allocation to the session of the thread that makes it. */

/*
 * USAGE
 *
 *   sql_init(&err);			// once, before anything else uses SQLite
 *   who.memory_limit = 256 << 20;	// sql_session: this client's budget
 *   sql_open_session(env, &who, &db, &err);	// on the thread that serves it
 *   ...
 *   CREATE TEMP TABLE t AS SELECT randomblob(1000) FROM ... ;
 *     -- statement stopped: this session reached its memory limit of
 *     -- 256 MiB (dbosd --session-memory)
 *
 * HOW IT WORKS
 *
 *   sqlite3_hard_heap_limit64() is one limit for the whole process: one
 *   client reaching it would make every other client's (and the policy
 *   manager's) allocations fail. What one client can make dbosd allocate is
 *   SQLite memory: its statements, temporary tables and indexes (temp_store
 *   is MEMORY, guard.c), sorts (which never spill to files then), strings
 *   and blobs it builds, its connection's schema and page cache. So the
 *   bound is put on SQLite's allocator: sql_init() installs methods
 *   (SQLITE_CONFIG_MALLOC) that wrap SQLite's own and put a 16-byte header
 *   before each block: its size and the account it is charged to.
 *
 *   The account is the one of the calling thread (thread-local), set by
 *   sql_open_session() for a session with a limit: dbosd serves each
 *   client on its own thread, and everything SQLite allocates on that
 *   thread is for that client (including work its statements make the
 *   policy manager's connection do). An allocation that would take the
 *   account over its limit fails: SQLite turns that into SQLITE_NOMEM for
 *   the statement, which ends; the connection stays usable, and
 *   sql_errmsg() says which limit it was. A block is credited back to the
 *   account it was charged to whichever thread frees it; an account lives
 *   until its session is closed and its last block is freed (a reference
 *   per block). Threads without a session (intake, policy manager, main)
 *   allocate uncharged. SQLite's sorter threads would allocate elsewhere:
 *   SQLITE_LIMIT_WORKER_THREADS is 0 (guard.c).
 *
 *   The endpoint's buffers for a client (its request, the rows waiting to
 *   be sent) come from sqlite3_realloc64() on that thread, so they are
 *   charged too (endpoint.h, cfg.nomem; sql_nomem_errmsg() names the limit).
 *   What it does not bound: RocksDB's memory (bounded by the store's own
 *   budgets), and memory SQLite allocated before sql_init.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/sql/sql_int.h"

#define HDR	16	/* keeps SQLite's 8-byte alignment */

struct sql_account {
	atomic_uint_fast64_t used;	/* bytes charged */
	uint64_t limit;
	atomic_long refs;		/* the session's, plus one per block */
	atomic_bool hit;		/* an allocation was refused since the last report */
};

struct hdr {
	uint64_t size;
	struct sql_account *acct;
};

static sqlite3_mem_methods inner;
static atomic_bool installed;
static _Thread_local struct sql_account *current;

static void account_unref(struct sql_account *a)
{
	if (a && atomic_fetch_sub(&a->refs, 1) == 1)
		free(a);
}

/* Charges @n bytes to @a: false (and @a->hit) when it would exceed the limit. */
static bool charge(struct sql_account *a, uint64_t n)
{
	uint64_t before = atomic_fetch_add(&a->used, n);

	if (before + n > a->limit) {
		atomic_fetch_sub(&a->used, n);
		atomic_store(&a->hit, true);
		return false;
	}
	return true;
}

static void *mem_malloc(int n)
{
	struct sql_account *a = current;
	struct hdr *h;

	if (n < 0 || (a && !charge(a, (uint64_t)n)))
		return NULL;
	h = inner.xMalloc(n + HDR);
	if (!h) {
		if (a)
			atomic_fetch_sub(&a->used, (uint64_t)n);
		return NULL;
	}
	h->size = (uint64_t)n;
	h->acct = a;
	if (a)
		atomic_fetch_add(&a->refs, 1);
	return (char *)h + HDR;
}

static void mem_free(void *p)
{
	struct hdr *h;

	if (!p)
		return;
	h = (struct hdr *)((char *)p - HDR);
	if (h->acct) {
		atomic_fetch_sub(&h->acct->used, h->size);
		account_unref(h->acct);
	}
	inner.xFree(h);
}

static void *mem_realloc(void *p, int n)
{
	struct hdr *h = (struct hdr *)((char *)p - HDR), *nh;
	struct sql_account *a = h->acct;
	uint64_t old = h->size;

	if (n < 0)
		return NULL;
	if (a && (uint64_t)n > old && !charge(a, (uint64_t)n - old))
		return NULL;
	nh = inner.xRealloc(h, n + HDR);
	if (!nh) {
		if (a && (uint64_t)n > old)
			atomic_fetch_sub(&a->used, (uint64_t)n - old);
		return NULL;
	}
	if (a && (uint64_t)n < old)
		atomic_fetch_sub(&a->used, old - (uint64_t)n);
	nh->size = (uint64_t)n;
	return (char *)nh + HDR;
}

static int mem_size(void *p)
{
	return p ? (int)((struct hdr *)((char *)p - HDR))->size : 0;
}

static int mem_roundup(int n)
{
	return (n + 7) & ~7;
}

static int mem_init(void *arg)
{
	return inner.xInit(inner.pAppData);
}

static void mem_shutdown(void *arg)
{
	inner.xShutdown(inner.pAppData);
}

int sql_init(char **err)
{
	static const sqlite3_mem_methods wrap = {
		.xMalloc = mem_malloc, .xFree = mem_free, .xRealloc = mem_realloc,
		.xSize = mem_size, .xRoundup = mem_roundup, .xInit = mem_init,
		.xShutdown = mem_shutdown,
	};
	int rc;

	if (atomic_load(&installed))
		return 0;
	/* Nothing may be open: SQLite is configured only while shut down. */
	rc = sqlite3_shutdown();
	if (rc == SQLITE_OK)
		rc = sqlite3_config(SQLITE_CONFIG_GETMALLOC, &inner);
	if (rc == SQLITE_OK)
		rc = sqlite3_config(SQLITE_CONFIG_MALLOC, &wrap);
	if (rc == SQLITE_OK)
		rc = sqlite3_initialize();
	if (rc != SQLITE_OK) {
		*err = strdup("cannot set SQLite's allocator up for per-session memory limits "
			      "(was SQLite used before sql_init?)");
		return -1;
	}
	atomic_store(&installed, true);
	return 0;
}

struct sql_account *memory_account_bind(uint64_t limit)
{
	struct sql_account *a;

	if (!atomic_load(&installed))
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->limit = limit;
	atomic_init(&a->refs, 1);
	current = a;
	return a;
}

void memory_account_release(struct sql_account *a)
{
	if (!a)
		return;
	if (current == a)
		current = NULL;
	account_unref(a);
}

bool memory_limit_hit(uint64_t *limit)
{
	struct sql_account *a = current;

	if (!a || !atomic_exchange(&a->hit, false))
		return false;
	*limit = a->limit;
	return true;
}
