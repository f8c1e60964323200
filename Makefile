# SPDX-License-Identifier: GPL-2.0
# dbos top-level build: `make` builds everything, `make check` runs every test,
# `make run` boots the test VM with dbos.ko + dbosd and opens a SQL shell,
# `make bench` prints the benchmark figures, `make fuzz` runs the long forms of
# the fuzzers, `make install` / `make deb` install dbos or build its Debian
# packages (packaging/build.mk).
# The debug test kernel (KASAN, lockdep, kmemleak, KUnit) is built once from
# Debian's linux-source-6.1 + kernel/debug.config and cached outside the clone
# (`make debug-kernel`); `make module-debug` builds dbos.ko and the KUnit
# modules for it under build/kmod-debug/.
#
# Each layer keeps its own rules in <dir>/build.mk; they add their outputs to
# BINS, HOST_TESTS and VM_TESTS. Userspace outputs go under build/; the module
# is built by kbuild in kmod/.

B        := build

# What the installed Debian packages provide (DBOS_KDIR, DBOS_KERNEL_IMAGE,
# NL_CFLAGS, NL_LIBS, KSELFTEST_DIR) comes from $(B)/config.mk, which
# scripts/deps.sh writes after installing whatever is missing. It is remade on
# every run (cheap when nothing is missing) but only rewritten when a value
# changed (a new cloud kernel, say); GNU make then re-reads all makefiles, so no
# value is ever taken from a machine where the packages are not installed yet.
# `make clean` installs nothing, and neither do the goals that only copy files
# (`make deb` has its own dependencies: scripts/deb.sh).
CONFIG_FREE_GOALS := clean deb install-dkms uninstall-dkms uninstall
ifneq ($(if $(MAKECMDGOALS),$(filter-out $(CONFIG_FREE_GOALS),$(MAKECMDGOALS)),all),)
include $(B)/config.mk
endif
$(B)/config.mk: FORCE
	@mkdir -p $(dir $@)
	@scripts/deps.sh --make-config > $@.tmp
	@if grep -qv '^\(#.*\|[A-Z_]* := .*\)$$' $@.tmp; then \
		echo "$@.tmp: not only make assignments:" >&2; grep -v '^\(#.*\|[A-Z_]* := .*\)$$' $@.tmp | head -3 >&2; \
		rm -f $@.tmp; exit 1; fi
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi
FORCE:
.PHONY: FORCE

# The release: the packages' version (debian/changelog says the same), dbos.pc's.
VERSION  := 0.1.0

KDIR     ?= $(DBOS_KDIR)
CC       ?= gcc
CFLAGS   ?= -O2 -g
# DBOS_WERROR=y (the project's own builds) makes warnings errors, in userspace
# and in the module; the Debian package build sets it empty: a compiler nobody
# tested yet must not stop a distribution build over a warning.
DBOS_WERROR ?= y
CFLAGS   += -std=gnu11 -Wall -Wextra $(if $(filter y,$(DBOS_WERROR)),-Werror) -Wno-unused-parameter \
            -Wno-missing-field-initializers -D_GNU_SOURCE -I. -Ilibdbos -pthread
LDFLAGS  += -pthread
# Host and VM tests: the kselftest harness (KSELFTEST_DIR from $(B)/config.mk).
HOST_TEST_CFLAGS = $(CFLAGS) -I$(KSELFTEST_DIR) -Wno-sign-compare -MMD -MP

BINS       :=
HOST_TESTS :=
VM_TESTS   :=

.PHONY: all deps module programs clean check check-host check-vm check-kunit run bench \
        debug-kernel module-debug fuzz fuzz-proto fuzz-proto-asan fuzz-pgwire \
        fuzz-pgwire-asan fuzz-genl crash-loop
all: module userspace

# Packages are installed before any makefile is read (see $(B)/config.mk).
deps:

include libdbos/build.mk
include bpf/build.mk
include dbserver/build.mk
include tests/build.mk
include bench/build.mk
include packaging/build.mk

userspace: $(BINS) $(HOST_TESTS) $(VM_TESTS)
.PHONY: userspace

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR)/kmod DBOS_WERROR=$(DBOS_WERROR) modules

# The debug kernel: built (~25-40 min on 2 cores, niced) or reused from the
# cache; scripts/build-debug-kernel.sh --print-dir says where.
debug-kernel:
	@scripts/build-debug-kernel.sh >/dev/null

module-debug: debug-kernel
	@scripts/build-kmod-debug.sh

# CPPFLAGS: empty here; the package build's come from dpkg-buildflags (_FORTIFY_SOURCE).
$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# KERNEL=debian|debug limits the VM suites to one kernel (default: both).
KERNEL ?=
check: all module-debug deb
	@tests/run-all.sh

check-host: userspace
	@tests/run-all.sh --host-only

check-vm: all $(if $(filter debian,$(KERNEL)),,module-debug) $(if $(filter debug,$(KERNEL)),,deb)
	@tests/run-all.sh --vm-only $(if $(KERNEL),--kernel $(KERNEL))

check-kunit: module-debug
	@tests/run-all.sh --vm-only --kernel debug kunit

# DISK=FILE: the store on a disk image that outlives the VM (dbos-vm --disk).
# IMAGE=debian: a real Debian 12 userland with systemd instead of busybox
# (dbos-vm --image debian; the image is built once, a few minutes).
run: all
	@scripts/dbos-vm$(if $(DISK), --disk '$(DISK)')$(if $(IMAGE), --image '$(IMAGE)')

bench: all
	@scripts/bench.sh

