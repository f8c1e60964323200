// SPDX-License-Identifier: GPL-2.0
/* catalog.c - pg_catalog and information_schema for a dbos session, from the one registry (sql/schema.h). */

/*
 * USAGE
 *
 *   pgcatalog_setup(db, settings, &err);   -- on a new session, before guard_apply()
 *
 *   SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
 *     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
 *     WHERE c.relname = 'processes' ORDER BY a.attnum;
 *   -- processes | pid | bigint, processes | parent | bigint, ... name | text ...
 *   SELECT table_name FROM information_schema.tables WHERE table_schema = 'public';
 *   SELECT obj_description('processes'::regclass, 'pg_class');   -- (translated by pgsql.c)
 *   -- Live processes, one row per process (thread group)
 *
 * HOW IT WORKS
 *
 *   Two in-memory databases are attached to the session, as pg_catalog and
 *   information_schema, so that both qualified (pg_catalog.pg_class) and
 *   bare (pg_class: SQLite looks in main, then in the attached databases)
 *   names work. Their tables are real tables, with PostgreSQL 15's column
 *   names (those psql, psycopg, pgJDBC, Grafana and postgres_fdw read), filled
 *   once per process (the first session's) and copied into each session
 *   after it (sqlite3_deserialize: a fraction of a millisecond, where
 *   filling them took 18 ms), then the connecting user's pg_authid row:
 *
 *   - pg_class, pg_attribute, pg_description, information_schema.tables
 *     and .columns from the registry: schema_catalog_tables[] (tables; the
 *     table-valued functions among them, and sql_changes_table(), go to
 *     pg_proc), schema_views[] (views; their columns are what SQLite
 *     declares for them), schema_catalog_functions[] (pg_proc), with each
 *     table's and column's doc as its description. The catalog's own tables
 *     are in pg_class too (namespace pg_catalog), from sqlite_schema. Oids:
 *     see catalog.h; a table's oid is stable within a release.
 *   - pg_type from types[] below (the types clients look up: bool 16 ...
 *     regclass 2205, and their array types); a registry column INTEGER is
 *     int8, TEXT is text.
 *   - pg_namespace, pg_database, pg_roles (root, and the connecting user),
 *     pg_am, pg_collation, pg_tablespace: the few rows that are true.
 *   - pg_settings is a view over the session's struct pgsettings (a JSON
 *     function, so a SET shows at once).
 *   - pg_index, pg_constraint, pg_inherits, pg_trigger, pg_policy, ...:
 *     empty, with the columns clients read: dbos has no indexes,
 *     constraints, inheritance, triggers or policies of PostgreSQL's kind.
 *
 *   The functions PostgreSQL has and SQLite lacks, which pgsql.c's
 *   translation calls, are registered here too (functions[]): reg* casts,
 *   pg_bool, regexp (POSIX ERE; a leading "(?i)" ignores case), arrays as
 *   PostgreSQL's text form '{a,b}', current_setting/set_config over the
 *   settings, format_type, obj_description, version(), now(), the
 *   privilege checks (always true: dbos's guard and the tables decide),
 *   and generate_series as a table-valued function. They are innocuous
 *   (dbosd runs trusted_schema=OFF), except those that change a setting.
 */
#include <ctype.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dbserver/pgwire/catalog.h"
#include "dbserver/pgwire/settings.h"
#include "dbserver/sql/schema.h"
#include "dbserver/sql/sql_int.h"

/* ---- types ------------------------------------------------------------------------------- */

struct pgtype {
	int oid;
	const char *name;
	const char *sqlname;	/* format_type()'s spelling */
	int len;
	char category;
	int elem, array;
	bool byval;
	char align;
};

static const struct pgtype types[] = {
	{ 16, "bool", "boolean", 1, 'B', 0, 1000, true, 'c' },
	{ 17, "bytea", "bytea", -1, 'U', 0, 1001, false, 'i' },
	{ 18, "char", "\"char\"", 1, 'Z', 0, 1002, true, 'c' },
	{ 19, "name", "name", 64, 'S', 18, 1003, false, 'c' },
	{ 20, "int8", "bigint", 8, 'N', 0, 1016, true, 'd' },
	{ 21, "int2", "smallint", 2, 'N', 0, 1005, true, 's' },
	{ 22, "int2vector", "int2vector", -1, 'A', 21, 1006, false, 'i' },
	{ 23, "int4", "integer", 4, 'N', 0, 1007, true, 'i' },
	{ 24, "regproc", "regproc", 4, 'N', 0, 1008, true, 'i' },
	{ 25, "text", "text", -1, 'S', 0, 1009, false, 'i' },
	{ 26, "oid", "oid", 4, 'N', 0, 1028, true, 'i' },
	{ 27, "tid", "tid", 6, 'U', 0, 1010, false, 's' },
	{ 28, "xid", "xid", 4, 'U', 0, 1011, true, 'i' },
	{ 29, "cid", "cid", 4, 'U', 0, 1012, true, 'i' },
	{ 30, "oidvector", "oidvector", -1, 'A', 26, 1013, false, 'i' },
	{ 114, "json", "json", -1, 'U', 0, 199, false, 'i' },
	{ 194, "pg_node_tree", "pg_node_tree", -1, 'Z', 0, 0, false, 'i' },
	{ 700, "float4", "real", 4, 'N', 0, 1021, true, 'i' },
	{ 701, "float8", "double precision", 8, 'N', 0, 1022, true, 'd' },
	{ 705, "unknown", "unknown", -2, 'X', 0, 0, false, 'c' },
	{ 1033, "aclitem", "aclitem", 12, 'U', 0, 1034, false, 'i' },
	{ 1042, "bpchar", "character", -1, 'S', 0, 1014, false, 'i' },
	{ 1043, "varchar", "character varying", -1, 'S', 0, 1015, false, 'i' },
	{ 1082, "date", "date", 4, 'D', 0, 1182, true, 'i' },
	{ 1083, "time", "time without time zone", 8, 'D', 0, 1183, true, 'd' },
	{ 1114, "timestamp", "timestamp without time zone", 8, 'D', 0, 1115, true, 'd' },
	{ 1184, "timestamptz", "timestamp with time zone", 8, 'D', 0, 1185, true, 'd' },
	{ 1186, "interval", "interval", 16, 'T', 0, 1187, false, 'd' },
	{ 1700, "numeric", "numeric", -1, 'N', 0, 1231, false, 'i' },
	{ 2205, "regclass", "regclass", 4, 'N', 0, 2210, true, 'i' },
	{ 2206, "regtype", "regtype", 4, 'N', 0, 2211, true, 'i' },
	{ 2249, "record", "record", -1, 'P', 0, 2287, false, 'd' },
	{ 2275, "cstring", "cstring", -2, 'P', 0, 1263, false, 'c' },
	{ 2276, "any", "\"any\"", 4, 'P', 0, 0, true, 'i' },
	{ 2277, "anyarray", "anyarray", -1, 'P', 0, 0, false, 'd' },
	{ 2278, "void", "void", 4, 'P', 0, 0, true, 'i' },
	{ 2950, "uuid", "uuid", 16, 'U', 0, 2951, false, 'c' },
	{ 3802, "jsonb", "jsonb", -1, 'U', 0, 3807, false, 'i' },
	{ 4089, "regnamespace", "regnamespace", 4, 'N', 0, 4090, true, 'i' },
	{ 4096, "regrole", "regrole", 4, 'N', 0, 4097, true, 'i' },
};

#define NTYPES	(sizeof(types) / sizeof(types[0]))

static const struct pgtype *type_by_oid(int oid)
{
	for (size_t i = 0; i < NTYPES; i++)
		if (types[i].oid == oid)
			return &types[i];
	return NULL;
}

/* The element type whose array type is @oid, or NULL. */
static const struct pgtype *type_by_array(int oid)
{
	for (size_t i = 0; i < NTYPES; i++)
		if (types[i].array == oid)
			return &types[i];
	return NULL;
}

int pgcatalog_type_oid(const char *decl)
{
	if (!decl || !*decl)
		return 25;
	if (strcasestr(decl, "INT"))
		return 20;
	if (strcasestr(decl, "CHAR") || strcasestr(decl, "CLOB") || strcasestr(decl, "TEXT"))
		return 25;
	if (strcasestr(decl, "BLOB"))
		return 17;
	if (strcasestr(decl, "REAL") || strcasestr(decl, "FLOA") || strcasestr(decl, "DOUB"))
		return 701;
	if (!strcasecmp(decl, "BOOLEAN") || !strcasecmp(decl, "BOOL"))
		return 16;
	if (strcasestr(decl, "NUM") || strcasestr(decl, "DEC"))
		return 1700;
	return 25;
}

const char *pgcatalog_type_name(int oid)
{
	const struct pgtype *t = type_by_oid(oid);
	static char names[NTYPES][32];

	if (t)
		return t->name;
	t = type_by_array(oid);
	if (!t)
		return NULL;
	if (!names[t - types][0])
		snprintf(names[t - types], sizeof(names[0]), "_%s", t->name);
	return names[t - types];
}

int pgcatalog_type_len(int oid)
{
	const struct pgtype *t = type_by_oid(oid);

	return t ? t->len : -1;
}

static bool is_table_function(const struct schema_table *t)
{
	if (t->nkeys)
		return false;
	for (int i = 0; i < t->ncols; i++)
		if (t->cols[i].hidden)
			return true;
	return false;
}

int pgcatalog_table_oid(const char *table)
{
	for (int i = 0; schema_catalog_tables[i]; i++)
		if (!strcmp(schema_catalog_tables[i]->name, table))
			return is_table_function(schema_catalog_tables[i]) ? 0 : PGCATALOG_FIRST_TABLE + i;
	for (int i = 0; schema_views[i]; i++)
		if (!strcmp(schema_views[i]->name, table))
			return PGCATALOG_FIRST_VIEW + i;
	return 0;
}

/* ---- the catalog's tables ------------------------------------------------------------------ */

