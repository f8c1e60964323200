// SPDX-License-Identifier: GPL-2.0
/*
 * test_intake.c - host tests of intake + mirror: hand-built DBOS_CMD_RECORDS
 * messages, exactly as dbos.ko sends them, go through the decoder and the
 * session dbosd uses into a real store (temp dir), checked with real SQL.
 * The kernel's commands (GET_STATS, DUMP_PROCS, GET_PROC) are a fake here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "dbserver/intake/decode.h"
#include "dbserver/intake/intake.h"
#include "dbserver/mirror/mirror.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/store.h"
#include "tests/host/test_intake_msg.h"

#define INST_A	0xA1A1A1A1A1A1A1A1ULL
#define INST_B	0xB2B2B2B2B2B2B2B2ULL
#define INST_C	0xC3C3C3C3C3C3C3C3ULL
#define MS	1000000ULL
#define SEC	1000000000ULL
#define T0	(1700000000ULL * SEC)	/* realtime of the test's events */

/* ---- a fake kernel: processes for dumps and GET_PROC, and GET_STATS ---- */

#define FAKE_MAX 64

struct fake_proc {
	bool alive;
	struct dbos_proc p;
	const char *path, *cmdline, *cwd;
};

struct fake {
	struct kernel_stats ks;
	int stats_rc;
	uint64_t seq;			/* the kernel's global seq, read by snapshots */
	struct fake_proc procs[FAKE_MAX];
	int nprocs;
	int dumps, get_procs, dump_rc;
	int stale_parent_replies;	/* GET_PROC: report the old parent this many times */
	uint32_t stale_parent;
};

static struct trec snap_rec(const struct fake *f, const struct fake_proc *fp)
{
	return (struct trec){
		.type = DBOS_REC_PROC, .seq = f->seq, .time_ns = T0, .p = fp->p,
		.path = fp->path, .cmdline = fp->cmdline, .cwd = fp->cwd,
	};
}

static int fake_get_stats(void *arg, struct kernel_stats *out)
{
	struct fake *f = arg;

	if (f->stats_rc)
		return f->stats_rc;
	*out = f->ks;
	return 0;
}

/* Like the kernel: ascending tgid, a few snapshots per NLM_F_MULTI message. */
static int fake_dump(void *arg, kernel_msg_fn fn, void *ctx)
{
	struct fake *f = arg;
	static struct tmsg m;
	int in_msg = 0;

	f->dumps++;
	if (f->dump_rc)
		return f->dump_rc;
	tmsg_begin(&m, f->ks.instance, 0);
	for (int i = 0; i < f->nprocs; i++) {
		struct trec r;

		if (!f->procs[i].alive)
			continue;
		r = snap_rec(f, &f->procs[i]);
		tmsg_proc(&m, &r);
		if (++in_msg == 3) {
			tmsg_end(&m);
			tmsg_nlh(&m)->nlmsg_flags = NLM_F_MULTI;
			fn(ctx, tmsg_nlh(&m), m.len);
			tmsg_begin(&m, f->ks.instance, 0);
			in_msg = 0;
		}
	}
	if (in_msg) {
		tmsg_end(&m);
		tmsg_nlh(&m)->nlmsg_flags = NLM_F_MULTI;
		fn(ctx, tmsg_nlh(&m), m.len);
	}
	return 0;
}

static int fake_get_proc(void *arg, uint32_t pid, kernel_msg_fn fn, void *ctx)
{
	struct fake *f = arg;
	static struct tmsg m;

	f->get_procs++;
	for (int i = 0; i < f->nprocs; i++) {
		struct fake_proc fp = f->procs[i];
		struct trec r;

		if (!fp.alive || fp.p.pid != pid)
			continue;
		if (f->stale_parent_replies > 0) {
			f->stale_parent_replies--;
			fp.p.ppid = f->stale_parent;
		}
		r = snap_rec(f, &fp);
		tmsg_begin(&m, f->ks.instance, 0);
		tmsg_proc(&m, &r);
		tmsg_end(&m);
		fn(ctx, tmsg_nlh(&m), m.len);
		return 0;
	}
	return -ESRCH;
}

static const struct kernel_ops fake_ops = {
	.get_stats = fake_get_stats,
	.dump_procs = fake_dump,
	.get_proc = fake_get_proc,
};

static struct fake_proc *fake_add(struct fake *f, uint32_t pid, uint32_t ppid, const char *comm,
				  const char *path, const char *cmdline, const char *cwd,
				  uint32_t threads)
{
	struct fake_proc *fp = &f->procs[f->nprocs++];

	memset(fp, 0, sizeof(*fp));
	fp->alive = true;
	fp->p.pid = fp->p.tid = pid;
	fp->p.ppid = ppid;
	fp->p.threads = threads;
	fp->p.state = 'S';
	fp->p.start_time_ns = T0 - 100 * SEC;
	strncpy(fp->p.comm, comm, sizeof(fp->p.comm) - 1);
	fp->path = path;
	fp->cmdline = cmdline;
	fp->cwd = cwd;
	return fp;
}

/* ---- helpers ---------------------------------------------------------------- */

struct logbuf {
	char text[16384];
	size_t len;
};

static void log_collect(void *arg, const char *line)
{
	struct logbuf *lb = arg;
	int n = snprintf(lb->text + lb->len, sizeof(lb->text) - lb->len, "%s\n", line);

	if (n > 0 && lb->len + (size_t)n < sizeof(lb->text))
		lb->len += (size_t)n;
}

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

/* First column of the first row as an integer; -1 for no row, -2 for NULL, -3 on error. */
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

/* First column of the first row as text (static buffer); "(none)" / "(null)" / "(error)". */
static const char *q_text(sqlite3 *db, const char *sql)
{
	static char buf[4096];
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "# SQL error: %s: %s\n", sql, sqlite3_errmsg(db));
		return "(error)";
	}
	strcpy(buf, "(none)");
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		snprintf(buf, sizeof(buf), "%s", t ? (const char *)t : "(null)");
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

static struct dbos_proc proc(uint32_t pid, uint32_t ppid, const char *comm)
{
	struct dbos_proc p = {
		.pid = pid, .tid = pid, .ppid = ppid, .uid = 1000, .gid = 1000,
		.euid = 1000, .egid = 1000, .state = 'R', .start_time_ns = T0,
	};

	strncpy(p.comm, comm, sizeof(p.comm) - 1);
	return p;
}

FIXTURE(intake) {
	char dir[64];
	struct store *st;
	struct world w;
	struct fake k;
	struct sql_env env;
	sqlite3 *db;
	struct logbuf log;
	uint64_t now;
	uint32_t cpu_seq[8];
	struct tmsg msg;
};

