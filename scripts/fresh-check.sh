#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Prove the README's two commands (make run, make check) work the first time on a fresh Debian 12 root file system.
#
# A fresh Debian 12 (bookworm, amd64) root is built once with mmdebstrap and
# cached outside the clone, keyed by its recipe (suite, variant, mirrors,
# packages, mmdebstrap options):
#   ${XDG_CACHE_HOME:-~/.cache}/dbos/fresh-rootfs-<hash>.tar[.zst]
# Every run extracts it into a new /var/tmp/dbos-fresh.XXXXXX/, clones the
# current commit into /root/dbos inside it, and runs there, as root, with chroot,
# a clean environment, an empty ~/.cache and no terminal, exactly what a new user
# types: 'make run', then 'make check'. Everything the project needs must be
# installed by the project itself (scripts/deps.sh): the image holds only a
# standard minimal Debian plus make, git and ca-certificates.
set -euo pipefail

SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$SCRIPTS")
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/dbos
LOG_DIR=$REPO/build/fresh-check
WORK_PARENT=${DBOS_FRESH_WORKDIR:-/var/tmp}
readonly HEARTBEAT=60  # seconds between progress lines of a long command

# The image recipe. Everything that determines the image is in RECIPE, whose
# sha256 names the cached tarball.
#
# Variant 'important': Priority required + important, i.e. what debootstrap and
# the Debian installer's base system install (apt, systemd, kmod, procps,
# iproute2, less, nano, ...): the least a fresh Debian 12 machine has. 'standard'
# would add tools (perl, xz-utils, bzip2, wget, file, ...) that a minimal or
# cloud install may lack, and so could hide a missing install step; 'minbase'
# (no init, no kmod) is less than any real machine. On top: what a user needs to
# clone the repository and type make. No compiler, no project dependency:
# installing those is the project's job, and catching a missing one is the point.
MIRROR=${DBOS_FRESH_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DBOS_FRESH_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SUITE=bookworm
readonly EXTRA_PACKAGES=(make git ca-certificates)
readonly MMDEBSTRAP_OPTIONS=(--mode=root --variant=important --architectures=amd64 --components=main
	"--include=$(IFS=,; echo "${EXTRA_PACKAGES[*]}")")
readonly SOURCES=(
	"deb $MIRROR $SUITE main"
	"deb $MIRROR $SUITE-updates main"
	"deb $SECURITY_MIRROR $SUITE-security main"
)
RECIPE="mmdebstrap ${MMDEBSTRAP_OPTIONS[*]} $SUITE $(printf '[%s] ' "${SOURCES[@]}")"
readonly RECIPE

# The commands a new user types, in the clone (README, "Two commands").
readonly CHROOT_ENV=(env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	LANG=C.UTF-8)
readonly CLONE=/root/dbos  # inside the root

QUICK=0
KEEP=0
REBUILD_IMAGE=0
WORK=
ROOT=
IMAGE_TMP=
CHILD_PID=

usage() {
	cat <<EOF
Usage: scripts/fresh-check.sh [--quick] [--keep] [--rebuild-image]

Checks that the README's two commands work the first time on a fresh Debian 12
machine: builds (once) a fresh bookworm/amd64 root file system with mmdebstrap
(variant 'important' + make, git, ca-certificates; cached in
${CACHE/#$HOME/\~}/fresh-rootfs-<hash>.tar[.zst]), extracts it into a new
$WORK_PARENT/dbos-fresh.XXXXXX/, clones the current commit (HEAD; uncommitted
changes are not tested) into $CLONE there and runs, as root in a chroot with a
clean environment, no terminal and an empty ~/.cache:
  make run      (installs the Debian packages, builds, boots the VM, runs the demo)
  make check    (the whole suite; it builds the debug kernel from scratch
                first: 25-40 min on 2 cores for that alone)
Needs root. Installs mmdebstrap with apt-get if it is missing.

Options:
  --quick          stop after 'make run' succeeded
  --keep           keep the work dir (root file system + clone) for inspection
  --rebuild-image  build the image again even if it is cached
  -h, --help       this text

Logs: build/fresh-check/{image,make-run,make-check}.log of this repository.
Environment: DBOS_FRESH_MIRROR (default http://deb.debian.org/debian),
DBOS_FRESH_SECURITY_MIRROR (default http://deb.debian.org/debian-security),
DBOS_FRESH_WORKDIR (parent of the work dir, default /var/tmp).
EOF
}

die() { echo "fresh-check: $*" >&2; exit 1; }
say() { echo "fresh-check: $*" >&2; }
# git on this repository, which may belong to another user than root (sudo).
repo_git() { git -c safe.directory="$REPO" -C "$REPO" "$@"; }

# 75 -> 1m15s, 4265 -> 71m05s, 30 -> 30s
duration() {
	local s=$1
	if ((s < 60)); then
		echo "${s}s"
	else
		printf '%dm%02ds\n' $((s / 60)) $((s % 60))
	fi
}

parse_args() {
	while (($#)); do
		case $1 in
		--quick) QUICK=1 ;;
		--keep) KEEP=1 ;;
		--rebuild-image) REBUILD_IMAGE=1 ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; exit 2 ;;
		esac
		shift
	done
}

# Run "$@" in the background with its output in LOG, a progress line every
# HEARTBEAT seconds; return its status. In the background so that the INT/TERM
# traps run at once (bash defers them until a foreground command ends).
run_logged() {
	local label=$1 log=$2 started=$SECONDS status=0 last
	shift 2
	"$@" </dev/null >>"$log" 2>&1 &
	CHILD_PID=$!
	while kill -0 "$CHILD_PID" 2>/dev/null; do
		for _ in $(seq "$HEARTBEAT"); do kill -0 "$CHILD_PID" 2>/dev/null && sleep 1; done
		kill -0 "$CHILD_PID" 2>/dev/null || break
		last=$(tail -n 1 "$log" | tr -d '\r' | cut -c1-100)
		say "  $label: $(duration $((SECONDS - started))); last: $last"
	done
	wait "$CHILD_PID" || status=$?
	CHILD_PID=
	return "$status"
}

show_failure() {
	local what=$1 log=$2
	say "$what FAILED; last 40 lines of $log:"
	tail -n 40 "$log" | sed 's/^/    /' >&2
}

install_host_tools() {
	[[ $(id -u) -eq 0 ]] || die "needs root (mmdebstrap in root mode, chroot, mount)"
	command -v git >/dev/null || die "git is missing on the host"
	command -v findmnt >/dev/null || die "findmnt (util-linux) is missing on the host"
	command -v mmdebstrap >/dev/null && return 0
	say "installing mmdebstrap on the host"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null; then
		# Stale package lists; an unreachable third-party source must not stop us.
		apt-get update -q >/dev/null || true
		apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null ||
			die "could not install mmdebstrap"
	fi
}

# The cached image for RECIPE; built into a temp file and renamed when complete.
image_path() {
	local hash ext=tar
	hash=$(printf '%s\n' "$RECIPE" | sha256sum | cut -c1-16)
	command -v zstd >/dev/null && ext=tar.zst
	echo "$CACHE/fresh-rootfs-$hash.$ext"
}

build_image() {
	local image=$1 log=$LOG_DIR/image.log ext
	ext=${image#"$CACHE"/fresh-rootfs-*.}
	mkdir -p "$CACHE"
	# mmdebstrap picks the format from the extension: keep it on the temp name.
	IMAGE_TMP=${image%."$ext"}.tmp.$$.$ext
	rm -f "$IMAGE_TMP"
	say "building the image (once, a few minutes): $RECIPE"
	say "  log: $log"
	: >"$log"
	if ! run_logged mmdebstrap "$log" mmdebstrap "${MMDEBSTRAP_OPTIONS[@]}" "$SUITE" "$IMAGE_TMP" "${SOURCES[@]}"; then
		show_failure "building the image" "$log"
		exit 1
	fi
	mv -f "$IMAGE_TMP" "$image"
	IMAGE_TMP=
}

# The processes whose root is ROOT or under it (chroot'ed there).
chroot_pids() {
	local p root
	for p in /proc/[0-9]*; do
		root=$(readlink "$p/root" 2>/dev/null) || continue
		[[ $root == "$ROOT" || $root == "$ROOT"/* ]] && echo "${p#/proc/}"
	done
	return 0
}

kill_chroot_processes() {
	local pids i
	for i in $(seq 20); do
		mapfile -t pids < <(chroot_pids)
		((${#pids[@]})) || return 0
		if ((i == 1)); then
			say "stopping ${#pids[@]} process(es) still running in the root: $(
				for p in "${pids[@]}"; do cat "/proc/$p/comm" 2>/dev/null; done | sort -u | tr '\n' ' ')"
		fi
		# TERM first; KILL after 5 s.
		kill "-$( ((i <= 5)) && echo TERM || echo KILL)" "${pids[@]}" 2>/dev/null || true
		sleep 1
	done
	mapfile -t pids < <(chroot_pids)
	((${#pids[@]} == 0)) || say "WARNING: could not stop: ${pids[*]}"
}

# Mount points under WORK, innermost (latest) first.
work_mounts() {
	findmnt -rn -o TARGET | awk -v w="$WORK/" 'index($0, w) == 1' | tac
}

unmount_all() {
	local target
	while read -r target; do
		umount "$target" 2>/dev/null || umount -l "$target" ||
			say "WARNING: cannot unmount $target"
	done < <(work_mounts)
}

# shellcheck disable=SC2317  # (an EXIT trap)
cleanup() {
	local status=$?
	trap - EXIT
	trap '' INT TERM  # a second Ctrl-C must not stop the cleanup half-way
	if [[ -n $CHILD_PID ]] && kill -0 "$CHILD_PID" 2>/dev/null; then
		# mmdebstrap cleans up its own mounts on TERM; a chroot'ed command is killed below.
		kill -TERM "$CHILD_PID" 2>/dev/null || true
		for _ in $(seq 30); do kill -0 "$CHILD_PID" 2>/dev/null && sleep 1; done
	fi
	[[ -z $IMAGE_TMP ]] || rm -f "$IMAGE_TMP"
	if [[ -n $WORK && -d $WORK ]]; then
		kill_chroot_processes
		unmount_all
		if [[ -n $(work_mounts) ]]; then
			say "WARNING: still mounted under $WORK, not removing it:"
			work_mounts >&2
			status=1
		elif ((KEEP)); then
			say "kept the work dir: $WORK (root file system: $ROOT; remove it with rm -rf)"
		else
			local t=$SECONDS
			rm -rf --one-file-system "$WORK"
			say "removed the work dir $WORK ($(duration $((SECONDS - t))))"
		fi
	fi
	exit "$status"
}

# Extract the image into a new work dir, clone HEAD into it, prepare it for chroot.
setup_root() {
	local image=$1 head=$2
	WORK=$(mktemp -d "$WORK_PARENT/dbos-fresh.XXXXXX")
	ROOT=$WORK/rootfs
	mkdir "$ROOT"
	say "extracting the image into $ROOT"
	local zstd=()
	[[ $image == *.zst ]] && zstd=(--zstd)
	tar "${zstd[@]}" -xpf "$image" -C "$ROOT" --numeric-owner --xattrs --xattrs-include='*'
	[[ ! -e $ROOT$CLONE ]] || die "$CLONE already exists in the image"
	say "cloning $REPO at $head into $CLONE"
	# (A repository of another user than root: both git and its upload-pack,
	# which gets none of git's -c, must be told it is safe.)
	local gitdir
	gitdir=$(repo_git rev-parse --absolute-git-dir)
	git -c safe.directory="$gitdir" clone -q --no-hardlinks \
		--upload-pack="git -c safe.directory=$(printf %q "$gitdir") upload-pack" "$REPO" "$ROOT$CLONE" ||
		die "git clone $REPO failed"
	git -C "$ROOT$CLONE" -c advice.detachedHead=false checkout -q --detach "$head" ||
		die "checkout of $head failed"
	# What a machine on the network has; apt (scripts/deps.sh) needs it.
	rm -f "$ROOT/etc/resolv.conf"
	cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
	# The usual chroot guard: packages' maintainer scripts must not start their
	# daemons (auditd would run on this host's kernel). On a real machine they
	# start, which makes no difference to the build.
	printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
	chmod 755 "$ROOT/usr/sbin/policy-rc.d"
	mkdir -p "$ROOT/root/.cache"  # exists, and is empty
	local dir
	mount -t proc proc "$ROOT/proc"
	for dir in sys dev dev/pts; do
		mount --bind "/$dir" "$ROOT/$dir"
		# No mount or unmount under it may reach the host's (shared propagation).
		mount --make-rslave "$ROOT/$dir"
	done
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$ROOT/dev/shm"
}

# Run 'make TARGET' in the clone inside the root, as a new user would.
run_make() {
	local target=$1 log=$2
	: >"$log"
	say "make $target (log: $log)"
	run_logged "make $target" "$log" \
		chroot "$ROOT" "${CHROOT_ENV[@]}" /bin/sh -c "cd $CLONE && exec make $target"
}

# The "N passed, N failed" line of make check's log; fails unless it says 0 failed.
check_tally() {
	local tally
	tally=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1) || true
	[[ -n $tally ]] || { say "make check exited 0 but printed no 'N passed, N failed' line"; return 1; }
	say "make check: $tally"
	[[ $tally == *", 0 failed"* ]]
}

main() {
	parse_args "$@"
	install_host_tools
	mkdir -p "$LOG_DIR"
	rm -f "$LOG_DIR"/make-run.log "$LOG_DIR"/make-check.log
	local head image t0=$SECONDS t status=0 image_phase setup_time run_time check_time
	head=$(repo_git rev-parse HEAD)
	if [[ -n $(repo_git status --porcelain --untracked-files=no) ]]; then
		say "WARNING: the working tree has uncommitted changes; they are NOT tested" \
			"(only commit ${head:0:12} is)"
	fi
	trap cleanup EXIT
	trap 'say "interrupted (SIGINT)"; exit 130' INT
	trap 'say "interrupted (SIGTERM)"; exit 143' TERM

	t=$SECONDS
	image=$(image_path)
	if ((REBUILD_IMAGE)) || [[ ! -s $image ]]; then
		build_image "$image"
		image_phase="image built $(duration $((SECONDS - t)))"
		say "image built in $(duration $((SECONDS - t))): $image ($(du -h "$image" | cut -f1))"
	else
		image_phase="image reused"
		say "image reused: $image ($(du -h "$image" | cut -f1), built $(date -r "$image" '+%F %R');" \
			"--rebuild-image builds it again)"
	fi

	t=$SECONDS
	setup_root "$image" "$head"
	setup_time=$(duration $((SECONDS - t)))
	say "extract + clone: $setup_time"

	t=$SECONDS
	run_make run "$LOG_DIR/make-run.log" || status=$?
	run_time=$(duration $((SECONDS - t)))
	if ((status)); then
		show_failure "make run (exit $status, after $run_time)" "$LOG_DIR/make-run.log"
		say "FAIL  make run failed after $run_time ($image_phase, extract + clone $setup_time;" \
			"total $(duration $((SECONDS - t0))))"
		exit 1
	fi
	say "make run: OK in $run_time"

	if ((QUICK)); then
		say "log: $LOG_DIR/make-run.log"
		say "PASS (--quick)  make run $run_time ($image_phase, extract + clone $setup_time;" \
			"total $(duration $((SECONDS - t0))))"
		return 0
	fi

	t=$SECONDS
	run_make check "$LOG_DIR/make-check.log" || status=$?
	check_time=$(duration $((SECONDS - t)))
	local what="exit $status"
	if ((status == 0)) && ! check_tally "$LOG_DIR/make-check.log"; then
		status=1
		what="exit 0, but not '0 failed'"
	fi
	if ((status)); then
		show_failure "make check ($what, after $check_time)" "$LOG_DIR/make-check.log"
		say "FAIL  make run $run_time, make check failed after $check_time" \
			"(total $(duration $((SECONDS - t0))))"
		exit 1
	fi
	say "logs: $LOG_DIR/make-run.log $LOG_DIR/make-check.log"
	say "PASS  make run $run_time, make check $check_time ($image_phase, extract + clone $setup_time;" \
		"total $(duration $((SECONDS - t0))))"
}

main "$@"
