#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# capture.sh - re-capture the catalog queries real PostgreSQL clients send (tests/host/pgsql/*.sql).
#
# Run by hand as root on a machine with postgresql-15 (make check never runs it):
#   sh tests/host/pgsql/capture.sh [OUTDIR]
# It starts a throwaway PostgreSQL 15 as the postgres user in a temporary data
# directory (port 55432, socket in the same directory; the system cluster and its
# configuration are never touched; it needs postgresql-15, python3-psycopg and
# python3-psycopg2), creates a table "processes" (pid bigint,
# name text) and a view, runs `psql -E` for each backslash command and keeps
# the queries psql echoes (one file per command), runs postgres_fdw's IMPORT
# FOREIGN SCHEMA against the same server with log_statement=all and keeps the
# query the foreign side received, and the answers' column names
# (*.columns) that tests/host/test_pgsql.c compares with dbos's.
set -eu
OUT=${1:-$(dirname "$0")}
OUT=$(cd "$OUT" && pwd)
PGBIN=/usr/lib/postgresql/15/bin
PORT=55432
DIR=$(mktemp -d /tmp/dbos-pgcap.XXXXXX)
chown postgres "$DIR"
as_pg() { runuser -u postgres -- "$@"; }
as_pg $PGBIN/initdb -D "$DIR/data" -U postgres -A trust >/dev/null
as_pg $PGBIN/pg_ctl -D "$DIR/data" -l "$DIR/log" -o "-p $PORT -k $DIR -c listen_addresses='' -c log_statement=all -c log_line_prefix='STMT|'" -w start >/dev/null
trap 'as_pg $PGBIN/pg_ctl -D "$DIR/data" -m immediate stop >/dev/null; rm -rf "$DIR"' EXIT
PSQL="psql -X -h $DIR -p $PORT -U postgres -d postgres -v ON_ERROR_STOP=1"
as_pg $PSQL -q -c "CREATE TABLE processes (pid bigint, name text); CREATE VIEW v AS SELECT pid FROM processes; COMMENT ON TABLE processes IS 'Live processes'; CREATE EXTENSION postgres_fdw;"

# psql: one file per backslash command, the queries psql -E echoes between its
# "********* QUERY **********" markers, separated by blank lines, each ending in ';'.
for cmd in 'd' 'dt' 'dt+' 'd processes' 'd+ processes' 'dv' 'df' 'dn' 'l' 'du' 'di' 'dT' 'dx'; do
	name=$(echo "$cmd" | sed 's/+/_plus/; s/ /_/g')
	{
		echo "-- psql 15 \\$cmd: the queries psql -E echoes (re-capture: tests/host/pgsql/capture.sh)"
		as_pg $PSQL -E -c "\\$cmd" 2>&1 | awk '
			/^\*+ QUERY \*+$/ { q = 1; next }
			/^\*+$/ { if (q) print ""; q = 0; next }
			q { print }'
	} > "$OUT/psql_$name.sql"
	as_pg $PSQL -A -c "\\$cmd" | grep -m1 '|' > "$OUT/psql_$name.columns" || true
done

# postgres_fdw: IMPORT FOREIGN SCHEMA and a scan; the statements the remote side logs.
mark=$(wc -l < "$DIR/log")
as_pg $PSQL -q <<SQL >/dev/null
CREATE SERVER loop FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$DIR', port '$PORT', dbname 'postgres');
CREATE USER MAPPING FOR postgres SERVER loop OPTIONS (user 'postgres');
CREATE SCHEMA f;
IMPORT FOREIGN SCHEMA public FROM SERVER loop INTO f;
SELECT * FROM f.processes WHERE pid > 3 ORDER BY name;
SQL
{
	echo "-- postgres_fdw 15: IMPORT FOREIGN SCHEMA public, then SELECT * FROM f.processes WHERE pid > 3 ORDER BY name:"
	echo "-- the statements the remote server logs (log_statement=all; re-capture: tests/host/pgsql/capture.sh)"
	tail -n +$((mark + 1)) "$DIR/log" | awk '
		/^STMT\|/ { if (q) print buf ";\n"; q = 0 }
		/^STMT\|LOG:  (statement|execute [^:]*): / { sub(/^STMT\|LOG:  (statement|execute [^:]*): /, ""); q = 1; buf = $0; next }
		/^STMT\|/ { next }
		/^$/ { next }
		q { buf = buf "\n" $0 }
		END { if (q) print buf ";\n" }' | grep -v '^\(CREATE\|IMPORT\|SELECT \* FROM f\.\)'
} > "$OUT/fdw.sql"

# psycopg 3 and psycopg2 (python3-psycopg, python3-psycopg2): connect, a query with a
# parameter, psycopg 3's TypeInfo.fetch (what it sends to learn a type), a psycopg2
# named (server-side) cursor; the statements the server logs.
mark=$(wc -l < "$DIR/log")
as_pg python3 - "$DIR" "$PORT" <<'PY' >/dev/null
import sys
import psycopg, psycopg2
from psycopg.types import TypeInfo
dsn = "host=%s port=%s dbname=postgres user=postgres" % (sys.argv[1], sys.argv[2])
with psycopg.connect(dsn) as c:
    c.execute("SELECT pid, name FROM processes WHERE pid = %s", (1,)).fetchall()
    TypeInfo.fetch(c, "text")
    TypeInfo.fetch(c, "int8[]")
c2 = psycopg2.connect(dsn)
cur = c2.cursor("dbos_cursor")
cur.execute("SELECT pid, name FROM processes WHERE pid > %s", (0,))
cur.fetchmany(10)
cur.close()
c2.commit()
c2.close()
PY
{
	echo "-- psycopg 3.1 (TypeInfo.fetch text and int8[]) and psycopg2 2.9 (a named cursor): the"
	echo "-- statements the server logs (log_statement=all; re-capture: tests/host/pgsql/capture.sh)"
	tail -n +$((mark + 1)) "$DIR/log" | awk '
		/^STMT\|/ { if (q) print buf ";\n"; q = 0 }
		/^STMT\|LOG:  (statement|execute [^:]*): / { sub(/^STMT\|LOG:  (statement|execute [^:]*): /, ""); q = 1; buf = $0; next }
		/^STMT\|/ { next }
		/^$/ { next }
		q { buf = buf "\n" $0 }
		END { if (q) print buf ";\n" }'
} > "$OUT/psycopg.sql"

# The statements written from clients' source (grafana.sql, pgjdbc.sql): the column names
# PostgreSQL 15 answers them with, one line per statement ($1 as 23), NAME.columns.
for f in grafana pgjdbc; do
	as_pg python3 - "$OUT/$f.sql" "$PSQL" <<'PY' > "$OUT/$f.columns"
import subprocess, sys
text = open(sys.argv[1]).read()
body = "\n".join(l for l in text.splitlines() if not l.startswith("--"))
for stmt in [s.strip() for s in body.split(";\n") if s.strip()]:
    out = subprocess.run(sys.argv[2].split() + ["-A", "-c", stmt.replace("$1", "23")],
                         capture_output=True, text=True, check=True).stdout
    print(out.splitlines()[0])
PY
done

# psql -E prints the oid of the table it found: the fixtures say {OID} instead.
sed -i "s/'$(as_pg $PSQL -At -c "SELECT 'processes'::regclass::oid")'/'{OID}'/g" "$OUT"/psql_*.sql
echo "captured into $OUT"
