// SPDX-License-Identifier: GPL-2.0
/*
 * genl.c - the generic netlink family "dbos": statistics, process and open
 * file snapshots, the file filter, the scheduling commands (sched.c,
 * schedrules.c) and the events multicast group. The
 * protocol is in dbos_uapi.h; the attribute policies are in policy.c.
 *
 * Every command needs CAP_NET_ADMIN. What shows open files, working
 * directories, executables and command lines, or decides what is shown of
 * them, also needs CAP_SYS_ADMIN: the snapshots (DUMP_FILES, DUMP_PROCS,
 * GET_PROC, GET_LIVE), the file filter (SET_FILTER) and joining the events group; the
 * module does not load where the group cannot require it. The scheduling
 * commands need CAP_SYS_NICE (sched.c, schedrules.c). Pids are always the
 * initial pid namespace's, whatever the caller's.
 * Attributes are validated strictly by the core against the per-command
 * policies below, and the reserved genetlink header fields must be zero. The
 * family is parallel_ops: no handler shares state with another, so none holds
 * the global genetlink mutex while it reads processes.
 */

#include "genl.h"
#include "buffer.h"
#include "drain.h"
#include "fdump.h"
#include "files.h"
#include "filter.h"
#include "hooks.h"
#include "live.h"
#include "main.h"
#include "policy.h"
#include "record.h"
#include "sched.h"
#include "schedrules.h"
#include "shared.h"
#include "dbos_uapi.h"

#include <linux/capability.h>
#include <linux/mm.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/threads.h>
#include <linux/version.h>
#include <net/genetlink.h>
#include <net/netlink.h>


/**
 * dbos_genl_records_start - begin a DBOS_CMD_RECORDS message in @skb
 * @skb: the message buffer
 * @portid: netlink port of the receiver (0 for multicast)
 * @seq: netlink sequence number (the request's, for replies)
 * @flags: netlink flags (NLM_F_MULTI for dumps)
 * @cpu: value of DBOS_A_CPU
 * @hdr: set to the message header, for dbos_genl_records_end()
 *
 * Puts the header, DBOS_A_INSTANCE and DBOS_A_CPU, and opens DBOS_A_RECORDS:
 * the caller appends whole records with skb_put_data().
 * Return: the DBOS_A_RECORDS attribute, or NULL (and nothing added) when
 * @skb is too small.
 */
struct nlattr *dbos_genl_records_start(struct sk_buff *skb, u32 portid,
				       u32 seq, int flags, u32 cpu, void **hdr)
{
	struct nlattr *attr;

	*hdr = genlmsg_put(skb, portid, seq, &dbos_genl_family, flags,
			   DBOS_CMD_RECORDS);
	if (!*hdr)
		return NULL;
	if (nla_put_u64_64bit(skb, DBOS_A_INSTANCE, dbos_instance, DBOS_A_PAD) ||
	    nla_put_u32(skb, DBOS_A_CPU, cpu))
		goto cancel;
	attr = nla_reserve(skb, DBOS_A_RECORDS, 0);
	if (!attr)
		goto cancel;
	return attr;

cancel:
	genlmsg_cancel(skb, *hdr);
	return NULL;
}

/* Close DBOS_A_RECORDS over what was appended, and the message. */
void dbos_genl_records_end(struct sk_buff *skb, void *hdr, struct nlattr *attr)
{
	attr->nla_len = skb_tail_pointer(skb) - (unsigned char *)attr;
	genlmsg_end(skb, hdr);
}

