// SPDX-License-Identifier: GPL-2.0
/*
 * policy_test.c - KUnit suite "dbos_policy": the attribute policies of
 * kmod/policy.c (SCHED_SET and SCHED_RULES included) and SET_FILTER's
 * parsing (kmod/filter.c), run through the kernel's strict netlink parser on
 * messages built in an skb.
 *
 * kmod/policy.c and kmod/filter.c are compiled into this test module (they
 * are included below).
 */

#include "../../kmod/policy.c"
#include "../../kmod/filter.c"

#include <kunit/test.h>
#include <linux/skbuff.h>

/* The skbs of one case, freed when it ends (test->priv). */
static int dbos_policy_case_init(struct kunit *test)
{
	struct sk_buff_head *skbs = kunit_kzalloc(test, sizeof(*skbs), GFP_KERNEL);

	if (!skbs)
		return -ENOMEM;
	skb_queue_head_init(skbs);
	test->priv = skbs;
	return 0;
}

static void dbos_policy_case_exit(struct kunit *test)
{
	skb_queue_purge(test->priv);
}

/* A message body to put attributes into; freed when the case ends. */
static struct sk_buff *msg_new(struct kunit *test)
{
	struct sk_buff *skb = alloc_skb(8192, GFP_KERNEL);

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, skb);
	skb_queue_tail(test->priv, skb);
	return skb;
}

/* Parse @skb's attributes with @pol as genetlink does (strictly). */
static int msg_parse(struct sk_buff *skb, const struct nla_policy *pol,
		     struct nlattr **tb)
{
	struct netlink_ext_ack extack = {};

	return nla_parse(tb, DBOS_A_MAX, (struct nlattr *)skb->data, skb->len,
			 pol, &extack);
}

static int parse_one(struct kunit *test, const struct nla_policy *pol,
		     int type, const void *data, int len)
{
	struct nlattr *tb[DBOS_A_MAX + 1];
	struct sk_buff *skb = msg_new(test);

	KUNIT_ASSERT_EQ(test, nla_put(skb, type, len, data), 0);
	return msg_parse(skb, pol, tb);
}

/* GET_STATS / DUMP_PROCS: nothing is accepted. */
static void dbos_policy_none_test(struct kunit *test)
{
	struct nlattr *tb[DBOS_A_MAX + 1];
	u32 v = 1;
	int type;

	KUNIT_EXPECT_EQ(test, msg_parse(msg_new(test), dbos_policy_none, tb), 0);
	for (type = DBOS_A_UNSPEC + 1; type <= DBOS_A_MAX + 1; type++)
		KUNIT_EXPECT_EQ_MSG(test, parse_one(test, dbos_policy_none, type,
						    &v, sizeof(v)), -EINVAL,
				    "attribute %d", type);
	/* type 0 is not an attribute */
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_none, 0, &v, 4), -EINVAL);
}

/* GET_PROC / DUMP_FILES: PID as a u32 only. */
static void dbos_policy_pid_test(struct kunit *test)
{
	struct nlattr *tb[DBOS_A_MAX + 1];
	struct sk_buff *skb = msg_new(test);
	u64 v64 = 1;
	u16 v16 = 1;
	int type;

	KUNIT_ASSERT_EQ(test, nla_put_u32(skb, DBOS_A_PID, 42), 0);
	KUNIT_ASSERT_EQ(test, msg_parse(skb, dbos_policy_pid, tb), 0);
	KUNIT_ASSERT_NOT_NULL(test, tb[DBOS_A_PID]);
	KUNIT_EXPECT_EQ(test, nla_get_u32(tb[DBOS_A_PID]), 42);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_pid, DBOS_A_PID,
					&v16, sizeof(v16)), -EINVAL);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_pid, DBOS_A_PID,
					&v64, sizeof(v64)), -EINVAL);
	for (type = DBOS_A_UNSPEC + 1; type <= DBOS_A_MAX + 1; type++) {
		if (type == DBOS_A_PID)
			continue;
		KUNIT_EXPECT_EQ_MSG(test, parse_one(test, dbos_policy_pid, type,
						    &v64, 4), -EINVAL,
				    "attribute %d", type);
	}
}

