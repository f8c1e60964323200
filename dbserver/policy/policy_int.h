/* SPDX-License-Identifier: GPL-2.0 */
/* policy_int.h - what policy.c (versions, commits) and decisions.c (policy_decisions rows) share. */
#ifndef DBOS_POLICY_INT_H
#define DBOS_POLICY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "dbserver/mirror/history.h"
#include "dbserver/policy/policy.h"
#include "dbserver/store/row.h"

/* What a policy_versions row says. */
struct version_meta {
	uint64_t version, time, from;
	int64_t uid, pid, nrules;
	const char *action;	/* static string */
};

/* The rule of each term of a version seen since start (to name a decision's rule). */
struct version_info {
	uint64_t version;
	int64_t *term_rule[DBOS_LSM_HOOK__COUNT];
	uint32_t nterms[DBOS_LSM_HOOK__COUNT];
	struct policy_set rules;
};

struct policy {
	struct policy_config cfg;
	struct sql_env env;		/* the manager's connection's, without extend */
	pthread_mutex_t mu;		/* see the top of this file */
	sqlite3 *db;
	uint64_t latest;		/* version made live last */
	struct version_meta meta;	/* its row */
	struct policy_set rules;	/* its rules */
	struct policy_image *img;	/* its image (NULL: not compiled) */
	uint64_t img_seq;		/* counts the images made live (set_live_image) */
	uint64_t seen_changes;		/* mirror_changes() at the last compile */
	bool sched_retry;		/* the module lacks the live sched rules: push again (@mu) */
	char *sched_err;		/* the last such failure, logged once (@mu) */

	pthread_mutex_t dmu;
	uint64_t dseq;
	struct history hist;		/* the kernel's decisions only */
	uint64_t *refused;		/* seqs of the refused attempts stored, oldest first (a ring) */
	size_t refused_cap, refused_start, refused_len;
	atomic_uint_fast64_t refused_total;	/* refused attempts since start */
	struct store_batch *dbatch;
	struct version_info *infos;
	size_t ninfos;

	atomic_bool stop;
	/* the version the kernel enforces (@latest, unless a start could not push it) */
	atomic_uint_fast64_t live_pub;
	atomic_bool not_enforced;	/* @latest is stored but the kernel does not enforce it */
	atomic_uint_fast64_t written, refreshes, refresh_failed, commits, set_evaluations;
	atomic_uint_fast64_t refresh_compiles;
	sqlite3 *rdb;			/* the refresher's own connection (its thread only) */
	pthread_t poller, refresher;
	bool have_poller, have_refresher;
	struct dbos_lsm_decision *pending;
	size_t npending, cap_pending;
};

void policy_log(struct policy *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *policy_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The decisions thread (decisions.c): reads ops->poll until @p->stop. */
void *policy_poller(void *arg);

static inline struct row_value text_or_null(const char *s)
{
	return s ? row_text(s, strlen(s)) : row_null();
}

#endif /* DBOS_POLICY_INT_H */
