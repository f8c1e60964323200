// SPDX-License-Identifier: GPL-2.0
/* parse.c - recursive-descent parser of the policy condition subset that compiles into the kernel. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbserver/policy/parse.h"
#include "libdbos/dbos_lsm.h"

#define HOOKS_ALL	((1u << DBOS_LSM_HOOK__COUNT) - 1)
#define H(x)		(1u << DBOS_LSM_##x)
#define H_SCHED		(1u << DBOS_LSM_HOOK__COUNT)	/* compile.h: POLICY_HOOK_SCHED */
#define H_ANCESTOR	(1u << (DBOS_LSM_HOOK__COUNT + 1))	/* compile.h: POLICY_HOOK_ANCESTOR */
#define PROCESS		(HOOKS_ALL | H_SCHED)		/* the process's own columns */

static const struct {
	struct pcol col;
	unsigned int hooks;
} columns[] = {
	{ { "pid", DBOS_LSM_F_PID, PCOL_ID }, PROCESS },
	{ { "uid", DBOS_LSM_F_UID, PCOL_ID }, PROCESS },
	{ { "euid", DBOS_LSM_F_EUID, PCOL_ID }, PROCESS },
	{ { "gid", DBOS_LSM_F_GID, PCOL_ID }, PROCESS },
	{ { "name", DBOS_LSM_F_NAME, PCOL_NAME }, PROCESS },
	{ { "cgroup", DBOS_LSM_F_CGROUP, PCOL_U63 }, HOOKS_ALL },
	{ { "exe", DBOS_LSM_F_EXE, PCOL_PATH }, PROCESS },
	{ { "path", DBOS_LSM_F_PATH, PCOL_PATH },
	  H(EXEC) | H(OPEN) | H(CONNECT) | H(BIND) },
	{ { "mode", DBOS_LSM_F_MODE, PCOL_MODE }, H(OPEN) },
	{ { "family", DBOS_LSM_F_FAMILY, PCOL_FAMILY }, H(CONNECT) | H(BIND) },
	{ { "remote_address", DBOS_LSM_F_ADDRESS, PCOL_ADDR }, H(CONNECT) },
	{ { "remote_port", DBOS_LSM_F_PORT, PCOL_PORT }, H(CONNECT) },
	{ { "local_address", DBOS_LSM_F_ADDRESS, PCOL_ADDR }, H(BIND) },
	{ { "local_port", DBOS_LSM_F_PORT, PCOL_PORT }, H(BIND) },
	{ { "target_pid", DBOS_LSM_F_TARGET_PID, PCOL_ID }, H(KILL) },
	{ { "signal", DBOS_LSM_F_SIGNAL, PCOL_SIGNAL }, H(KILL) },
	/* process_ancestors' columns about the ancestor: a lineage mark's condition */
	{ { "ancestor", DBOS_LSM_F_PID, PCOL_ID }, H_ANCESTOR },
	{ { "ancestor_name", DBOS_LSM_F_NAME, PCOL_NAME }, H_ANCESTOR },
	{ { "ancestor_path", DBOS_LSM_F_EXE, PCOL_PATH }, H_ANCESTOR },
	{ { "ancestor_uid", DBOS_LSM_F_UID, PCOL_ID }, H_ANCESTOR },
	{ { "ancestor_euid", DBOS_LSM_F_EUID, PCOL_ID }, H_ANCESTOR },
	{ { "ancestor_gid", DBOS_LSM_F_GID, PCOL_ID }, H_ANCESTOR },
};

#define NCOLUMNS	(sizeof(columns) / sizeof(columns[0]))

const struct pcol *pcol_find(int hook, const char *name, size_t len)
{
	for (size_t i = 0; i < NCOLUMNS; i++) {
		if (!(columns[i].hooks & (1u << hook)))
			continue;
		if (strlen(columns[i].col.name) == len &&
		    !strncasecmp(columns[i].col.name, name, len))
			return &columns[i].col;
	}
	return NULL;
}

void pcol_list(int hook, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < NCOLUMNS && off < size; i++) {
		if (columns[i].hooks & (1u << hook))
			off += snprintf(buf + off, size - off, "%s%s", off ? ", " : "",
					columns[i].col.name);
	}
}

enum tok {
	T_EOF, T_IDENT, T_QIDENT, T_STR, T_INT, T_NUM, T_LP, T_RP, T_COMMA, T_OP, T_BAD,
};

struct parser {
	const char *src;
	int hook;
	int pos;		/* after the current token */
	enum tok t;		/* current token */
	int ts, te;		/* its span */
	int depth;		/* of parentheses and NOTs */
	struct perr *e;
};

