// SPDX-License-Identifier: GPL-2.0
/* test_policy.c - host tests of the policy manager and its SQL: real store, SQLite and compiler; an in-test kernel. */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "kselftest_harness.h"

#include "dbserver/policy/policy.h"
#include "dbserver/sql/schema.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/row.h"
#include "dbserver/store/store.h"
#include "tests/host/history_put.h"

/*
 * The kernel side as the ops struct sees it: two slots and a live one, like
 * the BPF maps. prepare fills the idle slot (or fails on demand), flip makes
 * it live. Anything else (a flip without a prepare) is counted as a misuse.
 */
struct kernel {
	uint64_t slot[2];
	int live;
	int prepared;		/* the idle slot holds a prepared generation */
	int fail_prepare;
	int prepares, flips, misuse;
	int has_sets;		/* of the last image prepared */
	struct enforce_value *values;	/* of the last image prepared */
	size_t nvalues;
	/* dbos.ko's scheduling rules: staged and live versions, and what was staged */
	uint64_t staged, active;
	int fail_stage, fail_activate;
	int stages, activates;
	char staged_rules[256];	/* "id:nice/policy/cpus-bytes,..." of the last stage */
	char calls[1024];	/* every call in order: "prepare 1,stage 1,flip,activate 1," */
};

/* The manager's refresher thread calls the ops too: every access takes this. */
static pthread_mutex_t kmu = PTHREAD_MUTEX_INITIALIZER;

static void k_call(struct kernel *k, const char *fmt, unsigned long long v)
{
	size_t n = strlen(k->calls);

	snprintf(k->calls + n, sizeof(k->calls) - n, fmt, v);
}

static int k_prepare(void *arg, const struct policy_image *img, char **err)
{
	struct kernel *k = arg;
	int ret = 0;

	pthread_mutex_lock(&kmu);
	k_call(k, "prepare %llu,", img->gen.version);
	if (k->fail_prepare) {
		*err = strdup("map update failed: Cannot allocate memory");
		ret = -1;
	} else {
		k->slot[!k->live] = img->gen.version;
		k->prepared = 1;
		k->prepares++;
		k->has_sets = img->has_sets;
		free(k->values);
		k->values = malloc((img->gen.nvalues + 1) * sizeof(*k->values));
		if (k->values)
			memcpy(k->values, img->gen.values, img->gen.nvalues * sizeof(*k->values));
		k->nvalues = k->values ? img->gen.nvalues : 0;
	}
	pthread_mutex_unlock(&kmu);
	return ret;
}

static void k_flip(void *arg)
{
	struct kernel *k = arg;

	pthread_mutex_lock(&kmu);
	if (!k->prepared)
		k->misuse++;
	k_call(k, "flip,", 0);
	k->live = !k->live;
	k->prepared = 0;
	k->flips++;
	pthread_mutex_unlock(&kmu);
}

static int k_stage(void *arg, uint64_t version, const struct sched_term *t, size_t n,
		   char **err)
{
	struct kernel *k = arg;
	size_t len = 0;
	int ret = 0;

	pthread_mutex_lock(&kmu);
	k_call(k, "stage %llu,", version);
	if (k->fail_stage) {
		*err = strdup("rule 2: CPU set has no online CPU");
		ret = -1;
	} else {
		k->staged = version;
		k->stages++;
		k->staged_rules[0] = 0;
		for (size_t i = 0; i < n; i++)
			len += snprintf(k->staged_rules + len, sizeof(k->staged_rules) - len,
					"%s%u:%d/%d/%d", i ? "," : "", t[i].rule_id,
					t[i].v.has_nice ? t[i].v.nice : 99,
					t[i].v.has_policy ? (int)t[i].v.policy : -1,
					t[i].v.cpus_len ? t[i].v.cpus[0] : -1);
	}
	pthread_mutex_unlock(&kmu);
	return ret;
}

static int k_activate(void *arg, uint64_t version, char **err)
{
	struct kernel *k = arg;
	int ret = 0;

	pthread_mutex_lock(&kmu);
	k_call(k, "activate %llu,", version);
	if (k->fail_activate || k->staged != version) {
		*err = strdup(k->fail_activate ? "dbos: no such family" : "no such staged version");
		ret = -1;
	} else {
		k->active = version;
		k->activates++;
	}
	pthread_mutex_unlock(&kmu);
	return ret;
}

static uint64_t k_live(void *arg)
{
	struct kernel *k = arg;
	uint64_t v;

	pthread_mutex_lock(&kmu);
	v = k->slot[k->live];
	pthread_mutex_unlock(&kmu);
	return v;
}

static int k_prepares(struct kernel *k)
{
	int n;

	pthread_mutex_lock(&kmu);
	n = k->prepares;
	pthread_mutex_unlock(&kmu);
	return n;
}

FIXTURE(pol) {
	char dir[64];
	struct store *st;
	struct sql_env env;
	struct kernel k;
	struct policy_kernel_ops ops;
	struct policy *p;
	sqlite3 *db;		/* a root client */
	uint64_t changes;
};

static int open_manager(FIXTURE_DATA(pol) *self, char **err)
{
	struct policy_config cfg = {
		.st = self->st, .env = &self->env, .ops = &self->ops, .retention = 1000,
	};

	if (policy_open(&cfg, &self->p, err))
		return -1;
	self->env.extend = policy_sql_register;
	self->env.extend_arg = self->p;
	return 0;
}

static sqlite3 *client(struct __test_metadata *_metadata, FIXTURE_DATA(pol) *self, uid_t uid)
{
	struct sql_session who = { .uid = uid, .pid = getpid() };
	sqlite3 *db = NULL;
	char *err = NULL;

	EXPECT_EQ(0, sql_open_session(&self->env, &who, &db, &err)) TH_LOG("%s", err);
	free(err);
	return db;
}

static int stats_cb(void *arg, struct sql_stat *out, int max)
{
	struct policy **p = arg;

	return policy_stats(*p, out, max);
}

FIXTURE_SETUP(pol)
{
	char *err = NULL;

	strcpy(self->dir, "/tmp/dbos-test-policy.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, store_open(self->dir, &self->st, &err)) TH_LOG("%s", err);
	self->env.st = self->st;
	self->env.stats = stats_cb;
	self->env.stats_arg = &self->p;
	self->ops = (struct policy_kernel_ops){ .prepare = k_prepare, .flip = k_flip,
						.live_version = k_live, .sched_stage = k_stage,
						.sched_activate = k_activate, .arg = &self->k };
	ASSERT_EQ(0, open_manager(self, &err)) TH_LOG("%s", err);
	self->db = client(_metadata, self, 0);
	ASSERT_NE(NULL, self->db);
}

FIXTURE_TEARDOWN(pol)
{
	char cmd[128];

	sqlite3_close(self->db);
	policy_close(self->p);
	store_close(self->st);
	free(self->k.values);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
	if (system(cmd))
		TH_LOG("could not remove %s", self->dir);
}

/* Runs @sql; returns SQLite's result code, the message in @msg. */
static int exec_sql(sqlite3 *db, const char *sql, char *msg, size_t size)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (msg)
		snprintf(msg, size, "%s", err ? err : "");
	sqlite3_free(err);
	return rc;
}

/* One integer from @sql (-999 when no row, -998 on error). */
static int64_t qint(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -999;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -998;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* One text from @sql into @buf ("" when no row or NULL). */
static const char *qtext(sqlite3 *db, const char *sql, char *buf, size_t size)
{
	sqlite3_stmt *st = NULL;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(buf, size, "ERROR %s", sqlite3_errmsg(db));
		return buf;
	}
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(buf, size, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return buf;
}

#define OK(db, sql) do { \
	char m_[512]; \
	ASSERT_EQ(SQLITE_OK, exec_sql(db, sql, m_, sizeof(m_))) TH_LOG("%s: %s", sql, m_); \
} while (0)

TEST_F(pol, commit_creates_version_1_with_its_rules)
{
	char buf[256];

	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policy_versions"));
	OK(self->db, "INSERT INTO policies(name, hook, action, condition) VALUES "
		     "('no-tmp-exec', 'exec', 'deny', 'path GLOB ''/tmp/*'' AND uid <> 0')");
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(1, qint(self->db, "SELECT version FROM policy_versions WHERE live = 1"));
	EXPECT_EQ(0, qint(self->db, "SELECT from_version FROM policy_versions WHERE version = 1"));
	EXPECT_EQ(1, qint(self->db, "SELECT rules FROM policy_versions WHERE version = 1"));
	EXPECT_EQ(0, qint(self->db, "SELECT uid FROM policy_versions WHERE version = 1"));
	EXPECT_EQ(getpid(), qint(self->db, "SELECT pid FROM policy_versions WHERE version = 1"));
	EXPECT_STREQ("commit", qtext(self->db, "SELECT action FROM policy_versions", buf, sizeof(buf)));
	EXPECT_STREQ("no-tmp-exec", qtext(self->db, "SELECT name FROM policy_rules "
				  "WHERE version = 1 AND id = 1", buf, sizeof(buf)));
	EXPECT_STREQ("path GLOB '/tmp/*' AND uid <> 0", qtext(self->db,
		     "SELECT condition FROM policy_rules WHERE version = 1", buf, sizeof(buf)));
	EXPECT_EQ(1, qint(self->db, "SELECT version FROM policies WHERE name = 'no-tmp-exec'"));
	EXPECT_EQ(1, qint(self->db, "SELECT id FROM policies WHERE name = 'no-tmp-exec'"));
	/* The kernel: one prepare, one flip, version 1 live. */
	EXPECT_EQ(1, self->k.prepares);
	EXPECT_EQ(1, self->k.flips);
	EXPECT_EQ(0, self->k.misuse);
	EXPECT_EQ(1, k_live(&self->k));
	EXPECT_EQ(1, policy_live_version(self->p));
	/* A second commit: version 2, the unchanged rule keeps version 1. */
	OK(self->db, "INSERT INTO policies(name, hook, action, condition) VALUES "
		     "('no-4444', 'connect', 'deny', 'remote_port = 4444')");
	EXPECT_EQ(2, k_live(&self->k));
	EXPECT_EQ(1, qint(self->db, "SELECT version FROM policies WHERE name = 'no-tmp-exec'"));
	EXPECT_EQ(2, qint(self->db, "SELECT version FROM policies WHERE name = 'no-4444'"));
	EXPECT_EQ(2, qint(self->db, "SELECT id FROM policies WHERE name = 'no-4444'"));
	EXPECT_EQ(0, qint(self->db, "SELECT live FROM policy_versions WHERE version = 1"));
	EXPECT_EQ(1, qint(self->db, "SELECT live FROM policy_versions WHERE version = 2"));
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_rules WHERE version = 1"));
	EXPECT_EQ(2, qint(self->db, "SELECT count(*) FROM policy_rules WHERE version = 2"));
	EXPECT_EQ(2, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_version'"));
}

TEST_F(pol, multi_statement_transaction_is_one_version)
{
	char buf[256];

	OK(self->db, "BEGIN; "
		     "INSERT INTO policies(name, hook, action, condition) VALUES ('a', 'exec', 'deny', 'uid = 5'); "
		     "INSERT INTO policies(name, hook, action, condition) VALUES ('b', 'open', 'audit', 'path = ''/etc/shadow'''); "
		     "INSERT INTO policies(name, hook, action) VALUES ('c', 'kill', 'deny'); "
		     "DELETE FROM policies WHERE name = 'a'; "
		     "UPDATE policies SET action = 'deny' WHERE name = 'b'; "
		     "COMMIT;");
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(1, self->k.prepares);
	EXPECT_EQ(1, self->k.flips);
	EXPECT_EQ(2, qint(self->db, "SELECT count(*) FROM policies"));
	EXPECT_STREQ("deny", qtext(self->db, "SELECT action FROM policy_rules WHERE version = 1 AND name = 'b'",
				   buf, sizeof(buf)));
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policy_rules WHERE name = 'a'"));
	/* A transaction that changes nothing commits nothing. */
	OK(self->db, "BEGIN; DELETE FROM policies WHERE name = 'nope'; COMMIT;");
	OK(self->db, "BEGIN; INSERT INTO policies(name, hook, action) VALUES ('t', 'exec', 'audit'); ROLLBACK;");
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(1, self->k.prepares);
	EXPECT_EQ(2, qint(self->db, "SELECT count(*) FROM policies"));
}

TEST_F(pol, reads_inside_a_transaction_see_its_changes)
{
	sqlite3 *other = client(_metadata, self, 0);

	ASSERT_NE(NULL, other);
	OK(self->db, "BEGIN; INSERT INTO policies(name, hook, action) VALUES ('x', 'exec', 'audit')");
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policies WHERE name = 'x'"));
	EXPECT_EQ(-1, qint(self->db, "SELECT version FROM policies WHERE name = 'x'"));	/* NULL */
	EXPECT_EQ(0, qint(other, "SELECT count(*) FROM policies"));
	EXPECT_EQ(0, self->k.prepares);
	OK(self->db, "COMMIT");
	EXPECT_EQ(1, qint(other, "SELECT count(*) FROM policies WHERE name = 'x'"));
	sqlite3_close(other);
}

TEST_F(pol, conflicting_transactions)
{
	sqlite3 *other = client(_metadata, self, 0);
	char msg[512];

	ASSERT_NE(NULL, other);
	OK(self->db, "BEGIN; INSERT INTO policies(name, hook, action) VALUES ('x', 'exec', 'audit')");
	OK(other, "INSERT INTO policies(name, hook, action) VALUES ('y', 'exec', 'deny')");
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "COMMIT", msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "policy changed concurrently (version 1 is live); retry")) TH_LOG("%s", msg);
	/* COMMIT failed: the transaction is still open; roll it back. */
	exec_sql(self->db, "ROLLBACK", NULL, 0);
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policies WHERE name = 'x'"));
	EXPECT_EQ(1, k_live(&self->k));
	sqlite3_close(other);
}

