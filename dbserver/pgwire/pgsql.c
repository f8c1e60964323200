// SPDX-License-Identifier: GPL-2.0
/* pgsql.c - PostgreSQL SQL text to SQLite SQL, statement by statement, for the wire protocol. */

/*
 * USAGE
 *
 *   const char *p = query_message_text;
 *   struct pgsql_stmt st;
 *
 *   while (!pgsql_next(p, &st, &err, &state) && st.consumed) {
 *           switch (st.kind) { case PGSQL_QUERY: ...prepare st.sql...; ... }
 *           p += st.consumed;
 *           pgsql_stmt_free(&st);
 *   }
 *
 *   SELECT c.oid::pg_catalog.regclass, n.nspname !~ '^pg_' FROM pg_catalog.pg_class c
 *     WHERE c.relname ILIKE 'proc%' AND x IS DISTINCT FROM $1 LIMIT ALL
 *   becomes
 *   SELECT regclass(c.oid), n.nspname NOT REGEXP '^pg_' FROM pg_catalog.pg_class c
 *     WHERE c.relname LIKE 'proc%' AND x IS NOT ?1
 *
 * HOW IT WORKS
 *
 *   Decision (issue 18): a tokenizer-level rewrite, not libpg_query. dbos
 *   runs the statement on SQLite, whose grammar is close to PostgreSQL's for
 *   the queries clients send; what differs is lexical or local (casts,
 *   operators, qualified function names, a few keywords), and a full parse
 *   tree would still have to be printed back as SQLite text, with every
 *   construct SQLite lacks refused anyway. So:
 *
 *   1. lex() cuts one statement (up to a ';' outside strings, comments and
 *      a CREATE TRIGGER's BEGIN ... END) into tokens, PostgreSQL's lexical
 *      rules: '...' strings are kept as they are, E'...' strings are
 *      unescaped and $$...$$ / $tag$...$tag$ strings re-quoted into plain
 *      '...' strings, "..." identifiers are kept, -- and nested slash-star
 *      comments become a space, $n parameters become ?n, and operators are
 *      cut as PostgreSQL cuts them (a trailing + or - is not part of them).
 *      The inside of a string, identifier or comment is never rewritten.
 *   2. The first keywords say what the statement is: SET, SHOW, RESET,
 *      BEGIN, COMMIT, ROLLBACK, DECLARE, FETCH, MOVE, CLOSE, COPY,
 *      DISCARD, DEALLOCATE, LISTEN...: these are parsed here into struct
 *      pgsql_stmt's fields; everything else is a QUERY.
 *   3. A QUERY's tokens are first checked for what SQLite cannot run
 *      (refusals(): the statement becomes PGSQL_UNSUPPORTED, 0A000, see
 *      below), then rewritten in passes (rewrite()), each a small local
 *      rule on the token list: pg_catalog.f( -> f(, public. -> main.,
 *      OPERATOR(pg_catalog.op) -> op, COLLATE x dropped, casts (x::type and
 *      CAST(x AS type)) by type family (cast()), ARRAY[...] and
 *      ARRAY(SELECT ...), type 'literal', = ANY(...), ~ and friends, ILIKE, IS [NOT]
 *      DISTINCT FROM, LIMIT ALL, OFFSET n ROWS, FETCH FIRST n ROWS ONLY,
 *      and the SQL keywords that are functions (current_user, ...). A cast
 *      or ARRAY rewritten becomes one opaque token (T_EXPR), so chained
 *      casts and the rules after it see an operand.
 *      Before them, column_names() gives the outer SELECT's unaliased items
 *      the names PostgreSQL gives them (f(x) is "f", 1::int is "int4", x::int
 *      is "x", an expression is "?column?"), as AS "name": clients read
 *      result columns by those names.
 *   4. The tokens are printed back, a space where there was one.
 *
 *   The functions the rewritten text calls (regclass(), pg_bool(),
 *   pg_array(), pg_array_contains(), regexp(), now(), date_part(), ...) are
 *   registered by catalog.c.
 *
 * TRANSLATED, REFUSED, PASSED TO SQLITE
 *
 *   Translated: x::type and CAST(x AS type); type 'literal'; $n -> ?n;
 *   E'...' and $$...$$ strings; pg_catalog.f( -> f(, public.x -> main.x
 *   (other schema-qualified names are dbos's: pg_catalog.pg_class,
 *   information_schema.tables); OPERATOR(pg_catalog.op); COLLATE dropped;
 *   ILIKE -> LIKE (SQLite's is case-insensitive); ~ !~ ~* !~* ~~ -> REGEXP,
 *   LIKE; IS [NOT] DISTINCT FROM -> IS [NOT]; ARRAY[...], ARRAY(SELECT),
 *   x[i], = ANY / <> ALL; LIMIT ALL, OFFSET n ROWS, FETCH FIRST n ROWS
 *   ONLY; current_user & co.; EXTRACT(f FROM x) -> date_part('f', x);
 *   generate_series/unnest AS t(c) in FROM. Dropped: FOR UPDATE / NO KEY
 *   UPDATE / SHARE / KEY SHARE [OF ...] [NOWAIT | SKIP LOCKED] (a session
 *   is a serializable SQLite transaction: a stale write fails instead of
 *   waiting on a row lock), FROM/JOIN/UPDATE/TABLE ONLY, CREATE/DROP INDEX
 *   CONCURRENTLY. ANALYZE is a no-op (tag ANALYZE).
 *
 *   Refused, 0A000 and a message naming the construct and what to write
 *   instead (refusals(), alias_lists(), classify()): DISTINCT ON, LATERAL,
 *   U&'...' strings, array slices x[a:b], WITH ORDINALITY, column alias lists AS t(a, b)
 *   after a function or subquery in FROM, TABLESAMPLE, intervals (interval
 *   '1 day', ::interval, CAST(x AS interval)), GENERATED ... AS IDENTITY,
 *   SIMILAR TO, AT TIME ZONE, WITHIN GROUP, GROUPING SETS / ROLLUP / CUBE,
 *   FETCH ... WITH TIES, ON CONFLICT ON CONSTRAINT, DELETE ... USING,
 *   SELECT ... INTO, ALTER other than ALTER TABLE (ALTER SYSTEM, ROLE...),
 *   LOCK, GRANT, TRUNCATE, CREATE EXTENSION/SCHEMA/FUNCTION/..., SQL-level
 *   PREPARE/EXECUTE. Only keyword tokens match: never the inside of a
 *   string, a quoted identifier or a comment.
 *
 *   Passed to SQLite as they are (3.40 runs them): true/false, FILTER
 *   (WHERE ...), RETURNING, ON CONFLICT (cols), WITH ... [NOT] MATERIALIZED,
 *   GENERATED ALWAYS AS (expr), NULLS FIRST/LAST, UPDATE ... FROM, window
 *   functions. VACUUM passes and the guard refuses it. Anything else not
 *   recognised passes through, and SQLite reports its own error.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbserver/pgwire/pgsql.h"

enum tok_type {
	T_IDENT,	/* unquoted word, as written */
	T_QIDENT,	/* "quoted identifier", quotes included */
	T_STR,		/* '...' in SQLite's form, quotes included */
	T_NUM,
	T_PARAM,	/* ?n */
	T_OP,		/* operator characters */
	T_PUNCT,	/* ( ) [ ] , ; . : */
	T_CAST,		/* :: */
	T_EXPR,		/* a rewritten operand: opaque */
};

struct tok {
	enum tok_type type;
	bool sp;	/* whitespace (or a comment) before it */
	char *s;
};

struct toks {
	struct tok *v;
	int n, cap;
	bool nomem;
	char *refused;	/* a construct SQLite cannot run: the message (0A000), malloc()ed */
};

struct lexerr {
	char *msg;
	const char *state;
};

static void lexfail(struct lexerr *e, const char *state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void lexfail(struct lexerr *e, const char *state, const char *fmt, ...)
{
	va_list ap;

	if (e->msg)
		return;
	va_start(ap, fmt);
	if (vasprintf(&e->msg, fmt, ap) < 0)
		e->msg = NULL;
	va_end(ap);
	e->state = state;
}

static void toks_free(struct toks *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->v[i].s);
	free(t->v);
	free(t->refused);
	t->v = NULL;
	t->refused = NULL;
	t->n = t->cap = 0;
}

/* Insert a token at @at, taking @s (malloc()ed; NULL: out of memory). */
static void toks_insert(struct toks *t, int at, enum tok_type type, bool sp, char *s)
{
	if (!s) {
		t->nomem = true;
		return;
	}
	if (t->n == t->cap) {
		int cap = t->cap ? 2 * t->cap : 32;
		struct tok *v = realloc(t->v, cap * sizeof(*v));

		if (!v) {
			free(s);
			t->nomem = true;
			return;
		}
		t->v = v;
		t->cap = cap;
	}
	memmove(&t->v[at + 1], &t->v[at], (t->n - at) * sizeof(*t->v));
	t->v[at] = (struct tok){ type, sp, s };
	t->n++;
}

static void toks_push(struct toks *t, enum tok_type type, bool sp, const char *s, size_t len)
{
	toks_insert(t, t->n, type, sp, strndup(s, len));
}

static void toks_delete(struct toks *t, int a, int b)
{
	for (int i = a; i < b; i++)
		free(t->v[i].s);
	memmove(&t->v[a], &t->v[b], (t->n - b) * sizeof(*t->v));
	t->n -= b - a;
}

/* ---- lexing ---------------------------------------------------------------------------- */

static bool ident_start(unsigned char c)
{
	return isalpha(c) || c == '_' || c >= 0x80;
}

static bool ident_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

static bool op_char(char c)
{
	return c && strchr("+-*/<>=~!@#%^&|`?", c);
}

/* @s[0..len) as a SQLite string literal, malloc()ed. */
static char *sql_quote(const char *s, size_t len)
{
	char *q = malloc(2 * len + 3), *o = q;

	if (!q)
		return NULL;
	*o++ = '\'';
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\'')
			*o++ = '\'';
		*o++ = s[i];
	}
	*o++ = '\'';
	*o = 0;
	return q;
}

/* Append UTF-8 of @cp to @o. */
static char *put_utf8(char *o, unsigned long cp)
{
	if (cp < 0x80) {
		*o++ = cp;
	} else if (cp < 0x800) {
		*o++ = 0xc0 | (cp >> 6);
		*o++ = 0x80 | (cp & 0x3f);
	} else if (cp < 0x10000) {
		*o++ = 0xe0 | (cp >> 12);
		*o++ = 0x80 | ((cp >> 6) & 0x3f);
		*o++ = 0x80 | (cp & 0x3f);
	} else {
		*o++ = 0xf0 | (cp >> 18);
		*o++ = 0x80 | ((cp >> 12) & 0x3f);
		*o++ = 0x80 | ((cp >> 6) & 0x3f);
		*o++ = 0x80 | (cp & 0x3f);
	}
	return o;
}

/* An E'...' string starting at @p (after the E): its text unescaped, quoted for SQLite; *@end past it. */
static char *estring(const char *p, const char **end, struct lexerr *e)
{
	size_t n = strlen(p);
	char *buf = malloc(n + 4), *o = buf, *q;

	if (!buf)
		return NULL;
	for (p++;; p++) {
		if (!*p) {
			free(buf);
			lexfail(e, "42601", "unterminated quoted string");
			return NULL;
		}
		if (*p == '\'') {
			if (p[1] == '\'') {
				*o++ = '\'';
				p++;
				continue;
			}
			break;
		}
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 0:
			free(buf);
			lexfail(e, "42601", "unterminated quoted string");
			return NULL;
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case 'r': *o++ = '\r'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'x': {
			unsigned v = 0;
			int k;

			for (k = 0; k < 2 && isxdigit((unsigned char)p[1]); k++)
				v = v * 16 + (isdigit((unsigned char)p[1]) ? p[1] - '0' :
					      (tolower((unsigned char)p[1]) - 'a' + 10)), p++;
			if (!k) {
				*o++ = 'x';
				break;
			}
			if (!v) {
				free(buf);
				lexfail(e, "22021", "invalid byte sequence for encoding \"UTF8\": 0x00");
				return NULL;
			}
			*o++ = v;
			break;
		}
		case 'u':
		case 'U': {
			int digits = *p == 'u' ? 4 : 8, k;
			unsigned long cp = 0;

			for (k = 0; k < digits && isxdigit((unsigned char)p[1]); k++, p++)
				cp = cp * 16 + (isdigit((unsigned char)p[1]) ? p[1] - '0' :
						(tolower((unsigned char)p[1]) - 'a' + 10));
			if (k != digits || !cp || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) {
				free(buf);
				lexfail(e, "22P06", "invalid Unicode escape in E'...' string");
				return NULL;
			}
			o = put_utf8(o, cp);
			break;
		}
		default:
			if (*p >= '0' && *p <= '7') {
				unsigned v = *p - '0';

				for (int k = 0; k < 2 && p[1] >= '0' && p[1] <= '7'; k++)
					v = v * 8 + (*++p - '0');
				if (!(v & 0xff)) {
					free(buf);
					lexfail(e, "22021", "invalid byte sequence for encoding \"UTF8\": 0x00");
					return NULL;
				}
				*o++ = v & 0xff;
			} else {
				*o++ = *p;	/* \\ \' \" and any other: the character */
			}
		}
	}
	*end = p + 1;
	q = sql_quote(buf, o - buf);
	free(buf);
	return q;
}

