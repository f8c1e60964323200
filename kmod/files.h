/* SPDX-License-Identifier: GPL-2.0 */
/*
 * files.h - where dbos watches file descriptors and sockets.
 */
#ifndef _DBOS_FILES_H
#define _DBOS_FILES_H

#include <linux/types.h>

int dbos_files_init(void);
void dbos_files_uninit(void);
u64 dbos_files_missed(void);
void dbos_files_exit(void);

#endif /* _DBOS_FILES_H */