TEST_F(pol, bad_rules_are_refused_and_nothing_is_stored)
{
	static const char *const bad[] = {
		"INSERT INTO policies(name, hook, action, condition) VALUES ('p', 'connect', 'deny', 'remote_port > 1024')",
		"INSERT INTO policies(name, hook, action, condition) VALUES ('p', 'exec', 'deny', 'path LIKE ''/tmp/%''')",
		"INSERT INTO policies(name, hook, action, condition) VALUES ('p', 'exec', 'deny', 'nosuchcol = 1')",
		"INSERT INTO policies(name, hook, action) VALUES ('p', 'ptrace', 'deny')",
		"INSERT INTO policies(name, hook, action) VALUES ('p', 'exec', 'forbid')",
		"INSERT INTO policies(id, name, hook, action) VALUES (0, 'p', 'exec', 'deny')",
		"INSERT INTO policies(name, hook, action, version) VALUES ('p', 'exec', 'deny', 7)",
	};
	char msg[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_NE(SQLITE_OK, exec_sql(self->db, bad[i], msg, sizeof(msg))) TH_LOG("%s", bad[i]);
		EXPECT_NE(0, strlen(msg));
		TH_LOG("%s -> %s", bad[i], msg);
	}
	OK(self->db, "INSERT INTO policies(name, hook, action) VALUES ('p', 'exec', 'audit')");
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "INSERT INTO policies(name, hook, action) "
				      "VALUES ('p', 'open', 'deny')", msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "UNIQUE constraint failed: policies.name")) TH_LOG("%s", msg);
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(1, self->k.prepares);
}

TEST_F(pol, a_failed_statement_leaves_nothing_in_the_transaction)
{
	char msg[512], buf[128];

	OK(self->db, "BEGIN; INSERT INTO policies(name, hook, action) VALUES ('a', 'exec', 'audit'), "
		     "('x', 'open', 'audit')");
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "INSERT INTO policies(name, hook, action) VALUES "
				      "('b', 'exec', 'audit'), ('c', 'exec', 'nope')", msg, sizeof(msg)));
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "UPDATE policies SET name = 'same'", msg, sizeof(msg)));
	EXPECT_STREQ("a,x", qtext(self->db, "SELECT group_concat(name) FROM policies", buf, sizeof(buf)));
	OK(self->db, "DELETE FROM policies WHERE name = 'x'");
	OK(self->db, "SAVEPOINT s1; INSERT INTO policies(name, hook, action) VALUES ('d', 'exec', 'deny'); "
		     "ROLLBACK TO s1; RELEASE s1");
	OK(self->db, "COMMIT");
	EXPECT_STREQ("a", qtext(self->db, "SELECT group_concat(name) FROM policies", buf, sizeof(buf)));
	EXPECT_STREQ("a", qtext(self->db, "SELECT group_concat(name) FROM policy_rules WHERE version = 1",
				buf, sizeof(buf)));
}

TEST_F(pol, compile_failure_at_commit_changes_nothing)
{
	char msg[512];

	OK(self->db, "INSERT INTO policies(name, hook, action) VALUES ('a', 'exec', 'audit')");
	/* Every rule is fine alone; 1025 terms on one hook are more than the kernel's 1024. */
	OK(self->db, "BEGIN; INSERT INTO policies(name, hook, action, condition) "
		     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1025) "
		     "SELECT 'r' || i, 'exec', 'deny', 'uid = ' || i FROM n");
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "COMMIT", msg, sizeof(msg)));
	TH_LOG("%s", msg);
	EXPECT_NE(0, strlen(msg));
	exec_sql(self->db, "ROLLBACK", NULL, 0);
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_rules"));
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policies"));
	EXPECT_EQ(1, self->k.prepares);
	EXPECT_EQ(1, k_live(&self->k));
}

TEST_F(pol, prepare_failure_changes_nothing)
{
	char msg[512];

	OK(self->db, "INSERT INTO policies(name, hook, action) VALUES ('a', 'exec', 'audit')");
	self->k.fail_prepare = 1;
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "INSERT INTO policies(name, hook, action) "
				      "VALUES ('b', 'exec', 'deny')", msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "Cannot allocate memory")) TH_LOG("%s", msg);
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policy_rules WHERE version = 2"));
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policies"));
	EXPECT_EQ(1, k_live(&self->k));
	EXPECT_EQ(1, self->k.flips);
	EXPECT_EQ(1, policy_live_version(self->p));
	self->k.fail_prepare = 0;
	OK(self->db, "INSERT INTO policies(name, hook, action) VALUES ('b', 'exec', 'deny')");
	EXPECT_EQ(2, k_live(&self->k));
}

TEST_F(pol, store_failure_is_not_flipped)
{
	char msg[512];

	OK(self->db, "INSERT INTO policies(name, hook, action) VALUES ('a', 'exec', 'audit')");
	store_fail_writes(self->st, "IO error: No space left on device");
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "INSERT INTO policies(name, hook, action) "
				      "VALUES ('b', 'exec', 'deny')", msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "No space left on device")) TH_LOG("%s", msg);
	EXPECT_EQ(2, self->k.prepares);		/* prepared into the idle slot ... */
	EXPECT_EQ(1, self->k.flips);		/* ... never made live */
	EXPECT_EQ(1, k_live(&self->k));
	store_fail_writes(self->st, NULL);
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policies"));
	OK(self->db, "INSERT INTO policies(name, hook, action) VALUES ('b', 'exec', 'deny')");
	EXPECT_EQ(2, k_live(&self->k));
	EXPECT_EQ(2, qint(self->db, "SELECT max(version) FROM policy_versions"));
	EXPECT_EQ(0, self->k.misuse);
}

TEST_F(pol, rollback_is_a_new_version)
{
	char buf[256];

	OK(self->db, "INSERT INTO policies(name, hook, action, condition) VALUES ('a', 'exec', 'deny', 'uid = 7')");
	OK(self->db, "BEGIN; DELETE FROM policies; "
		     "INSERT INTO policies(name, hook, action) VALUES ('b', 'open', 'audit'); COMMIT");
	EXPECT_EQ(2, k_live(&self->k));
	EXPECT_EQ(3, qint(self->db, "SELECT policy_rollback(1)"));
	EXPECT_EQ(3, k_live(&self->k));
	EXPECT_STREQ("a", qtext(self->db, "SELECT group_concat(name) FROM policies", buf, sizeof(buf)));
	EXPECT_STREQ("uid = 7", qtext(self->db, "SELECT condition FROM policies", buf, sizeof(buf)));
	EXPECT_STREQ("rollback", qtext(self->db, "SELECT action FROM policy_versions WHERE version = 3",
				       buf, sizeof(buf)));
	EXPECT_EQ(1, qint(self->db, "SELECT from_version FROM policy_versions WHERE version = 3"));
	/* Versions are immutable: 1 and 2 still hold their rules. */
	EXPECT_STREQ("b", qtext(self->db, "SELECT name FROM policy_rules WHERE version = 2", buf, sizeof(buf)));
	EXPECT_EQ(4, qint(self->db, "SELECT policy_rollback(0)"));
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policies"));
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "SELECT policy_rollback(9)", buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "no version 9")) TH_LOG("%s", buf);
	EXPECT_EQ(4, qint(self->db, "SELECT count(*) FROM policy_versions"));
}

/* The fleet's rules for this host, as the fleet agent hands them over. */
static void fleet_set(struct policy_set *s, const char *const *rows, size_t n)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < n; i += 4)
		policy_set_add(s, (int64_t)i, rows[i], rows[i + 1], rows[i + 2], rows[i + 3], 0);
}

