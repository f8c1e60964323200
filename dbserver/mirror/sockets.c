// SPDX-License-Identifier: GPL-2.0
/* sockets.c - the files mirror's sockets: SOCK_* records -> sockets rows and socket_events (rule 3 of files.c). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dbserver/mirror/files_int.h"
#include "dbserver/sql/schema.h"

static const char *const state_names[] = {
	[1] = "ESTABLISHED", [2] = "SYN_SENT", [3] = "SYN_RECV", [4] = "FIN_WAIT1",
	[5] = "FIN_WAIT2", [6] = "TIME_WAIT", [7] = "CLOSE", [8] = "CLOSE_WAIT",
	[9] = "LAST_ACK", [10] = "LISTEN", [11] = "CLOSING", [12] = "NEW_SYN_RECV",
};

static struct row_value state_value(uint8_t state)
{
	if (state < sizeof(state_names) / sizeof(state_names[0]) && state_names[state])
		return files_text(state_names[state]);
	return files_text("UNKNOWN");
}

/* An address as ss shows it: inet_ntop ("0.0.0.0" / "::" when unset), "" for other families. */
static struct row_value addr_value(uint16_t family, const uint8_t *a, char buf[INET6_ADDRSTRLEN])
{
	if ((family != AF_INET && family != AF_INET6) || !inet_ntop(family, a, buf, INET6_ADDRSTRLEN))
		buf[0] = '\0';
	return files_text(buf);
}

/*
 * A unix socket name for display: abstract names (leading NUL) as "@name"
 * with inner NULs shown as '@' (like ss); pathnames without trailing NULs.
 * Returns a malloc'ed copy (length in *@len), or NULL for none / ENOMEM.
 */
static char *unix_name(const char *p, size_t n, uint32_t *len)
{
	char *s;

	*len = 0;
	if (n && p[0] != '\0')
		while (n && p[n - 1] == '\0')
			n--;
	if (!n || !(s = malloc(n)))
		return NULL;
	memcpy(s, p, n);
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0')
			s[i] = '@';
	*len = (uint32_t)n;
	return s;
}

static int sock_put_row(struct files *f, const struct sockent *so)
{
	struct row_value v[SOCKETS__COUNT];
	char la[INET6_ADDRSTRLEN], ra[INET6_ADDRSTRLEN];
	unsigned char k[8];
	size_t len;

	v[SOCKETS_SOCKET] = row_int((int64_t)so->inode);
	v[SOCKETS_FAMILY] = row_int(so->family);
	v[SOCKETS_PROTOCOL] = row_int(so->protocol);
	v[SOCKETS_TYPE] = row_int(so->type);
	v[SOCKETS_LOCAL_ADDRESS] = addr_value(so->family, so->laddr, la);
	v[SOCKETS_LOCAL_PORT] = row_int(so->lport);
	v[SOCKETS_REMOTE_ADDRESS] = addr_value(so->family, so->raddr, ra);
	v[SOCKETS_REMOTE_PORT] = row_int(so->rport);
	v[SOCKETS_PATH] = row_text(so->path ? so->path : "", so->plen);
	v[SOCKETS_PEER_PATH] = row_text(so->peer_path ? so->peer_path : "", so->pplen);
	v[SOCKETS_PEER_SOCKET] = row_int((int64_t)so->peer_inode);
	v[SOCKETS_STATE] = state_value(so->state);
	v[SOCKETS_NET_NAMESPACE] = row_int(so->netns);
	v[SOCKETS_SEQ] = row_int((int64_t)so->seq);
	if (files_encode(f, v, SOCKETS__COUNT, &len))
		return -1;
	changes_put(f->chg, CHANGES_SOCKETS, so->inode, f->cause_seq, f->cause_time, f->enc, len);
	store_key_be64(k, so->inode);
	store_batch_put(f->b, STORE_CF_SOCKETS, k, sizeof(k), f->enc, len);
	return 0;
}

/* Makes the stored row of @so match what should be visible (rule 3). */
void sock_sync(struct files *f, struct sockent *so, bool changed)
{
	bool want = so->refs > 0 && so->has_info;

	if (want && (changed || !so->stored)) {
		if (sock_put_row(f, so))
			return;	/* ENOMEM: written at the next change or re-sync */
		if (!so->stored)
			f->nsocks++;
		so->stored = true;
	} else if (!want && so->stored) {
		unsigned char k[8];

		store_key_be64(k, so->inode);
		store_batch_delete(f->b, STORE_CF_SOCKETS, k, sizeof(k));
		changes_del(f->chg, CHANGES_SOCKETS, so->inode, f->cause_seq, f->cause_time);
		so->stored = false;
		f->nsocks--;
	}
}

struct sockent *sock_get(struct files *f, uint64_t inode)
{
	struct sockent *so = ptrmap_get(&f->socks, inode);

	if (so || !inode)
		return so;
	so = calloc(1, sizeof(*so));
	if (!so)
		return NULL;
	so->inode = inode;
	so->t_s = files_now_s(f);
	if (ptrmap_put(&f->socks, inode, so)) {
		free(so);
		return NULL;
	}
	return so;
}

