/* SPDX-License-Identifier: GPL-2.0 */
/* bytes.h - little-endian integers, varints and a growable byte buffer for the store's value formats (chunks, change log). */
#ifndef DBOS_STORE_BYTES_H
#define DBOS_STORE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static inline void put_le(char *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++, v >>= 8)
		p[i] = (char)(v & 0xff);
}

static inline uint64_t get_le(const char *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | (unsigned char)p[i];
	return v;
}

/* Writes @v as a varint (7 bits per byte, low first) at @p: at most 10 bytes. */
static inline size_t put_varint(char *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (char)v;
	return n;
}

/* Reads a varint at *@p (before @end); false when truncated or too long. */
static inline bool get_varint(const char **p, const char *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		unsigned char b = (unsigned char)*(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* Grows *@b (*@cap bytes, *@len used) to hold @need more bytes. 0, or -1 on ENOMEM. */
static inline int bytes_reserve(char **b, size_t *cap, size_t len, size_t need)
{
	size_t c;
	char *nb;

	if (len + need <= *cap)
		return 0;
	c = *cap ? *cap : 1024;
	while (c < len + need)
		c *= 2;
	nb = realloc(*b, c);
	if (!nb)
		return -1;
	*b = nb;
	*cap = c;
	return 0;
}

#endif /* DBOS_STORE_BYTES_H */