static bool word_is(const char *s, size_t len, const char *w)
{
	return strlen(w) == len && !strncasecmp(s, w, len);
}

/*
 * Cut the statement at @text into @t: up to and through its ';' (or the
 * end). Returns the bytes used, or 0 with @e set.
 */
/* Past the quote that closes the one at @p ('...' or "...", doubled to escape), or NULL. */
static const char *quoted_end(const char *p)
{
	char q = *p;

	for (p++; *p; p++) {
		if (*p != q)
			continue;
		if (p[1] != q)
			return p + 1;
		p++;
	}
	return NULL;
}

static size_t lex(const char *text, struct toks *t, struct lexerr *e)
{
	const char *p = text;
	bool sp = false;
	int trigger = 0;	/* 1: CREATE ... TRIGGER seen; then BEGIN/CASE ... END depth + 1 */

	while (*p && !t->nomem) {
		const char *s = p;

		if (isspace((unsigned char)*p)) {
			p++;
			sp = true;
			continue;
		}
		if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
			sp = true;
			continue;
		}
		if (p[0] == '/' && p[1] == '*') {
			int depth = 0;

			while (*p) {
				if (p[0] == '/' && p[1] == '*') {
					depth++;
					p += 2;
				} else if (p[0] == '*' && p[1] == '/') {
					p += 2;
					if (!--depth)
						break;
				} else {
					p++;
				}
			}
			if (depth) {
				lexfail(e, "42601", "unterminated /* comment");
				return 0;
			}
			sp = true;
			continue;
		}
		if ((*p == 'E' || *p == 'e') && p[1] == '\'') {
			char *q = estring(p + 1, &p, e);

			if (!q) {
				if (!e->msg)
					t->nomem = true;
				return 0;
			}
			toks_insert(t, t->n, T_STR, sp, q);
		} else if (*p == '\'' || ((*p == 'X' || *p == 'x') && p[1] == '\'')) {
			bool blob = *p != '\'';

			p = quoted_end(p + (blob ? 1 : 0));
			if (!p) {
				lexfail(e, "42601", "unterminated quoted string at or near \"%.20s\"", s);
				return 0;
			}
			toks_push(t, blob ? T_EXPR : T_STR, sp, s, p - s);
		} else if (*p == '"') {
			p = quoted_end(p);
			if (!p) {
				lexfail(e, "42601", "unterminated quoted identifier at or near \"%.20s\"", s);
				return 0;
			}
			if (p - s == 2) {
				lexfail(e, "42601", "zero-length delimited identifier at or near \"\"\"\"");
				return 0;
			}
			toks_push(t, T_QIDENT, sp, s, p - s);
		} else if (*p == '$' && isdigit((unsigned char)p[1])) {
			char buf[32];

			for (p++; isdigit((unsigned char)*p); p++)
				;
			if (p - s > 10 || ident_char(*p)) {
				lexfail(e, "42601", "syntax error at or near \"%.*s\"", (int)(p - s + 1), s);
				return 0;
			}
			snprintf(buf, sizeof(buf), "?%.*s", (int)(p - s - 1), s + 1);
			toks_push(t, T_PARAM, sp, buf, strlen(buf));
		} else if (*p == '$') {
			/* $tag$ ... $tag$ */
			const char *tag = p, *body, *close;
			size_t taglen;

			for (p++; ident_char(*p) && *p != '$'; p++)
				if (p == tag + 1 && isdigit((unsigned char)*p))
					break;
			if (*p != '$') {
				lexfail(e, "42601", "syntax error at or near \"$\"");
				return 0;
			}
			taglen = p + 1 - tag;
			body = p + 1;
			for (close = body; *close; close++)
				if (!strncmp(close, tag, taglen))
					break;
			if (!*close) {
				lexfail(e, "42601", "unterminated dollar-quoted string at or near \"%.*s\"",
					(int)taglen, tag);
				return 0;
			}
			toks_insert(t, t->n, T_STR, sp, sql_quote(body, close - body));
			p = close + taglen;
		} else if (ident_start(*p)) {
			while (ident_char(*p))
				p++;
			toks_push(t, T_IDENT, sp, s, p - s);
			if (word_is(s, p - s, "trigger") && t->n >= 2 && t->v[0].type == T_IDENT &&
			    !strcasecmp(t->v[0].s, "create") && !trigger)
				trigger = 1;
			else if (trigger && (word_is(s, p - s, "begin") || word_is(s, p - s, "case")))
				trigger++;
			else if (trigger > 1 && word_is(s, p - s, "end"))
				trigger--;
		} else if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
			if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && isxdigit((unsigned char)p[2])) {
				for (p += 2; isxdigit((unsigned char)*p); p++)
					;
			} else {
				while (isdigit((unsigned char)*p))
					p++;
				if (*p == '.' && p[1] != '.')
					for (p++; isdigit((unsigned char)*p); p++)
						;
				if ((*p == 'e' || *p == 'E') &&
				    (isdigit((unsigned char)p[1]) ||
				     ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2]))))
					for (p += 2; isdigit((unsigned char)*p); p++)
						;
			}
			toks_push(t, T_NUM, sp, s, p - s);
		} else if (p[0] == ':' && p[1] == ':') {
			p += 2;
			toks_push(t, T_CAST, sp, s, 2);
		} else if (op_char(*p)) {
			bool special = false;

			while (op_char(*p) && !(p > s && ((p[0] == '-' && p[1] == '-') ||
							  (p[0] == '/' && p[1] == '*'))))
				p++;
			for (const char *c = s; c < p; c++)
				if (strchr("~!@#%^&|`?", *c))
					special = true;
			/* PostgreSQL: a multi-character operator ends in + or - only if special. */
			while (!special && p - s > 1 && (p[-1] == '+' || p[-1] == '-'))
				p--;
			toks_push(t, T_OP, sp, s, p - s);
		} else {
			p++;
			if (*s == ';' && trigger <= 1)
				return p - text;
			toks_push(t, T_PUNCT, sp, s, 1);
		}
		sp = false;
	}
	return p - text;
}

/* ---- helpers over tokens ----------------------------------------------------------------- */

static bool is_kw(const struct toks *t, int i, const char *w)
{
	return i >= 0 && i < t->n && t->v[i].type == T_IDENT && !strcasecmp(t->v[i].s, w);
}

static bool is_p(const struct toks *t, int i, const char *p)
{
	return i >= 0 && i < t->n && (t->v[i].type == T_PUNCT || t->v[i].type == T_OP ||
				      t->v[i].type == T_CAST) && !strcmp(t->v[i].s, p);
}

static bool is_name(const struct toks *t, int i)
{
	return i >= 0 && i < t->n && (t->v[i].type == T_IDENT || t->v[i].type == T_QIDENT);
}

/* The text inside quotes @q ('...' or "...", the quote doubled inside), malloc()ed. */
static char *unquote(const char *q)
{
	size_t n = strlen(q), j = 0;
	char *s = malloc(n);

	if (!s)
		return NULL;
	for (size_t i = 1; i + 1 < n; i++) {
		s[j++] = q[i];
		if (q[i] == q[0])
			i++;
	}
	s[j] = 0;
	return s;
}

/* The name a token spells: unquoted ones lower-cased, quoted ones as written. malloc()ed. */
static char *name_of(const struct tok *k)
{
	char *s;

	if (k->type == T_QIDENT || k->type == T_STR)
		return unquote(k->s);
	s = strdup(k->s);
	for (char *c = s; c && *c; c++)
		*c = tolower((unsigned char)*c);
	return s;
}

/* Index of the bracket matching the opening one at @i, or -1. */
static int match_close(const struct toks *t, int i)
{
	const char *open = t->v[i].s, *close = *open == '(' ? ")" : "]";
	int depth = 0;

	for (int j = i; j < t->n; j++) {
		if (is_p(t, j, open))
			depth++;
		else if (is_p(t, j, close) && !--depth)
			return j;
	}
	return -1;
}

static int match_open(const struct toks *t, int i)
{
	const char *close = t->v[i].s, *open = *close == ')' ? "(" : "[";
	int depth = 0;

	for (int j = i; j >= 0; j--) {
		if (is_p(t, j, close))
			depth++;
		else if (is_p(t, j, open) && !--depth)
			return j;
	}
	return -1;
}

/* Words that end an operand on their left: never a function's name. */
static bool reserved(const struct tok *k)
{
	static const char *const words[] = {
		"and", "or", "not", "in", "where", "select", "on", "when", "then", "else", "is",
		"like", "any", "all", "some", "exists", "from", "as", "by", "case", "values",
		"using", "having", "between", "return", "returning", "set", "array", "limit",
		"offset", "join", "distinct", "union", "except", "intersect", "glob", "regexp",
		"match", "escape", "end", "with", "into",
	};

	if (k->type != T_IDENT)
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(k->s, words[i]))
			return true;
	return false;
}

/* Start of the qualified name ending at @i (a.b.c). */
static int qualified_start(const struct toks *t, int i)
{
	while (i >= 2 && is_p(t, i - 1, ".") && is_name(t, i - 2) && !t->v[i - 1].sp &&
	       !t->v[i].sp)
		i -= 2;
	return i;
}

/* The first token of the operand that ends just before @i, or -1. */
static int left_operand(const struct toks *t, int i)
{
	int j = i - 1, k;

	if (j < 0)
		return -1;
	if (is_p(t, j, ")")) {
		k = match_open(t, j);
		if (k < 0)
			return -1;
		if (k > 0 && is_name(t, k - 1) && !reserved(&t->v[k - 1]))
			return qualified_start(t, k - 1);
		return k;
	}
	if (is_p(t, j, "]")) {
		k = match_open(t, j);
		if (k < 0)
			return -1;
		if (is_kw(t, k - 1, "array"))
			return k - 1;
		return left_operand(t, k);	/* a subscript: x[i] */
	}
	if (is_name(t, j) && !reserved(&t->v[j]))
		return qualified_start(t, j);
	if (t->v[j].type == T_STR || t->v[j].type == T_NUM || t->v[j].type == T_PARAM ||
	    t->v[j].type == T_EXPR)
		return j;
	return -1;
}

/* Tokens [a, b) printed back. malloc()ed. */
static char *print(const struct toks *t, int a, int b)
{
	size_t n = 1;
	char *s, *o;

	for (int i = a; i < b; i++)
		n += strlen(t->v[i].s) + 1;
	s = o = malloc(n);
	if (!s)
		return NULL;
	for (int i = a; i < b; i++) {
		const struct tok *k = &t->v[i];
		bool wordy = k->type != T_PUNCT && k->type != T_CAST;

		if (i > a && (k->sp || (wordy && t->v[i - 1].type != T_PUNCT &&
					t->v[i - 1].type != T_CAST &&
					(k->type != T_OP) == (t->v[i - 1].type != T_OP))))
			*o++ = ' ';
		o = stpcpy(o, k->s);
	}
	*o = 0;
	return s;
}

static void rewrite(struct toks *t);

/*
 * Tokens [a, b) rewritten on their own and printed: what goes inside a
 * T_EXPR must be translated first, as the rules after the fold do not see
 * into it. malloc()ed; NULL: out of memory (and @t->nomem).
 */
static char *rewritten(struct toks *t, int a, int b)
{
	struct toks q = { 0 };
	char *s = NULL;

	for (int i = a; i < b; i++)
		toks_insert(&q, q.n, t->v[i].type, t->v[i].sp, strdup(t->v[i].s));
	if (!q.nomem)
		rewrite(&q);
	if (!q.nomem)
		s = print(&q, 0, q.n);
	if (q.refused && !t->refused) {
		t->refused = q.refused;
		q.refused = NULL;
	}
	toks_free(&q);
	if (!s)
		t->nomem = true;
	return s;
}

