// SPDX-License-Identifier: GPL-2.0
/* image.c - DNF terms -> one generation: hook configs, values-map and path-trie bitmaps. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/policy/compile_int.h"

static int set_err(char **err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	return -1;
}

static void bit_set(struct dbos_lsm_bits *b, size_t t)
{
	b->w[t / 64] |= 1ULL << (t % 64);
}

static void bit_clear(struct dbos_lsm_bits *b, size_t t)
{
	b->w[t / 64] &= ~(1ULL << (t % 64));
}

int pvset_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct pval));
}

static int pstr_cmp(const void *a, const void *b)
{
	const struct pstr *x = *(const struct pstr *const *)a;
	const struct pstr *y = *(const struct pstr *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The exact empty path: the key of "no path" (a kernel thread's EXE). */
static const struct pstr none = { .len = 1 };

struct growing {
	void *p;
	size_t n, cap, size;
};

static void *grow(struct growing *g, size_t more)
{
	if (g->n + more > g->cap) {
		size_t cap = g->cap ? g->cap : 64;
		void *p;

		while (cap < g->n + more)
			cap *= 2;
		p = realloc(g->p, cap * g->size);
		if (!p)
			return NULL;
		g->p = p;
		g->cap = cap;
	}
	return (char *)g->p + g->n * g->size;
}

/* The bits of PID entry @v among @pid[0..@n) (sorted by value), or @dflt. */
static const struct dbos_lsm_bits *pid_bits(const struct enforce_value *pid, size_t n,
					    const struct pval *v,
					    const struct dbos_lsm_bits *dflt)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = memcmp(pid[mid].key.value, v->b, sizeof(v->b));

		if (!c)
			return &pid[mid].bits;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return dflt;
}

/*
 * Values-map entries of field @f of hook @h, and cfg->dflt[f]. For FORK,
 * the @npid entries of @vals from @pid_first are the hook's PID entries: a FORK entry whose inherited bits
 * equal its PID entry's is left out (the kernel falls back to the PID entry).
 */
static int build_field(const struct pterms *ts, int h, int f, struct dbos_lsm_hook_cfg *cfg,
		       struct growing *vals, size_t pid_first, size_t npid)
{
	struct dbos_lsm_bits base = { 0 };
	struct pval *all;
	size_t nall = 0, nuniq = 0;
	struct enforce_value *e;

	/*
	 * FORK: a parent in a pid set whose child would not be needs an entry
	 * too, or its child would fall back to the parent's PID bits.
	 */
	int fork = f == DBOS_LSM_F_FORK;

	for (size_t t = 0; t < ts->n; t++) {
		nall += ts->t[t].f[f].s.n;
		if (fork && ts->t[t].inherit)
			nall += ts->t[t].f[DBOS_LSM_F_PID].s.n;
		if (ts->t[t].f[f].kind != FC_IN)
			bit_set(&base, t);
	}
	cfg->dflt[f] = base;
	all = malloc((nall ? nall : 1) * sizeof(*all));
	if (!all)
		return -1;
	nall = 0;
	for (size_t t = 0; t < ts->n; t++) {
		const struct pvset *pid = &ts->t[t].f[DBOS_LSM_F_PID].s;

		if (ts->t[t].f[f].s.n)
			memcpy(all + nall, ts->t[t].f[f].s.v, ts->t[t].f[f].s.n * sizeof(*all));
		nall += ts->t[t].f[f].s.n;
		if (fork && ts->t[t].inherit && pid->n) {
			memcpy(all + nall, pid->v, pid->n * sizeof(*all));
			nall += pid->n;
		}
	}
	qsort(all, nall, sizeof(*all), pvset_cmp);
	for (size_t i = 0; i < nall; i++)
		if (!nuniq || memcmp(&all[nuniq - 1], &all[i], sizeof(*all)))
			all[nuniq++] = all[i];
	e = grow(vals, nuniq);
	if (!e && nuniq) {
		free(all);
		return -1;
	}
	for (size_t i = 0; i < nuniq; i++) {
		memset(&e[i].key, 0, sizeof(e[i].key));
		e[i].key.hook = h;
		e[i].key.field = f;
		memcpy(e[i].key.value, all[i].b, sizeof(all[i].b));
		e[i].bits = base;
	}
	for (size_t t = 0; t < ts->n; t++) {
		const struct pvset *s = &ts->t[t].f[f].s;

		if (ts->t[t].f[f].kind == FC_ANY)
			continue;
		for (size_t j = 0; j < s->n; j++) {
			struct pval *v = bsearch(&s->v[j], all, nuniq, sizeof(*all), pvset_cmp);
			size_t i = v - all;

			if (ts->t[t].f[f].kind == FC_IN)
				bit_set(&e[i].bits, t);
			else
				bit_clear(&e[i].bits, t);
		}
	}
	if (fork) {
		/* after grow(): vals->p may have moved */
		const struct enforce_value *pid =
			(const struct enforce_value *)vals->p + pid_first;
		size_t kept = 0;

		for (size_t i = 0; i < nuniq; i++) {
			const struct dbos_lsm_bits *pb = pid_bits(pid, npid, &all[i],
								  &cfg->dflt[DBOS_LSM_F_PID]);
			int same = 1;

			for (int w = 0; w < DBOS_LSM_WORDS && same; w++)
				same = !((e[i].bits.w[w] ^ pb->w[w]) & cfg->inherit.w[w]);
			if (!same)
				e[kept++] = e[i];
		}
		nuniq = kept;
	}
	vals->n += nuniq;
	free(all);
	return 0;
}

