# SPDX-License-Identifier: GPL-2.0
# dbserver/policy/build.mk - the policy compiler (rules -> BPF rule maps) and its host test.
# Included from dbserver/build.mk.
#
#   COMPILE_OBJS  policy/ compiler objects: link with -lsqlite3
#   HOST_TESTS    += build/tests/host/test_policy_compile

COMPILE_OBJS := $(B)/dbserver/policy/compile.o $(B)/dbserver/policy/parse.o \
                $(B)/dbserver/policy/image.o $(B)/dbserver/policy/literal.o \
                $(B)/dbserver/policy/sched_terms.o

HOST_TESTS += $(B)/tests/host/test_policy_compile

# The compiler runs subqueries under the session's guard (sql/guard.o and the
# memory accounting it reports, sql/memory.o: both need only SQLite).
GUARD_OBJS := $(B)/dbserver/sql/guard.o $(B)/dbserver/sql/memory.o

$(B)/tests/host/test_policy_compile: tests/host/test_policy_compile.c $(COMPILE_OBJS) $(GUARD_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(COMPILE_OBJS) $(GUARD_OBJS) $(LDFLAGS) -lsqlite3