TEST_F(pol, fleet_rules_replace_the_fleets_and_keep_the_hosts_own)
{
	static const char *const v1[] = { "no-nc", "exec", "deny", "path = '/usr/bin/nc'",
					   "audit-kill", "kill", "audit", NULL };
	static const char *const v2[] = { "no-nc", "exec", "deny", "path = '/usr/bin/nc'" };
	static const char *const bad[] = { "oops", "exec", "deny", "no_such_column = 1" };
	struct policy_set s;
	uint64_t v = 0;
	char buf[256], *err = NULL;

	OK(self->db, "INSERT INTO policies(name, hook, action, condition) VALUES ('mine', 'open', 'audit', 'uid = 7')");
	fleet_set(&s, v1, 8);
	ASSERT_EQ(0, policy_fleet_apply(self->p, &s, 5, &v, &err)) TH_LOG("%s", err);
	policy_set_free(&s);
	EXPECT_EQ(2, v);
	EXPECT_EQ(2, k_live(&self->k));
	EXPECT_STREQ("fleet:audit-kill,fleet:no-nc,mine", qtext(self->db, "SELECT group_concat(name) "
		     "FROM (SELECT name FROM policies ORDER BY name)", buf, sizeof(buf)));
	EXPECT_STREQ("fleet", qtext(self->db, "SELECT action FROM policy_versions WHERE version = 2",
				    buf, sizeof(buf)));
	EXPECT_EQ(5, qint(self->db, "SELECT from_version FROM policy_versions WHERE version = 2"));
	EXPECT_EQ(0, qint(self->db, "SELECT uid FROM policy_versions WHERE version = 2"));
	/* the same rules again: nothing new (the agent applies every heartbeat) */
	fleet_set(&s, v1, 8);
	ASSERT_EQ(0, policy_fleet_apply(self->p, &s, 6, &v, &err)) TH_LOG("%s", err);
	policy_set_free(&s);
	EXPECT_EQ(2, v);
	EXPECT_EQ(2, qint(self->db, "SELECT count(*) FROM policy_versions"));
	/* one fleet rule fewer: it goes, the host's own stays, ids stay */
	int64_t id = qint(self->db, "SELECT id FROM policies WHERE name = 'fleet:no-nc'");
	fleet_set(&s, v2, 4);
	ASSERT_EQ(0, policy_fleet_apply(self->p, &s, 7, &v, &err)) TH_LOG("%s", err);
	policy_set_free(&s);
	EXPECT_EQ(3, v);
	EXPECT_STREQ("fleet:no-nc,mine", qtext(self->db, "SELECT group_concat(name) FROM (SELECT name "
		     "FROM policies ORDER BY name)", buf, sizeof(buf)));
	EXPECT_EQ(id, qint(self->db, "SELECT id FROM policies WHERE name = 'fleet:no-nc'"));
	/* a rule that does not compile here: refused, nothing changes */
	fleet_set(&s, bad, 4);
	EXPECT_EQ(-1, policy_fleet_apply(self->p, &s, 8, &v, &err));
	policy_set_free(&s);
	EXPECT_NE(NULL, err ? strstr(err, "no_such_column") : NULL) TH_LOG("%s", err);
	free(err);
	err = NULL;
	EXPECT_EQ(3, k_live(&self->k));
	EXPECT_EQ(3, qint(self->db, "SELECT count(*) FROM policy_versions"));
	/* local root cannot change the fleet's rules, nor make one */
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "DELETE FROM policies WHERE name = 'fleet:no-nc'",
				      buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "is the fleet's")) TH_LOG("%s", buf);
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "UPDATE policies SET action = 'audit' WHERE "
				      "name = 'fleet:no-nc'", buf, sizeof(buf)));
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "UPDATE policies SET name = 'fleet:x' WHERE "
				      "name = 'mine'", buf, sizeof(buf)));
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "INSERT INTO sched_rules(name, nice) VALUES "
				      "('fleet:y', 5)", buf, sizeof(buf)));
	EXPECT_EQ(3, qint(self->db, "SELECT count(*) FROM policy_versions"));
	/* a local rollback may bring older fleet rules back; the next apply puts the fleet's */
	EXPECT_EQ(4, qint(self->db, "SELECT policy_rollback(2)"));
	fleet_set(&s, v2, 4);
	ASSERT_EQ(0, policy_fleet_apply(self->p, &s, 7, &v, &err)) TH_LOG("%s", err);
	policy_set_free(&s);
	EXPECT_EQ(5, v);
	EXPECT_STREQ("fleet:no-nc,mine", qtext(self->db, "SELECT group_concat(name) FROM (SELECT name "
		     "FROM policies ORDER BY name)", buf, sizeof(buf)));
	/* the host's own rules change as before */
	OK(self->db, "DELETE FROM policies WHERE name = 'mine'");
	EXPECT_EQ(6, k_live(&self->k));
}

TEST_F(pol, non_root_is_refused_and_recorded)
{
	sqlite3 *user = client(_metadata, self, 1000);
	char msg[512], buf[64];

	ASSERT_NE(NULL, user);
	EXPECT_NE(SQLITE_OK, exec_sql(user, "INSERT INTO policies(name, hook, action) "
				      "VALUES ('x', 'exec', 'deny')", msg, sizeof(msg)));
	EXPECT_STREQ("permission denied: only root may change policy", msg);
	EXPECT_NE(SQLITE_OK, exec_sql(user, "DELETE FROM policies WHERE id = -1", msg, sizeof(msg)));
	EXPECT_STREQ("permission denied: only root may change policy", msg);
	EXPECT_NE(SQLITE_OK, exec_sql(user, "SELECT policy_rollback(0)", msg, sizeof(msg)));
	EXPECT_STREQ("permission denied: only root may change policy", msg);
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(0, self->k.prepares);
	EXPECT_EQ(3, qint(self->db, "SELECT count(*) FROM policy_decisions "
				    "WHERE hook = 'policy' AND verdict = 'refused' AND uid = 1000"));
	EXPECT_EQ(getpid(), qint(self->db, "SELECT pid FROM policy_decisions LIMIT 1"));
	/* Reading is allowed. */
	EXPECT_EQ(0, qint(user, "SELECT count(*) FROM policies"));
	EXPECT_STREQ("refused", qtext(user, "SELECT verdict FROM policy_decisions", buf, sizeof(buf)));
	sqlite3_close(user);
}

/* The policy's own history is read-only for what it is, not as a mirror of the kernel. */
TEST_F(pol, history_tables_say_why_they_are_read_only)
{
	static const char *const writes[][2] = {
		{ "DELETE FROM policy_versions",
		  "table policy_versions is read-only: dbosd writes it at each policy change "
		  "(change policies or sched_rules)" },
		{ "UPDATE policy_rule_revisions SET name = 'x'",
		  "table policy_rule_revisions is read-only: dbosd writes it at each policy change "
		  "(change policies or sched_rules)" },
		{ "INSERT INTO policy_decisions(seq) VALUES (1)",
		  "table policy_decisions is read-only: it is the audit trail of the kernel's "
		  "decisions and of refused policy changes" },
	};
	char msg[512];

	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		EXPECT_NE(SQLITE_OK, exec_sql(self->db, writes[i][0], msg, sizeof(msg)));
		EXPECT_STREQ(writes[i][1], msg);
	}
}

TEST_F(pol, no_enforcer_refuses_commits_with_the_reason)
{
	struct policy_config cfg = { .st = self->st, .env = &self->env, .ops = NULL,
				     .no_kernel_reason = "BPF LSM is not active: boot with lsm=...,bpf" };
	struct policy *p2;
	char *err = NULL, msg[512];

	sqlite3_close(self->db);
	policy_close(self->p);
	ASSERT_EQ(0, policy_open(&cfg, &p2, &err)) TH_LOG("%s", err);
	self->p = p2;
	self->env.extend_arg = p2;
	self->db = client(_metadata, self, 0);
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "INSERT INTO policies(name, hook, action) "
				      "VALUES ('x', 'exec', 'deny')", msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "BPF LSM is not active")) TH_LOG("%s", msg);
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policy_versions"));
}

TEST_F(pol, restart_keeps_versions_and_repushes)
{
	char *err = NULL, buf[64];

	OK(self->db, "INSERT INTO policies(name, hook, action) VALUES ('a', 'exec', 'audit')");
	OK(self->db, "INSERT INTO policies(name, hook, action, condition) VALUES ('b', 'bind', 'deny', 'local_port = 81')");
	sqlite3_close(self->db);
	policy_close(self->p);
	store_close(self->st);

	/* A fresh boot: the kernel has nothing. */
	memset(&self->k, 0, sizeof(self->k));
	ASSERT_EQ(0, store_open(self->dir, &self->st, &err)) TH_LOG("%s", err);
	self->env.st = self->st;
	ASSERT_EQ(0, open_manager(self, &err)) TH_LOG("%s", err);
	self->db = client(_metadata, self, 0);
	EXPECT_EQ(2, k_live(&self->k));
	EXPECT_EQ(1, self->k.prepares);
	EXPECT_EQ(2, policy_live_version(self->p));
	EXPECT_EQ(2, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_STREQ("a,b", qtext(self->db, "SELECT group_concat(name) FROM (SELECT name FROM policies ORDER BY id)",
				  buf, sizeof(buf)));

	/* dbosd restarted while the pinned programs kept version 2: nothing is pushed. */
	sqlite3_close(self->db);
	policy_close(self->p);
	self->k.prepares = 0;
	ASSERT_EQ(0, open_manager(self, &err)) TH_LOG("%s", err);
	self->db = client(_metadata, self, 0);
	EXPECT_EQ(0, self->k.prepares);
	OK(self->db, "DELETE FROM policies WHERE name = 'a'");
	EXPECT_EQ(3, k_live(&self->k));
}

/* ---------------------------------------------------------------------- */
/* Versions stored as revisions (each content of a rule once)             */

/* Bytes of keys and values in @cf, as RocksDB holds them before compression. */
static uint64_t cf_bytes(struct store *st, enum store_cf cf)
{
	struct store_iter *it = store_iter_new(st, cf);
	uint64_t n = 0;
	size_t klen, vlen;

	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		store_iter_key(it, &klen);
		store_iter_value(it, &vlen);
		n += klen + vlen;
	}
	store_iter_free(it);
	return n;
}

/* Bytes of the files in directory @dir (the store: no subdirectories). */
static uint64_t dir_bytes(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *e;
	struct stat sb;
	uint64_t n = 0;
	DIR *d = opendir(dir);

	while (d && (e = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (!stat(path, &sb) && S_ISREG(sb.st_mode))
			n += (uint64_t)sb.st_size;
	}
	if (d)
		closedir(d);
	return n;
}

#define BIG_RULES	3000
#define BIG_COMMITS	100

/*
 * Rule i of the big policy as version 1 has it: a third each of exec, open
 * and connect rules (a hook takes at most DBOS_LSM_MAX_TERMS). Commit c
 * (version c + 1) changes rule c's condition.
 */
#define BIG_RULE_SQL \
	"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) " \
	"INSERT INTO policies(id, name, hook, action, condition) SELECT i, 'r' || i, " \
	"CASE i % 3 WHEN 0 THEN 'exec' WHEN 1 THEN 'open' ELSE 'connect' END, 'deny', " \
	"CASE i % 3 WHEN 2 THEN 'remote_port = ' || i ELSE 'path = ''/nonexistent/r' || i || '''' END " \
	"FROM n"
/* The condition rule id has in version v (SQL over column id; @v a number). */
#define BIG_COND(v) \
	"CASE WHEN id < " v " THEN 'uid = ' || (id + 100000) " \
	"WHEN id - id / 3 * 3 = 2 THEN 'remote_port = ' || id ELSE 'path = ''/nonexistent/r' || id || '''' END"

TEST_F(pol, one_rule_changed_per_commit_stores_the_change_not_a_copy)
{
	char sql[1024], *err = NULL;
	uint64_t first, after, disk;

	OK(self->db, BIG_RULE_SQL);
	ASSERT_EQ(1, policy_live_version(self->p));
	first = cf_bytes(self->st, STORE_CF_POLICY_RULES);
	for (int c = 1; c <= BIG_COMMITS; c++) {
		snprintf(sql, sizeof(sql), "UPDATE policies SET condition = 'uid = %d' WHERE id = %d",
			 c + 100000, c);
		OK(self->db, sql);
	}
	ASSERT_EQ(1 + BIG_COMMITS, policy_live_version(self->p));
	after = cf_bytes(self->st, STORE_CF_POLICY_RULES);
	disk = dir_bytes(self->dir);
	TH_LOG("policy_rules: %llu bytes after version 1, %llu after %d more commits; "
	       "store directory %llu bytes", (unsigned long long)first,
	       (unsigned long long)after, BIG_COMMITS, (unsigned long long)disk);
	/*
	 * 100 changed rules of 3,000 add 100 revisions and close 100: about 7%.
	 * Full copies would be 101 times version 1's bytes.
	 */
	EXPECT_LT(after, first + first / 10);
	EXPECT_LT(after, 1 << 20);
	/* The WAL and tables hold what was written: far below one copy per version. */
	EXPECT_LT(disk, 20 * first);

	/* Every version reads back exactly: rules 1..v-1 changed, each in version id + 1. */
	for (int v = 1; v <= 1 + BIG_COMMITS; v++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM policy_rules WHERE version = %d", v);
		EXPECT_EQ(BIG_RULES, qint(self->db, sql)) TH_LOG("version %d", v);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM policy_rules WHERE version = %d "
			 "AND condition = (" BIG_COND("%d") ") AND name = 'r' || id "
			 "AND changed = CASE WHEN id < %d THEN id + 1 ELSE 1 END", v, v, v);
		EXPECT_EQ(BIG_RULES, qint(self->db, sql)) TH_LOG("version %d", v);
	}

	/* Rollback to version 1: its 3,000 rules, live and stored, as they were. */
	EXPECT_EQ(2 + BIG_COMMITS, qint(self->db, "SELECT policy_rollback(1)"));
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM (SELECT id, name, hook, action, condition "
		 "FROM policy_rules WHERE version = 1 INTERSECT SELECT id, name, hook, action, "
		 "condition FROM policy_rules WHERE version = %d)", 2 + BIG_COMMITS);
	EXPECT_EQ(BIG_RULES, qint(self->db, sql));
	EXPECT_EQ(BIG_RULES, qint(self->db, "SELECT count(*) FROM policies p JOIN policy_rules r "
				  "USING (id, name, hook, action, condition) WHERE r.version = 1"));
	EXPECT_EQ(BIG_RULES, qint(self->db, "SELECT count(*) FROM policies"));
	EXPECT_LT(cf_bytes(self->st, STORE_CF_POLICY_RULES), first + first / 5);

	/* A restart reads the live rules back from the revisions. */
	sqlite3_close(self->db);
	policy_close(self->p);
	ASSERT_EQ(0, open_manager(self, &err)) TH_LOG("%s", err);
	self->db = client(_metadata, self, 0);
	EXPECT_EQ(BIG_RULES, qint(self->db, "SELECT count(*) FROM policies WHERE condition = ("
				  BIG_COND("1") ")"));
	EXPECT_EQ(2 + BIG_COMMITS, qint(self->db, "SELECT max(version) FROM policies"));
}

