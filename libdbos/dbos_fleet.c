// SPDX-License-Identifier: GPL-2.0
/* dbos_fleet.c - a fleet coordinator: every host's tables as one database, in a local SQLite. */

/*
 * HOW IT WORKS
 *
 *   dbos_fleet_connect() connects to the fleet's NATS server, follows the
 *   membership bucket (a watcher thread keeps f->members current), asks one
 *   live host for its schema and creates, in an in-memory SQLite, one
 *   virtual table per table and view of that schema: the same name, a
 *   first column `host`, then the host's columns. A scan of such a table
 *   is one scatter-gather: a request on dbos.query.all (or .host.<id>,
 *   .label.<l>: the target, narrowed by a `host = 'x'` constraint) of
 *
 *       SELECT <the columns the statement uses> FROM <table>
 *       WHERE <its constraints on columns whose value is known when the
 *              statement is planned> (as ?1, ?2, ... parameters)
 *
 *   and the rows of every host that answered, each with its `host`. So
 *   the hosts filter and the coordinator's SQLite does everything else:
 *   aggregates across hosts, GROUP BY host, ORDER BY, joins between hosts'
 *   tables. A constraint whose value comes from another table (a join's)
 *   is not sent: the table is fetched once per statement (a scan repeated
 *   with the same request is answered from the first one's rows) and
 *   joined here.
 *
 *   Who is expected: the members whose entry was renewed within
 *   FLEET_STALE_BEATS heartbeats. A scan waits until each expected host
 *   finished its answer or until the deadline; a host that did not, or
 *   answered with an error, or whose answer lost a chunk, is reported
 *   (dbos_fleet_report()) and contributes no row: a result is either a
 *   host's whole answer or none of it.
 *
 * THREADS AND LOCKS
 *
 *   One thread uses a struct dbos_fleet at a time (like a dbos_conn), apart
 *   from the watcher thread, which only updates f->members under f->lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbos_client.h"
#include "fleet_int.h"

#define DEFAULT_TIMEOUT_MS	2000
#define SCHEMA_SQL \
	"SELECT t.name, c.name, c.type FROM dbos_schema t, pragma_table_xinfo(t.name) c " \
	"WHERE t.type IN ('table', 'view') AND c.hidden = 0 ORDER BY t.name, c.cid"

/* One host's answer to one request. */
struct answer {
	char *host;
	int next_chunk;
	bool expected, done;
	char *failure;		/* NULL: fine so far */
	int ncol;
	struct dbos_buf rows;	/* the 'R' payloads, one after the other */
	size_t *offs;		/* where each row starts in rows; nrows + 1 entries */
	size_t nrows, cap;
	int64_t *ids;		/* each row's rowid (row_ids), once asked; nids of them */
	size_t nids;
};

/* Every host's answers to one request: a scan's rows. */
struct gathered {
	struct gathered *next;	/* f->cache */
	struct dbos_buf key;	/* the request (subject + body): the cache's key */
	struct answer *ans;
	int nans;
};

/* A table every host has (learnt from one of them). */
struct fleet_table {
	char *name;
	int ncols;
	char **cols, **types;
};

/* ---- membership ---- */

static void member_free(struct member *m)
{
	free(m->host);
	free(m->labels);
	free(m->version);
	free(m->policy_error);
}

/* The value of "key=" in a membership entry, malloc()ed ("" if absent). */
static char *entry_field(const char *rec, int len, const char *key)
{
	char *v = fleet_field(rec, len > 0 ? (size_t)len : 0, key);

	return v ? v : strdup("");
}

static void apply_entry(struct dbos_fleet *f, kvEntry *e)
{
	const char *key = kvEntry_Key(e);
	kvOperation op = kvEntry_Operation(e);
	int i;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->nmembers; i++)
		if (!strcmp(f->members[i].host, key))
			break;
	if (op != kvOp_Put) {
		if (i < f->nmembers) {
			member_free(&f->members[i]);
			f->members[i] = f->members[--f->nmembers];
		}
	} else {
		const char *rec = kvEntry_ValueString(e);
		int len = kvEntry_ValueLen(e);
		struct member m = { 0 };
		char *labels, *n;

		if (i == f->nmembers) {
			struct member *grown = realloc(f->members, (size_t)(i + 1) * sizeof(*grown));

			if (!grown)
				goto out;
			f->members = grown;
			f->nmembers++;
		} else {
			member_free(&f->members[i]);
		}
		m.host = strdup(key);
		labels = entry_field(rec, len, "labels");
		if (labels && asprintf(&m.labels, ",%s,", labels) < 0)
			m.labels = NULL;
		free(labels);
		m.version = entry_field(rec, len, "version");
		n = entry_field(rec, len, "started");
		m.started_ms = n ? strtoll(n, NULL, 10) : 0;
		free(n);
		n = entry_field(rec, len, "heartbeat_ms");
		m.heartbeat_ms = n ? atoi(n) : 0;
		free(n);
		if (m.heartbeat_ms <= 0)
			m.heartbeat_ms = FLEET_HEARTBEAT_MS;
		m.seen_ns = kvEntry_Created(e);
		n = entry_field(rec, len, "policy_version");
		m.has_policy = n && *n;
		m.policy_version = n ? strtoull(n, NULL, 10) : 0;
		free(n);
		n = entry_field(rec, len, "policy_local");
		m.policy_local = n ? strtoull(n, NULL, 10) : 0;
		free(n);
		n = entry_field(rec, len, "policy_failed");
		m.policy_failed = n ? strtoull(n, NULL, 10) : 0;
		free(n);
		m.policy_error = entry_field(rec, len, "policy_error");
		if (m.policy_error && !*m.policy_error) {
			free(m.policy_error);
			m.policy_error = NULL;
		}
		f->members[i] = m;
	}
out:
	pthread_mutex_unlock(&f->lock);
}

static void *watch_main(void *arg)
{
	struct dbos_fleet *f = arg;
	kvEntry *e;
	natsStatus s;

	for (;;) {
		e = NULL;
		s = kvWatcher_Next(&e, f->watch, 1000);
		if (s == NATS_TIMEOUT)
			continue;
		if (s != NATS_OK)
			break;		/* stopped */
		if (e)
			apply_entry(f, e);
		kvEntry_Destroy(e);
	}
	return NULL;
}

