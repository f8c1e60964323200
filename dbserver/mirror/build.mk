# SPDX-License-Identifier: GPL-2.0
# dbserver/mirror/build.mk - the mirror layer: kernel records -> live rows + history, with the
# ordering rules. Its tests are intake's (fed as the kernel feeds it), but for the
# history writer's own (test_history: chunks, late rows, retention, read back through SQL).
#
#   MIRROR_OBJS  mirror/ objects: link with $(MIRROR_DEPS) and $(STORE_LIBS)
#   MIRROR_DEPS  sched/ (CPU lists, who asked) and store/

MIRROR_OBJS := $(B)/dbserver/mirror/mirror.o $(B)/dbserver/mirror/proctab.o \
               $(B)/dbserver/mirror/history.o $(B)/dbserver/mirror/files.o \
               $(B)/dbserver/mirror/sockets.o $(B)/dbserver/mirror/fdtab.o \
               $(B)/dbserver/mirror/schedrec.o
MIRROR_DEPS := $(SCHED_OBJS) $(STORE_OBJS)

HOST_TESTS += $(B)/tests/host/test_history

$(B)/tests/host/test_history: tests/host/test_history.c $(B)/dbserver/mirror/history.o \
		$(SQL_OBJS) $(SQL_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_TEST_CFLAGS) -o $@ $< $(B)/dbserver/mirror/history.o $(SQL_OBJS) $(SQL_DEPS) \
		$(LDFLAGS) $(SQL_LIBS)
