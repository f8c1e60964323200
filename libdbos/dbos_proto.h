/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dbos_proto.h - the client protocol between dbosd and its SQL clients.
 *
 * Transport: a Unix stream socket, by default /run/dbos/dbosd.sock
 * (DBOS_DEFAULT_SOCKET). The socket file is mode 0660 root:<group>, and the
 * server also checks the peer's credentials (SO_PEERCRED) on every
 * connection: root, the server's own uid and, when configured, members of
 * one group are served; anyone else gets an 'E' frame and is disconnected.
 *
 * Framing. Everything on the wire is a frame:
 *
 *     u32 length    little-endian, length of the payload only (not of the
 *                   type byte and not of itself); at most DBOS_MAX_FRAME
 *     u8  type      one of the DBOS_F_* letters below
 *     u8  payload[length]
 *
 * All integers are little-endian; there is no padding and no alignment.
 *
 * Conversation:
 *
 *   server -> client, once, right after accept:
 *     'H' hello     u32 DBOS_PROTO_VERSION
 *     or 'E' error  the reason the connection is refused (permission denied,
 *                   too many connections, the database cannot be opened),
 *                   after which the server closes the connection.
 *
 *   client -> server, any number of times:
 *     'Q' query     the SQL text (UTF-8, no terminating NUL). It may hold
 *                   several statements separated by ';'.
 *
 *   server -> client, for each 'Q', in order:
 *     for each statement that returns columns (once it has been stepped
 *     successfully the first time; also when it returns no rows):
 *       'C' columns u16 ncol, then ncol times { u16 len, u8 name[len] }
 *       'R' row     one per row, ncol values, each:
 *                       u8 DBOS_T_NULL
 *                       u8 DBOS_T_INT,   i64
 *                       u8 DBOS_T_FLOAT, f64 (IEEE 754 bits, little-endian)
 *                       u8 DBOS_T_TEXT,  u32 len, u8 bytes[len] (UTF-8)
 *                       u8 DBOS_T_BLOB,  u32 len, u8 bytes[len]
 *     at any point before the end, any number of:
 *       'N' notice  text the user should see (e.g. what COMMIT made of a
 *                   rule); it changes nothing in the result
 *     then exactly one of:
 *       'D' done    i64 total rows changed by the request (the difference
 *                   of sqlite3_total_changes64() before and after it)
 *       'E' error   the error message as text. For SQL errors this is
 *                   sqlite3_errmsg() verbatim. Statements after the failing
 *                   one are not run; rows already sent stay valid.
 *
 *     Rows are streamed while the statement is stepped: the server never
 *     holds a whole result. A client that stops reading slows the server's
 *     statement down (socket back-pressure); a client that disconnects
 *     makes the server abandon the statement.
 *
 * Errors. A frame longer than DBOS_MAX_FRAME, a frame of a type the receiver
 * does not expect, a payload that does not parse exactly (too short, or
 * bytes left over) or a connection that ends in the middle of a frame is a
 * protocol error. The server answers it with an 'E' frame whose text starts
 * with "protocol error: " and closes the connection. The client library
 * reports "protocol error: ..." and closes its side.
 *
 * Versioning. DBOS_PROTO_VERSION is sent in the hello; a client refuses a
 * server whose version differs. Bump it on any incompatible change.
 */
#ifndef DBOS_PROTO_H
#define DBOS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define DBOS_PROTO_VERSION	2	/* 2: notices ('N') */
#define DBOS_DEFAULT_SOCKET	"/run/dbos/dbosd.sock"
#define DBOS_SOCKET_ENV		"DBOS_SOCKET"

/* Largest payload of one frame, either direction. */
#define DBOS_MAX_FRAME		(64u << 20)
/* Bytes before the payload: u32 length + u8 type. */
#define DBOS_FRAME_HDR		5

/* Frame types. */
#define DBOS_F_HELLO		'H'
#define DBOS_F_QUERY		'Q'
#define DBOS_F_COLUMNS		'C'
#define DBOS_F_ROW		'R'
#define DBOS_F_DONE		'D'
#define DBOS_F_ERROR		'E'
#define DBOS_F_NOTICE		'N'

/* Value types inside an 'R' frame. */
enum dbos_type {
	DBOS_T_NULL = 0,
	DBOS_T_INT = 1,
	DBOS_T_FLOAT = 2,
	DBOS_T_TEXT = 3,
	DBOS_T_BLOB = 4,
};

/*
 * One column value of a row, valid only during the on_row() call.
 * @type is a DBOS_T_* value. INT uses @i, FLOAT uses @f; TEXT and BLOB use
 * @s and @len (the bytes; also NUL-terminated, but TEXT may contain NULs, so
 * trust @len). For NULL, @s is NULL and @len 0.
 */
struct dbos_value {
	int type;
	int64_t i;
	double f;
	const char *s;
	size_t len;
};

/*
 * Where a buffer's memory comes from: realloc()/free() unless a buffer is
 * given one (dbosd charges a client's buffers to its session's memory limit).
 * @realloc(NULL, n) allocates; @realloc returns NULL when it refuses.
 */