int64_t fleet_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool fleet_member_live(const struct member *m, int64_t now)
{
	return now - m->seen_ns <= (int64_t)m->heartbeat_ms * FLEET_STALE_BEATS * 1000000;
}

static bool has_label(const struct member *m, const char *label)
{
	char want[FLEET_NAME_MAX + 3];

	snprintf(want, sizeof(want), ",%s,", label);
	return m->labels && strstr(m->labels, want);
}

/* ---- reports: hosts missing from a result ---- */

void fleet_report(struct dbos_fleet *f, const char *host, const char *reason)
{
	struct report *grown;

	for (int i = 0; i < f->nreports; i++)
		if (!strcmp(f->reports[i].host, host))
			return;		/* the first reason stands */
	grown = realloc(f->reports, (size_t)(f->nreports + 1) * sizeof(*grown));
	if (!grown)
		return;
	f->reports = grown;
	f->reports[f->nreports].host = strdup(host);
	f->reports[f->nreports].reason = strdup(reason);
	f->nreports++;
}

static void reports_clear(struct dbos_fleet *f)
{
	for (int i = 0; i < f->nreports; i++) {
		free(f->reports[i].host);
		free(f->reports[i].reason);
	}
	free(f->reports);
	f->reports = NULL;
	f->nreports = 0;
}

/* ---- scatter-gather ---- */

static void gathered_free(struct gathered *g)
{
	for (int i = 0; i < g->nans; i++) {
		free(g->ans[i].host);
		free(g->ans[i].failure);
		dbos_buf_free(&g->ans[i].rows);
		free(g->ans[i].offs);
		free(g->ans[i].ids);
	}
	free(g->ans);
	dbos_buf_free(&g->key);
	free(g);
}

static struct answer *answer_of(struct gathered *g, const char *host, bool add)
{
	struct answer *grown;

