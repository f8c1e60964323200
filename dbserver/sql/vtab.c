// SPDX-License-Identifier: GPL-2.0
/* vtab.c - the stored dbos tables as SQLite virtual tables (read-only but for UPDATE processes). */

/*
 * USAGE
 *
 *   Every table of schema_tables[] is readable under its own name in every
 *   connection that sql_open() returns; nothing needs to be created first:
 *
 *     SELECT pid, parent, name FROM processes WHERE pid = 1;
 *     SELECT * FROM process_events WHERE seq > 1000 AND seq <= 2000;
 *     SELECT * FROM process_events ORDER BY seq DESC LIMIT 10;
 *     SELECT p.name, e.event FROM process_events e JOIN processes p USING (pid);
 *     SELECT * FROM process_open_files WHERE pid = 42;          -- a prefix scan
 *     SELECT path FROM process_open_files WHERE pid = 42 AND fd = 3;  -- a lookup
 *
 *   Writes fail: "table process_events is read-only: it mirrors the kernel".
 *   processes takes UPDATE of nice, sched_policy, sched_priority and cpus,
 *   which changes the real processes (proc_update.c):
 *
 *     UPDATE processes SET nice = 10 WHERE name = 'make';
 *
 * HOW IT WORKS
 *
 *   Each table is an eponymous-only virtual table module named after it
 *   (xCreate is NULL, xConnect declares the columns from schema.h). A table
 *   lives in one RocksDB column family, keyed by the big-endian value of its
 *   key column, so the store's key order is the key column's numeric order.
 *   The key is also the rowid.
 *
 *   A key may have two parts (process_open_files: pid, fd; stored as be32
 *   pid followed by be32 fd): the store key, read as one big-endian uint64,
 *   is then pid << 32 | fd, and the rowid. Constraints on part 0 bound that
 *   whole key; constraints on part 1 are used only when part 0 is fixed by
 *   an equality ("pid = ?" is a prefix scan, "pid = ? AND fd = ?" a point
 *   lookup, "pid = ? AND fd >= ?" a narrower scan). The rowid stands for the
 *   key only in tables with a one-part key.
 *
 *   xBestIndex looks only at constraints and ORDER BY terms on key columns
 *   (or rowid): equality on every part becomes a point lookup (store_get),
 *   >, >=, <, <= and equality on a prefix become the bounds of one iterator,
 *   and ORDER BY key [DESC] (the key parts in order, parts fixed by an
 *   equality may be left out) is consumed by iterating forward or backward,
 *   so "ORDER BY seq DESC LIMIT 10" reads ten rows however long the history.
 *   Everything else is left to SQLite, which also turns "key IN (...)" into
 *   repeated equality lookups.
 *
 *   idxNum bits, per key part p (shifted left by 8 * p; argv[] holds the
 *   values of the bits present, part 0 first, in this order):
 *
 *     IDX_EQ      0x01   part = argv       (all parts: a point lookup)
 *     IDX_LO_GT   0x02   part >  argv      lower bound (at most one of LO_*)
 *     IDX_LO_GE   0x04   part >= argv
 *     IDX_HI_LT   0x08   part <  argv      upper bound (at most one of HI_*)
 *     IDX_HI_LE   0x10   part <= argv
 *     IDX_DESC    0x20   iterate from the highest key down (part 0's byte only)
 *
 *   idxStr "live 0x.." (processes): the DBOS_LIVE_F_* parts of the kernel's
 *   answer that the statement's live columns need (colUsed), so that a query
 *   naming state has the kernel read no thread, mm, path or cgroup.
 *
 *   xFilter turns those values into an inclusive range [lo, hi] per part with
 *   SQLite's comparison rules (text that looks like a number is that number,
 *   a real bound rounds to the integers it admits, NULL matches nothing, any
 *   other text or blob sorts after every integer), composes the key range
 *   (part 1's range applies only under a fixed part 0), then positions the
 *   iterator. The cursor creates its iterator on the first scan and reuses
 *   it for later xFilters (the inner side of a join is filtered once per
 *   outer row); point lookups (store_get) read the latest committed rows.
 *
 *   No client holds a snapshot for long. A RocksDB iterator pins its
 *   snapshot (memtables and table files that compaction and retention's
 *   range deletes would free) and counts as a user of the store, which a
 *   reopen after a full disk waits for (store.c). So a cursor lets go of
 *   its iterator (1) when its statement is about to wait for a client to
 *   read rows (sql_park, which the endpoint calls before it blocks), and (2)
 *   once the iterator is ITER_MAX_AGE old (checked every ITER_CHECK_ROWS
 *   rows and at each xFilter). It keeps its current row in its own memory
 *   and, when the statement goes on, seeks a fresh iterator to the next key
 *   after it. A scan therefore reads one snapshot while it is young and not
 *   waiting; across a release it visits each key at most once, in key
 *   order, sees the rows as they are when it reaches them (rows deleted
 *   meanwhile are skipped), and a forward scan stops at the last key that
 *   existed at its first release, so a slow reader never chases a growing
 *   history.
 *
 *   The history tables are stored in chunks (store/chunk.h: many rows under
 *   the seq of the first). There the iterator walks chunks and the cursor
 *   walks the rows of the current chunk, decoded into an index (ents[]) when
 *   the iterator reaches it: a seek to seq s is a SeekForPrev to the chunk
 *   holding s, then a search in its index, so a point lookup, a range and
 *   "ORDER BY seq DESC LIMIT 10" read one or two chunks more than they
 *   return rows, and SQLite sees the same rows, keys and order as with one
 *   key per row. A point lookup in a chunked table is such a seek, on a
 *   fresh iterator (the latest committed rows, as store_get).
 *
 *   Rows are decoded lazily: the first xColumn of a non-key column copies
 *   the value into the cursor's scratch buffer and decodes it there
 *   (row_decode) into the cursor's values array, NUL-terminating each text
 *   in place (see decode_row); xColumn hands values to SQLite with
 *   SQLITE_TRANSIENT, and SQLite copies them into registers it reuses from
 *   row to row. A full scan allocates nothing per row.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/sql/live.h"
#include "dbserver/sql/sql_int.h"
#include "dbserver/store/changes.h"
#include "dbserver/store/chunk.h"
#include "dbserver/store/row.h"

#define IDX_EQ		0x01
#define IDX_LO_GT	0x02
#define IDX_LO_GE	0x04
#define IDX_HI_LT	0x08
#define IDX_HI_LE	0x10
#define IDX_DESC	0x20
#define IDX_PART_SHIFT	8
#define IDX_AS_OF	(1 << 24)	/* as_of = argv (after the key parts' values) */
#define IDX_AS_OF_SEQ	(1 << 25)	/* as_of_seq = argv (after as_of's) */

/* A cursor's iterator is replaced once this old (ns), checked every ITER_CHECK_ROWS rows. */
#define ITER_MAX_AGE	(100 * 1000 * 1000LL)
#define ITER_CHECK_ROWS	256

static atomic_uint_fast64_t rows_read;

uint64_t vtab_rows_read(void)
{
	return atomic_load(&rows_read);
}

/* What xCreate/xConnect receive as pAux: one per table per connection. */
struct table_aux {
	const struct sql_env *env;
	const struct schema_table *t;
	struct sql_session who;
	struct sql_conn *sc;		/* one reference, dropped with the module */
};

