// SPDX-License-Identifier: GPL-2.0
/* fleet_sink.c - dbos-fleet-sink: the fleet's history stream (NATS JetStream) into PostgreSQL, nothing lost, nothing twice. */

/*
 * dbos-fleet-sink --fleet URL --pg CONNINFO [--consumer NAME]
 *                 [--fleet-creds FILE] [--fleet-ca FILE] [--fleet-cert FILE --fleet-key FILE]
 *
 * HOW IT WORKS
 *
 *   Every host in the fleet publishes the rows of its history tables to the
 *   stream DBOS_EVENTS (fleet_proto.h, "History."). The sink is a durable
 *   pull consumer of that stream (NAME, default "dbos_sink": the stream
 *   remembers how far it got, across restarts). It fetches up to 256
 *   messages, and writes them in one PostgreSQL transaction: per table, the
 *   rows go by COPY into a temporary staging table, then INSERT ... SELECT
 *   ... ON CONFLICT (host, seq) DO NOTHING into the table of the same name
 *   (created, and given new columns, as messages need: host text, then the
 *   host's columns; primary key (host, seq)). Only after COMMIT are the
 *   messages acknowledged. So PostgreSQL down (or the sink killed) loses
 *   nothing: the stream keeps every message until it is acknowledged, the
 *   sink retries the same batch every second (telling JetStream it is still
 *   working on it), and a batch written but not acknowledged (killed between
 *   COMMIT and ack) comes again and adds nothing: (host, seq) is the key.
 *   A message that can never be written (malformed) is terminated and said.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "fleet_proto.h"

#define FETCH_MAX	256
#define ACK_WAIT_S	60
#define MAX_COLS	64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("dbos-fleet-sink: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* One message, decoded: its table, columns, types and rows (pointing into the message). */
struct batch {
	const char *host, *table;
	int ncol, seqcol;
	char names[MAX_COLS][FLEET_NAME_MAX + 1];
	const char *pgtype[MAX_COLS];
	struct dbos_rd rows;	/* the 'R' frames */
};

