// SPDX-License-Identifier: GPL-2.0
/* dbos_proto.c - frame encoding, decoding and socket I/O shared by client and server. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dbos_proto.h"

void dbos_buf_init(struct dbos_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void dbos_buf_init_alloc(struct dbos_buf *b, const struct dbos_allocator *alloc)
{
	dbos_buf_init(b);
	b->alloc = alloc;
}

void dbos_buf_free(struct dbos_buf *b)
{
	const struct dbos_allocator *alloc = b->alloc;

	if (alloc)
		alloc->free(b->data);
	else
		free(b->data);
	dbos_buf_init_alloc(b, alloc);
}

void dbos_buf_reset(struct dbos_buf *b)
{
	b->len = 0;
	b->err = 0;
}

/* Make room for @n more bytes (plus one spare byte for a terminating NUL). */
static int reserve(struct dbos_buf *b, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (b->err)
		return -1;
	if (n > SIZE_MAX / 2 - b->len - 1) {
		b->err = ENOMEM;
		return -1;
	}
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = b->alloc ? b->alloc->realloc(b->data, cap) : realloc(b->data, cap);
	if (!p) {
		b->err = ENOMEM;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void dbos_buf_put(struct dbos_buf *b, const void *p, size_t n)
{
	if (reserve(b, n))
		return;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void dbos_buf_u8(struct dbos_buf *b, uint8_t v)
{
	dbos_buf_put(b, &v, 1);
}

void dbos_buf_u16(struct dbos_buf *b, uint16_t v)
{
	uint8_t x[2] = { v, v >> 8 };

	dbos_buf_put(b, x, sizeof(x));
}

void dbos_buf_u32(struct dbos_buf *b, uint32_t v)
{
	uint8_t x[4] = { v, v >> 8, v >> 16, v >> 24 };

	dbos_buf_put(b, x, sizeof(x));
}

void dbos_buf_u64(struct dbos_buf *b, uint64_t v)
{
	dbos_buf_u32(b, (uint32_t)v);
	dbos_buf_u32(b, (uint32_t)(v >> 32));
}

void dbos_buf_f64(struct dbos_buf *b, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	dbos_buf_u64(b, u);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint32_t get_le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t dbos_frame_begin(struct dbos_buf *b, uint8_t type)
{
	size_t start = b->len;

	dbos_buf_u32(b, 0);
	dbos_buf_u8(b, type);
	return start;
}

int dbos_frame_end(struct dbos_buf *b, size_t start)
{
	size_t n;

	if (b->err)
		return 0;	/* the caller sees b->err */
	n = b->len - start - DBOS_FRAME_HDR;
	if (n > DBOS_MAX_FRAME) {
		b->len = start;
		return -1;
	}
	put_le32(b->data + start, (uint32_t)n);
	return 0;
}

int dbos_frame_put(struct dbos_buf *b, uint8_t type, const void *p, size_t n)
{
	if (n > DBOS_MAX_FRAME)
		return -1;
	dbos_buf_u32(b, (uint32_t)n);
	dbos_buf_u8(b, type);
	dbos_buf_put(b, p, n);
	return 0;
}

void dbos_rd_init(struct dbos_rd *r, const void *p, size_t n)
{
	r->p = p;
	r->left = n;
	r->err = 0;
}

const uint8_t *dbos_rd_bytes(struct dbos_rd *r, size_t n)
{
	const uint8_t *p;

	if (r->err || n > r->left) {
		r->err = 1;
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

uint8_t dbos_rd_u8(struct dbos_rd *r)
{
	const uint8_t *p = dbos_rd_bytes(r, 1);

	return p ? p[0] : 0;
}

uint16_t dbos_rd_u16(struct dbos_rd *r)
{
	const uint8_t *p = dbos_rd_bytes(r, 2);

	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t dbos_rd_u32(struct dbos_rd *r)
{
	const uint8_t *p = dbos_rd_bytes(r, 4);

	return p ? get_le32(p) : 0;
}

uint64_t dbos_rd_u64(struct dbos_rd *r)
{
	const uint8_t *p = dbos_rd_bytes(r, 8);

	return p ? get_le32(p) | (uint64_t)get_le32(p + 4) << 32 : 0;
}

double dbos_rd_f64(struct dbos_rd *r)
{
	uint64_t u = dbos_rd_u64(r);
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

int dbos_send_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;
	ssize_t w;

	while (n) {
		w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Read exactly @n bytes. Waits at most until @deadline (ms, CLOCK_MONOTONIC;
 * -1: no limit). Returns the number of bytes read before end of stream (== n
 * on success), or -1 with errno (ETIMEDOUT when the deadline passed).
 */
static ssize_t read_full(int fd, void *p, size_t n, int64_t deadline)
{
	uint8_t *c = p;
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		if (deadline >= 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int64_t left = deadline - now_ms();
			int pr;

			if (left < 0)
				left = 0;
			pr = poll(&pfd, 1, (int)left);
			if (pr < 0) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			if (pr == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
		}
		r = recv(fd, c + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int dbos_read_frame(int fd, int idle_ms, int frame_ms, uint8_t *type,
		    struct dbos_buf *payload, const char **why)
{
	uint8_t hdr[DBOS_FRAME_HDR];
	int64_t deadline = -1;
	uint32_t len, got;
	ssize_t r;

	if (why)
		*why = NULL;
	/* The first byte: the only place where end of stream is clean. */
	r = read_full(fd, hdr, 1, idle_ms < 0 ? -1 : now_ms() + idle_ms);
	if (r < 0) {
		if (errno == ETIMEDOUT && why)
			*why = "timed out waiting for a frame";
		return -1;
	}
	if (r == 0)
		return 0;
	if (frame_ms >= 0)
		deadline = now_ms() + frame_ms;
	r = read_full(fd, hdr + 1, sizeof(hdr) - 1, deadline);
	if (r < 0)
		goto fail;
	if (r != sizeof(hdr) - 1)
		goto truncated;
	len = get_le32(hdr);
	if (len > DBOS_MAX_FRAME) {
		if (why)
			*why = "frame longer than the 64 MiB limit";
		errno = EPROTO;
		return -1;
	}
	dbos_buf_reset(payload);
	/*
	 * Grow with what arrives (doubling, from 64 KiB), so a header that
	 * announces a long payload costs nothing until the bytes come.
	 */
	for (got = 0; got < len; got += (uint32_t)r) {
		uint32_t want = len - got, step = got > (64u << 10) ? got : (64u << 10);

		if (want > step)
			want = step;
		if (reserve(payload, want)) {
			errno = ENOMEM;
			return -1;
		}
		r = read_full(fd, payload->data + got, want, deadline);
		if (r < 0)
			goto fail;
		payload->len = got + (uint32_t)r;
		if ((uint32_t)r != want)
			goto truncated;
	}
	if (reserve(payload, 0)) {	/* the spare byte, for an empty payload */
		errno = ENOMEM;
		return -1;
	}
	payload->len = len;
	payload->data[len] = 0;	/* reserve() keeps one spare byte */
	*type = hdr[4];
	return 1;

truncated:
	if (why)
		*why = "connection closed in the middle of a frame";
	errno = EPROTO;
	return -1;
fail:
	if (errno == ETIMEDOUT && why)
		*why = "timed out in the middle of a frame";
	return -1;
}

void dbos_buf_value(struct dbos_buf *b, const struct dbos_value *v)
{
	switch (v->type) {
	case DBOS_T_INT:
		dbos_buf_u8(b, DBOS_T_INT);
		dbos_buf_u64(b, (uint64_t)v->i);
		break;
	case DBOS_T_FLOAT:
		dbos_buf_u8(b, DBOS_T_FLOAT);
		dbos_buf_f64(b, v->f);
		break;
	case DBOS_T_TEXT:
	case DBOS_T_BLOB:
		if (v->len > UINT32_MAX) {
			b->err = EMSGSIZE;
			return;
		}
		dbos_buf_u8(b, (uint8_t)v->type);
		dbos_buf_u32(b, (uint32_t)v->len);
		dbos_buf_put(b, v->s, v->len);
		break;
	default:
		dbos_buf_u8(b, DBOS_T_NULL);
		break;
	}
}

int dbos_rd_value(struct dbos_rd *r, struct dbos_value *v)
{
	memset(v, 0, sizeof(*v));
	v->type = dbos_rd_u8(r);
	switch (v->type) {
	case DBOS_T_NULL:
		break;
	case DBOS_T_INT:
		v->i = (int64_t)dbos_rd_u64(r);
		break;
	case DBOS_T_FLOAT:
		v->f = dbos_rd_f64(r);
		break;
	case DBOS_T_TEXT:
	case DBOS_T_BLOB:
		v->len = dbos_rd_u32(r);
		v->s = (const char *)dbos_rd_bytes(r, v->len);
		break;
	default:
		r->err = 1;
		break;
	}
	return r->err ? -1 : 0;
}
