#!/bin/sh
# /init of the dbos test VM: mount, insmod dbos.ko, start dbosd, run the command or shell, check unload/taint, power off.
#
# Talks to scripts/dbos-vm through two serial ports:
#   ttyS0 (console)  kernel messages and the "dbos-vm:" progress lines below
#   ttyS1 (raw)      the command's stdout+stderr, then one line
#                    "DBOS_VM_EXIT=<status|none> <nonce>", then key=value lines:
#                    fail=<reason>, note=<text>, tainted=<n>, a dmesg dump and the
#                    dbosd log between begin/end lines, and finally "done".
# Not "set -e": this is PID 1, and if it exits the kernel panics; failures are
# reported on ttyS1 and the VM always powers off at the end.
set -u

export PATH=/usr/bin:/bin:/usr/sbin:/sbin:/dbos/tests
export HOME=/root LOGNAME=root USER=root TERM=dumb
export DBOS_VM=1
export DBOS_SOCKET=/run/dbos/dbosd.sock
export DBOS_DB_DIR=/var/lib/dbos
export DBOSD_LOG=/tmp/dbosd.log
export DBOS_MODULE=/dbos/dbos.ko
export DBOS_TESTS_DIR=/dbos/tests

OUT=/dev/ttyS1
DBOS_VM_MODE=command DBOS_VM_BARE=0 DBOS_VM_NONCE=0 DBOS_VM_DISK=0 DBOS_VM_NET=0 DBOS_VM_MODULE_ARGS=
DBOS_VM_TERM=linux DBOS_VM_ROWS='' DBOS_VM_COLS=''
# shellcheck source=/dev/null
[ -r /dbos/vm.conf ] && . /dbos/vm.conf  # written by scripts/dbos-vm
export DBOS_VM_BARE

FAILURES=""
NOTES=""