	for (int i = 0; i < g->nans; i++)
		if (!strcmp(g->ans[i].host, host))
			return &g->ans[i];
	if (!add)
		return NULL;
	grown = realloc(g->ans, (size_t)(g->nans + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	g->ans = grown;
	memset(&g->ans[g->nans], 0, sizeof(g->ans[0]));
	g->ans[g->nans].host = strdup(host);
	dbos_buf_init(&g->ans[g->nans].rows);
	return &g->ans[g->nans++];
}

static void fail_answer(struct answer *a, const char *why)
{
	if (!a->failure)
		a->failure = strdup(why);
	a->done = true;
}

/* Take one reply message's frames into @a. */
static void take_chunk(struct answer *a, natsMsg *msg)
{
	const char *num = NULL;
	struct dbos_rd r;
	char why[96];

	if (a->done)
		return;
	if (natsMsgHeader_Get(msg, FLEET_HDR_CHUNK, &num) != NATS_OK || !num ||
	    atoi(num) != a->next_chunk) {
		snprintf(why, sizeof(why), "incomplete answer: chunk %d of it was lost", a->next_chunk);
		fail_answer(a, why);
		return;
	}
	a->next_chunk++;
	dbos_rd_init(&r, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
	while (r.left && !a->done) {
		uint32_t len = dbos_rd_u32(&r);
		uint8_t type = dbos_rd_u8(&r);
		const uint8_t *p = dbos_rd_bytes(&r, len);

		if (r.err) {
			fail_answer(a, "malformed answer");
			return;
		}
		switch (type) {
		case DBOS_F_COLUMNS:
			a->ncol = len >= 2 ? (int)(p[0] | p[1] << 8) : 0;
			break;
		case DBOS_F_ROW:
			if (a->nrows + 2 > a->cap) {
				size_t cap = a->cap ? a->cap * 2 : 64;
				size_t *grown = realloc(a->offs, cap * sizeof(*grown));

				if (!grown) {
					fail_answer(a, "out of memory for its rows");
					return;
				}
				a->offs = grown;
				a->cap = cap;
			}
			a->offs[a->nrows++] = a->rows.len;
			dbos_buf_put(&a->rows, p, len);
			a->offs[a->nrows] = a->rows.len;
			if (a->rows.err) {
				fail_answer(a, "out of memory for its rows");
				return;
			}
			break;
		case DBOS_F_DONE:
			a->done = true;
			break;
		case DBOS_F_ERROR: {
			char *text = NULL;

			if (asprintf(&text, "error: %.*s", (int)len, (const char *)p) < 0)
				text = NULL;
			fail_answer(a, text ? text : "error");
			free(text);
			break;
		}
		default:
			fail_answer(a, "malformed answer");
			return;
		}
	}
}

/*
 * Send @body on @subject and gather the answers of the @nexp hosts in @exp
 * (and of any other host that answers before they all did) until the deadline.
 */
static int gather(struct dbos_fleet *f, const char *subject, char **exp, int nexp,
		  const struct dbos_buf *body, struct gathered *g, char **err)
{
	natsSubscription *sub = NULL;
	natsInbox *inbox = NULL;
	natsMsg *req = NULL;
	char tmo[16], reply[128], answers[136];
	int64_t deadline = fleet_now_ns() + (int64_t)f->timeout_ms * 1000000;
	int pending = nexp, rc = -1;
	natsStatus s;

	for (int i = 0; i < nexp; i++) {
		struct answer *a = answer_of(g, exp[i], true);

		if (!a)
			return fleet_errf(err, "out of memory");
		a->expected = true;
	}
	if (!nexp)
		return 0;
	snprintf(tmo, sizeof(tmo), "%d", f->timeout_ms);
	/* dbos.answer.<a unique token>: the token of a new inbox (_INBOX.<token>) */
	s = natsInbox_Create(&inbox);
	if (s == NATS_OK && (snprintf(reply, sizeof(reply), "%s%s", FLEET_SUBJECT_ANSWER,
				      strchr(inbox, '.') + 1) >= (int)sizeof(reply) ||
			     snprintf(answers, sizeof(answers), "%s.*", reply) >= (int)sizeof(answers)))
		s = NATS_ERR;
	if (s == NATS_OK)
		s = natsConnection_SubscribeSync(&sub, f->nc, answers);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(sub, -1, -1);
	if (s == NATS_OK)
		s = natsMsg_Create(&req, subject, reply, (const char *)body->data, (int)body->len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(req, FLEET_HDR_TIMEOUT, tmo);
	if (s == NATS_OK)
		s = natsConnection_PublishMsg(f->nc, req);
	if (s != NATS_OK) {
		fleet_errf(err, "fleet request on %s: %s", subject, natsStatus_GetText(s));
		goto out;
	}
	while (pending > 0) {
		int64_t left = (deadline - fleet_now_ns()) / 1000000;
		natsMsg *msg = NULL;
		const char *host = NULL;
		struct answer *a;

		if (left <= 0)
			break;
		s = natsSubscription_NextMsg(&msg, sub, left);
		if (s == NATS_TIMEOUT)
			break;
		if (s != NATS_OK) {
			fleet_errf(err, "fleet answers: %s", natsStatus_GetText(s));
			goto out;
		}
		/* who answers is the subject's last token, not what the message says */
		host = strrchr(natsMsg_GetSubject(msg), '.');
		if (host && fleet_name_ok(++host) && (a = answer_of(g, host, true))) {
			bool was = a->done;

			take_chunk(a, msg);
			if (a->done && !was && a->expected)
				pending--;
		}
		natsMsg_Destroy(msg);
	}
	for (int i = 0; i < g->nans; i++) {
		struct answer *a = &g->ans[i];
		char why[64];

		if (!a->done) {
			if (a->next_chunk)
				snprintf(why, sizeof(why), "incomplete answer within %d ms", f->timeout_ms);
			else
				snprintf(why, sizeof(why), "no answer within %d ms", f->timeout_ms);
			fail_answer(a, why);
		}
		if (a->failure)
			fleet_report(f, a->host, a->failure);
	}
	rc = 0;
out:
	natsMsg_Destroy(req);
	natsSubscription_Destroy(sub);
	natsInbox_Destroy(inbox);
	return rc;
}

/*
 * Who a request for @host (NULL: the connection's target) goes to: the
 * subject and the live members expected to answer (malloc()ed strings);
 * @any_target: @host even if the connection's target leaves it out.
 */
static int expected_hosts(struct dbos_fleet *f, const char *host, bool any_target,
			  char *subject, size_t size, char ***exp, int *nexp)
{
	int64_t now = fleet_now_ns();
	int n = 0;

	*exp = NULL;
	*nexp = 0;
	if (host && !fleet_name_ok(host))
		return 0;	/* no such host: nobody to ask */
	if (host)
		snprintf(subject, size, "%s%s", FLEET_SUBJECT_HOST, host);
	else if (!strcmp(f->target_kind, "host"))
		snprintf(subject, size, "%s%s", FLEET_SUBJECT_HOST, f->target);
	else if (!strcmp(f->target_kind, "label"))
		snprintf(subject, size, "%s%s", FLEET_SUBJECT_LABEL, f->target);
	else
		snprintf(subject, size, "%s", FLEET_SUBJECT_ALL);
	pthread_mutex_lock(&f->lock);
	*exp = calloc((size_t)f->nmembers + 1, sizeof(**exp));
	for (int i = 0; *exp && i < f->nmembers; i++) {
		struct member *m = &f->members[i];

		if (!fleet_member_live(m, now))
			continue;
		if (host && strcmp(m->host, host))
			continue;
		if (!any_target && !strcmp(f->target_kind, "host") && strcmp(m->host, f->target))
			continue;
		if (!any_target && !strcmp(f->target_kind, "label") && !has_label(m, f->target))
			continue;
		(*exp)[n++] = strdup(m->host);
	}
	pthread_mutex_unlock(&f->lock);
	if (!*exp)
		return -1;
	*nexp = n;
	return 0;
}

static void free_strings(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * Run one request: @sql with the parameters in @params (an 'R' payload, or
 * NULL) on the target, or on @host. The answers are cached for the current
 * statement: the same request again returns the same struct gathered.
 */
static struct gathered *request(struct dbos_fleet *f, const char *host, bool any_target,
				const char *sql, const struct dbos_buf *params, char **err)
{
	struct gathered *g;
	struct dbos_buf body;
	char subject[128], **exp = NULL;
	int nexp = 0;

	if (expected_hosts(f, host, any_target, subject, sizeof(subject), &exp, &nexp)) {
		fleet_errf(err, "out of memory");
		return NULL;
	}
	if (!nexp && (host || !strcmp(f->target_kind, "host")))
		fleet_report(f, host ? host : f->target, "not a live member of the fleet");
	dbos_buf_init(&body);
	dbos_frame_put(&body, DBOS_F_QUERY, sql, strlen(sql));
	if (params)
		dbos_frame_put(&body, DBOS_F_ROW, params->data, params->len);
	for (g = f->cache; g; g = g->next)
		if (g->key.len == body.len + strlen(subject) + 1 &&
		    !memcmp(g->key.data, subject, strlen(subject) + 1) &&
		    !memcmp(g->key.data + strlen(subject) + 1, body.data, body.len))
			break;
	if (g) {
		dbos_buf_free(&body);
		free_strings(exp, nexp);
		return g;
	}
	g = calloc(1, sizeof(*g));
	if (!g || body.err) {
		free(g);
		dbos_buf_free(&body);
		free_strings(exp, nexp);
		fleet_errf(err, "out of memory");
		return NULL;
	}
	dbos_buf_init(&g->key);
	dbos_buf_put(&g->key, subject, strlen(subject) + 1);
	dbos_buf_put(&g->key, body.data, body.len);
	if (gather(f, subject, exp, nexp, &body, g, err)) {
		gathered_free(g);
		g = NULL;
	} else {
		g->next = f->cache;
		f->cache = g;
	}
	dbos_buf_free(&body);
	free_strings(exp, nexp);
	return g;
}

static void cache_clear(struct dbos_fleet *f)
{
	while (f->cache) {
		struct gathered *g = f->cache;

		f->cache = g->next;
		gathered_free(g);
	}
}

/* ---- the fleet tables: virtual tables over scatter-gathers ---- */

struct ftab {
	sqlite3_vtab base;
	struct dbos_fleet *f;
	const struct fleet_table *t;	/* the host's columns (the table has one more: host) */
};

struct fcur {
	sqlite3_vtab_cursor base;
	struct gathered *g;
	int ans;		/* which answer */
	size_t row;		/* which row of it */
	int map[64];		/* table column - 1 -> column of the answer, or -1 */
	struct dbos_value *vals;
	int nvals;
};

static char *quote_ident(const char *s)
{
	return sqlite3_mprintf("\"%w\"", s);
}

/* argv: "dbos_fleet", schema, table, and the index of its struct fleet_table */
static int ftab_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
			sqlite3_vtab **out, char **err)
{
	struct dbos_fleet *f = aux;
	int n = argc == 4 ? atoi(argv[3]) : -1, rc;
	const struct fleet_table *ft;
	sqlite3_str *decl;
	struct ftab *t;

	if (n < 0 || n >= f->ntables) {
		*err = sqlite3_mprintf("dbos_fleet tables are made by the coordinator only");
		return SQLITE_ERROR;
	}
	ft = &f->tables[n];
	t = sqlite3_malloc(sizeof(*t));
	if (!t)
		return SQLITE_NOMEM;
	memset(t, 0, sizeof(*t));
	t->f = f;
	t->t = ft;
	decl = sqlite3_str_new(db);
	sqlite3_str_appendf(decl, "CREATE TABLE x(host TEXT");
	for (int i = 0; i < ft->ncols; i++)
		sqlite3_str_appendf(decl, ", \"%w\" %s", ft->cols[i], ft->types[i]);
	sqlite3_str_appendf(decl, ")");
	rc = sqlite3_declare_vtab(db, sqlite3_str_value(decl));
	sqlite3_free(sqlite3_str_finish(decl));
	if (rc != SQLITE_OK) {
		*err = sqlite3_mprintf("fleet table %s: %s", ft->name, sqlite3_errmsg(db));
		sqlite3_free(t);
		return rc;
	}
	*out = &t->base;
	return SQLITE_OK;
}

static int ftab_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

static const char *op_sql(unsigned char op)
{
	switch (op) {
	case SQLITE_INDEX_CONSTRAINT_EQ:	return "=";
	case SQLITE_INDEX_CONSTRAINT_GT:	return ">";
	case SQLITE_INDEX_CONSTRAINT_LE:	return "<=";
	case SQLITE_INDEX_CONSTRAINT_LT:	return "<";
	case SQLITE_INDEX_CONSTRAINT_GE:	return ">=";
	case SQLITE_INDEX_CONSTRAINT_NE:	return "<>";
	case SQLITE_INDEX_CONSTRAINT_IS:	return "IS";
	case SQLITE_INDEX_CONSTRAINT_ISNOT:	return "IS NOT";
	case SQLITE_INDEX_CONSTRAINT_LIKE:	return "LIKE";
	case SQLITE_INDEX_CONSTRAINT_GLOB:	return "GLOB";
	case SQLITE_INDEX_CONSTRAINT_ISNULL:	return "IS NULL";
	case SQLITE_INDEX_CONSTRAINT_ISNOTNULL:	return "IS NOT NULL";
	default:				return NULL;
	}
}

/*
 * The plan: idxNum bit 0 = argv[0] is a host to ask; idxStr = "<hex mask of
 * the host's columns used>;<the SQL the hosts run>", whose ?N are the
 * other argv values in order. Only constraints whose value SQLite knows now
 * (constants) are sent; the others (a join's) are checked here.
 */
static int ftab_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	struct ftab *t = (struct ftab *)vt;
	sqlite3_str *sql = sqlite3_str_new(NULL);
	sqlite3_uint64 used = info->colUsed;
	int argn = 0, host = -1, nwhere = 0, first = 1;
	double cost = 1e6;
	char *q;

	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *c = &info->aConstraint[i];
		sqlite3_value *rhs = NULL;

		if (!c->usable || c->iColumn < 0)
			continue;
		if (c->iColumn == 0) {
			if (host < 0 && c->op == SQLITE_INDEX_CONSTRAINT_EQ &&
			    sqlite3_vtab_rhs_value(info, i, &rhs) == SQLITE_OK &&
			    sqlite3_value_type(rhs) == SQLITE_TEXT)
				host = i;
			continue;
		}
		if (!op_sql(c->op) || strcmp(sqlite3_vtab_collation(info, i), "BINARY"))
			continue;
		if (c->op != SQLITE_INDEX_CONSTRAINT_ISNULL &&
		    c->op != SQLITE_INDEX_CONSTRAINT_ISNOTNULL &&
		    sqlite3_vtab_rhs_value(info, i, &rhs) != SQLITE_OK)
			continue;	/* not known at plan time: a join's */
	}
	if (host >= 0) {
		info->aConstraintUsage[host].argvIndex = ++argn;
		info->aConstraintUsage[host].omit = 1;
		info->idxNum = 1;
		cost /= 100;
	}
	sqlite3_str_appendf(sql, "%llx;SELECT ", (unsigned long long)used);
	for (int i = 1; i <= t->t->ncols; i++) {
		if (!(used & (1ULL << (i < 63 ? i : 63))))
			continue;
		q = quote_ident(t->t->cols[i - 1]);
		sqlite3_str_appendf(sql, "%s%s", first ? "" : ", ", q);
		sqlite3_free(q);
		first = 0;
	}
	if (first)
		sqlite3_str_appendf(sql, "1");
	q = quote_ident(t->t->name);
	sqlite3_str_appendf(sql, " FROM %s", q);
	sqlite3_free(q);
	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *c = &info->aConstraint[i];
		sqlite3_value *rhs = NULL;
		bool unary = c->op == SQLITE_INDEX_CONSTRAINT_ISNULL ||
			     c->op == SQLITE_INDEX_CONSTRAINT_ISNOTNULL;

		if (!c->usable || c->iColumn <= 0 || !op_sql(c->op) ||
		    strcmp(sqlite3_vtab_collation(info, i), "BINARY"))
			continue;
		if (!unary && sqlite3_vtab_rhs_value(info, i, &rhs) != SQLITE_OK)
			continue;
		q = quote_ident(t->t->cols[c->iColumn - 1]);
		sqlite3_str_appendf(sql, " %s %s %s", nwhere++ ? "AND" : "WHERE", q, op_sql(c->op));
		sqlite3_free(q);
		if (!unary) {
			info->aConstraintUsage[i].argvIndex = ++argn;
			sqlite3_str_appendf(sql, " ?%d", argn - (host >= 0));
		}
		info->aConstraintUsage[i].omit = 1;
		cost /= 10;
	}
	if (sqlite3_str_errcode(sql)) {
		sqlite3_free(sqlite3_str_finish(sql));
		return SQLITE_NOMEM;
	}
	info->idxStr = sqlite3_str_finish(sql);
	info->needToFreeIdxStr = 1;
	info->estimatedCost = cost;
	info->estimatedRows = (sqlite3_int64)cost;
	return SQLITE_OK;
}

static int fcur_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	struct fcur *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static int fcur_close(sqlite3_vtab_cursor *cur)
{
	struct fcur *c = (struct fcur *)cur;

	sqlite3_free(c->vals);
	sqlite3_free(c);
	return SQLITE_OK;
}

/* Skip to a row of an answer that has rows and no failure; decode it. */
static int settle(struct fcur *c)
{
	while (c->ans < c->g->nans) {
		struct answer *a = &c->g->ans[c->ans];

		if (!a->failure && c->row < a->nrows) {
			struct dbos_rd r;

			if (a->ncol > c->nvals) {
				struct dbos_value *v = sqlite3_realloc(c->vals,
						(int)sizeof(*v) * a->ncol);

				if (!v)
					return SQLITE_NOMEM;
				c->vals = v;
				c->nvals = a->ncol;
			}
			dbos_rd_init(&r, a->rows.data + a->offs[c->row],
				     a->offs[c->row + 1] - a->offs[c->row]);
			for (int i = 0; i < a->ncol; i++)
				if (dbos_rd_value(&r, &c->vals[i]))
					return SQLITE_CORRUPT;
			return SQLITE_OK;
		}
		c->ans++;
		c->row = 0;
	}
	return SQLITE_OK;
}

static int fcur_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str,
		       int argc, sqlite3_value **argv)
{
	struct fcur *c = (struct fcur *)cur;
	struct ftab *t = (struct ftab *)cur->pVtab;
	unsigned long long used = strtoull(idx_str, NULL, 16);
	const char *sql = strchr(idx_str, ';') + 1;
	const char *host = (idx_num & 1) ? (const char *)sqlite3_value_text(argv[0]) : NULL;
	struct dbos_buf params;
	char *err = NULL;
	int k = 0;

	for (int i = 1; i <= t->t->ncols && i <= 64; i++)
		c->map[i - 1] = (used & (1ULL << (i < 63 ? i : 63))) ? k++ : -1;
	dbos_buf_init(&params);
	for (int i = (idx_num & 1); i < argc; i++) {
		struct dbos_value v = { .type = DBOS_T_NULL };

		switch (sqlite3_value_type(argv[i])) {
		case SQLITE_INTEGER:
			v.type = DBOS_T_INT;
			v.i = sqlite3_value_int64(argv[i]);
			break;
		case SQLITE_FLOAT:
			v.type = DBOS_T_FLOAT;
			v.f = sqlite3_value_double(argv[i]);
			break;
		case SQLITE_TEXT:
			v.type = DBOS_T_TEXT;
			v.s = (const char *)sqlite3_value_text(argv[i]);
			v.len = (size_t)sqlite3_value_bytes(argv[i]);
			break;
		case SQLITE_BLOB:
			v.type = DBOS_T_BLOB;
			v.s = sqlite3_value_blob(argv[i]);
			v.len = (size_t)sqlite3_value_bytes(argv[i]);
			break;
		}
		dbos_buf_value(&params, &v);
	}
	c->g = params.err ? NULL :
	       request(t->f, host, false, sql, argc > (idx_num & 1) ? &params : NULL, &err);
	dbos_buf_free(&params);
	if (!c->g) {
		sqlite3_free(t->base.zErrMsg);
		t->base.zErrMsg = sqlite3_mprintf("%s", err ? err : "out of memory");
		free(err);
		return SQLITE_ERROR;
	}
	c->ans = 0;
	c->row = 0;
	return settle(c);
}

