/* SPDX-License-Identifier: GPL-2.0 */
/*
 * main.h - module-wide state.
 */
#ifndef _DBOS_MAIN_H
#define _DBOS_MAIN_H

#include <linux/types.h>

/* Random id chosen at load: tells one loaded instance from the next. */
extern u64 dbos_instance;

#endif /* _DBOS_MAIN_H */