/* Every catalog table: PostgreSQL 15's columns that clients read. Oids and counts are INTEGER. */
static const char *const ddl[] = {
	"CREATE TABLE pg_catalog.pg_namespace(oid INTEGER PRIMARY KEY, nspname TEXT, nspowner INTEGER,"
	" nspacl TEXT)",
	"CREATE TABLE pg_catalog.pg_class(oid INTEGER PRIMARY KEY, relname TEXT, relnamespace INTEGER,"
	" reltype INTEGER, reloftype INTEGER, relowner INTEGER, relam INTEGER, relfilenode INTEGER,"
	" reltablespace INTEGER, relpages INTEGER, reltuples REAL, relallvisible INTEGER,"
	" reltoastrelid INTEGER, relhasindex BOOLEAN, relisshared BOOLEAN, relpersistence TEXT,"
	" relkind TEXT, relnatts INTEGER, relchecks INTEGER, relhasrules BOOLEAN,"
	" relhastriggers BOOLEAN, relhassubclass BOOLEAN, relrowsecurity BOOLEAN,"
	" relforcerowsecurity BOOLEAN, relispopulated BOOLEAN, relreplident TEXT,"
	" relispartition BOOLEAN, relrewrite INTEGER, relfrozenxid INTEGER, relminmxid INTEGER,"
	" relacl TEXT, reloptions TEXT, relpartbound TEXT)",
	"CREATE TABLE pg_catalog.pg_attribute(attrelid INTEGER, attname TEXT, atttypid INTEGER,"
	" attstattarget INTEGER, attlen INTEGER, attnum INTEGER, attndims INTEGER,"
	" attcacheoff INTEGER, atttypmod INTEGER, attbyval BOOLEAN, attalign TEXT, attstorage TEXT,"
	" attcompression TEXT, attnotnull BOOLEAN, atthasdef BOOLEAN, atthasmissing BOOLEAN,"
	" attidentity TEXT, attgenerated TEXT, attisdropped BOOLEAN, attislocal BOOLEAN,"
	" attinhcount INTEGER, attcollation INTEGER, attacl TEXT, attoptions TEXT,"
	" attfdwoptions TEXT, attmissingval TEXT, PRIMARY KEY (attrelid, attnum))",
	"CREATE TABLE pg_catalog.pg_type(oid INTEGER PRIMARY KEY, typname TEXT, typnamespace INTEGER,"
	" typowner INTEGER, typlen INTEGER, typbyval BOOLEAN, typtype TEXT, typcategory TEXT,"
	" typispreferred BOOLEAN, typisdefined BOOLEAN, typdelim TEXT, typrelid INTEGER,"
	" typsubscript TEXT, typelem INTEGER, typarray INTEGER, typinput TEXT, typoutput TEXT,"
	" typreceive TEXT, typsend TEXT, typmodin TEXT, typmodout TEXT, typanalyze TEXT,"
	" typalign TEXT, typstorage TEXT, typnotnull BOOLEAN, typbasetype INTEGER,"
	" typtypmod INTEGER, typndims INTEGER, typcollation INTEGER, typdefaultbin TEXT,"
	" typdefault TEXT, typacl TEXT)",
	"CREATE TABLE pg_catalog.pg_proc(oid INTEGER PRIMARY KEY, proname TEXT, pronamespace INTEGER,"
	" proowner INTEGER, prolang INTEGER, procost REAL, prorows REAL, provariadic INTEGER,"
	" prosupport TEXT, prokind TEXT, prosecdef BOOLEAN, proleakproof BOOLEAN,"
	" proisstrict BOOLEAN, proretset BOOLEAN, provolatile TEXT, proparallel TEXT,"
	" pronargs INTEGER, pronargdefaults INTEGER, prorettype INTEGER, proargtypes TEXT,"
	" proallargtypes TEXT, proargmodes TEXT, proargnames TEXT, proargdefaults TEXT,"
	" protrftypes TEXT, prosrc TEXT, probin TEXT, prosqlbody TEXT, proconfig TEXT, proacl TEXT,"
	" dbos_result TEXT, dbos_arguments TEXT)",
	"CREATE TABLE pg_catalog.pg_description(objoid INTEGER, classoid INTEGER, objsubid INTEGER,"
	" description TEXT, PRIMARY KEY (objoid, classoid, objsubid))",
	"CREATE TABLE pg_catalog.pg_shdescription(objoid INTEGER, classoid INTEGER, description TEXT)",
	"CREATE TABLE pg_catalog.pg_database(oid INTEGER PRIMARY KEY, datname TEXT, datdba INTEGER,"
	" encoding INTEGER, datlocprovider TEXT, datistemplate BOOLEAN, datallowconn BOOLEAN,"
	" datconnlimit INTEGER, datfrozenxid INTEGER, datminmxid INTEGER, dattablespace INTEGER,"
	" datcollate TEXT, datctype TEXT, daticulocale TEXT, datcollversion TEXT, datacl TEXT)",
	"CREATE TABLE pg_catalog.pg_authid(oid INTEGER PRIMARY KEY, rolname TEXT, rolsuper BOOLEAN,"
	" rolinherit BOOLEAN, rolcreaterole BOOLEAN, rolcreatedb BOOLEAN, rolcanlogin BOOLEAN,"
	" rolreplication BOOLEAN, rolbypassrls BOOLEAN, rolconnlimit INTEGER, rolpassword TEXT,"
	" rolvaliduntil TEXT)",
	"CREATE VIEW pg_catalog.pg_roles AS SELECT rolname, rolsuper, rolinherit, rolcreaterole,"
	" rolcreatedb, rolcanlogin, rolreplication, rolconnlimit, '********' AS rolpassword,"
	" rolvaliduntil, rolbypassrls, NULL AS rolconfig, oid FROM pg_catalog.pg_authid",
	"CREATE VIEW pg_catalog.pg_user AS SELECT rolname AS usename, oid AS usesysid,"
	" rolcreatedb AS usecreatedb, rolsuper AS usesuper, rolreplication AS userepl,"
	" rolbypassrls AS usebypassrls, '********' AS passwd, rolvaliduntil AS valuntil,"
	" NULL AS useconfig FROM pg_catalog.pg_authid WHERE rolcanlogin",
	"CREATE TABLE pg_catalog.pg_auth_members(roleid INTEGER, member INTEGER, grantor INTEGER,"
	" admin_option BOOLEAN)",
	"CREATE VIEW pg_catalog.pg_settings AS SELECT key AS name,"
	" value AS setting, NULL AS unit, 'dbos' AS category,"
	" pg_setting_doc(key) AS short_desc, NULL AS extra_desc, 'user' AS context,"
	" 'string' AS vartype, 'session' AS source, NULL AS min_val, NULL AS max_val,"
	" NULL AS enumvals, NULL AS boot_val, NULL AS reset_val, NULL AS sourcefile,"
	" NULL AS sourceline, 0 AS pending_restart FROM json_each(pg_settings_json())",
	"CREATE TABLE pg_catalog.pg_am(oid INTEGER PRIMARY KEY, amname TEXT, amhandler TEXT,"
	" amtype TEXT)",
	"CREATE TABLE pg_catalog.pg_collation(oid INTEGER PRIMARY KEY, collname TEXT,"
	" collnamespace INTEGER, collowner INTEGER, collprovider TEXT,"
	" collisdeterministic BOOLEAN, collencoding INTEGER, collcollate TEXT, collctype TEXT,"
	" colliculocale TEXT, collversion TEXT)",
	"CREATE TABLE pg_catalog.pg_tablespace(oid INTEGER PRIMARY KEY, spcname TEXT,"
	" spcowner INTEGER, spcacl TEXT, spcoptions TEXT)",
	"CREATE TABLE pg_catalog.pg_index(indexrelid INTEGER, indrelid INTEGER, indnatts INTEGER,"
	" indnkeyatts INTEGER, indisunique BOOLEAN, indnullsnotdistinct BOOLEAN,"
	" indisprimary BOOLEAN, indisexclusion BOOLEAN, indimmediate BOOLEAN,"
	" indisclustered BOOLEAN, indisvalid BOOLEAN, indcheckxmin BOOLEAN, indisready BOOLEAN,"
	" indislive BOOLEAN, indisreplident BOOLEAN, indkey TEXT, indcollation TEXT,"
	" indclass TEXT, indoption TEXT, indexprs TEXT, indpred TEXT)",
	"CREATE TABLE pg_catalog.pg_constraint(oid INTEGER, conname TEXT, connamespace INTEGER,"
	" contype TEXT, condeferrable BOOLEAN, condeferred BOOLEAN, convalidated BOOLEAN,"
	" conrelid INTEGER, contypid INTEGER, conindid INTEGER, conparentid INTEGER,"
	" confrelid INTEGER, confupdtype TEXT, confdeltype TEXT, confmatchtype TEXT,"
	" conislocal BOOLEAN, coninhcount INTEGER, connoinherit BOOLEAN, conkey TEXT,"
	" confkey TEXT, conpfeqop TEXT, conppeqop TEXT, conffeqop TEXT, confdelsetcols TEXT,"
	" conexclop TEXT, conbin TEXT)",
	"CREATE TABLE pg_catalog.pg_inherits(inhrelid INTEGER, inhparent INTEGER, inhseqno INTEGER,"
	" inhdetachpending BOOLEAN)",
	"CREATE TABLE pg_catalog.pg_attrdef(oid INTEGER, adrelid INTEGER, adnum INTEGER, adbin TEXT)",
	"CREATE TABLE pg_catalog.pg_policy(oid INTEGER, polname TEXT, polrelid INTEGER, polcmd TEXT,"
	" polpermissive BOOLEAN, polroles TEXT, polqual TEXT, polwithcheck TEXT)",
	"CREATE TABLE pg_catalog.pg_statistic_ext(oid INTEGER, stxrelid INTEGER, stxname TEXT,"
	" stxnamespace INTEGER, stxowner INTEGER, stxstattarget INTEGER, stxkeys TEXT,"
	" stxkind TEXT, stxexprs TEXT)",
	"CREATE TABLE pg_catalog.pg_publication(oid INTEGER, pubname TEXT, pubowner INTEGER,"
	" puballtables BOOLEAN, pubinsert BOOLEAN, pubupdate BOOLEAN, pubdelete BOOLEAN,"
	" pubtruncate BOOLEAN, pubviaroot BOOLEAN)",
	"CREATE TABLE pg_catalog.pg_publication_rel(oid INTEGER, prpubid INTEGER, prrelid INTEGER,"
	" prqual TEXT, prattrs TEXT)",
	"CREATE TABLE pg_catalog.pg_publication_namespace(oid INTEGER, pnpubid INTEGER,"
	" pnnspid INTEGER)",
	"CREATE TABLE pg_catalog.pg_foreign_table(ftrelid INTEGER, ftserver INTEGER,"
	" ftoptions TEXT)",
	"CREATE TABLE pg_catalog.pg_foreign_server(oid INTEGER, srvname TEXT, srvowner INTEGER,"
	" srvfdw INTEGER, srvtype TEXT, srvversion TEXT, srvacl TEXT, srvoptions TEXT)",
	"CREATE TABLE pg_catalog.pg_foreign_data_wrapper(oid INTEGER, fdwname TEXT,"
	" fdwowner INTEGER, fdwhandler INTEGER, fdwvalidator INTEGER, fdwacl TEXT,"
	" fdwoptions TEXT)",
	"CREATE TABLE pg_catalog.pg_trigger(oid INTEGER, tgrelid INTEGER, tgparentid INTEGER,"
	" tgname TEXT, tgfoid INTEGER, tgtype INTEGER, tgenabled TEXT, tgisinternal BOOLEAN,"
	" tgconstrrelid INTEGER, tgconstrindid INTEGER, tgconstraint INTEGER,"
	" tgdeferrable BOOLEAN, tginitdeferred BOOLEAN, tgnargs INTEGER, tgattr TEXT,"
	" tgargs TEXT, tgqual TEXT, tgoldtable TEXT, tgnewtable TEXT)",
	"CREATE TABLE pg_catalog.pg_rewrite(oid INTEGER, rulename TEXT, ev_class INTEGER,"
	" ev_type TEXT, ev_enabled TEXT, is_instead BOOLEAN, ev_qual TEXT, ev_action TEXT)",
	"CREATE TABLE pg_catalog.pg_partitioned_table(partrelid INTEGER, partstrat TEXT,"
	" partnatts INTEGER, partdefid INTEGER, partattrs TEXT, partclass TEXT,"
	" partcollation TEXT, partexprs TEXT)",
	"CREATE TABLE pg_catalog.pg_extension(oid INTEGER, extname TEXT, extowner INTEGER,"
	" extnamespace INTEGER, extrelocatable BOOLEAN, extversion TEXT, extconfig TEXT,"
	" extcondition TEXT)",
	"CREATE TABLE pg_catalog.pg_event_trigger(oid INTEGER, evtname TEXT, evtevent TEXT,"
	" evtowner INTEGER, evtfoid INTEGER, evtenabled TEXT, evttags TEXT)",
	"CREATE TABLE pg_catalog.pg_depend(classid INTEGER, objid INTEGER, objsubid INTEGER,"
	" refclassid INTEGER, refobjid INTEGER, refobjsubid INTEGER, deptype TEXT)",
	"CREATE TABLE pg_catalog.pg_sequence(seqrelid INTEGER, seqtypid INTEGER, seqstart INTEGER,"
	" seqincrement INTEGER, seqmax INTEGER, seqmin INTEGER, seqcache INTEGER, seqcycle BOOLEAN)",
	"CREATE TABLE pg_catalog.pg_enum(oid INTEGER, enumtypid INTEGER, enumsortorder REAL,"
	" enumlabel TEXT)",
	"CREATE TABLE pg_catalog.pg_range(rngtypid INTEGER, rngsubtype INTEGER,"
	" rngmultitypid INTEGER, rngcollation INTEGER, rngsubopc INTEGER, rngcanonical TEXT,"
	" rngsubdiff TEXT)",
	"CREATE TABLE pg_catalog.pg_language(oid INTEGER, lanname TEXT, lanowner INTEGER,"
	" lanispl BOOLEAN, lanpltrusted BOOLEAN, lanplcallfoid INTEGER, laninline INTEGER,"
	" lanvalidator INTEGER, lanacl TEXT)",
	"CREATE TABLE pg_catalog.pg_opclass(oid INTEGER, opcmethod INTEGER, opcname TEXT,"
	" opcnamespace INTEGER, opcowner INTEGER, opcfamily INTEGER, opcintype INTEGER,"
	" opcdefault BOOLEAN, opckeytype INTEGER)",
	"CREATE TABLE pg_catalog.pg_operator(oid INTEGER, oprname TEXT, oprnamespace INTEGER,"
	" oprowner INTEGER, oprkind TEXT, oprcanmerge BOOLEAN, oprcanhash BOOLEAN,"
	" oprleft INTEGER, oprright INTEGER, oprresult INTEGER, oprcom INTEGER,"
	" oprnegate INTEGER, oprcode TEXT, oprrest TEXT, oprjoin TEXT)",
	"CREATE TABLE pg_catalog.pg_cast(oid INTEGER, castsource INTEGER, casttarget INTEGER,"
	" castfunc INTEGER, castcontext TEXT, castmethod TEXT)",
	"CREATE TABLE pg_catalog.pg_matviews(schemaname TEXT, matviewname TEXT, matviewowner TEXT,"
	" tablespace TEXT, hasindexes BOOLEAN, ispopulated BOOLEAN, definition TEXT)",
	"CREATE VIEW pg_catalog.pg_tables AS SELECT n.nspname AS schemaname, c.relname AS tablename,"
	" 'root' AS tableowner, NULL AS tablespace, 0 AS hasindexes, 0 AS hasrules,"
	" 0 AS hastriggers, 0 AS rowsecurity FROM pg_catalog.pg_class c"
	" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')",
	"CREATE VIEW pg_catalog.pg_views AS SELECT n.nspname AS schemaname, c.relname AS viewname,"
	" 'root' AS viewowner, NULL AS definition FROM pg_catalog.pg_class c"
	" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'v'",
	"CREATE TABLE pg_catalog.pg_indexes(schemaname TEXT, tablename TEXT, indexname TEXT,"
	" tablespace TEXT, indexdef TEXT)",
	"CREATE TABLE pg_catalog.pg_stat_activity(datid INTEGER, datname TEXT, pid INTEGER,"
	" usesysid INTEGER, usename TEXT, application_name TEXT, client_addr TEXT,"
	" backend_start TEXT, xact_start TEXT, query_start TEXT, state TEXT, query TEXT,"
	" backend_type TEXT)",
	"CREATE TABLE pg_catalog.pg_locks(locktype TEXT, database INTEGER, relation INTEGER,"
	" pid INTEGER, mode TEXT, granted BOOLEAN)",
	/* information_schema */
	"CREATE TABLE information_schema.schemata(catalog_name TEXT, schema_name TEXT,"
	" schema_owner TEXT, default_character_set_catalog TEXT, default_character_set_schema TEXT,"
	" default_character_set_name TEXT, sql_path TEXT)",
	"CREATE TABLE information_schema.tables(table_catalog TEXT, table_schema TEXT,"
	" table_name TEXT, table_type TEXT, self_referencing_column_name TEXT,"
	" reference_generation TEXT, user_defined_type_catalog TEXT,"
	" user_defined_type_schema TEXT, user_defined_type_name TEXT, is_insertable_into TEXT,"
	" is_typed TEXT, commit_action TEXT)",
	"CREATE TABLE information_schema.columns(table_catalog TEXT, table_schema TEXT,"
	" table_name TEXT, column_name TEXT, ordinal_position INTEGER, column_default TEXT,"
	" is_nullable TEXT, data_type TEXT, character_maximum_length INTEGER,"
	" character_octet_length INTEGER, numeric_precision INTEGER,"
	" numeric_precision_radix INTEGER, numeric_scale INTEGER, datetime_precision INTEGER,"
	" interval_type TEXT, interval_precision INTEGER, character_set_catalog TEXT,"
	" character_set_schema TEXT, character_set_name TEXT, collation_catalog TEXT,"
	" collation_schema TEXT, collation_name TEXT, domain_catalog TEXT, domain_schema TEXT,"
	" domain_name TEXT, udt_catalog TEXT, udt_schema TEXT, udt_name TEXT, scope_catalog TEXT,"
	" scope_schema TEXT, scope_name TEXT, maximum_cardinality INTEGER, dtd_identifier TEXT,"
	" is_self_referencing TEXT, is_identity TEXT, identity_generation TEXT,"
	" identity_start TEXT, identity_increment TEXT, identity_maximum TEXT,"
	" identity_minimum TEXT, identity_cycle TEXT, is_generated TEXT,"
	" generation_expression TEXT, is_updatable TEXT)",
	"CREATE TABLE information_schema.views(table_catalog TEXT, table_schema TEXT,"
	" table_name TEXT, view_definition TEXT, check_option TEXT, is_updatable TEXT,"
	" is_insertable_into TEXT, is_trigger_updatable TEXT, is_trigger_deletable TEXT,"
	" is_trigger_insertable_into TEXT)",
	"CREATE TABLE information_schema.routines(specific_catalog TEXT, specific_schema TEXT,"
	" specific_name TEXT, routine_catalog TEXT, routine_schema TEXT, routine_name TEXT,"
	" routine_type TEXT, data_type TEXT, type_udt_catalog TEXT, type_udt_schema TEXT,"
	" type_udt_name TEXT, routine_body TEXT, routine_definition TEXT, external_language TEXT,"
	" is_deterministic TEXT, security_type TEXT)",
	"CREATE TABLE information_schema.key_column_usage(constraint_catalog TEXT,"
	" constraint_schema TEXT, constraint_name TEXT, table_catalog TEXT, table_schema TEXT,"
	" table_name TEXT, column_name TEXT, ordinal_position INTEGER,"
	" position_in_unique_constraint INTEGER)",
	"CREATE TABLE information_schema.table_constraints(constraint_catalog TEXT,"
	" constraint_schema TEXT, constraint_name TEXT, table_catalog TEXT, table_schema TEXT,"
	" table_name TEXT, constraint_type TEXT, is_deferrable TEXT, initially_deferred TEXT,"
	" enforced TEXT, nulls_distinct TEXT)",
};

