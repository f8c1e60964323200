// SPDX-License-Identifier: GPL-2.0
/*
 * buffer_test.c - KUnit suite "dbos_ring": the per-CPU record ring of
 * kmod/buffer.c (reserve/commit/peek/consume, wrap-around with PAD fillers,
 * drop counting, cpu_seq accounting, consumer kicks).
 *
 * kmod/buffer.c is compiled into this test module (it is included below), so
 * its static helpers are reachable and dbos.ko needs no test hooks. Every
 * test works on a ring over memory of its own; nothing here touches the
 * module's per-CPU rings.
 */

#include "../../kmod/buffer.c"

#include <kunit/test.h>
#include <linux/prandom.h>

/* Put a record of @len bytes numbered @n into @ring; false if it was dropped. */
static bool put(struct kunit *test, struct dbos_ring *ring, u32 len, u32 n,
		bool *kick)
{
	struct dbos_rec_hdr *hdr;
	u32 cpu_seq;

	hdr = dbos_ring_reserve(ring, len, &cpu_seq);
	if (!hdr)
		return false;
	KUNIT_EXPECT_TRUE(test, IS_ALIGNED((unsigned long)hdr, 8));
	KUNIT_EXPECT_PTR_NE(test, hdr, NULL);
	memset(hdr, 0xa5, len);
	hdr->type = DBOS_REC_FORK;
	hdr->len = len;
	hdr->cpu_seq = cpu_seq;
	hdr->seq = n;
	*kick = dbos_ring_commit(ring);
	return true;
}

/* Take the oldest record out of @ring: its seq, or -1 if the ring is empty. */
static s64 take(struct kunit *test, struct dbos_ring *ring, u32 *lenp)
{
	const struct dbos_rec_hdr *hdr;
	u32 len;
	s64 n;

	hdr = dbos_ring_peek(ring, &len);
	if (!hdr)
		return -1;
	KUNIT_EXPECT_EQ(test, hdr->type, DBOS_REC_FORK);
	KUNIT_EXPECT_EQ(test, (u32)hdr->len, len);
	n = hdr->seq;
	if (lenp)
		*lenp = len;
	dbos_ring_consume(ring, len);
	return n;
}

static struct dbos_ring *new_ring(struct kunit *test, u32 size)
{
	struct dbos_ring *ring = kunit_kzalloc(test, sizeof(*ring), GFP_KERNEL);
	void *data = kunit_kzalloc(test, size, GFP_KERNEL);

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ring);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, data);
	dbos_ring_init(ring, data, size);
	return ring;
}

static void dbos_ring_init_test(struct kunit *test)
{
	struct dbos_ring *ring = new_ring(test, 64);
	u32 len = 12345;

	KUNIT_EXPECT_EQ(test, ring->size, 64U);
	KUNIT_EXPECT_EQ(test, ring->head, 0U);
	KUNIT_EXPECT_EQ(test, ring->tail, 0U);
	KUNIT_EXPECT_EQ(test, ring->cpu_seq, 0U);
	KUNIT_EXPECT_EQ(test, ring->produced, 0ULL);
	KUNIT_EXPECT_EQ(test, ring->dropped, 0ULL);
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 0U);
	KUNIT_EXPECT_PTR_EQ(test, dbos_ring_peek(ring, &len), NULL);
	KUNIT_EXPECT_EQ(test, len, 12345U);	/* untouched when empty */
}

