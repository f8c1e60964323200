# SPDX-License-Identifier: GPL-2.0
# dbserver/kernel/build.mk - the kernel client layer: generic netlink to dbos.ko (the events
# group, intake's commands, the scheduling commands) and the BPF LSM enforcer, with the
# enforcer's VM test.
#
#   KERNEL_OBJS   kernel/ netlink objects: link with $(KERNEL_LIBS)
#   ENFORCE_OBJS  kernel/enforce.o (load/pin/adopt, generations, decisions): link with $(BPF_LIBS)
#
# NL_CFLAGS, NL_LIBS: from $(B)/config.mk; the BPF skeleton and BPF_LIBS: bpf/build.mk.

KERNEL_OBJS  := $(B)/dbserver/kernel/genl.o $(B)/dbserver/kernel/module.o \
                $(B)/dbserver/kernel/sched.o $(B)/dbserver/kernel/live.o
KERNEL_LIBS  := $(NL_LIBS)
ENFORCE_OBJS := $(B)/dbserver/kernel/enforce.o

$(KERNEL_OBJS): CFLAGS += $(NL_CFLAGS)
$(ENFORCE_OBJS): CFLAGS += -I$(B)/bpf
$(ENFORCE_OBJS): $(B)/bpf/dbos_lsm.skel.h

# The enforcer's VM test links the enforcer alone (tests/build.mk's pattern
# rule only knows libdbos.a); an explicit rule wins over the pattern.
$(B)/tests/vm/test_enforce: tests/vm/test_enforce.c $(ENFORCE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(VM_TEST_CFLAGS) -I$(B)/bpf -o $@ $< $(ENFORCE_OBJS) $(LDFLAGS) $(BPF_LIBS)
