#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In-VM policy benchmark (booted with --bare): cost of exec, open and connect
# with dbosd --no-lsm (no dbos LSM programs attached at all), then with the BPF
# LSM and 0, 10 and 1,000 non-matching rules on each hook, in alternating
# rounds of one boot (medians; and the BPF programs' own run time per
# call, from kernel.bpf_stats_enabled); then COMMIT -> enforced latency.
# Prints "name value" lines; scripts/bench.sh collects them.
set -u
ROUNDS=${ROUNDS:-5}
EXEC_ITER=${EXEC_ITER:-400}	# fork+exec+exit+wait per measurement
FILE_ITER=${FILE_ITER:-20000}	# open+close per measurement
TCP_ITER=${TCP_ITER:-2000}	# connect+accept+close per measurement
LAT_N=${LAT_N:-50}		# commits for the latency figures (no other rules)
LAT_N_BIG=${LAT_N_BIG:-20}	# the same beside 1,000 rules per hook (each version stores them all)
SOCK=/run/dbos/dbosd.sock
PIN=/sys/fs/bpf/dbos
RULES="0 10 1000"
RULES_DOWN="1000 10 0"
T=/dbos/tests

die() { echo "bench_policy: $*"; [ -f /tmp/dbosd.log ] && tail -n 20 /tmp/dbosd.log; exit 1; }

start_dbosd() {
	dbosd --db /var/lib/dbos --socket $SOCK "$@" >>/tmp/dbosd.log 2>&1 &
	i=0
	while [ ! -S $SOCK ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S $SOCK ] || die "dbosd did not start"
	sleep 1	# let the initial dump finish
}

stop_dbosd() {
	kill "$(pidof dbosd)" 2>/dev/null
	while pidof dbosd >/dev/null; do sleep 0.1; done
}

# Unpinning the links (no dbosd holding them) detaches the programs.
unload_lsm() { rm -rf "$PIN"; }

# median of the numbers on stdin
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.0f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# BPF program run time: "NAME CNT NS" lines of the dbos_* programs
progstats() { $T/bench_policyctl progstats | awk '{ print $2, $4, $6 }'; }

