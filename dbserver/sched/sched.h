/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sched.h - scheduling through dbos.ko: requests (SCHED_SET, SCHED_RULES),
 * the text forms of the values (CPU lists, policy names) and who asked.
 *
 * Every function is thread-safe: SQL threads (UPDATE processes), the policy
 * manager (sched_rules) and the intake thread (sched_decisions) call them.
 */
#ifndef DBOS_SCHED_H
#define DBOS_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbos_uapi.h"

/* Values to set; an unset one is left as it is (as DBOS_CMD_SCHED_SET's optional attributes). */
struct sched_vals {
	bool has_nice;
	int32_t nice;			/* -20..19 */
	bool has_policy;
	uint32_t policy;		/* SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR */
	uint32_t priority;		/* 1..99 with FIFO/RR, else 0 */
	uint16_t cpus_len;		/* 0: CPUs not set */
	uint8_t cpus[DBOS_CPUS_MAX];	/* bit n % 8 of byte n / 8 is CPU n */
};

struct sched_target {
	uint32_t pid;			/* a tgid */
	struct sched_vals v;
};

/* One SCHED_RULES match: @field (enum dbos_sched_field) equals one of the values, or none if @negate. */
struct sched_match {
	uint32_t field;
	bool negate;
	uint32_t *ints;			/* PID, UID, EUID, GID */
	size_t nints;
	char **strs;			/* NAME, EXE: exact */
	size_t nstrs;
	char **prefixes;		/* EXE: prefixes */
	size_t nprefixes;
};

/* One SCHED_RULES term: every match holds -> set @v (the rule @rule_id). */
struct sched_term {
	uint32_t rule_id;
	struct sched_vals v;
	struct sched_match *m;
	size_t nm;
};

/* ---- requests to the module (request.c): 0, or -errno and *@err (the kernel's extack if any; free()) ---- */

/* DBOS_CMD_SCHED_SET for @n targets, all or nothing; @tag goes into their SCHED records. */
int sched_set(const struct sched_target *t, size_t n, uint32_t tag, char **err);
/* DBOS_CMD_SCHED_RULES, stage: @n terms (n = 0: no rules) as version @version. */
int sched_rules_stage(uint64_t version, const struct sched_term *t, size_t n, char **err);
/* DBOS_CMD_SCHED_RULES, activate the staged @version (returns after the walk of every process). */
int sched_rules_activate(uint64_t version, char **err);

/* ---- text forms (text.c) ---- */

/*
 * "0-3,5" (as Cpus_allowed_list and taskset -c) -> bitmap; *@len = bytes
 * used (at least 1). 0, or -1 with @why ("CPU 2000 is beyond 1023", ...).
 */
int sched_cpus_parse(const char *list, uint8_t cpus[DBOS_CPUS_MAX], uint16_t *len,
		     char *why, size_t size);
/* bitmap -> "0-3,5" into @out (empty string for no CPU). */
void sched_cpus_format(const uint8_t *cpus, size_t len, char *out, size_t size);
/* "other", "batch", "idle", "fifo", "rr" (case-insensitive) -> SCHED_*; -1 otherwise. */
int sched_policy_parse(const char *name);
/* SCHED_* -> "other", ..., "deadline"; NULL for an unknown number. */
const char *sched_policy_name(uint32_t policy);

/* ---- who asked (who.c): SCHED_SET tags -> the SQL client, for sched_decisions ---- */

/* A new tag (never 0) remembered with @uid and @pid; the last 4096 are kept. */
uint32_t sched_tag_new(uint32_t uid, uint32_t pid);
/* 0 and *@uid, *@pid for a tag still remembered, else -1. */
int sched_tag_who(uint32_t tag, uint32_t *uid, uint32_t *pid);

#endif /* DBOS_SCHED_H */