static int fcur_next(sqlite3_vtab_cursor *cur)
{
	struct fcur *c = (struct fcur *)cur;

	c->row++;
	return settle(c);
}

static int fcur_eof(sqlite3_vtab_cursor *cur)
{
	struct fcur *c = (struct fcur *)cur;

	return !c->g || c->ans >= c->g->nans;
}

static int fcur_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	struct fcur *c = (struct fcur *)cur;
	const struct dbos_value *v;
	int k;

	if (col == 0) {
		sqlite3_result_text(ctx, c->g->ans[c->ans].host, -1, SQLITE_TRANSIENT);
		return SQLITE_OK;
	}
	k = col <= 64 ? c->map[col - 1] : -1;
	if (k < 0 || k >= c->g->ans[c->ans].ncol)
		return SQLITE_OK;	/* NULL: not asked for */
	v = &c->vals[k];
	switch (v->type) {
	case DBOS_T_INT:
		sqlite3_result_int64(ctx, v->i);
		break;
	case DBOS_T_FLOAT:
		sqlite3_result_double(ctx, v->f);
		break;
	case DBOS_T_TEXT:
		sqlite3_result_text64(ctx, v->s, v->len, SQLITE_TRANSIENT, SQLITE_UTF8);
		break;
	case DBOS_T_BLOB:
		sqlite3_result_blob64(ctx, v->s, v->len, SQLITE_TRANSIENT);
		break;
	}
	return SQLITE_OK;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ULL;
	return h;
}

