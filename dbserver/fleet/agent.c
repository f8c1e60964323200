// SPDX-License-Identifier: GPL-2.0
/* agent.c - a host in the fleet: membership heartbeat and read-only answers to fleet queries over NATS. */

/*
 * THREADS AND LOCKS
 *
 *   libnats delivers each subscription's messages on its own thread; those
 *   callbacks only queue the message (agent.lock, a bounded queue) and wake
 *   the agent's thread, which owns the SQLite connection and does
 *   everything else: runs the queries one after the other, publishes the
 *   answers, puts the membership entry every heartbeat. A query that finds
 *   the queue full is answered at once, from the callback, with "busy".
 *   With a policy to follow (apply_policy), a second thread of the agent
 *   watches the fleet's policy key and applies each version; it tells the
 *   agent's thread what it enforces through pol_* (a new state is put in
 *   the membership entry at once: beat_now).
 *   agent.lock protects queue, nqueued, stopping, pwatch, pol_* and
 *   beat_now; nothing else is shared. pwake wakes the policy thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbserver/fleet/agent.h"

#define QUEUE_MAX	64
#define MAX_LABELS	16
#define MAX_EVENT_TABLES 8
#define EVENTS_EVERY_MS	1000	/* how often new history rows are looked for */
#define EVENTS_BUDGET_MS 200	/* the longest one round of publishing lasts */
#define DEFAULT_TIMEOUT_MS 2000

struct fleet_agent {
	char host[FLEET_NAME_MAX + 1];
	char *labels;			/* as given, comma-separated ("" if none) */
	char *version;
	int heartbeat_ms;
	int (*open_db)(void *arg, sqlite3 **db, char **err);
	void *open_arg;
	const char *(*errmsg)(sqlite3 *db);

	natsConnection *nc;
	jsCtx *js;
	kvStore *kv;			/* NULL until the bucket could be bound */
	natsSubscription *subs[2 + MAX_LABELS];
	int nsubs;
	int64_t started_ms;

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	natsMsg *queue[QUEUE_MAX];	/* FIFO, under lock */
	int head, nqueued;
	bool stopping;

	/* fleet policy: the policy thread's; pol_*, beat_now and pwatch under lock */
	int (*apply_policy)(void *arg, const struct fleet_rule *rules, size_t n, uint64_t version,
			    uint64_t *local, char **err);
	void *policy_arg;
	pthread_t policy_thread;
	bool policy_running;
	pthread_cond_t pwake;
	kvWatcher *pwatch;		/* stopped by fleet_agent_stop() */
	bool pol_known, beat_now;
	uint64_t pol_version, pol_local;
	uint64_t pol_failed;		/* the version pol_error is about */
	char *pol_error;		/* why the last version seen is not enforced */

	/* history publishing (agent's thread only) */
	const char *ev_table[MAX_EVENT_TABLES];
	int nev;
	uint64_t ev_last[MAX_EVENT_TABLES];	/* the last seq published */
	bool ev_known[MAX_EVENT_TABLES];	/* ev_last read from the stream */
	bool ev_failed[MAX_EVENT_TABLES];	/* said why it cannot (once) */
	bool ev_stream;				/* the stream exists */

	/* the current query (agent's thread only) */
	struct dbos_buf out;
	int chunk;
	size_t sent;
	struct timespec deadline;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void say(const struct fleet_agent *a, const char *fmt, const char *what)
{
	fprintf(stderr, "fleet %s: ", a->host);
	fprintf(stderr, fmt, what);
	fputc('\n', stderr);
}

/* Where @msg's answer goes: its reply subject if it is dbos.answer.<one token>, else NULL. */
static const char *answer_to(natsMsg *msg)
{
	const char *reply = natsMsg_GetReply(msg);
	size_t n = strlen(FLEET_SUBJECT_ANSWER);

	if (!reply || strncmp(reply, FLEET_SUBJECT_ANSWER, n) || !reply[n] ||
	    strpbrk(reply + n, ".*> \t"))
		return NULL;
	return reply;
}

/*
 * Publish @len bytes of frames as chunk @chunk of this host's answer on
 * @reply (on <reply>.<host>: what NATS permissions can pin to the host,
 * ARCHITECTURE "The fleet"). 0, or -1.
 */
static int publish_answer(const struct fleet_agent *a, natsConnection *nc, const char *reply,
			  const void *data, size_t len, int chunk)
{
	natsMsg *m = NULL;
	char num[16], subject[256];
	natsStatus s;

	snprintf(subject, sizeof(subject), "%s.%s", reply, a->host);
	snprintf(num, sizeof(num), "%d", chunk);
	s = natsMsg_Create(&m, subject, NULL, (const char *)data, (int)len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, FLEET_HDR_HOST, a->host);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, FLEET_HDR_CHUNK, num);
	if (s == NATS_OK)
		s = natsConnection_PublishMsg(nc, m);
	natsMsg_Destroy(m);
	return s == NATS_OK ? 0 : -1;
}