/* reserve -> commit -> peek -> consume: the record comes back unchanged. */
static void dbos_ring_reserve_test(struct kunit *test)
{
	struct dbos_ring *ring = new_ring(test, 256);
	const struct dbos_rec_hdr *peeked;
	struct dbos_rec_hdr *hdr;
	u32 cpu_seq = 0, len = 0;

	hdr = dbos_ring_reserve(ring, 48, &cpu_seq);
	KUNIT_ASSERT_PTR_EQ(test, (void *)hdr, (void *)ring->data);
	KUNIT_EXPECT_EQ(test, cpu_seq, 1U);
	KUNIT_EXPECT_EQ(test, ring->produced, 1ULL);
	KUNIT_EXPECT_EQ(test, ring->next_head, 48U);
	/* Not visible before the commit. */
	KUNIT_EXPECT_EQ(test, ring->head, 0U);
	KUNIT_EXPECT_PTR_EQ(test, dbos_ring_peek(ring, &len), NULL);

	hdr->type = DBOS_REC_EXEC;
	hdr->len = 48;
	hdr->seq = 77;
	KUNIT_EXPECT_TRUE(test, dbos_ring_commit(ring));	/* was empty: kick */
	KUNIT_EXPECT_EQ(test, ring->head, 48U);
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 48U);

	peeked = dbos_ring_peek(ring, &len);
	KUNIT_ASSERT_PTR_EQ(test, peeked, (const struct dbos_rec_hdr *)hdr);
	KUNIT_EXPECT_EQ(test, len, 48U);
	KUNIT_EXPECT_EQ(test, peeked->type, DBOS_REC_EXEC);
	KUNIT_EXPECT_EQ(test, peeked->seq, 77ULL);
	/* Peeking again returns the same record: only consume releases it. */
	KUNIT_EXPECT_PTR_EQ(test, dbos_ring_peek(ring, &len), peeked);

	dbos_ring_consume(ring, len);
	KUNIT_EXPECT_EQ(test, ring->tail, 48U);
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 0U);
	KUNIT_EXPECT_PTR_EQ(test, dbos_ring_peek(ring, &len), NULL);
	KUNIT_EXPECT_EQ(test, ring->dropped, 0ULL);
}

/* Records come out in the order they went in; consume advances exactly len. */
static void dbos_ring_consume_test(struct kunit *test)
{
	struct dbos_ring *ring = new_ring(test, 512);
	bool kick;
	u32 i, len;

	for (i = 1; i <= 5; i++)
		KUNIT_ASSERT_TRUE(test, put(test, ring, 8 * (i + 4), i, &kick));
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 8U * (5 + 6 + 7 + 8 + 9));
	for (i = 1; i <= 5; i++) {
		KUNIT_EXPECT_EQ(test, take(test, ring, &len), (s64)i);
		KUNIT_EXPECT_EQ(test, len, 8 * (i + 4));
	}
	KUNIT_EXPECT_EQ(test, take(test, ring, NULL), -1LL);
	KUNIT_EXPECT_EQ(test, ring->tail, ring->head);
}

/* The consumer is kicked when the ring was empty or the record crosses half. */
static void dbos_ring_commit_test(struct kunit *test)
{
	struct dbos_ring *ring = new_ring(test, 256);
	bool kick;

	KUNIT_ASSERT_TRUE(test, put(test, ring, 64, 1, &kick));
	KUNIT_EXPECT_TRUE(test, kick);		/* empty before */
	KUNIT_ASSERT_TRUE(test, put(test, ring, 32, 2, &kick));
	KUNIT_EXPECT_FALSE(test, kick);		/* 96 of 256 used */
	KUNIT_ASSERT_TRUE(test, put(test, ring, 32, 3, &kick));
	KUNIT_EXPECT_TRUE(test, kick);		/* 128: reaches half */
	KUNIT_ASSERT_TRUE(test, put(test, ring, 32, 4, &kick));
	KUNIT_EXPECT_FALSE(test, kick);		/* already past half */

	/* Consumer empties it: the next record kicks again. */
	while (take(test, ring, NULL) >= 0)
		;
	KUNIT_ASSERT_TRUE(test, put(test, ring, 16, 5, &kick));
	KUNIT_EXPECT_TRUE(test, kick);
}

/*
 * A record that does not fit before the end goes to offset 0, behind a PAD
 * filler that the consumer skips and releases.
 */