static void open_all(struct _test_data_intake *self, uint64_t retention)
{
	struct mirror_config mc = { .retention = retention };
	struct intake_config ic = {
		.ops = &fake_ops, .ops_arg = &self->k, .log = log_collect, .log_arg = &self->log,
	};
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

static void close_all(struct _test_data_intake *self)
{
	sqlite3_close(self->db);
	intake_free(self->w.in);
	mirror_close(self->w.m);
	store_close(self->st);
	self->db = NULL;
	self->w.in = NULL;
	self->w.m = NULL;
	self->st = NULL;
}

FIXTURE_SETUP(intake)
{
	strcpy(self->dir, "/tmp/test_intake.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	memset(&self->k, 0, sizeof(self->k));
	self->k.ks.version = DBOS_GENL_VERSION;
	self->k.ks.instance = INST_A;
	self->now = 1000 * SEC;
	fake_add(&self->k, 1, 0, "init", "/sbin/init", "/sbin/init", "/", 1);
	open_all(self, 1000000);
}

FIXTURE_TEARDOWN(intake)
{
	char cmd[128];

	if (self->st)
		close_all(self);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		fprintf(stderr, "# cannot remove %s\n", self->dir);
}

/*
 * Send one event message on @cpu with @n records, with consecutive cpu_seq;
 * then every CPU's watermark at its last seq, unless @held (other CPUs'
 * records are still to come: the reorder stage holds these until they pass).
 */
static void send_msg(struct _test_data_intake *self, uint64_t instance, uint16_t cpu,
		     struct trec *r, int n, bool held)
{
	tmsg_begin(&self->msg, instance, cpu);
	for (int i = 0; i < n; i++) {
		r[i].cpu = cpu;
		r[i].cpu_seq = ++self->cpu_seq[cpu];
		if (!r[i].time_ns)
			r[i].time_ns = T0 + r[i].seq * MS;
		tmsg_proc(&self->msg, &r[i]);
	}
	tmsg_end(&self->msg);
	if (held)
		intake_feed(self->w.in, tmsg_nlh(&self->msg), self->msg.len);
	else
		tmsg_feed(self->w.in, &self->msg);
}

static void send_recs(struct _test_data_intake *self, uint64_t instance, uint16_t cpu,
		      struct trec *r, int n)
{
	send_msg(self, instance, cpu, r, n, false);
}

static void send1(struct _test_data_intake *self, uint16_t cpu, struct trec r)
{
	send_recs(self, self->k.ks.instance, cpu, &r, 1);
}

/* One record on @cpu, held (see send_msg()). */
static void send_held(struct _test_data_intake *self, uint16_t cpu, struct trec r)
{
	send_msg(self, self->k.ks.instance, cpu, &r, 1, true);
}

/* Every CPU sent everything up to @seq. */
static void wm(struct _test_data_intake *self, uint64_t seq)
{
	tmsg_feed_watermark(self->w.in, self->k.ks.instance, seq);
}

/* Commit (rows become visible) / attach to the fake kernel: re-sync from its dump. */
#define flush(self)	ASSERT_EQ(0, intake_flush((self)->w.in, (self)->now))
#define attach(self)	ASSERT_EQ(0, intake_attach((self)->w.in, (self)->now))

#define FORK(pid_, ppid_, seq_, comm_) (struct trec){ .type = DBOS_REC_FORK, .seq = (seq_), \
	.p = proc(pid_, ppid_, comm_), .path = "/bin/sh", .cmdline = "sh" }
#define EXEC(pid_, ppid_, seq_, comm_, path_, cmd_, cmdlen_) (struct trec){ .type = DBOS_REC_EXEC, \
	.seq = (seq_), .p = proc(pid_, ppid_, comm_), .path = (path_), .cmdline = (cmd_), \
	.cmdline_len = (cmdlen_) }
#define EXIT(pid_, ppid_, seq_, code_) (struct trec){ .type = DBOS_REC_EXIT, .seq = (seq_), \
	.flags = DBOS_RECF_GROUP_DEAD, .p = ({ struct dbos_proc p_ = proc(pid_, ppid_, "x"); \
	p_.exit_code = (code_); p_.state = 'X'; p_; }) }

/* ---- lifecycle ---------------------------------------------------------------- */

TEST_F(intake, fork_exec_exit_lifecycle)
{
	attach(self);
	send1(self, 0, FORK(100, 1, 10, "sh"));
	send1(self, 0, EXEC(100, 1, 11, "ls", "/bin/ls", "ls\0-l\0/tmp", 10));
	/* Nothing is visible before the commit. */
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 100"));
	flush(self);

	EXPECT_EQ(100, q_int(self->db, "SELECT pid FROM processes WHERE pid = 100"));
	EXPECT_EQ(1, q_int(self->db, "SELECT parent FROM processes WHERE pid = 100"));
	EXPECT_STREQ("ls", q_text(self->db, "SELECT name FROM processes WHERE pid = 100"));
	EXPECT_STREQ("/bin/ls", q_text(self->db, "SELECT path FROM processes WHERE pid = 100"));
	EXPECT_STREQ("ls -l /tmp", q_text(self->db, "SELECT cmdline FROM processes WHERE pid = 100"));
	EXPECT_STREQ("R", q_text(self->db, "SELECT state FROM processes WHERE pid = 100"));
	EXPECT_STREQ("other", q_text(self->db, "SELECT sched_policy FROM processes WHERE pid = 100"));
	EXPECT_STREQ("(null)", q_text(self->db, "SELECT cwd FROM processes WHERE pid = 100"));
	EXPECT_EQ(1, q_int(self->db, "SELECT threads FROM processes WHERE pid = 100"));
	EXPECT_EQ(1000, q_int(self->db, "SELECT euid FROM processes WHERE pid = 100"));
	EXPECT_EQ(1700000000, q_int(self->db, "SELECT start_time FROM processes WHERE pid = 100"));
	EXPECT_EQ(2, q_int(self->db, "SELECT count(*) FROM process_events WHERE pid = 100"));
	EXPECT_STREQ("fork", q_text(self->db, "SELECT event FROM process_events WHERE pid = 100 ORDER BY seq LIMIT 1"));
	EXPECT_STREQ("ls -l /tmp", q_text(self->db, "SELECT cmdline FROM process_events WHERE pid = 100 AND event = 'exec'"));
	EXPECT_EQ(-2, q_int(self->db, "SELECT exit_code FROM process_events WHERE pid = 100 AND event = 'exec'"));

	send1(self, 0, EXIT(100, 1, 12, 256));
	flush(self);
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 100"));
	EXPECT_EQ(3, q_int(self->db, "SELECT count(*) FROM process_events WHERE pid = 100"));
	EXPECT_EQ(256, q_int(self->db, "SELECT exit_code FROM process_events WHERE pid = 100 AND event = 'exit'"));
	EXPECT_EQ(1700000000, q_int(self->db, "SELECT time FROM process_events WHERE pid = 100 AND event = 'exit'"));
	EXPECT_EQ((int64_t)(T0 + 12 * MS), q_int(self->db, "SELECT time_ns FROM process_events WHERE pid = 100 AND event = 'exit'"));
	/* History seq: strictly increasing in the order events happened. */
	EXPECT_STREQ("fork,exec,exit", q_text(self->db,
		"SELECT group_concat(event) FROM (SELECT event FROM process_events WHERE pid = 100 ORDER BY seq)"));
	EXPECT_EQ(3, stat_val(self->db, "events_received"));
	EXPECT_EQ(1, stat_val(self->db, "processes_rows"));	/* init */
	EXPECT_EQ(3, stat_val(self->db, "process_events_rows"));
}

TEST_F(intake, comm_and_cred_update_the_row)
{
	struct trec c = FORK(150, 1, 21, "renamed");

	attach(self);
	send1(self, 0, FORK(150, 1, 20, "sh"));
	c.type = DBOS_REC_COMM;
	c.path = c.cmdline = NULL;
	send1(self, 0, c);
	c = FORK(150, 1, 22, "renamed");
	c.type = DBOS_REC_CRED;
	c.path = c.cmdline = NULL;
	c.p.euid = 0;
	c.p.nice = -5;
	c.p.policy = 2;	/* SCHED_RR */
	send1(self, 0, c);
	flush(self);
	EXPECT_STREQ("renamed", q_text(self->db, "SELECT name FROM processes WHERE pid = 150"));
	EXPECT_EQ(0, q_int(self->db, "SELECT euid FROM processes WHERE pid = 150"));
	EXPECT_EQ(-5, q_int(self->db, "SELECT nice FROM processes WHERE pid = 150"));
	EXPECT_STREQ("rr", q_text(self->db, "SELECT sched_policy FROM processes WHERE pid = 150"));
	/* COMM/CRED carry no strings: the row keeps the FORK's path. */
	EXPECT_STREQ("/bin/sh", q_text(self->db, "SELECT path FROM processes WHERE pid = 150"));
	EXPECT_STREQ("comm,cred", q_text(self->db,
		"SELECT group_concat(event) FROM (SELECT event FROM process_events WHERE pid = 150 AND event IN ('comm','cred') ORDER BY seq)"));
	EXPECT_STREQ("(null)", q_text(self->db, "SELECT path FROM process_events WHERE pid = 150 AND event = 'cred'"));
}

