// SPDX-License-Identifier: GPL-2.0
/* proto.c - PostgreSQL's protocol v3 on a dbos session: startup, simple and extended query, cursors, COPY TO STDOUT, cancel. */

/*
 * USAGE
 *
 *   psql -h /run/dbos -d dbos -c 'SELECT pid, name FROM processes LIMIT 3'
 *   PQexecParams(conn, "SELECT name FROM processes WHERE pid = $1", ...)
 *
 * HOW IT WORKS
 *
 *   One thread per connection (the endpoint's). The startup packet is read
 *   (an SSLRequest or GSSENCRequest is answered 'N': on a Unix socket there
 *   is nothing to encrypt; a CancelRequest cancels another connection's
 *   statement through endpoint_cancel()); the client is authenticated by
 *   its peer credentials before it gets here (AuthenticationOk follows),
 *   then gets the ParameterStatus set and its BackendKeyData.
 *
 *   Every statement text goes through pgsql_next() (pgsql.c), which splits
 *   PostgreSQL's text into statements, turns each into SQLite's dialect and
 *   says what it is: a query for SQLite, or one of the commands that act on
 *   the protocol's own state here: SET/SHOW/RESET (settings.c), BEGIN/
 *   COMMIT/ROLLBACK (SQLite's transaction, with PostgreSQL's "aborted
 *   transaction" state after an error), DECLARE/FETCH/MOVE/CLOSE (a cursor
 *   is a portal: a prepared SQLite statement stepped on demand), COPY ... TO
 *   STDOUT (rows as CopyData in text or CSV form), DEALLOCATE/DISCARD.
 *
 *   Extended protocol: Parse translates and keeps the statement (the
 *   unnamed one is replaced by the next Parse); Bind prepares it on SQLite
 *   and binds the parameters ($1 is SQLite's ?1 after pgsql.c); text
 *   parameters of an integer or float type, and binary ones of every
 *   common type, are bound as numbers; Describe of a portal steps it once
 *   so that the RowDescription has the types of real values; Execute
 *   steps up to its row limit (PortalSuspended, and the next Execute goes
 *   on). After an error, messages are skipped up to Sync, as PostgreSQL
 *   does.
 *
 *   Types: a column declared INTEGER is int8, TEXT text, REAL float8, BLOB
 *   bytea, BOOLEAN bool (the catalogues' flags); an expression takes the
 *   type of its first value (int8, float8, text, bytea; NULL: text).
 *   Results are in text form unless the client asks for binary (int8,
 *   float8, bool, text, bytea have binary forms; others stay text).
 *
 *   Errors carry SQLSTATEs mapped from SQLite's codes and messages (42P01
 *   no such table, 42703 no such column, 42601 syntax, 42501 not
 *   authorized, 57014 cancelled or timed out, 53200 out of memory, ...).
 *   Notices of the session (a time-travel moment in a lost window, say)
 *   become NoticeResponse messages.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "dbos_proto.h"
#include "dbserver/pgwire/auth.h"
#include "dbserver/pgwire/catalog.h"
#include "dbserver/pgwire/pgsql.h"
#include "dbserver/pgwire/pgwire.h"
#include "dbserver/pgwire/settings.h"

#define PG_PROTO_3		196608		/* 3.0 */
#define PG_SSL_REQUEST		80877103
#define PG_GSSENC_REQUEST	80877104
#define PG_CANCEL_REQUEST	80877102
#define MAX_STARTUP		10000
/* A message larger than this is refused (PostgreSQL's own limit is 1 GB). */
#define MAX_MESSAGE		(64u << 20)
/* Once a message has started, the rest of it must arrive within this time. */
#define MESSAGE_TIMEOUT_MS	30000
#define FLUSH_BYTES		(64u << 10)

#define OID_BOOL	16
#define OID_BYTEA	17
#define OID_INT8	20
#define OID_INT2	21
#define OID_INT4	23
#define OID_TEXT	25
#define OID_OID		26
#define OID_FLOAT4	700
#define OID_FLOAT8	701
#define OID_NUMERIC	1700

enum tx_state { TX_IDLE = 'I', TX_BLOCK = 'T', TX_FAILED = 'E' };

/* A prepared statement (Parse), shared by the portals bound from it. */
struct pgstmt {
	char *name;
	struct pgsql_stmt q;
	int nparams;
	uint32_t *ptypes;
	int refs;
	struct pgstmt *next;
};

/* A portal (Bind) or a cursor (DECLARE): a statement being stepped. */
struct portal {
	char *name;
	struct pgstmt *ps;	/* what it runs */
	sqlite3_stmt *st;	/* PGSQL_QUERY and cursors: the SQLite statement */
	int ncol;
	uint32_t *oids;		/* per column, once known */
	int16_t *fmts;		/* per column: 0 text, 1 binary */
	bool row_pending;	/* st is on a row not sent yet (Describe stepped it) */
	bool done;		/* st has returned SQLITE_DONE */
	bool ran;		/* a non-query command has been executed */
	bool cursor;		/* made by DECLARE */
	bool hold;		/* WITH HOLD: outlives its transaction */
	long long rows;		/* rows sent so far */
	struct portal *next;
};

struct pgconn {
	struct endpoint_conn *ec;
	int fd;
	struct pgwire_tcp *tcp;	/* a TCP connection: its TLS context and passwords */
	SSL *ssl;		/* once TLS is on */
	char *user;		/* the startup packet's (TCP: who logs in) */
	uint8_t *startup;	/* the startup packet's parameters */
	size_t startup_len;
	sqlite3 *db;
	struct pgsettings *set;
	struct dbos_buf out;	/* messages not yet sent */
	struct dbos_buf in;	/* the message being handled */
	uint8_t type;		/* its type */
	size_t rd;		/* read position in it */
	bool bad;		/* reading past its end */
	enum tx_state tx;
	bool skip_to_sync;	/* extended protocol, after an error */
	bool gone;		/* the client is gone: stop */
	struct pgstmt *stmts;
	struct portal *portals;
	struct portal *running;	/* the portal Execute runs: a COMMIT in it keeps it */
};

/* ---------------------------------------------------------------------- */
/* Output                                                                 */

static void put_u16(struct dbos_buf *b, uint16_t v)
{
	uint8_t x[2] = { v >> 8, v };

	dbos_buf_put(b, x, 2);
}

static void put_u32(struct dbos_buf *b, uint32_t v)
{
	uint8_t x[4] = { v >> 24, v >> 16, v >> 8, v };

	dbos_buf_put(b, x, 4);
}

static void put_str(struct dbos_buf *b, const char *s)
{
	dbos_buf_put(b, s, strlen(s) + 1);
}

/* Start a message of @type; msg_end() fills in its length. */
static size_t msg_begin(struct dbos_buf *b, char type)
{
	size_t start = b->len;

	dbos_buf_u8(b, (uint8_t)type);
	put_u32(b, 0);
	return start;
}

static void msg_end(struct dbos_buf *b, size_t start)
{
	uint32_t n;

	if (b->err)
		return;
	n = (uint32_t)(b->len - start - 1);
	b->data[start + 1] = n >> 24;
	b->data[start + 2] = n >> 16;
	b->data[start + 3] = n >> 8;
	b->data[start + 4] = n;
}

