/* SPDX-License-Identifier: GPL-2.0 */
/* fdtab.h - the files mirror's working copy: per-process fd vectors and sockets, in u64-keyed hash maps. */
#ifndef DBOS_MIRROR_FDTAB_H
#define DBOS_MIRROR_FDTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An open-addressing map from a nonzero u64 to a non-NULL pointer (linear probing). */
struct ptrmap_slot {
	uint64_t key;
	void *val;		/* NULL: free slot */
};

struct ptrmap {
	struct ptrmap_slot *slots;
	uint32_t mask;		/* capacity - 1 (a power of two) */
	uint32_t used;
};

int ptrmap_init(struct ptrmap *m, uint32_t hint);	/* 0, or -1 on ENOMEM */
void ptrmap_free(struct ptrmap *m);			/* the slots, not the values */
void *ptrmap_get(const struct ptrmap *m, uint64_t key);
int ptrmap_put(struct ptrmap *m, uint64_t key, void *val);	/* insert or replace; -1 on ENOMEM */
void *ptrmap_del(struct ptrmap *m, uint64_t key);	/* the value removed, or NULL */

/*
 * Iterate over every entry; the map must not change meanwhile (collect keys
 * first to delete).
 */
#define ptrmap_for_each(m, s) \
	for ((s) = (m)->slots; (s) <= &(m)->slots[(m)->mask]; (s)++) \
		if ((s)->val)

/*
 * An earlier file of an fd number, open during [@open_seq, @close_seq): kept
 * (the last FD_VERSIONS of them, for a few seconds) so that a FORK whose
 * record arrives after the parent closed and reused the number still copies
 * what the child inherited.
 */
#define FD_VERSIONS	2

struct fdver {
	uint64_t open_seq, close_seq;	/* open_seq 0: empty */
	uint64_t inode, dev;
	uint32_t flags, mode, t_s;
	uint16_t kind;
	bool unknown;		/* a close of a file never seen (open_seq 1: since always) */
	bool close_unlogged;	/* ... not in file_events yet (at close_time_ns, close_cpu) */
	uint16_t close_cpu;
	uint64_t close_time_ns;
	uint32_t plen;
	char *path;
};

/*
 * One fd of a process: a live row, or a tombstone (the fd was closed at
 * @seq: older records about it must not bring it back). A tombstone keeps
 * the file's columns and @open_seq, the seq of the open it closed (0: none
 * seen), so that a FORK that happened between the two, arriving late, still
 * copies the file to the child.
 */
struct fdent {
	uint32_t fd;
	bool live;
	bool close_unlogged;	/* tombstone of a close whose open was not seen yet */
	bool dirty;		/* changed since the last commit: on the files dirty list */
	bool stored;		/* its row is in the store (as of the batch) */
	uint16_t kind;		/* enum dbos_file_kind */
	uint16_t close_cpu;	/* close_unlogged: the close's CPU */
	uint32_t flags, mode;
	uint32_t gen;		/* re-sync generation of the last snapshot that saw it */
	uint32_t t_s;		/* tombstone: when it was made (s, mirror clock) */
	uint64_t seq;		/* live: record that set it; tombstone: the close */
	uint64_t open_seq;	/* tombstone: seq of the row it ended (0: none) */
	uint64_t inode, dev;
	uint64_t close_time_ns;	/* close_unlogged: the close's time */
	char *path;		/* malloc'ed, @plen bytes */
	uint32_t plen;
	struct fdver *ver;	/* NULL, or FD_VERSIONS earlier files, newest first */
};

/* fdent_free - frees what @e owns (path, versions). */
void fdent_free(struct fdent *e);

/* The fd table of one pid, sorted by fd. */
struct fdproc {
	uint32_t pid;
	uint32_t n, cap;
	uint32_t t_s;		/* when @floor was set */
	uint32_t parent;	/* forked from this pid at @fork_seq (0: unknown) */
	uint64_t fork_seq;
	uint64_t child_fork_max; /* largest @fork_seq of its children */
	uint64_t floor;		/* died (or was born) at this seq: older records are stale */
	struct fdent *v;
};

/* fdproc_find - the entry for @fd, or NULL; *@pos: where it is or would go. */
struct fdent *fdproc_find(const struct fdproc *p, uint32_t fd, uint32_t *pos);
/* fdproc_insert - a zeroed entry for @fd at @pos (from fdproc_find). NULL on ENOMEM. */
struct fdent *fdproc_insert(struct fdproc *p, uint32_t fd, uint32_t pos);
/* fdproc_remove - drop the entry at index @i (frees its path). */
void fdproc_remove(struct fdproc *p, uint32_t i);

/* What the mirror knows about one socket inode. */
struct sockent {
	uint64_t inode;
	int32_t refs;		/* live fd rows that point at it */
	bool has_info;		/* a SOCK_* record described it */
	bool stored;		/* its row is in the store (as of the batch) */
	uint32_t t_s;		/* when refs last dropped to 0 (or it was made with none) */
	uint64_t seq;		/* the record that set the info */
	uint64_t peer_inode;
	uint32_t netns;
	uint16_t family, type, protocol, lport, rport;
	uint8_t state;
	uint8_t laddr[16], raddr[16];
	char *path, *peer_path;	/* display forms ("@name" for abstract) */
	uint32_t plen, pplen;
};

void sockent_free(struct sockent *so);

#endif /* DBOS_MIRROR_FDTAB_H */