static const char *op_chars[] = {
	"==", "<>", "!=", "<=", ">=", "||", "<<", ">>", "=", "<", ">", "+", "-", "*", "/",
	"%", "&", "|", "~", ".", ";",
};

/* Skip blanks and SQL comments from @p; the offset of the next token. */
static int skip_space(const char *s, int p)
{
	for (;;) {
		if (isspace((unsigned char)s[p])) {
			p++;
		} else if (s[p] == '-' && s[p + 1] == '-') {
			while (s[p] && s[p] != '\n')
				p++;
		} else if (s[p] == '/' && s[p + 1] == '*') {
			const char *end = strstr(s + p + 2, "*/");

			p = end ? (int)(end - s) + 2 : (int)strlen(s);
		} else {
			return p;
		}
	}
}

/* End of the quoted token starting at @p with quote @q (doubled quote escapes), or -1. */
static int quoted_end(const char *s, int p, char q)
{
	char close = q == '[' ? ']' : q;

	for (p++; s[p]; p++) {
		if (s[p] != close)
			continue;
		if (close != ']' && s[p + 1] == close) {
			p++;
			continue;
		}
		return p + 1;
	}
	return -1;
}

static void next(struct parser *ps)
{
	const char *s = ps->src;
	int p = skip_space(s, ps->pos);
	unsigned char c = s[p];

	ps->ts = p;
	if (!c) {
		ps->t = T_EOF;
	} else if (c == '\'' || c == '"' || c == '`' || c == '[') {
		int end = quoted_end(s, p, c);

		ps->t = end < 0 ? T_BAD : c == '\'' ? T_STR : T_QIDENT;
		p = end < 0 ? (int)strlen(s) : end;
	} else if (isalpha(c) || c == '_' || c >= 0x80) {
		while (isalnum((unsigned char)s[p]) || s[p] == '_' || s[p] == '$' ||
		       (unsigned char)s[p] >= 0x80)
			p++;
		ps->t = T_IDENT;
	} else if (isdigit(c) || (c == '.' && isdigit((unsigned char)s[p + 1]))) {
		ps->t = T_INT;
		if (c == '0' && (s[p + 1] == 'x' || s[p + 1] == 'X')) {
			p += 2;
			while (isxdigit((unsigned char)s[p]))
				p++;
		} else {
			while (isdigit((unsigned char)s[p]))
				p++;
		}
		/* decimals, exponents, 12abc: not an integer literal */
		while (isalnum((unsigned char)s[p]) || s[p] == '.' ||
		       ((s[p] == '+' || s[p] == '-') && tolower(s[p - 1]) == 'e')) {
			ps->t = T_NUM;
			p++;
		}
	} else if (c == '(') {
		ps->t = T_LP, p++;
	} else if (c == ')') {
		ps->t = T_RP, p++;
	} else if (c == ',') {
		ps->t = T_COMMA, p++;
	} else {
		ps->t = T_BAD;
		p++;
		for (size_t i = 0; i < sizeof(op_chars) / sizeof(op_chars[0]); i++) {
			size_t n = strlen(op_chars[i]);

			if (!strncmp(s + ps->ts, op_chars[i], n)) {
				ps->t = T_OP;
				p = ps->ts + n;
				break;
			}
		}
	}
	ps->te = p;
	ps->pos = p;
}

static int is_kw(const struct parser *ps, const char *kw)
{
	size_t n = strlen(kw);

	return ps->t == T_IDENT && (size_t)(ps->te - ps->ts) == n &&
	       !strncasecmp(ps->src + ps->ts, kw, n);
}

static int is_op(const struct parser *ps, const char *op)
{
	size_t n = strlen(op);

	return ps->t == T_OP && (size_t)(ps->te - ps->ts) == n &&
	       !strncmp(ps->src + ps->ts, op, n);
}

