// SPDX-License-Identifier: GPL-2.0
/* endpoint.c - accept dbos clients on a Unix socket and run their SQL. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
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
#include <sys/random.h>
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

struct endpoint_conn {
	struct endpoint *ep;
	int fd;			/* closed by the reaper, after the join */
	uid_t uid;		/* the peer's, at connect time (TCP: once authenticated) */
	gid_t gid;
	bool tcp;		/* from a TCP listener: nobody until authenticated */
	pthread_t thread;
	bool done;		/* the thread has finished; under ep->lock */
	bool hup;		/* the client hung up during a statement */
	bool timed_out;		/* the statement ran out of time */
	sqlite3 *db;		/* the connection's, once open */
	int64_t started;	/* when the running statement started (ns) */
	int64_t blocked;	/* ns of it spent waiting for the client to read */
	struct dbos_buf in;	/* the request being read */
	struct dbos_buf out;	/* frames not yet sent */
	const struct endpoint_protocol *proto;	/* NULL: dbos's own (libdbos/dbos_proto.h) */
	void *proto_data;	/* the protocol's state (endpoint_conn_set_data) */
	uint32_t key_id;	/* identify it to endpoint_cancel(): fixed at admit */
	uint32_t key_secret;
	atomic_bool cancelled;	/* endpoint_cancel() asked: the statement stops */
	struct endpoint_conn *next;	/* in ep->conns; under ep->lock */
};

/* A listening socket and the protocol spoken on it. */
struct listener {
	char *path;		/* NULL: TCP (@proto->tcp_address) */
	const struct endpoint_protocol *proto;	/* NULL: dbos's own */
	int fd;
	dev_t sock_dev;		/* identity of the socket file we made */
	ino_t sock_ino;
};

#define MAX_LISTENERS	(1 + ENDPOINT_MAX_ALSO)

struct endpoint {
	struct endpoint_config cfg;
	struct listener ls[MAX_LISTENERS];
	int nls;
	char *refusal;		/* the "permission denied" text */
	int wakefd;		/* eventfd: endpoint_stop() wakes the acceptor */
	pthread_t acceptor;
	atomic_bool stopping;

	pthread_mutex_t lock;	/* protects conns and nlive */
	struct endpoint_conn *conns;	/* every thread not yet joined */
	unsigned int nlive;	/* connections whose thread is not done */
	uint32_t next_id;	/* key_id of the next connection; under lock */
};

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool privileged(uid_t uid);
static bool gid_in_list(gid_t g, const gid_t *list, size_t n);

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
static int flush(struct endpoint_conn *c)
{
	int ret = endpoint_conn_send(c, c->out.data, c->out.len);

	dbos_buf_reset(&c->out);
	if (c->out.cap > (1u << 20))
		dbos_buf_free(&c->out);	/* after one huge row */
	return ret;
}

/*
 * Queue an 'E' frame after the complete frames already buffered and send
 * everything. Returns 0 or -1 (client gone).
 */
static int finish_error(struct endpoint_conn *c, const char *msg)
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
static const char *nomem(const struct endpoint_conn *c)
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
static void drop_frame(struct endpoint_conn *c, size_t start)
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
static int put_columns(struct endpoint_conn *c, sqlite3_stmt *st, int ncol)
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
static bool fits(const struct endpoint_conn *c, size_t start, int n)
{
	size_t used = c->out.len - start - DBOS_FRAME_HDR;

	return (size_t)n <= DBOS_MAX_FRAME && used + 5 + (size_t)n <= DBOS_MAX_FRAME;
}

/*
 * Append an 'R' frame. Returns 0, -1 if the row does not fit in a frame,
 * -2 when out of memory; after a failure nothing of the row is buffered.
 */
static int put_row(struct endpoint_conn *c, sqlite3_stmt *st, int ncol)
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
static const char *errmsg(struct endpoint_conn *c, sqlite3 *db)
{
	static _Thread_local char timeout[96];

	if (c->timed_out) {
		snprintf(timeout, sizeof(timeout), "statement cancelled after %u s "
			 "(dbosd --statement-timeout)", c->ep->cfg.statement_timeout);
		return timeout;
	}
	if (atomic_load(&c->cancelled))
		return "statement cancelled at the client's request";
	return c->ep->cfg.errmsg ? c->ep->cfg.errmsg(db) : sqlite3_errmsg(db);
}

/*
 * Step @st to the end, streaming its rows. Returns 0 when it completed,
 * 1 when it failed (the 'E' frame has been sent), -1 when the client is gone
 * or the endpoint is stopping.
 */
