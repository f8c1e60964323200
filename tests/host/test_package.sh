#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# test_package.sh - the packaging (issue 15) without building a package:
# `make install` installs what debian/*.install distribute and `make
# uninstall` removes it, libdbos.so exports exactly dbos_client.h's API and a
# client builds against it with pkg-config, the unit passes systemd-analyze,
# the man pages render without warnings and describe every option --help
# lists, dkms.conf names what `make install-dkms` ships, versions agree, the
# maintainer scripts touch nothing in a chroot, and deps.sh's package mode
# installs nothing. Seconds; the real .debs are `make deb`. Prints TAP.
set -uo pipefail
# Run from build/tests/host/ or tests/host/: find the repository root.
cd "$(dirname "$0")" || exit 1
while [[ ! -f scripts/deps.sh && $PWD != / ]]; do cd ..; done

# shellcheck source=tests/host/tap.sh
. tests/host/tap.sh test-package
mk() { make --no-print-directory -s "$@"; }

echo "1..13"

# The install paths debian/rules uses, with its multiarch dir.
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
read -r -a deb_args < <(sed -n 's/^DEB_INSTALL_ARGS *:= *//p' debian/rules |
	sed "s|\$(DEB_HOST_MULTIARCH)|$multiarch|g")

# 1-2: make install as the package build runs it; every file it installs is
# claimed by exactly one line of debian/*.install and every line claims a
# file (dh_install + dh_missing, without building a package).
D=$TMP/destdir
if ! out=$(mk install DESTDIR="$D" "${deb_args[@]}" 2>&1) ||
	! out2=$(mk install-dkms DESTDIR="$D" 2>&1); then
	not_ok "make install DESTDIR= ${deb_args[*]}"
	echo "$out ${out2:-}" | sed 's/^/# /' | tail -20
	not_ok "make uninstall removes every file make install installed"
