/* SPDX-License-Identifier: GPL-2.0 */
/*
 * live.h - DBOS_CMD_GET_LIVE: what /proc shows now of listed processes.
 */
#ifndef _DBOS_LIVE_H
#define _DBOS_LIVE_H

struct netlink_callback;
struct sk_buff;

int dbos_live_start(struct netlink_callback *cb);
int dbos_live_done(struct netlink_callback *cb);
int dbos_get_live(struct sk_buff *skb, struct netlink_callback *cb);

#endif /* _DBOS_LIVE_H */