/* Writes rule @id of version @v as the layout before revisions stored it: key (version, id). */
static void put_old_rule(struct store_batch *b, int64_t v, int64_t id, const char *name,
			 const char *hook, const char *cond, int64_t changed)
{
	struct row_value vals[11] = {
		row_int(v), row_int(id), row_text(name, strlen(name)), row_text(hook, strlen(hook)),
		row_text("deny", 4), cond ? row_text(cond, strlen(cond)) : row_null(),
		row_int(changed), row_null(), row_null(), row_null(), row_null(),
	};
	unsigned char k[8];
	char buf[512];
	size_t len = row_encode(vals, 11, buf, sizeof(buf));

	store_key_be32(k, (uint32_t)v);
	store_key_be32(k + 4, (uint32_t)id);
	store_batch_put(b, STORE_CF_POLICY_RULES, k, 8, buf, len);
}

/* A store from before revisions (a full copy per version) is rewritten at open, each version intact. */
TEST_F(pol, old_full_copies_are_migrated_to_revisions_at_open)
{
	static const unsigned char lo[8] = { 0 }, hi[9] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const char *all = "SELECT group_concat(version || ':' || id || ':' || name || ':' || "
			  "ifnull(condition, '-') || ':' || changed, ' ') FROM "
			  "(SELECT * FROM policy_rules ORDER BY version, id)";
	char before[1024], buf[1024], *err = NULL;
	struct store_batch *b;

	/* v1: a, b; v2: b changed, c added; v3: a deleted; v4: a back as it was in v1. */
	OK(self->db, "INSERT INTO policies(id, name, hook, action, condition) VALUES "
		     "(1, 'a', 'exec', 'deny', 'uid = 1'), (2, 'b', 'open', 'deny', 'uid = 2')");
	OK(self->db, "BEGIN; UPDATE policies SET condition = 'uid = 22' WHERE id = 2; "
		     "INSERT INTO policies(id, name, hook, action) VALUES (3, 'c', 'exec', 'deny'); COMMIT");
	OK(self->db, "DELETE FROM policies WHERE id = 1");
	OK(self->db, "INSERT INTO policies(id, name, hook, action, condition) VALUES "
		     "(1, 'a', 'exec', 'deny', 'uid = 1')");
	qtext(self->db, all, before, sizeof(before));
	EXPECT_STREQ("1:1:a:uid = 1:1 1:2:b:uid = 2:1 2:1:a:uid = 1:1 2:2:b:uid = 22:2 "
		     "2:3:c:-:2 3:2:b:uid = 22:2 3:3:c:-:2 4:1:a:uid = 1:4 4:2:b:uid = 22:2 "
		     "4:3:c:-:2", before);
	EXPECT_EQ(5, qint(self->db, "SELECT count(*) FROM policy_rule_revisions"));
	sqlite3_close(self->db);
	policy_close(self->p);

	/* The same versions in the old layout, without the layout mark. */
	b = store_batch_new();
	ASSERT_NE(NULL, b);
	store_batch_delete_range(b, STORE_CF_POLICY_RULES, lo, sizeof(lo), hi, sizeof(hi));
	store_batch_delete(b, STORE_CF_META, "policy_rules_layout", strlen("policy_rules_layout"));
	put_old_rule(b, 1, 1, "a", "exec", "uid = 1", 1);
	put_old_rule(b, 1, 2, "b", "open", "uid = 2", 1);
	put_old_rule(b, 2, 1, "a", "exec", "uid = 1", 1);
	put_old_rule(b, 2, 2, "b", "open", "uid = 22", 2);
	put_old_rule(b, 2, 3, "c", "exec", NULL, 2);
	put_old_rule(b, 3, 2, "b", "open", "uid = 22", 2);
	put_old_rule(b, 3, 3, "c", "exec", NULL, 2);
	put_old_rule(b, 4, 1, "a", "exec", "uid = 1", 4);
	put_old_rule(b, 4, 2, "b", "open", "uid = 22", 2);
	put_old_rule(b, 4, 3, "c", "exec", NULL, 2);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);

	ASSERT_EQ(0, open_manager(self, &err)) TH_LOG("%s", err);
	self->db = client(_metadata, self, 0);
	EXPECT_STREQ(before, qtext(self->db, all, buf, sizeof(buf)));
	EXPECT_EQ(5, qint(self->db, "SELECT count(*) FROM policy_rule_revisions"));
	EXPECT_EQ(2, qint(self->db, "SELECT until_version FROM policy_rule_revisions "
				    "WHERE id = 2 AND from_version = 1"));
	/* and it goes on from there */
	OK(self->db, "DELETE FROM policies WHERE id = 3");
	EXPECT_STREQ("a,b", qtext(self->db, "SELECT group_concat(name) FROM (SELECT name FROM "
				  "policy_rules WHERE version = 5 ORDER BY id)", buf, sizeof(buf)));
	EXPECT_EQ(6, qint(self->db, "SELECT policy_rollback(2)"));
	EXPECT_STREQ("uid = 1,uid = 22,", qtext(self->db, "SELECT group_concat(ifnull(condition, ''))"
				  " FROM (SELECT condition FROM policies ORDER BY id)", buf, sizeof(buf)));
}

/*
 * After a reboot the stored version cannot be pushed (here: the kernel
 * refuses its maps): dbosd says loudly that it is NOT enforced, and
 * policy_versions.live and dbos_stats report what the kernel enforces (none),
 * until a commit succeeds.
 */