static int dbos_put_stats(struct sk_buff *msg)
{
	struct dbos_drain_stats drain;
	u64 produced = 0, dropped = 0;
	struct nlattr *nest;
	int cpu;

	dbos_drain_read_stats(&drain);
	/*
	 * Drain counters first: what was drained by then had been produced
	 * by the time the rings are summed, so sent + send_failed + unheard
	 * never exceeds produced - dropped in one reply.
	 */
	smp_rmb();
	for_each_possible_cpu(cpu) {
		struct dbos_ring *ring = dbos_buffer(cpu);

		produced += READ_ONCE(ring->produced);
		dropped += READ_ONCE(ring->dropped);
	}

	nest = nla_nest_start(msg, DBOS_A_STATS);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(msg, DBOS_STATS_PRODUCED, produced, DBOS_STATS_PAD) ||
	    nla_put_u64_64bit(msg, DBOS_STATS_DROPPED, dropped, DBOS_STATS_PAD) ||
	    nla_put_u64_64bit(msg, DBOS_STATS_SENT, drain.sent, DBOS_STATS_PAD) ||
	    nla_put_u64_64bit(msg, DBOS_STATS_SEND_FAILED, drain.send_failed,
			      DBOS_STATS_PAD) ||
	    nla_put_u64_64bit(msg, DBOS_STATS_UNHEARD, drain.unheard,
			      DBOS_STATS_PAD) ||
	    nla_put_u64_64bit(msg, DBOS_STATS_BATCHES, drain.batches,
			      DBOS_STATS_PAD) ||
	    nla_put_u64_64bit(msg, DBOS_STATS_SEQ, atomic64_read(&dbos_seq),
			      DBOS_STATS_PAD) ||
	    nla_put_u64_64bit(msg, DBOS_STATS_BUFFER_BYTES, dbos_buffer_size(),
			      DBOS_STATS_PAD) ||
	    nla_put_u64_64bit(msg, DBOS_STATS_NR_CPUS, num_possible_cpus(),
			      DBOS_STATS_PAD) ||
	    nla_put_u64_64bit(msg, DBOS_STATS_FILTERED, dbos_filter_filtered(),
			      DBOS_STATS_PAD) ||
	    nla_put_u64_64bit(msg, DBOS_STATS_MISSED,
			      dbos_hooks_missed() + dbos_files_missed() +
			      dbos_shared_missed(),
			      DBOS_STATS_PAD) ||
	    nla_put_u64_64bit(msg, DBOS_STATS_SCHED_APPLIED,
			      atomic64_read(&dbos_sched_applied), DBOS_STATS_PAD) ||
	    nla_put_u64_64bit(msg, DBOS_STATS_SCHED_FAILED,
			      atomic64_read(&dbos_sched_failed), DBOS_STATS_PAD)) {
		nla_nest_cancel(msg, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, nest);
	return 0;
}

