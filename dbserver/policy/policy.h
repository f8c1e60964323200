/* SPDX-License-Identifier: GPL-2.0 */
/* policy.h - the policy manager: versions, atomic commits into the store and the kernel, rollback, decisions. */
#ifndef DBOS_POLICY_H
#define DBOS_POLICY_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "dbserver/policy/compile.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/store.h"

/*
 * How the manager reaches the kernel: dbosd passes enforce.h's functions
 * (wrapped), host tests an in-test enforcer that can fail. @prepare writes
 * a generation into the idle slot without changing what is enforced;
 * @flip makes it live and cannot fail; @live_version is the kernel's live
 * version. @poll and @counters may be NULL (no decisions thread, no
 * counters).
 */
struct policy_kernel_ops {
	int (*prepare)(void *arg, const struct policy_image *img, char **err);
	void (*flip)(void *arg);
	uint64_t (*live_version)(void *arg);
	int (*poll)(void *arg, int timeout_ms,
		    void (*cb)(void *cbarg, const struct dbos_lsm_decision *d),
		    void *cbarg, char **err);
	void (*counters)(void *arg, uint64_t out[DBOS_LSM_C__COUNT]);
	void *arg;
};

struct policy_config {
	struct store *st;
	/* For the manager's own connection (views, live tables): its @extend is ignored. */
	const struct sql_env *env;
	/* NULL: no enforcement; every commit fails with @no_kernel_reason. */
	const struct policy_kernel_ops *ops;
	const char *no_kernel_reason;
	uint64_t retention;	/* policy_decisions rows kept (0: none) */
	void (*log)(void *arg, const char *line);
	void *log_arg;
	/*
	 * A counter that moves whenever the mirrored tables change (NULL: never):
	 * the refresher recompiles a live policy with sets when it moved.
	 */
	uint64_t (*mirror_changes)(void *arg);
	void *mirror_arg;
};

/* One rule of a version, as policies shows it. Strings are owned by the set. */
struct policy_row {
	int64_t id;
	char *name, *hook, *action, *condition;	/* condition may be NULL */
	uint64_t changed;	/* version that last changed it */
};

struct policy_set {
	struct policy_row *rows;	/* sorted by id */
	size_t n, cap;
};

void policy_set_free(struct policy_set *s);
/* Deep copy: 0, or -1 (ENOMEM). */
int policy_set_copy(struct policy_set *dst, const struct policy_set *src);
/* Appends a copy of the strings; keeps @s sorted by id. 0 or -1 (ENOMEM). */
int policy_set_add(struct policy_set *s, int64_t id, const char *name, const char *hook,
		   const char *action, const char *condition, uint64_t changed);
void policy_set_remove(struct policy_set *s, size_t i);
/* Index of @id, or -1. */
long policy_set_find(const struct policy_set *s, int64_t id);

/*
 * The manager is thread-safe. One mutex serializes commits, rollbacks, the
 * refresher's re-pushes and rule checks: it protects the manager's own
 * sqlite3 connection, the live version, its rules and image, and the kernel
 * ops (prepare + flip never run concurrently). A second mutex protects the
 * decisions writer (its seq, retention state, batch and the rule names of
 * the versions seen since start). See policy.c and decisions.c.
 */
struct policy;

/*
 * policy_open - load the latest stored version; with a kernel whose live
 * version differs, compile it and push it (logged). Starts the decisions
 * thread (when ops->poll) and the refresher. 0 and *@out, or -1 and *@err.
 */
int policy_open(const struct policy_config *cfg, struct policy **out, char **err);
/* Stops the threads and frees @p; the kernel keeps enforcing the live generation. */
void policy_close(struct policy *p);

/* The version the server made live last (0: empty policy). */
uint64_t policy_live_version(struct policy *p);
/* A copy of the live rules and their version. 0, or -1 with *@err. */
int policy_live_rules(struct policy *p, struct policy_set *out, uint64_t *version, char **err);
/* policy_check - policy_check_rule() on the manager's connection. 0, or -1 and *@err. */
int policy_check(struct policy *p, const struct policy_rule *r, char **err);

/*
 * policy_commit - make @rules the live policy as a new version whose base is
 * @base (the version the caller's transaction started from): compile,
 * prepare in the kernel, store the version and its rules in one batch, flip.
 * Any failure before the flip changes nothing anywhere. Fails with "policy
 * changed concurrently (version N is live); retry" when @base is not live.
 * @who must be root (the caller checks too). 0 and *@version, or -1, *@err.
 */
int policy_commit(struct policy *p, const struct policy_set *rules, uint64_t base,
		  const struct sql_session *who, uint64_t *version, char **err);
/* policy_rollback - commit the rules of stored version @to as a new version (action 'rollback'). */
int policy_rollback(struct policy *p, uint64_t to, const struct sql_session *who,
		    uint64_t *version, char **err);

/* policy_refused - record a refused policy change by @who (hook 'policy', verdict 'refused'). */
void policy_refused(struct policy *p, const struct sql_session *who);
/* policy_decisions_write - store @n kernel decisions (as the decisions thread does). 0, or -1 + *@err. */
int policy_decisions_write(struct policy *p, const struct dbos_lsm_decision *d, size_t n,
			   char **err);

/*
 * policy_refresh - recompile the live version if it has sets and re-push it
 * if the image changed (as the refresher does). 0, or -1 and *@err.
 */
int policy_refresh(struct policy *p, char **err);

/* dbos_stats rows: lsm_checks, lsm_denied, lsm_audited, lsm_lost, policy_version, ... */
int policy_stats(struct policy *p, struct sql_stat *out, int max);

/* Registers policies and policy_rollback() on a connection (sql_env.extend; extend_arg: the manager). */
int policy_sql_register(sqlite3 *db, const struct sql_env *env, const struct sql_session *who);

#endif /* DBOS_POLICY_H */
