// SPDX-License-Identifier: GPL-2.0
/* decisions.c - policy_decisions rows: the kernel's denials and audits (with their rule), refused policy changes. */

/*
 * Two budgets share the table. The kernel's decisions are a history
 * (mirror/history.h): at most @retention rows, trimmed from the oldest with
 * one range delete. Refused policy changes (non-root clients, one row per
 * attempt, as many as a client cares to send) would flush real denials out
 * of such a history, so they are not counted in it: the newest
 * refused_retention of them are kept in a ring of their seqs, and each new
 * one beyond that deletes the oldest refused row by its key. A range trim
 * of the kernel's history deletes the refused rows below its cut too (they
 * are older than every decision kept); the ring forgets them.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "dbserver/policy/policy_int.h"
#include "dbserver/sql/schema.h"

static const char *mode_name(uint32_t mode)
{
	static const char *const names[] = { NULL, "r", "w", "rw" };

	return names[mode & 3];
}

static const char *family_name(uint16_t f, char buf[8])
{
	if (f == 1)
		return "unix";
	if (f == 2)
		return "inet";
	if (f == 10)
		return "inet6";
	snprintf(buf, 8, "%u", f);
	return buf;
}

/* Boot-time ns -> realtime ns. */
static uint64_t boot_to_real(uint64_t boot_ns)
{
	struct timespec rt, bt;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &bt);
	return boot_ns + ((uint64_t)rt.tv_sec * 1000000000 + rt.tv_nsec) -
	       ((uint64_t)bt.tv_sec * 1000000000 + bt.tv_nsec);
}

/* The rule of @term of @hook in @version: its id (or -1) and name. Under @dmu. */
static const struct policy_row *decision_rule(struct policy *p, uint64_t version,
					      uint32_t hook, uint32_t term)
{
	for (size_t i = 0; i < p->ninfos; i++) {
		const struct version_info *vi = &p->infos[i];
		long j;

		if (vi->version != version || hook >= DBOS_LSM_HOOK__COUNT ||
		    term >= vi->nterms[hook])
			continue;
		j = policy_set_find(&vi->rules, vi->term_rule[hook][term]);
		return j >= 0 ? &vi->rules.rows[j] : NULL;
	}
	return NULL;
}

/* Adds one policy_decisions row of the kernel's to @p->dbatch. Under @dmu. */
static int add_decision(struct policy *p, const struct row_value *v)
{
	char small[1024];
	size_t len = row_encode(v, POLICY_DECISIONS__COUNT, small, sizeof(small));
	uint64_t seq = ++p->dseq;

	if (len > sizeof(small))
		return -1;	/* rows are bounded: a path of DBOS_LSM_PATH_MAX */
	return history_put(&p->hist, p->dbatch, seq, small, len);
}

/* Refused attempts kept (policy.h): 0 when none are. */
static size_t refused_budget(const struct policy *p)
{
	uint64_t n = p->cfg.refused_retention;

	if (!n)
		n = p->cfg.retention < POLICY_REFUSED_KEEP ? p->cfg.retention : POLICY_REFUSED_KEEP;
	return (size_t)n;
}

static void delete_decision(struct store_batch *b, uint64_t seq)
{
	unsigned char key[8];

	store_key_be64(key, seq);
	store_batch_delete(b, STORE_CF_POLICY_DECISIONS, key, sizeof(key));
}

/*
 * Remembers the stored refused row @seq (the newest); when over budget, adds
 * the delete of the oldest one to @b (of @seq itself with a budget of 0).
 * 0, or -1 on ENOMEM. Under @dmu.
 */
static int refused_keep(struct policy *p, struct store_batch *b, uint64_t seq)
{
	if (!p->refused_cap && !(p->refused_cap = refused_budget(p))) {
		delete_decision(b, seq);
		return 0;
	}
	if (!p->refused && !(p->refused = calloc(p->refused_cap, sizeof(*p->refused))))
		return -1;
	if (p->refused_len == p->refused_cap) {
		delete_decision(b, p->refused[p->refused_start]);
		p->refused_start = (p->refused_start + 1) % p->refused_cap;
		p->refused_len--;
	}
	p->refused[(p->refused_start + p->refused_len++) % p->refused_cap] = seq;
	return 0;
}

/* Forgets the refused rows below @cut (a range trim deleted them). Under @dmu. */
static void refused_forget_below(struct policy *p, uint64_t cut)
{
	while (p->refused_len && p->refused[p->refused_start] < cut) {
		p->refused_start = (p->refused_start + 1) % p->refused_cap;
		p->refused_len--;
	}
}