/* Send all of @n bytes, through TLS when it is on. 0, or -1: the client is gone. */
static int conn_send(struct pgconn *pc, const void *data, size_t n)
{
	const uint8_t *p = data;

	if (!pc->ssl)
		return endpoint_conn_send(pc->ec, data, n);
	while (n) {
		int w = SSL_write(pc->ssl, p, n > INT_MAX ? INT_MAX : (int)n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		switch (SSL_get_error(pc->ssl, w)) {
		case SSL_ERROR_WANT_WRITE:
			if (endpoint_conn_wait_writable(pc->ec))
				return -1;
			break;
		case SSL_ERROR_WANT_READ: {
			struct pollfd pfd = { .fd = pc->fd, .events = POLLIN };

			if (poll(&pfd, 1, MESSAGE_TIMEOUT_MS) <= 0)
				return -1;
			break;
		}
		default:
			return -1;
		}
	}
	return 0;
}

static int flush(struct pgconn *pc)
{
	int ret = 0;

	if (pc->out.err) {
		/* a message could not be built: say so instead of sending half */
		pc->out.err = 0;
		pc->out.len = 0;
		ret = -1;
	}
	if (pc->out.len && conn_send(pc, pc->out.data, pc->out.len))
		ret = -1;
	dbos_buf_reset(&pc->out);
	if (pc->out.cap > (1u << 20))
		dbos_buf_free(&pc->out);
	if (ret)
		pc->gone = true;
	return ret;
}

/* An ErrorResponse or NoticeResponse with severity @sev, SQLSTATE @code. */
static void put_report(struct dbos_buf *b, char type, const char *sev, const char *code,
		       const char *msg, const char *hint)
{
	size_t m = msg_begin(b, type);

	dbos_buf_u8(b, 'S');
	put_str(b, sev);
	dbos_buf_u8(b, 'V');
	put_str(b, sev);
	dbos_buf_u8(b, 'C');
	put_str(b, code);
	dbos_buf_u8(b, 'M');
	put_str(b, msg);
	if (hint) {
		dbos_buf_u8(b, 'H');
		put_str(b, hint);
	}
	dbos_buf_u8(b, 0);
	msg_end(b, m);
}

/* An error: the transaction block fails, the extended protocol skips to Sync. */
static void send_error(struct pgconn *pc, const char *code, const char *msg)
{
	pc->out.err = 0;
	put_report(&pc->out, 'E', "ERROR", code, msg, NULL);
	if (pc->out.err) {	/* no memory even for that: drop the rest */
		pc->out.err = 0;
		pc->out.len = 0;
		put_report(&pc->out, 'E', "ERROR", "53200", endpoint_conn_nomem(pc->ec), NULL);
	}
	if (pc->tx == TX_BLOCK)
		pc->tx = TX_FAILED;
	pc->skip_to_sync = true;
}

/* An error that ends the connection: sent now, the caller closes. */
static void fatal(struct pgconn *pc, const char *code, const char *msg)
{
	pc->out.err = 0;
	put_report(&pc->out, 'E', "FATAL", code, msg, NULL);
	flush(pc);
}

static void send_ready(struct pgconn *pc)
{
	size_t m = msg_begin(&pc->out, 'Z');

	dbos_buf_u8(&pc->out, (uint8_t)pc->tx);
	msg_end(&pc->out, m);
}

static void send_tag(struct pgconn *pc, const char *tag)
{
	size_t m = msg_begin(&pc->out, 'C');

	put_str(&pc->out, tag);
	msg_end(&pc->out, m);
}

static void send_empty(struct pgconn *pc, char type)
{
	size_t m = msg_begin(&pc->out, type);

	msg_end(&pc->out, m);
}

static void send_parameter(struct pgconn *pc, const char *name, const char *value)
{
	size_t m = msg_begin(&pc->out, 'S');

	put_str(&pc->out, name);
	put_str(&pc->out, value ? value : "");
	msg_end(&pc->out, m);
}

static void notice(struct endpoint_conn *ec, const char *text)
{
	struct pgconn *pc = endpoint_conn_data(ec);

	put_report(&pc->out, 'N', "NOTICE", "00000", text, NULL);
}

static void refuse(int fd, const char *msg)
{
	struct dbos_buf b;
	const char *code = strncmp(msg, "too many", 8) ? "28000" : "53300";

	dbos_buf_init(&b);
	put_report(&b, 'E', "FATAL", code, msg, NULL);
	if (!b.err)
		(void)!send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	dbos_buf_free(&b);
}

/* ---------------------------------------------------------------------- */
/* Input                                                                  */

/* Read @n bytes; @first_ms: how long to wait for the first one (-1: forever). */
static int read_full(struct pgconn *pc, void *p, size_t n, int first_ms)
{
	uint8_t *q = p;
	int wait = first_ms;

	while (n) {
		struct pollfd pfd = { .fd = pc->fd, .events = POLLIN };
		int r;
		ssize_t got;

		if (pc->ssl) {
			got = SSL_read(pc->ssl, q, n > INT_MAX ? INT_MAX : (int)n);
			if (got > 0) {
				q += got;
				n -= (size_t)got;
				wait = MESSAGE_TIMEOUT_MS;
				continue;
			}
			switch (SSL_get_error(pc->ssl, (int)got)) {
			case SSL_ERROR_WANT_READ:
				break;
			case SSL_ERROR_WANT_WRITE:
				pfd.events = POLLOUT;
				break;
			default:
				return -1;
			}
			r = poll(&pfd, 1, wait);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1;
			continue;
		}
		r = poll(&pfd, 1, wait);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;	/* timeout or error */
		got = recv(pc->fd, q, n, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		q += got;
		n -= (size_t)got;
		wait = MESSAGE_TIMEOUT_MS;
	}
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read @len bytes into pc->in (emptied first), NUL-terminated. 0 or -1. */
static int read_body(struct pgconn *pc, size_t len)
{
	uint8_t chunk[16384];

	dbos_buf_reset(&pc->in);
	while (len) {
		size_t n = len < sizeof(chunk) ? len : sizeof(chunk);

		if (read_full(pc, chunk, n, MESSAGE_TIMEOUT_MS))
			return -1;
		dbos_buf_put(&pc->in, chunk, n);
		if (pc->in.err)
			return -1;
		len -= n;
	}
	dbos_buf_put(&pc->in, "", 0);	/* the spare byte exists even when empty */
	if (pc->in.err)
		return -1;
	pc->in.data[pc->in.len] = 0;
	pc->rd = 0;
	pc->bad = false;
	return 0;
}

/*
 * Read one message (type + length + body) into pc->in; @types: the types
 * it may have (NULL: any). 0, or -1: close (a FATAL error sent when the
 * message is wrong). A wrong type ends the connection before its body is
 * read, in any state (skipping to Sync too), as PostgreSQL does.
 */
static int read_message(struct pgconn *pc, const char *types)
{
	uint8_t hdr[5];
	uint32_t len;

	if (read_full(pc, hdr, 1, -1))
		return -1;
	if (types && (!hdr[0] || !strchr(types, hdr[0]))) {
		char text[64];

		snprintf(text, sizeof(text), "invalid frontend message type %d", hdr[0]);
		fatal(pc, "08P01", text);
		return -1;
	}
	if (read_full(pc, hdr + 1, 4, MESSAGE_TIMEOUT_MS))
		return -1;
	len = be32(hdr + 1);
	if (len < 4 || len - 4 > MAX_MESSAGE) {
		fatal(pc, "08P01", len < 4 ? "invalid message length" :
		      "message too large (the limit is 64 MiB)");
		return -1;
	}
	pc->type = hdr[0];
	if (read_body(pc, len - 4)) {
		if (pc->in.err)
			fatal(pc, "53200", endpoint_conn_nomem(pc->ec));
		return -1;
	}
	return 0;
}

static const uint8_t *get_bytes(struct pgconn *pc, size_t n)
{
	const uint8_t *p;

	if (pc->bad || n > pc->in.len - pc->rd) {
		pc->bad = true;
		return NULL;
	}
	p = pc->in.data + pc->rd;
	pc->rd += n;
	return p;
}

static uint32_t get_u32(struct pgconn *pc)
{
	const uint8_t *p = get_bytes(pc, 4);

	return p ? be32(p) : 0;
}

static int16_t get_i16(struct pgconn *pc)
{
	const uint8_t *p = get_bytes(pc, 2);

	return p ? (int16_t)((uint16_t)p[0] << 8 | p[1]) : 0;
}

static uint8_t get_u8(struct pgconn *pc)
{
	const uint8_t *p = get_bytes(pc, 1);

	return p ? *p : 0;
}

/* A NUL-terminated string of the message; "" (and pc->bad) if there is none. */
static const char *get_str(struct pgconn *pc)
{
	const char *s = (const char *)pc->in.data + pc->rd;
	size_t left = pc->in.len - pc->rd;
	const char *nul;

	if (pc->bad || !(nul = memchr(s, 0, left))) {
		pc->bad = true;
		return "";
	}
	pc->rd += (size_t)(nul - s) + 1;
	return s;
}

/* ---------------------------------------------------------------------- */
/* Values                                                                 */

static uint32_t decl_oid(const char *decl)
{
	if (!decl)
		return 0;
	if (!strcasecmp(decl, "BOOLEAN") || !strcasecmp(decl, "BOOL"))
		return OID_BOOL;
	return pgcatalog_type_oid(decl);
}

/* The type of column @i of @st, on its current row when @on_row. */
static uint32_t column_oid(sqlite3_stmt *st, int i, bool on_row)
{
	uint32_t oid = decl_oid(sqlite3_column_decltype(st, i));

	if (oid)
		return oid;
	if (!on_row)
		return OID_TEXT;
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		return OID_INT8;
	case SQLITE_FLOAT:
		return OID_FLOAT8;
	case SQLITE_BLOB:
		return OID_BYTEA;
	default:
		return OID_TEXT;
	}
}

static int16_t type_len(uint32_t oid)
{
	switch (oid) {
	case OID_BOOL:
		return 1;
	case OID_INT8:
	case OID_FLOAT8:
		return 8;
	case OID_INT4:
	case OID_OID:
	case OID_FLOAT4:
		return 4;
	case OID_INT2:
		return 2;
	default:
		return -1;
	}
}

/* Does @oid have a binary form here? */
static bool binary_ok(uint32_t oid)
{
	return oid == OID_BOOL || oid == OID_INT8 || oid == OID_FLOAT8 || oid == OID_TEXT ||
	       oid == OID_BYTEA;
}

/* PostgreSQL's text of a float8: the shortest form that reads back the same. */
static int float_text(double v, char *buf, size_t n)
{
	if (isnan(v))
		return snprintf(buf, n, "NaN");
	if (isinf(v))
		return snprintf(buf, n, v > 0 ? "Infinity" : "-Infinity");
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return (int)strlen(buf);
}

/* Append column @i of @st's row as a DataRow field (length + bytes). */
static void put_value(struct dbos_buf *b, sqlite3_stmt *st, int i, uint32_t oid, int fmt)
{
	char num[64];
	const unsigned char *p;
	int n;

	if (sqlite3_column_type(st, i) == SQLITE_NULL) {
		put_u32(b, 0xffffffffu);
		return;
	}
	if (fmt == 1) {
		switch (oid) {
		case OID_INT8: {
			uint64_t v = (uint64_t)sqlite3_column_int64(st, i);

			put_u32(b, 8);
			put_u32(b, (uint32_t)(v >> 32));
			put_u32(b, (uint32_t)v);
			return;
		}
		case OID_FLOAT8: {
			double d = sqlite3_column_double(st, i);
			uint64_t v;

			memcpy(&v, &d, 8);
			put_u32(b, 8);
			put_u32(b, (uint32_t)(v >> 32));
			put_u32(b, (uint32_t)v);
			return;
		}
		case OID_BOOL:
			put_u32(b, 1);
			dbos_buf_u8(b, sqlite3_column_int64(st, i) != 0);
			return;
		case OID_BYTEA:
			p = sqlite3_column_blob(st, i);
			n = sqlite3_column_bytes(st, i);
			put_u32(b, (uint32_t)n);
			dbos_buf_put(b, p, (size_t)n);
			return;
		}
		/* text: the same bytes as the text form */
	}
	if (oid == OID_BOOL) {
		put_u32(b, 1);
		dbos_buf_u8(b, sqlite3_column_int64(st, i) ? 't' : 'f');
		return;
	}
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		n = snprintf(num, sizeof(num), "%lld", (long long)sqlite3_column_int64(st, i));
		put_u32(b, (uint32_t)n);
		dbos_buf_put(b, num, (size_t)n);
		return;
	case SQLITE_FLOAT:
		n = float_text(sqlite3_column_double(st, i), num, sizeof(num));
		put_u32(b, (uint32_t)n);
		dbos_buf_put(b, num, (size_t)n);
		return;
	case SQLITE_BLOB:
		if (oid != OID_TEXT) {	/* bytea's hex form */
			static const char hex[] = "0123456789abcdef";

			p = sqlite3_column_blob(st, i);
			n = sqlite3_column_bytes(st, i);
			put_u32(b, 2 + 2 * (uint32_t)n);
			dbos_buf_put(b, "\\x", 2);
			for (int k = 0; k < n; k++) {
				dbos_buf_u8(b, (uint8_t)hex[p[k] >> 4]);
				dbos_buf_u8(b, (uint8_t)hex[p[k] & 15]);
			}
			return;
		}
		/* fall through */
	default:
		p = sqlite3_column_text(st, i);
		n = sqlite3_column_bytes(st, i);
		put_u32(b, (uint32_t)n);
		dbos_buf_put(b, p ? p : (const unsigned char *)"", (size_t)n);
	}
}

/* ---------------------------------------------------------------------- */
/* SQLSTATEs                                                              */

/* The SQLSTATE of @db's error @rc with text @msg. */
static const char *sqlstate(struct pgconn *pc, int rc, const char *msg)
{
	static const struct { const char *text, *code; } by_text[] = {
		{ "no such table", "42P01" },
		{ "unrecognized configuration parameter", "42704" },
		{ "cannot be changed", "55P02" },
		{ "invalid input syntax", "22P02" },
		{ "does not exist", "42704" },
		{ "no such column", "42703" },
		{ "no such function", "42883" },
		{ "wrong number of arguments", "42883" },
		{ "syntax error", "42601" },
		{ "incomplete input", "42601" },
		{ "unrecognized token", "42601" },
		{ "already exists", "42P07" },
		{ "not authorized", "42501" },
		{ "permission denied", "42501" },
		{ "only root", "42501" },
		{ "cannot start a transaction within a transaction", "25001" },
		{ "no transaction is active", "25P01" },
		{ "ambiguous column name", "42702" },
		{ "datatype mismatch", "42804" },
		{ "too old", "22023" },
		{ "read-only", "25006" },
		{ "may not be modified", "42809" },
		{ "cannot modify", "42809" },
	};

	switch (endpoint_conn_stop_reason(pc->ec)) {
	case ENDPOINT_STOP_TIMEOUT:
	case ENDPOINT_STOP_CANCEL:
		return "57014";
	case ENDPOINT_STOP_SHUTDOWN:
		return "57P01";
	default:
		break;
	}
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return "53200";
	case SQLITE_CONSTRAINT:
		return "23000";
	case SQLITE_AUTH:
		return "42501";
	case SQLITE_INTERRUPT:
		return "57014";
	case SQLITE_TOOBIG:
		return "54000";
	case SQLITE_READONLY:
		return "25006";
	case SQLITE_MISMATCH:
		return "42804";
	case SQLITE_RANGE:
		return "08P01";
	}
	for (size_t i = 0; msg && i < sizeof(by_text) / sizeof(by_text[0]); i++)
		if (strstr(msg, by_text[i].text))
			return by_text[i].code;
	return "XX000";
}

