// SPDX-License-Identifier: GPL-2.0
/* compile.c - policy rules -> checked conditions -> DNF terms (then image.c builds the maps). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "dbserver/policy/compile.h"
#include "dbserver/policy/compile_int.h"
#include "dbserver/sql/sql.h"
#include "dbserver/policy/parse.h"

static const char *const hook_names[] = { "exec", "open", "connect", "bind", "kill", "sched" };
static const char *const action_names[] = { "deny", "audit", "allow", "set" };

int policy_hook_parse(const char *name)
{
	for (int i = 0; name && i < POLICY_HOOK__COUNT; i++)
		if (!strcmp(name, hook_names[i]))
			return i;
	return -1;
}

const char *policy_hook_name(int hook)
{
	return hook >= 0 && hook < POLICY_HOOK__COUNT ? hook_names[hook] : NULL;
}

int policy_action_parse(const char *name)
{
	for (int i = 0; name && i < 4; i++)
		if (!strcmp(name, action_names[i]))
			return i;
	return -1;
}

const char *policy_action_name(int action)
{
	return action >= 0 && action < 4 ? action_names[action] : NULL;
}

/* One predicate of a rule with its literals (or subquery rows) encoded. */
struct atom {
	const struct pnode *pn;
	struct pvset set;	/* every field but PATH and EXE */
	struct pvset fork;	/* pid subquery: parents whose next child is in it */
	struct pstr *m;		/* PATH, EXE */
	size_t nm;
	int mark;		/* a lineage subquery: this compile's mark (else -1) */
};

/* A conjunct: l[i] = atom index * 2 + negated. */
struct conj {
	size_t n;
	int *l;
};

struct dnf {
	size_t n;
	struct conj *c;
};

struct rulec {
	const struct policy_rule *r;
	char label[64];
	int hook, action;
	struct pnode *tree;
	struct atom *atoms;
	int natoms;
	struct dnf d;
	int sets;		/* some predicate is a subquery the server evaluates */
};

/* A lineage mark of this compile: one process_ancestors condition, compiled as its own rule. */
struct cmark {
	char *text;		/* the condition as written, trimmed: what identifies the mark */
	uint64_t hash;		/* of @text (never 0) */
	struct policy_rule r;	/* hook POLICY_HOOK_ANCESTOR, condition @text, id: the first rule's */
	struct rulec rc;
	int kid;		/* the kernel's id (assign_marks) */
};

struct cctx {
	sqlite3 *db;
	int run;		/* run subqueries (compile) or not (check) */
	char **err;
	/* the pids processes showed before the first pid subquery ran (policy_image.gen.known_pids) */
	uint32_t *known;
	size_t nknown;
	int known_read;
	struct cmark *marks;	/* lineage marks, in order of first use */
	int nmarks;
	char *notes;		/* what the user should know (a symlink in a path), one per line */
	/* the exact paths whose files were looked up (policy_image.ilits), unsorted */
	struct policy_inode_lit *ilits;
	size_t nilits, ilits_cap;
};

/* Appends one line to c->notes (best effort). */
static void note(struct cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct cctx *c, const char *fmt, ...)
{
	char *line, *all;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	if (!line)
		return;
	if (c->notes && strstr(c->notes, line)) {	/* once, even if several rules say it */
		free(line);
		return;
	}
	if (asprintf(&all, "%s%s%s", c->notes ? c->notes : "", c->notes ? "\n" : "", line) >= 0) {
		free(c->notes);
		c->notes = all;
	}
	free(line);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * c->known = every live pid, read before any pid subquery runs. 0, or -1
 * (message in *why). A connection with no processes table (host tests of
 * the compiler alone) has none: known stays empty, and a re-push then
 * keeps no entries the image lacks (as before this existed).
 */
static int read_known(struct cctx *c, char *why, size_t size)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rv;

	c->known_read = 1;
	rv = sqlite3_prepare_v2(c->db, "SELECT pid FROM processes WHERE pid < 4294967296", -1,
				&st, NULL);
	if (rv != SQLITE_OK)
		return 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (c->nknown == cap) {
			uint32_t *k = realloc(c->known, (cap ? 2 * cap : 256) * sizeof(*k));

			if (!k) {
				sqlite3_finalize(st);
				snprintf(why, size, "out of memory");
				return -1;
			}
			c->known = k;
			cap = cap ? 2 * cap : 256;
		}
		c->known[c->nknown++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (c->nknown)
		qsort(c->known, c->nknown, sizeof(*c->known), u32_cmp);
	return 0;
}

static int errf(char **err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	return -1;
}

/* "rule 'x': 'part': why" */
static int rule_err(struct cctx *c, const struct rulec *rc, struct pspan sp, const char *why)
{
	const char *src = rc->r->condition ? rc->r->condition : "";

	return errf(c->err, "rule %s: '%.*s': %s", rc->label, sp.end - sp.start,
		    src + sp.start, why);
}

static void dnf_free(struct dnf *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->c[i].l);
	free(d->c);
	d->c = NULL;
	d->n = 0;
}

static void rulec_free(struct rulec *rc);

static void marks_free(struct cctx *c)
{
	for (int i = 0; i < c->nmarks; i++) {
		rulec_free(&c->marks[i].rc);
		free(c->marks[i].text);
	}
	free(c->marks);
	c->marks = NULL;
	c->nmarks = 0;
}

static void rulec_free(struct rulec *rc)
{
	for (int i = 0; i < rc->natoms; i++) {
		free(rc->atoms[i].set.v);
		free(rc->atoms[i].fork.v);
		free(rc->atoms[i].m);
	}
	free(rc->atoms);
	pnode_free(rc->tree);
	dnf_free(&rc->d);
}