struct hashed_row {
	uint64_t h;
	size_t r;
};

static int by_hash_then_row(const void *x, const void *y)
{
	const struct hashed_row *a = x, *b = y;

	if (a->h != b->h)
		return a->h < b->h ? -1 : 1;
	return a->r < b->r ? -1 : a->r > b->r;
}

static bool same_row(const struct answer *a, size_t r1, size_t r2)
{
	size_t len = a->offs[r1 + 1] - a->offs[r1];

	return a->offs[r2 + 1] - a->offs[r2] == len &&
	       !memcmp(a->rows.data + a->offs[r1], a->rows.data + a->offs[r2], len);
}

/*
 * A row's id is what it is, not where it came: a hash of its host and its
 * bytes, with its rank among identical rows of that answer in the low bits.
 * SQLite's OR optimization scans a table once per OR term and drops rows
 * whose rowid an earlier term gave; the same row found by two terms (two
 * requests, same columns) must have the same id, and two different rows
 * different ones (a position would give both scans' first rows id 0, and
 * drop one). The rank keeps two identical rows two rows when a later term's
 * answer has more of them than an earlier one's (the host changed between
 * the requests).
 * Computed for all of an answer's rows at its first rowid: the rows sorted by
 * hash, each group of equal hashes split into identical rows, O(n log n)
 * (each row compared with every row before it was O(n) a row).
 */
