# SPDX-License-Identifier: GPL-2.0
# dbserver/pgwire: PostgreSQL's protocol on dbos sessions (issue 18). Link PGWIRE_OBJS into
# dbosd with the SQL layer; the endpoint (endpoint/) serves it on its second socket.
#
#   proto.c     the wire protocol: startup, simple and extended query, cursors, COPY, cancel
#   pgsql.c     PostgreSQL's SQL text -> SQLite's, statement by statement
#   catalog.c   pg_catalog and information_schema from the schema registry, and functions
#   settings.c  the settings (GUCs) a connection reads and sets
#   auth.c      TCP: TLS and SCRAM-SHA-256 (OpenSSL)

PGWIRE_OBJS := $(B)/dbserver/pgwire/proto.o $(B)/dbserver/pgwire/pgsql.o \
               $(B)/dbserver/pgwire/catalog.o $(B)/dbserver/pgwire/settings.o \
               $(B)/dbserver/pgwire/auth.o
PGWIRE_LIBS := -lssl -lcrypto

# Real clients (libpq, psql) against dbosd's SQL side with its PostgreSQL socket.
HOST_TESTS += $(B)/tests/host/test_pgwire
PGWIRE_TEST_OBJS := $(POLICY_TEST_OBJS) $(ENDPOINT_OBJS) $(PGWIRE_OBJS)

$(B)/tests/host/test_pgwire: tests/host/test_pgwire.c $(PGWIRE_TEST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -I/usr/include/postgresql -o $@ $< $(PGWIRE_TEST_OBJS) \
		$(LDFLAGS) $(SQL_LIBS) $(PGWIRE_LIBS) -lpq