/* Report @db's last error (rc @rc) to the client. */
static void send_db_error(struct pgconn *pc, int rc)
{
	const char *msg = endpoint_conn_errmsg(pc->ec, pc->db);

	if (endpoint_conn_stop_reason(pc->ec) == ENDPOINT_STOP_CANCEL)
		msg = "canceling statement due to user request";
	send_error(pc, sqlstate(pc, rc, msg), msg);
}

/* ---------------------------------------------------------------------- */
/* Statements and portals                                                 */

static void stmt_unref(struct pgstmt *ps)
{
	if (!ps || --ps->refs)
		return;
	free(ps->name);
	free(ps->ptypes);
	pgsql_stmt_free(&ps->q);
	free(ps);
}

static struct pgstmt **find_stmt(struct pgconn *pc, const char *name)
{
	struct pgstmt **pp;

	for (pp = &pc->stmts; *pp && strcmp((*pp)->name, name); pp = &(*pp)->next)
		;
	return pp;
}

static struct portal **find_portal(struct pgconn *pc, const char *name)
{
	struct portal **pp;

	for (pp = &pc->portals; *pp && strcmp((*pp)->name, name); pp = &(*pp)->next)
		;
	return pp;
}

static void portal_free(struct portal *po)
{
	sqlite3_finalize(po->st);
	stmt_unref(po->ps);
	free(po->oids);
	free(po->fmts);
	free(po->name);
	free(po);
}

static void drop_stmt(struct pgconn *pc, const char *name)
{
	struct pgstmt **pp = find_stmt(pc, name), *ps = *pp;

	if (ps) {
		*pp = ps->next;
		stmt_unref(ps);
	}
}

static void drop_portal(struct pgconn *pc, const char *name)
{
	struct portal **pp = find_portal(pc, name), *po = *pp;

	if (po) {
		*pp = po->next;
		portal_free(po);
	}
}

/*
 * At the end of a transaction: its portals and cursors go, WITH HOLD ones
 * stay, and so does the portal running the COMMIT or ROLLBACK (Execute):
 * it goes at Sync.
 */
static void end_of_transaction(struct pgconn *pc)
{
	struct portal **pp = &pc->portals, *po;

	while ((po = *pp)) {
		if (po->hold || po == pc->running) {
			pp = &po->next;
			continue;
		}
		*pp = po->next;
		portal_free(po);
	}
}

/* Prepare @sql on the session: the statement, or NULL with the error sent. */
static sqlite3_stmt *prepare(struct pgconn *pc, const char *sql)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	int rc;

	endpoint_conn_statement_start(pc->ec);
	rc = sqlite3_prepare_v2(pc->db, sql, -1, &st, &tail);
	if (rc != SQLITE_OK) {
		send_db_error(pc, rc);
		return NULL;
	}
	while (tail && (*tail == ' ' || *tail == ';' || *tail == '\n' || *tail == '\t' ||
			*tail == '\r'))
		tail++;
	if (tail && *tail) {
		sqlite3_finalize(st);
		send_error(pc, "42601", "cannot insert multiple commands into one statement");
		return NULL;
	}
	if (!st) {
		send_error(pc, "42601", "empty statement");
		return NULL;
	}
	return st;
}

/* The highest parameter of @st: pgsql.c turns $N into ?N, SQLite's parameter N. */
static int param_count(sqlite3_stmt *st)
{
	return sqlite3_bind_parameter_count(st);
}

/* Learn the portal's column types, stepping once. SQLITE_OK or an error code. */
static int portal_peek(struct pgconn *pc, struct portal *po)
{
	int rc = SQLITE_OK;

	if (po->oids || !po->st)
		return SQLITE_OK;
	po->ncol = sqlite3_column_count(po->st);
	if (!po->done && !po->row_pending) {
		endpoint_conn_statement_start(pc->ec);
		rc = sqlite3_step(po->st);
		if (rc == SQLITE_ROW)
			po->row_pending = true;
		else if (rc == SQLITE_DONE)
			po->done = true;
		else
			return rc;
	}
	po->oids = calloc((size_t)po->ncol + 1, sizeof(*po->oids));
	if (!po->fmts)
		po->fmts = calloc((size_t)po->ncol + 1, sizeof(*po->fmts));
	if (!po->oids || !po->fmts)
		return SQLITE_NOMEM;
	for (int i = 0; i < po->ncol; i++) {
		po->oids[i] = column_oid(po->st, i, po->row_pending);
		if (po->fmts[i] && !binary_ok(po->oids[i]))
			po->fmts[i] = 0;
	}
	return SQLITE_OK;
}

static void send_row_description(struct pgconn *pc, struct portal *po)
{
	size_t m;

	if (!po->st || !po->ncol) {
		send_empty(pc, 'n');	/* NoData */
		return;
	}
	m = msg_begin(&pc->out, 'T');
	put_u16(&pc->out, (uint16_t)po->ncol);
	for (int i = 0; i < po->ncol; i++) {
		const char *name = sqlite3_column_name(po->st, i);

		put_str(&pc->out, name ? name : "?column?");
		put_u32(&pc->out, 0);		/* table oid */
		put_u16(&pc->out, 0);		/* column number */
		put_u32(&pc->out, po->oids[i]);
		put_u16(&pc->out, (uint16_t)type_len(po->oids[i]));
		put_u32(&pc->out, 0xffffffffu);	/* typmod -1 */
		put_u16(&pc->out, (uint16_t)po->fmts[i]);
	}
	msg_end(&pc->out, m);
}

static void put_data_row(struct pgconn *pc, struct portal *po)
{
	size_t m = msg_begin(&pc->out, 'D');

	put_u16(&pc->out, (uint16_t)po->ncol);
	for (int i = 0; i < po->ncol; i++)
		put_value(&pc->out, po->st, i, po->oids[i], po->fmts[i]);
	msg_end(&pc->out, m);
}

