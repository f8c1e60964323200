-- psycopg 3.1 (TypeInfo.fetch text and int8[]) and psycopg2 2.9 (a named cursor): the
-- statements the server logs (log_statement=all; re-capture: tests/host/pgsql/capture.sh)
BEGIN;

SELECT pid, name FROM processes WHERE pid = $1;

SAVEPOINT "_pg3_1";

SELECT
	    typname AS name, oid, typarray AS array_oid,
	    oid::regtype::text AS regtype, typdelim AS delimiter
	FROM pg_type t
	WHERE t.oid = $1::regtype
	ORDER BY t.oid
	;

RELEASE "_pg3_1";

SAVEPOINT "_pg3_1";

SELECT
	    typname AS name, oid, typarray AS array_oid,
	    oid::regtype::text AS regtype, typdelim AS delimiter
	FROM pg_type t
	WHERE t.oid = $1::regtype
	ORDER BY t.oid
	;

RELEASE "_pg3_1";

COMMIT;

BEGIN;

DECLARE "dbos_cursor" CURSOR WITHOUT HOLD FOR SELECT pid, name FROM processes WHERE pid > 0;

FETCH FORWARD 10 FROM "dbos_cursor";

CLOSE "dbos_cursor";

COMMIT;

