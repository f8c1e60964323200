/* SPDX-License-Identifier: GPL-2.0 */
/* settings.h - the PostgreSQL settings (GUCs) of one wire connection: SET, SHOW, current_setting(), pg_settings. */
#ifndef DBOS_PGWIRE_SETTINGS_H
#define DBOS_PGWIRE_SETTINGS_H

#include <stdbool.h>

struct pgsettings;

/* pgsettings_new - the defaults for a connection of @user (session_authorization, is_superuser). NULL: out of memory. */
struct pgsettings *pgsettings_new(const char *user);
void pgsettings_free(struct pgsettings *s);

/*
 * pgsettings_set - SET @name (case-insensitive) to @value, or back to its
 * default when @value is NULL (SET x TO DEFAULT, RESET x). 0, or -1 and
 * *@err (free()) and *@sqlstate: "42704" unrecognized configuration
 * parameter, "22023" a value refused (client_encoding other than UTF8, a
 * bad boolean), "55P02" a parameter that cannot be changed
 * (server_version, ...). A name with a '.' is a custom setting, as in
 * PostgreSQL: it is created on first SET.
 */
int pgsettings_set(struct pgsettings *s, const char *name, const char *value, char **err,
		   const char **sqlstate);
/* pgsettings_reset_all - RESET ALL: every changeable setting back to its default. */
void pgsettings_reset_all(struct pgsettings *s);

/* pgsettings_get - the value of @name, or NULL if there is no such setting. Valid until the next set. */
const char *pgsettings_get(const struct pgsettings *s, const char *name);

/*
 * pgsettings_at - the @i-th setting (0..), for SHOW ALL and pg_settings, in
 * a stable order (built-in ones, then custom ones): true and *@name, *@value,
 * *@doc filled, or false past the last one.
 */
bool pgsettings_at(const struct pgsettings *s, int i, const char **name, const char **value,
		   const char **doc);

/* pgsettings_name - PostgreSQL's spelling of @name ("datestyle" -> "DateStyle"), or NULL if unknown. */
const char *pgsettings_name(const char *name);

/*
 * pgsettings_reported - true if PostgreSQL reports @name to the client in a
 * ParameterStatus message at startup and whenever it changes (GUC_REPORT).
 */
bool pgsettings_reported(const char *name);

#endif /* DBOS_PGWIRE_SETTINGS_H */