static int run_statement(struct endpoint_conn *c, sqlite3 *db, sqlite3_stmt *st)
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
static int run_request(struct endpoint_conn *c, sqlite3 *db)
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
	struct endpoint_conn *c = arg;
	struct pollfd pfd = { .fd = c->fd, .events = 0 };
	unsigned int limit = c->ep->cfg.statement_timeout;

	if (atomic_load(&c->ep->stopping) || atomic_load(&c->cancelled))
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
	struct endpoint_conn *c = sink;

	if (c->proto)
		c->proto->notice(c, text);
	else
		dbos_frame_put(&c->out, DBOS_F_NOTICE, text, strlen(text));
}

static void serve(struct endpoint_conn *c)
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
	msg = endpoint_conn_wait_first(c);
	if (msg) {
		finish_error(c, msg);
		free(msg);
		goto out;
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
	struct endpoint_conn *c = arg;
	struct endpoint *ep = c->ep;

	if (c->proto)
		c->proto->serve(c);
	else
		serve(c);
	if (c->db) {
		sqlite3_close_v2(c->db);	/* the one endpoint_conn_open() made */
		c->db = NULL;
	}
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
/* What another protocol's serve() uses (endpoint.h)                      */

int endpoint_conn_fd(const struct endpoint_conn *c)
{
	return c->fd;
}

uid_t endpoint_conn_uid(const struct endpoint_conn *c)
{
	return c->uid;
}

bool endpoint_conn_is_tcp(const struct endpoint_conn *c)
{
	return c->tcp;
}

const struct endpoint_protocol *endpoint_conn_protocol(const struct endpoint_conn *c)
{
	return c->proto;
}

int endpoint_conn_authenticated(struct endpoint_conn *c, const char *user, char **err)
{
	struct endpoint *ep = c->ep;
	struct passwd pw, *res = NULL;
	char buf[4096];
	gid_t g = ep->cfg.group, groups[256];
	int n = 256, mine = 0;
	bool ok;
	struct endpoint_conn *o;

	*err = NULL;
	if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) || !res) {
		*err = xasprintf("no local user \"%s\"", user);
		return -1;
	}
	ok = privileged(res->pw_uid);
	if (!ok && g != (gid_t)-1)
		ok = res->pw_gid == g ||
		     (getgrouplist(res->pw_name, res->pw_gid, groups, &n) >= 0 &&
		      gid_in_list(g, groups, (size_t)n));
	if (!ok) {
		*err = strdup(ep->refusal);
		return -1;
	}
	pthread_mutex_lock(&ep->lock);
	if (!privileged(res->pw_uid) && ep->cfg.max_connections_per_user != ENDPOINT_OFF) {
		for (o = ep->conns; o; o = o->next)
			mine += o != c && !o->done && o->uid == res->pw_uid;
		if ((unsigned int)mine >= ep->cfg.max_connections_per_user) {
			pthread_mutex_unlock(&ep->lock);
			*err = xasprintf("too many connections: uid %u already has %d (dbosd "
					 "--max-connections-per-user)", (unsigned int)res->pw_uid, mine);
			return -1;
		}
	}
	c->uid = res->pw_uid;
	c->gid = res->pw_gid;
	pthread_mutex_unlock(&ep->lock);
	return 0;
}

void endpoint_conn_set_data(struct endpoint_conn *c, void *data)
{
	c->proto_data = data;
}

void *endpoint_conn_data(const struct endpoint_conn *c)
{
	return c->proto_data;
}

void endpoint_conn_key(const struct endpoint_conn *c, uint32_t *id, uint32_t *secret)
{
	*id = c->key_id;
	*secret = c->key_secret;
}

const struct endpoint_config *endpoint_conn_config(const struct endpoint_conn *c)
{
	return &c->ep->cfg;
}

bool endpoint_conn_stopping(const struct endpoint_conn *c)
{
	return atomic_load(&c->ep->stopping);
}

sqlite3 *endpoint_conn_open(struct endpoint_conn *c, char **err)
{
	struct ucred peer = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t len = sizeof(peer);
	sqlite3 *db;

	*err = NULL;
	/* On failure the peer stays nobody: it was admitted, it gets no privilege. */
	if (c->tcp)
		peer = (struct ucred){ .pid = 0, .uid = c->uid, .gid = c->gid };
	else
		getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &peer, &len);
	db = c->proto->open_db_peer(c->ep->cfg.arg, &peer, c, err);
	if (!db)
		return NULL;
	free(*err);	/* in case the callback set it anyway */
	*err = NULL;
	c->db = db;
	sqlite3_progress_handler(db, PROGRESS_OPS, progress, c);
	return db;
}

