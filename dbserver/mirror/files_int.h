/* SPDX-License-Identifier: GPL-2.0 */
/* files_int.h - what files.c (fds) and sockets.c (sockets) of the files mirror share. */
#ifndef DBOS_MIRROR_FILES_INT_H
#define DBOS_MIRROR_FILES_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dbserver/mirror/fdtab.h"
#include "dbserver/mirror/files.h"
#include "dbserver/mirror/history.h"
#include "dbserver/store/changes.h"
#include "dbserver/store/row.h"

#define NSEC	1000000000ULL
#define TCP_LISTEN_STATE 10	/* sk_state of a listener, every family */

/* The files mirror: used by the mirror's one thread only (see mirror.h). */
struct files {
	struct store *st;
	struct store_batch *b;
	uint64_t *c;			/* the mirror's counters */
	struct ptrmap procs;		/* pid -> struct fdproc */
	struct ptrmap socks;		/* inode -> struct sockent */
	struct history fev, sev;	/* file_events, socket_events */
	char *enc;
	size_t enc_cap;
	uint64_t now_ns;
	uint64_t nfds, nsocks;		/* rows */
	uint32_t gen;
	bool in_resync, dumped;
	uint64_t first_snap;
	uint64_t dump_floor;		/* the last complete files dump's first snapshot seq */
	struct { uint32_t pid, fd; } *dirty;
	size_t ndirty, dirty_cap;
	struct changes_log *chg;	/* the mirror's: every row change, as it happens */
	uint64_t cause_seq, cause_time;	/* of the record being applied (files_set_cause) */
};

static inline struct row_value files_text(const char *s)
{
	return row_text(s, strlen(s));
}

static inline uint32_t files_now_s(const struct files *f)
{
	return (uint32_t)(f->now_ns / NSEC);
}

static inline uint64_t files_int_col(const struct row_value *v)
{
	return v->type == ROW_INT ? (uint64_t)v->i : 0;
}

/* files_encode - encode a row into f->enc. 0, or -1 on ENOMEM. */
int files_encode(struct files *f, const struct row_value *v, int n, size_t *len);

/* sockets.c: the sockets working copy (rule 3 of files.c). */
struct sockent *sock_get(struct files *f, uint64_t inode);	/* found or made; NULL: ENOMEM */
void sock_sync(struct files *f, struct sockent *so, bool changed);	/* row = what is visible */
void sock_ref(struct files *f, uint64_t inode, int d);	/* live fd rows pointing at it: +1 / -1 */
enum mirror_result sock_apply(struct files *f, const struct mirror_rec *r, uint64_t s);
/* A socket_events row; @so gives the socket's columns (NULL: unknown, NULL columns). */
void socket_history(struct files *f, const struct dbos_rec_hdr *h, uint64_t s,
		    const char *action, uint32_t pid, uint32_t fd, uint64_t inode,
		    const struct sockent *so);
/* One stored sockets row back into the working copy (files_open()). 0 or -1 (ENOMEM). */
int load_sock(struct files *f, uint64_t inode, const char *val, size_t vlen);

#endif /* DBOS_MIRROR_FILES_INT_H */
