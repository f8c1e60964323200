/* SPDX-License-Identifier: GPL-2.0 */
/* policy.h - the policy manager: versions, atomic commits into the store and the kernel, rollback, decisions. */
#ifndef DBOS_POLICY_H
#define DBOS_POLICY_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbserver/policy/compile.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/store.h"

/*
 * How the manager reaches the kernel: dbosd passes kernel/enforce.h's
 * functions (wrapped), host tests an in-test enforcer that can fail.
 * @prepare writes a generation (img->gen) into the idle slot without
 * changing what is enforced;
 * @flip makes it live and cannot fail; @live_version is the kernel's live
 * version. @poll and @counters may be NULL (no decisions thread, no
 * counters).
 *
 * Scheduling rules go to dbos.ko (kernel/kernel.h:
 * kernel_sched_rules_stage/activate): @sched_stage keeps a version's terms without enforcing them (a later
 * stage replaces them), @sched_activate makes the staged version live and
 * applies it to every process. NULL: versions with sched rules cannot be
 * committed. A commit calls: prepare, sched_stage, (store), flip,
 * sched_activate; both sched calls are skipped when neither the live nor
 * the new version has sched rules.
 *
 * Without an LSM enforcer (--no-lsm, no BPF LSM) dbosd passes only the
 * sched ops: @prepare, @flip and @live_version NULL. Then versions with
 * security rules (live or new) cannot be committed, sched-only ones can.
 */
struct policy_kernel_ops {
	int (*prepare)(void *arg, const struct policy_image *img, char **err);
	void (*flip)(void *arg);
	uint64_t (*live_version)(void *arg);
	/* The live generation's lineage marks (enforce_live_marks); NULL: none known. */
	void (*live_marks)(void *arg, uint64_t hash[DBOS_LSM_MARKS]);
	int (*poll)(void *arg, int timeout_ms,
		    void (*cb)(void *cbarg, const struct dbos_lsm_decision *d),
		    void *cbarg, char **err);
	void (*counters)(void *arg, uint64_t out[DBOS_LSM_C__COUNT]);
	int (*sched_stage)(void *arg, uint64_t version, const struct sched_term *t, size_t n,
			   char **err);
	int (*sched_activate)(void *arg, uint64_t version, char **err);
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
	/*
	 * Refused policy changes kept (0: POLICY_REFUSED_KEEP or @retention,
	 * whichever is smaller), apart from @retention: they never push the
	 * kernel's decisions out.
	 */
	uint64_t refused_retention;
	void (*log)(void *arg, const char *line);
	void *log_arg;
	/*
	 * A counter that moves whenever the mirrored tables change (NULL: never):
	 * the refresher recompiles a live policy with sets when it moved.
	 */
	uint64_t (*mirror_changes)(void *arg);
	void *mirror_arg;
};

/*
 * One rule of a version, as policies (or, for hook "sched", sched_rules)
 * shows it. Strings are owned by the set.
 */
struct policy_row {
	int64_t id;
	char *name, *hook, *action, *condition;	/* condition may be NULL */
	uint64_t changed;	/* version that last changed it */
	/* sched rules only (security rules: none set): what the rule sets */
	bool has_nice, has_priority;
	int32_t nice, priority;
	char *sched_policy, *cpus;	/* NULL: not set */
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
/* The same for a whole row (sched columns included). */
int policy_set_add_row(struct policy_set *s, const struct policy_row *r);
/* Whether @r is a sched rule (hook "sched"). */
bool policy_row_is_sched(const struct policy_row *r);
/*
 * policy_sched_vals - the values sched rule @r sets, checked: at least one
 * of nice, sched_policy and cpus; nice -20..19; sched_policy other, batch,
 * idle, fifo or rr; sched_priority 1..99 with fifo/rr only; cpus a CPU list.
 * 0, or -1 with *@err (free()) naming the rule and the value.
 */
int policy_sched_vals(const struct policy_row *r, struct sched_vals *v, char **err);
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
 * policy_commit - make @rules (security and sched rules) the live policy as
 * a new version whose base is @base (the version the caller's transaction
 * started from): compile, prepare in the kernel, stage the sched rules,
 * store the version and its rules in one batch, flip, activate the sched
 * rules. Any failure before the store write changes nothing anywhere. Fails with "policy
 * changed concurrently (version N is live); retry" when @base is not live.
 * @who must be root (the caller checks too). 0 and *@version, or -1, *@err.
 */
int policy_commit(struct policy *p, const struct policy_set *rules, uint64_t base,
		  const struct sql_session *who, uint64_t *version, char **err);
/* policy_rollback - commit the rules of stored version @to as a new version (action 'rollback'). */
int policy_rollback(struct policy *p, uint64_t to, const struct sql_session *who,
		    uint64_t *version, char **err);

/*
 * The fleet's rules (dbserver/fleet/agent.c) are the rules whose name
 * starts with POLICY_FLEET_PREFIX; local transactions cannot change them.
 */
#define POLICY_FLEET_PREFIX	"fleet:"

/*
 * policy_fleet_apply - make @fleet (rules with the names the fleet gives
 * them; ids and versions ignored) the live fleet rules, named
 * POLICY_FLEET_PREFIX + name, the host's own rules unchanged: one new
 * version (action 'fleet', from_version @fleet_version, by root), or none
 * when the live fleet rules are exactly these (*@version: the live one).
 * 0 and *@version, or -1 and *@err (nothing changed).
 */
int policy_fleet_apply(struct policy *p, const struct policy_set *fleet, uint64_t fleet_version,
		       uint64_t *version, char **err);

#define POLICY_REFUSED_KEEP	10000

/*
 * policy_refused - record a refused policy change by @who (hook 'policy',
 * verdict 'refused'). Refused attempts have a budget of their own
 * (policy_config.refused_retention): the newest are kept, the oldest
 * refused one goes when a new one comes, and the kernel's denials and
 * audits are never pushed out by them. Every attempt is counted
 * (policy_refused in dbos_stats).
 */
void policy_refused(struct policy *p, const struct sql_session *who);
/*
 * policy_decisions_load - at start: count the stored decisions into the
 * retention of the kernel's (hist) or of refused attempts, and the largest
 * seq into *@max_seq. 0, or -1 and *@err.
 */
int policy_decisions_load(struct policy *p, uint64_t *max_seq, char **err);
/* policy_decisions_write - store @n kernel decisions (as the decisions thread does). 0, or -1 + *@err. */
int policy_decisions_write(struct policy *p, const struct dbos_lsm_decision *d, size_t n,
			   char **err);

/*
 * policy_refresh - recompile the live version if it has sets or files named by
 * exact paths (policy_image.ilits) and re-push it if the image changed (as
 * the refresher does). 0, or -1 and *@err.
 */
int policy_refresh(struct policy *p, char **err);

/* dbos_stats rows: lsm_checks, lsm_denied, lsm_audited, lsm_lost, policy_version, ... */
int policy_stats(struct policy *p, struct sql_stat *out, int max);

/*
 * policy_sql_register - the policy layer's part of every client connection
 * (sql_env.extend; extend_arg: the manager): the policies, sched_rules and
 * policy_simulate tables and policy_rollback() (policy/tables.c). SQLite's
 * result code.
 */
int policy_sql_register(sqlite3 *db, const struct sql_env *env, const struct sql_session *who);

#endif /* DBOS_POLICY_H */
