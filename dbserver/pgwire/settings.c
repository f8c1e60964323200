// SPDX-License-Identifier: GPL-2.0
/* settings.c - the PostgreSQL settings (GUCs) of one wire connection: SET, SHOW, current_setting(), pg_settings. */

/*
 * USAGE
 *
 *   struct pgsettings *s = pgsettings_new("alice");
 *   pgsettings_set(s, "application_name", "psql", &err, &state);  -- 0
 *   pgsettings_get(s, "DATESTYLE");                               -- "ISO, MDY"
 *   pgsettings_set(s, "client_encoding", "LATIN1", &err, &state); -- -1, 22023
 *   pgsettings_set(s, "myapp.tenant", "7", &err, &state);         -- 0: custom
 *   if (pgsettings_reported("TimeZone")) ...send ParameterStatus...
 *
 * HOW IT WORKS
 *
 *   A fixed table (builtins[]) names every setting clients read or set, in
 *   PostgreSQL's spelling, with its default, whether it can be changed and
 *   whether it is reported (GUC_REPORT). A connection keeps one malloc()ed
 *   value per built-in setting (NULL: the default) and a list of custom
 *   ("a.b") settings. Values are text, as PostgreSQL's SHOW gives them;
 *   booleans are normalised to on/off. dbos has one time zone (UTC), one
 *   encoding (UTF8) and serializable transactions (SQLite), so those
 *   settings take only the values that are true.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbserver/pgwire/settings.h"

enum kind { FIXED, TEXT, BOOL, ENCODING, TIMEZONE, ISOLATION };

struct builtin {
	const char *name;
	const char *def;
	enum kind kind;
	bool reported;
	const char *doc;
};

static const struct builtin builtins[] = {
	{ "application_name", "", TEXT, true, "Sets the application name to be reported in statistics and logs." },
	{ "bytea_output", "hex", TEXT, false, "Sets the output format for bytea." },
	{ "client_encoding", "UTF8", ENCODING, true, "Sets the client's character set encoding (dbos: UTF8 only)." },
	{ "client_min_messages", "notice", TEXT, false, "Sets the message levels that are sent to the client." },
	{ "DateStyle", "ISO, MDY", TEXT, true, "Sets the display format for date and time values." },
	{ "default_transaction_isolation", "serializable", ISOLATION, false, "Sets the transaction isolation level of each new transaction (SQLite: serializable)." },
	{ "default_transaction_read_only", "off", BOOL, true, "Sets the default read-only status of new transactions." },
	{ "extra_float_digits", "1", TEXT, false, "Sets the number of digits displayed for floating-point values." },
	{ "idle_in_transaction_session_timeout", "0", TEXT, false, "Sets the maximum allowed idle time between queries, when in a transaction." },
	{ "in_hot_standby", "off", FIXED, true, "Shows whether hot standby is currently active." },
	{ "integer_datetimes", "on", FIXED, true, "Shows whether datetimes are integer based." },
	{ "IntervalStyle", "postgres", TEXT, true, "Sets the display format for interval values." },
	{ "is_superuser", "off", FIXED, true, "Shows whether the current user is a superuser." },
	{ "lc_collate", "C", FIXED, false, "Shows the collation order locale." },
	{ "lc_ctype", "C", FIXED, false, "Shows the character classification and case conversion locale." },
	{ "lc_messages", "C", TEXT, false, "Sets the language in which messages are displayed." },
	{ "lc_monetary", "C", TEXT, false, "Sets the locale for formatting monetary amounts." },
	{ "lc_numeric", "C", TEXT, false, "Sets the locale for formatting numbers." },
	{ "lc_time", "C", TEXT, false, "Sets the locale for formatting date and time values." },
	{ "lock_timeout", "0", TEXT, false, "Sets the maximum allowed duration of any wait for a lock." },
	{ "max_identifier_length", "63", FIXED, false, "Shows the maximum identifier length." },
	{ "max_index_keys", "32", FIXED, false, "Shows the maximum number of index keys." },
	{ "row_security", "on", BOOL, false, "Enable row security." },
	{ "search_path", "\"$user\", public", TEXT, false, "Sets the schema search order for names that are not schema-qualified." },
	{ "server_encoding", "UTF8", FIXED, true, "Shows the server (database) character set encoding." },
	{ "server_version", "15.0", FIXED, true, "Shows the server version (dbos speaks PostgreSQL 15's protocol and catalogs)." },
	{ "server_version_num", "150000", FIXED, false, "Shows the server version as an integer." },
	{ "session_authorization", "", FIXED, true, "Sets the session user name." },
	{ "standard_conforming_strings", "on", FIXED, true, "Causes '...' strings to treat backslashes literally." },
	{ "statement_timeout", "0", TEXT, false, "Sets the maximum allowed duration of any statement." },
	{ "synchronous_commit", "on", TEXT, false, "Sets the current transaction's synchronization level." },
	{ "TimeZone", "UTC", TIMEZONE, true, "Sets the time zone for displaying and interpreting time stamps (dbos: UTC)." },
	{ "transaction_isolation", "serializable", ISOLATION, false, "Sets the current transaction's isolation level (SQLite: serializable)." },
	{ "transaction_read_only", "off", BOOL, false, "Sets the current transaction's read-only status." },
	{ "xmloption", "content", TEXT, false, "Sets whether XML data in implicit parsing and serialization operations is to be considered as documents or content fragments." },
};

#define NBUILTIN	(sizeof(builtins) / sizeof(builtins[0]))

struct custom {
	char *name;
	char *value;
	struct custom *next;
};

struct pgsettings {
	char *user;
	char *values[NBUILTIN];		/* NULL: the default */
	struct custom *custom;		/* in the order they were first set */
};

