#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# test_console.sh - `make run` in a terminal, as a new user types it: the dbos>
# shell opens on the VM console with working line editing, answers, lists the
# tables the README teaches first, and .quit powers the VM off. Prints TAP.
#
# The terminal is a pseudo-terminal from script(1) (util-linux); this script
# types into it and reads the screen, waiting for each expected string.
# Usage: tests/console/test_console.sh   (from anywhere; the VM kernel is Debian's)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

LOG=build/test-logs/test_console.screen
mkdir -p "${LOG%/*}"
: >"$LOG"
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

SCREEN=""
# expect PATTERN SECONDS: read the terminal until PATTERN (a glob; lines end
# in \n: carriage returns are dropped) appears in what was read since the last
# expect, or fail after SECONDS.
expect() {
	local end=$((SECONDS + $2)) c
	SCREEN=""
	while ((SECONDS < end)); do
		IFS= read -r -t 1 -N 1 c <&3 || continue
		printf %s "$c" >>"$LOG"
		SCREEN+=$c
		# shellcheck disable=SC2053  # (a glob on purpose)
		[[ ${SCREEN//$'\r'/} == *$1* ]] && return 0
	done
	echo "# timed out after $2 s waiting for '$1'; the last output was:"
	tail -c 400 <<<"${SCREEN//$'\r'/}" | sed 's/^/#   /'
	return 1
}
type_line() { printf '%s\r' "$1" >&4; }

echo "1..7"

# A terminal most users have; TERM is passed to the guest's shell.
coproc VM { TERM=xterm-256color COLUMNS=120 LINES=40 script -qfec "make --no-print-directory run" /dev/null 2>&1; }
exec 3<&"${VM[0]}" 4>&"${VM[1]}"
vm_pid=$VM_PID
# Ending script(1) hangs up the terminal: make, dbos-vm and QEMU get SIGHUP.
stop_vm() { pkill -TERM -P "$vm_pid" 2>/dev/null; kill "$vm_pid" 2>/dev/null; }
trap stop_vm EXIT

if expect "dbos> " 600; then
	ok "make run opens the dbos> prompt in a terminal"
	boot=$SCREEN
	check "no 'Cannot read termcap' (the shell has the terminal's terminfo)" \
		test "${boot/Cannot read termcap/}" = "$boot"

	# Each step reads up to the next prompt, so the next one starts on a clean screen.
	type_line "SELECT count(*) AS init_rows FROM processes WHERE pid = 1;"
	check "a query answers (pid 1 is in processes)" expect $'init_rows\n---------\n        1\ndbos> ' 60

	type_line ".tables"
	if expect $'sockets_changes\ndbos> ' 60 && text=${SCREEN//$'\r'/} &&
		[[ $text == *$'\npolicies\n'* && $text == *$'\nsched_rules\n'* && $text == *$'\nprocesses\n'* ]]; then
		ok ".tables lists processes, policies and sched_rules"
	else
		not_ok ".tables lists processes, policies and sched_rules"
	fi

	# Line editing: Ctrl-A goes to the start of the line; the Up arrow recalls history.
	printf '6*7 AS answer;\001SELECT \r' >&4
	check "line editing: Ctrl-A moves to the start of the line" expect $'answer\n------\n    42\ndbos> ' 60
	printf '\033[A\r' >&4
	check "line editing: the Up arrow recalls the last statement" expect $'answer\n------\n    42\ndbos> ' 60

	type_line ".quit"
	for ((i = 0; i < 120; i++)); do
		kill -0 "$vm_pid" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$vm_pid" 2>/dev/null; then
		not_ok ".quit powers the VM off and make run exits 0 (still running after 60 s)"
	else
		wait "$vm_pid"
		status=$?
		check ".quit powers the VM off and make run exits 0 (status $status)" test "$status" -eq 0
	fi
else
	for what in "no termcap message" "a query answers" ".tables" "Ctrl-A" "Up arrow" ".quit"; do
		not_ok "$what (no prompt)"
	done
fi
trap - EXIT
stop_vm
echo "# the terminal's screen: $LOG"
exit $((failed > 0))
