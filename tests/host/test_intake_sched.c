// SPDX-License-Identifier: GPL-2.0
/*
 * test_intake_sched.c - host tests of SCHED records in the mirror: hand-built
 * records, exactly as dbos.ko sends them, go through the decoder and the
 * intake session into a real store (temp dir), checked with real SQL
 * (processes' scheduling columns, sched_decisions). The kernel's commands are
 * a fake here.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"

#include "dbserver/intake/decode.h"
#include "dbserver/intake/intake.h"
#include "dbserver/mirror/mirror.h"
#include "dbserver/sched/sched.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/store.h"
#include "tests/host/test_intake_msg.h"

#define INST	0xA1A1A1A1A1A1A1A1ULL
#define MS	1000000ULL
#define SEC	1000000000ULL
#define T0	(1700000000ULL * SEC)

/* ---- a fake kernel: DUMP_PROCS sends each PROC snapshot and its SCHED snapshot ---- */

#define FAKE_MAX 16

struct fake {
	struct kernel_stats ks;
	uint64_t seq;
	struct dbos_proc procs[FAKE_MAX];
	struct dbos_sched sched[FAKE_MAX];
	uint8_t cpus[FAKE_MAX][2];
	int nprocs;
};

static int fake_get_stats(void *arg, struct kernel_stats *out)
{
	*out = ((struct fake *)arg)->ks;
	return 0;
}

static int fake_dump_procs(void *arg, kernel_msg_fn fn, void *ctx)
{
	struct fake *f = arg;
	static struct tmsg m;

	tmsg_begin(&m, f->ks.instance, 0);
	for (int i = 0; i < f->nprocs; i++) {
		tmsg_rec(&m, &(struct trec){ .type = DBOS_REC_PROC, .seq = f->seq,
					      .time_ns = T0, .p = f->procs[i] });
		tmsg_rec(&m, &(struct trec){ .type = DBOS_REC_SCHED, .seq = f->seq,
					      .time_ns = T0, .sc = f->sched[i], .cpus = f->cpus[i] });
	}
	tmsg_end(&m);
	tmsg_nlh(&m)->nlmsg_flags = NLM_F_MULTI;
	fn(ctx, tmsg_nlh(&m), m.len);
	return 0;
}

static int fake_get_proc(void *arg, uint32_t pid, kernel_msg_fn fn, void *ctx)
{
	return -ESRCH;
}

static const struct kernel_ops fake_ops = {
	.get_stats = fake_get_stats,
	.dump_procs = fake_dump_procs,
	.get_proc = fake_get_proc,
};

/* ---- records ---- */

static struct dbos_proc proc(uint32_t pid, uint32_t ppid, const char *comm, uint32_t policy)
{
	struct dbos_proc p = {
		.pid = pid, .tid = pid, .ppid = ppid, .uid = 1000, .gid = 1000,
		.euid = 1000, .egid = 1000, .state = 'R', .start_time_ns = T0,
		.policy = policy,
	};

	strncpy(p.comm, comm, sizeof(p.comm) - 1);
	return p;
}

/* CPU bitmaps used below (bit n % 8 of byte n / 8 is CPU n). */
static const uint8_t CPUS_0_1[] = { 0x03 };
static const uint8_t CPUS_1_3[] = { 0x0a };
static const uint8_t CPUS_0[] = { 0x01 };
static const uint8_t CPUS_1[] = { 0x02 };
static const uint8_t CPUS_2_3_9[] = { 0x0c, 0x02 };

#define FORK(pid_, ppid_, seq_, comm_, pol_) (struct trec){ .type = DBOS_REC_FORK, .seq = (seq_), \
	.p = proc(pid_, ppid_, comm_, pol_), .path = "/bin/sh", .cmdline = "sh" }
#define UPD(type_, pid_, seq_, comm_, nice_) (struct trec){ .type = (type_), .seq = (seq_), \
	.p = ({ struct dbos_proc p_ = proc(pid_, 1, comm_, SCHED_OTHER); p_.nice = (nice_); p_; }) }
