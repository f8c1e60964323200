# SPDX-License-Identifier: GPL-2.0
# dbserver/pgwire/build.mk - PostgreSQL's protocol on dbos sessions (issue 18). Link
# PGWIRE_OBJS into dbosd with the SQL layer and $(PGWIRE_LIBS); the endpoint (endpoint/)
# serves it on its other sockets.
#
#   proto.c     the wire protocol: startup, simple and extended query, cursors, COPY, cancel
#   auth.c      TCP: TLS and SCRAM-SHA-256 (OpenSSL)
#   pgsql.c     PostgreSQL's SQL text -> SQLite's, statement by statement
#   catalog.c   pg_catalog and information_schema from the schema registry, and functions
#   settings.c  the settings (GUCs) a connection reads and sets
#
#   PGSQL_OBJS  the dialect half (pgsql, catalog, settings): link with $(SQL_OBJS) $(SQL_DEPS)

PGSQL_OBJS  := $(B)/dbserver/pgwire/pgsql.o $(B)/dbserver/pgwire/catalog.o \
               $(B)/dbserver/pgwire/settings.o
PGWIRE_OBJS := $(B)/dbserver/pgwire/proto.o $(B)/dbserver/pgwire/auth.o $(PGSQL_OBJS)
PGWIRE_LIBS := -lssl -lcrypto

# The dialect and the catalogues on a real session, with the queries real clients send.
HOST_TESTS += $(B)/tests/host/test_pgsql

$(B)/tests/host/test_pgsql: tests/host/test_pgsql.c $(PGSQL_OBJS) $(SQL_OBJS) $(SQL_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(PGSQL_OBJS) $(SQL_OBJS) $(SQL_DEPS) $(LDFLAGS) \
		$(SQL_LIBS)

# Real clients (libpq, psql, psycopg, postgres_fdw) against dbosd's SQL side with its
# PostgreSQL sockets.
HOST_TESTS += $(B)/tests/host/test_pgwire
PGWIRE_TEST_OBJS := $(POLICY_TEST_OBJS) $(ENDPOINT_OBJS) $(PGWIRE_OBJS)

$(B)/tests/host/test_pgwire: tests/host/test_pgwire.c $(PGWIRE_TEST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -I/usr/include/postgresql -o $@ $< $(PGWIRE_TEST_OBJS) \
		$(LDFLAGS) $(SQL_LIBS) $(PGWIRE_LIBS) -lpq

# Host benchmark: dbosd through libpq vs through libdbos vs a real PostgreSQL 15 (connect,
# SELECT * of 100,000 rows, a prepared key lookup).
BENCHES += $(B)/bench/bench_pgwire
userspace: $(B)/bench/bench_pgwire

$(B)/bench/bench_pgwire: bench/bench_pgwire.c $(PGWIRE_TEST_OBJS) $(B)/libdbos.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -I/usr/include/postgresql -o $@ $< $(PGWIRE_TEST_OBJS) \
		$(B)/libdbos.a $(LDFLAGS) $(SQL_LIBS) $(PGWIRE_LIBS) -lpq

# The PostgreSQL protocol fuzzer: the same composition, mutated frontend messages.
# Short form in `make check`; `make fuzz-pgwire` runs DBOS_FUZZ_PG_MESSAGES=1000000.
HOST_TESTS += $(B)/tests/host/test_fuzz_pgwire

$(B)/tests/host/test_fuzz_pgwire: tests/host/test_fuzz_pgwire.c $(PGWIRE_TEST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -I/usr/include/postgresql -o $@ $< $(PGWIRE_TEST_OBJS) \
		$(LDFLAGS) $(SQL_LIBS) $(PGWIRE_LIBS) -lpq
