#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# test_fleet.sh - three test VMs, each with dbos.ko and a dbosd in the fleet, and a real nats-server with JetStream on this machine, queried as one database with `dbos --fleet`. Prints TAP.
#
# The VMs (Debian's kernel, scripts/dbos-vm --nats: a network card whose only
# way out is this machine's nats-server, on 127.0.0.1 and a random port) run
# tests/vm/fleet_guest.sh: each starts a process only it has (fleet-vmN),
# prints its processes as ps sees them (again every 2 s), and says FLEET_READY. Then, from here:
# a fleet query's rows of each host are exactly that host's processes, with
# its host; aggregates across hosts and a label target agree; one VM's QEMU
# is killed (SIGKILL) and the next query reports it missing while the others
# answer whole. Fleet policy: one INSERT into fleet_policies from here (a
# rule denying exec of /tmp/fleet-probe) returns when every VM enforces it:
# exec fails with EPERM on each, fleet_policy_status says version 1 live for
# each; a fourth VM booted afterwards catches up (EPERM there too). A
# simulated member named stop1 (build/tests/fleet_sim) tells the VMs left
# to finish: they must power off cleanly (dbos-vm exit 0: no kernel
# problem, clean unload). Meanwhile dbos-fleet-sink copies the VMs' history
# from the stream into a PostgreSQL 15 on this machine: each VM's
# process_events there equal the VM's own (count and sums up to its max seq),
# also after PostgreSQL was stopped for a minute while the VMs went on.
#
# Debian's kernel only: the debug kernel has no network card driver
# (kernel/debug.config). Usage: tests/console/test_fleet.sh (from anywhere)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

DIR=build/test-logs/test_fleet
DBOS=build/bin/dbos
# (the hosts are TCG VMs on a machine that may run other suites' VMs: a query
# that takes 100 ms on a quiet machine can take seconds)
readonly WAIT_MS=15000
SIM=build/tests/fleet_sim
readonly VMS=(vm1 vm2 vm3)
readonly LABELS=(web web db)
readonly READY_WAIT=420	# s for all three to boot and say FLEET_READY (TCG, loaded host)

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() {	# check DESCRIPTION PROBLEM: ok when PROBLEM is empty
	if [[ -z $2 ]]; then ok "$1"; else not_ok "$1"; echo "$2" | head -20 | sed 's/^/#   /'; fi
}

NATS_PID=
SIM_PID=
SINK_PID=
PG_STARTED=
PGDIR=
declare -A VM_PID=()
cleanup() {
	local pid
	for pid in "${VM_PID[@]}" $SIM_PID $SINK_PID; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${VM_PID[@]}"; do wait "$pid" 2>/dev/null; done
	[[ -n $NATS_PID ]] && kill -TERM "$NATS_PID" 2>/dev/null
	[[ -n $PG_STARTED ]] && (cd / && runuser -u postgres -- "$PG/pg_ctl" -D "$PGDIR/data" stop -m immediate >/dev/null 2>&1)
	if [[ -n $PGDIR ]]; then
		cp "$PGDIR/initdb.log" "$DIR/pg-initdb.log" 2>/dev/null
		cp "$PGDIR/log" "$DIR/pg.log" 2>/dev/null
		rm -rf "$PGDIR"
	fi
	wait 2>/dev/null
	return 0
}
trap cleanup EXIT

echo "1..17"
for f in "$DBOS" "$SIM" build/bin/dbos-fleet-sink build/tests/vm/fleet_guest.sh; do
	[[ -x $f ]] || { echo "# $f is missing (make all)"; exit 1; }
done
command -v nats-server >/dev/null || { echo "# nats-server is missing (scripts/deps.sh)"; exit 1; }
rm -rf "$DIR"
mkdir -p "$DIR"
start=$SECONDS

# nats-server with JetStream, on a random port of 127.0.0.1 only
nats-server -js -a 127.0.0.1 -p -1 -sd "$DIR/js" -l "$DIR/nats.log" &
NATS_PID=$!
port=
for ((i = 0; i < 200; i++)); do
	grep -q 'Server is ready' "$DIR/nats.log" 2>/dev/null &&
		port=$(sed -n 's/.*Listening for client connections on 127.0.0.1:\([0-9]*\).*/\1/p' "$DIR/nats.log")
	[[ -n $port ]] && break
	sleep 0.05
done
[[ -n $port ]] || { echo "# nats-server did not start (see $DIR/nats.log)"; exit 1; }
URL=nats://127.0.0.1:$port