static void dbos_ring_reserve_wrap_test(struct kunit *test)
{
	struct dbos_ring *ring = new_ring(test, 128);
	const struct dbos_rec_hdr *pad;
	bool kick;
	u32 len;

	KUNIT_ASSERT_TRUE(test, put(test, ring, 48, 1, &kick));
	KUNIT_ASSERT_TRUE(test, put(test, ring, 48, 2, &kick));
	KUNIT_EXPECT_EQ(test, ring->head, 96U);
	KUNIT_EXPECT_EQ(test, take(test, ring, NULL), 1LL);	/* tail 48 */

	/* 40 bytes do not fit in the 32 left at the end: PAD + wrap. */
	KUNIT_ASSERT_TRUE(test, put(test, ring, 40, 3, &kick));
	pad = (const void *)(ring->data + 96);
	KUNIT_EXPECT_EQ(test, pad->type, DBOS_REC_PAD);
	KUNIT_EXPECT_EQ(test, (u32)pad->len, 32U);
	KUNIT_EXPECT_EQ(test, ring->head, 40U);
	/* Used bytes count the filler too: 96..128 and 0..40, plus record 2. */
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 128U - 48 + 40);

	KUNIT_EXPECT_EQ(test, take(test, ring, &len), 2LL);
	KUNIT_EXPECT_EQ(test, ring->tail, 96U);
	KUNIT_EXPECT_EQ(test, take(test, ring, &len), 3LL);	/* skips PAD */
	KUNIT_EXPECT_EQ(test, len, 40U);
	KUNIT_EXPECT_EQ(test, ring->tail, 40U);
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 0U);
	KUNIT_EXPECT_EQ(test, ring->dropped, 0ULL);
}

/*
 * A record may end exactly at the end of the memory (head wraps to 0) unless
 * tail is at 0: head would then catch up with tail and the full ring would
 * look empty.
 */
static void dbos_ring_reserve_exact_end_test(struct kunit *test)
{
	struct dbos_ring *ring = new_ring(test, 128);
	u32 cpu_seq;
	bool kick;

	KUNIT_ASSERT_TRUE(test, put(test, ring, 64, 1, &kick));
	/* tail == 0: 64 more would fill the ring completely. */
	KUNIT_EXPECT_PTR_EQ(test, dbos_ring_reserve(ring, 64, &cpu_seq), NULL);
	KUNIT_EXPECT_EQ(test, ring->dropped, 1ULL);
	KUNIT_ASSERT_TRUE(test, put(test, ring, 32, 2, &kick));
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 96U);

	KUNIT_EXPECT_EQ(test, take(test, ring, NULL), 1LL);	/* tail 64 */
	KUNIT_ASSERT_TRUE(test, put(test, ring, 32, 3, &kick));	/* ends at 128 */
	KUNIT_EXPECT_EQ(test, ring->head, 0U);
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 64U);
	KUNIT_EXPECT_EQ(test, take(test, ring, NULL), 2LL);
	KUNIT_EXPECT_EQ(test, take(test, ring, NULL), 3LL);
	KUNIT_EXPECT_EQ(test, ring->tail, 0U);	/* consume wrapped it */
	KUNIT_EXPECT_EQ(test, take(test, ring, NULL), -1LL);
}

/*
 * A full ring drops records and counts them; cpu_seq counts every record
 * produced, so the consumer sees the holes. At least 8 bytes stay unused.
 */
