# SPDX-License-Identifier: GPL-2.0
# libdbos: the client protocol, the client library (build/libdbos.a for the
# project's own programs and tests; build/libdbos.so.1.0.0 for everyone else),
# the `dbos` CLI (build/bin/dbos), dbos-fleet-sink (build/bin/dbos-fleet-sink: the
# fleet's history into PostgreSQL, with libpq) and their host test
# (build/tests/host/test_client; the sink's is test_fleet).
#
# The shared library exports exactly the functions dbos_client.h declares, at
# version LIBDBOS_1 (libdbos/libdbos.map; tests/host/test_package.sh checks the
# two agree). SONAME libdbos.so.1: bump LIBDBOS_SOMAJOR (and the Debian package
# name libdbos1) on an incompatible change of dbos_client.h. The CLI keeps
# linking libdbos.a: it also uses the framing helpers of dbos_proto.h, which the
# shared library does not export, and build/bin/dbos runs from the build tree
# and in the test VM without a library path.

LIBDBOS_OBJS := $(B)/libdbos/dbos_proto.o $(B)/libdbos/dbos_client.o $(B)/libdbos/fleet_proto.o \
                $(B)/libdbos/dbos_fleet.o $(B)/libdbos/fleet_policy.o
LIBDBOS      := $(B)/libdbos.a
BINS         += $(B)/bin/dbos $(B)/bin/dbos-fleet-sink

$(LIBDBOS): $(LIBDBOS_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

LIBDBOS_SOMAJOR := 1
LIBDBOS_SONAME  := libdbos.so.$(LIBDBOS_SOMAJOR)
LIBDBOS_SO      := $(B)/$(LIBDBOS_SONAME).0.0
LIBDBOS_PIC     := $(LIBDBOS_OBJS:$(B)/libdbos/%.o=$(B)/libdbos/pic/%.o)

$(B)/libdbos/pic/%.o: libdbos/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -MMD -MP -c -o $@ $<

# The real file, then the SONAME link (what ldconfig makes) and the linker's name.
$(LIBDBOS_SO): $(LIBDBOS_PIC) libdbos/libdbos.map
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(LIBDBOS_SONAME) \
		-Wl,--version-script=libdbos/libdbos.map -Wl,--no-undefined \
		-o $@ $(LIBDBOS_PIC) $(LDFLAGS) -lnats -lsqlite3
	ln -sf $(notdir $@) $(B)/$(LIBDBOS_SONAME)
	ln -sf $(LIBDBOS_SONAME) $(B)/libdbos.so

userspace: $(LIBDBOS_SO)

$(B)/bin/dbos: $(B)/libdbos/dbos.o $(LIBDBOS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) -ledit -lsqlite3 -lnats

# libpq-fe.h: where Debian's libpq-dev puts it (test_build: no command at parse time)
$(B)/libdbos/fleet_sink.o: CPPFLAGS += -I/usr/include/postgresql

$(B)/bin/dbos-fleet-sink: $(B)/libdbos/fleet_sink.o $(LIBDBOS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) -lpq -lnats -lsqlite3

# The client test runs the endpoint in-process and the real CLI binary.
HOST_TESTS += $(B)/tests/host/test_client

$(B)/tests/host/test_client: tests/host/test_client.c \
		$(B)/dbserver/endpoint/endpoint.o $(LIBDBOS) | $(B)/bin/dbos
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< \
		$(B)/dbserver/endpoint/endpoint.o $(LIBDBOS) $(LDFLAGS) -lsqlite3