/* The fixed rows. */
static const char *const rows[] = {
	"INSERT INTO pg_catalog.pg_namespace VALUES (11, 'pg_catalog', 10, NULL),"
	" (2200, 'public', 10, NULL), (13000, 'information_schema', 10, NULL)",
	"INSERT INTO pg_catalog.pg_database VALUES (16380, 'dbos', 10, 6, 'c', 0, 1, -1, 0, 1,"
	" 1663, 'C', 'C', NULL, NULL, NULL)",
	"INSERT INTO pg_catalog.pg_am VALUES (2, 'heap', 'heap_tableam_handler', 't'),"
	" (403, 'btree', 'bthandler', 'i')",
	"INSERT INTO pg_catalog.pg_collation VALUES (100, 'default', 11, 10, 'd', 1, -1, NULL, NULL,"
	" NULL, NULL), (950, 'C', 11, 10, 'c', 1, -1, 'C', 'C', NULL, NULL),"
	" (951, 'POSIX', 11, 10, 'c', 1, -1, 'POSIX', 'POSIX', NULL, NULL)",
	"INSERT INTO pg_catalog.pg_tablespace VALUES (1663, 'pg_default', 10, NULL, NULL),"
	" (1664, 'pg_global', 10, NULL, NULL)",
	"INSERT INTO pg_catalog.pg_language VALUES (12, 'internal', 10, 0, 0, 0, 0, 0, NULL),"
	" (13, 'c', 10, 0, 0, 0, 0, 0, NULL), (14, 'sql', 10, 0, 1, 0, 0, 0, NULL)",
	"INSERT INTO pg_catalog.pg_description VALUES (11, 2615, 0, 'system catalog schema'),"
	" (2200, 2615, 0, 'dbos tables and views: the kernel''s state, mirrored'),"
	" (13000, 2615, 0, 'SQL-standard catalog')",
	"INSERT INTO information_schema.schemata VALUES"
	" ('dbos', 'pg_catalog', 'root', NULL, NULL, NULL, NULL),"
	" ('dbos', 'public', 'root', NULL, NULL, NULL, NULL),"
	" ('dbos', 'information_schema', 'root', NULL, NULL, NULL, NULL)",
};

struct filler {
	sqlite3 *db;
	sqlite3_stmt *cls, *att, *desc, *proc;
	char **err;
};

static int fail_db(struct filler *f, const char *what)
{
	if (!*f->err && asprintf(f->err, "pg_catalog: %s: %s", what, sqlite3_errmsg(f->db)) < 0)
		*f->err = NULL;
	return -1;
}