/* Term @t holds for a field-@f path whose longest trie entry is @p (&none: no path). */
static int path_holds(const struct pterm *t, int f, const struct pstr *p)
{
	for (size_t a = 0; a < t->np; a++) {
		int m = 0;

		if (t->p[a].field != f)
			continue;
		if (p == &none)
			return 0;	/* NULL: no comparison holds, however negated */

		for (size_t i = 0; i < t->p[a].n && !m; i++) {
			const struct pstr *c = &t->p[a].m[i];

			m = c->len <= p->len && !memcmp(c->s, p->s, c->len);
		}
		if (m == t->p[a].neg)
			return 0;
	}
	return 1;
}

/*
 * Path-trie entries of field @f (PATH or EXE) of hook @h (the root one first)
 * and cfg->dflt[f]. EXE also gets the exact entry "" (no path is empty,
 * lit_path): the kernel looks it up for a caller with no executable (a
 * kernel thread), for which, as for SQL's NULL, no EXE comparison holds.
 */
static int build_paths(const struct pterms *ts, int h, int f, struct dbos_lsm_hook_cfg *cfg,
		       struct growing *paths)
{
	static const struct pstr root;
	const struct pstr **all;
	size_t nall = 2, nuniq = 1;
	struct enforce_path *e;

	for (size_t t = 0; t < ts->n; t++)
		for (size_t a = 0; a < ts->t[t].np; a++)
			nall += ts->t[t].p[a].n;
	all = malloc(nall * sizeof(*all));
	if (!all)
		return -1;
	all[0] = &root;
	nall = 1;
	for (size_t t = 0; t < ts->n; t++)
		for (size_t a = 0; a < ts->t[t].np; a++)
			for (size_t i = 0; i < ts->t[t].p[a].n && ts->t[t].p[a].field == f; i++)
				all[nall++] = &ts->t[t].p[a].m[i];
	if (f == DBOS_LSM_F_EXE)
		all[nall++] = &none;
	qsort(all + 1, nall - 1, sizeof(*all), pstr_cmp);
	for (size_t i = 1; i < nall; i++)	/* "" (GLOB '*') is the root */
		if (all[i]->len && pstr_cmp(&all[nuniq - 1], &all[i]))
			all[nuniq++] = all[i];
	e = grow(paths, nuniq);
	if (!e) {
		free(all);
		return -1;
	}
	for (size_t i = 0; i < nuniq; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].key.prefixlen = (4 + all[i]->len) * 8;
		e[i].key.hook = h;
		e[i].key.field = f;
		memcpy(e[i].key.path, all[i]->s, all[i]->len);
		for (size_t t = 0; t < ts->n; t++)
			if (path_holds(&ts->t[t], f, all[i]))
				bit_set(&e[i].bits, t);
	}
	cfg->dflt[f] = e[0].bits;
	paths->n += nuniq;
	free(all);
	return 0;
}

