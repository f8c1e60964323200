#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# durable_guest.sh - the guest half of tests/console/test_durable.sh: checks
# that the policy version acknowledged before the last power loss is the one
# stored and enforced, then commits two more and keeps the machine busy until
# the host kills QEMU. Runs in the test VM booted with --disk.
#
# Usage: durable_guest.sh check|commit EXPECTED
#   EXPECTED  the version acknowledged before the power loss (0: a fresh disk)
#   check     prints one "ok - ..." or "not ok - ..." line per check (six
#             of them; 1 when EXPECTED is 0), exits 0
#   commit    the checks, then, the newest stored version being N (EXPECTED if
#             nothing was lost), version N+1 (the rule 'durable' only: open of
#             /tmp/durable-secret denied) and N+2 (adds 'durable-<N+2>': open of
#             /tmp/durable-<N+2> denied, so that enforcement tells the two
#             apart); prints
#             "DURABLE_ACK <version> <uptime>" the moment the second COMMIT
#             returned, then forks, execs, opens files and writes files on the
#             disk ("busy <n> <uptime>" every 4 rounds) until it is killed;
#             exits 3 if that has not happened after 120 s.
set -u

MODE=${1:?check or commit}
EXPECTED=${2:?expected version}

uptime_s() {
	read -r up _ </proc/uptime
	echo "$up"
}

# One value: the last line of the CSV answer (empty for NULL or an error, whose
# message goes to stderr, which is ttyS1 too).
value() { dbos --csv -c "$1" | tail -n 1; }

check() { # check DESCRIPTION GOT WANT
	if [ "$2" = "$3" ]; then
		echo "ok - $1"
	else
		echo "not ok - $1: got '$2', want '$3'"
	fi
}

# Opening /tmp/durable-$1 fails with EPERM (busybox cat names strerror).
denied() {
	out=$(cat "/tmp/durable-$1" 2>&1)
	case $out in *"Operation not permitted"*) return 0 ;; esac
	echo "# cat /tmp/durable-$1: $out"
	return 1
}

check_version() {
	v=$EXPECTED
	if [ "$v" = 0 ]; then
		check "a fresh disk: no policy version stored" \
			"$(value "SELECT count(*) FROM policy_versions")" 0
		return
	fi
	dmesg | grep 'EXT4-fs (vda)' | sed 's/^/# /'  # "recovery complete": an unclean stop
	check "v$v: dbosd runs on the disk (ext4 on /var/lib/dbos)" \
		"$(grep -c '^/dev/vda /var/lib/dbos ext4 ' /proc/mounts)" 1
	check "v$v: the newest stored version is the acknowledged one" \
		"$(value "SELECT max(version) FROM policy_versions")" "$v"
	check "v$v: it is the only live version" \
		"$(value "SELECT group_concat(version) FROM policy_versions WHERE live = 1")" "$v"
	check "v$v: dbos_stats.policy_version (what the kernel enforces) is it" \
		"$(value "SELECT value FROM dbos_stats WHERE name = 'policy_version'")" "$v"
	check "v$v: its rules are the live policies" \
		"$(value "SELECT group_concat(name, ' ') FROM (SELECT name FROM policies ORDER BY name)")" \
		"durable durable-$v"
	# Created by rename: an open of a denied path fails even when it creates the file.
	for f in secret "$v" open; do
		echo durable >/tmp/durable.new && mv /tmp/durable.new "/tmp/durable-$f"
	done
	if denied secret && denied "$v" && [ "$(cat /tmp/durable-open 2>&1)" = durable ] &&
		[ "$(value "SELECT value FROM dbos_stats WHERE name = 'policy_not_enforced'")" = 0 ]; then
		echo "ok - v$v: enforced after the reboot: both files EPERM, another readable, policy_not_enforced 0"
	else
		echo "not ok - v$v: enforced after the reboot: both files EPERM, another readable, policy_not_enforced 0"
	fi
}

commit_and_keep_busy() {
	# (from what is stored: after a lost COMMIT the rounds go on from there)
	base=$(value "SELECT coalesce(max(version), 0) FROM policy_versions")
	next=$((base + 2))
	if ! out=$(dbos -c "BEGIN; DELETE FROM policies;
		INSERT INTO policies(name, hook, action, condition)
		VALUES ('durable', 'open', 'deny', 'path = ''/tmp/durable-secret''');
		COMMIT;" 2>&1); then
		echo "# commit of version $((base + 1)) failed: $out"
		exit 1
	fi
	v=$(value "INSERT INTO policies(name, hook, action, condition)
		VALUES ('durable-$next', 'open', 'deny', 'path = ''/tmp/durable-$next''');
		SELECT max(version) FROM policy_versions")
	case $v in
	'' | *[!0-9]*) echo "# commit of version $next failed"; exit 1 ;;
	esac
	echo "DURABLE_ACK $v $(uptime_s)"
	# Busy: each round forks and execs cut, which opens /proc/uptime (events that
	# dbosd writes, unsynced, after the COMMIT's record), and rewrites a small file
	# on the disk.
	mkdir -p /var/lib/dbos/busy
	end=$(($(cut -d. -f1 /proc/uptime) + 120))
	n=0
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
		n=$((n + 1))
		echo "$n" >"/var/lib/dbos/busy/$((n % 16))"
		[ $((n % 4)) = 0 ] && echo "busy $n $(uptime_s)"
	done
	echo "# not killed within 120 s"
	exit 3
}

check_version
[ "$MODE" = commit ] && commit_and_keep_busy
exit 0
