# SPDX-License-Identifier: GPL-2.0
# dbserver/endpoint: the client endpoint of dbosd. Link ENDPOINT_OBJS into
# dbosd together with -lsqlite3 (dbos_proto.o holds the shared frame code).

ENDPOINT_OBJS := $(B)/dbserver/endpoint/endpoint.o $(B)/libdbos/dbos_proto.o