log() {
	read -r uptime _ </proc/uptime
	echo "dbos-vm: [$uptime] $*"
}
fail() { log "FAIL: $*"; FAILURES="$FAILURES$*
"; }
note() { log "$*"; NOTES="$NOTES$*
"; }

mount_filesystems() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev 2>/dev/null  # may already be mounted
	mkdir -p /dev/pts /dev/shm
	mount -t devpts -o mode=620,ptmxmode=666 devpts /dev/pts
	mount -t tmpfs -o mode=1777 tmpfs /dev/shm
	mount -t tmpfs -o mode=1777 tmpfs /tmp
	mount -t tmpfs -o mode=755 tmpfs /run
	ln -sf /proc/self/fd /dev/fd
	ln -sf /proc/self/fd/0 /dev/stdin
	ln -sf /proc/self/fd/1 /dev/stdout
	ln -sf /proc/self/fd/2 /dev/stderr
	# Optional ones: ignore failures (a kernel may lack them).
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
	mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
	mount -t bpf bpf /sys/fs/bpf 2>/dev/null
	mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
	return 0
}

# ss(8) needs sock_diag; Debian's kernel has it as modules, which mkinitramfs.sh packs
# into /lib/modules/RELEASE/dbos-diag/ (in dependency order below). Kernels that
# build it in (the debug kernel) have no such directory.
load_sock_diag() {
	dir=/lib/modules/$(uname -r)/dbos-diag
	[ -d "$dir" ] || return 0
	for m in inet_diag tcp_diag udp_diag unix_diag; do
		grep -q "^$m " /proc/modules && continue
		msg=$(insmod "$dir/$m.ko" 2>&1) || fail "insmod $m.ko (for ss) failed: $msg"
	done
}

# dbos-vm --disk: the host's disk image is the virtio disk /dev/vda; it holds
# /var/lib/dbos (ext4, formatted here the first time: a disk that is all zeros at
# its start), so the store survives the VM. The modules come from
# mkinitramfs.sh (dbos-disk/, numbered in load order) on kernels that build
# them as modules.
# insmod_staged DIR WHY: the modules mkinitramfs.sh numbered in DIR, in order.
insmod_staged() {
	for m in "/lib/modules/$(uname -r)/$1"/*.ko; do
		[ -e "$m" ] || continue
		name=${m##*/}
		name=${name#*-}
		grep -q "^${name%.ko} " /proc/modules && continue
		if ! msg=$(insmod "$m" 2>&1); then
			fail "insmod ${m##*/} (for $2) failed: $msg"
			return 1
		fi
	done
}

# wait_device TEST PATH WHY: until [ TEST PATH ] (10 s at most; else fail WHY).
wait_device() {
	tries=0
	until [ "$1" "$2" ]; do
		tries=$((tries + 1))
		if [ $tries -gt 100 ]; then
			fail "$3"
			return 1
		fi
		sleep 0.1
	done
}

# dbos-vm --nats: the virtio network card, 10.0.2.15/24 on QEMU's restricted user
# network, where 10.0.2.100:4222 is the host's NATS server.
attach_net() {
	[ "$DBOS_VM_NET" = 1 ] || return 0
	insmod_staged dbos-net --nats || return 1
	wait_device -e /sys/class/net/eth0 "--nats: no eth0 after 10 s (does this kernel have virtio_net?)" ||
		return 1
	ip link set lo up && ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up &&
		ip route add default via 10.0.2.2 || { fail "--nats: cannot configure eth0"; return 1; }
	log "eth0 up (10.0.2.15; NATS on 10.0.2.100:4222)"
}

attach_disk() {
	[ "$DBOS_VM_DISK" = 1 ] || return 0
	insmod_staged dbos-disk --disk || return 1
	dev=/dev/vda
	wait_device -b $dev "--disk: no $dev after 10 s (does this kernel have virtio_blk?)" || return 1
	magic=$(dd if=$dev bs=1 skip=1080 count=2 2>/dev/null | od -An -tx1 | tr -d ' ')
	if [ "$magic" != 53ef ]; then
		if [ "$(head -c 65536 $dev | tr -d '\000' | wc -c)" != 0 ]; then
			fail "--disk: $dev holds neither an ext4 file system nor zeros; not formatting it"
			return 1
		fi
		if ! msg=$(/usr/sbin/mke2fs -q -F -t ext4 -L dbos $dev 2>&1); then
			fail "--disk: mke2fs -t ext4 $dev failed: $msg"
			return 1
		fi
		log "formatted $dev (ext4)"
	fi
	if ! msg=$(mount -t ext4 $dev /var/lib/dbos 2>&1); then
		fail "--disk: mount -t ext4 $dev /var/lib/dbos failed: $msg"
		return 1
	fi
	log "mounted $dev (ext4) on /var/lib/dbos"
}

# Unmount the disk once dbosd is stopped: a clean power-off leaves a clean file system.
detach_disk() {
	grep -q '^/dev/vda /var/lib/dbos ' /proc/mounts || return 0
	msg=$(umount /var/lib/dbos 2>&1) || fail "--disk: umount /var/lib/dbos failed: $msg"
}

setup_system() {
	dmesg -n 5  # warnings (WARN_ON, lockdep, ...) reach the console log as they happen
	hostname dbos-vm
	ip link set lo up
	load_sock_diag
	mkdir -p /run/dbos /var/lib/dbos /home/dbos-test
	chown 1000:1000 /home/dbos-test
	stty -F "$OUT" raw -echo  # byte-exact output: no \r added, no echo
}

load_module() {
	[ "$DBOS_VM_BARE" = 1 ] && return 0
	if [ ! -e "$DBOS_MODULE" ]; then
		fail "$DBOS_MODULE is missing from the initramfs (build kmod/dbos.ko)"
		return 1
	fi
	# shellcheck disable=SC2086  # module arguments are words
	if ! msg=$(insmod "$DBOS_MODULE" $DBOS_VM_MODULE_ARGS 2>&1); then
		fail "insmod $DBOS_MODULE failed: $msg"
		return 1
	fi
	log "loaded dbos.ko"
}

start_server() {
	[ "$DBOS_VM_BARE" = 1 ] && return 0
	if [ ! -x /usr/bin/dbosd ]; then
		note "notice: /usr/bin/dbosd not built yet; running without the server"
		return 0
	fi
	# (180 s: under KASAN on a loaded host, opening the store alone can take > 10 s,
	# and the verifier takes ~35 s over the 13 BPF LSM programs)
	if ! msg=$(DBOSD_START_WAIT=${DBOSD_START_WAIT:-180} vm-dbosd start 2>&1); then
		fail "dbosd did not start: $(echo "$msg" | tail -n 20)"
		return 1
	fi
	log "dbosd is up ($DBOS_SOCKET)"
}

run_command() {
	cd /dbos/tests || cd /
	sh -c "$(cat /dbos/vm-command)" </dev/null >"$OUT" 2>&1
}

run_interactive_shell() {
	shell='sh'
	[ -x /usr/bin/dbos ] && shell=dbos
	# The host terminal's TERM, if the image has its terminfo (ncurses-base's set,
	# see mkinitramfs.sh); else xterm's, which terminal emulators understand.
	TERM=$DBOS_VM_TERM
	[ -n "$TERM" ] && [ -e "/usr/share/terminfo/${TERM%"${TERM#?}"}/$TERM" ] || TERM=xterm
	export TERM
	[ -n "$DBOS_VM_ROWS" ] && stty -F /dev/ttyS0 rows "$DBOS_VM_ROWS" cols "$DBOS_VM_COLS" 2>/dev/null
	cd /root || cd /
	echo
	echo "=================================================================="
	echo " dbos test VM: $(if [ $shell = dbos ]; then echo "SQL shell 'dbos'"; else echo "busybox sh (no /usr/bin/dbos)"; fi)"
	echo " Quit: .quit or Ctrl-D (powers the VM off).  Stuck? Ctrl-] then x kills QEMU."
	echo "=================================================================="
	setsid cttyhack sh -c "$shell"
}

# After the command: stop the server, kill what the command left behind.
stop_everything() {
	if vm-dbosd status >/dev/null; then
		msg=$(vm-dbosd stop 2>&1) || note "$msg"
	fi
	# kill -1: every process but init (fails when there is none left)
	if kill -TERM -1 2>/dev/null; then
		sleep 0.1
		kill -KILL -1 2>/dev/null
	fi
	return 0
}

unload_module() {
	grep -q '^dbos ' /proc/modules || return 0
	if ! msg=$(rmmod dbos 2>&1); then
		fail "rmmod dbos failed: $msg"
	elif grep -q '^dbos ' /proc/modules; then
		fail "dbos is still in /proc/modules after rmmod"
	else
		log "unloaded dbos.ko"
	fi
}

# Debug kernel only (CONFIG_DEBUG_KMEMLEAK, no automatic scans). kmemleak
# reports an object only when it is at least 5 s old and unchanged since the
# previous scan, so: scan, wait until what the tests (and rmmod) left is old
# enough (a scan takes ~7 s under TCG, so usually no wait), scan again, print
# the report.
scan_kmemleak() {
	[ -w /sys/kernel/debug/kmemleak ] || return 0
	log "kmemleak: scanning"
	read -r t0 _ </proc/uptime
	echo scan >/sys/kernel/debug/kmemleak
	read -r t1 _ </proc/uptime
	waited=$((${t1%.*} - ${t0%.*}))
	[ "$waited" -lt 6 ] && sleep $((6 - waited))
	echo scan >/sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak  # reports go to the console log, the host checks them
	log "kmemleak: scan done"
}

write_report() {
	status=$1
	echo "DBOS_VM_EXIT=$status $DBOS_VM_NONCE"
	printf '%s' "$FAILURES" | while IFS= read -r line; do echo "fail=$line"; done
	printf '%s' "$NOTES" | while IFS= read -r line; do echo "note=$line"; done
	echo "tainted=$(cat /proc/sys/kernel/tainted)"
	# Kernel messages since /init started, plus boot-time warnings and errors
	# (levels 0-4); the full boot log is routine and slow to send over serial.
	echo "dmesg-begin"
	dmesg -r | awk -v boot="$BOOT_DMESG_LINES" 'NR > boot || /^<[0-4]>/' | sed 's/^<[0-9]*>//'
	echo "dmesg-end"
	if [ -s "$DBOSD_LOG" ]; then
		echo "dbosd-log-begin"
		tail -n 1000 "$DBOSD_LOG"
		echo "dbosd-log-end"
	fi
	echo "done"
}

main() {
	/bin/busybox --install -s /bin  # the image ships only /bin/busybox and /bin/sh
	chmod 755 /  # the initramfs root is a tmpfs (mode 1777)
	BOOT_DMESG_LINES=$(dmesg -r | wc -l)
	mount_filesystems
	setup_system
	status=none
	if attach_net && attach_disk && load_module && start_server; then
		if [ "$DBOS_VM_MODE" = interactive ]; then
			run_interactive_shell
		else
			run_command
		fi
		status=$?
	fi
	stop_everything
	detach_disk
	unload_module
	scan_kmemleak
	# Leading newline: the command's output may not end with one (the host drops it).
	{ echo; write_report "$status"; } >"$OUT"  # last close of ttyS1 waits until it is sent
	log "tainted=$(cat /proc/sys/kernel/tainted), powering off"
	sync
	poweroff -f
	echo o >/proc/sysrq-trigger
}

# Sourced with DBOS_VM_LIB=1 (scripts/vm-debian-run.sh): the functions only.
[ "${DBOS_VM_LIB:-0}" = 1 ] || main
