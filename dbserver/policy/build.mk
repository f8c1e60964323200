# SPDX-License-Identifier: GPL-2.0
# dbserver/policy/build.mk - the policy layer: the condition compiler (rules -> BPF rule maps
# and sched terms), the manager (versions, commits, refresh, decisions), the policy tables,
# and their host tests.
#
#   COMPILE_OBJS  the compiler: link with -lsqlite3
#   POLICY_OBJS   the manager and its tables (need COMPILE_OBJS, SQL_OBJS + SQL_DEPS, mirror/history.o)

COMPILE_OBJS := $(B)/dbserver/policy/compile.o $(B)/dbserver/policy/parse.o \
                $(B)/dbserver/policy/image.o $(B)/dbserver/policy/literal.o \
                $(B)/dbserver/policy/sched_terms.o
POLICY_OBJS  := $(B)/dbserver/policy/policy.o $(B)/dbserver/policy/decisions.o \
                $(B)/dbserver/policy/tables.o $(B)/dbserver/policy/sched_rules.o \
                $(B)/dbserver/policy/simulate.o

HOST_TESTS += $(B)/tests/host/test_policy_compile $(B)/tests/host/test_policy

# The compiler runs subqueries under the session's guard (sql/guard.o and the
# memory accounting it reports, sql/memory.o: both need only SQLite).
GUARD_OBJS := $(B)/dbserver/sql/guard.o $(B)/dbserver/sql/memory.o

$(B)/tests/host/test_policy_compile: tests/host/test_policy_compile.c $(COMPILE_OBJS) $(GUARD_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(COMPILE_OBJS) $(GUARD_OBJS) $(LDFLAGS) -lsqlite3

# The manager with the real compiler, store and SQL; the kernel is an in-test enforcer.
POLICY_TEST_OBJS := $(POLICY_OBJS) $(COMPILE_OBJS) $(SQL_OBJS) $(B)/dbserver/mirror/history.o \
                    $(SQL_DEPS)

$(B)/tests/host/test_policy: tests/host/test_policy.c $(POLICY_TEST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(POLICY_TEST_OBJS) $(LDFLAGS) $(SQL_LIBS)
