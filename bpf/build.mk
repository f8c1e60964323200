# SPDX-License-Identifier: GPL-2.0
# bpf/build.mk - the BPF LSM programs (build/bpf/dbos_lsm.bpf.o) and their skeleton
# (build/bpf/dbos_lsm.skel.h), which dbosd's enforcer (dbserver/kernel/enforce.c) embeds.
#
#   BPF_LIBS  what linking the enforcer needs
#
# vmlinux.h comes from the test VM's kernel (scripts/vmlinux-btf.sh), not the host's.

BPF_CLANG  ?= clang
BPFTOOL    ?= bpftool
BPF_CFLAGS := -O2 -g -Wall -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 \
              -I$(B)/bpf -I. -Ilibdbos
BPF_LIBS   := -lbpf -lelf -lz

# DBOS_KERNEL_IMAGE: from $(B)/config.mk (scripts/deps.sh --make-config).
$(B)/bpf/vmlinux.h: scripts/vmlinux-btf.sh $(DBOS_KERNEL_IMAGE)
	scripts/vmlinux-btf.sh -i $(DBOS_KERNEL_IMAGE) -o $@

$(B)/bpf/dbos_lsm.bpf.o: bpf/dbos_lsm.bpf.c libdbos/dbos_lsm.h $(B)/bpf/vmlinux.h
	@mkdir -p $(dir $@)
	$(BPF_CLANG) $(BPF_CFLAGS) -c -o $@ $<

$(B)/bpf/dbos_lsm.skel.h: $(B)/bpf/dbos_lsm.bpf.o
	$(BPFTOOL) gen skeleton $< name dbos_lsm > $@.tmp && mv -f $@.tmp $@

userspace: $(B)/bpf/dbos_lsm.bpf.o
