#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) the dbos debug test kernel from Debian's linux-source-6.1 + kernel/debug.config, and print its build dir.
#
# The build lives outside the clone, keyed by what determines it:
#   ${XDG_CACHE_HOME:-~/.cache}/dbos/kernel-<hash>/   hash = sha256 of kernel/debug.config,
#                                                    the linux-source-6.1 package version
#                                                    and this script
# A dir is complete once it holds .dbos-complete (written last); an incomplete one
# (interrupted build) is resumed by make. The source is extracted once, next to it,
# into linux-source-<version>/. Concurrent callers wait on a lock.
set -euo pipefail

SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$SCRIPTS")
FRAGMENT=$REPO/kernel/debug.config
TARBALL=/usr/src/linux-source-6.1.tar.xz
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/dbos
STAMP=.dbos-complete
JOBS=${DBOS_KERNEL_JOBS:-$(nproc)}

usage() {
	cat <<EOF
Usage: scripts/build-debug-kernel.sh [--print-dir | --check]

  (no option)   build the debug kernel if it is not cached yet (bzImage, modules,
                modules_prepare; about 25 min on 2 cores, niced), print its dir
  --print-dir   print the dir this fragment/source/script maps to, build nothing
  --check       exit 0 if that dir holds a complete build, 1 otherwise

The dir is what KDIR= / 'make -C DIR M=... modules' need; its bzImage is
arch/x86/boot/bzImage, its release include/config/kernel.release.
Build log: DIR/build.log. Environment: DBOS_KERNEL_JOBS (default: nproc).
EOF
}

die() { echo "build-debug-kernel: $*" >&2; exit 1; }
say() { echo "build-debug-kernel: $*" >&2; }

source_version() {
	dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null ||
		die "linux-source-6.1 is not installed (run scripts/deps.sh)"
}

# The build dir for the current fragment, source version and this script.
kernel_dir() {
	local hash
	hash=$({ cat "$FRAGMENT"; echo "linux-source-6.1 $VERSION"; cat "${BASH_SOURCE[0]}"; } |
		sha256sum | cut -c1-16)
	echo "$CACHE/kernel-$hash"
}

# Extract the source tree once (shared by every kernel-<hash>); prints its dir.
extract_source() {
	local src=$CACHE/linux-source-$VERSION
	if [[ ! -e $src/.dbos-extracted ]]; then
		[[ -r $TARBALL ]] || die "$TARBALL missing (apt-get install linux-source-6.1)"
		say "extracting $TARBALL into $src (once, ~1 min)"
		rm -rf "$src" "$src.tmp"
		mkdir -p "$src.tmp"
		tar -xJf "$TARBALL" -C "$src.tmp" --strip-components=1
		touch "$src.tmp/.dbos-extracted"
		mv "$src.tmp" "$src"
	fi
	echo "$src"
}

# Run make in the build dir, output to build.log, and a progress line every 30 s.
run_make() {
	local started=$SECONDS pid
	echo "=== make $* ===" >>"$LOG"
	nice -n 19 make -C "$SRC" O="$DIR" ARCH=x86_64 -j"$JOBS" "$@" >>"$LOG" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null && sleep 1; done
		kill -0 "$pid" 2>/dev/null || break
		say "  make $*: $((SECONDS - started)) s, $(grep -c '^  CC ' "$LOG") files compiled;" \
			"last: $(grep -E '^  [A-Z]+' "$LOG" | tail -n 1 | sed 's/^ *//')"
	done
	if ! wait "$pid"; then
		grep -E -B2 -A8 'error:|Error [0-9]' "$LOG" | tail -n 40 | sed 's/^/  | /' >&2
		die "make $* failed (full log: $LOG)"
	fi
}

# Every CONFIG_ line of the fragment must be in the final .config as written:
# a dependency that Kconfig could not satisfy silently drops an option otherwise.
check_config() {
	local line name value bad=0
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			grep -qxF "$line" "$DIR/.config" && continue
		elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
			name=${BASH_REMATCH[1]}
			! grep -q "^$name=" "$DIR/.config" && continue
		else
			continue
		fi
		name=${BASH_REMATCH[1]}
		value=$(grep -E "^$name=|^# $name is not set" "$DIR/.config" || echo "(absent)")
		say "fragment asks for '$line', .config has '$value'"
		bad=1
	done <"$FRAGMENT"
	((bad == 0)) || die "kernel/debug.config does not apply cleanly (fix its dependencies)"
}

build() {
	SRC=$(extract_source)
	mkdir -p "$DIR"
	LOG=$DIR/build.log
	local started=$SECONDS
	say "building the debug kernel in $DIR (log: $LOG; ~25 min on 2 cores)"
	: >"$LOG"
	run_make allnoconfig
	"$SRC/scripts/kconfig/merge_config.sh" -m -O "$DIR" "$DIR/.config" "$FRAGMENT" >>"$LOG" 2>&1 ||
		die "merge_config.sh failed (see $LOG)"
	run_make olddefconfig
	check_config
	run_make bzImage modules
	run_make modules_prepare
	[[ -s $DIR/arch/x86/boot/bzImage && -s $DIR/Module.symvers && -s $DIR/vmlinux ]] ||
		die "build finished without bzImage/vmlinux/Module.symvers (see $LOG)"
	local took=$((SECONDS - started))
	{
		echo "source=linux-source-6.1 $VERSION"
		echo "release=$(<"$DIR/include/config/kernel.release")"
		echo "build_seconds=$took"
		echo "built=$(date -u +%FT%TZ)"
	} >"$DIR/$STAMP"
	say "built $(<"$DIR/include/config/kernel.release") in $((took / 60)) min $((took % 60)) s"
}

main() {
	local mode=build
	case ${1:-} in
	"") ;;
	--print-dir) mode=print ;;
	--check) mode=check ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	[[ -r $FRAGMENT ]] || die "$FRAGMENT missing"
	VERSION=$(source_version)
	DIR=$(kernel_dir)
	case $mode in
	print) echo "$DIR"; exit 0 ;;
	check) [[ -e $DIR/$STAMP ]]; exit ;;
	esac
	if [[ ! -e $DIR/$STAMP ]]; then
		mkdir -p "$CACHE"
		exec 9>"$DIR.lock"
		if ! flock -n 9; then
			say "another build of $DIR is running; waiting for it"
			flock 9
		fi
		[[ -e $DIR/$STAMP ]] || build
	fi
	echo "$DIR"
}

main "$@"