/* Replace [a, b) with one T_EXPR printf'ed from @fmt. */
static void replace(struct toks *t, int a, int b, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void replace(struct toks *t, int a, int b, const char *fmt, ...)
{
	bool sp = a < t->n ? t->v[a].sp : true;
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	toks_delete(t, a, b);
	toks_insert(t, a, T_EXPR, sp, s);
}

/* ---- types --------------------------------------------------------------------------------- */

/*
 * Parse the type name at @i (pg_catalog.int4, double precision, character
 * varying(10), timestamp with time zone, text[], "char"): its end (exclusive)
 * and its family: the SQLite type, or the function that casts to it (reg*,
 * bool), or "" (an array: the value is kept as it is, PostgreSQL's text form).
 */
static int parse_type(const struct toks *t, int i, const char **family, const char **fn)
{
	static const struct {
		const char *name;
		const char *family;	/* SQLite type, or NULL: the function below */
		const char *fn;
	} types[] = {
		{ "int", "INTEGER" }, { "int2", "INTEGER" }, { "int4", "INTEGER" },
		{ "int8", "INTEGER" }, { "integer", "INTEGER" }, { "smallint", "INTEGER" },
		{ "bigint", "INTEGER" }, { "oid", "INTEGER" }, { "xid", "INTEGER" },
		{ "xid8", "INTEGER" }, { "cid", "INTEGER" }, { "serial", "INTEGER" },
		{ "bigserial", "INTEGER" }, { "smallserial", "INTEGER" },
		{ "float", "REAL" }, { "float4", "REAL" }, { "float8", "REAL" }, { "real", "REAL" },
		{ "double precision", "REAL" }, { "numeric", "REAL" }, { "decimal", "REAL" },
		{ "money", "REAL" },
		{ "bytea", "BLOB" },
		{ "bool", NULL, "pg_bool" }, { "boolean", NULL, "pg_bool" },
		{ "regclass", NULL, "regclass" }, { "regtype", NULL, "regtype" },
		{ "regproc", NULL, "regproc" }, { "regprocedure", NULL, "regproc" },
		{ "regnamespace", NULL, "regnamespace" }, { "regrole", NULL, "regrole" },
		{ "regoper", NULL, "regproc" }, { "regoperator", NULL, "regproc" },
		{ "regconfig", NULL, "regproc" },
		{ "int2vector", "" }, { "oidvector", "" },
	};
	char name[96] = "";
	int j = i;

	*family = "TEXT";	/* text, varchar, name, char, json, uuid, dates and times... */
	*fn = NULL;
	if (is_kw(t, j, "pg_catalog") && is_p(t, j + 1, ".") && is_name(t, j + 2))
		j += 2;
	if (!is_name(t, j) || reserved(&t->v[j]))
		return -1;
	if (t->v[j].type == T_QIDENT) {
		/* "char", "any"...: text */
		j++;
	} else {
		snprintf(name, sizeof(name), "%s", t->v[j].s);
		j++;
		if (!strcasecmp(name, "double") && is_kw(t, j, "precision")) {
			strcpy(name, "double precision");
			j++;
		} else if ((!strcasecmp(name, "character") || !strcasecmp(name, "bit") ||
			    !strcasecmp(name, "char")) && is_kw(t, j, "varying")) {
			j++;
		} else if ((!strcasecmp(name, "timestamp") || !strcasecmp(name, "time")) &&
			   (is_kw(t, j, "with") || is_kw(t, j, "without")) &&
			   is_kw(t, j + 1, "time") && is_kw(t, j + 2, "zone")) {
			j += 3;
		}
		for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
			if (!strcasecmp(types[k].name, name)) {
				*family = types[k].family;
				*fn = types[k].fn;
				break;
			}
	}
	if (is_p(t, j, "(")) {
		int k = match_close(t, j);

		if (k < 0)
			return -1;
		j = k + 1;
	}
	if ((!strcasecmp(name, "timestamp") || !strcasecmp(name, "time")) &&
	    (is_kw(t, j, "with") || is_kw(t, j, "without")) && is_kw(t, j + 1, "time") &&
	    is_kw(t, j + 2, "zone"))
		j += 3;
	while (is_p(t, j, "[")) {
		int k = match_close(t, j);

		if (k < 0)
			return -1;
		j = k + 1;
		*family = "";
		*fn = NULL;
	}
	if (is_kw(t, j, "array")) {	/* int4 ARRAY */
		j++;
		*family = "";
		*fn = NULL;
	}
	return j;
}

/* The reg* cast functions (regclass(x) ...): their result as text is a name, not an oid. */
static const char *const reg_fns[] = { "regclass", "regtype", "regproc", "regnamespace", "regrole" };

/* @operand cast to the type family: the text of the cast. malloc()ed by replace(). */
static void cast_to(struct toks *t, int a, int b, const char *operand, const char *family,
		    const char *fn)
{
	/* x::regclass::text: the name (regclass_name(x)), as PostgreSQL prints a regclass */
	for (size_t k = 0; k < sizeof(reg_fns) / sizeof(reg_fns[0]) && !fn && family &&
	     !strcmp(family, "TEXT") && t->v[a].type == T_EXPR && is_p(t, a + 1, "::"); k++) {
		size_t n = strlen(reg_fns[k]);

		if (!strncmp(operand, reg_fns[k], n) && operand[n] == '(') {
			replace(t, a, b, "%s_name%s", reg_fns[k], operand + n);
			return;
		}
	}
	if (fn)
		replace(t, a, b, "%s(%s)", fn, operand);
	else if (!*family)
		replace(t, a, b, "%s", operand);
	else
		replace(t, a, b, "CAST(%s AS %s)", operand, family);
}

/* type 'literal' (date '2026-01-01', interval '1 hour', int '5'): as 'literal'::type. */
static void typed_literals(struct toks *t)
{
	static const char *const words[] = {
		"date", "timestamp", "timestamptz", "time", "timetz", "interval", "text", "varchar",
		"bool", "boolean", "int", "int2", "int4", "int8", "integer", "bigint", "smallint",
		"numeric", "real", "float4", "float8", "oid", "regclass", "regtype", "regproc",
		"regnamespace", "json", "jsonb", "uuid", "inet", "bytea", "name",
	};

	for (int i = 0; i + 1 < t->n && !t->nomem; i++) {
		bool typed = false;

		if (t->v[i].type != T_IDENT || t->v[i + 1].type != T_STR || is_p(t, i - 1, ".") ||
		    is_kw(t, i - 1, "as"))
			continue;
		for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++)
			typed |= !strcasecmp(t->v[i].s, words[k]);
		if (!typed)
			continue;
		/* swap: 'literal' :: type */
		{
			struct tok type = t->v[i];

			t->v[i] = t->v[i + 1];
			t->v[i].sp = type.sp;
			t->v[i + 1] = type;
			t->v[i + 1].sp = false;
			toks_insert(t, i + 1, T_CAST, false, strdup("::"));
			i += 2;
		}
	}
}

/* x::type, left to right (so that chains nest). */
static void casts(struct toks *t)
{
	for (int i = 0; i < t->n && !t->nomem; i++) {
		const char *family, *fn;
		int a, b;
		char *operand;

		if (t->v[i].type != T_CAST)
			continue;
		a = left_operand(t, i);
		b = parse_type(t, i + 1, &family, &fn);
		if (a < 0 || b < 0)
			continue;	/* SQLite will say what is wrong */
		operand = rewritten(t, a, i);
		if (!operand)
			return;
		cast_to(t, a, b, operand, family, fn);
		free(operand);
		i = a;
	}
}

/* CAST(x AS pgtype): the type mapped; CAST(x AS regclass) -> regclass(x). */
static void cast_calls(struct toks *t)
{
	for (int i = 0; i < t->n && !t->nomem; i++) {
		const char *family, *fn;
		int close, as = -1, depth = 0, end;
		char *operand;

		if (!is_kw(t, i, "cast") || !is_p(t, i + 1, "("))
			continue;
		close = match_close(t, i + 1);
		if (close < 0)
			continue;
		for (int j = i + 2; j < close; j++) {
			if (is_p(t, j, "(") || is_p(t, j, "["))
				depth++;
			else if (is_p(t, j, ")") || is_p(t, j, "]"))
				depth--;
			else if (!depth && is_kw(t, j, "as"))
				as = j;
		}
		if (as < 0)
			continue;
		end = parse_type(t, as + 1, &family, &fn);
		if (end != close)
			continue;
		operand = rewritten(t, i + 2, as);
		if (!operand)
			return;
		cast_to(t, i, close + 1, operand, family, fn);
		free(operand);
	}
}

/* ---- rules ----------------------------------------------------------------------------------- */

/* pg_catalog.f( -> f(; public.x -> main.x; OPERATOR(pg_catalog.~) -> ~; COLLATE x -> nothing. */
static void qualifiers(struct toks *t)
{
	for (int i = 0; i < t->n && !t->nomem; i++) {
		if ((is_kw(t, i, "pg_catalog") || (t->v[i].type == T_QIDENT &&
						    !strcmp(t->v[i].s, "\"pg_catalog\""))) &&
		    is_p(t, i + 1, ".") && is_name(t, i + 2) && is_p(t, i + 3, "(")) {
			bool sp = t->v[i].sp;

			toks_delete(t, i, i + 2);
			t->v[i].sp = sp;
			continue;
		}
		if ((is_kw(t, i, "public") || (t->v[i].type == T_QIDENT &&
						!strcmp(t->v[i].s, "\"public\""))) &&
		    is_p(t, i + 1, ".") && is_name(t, i + 2) && !is_p(t, i - 1, ".")) {
			free(t->v[i].s);
			t->v[i].s = strdup("main");
			t->v[i].type = T_IDENT;
			if (!t->v[i].s)
				t->nomem = true;
			continue;
		}
		if (is_kw(t, i, "operator") && is_p(t, i + 1, "(")) {
			int close = match_close(t, i + 1);

			if (close > i + 2 && t->v[close - 1].type == T_OP) {
				char *op = strdup(t->v[close - 1].s);

				if (!op) {
					t->nomem = true;
					return;
				}
				toks_delete(t, i, close + 1);
				toks_insert(t, i, T_OP, true, op);
			}
			continue;
		}
		if (is_kw(t, i, "collate") && is_name(t, i + 1)) {
			int end = i + 2;

			if (is_p(t, end, ".") && is_name(t, end + 1))
				end += 2;
			if (end == i + 2 && t->v[i + 1].type == T_IDENT &&
			    (!strcasecmp(t->v[i + 1].s, "nocase") || !strcasecmp(t->v[i + 1].s, "binary") ||
			     !strcasecmp(t->v[i + 1].s, "rtrim")))
				continue;	/* SQLite's own */
			toks_delete(t, i, end);
			i--;
		}
	}
}

/* ARRAY[a, b] -> pg_array(a, b); ARRAY(SELECT ...) -> the column as a PostgreSQL array text. */
static void arrays(struct toks *t)
{
	for (int i = 0; i < t->n && !t->nomem; i++) {
		int close;
		char *inner;

		if (!is_kw(t, i, "array"))
			continue;
		if (is_p(t, i + 1, "[")) {
			close = match_close(t, i + 1);
			if (close < 0)
				continue;
			inner = rewritten(t, i + 2, close);
			if (!inner)
				return;
			replace(t, i, close + 1, "pg_array(%s)", inner);
			free(inner);
		} else if (is_p(t, i + 1, "(") && (is_kw(t, i + 2, "select") || is_kw(t, i + 2, "with") ||
						    is_kw(t, i + 2, "values"))) {
			close = match_close(t, i + 1);
			if (close < 0)
				continue;
			inner = rewritten(t, i + 2, close);
			if (!inner)
				return;
			replace(t, i, close + 1,
				"(WITH pg_array_rows(v) AS (%s) SELECT pg_array_agg(v) FROM pg_array_rows)",
				inner);
			free(inner);
		}
	}
}

/* x[i] -> pg_array_get(x, i) (PostgreSQL's arrays are text here, '{a,b}'); slices stay. */
static void subscripts(struct toks *t)
{
	for (int i = 1; i < t->n && !t->nomem; i++) {
		int close, a;
		char *x, *idx;

		if (!is_p(t, i, "[") || t->v[i].sp || is_kw(t, i - 1, "array"))
			continue;
		if (!(is_p(t, i - 1, ")") || is_name(t, i - 1) || t->v[i - 1].type == T_EXPR) ||
		    (is_name(t, i - 1) && reserved(&t->v[i - 1])))
			continue;
		close = match_close(t, i);
		a = left_operand(t, i);
		if (close < 0 || a < 0)
			continue;
		for (int j = i + 1; j < close; j++)
			if (is_p(t, j, ":"))
				goto next;
		x = rewritten(t, a, i);
		idx = rewritten(t, i + 1, close);
		if (!x || !idx) {
			free(x);
			free(idx);
			t->nomem = true;
			return;
		}
		replace(t, a, close + 1, "pg_array_get(%s, %s)", x, idx);
		free(x);
		free(idx);
		i = a;
next:
		;
	}
}

/*
 * x = ANY(ARRAY[...]) / x = ANY('{a,b}') -> x IN (...); x = ANY(expr) ->
 * pg_array_contains(expr, x); x <> ALL(...) -> NOT ...
 */