/* Publish a->out as chunk a->chunk of the answer on @reply; empties a->out. */
static int publish_chunk(struct fleet_agent *a, const char *reply)
{
	int ret = publish_answer(a, a->nc, reply, a->out.data, a->out.len, a->chunk++);

	a->sent += a->out.len;
	dbos_buf_reset(&a->out);
	return ret;
}

/* End the answer with an 'E' frame saying @text. */
static void answer_error(struct fleet_agent *a, const char *reply, const char *text)
{
	dbos_frame_put(&a->out, DBOS_F_ERROR, text, strlen(text));
	publish_chunk(a, reply);
}

/* SQLite's progress handler: stop the statement at the deadline. */
static int past_deadline(void *arg)
{
	struct fleet_agent *a = arg;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec > a->deadline.tv_sec ||
	       (ts.tv_sec == a->deadline.tv_sec && ts.tv_nsec >= a->deadline.tv_nsec);
}

static int request_timeout_ms(natsMsg *msg)
{
	const char *v = NULL;
	long ms;

	if (natsMsgHeader_Get(msg, FLEET_HDR_TIMEOUT, &v) != NATS_OK || !v)
		return DEFAULT_TIMEOUT_MS;
	ms = strtol(v, NULL, 10);
	if (ms <= 0)
		return DEFAULT_TIMEOUT_MS;
	return ms > FLEET_TIMEOUT_MAX_MS ? FLEET_TIMEOUT_MAX_MS : (int)ms;
}

/*
 * Split the request body into its 'Q' text and its optional 'R' payload.
 * NULL, or the reason the request is malformed.
 */
static const char *parse_request(natsMsg *msg, const char **sql, size_t *sql_len,
				 struct dbos_rd *params)
{
	struct dbos_rd r;
	uint32_t len;
	uint8_t type;
	const uint8_t *p;

	dbos_rd_init(&r, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
	dbos_rd_init(params, NULL, 0);
	len = dbos_rd_u32(&r);
	type = dbos_rd_u8(&r);
	p = dbos_rd_bytes(&r, len);
	if (r.err || type != DBOS_F_QUERY)
		return "protocol error: a fleet query starts with a 'Q' frame";
	*sql = (const char *)p;
	*sql_len = len;
	if (!r.left)
		return NULL;
	len = dbos_rd_u32(&r);
	type = dbos_rd_u8(&r);
	p = dbos_rd_bytes(&r, len);
	if (r.err || type != DBOS_F_ROW || r.left)
		return "protocol error: after 'Q', only one 'R' frame (the parameters)";
	dbos_rd_init(params, p, len);
	return NULL;
}

/* Bind the values in @params to ?1, ?2, ... NULL, or what is wrong. */
static const char *bind_params(sqlite3_stmt *st, struct dbos_rd *params)
{
	struct dbos_value v;
	int i = 0;

	while (params->left) {
		if (dbos_rd_value(params, &v))
			return "protocol error: a malformed parameter";
		if (++i > sqlite3_bind_parameter_count(st))
			return "more parameters than the statement has";
		if (fleet_bind_value(st, i, &v) != SQLITE_OK)
			return "a parameter could not be bound";
	}
	return NULL;
}

static bool only_space(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ';')
			return false;
	return true;
}

/* Append the 'C' frame of @st's column names to @b. */
static void put_columns_of(struct dbos_buf *b, sqlite3_stmt *st, int ncol)
{
	size_t start = dbos_frame_begin(b, DBOS_F_COLUMNS);

	dbos_buf_u16(b, (uint16_t)ncol);
	for (int i = 0; i < ncol; i++) {
		const char *n = sqlite3_column_name(st, i);
		size_t len = n ? strlen(n) : 0;

		dbos_buf_u16(b, (uint16_t)len);
		dbos_buf_put(b, n, len);
	}
	dbos_frame_end(b, start);
}

/* Append @st's current row as an 'R' frame. 0, or -1 (too big: a->out.err). */
static int put_row(struct fleet_agent *a, sqlite3_stmt *st, int ncol)
{
	size_t start = dbos_frame_begin(&a->out, DBOS_F_ROW);
	struct dbos_value v;

	for (int i = 0; i < ncol; i++) {
		fleet_column_value(st, i, &v);
		dbos_buf_value(&a->out, &v);
	}
	if (dbos_frame_end(&a->out, start) || a->out.err)
		return -1;
	return 0;
}

