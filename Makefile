# SPDX-License-Identifier: GPL-2.0
# dbos top-level build: `make` builds everything, `make check` runs every test,
# `make run` boots the test VM with dbos.ko + dbosd and opens a SQL shell,
# `make bench` prints the benchmark figures.
# The debug test kernel (KASAN, lockdep, kmemleak, KUnit) is built once from
# Debian's linux-source-6.1 + kernel/debug.config and cached outside the clone
# (`make debug-kernel`); `make module-debug` builds dbos.ko and the KUnit
# modules for it under build/kmod-debug/.
#
# Each layer keeps its own rules in <dir>/build.mk; they add their outputs to
# BINS, HOST_TESTS and VM_TESTS. Userspace outputs go under build/; the module
# is built by kbuild in kmod/.

B        := build
KDIR     ?= $(shell scripts/deps.sh --kdir)
CC       ?= gcc
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
            -Wno-missing-field-initializers -D_GNU_SOURCE -I. -Ilibdbos -pthread
LDFLAGS  += -pthread

BINS       :=
HOST_TESTS :=
VM_TESTS   :=

.PHONY: all deps module clean check check-host check-vm check-kunit run bench \
        debug-kernel module-debug
all: deps module userspace

deps:
	@scripts/deps.sh

include libdbos/build.mk
include bpf/build.mk
include dbserver/build.mk
include tests/build.mk
include bench/build.mk

userspace: $(BINS) $(HOST_TESTS) $(VM_TESTS)
.PHONY: userspace

module: deps
	$(MAKE) -C $(KDIR) M=$(CURDIR)/kmod modules

# The debug kernel: built (~25-40 min on 2 cores, niced) or reused from the
# cache; scripts/build-debug-kernel.sh --print-dir says where.
debug-kernel: deps
	@scripts/build-debug-kernel.sh >/dev/null

module-debug: debug-kernel
	@scripts/build-kmod-debug.sh

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# KERNEL=debian|debug limits the VM suites to one kernel (default: both).
KERNEL ?=
check: all module-debug
	@tests/run-all.sh

check-host: deps userspace
	@tests/run-all.sh --host-only

check-vm: all $(if $(filter debian,$(KERNEL)),,module-debug)
	@tests/run-all.sh --vm-only $(if $(KERNEL),--kernel $(KERNEL))

check-kunit: module-debug
	@tests/run-all.sh --vm-only --kernel debug kunit

run: all
	@scripts/dbos-vm

bench: all
	@scripts/bench.sh

clean:
	rm -rf $(B)
	-$(MAKE) -C $(KDIR) M=$(CURDIR)/kmod clean 2>/dev/null
