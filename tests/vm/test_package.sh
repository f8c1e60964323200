#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# test_package.sh - the Debian packages installed, rebooted, upgraded, removed and purged the way a user does it, on the Debian image. Prints TAP.
#
# Runs in the Debian test image (scripts/dbos-vm --image debian --bare: no
# dbos.ko, no dbosd from the build tree) with the packages of `make deb` on
# /dbos/debs. Two boots: the first installs and checks, commits a policy and
# reboots (the overlay root keeps what it wrote); dbos-vm-run.service starts
# this script again, which finds its phase file and goes on: the module and
# dbosd back, the policy enforced, an upgrade (install again, with another
# build of dbos.ko loaded, which the restart replaces) keeping data and
# policy, a new kernel installed (DKMS builds dbos.ko for it: the image carries
# another cloud kernel's packages, not installed, in /var/cache/dbos-new-kernel),
# then remove and purge. Each step's time is printed.

STATE=/var/lib/dbos-package-test	# survives the reboot, not the VM
DENIED=/usr/local/bin/package-denied
PG_DENIED=/usr/local/bin/package-pg-denied	# a rule committed through psql
DEBS=/dbos/debs
NEW_KERNEL_DEBS=/var/cache/dbos-new-kernel	# scripts/build-debian-image.sh
n=0
failed=0
mkdir -p "$STATE"
[ -f "$STATE/n" ] && read -r n failed <"$STATE/n"

ok() { n=$((n + 1)); echo "ok $n - $*"; echo "$n $failed" >"$STATE/n"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; echo "$n $failed" >"$STATE/n"; }
check() {	# check DESCRIPTION COMMAND...: ok when COMMAND succeeds
	what=$1
	shift
	if out=$("$@" 2>&1); then ok "$what"; else not_ok "$what: $(echo "$out" | tail -n 5)"; fi
}
secs() { cut -d. -f1 /proc/uptime; }
timed() {	# timed DESCRIPTION COMMAND...: check, with the seconds it took
	what=$1
	shift
	t0=$(secs)
	if out=$("$@" 2>&1); then
		ok "$what ($(($(secs) - t0)) s)"
	else
		not_ok "$what ($(($(secs) - t0)) s): $(echo "$out" | tail -n 15)"
	fi
}

