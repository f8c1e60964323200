// SPDX-License-Identifier: GPL-2.0
/* fleet_policy.c - the coordinator's fleet policy: fleet_policies (commit = a new version in NATS KV), versions, status, rollback. */

/*
 * HOW IT WORKS
 *
 *   The fleet's policy is one key of a JetStream KV bucket (fleet_proto.h,
 *   "Policy."); each revision is a version. fleet_policies is a plain table
 *   of the coordinator's SQLite, loaded from the current version when a
 *   statement uses it (once per transaction); when a transaction that wrote
 *   it ends with rules different from those loaded, the new rules are put
 *   as the next version with a compare-and-set on the loaded revision, so
 *   two coordinators cannot both commit over the same version: the second
 *   fails with "changed concurrently" (like a host's own policy commit).
 *   Then the coordinator waits (at most its timeout) until every live host
 *   says, in its membership entry, that it enforces that version or why it
 *   cannot; the others are reported, as missing hosts are for a query.
 *
 *   fleet_policy_versions is the key's history (the last
 *   FLEET_POLICY_HISTORY versions), fleet_policy_status the members'
 *   entries: both are loaded when a statement reads them.
 *   fleet_policy_rollback(N) puts version N's rules as a new version.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet_int.h"

enum { TOUCH_RULES = 1, TOUCH_VERSIONS = 2, TOUCH_STATUS = 4 };

/* The tables; fleet_policies' checks are what a coordinator can check (hosts check the rest). */
#define NAME_CHARS(expr) "(" expr " NOT GLOB '*[^A-Za-z0-9_-]*')"
static const char tables_sql[] =
	"CREATE TABLE fleet_policies("
	" target TEXT NOT NULL DEFAULT 'all' CHECK (target = 'all'"
	"  OR (target GLOB 'host:?*' AND length(target) <= 69 AND " NAME_CHARS("substr(target, 6)") ")"
	"  OR (target GLOB 'label:?*' AND length(target) <= 70 AND " NAME_CHARS("substr(target, 7)") ")),"
	" name TEXT NOT NULL UNIQUE CHECK (typeof(name) = 'text' AND length(name) > 0),"
	" hook TEXT NOT NULL CHECK (hook IN ('exec', 'open', 'connect', 'bind', 'kill', 'sched')),"
	" action TEXT CHECK ((hook = 'sched' AND (action IS NULL OR action = 'set'))"
	"  OR (hook <> 'sched' AND action IN ('deny', 'audit', 'allow'))),"
	" condition TEXT CHECK (condition IS NULL OR typeof(condition) = 'text'),"
	" nice INTEGER CHECK (nice IS NULL OR typeof(nice) = 'integer'),"
	" sched_policy TEXT CHECK (sched_policy IS NULL OR typeof(sched_policy) = 'text'),"
	" sched_priority INTEGER CHECK (sched_priority IS NULL OR typeof(sched_priority) = 'integer'),"
	" cpus TEXT CHECK (cpus IS NULL OR typeof(cpus) = 'text'));"
	"CREATE TABLE fleet_policy_versions(version INTEGER PRIMARY KEY, time INTEGER, action TEXT,"
	" from_version INTEGER, by TEXT, rules INTEGER, live INTEGER);"
	"CREATE TABLE fleet_policy_status(host TEXT PRIMARY KEY, version INTEGER, live INTEGER,"
	" error TEXT, local_version INTEGER, online INTEGER);";

#define RULES_SELECT \
	"SELECT target, name, hook, coalesce(action, 'set'), condition, nice, sched_policy, " \
	"sched_priority, cpus FROM fleet_policies ORDER BY name"

static int sql_errf(struct dbos_fleet *f, char **err, const char *what)
{
	return fleet_errf(err, "%s: %s", what, sqlite3_errmsg(f->db));
}

/* Bind the bucket; @create: make it if absent. 0 (f->pkv may stay NULL without @create), or -1. */
static int bind_bucket(struct dbos_fleet *f, bool create, char **err)
{
	if (f->pkv)
		return 0;
	return fleet_policy_bucket(f->js, create, &f->pkv, err);
}