static int pval_add(struct pvset *s, const struct pval *v)
{
	if (!(s->n & (s->n - 1))) {	/* 0, 1, 2, 4, ...: double */
		struct pval *p = realloc(s->v, (s->n ? 2 * s->n : 1) * sizeof(*p));

		if (!p)
			return -1;
		s->v = p;
	}
	s->v[s->n++] = *v;
	return 0;
}

static void pvset_sort(struct pvset *s)
{
	size_t n = 0;

	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof(*s->v), pvset_cmp);
	for (size_t i = 0; i < s->n; i++)
		if (!n || memcmp(&s->v[n - 1], &s->v[i], sizeof(*s->v)))
			s->v[n++] = s->v[i];
	s->n = n;
}

/*
 * Authorizer: *arg = 1 once the statement reads processes_live (sql.h,
 * fork_children), or process_ancestors, a table over processes whose own
 * SELECT runs when it is read, not while this one is prepared
 * (sql/viewtab.c). The session's guard decides first (sql_authorize): a
 * subquery is SQL like any other.
 */
static int reads_processes(void *arg, int action, const char *table, const char *col,
			   const char *db, const char *view)
{
	int rc = sql_authorize(NULL, action, table, col, db, view);

	if (rc == SQLITE_OK && action == SQLITE_READ && table &&
	    (!strcmp(table, "processes_live") || !strcmp(table, "process_ancestors")))
		*(int *)arg = 1;
	return rc;
}

/*
 * Run the subquery of @a; its integers in the column's range go into a->set.
 * For a pid set, a->fork gets the parents whose next child would be in it:
 * from the children @db's processes shows (sql.h, fork_children) when the
 * subquery reads processes, else the members themselves (a child inherits).
 */
static int run_sub(struct cctx *c, struct rulec *rc, struct atom *a)
{
	int procs = 0;
	const struct pnode *pn = a->pn;
	const char *src = rc->r->condition;
	sqlite3_stmt *st = NULL;
	char *sql, why[320];
	int rv;

	if (pn->col->field == DBOS_LSM_F_PID && !c->known_read &&
	    read_known(c, why, sizeof(why)))
		return rule_err(c, rc, pn->span, why);
	if (asprintf(&sql, "SELECT * FROM (%.*s\n)", pn->sub.end - pn->sub.start,
		     src + pn->sub.start) < 0)
		return rule_err(c, rc, pn->span, "out of memory");
	sqlite3_set_authorizer(c->db, reads_processes, &procs);
	rv = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	sqlite3_set_authorizer(c->db, sql_authorize, NULL);
	free(sql);
	if (rv != SQLITE_OK || !sqlite3_stmt_readonly(st)) {
		snprintf(why, sizeof(why), "the subquery fails: %s",
			 rv != SQLITE_OK ? sql_errmsg(c->db) : "it is not read-only");
		sqlite3_finalize(st);
		return rule_err(c, rc, pn->span, why);
	}
	while ((rv = sqlite3_step(st)) == SQLITE_ROW) {
		struct plit l = { .ival = sqlite3_column_int64(st, 0) };
		struct pval v;

		if (sqlite3_column_type(st, 0) != SQLITE_INTEGER) {
			snprintf(why, sizeof(why), "the subquery returned a non-integer value "
				 "(%s): the kernel matches integer ids",
				 sqlite3_column_type(st, 0) == SQLITE_NULL ? "NULL" :
				 (const char *)sqlite3_column_text(st, 0));
			sqlite3_finalize(st);
			return rule_err(c, rc, pn->span, why);
		}
		/* A child some process would fork now (see sql.h, fork_children). */
		if (pn->col->field == DBOS_LSM_F_PID && l.ival >= SQL_FORK_PID_OFFSET &&
		    l.ival - SQL_FORK_PID_OFFSET <= UINT32_MAX) {
			l.ival -= SQL_FORK_PID_OFFSET;
			if (!lit_value(pn->col, &l, &v, why, sizeof(why)) &&
			    pval_add(&a->fork, &v)) {
				sqlite3_finalize(st);
				return rule_err(c, rc, pn->span, "out of memory");
			}
			continue;
		}
		if (lit_value(pn->col, &l, &v, why, sizeof(why)))
			continue;	/* out of range: never equal to the column */
		if (pval_add(&a->set, &v)) {
			sqlite3_finalize(st);
			return rule_err(c, rc, pn->span, "out of memory");
		}
	}
	if (rv != SQLITE_DONE) {
		snprintf(why, sizeof(why), "the subquery fails: %s", sql_errmsg(c->db));
		sqlite3_finalize(st);
		return rule_err(c, rc, pn->span, why);
	}
	sqlite3_finalize(st);
	pvset_sort(&a->set);
	if (pn->col->field == DBOS_LSM_F_PID && !procs) {
		free(a->fork.v);
		a->fork.v = NULL;
		a->fork.n = 0;
		for (size_t i = 0; i < a->set.n; i++)
			if (pval_add(&a->fork, &a->set.v[i]))
				return rule_err(c, rc, pn->span, "out of memory");
	}
	pvset_sort(&a->fork);
	return 0;
}

static int rule_prepare(struct cctx *c, const struct policy_rule *r, struct rulec *rc);

/* Case-insensitive keyword @w at @p (after blanks), followed by a non-word byte; its end, or NULL. */
static const char *word(const char *p, const char *end, const char *w)
{
	size_t n = strlen(w);

	while (p < end && isspace((unsigned char)*p))
		p++;
	if ((size_t)(end - p) < n || strncasecmp(p, w, n))
		return NULL;
	p += n;
	return p < end && (isalnum((unsigned char)*p) || *p == '_') ? NULL : p;
}