static void dbos_ring_reserve_full_test(struct kunit *test)
{
	struct dbos_ring *ring = new_ring(test, 320);
	u32 cpu_seq, i, stored = 0;
	bool kick;

	for (i = 1; i <= 20; i++)
		stored += put(test, ring, 40, i, &kick);
	KUNIT_EXPECT_EQ(test, stored, 7U);	/* 7 * 40 = 280; 320 would be full */
	KUNIT_EXPECT_EQ(test, ring->produced, 20ULL);
	KUNIT_EXPECT_EQ(test, ring->dropped, 13ULL);
	KUNIT_EXPECT_EQ(test, ring->cpu_seq, 20U);
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 280U);

	/* Room for 32 more bytes but not 40: the smaller record fits. */
	KUNIT_EXPECT_PTR_EQ(test, dbos_ring_reserve(ring, 40, &cpu_seq), NULL);
	KUNIT_EXPECT_EQ(test, cpu_seq, 21U);
	KUNIT_ASSERT_TRUE(test, put(test, ring, 32, 22, &kick));
	KUNIT_EXPECT_EQ(test, ring->cpu_seq, 22U);
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 312U);	/* 8 left unused */
	KUNIT_EXPECT_PTR_EQ(test, dbos_ring_reserve(ring, 32, &cpu_seq), NULL);
	KUNIT_EXPECT_EQ(test, ring->dropped, 15ULL);
	KUNIT_EXPECT_EQ(test, ring->produced, 23ULL);

	/* The records that made it, in order, with their cpu_seq. */
	for (i = 1; i <= 7; i++) {
		const struct dbos_rec_hdr *h;
		u32 len;

		h = dbos_ring_peek(ring, &len);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, h);
		KUNIT_EXPECT_EQ(test, h->cpu_seq, i);
		dbos_ring_consume(ring, len);
	}
	KUNIT_EXPECT_EQ(test, take(test, ring, NULL), 22LL);
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 0U);
}

/* A full ring accepts records again once the consumer has made room. */
static void dbos_ring_reserve_after_drop_test(struct kunit *test)
{
	struct dbos_ring *ring = new_ring(test, 128);
	bool kick;

	KUNIT_ASSERT_TRUE(test, put(test, ring, 64, 1, &kick));
	KUNIT_EXPECT_FALSE(test, put(test, ring, 64, 2, &kick));	/* would be full */
	KUNIT_EXPECT_TRUE(test, put(test, ring, 32, 3, &kick));
	KUNIT_EXPECT_EQ(test, take(test, ring, NULL), 1LL);
	/* head 96, tail 64: 72 fits neither at the end nor before tail... */
	KUNIT_EXPECT_FALSE(test, put(test, ring, 72, 4, &kick));
	KUNIT_EXPECT_EQ(test, take(test, ring, NULL), 3LL);
	/* ...but with the ring empty at 96 it wraps behind a PAD, and kicks. */
	KUNIT_EXPECT_TRUE(test, put(test, ring, 72, 5, &kick));
	KUNIT_EXPECT_TRUE(test, kick);
	KUNIT_EXPECT_EQ(test, ring->head, 72U);
	KUNIT_EXPECT_EQ(test, take(test, ring, NULL), 5LL);
	KUNIT_EXPECT_EQ(test, ring->dropped, 2ULL);
	KUNIT_EXPECT_EQ(test, ring->cpu_seq, 5U);
}

/*
 * dbos_ring_quiet(): false while a producer is between reserve and commit
 * (its seq may be taken already) and while records wait; true once the
 * ring is empty and nobody writes, also after a dropped record.
 */
static void dbos_ring_quiet_test(struct kunit *test)
{
	struct dbos_ring *ring = new_ring(test, 128);
	struct dbos_rec_hdr *hdr;
	u32 cpu_seq;
	bool kick;

	KUNIT_EXPECT_TRUE(test, dbos_ring_quiet(ring));
	hdr = dbos_ring_reserve(ring, 40, &cpu_seq);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, hdr);
	KUNIT_EXPECT_FALSE(test, dbos_ring_quiet(ring));	/* mid-record: busy */
	memset(hdr, 0, 40);
	hdr->type = DBOS_REC_FORK;
	hdr->len = 40;
	dbos_ring_commit(ring);
	KUNIT_EXPECT_FALSE(test, dbos_ring_quiet(ring));	/* committed, not drained */
	KUNIT_EXPECT_EQ(test, take(test, ring, NULL), 0LL);
	KUNIT_EXPECT_TRUE(test, dbos_ring_quiet(ring));
	/* A record that does not fit: dropped, no seq taken, nothing to wait for. */
	KUNIT_ASSERT_TRUE(test, put(test, ring, 64, 1, &kick));
	KUNIT_EXPECT_PTR_EQ(test, dbos_ring_reserve(ring, 64, &cpu_seq), NULL);
	KUNIT_EXPECT_EQ(test, ring->busy, 0U);
	KUNIT_EXPECT_EQ(test, take(test, ring, NULL), 1LL);
	KUNIT_EXPECT_TRUE(test, dbos_ring_quiet(ring));
}

