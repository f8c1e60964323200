// SPDX-License-Identifier: GPL-2.0
/* netlink.c - the generic netlink sockets of dbosd: family resolution, events group, commands, nlctrl notifications. */
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
#include <sys/time.h>
#include <time.h>

#include "dbserver/intake/netlink.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define RECV_BUF	(256 << 10)	/* > any genl message: DBOS_A_RECORDS is at most 64 KiB */
#define CMD_TIMEOUT_S	5

struct intake_nl {
	struct nl_sock *ctrl;
	struct nl_sock *cmd;
	struct nl_sock *ev;
	int family;
	unsigned char *buf;	/* events and notifications (valid until the next receive) */
	unsigned char *cbuf;	/* command replies: never overwrites an event being decoded */
};

static char *errs(const char *what, const char *why)
{
	char *s = NULL;

	if (asprintf(&s, "%s: %s", what, why) < 0)
		s = NULL;
	return s;
}

static struct nl_sock *sock_new(const char *what, char **err)
{
	struct nl_sock *sk = nl_socket_alloc();
	int rc;

	if (!sk) {
		*err = errs(what, "out of memory");
		return NULL;
	}
	rc = genl_connect(sk);
	if (rc < 0) {
		*err = errs(what, nl_geterror(rc));
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

int intake_nl_new(struct intake_nl **out, char **err)
{
	struct intake_nl *nl = calloc(1, sizeof(*nl));
	int grp;

	*out = NULL;
	if (!nl || !(nl->buf = malloc(RECV_BUF)) || !(nl->cbuf = malloc(RECV_BUF))) {
		if (nl)
			free(nl->buf);
		free(nl);
		*err = errs("netlink", "out of memory");
		return -ENOMEM;
	}
	nl->family = -1;
	*out = nl;
	nl->ctrl = sock_new("nlctrl notifications", err);
	if (!nl->ctrl)
		return -EIO;
	grp = genl_ctrl_resolve_grp(nl->ctrl, "nlctrl", "notify");
	if (grp < 0 || nl_socket_add_membership(nl->ctrl, grp) < 0) {
		*err = errs("nlctrl notify group", nl_geterror(grp < 0 ? grp : -NLE_FAILURE));
		nl_socket_free(nl->ctrl);
		nl->ctrl = NULL;
		return -EIO;
	}
	nl_socket_disable_seq_check(nl->ctrl);
	nl_socket_set_nonblocking(nl->ctrl);
	return 0;
}

void intake_nl_free(struct intake_nl *nl)
{
	if (!nl)
		return;
	intake_nl_detach(nl);
	if (nl->ctrl)
		nl_socket_free(nl->ctrl);
	free(nl->buf);
	free(nl->cbuf);
	free(nl);
}

int intake_nl_attach(struct intake_nl *nl, char **err)
{
	struct timeval tv = { .tv_sec = CMD_TIMEOUT_S };
	int one = 1, size = INTAKE_NL_RCVBUF, grp, fd;

	intake_nl_detach(nl);
	nl->cmd = sock_new("dbos command socket", err);
	if (!nl->cmd)
		return -EIO;
	nl->family = genl_ctrl_resolve(nl->cmd, DBOS_GENL_NAME);
	if (nl->family < 0) {
		int rc = nl->family == -NLE_OBJ_NOTFOUND ? -ENOENT : -EIO;

		if (rc != -ENOENT)
			*err = errs("resolving family " DBOS_GENL_NAME, nl_geterror(nl->family));
		intake_nl_detach(nl);
		return rc;
	}
	grp = genl_ctrl_resolve_grp(nl->cmd, DBOS_GENL_NAME, DBOS_MCGRP_EVENTS);
	if (grp < 0) {
		*err = errs("resolving group " DBOS_MCGRP_EVENTS, nl_geterror(grp));
		intake_nl_detach(nl);
		return grp == -NLE_OBJ_NOTFOUND ? -ENOENT : -EIO;
	}
	nl_socket_disable_auto_ack(nl->cmd);
	fd = nl_socket_get_fd(nl->cmd);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));