/* Run one query and publish its answer. */
static void serve(struct fleet_agent *a, sqlite3 *db, natsMsg *msg)
{
	const char *reply = answer_to(msg), *sql = NULL, *tail, *why;
	struct dbos_rd params;
	sqlite3_stmt *st = NULL;
	size_t sql_len = 0;
	int ncol, rc, ms;
	char text[160];

	if (!reply)
		return;		/* nobody to answer, or not where answers go */
	a->chunk = 0;
	a->sent = 0;
	dbos_buf_reset(&a->out);
	why = parse_request(msg, &sql, &sql_len, &params);
	if (why) {
		answer_error(a, reply, why);
		return;
	}
	ms = request_timeout_ms(msg);
	clock_gettime(CLOCK_MONOTONIC, &a->deadline);
	a->deadline.tv_sec += ms / 1000;
	a->deadline.tv_nsec += (long)(ms % 1000) * 1000000;
	if (a->deadline.tv_nsec >= 1000000000) {
		a->deadline.tv_sec++;
		a->deadline.tv_nsec -= 1000000000;
	}
	rc = sqlite3_prepare_v3(db, sql, (int)sql_len, 0, &st, &tail);
	if (rc != SQLITE_OK) {
		answer_error(a, reply, a->errmsg(db));
		return;
	}
	if (!st) {
		answer_error(a, reply, "empty query");
		return;
	}
	why = !only_space(tail, sql + sql_len) ? "a fleet query is one statement" :
	      !sqlite3_stmt_readonly(st) || !sqlite3_column_count(st) ?
		"a fleet query only reads: this host runs no statement that writes" :
	      bind_params(st, &params);
	if (why) {
		sqlite3_finalize(st);
		answer_error(a, reply, why);
		return;
	}
	ncol = sqlite3_column_count(st);
	sqlite3_progress_handler(db, 1000, past_deadline, a);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (a->chunk == 0 && !a->out.len)
			put_columns_of(&a->out, st, ncol);	/* the names go first, in chunk 0 */
		if (put_row(a, st, ncol)) {
			rc = SQLITE_TOOBIG;
			break;
		}
		if (a->sent + a->out.len > FLEET_RESULT_MAX) {
			rc = SQLITE_TOOBIG;
			break;
		}
		if (a->out.len >= FLEET_CHUNK && publish_chunk(a, reply)) {
			rc = SQLITE_ABORT;
			break;
		}
	}
	sqlite3_progress_handler(db, 0, NULL, NULL);
	if (rc == SQLITE_DONE && a->chunk == 0 && !a->out.len) {
		put_columns_of(&a->out, st, ncol);	/* no rows: still say which columns */
	}
	if (rc == SQLITE_DONE) {
		uint8_t zero[8] = { 0 };

		dbos_frame_put(&a->out, DBOS_F_DONE, zero, sizeof(zero));
		publish_chunk(a, reply);
	} else {
		if (rc == SQLITE_TOOBIG)
			snprintf(text, sizeof(text), "result larger than %u MiB: the host stopped",
				 FLEET_RESULT_MAX >> 20);
		else if (rc == SQLITE_INTERRUPT)
			snprintf(text, sizeof(text), "statement stopped at the coordinator's "
				 "deadline (%d ms)", ms);
		else
			snprintf(text, sizeof(text), "%s", a->errmsg(db));
		dbos_buf_reset(&a->out);
		answer_error(a, reply, text);
	}
	sqlite3_finalize(st);
}

/* ---- history: the rows of the history tables to the fleet's stream (agent's thread) ---- */

/* Say once per table why its rows cannot be published. */
static void events_failed(struct fleet_agent *a, int i, const char *why)
{
	char text[400];

	if (a->ev_failed[i])
		return;
	a->ev_failed[i] = true;
	snprintf(text, sizeof(text), "%s: %s (retrying)", a->ev_table[i], why);
	say(a, "history not published: %s", text);
}

/* Read the last seq this host published of table @i from the stream. 0, or -1. */
static int events_resume(struct fleet_agent *a, int i)
{
	char subject[160];
	const char *v = NULL;
	jsErrCode jerr = 0;
	natsMsg *m = NULL;
	natsStatus s;

	snprintf(subject, sizeof(subject), FLEET_SUBJECT_EVENTS "%s.%s", a->host, a->ev_table[i]);
	s = js_GetLastMsg(&m, a->js, FLEET_EVENTS_STREAM, subject, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) {
		a->ev_last[i] = 0;	/* nothing yet (or all aged out): from the start */
	} else if (s != NATS_OK) {
		events_failed(a, i, natsStatus_GetText(s));
		return -1;
	} else {
		if (natsMsgHeader_Get(m, FLEET_HDR_LAST, &v) != NATS_OK || !v) {
			natsMsg_Destroy(m);
			events_failed(a, i, "the stream's last message has no " FLEET_HDR_LAST);
			return -1;
		}
		a->ev_last[i] = strtoull(v, NULL, 10);
		natsMsg_Destroy(m);
	}
	a->ev_known[i] = true;
	return 0;
}

/* The name of SQLite type code @t. */
static const char *type_name(int t)
{
	return t == SQLITE_INTEGER ? "INTEGER" : t == SQLITE_FLOAT ? "REAL" :
	       t == SQLITE_BLOB ? "BLOB" : "TEXT";
}

