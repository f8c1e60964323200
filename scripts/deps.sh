#!/usr/bin/env bash
# Install dbos build/test dependencies from Debian (idempotent) and tell the build what they provide.
#
# The top Makefile includes build/config.mk, which `scripts/deps.sh --make-config`
# writes after installing what is missing: every value that depends on installed
# packages (kernel build dir and image, libnl flags, kselftest headers) is read
# here, never by make at parse time before the packages exist (issue 12).
#
# DBOS_DEPS_SIMULATE_FRESH=DIR answers as a fresh Debian 12 machine would: nothing
# is installed (every query prints nothing) until the install step ran, which then
# only touches DIR/installed instead of calling apt-get. tests/host/test_fresh_plan.sh
# uses it to check that a fresh machine's build plan equals a provisioned one's.
#
# DBOS_DEPS_NO_INSTALL=1 (debian/rules sets it) installs nothing: the package
# manager installed the Build-Depends of debian/control. --make-config then
# requires only what the package build uses (the cloud kernel's image for
# vmlinux.h, libnl's flags); DBOS_KDIR is printed when a cloud kernel's headers
# are there and KSELFTEST_DIR is left empty (the package build makes neither
# the module nor the tests).
set -euo pipefail

readonly PACKAGES=(
	build-essential gcc make clang llvm libbpf-dev bpftool lz4 zlib1g-dev  # bpf/: vmlinux-btf.sh, libbpf (+ libelf-dev below)
	linux-headers-cloud-amd64 linux-image-cloud-amd64 linux-source-6.1
	qemu-system-x86 busybox-static cpio gzip xz-utils e2fsprogs  # mke2fs also goes into the test VM (dbos-vm --disk)
	qemu-utils mmdebstrap  # the Debian test image (build-debian-image.sh; qemu-img for its per-run overlay)
	librocksdb-dev libsqlite3-dev libnl-3-dev libnl-genl-3-dev libedit-dev
	pkg-config kmod procps iproute2 auditd zstd  # ss and auditd also go into the test VM; zstd: initramfs-tools
	bc bison flex libelf-dev libssl-dev dwarves rsync python3  # the debug kernel (build-debug-kernel.sh; python3: tools/bpf)
	man-db systemd debhelper dh-dkms  # test_package.sh: man -l, systemd-analyze verify, dh's sequence
	libpq-dev postgresql-client-15 postgresql-15 python3-psycopg python3-psycopg2 openssl  # test_pgwire: real clients (libpq, psql, psycopg 3 and 2, postgres_fdw); a certificate
	libnats-dev nats-server socat  # the fleet (dbserver/fleet/, libdbos/dbos_fleet.c), its tests' real NATS server; socat: dbos-vm --nats
)
readonly SELFTEST_FILES=(kselftest_harness.h kselftest.h)
# `make deb` (scripts/deb.sh): the tools that build and check the packages; the
# packages' own Build-Depends are read from debian/control (apt-get build-dep).
readonly DEB_TOOLS=(dpkg-dev fakeroot debhelper dh-dkms lintian)

usage() {
	cat <<'EOF'
Usage: scripts/deps.sh                       install missing Debian packages (no-op when all present)
       scripts/deps.sh --kdir                print the kbuild dir of the newest installed Debian
                                             cloud kernel (nothing if none yet; always exit 0)
       scripts/deps.sh --kernel-image        print that kernel's /boot/vmlinuz-* path (same rules)
       scripts/deps.sh --selftest-header [DIR]
                                             extract kselftest_harness.h + kselftest.h from
                                             /usr/src/linux-source-6.1.tar.xz into DIR (default
                                             ${XDG_CACHE_HOME:-~/.cache}/dbos/kselftest-<version>/)
                                             once, and print DIR (use it as -I DIR)
       scripts/deps.sh --make-config         install missing packages, then print the make
                                             variables they provide (build/config.mk); fails
                                             naming any that is still missing
       scripts/deps.sh --deb-build-deps SRCDIR
                                             install what building the Debian packages of
                                             SRCDIR needs (packaging tools, then the unmet
                                             Build-Depends of SRCDIR/debian/control)
       scripts/deps.sh --list                print the package list
EOF
}

