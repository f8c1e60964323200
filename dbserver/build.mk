# SPDX-License-Identifier: GPL-2.0
# dbserver/build.mk - dbosd (build/bin/dbosd) and its layers: store + sql
# (dbserver/store_sql.mk), endpoint (dbserver/endpoint/build.mk), intake and
# mirror (here), with their host tests and the intake benchmark.
#
#   MIRROR_OBJS     mirror/: records -> rows + history (needs STORE_OBJS)
#   INTAKE_OBJS     intake/ without sockets: decoder + session (tests, bench)
#   INTAKE_NL_OBJS  intake/ netlink sockets and the intake thread (dbosd only)
#   SCHED_OBJS      sched/: requests to the module, CPU lists, who asked (part of
#                   SQL_OBJS too: UPDATE processes sends SCHED_SET)
#   POLICY_OBJS     the policy manager and the policies table (need COMPILE_OBJS,
#                   SQL_OBJS, STORE_OBJS, mirror/history.o)

include dbserver/store_sql.mk
include dbserver/endpoint/build.mk
include dbserver/policy/build.mk
# The enforcer (ENFORCE_OBJS, BPF_LIBS): unless the top Makefile already included it.
ifeq ($(origin ENFORCE_OBJS),undefined)
include bpf/build.mk
endif

# NL_CFLAGS, NL_LIBS: from $(B)/config.mk (scripts/deps.sh --make-config).

MIRROR_OBJS    := $(B)/dbserver/mirror/mirror.o $(B)/dbserver/mirror/proctab.o \
                  $(B)/dbserver/mirror/history.o $(B)/dbserver/mirror/files.o \
                  $(B)/dbserver/mirror/sockets.o $(B)/dbserver/mirror/fdtab.o \
                  $(B)/dbserver/mirror/schedrec.o
# mirror/ formats CPU lists and names SCHED_SET callers (sched/text.o, who.o)
MIRROR_SCHED_OBJS := $(B)/dbserver/sched/text.o $(B)/dbserver/sched/who.o
INTAKE_OBJS    := $(B)/dbserver/intake/decode.o $(B)/dbserver/intake/intake.o
INTAKE_NL_OBJS := $(B)/dbserver/intake/netlink.o $(B)/dbserver/intake/loop.o
SCHED_OBJS     := $(B)/dbserver/sched/text.o $(B)/dbserver/sched/who.o \
                  $(B)/dbserver/sched/request.o

# UPDATE processes (sql/vtab.c, sql/proc_update.c) sends SCHED_SET: whatever links
# SQL_OBJS links sched/ and libnl too. The rules in store_sql.mk expand SQL_OBJS
# and SQL_LIBS in their recipes (late), but read their prerequisites already.
SQL_OBJS += $(B)/dbserver/sql/proc_update.o $(SCHED_OBJS)
SQL_LIBS += $(NL_LIBS)
$(B)/tests/host/test_sql $(B)/bench/bench_sql: $(B)/dbserver/sql/proc_update.o $(SCHED_OBJS)

POLICY_OBJS    := $(B)/dbserver/policy/policy.o $(B)/dbserver/policy/decisions.o \
                  $(B)/dbserver/sql/policies.o $(B)/dbserver/sql/sched_rules.o
DBOSD_OBJS     := $(B)/dbserver/main.o $(INTAKE_NL_OBJS) $(INTAKE_OBJS) $(MIRROR_OBJS) \
                  $(POLICY_OBJS) $(COMPILE_OBJS) $(ENFORCE_OBJS) \
                  $(ENDPOINT_OBJS) $(SQL_OBJS) $(STORE_OBJS)

$(INTAKE_NL_OBJS) $(B)/dbserver/sched/request.o: CFLAGS += $(NL_CFLAGS)

BINS += $(B)/bin/dbosd

$(B)/bin/dbosd: $(DBOSD_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(NL_LIBS) $(BPF_LIBS) -lrocksdb -lsqlite3 -lm -lpthread

# Host tests of intake + mirror: real store in a temp dir, real SQL, no kernel.
INTAKE_TEST_OBJS := $(INTAKE_OBJS) $(MIRROR_OBJS) $(SQL_OBJS) $(STORE_OBJS)

HOST_TESTS += $(B)/tests/host/test_intake $(B)/tests/host/test_intake_files \
              $(B)/tests/host/test_intake_sched \
              $(B)/tests/host/test_policy

# The policy manager with the real compiler, store and SQL; the kernel is an in-test enforcer.
POLICY_TEST_OBJS := $(POLICY_OBJS) $(COMPILE_OBJS) $(SQL_OBJS) $(STORE_OBJS) \
                    $(B)/dbserver/mirror/history.o

$(B)/tests/host/test_policy: tests/host/test_policy.c $(POLICY_TEST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(POLICY_TEST_OBJS) $(LDFLAGS) -lrocksdb -lsqlite3 -lm $(NL_LIBS)

# dbosd's SQL side composed as main.c composes it (store, SQL, policy manager,
# endpoint) and attacked over its socket with libdbos (issue 14).
HOST_TESTS += $(B)/tests/host/test_guard
GUARD_TEST_OBJS := $(POLICY_TEST_OBJS) $(B)/dbserver/endpoint/endpoint.o

$(B)/tests/host/test_guard: tests/host/test_guard.c $(GUARD_TEST_OBJS) $(LIBDBOS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(GUARD_TEST_OBJS) $(LIBDBOS) $(LDFLAGS) -lrocksdb -lsqlite3 -lm $(NL_LIBS)

$(B)/tests/host/test_intake: tests/host/test_intake.c tests/host/test_intake_msg.h $(INTAKE_TEST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(INTAKE_TEST_OBJS) $(LDFLAGS) -lrocksdb -lsqlite3 -lm $(NL_LIBS)

$(B)/tests/host/test_intake_files: tests/host/test_intake_files.c tests/host/test_intake_msg.h $(INTAKE_TEST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(INTAKE_TEST_OBJS) $(LDFLAGS) -lrocksdb -lsqlite3 -lm $(NL_LIBS)

$(B)/tests/host/test_intake_sched: tests/host/test_intake_sched.c tests/host/test_intake_msg.h $(INTAKE_TEST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(INTAKE_TEST_OBJS) $(LDFLAGS) -lrocksdb -lsqlite3 -lm $(NL_LIBS)

# Host benchmark: synthetic record messages through decode + mirror into RocksDB.
BENCHES += $(B)/bench/bench_intake
userspace: $(B)/bench/bench_intake

$(B)/bench/bench_intake: bench/bench_intake.c tests/host/test_intake_msg.h \
		$(INTAKE_OBJS) $(MIRROR_OBJS) $(MIRROR_SCHED_OBJS) $(STORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(INTAKE_OBJS) $(MIRROR_OBJS) $(MIRROR_SCHED_OBJS) \
		$(STORE_OBJS) $(LDFLAGS) -lrocksdb -lm -lpthread