/* GET_LIVE: PIDS of 1..DBOS_LIVE_PIDS_MAX u32s, and nothing else. */
static void dbos_policy_live_test(struct kunit *test)
{
	static u32 pids[DBOS_LIVE_PIDS_MAX + 1];
	struct sk_buff *skb = alloc_skb(3 * DBOS_LIVE_PIDS_MAX * sizeof(u32), GFP_KERNEL);
	struct nlattr *tb[DBOS_A_MAX + 1];
	u64 v64 = 1;
	u32 v32;
	int type;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, skb);
	skb_queue_tail(test->priv, skb);
	KUNIT_ASSERT_EQ(test, nla_put(skb, DBOS_A_PIDS, sizeof(pids) - sizeof(u32), pids), 0);
	KUNIT_EXPECT_EQ(test, msg_parse(skb, dbos_policy_live, tb), 0);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_live, DBOS_A_PIDS,
					pids, sizeof(u32)), 0);
	/* none, or more than DBOS_LIVE_PIDS_MAX: out of the policy's range */
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_live, DBOS_A_PIDS,
					pids, 0), -ERANGE);
	skb = alloc_skb(3 * DBOS_LIVE_PIDS_MAX * sizeof(u32), GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, skb);
	skb_queue_tail(test->priv, skb);
	KUNIT_ASSERT_EQ(test, nla_put(skb, DBOS_A_PIDS, sizeof(pids), pids), 0);
	KUNIT_EXPECT_EQ(test, msg_parse(skb, dbos_policy_live, tb), -ERANGE);
	for (type = DBOS_A_UNSPEC + 1; type <= DBOS_A_MAX + 1; type++) {
		if (type == DBOS_A_PIDS || type == DBOS_A_LIVE_FIELDS)
			continue;
		KUNIT_EXPECT_EQ_MSG(test, parse_one(test, dbos_policy_live, type,
						    &v64, 4), -EINVAL,
				    "attribute %d", type);
	}
	/* the parts to read: known bits only */
	v32 = DBOS_LIVE_F_ALL;
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_live, DBOS_A_LIVE_FIELDS,
					&v32, sizeof(v32)), 0);
	v32 = DBOS_LIVE_F_ALL + 1;
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_live, DBOS_A_LIVE_FIELDS,
					&v32, sizeof(v32)), -EINVAL);
	/* every other command refuses them */
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_pid, DBOS_A_PIDS,
					pids, sizeof(u32)), -EINVAL);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_sched_set, DBOS_A_PIDS,
					pids, sizeof(u32)), -EINVAL);
	v32 = DBOS_LIVE_F_CPU;
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_pid, DBOS_A_LIVE_FIELDS,
					&v32, sizeof(v32)), -EINVAL);
}

/* Put a DBOS_A_PATH_EXCLUDE nest of @n prefixes "/pN" into @skb. */
static void put_prefixes(struct kunit *test, struct sk_buff *skb, int n)
{
	struct nlattr *nest = nla_nest_start(skb, DBOS_A_PATH_EXCLUDE);
	char p[16];
	int i;

	KUNIT_ASSERT_NOT_NULL(test, nest);
	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "/p%d", i);
		KUNIT_ASSERT_EQ(test, nla_put_string(skb, DBOS_A_PATH_PREFIX, p), 0);
	}
	nla_nest_end(skb, nest);
}

/* Parse @skb with SET_FILTER's policy, then build a filter from it. */
static int filter_parse(struct kunit *test, struct sk_buff *skb,
			struct dbos_filter *f)
{
	struct nlattr *tb[DBOS_A_MAX + 1];
	struct netlink_ext_ack extack = {};
	int ret;

	memset(f, 0, sizeof(*f));
	ret = msg_parse(skb, dbos_policy_set_filter, tb);
	if (ret)
		return ret;
	ret = dbos_filter_build(f, tb[DBOS_A_FILE_KINDS],
				tb[DBOS_A_PATH_EXCLUDE], &extack);
	if (ret)
		KUNIT_EXPECT_NOT_NULL(test, extack._msg);
	return ret;
}

