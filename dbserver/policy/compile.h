/* SPDX-License-Identifier: GPL-2.0 */
/* compile.h - policy rules (SQL conditions over a hook's context columns) -> one generation of BPF rule maps. */
#ifndef DBOS_POLICY_COMPILE_H
#define DBOS_POLICY_COMPILE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "dbserver/kernel/enforce.h"
#include "dbserver/kernel/kernel.h"
#include "libdbos/dbos_lsm.h"

enum policy_action {
	POLICY_DENY,
	POLICY_AUDIT,
	POLICY_ALLOW,
	POLICY_SET,		/* sched rules only: set their values */
};

/*
 * A sixth "hook" beside the LSM hooks: scheduling rules (sched_rules). Its
 * context is the process (pid, uid, euid, gid, name, exe) at exec, comm
 * change and credential change; its terms go to DBOS_CMD_SCHED_RULES, not
 * into the BPF maps.
 */
#define POLICY_HOOK_SCHED	DBOS_LSM_HOOK__COUNT
#define POLICY_HOOK__COUNT	(DBOS_LSM_HOOK__COUNT + 1)
/*
 * Not a hook a rule names: the condition inside a lineage subquery, pid IN
 * (SELECT pid FROM process_ancestors WHERE <condition>), over the ancestor's
 * columns (ancestor, ancestor_name, ancestor_path, ancestor_uid, ...). Such a
 * condition becomes a lineage mark the kernel keeps (dbos_lsm.h).
 */
#define POLICY_HOOK_ANCESTOR	POLICY_HOOK__COUNT

/* One row of policies. Strings are owned by the caller. */
struct policy_rule {
	int64_t id;		/* policies.id: unique, orders the rules */
	const char *name;
	const char *hook;	/* "exec", "open", "connect", "bind", "kill", "sched" */
	const char *action;	/* "deny", "audit", "allow"; "set" for hook "sched" */
	const char *condition;	/* SQL boolean expression; NULL or "" means always */
	/*
	 * 1: this condition already passed policy_check_rule() (e.g. a rule an
	 * earlier version compiled): policy_compile() skips SQLite's prepare
	 * of it, which is most of the cost of compiling an unchanged rule.
	 */
	int checked;
	/* hook "sched": the values the rule sets (required; at least one set) */
	const struct sched_vals *sched;
};

/* An exact path of an exec, open or connect rule and the file found there at compile. */
struct policy_inode_lit {
	char path[DBOS_LSM_PATH_MAX];
	int found;		/* a file was there: */
	uint32_t dev;		/* its device (struct super_block.s_dev) */
	uint64_t ino;		/* and inode number */
};

/*
 * One compiled generation: @gen, everything enforce_prepare() writes into
 * the kernel, plus what the server keeps: which rule each term came from
 * (to name the rule of a decision), the sets and files to watch, the sched
 * terms, the notes. Free with policy_image_free().
 */
struct policy_image {
	struct enforce_gen gen;
	/* term_rule[h][t]: policies.id of term t of hook h (t < nterms[h]; MARK: the first rule using it) */
	int64_t *term_rule[DBOS_LSM_CFGS];
	uint32_t nterms[DBOS_LSM_CFGS];
	/* 1 if some term uses a set the server evaluated (pid/uid IN (SELECT ...)): recompile as the tables change */
	int has_sets;
	/*
	 * Lineage marks: mark_hash[m] identifies mark m's condition (0: no mark
	 * m); gen.marks_new has the marks whose condition the previous live
	 * image (policy_compile's @prev) did not give that id: the kernel
	 * computes them for every process before this image goes live.
	 */
	uint64_t mark_hash[DBOS_LSM_MARKS];
	/* what the user should know about these rules (policy_notes), one per line; NULL: nothing */
	char *notes;
	/*
	 * The exact paths whose files the image names by device and inode
	 * (INODE entries), sorted, each once: when one of them names another
	 * file now (policy_image_inodes_changed), the rules are compiled again.
	 */
	struct policy_inode_lit *ilits;
	size_t nilits;
	/* sched rules: their terms for SCHED_RULES, in rule id order (not BPF entries) */
	struct sched_term *sched;
	size_t nsched;
};

/* Hook name <-> enum (POLICY_HOOK_SCHED for "sched"); -1 / NULL when unknown. */
int policy_hook_parse(const char *name);
const char *policy_hook_name(int hook);
/* Action name <-> enum; -1 / NULL when unknown. */
int policy_action_parse(const char *name);
const char *policy_action_name(int action);