#define SCHED(pid_, seq_, cause_, tag_, nice_, pol_, prio_, cpus_) (struct trec){ \
	.type = DBOS_REC_SCHED, .seq = (seq_), .cpus = (cpus_), \
	.sc = { .pid = (pid_), .nice = (nice_), .policy = (pol_), .priority = (prio_), \
		.cpus_len = sizeof(cpus_), .cause = (cause_), .tag = (tag_) } }

/* ---- fixture ---- */

struct world {
	struct mirror *m;
	struct intake *in;
};

static int stats_cb(void *arg, struct sql_stat *out, int max)
{
	const struct world *w = arg;
	int64_t iv[INTAKE_STAT__COUNT], mv[MIRROR_STAT__COUNT];
	int n = 0;

	intake_stats_read(w->in, iv);
	mirror_stats_read(w->m, mv);
	for (int i = 0; i < INTAKE_STAT__COUNT && n < max; i++)
		out[n++] = (struct sql_stat){ intake_stat_info[i].name, iv[i], intake_stat_info[i].doc };
	for (int i = 0; i < MIRROR_STAT__COUNT && n < max; i++)
		out[n++] = (struct sql_stat){ mirror_stat_info[i].name, mv[i], mirror_stat_info[i].doc };
	return n;
}

static void log_line(void *arg, const char *line)
{
}

FIXTURE(sched) {
	char dir[64];
	struct store *st;
	struct world w;
	struct fake k;
	struct sql_env env;
	sqlite3 *db;
	uint64_t now;
	uint32_t cpu_seq[8];
	struct tmsg msg;
};

static void open_all(struct _test_data_sched *self, uint64_t retention)
{
	struct mirror_config mc = { .retention = retention };
	struct intake_config ic = { .ops = &fake_ops, .ops_arg = &self->k, .log = log_line };
	char *err = NULL;

	if (store_open(self->dir, &self->st, &err) ||
	    mirror_open(self->st, &mc, &self->w.m, &err)) {
		fprintf(stderr, "# open: %s\n", err ? err : "?");
		abort();
	}
	ic.mirror = self->w.m;
	if (intake_new(&ic, &self->w.in))
		abort();
	self->env.st = self->st;
	self->env.stats = stats_cb;
	self->env.stats_arg = &self->w;
	if (sql_open(&self->env, &self->db, &err)) {
		fprintf(stderr, "# sql_open: %s\n", err ? err : "?");
		abort();
	}
}

static void close_all(struct _test_data_sched *self)
{
	sqlite3_close(self->db);
	intake_free(self->w.in);
	mirror_close(self->w.m);
	store_close(self->st);
	self->st = NULL;
}

FIXTURE_SETUP(sched)
{
	strcpy(self->dir, "/tmp/test_intake_sched.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	memset(&self->k, 0, sizeof(self->k));
	self->k.ks.version = DBOS_GENL_VERSION;
	self->k.ks.instance = INST;
	self->k.procs[0] = proc(1, 0, "init", SCHED_OTHER);
	self->k.sched[0] = (struct dbos_sched){ .pid = 1, .cpus_len = 1, .cause = DBOS_SCHED_SNAPSHOT };
	self->k.cpus[0][0] = 0x03;
	self->k.nprocs = 1;
	self->k.seq = 1;
	self->now = 1000 * SEC;
	open_all(self, 1000000);
}

FIXTURE_TEARDOWN(sched)
{
	char cmd[128];

	if (self->st)
		close_all(self);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		fprintf(stderr, "# cannot remove %s\n", self->dir);
}

/* Send @n records in one message on @cpu, with consecutive cpu_seq. */
static void send_recs(struct _test_data_sched *self, uint16_t cpu, struct trec *r, int n,
		      bool held)
{
	tmsg_begin(&self->msg, self->k.ks.instance, cpu);
	for (int i = 0; i < n; i++) {
		r[i].cpu = cpu;
		r[i].cpu_seq = ++self->cpu_seq[cpu];
		if (!r[i].time_ns)
			r[i].time_ns = T0 + r[i].seq * MS;
		tmsg_rec(&self->msg, &r[i]);
	}
	tmsg_end(&self->msg);
	if (held)	/* other CPUs' records still to come: no watermarks */
		intake_feed(self->w.in, tmsg_nlh(&self->msg), self->msg.len);
	else
		tmsg_feed(self->w.in, &self->msg);
}

#define SEND(cpu_, ...) do { \
	struct trec r_[] = { __VA_ARGS__ }; \
	send_recs(self, cpu_, r_, sizeof(r_) / sizeof(r_[0]), false); \
} while (0)

