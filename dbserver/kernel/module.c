// SPDX-License-Identifier: GPL-2.0
/* module.c - dbos.ko's generic netlink family as the intake sees it: the events group, nlctrl notifications, the intake's commands. */
#include <errno.h>
#include <linux/genetlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dbserver/kernel/genl.h"

#define CMD_TIMEOUT_S	5

struct kernel_nl {
	struct nl_sock *ctrl;
	struct nl_sock *ev;
	struct kernel_genl cmd;	/* its own buffer: a reply never overwrites an event being decoded */
	unsigned char *buf;	/* events and notifications (valid until the next receive) */
};

int kernel_nl_new(struct kernel_nl **out, char **err)
{
	struct kernel_nl *nl = calloc(1, sizeof(*nl));
	int grp;

	*out = NULL;
	if (!nl || !(nl->buf = malloc(KERNEL_GENL_RECV_BUF))) {
		free(nl);
		kernel_genl_err(err, "netlink: out of memory");
		return -ENOMEM;
	}
	nl->cmd.family = -1;
	*out = nl;
	nl->ctrl = kernel_genl_socket("nlctrl notifications", 0, err);
	if (!nl->ctrl)
		return -EIO;
	grp = genl_ctrl_resolve_grp(nl->ctrl, "nlctrl", "notify");
	if (grp < 0 || nl_socket_add_membership(nl->ctrl, grp) < 0) {
		kernel_genl_err(err, "nlctrl notify group: %s",
				nl_geterror(grp < 0 ? grp : -NLE_FAILURE));
		nl_socket_free(nl->ctrl);
		nl->ctrl = NULL;
		return -EIO;
	}
	nl_socket_disable_seq_check(nl->ctrl);
	nl_socket_set_nonblocking(nl->ctrl);
	return 0;
}

void kernel_nl_free(struct kernel_nl *nl)
{
	if (!nl)
		return;
	kernel_nl_detach(nl);
	if (nl->ctrl)
		nl_socket_free(nl->ctrl);
	free(nl->buf);
	free(nl);
}

int kernel_nl_attach(struct kernel_nl *nl, char **err)
{
	int size = KERNEL_NL_RCVBUF, one = 1, grp, fd, rc;
	char *why = NULL;

	kernel_nl_detach(nl);
	rc = kernel_genl_open(&nl->cmd, CMD_TIMEOUT_S, 0, &why);
	if (rc) {
		if (rc != -ENOENT) {	/* absent is not an error: the caller waits for it */
			*err = why;
			why = NULL;
		}
		free(why);
		kernel_nl_detach(nl);
		return rc;
	}
	grp = genl_ctrl_resolve_grp(nl->cmd.sk, DBOS_GENL_NAME, DBOS_MCGRP_EVENTS);
	if (grp < 0) {
		kernel_genl_err(err, "resolving group " DBOS_MCGRP_EVENTS ": %s", nl_geterror(grp));
		kernel_nl_detach(nl);
		return grp == -NLE_OBJ_NOTFOUND ? -ENOENT : -EIO;
	}
	nl->ev = kernel_genl_socket("dbos event socket", 0, err);
	if (!nl->ev) {
		kernel_nl_detach(nl);
		return -EIO;
	}
	nl_socket_disable_seq_check(nl->ev);
	fd = nl_socket_get_fd(nl->ev);
	/* FORCE ignores rmem_max (needs CAP_NET_ADMIN); fall back to what is allowed. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	/*
	 * An overrun of this socket fails the module's multicast (its
	 * send_failed counter), rather than passing for "nobody listened".
	 */
	if (setsockopt(fd, SOL_NETLINK, NETLINK_BROADCAST_ERROR, &one, sizeof(one))) {
		kernel_genl_err(err, "NETLINK_BROADCAST_ERROR on the event socket: %s",
				strerror(errno));
		kernel_nl_detach(nl);
		return -EIO;
	}
	if (nl_socket_add_membership(nl->ev, grp) < 0) {
		int e = errno;

		kernel_genl_err(err, "joining the " DBOS_MCGRP_EVENTS " group: %s",
				strerror(e ? e : EPERM));
		kernel_nl_detach(nl);
		return e ? -e : -EPERM;
	}
	nl_socket_set_nonblocking(nl->ev);
	return 0;
}