/* A stored table in one connection. */
struct table_vtab {
	sqlite3_vtab base;		/* must be first */
	sqlite3 *db;			/* its connection (as_of's times are read with julianday()) */
	const struct sql_session *who;	/* its client (notices); the module's aux holds it */
	struct store *st;
	const struct schema_table *t;
	struct proc_writer *w;		/* processes only: UPDATE (proc_update.c) */
	struct sql_conn *sc;		/* its session: the list of open cursors */
};

/* A cursor: a point lookup or one bounded walk of the table's key range. */
struct table_cursor {
	sqlite3_vtab_cursor base;	/* must be first */
	const struct schema_table *t;
	struct store *st;
	struct store_iter *it;		/* kept across xFilter calls; NULL until needed or released */
	int64_t it_born;		/* when @it was created (CLOCK_MONOTONIC ns) */
	unsigned int steps;		/* rows stepped since the last age check */
	struct sql_conn *sc;		/* its session's list: */
	struct table_cursor *next, **pprev;
	char *held;			/* the current row while @it is released */
	size_t held_cap;
	char *point;			/* value found by a point lookup (store_get) */
	size_t point_len;
	bool point_mode;		/* this filter is a point lookup */
	bool eof;
	bool desc;
	bool decoded;			/* vals[] holds the current row */
	bool chunked;			/* the table is stored in chunks (see the top) */
	struct chunk_ent *ents;		/* chunked: the rows of the iterator's chunk */
	size_t ents_cap, nents, ci;	/* ... and the current one, ents[ci] */
	uint64_t lo, hi;		/* inclusive key range of this filter */
	uint64_t key;			/* current row */
	const char *val;
	size_t vlen;
	uint64_t nread;			/* rows read, not yet added to rows_read */
	char *scratch;			/* copy of the row with NUL-terminated text */
	size_t scratch_cap;
	bool terminated;		/* vals[] point into scratch, terminated */
	struct live_batch *live;	/* the live columns of the rows read next (processes) */
	uint32_t live_parts;		/* DBOS_LIVE_F_* to ask for: what the statement's live columns need */
	/* as of a moment (IDX_AS_OF*): the table rebuilt from the change log */
	bool past_mode;			/* this filter reads past.rows */
	bool past_valid;		/* past holds the table at (past_kind, past_bound) */
	int past_kind;			/* enum changes_bound */
	uint64_t past_bound;
	struct changes_state past;
	size_t pi;			/* the current row, past.rows[pi] */
	sqlite3_value *as_of, *as_of_seq;	/* what the hidden columns show */
	struct row_value vals[];	/* t->ncols */
};

/* @clock's time in ns. */
static int64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t bytes_max(int bytes)
{
	return bytes >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * bytes)) - 1;
}

/* The largest whole key of @t. */
static uint64_t key_max(const struct schema_table *t)
{
	return bytes_max(schema_key_bytes(t));
}

static void key_encode(const struct schema_table *t, unsigned char k[8], uint64_t v)
{
	if (schema_key_bytes(t) == 4)
		store_key_be32(k, (uint32_t)v);
	else
		store_key_be64(k, v);
}

/* Value of key part @p in whole key @key (part 0 in the high bits). */
static uint64_t key_part_value(const struct schema_table *t, int p, uint64_t key)
{
	int shift = 0;

	for (int i = p + 1; i < t->nkeys; i++)
		shift += 8 * t->key[i].bytes;
	return (shift >= 64 ? 0 : key >> shift) & bytes_max(t->key[p].bytes);
}

/* Whole key from one value per part. */
static uint64_t key_compose(const struct schema_table *t, const uint64_t *v)
{
	uint64_t k = 0;

	for (int i = 0; i < t->nkeys; i++) {
		int bits = 8 * t->key[i].bytes;

		k = (bits >= 64 ? 0 : k << bits) | (v[i] & bytes_max(t->key[i].bytes));
	}
	return k;
}

/*
 * Turns constraint value @v into a number the way SQLite compares it with an
 * INTEGER column. Returns SQLITE_INTEGER (*@i set), SQLITE_FLOAT (*@d set),
 * SQLITE_NULL, or SQLITE_TEXT for text and blobs that are not numbers (which
 * sort after every number).
 */
static int constraint_number(sqlite3_value *v, int64_t *i, double *d)
{
	switch (sqlite3_value_numeric_type(v)) {
	case SQLITE_INTEGER:
		*i = sqlite3_value_int64(v);
		return SQLITE_INTEGER;
	case SQLITE_FLOAT:
		*d = sqlite3_value_double(v);
		if (isnan(*d))
			return SQLITE_NULL;
		/* An integral real inside the int64 range is that integer. */
		if (*d >= -9223372036854775808.0 && *d < 9223372036854775808.0 &&
		    *d == (double)(int64_t)*d) {
			*i = (int64_t)*d;
			return SQLITE_INTEGER;
		}
		return SQLITE_FLOAT;
	case SQLITE_NULL:
		return SQLITE_NULL;
	default:
		return SQLITE_TEXT;
	}
}

/* Clamps a signed bound into key space; false when no key can satisfy it. */
static bool lower_key(uint64_t max, int64_t v, uint64_t *lo)
{
	if (v < 0)
		v = 0;
	if ((uint64_t)v > max)
		return false;
	if ((uint64_t)v > *lo)
		*lo = (uint64_t)v;
	return true;
}

static bool upper_key(uint64_t max, int64_t v, uint64_t *hi)
{
	if (v < 0)
		return false;
	if ((uint64_t)v < *hi)
		*hi = (uint64_t)v;
	return true;
}

/* Narrows [*lo, *hi] by "part OP v" (part values 0..@t); false when none can satisfy it. */
static bool apply_bound(uint64_t max, int bit, sqlite3_value *v,
			uint64_t *lo, uint64_t *hi)
{
	int64_t i = 0;
	double d = 0;
	int type = constraint_number(v, &i, &d);

	if (type == SQLITE_NULL)
		return false;
	switch (bit) {
	case IDX_EQ:
		return type == SQLITE_INTEGER && lower_key(max, i, lo) && upper_key(max, i, hi);
	case IDX_LO_GT:
	case IDX_LO_GE:
		if (type == SQLITE_TEXT)
			return false;
		if (type == SQLITE_FLOAT) {
			if (d >= 9223372036854775807.0)
				return false;
			if (d < -9223372036854775807.0)
				return true;
			/* key > 2.5 and key >= 2.5 both mean key >= 3 */
			return lower_key(max, (int64_t)ceil(d), lo);
		}
		if (bit == IDX_LO_GT) {
			if (i == INT64_MAX)
				return false;
			i++;
		}
		return lower_key(max, i, lo);
	default:	/* IDX_HI_LT, IDX_HI_LE */
		if (type == SQLITE_TEXT)
			return true;
		if (type == SQLITE_FLOAT) {
			if (d <= -9223372036854775807.0)
				return false;
			if (d >= 9223372036854775807.0)
				return true;
			return upper_key(max, (int64_t)floor(d), hi);
		}
		if (bit == IDX_HI_LT) {
			if (i == INT64_MIN)
				return false;
			i--;
		}
		return upper_key(max, i, hi);
	}
}

/* ---- the module ---- */

/*
 * xConnect: declares the table's columns. Eponymous-only, so this is called
 * the first time a statement names the table in a connection.
 */