/* One record on @cpu, held by the reorder stage until the other CPUs pass it. */
#define SEND_HELD(cpu_, rec_) do { \
	struct trec r_[] = { rec_ }; \
	send_recs(self, cpu_, r_, 1, true); \
} while (0)

#define flush(self)	ASSERT_EQ(0, intake_flush((self)->w.in, (self)->now))
#define attach(self)	ASSERT_EQ(0, intake_attach((self)->w.in, (self)->now))

static int64_t q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "# SQL error: %s: %s\n", sql, sqlite3_errmsg(db));
		return -3;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -2 : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Every row of @sql, columns joined by '|', rows by ';' (static buffer). */
static const char *q_rows(sqlite3 *db, const char *sql)
{
	static char buf[8192];
	sqlite3_stmt *st;
	size_t n = 0;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "# SQL error: %s: %s\n", sql, sqlite3_errmsg(db));
		return "(error)";
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const unsigned char *t = sqlite3_column_text(st, c);

			n += snprintf(buf + n, sizeof(buf) - n, "%s%s", c ? "|" : n ? ";" : "",
				      t ? (const char *)t : "NULL");
		}
	}
	sqlite3_finalize(st);
	return buf;
}

static int64_t stat_val(sqlite3 *db, const char *name)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT value FROM dbos_stats WHERE name = '%s'", name);
	return q_int(db, sql);
}

#define ROW(pid_) "SELECT nice, sched_policy, sched_priority, cpus FROM processes WHERE pid = " #pid_

/* ---- the processes row ---- */

TEST_F(sched, sched_records_update_the_row)
{
	attach(self);
	SEND(0, FORK(100, 1, 10, "make", SCHED_OTHER));
	flush(self);
	/* A FORK reports nice and policy (priority 0 with it); CPUs unknown: init's came from the dump. */
	EXPECT_STREQ("0|other|0|0-1", q_rows(self->db, ROW(1)));
	EXPECT_STREQ("0|other|0|0-1", q_rows(self->db, ROW(100)));

	SEND(1, SCHED(100, 11, DBOS_SCHED_COMMAND, 0, 10, SCHED_BATCH, 0, CPUS_0_1));
	flush(self);
	EXPECT_STREQ("10|batch|0|0-1", q_rows(self->db, ROW(100)));
	SEND(0, SCHED(100, 12, DBOS_SCHED_COMMAND, 0, 0, SCHED_FIFO, 50, CPUS_2_3_9));
	flush(self);
	EXPECT_STREQ("0|fifo|50|2-3,9", q_rows(self->db, ROW(100)));
	/* The row's seq is the SCHED record's (in history seq space). */
	EXPECT_EQ(stat_val(self->db, "epoch_base") + 12,
		  q_int(self->db, "SELECT seq FROM processes WHERE pid = 100"));
	EXPECT_EQ(3, stat_val(self->db, "sched_applied"));	/* init's dump snapshot too */
	/* A SCHED for a process we know nothing about, never followed by its FORK: no row. */
	SEND(0, SCHED(555, 13, DBOS_SCHED_COMMAND, 0, 1, SCHED_OTHER, 0, CPUS_0));
	flush(self);
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 555"));
}

