# SPDX-License-Identifier: GPL-2.0
# dbserver/sql/build.mk - the SQL layer (SQLite virtual tables over the store, the schema
# declarations), its host test and the SQL benchmark.
#
#   SQL_OBJS   sql/ objects: link with $(SQL_DEPS) and $(SQL_LIBS)
#   SQL_DEPS   the layers below it: store/, and sched/ + kernel/ (UPDATE processes sends
#              SCHED_SET)
#   BENCHES    += build/bench/bench_sql (prints "name value (target ...)" lines)

SQL_OBJS   := $(B)/dbserver/sql/schema.o $(B)/dbserver/sql/vtab.o \
              $(B)/dbserver/sql/stats.o $(B)/dbserver/sql/schema_table.o \
              $(B)/dbserver/sql/schema_policy.o $(B)/dbserver/sql/schema_sched.o \
              $(B)/dbserver/sql/proc_update.o $(B)/dbserver/sql/session.o \
              $(B)/dbserver/sql/guard.o $(B)/dbserver/sql/memory.o \
              $(B)/dbserver/sql/live.o $(B)/dbserver/sql/past.o \
              $(B)/dbserver/sql/viewtab.o
SQL_DEPS   := $(SCHED_OBJS) $(KERNEL_OBJS) $(STORE_OBJS)
SQL_LIBS   := -lsqlite3 -lm $(KERNEL_LIBS) $(STORE_LIBS)

HOST_TESTS += $(B)/tests/host/test_sql
BENCHES    += $(B)/bench/bench_sql
userspace: $(B)/bench/bench_sql

$(B)/tests/host/test_sql: tests/host/test_sql.c $(SQL_OBJS) $(SQL_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(SQL_OBJS) $(SQL_DEPS) $(LDFLAGS) $(SQL_LIBS)

$(B)/bench/bench_sql: bench/bench_sql.c $(SQL_OBJS) $(SQL_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(SQL_OBJS) $(SQL_DEPS) $(LDFLAGS) $(SQL_LIBS)