/* The unix socket whose peer @so is (a connected stream or seqpacket pair), or NULL. */
static struct sockent *unix_pair(struct files *f, const struct sockent *so)
{
	struct sockent *peer;

	if (so->family != AF_UNIX || so->type == SOCK_DGRAM || !so->peer_inode ||
	    so->state == TCP_LISTEN_STATE)
		return NULL;
	peer = ptrmap_get(&f->socks, so->peer_inode);
	return peer && peer->has_info && peer->family == AF_UNIX &&
	       peer->state != TCP_LISTEN_STATE ? peer : NULL;
}

/*
 * Rule 3, unix pairs: no record reports that a connecting socket's peer got
 * its inode (at accept(); connect() sees an embryo without one), nor that a
 * peer went away (ss then shows peer 0). So when a socket names its peer,
 * the peer names it back if it named none; when a socket is released (its
 * last fd row went), its pair names none.
 */
static void unix_pair_link(struct files *f, struct sockent *so)
{
	struct sockent *peer = unix_pair(f, so);

	if (peer && !peer->peer_inode) {
		peer->peer_inode = so->inode;
		sock_sync(f, peer, true);
	}
}

/* One more (+1) or one fewer (-1) live fd row points at socket @inode. */
void sock_ref(struct files *f, uint64_t inode, int d)
{
	struct sockent *so = sock_get(f, inode), *peer;

	if (!so)
		return;
	so->refs += d;
	if (so->refs <= 0) {
		if (d < 0 && (peer = unix_pair(f, so)) && peer->peer_inode == so->inode) {
			peer->peer_inode = 0;
			sock_sync(f, peer, true);
		}
		so->refs = 0;
		so->t_s = files_now_s(f);
	}
	sock_sync(f, so, false);
}

/* A socket_events row: the socket's columns from @so (NULL: unknown). */
void socket_history(struct files *f, const struct dbos_rec_hdr *h, uint64_t s,
			   const char *action, uint32_t pid, uint32_t fd, uint64_t inode,
			   const struct sockent *so)
{
	struct row_value v[SOCKET_EVENTS__COUNT];
	char la[INET6_ADDRSTRLEN], ra[INET6_ADDRSTRLEN];
	size_t len;

	if (!history_wants(&f->sev, s))
		return;
	v[SOCKET_EVENTS_SEQ] = row_int((int64_t)s);
	v[SOCKET_EVENTS_TIME] = row_int((int64_t)(h->time_ns / NSEC));
	v[SOCKET_EVENTS_TIME_NS] = row_int((int64_t)h->time_ns);
	v[SOCKET_EVENTS_ACTION] = files_text(action);
	v[SOCKET_EVENTS_PID] = row_int(pid);
	v[SOCKET_EVENTS_FD] = fd == ~0U ? row_null() : row_int(fd);
	v[SOCKET_EVENTS_SOCKET] = row_int((int64_t)inode);
	v[SOCKET_EVENTS_FAMILY] = so ? row_int(so->family) : row_null();
	v[SOCKET_EVENTS_PROTOCOL] = so ? row_int(so->protocol) : row_null();
	v[SOCKET_EVENTS_LOCAL_ADDRESS] = so ? addr_value(so->family, so->laddr, la) : row_null();
	v[SOCKET_EVENTS_LOCAL_PORT] = so ? row_int(so->lport) : row_null();
	v[SOCKET_EVENTS_REMOTE_ADDRESS] = so ? addr_value(so->family, so->raddr, ra) : row_null();
	v[SOCKET_EVENTS_REMOTE_PORT] = so ? row_int(so->rport) : row_null();
	v[SOCKET_EVENTS_PATH] = so ? row_text(so->path ? so->path : "", so->plen) : row_null();
	v[SOCKET_EVENTS_STATE] = so ? state_value(so->state) : row_null();
	v[SOCKET_EVENTS_SUCCESS] = row_int(1);
	v[SOCKET_EVENTS_CPU] = row_int(h->cpu);
	if (!files_encode(f, v, SOCKET_EVENTS__COUNT, &len))
		history_put(&f->sev, f->b, s, f->enc, len);
}

static const char *sock_action(uint16_t type)
{
	switch (type) {
	case DBOS_REC_SOCK_BIND: return "bind";
	case DBOS_REC_SOCK_LISTEN: return "listen";
	case DBOS_REC_SOCK_CONNECT: return "connect";
	case DBOS_REC_SOCK_ACCEPT: return "accept";
	case DBOS_REC_SOCK_STATE: return "state";
	}
	return NULL;	/* SOCK_INFO, SOCK: live state only */
}

