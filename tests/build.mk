# SPDX-License-Identifier: GPL-2.0
# Test builds: every tests/vm/<name>.c becomes build/tests/vm/<name> (run inside
# the test VM), every tests/vm/<name>.sh is copied there too. Host unit tests
# are added to HOST_TESTS by the layer they test (see <layer>/build.mk).

# KSELFTEST_DIR (kselftest_harness.h): from $(B)/config.mk.
VM_TEST_CFLAGS = $(CFLAGS) -I$(KSELFTEST_DIR) -Wno-sign-compare

VM_TEST_SRCS := $(wildcard tests/vm/*.c)
VM_TEST_SH   := $(wildcard tests/vm/*.sh)
VM_TESTS     += $(VM_TEST_SRCS:tests/vm/%.c=$(B)/tests/vm/%) \
                $(VM_TEST_SH:tests/vm/%.sh=$(B)/tests/vm/%.sh)

# -MMD: a test rebuilds when a header it includes (tests/vm/vm_sql.h, ...)
# changes. The .d files live outside build/tests/vm, which is packed into the VM.
$(B)/tests/vm/%: tests/vm/%.c libdbos/dbos_uapi.h $(B)/libdbos.a
	@mkdir -p $(dir $@) $(B)/tests/vm-deps
	$(CC) $(VM_TEST_CFLAGS) -MMD -MP -MF $(B)/tests/vm-deps/$*.d -MT $@ -o $@ $< \
		$(B)/libdbos.a $(LDFLAGS) -lsqlite3

-include $(VM_TEST_SRCS:tests/vm/%.c=$(B)/tests/vm-deps/%.d)

# Host tests of the build itself (a fresh machine plans the same build) and of
# the packaging (make install, the unit, the man pages, dkms.conf, debian/).
HOST_TESTS += $(B)/tests/host/test_build $(B)/tests/host/test_package
$(B)/tests/host/test_%: tests/host/test_%.sh
	@mkdir -p $(dir $@)
	install -m 0755 $< $@

$(B)/tests/vm/%.sh: tests/vm/%.sh
	@mkdir -p $(dir $@)
	install -m 0755 $< $@

# test_readme_rules and test_userland run the README's example security policy as the README
# writes it: its first ```sql block under "## Security policy in SQL", as a C string.
$(B)/tests/gen/readme_policy.h: README.md
	@mkdir -p $(dir $@)
	awk 'BEGIN { print "/* Generated from README.md by tests/build.mk: do not edit. */"; \
		     print "static const char readme_policy_sql[] =" } \
	     /^## Security policy in SQL/ { f = 1 } \
	     f && /^```sql/ { p = 1; next } \
	     p && /^```/ { done = 1; exit } \
	     p { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "\t\"%s\\n\"\n", $$0; n++ } \
	     END { if (!n || !done) exit 1; print "\t;" }' $< > $@.tmp && mv -f $@.tmp $@
$(B)/tests/vm/test_readme_rules $(B)/tests/vm/test_userland: $(B)/tests/gen/readme_policy.h
$(B)/tests/vm/test_readme_rules $(B)/tests/vm/test_userland: VM_TEST_CFLAGS += -I$(B)/tests/gen

# test_privileges checks that the README's matrix ("## Who may do what": its
# table's lines, the |---| line left out) is the one it tests, row for row.
$(B)/tests/gen/readme_matrix.h: README.md
	@mkdir -p $(dir $@)
	awk 'BEGIN { print "/* Generated from README.md by tests/build.mk: do not edit. */"; \
		     print "static const char *const readme_matrix[] = {" } \
	     /^## / { f = ($$0 == "## Who may do what") } \
	     f && /^\|/ && !/^\|[-|]+\|$$/ { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); \
					  printf "\t\"%s\",\n", $$0; n++ } \
	     END { if (!n) exit 1; print "};" }' $< > $@.tmp && mv -f $@.tmp $@
$(B)/tests/vm/test_privileges: $(B)/tests/gen/readme_matrix.h
$(B)/tests/vm/test_privileges: VM_TEST_CFLAGS += -I$(B)/tests/gen
# The same comparison at build time: the test built with a main() that only
# compares (it runs here, touching nothing), so `make` fails when they differ.
VM_TESTS += $(B)/tests/gen/privileges_readme.ok
$(B)/tests/gen/privileges_readme.ok: tests/vm/test_privileges.c $(B)/tests/gen/readme_matrix.h \
		$(B)/libdbos.a
	$(CC) $(VM_TEST_CFLAGS) -I$(B)/tests/gen -DPRIVMATRIX_README_CHECK -Wno-unused-function \
		-o $(B)/tests/gen/privileges_readme $< $(B)/libdbos.a $(LDFLAGS) -lsqlite3
	$(B)/tests/gen/privileges_readme
	@touch $@