struct dbos_allocator {
	void *(*realloc)(void *p, size_t n);
	void (*free)(void *p);
};

/*
 * Growable output buffer for building frames. A failed allocation or an
 * oversized frame sets @err and makes every later append a no-op, so a
 * sequence of appends needs only one check at the end.
 */
struct dbos_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int err;	/* 0, or ENOMEM / EMSGSIZE once something failed */
	const struct dbos_allocator *alloc;	/* NULL: libc's */
};

/* Bounds-checked reader over a received payload; @err sticks once set. */
struct dbos_rd {
	const uint8_t *p;
	size_t left;
	int err;	/* set when a read ran past the end */
};

/* dbos_buf_init() - an empty buffer; owns nothing until the first append. */
void dbos_buf_init(struct dbos_buf *b);

/* dbos_buf_init_alloc() - the same, with its memory from @alloc. */
void dbos_buf_init_alloc(struct dbos_buf *b, const struct dbos_allocator *alloc);

/* dbos_buf_free() - release the memory; the buffer is empty and reusable (same allocator). */
void dbos_buf_free(struct dbos_buf *b);

/* dbos_buf_reset() - forget the contents (and the error), keep the memory. */
void dbos_buf_reset(struct dbos_buf *b);

/* dbos_buf_put() - append @n bytes; on failure sets b->err (ENOMEM). */
void dbos_buf_put(struct dbos_buf *b, const void *p, size_t n);
void dbos_buf_u8(struct dbos_buf *b, uint8_t v);
void dbos_buf_u16(struct dbos_buf *b, uint16_t v);
void dbos_buf_u32(struct dbos_buf *b, uint32_t v);
void dbos_buf_u64(struct dbos_buf *b, uint64_t v);
void dbos_buf_f64(struct dbos_buf *b, double v);

/*
 * dbos_frame_begin() - start a frame of @type at the end of @b.
 * Returns the offset to give to dbos_frame_end().
 */
size_t dbos_frame_begin(struct dbos_buf *b, uint8_t type);

/*
 * dbos_frame_end() - patch the length of the frame begun at @start.
 * Returns 0, or -1 when the payload exceeds DBOS_MAX_FRAME: then the frame
 * is removed from @b again (b->len = @start) and b->err is left untouched,
 * so the caller may report the problem and go on.
 */
int dbos_frame_end(struct dbos_buf *b, size_t start);

/*
 * dbos_frame_put() - append a whole frame of @type whose payload is @n bytes
 * at @p. Returns 0, or -1 if @n exceeds DBOS_MAX_FRAME (nothing appended).
 */
int dbos_frame_put(struct dbos_buf *b, uint8_t type, const void *p, size_t n);

void dbos_rd_init(struct dbos_rd *r, const void *p, size_t n);
uint8_t dbos_rd_u8(struct dbos_rd *r);
uint16_t dbos_rd_u16(struct dbos_rd *r);
uint32_t dbos_rd_u32(struct dbos_rd *r);
uint64_t dbos_rd_u64(struct dbos_rd *r);
double dbos_rd_f64(struct dbos_rd *r);
/* dbos_rd_bytes() - pointer to the next @n bytes, or NULL (r->err set). */
const uint8_t *dbos_rd_bytes(struct dbos_rd *r, size_t n);

/* dbos_buf_value() - append @v as a value of an 'R' frame (its type byte, then its bytes). */
void dbos_buf_value(struct dbos_buf *b, const struct dbos_value *v);

/*
 * dbos_rd_value() - read one value of an 'R' frame into @v (TEXT and BLOB
 * point into the payload, not NUL-terminated). 0, or -1 when the type is
 * unknown or the payload too short (r->err set).
 */
int dbos_rd_value(struct dbos_rd *r, struct dbos_value *v);

/*
 * dbos_send_all() - write all @n bytes to the socket @fd, retrying on EINTR
 * and short writes, with MSG_NOSIGNAL (a vanished peer is EPIPE, never
 * SIGPIPE). Returns 0, or -1 with errno.
 */
int dbos_send_all(int fd, const void *p, size_t n);

/*
 * dbos_read_frame() - read one frame from the stream socket @fd.
 * @idle_ms is how long to wait for the first byte (-1: forever); once a frame
 * has started, the rest must arrive within @frame_ms (-1: forever).
 * The payload is stored in @payload (replacing its contents), followed by one
 * extra zero byte that is not counted in payload->len, so text payloads are
 * NUL-terminated. The buffer grows as bytes arrive, not with the length the
 * header announces (so a header alone costs no memory).
 * Returns 1 with *@type set, 0 on a clean end of stream before any byte of a
 * frame, or -1 with errno: EPROTO (frame over DBOS_MAX_FRAME, or the stream
 * ended inside a frame), ETIMEDOUT, ENOMEM, or the socket's error. When
 * @why is not NULL it receives a static text describing an EPROTO or
 * ETIMEDOUT failure.
 */
int dbos_read_frame(int fd, int idle_ms, int frame_ms, uint8_t *type,
		    struct dbos_buf *payload, const char **why);

#endif /* DBOS_PROTO_H */