static int row_ids(struct answer *a)
{
	uint64_t seed = fnv1a(0xcbf29ce484222325ULL, a->host, strlen(a->host) + 1);
	size_t *firsts, *counts, n = a->nrows, cap = n ? n : 1;
	struct hashed_row *v;

	if (a->ids && a->nids == n)
		return 0;
	free(a->ids);
	a->nids = 0;
	a->ids = malloc(cap * sizeof(*a->ids));
	v = malloc(cap * sizeof(*v));
	firsts = malloc(cap * sizeof(*firsts));	/* a hash group's distinct rows */
	counts = malloc(cap * sizeof(*counts));	/* ... and how many of each so far */
	if (!a->ids || !v || !firsts || !counts) {
		free(a->ids);
		a->ids = NULL;
		free(v);
		free(firsts);
		free(counts);
		return -1;
	}
	for (size_t r = 0; r < n; r++) {
		v[r].h = fnv1a(seed, a->rows.data + a->offs[r], a->offs[r + 1] - a->offs[r]);
		v[r].r = r;
	}
	qsort(v, n, sizeof(*v), by_hash_then_row);
	for (size_t i = 0, j; i < n; i = j) {
		size_t ndistinct = 0;

		for (j = i; j < n && v[j].h == v[i].h; j++) {
			size_t d = 0;

			while (d < ndistinct && !same_row(a, firsts[d], v[j].r))
				d++;
			if (d == ndistinct) {
				firsts[ndistinct] = v[j].r;
				counts[ndistinct++] = 0;
			}
			a->ids[v[j].r] = (int64_t)(((v[j].h << 16) | (counts[d]++ & 0xffff)) & INT64_MAX);
		}
	}
	free(v);
	free(firsts);
	free(counts);
	a->nids = n;
	return 0;
}

static int fcur_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	struct fcur *c = (struct fcur *)cur;
	struct answer *a = &c->g->ans[c->ans];

	if (row_ids(a))
		return SQLITE_NOMEM;
	*rowid = a->ids[c->row];
	return SQLITE_OK;
}

static const sqlite3_module fleet_module = {
	.iVersion = 1,
	.xCreate = ftab_connect,
	.xConnect = ftab_connect,
	.xBestIndex = ftab_best_index,
	.xDisconnect = ftab_disconnect,
	.xDestroy = ftab_disconnect,
	.xOpen = fcur_open,
	.xClose = fcur_close,
	.xFilter = fcur_filter,
	.xNext = fcur_next,
	.xEof = fcur_eof,
	.xColumn = fcur_column,
	.xRowid = fcur_rowid,
};

/* ---- the coordinator's database ---- */

/*
 * Reads, and writes to fleet_policies (fleet_policy.c): a fleet statement
 * changes nothing on a host, and nothing here but the fleet's policy. Of
 * the pragmas, the two that describe a table's columns (the shell's
 * .schema, as their table-valued functions).
 */
static int authorize(void *arg, int action, const char *a, const char *b, const char *db,
		     const char *trigger)
{
	int r = fleet_policy_authorize(arg, action, a);

	if (r >= 0)
		return r;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_FUNCTION:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_PRAGMA:
		return a && (!strcmp(a, "table_info") || !strcmp(a, "table_xinfo")) ?
		       SQLITE_OK : SQLITE_DENY;
	case SQLITE_UPDATE:
		/*
		 * SQLite asks this of sqlite_master's columns when a statement
		 * opens an eponymous virtual table such as pragma_table_info;
		 * ignored, it changes nothing (SQL cannot write sqlite_master
		 * without the pragma writable_schema, refused above).
		 */
		return a && !strcmp(a, "sqlite_master") ? SQLITE_IGNORE : SQLITE_DENY;
	default:
		return SQLITE_DENY;
	}
}

/* A name a host's schema may give: an identifier, or a type's words. */
static bool plain(const struct dbos_value *v, bool spaces)
{
	if (v->type != DBOS_T_TEXT || !v->len || v->len > 64)
		return false;
	for (size_t i = 0; i < v->len; i++) {
		char ch = v->s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
		      (i && ch >= '0' && ch <= '9') || (spaces && ch == ' ')))
			return false;
	}
	return true;
}

static struct fleet_table *table_add(struct dbos_fleet *f, const struct dbos_value *name)
{
	struct fleet_table *grown = realloc(f->tables, (size_t)(f->ntables + 1) * sizeof(*grown));

	if (!grown)
		return NULL;
	f->tables = grown;
	memset(&f->tables[f->ntables], 0, sizeof(f->tables[0]));
	f->tables[f->ntables].name = strndup(name->s, name->len);
	return f->tables[f->ntables].name ? &f->tables[f->ntables++] : NULL;
}

static int column_add(struct fleet_table *t, const struct dbos_value *name,
		      const struct dbos_value *type)
{
	char **c = realloc(t->cols, (size_t)(t->ncols + 1) * sizeof(*c));
	char **ty;

	if (!c)
		return -1;
	t->cols = c;
	ty = realloc(t->types, (size_t)(t->ncols + 1) * sizeof(*ty));
	if (!ty)
		return -1;
	t->types = ty;
	t->cols[t->ncols] = strndup(name->s, name->len);
	t->types[t->ncols] = plain(type, true) ? strndup(type->s, type->len) : strdup("");
	if (!t->cols[t->ncols] || !t->types[t->ncols]) {
		free(t->cols[t->ncols]);
		free(t->types[t->ncols]);
		return -1;
	}
	t->ncols++;
	return 0;
}

/*
 * Learn the tables from one live host (its dbos_schema: names only of
 * identifiers, at most 63 columns each; anything else is skipped, for a
 * host's answer is not trusted to be well-formed) and create them here.
 */