static void any_all(struct toks *t)
{
	for (int i = 1; i < t->n && !t->nomem; i++) {
		bool any = is_kw(t, i, "any") || is_kw(t, i, "some"), neg;
		int close, a;
		char *x, *arr;

		if (!(any || is_kw(t, i, "all")) || !is_p(t, i + 1, "(") ||
		    !(is_p(t, i - 1, "=") || is_p(t, i - 1, "<>") || is_p(t, i - 1, "!=")))
			continue;
		if (is_kw(t, i + 2, "select") || is_kw(t, i + 2, "values") || is_kw(t, i + 2, "with"))
			continue;	/* = ANY (subquery): SQLite's IN, below */
		neg = !is_p(t, i - 1, "=");
		if (any == neg)
			continue;	/* <> ANY, = ALL: no equivalent */
		close = match_close(t, i + 1);
		a = left_operand(t, i - 1);
		if (close < 0 || a < 0)
			continue;
		x = rewritten(t, a, i - 1);
		arr = rewritten(t, i + 2, close);
		if (!x || !arr) {
			free(x);
			free(arr);
			t->nomem = true;
			return;
		}
		if (close == i + 3 && t->v[i + 2].type == T_EXPR && !strncmp(arr, "pg_array(", 9) &&
		    arr[strlen(arr) - 1] == ')') {
			replace(t, a, close + 1, "%s %sIN (%.*s)", x, neg ? "NOT " : "",
				(int)strlen(arr) - 10, arr + 9);
		} else {
			replace(t, a, close + 1, "%spg_array_contains(%s, %s)", neg ? "NOT " : "", arr, x);
		}
		free(x);
		free(arr);
		i = a;
	}
	/* x = ANY (SELECT ...) -> x IN (SELECT ...) */
	for (int i = 1; i < t->n && !t->nomem; i++)
		if ((is_kw(t, i, "any") || is_kw(t, i, "some")) && is_p(t, i - 1, "=") &&
		    is_p(t, i + 1, "(")) {
			toks_delete(t, i - 1, i);
			free(t->v[i - 1].s);
			t->v[i - 1].s = strdup("IN");
			if (!t->v[i - 1].s)
				t->nomem = true;
		}
}

static void set_text(struct toks *t, int i, enum tok_type type, const char *s)
{
	free(t->v[i].s);
	t->v[i].s = strdup(s);
	t->v[i].type = type;
	if (!t->v[i].s)
		t->nomem = true;
}

/* Is the token before @i something a binary operator can follow (an operand's end)? */
static bool after_operand(const struct toks *t, int i)
{
	if (i <= 0)
		return false;
	if (is_p(t, i - 1, ")") || is_p(t, i - 1, "]"))
		return true;
	if (t->v[i - 1].type == T_IDENT)
		return !reserved(&t->v[i - 1]) || is_kw(t, i - 1, "end");
	return t->v[i - 1].type == T_QIDENT || t->v[i - 1].type == T_STR ||
	       t->v[i - 1].type == T_NUM || t->v[i - 1].type == T_PARAM ||
	       t->v[i - 1].type == T_EXPR;
}

/* ~ !~ ~* !~* ~~ !~~ ~~* !~~* ILIKE; IS [NOT] DISTINCT FROM; != stays (SQLite has it). */
static void operators(struct toks *t)
{
	for (int i = 0; i < t->n && !t->nomem; i++) {
		const char *s = t->v[i].s;

		if (t->v[i].type == T_OP && after_operand(t, i)) {
			if (!strcmp(s, "~")) {
				set_text(t, i, T_IDENT, "REGEXP");
			} else if (!strcmp(s, "!~")) {
				set_text(t, i, T_IDENT, "NOT REGEXP");
			} else if (!strcmp(s, "~*") || !strcmp(s, "!~*")) {
				set_text(t, i, T_IDENT, *s == '!' ? "NOT REGEXP" : "REGEXP");
				toks_insert(t, i + 1, T_EXPR, true, strdup("'(?i)' ||"));
			} else if (!strcmp(s, "~~") || !strcmp(s, "~~*")) {
				set_text(t, i, T_IDENT, "LIKE");
			} else if (!strcmp(s, "!~~") || !strcmp(s, "!~~*")) {
				set_text(t, i, T_IDENT, "NOT LIKE");
			}
			continue;
		}
		if (is_kw(t, i, "ilike")) {
			set_text(t, i, T_IDENT, "LIKE");
			continue;
		}
		if (is_kw(t, i, "is") && is_kw(t, i + 1, "distinct") && is_kw(t, i + 2, "from")) {
			toks_delete(t, i + 1, i + 3);
			toks_insert(t, i + 1, T_IDENT, true, strdup("NOT"));
			continue;
		}
		if (is_kw(t, i, "is") && is_kw(t, i + 1, "not") && is_kw(t, i + 2, "distinct") &&
		    is_kw(t, i + 3, "from")) {
			toks_delete(t, i + 1, i + 4);
			continue;
		}
	}
}

/* EXTRACT(field FROM x) -> date_part('field', x) (catalog.c's, UTC). */
static void extracts(struct toks *t)
{
	for (int i = 0; i < t->n && !t->nomem; i++) {
		int close;
		char *field, *x;

		if (!is_kw(t, i, "extract") || !is_p(t, i + 1, "(") || is_p(t, i - 1, ".") ||
		    i + 3 >= t->n ||
		    !(t->v[i + 2].type == T_IDENT || t->v[i + 2].type == T_STR) ||
		    !is_kw(t, i + 3, "from"))
			continue;
		close = match_close(t, i + 1);
		if (close < 0 || close == i + 4)
			continue;
		field = t->v[i + 2].type == T_STR ? strdup(t->v[i + 2].s) : NULL;
		if (!field) {
			char *name = name_of(&t->v[i + 2]);

			field = name ? sql_quote(name, strlen(name)) : NULL;
			free(name);
		}
		x = rewritten(t, i + 4, close);
		if (!field || !x) {
			free(field);
			free(x);
			t->nomem = true;
			return;
		}
		replace(t, i, close + 1, "date_part(%s, %s)", field, x);
		free(field);
		free(x);
	}
}

/* The SQL keywords PostgreSQL evaluates as functions. */
static void keyword_functions(struct toks *t)
{
	static const struct {
		const char *word, *call;
	} words[] = {
		{ "current_user", "current_user()" },
		{ "user", "current_user()" },
		{ "session_user", "session_user()" },
		{ "current_role", "current_user()" },
		{ "current_catalog", "current_database()" },
		{ "current_schema", "current_schema()" },
		{ "localtimestamp", "current_timestamp" },
		{ "localtime", "current_time" },
	};

	for (int i = 0; i < t->n && !t->nomem; i++) {
		if (t->v[i].type != T_IDENT || is_p(t, i - 1, ".") || is_p(t, i + 1, ".") ||
		    is_kw(t, i - 1, "as"))
			continue;
		for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
			if (strcasecmp(t->v[i].s, words[k].word))
				continue;
			if (is_p(t, i + 1, "(")) {	/* current_schema() */
				if (is_p(t, i + 2, ")"))
					break;
			}
			if (is_p(t, i + 1, "(") && is_p(t, i + 2, ")"))
				break;
			set_text(t, i, T_EXPR, words[k].call);
			break;
		}
	}
}

/* LIMIT ALL; OFFSET n ROW[S]; FETCH FIRST|NEXT [n] ROW[S] ONLY -> LIMIT n (before OFFSET). */
static void limits(struct toks *t)
{
	int offset = -1;

	for (int i = 0; i < t->n && !t->nomem; i++) {
		if (is_kw(t, i, "limit") && is_kw(t, i + 1, "all")) {
			toks_delete(t, i, i + 2);
			i--;
			continue;
		}
		if (is_kw(t, i, "offset")) {
			offset = i;
			if (is_kw(t, i + 2, "row") || is_kw(t, i + 2, "rows"))
				toks_delete(t, i + 2, i + 3);
			continue;
		}
		if (is_kw(t, i, "fetch") && (is_kw(t, i + 1, "first") || is_kw(t, i + 1, "next"))) {
			int j = i + 2, end;
			char *n;

			if (j < t->n && (t->v[j].type == T_NUM || t->v[j].type == T_PARAM))
				j++;
			if (!(is_kw(t, j, "row") || is_kw(t, j, "rows")) || !is_kw(t, j + 1, "only"))
				continue;
			end = j + 2;
			n = j == i + 2 ? strdup("1") : strdup(t->v[i + 2].s);
			if (!n) {
				t->nomem = true;
				return;
			}
			toks_delete(t, i, end);
			if (offset >= 0 && offset < i) {
				/* OFFSET x FETCH FIRST n: LIMIT n must come first in SQLite */
				toks_insert(t, offset, T_IDENT, true, strdup("LIMIT"));
				toks_insert(t, offset + 1, T_NUM, true, n);
			} else {
				toks_insert(t, i, T_IDENT, true, strdup("LIMIT"));
				toks_insert(t, i + 1, T_NUM, true, n);
			}
			offset = -2;	/* a LIMIT is there */
			continue;
		}
		if (is_kw(t, i, "limit"))
			offset = -2;
	}
	/* OFFSET without LIMIT: SQLite needs LIMIT -1 first. */
	if (offset >= 0 && !t->nomem) {
		bool limited = false;

		for (int i = 0; i < t->n; i++)
			if (is_kw(t, i, "limit"))
				limited = true;
		if (!limited) {
			toks_insert(t, offset, T_IDENT, true, strdup("LIMIT"));
			toks_insert(t, offset + 1, T_NUM, true, strdup("-1"));
		}
	}
}

/*
 * A function in a FROM list with an alias, PostgreSQL's single-column
 * table: generate_series(a, b) AS i -> (SELECT value AS i FROM
 * generate_series(a, b)) AS i (AS s(r): column r of table s); unnest(a) x
 * -> the elements of a; a scalar function f(x) s -> (SELECT f(x) AS s) AS
 * s. dbos's own table-valued functions are left alone.
 */
static void from_functions(struct toks *t)
{
	static const char *const scalar[] = {
		"string_to_array", "current_schemas", "pg_array", "regexp_split_to_array",
	};

	for (int i = 1; i < t->n && !t->nomem; i++) {
		bool series = is_kw(t, i, "generate_series"), unnest = is_kw(t, i, "unnest");
		bool fn = series || unnest;
		int close, alias, col, end;
		char *call, *name, *table;

		for (size_t k = 0; k < sizeof(scalar) / sizeof(scalar[0]) && !fn; k++)
			fn = is_kw(t, i, scalar[k]);
		if (!fn || !is_p(t, i + 1, "(") || !(is_kw(t, i - 1, "from") || is_p(t, i - 1, ",") ||
						   is_kw(t, i - 1, "join")))
			continue;
		close = match_close(t, i + 1);
		if (close < 0)
			continue;
		alias = close + 1 + is_kw(t, close + 1, "as");
		if (!is_name(t, alias) || reserved(&t->v[alias]) || is_kw(t, alias, "on") ||
		    is_kw(t, alias, "left") || is_kw(t, alias, "inner") || is_kw(t, alias, "cross") ||
		    is_kw(t, alias, "natural") || is_kw(t, alias, "order") || is_kw(t, alias, "group"))
			continue;
		col = alias;
		end = alias + 1;
		if (is_p(t, alias + 1, "(")) {
			/* AS s(r): one column r */
			if (!is_name(t, alias + 2) || !is_p(t, alias + 3, ")"))
				continue;
			col = alias + 2;
			end = alias + 4;
		}
		call = rewritten(t, i, close + 1);
		name = strdup(t->v[col].s);
		table = strdup(t->v[alias].s);
		if (!call || !name || !table) {
			free(call);
			free(name);
			free(table);
			t->nomem = true;
			return;
		}
		if (series)
			replace(t, i, end, "(SELECT value AS %s FROM %s) AS %s", name, call, table);
		else if (unnest)
			replace(t, i, end, "(SELECT value AS %s FROM json_each(pg_array_json(%s)) AS %s",
				name, call + strlen("unnest("), table);
		else
			replace(t, i, end, "(SELECT %s AS %s) AS %s", call, name, table);
		free(call);
		free(name);
		free(table);
	}
}

