/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fleet_proto.h - what dbosd hosts and fleet coordinators say to each other over NATS.
 *
 * A fleet is every dbosd started with --fleet URL on one NATS server (or
 * cluster) with JetStream, and any number of coordinators (`dbos --fleet`,
 * dbos_fleet_connect()) on the same server. NATS carries everything; its
 * accounts and permissions decide who may say what (docs/ARCHITECTURE.md,
 * "Fleet").
 *
 * Membership. KV bucket FLEET_HOSTS_BUCKET ("dbos_hosts"): key = host id,
 * value = "key=value" lines: labels=a,b (may be empty), version=, started=
 * (unix ms), heartbeat_ms=. Each host puts its entry when it joins and
 * every heartbeat_ms after; it deletes it when it leaves cleanly. An entry
 * not renewed within FLEET_STALE_BEATS heartbeats belongs to a host that
 * is gone (killed, cut off): coordinators stop expecting it.
 *
 * Queries. A request is published on
 *     dbos.query.all               every host
 *     dbos.query.host.<host>       one host
 *     dbos.query.label.<label>     the hosts with that label
 * with a reply subject dbos.answer.<unique token>, header FLEET_HDR_TIMEOUT (ms the host may spend:
 * the coordinator's deadline) and a body of frames (dbos_proto.h): one 'Q'
 * (the SQL: one statement, which the host runs only if it is read-only),
 * then at most one 'R' (the values of its parameters ?1, ?2, ...).
 * Each host answers with one or more messages on <reply subject>.<its id>
 * (NATS permissions can make it the only one allowed to publish on
 * dbos.answer.*.<its id>: a host cannot answer for another; and answers
 * are not on _INBOX.>, which every client that makes requests must be
 * allowed to read), with headers FLEET_HDR_HOST (its id,
 * for people reading the traffic) and FLEET_HDR_CHUNK (0, 1, 2, ...), each
 * at most FLEET_CHUNK bytes of frames: 'C' (in chunk 0), 'R'..., and the
 * last chunk ends with 'D' (done) or 'E' (the host's error text). A
 * coordinator that misses a chunk (core NATS delivers at most once) counts
 * the host as failed, never as complete.
 *
 * Policy. KV bucket FLEET_POLICY_BUCKET ("dbos_policy"), one key,
 * FLEET_POLICY_KEY ("fleet"): each value is one fleet policy version, its
 * KV revision the version's number (the bucket keeps the last
 * FLEET_POLICY_HISTORY). The value is frames: one 'N' of "key=value" lines
 * (format=1, action=commit|rollback, from=<version>, by=<who>, time=<unix
 * s>), then one 'R' per rule: target (all, host:<id> or label:<label>),
 * name, hook, action, condition, nice, sched_policy, sched_priority, cpus
 * (the last five NULL when unset). Only the fleet's admin identity may put
 * it (NATS permissions); every host watches it, enforces the rules whose
 * target names it, and says which version it enforces (or why it cannot)
 * in its membership entry: policy_version=, policy_local= (the host's own
 * policy version that carries it), policy_error=.
 *
 * History. Stream FLEET_EVENTS_STREAM ("DBOS_EVENTS", subjects
 * dbos.events.>, bounded by FLEET_EVENTS_MAX_AGE_S and
 * FLEET_EVENTS_MAX_BYTES, file storage): each host publishes the rows of
 * its history tables (process_events, file_events, socket_events,
 * policy_decisions) in seq order, on dbos.events.<host>.<table>, at most
 * FLEET_EVENTS_BATCH rows per message: frames 'C' (column names) and 'R'
 * (rows), headers FLEET_HDR_TABLE, FLEET_HDR_FIRST and FLEET_HDR_LAST (the
 * seq range), FLEET_HDR_TYPES (the columns' declared types, comma-separated)
 * and Nats-Msg-Id <host>.<table>.<first seq> (JetStream drops a resent
 * message). A host resumes after the last seq of its subject's last
 * message. dbos-fleet-sink copies the stream into PostgreSQL.
 *
 * Host ids and labels are 1..FLEET_NAME_MAX of [A-Za-z0-9_-]: one NATS
 * subject token and one KV key each.
 */
#ifndef FLEET_PROTO_H
#define FLEET_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#include <nats/nats.h>
#include <sqlite3.h>

#include "dbos_proto.h"

#define FLEET_SUBJECT_ALL	"dbos.query.all"
#define FLEET_SUBJECT_HOST	"dbos.query.host."
#define FLEET_SUBJECT_LABEL	"dbos.query.label."
#define FLEET_SUBJECT_ANSWER	"dbos.answer."
#define FLEET_HOSTS_BUCKET	"dbos_hosts"
#define FLEET_POLICY_BUCKET	"dbos_policy"
#define FLEET_POLICY_KEY	"fleet"
#define FLEET_POLICY_HISTORY	64	/* versions kept: NATS KV's largest history */
#define FLEET_EVENTS_STREAM	"DBOS_EVENTS"
#define FLEET_SUBJECT_EVENTS	"dbos.events."
#define FLEET_EVENTS_BATCH	1000
#define FLEET_EVENTS_MAX_AGE_S	(7 * 86400)
#define FLEET_EVENTS_MAX_BYTES	(1LL << 30)
#define FLEET_HDR_TABLE		"Dbos-Table"
#define FLEET_HDR_FIRST		"Dbos-First-Seq"
#define FLEET_HDR_LAST		"Dbos-Last-Seq"
#define FLEET_HDR_TYPES		"Dbos-Types"
#define FLEET_HDR_HOST		"Dbos-Host"
#define FLEET_HDR_CHUNK		"Dbos-Chunk"
#define FLEET_HDR_TIMEOUT	"Dbos-Timeout-Ms"

#define FLEET_NAME_MAX		64
/* Bytes of frames per reply message (NATS' default max_payload is 1 MiB). */
#define FLEET_CHUNK		(256u << 10)
/* A host's whole answer to one query. */
#define FLEET_RESULT_MAX	(64u << 20)
/* The longest a host spends on one query, whatever the coordinator asks. */
#define FLEET_TIMEOUT_MAX_MS	60000
#define FLEET_HEARTBEAT_MS	5000
#define FLEET_STALE_BEATS	3

/* Where the fleet's NATS server is and who we are to it. */
struct fleet_nats {
	const char *url;	/* nats://[user:pass@]host:port[,nats://...] */
	const char *creds;	/* a NATS .creds file (JWT + NKey seed), or NULL */
	const char *ca;		/* CA certificate(s) to trust: TLS; or NULL */
	const char *cert;	/* client certificate and key (mutual TLS), or NULL */
	const char *key;
	const char *name;	/* the connection's name on the server */
	/* deliver messages on libnats' shared threads, not one per subscription
	 * (many agents in one process: the simulated hosts) */
	bool shared_threads;
};

/* fleet_name_ok() - true if @s is a valid host id or label. */
bool fleet_name_ok(const char *s);

/*
 * fleet_connect() - connect to the fleet's NATS server. @keep_trying: a
 * host (dbosd) starts even while the server is down and reconnects for
 * ever; a coordinator fails at once. 0, or -1 and *@err (malloc()ed).
 */
int fleet_connect(const struct fleet_nats *cfg, bool keep_trying, natsConnection **nc,
		  char **err);

/*
 * fleet_hosts_bucket() - the membership bucket; @create: create it if it
 * does not exist (hosts do; coordinators only bind, *@kv NULL when absent).
 * 0, or -1 and *@err.
 */
int fleet_hosts_bucket(jsCtx *js, bool create, kvStore **kv, char **err);

/*
 * fleet_policy_bucket() - the policy bucket; @create as for the membership
 * bucket (only the fleet's admin creates it). 0, or -1 and *@err.
 */
int fleet_policy_bucket(jsCtx *js, bool create, kvStore **kv, char **err);

/*
 * fleet_events_stream() - make sure the history stream exists; @create: create
 * it if absent (else a missing stream is an error). 0, or -1 and *@err.
 */
int fleet_events_stream(jsCtx *js, bool create, char **err);

/* One rule of a fleet policy version; strings malloc()ed, NULL when unset. */
struct fleet_rule {
	char *target, *name, *hook, *action, *condition;
	bool has_nice, has_priority;
	int nice, priority;
	char *sched_policy, *cpus;
};

/* A fleet policy version as stored (see "Policy." above). */
struct fleet_policy {
	uint64_t version;	/* the KV revision; 0: no fleet policy */
	char *action, *by;
	uint64_t from;
	int64_t time;
	struct fleet_rule *rules;
	size_t n;
};

#define FLEET_POLICY_NCOLS	9

/*
 * fleet_field() - the value of "@key=" in the "key=value" lines @text, @len
 * bytes (membership entries, a policy version's 'N' frame): malloc()ed, NULL
 * if absent.
 */
char *fleet_field(const char *text, size_t len, const char *key);

/* fleet_policy_meta() - append the 'N' frame a version starts with. */
void fleet_policy_meta(struct dbos_buf *b, const char *action, uint64_t from, const char *by,
		       int64_t time);

/*
 * fleet_policy_decode() - parse a stored version (@p, @n) into *@out
 * (@out->version is left as it was). 0, or -1 and *@err saying what is malformed.
 */
int fleet_policy_decode(const void *p, size_t n, struct fleet_policy *out, char **err);
void fleet_policy_free(struct fleet_policy *fp);

/*
 * fleet_target_matches() - whether a rule for @target (all, host:<id>,
 * label:<label>) is meant for host @host with labels @labels ("a,b").
 */
bool fleet_target_matches(const char *target, const char *host, const char *labels);

/* fleet_column_value() - column @i of @st's current row as a dbos_value (valid until the next step). */
void fleet_column_value(sqlite3_stmt *st, int i, struct dbos_value *v);

/* fleet_bind_value() - bind @v to parameter @i of @st (a copy). SQLite's code. */
int fleet_bind_value(sqlite3_stmt *st, int i, const struct dbos_value *v);

/* fleet_errf() - a malloc()ed printf text in *@err (if @err); returns -1. */
int fleet_errf(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* FLEET_PROTO_H */
