// SPDX-License-Identifier: GPL-2.0
/* endpoint.c - accept dbos clients on a Unix socket and run their SQL. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dbos_proto.h"
#include "dbserver/endpoint/endpoint.h"

/* Once a frame has started, the rest of it must arrive within this time. */
#define FRAME_TIMEOUT_MS	30000
/* Rows are sent when this much output has accumulated. */
#define FLUSH_BYTES		(64u << 10)
/* A statement checks for a vanished client every this many VM steps. */
#define PROGRESS_OPS		10000
#define LISTEN_BACKLOG		128

struct conn {
	struct endpoint *ep;
	int fd;			/* closed by the reaper, after the join */
	uid_t uid;		/* the peer's, at connect time */
	pthread_t thread;
	bool done;		/* the thread has finished; under ep->lock */
	bool hup;		/* the client hung up during a statement */
	bool timed_out;		/* the statement ran out of time */
	sqlite3 *db;		/* the connection's, once open */
	int64_t started;	/* when the running statement started (ns) */
	int64_t blocked;	/* ns of it spent waiting for the client to read */
	struct dbos_buf in;	/* the request being read */
	struct dbos_buf out;	/* frames not yet sent */
	struct conn *next;	/* in ep->conns; under ep->lock */
};

struct endpoint {
	struct endpoint_config cfg;
	char *path;
	dev_t sock_dev;		/* identity of the socket file we made */
	ino_t sock_ino;
	char *refusal;		/* the "permission denied" text */
	int lfd;
	int wakefd;		/* eventfd: endpoint_stop() wakes the acceptor */
	pthread_t acceptor;
	atomic_bool stopping;

	pthread_mutex_t lock;	/* protects conns and nlive */
	struct conn *conns;	/* every thread not yet joined */
	unsigned int nlive;	/* connections whose thread is not done */
};

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A limit in seconds as configured: 0 is @def, ENDPOINT_OFF stays. */
static unsigned int limit_or(unsigned int v, unsigned int def)
{
	return v ? v : def;
}

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Send one 'E' frame straight away, without blocking; best effort. */
static void send_error_now(int fd, const char *msg)
{
	struct dbos_buf b;

	dbos_buf_init(&b);
	dbos_frame_put(&b, DBOS_F_ERROR, msg, strlen(msg));
	if (!b.err)
		(void)!send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	dbos_buf_free(&b);
}

/* ---------------------------------------------------------------------- */
/* Running a request                                                      */

/*
 * Send what is buffered. Returns 0 or -1 when the client is gone, or has
 * not read for the send timeout (SO_SNDTIMEO on the socket). Before it
 * blocks, the statement's cursors let go of their store snapshots
 * (cfg.park); the time blocked does not count against the statement.
 */
static int flush(struct conn *c)
{
	const uint8_t *p = c->out.data;
	size_t n = c->out.len;
	int ret = 0;

	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		n -= (size_t)w;
	}
	if (n && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		int64_t t0 = now_ns();

		if (c->db && c->ep->cfg.park)
			c->ep->cfg.park(c->db);
		ret = dbos_send_all(c->fd, p, n);
		c->blocked += now_ns() - t0;
	} else if (n) {
		ret = -1;
	}
	dbos_buf_reset(&c->out);
	if (c->out.cap > (1u << 20))
		dbos_buf_free(&c->out);	/* after one huge row */
	return ret;
}

/*
 * Queue an 'E' frame after the complete frames already buffered and send
 * everything. Returns 0 or -1 (client gone).
 */
static int finish_error(struct conn *c, const char *msg)
{
	size_t n = strlen(msg);

	if (n > DBOS_MAX_FRAME)
		n = DBOS_MAX_FRAME;
	c->out.err = 0;
	dbos_frame_put(&c->out, DBOS_F_ERROR, msg, n);
	if (c->out.err) {
		/* no memory for more: send what we have, then try again */
		c->out.err = 0;
		if (flush(c))
			return -1;
		dbos_frame_put(&c->out, DBOS_F_ERROR, msg, n);
		if (c->out.err) {
			/* not even that (the session is at its memory limit) */
			send_error_now(c->fd, msg);
			return -1;
		}
	}
	return flush(c);
}

