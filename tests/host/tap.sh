# SPDX-License-Identifier: GPL-2.0
# tap.sh - what the host test scripts share, sourced from the repository root
# as `. tests/host/tap.sh NAME`: a scratch directory $TMP (/tmp/dbos-NAME.*,
# removed at exit) and the TAP helpers, counting into $n and $failed.
TMP=$(mktemp -d "/tmp/dbos-${1:?}.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
# skip NAME WHY
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# check NAME PROBLEMS: ok when PROBLEMS (what went wrong) is empty.
check() {
	if [[ -z $2 ]]; then ok "$1"; else not_ok "$1"; echo "$2" | sed 's/^/# /' | head -30; fi
}
