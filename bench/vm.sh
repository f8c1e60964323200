#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In-VM benchmark (booted with --bare): process churn with and without
# dbos.ko + dbosd, in alternating rounds of one boot, and a fork storm's loss.
# Prints "name value" lines; scripts/bench.sh collects them.
set -u
ITER=${ITER:-1500}
ROUNDS=${ROUNDS:-3}
SOCK=/run/dbos/dbosd.sock

start_dbos() {
	insmod /dbos/dbos.ko || exit 1
	dbosd --db /var/lib/dbos --socket $SOCK >/tmp/dbosd.log 2>&1 &
	i=0
	while [ ! -S $SOCK ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S $SOCK ] || { cat /tmp/dbosd.log; exit 1; }
	sleep 1	# let the initial dump finish
}

stop_dbos() {
	kill "$(pidof dbosd)" 2>/dev/null
	while pidof dbosd >/dev/null; do sleep 0.1; done
	rmmod dbos || exit 1
}

usec() { /dbos/tests/bench_forkexec "$ITER" | sed 's/.*usec_per_iter //'; }

base_total=0
dbos_total=0
r=0
/dbos/tests/bench_forkexec 200 >/dev/null	# warm up
while [ $r -lt "$ROUNDS" ]; do
	b=$(usec)
	start_dbos
	d=$(usec)
	stop_dbos
	echo "round $r: without ${b} us/iter, with dbos ${d} us/iter"
	base_total=$(awk "BEGIN{print $base_total + $b}")
	dbos_total=$(awk "BEGIN{print $dbos_total + $d}")
	r=$((r + 1))
done
echo "forkexec_usec_without $(awk "BEGIN{printf \"%.1f\", $base_total / $ROUNDS}")"
echo "forkexec_usec_with $(awk "BEGIN{printf \"%.1f\", $dbos_total / $ROUNDS}")"
echo "forkexec_ratio $(awk "BEGIN{printf \"%.3f\", $dbos_total / $base_total}") (target <= 1.05)"

# Fork storm: two loops (one per CPU) for 10 s with dbos attached.
start_dbos
before=$(dbos --csv -c "SELECT value FROM dbos_stats WHERE name='kernel_dropped'" | tail -1)
/dbos/tests/bench_forkexec --for 10 >/tmp/s1 &
storm=$!
/dbos/tests/bench_forkexec --for 10 >/tmp/s2
wait $storm	# not a bare `wait`: dbosd is a background job of this shell too
sleep 2
n1=$(sed 's/iterations \([0-9]*\).*/\1/' /tmp/s1)
n2=$(sed 's/iterations \([0-9]*\).*/\1/' /tmp/s2)
echo "storm_processes $((n1 + n2)) in 10 s"
dbos --csv -c "SELECT name, value FROM dbos_stats WHERE name IN ('kernel_produced','kernel_dropped','kernel_send_failed','gaps_detected','overruns','resyncs','events_received')" |
	tail -n +2 | tr ',' ' ' | sed 's/^/storm_/'
after=$(dbos --csv -c "SELECT value FROM dbos_stats WHERE name='kernel_dropped'" | tail -1)
echo "storm_lost $((after - before))"
stop_dbos