static int exec(struct filler *f, const char *sql)
{
	if (sqlite3_exec(f->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return fail_db(f, sql);
	return 0;
}

static int step(struct filler *f, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : fail_db(f, what);
}

static int add_class(struct filler *f, int oid, const char *name, int ns, char kind, int natts)
{
	sqlite3_bind_int(f->cls, 1, oid);
	sqlite3_bind_text(f->cls, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(f->cls, 3, ns);
	sqlite3_bind_text(f->cls, 4, kind == 'v' ? "v" : "r", -1, SQLITE_STATIC);
	sqlite3_bind_int(f->cls, 5, natts);
	return step(f, f->cls, name);
}

static int add_desc(struct filler *f, int oid, int classoid, int sub, const char *doc)
{
	if (!doc || !*doc)
		return 0;
	sqlite3_bind_int(f->desc, 1, oid);
	sqlite3_bind_int(f->desc, 2, classoid);
	sqlite3_bind_int(f->desc, 3, sub);
	sqlite3_bind_text(f->desc, 4, doc, -1, SQLITE_STATIC);
	return step(f, f->desc, "pg_description");
}

static int add_att(struct filler *f, int rel, int num, const char *name, const char *decl,
		   const char *doc)
{
	int type = pgcatalog_type_oid(decl);
	const struct pgtype *t = type_by_oid(type);

	sqlite3_bind_int(f->att, 1, rel);
	sqlite3_bind_text(f->att, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(f->att, 3, type);
	sqlite3_bind_int(f->att, 4, t ? t->len : -1);
	sqlite3_bind_int(f->att, 5, num);
	sqlite3_bind_int(f->att, 6, t && t->byval);
	sqlite3_bind_text(f->att, 7, t && t->align == 'd' ? "d" : "i", -1, SQLITE_STATIC);
	sqlite3_bind_text(f->att, 8, t && t->byval ? "p" : "x", -1, SQLITE_STATIC);
	sqlite3_bind_int(f->att, 9, type == 25 ? 100 : 0);
	if (step(f, f->att, name))
		return -1;
	return add_desc(f, rel, 1259, num, doc);
}

/* The columns of @name as SQLite declares them (views, the catalog's own tables). */
static int add_declared_atts(struct filler *f, int rel, const char *schema, const char *name)
{
	sqlite3_stmt *st;
	char *sql = sqlite3_mprintf("SELECT * FROM \"%w\".\"%w\"", schema, name);
	int rc;

	if (!sql)
		return fail_db(f, "out of memory");
	rc = sqlite3_prepare_v2(f->db, sql, -1, &st, NULL);
	sqlite3_free(sql);
	if (rc != SQLITE_OK)
		return fail_db(f, name);
	for (int i = 0; i < sqlite3_column_count(st); i++)
		if (add_att(f, rel, i + 1, sqlite3_column_name(st, i), sqlite3_column_decltype(st, i), NULL))
			break;
	sqlite3_finalize(st);
	return *f->err ? -1 : 0;
}

static int add_proc(struct filler *f, int oid, const char *name, bool retset, int rettype,
		    const char *result, const char *args, int nargs, const char *doc)
{
	sqlite3_bind_int(f->proc, 1, oid);
	sqlite3_bind_text(f->proc, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(f->proc, 3, retset);
	sqlite3_bind_int(f->proc, 4, rettype);
	sqlite3_bind_text(f->proc, 5, result, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(f->proc, 6, args, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(f->proc, 7, nargs);
	if (step(f, f->proc, name))
		return -1;
	return add_desc(f, oid, 1255, 0, doc);
}

/* A table-valued function: pg_proc's "TABLE(col type, ...)" result and its arguments. */
static int add_table_function(struct filler *f, int oid, const struct schema_table *t)
{
	sqlite3_str *res = sqlite3_str_new(NULL), *args = sqlite3_str_new(NULL);
	const char *ressep = "", *argsep = "";
	char *r, *a;
	int nargs = 0, rc;

	sqlite3_str_appendall(res, "TABLE(");
	for (int i = 0; i < t->ncols; i++) {
		const struct pgtype *ty = type_by_oid(pgcatalog_type_oid(t->cols[i].type));

		if (t->cols[i].hidden) {
			sqlite3_str_appendf(args, "%s%s %s", argsep, t->cols[i].name, ty->sqlname);
			argsep = ", ";
			nargs++;
		} else {
			sqlite3_str_appendf(res, "%s%s %s", ressep, t->cols[i].name, ty->sqlname);
			ressep = ", ";
		}
	}
	sqlite3_str_appendall(res, ")");
	r = sqlite3_str_finish(res);
	a = sqlite3_str_finish(args);
	rc = r ? add_proc(f, oid, t->name, true, 2249, r, a ? a : "", nargs, t->doc) :
		 fail_db(f, "out of memory");
	sqlite3_free(r);
	sqlite3_free(a);
	return rc;
}

/* "policy_rollback(version INTEGER) -> INTEGER": pg_proc's arguments and result. */
static int add_function(struct filler *f, int oid, const struct schema_function *fn)
{
	const char *open = strchr(fn->signature, '('), *close = strrchr(fn->signature, ')');
	const char *arrow = strstr(fn->signature, "->");
	sqlite3_str *args = sqlite3_str_new(NULL);
	char *a, *argtext;
	int nargs = 0, rc, rettype;

	argtext = open && close && close > open ? strndup(open + 1, close - open - 1) : strdup("");
	for (char *p = argtext, *save = NULL, *tok; p && (tok = strtok_r(p, ",", &save)); p = NULL) {
		char name[64] = "", type[64] = "";

		if (sscanf(tok, " %63s %63s", name, type) < 1)
			continue;
		sqlite3_str_appendf(args, "%s%s %s", nargs ? ", " : "", name,
				    type_by_oid(pgcatalog_type_oid(type))->sqlname);
		nargs++;
	}
	free(argtext);
	a = sqlite3_str_finish(args);
	rettype = pgcatalog_type_oid(arrow ? arrow + 2 : NULL);
	rc = add_proc(f, oid, fn->name, false, rettype, type_by_oid(rettype)->sqlname, a ? a : "",
		      nargs, fn->doc);
	sqlite3_free(a);
	return rc;
}

/* pg_authid's row of the connecting user, when not root (root's is in every catalog). */
static int add_user(struct filler *f, const char *user)
{
	char *sql;

	if (!strcmp(user, "root"))
		return 0;
	sql = sqlite3_mprintf("INSERT INTO pg_catalog.pg_authid VALUES (16383, %Q, 0, 1, 0, 0, 1, "
			      "0, 0, -1, NULL, NULL)", user);
	if (!sql || exec(f, sql)) {
		sqlite3_free(sql);
		return fail_db(f, "pg_authid");
	}
	sqlite3_free(sql);
	return 0;
}

/* Everything but the connecting user's row: the same for every session of the process. */
static int fill(struct filler *f)
{
	int proc = PGCATALOG_FIRST_PROC;
	sqlite3_stmt *st;
	char *sql;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (exec(f, rows[i]))
			return -1;
	if (exec(f, "INSERT INTO pg_catalog.pg_authid VALUES (10, 'root', 1, 1, 1, 1, 1, 1, 1, -1,"
		 " NULL, NULL)"))
		return -1;
	for (size_t i = 0; i < NTYPES; i++) {
		const struct pgtype *t = &types[i];

		sql = sqlite3_mprintf(
			"INSERT INTO pg_catalog.pg_type VALUES (%d, %Q, 11, 10, %d, %d, %Q, '%c', 0, 1,"
			" ',', 0, NULL, %d, %d, '%sin', '%sout', '%srecv', '%ssend', '-', '-', '-',"
			" '%c', '%s', 0, 0, -1, 0, %d, NULL, NULL, NULL)",
			t->oid, t->name, t->len, t->byval, t->category == 'P' ? "p" : "b",
			t->category, t->elem, t->array, t->name, t->name, t->name, t->name, t->align,
			t->byval ? "p" : "x", t->category == 'S' ? 100 : 0);
		if (!sql || exec(f, sql)) {
			sqlite3_free(sql);
			return fail_db(f, "pg_type");
		}
		sqlite3_free(sql);
		if (!t->array)
			continue;
		sql = sqlite3_mprintf(
			"INSERT INTO pg_catalog.pg_type VALUES (%d, '_%q', 11, 10, -1, 0, 'b', 'A', 0, 1,"
			" ',', 0, 'array_subscript_handler', %d, 0, 'array_in', 'array_out',"
			" 'array_recv', 'array_send', '-', '-', 'array_typanalyze', '%c', 'x', 0, 0, -1,"
			" 0, %d, NULL, NULL, NULL)",
			t->array, t->name, t->oid, t->align == 'd' ? 'd' : 'i',
			t->category == 'S' ? 100 : 0);
		if (!sql || exec(f, sql)) {
			sqlite3_free(sql);
			return fail_db(f, "pg_type");
		}
		sqlite3_free(sql);
	}

	/* The registry: tables, table-valued functions, views, functions. */
	for (int i = 0; schema_catalog_tables[i]; i++) {
		const struct schema_table *t = schema_catalog_tables[i];
		int oid = PGCATALOG_FIRST_TABLE + i, n = 0;

		if (is_table_function(t)) {
			if (add_table_function(f, proc++, t))
				return -1;
			continue;
		}
		for (int c = 0; c < t->ncols; c++)
			if (!t->cols[c].hidden)
				n++;
		if (add_class(f, oid, t->name, PGCATALOG_NS_PUBLIC, 'r', n) ||
		    add_desc(f, oid, 1259, 0, t->doc))
			return -1;
		n = 0;
		for (int c = 0; c < t->ncols; c++)
			if (!t->cols[c].hidden &&
			    add_att(f, oid, ++n, t->cols[c].name, t->cols[c].type, t->cols[c].doc))
				return -1;
	}
	for (int i = 0; schema_views[i]; i++) {
		int oid = PGCATALOG_FIRST_VIEW + i;

		if (add_class(f, oid, schema_views[i]->name, PGCATALOG_NS_PUBLIC, 'v', 0) ||
		    add_desc(f, oid, 1259, 0, schema_views[i]->doc) ||
		    add_declared_atts(f, oid, "main", schema_views[i]->name))
			return -1;
	}
	for (int i = 0; sql_changes_table(i); i++)
		if (add_table_function(f, proc++, sql_changes_table(i)))
			return -1;
	for (int i = 0; schema_catalog_functions[i]; i++)
		if (add_function(f, proc++, schema_catalog_functions[i]))
			return -1;

	/* The catalog's own tables and views, in pg_catalog and information_schema. */
	for (int s = 0; s < 2; s++) {
		const char *schema = s ? "information_schema" : "pg_catalog";
		int base = s ? 14000 : 12000, i = 0;

		sql = sqlite3_mprintf("SELECT name, type FROM \"%w\".sqlite_schema WHERE type IN"
				      " ('table', 'view') ORDER BY name", schema);
		if (!sql || sqlite3_prepare_v2(f->db, sql, -1, &st, NULL) != SQLITE_OK) {
			sqlite3_free(sql);
			return fail_db(f, schema);
		}
		sqlite3_free(sql);
		while (sqlite3_step(st) == SQLITE_ROW) {
			char *name = strdup((const char *)sqlite3_column_text(st, 0));
			char kind = sqlite3_column_text(st, 1)[0] == 'v' ? 'v' : 'r';
			int oid = base + i++;

			if (!name || add_class(f, oid, name, s ? PGCATALOG_NS_INFORMATION_SCHEMA :
					       PGCATALOG_NS_PG_CATALOG, kind, 0) ||
			    add_declared_atts(f, oid, schema, name)) {
				free(name);
				sqlite3_finalize(st);
				return fail_db(f, schema);
			}
			free(name);
		}
		sqlite3_finalize(st);
	}
	if (exec(f, "UPDATE pg_catalog.pg_class SET relnatts = (SELECT count(*) FROM"
		 " pg_catalog.pg_attribute a WHERE a.attrelid = pg_class.oid)"))
		return -1;

	/* information_schema from pg_class and pg_attribute. */
	return exec(f,
		"INSERT INTO information_schema.tables SELECT 'dbos', n.nspname, c.relname,"
		" CASE c.relkind WHEN 'v' THEN 'VIEW' ELSE 'BASE TABLE' END, NULL, NULL, NULL, NULL,"
		" NULL, CASE c.relkind WHEN 'v' THEN 'NO' ELSE 'YES' END, 'NO', NULL"
		" FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
		" ORDER BY c.oid") ||
	       exec(f,
		"INSERT INTO information_schema.columns (table_catalog, table_schema, table_name,"
		" column_name, ordinal_position, is_nullable, data_type, numeric_precision,"
		" numeric_precision_radix, numeric_scale, udt_catalog, udt_schema, udt_name,"
		" dtd_identifier, is_self_referencing, is_identity, is_generated, is_updatable)"
		" SELECT 'dbos', n.nspname, c.relname, a.attname, a.attnum,"
		" CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END, format_type(a.atttypid, -1),"
		" CASE a.atttypid WHEN 20 THEN 64 WHEN 23 THEN 32 WHEN 21 THEN 16 WHEN 701 THEN 53 END,"
		" CASE WHEN a.atttypid IN (20, 21, 23, 701) THEN 2 END,"
		" CASE WHEN a.atttypid IN (20, 21, 23) THEN 0 END, 'dbos', 'pg_catalog', t.typname,"
		" a.attnum, 'NO', 'NO', 'NEVER', CASE c.relkind WHEN 'v' THEN 'NO' ELSE 'YES' END"
		" FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
		" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
		" JOIN pg_catalog.pg_type t ON t.oid = a.atttypid ORDER BY c.oid, a.attnum") ||
	       exec(f,
		"INSERT INTO information_schema.views SELECT 'dbos', n.nspname, c.relname, NULL,"
		" 'NONE', 'NO', 'NO', 'NO', 'NO', 'NO' FROM pg_catalog.pg_class c"
		" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'v'") ||
	       exec(f,
		"INSERT INTO information_schema.routines SELECT 'dbos', 'public', p.proname || '_' ||"
		" p.oid, 'dbos', 'public', p.proname, 'FUNCTION', format_type(p.prorettype, -1),"
		" 'dbos', 'pg_catalog', t.typname, 'EXTERNAL', NULL, 'C', 'NO', 'INVOKER'"
		" FROM pg_catalog.pg_proc p LEFT JOIN pg_catalog.pg_type t ON t.oid = p.prorettype") ? -1 : 0;
}

/* ---- SQL functions ------------------------------------------------------------------------ */

/* Text of argument @i, "" for NULL. */
static const char *arg_text(sqlite3_value **argv, int i)
{
	const unsigned char *s = sqlite3_value_text(argv[i]);

	return s ? (const char *)s : "";
}

static bool is_integer(sqlite3_value *v)
{
	const char *s;

	if (sqlite3_value_type(v) == SQLITE_INTEGER)
		return true;
	if (sqlite3_value_type(v) != SQLITE_TEXT)
		return false;
	s = (const char *)sqlite3_value_text(v);
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* One row, one column: @sql with ?1 bound to @arg; the result into @ctx; false if no row. */
static bool lookup(sqlite3_context *ctx, const char *sql, sqlite3_value *arg, const char *text)
{
	sqlite3 *db = sqlite3_context_db_handle(ctx);
	sqlite3_stmt *st;
	bool found = false;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
		return true;
	}
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_value(st, 1, arg);
	if (sqlite3_step(st) == SQLITE_ROW) {
		sqlite3_result_value(ctx, sqlite3_column_value(st, 0));
		found = true;
	}
	sqlite3_finalize(st);
	return found;
}

/* 'public.x' / '"x"' / 'pg_catalog.x' -> x (malloc()ed). */
static char *unqualify(const char *s)
{
	const char *dot = NULL;
	bool q = false;
	char *o, *r;

	for (const char *p = s; *p; p++) {
		if (*p == '"')
			q = !q;
		else if (*p == '.' && !q)
			dot = p;
	}
	if (dot)
		s = dot + 1;
	r = o = malloc(strlen(s) + 1);
	if (!r)
		return NULL;
	if (*s == '"') {
		for (s++; *s; s++) {
			if (*s == '"' && s[1] == '"')
				*o++ = *s++;
			else if (*s != '"')
				*o++ = *s;
		}
	} else {
		for (; *s; s++)
			*o++ = tolower((unsigned char)*s);
	}
	*o = 0;
	return r;
}

struct reg {
	const char *fn, *what;
	const char *by_name, *by_oid;	/* ?1: a name, an oid */
};

static const struct reg regs[] = {
	{ "regclass", "relation", "SELECT oid FROM pg_catalog.pg_class WHERE relname = ?1 ORDER BY"
	  " relnamespace = 2200 DESC", "SELECT relname FROM pg_catalog.pg_class WHERE oid = ?1" },
	{ "regtype", "type", "SELECT oid FROM pg_catalog.pg_type WHERE typname = ?1 OR"
	  " format_type(oid, -1) = ?1", "SELECT format_type(?1, -1)" },
	{ "regproc", "function", "SELECT oid FROM pg_catalog.pg_proc WHERE proname = ?1",
	  "SELECT proname FROM pg_catalog.pg_proc WHERE oid = ?1" },
	{ "regnamespace", "schema", "SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = ?1",
	  "SELECT nspname FROM pg_catalog.pg_namespace WHERE oid = ?1" },
	{ "regrole", "role", "SELECT oid FROM pg_catalog.pg_authid WHERE rolname = ?1",
	  "SELECT rolname FROM pg_catalog.pg_authid WHERE oid = ?1" },
};

/*
 * regclass(x), regtype(x), ...: PostgreSQL's reg* casts. An integer (an
 * oid) gives the name, as PostgreSQL prints a regclass; a name gives the
 * oid, or the error PostgreSQL gives. to_regclass(name): the oid or NULL.
 */
static void reg_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct reg *r = sqlite3_user_data(ctx);
	char *name, msg[300];

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	if (is_integer(argv[0])) {
		sqlite3_int64 oid = sqlite3_value_int64(argv[0]);

		if (!oid) {
			sqlite3_result_text(ctx, "-", 1, SQLITE_STATIC);
			return;
		}
		if (!lookup(ctx, r->by_oid, argv[0], NULL))
			sqlite3_result_int64(ctx, oid);
		return;
	}
	name = unqualify(arg_text(argv, 0));
	if (!name) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (!strcmp(r->fn, "regproc")) {
		/*
		 * pg_type's typinput... and pg_proc's names are text here: a regproc
		 * is its name ('pg_catalog.array_in'::regproc = typinput holds).
		 */
		sqlite3_result_text(ctx, name, -1, free);
		return;
	}
	if (strlen(name) > 2 && !strcmp(name + strlen(name) - 2, "[]")) {
		/* int8[] -> _int8 (and format_type's "bigint[]" is found as it is) */
		if (lookup(ctx, r->by_name, NULL, name)) {
			free(name);
			return;
		}
		memmove(name + 1, name, strlen(name) - 2);
		name[0] = '_';
		name[strlen(name) - 1] = 0;
	}
	if (!lookup(ctx, r->by_name, NULL, name)) {
		snprintf(msg, sizeof(msg), "%s \"%s\" does not exist", r->what, name);
		sqlite3_result_error(ctx, msg, -1);
	}
	free(name);
}

/* regclass_name(x) ...: x::regclass::text, the name whether x is an oid or a name. */
static void reg_name_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct reg *r = sqlite3_user_data(ctx);
	sqlite3 *db = sqlite3_context_db_handle(ctx);
	sqlite3_stmt *st;
	sqlite3_int64 oid = 0;
	char *name;

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	if (is_integer(argv[0])) {
		reg_fn(ctx, argc, argv);
		return;
	}
	name = unqualify(arg_text(argv, 0));
	if (!name || sqlite3_prepare_v2(db, r->by_name, -1, &st, NULL) != SQLITE_OK) {
		free(name);
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
		return;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		oid = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	free(name);
	if (!oid) {
		reg_fn(ctx, argc, argv);	/* its error */
		return;
	}
	if (sqlite3_prepare_v2(db, r->by_oid, -1, &st, NULL) != SQLITE_OK) {
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
		return;
	}
	sqlite3_bind_int64(st, 1, oid);
	if (sqlite3_step(st) == SQLITE_ROW)
		sqlite3_result_value(ctx, sqlite3_column_value(st, 0));
	sqlite3_finalize(st);
}

static void to_reg_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct reg *r = sqlite3_user_data(ctx);
	char *name = unqualify(arg_text(argv, 0));

	if (!name) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (!lookup(ctx, r->by_name, NULL, name))
		sqlite3_result_null(ctx);
	free(name);
}

/* pg_bool(x): PostgreSQL's boolean input: 't', 'true', 'yes', 'on', '1' ... -> 1/0; NULL stays. */
static void bool_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	static const char *const yes[] = { "t", "true", "y", "yes", "on", "1" };
	static const char *const no[] = { "f", "false", "n", "no", "off", "0" };
	char buf[16], *e = buf;
	const char *s;

	switch (sqlite3_value_type(argv[0])) {
	case SQLITE_NULL:
		return;
	case SQLITE_INTEGER:
	case SQLITE_FLOAT:
		sqlite3_result_int(ctx, sqlite3_value_double(argv[0]) != 0);
		return;
	}
	s = arg_text(argv, 0);
	while (isspace((unsigned char)*s))
		s++;
	snprintf(buf, sizeof(buf), "%s", s);
	e = buf + strlen(buf);
	while (e > buf && isspace((unsigned char)e[-1]))
		*--e = 0;
	for (int i = 0; i < 6; i++) {
		if (!strcasecmp(buf, yes[i])) {
			sqlite3_result_int(ctx, 1);
			return;
		}
		if (!strcasecmp(buf, no[i])) {
			sqlite3_result_int(ctx, 0);
			return;
		}
	}
	snprintf(buf, sizeof(buf), "%.10s", s);
	{
		char msg[96];

		snprintf(msg, sizeof(msg), "invalid input syntax for type boolean: \"%s\"", buf);
		sqlite3_result_error(ctx, msg, -1);
	}
}

/* The auxdata destructor: SQLite needs one to free a compiled pattern. */
static void regex_free(void *p)
{
	regfree(p);
	sqlite3_free(p);
}

/* regexp(pattern, text): POSIX extended; a leading "(?i)" ignores case. For REGEXP, ~, ~*. */
static void regexp_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	regex_t *re = sqlite3_get_auxdata(ctx, 0);
	const char *pat;
	int flags = REG_EXTENDED | REG_NOSUB, rc;

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
		return;
	if (re) {
		sqlite3_result_int(ctx, !regexec(re, arg_text(argv, 1), 0, NULL, 0));
		return;
	}
	pat = arg_text(argv, 0);
	if (!strncmp(pat, "(?i)", 4)) {
		flags |= REG_ICASE;
		pat += 4;
	}
	re = sqlite3_malloc(sizeof(*re));
	if (!re) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	rc = regcomp(re, pat, flags);
	if (rc) {
		char msg[256] = "invalid regular expression: ";

		regerror(rc, re, msg + strlen(msg), sizeof(msg) - strlen(msg));
		sqlite3_free(re);
		sqlite3_result_error(ctx, msg, -1);
		return;
	}
	sqlite3_result_int(ctx, !regexec(re, arg_text(argv, 1), 0, NULL, 0));
	sqlite3_set_auxdata(ctx, 0, re, regex_free);	/* frees it now if it cannot keep it */
}

/* Append @s as a JSON string. */
static void json_put(sqlite3_str *o, const char *s)
{
	sqlite3_str_appendchar(o, 1, '"');
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x20) {
			sqlite3_str_appendf(o, "\\u%04x", *p);
			continue;
		}
		if (*p == '"' || *p == '\\')
			sqlite3_str_appendchar(o, 1, '\\');
		sqlite3_str_appendchar(o, 1, *p);
	}
	sqlite3_str_appendchar(o, 1, '"');
}

/* ---- PostgreSQL's arrays, as their text form '{a,b,"c d",NULL}' ---- */

struct array {
	char **v;	/* NULL element: NULL */
	int n;
};

static void array_free(struct array *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

/* Parse @s ('{...}'); a value that is not an array is one element. false: out of memory. */
static bool array_parse(const char *s, struct array *a)
{
	size_t len = strlen(s);
	const char *p = s + 1;

	a->v = NULL;
	a->n = 0;
	if (len < 2 || s[0] != '{' || s[len - 1] != '}') {
		a->v = malloc(sizeof(*a->v));
		if (!a->v || !(a->v[0] = strdup(s))) {
			free(a->v);
			a->v = NULL;
			return false;
		}
		a->n = 1;
		return true;
	}
	a->v = malloc((len + 1) * sizeof(*a->v));
	if (!a->v)
		return false;
	while (*p && *p != '}') {
		char *e = malloc(len), *o = e;
		bool quoted = false;

		if (!e) {
			array_free(a);
			return false;
		}
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '"') {
			quoted = true;
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				*o++ = *p;
			}
			if (*p)
				p++;
		} else {
			while (*p && *p != ',' && *p != '}')
				*o++ = *p++;
			while (o > e && isspace((unsigned char)o[-1]))
				o--;
		}
		*o = 0;
		if (!quoted && !strcasecmp(e, "NULL")) {
			free(e);
			e = NULL;
		}
		a->v[a->n++] = e;
		while (*p && *p != ',' && *p != '}')
			p++;
		if (*p == ',')
			p++;
	}
	return true;
}