static int find(const char *name)
{
	for (size_t i = 0; i < NBUILTIN; i++)
		if (!strcasecmp(builtins[i].name, name))
			return (int)i;
	return -1;
}

struct pgsettings *pgsettings_new(const char *user)
{
	struct pgsettings *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->user = strdup(user ? user : "root");
	if (!s->user) {
		free(s);
		return NULL;
	}
	return s;
}

void pgsettings_free(struct pgsettings *s)
{
	struct custom *c, *next;

	if (!s)
		return;
	for (size_t i = 0; i < NBUILTIN; i++)
		free(s->values[i]);
	for (c = s->custom; c; c = next) {
		next = c->next;
		free(c->name);
		free(c->value);
		free(c);
	}
	free(s->user);
	free(s);
}

static int fail(char **err, const char **sqlstate, const char *state, const char *fmt,
		const char *a, const char *b)
{
	char buf[512];

	snprintf(buf, sizeof(buf), fmt, a, b ? b : "");
	*err = strdup(buf);
	*sqlstate = state;
	return -1;
}

/* PostgreSQL's booleans: on/off, true/false, yes/no, 1/0, t/f, y/n. "on", "off" or NULL. */
static const char *boolean(const char *v)
{
	static const char *const yes[] = { "on", "true", "yes", "1", "t", "y" };
	static const char *const no[] = { "off", "false", "no", "0", "f", "n" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(v, yes[i]))
			return "on";
		if (!strcasecmp(v, no[i]))
			return "off";
	}
	return NULL;
}

/* The value @v of setting @b as PostgreSQL would keep it, or NULL and the error. */
static const char *check(const struct builtin *b, const char *v, char **err, const char **sqlstate)
{
	switch (b->kind) {
	case FIXED:
		fail(err, sqlstate, "55P02", "parameter \"%s\" cannot be changed%s", b->name, NULL);
		return NULL;
	case BOOL:
		if (!boolean(v))
			fail(err, sqlstate, "22023", "parameter \"%s\" requires a Boolean value (not \"%s\")",
			     b->name, v);
		return boolean(v);
	case ENCODING:
		if (strcasecmp(v, "UTF8") && strcasecmp(v, "UTF-8") && strcasecmp(v, "UNICODE")) {
			fail(err, sqlstate, "22023",
			     "invalid value for parameter \"client_encoding\": \"%s\" (dbos speaks UTF8 only)",
			     v, NULL);
			return NULL;
		}
		return "UTF8";
	case TIMEZONE:
		if (strcasecmp(v, "UTC") && strcasecmp(v, "GMT") && strcasecmp(v, "Etc/UTC") &&
		    strcasecmp(v, "Z") && strcasecmp(v, "Zulu") && strcmp(v, "0") &&
		    strcasecmp(v, "+00") && strcasecmp(v, "+00:00") && strcasecmp(v, "UCT") &&
		    strcasecmp(v, "Universal") && strcasecmp(v, "Etc/GMT") && strcasecmp(v, "local")) {
			fail(err, sqlstate, "22023",
			     "invalid value for parameter \"TimeZone\": \"%s\" (dbos keeps time in UTC only)",
			     v, NULL);
			return NULL;
		}
		return strcasecmp(v, "GMT") ? "UTC" : "GMT";
	case ISOLATION:
		if (strcasecmp(v, "serializable") && strcasecmp(v, "repeatable read") &&
		    strcasecmp(v, "read committed") && strcasecmp(v, "read uncommitted") &&
		    strcasecmp(v, "default")) {
			fail(err, sqlstate, "22023", "invalid value for parameter \"%s\": \"%s\"", b->name, v);
			return NULL;
		}
		return "serializable";	/* every level is serializable in SQLite */
	case TEXT:
		break;
	}
	return v;
}