/* The text for a client whose buffers could not grow (cfg.nomem). */
static const char *nomem(const struct conn *c)
{
	return c->ep->cfg.nomem ? c->ep->cfg.nomem() : "out of memory";
}

/*
 * A connection's buffers come from SQLite's allocator, on its own thread:
 * an embedder that accounts SQLite memory per thread (dbosd's
 * --session-memory) then counts the query a client sends and the rows
 * waiting for it along with its statements' memory.
 */
static void *session_realloc(void *p, size_t n)
{
	return sqlite3_realloc64(p, n);
}

static const struct dbos_allocator session_alloc = {
	.realloc = session_realloc,
	.free = sqlite3_free,
};

/* Drop the partly built frame begun at @start (after an error). */
static void drop_frame(struct conn *c, size_t start)
{
	c->out.len = start;
	c->out.err = 0;
}

/* Longest prefix of @s no longer than @max bytes that ends on a UTF-8 boundary. */
static size_t utf8_clip(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Append a 'C' frame. Returns 0 or -1 when out of memory. */
static int put_columns(struct conn *c, sqlite3_stmt *st, int ncol)
{
	size_t start = dbos_frame_begin(&c->out, DBOS_F_COLUMNS);
	int i;

	dbos_buf_u16(&c->out, (uint16_t)ncol);
	for (i = 0; i < ncol; i++) {
		const char *name = sqlite3_column_name(st, i);
		size_t len;

		if (!name)
			name = "";
		len = utf8_clip(name, strlen(name), UINT16_MAX);
		dbos_buf_u16(&c->out, (uint16_t)len);
		dbos_buf_put(&c->out, name, len);
	}
	/* at most 32767 columns of 64 KiB names: always fits */
	dbos_frame_end(&c->out, start);
	if (c->out.err) {
		drop_frame(c, start);
		return -1;
	}
	return 0;
}

/*
 * Whether a value of @n bytes (plus its type and length) still fits in the
 * frame begun at @start: checked before it is copied, so a row of many big
 * values never makes the buffer bigger than one frame.
 */
static bool fits(const struct conn *c, size_t start, int n)
{
	size_t used = c->out.len - start - DBOS_FRAME_HDR;

	return (size_t)n <= DBOS_MAX_FRAME && used + 5 + (size_t)n <= DBOS_MAX_FRAME;
}

/*
 * Append an 'R' frame. Returns 0, -1 if the row does not fit in a frame,
 * -2 when out of memory; after a failure nothing of the row is buffered.
 */
static int put_row(struct conn *c, sqlite3_stmt *st, int ncol)
{
	size_t start = dbos_frame_begin(&c->out, DBOS_F_ROW);
	const void *p;
	int i, n;

	for (i = 0; i < ncol; i++) {
		switch (sqlite3_column_type(st, i)) {
		case SQLITE_INTEGER:
			dbos_buf_u8(&c->out, DBOS_T_INT);
			dbos_buf_u64(&c->out, (uint64_t)sqlite3_column_int64(st, i));
			break;
		case SQLITE_FLOAT:
			dbos_buf_u8(&c->out, DBOS_T_FLOAT);
			dbos_buf_f64(&c->out, sqlite3_column_double(st, i));
			break;
		case SQLITE_TEXT:
			p = sqlite3_column_text(st, i);
			n = sqlite3_column_bytes(st, i);
			if (!p) {
				drop_frame(c, start);
				return -2;
			}
			if (!fits(c, start, n)) {
				drop_frame(c, start);
				return -1;
			}
			dbos_buf_u8(&c->out, DBOS_T_TEXT);
			dbos_buf_u32(&c->out, (uint32_t)n);
			dbos_buf_put(&c->out, p, (size_t)n);
			break;
		case SQLITE_BLOB:
			p = sqlite3_column_blob(st, i);
			n = sqlite3_column_bytes(st, i);
			if (!fits(c, start, n)) {
				drop_frame(c, start);
				return -1;
			}
			dbos_buf_u8(&c->out, DBOS_T_BLOB);
			dbos_buf_u32(&c->out, (uint32_t)n);
			dbos_buf_put(&c->out, p, (size_t)n);
			break;
		default:
			dbos_buf_u8(&c->out, DBOS_T_NULL);
			break;
		}
		if (c->out.err) {
			drop_frame(c, start);
			return -2;
		}
	}
	return dbos_frame_end(&c->out, start);	/* drops the row if too big */
}

/*
 * The client's text for @db's last error: the statement timeout whatever
 * the statement said (a nested one says "policy_simulate: interrupted").
 */
static const char *errmsg(struct conn *c, sqlite3 *db)
{
	static _Thread_local char timeout[96];

	if (c->timed_out) {
		snprintf(timeout, sizeof(timeout), "statement cancelled after %u s "
			 "(dbosd --statement-timeout)", c->ep->cfg.statement_timeout);
		return timeout;
	}
	return c->ep->cfg.errmsg ? c->ep->cfg.errmsg(db) : sqlite3_errmsg(db);
}

/*
 * Step @st to the end, streaming its rows. Returns 0 when it completed,
 * 1 when it failed (the 'E' frame has been sent), -1 when the client is gone
 * or the endpoint is stopping.
 */
static int run_statement(struct conn *c, sqlite3 *db, sqlite3_stmt *st)
{
	int ncol = sqlite3_column_count(st);
	bool sent_columns = false;
	int rc;

	for (;;) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			break;
		if (ncol > 0 && !sent_columns) {
			if (put_columns(c, st, ncol))
				return finish_error(c, nomem(c)) ? -1 : 1;
			sent_columns = true;
		}
		if (rc == SQLITE_DONE)
			return 0;
		switch (put_row(c, st, ncol)) {
		case -1:
			return finish_error(c, "result row too large (the limit is 64 MiB)") ? -1 : 1;
		case -2:
			return finish_error(c, nomem(c)) ? -1 : 1;
		}
		if (c->out.len >= FLUSH_BYTES && flush(c))
			return -1;
	}
	if (c->hup)
		return -1;
	if (atomic_load(&c->ep->stopping)) {
		finish_error(c, "dbosd is shutting down");
		return -1;
	}
	return finish_error(c, errmsg(c, db)) ? -1 : 1;
}