/* PostgreSQL's internal name of a type written @s (a literal's cast names its column so). */
static const char *type_colname(const char *s)
{
	static const struct {
		const char *written, *name;
	} names[] = {
		{ "int", "int4" }, { "integer", "int4" }, { "bigint", "int8" }, { "smallint", "int2" },
		{ "boolean", "bool" }, { "real", "float4" }, { "double", "float8" },
		{ "float", "float8" }, { "character", "bpchar" }, { "char", "bpchar" },
		{ "decimal", "numeric" }, { "timestamptz", "timestamptz" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(names[i].written, s))
			return names[i].name;
	return s;
}

/*
 * The name PostgreSQL gives the result column of select-list item [a, b)
 * that has no alias (its FigureColname()), or NULL where SQLite's own name
 * is the same (a column reference, *). Static or in @t.
 */
static const char *pg_colname(const struct toks *t, int a, int b)
{
	static _Thread_local char buf[128];
	int depth = 0;

	if (b - a == 1 && t->v[a].type == T_IDENT) {
		static const char *const words[] = {
			"current_user", "session_user", "current_role", "current_catalog",
			"current_schema", "current_timestamp", "current_date", "current_time",
			"localtimestamp", "localtime", "user",
		};

		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (!strcasecmp(t->v[a].s, words[i]))
				return words[i];
		return NULL;
	}
	if (qualified_start(t, b - 1) == a && is_name(t, b - 1))
		return NULL;	/* a.b.c */
	if (is_p(t, b - 1, "*"))
		return NULL;
	/* x::type ...: the operand's name, else the type's */
	for (int i = a; i < b; i++) {
		if (is_p(t, i, "(") || is_p(t, i, "["))
			depth++;
		else if (is_p(t, i, ")") || is_p(t, i, "]"))
			depth--;
		else if (!depth && t->v[i].type == T_CAST && i > a) {
			const char *inner = pg_colname(t, a, i);
			int ty = i + 1;

			if (inner && strcmp(inner, "?column?"))
				return inner;
			if (!inner && is_name(t, i - 1))
				return NULL;	/* a column's: column_names() names it after it */
			if (is_kw(t, ty, "pg_catalog") && is_p(t, ty + 1, "."))
				ty += 2;
			if (is_name(t, ty)) {
				char *n = name_of(&t->v[ty]);

				if (!n)
					return NULL;
				snprintf(buf, sizeof(buf), "%s", type_colname(n));
				free(n);
				return buf;
			}
			return "?column?";
		}
	}
	if (is_kw(t, a, "case") && is_kw(t, b - 1, "end"))
		return "case";
	if (is_kw(t, a, "array"))
		return "array";
	if (is_kw(t, a, "exists"))
		return "exists";
	/* f(...) or schema.f(...) */
	{
		int f = a;

		while (is_name(t, f) && is_p(t, f + 1, "."))
			f += 2;
		if (is_name(t, f) && !reserved(&t->v[f]) && is_p(t, f + 1, "(") &&
		    match_close(t, f + 1) == b - 1) {
			char *n = name_of(&t->v[f]);

			if (!n)
				return NULL;
			if (!strcmp(n, "cast")) {
				/* CAST(x AS type): as x::type */
				int as = -1;

				for (int i = f + 2, d = 0; i < b - 1; i++) {
					if (is_p(t, i, "("))
						d++;
					else if (is_p(t, i, ")"))
						d--;
					else if (!d && is_kw(t, i, "as"))
						as = i;
				}
				free(n);
				if (as < 0)
					return "?column?";
				if (qualified_start(t, as - 1) == f + 2 && is_name(t, as - 1))
					return NULL;	/* set below from the column */
				if (is_name(t, as + 1)) {
					char *ty = name_of(&t->v[as + 1]);

					if (!ty)
						return NULL;
					snprintf(buf, sizeof(buf), "%s", type_colname(ty));
					free(ty);
					return buf;
				}
				return "?column?";
			}
			snprintf(buf, sizeof(buf), "%s", n);
			free(n);
			return buf;
		}
	}
	return "?column?";
}

/*
 * PostgreSQL names an unaliased result column after the function it calls,
 * the type it is cast to, CASE ... (FigureColname()); SQLite after its
 * text. Clients read columns by those names: give the outer SELECT's
 * unaliased items PostgreSQL's, as AS "name", before the rewrite.
 */
static void column_names(struct toks *t)
{
	int i = 1, start, depth = 0;

	if (!is_kw(t, 0, "select"))
		return;
	if (is_kw(t, i, "distinct") || is_kw(t, i, "all"))
		i++;
	for (start = i; i <= t->n && !t->nomem; i++) {
		bool end = i == t->n;

		if (!end) {
			if (is_p(t, i, "(") || is_p(t, i, "["))
				depth++;
			else if (is_p(t, i, ")") || is_p(t, i, "]"))
				depth--;
			if (depth < 0)
				return;
			if (depth)
				continue;
			end = is_p(t, i, ",") || (is_kw(t, i, "from") && !is_kw(t, i - 1, "distinct")) ||
			      is_kw(t, i, "where") ||
			      is_kw(t, i, "group") || is_kw(t, i, "order") || is_kw(t, i, "limit") ||
			      is_kw(t, i, "union") || is_kw(t, i, "except") || is_kw(t, i, "intersect") ||
			      is_kw(t, i, "having") || is_kw(t, i, "window") || is_kw(t, i, "into") ||
			      is_kw(t, i, "offset") || is_kw(t, i, "fetch");
		}
		if (!end)
			continue;
		if (i > start) {
			const char *name = NULL;
			bool aliased = is_kw(t, i - 2, "as") && i - 2 >= start;

			/* an implicit alias: expr name */
			if (!aliased && i - start >= 2 && is_name(t, i - 1) && !reserved(&t->v[i - 1]) &&
			    !is_kw(t, i - 1, "null") && !is_kw(t, i - 1, "true") &&
			    !is_kw(t, i - 1, "false") && !is_p(t, i - 2, ".") &&
			    (is_p(t, i - 2, ")") || t->v[i - 2].type == T_STR ||
			     t->v[i - 2].type == T_NUM || is_name(t, i - 2)) &&
			    !(is_name(t, i - 2) && reserved(&t->v[i - 2])))
				aliased = true;
			if (!aliased)
				name = pg_colname(t, start, i);
			if (!aliased && !name && i - start > 1 && !is_p(t, i - 1, "*") &&
			    !(qualified_start(t, i - 1) == start && is_name(t, i - 1))) {
				/* x::type or CAST(x AS type) of a column: the column's name */
				int c = start;

				while (c < i && is_name(t, c) && is_p(t, c + 1, "."))
					c += 2;
				if (is_kw(t, c, "cast"))
					c = qualified_start(t, c + 2) == c + 2 ? c + 2 : c;
				while (c < i && is_name(t, c) && is_p(t, c + 1, "."))
					c += 2;
				if (is_name(t, c)) {
					char *n = name_of(&t->v[c]);

					if (n) {
						char *q = malloc(2 * strlen(n) + 3), *o = q;

						if (q) {
							*o++ = '"';
							for (char *p = n; *p; p++) {
								if (*p == '"')
									*o++ = '"';
								*o++ = *p;
							}
							*o++ = '"';
							*o = 0;
							toks_insert(t, i, T_IDENT, true, strdup("AS"));
							toks_insert(t, i + 1, T_QIDENT, true, q);
							i += 2;
						}
						free(n);
					}
				}
			} else if (name) {
				char *q = malloc(2 * strlen(name) + 3), *o = q;

				if (q) {
					*o++ = '"';
					for (const char *p = name; *p; p++) {
						if (*p == '"')
							*o++ = '"';
						*o++ = *p;
					}
					*o++ = '"';
					*o = 0;
				}
				toks_insert(t, i, T_IDENT, true, strdup("AS"));
				toks_insert(t, i + 1, T_QIDENT, true, q);
				i += 2;
			}
		}
		if (i >= t->n || !is_p(t, i, ","))
			return;
		start = i + 1;
	}
}

/* ---- what SQLite cannot run ------------------------------------------------------------------ */

static void refuse(struct toks *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Refuse the statement (0A000) with a message naming the construct; the first one wins. */
static void refuse(struct toks *t, const char *fmt, ...)
{
	va_list ap;

	if (t->refused)
		return;
	va_start(ap, fmt);
	if (vasprintf(&t->refused, fmt, ap) < 0) {
		t->refused = NULL;
		t->nomem = true;
	}
	va_end(ap);
}

#define NOT_SQLITE " is PostgreSQL's and not supported by dbos (SQLite)"
#define NOT_SQLITE_PL " are PostgreSQL's and not supported by dbos (SQLite)"

/* Is @i (at the parenthesis depth of @i) in a FROM list: FROM or JOIN before any other clause? */
static bool in_from(const struct toks *t, int i)
{
	static const char *const clauses[] = {
		"select", "where", "group", "having", "order", "limit", "set", "values",
		"returning", "on", "using", "into", "window", "union", "except", "intersect",
	};

	for (int j = i - 1; j >= 0; j--) {
		if (is_p(t, j, ")") || is_p(t, j, "]")) {
			j = match_open(t, j);
			if (j < 0)
				return false;
			continue;
		}
		if (is_p(t, j, "(") || is_p(t, j, "["))
			return false;
		if (is_kw(t, j, "from") || is_kw(t, j, "join"))
			return true;
		for (size_t k = 0; k < sizeof(clauses) / sizeof(clauses[0]); k++)
			if (is_kw(t, j, clauses[k]))
				return false;
	}
	return false;
}

/*
 * Refuse what SQLite cannot parse or would run with another meaning, and
 * that no rule translates: DISTINCT ON, LATERAL, U&'...', x[a:b], WITH ORDINALITY, TABLESAMPLE,
 * intervals, EXTRACT of a field strftime() has no letter for, GENERATED ... AS
 * IDENTITY, SIMILAR TO, AT TIME ZONE, WITHIN GROUP, GROUPING SETS / ROLLUP /
 * CUBE, FETCH ... WITH TIES, ON CONFLICT ON CONSTRAINT, DELETE ... USING,
 * SELECT ... INTO. On the tokens as written, so only keywords match: never
 * the inside of a string, a quoted identifier or a comment.
 */
static void refusals(struct toks *t)
{
	int depth = 0;

	for (int i = 0; i < t->n && !t->refused && !t->nomem; i++) {
		if (is_p(t, i, "(")) {
			depth++;
			continue;
		}
		if (is_p(t, i, ")")) {
			depth--;
			continue;
		}
		if (is_kw(t, i, "distinct") && is_kw(t, i + 1, "on") && is_p(t, i + 2, "(")) {
			refuse(t, "DISTINCT ON" NOT_SQLITE ": use GROUP BY, or row_number() OVER "
			       "(PARTITION BY ... ORDER BY ...) in a subquery and keep row 1");
		} else if (is_kw(t, i, "lateral") &&
			   (is_kw(t, i - 1, "from") || is_kw(t, i - 1, "join") || is_p(t, i - 1, ",")) &&
			   (is_p(t, i + 1, "(") || (is_name(t, i + 1) && (is_p(t, i + 2, "(") ||
									 is_p(t, i + 2, "."))))) {
			refuse(t, "LATERAL" NOT_SQLITE ": use a correlated subquery in the select list, "
			       "or a JOIN on a table-valued function such as json_each()");
		} else if (t->v[i].type == T_IDENT && !strcasecmp(t->v[i].s, "u") &&
			   is_p(t, i + 1, "&") && !t->v[i + 1].sp && i + 2 < t->n &&
			   !t->v[i + 2].sp && (t->v[i + 2].type == T_STR || t->v[i + 2].type == T_QIDENT)) {
			refuse(t, "Unicode escapes U&'...'" NOT_SQLITE_PL ": use E'\\uXXXX' or the "
			       "characters themselves");
		} else if (is_p(t, i, "[") && after_operand(t, i) && !is_kw(t, i - 1, "array")) {
			int close = match_close(t, i), d = 0;

			for (int j = i + 1; j < close; j++) {
				if (is_p(t, j, "(") || is_p(t, j, "["))
					d++;
				else if (is_p(t, j, ")") || is_p(t, j, "]"))
					d--;
				else if (!d && is_p(t, j, ":"))
					refuse(t, "array slices x[a:b]" NOT_SQLITE_PL ": take elements "
					       "one by one, x[i]");
			}
		} else if (is_kw(t, i, "with") && is_kw(t, i + 1, "ordinality") && is_p(t, i - 1, ")")) {
			refuse(t, "WITH ORDINALITY" NOT_SQLITE ": number the rows with row_number() "
			       "OVER (), or use json_each()'s key");
		} else if (is_kw(t, i, "tablesample") && is_name(t, i + 1) && is_p(t, i + 2, "(")) {
			refuse(t, "TABLESAMPLE" NOT_SQLITE ": use ORDER BY random() LIMIT n");
		} else if (is_kw(t, i, "interval") && !is_p(t, i - 1, ".") &&
			   ((i + 1 < t->n && t->v[i + 1].type == T_STR && !is_kw(t, i - 1, "as")) ||
			    is_p(t, i - 1, "::") ||
			    (is_kw(t, i - 1, "as") && is_p(t, i + 1, ")") &&
			     is_kw(t, match_open(t, i + 1) - 1, "cast")))) {
			refuse(t, "interval values" NOT_SQLITE_PL ": use SQLite's datetime('now', "
			       "'-1 hour'), or arithmetic on seconds, extract(epoch FROM x) - 3600");
		} else if (is_p(t, i, "::") && is_kw(t, i + 1, "pg_catalog") && is_p(t, i + 2, ".") &&
			   is_kw(t, i + 3, "interval")) {
			refuse(t, "interval values" NOT_SQLITE_PL ": use SQLite's datetime('now', "
			       "'-1 hour'), or arithmetic on seconds, extract(epoch FROM x) - 3600");
		} else if (is_kw(t, i, "generated") &&
			   (is_kw(t, i + 1, "always") || (is_kw(t, i + 1, "by") &&
							  is_kw(t, i + 2, "default"))) &&
			   is_kw(t, i + (is_kw(t, i + 1, "always") ? 2 : 3), "as") &&
			   is_kw(t, i + (is_kw(t, i + 1, "always") ? 3 : 4), "identity")) {
			refuse(t, "GENERATED ... AS IDENTITY" NOT_SQLITE ": use INTEGER PRIMARY KEY, "
			       "which numbers rows itself");
		} else if (is_kw(t, i, "similar") && is_kw(t, i + 1, "to") && after_operand(t, i)) {
			refuse(t, "SIMILAR TO" NOT_SQLITE ": use a regular expression, x ~ '^...$'");
		} else if (is_kw(t, i, "at") && is_kw(t, i + 1, "time") && is_kw(t, i + 2, "zone")) {
			refuse(t, "AT TIME ZONE" NOT_SQLITE ": dbos's times are UTC");
		} else if (is_kw(t, i, "within") && is_kw(t, i + 1, "group") && is_p(t, i + 2, "(")) {
			refuse(t, "ordered-set aggregates (WITHIN GROUP)" NOT_SQLITE_PL ": sort in a "
			       "subquery, then pick the row with LIMIT/OFFSET");
		} else if (is_kw(t, i, "group") && is_kw(t, i + 1, "by") &&
			   (((is_kw(t, i + 2, "rollup") || is_kw(t, i + 2, "cube")) && is_p(t, i + 3, "(")) ||
			    (is_kw(t, i + 2, "grouping") && is_kw(t, i + 3, "sets")))) {
			refuse(t, "GROUPING SETS, ROLLUP and CUBE" NOT_SQLITE_PL ": UNION ALL one GROUP "
			       "BY per grouping");
		} else if ((is_kw(t, i, "row") || is_kw(t, i, "rows")) && is_kw(t, i + 1, "with") &&
			   is_kw(t, i + 2, "ties")) {
			refuse(t, "FETCH ... WITH TIES" NOT_SQLITE ": use rank() OVER (ORDER BY ...) <= n "
			       "in a subquery");
		} else if (is_kw(t, i, "conflict") && is_kw(t, i + 1, "on") &&
			   is_kw(t, i + 2, "constraint")) {
			refuse(t, "ON CONFLICT ON CONSTRAINT" NOT_SQLITE ": name the columns, "
			       "ON CONFLICT (a, b)");
		} else if (!depth && is_kw(t, i, "using") && is_kw(t, 0, "delete")) {
			refuse(t, "DELETE ... USING" NOT_SQLITE ": use WHERE ... IN (SELECT ...) or "
			       "WHERE EXISTS (SELECT ...)");
		} else if (!depth && is_kw(t, i, "into") && is_kw(t, 0, "select")) {
			refuse(t, "SELECT ... INTO a table" NOT_SQLITE ": use CREATE TABLE name AS "
			       "SELECT ...");
		}
	}
}

/*
 * After the rules: a column alias list after a FROM item that no rule
 * translated, f(x) AS t(a, b) or (VALUES ...) AS v(a, b).
 */
static void alias_lists(struct toks *t)
{
	for (int i = 1; i < t->n && !t->refused && !t->nomem; i++) {
		int open, alias;

		if (!is_p(t, i, ")"))
			continue;
		open = match_open(t, i);
		if (open < 0)
			continue;
		if (open > 0 && is_name(t, open - 1) && !reserved(&t->v[open - 1]))
			open = qualified_start(t, open - 1);	/* f(x) */
		if (!(is_kw(t, open - 1, "from") || is_kw(t, open - 1, "join") ||
		      is_kw(t, open - 1, "lateral") || (is_p(t, open - 1, ",") && in_from(t, open - 1))))
			continue;
		alias = i + 1 + is_kw(t, i + 1, "as");
		if (!is_name(t, alias) || reserved(&t->v[alias]) || !is_p(t, alias + 1, "(") ||
		    is_kw(t, alias, "over") || is_kw(t, alias, "filter") || is_kw(t, alias, "within"))
			continue;
		refuse(t, "column alias lists, AS %s(...), after a function or subquery in FROM"
		       NOT_SQLITE_PL ": name the columns inside the subquery (SELECT x AS a, ...)",
		       t->v[alias].s);
	}
}

/*
 * FOR UPDATE / FOR NO KEY UPDATE / FOR SHARE / FOR KEY SHARE [OF t, ...]
 * [NOWAIT | SKIP LOCKED]: dropped. A dbos session is a SQLite transaction,
 * serializable: a write after a read that another session's commit made
 * stale fails instead of waiting for a row lock, so nothing the lock was
 * there for is lost. SKIP LOCKED skips nothing.
 */
static void locking_clauses(struct toks *t)
{
	for (int i = 1; i < t->n && !t->nomem; i++) {
		int j = i + 1;

		if (!is_kw(t, i, "for"))
			continue;
		if (is_kw(t, j, "no") && is_kw(t, j + 1, "key") && is_kw(t, j + 2, "update"))
			j += 3;
		else if (is_kw(t, j, "key") && is_kw(t, j + 1, "share"))
			j += 2;
		else if (is_kw(t, j, "update") || is_kw(t, j, "share"))
			j++;
		else
			continue;
		if (is_kw(t, j, "of")) {
			/* OF a, s.b */
			j++;
			while (is_name(t, j)) {
				j++;
				while (is_p(t, j, ".") && is_name(t, j + 1))
					j += 2;
				if (!is_p(t, j, ",") || !is_name(t, j + 1))
					break;
				j++;
			}
		}
		if (is_kw(t, j, "nowait"))
			j++;
		else if (is_kw(t, j, "skip") && is_kw(t, j + 1, "locked"))
			j += 2;
		toks_delete(t, i, j);
		i--;
	}
}

/*
 * FROM ONLY t, UPDATE ONLY t, JOIN ONLY t: ONLY dropped (dbos has no
 * inheritance). CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY:
 * CONCURRENTLY dropped (SQLite builds the index in one write; readers go on).
 */
static void dropped_words(struct toks *t)
{
	for (int i = 1; i < t->n && !t->nomem; i++) {
		if (is_kw(t, i, "only") && (is_kw(t, i - 1, "from") || is_kw(t, i - 1, "join") ||
					    is_kw(t, i - 1, "update") || is_kw(t, i - 1, "table")) &&
		    is_name(t, i + 1) && !is_kw(t, i + 1, "where")) {
			toks_delete(t, i, i + 1);
			continue;
		}
		if (is_kw(t, i, "concurrently") && is_kw(t, i - 1, "index") &&
		    (is_kw(t, 0, "create") || is_kw(t, 0, "drop")) &&
		    is_name(t, i + 1) && !is_kw(t, i + 1, "on")) {
			toks_delete(t, i, i + 1);
			continue;
		}
	}
}

/* The whole rewrite of a query's tokens [0, n). */
static void rewrite(struct toks *t)
{
	refusals(t);
	if (t->refused)
		return;
	locking_clauses(t);
	dropped_words(t);
	qualifiers(t);
	extracts(t);
	arrays(t);
	typed_literals(t);
	casts(t);
	cast_calls(t);
	subscripts(t);
	any_all(t);
	operators(t);
	keyword_functions(t);
	from_functions(t);
	limits(t);
	alias_lists(t);
}

/* ---- statements ------------------------------------------------------------------------------ */

static const struct {
	const char *first, *second;	/* second NULL: any */
	const char *tag;
} tags[] = {
	{ "select", NULL, "SELECT" }, { "values", NULL, "SELECT" }, { "with", NULL, "SELECT" },
	{ "table", NULL, "SELECT" }, { "pragma", NULL, "SELECT" }, { "explain", NULL, "EXPLAIN" },
	{ "insert", NULL, "INSERT" }, { "replace", NULL, "INSERT" }, { "update", NULL, "UPDATE" },
	{ "delete", NULL, "DELETE" },
	{ "create", "table", "CREATE TABLE" }, { "create", "view", "CREATE VIEW" },
	{ "create", "index", "CREATE INDEX" }, { "create", "unique", "CREATE INDEX" },
	{ "create", "trigger", "CREATE TRIGGER" }, { "create", "virtual", "CREATE TABLE" },
	{ "drop", "table", "DROP TABLE" }, { "drop", "view", "DROP VIEW" },
	{ "drop", "index", "DROP INDEX" }, { "drop", "trigger", "DROP TRIGGER" },
	{ "alter", "table", "ALTER TABLE" }, { "savepoint", NULL, "SAVEPOINT" },
	{ "release", NULL, "RELEASE" }, { "rollback", NULL, "ROLLBACK" },
	{ "analyze", NULL, "ANALYZE" }, { "reindex", NULL, "REINDEX" }, { "vacuum", NULL, "VACUUM" },
	{ "attach", NULL, "ATTACH" }, { "detach", NULL, "DETACH" },
};

static const char *tag_of(const struct toks *t)
{
	int second = 1;

	if (is_p(t, 0, "("))	/* (SELECT ...) UNION ... */
		return "SELECT";
	if (is_kw(t, 0, "create") && (is_kw(t, 1, "temp") || is_kw(t, 1, "temporary")))
		second = 2;
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (is_kw(t, 0, tags[i].first) && (!tags[i].second || is_kw(t, second, tags[i].second)))
			return tags[i].tag;
	if (t->n && t->v[0].type == T_IDENT) {
		static _Thread_local char buf[32];

		snprintf(buf, sizeof(buf), "%s", t->v[0].s);
		for (char *c = buf; *c; c++)
			*c = toupper((unsigned char)*c);
		return buf;
	}
	return "SELECT";
}

static int fail(char **err, const char **sqlstate, const char *state, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char **err, const char **sqlstate, const char *state, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	*sqlstate = state;
	return -1;
}

static void unsupported(struct pgsql_stmt *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void unsupported(struct pgsql_stmt *out, const char *fmt, ...)
{
	va_list ap;

	out->kind = PGSQL_UNSUPPORTED;
	out->sqlstate = "0A000";
	va_start(ap, fmt);
	if (vasprintf(&out->error, fmt, ap) < 0)
		out->error = NULL;
	va_end(ap);
}

/* Tokens [a, b) rewritten as a query into @out->sql. */
static int query_text(struct toks *t, int a, int b, struct pgsql_stmt *out)
{
	struct toks q = { 0 };

	for (int i = a; i < b; i++)
		toks_insert(&q, q.n, t->v[i].type, t->v[i].sp, strdup(t->v[i].s));
	column_names(&q);
	rewrite(&q);
	if (q.refused && !q.nomem) {
		/* the statement is refused: 0A000 and the message */
		out->kind = PGSQL_UNSUPPORTED;
		out->sqlstate = "0A000";
		out->error = q.refused;
		q.refused = NULL;
		toks_free(&q);
		return 0;
	}
	if (!q.nomem)
		out->sql = print(&q, 0, q.n);
	toks_free(&q);
	return out->sql ? 0 : -1;
}

/* SET's value: tokens [a, n) as text, a list joined by ", ". */
static char *set_value(const struct toks *t, int a)
{
	size_t len = 1;
	char *s, *o;

	for (int i = a; i < t->n; i++)
		len += strlen(t->v[i].s) + 2;
	s = o = malloc(len);
	if (!s)
		return NULL;
	*o = 0;
	for (int i = a; i < t->n; i++) {
		if (is_p(t, i, ",")) {
			o = stpcpy(o, ", ");
			continue;
		}
		if (t->v[i].type == T_STR) {
			char *v = name_of(&t->v[i]);

			if (!v) {
				free(s);
				return NULL;
			}
			o = stpcpy(o, v);
			free(v);
		} else {
			if (i > a && !is_p(t, i - 1, ",") && t->v[i].sp)
				*o++ = ' ';
			o = stpcpy(o, t->v[i].s);
		}
	}
	*o = 0;
	return s;
}

static int parse_set(struct toks *t, struct pgsql_stmt *out, char **err, const char **sqlstate)
{
	int i = 1, eq;

	out->kind = PGSQL_SET;
	out->tag = "SET";
	if (is_kw(t, i, "session") && !is_kw(t, i + 1, "characteristics") &&
	    !is_kw(t, i + 1, "authorization"))
		i++;
	else if (is_kw(t, i, "local"))
		out->local = true, i++;
	if (is_kw(t, i, "transaction") || is_kw(t, i, "constraints") ||
	    (is_kw(t, i, "session") && is_kw(t, i + 1, "characteristics"))) {
		for (int j = i; j < t->n; j++)
			if (is_kw(t, j, "read") && is_kw(t, j + 1, "only"))
				out->read_only = true;
		out->name = strdup("transaction");
		return out->name ? 0 : fail(err, sqlstate, "53200", "out of memory");
	}
	if (is_kw(t, i, "session") && is_kw(t, i + 1, "authorization")) {
		if (is_kw(t, i + 2, "default") && t->n == i + 3) {
			out->kind = PGSQL_RESET;
			out->name = strdup("session_authorization");
			return 0;
		}
		unsupported(out, "SET SESSION AUTHORIZATION is not supported: a dbos session is the "
			    "peer's own user");
		return 0;
	}
	if (is_kw(t, i, "role")) {
		unsupported(out, "SET ROLE is not supported: dbos has no roles, a session is the peer's "
			    "own user");
		return 0;
	}
	if (is_kw(t, i, "time") && is_kw(t, i + 1, "zone")) {
		out->name = strdup("timezone");
		i += 2;
		if (i >= t->n)
			return fail(err, sqlstate, "42601", "syntax error at end of input");
		if (is_kw(t, i, "local") || is_kw(t, i, "default")) {
			out->is_default = true;
			return 0;
		}
		if (is_kw(t, i, "interval")) {
			unsupported(out, "SET TIME ZONE INTERVAL is not supported: dbos keeps time in UTC");
			return 0;
		}
		out->value = set_value(t, i);
		return 0;
	}
	if (is_kw(t, i, "names")) {
		out->name = strdup("client_encoding");
		if (i + 1 >= t->n || is_kw(t, i + 1, "default"))
			out->is_default = true;
		else
			out->value = set_value(t, i + 1);
		return 0;
	}
	if (!is_name(t, i))
		return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
			    i < t->n ? t->v[i].s : "end of input");
	/* name [. name]... */
	eq = i + 1;
	while (is_p(t, eq, ".") && is_name(t, eq + 1))
		eq += 2;
	{
		char *n = print(t, i, eq);

		if (!n)
			return fail(err, sqlstate, "53200", "out of memory");
		out->name = malloc(strlen(n) + 1);
		if (out->name) {
			char *o = out->name;

			for (char *c = n; *c; c++)
				if (*c != '"')
					*o++ = tolower((unsigned char)*c);
			*o = 0;
		}
		free(n);
	}
	if (!(is_p(t, eq, "=") || is_kw(t, eq, "to")) || eq + 1 >= t->n)
		return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
			    eq < t->n ? t->v[eq].s : "end of input");
	if (is_kw(t, eq + 1, "default") && t->n == eq + 2) {
		out->is_default = true;
		return 0;
	}
	out->value = set_value(t, eq + 1);
	return out->value ? 0 : fail(err, sqlstate, "53200", "out of memory");
}

/* RESET x / SHOW x: the setting's name. */
static int setting_name(struct toks *t, struct pgsql_stmt *out, char **err, const char **sqlstate)
{
	int i = 1;

	if (is_kw(t, i, "time") && is_kw(t, i + 1, "zone") && t->n == 3) {
		out->name = strdup("timezone");
	} else if (is_kw(t, i, "transaction") && is_kw(t, i + 1, "isolation") &&
		   is_kw(t, i + 2, "level") && t->n == 4) {
		out->name = strdup("transaction_isolation");
	} else if (is_kw(t, i, "session") && is_kw(t, i + 1, "authorization") && t->n == 3) {
		out->name = strdup("session_authorization");
	} else if (is_name(t, i)) {
		int end = i + 1;
		char *n;

		while (is_p(t, end, ".") && is_name(t, end + 1))
			end += 2;
		if (end != t->n)
			return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"", t->v[end].s);
		n = print(t, i, end);
		out->name = n;
		if (n) {
			char *o = n;

			for (char *c = n; *c; c++)
				if (*c != '"')
					*o++ = tolower((unsigned char)*c);
			*o = 0;
		}
	} else {
		return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
			    i < t->n ? t->v[i].s : "end of input");
	}
	return out->name ? 0 : fail(err, sqlstate, "53200", "out of memory");
}

