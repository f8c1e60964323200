# SPDX-License-Identifier: GPL-2.0
# dbserver/store/build.mk - the store layer (RocksDB: one column family per table, WAL) and its host test.
#
#   STORE_OBJS  store/ objects: link with $(STORE_LIBS)

STORE_OBJS := $(B)/dbserver/store/store.o $(B)/dbserver/store/row.o $(B)/dbserver/store/chunk.o \
	      $(B)/dbserver/store/changes.o
STORE_LIBS := -lrocksdb

HOST_TESTS += $(B)/tests/host/test_store

$(B)/tests/host/test_store: tests/host/test_store.c $(STORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(STORE_OBJS) $(LDFLAGS) $(STORE_LIBS)
