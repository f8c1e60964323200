// SPDX-License-Identifier: GPL-2.0
/* policy.c - the policy manager: versions, commits (compile, prepare, store, flip), rollback, decisions. */

/*
 * Locking. @mu serializes commits, rollbacks, refreshes and rule checks: it
 * protects the manager's sqlite3 connection (@db), the live version and its
 * rules (@latest, @meta, @rules), the live image (@img, with its sched
 * terms), the sched retry state (@sched_retry, @sched_err) and the kernel
 * ops (prepare, flip, sched_stage and sched_activate are never called
 * concurrently). @dmu protects what the
 * decisions writer uses: the decision seq, the retention state (@hist), the
 * batch and the rule names of the versions seen since start (@infos). A
 * commit takes @mu, then @dmu briefly to add its version's info; nothing
 * takes them in the other order.
 *
 * The refresher evaluates the live version's server-side sets without
 * @mu, on a connection of its own (@rdb): it compiles the version once
 * (policy_program), then reruns only the subqueries as the mirror
 * changes, and takes @mu only to push an image whose sets changed, if no
 * commit made another image live meanwhile (@img_seq).
 *
 * Atomicity of a commit: compile (security and sched rules) -> prepare
 * (idle slot) -> sched_stage (dbos.ko keeps the terms, unenforced) ->
 * store_write (the version row, the previous live row with live = 0 and the
 * rule revisions the version opens and closes, one batch) -> flip ->
 * sched_activate. A failure before the store write leaves the kernel
 * enforcing the old generation and the
 * old sched rules (a staged set is replaced by the next stage) and the
 * store without the new version. A crash between the store write and the
 * flip is repaired at the next start: the latest stored version is pushed
 * when the kernel's live version differs, and its sched rules are pushed
 * at every start. An activation that fails after the store write (the
 * module went away) is retried by the refresher every second.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "dbserver/policy/policy_int.h"
#include "dbserver/sched/sched.h"
#include "dbserver/sql/schema.h"

#define REFRESH_MS	20
#define SCHED_RETRY_MS	1000
#define INODE_CHECK_MS	1000	/* the files exact paths name: looked up again this often */

void policy_log(struct policy *p, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!p->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	p->cfg.log(p->cfg.log_arg, line);
}

char *policy_errf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* ---- rule sets ---- */

static void row_free(struct policy_row *r)
{
	free(r->name);
	free(r->hook);
	free(r->action);
	free(r->condition);
	free(r->sched_policy);
	free(r->cpus);
}

void policy_set_free(struct policy_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		row_free(&s->rows[i]);
	free(s->rows);
	memset(s, 0, sizeof(*s));
}

long policy_set_find(const struct policy_set *s, int64_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->rows[i].id == id)
			return (long)i;
	return -1;
}

int policy_set_add(struct policy_set *s, int64_t id, const char *name, const char *hook,
		   const char *action, const char *condition, uint64_t changed)
{
	struct policy_row r = { .id = id, .name = (char *)name, .hook = (char *)hook,
				.action = (char *)action, .condition = (char *)condition,
				.changed = changed };

	return policy_set_add_row(s, &r);
}

static char *dup_or_null(const char *s, bool *fail)
{
	char *d = s ? strdup(s) : NULL;

	*fail |= s && !d;
	return d;
}

int policy_set_add_row(struct policy_set *s, const struct policy_row *in)
{
	struct policy_row r = *in;
	bool fail = false;
	size_t i;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct policy_row *nr = realloc(s->rows, cap * sizeof(*nr));

		if (!nr)
			return -1;
		s->rows = nr;
		s->cap = cap;
	}
	r.name = dup_or_null(in->name ? in->name : "", &fail);
	r.hook = dup_or_null(in->hook ? in->hook : "", &fail);
	r.action = dup_or_null(in->action ? in->action : "", &fail);
	r.condition = dup_or_null(in->condition, &fail);
	r.sched_policy = dup_or_null(in->sched_policy, &fail);
	r.cpus = dup_or_null(in->cpus, &fail);
	if (fail) {
		row_free(&r);
		return -1;
	}
	for (i = s->n; i > 0 && s->rows[i - 1].id > r.id; i--)
		s->rows[i] = s->rows[i - 1];
	s->rows[i] = r;
	s->n++;
	return 0;
}

void policy_set_remove(struct policy_set *s, size_t i)
{
	row_free(&s->rows[i]);
	memmove(&s->rows[i], &s->rows[i + 1], (s->n - i - 1) * sizeof(s->rows[0]));
	s->n--;
}

int policy_set_copy(struct policy_set *dst, const struct policy_set *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n; i++) {
		const struct policy_row *r = &src->rows[i];

		if (policy_set_add_row(dst, r)) {
			policy_set_free(dst);
			return -1;
		}
	}
	return 0;
}