static int table_connect(sqlite3 *db, void *paux, int argc,
			 const char *const *argv, sqlite3_vtab **out, char **errp)
{
	const struct table_aux *aux = paux;
	struct table_vtab *vt;
	char *decl = sql_create_table(aux->t, 0);
	int rc;

	if (!decl)
		return SQLITE_NOMEM;
	rc = sqlite3_declare_vtab(db, decl);
	sqlite3_free(decl);
	if (rc != SQLITE_OK)
		return rc;
	/* Reading has no side effects: usable from views and triggers too. */
	sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
	vt = sqlite3_malloc(sizeof(*vt));
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof(*vt));
	vt->db = db;
	vt->who = &aux->who;
	vt->st = aux->env->st;
	vt->t = aux->t;
	vt->sc = aux->sc;
	if (aux->t == &schema_processes &&
	    !(vt->w = proc_writer_new(aux->env->st, &aux->who))) {
		sqlite3_free(vt);
		return SQLITE_NOMEM;
	}
	*out = &vt->base;
	return SQLITE_OK;
}

/* xDisconnect: the connection closes (or the schema is reset). */
static int table_disconnect(sqlite3_vtab *pvt)
{
	proc_writer_free(((struct table_vtab *)pvt)->w);
	sqlite3_free(pvt);
	return SQLITE_OK;
}

/* The key part that column @col is, or -1 (-1 is the rowid: the key of a one-part key). */
static int key_part(const struct schema_table *t, int col)
{
	if (col == -1)
		return t->nkeys == 1 ? 0 : -1;
	for (int p = 0; p < t->nkeys; p++)
		if (t->key[p].col == col)
			return p;
	return -1;
}

/* The column of hidden argument @name of @t ("as_of", "as_of_seq"), or -1. */
static int arg_col(const struct schema_table *t, const char *name)
{
	for (int col = 0; col < t->ncols; col++)
		if (t->cols[col].hidden && !strcmp(t->cols[col].name, name))
			return col;
	return -1;
}

/* The change log of @t (store/changes.h), or -1 when it has none. */
static int past_table(const struct schema_table *t)
{
	switch (t->cf) {
	case STORE_CF_PROCESSES:
		return CHANGES_PROCESSES;
	case STORE_CF_FDS:
		return CHANGES_FDS;
	case STORE_CF_SOCKETS:
		return CHANGES_SOCKETS;
	default:
		return -1;
	}
}

/* The constraints xBestIndex uses on one key part (indexes into aConstraint, -1: none). */
struct part_use {
	int eq, lo, hi, lo_bit, hi_bit;
};

/* The DBOS_LIVE_F_* part of the kernel's answer live column @col of processes needs (0: always read). */
static uint32_t live_part(int col)
{
	switch (col) {
	case PROCESSES_CWD:
		return DBOS_LIVE_F_CWD;
	case PROCESSES_ROOT:
		return DBOS_LIVE_F_ROOT;
	case PROCESSES_CGROUP_PATH:
		return DBOS_LIVE_F_CGROUP;
	case PROCESSES_ON_DISK:
	case PROCESSES_WIRED_SIZE:
	case PROCESSES_RESIDENT_SIZE:
	case PROCESSES_TOTAL_SIZE:
		return DBOS_LIVE_F_MM;
	case PROCESSES_USER_TIME:
	case PROCESSES_SYSTEM_TIME:
		return DBOS_LIVE_F_CPU;
	case PROCESSES_DISK_BYTES_READ:
	case PROCESSES_DISK_BYTES_WRITTEN:
		return DBOS_LIVE_F_IO;
	}
	return 0;
}

/*
 * xBestIndex: picks the access path (see the idxNum bits above) and tells
 * SQLite what it costs; constraints used are omitted from SQLite's own checks
 * because xFilter applies them exactly.
 */
static int table_best_index(sqlite3_vtab *pvt, sqlite3_index_info *info)
{
	const struct table_vtab *vt = (const struct table_vtab *)pvt;
	const struct schema_table *t = vt->t;
	struct part_use u[SCHEMA_MAX_KEYS];
	/* an estimate: up to CHUNK_MAX_ROWS rows per chunk */
	double rows = (double)store_estimate_keys(vt->st, t->cf) *
		      (store_cf_chunked(t->cf) ? CHUNK_MAX_ROWS : 1);
	int argv = 0, nfixed = 0, nused;
	uint32_t parts = 0;

	if (rows < 1)
		rows = 1;
	for (int p = 0; p < t->nkeys; p++)
		u[p] = (struct part_use){ -1, -1, -1, 0, 0 };
	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *c = &info->aConstraint[i];
		int p = c->usable ? key_part(t, c->iColumn) : -1;

		if (p < 0)
			continue;
		switch (c->op) {
		case SQLITE_INDEX_CONSTRAINT_EQ:
		case SQLITE_INDEX_CONSTRAINT_IS:	/* key parts are never NULL */
			if (u[p].eq < 0)
				u[p].eq = i;
			break;
		case SQLITE_INDEX_CONSTRAINT_GT:
		case SQLITE_INDEX_CONSTRAINT_GE:
			if (u[p].lo < 0) {
				u[p].lo = i;
				u[p].lo_bit = c->op == SQLITE_INDEX_CONSTRAINT_GT ? IDX_LO_GT : IDX_LO_GE;
			}
			break;
		case SQLITE_INDEX_CONSTRAINT_LT:
		case SQLITE_INDEX_CONSTRAINT_LE:
			if (u[p].hi < 0) {
				u[p].hi = i;
				u[p].hi_bit = c->op == SQLITE_INDEX_CONSTRAINT_LT ? IDX_HI_LT : IDX_HI_LE;
			}
			break;
		}
	}
	/* Parts fixed by an equality, from part 0; the next part may be bounded. */
	while (nfixed < t->nkeys && u[nfixed].eq >= 0)
		nfixed++;
	nused = nfixed < t->nkeys ? nfixed + 1 : nfixed;

	info->idxNum = 0;
	for (int p = 0; p < nused; p++) {
		int shift = IDX_PART_SHIFT * p;

		if (u[p].eq >= 0) {
			info->idxNum |= IDX_EQ << shift;
			info->aConstraintUsage[u[p].eq].argvIndex = ++argv;
			info->aConstraintUsage[u[p].eq].omit = 1;
			/* A fixed prefix of a two-part key: guess 32 rows per value. */
			rows = p + 1 < t->nkeys && rows > 32 ? 32 : rows;
			continue;
		}
		/* Each bound is guessed to keep a quarter of the rows. */
		if (u[p].lo >= 0) {
			info->idxNum |= u[p].lo_bit << shift;
			info->aConstraintUsage[u[p].lo].argvIndex = ++argv;
			info->aConstraintUsage[u[p].lo].omit = 1;
			rows /= 4;
		}
		if (u[p].hi >= 0) {
			info->idxNum |= u[p].hi_bit << shift;
			info->aConstraintUsage[u[p].hi].argvIndex = ++argv;
			info->aConstraintUsage[u[p].hi].omit = 1;
			rows /= 4;
		}
	}
	/*
	 * as_of / as_of_seq: the table as of a moment. Their values come after
	 * the key parts'; a plan where one is given but not usable (its value
	 * would come from a table joined later) is refused, so that SQLite
	 * picks an order where it is.
	 */
	{
		int cols[2] = { arg_col(t, "as_of"), arg_col(t, "as_of_seq") };
		int bits[2] = { IDX_AS_OF, IDX_AS_OF_SEQ };
		bool unusable = false;

		for (int k = 0; k < 2; k++) {
			int use = -1;

			for (int i = 0; cols[k] >= 0 && i < info->nConstraint; i++) {
				const struct sqlite3_index_constraint *c = &info->aConstraint[i];

				if (c->iColumn != cols[k] || c->op != SQLITE_INDEX_CONSTRAINT_EQ)
					continue;
				if (!c->usable)
					unusable = true;
				else if (use < 0)
					use = i;
			}
			if (use < 0)
				continue;
			info->idxNum |= bits[k];
			info->aConstraintUsage[use].argvIndex = ++argv;
			info->aConstraintUsage[use].omit = 1;
		}
		if (unusable && !(info->idxNum & (IDX_AS_OF | IDX_AS_OF_SEQ)))
			return SQLITE_CONSTRAINT;
	}
	for (int col = 0; col < t->ncols; col++)
		if (t->cols[col].live && (info->colUsed & (1ULL << (col < 63 ? col : 63))))
			parts |= live_part(col);
	if (info->idxNum & (IDX_AS_OF | IDX_AS_OF_SEQ))
		parts = 0;	/* the past has no live columns */
	if (parts) {
		info->idxStr = sqlite3_mprintf("live %#x", parts);
		if (!info->idxStr)
			return SQLITE_NOMEM;
		info->needToFreeIdxStr = 1;
	}
	if (nfixed == t->nkeys) {
		info->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
		info->estimatedRows = 1;
		info->estimatedCost = 10;	/* one RocksDB Get */
	} else {
		if (rows < 1)
			rows = 1;
		info->estimatedRows = (sqlite3_int64)rows;
		info->estimatedCost = 10 + rows;	/* one seek, then a step per row */
	}
	if (info->idxNum & (IDX_AS_OF | IDX_AS_OF_SEQ))
		info->estimatedCost += 100000;		/* a checkpoint read and a replay, once */
	/*
	 * Keys are unique, so ordering by the key parts in order orders by
	 * everything after them; parts fixed by an equality may be skipped.
	 */
	if (info->nOrderBy > 0) {
		int next = 0, desc = info->aOrderBy[0].desc;
		bool ok = true;

		for (int j = 0; j < info->nOrderBy && ok; j++) {
			int p = key_part(t, info->aOrderBy[j].iColumn);

			while (next < p && u[next].eq >= 0)
				next++;
			ok = p >= 0 && p == next && info->aOrderBy[j].desc == desc;
			next++;
		}
		if (ok) {
			info->orderByConsumed = 1;
			if (desc && nfixed < t->nkeys)
				info->idxNum |= IDX_DESC;
		}
	}
	return SQLITE_OK;
}