static int dbos_get_stats(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		NL_SET_ERR_MSG(info->extack, "out of memory");
		return -ENOMEM;
	}
	hdr = genlmsg_put_reply(msg, info, &dbos_genl_family, 0,
				DBOS_CMD_GET_STATS);
	if (!hdr ||
	    nla_put_u32(msg, DBOS_A_VERSION, DBOS_GENL_VERSION) ||
	    nla_put_u64_64bit(msg, DBOS_A_INSTANCE, dbos_instance, DBOS_A_PAD) ||
	    dbos_put_stats(msg)) {
		nlmsg_free(msg);
		NL_SET_ERR_MSG(info->extack, "reply does not fit");
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/**
 * dbos_genl_capable - does the sender of request @skb also hold @cap?
 * @skb: the request
 * @cap: the capability (CAP_SYS_ADMIN, CAP_SYS_NICE)
 * @why: the refusal's extack message, a string literal
 * @extack: where it goes (may be NULL)
 *
 * Checked the way GENL_ADMIN_PERM checks CAP_NET_ADMIN: netlink_capable(),
 * i.e. both the socket's opener and the sender, in the initial user
 * namespace. Return: 0, or -EPERM.
 */
int dbos_genl_capable(const struct sk_buff *skb, int cap, const char *why,
		      struct netlink_ext_ack *extack)
{
	if (netlink_capable(skb, cap))
		return 0;
	/* @why is a string literal: static storage, as extack wants. */
	if (extack)
		extack->_msg = why;
	return -EPERM;
}

/**
 * dbos_dump_capable - the CAP_SYS_ADMIN check in a snapshot dump's .start
 * @cb: the dump
 *
 * A refusal must say why, but Linux 6.1's __netlink_dump_start() gives
 * .start no extack (it sets cb->extack only around .dumpit). There the
 * refusal is left to the dump's first .dumpit (dbos_dump_refuse()): .start
 * returns 0 without making its state, which .dumpit sees as NULL.
 *
 * Return: 0 when the dump may run; 1 when .start must return 0 and leave
 * its state NULL; -EPERM (extack set) to refuse at once.
 */
int dbos_dump_capable(struct netlink_callback *cb)
{
	if (netlink_capable(cb->skb, CAP_SYS_ADMIN))
		return 0;
	if (!cb->extack)
		return 1;
	NL_SET_ERR_MSG(cb->extack, DBOS_NEED_SYS_ADMIN);
	return -EPERM;
}

/* The .dumpit of a dump whose .start deferred its refusal: -EPERM, saying why. */
int dbos_dump_refuse(struct netlink_callback *cb)
{
	NL_SET_ERR_MSG(cb->extack, DBOS_NEED_SYS_ADMIN);
	return -EPERM;
}

/* The thread-group leader whose tgid is @nr (initial namespace), referenced. */
struct task_struct *dbos_get_tgid(u32 nr)
{
	struct task_struct *task = NULL;
	struct pid *pid;

	if (!nr || nr > PID_MAX_LIMIT)
		return NULL;
	rcu_read_lock();
	pid = find_pid_ns(nr, &init_pid_ns);
	if (pid)
		task = pid_task(pid, PIDTYPE_TGID);
	if (task)
		get_task_struct(task);
	rcu_read_unlock();
	return task;
}

/*
 * The thread-group leader with the smallest tgid >= *@next, referenced;
 * advances *@next past it. NULL when there is none.
 */
struct task_struct *dbos_next_tgid(unsigned long *next)
{
	struct task_struct *task = NULL;
	struct pid *pid;

	rcu_read_lock();
	while (!task && *next <= PID_MAX_LIMIT) {
		pid = find_ge_pid(*next, &init_pid_ns);
		if (!pid) {
			*next = PID_MAX_LIMIT + 1;
			break;
		}
		*next = pid_nr(pid) + 1;
		task = pid_task(pid, PIDTYPE_TGID);
	}
	if (task)
		get_task_struct(task);
	rcu_read_unlock();
	return task;
}

/*
 * Into @buf: the PROC snapshot of @task, followed by a SCHED snapshot of it
 * with the same seq, cpu and time (cpu_seq 0, cause SNAPSHOT, tag 0): what
 * dumps and GET_PROC send per process. Process context; sleeps. Returns the
 * length of both.
 */
static u32 dbos_snapshot_proc(struct task_struct *task,
			      struct dbos_snapshot_buf *buf)
{
	u32 len = dbos_record_snapshot(task, buf), used, slen;
	const struct dbos_rec_hdr *proc = (const void *)buf->rec;
	struct dbos_rec_hdr *hdr = (void *)(buf->rec + len);
	u8 *payload = (u8 *)(hdr + 1);

	used = sizeof(*hdr) + dbos_sched_describe(task, DBOS_SCHED_SNAPSHOT, 0,
						  payload);
	slen = DBOS_REC_ALIGN(used);
	memset((u8 *)hdr + used, 0, slen - used);
	dbos_hdr_put(hdr, DBOS_REC_SCHED, 0, slen);
	hdr->cpu = proc->cpu;
	hdr->seq = proc->seq;
	hdr->time_ns = proc->time_ns;
	return len + slen;
}

static int dbos_get_proc(struct sk_buff *skb, struct genl_info *info)
{
	struct dbos_snapshot_buf *buf;
	struct task_struct *task;
	struct sk_buff *msg;
	struct nlattr *attr;
	void *hdr;
	u32 len;
	int ret;

	ret = dbos_genl_capable(skb, CAP_SYS_ADMIN, DBOS_NEED_SYS_ADMIN,
				info->extack);
	if (ret)
		return ret;
	if (GENL_REQ_ATTR_CHECK(info, DBOS_A_PID)) {
		NL_SET_ERR_MSG(info->extack, "DBOS_A_PID is required");
		return -EINVAL;
	}
	task = dbos_get_tgid(nla_get_u32(info->attrs[DBOS_A_PID]));
	if (!task) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[DBOS_A_PID],
				    "no process with this pid");
		return -ESRCH;
	}
	buf = kvmalloc(sizeof(*buf), GFP_KERNEL);
	if (!buf) {
		put_task_struct(task);
		NL_SET_ERR_MSG(info->extack, "out of memory");
		return -ENOMEM;
	}
	len = dbos_snapshot_proc(task, buf);
	put_task_struct(task);

	msg = genlmsg_new(len + DBOS_MSG_OVERHEAD, GFP_KERNEL);
	if (!msg) {
		kvfree(buf);
		NL_SET_ERR_MSG(info->extack, "out of memory");
		return -ENOMEM;
	}
	attr = dbos_genl_records_start(msg, info->snd_portid, info->snd_seq,
				       0, raw_smp_processor_id(), &hdr);
	if (!attr) {
		kvfree(buf);
		nlmsg_free(msg);
		NL_SET_ERR_MSG(info->extack, "reply does not fit");
		return -EMSGSIZE;
	}
	skb_put_data(msg, buf->rec, len);
	dbos_genl_records_end(msg, hdr, attr);
	kvfree(buf);
	return genlmsg_reply(msg, info);
}