/* One row of COPY's text or CSV form, as a CopyData message. */
static void put_copy_row(struct pgconn *pc, struct portal *po)
{
	const struct pgsql_stmt *q = &po->ps->q;
	char delim = q->copy_delim ? q->copy_delim : q->copy_csv ? ',' : '\t';
	size_t m = msg_begin(&pc->out, 'd');

	for (int i = 0; i < po->ncol; i++) {
		const unsigned char *t;
		int n;

		if (i)
			dbos_buf_u8(&pc->out, (uint8_t)delim);
		if (sqlite3_column_type(po->st, i) == SQLITE_NULL) {
			if (q->copy_null)
				dbos_buf_put(&pc->out, q->copy_null, strlen(q->copy_null));
			else if (!q->copy_csv)
				dbos_buf_put(&pc->out, "\\N", 2);
			continue;
		}
		t = sqlite3_column_text(po->st, i);
		n = sqlite3_column_bytes(po->st, i);
		if (q->copy_csv) {
			bool quote = n == 0 || memchr(t, delim, (size_t)n) || memchr(t, '"', (size_t)n) ||
				     memchr(t, '\n', (size_t)n) || memchr(t, '\r', (size_t)n);

			if (quote)
				dbos_buf_u8(&pc->out, '"');
			for (int k = 0; k < n; k++) {
				if (t[k] == '"')
					dbos_buf_u8(&pc->out, '"');
				dbos_buf_u8(&pc->out, t[k]);
			}
			if (quote)
				dbos_buf_u8(&pc->out, '"');
			continue;
		}
		for (int k = 0; k < n; k++) {
			const char *esc = NULL;

			switch (t[k]) {
			case '\\': esc = "\\\\"; break;
			case '\n': esc = "\\n"; break;
			case '\r': esc = "\\r"; break;
			case '\t': esc = "\\t"; break;
			}
			if (esc)
				dbos_buf_put(&pc->out, esc, 2);
			else if (t[k] == (unsigned char)delim)
				dbos_buf_put(&pc->out, "\\", 1), dbos_buf_u8(&pc->out, t[k]);
			else
				dbos_buf_u8(&pc->out, t[k]);
		}
	}
	dbos_buf_u8(&pc->out, '\n');
	msg_end(&pc->out, m);
}

enum row_sink { SINK_DATA, SINK_COPY, SINK_NONE };

/*
 * Send up to @max rows of @po (0: all) to @sink; *@n: how many. Returns 1
 * when it stopped at @max, 0 at the end, -1 after sending an error.
 */
static int portal_rows(struct pgconn *pc, struct portal *po, long long max,
		       enum row_sink sink, long long *n)
{
	int rc;

	*n = 0;
	if (!po->st)
		return 0;
	rc = portal_peek(pc, po);
	if (rc != SQLITE_OK) {
		po->done = true;
		send_db_error(pc, rc);
		return -1;
	}
	for (;;) {
		if (max && *n >= max)
			return 1;
		if (po->row_pending) {
			po->row_pending = false;
		} else if (po->done) {
			return 0;
		} else {
			rc = sqlite3_step(po->st);
			if (rc == SQLITE_DONE) {
				po->done = true;
				return 0;
			}
			if (rc != SQLITE_ROW) {
				po->done = true;
				send_db_error(pc, rc);
				return -1;
			}
		}
		if (sink == SINK_DATA)
			put_data_row(pc, po);
		else if (sink == SINK_COPY)
			put_copy_row(pc, po);
		(*n)++;
		po->rows++;
		if (pc->out.err) {
			pc->out.err = 0;
			pc->out.len = 0;
			po->done = true;
			send_error(pc, "53200", endpoint_conn_nomem(pc->ec));
			return -1;
		}
		if (pc->out.len >= FLUSH_BYTES && flush(pc))
			return -1;
	}
}

/* The CommandComplete tag of a query that sent @n rows. */
static void query_tag(struct pgconn *pc, const struct pgsql_stmt *q, int ncol, long long n)
{
	char tag[64];
	const char *verb = q->tag ? q->tag : ncol ? "SELECT" : NULL;
	long long changed = sqlite3_changes64(pc->db);

	if (!verb)
		snprintf(tag, sizeof(tag), "SELECT 0");
	else if (!strcmp(verb, "SELECT"))
		snprintf(tag, sizeof(tag), "SELECT %lld", n);
	else if (!strcmp(verb, "INSERT"))
		snprintf(tag, sizeof(tag), "INSERT 0 %lld", ncol ? n : changed);
	else if (!strcmp(verb, "UPDATE") || !strcmp(verb, "DELETE"))
		snprintf(tag, sizeof(tag), "%s %lld", verb, ncol ? n : changed);
	else
		snprintf(tag, sizeof(tag), "%s", verb);
	send_tag(pc, tag);
}

static struct portal *new_portal(const char *name, struct pgstmt *ps, sqlite3_stmt *st)
{
	struct portal *po = calloc(1, sizeof(*po));

	if (!po || !(po->name = strdup(name))) {
		free(po);
		sqlite3_finalize(st);
		return NULL;
	}
	po->ps = ps;
	ps->refs++;
	po->st = st;
	po->ncol = st ? sqlite3_column_count(st) : 0;
	return po;
}

/* ---------------------------------------------------------------------- */
/* The commands that act on the connection                               */