/* xOpen: one cursor, with room for a decoded row; no allocation per row later. */
static int table_open(sqlite3_vtab *pvt, sqlite3_vtab_cursor **out)
{
	const struct table_vtab *vt = (const struct table_vtab *)pvt;
	size_t size = sizeof(struct table_cursor) + vt->t->ncols * sizeof(struct row_value);
	struct table_cursor *c = sqlite3_malloc64(size);

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, size);
	c->t = vt->t;
	c->st = vt->st;
	c->eof = true;
	c->chunked = store_cf_chunked(vt->t->cf);
	c->sc = vt->sc;
	c->next = c->sc->cursors;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &c->sc->cursors;
	c->sc->cursors = c;
	*out = &c->base;
	return SQLITE_OK;
}

static void flush_count(struct table_cursor *c)
{
	if (c->nread) {
		atomic_fetch_add(&rows_read, c->nread);
		c->nread = 0;
	}
}

/* xClose: releases the iterator (and with it the snapshot). */
static int table_close(sqlite3_vtab_cursor *cur)
{
	struct table_cursor *c = (struct table_cursor *)cur;

	flush_count(c);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	store_iter_free(c->it);
	free(c->point);
	free(c->ents);
	sqlite3_free(c->held);
	sqlite3_free(c->scratch);
	live_free(c->live);
	changes_state_free(&c->past);
	sqlite3_value_free(c->as_of);
	sqlite3_value_free(c->as_of_seq);
	sqlite3_free(c);
	return SQLITE_OK;
}

/*
 * Makes the iterator's position the current row, or sets eof when it left
 * [lo, hi] or the table. An iterator that stopped on an error fails the
 * statement rather than truncating it.
 */
static int settle(struct table_cursor *c)
{
	size_t klen;
	const char *k;

	c->decoded = false;
	if (!store_iter_valid(c->it)) {
		char *err = NULL;

		c->eof = true;
		if (store_iter_error(c->it, &err)) {
			int rc = vtab_fail(&c->base, SQLITE_IOERR, sqlite3_mprintf(
				"%s: %s", c->t->name, err ? err : "read error"));
			free(err);
			return rc;
		}
		return SQLITE_OK;
	}
	k = store_iter_key(c->it, &klen);
	c->key = store_key_get(k, klen);
	if (c->desc ? c->key < c->lo : c->key > c->hi) {
		c->eof = true;
		return SQLITE_OK;
	}
	c->val = store_iter_value(c->it, &c->vlen);
	c->nread++;
	return SQLITE_OK;
}

/* The key at @c's iterator, which must be valid. */
static uint64_t iter_key(const struct table_cursor *c)
{
	size_t klen;
	const char *k = store_iter_key(c->it, &klen);

	return store_key_get(k, klen);
}

/* ---- chunked tables (see the top) ---- */

/* Decodes the chunk at @c's iterator (valid) into ents[]. */
static int chunk_load(struct table_cursor *c)
{
	size_t klen, vlen;
	const char *k = store_iter_key(c->it, &klen);
	const char *v = store_iter_value(c->it, &vlen);
	uint64_t key = store_key_get(k, klen);
	long n = chunk_decode(key, v, vlen, &c->ents, &c->ents_cap);

	if (n == -ENOMEM)
		return SQLITE_NOMEM;
	if (n < 0)
		return vtab_fail(&c->base, SQLITE_CORRUPT_VTAB, sqlite3_mprintf(
			"%s: corrupt chunk at key %llu", c->t->name, (unsigned long long)key));
	c->nents = (size_t)n;
	return SQLITE_OK;
}

/* settle() for a chunked table: ents[ci] of the iterator's chunk is the current row. */
static int chunk_settle(struct table_cursor *c)
{
	const struct chunk_ent *e;

	if (!store_iter_valid(c->it))
		return settle(c);	/* the end, or an error */
	e = &c->ents[c->ci];
	c->decoded = false;
	c->key = e->seq;
	if (c->desc ? c->key < c->lo : c->key > c->hi) {
		c->eof = true;
		return SQLITE_OK;
	}
	c->val = e->row;
	c->vlen = e->len;
	c->nread++;
	return SQLITE_OK;
}

/*
 * From the chunk at the iterator on, in the scan's direction, settles on the
 * first row >= @seq (the last row <= @seq, descending).
 */
static int chunk_find(struct table_cursor *c, uint64_t seq)
{
	for (; store_iter_valid(c->it); c->desc ? store_iter_prev(c->it) : store_iter_next(c->it)) {
		int rc = chunk_load(c);
		size_t i;

		if (rc != SQLITE_OK)
			return rc;
		if (c->desc) {
			for (i = c->nents; i > 0 && c->ents[i - 1].seq > seq; i--)
				;
			if (i > 0) {
				c->ci = i - 1;
				return chunk_settle(c);
			}
		} else {
			for (i = 0; i < c->nents && c->ents[i].seq < seq; i++)
				;
			if (i < c->nents) {
				c->ci = i;
				return chunk_settle(c);
			}
		}
	}
	return settle(c);
}