/* Append @s as an array element, quoted if needed. */
static void array_put(sqlite3_str *o, const char *s, bool first)
{
	bool quote = !*s || !strcasecmp(s, "NULL");

	if (!first)
		sqlite3_str_appendchar(o, 1, ',');
	for (const char *p = s; *p && !quote; p++)
		if (strchr(",{}\"\\ \t\n", *p))
			quote = true;
	if (!quote) {
		sqlite3_str_appendall(o, s);
		return;
	}
	sqlite3_str_appendchar(o, 1, '"');
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			sqlite3_str_appendchar(o, 1, '\\');
		sqlite3_str_appendchar(o, 1, *p);
	}
	sqlite3_str_appendchar(o, 1, '"');
}

static void result_str(sqlite3_context *ctx, sqlite3_str *o)
{
	int len = sqlite3_str_length(o);
	char *s = sqlite3_str_finish(o);

	if (!s && len) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	sqlite3_result_text(ctx, s ? s : "", len, s ? sqlite3_free : SQLITE_STATIC);
}

/* pg_array(a, b, ...): ARRAY[a, b, ...] as '{a,b}'. */
static void array_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_str *o = sqlite3_str_new(NULL);

	sqlite3_str_appendchar(o, 1, '{');
	for (int i = 0; i < argc; i++) {
		if (sqlite3_value_type(argv[i]) == SQLITE_NULL) {
			sqlite3_str_appendall(o, i ? ",NULL" : "NULL");
			continue;
		}
		array_put(o, arg_text(argv, i), !i);
	}
	sqlite3_str_appendchar(o, 1, '}');
	result_str(ctx, o);
}

/* pg_array_agg(x) / array_agg(x): the rows as '{a,b}'. */
static void array_agg_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_str **o = sqlite3_aggregate_context(ctx, sizeof(*o));

	if (!o)
		return;
	if (!*o)
		*o = sqlite3_str_new(NULL);
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		sqlite3_str_appendall(*o, sqlite3_str_length(*o) ? ",NULL" : "NULL");
	else
		array_put(*o, arg_text(argv, 0), !sqlite3_str_length(*o));
}