# measure CONFIG: one exec, open and connect figure (ns/op) appended to
# /tmp/pol.CONFIG.*; with the LSM, also each hook program's ns per call.
measure() {
	progstats >/tmp/ps.before
	e=$($T/bench_forkexec "$EXEC_ITER" | sed 's/.*usec_per_iter //')
	e=$(awk "BEGIN{printf \"%.0f\", $e * 1000}")
	o=$($T/bench_fileloop open "$FILE_ITER" | sed 's/.*ns_per_op //')
	t=$($T/bench_fileloop tcp "$TCP_ITER" | sed 's/.*ns_per_op //')
	progstats >/tmp/ps.after
	echo "$e" >>"/tmp/pol.$1.exec"
	echo "$o" >>"/tmp/pol.$1.open"
	echo "$t" >>"/tmp/pol.$1.connect"
	checks=""
	for op in exec open connect; do
		c=$(awk -v p="dbos_$op" 'NR == FNR { if ($1 == p) { n = $2; t = $3 } next }
			$1 == p && $2 > n { printf "%.0f", ($3 - t) / ($2 - n) }' /tmp/ps.before /tmp/ps.after)
		[ -n "$c" ] || continue
		echo "$c" >>"/tmp/pol.$1.check_$op"
		checks="$checks $op ${c} ns"
	done
	echo "  $1: fork+exec+exit ${e} ns, open+close ${o} ns, tcp connect+accept+close ${t} ns${checks:+; BPF check:$checks}"
}

measure_nolsm() {
	unload_lsm
	start_dbosd --no-lsm
	[ -e "$PIN" ] && die "dbosd --no-lsm pinned $PIN"
	measure nolsm
	stop_dbosd
}

# measure_lsm N...: with the BPF LSM and N rules per hook, for each N in turn
measure_lsm() {
	start_dbosd
	for n; do
		out=$($T/bench_policyctl rules "$n") || die "cannot load $n rules per hook (is BPF LSM active?)"
		[ $r -eq 0 ] && echo "$out"
		measure "rules$n"
	done
	$T/bench_policyctl rules 0 >/dev/null || die "cannot clear the policy"
	stop_dbosd
}

insmod /dbos/dbos.ko || die "insmod dbos.ko failed"
echo 1 >/proc/sys/kernel/bpf_stats_enabled || die "cannot enable BPF run-time statistics"
rm -f /tmp/pol.*
$T/bench_forkexec 100 >/dev/null	# warm up
$T/bench_fileloop open 2000 >/dev/null
$T/bench_fileloop tcp 200 >/dev/null
r=0
while [ $r -lt "$ROUNDS" ]; do
	echo "policy round $r:"
	# alternate the order, so that a drift in the host's load favours no configuration
	if [ $((r % 2)) -eq 0 ]; then
		measure_nolsm
		# shellcheck disable=SC2086  # a list of numbers
		measure_lsm $RULES
	else
		# shellcheck disable=SC2086
		measure_lsm $RULES_DOWN
		measure_nolsm
	fi
	r=$((r + 1))
done

# Lineage (issue 13): the same loops with one rule per hook whose condition
# never matches, written three ways: no lineage; a lineage condition the
# kernel keeps (a task-storage lookup and one map lookup per check, marks at
# every fork and exec); the same condition with depth, a set the server keeps.
lineage_rules() {	# $1: "" | kernel | server
	sub=""
	[ "$1" = kernel ] && sub=" AND pid IN (SELECT pid FROM process_ancestors WHERE ancestor_name = ''nomatch'')"
	[ "$1" = server ] && sub=" AND pid IN (SELECT pid FROM process_ancestors WHERE ancestor_name = ''nomatch'' AND depth < 99)"
	dbos -c "BEGIN; DELETE FROM policies;
		INSERT INTO policies(name, hook, action, condition) VALUES
		('l-exec', 'exec', 'deny', 'path = ''/nonexistent''$sub'),
		('l-open', 'open', 'deny', 'path = ''/nonexistent''$sub'),
		('l-connect', 'connect', 'deny', 'remote_port = 1$sub'); COMMIT;" >/dev/null ||
		die "cannot load the lineage rules ($1)"
}
start_dbosd
r=0
while [ $r -lt "$ROUNDS" ]; do
	for how in plain kernel server; do
		lineage_rules "$([ $how = plain ] || echo $how)"
		measure "lin_$how"
	done
	r=$((r + 1))
done
# COMMIT of a lineage rule (a new condition each time: the kernel walks every
# process) vs a plain one: ms per COMMIT, over 20
commit_ms() {	# $1: plain | lineage
	a=$(cut -d' ' -f1 /proc/uptime)
	i=0
	while [ $i -lt 20 ]; do
		suf=""
		[ "$1" = lineage ] && suf=" AND pid IN (SELECT pid FROM process_ancestors WHERE ancestor_name = ''n$i'')"
		dbos -c "DELETE FROM policies; INSERT INTO policies(name, hook, action, condition)
			VALUES ('c$i', 'exec', 'deny', 'path = ''/nonexistent$i''$suf')" >/dev/null ||
			die "commit failed"
		i=$((i + 1))
	done
	b=$(cut -d' ' -f1 /proc/uptime)
	awk "BEGIN{printf \"%.1f\", ($b - $a) * 1000 / 20}"
}
echo "policy_commit_ms_plain $(commit_ms plain) (DELETE + INSERT, two versions)"
echo "policy_commit_ms_lineage $(commit_ms lineage) (the same with a new lineage condition: one walk of every process)"
dbos -c "DELETE FROM policies" >/dev/null
stop_dbosd

minimum() { sort -n | head -n 1; }
for op in exec open connect; do
	base=$(median <"/tmp/pol.nolsm.$op")
	echo "policy_${op}_ns_nolsm $base (min $(minimum <"/tmp/pol.nolsm.$op"))"
	for n in $RULES; do
		v=$(median <"/tmp/pol.rules$n.$op")
		echo "policy_${op}_ns_rules$n $v (min $(minimum <"/tmp/pol.rules$n.$op"))"
		echo "policy_${op}_added_ns_rules$n $((v - base)) (target < 1000)"
		echo "policy_${op}_ratio_rules$n $(awk "BEGIN{printf \"%.3f\", $v / $base}")"
	done
	lbase=$(median <"/tmp/pol.lin_plain.$op")
	for how in plain kernel server; do
		v=$(median <"/tmp/pol.lin_$how.$op")
		echo "policy_${op}_ns_lineage_$how $v (ratio to no lineage $(awk "BEGIN{printf \"%.3f\", $v / $lbase}"))"
		f=/tmp/pol.lin_$how.check_$op
		[ -s "$f" ] && echo "policy_${op}_bpf_check_ns_lineage_$how $(median <"$f")"
	done
	for n in $RULES; do
		f=/tmp/pol.rules$n.check_$op
		[ -s "$f" ] && echo "policy_${op}_bpf_check_ns_rules$n $(median <"$f") (BPF program run time per call)"
	done
done

# COMMIT -> enforced: alone, then beside 1,000 rules per hook (the commit recompiles them all).
start_dbosd
$T/bench_policyctl latency "$LAT_N" rules0 || die "latency (no other rules) failed"
$T/bench_policyctl latency "$LAT_N" lineage || die "latency (a lineage rule) failed"
$T/bench_policyctl rules 1000 >/dev/null || die "cannot load 1000 rules per hook"
$T/bench_policyctl latency "$LAT_N_BIG" rules1000 || die "latency (1000 rules) failed"

# The refresh lag: a program that comes to match a server-side set (execs
# as lagprobe) runs uncovered until dbosd saw it and re-pushed the set.
cp $T/bench_policyctl /tmp/lagprobe
$T/bench_policyctl setlag 20 /tmp/lagprobe || die "set lag failed"

# Enforcement outlives dbosd; unpinning (with no dbosd) removes it.
echo x >/tmp/pol.detach
dbos -c "INSERT INTO policies(name, hook, action, condition) VALUES
	('bench-detach', 'open', 'deny', 'path = ''/tmp/pol.detach''')" >/dev/null || die "insert failed"
stop_dbosd
if cat /tmp/pol.detach >/dev/null 2>&1; then
	echo "policy_enforced_without_dbosd no"
else
	echo "policy_enforced_without_dbosd yes"
fi
unload_lsm
if cat /tmp/pol.detach >/dev/null 2>&1; then
	echo "policy_enforced_after_unpin no"
else
	echo "policy_enforced_after_unpin yes"
fi
# leave an empty policy stored: a later dbosd would push the stored version again
start_dbosd
$T/bench_policyctl rules 0 >/dev/null
stop_dbosd
