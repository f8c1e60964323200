// SPDX-License-Identifier: GPL-2.0
/* genl.c - generic netlink to the "dbos" family: sockets, family resolution, request and answer, extack as error text. */
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "dbserver/kernel/genl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

void kernel_genl_err(char **err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	free(*err);
	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
}

struct nl_sock *kernel_genl_socket(const char *what, int sndbuf, char **err)
{
	struct nl_sock *sk = nl_socket_alloc();
	int rc;

	if (!sk) {
		kernel_genl_err(err, "%s: out of memory", what);
		return NULL;
	}
	/* Before connecting: libnl otherwise sets 32 KiB, too small for 1,024 sched targets. */
	if (sndbuf)
		nl_socket_set_buffer_size(sk, KERNEL_GENL_RECV_BUF, sndbuf);
	rc = genl_connect(sk);
	if (rc < 0) {
		kernel_genl_err(err, "%s: %s", what, nl_geterror(rc));
		nl_socket_free(sk);
		return NULL;
	}
	/* FORCE ignores wmem_max (needs CAP_NET_ADMIN); the plain size stays otherwise. */
	if (sndbuf)
		setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
	return sk;
}

int kernel_genl_open(struct kernel_genl *g, int timeout_s, int sndbuf, char **err)
{
	struct timeval tv = { .tv_sec = timeout_s };
	int one = 1, fd;

	memset(g, 0, sizeof(*g));
	g->family = -1;
	g->buf = malloc(KERNEL_GENL_RECV_BUF);
	if (!g->buf) {
		kernel_genl_err(err, "netlink: out of memory");
		return -ENOMEM;
	}
	g->sk = kernel_genl_socket("dbos command socket", sndbuf, err);
	if (!g->sk)
		return -EIO;
	nl_socket_disable_auto_ack(g->sk);
	fd = nl_socket_get_fd(g->sk);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	g->family = genl_ctrl_resolve(g->sk, DBOS_GENL_NAME);
	if (g->family == -NLE_OBJ_NOTFOUND) {
		kernel_genl_err(err, "dbos module not loaded");
		return -ENOENT;
	}
	if (g->family < 0) {
		kernel_genl_err(err, "resolving the dbos netlink family: %s", nl_geterror(g->family));
		return -EIO;
	}
	return 0;
}

void kernel_genl_close(struct kernel_genl *g)
{
	if (g->sk)
		nl_socket_free(g->sk);
	free(g->buf);
	g->sk = NULL;
	g->buf = NULL;
	g->family = -1;
}

struct nl_msg *kernel_genl_msg(const struct kernel_genl *g, uint8_t cmd, int flags, size_t size)
{
	struct nl_msg *msg = nlmsg_alloc_size(size + NLMSG_HDRLEN + GENL_HDRLEN + 64);

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, g->family, 0, flags, cmd,
				DBOS_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

ssize_t kernel_genl_recv(int fd, unsigned char *buf, size_t size, int flags)
{
	for (;;) {
		struct sockaddr_nl sa;
		socklen_t salen = sizeof(sa);
		ssize_t n = recvfrom(fd, buf, size, flags | MSG_TRUNC, (struct sockaddr *)&sa, &salen);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (sa.nl_pid != 0)
			continue;	/* not from the kernel */
		if ((size_t)n > size)
			return -EMSGSIZE;
		return n;
	}
}

/*
 * The kernel's NLMSG_ERROR @h: its -errno (0: an ACK); on an error, *@err
 * its extack message (else strerror) and *@bad_off the offset it names.
 */
static int error_reply(const struct nlmsghdr *h, char **err, uint32_t *bad_off)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	const char *msg = NULL;
	size_t off;
	int len;

	if (h->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
		return -EBADMSG;
	if (!e->error)
		return 0;
	/* The TLVs follow the echoed request: only its header when the ACK is capped. */
	off = NLMSG_HDRLEN + sizeof(*e);
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
	len = (int)h->nlmsg_len - (int)off;
	if ((h->nlmsg_flags & NLM_F_ACK_TLVS) && len > 0) {
		const struct nlattr *a = (const struct nlattr *)((const char *)h + off);

		for (; nla_ok(a, len); a = nla_next(a, &len)) {
			if (nla_type(a) == NLMSGERR_ATTR_MSG && nla_len(a) > 0 &&
			    ((const char *)nla_data(a))[nla_len(a) - 1] == '\0')
				msg = nla_data(a);
			else if (nla_type(a) == NLMSGERR_ATTR_OFFS && nla_len(a) >= 4 && bad_off)
				*bad_off = nla_get_u32((struct nlattr *)a);
		}
	}
	kernel_genl_err(err, "%s", msg ? msg : strerror(-e->error));
	return e->error;
}

int kernel_genl_transact(struct kernel_genl *g, struct nl_msg *msg, bool dump,
			 kernel_msg_fn fn, void *ctx, char **err, uint32_t *bad_off)
{
	uint32_t seq;
	int fd, rc;

	if (bad_off)
		*bad_off = UINT32_MAX;
	rc = nl_send_auto(g->sk, msg);
	seq = nlmsg_hdr(msg)->nlmsg_seq;
	nlmsg_free(msg);
	if (rc < 0) {
		rc = rc == -NLE_MSGSIZE ? -EMSGSIZE : -EIO;
		kernel_genl_err(err, "sending the request to dbos.ko: %s", strerror(-rc));
		return rc;
	}
	fd = nl_socket_get_fd(g->sk);
	for (;;) {
		ssize_t n = kernel_genl_recv(fd, g->buf, KERNEL_GENL_RECV_BUF, 0);
		size_t off = 0;

		if (n == -EAGAIN || n == -EWOULDBLOCK)
			n = -ETIMEDOUT;
		if (n < 0) {
			kernel_genl_err(err, "waiting for dbos.ko: %s", strerror((int)-n));
			return (int)n;
		}
		while ((size_t)n - off >= NLMSG_HDRLEN) {
			struct nlmsghdr *h = (struct nlmsghdr *)(g->buf + off);

			if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > (size_t)n - off)
				goto bad;
			off += NLMSG_ALIGN(h->nlmsg_len);
			if (h->nlmsg_seq != seq)
				continue;	/* a late answer to an earlier, timed-out request */
			if (h->nlmsg_type == NLMSG_ERROR) {
				rc = error_reply(h, err, bad_off);
				if (rc == -EBADMSG)
					goto bad;
				return rc;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				int e = 0;

				if (h->nlmsg_len >= NLMSG_HDRLEN + sizeof(int))
					memcpy(&e, NLMSG_DATA(h), sizeof(e));
				if (e < 0)
					kernel_genl_err(err, "%s", strerror(-e));
				return e < 0 ? e : 0;
			}
			if (h->nlmsg_type < NLMSG_MIN_TYPE || !fn)
				continue;
			fn(ctx, h, h->nlmsg_len);
			if (!dump)
				return 0;
		}
	}
bad:
	kernel_genl_err(err, "malformed answer from dbos.ko");
	return -EBADMSG;
}