/* A name PostgreSQL gets from a message: [A-Za-z_][A-Za-z0-9_]*, at most FLEET_NAME_MAX. */
static bool ident_ok(const char *s, size_t n)
{
	if (!n || n > FLEET_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* PostgreSQL's type for SQLite declared type @t (its affinity rules). */
static const char *pg_type(const char *t, size_t n)
{
	char up[64];
	size_t i;

	for (i = 0; i < n && i < sizeof(up) - 1; i++)
		up[i] = (char)(t[i] >= 'a' && t[i] <= 'z' ? t[i] - 32 : t[i]);
	up[i] = 0;
	if (strstr(up, "INT"))
		return "bigint";
	if (strstr(up, "REAL") || strstr(up, "FLOA") || strstr(up, "DOUB"))
		return "double precision";
	if (strstr(up, "BLOB"))
		return "bytea";
	return "text";
}

/* Decode @m into @b. NULL, or what is wrong with it. */
static const char *decode(natsMsg *m, struct batch *b)
{
	const char *types = NULL;
	struct dbos_rd r;
	const uint8_t *p;
	uint32_t len;
	uint16_t ncol;

	memset(b, 0, sizeof(*b));
	b->seqcol = -1;
	if (natsMsgHeader_Get(m, FLEET_HDR_HOST, &b->host) != NATS_OK ||
	    natsMsgHeader_Get(m, FLEET_HDR_TABLE, &b->table) != NATS_OK ||
	    natsMsgHeader_Get(m, FLEET_HDR_TYPES, &types) != NATS_OK)
		return "headers missing";
	if (!fleet_name_ok(b->host) || !ident_ok(b->table, strlen(b->table)))
		return "a host or table that is not a name";
	dbos_rd_init(&r, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
	len = dbos_rd_u32(&r);
	if (dbos_rd_u8(&r) != DBOS_F_COLUMNS || r.err)
		return "no 'C' frame";
	{
		struct dbos_rd c;

		dbos_rd_init(&c, dbos_rd_bytes(&r, len), len);
		ncol = dbos_rd_u16(&c);
		if (r.err || c.err || !ncol || ncol > MAX_COLS)
			return "a bad 'C' frame";
		for (int i = 0; i < ncol; i++) {
			uint16_t n = dbos_rd_u16(&c);

			p = dbos_rd_bytes(&c, n);
			if (c.err || !ident_ok((const char *)p, n) || (n == 4 && !memcmp(p, "host", 4)))
				return "a column that is not a name";
			memcpy(b->names[i], p, n);
			b->names[i][n] = 0;
			if (!strcmp(b->names[i], "seq"))
				b->seqcol = i;
		}
	}
	if (b->seqcol < 0)
		return "no seq column";
	b->ncol = ncol;
	for (int i = 0; i < ncol; i++) {
		const char *comma = strchr(types, ',');
		size_t n = comma ? (size_t)(comma - types) : strlen(types);

		b->pgtype[i] = pg_type(types, n);
		types += n + (comma ? 1 : 0);
	}
	b->rows = r;
	return NULL;
}

/* ---- PostgreSQL ---- */

/* The tables (and their columns) known to exist, as "table.column" lines. */
static char *known;
static size_t known_len;

static bool is_known(const char *table, const char *col)
{
	char key[2 * FLEET_NAME_MAX + 4];

	snprintf(key, sizeof(key), "\n%s.%s\n", table, col);
	return known && strstr(known, key);
}

static void remember(const char *table, const char *col)
{
	size_t n = strlen(table) + strlen(col) + 3;
	char *k = realloc(known, known_len + n + 1);

	if (!k)
		return;
	known = k;
	if (!known_len)
		known[known_len++] = '\n';
	known_len += (size_t)sprintf(known + known_len, "%s.%s\n", table, col);
}

static void forget_all(void)
{
	free(known);
	known = NULL;
	known_len = 0;
}

/* Run @sql; 0, or -1 and *@err. */
static int pg_exec(PGconn *pg, const char *sql, char **err)
{
	PGresult *r = PQexec(pg, sql);
	int st = PQresultStatus(r);
	int ret = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;

	if (ret)
		fleet_errf(err, "%s", PQresultErrorMessage(r));
	PQclear(r);
	return ret;
}

/* The table of @b, its columns, and its staging table exist. 0, or -1. */
static int ensure_table(PGconn *pg, const struct batch *b, char **err)
{
	char sql[1024];

	if (!is_known(b->table, "")) {
		snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS \"%s\" (host text NOT NULL, "
			 "seq bigint NOT NULL, PRIMARY KEY (host, seq))", b->table);
		if (pg_exec(pg, sql, err))
			return -1;
		remember(b->table, "");
		remember(b->table, "seq");
	}
	for (int i = 0; i < b->ncol; i++) {
		if (is_known(b->table, b->names[i]))
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE \"%s\" ADD COLUMN IF NOT EXISTS \"%s\" %s",
			 b->table, b->names[i], b->pgtype[i]);
		if (pg_exec(pg, sql, err))
			return -1;
		remember(b->table, b->names[i]);
	}
	snprintf(sql, sizeof(sql), "CREATE TEMP TABLE IF NOT EXISTS \"stage_%s\" (LIKE \"%s\") "
		 "ON COMMIT DELETE ROWS", b->table, b->table);
	return pg_exec(pg, sql, err);
}

/* Append @v to @out in COPY's text format. */
static void copy_value(struct dbos_buf *out, const struct dbos_value *v)
{
	char num[40];
	int n;

	switch (v->type) {
	case DBOS_T_NULL:
		dbos_buf_put(out, "\\N", 2);
		break;
	case DBOS_T_INT:
		n = snprintf(num, sizeof(num), "%" PRId64, v->i);
		dbos_buf_put(out, num, (size_t)n);
		break;
	case DBOS_T_FLOAT:
		n = snprintf(num, sizeof(num), "%.17g", v->f);
		dbos_buf_put(out, num, (size_t)n);
		break;
	case DBOS_T_BLOB:
		dbos_buf_put(out, "\\\\x", 3);
		for (size_t i = 0; i < v->len; i++) {
			n = snprintf(num, sizeof(num), "%02x", (unsigned char)v->s[i]);
			dbos_buf_put(out, num, (size_t)n);
		}
		break;
	default:
		for (size_t i = 0; i < v->len; i++) {
			char c = v->s[i];

			if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
				dbos_buf_u8(out, '\\');
				c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : c;
			}
			if (c)
				dbos_buf_u8(out, (uint8_t)c);
		}
		break;
	}
}

/* Whether @a and @b are rows of the same table with the same columns. */
static bool same_shape(const struct batch *a, const struct batch *b)
{
	if (strcmp(a->table, b->table) || a->ncol != b->ncol)
		return false;
	for (int i = 0; i < a->ncol; i++)
		if (strcmp(a->names[i], b->names[i]))
			return false;
	return true;
}

/*
 * Write the rows of the @n messages @idx of @bs (one table, one shape):
 * one COPY into the staging table, one INSERT into the table, the staging
 * table emptied. 0, or -1.
 */
