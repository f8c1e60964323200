# SPDX-License-Identifier: GPL-2.0
# packaging/build.mk - installing dbos: `make install` / `make uninstall` (for
# people without packages), `make install-dkms` (the module's source for
# DKMS), `make deb` (the Debian packages, scripts/deb.sh). The system files
# live in packaging/, the man pages in docs/man/, the Debian packaging in
# debian/ (docs/ARCHITECTURE.md, "Installation").
#
# Paths (GNU conventions; DESTDIR is prepended to every one of them). The
# systemd, sysusers, tmpfiles and modules-load directories default to
# $(PREFIX)/lib/..., which systemd also searches under /usr/local. The Debian
# build (debian/rules) sets PREFIX=/usr, the multiarch LIBDIR and
# SYSTEMDUNITDIR=/lib/systemd/system (where bookworm's dh_installsystemd looks).
PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
SBINDIR        ?= $(PREFIX)/sbin
LIBDIR         ?= $(PREFIX)/lib
INCLUDEDIR     ?= $(PREFIX)/include
MANDIR         ?= $(PREFIX)/share/man
PKGCONFIGDIR   ?= $(LIBDIR)/pkgconfig
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR    ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR    ?= $(PREFIX)/lib/tmpfiles.d
MODULESLOADDIR ?= $(PREFIX)/lib/modules-load.d
# DKMS only looks in /usr/src.
DKMSDIR        ?= /usr/src/dbos-$(VERSION)

# What the module's source is, for DKMS: the top Kbuild, kmod/ and the uapi
# header kmod includes (tests/host/test_build.sh builds exactly this set).
DKMS_SRC := Kbuild kmod/Kbuild $(sort $(wildcard kmod/*.c kmod/*.h)) libdbos/dbos_uapi.h

# Everything `make install` installs is built by `make programs` (no module, no tests).
PROGRAMS := $(B)/bin/dbosd $(B)/bin/dbos $(B)/bin/dbos-fleet-sink $(LIBDBOS_SO)
programs: $(PROGRAMS)

# Files whose content names an install path are filled in here, at install time.
SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g'

.PHONY: install uninstall install-dkms uninstall-dkms deb
install: $(PROGRAMS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(MODULESLOADDIR)
	install -m 0755 $(B)/bin/dbosd $(DESTDIR)$(SBINDIR)/dbosd
	install -m 0755 $(B)/bin/dbos $(DESTDIR)$(BINDIR)/dbos
	install -m 0755 $(B)/bin/dbos-fleet-sink $(DESTDIR)$(BINDIR)/dbos-fleet-sink
	install -m 0644 $(LIBDBOS_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIBDBOS_SO)) $(DESTDIR)$(LIBDIR)/$(LIBDBOS_SONAME)
	ln -sf $(LIBDBOS_SONAME) $(DESTDIR)$(LIBDIR)/libdbos.so
	install -m 0644 libdbos/dbos_client.h libdbos/dbos_proto.h $(DESTDIR)$(INCLUDEDIR)/
	$(SUBST) libdbos/dbos.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/dbos.pc
	install -m 0644 docs/man/dbos.1 $(DESTDIR)$(MANDIR)/man1/dbos.1
	install -m 0644 docs/man/dbos-fleet-sink.1 $(DESTDIR)$(MANDIR)/man1/dbos-fleet-sink.1
	install -m 0644 docs/man/dbosd.8 $(DESTDIR)$(MANDIR)/man8/dbosd.8
	$(SUBST) packaging/dbosd.service.in > $(DESTDIR)$(SYSTEMDUNITDIR)/dbosd.service
	install -m 0644 packaging/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/dbos.conf
	install -m 0644 packaging/tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/dbos.conf
	install -m 0644 packaging/modules-load.conf $(DESTDIR)$(MODULESLOADDIR)/dbos.conf

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/dbosd $(DESTDIR)$(BINDIR)/dbos $(DESTDIR)$(BINDIR)/dbos-fleet-sink \
		$(DESTDIR)$(LIBDIR)/$(notdir $(LIBDBOS_SO)) $(DESTDIR)$(LIBDIR)/$(LIBDBOS_SONAME) \
		$(DESTDIR)$(LIBDIR)/libdbos.so $(DESTDIR)$(INCLUDEDIR)/dbos_client.h \
		$(DESTDIR)$(INCLUDEDIR)/dbos_proto.h $(DESTDIR)$(PKGCONFIGDIR)/dbos.pc \
		$(DESTDIR)$(MANDIR)/man1/dbos.1 $(DESTDIR)$(MANDIR)/man1/dbos-fleet-sink.1 \
		$(DESTDIR)$(MANDIR)/man8/dbosd.8 \
		$(DESTDIR)$(SYSTEMDUNITDIR)/dbosd.service $(DESTDIR)$(SYSUSERSDIR)/dbos.conf \
		$(DESTDIR)$(TMPFILESDIR)/dbos.conf $(DESTDIR)$(MODULESLOADDIR)/dbos.conf

# The module's source where DKMS wants it (then: dkms install dbos/$(VERSION)).
# Needs no build and no config: it only copies.
install-dkms:
	install -d $(DESTDIR)$(DKMSDIR)
	tar -cf - $(DKMS_SRC) | tar -xf - -C $(DESTDIR)$(DKMSDIR) --no-same-owner
	sed 's/#MODULE_VERSION#/$(VERSION)/g' packaging/dkms.conf > $(DESTDIR)$(DKMSDIR)/dkms.conf

uninstall-dkms:
	rm -rf $(DESTDIR)$(DKMSDIR)

# The .debs, from a clean copy of the tracked tree, into $(B)/deb/ (lintian's
# verdict at the end).
deb:
	scripts/deb.sh $(B)/deb