/*
 * Publish table @i's next rows (after ev_last) as one message, and wait for
 * JetStream's ack. The number of rows published (0: none new), or -1;
 * *@full: the message was full (more rows may wait).
 */
static int events_batch(struct fleet_agent *a, sqlite3 *db, int i, bool *full)
{
	char sql[200], subject[160], id[200], num[24], types[1024] = "";
	struct dbos_buf b;
	sqlite3_stmt *st = NULL;
	uint64_t first = 0, last = 0;
	int ncol, seqcol = -1, n = 0, rc;
	jsPubOptions po;
	jsErrCode jerr = 0;
	jsPubAck *ack = NULL;
	natsMsg *m = NULL;
	natsStatus s;

	snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" WHERE seq > ?1 ORDER BY seq LIMIT %d",
		 a->ev_table[i], FLEET_EVENTS_BATCH);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		events_failed(a, i, a->errmsg(db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)a->ev_last[i]);
	ncol = sqlite3_column_count(st);
	for (int c = 0; c < ncol; c++)
		if (!strcmp(sqlite3_column_name(st, c), "seq"))
			seqcol = c;
	if (seqcol < 0) {
		sqlite3_finalize(st);
		events_failed(a, i, "no seq column");
		return -1;
	}
	dbos_buf_init(&b);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, seqcol);
		size_t start;

		if (!n) {
			size_t used = 0;

			first = seq;
			put_columns_of(&b, st, ncol);
			for (int c = 0; c < ncol; c++) {
				const char *t = sqlite3_column_decltype(st, c);

				used += (size_t)snprintf(types + used, sizeof(types) - used, "%s%s",
							 c ? "," : "", t && *t ? t :
							 type_name(sqlite3_column_type(st, c)));
				if (used >= sizeof(types))
					used = sizeof(types) - 1;
			}
		}
		start = dbos_frame_begin(&b, DBOS_F_ROW);
		for (int c = 0; c < ncol; c++) {
			struct dbos_value v;

			fleet_column_value(st, c, &v);
			dbos_buf_value(&b, &v);
		}
		dbos_frame_end(&b, start);
		last = seq;
		n++;
		if (b.len >= FLEET_CHUNK)
			break;		/* one message stays well under NATS' 1 MiB */
	}
	*full = n == FLEET_EVENTS_BATCH || b.len >= FLEET_CHUNK;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		events_failed(a, i, a->errmsg(db));
		n = -1;
	}
	sqlite3_finalize(st);
	if (n <= 0 || b.err) {
		dbos_buf_free(&b);
		return b.err ? -1 : n;
	}
	snprintf(subject, sizeof(subject), FLEET_SUBJECT_EVENTS "%s.%s", a->host, a->ev_table[i]);
	snprintf(id, sizeof(id), "%s.%s.%llu", a->host, a->ev_table[i], (unsigned long long)first);
	jsPubOptions_Init(&po);
	po.MsgId = id;
	po.MaxWait = 5000;
	s = natsMsg_Create(&m, subject, NULL, (const char *)b.data, (int)b.len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, FLEET_HDR_HOST, a->host);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, FLEET_HDR_TABLE, a->ev_table[i]);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)first);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, FLEET_HDR_FIRST, num);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)last);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, FLEET_HDR_LAST, num);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, FLEET_HDR_TYPES, types);
	if (s == NATS_OK)
		s = js_PublishMsg(&ack, a->js, m, &po, &jerr);
	jsPubAck_Destroy(ack);
	natsMsg_Destroy(m);
	dbos_buf_free(&b);
	if (s != NATS_OK) {
		/* not stored, or its ack lost: the same batch (same id) next time */
		events_failed(a, i, natsStatus_GetText(s));
		return -1;
	}
	a->ev_last[i] = last;
	a->ev_failed[i] = false;
	return n;
}

/* Whether a fleet query waits for this thread. */
static bool queries_waiting(struct fleet_agent *a)
{
	bool waiting;

	pthread_mutex_lock(&a->lock);
	waiting = a->nqueued > 0;
	pthread_mutex_unlock(&a->lock);
	return waiting;
}

/*
 * One round: each table's new rows, batch after batch, for at most
 * EVENTS_BUDGET_MS, and once a query waits, one batch per table (each
 * table gets one a round; a query waits for those at most). Whether rows
 * are left.
 */
