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
q "UPDATE processes SET nice = 10, cpus = '0' WHERE pid = $SLEEPER"
q "SELECT pid, name, nice, sched_policy, cpus FROM processes WHERE pid = $SLEEPER"
echo "kernel: nice $(cut -d' ' -f19 /proc/$SLEEPER/stat), $(grep Cpus_allowed_list /proc/$SLEEPER/status)"
q "SELECT pid, name, cause, by_uid, nice, cpus FROM sched_decisions ORDER BY seq DESC LIMIT 1"
q "INSERT INTO policies(name, hook, action, condition) VALUES ('no-8080', 'connect', 'deny', 'remote_port = 8080')"
if nc -w 1 127.0.0.1 8080 </dev/null 2>/dev/null; then echo "connect to 8080: allowed"; else echo "connect to 8080: refused by the kernel"; fi
sleep 0.5
q "SELECT hook, verdict, pid, name, address, port, rule, version FROM policy_decisions ORDER BY seq DESC LIMIT 1"
q "DELETE FROM policies WHERE name = 'no-8080'"
q "SELECT name, value FROM dbos_stats"
kill $SLEEPER $LISTENER
echo
echo "demo done: run 'make run' in a terminal for the interactive dbos> shell"