static void array_agg_final(sqlite3_context *ctx)
{
	sqlite3_str **o = sqlite3_aggregate_context(ctx, 0);
	sqlite3_str *r;

	if (!o || !*o) {
		sqlite3_result_null(ctx);	/* array_agg of no rows is NULL */
		return;
	}
	r = sqlite3_str_new(NULL);
	sqlite3_str_appendf(r, "{%s}", sqlite3_str_value(*o) ? sqlite3_str_value(*o) : "");
	sqlite3_free(sqlite3_str_finish(*o));
	result_str(ctx, r);
}

/* string_agg(x, sep): PostgreSQL's, SQLite's group_concat. */
static void string_agg_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_str **o = sqlite3_aggregate_context(ctx, sizeof(*o));

	if (!o || sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	if (!*o)
		*o = sqlite3_str_new(NULL);
	else
		sqlite3_str_appendall(*o, arg_text(argv, 1));
	sqlite3_str_appendall(*o, arg_text(argv, 0));
}

static void string_agg_final(sqlite3_context *ctx)
{
	sqlite3_str **o = sqlite3_aggregate_context(ctx, 0);

	if (!o || !*o) {
		sqlite3_result_null(ctx);
		return;
	}
	result_str(ctx, *o);
}

/* pg_array_contains(array, x): x = ANY(array). */
static void array_contains_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct array a;
	const char *x;
	bool null = false;

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
		return;
	if (!array_parse(arg_text(argv, 0), &a)) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	x = arg_text(argv, 1);
	for (int i = 0; i < a.n; i++) {
		if (!a.v[i]) {
			null = true;
		} else if (!strcmp(a.v[i], x)) {
			array_free(&a);
			sqlite3_result_int(ctx, 1);
			return;
		}
	}
	array_free(&a);
	if (!null)
		sqlite3_result_int(ctx, 0);
}

/* pg_array_json(array): the elements as a JSON array of strings, for unnest() (json_each). */
static void array_json_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_str *o;
	struct array a;

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
		sqlite3_result_text(ctx, "[]", 2, SQLITE_STATIC);
		return;
	}
	if (!array_parse(arg_text(argv, 0), &a)) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	o = sqlite3_str_new(NULL);
	sqlite3_str_appendchar(o, 1, '[');
	for (int i = 0; i < a.n; i++) {
		if (i)
			sqlite3_str_appendchar(o, 1, ',');
		if (a.v[i])
			json_put(o, a.v[i]);
		else
			sqlite3_str_appendall(o, "null");
	}
	sqlite3_str_appendchar(o, 1, ']');
	array_free(&a);
	result_str(ctx, o);
}

/* pg_array_get(array, i): array[i], 1-based; NULL outside. */
static void array_get_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct array a;
	sqlite3_int64 i = sqlite3_value_int64(argv[1]);

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	if (!array_parse(arg_text(argv, 0), &a)) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (i >= 1 && i <= a.n && a.v[i - 1])
		sqlite3_result_text(ctx, a.v[i - 1], -1, SQLITE_TRANSIENT);
	array_free(&a);
}

/* array_upper(a, 1), array_length(a, 1), cardinality(a): the count; array_lower: 1. */
static void array_len_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *what = sqlite3_user_data(ctx);
	struct array a;

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	if (argc > 1 && sqlite3_value_int(argv[1]) != 1)
		return;
	if (!array_parse(arg_text(argv, 0), &a)) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (a.n && !strcmp(what, "lower"))
		sqlite3_result_int(ctx, 1);
	else if (a.n || !strcmp(what, "cardinality"))
		sqlite3_result_int(ctx, a.n);
	array_free(&a);
}

/* array_to_string(a, sep [, null]). */
static void array_to_string_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_str *o;
	struct array a;
	bool first = true;

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	if (!array_parse(arg_text(argv, 0), &a)) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	o = sqlite3_str_new(NULL);
	for (int i = 0; i < a.n; i++) {
		const char *e = a.v[i] ? a.v[i] : argc > 2 && sqlite3_value_type(argv[2]) != SQLITE_NULL ?
			arg_text(argv, 2) : NULL;

		if (!e)
			continue;
		if (!first)
			sqlite3_str_appendall(o, arg_text(argv, 1));
		sqlite3_str_appendall(o, e);
		first = false;
	}
	array_free(&a);
	result_str(ctx, o);
}

/* string_to_array(s, sep): '{a,b}'. */
static void string_to_array_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *s = arg_text(argv, 0), *sep = arg_text(argv, 1);
	sqlite3_str *o;
	bool first = true;

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	o = sqlite3_str_new(NULL);
	sqlite3_str_appendchar(o, 1, '{');
	while (*s) {
		const char *e = *sep ? strstr(s, sep) : NULL;
		size_t n = e ? (size_t)(e - s) : strlen(s);
		char *el = strndup(s, n);

		if (!el) {
			sqlite3_free(sqlite3_str_finish(o));
			sqlite3_result_error_nomem(ctx);
			return;
		}
		array_put(o, el, first);
		free(el);
		first = false;
		s += n;
		if (e)
			s += strlen(sep);
		if (e && !*s)
			array_put(o, "", false);
	}
	sqlite3_str_appendchar(o, 1, '}');
	result_str(ctx, o);
}

/* quote_ident(s): "s" unless it is a plain lower-case name. */
static void quote_ident_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *s = arg_text(argv, 0);
	bool plain = *s && (islower((unsigned char)*s) || *s == '_');
	sqlite3_str *o;

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	for (const char *p = s; *p && plain; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
			plain = false;
	o = sqlite3_str_new(NULL);
	if (plain) {
		sqlite3_str_appendall(o, s);
	} else {
		sqlite3_str_appendchar(o, 1, '"');
		for (const char *p = s; *p; p++) {
			if (*p == '"')
				sqlite3_str_appendchar(o, 1, '"');
			sqlite3_str_appendchar(o, 1, *p);
		}
		sqlite3_str_appendchar(o, 1, '"');
	}
	result_str(ctx, o);
}

/* ---- settings, identity, time ---- */

static struct pgsettings *settings(sqlite3_context *ctx)
{
	return sqlite3_user_data(ctx);
}

/* current_setting(name [, missing_ok]). */
static void current_setting_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *v = pgsettings_get(settings(ctx), arg_text(argv, 0));
	char msg[200];

	if (v) {
		sqlite3_result_text(ctx, v, -1, SQLITE_TRANSIENT);
		return;
	}
	if (argc > 1 && sqlite3_value_int(argv[1]))
		return;
	snprintf(msg, sizeof(msg), "unrecognized configuration parameter \"%.100s\"", arg_text(argv, 0));
	sqlite3_result_error(ctx, msg, -1);
}

/* set_config(name, value, is_local): SET; the new value. */
static void set_config_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *state;
	char *err = NULL;

	if (pgsettings_set(settings(ctx), arg_text(argv, 0),
			   sqlite3_value_type(argv[1]) == SQLITE_NULL ? NULL : arg_text(argv, 1),
			   &err, &state)) {
		sqlite3_result_error(ctx, err ? err : "out of memory", -1);
		free(err);
		return;
	}
	sqlite3_result_text(ctx, pgsettings_get(settings(ctx), arg_text(argv, 0)), -1,
			    SQLITE_TRANSIENT);
}

/* pg_settings_json(): {"name": "setting", ...} for the pg_settings view (json_each). */
static void settings_json_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_str *o = sqlite3_str_new(NULL);
	const char *name, *value, *doc;

	sqlite3_str_appendchar(o, 1, '{');
	for (int i = 0; pgsettings_at(settings(ctx), i, &name, &value, &doc); i++) {
		if (i)
			sqlite3_str_appendchar(o, 1, ',');
		json_put(o, name);
		sqlite3_str_appendchar(o, 1, ':');
		json_put(o, value);
	}
	sqlite3_str_appendchar(o, 1, '}');
	result_str(ctx, o);
}

/* pg_setting_doc(name): the setting's description. */
static void setting_doc_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *name, *value, *doc;

	for (int i = 0; pgsettings_at(settings(ctx), i, &name, &value, &doc); i++)
		if (!strcasecmp(name, arg_text(argv, 0))) {
			sqlite3_result_text(ctx, doc, -1, SQLITE_TRANSIENT);
			return;
		}
}

static void user_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *u = pgsettings_get(settings(ctx), "session_authorization");

	sqlite3_result_text(ctx, u ? u : "root", -1, SQLITE_TRANSIENT);
}

/* A constant: the user data is the text. */
static void text_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *s = sqlite3_user_data(ctx);

	if (s)
		sqlite3_result_text(ctx, s, -1, SQLITE_STATIC);
}

/* A constant integer: the user data is the value (as a pointer-sized integer). */
static void int_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_result_int64(ctx, (sqlite3_int64)(intptr_t)sqlite3_user_data(ctx));
}

static void null_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_result_null(ctx);
}

static void current_schemas_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *s = argc && sqlite3_value_int(argv[0]) ? "{pg_catalog,public}" : "{public}";

	sqlite3_result_text(ctx, s, -1, SQLITE_STATIC);
}

static void now_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct timespec ts;
	struct tm tm;
	char buf[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%06ld+00", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
	sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

/*
 * date_part(field, t), what EXTRACT(field FROM t) becomes: t is a
 * timestamp's text (YYYY-MM-DD[ HH:MM[:SS[.f]]][Z|+HH[:MM]], as now()
 * prints it) or a number of seconds since 1970; its fields in UTC.
 */
static void date_part_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *field = (const char *)sqlite3_value_text(argv[0]);
	const char *s = (const char *)sqlite3_value_text(argv[1]);
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0, off = 0;
	double frac = 0, v;
	struct tm tm = { 0 };
	char buf[16], msg[160];
	time_t secs;

	if (!field || !s)
		return;
	if (sqlite3_value_type(argv[1]) == SQLITE_INTEGER || sqlite3_value_type(argv[1]) == SQLITE_FLOAT) {
		double e = sqlite3_value_double(argv[1]);

		secs = (time_t)e;
		if ((double)secs > e)
			secs--;
		frac = e - secs;
	} else {
		if (sscanf(s, "%d-%d-%d%n", &y, &mo, &d, &n) != 3)
			goto bad;
		s += n;
		if ((*s == ' ' || *s == 'T') && sscanf(s + 1, "%d:%d%n", &h, &mi, &n) == 2) {
			s += 1 + n;
			if (*s == ':' && sscanf(s + 1, "%d%n", &sec, &n) == 1)
				s += 1 + n;
			if (*s == '.' && isdigit((unsigned char)s[1])) {
				double scale = 0.1;

				for (s++; isdigit((unsigned char)*s); s++, scale /= 10)
					frac += (*s - '0') * scale;
			}
		}
		if (*s == 'Z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			int oh = 0, om = 0, sign = *s == '-' ? -1 : 1;

			if (sscanf(s + 1, "%2d%n", &oh, &n) != 1)
				goto bad;
			s += 1 + n;
			if (*s == ':' && sscanf(s + 1, "%2d%n", &om, &n) == 1)
				s += 1 + n;
			off = sign * (oh * 3600 + om * 60);
		}
		if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60)
			goto bad;
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = sec;
		secs = timegm(&tm) - off;
	}
	gmtime_r(&secs, &tm);
	if (!strcasecmp(field, "epoch"))
		v = secs + frac;
	else if (!strcasecmp(field, "year"))
		v = tm.tm_year + 1900;
	else if (!strcasecmp(field, "month"))
		v = tm.tm_mon + 1;
	else if (!strcasecmp(field, "day"))
		v = tm.tm_mday;
	else if (!strcasecmp(field, "hour"))
		v = tm.tm_hour;
	else if (!strcasecmp(field, "minute"))
		v = tm.tm_min;
	else if (!strcasecmp(field, "second"))
		v = tm.tm_sec + frac;
	else if (!strcasecmp(field, "milliseconds"))
		v = (tm.tm_sec + frac) * 1e3;
	else if (!strcasecmp(field, "microseconds"))
		v = (tm.tm_sec + frac) * 1e6;
	else if (!strcasecmp(field, "dow"))
		v = tm.tm_wday;
	else if (!strcasecmp(field, "isodow"))
		v = tm.tm_wday ? tm.tm_wday : 7;
	else if (!strcasecmp(field, "doy"))
		v = tm.tm_yday + 1;
	else if (!strcasecmp(field, "quarter"))
		v = tm.tm_mon / 3 + 1;
	else if (!strcasecmp(field, "week") || !strcasecmp(field, "isoyear"))
		v = strftime(buf, sizeof(buf), !strcasecmp(field, "week") ? "%V" : "%G", &tm) ?
		    atof(buf) : 0;
	else if (!strcasecmp(field, "decade"))
		v = (tm.tm_year + 1900) / 10;
	else if (!strcasecmp(field, "century"))
		v = (tm.tm_year + 1900 + 99) / 100;
	else if (!strcasecmp(field, "millennium"))
		v = (tm.tm_year + 1900 + 999) / 1000;
	else if (!strcasecmp(field, "timezone") || !strcasecmp(field, "timezone_hour") ||
		 !strcasecmp(field, "timezone_minute"))
		v = 0;	/* dbos's times are UTC */
	else {
		snprintf(msg, sizeof(msg), "unit \"%.40s\" not recognized for type timestamp", field);
		sqlite3_result_error(ctx, msg, -1);
		return;
	}
	if (v == (double)(long long)v)
		sqlite3_result_int64(ctx, (long long)v);
	else
		sqlite3_result_double(ctx, v);
	return;
