/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sched.h - the text forms of scheduling values (CPU lists, policy names)
 * and who asked for a change. The requests themselves (SCHED_SET,
 * SCHED_RULES) and their values are the kernel layer's
 * (dbserver/kernel/kernel.h).
 *
 * Every function is thread-safe: SQL threads (UPDATE processes), the policy
 * manager (sched_rules) and the intake thread (sched_decisions) call them.
 */
#ifndef DBOS_SCHED_H
#define DBOS_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "dbos_uapi.h"

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
