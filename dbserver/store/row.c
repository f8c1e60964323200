// SPDX-License-Identifier: GPL-2.0
/* row.c - the row codec: one table row <-> one compact, versioned RocksDB value. */
#include <string.h>

#include "dbserver/store/row.h"

/*
 * Format (version 1):
 *
 *   value  := version column*
 *   version:= 0x01
 *   column := 0x00                      NULL
 *           | 0x01 varint(zigzag(i))    INTEGER
 *           | 0x02 varint(len) bytes    TEXT (any bytes, NULs included)
 *
 * varint is LEB128 (7 bits per byte, low group first, at most 10 bytes);
 * zigzag maps 0, -1, 1, -2 ... to 0, 1, 2, 3 ... so small negative numbers
 * stay short. Columns are in schema order. A reader that knows more columns
 * than a value holds sees the missing ones as NULL (a row written before the
 * column was added); a reader that knows fewer ignores the rest, so columns
 * can only ever be appended to a table.
 */
#define ROW_VERSION	1
#define TAG_NULL	0
#define TAG_INT		1
#define TAG_TEXT	2
#define VARINT_MAX	10

static inline uint64_t zigzag(int64_t v)
{
	return (uint64_t)v << 1 ^ -((uint64_t)v >> 63);
}

static inline int64_t unzigzag(uint64_t u)
{
	return (int64_t)(u >> 1 ^ -(u & 1));
}

static inline size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline char *varint_put(char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (char)v;
	return p;
}

/* Reads a varint at *@p (< @end). Returns 0 and advances *@p, or -1. */
static int varint_get_slow(const unsigned char **p, const unsigned char *end,
			   uint64_t *out)
{
	const unsigned char *q = *p;
	uint64_t v = 0;

	for (int shift = 0; shift < 7 * VARINT_MAX; shift += 7) {
		if (q == end)
			return -1;
		uint64_t b = *q++;

		/* The 10th byte may only hold the top bit of a 64-bit value. */
		if (shift == 63 && b > 1)
			return -1;
		v |= (b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*p = q;
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* Most varints (small ints, text lengths) are one byte: inline that case. */
static inline int varint_get(const unsigned char **p, const unsigned char *end,
			     uint64_t *out)
{
	if (*p < end && **p < 0x80) {
		*out = *(*p)++;
		return 0;
	}
	return varint_get_slow(p, end, out);
}

static size_t encoded_len(const struct row_value *vals, int n)
{
	size_t len = 1;

	for (int i = 0; i < n; i++) {
		len++;
		switch (vals[i].type) {
		case ROW_INT:
			len += varint_len(zigzag(vals[i].i));
			break;
		case ROW_TEXT:
			len += varint_len(vals[i].len) + vals[i].len;
			break;
		default:
			break;
		}
	}
	return len;
}

size_t row_encode(const struct row_value *vals, int n, char *buf, size_t cap)
{
	size_t len = encoded_len(vals, n);
	char *p = buf;

	if (len > cap)
		return len;
	*p++ = ROW_VERSION;
	for (int i = 0; i < n; i++) {
		switch (vals[i].type) {
		case ROW_INT:
			*p++ = TAG_INT;
			p = varint_put(p, zigzag(vals[i].i));
			break;
		case ROW_TEXT:
			*p++ = TAG_TEXT;
			p = varint_put(p, vals[i].len);
			if (vals[i].len)
				memcpy(p, vals[i].s, vals[i].len);
			p += vals[i].len;
			break;
		default:	/* ROW_NULL, and anything unknown */
			*p++ = TAG_NULL;
			break;
		}
	}
	return len;
}

/*
 * Fields are stored one by one: building a struct row_value with row_int()
 * and copying it made gcc assemble it on the stack and reload it as a vector,
 * a store-forwarding stall per column that dominated decoding.
 */
static inline void set(struct row_value *v, enum row_type type, int64_t i,
		       const char *s, size_t len)
{
	v->type = type;
	v->i = i;
	v->s = s;
	v->len = len;
}

int row_decode(const char *buf, size_t len, struct row_value *vals, int n)
{
	const unsigned char *p = (const unsigned char *)buf;
	const unsigned char *end = p + len;
	uint64_t u;
	int i = 0;

	if (len < 1 || *p++ != ROW_VERSION)
		return -1;
	for (; i < n && p < end; i++) {
		switch (*p++) {
		case TAG_NULL:
			set(&vals[i], ROW_NULL, 0, NULL, 0);
			break;
		case TAG_INT:
			if (varint_get(&p, end, &u))
				return -1;
			set(&vals[i], ROW_INT, unzigzag(u), NULL, 0);
			break;
		case TAG_TEXT:
			if (varint_get(&p, end, &u) || u > (uint64_t)(end - p))
				return -1;
			set(&vals[i], ROW_TEXT, 0, (const char *)p, (size_t)u);
			p += u;
			break;
		default:
			return -1;
		}
	}
	for (; i < n; i++)
		set(&vals[i], ROW_NULL, 0, NULL, 0);
	return 0;
}