static int fail(struct parser *ps, int start, int end, int syntax, const char *fmt, ...)
{
	va_list ap;

	if (end <= start) {	/* at the end: name what came before */
		start = start < ps->ts ? start : 0;
		end = (int)strlen(ps->src);
	}
	ps->e->span.start = start;
	ps->e->span.end = end;
	ps->e->syntax = syntax;
	va_start(ap, fmt);
	vsnprintf(ps->e->why, sizeof(ps->e->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* "unexpected 'x'" / "unexpected end of condition" for the current token. */
static int unexpected(struct parser *ps, int start, const char *wanted)
{
	if (ps->t == T_EOF)
		return fail(ps, start, ps->ts, 1, "%s, found the end of the condition", wanted);
	return fail(ps, start, ps->te, 1, "%s, found '%.*s'", wanted, ps->te - ps->ts,
		    ps->src + ps->ts);
}

static void lits_free(struct plit *l, int n)
{
	for (int i = 0; i < n; i++)
		free(l[i].str);
	free(l);
}

void pnode_free(struct pnode *n)
{
	if (!n)
		return;
	pnode_free(n->a);
	pnode_free(n->b);
	lits_free(n->lits, n->nlits);
	free(n);
}

static struct pnode *node_new(enum pnode_kind kind, int start)
{
	struct pnode *n = calloc(1, sizeof(*n));

	if (n) {
		n->kind = kind;
		n->span.start = start;
	}
	return n;
}

static int parse_or(struct parser *ps, struct pnode **out);

/* The current token is a literal: store it in @l and advance. 1 if it is not a literal. */
static int parse_lit(struct parser *ps, struct plit *l)
{
	int start = ps->ts, sign = 1;
	const char *s = ps->src;

	memset(l, 0, sizeof(*l));
	if (is_op(ps, "-") || is_op(ps, "+")) {
		sign = is_op(ps, "-") ? -1 : 1;
		next(ps);
		if (ps->t != T_INT && ps->t != T_NUM)
			return unexpected(ps, start, "expected a number after the sign");
	}
	l->span.start = start;
	l->span.end = ps->te;
	if (is_kw(ps, "NULL"))
		return fail(ps, start, ps->te, 0,
			    "NULL is refused: a comparison with NULL is never true");
	if (ps->t == T_NUM)
		return fail(ps, start, ps->te, 0, "not an integer: only integer literals compile");
	if (ps->t == T_INT) {
		const char *p = s + ps->ts;
		int hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
		unsigned long long v = 0, lim = hex ? ~0ULL : (unsigned long long)INT64_MAX;

		for (p += hex ? 2 : 0; p < s + ps->te; p++) {
			unsigned d = isdigit((unsigned char)*p) ? *p - '0' :
				     tolower(*p) - 'a' + 10;

			if (v > (lim - d) / (hex ? 16 : 10))
				l->overflow = 1;
			v = v * (hex ? 16 : 10) + d;
		}
		l->ival = (int64_t)v * sign;	/* hex wraps to negative as in SQLite */
		next(ps);
		return 0;
	}
	if (ps->t == T_STR && sign == 1) {
		int a = ps->ts + 1, b = ps->te - 1;

		l->is_str = 1;
		l->str = malloc(b - a + 1);
		if (!l->str)
			return fail(ps, start, ps->te, 0, "out of memory");
		for (int i = a; i < b; i++) {
			l->str[l->len++] = s[i];
			if (s[i] == '\'')
				i++;
		}
		l->str[l->len] = 0;
		next(ps);
		return 0;
	}
	return 1;
}

/* After "IN": "(SELECT ...)" (the text kept) or "(lit, ...)". */
static int parse_in(struct parser *ps, struct pnode *n)
{
	int start = n->span.start;

	if (ps->t != T_LP)
		return unexpected(ps, start, "expected '(' after IN");
	next(ps);
	if (is_kw(ps, "SELECT") || is_kw(ps, "WITH") || is_kw(ps, "VALUES")) {
		int depth = 1, p = ps->ts;
		const char *s = ps->src;

		n->has_sub = 1;
		n->sub.start = p;
		while (s[p] && depth) {
			int q = skip_space(s, p);

			if (q != p) {
				p = q;
				continue;
			}
			if (s[p] == '\'' || s[p] == '"' || s[p] == '`' || s[p] == '[') {
				p = quoted_end(s, p, s[p]);
				if (p < 0)
					break;
				continue;
			}
			depth += s[p] == '(';
			depth -= s[p] == ')';
			p++;
		}
		if (p < 0 || depth)
			return fail(ps, start, (int)strlen(s), 1, "unbalanced subquery");
		n->sub.end = p - 1;
		ps->pos = p;
		next(ps);
		return 0;
	}
	while (ps->t != T_RP) {
		struct plit *l = realloc(n->lits, (n->nlits + 1) * sizeof(*l));
		int r;

		if (!l)
			return fail(ps, start, ps->te, 0, "out of memory");
		n->lits = l;
		r = parse_lit(ps, &l[n->nlits]);
		if (r > 0)
			return unexpected(ps, start, "expected a literal in the IN list");
		n->nlits++;	/* the literal is owned by n, parsed or not */
		if (r < 0)
			return -1;
		if (ps->t == T_COMMA)
			next(ps);
		else if (ps->t != T_RP)
			return unexpected(ps, start, "expected ',' or ')' in the IN list");
	}
	next(ps);
	return 0;
}

static const char *const keywords[] = {
	"AND", "OR", "NOT", "IN", "IS", "NULL", "SELECT", "FROM", "WHERE", "BETWEEN", "LIKE",
	"GLOB", "CASE", "WHEN", "THEN", "ELSE", "END", "EXISTS", "CAST", NULL,
};

/* A column name at the current token, or NULL (after an error if it is a name the hook lacks). */
static const struct pcol *parse_col(struct parser *ps, int *err)
{
	int a = ps->ts, b = ps->te;
	const struct pcol *c;
	char cols[160];

	*err = 0;
	for (int i = 0; ps->t == T_IDENT && keywords[i]; i++)
		if (is_kw(ps, keywords[i]))
			return NULL;
	if (ps->t == T_QIDENT)
		a++, b--;
	else if (ps->t != T_IDENT)
		return NULL;
	c = pcol_find(ps->hook, ps->src + a, b - a);
	if (c) {
		next(ps);
		return c;
	}
	pcol_list(ps->hook, cols, sizeof(cols));
	if (ps->t == T_IDENT && ps->src[skip_space(ps->src, ps->te)] == '(')
		*err = fail(ps, ps->ts, ps->te, 0, "functions do not compile into the kernel; "
			    "compare a context column with a literal");
	else
		*err = fail(ps, ps->ts, ps->te, 0, "%s has no column '%.*s'; its columns are %s%s",
			    (const char *[]){ "exec", "open", "connect", "bind", "kill", "sched",
					      "process_ancestors" }[ps->hook],
			    b - a, ps->src + a, cols, ps->src[ps->ts] == '"' ?
			    " (text literals take single quotes)" : "");
	return NULL;
}

static const char only_eq[] =
	"only =, <>, IN, NOT IN and (on path and exe) GLOB 'prefix*' compile into the kernel";

/* col op lit | lit op col | col [NOT] IN (...) | path [NOT] GLOB 'lit' */
static int parse_pred(struct parser *ps, struct pnode **out)
{
	int start = ps->ts, err, lit_first = 0;
	struct pnode *n = node_new(PN_PRED, start);
	struct plit l;
	int r;

	if (!n)
		return fail(ps, start, ps->te, 0, "out of memory");
	*out = n;
	n->col = parse_col(ps, &err);
	if (err)
		return -1;
	if (!n->col) {
		r = parse_lit(ps, &l);
		if (r < 0)
			return -1;
		if (r > 0)
			return unexpected(ps, start, "expected a context column or a literal");
		n->lits = malloc(sizeof(l));
		if (!n->lits) {
			free(l.str);
			return fail(ps, start, ps->te, 0, "out of memory");
		}
		n->lits[0] = l;
		n->nlits = 1;
		lit_first = 1;
	}
	if (is_kw(ps, "NOT")) {
		n->neg = 1;
		next(ps);
	}
	if (is_op(ps, "=") || is_op(ps, "==") || is_op(ps, "<>") || is_op(ps, "!=")) {
		if (n->neg)
			return unexpected(ps, start, "expected IN or GLOB after NOT");
		n->neg = is_op(ps, "<>") || is_op(ps, "!=");
		next(ps);
		if (lit_first) {
			n->col = parse_col(ps, &err);
			if (err)
				return -1;
			if (!n->col)
				return fail(ps, start, ps->te, 0,
					    "compare a context column with a literal");
		} else {
			n->lits = malloc(sizeof(*n->lits));
			if (!n->lits)
				return fail(ps, start, ps->te, 0, "out of memory");
			r = parse_lit(ps, n->lits);
			if (r < 0)
				return -1;
			if (r > 0) {
				int e2;

				if (parse_col(ps, &e2))
					return fail(ps, start, ps->ts, 0, "compare a context column "
						    "with a literal, not with another column");
				return e2 ? -1 : unexpected(ps, start, "expected a literal");
			}
			n->nlits = 1;
		}
	} else if (!lit_first && is_kw(ps, "IN")) {
		next(ps);
		if (parse_in(ps, n))
			return -1;
	} else if (!lit_first && is_kw(ps, "GLOB")) {
		next(ps);
		if (n->col->kind != PCOL_PATH)
			return fail(ps, start, ps->te, 0, "GLOB compiles only on path and exe; "
				    "use = or IN on %s", n->col->name);
		n->op = POP_GLOB;
		n->lits = malloc(sizeof(*n->lits));
		if (!n->lits)
			return fail(ps, start, ps->te, 0, "out of memory");
		r = parse_lit(ps, n->lits);
		if (!r)
			n->nlits = 1;
		if (r)
			return r < 0 ? -1 : unexpected(ps, start, "expected a 'pattern' after GLOB");
		if (!n->lits[0].is_str)
			return fail(ps, start, ps->ts, 0, "GLOB needs a string pattern");
	} else if (is_kw(ps, "LIKE")) {
		next(ps);
		return fail(ps, start, ps->t == T_EOF ? start + 4 : ps->te, 0,
			    "LIKE is refused: it is case-insensitive in SQLite and the kernel "
			    "compares bytes; use GLOB 'prefix*' or =");
	} else if (is_op(ps, "<") || is_op(ps, ">") || is_op(ps, "<=") || is_op(ps, ">=") ||
		   is_kw(ps, "BETWEEN") || is_kw(ps, "IS") || is_kw(ps, "REGEXP") ||
		   is_kw(ps, "MATCH") || is_kw(ps, "ISNULL") || is_kw(ps, "NOTNULL") ||
		   (ps->t == T_OP && !is_op(ps, ";"))) {
		int end = ps->te;

		/* name the comparison: up to the next AND/OR/')' */
		while (ps->t != T_EOF && ps->t != T_RP && !is_kw(ps, "AND") && !is_kw(ps, "OR")) {
			end = ps->te;
			next(ps);
		}
		return fail(ps, start, end, 0, "%s", only_eq);
	} else {
		return unexpected(ps, start, n->neg ? "expected IN or GLOB after NOT" :
				  "expected =, <>, IN or GLOB");
	}
	/* the end of the last token, not the blanks after it */
	n->span.end = ps->ts;
	while (n->span.end > start && isspace((unsigned char)ps->src[n->span.end - 1]))
		n->span.end--;
	return 0;
}

static int parse_primary(struct parser *ps, struct pnode **out)
{
	int start = ps->ts;

	if (ps->t != T_LP)
		return parse_pred(ps, out);
	if (++ps->depth > 100)
		return fail(ps, start, ps->te, 0, "nested too deeply");
	next(ps);
	if (parse_or(ps, out))
		return -1;
	ps->depth--;
	if (ps->t != T_RP)
		return unexpected(ps, start, "expected ')'");
	(*out)->span.start = start;
	(*out)->span.end = ps->te;
	next(ps);
	return 0;
}

static int parse_not(struct parser *ps, struct pnode **out)
{
	int start = ps->ts;
	struct pnode *n;

	if (!is_kw(ps, "NOT"))
		return parse_primary(ps, out);
	if (++ps->depth > 100)
		return fail(ps, start, ps->te, 0, "nested too deeply");
	next(ps);
	n = node_new(PN_NOT, start);
	if (!n)
		return fail(ps, start, ps->te, 0, "out of memory");
	*out = n;
	if (parse_not(ps, &n->a))
		return -1;
	ps->depth--;
	n->span.end = n->a->span.end;
	return 0;
}

static int parse_bin(struct parser *ps, struct pnode **out, int and)
{
	int start = ps->ts;

	if (and ? parse_not(ps, out) : parse_bin(ps, out, 1))
		return -1;
	while (is_kw(ps, and ? "AND" : "OR")) {
		struct pnode *n = node_new(and ? PN_AND : PN_OR, start);

		if (!n)
			return fail(ps, start, ps->te, 0, "out of memory");
		n->a = *out;
		*out = n;
		next(ps);
		if (and ? parse_not(ps, &n->b) : parse_bin(ps, &n->b, 1))
			return -1;
		n->span.end = n->b->span.end;
	}
	return 0;
}

static int parse_or(struct parser *ps, struct pnode **out)
{
	return parse_bin(ps, out, 0);
}

int pcond_parse(const char *src, int hook, struct pnode **out, struct perr *e)
{
	struct parser ps = { .src = src ? src : "", .hook = hook, .e = e };

	*out = NULL;
	memset(e, 0, sizeof(*e));
	next(&ps);
	if (ps.t == T_EOF)
		return 0;
	if (parse_or(&ps, out))
		goto err;
	if (ps.t != T_EOF) {
		if (is_op(&ps, ";"))
			fail(&ps, ps.ts, (int)strlen(src), 1,
			     "one expression only: nothing may follow ';'");
		else
			unexpected(&ps, ps.ts, "expected AND, OR or the end");
		goto err;
	}
	return 0;
err:
	pnode_free(*out);
	*out = NULL;
	return -1;
}
