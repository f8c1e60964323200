/* SPDX-License-Identifier: GPL-2.0 */
/* null_kernel.h - a kernel for the host benchmarks: dbos.ko's version, instance INSTANCE (the includer's), no process or file to dump. */
#ifndef DBOS_BENCH_NULL_KERNEL_H
#define DBOS_BENCH_NULL_KERNEL_H

#include <errno.h>
#include <string.h>

#include "dbserver/kernel/kernel.h"

static int k_stats(void *arg, struct kernel_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->version = DBOS_GENL_VERSION;
	out->instance = INSTANCE;
	return 0;
}

static int k_dump(void *arg, kernel_msg_fn fn, void *ctx)
{
	return 0;
}

static int k_get_proc(void *arg, uint32_t pid, kernel_msg_fn fn, void *ctx)
{
	return -ESRCH;
}

static const struct kernel_ops k_ops = {
	.get_stats = k_stats, .dump_procs = k_dump, .get_proc = k_get_proc,
	.dump_files = k_dump,	/* no files either */
};

#endif /* DBOS_BENCH_NULL_KERNEL_H */
