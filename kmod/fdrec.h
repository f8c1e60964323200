/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fdrec.h - turning open files and sockets into dbos_fd / dbos_sock records.
 *
 * Three layers: fill functions read kernel objects into the fixed payloads
 * (struct dbos_fd, struct dbos_sock_info), layout functions write a whole
 * record from a payload (pure: KUnit tests them on their own), and emit /
 * snapshot functions write records into the current CPU's ring (hooks, atomic
 * context) or into memory the caller owns (DUMP_FILES, process context).
 */
#ifndef _DBOS_FDREC_H
#define _DBOS_FDREC_H

#include "dbos_uapi.h"

#include <linux/types.h>

struct file;
struct path;
struct sock;

/* Longest FD record: a path of DBOS_PATH_MAX - 1 bytes (d_path's limit). */
#define DBOS_FD_REC_MAX	DBOS_REC_ALIGN(sizeof(struct dbos_rec_hdr) +	\
				       sizeof(struct dbos_fd) +		\
				       DBOS_PATH_MAX - 1)
/* Longest SOCK record: two unix socket names. */
#define DBOS_SOCK_REC_MAX DBOS_REC_ALIGN(sizeof(struct dbos_rec_hdr) +	\
					 sizeof(struct dbos_sock) +	\
					 2 * DBOS_UNIX_PATH_MAX)

/**
 * struct dbos_sock_info - a dbos_sock payload and the names that follow it
 * @sock: the payload; sock.path_len and sock.peer_path_len count the names
 * @path: the unix socket's bound name (not NUL-terminated)
 * @peer_path: its peer's bound name
 */
struct dbos_sock_info {
	struct dbos_sock sock;
	char path[DBOS_UNIX_PATH_MAX];
	char peer_path[DBOS_UNIX_PATH_MAX];
};

u16 dbos_file_kind(umode_t mode);
void dbos_fd_fill(struct dbos_fd *fd, u32 pid, u32 fdnum,
		  const struct file *file, bool cloexec);
void dbos_sock_fill(struct dbos_sock_info *si, struct sock *sk, bool locks);
void dbos_unix_connecting(struct dbos_sock_info *si, struct sock *listener);
struct sock *dbos_file_sock(const struct file *file);

u32 dbos_fd_rec_put(void *rec, u16 type, u16 flags, const struct dbos_fd *fd,
		    const char *path);
u32 dbos_sock_rec_put(void *rec, u16 type, u16 flags,
		      const struct dbos_sock_info *si);

bool dbos_fd_emit(u16 type, struct dbos_fd *fd, const struct path *path);
void dbos_sock_emit(u16 type, const struct dbos_sock_info *si);
u32 dbos_fd_snapshot(void *rec, char *tmp, u32 pid, u32 fdnum,
		     struct file *file, bool cloexec, u64 seq);

#endif /* _DBOS_FDREC_H */