void kernel_nl_detach(struct kernel_nl *nl)
{
	if (nl->ev)
		nl_socket_free(nl->ev);
	nl->ev = NULL;
	kernel_genl_close(&nl->cmd);
}

int kernel_nl_event_fd(const struct kernel_nl *nl)
{
	return nl->ev ? nl_socket_get_fd(nl->ev) : -1;
}

int kernel_nl_ctrl_fd(const struct kernel_nl *nl)
{
	return nl->ctrl ? nl_socket_get_fd(nl->ctrl) : -1;
}

ssize_t kernel_nl_recv_event(struct kernel_nl *nl, const struct nlmsghdr **msg)
{
	ssize_t n;

	if (!nl->ev)
		return 0;
	n = kernel_genl_recv(nl_socket_get_fd(nl->ev), nl->buf, KERNEL_GENL_RECV_BUF, MSG_DONTWAIT);
	if (n == -EAGAIN || n == -EWOULDBLOCK)
		return 0;
	if (n > 0)
		*msg = (const struct nlmsghdr *)nl->buf;
	return n;
}

int kernel_nl_read_ctrl(struct kernel_nl *nl)
{
	int bits = 0;

	if (!nl->ctrl)
		return 0;
	for (;;) {
		ssize_t n = kernel_genl_recv(nl_socket_get_fd(nl->ctrl), nl->buf, KERNEL_GENL_RECV_BUF,
					     MSG_DONTWAIT);
		struct nlmsghdr *h;
		int len;

		if (n == -ENOBUFS) {
			bits |= KERNEL_NL_FAMILY_NEW;	/* missed some: look again */
			continue;
		}
		if (n <= 0)
			return bits;
		len = (int)n;
		for (h = (struct nlmsghdr *)nl->buf; nlmsg_ok(h, len); h = nlmsg_next(h, &len)) {
			struct nlattr *tb[CTRL_ATTR_MAX + 1];
			struct genlmsghdr *g;

			if (h->nlmsg_type != GENL_ID_CTRL ||
			    genlmsg_parse(h, 0, tb, CTRL_ATTR_MAX, NULL) < 0 ||
			    !tb[CTRL_ATTR_FAMILY_NAME] ||
			    nla_strcmp(tb[CTRL_ATTR_FAMILY_NAME], DBOS_GENL_NAME))
				continue;
			g = nlmsg_data(h);
			if (g->cmd == CTRL_CMD_NEWFAMILY)
				bits |= KERNEL_NL_FAMILY_NEW;
			else if (g->cmd == CTRL_CMD_DELFAMILY)
				bits |= KERNEL_NL_FAMILY_DEL;
		}
	}
}

/* ---- commands ------------------------------------------------------------- */