static bool same_text(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool same_rule(const struct policy_row *a, const struct policy_row *b)
{
	const char *ca = a->condition ? a->condition : "", *cb = b->condition ? b->condition : "";

	return !strcmp(a->name, b->name) && !strcmp(a->hook, b->hook) &&
	       !strcmp(a->action, b->action) && !strcmp(ca, cb) &&
	       a->has_nice == b->has_nice && (!a->has_nice || a->nice == b->nice) &&
	       a->has_priority == b->has_priority && (!a->has_priority || a->priority == b->priority) &&
	       same_text(a->sched_policy, b->sched_policy) && same_text(a->cpus, b->cpus);
}

bool policy_row_is_sched(const struct policy_row *r)
{
	return r->hook && !strcmp(r->hook, "sched");
}

/* How many sched rules @s has. */
static size_t nsched_rules(const struct policy_set *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += policy_row_is_sched(&s->rows[i]);
	return n;
}

int policy_sched_vals(const struct policy_row *r, struct sched_vals *v, char **err)
{
	char why[160];
	int pol = -1;

	memset(v, 0, sizeof(*v));
	if (!r->has_nice && !r->sched_policy && !r->cpus) {
		*err = policy_errf("rule '%s': a sched rule sets at least one of nice, sched_policy "
				   "and cpus", r->name);
		return -1;
	}
	if (r->has_nice && (r->nice < -20 || r->nice > 19)) {
		*err = policy_errf("rule '%s': nice is -20..19, not %d", r->name, r->nice);
		return -1;
	}
	v->has_nice = r->has_nice;
	v->nice = r->nice;
	if (r->sched_policy) {
		pol = sched_policy_parse(r->sched_policy);
		if (pol < 0) {
			*err = policy_errf("rule '%s': sched_policy is other, batch, idle, fifo or rr, "
					   "not '%s'", r->name, r->sched_policy);
			return -1;
		}
		v->has_policy = true;
		v->policy = (uint32_t)pol;
	}
	if (pol == SCHED_FIFO || pol == SCHED_RR) {
		if (!r->has_priority || r->priority < 1 || r->priority > 99) {
			*err = policy_errf("rule '%s': sched_policy '%s' needs sched_priority 1..99",
					   r->name, r->sched_policy);
			return -1;
		}
		v->priority = (uint32_t)r->priority;
	} else if (r->has_priority && r->priority) {
		*err = policy_errf("rule '%s': sched_priority is for sched_policy fifo or rr only "
				   "(leave it NULL)", r->name);
		return -1;
	}
	if (r->cpus && sched_cpus_parse(r->cpus, v->cpus, &v->cpus_len, why, sizeof(why))) {
		*err = policy_errf("rule '%s': cpus '%s': %s", r->name, r->cpus, why);
		return -1;
	}
	return 0;
}

/* ---- store rows ---- */

static int put_row(struct store_batch *b, enum store_cf cf, const void *key, size_t klen,
		   const struct row_value *v, int n)
{
	char small[1024], *buf = small;
	size_t len = row_encode(v, n, small, sizeof(small));

	if (len > sizeof(small)) {
		buf = malloc(len);
		if (!buf)
			return -1;
		row_encode(v, n, buf, len);
	}
	store_batch_put(b, cf, key, klen, buf, len);
	if (buf != small)
		free(buf);
	return 0;
}

static int put_version(struct store_batch *b, const struct version_meta *m, bool live)
{
	struct row_value v[POLICY_VERSIONS__COUNT] = {
		[POLICY_VERSIONS_VERSION] = row_int((int64_t)m->version),
		[POLICY_VERSIONS_TIME] = row_int((int64_t)m->time),
		[POLICY_VERSIONS_UID] = row_int(m->uid),
		[POLICY_VERSIONS_PID] = row_int(m->pid),
		[POLICY_VERSIONS_ACTION] = text_or_null(m->action),
		[POLICY_VERSIONS_FROM_VERSION] = row_int((int64_t)m->from),
		[POLICY_VERSIONS_RULES] = row_int(m->nrules),
		[POLICY_VERSIONS_LIVE] = row_int(live),
	};
	unsigned char k[8];

	store_key_be64(k, m->version);
	return put_row(b, STORE_CF_POLICY_VERSIONS, k, 8, v, POLICY_VERSIONS__COUNT);
}

/*
 * Rule storage. A version's rules are not copied: each rule's content is
 * stored once per run of consecutive versions that had it (a revision, key
 * (id, from_version)), with the version that ended the run (until_version;
 * NULL while the latest version has it). A revision starts at the version
 * that changed the rule, so from_version is policy_row.changed. A commit
 * writes a revision for each rule it adds or changes and closes the one of
 * each rule it changes or deletes: its cost is its difference from the
 * previous version, and any version is one scan of the revisions
 * (load_rules), without replaying a chain of differences.
 */
static int put_revision(struct store_batch *b, const struct policy_row *r, uint64_t until)
{
	struct row_value v[POLICY_REVS__COUNT] = {
		[POLICY_REVS_ID] = row_int(r->id),
		[POLICY_REVS_FROM_VERSION] = row_int((int64_t)r->changed),
		[POLICY_REVS_UNTIL_VERSION] = until ? row_int((int64_t)until) : row_null(),
		[POLICY_REVS_NAME] = text_or_null(r->name),
		[POLICY_REVS_HOOK] = text_or_null(r->hook),
		[POLICY_REVS_ACTION] = text_or_null(r->action),
		[POLICY_REVS_CONDITION] = text_or_null(r->condition),
		[POLICY_REVS_NICE] = r->has_nice ? row_int(r->nice) : row_null(),
		[POLICY_REVS_SCHED_POLICY] = text_or_null(r->sched_policy),
		[POLICY_REVS_SCHED_PRIORITY] = r->has_priority ? row_int(r->priority) : row_null(),
		[POLICY_REVS_CPUS] = text_or_null(r->cpus),
	};
	unsigned char k[8];

	store_key_be32(k, (uint32_t)r->id);
	store_key_be32(k + 4, (uint32_t)r->changed);
	return put_row(b, STORE_CF_POLICY_RULES, k, 8, v, POLICY_REVS__COUNT);
}

static char *dup_text(const struct row_value *v)
{
	return v->type == ROW_TEXT ? strndup(v->s, v->len) : NULL;
}

/*
 * Adds the rule decoded in @v to @out: its text columns name, hook, action
 * and condition are @v[@text .. @text + 3], nice, sched_policy,
 * sched_priority and cpus @v[@sched .. @sched + 3]. 0, or -1 (ENOMEM).
 */
static int add_decoded(struct policy_set *out, int64_t id, uint64_t changed,
		       const struct row_value *v, int text, int sched)
{
	struct policy_row r = {
		.id = id, .changed = changed,
		.name = dup_text(&v[text]), .hook = dup_text(&v[text + 1]),
		.action = dup_text(&v[text + 2]), .condition = dup_text(&v[text + 3]),
		.has_nice = v[sched].type == ROW_INT, .nice = (int32_t)v[sched].i,
		.sched_policy = dup_text(&v[sched + 1]),
		.has_priority = v[sched + 2].type == ROW_INT, .priority = (int32_t)v[sched + 2].i,
		.cpus = dup_text(&v[sched + 3]),
	};
	int ret = policy_set_add_row(out, &r);

	row_free(&r);
	return ret;
}

/*
 * Calls @row for each row of policy_rules' column family whose key starts
 * with @prefix (@plen bytes; 0: every row), decoded into @ncols values (at
 * most POLICY_REVS__COUNT); @row returns 0, or -1 with *@err. 0, or -1 and
 * *@err.
 */
static int scan_rules(struct store *st, const void *prefix, size_t plen, int ncols,
		      int (*row)(void *arg, const char *key, const struct row_value *v,
				 char **err),
		      void *arg, char **err)
{
	struct store_iter *it = store_iter_new(st, STORE_CF_POLICY_RULES);
	struct row_value v[POLICY_REVS__COUNT];
	int ret = 0;

	if (!it) {
		*err = policy_errf("out of memory");
		return -1;
	}
	for (store_iter_seek(it, prefix, plen); store_iter_valid(it); store_iter_next(it)) {
		size_t klen, vlen;
		const char *key = store_iter_key(it, &klen), *val = store_iter_value(it, &vlen);

		if (klen != 8 || memcmp(key, prefix, plen))
			break;
		if (row_decode(val, vlen, v, ncols)) {
			*err = policy_errf("policy_rules: corrupt row");
			ret = -1;
			break;
		}
		ret = row(arg, key, v, err);
		if (ret)
			break;
	}
	if (!ret && !store_iter_valid(it) && store_iter_error(it, err))
		ret = -1;
	store_iter_free(it);
	return ret;
}

struct version_scan {
	uint64_t version;
	struct policy_set *out;
};

/* A revision: added to the set when the version has it. */
static int revision_row(void *arg, const char *key, const struct row_value *v, char **err)
{
	const struct version_scan *vs = arg;
	uint64_t from = store_key_get(key + 4, 4), until = UINT64_MAX;

	if (v[POLICY_REVS_UNTIL_VERSION].type == ROW_INT)
		until = (uint64_t)v[POLICY_REVS_UNTIL_VERSION].i;
	if (from > vs->version || vs->version >= until)
		return 0;
	if (add_decoded(vs->out, (int64_t)store_key_get(key, 4), from, v, POLICY_REVS_NAME,
			POLICY_REVS_NICE)) {
		*err = policy_errf("out of memory");
		return -1;
	}
	return 0;
}

/* The rules of @version into @out: the revisions from_version <= @version < until_version. 0, or -1 and *@err. */
static int load_rules(struct store *st, uint64_t version, struct policy_set *out, char **err)
{
	struct version_scan vs = { version, out };

	memset(out, 0, sizeof(*out));
	if (scan_rules(st, "", 0, POLICY_REVS__COUNT, revision_row, &vs, err)) {
		policy_set_free(out);
		return -1;
	}
	return 0;
}

/*
 * The revisions a commit of @next after @prev (both sorted by id, with
 * changed set) writes: @next's rules it changed (changed == @version) open
 * one, @prev's rules it changed or deleted have theirs closed at @version.
 * 0, or -1 (ENOMEM).
 */
static int put_difference(struct store_batch *b, const struct policy_set *prev,
			  const struct policy_set *next, uint64_t version)
{
	size_t j = 0;

	for (size_t i = 0; i < next->n; i++)
		if (next->rows[i].changed == version && put_revision(b, &next->rows[i], 0))
			return -1;
	for (size_t i = 0; i < prev->n; i++) {
		const struct policy_row *r = &prev->rows[i];

		while (j < next->n && next->rows[j].id < r->id)
			j++;
		if ((j == next->n || next->rows[j].id != r->id ||
		     next->rows[j].changed != r->changed) && put_revision(b, r, version))
			return -1;
	}
	return 0;
}

/* ---- the layout before revisions: a full copy per version ---- */

#define META_RULES_LAYOUT	"policy_rules_layout"	/* "revisions" once migrated */

/* The columns of a version's rule row, key (be32 version, be32 id). */
enum { OLD_VERSION, OLD_ID, OLD_NAME, OLD_HOOK, OLD_ACTION, OLD_CONDITION, OLD_CHANGED,
       OLD_NICE, OLD_SCHED_POLICY, OLD_SCHED_PRIORITY, OLD_CPUS, OLD__COUNT };
_Static_assert((int)OLD__COUNT <= (int)POLICY_REVS__COUNT, "scan_rules decodes POLICY_REVS__COUNT values");

/* A rule row of the old layout, of the version scanned. */
static int old_row(void *arg, const char *key, const struct row_value *v, char **err)
{
	if (add_decoded(arg, (int64_t)store_key_get(key + 4, 4), v[OLD_CHANGED].i, v,
			OLD_NAME, OLD_NICE)) {
		*err = policy_errf("out of memory");
		return -1;
	}
	return 0;
}

/* The rules the old layout stored for @version. 0, or -1 and *@err. */
static int load_old_rules(struct store *st, uint64_t version, struct policy_set *out,
			  char **err)
{
	unsigned char k[4];

	memset(out, 0, sizeof(*out));
	store_key_be32(k, (uint32_t)version);
	if (scan_rules(st, k, 4, OLD__COUNT, old_row, out, err)) {
		policy_set_free(out);
		return -1;
	}
	return 0;
}

/*
 * A store written before revisions holds a full copy of the rules of every
 * version: rewrite it as revisions (one synced batch, so a crash leaves
 * either layout whole), version by version: a rule that is the same as in
 * the version before continues its revision, any other starts one (and
 * its changed becomes that version). Then mark the store migrated.
 */
static int migrate_rules(struct store *st, uint64_t latest, char **err)
{
	static const unsigned char lo[8] = { 0 }, hi[9] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct policy_set prev = { 0 }, cur;
	struct store_batch *b;
	char *val = NULL;
	size_t vlen;
	int r = store_get(st, STORE_CF_META, META_RULES_LAYOUT, strlen(META_RULES_LAYOUT),
			  &val, &vlen, err);

	free(val);
	if (r)
		return r < 0 ? -1 : 0;
	b = store_batch_new();
	if (!b) {
		*err = policy_errf("out of memory");
		return -1;
	}
	store_batch_delete_range(b, STORE_CF_POLICY_RULES, lo, sizeof(lo), hi, sizeof(hi));
	for (uint64_t v = 1; v <= latest; v++) {
		size_t j = 0;

		if (load_old_rules(st, v, &cur, err))
			goto fail;
		for (size_t i = 0; i < cur.n; i++) {
			struct policy_row *c = &cur.rows[i];

			while (j < prev.n && prev.rows[j].id < c->id)
				j++;
			c->changed = j < prev.n && prev.rows[j].id == c->id &&
				     same_rule(c, &prev.rows[j]) ? prev.rows[j].changed : v;
		}
		if (put_difference(b, &prev, &cur, v)) {
			policy_set_free(&cur);
			*err = policy_errf("out of memory");
			goto fail;
		}
		policy_set_free(&prev);
		prev = cur;
	}
	store_batch_put(b, STORE_CF_META, META_RULES_LAYOUT, strlen(META_RULES_LAYOUT),
			"revisions", strlen("revisions"));
	if (store_write_sync(st, b, err))
		goto fail;
	policy_set_free(&prev);
	store_batch_free(b);
	return 0;
fail:
	policy_set_free(&prev);
	store_batch_free(b);
	return -1;
}

/* The row of @version (1), 0 when absent, -1 and *@err. */
static int load_version(struct store *st, uint64_t version, struct version_meta *m, char **err)
{
	struct row_value v[POLICY_VERSIONS__COUNT];
	unsigned char k[8];
	char *val = NULL;
	size_t vlen;
	int r;

	store_key_be64(k, version);
	r = store_get(st, STORE_CF_POLICY_VERSIONS, k, 8, &val, &vlen, err);
	if (r <= 0)
		return r;
	if (row_decode(val, vlen, v, POLICY_VERSIONS__COUNT)) {
		free(val);
		*err = policy_errf("policy_versions: corrupt row %" PRIu64, version);
		return -1;
	}
	*m = (struct version_meta){
		.version = version, .time = (uint64_t)v[POLICY_VERSIONS_TIME].i,
		.from = (uint64_t)v[POLICY_VERSIONS_FROM_VERSION].i,
		.uid = v[POLICY_VERSIONS_UID].i, .pid = v[POLICY_VERSIONS_PID].i,
		.nrules = v[POLICY_VERSIONS_RULES].i,
		.action = v[POLICY_VERSIONS_ACTION].len == 8 ? "rollback" : "commit",
	};
	free(val);
	return 1;
}

/* The highest stored version (0: none). */
static int latest_version(struct store *st, uint64_t *out, char **err)
{
	struct store_iter *it = store_iter_new(st, STORE_CF_POLICY_VERSIONS);
	int ret = 0;

	if (!it) {
		*err = policy_errf("out of memory");
		return -1;
	}
	*out = 0;
	store_iter_seek_last(it);
	if (store_iter_valid(it)) {
		size_t klen;
		const char *key = store_iter_key(it, &klen);

		*out = store_key_get(key, klen);
	} else if (store_iter_error(it, err)) {
		ret = -1;
	}
	store_iter_free(it);
	return ret;
}

/* ---- compiling and pushing ---- */

/* @s as the compiler takes it (struct policy_rule per row, borrowing @s's strings). */
struct rule_array {
	struct policy_rule *r;
	struct sched_vals *sv;
	size_t n;
};

static void rule_array_free(struct rule_array *ra)
{
	free(ra->r);
	free(ra->sv);
	memset(ra, 0, sizeof(*ra));
}

/* @s's rules for compiling as @version. 0, or -1 and *@err. */
static int rule_array_make(const struct policy_set *s, uint64_t version, struct rule_array *ra,
			   char **err)
{
	ra->n = s->n;
	ra->r = calloc(s->n ? s->n : 1, sizeof(*ra->r));
	ra->sv = calloc(s->n ? s->n : 1, sizeof(*ra->sv));
	if (!ra->r || !ra->sv) {
		rule_array_free(ra);
		*err = policy_errf("out of memory");
		return -1;
	}
	/* A rule an earlier version changed has passed SQLite's check then. */
	for (size_t i = 0; i < s->n; i++) {
		const struct policy_row *row = &s->rows[i];

		ra->r[i] = (struct policy_rule){ row->id, row->name, row->hook, row->action,
						 row->condition, row->changed && row->changed < version };
		if (!policy_row_is_sched(row))
			continue;
		if (policy_sched_vals(row, &ra->sv[i], err)) {
			rule_array_free(ra);
			return -1;
		}
		ra->r[i].sched = &ra->sv[i];
	}
	return 0;
}

/* Mark ids as the kernel's live generation has them (after a restart: not p->img's); false: none known. Under @mu. */
static bool live_marks(struct policy *p, uint64_t prev[DBOS_LSM_MARKS])
{
	if (p->cfg.ops && p->cfg.ops->live_marks) {
		p->cfg.ops->live_marks(p->cfg.ops->arg, prev);
		return true;
	}
	if (p->img) {
		memcpy(prev, p->img->mark_hash, DBOS_LSM_MARKS * sizeof(*prev));
		return true;
	}
	return false;
}

static int compile_set(struct policy *p, const struct policy_set *s, uint64_t version,
		       struct policy_image **img, char **err)
{
	uint64_t prev[DBOS_LSM_MARKS];
	struct rule_array ra;
	bool have_prev = live_marks(p, prev);
	int ret;

	if (rule_array_make(s, version, &ra, err))
		return -1;
	ret = policy_compile(p->db, ra.r, ra.n, version, have_prev ? prev : NULL, img, err);
	rule_array_free(&ra);
	return ret;
}

static void info_free(struct version_info *vi)
{
	for (int h = 0; h < DBOS_LSM_HOOK__COUNT; h++)
		free(vi->term_rule[h]);
	policy_set_free(&vi->rules);
}

/* Remembers which rule each term of @img is (for decisions). Best effort. */
static void remember(struct policy *p, const struct policy_image *img, const struct policy_set *s)
{
	struct version_info vi = { .version = img->gen.version };
	struct version_info *ni;

	if (policy_set_copy(&vi.rules, s))
		return;
	for (int h = 0; h < DBOS_LSM_HOOK__COUNT; h++) {
		vi.nterms[h] = img->nterms[h];
		if (!img->nterms[h])
			continue;
		vi.term_rule[h] = malloc(img->nterms[h] * sizeof(int64_t));
		if (!vi.term_rule[h]) {
			info_free(&vi);
			return;
		}
		memcpy(vi.term_rule[h], img->term_rule[h], img->nterms[h] * sizeof(int64_t));
	}
	pthread_mutex_lock(&p->dmu);
	for (size_t i = 0; i < p->ninfos; i++) {
		if (p->infos[i].version == vi.version) {	/* a refresh: same rules, new terms */
			info_free(&p->infos[i]);
			p->infos[i] = vi;
			pthread_mutex_unlock(&p->dmu);
			return;
		}
	}
	ni = realloc(p->infos, (p->ninfos + 1) * sizeof(*ni));
	if (ni) {
		p->infos = ni;
		p->infos[p->ninfos++] = vi;
	} else {
		info_free(&vi);
	}
	pthread_mutex_unlock(&p->dmu);
}

static void set_live_image(struct policy *p, struct policy_image *img)
{
	policy_image_free(p->img);
	p->img = img;
	p->img_seq++;
}

/* Whether @a and @b would put the same generation into the kernel. */
static bool same_image(const struct policy_image *a, const struct policy_image *b)
{
	const struct enforce_gen *x = a ? &a->gen : NULL, *y = b ? &b->gen : NULL;

	if (!a || !b || x->version != y->version || x->nvalues != y->nvalues ||
	    x->npaths != y->npaths || memcmp(x->cfg, y->cfg, sizeof(x->cfg)) ||
	    memcmp(a->nterms, b->nterms, sizeof(a->nterms)) ||
	    memcmp(a->mark_hash, b->mark_hash, sizeof(a->mark_hash)))
		return false;
	for (int h = 0; h < DBOS_LSM_CFGS; h++)
		if (a->nterms[h] && memcmp(a->term_rule[h], b->term_rule[h],
					   a->nterms[h] * sizeof(int64_t)))
			return false;
	return (!x->nvalues || !memcmp(x->values, y->values, x->nvalues * sizeof(*x->values))) &&
	       (!x->npaths || !memcmp(x->paths, y->paths, x->npaths * sizeof(*x->paths)));
}

/* Logs a failed push of sched rules (once per message) and has the refresher retry. Under @mu. */
static void sched_failed(struct policy *p, uint64_t version, const char *what, char *err)
{
	if (!p->sched_err || strcmp(p->sched_err, err ? err : "?")) {
		policy_log(p, "policy: %s the scheduling rules of version %" PRIu64 ": %s (retrying)",
			   what, version, err ? err : "?");
		free(p->sched_err);
		p->sched_err = strdup(err ? err : "?");
	}
	free(err);
	p->sched_retry = true;
}

/*
 * Stage and activate the sched terms of @img (version @version) in dbos.ko,
 * outside a commit (start, refresh, retry). Under @mu. 0, or -1 (logged,
 * retried).
 */
static int sched_push(struct policy *p, const struct policy_image *img, uint64_t version)
{
	const struct policy_kernel_ops *ops = p->cfg.ops;
	char *err = NULL;

	if (!ops->sched_stage || !ops->sched_activate) {
		sched_failed(p, version, "cannot push", policy_errf("no scheduling interface"));
		return -1;
	}
	if (ops->sched_stage(ops->arg, version, img->sched, img->nsched, &err)) {
		sched_failed(p, version, "cannot stage", err);
		return -1;
	}
	if (ops->sched_activate(ops->arg, version, &err)) {
		sched_failed(p, version, "cannot activate", err);
		return -1;
	}
	if (p->sched_retry)
		policy_log(p, "policy: scheduling rules of version %" PRIu64 " live", version);
	p->sched_retry = false;
	free(p->sched_err);
	p->sched_err = NULL;
	return 0;
}

/*
 * Prepare and flip @img (of @s, as @version; no store write), and push its
 * sched rules when it has some (their failure is logged and retried, not
 * returned). Takes @img. Under @mu. With @if_changed, only what differs
 * from the live image is pushed, and nothing (returns 1) when nothing does:
 * a re-push would drop the set members the kernel added by inheritance at
 * fork that the mirror does not show yet.
 */
static int push_image(struct policy *p, struct policy_image *img, const struct policy_set *s,
		      uint64_t version, bool if_changed, char **err)
{
	bool lsm = !if_changed || !same_image(img, p->img);
	bool sched = if_changed ? !p->img || !policy_sched_terms_equal(img->sched, img->nsched,
								       p->img->sched, p->img->nsched)
				: nsched_rules(s) > 0;

	if (!lsm && !sched) {
		policy_image_free(img);
		return 1;
	}
	lsm = lsm && p->cfg.ops->prepare;	/* no LSM enforcer: sched rules only */
	if (lsm && p->cfg.ops->prepare(p->cfg.ops->arg, img, err)) {
		policy_image_free(img);
		return -1;
	}
	if (lsm) {
		remember(p, img, s);	/* before the flip: its first decisions name their rule */
		p->cfg.ops->flip(p->cfg.ops->arg);
	}
	if (sched)
		sched_push(p, img, version);
	set_live_image(p, img);
	return 0;
}

/* Compile @s as @version and push_image() it. Under @mu. */
static int push(struct policy *p, const struct policy_set *s, uint64_t version,
		bool if_changed, char **err)
{
	struct policy_image *img = NULL;

	if (compile_set(p, s, version, &img, err))
		return -1;
	return push_image(p, img, s, version, if_changed, err);
}

static uint64_t mirror_changes(struct policy *p)
{
	return p->cfg.mirror_changes ? p->cfg.mirror_changes(p->cfg.mirror_arg) : 0;
}

/* The module names a refused sched rule by id ("rule 2: ..."): name it as the user wrote it. */
static void name_rule(const struct policy_set *s, char **err)
{
	unsigned int id;
	int end = 0;
	long i;
	char *n;

	if (!*err || sscanf(*err, "rule %u%n", &id, &end) != 1 || !end ||
	    (i = policy_set_find(s, id)) < 0)
		return;
	n = policy_errf("rule '%s' (id %u)%s", s->rows[i].name, id, *err + end);
	if (n) {
		free(*err);
		*err = n;
	}
}

/* Sends each line of @notes to the client @who as a notice. */
static void tell(const struct sql_session *who, const char *notes)
{
	while (who->notice && notes && *notes) {
		size_t n = strcspn(notes, "\n");
		char *line = strndup(notes, n);

		if (line)
			who->notice(who->notice_arg, line);
		free(line);
		notes += n + (notes[n] == '\n');
	}
}

/* After not_enforced() marked an older version live, its row goes back to live = 0. */
static int reset_live_row(struct policy *p, struct store_batch *b)
{
	uint64_t kv = atomic_load(&p->live_pub);
	struct version_meta km;
	char *err = NULL;
	int r = 0;

	if (atomic_load(&p->not_enforced) && kv && kv != p->latest &&
	    load_version(p->cfg.st, kv, &km, &err) > 0)
		r = put_version(b, &km, false);
	free(err);
	return r;
}

/* The commit itself, under @mu. */
static int commit_locked(struct policy *p, const struct policy_set *in, const char *action,
			 uint64_t from, const struct sql_session *who, uint64_t *version,
			 char **err)
{
	struct version_meta m = { .version = p->latest + 1, .from = from, .action = action,
				  .uid = who->uid, .pid = who->pid, .time = (uint64_t)time(NULL) };
	const struct policy_kernel_ops *ops = p->cfg.ops;
	struct policy_image *img = NULL;
	struct store_batch *b = NULL;
	struct policy_set s;
	uint64_t changes = mirror_changes(p);
	char *aerr = NULL;
	bool sched;

	if (who->uid != 0) {
		*err = policy_errf("permission denied: only root may change policy");
		return -1;
	}
	if (!p->cfg.ops) {
		*err = policy_errf("policy cannot change: %s", p->cfg.no_kernel_reason ?
			    p->cfg.no_kernel_reason : "no enforcement");
		return -1;
	}
	if (policy_set_copy(&s, in)) {
		*err = policy_errf("out of memory");
		return -1;
	}
	for (size_t i = 0; i < s.n; i++) {
		long j = policy_set_find(&p->rules, s.rows[i].id);

		s.rows[i].changed = j >= 0 && same_rule(&s.rows[i], &p->rules.rows[j])
				    ? p->rules.rows[j].changed : m.version;
	}
	m.nrules = (int64_t)s.n;
	if (compile_set(p, &s, m.version, &img, err))
		goto fail;
	/* Policy-only commits (no sched rules before or after) never reach the module. */
	sched = nsched_rules(&s) || nsched_rules(&p->rules);
	if (sched && (!ops->sched_stage || !ops->sched_activate)) {
		*err = policy_errf("scheduling rules cannot change: no scheduling interface");
		goto fail;
	}
	/* Without an LSM enforcer, only versions without security rules (before and after) commit. */
	if (!ops->prepare && (s.n > nsched_rules(&s) || p->rules.n > nsched_rules(&p->rules))) {
		*err = policy_errf("policy cannot change: %s", p->cfg.no_kernel_reason ?
				   p->cfg.no_kernel_reason : "no enforcement");
		goto fail;
	}
	if (ops->prepare && ops->prepare(ops->arg, img, err))
		goto fail;
	if (sched && ops->sched_stage(ops->arg, m.version, img->sched, img->nsched, err)) {
		name_rule(&s, err);
		goto fail;
	}
	b = store_batch_new();
	if (!b || put_version(b, &m, true) || (p->latest && put_version(b, &p->meta, false)) ||
	    reset_live_row(p, b)) {
		*err = policy_errf("out of memory");
		goto fail;
	}
	if (put_difference(b, &p->rules, &s, m.version)) {
		*err = policy_errf("out of memory");
		goto fail;
	}
	if (store_write_sync(p->cfg.st, b, err))
		goto fail;
	store_batch_free(b);
	remember(p, img, &s);	/* before the flip: its first decisions name their rule */
	if (ops->flip)
		ops->flip(ops->arg);	/* the commit point in the kernel */
	if (sched && ops->sched_activate(ops->arg, m.version, &aerr))
		sched_failed(p, m.version, "cannot activate", aerr);	/* stored: retried */
	else if (sched)
		p->sched_retry = false;

	p->latest = m.version;
	p->meta = m;
	policy_set_free(&p->rules);
	p->rules = s;
	set_live_image(p, img);
	p->seen_changes = changes;
	atomic_store(&p->live_pub, m.version);
	atomic_store(&p->not_enforced, false);
	atomic_fetch_add(&p->commits, 1);
	*version = m.version;
	policy_log(p, "policy: version %" PRIu64 " live (%s by uid %" PRId64 ", %zu rules)",
	      m.version, action, m.uid, s.n);
	tell(who, p->img->notes);
	return 0;
fail:
	store_batch_free(b);
	policy_image_free(img);
	policy_set_free(&s);
	return -1;
}

int policy_commit(struct policy *p, const struct policy_set *rules, uint64_t base,
		  const struct sql_session *who, uint64_t *version, char **err)
{
	int ret;

	pthread_mutex_lock(&p->mu);
	if (base != p->latest) {
		*err = policy_errf("policy changed concurrently (version %" PRIu64 " is live); retry",
			    p->latest);
		ret = -1;
	} else {
		ret = commit_locked(p, rules, "commit", base, who, version, err);
	}
	pthread_mutex_unlock(&p->mu);
	return ret;
}

static bool fleet_name(const char *name)
{
	return !strncmp(name, POLICY_FLEET_PREFIX, sizeof(POLICY_FLEET_PREFIX) - 1);
}

/*
 * The live rules with the fleet's replaced by @fleet's (named with the
 * prefix; a rule keeps its id when its name stays, new ones get max + 1).
 * *@same: the live fleet rules are already exactly these. Under @mu.
 */
static int fleet_merge(struct policy *p, const struct policy_set *fleet, struct policy_set *out,
		       bool *same, char **err)
{
	size_t nlive_fleet = 0, kept = 0;
	int64_t next = 0;

	memset(out, 0, sizeof(*out));
	*same = true;
	for (size_t i = 0; i < p->rules.n; i++) {
		const struct policy_row *r = &p->rules.rows[i];

		if (r->id >= next)
			next = r->id + 1;
		if (fleet_name(r->name))
			nlive_fleet++;
		else if (policy_set_add_row(out, r))
			goto nomem;
	}
	for (size_t i = 0; i < fleet->n; i++) {
		struct policy_row r = fleet->rows[i];
		char *name = NULL;
		long j = -1;

		if (asprintf(&name, "%s%s", POLICY_FLEET_PREFIX, fleet->rows[i].name) < 0)
			goto nomem;
		r.name = name;
		for (size_t k = 0; k < p->rules.n && j < 0; k++)
			if (!strcmp(p->rules.rows[k].name, name))
				j = (long)k;
		r.id = j >= 0 ? p->rules.rows[j].id : next++;
		if (j >= 0 && same_rule(&r, &p->rules.rows[j]))
			kept++;
		r.changed = 0;
		if (policy_set_add_row(out, &r)) {
			free(name);
			goto nomem;
		}
		free(name);
	}
	*same = kept == fleet->n && nlive_fleet == fleet->n;
	return 0;
nomem:
	policy_set_free(out);
	*err = policy_errf("out of memory");
	return -1;
}

int policy_fleet_apply(struct policy *p, const struct policy_set *fleet, uint64_t fleet_version,
		       uint64_t *version, char **err)
{
	const struct sql_session root = { .uid = 0, .pid = getpid() };
	struct policy_set s;
	bool same;
	int ret;

	for (size_t i = 0; i < fleet->n; i++)
		for (size_t k = i + 1; k < fleet->n; k++)
			if (!strcmp(fleet->rows[i].name, fleet->rows[k].name)) {
				*err = policy_errf("two fleet rules named '%s'", fleet->rows[i].name);
				return -1;
			}
	pthread_mutex_lock(&p->mu);
	ret = fleet_merge(p, fleet, &s, &same, err);
	if (!ret && same)
		*version = p->latest;	/* enforced already: no new version */
	else if (!ret)
		ret = commit_locked(p, &s, "fleet", fleet_version, &root, version, err);
	pthread_mutex_unlock(&p->mu);
	policy_set_free(&s);
	return ret;
}

int policy_rollback(struct policy *p, uint64_t to, const struct sql_session *who,
		    uint64_t *version, char **err)
{
	struct version_meta m;
	struct policy_set s = { 0 };
	int ret = -1, r = 1;

	pthread_mutex_lock(&p->mu);
	if (who->uid != 0)
		*err = policy_errf("permission denied: only root may change policy");
	else if (to > p->latest || (to && (r = load_version(p->cfg.st, to, &m, err)) == 0))
		*err = policy_errf("policy_rollback: no version %" PRIu64 " (versions are 0 to %" PRIu64 ")",
			    to, p->latest);
	else if (r > 0 && (to == 0 || !load_rules(p->cfg.st, to, &s, err)))
		ret = commit_locked(p, &s, "rollback", to, who, version, err);
	pthread_mutex_unlock(&p->mu);
	policy_set_free(&s);
	return ret;
}

uint64_t policy_live_version(struct policy *p)
{
	return atomic_load(&p->live_pub);
}

int policy_live_rules(struct policy *p, struct policy_set *out, uint64_t *version, char **err)
{
	int ret;

	pthread_mutex_lock(&p->mu);
	ret = policy_set_copy(out, &p->rules);
	*version = p->latest;
	pthread_mutex_unlock(&p->mu);
	if (ret)
		*err = policy_errf("out of memory");
	return ret;
}

int policy_check(struct policy *p, const struct policy_rule *r, char **err)
{
	int ret;

	pthread_mutex_lock(&p->mu);
	ret = policy_check_rule(p->db, r, err);
	pthread_mutex_unlock(&p->mu);
	return ret;
}

int policy_refresh(struct policy *p, char **err)
{
	int ret = 0;

	pthread_mutex_lock(&p->mu);
	if (p->cfg.ops && p->img && (p->img->has_sets || p->img->nilits)) {
		uint64_t changes = mirror_changes(p);

		ret = push(p, &p->rules, p->latest, true, err);
		if (ret >= 0)
			p->seen_changes = changes;
		if (ret == 0)
			atomic_fetch_add(&p->refreshes, 1);
		ret = ret < 0 ? -1 : 0;
	}
	pthread_mutex_unlock(&p->mu);
	return ret;
}

/*
 * The refresher's compile of the live version (policy_program): built once
 * per live image, on the refresher's own connection, from a copy of the
 * rules; then only its server-side subqueries run again as the mirror
 * changes. Used by the refresher thread only.
 */
struct refresh {
	struct policy_set rules;
	struct rule_array ra;
	struct policy_program *prog;
	uint64_t version, img_seq;	/* the live version and image it stands for */
	uint64_t prev[DBOS_LSM_MARKS];	/* their mark ids */
	bool have_prev;
};

static void refresh_reset(struct refresh *rs)
{
	policy_program_free(rs->prog);
	rule_array_free(&rs->ra);
	policy_set_free(&rs->rules);
	memset(rs, 0, sizeof(*rs));
}

/*
 * The sets of the live version, evaluated again without @mu: compile the
 * version once (when it or its image changed since), else run only its
 * server-side subqueries; then, under @mu, push the image if a set changed
 * and the live image is still the one evaluated. @changes: the mirror's
 * counter read before. 0, or -1 and *@err.
 */
static int refresh_sets(struct policy *p, struct refresh *rs, bool rebuild, uint64_t changes,
			char **err)
{
	struct policy_image *img = NULL;
	int ret = 0;

	if (rebuild) {
		atomic_fetch_add(&p->refresh_compiles, 1);
		ret = rule_array_make(&rs->rules, rs->version, &rs->ra, err) ||
		      policy_compile_program(p->rdb, rs->ra.r, rs->ra.n, rs->version,
					     rs->have_prev ? rs->prev : NULL, &img, &rs->prog, err);
	} else {
		ret = policy_program_refresh(p->rdb, rs->prog, &img, err);
	}
	atomic_fetch_add(&p->set_evaluations, 1);
	pthread_mutex_lock(&p->mu);
	if (ret || rs->version != p->latest || rs->img_seq != p->img_seq || !rs->prog) {
		policy_image_free(img);		/* a commit went first: compile again */
		refresh_reset(rs);
	} else {
		ret = img ? push_image(p, img, &p->rules, p->latest, true, err) : 1;
		if (ret < 0)
			refresh_reset(rs);	/* the kernel did not take it: compile again */
		rs->img_seq = p->img_seq;
		if (ret == 0)
			atomic_fetch_add(&p->refreshes, 1);
		if (ret >= 0)
			p->seen_changes = changes;
		ret = ret < 0 ? -1 : 0;
	}
	pthread_mutex_unlock(&p->mu);
	return ret;
}

static void *refresher(void *arg)
{
	struct policy *p = arg;
	const struct timespec tick = { 0, REFRESH_MS * 1000000L };
	struct refresh rs = { 0 };
	unsigned int ticks = 0, iticks = 0;
	unsigned long failing = 0;	/* refreshes failed in a row (logged once) */

	while (!atomic_load(&p->stop)) {
		bool sets, inodes = false, rebuild = false;
		uint64_t changes = 0;
		char *err = NULL;

		nanosleep(&tick, NULL);
		pthread_mutex_lock(&p->mu);
		changes = mirror_changes(p);
		sets = p->img && p->img->has_sets && changes != p->seen_changes;
		/*
		 * The files exact paths name (INODE entries): one stat() each
		 * every INODE_CHECK_MS, whatever the machine does (a rename has
		 * no event); compiled again when one is another file.
		 */
		if (!sets && p->img && p->img->nilits &&
		    ++iticks % (INODE_CHECK_MS / REFRESH_MS) == 0)
			inodes = policy_image_inodes_changed(p->img);
		/* sched rules the module did not take: again every SCHED_RETRY_MS */
		if (p->sched_retry && p->img && ++ticks % (SCHED_RETRY_MS / REFRESH_MS) == 0)
			sched_push(p, p->img, p->latest);
		if (sets && (!rs.prog || rs.version != p->latest || rs.img_seq != p->img_seq)) {
			refresh_reset(&rs);
			rebuild = true;
			rs.version = p->latest;
			rs.img_seq = p->img_seq;
			rs.have_prev = live_marks(p, rs.prev);
			if (policy_set_copy(&rs.rules, &p->rules))
				sets = false;	/* out of memory: next tick */
		}
		pthread_mutex_unlock(&p->mu);
		/*
		 * Processes that came to match since the last refresh stay
		 * outside the kernel's sets until one succeeds (README: every
		 * limit): counted, logged once.
		 */
		if ((inodes && policy_refresh(p, &err)) ||
		    (sets && refresh_sets(p, &rs, rebuild, changes, &err))) {
			atomic_fetch_add(&p->refresh_failed, 1);
			if (!failing++)
				policy_log(p, "policy: refreshing the sets of version %" PRIu64
					   ": %s (processes that came to match since the last "
					   "refresh are not covered; retrying, counted in "
					   "policy_refresh_failed)",
					   policy_live_version(p), err ? err : "?");
		} else if ((inodes || sets) && failing) {
			policy_log(p, "policy: the sets of version %" PRIu64 " are current "
				   "again after %lu failed refreshes",
				   policy_live_version(p), failing);
			failing = 0;
		}
		free(err);
	}
	refresh_reset(&rs);
	return NULL;
}

/* ---- open / close ---- */

/*
 * At start, @p->latest (stored, committed) turned out not to be what the
 * kernel enforces, which is version @kv (0: nothing): say so loudly, and make
 * policy_versions.live and dbos_stats.policy_version say what the kernel
 * enforces, not what was stored. The next commit makes them agree again.
 */
static void not_enforced(struct policy *p, uint64_t kv, const char *why)
{
	struct store_batch *b = store_batch_new();
	struct version_meta km;
	char *err = NULL;

	policy_log(p, "policy: ERROR: committed version %" PRIu64 " is NOT enforced: %s; the "
		   "kernel enforces %s%" PRIu64 ". Commit again (or roll back) once the cause is "
		   "fixed.", p->latest, why, kv ? "version " : "no policy: version ", kv);
	fprintf(stderr, "dbosd: ERROR: policy version %" PRIu64 " is NOT enforced: %s\n",
		p->latest, why);
	atomic_store(&p->live_pub, kv);
	atomic_store(&p->not_enforced, true);
	if (!b)
		return;
	if (put_version(b, &p->meta, false) ||
	    (kv && kv != p->latest && load_version(p->cfg.st, kv, &km, &err) > 0 &&
	     put_version(b, &km, true)) ||
	    store_write(p->cfg.st, b, &err))
		policy_log(p, "policy: cannot record which version is live: %s", err ? err : "?");
	free(err);
	store_batch_free(b);
}

/* At start: adopt the latest stored version; push it if the kernel's differs. */
static int adopt(struct policy *p, char **err)
{
	struct policy_image *img = NULL;
	char *perr = NULL;
	uint64_t kv;

	if (latest_version(p->cfg.st, &p->latest, err) ||
	    migrate_rules(p->cfg.st, p->latest, err))
		return -1;
	if (p->latest) {
		if (load_version(p->cfg.st, p->latest, &p->meta, err) < 0 ||
		    load_rules(p->cfg.st, p->latest, &p->rules, err))
			return -1;
	}
	atomic_store(&p->live_pub, p->latest);
	if (!p->cfg.ops)
		return 0;
	/* no LSM enforcer: nothing to push there, only the sched rules */
	if (!p->cfg.ops->prepare && p->rules.n > nsched_rules(&p->rules))
		not_enforced(p, 0, p->cfg.no_kernel_reason ? p->cfg.no_kernel_reason :
			     "no BPF LSM enforcer");
	kv = p->cfg.ops->live_version ? p->cfg.ops->live_version(p->cfg.ops->arg) : p->latest;
	if (kv == p->latest) {
		char *cerr = NULL;

		/* Same version: only the image (rules of terms, sets) is needed. */
		if (compile_set(p, &p->rules, p->latest, &img, &cerr)) {
			policy_log(p, "policy: version %" PRIu64 " no longer compiles: %s", p->latest,
			      cerr ? cerr : "?");
			free(cerr);
			return 0;
		}
		remember(p, img, &p->rules);
		set_live_image(p, img);
		p->seen_changes = mirror_changes(p) - 1;	/* refresh sets at once */
		if (p->cfg.ops->prepare)
			policy_log(p, "policy: adopted live version %" PRIu64, kv);
		/* The module may have been reloaded since: its sched rules are pushed at every start. */
		if (nsched_rules(&p->rules))
			sched_push(p, img, p->latest);
		return 0;
	}
	if (push(p, &p->rules, p->latest, false, &perr)) {
		/* The kernel keeps enforcing what it has; the next commit replaces it. */
		not_enforced(p, kv, perr ? perr : "?");
		free(perr);
		return 0;
	}
	p->seen_changes = mirror_changes(p);
	policy_log(p, "policy: pushed stored version %" PRIu64 " (the kernel had version %" PRIu64 ")",
	      p->latest, kv);
	return 0;
}

int policy_open(const struct policy_config *cfg, struct policy **out, char **err)
{
	/* Pid sets are evaluated where processes also shows the children they would fork. */
	const struct sql_session compiler = { .uid = 0, .pid = getpid(), .fork_children = true };
	struct policy *p = calloc(1, sizeof(*p));
	uint64_t max_seq = 0;

	if (!p) {
		*err = policy_errf("out of memory");
		return -1;
	}
	p->cfg = *cfg;
	p->env = *cfg->env;
	p->env.extend = NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->dmu, NULL);
	history_init(&p->hist, STORE_CF_POLICY_DECISIONS, cfg->retention);
	p->dbatch = store_batch_new();
	if (!p->dbatch) {
		*err = policy_errf("out of memory");
		goto fail;
	}
	if (sql_open_session(&p->env, &compiler, &p->db, err) ||
	    policy_decisions_load(p, &max_seq, err) || adopt(p, err))
		goto fail;
	p->dseq = max_seq;
	if (cfg->ops && cfg->ops->poll) {
		if (pthread_create(&p->poller, NULL, policy_poller, p)) {
			*err = policy_errf("cannot start the decisions thread");
			goto fail;
		}
		p->have_poller = true;
	}
	if (cfg->ops) {
		/* The refresher evaluates sets on a connection of its own, without @mu. */
		if (sql_open_session(&p->env, &compiler, &p->rdb, err))
			goto fail;
		if (pthread_create(&p->refresher, NULL, refresher, p)) {
			*err = policy_errf("cannot start the refresher thread");
			goto fail;
		}
		p->have_refresher = true;
	}
	*out = p;
	return 0;
fail:
	policy_close(p);
	return -1;
}

