#!/usr/bin/env bash
# Build the dbos test-VM initramfs from the repo's build outputs, as cached cpio layers, and print its path.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$REPO/build/vm
KMOD=$REPO/kmod  # where the *.ko for /dbos come from (--kmod)
EXTRA=()  # "SRC=DEST" pairs from --add

usage() {
	cat <<'EOF'
Usage: scripts/mkinitramfs.sh [--out DIR] [--kmod DIR] [--add SRC=DEST]...

Packs into DIR/initramfs.img (default DIR: build/vm) and prints that path:
  /init                   scripts/vm-init.sh
  /usr/bin/vm-dbosd       scripts/vm-dbosd.sh (start/stop/restart dbosd in the guest)
  /bin/busybox, /bin/sh   busybox-static (/init links every other applet into /bin)
  /etc/{passwd,group,...} root(0), nobody(65534), dbos-test(1000)
  /usr/share/terminfo     the host's /lib/terminfo (ncurses-base), for the shell's line editing
  /dbos/*.ko              kmod/*.ko, or DIR/*.ko with --kmod DIR (the module is /dbos/dbos.ko)
  /usr/bin/*              build/bin/*
  /usr/bin/ss, /usr/sbin/auditd, /usr/sbin/auditctl
                          the host's ground-truth and benchmark-peer tools (iproute2,
                          auditd), and for every kernel in /lib/modules the sock_diag
                          modules ss needs (vm-init.sh loads them when they match)
  /usr/sbin/mke2fs, /etc/mke2fs.conf
                          the host's mke2fs (e2fsprogs: busybox's makes only ext2), and
                          for every kernel in /lib/modules the virtio_blk, virtio_net and virtio_pci
                          modules with what they need (modules.dep), numbered in load
                          order: what dbos-vm --disk and --nats need (vm-init.sh loads them)
  /dbos/tests/...         build/tests/vm/... (recursively)
  /dbos/demo.sh           scripts/demo.sh, if present
  DEST                    SRC, for each --add SRC=DEST (file or directory)
  shared libraries        everything the ELF files above need (ldd), at the host's paths

The image is three concatenated cpio archives (base, libs, project); each is
rebuilt only when its inputs change.
EOF
}

die() { echo "mkinitramfs.sh: $*" >&2; exit 1; }

parse_args() {
	while (($#)); do
		case $1 in
		--out) OUT=${2:?--out needs a DIR}; shift 2 ;;
		--kmod) KMOD=${2:?--kmod needs a DIR}; shift 2 ;;
		--add) [[ ${2:-} == *=/* ]] || die "--add needs SRC=/ABS/DEST"; EXTRA+=("$2"); shift 2 ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; exit 2 ;;
		esac
	done
}

# Pack directory $1 into cpio archive $2 (all files owned by root). $3: "gzip" or "none".
# Symlinks in the tree are followed (the staging trees link to the real files), except
# in the base layer where they are the busybox applets ($4 = "keep-symlinks").
pack_cpio() {
	local dir=$1 out=$2 compress=$3 links=${4:-follow} find_opt=-L cpio_opt=-L
	if [[ $links == keep-symlinks ]]; then find_opt='' cpio_opt=''; fi
	(
		cd "$dir"
		# shellcheck disable=SC2086  # empty options must vanish
		find $find_opt . -mindepth 1 | LC_ALL=C sort |
			cpio --quiet -o -H newc -R 0:0 $cpio_opt |
			if [[ $compress == gzip ]]; then gzip -1 -n; else cat; fi
	) >"$out.tmp"
	mv -f "$out.tmp" "$out"
}

write_etc_files() {
	local etc=$1
	cat >"$etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
dbos-test:x:1000:1000:dbos test user:/home/dbos-test:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
	cat >"$etc/group" <<'EOF'
root:x:0:
dbos-test:x:1000:
nogroup:x:65534:
EOF
	printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$etc/nsswitch.conf"
	printf '127.0.0.1 localhost dbos-vm\n::1 localhost ip6-localhost\n' >"$etc/hosts"
	echo dbos-vm >"$etc/hostname"
}

# Layer 1: busybox, /init, /etc, empty mount points. Changes only with these scripts or busybox.
build_base_layer() {
	local busybox=/bin/busybox out=$OUT/base.cpio.gz
	[[ -x $busybox ]] || die "$busybox missing (apt-get install busybox-static)"
	local dep
	if [[ -s $out ]]; then
		local stale=0
		for dep in "$busybox" "$REPO/scripts/vm-init.sh" "$REPO/scripts/vm-dbosd.sh" "${BASH_SOURCE[0]}"; do
			[[ $dep -nt $out ]] && stale=1
		done
		((stale)) || return 0
	fi
	local root=$OUT/base
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/share,etc,dev,proc,sys,tmp,run,root,home,mnt,var/lib,var/log,dbos/tests}
	chmod 1777 "$root/tmp"
	chmod 700 "$root/root"
	local d
	for d in lib lib64; do  # mirror the host's merged-/usr layout so ldd paths resolve alike
		if [[ -L /$d ]]; then ln -s "$(readlink "/$d")" "$root/$d"; else mkdir -p "$root/$d"; fi
	done
	cp "$busybox" "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"  # /init installs the other applets: busybox --install -s /bin
	ln -s /bin/busybox "$root/usr/bin/env"  # for "#!/usr/bin/env sh" scripts
	# Line editing in the SQL shell (libedit reads terminfo): ncurses-base's entries.
	cp -a /lib/terminfo "$root/usr/share/terminfo"
	install -m 755 "$REPO/scripts/vm-init.sh" "$root/init"
	install -m 755 "$REPO/scripts/vm-dbosd.sh" "$root/usr/bin/vm-dbosd"
	write_etc_files "$root/etc"
	pack_cpio "$root" "$out" gzip keep-symlinks
}

# Link each existing SRC... into guest directory $1 under its own name (cpio follows the links).
stage_into() {
	local dir=$PROJECT_ROOT$1 src existing=()
	shift
	for src; do [[ -e $src ]] && existing+=("$src"); done
	((${#existing[@]})) || return 0
	mkdir -p "$dir"
	ln -s "${existing[@]}" "$dir/"
}

# ss (ground truth for the socket tests), auditd + auditctl (the benchmark's peer), mke2fs
# (formats the --disk), the sock_diag modules ss needs on kernels that build them as
# modules (Debian's), and the modules a virtio disk needs there.
readonly HOST_TOOLS=(/usr/bin/ss /usr/sbin/auditd /usr/sbin/auditctl /usr/sbin/mke2fs)
readonly SOCK_DIAG_MODULES=(net/ipv4/inet_diag.ko net/ipv4/tcp_diag.ko net/ipv4/udp_diag.ko
	net/unix/unix_diag.ko)
stage_host_tools() {
	local tool dir mod
	for tool in "${HOST_TOOLS[@]}"; do
		[[ -x $tool ]] || die "$tool missing (run scripts/deps.sh)"
		stage_into "${tool%/*}" "$tool"
	done
	for dir in /usr/lib/modules/*/kernel; do
		[[ -e $dir/${SOCK_DIAG_MODULES[0]} ]] || continue
		for mod in "${SOCK_DIAG_MODULES[@]}"; do
			stage_into "${dir%/kernel}/dbos-diag" "$dir/$mod"
		done
	done
	stage_into /etc /etc/mke2fs.conf
	stage_disk_modules
}

