/* SPDX-License-Identifier: GPL-2.0 */
/*
 * netlink.h - dbosd's generic netlink sockets (libnl-genl-3): the "dbos"
 * family's events group, its commands, and nlctrl's family notifications.
 *
 * Three sockets: @ev joins DBOS_MCGRP_EVENTS (64 MiB receive buffer, no
 * sequence check, non-blocking); @cmd carries GET_STATS / DUMP_PROCS /
 * GET_PROC / DUMP_FILES / SET_FILTER requests and their replies (blocking,
 * 5 s timeout); @ctrl joins
 * nlctrl's "notify" group to see the family appear (insmod) and disappear
 * (rmmod). Replies and events are read with plain recvfrom() into one buffer
 * and handed on as raw bytes, exactly as received, to the decoder.
 */
#ifndef DBOS_INTAKE_NETLINK_H
#define DBOS_INTAKE_NETLINK_H

#include <sys/types.h>

#include "dbserver/intake/intake.h"

#define INTAKE_NL_RCVBUF	(64 << 20)	/* event socket receive buffer */

struct intake_nl;

/*
 * intake_nl_new - a detached handle with the nlctrl notification socket open.
 * 0, or -errno and *@err (free()): without notifications the caller can still
 * poll for the module with intake_nl_attach().
 */
int intake_nl_new(struct intake_nl **out, char **err);
void intake_nl_free(struct intake_nl *nl);

/*
 * intake_nl_attach - resolve the "dbos" family and its events group, open the
 * command socket, then join the events group on a fresh event socket. The
 * caller dumps only after this returns (subscribe first, then dump, so no
 * event falls between). 0; -ENOENT when the family is not registered (module
 * not loaded); other -errno with *@err (free()).
 */
int intake_nl_attach(struct intake_nl *nl, char **err);

/* intake_nl_detach - close the event and command sockets (no-op when detached). */
void intake_nl_detach(struct intake_nl *nl);

/* The pollable descriptors; -1 when absent. */
int intake_nl_event_fd(const struct intake_nl *nl);
int intake_nl_ctrl_fd(const struct intake_nl *nl);

/*
 * intake_nl_recv_event - read one datagram from the event socket without
 * blocking. Returns its length with *@msg pointing at it (valid until the next
 * call), 0 when nothing is queued, -ENOBUFS after a receive overrun (events
 * were lost), -EMSGSIZE for a datagram larger than the buffer (lost too), or
 * another -errno.
 */
ssize_t intake_nl_recv_event(struct intake_nl *nl, const struct nlmsghdr **msg);

#define INTAKE_NL_FAMILY_NEW	(1 << 0)	/* "dbos" registered (or notifications were lost) */
#define INTAKE_NL_FAMILY_DEL	(1 << 1)	/* "dbos" unregistered */

/* intake_nl_read_ctrl - drain nlctrl notifications; returns INTAKE_NL_FAMILY_* bits about "dbos". */
int intake_nl_read_ctrl(struct intake_nl *nl);

/* Kernel operations over the command socket; the ops argument is the struct intake_nl. */
extern const struct intake_kernel_ops intake_nl_ops;

#endif /* DBOS_INTAKE_NETLINK_H */
