// SPDX-License-Identifier: GPL-2.0
/*
 * bench_asof.c - host benchmark of time travel: 10,000 long-lived processes
 * and then 1,000,000 events (short-lived processes forking, exec'ing and
 * exiting, and the long-lived ones exec'ing now and then) go through the
 * real intake and mirror into a store; then processes as of 20 moments
 * spread over that history is read in SQL, all rows and columns, and
 * compared with the live table. Prints "name value (target ...)" lines:
 *
 *   asof_processes_ms        SELECT * FROM processes WHERE as_of_seq = ?: median
 *   asof_processes_max_ms    ... the slowest of the 20 moments
 *   live_processes_ms        SELECT * FROM processes (the live table): median
 *   asof_changes_replayed    changes replayed after the checkpoint, at most
 *   changes_between_ms       SELECT * FROM processes_changes over (almost) the whole history
 *
 * Exits 1 if a query fails or a moment has the wrong number of rows.
 * Usage: bench_asof [EVENTS [LIVE]]   (default 1000000 10000)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbserver/intake/intake.h"
#include "dbserver/kernel/kernel.h"
#include "dbserver/mirror/mirror.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/changes.h"
#include "dbserver/store/store.h"
#include "tests/host/test_intake_msg.h"

#define INSTANCE	0xA50FA50FA50FA50FULL

#include "bench/null_kernel.h"
#define LIVE_BASE	100000
#define SHORT_BASE	200000
#define MOMENTS		20
#define T0		(1700000000ULL * 1000000000ULL)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- feeding ---- */

static struct tmsg msg;
static struct intake *in;
static uint64_t seq, nmsgs;
static uint32_t cpu_seq;

static void send_msg(void)
{
	tmsg_end(&msg);
	tmsg_feed(in, &msg);
	if (++nmsgs % 16 == 0)
		intake_flush(in, seq);
	tmsg_begin(&msg, INSTANCE, 0);
}

static void rec(uint16_t type, uint32_t pid, uint32_t ppid, const char *path, const char *cmd)
{
	struct trec r = {
		.type = type, .flags = type == DBOS_REC_EXIT ? DBOS_RECF_GROUP_DEAD : 0,
		.cpu_seq = ++cpu_seq, .seq = ++seq, .time_ns = T0 + seq * 1000,
		.p = { .pid = pid, .tid = pid, .ppid = ppid, .uid = 1000, .gid = 1000, .euid = 1000,
		       .egid = 1000, .start_time_ns = T0 },
		.path = path, .cmdline = cmd,
	};

	if (msg.len + 512 > TMSG_CAP / 4)
		send_msg();
	snprintf(r.p.comm, sizeof(r.p.comm), "%s", path ? strrchr(path, '/') + 1 : "child");
	tmsg_proc(&msg, &r);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Runs @sql to the end; its row count, or -1. */
static long rows_of(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long n = 0;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_asof: %s: %s\n", sql, sqlite3_errmsg(db));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(st); c++)
			sqlite3_column_text(st, c);
		n++;
	}
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "bench_asof: %s: %s\n", sql, sqlite3_errmsg(db));
		n = -1;
	}
	sqlite3_finalize(st);
	return n;
}

