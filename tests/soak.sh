#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Runs in-VM suites round after round on one kernel until one fails or the
# rounds are done: the "N runs in a row" check of flaky-looking tests. One
# line per round on stdout and in build/soak-KERNEL.log; a failed round's
# logs are kept in build/soak-KERNEL-fail-ROUND/. Does not rebuild (make all,
# make module-debug first). Exits 0 when every round passed.
#
# Usage: tests/soak.sh [--kernel NAME] [--rounds N] [--per-boot K] [--jobs J] [SUITE...]
#   --kernel NAME: debian (default) or debug
#   --rounds N:    rounds to run (default 50)
#   --per-boot K:  each suite runs K times in a row in each round's one boot
#                  (default 1): N rounds are N*K runs in a row. On the debug
#                  kernel a boot and dbosd's start take longer than a run of
#                  the mirror's suites; its 50 runs are --rounds 10 --per-boot 5
#                  (about 14 minutes a round).
#   --jobs J:      suites run at once (run-all.sh's --jobs; default 2)
#   SUITE:         default: the mirror's suites, test_processes test_files
#                  test_kmod test_sched
# Stop it between rounds with: touch build/soak-stop
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

kernel=debian
rounds=50
per_boot=1
jobs=2
suites=()
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) kernel=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	--per-boot) per_boot=$2; shift ;;
	--jobs) jobs=$2; shift ;;
	-h|--help) sed -n '3,20p' "$0"; exit 0 ;;
	*) suites+=("$1") ;;
	esac
	shift
done
[ ${#suites[@]} -gt 0 ] || suites=(test_processes test_files test_kmod test_sched)

log=build/soak-$kernel.log
rm -f build/soak-stop
echo "== $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null) kernel $kernel, $per_boot run(s) a boot: ${suites[*]}" |
	tee -a "$log"
for ((r = 1; r <= rounds; r++)); do
	if [ -e build/soak-stop ]; then
		echo "stopped before round $r" | tee -a "$log"
		exit 1
	fi
	t0=$(date +%s)
	last=$(tests/run-all.sh --vm-only --kernel "$kernel" --repeat "$per_boot" --jobs "$jobs" "${suites[@]}" 2>&1 | tail -n 1)
	echo "round $r/$rounds $(( $(date +%s) - t0 )) s: $last" | tee -a "$log"
	case "$last" in
	*", 0 failed"*) ;;
	*)
		mkdir -p "build/soak-$kernel-fail-$r"
		cp -r build/test-logs/. "build/soak-$kernel-fail-$r/"
		echo "round $r failed: logs in build/soak-$kernel-fail-$r/" | tee -a "$log"
		exit 1
		;;
	esac
done
echo "$rounds rounds in a row passed" | tee -a "$log"
