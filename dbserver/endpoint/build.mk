# SPDX-License-Identifier: GPL-2.0
# dbserver/endpoint: the client endpoint of dbosd. Link ENDPOINT_OBJS into
# dbosd together with -lsqlite3 (dbos_proto.o holds the shared frame code).

ENDPOINT_OBJS := $(B)/dbserver/endpoint/endpoint.o $(B)/libdbos/dbos_proto.o

# dbosd's SQL side composed as main.c composes it (store, SQL, policy manager,
# endpoint) and attacked over its socket with libdbos (issue 14).
HOST_TESTS += $(B)/tests/host/test_guard
GUARD_TEST_OBJS := $(POLICY_TEST_OBJS) $(B)/dbserver/endpoint/endpoint.o

$(B)/tests/host/test_guard: tests/host/test_guard.c $(GUARD_TEST_OBJS) $(LIBDBOS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(GUARD_TEST_OBJS) $(LIBDBOS) $(LDFLAGS) $(SQL_LIBS)

# The client protocol fuzzer (issue 14): the same composition, mutated frames.
# Short form in `make check`; `make fuzz` runs DBOS_FUZZ_FRAMES=1000000.
HOST_TESTS += $(B)/tests/host/test_fuzz_proto

$(B)/tests/host/test_fuzz_proto: tests/host/test_fuzz_proto.c $(GUARD_TEST_OBJS) $(LIBDBOS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(GUARD_TEST_OBJS) $(LIBDBOS) $(LDFLAGS) $(SQL_LIBS)