# The long forms of the fuzzers (issue 14; `make check` runs short ones), each
# printing what it sent per second:
#   fuzz-proto  FUZZ_FRAMES mutated client frames against dbosd's endpoint and
#               SQL sessions on this machine (tests/host/test_fuzz_proto)
#   fuzz-proto-asan  FUZZ_ASAN_FRAMES of them, built with AddressSanitizer
#   fuzz-pgwire FUZZ_PG_MESSAGES mutated PostgreSQL frontend messages against
#               dbosd's PostgreSQL socket (tests/host/test_fuzz_pgwire)
#   fuzz-pgwire-asan  FUZZ_ASAN_PG_MESSAGES of them, built with AddressSanitizer
#   fuzz-genl   FUZZ_MESSAGES mutated generic netlink messages against dbos.ko,
#               as root and as an unprivileged user, in the test VM on
#               FUZZ_KERNEL (default: the debug kernel: KASAN, lockdep,
#               kmemleak; any report fails the run) (tests/vm/test_fuzz_genl)
# FUZZ_SEED: the seed (default: the time, printed).
FUZZ_FRAMES   ?= 1000000
FUZZ_PG_MESSAGES ?= 1000000
FUZZ_MESSAGES ?= 1000000
FUZZ_KERNEL   ?= debug
FUZZ_SEED     ?=
fuzz: fuzz-proto fuzz-proto-asan fuzz-pgwire fuzz-pgwire-asan fuzz-genl

fuzz-proto: userspace
	DBOS_FUZZ_FRAMES=$(FUZZ_FRAMES) DBOS_FUZZ_SEED=$(or $(FUZZ_SEED),$$(date +%s)) \
		$(B)/tests/host/test_fuzz_proto

# The short form again, everything built with AddressSanitizer (in $(B)/asan):
# memory errors and, once the endpoint has stopped, leaks fail it.
FUZZ_ASAN_FRAMES ?= 20000
fuzz-proto-asan:
	CFLAGS="-O2 -g -fsanitize=address -fno-omit-frame-pointer" LDFLAGS=-fsanitize=address \
		$(MAKE) B=$(B)/asan $(B)/asan/tests/host/test_fuzz_proto
	DBOS_FUZZ_FRAMES=$(FUZZ_ASAN_FRAMES) DBOS_FUZZ_SEED=$(or $(FUZZ_SEED),$$(date +%s)) \
		$(B)/asan/tests/host/test_fuzz_proto

fuzz-pgwire: userspace
	DBOS_FUZZ_PG_MESSAGES=$(FUZZ_PG_MESSAGES) DBOS_FUZZ_SEED=$(or $(FUZZ_SEED),$$(date +%s)) \
		$(B)/tests/host/test_fuzz_pgwire

FUZZ_ASAN_PG_MESSAGES ?= 200000
fuzz-pgwire-asan:
	CFLAGS="-O2 -g -fsanitize=address -fno-omit-frame-pointer" LDFLAGS=-fsanitize=address \
		$(MAKE) B=$(B)/asan $(B)/asan/tests/host/test_fuzz_pgwire
	DBOS_FUZZ_PG_MESSAGES=$(FUZZ_ASAN_PG_MESSAGES) \
		DBOS_FUZZ_SEED=$(or $(FUZZ_SEED),$$(date +%s)) $(B)/asan/tests/host/test_fuzz_pgwire

# Without dbosd (--bare: it is not what is fuzzed, and under KASAN it takes
# minutes to start); the guest unloads the module and scans for leaks after.
# The VM's time limit: 100 messages/s at the least, both users, plus the boot.
fuzz-genl: all $(if $(filter debian,$(FUZZ_KERNEL)),,module-debug)
	@mkdir -p $(B)/test-logs
	DBOS_TEST_KERNEL=$(FUZZ_KERNEL) DBOS_TEST_FUZZ_MESSAGES=$(FUZZ_MESSAGES) \
	DBOS_TEST_FUZZ_SEED=$(or $(FUZZ_SEED),$$(date +%s)) \
		scripts/dbos-vm --kernel $(FUZZ_KERNEL) --bare \
		--timeout $$(( $(FUZZ_MESSAGES) / 50 + 900 )) \
		--log $(B)/test-logs/fuzz-genl.$(FUZZ_KERNEL).serial.log \
		'insmod /dbos/dbos.ko && /dbos/tests/test_fuzz_genl'

# The long form of the crash loop (issue 14; `make check` runs 20 cycles on
# Debian's kernel, 4 on the debug kernel): CRASH_CYCLES kills of dbosd at
# random moments under load, in the test VM on CRASH_KERNEL (tests/vm/test_crash_loop).
CRASH_CYCLES ?= 100
CRASH_KERNEL ?= debian
crash-loop: all $(if $(filter debian,$(CRASH_KERNEL)),,module-debug)
	@mkdir -p $(B)/test-logs
	DBOS_TEST_KERNEL=$(CRASH_KERNEL) DBOS_TEST_CRASH_CYCLES=$(CRASH_CYCLES) \
		scripts/dbos-vm --kernel $(CRASH_KERNEL) --timeout $$(( $(CRASH_CYCLES) * 60 + 600 )) \
		--log $(B)/test-logs/crash-loop.$(CRASH_KERNEL).serial.log /dbos/tests/test_crash_loop

clean:
	rm -rf $(B)
	-kdir=$(or $(KDIR),$$(scripts/deps.sh --kdir)); \
	[ -z "$$kdir" ] || $(MAKE) -C "$$kdir" M=$(CURDIR)/kmod clean 2>/dev/null