/* A values-map entry {@h, @f, value[0] = @a, value[1] = @b}: its bits, zeroed (NULL: no memory). */
static struct dbos_lsm_bits *new_entry(struct growing *vals, int h, int f, uint8_t a, uint8_t b)
{
	struct enforce_value *e = grow(vals, 1);

	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->key.hook = h;
	e->key.field = f;
	e->key.value[0] = a;
	e->key.value[1] = b;
	vals->n++;
	return &e->bits;
}

/*
 * LINEAGE entries of LSM hook @h: for every mark m a term constrains, the
 * terms that hold when the caller's desc bit m is set (all but those that
 * forbid m) and when it is clear (all but those that require m).
 */
static int build_lineage(const struct pterms *ts, int h, struct dbos_lsm_hook_cfg *cfg,
			 struct growing *vals)
{
	for (size_t t = 0; t < ts->n; t++)
		cfg->marks |= ts->t[t].lin_req | ts->t[t].lin_forb;
	if (!cfg->marks)
		return 0;
	cfg->fields |= 1ULL << DBOS_LSM_F_LINEAGE;
	for (int m = 0; m < DBOS_LSM_MARKS; m++) {
		struct dbos_lsm_bits *set, *clear;

		if (!(cfg->marks & (1ULL << m)))
			continue;
		if (!new_entry(vals, h, DBOS_LSM_F_LINEAGE, m, 1) ||
		    !new_entry(vals, h, DBOS_LSM_F_LINEAGE, m, 0))
			return -1;
		/* (after both: the array may have moved) */
		set = &((struct enforce_value *)vals->p)[vals->n - 2].bits;
		clear = &((struct enforce_value *)vals->p)[vals->n - 1].bits;
		for (size_t t = 0; t < ts->n; t++) {
			if (!(ts->t[t].lin_forb & (1ULL << m)))
				bit_set(set, t);
			if (!(ts->t[t].lin_req & (1ULL << m)))
				bit_set(clear, t);
		}
	}
	return 0;
}

/* DBOS_LSM_MARK's MARKDEF entries (each mark's terms) and MARKID entries (its hash). */
static int build_markdefs(const struct pterms *ts, const uint64_t *hash,
			  struct dbos_lsm_hook_cfg *cfg, struct growing *vals)
{
	for (int m = 0; m < DBOS_LSM_MARKS; m++) {
		struct dbos_lsm_bits *def, *id;

		if (!hash[m])
			continue;
		cfg->marks |= 1ULL << m;
		if (!new_entry(vals, DBOS_LSM_MARK, DBOS_LSM_F_MARKDEF, m, 0) ||
		    !new_entry(vals, DBOS_LSM_MARK, DBOS_LSM_F_MARKID, m, 0))
			return -1;
		/* (after both: the array may have moved) */
		def = &((struct enforce_value *)vals->p)[vals->n - 2].bits;
		id = &((struct enforce_value *)vals->p)[vals->n - 1].bits;
		id->w[0] = hash[m];
		for (size_t t = 0; t < ts->n; t++)
			if (ts->t[t].mark == m)
				bit_set(def, t);
	}
	return 0;
}

/* Orders exact paths by the file they name (device, inode). */
static int inode_cmp(const void *a, const void *b)
{
	const struct pstr *x = *(const struct pstr *const *)a;
	const struct pstr *y = *(const struct pstr *const *)b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return (x->ino > y->ino) - (x->ino < y->ino);
}

/* Whether a constraint of @a (a PATH constraint of a term) matches the name @p. */
static int ppath_matches(const struct ppath *a, const struct pstr *p)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->m[i].len <= p->len && !memcmp(a->m[i].s, p->s, a->m[i].len))
			return 1;
	return 0;
}

/*
 * INODE entries of hook @h: a file that exact PATH literals named at
 * compile (pstr.has_inode) has those names too, wherever the kernel reaches
 * it (a bind mount, a hard link). ADD: the terms whose path constraints
 * hold on one of its names (path_holds, as the trie's entry of that name
 * says); KEEP, only when it differs from every term: the terms none of whose
 * NOTs matches one of its names.
 */