TEST_F(sched, dump_snapshots_fill_the_row_and_are_not_decisions)
{
	struct trec c;

	self->k.procs[1] = proc(50, 1, "rt", SCHED_RR);
	self->k.sched[1] = (struct dbos_sched){ .pid = 50, .policy = SCHED_RR, .priority = 7,
						.cpus_len = 2, .cause = DBOS_SCHED_SNAPSHOT };
	self->k.cpus[1][0] = 0x01;
	self->k.cpus[1][1] = 0x80;	/* CPUs 0 and 15 */
	self->k.nprocs = 2;
	self->k.seq = 5;
	attach(self);
	EXPECT_STREQ("0|rr|7|0,15", q_rows(self->db, ROW(50)));
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM sched_decisions"));
	/* Kept across a restart (reloaded from the store). */
	close_all(self);
	open_all(self, 1000000);
	EXPECT_STREQ("0|rr|7|0,15", q_rows(self->db, ROW(50)));
	/* Process records: still RR keeps the priority; a switch to other means 0. */
	c = UPD(DBOS_REC_COMM, 50, 20, "rt2", 0);
	c.p.policy = SCHED_RR;
	attach(self);
	SEND(0, c);
	flush(self);
	EXPECT_STREQ("0|rr|7|0,15", q_rows(self->db, ROW(50)));
	SEND(0, UPD(DBOS_REC_CRED, 50, 21, "rt2", 0));
	flush(self);
	EXPECT_STREQ("0|other|0|0,15", q_rows(self->db, ROW(50)));
}

TEST_F(sched, older_sched_record_does_not_win)
{
	attach(self);
	SEND(0, FORK(200, 1, 10, "sh", SCHED_OTHER));
	/*
	 * CPU 1's newer record is read before CPU 0's older one, and the
	 * watermarks let the newer one through (a kernel whose watermark lied:
	 * late, a re-sync follows); the columns merge by their own seqs, as
	 * they must for a dump's snapshots and the records older than them.
	 */
	SEND(1, SCHED(200, 20, DBOS_SCHED_COMMAND, 0, 7, SCHED_IDLE, 0, CPUS_1));
	SEND(0, SCHED(200, 15, DBOS_SCHED_COMMAND, 0, 3, SCHED_BATCH, 0, CPUS_0));
	flush(self);
	EXPECT_STREQ("7|idle|0|1", q_rows(self->db, ROW(200)));
	EXPECT_EQ(1, stat_val(self->db, "sched_stale"));
	/* An older COMM renames it but does not bring back its older nice and policy. */
	SEND(0, UPD(DBOS_REC_COMM, 200, 17, "renamed", 0));
	flush(self);
	EXPECT_STREQ("renamed", q_rows(self->db, "SELECT name FROM processes WHERE pid = 200"));
	EXPECT_STREQ("7|idle|0|1", q_rows(self->db, ROW(200)));
	/* A newer CRED carries newer nice and policy; the CPUs stay. */
	SEND(1, UPD(DBOS_REC_CRED, 200, 25, "renamed", -2));
	flush(self);
	EXPECT_STREQ("-2|other|0|1", q_rows(self->db, ROW(200)));
	/* Both older records are still decisions (history), in seq order. */
	EXPECT_STREQ("3|batch;7|idle", q_rows(self->db,
		"SELECT nice, sched_policy FROM sched_decisions WHERE pid = 200 ORDER BY seq"));
}

/*
 * A rule's SCHED (CPU 1) drained before the FORK and EXEC it follows (CPU 0):
 * held until CPU 0's records are in, then applied after them.
 */
TEST_F(sched, sched_record_before_its_fork_waits_for_the_row)
{
	attach(self);
	SEND_HELD(1, SCHED(300, 12, DBOS_SCHED_RULE_EXEC, 4, 15, SCHED_BATCH, 0, CPUS_1));
	flush(self);
	EXPECT_STREQ("", q_rows(self->db, ROW(300)));
	SEND(0, FORK(300, 1, 10, "job", SCHED_OTHER), UPD(DBOS_REC_EXEC, 300, 11, "job", 0));
	tmsg_feed_watermark(self->w.in, self->k.ks.instance, 12);
	flush(self);
	EXPECT_STREQ("15|batch|0|1", q_rows(self->db, ROW(300)));
	EXPECT_EQ(0, stat_val(self->db, "sched_stale"));
	EXPECT_EQ(0, stat_val(self->db, "reorder_late"));
	/* A SCHED record of a process that has exited changes nothing. */
	SEND(0, ({ struct trec e_ = UPD(DBOS_REC_EXIT, 300, 13, "job", 0);
		   e_.flags = DBOS_RECF_GROUP_DEAD; e_; }));
	SEND(0, SCHED(300, 14, DBOS_SCHED_COMMAND, 0, 3, SCHED_OTHER, 0, CPUS_1));
	flush(self);
	EXPECT_STREQ("", q_rows(self->db, ROW(300)));
	EXPECT_EQ(1, stat_val(self->db, "sched_stale"));
}