/*
 * If @sub (@len bytes) reads "SELECT pid FROM process_ancestors WHERE
 * <condition>", the condition's offset in it; else -1.
 */
static int lineage_where(const char *sub, size_t len)
{
	const char *end = sub + len, *p = sub;
	static const char *const words[] = { "SELECT", "pid", "FROM", "process_ancestors", "WHERE" };

	for (size_t i = 0; p && i < sizeof(words) / sizeof(words[0]); i++)
		p = word(p, end, words[i]);
	return p ? (int)(p - sub) : -1;
}

static int has_sub(const struct pnode *n)
{
	if (!n)
		return 0;
	if (n->kind == PN_PRED)
		return n->has_sub;
	return has_sub(n->a) || has_sub(n->b);
}

/* 64-bit FNV-1a of @s (never 0). */
static uint64_t text_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h ? h : 1;
}

/*
 * A pid subquery of an LSM hook's rule that is a lineage condition (pid IN
 * (SELECT pid FROM process_ancestors WHERE <condition on the ancestor's own
 * columns>)) becomes mark a->mark: 1. Any other subquery (another shape,
 * other columns, depth, a nested subquery): 0, the server evaluates it.
 * -1 on an error in the condition (a bad literal) or too many marks.
 */
static int lineage(struct cctx *c, struct rulec *rc, struct atom *a)
{
	const struct pnode *pn = a->pn;
	const char *src = rc->r->condition + pn->sub.start;
	size_t len = pn->sub.end - pn->sub.start, tl;
	struct pnode *tree = NULL;
	struct cmark *m;
	struct perr pe;
	char *text;
	int off, i;

	if (pn->col->field != DBOS_LSM_F_PID || rc->hook >= DBOS_LSM_HOOK__COUNT)
		return 0;
	off = lineage_where(src, len);
	if (off < 0)
		return 0;
	while ((size_t)off < len && isspace((unsigned char)src[off]))
		off++;
	for (tl = len - off; tl && isspace((unsigned char)src[off + tl - 1]); tl--)
		;
	text = strndup(src + off, tl);
	if (!text)
		return rule_err(c, rc, pn->span, "out of memory");
	if (pcond_parse(text, POLICY_HOOK_ANCESTOR, &tree, &pe) || !tree || has_sub(tree)) {
		pnode_free(tree);
		free(text);
		return 0;	/* not the ancestor's own columns alone: the server's */
	}
	pnode_free(tree);
	for (i = 0; i < c->nmarks && strcmp(c->marks[i].text, text); i++)
		;
	if (i < c->nmarks) {
		free(text);
		a->mark = i;
		return 1;
	}
	if (c->nmarks == DBOS_LSM_MARKS) {
		free(text);
		return rule_err(c, rc, pn->span, "more than 64 different process_ancestors "
				"conditions: the kernel keeps at most 64 lineage marks");
	}
	m = realloc(c->marks, (c->nmarks + 1) * sizeof(*m));
	if (!m) {
		free(text);
		return rule_err(c, rc, pn->span, "out of memory");
	}
	c->marks = m;
	m += c->nmarks;
	memset(m, 0, sizeof(*m));
	m->text = text;
	m->hash = text_hash(text);
	m->r = (struct policy_rule){ .id = rc->r->id, .name = rc->r->name, .hook = "ancestor",
				     .action = "deny", .condition = text, .checked = 1 };
	m->kid = -1;
	c->nmarks++;
	if (rule_prepare(c, &m->r, &m->rc)) {	/* the message names the part at fault */
		c->nmarks--;
		rulec_free(&m->rc);
		free(m->text);
		return -1;
	}
	a->mark = c->nmarks - 1;
	return 1;
}

/*
 * Exact path @p of a PATH predicate of a hook whose object is a file
 * (exec, open, connect: a unix peer's socket file) also names the file
 * found there now: its inode and device go into @p and the path into
 * c->ilits (for policy_image_inodes_changed). Not bind: its file does not
 * exist yet when the kernel decides. 0, or -1 (no memory).
 */
static int look_up_inode(struct cctx *c, int hook, const struct pnode *pn, struct pstr *p)
{
	struct policy_inode_lit *l;

	if (!c->run || pn->col->field != DBOS_LSM_F_PATH || p->s[0] != '/' || p->s[p->len - 1] ||
	    (hook != DBOS_LSM_EXEC && hook != DBOS_LSM_OPEN && hook != DBOS_LSM_CONNECT))
		return 0;
	if (c->nilits == c->ilits_cap) {
		size_t cap = c->ilits_cap ? 2 * c->ilits_cap : 16;

		l = realloc(c->ilits, cap * sizeof(*l));
		if (!l)
			return -1;
		c->ilits = l;
		c->ilits_cap = cap;
	}
	l = &c->ilits[c->nilits++];
	memset(l, 0, sizeof(*l));
	memcpy(l->path, p->s, p->len);
	l->found = p->has_inode = lit_inode(p->s, &p->ino, &p->dev);
	l->ino = p->ino;
	l->dev = p->dev;
	return 0;
}

static int ilit_cmp(const void *a, const void *b)
{
	return strcmp(((const struct policy_inode_lit *)a)->path,
		      ((const struct policy_inode_lit *)b)->path);
}

/* c->ilits sorted, each path once, handed to @img. */
static void give_ilits(struct cctx *c, struct policy_image *img)
{
	size_t n = 0;

	if (c->nilits)
		qsort(c->ilits, c->nilits, sizeof(*c->ilits), ilit_cmp);
	for (size_t i = 0; i < c->nilits; i++)
		if (!n || strcmp(c->ilits[n - 1].path, c->ilits[i].path))
			c->ilits[n++] = c->ilits[i];
	img->ilits = c->ilits;
	img->nilits = n;
	c->ilits = NULL;
	c->nilits = 0;
}