static int exec_sqlite(struct pgconn *pc, const char *sql)
{
	int rc;

	endpoint_conn_statement_start(pc->ec);
	rc = sqlite3_exec(pc->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		send_db_error(pc, rc);
	return rc == SQLITE_OK ? 0 : -1;
}

/* PostgreSQL's spelling of setting @name. */
static const char *setting_name(const char *name)
{
	const char *canon = pgsettings_name(name);

	return canon ? canon : name;
}

/* Settings reported at startup and whenever they change (GUC_REPORT). */
static void send_parameters(struct pgconn *pc)
{
	const char *name, *value, *doc;

	for (int i = 0; pgsettings_at(pc->set, i, &name, &value, &doc); i++)
		if (pgsettings_reported(name))
			send_parameter(pc, setting_name(name), value);
}

static void warning(struct pgconn *pc, const char *code, const char *msg)
{
	put_report(&pc->out, 'N', "WARNING", code, msg, NULL);
}

static int do_set(struct pgconn *pc, const struct pgsql_stmt *q, bool reset)
{
	const char *value = reset || q->is_default ? NULL : q->value, *code = "22023";
	char *err = NULL;

	if (!strcmp(q->name, "transaction")) {	/* SET TRANSACTION ...: one level here */
		send_tag(pc, "SET");
		return 0;
	}
	if (reset && !strcmp(q->name, "all")) {
		pgsettings_reset_all(pc->set);
	} else if (pgsettings_set(pc->set, q->name, value, &err, &code)) {
		send_error(pc, code ? code : "22023", err ? err : "invalid value");
		free(err);
		return -1;
	}
	if (!strcmp(q->name, "all"))
		send_parameters(pc);
	else if (pgsettings_reported(q->name))
		send_parameter(pc, setting_name(q->name), pgsettings_get(pc->set, q->name));
	send_tag(pc, reset ? "RESET" : "SET");
	return 0;
}

static int do_transaction(struct pgconn *pc, enum pgsql_kind kind)
{
	switch (kind) {
	case PGSQL_BEGIN:
		if (pc->tx != TX_IDLE) {
			warning(pc, "25001", "there is already a transaction in progress");
		} else {
			if (exec_sqlite(pc, "BEGIN"))
				return -1;
			pc->tx = TX_BLOCK;
		}
		send_tag(pc, "BEGIN");
		return 0;
	case PGSQL_COMMIT:
	case PGSQL_ROLLBACK:
		end_of_transaction(pc);
		if (pc->tx == TX_IDLE) {
			warning(pc, "25P01", "there is no transaction in progress");
		} else {
			bool commit = kind == PGSQL_COMMIT && pc->tx == TX_BLOCK;

			pc->tx = TX_IDLE;
			if (sqlite3_get_autocommit(pc->db) == 0 &&
			    exec_sqlite(pc, commit ? "COMMIT" : "ROLLBACK")) {
				if (commit)
					sqlite3_exec(pc->db, "ROLLBACK", NULL, NULL, NULL);
				pc->tx = TX_IDLE;
				return -1;
			}
			if (!commit && kind == PGSQL_COMMIT) {
				send_tag(pc, "ROLLBACK");
				return 0;
			}
		}
		send_tag(pc, kind == PGSQL_COMMIT ? "COMMIT" : "ROLLBACK");
		return 0;
	default:
		return 0;
	}
}

/* FETCH/MOVE on a cursor; @describe: send its RowDescription first (simple protocol). */
static int do_fetch(struct pgconn *pc, const struct pgsql_stmt *q, bool describe)
{
	struct portal *po = *find_portal(pc, q->name);
	char tag[64];
	long long n;
	int rc;

	if (!po || !po->cursor) {
		char msg[256];

		snprintf(msg, sizeof(msg), "cursor \"%s\" does not exist", q->name);
		send_error(pc, "34000", msg);
		return -1;
	}
	if (describe && !q->move) {
		rc = portal_peek(pc, po);
		if (rc != SQLITE_OK) {
			send_db_error(pc, rc);
			return -1;
		}
		send_row_description(pc, po);
	}
	if (portal_rows(pc, po, q->count < 0 ? 0 : q->count ? q->count : 1,
			q->move ? SINK_NONE : SINK_DATA, &n) < 0)
		return -1;
	snprintf(tag, sizeof(tag), "%s %lld", q->move ? "MOVE" : "FETCH", n);
	send_tag(pc, tag);
	return 0;
}

/*
 * After a statement: SQLite's own transaction state wins where SQL changed
 * it without BEGIN (SAVEPOINT opens a transaction, RELEASE of the outermost
 * ends it; an I/O or memory error rolls it back). An aborted block stays
 * aborted until COMMIT or ROLLBACK.
 */
static void sync_tx(struct pgconn *pc)
{
	bool open = pc->db && !sqlite3_get_autocommit(pc->db);

	if (pc->tx == TX_FAILED)
		return;
	if (open && pc->tx == TX_IDLE)
		pc->tx = TX_BLOCK;
	else if (!open && pc->tx == TX_BLOCK) {
		pc->tx = TX_IDLE;
		end_of_transaction(pc);
	}
}

/* DECLARE: @st (prepared and bound) becomes the cursor q->name. */
static int do_declare(struct pgconn *pc, struct pgstmt *ps, sqlite3_stmt **st)
{
	struct portal *po;

	if (pc->tx == TX_IDLE && !ps->q.hold) {
		send_error(pc, "25P01", "DECLARE CURSOR can only be used in transaction blocks");
		return -1;
	}
	if (*find_portal(pc, ps->q.name)) {
		char msg[256];

		snprintf(msg, sizeof(msg), "cursor \"%s\" already exists", ps->q.name);
		send_error(pc, "42P03", msg);
		return -1;
	}
	po = new_portal(ps->q.name, ps, *st);
	*st = NULL;
	if (!po) {
		send_error(pc, "53200", "out of memory");
		return -1;
	}
	po->cursor = true;
	po->hold = ps->q.hold;
	po->next = pc->portals;
	pc->portals = po;
	send_tag(pc, "DECLARE CURSOR");
	return 0;
}

static int do_close(struct pgconn *pc, const struct pgsql_stmt *q)
{
	if (!q->name) {		/* CLOSE ALL (pgsql.c); CLOSE "all" is a cursor named all */
		struct portal **pp = &pc->portals, *po;

		while ((po = *pp)) {
			if (!po->cursor) {
				pp = &po->next;
				continue;
			}
			*pp = po->next;
			portal_free(po);
		}
	} else {
		struct portal *po = *find_portal(pc, q->name);

		if (!po || !po->cursor) {
			char msg[256];

			snprintf(msg, sizeof(msg), "cursor \"%s\" does not exist", q->name);
			send_error(pc, "34000", msg);
			return -1;
		}
		drop_portal(pc, q->name);
	}
	send_tag(pc, "CLOSE CURSOR");
	return 0;
}

static int do_discard(struct pgconn *pc, const struct pgsql_stmt *q)
{
	const char *tag = q->tag ? q->tag : "DISCARD";

	if (!strncmp(tag, "DEALLOCATE", 10)) {
		if (!q->name) {
			while (pc->stmts)
				drop_stmt(pc, pc->stmts->name);
		} else if (*find_stmt(pc, q->name)) {
			drop_stmt(pc, q->name);
		} else {
			char msg[256];

			snprintf(msg, sizeof(msg), "prepared statement \"%s\" does not exist",
				 q->name);
			send_error(pc, "26000", msg);
			return -1;
		}
	}
	send_tag(pc, tag);
	return 0;
}

/* COPY ... TO STDOUT over the prepared (and bound) @st. */
static int do_copy(struct pgconn *pc, struct portal *po)
{
	long long n;
	char tag[64];
	size_t m;

	m = msg_begin(&pc->out, 'H');
	dbos_buf_u8(&pc->out, 0);
	put_u16(&pc->out, (uint16_t)po->ncol);
	for (int i = 0; i < po->ncol; i++)
		put_u16(&pc->out, 0);
	msg_end(&pc->out, m);
	if (po->ps->q.copy_header) {
		size_t d = msg_begin(&pc->out, 'd');

		for (int i = 0; i < po->ncol; i++) {
			if (i)
				dbos_buf_u8(&pc->out, po->ps->q.copy_delim ? (uint8_t)po->ps->q.copy_delim :
					    po->ps->q.copy_csv ? ',' : '\t');
			dbos_buf_put(&pc->out, sqlite3_column_name(po->st, i),
				     strlen(sqlite3_column_name(po->st, i)));
		}
		dbos_buf_u8(&pc->out, '\n');
		msg_end(&pc->out, d);
	}
	if (portal_rows(pc, po, 0, SINK_COPY, &n) < 0)
		return -1;	/* the error ends the copy */
	send_empty(pc, 'c');
	snprintf(tag, sizeof(tag), "COPY %lld", n);
	send_tag(pc, tag);
	return 0;
}

/*
 * Execute portal @po: up to @max rows (0: all). @describe: send the
 * RowDescription first (simple protocol). Returns 0 (done or suspended), -1
 * after an error.
 */
static int execute(struct pgconn *pc, struct portal *po, long long max, bool describe)
{
	struct pgsql_stmt *q = &po->ps->q;
	long long n;
	int ret, rc;

	if (pc->tx == TX_FAILED && q->kind != PGSQL_COMMIT && q->kind != PGSQL_ROLLBACK) {
		send_error(pc, "25P02", "current transaction is aborted, commands ignored until "
			   "end of transaction block");
		return -1;
	}
	endpoint_conn_statement_start(pc->ec);
	switch (q->kind) {
	case PGSQL_EMPTY:
		send_empty(pc, 'I');
		return 0;
	case PGSQL_QUERY:
		if (describe) {
			rc = portal_peek(pc, po);
			if (rc != SQLITE_OK) {
				po->done = true;
				send_db_error(pc, rc);
				return -1;
			}
			if (po->ncol)
				send_row_description(pc, po);
		}
		ret = portal_rows(pc, po, max, SINK_DATA, &n);
		if (ret < 0)
			return -1;
		if (ret > 0) {
			send_empty(pc, 's');	/* PortalSuspended */
			return 0;
		}
		query_tag(pc, q, po->ncol, po->rows);
		return 0;
	case PGSQL_COPY_OUT:
		return do_copy(pc, po);
	case PGSQL_SET:
		return do_set(pc, q, false);
	case PGSQL_RESET:
		return do_set(pc, q, true);
	case PGSQL_BEGIN:
	case PGSQL_COMMIT:
	case PGSQL_ROLLBACK:
		return do_transaction(pc, q->kind);
	case PGSQL_DECLARE:
		return do_declare(pc, po->ps, &po->st);
	case PGSQL_FETCH:
		return do_fetch(pc, q, describe);
	case PGSQL_CLOSE:
		return do_close(pc, q);
	case PGSQL_DISCARD:
		return do_discard(pc, q);
	default:
		send_error(pc, "0A000", "this statement is not supported by dbos");
		return -1;
	}
}

/*
 * Translate one statement of PostgreSQL text (pgsql_next) into a new
 * pgstmt; SHOW becomes a query of current_setting() or pg_settings. NULL
 * with the error sent.
 */
static struct pgstmt *parse_stmt(struct pgconn *pc, const char *text, size_t *used)
{
	struct pgstmt *ps = calloc(1, sizeof(*ps));
	const char *state = "42601";
	char *err = NULL;

	if (!ps) {
		send_error(pc, "53200", "out of memory");
		return NULL;
	}
	ps->refs = 1;
	if (pgsql_next(text, &ps->q, &err, &state)) {
		send_error(pc, state ? state : "42601", err ? err : "cannot parse the statement");
		free(err);
		free(ps);
		return NULL;
	}
	*used = ps->q.consumed;
	if (ps->q.kind == PGSQL_UNSUPPORTED) {
		send_error(pc, ps->q.sqlstate ? ps->q.sqlstate : "0A000",
			   ps->q.error ? ps->q.error : "this statement is not supported by dbos");
		stmt_unref(ps);
		return NULL;
	}
	if (ps->q.kind == PGSQL_SHOW) {
		char *sql;

		if (!strcmp(ps->q.name, "all"))
			sql = sqlite3_mprintf("SELECT name, setting, short_desc AS description "
					      "FROM pg_catalog.pg_settings ORDER BY name");
		else
			sql = sqlite3_mprintf("SELECT current_setting(%Q) AS \"%w\"", ps->q.name,
					      setting_name(ps->q.name));
		free(ps->q.sql);
		ps->q.sql = sql ? strdup(sql) : NULL;
		sqlite3_free(sql);
		ps->q.kind = PGSQL_QUERY;
		ps->q.tag = "SHOW";
		if (!ps->q.sql) {
			send_error(pc, "53200", "out of memory");
			stmt_unref(ps);
			return NULL;
		}
	}
	return ps;
}

/* Does this kind run a SQLite statement of its own? */
static bool has_sql(enum pgsql_kind kind)
{
	return kind == PGSQL_QUERY || kind == PGSQL_DECLARE || kind == PGSQL_COPY_OUT;
}

/* ---------------------------------------------------------------------- */
/* Simple query                                                           */

static void simple_query(struct pgconn *pc)
{
	const char *text = get_str(pc);
	bool any = false;

	if (pc->bad) {
		send_error(pc, "08P01", "malformed Query message");
		goto ready;
	}
	for (;;) {
		struct pgstmt *ps;
		struct portal *po;
		sqlite3_stmt *st = NULL;
		size_t used = 0;
		int ret;

		ps = parse_stmt(pc, text, &used);
		if (!ps)
			break;
		if (ps->q.kind == PGSQL_EMPTY) {
			stmt_unref(ps);
			if (!used)
				break;
			text += used;
			continue;
		}
		any = true;
		text += used;
		if (has_sql(ps->q.kind) && pc->tx != TX_FAILED) {
			st = prepare(pc, ps->q.sql);
			if (!st) {
				stmt_unref(ps);
				break;
			}
		}
		po = new_portal("", ps, st);
		stmt_unref(ps);
		if (!po) {
			send_error(pc, "53200", "out of memory");
			break;
		}
		ret = execute(pc, po, 0, true);
		portal_free(po);
		sync_tx(pc);
		if (ret || pc->gone)
			break;
		if (!used)
			break;
	}
	if (!any && !pc->skip_to_sync)
		send_empty(pc, 'I');
ready:
	pc->skip_to_sync = false;
	send_ready(pc);
	flush(pc);
}

/* ---------------------------------------------------------------------- */
/* Extended query                                                         */

static void msg_parse(struct pgconn *pc)
{
	const char *name = get_str(pc), *text = get_str(pc);
	int n = get_i16(pc);
	struct pgstmt *ps, *more;
	size_t used = 0, more_used = 0;

	if (pc->bad || n < 0) {
		send_error(pc, "08P01", "malformed Parse message");
		return;
	}
	ps = parse_stmt(pc, text, &used);
	if (!ps)
		return;
	if (used && text[used]) {
		more = parse_stmt(pc, text + used, &more_used);
		if (!more)
			goto fail;
		if (more->q.kind != PGSQL_EMPTY || more_used) {
			stmt_unref(more);
			send_error(pc, "42601", "cannot insert multiple commands into a prepared "
				   "statement");
			goto fail;
		}
		stmt_unref(more);
	}
	ps->nparams = n;
	ps->ptypes = calloc((size_t)n + 1, sizeof(*ps->ptypes));
	ps->name = strdup(name);
	if (!ps->ptypes || !ps->name) {
		send_error(pc, "53200", "out of memory");
		goto fail;
	}
	for (int i = 0; i < n; i++)
		ps->ptypes[i] = get_u32(pc);
	if (pc->bad) {
		send_error(pc, "08P01", "malformed Parse message");
		goto fail;
	}
	/* Errors in the text are reported now, as PostgreSQL does. */
	if (has_sql(ps->q.kind) && pc->tx != TX_FAILED) {
		sqlite3_stmt *st = prepare(pc, ps->q.sql);
		int np;

		if (!st)
			goto fail;
		np = param_count(st);
		sqlite3_finalize(st);
		if (np > ps->nparams) {
			uint32_t *t = realloc(ps->ptypes, ((size_t)np + 1) * sizeof(*t));

			if (!t) {
				send_error(pc, "53200", "out of memory");
				goto fail;
			}
			memset(t + ps->nparams, 0, (size_t)(np - ps->nparams) * sizeof(*t));
			ps->ptypes = t;
			ps->nparams = np;
		}
	}
	if (name[0] && *find_stmt(pc, name)) {
		char msg[256];

		snprintf(msg, sizeof(msg), "prepared statement \"%s\" already exists", name);
		send_error(pc, "42P05", msg);
		goto fail;
	}
	drop_stmt(pc, name);	/* the unnamed one is replaced */
	ps->next = pc->stmts;
	pc->stmts = ps;
	send_empty(pc, '1');	/* ParseComplete */
	return;
fail:
	stmt_unref(ps);
}

static bool parse_int(const char *s, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	while (*end == ' ')
		end++;
	return !errno && end != s && !*end;
}

/* Bind parameter @i (1-based) of @st from its wire form. 0, or -1 (error sent). */
static int bind_param(struct pgconn *pc, sqlite3_stmt *st, int i, uint32_t oid, int fmt,
		      const uint8_t *p, int32_t len)
{
	int idx = i, rc = SQLITE_OK;
	long long v;

	if (idx > sqlite3_bind_parameter_count(st))
		return 0;	/* a parameter the text does not use */
	if (len < 0) {
		rc = sqlite3_bind_null(st, idx);
	} else if (fmt == 1) {
		uint64_t u = 0;

		switch (oid) {
		case OID_INT2:
		case OID_INT4:
		case OID_INT8:
		case OID_OID:
			if (len != 2 && len != 4 && len != 8)
				goto bad_binary;
			for (int k = 0; k < len; k++)
				u = u << 8 | p[k];
			v = len == 2 ? (int16_t)u : len == 4 && oid != OID_OID ? (int32_t)u :
			    (long long)u;
			rc = sqlite3_bind_int64(st, idx, v);
			break;
		case OID_FLOAT4:
		case OID_FLOAT8: {
			double d;
			float f;

			if (len != 4 && len != 8)
				goto bad_binary;
			for (int k = 0; k < len; k++)
				u = u << 8 | p[k];
			if (len == 4) {
				uint32_t w = (uint32_t)u;

				memcpy(&f, &w, 4);
				d = f;
			} else {
				memcpy(&d, &u, 8);
			}
			rc = sqlite3_bind_double(st, idx, d);
			break;
		}
		case OID_BOOL:
			if (len != 1)
				goto bad_binary;
			rc = sqlite3_bind_int(st, idx, p[0] != 0);
			break;
		case OID_BYTEA:
		case 0:
			rc = sqlite3_bind_blob(st, idx, p, len, SQLITE_TRANSIENT);
			break;
		default:	/* text, varchar, name, ...: the bytes are the text */
			if (memchr(p, 0, (size_t)len))
				goto nul;
			rc = sqlite3_bind_text(st, idx, (const char *)p, len, SQLITE_TRANSIENT);
		}
	} else {
		char *t;

		if (memchr(p, 0, (size_t)len))
			goto nul;	/* strndup() would stop there */
		t = strndup((const char *)p, (size_t)len);

		if (!t) {
			send_error(pc, "53200", "out of memory");
			return -1;
		}
		switch (oid) {
		case OID_INT2:
		case OID_INT4:
		case OID_INT8:
		case OID_OID:
			if (!parse_int(t, &v)) {
				char msg[160];

				snprintf(msg, sizeof(msg), "invalid input syntax for type bigint: "
					 "\"%.100s\"", t);
				free(t);
				send_error(pc, "22P02", msg);
				return -1;
			}
			rc = sqlite3_bind_int64(st, idx, v);
			break;
		case OID_FLOAT4:
		case OID_FLOAT8:
		case OID_NUMERIC:
			rc = sqlite3_bind_double(st, idx, strtod(t, NULL));
			break;
		case OID_BOOL:
			rc = sqlite3_bind_int(st, idx, t[0] == 't' || t[0] == 'T' || t[0] == '1' ||
					      t[0] == 'y' || t[0] == 'Y' ||
					      !strcasecmp(t, "on"));
			break;
		default:
			rc = sqlite3_bind_text(st, idx, t, len, SQLITE_TRANSIENT);
		}
		free(t);
	}
	if (rc != SQLITE_OK) {
		send_db_error(pc, rc);
		return -1;
	}
	return 0;

bad_binary:
	send_error(pc, "22P03", "incorrect binary data format in a bind parameter");
	return -1;
nul:	/* no text has a NUL, as in PostgreSQL */
	send_error(pc, "22021", "invalid byte sequence for encoding \"UTF8\": 0x00");
	return -1;
}

/* Format code @i of the array at @p: 0 text or 1 binary; -1 (error sent) for others. */
static int format_code(struct pgconn *pc, const uint8_t *p, int i)
{
	int16_t f = (int16_t)((uint16_t)p[2 * i] << 8 | p[2 * i + 1]);
	char msg[64];

	if (f == 0 || f == 1)
		return f;
	snprintf(msg, sizeof(msg), "unsupported format code: %d", f);
	send_error(pc, "22023", msg);
	return -1;
}

static void msg_bind(struct pgconn *pc)
{
	const char *pname = get_str(pc), *sname = get_str(pc);
	struct pgstmt *ps = *find_stmt(pc, sname);
	int nfmt = get_i16(pc), nval, nres;
	const uint8_t *fmtp = get_bytes(pc, nfmt > 0 ? (size_t)nfmt * 2 : 0);
	sqlite3_stmt *st = NULL;
	struct portal *po;

	if (pc->bad || nfmt < 0) {
		send_error(pc, "08P01", "malformed Bind message");
		return;
	}
	for (int i = 0; i < nfmt; i++)
		if (format_code(pc, fmtp, i) < 0)
			return;
	if (!ps) {
		char msg[256];

		snprintf(msg, sizeof(msg), "prepared statement \"%s\" does not exist", sname);
		send_error(pc, "26000", msg);
		return;
	}
	if (pname[0] && *find_portal(pc, pname)) {
		char msg[256];

		snprintf(msg, sizeof(msg), "portal \"%s\" already exists", pname);
		send_error(pc, "42P03", msg);
		return;
	}
	if (has_sql(ps->q.kind) && pc->tx != TX_FAILED) {
		st = prepare(pc, ps->q.sql);
		if (!st)
			return;
	}
	nval = get_i16(pc);
	if (nval < 0 || (nfmt > 1 && nfmt != nval)) {
		send_error(pc, "08P01", "malformed Bind message");
		goto fail;
	}
	for (int i = 0; i < nval; i++) {
		int32_t len = (int32_t)get_u32(pc);
		const uint8_t *p = len > 0 ? get_bytes(pc, (size_t)len) : NULL;
		int fmt = nfmt == 0 ? 0 : nfmt == 1 ? fmtp[1] : fmtp[2 * i + 1];
		uint32_t oid = i < ps->nparams ? ps->ptypes[i] : 0;

		if (pc->bad || len < -1) {	/* -1 is NULL; other negatives are not lengths */
			send_error(pc, "08P01", "malformed Bind message");
			goto fail;
		}
		if (st && bind_param(pc, st, i + 1, oid, fmt, p ? p : (const uint8_t *)"", len))
			goto fail;
	}
	if (st && param_count(st) > nval) {
		char msg[160];

		snprintf(msg, sizeof(msg), "bind message supplies %d parameters, but prepared "
			 "statement \"%s\" requires %d", nval, sname, param_count(st));
		send_error(pc, "08P01", msg);
		goto fail;
	}
	nres = get_i16(pc);
	fmtp = get_bytes(pc, nres > 0 ? (size_t)nres * 2 : 0);
	if (pc->bad || nres < 0) {
		send_error(pc, "08P01", "malformed Bind message");
		goto fail;
	}
	for (int i = 0; i < nres; i++)
		if (format_code(pc, fmtp, i) < 0)
			goto fail;
	if (st && nres > 1 && nres != sqlite3_column_count(st)) {
		char msg[128];

		snprintf(msg, sizeof(msg), "bind message has %d result formats but query has %d "
			 "columns", nres, sqlite3_column_count(st));
		send_error(pc, "08P01", msg);
		goto fail;
	}
	po = new_portal(pname, ps, st);
	st = NULL;
	if (!po) {
		send_error(pc, "53200", "out of memory");
		return;
	}
	po->fmts = calloc((size_t)po->ncol + 1, sizeof(*po->fmts));
	if (!po->fmts) {
		portal_free(po);
		send_error(pc, "53200", "out of memory");
		return;
	}
	for (int i = 0; i < nres; i++) {
		int16_t f = fmtp[2 * i + 1];

		if (nres == 1)
			for (int k = 0; k < po->ncol; k++)
				po->fmts[k] = f;
		else if (i < po->ncol)
			po->fmts[i] = f;
	}
	drop_portal(pc, pname);
	po->next = pc->portals;
	pc->portals = po;
	send_empty(pc, '2');	/* BindComplete */
	return;
fail:
	sqlite3_finalize(st);
}

/* The RowDescription of cursor @po (stepping it once for its types). */
static void describe_cursor(struct pgconn *pc, struct portal *po)
{
	int rc = portal_peek(pc, po);

	if (rc != SQLITE_OK)
		send_db_error(pc, rc);
	else
		send_row_description(pc, po);
}

static void msg_describe(struct pgconn *pc)
{
	char what = (char)get_u8(pc);
	const char *name = get_str(pc);
	int rc;

	if (pc->bad || (what != 'S' && what != 'P')) {
		send_error(pc, "08P01", "malformed Describe message");
		return;
	}
	if (what == 'S') {
		struct pgstmt *ps = *find_stmt(pc, name);
		struct portal tmp = { 0 };
		size_t m;

		if (!ps) {
			char msg[256];

			snprintf(msg, sizeof(msg), "prepared statement \"%s\" does not exist", name);
			send_error(pc, "26000", msg);
			return;
		}
		m = msg_begin(&pc->out, 't');	/* ParameterDescription */
		put_u16(&pc->out, (uint16_t)ps->nparams);
		for (int i = 0; i < ps->nparams; i++)
			put_u32(&pc->out, ps->ptypes[i] ? ps->ptypes[i] : OID_TEXT);
		msg_end(&pc->out, m);
		if (ps->q.kind != PGSQL_QUERY) {
			send_empty(pc, 'n');
			return;
		}
		tmp.st = prepare(pc, ps->q.sql);
		if (!tmp.st)
			return;
		tmp.ncol = sqlite3_column_count(tmp.st);
		tmp.oids = calloc((size_t)tmp.ncol + 1, sizeof(*tmp.oids));
		tmp.fmts = calloc((size_t)tmp.ncol + 1, sizeof(*tmp.fmts));
		if (tmp.oids && tmp.fmts) {
			for (int i = 0; i < tmp.ncol; i++)
				tmp.oids[i] = column_oid(tmp.st, i, false);
			send_row_description(pc, &tmp);
		} else {
			send_error(pc, "53200", "out of memory");
		}
		sqlite3_finalize(tmp.st);
		free(tmp.oids);
		free(tmp.fmts);
		return;
	}
	struct portal *po = *find_portal(pc, name);

	if (!po) {
		char msg[256];

		snprintf(msg, sizeof(msg), "portal \"%s\" does not exist", name);
		send_error(pc, "34000", msg);
		return;
	}
	if (po->cursor) {	/* a cursor (DECLARE) is a portal: its rows' description */
		describe_cursor(pc, po);
		return;
	}
	if (po->ps->q.kind == PGSQL_FETCH && !po->ps->q.move) {
		struct portal *cur = *find_portal(pc, po->ps->q.name);

		if (cur && cur->cursor) {
			describe_cursor(pc, cur);
			return;
		}
	}
	if (po->ps->q.kind != PGSQL_QUERY) {
		send_empty(pc, 'n');
		return;
	}
	rc = portal_peek(pc, po);
	if (rc != SQLITE_OK) {
		po->done = true;
		send_db_error(pc, rc);
		return;
	}
	send_row_description(pc, po);
}

static void msg_execute(struct pgconn *pc)
{
	const char *name = get_str(pc);
	uint32_t max = get_u32(pc);
	struct portal *po;

	if (pc->bad) {
		send_error(pc, "08P01", "malformed Execute message");
		return;
	}
	po = *find_portal(pc, name);
	if (!po) {
		char msg[256];

		snprintf(msg, sizeof(msg), "portal \"%s\" does not exist", name);
		send_error(pc, "34000", msg);
		return;
	}
	if (po->ran) {		/* a command runs once; a finished query has no more rows */
		if (po->ps->q.kind == PGSQL_QUERY)
			query_tag(pc, &po->ps->q, po->ncol, 0);
		else
			send_error(pc, "55000", "portal has already run");
		return;
	}
	pc->running = po;
	if (execute(pc, po, (int32_t)max > 0 ? max : 0, false) == 0 &&
	    (po->ps->q.kind != PGSQL_QUERY || po->done))
		po->ran = true;
	pc->running = NULL;
	sync_tx(pc);	/* may end the transaction: @po may be freed */
}

static void msg_close(struct pgconn *pc)
{
	char what = (char)get_u8(pc);
	const char *name = get_str(pc);

	if (pc->bad || (what != 'S' && what != 'P')) {
		send_error(pc, "08P01", "malformed Close message");
		return;
	}
	if (what == 'S')
		drop_stmt(pc, name);
	else
		drop_portal(pc, name);
	send_empty(pc, '3');	/* CloseComplete */
}

static void msg_sync(struct pgconn *pc)
{
	pc->skip_to_sync = false;
	if (pc->tx == TX_IDLE) {
		/* the implicit transaction ends: its portals go */
		struct portal **pp = &pc->portals, *po;

		while ((po = *pp)) {
			if (po->hold || po->cursor) {
				pp = &po->next;
				continue;
			}
			*pp = po->next;
			portal_free(po);
		}
	}
	send_ready(pc);
	flush(pc);
}

/* ---------------------------------------------------------------------- */
/* Startup and the connection                                             */

/* The TLS handshake after an SSLRequest was answered 'S'. 0 or -1. */
static int tls_accept(struct pgconn *pc)
{
	int flags = fcntl(pc->fd, F_GETFL);

	if (flags < 0 || fcntl(pc->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	pc->ssl = pgwire_tls_new(pc->tcp, pc->fd);
	if (!pc->ssl)
		return -1;
	for (;;) {
		struct pollfd pfd = { .fd = pc->fd, .events = POLLIN };
		int r = SSL_accept(pc->ssl);

		if (r == 1)
			return 0;
		switch (SSL_get_error(pc->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			break;
		case SSL_ERROR_WANT_WRITE:
			pfd.events = POLLOUT;
			break;
		default:
			SSL_free(pc->ssl);
			pc->ssl = NULL;	/* nothing more can be said to it */
			return -1;
		}
		if (poll(&pfd, 1, MESSAGE_TIMEOUT_MS) <= 0) {
			SSL_free(pc->ssl);
			pc->ssl = NULL;
			return -1;
		}
	}
}

/* An Authentication message: @code, then @n bytes of @data. */
static void send_auth(struct pgconn *pc, uint32_t code, const void *data, size_t n)
{
	size_t m = msg_begin(&pc->out, 'R');

	put_u32(&pc->out, code);
	dbos_buf_put(&pc->out, data, n);
	msg_end(&pc->out, m);
}

/* Read a SASL message ('p'); its payload is pc->in. 0 or -1 (error sent). */
static int read_sasl(struct pgconn *pc)
{
	if (flush(pc) || read_message(pc, NULL))
		return -1;
	if (pc->type != 'p') {
		fatal(pc, "08P01", "expected a SASL response");
		return -1;
	}
	return 0;
}

/*
 * TCP: SCRAM-SHA-256 for the startup packet's user, then the access rules of
 * the Unix socket for that local user. 0, or -1 (the FATAL error sent).
 */
static int login(struct pgconn *pc)
{
	static const char mechanisms[] = "SCRAM-SHA-256\0";	/* and the list's end */
	struct scram *sc;
	char *out = NULL, *err = NULL;
	const char *mech;
	uint32_t len;
	const uint8_t *data;

	if (!pc->user || !pc->user[0]) {
		fatal(pc, "28000", "no PostgreSQL user name specified in startup packet");
		return -1;
	}
	sc = scram_begin(pc->tcp, pc->user);
	if (!sc) {
		fatal(pc, "53200", "out of memory");
		return -1;
	}
	send_auth(pc, 10, mechanisms, sizeof(mechanisms));	/* AuthenticationSASL */
	if (read_sasl(pc))
		goto fail;
	mech = get_str(pc);
	len = get_u32(pc);
	data = get_bytes(pc, len);
	if (pc->bad || strcmp(mech, "SCRAM-SHA-256")) {
		fatal(pc, "28000", pc->bad ? "malformed SASL message" :
		      "SCRAM-SHA-256 is the only authentication dbosd offers");
		goto fail;
	}
	if (scram_first(sc, (const char *)data, len, &out, &err))
		goto refused;
	send_auth(pc, 11, out, strlen(out));	/* AuthenticationSASLContinue */
	free(out);
	out = NULL;
	if (read_sasl(pc))
		goto fail;
	if (scram_final(sc, (const char *)pc->in.data, pc->in.len, &out, &err))
		goto refused;
	send_auth(pc, 12, out, strlen(out));	/* AuthenticationSASLFinal */
	free(out);
	scram_free(sc);
	if (endpoint_conn_authenticated(pc->ec, pc->user, &err)) {
		fatal(pc, "28000", err ? err : "permission denied");
		free(err);
		return -1;
	}
	return 0;
refused:
	fatal(pc, strstr(err ? err : "", "password") ? "28P01" : "28000",
	      err ? err : "authentication failed");
	free(err);
fail:
	free(out);
	scram_free(sc);
	return -1;
}

/*
 * Read the startup packet (answering SSL and GSSAPI requests 'N'), apply its
 * parameters. 0: go on; 1: a cancel request was handled; -1: refused.
 */
static int startup(struct pgconn *pc)
{
	for (;;) {
		uint8_t hdr[4];
		uint32_t len, code;

		if (read_full(pc, hdr, 4, MESSAGE_TIMEOUT_MS))
			return -1;
		len = be32(hdr);
		if (len < 8 || len > MAX_STARTUP) {
			fatal(pc, "08P01", "invalid length of startup packet");
			return -1;
		}
		if (read_body(pc, len - 4)) {
			fatal(pc, "08P01", "incomplete startup packet");
			return -1;
		}
		code = get_u32(pc);
		if (code == PG_SSL_REQUEST && pc->tcp && !pc->ssl) {
			if (endpoint_conn_send(pc->ec, "S", 1) || tls_accept(pc))
				return -1;
			continue;
		}
		if (code == PG_SSL_REQUEST || code == PG_GSSENC_REQUEST) {
			/* Nothing to encrypt on a Unix socket (or again): no, go on as is. */
			if (conn_send(pc, "N", 1))
				return -1;
			continue;
		}
		if (code == PG_CANCEL_REQUEST) {
			uint32_t id = get_u32(pc), secret = get_u32(pc);

			if (!pc->bad)
				endpoint_cancel(pc->ec, id, secret);
			return 1;	/* no answer, as PostgreSQL: the connection closes */
		}
		if (pc->tcp && !pc->ssl && code != PG_CANCEL_REQUEST) {
			fatal(pc, "28000", "dbosd accepts TCP connections over TLS only "
			      "(connect with sslmode=require)");
			return -1;
		}
		if (code >> 16 != 3) {
			char msg[128];

			snprintf(msg, sizeof(msg), "unsupported frontend protocol %u.%u: server "
				 "supports 3.0 to 3.0", code >> 16, code & 0xffff);
			fatal(pc, "0A000", msg);
			return -1;
		}
		break;
	}
	/* Kept for apply_startup(), once the user is known; the user and replication now. */
	free(pc->startup);
	pc->startup_len = pc->in.len - pc->rd;
	pc->startup = malloc(pc->startup_len + 1);
	if (!pc->startup) {
		fatal(pc, "53200", "out of memory");
		return -1;
	}
	memcpy(pc->startup, pc->in.data + pc->rd, pc->startup_len);
	for (;;) {
		const char *key = get_str(pc), *value;

		if (pc->bad || !key[0])
			break;
		value = get_str(pc);
		if (pc->bad)
			break;
		if (!strcmp(key, "user")) {
			free(pc->user);
			pc->user = strdup(value);
		} else if (!strcmp(key, "replication") && strcmp(value, "false") &&
			   strcmp(value, "0") && strcmp(value, "off")) {
			fatal(pc, "0A000", "dbos does not serve replication connections");
			return -1;
		}
	}
	if (pc->bad) {
		fatal(pc, "08P01", "invalid startup packet layout");
		return -1;
	}
	return 0;
}

/* The settings of the startup packet, on the settings of the connection's user. 0 or -1. */
static int apply_startup(struct pgconn *pc)
{
	dbos_buf_reset(&pc->in);
	dbos_buf_put(&pc->in, pc->startup, pc->startup_len);
	if (pc->in.err) {
		fatal(pc, "53200", "out of memory");
		return -1;
	}
	pc->rd = 0;
	pc->bad = false;
	for (;;) {
		const char *key = get_str(pc), *value, *code = "22023";
		char *err = NULL;

		if (pc->bad || !key[0])
			break;
		value = get_str(pc);
		if (pc->bad)
			break;
		/* on a Unix socket, who the client is comes from its peer, not "user" */
		if (!strcmp(key, "user") || !strcmp(key, "database") || !strcmp(key, "options") ||
		    !strcmp(key, "replication") || !strncmp(key, "_pq_.", 5))
			continue;
		if (pgsettings_set(pc->set, key, value, &err, &code)) {
			fatal(pc, code ? code : "22023", err ? err : "invalid startup parameter");
			free(err);
			return -1;
		}
	}
	return 0;
}

/* The settings of a connection of @uid (its user name for session_authorization). */
static struct pgsettings *new_settings(uid_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[4096], num[16];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		return pgsettings_new(res->pw_name);
	snprintf(num, sizeof(num), "%u", (unsigned int)uid);
	return pgsettings_new(num);
}

static void serve(struct endpoint_conn *ec)
{
	struct pgconn pc = { .ec = ec, .fd = endpoint_conn_fd(ec), .tx = TX_IDLE,
			     .tcp = endpoint_conn_is_tcp(ec) ? endpoint_conn_protocol(ec)->arg : NULL };
	char *err = NULL, *msg;
	uint32_t id, secret;
	int ret;
	size_t m;

	dbos_buf_init_alloc(&pc.out, endpoint_conn_allocator());
	dbos_buf_init_alloc(&pc.in, endpoint_conn_allocator());
	endpoint_conn_set_data(ec, &pc);
	msg = endpoint_conn_wait_first(ec);
	if (msg) {
		fatal(&pc, "08006", msg);
		free(msg);
		goto out;
	}
	ret = startup(&pc);
	if (ret || (pc.tcp && login(&pc)))
		goto out;
	pc.set = new_settings(endpoint_conn_uid(ec));
	if (!pc.set) {
		fatal(&pc, "53200", "out of memory");
		goto out;
	}
	if (apply_startup(&pc))
		goto out;
	pc.db = endpoint_conn_open(ec, &err);
	if (!pc.db) {
		char *text = NULL;

		if (asprintf(&text, "cannot open the database: %s", err ? err : "unknown error") < 0)
			text = NULL;
		fatal(&pc, "58000", text ? text : "cannot open the database");
		free(text);
		free(err);
		goto out;
	}
	m = msg_begin(&pc.out, 'R');	/* AuthenticationOk: the peer credentials did */
	put_u32(&pc.out, 0);
	msg_end(&pc.out, m);
	send_parameters(&pc);
	endpoint_conn_key(ec, &id, &secret);
	m = msg_begin(&pc.out, 'K');
	put_u32(&pc.out, id);
	put_u32(&pc.out, secret);
	msg_end(&pc.out, m);
	send_ready(&pc);
	if (flush(&pc))
		goto out;

	while (!pc.gone && !endpoint_conn_stopping(ec)) {
		if (read_message(&pc, "QPBDECSHXdcfF"))
			break;
		if (pc.skip_to_sync && pc.type != 'S' && pc.type != 'X' && pc.type != 'Q')
			continue;
		switch (pc.type) {
		case 'Q':
			simple_query(&pc);
			break;
		case 'P':
			msg_parse(&pc);
			break;
		case 'B':
			msg_bind(&pc);
			break;
		case 'D':
			msg_describe(&pc);
			break;
		case 'E':
			msg_execute(&pc);
			break;
		case 'C':
			msg_close(&pc);
			break;
		case 'S':
			msg_sync(&pc);
			break;
		case 'H':
			flush(&pc);
			break;
		case 'X':
			goto out;
		case 'd':
		case 'c':
		case 'f':
			break;	/* COPY data outside a COPY FROM: ignored, as PostgreSQL does */
		case 'F':	/* not extended protocol: its error ends with ReadyForQuery */
			send_error(&pc, "0A000", "the function call protocol is not supported");
			pc.skip_to_sync = false;
			send_ready(&pc);
			flush(&pc);
			break;
		default: {
			char text[64];

			snprintf(text, sizeof(text), "invalid frontend message type %d", pc.type);
			fatal(&pc, "08P01", text);
			goto out;
		}
		}
		if (pc.in.cap > (1u << 20))
			dbos_buf_free(&pc.in);
	}
	if (endpoint_conn_stopping(ec) && !pc.gone && pc.db)
		fatal(&pc, "57P01", "terminating connection: dbosd is shutting down");
out:
	while (pc.portals)
		drop_portal(&pc, pc.portals->name);
	while (pc.stmts)
		drop_stmt(&pc, pc.stmts->name);
	/* the endpoint closes the session; the settings its functions use go after */
	endpoint_conn_set_data(ec, NULL);
	dbos_buf_free(&pc.in);
	dbos_buf_free(&pc.out);
	if (pc.db)
		sqlite3_close_v2(endpoint_conn_take_db(ec));
	pgsettings_free(pc.set);
	if (pc.ssl) {
		SSL_shutdown(pc.ssl);
		SSL_free(pc.ssl);
	}
	free(pc.user);
	free(pc.startup);
}

int pgwire_session_setup(sqlite3 *db, void *sink, char **err)
{
	struct pgconn *pc = endpoint_conn_data(sink);

	return pgcatalog_setup(db, pc->set, err);
}

const struct endpoint_protocol pgwire_protocol = {
	.socket_path = PGWIRE_DEFAULT_SOCKET,
	.serve = serve,
	.refuse = refuse,
	.notice = notice,
};