/*
 * State of one DUMP_PROCS, from .start to .done, in cb->args[1].
 * @next_tgid: the next tgid to read
 * @pending: length of a snapshot in @buf that did not fit the last message
 */
struct dbos_dump {
	unsigned long next_tgid;
	u32 pending;
	struct dbos_snapshot_buf buf;
};

static int dbos_dump_start(struct netlink_callback *cb)
{
	struct dbos_dump *dump;
	int ret;

	ret = dbos_dump_capable(cb);
	if (ret)
		return ret < 0 ? ret : 0;	/* 1: refused by dbos_dump_procs() */
	dump = kvzalloc(sizeof(*dump), GFP_KERNEL);
	if (!dump) {
		NL_SET_ERR_MSG(cb->extack, "out of memory");
		return -ENOMEM;
	}
	dump->next_tgid = 1;
	cb->args[1] = (unsigned long)dump;
	/* Every message must be able to hold the largest snapshot. */
	cb->min_dump_alloc = DBOS_SNAPSHOT_MAX + DBOS_SCHED_SNAPSHOT_MAX +
			     DBOS_MSG_OVERHEAD;
	return 0;
}

static int dbos_dump_done(struct netlink_callback *cb)
{
	kvfree((void *)cb->args[1]);
	return 0;
}

/**
 * dbos_genl_dump_records - fill one dump reply with whole records
 * @skb: the reply
 * @cb: the dump's callback
 * @next: makes the next record, sets *@pending to its length; false when the
 *	dump is over (may sleep)
 * @arg: for @next
 * @rec: where @next leaves the record
 * @pending: length of a record made but not sent yet (it did not fit the
 *	previous reply); 0 when none
 *
 * Return: the reply's length, 0 when the dump is over, or -errno.
 */
int dbos_genl_dump_records(struct sk_buff *skb, struct netlink_callback *cb,
			   bool (*next)(void *arg), void *arg, const void *rec,
			   u32 *pending)
{
	struct nlattr *attr;
	unsigned int n = 0;
	void *hdr;

	attr = dbos_genl_records_start(skb, NETLINK_CB(cb->skb).portid,
				       cb->nlh->nlmsg_seq, NLM_F_MULTI,
				       raw_smp_processor_id(), &hdr);
	if (!attr) {
		NL_SET_ERR_MSG(cb->extack, "dump buffer too small");
		return -EMSGSIZE;
	}
	for (;;) {
		if (!*pending && !next(arg))
			break;
		if (*pending > skb_tailroom(skb))
			break;
		skb_put_data(skb, rec, *pending);
		*pending = 0;
		n++;
		cond_resched();
	}
	if (!n) {
		genlmsg_cancel(skb, hdr);
		if (*pending) {		/* cannot happen: see min_dump_alloc */
			NL_SET_ERR_MSG(cb->extack, "dump buffer too small");
			return -EMSGSIZE;
		}
		return 0;		/* done */
	}
	dbos_genl_records_end(skb, hdr, attr);
	return skb->len;
}

/* The next process's snapshot into dump->buf; false after the last one. */
static bool dbos_dump_next_proc(void *arg)
{
	struct dbos_dump *dump = arg;
	struct task_struct *task = dbos_next_tgid(&dump->next_tgid);

	if (!task)
		return false;
	dump->pending = dbos_snapshot_proc(task, &dump->buf);
	put_task_struct(task);
	return true;
}

static int dbos_dump_procs(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct dbos_dump *dump = (struct dbos_dump *)cb->args[1];

	if (!dump)
		return dbos_dump_refuse(cb);
	return dbos_genl_dump_records(skb, cb, dbos_dump_next_proc, dump,
				      dump->buf.rec, &dump->pending);
}

/*
 * SET_FILTER: build the new filter from the request (the policy has checked
 * every attribute's type and length), then publish it.
 */
static int dbos_set_filter(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *kinds = info->attrs[DBOS_A_FILE_KINDS];
	struct nlattr *excl = info->attrs[DBOS_A_PATH_EXCLUDE];
	struct dbos_filter *f;
	int ret;

	/* Whoever sets it could hide files from dbosd: as much as the dumps. */
	ret = dbos_genl_capable(skb, CAP_SYS_ADMIN, DBOS_NEED_SYS_ADMIN_FILTER,
				info->extack);
	if (ret)
		return ret;
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f) {
		NL_SET_ERR_MSG(info->extack, "out of memory");
		return -ENOMEM;
	}
	if (dbos_filter_build(f, kinds, excl, info->extack)) {
		kfree(f);
		return -EINVAL;
	}
	dbos_filter_set(f);
	return 0;
}

