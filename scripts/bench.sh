#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: host benchmarks (intake, SQL) and the in-VM process-churn
# benchmark, printed as "name value" lines. Figures, not pass/fail.
set -uo pipefail
cd "$(dirname "$0")/.."
echo "== host: intake into RocksDB (one core)"
build/bench/bench_intake
echo "== host: SQL over the store"
build/bench/bench_sql
echo "== VM ($(scripts/deps.sh --kernel-image | xargs basename)): fork+exec+exit with and without dbos, one boot"
scripts/dbos-vm --bare --timeout 900 /dbos/tests/bench_vm.sh