static int write_rows(PGconn *pg, struct batch *bs, const int *idx, int n, char **err)
{
	const struct batch *b = &bs[idx[0]];
	char cols[MAX_COLS * (FLEET_NAME_MAX + 4) + 16], sql[sizeof(cols) * 2 + 256];
	struct dbos_buf out;
	size_t used = 0;
	PGresult *res;
	int ret = 0;

	used += (size_t)snprintf(cols, sizeof(cols), "host");
	for (int i = 0; i < b->ncol; i++)
		used += (size_t)snprintf(cols + used, sizeof(cols) - used, ", \"%s\"", b->names[i]);
	snprintf(sql, sizeof(sql), "COPY \"stage_%s\" (%s) FROM STDIN", b->table, cols);
	res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		fleet_errf(err, "%s", PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	dbos_buf_init(&out);
	for (int k = 0; k < n && !ret; k++) {
		struct batch *m = &bs[idx[k]];
		struct dbos_rd r = m->rows;

		while (r.left && !ret) {
			uint32_t len = dbos_rd_u32(&r);
			uint8_t type = dbos_rd_u8(&r);
			const uint8_t *p = dbos_rd_bytes(&r, len);
			struct dbos_rd row;

			if (r.err || type != DBOS_F_ROW) {
				ret = fleet_errf(err, "malformed rows");
				break;
			}
			dbos_rd_init(&row, p, len);
			dbos_buf_put(&out, m->host, strlen(m->host));
			for (int i = 0; i < m->ncol; i++) {
				struct dbos_value v;

				if (dbos_rd_value(&row, &v)) {
					ret = fleet_errf(err, "a malformed row");
					break;
				}
				dbos_buf_u8(&out, '\t');
				copy_value(&out, &v);
			}
			dbos_buf_u8(&out, '\n');
		}
		/* one message's rows at a time */
		if (!ret && (out.err || PQputCopyData(pg, (const char *)out.data, (int)out.len) != 1))
			ret = fleet_errf(err, "COPY: %s", out.err ? "out of memory" : PQerrorMessage(pg));
		dbos_buf_reset(&out);
	}
	dbos_buf_free(&out);
	if (PQputCopyEnd(pg, ret ? "malformed message" : NULL) != 1 && !ret)
		ret = fleet_errf(err, "COPY: %s", PQerrorMessage(pg));
	while ((res = PQgetResult(pg))) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && !ret)
			ret = fleet_errf(err, "%s", PQresultErrorMessage(res));
		PQclear(res);
	}
	if (ret)
		return -1;
	snprintf(sql, sizeof(sql), "INSERT INTO \"%s\" (%s) SELECT %s FROM \"stage_%s\" "
		 "ON CONFLICT (host, seq) DO NOTHING; DELETE FROM \"stage_%s\"", b->table, cols, cols,
		 b->table, b->table);
	return pg_exec(pg, sql, err);
}

/*
 * Write the messages in one transaction: per table (and shape), one COPY and
 * one INSERT. 0; -1 (*@err) when PostgreSQL failed (retry); a message that
 * cannot be decoded is marked in @bad (terminate it).
 */
static int write_batch(PGconn **pg, const char *conninfo, natsMsg **msgs, int n, bool *bad,
		       char **err)
{
	struct batch *bs = calloc((size_t)n, sizeof(*bs));
	int *idx = calloc((size_t)n, sizeof(*idx));
	bool *done = calloc((size_t)n, sizeof(*done));
	int ret = -1;

	if (!bs || !idx || !done) {
		fleet_errf(err, "out of memory");
		goto out;
	}
	if (!*pg || PQstatus(*pg) != CONNECTION_OK) {
		PQfinish(*pg);
		forget_all();
		*pg = PQconnectdb(conninfo);
		if (PQstatus(*pg) != CONNECTION_OK) {
			fleet_errf(err, "PostgreSQL: %s", PQerrorMessage(*pg));
			goto out;
		}
		if (pg_exec(*pg, "SET client_min_messages = warning", err))
			goto out;
	}
	for (int i = 0; i < n; i++) {
		const char *why = decode(msgs[i], &bs[i]);

		bad[i] = done[i] = why != NULL;
		if (why)
			say("%s: %s: not stored", natsMsg_GetSubject(msgs[i]), why);
	}
	if (pg_exec(*pg, "BEGIN", err))
		goto out;
	for (int i = 0; i < n; i++) {
		int k = 0;

		if (done[i])
			continue;
		for (int j = i; j < n; j++)
			if (!done[j] && same_shape(&bs[i], &bs[j])) {
				idx[k++] = j;
				done[j] = true;
			}
		if (ensure_table(*pg, &bs[i], err) || write_rows(*pg, bs, idx, k, err)) {
			char *ignore = NULL;

			pg_exec(*pg, "ROLLBACK", &ignore);
			free(ignore);
			forget_all();	/* what the rollback undid */
			goto out;
		}
	}
	ret = pg_exec(*pg, "COMMIT", err);
out:
	free(bs);
	free(idx);
	free(done);
	return ret;
}

