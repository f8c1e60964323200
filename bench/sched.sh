#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# In-VM scheduling benchmark (booted with --bare): scheduling decisions per
# second through UPDATE processes (statements of 1, 10, 100 rows over live
# sleepers); a fork/exec storm (one exec at a time, and $PAR at once)
# without and with a sched rule matching the exec'ed program (execs/s, rule
# applications/s), in alternating rounds of one boot; the latency from
# execve() to the rule's settings in force, seen by the program at its
# first instruction. Prints "name value" lines; scripts/bench.sh collects
# them.
set -u
ROUNDS=${ROUNDS:-3}
STORM_ITER=${STORM_ITER:-1000}	# fork+exec+wait per measurement
UPD_PROCS=${UPD_PROCS:-100}	# live sleepers
UPD_SECS=${UPD_SECS:-3}		# seconds of statements per size
PAR=${PAR:-2}			# storm workers of the *_par configurations
RULE_NICE=7
SOCK=/run/dbos/dbosd.sock
T=/dbos/tests
C=$T/bench_schedctl

die() { echo "bench_sched: $*"; [ -f /tmp/dbosd.log ] && tail -n 20 /tmp/dbosd.log; exit 1; }

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# the value of line NAME in file FILE (first field after the name)
val() { awk -v n="$1" '$1 == n { print $2 }' "$2"; }
dbos_stat() { $C int "SELECT value FROM dbos_stats WHERE name = '$1'"; }

insmod /dbos/dbos.ko || die "insmod dbos.ko failed"
dbosd --db /var/lib/dbos --socket $SOCK >>/tmp/dbosd.log 2>&1 &
i=0
while [ ! -S $SOCK ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -S $SOCK ] || die "dbosd did not start"
sleep 1	# let the initial dump finish

echo "sched_paper_tasks_per_sec 750000 (DBOS paper, scheduler over two servers: context, not a target)"
echo "sched_paper_latency_us_p50 200 (DBOS paper, median task scheduling latency: context)"

echo "UPDATE processes SET nice over $UPD_PROCS sleepers, ${UPD_SECS}s per statement size:"
$C update "$UPD_PROCS" "$UPD_SECS" 1 10 100

# The storm, without and with the rule, one exec at a time and from $PAR
# workers at once; the configurations' order reverses every round, so that a
# drift in the host's load favours none.
rm -f /tmp/sch.*
$C storm warm 200 0 >/dev/null || die "storm failed"
have_rule=1
CONFIGS="norule rule norule_par rule_par"
CONFIGS_DOWN="rule_par norule_par rule norule"
r=0
while [ $r -lt "$ROUNDS" ]; do
	order=$CONFIGS
	[ $((r % 2)) -eq 1 ] && order=$CONFIGS_DOWN
	for cfg in $order; do
		w=1
		case $cfg in *_par) w=$PAR ;; esac
		case $cfg in
		norule*)
			[ $have_rule -eq 1 ] && $C norule >/dev/null
			$C storm "$cfg" "$STORM_ITER" 0 "$w" >/tmp/sch.out || die "storm failed"
			;;
		*)
			[ $have_rule -eq 1 ] || continue
			if ! $C rule $RULE_NICE >/tmp/sch.rule; then
				cat /tmp/sch.rule
				have_rule=0
				continue
			fi
			val sched_rule_commit_ms /tmp/sch.rule >>/tmp/sch.rule.commit
			id=$(val sched_rule_id /tmp/sch.rule)
			c=$($C int "SELECT count(*) FROM sched_decisions WHERE cause = 'commit' AND rule_id = $id")
			[ "$c" = 0 ] || echo "  round $r: the rule changed $c processes at COMMIT (none is named bench_probe)"
			since=$($C int "SELECT coalesce(max(seq), 0) FROM sched_decisions")
			k0=$(dbos_stat kernel_sched_applied)
			$C storm "$cfg" "$STORM_ITER" $RULE_NICE "$w" >/tmp/sch.out || die "storm failed"
			n=$($C count "$id" "$since")
			sleep 2	# the kernel counters are polled
			k1=$(dbos_stat kernel_sched_applied)
			s=$(val "sched_storm_seconds_$cfg" /tmp/sch.out)
			echo "$n" >>"/tmp/sch.$cfg.rows"
			awk "BEGIN { printf \"%.0f\n\", $n / $s }" >>"/tmp/sch.$cfg.rows_per_sec"
			awk "BEGIN { printf \"%.0f\n\", ($k1 - $k0) / $s }" >>"/tmp/sch.$cfg.kernel_per_sec"
			;;
		esac
		echo "  round $r $cfg: $(tr '\n' ' ' </tmp/sch.out)"
		for m in execs_per_sec exec_to_main_us_p50 exec_to_main_us_p99; do
			val "sched_storm_${m}_$cfg" /tmp/sch.out >>"/tmp/sch.$cfg.$m"
		done
		awk '$1 ~ /^sched_storm_nice/ { sub(/\(/, "", $3); print $3, $5 }' /tmp/sch.out >>"/tmp/sch.$cfg.had"
	done
	r=$((r + 1))
done
[ $have_rule -eq 1 ] && $C norule >/dev/null

for cfg in $CONFIGS; do
	[ -s "/tmp/sch.$cfg.execs_per_sec" ] || continue
	for m in execs_per_sec exec_to_main_us_p50 exec_to_main_us_p99; do
		echo "sched_storm_${m}_$cfg $(median <"/tmp/sch.$cfg.$m")"
	done
done
for sfx in "" _par; do
	[ -s "/tmp/sch.rule$sfx.execs_per_sec" ] || continue
	a=$(median <"/tmp/sch.norule$sfx.execs_per_sec")
	b=$(median <"/tmp/sch.rule$sfx.execs_per_sec")
	echo "sched_storm_execs_ratio_rule$sfx $(awk "BEGIN { printf \"%.3f\", $b / $a }") (with the rule / without)"
	echo "sched_rule_applications_per_sec$sfx $(median <"/tmp/sch.rule$sfx.rows_per_sec") (sched_decisions rows of the rule at exec per second of storm)"
	echo "sched_rule_kernel_applied_per_sec$sfx $(median <"/tmp/sch.rule$sfx.kernel_per_sec") (DBOS_STATS_SCHED_APPLIED)"
	echo "sched_rule_decisions_rows$sfx $(tr '\n' ' ' <"/tmp/sch.rule$sfx.rows")(per round; $STORM_ITER execs each)"
	echo "sched_rule_exec_to_setting_us_p50$sfx $(median <"/tmp/sch.rule$sfx.exec_to_main_us_p50") (execve() -> first instruction, the rule's nice already in force there; target < 1000; the norule figure is the exec alone)"
	echo "sched_rule_exec_to_setting_us_p99$sfx $(median <"/tmp/sch.rule$sfx.exec_to_main_us_p99")"
	echo "sched_rule_exec_added_us_p50$sfx $(awk "BEGIN { printf \"%.1f\", $(median <"/tmp/sch.rule$sfx.exec_to_main_us_p50") - $(median <"/tmp/sch.norule$sfx.exec_to_main_us_p50") }") (vs the same exec without the rule)"
	awk '{ h += $1; n += $2 } END { printf "sched_rule_in_force_at_main'"$sfx"' %.4f (%d of %d execs had nice '$RULE_NICE' at their first instruction)\n", h / n, h, n }' "/tmp/sch.rule$sfx.had"
done
[ -s /tmp/sch.rule.commit ] && echo "sched_rule_commit_ms $(median </tmp/sch.rule.commit)"
kill "$(pidof dbosd)" 2>/dev/null
