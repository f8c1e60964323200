// SPDX-License-Identifier: GPL-2.0
/*
 * filter.c - which files the FD_* and SOCK_* records report (SET_FILTER).
 *
 * Locking: dbos_filter points to an immutable struct dbos_filter, or is NULL
 * (the default: report everything). Readers (hooks in any context, dumps)
 * use it under rcu_read_lock(); writers replace it under dbos_filter_lock
 * and free the old one with kfree_rcu().
 */

#include "filter.h"

#include <linux/atomic.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/netlink.h>

static struct dbos_filter __rcu *dbos_filter;
/* Serializes writers of dbos_filter. */
static DEFINE_MUTEX(dbos_filter_lock);
/* Records held back by the filter (DBOS_STATS_FILTERED). */
static atomic64_t dbos_filtered = ATOMIC64_INIT(0);

/**
 * dbos_filter_set - publish @filter (NULL: report everything)
 * @filter: a filter the caller allocated with kmalloc(); owned by us now
 *
 * Process context; sleeps.
 */
void dbos_filter_set(struct dbos_filter *filter)
{
	struct dbos_filter *old;

	mutex_lock(&dbos_filter_lock);
	old = rcu_replace_pointer(dbos_filter, filter,
				  lockdep_is_held(&dbos_filter_lock));
	mutex_unlock(&dbos_filter_lock);
	if (old)
		kfree_rcu(old, rcu);
}

/* Does the filter let files of @kind (DBOS_FILE_*) through? Any context. */
bool dbos_filter_kind(u16 kind)
{
	const struct dbos_filter *f;
	bool pass;

	rcu_read_lock();
	f = rcu_dereference(dbos_filter);
	pass = !f || (f->kinds & (1U << kind));
	rcu_read_unlock();
	return pass;
}

/* Does @path (@len bytes) start with one of @f's prefixes? Pure. */
bool dbos_filter_match(const struct dbos_filter *f, const char *path, u32 len)
{
	u32 i;

	for (i = 0; i < f->n; i++)
		if (f->len[i] <= len && !memcmp(path, f->prefix[i], f->len[i]))
			return true;
	return false;
}

/* Does the filter let an fd with @path through? Any context. */
bool dbos_filter_path(const char *path, u32 len)
{
	const struct dbos_filter *f;
	bool pass;

	rcu_read_lock();
	f = rcu_dereference(dbos_filter);
	pass = !f || !dbos_filter_match(f, path, len);
	rcu_read_unlock();
	return pass;
}

/**
 * dbos_filter_build - fill @f from SET_FILTER's attributes
 * @f: a zeroed filter
 * @kinds: DBOS_A_FILE_KINDS, or NULL for all kinds
 * @excl: DBOS_A_PATH_EXCLUDE, or NULL; validated by its policy already
 * @extack: for the error message
 *
 * Pure. Return: 0, or -EINVAL (more than DBOS_FILTER_PREFIXES prefixes, or
 * something other than a prefix inside @excl).
 */
int dbos_filter_build(struct dbos_filter *f, const struct nlattr *kinds,
		      const struct nlattr *excl, struct netlink_ext_ack *extack)
{
	const struct nlattr *a;
	int rem;

	f->kinds = kinds ? nla_get_u32(kinds) : DBOS_FILE_KINDS_ALL;
	if (!excl)
		return 0;
	nla_for_each_nested(a, excl, rem) {
		if (nla_type(a) != DBOS_A_PATH_PREFIX) {
			NL_SET_ERR_MSG_ATTR(extack, a,
					    "only DBOS_A_PATH_PREFIX belongs in DBOS_A_PATH_EXCLUDE");
			return -EINVAL;
		}
		if (f->n == DBOS_FILTER_PREFIXES) {
			NL_SET_ERR_MSG_ATTR(extack, a,
					    "more than DBOS_FILTER_PREFIXES prefixes");
			return -EINVAL;
		}
		/* NUL-terminated within its length: the policy checked it. */
		f->len[f->n] = strscpy(f->prefix[f->n], nla_data(a),
				       DBOS_FILTER_PREFIX_MAX);
		f->n++;
	}
	return 0;
}

/* Count one record held back. Any context. */
void dbos_filter_count(void)
{
	atomic64_inc(&dbos_filtered);
}

u64 dbos_filter_filtered(void)
{
	return atomic64_read(&dbos_filtered);
}

/* Back to the default; called at unload once no reader can run. */
void dbos_filter_uninit(void)
{
	dbos_filter_set(NULL);
	atomic64_set(&dbos_filtered, 0);
}
