/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hooks.h - where dbos watches processes: tracepoints and a kretprobe.
 */
#ifndef _DBOS_HOOKS_H
#define _DBOS_HOOKS_H

int dbos_hooks_init(void);
void dbos_hooks_uninit(void);

#endif /* _DBOS_HOOKS_H */
