/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kernel.h - dbosd's client of dbos.ko (libnl-genl-3): the "dbos" family's
 * events group, its commands (intake's dumps and queries, the file filter,
 * the scheduling commands) and nlctrl's family notifications. The BPF LSM
 * side of the kernel is enforce.h. Everything dbosd sends to or reads from
 * the kernel goes through this folder.
 *
 * The intake thread (intake/loop.c) owns one struct kernel_nl, three
 * sockets: @ev joins DBOS_MCGRP_EVENTS (64 MiB receive buffer, no sequence
 * check, non-blocking); a command socket carries GET_STATS / DUMP_PROCS /
 * GET_PROC / DUMP_FILES / SET_FILTER requests and their answers (blocking,
 * 5 s timeout); @ctrl joins nlctrl's "notify" group to see the family
 * appear (insmod) and disappear (rmmod). Replies and events are read with
 * plain recvfrom() into one buffer and handed on as raw bytes, exactly as
 * received, to the decoder. The scheduling commands open a command socket
 * of their own per call, so any thread may send them.
 */
#ifndef DBOS_KERNEL_KERNEL_H
#define DBOS_KERNEL_KERNEL_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dbos_uapi.h"

/* ---- what the intake session asks of the module ---- */

/* A GET_STATS reply. */
struct kernel_stats {
	uint32_t version;			/* DBOS_A_VERSION */
	uint64_t instance;			/* DBOS_A_INSTANCE */
	uint64_t v[DBOS_STATS_MAX + 1];		/* indexed by DBOS_STATS_* */
};

/* Receives one reply message, exactly as the kernel sent it. */
typedef void (*kernel_msg_fn)(void *ctx, const struct nlmsghdr *nlh, size_t len);

/* Which files the kernel reports (DBOS_CMD_SET_FILTER). */
struct kernel_filter {
	uint32_t kinds;				/* 1 << DBOS_FILE_* per kind reported */
	int nexclude;				/* <= DBOS_FILTER_PREFIXES */
	const char *exclude[DBOS_FILTER_PREFIXES];	/* path prefixes not reported */
};

/*
 * The module's commands, as the intake session (intake.h) calls them:
 * kernel_nl_ops over the real sockets (arg: the struct kernel_nl), or a
 * host test's or benchmark's own.
 */
struct kernel_ops {
	/* DBOS_CMD_GET_STATS. 0, or -errno (-ENOENT when the family is gone). */
	int (*get_stats)(void *arg, struct kernel_stats *out);
	/* DBOS_CMD_DUMP_PROCS: every reply message to @fn, in order. 0 or -errno. */
	int (*dump_procs)(void *arg, kernel_msg_fn fn, void *ctx);
	/* DBOS_CMD_GET_PROC of @pid: the reply to @fn. 0, -ESRCH, or -errno. */
	int (*get_proc)(void *arg, uint32_t pid, kernel_msg_fn fn, void *ctx);
	/* DBOS_CMD_DUMP_FILES of every process. NULL: no files mirror. 0 or -errno. */
	int (*dump_files)(void *arg, kernel_msg_fn fn, void *ctx);
	/* DBOS_CMD_SET_FILTER. NULL: the kernel's default. 0 or -errno. */
	int (*set_filter)(void *arg, const struct kernel_filter *flt);
};

/* ---- the events group and nlctrl notifications (module.c) ---- */

#define KERNEL_NL_RCVBUF	(64 << 20)	/* event socket receive buffer */

struct kernel_nl;

/*
 * kernel_nl_new - a detached handle with the nlctrl notification socket open.
 * 0, or -errno and *@err (free()): without notifications the caller can still
 * poll for the module with kernel_nl_attach().
 */
int kernel_nl_new(struct kernel_nl **out, char **err);
void kernel_nl_free(struct kernel_nl *nl);

/*
 * kernel_nl_attach - resolve the "dbos" family and its events group, open the
 * command socket, then join the events group on a fresh event socket. The
 * caller dumps only after this returns (subscribe first, then dump, so no
 * event falls between). 0; -ENOENT when the family is not registered (module
 * not loaded: *@err untouched); other -errno with *@err (free()).
 */
int kernel_nl_attach(struct kernel_nl *nl, char **err);

/* kernel_nl_detach - close the event and command sockets (no-op when detached). */
void kernel_nl_detach(struct kernel_nl *nl);

/* The pollable descriptors; -1 when absent. */
int kernel_nl_event_fd(const struct kernel_nl *nl);
int kernel_nl_ctrl_fd(const struct kernel_nl *nl);

/*
 * kernel_nl_recv_event - read one datagram from the event socket without
 * blocking. Returns its length with *@msg pointing at it (valid until the next
 * call), 0 when nothing is queued, -ENOBUFS after a receive overrun (events
 * were lost), -EMSGSIZE for a datagram larger than the buffer (lost too), or
 * another -errno.
 */
ssize_t kernel_nl_recv_event(struct kernel_nl *nl, const struct nlmsghdr **msg);

#define KERNEL_NL_FAMILY_NEW	(1 << 0)	/* "dbos" registered (or notifications were lost) */
#define KERNEL_NL_FAMILY_DEL	(1 << 1)	/* "dbos" unregistered */

/* kernel_nl_read_ctrl - drain nlctrl notifications; returns KERNEL_NL_FAMILY_* bits about "dbos". */
int kernel_nl_read_ctrl(struct kernel_nl *nl);

/* The commands over the handle's command socket (arg: the struct kernel_nl). */
extern const struct kernel_ops kernel_nl_ops;

/* ---- scheduling commands (sched.c) ---- */

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

/*
 * Each opens its own socket (any thread may call) and returns 0, or -errno
 * and *@err (free()): the kernel's extack message, naming the target ("pid
 * 42: ...") or the rule ("rule 2: ...") it is about, or why it could not ask.
 */

/* DBOS_CMD_SCHED_SET for @n targets, all or nothing; @tag goes into their SCHED records. */
int kernel_sched_set(const struct sched_target *t, size_t n, uint32_t tag, char **err);
/* DBOS_CMD_SCHED_RULES, stage: @n terms (n = 0: no rules) as version @version. */
int kernel_sched_rules_stage(uint64_t version, const struct sched_term *t, size_t n, char **err);
/* DBOS_CMD_SCHED_RULES, activate the staged @version (returns after the walk of every process). */
int kernel_sched_rules_activate(uint64_t version, char **err);

/* ---- what /proc shows now (live.c) ---- */

/*
 * A command socket of its own for DBOS_CMD_GET_LIVE (one thread at a time):
 * a query's cursor opens one and asks for the processes of the rows it reads.
 */
struct kernel_live;

/* Receives one process: @v and its strings (cwd, root, cgroup back to back, v->*_len bytes). */
typedef void (*kernel_live_fn)(void *arg, const struct dbos_live *v, const char *strings);

/* 0 and *@out; -ENOENT ("dbos module not loaded") or -errno, with *@err (free()). */
int kernel_live_open(struct kernel_live **out, char **err);
void kernel_live_close(struct kernel_live *kl);
/*
 * kernel_live_get - GET_LIVE of @n (<= DBOS_LIVE_PIDS_MAX) tgids, reading
 * the DBOS_LIVE_F_* @parts: @fn per process that exists, in the order asked
 * (none for the others). 0, or -errno with *@err (free()): the kernel's
 * message, -EBADMSG for a malformed reply.
 */
int kernel_live_get(struct kernel_live *kl, const uint32_t *pids, size_t n, uint32_t parts,
		    kernel_live_fn fn, void *arg, char **err);

#endif /* DBOS_KERNEL_KERNEL_H */