/* dbos_ring_used() across the wrap point. */
static void dbos_ring_used_test(struct kunit *test)
{
	struct dbos_ring *ring = new_ring(test, 128);

	ring->head = 40;
	ring->tail = 100;
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 68U);
	ring->head = 100;
	ring->tail = 40;
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 60U);
	ring->head = 0;
	ring->tail = 0;
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 0U);
}

/*
 * Random record sizes and random consumer pace against a model: every record
 * that was not dropped comes out once, in order, and dropped + stored ==
 * produced. Wraps the ring many times.
 */
static void dbos_ring_random_test(struct kunit *test)
{
	const u32 size = 1024, rounds = 20000;
	struct dbos_ring *ring = new_ring(test, size);
	u32 *lens = kunit_kcalloc(test, rounds + 1, sizeof(u32), GFP_KERNEL);
	u32 n, next_out = 1, stored = 0, out = 0, used = 0, len;
	struct rnd_state rnd;
	bool kick;
	s64 got;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, lens);
	prandom_seed_state(&rnd, 42);
	for (n = 1; n <= rounds; n++) {
		len = 8 * (4 + prandom_u32_state(&rnd) % 40);	/* 32..344 */
		if (put(test, ring, len, n, &kick)) {
			lens[n] = len;
			stored++;
			used += len;
		}
		KUNIT_ASSERT_LE(test, dbos_ring_used(ring), size - 8);
		while (prandom_u32_state(&rnd) % 3 == 0) {
			got = take(test, ring, &len);
			if (got < 0) {
				KUNIT_ASSERT_EQ(test, used, 0U);
				break;
			}
			while (next_out < got && !lens[next_out])
				next_out++;	/* dropped ones */
			KUNIT_ASSERT_EQ(test, got, (s64)next_out);
			KUNIT_ASSERT_EQ(test, len, lens[next_out]);
			used -= len;
			next_out++;
			out++;
		}
	}
	while ((got = take(test, ring, &len)) >= 0) {
		while (next_out < got && !lens[next_out])
			next_out++;
		KUNIT_ASSERT_EQ(test, got, (s64)next_out);
		next_out++;
		out++;
	}
	KUNIT_EXPECT_EQ(test, out, stored);
	KUNIT_EXPECT_EQ(test, ring->produced, (u64)rounds);
	KUNIT_EXPECT_EQ(test, ring->dropped + stored, (u64)rounds);
	KUNIT_EXPECT_GT(test, ring->dropped, 0ULL);	/* it did fill up */
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 0U);
}

static struct kunit_case dbos_ring_cases[] = {
	KUNIT_CASE(dbos_ring_init_test),
	KUNIT_CASE(dbos_ring_reserve_test),
	KUNIT_CASE(dbos_ring_consume_test),
	KUNIT_CASE(dbos_ring_commit_test),
	KUNIT_CASE(dbos_ring_reserve_wrap_test),
	KUNIT_CASE(dbos_ring_reserve_exact_end_test),
	KUNIT_CASE(dbos_ring_reserve_full_test),
	KUNIT_CASE(dbos_ring_reserve_after_drop_test),
	KUNIT_CASE(dbos_ring_used_test),
	KUNIT_CASE(dbos_ring_quiet_test),
	KUNIT_CASE(dbos_ring_random_test),
	{}
};

static struct kunit_suite dbos_ring_suite = {
	.name = "dbos_ring",
	.test_cases = dbos_ring_cases,
};

kunit_test_suite(dbos_ring_suite);

MODULE_DESCRIPTION("KUnit tests for dbos.ko's per-CPU record rings");
MODULE_LICENSE("GPL");
