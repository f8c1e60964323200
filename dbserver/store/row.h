/* SPDX-License-Identifier: GPL-2.0 */
/* row.h - the encoding of one table row as a RocksDB value. */
#ifndef DBOS_ROW_H
#define DBOS_ROW_H

#include <stddef.h>
#include <stdint.h>

enum row_type { ROW_NULL, ROW_INT, ROW_TEXT };

/* One column value. For ROW_TEXT, @s points at @len bytes (not NUL-terminated). */
struct row_value {
	enum row_type type;
	int64_t i;
	const char *s;
	size_t len;
};

static inline struct row_value row_int(int64_t v)
{
	return (struct row_value){ .type = ROW_INT, .i = v };
}

static inline struct row_value row_text(const char *s, size_t len)
{
	return (struct row_value){ .type = ROW_TEXT, .s = s, .len = len };
}

static inline struct row_value row_null(void)
{
	return (struct row_value){ .type = ROW_NULL };
}

/*
 * row_encode - encode @n values into @buf (capacity @cap). Returns the encoded
 * length; when that exceeds @cap nothing useful was written and the caller
 * retries with a buffer of that size.
 */
size_t row_encode(const struct row_value *vals, int n, char *buf, size_t cap);

/*
 * row_decode - decode @buf into @n values; text values point into @buf.
 * Columns absent from the encoding (written by an older schema) decode as
 * NULL. Returns 0, or -1 if @buf is malformed.
 */
int row_decode(const char *buf, size_t len, struct row_value *vals, int n);

#endif /* DBOS_ROW_H */
