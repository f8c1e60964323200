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

/* One fd of a process: a row of process_open_files. */
struct fdent {
	uint32_t fd;
	bool dirty;		/* changed since the last commit: on the files dirty list */
	bool stored;		/* its row is in the store (as of the batch) */
	uint16_t kind;		/* enum dbos_file_kind */
	uint32_t flags, mode;
	uint32_t gen;		/* re-sync generation of the last snapshot that saw it */
	uint64_t seq;		/* the record that set it */
	uint64_t inode, dev;
	char *path;		/* malloc'ed, @plen bytes */
	uint32_t plen;
};

/* fdent_free - frees what @e owns (its path). */
void fdent_free(struct fdent *e);

/* The fd table of one pid, sorted by fd. */
struct fdproc {
	uint32_t pid;
	uint32_t n, cap;
	uint32_t t_s;		/* when @floor was set */
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
