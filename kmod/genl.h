/* SPDX-License-Identifier: GPL-2.0 */
/*
 * genl.h - the generic netlink family "dbos".
 */
#ifndef _DBOS_GENL_H
#define _DBOS_GENL_H

#include <linux/types.h>
#include <net/genetlink.h>

/* Index of DBOS_MCGRP_EVENTS in the family's multicast groups. */
#define DBOS_MCGRP_EVENTS_IDX	0

/* Message headers and the INSTANCE, CPU and RECORDS attribute headers. */
#define DBOS_MSG_OVERHEAD	128

struct task_struct;

extern struct genl_family dbos_genl_family;

int dbos_genl_init(void);
void dbos_genl_uninit(void);

struct nlattr *dbos_genl_records_start(struct sk_buff *skb, u32 portid,
				       u32 seq, int flags, u32 cpu,
				       void **hdr);
int dbos_genl_dump_records(struct sk_buff *skb, struct netlink_callback *cb,
			   bool (*next)(void *arg), void *arg, const void *rec,
			   u32 *pending);
void dbos_genl_records_end(struct sk_buff *skb, void *hdr,
			   struct nlattr *attr);
/* The extack text of snapshots refused for want of CAP_SYS_ADMIN. */
#define DBOS_NEED_SYS_ADMIN \
	"open files, working directories and executables need CAP_SYS_ADMIN"
/* The same for the file filter, which decides what the events show of them. */
#define DBOS_NEED_SYS_ADMIN_FILTER \
	"changing which open files are reported needs CAP_SYS_ADMIN"

int dbos_genl_capable(const struct sk_buff *skb, int cap, const char *why,
		      struct netlink_ext_ack *extack);
int dbos_dump_capable(struct netlink_callback *cb);
int dbos_dump_refuse(struct netlink_callback *cb);
struct task_struct *dbos_get_tgid(u32 nr);
struct task_struct *dbos_next_tgid(unsigned long *next);

#endif /* _DBOS_GENL_H */