/* Positions a chunked table's iterator on the chunk that holds @seq, then chunk_find(). */
static int chunk_seek(struct table_cursor *c, uint64_t seq)
{
	unsigned char k[8];

	store_key_be64(k, seq);
	store_iter_seek_for_prev(c->it, k, sizeof(k));
	if (!store_iter_valid(c->it) && !c->desc)
		store_iter_seek_first(c->it);	/* every chunk starts above @seq */
	return chunk_find(c, seq);
}

/* The next row of a chunked table: in this chunk, or in the next one. */
static int chunk_step(struct table_cursor *c)
{
	if (c->desc ? c->ci > 0 : c->ci + 1 < c->nents) {
		if (c->desc)
			c->ci--;
		else
			c->ci++;
		return chunk_settle(c);
	}
	if (c->desc)
		store_iter_prev(c->it);
	else
		store_iter_next(c->it);
	return chunk_find(c, c->desc ? UINT64_MAX : 0);
}

/* The largest key in @c's table, its iterator positioned on the last store key (valid). */
static uint64_t last_key(const struct table_cursor *c)
{
	uint64_t last = iter_key(c);
	uint32_t count;
	size_t vlen;
	const char *v;

	if (c->chunked) {
		v = store_iter_value(c->it, &vlen);
		chunk_header(v, vlen, &count, &last);
	}
	return last;
}

/*
 * Copies the current row (not yet decoded, or decoded in place) into the
 * cursor's own memory, since @it is about to go. false when out of memory.
 */
static bool hold_row(struct table_cursor *c)
{
	if (c->decoded && c->terminated)
		return true;		/* vals[] point into scratch already */
	if (c->vlen + 1 > c->held_cap) {
		char *nb = c->vlen < INT32_MAX ? sqlite3_realloc64(c->held, c->vlen + 1) : NULL;

		if (!nb)
			return false;
		c->held = nb;
		c->held_cap = c->vlen + 1;
	}
	memcpy(c->held, c->val, c->vlen);
	c->val = c->held;
	/* Decoded values pointing into the old copy: decode the held one. */
	if (c->decoded && row_decode(c->val, c->vlen, c->vals, c->t->ncols))
		c->decoded = false;
	return true;
}

/*
 * Lets go of the iterator (and its snapshot), keeping the current row. A
 * forward scan keeps to the keys its snapshot had (see the top). A cursor
 * whose row cannot be kept (no memory) keeps its iterator.
 */
static void release_iter(struct table_cursor *c, bool keep_row)
{
	if (!c->it)
		return;
	if (keep_row && !c->eof && !c->point_mode && !hold_row(c))
		return;
	if (!c->eof && !c->point_mode && !c->desc) {
		store_iter_seek_last(c->it);
		if (store_iter_valid(c->it) && last_key(c) < c->hi)
			c->hi = last_key(c);
	}
	store_iter_free(c->it);
	c->it = NULL;
}

void vtab_park(struct sql_conn *sc)
{
	for (struct table_cursor *c = sc->cursors; c; c = c->next)
		release_iter(c, true);
}

/* A new iterator for @c (SQLITE_OK or SQLITE_NOMEM). */
static int new_iter(struct table_cursor *c)
{
	c->it = store_iter_new(c->st, c->t->cf);
	if (!c->it)
		return SQLITE_NOMEM;
	c->it_born = clock_ns(CLOCK_MONOTONIC);
	c->steps = 0;
	return SQLITE_OK;
}

/* Seeks a new iterator to the key after the current row (before it, descending). */
static int resume(struct table_cursor *c)
{
	int bytes = schema_key_bytes(c->t), rc;
	unsigned char k[8];

	if ((rc = new_iter(c)) != SQLITE_OK)
		return rc;
	if (c->chunked)		/* the scan never resumes past its end: no wrap */
		return chunk_seek(c, c->desc ? c->key - 1 : c->key + 1);
	key_encode(c->t, k, c->key);
	if (c->desc)
		store_iter_seek_for_prev(c->it, k, bytes);
	else
		store_iter_seek(c->it, k, bytes);
	if (store_iter_valid(c->it) && iter_key(c) == c->key) {
		if (c->desc)
			store_iter_prev(c->it);
		else
			store_iter_next(c->it);
	}
	return settle(c);
}

/* ---- the past (as_of, as_of_seq: store/changes.h) ---- */

/* Rebuilds the table as of (@kind, @bound) unless it holds it already. */
static int past_load(struct table_cursor *c, int kind, uint64_t bound)
{
	char *msg = NULL;
	int rc;

	if (c->past_valid && c->past_kind == kind && c->past_bound == bound)
		return SQLITE_OK;
	changes_state_free(&c->past);
	c->past_valid = false;
	rc = sql_past(c->st, past_table(c->t), c->t->name, kind, bound, &c->past, &msg);
	if (rc != SQLITE_OK)
		return vtab_fail(&c->base, rc, msg);
	sql_past_warn(((const struct table_vtab *)c->base.pVtab)->who, c->st, c->t->name, kind,
		      bound);
	c->past_valid = true;
	c->past_kind = kind;
	c->past_bound = bound;
	return SQLITE_OK;
}

/* Makes past.rows[pi] the current row, or sets eof when it left [lo, hi]. */
static int past_settle(struct table_cursor *c)
{
	const struct changes_row *r;

	c->decoded = false;
	if (c->pi >= c->past.n) {
		c->eof = true;
		return SQLITE_OK;
	}
	r = &c->past.rows[c->pi];
	if (r->key < c->lo || r->key > c->hi) {
		c->eof = true;
		return SQLITE_OK;
	}
	c->eof = false;
	c->key = r->key;
	c->val = r->row;
	c->vlen = r->len;
	c->nread++;
	return SQLITE_OK;
}

/* Keeps a copy of hidden argument @v in *@slot (what the column shows). */
static int keep_arg(sqlite3_value **slot, sqlite3_value *v)
{
	sqlite3_value_free(*slot);
	*slot = v ? sqlite3_value_dup(v) : NULL;
	return v && !*slot ? SQLITE_NOMEM : SQLITE_OK;
}