# PostgreSQL 15 on a socket in $DIR/pg (no TCP), and the sink copying the fleet's history there
PG=/usr/lib/postgresql/15/bin
PG_PORT=$((40000 + $$ % 20000))
# (PostgreSQL runs as user postgres, from /, which may not get into this
# clone, e.g. under /root: its directory is a new one in /tmp; its logs are
# copied to $DIR/pg-initdb.log and $DIR/pg.log at the end)
PGDIR=$(mktemp -d /tmp/dbos-test-fleet-pg.XXXXXX) || { echo "# mktemp failed"; exit 1; }
chown postgres: "$PGDIR" && chmod 755 "$PGDIR" || { echo "# no user postgres (scripts/deps.sh)"; exit 1; }
(cd / && runuser -u postgres -- "$PG/initdb" -A trust -D "$PGDIR/data" >"$PGDIR/initdb.log" 2>&1 &&
	runuser -u postgres -- "$PG/pg_ctl" -w -t 60 -D "$PGDIR/data" -l "$PGDIR/log" \
		-o "-p $PG_PORT -k $PGDIR -c listen_addresses=''" start >/dev/null) ||
	{ echo "# PostgreSQL did not start: $(tail -3 "$PGDIR/initdb.log" "$PGDIR/log" 2>&1 | tr '\n' ' ')"; exit 1; }
PG_STARTED=1
pg() { psql -X -A -t -h "$PGDIR" -p "$PG_PORT" -U postgres -d postgres -c "$1" 2>&1; }
build/bin/dbos-fleet-sink --fleet "$URL" --pg "host=$PGDIR port=$PG_PORT user=postgres dbname=postgres" \
	>"$DIR/sink.log" 2>&1 &
SINK_PID=$!

boot() {	# boot VM LABELS
	DBOSD_ARGS="--fleet nats://10.0.2.100:4222 --fleet-host $1 --fleet-labels $2" \
	DBOS_VM_QEMU_ARGS="-pidfile $DIR/$1.qemu.pid" \
		scripts/dbos-vm --nats "$port" --timeout 900 --log "$DIR/$1.serial.log" \
		"/dbos/tests/fleet_guest.sh $1" >"$DIR/$1.out" 2>&1 &
	VM_PID[$1]=$!
}
for i in "${!VMS[@]}"; do boot "${VMS[i]}" "${LABELS[i]}"; done