static const struct genl_ops dbos_genl_ops[] = {
	{
		.cmd = DBOS_CMD_GET_STATS,
		.doit = dbos_get_stats,
		.policy = dbos_policy_none,
		.maxattr = DBOS_A_MAX,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = DBOS_CMD_DUMP_PROCS,
		.start = dbos_dump_start,
		.dumpit = dbos_dump_procs,
		.done = dbos_dump_done,
		.policy = dbos_policy_none,
		.maxattr = DBOS_A_MAX,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = DBOS_CMD_GET_PROC,
		.doit = dbos_get_proc,
		.policy = dbos_policy_pid,
		.maxattr = DBOS_A_MAX,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = DBOS_CMD_DUMP_FILES,
		.start = dbos_fdump_start,
		.dumpit = dbos_dump_files,
		.done = dbos_fdump_done,
		.policy = dbos_policy_pid,
		.maxattr = DBOS_A_MAX,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = DBOS_CMD_SET_FILTER,
		.doit = dbos_set_filter,
		.policy = dbos_policy_set_filter,
		.maxattr = DBOS_A_MAX,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = DBOS_CMD_SCHED_SET,
		.doit = dbos_sched_set,
		.policy = dbos_policy_sched_set,
		.maxattr = DBOS_A_MAX,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = DBOS_CMD_SCHED_RULES,
		.doit = dbos_sched_rules,
		.policy = dbos_policy_sched_rules,
		.maxattr = DBOS_A_MAX,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = DBOS_CMD_GET_LIVE,
		.start = dbos_live_start,
		.dumpit = dbos_get_live,
		.done = dbos_live_done,
		.policy = dbos_policy_live,
		.maxattr = DBOS_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
};

/*
 * Joining the events group needs CAP_NET_ADMIN and CAP_SYS_ADMIN (the events
 * carry what the snapshots show). Kernels with GENL_MCAST_CAP_NET_ADMIN and
 * GENL_MCAST_CAP_SYS_ADMIN (6.7, and the 6.1.y and 6.6.y stable series) check
 * them for us, in the initial user namespace (the family is not netnsok); 6.6
 * without them has a bind callback; older ones have neither.
 */
#if !defined(GENL_MCAST_CAP_NET_ADMIN) && \
	LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
#define DBOS_GENL_BIND
static int dbos_genl_bind(int mcgrp)
{
	return capable(CAP_NET_ADMIN) && capable(CAP_SYS_ADMIN) ? 0 : -EPERM;
}
#endif

static const struct genl_multicast_group dbos_genl_mcgrps[] = {
	[DBOS_MCGRP_EVENTS_IDX] = {
		.name = DBOS_MCGRP_EVENTS,
#ifdef GENL_MCAST_CAP_NET_ADMIN
		.flags = GENL_MCAST_CAP_NET_ADMIN | GENL_MCAST_CAP_SYS_ADMIN,
#endif
	},
};

struct genl_family dbos_genl_family __ro_after_init = {
	.name = DBOS_GENL_NAME,
	.version = DBOS_GENL_VERSION,
	.module = THIS_MODULE,
	.netnsok = false,
	.parallel_ops = true,
	.ops = dbos_genl_ops,
	.n_ops = ARRAY_SIZE(dbos_genl_ops),
	/* Check the reserved header fields of every command. */
	.resv_start_op = DBOS_CMD_GET_STATS,
	.mcgrps = dbos_genl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(dbos_genl_mcgrps),
#ifdef DBOS_GENL_BIND
	.bind = dbos_genl_bind,
#endif
};

/*
 * On a kernel where neither is there (6.1 before the stable backport of
 * GENL_MCAST_CAP_NET_ADMIN, 6.2 to 6.5), anyone could join the group and read
 * every command line, path and address: the module refuses to load.
 */
int dbos_genl_init(void)
{
#if !defined(GENL_MCAST_CAP_NET_ADMIN) && !defined(DBOS_GENL_BIND)
	pr_err("not loading: this kernel cannot restrict the events multicast group to CAP_NET_ADMIN and CAP_SYS_ADMIN (no GENL_MCAST_CAP_NET_ADMIN, no genl bind callback), so any user could read every event; use 6.1.y with the backport, or 6.6 or later\n");
	return -EOPNOTSUPP;
#else
	return genl_register_family(&dbos_genl_family);
#endif
}

void dbos_genl_uninit(void)
{
	genl_unregister_family(&dbos_genl_family);
}
