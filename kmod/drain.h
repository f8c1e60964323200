/* SPDX-License-Identifier: GPL-2.0 */
/*
 * drain.h - moving records from the per-CPU rings to the events group.
 */
#ifndef _DBOS_DRAIN_H
#define _DBOS_DRAIN_H

#include <linux/types.h>

/**
 * struct dbos_drain_stats - what the drain did with the records it read
 * @sent: records multicast to at least one listener
 * @send_failed: records in messages a listener could not take (ENOBUFS)
 * @unheard: records drained while nobody listened
 * @batches: DBOS_CMD_RECORDS messages multicast
 */
struct dbos_drain_stats {
	u64 sent;
	u64 send_failed;
	u64 unheard;
	u64 batches;
};

void dbos_drain_init(void);
void dbos_drain_uninit(void);
void dbos_drain_kick(void);
void dbos_drain_read_stats(struct dbos_drain_stats *stats);

#endif /* _DBOS_DRAIN_H */