# The virtio disk (dbos-vm --disk) and network card (dbos-vm --nats): the drivers, the
# PCI transport, and the modules they need, from each kernel's modules.dep, into
# /lib/modules/RELEASE/dbos-disk/ and dbos-net/ as NN-name.ko in an order that loads
# (dependencies first). Kernels that build them in (or have no modules.dep) get nothing.
readonly DISK_MODULES=(kernel/drivers/virtio/virtio_pci.ko kernel/drivers/block/virtio_blk.ko)
readonly NET_MODULES=(kernel/drivers/virtio/virtio_pci.ko kernel/drivers/net/virtio_net.ko)
stage_disk_modules() {
	stage_modules dbos-disk "${DISK_MODULES[@]}"
	stage_modules dbos-net "${NET_MODULES[@]}"
}

stage_modules() {	# DIR MODULE...
	local name=$1 moddir dep order mod n
	shift
	for moddir in /usr/lib/modules/*; do
		dep=$moddir/modules.dep
		[[ -r $dep ]] || continue
		order=$(awk -v want="$*" '
			{ name = $1; sub(/:$/, "", name); deps[name] = ""
			  for (i = 2; i <= NF; i++) deps[name] = deps[name] " " $i }
			function visit(m,    d, n, i) {
				if (m in seen || !(m in deps)) return
				seen[m] = 1
				n = split(deps[m], d, " ")
				for (i = n; i >= 1; i--) visit(d[i])	# modules.dep lists the deepest last
				print m
			}
			END { n = split(want, w, " "); for (i = 1; i <= n; i++) visit(w[i]) }' "$dep")
		n=0
		for mod in $order; do
			[[ -e $moddir/$mod ]] || die "$dep names $mod, which does not exist"
			[[ $mod == *.ko ]] || die "$moddir/$mod: only uncompressed modules can go into the VM"
			mkdir -p "$PROJECT_ROOT$moddir/$name"
			n=$((n + 1))
			ln -s "$moddir/$mod" "$PROJECT_ROOT$moddir/$name/$(printf %02d "$n")-${mod##*/}"
		done
	done
}