/*
 * Run every statement of one 'Q' request and send the frames.
 * Returns 0 when the connection can go on, -1 when it must close.
 */
static int run_request(struct conn *c, sqlite3 *db)
{
	const char *sql = (const char *)c->in.data;
	const char *end = sql + c->in.len;
	sqlite3_int64 before = sqlite3_total_changes64(db);
	sqlite3_stmt *st;
	const char *next;
	size_t start;
	int rc, ret;

	dbos_buf_reset(&c->out);
	if (memchr(sql, 0, c->in.len))
		return finish_error(c, "the query text contains a NUL byte");
	while (sql < end) {
		/* The statement's time starts with its prepare (which may run SQL: a schema reload). */
		c->started = now_ns();
		c->blocked = 0;
		c->timed_out = false;
		/* The payload is NUL-terminated: pass the terminator too. */
		rc = sqlite3_prepare_v2(db, sql, (int)(end - sql) + 1, &st, &next);
		if (rc != SQLITE_OK) {
			if (c->hup)
				return -1;
			return finish_error(c, errmsg(c, db));
		}
		if (next <= sql)	/* cannot happen without a NUL; be safe */
			next = end;
		sql = next;
		if (!st)		/* whitespace or a comment */
			continue;
		ret = run_statement(c, db, st);
		sqlite3_finalize(st);
		if (ret)
			return ret < 0 ? -1 : 0;
	}
	start = dbos_frame_begin(&c->out, DBOS_F_DONE);
	dbos_buf_u64(&c->out, (uint64_t)(sqlite3_total_changes64(db) - before));
	dbos_frame_end(&c->out, start);
	if (c->out.err)
		return finish_error(c, nomem(c));
	return flush(c);
}