static bool publish_events(struct fleet_agent *a, sqlite3 *db)
{
	int64_t until = now_ms() + EVENTS_BUDGET_MS;
	bool more = false;
	char *err = NULL;

	if (!a->js || natsConnection_Status(a->nc) != NATS_CONN_STATUS_CONNECTED)
		return false;
	if (!a->ev_stream) {
		if (fleet_events_stream(a->js, true, &err)) {
			if (!a->ev_failed[0])
				say(a, "history not published: %s (retrying)", err);
			a->ev_failed[0] = true;
			free(err);
			return false;
		}
		a->ev_stream = true;
		a->ev_failed[0] = false;
	}
	for (int i = 0; i < a->nev; i++) {
		bool full = false;
		int n;

		if (!a->ev_known[i] && events_resume(a, i))
			continue;
		/* full batches one after the other, while the budget lasts */
		while ((n = events_batch(a, db, i, &full)) > 0 && full) {
			if (now_ms() >= until || queries_waiting(a)) {
				more = true;
				break;
			}
		}
	}
	return more;
}

/* Put this host's membership entry; binds (creates) the bucket first if needed. */
static void heartbeat(struct fleet_agent *a)
{
	char *err = NULL, *rec = NULL;
	int n;

	if (!a->kv) {
		jsOptions jo;

		/* a membership put that waits long would hold queries (and a stop) up */
		jsOptions_Init(&jo);
		jo.Wait = 1000;
		if (!a->js && natsConnection_JetStream(&a->js, a->nc, &jo) != NATS_OK)
			return;
		if (fleet_hosts_bucket(a->js, true, &a->kv, &err)) {
			say(a, "%s (retrying at the next heartbeat)", err);
			free(err);
			return;
		}
	}
	pthread_mutex_lock(&a->lock);
	if (a->pol_known)
		n = asprintf(&rec, "labels=%s\nversion=%s\nstarted=%lld\nheartbeat_ms=%d\n"
			     "policy_version=%llu\npolicy_local=%llu\npolicy_failed=%llu\n"
			     "policy_error=%s\n", a->labels,
			     a->version, (long long)a->started_ms, a->heartbeat_ms,
			     (unsigned long long)a->pol_version, (unsigned long long)a->pol_local,
			     (unsigned long long)a->pol_failed, a->pol_error ? a->pol_error : "");
	else
		n = asprintf(&rec, "labels=%s\nversion=%s\nstarted=%lld\nheartbeat_ms=%d\n",
			     a->labels, a->version, (long long)a->started_ms, a->heartbeat_ms);
	pthread_mutex_unlock(&a->lock);
	if (n < 0)
		return;
	kvStore_PutString(NULL, a->kv, a->host, rec);
	free(rec);
}

static void *agent_main(void *arg)
{
	struct fleet_agent *a = arg;
	sqlite3 *db = NULL;
	char *err = NULL;
	int64_t next_beat = 0, next_events = 0;

	if (a->open_db(a->open_arg, &db, &err)) {
		say(a, "cannot open the database fleet queries read: %s", err ? err : "?");
		free(err);
		db = NULL;
	}
	pthread_mutex_lock(&a->lock);
	while (!a->stopping) {
		natsMsg *msg = NULL;
		int64_t wake_at;

		if (now_ms() >= next_beat || a->beat_now) {
			a->beat_now = false;
			pthread_mutex_unlock(&a->lock);
			if (natsConnection_Status(a->nc) == NATS_CONN_STATUS_CONNECTED)
				heartbeat(a);
			next_beat = now_ms() + a->heartbeat_ms;
			pthread_mutex_lock(&a->lock);
			continue;
		}
		if (a->nqueued) {
			msg = a->queue[a->head];
			a->head = (a->head + 1) % QUEUE_MAX;
			a->nqueued--;
			pthread_mutex_unlock(&a->lock);
			if (db)
				serve(a, db, msg);
			else if (answer_to(msg))
				answer_error(a, answer_to(msg), "this host's database is not open");
			natsMsg_Destroy(msg);
			pthread_mutex_lock(&a->lock);
			continue;
		}
		if (a->nev && db && now_ms() >= next_events) {
			bool more;

			pthread_mutex_unlock(&a->lock);
			more = publish_events(a, db);
			next_events = now_ms() + (more ? 0 : EVENTS_EVERY_MS);
			pthread_mutex_lock(&a->lock);
			continue;
		}
		wake_at = a->nev && db && next_events < next_beat ? next_events : next_beat;
		{
			struct timespec ts = { .tv_sec = wake_at / 1000,
					       .tv_nsec = (wake_at % 1000) * 1000000 };

			pthread_cond_timedwait(&a->wake, &a->lock, &ts);
		}
	}
	pthread_mutex_unlock(&a->lock);
	sqlite3_close(db);
	return NULL;
}

/* ---- fleet policy (the policy thread) ---- */

