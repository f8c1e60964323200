#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build dbos.ko and the KUnit test modules for the debug kernel, in build/kmod-debug/ (never in kmod/).
#
# kbuild writes its objects next to the sources of M=, so the sources are
# mirrored (only *.c, *.h, Kbuild; kept in sync with rsync) into
#   build/kmod-debug/kmod/          -> dbos.ko for the debug kernel
#   build/kmod-debug/libdbos/       (dbos_uapi.h)
#   build/kmod-debug/tests/kunit/   -> dbos_*_test.ko (they #include ../../kmod/*.c)
# leaving kmod/dbos.ko (built for Debian's kernel) alone.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$REPO/build/kmod-debug

die() { echo "build-kmod-debug: $*" >&2; exit 1; }

mirror() {
	local from=$1 to=$2
	mkdir -p "$to"
	# --delete removes sources that went away; objects are excluded, so they stay.
	rsync -rt --delete --include='*.c' --include='*.h' --include=Kbuild \
		--exclude='*.mod.c' --exclude='*' "$from/" "$to/"
}

main() {
	[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '3,10p' "$0"; exit 0; }
	local kdir
	kdir=$("$REPO/scripts/build-debug-kernel.sh") || die "no debug kernel"
	mirror "$REPO/kmod" "$OUT/kmod"
	mkdir -p "$OUT/libdbos"
	rsync -t "$REPO/libdbos/dbos_uapi.h" "$OUT/libdbos/"
	mirror "$REPO/tests/kunit" "$OUT/tests/kunit"
	make -s -C "$kdir" M="$OUT/kmod" DBOS_WERROR=y modules
	make -s -C "$kdir" M="$OUT/tests/kunit" modules
}

main "$@"
