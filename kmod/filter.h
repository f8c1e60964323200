/* SPDX-License-Identifier: GPL-2.0 */
/*
 * filter.h - which files the FD_* and SOCK_* records report (SET_FILTER).
 */
#ifndef _DBOS_FILTER_H
#define _DBOS_FILTER_H

#include "dbos_uapi.h"

#include <linux/rcupdate.h>
#include <linux/types.h>

/**
 * struct dbos_filter - one SET_FILTER's settings, immutable once published
 * @rcu: for kfree_rcu() when replaced
 * @kinds: mask of 1 << DBOS_FILE_* to report
 * @n: number of prefixes in use
 * @len: length of each prefix (without NUL)
 * @prefix: path prefixes whose fds are not reported, NUL-terminated
 */
struct dbos_filter {
	struct rcu_head rcu;
	u32 kinds;
	u32 n;
	u16 len[DBOS_FILTER_PREFIXES];
	char prefix[DBOS_FILTER_PREFIXES][DBOS_FILTER_PREFIX_MAX];
};

struct nlattr;
struct netlink_ext_ack;

int dbos_filter_build(struct dbos_filter *f, const struct nlattr *kinds,
		      const struct nlattr *excl, struct netlink_ext_ack *extack);
void dbos_filter_set(struct dbos_filter *filter);
bool dbos_filter_kind(u16 kind);
bool dbos_filter_path(const char *path, u32 len);
bool dbos_filter_match(const struct dbos_filter *f, const char *path, u32 len);
void dbos_filter_count(void);
u64 dbos_filter_filtered(void);
void dbos_filter_uninit(void);

#endif /* _DBOS_FILTER_H */
