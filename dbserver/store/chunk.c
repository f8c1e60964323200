// SPDX-License-Identifier: GPL-2.0
/* chunk.c - encoding and decoding of history chunks (see chunk.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/store/bytes.h"
#include "dbserver/store/chunk.h"

static int reserve(struct chunk_buf *c, size_t need)
{
	return bytes_reserve(&c->b, &c->cap, c->len, need);
}

int chunk_start(struct chunk_buf *c, uint64_t key)
{
	c->len = 0;
	if (reserve(c, CHUNK_HDR))
		return -1;
	c->key = key;
	c->last = key;
	c->count = 0;
	c->b[0] = (char)CHUNK_TAG;
	put_le(c->b + 1, 0, 4);
	put_le(c->b + 5, key, 8);
	c->len = CHUNK_HDR;
	return 0;
}

int chunk_append(struct chunk_buf *c, uint64_t seq, const void *row, size_t len)
{
	if (reserve(c, 20 + len))
		return -1;
	c->len += put_varint(c->b + c->len, seq - c->key);
	c->len += put_varint(c->b + c->len, len);
	memcpy(c->b + c->len, row, len);
	c->len += len;
	c->count++;
	c->last = seq;
	put_le(c->b + 1, c->count, 4);
	put_le(c->b + 5, seq, 8);
	return 0;
}

void chunk_buf_free(struct chunk_buf *c)
{
	free(c->b);
	memset(c, 0, sizeof(*c));
}

int chunk_header(const char *val, size_t vlen, uint32_t *count, uint64_t *last)
{
	if (vlen < CHUNK_HDR || (unsigned char)val[0] != CHUNK_TAG)
		return -1;
	*count = (uint32_t)get_le(val + 1, 4);
	*last = get_le(val + 5, 8);
	return 0;
}

long chunk_decode(uint64_t key, const char *val, size_t vlen,
		  struct chunk_ent **ents, size_t *cap)
{
	const char *p = val + CHUNK_HDR, *end = val + vlen;
	uint64_t last;
	uint32_t count;

	if (chunk_header(val, vlen, &count, &last) || count > vlen)
		return -EINVAL;
	if (count > *cap) {
		struct chunk_ent *ne = realloc(*ents, count * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		*ents = ne;
		*cap = count;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint64_t delta, len;

		if (!get_varint(&p, end, &delta) || !get_varint(&p, end, &len) ||
		    len > (uint64_t)(end - p))
			return -EINVAL;
		(*ents)[i] = (struct chunk_ent){ .seq = key + delta, .row = p, .len = len };
		p += len;
	}
	return p == end ? (long)count : -EINVAL;
}