static void dbos_policy_filter_test(struct kunit *test)
{
	struct dbos_filter *f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);
	struct sk_buff *skb;

	KUNIT_ASSERT_NOT_NULL(test, f);

	/* nothing: every kind, no prefix */
	KUNIT_EXPECT_EQ(test, filter_parse(test, msg_new(test), f), 0);
	KUNIT_EXPECT_EQ(test, f->kinds, DBOS_FILE_KINDS_ALL);
	KUNIT_EXPECT_EQ(test, f->n, 0);

	/* kinds and 16 prefixes */
	skb = msg_new(test);
	KUNIT_ASSERT_EQ(test, nla_put_u32(skb, DBOS_A_FILE_KINDS,
					  1U << DBOS_FILE_REG), 0);
	put_prefixes(test, skb, DBOS_FILTER_PREFIXES);
	KUNIT_EXPECT_EQ(test, filter_parse(test, skb, f), 0);
	KUNIT_EXPECT_EQ(test, f->kinds, 1U << DBOS_FILE_REG);
	KUNIT_EXPECT_EQ(test, f->n, DBOS_FILTER_PREFIXES);
	KUNIT_EXPECT_STREQ(test, f->prefix[15], "/p15");
	KUNIT_EXPECT_EQ(test, f->len[15], 4);
	KUNIT_EXPECT_TRUE(test, dbos_filter_match(f, "/p15/x", 6));
	KUNIT_EXPECT_TRUE(test, dbos_filter_match(f, "/p1", 3));
	KUNIT_EXPECT_FALSE(test, dbos_filter_match(f, "/p", 2));
	KUNIT_EXPECT_FALSE(test, dbos_filter_match(f, "/q1", 3));

	/* 17 prefixes */
	skb = msg_new(test);
	put_prefixes(test, skb, DBOS_FILTER_PREFIXES + 1);
	KUNIT_EXPECT_EQ(test, filter_parse(test, skb, f), -EINVAL);

	/* a kind bit that does not exist */
	skb = msg_new(test);
	KUNIT_ASSERT_EQ(test, nla_put_u32(skb, DBOS_A_FILE_KINDS,
					  1U << __DBOS_FILE_MAX), 0);
	KUNIT_EXPECT_EQ(test, filter_parse(test, skb, f), -EINVAL);

	/* kinds of the wrong size */
	skb = msg_new(test);
	KUNIT_ASSERT_EQ(test, nla_put_u64_64bit(skb, DBOS_A_FILE_KINDS, 1,
						DBOS_A_PAD), 0);
	KUNIT_EXPECT_EQ(test, filter_parse(test, skb, f), -EINVAL);

	/* a prefix outside the nest */
	skb = msg_new(test);
	KUNIT_ASSERT_EQ(test, nla_put_string(skb, DBOS_A_PATH_PREFIX, "/x"), 0);
	KUNIT_EXPECT_EQ(test, filter_parse(test, skb, f), -EINVAL);

	/* the nest as a plain string */
	skb = msg_new(test);
	KUNIT_ASSERT_EQ(test, nla_put_string(skb, DBOS_A_PATH_EXCLUDE, "/x"), 0);
	KUNIT_EXPECT_EQ(test, filter_parse(test, skb, f), -EINVAL);

	/* kernel-only attribute */
	skb = msg_new(test);
	KUNIT_ASSERT_EQ(test, nla_put_u32(skb, DBOS_A_CPU, 0), 0);
	KUNIT_EXPECT_EQ(test, filter_parse(test, skb, f), -EINVAL);

	/* PID is not SET_FILTER's */
	skb = msg_new(test);
	KUNIT_ASSERT_EQ(test, nla_put_u32(skb, DBOS_A_PID, 1), 0);
	KUNIT_EXPECT_EQ(test, filter_parse(test, skb, f), -EINVAL);
}