/* ---- ordering ------------------------------------------------------------------ */

TEST_F(intake, exit_from_other_cpu_before_older_exec_does_not_resurrect)
{
	attach(self);
	send1(self, 0, FORK(200, 1, 30, "sh"));
	flush(self);
	/* cpu 1's buffer is drained first: the EXIT (seq 32) comes before the EXEC (seq 31). */
	send_held(self, 1, EXIT(200, 1, 32, 0));
	send1(self, 0, EXEC(200, 1, 31, "true", "/bin/true", "true", 0));
	wm(self, 32);
	flush(self);
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 200"));
	EXPECT_STREQ("fork,exec,exit", q_text(self->db,
		"SELECT group_concat(event) FROM (SELECT event FROM process_events WHERE pid = 200 ORDER BY seq)"));
	/* held and applied in seq order: nothing stale, nothing late */
	EXPECT_EQ(0, stat_val(self->db, "events_stale"));
	EXPECT_EQ(0, stat_val(self->db, "reorder_late"));
	EXPECT_FALSE(intake_resync_requested(self->w.in));

	/* Held across commits: the EXIT waits for the FORK and EXEC before it. */
	send_held(self, 1, EXIT(201, 1, 42, 0));
	flush(self);
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM process_events WHERE pid = 201"));
	send1(self, 0, FORK(201, 1, 40, "sh"));
	send1(self, 0, EXEC(201, 1, 41, "x", "/bin/x", "x", 0));
	wm(self, 42);
	flush(self);
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 201"));
	EXPECT_EQ(3, q_int(self->db, "SELECT count(*) FROM process_events WHERE pid = 201"));

	/* A later incarnation of the pid (higher seq) is a new row. */
	send1(self, 0, FORK(201, 1, 50, "again"));
	flush(self);
	EXPECT_STREQ("again", q_text(self->db, "SELECT name FROM processes WHERE pid = 201"));
	EXPECT_EQ(0, stat_val(self->db, "reorder_late"));
}

/*
 * A kernel whose watermark lied: a record comes after the merge passed its
 * seq. It is applied at once (here a FORK after its process's EXIT: a row
 * of a dead process), counted, and the re-sync from the kernel's dump that
 * follows removes what it got wrong.
 */
TEST_F(intake, record_behind_a_lying_watermark_is_counted_and_resyncs)
{
	fake_add(&self->k, 205, 1, "sh", "/bin/sh", "sh", "/", 1);
	attach(self);
	EXPECT_FALSE(intake_resync_requested(self->w.in));
	send1(self, 1, EXIT(204, 1, 32, 0));	/* every CPU's watermark: 32 */
	send1(self, 0, FORK(204, 1, 31, "late"));
	EXPECT_TRUE(intake_resync_requested(self->w.in));
	self->k.seq = 40;			/* the kernel's dump comes after both */
	flush(self);
	EXPECT_FALSE(intake_resync_requested(self->w.in));
	EXPECT_EQ(1, stat_val(self->db, "reorder_late"));
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 204"));
	EXPECT_EQ(1, q_int(self->db, "SELECT count(*) FROM processes WHERE pid = 205"));
}

TEST_F(intake, new_incarnation_overtakes_old_exit)
{
	attach(self);
	send1(self, 0, FORK(210, 1, 10, "old"));
	flush(self);
	/* pid reused: the new FORK (seq 20) from cpu 1 arrives before the old EXIT (seq 15). */
	send_held(self, 1, FORK(210, 1, 20, "new"));
	send1(self, 0, EXIT(210, 1, 15, 0));
	flush(self);
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 210"));
	wm(self, 20);
	flush(self);
	EXPECT_STREQ("new", q_text(self->db, "SELECT name FROM processes WHERE pid = 210"));
	EXPECT_EQ(0, stat_val(self->db, "events_stale"));
	/* The old EXIT lost (a re-sync is coming): a newer FORK still replaces the row. */
	send1(self, 0, FORK(210, 1, 30, "newer"));
	flush(self);
	EXPECT_STREQ("newer", q_text(self->db, "SELECT name FROM processes WHERE pid = 210"));
	EXPECT_STREQ("fork,exit,fork,fork", q_text(self->db,
		"SELECT group_concat(event) FROM (SELECT event FROM process_events WHERE pid = 210 ORDER BY seq)"));
}

TEST_F(intake, comm_before_its_fork_and_late_fork_fills_path)
{
	struct trec c = FORK(220, 1, 61, "worker");

	attach(self);
	c.type = DBOS_REC_COMM;
	c.path = c.cmdline = NULL;
	send_held(self, 1, c);		/* seq 61 comes before the FORK: held */
	flush(self);
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 220"));
	send1(self, 0, FORK(220, 1, 60, "sh"));
	wm(self, 61);
	flush(self);
	EXPECT_STREQ("worker", q_text(self->db, "SELECT name FROM processes WHERE pid = 220"));
	EXPECT_STREQ("/bin/sh", q_text(self->db, "SELECT path FROM processes WHERE pid = 220"));
	EXPECT_EQ(0, stat_val(self->db, "events_stale"));
	EXPECT_EQ(0, stat_val(self->db, "reorder_late"));

	/* A record about a pid without a row makes none: its FORK came first, so it has exited. */
	c.p.pid = 221;
	c.seq = 70;
	send1(self, 0, c);
	flush(self);
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 221"));
	EXPECT_EQ(1, stat_val(self->db, "events_stale"));
	EXPECT_EQ(1, q_int(self->db, "SELECT count(*) FROM process_events WHERE pid = 221"));
}

TEST_F(intake, snapshot_versus_events)
{
	struct trec c;

	fake_add(&self->k, 300, 1, "daemon", "/usr/sbin/daemon", "daemon --fg", "/srv", 1)->p.nice = 3;
	self->k.seq = 100;
	attach(self);
	EXPECT_EQ(3, q_int(self->db, "SELECT nice FROM processes WHERE pid = 300"));
	EXPECT_STREQ("daemon", q_text(self->db, "SELECT name FROM processes WHERE pid = 300"));
	EXPECT_STREQ("/srv", q_text(self->db, "SELECT cwd FROM processes WHERE pid = 300"));
	EXPECT_EQ(100 + stat_val(self->db, "epoch_base"),
		  q_int(self->db, "SELECT seq FROM processes WHERE pid = 300"));

	/* An event older than the dump: history only. */
	c = FORK(300, 1, 90, "older");
	c.type = DBOS_REC_COMM;
	c.path = c.cmdline = NULL;
	send1(self, 0, c);
	flush(self);
	EXPECT_STREQ("daemon", q_text(self->db, "SELECT name FROM processes WHERE pid = 300"));
	EXPECT_EQ(1, q_int(self->db, "SELECT count(*) FROM process_events WHERE pid = 300 AND name = 'older'"));
	EXPECT_EQ(1, stat_val(self->db, "records_before_dump"));

	/* A newer EXEC: applied, and the snapshot's cwd stays. */
	send1(self, 0, EXEC(300, 1, 105, "daemon2", "/usr/sbin/daemon2", "daemon2", 0));
	flush(self);
	EXPECT_STREQ("daemon2", q_text(self->db, "SELECT name FROM processes WHERE pid = 300"));
	EXPECT_STREQ("/srv", q_text(self->db, "SELECT cwd FROM processes WHERE pid = 300"));
	EXPECT_EQ(0, q_int(self->db, "SELECT nice FROM processes WHERE pid = 300"));	/* the EXEC's */
}

