/* SPDX-License-Identifier: GPL-2.0 */
/*
 * enforce.h - dbosd's side of the BPF LSM: loads and pins the programs of
 * bpf/dbos_lsm.bpf.c (or adopts the pinned ones), writes compiled
 * generations, flips the live one, and reads decisions.
 */
#ifndef DBOS_KERNEL_ENFORCE_H
#define DBOS_KERNEL_ENFORCE_H

#include <stddef.h>
#include <stdint.h>

#include "libdbos/dbos_lsm.h"

struct enforce_value {
	struct dbos_lsm_value_key key;
	struct dbos_lsm_bits bits;
};

struct enforce_path {
	struct dbos_lsm_path_key key;
	struct dbos_lsm_bits bits;
};

/*
 * One generation of the rule maps (libdbos/dbos_lsm.h): what
 * enforce_prepare() writes into the idle slot. The policy compiler builds
 * it (struct policy_image.gen); test_enforce builds it by hand.
 */
struct enforce_gen {
	uint64_t version;
	/* the LSM hooks' configs, then DBOS_LSM_MARK's (the lineage marks' conditions) */
	struct dbos_lsm_hook_cfg cfg[DBOS_LSM_CFGS];
	struct enforce_value *values;
	size_t nvalues;
	struct enforce_path *paths;
	size_t npaths;
	/*
	 * With pid sets: every pid the server saw before it evaluated the sets,
	 * sorted (NULL: none). A re-push of the live version keeps the kernel's
	 * own PID entries of the others (processes forked since).
	 */
	uint32_t *known_pids;
	size_t nknown;
	/* the lineage marks the kernel computes for every process before this goes live */
	uint64_t marks_new;
};

struct enforce;

/*
 * enforce_open - adopt the programs and maps pinned under @pin_dir (NULL:
 * DBOS_LSM_PIN_DIR) when they are there with this ABI, else load, attach
 * and pin them (with an empty live generation, version 0). Mounts bpffs on
 * /sys/fs/bpf if needed. 0 and *@out, or -1 and *@err (free()) saying why,
 * e.g. "BPF LSM is not active: boot with lsm=...,bpf".
 */
int enforce_open(const char *pin_dir, struct enforce **out, char **err);
/* 1 if enforce_open() adopted pinned state, 0 if it loaded fresh programs. */
int enforce_adopted(const struct enforce *e);
/* Policy version of the live generation (0: none yet). */
uint64_t enforce_live_version(const struct enforce *e);

/* The live generation's lineage marks: hash[m] of mark m's condition (0: none). */
void enforce_live_marks(const struct enforce *e, uint64_t hash[DBOS_LSM_MARKS]);

/*
 * enforce_prepare - write @gen into fresh maps in the idle slot, and when it
 * brings new lineage marks, have the kernel compute them for every process
 * (a walk of the task list). Nothing the kernel enforces changes. 0, or -1
 * with *@err (free()); after an error the idle slot is simply not used.
 */
int enforce_prepare(struct enforce *e, const struct enforce_gen *gen, char **err);
/*
 * enforce_flip - make the prepared generation live (one store). Cannot fail;
 * call only after a successful enforce_prepare(). Then re-arms the idle slot.
 */
void enforce_flip(struct enforce *e);

/*
 * enforce_poll - wait up to @timeout_ms for decisions and call @cb for each
 * (from the calling thread). Returns how many, or -1 with *@err.
 */
int enforce_poll(struct enforce *e, int timeout_ms,
		 void (*cb)(void *arg, const struct dbos_lsm_decision *d), void *arg,
		 char **err);
/* Sum over CPUs of each enum dbos_lsm_counter. */
void enforce_counters(const struct enforce *e, uint64_t out[DBOS_LSM_C__COUNT]);

/* Frees @e; the pinned programs keep enforcing the live generation. */
void enforce_close(struct enforce *e);
/* Detaches the programs and removes every pin under @pin_dir: enforcement stops. */
int enforce_unload(const char *pin_dir, char **err);

#endif /* DBOS_KERNEL_ENFORCE_H */
