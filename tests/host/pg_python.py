#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
# pg_python.py - psycopg (3) or psycopg2, Debian's, against dbosd's PostgreSQL socket: parameters, a named cursor, types (test_pgwire).
#
# Usage: pg_python.py psycopg|psycopg2 SOCKET_DIR; prints what it read, one line each.
import sys

driver, host = sys.argv[1], sys.argv[2]
if driver == 'psycopg2':
    import psycopg2 as pg
    import psycopg2.errors
    conn = pg.connect(host=host, dbname='dbos')
else:
    import psycopg as pg
    conn = pg.connect(f'host={host} dbname=dbos')

cur = conn.cursor()
cur.execute('SELECT seq, pid, path FROM process_events WHERE seq BETWEEN %s AND %s '
            'ORDER BY seq', [5, 7])
rows = cur.fetchall()
print(rows)
# integers stay integers, text stays text
print(all(type(r[0]) is int and type(r[1]) is int and type(r[2]) is str for r in rows))
# a server-side cursor: DECLARE ... CURSOR, FETCH FORWARD n, CLOSE
named = conn.cursor('srv')
named.execute('SELECT seq FROM process_events ORDER BY seq')
print(sum(r[0] for r in named))
named.close()
cur.execute('SELECT count(*) FROM process_events WHERE path = %s', ['/usr/bin/true'])
print(cur.fetchone()[0])
try:
    cur.execute('SELECT * FROM nosuch')
except pg.errors.UndefinedTable:
    print('UndefinedTable')
conn.rollback()
cur.execute('SELECT 1.5::float8, NULL, %s, 7::bigint', ['x'])
print(cur.fetchone())
conn.close()