bad:
	snprintf(msg, sizeof(msg), "invalid input syntax for type timestamp: \"%.60s\"",
		 (const char *)sqlite3_value_text(argv[1]));
	sqlite3_result_error(ctx, msg, -1);
}

static char start_time[64];
static pthread_once_t start_once = PTHREAD_ONCE_INIT;

/* The first session's setup: about when dbosd started. */
static void start_time_init(void)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(start_time, sizeof(start_time), "%Y-%m-%d %H:%M:%S+00", &tm);
}

static void start_time_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_result_text(ctx, start_time, -1, SQLITE_STATIC);
}

static void backend_pid_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_result_int(ctx, getpid());
}

/* format_type(oid, typmod). */
static void format_type_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	int oid = sqlite3_value_int(argv[0]);
	const struct pgtype *t;
	char buf[64];

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	if ((t = type_by_oid(oid))) {
		sqlite3_result_text(ctx, t->sqlname, -1, SQLITE_STATIC);
	} else if ((t = type_by_array(oid))) {
		snprintf(buf, sizeof(buf), "%s[]", t->sqlname);
		sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
	} else {
		sqlite3_result_text(ctx, "???", -1, SQLITE_STATIC);
	}
}

/* pg_get_userbyid(oid). */
static void userbyid_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char buf[48];

	if (lookup(ctx, "SELECT rolname FROM pg_catalog.pg_authid WHERE oid = ?1", argv[0], NULL))
		return;
	snprintf(buf, sizeof(buf), "unknown (OID=%lld)", sqlite3_value_int64(argv[0]));
	sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

/* obj_description(oid [, catalog]). */
static void obj_description_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *cat = argc > 1 ? arg_text(argv, 1) : NULL;
	const char *sql = !cat ? "SELECT description FROM pg_catalog.pg_description WHERE objoid = ?1"
				 " AND objsubid = 0" :
			  !strcmp(cat, "pg_class") ? "SELECT description FROM pg_catalog.pg_description"
				 " WHERE objoid = ?1 AND classoid = 1259 AND objsubid = 0" :
			  !strcmp(cat, "pg_proc") ? "SELECT description FROM pg_catalog.pg_description"
				 " WHERE objoid = ?1 AND classoid = 1255" :
			  !strcmp(cat, "pg_namespace") ? "SELECT description FROM pg_catalog.pg_description"
				 " WHERE objoid = ?1 AND classoid = 2615" : NULL;

	if (sql)
		lookup(ctx, sql, argv[0], NULL);
}

/* col_description(table oid, attnum). */
static void col_description_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3 *db = sqlite3_context_db_handle(ctx);
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "SELECT description FROM pg_catalog.pg_description WHERE"
			       " objoid = ?1 AND classoid = 1259 AND objsubid = ?2", -1, &st,
			       NULL) != SQLITE_OK) {
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
		return;
	}
	sqlite3_bind_value(st, 1, argv[0]);
	sqlite3_bind_value(st, 2, argv[1]);
	if (sqlite3_step(st) == SQLITE_ROW)
		sqlite3_result_value(ctx, sqlite3_column_value(st, 0));
	sqlite3_finalize(st);
}

/* pg_get_function_result(oid) / pg_get_function_arguments(oid). */
static void function_text_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	lookup(ctx, sqlite3_user_data(ctx), argv[0], NULL);
}

static void encoding_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_result_text(ctx, sqlite3_value_int(argv[0]) == 6 ? "UTF8" : "", -1, SQLITE_STATIC);
}

static void char_to_encoding_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *s = arg_text(argv, 0);

	sqlite3_result_int(ctx, !strcasecmp(s, "UTF8") || !strcasecmp(s, "UTF-8") ? 6 : -1);
}

/* pg_size_pretty(bytes). */
static void size_pretty_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	static const char *const units[] = { "bytes", "kB", "MB", "GB", "TB", "PB" };
	long long n = sqlite3_value_int64(argv[0]);
	int u = 0;
	char buf[48];

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	while (u < 5 && (n >= 10 * 1024 || n <= -10 * 1024)) {
		n = (n + (n >= 0 ? 512 : -512)) / 1024;
		u++;
	}
	snprintf(buf, sizeof(buf), "%lld %s", n, units[u]);
	sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

/* ---- generate_series(start, stop [, step]) ---- */

struct series_cursor {
	sqlite3_vtab_cursor base;
	sqlite3_int64 value, stop, step;
	bool eof;
};

static int series_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
			  sqlite3_vtab **out, char **err)
{
	int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(value INTEGER, start HIDDEN,"
				      " stop HIDDEN, step HIDDEN)");

	if (rc != SQLITE_OK)
		return rc;
	*out = sqlite3_malloc(sizeof(**out));
	if (!*out)
		return SQLITE_NOMEM;
	memset(*out, 0, sizeof(**out));
	sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
	return SQLITE_OK;
}

static int series_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

/* idxNum: bit 0 start, bit 1 stop, bit 2 step given (equality on the hidden columns, in order). */
static int series_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	int seen = 0;

	for (int i = 0; i < info->nConstraint; i++) {
		int col = info->aConstraint[i].iColumn;

		if (col < 1 || info->aConstraint[i].op != SQLITE_INDEX_CONSTRAINT_EQ)
			continue;
		if (!info->aConstraint[i].usable)
			return SQLITE_CONSTRAINT;
		info->aConstraintUsage[i].argvIndex = col;
		info->aConstraintUsage[i].omit = 1;
		seen |= 1 << (col - 1);
	}
	if ((seen & 3) != 3) {
		sqlite3_free(vt->zErrMsg);
		vt->zErrMsg = sqlite3_mprintf("generate_series(start, stop [, step]) needs its arguments");
		return SQLITE_ERROR;
	}
	info->idxNum = seen;
	info->estimatedCost = 10;
	return SQLITE_OK;
}

static int series_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	struct series_cursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static int series_close(sqlite3_vtab_cursor *cur)
{
	sqlite3_free(cur);
	return SQLITE_OK;
}

static int series_filter(sqlite3_vtab_cursor *cur, int idx, const char *s, int argc,
			 sqlite3_value **argv)
{
	struct series_cursor *c = (struct series_cursor *)cur;

	c->value = sqlite3_value_int64(argv[0]);
	c->stop = sqlite3_value_int64(argv[1]);
	c->step = argc > 2 ? sqlite3_value_int64(argv[2]) : 1;
	if (!c->step) {
		sqlite3_free(cur->pVtab->zErrMsg);
		cur->pVtab->zErrMsg = sqlite3_mprintf("step size cannot equal zero");
		return SQLITE_ERROR;
	}
	c->eof = c->step > 0 ? c->value > c->stop : c->value < c->stop;
	for (int i = 0; i < argc; i++)
		if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
			c->eof = true;
	return SQLITE_OK;
}

static int series_next(sqlite3_vtab_cursor *cur)
{
	struct series_cursor *c = (struct series_cursor *)cur;

	if (__builtin_add_overflow(c->value, c->step, &c->value))
		c->eof = true;
	else
		c->eof = c->step > 0 ? c->value > c->stop : c->value < c->stop;
	return SQLITE_OK;
}

static int series_eof(sqlite3_vtab_cursor *cur)
{
	return ((struct series_cursor *)cur)->eof;
}

static int series_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	struct series_cursor *c = (struct series_cursor *)cur;

	sqlite3_result_int64(ctx, col == 0 ? c->value : col == 2 ? c->stop : col == 3 ? c->step : 0);
	return SQLITE_OK;
}

static int series_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = ((struct series_cursor *)cur)->value;
	return SQLITE_OK;
}

static const sqlite3_module series_module = {
	.iVersion = 0,
	.xCreate = NULL,		/* eponymous-only */
	.xConnect = series_connect,
	.xBestIndex = series_best_index,
	.xDisconnect = series_disconnect,
	.xDestroy = NULL,
	.xOpen = series_open,
	.xClose = series_close,
	.xFilter = series_filter,
	.xNext = series_next,
	.xEof = series_eof,
	.xColumn = series_column,
	.xRowid = series_rowid,
};

/* ---- registration ---- */

#define PURE	(SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS)
#define STABLE	(SQLITE_UTF8 | SQLITE_INNOCUOUS)

enum data { D_NONE, D_SETTINGS, D_TEXT, D_INT, D_REG };

