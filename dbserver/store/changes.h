/* SPDX-License-Identifier: GPL-2.0 */
/* changes.h - the live tables' change log and checkpoints: every put and delete of a live row with the seq and time of what caused it, so that a table can be rebuilt as of any moment. */
#ifndef DBOS_STORE_CHANGES_H
#define DBOS_STORE_CHANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbserver/store/store.h"

/*
 * The live tables that time travel covers. A row key is a uint64: the
 * table's store key read as one big-endian number (processes: pid; fds:
 * pid << 32 | fd; sockets: inode).
 */
enum changes_table {
	CHANGES_PROCESSES,
	CHANGES_FDS,
	CHANGES_SOCKETS,
	CHANGES__TABLES
};

/* The column family of table @t, and the length of its store keys. */
enum store_cf changes_table_cf(enum changes_table t);
size_t changes_key_len(enum changes_table t);

/*
 * Layout (STORE_CF_CHANGES, STORE_CF_CHECKPOINTS).
 *
 * The log of table t is a sequence of entries, one per commit that changed
 * the table, numbered from 0 in commit order: key [t][be64 n]. An entry
 * holds the commit's changes of that table in the order the mirror made
 * them, each with the seq and time (CLOCK_REALTIME, ns) of the record or
 * snapshot that made it:
 *
 *   byte 0       CHANGES_TAG
 *   le32         number of changes
 *   le64, le64   the smallest seq and time among them
 *   le64, le64   the largest seq and time logged up to and with this entry
 *   le64         the changes logged up to and with this entry
 *   per change:  u8 op (CHANGE_PUT, CHANGE_DEL), le64 key, le64 seq,
 *                le64 time, and for a put varint length + the row (row.h)
 *
 * A checkpoint of table t is the whole table after entry pos - 1 (the state
 * replay starts from at entry pos): its rows in key order in parts of about
 * CHANGES_PART_BYTES, key ['D'][t][be64 pos][be32 part], each "le32 count,
 * then per row le64 key, varint length, row"; and its index entry, key
 * ['I'][t][be64 pos]: le64 seq and le64 time (the largest logged before
 * it: every row it holds is that old or older), le64 total changes logged
 * before it, le64 rows, le32 number of parts. The index entry is written in the same
 * batch as the parts, so a checkpoint exists whole or not at all.
 *
 * Per key, the mirror changes a row only with records at least as new as
 * the row (the ordering rule), so a key's changes come in seq order and
 * "the last change with seq <= q" is the row as of q. The table as of q is
 * the latest checkpoint whose seq is <= q, then every change with seq <= q
 * of the entries after it, up to the first entry whose smallest seq is
 * above q. As of a time t, the same with times.
 */
#define CHANGES_TAG		0xC5
#define CHANGE_PUT		1
#define CHANGE_DEL		2
#define CHANGES_PART_BYTES	(64u << 10)
#define CHANGES_CHECKPOINT_MIN	65536	/* changes between checkpoints, at least ... */
#define CHANGES_CHECKPOINT_ROWS	4	/* ... and this many times the table's rows */

/* ---- writer (the mirror's) ---------------------------------------------- */

struct changes_entry {		/* one table's changes of the commit being built */
	char *b;
	size_t len, cap;
	uint32_t count;
	uint64_t min_seq, min_time;
};

struct changes_ckpt {		/* a stored checkpoint */
	uint64_t pos, seq, time, total, rows;
	uint32_t parts;
};

struct changes_tab {
	struct changes_entry cur;
	uint64_t next;			/* number of the next entry */
	uint64_t run_seq, run_time;	/* largest logged, with cur */
	uint64_t total;			/* changes logged, with cur */
	struct changes_ckpt *ckpts;	/* oldest first */
	size_t nckpts;
};

struct changes_log {
	struct store *st;
	bool on;			/* retention > 0 */
	uint64_t retention;		/* changes kept per table, about */
	uint64_t min_interval;		/* CHANGES_CHECKPOINT_MIN (tests lower it) */
	struct changes_tab tab[CHANGES__TABLES];
	uint64_t checkpoints, trimmed, lost;	/* counters */
};

/*
 * changes_open - reads where each table's log ends and its checkpoints; a
 * table without a checkpoint gets one now, of its stored rows, as of @seq
 * and @time_ns (the newest moment the store holds: a new store's start, or
 * an older store's first start with a change log), so that a moment before
 * it is refused rather than answered from rows that may not have existed.
 * @retention: changes kept per table (0: no log at all). 0, or -1 and *@err.
 */
int changes_open(struct changes_log *c, struct store *st, uint64_t retention,
		 uint64_t seq, uint64_t time_ns, char **err);
void changes_close(struct changes_log *c);

/* changes_put/del - log that row @key of table @t was set to @row / deleted by what had @seq, @time_ns. */
void changes_put(struct changes_log *c, enum changes_table t, uint64_t key, uint64_t seq,
		 uint64_t time_ns, const void *row, size_t len);
void changes_del(struct changes_log *c, enum changes_table t, uint64_t key, uint64_t seq,
		 uint64_t time_ns);

/* changes_flush - adds this commit's entries to @b (again, whole, if a failed commit is retried). */
void changes_flush(struct changes_log *c, struct store_batch *b);

/*
 * changes_committed - after @b was written: the entries are stored. Writes
 * the checkpoints that are due (each in its own batch) and trims what
 * retention no longer keeps. 0, or -1 and *@err (a failed checkpoint is
 * tried again after the next commit).
 */
int changes_committed(struct changes_log *c, char **err);

/* changes_pending - the store writes waiting for the commit: one entry per table changed. */
size_t changes_pending(const struct changes_log *c);

/*
 * Windows where events were lost. Every re-sync (a loss dbosd detected, a
 * start after it was down, a module reload) repairs the tables with a dump;
 * between the last record before it and the end of that dump they may be
 * wrong. META key "lost" + be64 first seq -> le64 last seq, le64 first time,
 * le64 last time (a moment in (first, last] is inside).
 */
void changes_lost_put(struct store_batch *b, uint64_t from_seq, uint64_t to_seq,
		      uint64_t from_time, uint64_t to_time);

/*
 * changes_lost_at - whether @bound (a seq or a time, @kind) lies in a window
 * where events were lost: 1 and the window, 0, or -1 and *@err.
 */
int changes_lost_at(struct store *st, int kind, uint64_t bound, uint64_t *from_seq,
		    uint64_t *to_seq, uint64_t *from_time, uint64_t *to_time, char **err);

/* ---- reader (as-of queries) ---------------------------------------------- */

struct changes_row {
	uint64_t key;
	char *row;			/* malloc'ed */
	size_t len;
};

/* A table as of a moment: its rows in key order. */
struct changes_state {
	struct changes_row *rows;
	size_t n;
	uint64_t replayed;		/* changes applied after the checkpoint */
};

enum changes_bound {
	CHANGES_BY_SEQ,			/* every change with seq <= bound */
	CHANGES_BY_TIME,		/* every change with time <= bound (ns) */
};

/*
 * changes_asof - table @t as it was at @bound. 0 and *@out (free with
 * changes_state_free()); 1 when @bound is older than the oldest checkpoint
 * kept, with *@oldest_seq and *@oldest_time set to it; -1 and *@err.
 */
int changes_asof(struct store *st, enum changes_table t, enum changes_bound kind,
		 uint64_t bound, struct changes_state *out, uint64_t *oldest_seq,
		 uint64_t *oldest_time, char **err);
void changes_state_free(struct changes_state *s);

#endif /* DBOS_STORE_CHANGES_H */