/*
 * policy_check_rule - check one rule alone (hook and action names, the
 * condition parses, is valid SQL over policy_context_<hook> in @db, and can be
 * placed in the kernel). 0, or -1 with *@err (free()) naming the rule, the
 * part of the condition that fails and why, e.g.
 *   "rule 'x': 'port > 1024': only =, <>, IN, NOT IN and (on path)
 *    GLOB 'prefix*' compile into the kernel"
 */
int policy_check_rule(sqlite3 *db, const struct policy_rule *r, char **err);

/*
 * policy_exactness - how a rule of @hook with @condition is decided: "kernel"
 * when everything in it is known to the kernel at the moment of the check
 * (its own columns and lineage subqueries, pid IN (SELECT pid FROM
 * process_ancestors WHERE <condition on the ancestor's columns>)), "server"
 * when it has a subquery the server evaluates and keeps current (a little
 * behind the kernel). NULL for a hook or condition that does not parse.
 */
const char *policy_exactness(const char *hook, const char *condition);

/*
 * policy_notes - what a user should know about a rule of @hook with
 * @condition, one line each, or NULL: today, path literals that name a
 * symlink (or a path through one), which the kernel never sees (it compares
 * paths with symlinks resolved): the rule also matches the resolved path,
 * as it is now. free() the result.
 */
char *policy_notes(const char *hook, const char *condition);

/*
 * policy_compile - compile @rules (any order; terms are numbered by rule id)
 * into *@out with @version. Lineage subqueries become lineage marks, keeping
 * the ids @prev (the live image's mark_hash, or NULL) gives their
 * conditions, never reusing another id @prev holds (at most DBOS_LSM_MARKS
 * in both together). Other subqueries (pid IN (SELECT ...), uid IN (SELECT
 * ...)) run on @db now. Sched rules become img->sched (their LSM maps are
 * untouched). @db is a dbos session (sql_open_session): the subqueries run
 * under its guard, which stays installed (sql_authorize). 0, or -1 with
 * *@err (free()) as for policy_check_rule, or
 * when a hook would need more than DBOS_LSM_MAX_TERMS terms or a map more
 * entries than DBOS_LSM_VALUES_MAX / DBOS_LSM_PATHS_MAX, or the sched rules
 * more than DBOS_SCHED_TERMS_MAX terms, DBOS_SCHED_MATCH_MAX matches in a
 * term or DBOS_SCHED_VALUES_MAX values.
 */
int policy_compile(sqlite3 *db, const struct policy_rule *rules, size_t n,
		   uint64_t version, const uint64_t *prev, struct policy_image **out, char **err);
void policy_image_free(struct policy_image *img);

/*
 * A compile kept to evaluate its server-side subqueries again (pid IN
 * (SELECT ...), uid IN (SELECT ...)) without compiling its rules again:
 * the refresher's, while the mirror changes. Not thread-safe; one user.
 */
struct policy_program;

/*
 * policy_compile_program - policy_compile, and when the rules have
 * server-side subqueries (img->has_sets) and @prog is not NULL, the compile
 * kept in *@prog (else *@prog is NULL). @rules and their strings must
 * outlive *@prog. 0, or -1 with *@err.
 */
int policy_compile_program(sqlite3 *db, const struct policy_rule *rules, size_t n,
			   uint64_t version, const uint64_t *prev, struct policy_image **out,
			   struct policy_program **prog, char **err);
/*
 * policy_program_refresh - run @prog's server-side subqueries again on @db
 * (nothing else: no parse, no SQLite check of the rules): 0 with *@out NULL
 * when every set is what it was, 0 with *@out the new image (same version,
 * terms and lineage mark ids; gen.marks_new empty) when a set changed, -1
 * with *@err when a subquery fails (@prog keeps its sets).
 */
int policy_program_refresh(sqlite3 *db, struct policy_program *prog, struct policy_image **out,
			   char **err);
void policy_program_free(struct policy_program *prog);
/* Whether a path of img->ilits names another file now than at compile (or one appeared or went). */
int policy_image_inodes_changed(const struct policy_image *img);

/* Whether two lists of sched terms would stage the same rules in the kernel. */
int policy_sched_terms_equal(const struct sched_term *a, size_t na,
			     const struct sched_term *b, size_t nb);
void policy_sched_terms_free(struct sched_term *t, size_t n);

#endif /* DBOS_POLICY_COMPILE_H */
