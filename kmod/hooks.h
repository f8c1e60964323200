/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hooks.h - where dbos watches processes: tracepoints and a kretprobe.
 */
#ifndef _DBOS_HOOKS_H
#define _DBOS_HOOKS_H

#include <linux/types.h>

int dbos_hooks_init(void);
void dbos_hooks_uninit(void);
u64 dbos_hooks_missed(void);

#endif /* _DBOS_HOOKS_H */