TEST_F(intake, fork_overtaking_the_dump_keeps_cwd)
{
	struct trec f;

	/* The dump read the child (seq 50) before its FORK took seq 51. */
	fake_add(&self->k, 310, 1, "child", "/bin/sh", "sh", "/home/u", 1)->p.start_time_ns = T0 + 5;
	self->k.seq = 50;
	attach(self);
	f = FORK(310, 1, 51, "child");
	f.p.start_time_ns = T0 + 5;
	send1(self, 0, f);
	flush(self);
	EXPECT_STREQ("/home/u", q_text(self->db, "SELECT cwd FROM processes WHERE pid = 310"));
	/* A different process (other start time) on the pid starts without a cwd. */
	f.seq = 60;
	f.p.start_time_ns = T0 + 9 * SEC;
	send1(self, 0, f);
	flush(self);
	EXPECT_STREQ("(null)", q_text(self->db, "SELECT cwd FROM processes WHERE pid = 310"));
}

/* ---- threads --------------------------------------------------------------------- */

TEST_F(intake, thread_count_exactly_once)
{
	struct trec t;

	attach(self);
	send1(self, 0, FORK(400, 1, 10, "mt"));
	t = FORK(400, 1, 11, "mt");
	t.flags = DBOS_RECF_THREAD;
	t.p.tid = 401;
	send1(self, 0, t);
	t.seq = 12;
	t.p.tid = 402;
	send1(self, 1, t);
	flush(self);
	EXPECT_EQ(3, q_int(self->db, "SELECT threads FROM processes WHERE pid = 400"));
	t = EXIT(400, 1, 13, 0);
	t.flags = DBOS_RECF_THREAD;		/* not GROUP_DEAD: one thread */
	t.p.tid = 401;
	send1(self, 0, t);
	flush(self);
	EXPECT_EQ(2, q_int(self->db, "SELECT threads FROM processes WHERE pid = 400"));
	/* Thread events are not process events. */
	EXPECT_EQ(1, q_int(self->db, "SELECT count(*) FROM process_events WHERE pid = 400"));
	EXPECT_EQ(3, stat_val(self->db, "thread_events"));

	/* Thread events that come before their process's FORK are held until it comes. */
	t = FORK(410, 1, 21, "mt2");
	t.flags = DBOS_RECF_THREAD;
	send_held(self, 1, t);
	flush(self);
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 410"));
	send1(self, 0, FORK(410, 1, 20, "mt2"));
	wm(self, 21);
	flush(self);
	EXPECT_EQ(2, q_int(self->db, "SELECT threads FROM processes WHERE pid = 410"));

	/* Snapshot base: threads=5 at seq 100; an older thread event is in it, a newer one is not. */
	fake_add(&self->k, 420, 1, "pool", "/bin/pool", "pool", "/", 5);
	self->k.seq = 100;
	ASSERT_EQ(0, intake_attach(self->w.in, self->now));	/* re-sync */
	EXPECT_EQ(5, q_int(self->db, "SELECT threads FROM processes WHERE pid = 420"));
	t = FORK(420, 1, 95, "pool");
	t.flags = DBOS_RECF_THREAD;
	send1(self, 0, t);			/* older than the snapshot: already counted */
	t.seq = 105;
	send1(self, 1, t);			/* newer: counted once */
	flush(self);
	EXPECT_EQ(6, q_int(self->db, "SELECT threads FROM processes WHERE pid = 420"));
}

TEST_F(intake, cmdline_joining)
{
	attach(self);
	send1(self, 0, FORK(500, 1, 10, "sh"));
	send1(self, 0, EXEC(500, 1, 11, "python3", "/usr/bin/python3",
			    "python3\0-c\0print('a b')\0\0end", 28));
	flush(self);
	EXPECT_STREQ("python3 -c print('a b')  end", q_text(self->db,
		"SELECT cmdline FROM processes WHERE pid = 500"));
	EXPECT_STREQ("python3 -c print('a b')  end", q_text(self->db,
		"SELECT cmdline FROM process_events WHERE pid = 500 AND event = 'exec'"));
	/* A kernel thread: empty path and command line, not NULL. */
	send1(self, 0, FORK(501, 2, 12, "kworker/0:1"));
	send1(self, 0, EXEC(501, 2, 13, "kworker/0:1", "", "", 0));
	flush(self);
	EXPECT_EQ(0, q_int(self->db, "SELECT length(path) FROM processes WHERE pid = 501"));
	EXPECT_EQ(0, q_int(self->db, "SELECT length(cmdline) FROM processes WHERE pid = 501"));
}

/* ---- loss detection and re-sync ------------------------------------------------ */

TEST_F(intake, cpu_seq_hole_requests_resync)
{
	attach(self);
	EXPECT_EQ(1, self->k.dumps);
	/* Baselines are per CPU: cpu 3 starting at 1000 is not a gap. */
	self->cpu_seq[3] = 999;
	send1(self, 3, FORK(600, 1, 10, "a"));
	send1(self, 1, FORK(601, 1, 11, "b"));
	send1(self, 1, FORK(602, 1, 12, "c"));
	flush(self);
	EXPECT_EQ(0, stat_val(self->db, "gaps_detected"));
	EXPECT_EQ(1, self->k.dumps);

	self->cpu_seq[1] += 5;	/* five records lost on cpu 1 */
	send1(self, 1, FORK(603, 1, 20, "d"));
	EXPECT_TRUE(intake_resync_requested(self->w.in));
	EXPECT_NE(NULL, strstr(self->log.text, "gap on cpu 1 (expected 3, got 8): re-syncing"));
	flush(self);
	EXPECT_EQ(2, self->k.dumps);
	EXPECT_FALSE(intake_resync_requested(self->w.in));
	EXPECT_EQ(1, stat_val(self->db, "gaps_detected"));
	EXPECT_EQ(2, stat_val(self->db, "resyncs"));
	/* The record after the hole is the new baseline: no second gap. */
	send1(self, 1, FORK(604, 1, 21, "e"));
	flush(self);
	EXPECT_EQ(1, stat_val(self->db, "gaps_detected"));
	EXPECT_EQ(2, self->k.dumps);
}