void policy_close(struct policy *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, true);
	if (p->have_poller)
		pthread_join(p->poller, NULL);
	if (p->have_refresher)
		pthread_join(p->refresher, NULL);
	sqlite3_close(p->rdb);
	sqlite3_close(p->db);
	free(p->sched_err);
	policy_image_free(p->img);
	policy_set_free(&p->rules);
	for (size_t i = 0; i < p->ninfos; i++)
		info_free(&p->infos[i]);
	free(p->infos);
	free(p->pending);
	store_batch_free(p->dbatch);
	history_free(&p->hist);
	free(p->refused);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->dmu);
	free(p);
}

int policy_stats(struct policy *p, struct sql_stat *out, int max)
{
	static const char *const names[DBOS_LSM_C__COUNT][2] = {
		[DBOS_LSM_C_CHECKS] = { "lsm_checks", "LSM hook calls that looked at policy rules" },
		[DBOS_LSM_C_DENIED] = { "lsm_denied", "LSM hook calls refused (EPERM) by policy" },
		[DBOS_LSM_C_AUDITED] = { "lsm_audited", "LSM hook calls allowed and reported by an audit rule" },
		[DBOS_LSM_C_LOST] = { "lsm_lost",
			"Decisions not reported (the ring buffer was full) or not made (no free "
			"scratch entry; a hook's ext_ pin removed)" },
		[DBOS_LSM_C_INHERIT_FAILED] = { "lsm_inherit_failed",
			"Forks whose child could not inherit its parent's pid-set membership (the "
			"values map full): the child is then refused where a deny rule uses a set" },
		[DBOS_LSM_C_MARK_UNKNOWN] = { "lsm_lineage_unknown",
			"Checks of a caller whose lineage marks were not known: denied where a "
			"deny rule has a lineage condition (fail closed)" },
		[DBOS_LSM_C_MARK_FAILED] = { "lsm_lineage_failed",
			"Forks, execs, renames or credential changes whose lineage marks could not "
			"be recorded (the process is then unknown)" },
		[DBOS_LSM_C_SET_UNKNOWN] = { "lsm_set_unknown",
			"Checks of a caller whose server-side pid-set membership was lost at fork "
			"(lsm_inherit_failed): denied where the hook has deny rules (fail closed)" },
		[DBOS_LSM_C_PATH_UNRESOLVED] = { "lsm_path_unresolved",
			"Checks that needed a path deeper than the kernel walks (4096 steps): "
			"decided as if it matched every deny and audit path constraint" },
		[DBOS_LSM_C_MARK_BUSY] = { "lsm_lineage_busy",
			"Lineage marks the kernel's task storage refused for a moment (a preemptible "
			"kernel: another task on the CPU was inside it), read from a copy or kept "
			"aside and applied at the next access: nothing lost, nothing refused" },
	};
	uint64_t c[DBOS_LSM_C__COUNT] = { 0 };
	int n = 0;

	if (p->cfg.ops && p->cfg.ops->counters)
		p->cfg.ops->counters(p->cfg.ops->arg, c);
	for (int i = 0; i < DBOS_LSM_C__COUNT && n < max; i++)
		out[n++] = (struct sql_stat){ names[i][0], (int64_t)c[i], names[i][1] };
	if (n < max)
		out[n++] = (struct sql_stat){ "policy_version", (int64_t)policy_live_version(p),
					      "Policy version the kernel enforces (0: none)" };
	if (n < max)
		out[n++] = (struct sql_stat){ "policy_not_enforced", atomic_load(&p->not_enforced),
					      "1: the last committed version could not be pushed at "
					      "start and is NOT enforced (see dbosd's log); 0 otherwise" };
	if (n < max)
		out[n++] = (struct sql_stat){ "policy_decisions_written", (int64_t)atomic_load(&p->written),
					      "policy_decisions rows written since start" };
	if (n < max)
		out[n++] = (struct sql_stat){ "policy_refused", (int64_t)atomic_load(&p->refused_total),
					      "Policy changes refused to non-root clients since start "
					      "(policy_decisions keeps the newest, apart from the kernel's)" };
	if (n < max)
		out[n++] = (struct sql_stat){ "policy_commits", (int64_t)atomic_load(&p->commits),
					      "Policy versions committed since start" };
	if (n < max)
		out[n++] = (struct sql_stat){ "policy_refreshes", (int64_t)atomic_load(&p->refreshes),
					      "Re-pushes of the live version after its pid/uid sets changed" };
	if (n < max)
		out[n++] = (struct sql_stat){ "policy_refresh_failed",
					      (int64_t)atomic_load(&p->refresh_failed),
					      "Re-pushes that failed (e.g. the sets outgrew the kernel's "
					      "maps): processes that came to match since the last one "
					      "are not in the kernel's sets" };
	if (n < max)
		out[n++] = (struct sql_stat){ "policy_set_evaluations",
					      (int64_t)atomic_load(&p->set_evaluations),
					      "Times the refresher ran the live version's server-side "
					      "subqueries again (the mirror changed)" };
	if (n < max)
		out[n++] = (struct sql_stat){ "policy_refresh_compiles",
					      (int64_t)atomic_load(&p->refresh_compiles),
					      "Times the refresher compiled the live version's rules "
					      "(once per live image; otherwise it runs only the subqueries)" };
	return n;
}