/*
 * SQLite progress handler: abandon the statement when the endpoint stops,
 * when it has run for the statement timeout (not counting time blocked on
 * the client), or when the client has closed its socket (POLLHUP needs both
 * directions shut, so a client that only half-closed after sending its
 * queries is still served).
 */
static int progress(void *arg)
{
	struct conn *c = arg;
	struct pollfd pfd = { .fd = c->fd, .events = 0 };
	unsigned int limit = c->ep->cfg.statement_timeout;

	if (atomic_load(&c->ep->stopping))
		return 1;
	if (limit != ENDPOINT_OFF &&
	    now_ns() - c->started - c->blocked > (int64_t)limit * 1000000000) {
		c->timed_out = true;
		return 1;
	}
	if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR))) {
		c->hup = true;
		return 1;
	}
	return 0;
}

void endpoint_notice(void *sink, const char *text)
{
	struct conn *c = sink;

	dbos_frame_put(&c->out, DBOS_F_NOTICE, text, strlen(text));
}

static void serve(struct conn *c)
{
	struct endpoint *ep = c->ep;
	char *err = NULL, *msg;
	const char *why;
	sqlite3 *db;
	uint8_t type;
	size_t start;
	int ret;

	if (ep->cfg.open_db_peer) {
		struct ucred peer = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
		socklen_t len = sizeof(peer);

		/* On failure the peer stays nobody: it was admitted, it gets no privilege. */
		getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &peer, &len);
		db = ep->cfg.open_db_peer(ep->cfg.arg, &peer, c, &err);
	} else {
		db = ep->cfg.open_db(ep->cfg.arg, &err);
	}
	if (!db) {
		msg = xasprintf("cannot open the database: %s", err ? err : "unknown error");
		send_error_now(c->fd, msg ? msg : "cannot open the database");
		free(msg);
		free(err);
		return;
	}
	free(err);	/* in case the callback set it anyway */
	c->db = db;
	sqlite3_progress_handler(db, PROGRESS_OPS, progress, c);

	start = dbos_frame_begin(&c->out, DBOS_F_HELLO);
	dbos_buf_u32(&c->out, DBOS_PROTO_VERSION);
	dbos_frame_end(&c->out, start);
	if (c->out.err || flush(c))
		goto out;

	/* A connection that says nothing is closed after the first-query timeout. */
	if (ep->cfg.first_query_timeout != ENDPOINT_OFF) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int64_t end = now_ns() + (int64_t)ep->cfg.first_query_timeout * 1000000000;
		int r;

		do {
			int64_t left = (end - now_ns()) / 1000000 + 1;

			r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : left < 0 ? 0 : (int)left);
		} while ((r < 0 && errno == EINTR) || (r == 0 && now_ns() < end));
		if (r == 0) {
			msg = xasprintf("closing: no query within %u s of connecting "
					"(dbosd --first-query-timeout)", ep->cfg.first_query_timeout);
			finish_error(c, msg ? msg : "closing: no query (dbosd --first-query-timeout)");
			free(msg);
			goto out;
		}
	}
	while (!atomic_load(&ep->stopping)) {
		ret = dbos_read_frame(c->fd, -1, FRAME_TIMEOUT_MS, &type, &c->in, &why);
		if (ret == 0)
			break;
		if (ret < 0) {
			if (why) {
				msg = xasprintf("protocol error: %s", why);
				finish_error(c, msg ? msg : "protocol error");
				free(msg);
			} else if (errno == ENOMEM) {
				finish_error(c, nomem(c));
			}
			break;
		}
		if (type != DBOS_F_QUERY) {
			msg = xasprintf("protocol error: unexpected frame type 0x%02x", type);
			finish_error(c, msg ? msg : "protocol error");
			free(msg);
			break;
		}
		if (run_request(c, db))
			break;
		if (c->in.cap > (1u << 20))
			dbos_buf_free(&c->in);	/* after a huge query */
	}