# dbosd answers and its processes are ps's (pids, while nothing starts).
answers() { dbos -c 'SELECT 1' >/dev/null; }
wait_answers() {
	i=0
	until answers; do
		i=$((i + 1))
		[ $i -ge 600 ] && return 1
		sleep 0.5
	done
}
dbos_pids() { dbos -c 'SELECT pid FROM processes ORDER BY pid' | tail -n +3; }
# The same through PostgreSQL's protocol: psql on /run/dbos/.s.PGSQL.5432 (issue 18).
psql_pids() { psql -h /run/dbos -d dbos -X -A -t -c 'SELECT pid FROM processes ORDER BY pid'; }
same_as_ps() {	# [QUERY-FUNCTION] pids below this check's own (its pipelines come and go), zombies aside (README)
	query=${1:-dbos_pids}
	i=0
	while [ $i -lt 30 ]; do
		below=$(sh -c 'echo $$')
		ps -e -o pid=,stat= | awk -v b="$below" '$1 < b && $2 !~ /^Z/ { print $1 }' | sort -n >"$STATE/ps.1"
		$query |
			awk -v b="$below" '$1 + 0 > 0 && $1 < b { print $1 }' >"$STATE/dbos"
		ps -e -o pid=,stat= | awk -v b="$below" '$1 < b && $2 !~ /^Z/ { print $1 }' | sort -n >"$STATE/ps.2"
		if cmp -s "$STATE/ps.1" "$STATE/ps.2" && cmp -s "$STATE/ps.1" "$STATE/dbos"; then
			return 0
		fi
		i=$((i + 1))
		sleep 1
	done
	echo "ps has $(wc -l <"$STATE/ps.1"), dbos $(wc -l <"$STATE/dbos"): $(diff "$STATE/ps.1" "$STATE/dbos" | grep "^[<>]" | head -n 10 | tr "\n" " ")"
	return 1
}
denied() {	# the committed rule holds: exec fails with EPERM (sh: 126)
	"$DENIED" >/dev/null 2>&1
	[ $? -eq 126 ]
}
allowed() { "$DENIED" >/dev/null 2>&1; }
pg_denied() { "$PG_DENIED" >/dev/null 2>&1; [ $? -eq 126 ]; }
pg_allowed() { "$PG_DENIED" >/dev/null 2>&1; }
pg() { psql -h /run/dbos -d dbos -X -A -t -v ON_ERROR_STOP=1 -c "$1"; }
module_loaded() { grep -q '^dbos ' /proc/modules; }
socket_mode() { [ "$(stat -c %U:%G:%a /run/dbos/dbosd.sock)" = root:dbos:660 ]; }
module_gone() { ! grep -q '^dbos ' /proc/modules; }
active() { [ "$(systemctl is-active dbosd)" = active ]; }
inactive() { ! systemctl is-active --quiet dbosd; }
no_pins() { [ ! -e /sys/fs/bpf/dbos ]; }
has_pins() { [ -d /sys/fs/bpf/dbos ]; }
policy_kept() { [ "$(one_value "SELECT count(*) FROM policies WHERE name = 'package-test'")" = 1 ]; }
new_kernel() { cat "$NEW_KERNEL_DEBS/release"; }
module_for_new_kernel() {	# DKMS built and installed dbos.ko for it
	dkms status dbos -k "$(new_kernel)" | grep -q installed &&
		modinfo -k "$(new_kernel)" -F vermagic dbos | grep -q "^$(new_kernel) "
}
no_module_left() { ! find /lib/modules -name 'dbos.ko*' | grep .; }
older_module() {	# as before an upgrade that changed dbos.ko: another build is loaded
	systemctl stop dbosd || return 1
	ko=$(modinfo -n dbos) || return 1
	case $ko in
	*.xz) xz -dc "$ko" >"$STATE/old.ko" ;;
	*.zst) zstd -dcq "$ko" >"$STATE/old.ko" ;;
	*) cp "$ko" "$STATE/old.ko" ;;
	esac || return 1
	sv=$(modinfo -F srcversion "$STATE/old.ko")
	[ -n "$sv" ] || { echo "no srcversion in $ko"; return 1; }
	case $sv in A*) fake=B${sv#?} ;; *) fake=A${sv#?} ;; esac
	perl -pi -e "s/srcversion=$sv/srcversion=$fake/" "$STATE/old.ko" &&
		rmmod dbos && insmod "$STATE/old.ko" &&
		[ "$(cat /sys/module/dbos/srcversion)" = "$fake" ]
}
installed_module() { [ "$(cat /sys/module/dbos/srcversion)" = "$(modinfo -F srcversion dbos)" ]; }
wait_attached() {
	i=0
	until [ "$(one_value "SELECT value FROM dbos_stats WHERE name = 'module_attached'")" = 1 ]; do
		i=$((i + 1))
		[ $i -ge 120 ] && return 1
		sleep 0.5
	done
}
one_value() { dbos -c "$1" 2>&1 | sed -n 3p | tr -d ' '; }	# the first row's first column
rows_kept() {	# every process_events row there was before the reboot
	kept=$(one_value "SELECT count(*) FROM process_events WHERE seq <= $(cat "$STATE/seq")")
	echo "$kept rows with seq <= $(cat "$STATE/seq"), $(cat "$STATE/events") before"
	[ "$kept" -ge "$(cat "$STATE/events")" ]
}