/* The stream and the durable pull consumer @name on it. 0, or -1 and *@err. */
static int subscribe(jsCtx *js, const char *name, natsSubscription **sub, char **err)
{
	jsErrCode jerr = 0;
	jsSubOptions so;
	natsStatus s;

	if (fleet_events_stream(js, true, err))
		return -1;
	jsSubOptions_Init(&so);
	so.Stream = FLEET_EVENTS_STREAM;
	so.Config.AckWait = (int64_t)ACK_WAIT_S * 1000000000;
	so.Config.MaxAckPending = FETCH_MAX * 4;
	s = js_PullSubscribe(sub, js, FLEET_SUBJECT_EVENTS ">", name, NULL, &so, &jerr);
	if (s != NATS_OK)
		return fleet_errf(err, "the consumer %s: %s", name, nats_GetLastError(NULL) ?
				  nats_GetLastError(NULL) : natsStatus_GetText(s));
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dbos-fleet-sink --fleet URL --pg CONNINFO [--consumer NAME]\n"
		"       [--fleet-creds FILE] [--fleet-ca FILE] [--fleet-cert FILE --fleet-key FILE]\n"
		"Copies the fleet's history (the stream " FLEET_EVENTS_STREAM ") into PostgreSQL:\n"
		"one table per history table, with a first column host, key (host, seq).\n");
}

int main(int argc, char **argv)
{
	struct fleet_nats nats = { .name = "dbos-fleet-sink" };
	const char *conninfo = NULL, *consumer = "dbos_sink";
	natsConnection *nc = NULL;
	natsSubscription *sub = NULL;
	jsCtx *js = NULL;
	PGconn *pg = NULL;
	char *err = NULL, *last_err = NULL;
	jsErrCode jerr = 0;
	uint64_t stored = 0;

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(argv[i], "--fleet"))
			nats.url = v;
		else if (!strcmp(argv[i], "--pg"))
			conninfo = v;
		else if (!strcmp(argv[i], "--consumer"))
			consumer = v;
		else if (!strcmp(argv[i], "--fleet-creds"))
			nats.creds = v;
		else if (!strcmp(argv[i], "--fleet-ca"))
			nats.ca = v;
		else if (!strcmp(argv[i], "--fleet-cert"))
			nats.cert = v;
		else if (!strcmp(argv[i], "--fleet-key"))
			nats.key = v;
		else {
			usage(stderr);
			return 2;
		}
		i++;
	}
	if (!nats.url || !conninfo || !fleet_name_ok(consumer)) {
		usage(stderr);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (fleet_connect(&nats, true, &nc, &err) ||
	    natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
		say("%s", err ? err : "JetStream");
		return 2;
	}
	/* the stream (made here if no host made it yet), then the durable consumer */
	while (!stop && subscribe(js, consumer, &sub, &err)) {
		say("%s (retrying)", err);
		free(err);
		err = NULL;
		sleep(1);
	}
	say("copying " FLEET_EVENTS_STREAM " into PostgreSQL (consumer %s)", consumer);
	while (!stop) {
		natsMsgList list = { 0 };
		natsStatus s = natsSubscription_Fetch(&list, sub, FETCH_MAX, 1000, &jerr);
		bool bad[FETCH_MAX];

		if (s == NATS_TIMEOUT || (s == NATS_OK && !list.Count))
			continue;
		if (s != NATS_OK) {
			if (!stop)
				sleep(1);
			continue;
		}
		/* the same batch until PostgreSQL takes it */
		while (write_batch(&pg, conninfo, list.Msgs, list.Count, bad, &err)) {
			if (!last_err || strcmp(last_err, err))
				say("%s (the stream keeps the rows; retrying every second)", err);
			free(last_err);
			last_err = err;
			err = NULL;
			for (int i = 0; i < list.Count; i++)
				natsMsg_InProgress(list.Msgs[i], NULL);
			if (stop)
				break;
			sleep(1);
		}
		if (last_err && !stop) {
			say("PostgreSQL is back: writing");
			free(last_err);
			last_err = NULL;
		}
		for (int i = 0; i < list.Count && !stop; i++) {
			if (bad[i])
				natsMsg_Term(list.Msgs[i], NULL);
			else
				natsMsg_AckSync(list.Msgs[i], NULL, NULL);
			stored += !bad[i];
		}
		natsMsgList_Destroy(&list);
	}
	say("stopped after %" PRIu64 " messages", stored);
	PQfinish(pg);
	forget_all();
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	free(last_err);
	return 0;
}