sqlite3 *endpoint_conn_take_db(struct endpoint_conn *c)
{
	sqlite3 *db = c->db;

	c->db = NULL;
	return db;
}

void endpoint_conn_statement_start(struct endpoint_conn *c)
{
	c->started = now_ns();
	c->blocked = 0;
	c->timed_out = false;
	atomic_store(&c->cancelled, false);
}

enum endpoint_stop_reason endpoint_conn_stop_reason(const struct endpoint_conn *c)
{
	if (c->hup)
		return ENDPOINT_STOP_HUP;
	if (atomic_load(&c->ep->stopping))
		return ENDPOINT_STOP_SHUTDOWN;
	if (c->timed_out)
		return ENDPOINT_STOP_TIMEOUT;
	if (atomic_load(&c->cancelled))
		return ENDPOINT_STOP_CANCEL;
	return ENDPOINT_STOP_NONE;
}

const char *endpoint_conn_errmsg(struct endpoint_conn *c, sqlite3 *db)
{
	if (atomic_load(&c->ep->stopping))
		return "dbosd is shutting down";
	return errmsg(c, db);
}

const char *endpoint_conn_nomem(const struct endpoint_conn *c)
{
	return nomem(c);
}

const struct dbos_allocator *endpoint_conn_allocator(void)
{
	return &session_alloc;
}

int endpoint_conn_send(struct endpoint_conn *c, const void *data, size_t n)
{
	const uint8_t *p = data;
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
	return ret;
}

int endpoint_conn_wait_writable(struct endpoint_conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
	unsigned int limit = c->ep->cfg.send_timeout;
	int64_t t0 = now_ns(), end = t0 + (int64_t)limit * 1000000000;
	int r;

	if (c->db && c->ep->cfg.park)
		c->ep->cfg.park(c->db);
	do {
		int64_t left = limit == ENDPOINT_OFF ? -1 : (end - now_ns()) / 1000000 + 1;

		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : left < 0 && limit != ENDPOINT_OFF ?
			 0 : (int)left);
	} while (r < 0 && errno == EINTR);
	c->blocked += now_ns() - t0;
	return r > 0 && !(pfd.revents & (POLLERR | POLLHUP)) ? 0 : -1;
}

char *endpoint_conn_wait_first(struct endpoint_conn *c)
{
	unsigned int limit = c->ep->cfg.first_query_timeout;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int64_t end = now_ns() + (int64_t)limit * 1000000000;
	char *msg;
	int r;

	if (limit == ENDPOINT_OFF)
		return NULL;
	do {
		int64_t left = (end - now_ns()) / 1000000 + 1;

		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : left < 0 ? 0 : (int)left);
	} while ((r < 0 && errno == EINTR) || (r == 0 && now_ns() < end));
	if (r != 0)
		return NULL;
	msg = xasprintf("closing: no query within %u s of connecting "
			"(dbosd --first-query-timeout)", limit);
	return msg ? msg : strdup("closing: no query (dbosd --first-query-timeout)");
}

int endpoint_cancel(struct endpoint_conn *from, uint32_t id, uint32_t secret)
{
	struct endpoint *ep = from->ep;
	struct endpoint_conn *c;
	int ret = -1;

	pthread_mutex_lock(&ep->lock);
	for (c = ep->conns; c; c = c->next) {
		if (c->done || c == from || c->key_id != id || c->key_secret != secret)
			continue;
		/*
		 * Knowing the key is not enough: the same user, or root. From an
		 * unauthenticated TCP connection (PostgreSQL's cancel needs no
		 * login), only a TCP connection's statement.
		 */
		if (from->tcp && from->uid == (uid_t)-1 ? c->tcp :
		    c->uid == from->uid || privileged(from->uid)) {
			atomic_store(&c->cancelled, true);
			ret = 0;
		}
		break;
	}
	pthread_mutex_unlock(&ep->lock);
	return ret;
}

