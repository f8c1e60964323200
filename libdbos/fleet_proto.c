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

int fleet_hosts_bucket(jsCtx *js, bool create, kvStore **kv, char **err)
{
	kvConfig kc;
	natsStatus s;

	*kv = NULL;
	s = js_KeyValue(kv, js, FLEET_HOSTS_BUCKET);
	if (s == NATS_OK)
		return 0;
	if (s != NATS_NOT_FOUND)
		return nats_fail(err, "the fleet's membership bucket " FLEET_HOSTS_BUCKET, s);
	if (!create)
		return 0;
	kvConfig_Init(&kc);
	kc.Bucket = FLEET_HOSTS_BUCKET;
	kc.Description = "dbos fleet members: one entry per host, renewed every heartbeat";
	kc.History = 1;
	/* a stale entry outlives its host a little, then JetStream drops it (ns) */
	kc.TTL = (int64_t)FLEET_HEARTBEAT_MS * FLEET_STALE_BEATS * 4 * 1000000;
	s = js_CreateKeyValue(kv, js, &kc);
	if (s != NATS_OK)
		return nats_fail(err, "creating the fleet's membership bucket " FLEET_HOSTS_BUCKET, s);
	return 0;
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