/* BEGIN/START TRANSACTION modes: ISOLATION LEVEL ..., READ ONLY|WRITE, [NOT] DEFERRABLE. */
static int transaction_modes(struct toks *t, int i, struct pgsql_stmt *out, char **err,
			     const char **sqlstate)
{
	while (i < t->n) {
		if (is_p(t, i, ",")) {
			i++;
		} else if (is_kw(t, i, "isolation") && is_kw(t, i + 1, "level")) {
			i += 2;
			if (is_kw(t, i, "serializable"))
				i++;
			else if (is_kw(t, i, "repeatable") && is_kw(t, i + 1, "read"))
				i += 2;
			else if (is_kw(t, i, "read") && (is_kw(t, i + 1, "committed") ||
							  is_kw(t, i + 1, "uncommitted")))
				i += 2;
			else
				break;
		} else if (is_kw(t, i, "read") && is_kw(t, i + 1, "only")) {
			out->read_only = true;
			i += 2;
		} else if (is_kw(t, i, "read") && is_kw(t, i + 1, "write")) {
			i += 2;
		} else if (is_kw(t, i, "not") && is_kw(t, i + 1, "deferrable")) {
			i += 2;
		} else if (is_kw(t, i, "deferrable")) {
			i++;
		} else {
			break;
		}
	}
	if (i < t->n)
		return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"", t->v[i].s);
	return 0;
}

