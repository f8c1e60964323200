/* SPDX-License-Identifier: GPL-2.0 */
/* compile_int.h - what compile.c (conditions -> terms) hands image.c (terms -> rule maps). */
#ifndef DBOS_POLICY_COMPILE_INT_H
#define DBOS_POLICY_COMPILE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dbserver/policy/compile.h"
#include "dbserver/policy/parse.h"

#define POLICY_MAX_CONJUNCTS	64	/* DNF conjuncts of one rule */

/* A value as the values map encodes it (struct dbos_lsm_value_key.value). */
struct pval {
	uint8_t b[16];
};

/* A sorted set of values without duplicates. */
struct pvset {
	struct pval *v;
	size_t n;
};

/*
 * A path constraint string: exact ones end with their NUL (len counts it),
 * prefixes do not. An exact PATH of an exec, open or connect rule also
 * names the file found there at compile (has_inode: its ino and dev).
 */
struct pstr {
	size_t len;
	char s[DBOS_LSM_PATH_MAX];
	int has_inode;
	uint32_t dev;			/* the kernel's s_dev: MAJOR << 20 | MINOR */
	uint64_t ino;
};

/* path field @field (PATH or EXE) matches one of @m (or none of them, if neg) */
struct ppath {
	int field;
	int neg;
	const struct pstr *m;
	size_t n;
};

enum { FC_ANY, FC_IN, FC_NOT_IN };

/* One conjunct of one rule: a bit of its hook. */
struct pterm {
	int64_t rule_id;
	int action;			/* enum policy_action */
	int inherit;			/* pid constraint from a subquery */
	/* lineage: the caller descends from a process matching mark m (bit m), or not */
	uint64_t lin_req, lin_forb;
	int mark;			/* POLICY_HOOK_ANCESTOR terms: the mark they define */
	const struct sched_vals *sched;	/* hook "sched": what the rule sets */
	struct {
		int kind;		/* FC_* */
		struct pvset s;
	} f[DBOS_LSM_F__COUNT];		/* every field but PATH and EXE */
	struct ppath *p;		/* PATH and EXE constraints, all of which hold */
	size_t np;
};

struct pterms {
	struct pterm *t;
	size_t n;
};

/* @l as a value of column @col (not PATH), or -1 with @why saying what is wrong. */
int lit_value(const struct pcol *col, const struct plit *l, struct pval *v, char *why,
	      size_t size);
/* @l as a path constraint (exact, or a GLOB pattern if @glob), or -1 with @why. */
int lit_path(const struct pcol *col, const struct plit *l, int glob, struct pstr *p, char *why,
	     size_t size);
/*
 * The file at @path now (stat(2): symlinks followed): 1 with its inode
 * number and device in the kernel's encoding (struct super_block.s_dev,
 * MAJOR << 20 | MINOR), or 0 when there is none.
 */
int lit_inode(const char *path, uint64_t *ino, uint32_t *dev);

/*
 * lit_resolve - @p as the kernel sees the file it names now: symlinks in any
 * component (and, for an exact path, the file itself) resolved by realpath(3)
 * in dbosd's namespace; for a prefix, only its directory part. 1 and *@out
 * when that differs from @p; 0 when it is the same, relative or unresolvable.
 */
int lit_resolve(const struct pstr *p, struct pstr *out);
int pvset_cmp(const void *a, const void *b);
void pterms_free(struct pterms *ts);

/*
 * image_build - the generation of @ts (terms of each LSM hook in order, and
 * at DBOS_LSM_MARK the lineage marks' terms, each naming its mark), with
 * mark ids already the kernel's, and @hash (the conditions of marks
 * 0..DBOS_LSM_MARKS-1, 0: none); or -1 with *@err (free()) when a hook or a
 * map would exceed what the kernel holds.
 */
int image_build(const struct pterms ts[DBOS_LSM_CFGS], const uint64_t *hash, uint64_t version,
		struct policy_image **out, char **err);

/*
 * sched_build - the sched hook's terms @ts (in order) as SCHED_RULES terms
 * into img->sched, or -1 with *@err when they exceed what the module takes.
 * @rules (@n) name the rules in messages.
 */
int sched_build(const struct pterms *ts, const struct policy_rule *rules, size_t n,
		struct policy_image *img, char **err);

#endif /* DBOS_POLICY_COMPILE_INT_H */