out:
	c->db = NULL;
	sqlite3_close_v2(db);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct endpoint *ep = c->ep;

	serve(c);
	/* Hang up now; the fd itself is closed by whoever joins us. */
	shutdown(c->fd, SHUT_RDWR);
	dbos_buf_free(&c->in);
	dbos_buf_free(&c->out);
	pthread_mutex_lock(&ep->lock);
	c->done = true;
	ep->nlive--;
	pthread_mutex_unlock(&ep->lock);
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Accepting                                                              */

static bool gid_in_list(gid_t g, const gid_t *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (list[i] == g)
			return true;
	return false;
}

/* Fallback for kernels without SO_PEERGROUPS: the Groups: line of the peer. */
static bool proc_groups_have(pid_t pid, gid_t g)
{
	char path[64], line[4096];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + 7, *endp;

		if (strncmp(line, "Groups:", 7))
			continue;
		for (;;) {
			unsigned long v = strtoul(p, &endp, 10);

			if (endp == p)
				break;
			if ((gid_t)v == g)
				found = true;
			p = endp;
		}
		break;
	}
	fclose(f);
	return found;
}

/* Do the peer's supplementary groups (at connect time) include @g? */
static bool peer_groups_have(int fd, const struct ucred *cred, gid_t g)
{
	gid_t small[64], *list = small;
	socklen_t len = sizeof(small);
	bool found;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, list, &len) < 0) {
		if (errno == ERANGE) {
			list = malloc(len);
			if (!list)
				return false;
			if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, list, &len) < 0) {
				free(list);
				return false;
			}
		} else if (errno == ENOPROTOOPT) {
			return proc_groups_have(cred->pid, g);
		} else {
			return false;
		}
	}
	found = gid_in_list(g, list, len / sizeof(gid_t));
	if (list != small)
		free(list);
	return found;
}