static int load_schema(struct dbos_fleet *f, char **err)
{
	int64_t now = fleet_now_ns();
	char **hosts;
	int nhosts = 0, rc = 0;

	/* any live member, whatever the target: the tables are the fleet's */
	pthread_mutex_lock(&f->lock);
	hosts = calloc((size_t)f->nmembers + 1, sizeof(*hosts));
	for (int i = 0; hosts && i < f->nmembers; i++)
		if (fleet_member_live(&f->members[i], now))
			hosts[nhosts++] = strdup(f->members[i].host);
	pthread_mutex_unlock(&f->lock);
	if (!hosts)
		return fleet_errf(err, "out of memory");
	for (int h = 0; h < nhosts && h < 3 && !f->ntables; h++) {
		struct gathered *g = request(f, hosts[h], true, SCHEMA_SQL, NULL, err);
		struct answer *a = g ? answer_of(g, hosts[h], false) : NULL;
		struct fleet_table *t = NULL;

		if (!g) {
			rc = -1;
			break;
		}
		if (!a || a->failure || a->ncol != 3)
			continue;
		for (size_t r = 0; r < a->nrows; r++) {
			struct dbos_value v[3];
			struct dbos_rd rd;
			int i;

			dbos_rd_init(&rd, a->rows.data + a->offs[r], a->offs[r + 1] - a->offs[r]);
			for (i = 0; i < 3 && !dbos_rd_value(&rd, &v[i]); i++)
				;
			if (i < 3 || !plain(&v[0], false) || !plain(&v[1], false))
				continue;
			if (!t || strlen(t->name) != v[0].len || memcmp(t->name, v[0].s, v[0].len)) {
				t = table_add(f, &v[0]);
				if (!t) {
					rc = fleet_errf(err, "out of memory");
					break;
				}
			}
			if (t->ncols < 63 && column_add(t, &v[1], &v[2])) {
				rc = fleet_errf(err, "out of memory");
				break;
			}
		}
	}
	cache_clear(f);	/* (hosts that did not answer stay reported) */
	free_strings(hosts, nhosts);
	for (int i = 0; !rc && i < f->ntables; i++) {
		char *ddl = sqlite3_mprintf("CREATE VIRTUAL TABLE \"%w\" USING dbos_fleet(%d)",
					    f->tables[i].name, i);
		char *e = NULL;

		if (!ddl || sqlite3_exec(f->db, ddl, NULL, NULL, &e) != SQLITE_OK)
			rc = fleet_errf(err, "fleet table %s: %s", f->tables[i].name,
					e ? e : "out of memory");
		sqlite3_free(e);
		sqlite3_free(ddl);
	}
	return rc;
}