static int parse_fetch(struct toks *t, struct pgsql_stmt *out, char **err, const char **sqlstate)
{
	int i = 1;

	out->move = is_kw(t, 0, "move");
	out->kind = PGSQL_FETCH;
	out->tag = out->move ? "MOVE" : "FETCH";
	out->count = 1;
	if (is_kw(t, i, "next")) {
		i++;
	} else if (is_kw(t, i, "forward")) {
		i++;
		if (is_kw(t, i, "all"))
			out->count = -1, i++;
		else if (i + 1 < t->n && t->v[i].type == T_NUM)
			out->count = strtoll(t->v[i].s, NULL, 10), i++;
	} else if (is_kw(t, i, "all")) {
		out->count = -1, i++;
	} else if (i < t->n && t->v[i].type == T_NUM) {
		out->count = strtoll(t->v[i].s, NULL, 10), i++;
	} else if (is_kw(t, i, "prior") || is_kw(t, i, "first") || is_kw(t, i, "last") ||
		   is_kw(t, i, "absolute") || is_kw(t, i, "relative") || is_kw(t, i, "backward") ||
		   (is_p(t, i, "-"))) {
		unsupported(out, "cursor can only scan forward (dbos cursors are NO SCROLL): %s %s "
			    "is not supported", out->tag, t->v[i].s);
		return 0;
	}
	if (out->count < 0 && out->count != -1)
		return fail(err, sqlstate, "0A000", "cursor can only scan forward");
	if (is_kw(t, i, "from") || is_kw(t, i, "in"))
		i++;
	if (!is_name(t, i) || i + 1 != t->n)
		return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
			    i < t->n ? t->v[i].s : "end of input");
	out->name = name_of(&t->v[i]);
	return out->name ? 0 : fail(err, sqlstate, "53200", "out of memory");
}

static int parse_declare(struct toks *t, struct pgsql_stmt *out, char **err, const char **sqlstate)
{
	int i = 2;

	out->kind = PGSQL_DECLARE;
	out->tag = "DECLARE CURSOR";
	if (!is_name(t, 1))
		return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
			    t->n > 1 ? t->v[1].s : "end of input");
	while (is_kw(t, i, "binary") || is_kw(t, i, "insensitive") || is_kw(t, i, "asensitive") ||
	       is_kw(t, i, "no") || is_kw(t, i, "scroll")) {
		if (is_kw(t, i, "binary")) {
			unsupported(out, "DECLARE ... BINARY CURSOR is not supported: dbos sends text");
			return 0;
		}
		if (is_kw(t, i, "scroll") && !is_kw(t, i - 1, "no")) {
			unsupported(out, "DECLARE ... SCROLL CURSOR is not supported: dbos cursors only "
				    "scan forward");
			return 0;
		}
		i++;
	}
	if (!is_kw(t, i, "cursor"))
		return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
			    i < t->n ? t->v[i].s : "end of input");
	i++;
	if ((is_kw(t, i, "with") || is_kw(t, i, "without")) && is_kw(t, i + 1, "hold")) {
		out->hold = is_kw(t, i, "with");
		i += 2;
	}
	if (!is_kw(t, i, "for") || i + 1 >= t->n)
		return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
			    i < t->n ? t->v[i].s : "end of input");
	out->name = name_of(&t->v[1]);
	if (!out->name || query_text(t, i + 1, t->n, out))
		return fail(err, sqlstate, "53200", "out of memory");
	return 0;
}

/* COPY (query) | table [(cols)] TO STDOUT [[WITH] (options) | legacy options]. */
static int parse_copy(struct toks *t, struct pgsql_stmt *out, char **err, const char **sqlstate)
{
	int i = 1, close;

	out->kind = PGSQL_COPY_OUT;
	out->tag = "COPY";
	out->copy_delim = '\t';
	if (is_p(t, i, "(")) {
		close = match_close(t, i);
		if (close < 0)
			return fail(err, sqlstate, "42601", "syntax error at end of input");
		if (query_text(t, i + 1, close, out))
			return fail(err, sqlstate, "53200", "out of memory");
		i = close + 1;
	} else if (is_name(t, i)) {
		int end = qualified_start(t, i) == i ? i + 1 : i + 1;
		char *table, *cols = NULL;

		while (is_p(t, end, ".") && is_name(t, end + 1))
			end += 2;
		table = print(t, i, end);
		i = end;
		if (is_p(t, i, "(")) {
			close = match_close(t, i);
			if (close < 0) {
				free(table);
				return fail(err, sqlstate, "42601", "syntax error at end of input");
			}
			cols = print(t, i + 1, close);
			i = close + 1;
		}
		if (table) {
			char *q = NULL;
			struct toks sel = { 0 };
			struct lexerr e = { 0 };

			if (asprintf(&q, "SELECT %s FROM %s", cols ? cols : "*", table) < 0)
				q = NULL;
			if (q && lex(q, &sel, &e) && !sel.nomem)
				query_text(&sel, 0, sel.n, out);
			free(e.msg);
			toks_free(&sel);
			free(q);
		}
		free(table);
		free(cols);
		if (!out->sql)
			return fail(err, sqlstate, "53200", "out of memory");
	} else {
		return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
			    i < t->n ? t->v[i].s : "end of input");
	}
	if (is_kw(t, i, "from")) {
		unsupported(out, "COPY FROM is not supported: dbos tables mirror the kernel, rows are "
			    "not loaded into them");
		return 0;
	}
	if (!is_kw(t, i, "to"))
		return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
			    i < t->n ? t->v[i].s : "end of input");
	i++;
	if (!is_kw(t, i, "stdout")) {
		unsupported(out, "COPY TO a file or program is not supported: dbosd writes no file for "
			    "a client; use COPY ... TO STDOUT (psql's \\copy)");
		return 0;
	}
	i++;
	if (is_kw(t, i, "with"))
		i++;
	if (is_p(t, i, "(")) {
		close = match_close(t, i);
		if (close < 0 || close + 1 != t->n)
			return fail(err, sqlstate, "42601", "syntax error in COPY options");
		for (i++; i < close; i++) {
			char *opt;

			if (is_p(t, i, ","))
				continue;
			if (!is_name(t, i))
				return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
					    t->v[i].s);
			opt = name_of(&t->v[i]);
			if (!opt)
				return fail(err, sqlstate, "53200", "out of memory");
			if (!strcmp(opt, "format") && i + 1 < close) {
				char *f = name_of(&t->v[++i]);

				if (f && !strcmp(f, "csv")) {
					out->copy_csv = true;
				} else if (!f || strcmp(f, "text")) {
					unsupported(out, "COPY FORMAT %s is not supported: csv or text",
						    f ? f : "?");
				}
				free(f);
			} else if (!strcmp(opt, "header")) {
				out->copy_header = true;
				if (i + 1 < close && !is_p(t, i + 1, ",")) {
					char *v = name_of(&t->v[++i]);

					out->copy_header = v && (!strcasecmp(v, "true") || !strcasecmp(v, "on") ||
								 !strcmp(v, "1"));
					free(v);
				}
			} else if (!strcmp(opt, "delimiter") && i + 1 < close &&
				   t->v[i + 1].type == T_STR) {
				char *v = name_of(&t->v[++i]);

				if (!v || strlen(v) != 1) {
					free(v);
					free(opt);
					return fail(err, sqlstate, "22023",
						    "COPY delimiter must be a single one-byte character");
				}
				out->copy_delim = *v;
				free(v);
			} else if (!strcmp(opt, "null") && i + 1 < close && t->v[i + 1].type == T_STR) {
				free(out->copy_null);
				out->copy_null = name_of(&t->v[++i]);
			} else if ((!strcmp(opt, "quote") || !strcmp(opt, "escape") ||
				    !strcmp(opt, "encoding")) && i + 1 < close) {
				i++;	/* accepted, the defaults are used */
			} else if (!strcmp(opt, "force_quote") && i + 1 < close) {
				if (is_p(t, i + 1, "("))
					i = match_close(t, i + 1);
				else
					i++;
			} else {
				free(opt);
				return fail(err, sqlstate, "42601", "option \"%s\" not recognized",
					    t->v[i].s);
			}
			free(opt);
		}
	} else {
		/* legacy: [BINARY] [DELIMITER [AS] 'x'] [NULL [AS] 'x'] [CSV [HEADER] ...] */
		while (i < t->n) {
			if (is_kw(t, i, "csv")) {
				out->copy_csv = true, i++;
			} else if (is_kw(t, i, "header")) {
				out->copy_header = true, i++;
			} else if (is_kw(t, i, "binary")) {
				unsupported(out, "COPY BINARY is not supported: csv or text");
				return 0;
			} else if ((is_kw(t, i, "delimiter") || is_kw(t, i, "null")) &&
				   i + 1 + is_kw(t, i + 1, "as") < t->n &&
				   t->v[i + 1 + is_kw(t, i + 1, "as")].type == T_STR) {
				bool delim = is_kw(t, i, "delimiter");
				char *v;

				i += is_kw(t, i + 1, "as") ? 2 : 1;
				v = name_of(&t->v[i++]);
				if (!v)
					return fail(err, sqlstate, "53200", "out of memory");
				if (delim) {
					if (strlen(v) != 1) {
						free(v);
						return fail(err, sqlstate, "22023",
							    "COPY delimiter must be a single one-byte character");
					}
					out->copy_delim = *v;
					free(v);
				} else {
					free(out->copy_null);
					out->copy_null = v;
				}
			} else {
				return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
					    t->v[i].s);
			}
		}
	}
	if (out->copy_csv && out->copy_delim == '\t') {
		bool explicit = false;

		for (int j = 0; j < t->n; j++)
			if (is_kw(t, j, "delimiter"))
				explicit = true;
		if (!explicit)
			out->copy_delim = ',';
	}
	return 0;
}

