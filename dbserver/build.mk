# SPDX-License-Identifier: GPL-2.0
# dbserver/build.mk - dbosd (build/bin/dbosd). Each layer is one folder with its own
# build.mk, included here lowest first (a layer's rules name the objects of the layers
# below it), in the order the data flows:
#
#   kernel/  client of dbos.ko (generic netlink) and of the BPF LSM (enforcer)
#   intake/  events and dumps from kernel/ -> mirror/
#   mirror/  records -> live rows + history in store/
#   store/   RocksDB
#   sql/     SQLite virtual tables over store/, the schema declarations
#   policy/  rules -> compiled generations -> kernel/; the policy tables in sql/'s connections
#   sched/   scheduling values as text, who asked (used by sql/, mirror/, policy/)
#   endpoint/  the Unix socket clients connect to
#   pgwire/  PostgreSQL's protocol on the endpoint's second socket
#   fleet/   the host's side of a fleet of dbosd on NATS

include dbserver/store/build.mk
include dbserver/sched/build.mk
include dbserver/kernel/build.mk
include dbserver/sql/build.mk
include dbserver/mirror/build.mk
include dbserver/intake/build.mk
include dbserver/policy/build.mk
include dbserver/endpoint/build.mk
include dbserver/pgwire/build.mk
include dbserver/fleet/build.mk

DBOSD_OBJS := $(B)/dbserver/main.o $(INTAKE_LOOP_OBJS) $(INTAKE_OBJS) $(MIRROR_OBJS) \
              $(POLICY_OBJS) $(COMPILE_OBJS) $(ENFORCE_OBJS) $(ENDPOINT_OBJS) $(PGWIRE_OBJS) \
              $(SQL_OBJS) $(SQL_DEPS) $(FLEET_OBJS)

BINS += $(B)/bin/dbosd

# What a fleet member says runs on it (the membership entry's version=).
$(B)/dbserver/main.o: CPPFLAGS += -DDBOS_RELEASE='"$(VERSION)"'

$(B)/bin/dbosd: $(DBOSD_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(SQL_LIBS) $(BPF_LIBS) $(PGWIRE_LIBS) $(FLEET_LIBS) -lpthread
