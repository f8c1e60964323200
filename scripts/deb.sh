#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the Debian packages (dbos, dbos-dkms, libdbos1, libdbos-dev) with
# dpkg-buildpackage from a clean copy of the tracked tree, then run lintian.
#
# Usage: scripts/deb.sh [OUTDIR]     (default build/deb; `make deb`)
#
# The copy is OUTDIR/dbos-VERSION: every file git tracks, as it is in the
# working tree (uncommitted edits included, untracked files and build/ left
# out). The .debs, .buildinfo and .changes land in OUTDIR, the build's output
# in OUTDIR/build.log, lintian's in OUTDIR/lintian.log. The packaging tools and
# the Build-Depends are installed with apt-get the first time
# (scripts/deps.sh --deb-build-deps). Fails when the build fails or lintian
# reports an error; warnings are printed (debian/*.lintian-overrides explains
# the tags we keep).
set -euo pipefail

die() { echo "deb.sh: $*" >&2; exit 1; }

cd "$(dirname "$0")/.."
out=${1:-build/deb}
git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
	die "not a git checkout: the package is built from the files git tracks"
version=$(sed -n '1s/^dbos (\([^)]*\)).*/\1/p' debian/changelog)
[[ -n $version ]] || die "debian/changelog: no version on its first line"

rm -rf "$out"
src=$out/dbos-$version
mkdir -p "$src"
# Tracked files that exist (a deleted one is not part of the copy).
git ls-files -z | while IFS= read -r -d '' f; do
	[[ -e $f || -L $f ]] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$src"

scripts/deps.sh --deb-build-deps "$src"

start=$(date +%s)
echo "deb.sh: dpkg-buildpackage -us -uc -b in $src (log: $out/build.log)"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	die "dpkg-buildpackage failed (see $out/build.log)"
fi
built=$(($(date +%s) - start))
rm -rf "$src"

changes=("$out"/dbos_"${version}"_*.changes)
[[ -f ${changes[0]} ]] || die "no .changes file in $out"
# Every tag down to info and pedantic is shown; only errors fail the build.
status=0
lintian -I --pedantic --fail-on error "${changes[0]}" >"$out/lintian.raw" 2>&1 || status=$?
grep -v '^running with root privileges is not recommended' "$out/lintian.raw" >"$out/lintian.log" || true
rm -f "$out/lintian.raw"
echo "deb.sh: built in ${built} s:"
(cd "$out" && ls -l -- *.deb)
if [[ -s $out/lintian.log ]]; then
	echo "deb.sh: lintian:"
	cat "$out/lintian.log"
else
	echo "deb.sh: lintian: clean"
fi
((status == 0)) || die "lintian reported errors"