TEST_F(pol, a_version_that_cannot_be_pushed_at_start_is_not_reported_live)
{
	char *err = NULL;

	OK(self->db, "INSERT INTO policies(name, hook, action, condition) VALUES ('b', 'bind', 'deny', 'local_port = 81')");
	EXPECT_EQ(1, qint(self->db, "SELECT version FROM policy_versions WHERE live = 1"));
	sqlite3_close(self->db);
	policy_close(self->p);

	memset(&self->k, 0, sizeof(self->k));	/* a fresh boot: the kernel has nothing */
	self->k.fail_prepare = 1;
	ASSERT_EQ(0, open_manager(self, &err)) TH_LOG("%s", err);
	self->db = client(_metadata, self, 0);
	EXPECT_EQ(0, k_live(&self->k));
	EXPECT_EQ(0, policy_live_version(self->p));
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policy_versions WHERE live = 1"));
	EXPECT_EQ(0, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_version'"));
	EXPECT_EQ(1, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_not_enforced'"));

	/* once the kernel takes maps again, a commit makes it live and says so */
	self->k.fail_prepare = 0;
	OK(self->db, "INSERT INTO policies(name, hook, action) VALUES ('a', 'exec', 'audit')");
	EXPECT_EQ(2, k_live(&self->k));
	EXPECT_EQ(2, qint(self->db, "SELECT version FROM policy_versions WHERE live = 1"));
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions WHERE live = 1"));
	EXPECT_EQ(0, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_not_enforced'"));
}

TEST_F(pol, decisions_name_their_rule_and_version)
{
	struct dbos_lsm_decision d[2] = { 0 };
	char *err = NULL, buf[128];
	struct timespec boot;

	OK(self->db, "INSERT INTO policies(id, name, hook, action, condition) VALUES "
		     "(5, 'no-tmp', 'exec', 'deny', 'path GLOB ''/tmp/*''')");
	OK(self->db, "INSERT INTO policies(id, name, hook, action, condition) VALUES "
		     "(9, 'watch', 'connect', 'audit', 'remote_port = 22')");
	d[0] = (struct dbos_lsm_decision){ .version = 2, .hook = DBOS_LSM_EXEC, .term = 0,
					   .verdict = DBOS_LSM_DENY, .pid = 42, .uid = 1000 };
	clock_gettime(CLOCK_BOOTTIME, &boot);
	d[0].time_ns = (uint64_t)boot.tv_sec * 1000000000 + boot.tv_nsec;
	strcpy(d[0].name, "sh");
	strcpy(d[0].path, "/tmp/evil");
	d[1] = (struct dbos_lsm_decision){ .version = 2, .hook = DBOS_LSM_CONNECT, .term = 0,
					   .verdict = DBOS_LSM_AUDIT, .pid = 43, .family = 2,
					   .port = 22 };
	d[1].address[10] = d[1].address[11] = 0xff;
	d[1].address[12] = 10;
	d[1].address[15] = 1;
	ASSERT_EQ(0, policy_decisions_write(self->p, d, 2, &err)) TH_LOG("%s", err);
	EXPECT_EQ(2, qint(self->db, "SELECT count(*) FROM policy_decisions"));
	EXPECT_EQ(5, qint(self->db, "SELECT rule_id FROM policy_decisions WHERE pid = 42"));
	EXPECT_STREQ("no-tmp", qtext(self->db, "SELECT rule FROM policy_decisions WHERE pid = 42", buf, sizeof(buf)));
	EXPECT_STREQ("/tmp/evil", qtext(self->db, "SELECT path FROM policy_decisions WHERE pid = 42", buf, sizeof(buf)));
	EXPECT_STREQ("deny", qtext(self->db, "SELECT verdict FROM policy_decisions WHERE pid = 42", buf, sizeof(buf)));
	EXPECT_STREQ("exec", qtext(self->db, "SELECT hook FROM policy_decisions WHERE pid = 42", buf, sizeof(buf)));
	EXPECT_EQ(2, qint(self->db, "SELECT version FROM policy_decisions WHERE pid = 42"));
	EXPECT_STREQ("watch", qtext(self->db, "SELECT rule FROM policy_decisions WHERE pid = 43", buf, sizeof(buf)));
	EXPECT_STREQ("10.0.0.1", qtext(self->db, "SELECT address FROM policy_decisions WHERE pid = 43", buf, sizeof(buf)));
	EXPECT_EQ(22, qint(self->db, "SELECT port FROM policy_decisions WHERE pid = 43"));
	/* An unknown version: no rule. */
	d[0].version = 77;
	ASSERT_EQ(0, policy_decisions_write(self->p, d, 1, &err)) TH_LOG("%s", err);
	EXPECT_EQ(-1, qint(self->db, "SELECT rule_id FROM policy_decisions WHERE version = 77"));
	EXPECT_EQ(3, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_decisions_written'"));
	/* Boot time became realtime: within two seconds of now. */
	EXPECT_GT(2, llabs(qint(self->db, "SELECT time FROM policy_decisions WHERE pid = 42") -
			    (long long)time(NULL)));
}

TEST_F(pol, every_context_column_compiles)
{
	OK(self->db, "BEGIN; "
		     "INSERT INTO policies(name, hook, action, condition) VALUES "
		     "('e', 'exec', 'deny', 'pid = 1 AND uid = 2 AND euid = 3 AND gid = 4 AND name = ''sh'' "
		     "AND cgroup = 5 AND path = ''/bin/sh'''), "
		     "('o', 'open', 'deny', 'path GLOB ''/etc/*'' AND mode IN (''w'', ''rw'')'), "
		     "('c', 'connect', 'deny', 'family = ''inet'' AND remote_address = ''10.0.0.1'' "
		     "AND remote_port = 4444'), "
		     "('u', 'connect', 'audit', 'family = ''unix'' AND path = ''/run/x.sock'''), "
		     "('b', 'bind', 'deny', 'family = ''inet6'' AND local_address = ''::1'' AND local_port = 81'), "
		     "('k', 'kill', 'deny', 'target_pid = 1 AND signal = 9'); "
		     "COMMIT");
	EXPECT_EQ(6, qint(self->db, "SELECT rules FROM policy_versions WHERE version = 1"));
	EXPECT_EQ(1, k_live(&self->k));
}

/* Decisions the in-test kernel hands to the decisions thread (through ops.poll). */
static pthread_mutex_t queue_mu = PTHREAD_MUTEX_INITIALIZER;
static struct dbos_lsm_decision queued;
static int nqueued;

static int k_poll(void *arg, int timeout_ms,
		  void (*cb)(void *cbarg, const struct dbos_lsm_decision *d), void *cbarg, char **err)
{
	int n;

	usleep(1000);
	pthread_mutex_lock(&queue_mu);
	n = nqueued;
	if (nqueued)
		cb(cbarg, &queued);
	nqueued = 0;
	pthread_mutex_unlock(&queue_mu);
	return n;
}

static uint64_t changes_cb(void *arg)
{
	return __atomic_load_n((uint64_t *)arg, __ATOMIC_SEQ_CST);
}

/*
 * Opens the manager again, now with its refresher watching self->changes
 * (the mirror's counter), and its poller on @poll if not NULL.
 */
static void reopen_with_refresher(struct __test_metadata *_metadata, FIXTURE_DATA(pol) *self,
				  typeof(self->ops.poll) poll)
{
	struct policy_config cfg = {
		.st = self->st, .env = &self->env, .ops = &self->ops, .retention = 1000,
		.mirror_changes = changes_cb, .mirror_arg = &self->changes,
	};
	char *err = NULL;

	sqlite3_close(self->db);
	policy_close(self->p);
	if (poll)
		self->ops.poll = poll;
	ASSERT_EQ(0, policy_open(&cfg, &self->p, &err)) TH_LOG("%s", err);
	self->env.extend_arg = self->p;
	self->db = client(_metadata, self, 0);
	free(err);
}

static void proc(struct store_batch *b, int pid, int parent, const char *name, int uid);

TEST_F(pol, threads_store_decisions_and_refresh_sets)
{
	struct store_batch *b;
	char *err = NULL;
	int i;

	reopen_with_refresher(_metadata, self, k_poll);
	OK(self->db, "INSERT INTO policies(name, hook, action, condition) VALUES ('s', 'exec', 'deny', "
		     "'uid IN (SELECT uid FROM processes WHERE name = ''x'')')");
	EXPECT_EQ(1, self->k.has_sets);
	int before = k_prepares(&self->k);

	/* The mirror moved but the set did not: nothing is pushed. */
	__atomic_add_fetch(&self->changes, 1, __ATOMIC_SEQ_CST);
	usleep(200000);
	EXPECT_EQ(before, k_prepares(&self->k));
	/* A process joins the set: the refresher re-pushes the same version within a few ticks. */
	b = store_batch_new();
	proc(b, 77, 1, "x", 4321);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);
	__atomic_add_fetch(&self->changes, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < 200 && k_prepares(&self->k) == before; i++)
		usleep(10000);
	EXPECT_LT(before, k_prepares(&self->k));
	EXPECT_EQ(1, k_live(&self->k));
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));

	/* It compiled the rules once; since then it only ran the subquery again. */
	EXPECT_EQ(1, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_refresh_compiles'"));
	EXPECT_LE(2, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_set_evaluations'"));

	pthread_mutex_lock(&queue_mu);
	queued = (struct dbos_lsm_decision){ .version = 1, .hook = DBOS_LSM_EXEC, .term = 0,
					     .verdict = DBOS_LSM_DENY, .pid = 4242 };
	nqueued = 1;
	pthread_mutex_unlock(&queue_mu);
	for (i = 0; i < 200 && qint(self->db, "SELECT count(*) FROM policy_decisions") < 1; i++)
		usleep(10000);
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_decisions WHERE pid = 4242 AND rule = 's'"));
}

/*
 * A server-side set that outgrows the kernel's maps on a re-push: the
 * refresh fails, is counted in policy_refresh_failed, and the version
 * the kernel has stays live (README: every limit).
 */
TEST_F(pol, a_set_outgrowing_the_maps_is_counted)
{
	struct store_batch *b;
	char *err = NULL;
	int i, before;

	reopen_with_refresher(_metadata, self, NULL);
	/* 65,534 of the 65,536 value entries, then a set with no member yet */
	OK(self->db, "INSERT INTO policies(name, hook, action, condition) "
		     "WITH RECURSIVE u(x) AS (SELECT 100000 UNION ALL SELECT x + 1 FROM u "
		     "WHERE x < 165533) SELECT 'filler', 'open', 'audit', "
		     "'uid IN (' || group_concat(x) || ')' FROM u");
	OK(self->db, "INSERT INTO policies(name, hook, action, condition) VALUES ('s', 'exec', 'deny', "
		     "'pid IN (SELECT pid FROM processes WHERE name = ''x'')')");
	before = k_prepares(&self->k);
	EXPECT_EQ(0, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_refresh_failed'"));
	b = store_batch_new();
	for (int pid = 80; pid < 84; pid++)
		proc(b, pid, 1, "x", 4323);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);
	__atomic_add_fetch(&self->changes, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < 1000 && qint(self->db, "SELECT value FROM dbos_stats "
				      "WHERE name = 'policy_refresh_failed'") < 1; i++)
		usleep(10000);
	EXPECT_LE(1, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_refresh_failed'"));
	EXPECT_EQ(before, k_prepares(&self->k));	/* nothing pushed */
	EXPECT_EQ(2, k_live(&self->k));			/* the version the kernel has stays */
	EXPECT_EQ(0, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_refreshes'"));
}

static void put(struct store_batch *b, const struct schema_table *t, uint64_t key,
		const struct row_value *v)
{
	char buf[1024];
	size_t len = row_encode(v, t->ncols, buf, sizeof(buf));

	test_put_row(b, t->cf, key, schema_key_bytes(t), buf, len);
}

/*
 * The refresher re-runs only the server-side subqueries, outside the
 * manager's lock: with 300 other rules live, mirror changes that leave the
 * set as it was push nothing and compile nothing; a commit meanwhile is not
 * held up, and makes the refresher compile the new version once.
 */
TEST_F(pol, refresher_reruns_only_the_subqueries_outside_the_lock)
{
	struct store_batch *b;
	char *err = NULL;
	int i, before;

	reopen_with_refresher(_metadata, self, NULL);
	OK(self->db, "BEGIN; "
		     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) "
		     "INSERT INTO policies(name, hook, action, condition) SELECT 'k' || i, 'connect', "
		     "'deny', 'remote_port = ' || i FROM n; "
		     "INSERT INTO policies(name, hook, action, condition) VALUES ('s', 'exec', 'deny', "
		     "'uid IN (SELECT uid FROM processes WHERE name = ''x'')'); COMMIT");
	before = k_prepares(&self->k);

	/* The mirror moves, the set does not: evaluated again, nothing pushed, nothing compiled again. */
	for (int round = 0; round < 5; round++) {
		int64_t evals = qint(self->db, "SELECT value FROM dbos_stats "
					       "WHERE name = 'policy_set_evaluations'");

		__atomic_add_fetch(&self->changes, 1, __ATOMIC_SEQ_CST);
		for (i = 0; i < 200 && qint(self->db, "SELECT value FROM dbos_stats WHERE name = "
					    "'policy_set_evaluations'") == evals; i++)
			usleep(10000);
	}
	EXPECT_LE(5, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_set_evaluations'"));
	EXPECT_EQ(1, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_refresh_compiles'"));
	EXPECT_EQ(before, k_prepares(&self->k));

	/* A commit replaces the image: the refresher compiles that version once, then evaluates. */
	OK(self->db, "INSERT INTO policies(name, hook, action, condition) VALUES ('k0', 'bind', 'deny', "
		     "'local_port = 1')");
	before = k_prepares(&self->k);
	b = store_batch_new();
	proc(b, 78, 1, "x", 4322);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);
	__atomic_add_fetch(&self->changes, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < 300 && qint(self->db, "SELECT value FROM dbos_stats "
				     "WHERE name = 'policy_refreshes'") < 1; i++)
		usleep(10000);
	EXPECT_EQ(1, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_refreshes'"));
	EXPECT_EQ(before + 1, k_prepares(&self->k));	/* the set changed: one push */
	EXPECT_EQ(2, k_live(&self->k));
	EXPECT_EQ(2, qint(self->db, "SELECT value FROM dbos_stats WHERE name = 'policy_refresh_compiles'"));
	/* The pushed set holds uid 4322. */
	pthread_mutex_lock(&kmu);
	for (i = 0; i < (int)self->k.nvalues; i++) {
		const struct dbos_lsm_value_key *key = &self->k.values[i].key;
		uint64_t v = 0;

		memcpy(&v, key->value, sizeof(v));
		if (key->hook == DBOS_LSM_EXEC && key->field == DBOS_LSM_F_UID && v == 4322)
			break;
	}
	EXPECT_LT(i, (int)self->k.nvalues);
	pthread_mutex_unlock(&kmu);
}

static void proc(struct store_batch *b, int pid, int parent, const char *name, int uid)
{
	struct row_value v[PROCESSES__COUNT];

	for (int i = 0; i < PROCESSES__COUNT; i++)
		v[i] = row_null();
	v[PROCESSES_PID] = row_int(pid);
	v[PROCESSES_PARENT] = row_int(parent);
	v[PROCESSES_NAME] = row_text(name, strlen(name));
	v[PROCESSES_PATH] = row_text("/usr/bin/x", 10);
	v[PROCESSES_UID] = row_int(uid);
	v[PROCESSES_EUID] = row_int(uid);
	v[PROCESSES_GID] = row_int(uid);
	put(b, &schema_processes, pid, v);
}

static void exec_event(struct store_batch *b, uint64_t seq, int pid, const char *path, int uid)
{
	struct row_value v[PROCESS_EVENTS__COUNT];

	for (int i = 0; i < PROCESS_EVENTS__COUNT; i++)
		v[i] = row_null();
	v[PROCESS_EVENTS_SEQ] = row_int((int64_t)seq);
	v[PROCESS_EVENTS_EVENT] = row_text(seq % 3 ? "exec" : "fork", 4);
	v[PROCESS_EVENTS_PID] = row_int(pid);
	v[PROCESS_EVENTS_PATH] = row_text(path, strlen(path));
	v[PROCESS_EVENTS_NAME] = row_text("n", 1);
	v[PROCESS_EVENTS_UID] = row_int(uid);
	put(b, &schema_process_events, seq, v);
}

TEST_F(pol, simulate_over_history_rows)
{
	static const char *const paths[] = { "/tmp/a", "/usr/bin/ls", "/tmp/sub/b", "/tmpx", "/bin/sh" };
	struct store_batch *b = store_batch_new();
	char *err = NULL, msg[256];
	int64_t want = 0, want_uid = 0;

	for (uint64_t seq = 1; seq <= 100; seq++) {
		const char *path = paths[seq % 5];

		exec_event(b, seq, (int)seq + 1000, path, (int)(seq % 2));
		if (seq % 3 && !strncmp(path, "/tmp/", 5)) {
			want++;
			want_uid += seq % 2;
		}
	}
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);
	EXPECT_EQ(want, qint(self->db, "SELECT count(*) FROM policy_simulate('exec', 'path GLOB ''/tmp/*''')"));
	EXPECT_EQ(want_uid, qint(self->db, "SELECT count(*) FROM policy_simulate('exec', "
					   "'path GLOB ''/tmp/*'' AND uid <> 0')"));
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policy_simulate('exec', 'path GLOB ''/tmp/*'' "
				    "AND path NOT GLOB ''/tmp/*''')"));
	EXPECT_EQ(67, qint(self->db, "SELECT count(*) FROM policy_simulate('exec', NULL)"));
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policy_simulate('kill', 'signal = 9')"));
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "SELECT * FROM policy_simulate('ptrace', '1')", msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "unknown hook 'ptrace'")) TH_LOG("%s", msg);
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "SELECT * FROM policy_simulate('exec', 'nosuch = 1')", msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "no such column: nosuch")) TH_LOG("%s", msg);
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "SELECT * FROM policy_simulate('exec', '1); DELETE FROM policies; SELECT (1')",
				      msg, sizeof(msg)));
	/* Its two arguments are HIDDEN columns, declared as such. */
	EXPECT_EQ(2, qint(self->db, "SELECT count(*) FROM pragma_table_xinfo('policy_simulate') "
				    "WHERE hidden = 1"));
}