/* Adds one refused attempt's row to @p->dbatch, within its own budget. Under @dmu. */
static int add_refused(struct policy *p, const struct row_value *v)
{
	char small[1024];
	size_t len = row_encode(v, POLICY_DECISIONS__COUNT, small, sizeof(small));
	uint64_t seq = ++p->dseq;
	unsigned char key[8];

	if (len > sizeof(small))
		return -1;
	if (!refused_budget(p))
		return 0;	/* none kept: only counted */
	store_key_be64(key, seq);
	store_batch_put(p->dbatch, STORE_CF_POLICY_DECISIONS, key, sizeof(key), small, len);
	return refused_keep(p, p->dbatch, seq);
}

static int flush_decisions(struct policy *p, size_t n, char **err)
{
	history_trim(&p->hist, p->dbatch);
	refused_forget_below(p, p->hist.cut);
	if (store_write(p->cfg.st, p->dbatch, err)) {
		store_batch_clear(p->dbatch);
		return -1;
	}
	store_batch_clear(p->dbatch);
	atomic_fetch_add(&p->written, n);
	return 0;
}

int policy_decisions_write(struct policy *p, const struct dbos_lsm_decision *ds, size_t n,
			   char **err)
{
	int ret = 0;

	pthread_mutex_lock(&p->dmu);
	for (size_t i = 0; i < n; i++) {
		const struct dbos_lsm_decision *d = &ds[i];
		const struct policy_row *rule = decision_rule(p, d->version, d->hook, d->term);
		bool net = d->hook == DBOS_LSM_CONNECT || d->hook == DBOS_LSM_BIND;
		bool inet = net && (d->family == 2 || d->family == 10);
		uint64_t real = boot_to_real(d->time_ns);
		char addr[INET6_ADDRSTRLEN] = "", fam[8], name[17], path[DBOS_LSM_PATH_MAX + 1];
		struct row_value v[POLICY_DECISIONS__COUNT];

		if (inet) {
			static const unsigned char v4[12] = { [10] = 0xff, [11] = 0xff };

			if (!memcmp(d->address, v4, 12))
				inet_ntop(AF_INET, d->address + 12, addr, sizeof(addr));
			else
				inet_ntop(AF_INET6, d->address, addr, sizeof(addr));
		}
		memcpy(name, d->name, 16);
		name[16] = '\0';
		memcpy(path, d->path, DBOS_LSM_PATH_MAX);
		path[DBOS_LSM_PATH_MAX] = '\0';
		for (int c = 0; c < POLICY_DECISIONS__COUNT; c++)
			v[c] = row_null();
		v[POLICY_DECISIONS_TIME] = row_int((int64_t)(real / 1000000000));
		v[POLICY_DECISIONS_TIME_NS] = row_int((int64_t)real);
		v[POLICY_DECISIONS_HOOK] = text_or_null(policy_hook_name((int)d->hook));
		v[POLICY_DECISIONS_VERDICT] = text_or_null(d->verdict == DBOS_LSM_DENY ? "deny" : "audit");
		v[POLICY_DECISIONS_PID] = row_int(d->pid);
		v[POLICY_DECISIONS_UID] = row_int(d->uid);
		v[POLICY_DECISIONS_GID] = row_int(d->gid);
		v[POLICY_DECISIONS_NAME] = text_or_null(name);
		if (d->hook == DBOS_LSM_EXEC || d->hook == DBOS_LSM_OPEN || (net && d->family == 1))
			v[POLICY_DECISIONS_PATH] = text_or_null(path);
		if (d->hook == DBOS_LSM_OPEN)
			v[POLICY_DECISIONS_MODE] = text_or_null(mode_name(d->mode));
		if (net)
			v[POLICY_DECISIONS_FAMILY] = text_or_null(family_name(d->family, fam));
		if (inet) {
			v[POLICY_DECISIONS_ADDRESS] = text_or_null(addr);
			v[POLICY_DECISIONS_PORT] = row_int(d->port);
		}
		if (d->hook == DBOS_LSM_KILL) {
			v[POLICY_DECISIONS_TARGET_PID] = row_int(d->target_pid);
			v[POLICY_DECISIONS_SIGNAL] = row_int(d->signal);
		}
		if (rule) {
			v[POLICY_DECISIONS_RULE_ID] = row_int(rule->id);
			v[POLICY_DECISIONS_RULE] = text_or_null(rule->name);
		}
		v[POLICY_DECISIONS_VERSION] = row_int((int64_t)d->version);
		if (add_decision(p, v)) {
			*err = policy_errf("policy_decisions: cannot encode a row");
			ret = -1;
			break;
		}
	}
	if (!ret)
		ret = flush_decisions(p, n, err);
	pthread_mutex_unlock(&p->dmu);
	return ret;
}