die() { echo "deps.sh: $*" >&2; exit 1; }

# The packages of "$@" (default: PACKAGES) that are not installed.
missing_packages() {
	local -a want=("$@")
	((${#want[@]})) || want=("${PACKAGES[@]}")
	# dpkg-query prints one line per known package; unknown ones only produce stderr.
	local -A installed=()
	local pkg state
	while read -r pkg state; do
		[[ $state == installed ]] && installed[$pkg]=1
	done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${want[@]}" 2>/dev/null || true)
	for pkg in "${want[@]}"; do
		[[ -n ${installed[$pkg]:-} ]] || echo "$pkg"
	done
}

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

# In simulation (DBOS_DEPS_SIMULATE_FRESH), true until the simulated install ran.
simulated_fresh() {
	[[ -n ${DBOS_DEPS_SIMULATE_FRESH:-} && ! -e $DBOS_DEPS_SIMULATE_FRESH/installed ]]
}

no_install() {
	[[ -n ${DBOS_DEPS_NO_INSTALL:-} ]]
}

install_missing_packages() {
	no_install && return 0
	if [[ -n ${DBOS_DEPS_SIMULATE_FRESH:-} ]]; then
		mkdir -p "$DBOS_DEPS_SIMULATE_FRESH"
		# (apt-get talks on stdout: so does the simulation)
		simulated_fresh && echo "deps.sh: (simulated) installing: ${PACKAGES[*]}"
		touch "$DBOS_DEPS_SIMULATE_FRESH/installed"
		return 0
	fi
	local missing
	mapfile -t missing < <(missing_packages)
	((${#missing[@]} == 0)) && return 0
	echo "deps.sh: installing missing packages: ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Newest <version> (e.g. 6.1.0-56-cloud-amd64) with both /boot/vmlinuz-<version>
# and its kbuild dir (with any argument: the image alone is enough).
newest_cloud_kernel_version() {
	simulated_fresh && return 0
	local img version image_only=${1:-}
	for img in /boot/vmlinuz-*-cloud-amd64; do
		[[ -e $img ]] || continue
		version=${img#/boot/vmlinuz-}
		[[ -n $image_only || -e /lib/modules/$version/build/Makefile ]] && echo "$version"
	done | sort -V | tail -n 1
}

print_kdir() {
	local version
	version=$(newest_cloud_kernel_version 2>/dev/null || true)
	[[ -n $version ]] && echo "/lib/modules/$version/build"
	return 0
}

print_kernel_image() {
	local version
	version=$(newest_cloud_kernel_version ${DBOS_DEPS_NO_INSTALL:+image-only} 2>/dev/null || true)
	[[ -n $version ]] && echo "/boot/vmlinuz-$version"
	return 0
}

selftest_cache_dir() {
	local version
	simulated_fresh && die "linux-source-6.1 is not installed (simulated fresh machine)"
	version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) ||
		die "linux-source-6.1 is not installed (run scripts/deps.sh)"
	echo "${XDG_CACHE_HOME:-$HOME/.cache}/dbos/kselftest-$version"
}

selftest_headers_present() {
	local dir=$1 f
	for f in "${SELFTEST_FILES[@]}"; do [[ -s $dir/$f ]] || return 1; done
}

# Extract only the two kselftest headers (tar stops early thanks to --occurrence).
extract_selftest_headers() {
	local dir=$1
	simulated_fresh && die "linux-source-6.1 is not installed (simulated fresh machine)"
	if selftest_headers_present "$dir"; then echo "$dir"; return 0; fi
	local tarball=/usr/src/linux-source-6.1.tar.xz
	[[ -r $tarball ]] || die "$tarball missing (apt-get install linux-source-6.1)"
	mkdir -p "$dir"
	(
		flock 9
		if ! selftest_headers_present "$dir"; then
			local tmp members=() f
			tmp=$(mktemp -d "$dir/.extract.XXXXXX")
			for f in "${SELFTEST_FILES[@]}"; do
				members+=("linux-source-6.1/tools/testing/selftests/$f")
			done
			echo "deps.sh: extracting ${SELFTEST_FILES[*]} from $tarball (once, ~15 s)" >&2
			tar -xJf "$tarball" -C "$tmp" --occurrence=1 --strip-components=4 "${members[@]}" ||
				{ rm -rf "$tmp"; die "could not extract kselftest headers from $tarball"; }
			for f in "${SELFTEST_FILES[@]}"; do mv -f "$tmp/$f" "$dir/$f"; done
			rmdir "$tmp"
		fi
	) 9>"$dir/.lock"
	echo "$dir"
}

pkg_config() {
	simulated_fresh && return 1
	pkg-config "$@"
}

# One make assignment; an empty value means the package providing it is missing.
make_var() {
	local name=$1 value=$2 provider=$3
	[[ -n $value ]] || die "$name is empty after installing packages: is $provider installed?"
	printf '%s := %s\n' "$name" "$value"
}

# Install what is missing (apt's output to stderr), then print what the packages
# provide as make variables (stdout: build/config.mk).
print_make_config() {
	install_missing_packages >&2
	local kdir image nl_cflags nl_libs selftest_dir selftest
	kdir=$(print_kdir)
	image=$(print_kernel_image)
	nl_cflags=$(pkg_config --cflags libnl-genl-3.0) || true
	nl_libs=$(pkg_config --libs libnl-genl-3.0) || true
	echo "# Written by scripts/deps.sh --make-config after installing packages; do not edit."
	if no_install; then
		printf 'DBOS_KDIR := %s\nKSELFTEST_DIR := \n' "$kdir"
	else
		selftest_dir=$(selftest_cache_dir)
		selftest=$(extract_selftest_headers "$selftest_dir")
		make_var DBOS_KDIR "$kdir" linux-headers-cloud-amd64
	fi
	make_var DBOS_KERNEL_IMAGE "$image" linux-image-cloud-amd64
	make_var NL_CFLAGS "$nl_cflags" libnl-genl-3-dev
	make_var NL_LIBS "$nl_libs" libnl-genl-3-dev
	no_install || make_var KSELFTEST_DIR "$selftest" linux-source-6.1
}

# The packaging tools, then the unmet Build-Depends of $1/debian/control.
install_deb_build_deps() {
	local src=$1 missing
	[[ -f $src/debian/control ]] || die "$src/debian/control: no such file"
	no_install && return 0
	mapfile -t missing < <(missing_packages "${DEB_TOOLS[@]}")
	if ((${#missing[@]})); then
		echo "deps.sh: installing the packaging tools: ${missing[*]}" >&2
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			"${missing[@]}" >&2
	fi
	if ! (cd "$src" && dpkg-checkbuilddeps) 2>/dev/null; then
		echo "deps.sh: installing the Build-Depends of $src/debian/control" >&2
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
		as_root env DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q \
			--no-install-recommends "$(cd "$src" && pwd)" >&2
	fi
}

main() {
	case "${1:-}" in
	"") install_missing_packages ;;
	--kdir) print_kdir ;;
	--kernel-image) print_kernel_image ;;
	--make-config) print_make_config ;;
	--selftest-header)
		[[ $# -le 2 ]] || die "--selftest-header takes at most one DIR"
		extract_selftest_headers "${2:-$(selftest_cache_dir)}"
		;;
	--deb-build-deps)
		[[ $# -eq 2 ]] || die "--deb-build-deps takes SRCDIR"
		install_deb_build_deps "$2"
		;;
	--list) printf '%s\n' "${PACKAGES[@]}" ;;
	-h | --help) usage ;;
	*) usage >&2; exit 2 ;;
	esac
}

main "$@"
