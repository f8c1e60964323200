#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In-VM benchmark (booted with --bare): queries of processes naming stored
# columns only, then columns read live too (GET_LIVE per 256 rows of a scan,
# per pid lookup), side by side in one boot, over LIVE_PROCS sleeping processes.
# Prints "name value" lines; scripts/bench.sh collects them.
set -u
SOCK=/run/dbos/dbosd.sock
LIVE_PROCS=${LIVE_PROCS:-2000}

start_dbos() {
	insmod /dbos/dbos.ko || exit 1
	dbosd --db /var/lib/dbos --socket $SOCK >/tmp/dbosd.log 2>&1 &
	i=0
	while [ ! -S $SOCK ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S $SOCK ] || { cat /tmp/dbosd.log; exit 1; }
	sleep 1	# let the initial dump finish
}

median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.3f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# Columns read live: a scan of every process and a pid lookup, naming stored
# columns only, then live ones too (GET_LIVE per 256 rows / per lookup), side by side.
start_dbos
i=0
while [ $i -lt "$LIVE_PROCS" ]; do sleep 1000 & i=$((i + 1)); done
sleep 3
lq() { /dbos/tests/bench_liveq "$@" | sed 's/ms_per_query \([0-9.]*\).*/\1/'; }
echo "live_rows $(dbos --csv -c 'SELECT count(*) FROM processes' | tail -1)"
for r in 1 2 3; do
	lq 20 'SELECT pid, name, uid, start_time FROM processes' >>/tmp/live.scan.stored
	lq 20 'SELECT pid, name, state, resident_size, user_time, cwd FROM processes' >>/tmp/live.scan.live
	lq 500 'SELECT pid, name, uid, start_time FROM processes WHERE pid = %d' >>/tmp/live.pid.stored
	lq 500 'SELECT pid, name, state, resident_size, user_time, cwd FROM processes WHERE pid = %d' >>/tmp/live.pid.live
done
for k in scan pid; do
	s=$(median <"/tmp/live.$k.stored")
	l=$(median <"/tmp/live.$k.live")
	echo "live_${k}_ms_stored $s"
	echo "live_${k}_ms_live $l"
	echo "live_${k}_ratio $(awk "BEGIN{printf \"%.2f\", $l / $s}")"
done
kill $(pidof sleep) 2>/dev/null