/* Encode the literals of predicate @pn into atom @a. */
static int conv_atom(struct cctx *c, struct rulec *rc, struct atom *a)
{
	const struct pnode *pn = a->pn;
	char why[320];

	a->mark = -1;
	if (pn->has_sub) {
		int r = lineage(c, rc, a);

		if (r)
			return r < 0 ? -1 : 0;
		rc->sets = 1;
		if (pn->col->kind == PCOL_PATH || pn->col->kind == PCOL_NAME ||
		    pn->col->kind == PCOL_ADDR)
			return rule_err(c, rc, pn->span, "subqueries compile only on integer "
					"columns (pid, uid, euid, gid, ...)");
		return c->run ? run_sub(c, rc, a) : 0;
	}
	if (pn->col->kind == PCOL_PATH) {
		/* each literal, and what it resolves to if that differs (at most twice as many) */
		a->m = calloc(pn->nlits ? 2 * pn->nlits : 1, sizeof(*a->m));
		if (!a->m)
			return rule_err(c, rc, pn->span, "out of memory");
		for (int i = 0; i < pn->nlits; i++, a->nm++) {
			if (lit_path(pn->col, &pn->lits[i], pn->op == POP_GLOB, &a->m[a->nm], why,
				      sizeof(why)))
				return rule_err(c, rc, pn->span, why);
			if (look_up_inode(c, rc->hook, pn, &a->m[a->nm]))
				return rule_err(c, rc, pn->span, "out of memory");
		}
		for (size_t i = 0, n = a->nm; i < n; i++) {
			if (!lit_resolve(&a->m[i], &a->m[a->nm]))
				continue;
			note(c, "rule %s: '%.*s' is '%.*s' once symlinks are resolved, which is the "
			     "path the kernel compares: the rule matches it too", rc->label,
			     (int)strnlen(a->m[i].s, a->m[i].len), a->m[i].s,
			     (int)strnlen(a->m[a->nm].s, a->m[a->nm].len), a->m[a->nm].s);
			a->nm++;
		}
		return 0;
	}
	for (int i = 0; i < pn->nlits; i++) {
		struct pval v;

		if (lit_value(pn->col, &pn->lits[i], &v, why, sizeof(why)))
			return rule_err(c, rc, pn->span, why);
		if (pval_add(&a->set, &v))
			return rule_err(c, rc, pn->span, "out of memory");
	}
	pvset_sort(&a->set);
	return 0;
}

/* Number the predicates of @n and encode them. */
static int walk_atoms(struct cctx *c, struct rulec *rc, struct pnode *n)
{
	struct atom *a;

	if (!n)
		return 0;
	if (n->kind != PN_PRED)
		return walk_atoms(c, rc, n->a) || walk_atoms(c, rc, n->b) ? -1 : 0;
	a = realloc(rc->atoms, (rc->natoms + 1) * sizeof(*a));
	if (!a)
		return rule_err(c, rc, n->span, "out of memory");
	rc->atoms = a;
	a += rc->natoms;
	memset(a, 0, sizeof(*a));
	a->pn = n;
	n->idx = rc->natoms++;
	return conv_atom(c, rc, a);
}

/* The DNF of @n (negated if @neg), at most POLICY_MAX_CONJUNCTS conjuncts. */
static int dnf_of(struct cctx *c, struct rulec *rc, const struct pnode *n, int neg,
		  struct dnf *out)
{
	struct dnf a, b;
	size_t total;
	int conj;
	char why[160];

	memset(out, 0, sizeof(*out));
	if (n->kind == PN_NOT)
		return dnf_of(c, rc, n->a, !neg, out);
	if (n->kind == PN_PRED) {
		out->c = calloc(1, sizeof(*out->c));
		if (out->c)
			out->c[0].l = malloc(sizeof(int));
		if (!out->c || !out->c[0].l) {
			free(out->c);
			return rule_err(c, rc, n->span, "out of memory");
		}
		out->n = out->c[0].n = 1;
		out->c[0].l[0] = n->idx * 2 + (neg ^ n->neg);
		return 0;
	}
	if (dnf_of(c, rc, n->a, neg, &a))
		return -1;
	if (dnf_of(c, rc, n->b, neg, &b)) {
		dnf_free(&a);
		return -1;
	}
	conj = (n->kind == PN_AND) != neg;
	total = conj ? a.n * b.n : a.n + b.n;
	if (total > POLICY_MAX_CONJUNCTS) {
		dnf_free(&a);
		dnf_free(&b);
		snprintf(why, sizeof(why), "%zu conjuncts in disjunctive normal form; at most "
			 "%d per rule compile", total, POLICY_MAX_CONJUNCTS);
		return rule_err(c, rc, n->span, why);
	}
	out->c = calloc(total, sizeof(*out->c));
	if (!out->c)
		goto oom;
	if (!conj) {
		memcpy(out->c, a.c, a.n * sizeof(*a.c));
		memcpy(out->c + a.n, b.c, b.n * sizeof(*b.c));
		out->n = total;
		free(a.c);
		free(b.c);
		return 0;
	}
	for (size_t i = 0; i < a.n; i++) {
		for (size_t j = 0; j < b.n; j++) {
			struct conj *k = &out->c[out->n];

			k->l = malloc((a.c[i].n + b.c[j].n) * sizeof(int));
			if (!k->l)
				goto oom;
			memcpy(k->l, a.c[i].l, a.c[i].n * sizeof(int));
			memcpy(k->l + a.c[i].n, b.c[j].l, b.c[j].n * sizeof(int));
			k->n = a.c[i].n + b.c[j].n;
			out->n++;
		}
	}
	dnf_free(&a);
	dnf_free(&b);
	return 0;
oom:
	dnf_free(&a);
	dnf_free(&b);
	dnf_free(out);
	return rule_err(c, rc, n->span, "out of memory");
}

