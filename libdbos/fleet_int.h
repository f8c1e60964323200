/* SPDX-License-Identifier: GPL-2.0 */
/* fleet_int.h - the coordinator's state, shared by its queries (dbos_fleet.c) and its policy (fleet_policy.c). */
#ifndef FLEET_INT_H
#define FLEET_INT_H

#include <pthread.h>

#include "dbos_client.h"
#include "fleet_proto.h"

struct member {
	char *host;
	char *labels;		/* ",a,b," (leading and trailing commas: easy matching) */
	char *version;
	int64_t started_ms;
	int64_t seen_ns;	/* when the entry was last put (the NATS server's clock) */
	int heartbeat_ms;
	/* what the host says of the fleet policy (has_policy: it says anything) */
	bool has_policy;
	uint64_t policy_version, policy_local;
	uint64_t policy_failed;	/* the version policy_error is about */
	char *policy_error;	/* NULL: none */
};

struct gathered;
struct fleet_table;

struct report {
	char *host;
	char *reason;
};

struct dbos_fleet {
	natsConnection *nc;
	jsCtx *js;
	kvStore *kv;
	kvWatcher *watch;
	pthread_t watcher;
	bool watching;
	pthread_mutex_t lock;		/* members, nmembers (the watcher writes them) */
	struct member *members;
	int nmembers;

	char *target_kind;		/* "all", "host" or "label" */
	char *target;			/* the host or label */
	int timeout_ms;

	sqlite3 *db;
	struct fleet_table *tables;
	int ntables;
	struct gathered *cache;		/* this statement's scans */
	struct report *reports;
	int nreports;

	/* fleet policy (fleet_policy.c; the statement's thread) */
	kvStore *pkv;			/* the policy bucket, once bound */
	unsigned touched;		/* the policy tables the statement uses */
	bool wrote;			/* the transaction wrote fleet_policies */
	bool loaded_in_txn;		/* fleet_policies loaded in this transaction */
	uint64_t loaded_rev;		/* the version fleet_policies was loaded from (0: none) */
	struct dbos_buf loaded_rules;	/* its rules as encoded then */
	uint64_t published;		/* the version this statement made current (0: none) */
};

/* A host missing from this statement's result, and why (the first reason stands). */
void fleet_report(struct dbos_fleet *f, const char *host, const char *reason);
/* Now, as the NATS server's entry times are: ns since the epoch. */
int64_t fleet_now_ns(void);
/* Whether @m renewed its entry within FLEET_STALE_BEATS heartbeats of @now. */
bool fleet_member_live(const struct member *m, int64_t now);

/* ---- fleet_policy.c: the fleet_policies, fleet_policy_versions, fleet_policy_status tables ---- */

/* Create the policy tables and fleet_policy_rollback() in f->db. SQLite's code. */
int fleet_policy_open(struct dbos_fleet *f);
/*
 * The authorizer's answer for the policy tables: SQLITE_OK or SQLITE_DENY
 * for an action on them (and notes which the statement touches), -1 for
 * anything else.
 */
int fleet_policy_authorize(struct dbos_fleet *f, int action, const char *table);
/* Before a prepared statement runs: load the policy tables it touches. 0, or -1 and *@err. */
int fleet_policy_before(struct dbos_fleet *f, char **err);
/*
 * After a statement: when a transaction that changed fleet_policies ended,
 * commit the new version (or fail: "changed concurrently"); after a commit or
 * rollback, wait until every live host enforces it (a notice says which
 * version; hosts that did not are reported). 0, or -1 and *@err.
 */
int fleet_policy_after(struct dbos_fleet *f, const struct dbos_callbacks *cb, void *arg,
		       char **err);
void fleet_policy_close(struct dbos_fleet *f);

#endif /* FLEET_INT_H */