phase=$(cat "$STATE/phase" 2>/dev/null || echo install)
case $phase in
install)
	echo "1..36"
	printf '#!/bin/sh\nexit 0\n' >"$DENIED" && chmod 755 "$DENIED"
	cp "$DENIED" "$PG_DENIED"
	export DEBIAN_FRONTEND=noninteractive
	timed "apt install of dbos-dkms, dbos, libdbos1, dbos-fleet-sink (DKMS builds dbos.ko in the VM)" \
		apt-get install -y "$DEBS"/dbos-dkms_*.deb "$DEBS"/dbos_*.deb "$DEBS"/libdbos1_*.deb \
		"$DEBS"/dbos-fleet-sink_*.deb
	check "dkms status shows dbos installed for $(uname -r)" sh -c "dkms status dbos | grep -q 'installed'"
	check "the module is loaded" module_loaded
	check "dbos-fleet-sink runs (libpq from its package's dependencies)" sh -c "dbos-fleet-sink --help | grep -q '^usage: dbos-fleet-sink'"
	timed "systemd started dbosd and it answers" wait_answers
	check "dbosd.service is active" active
	check "processes equals ps" same_as_ps
	check "psql -h /run/dbos -d dbos: processes equals ps" same_as_ps psql_pids
	check "psql: a policy COMMIT over PostgreSQL's protocol" pg "INSERT INTO policies(name, hook, action, condition) VALUES ('package-pg', 'exec', 'deny', 'path = ''$PG_DENIED''')"
	check "... the kernel denies it" pg_denied
	check "psql: the rule deleted" pg "DELETE FROM policies WHERE name = 'package-pg'"
	check "... the file runs again" pg_allowed
	check "the dbos group exists" getent group dbos
	check "the socket is root:dbos 0660" socket_mode
	check "a policy COMMIT" dbos -c "INSERT INTO policies(name, hook, action, condition) VALUES ('package-test', 'exec', 'deny', 'path = ''$DENIED''')"
	check "the rule is enforced" denied
	one_value 'SELECT max(seq) FROM process_events' >"$STATE/seq"
	one_value "SELECT count(*) FROM process_events WHERE seq <= $(cat "$STATE/seq")" >"$STATE/events"
	echo reboot >"$STATE/phase"
	echo "# rebooting ($(secs) s since boot)"
	sync
	systemctl reboot
	sleep infinity
	;;
reboot)
	echo "# back after the reboot ($(secs) s since boot)"
	check "the module is back after the reboot" module_loaded
	timed "dbosd is back and answers" wait_answers
	check "the committed policy is still enforced" denied
	check "rows from before the reboot are kept" rows_kept
	check "processes equals ps after the reboot" same_as_ps
	export DEBIAN_FRONTEND=noninteractive
	# (dbos and libdbos1: the daemon, its unit and the store are what an
	# upgrade could lose; dbos-dkms again would only repeat DKMS's build,
	# 5-10 min under TCG)
	check "another build of dbos.ko loaded (as before an upgrade that changed it)" older_module
	timed "installing dbos and libdbos1 again (an upgrade)" \
		apt-get install -y --reinstall "$DEBS"/dbos_*.deb "$DEBS"/libdbos1_*.deb
	timed "dbosd answers after the upgrade" wait_answers
	check "dbosd.service replaced the loaded dbos.ko with the installed one" installed_module
	timed "dbosd attached to it" wait_attached
	check "the upgrade kept the policy" policy_kept
	check "... enforced" denied
	check "... and the rows" rows_kept
	check "BPF pins are there while installed" has_pins
	# (INITRD=No: no initrd for a kernel this VM never boots, a minute or
	# two under TCG; DKMS's kernel hooks run as on any kernel install)
	timed "installing another kernel, $(new_kernel), and its headers" \
		env INITRD=No apt-get install -y --no-install-recommends "$NEW_KERNEL_DEBS"/*.deb
	check "DKMS built and installed dbos.ko for $(new_kernel)" module_for_new_kernel
	timed "apt remove dbos dbos-dkms" apt-get remove -y dbos dbos-dkms
	check "remove stopped dbosd" inactive
	check "remove unloaded the module" module_gone
	check "remove took the BPF pins, and the rule with them" no_pins
	check "... so the file runs again" allowed
	check "remove kept the store" test -d /var/lib/dbos
	check "remove took dbos.ko from both kernels" no_module_left
	timed "apt purge dbos" apt-get purge -y dbos
	check "purge removed /var/lib/dbos" test ! -e /var/lib/dbos
	rm -rf "$STATE" "$DENIED" "$PG_DENIED"
	[ "$failed" -eq 0 ]
	exit
	;;
esac
