// SPDX-License-Identifier: GPL-2.0
/* fleet_proto.c - the code fleet hosts and coordinators share: NATS connection, membership bucket, values. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_proto.h"

int fleet_errf(char **err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		free(*err);
		*err = NULL;
		va_start(ap, fmt);
		if (vasprintf(err, fmt, ap) < 0)
			*err = NULL;
		va_end(ap);
	}
	return -1;
}

bool fleet_name_ok(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-'))
			return false;
	return n >= 1 && n <= FLEET_NAME_MAX;
}

/* NATS' own words for its last error, which says more than the status. */
static int nats_fail(char **err, const char *what, natsStatus s)
{
	const char *last = nats_GetLastError(NULL);

	return fleet_errf(err, "%s: %s", what, last && *last ? last : natsStatus_GetText(s));
}

int fleet_connect(const struct fleet_nats *cfg, bool keep_trying, natsConnection **nc,
		  char **err)
{
	natsOptions *o = NULL;
	natsStatus s;
	const char *step = "NATS options";

	*nc = NULL;
	if (!cfg->url || !*cfg->url)
		return fleet_errf(err, "no fleet URL (nats://host:port)");
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetURL(o, cfg->url);
	if (s == NATS_OK && cfg->name)
		s = natsOptions_SetName(o, cfg->name);
	if (s == NATS_OK && cfg->creds) {
		step = "the NATS credentials file";
		s = natsOptions_SetUserCredentialsFromFiles(o, cfg->creds, NULL);
	}
	if (s == NATS_OK && (cfg->ca || cfg->cert)) {
		step = "TLS";
		s = natsOptions_SetSecure(o, true);
		if (s == NATS_OK && cfg->ca)
			s = natsOptions_LoadCATrustedCertificates(o, cfg->ca);
		if (s == NATS_OK && cfg->cert)
			s = natsOptions_LoadCertificatesChain(o, cfg->cert, cfg->key ? cfg->key : cfg->cert);
	}
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, 2000);
	if (s == NATS_OK && cfg->shared_threads)
		s = natsOptions_UseGlobalMessageDelivery(o, true);
	if (s == NATS_OK && keep_trying) {
		s = natsOptions_SetMaxReconnect(o, -1);
		if (s == NATS_OK)
			s = natsOptions_SetReconnectWait(o, 1000);
		if (s == NATS_OK)
			s = natsOptions_SetRetryOnFailedConnect(o, true, NULL, NULL);
	}
	if (s != NATS_OK) {
		nats_fail(err, step, s);
		natsOptions_Destroy(o);
		return -1;
	}
	s = natsConnection_Connect(nc, o);
	natsOptions_Destroy(o);
	/* NATS_NOT_YET_CONNECTED: retrying in the background (keep_trying) */
	if (s != NATS_OK && !(keep_trying && s == NATS_NOT_YET_CONNECTED)) {
		*nc = NULL;
		return nats_fail(err, cfg->url, s);
	}
	return 0;
}

/* Bind bucket @name, or (@create) create it with @kc's settings if it does not exist. */
static int bucket(jsCtx *js, kvConfig *kc, bool create, kvStore **kv, char **err)
{
	char what[128];
	natsStatus s;

	*kv = NULL;
	s = js_KeyValue(kv, js, kc->Bucket);
	if (s == NATS_OK)
		return 0;
	snprintf(what, sizeof(what), "the fleet's bucket %s", kc->Bucket);
	if (s != NATS_NOT_FOUND)
		return nats_fail(err, what, s);
	if (!create)
		return 0;
	s = js_CreateKeyValue(kv, js, kc);
	if (s != NATS_OK) {
		snprintf(what, sizeof(what), "creating the fleet's bucket %s", kc->Bucket);
		return nats_fail(err, what, s);
	}
	return 0;
}

int fleet_hosts_bucket(jsCtx *js, bool create, kvStore **kv, char **err)
{
	kvConfig kc;

	kvConfig_Init(&kc);
	kc.Bucket = FLEET_HOSTS_BUCKET;
	kc.Description = "dbos fleet members: one entry per host, renewed every heartbeat";
	kc.History = 1;
	/* a stale entry outlives its host a little, then JetStream drops it (ns) */
	kc.TTL = (int64_t)FLEET_HEARTBEAT_MS * FLEET_STALE_BEATS * 4 * 1000000;
	return bucket(js, &kc, create, kv, err);
}

