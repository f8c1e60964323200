#!/bin/sh
# Start, stop or restart dbosd inside the dbos test VM (installed there as /usr/bin/vm-dbosd).
set -u

SOCKET=${DBOS_SOCKET:-/run/dbos/dbosd.sock}
DB_DIR=${DBOS_DB_DIR:-/var/lib/dbos}
LOG=${DBOSD_LOG:-/tmp/dbosd.log}
PIDFILE=/run/dbos/dbosd.pid
START_WAIT=${DBOSD_START_WAIT:-10}  # seconds to wait for the socket
ARGS=${DBOSD_ARGS:-}  # more dbosd options, e.g. "--group dbos-test" or "--no-lsm"
# seconds to wait after SIGTERM before SIGKILL (a clean stop closes the store:
# seconds on a debug kernel under load, 2026-12-07)
STOP_WAIT=${DBOSD_STOP_WAIT:-30}

usage() {
	cat <<EOF
Usage: vm-dbosd start|stop|restart|status
  start    run 'dbosd --db $DB_DIR --socket $SOCKET \$DBOSD_ARGS' in the background, output
           appended to $LOG; wait up to ${START_WAIT}s for the socket (exit 1 and
           print the log if it does not appear)
  stop     SIGTERM every dbosd, SIGKILL after ${STOP_WAIT}s (exit 1 if SIGKILL was needed)
  restart  stop, then start (e.g. after 'kill -9' in a durability test)
  status   print the pids of running dbosd processes; exit 1 if there are none
EOF
}

# A dead child stays a zombie until reaped, and kill -0 still succeeds on zombies.
is_alive() {
	{ read -r _ _ state _ <"/proc/$1/stat"; } 2>/dev/null && [ "$state" != Z ]
}

# Seconds since boot, in hundredths (deadlines must not depend on how slow the loop is under TCG).
now_cs() {
	read -r up _ </proc/uptime
	echo "${up%.*}${up#*.}"
}

# Live dbosd processes: the one we started (pid file) and any a test started itself.
dbosd_pids() {
	pids=""
	for pid in $(cat "$PIDFILE" 2>/dev/null) $(pidof dbosd); do
		is_alive "$pid" && case " $pids " in *" $pid "*) ;; *) pids="$pids $pid" ;; esac
	done
	[ -n "$pids" ] && echo "${pids# }"
}

start_dbosd() {
	if ! command -v dbosd >/dev/null 2>&1; then
		echo "vm-dbosd: dbosd is not installed (build/bin/dbosd missing); not starting the server" >&2
		return 0
	fi
	if pids=$(dbosd_pids); then
		echo "vm-dbosd: dbosd already running (pid $pids)" >&2
		return 0
	fi
	mkdir -p "$(dirname "$SOCKET")" "$DB_DIR"
	rm -f "$SOCKET"  # a stale socket from a killed server must not count as "up"
	# shellcheck disable=SC2086  # DBOSD_ARGS: options, split into words
	dbosd --db "$DB_DIR" --socket "$SOCKET" $ARGS >>"$LOG" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$PIDFILE"
	deadline=$(($(now_cs) + START_WAIT * 100))
	while [ ! -S "$SOCKET" ]; do
		if ! is_alive "$pid"; then
			echo "vm-dbosd: dbosd exited before creating $SOCKET; $LOG:" >&2
			cat "$LOG" >&2
			return 1
		fi
		if [ "$(now_cs)" -ge "$deadline" ]; then
			echo "vm-dbosd: $SOCKET did not appear within ${START_WAIT}s; $LOG:" >&2
			cat "$LOG" >&2
			return 1
		fi
		sleep 0.05
	done
}

stop_dbosd() {
	pids=$(dbosd_pids) || { rm -f "$PIDFILE"; return 0; }
	# shellcheck disable=SC2086  # a list of pids
	kill -TERM $pids 2>/dev/null
	deadline=$(($(now_cs) + STOP_WAIT * 100))
	while pids=$(dbosd_pids); do
		if [ "$(now_cs)" -ge "$deadline" ]; then
			echo "vm-dbosd: dbosd (pid $pids) ignored SIGTERM for ${STOP_WAIT}s; sending SIGKILL" >&2
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null
			rm -f "$PIDFILE"
			return 1
		fi
		sleep 0.05
	done
	rm -f "$PIDFILE"
}

case "${1:-}" in
start) start_dbosd ;;
stop) stop_dbosd ;;
restart) stop_dbosd; start_dbosd ;;
status) dbosd_pids ;;
-h | --help) usage ;;
*) usage >&2; exit 2 ;;
esac