/* Fill fleet_hosts with the members as they are now. */
static int refresh_hosts(struct dbos_fleet *f)
{
	sqlite3_stmt *st = NULL;
	int64_t now = fleet_now_ns();
	int rc = sqlite3_exec(f->db, "DELETE FROM fleet_hosts", NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(f->db, "INSERT INTO fleet_hosts VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
					-1, &st, NULL);
	pthread_mutex_lock(&f->lock);
	for (int i = 0; rc == SQLITE_OK && i < f->nmembers; i++) {
		const struct member *m = &f->members[i];
		size_t ll = m->labels ? strlen(m->labels) : 0;

		sqlite3_bind_text(st, 1, m->host, -1, SQLITE_STATIC);
		/* ",a,b," -> "a,b" */
		sqlite3_bind_text(st, 2, ll > 2 ? m->labels + 1 : "", ll > 2 ? (int)ll - 2 : 0,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 3, m->version ? m->version : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, m->started_ms);
		sqlite3_bind_int64(st, 5, m->seen_ns / 1000000);
		sqlite3_bind_int(st, 6, fleet_member_live(m, now));
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = SQLITE_ERROR;
		sqlite3_reset(st);
	}
	pthread_mutex_unlock(&f->lock);
	sqlite3_finalize(st);
	return rc;
}

struct dbos_fleet *dbos_fleet_connect(const struct dbos_fleet_options *o, char **errmsg)
{
	struct fleet_nats nats = { .url = o->url, .creds = o->creds, .ca = o->ca,
				   .cert = o->cert, .key = o->key, .name = "dbos fleet coordinator" };
	struct dbos_fleet *f = calloc(1, sizeof(*f));
	const char *target = o->target && *o->target ? o->target : "all";
	kvEntry *e;
	natsStatus s;

	if (errmsg)
		*errmsg = NULL;
	if (!f) {
		fleet_errf(errmsg, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&f->lock, NULL);
	f->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	if (f->timeout_ms > FLEET_TIMEOUT_MAX_MS)
		f->timeout_ms = FLEET_TIMEOUT_MAX_MS;
	if (!strcmp(target, "all")) {
		f->target_kind = strdup("all");
		f->target = strdup("");
	} else if (!strncmp(target, "host:", 5) || !strncmp(target, "label:", 6)) {
		const char *colon = strchr(target, ':');

		f->target_kind = strndup(target, (size_t)(colon - target));
		f->target = strdup(colon + 1);
		if (f->target && !fleet_name_ok(f->target)) {
			fleet_errf(errmsg, "'%s' is not a fleet %s (1-%d letters, digits, '-' or '_')",
				   f->target, f->target_kind, FLEET_NAME_MAX);
			goto fail;
		}
	} else {
		fleet_errf(errmsg, "fleet target '%s': all, host:ID or label:NAME", target);
		goto fail;
	}
	if (!f->target_kind || !f->target) {
		fleet_errf(errmsg, "out of memory");
		goto fail;
	}
	if (fleet_connect(&nats, false, &f->nc, errmsg))
		goto fail;
	s = natsConnection_JetStream(&f->js, f->nc, NULL);
	if (s != NATS_OK) {
		fleet_errf(errmsg, "JetStream: %s", natsStatus_GetText(s));
		goto fail;
	}
	if (fleet_hosts_bucket(f->js, false, &f->kv, errmsg))
		goto fail;
	if (f->kv) {
		s = kvStore_WatchAll(&f->watch, f->kv, NULL);
		/* the entries there are now, up to the NULL that ends them */
		while (s == NATS_OK) {
			e = NULL;
			s = kvWatcher_Next(&e, f->watch, 2000);
			if (s != NATS_OK || !e)
				break;
			apply_entry(f, e);
			kvEntry_Destroy(e);
		}
		if (s != NATS_OK) {
			fleet_errf(errmsg, "reading the fleet's members: %s", natsStatus_GetText(s));
			goto fail;
		}
		if (pthread_create(&f->watcher, NULL, watch_main, f)) {
			fleet_errf(errmsg, "cannot start the membership thread");
			goto fail;
		}
		f->watching = true;
	}
	if (sqlite3_open_v2(":memory:", &f->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_create_module(f->db, "dbos_fleet", &fleet_module, f) != SQLITE_OK ||
	    sqlite3_exec(f->db, "CREATE TABLE fleet_hosts(host TEXT PRIMARY KEY, labels TEXT, "
			 "version TEXT, started INTEGER, seen INTEGER, live INTEGER)",
			 NULL, NULL, NULL) != SQLITE_OK || fleet_policy_open(f) != SQLITE_OK) {
		fleet_errf(errmsg, "the coordinator's database: %s",
			   f->db ? sqlite3_errmsg(f->db) : "out of memory");
		goto fail;
	}
	return f;
fail:
	dbos_fleet_close(f);
	return NULL;
}

/* The callbacks of one statement's result; 0, or -1 when one aborted. */
static int deliver(sqlite3_stmt *st, int rc, const struct dbos_callbacks *cb, void *arg)
{
	int ncol = sqlite3_column_count(st);
	struct dbos_value vals[ncol > 0 ? ncol : 1];
	const char *names[ncol > 0 ? ncol : 1];

	if (!ncol)
		return 0;
	for (int i = 0; i < ncol; i++)
		names[i] = sqlite3_column_name(st, i);
	if (cb && cb->on_columns && cb->on_columns(arg, ncol, names))
		return -1;
	for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
		for (int i = 0; i < ncol; i++)
			fleet_column_value(st, i, &vals[i]);
		if (cb && cb->on_row && cb->on_row(arg, ncol, vals))
			return -1;
	}
	return rc == SQLITE_DONE ? 0 : 1;
}

int dbos_fleet_query(struct dbos_fleet *f, const char *sql, const struct dbos_callbacks *cb,
		     void *arg, char **errmsg)
{
	const char *next = sql;
	int rc = 0;

	if (errmsg)
		*errmsg = NULL;
	reports_clear(f);
	cache_clear(f);
	if (refresh_hosts(f) != SQLITE_OK)
		return fleet_errf(errmsg, "fleet_hosts: %s", sqlite3_errmsg(f->db));
	sqlite3_set_authorizer(f->db, authorize, f);
	while (!rc && next && *next) {
		sqlite3_stmt *st = NULL;
		const char *this = next;
		int prc, step, d;

		f->touched = 0;
		prc = sqlite3_prepare_v2(f->db, this, -1, &st, &next);
		if (prc != SQLITE_OK && !f->ntables && strstr(sqlite3_errmsg(f->db), "no such table")) {
			/* the hosts' tables are learnt when a statement first needs them */
			sqlite3_set_authorizer(f->db, NULL, NULL);
			rc = load_schema(f, errmsg);
			sqlite3_set_authorizer(f->db, authorize, f);
			if (rc)
				break;
			f->touched = 0;
			prc = sqlite3_prepare_v2(f->db, this, -1, &st, &next);
		}
		if (prc != SQLITE_OK) {
			rc = prc == SQLITE_AUTH ?
				fleet_errf(errmsg, "not authorized: a fleet query only reads (and "
					   "writes fleet_policies)") :
				fleet_errf(errmsg, "%s", sqlite3_errmsg(f->db));
			break;
		}
		if (!st)
			continue;	/* blank or a comment */
		sqlite3_set_authorizer(f->db, NULL, NULL);
		rc = fleet_policy_before(f, errmsg);
		sqlite3_set_authorizer(f->db, authorize, f);
		if (rc) {
			sqlite3_finalize(st);
			break;
		}
		step = sqlite3_step(st);
		d = step == SQLITE_ROW || step == SQLITE_DONE ? deliver(st, step, cb, arg) : 1;
		if (d < 0)
			rc = fleet_errf(errmsg, "query aborted");
		else if (d > 0)
			rc = fleet_errf(errmsg, "%s", sqlite3_errmsg(f->db));
		sqlite3_finalize(st);
		cache_clear(f);
		sqlite3_set_authorizer(f->db, NULL, NULL);
		if (fleet_policy_after(f, cb, arg, rc ? NULL : errmsg))
			rc = -1;
		sqlite3_set_authorizer(f->db, authorize, f);
	}
	sqlite3_set_authorizer(f->db, NULL, NULL);
	return rc;
}

int dbos_fleet_report(const struct dbos_fleet *f, int i, const char **host, const char **reason)
{
	if (i < 0 || i >= f->nreports)
		return 0;
	*host = f->reports[i].host;
	*reason = f->reports[i].reason;
	return 1;
}

int dbos_fleet_hosts(struct dbos_fleet *f, int *live)
{
	int64_t now = fleet_now_ns();
	int n = 0;

	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < f->nmembers; i++)
		n += fleet_member_live(&f->members[i], now);
	if (live)
		*live = n;
	n = f->nmembers;
	pthread_mutex_unlock(&f->lock);
	return n;
}

void dbos_fleet_close(struct dbos_fleet *f)
{
	if (!f)
		return;
	if (f->watching) {
		kvWatcher_Stop(f->watch);
		pthread_join(f->watcher, NULL);
	}
	kvWatcher_Destroy(f->watch);
	fleet_policy_close(f);
	cache_clear(f);
	reports_clear(f);
	sqlite3_close(f->db);
	for (int i = 0; i < f->ntables; i++) {
		for (int c = 0; c < f->tables[i].ncols; c++) {
			free(f->tables[i].cols[c]);
			free(f->tables[i].types[c]);
		}
		free(f->tables[i].cols);
		free(f->tables[i].types);
		free(f->tables[i].name);
	}
	free(f->tables);
	for (int i = 0; i < f->nmembers; i++)
		member_free(&f->members[i]);
	free(f->members);
	kvStore_Destroy(f->kv);
	jsCtx_Destroy(f->js);
	if (f->nc)
		natsConnection_Close(f->nc);
	natsConnection_Destroy(f->nc);
	free(f->target_kind);
	free(f->target);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
