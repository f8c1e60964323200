# SPDX-License-Identifier: GPL-2.0
# dbserver/sched/build.mk - scheduling values as text (CPU lists, policy names) and who asked
# for a change (SCHED_SET tags). No libraries; the requests are the kernel layer's.
#
#   SCHED_OBJS  sched/ objects

SCHED_OBJS := $(B)/dbserver/sched/text.o $(B)/dbserver/sched/who.o