/* Put one nest holding one PATH_PREFIX of @len bytes (@nul: NUL at the end). */
static struct sk_buff *prefix_msg(struct kunit *test, int len, bool nul)
{
	struct sk_buff *skb = msg_new(test);
	struct nlattr *nest;
	char *p = kunit_kzalloc(test, len, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, p);
	memset(p, 'a', len);
	if (nul)
		p[len - 1] = '\0';
	nest = nla_nest_start(skb, DBOS_A_PATH_EXCLUDE);
	KUNIT_ASSERT_NOT_NULL(test, nest);
	KUNIT_ASSERT_EQ(test, nla_put(skb, DBOS_A_PATH_PREFIX, len, p), 0);
	nla_nest_end(skb, nest);
	return skb;
}

static void dbos_policy_prefix_test(struct kunit *test)
{
	struct dbos_filter *f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);
	struct sk_buff *skb;
	struct nlattr *nest;

	KUNIT_ASSERT_NOT_NULL(test, f);
	/* longest: DBOS_FILTER_PREFIX_MAX bytes with the NUL */
	KUNIT_EXPECT_EQ(test, filter_parse(test, prefix_msg(test,
			DBOS_FILTER_PREFIX_MAX, true), f), 0);
	KUNIT_EXPECT_EQ(test, f->n, 1);
	KUNIT_EXPECT_EQ(test, f->len[0], DBOS_FILTER_PREFIX_MAX - 1);
	/* one byte more */
	KUNIT_EXPECT_EQ(test, filter_parse(test, prefix_msg(test,
			DBOS_FILTER_PREFIX_MAX + 1, true), f), -EINVAL);
	/* no NUL */
	KUNIT_EXPECT_EQ(test, filter_parse(test, prefix_msg(test, 8, false), f),
			-EINVAL);
	/* something else inside the nest */
	skb = msg_new(test);
	nest = nla_nest_start(skb, DBOS_A_PATH_EXCLUDE);
	KUNIT_ASSERT_NOT_NULL(test, nest);
	KUNIT_ASSERT_EQ(test, nla_put_u32(skb, DBOS_A_PID, 1), 0);
	nla_nest_end(skb, nest);
	KUNIT_EXPECT_EQ(test, filter_parse(test, skb, f), -EINVAL);
	/* unknown attribute inside the nest */
	skb = msg_new(test);
	nest = nla_nest_start(skb, DBOS_A_PATH_EXCLUDE);
	KUNIT_ASSERT_NOT_NULL(test, nest);
	KUNIT_ASSERT_EQ(test, nla_put_u32(skb, DBOS_A_MAX + 1, 1), 0);
	nla_nest_end(skb, nest);
	KUNIT_EXPECT_EQ(test, filter_parse(test, skb, f), -EINVAL);
}

/* The published filter, as the hooks see it. */
static void dbos_filter_set_test(struct kunit *test)
{
	struct dbos_filter *f = kzalloc(sizeof(*f), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, f);
	KUNIT_EXPECT_TRUE(test, dbos_filter_kind(DBOS_FILE_SOCK));
	KUNIT_EXPECT_TRUE(test, dbos_filter_path("/tmp/x", 6));
	f->kinds = 1U << DBOS_FILE_REG;
	f->n = 1;
	f->len[0] = 5;
	strscpy(f->prefix[0], "/tmp/", sizeof(f->prefix[0]));
	dbos_filter_set(f);
	KUNIT_EXPECT_FALSE(test, dbos_filter_kind(DBOS_FILE_SOCK));
	KUNIT_EXPECT_TRUE(test, dbos_filter_kind(DBOS_FILE_REG));
	KUNIT_EXPECT_FALSE(test, dbos_filter_path("/tmp/x", 6));
	KUNIT_EXPECT_TRUE(test, dbos_filter_path("/tmp", 4));
	dbos_filter_count();
	KUNIT_EXPECT_EQ(test, dbos_filter_filtered(), 1);
	dbos_filter_uninit();
	KUNIT_EXPECT_TRUE(test, dbos_filter_kind(DBOS_FILE_SOCK));
	KUNIT_EXPECT_EQ(test, dbos_filter_filtered(), 0);
	rcu_barrier();	/* the old filter is freed before the module goes */
}