	nl->ev = sock_new("dbos event socket", err);
	if (!nl->ev) {
		intake_nl_detach(nl);
		return -EIO;
	}
	nl_socket_disable_seq_check(nl->ev);
	fd = nl_socket_get_fd(nl->ev);
	/* FORCE ignores rmem_max (needs CAP_NET_ADMIN); fall back to what is allowed. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (nl_socket_add_membership(nl->ev, grp) < 0) {
		int e = errno;

		*err = errs("joining the " DBOS_MCGRP_EVENTS " group", strerror(e ? e : EPERM));
		intake_nl_detach(nl);
		return e ? -e : -EPERM;
	}
	nl_socket_set_nonblocking(nl->ev);
	return 0;
}

void intake_nl_detach(struct intake_nl *nl)
{
	if (nl->ev)
		nl_socket_free(nl->ev);
	if (nl->cmd)
		nl_socket_free(nl->cmd);
	nl->ev = nl->cmd = NULL;
	nl->family = -1;
}

int intake_nl_event_fd(const struct intake_nl *nl)
{
	return nl->ev ? nl_socket_get_fd(nl->ev) : -1;
}

int intake_nl_ctrl_fd(const struct intake_nl *nl)
{
	return nl->ctrl ? nl_socket_get_fd(nl->ctrl) : -1;
}

/* recvfrom() of one datagram from the kernel; >0 length, or -errno. */
static ssize_t recv_kernel(int fd, unsigned char *buf, int flags)
{
	for (;;) {
		struct sockaddr_nl sa;
		socklen_t salen = sizeof(sa);
		ssize_t n = recvfrom(fd, buf, RECV_BUF, flags | MSG_TRUNC,
				     (struct sockaddr *)&sa, &salen);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (sa.nl_pid != 0)
			continue;	/* not from the kernel */
		if (n > RECV_BUF)
			return -EMSGSIZE;
		return n;
	}
}

ssize_t intake_nl_recv_event(struct intake_nl *nl, const struct nlmsghdr **msg)
{
	ssize_t n;

	if (!nl->ev)
		return 0;
	n = recv_kernel(nl_socket_get_fd(nl->ev), nl->buf, MSG_DONTWAIT);
	if (n == -EAGAIN || n == -EWOULDBLOCK)
		return 0;
	if (n > 0)
		*msg = (const struct nlmsghdr *)nl->buf;
	return n;
}

int intake_nl_read_ctrl(struct intake_nl *nl)
{
	int bits = 0;

	if (!nl->ctrl)
		return 0;
	for (;;) {
		ssize_t n = recv_kernel(nl_socket_get_fd(nl->ctrl), nl->buf, MSG_DONTWAIT);
		struct nlmsghdr *h;
		int len;

		if (n == -ENOBUFS) {
			bits |= INTAKE_NL_FAMILY_NEW;	/* missed some: look again */
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
				bits |= INTAKE_NL_FAMILY_NEW;
			else if (g->cmd == CTRL_CMD_DELFAMILY)
				bits |= INTAKE_NL_FAMILY_DEL;
		}
	}
}

/* ---- commands ------------------------------------------------------------- */

typedef void (*reply_fn)(void *ctx, const struct nlmsghdr *nlh, size_t len);

/* A request for @cmd with the genl header; NULL when out of memory. */
static struct nl_msg *request(struct intake_nl *nl, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, flags, cmd,
				DBOS_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

/*
 * Send @msg (consumed) and hand each reply message to @fn until the kernel
 * is done: one message for a doit (or the ACK of an NLM_F_ACK request),
 * NLMSG_DONE for a dump. 0, or -errno (the kernel's error, -ETIMEDOUT, ...).
 */
static int transact_msg(struct intake_nl *nl, struct nl_msg *msg, bool dump,
			reply_fn fn, void *ctx)
{
	uint32_t seq;
	int fd, rc;

	rc = nl_send_auto(nl->cmd, msg);
	seq = nlmsg_hdr(msg)->nlmsg_seq;
	nlmsg_free(msg);
	if (rc < 0)
		return -EIO;
	fd = nl_socket_get_fd(nl->cmd);
	for (;;) {
		ssize_t n = recv_kernel(fd, nl->cbuf, 0);
		size_t off = 0;

		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return -ETIMEDOUT;
		if (n < 0)
			return (int)n;
		while ((size_t)n - off >= NLMSG_HDRLEN) {
			struct nlmsghdr *h = (struct nlmsghdr *)(nl->cbuf + off);

			if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > (size_t)n - off)
				return -EBADMSG;
			off += NLMSG_ALIGN(h->nlmsg_len);
			if (h->nlmsg_seq != seq)
				continue;	/* a late reply to an earlier, timed-out request */
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = nlmsg_data(h);

				if (h->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
					return -EBADMSG;
				return e->error;	/* 0: an ACK */
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				int e = 0;

				if (h->nlmsg_len >= NLMSG_HDRLEN + sizeof(int))
					memcpy(&e, nlmsg_data(h), sizeof(e));
				return e < 0 ? e : 0;
			}
			if (h->nlmsg_type < NLMSG_MIN_TYPE || !fn)
				continue;
			fn(ctx, h, h->nlmsg_len);
			if (!dump)
				return 0;
		}
	}
}

/* transact_msg() of a plain @cmd (with DBOS_A_PID when @pid is not 0). */
static int transact(struct intake_nl *nl, uint8_t cmd, bool dump, uint32_t pid,
		    reply_fn fn, void *ctx)
{
	struct nl_msg *msg;

	if (!nl->cmd)
		return -ENOENT;
	msg = request(nl, cmd, dump ? NLM_F_DUMP : 0);
	if (!msg || (pid && nla_put_u32(msg, DBOS_A_PID, pid) < 0)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return transact_msg(nl, msg, dump, fn, ctx);
}

struct stats_ctx {
	struct intake_kstats *out;
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

static int nl_get_stats(void *arg, struct intake_kstats *out)
{
	struct stats_ctx sc = { .out = out, .rc = -EBADMSG };
	int rc = transact(arg, DBOS_CMD_GET_STATS, false, 0, stats_reply, &sc);

	return rc ? rc : sc.rc;
}

static int nl_dump_procs(void *arg, intake_msg_fn fn, void *ctx)
{
	return transact(arg, DBOS_CMD_DUMP_PROCS, true, 0, fn, ctx);
}

static int nl_get_proc(void *arg, uint32_t pid, intake_msg_fn fn, void *ctx)
{
	return transact(arg, DBOS_CMD_GET_PROC, false, pid, fn, ctx);
}

static int nl_dump_files(void *arg, intake_msg_fn fn, void *ctx)
{
	return transact(arg, DBOS_CMD_DUMP_FILES, true, 0, fn, ctx);
}

/* SET_FILTER is a doit without a reply: ask for the ACK (NLM_F_ACK) to learn the outcome. */
static int nl_set_filter(void *arg, const struct intake_filter *flt)
{
	struct intake_nl *nl = arg;
	struct nlattr *nest;
	struct nl_msg *msg;

	if (!nl->cmd)
		return -ENOENT;
	msg = request(nl, DBOS_CMD_SET_FILTER, NLM_F_ACK);
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
	return transact_msg(nl, msg, false, NULL, NULL);
nomem:
	nlmsg_free(msg);
	return -ENOMEM;
}

const struct intake_kernel_ops intake_nl_ops = {
	.get_stats = nl_get_stats,
	.dump_procs = nl_dump_procs,
	.get_proc = nl_get_proc,
	.dump_files = nl_dump_files,
	.set_filter = nl_set_filter,
};
