#!/bin/sh
# /dbos/run in the Debian image (scripts/dbos-vm --image debian): dbos.ko and dbosd as in the busybox VM, the command, the report on ttyS1, power off.
#
# Started by dbos-vm-run.service (scripts/build-debian-image.sh) once systemd
# reached multi-user.target, with the per-run disk mounted read-only on /dbos.
# It speaks the busybox VM's protocol (scripts/vm-init.sh, whose functions it
# sources): the command's output on ttyS1, then the exit marker and the report.
# The root file system is a throwaway overlay of the cached image: what the
# tests expect in /usr/bin (dbosd, dbos, vm-dbosd) is copied there.
set -u

# shellcheck source=scripts/vm-init.sh
DBOS_VM_LIB=1 . /dbos/vm-init.sh

main_debian() {
	# shellcheck disable=SC2034  # (write_report's)
	BOOT_DMESG_LINES=$(dmesg -r | wc -l)
	stty -F "$OUT" raw -echo
	mkdir -p /run/dbos /var/lib/dbos /home/dbos-test
	chown 1000:1000 /home/dbos-test
	# The build tree's programs, unless the packages are what is tested (--bare).
	if [ "$DBOS_VM_BARE" != 1 ]; then
		for f in /dbos/bin/* /dbos/vm-dbosd; do
			[ -e "$f" ] && install -m 755 "$f" "/usr/bin/$(basename "$f")"
		done
	fi
	status=none
	if load_module && start_server; then
		if [ "$DBOS_VM_MODE" = interactive ]; then
			log "ready: root shell on the console (poweroff ends the VM)"
			return 0
		fi
		run_command
		status=$?
	fi
	if vm-dbosd status >/dev/null; then
		msg=$(vm-dbosd stop 2>&1) || note "$msg"
	fi
	unload_module
	{ echo; write_report "$status"; } >"$OUT"
	log "tainted=$(cat /proc/sys/kernel/tainted), powering off"
	sync
	systemctl poweroff --force --force
}

main_debian