/* Put a SCHED_TARGETS nest with one target {pid 42, nice @nice} into @skb. */
static void put_sched_target(struct kunit *test, struct sk_buff *skb, s32 nice)
{
	struct nlattr *targets = nla_nest_start(skb, DBOS_A_SCHED_TARGETS);
	struct nlattr *t = nla_nest_start(skb, DBOS_A_SCHED_TARGET);

	KUNIT_ASSERT_NOT_NULL(test, targets);
	KUNIT_ASSERT_NOT_NULL(test, t);
	KUNIT_ASSERT_EQ(test, nla_put_u32(skb, DBOS_A_PID, 42), 0);
	KUNIT_ASSERT_EQ(test, nla_put_s32(skb, DBOS_A_NICE, nice), 0);
	nla_nest_end(skb, t);
	nla_nest_end(skb, targets);
}

/* SCHED_SET: targets nest two levels deep; ranges and placement checked. */
static void dbos_policy_sched_test(struct kunit *test)
{
	struct nlattr *tb[DBOS_A_MAX + 1];
	struct sk_buff *skb = msg_new(test);
	u32 v = 1;

	put_sched_target(test, skb, 19);
	KUNIT_EXPECT_EQ(test, msg_parse(skb, dbos_policy_sched_set, tb), 0);
	KUNIT_EXPECT_NOT_NULL(test, tb[DBOS_A_SCHED_TARGETS]);

	skb = msg_new(test);
	put_sched_target(test, skb, 20);
	KUNIT_EXPECT_EQ(test, msg_parse(skb, dbos_policy_sched_set, tb), -ERANGE);
	skb = msg_new(test);
	put_sched_target(test, skb, -21);
	KUNIT_EXPECT_EQ(test, msg_parse(skb, dbos_policy_sched_set, tb), -ERANGE);

	/* Target attributes outside a target, and a target outside TARGETS. */
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_sched_set, DBOS_A_PID,
					&v, sizeof(v)), -EINVAL);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_sched_set, DBOS_A_NICE,
					&v, sizeof(v)), -EINVAL);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_sched_set,
					DBOS_A_SCHED_TARGET, &v, sizeof(v)), -EINVAL);
	/* No other command takes the scheduling attributes. */
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_pid, DBOS_A_SCHED_TARGETS,
					&v, sizeof(v)), -EINVAL);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_set_filter, DBOS_A_CPUS,
					&v, sizeof(v)), -EINVAL);
}

/*
 * Put a SCHED_RULES request: VERSION, RULES { TERM { RULE_ID @id, NICE @nice,
 * MATCH { FIELD @field, VALUES { STR "make" } } } }.
 */
static void put_sched_rules(struct kunit *test, struct sk_buff *skb, u32 id,
			    s32 nice, u32 field)
{
	struct nlattr *rules, *term, *match, *values;

	KUNIT_ASSERT_EQ(test, nla_put_u64_64bit(skb, DBOS_A_SCHED_VERSION, 7,
						DBOS_A_PAD), 0);
	rules = nla_nest_start(skb, DBOS_A_SCHED_RULES);
	term = nla_nest_start(skb, DBOS_A_SCHED_TERM);
	KUNIT_ASSERT_NOT_NULL(test, term);
	KUNIT_ASSERT_EQ(test, nla_put_u32(skb, DBOS_A_SCHED_RULE_ID, id), 0);
	KUNIT_ASSERT_EQ(test, nla_put_s32(skb, DBOS_A_NICE, nice), 0);
	match = nla_nest_start(skb, DBOS_A_SCHED_MATCH);
	KUNIT_ASSERT_NOT_NULL(test, match);
	KUNIT_ASSERT_EQ(test, nla_put_u32(skb, DBOS_A_SCHED_FIELD, field), 0);
	KUNIT_ASSERT_EQ(test, nla_put_flag(skb, DBOS_A_SCHED_NEGATE), 0);
	values = nla_nest_start(skb, DBOS_A_SCHED_VALUES);
	KUNIT_ASSERT_NOT_NULL(test, values);
	KUNIT_ASSERT_EQ(test, nla_put_string(skb, DBOS_A_SCHED_STR, "make"), 0);
	nla_nest_end(skb, values);
	nla_nest_end(skb, match);
	nla_nest_end(skb, term);
	nla_nest_end(skb, rules);
}