TEST_F(intake, overrun_and_kernel_drops_request_resync)
{
	attach(self);
	intake_overrun(self->w.in);
	EXPECT_TRUE(intake_resync_requested(self->w.in));
	flush(self);
	EXPECT_EQ(2, self->k.dumps);
	EXPECT_EQ(1, stat_val(self->db, "overruns"));

	/* GET_STATS poll: nothing new, no re-sync. */
	self->k.ks.v[DBOS_STATS_PRODUCED] = 50;
	self->now += INTAKE_STATS_PERIOD_NS;
	EXPECT_EQ(0, intake_tick(self->w.in, self->now));
	EXPECT_EQ(2, self->k.dumps);
	EXPECT_EQ(50, stat_val(self->db, "kernel_produced"));
	/* DROPPED grew: re-sync. */
	self->k.ks.v[DBOS_STATS_DROPPED] = 7;
	self->now += INTAKE_STATS_PERIOD_NS;
	EXPECT_EQ(0, intake_tick(self->w.in, self->now));
	EXPECT_EQ(3, self->k.dumps);
	EXPECT_EQ(7, stat_val(self->db, "kernel_dropped"));
	/* SEND_FAILED grew: re-sync. */
	self->k.ks.v[DBOS_STATS_SEND_FAILED] = 1;
	self->now += INTAKE_STATS_PERIOD_NS;
	EXPECT_EQ(0, intake_tick(self->w.in, self->now));
	EXPECT_EQ(4, self->k.dumps);
	EXPECT_EQ(4, stat_val(self->db, "resyncs"));
	/* UNHEARD grew while attached (our socket filtered or lost it): re-sync. */
	self->k.ks.v[DBOS_STATS_UNHEARD] += 76;
	self->now += INTAKE_STATS_PERIOD_NS;
	EXPECT_EQ(0, intake_tick(self->w.in, self->now));
	EXPECT_EQ(5, self->k.dumps);
	EXPECT_EQ(5, stat_val(self->db, "resyncs"));
	/* A different instance in GET_STATS: the caller must re-attach. */
	self->k.ks.instance = INST_B;
	self->now += INTAKE_STATS_PERIOD_NS;
	EXPECT_EQ(-ESTALE, intake_tick(self->w.in, self->now));
	/* The family is gone. */
	self->k.stats_rc = -ENOENT;
	self->now += INTAKE_STATS_PERIOD_NS;
	EXPECT_EQ(-ENOENT, intake_tick(self->w.in, self->now));
	intake_detach(self->w.in);
	EXPECT_EQ(0, stat_val(self->db, "module_attached"));
}

TEST_F(intake, failed_dump_is_retried_without_sweeping)
{
	attach(self);
	send1(self, 0, FORK(650, 1, 10, "x"));
	flush(self);
	self->k.dump_rc = -EIO;
	intake_overrun(self->w.in);
	flush(self);
	EXPECT_EQ(650, q_int(self->db, "SELECT pid FROM processes WHERE pid = 650"));
	EXPECT_TRUE(intake_resync_requested(self->w.in));
	EXPECT_EQ(1, stat_val(self->db, "resync_failures"));
	self->k.dump_rc = 0;
	self->k.seq = 20;
	flush(self);	/* too early: retried after a second */
	EXPECT_EQ(2, self->k.dumps);
	self->now += INTAKE_RESYNC_RETRY_NS;
	flush(self);
	EXPECT_EQ(3, self->k.dumps);
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 650"));
}

TEST_F(intake, mark_and_sweep_removes_vanished)
{
	fake_add(&self->k, 700, 1, "a", "/a", "a", "/", 1);
	fake_add(&self->k, 701, 1, "b", "/b", "b", "/", 1);
	self->k.seq = 10;
	attach(self);
	EXPECT_EQ(3, q_int(self->db, "SELECT count(*) FROM processes"));
	EXPECT_NE(NULL, strstr(self->log.text, "attached to dbos module instance a1a1a1a1a1a1a1a1, 3 processes"));

	/* 701 dies, its EXIT is lost; 702 appears, its FORK is lost. */
	self->k.procs[2].alive = false;
	fake_add(&self->k, 702, 1, "c", "/c", "c", "/", 1);
	self->k.seq = 20;
	intake_overrun(self->w.in);
	flush(self);
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 701"));
	EXPECT_EQ(702, q_int(self->db, "SELECT pid FROM processes WHERE pid = 702"));
	EXPECT_EQ(3, q_int(self->db, "SELECT count(*) FROM processes"));
	EXPECT_NE(NULL, strstr(self->log.text, "re-synced: 3 processes, 1 vanished"));
	/* The lost EXIT arriving late does not matter; a late older EXEC cannot resurrect. */
	send1(self, 0, EXEC(701, 1, 15, "b", "/b", "b", 0));
	flush(self);
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 701"));
}

TEST_F(intake, startup_sweeps_processes_that_died_while_down)
{
	fake_add(&self->k, 710, 1, "a", "/a", "a", "/", 1);
	fake_add(&self->k, 711, 1, "b", "/b", "b", "/", 1);
	self->k.seq = 10;
	attach(self);
	EXPECT_EQ(3, q_int(self->db, "SELECT count(*) FROM processes"));
	close_all(self);

	/* dbosd is down; 711 exits. Restart: stored rows load, the dump sweeps. */
	self->k.procs[2].alive = false;
	self->k.seq = 30;
	open_all(self, 1000000);
	EXPECT_EQ(3, q_int(self->db, "SELECT count(*) FROM processes"));
	EXPECT_EQ(3, stat_val(self->db, "processes_rows"));
	attach(self);
	EXPECT_EQ(2, q_int(self->db, "SELECT count(*) FROM processes"));
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 711"));
}

/* ---- reparenting ---------------------------------------------------------------- */

TEST_F(intake, children_get_new_parent_after_parent_exit)
{
	struct trec e;

	fake_add(&self->k, 800, 1, "parent", "/p", "p", "/", 1);
	fake_add(&self->k, 801, 800, "kid1", "/k", "k", "/", 1);
	fake_add(&self->k, 802, 800, "kid2", "/k", "k", "/", 1);
	self->k.seq = 10;
	attach(self);
	EXPECT_EQ(800, q_int(self->db, "SELECT parent FROM processes WHERE pid = 801"));

	/* The kernel reparents them to init; the first GET_PROC still shows the old parent. */
	self->k.procs[1].alive = false;
	self->k.procs[2].p.ppid = 1;
	self->k.procs[3].p.ppid = 1;
	self->k.seq = 20;
	self->k.stale_parent_replies = 1;
	self->k.stale_parent = 800;
	e = EXIT(800, 1, 15, 0);
	e.flags |= DBOS_RECF_CHILDREN;
	send1(self, 0, e);
	flush(self);
	EXPECT_EQ(2, self->k.get_procs);
	/* The first child asked saw the stale parent: not applied, retried 10 ms later. */
	EXPECT_EQ(801, q_int(self->db, "SELECT sum(parent) FROM processes WHERE pid IN (801, 802)"));
	self->now += INTAKE_REPARENT_RETRY_NS;
	EXPECT_EQ(0, intake_tick(self->w.in, self->now));
	EXPECT_EQ(3, self->k.get_procs);
	EXPECT_EQ(1, q_int(self->db, "SELECT parent FROM processes WHERE pid = 801"));
	EXPECT_EQ(1, q_int(self->db, "SELECT parent FROM processes WHERE pid = 802"));
	EXPECT_EQ(3, stat_val(self->db, "reparent_queries"));
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 800"));
}

/*
 * The child's FORK sits in another CPU's buffer when the parent's EXIT comes:
 * the reorder stage holds the EXIT until the FORK is in, so the child's row
 * exists when the EXIT (which flags that the parent had children) asks the
 * kernel for the children's new parent.
 */
