/* SPDX-License-Identifier: GPL-2.0 */
/* vm_genl.h - raw generic netlink for VM tests (no libnl): requests to the dbos family, nlctrl, extack. */
#ifndef DBOS_VM_GENL_H
#define DBOS_VM_GENL_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "dbos_uapi.h"

#define NLBUF		(64 * 1024)

struct nl {
	int fd;
	__u16 family;		/* dbos family id */
	__u32 events;		/* events multicast group id */
	__u32 seq;
	int timeout_ms;		/* for an answer; 0 means 10 s */
	char errmsg[256];	/* extack message of the last error */
};

struct attr_buf {
	char data[8192];
	size_t len;
};

static inline void attr_put(struct attr_buf *b, __u16 type, const void *data, __u16 len)
{
	struct nlattr *a = (struct nlattr *)(b->data + b->len);

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy(a + 1, data, len);
	memset((char *)(a + 1) + len, 0, NLA_ALIGN(len) - len);
	b->len += NLA_ALIGN(a->nla_len);
}

static inline void attr_put_u32(struct attr_buf *b, __u16 type, __u32 v)
{
	attr_put(b, type, &v, sizeof(v));
}

/* Opens a nest of @type at the end of @b: its offset, for attr_nest_end(). */
static inline size_t attr_nest(struct attr_buf *b, __u16 type)
{
	size_t off = b->len;

	attr_put(b, type | NLA_F_NESTED, NULL, 0);
	return off;
}

/* Closes the nest opened at @off: it holds everything put since. */
static inline void attr_nest_end(struct attr_buf *b, size_t off)
{
	((struct nlattr *)(b->data + off))->nla_len = b->len - off;
}

/* tb[type] = attribute, for every type <= max in [data, data + len). */
static inline int attr_parse(const void *data, size_t len, const struct nlattr **tb, int max)
{
	const char *p = data;

	memset(tb, 0, sizeof(*tb) * (max + 1));
	while (len >= NLA_HDRLEN) {
		const struct nlattr *a = (const void *)p;
		size_t alen = NLA_ALIGN(a->nla_len);

		if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
			return -1;
		if ((a->nla_type & NLA_TYPE_MASK) <= max)
			tb[a->nla_type & NLA_TYPE_MASK] = a;
		if (alen > len)
			break;
		p += alen;
		len -= alen;
	}
	return 0;
}

static inline __u32 nla_u32(const struct nlattr *a)
{
	__u32 v;

	memcpy(&v, a + 1, sizeof(v));
	return v;
}

static inline __u64 nla_u64(const struct nlattr *a)
{
	__u64 v;

	memcpy(&v, a + 1, sizeof(v));
	return v;
}

static inline int nl_socket(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd, one = 1;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -errno;
	}
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return fd;
}

/* Send raw bytes to the kernel. */
static inline int nl_send_raw(int fd, const void *buf, size_t len)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	if (sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

/* Build a generic netlink request in @buf; returns its length. */
static inline size_t nl_build(void *buf, __u16 type, __u16 flags, __u32 seq, __u8 cmd,
			      __u8 version, __u16 reserved, const void *attrs,
			      size_t alen)
{
	struct nlmsghdr *nh = buf;
	struct genlmsghdr *gh = NLMSG_DATA(nh);

	nh->nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN + alen);
	nh->nlmsg_type = type;
	nh->nlmsg_flags = flags;
	nh->nlmsg_seq = seq;
	nh->nlmsg_pid = 0;
	gh->cmd = cmd;
	gh->version = version;
	gh->reserved = reserved;
	if (alen)
		memcpy((char *)gh + GENL_HDRLEN, attrs, alen);
	return nh->nlmsg_len;
}

/* recv() with a timeout: length, -ETIMEDOUT or -errno. */
static inline ssize_t nl_recv(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int r;

	r = poll(&p, 1, timeout_ms);
	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0)
		return -errno;
	n = recv(fd, buf, len, 0);
	return n < 0 ? -errno : n;
}

/*
 * The extack message of an NLMSG_ERROR (sent with NETLINK_CAP_ACK) or of an
 * NLMSG_DONE (after its errno), if any.
 */
static inline void nl_errmsg(const struct nlmsghdr *nh, char *out, size_t outlen)
{
	const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t off = NLMSG_HDRLEN + (nh->nlmsg_type == NLMSG_DONE ? sizeof(int) :
				     sizeof(struct nlmsgerr));

	out[0] = '\0';
	if (!(nh->nlmsg_flags & NLM_F_ACK_TLVS) || nh->nlmsg_len <= off)
		return;
	if (attr_parse((const char *)nh + off, nh->nlmsg_len - off, tb,
		       NLMSGERR_ATTR_MAX))
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(out, outlen, "%.*s",
			 (int)(tb[NLMSGERR_ATTR_MSG]->nla_len - NLA_HDRLEN),
			 (const char *)(tb[NLMSGERR_ATTR_MSG] + 1));
}

typedef int (*nl_cb)(const struct nlmsghdr *nh, void *ctx);

/*
 * Wait for the answer to request @seq: call @cb for each data message.
 * Return: 0 after an ACK or NLMSG_DONE (or a single reply when no ACK was
 * asked for), the negative errno of an NLMSG_ERROR, -ETIMEDOUT, or what @cb
 * returned if negative.
 */
