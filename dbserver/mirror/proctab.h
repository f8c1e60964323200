/* SPDX-License-Identifier: GPL-2.0 */
/* proctab.h - the mirror's in-memory working copy: an open-addressing hash of pid -> process state. */
#ifndef DBOS_MIRROR_PROCTAB_H
#define DBOS_MIRROR_PROCTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the mirror knows about a pid (see mirror.c for the rules). */
enum proc_state {
	PROC_EMPTY,	/* free slot (pid 0) */
	PROC_LIVE,	/* a live process: @live holds its row */
	PROC_DEAD,	/* it exited at @seq: its row is deleted, and the slot freed, at the next commit */
};

#define PROC_F_DIRTY	(1U << 0)	/* changed since the last commit (pid is on the dirty list) */
#define PROC_F_STORED	(1U << 1)	/* a row for this pid is in the store (as of the batch) */
#define PROC_F_CHILDREN	(1U << 2)	/* LIVE: a thread exited with children (ask for them at the exit) */

/* A growable byte string owned by a struct proc_live; kept when the struct is recycled. */
struct proc_str {
	char *p;
	uint32_t len;
	uint32_t cap;
};

/*
 * The working copy of one live process. Each group of columns remembers the
 * seq of the record that set it: records come in seq order, but snapshots
 * (dumps, GET_PROC) interleave with records older than them (see mirror.c).
 */
struct proc_live {
	uint32_t ppid, uid, gid, euid, egid, policy, state;
	int32_t nice;
	uint64_t start_time_ns;
	char comm[16];
	uint64_t floor;		/* records with seq <= floor belong to an earlier incarnation */
	uint64_t str_seq;	/* seq of the record that set path/cmdline; 0: unknown (NULL) */
	uint64_t cwd_seq;	/* seq of the snapshot that set cwd; 0: unknown (NULL) */
	uint64_t threads_seq;	/* seq of the record the thread count base came from */
	int32_t threads_base;	/* threads as of threads_seq */
	int32_t threads_delta;	/* +fork -exit of thread events with seq > threads_seq */
	uint32_t gen;		/* re-sync generation of the last snapshot that saw it */
	/* scheduling: each group merges by its own seq (see sched.c) */
	uint64_t sched_seq;	/* seq of the record that set nice, policy (and priority) */
	uint64_t cpus_seq;	/* seq of the SCHED record (or FORK) that set cpus; 0: unknown (NULL) */
	uint32_t priority;	/* real-time priority, valid if prio_known */
	bool prio_known;	/* false: sched_priority NULL */
	struct proc_str path, cmdline, cwd, cpus;
	struct proc_live *next_free;
};

/* One hash slot: 24 bytes. */
struct proc_slot {
	uint32_t pid;		/* 0: empty */
	uint8_t state;		/* enum proc_state */
	uint8_t flags;		/* PROC_F_* */
	uint16_t __pad;
	uint64_t seq;		/* LIVE: newest record applied; DEAD: exit seq */
	struct proc_live *live;	/* LIVE: the row */
};

struct proctab {
	struct proc_slot *slots;
	uint32_t mask;		/* capacity - 1 (capacity is a power of two) */
	uint32_t used;
};

/* proc_str_set - copy @n bytes of @p into @s, growing it. 0, or -1 on ENOMEM (@s unchanged). */
int proc_str_set(struct proc_str *s, const char *p, size_t n);

/* proctab_init - empty table with room for @hint pids. 0, or -1 on ENOMEM. */
int proctab_init(struct proctab *t, uint32_t hint);
/* proctab_free - frees the slot array (not the proc_live structs; the caller owns those). */
void proctab_free(struct proctab *t);

/* proctab_find - the slot of @pid, or NULL. Pointers stay valid until the next insert or remove. */
static inline struct proc_slot *proctab_find(struct proctab *t, uint32_t pid)
{
	uint32_t i = (pid * 0x9E3779B1u) & t->mask;

	for (;; i = (i + 1) & t->mask) {
		struct proc_slot *s = &t->slots[i];

		if (s->pid == pid)
			return s;
		if (!s->pid)
			return NULL;
	}
}

/*
 * proctab_insert - the slot of @pid (@pid != 0), adding an empty one
 * (state PROC_EMPTY, flags 0) if absent; may grow the table, which
 * invalidates every slot pointer. NULL on ENOMEM.
 */
struct proc_slot *proctab_insert(struct proctab *t, uint32_t pid);

/* proctab_remove - removes @s (backward-shift deletion: no markers left behind). */
void proctab_remove(struct proctab *t, struct proc_slot *s);

#define proctab_for_each(t, s) \
	for ((s) = (t)->slots; (s) <= &(t)->slots[(t)->mask]; (s)++) \
		if ((s)->pid)

#endif /* DBOS_MIRROR_PROCTAB_H */
