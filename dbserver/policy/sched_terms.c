// SPDX-License-Identifier: GPL-2.0
/* sched_terms.c - the DNF terms of sched rules -> DBOS_CMD_SCHED_RULES terms (struct sched_term). */
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

/* The SCHED_RULES field of LSM field @f, or -1 (not a process column). */
static int sched_field(int f)
{
	switch (f) {
	case DBOS_LSM_F_PID: return DBOS_SCHED_F_PID;
	case DBOS_LSM_F_UID: return DBOS_SCHED_F_UID;
	case DBOS_LSM_F_EUID: return DBOS_SCHED_F_EUID;
	case DBOS_LSM_F_GID: return DBOS_SCHED_F_GID;
	case DBOS_LSM_F_NAME: return DBOS_SCHED_F_NAME;
	case DBOS_LSM_F_EXE: return DBOS_SCHED_F_EXE;
	default: return -1;
	}
}

static void match_free(struct sched_match *m)
{
	for (size_t i = 0; i < m->nstrs; i++)
		free(m->strs[i]);
	for (size_t i = 0; i < m->nprefixes; i++)
		free(m->prefixes[i]);
	free(m->ints);
	free(m->strs);
	free(m->prefixes);
}

void policy_sched_terms_free(struct sched_term *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < t[i].nm; j++)
			match_free(&t[i].m[j]);
		free(t[i].m);
	}
	free(t);
}

/* Appends @s (@len bytes) to the strings of @m (a prefix if @prefix). 0 or -1. */
static int add_str(struct sched_match *m, const char *s, size_t len, int prefix)
{
	char ***v = prefix ? &m->prefixes : &m->strs;
	size_t *n = prefix ? &m->nprefixes : &m->nstrs;
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -1;
	*v = nv;
	nv[*n] = strndup(s, len);
	if (!nv[*n])
		return -1;
	(*n)++;
	return 0;
}

/* The values of field @f of @t (kind FC_IN / FC_NOT_IN) into @m. 0 or -1 (ENOMEM). */
static int value_match(const struct pterm *t, int f, struct sched_match *m, size_t *nvalues)
{
	const struct pvset *s = &t->f[f].s;

	m->field = (uint32_t)sched_field(f);
	m->negate = t->f[f].kind == FC_NOT_IN;
	if (f == DBOS_LSM_F_NAME) {
		for (size_t i = 0; i < s->n; i++) {
			size_t len = strnlen((const char *)s->v[i].b, sizeof(s->v[i].b));

			/* a comm is never '': equal to nothing, so the value adds nothing */
			if (len && add_str(m, (const char *)s->v[i].b, len, 0))
				return -1;
		}
		*nvalues += m->nstrs;
		return 0;
	}
	m->ints = malloc((s->n ? s->n : 1) * sizeof(*m->ints));
	if (!m->ints)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		uint64_t u;

		memcpy(&u, s->v[i].b, sizeof(u));
		m->ints[m->nints++] = (uint32_t)u;
	}
	*nvalues += m->nints;
	return 0;
}

/* One EXE constraint of @t into @m. 0 or -1 (ENOMEM). */
static int path_match(const struct ppath *p, struct sched_match *m, size_t *nvalues)
{
	m->field = DBOS_SCHED_F_EXE;
	m->negate = p->neg;
	for (size_t i = 0; i < p->n; i++) {
		const struct pstr *s = &p->m[i];
		int exact = s->len && !s->s[s->len - 1];

		if (add_str(m, s->s, exact ? s->len - 1 : s->len, !exact))
			return -1;
	}
	*nvalues += p->n;
	return 0;
}

static const char *rule_name(const struct policy_rule *rules, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (rules[i].id == id && rules[i].name)
			return rules[i].name;
	return "?";
}