static const struct function {
	const char *name;
	int nargs;
	int flags;
	void (*fn)(sqlite3_context *, int, sqlite3_value **);
	enum data data;
	const void *arg;
} functions[] = {
	{ "regexp", 2, PURE, regexp_fn },
	{ "pg_bool", 1, PURE, bool_fn },
	{ "pg_array", -1, PURE, array_fn },
	{ "pg_array_contains", 2, PURE, array_contains_fn },
	{ "pg_array_get", 2, PURE, array_get_fn },
	{ "pg_array_json", 1, PURE, array_json_fn },
	{ "array_upper", 2, PURE, array_len_fn, D_TEXT, "upper" },
	{ "array_lower", 2, PURE, array_len_fn, D_TEXT, "lower" },
	{ "array_length", 2, PURE, array_len_fn, D_TEXT, "upper" },
	{ "cardinality", 1, PURE, array_len_fn, D_TEXT, "cardinality" },
	{ "array_to_string", 2, PURE, array_to_string_fn },
	{ "array_to_string", 3, PURE, array_to_string_fn },
	{ "string_to_array", 2, PURE, string_to_array_fn },
	{ "quote_ident", 1, PURE, quote_ident_fn },
	{ "current_setting", 1, STABLE, current_setting_fn, D_SETTINGS },
	{ "current_setting", 2, STABLE, current_setting_fn, D_SETTINGS },
	{ "set_config", 3, SQLITE_UTF8, set_config_fn, D_SETTINGS },
	{ "pg_settings_json", 0, STABLE, settings_json_fn, D_SETTINGS },
	{ "pg_setting_doc", 1, STABLE, setting_doc_fn, D_SETTINGS },
	{ "current_user", 0, STABLE, user_fn, D_SETTINGS },
	{ "session_user", 0, STABLE, user_fn, D_SETTINGS },
	{ "user", 0, STABLE, user_fn, D_SETTINGS },
	{ "current_database", 0, PURE, text_fn, D_TEXT, "dbos" },
	{ "current_schema", 0, PURE, text_fn, D_TEXT, "public" },
	{ "current_schemas", 1, PURE, current_schemas_fn },
	{ "version", 0, PURE, text_fn, D_TEXT,
	  "PostgreSQL 15.0 (dbos 0.1.0: SQLite " SQLITE_VERSION " over the kernel's state) on x86_64-pc-linux-gnu" },
	{ "now", 0, STABLE, now_fn },
	{ "date_part", 2, PURE, date_part_fn },
	{ "transaction_timestamp", 0, STABLE, now_fn },
	{ "statement_timestamp", 0, STABLE, now_fn },
	{ "clock_timestamp", 0, STABLE, now_fn },
	{ "pg_postmaster_start_time", 0, STABLE, start_time_fn },
	{ "pg_conf_load_time", 0, STABLE, start_time_fn },
	{ "pg_backend_pid", 0, STABLE, backend_pid_fn },
	{ "format_type", 2, PURE, format_type_fn },
	{ "pg_get_userbyid", 1, STABLE, userbyid_fn },
	{ "obj_description", 1, STABLE, obj_description_fn },
	{ "obj_description", 2, STABLE, obj_description_fn },
	{ "shobj_description", 2, PURE, null_fn },
	{ "col_description", 2, STABLE, col_description_fn },
	{ "pg_get_function_result", 1, STABLE, function_text_fn, D_TEXT,
	  "SELECT dbos_result FROM pg_catalog.pg_proc WHERE oid = ?1" },
	{ "pg_get_function_arguments", 1, STABLE, function_text_fn, D_TEXT,
	  "SELECT dbos_arguments FROM pg_catalog.pg_proc WHERE oid = ?1" },
	{ "pg_get_function_identity_arguments", 1, STABLE, function_text_fn, D_TEXT,
	  "SELECT dbos_arguments FROM pg_catalog.pg_proc WHERE oid = ?1" },
	{ "pg_encoding_to_char", 1, PURE, encoding_fn },
	{ "pg_char_to_encoding", 1, PURE, char_to_encoding_fn },
	{ "pg_size_pretty", 1, PURE, size_pretty_fn },
	{ "pg_table_is_visible", 1, PURE, int_fn, D_INT, (void *)1 },
	{ "pg_type_is_visible", 1, PURE, int_fn, D_INT, (void *)1 },
	{ "pg_function_is_visible", 1, PURE, int_fn, D_INT, (void *)1 },
	{ "pg_collation_is_visible", 1, PURE, int_fn, D_INT, (void *)1 },
	{ "pg_has_role", -1, PURE, int_fn, D_INT, (void *)1 },
	{ "has_table_privilege", -1, PURE, int_fn, D_INT, (void *)1 },
	{ "has_schema_privilege", -1, PURE, int_fn, D_INT, (void *)1 },
	{ "has_database_privilege", -1, PURE, int_fn, D_INT, (void *)1 },
	{ "has_column_privilege", -1, PURE, int_fn, D_INT, (void *)1 },
	{ "has_function_privilege", -1, PURE, int_fn, D_INT, (void *)1 },
	{ "has_any_column_privilege", -1, PURE, int_fn, D_INT, (void *)1 },
	{ "pg_my_temp_schema", 0, PURE, int_fn, D_INT, (void *)0 },
	{ "pg_is_other_temp_schema", 1, PURE, int_fn, D_INT, (void *)0 },
	{ "pg_is_in_recovery", 0, PURE, int_fn, D_INT, (void *)0 },
	{ "pg_relation_is_publishable", 1, PURE, int_fn, D_INT, (void *)0 },
	{ "pg_relation_size", -1, PURE, int_fn, D_INT, (void *)0 },
	{ "pg_table_size", 1, PURE, int_fn, D_INT, (void *)0 },
	{ "pg_total_relation_size", 1, PURE, int_fn, D_INT, (void *)0 },
	{ "pg_indexes_size", 1, PURE, int_fn, D_INT, (void *)0 },
	{ "pg_database_size", 1, PURE, int_fn, D_INT, (void *)0 },
	{ "txid_current", 0, STABLE, int_fn, D_INT, (void *)1 },
	{ "pg_get_expr", -1, PURE, null_fn },
	{ "pg_get_indexdef", -1, PURE, null_fn },
	{ "pg_get_constraintdef", -1, PURE, null_fn },
	{ "pg_get_triggerdef", -1, PURE, null_fn },
	{ "pg_get_ruledef", -1, PURE, null_fn },
	{ "pg_get_viewdef", -1, PURE, null_fn },
	{ "pg_get_partkeydef", -1, PURE, null_fn },
	{ "pg_get_serial_sequence", -1, PURE, null_fn },
	{ "pg_get_statisticsobjdef_columns", -1, PURE, null_fn },
	{ "pg_get_keywords", -1, PURE, null_fn },
	{ "inet_server_addr", 0, PURE, null_fn },
	{ "inet_server_port", 0, PURE, null_fn },
	{ "inet_client_addr", 0, PURE, null_fn },
	{ "pg_typeof", 1, PURE, null_fn },
};

/*
 * The catalog is the same for every session of the process but for the
 * connecting user's pg_authid row: the first session builds it (thousands of
 * INSERTs, milliseconds), keeps both databases' images, and later sessions
 * get a copy of them (sqlite3_deserialize into the databases they attached:
 * their own, writable), then the user's row.
 */
static struct {
	pthread_mutex_t lock;
	bool built;
	unsigned char *data[2];	/* pg_catalog's, information_schema's (malloc: no session's memory) */
	sqlite3_int64 size[2];
} image = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const char *const image_schemas[2] = { "pg_catalog", "information_schema" };

/* Fill the session's (attached, empty) catalog databases from the registry, in one transaction. */
static int build(struct filler *f)
{
	/* One transaction for the whole fill: a few thousand rows, committed once. */
	if (exec(f, "BEGIN"))
		return -1;
	for (size_t i = 0; i < sizeof(ddl) / sizeof(ddl[0]); i++)
		if (exec(f, ddl[i]))
			goto out;
	if (sqlite3_prepare_v2(f->db, "INSERT INTO pg_catalog.pg_class (oid, relname, relnamespace,"
			       " relkind, relnatts, reltype, reloftype, relowner, relam, relfilenode,"
			       " reltablespace, relpages, reltuples, relallvisible, reltoastrelid,"
			       " relhasindex, relisshared, relpersistence, relchecks, relhasrules,"
			       " relhastriggers, relhassubclass, relrowsecurity, relforcerowsecurity,"
			       " relispopulated, relreplident, relispartition, relrewrite,"
			       " relfrozenxid, relminmxid) VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, 10,"
			       " CASE ?4 WHEN 'r' THEN 2 ELSE 0 END, 0, 0, 0, -1, 0, 0, 0, 0, 'p',"
			       " 0, 0, 0, 0, 0, 0, 1, 'n', 0, 0, 0, 0)", -1, &f->cls, NULL) ||
	    sqlite3_prepare_v2(f->db, "INSERT INTO pg_catalog.pg_attribute VALUES (?1, ?2, ?3, -1, ?4,"
			       " ?5, 0, -1, -1, ?6, ?7, ?8, '', 0, 0, 0, '', '', 0, 1, 0, ?9, NULL,"
			       " NULL, NULL, NULL)", -1, &f->att, NULL) ||
	    sqlite3_prepare_v2(f->db, "INSERT OR REPLACE INTO pg_catalog.pg_description VALUES"
			       " (?1, ?2, ?3, ?4)", -1, &f->desc, NULL) ||
	    sqlite3_prepare_v2(f->db, "INSERT INTO pg_catalog.pg_proc (oid, proname, pronamespace,"
			       " proowner, prolang, procost, prorows, provariadic, prokind, prosecdef,"
			       " proleakproof, proisstrict, proretset, provolatile, proparallel,"
			       " pronargs, pronargdefaults, prorettype, proargtypes, dbos_result,"
			       " dbos_arguments) VALUES (?1, ?2, 2200, 10, 13, 1, CASE ?3 WHEN 1 THEN"
			       " 1000 ELSE 0 END, 0, 'f', 0, 0, 0, ?3, 'v', 'u', ?7, 0, ?4, '', ?5,"
			       " ?6)", -1, &f->proc, NULL)) {
		fail_db(f, "preparing");
		goto out;
	}
	fill(f);
out:
	sqlite3_finalize(f->cls);
	sqlite3_finalize(f->att);
	sqlite3_finalize(f->desc);
	sqlite3_finalize(f->proc);
	if (*f->err) {
		sqlite3_exec(f->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return exec(f, "COMMIT");
}

/* Keep the images of the catalog databases just built. */
static int keep(struct filler *f)
{
	for (int i = 0; i < 2; i++) {
		sqlite3_int64 size;
		unsigned char *data = sqlite3_serialize(f->db, image_schemas[i], &size, 0);

		if (!data)
			return fail_db(f, "serializing the catalog");
		free(image.data[i]);	/* a failed earlier attempt's */
		image.data[i] = malloc(size);
		if (!image.data[i]) {
			sqlite3_free(data);
			return fail_db(f, "out of memory");
		}
		memcpy(image.data[i], data, size);
		image.size[i] = size;
		sqlite3_free(data);
	}
	return 0;
}

/* A copy of the images into the session's attached catalog databases (its own, writable). */
static int copy(struct filler *f)
{
	for (int i = 0; i < 2; i++) {
		unsigned char *data = sqlite3_malloc64(image.size[i]);

		if (!data)
			return fail_db(f, "out of memory");
		memcpy(data, image.data[i], image.size[i]);
		/* FREEONCLOSE: SQLite frees @data, even if this fails. */
		if (sqlite3_deserialize(f->db, image_schemas[i], data, image.size[i], image.size[i],
					SQLITE_DESERIALIZE_FREEONCLOSE |
					SQLITE_DESERIALIZE_RESIZEABLE) != SQLITE_OK)
			return fail_db(f, "copying the catalog");
	}
	return 0;
}

int pgcatalog_setup(sqlite3 *db, struct pgsettings *s, char **err)
{
	struct filler f = { .db = db, .err = err };
	const char *user = pgsettings_get(s, "session_authorization");
	int rc = SQLITE_OK;

	*err = NULL;
	pthread_once(&start_once, start_time_init);
	for (size_t i = 0; rc == SQLITE_OK && i < sizeof(functions) / sizeof(functions[0]); i++) {
		const struct function *fn = &functions[i];
		void *data = fn->data == D_SETTINGS ? (void *)s : (void *)fn->arg;

		rc = sqlite3_create_function_v2(db, fn->name, fn->nargs, fn->flags, data, fn->fn,
						NULL, NULL, NULL);
	}
	for (size_t i = 0; rc == SQLITE_OK && i < sizeof(regs) / sizeof(regs[0]); i++) {
		char to[32];

		rc = sqlite3_create_function_v2(db, regs[i].fn, 1, STABLE, (void *)&regs[i], reg_fn,
						NULL, NULL, NULL);
		snprintf(to, sizeof(to), "to_%s", regs[i].fn);
		if (rc == SQLITE_OK)
			rc = sqlite3_create_function_v2(db, to, 1, STABLE, (void *)&regs[i], to_reg_fn,
							NULL, NULL, NULL);
		snprintf(to, sizeof(to), "%s_name", regs[i].fn);
		if (rc == SQLITE_OK)
			rc = sqlite3_create_function_v2(db, to, 1, STABLE, (void *)&regs[i], reg_name_fn,
							NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "pg_array_agg", 1, PURE, NULL, NULL,
						array_agg_step, array_agg_final, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "array_agg", 1, PURE, NULL, NULL,
						array_agg_step, array_agg_final, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "string_agg", 2, PURE, NULL, NULL,
						string_agg_step, string_agg_final, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_module_v2(db, "generate_series", &series_module, NULL, NULL);
	if (rc != SQLITE_OK)
		return fail_db(&f, "registering functions");

	if (exec(&f, "ATTACH ':memory:' AS pg_catalog") ||
	    exec(&f, "ATTACH ':memory:' AS information_schema"))
		return -1;
	pthread_mutex_lock(&image.lock);
	if (!image.built) {
		if (build(&f) || keep(&f)) {
			pthread_mutex_unlock(&image.lock);
			return -1;
		}
		image.built = true;
		pthread_mutex_unlock(&image.lock);
	} else {
		pthread_mutex_unlock(&image.lock);
		if (copy(&f))
			return -1;
	}
	return add_user(&f, user ? user : "root");
}
