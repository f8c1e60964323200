#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Runs every dbos test (host unit tests, then the in-VM suites, each in its own
# VM boot), tallies their TAP output and ends with "N passed, N failed".
#
# Usage: tests/run-all.sh [--host-only | --vm-only] [--kernel NAME] [SUITE...]
#   SUITE: a test name (e.g. test_sql, test_processes) to run only those.
set -uo pipefail
cd "$(dirname "$0")/.."

mode=all
kernel=debian
suites=()
while [ $# -gt 0 ]; do
	case "$1" in
	--host-only) mode=host ;;
	--vm-only) mode=vm ;;
	--kernel) kernel="$2"; shift ;;
	-h|--help) sed -n '3,7p' "$0"; exit 0 ;;
	*) suites+=("$1") ;;
	esac
	shift
done

logdir=build/test-logs
mkdir -p "$logdir"
passed=0
failed=0
skipped=0
failures=()

wanted() {
	[ ${#suites[@]} -eq 0 ] && return 0
	local s
	for s in "${suites[@]}"; do [ "$s" = "$1" ] && return 0; done
	return 1
}

# tally NAME LOG STATUS: count the TAP results in LOG; a suite that exited
# non-zero without reporting a failure, or reported fewer results than its
# plan, counts one more failure.
tally() {
	local name=$1 log=$2 status=$3 ok notok skip plan
	ok=$(grep -cE '^ok [0-9]+' "$log" || true)
	skip=$(grep -cE '^ok [0-9]+.*# *SKIP' "$log" || true)
	notok=$(grep -cE '^not ok [0-9]+' "$log" || true)
	plan=$(grep -m1 -oE '^1\.\.[0-9]+' "$log" | cut -d. -f3)
	ok=$((ok - skip))
	passed=$((passed + ok))
	skipped=$((skipped + skip))
	failed=$((failed + notok))
	[ "$notok" -gt 0 ] && failures+=("$name: $(grep -E '^not ok' "$log" | head -3 | tr '\n' ';')")
	if [ -n "$plan" ] && [ $((ok + skip + notok)) -lt "$plan" ]; then
		failed=$((failed + 1))
		failures+=("$name: ran $((ok + skip + notok)) of $plan planned tests")
	elif [ "$status" -ne 0 ] && [ "$notok" -eq 0 ]; then
		failed=$((failed + 1))
		failures+=("$name: exited with status $status (see $log)")
	fi
	printf '%-28s %3d passed, %d failed, %d skipped (%s)\n' "$name" "$ok" "$notok" "$skip" "$log"
}

run_host() {
	local t name
	for t in build/tests/host/*; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		wanted "$name" || continue
		timeout 600 "$t" >"$logdir/$name.log" 2>&1
		tally "$name" "$logdir/$name.log" $?
	done
}

run_vm() {
	local t name status
	for t in build/tests/vm/test_*; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		name=${name%.sh}
		wanted "$name" || continue
		case "$name" in *_listen|*_helper) continue ;; esac
		scripts/dbos-vm --kernel "$kernel" --log "$logdir/$name.$kernel.serial.log" \
			"/dbos/tests/$(basename "$t")" >"$logdir/$name.$kernel.log" 2>&1
		status=$?
		tally "$name[$kernel]" "$logdir/$name.$kernel.log" "$status"
	done
}

start=$(date +%s)
[ "$mode" != vm ] && run_host
[ "$mode" != host ] && run_vm
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "time: $(( $(date +%s) - start )) s"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
