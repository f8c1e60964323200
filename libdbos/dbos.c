// SPDX-License-Identifier: GPL-2.0
/* dbos.c - the `dbos` command-line SQL client for dbosd. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <editline/readline.h>
#include <sqlite3.h>

#include "dbos_client.h"

#define EXIT_SQL	1	/* a statement failed */
#define EXIT_CONN	2	/* connection or usage error */
#define EXIT_PARTIAL	3	/* --fleet: hosts missing from the result, or not enforcing a commit */

#define PROMPT		"dbos> "
#define PROMPT_CONT	"  ...> "
#define HISTORY_FILE	".dbos_history"
#define HISTORY_MAX	1000

enum mode { MODE_TABLE, MODE_CSV, MODE_JSON };

static const char *const mode_names[] = {
	[MODE_TABLE] = "table", [MODE_CSV] = "csv", [MODE_JSON] = "json",
};

/* One cell of a buffered table: display text in table.text at off. */
struct cell {
	size_t off;
	size_t len;
	size_t width;		/* terminal columns */
	int type;		/* DBOS_T_* */
};

/* The result set being printed. */
struct result {
	int ncol;		/* -1: none open */
	size_t nrows;
	/* table mode: everything is buffered to compute the widths */
	struct cell *cells;	/* header row first, then nrows rows */
	size_t ncells, cap;
	struct dbos_buf text;
};

struct shell {
	const char *socket;	/* -s, or NULL for the default */
	struct dbos_conn *conn;
	struct dbos_fleet_options fleet_opts;	/* --fleet: .url set */
	struct dbos_fleet *fleet;
	bool fleet_learnt;		/* the hosts' tables are known here */
	enum mode mode;
	struct result res;
	FILE *out;
};

static void die_oom(void)
{
	fputs("dbos: out of memory\n", stderr);
	exit(EXIT_CONN);
}

static void buf_check(const struct dbos_buf *b)
{
	if (b->err)
		die_oom();
}

/* ---------------------------------------------------------------------- */
/* Text helpers                                                           */

/*
 * Decode one UTF-8 sequence from @s (@n bytes available). Returns its length
 * with *@cp set, or 0 when the bytes are not valid UTF-8 (overlong forms,
 * surrogates and values past U+10FFFF are invalid).
 */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c, min;
	size_t len, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Terminal columns taken by code point @c (a small wcwidth() that needs no locale). */
