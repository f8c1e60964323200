# SPDX-License-Identifier: GPL-2.0
# dbserver/intake/build.mk - the intake layer: the session (decode, loss detection, re-sync)
# and the intake thread, their host tests and the intake benchmark.
#
#   INTAKE_OBJS       the session without sockets: decoder + session (tests, bench)
#   INTAKE_LOOP_OBJS  the intake thread over the kernel layer's sockets (dbosd only)

INTAKE_OBJS      := $(B)/dbserver/intake/decode.o $(B)/dbserver/intake/reorder.o \
                    $(B)/dbserver/intake/intake.o
INTAKE_LOOP_OBJS := $(B)/dbserver/intake/loop.o

# Host tests of intake + mirror: real store in a temp dir, real SQL, no kernel.
INTAKE_TEST_OBJS := $(INTAKE_OBJS) $(MIRROR_OBJS) $(SQL_OBJS) $(SQL_DEPS)
INTAKE_TESTS     := $(B)/tests/host/test_intake $(B)/tests/host/test_intake_files \
                    $(B)/tests/host/test_intake_sched
HOST_TESTS       += $(INTAKE_TESTS)

$(INTAKE_TESTS): $(B)/tests/host/%: tests/host/%.c tests/host/test_intake_msg.h $(INTAKE_TEST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(INTAKE_TEST_OBJS) $(LDFLAGS) $(SQL_LIBS)

# Host benchmark: synthetic record messages through decode + mirror into RocksDB.
BENCHES += $(B)/bench/bench_intake
userspace: $(B)/bench/bench_intake

$(B)/bench/bench_intake: bench/bench_intake.c tests/host/test_intake_msg.h \
		$(INTAKE_OBJS) $(MIRROR_OBJS) $(MIRROR_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(INTAKE_OBJS) $(MIRROR_OBJS) $(MIRROR_DEPS) \
		$(LDFLAGS) $(STORE_LIBS) -lm -lpthread

# Host benchmark of time travel: a history through intake + mirror, then processes as of
# moments in it, in SQL.
BENCHES += $(B)/bench/bench_asof
userspace: $(B)/bench/bench_asof

$(B)/bench/bench_asof: bench/bench_asof.c tests/host/test_intake_msg.h $(INTAKE_TEST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(INTAKE_TEST_OBJS) $(LDFLAGS) $(SQL_LIBS)