TEST_F(intake, child_seen_after_its_parent_exit_is_asked_for)
{
	struct trec e = EXIT(810, 1, 15, 0);

	fake_add(&self->k, 810, 1, "parent", "/p", "p", "/", 1);
	fake_add(&self->k, 811, 1, "kid", "/k", "k", "/", 1)->alive = false;
	self->k.seq = 10;
	attach(self);
	self->k.procs[1].alive = false;
	self->k.procs[2].alive = true;	/* already reparented to init */
	self->k.seq = 20;
	e.flags |= DBOS_RECF_CHILDREN;
	send_held(self, 0, e);
	send1(self, 1, FORK(811, 810, 12, "kid"));
	wm(self, 15);
	flush(self);
	EXPECT_EQ(1, self->k.get_procs);
	EXPECT_EQ(1, q_int(self->db, "SELECT parent FROM processes WHERE pid = 811"));
	EXPECT_EQ(0, stat_val(self->db, "reorder_late"));
}

/*
 * A record of the child taken after the parent's exit tracepoint but before
 * the kernel reparented it (seq above the EXIT's) still names the dead
 * parent: the server asks the kernel for the child again.
 */
TEST_F(intake, child_exec_seen_after_its_parent_exit_is_asked_for)
{
	fake_add(&self->k, 830, 1, "parent", "/p", "p", "/", 1);
	fake_add(&self->k, 831, 1, "kid", "/k", "k", "/", 1)->alive = false;
	self->k.seq = 10;
	attach(self);
	self->k.procs[1].alive = false;
	self->k.procs[2].alive = true;
	self->k.seq = 20;
	send1(self, 2, FORK(831, 830, 12, "kid"));
	send_held(self, 0, EXIT(830, 1, 15, 0));
	send1(self, 1, EXEC(831, 830, 16, "kid", "/k", "k", 1));
	wm(self, 16);
	flush(self);
	EXPECT_EQ(1, self->k.get_procs);
	EXPECT_EQ(1, q_int(self->db, "SELECT parent FROM processes WHERE pid = 831"));
}

/*
 * On a quiet machine the answer to a reparenting query carries the seq of
 * the last record, which can be the child's own EXEC that still named the
 * dead parent: a snapshot at seq q shows everything up to and including
 * record q, so it wins over a row set by record q (it was dropped as stale,
 * and the child kept its dead parent: the test_processes orphan flake).
 */
TEST_F(intake, reparent_answer_with_the_seq_of_the_childs_last_record_wins)
{
	fake_add(&self->k, 840, 1, "parent", "/p", "p", "/", 1);
	fake_add(&self->k, 841, 1, "kid", "/k", "k", "/", 1)->alive = false;
	self->k.seq = 10;
	attach(self);
	self->k.procs[1].alive = false;
	self->k.procs[2].alive = true;
	self->k.seq = 16;		/* nothing happened since the EXEC */
	self->k.stale_parent_replies = 1;
	self->k.stale_parent = 840;
	send1(self, 2, FORK(841, 840, 12, "kid"));
	send_held(self, 0, EXIT(840, 1, 15, 0));
	send1(self, 1, EXEC(841, 840, 16, "kid", "/k", "k", 1));
	wm(self, 16);
	flush(self);
	EXPECT_EQ(840, q_int(self->db, "SELECT parent FROM processes WHERE pid = 841"));
	self->now += INTAKE_REPARENT_RETRY_NS;
	EXPECT_EQ(0, intake_tick(self->w.in, self->now));
	EXPECT_EQ(2, self->k.get_procs);
	EXPECT_EQ(1, q_int(self->db, "SELECT parent FROM processes WHERE pid = 841"));
}

/*
 * exit_group() of a process whose child was forked by a thread other than
 * the last one: that thread's exit reparents the child to a reaper outside
 * the process (the others are exiting too), and the last thread, whose
 * EXIT says GROUP_DEAD, has no children of its own. The thread's EXIT says
 * it had children; the process's exit asks for them.
 */
TEST_F(intake, child_of_a_thread_gets_its_new_parent_at_the_process_exit)
{
	struct trec t = EXIT(850, 1, 14, 0), e = EXIT(850, 1, 15, 0);

	fake_add(&self->k, 850, 1, "parent", "/p", "p", "/", 2);
	fake_add(&self->k, 851, 850, "kid", "/k", "k", "/", 1);
	self->k.seq = 10;
	attach(self);
	self->k.procs[1].alive = false;
	self->k.procs[2].p.ppid = 1;
	self->k.seq = 20;
	t.flags = DBOS_RECF_THREAD | DBOS_RECF_CHILDREN;
	t.p.tid = 852;
	send1(self, 0, t);
	send1(self, 1, e);
	flush(self);
	EXPECT_EQ(1, self->k.get_procs);
	EXPECT_EQ(1, q_int(self->db, "SELECT parent FROM processes WHERE pid = 851"));
}

/*
 * Two last threads exiting together both see no thread left and both say
 * GROUP_DEAD; the second one had the children. Its EXIT comes after the
 * first one deleted the row, here with a commit between them (the pid is
 * forgotten by then): it still asks for the children.
 */
TEST_F(intake, second_group_dead_exit_with_children_asks_for_them)
{
	struct trec a = EXIT(860, 1, 14, 0), b = EXIT(860, 1, 15, 0);

	fake_add(&self->k, 860, 1, "parent", "/p", "p", "/", 2);
	fake_add(&self->k, 861, 860, "kid", "/k", "k", "/", 1);
	self->k.seq = 10;
	attach(self);
	self->k.procs[1].alive = false;
	self->k.procs[2].p.ppid = 1;
	self->k.seq = 20;
	send1(self, 0, a);
	flush(self);
	EXPECT_EQ(0, self->k.get_procs);
	EXPECT_EQ(860, q_int(self->db, "SELECT parent FROM processes WHERE pid = 861"));
	b.p.tid = 862;
	b.flags |= DBOS_RECF_CHILDREN;
	send1(self, 1, b);
	flush(self);
	EXPECT_EQ(1, self->k.get_procs);
	EXPECT_EQ(1, q_int(self->db, "SELECT parent FROM processes WHERE pid = 861"));
}

/* A dump that shows a child of a process the dump did not see asks for the child again. */
TEST_F(intake, dump_naming_a_missing_parent_asks_again)
{
	fake_add(&self->k, 820, 819, "kid", "/k", "k", "/", 1);
	self->k.seq = 10;
	attach(self);
	EXPECT_EQ(819, q_int(self->db, "SELECT parent FROM processes WHERE pid = 820"));
	self->k.procs[1].p.ppid = 1;
	self->k.seq = 20;
	self->now += INTAKE_REPARENT_RETRY_NS;
	EXPECT_EQ(0, intake_tick(self->w.in, self->now));
	EXPECT_EQ(1, q_int(self->db, "SELECT parent FROM processes WHERE pid = 820"));
	EXPECT_EQ(1, self->k.get_procs);
}

/* ---- malformed input ----------------------------------------------------------- */

static void put_hdr(struct tmsg *m, uint16_t type, uint16_t len, uint32_t cpu_seq)
{
	struct dbos_rec_hdr h = { .type = type, .len = len, .seq = 1, .cpu_seq = cpu_seq };

	tmsg_raw(m, &h, sizeof(h));
}

/* Append a well-formed record stamped with cpu 0's next cpu_seq. */
static size_t put_rec(struct _test_data_intake *self, struct trec r)
{
	r.cpu_seq = ++self->cpu_seq[0];
	return tmsg_proc(&self->msg, &r);
}