/* SQLite's own check of the condition over policy_context_<hook>: 0, or -1 with its message. */
static int sqlite_check(struct cctx *c, const struct rulec *rc)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	char *sql;
	int rv;

	if (!c->db)
		return errf(c->err, "rule %s: no database to check it", rc->label);
	if (asprintf(&sql, "SELECT 1 FROM policy_context_%s WHERE %s",
		     hook_names[rc->hook], rc->r->condition) < 0)
		return errf(c->err, "rule %s: out of memory", rc->label);
	rv = sqlite3_prepare_v2(c->db, sql, -1, &st, &tail);
	if (rv == SQLITE_OK && tail && tail[strspn(tail, " \t\n\r;")]) {
		sqlite3_finalize(st);
		free(sql);
		return errf(c->err, "rule %s: one expression only: nothing may follow ';'",
			    rc->label);
	}
	sqlite3_finalize(st);
	free(sql);
	if (rv != SQLITE_OK)
		return errf(c->err, "rule %s: %s", rc->label, sql_errmsg(c->db));
	return 0;
}

/* Check and encode one rule into @rc: names, parse, SQLite, literals, DNF. */
static int rule_prepare(struct cctx *c, const struct policy_rule *r, struct rulec *rc)
{
	const char *cond = r->condition ? r->condition : "";
	struct perr pe;

	memset(rc, 0, sizeof(*rc));
	rc->r = r;
	if (r->name)
		snprintf(rc->label, sizeof(rc->label), "'%s'", r->name);
	else
		snprintf(rc->label, sizeof(rc->label), "#%lld", (long long)r->id);
	rc->hook = r->hook && !strcmp(r->hook, "ancestor") ? POLICY_HOOK_ANCESTOR :
		   policy_hook_parse(r->hook);
	if (rc->hook < 0)
		return errf(c->err, "rule %s: unknown hook '%s' (exec, open, connect, bind, kill, "
			    "sched)", rc->label, r->hook ? r->hook : "");
	rc->action = policy_action_parse(r->action);
	if (rc->hook == POLICY_HOOK_SCHED) {
		if (rc->action != POLICY_SET)
			return errf(c->err, "rule %s: a sched rule's action is 'set', not '%s'",
				    rc->label, r->action ? r->action : "");
		if (!r->sched || (!r->sched->has_nice && !r->sched->has_policy &&
				  !r->sched->cpus_len))
			return errf(c->err, "rule %s: a sched rule sets at least one of nice, "
				    "sched_policy and cpus", rc->label);
	} else if (rc->hook == POLICY_HOOK_ANCESTOR) {
		rc->action = POLICY_DENY;	/* unused: marks have no verdict */
	} else if (rc->action < 0 || rc->action == POLICY_SET) {
		return errf(c->err, "rule %s: unknown action '%s' (deny, audit, allow)",
			    rc->label, r->action ? r->action : "");
	}
	if (pcond_parse(cond, rc->hook, &rc->tree, &pe)) {
		if (pe.syntax && sqlite_check(c, rc)) {
			if (!strstr(*c->err, "incomplete input"))
				return -1;	/* SQLite's message says it best */
			free(*c->err);
			*c->err = NULL;
		}
		return rule_err(c, rc, pe.span, pe.why);
	}
	if (!rc->tree) {		/* always */
		rc->d.c = calloc(1, sizeof(*rc->d.c));
		rc->d.n = 1;
		return rc->d.c ? 0 : errf(c->err, "rule %s: out of memory", rc->label);
	}
	if ((!r->checked && sqlite_check(c, rc)) || walk_atoms(c, rc, rc->tree))
		return -1;	/* (marks are checked by SQLite as part of their rule) */
	if (rc->sets)
		note(c, "rule %s: a subquery the server evaluates and keeps current (exactness "
		     "'server'): a process that comes to match is covered once dbosd has seen it, "
		     "milliseconds later; only lineage conditions on process_ancestors are decided "
		     "by the kernel itself", rc->label);
	return dnf_of(c, rc, rc->tree, 0, &rc->d);
}

int policy_check_rule(sqlite3 *db, const struct policy_rule *r, char **err)
{
	struct cctx c = { .db = db, .run = 0, .err = err };
	struct rulec rc;
	int rv;

	*err = NULL;
	rv = rule_prepare(&c, r, &rc);
	rulec_free(&rc);
	return rv;
}

/* Sorted-set algebra: 0 intersection, 1 difference a \ b, 2 union. */
static int pvset_op(const struct pvset *a, const struct pvset *b, int op, struct pvset *out)
{
	size_t i = 0, j = 0;

	out->n = 0;
	out->v = malloc((a->n + b->n + 1) * sizeof(*out->v));
	if (!out->v)
		return -1;
	while (i < a->n || j < b->n) {
		int d = i == a->n ? 1 : j == b->n ? -1 : pvset_cmp(&a->v[i], &b->v[j]);

		if (d == 0) {
			if (op != 1)
				out->v[out->n++] = a->v[i];
			i++, j++;
		} else if (d < 0) {
			if (op != 0)
				out->v[out->n++] = a->v[i];
			i++;
		} else {
			if (op == 2)
				out->v[out->n++] = b->v[j];
			j++;
		}
	}
	return 0;
}

