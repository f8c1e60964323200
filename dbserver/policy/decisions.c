// SPDX-License-Identifier: GPL-2.0
/* decisions.c - policy_decisions rows: the kernel's denials and audits (with their rule), refused policy changes. */
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

/* Adds one policy_decisions row to @p->dbatch. Under @dmu. */
static int add_decision(struct policy *p, const struct row_value *v)
{
	char small[1024];
	size_t len = row_encode(v, POLICY_DECISIONS__COUNT, small, sizeof(small));
	uint64_t seq = ++p->dseq;

	if (len > sizeof(small))
		return -1;	/* rows are bounded: a path of DBOS_LSM_PATH_MAX */
	return history_put(&p->hist, p->dbatch, seq, small, len);
}

static int flush_decisions(struct policy *p, size_t n, char **err)
{
	history_trim(&p->hist, p->dbatch);
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
	pthread_mutex_lock(&p->dmu);
	if (add_decision(p, v) || flush_decisions(p, 1, &err))
		policy_log(p, "policy: cannot record a refused policy change by uid %d: %s",
		      (int)who->uid, err ? err : "encoding");
	pthread_mutex_unlock(&p->dmu);
	free(err);
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