/* xFilter of a table as of a moment: @argv holds as_of's and/or as_of_seq's values (@idx). */
static int past_filter(struct table_cursor *c, int idx, int argc, sqlite3_value **argv)
{
	sqlite3_value *when = NULL, *seq = NULL;
	int n = 0, rc, kind;
	uint64_t bound;
	int64_t i = 0;
	double d = 0;
	size_t lo = 0, hi;

	if (idx & IDX_AS_OF)
		when = n < argc ? argv[n++] : NULL;
	if (idx & IDX_AS_OF_SEQ)
		seq = n < argc ? argv[n++] : NULL;
	release_iter(c, false);		/* no snapshot held while the past is read */
	c->past_mode = true;
	c->eof = true;
	if (keep_arg(&c->as_of, when) || keep_arg(&c->as_of_seq, seq))
		return SQLITE_NOMEM;
	if (when && sqlite3_value_type(when) == SQLITE_NULL)
		when = NULL;
	if (seq && sqlite3_value_type(seq) == SQLITE_NULL)
		seq = NULL;
	if (when && seq)
		return vtab_fail(&c->base, SQLITE_ERROR, sqlite3_mprintf(
			"%s: give as_of or as_of_seq, not both", c->t->name));
	if (!when && !seq)
		return SQLITE_OK;	/* as_of = NULL: no row */
	if (seq) {
		if (constraint_number(seq, &i, &d) != SQLITE_INTEGER || i < 0)
			return vtab_fail(&c->base, SQLITE_ERROR, sqlite3_mprintf(
				"%s: as_of_seq %s is not a sequence number (an integer >= 0)",
				c->t->name, (const char *)sqlite3_value_text(seq)));
		kind = CHANGES_BY_SEQ;
		bound = (uint64_t)i;
	} else {
		const struct table_vtab *vt = (const struct table_vtab *)c->base.pVtab;
		char *msg = NULL;

		if ((rc = sql_moment(vt->db, when, &bound, &msg)) != SQLITE_OK) {
			rc = vtab_fail(&c->base, rc, sqlite3_mprintf("%s: as_of %s", c->t->name, msg));
			sqlite3_free(msg);
			return rc;
		}
		kind = CHANGES_BY_TIME;
	}
	if ((rc = past_load(c, kind, bound)) != SQLITE_OK)
		return rc;
	/* the first row with key >= lo (ascending) or the last with key <= hi */
	hi = c->past.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->desc ? c->past.rows[mid].key <= c->hi : c->past.rows[mid].key < c->lo)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (c->desc) {
		if (!lo)
			return SQLITE_OK;
		lo--;
	}
	c->pi = lo;
	return past_settle(c);
}

/* xFilter: starts a point lookup or a bounded scan (idxNum above). */
static int table_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr,
			int argc, sqlite3_value **argv)
{
	struct table_cursor *c = (struct table_cursor *)cur;
	const struct schema_table *t = c->t;
	static const int bits[] = { IDX_EQ, IDX_LO_GT, IDX_LO_GE, IDX_HI_LT, IDX_HI_LE };
	uint64_t lo[SCHEMA_MAX_KEYS], hi[SCHEMA_MAX_KEYS];
	unsigned char k[8];
	int a = 0, nfixed = 0;

	flush_count(c);
	free(c->point);
	c->point = NULL;
	c->decoded = false;
	c->eof = true;
	c->desc = idx & IDX_DESC;
	c->live_parts = idxstr && !strncmp(idxstr, "live ", 5) ?
			(uint32_t)strtoul(idxstr + 5, NULL, 16) & DBOS_LIVE_F_ALL : 0;
	if (c->live)
		live_fetch(c->live, NULL, 0, 0);	/* what this filter reads is read anew */
	for (int p = 0; p < t->nkeys; p++) {
		int pidx = idx >> (IDX_PART_SHIFT * p);

		lo[p] = 0;
		hi[p] = bytes_max(t->key[p].bytes);
		for (size_t b = 0; b < sizeof(bits) / sizeof(bits[0]); b++) {
			if (!(pidx & bits[b]))
				continue;
			if (a >= argc)
				return vtab_fail(&c->base, SQLITE_ERROR, sqlite3_mprintf(
					"%s: bad xFilter arguments", t->name));
			if (!apply_bound(bytes_max(t->key[p].bytes), bits[b], argv[a++],
					 &lo[p], &hi[p]))
				return SQLITE_OK;	/* no row can match */
		}
		if (lo[p] > hi[p])
			return SQLITE_OK;
		if (nfixed == p && lo[p] == hi[p] && (pidx & IDX_EQ))
			nfixed++;
	}
	/* Parts after the first that is not fixed span their whole range. */
	for (int p = nfixed + 1; p < t->nkeys; p++) {
		lo[p] = 0;
		hi[p] = bytes_max(t->key[p].bytes);
	}
	c->lo = key_compose(t, lo);
	c->hi = key_compose(t, hi);
	if (idx & (IDX_AS_OF | IDX_AS_OF_SEQ))
		return past_filter(c, idx, argc - a, argv + a);
	c->past_mode = false;
	c->point_mode = nfixed == t->nkeys && !c->chunked;

	if (c->point_mode) {
		char *err = NULL;
		int r;

		key_encode(t, k, c->lo);
		r = store_get(c->st, t->cf, k, schema_key_bytes(t), &c->point, &c->point_len, &err);
		if (r < 0) {
			r = vtab_fail(&c->base, SQLITE_IOERR, sqlite3_mprintf(
				"%s: %s", t->name, err ? err : "read error"));
			free(err);
			return r;
		}
		if (r == 0)
			return SQLITE_OK;
		c->eof = false;
		c->key = c->lo;
		c->val = c->point;
		c->vlen = c->point_len;
		c->nread++;
		return SQLITE_OK;
	}

	if (c->it && (clock_ns(CLOCK_MONOTONIC) - c->it_born >= ITER_MAX_AGE || nfixed == t->nkeys))
		release_iter(c, false);		/* a chunked point lookup reads the latest rows */
	if (!c->it && new_iter(c) != SQLITE_OK)
		return SQLITE_NOMEM;
	c->eof = false;
	if (c->chunked)
		return chunk_seek(c, c->desc ? c->hi : c->lo);
	if (c->desc) {
		if (c->hi == key_max(t)) {
			store_iter_seek_last(c->it);
		} else {
			key_encode(t, k, c->hi);
			store_iter_seek_for_prev(c->it, k, schema_key_bytes(t));
		}
	} else {
		if (c->lo == 0) {
			store_iter_seek_first(c->it);
		} else {
			key_encode(t, k, c->lo);
			store_iter_seek(c->it, k, schema_key_bytes(t));
		}
	}
	return settle(c);
}

/* xNext: the next row in key order (or reverse key order). */
static int table_next(sqlite3_vtab_cursor *cur)
{
	struct table_cursor *c = (struct table_cursor *)cur;

	if (c->past_mode) {
		if (c->desc && !c->pi) {
			c->eof = true;
			return SQLITE_OK;
		}
		c->pi = c->desc ? c->pi - 1 : c->pi + 1;
		return past_settle(c);
	}
	if (c->point_mode) {
		c->eof = true;
		return SQLITE_OK;
	}
	if (c->desc ? c->key == c->lo : c->key == c->hi) {	/* also keeps lo - 1 from wrapping */
		c->eof = true;
		return SQLITE_OK;
	}
	if (c->it && ++c->steps >= ITER_CHECK_ROWS) {
		c->steps = 0;
		if (clock_ns(CLOCK_MONOTONIC) - c->it_born >= ITER_MAX_AGE)
			release_iter(c, false);
	}
	if (!c->it)		/* released: parked, or too old */
		return resume(c);
	if (c->chunked)
		return chunk_step(c);
	if (c->desc)
		store_iter_prev(c->it);
	else
		store_iter_next(c->it);
	return settle(c);
}

/* xEof: true once the walk left its range. */
static int table_eof(sqlite3_vtab_cursor *cur)
{
	return ((struct table_cursor *)cur)->eof;
}

static bool reserve_scratch(struct table_cursor *c, size_t need)
{
	if (need > c->scratch_cap) {
		size_t cap = (need + 1023) & ~(size_t)1023;
		char *nb = need < INT32_MAX ? sqlite3_realloc64(c->scratch, cap) : NULL;

		if (!nb)
			return false;
		c->scratch = nb;
		c->scratch_cap = cap;
	}
	return true;
}

