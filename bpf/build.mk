# SPDX-License-Identifier: GPL-2.0
# bpf/build.mk - the BPF LSM programs (build/bpf/dbos_lsm.bpf.o), their skeleton
# (build/bpf/dbos_lsm.skel.h), dbosd's enforcer object and its VM test.
#
#   ENFORCE_OBJS  dbserver/policy/enforce.o (load/pin/adopt, generations, decisions)
#   BPF_LIBS      what linking ENFORCE_OBJS needs
#
# vmlinux.h comes from the test VM's kernel (scripts/vmlinux-btf.sh), not the host's.

BPF_CLANG  ?= clang
BPFTOOL    ?= bpftool
BPF_CFLAGS := -O2 -g -Wall -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 \
              -I$(B)/bpf -I. -Ilibdbos
BPF_LIBS   := -lbpf -lelf -lz
ENFORCE_OBJS := $(B)/dbserver/policy/enforce.o

# DBOS_KERNEL_IMAGE: from $(B)/config.mk (scripts/deps.sh --make-config).
$(B)/bpf/vmlinux.h: scripts/vmlinux-btf.sh $(DBOS_KERNEL_IMAGE)
	scripts/vmlinux-btf.sh -i $(DBOS_KERNEL_IMAGE) -o $@

$(B)/bpf/dbos_lsm.bpf.o: bpf/dbos_lsm.bpf.c libdbos/dbos_lsm.h $(B)/bpf/vmlinux.h
	@mkdir -p $(dir $@)
	$(BPF_CLANG) $(BPF_CFLAGS) -c -o $@ $<

$(B)/bpf/dbos_lsm.skel.h: $(B)/bpf/dbos_lsm.bpf.o
	$(BPFTOOL) gen skeleton $< name dbos_lsm > $@.tmp && mv -f $@.tmp $@

$(ENFORCE_OBJS): CFLAGS += -I$(B)/bpf
$(ENFORCE_OBJS): $(B)/bpf/dbos_lsm.skel.h

userspace: $(B)/bpf/dbos_lsm.bpf.o

# The enforcer's VM test links the enforcer itself (tests/build.mk's pattern
# rule only knows libdbos.a); an explicit rule wins over the pattern.
$(B)/tests/vm/test_enforce: tests/vm/test_enforce.c $(ENFORCE_OBJS) $(B)/libdbos.a
	@mkdir -p $(dir $@)
	$(CC) $(VM_TEST_CFLAGS) -I$(B)/bpf -o $@ $< $(ENFORCE_OBJS) \
		$(LDFLAGS) $(BPF_LIBS) -lsqlite3
