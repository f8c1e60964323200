#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# test_build.sh - the build a new user's first `make run` / `make check` plans
# on a fresh Debian 12 machine is the build a provisioned machine plans (issue
# 12: a value read at Makefile parse time, before scripts/deps.sh had installed
# the kernel, left `vmlinux-btf.sh -i  -o` with an empty image), and the module
# builds from the repository root as DKMS builds it. Prints TAP.
#
# A fresh machine is simulated with DBOS_DEPS_SIMULATE_FRESH (scripts/deps.sh):
# every query answers "not installed" until the install step ran. `make -n`
# still remakes build/config.mk (GNU make updates makefiles even with -n), so
# the simulated install happens exactly where a real one would.
set -uo pipefail
# Run from build/tests/host/ or tests/host/: find the repository root.
cd "$(dirname "$0")" || exit 1
while [[ ! -f scripts/deps.sh && $PWD != / ]]; do cd ..; done

# shellcheck source=tests/host/tap.sh
. tests/host/tap.sh test-build

# plan MODE GOAL: the recipe lines `make -n GOAL` prints, with the build dir
# (a fresh one per call) written as build/. MODE fresh simulates a new machine.
plan() {
	local mode=$1 goal=$2 dir=$TMP/$1-$2
	mkdir -p "$dir"
	if [[ $mode == fresh ]]; then
		DBOS_DEPS_SIMULATE_FRESH=$dir/sim make --no-print-directory -n B="$dir/b" "$goal" 2>&1
	else
		make --no-print-directory -n B="$dir/b" "$goal" 2>&1
	fi | sed -e "s|$dir/b|build|g" -e '/^deps.sh: (simulated) installing/d'
}

echo "1..7"

for goal in run check; do
	plan ready "$goal" >"$TMP/ready.$goal"
	plan fresh "$goal" >"$TMP/fresh.$goal"
	if ! grep -q 'vmlinux-btf.sh -i /boot/vmlinuz-' "$TMP/ready.$goal"; then
		not_ok "make -n $goal plans vmlinux.h from the cloud kernel's image"
		sed 's/^/# /' "$TMP/ready.$goal" | cut -c1-200 | head -20
	else
		ok "make -n $goal plans vmlinux.h from the cloud kernel's image"
	fi
	if diff -u "$TMP/ready.$goal" "$TMP/fresh.$goal" >"$TMP/diff.$goal"; then
		ok "a fresh machine plans the same 'make $goal' as a provisioned one"
	else
		not_ok "a fresh machine plans the same 'make $goal' as a provisioned one"
		sed 's/^/# /' "$TMP/diff.$goal" | cut -c1-200 | head -40
	fi
done

# Values that depend on installed packages come only from build/config.mk;
# the one $(shell) allowed at parse time reads the build dir's .d files.
bad=$(grep -n '\$(shell' Makefile $(find . -path ./build -prune -o -name '*.mk' -print) |
	grep -v "find \$(B) -name '\*.d'" || true)
if [[ -z $bad ]]; then
	ok "no makefile runs a command at parse time (besides listing .d files)"
else
	not_ok "no makefile runs a command at parse time (besides listing .d files)"
	echo "$bad" | sed 's/^/# /'
fi

# A package that is still missing after the install step stops the build with
# its name, not with an empty flag further down.
if out=$(PKG_CONFIG_LIBDIR=$TMP/none PKG_CONFIG_PATH= scripts/deps.sh --make-config 2>&1); then
	not_ok "deps.sh --make-config fails when libnl is missing"
	echo "$out" | sed 's/^/# /'
elif [[ $out != *"NL_CFLAGS is empty"*libnl-genl-3-dev* ]]; then
	not_ok "deps.sh --make-config fails when libnl is missing, naming the package"
	echo "$out" | sed 's/^/# /'
else
	ok "deps.sh --make-config fails when libnl is missing, naming the package"
fi

# The DKMS layout (issue 15): what dbos-dkms ships (`make install-dkms`: the
# top Kbuild, kmod/ and the one uapi header it includes) builds dbos.ko from
# its root with kbuild's own command, and without -Werror (DBOS_WERROR is the
# project's builds' only).
kdir=$(scripts/deps.sh --kdir)
if ! out=$(make --no-print-directory -s install-dkms DESTDIR="$TMP" DKMSDIR=/dkms 2>&1 &&
	make -s -C "$kdir" M="$TMP/dkms" modules 2>&1) || [[ ! -f $TMP/dkms/kmod/dbos.ko ]]; then
	not_ok "make -C KDIR M=\$PWD at the root builds kmod/dbos.ko (the DKMS layout)"
	echo "$out" | sed 's/^/# /' | tail -20
elif grep -Eq -- "-Werror( |$)" "$TMP/dkms/kmod/.main.o.cmd"; then
	not_ok "the DKMS build does not use -Werror"
else
	ok "make -C KDIR M=\$PWD at the root builds kmod/dbos.ko (the DKMS layout), without -Werror"
fi

exit $((failed > 0))