/*
 * Decodes the current row into vals[]. Text in a row is not NUL-terminated,
 * and a register that SQLite is given a length for gets no terminator: the
 * first sqlite3_column_text() on it then reallocates it to length + 3,
 * shrinking it, and the next row's copy allocates again (two allocations per
 * text column per row). So the row is copied once into the cursor's scratch
 * buffer and decoded there, and each text gets a NUL in place: the byte after
 * a text is the next column's tag (already decoded) or a spare byte at the
 * end. xColumn can then pass length -1, which makes SQLite copy the
 * terminator too, into a register it reuses from row to row.
 */
static int decode_row(struct table_cursor *c)
{
	const struct schema_table *t = c->t;

	c->terminated = reserve_scratch(c, c->vlen + 1);
	if (c->terminated) {
		memcpy(c->scratch, c->val, c->vlen);
		c->scratch[c->vlen] = '\0';
	}
	if (row_decode(c->terminated ? c->scratch : c->val, c->vlen, c->vals, t->ncols))
		return vtab_fail(&c->base, SQLITE_CORRUPT_VTAB, sqlite3_mprintf(
			"%s: corrupt row at key %llu", t->name,
			(unsigned long long)c->key));
	if (c->terminated)
		for (int i = 0; i < t->ncols; i++)
			if (c->vals[i].type == ROW_TEXT)
				((char *)c->vals[i].s)[c->vals[i].len] = '\0';
	c->decoded = true;
	return SQLITE_OK;
}

static void result_text(struct table_cursor *c, sqlite3_context *ctx,
			const struct row_value *v)
{
	if (c->terminated && !memchr(v->s, 0, v->len))
		sqlite3_result_text(ctx, v->s, -1, SQLITE_TRANSIENT);
	else	/* embedded NUL (or no memory for the copy): the exact length */
		sqlite3_result_text64(ctx, v->s, v->len, SQLITE_TRANSIENT, SQLITE_UTF8);
}

/* ---- live columns (processes; schema_column.live) ---- */

/*
 * The pids of the rows this filter reads next, the current one first, at
 * most @max: read ahead on an iterator of their own, so that one GET_LIVE
 * serves a batch of rows. A point lookup reads one row.
 */
static size_t next_pids(struct table_cursor *c, uint32_t *out, size_t max)
{
	int bytes = schema_key_bytes(c->t);
	struct store_iter *it;
	unsigned char k[8];
	size_t n = 0;

	out[n++] = (uint32_t)c->key;
	if (c->point_mode || !(it = store_iter_new(c->st, c->t->cf)))
		return n;
	key_encode(c->t, k, c->key);
	if (c->desc)
		store_iter_seek_for_prev(it, k, bytes);
	else
		store_iter_seek(it, k, bytes);
	for (; n < max && store_iter_valid(it); c->desc ? store_iter_prev(it) : store_iter_next(it)) {
		size_t klen;
		const char *kp = store_iter_key(it, &klen);
		uint64_t key = store_key_get(kp, klen);

		if (key == c->key)
			continue;
		if (c->desc ? key < c->lo : key > c->hi)
			break;
		out[n++] = (uint32_t)key;
	}
	store_iter_free(it);
	return n;
}

/* Is @r the process of the current row (not a later one with its pid)? Start times agree. */
static bool same_process(const struct table_cursor *c, const struct live_row *r)
{
	const struct row_value *st = &c->vals[PROCESSES_START_TIME];
	int64_t d;

	if (st->type != ROW_INT)
		return true;
	d = st->i - (int64_t)(r->v.start_time_ns / 1000000000ULL);
	return d >= -1 && d <= 1;	/* seconds; the wall clock may have moved */
}

static void result_live_text(sqlite3_context *ctx, const char *s, size_t len)
{
	sqlite3_result_text64(ctx, s, len, SQLITE_TRANSIENT, SQLITE_UTF8);
}

/*
 * A live column of the current row: what the kernel says now. When it has no
 * answer (the process is gone, the module is not loaded) the stored value of
 * a column that has one (state, cwd), else NULL. 1: answered; 0: use the
 * stored value; or an SQLite error code (negated).
 */
static int live_column(struct table_cursor *c, sqlite3_context *ctx, int col)
{
	uint32_t pids[LIVE_BATCH];
	const struct live_row *r;
	const struct dbos_live *v;
	const char *s = "";
	char state[1];

	uint32_t need = live_part(col);

	if (!c->live && !(c->live = live_new(&c->sc->live_sk)))
		return -SQLITE_NOMEM;
	r = live_find(c->live, (uint32_t)c->key, &s);
	if (!r || (r->found && (r->v.fields & need) != need)) {
		c->live_parts |= need;	/* also when colUsed did not name the column */
		if (live_fetch(c->live, pids, next_pids(c, pids, LIVE_BATCH), c->live_parts))
			return -SQLITE_NOMEM;
		r = live_find(c->live, (uint32_t)c->key, &s);
	}
	if (!r || !r->found || !same_process(c, r)) {
		if (col < PROCESSES__STORED)
			return 0;
		sqlite3_result_null(ctx);
		return 1;
	}
	v = &r->v;
	switch (col) {
	case PROCESSES_STATE:
		state[0] = (char)v->state;
		result_live_text(ctx, state, 1);
		break;
	case PROCESSES_CWD:
		result_live_text(ctx, s, v->cwd_len);
		break;
	case PROCESSES_ROOT:
		result_live_text(ctx, s + v->cwd_len, v->root_len);
		break;
	case PROCESSES_CGROUP_PATH:
		result_live_text(ctx, s + v->cwd_len + v->root_len, v->cgroup_len);
		break;
	case PROCESSES_SUID:
		sqlite3_result_int64(ctx, v->suid);
		break;
	case PROCESSES_SGID:
		sqlite3_result_int64(ctx, v->sgid);
		break;
	case PROCESSES_ON_DISK:
		sqlite3_result_int(ctx, v->on_disk);
		break;
	case PROCESSES_WIRED_SIZE:
		sqlite3_result_int64(ctx, (sqlite3_int64)v->locked_bytes);
		break;
	case PROCESSES_RESIDENT_SIZE:
		sqlite3_result_int64(ctx, (sqlite3_int64)v->resident_bytes);
		break;
	case PROCESSES_TOTAL_SIZE:
		sqlite3_result_int64(ctx, (sqlite3_int64)v->total_bytes);
		break;
	case PROCESSES_USER_TIME:
		sqlite3_result_int64(ctx, (sqlite3_int64)(v->user_ns / 1000000));
		break;
	case PROCESSES_SYSTEM_TIME:
		sqlite3_result_int64(ctx, (sqlite3_int64)(v->system_ns / 1000000));
		break;
	case PROCESSES_DISK_BYTES_READ:
		sqlite3_result_int64(ctx, (sqlite3_int64)v->read_bytes);
		break;
	case PROCESSES_DISK_BYTES_WRITTEN:
		sqlite3_result_int64(ctx, (sqlite3_int64)v->write_bytes);
		break;
	case PROCESSES_PGROUP:
		sqlite3_result_int64(ctx, v->pgid);
		break;
	case PROCESSES_ELAPSED_TIME:
		sqlite3_result_int64(ctx, (clock_ns(CLOCK_REALTIME) - (int64_t)v->start_time_ns) / 1000000000LL);
		break;
	default:
		sqlite3_result_null(ctx);
		break;
	}
	return 1;
}

