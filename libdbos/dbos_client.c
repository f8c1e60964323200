// SPDX-License-Identifier: GPL-2.0
/* dbos_client.c - the client side of the dbosd protocol (see dbos_proto.h). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dbos_client.h"

/* How long dbos_connect() waits for the server's hello. */
#define HELLO_TIMEOUT_MS	30000

struct dbos_conn {
	int fd;			/* -1 once broken */
	int queried;		/* a query was sent on @fd */
	char *path;
	int64_t changes;	/* of the last successful query */
	struct dbos_buf in;	/* the frame being decoded */
	struct dbos_buf out;	/* the query frame being sent */
	const char **names;	/* column names of the current statement */
	int ncol;		/* of the current statement; -1: none yet */
	struct dbos_value *vals;
	int vals_cap;
	int names_cap;
};

static void set_err(char **errmsg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_err(char **errmsg, const char *fmt, ...)
{
	va_list ap;

	if (!errmsg)
		return;
	va_start(ap, fmt);
	if (vasprintf(errmsg, fmt, ap) < 0)
		*errmsg = NULL;
	va_end(ap);
}

/* Copy an 'E' payload into a malloc()ed C string. */
static void set_err_payload(char **errmsg, const struct dbos_buf *b)
{
	if (!errmsg)
		return;
	*errmsg = strndup((const char *)b->data, b->len);
}

static void conn_break(struct dbos_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static const char *resolve_path(const char *path)
{
	const char *env;

	if (path)
		return path;
	env = getenv(DBOS_SOCKET_ENV);
	if (env && *env)
		return env;
	return DBOS_DEFAULT_SOCKET;
}

/* Read and check the server's hello. Returns 0, or -1 with errno + errmsg. */
static int read_hello(struct dbos_conn *c, char **errmsg)
{
	const char *why;
	struct dbos_rd r;
	uint32_t version;
	uint8_t type;
	int ret;

	ret = dbos_read_frame(c->fd, HELLO_TIMEOUT_MS, HELLO_TIMEOUT_MS, &type,
			      &c->in, &why);
	if (ret < 0) {
		int e = errno;

		if (why)
			set_err(errmsg, "cannot connect to %s: %s%s", c->path,
				e == EPROTO ? "protocol error: " : "", why);
		else
			set_err(errmsg, "cannot connect to %s: %s", c->path,
				strerror(e));
		errno = e;
		return -1;
	}
	if (ret == 0) {
		set_err(errmsg, "cannot connect to %s: the server closed the connection",
			c->path);
		errno = ECONNRESET;
		return -1;
	}
	if (type == DBOS_F_ERROR) {
		set_err_payload(errmsg, &c->in);
		errno = ECONNREFUSED;
		return -1;
	}
	dbos_rd_init(&r, c->in.data, c->in.len);
	version = dbos_rd_u32(&r);
	if (type != DBOS_F_HELLO || r.err || r.left) {
		set_err(errmsg, "cannot connect to %s: protocol error: not a dbosd hello",
			c->path);
		errno = EPROTO;
		return -1;
	}
	if (version != DBOS_PROTO_VERSION) {
		set_err(errmsg, "cannot connect to %s: dbosd speaks protocol version %u, this client %u",
			c->path, version, DBOS_PROTO_VERSION);
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/* Connect @c->fd to @c->path and read the hello. 0, or -1 with errno and *@errmsg. */
static int conn_open(struct dbos_conn *c, char **errmsg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = c->path;
	int e;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		e = ENAMETOOLONG;
		set_err(errmsg, "cannot connect to %s: %s", path, strerror(e));
		goto fail;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		e = errno;
		set_err(errmsg, "cannot connect to %s: %s", path, strerror(e));
		goto fail;
	}
	while (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		e = errno;
		set_err(errmsg, "cannot connect to %s: %s", path, strerror(e));
		goto fail;
	}
	c->queried = 0;
	if (read_hello(c, errmsg)) {
		e = errno;
		goto fail;
	}
	return 0;

fail:
	conn_break(c);
	errno = e;
	return -1;
}

struct dbos_conn *dbos_connect(const char *path, char **errmsg)
{
	struct dbos_conn *c;

	if (errmsg)
		*errmsg = NULL;
	path = resolve_path(path);
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		set_err(errmsg, "cannot connect to %s: %s", path, strerror(ENOMEM));
		errno = ENOMEM;
		return NULL;
	}
	c->fd = -1;
	c->ncol = -1;
	dbos_buf_init(&c->in);
	dbos_buf_init(&c->out);
	if (conn_open(c, errmsg)) {
		int e = errno;

		dbos_close(c);
		errno = e;
		return NULL;
	}
	return c;
}

/*
 * Before the first query on a connection: if dbosd has closed it already
 * (it closes connections that send no query within its first-query
 * timeout; there is nothing else it can have said), connect again. Nothing
 * was sent, so nothing is lost. 0, or -1 with errno and *@errmsg.
 */
static int reopen_if_closed(struct dbos_conn *c, char **errmsg)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	if (c->queried || poll(&p, 1, 0) <= 0)
		return 0;
	conn_break(c);
	return conn_open(c, errmsg);
}

/* Make room for @n names and values. */
static int grow_cols(struct dbos_conn *c, int n)
{
	if (n > c->names_cap) {
		const char **p = realloc(c->names, n * sizeof(*p));

		if (!p)
			return -1;
		c->names = p;
		c->names_cap = n;
	}
	if (n > c->vals_cap) {
		struct dbos_value *v = realloc(c->vals, n * sizeof(*v));

		if (!v)
			return -1;
		c->vals = v;
		c->vals_cap = n;
	}
	return 0;
}

/*
 * Decode a 'C' payload into c->names / c->ncol. Returns 0, -1 on a malformed
 * payload, -2 out of memory. Names point into c->in and are terminated in
 * place once all of them have been parsed (a name's terminator overwrites the
 * next name's length, already read by then).
 */
static int decode_columns(struct dbos_conn *c)
{
	struct dbos_rd r;
	int ncol, i;

	dbos_rd_init(&r, c->in.data, c->in.len);
	ncol = dbos_rd_u16(&r);
	if (r.err)
		return -1;
	if (grow_cols(c, ncol ? ncol : 1))
		return -2;
	for (i = 0; i < ncol; i++) {
		uint16_t len = dbos_rd_u16(&r);
		const uint8_t *p = dbos_rd_bytes(&r, len);

		if (!p)
			return -1;
		c->names[i] = (const char *)p;
		/* stash the length in the value slot until all are parsed */
		c->vals[i].len = len;
	}
	if (r.left)
		return -1;
	for (i = 0; i < ncol; i++)
		((char *)c->names[i])[c->vals[i].len] = 0;
	c->ncol = ncol;
	return 0;
}

/* Decode an 'R' payload into c->vals. Returns 0 or -1 when malformed. */
static int decode_row(struct dbos_conn *c)
{
	struct dbos_rd r;
	int i;

	dbos_rd_init(&r, c->in.data, c->in.len);
	for (i = 0; i < c->ncol; i++)
		if (dbos_rd_value(&r, &c->vals[i]))
			return -1;
	if (r.left)
		return -1;
	/* Terminate in place: each terminator lands on an already-read byte. */
	for (i = 0; i < c->ncol; i++)
		if (c->vals[i].s)
			((char *)c->vals[i].s)[c->vals[i].len] = 0;
	return 0;
}

static int proto_fail(struct dbos_conn *c, char **errmsg, const char *what)
{
	set_err(errmsg, "protocol error: %s", what);
	conn_break(c);
	errno = EPROTO;
	return -1;
}

/*
 * Read frames until 'D' or 'E'. Returns 0 or -1 (errmsg set).
 */
static int read_result(struct dbos_conn *c, const struct dbos_callbacks *cb,
		       void *arg, char **errmsg)
{
	struct dbos_rd r;
	const char *why;
	uint8_t type;
	int ret;

	c->ncol = -1;
	for (;;) {
		ret = dbos_read_frame(c->fd, -1, -1, &type, &c->in, &why);
		if (ret < 0) {
			int e = errno;

			if (e == EPROTO)
				return proto_fail(c, errmsg, why);
			set_err(errmsg, "connection to dbosd lost: %s", strerror(e));
			conn_break(c);
			errno = e;
			return -1;
		}
		if (ret == 0) {
			set_err(errmsg, "connection to dbosd lost: the server closed the connection");
			conn_break(c);
			errno = ECONNRESET;
			return -1;
		}
		switch (type) {
		case DBOS_F_COLUMNS:
			ret = decode_columns(c);
			if (ret == -2) {
				set_err(errmsg, "out of memory");
				conn_break(c);
				errno = ENOMEM;
				return -1;
			}
			if (ret)
				return proto_fail(c, errmsg, "malformed columns frame");
			if (cb && cb->on_columns &&
			    cb->on_columns(arg, c->ncol, c->names))
				goto aborted;
			break;
		case DBOS_F_ROW:
			if (c->ncol < 0)
				return proto_fail(c, errmsg, "row frame before columns frame");
			if (decode_row(c))
				return proto_fail(c, errmsg, "malformed row frame");
			if (cb && cb->on_row && cb->on_row(arg, c->ncol, c->vals))
				goto aborted;
			break;
		case DBOS_F_NOTICE:
			if (cb && cb->on_notice) {
				dbos_buf_u8(&c->in, 0);	/* NUL-terminate (the frame is consumed) */
				if (c->in.err) {
					set_err(errmsg, "out of memory");
					conn_break(c);
					errno = ENOMEM;
					return -1;
				}
				cb->on_notice(arg, (const char *)c->in.data, c->in.len - 1);
			}
			break;
		case DBOS_F_DONE:
			dbos_rd_init(&r, c->in.data, c->in.len);
			c->changes = (int64_t)dbos_rd_u64(&r);
			if (r.err || r.left)
				return proto_fail(c, errmsg, "malformed done frame");
			return 0;
		case DBOS_F_ERROR:
			set_err_payload(errmsg, &c->in);
			/* the server hangs up after these */
			if (c->in.len >= 16 &&
			    !memcmp(c->in.data, "protocol error: ", 16))
				conn_break(c);
			errno = EIO;
			return -1;
		default:
			return proto_fail(c, errmsg, "unexpected frame type");
		}
	}

aborted:
	set_err(errmsg, "query aborted");
	conn_break(c);
	errno = ECANCELED;
	return -1;
}

int dbos_query(struct dbos_conn *conn, const char *sql,
	       const struct dbos_callbacks *cb, void *arg, char **errmsg)
{
	size_t n = strlen(sql);
	const char *why;
	uint8_t type;

	if (errmsg)
		*errmsg = NULL;
	if (conn->fd < 0) {
		set_err(errmsg, "not connected to dbosd (the connection was closed)");
		errno = ENOTCONN;
		return -1;
	}
	if (reopen_if_closed(conn, errmsg))
		return -1;
	dbos_buf_reset(&conn->out);
	if (dbos_frame_put(&conn->out, DBOS_F_QUERY, sql, n)) {
		set_err(errmsg, "query too long (%zu bytes; the limit is %u MiB)",
			n, DBOS_MAX_FRAME >> 20);
		errno = EMSGSIZE;
		return -1;
	}
	if (conn->out.err) {
		set_err(errmsg, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	if (dbos_send_all(conn->fd, conn->out.data, conn->out.len)) {
		int e = errno;

		/* The server may have said why before hanging up. */
		if (dbos_read_frame(conn->fd, 0, 1000, &type, &conn->in, &why) == 1 &&
		    type == DBOS_F_ERROR)
			set_err_payload(errmsg, &conn->in);
		else
			set_err(errmsg, "connection to dbosd lost: %s", strerror(e));
		conn_break(conn);
		errno = e;
		return -1;
	}
	conn->queried = 1;
	/* Do not keep the buffer of a large query around. */
	if (conn->out.cap > (1u << 20))
		dbos_buf_free(&conn->out);
	conn->changes = 0;
	return read_result(conn, cb, arg, errmsg);
}

int64_t dbos_changes(const struct dbos_conn *conn)
{
	return conn->changes;
}

int dbos_conn_broken(const struct dbos_conn *conn)
{
	return conn->fd < 0;
}

const char *dbos_conn_path(const struct dbos_conn *conn)
{
	return conn->path;
}

void dbos_close(struct dbos_conn *conn)
{
	if (!conn)
		return;
	conn_break(conn);
	dbos_buf_free(&conn->in);
	dbos_buf_free(&conn->out);
	free(conn->names);
	free(conn->vals);
	free(conn->path);
	free(conn);
}