TEST_F(pol, simulate_open_and_connect_views)
{
	struct store_batch *b = store_batch_new();
	struct row_value v[32];
	char *err = NULL, buf[128];
	int want_4444 = 0, want_4444_inet = 0, want_bind = 0, want_shadow = 0, want_rw = 0;

	proc(b, 7, 1, "curl", 1000);
	for (uint64_t seq = 1; seq <= 40; seq++) {
		for (int i = 0; i < SOCKET_EVENTS__COUNT; i++)
			v[i] = row_null();
		v[SOCKET_EVENTS_SEQ] = row_int((int64_t)seq);
		v[SOCKET_EVENTS_ACTION] = row_text(seq % 4 ? "connect" : "bind", seq % 4 ? 7 : 4);
		v[SOCKET_EVENTS_PID] = row_int(7);
		v[SOCKET_EVENTS_FAMILY] = row_int(seq % 2 ? 2 : 10);
		v[SOCKET_EVENTS_REMOTE_ADDRESS] = row_text("10.0.0.1", 8);
		v[SOCKET_EVENTS_REMOTE_PORT] = row_int(seq % 5 ? 443 : 4444);
		v[SOCKET_EVENTS_LOCAL_PORT] = row_int(81);
		put(b, &schema_socket_events, seq, v);
		want_4444 += seq % 4 && !(seq % 5);
		want_4444_inet += seq % 4 && !(seq % 5) && seq % 2;
		want_bind += !(seq % 4);
	}
	for (uint64_t seq = 41; seq <= 50; seq++) {
		const char *path = seq % 2 ? "/etc/shadow" : "pipe:[12]";

		for (int i = 0; i < FILE_EVENTS__COUNT; i++)
			v[i] = row_null();
		v[FILE_EVENTS_SEQ] = row_int((int64_t)seq);
		v[FILE_EVENTS_ACTION] = row_text("open", 4);
		v[FILE_EVENTS_PID] = row_int(7);
		v[FILE_EVENTS_PATH] = row_text(path, strlen(path));
		v[FILE_EVENTS_FLAGS] = row_int(seq % 3 == 0 ? 0 : 2);	/* O_RDONLY or O_RDWR */
		v[FILE_EVENTS_TYPE] = row_text(seq % 2 ? "regular" : "fifo", seq % 2 ? 7 : 4);
		put(b, &schema_file_events, seq, v);
		want_shadow += seq % 2;
		want_rw += seq % 2 && seq % 3;
	}
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);
	EXPECT_EQ(want_4444, qint(self->db, "SELECT count(*) FROM policy_simulate('connect', 'remote_port = 4444')"));
	EXPECT_EQ(want_4444_inet, qint(self->db, "SELECT count(*) FROM policy_simulate('connect', "
				    "'remote_port = 4444 AND family = ''inet''')"));
	EXPECT_STREQ("curl", qtext(self->db, "SELECT name FROM policy_simulate('connect', 'uid = 1000')",
				   buf, sizeof(buf)));
	EXPECT_EQ(want_bind, qint(self->db, "SELECT count(*) FROM policy_simulate('bind', 'local_port = 81')"));
	EXPECT_EQ(want_shadow, qint(self->db, "SELECT count(*) FROM policy_simulate('open', 'path = ''/etc/shadow''')"));
	EXPECT_EQ(want_rw, qint(self->db, "SELECT count(*) FROM policy_simulate('open', 'mode = ''rw''')"));
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policy_simulate('open', 'path GLOB ''pipe:*''')"));
}

/* The exec hook's PID and FORK entries of the last image, as "pid N,...,fork N,...". */
static const char *image_pids(struct kernel *k, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = 0;
	for (int f = DBOS_LSM_F_PID; f <= DBOS_LSM_F_FORK; f += DBOS_LSM_F_FORK - DBOS_LSM_F_PID)
		for (size_t i = 0; i < k->nvalues; i++) {
			const struct dbos_lsm_value_key *key = &k->values[i].key;
			uint64_t v;

			if (key->hook != DBOS_LSM_EXEC || key->field != f)
				continue;
			memcpy(&v, key->value, sizeof(v));
			n += snprintf(buf + n, size - n, "%s%s %llu", n ? "," : "",
				      f == DBOS_LSM_F_PID ? "pid" : "fork", (unsigned long long)v);
		}
	return buf;
}

TEST_F(pol, process_ancestors_follow_parents)
{
	struct store_batch *b = store_batch_new();
	char *err = NULL, buf[128];

	proc(b, 1, 0, "init", 0);
	proc(b, 10, 1, "nginx", 0);
	proc(b, 20, 10, "worker", 33);
	proc(b, 30, 20, "sh", 33);
	proc(b, 40, 1, "other", 0);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);
	EXPECT_STREQ("20:worker:1,10:nginx:2,1:init:3", qtext(self->db,
		"SELECT group_concat(ancestor || ':' || ancestor_name || ':' || depth) FROM "
		"(SELECT * FROM process_ancestors WHERE pid = 30 ORDER BY depth)", buf, sizeof(buf)));
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM process_ancestors WHERE pid = 1"));
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM process_ancestors WHERE pid = ancestor"));
	EXPECT_STREQ("20,30", qtext(self->db, "SELECT group_concat(pid) FROM (SELECT pid FROM "
		     "process_ancestors WHERE ancestor_name = 'nginx' AND pid <> 10 ORDER BY pid)",
		     buf, sizeof(buf)));
	/*
	 * A condition on the ancestor alone is a lineage mark the kernel keeps:
	 * no set, nothing for the server to refresh.
	 */
	OK(self->db, "INSERT INTO policies(name, hook, action, condition) VALUES ('web-no-shell', 'exec', "
		     "'deny', 'path IN (''/bin/sh'') AND pid IN (SELECT pid FROM process_ancestors "
		     "WHERE ancestor_name = ''nginx'')')");
	EXPECT_EQ(0, self->k.has_sets);
	EXPECT_STREQ("", image_pids(&self->k, buf, sizeof(buf)));
	EXPECT_STREQ("kernel", qtext(self->db, "SELECT exactness FROM policies WHERE name = "
				     "'web-no-shell'", buf, sizeof(buf)));
	/* One with depth is not: it compiles into a set the server evaluates and refreshes. */
	OK(self->db, "UPDATE policies SET condition = 'path IN (''/bin/sh'') AND pid IN (SELECT pid "
		     "FROM process_ancestors WHERE ancestor_name = ''nginx'' AND depth < 9)'");
	EXPECT_EQ(1, self->k.has_sets);
	EXPECT_STREQ("server", qtext(self->db, "SELECT exactness FROM policies WHERE name = "
				     "'web-no-shell'", buf, sizeof(buf)));
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policies WHERE notes LIKE "
			  "'%a subquery the server evaluates%'"));
	/*
	 * Who is in the set, and whose next child would be: nginx is not its own
	 * ancestor, but a child it forks is in the set from its first instruction
	 * (FORK entry); its descendants' children inherit their PID bits.
	 */
	EXPECT_STREQ("pid 20,pid 30,fork 10", image_pids(&self->k, buf, sizeof(buf)));
	/* Nothing changed: nothing is pushed (the kernel keeps what it inherited at fork). */
	ASSERT_EQ(0, policy_refresh(self->p, &err)) TH_LOG("%s", err);
	EXPECT_EQ(2, self->k.prepares);
	/* A new descendant of nginx: the same version is pushed with it. */
	b = store_batch_new();
	proc(b, 50, 20, "child", 33);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);
	ASSERT_EQ(0, policy_refresh(self->p, &err)) TH_LOG("%s", err);
	EXPECT_EQ(3, self->k.prepares);
	EXPECT_EQ(2, k_live(&self->k));
	EXPECT_EQ(2, qint(self->db, "SELECT count(*) FROM policy_versions"));
}

/* ---- sched_rules: scheduling rules in the same versions ---- */

static const char *k_calls(struct kernel *k, char *buf, size_t size)
{
	pthread_mutex_lock(&kmu);
	size = strnlen(k->calls, size - 1);
	memcpy(buf, k->calls, size);
	buf[size] = 0;
	k->calls[0] = 0;
	pthread_mutex_unlock(&kmu);
	return buf;
}