TEST_F(sched, fork_copies_cpus_and_priority_to_the_child)
{
	attach(self);
	SEND(0, FORK(400, 1, 10, "rt", SCHED_OTHER),
	     SCHED(400, 11, DBOS_SCHED_COMMAND, 0, 0, SCHED_FIFO, 10, CPUS_2_3_9),
	     FORK(401, 400, 12, "rt", SCHED_FIFO));
	flush(self);
	EXPECT_STREQ("0|fifo|10|2-3,9", q_rows(self->db, ROW(401)));
	/* A child whose FORK comes after a later change of its parent: CPUs unknown, not the new ones. */
	SEND(0, SCHED(400, 20, DBOS_SCHED_COMMAND, 0, 0, SCHED_OTHER, 0, CPUS_0));
	SEND(0, FORK(402, 400, 15, "rt", SCHED_FIFO));
	flush(self);
	EXPECT_STREQ("0|fifo|NULL|NULL", q_rows(self->db, ROW(402)));
	/* A child that reset to SCHED_OTHER at fork: priority 0, CPUs still copied. */
	SEND(0, FORK(403, 400, 21, "rt", SCHED_OTHER));
	flush(self);
	EXPECT_STREQ("0|other|0|0", q_rows(self->db, ROW(403)));
}

/* ---- sched_decisions ---- */

TEST_F(sched, decisions_for_statements_and_rules_not_snapshots)
{
	uint32_t tag = sched_tag_new(0, 4242);
	char sql[256];

	attach(self);
	SEND(0, FORK(500, 1, 10, "make", SCHED_OTHER));
	SEND(0, SCHED(500, 11, DBOS_SCHED_COMMAND, tag, 10, SCHED_BATCH, 0, CPUS_0_1),
	     SCHED(500, 12, DBOS_SCHED_RULE_EXEC, 7, 15, SCHED_IDLE, 0, CPUS_1_3),
	     SCHED(500, 13, DBOS_SCHED_RULE_COMMIT, 8, 15, SCHED_IDLE, 0, CPUS_1),
	     SCHED(500, 14, DBOS_SCHED_COMMAND, 0, 1, SCHED_OTHER, 0, CPUS_0),
	     SCHED(500, 15, DBOS_SCHED_SNAPSHOT, 0, 1, SCHED_OTHER, 0, CPUS_0),
	     SCHED(501, 16, DBOS_SCHED_RULE_CRED, 9, 2, SCHED_OTHER, 0, CPUS_0));
	flush(self);
	EXPECT_EQ(5, q_int(self->db, "SELECT count(*) FROM sched_decisions"));
	snprintf(sql, sizeof(sql),
		 "SELECT seq - %" PRId64 ", time, time_ns, pid, name, cause, rule_id, by_uid, by_pid, "
		 "nice, sched_policy, sched_priority, cpus FROM sched_decisions ORDER BY seq",
		 stat_val(self->db, "epoch_base"));
	EXPECT_STREQ("11|1700000000|1700000000011000000|500|make|statement|NULL|0|4242|10|batch|0|0-1;"
		     "12|1700000000|1700000000012000000|500|make|exec|7|NULL|NULL|15|idle|0|1,3;"
		     "13|1700000000|1700000000013000000|500|make|commit|8|NULL|NULL|15|idle|0|1;"
		     "14|1700000000|1700000000014000000|500|make|statement|NULL|NULL|NULL|1|other|0|0;"
		     "16|1700000000|1700000000016000000|501|NULL|cred|9|NULL|NULL|2|other|0|0",
		     q_rows(self->db, sql));
	EXPECT_EQ(5, stat_val(self->db, "sched_decisions_rows"));
}

