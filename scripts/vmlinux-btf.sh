#!/usr/bin/env bash
# Extract vmlinux from the test VM's bzImage and write its BTF as a C header (vmlinux.h) for the BPF programs.
set -euo pipefail

usage() {
	cat <<'EOF2'
Usage: scripts/vmlinux-btf.sh [-i BZIMAGE] [-o OUT]
  -i BZIMAGE  kernel image (default: scripts/deps.sh --kernel-image, the Debian cloud kernel)
  -o OUT      header to write (default: build/bpf/vmlinux.h)
Finds the compressed payload through the x86 boot setup header (setup_sects at
0x1f1, payload_offset/payload_length at 0x248/0x24c), decompresses it by its
magic (legacy LZ4, zstd, xz, gzip) and runs 'bpftool btf dump file vmlinux format c'.
Rewrites OUT only when the image is newer than it.
EOF2
}

die() { echo "vmlinux-btf.sh: $*" >&2; exit 1; }

SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$SCRIPTS")
IMAGE=
OUT=$REPO/build/bpf/vmlinux.h
while getopts "i:o:h" opt; do
	case $opt in
	i) IMAGE=$OPTARG ;;
	o) OUT=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[[ -n $IMAGE ]] || IMAGE=$("$SCRIPTS/deps.sh" --kernel-image)
[[ -n $IMAGE ]] || die "no Debian cloud kernel installed (run scripts/deps.sh)"
[[ -r $IMAGE ]] || die "cannot read $IMAGE"
[[ -s $OUT && $OUT -nt $IMAGE ]] && exit 0

# Little-endian unsigned integer of $2 bytes at offset $1 of the image.
le() { od -An -t "u$2" -j "$1" -N "$2" --endian=little "$IMAGE" | tr -d ' '; }

[[ $(od -An -c -j 0x202 -N 4 "$IMAGE" | tr -d ' ') == HdrS ]] ||
	die "$IMAGE has no x86 boot setup header (no 'HdrS' at 0x202)"
setup_sects=$(le $((0x1f1)) 1)
((setup_sects == 0)) && setup_sects=4
payload_offset=$(le $((0x248)) 4)
payload_length=$(le $((0x24c)) 4)
((payload_length > 0)) || die "$IMAGE: payload_length is 0"
start=$(((setup_sects + 1) * 512 + payload_offset))

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dd if="$IMAGE" of="$tmp/payload" iflag=skip_bytes,count_bytes skip="$start" count="$payload_length" \
	status=none || die "cannot read the payload of $IMAGE"
magic=$(od -An -t x1 -N 4 "$tmp/payload" | tr -d ' ')
case $magic in
02214c18) decomp=(lz4 -dc) ;;	# legacy LZ4 frame (lz4 -l)
28b52ffd) decomp=(zstd -dc) ;;
fd377a58) decomp=(xz -dc) ;;
1f8b*) decomp=(gzip -dc) ;;
*) die "$IMAGE: unknown payload compression (magic $magic)" ;;
esac
command -v "${decomp[0]}" >/dev/null || die "${decomp[0]} is not installed (run scripts/deps.sh)"
# Legacy LZ4 and gzip may complain about the padding after the stream; vmlinux is whole by then.
"${decomp[@]}" <"$tmp/payload" >"$tmp/vmlinux" 2>"$tmp/err" || true
[[ $(od -An -c -N 4 "$tmp/vmlinux" 2>/dev/null | tr -d ' ') == 177ELF ]] ||
	die "decompressing the payload with ${decomp[*]} did not give an ELF file: $(cat "$tmp/err")"
mkdir -p "$(dirname "$OUT")"
bpftool btf dump file "$tmp/vmlinux" format c >"$tmp/vmlinux.h" ||
	die "bpftool btf dump failed (kernel built without CONFIG_DEBUG_INFO_BTF?)"
mv -f "$tmp/vmlinux.h" "$OUT"