TEST_F(pol, sched_rules_commit_in_order_and_show_canonical_values)
{
	char buf[1024];

	/* Policy-only commits never reach the module. */
	OK(self->db, "INSERT INTO policies(name, hook, action) VALUES ('a', 'exec', 'audit')");
	EXPECT_STREQ("prepare 1,flip,", k_calls(&self->k, buf, sizeof(buf)));
	OK(self->db, "INSERT INTO sched_rules(name, condition, nice, sched_policy, cpus) VALUES "
		     "('builds', 'name IN (''make'', ''cc1'')', 15, 'BATCH', '0,1,2')");
	/* compile -> prepare -> stage -> (store) -> flip -> activate */
	EXPECT_STREQ("prepare 2,stage 2,flip,activate 2,", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_STREQ("2:15/3/7", self->k.staged_rules);
	EXPECT_EQ(2, self->k.active);
	EXPECT_EQ(2, k_live(&self->k));
	EXPECT_STREQ("2|builds|name IN ('make', 'cc1')|15|batch||0-2|2", qtext(self->db,
		     "SELECT id || '|' || name || '|' || condition || '|' || nice || '|' || "
		     "sched_policy || '|' || ifnull(sched_priority, '') || '|' || cpus || '|' || version "
		     "FROM sched_rules", buf, sizeof(buf)));
	/* Each table shows its own rows; policy_rules both, with the sched columns. */
	EXPECT_STREQ("a", qtext(self->db, "SELECT group_concat(name) FROM policies", buf, sizeof(buf)));
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM sched_rules"));
	EXPECT_STREQ("sched|set|15|batch|0-2", qtext(self->db, "SELECT hook || '|' || action || '|' || "
		     "nice || '|' || sched_policy || '|' || cpus FROM policy_rules WHERE version = 2 "
		     "AND name = 'builds'", buf, sizeof(buf)));
	EXPECT_EQ(1, qint(self->db, "SELECT nice IS NULL AND cpus IS NULL FROM policy_rules "
				    "WHERE version = 2 AND name = 'a'"));
	/* Once the live version has sched rules, every commit restages them (same terms). */
	OK(self->db, "INSERT INTO policies(name, hook, action) VALUES ('b', 'exec', 'audit')");
	EXPECT_STREQ("prepare 3,stage 3,flip,activate 3,", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_STREQ("2:15/3/7", self->k.staged_rules);
	/* Deleting the rule stages the empty set; after that, policy commits are policy only. */
	OK(self->db, "DELETE FROM sched_rules WHERE name = 'builds'");
	EXPECT_STREQ("prepare 4,stage 4,flip,activate 4,", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_STREQ("", self->k.staged_rules);
	OK(self->db, "DELETE FROM policies WHERE name = 'b'");
	EXPECT_STREQ("prepare 5,flip,", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_EQ(0, self->k.misuse);
}

TEST_F(pol, one_transaction_over_both_tables_is_one_version)
{
	char buf[512];

	OK(self->db, "BEGIN; "
		     "INSERT INTO policies(name, hook, action, condition) VALUES "
		     "('q-net', 'connect', 'deny', 'pid IN (SELECT pid FROM process_ancestors "
		     "WHERE ancestor = 42) OR pid = 42'); "
		     "INSERT INTO sched_rules(name, condition, sched_policy) VALUES "
		     "('q-cpu', 'pid IN (SELECT pid FROM process_ancestors WHERE ancestor = 42) "
		     "OR pid = 42', 'idle'); "
		     "SAVEPOINT s; INSERT INTO sched_rules(name, condition, nice) VALUES ('gone', NULL, 1); "
		     "ROLLBACK TO s; RELEASE s; ");
	/* Inside the transaction both tables show the staged rules; nothing is live yet. */
	EXPECT_STREQ("q-cpu", qtext(self->db, "SELECT group_concat(name) FROM sched_rules", buf, sizeof(buf)));
	EXPECT_STREQ("q-net", qtext(self->db, "SELECT group_concat(name) FROM policies", buf, sizeof(buf)));
	EXPECT_EQ(0, self->k.prepares);
	OK(self->db, "COMMIT");
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(2, qint(self->db, "SELECT rules FROM policy_versions WHERE version = 1"));
	EXPECT_STREQ("prepare 1,stage 1,flip,activate 1,", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_STREQ("2:99/5/-1,2:99/5/-1", self->k.staged_rules);	/* two terms of rule 2 */
	EXPECT_EQ(1, qint(self->db, "SELECT version FROM sched_rules WHERE name = 'q-cpu'"));
	EXPECT_EQ(1, qint(self->db, "SELECT version FROM policies WHERE name = 'q-net'"));
	/* A transaction started on sched_rules takes policies along too. */
	OK(self->db, "BEGIN; DELETE FROM sched_rules; DELETE FROM policies; COMMIT");
	EXPECT_EQ(2, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(0, qint(self->db, "SELECT rules FROM policy_versions WHERE version = 2"));
	EXPECT_STREQ("prepare 2,stage 2,flip,activate 2,", k_calls(&self->k, buf, sizeof(buf)));
}

TEST_F(pol, sched_rules_in_id_order_lowest_first)
{
	char buf[256];

	OK(self->db, "BEGIN; "
		     "INSERT INTO sched_rules(id, name, condition, nice) VALUES (30, 'c', 'uid = 3', 3); "
		     "INSERT INTO sched_rules(id, name, condition, nice) VALUES (10, 'a', 'uid = 1', 1); "
		     "INSERT INTO policies(id, name, hook, action) VALUES (15, 'p', 'kill', 'audit'); "
		     "INSERT INTO sched_rules(name, condition, cpus) VALUES ('d', 'uid = 4', '1'); "
		     "INSERT INTO sched_rules(id, name, condition, sched_policy, sched_priority) "
		     "VALUES (20, 'b', 'uid = 2', 'fifo', 7); COMMIT");
	/* 'd' took max(id) + 1 over both tables */
	EXPECT_EQ(31, qint(self->db, "SELECT id FROM sched_rules WHERE name = 'd'"));
	EXPECT_STREQ("10:1/-1/-1,20:99/1/-1,30:3/-1/-1,31:99/-1/2", self->k.staged_rules);
	EXPECT_STREQ("fifo|7", qtext(self->db, "SELECT sched_policy || '|' || sched_priority "
				     "FROM sched_rules WHERE id = 20", buf, sizeof(buf)));
}

TEST_F(pol, bad_sched_rules_are_refused_and_nothing_changes)
{
	static const struct { const char *sql, *msg; } bad[] = {
		{ "INSERT INTO sched_rules(name, condition) VALUES ('s', 'uid = 1')",
		  "rule 's': a sched rule sets at least one of nice, sched_policy and cpus" },
		{ "INSERT INTO sched_rules(name, condition, nice) VALUES ('s', 'uid = 1', 20)",
		  "rule 's': nice is -20..19, not 20" },
		{ "INSERT INTO sched_rules(name, condition, nice) VALUES ('s', 'uid = 1', 'ten')",
		  "rule 's': nice must be an integer" },
		{ "INSERT INTO sched_rules(name, condition, sched_policy) VALUES ('s', 'uid = 1', 'deadline')",
		  "rule 's': sched_policy is other, batch, idle, fifo or rr, not 'deadline'" },
		{ "INSERT INTO sched_rules(name, condition, sched_policy) VALUES ('s', 'uid = 1', 'rr')",
		  "rule 's': sched_policy 'rr' needs sched_priority 1..99" },
		{ "INSERT INTO sched_rules(name, condition, sched_policy, sched_priority) VALUES "
		  "('s', 'uid = 1', 'fifo', 100)", "rule 's': sched_priority is 0..99, not 100" },
		{ "INSERT INTO sched_rules(name, condition, sched_policy, sched_priority) VALUES "
		  "('s', 'uid = 1', 'idle', 5)",
		  "rule 's': sched_priority is for sched_policy fifo or rr only (leave it NULL)" },
		{ "INSERT INTO sched_rules(name, condition, cpus) VALUES ('s', 'uid = 1', '3-1')",
		  "rule 's': cpus '3-1': CPU range 3-1 runs backwards" },
		{ "INSERT INTO sched_rules(name, condition, cpus) VALUES ('s', 'uid = 1', 'all')",
		  "rule 's': cpus 'all': a CPU list is numbers and ranges like '0-3,5'" },
		{ "INSERT INTO sched_rules(name, condition, nice) VALUES ('s', 'uid > 1', 1)",
		  "rule 's': 'uid > 1': only =, <>, IN, NOT IN and (on path and exe) GLOB 'prefix*' "
		  "compile into the kernel" },
		{ "INSERT INTO sched_rules(name, condition, nice) VALUES ('s', 'path = ''/x''', 1)",
		  "rule 's': 'path': sched has no column 'path'; its columns are pid, uid, euid, gid, "
		  "name, exe" },
		{ "INSERT INTO sched_rules(name, condition, nice) VALUES ('s', 'uid = ', 1)",
		  "rule 's': 'uid = ': expected a literal, found the end of the condition" },
		{ "INSERT INTO sched_rules(name, condition, nice, version) VALUES ('s', NULL, 1, 3)",
		  "sched_rules.version is read-only: the server sets it" },
		{ "INSERT INTO policies(name, hook, action) VALUES ('p', 'sched', 'set')",
		  "rule 'p': scheduling rules go into sched_rules, not policies" },
		{ "INSERT INTO policies(name, hook, action) VALUES ('p', 'exec', 'set')",
		  "rule 'p': action must be deny, audit or allow, not 'set'" },
		{ "INSERT INTO sched_rules(name, condition, nice) VALUES ('pol', NULL, 1)",
		  "UNIQUE constraint failed: sched_rules.name ('pol' is a rule of policies)" },
		{ "INSERT INTO sched_rules(id, name, condition, nice) VALUES (1, 'x', NULL, 1)",
		  "UNIQUE constraint failed: sched_rules.id (1 is a rule of policies)" },
	};
	char msg[512];

	OK(self->db, "INSERT INTO policies(name, hook, action) VALUES ('pol', 'exec', 'audit')");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_NE(SQLITE_OK, exec_sql(self->db, bad[i].sql, msg, sizeof(msg))) TH_LOG("%s", bad[i].sql);
		EXPECT_STREQ(bad[i].msg, msg);
	}
	/* UPDATE is checked the same way; a failed statement leaves the rule as it was. */
	OK(self->db, "INSERT INTO sched_rules(name, condition, nice) VALUES ('ok', 'uid = 1', 1)");
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "UPDATE sched_rules SET nice = -21", msg, sizeof(msg)));
	EXPECT_STREQ("rule 'ok': nice is -20..19, not -21", msg);
	EXPECT_EQ(1, qint(self->db, "SELECT nice FROM sched_rules"));
	OK(self->db, "UPDATE sched_rules SET nice = NULL, cpus = '0'");
	EXPECT_EQ(-1, qint(self->db, "SELECT nice FROM sched_rules"));
	EXPECT_EQ(3, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM sched_rules WHERE name = 's'"));
	EXPECT_EQ(2, self->k.stages);
}

TEST_F(pol, non_root_may_not_change_scheduling)
{
	sqlite3 *user = client(_metadata, self, 1000);
	char msg[512];

	ASSERT_NE(NULL, user);
	EXPECT_EQ(SQLITE_AUTH, exec_sql(user, "INSERT INTO sched_rules(name, condition, nice) "
					"VALUES ('x', NULL, 5)", msg, sizeof(msg)));
	EXPECT_STREQ("permission denied: only root may change scheduling", msg);
	EXPECT_EQ(SQLITE_AUTH, exec_sql(user, "DELETE FROM sched_rules", msg, sizeof(msg)));
	EXPECT_STREQ("permission denied: only root may change scheduling", msg);
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(0, self->k.stages);
	EXPECT_EQ(2, qint(self->db, "SELECT count(*) FROM policy_decisions "
				    "WHERE verdict = 'refused' AND uid = 1000"));
	EXPECT_EQ(0, qint(user, "SELECT count(*) FROM sched_rules"));	/* reading is allowed */
	sqlite3_close(user);
}

TEST_F(pol, failing_stage_or_store_changes_nothing)
{
	char msg[512], buf[512];

	OK(self->db, "INSERT INTO sched_rules(name, condition, nice) VALUES ('a', 'uid = 1', 1)");
	k_calls(&self->k, buf, sizeof(buf));
	self->k.fail_stage = 1;
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "BEGIN; INSERT INTO policies(name, hook, action) "
				      "VALUES ('p', 'exec', 'deny'); INSERT INTO sched_rules(name, "
				      "condition, cpus) VALUES ('b', NULL, '1023'); COMMIT",
				      msg, sizeof(msg)));
	EXPECT_STREQ("rule 'p' (id 2): CPU set has no online CPU", msg);
	exec_sql(self->db, "ROLLBACK", NULL, 0);
	/* prepared and refused at stage: never flipped, nothing stored, nothing activated */
	EXPECT_STREQ("prepare 2,stage 2,", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_EQ(1, k_live(&self->k));
	EXPECT_EQ(1, self->k.active);
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_rules"));
	EXPECT_STREQ("a", qtext(self->db, "SELECT group_concat(name) FROM sched_rules", buf, sizeof(buf)));
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policies"));
	/* A store failure after the stage: the staged set is replaced by the next commit. */
	self->k.fail_stage = 0;
	store_fail_writes(self->st, "IO error: No space left on device");
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "INSERT INTO sched_rules(name, condition, nice) "
				      "VALUES ('b', NULL, 2)", msg, sizeof(msg)));
	store_fail_writes(self->st, NULL);
	EXPECT_STREQ("prepare 2,stage 2,", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_EQ(1, self->k.active);
	OK(self->db, "INSERT INTO sched_rules(name, condition, nice) VALUES ('c', NULL, 3)");
	EXPECT_STREQ("prepare 2,stage 2,flip,activate 2,", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_STREQ("1:1/-1/-1,2:3/-1/-1", self->k.staged_rules);
	EXPECT_EQ(0, self->k.misuse);
}

TEST_F(pol, no_sched_interface_refuses_sched_rules_only)
{
	char msg[512], *err = NULL;

	sqlite3_close(self->db);
	policy_close(self->p);
	self->ops.sched_stage = NULL;
	self->ops.sched_activate = NULL;
	ASSERT_EQ(0, open_manager(self, &err)) TH_LOG("%s", err);
	self->db = client(_metadata, self, 0);
	OK(self->db, "INSERT INTO policies(name, hook, action) VALUES ('a', 'exec', 'audit')");
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "INSERT INTO sched_rules(name, condition, nice) "
				      "VALUES ('s', NULL, 1)", msg, sizeof(msg)));
	EXPECT_STREQ("scheduling rules cannot change: no scheduling interface", msg);
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(1, k_live(&self->k));
}

TEST_F(pol, rollback_and_restart_restore_sched_rules)
{
	char buf[512], *err = NULL;
	int active = 0;

	OK(self->db, "BEGIN; INSERT INTO sched_rules(name, condition, nice) VALUES ('s1', 'uid = 1', 1); "
		     "INSERT INTO policies(name, hook, action) VALUES ('p1', 'exec', 'audit'); COMMIT");
	OK(self->db, "BEGIN; DELETE FROM sched_rules; DELETE FROM policies; "
		     "INSERT INTO sched_rules(name, condition, sched_policy) VALUES ('s2', 'uid = 2', 'idle'); "
		     "COMMIT");
	EXPECT_STREQ("1:99/5/-1", self->k.staged_rules);	/* ids restart after all were deleted */
	k_calls(&self->k, buf, sizeof(buf));
	EXPECT_EQ(3, qint(self->db, "SELECT policy_rollback(1)"));
	EXPECT_STREQ("prepare 3,stage 3,flip,activate 3,", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_STREQ("1:1/-1/-1", self->k.staged_rules);
	EXPECT_STREQ("s1|1|uid = 1", qtext(self->db, "SELECT name || '|' || nice || '|' || condition "
				       "FROM sched_rules", buf, sizeof(buf)));
	EXPECT_STREQ("p1", qtext(self->db, "SELECT group_concat(name) FROM policies", buf, sizeof(buf)));

	/* dbosd restarts, the BPF side kept version 3: the sched rules are pushed anyway. */
	sqlite3_close(self->db);
	policy_close(self->p);
	self->k.staged = self->k.active = 0;
	ASSERT_EQ(0, open_manager(self, &err)) TH_LOG("%s", err);
	self->db = client(_metadata, self, 0);
	EXPECT_STREQ("stage 3,activate 3,", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_EQ(3, self->k.active);
	EXPECT_STREQ("1:1/-1/-1", self->k.staged_rules);
	/* ... and when the module refuses at start, the refresher retries every second. */
	sqlite3_close(self->db);
	policy_close(self->p);
	self->k.staged = self->k.active = 0;
	self->k.fail_activate = 1;
	ASSERT_EQ(0, open_manager(self, &err)) TH_LOG("%s", err);
	self->db = client(_metadata, self, 0);
	EXPECT_EQ(0, self->k.active);
	pthread_mutex_lock(&kmu);
	self->k.fail_activate = 0;
	pthread_mutex_unlock(&kmu);
	for (int i = 0; i < 300 && !active; i++) {
		usleep(10000);
		pthread_mutex_lock(&kmu);
		active = (int)self->k.active;
		pthread_mutex_unlock(&kmu);
	}
	EXPECT_EQ(3, active);
}

TEST_F(pol, refresh_restages_sched_rules_whose_sets_changed)
{
	struct store_batch *b;
	char *err = NULL, buf[256];

	OK(self->db, "INSERT INTO sched_rules(name, condition, nice) VALUES ('s', "
		     "'uid IN (SELECT uid FROM processes WHERE name = ''x'')', 4)");
	k_calls(&self->k, buf, sizeof(buf));
	/* Nothing changed: nothing is pushed. */
	ASSERT_EQ(0, policy_refresh(self->p, &err)) TH_LOG("%s", err);
	EXPECT_STREQ("", k_calls(&self->k, buf, sizeof(buf)));
	/* The set changed: the same version is staged and activated again, the BPF side untouched. */
	b = store_batch_new();
	proc(b, 77, 1, "x", 4321);
	ASSERT_EQ(0, store_write(self->st, b, &err)) TH_LOG("%s", err);
	store_batch_free(b);
	ASSERT_EQ(0, policy_refresh(self->p, &err)) TH_LOG("%s", err);
	EXPECT_STREQ("stage 1,activate 1,", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));
	/* policy_simulate('sched', ...): the live processes a sched condition matches now */
	EXPECT_EQ(77, qint(self->db, "SELECT pid FROM policy_simulate('sched', 'uid = 4321')"));
	EXPECT_EQ(0, qint(self->db, "SELECT count(*) FROM policy_simulate('sched', 'uid = 4322')"));
}

TEST_F(pol, without_an_lsm_enforcer_sched_rules_still_commit)
{
	struct policy_config cfg = { .st = self->st, .env = &self->env, .ops = &self->ops,
				     .no_kernel_reason = "dbosd runs with --no-lsm: no policy is enforced" };
	char *err = NULL, msg[512], buf[256];

	sqlite3_close(self->db);
	policy_close(self->p);
	self->ops = (struct policy_kernel_ops){ .sched_stage = k_stage, .sched_activate = k_activate,
						.arg = &self->k };
	ASSERT_EQ(0, policy_open(&cfg, &self->p, &err)) TH_LOG("%s", err);
	self->env.extend_arg = self->p;
	self->db = client(_metadata, self, 0);
	OK(self->db, "INSERT INTO sched_rules(name, condition, nice) VALUES ('s', 'uid = 1', 1)");
	EXPECT_STREQ("stage 1,activate 1,", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_EQ(1, self->k.active);
	/* a security rule would not be enforced: refused with the reason, nothing changed */
	EXPECT_NE(SQLITE_OK, exec_sql(self->db, "BEGIN; INSERT INTO policies(name, hook, action) "
				      "VALUES ('p', 'exec', 'deny'); UPDATE sched_rules SET nice = 2; "
				      "COMMIT", msg, sizeof(msg)));
	EXPECT_STREQ("policy cannot change: dbosd runs with --no-lsm: no policy is enforced", msg);
	exec_sql(self->db, "ROLLBACK", NULL, 0);
	EXPECT_STREQ("", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_EQ(1, qint(self->db, "SELECT count(*) FROM policy_versions"));
	EXPECT_EQ(1, qint(self->db, "SELECT nice FROM sched_rules"));
	OK(self->db, "DELETE FROM sched_rules");
	EXPECT_STREQ("stage 2,activate 2,", k_calls(&self->k, buf, sizeof(buf)));
	EXPECT_EQ(0, self->k.prepares);
}

/* ---------------------------------------------------------------------- */
/* The catalogue: dbos_schema, the shell's .tables, and the README        */

#define MAX_NAMES 2048

struct names {
	char *v[MAX_NAMES];
	int n;
};

static void names_add(struct names *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], name))
			return;
	if (s->n < MAX_NAMES)
		s->v[s->n++] = strdup(name);
}

static bool names_has(const struct names *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], name))
			return true;
	return false;
}