stage_project_files() {
	PROJECT_ROOT=$OUT/project
	rm -rf "$PROJECT_ROOT"
	mkdir -p "$PROJECT_ROOT/dbos/tests" "$PROJECT_ROOT/usr/bin"
	shopt -s nullglob
	stage_into /dbos "$KMOD"/*.ko "$REPO/scripts/demo.sh"
	stage_into /usr/bin "$REPO"/build/bin/*
	stage_into /dbos/tests "$REPO"/build/tests/vm/*
	shopt -u nullglob
	stage_host_tools
	local pair src dest
	for pair in ${EXTRA[@]+"${EXTRA[@]}"}; do
		src=$(realpath -e "${pair%%=*}") || die "--add: ${pair%%=*} does not exist"
		dest=${pair#*=}
		mkdir -p "$PROJECT_ROOT${dest%/*}"
		ln -sfn "$src" "$PROJECT_ROOT$dest"
	done
}

# One line per staged file (path, size, mtime); a change means the layer must be rebuilt.
project_manifest() {
	# (directories are listed without times: the staging tree is recreated on every run)
	(cd "$PROJECT_ROOT" && find -L . -mindepth 1 \( -type d -printf '%P/\n' \) -o -printf '%P %s %T@ %m\n' |
		LC_ALL=C sort)
	stat -L -c 'ld.so.cache %s %Y' /etc/ld.so.cache 2>/dev/null || true
}

is_elf() {
	local magic
	LC_ALL=C IFS= read -r -N 4 magic <"$1" 2>/dev/null && [[ $magic == $'\x7fELF' ]]
}

# Print every shared library (and the dynamic loader) that the staged ELF files need.
needed_libraries() {
	local f elfs=() line
	while IFS= read -r -d '' f; do
		[[ $f != *.ko ]] && is_elf "$f" && elfs+=("$f")
	done < <(find -L "$PROJECT_ROOT" -type f -print0)
	if ((${#elfs[@]})); then
		# One ldd for all files: "FILE:" headers, then "name => /path (addr)" or "/path (addr)"
		# lines; static executables and objects just say so (and make ldd exit 1).
		local file=${elfs[0]} lib
		while IFS= read -r line; do
			case $line in
			/*:) file=${line%:} ;;
			*"=> not found"*)
				lib=${line%% =>*}
				die "${file#"$PROJECT_ROOT"} needs ${lib#"${lib%%[! 	]*}"}, which ldd cannot find on the host" ;;
			*"=> /"*) line=${line#*=> }; echo "${line%% (*}" ;;
			[[:space:]]/*) line=${line#"${line%%[! 	]*}"}; echo "${line%% (*}" ;;
			esac
		done < <(ldd "${elfs[@]}" 2>/dev/null || true)
	fi
	# glibc dlopens libgcc_s for pthread_exit/pthread_cancel and backtraces.
	local gcc_s
	for gcc_s in /lib/x86_64-linux-gnu/libgcc_s.so.1 /usr/lib/x86_64-linux-gnu/libgcc_s.so.1; do
		[[ -e $gcc_s ]] && { echo "$gcc_s"; break; }
	done
}

# Layer 2: shared libraries, uncompressed (large, rarely changes; the guest unpacks it fastest raw).
build_libs_layer() {
	local out=$OUT/libs.cpio root=$OUT/libs list libs manifest
	list=$(needed_libraries) || exit 1
	mapfile -t libs < <(LC_ALL=C sort -u <<<"$list")
	manifest=$(stat -L -c '%n %s %Y' "${libs[@]}")
	if [[ -s $out && -f $out.manifest && $manifest == "$(<"$out.manifest")" ]]; then
		return 0
	fi
	rm -rf "$root"
	# Each library goes into the canonical form of its directory (/lib/x -> /usr/lib/x),
	# under the name ldd printed (the soname); the base layer mirrors the host's /lib link.
	local -A by_dir=()
	local lib dirs=() canonical i
	for lib in "${libs[@]}"; do by_dir[${lib%/*}]+="$lib"$'\n'; done
	dirs=("${!by_dir[@]}")
	mapfile -t canonical < <(realpath -e "${dirs[@]}")
	for i in "${!dirs[@]}"; do
		mkdir -p "$root${canonical[i]}"
		mapfile -t libs <<<"${by_dir[${dirs[i]}]%$'\n'}"
		ln -s "${libs[@]}" "$root${canonical[i]}/"
	done
	pack_cpio "$root" "$out" none
	echo "$manifest" >"$out.manifest"
}

# Layer 3: the project's module, binaries, tests, demo (small, changes often).
project_layer_is_current() {
	local out=$OUT/project.cpio.gz
	PROJECT_MANIFEST=$(project_manifest)
	[[ -s $out && -f $out.manifest && $PROJECT_MANIFEST == "$(<"$out.manifest")" ]]
}

build_project_layer() {
	local out=$OUT/project.cpio.gz
	pack_cpio "$PROJECT_ROOT" "$out" gzip
	echo "$PROJECT_MANIFEST" >"$out.manifest"
}

# Concatenate cpio archives into $1, NUL-padding each to a 4-byte boundary: the kernel
# only recognises an uncompressed archive that starts 4-byte aligned (and skips NULs).
concatenate_archives() {
	local img=$1 part size
	shift
	: >"$img.tmp"
	for part; do
		cat "$part" >>"$img.tmp"
		size=$(stat -c %s "$img.tmp")
		head -c $(((4 - size % 4) % 4)) /dev/zero >>"$img.tmp"
	done
	mv -f "$img.tmp" "$img"
}

main() {
	parse_args "$@"
	mkdir -p "$OUT"
	exec 9>"$OUT/.mkinitramfs.lock"
	flock 9
	build_base_layer
	stage_project_files
	if ! project_layer_is_current; then
		build_libs_layer  # first: it fails if a library is missing
		build_project_layer
	elif [[ ! -s $OUT/libs.cpio ]]; then
		build_libs_layer
	fi
	local img=$OUT/initramfs.img part newest=0
	for part in base.cpio.gz libs.cpio project.cpio.gz; do
		[[ $OUT/$part -nt $img ]] && newest=1
	done
	if ((newest)) || [[ ! -s $img ]]; then
		concatenate_archives "$img" "$OUT/base.cpio.gz" "$OUT/libs.cpio" "$OUT/project.cpio.gz"
	fi
	echo "$img"
}

main "$@"