int fleet_policy_bucket(jsCtx *js, bool create, kvStore **kv, char **err)
{
	kvConfig kc;

	kvConfig_Init(&kc);
	kc.Bucket = FLEET_POLICY_BUCKET;
	kc.Description = "dbos fleet policy: key 'fleet', one revision per fleet policy version";
	kc.History = FLEET_POLICY_HISTORY;
	return bucket(js, &kc, create, kv, err);
}

int fleet_events_stream(jsCtx *js, bool create, char **err)
{
	const char *subjects[] = { FLEET_SUBJECT_EVENTS ">" };
	jsStreamInfo *si = NULL;
	jsStreamConfig sc;
	jsErrCode jerr = 0;
	natsStatus s;

	s = js_GetStreamInfo(&si, js, FLEET_EVENTS_STREAM, NULL, &jerr);
	jsStreamInfo_Destroy(si);
	if (s == NATS_OK)
		return 0;
	if (s != NATS_NOT_FOUND || !create)
		return nats_fail(err, "the fleet's history stream " FLEET_EVENTS_STREAM, s);
	jsStreamConfig_Init(&sc);
	sc.Name = FLEET_EVENTS_STREAM;
	sc.Description = "dbos fleet history: every host's history rows, by host and table";
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.MaxAge = (int64_t)FLEET_EVENTS_MAX_AGE_S * 1000000000;
	sc.MaxBytes = FLEET_EVENTS_MAX_BYTES;
	sc.Duplicates = (int64_t)120 * 1000000000;	/* a resent batch within 2 min is dropped */
	s = js_AddStream(&si, js, &sc, NULL, &jerr);
	jsStreamInfo_Destroy(si);
	if (s != NATS_OK && jerr != JSStreamNameExistErr)
		return nats_fail(err, "creating the fleet's history stream " FLEET_EVENTS_STREAM, s);
	return 0;
}

