#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# test_kmod_reload.sh - unload and load dbos.ko many times while processes
# fork, exec, exit, rename and change ids (under scheduling rules they match),
# open, close and dup files and use sockets, a listener is subscribed, process and file dumps run, and dbosd (if it runs) follows along; the test VM harness fails the run
# on any oops or WARN. Leaves the module loaded. Prints TAP.
#
# While dbosd runs, a committed rule denies exec of a two-line script that a
# loop keeps trying: BPF LSM decisions are in flight through every reload, and
# not one attempt may succeed.
#
# Usage: test_kmod_reload.sh [CYCLES]   (default 50; 20 on the debug kernel,
# DBOS_TEST_KERNEL=debug, where each cycle takes ~10 s under TCG: fewer cycles,
# every one run with the whole load, in the suite's own boot).
# Cycles that would start after DBOS_TEST_RELOAD_BUDGET seconds (default 200;
# none on the debug kernel) are reported as skipped.
#
# Code patching. Attaching the first probe to a tracepoint (or a kprobe to a
# function) rewrites kernel text with int3-based text_poke_bp(): the jump
# label, the ftrace call site. QEMU 7.2's multi-threaded TCG can then keep
# running a stale int3 on another vCPU forever (soft lockup at the patched
# site). A 15-line module that only attaches to sched_process_exit hangs the
# same way within 10 cycles; with -accel tcg,thread=single (or KVM) it does
# not. So while the processes churn, we keep every site dbos hooks enabled
# through tracefs (tracepoint events, a kprobe event on commit_creds): dbos's
# probes then join and leave live sites, with no jump-label or ftrace flips
# (only a live tracepoint's static call is retargeted), and everything else
# about loading and unloading is exercised as usual. This makes the hang rare,
# not impossible; the real fix belongs in the VM's QEMU options.
# DBOS_TEST_PIN_TEXT=0 turns it off.

KO=${DBOS_MODULE:-/dbos/dbos.ko}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$HERE/test_kmod
if [ "${DBOS_TEST_KERNEL:-}" = debug ]; then
	CYCLES=${1:-20}
	BUDGET=${DBOS_TEST_RELOAD_BUDGET:-100000}
else
	CYCLES=${1:-50}
	BUDGET=${DBOS_TEST_RELOAD_BUDGET:-200}
fi
DENIED=/tmp/reload-denied
OUT=/tmp/test_kmod_reload.$$
n=0
failed=0
skipped=0

ok() {
	n=$((n + 1))
	echo "ok $n - $*"
}

not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $*"
}

# dbos's refcnt once it is 0, or after waiting 5 s for its users to finish.
idle_refcnt() {
	i=0
	while :; do
		r=$(cat /sys/module/dbos/refcnt 2>/dev/null || echo missing)
		if [ "$r" = 0 ] || [ $i -ge 50 ]; then
			echo "$r"
			return
		fi
		i=$((i + 1))
		sleep 0.1
	done
}

# rmmod when the refcnt is 0. A dump starting in between holds the module and
# makes rmmod fail (that is correct): check again and retry a few times.
unload() {
	tries=0
	while :; do
		r=$(idle_refcnt)
		if [ "$r" != 0 ]; then
			echo "refcnt is $r before rmmod"
			return 1
		fi
		msg=$(rmmod dbos 2>&1) && return 0
		tries=$((tries + 1))
		if [ $tries -ge 20 ]; then
			echo "rmmod: $msg"
			return 1
		fi
	done
}

TRACEFS=/sys/kernel/tracing
PIN_EVENTS="sched/sched_process_fork sched/sched_process_exec sched/sched_process_exit task/task_rename sock/inet_sock_set_state"
# every kprobed function (kretprobes too: they probe the entry)
PIN_KPROBES="commit_creds fd_install do_dup2 pick_file do_close_on_exec __sys_bind __sys_listen __sys_connect __sys_accept4"
pinned=0

# Keep the hooked sites enabled (see the top of the file).
pin_text() {
	[ "${DBOS_TEST_PIN_TEXT:-1}" = 0 ] && return 0
	if [ ! -w "$TRACEFS/kprobe_events" ]; then
		echo "# tracefs is not mounted: not pinning the hooked sites"
		return 0
	fi
	echo 0 >"$TRACEFS/tracing_on"
	pinned=1
	for f in $PIN_KPROBES; do
		echo "p:dbos_pin/$f $f" >>"$TRACEFS/kprobe_events" || return 1
	done
	for e in $PIN_EVENTS; do
		echo 1 >"$TRACEFS/events/$e/enable" || return 1
	done
	for f in $PIN_KPROBES; do
		echo 1 >"$TRACEFS/events/dbos_pin/$f/enable" || return 1
	done
}

