/* SPDX-License-Identifier: GPL-2.0 */
/*
 * genl.h - the kernel layer's generic netlink core (inside dbserver/kernel/
 * only): a command socket to the "dbos" family, requests, and their answers,
 * the kernel's extack turned into error text.
 *
 * module.c (the events group and intake's commands) and sched.c (the
 * scheduling commands) build their messages with libnl and hand them here;
 * nothing here knows a command.
 */
#ifndef DBOS_KERNEL_GENL_H
#define DBOS_KERNEL_GENL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dbserver/kernel/kernel.h"

struct nl_sock;
struct nl_msg;

#define KERNEL_GENL_RECV_BUF	(256 << 10)	/* > any genl message: DBOS_A_RECORDS is at most 64 KiB */

/* A command socket to the "dbos" family: one thread at a time. */
struct kernel_genl {
	struct nl_sock *sk;
	int family;
	unsigned char *buf;	/* KERNEL_GENL_RECV_BUF: the answer being read */
};

/*
 * kernel_genl_socket - a connected generic netlink socket (@sndbuf bytes of
 * send buffer, 0: libnl's default). NULL with *@err (free()) "@what: why".
 */
struct nl_sock *kernel_genl_socket(const char *what, int sndbuf, char **err);

/*
 * kernel_genl_open - @g: a command socket whose answers wait at most
 * @timeout_s seconds, with extended ACKs (the kernel's message and the
 * offset of the attribute at fault) and capped ACKs (no echo of the
 * request), and the "dbos" family resolved. 0; -ENOENT with *@err "dbos
 * module not loaded"; -ENOMEM or -EIO with *@err. Close with
 * kernel_genl_close() either way.
 */
int kernel_genl_open(struct kernel_genl *g, int timeout_s, int sndbuf, char **err);
void kernel_genl_close(struct kernel_genl *g);

/* A request for @cmd of the "dbos" family with room for @size bytes of attributes; NULL: no memory. */
struct nl_msg *kernel_genl_msg(const struct kernel_genl *g, uint8_t cmd, int flags, size_t size);

/*
 * kernel_genl_transact - send @msg (consumed) and read its answer: every
 * reply message to @fn (may be NULL) until the kernel is done (a dump's
 * NLMSG_DONE; a doit's one reply, or the ACK of an NLM_F_ACK request).
 * Returns 0, or -errno: the kernel's error, -ETIMEDOUT, -EBADMSG, -EIO. On
 * an error, when @err is not NULL, *@err (free()) is the kernel's extack
 * message (else strerror) and *@bad_off, when not NULL, the offset from
 * the request's nlmsghdr of the attribute the kernel pointed at (or
 * UINT32_MAX).
 */
int kernel_genl_transact(struct kernel_genl *g, struct nl_msg *msg, bool dump,
			 kernel_msg_fn fn, void *ctx, char **err, uint32_t *bad_off);

/*
 * kernel_genl_recv - recvfrom() of one datagram sent by the kernel (others
 * are skipped) into @buf. Its length; -EMSGSIZE when it was larger than
 * @size (lost); -errno (-EAGAIN: none queued with MSG_DONTWAIT).
 */
ssize_t kernel_genl_recv(int fd, unsigned char *buf, size_t size, int flags);

/* *@err = the formatted text (free(); NULL when out of memory), replacing what it held; @err NULL: nothing. */
void kernel_genl_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* DBOS_KERNEL_GENL_H */
