/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shared.h - fd tables shared by more than one process (CLONE_FILES without
 * CLONE_THREAD): which processes use each, so that an fd hook records an
 * open or close once for every process that sees it.
 */
#ifndef _DBOS_SHARED_H
#define _DBOS_SHARED_H

#include <linux/types.h>

struct files_struct;
struct task_struct;

struct files_struct *dbos_shared_with(struct task_struct *parent, struct task_struct *child);
void dbos_shared_fork(struct task_struct *parent, struct task_struct *child);
struct files_struct *dbos_shared_leaving(struct task_struct *task);
void dbos_shared_exit(struct task_struct *task);
void dbos_shared_each(const struct files_struct *files,
		      void (*fn)(pid_t tgid, void *arg), void *arg);
u64 dbos_shared_missed(void);
void dbos_shared_uninit(void);

#endif /* _DBOS_SHARED_H */
