# SPDX-License-Identifier: GPL-2.0
# dbserver/pgwire/build.mk - PostgreSQL's wire protocol over the SQL layer: the SQL dialect
# (pgsql.c), pg_catalog and information_schema (catalog.c), the settings (settings.c),
# and their host test. Included by the top Makefile after dbserver/build.mk.
#
#   PGWIRE_OBJS  pgwire/ objects: link with $(SQL_OBJS) $(SQL_DEPS) and $(SQL_LIBS)

PGWIRE_OBJS := $(B)/dbserver/pgwire/pgsql.o $(B)/dbserver/pgwire/catalog.o \
               $(B)/dbserver/pgwire/settings.o

HOST_TESTS += $(B)/tests/host/test_pgsql

$(B)/tests/host/test_pgsql: tests/host/test_pgsql.c $(PGWIRE_OBJS) $(SQL_OBJS) $(SQL_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(PGWIRE_OBJS) $(SQL_OBJS) $(SQL_DEPS) $(LDFLAGS) \
		$(SQL_LIBS)