/* A secret that other users cannot guess (for endpoint_cancel). */
static uint32_t random_u32(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint32_t)now_ns() ^ (uint32_t)getpid();
	return v;
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
	struct endpoint_conn **pp, *c;

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
	struct endpoint_conn *c;

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
static void admit(struct endpoint *ep, const struct listener *l, int fd)
{
	void (*refuse)(int fd, const char *msg) = l->proto ? l->proto->refuse : send_error_now;
	sigset_t all, old;
	struct endpoint_conn *c;
	uid_t uid = (uid_t)-1;
	char *msg;
	int err;

	if (!l->path) {
		/* TCP: nobody until the protocol authenticates it (endpoint_conn_authenticated) */
		uid = (uid_t)-1;
	} else if (!peer_allowed(ep, fd, &uid)) {
		refuse(fd, ep->refusal);
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
		refuse(fd, msg);
		free(msg);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		pthread_mutex_unlock(&ep->lock);
		refuse(fd, "out of memory");
		close(fd);
		return;
	}
	c->ep = ep;
	c->fd = fd;
	c->uid = uid;
	c->proto = l->proto;
	c->tcp = !l->path;
	c->gid = (gid_t)-1;
	c->key_id = ++ep->next_id;
	c->key_secret = random_u32();
	atomic_init(&c->cancelled, false);
	dbos_buf_init_alloc(&c->in, &session_alloc);
	dbos_buf_init_alloc(&c->out, &session_alloc);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&c->thread, NULL, conn_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_mutex_unlock(&ep->lock);
		refuse(fd, "cannot start a thread for this connection");
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
	struct pollfd pfd[MAX_LISTENERS + 1];
	int fd, i;

	for (i = 0; i < ep->nls; i++)
		pfd[i] = (struct pollfd){ .fd = ep->ls[i].fd, .events = POLLIN };
	pfd[i] = (struct pollfd){ .fd = ep->wakefd, .events = POLLIN };
	while (!atomic_load(&ep->stopping)) {
		if (poll(pfd, ep->nls + 1, -1) < 0)
			continue;	/* EINTR */
		if (atomic_load(&ep->stopping))
			break;
		for (i = 0; i < ep->nls; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			fd = accept4(ep->ls[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				/* EMFILE and friends: do not spin on a full table */
				if (errno != EINTR && errno != EAGAIN &&
				    errno != ECONNABORTED)
					poll(NULL, 0, 100);
				continue;
			}
			reap(ep, false);
			admit(ep, &ep->ls[i], fd);
		}
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
/* A TCP listener on @l->proto->tcp_address ("HOST:PORT", "[V6]:PORT", ":PORT" for all). */
static int open_tcp_listener(struct listener *l, char **err)
{
	const char *addr = l->proto->tcp_address, *colon = strrchr(addr, ':');
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char host[256];
	size_t hl;
	int one = 1, rc, e;

	if (!colon || !colon[1] || (size_t)(colon - addr) >= sizeof(host)) {
		*err = xasprintf("cannot listen on %s: not HOST:PORT", addr);
		errno = EINVAL;
		return -1;
	}
	hl = (size_t)(colon - addr);
	if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
		memcpy(host, addr + 1, hl - 2);
		host[hl - 2] = 0;
	} else {
		memcpy(host, addr, hl);
		host[hl] = 0;
	}
	rc = getaddrinfo(host[0] && strcmp(host, "*") ? host : NULL, colon + 1, &hints, &ai);
	if (rc) {
		*err = xasprintf("cannot listen on %s: %s", addr, gai_strerror(rc));
		errno = EINVAL;
		return -1;
	}
	l->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l->fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(l->fd, LISTEN_BACKLOG) < 0) {
		e = errno;
		*err = xasprintf("cannot listen on %s: %s", addr, strerror(e));
		freeaddrinfo(ai);
		errno = e;
		return -1;
	}
	freeaddrinfo(ai);
	return 0;
}

int endpoint_tcp_port(const struct endpoint *ep, const struct endpoint_protocol *proto)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	for (int i = 0; i < ep->nls; i++) {
		if (ep->ls[i].proto != proto || ep->ls[i].path)
			continue;
		if (getsockname(ep->ls[i].fd, (struct sockaddr *)&ss, &len) < 0)
			return -1;
		if (ss.ss_family == AF_INET)
			return ntohs(((struct sockaddr_in *)&ss)->sin_port);
		if (ss.ss_family == AF_INET6)
			return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return -1;
}

static int open_listener(struct endpoint *ep, struct listener *l, char **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	gid_t g = ep->cfg.group;
	struct stat st;
	int e;

	if (!l->path)
		return open_tcp_listener(l, err);
	if (strlen(l->path) >= sizeof(sa.sun_path)) {
		*err = xasprintf("cannot use %s: socket path too long (at most %zu bytes)",
				 l->path, sizeof(sa.sun_path) - 1);
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, l->path);
	if (make_parent_dirs(l->path) < 0) {
		e = errno;
		*err = xasprintf("cannot create the directory of %s: %s", l->path,
				 strerror(e));
		errno = e;
		return -1;
	}
	if (clear_stale(&sa, err) < 0)
		return -1;
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		e = errno;
		*err = xasprintf("cannot create a socket: %s", strerror(e));
		errno = e;
		return -1;
	}
	if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		*err = xasprintf("cannot bind %s: %s", l->path, strerror(e));
		errno = e;
		return -1;
	}
	if (chmod(l->path, 0660) < 0) {
		e = errno;
		*err = xasprintf("cannot chmod %s: %s", l->path, strerror(e));
		goto unlink;
	}
	/* root:group; an unprivileged server (tests) keeps its own uid. */
	if (geteuid() == 0) {
		if (chown(l->path, 0, g == (gid_t)-1 ? 0 : g) < 0) {
			e = errno;
			*err = xasprintf("cannot chown %s: %s", l->path, strerror(e));
			goto unlink;
		}
	} else if (g != (gid_t)-1 && chown(l->path, (uid_t)-1, g) < 0) {
		e = errno;
		*err = xasprintf("cannot chown %s: %s", l->path, strerror(e));
		goto unlink;
	}
	if (lstat(l->path, &st) < 0) {
		e = errno;
		*err = xasprintf("cannot stat %s: %s", l->path, strerror(e));
		goto unlink;
	}
	l->sock_dev = st.st_dev;
	l->sock_ino = st.st_ino;
	if (listen(l->fd, LISTEN_BACKLOG) < 0) {
		e = errno;
		*err = xasprintf("cannot listen on %s: %s", l->path, strerror(e));
		goto unlink;
	}
	return 0;