/* Fills @so's info from @r; 0 or -1 (ENOMEM: @so unchanged). */
static int sock_set(struct sockent *so, const struct mirror_rec *r, uint64_t s)
{
	const struct dbos_sock *k = &r->sock;
	uint32_t plen = 0, pplen = 0;
	char *path = NULL, *peer = NULL;

	if (k->family == AF_UNIX) {
		path = unix_name(r->path, k->path_len, &plen);
		peer = unix_name(r->peer_path, k->peer_path_len, &pplen);
		if ((plen == 0) != (path == NULL) || (pplen == 0) != (peer == NULL)) {
			free(path);
			free(peer);
			return -1;
		}
	}
	free(so->path);
	free(so->peer_path);
	so->path = path;
	so->plen = plen;
	so->peer_path = peer;
	so->pplen = pplen;
	so->has_info = true;
	so->seq = s;
	so->peer_inode = k->peer_inode;
	so->netns = k->netns;
	so->family = k->family;
	so->type = k->type;
	so->protocol = k->protocol;
	so->state = k->state;
	so->lport = k->local_port;
	so->rport = k->remote_port;
	memcpy(so->laddr, k->local_addr, sizeof(so->laddr));
	memcpy(so->raddr, k->remote_addr, sizeof(so->raddr));
	return 0;
}

enum mirror_result sock_apply(struct files *f, const struct mirror_rec *r, uint64_t s)
{
	const char *action = sock_action(r->hdr.type);
	struct sockent *so = sock_get(f, r->sock.inode), tmp = { 0 };

	if (!r->sock.inode)
		return MIRROR_IGNORED;
	if (r->hdr.type == DBOS_REC_SOCK)
		f->c[MIRROR_STAT_FILE_SNAPSHOTS]++;
	if (action) {
		/* The history row shows the record's own view of the socket. */
		if (sock_set(&tmp, r, s))
			return MIRROR_ENOMEM;
		tmp.inode = r->sock.inode;
		socket_history(f, &r->hdr, s, action, r->sock.pid, r->sock.fd, r->sock.inode, &tmp);
		free(tmp.path);
		free(tmp.peer_path);
	}
	if (!so)
		return MIRROR_ENOMEM;
	/* A snapshot (SOCK) at s shows every record up to s, the one at s too. */
	if (so->has_info && (r->hdr.type == DBOS_REC_SOCK ? s < so->seq : s <= so->seq)) {
		f->c[MIRROR_STAT_FILE_RECORDS_STALE]++;
		return MIRROR_STALE;
	}
	if (sock_set(so, r, s))
		return MIRROR_ENOMEM;
	sock_sync(f, so, true);
	unix_pair_link(f, so);
	f->c[MIRROR_STAT_FILE_RECORDS_APPLIED]++;
	return MIRROR_APPLIED;
}

static char *dup_text(const struct row_value *v, uint32_t *len)
{
	char *s;

	*len = 0;
	if (v->type != ROW_TEXT || !v->len || !(s = malloc(v->len)))
		return NULL;
	memcpy(s, v->s, v->len);
	*len = (uint32_t)v->len;
	return s;
}

/* One stored sockets row back into the working copy (after the fds: refs are known). */
int load_sock(struct files *f, uint64_t inode, const char *val, size_t vlen)
{
	struct row_value v[SOCKETS__COUNT];
	struct sockent *so = sock_get(f, inode);

	if (!so)
		return -1;
	so->stored = true;
	f->nsocks++;
	if (row_decode(val, vlen, v, SOCKETS__COUNT))
		return 0;
	so->has_info = true;
	so->seq = files_int_col(&v[SOCKETS_SEQ]);
	so->family = (uint16_t)files_int_col(&v[SOCKETS_FAMILY]);
	so->protocol = (uint16_t)files_int_col(&v[SOCKETS_PROTOCOL]);
	so->type = (uint16_t)files_int_col(&v[SOCKETS_TYPE]);
	so->lport = (uint16_t)files_int_col(&v[SOCKETS_LOCAL_PORT]);
	so->rport = (uint16_t)files_int_col(&v[SOCKETS_REMOTE_PORT]);
	so->peer_inode = files_int_col(&v[SOCKETS_PEER_SOCKET]);
	so->netns = (uint32_t)files_int_col(&v[SOCKETS_NET_NAMESPACE]);
	for (uint8_t st = 0; st < sizeof(state_names) / sizeof(state_names[0]); st++)
		if (state_names[st] && v[SOCKETS_STATE].type == ROW_TEXT &&
		    strlen(state_names[st]) == v[SOCKETS_STATE].len &&
		    !memcmp(state_names[st], v[SOCKETS_STATE].s, v[SOCKETS_STATE].len))
			so->state = st;
	for (int i = 0; i < 2; i++) {
		const struct row_value *a = &v[i ? SOCKETS_REMOTE_ADDRESS : SOCKETS_LOCAL_ADDRESS];
		char buf[INET6_ADDRSTRLEN] = "";

		if (a->type == ROW_TEXT && a->len < sizeof(buf))
			memcpy(buf, a->s, a->len);
		if (inet_pton(so->family == AF_INET6 ? AF_INET6 : AF_INET, buf,
			      i ? so->raddr : so->laddr) != 1)
			memset(i ? so->raddr : so->laddr, 0, 16);
	}
	so->path = dup_text(&v[SOCKETS_PATH], &so->plen);
	so->peer_path = dup_text(&v[SOCKETS_PEER_PATH], &so->pplen);
	return 0;
}