int pgsettings_set(struct pgsettings *s, const char *name, const char *value, char **err,
		   const char **sqlstate)
{
	int i = find(name);
	struct custom *c, **tail;
	const char *v = value;
	char *copy;

	if (i < 0) {
		if (!strchr(name, '.') || name[0] == '.' || name[strlen(name) - 1] == '.')
			return fail(err, sqlstate, "42704",
				    "unrecognized configuration parameter \"%s\"", name, NULL);
		for (tail = &s->custom; *tail; tail = &(*tail)->next)
			if (!strcasecmp((*tail)->name, name))
				break;
		copy = strdup(value ? value : "");
		if (!copy)
			return fail(err, sqlstate, "53200", "out of memory%s", "", NULL);
		if (*tail) {
			free((*tail)->value);
			(*tail)->value = copy;
			return 0;
		}
		c = calloc(1, sizeof(*c));
		if (!c || !(c->name = strdup(name))) {
			free(c);
			free(copy);
			return fail(err, sqlstate, "53200", "out of memory%s", "", NULL);
		}
		for (char *p = c->name; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p += 'a' - 'A';
		c->value = copy;
		*tail = c;
		return 0;
	}
	if (value && !(v = check(&builtins[i], value, err, sqlstate)))
		return -1;
	if (!value && builtins[i].kind == FIXED)
		return fail(err, sqlstate, "55P02", "parameter \"%s\" cannot be changed%s",
			    builtins[i].name, NULL);
	copy = NULL;
	if (v && !(copy = strdup(v)))
		return fail(err, sqlstate, "53200", "out of memory%s", "", NULL);
	free(s->values[i]);
	s->values[i] = copy;
	return 0;
}

void pgsettings_reset_all(struct pgsettings *s)
{
	for (size_t i = 0; i < NBUILTIN; i++) {
		free(s->values[i]);
		s->values[i] = NULL;
	}
}

static const char *value_of(const struct pgsettings *s, size_t i)
{
	if (s->values[i])
		return s->values[i];
	if (!strcmp(builtins[i].name, "session_authorization"))
		return s->user;
	if (!strcmp(builtins[i].name, "is_superuser"))
		return strcmp(s->user, "root") ? "off" : "on";
	return builtins[i].def;
}

const char *pgsettings_get(const struct pgsettings *s, const char *name)
{
	int i = find(name);

	if (i >= 0)
		return value_of(s, i);
	for (struct custom *c = s->custom; c; c = c->next)
		if (!strcasecmp(c->name, name))
			return c->value;
	return NULL;
}

bool pgsettings_at(const struct pgsettings *s, int i, const char **name, const char **value,
		   const char **doc)
{
	struct custom *c;

	if (i < 0)
		return false;
	if ((size_t)i < NBUILTIN) {
		*name = builtins[i].name;
		*value = value_of(s, i);
		*doc = builtins[i].doc;
		return true;
	}
	i -= NBUILTIN;
	for (c = s->custom; c && i; c = c->next)
		i--;
	if (!c)
		return false;
	*name = c->name;
	*value = c->value;
	*doc = "Custom setting.";
	return true;
}

const char *pgsettings_name(const char *name)
{
	int i = find(name);

	return i < 0 ? NULL : builtins[i].name;
}

bool pgsettings_reported(const char *name)
{
	int i = find(name);

	return i >= 0 && builtins[i].reported;
}