/* The current version: its revision (0: none) and, if @e, its entry (NULL when none). */
static int current(struct dbos_fleet *f, uint64_t *rev, kvEntry **e, char **err)
{
	kvEntry *got = NULL;
	natsStatus s;

	*rev = 0;
	if (e)
		*e = NULL;
	if (bind_bucket(f, false, err))
		return -1;
	if (!f->pkv)
		return 0;
	s = kvStore_Get(&got, f->pkv, FLEET_POLICY_KEY);
	if (s == NATS_NOT_FOUND)
		return 0;
	if (s != NATS_OK)
		return fleet_errf(err, "reading the fleet policy: %s", natsStatus_GetText(s));
	*rev = kvEntry_Revision(got);
	if (e)
		*e = got;
	else
		kvEntry_Destroy(got);
	return 0;
}

/* Append fleet_policies' rules as 'R' frames. 0, or -1. */
static int encode_rules(struct dbos_fleet *f, struct dbos_buf *b, char **err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(f->db, RULES_SELECT, -1, &st, NULL);

	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t start = dbos_frame_begin(b, DBOS_F_ROW);
		struct dbos_value v;

		for (int i = 0; i < FLEET_POLICY_NCOLS; i++) {
			fleet_column_value(st, i, &v);
			dbos_buf_value(b, &v);
		}
		dbos_frame_end(b, start);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_errf(f, err, "fleet_policies");
	if (b->err)
		return fleet_errf(err, "fleet_policies: out of memory");
	return 0;
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

/* Load fleet_policies from the current version. 0, or -1. */
static int load_rules(struct dbos_fleet *f, char **err)
{
	struct fleet_policy fp = { 0 };
	sqlite3_stmt *st = NULL;
	kvEntry *e = NULL;
	uint64_t rev;
	int rc;

	if (current(f, &rev, &e, err))
		return -1;
	if (e && fleet_policy_decode(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), &fp, err)) {
		kvEntry_Destroy(e);
		return -1;
	}
	kvEntry_Destroy(e);
	rc = sqlite3_exec(f->db, "DELETE FROM fleet_policies", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(f->db, "INSERT INTO fleet_policies VALUES (?1, ?2, ?3, ?4, "
					"?5, ?6, ?7, ?8, ?9)", -1, &st, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < fp.n; i++) {
		const struct fleet_rule *r = &fp.rules[i];

		bind_text(st, 1, r->target);
		bind_text(st, 2, r->name);
		bind_text(st, 3, r->hook);
		bind_text(st, 4, r->action);
		bind_text(st, 5, r->condition);
		if (r->has_nice)
			sqlite3_bind_int(st, 6, r->nice);
		else
			sqlite3_bind_null(st, 6);
		bind_text(st, 7, r->sched_policy);
		if (r->has_priority)
			sqlite3_bind_int(st, 8, r->priority);
		else
			sqlite3_bind_null(st, 8);
		bind_text(st, 9, r->cpus);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	fleet_policy_free(&fp);
	if (rc != SQLITE_OK)
		return sql_errf(f, err, "loading fleet_policies");
	f->loaded_rev = rev;
	dbos_buf_reset(&f->loaded_rules);
	return encode_rules(f, &f->loaded_rules, err);
}

/* Load fleet_policy_versions from the key's history. 0, or -1. */
static int load_versions(struct dbos_fleet *f, char **err)
{
	kvEntryList list = { 0 };
	sqlite3_stmt *st = NULL;
	uint64_t last = 0;
	natsStatus s = NATS_NOT_FOUND;
	int rc;

	if (bind_bucket(f, false, err))
		return -1;
	if (f->pkv)
		s = kvStore_History(&list, f->pkv, FLEET_POLICY_KEY, NULL);
	if (s != NATS_OK && s != NATS_NOT_FOUND)
		return fleet_errf(err, "the fleet policy's history: %s", natsStatus_GetText(s));
	rc = sqlite3_exec(f->db, "DELETE FROM fleet_policy_versions", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(f->db, "INSERT INTO fleet_policy_versions VALUES (?1, ?2, ?3, "
					"?4, ?5, ?6, 0)", -1, &st, NULL);
	for (int i = 0; s == NATS_OK && rc == SQLITE_OK && i < list.Count; i++) {
		kvEntry *e = list.Entries[i];
		struct fleet_policy fp = { 0 };
		char *derr = NULL;

		sqlite3_bind_int64(st, 1, (sqlite3_int64)kvEntry_Revision(e));
		sqlite3_bind_int64(st, 2, kvEntry_Created(e) / 1000000000);
		if (kvEntry_Operation(e) != kvOp_Put) {
			bind_text(st, 3, "delete");
			sqlite3_bind_null(st, 4);
			sqlite3_bind_null(st, 5);
			sqlite3_bind_int(st, 6, 0);
		} else if (fleet_policy_decode(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), &fp,
					       &derr)) {
			bind_text(st, 3, derr ? derr : "malformed");
			sqlite3_bind_null(st, 4);
			sqlite3_bind_null(st, 5);
			sqlite3_bind_null(st, 6);
		} else {
			bind_text(st, 3, fp.action);
			sqlite3_bind_int64(st, 4, (sqlite3_int64)fp.from);
			bind_text(st, 5, fp.by);
			sqlite3_bind_int64(st, 6, (sqlite3_int64)fp.n);
		}
		free(derr);
		fleet_policy_free(&fp);
		last = kvEntry_Revision(e);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (s == NATS_OK)
		kvEntryList_Destroy(&list);
	if (rc == SQLITE_OK && last) {
		char sql[96];

		snprintf(sql, sizeof(sql), "UPDATE fleet_policy_versions SET live = 1 WHERE version = %llu",
			 (unsigned long long)last);
		rc = sqlite3_exec(f->db, sql, NULL, NULL, NULL);
	}
	return rc == SQLITE_OK ? 0 : sql_errf(f, err, "loading fleet_policy_versions");
}

/* Load fleet_policy_status from the members' entries. 0, or -1. */
static int load_status(struct dbos_fleet *f, char **err)
{
	sqlite3_stmt *st = NULL;
	int64_t now = fleet_now_ns();
	uint64_t cur;
	int rc;

	if (current(f, &cur, NULL, err))
		return -1;
	rc = sqlite3_exec(f->db, "DELETE FROM fleet_policy_status", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(f->db, "INSERT INTO fleet_policy_status VALUES (?1, ?2, ?3, "
					"?4, ?5, ?6)", -1, &st, NULL);
	pthread_mutex_lock(&f->lock);
	for (int i = 0; rc == SQLITE_OK && i < f->nmembers; i++) {
		const struct member *m = &f->members[i];

		sqlite3_bind_text(st, 1, m->host, -1, SQLITE_STATIC);
		if (m->has_policy) {
			sqlite3_bind_int64(st, 2, (sqlite3_int64)m->policy_version);
			sqlite3_bind_int(st, 3, m->policy_version == cur && !m->policy_error);
			bind_text(st, 4, m->policy_error);
			sqlite3_bind_int64(st, 5, (sqlite3_int64)m->policy_local);
		} else {
			sqlite3_bind_null(st, 2);
			sqlite3_bind_int(st, 3, 0);
			bind_text(st, 4, "this host takes no fleet policy (or has not said yet)");
			sqlite3_bind_null(st, 5);
		}
		sqlite3_bind_int(st, 6, fleet_member_live(m, now));
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_reset(st);
	}
	pthread_mutex_unlock(&f->lock);
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : sql_errf(f, err, "loading fleet_policy_status");
}

/* Who commits, for the versions' `by`: user@host (informative: NATS says who may). */
static void who_am_i(char *out, size_t n)
{
	struct passwd *pw = getpwuid(getuid());
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	snprintf(out, n, "%s@%s", pw ? pw->pw_name : "?", host);
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

/* Put @rules (frames) as a new version over @base (0: none yet). 0 and f->published, or -1. */
static int put_version(struct dbos_fleet *f, const char *action, uint64_t from, uint64_t base,
		       const void *rules, size_t len, char **err)
{
	struct dbos_buf b;
	char by[320];
	uint64_t rev = 0, now;
	natsStatus s;

	if (bind_bucket(f, true, err))
		return -1;
	who_am_i(by, sizeof(by));
	dbos_buf_init(&b);
	fleet_policy_meta(&b, action, from, by, (int64_t)time(NULL));
	dbos_buf_put(&b, rules, len);
	if (b.err) {
		dbos_buf_free(&b);
		return fleet_errf(err, "out of memory");
	}
	s = base ? kvStore_Update(&rev, f->pkv, FLEET_POLICY_KEY, b.data, (int)b.len, base) :
		   kvStore_Create(&rev, f->pkv, FLEET_POLICY_KEY, b.data, (int)b.len);
	dbos_buf_free(&b);
	if (s == NATS_OK) {
		f->published = rev;
		return 0;
	}
	if (!current(f, &now, NULL, NULL) && now != base)
		return fleet_errf(err, "fleet policy changed concurrently (version %llu is current, "
				  "this transaction started from %llu); retry",
				  (unsigned long long)now, (unsigned long long)base);
	{
		const char *last = nats_GetLastError(NULL);

		return fleet_errf(err, "committing the fleet policy: %s",
				  last && *last ? last : natsStatus_GetText(s));
	}
}

/* fleet_policy_rollback(N): version N's rules as a new version; returns its number. */
static void rollback_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct dbos_fleet *f = sqlite3_user_data(ctx);
	sqlite3_int64 to = sqlite3_value_int64(argv[0]);
	struct fleet_policy fp = { 0 };
	const uint8_t *rules = NULL;
	kvEntry *e = NULL;
	char *err = NULL;
	uint64_t cur;
	size_t len = 0;

	if (sqlite3_value_type(argv[0]) != SQLITE_INTEGER || to < 0) {
		sqlite3_result_error(ctx, "fleet_policy_rollback(version): a version number", -1);
		return;
	}
	if (!sqlite3_get_autocommit(f->db) && f->wrote) {
		sqlite3_result_error(ctx, "fleet_policy_rollback: this transaction changed "
				     "fleet_policies; commit or roll it back first", -1);
		return;
	}
	if (current(f, &cur, NULL, &err))
		goto fail;
	if (to > 0) {
		natsStatus s = f->pkv ? kvStore_GetRevision(&e, f->pkv, FLEET_POLICY_KEY,
							    (uint64_t)to) : NATS_NOT_FOUND;

		if (s == NATS_OK && kvEntry_Operation(e) == kvOp_Put &&
		    !fleet_policy_decode(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), &fp, NULL)) {
			/* its rules: everything after the first frame (decoded: well-formed) */
			struct dbos_rd r;

			dbos_rd_init(&r, kvEntry_Value(e), (size_t)kvEntry_ValueLen(e));
			dbos_rd_bytes(&r, dbos_rd_u32(&r) + 1);
			rules = r.p;
			len = r.left;
		} else {
			fleet_errf(&err, "fleet_policy_rollback: no fleet policy version %lld (the "
				   "fleet keeps the last %d versions: see fleet_policy_versions)",
				   (long long)to, FLEET_POLICY_HISTORY);
			goto fail;
		}
	}
	if (!put_version(f, "rollback", (uint64_t)to, cur, rules, len, &err)) {
		sqlite3_result_int64(ctx, (sqlite3_int64)f->published);
		goto out;
	}
fail:
	sqlite3_result_error(ctx, err ? err : "fleet_policy_rollback failed", -1);
out:
	fleet_policy_free(&fp);
	kvEntry_Destroy(e);
	free(err);
}

int fleet_policy_open(struct dbos_fleet *f)
{
	int rc = sqlite3_exec(f->db, tables_sql, NULL, NULL, NULL);

	dbos_buf_init(&f->loaded_rules);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(f->db, "fleet_policy_rollback", 1, SQLITE_UTF8, f,
					     rollback_fn, NULL, NULL);
	return rc;
}

int fleet_policy_authorize(struct dbos_fleet *f, int action, const char *table)
{
	unsigned which;

	if (action == SQLITE_TRANSACTION || action == SQLITE_SAVEPOINT)
		return SQLITE_OK;	/* a transaction: over fleet_policies */
	if (action != SQLITE_READ && action != SQLITE_INSERT && action != SQLITE_UPDATE &&
	    action != SQLITE_DELETE)
		return -1;
	if (!table)
		return -1;
	if (!strcmp(table, "fleet_policies"))
		which = TOUCH_RULES;
	else if (!strcmp(table, "fleet_policy_versions"))
		which = TOUCH_VERSIONS;
	else if (!strcmp(table, "fleet_policy_status"))
		which = TOUCH_STATUS;
	else
		return -1;
	f->touched |= which;
	if (action == SQLITE_READ)
		return SQLITE_OK;
	if (which != TOUCH_RULES)
		return SQLITE_DENY;
	f->wrote = true;
	return SQLITE_OK;
}

int fleet_policy_before(struct dbos_fleet *f, char **err)
{
	unsigned t = f->touched;

	f->touched = 0;
	if ((t & TOUCH_RULES) && (sqlite3_get_autocommit(f->db) || !f->loaded_in_txn)) {
		if (load_rules(f, err))
			return -1;
		f->loaded_in_txn = !sqlite3_get_autocommit(f->db);
	}
	if ((t & TOUCH_VERSIONS) && load_versions(f, err))
		return -1;
	if ((t & TOUCH_STATUS) && load_status(f, err))
		return -1;
	return 0;
}

/* Wait until every live host enforces f->published (or failed to); report the others. */
static void wait_enforced(struct dbos_fleet *f, const struct dbos_callbacks *cb, void *arg)
{
	const uint64_t v = f->published;
	struct timespec nap = { 0, 5 * 1000 * 1000 };
	int64_t deadline = fleet_now_ns() + (int64_t)f->timeout_ms * 1000000;
	int live = 0, done = 0;
	char text[256];

	for (;;) {
		int64_t now = fleet_now_ns();

		live = done = 0;
		pthread_mutex_lock(&f->lock);
		for (int i = 0; i < f->nmembers; i++) {
			const struct member *m = &f->members[i];

			if (!fleet_member_live(m, now))
				continue;
			live++;
			done += m->has_policy && (m->policy_version >= v || m->policy_failed >= v);
		}
		pthread_mutex_unlock(&f->lock);
		if (done == live || now >= deadline)
			break;
		nanosleep(&nap, NULL);
	}
	done = 0;
	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < f->nmembers; i++) {
		const struct member *m = &f->members[i];

		if (!fleet_member_live(m, fleet_now_ns()))
			continue;
		if (m->has_policy && m->policy_version >= v && !m->policy_error) {
			done++;
			continue;
		}
		if (m->has_policy && m->policy_error && m->policy_failed >= v)
			snprintf(text, sizeof(text), "%s", m->policy_error);
		else if (!m->has_policy)
			snprintf(text, sizeof(text), "takes no fleet policy");
		else
			snprintf(text, sizeof(text), "has not enforced fleet policy version %llu "
				 "within %d ms (it enforces %llu%s%s)", (unsigned long long)v,
				 f->timeout_ms, (unsigned long long)m->policy_version,
				 m->policy_error ? "; " : "", m->policy_error ? m->policy_error : "");
		fleet_report(f, m->host, text);
	}
	pthread_mutex_unlock(&f->lock);
	if (cb && cb->on_notice) {
		int n = snprintf(text, sizeof(text), "fleet policy version %llu: enforced by %d of "
				 "%d live hosts", (unsigned long long)v, done, live);

		cb->on_notice(arg, text, (size_t)n);
	}
}

int fleet_policy_after(struct dbos_fleet *f, const struct dbos_callbacks *cb, void *arg,
		       char **err)
{
	int ret = 0;

	if (!sqlite3_get_autocommit(f->db))
		return 0;	/* in a transaction: at its end */
	f->loaded_in_txn = false;
	if (f->wrote) {
		struct dbos_buf now;

		f->wrote = false;
		dbos_buf_init(&now);
		ret = encode_rules(f, &now, err);
		if (!ret && (now.len != f->loaded_rules.len ||
			     memcmp(now.data, f->loaded_rules.data, now.len)))
			ret = put_version(f, "commit", f->loaded_rev, f->loaded_rev, now.data, now.len,
					  err);
		dbos_buf_free(&now);
	}
	if (f->published) {
		wait_enforced(f, cb, arg);
		f->published = 0;
	}
	return ret;
}

void fleet_policy_close(struct dbos_fleet *f)
{
	dbos_buf_free(&f->loaded_rules);
	kvStore_Destroy(f->pkv);
	f->pkv = NULL;
}
