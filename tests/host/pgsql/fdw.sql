-- postgres_fdw 15: IMPORT FOREIGN SCHEMA public, then SELECT * FROM f.processes WHERE pid > 3 ORDER BY name:
-- the statements the remote server logs (log_statement=all; re-capture: tests/host/pgsql/capture.sh)




SET search_path = pg_catalog;

SET timezone = 'GMT';

SET datestyle = ISO;

SET intervalstyle = postgres;

SET extra_float_digits = 3;

START TRANSACTION ISOLATION LEVEL REPEATABLE READ;

SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'public';

SELECT relname,   attname,   format_type(atttypid, atttypmod),   attnotnull,   pg_get_expr(adbin, adrelid),   attgenerated,   collname,   collnsp.nspname FROM pg_class c   JOIN pg_namespace n ON     relnamespace = n.oid   LEFT JOIN pg_attribute a ON     attrelid = c.oid AND attnum > 0       AND NOT attisdropped   LEFT JOIN pg_attrdef ad ON     adrelid = c.oid AND adnum = attnum   LEFT JOIN pg_collation coll ON     coll.oid = attcollation   LEFT JOIN pg_namespace collnsp ON     collnsp.oid = collnamespace WHERE c.relkind IN ('r','v','f','m','p')   AND n.nspname = 'public' AND NOT c.relispartition  ORDER BY c.relname, a.attnum;

COMMIT TRANSACTION;


START TRANSACTION ISOLATION LEVEL REPEATABLE READ;

DECLARE c1 CURSOR FOR
	SELECT pid, name FROM public.processes WHERE ((pid > 3)) ORDER BY name ASC NULLS LAST;

FETCH 100 FROM c1;

CLOSE c1;

COMMIT TRANSACTION;