unlink:
	unlink(l->path);
	errno = e;
	return -1;
}

/* Unlink the socket file unless someone else has replaced it since. */
static void remove_socket(const struct listener *l)
{
	struct stat st;

	if (l->path && lstat(l->path, &st) == 0 && st.st_dev == l->sock_dev &&
	    st.st_ino == l->sock_ino)
		unlink(l->path);
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
	for (int i = 0; i < ep->nls; i++) {
		if (ep->ls[i].fd >= 0)
			close(ep->ls[i].fd);
		free(ep->ls[i].path);
	}
	if (ep->wakefd >= 0)
		close(ep->wakefd);
	pthread_mutex_destroy(&ep->lock);
	free(ep->refusal);
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
	ep->wakefd = -1;
	pthread_mutex_init(&ep->lock, NULL);
	atomic_init(&ep->stopping, false);
	ep->cfg = *cfg;
	if (resolve_limits(&ep->cfg, err)) {
		free_endpoint(ep);
		errno = EINVAL;
		return -1;
	}
	ep->ls[0] = (struct listener){ .fd = -1, .proto = NULL,
		.path = strdup(cfg->socket_path ? cfg->socket_path : DBOS_DEFAULT_SOCKET) };
	ep->nls = 1;
	for (int i = 0; i < ENDPOINT_MAX_ALSO; i++) {
		const struct endpoint_protocol *p = cfg->also[i];

		if (!p)
			continue;
		ep->ls[ep->nls++] = (struct listener){ .fd = -1, .proto = p,
			.path = p->tcp_address ? NULL : strdup(p->socket_path) };
		if (!p->tcp_address && !ep->ls[ep->nls - 1].path) {
			free_endpoint(ep);
			goto nomem;
		}
	}
	ep->refusal = refusal_text(cfg->group);
	if (!ep->ls[0].path || !ep->refusal) {
		free_endpoint(ep);
		goto nomem;
	}
	ep->cfg.socket_path = ep->ls[0].path;
	ep->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ep->wakefd < 0) {
		e = errno;
		*err = xasprintf("cannot create an eventfd: %s", strerror(e));
		goto fail;
	}
	for (int i = 0; i < ep->nls; i++) {
		if (open_listener(ep, &ep->ls[i], err) < 0) {
			e = errno;
			while (i--)
				remove_socket(&ep->ls[i]);
			goto fail;
		}
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&ep->acceptor, NULL, acceptor_main, ep);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		*err = xasprintf("cannot start the endpoint thread: %s", strerror(e));
		for (int i = 0; i < ep->nls; i++)
			remove_socket(&ep->ls[i]);
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
	struct endpoint_conn *c;

	if (!ep)
		return;
	atomic_store(&ep->stopping, true);
	(void)!write(ep->wakefd, &one, sizeof(one));
	pthread_join(ep->acceptor, NULL);
	for (int i = 0; i < ep->nls; i++) {
		close(ep->ls[i].fd);
		ep->ls[i].fd = -1;
		remove_socket(&ep->ls[i]);
	}

	/* Wake every connection thread: blocked reads and writes fail now. */
	pthread_mutex_lock(&ep->lock);
	for (c = ep->conns; c; c = c->next)
		if (!c->done)
			shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&ep->lock);
	reap(ep, true);
	free_endpoint(ep);
}