/* A plain @cmd (with DBOS_A_PID when @pid is not 0): its replies to @fn. 0 or -errno. */
static int transact(struct kernel_nl *nl, uint8_t cmd, bool dump, uint32_t pid,
		    kernel_msg_fn fn, void *ctx)
{
	struct nl_msg *msg;

	if (!nl->cmd.sk)
		return -ENOENT;
	msg = kernel_genl_msg(&nl->cmd, cmd, dump ? NLM_F_DUMP : 0, 8);
	if (!msg || (pid && nla_put_u32(msg, DBOS_A_PID, pid) < 0)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return kernel_genl_transact(&nl->cmd, msg, dump, fn, ctx, NULL, NULL);
}

struct stats_ctx {
	struct kernel_stats *out;
	int rc;
};

static void stats_reply(void *ctx, const struct nlmsghdr *nlh, size_t len)
{
	static struct nla_policy pol[DBOS_A_MAX + 1] = {
		[DBOS_A_VERSION] = { .type = NLA_U32 },
		[DBOS_A_INSTANCE] = { .type = NLA_U64 },
		[DBOS_A_STATS] = { .type = NLA_NESTED },
	};
	struct stats_ctx *sc = ctx;
	struct nlattr *tb[DBOS_A_MAX + 1], *st[DBOS_STATS_MAX + 1];

	sc->rc = -EBADMSG;
	if (genlmsg_parse((struct nlmsghdr *)nlh, 0, tb, DBOS_A_MAX, pol) < 0 ||
	    !tb[DBOS_A_INSTANCE])
		return;
	memset(sc->out, 0, sizeof(*sc->out));
	if (tb[DBOS_A_VERSION])
		sc->out->version = nla_get_u32(tb[DBOS_A_VERSION]);
	sc->out->instance = nla_get_u64(tb[DBOS_A_INSTANCE]);
	if (tb[DBOS_A_STATS] && nla_parse_nested(st, DBOS_STATS_MAX, tb[DBOS_A_STATS], NULL) == 0)
		for (int i = 1; i <= DBOS_STATS_MAX; i++)
			if (st[i] && nla_len(st[i]) == 8)
				sc->out->v[i] = nla_get_u64(st[i]);
	sc->rc = 0;
}

static int nl_get_stats(void *arg, struct kernel_stats *out)
{
	struct stats_ctx sc = { .out = out, .rc = -EBADMSG };
	int rc = transact(arg, DBOS_CMD_GET_STATS, false, 0, stats_reply, &sc);

	return rc ? rc : sc.rc;
}

static int nl_dump_procs(void *arg, kernel_msg_fn fn, void *ctx)
{
	return transact(arg, DBOS_CMD_DUMP_PROCS, true, 0, fn, ctx);
}

static int nl_get_proc(void *arg, uint32_t pid, kernel_msg_fn fn, void *ctx)
{
	return transact(arg, DBOS_CMD_GET_PROC, false, pid, fn, ctx);
}

static int nl_dump_files(void *arg, kernel_msg_fn fn, void *ctx)
{
	return transact(arg, DBOS_CMD_DUMP_FILES, true, 0, fn, ctx);
}

/* SET_FILTER is a doit without a reply: ask for the ACK (NLM_F_ACK) to learn the outcome. */
static int nl_set_filter(void *arg, const struct kernel_filter *flt)
{
	struct kernel_nl *nl = arg;
	struct nlattr *nest;
	struct nl_msg *msg;

	if (!nl->cmd.sk)
		return -ENOENT;
	msg = kernel_genl_msg(&nl->cmd, DBOS_CMD_SET_FILTER, NLM_F_ACK,
			      DBOS_FILTER_PREFIXES * (DBOS_FILTER_PREFIX_MAX + 8) + 64);
	if (!msg || nla_put_u32(msg, DBOS_A_FILE_KINDS, flt->kinds) < 0)
		goto nomem;
	if (flt->nexclude) {
		nest = nla_nest_start(msg, DBOS_A_PATH_EXCLUDE | NLA_F_NESTED);
		if (!nest)
			goto nomem;
		for (int i = 0; i < flt->nexclude; i++)
			if (nla_put_string(msg, DBOS_A_PATH_PREFIX, flt->exclude[i]) < 0)
				goto nomem;
		nla_nest_end(msg, nest);
	}
	return kernel_genl_transact(&nl->cmd, msg, false, NULL, NULL, NULL, NULL);
nomem:
	nlmsg_free(msg);
	return -ENOMEM;
}

const struct kernel_ops kernel_nl_ops = {
	.get_stats = nl_get_stats,
	.dump_procs = nl_dump_procs,
	.get_proc = nl_get_proc,
	.dump_files = nl_dump_files,
	.set_filter = nl_set_filter,
};