/* Root, or the server's own uid: served like root. */
static bool privileged(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* May the peer on @fd connect at all? *@uid: who it is. */
static bool peer_allowed(struct endpoint *ep, int fd, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t g = ep->cfg.group;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	*uid = cred.uid;
	if (privileged(cred.uid))
		return true;
	if (g == (gid_t)-1)
		return false;
	return cred.gid == g || peer_groups_have(fd, &cred, g);
}

/* Join and free the connections whose thread has finished. */
static void reap(struct endpoint *ep, bool all)
{
	struct conn **pp, *c;

	pthread_mutex_lock(&ep->lock);
	pp = &ep->conns;
	while ((c = *pp)) {
		if (!all && !c->done) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		pthread_mutex_unlock(&ep->lock);
		pthread_join(c->thread, NULL);
		close(c->fd);
		free(c);
		pthread_mutex_lock(&ep->lock);
		pp = &ep->conns;	/* the list may have changed meanwhile */
	}
	pthread_mutex_unlock(&ep->lock);
}

/*
 * Why a new connection of @uid is refused, or NULL: the total, the slots
 * kept for root, the per-uid limit. Under ep->lock. The caller frees.
 */
static char *over_limit(struct endpoint *ep, uid_t uid)
{
	const struct endpoint_config *cfg = &ep->cfg;
	unsigned int max = cfg->max_connections, reserved = cfg->reserved_connections;
	unsigned int per_user = cfg->max_connections_per_user, mine = 0;
	struct conn *c;

	if (privileged(uid) || !reserved) {
		if (ep->nlive < max)
			return NULL;
		return xasprintf("too many connections: dbosd serves at most %u clients at once",
				 max);
	}
	if (ep->nlive >= max - reserved)
		return xasprintf("too many connections: dbosd serves at most %u clients at once, "
				 "%u of them only for root (dbosd --max-connections, "
				 "--reserved-connections)", max, reserved);
	if (per_user == ENDPOINT_OFF)
		return NULL;
	for (c = ep->conns; c; c = c->next)
		mine += !c->done && c->uid == uid;
	if (mine < per_user)
		return NULL;
	return xasprintf("too many connections: uid %u already has %u (dbosd "
			 "--max-connections-per-user)", (unsigned int)uid, mine);
}

/* Start a thread for the accepted @fd, or refuse it. Consumes @fd. */
static void admit(struct endpoint *ep, int fd)
{
	sigset_t all, old;
	struct conn *c;
	uid_t uid = (uid_t)-1;
	char *msg;
	int err;

	if (!peer_allowed(ep, fd, &uid)) {
		send_error_now(fd, ep->refusal);
		close(fd);
		return;
	}
	if (ep->cfg.send_timeout != ENDPOINT_OFF) {
		struct timeval tv = { .tv_sec = ep->cfg.send_timeout };

		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	pthread_mutex_lock(&ep->lock);
	msg = over_limit(ep, uid);
	if (msg) {
		pthread_mutex_unlock(&ep->lock);
		send_error_now(fd, msg);
		free(msg);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		pthread_mutex_unlock(&ep->lock);
		send_error_now(fd, "out of memory");
		close(fd);
		return;
	}
	c->ep = ep;
	c->fd = fd;
	c->uid = uid;
	dbos_buf_init_alloc(&c->in, &session_alloc);
	dbos_buf_init_alloc(&c->out, &session_alloc);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&c->thread, NULL, conn_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_mutex_unlock(&ep->lock);
		send_error_now(fd, "cannot start a thread for this connection");
		close(fd);
		free(c);
		return;
	}
	c->next = ep->conns;
	ep->conns = c;
	ep->nlive++;
	pthread_mutex_unlock(&ep->lock);
}

static void *acceptor_main(void *arg)
{
	struct endpoint *ep = arg;
	struct pollfd pfd[2] = {
		{ .fd = ep->lfd, .events = POLLIN },
		{ .fd = ep->wakefd, .events = POLLIN },
	};
	int fd;

	while (!atomic_load(&ep->stopping)) {
		if (poll(pfd, 2, -1) < 0)
			continue;	/* EINTR */
		if (atomic_load(&ep->stopping))
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		fd = accept4(ep->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			/* EMFILE and friends: do not spin on a full table */
			if (errno != EINTR && errno != EAGAIN &&
			    errno != ECONNABORTED)
				poll(NULL, 0, 100);
			continue;
		}
		reap(ep, false);
		admit(ep, fd);
	}
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Setting up the socket                                                  */

/* mkdir -p the directory holding @path, new directories 0755. */
static int make_parent_dirs(const char *path)
{
	char *dir = strdup(path), *p;
	int ret = 0;

	if (!dir)
		return -1;
	p = strrchr(dir, '/');
	if (!p || p == dir) {
		free(dir);
		return 0;
	}
	*p = 0;
	for (p = dir + 1; ; p++) {
		char c = *p;

		if (c != '/' && c)
			continue;
		*p = 0;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			ret = -1;
			break;
		}
		*p = c;
		if (!c)
			break;
	}
	free(dir);
	return ret;
}

/*
 * Make way for a new socket at @path: fine if nothing is there, a stale
 * socket (connection refused) is removed. Returns 0 or -1 with *err.
 */
static int clear_stale(const struct sockaddr_un *sa, char **err)
{
	const char *path = sa->sun_path;
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		*err = xasprintf("cannot use %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		*err = xasprintf("cannot use %s: it exists and is not a socket", path);
		errno = EEXIST;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = xasprintf("cannot create a socket: %s", strerror(errno));
		return -1;
	}
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (ret == 0) {
		*err = xasprintf("cannot use %s: another server is listening on it", path);
		errno = EADDRINUSE;
		return -1;
	}
	if (errno != ECONNREFUSED) {
		*err = xasprintf("cannot use %s: %s", path, strerror(errno));
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		*err = xasprintf("cannot remove the stale socket %s: %s", path,
				 strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Create the listening socket. It only starts accepting with listen(), after
 * its mode and owner are final, so no one connects through looser ones.
 */
static int open_listener(struct endpoint *ep, char **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	gid_t g = ep->cfg.group;
	struct stat st;
	int e;

	if (strlen(ep->path) >= sizeof(sa.sun_path)) {
		*err = xasprintf("cannot use %s: socket path too long (at most %zu bytes)",
				 ep->path, sizeof(sa.sun_path) - 1);
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, ep->path);
	if (make_parent_dirs(ep->path) < 0) {
		e = errno;
		*err = xasprintf("cannot create the directory of %s: %s", ep->path,
				 strerror(e));
		errno = e;
		return -1;
	}
	if (clear_stale(&sa, err) < 0)
		return -1;
	ep->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ep->lfd < 0) {
		e = errno;
		*err = xasprintf("cannot create a socket: %s", strerror(e));
		errno = e;
		return -1;
	}
	if (bind(ep->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		*err = xasprintf("cannot bind %s: %s", ep->path, strerror(e));
		errno = e;
		return -1;
	}
	if (chmod(ep->path, 0660) < 0) {
		e = errno;
		*err = xasprintf("cannot chmod %s: %s", ep->path, strerror(e));
		goto unlink;
	}
	/* root:group; an unprivileged server (tests) keeps its own uid. */
	if (geteuid() == 0) {
		if (chown(ep->path, 0, g == (gid_t)-1 ? 0 : g) < 0) {
			e = errno;
			*err = xasprintf("cannot chown %s: %s", ep->path, strerror(e));
			goto unlink;
		}
	} else if (g != (gid_t)-1 && chown(ep->path, (uid_t)-1, g) < 0) {
		e = errno;
		*err = xasprintf("cannot chown %s: %s", ep->path, strerror(e));
		goto unlink;
	}
	if (lstat(ep->path, &st) < 0) {
		e = errno;
		*err = xasprintf("cannot stat %s: %s", ep->path, strerror(e));
		goto unlink;
	}
	ep->sock_dev = st.st_dev;
	ep->sock_ino = st.st_ino;
	if (listen(ep->lfd, LISTEN_BACKLOG) < 0) {
		e = errno;
		*err = xasprintf("cannot listen on %s: %s", ep->path, strerror(e));
		goto unlink;
	}
	return 0;

unlink:
	unlink(ep->path);
	errno = e;
	return -1;
}

/* Unlink the socket file unless someone else has replaced it since. */
static void remove_socket(struct endpoint *ep)
{
	struct stat st;

	if (lstat(ep->path, &st) == 0 && st.st_dev == ep->sock_dev &&
	    st.st_ino == ep->sock_ino)
		unlink(ep->path);
}

static char *refusal_text(gid_t g)
{
	struct group grp, *res = NULL;
	char buf[4096];

	if (g == (gid_t)-1)
		return strdup("permission denied: dbosd accepts root only");
	if (getgrgid_r(g, &grp, buf, sizeof(buf), &res) == 0 && res)
		return xasprintf("permission denied: dbosd accepts root (or group %s) only",
				 res->gr_name);
	return xasprintf("permission denied: dbosd accepts root (or group %u) only",
			 (unsigned int)g);
}

static void free_endpoint(struct endpoint *ep)
{
	if (ep->lfd >= 0)
		close(ep->lfd);
	if (ep->wakefd >= 0)
		close(ep->wakefd);
	pthread_mutex_destroy(&ep->lock);
	free(ep->refusal);
	free(ep->path);
	free(ep);
}

/* Defaults for the limits left 0; 0 or -1 with *@err when they contradict each other. */
static int resolve_limits(struct endpoint_config *cfg, char **err)
{
	unsigned int max;

	if (cfg->max_connections == ENDPOINT_OFF) {
		*err = strdup("endpoint: the number of connections must be limited");
		return -1;
	}
	max = cfg->max_connections = limit_or(cfg->max_connections,
					      ENDPOINT_DEFAULT_MAX_CONNECTIONS);
	/* By default 4, or a quarter of a small maximum. */
	if (!cfg->reserved_connections)
		cfg->reserved_connections = max / 4 < ENDPOINT_DEFAULT_RESERVED ?
					    max / 4 : ENDPOINT_DEFAULT_RESERVED;
	else if (cfg->reserved_connections == ENDPOINT_OFF)
		cfg->reserved_connections = 0;
	else if (cfg->reserved_connections >= max) {
		*err = xasprintf("endpoint: %u connections reserved for root leave none of %u "
				 "for anyone else", cfg->reserved_connections, max);
		return -1;
	}
	cfg->max_connections_per_user = limit_or(cfg->max_connections_per_user,
						 ENDPOINT_DEFAULT_PER_USER);
	cfg->statement_timeout = limit_or(cfg->statement_timeout,
					  ENDPOINT_DEFAULT_STATEMENT_TIMEOUT);
	cfg->first_query_timeout = limit_or(cfg->first_query_timeout,
					    ENDPOINT_DEFAULT_FIRST_QUERY_TIMEOUT);
	cfg->send_timeout = limit_or(cfg->send_timeout, ENDPOINT_DEFAULT_SEND_TIMEOUT);
	return 0;
}

int endpoint_start(const struct endpoint_config *cfg, struct endpoint **out,
		   char **err)
{
	struct endpoint *ep;
	sigset_t all, old;
	int e;

	*out = NULL;
	*err = NULL;
	if (!cfg->open_db && !cfg->open_db_peer) {
		*err = strdup("endpoint: no open_db callback");
		errno = EINVAL;
		return -1;
	}
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		goto nomem;
	ep->lfd = -1;
	ep->wakefd = -1;
	pthread_mutex_init(&ep->lock, NULL);
	atomic_init(&ep->stopping, false);
	ep->cfg = *cfg;
	if (resolve_limits(&ep->cfg, err)) {
		free_endpoint(ep);
		errno = EINVAL;
		return -1;
	}
	ep->path = strdup(cfg->socket_path ? cfg->socket_path : DBOS_DEFAULT_SOCKET);
	ep->refusal = refusal_text(cfg->group);
	if (!ep->path || !ep->refusal) {
		free_endpoint(ep);
		goto nomem;
	}
	ep->cfg.socket_path = ep->path;
	ep->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ep->wakefd < 0) {
		e = errno;
		*err = xasprintf("cannot create an eventfd: %s", strerror(e));
		goto fail;
	}
	if (open_listener(ep, err) < 0) {
		e = errno;
		goto fail;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&ep->acceptor, NULL, acceptor_main, ep);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		*err = xasprintf("cannot start the endpoint thread: %s", strerror(e));
		remove_socket(ep);
		goto fail;
	}
	*out = ep;
	return 0;

fail:
	free_endpoint(ep);
	errno = e;
	return -1;
nomem:
	*err = strdup("out of memory");
	errno = ENOMEM;
	return -1;
}

void endpoint_stop(struct endpoint *ep)
{
	uint64_t one = 1;
	struct conn *c;

	if (!ep)
		return;
	atomic_store(&ep->stopping, true);
	(void)!write(ep->wakefd, &one, sizeof(one));
	pthread_join(ep->acceptor, NULL);
	close(ep->lfd);
	ep->lfd = -1;
	remove_socket(ep);

	/* Wake every connection thread: blocked reads and writes fail now. */
	pthread_mutex_lock(&ep->lock);
	for (c = ep->conns; c; c = c->next)
		if (!c->done)
			shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&ep->lock);
	reap(ep, true);
	free_endpoint(ep);
}