TEST_F(intake, malformed_records_are_counted_and_skipped)
{
	static const unsigned char zeros[128];
	size_t at;

	attach(self);
	tmsg_begin(&self->msg, INST_A, 0);
	put_rec(self, FORK(900, 1, 10, "ok1"));
	/* String lengths past the record: framing intact, record skipped. */
	at = self->msg.len;
	put_rec(self, FORK(901, 1, 11, "badstr"));
	((struct dbos_proc *)(self->msg.buf + at + 32))->cmdline_len = 500;
	/* Too short for a process record. */
	put_hdr(&self->msg, DBOS_REC_EXEC, 40, ++self->cpu_seq[0]);
	tmsg_raw(&self->msg, zeros, 8);
	/* Unknown type with a body: skipped (forward compatibility). */
	put_hdr(&self->msg, 99, 48, ++self->cpu_seq[0]);
	tmsg_raw(&self->msg, "0123456789abcdef", 16);
	/* PAD: skipped silently (no cpu_seq). */
	put_hdr(&self->msg, DBOS_REC_PAD, 32, 0);
	put_rec(self, FORK(902, 1, 12, "ok2"));
	/* len not a multiple of 8: the rest of the message cannot be framed... */
	put_hdr(&self->msg, DBOS_REC_FORK, 121, ++self->cpu_seq[0]);
	tmsg_raw(&self->msg, zeros, 96);
	put_rec(self, FORK(903, 1, 13, "lost"));
	tmsg_end(&self->msg);
	tmsg_feed(self->w.in, &self->msg);
	flush(self);
	EXPECT_EQ(900, q_int(self->db, "SELECT pid FROM processes WHERE pid = 900"));
	EXPECT_EQ(902, q_int(self->db, "SELECT pid FROM processes WHERE pid = 902"));
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 901"));
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 903"));
	EXPECT_EQ(3, stat_val(self->db, "records_malformed"));
	EXPECT_EQ(1, stat_val(self->db, "records_unknown"));
	EXPECT_EQ(0, stat_val(self->db, "gaps_detected"));

	/* Each of these is its own message; nothing else in them to save. */
	struct { uint16_t len; size_t body; } bad[] = {
		{ 0, 0 },	/* len 0 */
		{ 24, 0 },	/* len < header */
		{ 4096, 80 },	/* len past the end */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tmsg_begin(&self->msg, INST_A, 0);
		put_hdr(&self->msg, DBOS_REC_FORK, bad[i].len, 0);
		tmsg_raw(&self->msg, zeros, bad[i].body);
		tmsg_end(&self->msg);
		tmsg_feed(self->w.in, &self->msg);
	}
	/* Truncated record header. */
	tmsg_begin(&self->msg, INST_A, 0);
	tmsg_raw(&self->msg, zeros, 16);
	tmsg_end(&self->msg);
	tmsg_feed(self->w.in, &self->msg);
	flush(self);
	EXPECT_EQ(7, stat_val(self->db, "records_malformed"));

	/* ...and the record lost behind the bad one shows as a cpu_seq hole: re-sync. */
	send1(self, 0, FORK(904, 1, 14, "after"));
	EXPECT_TRUE(intake_resync_requested(self->w.in));
	flush(self);
	EXPECT_EQ(1, stat_val(self->db, "gaps_detected"));
	EXPECT_EQ(2, self->k.dumps);
	EXPECT_EQ(904, q_int(self->db, "SELECT pid FROM processes WHERE pid = 904"));
}

TEST_F(intake, malformed_messages_and_garbage_never_crash)
{
	static unsigned char junk[8192];
	struct trec r = EXEC(950, 1, 10, "x", "/bin/x", "x\0y", 3);
	struct intake_decode_stats ds = { 0 };
	struct intake_sink none = { 0 };
	int64_t before;

	attach(self);
	/* Every prefix of a valid message (what a truncated datagram would give). */
	tmsg_begin(&self->msg, INST_A, 0);
	tmsg_proc(&self->msg, &r);
	r.seq = 11;
	r.type = DBOS_REC_COMM;
	tmsg_proc(&self->msg, &r);
	tmsg_end(&self->msg);
	for (size_t n = 0; n < self->msg.len; n++)
		intake_decode(tmsg_nlh(&self->msg), n, &none, &ds);
	EXPECT_EQ(0, ds.records);	/* nlmsg_len > buffer: never decoded */
	/* Every truncation of the attribute/record region with lengths patched to fit. */
	for (size_t n = self->msg.recs; n < self->msg.len; n++) {
		static struct tmsg t;

		memcpy(&t, &self->msg, sizeof(t));
		t.len = n;
		((struct nlattr *)(t.buf + t.recs))->nla_len = (uint16_t)(n - t.recs);
		tmsg_nlh(&t)->nlmsg_len = (uint32_t)n;
		intake_decode(tmsg_nlh(&t), n, &none, &ds);
	}
	/* Random garbage, and garbage behind a valid netlink + genl header. */
	srand(42);
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(rand() % (int)sizeof(junk));

		for (size_t i = 0; i < n; i++)
			junk[i] = (unsigned char)rand();
		if (round % 2) {
			struct nlmsghdr h = { .nlmsg_len = (uint32_t)n, .nlmsg_type = TMSG_FAMILY };
			struct genlmsghdr g = { .cmd = DBOS_CMD_RECORDS };

			if (n < 20)
				continue;
			memcpy(junk, &h, sizeof(h));
			memcpy(junk + 16, &g, sizeof(g));
		}
		intake_feed(self->w.in, (const struct nlmsghdr *)junk, n);
	}
	before = stat_val(self->db, "records_malformed");
	flush(self);
	EXPECT_LT(before, stat_val(self->db, "records_malformed"));
	/* Bad attribute framing and attribute sizes. */
	tmsg_begin(&self->msg, INST_A, 0);
	tmsg_end(&self->msg);
	((struct nlattr *)(self->msg.buf + 20))->nla_len = 200;	/* INSTANCE past the end */
	ds = (struct intake_decode_stats){ 0 };
	intake_decode(tmsg_nlh(&self->msg), self->msg.len, &none, &ds);
	EXPECT_EQ(1, ds.malformed_messages);
	tmsg_begin(&self->msg, INST_A, 0);
	tmsg_end(&self->msg);
	((struct nlattr *)(self->msg.buf + 20))->nla_len = 8;	/* INSTANCE of 4 bytes */
	ds = (struct intake_decode_stats){ 0 };
	intake_decode(tmsg_nlh(&self->msg), self->msg.len, &none, &ds);
	EXPECT_EQ(1, ds.malformed_messages);
	/* Another command, and control messages: not records, not errors. */
	tmsg_begin(&self->msg, INST_A, 0);
	tmsg_end(&self->msg);
	((struct genlmsghdr *)(self->msg.buf + 16))->cmd = DBOS_CMD_GET_STATS;
	ds = (struct intake_decode_stats){ 0 };
	intake_decode(tmsg_nlh(&self->msg), self->msg.len, &none, &ds);
	EXPECT_EQ(0, ds.malformed_messages);
	EXPECT_EQ(1, ds.other_messages);
	/* And the session still works. */
	send1(self, 0, FORK(951, 1, 20, "fine"));
	flush(self);
	EXPECT_EQ(951, q_int(self->db, "SELECT pid FROM processes WHERE pid = 951"));
}

