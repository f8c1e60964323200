# SPDX-License-Identifier: GPL-2.0
# dbserver/fleet/build.mk - a host's side of the fleet (the agent: membership,
# fleet queries over NATS; libdbos/fleet_proto.c is the code it shares with the
# coordinator in libdbos), the simulated hosts (build/tests/fleet_sim) and the
# fleet's host test (build/tests/host/test_fleet: a real nats-server).

FLEET_OBJS := $(B)/dbserver/fleet/agent.o $(B)/libdbos/fleet_proto.o
FLEET_LIBS := -lnats

$(B)/tests/fleet_sim: tests/host/fleet_sim.c tests/host/fleet_sim.h $(FLEET_OBJS) \
		$(B)/libdbos/dbos_proto.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(FLEET_OBJS) $(B)/libdbos/dbos_proto.o $(LDFLAGS) \
		$(FLEET_LIBS) -lsqlite3

HOST_TESTS += $(B)/tests/host/test_fleet

$(B)/tests/host/test_fleet: tests/host/test_fleet.c tests/host/fleet_sim.h tests/host/fleet_side.h $(LIBDBOS) \
		| $(B)/tests/fleet_sim $(B)/bin/dbos
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(LIBDBOS) $(LDFLAGS) $(FLEET_LIBS) -lsqlite3

# Fleet query latency over 10, 100 and 1,000 simulated hosts (make bench).
BENCHES += $(B)/bench/bench_fleet
userspace: $(B)/bench/bench_fleet

$(B)/bench/bench_fleet: bench/bench_fleet.c tests/host/fleet_side.h $(LIBDBOS) | $(B)/tests/fleet_sim
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBDBOS) $(LDFLAGS) $(FLEET_LIBS) -lsqlite3