unpin_text() {
	[ "$pinned" = 1 ] || return 0
	for e in $PIN_EVENTS; do
		echo 0 >"$TRACEFS/events/$e/enable"
	done
	for f in $PIN_KPROBES; do
		echo 0 >"$TRACEFS/events/dbos_pin/$f/enable" 2>/dev/null
		echo "-:dbos_pin/$f" >>"$TRACEFS/kprobe_events" 2>/dev/null
	done
	echo 1 >"$TRACEFS/tracing_on"
}

# A rule dbosd enforces with BPF LSM, and a loop that keeps trying it (only with dbosd).
deny_start() {
	command -v dbos >/dev/null 2>&1 && vm-dbosd status >/dev/null 2>&1 || return 1
	printf '#!/bin/sh\nexit 0\n' >"$DENIED" && chmod 755 "$DENIED" || return 1
	dbos -c "INSERT INTO policies(name, hook, action, condition) VALUES
		 ('reload-denied', 'exec', 'deny', 'path = ''$DENIED''')" >/dev/null || return 1
	(while :; do
		if "$DENIED" 2>/dev/null; then echo x >>"$OUT/allowed"; else echo x >>"$OUT/refused"; fi
	done) &
	denier=$!
}

echo "1..$((CYCLES + 5))"
mkdir -p "$OUT"
grep -q '^dbos ' /proc/modules || insmod "$KO" || exit 1
denier=
deny_start || echo "# dbosd is not running: no LSM decisions in flight"
# Unload with live scheduling rules the storms keep hitting (task works queued).
"$T" --sched-rules || exit 1
pin_text || echo "# could not pin the hooked sites"

"$T" --storm &
storm1=$!
"$T" --storm &
storm2=$!
"$T" --files-storm &
files1=$!
(while :; do /bin/true; sh -c 'exit 3'; done) >/dev/null 2>&1 &
loop=$!
"$T" --listen >"$OUT/listener" 2>&1 &
listener=$!
"$T" --dump-loop >"$OUT/dumps" 2>&1 &
dumper=$!
sleep 0.5

start=$(cut -d. -f1 /proc/uptime)
i=1
while [ "$i" -le "$CYCLES" ]; do
	if [ $(($(cut -d. -f1 /proc/uptime) - start)) -ge "$BUDGET" ]; then
		ok "cycle $i # SKIP time budget of $BUDGET s used up"
		skipped=$((skipped + 1))
		i=$((i + 1))
		continue
	fi
	if ! msg=$(unload); then
		not_ok "cycle $i: $msg"
	elif grep -q '^dbos ' /proc/modules; then
		not_ok "cycle $i: still loaded after rmmod"
	elif ! msg=$(insmod "$KO" 2>&1); then
		not_ok "cycle $i: insmod: $msg"
	elif ! msg=$("$T" --sched-rules 2>&1); then
		not_ok "cycle $i: scheduling rules: $msg"
	else
		ok "cycle $i: rmmod + insmod"
	fi
	sleep 0.$((i % 4))	# let events and dumps flow through this instance
	i=$((i + 1))
done

kill "$storm1" "$storm2" "$files1" "$loop" $denier
wait "$storm1" "$storm2" "$files1" "$loop" $denier 2>/dev/null
if [ -z "$denier" ]; then
	ok "exec denied throughout # SKIP dbosd is not running"
elif [ ! -s "$OUT/allowed" ] && [ -s "$OUT/refused" ]; then
	ok "exec denied throughout: $(wc -l <"$OUT/refused") attempts, every one refused"
else
	not_ok "exec of a denied file: $(wc -l <"$OUT/allowed" 2>/dev/null || echo 0) allowed, $(wc -l <"$OUT/refused" 2>/dev/null || echo 0) refused"
fi
[ -n "$denier" ] && dbos -c "DELETE FROM policies WHERE name = 'reload-denied'" >/dev/null
rm -f "$DENIED"
unpin_text
sleep 0.5
kill -TERM "$listener" "$dumper"
if wait "$listener"; then
	ok "listener saw only well-formed records: $(cat "$OUT/listener")"
else
	not_ok "listener: $(cat "$OUT/listener")"
fi
done_cycles=$((CYCLES - skipped))
if grep -q ' [1-9][0-9]* records' "$OUT/listener" &&
   grep -q " $((done_cycles + 1)) joins" "$OUT/listener"; then
	ok "listener followed the module across every reload"
else
	not_ok "listener did not follow every reload: $(cat "$OUT/listener")"
fi
if wait "$dumper" && grep -q ': [1-9][0-9]* dumps' "$OUT/dumps"; then
	ok "dumps during reloads were well-formed: $(cat "$OUT/dumps")"
else
	not_ok "dumps: $(cat "$OUT/dumps")"
fi
"$T" --sched-rules off
if msg=$("$T" --stats 2>&1); then
	ok "module loaded and answering: $msg"
else
	not_ok "GET_STATS after the reloads: $msg"
fi
rm -rf "$OUT"
[ "$failed" -eq 0 ]
