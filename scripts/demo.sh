#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The non-interactive `make run` demo: a few queries over the live VM, with output.
set -e
q() {
	echo
	echo "dbos> $1"
	dbos -c "$1"
}
sleep 600 &
SLEEPER=$!
sh -c 'exec sleep 601' &
nc -l -p 8080 >/dev/null 2>&1 &
LISTENER=$!
sleep 0.5
q "SELECT pid, parent, name, path, cmdline, uid FROM processes ORDER BY pid DESC LIMIT 8"
q "SELECT pid, parent, name, path, state, threads FROM processes WHERE pid = $SLEEPER"
q "SELECT seq, event, pid, parent, name, path FROM process_events ORDER BY seq DESC LIMIT 10"
q "SELECT p.name AS parent_name, count(*) AS children FROM processes c JOIN processes p ON p.pid = c.parent GROUP BY p.name ORDER BY children DESC LIMIT 5"
q "SELECT p.name, l.port, l.address, l.protocol FROM listening_ports l JOIN processes p USING (pid)"
q "SELECT fd, type, path FROM process_open_files WHERE pid = $LISTENER"
q "SELECT seq, action, pid, fd, path FROM file_events ORDER BY seq DESC LIMIT 5"
q "SELECT name, value FROM dbos_stats"
kill $SLEEPER $LISTENER
echo
echo "demo done: run 'make run' in a terminal for the interactive dbos> shell"