/* Record what this host enforces (@error NULL) or why version @version is not enforced. */
static void policy_state(struct fleet_agent *a, uint64_t version, uint64_t local, const char *error)
{
	char *e = error ? strdup(error) : NULL;
	bool changed;

	for (char *p = e; p && *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';	/* one line of the membership entry */
	pthread_mutex_lock(&a->lock);
	changed = !a->pol_known || (!e) != (!a->pol_error) ||
		  (e && strcmp(e, a->pol_error)) ||
		  (!e && (a->pol_version != version || a->pol_local != local)) ||
		  (e && a->pol_failed != version);
	a->pol_known = true;
	if (!e) {
		a->pol_version = version;
		a->pol_local = local;
	} else {
		a->pol_failed = version;
	}
	free(a->pol_error);
	a->pol_error = e;
	if (changed) {
		a->beat_now = true;
		pthread_cond_signal(&a->wake);
	}
	pthread_mutex_unlock(&a->lock);
}

/* Give @fp's rules meant for this host to apply_policy(). 0, or -1 when it failed. */
static int enforce_policy(struct fleet_agent *a, const struct fleet_policy *fp)
{
	struct fleet_rule *mine = calloc(fp->n ? fp->n : 1, sizeof(*mine));
	char *err = NULL, *text = NULL;
	uint64_t local = 0;
	size_t n = 0;
	int ret;

	if (!mine) {
		policy_state(a, fp->version, 0, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < fp->n; i++)
		if (fleet_target_matches(fp->rules[i].target, a->host, a->labels))
			mine[n++] = fp->rules[i];	/* shallow: fp owns the strings */
	ret = a->apply_policy(a->policy_arg, mine, n, fp->version, &local, &err);
	free(mine);
	if (!ret) {
		policy_state(a, fp->version, local, NULL);
		return 0;
	}
	if (asprintf(&text, "fleet policy version %llu: %s", (unsigned long long)fp->version,
		     err ? err : "not enforced") < 0)
		text = NULL;
	say(a, "%s", text ? text : "a fleet policy version is not enforced");
	policy_state(a, fp->version, 0, text ? text : "not enforced");
	free(text);
	free(err);
	return -1;
}

/* Wait up to a heartbeat (or until stopped). Returns whether the agent is stopping. */
static bool policy_nap(struct fleet_agent *a)
{
	struct timespec ts;
	bool stopping;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += a->heartbeat_ms / 1000;
	ts.tv_nsec += (long)(a->heartbeat_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&a->lock);
	if (!a->stopping)
		pthread_cond_timedwait(&a->pwake, &a->lock, &ts);
	stopping = a->stopping;
	pthread_mutex_unlock(&a->lock);
	return stopping;
}

static uint64_t reconnects(struct fleet_agent *a)
{
	natsStatistics *st = NULL;
	uint64_t n = 0;

	if (natsStatistics_Create(&st) == NATS_OK && natsConnection_GetStats(a->nc, st) == NATS_OK)
		natsStatistics_GetCounts(st, NULL, NULL, NULL, NULL, &n);
	natsStatistics_Destroy(st);
	return n;
}

static void drop_watcher(struct fleet_agent *a, kvWatcher **w)
{
	pthread_mutex_lock(&a->lock);
	a->pwatch = NULL;
	pthread_mutex_unlock(&a->lock);
	kvWatcher_Destroy(*w);
	*w = NULL;
}

/*
 * Follow the fleet's policy key: apply every version as it comes (the
 * watcher's first entry is the current version: a host that was away
 * catches up); every heartbeat without news, apply the current one again
 * (apply_policy commits nothing when the host still enforces it); a new
 * watcher after a reconnect, which delivers the current version again.
 * No bucket, or no key: version 0, no fleet rules.
 */
static void *policy_main(void *arg)
{
	struct fleet_agent *a = arg;
	struct fleet_policy cur = { 0 };
	bool have = false, failed = false;
	uint64_t seen_reconnects = 0;
	jsCtx *js = NULL;
	kvStore *kv = NULL;
	kvWatcher *w = NULL;
	char *err = NULL;

	for (;;) {
		kvEntry *e = NULL;
		natsStatus s;

		if (natsConnection_Status(a->nc) != NATS_CONN_STATUS_CONNECTED ||
		    (w && reconnects(a) != seen_reconnects)) {
			if (w)
				drop_watcher(a, &w);
			if (policy_nap(a))
				break;
			continue;
		}
		if (!js) {
			jsOptions jo;

			jsOptions_Init(&jo);
			jo.Wait = 2000;
			if (natsConnection_JetStream(&js, a->nc, &jo) != NATS_OK) {
				js = NULL;
				if (policy_nap(a))
					break;
				continue;
			}
		}
		if (!kv) {
			if (fleet_policy_bucket(js, false, &kv, &err)) {
				say(a, "%s (retrying at the next heartbeat)", err);
				free(err);
				err = NULL;
			} else if (!kv) {
				/* no fleet policy was ever committed: none to enforce */
				fleet_policy_free(&cur);
				cur.version = 0;
				have = true;
				failed = enforce_policy(a, &cur) != 0;
			}
			if (!kv) {
				if (policy_nap(a))
					break;
				continue;
			}
		}
		if (!w) {
			bool stopping;

			seen_reconnects = reconnects(a);
			/* not under the lock: this waits on the server */
			s = kvStore_Watch(&w, kv, FLEET_POLICY_KEY, NULL);
			pthread_mutex_lock(&a->lock);
			stopping = a->stopping;
			a->pwatch = s == NATS_OK && !stopping ? w : NULL;
			pthread_mutex_unlock(&a->lock);
			if (s == NATS_OK && stopping)
				kvWatcher_Destroy(w);	/* too late for fleet_agent_stop() to stop */
			if (s != NATS_OK && !stopping) {
				const char *last = nats_GetLastError(NULL);
				char text[300];

				snprintf(text, sizeof(text), "cannot follow the fleet policy: %s",
					 last && *last ? last : natsStatus_GetText(s));
				policy_state(a, 0, 0, text);
			}
			if (s != NATS_OK || stopping) {
				w = NULL;
				if (stopping || policy_nap(a))
					break;
				continue;
			}
		}
		s = kvWatcher_Next(&e, w, a->heartbeat_ms);
		if (s == NATS_OK && e) {
			struct fleet_policy fp = { 0 };

			if (kvEntry_Operation(e) == kvOp_Put &&
			    fleet_policy_decode(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), &fp,
						&err)) {
				char *text = NULL;

				if (asprintf(&text, "fleet policy version %llu: %s",
					     (unsigned long long)kvEntry_Revision(e), err) < 0)
					text = NULL;
				policy_state(a, kvEntry_Revision(e), 0, text ? text : err);
				free(text);
				free(err);
				err = NULL;
			} else {
				fleet_policy_free(&cur);
				cur = fp;	/* a deleted key: no rules */
				cur.version = kvEntry_Revision(e);
				have = true;
				failed = enforce_policy(a, &cur) != 0;
			}
			kvEntry_Destroy(e);
		} else if (s == NATS_OK) {
			/* the end of the current values: none means no fleet policy yet */
			if (!have) {
				cur.version = 0;
				have = true;
				failed = enforce_policy(a, &cur) != 0;
			}
		} else if (s == NATS_TIMEOUT) {
			if (have && !failed)
				enforce_policy(a, &cur);	/* rules changed on the host come back */
		} else {
			drop_watcher(a, &w);	/* stopped, or broken: a new one next time */
			pthread_mutex_lock(&a->lock);
			s = a->stopping ? NATS_ILLEGAL_STATE : NATS_OK;
			pthread_mutex_unlock(&a->lock);
			if (s != NATS_OK || policy_nap(a))
				break;
		}
	}
	if (w)
		drop_watcher(a, &w);
	fleet_policy_free(&cur);
	kvStore_Destroy(kv);
	jsCtx_Destroy(js);
	return NULL;
}

/* A query arrived (libnats' thread): queue it for the agent's thread. */
static void on_query(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
	struct fleet_agent *a = arg;
	bool queued = false;

	pthread_mutex_lock(&a->lock);
	if (!a->stopping && a->nqueued < QUEUE_MAX) {
		a->queue[(a->head + a->nqueued) % QUEUE_MAX] = msg;
		a->nqueued++;
		queued = true;
		pthread_cond_signal(&a->wake);
	}
	pthread_mutex_unlock(&a->lock);
	if (queued)
		return;
	if (answer_to(msg)) {
		static const char busy[] = "host busy: too many fleet queries waiting";
		struct dbos_buf b;

		dbos_buf_init(&b);
		dbos_frame_put(&b, DBOS_F_ERROR, busy, sizeof(busy) - 1);
		if (!b.err)
			publish_answer(a, nc, answer_to(msg), b.data, b.len, 0);
		dbos_buf_free(&b);
	}
	natsMsg_Destroy(msg);
}

static int subscribe(struct fleet_agent *a, const char *prefix, const char *name, char **err)
{
	char subject[128];
	natsStatus s;

	snprintf(subject, sizeof(subject), "%s%s", prefix, name);
	s = natsConnection_Subscribe(&a->subs[a->nsubs], a->nc, subject, on_query, a);
	if (s != NATS_OK)
		return fleet_errf(err, "subscribing to %s: %s", subject, natsStatus_GetText(s));
	a->nsubs++;
	return 0;
}

/* The connection, the buffers and @a itself (subscriptions and thread already gone). */
static void agent_free(struct fleet_agent *a)
{
	natsConnection_Destroy(a->nc);
	dbos_buf_free(&a->out);
	free(a->labels);
	free(a->version);
	free(a->pol_error);
	pthread_cond_destroy(&a->pwake);
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

const char *fleet_agent_host(const struct fleet_agent *a)
{
	return a->host;
}

struct fleet_agent *fleet_agent_start(const struct fleet_agent_config *cfg, char **err)
{
	struct fleet_agent *a = calloc(1, sizeof(*a));
	char *labels = NULL, *save = NULL, *l;
	int nlabels = 0;

	if (!a) {
		fleet_errf(err, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->wake, NULL);
	pthread_cond_init(&a->pwake, NULL);
	dbos_buf_init(&a->out);
	a->apply_policy = cfg->apply_policy;
	a->policy_arg = cfg->policy_arg;
	for (const char *const *t = cfg->events_tables; t && *t; t++) {
		if (a->nev == MAX_EVENT_TABLES || !fleet_name_ok(*t)) {
			fleet_errf(err, "history table '%s': not a name, or more than %d tables", *t,
				   MAX_EVENT_TABLES);
			goto fail;
		}
		a->ev_table[a->nev++] = *t;
	}
	a->open_db = cfg->open_db;
	a->open_arg = cfg->open_arg;
	a->errmsg = cfg->errmsg ? cfg->errmsg : sqlite3_errmsg;
	a->heartbeat_ms = cfg->heartbeat_ms > 0 ? cfg->heartbeat_ms : FLEET_HEARTBEAT_MS;
	a->started_ms = now_ms();
	if (cfg->host)
		snprintf(a->host, sizeof(a->host), "%s", cfg->host);
	else if (gethostname(a->host, sizeof(a->host)))
		a->host[0] = 0;
	a->host[FLEET_NAME_MAX] = 0;
	if (!fleet_name_ok(cfg->host ? cfg->host : a->host)) {
		fleet_errf(err, "'%s' is not a fleet host id (1-%d letters, digits, '-' or '_'%s)",
			   cfg->host ? cfg->host : a->host, FLEET_NAME_MAX,
			   cfg->host ? "" : "; the hostname: give --fleet-host");
		goto fail;
	}
	a->labels = strdup(cfg->labels ? cfg->labels : "");
	a->version = strdup(cfg->version ? cfg->version : "");
	labels = strdup(a->labels);
	if (!a->labels || !a->version || !labels) {
		fleet_errf(err, "out of memory");
		goto fail;
	}
	for (l = strtok_r(labels, ",", &save); l; l = strtok_r(NULL, ",", &save)) {
		if (!fleet_name_ok(l)) {
			fleet_errf(err, "'%s' is not a fleet label (1-%d letters, digits, '-' or '_')",
				   l, FLEET_NAME_MAX);
			goto fail;
		}
		if (++nlabels > MAX_LABELS) {
			fleet_errf(err, "more than %d fleet labels", MAX_LABELS);
			goto fail;
		}
	}
	if (fleet_connect(&cfg->nats, true, &a->nc, err))
		goto fail;
	if (subscribe(a, FLEET_SUBJECT_ALL, "", err) || subscribe(a, FLEET_SUBJECT_HOST, a->host, err))
		goto fail;
	strcpy(labels, a->labels);
	for (l = strtok_r(labels, ",", &save); l; l = strtok_r(NULL, ",", &save))
		if (subscribe(a, FLEET_SUBJECT_LABEL, l, err))
			goto fail;
	free(labels);
	labels = NULL;
	if (pthread_create(&a->thread, NULL, agent_main, a)) {
		fleet_errf(err, "cannot start the fleet thread: %s", strerror(errno));
		goto fail;
	}
	if (a->apply_policy) {
		if (pthread_create(&a->policy_thread, NULL, policy_main, a)) {
			fleet_errf(err, "cannot start the fleet policy thread: %s", strerror(errno));
			fleet_agent_stop(a);
			return NULL;
		}
		a->policy_running = true;
	}
	return a;
fail:
	free(labels);
	for (int i = 0; i < a->nsubs; i++)
		natsSubscription_Destroy(a->subs[i]);
	agent_free(a);
	return NULL;
}

void fleet_agent_stop(struct fleet_agent *a)
{
	if (!a)
		return;
	/* no new queries; then the thread finishes the one it runs */
	for (int i = 0; i < a->nsubs; i++)
		natsSubscription_Unsubscribe(a->subs[i]);
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_signal(&a->wake);
	pthread_cond_signal(&a->pwake);
	if (a->pwatch)
		kvWatcher_Stop(a->pwatch);	/* its Next() returns at once */
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	if (a->policy_running)
		pthread_join(a->policy_thread, NULL);
	for (int i = 0; i < a->nsubs; i++)
		natsSubscription_Destroy(a->subs[i]);
	while (a->nqueued) {
		natsMsg_Destroy(a->queue[a->head]);
		a->head = (a->head + 1) % QUEUE_MAX;
		a->nqueued--;
	}
	if (a->kv && natsConnection_Status(a->nc) == NATS_CONN_STATUS_CONNECTED)
		kvStore_Delete(a->kv, a->host);	/* left: not missed by coordinators */
	kvStore_Destroy(a->kv);
	jsCtx_Destroy(a->js);
	natsConnection_FlushTimeout(a->nc, 1000);
	natsConnection_Close(a->nc);
	agent_free(a);
}
