#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) the test VM's second image, a real Debian 12 userland with systemd, and print its dir.
#
# The image lives outside the clone, keyed by its recipe (this script: suite,
# packages, hooks), like the debug kernel:
#   ${XDG_CACHE_HOME:-~/.cache}/dbos/debian-image-<hash>/
#       rootfs.raw     ext4 root file system (sparse, IMAGE_SIZE), label dbos-root;
#                      never written by a VM: each boot gets a qcow2 overlay on it
#       vmlinuz        the image's own Debian cloud kernel (the one its
#       initrd.img     linux-headers-cloud-amd64 matches, for DKMS) and initrd
#       release        that kernel's release (uname -r)
#       build.log      mmdebstrap's output
#       .dbos-complete written last: a dir without it is rebuilt
#
# What is in it: Debian's "important" set (apt, systemd, kmod, procps, iproute2,
# ...) plus what users run and what dbos's packages need offline (the VM has
# no network, so `apt install ./dbos*.deb` in it must find every dependency
# installed already): the cloud kernel and its headers, dkms and a compiler,
# dash, bash, coreutils, nginx, openssh-server, python3, psql (PostgreSQL's
# client: dbosd speaks its protocol), and the libraries
# dbosd and dbos link (libbpf, RocksDB, SQLite, libnl, libedit, OpenSSL). nginx's perl
# module lets tests/vm/test_userland.c make a real nginx worker run a command,
# as remote code execution in a web server would.
#
# Also in it, not installed: another cloud kernel's image and headers
# (/var/cache/dbos-new-kernel), for test_package's "a new kernel" step.
#
# At boot, dbos-vm-run.service mounts the per-run disk labelled DBOSRUN (which
# scripts/dbos-vm --image debian makes) on /dbos and runs /dbos/run, which
# reports to the host on ttyS1 and powers the VM off. Without that disk the
# image boots to a root login on the serial console (no password).
set -euo pipefail

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/dbos
STAMP=.dbos-complete
readonly IMAGE_SIZE=6G
MIRROR=${DBOS_IMAGE_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DBOS_IMAGE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
readonly PACKAGES=(
	systemd-sysv udev dbus linux-image-cloud-amd64 linux-headers-cloud-amd64 dkms build-essential
	dash bash coreutils nginx libnginx-mod-http-perl openssh-server python3 iproute2 procps kmod less
	libbpf1 librocksdb7.8 libsqlite3-0 libnl-3-200 libnl-genl-3-200 libedit2 libelf1 zlib1g libssl3
	postgresql-client-15 libnats3.4
)

usage() {
	cat <<EOF
Usage: scripts/build-debian-image.sh [--print-dir | --check]

  (no option)   build the image if it is not cached yet (mmdebstrap from
                Debian's archive, then mkfs.ext4 -d; a few minutes, mostly
                downloads), print its dir
  --print-dir   print the dir this recipe maps to, build nothing
  --check       exit 0 if that dir holds a complete image, 1 otherwise

Environment: DBOS_IMAGE_MIRROR, DBOS_IMAGE_SECURITY_MIRROR (Debian's by default).
EOF
}

die() { echo "build-debian-image: $*" >&2; exit 1; }
say() { echo "build-debian-image: $*" >&2; }

image_dir() {
	local hash
	hash=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
	echo "$CACHE/debian-image-$hash"
}

# The files the image gets on top of the packages (mmdebstrap --customize-hook "$1" = root).
customize() {
	local root=$1
	echo dbos-vm >"$root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\tdbos-vm\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
		>"$root/etc/hosts"
	echo 'LABEL=dbos-root / ext4 rw,errors=remount-ro 0 1' >"$root/etc/fstab"
	chroot "$root" passwd -d root >/dev/null
	# A root shell on the serial console, no password.
	mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
	cat >"$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
EOF
	# The per-run disk: mounted on /dbos, its /dbos/run runs once the system is up.
	cat >"$root/etc/systemd/system/dbos-vm-run.service" <<'EOF'
[Unit]
Description=Run the dbos test VM's command (scripts/dbos-vm --image debian)
ConditionPathExists=/dev/disk/by-label/DBOSRUN
After=multi-user.target
Wants=multi-user.target

[Service]
Type=oneshot
ExecStartPre=/bin/mkdir -p /dbos
ExecStartPre=/bin/mount -o ro LABEL=DBOSRUN /dbos
ExecStart=/bin/sh /dbos/run
StandardOutput=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=default.target
EOF
	chroot "$root" systemctl enable dbos-vm-run.service >/dev/null 2>&1
	# Nothing that wakes up on its own in the middle of a test.
	chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer \
		e2scrub_all.timer e2scrub_reap.service fstrim.timer >/dev/null 2>&1 || true
	# Another cloud kernel's packages, downloaded, not installed: test_package
	# installs them (no network in the VM) to see DKMS build dbos.ko for a new
	# kernel. The newest other 6.1 ABI in the archive; its release in ./release.
	local cur other dest=/var/cache/dbos-new-kernel
	cur=$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 -name '*-cloud-amd64' -printf '%f\n' |
		sort -V | tail -n 1)
	other=$(chroot "$root" apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' |
		cut -d' ' -f1 | sed 's/^linux-image-//' | grep -vx "$cur" | sort -V | tail -n 1)
	[[ -n $other ]] || die "no cloud kernel other than $cur in the archive"
	mkdir -p "$root$dest"
	chroot "$root" sh -c "cd $dest && apt-get -q -o APT::Sandbox::User=root download \
		linux-image-$other linux-headers-$other linux-headers-${other%-cloud-amd64}-common" ||
		die "cannot download the packages of $other"
	echo "$other" >"$root$dest/release"
	# A new machine id at each boot (empty file: systemd makes one).
	: >"$root/etc/machine-id"
}

build() {
	local dir=$1 tmp root release
	tmp=$dir.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	root=$tmp/root
	say "building the Debian 12 image (once; mostly downloads) in $dir"
	command -v mmdebstrap >/dev/null || die "mmdebstrap is missing (run scripts/deps.sh)"
	command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 is missing (e2fsprogs)"
	if ! nice -n 19 mmdebstrap --mode=root --variant=important --architectures=amd64 \
		--components=main "--include=$(IFS=,; echo "${PACKAGES[*]}")" \
		--customize-hook="bash $(printf '%q' "${BASH_SOURCE[0]}") --customize \"\$1\"" \
		bookworm "$root" "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
		"deb $SECURITY_MIRROR bookworm-security main" >"$tmp/build.log" 2>&1; then
		tail -n 30 "$tmp/build.log" >&2
		die "mmdebstrap failed (log: $tmp/build.log)"
	fi
	release=$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*-cloud-amd64' -printf '%f\n' |
		sed 's/^vmlinuz-//' | sort -V | tail -n 1)
	[[ -n $release && -r $root/boot/initrd.img-$release ]] ||
		die "no cloud kernel and initrd in the image (log: $tmp/build.log)"
	[[ -e $root/lib/modules/$release/build/Makefile ]] || die "no headers for $release in the image"
	cp "$root/boot/vmlinuz-$release" "$tmp/vmlinuz"
	cp "$root/boot/initrd.img-$release" "$tmp/initrd.img"
	echo "$release" >"$tmp/release"
	rm -f "$tmp/rootfs.raw"
	truncate -s "$IMAGE_SIZE" "$tmp/rootfs.raw"
	nice -n 19 mkfs.ext4 -q -L dbos-root -d "$root" "$tmp/rootfs.raw" >>"$tmp/build.log" 2>&1 ||
		die "mkfs.ext4 -d failed (log: $tmp/build.log)"
	rm -rf "$root"
	touch "$tmp/$STAMP"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	say "built: $release, $(du -sh --apparent-size "$dir/rootfs.raw" | cut -f1) image ($(du -sh "$dir/rootfs.raw" | cut -f1) used)"
}

main() {
	local dir
	case "${1:-}" in
	-h | --help) usage; exit 0 ;;
	--print-dir) image_dir; exit 0 ;;
	--check) [[ -e $(image_dir)/$STAMP ]]; exit ;;
	--customize) customize "${2:?--customize needs the root dir}"; exit 0 ;;	# (mmdebstrap's hook)
	"") ;;
	*) usage >&2; exit 2 ;;
	esac
	[[ $(id -u) -eq 0 ]] || die "needs root (mmdebstrap --mode=root, chroot)"
	dir=$(image_dir)
	mkdir -p "$CACHE"
	(
		flock 9
		[[ -e $dir/$STAMP ]] || build "$dir"
	) 9>"$CACHE/.debian-image.lock"
	echo "$dir"
}

main "$@"
