#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: host benchmarks (intake, SQL) and the in-VM
# benchmarks (process churn, open/close and TCP loops with dbos and with auditd),
# printed as "name value" lines. Figures, not pass/fail.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
echo "== host: intake into RocksDB (one core)"
build/bench/bench_intake
echo "== host: SQL over the store"
build/bench/bench_sql
echo "== VM ($(scripts/deps.sh --kernel-image | xargs basename)): fork+exec+exit, open+close, TCP connect+accept+close: without dbos, with dbos, with auditd (peer); one boot"
scripts/dbos-vm --bare --timeout 900 /dbos/tests/bench_vm.sh
