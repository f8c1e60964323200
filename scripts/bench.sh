#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: host benchmarks (intake, SQL, time travel, PostgreSQL's
# protocol, the fleet) and the in-VM benchmarks (process churn, open/close and TCP loops
# with dbos and with auditd; the policy enforcement cost and COMMIT -> enforced
# latency; scheduling through UPDATE processes and sched rules; queries naming
# columns read live), printed as "name value" lines. Figures, not pass/fail.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
echo "== host: intake into RocksDB (one core)"
build/bench/bench_intake
echo "== host: SQL over the store"
build/bench/bench_sql
echo "== host: time travel: processes as of moments in 1M events (10k live rows)"
build/bench/bench_asof
echo "== host: PostgreSQL's protocol: dbosd through libpq vs libdbos vs a real PostgreSQL 15 (100k rows)"
build/bench/bench_pgwire
echo "== host: fleet queries over 10, 100, 1,000 simulated hosts on a real nats-server (p50/p99, ms)"
build/bench/bench_fleet
echo "== VM ($(scripts/deps.sh --kernel-image | xargs basename)): fork+exec+exit, open+close, TCP connect+accept+close: without dbos, with dbos, with auditd (peer); one boot"
scripts/dbos-vm --bare --timeout 900 /dbos/tests/bench_vm.sh
echo "== VM: exec, open, connect with dbosd --no-lsm vs BPF LSM with 0, 10, 1000 rules per hook; COMMIT -> enforced; one boot"
scripts/dbos-vm --bare --mem 2048 --timeout 1500 /dbos/tests/bench_policy.sh
echo "== VM: processes queried with and without the columns read live (GET_LIVE); one boot"
scripts/dbos-vm --bare --timeout 900 '/dbos/tests/bench_vm.sh live'
echo "== VM: scheduling: UPDATE processes rows/s; fork/exec storm with and without a sched rule; exec -> rule in force; one boot"
scripts/dbos-vm --bare --timeout 900 /dbos/tests/bench_sched.sh