/* Add "field f [NOT] IN @set" to @t. */
static int merge_set(struct pterm *t, int f, int neg, const struct pvset *set)
{
	static const struct pvset none;
	int kind = t->f[f].kind, r;
	struct pvset s;

	if (kind == FC_ANY)
		r = pvset_op(set, &none, 2, &s);
	else if (kind == FC_IN)
		r = pvset_op(&t->f[f].s, set, neg, &s);
	else if (!neg)
		r = pvset_op(set, &t->f[f].s, 1, &s);
	else
		r = pvset_op(&t->f[f].s, set, 2, &s);
	if (r)
		return -1;
	free(t->f[f].s.v);
	t->f[f].s = s;
	t->f[f].kind = kind == FC_IN || !neg ? FC_IN : FC_NOT_IN;
	return 0;
}

/*
 * In the tables, a socket's path is NULL unless it is AF_UNIX, its address
 * and port NULL unless it is AF_INET/AF_INET6, and a comparison with NULL is
 * never true, however negated. The kernel sees "" and zeros instead: say the
 * family explicitly so that it decides as SQLite does.
 */
static int merge_family(struct pterm *t)
{
	struct pval v[3] = { 0 };
	struct pvset s = { v, 0 };
	uint64_t fam[3] = { AF_UNIX, AF_INET, AF_INET6 };
	int path = 0;

	for (size_t i = 0; i < t->np; i++)
		path |= t->p[i].field == DBOS_LSM_F_PATH;
	if (path) {
		memcpy(v[0].b, &fam[0], sizeof(fam[0]));
		s.n = 1;
		if (merge_set(t, DBOS_LSM_F_FAMILY, 0, &s))
			return -1;
	}
	if (t->f[DBOS_LSM_F_ADDRESS].kind != FC_ANY || t->f[DBOS_LSM_F_PORT].kind != FC_ANY) {
		memcpy(v[0].b, &fam[1], sizeof(fam[1]));
		memcpy(v[1].b, &fam[2], sizeof(fam[2]));
		s.n = 2;
		qsort(v, 2, sizeof(v[0]), pvset_cmp);
		if (merge_set(t, DBOS_LSM_F_FAMILY, 0, &s))
			return -1;
	}
	return 0;
}

/*
 * Merge conjunct @k of @rc into @t; 1 if its literals can never hold (dropped),
 * -1 on no memory. A conjunct with a subquery is kept even if its set is empty
 * now, so that re-evaluating the sets never renumbers the terms.
 */
static int merge_conj(const struct rulec *rc, const struct conj *k, struct pterm *t)
{
	int sub = 0;

	memset(t, 0, sizeof(*t));
	t->rule_id = rc->r->id;
	t->action = rc->action;
	t->sched = rc->r->sched;
	for (size_t i = 0; i < k->n; i++) {
		const struct atom *a = &rc->atoms[k->l[i] / 2];
		int neg = k->l[i] & 1, f = a->pn->col->field;

		if (a->pn->col->kind == PCOL_PATH) {
			struct ppath *p = realloc(t->p, (t->np + 1) * sizeof(*p));

			if (!p)
				return -1;
			t->p = p;
			p[t->np++] = (struct ppath){ f, neg, a->m, a->nm };
			continue;
		}
		if (a->mark >= 0) {
			if (neg)
				t->lin_forb |= 1ULL << a->mark;
			else
				t->lin_req |= 1ULL << a->mark;
			continue;
		}
		sub |= a->pn->has_sub;
		if (f == DBOS_LSM_F_PID && a->pn->has_sub) {
			t->inherit = 1;
			if (merge_set(t, DBOS_LSM_F_FORK, neg, &a->fork))
				return -1;
		}
		if (merge_set(t, f, neg, &a->set))
			return -1;
	}
	if ((rc->hook == DBOS_LSM_CONNECT || rc->hook == DBOS_LSM_BIND) && merge_family(t))
		return -1;
	if (t->lin_req & t->lin_forb)
		return 1;	/* descends from a match and does not */
	for (int f = 0; f < DBOS_LSM_F__COUNT && !sub; f++)
		if (t->f[f].kind == FC_IN && !t->f[f].s.n)
			return 1;
	return 0;
}

static void pterm_free(struct pterm *t)
{
	for (int f = 0; f < DBOS_LSM_F__COUNT; f++)
		free(t->f[f].s.v);
	free(t->p);
}

void pterms_free(struct pterms *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		pterm_free(&ts->t[i]);
	free(ts->t);
	ts->t = NULL;
	ts->n = 0;
}

static int by_id(const void *a, const void *b, void *arg)
{
	const struct policy_rule *r = arg;
	int64_t x = r[*(const size_t *)a].id, y = r[*(const size_t *)b].id;

	return (x > y) - (x < y);
}

/* Terms of @rc appended to @ts. */
static int add_terms(const struct rulec *rc, struct pterms *ts)
{
	struct pterm *t = realloc(ts->t, (ts->n + rc->d.n) * sizeof(*t));

	if (!t)
		return -1;
	ts->t = t;
	for (size_t i = 0; i < rc->d.n; i++) {
		int r = merge_conj(rc, &rc->d.c[i], &ts->t[ts->n]);

		if (r < 0) {
			pterm_free(&ts->t[ts->n]);
			return -1;
		}
		if (r > 0)
			pterm_free(&ts->t[ts->n]);
		else
			ts->n++;
	}
	return 0;
}

/*
 * Kernel ids for this compile's marks: the id @prev gives the same condition,
 * else the lowest id neither @prev nor another mark holds (@prev's marks stay
 * live, with their meaning, until this image replaces them). The image's
 * mark_hash and marks_new follow.
 */