/* xColumn: the key from the store key; live columns from the kernel; others from the decoded row. */
static int table_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	struct table_cursor *c = (struct table_cursor *)cur;
	const struct row_value *v;
	int rc;

	int p = col >= 0 ? key_part(c->t, col) : -1;

	/* UPDATE reads the columns it does not set this way: xUpdate sees "no change". */
	if (sqlite3_vtab_nochange(ctx))
		return SQLITE_OK;
	if (p >= 0) {
		sqlite3_result_int64(ctx, (sqlite3_int64)key_part_value(c->t, p, c->key));
		return SQLITE_OK;
	}
	if (c->t->cols[col].hidden) {	/* as_of, as_of_seq: the moment asked for */
		sqlite3_value *a = !c->past_mode ? NULL :
				   !strcmp(c->t->cols[col].name, "as_of") ? c->as_of : c->as_of_seq;

		if (a)
			sqlite3_result_value(ctx, a);
		else
			sqlite3_result_null(ctx);
		return SQLITE_OK;
	}
	if (!c->decoded && (rc = decode_row(c)) != SQLITE_OK)
		return rc;
	/* (in the past, a column read live shows what was stored, or NULL) */
	if (c->t->cols[col].live && !c->past_mode) {
		rc = live_column(c, ctx, col);
		if (rc)
			return rc < 0 ? -rc : SQLITE_OK;
	}
	v = &c->vals[col];
	switch (v->type) {
	case ROW_INT:
		sqlite3_result_int64(ctx, v->i);
		break;
	case ROW_TEXT:
		result_text(c, ctx, v);
		break;
	default:
		sqlite3_result_null(ctx);
		break;
	}
	return SQLITE_OK;
}

/* xRowid: the key. */
static int table_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((struct table_cursor *)cur)->key;
	return SQLITE_OK;
}

static int refuse(sqlite3_vtab *pvt)
{
	const struct table_vtab *vt = (const struct table_vtab *)pvt;

	sqlite3_free(pvt->zErrMsg);
	pvt->zErrMsg = sqlite3_mprintf("table %s is read-only: %s", vt->t->name,
				       vt->t->readonly ? vt->t->readonly : "it mirrors the kernel");
	return SQLITE_READONLY;
}

/* A writer's result: its message becomes the vtab's error. */
static int writer_rc(sqlite3_vtab *pvt, int rc, char *msg)
{
	if (rc != SQLITE_OK) {
		sqlite3_free(pvt->zErrMsg);
		pvt->zErrMsg = msg;
	}
	return rc;
}

/*
 * xUpdate: processes stages the row (proc_update.c); other tables refuse.
 * Without an xUpdate SQLite's own message would be "table process_events
 * may not be modified"; with one, the user learns why.
 */
static int table_update(sqlite3_vtab *pvt, int argc, sqlite3_value **argv,
			sqlite3_int64 *rowid)
{
	struct table_vtab *vt = (struct table_vtab *)pvt;
	char *msg = NULL;
	int rc;

	if (!vt->w)
		return refuse(pvt);
	rc = proc_writer_update(vt->w, argc, argv, &msg);
	return writer_rc(pvt, rc, msg);
}

/*
 * xBegin: called before any write statement on the table touches a row, so
 * that "DELETE FROM process_events WHERE seq = -1" fails too instead of
 * deleting nothing successfully. processes: root only.
 */
static int table_begin(sqlite3_vtab *pvt)
{
	struct table_vtab *vt = (struct table_vtab *)pvt;
	char *msg = NULL;
	int rc;

	if (!vt->w)
		return refuse(pvt);
	proc_writer_end(vt->w);
	rc = proc_writer_begin(vt->w, &msg);
	return writer_rc(pvt, rc, msg);
}

/* xSync: processes sends the transaction's changes to the kernel; its error is the COMMIT's. */
static int table_sync(sqlite3_vtab *pvt)
{
	struct table_vtab *vt = (struct table_vtab *)pvt;
	char *msg = NULL;
	int rc;

	if (!vt->w)
		return SQLITE_OK;
	rc = proc_writer_sync(vt->w, &msg);
	return writer_rc(pvt, rc, msg);
}

/* xCommit, xRollback: nothing staged any more. */
static int table_end(sqlite3_vtab *pvt)
{
	struct table_vtab *vt = (struct table_vtab *)pvt;

	if (vt->w)
		proc_writer_end(vt->w);
	return SQLITE_OK;
}

static int table_savepoint(sqlite3_vtab *pvt, int i)
{
	struct table_vtab *vt = (struct table_vtab *)pvt;

	return vt->w ? proc_writer_savepoint(vt->w, i) : SQLITE_OK;
}

static int table_release(sqlite3_vtab *pvt, int i)
{
	struct table_vtab *vt = (struct table_vtab *)pvt;

	if (vt->w)
		proc_writer_release(vt->w, i);
	return SQLITE_OK;
}

static int table_rollback_to(sqlite3_vtab *pvt, int i)
{
	struct table_vtab *vt = (struct table_vtab *)pvt;

	if (vt->w)
		proc_writer_rollback_to(vt->w, i);
	return SQLITE_OK;
}

static const sqlite3_module table_module = {
	.iVersion      = 2,			/* savepoints (processes' staged rows) */
	.xCreate       = NULL,			/* NULL: eponymous-only, no CREATE VIRTUAL TABLE */
	.xConnect      = table_connect,		/* declares the columns from schema.h */
	.xBestIndex    = table_best_index,	/* key pushdown: EQ, ranges, ORDER BY */
	.xDisconnect   = table_disconnect,	/* frees the table */
	.xDestroy      = NULL,			/* eponymous-only: nothing to drop */
	.xOpen         = table_open,		/* a cursor with room for one decoded row */
	.xClose        = table_close,		/* frees it and its iterator (snapshot) */
	.xFilter       = table_filter,		/* point lookup or bounded iteration */
	.xNext         = table_next,		/* next key, forward or backward */
	.xEof          = table_eof,		/* walked out of [lo, hi] */
	.xColumn       = table_column,		/* key from the store key, others decoded */
	.xRowid        = table_rowid,		/* the key */
	.xUpdate       = table_update,		/* processes: stages; others refuse */
	.xBegin        = table_begin,		/* refuses, before any row is touched */
	.xSync         = table_sync,		/* processes: one SCHED_SET */
	.xCommit       = table_end,
	.xRollback     = table_end,
	.xFindFunction = NULL,			/* no overloaded functions */
	.xRename       = NULL,			/* cannot be renamed */
	.xSavepoint    = table_savepoint,	/* processes: staged rows per level */
	.xRelease      = table_release,
	.xRollbackTo   = table_rollback_to,
};

static void aux_free(void *p)
{
	struct table_aux *aux = p;
	struct sql_conn *sc = aux->sc;

	sqlite3_free(aux);
	sql_conn_unref(sc);
}

int vtab_register(sqlite3 *db, const struct sql_env *env, const struct sql_session *who,
		  const struct schema_table *t, const char *name, struct sql_conn *sc)
{
	struct table_aux *aux = sqlite3_malloc(sizeof(*aux));

	if (!aux)
		return SQLITE_NOMEM;
	aux->env = env;
	aux->t = t;
	aux->who = *who;
	aux->sc = sc;
	sql_conn_ref(sc);
	/* SQLite frees @aux with aux_free, even when registration fails. */
	return sqlite3_create_module_v2(db, name ? name : t->name, &table_module, aux,
					aux_free);
}