static int build_inodes(const struct pterms *ts, int h, struct dbos_lsm_hook_cfg *cfg,
			struct growing *vals)
{
	const struct pstr **all;
	struct dbos_lsm_bits every = { 0 };
	size_t nall = 0;

	for (size_t t = 0; t < ts->n; t++) {
		bit_set(&every, t);
		for (size_t a = 0; a < ts->t[t].np; a++)
			nall += ts->t[t].p[a].field == DBOS_LSM_F_PATH ? ts->t[t].p[a].n : 0;
	}
	all = malloc((nall ? nall : 1) * sizeof(*all));
	if (!all)
		return -1;
	nall = 0;
	for (size_t t = 0; t < ts->n; t++)
		for (size_t a = 0; a < ts->t[t].np; a++)
			for (size_t i = 0; i < ts->t[t].p[a].n; i++)
				if (ts->t[t].p[a].field == DBOS_LSM_F_PATH &&
				    ts->t[t].p[a].m[i].has_inode)
					all[nall++] = &ts->t[t].p[a].m[i];
	qsort(all, nall, sizeof(*all), inode_cmp);
	for (size_t i = 0, j; i < nall; i = j) {
		struct dbos_lsm_bits add = { 0 }, keep = every;
		struct enforce_value *e;

		for (j = i; j < nall && !inode_cmp(&all[i], &all[j]); j++)
			;
		for (size_t t = 0; t < ts->n; t++) {
			const struct pterm *pt = &ts->t[t];

			for (size_t k = i; k < j; k++) {
				if (path_holds(pt, DBOS_LSM_F_PATH, all[k]))
					bit_set(&add, t);
				for (size_t a = 0; a < pt->np; a++)
					if (pt->p[a].field == DBOS_LSM_F_PATH && pt->p[a].neg &&
					    ppath_matches(&pt->p[a], all[k]))
						bit_clear(&keep, t);
			}
		}
		e = grow(vals, 2);
		if (!e) {
			free(all);
			return -1;
		}
		for (int k = 0; k < 2; k++) {
			memset(&e[k].key, 0, sizeof(e[k].key));
			e[k].key.hook = h;
			e[k].key.field = DBOS_LSM_F_INODE;
			memcpy(e[k].key.value, &all[i]->ino, sizeof(all[i]->ino));
			memcpy(e[k].key.value + 8, &all[i]->dev, sizeof(all[i]->dev));
			e[k].key.value[12] = k ? DBOS_LSM_INODE_KEEP : DBOS_LSM_INODE_ADD;
		}
		e[0].bits = add;
		e[1].bits = keep;
		vals->n += memcmp(&keep, &every, sizeof(keep)) ? 2 : 1;
		cfg->fields |= 1ULL << DBOS_LSM_F_INODE;
	}
	free(all);
	return 0;
}

static int build_hook(const struct pterms *ts, int h, struct policy_image *img,
		      struct growing *vals, struct growing *paths)
{
	struct dbos_lsm_hook_cfg *cfg = &img->gen.cfg[h];
	struct dbos_lsm_bits every = { 0 };
	size_t pid_first = 0, pid_n = 0;