void policy_refused(struct policy *p, const struct sql_session *who)
{
	struct row_value v[POLICY_DECISIONS__COUNT];
	char comm[32] = "", fn[64], *err = NULL;
	struct timespec rt;
	uint64_t now;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/comm", (int)who->pid);
	f = fopen(fn, "r");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	clock_gettime(CLOCK_REALTIME, &rt);
	now = (uint64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
	for (int c = 0; c < POLICY_DECISIONS__COUNT; c++)
		v[c] = row_null();
	v[POLICY_DECISIONS_TIME] = row_int((int64_t)(now / 1000000000));
	v[POLICY_DECISIONS_TIME_NS] = row_int((int64_t)now);
	v[POLICY_DECISIONS_HOOK] = row_text("policy", 6);
	v[POLICY_DECISIONS_VERDICT] = row_text("refused", 7);
	v[POLICY_DECISIONS_PID] = row_int(who->pid);
	v[POLICY_DECISIONS_UID] = row_int(who->uid);
	v[POLICY_DECISIONS_NAME] = comm[0] ? text_or_null(comm) : row_null();
	v[POLICY_DECISIONS_VERSION] = row_int((int64_t)policy_live_version(p));
	atomic_fetch_add(&p->refused_total, 1);
	pthread_mutex_lock(&p->dmu);
	if (add_refused(p, v) || flush_decisions(p, 1, &err))
		policy_log(p, "policy: cannot record a refused policy change by uid %d: %s",
		      (int)who->uid, err ? err : "encoding");
	pthread_mutex_unlock(&p->dmu);
	free(err);
}

int policy_decisions_load(struct policy *p, uint64_t *max_seq, char **err)
{
	struct store_iter *it = store_iter_new(p->cfg.st, STORE_CF_POLICY_DECISIONS);
	struct row_value v[POLICY_DECISIONS__COUNT];
	int ret = 0;

	if (!it) {
		*err = policy_errf("out of memory reading policy_decisions");
		return -1;
	}
	for (store_iter_seek_first(it); store_iter_valid(it) && !ret; store_iter_next(it)) {
		size_t klen, vlen;
		const char *k = store_iter_key(it, &klen);
		const char *val = store_iter_value(it, &vlen);
		uint64_t seq = store_key_get(k, klen);
		const struct row_value *verdict = &v[POLICY_DECISIONS_VERDICT];
		bool refused = !row_decode(val, vlen, v, POLICY_DECISIONS__COUNT) &&
			       verdict->type == ROW_TEXT && verdict->len == 7 &&
			       !memcmp(verdict->s, "refused", 7);

		ret = refused ? refused_keep(p, p->dbatch, seq) : history_count(&p->hist, seq);
		if (ret)
			*err = policy_errf("out of memory reading policy_decisions");
		if (seq > *max_seq)
			*max_seq = seq;
	}
	if (!ret && store_iter_error(it, err))
		ret = -1;
	store_iter_free(it);
	/* A smaller budget than the last run's: the oldest refused rows go now. */
	if (!ret && store_batch_count(p->dbatch) && store_write(p->cfg.st, p->dbatch, err))
		ret = -1;
	store_batch_clear(p->dbatch);
	return ret;
}

static void on_decision(void *arg, const struct dbos_lsm_decision *d)
{
	struct policy *p = arg;

	if (p->npending == p->cap_pending) {
		size_t cap = p->cap_pending ? p->cap_pending * 2 : 64;
		struct dbos_lsm_decision *n = realloc(p->pending, cap * sizeof(*n));

		if (!n)
			return;		/* counted nowhere: out of memory */
		p->pending = n;
		p->cap_pending = cap;
	}
	p->pending[p->npending++] = *d;
}

void *policy_poller(void *arg)
{
	struct policy *p = arg;
	const struct policy_kernel_ops *ops = p->cfg.ops;

	while (!atomic_load(&p->stop)) {
		char *err = NULL;

		if (ops->poll(ops->arg, 100, on_decision, p, &err) < 0) {
			policy_log(p, "policy: reading decisions: %s", err ? err : "?");
			free(err);
			err = NULL;
			usleep(100000);
		}
		if (p->npending && policy_decisions_write(p, p->pending, p->npending, &err)) {
			policy_log(p, "policy: %zu decisions not stored: %s", p->npending, err ? err : "?");
			free(err);
		}
		p->npending = 0;
	}
	return NULL;
}