static void names_free(struct names *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

/* Adds the first column of every row of @sql on @db to @s. */
static void names_query(struct __test_metadata *_metadata, sqlite3 *db, const char *sql,
			struct names *s)
{
	sqlite3_stmt *st = NULL;

	ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(db, sql, -1, &st, NULL)) TH_LOG("%s", sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW)
		names_add(s, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

static const char catalogue_sql[] =
	"SELECT name FROM pragma_module_list UNION "
	"SELECT name FROM pragma_function_list UNION "
	"SELECT name FROM sqlite_schema WHERE type = 'view'";

/*
 * Whatever a client's connection has that plain SQLite lacks (virtual tables,
 * table-valued functions, views, functions) is in dbos_schema, and everything
 * dbos_schema lists exists: the one registry cannot drift from the code.
 */
TEST_F(pol, dbos_schema_lists_exactly_what_a_connection_adds_to_sqlite)
{
	struct names plain = { 0 }, has = { 0 }, listed = { 0 };
	sqlite3 *bare;

	ASSERT_EQ(SQLITE_OK, sqlite3_open(":memory:", &bare));
	names_query(_metadata, bare, catalogue_sql, &plain);
	sqlite3_close(bare);
	names_query(_metadata, self->db, catalogue_sql, &has);
	names_query(_metadata, self->db, "SELECT name FROM dbos_schema", &listed);
	for (int i = 0; i < has.n; i++) {
		if (names_has(&plain, has.v[i]))
			continue;
		EXPECT_TRUE(names_has(&listed, has.v[i])) TH_LOG("%s is not in dbos_schema", has.v[i]);
	}
	for (int i = 0; i < listed.n; i++) {
		EXPECT_TRUE(names_has(&has, listed.v[i]))
			TH_LOG("dbos_schema lists %s, which does not exist", listed.v[i]);
	}
	EXPECT_TRUE(names_has(&listed, "policies"));
	EXPECT_TRUE(names_has(&listed, "sched_rules"));
	names_free(&plain);
	names_free(&has);
	names_free(&listed);
}

/*
 * README.md's "## Tables" table names, in the first cell of its rows, every
 * table, view and function that dbos_schema lists, and nothing else.
 * (Run from the repository root, as tests/run-all.sh does.)
 */
/*
 * The README's SQL about time travel (from "**Time travel" to the notice
 * about lost events) is valid: every statement prepares in a session with
 * every table, policy_decisions included.
 */
TEST_F(pol, readme_time_travel_sql_prepares)
{
	FILE *f = fopen("README.md", "r");
	char line[1024], sql[16384];
	size_t n = 0;
	int in = 0, block = 0, stmts = 0;

	ASSERT_NE(NULL, f) TH_LOG("README.md not found: run from the repository root");
	sql[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "**Time travel", 13))
			in = 1;
		else if (!strncmp(line, "**Where events were lost", 24))
			break;
		if (!in)
			continue;
		if (!strncmp(line, "```sql", 6)) {
			block = 1;
			continue;
		}
		if (block && !strncmp(line, "```", 3)) {
			block = 0;
			continue;
		}
		if (block && n + strlen(line) < sizeof(sql))
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s", line);
	}
	fclose(f);
	for (const char *p = sql; *p;) {
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;

		ASSERT_EQ(SQLITE_OK, sqlite3_prepare_v2(self->db, p, -1, &st, &tail))
			TH_LOG("%s: %.200s", sqlite3_errmsg(self->db), p);
		if (st)
			stmts++;
		sqlite3_finalize(st);
		p = tail;
	}
	EXPECT_LE(12, stmts);
}

TEST_F(pol, readme_table_of_tables_matches_dbos_schema)
{
	struct names readme = { 0 }, listed = { 0 };
	FILE *f = fopen("README.md", "r");
	char line[4096];
	bool in_tables = false;

	ASSERT_NE(NULL, f) TH_LOG("README.md not found: run from the repository root");
	while (fgets(line, sizeof(line), f)) {
		char *cell_end, *p;

		if (!strncmp(line, "## ", 3))
			in_tables = !strcmp(line, "## Tables\n");
		if (!in_tables || strncmp(line, "| `", 3))
			continue;
		cell_end = strchr(line + 1, '|');
		if (!cell_end)
			continue;
		*cell_end = 0;
		for (p = strchr(line, '`'); p; p = strchr(p + 1, '`')) {
			char *end = strchr(p + 1, '`');

			if (!end)
				break;
			*end = 0;
			p[1 + strcspn(p + 1, "(")] = 0;		/* `policy_simulate(hook, condition)` */
			names_add(&readme, p + 1);
			p = end;
		}
	}
	fclose(f);
	names_query(_metadata, self->db, "SELECT name FROM dbos_schema", &listed);
	for (int i = 0; i < listed.n; i++) {
		EXPECT_TRUE(names_has(&readme, listed.v[i]))
			TH_LOG("README's table of tables does not name %s", listed.v[i]);
	}
	for (int i = 0; i < readme.n; i++) {
		EXPECT_TRUE(names_has(&listed, readme.v[i]))
			TH_LOG("README's table of tables names %s, which dbos_schema does not list",
			       readme.v[i]);
	}
	names_free(&readme);
	names_free(&listed);
}

TEST_HARNESS_MAIN
