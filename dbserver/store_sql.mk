# SPDX-License-Identifier: GPL-2.0
# dbserver/store_sql.mk - build rules for dbosd's storage (RocksDB) and SQL (SQLite virtual table)
# layers, their host tests and the SQL benchmark. Included from dbserver/build.mk.
#
#   STORE_OBJS  store/ objects: link with $(STORE_LIBS)
#   SQL_OBJS    sql/ objects (need STORE_OBJS): link with $(SQL_LIBS)
#   HOST_TESTS  += build/tests/host/test_store build/tests/host/test_sql
#   BENCHES     += build/bench/bench_sql (prints "name value (target ...)" lines)

STORE_OBJS := $(B)/dbserver/store/store.o $(B)/dbserver/store/row.o
SQL_OBJS   := $(B)/dbserver/sql/schema.o $(B)/dbserver/sql/vtab.o \
              $(B)/dbserver/sql/stats.o $(B)/dbserver/sql/schema_table.o \
              $(B)/dbserver/sql/schema_policy.o $(B)/dbserver/sql/schema_sched.o \
              $(B)/dbserver/sql/simulate.o $(B)/dbserver/sql/session.o \
              $(B)/dbserver/sql/guard.o $(B)/dbserver/sql/memory.o
STORE_LIBS := -lrocksdb
SQL_LIBS   := -lsqlite3 -lm $(STORE_LIBS)

HOST_TESTS += $(B)/tests/host/test_store $(B)/tests/host/test_sql
BENCHES    += $(B)/bench/bench_sql
userspace: $(B)/bench/bench_sql

$(B)/tests/host/test_store: tests/host/test_store.c $(STORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(STORE_OBJS) $(LDFLAGS) $(STORE_LIBS)

$(B)/tests/host/test_sql: tests/host/test_sql.c $(SQL_OBJS) $(STORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(SQL_OBJS) $(STORE_OBJS) $(LDFLAGS) $(SQL_LIBS)

$(B)/bench/bench_sql: bench/bench_sql.c $(SQL_OBJS) $(STORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(SQL_OBJS) $(STORE_OBJS) $(LDFLAGS) $(SQL_LIBS)
