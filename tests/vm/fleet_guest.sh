#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# fleet_guest.sh - one host of tests/console/test_fleet.sh, in a test VM booted with --nats (its dbosd is in the fleet). Prints what the host side checks.
#
# Usage: fleet_guest.sh HOST (the id dbosd has in the fleet, --fleet-host).
# Starts a process named fleet-HOST (a script of that name: only this host has
# it), waits until dbosd mirrors it, prints this machine's processes as ps sees
# them between FLEET_PS_BEGIN and FLEET_PS_END (the ground truth of the fleet
# query the host side runs: again every 2 s while it waits, so that the host
# side has one snapshot from before its query and one from after), then
# FLEET_READY, and waits, until a fleet member
# named stop1 is live (the host side's way of saying "done"), asking the fleet
# itself, as a coordinator inside the fleet, every 3 s (10 minutes at most).
# Meanwhile, once the fleet's rule deny-probe is among this host's policies
# (fleet:deny-probe: committed by the host side for the whole fleet), it runs
# /tmp/fleet-probe and prints FLEET_PROBE HOST rc=N (126: exec refused with EPERM),
# as it does once before (FLEET_PROBE_BEFORE).
host=$1
nats=nats://10.0.2.100:4222
marker=/tmp/fleet-$host
printf '#!/bin/sh\nwhile :; do sleep 1000; done\n' >"$marker"
chmod 755 "$marker"
"$marker" &
i=0
until [ "$(dbos --csv -c "SELECT count(*) FROM processes WHERE name = 'fleet-$host'" | tail -n 1)" = 1 ]; do
	i=$((i + 1))
	[ $i -ge 300 ] && { echo "FLEET_FAIL fleet-$host never mirrored"; exit 1; }
	sleep 0.1
done
snapshot() {	# this machine's processes as ps sees them
	echo FLEET_PS_BEGIN
	ps -o pid,ppid,comm | tail -n +2
	echo FLEET_PS_END
}
sleep 1	# the shell's own children of the loop above are gone and mirrored
snapshot
probe=/tmp/fleet-probe
printf '#!/bin/sh\nexit 0\n' >"$probe"
chmod 755 "$probe"
"$probe" 2>/dev/null
echo "FLEET_PROBE_BEFORE $host rc=$?"
echo "FLEET_READY $host"
i=0
probed=
until [ $((i % 3)) = 0 ] &&
	dbos --fleet $nats --csv -c "SELECT host FROM fleet_hosts WHERE host = 'stop1' AND live" 2>/dev/null |
	grep -q '^stop1$'; do
	i=$((i + 1))
	[ $i -ge 600 ] && { echo "FLEET_FAIL never told to stop"; exit 1; }
	[ $((i % 2)) = 0 ] && snapshot
	if [ -z "$probed" ] &&
	   [ "$(dbos --csv -c "SELECT count(*) FROM policies WHERE name = 'fleet:deny-probe'" | tail -n 1)" = 1 ]; then
		"$probe" 2>/dev/null
		echo "FLEET_PROBE $host rc=$?"
		probed=1
	fi
	sleep 1
done
echo "FLEET_DONE $host"