int main(int argc, char **argv)
{
	long events = argc > 1 ? atol(argv[1]) : 1000000, live = argc > 2 ? atol(argv[2]) : 10000;
	struct mirror_config mc = { .retention = 2000000 };
	struct intake_config ic = { .ops = &k_ops };
	struct { uint64_t seq; long rows; } moment[MOMENTS];
	double t_asof[MOMENTS], t_live[MOMENTS];
	char dir[] = "/tmp/bench_asof.XXXXXX", sql[160], *err = NULL;
	struct sql_env env = { 0 };
	struct store *st;
	struct mirror *m;
	sqlite3 *db;
	long short_lived = 0, nm = 0, bad = 0;
	uint64_t replayed = 0;

	if (!mkdtemp(dir) || store_open(dir, &st, &err) || mirror_open(st, &mc, &m, &err)) {
		fprintf(stderr, "bench_asof: %s\n", err ? err : strerror(errno));
		return 1;
	}
	ic.mirror = m;
	if (intake_new(&ic, &in))
		return 1;
	intake_attach(in, 0);
	tmsg_begin(&msg, INSTANCE, 0);
	for (long i = 0; i < live; i++) {
		rec(DBOS_REC_FORK, LIVE_BASE + i, 1, NULL, NULL);
		rec(DBOS_REC_EXEC, LIVE_BASE + i, 1, "/usr/sbin/nginx", "nginx\0-g\0daemon off;");
	}
	while ((long)seq < events) {
		uint32_t pid = SHORT_BASE + short_lived++ % 30000;

		rec(DBOS_REC_FORK, pid, LIVE_BASE + pid % live, NULL, NULL);
		rec(DBOS_REC_EXEC, pid, LIVE_BASE + pid % live, "/usr/bin/grep",
		    "grep\0-q\0--color=never\0pattern\0/var/log/syslog");
		rec(DBOS_REC_EXIT, pid, LIVE_BASE + pid % live, NULL, NULL);
		if (short_lived % 10 == 0)
			rec(DBOS_REC_EXEC, LIVE_BASE + short_lived % live, 1, "/usr/bin/python3",
			    "python3\0-m\0http.server");
		if (nm < MOMENTS && (long)seq >= (nm + 1) * events / (MOMENTS + 1)) {
			/* a moment between two processes: every long-lived one, no short one */
			moment[nm].seq = mirror_history_seq(m, seq);
			moment[nm++].rows = live;
		}
	}
	send_msg();
	intake_flush(in, seq);
	env.st = st;
	if (sql_open(&env, &db, &err)) {
		fprintf(stderr, "bench_asof: %s\n", err);
		return 1;
	}
	for (long i = 0; i < nm; i++) {
		double a = now_ms();
		long n;

		snprintf(sql, sizeof(sql), "SELECT * FROM processes WHERE as_of_seq = %llu AND pid >= %d",
			 (unsigned long long)moment[i].seq, LIVE_BASE);
		n = rows_of(db, sql);
		t_asof[i] = now_ms() - a;
		if (n != moment[i].rows) {
			fprintf(stderr, "bench_asof: as of seq %llu: %ld rows, expected %ld\n",
				(unsigned long long)moment[i].seq, n, moment[i].rows);
			bad++;
		}
		a = now_ms();
		rows_of(db, "SELECT * FROM processes");
		t_live[i] = now_ms() - a;
		{
			struct changes_state cs;
			uint64_t os, ot;
			char *e = NULL;

			if (!changes_asof(st, CHANGES_PROCESSES, CHANGES_BY_SEQ, moment[i].seq, &cs, &os,
					  &ot, &e)) {
				if (cs.replayed > replayed)
					replayed = cs.replayed;
				changes_state_free(&cs);
			}
			free(e);
		}
	}
	{
		double a = now_ms(), d;
		long n;

		snprintf(sql, sizeof(sql), "SELECT * FROM processes_changes WHERE since_seq = %llu "
			 "AND until_seq = %llu", (unsigned long long)moment[0].seq,
			 (unsigned long long)moment[nm - 1].seq);
		n = rows_of(db, sql);
		d = now_ms() - a;
		if (n < 0)
			bad++;
		printf("changes_between_ms %.1f (target < 200; %ld rows differ over %llu seqs)\n", d,
		       n, (unsigned long long)(moment[nm - 1].seq - moment[0].seq));
	}
	qsort(t_asof, nm, sizeof(double), cmp_double);
	qsort(t_live, nm, sizeof(double), cmp_double);
	printf("asof_events %llu live_rows %ld moments %ld\n", (unsigned long long)seq, live, nm);
	printf("asof_processes_ms %.1f (target < 100)\n", t_asof[nm / 2]);
	printf("asof_processes_max_ms %.1f\n", t_asof[nm - 1]);
	printf("live_processes_ms %.1f (the live table, for comparison)\n", t_live[nm / 2]);
	printf("asof_changes_replayed %llu (at most, after the checkpoint)\n",
	       (unsigned long long)replayed);
	sqlite3_close(db);
	intake_free(in);
	mirror_close(m);
	store_close(st);
	snprintf(sql, sizeof(sql), "rm -rf %s", dir);
	if (system(sql))
		fprintf(stderr, "bench_asof: cannot remove %s\n", dir);
	return bad ? 1 : 0;
}