static inline int nl_wait(struct nl *nl, __u32 seq, bool ack, nl_cb cb, void *ctx)
{
	static char buf[NLBUF];

	nl->errmsg[0] = '\0';
	for (;;) {
		ssize_t n = nl_recv(nl->fd, buf, sizeof(buf),
				    nl->timeout_ms ? nl->timeout_ms : 10000);
		struct nlmsghdr *nh;

		if (n < 0)
			return n;
		for (nh = (void *)buf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_seq != seq)
				continue;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nh);

				nl_errmsg(nh, nl->errmsg, sizeof(nl->errmsg));
				return e->error;
			}
			if (nh->nlmsg_type == NLMSG_DONE) {
				int err;

				memcpy(&err, NLMSG_DATA(nh), sizeof(err));
				nl_errmsg(nh, nl->errmsg, sizeof(nl->errmsg));
				return err < 0 ? err : 0;
			}
			if (cb) {
				int r = cb(nh, ctx);

				if (r < 0)
					return r;
			}
			if (!ack && !(nh->nlmsg_flags & NLM_F_MULTI))
				return 0;
		}
	}
}

/* Send a request to the dbos family and wait for its answer (see nl_wait). */
static inline int nl_request(struct nl *nl, __u8 cmd, __u16 flags,
			     const struct attr_buf *attrs, nl_cb cb, void *ctx)
{
	char buf[16384];
	size_t len;
	int ret;

	len = nl_build(buf, nl->family, NLM_F_REQUEST | flags, ++nl->seq, cmd,
		       DBOS_GENL_VERSION, 0, attrs ? attrs->data : NULL,
		       attrs ? attrs->len : 0);
	ret = nl_send_raw(nl->fd, buf, len);
	if (ret)
		return ret;
	return nl_wait(nl, nl->seq, flags & NLM_F_ACK, cb, ctx);
}

struct family_info {
	const char *group;
	__u16 id;
	__u32 group_id;
};

static inline int family_cb(const struct nlmsghdr *nh, void *ctx)
{
	struct family_info *fi = ctx;
	const struct nlattr *tb[CTRL_ATTR_MAX + 1];
	const struct nlattr *g;
	const char *p;
	size_t len;

	if (attr_parse((const char *)NLMSG_DATA(nh) + GENL_HDRLEN,
		       nh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN, tb,
		       CTRL_ATTR_MAX))
		return -EINVAL;
	if (!tb[CTRL_ATTR_FAMILY_ID])
		return -EINVAL;
	memcpy(&fi->id, tb[CTRL_ATTR_FAMILY_ID] + 1, sizeof(fi->id));
	g = tb[CTRL_ATTR_MCAST_GROUPS];
	if (!g)
		return 0;
	p = (const char *)(g + 1);
	len = g->nla_len - NLA_HDRLEN;
	while (len >= NLA_HDRLEN) {
		const struct nlattr *grp = (const void *)p;
		const struct nlattr *gt[CTRL_ATTR_MCAST_GRP_MAX + 1];

		if (grp->nla_len < NLA_HDRLEN || grp->nla_len > len)
			break;
		if (!attr_parse(grp + 1, grp->nla_len - NLA_HDRLEN, gt,
				CTRL_ATTR_MCAST_GRP_MAX) &&
		    gt[CTRL_ATTR_MCAST_GRP_NAME] && gt[CTRL_ATTR_MCAST_GRP_ID] &&
		    !strcmp((const char *)(gt[CTRL_ATTR_MCAST_GRP_NAME] + 1),
			    fi->group))
			fi->group_id = nla_u32(gt[CTRL_ATTR_MCAST_GRP_ID]);
		if (NLA_ALIGN(grp->nla_len) >= len)
			break;
		len -= NLA_ALIGN(grp->nla_len);
		p += NLA_ALIGN(grp->nla_len);
	}
	return 0;
}

/* Resolve generic netlink family @name and its group @group through nlctrl. */
static inline int resolve_family(int fd, const char *name, const char *group,
				 __u16 *id, __u32 *group_id)
{
	struct family_info fi = { .group = group };
	struct nl ctl = { .fd = fd, .family = GENL_ID_CTRL, .seq = 1000 };
	struct attr_buf a = { .len = 0 };
	char buf[512];
	size_t len;
	int ret;

	attr_put(&a, CTRL_ATTR_FAMILY_NAME, name, strlen(name) + 1);
	len = nl_build(buf, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK,
		       ++ctl.seq, CTRL_CMD_GETFAMILY, 1, 0, a.data, a.len);
	ret = nl_send_raw(fd, buf, len);
	if (!ret)
		ret = nl_wait(&ctl, ctl.seq, true, family_cb, &fi);
	if (ret)
		return ret;
	*id = fi.id;
	if (group_id)
		*group_id = fi.group_id;
	return 0;
}

static inline int nl_open(struct nl *nl)
{
	int ret;

	memset(nl, 0, sizeof(*nl));
	nl->fd = nl_socket();
	if (nl->fd < 0)
		return nl->fd;
	ret = resolve_family(nl->fd, DBOS_GENL_NAME, DBOS_MCGRP_EVENTS,
			     &nl->family, &nl->events);
	if (ret) {
		close(nl->fd);
		nl->fd = -1;
	}
	return ret;
}

static inline int join_group(int fd, __u32 group)
{
	if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group,
		       sizeof(group)) < 0)
		return -errno;
	return 0;
}

#endif /* DBOS_VM_GENL_H */