	img->nterms[h] = ts->n;
	cfg->nwords = (ts->n + 63) / 64;
	img->term_rule[h] = malloc((ts->n ? ts->n : 1) * sizeof(int64_t));
	if (!img->term_rule[h])
		return -1;
	for (size_t t = 0; t < ts->n; t++) {
		const struct pterm *pt = &ts->t[t];

		img->term_rule[h][t] = pt->rule_id;
		bit_set(&every, t);
		if (h != DBOS_LSM_MARK)	/* marks' terms decide nothing themselves */
			bit_set(pt->action == POLICY_ALLOW ? &cfg->allow :
				pt->action == POLICY_DENY ? &cfg->deny : &cfg->audit, t);
		if (pt->inherit)
			bit_set(&cfg->inherit, t);
		for (int f = 0; f < DBOS_LSM_F__COUNT; f++)
			if (pt->f[f].kind != FC_ANY)
				cfg->fields |= 1ULL << f;
		for (size_t a = 0; a < pt->np; a++)
			cfg->fields |= 1ULL << pt->p[a].field;
	}
	for (int f = 0; f < DBOS_LSM_F__COUNT; f++) {
		cfg->dflt[f] = every;	/* fields no term constrains: satisfied */
		if (!(cfg->fields & (1ULL << f)))
			continue;
		if (f == DBOS_LSM_F_PID)
			pid_first = vals->n;
		if (f == DBOS_LSM_F_PATH || f == DBOS_LSM_F_EXE ? build_paths(ts, h, f, cfg, paths) :
		    build_field(ts, h, f, cfg, vals, pid_first,
				f == DBOS_LSM_F_FORK ? pid_n : 0))
			return -1;
		if (f == DBOS_LSM_F_PID)
			pid_n = vals->n - pid_first;
	}
	/* FORK entries are read at fork only, never by the hook. */
	cfg->fields &= ~(1ULL << DBOS_LSM_F_FORK);
	cfg->dflt[DBOS_LSM_F_FORK] = every;
	if ((cfg->fields & (1ULL << DBOS_LSM_F_PATH)) && build_inodes(ts, h, cfg, vals))
		return -1;
	return h == DBOS_LSM_MARK ? 0 : build_lineage(ts, h, cfg, vals);
}

int image_build(const struct pterms ts[DBOS_LSM_CFGS], const uint64_t *hash, uint64_t version,
		struct policy_image **out, char **err)
{
	static const char *const hooks[] = { "exec", "open", "connect", "bind", "kill",
					     "process_ancestors (lineage marks)" };
	struct growing vals = { .size = sizeof(struct enforce_value) };
	struct growing paths = { .size = sizeof(struct enforce_path) };
	struct policy_image *img;

	*out = NULL;
	for (int h = 0; h < DBOS_LSM_CFGS; h++)
		if (ts[h].n > DBOS_LSM_MAX_TERMS)
			return set_err(err, "policy: hook %s needs %zu terms (conjuncts of its "
				       "rules' conditions); the kernel holds at most %d",
				       hooks[h], ts[h].n, DBOS_LSM_MAX_TERMS);
	img = calloc(1, sizeof(*img));
	if (!img)
		return set_err(err, "policy: out of memory");
	img->gen.version = version;
	memcpy(img->mark_hash, hash, sizeof(img->mark_hash));
	for (int h = 0; h < DBOS_LSM_CFGS; h++) {
		if (build_hook(&ts[h], h, img, &vals, &paths) ||
		    (h == DBOS_LSM_MARK && build_markdefs(&ts[h], hash, &img->gen.cfg[h], &vals))) {
			free(vals.p);
			free(paths.p);
			policy_image_free(img);
			return set_err(err, "policy: out of memory");
		}
	}
	img->gen.values = vals.p;
	img->gen.nvalues = vals.n;
	img->gen.paths = paths.p;
	img->gen.npaths = paths.n;
	if (img->gen.nvalues > DBOS_LSM_VALUES_MAX || img->gen.npaths > DBOS_LSM_PATHS_MAX) {
		set_err(err, "policy: the rules need %zu value entries and %zu path entries; "
			"the kernel's maps hold at most %d and %d", img->gen.nvalues, img->gen.npaths,
			DBOS_LSM_VALUES_MAX, DBOS_LSM_PATHS_MAX);
		policy_image_free(img);
		return -1;
	}
	*out = img;
	return 0;
}

void policy_image_free(struct policy_image *img)
{
	if (!img)
		return;
	for (int h = 0; h < DBOS_LSM_CFGS; h++)
		free(img->term_rule[h]);
	free(img->gen.values);
	free(img->gen.paths);
	free(img->gen.known_pids);
	free(img->notes);
	free(img->ilits);
	policy_sched_terms_free(img->sched, img->nsched);
	free(img);
}

int policy_image_inodes_changed(const struct policy_image *img)
{
	for (size_t i = 0; img && i < img->nilits; i++) {
		const struct policy_inode_lit *l = &img->ilits[i];
		uint64_t ino = 0;
		uint32_t dev = 0;
		int found = lit_inode(l->path, &ino, &dev);

		if (found != l->found || (found && (ino != l->ino || dev != l->dev)))
			return 1;
	}
	return 0;
}
