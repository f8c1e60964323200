# SPDX-License-Identifier: GPL-2.0
# libdbos: the client protocol, the client library (build/libdbos.a), the
# `dbos` CLI (build/bin/dbos) and their host test (build/tests/host/test_client).

LIBDBOS_OBJS := $(B)/libdbos/dbos_proto.o $(B)/libdbos/dbos_client.o
LIBDBOS      := $(B)/libdbos.a
BINS         += $(B)/bin/dbos

$(LIBDBOS): $(LIBDBOS_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/bin/dbos: $(B)/libdbos/dbos.o $(LIBDBOS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) -ledit -lsqlite3

# The client test runs the endpoint in-process and the real CLI binary.
HOST_TESTS += $(B)/tests/host/test_client

$(B)/tests/host/test_client: tests/host/test_client.c \
		$(B)/dbserver/endpoint/endpoint.o $(LIBDBOS) | $(B)/bin/dbos
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< \
		$(B)/dbserver/endpoint/endpoint.o $(LIBDBOS) $(LDFLAGS) -lsqlite3