void fleet_policy_meta(struct dbos_buf *b, const char *action, uint64_t from, const char *by,
		       int64_t time)
{
	char text[512];
	int n = snprintf(text, sizeof(text), "format=1\naction=%s\nfrom=%llu\nby=%s\ntime=%lld\n",
			 action, (unsigned long long)from, by, (long long)time);

	dbos_frame_put(b, DBOS_F_NOTICE, text, n < (int)sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

char *fleet_field(const char *text, size_t len, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = text, *end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		if ((size_t)(eol - p) > kl && !memcmp(p, key, kl) && p[kl] == '=')
			return strndup(p + kl + 1, (size_t)(eol - p - kl - 1));
		p = nl ? nl + 1 : end;
	}
	return NULL;
}

void fleet_policy_free(struct fleet_policy *fp)
{
	for (size_t i = 0; i < fp->n; i++) {
		struct fleet_rule *r = &fp->rules[i];

		free(r->target);
		free(r->name);
		free(r->hook);
		free(r->action);
		free(r->condition);
		free(r->sched_policy);
		free(r->cpus);
	}
	free(fp->rules);
	free(fp->action);
	free(fp->by);
	fp->rules = NULL;
	fp->action = fp->by = NULL;
	fp->n = 0;
}

/* Value @v as a malloc()ed string in *@out: non-empty TEXT, or NULL too if @nullable. */
static int rule_text(const struct dbos_value *v, bool nullable, char **out)
{
	*out = NULL;
	if (v->type == DBOS_T_NULL)
		return nullable ? 0 : -1;
	if (v->type != DBOS_T_TEXT || memchr(v->s, 0, v->len) || (!nullable && !v->len))
		return -1;
	*out = strndup(v->s, v->len);
	return *out ? 0 : -1;
}

static int rule_int(const struct dbos_value *v, bool *has, int *out)
{
	*has = v->type == DBOS_T_INT;
	*out = 0;
	if (v->type == DBOS_T_NULL)
		return 0;
	if (v->type != DBOS_T_INT || v->i < -1000000 || v->i > 1000000)
		return -1;
	*out = (int)v->i;
	return 0;
}

int fleet_policy_decode(const void *p, size_t n, struct fleet_policy *out, char **err)
{
	struct dbos_rd r;
	const uint8_t *body;
	char *num = NULL;
	size_t cap = 0;
	uint32_t len;
	uint8_t type;

	fleet_policy_free(out);
	dbos_rd_init(&r, p, n);
	len = dbos_rd_u32(&r);
	type = dbos_rd_u8(&r);
	body = dbos_rd_bytes(&r, len);
	if (r.err || type != DBOS_F_NOTICE)
		return fleet_errf(err, "a fleet policy version starts with an 'N' frame");
	num = fleet_field((const char *)body, len, "format");
	if (!num || strcmp(num, "1")) {
		free(num);
		return fleet_errf(err, "fleet policy format not known (this host knows format 1)");
	}
	free(num);
	out->action = fleet_field((const char *)body, len, "action");
	out->by = fleet_field((const char *)body, len, "by");
	num = fleet_field((const char *)body, len, "from");
	out->from = num ? strtoull(num, NULL, 10) : 0;
	free(num);
	num = fleet_field((const char *)body, len, "time");
	out->time = num ? strtoll(num, NULL, 10) : 0;
	free(num);
	while (r.left) {
		struct dbos_value v[FLEET_POLICY_NCOLS];
		struct fleet_rule *rule;
		struct dbos_rd row;

		len = dbos_rd_u32(&r);
		type = dbos_rd_u8(&r);
		body = dbos_rd_bytes(&r, len);
		if (r.err || type != DBOS_F_ROW)
			goto bad;
		dbos_rd_init(&row, body, len);
		for (int i = 0; i < FLEET_POLICY_NCOLS; i++)
			if (dbos_rd_value(&row, &v[i]))
				goto bad;
		if (row.left)
			goto bad;
		if (out->n == cap) {
			void *nr = realloc(out->rules, (cap = cap ? cap * 2 : 16) * sizeof(*out->rules));

			if (!nr)
				goto bad;
			out->rules = nr;
		}
		rule = &out->rules[out->n++];
		memset(rule, 0, sizeof(*rule));
		if (rule_text(&v[0], false, &rule->target) || rule_text(&v[1], false, &rule->name) ||
		    rule_text(&v[2], false, &rule->hook) || rule_text(&v[3], false, &rule->action) ||
		    rule_text(&v[4], true, &rule->condition) ||
		    rule_int(&v[5], &rule->has_nice, &rule->nice) ||
		    rule_text(&v[6], true, &rule->sched_policy) ||
		    rule_int(&v[7], &rule->has_priority, &rule->priority) ||
		    rule_text(&v[8], true, &rule->cpus))
			goto bad;
	}
	return 0;
bad:
	fleet_errf(err, "fleet policy version malformed at rule %zu", out->n);
	fleet_policy_free(out);
	return -1;
}

bool fleet_target_matches(const char *target, const char *host, const char *labels)
{
	size_t n;

	if (!strcmp(target, "all"))
		return true;
	if (!strncmp(target, "host:", 5))
		return !strcmp(target + 5, host);
	if (strncmp(target, "label:", 6) || !target[6])
		return false;
	target += 6;
	n = strlen(target);
	for (const char *l = labels; l && *l;) {
		const char *comma = strchr(l, ',');
		size_t ll = comma ? (size_t)(comma - l) : strlen(l);

		if (ll == n && !memcmp(l, target, n))
			return true;
		l = comma ? comma + 1 : l + ll;
	}
	return false;
}

void fleet_column_value(sqlite3_stmt *st, int i, struct dbos_value *v)
{
	memset(v, 0, sizeof(*v));
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		v->type = DBOS_T_INT;
		v->i = sqlite3_column_int64(st, i);
		break;
	case SQLITE_FLOAT:
		v->type = DBOS_T_FLOAT;
		v->f = sqlite3_column_double(st, i);
		break;
	case SQLITE_TEXT:
		v->type = DBOS_T_TEXT;
		v->s = (const char *)sqlite3_column_text(st, i);
		v->len = (size_t)sqlite3_column_bytes(st, i);
		break;
	case SQLITE_BLOB:
		v->type = DBOS_T_BLOB;
		v->s = sqlite3_column_blob(st, i);
		v->len = (size_t)sqlite3_column_bytes(st, i);
		break;
	default:
		v->type = DBOS_T_NULL;
		break;
	}
}

int fleet_bind_value(sqlite3_stmt *st, int i, const struct dbos_value *v)
{
	switch (v->type) {
	case DBOS_T_INT:
		return sqlite3_bind_int64(st, i, v->i);
	case DBOS_T_FLOAT:
		return sqlite3_bind_double(st, i, v->f);
	case DBOS_T_TEXT:
		return sqlite3_bind_text64(st, i, v->s ? v->s : "", v->len, SQLITE_TRANSIENT,
					   SQLITE_UTF8);
	case DBOS_T_BLOB:
		return sqlite3_bind_blob64(st, i, v->s ? v->s : "", v->len, SQLITE_TRANSIENT);
	default:
		return sqlite3_bind_null(st, i);
	}
}