/* Term @t as *@out. 0, -1 on ENOMEM, 1 when it needs more matches than a term holds. */
static int build_term(const struct pterm *t, struct sched_term *out, size_t *nvalues)
{
	size_t nm = t->np;

	memset(out, 0, sizeof(*out));
	out->rule_id = (uint32_t)t->rule_id;
	out->v = *t->sched;
	for (int f = 0; f < DBOS_LSM_F__COUNT; f++)
		nm += f != DBOS_LSM_F_FORK && t->f[f].kind != FC_ANY;
	if (nm > DBOS_SCHED_MATCH_MAX)
		return 1;
	out->m = calloc(nm ? nm : 1, sizeof(*out->m));
	if (!out->m)
		return -1;
	for (int f = 0; f < DBOS_LSM_F__COUNT; f++) {
		/* FORK: children inherit their parent's scheduling at fork anyway */
		if (f == DBOS_LSM_F_FORK || t->f[f].kind == FC_ANY || sched_field(f) < 0)
			continue;
		if (value_match(t, f, &out->m[out->nm++], nvalues))
			return -1;
	}
	for (size_t i = 0; i < t->np; i++)
		if (path_match(&t->p[i], &out->m[out->nm++], nvalues))
			return -1;
	return 0;
}

int sched_build(const struct pterms *ts, const struct policy_rule *rules, size_t n,
		struct policy_image *img, char **err)
{
	size_t nvalues = 0;

	img->sched = NULL;
	img->nsched = 0;
	if (!ts->n)
		return 0;
	if (ts->n > DBOS_SCHED_TERMS_MAX)
		return set_err(err, "sched rules: %zu terms in disjunctive normal form; the module "
			       "takes at most %d", ts->n, DBOS_SCHED_TERMS_MAX);
	img->sched = calloc(ts->n, sizeof(*img->sched));
	if (!img->sched)
		return set_err(err, "policy: out of memory");
	for (size_t i = 0; i < ts->n; i++) {
		int r = build_term(&ts->t[i], &img->sched[i], &nvalues);

		img->nsched++;
		if (r < 0)
			return set_err(err, "policy: out of memory");
		if (r > 0)
			return set_err(err, "rule '%s': a term compares more than %d columns or "
				       "exe patterns; the module takes at most %d",
				       rule_name(rules, n, ts->t[i].rule_id), DBOS_SCHED_MATCH_MAX,
				       DBOS_SCHED_MATCH_MAX);
	}
	if (nvalues > DBOS_SCHED_VALUES_MAX)
		return set_err(err, "sched rules: %zu values in all; the module takes at most %d",
			       nvalues, DBOS_SCHED_VALUES_MAX);
	return 0;
}

static int same_vals(const struct sched_vals *a, const struct sched_vals *b)
{
	return a->has_nice == b->has_nice && (!a->has_nice || a->nice == b->nice) &&
	       a->has_policy == b->has_policy &&
	       (!a->has_policy || (a->policy == b->policy && a->priority == b->priority)) &&
	       a->cpus_len == b->cpus_len && !memcmp(a->cpus, b->cpus, a->cpus_len);
}

static int same_strs(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return 0;
	return 1;
}

static int same_match(const struct sched_match *a, const struct sched_match *b)
{
	return a->field == b->field && a->negate == b->negate && a->nints == b->nints &&
	       (!a->nints || !memcmp(a->ints, b->ints, a->nints * sizeof(*a->ints))) &&
	       same_strs(a->strs, a->nstrs, b->strs, b->nstrs) &&
	       same_strs(a->prefixes, a->nprefixes, b->prefixes, b->nprefixes);
}

int policy_sched_terms_equal(const struct sched_term *a, size_t na,
			     const struct sched_term *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++) {
		if (a[i].rule_id != b[i].rule_id || !same_vals(&a[i].v, &b[i].v) ||
		    a[i].nm != b[i].nm)
			return 0;
		for (size_t j = 0; j < a[i].nm; j++)
			if (!same_match(&a[i].m[j], &b[i].m[j]))
				return 0;
	}
	return 1;
}