else
	problems=$(
		cd "$D" || exit
		mapfile -t files < <(find . \( -type f -o -type l \) -printf '%P\n' | sort)
		declare -A claimed=()
		for list in "$OLDPWD"/debian/*.install; do
			while read -r pattern _; do
				[[ -z $pattern || $pattern == \#* ]] && continue
				hit=0
				for f in "${files[@]}"; do
					# shellcheck disable=SC2053  # (the pattern is a glob on purpose)
					if [[ $f == $pattern || $f == $pattern/* ]]; then
						hit=1
						[[ -n ${claimed[$f]:-} ]] && echo "$f: in ${claimed[$f]} and $(basename "$list")"
						claimed[$f]=$(basename "$list")
					fi
				done
				((hit)) || echo "$(basename "$list"): '$pattern' matches nothing make install installs"
			done <"$list"
		done
		for f in "${files[@]}"; do
			[[ -n ${claimed[$f]:-} ]] || echo "$f: installed but in no debian/*.install"
		done
		for f in usr/sbin/dbosd usr/bin/dbos usr/bin/dbos-fleet-sink "usr/lib/$multiarch/libdbos.so.1.0.0" \
			usr/include/dbos_client.h "usr/lib/$multiarch/pkgconfig/dbos.pc" \
			usr/share/man/man8/dbosd.8 usr/share/man/man1/dbos.1 usr/share/man/man1/dbos-fleet-sink.1 \
			lib/systemd/system/dbosd.service \
			usr/lib/sysusers.d/dbos.conf usr/lib/tmpfiles.d/dbos.conf \
			usr/lib/modules-load.d/dbos.conf; do
			[[ -e $f ]] || echo "$f: not installed"
		done
		[[ $(readlink "usr/lib/$multiarch/libdbos.so.1") == libdbos.so.1.0.0 &&
			$(readlink "usr/lib/$multiarch/libdbos.so") == libdbos.so.1 ]] ||
			echo "libdbos.so symlinks: not libdbos.so -> libdbos.so.1 -> libdbos.so.1.0.0"
		grep -q '^ExecStart=/usr/sbin/dbosd ' lib/systemd/system/dbosd.service ||
			echo "dbosd.service: ExecStart is not /usr/sbin/dbosd"
	)
	check "make install (as debian/rules runs it) installs exactly what debian/*.install lists" "$problems"
	mk uninstall DESTDIR="$D" "${deb_args[@]}" >/dev/null 2>&1
	mk uninstall-dkms DESTDIR="$D" >/dev/null 2>&1
	check "make uninstall removes every file make install installed" \
		"$(find "$D" \( -type f -o -type l \) -printf '%P\n')"
fi

# 3: the shared library exports exactly the functions dbos_client.h declares,
# each at the version node libdbos/libdbos.map gives it (LIBDBOS_1, then
# LIBDBOS_1.1, ...), and debian/libdbos1.symbols lists the same.
so=$(ls build/libdbos.so.1.0.0 2>/dev/null)
if [[ -z $so ]]; then
	not_ok "build/libdbos.so.1.0.0 exists (make programs)"
else
	api=$(sed -nE 's/^[a-z][a-z0-9_ *]*[ *](dbos_[a-z0-9_]+)\(.*/\1/p' libdbos/dbos_client.h | sort)
	mapped=$(awk '/^LIBDBOS_[0-9.]+ *\{/ { v = $1 } /^\t+dbos_[a-z0-9_]+;/ { sub(/;/, "", $1); print $1 "@" v }' \
		libdbos/libdbos.map | sort)
	exported=$(nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' | sed 's/@@/@/' | sort)
	symbols=$(awk '/^ dbos_/ { print $1 }' debian/libdbos1.symbols | sort)
	problems=$(
		[[ $(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p') == libdbos.so.1 ]] ||
			echo "SONAME is not libdbos.so.1"
		diff <(echo "$api") <(echo "$mapped" | sed 's/@.*//') | grep '^[<>]' |
			sed 's/^</declared, not in libdbos.map:/; s/^>/in libdbos.map, not declared:/'
		diff <(echo "$mapped") <(echo "$exported") | grep '^[<>]' |
			sed 's/^</in libdbos.map, not exported:/; s/^>/exported, not in libdbos.map:/'
		diff <(echo "$mapped") <(echo "$symbols") | grep '^[<>]' |
			sed 's/^</not in libdbos1.symbols:/; s/^>/only in libdbos1.symbols:/'
	)
	check "libdbos.so.1 exports exactly dbos_client.h's functions (libdbos.map's versions, libdbos1.symbols)" "$problems"
fi

# 4: a client built with pkg-config against the installed files links the
# shared library and runs (connecting to a socket that is not there fails).
D=$TMP/client
mk install DESTDIR="$D" "${deb_args[@]}" >/dev/null 2>&1
cat >"$TMP/client.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <dbos_client.h>
int main(void)
{
	char *err = NULL;
	struct dbos_conn *c = dbos_connect("/nonexistent/dbosd.sock", &err);

	if (c || !err)
		return 1;
	puts(err);
	free(err);
	return 0;
}
EOF
pc=(env "PKG_CONFIG_SYSROOT_DIR=$D" "PKG_CONFIG_LIBDIR=$D/usr/lib/$multiarch/pkgconfig" pkg-config)
# shellcheck disable=SC2046  # (pkg-config's output is words on purpose)
if ! flags=$("${pc[@]}" --cflags --libs dbos 2>&1) ||
	! out=$(cc -o "$TMP/client.bin" "$TMP/client.c" $("${pc[@]}" --cflags --libs dbos) 2>&1); then
	not_ok "a client builds with \$(pkg-config --cflags --libs dbos)"
	echo "$flags $out" | sed 's/^/# /'
elif ! readelf -d "$TMP/client.bin" | grep -q 'NEEDED.*\[libdbos.so.1\]' ||
	! out=$(LD_LIBRARY_PATH=$D/usr/lib/$multiarch "$TMP/client.bin" 2>&1) ||
	[[ $out != *"cannot connect to /nonexistent/dbosd.sock"* ]]; then
	not_ok "a client built with pkg-config runs against libdbos.so.1"
	echo "$out" | sed 's/^/# /'
else
	ok "a client built with \$(pkg-config --cflags --libs dbos) runs against libdbos.so.1 ($("${pc[@]}" --modversion dbos))"
fi

# 5: systemd's own check of the unit, installed under a prefix that exists
# (it checks that ExecStart's program is there).
if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze verify dbosd.service" "systemd-analyze not installed"
else
	P=$TMP/prefix
	mk install PREFIX="$P" >/dev/null 2>&1
	check "systemd-analyze verify dbosd.service" \
		"$(systemd-analyze verify --man=no "$P/lib/systemd/system/dbosd.service" 2>&1)"
fi

# 6-7: the man pages render without a warning and describe every option of
# the program's --help.
if ! command -v man >/dev/null; then
	skip "man -l renders dbosd.8, dbos.1 and dbos-fleet-sink.1 without warnings" "man not installed"
else
	out=$(for page in docs/man/dbosd.8 docs/man/dbos.1 docs/man/dbos-fleet-sink.1; do
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null |
			sed "s|^|$page: |"
		[[ $(LC_ALL=C.UTF-8 man -l "$page" 2>/dev/null | wc -l) -gt 20 ]] || echo "$page: renders empty"
	done)
	check "man -l renders dbosd.8, dbos.1 and dbos-fleet-sink.1 without warnings" "$out"
fi
out=$(for prog in dbosd:docs/man/dbosd.8 dbos:docs/man/dbos.1 dbos-fleet-sink:docs/man/dbos-fleet-sink.1; do
	bin=build/bin/${prog%%:*} page=${prog#*:}
	[[ -x $bin ]] || { echo "$bin: not built"; continue; }
	for opt in $("$bin" --help | grep -oE '(^|[ ,])--?[a-z][a-z-]*' | grep -oE -- '--?[a-z-]+' | sort -u); do
		grep -qF -- "$(echo "$opt" | sed 's/-/\\-/g')" "$page" || echo "$page: does not describe $opt"
	done
done)
check "the man pages describe every option of dbosd, dbos and dbos-fleet-sink --help" "$out"

# 8: dkms.conf: what DKMS builds is what `make install-dkms` ships (the
# kbuild path from the top Kbuild to the module it names, every header kmod/
# includes), with the release's version, for kernels 6.1 and later.
D=$TMP/dkms
if ! out=$(mk install-dkms DESTDIR="$D" DKMSDIR=/src 2>&1); then
	not_ok "make install-dkms"
	echo "$out" | sed 's/^/# /'
else
	version=$(sed -n 's/^VERSION *:= *//p' Makefile)
	problems=$(
		cd "$D/src" || exit
		# shellcheck disable=SC1091  # (dkms.conf is shell, as DKMS reads it)
		. ./dkms.conf
		[[ $PACKAGE_NAME == dbos && $PACKAGE_VERSION == "$version" ]] ||
			echo "dkms.conf: $PACKAGE_NAME $PACKAGE_VERSION, not dbos $version"
		[[ $AUTOINSTALL == yes ]] || echo "dkms.conf: AUTOINSTALL is not yes"
		loc=${BUILT_MODULE_LOCATION[0]%/}
		grep -qE "^obj-m \+?= $loc/\$" Kbuild || echo "Kbuild: no obj-m += $loc/"
		grep -qE "^obj-m :?= ${BUILT_MODULE_NAME[0]}\.o\$" "$loc/Kbuild" ||
			echo "$loc/Kbuild: does not build ${BUILT_MODULE_NAME[0]}.o"
		for o in $(sed -n 's/^dbos-y [+:]= \(.*\)\.o$/\1/p' "$loc/Kbuild"); do
			[[ -f $loc/$o.c ]] || echo "$loc/$o.c: not shipped"
		done
		for h in $(grep -ho '#include "[^"]*"' "$loc"/*.[ch] | sed 's/.*"\(.*\)"/\1/' | sort -u); do
			[[ -f $loc/$h || -f libdbos/$h ]] || echo "$h: included by $loc/ but not shipped"
		done
		for v in 6.1.0-57-cloud-amd64 6.6.15 6.12.1-amd64 7.0.0; do
			[[ $v =~ $BUILD_EXCLUSIVE_KERNEL ]] || echo "BUILD_EXCLUSIVE_KERNEL refuses $v"
		done
		for v in 5.10.0-28-amd64 6.0.12 4.19.0; do
			[[ $v =~ $BUILD_EXCLUSIVE_KERNEL ]] && echo "BUILD_EXCLUSIVE_KERNEL accepts $v"
		done
	)
	[[ $(cat debian/dbos-dkms.dkms) == packaging/dkms.conf ]] ||
		problems+=$'\n'"debian/dbos-dkms.dkms does not name packaging/dkms.conf"
	check "dkms.conf names the module make install-dkms ships, version $version, kernels >= 6.1" "$problems"
fi

# 9: one version: the Makefile's, debian/changelog's, dbos.pc's.
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
changelog=$(sed -n '1s/^dbos (\([^)]*\)).*/\1/p' debian/changelog)
if [[ -n $version && $version == "$changelog" ]] && grep -q '^Version: @VERSION@$' libdbos/dbos.pc.in; then
	ok "Makefile, debian/changelog and dbos.pc say version $version"
else
	not_ok "Makefile ($version), debian/changelog ($changelog) and dbos.pc agree on the version"
fi

# 10-11: the maintainer scripts are valid sh, and do nothing to the host in a
# chroot (ischroot: 0) or where ischroot cannot tell (2); rmmod, rm and
# modprobe are stubs that record their calls. purge removes the store under
# DPKG_ROOT.
out=$(for s in debian/*.postinst debian/*.prerm debian/*.postrm; do
	sh -n "$s" 2>&1 | sed "s|^|$s: |"
	if command -v shellcheck >/dev/null; then shellcheck -s sh "$s" 2>&1 | sed "s|^|$s: |"; fi
done)
check "the maintainer scripts are valid sh (shellcheck-clean)" "$out"
mkdir -p "$TMP/stubs"
for stub in rmmod rm modprobe; do
	printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n' "$stub" "$TMP" >"$TMP/stubs/$stub"
	chmod +x "$TMP/stubs/$stub"
done
problems=
for answer in 0 2; do
	printf '#!/bin/sh\nexit %s\n' "$answer" >"$TMP/stubs/ischroot"
	chmod +x "$TMP/stubs/ischroot"
	for s in debian/dbos.prerm debian/dbos-dkms.prerm; do
		PATH=$TMP/stubs:$PATH sh "$s" remove >/dev/null 2>&1 || problems+="$s remove failed (ischroot $answer)"$'\n'
	done
done
[[ -s $TMP/calls ]] && problems+="in a chroot the prerm scripts ran: $(tr '\n' ';' <"$TMP/calls")"
mkdir -p "$TMP/root/var/lib/dbos/x" "$TMP/root/run/dbos"
DPKG_ROOT=$TMP/root sh debian/dbos.postrm purge >/dev/null 2>&1 || problems+="dbos.postrm purge failed"$'\n'
[[ -e $TMP/root/var/lib/dbos || -e $TMP/root/run/dbos ]] &&
	problems+="postrm purge left \$DPKG_ROOT/var/lib/dbos or /run/dbos"
check "prerm touches neither the module nor /sys/fs/bpf in a chroot; postrm purge removes the store" "$problems"

# 12: debhelper's sequence (dh --no-act with debian/rules' own dh line) runs
# what the maintainer scripts rely on, the group created before the unit starts.
if ! command -v dh >/dev/null; then
	skip "dh's sequence creates the group before starting dbosd.service" "debhelper not installed"
else
	dh_line=$(make -s -n -f debian/rules binary 2>/dev/null | grep -m1 '^dh binary')
	seq=$($dh_line --no-act 2>&1)
	at() { echo "$seq" | grep -nE "(^|[ /])$1\$" | head -1 | cut -d: -f1; }
	users=$(at dh_installsysusers) tmpfiles=$(at dh_installtmpfiles)
	systemd=$(at dh_installsystemd) dkms=$(at 'override_dh_dkms|dh_dkms')
	if [[ -n $users && -n $tmpfiles && -n $systemd && -n $dkms ]] &&
		((users < systemd && tmpfiles < systemd)); then
		ok "dh's sequence creates the group and /run/dbos before starting dbosd.service, runs dh_dkms"
	else
		not_ok "dh's sequence creates the group and /run/dbos before starting dbosd.service, runs dh_dkms"
		echo "$dh_line: $seq" | sed 's/^/# /' | head -40
	fi
fi

# 13: the package build's deps mode installs nothing (a fresh machine is
# simulated: nothing installed) and names what is missing.
sim=$TMP/sim
if out=$(DBOS_DEPS_NO_INSTALL=1 DBOS_DEPS_SIMULATE_FRESH=$sim scripts/deps.sh --make-config 2>&1); then
	not_ok "DBOS_DEPS_NO_INSTALL=1 deps.sh --make-config fails when the kernel image is missing"
	echo "$out" | sed 's/^/# /'
elif [[ -e $sim/installed || $out == *"deps.sh: (simulated) installing"* ||
	$out != *DBOS_KERNEL_IMAGE*linux-image-cloud-amd64* ]]; then
	not_ok "DBOS_DEPS_NO_INSTALL=1 deps.sh --make-config installs nothing and names linux-image-cloud-amd64"
	echo "$out" | sed 's/^/# /'
else
	ok "DBOS_DEPS_NO_INSTALL=1 deps.sh --make-config installs nothing and names what is missing"
fi

exit $((failed > 0))