/* SCHED_RULES: four levels of nests, each attribute at its own level only. */
static void dbos_policy_sched_rules_test(struct kunit *test)
{
	struct nlattr *tb[DBOS_A_MAX + 1];
	struct sk_buff *skb = msg_new(test);
	u32 v = 1;

	put_sched_rules(test, skb, 1, 19, DBOS_SCHED_F_NAME);
	KUNIT_EXPECT_EQ(test, msg_parse(skb, dbos_policy_sched_rules, tb), 0);
	KUNIT_EXPECT_NOT_NULL(test, tb[DBOS_A_SCHED_RULES]);
	KUNIT_EXPECT_NOT_NULL(test, tb[DBOS_A_SCHED_VERSION]);

	/* Ranges inside the nests: nice, rule id 0, an unknown field. */
	skb = msg_new(test);
	put_sched_rules(test, skb, 1, 20, DBOS_SCHED_F_NAME);
	KUNIT_EXPECT_EQ(test, msg_parse(skb, dbos_policy_sched_rules, tb), -ERANGE);
	skb = msg_new(test);
	put_sched_rules(test, skb, 0, 0, DBOS_SCHED_F_NAME);
	KUNIT_EXPECT_EQ(test, msg_parse(skb, dbos_policy_sched_rules, tb), -ERANGE);
	skb = msg_new(test);
	put_sched_rules(test, skb, 1, 0, __DBOS_SCHED_F_MAX);
	KUNIT_EXPECT_EQ(test, msg_parse(skb, dbos_policy_sched_rules, tb), -ERANGE);

	/* Inner attributes at the top level; the version as a u32. */
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_sched_rules,
					DBOS_A_SCHED_TERM, &v, sizeof(v)), -EINVAL);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_sched_rules,
					DBOS_A_SCHED_STR, "x", 2), -EINVAL);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_sched_rules,
					DBOS_A_NICE, &v, sizeof(v)), -EINVAL);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_sched_rules,
					DBOS_A_SCHED_VERSION, &v, sizeof(v)), -EINVAL);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_sched_rules,
					DBOS_A_SCHED_TAG, &v, sizeof(v)), -EINVAL);

	/* SCHED_SET takes a top-level tag; no other command takes rules. */
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_sched_set,
					DBOS_A_SCHED_TAG, &v, sizeof(v)), 0);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_sched_set,
					DBOS_A_SCHED_RULES, &v, sizeof(v)), -EINVAL);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_pid,
					DBOS_A_SCHED_VERSION, &v, sizeof(v)), -EINVAL);
	KUNIT_EXPECT_EQ(test, parse_one(test, dbos_policy_set_filter,
					DBOS_A_SCHED_TAG, &v, sizeof(v)), -EINVAL);
}

static struct kunit_case dbos_policy_cases[] = {
	KUNIT_CASE(dbos_policy_none_test),
	KUNIT_CASE(dbos_policy_pid_test),
	KUNIT_CASE(dbos_policy_live_test),
	KUNIT_CASE(dbos_policy_filter_test),
	KUNIT_CASE(dbos_policy_prefix_test),
	KUNIT_CASE(dbos_policy_sched_test),
	KUNIT_CASE(dbos_policy_sched_rules_test),
	KUNIT_CASE(dbos_filter_set_test),
	{}
};

static struct kunit_suite dbos_policy_suite = {
	.name = "dbos_policy",
	.init = dbos_policy_case_init,
	.exit = dbos_policy_case_exit,
	.test_cases = dbos_policy_cases,
};
kunit_test_suite(dbos_policy_suite);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("KUnit tests for dbos.ko's netlink policies");
