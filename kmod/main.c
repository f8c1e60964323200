// SPDX-License-Identifier: GPL-2.0
/*
 * main.c - dbos.ko: mirrors processes, open files and sockets to userspace
 * over the generic netlink family "dbos" (see dbos_uapi.h for the protocol).
 *
 * Data flow: hooks (hooks.c for processes, files.c for fds and sockets) turn
 * events into records (record.c, fdrec.c; filtered by filter.c) in per-CPU
 * rings (buffer.c); a work item (drain.c) multicasts them in batches; the
 * family (genl.c) also answers statistics, process snapshots, file
 * snapshots (fdump.c) and the file filter (filter.c), and changes how
 * processes are scheduled (sched.c) and keeps scheduling rules (schedrules.c).
 */

#include "main.h"
#include "buffer.h"
#include "drain.h"
#include "files.h"
#include "filter.h"
#include "genl.h"
#include "hooks.h"
#include "record.h"
#include "schedrules.h"
#include "shared.h"
#include "dbos_uapi.h"

#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/random.h>
#include <net/genetlink.h>

#define DBOS_BUFFER_KB_MIN	4
#define DBOS_BUFFER_KB_MAX	65536

static unsigned int buffer_kb = 1024;
module_param(buffer_kb, uint, 0444);
MODULE_PARM_DESC(buffer_kb, "Size of each per-CPU record buffer in KiB (4..65536, default 1024)");

u64 dbos_instance __read_mostly;

static int __init dbos_init(void)
{
	int ret;

	if (buffer_kb < DBOS_BUFFER_KB_MIN || buffer_kb > DBOS_BUFFER_KB_MAX) {
		pr_err("buffer_kb=%u is not in %u..%u\n", buffer_kb,
		       DBOS_BUFFER_KB_MIN, DBOS_BUFFER_KB_MAX);
		return -EINVAL;
	}
	dbos_instance = get_random_u64();

	ret = dbos_buffers_init(buffer_kb * 1024);
	if (ret)
		goto err_buffers;
	ret = dbos_record_init();
	if (ret)
		goto err_record;
	ret = dbos_genl_init();
	if (ret)
		goto err_genl;
	dbos_drain_init();
	ret = dbos_hooks_init();
	if (ret)
		goto err_hooks;
	ret = dbos_files_init();
	if (ret)
		goto err_files;

	pr_info("loaded: instance %016llx, %u KiB per CPU buffer, %u CPUs\n",
		dbos_instance, buffer_kb, num_possible_cpus());
	return 0;

err_files:
	dbos_hooks_uninit();
	dbos_shared_uninit();
	dbos_srules_quiesce();
err_hooks:
	dbos_genl_uninit();
	dbos_drain_uninit();
	dbos_srules_uninit();	/* a command may have staged rules meanwhile */
err_genl:
	dbos_record_uninit();
err_record:
	dbos_buffers_uninit();
err_buffers:
	return ret;
}

static void __exit dbos_exit(void)
{
	dbos_files_uninit();
	dbos_hooks_uninit();
	dbos_shared_uninit();	/* no hook reads or changes the shared tables now */
	/*
	 * Whatever emits records must be gone before the drain stops for good
	 * (a later kick would re-arm it): the rules' task works, then commands
	 * (SCHED_SET, SCHED_RULES), which genl_uninit() waits for. A drain run
	 * in between finds no listeners (unregistering the family removed
	 * them) and discards what it reads.
	 */
	dbos_srules_quiesce();
	dbos_genl_uninit();
	dbos_drain_uninit();
	dbos_srules_uninit();
	dbos_filter_uninit();
	dbos_record_uninit();
	dbos_buffers_uninit();
}

module_init(dbos_init);
module_exit(dbos_exit);
MODULE_LICENSE("GPL");
/*
 * The wire protocol's version. With it modpost also records a srcversion
 * (a hash of the sources), which dbosd.service compares with the installed
 * module's to replace an old one after an upgrade.
 */
MODULE_VERSION(__stringify(DBOS_GENL_VERSION));
MODULE_DESCRIPTION("dbos: processes, open files and sockets mirrored to userspace");
MODULE_ALIAS_GENL_FAMILY(DBOS_GENL_NAME);