TEST_F(intake, two_messages_in_one_buffer_and_pad_attribute)
{
	static unsigned char two[2 * TMSG_CAP];
	struct trec r = FORK(960, 1, 10, "one");
	size_t n1;

	attach(self);
	tmsg_begin(&self->msg, INST_A, 0);
	r.cpu_seq = 1;
	tmsg_proc(&self->msg, &r);
	tmsg_end(&self->msg);
	memcpy(two, self->msg.buf, self->msg.len);
	n1 = self->msg.len;
	/* A DBOS_A_PAD attribute, as nla_put_u64_64bit adds on some architectures. */
	tmsg_begin(&self->msg, INST_A, 0);
	self->msg.len = self->msg.recs;
	tmsg_attr(&self->msg, DBOS_A_PAD, NULL, 0);
	self->msg.recs = self->msg.len;
	{
		struct nlattr a = { .nla_len = NLA_HDRLEN, .nla_type = DBOS_A_RECORDS };

		tmsg_put(&self->msg, &a, sizeof(a));
	}
	r = FORK(961, 1, 11, "two");
	r.cpu_seq = 2;
	tmsg_proc(&self->msg, &r);
	tmsg_end(&self->msg);
	memcpy(two + n1, self->msg.buf, self->msg.len);
	intake_feed(self->w.in, (const struct nlmsghdr *)two, n1 + self->msg.len);
	tmsg_feed_watermark(self->w.in, INST_A, 11);
	flush(self);
	EXPECT_EQ(2, q_int(self->db, "SELECT count(*) FROM processes WHERE pid IN (960, 961)"));
	EXPECT_EQ(0, stat_val(self->db, "records_malformed"));
}

/* ---- retention, epochs, restart ---------------------------------------------------- */

TEST_F(intake, retention_trims_oldest_events)
{
	close_all(self);
	open_all(self, 100);
	attach(self);
	for (uint32_t i = 0; i < 500; i++) {
		struct trec r[2] = { FORK(1000 + i, 1, 10 + 2 * i, "p"), EXIT(1000 + i, 1, 11 + 2 * i, 0) };

		send_recs(self, INST_A, 0, r, 2);
		flush(self);
		ASSERT_GE(110, q_int(self->db, "SELECT count(*) FROM process_events"));
	}
	EXPECT_GE(100, q_int(self->db, "SELECT count(*) FROM process_events"));
	EXPECT_LE(90, q_int(self->db, "SELECT count(*) FROM process_events"));
	EXPECT_EQ(q_int(self->db, "SELECT count(*) FROM process_events"),
		  stat_val(self->db, "process_events_rows"));
	EXPECT_EQ(1000 - q_int(self->db, "SELECT count(*) FROM process_events"),
		  stat_val(self->db, "history_trimmed"));
	/* The newest are kept. */
	EXPECT_EQ(stat_val(self->db, "epoch_base") + 10 + 2 * 499 + 1,
		  q_int(self->db, "SELECT max(seq) FROM process_events"));
	/* Counts survive a restart (rebuilt from the store). */
	close_all(self);
	open_all(self, 100);
	EXPECT_EQ(q_int(self->db, "SELECT count(*) FROM process_events"),
		  stat_val(self->db, "process_events_rows"));
}

TEST_F(intake, epochs_keep_history_seq_increasing)
{
	int64_t base_a, max_a, base_b;

	attach(self);
	base_a = stat_val(self->db, "epoch_base");
	for (uint32_t i = 0; i < 5; i++)
		send1(self, 0, FORK(1100 + i, 1, 1000 + i, "a"));
	flush(self);
	max_a = q_int(self->db, "SELECT max(seq) FROM process_events");
	EXPECT_EQ(base_a + 1004, max_a);

	/* The module is reloaded: a new instance, whose seq starts again at 1. */
	memset(self->cpu_seq, 0, sizeof(self->cpu_seq));
	send_recs(self, INST_B, 0, (struct trec[]){ FORK(1200, 1, 1, "b") }, 1);
	EXPECT_TRUE(intake_resync_requested(self->w.in));
	self->k.ks.instance = INST_B;
	flush(self);
	base_b = stat_val(self->db, "epoch_base");
	EXPECT_LT(max_a, base_b);
	EXPECT_EQ(base_b + 1, q_int(self->db, "SELECT seq FROM process_events WHERE pid = 1200"));
	send1(self, 0, FORK(1201, 1, 2, "b"));
	flush(self);
	EXPECT_EQ(base_b + 2, q_int(self->db, "SELECT max(seq) FROM process_events"));

	/* dbosd restarts, the module stays: same base. */
	close_all(self);
	open_all(self, 1000000);
	attach(self);
	EXPECT_EQ(base_b, stat_val(self->db, "epoch_base"));
	send1(self, 0, FORK(1202, 1, 3, "b"));
	flush(self);
	EXPECT_EQ(base_b + 3, q_int(self->db, "SELECT max(seq) FROM process_events"));

	/* dbosd restarts and the module was reloaded meanwhile: a new base above all. */
	close_all(self);
	self->k.ks.instance = INST_C;
	open_all(self, 1000000);
	attach(self);
	EXPECT_LT(base_b + 3, stat_val(self->db, "epoch_base"));
	send1(self, 0, FORK(1203, 1, 1, "c"));
	flush(self);
	EXPECT_EQ(1203, q_int(self->db, "SELECT pid FROM process_events ORDER BY seq DESC LIMIT 1"));
	EXPECT_EQ(9, q_int(self->db, "SELECT count(*) FROM process_events"));
}

TEST_F(intake, restart_keeps_acknowledged_rows)
{
	attach(self);
	send1(self, 0, FORK(1300, 1, 10, "kept"));
	send1(self, 0, EXEC(1300, 1, 11, "kept", "/bin/kept", "kept\0--x", 8));
	flush(self);
	send1(self, 0, FORK(1301, 1, 12, "unacked"));	/* never committed */
	close_all(self);

	open_all(self, 1000000);
	EXPECT_STREQ("kept --x", q_text(self->db, "SELECT cmdline FROM processes WHERE pid = 1300"));
	EXPECT_EQ(2, q_int(self->db, "SELECT count(*) FROM process_events"));
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 1301"));
	/* The reloaded working copy applies further events to the stored row. */
	send1(self, 0, EXIT(1300, 1, 20, 0));
	flush(self);
	EXPECT_EQ(-1, q_int(self->db, "SELECT pid FROM processes WHERE pid = 1300"));
}

/* ---- attach ------------------------------------------------------------------------ */

TEST_F(intake, version_mismatch_is_refused)
{
	char want[96];

	self->k.ks.version = DBOS_GENL_VERSION + 1;
	EXPECT_EQ(-EPROTO, intake_attach(self->w.in, self->now));
	EXPECT_FALSE(intake_attached(self->w.in));
	snprintf(want, sizeof(want), "protocol version %d, this dbosd speaks %d: not attaching",
		 DBOS_GENL_VERSION + 1, DBOS_GENL_VERSION);
	EXPECT_NE(NULL, strstr(self->log.text, want));
	EXPECT_EQ(0, self->k.dumps);
	EXPECT_EQ(0, stat_val(self->db, "module_attached"));
}

TEST_F(intake, stats_table_has_every_counter_with_docs)
{
	attach(self);
	EXPECT_EQ(1, stat_val(self->db, "module_attached"));
	EXPECT_EQ((int64_t)INST_A, stat_val(self->db, "module_instance"));
	EXPECT_EQ(INTAKE_STAT__COUNT + MIRROR_STAT__COUNT,
		  q_int(self->db, "SELECT count(*) FROM dbos_stats WHERE length(doc) > 10"));
	static const char *const names[] = {
		"events_received", "events_applied", "events_stale", "thread_events",
		"records_malformed", "gaps_detected", "overruns", "resyncs",
		"kernel_produced", "kernel_dropped", "kernel_sent", "kernel_send_failed",
		"kernel_unheard", "processes_rows", "process_events_rows", "last_seq",
		"module_attached", "module_instance",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char sql[128];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM dbos_stats WHERE name = '%s'", names[i]);
		EXPECT_EQ(1, q_int(self->db, sql)) TH_LOG("%s", names[i]);
	}
}

TEST_HARNESS_MAIN