static int cp_width(uint32_t c)
{
	static const struct { uint32_t lo, hi; } zero[] = {
		{ 0x0300, 0x036f }, { 0x0483, 0x0489 }, { 0x0591, 0x05bd },
		{ 0x0610, 0x061a }, { 0x064b, 0x065f }, { 0x1ab0, 0x1aff },
		{ 0x1dc0, 0x1dff }, { 0x200b, 0x200d }, { 0x20d0, 0x20ff },
		{ 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f }, { 0xfeff, 0xfeff },
		{ 0xe0100, 0xe01ef },
	}, wide[] = {
		{ 0x1100, 0x115f }, { 0x2e80, 0x303e }, { 0x3041, 0x33ff },
		{ 0x3400, 0x4dbf }, { 0x4e00, 0x9fff }, { 0xa000, 0xa4cf },
		{ 0xac00, 0xd7a3 }, { 0xf900, 0xfaff }, { 0xfe30, 0xfe4f },
		{ 0xff00, 0xff60 }, { 0xffe0, 0xffe6 }, { 0x1f300, 0x1f64f },
		{ 0x1f900, 0x1f9ff }, { 0x20000, 0x2fffd }, { 0x30000, 0x3fffd },
	};
	size_t i;

	for (i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
		if (c >= zero[i].lo && c <= zero[i].hi)
			return 0;
	for (i = 0; i < sizeof(wide) / sizeof(wide[0]); i++)
		if (c >= wide[i].lo && c <= wide[i].hi)
			return 2;
	return 1;
}

/* Characters a terminal would act on instead of showing (C1, bidi overrides). */
static bool cp_hidden(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x200e || c == 0x200f ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/*
 * Append @s to @b for display on a terminal: control characters, invalid
 * UTF-8 and bidi overrides are shown escaped (\n, \t, \r, \xHH, \uHHHH) so
 * that a row stays on one line and cannot drive the terminal. Returns the
 * width in columns.
 */
static size_t put_display(struct dbos_buf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, width = 0, len;
	char esc[16];
	uint32_t c;

	while (i < n) {
		len = utf8_decode(s + i, n - i, &c);
		if (!len) {
			snprintf(esc, sizeof(esc), "\\x%02x", s[i]);
			len = 1;
		} else if (c == '\n') {
			strcpy(esc, "\\n");
		} else if (c == '\t') {
			strcpy(esc, "\\t");
		} else if (c == '\r') {
			strcpy(esc, "\\r");
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
		} else if (cp_hidden(c)) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		} else {
			dbos_buf_put(b, s + i, len);
			width += cp_width(c);
			i += len;
			continue;
		}
		dbos_buf_put(b, esc, strlen(esc));
		width += strlen(esc);
		i += len;
	}
	return width;
}

/* Shortest "%.Ng" that reads back as @v, always with a '.' or an exponent. */
static void format_double(char *out, size_t size, double v)
{
	int prec;

	if (isinf(v)) {
		snprintf(out, size, "%s", v < 0 ? "-Inf" : "Inf");
		return;
	}
	if (isnan(v)) {
		snprintf(out, size, "NaN");
		return;
	}
	for (prec = 15; prec < 17; prec++) {
		snprintf(out, size, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
	if (prec == 17)
		snprintf(out, size, "%.17g", v);
	if (!strpbrk(out, ".e"))
		strncat(out, ".0", size - strlen(out) - 1);
}

static void put_hex(struct dbos_buf *b, const char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	dbos_buf_put(b, "\\x", 2);
	for (i = 0; i < n; i++) {
		dbos_buf_u8(b, hex[(unsigned char)p[i] >> 4]);
		dbos_buf_u8(b, hex[(unsigned char)p[i] & 15]);
	}
}

/* ---------------------------------------------------------------------- */
/* Output modes                                                           */

/* table: keep a cell; @type decides alignment. */
static void table_cell(struct result *r, const char *s, size_t n, int type,
		       bool raw)
{
	struct cell *c;

	if (r->ncells == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;

		c = realloc(r->cells, cap * sizeof(*c));
		if (!c)
			die_oom();
		r->cells = c;
		r->cap = cap;
	}
	c = &r->cells[r->ncells++];
	c->off = r->text.len;
	c->type = type;
	if (raw) {
		dbos_buf_put(&r->text, s, n);
		c->width = n;
	} else {
		c->width = put_display(&r->text, s, n);
	}
	c->len = r->text.len - c->off;
	buf_check(&r->text);
}

static void table_value(struct result *r, const struct dbos_value *v)
{
	struct dbos_buf tmp;
	char num[64];

	switch (v->type) {
	case DBOS_T_INT:
		snprintf(num, sizeof(num), "%" PRId64, v->i);
		table_cell(r, num, strlen(num), v->type, true);
		break;
	case DBOS_T_FLOAT:
		format_double(num, sizeof(num), v->f);
		table_cell(r, num, strlen(num), v->type, true);
		break;
	case DBOS_T_TEXT:
		table_cell(r, v->s, v->len, v->type, false);
		break;
	case DBOS_T_BLOB:
		dbos_buf_init(&tmp);
		put_hex(&tmp, v->s, v->len);
		buf_check(&tmp);
		table_cell(r, (const char *)tmp.data, tmp.len, v->type, true);
		dbos_buf_free(&tmp);
		break;
	default:
		table_cell(r, "NULL", 4, DBOS_T_NULL, true);
		break;
	}
}

static void pad(FILE *f, size_t n)
{
	while (n--)
		putc(' ', f);
}

/*
 * Print the buffered table: columns two spaces apart, each as wide as its
 * widest cell; numbers right-aligned, and so are the header and NULLs of a
 * column whose values are all numbers. No trailing blanks.
 */
static void table_print(struct shell *sh)
{
	struct result *r = &sh->res;
	size_t ncol = (size_t)r->ncol, row, col;
	size_t *width = calloc(ncol ? ncol : 1, sizeof(*width));
	bool *numeric = calloc(ncol ? ncol : 1, sizeof(*numeric));
	bool *seen_num = calloc(ncol ? ncol : 1, sizeof(*seen_num));
	FILE *f = sh->out;

	if (!width || !numeric || !seen_num)
		die_oom();
	for (col = 0; col < ncol; col++)
		numeric[col] = true;
	for (row = 0; row <= r->nrows; row++) {
		for (col = 0; col < ncol; col++) {
			const struct cell *c = &r->cells[row * ncol + col];

			if (c->width > width[col])
				width[col] = c->width;
			if (row == 0 || c->type == DBOS_T_NULL)
				continue;
			if (c->type == DBOS_T_INT || c->type == DBOS_T_FLOAT)
				seen_num[col] = true;
			else
				numeric[col] = false;
		}
	}
	for (col = 0; col < ncol; col++)
		numeric[col] = numeric[col] && seen_num[col];

	for (row = 0; row <= r->nrows; row++) {
		for (col = 0; col < ncol; col++) {
			const struct cell *c = &r->cells[row * ncol + col];
			bool right = c->type == DBOS_T_INT || c->type == DBOS_T_FLOAT ||
				     ((row == 0 || c->type == DBOS_T_NULL) && numeric[col]);
			size_t fill = width[col] - c->width;

			if (col)
				fputs("  ", f);
			if (right)
				pad(f, fill);
			fwrite(r->text.data + c->off, 1, c->len, f);
			if (!right && col + 1 < ncol)
				pad(f, fill);
		}
		putc('\n', f);
		if (row == 0) {
			for (col = 0; col < ncol; col++) {
				size_t i;

				if (col)
					fputs("  ", f);
				for (i = 0; i < width[col]; i++)
					putc('-', f);
			}
			putc('\n', f);
		}
	}
	free(width);
	free(numeric);
	free(seen_num);
}

/* csv: RFC 4180 quoting; NULL is an empty field, '' a quoted empty one. */
static void csv_field(FILE *f, const char *s, size_t n, bool is_null)
{
	size_t i;

	if (is_null)
		return;
	if (n && !memchr(s, ',', n) && !memchr(s, '"', n) &&
	    !memchr(s, '\n', n) && !memchr(s, '\r', n)) {
		fwrite(s, 1, n, f);
		return;
	}
	putc('"', f);
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			putc('"', f);
		putc(s[i], f);
	}
	putc('"', f);
}

static void csv_value(FILE *f, const struct dbos_value *v)
{
	struct dbos_buf tmp;
	char num[64];

	switch (v->type) {
	case DBOS_T_INT:
		fprintf(f, "%" PRId64, v->i);
		break;
	case DBOS_T_FLOAT:
		format_double(num, sizeof(num), v->f);
		fputs(num, f);
		break;
	case DBOS_T_TEXT:
		csv_field(f, v->s, v->len, false);
		break;
	case DBOS_T_BLOB:
		dbos_buf_init(&tmp);
		put_hex(&tmp, v->s, v->len);
		buf_check(&tmp);
		fwrite(tmp.data, 1, tmp.len, f);
		dbos_buf_free(&tmp);
		break;
	default:
		break;
	}
}

/*
 * json: a JSON string. Invalid UTF-8 becomes U+FFFD so the output is always
 * valid JSON; control characters are escaped.
 */
static void json_string(FILE *f, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, len;
	uint32_t c;

	putc('"', f);
	while (i < n) {
		len = utf8_decode(s + i, n - i, &c);
		if (!len) {
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		switch (c) {
		case '"':  fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				fwrite(s + i, 1, len, f);
		}
		i += len;
	}
	putc('"', f);
}

static void json_value(FILE *f, const struct dbos_value *v)
{
	struct dbos_buf tmp;
	char num[64];

	switch (v->type) {
	case DBOS_T_INT:
		fprintf(f, "%" PRId64, v->i);
		break;
	case DBOS_T_FLOAT:
		/* JSON has no infinity; 1e999 parses back as one. */
		if (isinf(v->f))
			fputs(v->f < 0 ? "-1e999" : "1e999", f);
		else if (isnan(v->f))
			fputs("null", f);
		else {
			format_double(num, sizeof(num), v->f);
			fputs(num, f);
		}
		break;
	case DBOS_T_TEXT:
		json_string(f, v->s, v->len);
		break;
	case DBOS_T_BLOB:
		dbos_buf_init(&tmp);
		put_hex(&tmp, v->s, v->len);
		buf_check(&tmp);
		json_string(f, (const char *)tmp.data, tmp.len);
		dbos_buf_free(&tmp);
		break;
	default:
		fputs("null", f);
		break;
	}
}

/* Column names of the open result (the header cells, kept in every mode). */
static void header_name(const struct result *r, int col, const char **s, size_t *n)
{
	*s = (const char *)r->text.data + r->cells[col].off;
	*n = r->cells[col].len;
}

/* Finish the open result set, if any. */
static void result_end(struct shell *sh)
{
	struct result *r = &sh->res;

	if (r->ncol < 0)
		return;
	if (sh->mode == MODE_TABLE)
		table_print(sh);
	else if (sh->mode == MODE_JSON)
		fputs(r->nrows ? "}]\n" : "[]\n", sh->out);
	r->ncol = -1;
	r->nrows = 0;
	r->ncells = 0;
	dbos_buf_reset(&r->text);
	if (r->text.cap > (1u << 20))
		dbos_buf_free(&r->text);
	if (r->cap > 4096) {
		free(r->cells);
		r->cells = NULL;
		r->cap = 0;
	}
}

static int on_columns(void *arg, int ncol, const char *const *names)
{
	struct shell *sh = arg;
	struct result *r = &sh->res;
	int i;

	result_end(sh);
	r->ncol = ncol;
	/* Keep the names as header cells: displayed form in table mode, raw otherwise. */
	for (i = 0; i < ncol; i++)
		table_cell(r, names[i], strlen(names[i]), DBOS_T_TEXT,
			   sh->mode != MODE_TABLE);
	if (sh->mode == MODE_CSV) {
		for (i = 0; i < ncol; i++) {
			const char *s;
			size_t n;

			header_name(r, i, &s, &n);
			if (i)
				putc(',', sh->out);
			csv_field(sh->out, s, n, false);
		}
		putc('\n', sh->out);
	}
	return 0;
}

static int on_row(void *arg, int ncol, const struct dbos_value *vals)
{
	struct shell *sh = arg;
	struct result *r = &sh->res;
	FILE *f = sh->out;
	int i;

	switch (sh->mode) {
	case MODE_TABLE:
		for (i = 0; i < ncol; i++)
			table_value(r, &vals[i]);
		break;
	case MODE_CSV:
		for (i = 0; i < ncol; i++) {
			if (i)
				putc(',', f);
			csv_value(f, &vals[i]);
		}
		putc('\n', f);
		break;
	case MODE_JSON:
		fputs(r->nrows ? "},\n{" : "[{", f);
		for (i = 0; i < ncol; i++) {
			const char *s;
			size_t n;

			header_name(r, i, &s, &n);
			if (i)
				putc(',', f);
			json_string(f, s, n);
			putc(':', f);
			json_value(f, &vals[i]);
		}
		break;
	}
	r->nrows++;
	return 0;
}

/* Notices go to stderr, after what stdout already holds, as "NOTICE: ...". */
static void on_notice(void *arg, const char *text, size_t len)
{
	fflush(stdout);
	fprintf(stderr, "NOTICE: %.*s\n", (int)len, text);
}

static const struct dbos_callbacks callbacks = {
	.on_columns = on_columns,
	.on_row = on_row,
	.on_notice = on_notice,
};

/* ---------------------------------------------------------------------- */
/* Running SQL and dot-commands                                           */

/* Connect if not connected (to dbosd, or with --fleet to the fleet). 0, or -1 after printing why. */
static int ensure_conn(struct shell *sh)
{
	char *err = NULL;

	if (sh->fleet_opts.url) {
		if (sh->fleet)
			return 0;
		sh->fleet = dbos_fleet_connect(&sh->fleet_opts, &err);
		if (!sh->fleet) {
			fprintf(stderr, "dbos: fleet: %s\n", err ? err : strerror(errno));
			free(err);
			return -1;
		}
		return 0;
	}
	if (sh->conn && !dbos_conn_broken(sh->conn))
		return 0;
	dbos_close(sh->conn);
	sh->conn = dbos_connect(sh->socket, &err);
	if (!sh->conn) {
		fprintf(stderr, "dbos: %s\n", err ? err : strerror(errno));
		free(err);
		return -1;
	}
	return 0;
}

/*
 * Run @sql with @cb. Returns 0, EXIT_SQL after an SQL error, EXIT_CONN when
 * the connection failed, EXIT_PARTIAL when hosts of the fleet are missing
 * from the result (each printed on stderr with why).
 */
static int query(struct shell *sh, const char *sql, const struct dbos_callbacks *cb, void *arg)
{
	const char *host, *why;
	char *err = NULL;
	int ret, missing = 0;

	if (ensure_conn(sh))
		return EXIT_CONN;
	if (sh->fleet) {
		ret = dbos_fleet_query(sh->fleet, sql, cb, arg, &err);
		if (cb == &callbacks)
			result_end(sh);	/* the table is printed before any message */
		fflush(sh->out);
		for (; dbos_fleet_report(sh->fleet, missing, &host, &why); missing++)
			fprintf(stderr, "dbos: fleet: host %s: %s\n", host, why);
	} else {
		ret = dbos_query(sh->conn, sql, cb, arg, &err);
		if (cb == &callbacks)
			result_end(sh);
		fflush(sh->out);
	}
	if (!ret)
		return missing ? EXIT_PARTIAL : 0;
	if (sh->conn && dbos_conn_broken(sh->conn)) {
		fprintf(stderr, "dbos: %s\n", err ? err : "connection lost");
		free(err);
		return EXIT_CONN;
	}
	fprintf(stderr, "Error: %s\n", err ? err : "unknown error");
	free(err);
	return EXIT_SQL;
}

/* Run @sql and print its results; query()'s return values. */
static int run_sql(struct shell *sh, const char *sql)
{
	return query(sh, sql, &callbacks, sh);
}

static void put_str(struct dbos_buf *b, const char *s)
{
	dbos_buf_put(b, s, strlen(s));
}

/* Append @s as an SQL string literal. */
static void put_sql_string(struct dbos_buf *b, const char *s)
{
	dbos_buf_u8(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			dbos_buf_u8(b, '\'');
		dbos_buf_u8(b, (uint8_t)*s);
	}
	dbos_buf_u8(b, '\'');
}

/* Rows of a one-column query, printed raw, one per line. */
struct lines {
	FILE *f;
	size_t n;
	bool semicolon;		/* end each with ';' unless it has one */
};

static int lines_row(void *arg, int ncol, const struct dbos_value *vals)
{
	struct lines *l = arg;

	if (ncol < 1 || !vals[0].s)
		return 0;
	fwrite(vals[0].s, 1, vals[0].len, l->f);
	if (l->semicolon && (!vals[0].len || vals[0].s[vals[0].len - 1] != ';'))
		putc(';', l->f);
	putc('\n', l->f);
	l->n++;
	return 0;
}

static int run_lines(struct shell *sh, const char *sql, struct lines *l)
{
	static const struct dbos_callbacks cb = { .on_row = lines_row };

	l->f = sh->out;
	return query(sh, sql, &cb, l);
}

static const char help_text[] =
	".help                 show this text\n"
	".mode [table|csv|json] show or set the output mode\n"
	".quit, .exit          leave (so does Ctrl-D)\n"
	".schema [TABLE]       show the CREATE TABLE statement of every table, or of one\n"
	".tables [PATTERN]     list the tables (PATTERN as in LIKE)\n"
	"Anything else is SQL, sent to dbosd when it ends with ';'.\n";

/* Result of a dot-command: an exit-status-like code, or DOT_QUIT. */
#define DOT_QUIT	(-1)

/*
 * What .tables and .schema ask: dbosd's dbos_schema; with --fleet, the
 * coordinator's own tables (a host's dbos_schema is a fleet table there,
 * one copy per host), a fleet table's CREATE TABLE as the coordinator has
 * it (host first) rather than the CREATE VIRTUAL TABLE that made it.
 */
#define TABLES_SQL	"SELECT name FROM dbos_schema WHERE type <> 'function'"
#define SCHEMA_SQL	"SELECT sql FROM dbos_schema WHERE true"
#define FLEET_WHERE	" FROM sqlite_schema m WHERE type IN ('table', 'view') AND " \
			"name NOT LIKE 'sqlite!_%' ESCAPE '!'"
#define FLEET_TABLES_SQL "SELECT name" FLEET_WHERE
#define FLEET_SCHEMA_SQL "SELECT CASE WHEN sql LIKE 'CREATE VIRTUAL TABLE%' THEN " \
			"'CREATE TABLE ' || name || '(' || (SELECT group_concat(c.name || " \
			"CASE WHEN c.type <> '' THEN ' ' || c.type ELSE '' END, ', ') " \
			"FROM pragma_table_info(m.name) c) || ')' ELSE sql END" FLEET_WHERE

/*
 * With --fleet, the hosts' tables are learnt when a statement first names
 * one: name one (dbos_schema, which every dbosd has) in a statement that
 * reads nothing, so that .tables and .schema see them. Quiet: an empty fleet
 * has no tables yet, and the coordinator's own are still there.
 */
static void fleet_learn_tables(struct shell *sh)
{
	char *err = NULL;

	if (!sh->fleet || sh->fleet_learnt)
		return;
	if (!dbos_fleet_query(sh->fleet, "SELECT 1 FROM dbos_schema WHERE 0", NULL, NULL, &err))
		sh->fleet_learnt = true;
	free(err);
}

static int dot_command(struct shell *sh, const char *line)
{
	char *copy = strdup(line), *argv[4], *save = NULL, *tok;
	struct lines l = { 0 };
	struct dbos_buf q;
	int argc = 0, ret = 0;

	if (!copy)
		die_oom();
	for (tok = strtok_r(copy, " \t\r\n", &save); tok && argc < 4;
	     tok = strtok_r(NULL, " \t\r\n", &save))
		argv[argc++] = tok;
	dbos_buf_init(&q);
	if (!argc) {
		ret = EXIT_SQL;
	} else if (!strcmp(argv[0], ".quit") || !strcmp(argv[0], ".exit")) {
		ret = DOT_QUIT;
	} else if (!strcmp(argv[0], ".help")) {
		fputs(help_text, sh->out);
	} else if (!strcmp(argv[0], ".mode")) {
		if (argc == 1) {
			fprintf(sh->out, "%s\n", mode_names[sh->mode]);
		} else if (!strcmp(argv[1], "table")) {
			sh->mode = MODE_TABLE;
		} else if (!strcmp(argv[1], "csv")) {
			sh->mode = MODE_CSV;
		} else if (!strcmp(argv[1], "json")) {
			sh->mode = MODE_JSON;
		} else {
			fprintf(stderr, "Error: unknown mode \"%s\" (use table, csv or json)\n",
				argv[1]);
			ret = EXIT_SQL;
		}
	} else if (!strcmp(argv[0], ".tables") || !strcmp(argv[0], ".schema")) {
		bool tables = argv[0][1] == 't';

		if (sh->fleet_opts.url) {
			if (ensure_conn(sh)) {
				ret = EXIT_CONN;
				goto out;
			}
			fleet_learn_tables(sh);
			put_str(&q, tables ? FLEET_TABLES_SQL : FLEET_SCHEMA_SQL);
		} else
			put_str(&q, tables ? TABLES_SQL : SCHEMA_SQL);
		if (argc > 1) {
			put_str(&q, tables ? " AND name LIKE " : " AND name = ");
			put_sql_string(&q, argv[1]);
		}
		put_str(&q, " ORDER BY name");
		dbos_buf_u8(&q, 0);
		buf_check(&q);
		l.semicolon = !tables;
		ret = run_lines(sh, (const char *)q.data, &l);
		if (!ret && !tables && argc > 1 && !l.n) {
			fprintf(stderr, "Error: no such table: %s\n", argv[1]);
			ret = EXIT_SQL;
		}
	} else {
		fprintf(stderr, "Error: unknown command \"%s\" (try .help)\n", argv[0]);
		ret = EXIT_SQL;
	}
out:
	dbos_buf_free(&q);
	free(copy);
	fflush(sh->out);
	return ret;
}

/* Is @s nothing but blanks and SQL comments? */
static bool all_blank(const char *s)
{
	while (*s) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' ||
		    *s == '\f' || *s == '\v') {
			s++;
		} else if (s[0] == '-' && s[1] == '-') {
			while (*s && *s != '\n')
				s++;
		} else if (s[0] == '/' && s[1] == '*') {
			const char *e = strstr(s + 2, "*/");

			if (!e)
				return true;	/* an open comment is still blank */
			s = e + 2;
		} else {
			return false;
		}
	}
	return true;
}

static bool is_dot_line(const char *line)
{
	while (*line == ' ' || *line == '\t')
		line++;
	return *line == '.';
}

/* ---------------------------------------------------------------------- */
/* Input loops                                                            */

/*
 * Run a script read from @f: lines accumulate until sqlite3_complete() says
 * the statement is complete; a line starting with '.' between statements is a
 * dot-command. Stops at the first failure. Returns the exit status.
 */
static int run_script(struct shell *sh, FILE *f)
{
	struct dbos_buf sql;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = 0;

	dbos_buf_init(&sql);
	while (!ret && (n = getline(&line, &cap, f)) >= 0) {
		if (!sql.len && is_dot_line(line)) {
			ret = dot_command(sh, line);
			if (ret == DOT_QUIT)
				ret = 0;
			else if (!ret)
				continue;
			break;
		}
		dbos_buf_put(&sql, line, (size_t)n);
		dbos_buf_u8(&sql, 0);
		buf_check(&sql);
		sql.len--;	/* keep the NUL out of the length */
		if (!sqlite3_complete((const char *)sql.data))
			continue;
		if (!all_blank((const char *)sql.data))
			ret = run_sql(sh, (const char *)sql.data);
		dbos_buf_reset(&sql);
	}
	if (!ret && sql.len) {
		dbos_buf_u8(&sql, 0);
		buf_check(&sql);
		if (!all_blank((const char *)sql.data))
			ret = run_sql(sh, (const char *)sql.data);
	}
	free(line);
	dbos_buf_free(&sql);
	return ret;
}

static char *history_path(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;
	char *path;

	if (!home || !*home) {
		pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home || asprintf(&path, "%s/%s", home, HISTORY_FILE) < 0)
		return NULL;
	return path;
}

/* Add @entry (newlines folded into blanks) to the history and save it. */
static void remember(const char *entry, const char *path)
{
	char *e = strdup(entry), *p;
	size_t n;

	if (!e)
		return;
	for (p = e; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	n = strlen(e);
	while (n && e[n - 1] == ' ')
		e[--n] = 0;
	if (n)
		add_history(e);
	free(e);
	if (path)
		write_history(path);
}

/*
 * Interactive shell on a terminal: prompts, line editing, history. SQL and
 * dot-command errors are reported and the shell goes on. Returns 0, or
 * EXIT_CONN when dbosd cannot be reached at the start.
 */
static int run_interactive(struct shell *sh)
{
	char *hist = history_path(), *line;
	struct dbos_buf sql;
	int ret = 0, fd;

	if (ensure_conn(sh)) {
		free(hist);
		return EXIT_CONN;
	}
	if (sh->fleet) {
		int live = 0, all = dbos_fleet_hosts(sh->fleet, &live);

		printf("dbos: connected to the fleet at %s: %d hosts live (%d known). "
		       "Enter \".help\" for usage hints.\n", sh->fleet_opts.url, live, all);
	} else {
		printf("dbos: connected to %s. Enter \".help\" for usage hints.\n",
		       dbos_conn_path(sh->conn));
	}
	rl_readline_name = "dbos";
	using_history();
	stifle_history(HISTORY_MAX);
	if (hist) {
		/* history may hold secrets: create it private */
		fd = open(hist, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		read_history(hist);
	}
	dbos_buf_init(&sql);
	for (;;) {
		line = readline(sql.len ? PROMPT_CONT : PROMPT);
		if (!line) {		/* Ctrl-D */
			putchar('\n');
			break;
		}
		if (!sql.len && is_dot_line(line)) {
			remember(line, hist);
			ret = dot_command(sh, line);
			free(line);
			if (ret == DOT_QUIT)
				break;
			continue;
		}
		if (sql.len)
			dbos_buf_u8(&sql, '\n');
		dbos_buf_put(&sql, line, strlen(line));
		dbos_buf_u8(&sql, 0);
		buf_check(&sql);
		sql.len--;
		free(line);
		if (all_blank((const char *)sql.data)) {
			dbos_buf_reset(&sql);
			continue;
		}
		if (!sqlite3_complete((const char *)sql.data))
			continue;
		remember((const char *)sql.data, hist);
		run_sql(sh, (const char *)sql.data);	/* reports its errors */
		dbos_buf_reset(&sql);
	}
	dbos_buf_free(&sql);
	free(hist);
	return 0;
}

/* dbos policy versions | dbos policy rollback N: thin wrappers over the SQL. */
static int policy_command(struct shell *sh, int argc, char **argv)
{
	char sql[128];

	if (argc == 1 && !strcmp(argv[0], "versions"))
		return run_sql(sh, "SELECT version, datetime(time, 'unixepoch') AS time, uid, pid, "
				   "action, from_version, rules, live FROM policy_versions ORDER BY version");
	if (argc == 2 && !strcmp(argv[0], "rollback")) {
		const char *n = argv[1];

		if (!n[0] || strspn(n, "0123456789") != strlen(n) || strlen(n) > 19) {
			fprintf(stderr, "dbos: policy rollback: \"%s\" is not a version number\n", n);
			return EXIT_CONN;
		}
		snprintf(sql, sizeof(sql), "SELECT policy_rollback(%s) AS version", n);
		return run_sql(sh, sql);
	}
	fprintf(stderr, "dbos: usage: dbos policy versions | dbos policy rollback VERSION\n");
	return EXIT_CONN;
}

static void usage(FILE *f)
{
	fputs("Usage: dbos [OPTIONS]\n"
	      "       dbos [OPTIONS] policy versions        list the policy versions\n"
	      "       dbos [OPTIONS] policy rollback VERSION  make VERSION's rules live again\n"
	      "Query the state of this machine with SQL, served by dbosd.\n"
	      "\n"
	      "  -c SQL           run SQL (or one dot-command) and exit\n"
	      "  -s, --socket PATH  dbosd's socket (default $" DBOS_SOCKET_ENV
	      " or " DBOS_DEFAULT_SOCKET ")\n"
	      "      --table      print an aligned table (the default)\n"
	      "      --csv        print CSV (RFC 4180 quoting, header row)\n"
	      "      --json       print a JSON array of objects per result\n"
	      "      --fleet URL  query the fleet on the NATS server at URL (nats://host:port)\n"
	      "                   instead of this machine: every host's tables, with a\n"
	      "                   first column `host`, as one database\n"
	      "      --target T   with --fleet: all (default), host:ID or label:NAME\n"
	      "      --fleet-timeout MS  how long to wait for the hosts (default 2000)\n"
	      "      --fleet-creds FILE  NATS credentials (.creds)\n"
	      "      --fleet-ca FILE     TLS: the CA to trust; --fleet-cert/--fleet-key FILE:\n"
	      "                   a client certificate\n"
	      "  -h, --help       show this help\n"
	      "\n"
	      "Without -c, SQL is read from standard input: statement by statement\n"
	      "in an interactive shell on a terminal, otherwise as a script that\n"
	      "stops at the first error.\n"
	      "\n"
	      "Exit status: 0 ok, 1 SQL error, 2 connection or usage error, 3 (--fleet)\n"
	      "hosts missing from the result, or not enforcing the fleet policy just\n"
	      "committed (listed on stderr).\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "csv", no_argument, NULL, 'v' },
		{ "table", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "fleet", required_argument, NULL, 'F' },
		{ "target", required_argument, NULL, 'T' },
		{ "fleet-timeout", required_argument, NULL, 'O' },
		{ "fleet-creds", required_argument, NULL, 'C' },
		{ "fleet-ca", required_argument, NULL, 'A' },
		{ "fleet-cert", required_argument, NULL, 'E' },
		{ "fleet-key", required_argument, NULL, 'K' },
		{ 0 }
	};
	struct shell sh = { .mode = MODE_TABLE, .out = stdout };
	const char *command = NULL;
	int opt, ret;

	sh.res.ncol = -1;
	dbos_buf_init(&sh.res.text);
	while ((opt = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			command = optarg;
			break;
		case 's':
			sh.socket = optarg;
			break;
		case 'j':
			sh.mode = MODE_JSON;
			break;
		case 'v':
			sh.mode = MODE_CSV;
			break;
		case 't':
			sh.mode = MODE_TABLE;
			break;
		case 'F':
			sh.fleet_opts.url = optarg;
			break;
		case 'T':
			sh.fleet_opts.target = optarg;
			break;
		case 'O':
			sh.fleet_opts.timeout_ms = atoi(optarg);
			if (sh.fleet_opts.timeout_ms <= 0) {
				fprintf(stderr, "dbos: --fleet-timeout: \"%s\" is not a number of ms\n",
					optarg);
				return EXIT_CONN;
			}
			break;
		case 'C':
			sh.fleet_opts.creds = optarg;
			break;
		case 'A':
			sh.fleet_opts.ca = optarg;
			break;
		case 'E':
			sh.fleet_opts.cert = optarg;
			break;
		case 'K':
			sh.fleet_opts.key = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_CONN;
		}
	}
	if (optind < argc && !strcmp(argv[optind], "policy") && !command) {
		ret = policy_command(&sh, argc - optind - 1, argv + optind + 1);
		goto out;
	}
	if (optind < argc) {
		fprintf(stderr, "dbos: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return EXIT_CONN;
	}

	if (command) {
		if (is_dot_line(command)) {
			ret = dot_command(&sh, command);
			if (ret == DOT_QUIT)
				ret = 0;
		} else {
			ret = run_sql(&sh, command);
		}
	} else if (isatty(STDIN_FILENO)) {
		ret = run_interactive(&sh);
	} else {
		ret = run_script(&sh, stdin);
	}
out:
	dbos_close(sh.conn);
	dbos_fleet_close(sh.fleet);
	free(sh.res.cells);
	dbos_buf_free(&sh.res.text);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "dbos: cannot write the output: %s\n", strerror(errno));
		return ret ? ret : EXIT_SQL;
	}
	return ret;
}
