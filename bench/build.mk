# SPDX-License-Identifier: GPL-2.0
# Benchmark pieces that run inside the test VM (copied with the VM tests but
# not named test_*, so `make check` does not run them); the host benchmarks
# are built by the layers they measure (build/bench/bench_*).
VM_TESTS += $(B)/tests/vm/bench_forkexec $(B)/tests/vm/bench_vm.sh

$(B)/tests/vm/bench_forkexec: bench/forkexec.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $<

$(B)/tests/vm/bench_vm.sh: bench/vm.sh
	@mkdir -p $(dir $@)
	install -m 0755 $< $@

VM_TESTS += $(B)/tests/vm/bench_fileloop

$(B)/tests/vm/bench_fileloop: bench/fileloop.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $<

# Policy enforcement benchmark (bench/policy.sh, booted with --bare): rule loading,
# COMMIT -> enforced timing through the real client library, BPF program run times.
VM_TESTS += $(B)/tests/vm/bench_policyctl $(B)/tests/vm/bench_policy.sh

$(B)/tests/vm/bench_policyctl: bench/policyctl.c libdbos/dbos_client.h $(B)/libdbos.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libdbos.a $(LDFLAGS) -lbpf

$(B)/tests/vm/bench_policy.sh: bench/policy.sh
	@mkdir -p $(dir $@)
	install -m 0755 $< $@

# Scheduling benchmark (bench/sched.sh, booted with --bare): UPDATE processes
# throughput, a fork/exec storm with and without a sched rule, exec -> rule in force.
VM_TESTS += $(B)/tests/vm/bench_schedctl $(B)/tests/vm/bench_probe $(B)/tests/vm/bench_sched.sh

$(B)/tests/vm/bench_schedctl: bench/schedctl.c libdbos/dbos_client.h $(B)/libdbos.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libdbos.a $(LDFLAGS)

$(B)/tests/vm/bench_probe: bench/schedprobe.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $<

$(B)/tests/vm/bench_sched.sh: bench/sched.sh
	@mkdir -p $(dir $@)
	install -m 0755 $< $@

# Columns read live (bench_vm.sh live): a query repeated through the client library,
# naming live columns or not.
VM_TESTS += $(B)/tests/vm/bench_liveq

$(B)/tests/vm/bench_liveq: bench/liveq.c libdbos/dbos_client.h $(B)/libdbos.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libdbos.a $(LDFLAGS)