# every VM ready (or one failed)
for ((t = 0; t < READY_WAIT * 2; t++)); do
	ready=0
	for vm in "${VMS[@]}"; do grep -q "^FLEET_READY $vm" "$DIR/$vm.out" && ready=$((ready + 1)); done
	((ready == ${#VMS[@]})) && break
	for vm in "${VMS[@]}"; do kill -0 "${VM_PID[$vm]}" 2>/dev/null || break 2; done
	sleep 0.5
done
problem=
for vm in "${VMS[@]}"; do
	grep -q "^FLEET_READY $vm" "$DIR/$vm.out" ||
		problem+="$vm not ready: $(grep -E 'FLEET_FAIL|dbos-vm:' "$DIR/$vm.out" | tail -3)"$'\n'
done
check "three VMs booted with dbosd in the fleet (in $((SECONDS - start)) s)" "$problem"
[[ -z $problem ]] || exit 1

# ps snapshot $2 (1-based) of VM $1 as "pid name" lines ("pid" alone for a
# kernel thread: ps shows a kworker's current work queue in its name); without
# kworkers, which come and go, and without ps and tail, which printed it
ground_truth() {
	awk -v k="$2" '/^FLEET_PS_BEGIN/ { s++; next } /^FLEET_PS_END/ { next } s == k' "$DIR/$1.out" |
		awk '$3 ~ /^kworker/ || $3 == "ps" || $3 == "tail" { next }
		     { print ($1 == 2 || $2 == 2) ? $1 : $1 " " $3 }' | sort
}
snapshots() { grep -c "^FLEET_PS_$2" "$DIR/$1.out"; }	# VM BEGIN|END: how many
# the fleet's rows of VM $1, in the same form (kernel threads by their parent 2)
fleet_rows() {
	awk -F, -v h="$1" '$1 == h && $3 !~ /^kworker/ { print ($2 == 2 || $4 == 2) ? $2 : $2 " " $3 }' \
		"$DIR/processes.csv" | sort
}

# 1: every host's rows are its processes, under its host. The ground truth is
# two ps snapshots each VM printed, the last one before the query and the first
# one begun after it: a process in both lived throughout the query and must be
# in its rows; a row must be a process of one of them (or the guest's own
# waiting, its fleet_guest.sh loop and its subshells: sh, dbos, sleep, grep,
# tail, ps). A host slower than --fleet-timeout (a loaded machine) is asked again.
declare -A before=() after=()
for vm in "${VMS[@]}"; do before[$vm]=$(snapshots "$vm" END); done
problem=
for try in 1 2 3; do
	$DBOS --fleet "$URL" --fleet-timeout $WAIT_MS --csv -c "SELECT host, pid, name, parent FROM processes ORDER BY host, pid" \
		>"$DIR/processes.csv" 2>"$DIR/processes.err"
	status=$?
	[[ $status == 3 ]] || break
	echo "# try $try: a host was slower than $WAIT_MS ms: $(head -3 "$DIR/processes.err" | tr '\n' ' ')"
done
[[ $status == 0 ]] || problem="dbos --fleet exit $status: $(cat "$DIR/processes.err")"
for vm in "${VMS[@]}"; do after[$vm]=$(($(snapshots "$vm" BEGIN) + 1)); done
for vm in "${VMS[@]}"; do
	for ((t = 0; t < 120 && $(snapshots "$vm" END) < after[$vm]; t++)); do sleep 0.5; done
	got=$(fleet_rows "$vm")
	both=$(comm -12 <(ground_truth "$vm" "${before[$vm]}") <(ground_truth "$vm" "${after[$vm]}"))
	either=$(sort -u <(ground_truth "$vm" "${before[$vm]}") <(ground_truth "$vm" "${after[$vm]}"))
	missing=$(comm -23 <(echo "$both") <(echo "$got"))
	extra=$(comm -13 <(echo "$either") <(echo "$got") |
		awk 'NF == 2 && $2 !~ /^(sh|dbos|sleep|grep|tail|ps|fleet_guest.sh)$/')
	[[ -z $missing ]] || problem+="$vm: in ps before and after, not in the fleet's rows: $missing"$'\n'
	[[ -z $extra ]] || problem+="$vm: in the fleet's rows, in neither ps: $extra"$'\n'
	[[ $(echo "$both" | wc -l) -gt 3 ]] ||
		problem+="$vm: no ps snapshots ${before[$vm]} and ${after[$vm]} (ps printed nothing?)"$'\n'
done
check "a fleet query returns each VM's processes (its ps) under its host" "$problem"

# 2: each marker process on its own host only
got=$($DBOS --fleet "$URL" --fleet-timeout $WAIT_MS --csv -c "SELECT host, name FROM processes WHERE name LIKE 'fleet-vm%' ORDER BY host" 2>&1)
check "fleet-vmN runs on vmN and nowhere else" \
	"$([[ $got == $'host,name\nvm1,fleet-vm1\nvm2,fleet-vm2\nvm3,fleet-vm3' ]] || echo "$got")"

# 3: an aggregate across hosts agrees with the rows
got=$($DBOS --fleet "$URL" --fleet-timeout $WAIT_MS --csv -c "SELECT host, count(*) FROM processes WHERE name LIKE 'fleet-vm%' OR pid = 1 GROUP BY host ORDER BY host" 2>&1)
check "count(*) ... GROUP BY host over the fleet" \
	"$([[ $got == $'host,count(*)\nvm1,2\nvm2,2\nvm3,2' ]] || echo "$got")"

# 4: a label
got=$($DBOS --fleet "$URL" --fleet-timeout $WAIT_MS --target label:web --csv -c "SELECT DISTINCT host FROM processes ORDER BY host" 2>&1)
check "--target label:web asks vm1 and vm2 only" "$([[ $got == $'host\nvm1\nvm2' ]] || echo "$got")"

# 5: fleet_hosts
got=$($DBOS --fleet "$URL" --csv -c "SELECT host, labels, live FROM fleet_hosts WHERE host LIKE 'vm%' ORDER BY host" 2>&1)
check "fleet_hosts lists the three with their labels, live" \
	"$([[ $got == $'host,labels,live\nvm1,web,1\nvm2,web,1\nvm3,db,1' ]] || echo "$got")"

# 6: fleet policy: one INSERT, enforced on every VM when it returns
t0=${EPOCHREALTIME/./}
$DBOS --fleet "$URL" --fleet-timeout $WAIT_MS -c "INSERT INTO fleet_policies(name, hook, action, condition) VALUES ('deny-probe', 'exec', 'deny', 'path GLOB ''/tmp/fleet-probe*''')" \
	>"$DIR/commit.out" 2>"$DIR/commit.err"
status=$?
commit_ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
problem=
[[ $status == 0 ]] || problem="exit $status: $(cat "$DIR/commit.err")"
grep -q "fleet policy version 1: enforced by 3 of 3 live hosts" "$DIR/commit.err" ||
	problem+="$(cat "$DIR/commit.err")"
check "a fleet policy COMMIT returns when all three VMs enforce it (${commit_ms} ms)" "$problem"

# 7: EPERM on each (and not before the rule)
problem=
for vm in "${VMS[@]}"; do
	grep -q "^FLEET_PROBE_BEFORE $vm rc=0" "$DIR/$vm.out" ||
		problem+="$vm: the probe did not run before the rule: $(grep FLEET_PROBE_BEFORE "$DIR/$vm.out")"$'\n'
	for ((t = 0; t < 60; t++)); do grep -q "^FLEET_PROBE $vm " "$DIR/$vm.out" && break; sleep 0.5; done
	grep -q "^FLEET_PROBE $vm rc=126" "$DIR/$vm.out" ||
		problem+="$vm: $(grep "^FLEET_PROBE " "$DIR/$vm.out" || echo "no probe")"$'\n'
done
check "exec of the denied file fails with EPERM on each of the three VMs" "$problem"

# 8: fleet_policy_status and each host's own policy_versions
got=$($DBOS --fleet "$URL" --fleet-timeout $WAIT_MS --csv -c "SELECT host, version, live, error FROM fleet_policy_status WHERE host LIKE 'vm%' ORDER BY host" 2>&1)
check "fleet_policy_status: version 1, live, on each" \
	"$([[ $got == $'host,version,live,error\nvm1,1,1,\nvm2,1,1,\nvm3,1,1,' ]] || echo "$got")"
got=$($DBOS --fleet "$URL" --fleet-timeout $WAIT_MS --csv -c "SELECT host, action, from_version, uid FROM policy_versions WHERE live ORDER BY host" 2>&1)
check "on each host, the live policy version is the fleet's (action fleet, from fleet version 1, by root)" \
	"$([[ $got == $'host,action,from_version,uid\nvm1,fleet,1,0\nvm2,fleet,1,0\nvm3,fleet,1,0' ]] || echo "$got")"

# 10: a VM booted now catches up
start4=$SECONDS
boot vm4 db
for ((t = 0; t < READY_WAIT * 2; t++)); do
	grep -q "^FLEET_PROBE vm4 " "$DIR/vm4.out" && break
	kill -0 "${VM_PID[vm4]}" 2>/dev/null || break
	sleep 0.5
done
check "vm4, booted after the commit, enforces it too: EPERM (in $((SECONDS - start4)) s)" \
	"$(grep -q '^FLEET_PROBE vm4 rc=126' "$DIR/vm4.out" || { grep -E 'FLEET_|dbos-vm:' "$DIR/vm4.out" | tail -5; echo "no EPERM on vm4"; })"

# each VM's process_events in PostgreSQL equal the VM's own, up to its
# max(seq) now (count, sums); prints what differs
history_differs() {
	local bounds line vm max want got
	bounds=$($DBOS --fleet "$URL" --fleet-timeout $WAIT_MS --csv -c "SELECT host, max(seq) FROM process_events WHERE host LIKE 'vm%' GROUP BY host ORDER BY host" 2>&1 | tail -n +2)
	[[ $(echo "$bounds" | wc -l) == "$1" ]] || echo "max(seq) per host: $bounds"
	for line in $bounds; do
		vm=${line%%,*}
		max=${line#*,}
		for ((t = 0; t < 120; t++)); do
			[[ $(pg "SELECT count(*) FROM process_events WHERE host = '$vm' AND seq = $max") == 1 ]] && break
			sleep 0.5
		done
		want=$($DBOS --fleet "$URL" --fleet-timeout $WAIT_MS --csv -c "SELECT count(*), sum(pid), sum(length(coalesce(cmdline, ''))), count(DISTINCT event) FROM process_events WHERE host = '$vm' AND seq <= $max" 2>&1 | tail -n 1)
		got=$(pg "SELECT count(*) || ',' || sum(pid) || ',' || sum(length(coalesce(cmdline, ''))) || ',' || count(DISTINCT event) FROM process_events WHERE host = '$vm' AND seq <= $max")
		[[ -n $want && $want == "$got" ]] || echo "$vm (seq <= $max): the VM has $want, PostgreSQL $got"
	done
}

# 12: each VM's history in PostgreSQL (dbos-fleet-sink), exactly the rows the VM has
check "each VM's process_events reached PostgreSQL through the stream, row for row" "$(history_differs 4)"

# 13: PostgreSQL stopped for a minute while the VMs go on (their guest loops
# run processes every second): afterwards nothing is missing, nothing twice
before=$(pg "SELECT count(*) FROM process_events")
(cd / && runuser -u postgres -- "$PG/pg_ctl" -D "$PGDIR/data" stop -m fast >/dev/null)
sleep 60
during=$($DBOS --fleet "$URL" --fleet-timeout $WAIT_MS --csv -c "SELECT count(*) FROM process_events WHERE host LIKE 'vm%'" 2>&1 | tail -n 1)
(cd / && runuser -u postgres -- "$PG/pg_ctl" -w -t 60 -D "$PGDIR/data" -l "$PGDIR/log" \
	-o "-p $PG_PORT -k $PGDIR -c listen_addresses=''" start >/dev/null)
problem=$(history_differs 4)
[[ $during -gt $before ]] || problem+=$'\n'"no new rows while PostgreSQL was down ($before before, $during on the VMs)"
grep -q "the stream keeps the rows" "$DIR/sink.log" && grep -q "PostgreSQL is back" "$DIR/sink.log" ||
	problem+=$'\n'"the sink did not see PostgreSQL go and come back: $(cat "$DIR/sink.log")"
[[ $(pg "SELECT count(*) - count(DISTINCT (host, seq)) FROM process_events") == 0 ]] ||
	problem+=$'\n'"duplicates in PostgreSQL"
check "PostgreSQL stopped for a minute: afterwards every VM's rows are there, once (VMs had $during rows, PostgreSQL $before before)" "$problem"

# (latency, not a pass/fail figure: make bench has it)
t0=${EPOCHREALTIME/./}
for ((i = 0; i < 10; i++)); do $DBOS --fleet "$URL" --fleet-timeout $WAIT_MS -c "SELECT count(*) FROM processes WHERE pid = 1" >/dev/null 2>&1; done
echo "# a one-row fleet query over three TCG VMs, connect included: $(((${EPOCHREALTIME/./} - t0) / 10000)) ms on average"

# 14: a host killed: reported missing, the others whole
pid=$(cat "$DIR/vm3.qemu.pid" 2>/dev/null)
[[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == qemu-system-* ]] && kill -KILL "$pid"
got=$($DBOS --fleet "$URL" --fleet-timeout $WAIT_MS --csv -c "SELECT host, count(*) > 3 FROM processes GROUP BY host ORDER BY host" 2>"$DIR/missing.err")
status=$?
problem=
[[ $status == 3 ]] || problem+="exit $status, not 3"$'\n'
[[ $got == $'host,count(*) > 3\nvm1,1\nvm2,1\nvm4,1' ]] || problem+="rows: $got"$'\n'
grep -q "dbos: fleet: host vm3: no answer within $WAIT_MS ms" "$DIR/missing.err" ||
	problem+="stderr: $(cat "$DIR/missing.err")"
check "vm3's QEMU killed: vm3 reported missing (exit 3), vm1, vm2 and vm4 whole" "$problem"
wait "${VM_PID[vm3]}" 2>/dev/null
unset 'VM_PID[vm3]'

# 15: writes refused over the fleet
$DBOS --fleet "$URL" -c "DELETE FROM processes" >/dev/null 2>"$DIR/write.err"
status=$?
check "a fleet statement that writes is refused (exit 1)" \
	"$([[ $status == 1 ]] || echo "exit $status: $(cat "$DIR/write.err")")"

# 16, 17: the stop signal; vm1, vm2 and vm4 finish and power off cleanly
"$SIM" --url "$URL" --hosts 1 --prefix stop --heartbeat-ms 500 >"$DIR/stop.log" 2>&1 &
SIM_PID=$!
problem=
for vm in vm1 vm2 vm4; do
	wait "${VM_PID[$vm]}"
	status=$?
	unset "VM_PID[$vm]"
	grep -q "^FLEET_DONE $vm" "$DIR/$vm.out" || problem+="$vm: no FLEET_DONE"$'\n'
	[[ $status == 0 ]] || problem+="$vm: dbos-vm exit $status: $(grep 'dbos-vm:' "$DIR/$vm.out" | tail -3)"$'\n'
done
check "vm1, vm2 and vm4 saw the stop1 member through the fleet (a coordinator inside a VM)" \
	"$(grep -L '^FLEET_DONE' "$DIR/vm1.out" "$DIR/vm2.out" "$DIR/vm4.out")"
check "vm1, vm2 and vm4 power off cleanly (dbos-vm exit 0: no kernel problem, clean unload)" "$problem"
echo "# $((SECONDS - start)) s; logs in $DIR"
exit $((failed > 0))