TEST_F(sched, decisions_keep_the_retention_limit)
{
	close_all(self);
	open_all(self, 100);
	attach(self);
	SEND(0, FORK(600, 1, 10, "p", SCHED_OTHER));
	for (uint32_t i = 0; i < 500; i++) {
		SEND(0, SCHED(600, 20 + i, DBOS_SCHED_RULE_COMM, 1, (int32_t)(i % 20), SCHED_OTHER, 0, CPUS_0));
		flush(self);
		ASSERT_GE(110, q_int(self->db, "SELECT count(*) FROM sched_decisions"));
	}
	/* trimmed to at most 100 whenever over 110 (history.h) */
	EXPECT_GE(110, q_int(self->db, "SELECT count(*) FROM sched_decisions"));
	EXPECT_LE(90, q_int(self->db, "SELECT count(*) FROM sched_decisions"));
	EXPECT_EQ(500 - q_int(self->db, "SELECT count(*) FROM sched_decisions"),
		  stat_val(self->db, "sched_decisions_trimmed"));
	EXPECT_EQ(stat_val(self->db, "epoch_base") + 519,
		  q_int(self->db, "SELECT max(seq) FROM sched_decisions"));
	EXPECT_EQ(499 % 20, q_int(self->db, "SELECT nice FROM processes WHERE pid = 600"));
	close_all(self);
	open_all(self, 100);
	EXPECT_EQ(q_int(self->db, "SELECT count(*) FROM sched_decisions"),
		  stat_val(self->db, "sched_decisions_rows"));
}

/* ---- malformed input ---- */

static void put_sched(struct _test_data_sched *self, struct trec r)
{
	r.cpu_seq = ++self->cpu_seq[0];
	r.time_ns = T0;
	tmsg_rec(&self->msg, &r);
}

TEST_F(sched, malformed_sched_records_are_counted_and_skipped)
{
	static const uint8_t big[DBOS_CPUS_MAX + 8] = { 0xff };
	struct trec r;

	attach(self);
	SEND(0, FORK(700, 1, 10, "x", SCHED_OTHER));
	tmsg_begin(&self->msg, INST, 0);
	put_sched(self, SCHED(700, 11, DBOS_SCHED_COMMAND, 0, 1, SCHED_OTHER, 0, CPUS_0));
	/* cpus_len past the end of the record */
	r = SCHED(700, 12, DBOS_SCHED_COMMAND, 0, 2, SCHED_OTHER, 0, CPUS_0);
	r.cpus = NULL;
	r.sc.cpus_len = 64;
	put_sched(self, r);
	/* cpus_len beyond DBOS_CPUS_MAX, with the bytes there */
	r = SCHED(700, 13, DBOS_SCHED_COMMAND, 0, 3, SCHED_OTHER, 0, big);
	ASSERT_EQ(DBOS_CPUS_MAX + 8, r.sc.cpus_len);
	put_sched(self, r);
	/* a cause this server does not know */
	put_sched(self, SCHED(700, 14, __DBOS_SCHED_CAUSE_MAX, 0, 4, SCHED_OTHER, 0, CPUS_0));
	/* too short for struct dbos_sched */
	{
		struct dbos_rec_hdr h = { .type = DBOS_REC_SCHED, .len = 48, .seq = 15,
					  .cpu_seq = ++self->cpu_seq[0] };
		static const unsigned char zeros[16];

		tmsg_raw(&self->msg, &h, sizeof(h));
		tmsg_raw(&self->msg, zeros, sizeof(zeros));
	}
	/* the rest of the message is not lost */
	put_sched(self, SCHED(700, 16, DBOS_SCHED_COMMAND, 0, 5, SCHED_BATCH, 0, CPUS_1));
	tmsg_end(&self->msg);
	tmsg_feed(self->w.in, &self->msg);
	flush(self);
	EXPECT_STREQ("5|batch|0|1", q_rows(self->db, ROW(700)));
	EXPECT_EQ(3, stat_val(self->db, "records_malformed"));
	EXPECT_EQ(1, stat_val(self->db, "records_unknown"));
	EXPECT_STREQ("1;5", q_rows(self->db, "SELECT nice FROM sched_decisions ORDER BY seq"));
	EXPECT_EQ(0, stat_val(self->db, "gaps_detected"));
}

TEST_HARNESS_MAIN