static int assign_marks(struct cctx *c, const uint64_t *prev, struct policy_image *img,
			char **err)
{
	static const uint64_t none[DBOS_LSM_MARKS];
	uint64_t taken = 0;

	if (!prev)
		prev = none;
	for (int i = 0; i < c->nmarks; i++) {
		for (int k = 0; k < DBOS_LSM_MARKS && c->marks[i].kid < 0; k++)
			if (prev[k] == c->marks[i].hash && !(taken & (1ULL << k)))
				c->marks[i].kid = k;
		if (c->marks[i].kid >= 0)
			taken |= 1ULL << c->marks[i].kid;
	}
	for (int i = 0; i < c->nmarks; i++) {
		for (int k = 0; k < DBOS_LSM_MARKS && c->marks[i].kid < 0; k++)
			if (!prev[k] && !(taken & (1ULL << k)))
				c->marks[i].kid = k;
		if (c->marks[i].kid < 0)
			return errf(err, "policy: the live version's and this version's "
				    "process_ancestors conditions are more than %d together; "
				    "change fewer of them in one commit", DBOS_LSM_MARKS);
		taken |= 1ULL << c->marks[i].kid;
	}
	for (int i = 0; i < c->nmarks; i++)
		img->mark_hash[c->marks[i].kid] = c->marks[i].hash;
	for (int k = 0; k < DBOS_LSM_MARKS; k++)
		if (img->mark_hash[k] && img->mark_hash[k] != prev[k])
			img->gen.marks_new |= 1ULL << k;
	return 0;
}

/* Local mark numbers (bits of @m) -> kernel ids. */
static uint64_t kernel_marks(const struct cctx *c, uint64_t m)
{
	uint64_t k = 0;

	for (int i = 0; i < c->nmarks; i++)
		if (m & (1ULL << i))
			k |= 1ULL << c->marks[i].kid;
	return k;
}

/* The LSM hooks' lineage bits in kernel ids, and the marks' own terms at DBOS_LSM_MARK. */
static int mark_terms(struct cctx *c, struct pterms ts[DBOS_LSM_CFGS])
{
	for (int h = 0; h < DBOS_LSM_HOOK__COUNT; h++) {
		for (size_t t = 0; t < ts[h].n; t++) {
			ts[h].t[t].lin_req = kernel_marks(c, ts[h].t[t].lin_req);
			ts[h].t[t].lin_forb = kernel_marks(c, ts[h].t[t].lin_forb);
		}
	}
	for (int i = 0; i < c->nmarks; i++) {
		size_t first = ts[DBOS_LSM_MARK].n;

		if (add_terms(&c->marks[i].rc, &ts[DBOS_LSM_MARK]))
			return -1;
		for (size_t t = first; t < ts[DBOS_LSM_MARK].n; t++)
			ts[DBOS_LSM_MARK].t[t].mark = c->marks[i].kid;
	}
	return 0;
}

char *policy_notes(const char *hook, const char *condition)
{
	struct cctx c = { .run = 0 };
	struct policy_rule r = { .hook = hook, .action = "deny", .condition = condition,
				 .checked = 1 };
	struct rulec rc;
	char *err = NULL, *notes;

	c.err = &err;
	if (hook && !strcmp(hook, "sched"))
		r.action = "set";
	rule_prepare(&c, &r, &rc);
	rulec_free(&rc);
	marks_free(&c);
	free(err);
	notes = c.notes;
	return notes;
}

const char *policy_exactness(const char *hook, const char *condition)
{
	struct cctx c = { .run = 0 };
	struct policy_rule r = { .hook = hook, .action = "deny", .condition = condition,
				 .checked = 1 };
	const char *what = NULL;
	struct rulec rc;
	char *err = NULL;

	c.err = &err;
	if (hook && !strcmp(hook, "sched"))
		r.action = "set";
	if (!rule_prepare(&c, &r, &rc))
		what = rc.sets ? "server" : "kernel";
	else if (err && strstr(err, "more than 64"))
		what = "kernel";
	rulec_free(&rc);
	marks_free(&c);
	free(c.notes);
	free(err);
	return what;
}

/*
 * The image of the prepared rules @rc[0..@n) (in id order) and @c's marks,
 * whose kernel ids are assigned against @prev (assign_marks); @rules
 * (@nrules, any order) for the sched terms. Takes @c's known pids. 0, or -1
 * and *@err.
 */
static int build(struct cctx *c, struct rulec *rc, size_t n, const struct policy_rule *rules,
		 size_t nrules, uint64_t version, const uint64_t *prev,
		 struct policy_image **out, char **err)
{
	struct pterms ts[DBOS_LSM_CFGS + 1] = { 0 };	/* + POLICY_HOOK_SCHED's */
	struct pterms *sched_ts = &ts[DBOS_LSM_CFGS];
	struct policy_image *img = calloc(1, sizeof(*img));
	int rv = -1, sets = 0;

