/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fdump.h - DBOS_CMD_DUMP_FILES: snapshots of every process's open files.
 */
#ifndef _DBOS_FDUMP_H
#define _DBOS_FDUMP_H

struct netlink_callback;
struct sk_buff;

int dbos_fdump_start(struct netlink_callback *cb);
int dbos_fdump_done(struct netlink_callback *cb);
int dbos_dump_files(struct sk_buff *skb, struct netlink_callback *cb);

#endif /* _DBOS_FDUMP_H */