/* The statement in @t (no ';'), into @out. */
static int classify(struct toks *t, struct pgsql_stmt *out, char **err, const char **sqlstate)
{
	if (!t->n) {
		out->kind = PGSQL_EMPTY;
		return 0;
	}
	if (is_kw(t, 0, "set"))
		return parse_set(t, out, err, sqlstate);
	if (is_kw(t, 0, "reset") || is_kw(t, 0, "show")) {
		bool show = is_kw(t, 0, "show");

		out->kind = show ? PGSQL_SHOW : PGSQL_RESET;
		out->tag = show ? "SHOW" : "RESET";
		if (t->n == 1)
			return fail(err, sqlstate, "42601", "syntax error at end of input");
		if (!show && is_kw(t, 1, "role") && t->n == 2) {
			out->name = strdup("role");
			return 0;
		}
		return setting_name(t, out, err, sqlstate);
	}
	if ((is_kw(t, 0, "begin") && !(is_kw(t, 1, "deferred") || is_kw(t, 1, "immediate") ||
				       is_kw(t, 1, "exclusive"))) ||
	    (is_kw(t, 0, "start") && is_kw(t, 1, "transaction"))) {
		int i = 1;

		out->kind = PGSQL_BEGIN;
		out->tag = "BEGIN";
		if (is_kw(t, 0, "start") || is_kw(t, 1, "work") || is_kw(t, 1, "transaction"))
			i = 2;
		out->sql = strdup("BEGIN");
		if (!out->sql)
			return fail(err, sqlstate, "53200", "out of memory");
		return transaction_modes(t, i, out, err, sqlstate);
	}
	if (is_kw(t, 0, "begin")) {	/* SQLite's BEGIN IMMEDIATE ... */
		out->kind = PGSQL_BEGIN;
		out->tag = "BEGIN";
		out->sql = print(t, 0, t->n);
		return out->sql ? 0 : fail(err, sqlstate, "53200", "out of memory");
	}
	if (is_kw(t, 0, "commit") || is_kw(t, 0, "end") || is_kw(t, 0, "rollback") ||
	    is_kw(t, 0, "abort")) {
		bool commit = is_kw(t, 0, "commit") || is_kw(t, 0, "end");
		int i = 1;

		if (is_kw(t, 0, "rollback") && (is_kw(t, 1, "to") || is_kw(t, 2, "to")))
			goto query;	/* ROLLBACK [WORK] TO [SAVEPOINT] x: SQLite's */
		if (is_kw(t, i, "work") || is_kw(t, i, "transaction"))
			i++;
		if (is_kw(t, i, "and") && is_kw(t, i + 1, "no") && is_kw(t, i + 2, "chain"))
			i += 3;
		if (is_kw(t, i, "and") && is_kw(t, i + 1, "chain")) {
			unsupported(out, "%s AND CHAIN is not supported", commit ? "COMMIT" : "ROLLBACK");
			return 0;
		}
		if (is_kw(t, 0, "commit") && is_kw(t, 1, "prepared")) {
			unsupported(out, "two-phase commit is not supported");
			return 0;
		}
		if (i != t->n)
			return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"", t->v[i].s);
		out->kind = commit ? PGSQL_COMMIT : PGSQL_ROLLBACK;
		out->tag = commit ? "COMMIT" : "ROLLBACK";
		out->sql = strdup(commit ? "COMMIT" : "ROLLBACK");
		return out->sql ? 0 : fail(err, sqlstate, "53200", "out of memory");
	}
	if (is_kw(t, 0, "declare"))
		return parse_declare(t, out, err, sqlstate);
	if (is_kw(t, 0, "fetch") || is_kw(t, 0, "move"))
		return parse_fetch(t, out, err, sqlstate);
	if (is_kw(t, 0, "close")) {
		out->kind = PGSQL_CLOSE;
		out->tag = "CLOSE CURSOR";
		if (is_kw(t, 1, "all") && t->n == 2)
			return 0;
		if (!is_name(t, 1) || t->n != 2)
			return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
				    t->n > 1 ? t->v[1].s : "end of input");
		out->name = name_of(&t->v[1]);
		return out->name ? 0 : fail(err, sqlstate, "53200", "out of memory");
	}
	if (is_kw(t, 0, "copy"))
		return parse_copy(t, out, err, sqlstate);
	if (is_kw(t, 0, "discard")) {
		static const char *const what[] = { "all", "plans", "temp", "temporary", "sequences" };
		static const char *const tag[] = { "DISCARD ALL", "DISCARD PLANS", "DISCARD TEMP",
						   "DISCARD TEMP", "DISCARD SEQUENCES" };

		out->kind = PGSQL_DISCARD;
		for (size_t k = 0; k < 5; k++)
			if (is_kw(t, 1, what[k]) && t->n == 2)
				out->tag = tag[k];
		if (!out->tag)
			return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
				    t->n > 1 ? t->v[1].s : "end of input");
		return 0;
	}
	if (is_kw(t, 0, "deallocate")) {
		int i = is_kw(t, 1, "prepare") ? 2 : 1;

		out->kind = PGSQL_DISCARD;
		out->tag = "DEALLOCATE";
		if (is_kw(t, i, "all") && t->n == i + 1) {
			out->tag = "DEALLOCATE ALL";
			return 0;
		}
		if (!is_name(t, i) || t->n != i + 1)
			return fail(err, sqlstate, "42601", "syntax error at or near \"%s\"",
				    i < t->n ? t->v[i].s : "end of input");
		out->name = name_of(&t->v[i]);
		return out->name ? 0 : fail(err, sqlstate, "53200", "out of memory");
	}
	if (is_kw(t, 0, "listen") || is_kw(t, 0, "unlisten") || is_kw(t, 0, "notify")) {
		out->kind = PGSQL_DISCARD;
		out->tag = is_kw(t, 0, "listen") ? "LISTEN" : is_kw(t, 0, "unlisten") ? "UNLISTEN" : "NOTIFY";
		return 0;
	}
	if (is_kw(t, 0, "analyze") || is_kw(t, 0, "analyse")) {
		/* statistics for PostgreSQL's planner: nothing to do for dbos's */
		out->kind = PGSQL_DISCARD;
		out->tag = "ANALYZE";
		return 0;
	}
	if (is_kw(t, 0, "alter") && !is_kw(t, 1, "table")) {
		char *what = print(t, 0, t->n > 1 ? 2 : 1);

		if (what)
			for (char *c = what; *c; c++)
				*c = toupper((unsigned char)*c);
		unsupported(out, "%s is PostgreSQL's and not supported by dbos (SQLite): only ALTER "
			    "TABLE is%s", what ? what : "ALTER",
			    is_kw(t, 1, "system") ? "; settings are per session (SET)" : "");
		free(what);
		return 0;
	}
	if (is_kw(t, 0, "prepare") || is_kw(t, 0, "execute")) {
		unsupported(out, "SQL-level %s is not supported: use the extended query protocol "
			    "(Parse/Bind/Execute)", is_kw(t, 0, "prepare") ? "PREPARE" : "EXECUTE");
		return 0;
	}
	if (is_kw(t, 0, "lock") || is_kw(t, 0, "grant") || is_kw(t, 0, "revoke") ||
	    is_kw(t, 0, "truncate") || is_kw(t, 0, "comment") || is_kw(t, 0, "checkpoint") ||
	    is_kw(t, 0, "cluster") || is_kw(t, 0, "do") || is_kw(t, 0, "call") ||
	    is_kw(t, 0, "security") || is_kw(t, 0, "import") || is_kw(t, 0, "refresh") ||
	    (is_kw(t, 0, "create") && (is_kw(t, 1, "extension") || is_kw(t, 1, "schema") ||
					is_kw(t, 1, "role") || is_kw(t, 1, "user") ||
					is_kw(t, 1, "database") || is_kw(t, 1, "function") ||
					is_kw(t, 1, "sequence") || is_kw(t, 1, "type")))) {
		char *what = print(t, 0, is_kw(t, 0, "create") ? 2 : 1);

		if (what)
			for (char *c = what; *c; c++)
				*c = toupper((unsigned char)*c);
		unsupported(out, "%s is not supported by dbos%s", what ? what : "this statement",
			    is_kw(t, 0, "lock") ? ": a session's transaction is serializable already" : "");
		free(what);
		return 0;
	}
query:
	out->kind = PGSQL_QUERY;
	out->tag = tag_of(t);
	if (query_text(t, 0, t->n, out))
		return fail(err, sqlstate, "53200", "out of memory");
	return 0;
}

int pgsql_next(const char *text, struct pgsql_stmt *out, char **err, const char **sqlstate)
{
	struct toks t = { 0 };
	struct lexerr e = { 0 };
	size_t used;
	int rc;

	memset(out, 0, sizeof(*out));
	*err = NULL;
	if (!text || !*text) {
		out->kind = PGSQL_EMPTY;
		return 0;
	}
	used = lex(text, &t, &e);
	if (e.msg || t.nomem || !used) {
		toks_free(&t);
		if (e.msg) {
			*err = e.msg;
			*sqlstate = e.state;
			return -1;
		}
		return fail(err, sqlstate, "53200", "out of memory");
	}
	out->consumed = used;
	rc = classify(&t, out, err, sqlstate);
	toks_free(&t);
	if (rc) {
		size_t consumed = out->consumed;

		pgsql_stmt_free(out);
		out->consumed = consumed;
		if (!*err)
			*err = strdup("out of memory");
		return -1;
	}
	if (out->kind == PGSQL_SET && !out->is_default && !out->value && out->name &&
	    strcmp(out->name, "transaction")) {
		pgsql_stmt_free(out);
		return fail(err, sqlstate, "53200", "out of memory");
	}
	if (out->kind == PGSQL_UNSUPPORTED && !out->error) {
		pgsql_stmt_free(out);
		return fail(err, sqlstate, "53200", "out of memory");
	}
	return 0;
}

void pgsql_stmt_free(struct pgsql_stmt *s)
{
	free(s->sql);
	free(s->name);
	free(s->value);
	free(s->copy_null);
	free(s->error);
	memset(s, 0, sizeof(*s));
}

char *pgsql_translate(const char *text, char **err, const char **sqlstate)
{
	struct toks t = { 0 };
	struct lexerr e = { 0 };
	char *s = NULL;

	*err = NULL;
	lex(text, &t, &e);
	if (e.msg) {
		*err = e.msg;
		*sqlstate = e.state;
		toks_free(&t);
		return NULL;
	}
	column_names(&t);
	rewrite(&t);
	if (t.refused && !t.nomem) {
		*err = t.refused;
		*sqlstate = "0A000";
		t.refused = NULL;
		toks_free(&t);
		return NULL;
	}
	if (!t.nomem)
		s = print(&t, 0, t.n);
	toks_free(&t);
	if (!s)
		fail(err, sqlstate, "53200", "out of memory");
	return s;
}