	*out = NULL;
	if (!img) {
		errf(err, "policy: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		sets |= rc[i].sets;
		if (add_terms(&rc[i], rc[i].hook == POLICY_HOOK_SCHED ? sched_ts : &ts[rc[i].hook])) {
			errf(err, "policy: out of memory");
			goto out;
		}
	}
	if (assign_marks(c, prev, img, err))
		goto out;
	if (mark_terms(c, ts)) {
		errf(err, "policy: out of memory");
		goto out;
	}
	rv = image_build(ts, img->mark_hash, version, out, err);
	if (!rv) {
		(*out)->gen.marks_new = img->gen.marks_new;
		(*out)->has_sets = sets;
		(*out)->gen.known_pids = c->known;
		(*out)->gen.nknown = c->nknown;
		c->known = NULL;
		c->nknown = 0;
	}
	if (!rv && sched_build(sched_ts, rules, nrules, *out, err)) {
		policy_image_free(*out);
		*out = NULL;
		rv = -1;
	}
out:
	free(img);
	for (int h = 0; h <= DBOS_LSM_CFGS; h++)
		pterms_free(&ts[h]);
	return rv;
}

/*
 * What a compile keeps to evaluate its server-side subqueries again: the
 * prepared rules (parse trees, atoms with the subqueries' current sets),
 * the lineage marks with their kernel ids and the exact paths looked up.
 */
struct policy_program {
	struct cctx c;
	const struct policy_rule *rules;	/* the caller's */
	size_t n, nrc;
	struct rulec *rc;			/* rc[0..nrc): prepared, in id order */
	uint64_t version;
	uint64_t mark_hash[DBOS_LSM_MARKS];
	struct policy_inode_lit *ilits;
	size_t nilits;
};

void policy_program_free(struct policy_program *pg)
{
	if (!pg)
		return;
	for (size_t i = 0; i < pg->nrc; i++)
		rulec_free(&pg->rc[i]);
	marks_free(&pg->c);
	free(pg->c.notes);
	free(pg->c.known);
	free(pg->c.ilits);
	free(pg->rc);
	free(pg->ilits);
	free(pg);
}

/* A copy of @n exact paths @src in *@dst, *@ndst. 0, or -1 (ENOMEM). */
static int dup_ilits(const struct policy_inode_lit *src, size_t n,
		     struct policy_inode_lit **dst, size_t *ndst)
{
	*dst = NULL;
	*ndst = 0;
	if (!n)
		return 0;
	*dst = malloc(n * sizeof(**dst));
	if (!*dst)
		return -1;
	memcpy(*dst, src, n * sizeof(**dst));
	*ndst = n;
	return 0;
}

int policy_compile_program(sqlite3 *db, const struct policy_rule *rules, size_t n,
			   uint64_t version, const uint64_t *prev, struct policy_image **out,
			   struct policy_program **prog, char **err)
{
	struct policy_program *pg = calloc(1, sizeof(*pg));
	size_t *order = calloc(n ? n : 1, sizeof(*order));
	int rv = -1;

	*err = NULL;
	*out = NULL;
	if (prog)
		*prog = NULL;
	if (!pg || !order || !(pg->rc = calloc(n ? n : 1, sizeof(*pg->rc)))) {
		errf(err, "policy: out of memory");
		goto out;
	}
	pg->c = (struct cctx){ .db = db, .run = 1, .err = err };
	pg->rules = rules;
	pg->n = n;
	pg->version = version;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), by_id, (void *)rules);
	for (; pg->nrc < n; pg->nrc++)
		if (rule_prepare(&pg->c, &rules[order[pg->nrc]], &pg->rc[pg->nrc])) {
			pg->nrc++;
			goto out;
		}
	if (build(&pg->c, pg->rc, n, rules, n, version, prev, out, err))
		goto out;
	(*out)->notes = pg->c.notes;
	pg->c.notes = NULL;
	give_ilits(&pg->c, *out);
	memcpy(pg->mark_hash, (*out)->mark_hash, sizeof(pg->mark_hash));
	rv = 0;
	if (!prog || !(*out)->has_sets)
		goto out;
	if (dup_ilits((*out)->ilits, (*out)->nilits, &pg->ilits, &pg->nilits)) {
		errf(err, "policy: out of memory");
		policy_image_free(*out);
		*out = NULL;
		rv = -1;
		goto out;
	}
	*prog = pg;
	pg = NULL;
out:
	policy_program_free(pg);
	free(order);
	return rv;
}

int policy_compile(sqlite3 *db, const struct policy_rule *rules, size_t n,
		   uint64_t version, const uint64_t *prev, struct policy_image **out, char **err)
{
	return policy_compile_program(db, rules, n, version, prev, out, NULL, err);
}

static bool same_pvset(const struct pvset *a, const struct pvset *b)
{
	return a->n == b->n && (!a->n || !memcmp(a->v, b->v, a->n * sizeof(*a->v)));
}

/* Runs the server-side subqueries of @rc again; *@changed when a set is not what it was. */
static int rerun_subs(struct cctx *c, struct rulec *rc, bool *changed)
{
	for (int i = 0; i < rc->natoms; i++) {
		struct atom *a = &rc->atoms[i];
		struct pvset set = a->set, fork = a->fork;

		if (!a->pn->has_sub || a->mark >= 0)
			continue;
		a->set = (struct pvset){ 0 };
		a->fork = (struct pvset){ 0 };
		if (run_sub(c, rc, a)) {
			free(a->set.v);
			free(a->fork.v);
			a->set = set;
			a->fork = fork;
			return -1;
		}
		*changed |= !same_pvset(&set, &a->set) || !same_pvset(&fork, &a->fork);
		free(set.v);
		free(fork.v);
	}
	return 0;
}

int policy_program_refresh(sqlite3 *db, struct policy_program *pg, struct policy_image **out,
			   char **err)
{
	bool changed = false;

	*err = NULL;
	*out = NULL;
	pg->c.db = db;
	pg->c.err = err;
	free(pg->c.known);
	pg->c.known = NULL;
	pg->c.nknown = 0;
	pg->c.known_read = 0;
	for (size_t i = 0; i < pg->nrc; i++)
		if (pg->rc[i].sets && rerun_subs(&pg->c, &pg->rc[i], &changed))
			return -1;
	if (!changed)
		return 0;
	if (build(&pg->c, pg->rc, pg->nrc, pg->rules, pg->n, pg->version, pg->mark_hash, out,
		  err))
		return -1;
	if (dup_ilits(pg->ilits, pg->nilits, &(*out)->ilits, &(*out)->nilits)) {
		policy_image_free(*out);
		*out = NULL;
		return errf(err, "policy: out of memory");
	}
	return 0;
}
