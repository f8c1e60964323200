/* SPDX-License-Identifier: GPL-2.0 */
/* catalog.h - pg_catalog and information_schema for a dbos session, from the one registry (sql/schema.h). */
#ifndef DBOS_PGWIRE_CATALOG_H
#define DBOS_PGWIRE_CATALOG_H

#include <sqlite3.h>

struct pgsettings;

/* The oids the catalog gives. */
#define PGCATALOG_NS_PG_CATALOG		11
#define PGCATALOG_NS_PUBLIC		2200
#define PGCATALOG_NS_INFORMATION_SCHEMA	13000
#define PGCATALOG_ROLE_ROOT		10	/* PostgreSQL's bootstrap superuser */
#define PGCATALOG_ROLE_USER		16383	/* the connecting user, when not root */
#define PGCATALOG_DATABASE		16380	/* "dbos" */
#define PGCATALOG_FIRST_TABLE		16384	/* + index in schema_catalog_tables[] */
#define PGCATALOG_FIRST_VIEW		16884	/* + index in schema_views[] */
#define PGCATALOG_FIRST_PROC		17384	/* dbos functions, then table-valued ones */

/*
 * pgcatalog_setup - on a fresh session, before its guard is applied (it
 * ATTACHes): attach pg_catalog and information_schema (in memory, private
 * to the session), fill them from dbos's registry, and register the SQL
 * functions the translated text calls (pgsql.c: regclass(), pg_bool(),
 * regexp(), current_setting(), ...), which read and SET @s (kept: it must
 * outlive @db). 0, or -1 and *@err (free()).
 */
int pgcatalog_setup(sqlite3 *db, struct pgsettings *s, char **err);

/* The type oid of a column declared @decltype ("INTEGER": int8 20, "TEXT": text 25, ...); NULL: text. */
int pgcatalog_type_oid(const char *sqlite_decltype);
/* PostgreSQL's name of type @oid ("int8"), or NULL if the catalog has no such type. */
const char *pgcatalog_type_name(int oid);
/* typlen of type @oid (-1: variable), for RowDescription. */
int pgcatalog_type_len(int oid);
/* The oid pg_class gives dbos table or view @table, or 0 if there is none. */
int pgcatalog_table_oid(const char *table);

#endif /* DBOS_PGWIRE_CATALOG_H */
