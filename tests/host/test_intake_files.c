// SPDX-License-Identifier: GPL-2.0
/*
 * test_intake_files.c - host tests of the open files and sockets mirror:
 * hand-built FD_* and SOCK_* records, exactly as dbos.ko sends them, go
 * through the decoder and the intake session into a real store (temp dir),
 * checked with real SQL (process_open_files, sockets, the views,
 * file_events, socket_events). The kernel's commands are a fake here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "kselftest_harness.h"

#include "dbserver/intake/decode.h"
#include "dbserver/intake/intake.h"
#include "dbserver/mirror/mirror.h"
#include "dbserver/sql/schema.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/changes.h"
#include "dbserver/store/row.h"
#include "dbserver/store/store.h"
#include "tests/host/test_intake_msg.h"

#define INST	0xA1A1A1A1A1A1A1A1ULL
#define MS	1000000ULL
#define SEC	1000000000ULL
#define T0	(1700000000ULL * SEC)
#define DEV	0x803ULL

/* ---- a fake kernel: one process table, one fd table, GET_STATS ---- */

#define FAKE_MAX 64

struct fake_fd {
	bool alive;
	struct trec fd;		/* DBOS_REC_FD */
	bool sock;
	struct trec sk;		/* DBOS_REC_SOCK */
};

struct fake {
	struct kernel_stats ks;
	uint64_t seq;
	struct dbos_proc procs[FAKE_MAX];
	int nprocs;
	struct fake_fd fds[FAKE_MAX];
	int nfds;
	int dumps, file_dumps, set_filters, filter_rc;
	struct kernel_filter filter;	/* the last SET_FILTER */
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

	f->dumps++;
	tmsg_begin(&m, f->ks.instance, 0);
	for (int i = 0; i < f->nprocs; i++)
		tmsg_proc(&m, &(struct trec){ .type = DBOS_REC_PROC, .seq = f->seq,
					       .time_ns = T0, .p = f->procs[i] });
	tmsg_end(&m);
	tmsg_nlh(&m)->nlmsg_flags = NLM_F_MULTI;
	fn(ctx, tmsg_nlh(&m), m.len);
	return 0;
}

/* Like the kernel: FD snapshots, each socket's SOCK right after its FD, two fds per message. */
static int fake_dump_files(void *arg, kernel_msg_fn fn, void *ctx)
{
	struct fake *f = arg;
	static struct tmsg m;
	int in_msg = 0;

	f->file_dumps++;
	tmsg_begin(&m, f->ks.instance, 0);
	for (int i = 0; i < f->nfds; i++) {
		struct trec r;

		if (!f->fds[i].alive)
			continue;
		r = f->fds[i].fd;
		r.type = DBOS_REC_FD;
		r.seq = f->seq;
		tmsg_rec(&m, &r);
		if (f->fds[i].sock) {
			r = f->fds[i].sk;
			r.type = DBOS_REC_SOCK;
			r.seq = f->seq;
			tmsg_rec(&m, &r);
		}
		if (++in_msg == 2) {
			tmsg_end(&m);
			fn(ctx, tmsg_nlh(&m), m.len);
			tmsg_begin(&m, f->ks.instance, 0);
			in_msg = 0;
		}
	}
	tmsg_end(&m);
	if (in_msg)
		fn(ctx, tmsg_nlh(&m), m.len);
	return 0;
}

static int fake_get_proc(void *arg, uint32_t pid, kernel_msg_fn fn, void *ctx)
{
	return -ESRCH;
}

static int fake_set_filter(void *arg, const struct kernel_filter *flt)
{
	struct fake *f = arg;

	f->set_filters++;
	f->filter = *flt;
	return f->filter_rc;
}

static const struct kernel_ops fake_ops = {
	.get_stats = fake_get_stats,
	.dump_procs = fake_dump_procs,
	.get_proc = fake_get_proc,
	.dump_files = fake_dump_files,
	.set_filter = fake_set_filter,
};

/* ---- records ---- */

static struct dbos_proc proc(uint32_t pid, uint32_t ppid)
{
	struct dbos_proc p = { .pid = pid, .tid = pid, .ppid = ppid, .state = 'S',
			       .start_time_ns = T0 };

	strcpy(p.comm, "p");
	return p;
}

#define FORK(pid_, ppid_, seq_) (struct trec){ .type = DBOS_REC_FORK, .seq = (seq_), \
	.p = proc(pid_, ppid_) }
#define EXIT(pid_, seq_) (struct trec){ .type = DBOS_REC_EXIT, .seq = (seq_), \
	.flags = DBOS_RECF_GROUP_DEAD, .p = proc(pid_, 1) }

static struct trec fd_rec(uint16_t type, uint64_t seq, uint32_t pid, uint32_t fd,
			  uint16_t kind, uint64_t inode, const char *path)
{
	return (struct trec){
		.type = type, .seq = seq, .path = path,
		.fd = { .pid = pid, .fd = fd, .kind = kind, .inode = inode,
			.dev = kind == DBOS_FILE_SOCK ? 8 : DEV, .flags = O_RDWR,
			.mode = kind == DBOS_FILE_SOCK ? S_IFSOCK | 0777 : S_IFREG | 0644,
			},
	};
}

#define OPEN(seq_, pid_, fd_, path_, ino_) \
	fd_rec(DBOS_REC_FD_OPEN, seq_, pid_, fd_, DBOS_FILE_REG, ino_, path_)
#define OPEN_SOCK(seq_, pid_, fd_, ino_) \
	fd_rec(DBOS_REC_FD_OPEN, seq_, pid_, fd_, DBOS_FILE_SOCK, ino_, "socket:[" #ino_ "]")
#define CLOSE(seq_, pid_, fd_) fd_rec(DBOS_REC_FD_CLOSE, seq_, pid_, fd_, 0, 0, NULL)

/* A socket record; addresses as text (inet_pton by family), NULL: unset. */
static struct trec sock_rec(uint16_t type, uint64_t seq, uint32_t pid, uint32_t fd,
			    uint64_t inode, uint16_t family, uint16_t stype, uint16_t proto,
			    uint8_t state, const char *la, uint16_t lport,
			    const char *ra, uint16_t rport)
{
	struct trec r = {
		.type = type, .seq = seq,
		.sk = { .pid = pid, .fd = fd, .inode = inode, .netns = 4026531840U,
			.family = family, .type = stype, .protocol = proto, .state = state,
			.local_port = lport, .remote_port = rport },
	};

	if (la)
		inet_pton(family, la, r.sk.local_addr);
	if (ra)
		inet_pton(family, ra, r.sk.remote_addr);
	return r;
}

#define TCP4(type_, seq_, pid_, fd_, ino_, state_, la_, lp_, ra_, rp_) \
	sock_rec(type_, seq_, pid_, fd_, ino_, AF_INET, SOCK_STREAM, IPPROTO_TCP, state_, \
		 la_, lp_, ra_, rp_)
#define ST_ESTABLISHED	1
#define ST_CLOSE	7
#define ST_CLOSE_WAIT	8
#define ST_LISTEN	10

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
	char *buf = arg;
	size_t n = strlen(buf);

	snprintf(buf + n, 8192 - n, "%s\n", line);
}

FIXTURE(files) {
	char dir[64];
	struct store *st;
	struct world w;
	struct fake k;
	struct sql_env env;
	struct kernel_filter filter;
	sqlite3 *db;
	char log[8192];
	uint64_t now;
	uint32_t cpu_seq[8];
	struct tmsg msg;
};

static uint64_t checkpoint_every;	/* the mirror's (0: its default) */

static void open_all(struct _test_data_files *self, uint64_t retention)
{
	struct mirror_config mc = { .retention = retention, .checkpoint_every = checkpoint_every };
	struct intake_config ic = {
		.ops = &fake_ops, .ops_arg = &self->k, .log = log_line, .log_arg = self->log,
		.filter = &self->filter,
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

static void close_all(struct _test_data_files *self)
{
	sqlite3_close(self->db);
	intake_free(self->w.in);
	mirror_close(self->w.m);
	store_close(self->st);
	self->st = NULL;
}

FIXTURE_SETUP(files)
{
	strcpy(self->dir, "/tmp/test_intake_files.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	memset(&self->k, 0, sizeof(self->k));
	self->k.ks.version = DBOS_GENL_VERSION;
	self->k.ks.instance = INST;
	self->k.procs[self->k.nprocs++] = proc(1, 0);
	self->k.seq = 1;
	self->filter = (struct kernel_filter){ .kinds = DBOS_FILE_KINDS_ALL };
	self->now = 1000 * SEC;
	open_all(self, 1000000);
}

FIXTURE_TEARDOWN(files)
{
	char cmd[128];

	if (self->st)
		close_all(self);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		fprintf(stderr, "# cannot remove %s\n", self->dir);
}

/*
 * Send @n records in one message on @cpu, with consecutive cpu_seq; with
 * @watermark, every CPU's watermark at the last one follows (tmsg_feed()).
 */
static void send_recs_wm(struct _test_data_files *self, uint16_t cpu, struct trec *r, int n,
			 bool watermark)
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
	if (watermark)
		tmsg_feed(self->w.in, &self->msg);
	else
		intake_feed(self->w.in, tmsg_nlh(&self->msg), self->msg.len);
}

static void send_recs(struct _test_data_files *self, uint16_t cpu, struct trec *r, int n)
{
	send_recs_wm(self, cpu, r, n, true);
}

#define SEND(cpu_, ...) do { \
	struct trec r_[] = { __VA_ARGS__ }; \
	send_recs(self, cpu_, r_, sizeof(r_) / sizeof(r_[0])); \
} while (0)

/* Held by the reorder stage until a watermark passes them (no watermark follows). */
#define SEND_HELD(cpu_, ...) do { \
	struct trec r_[] = { __VA_ARGS__ }; \
	send_recs_wm(self, cpu_, r_, sizeof(r_) / sizeof(r_[0]), false); \
} while (0)

/* Every CPU has sent everything up to @seq_. */
#define WATERMARK(seq_) tmsg_feed_watermark(self->w.in, self->k.ks.instance, (seq_))

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
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const unsigned char *t = sqlite3_column_text(st, c);

			n += snprintf(buf + n, sizeof(buf) - n, "%s%s", c ? "|" : n ? ";" : "",
				      t ? (const char *)t : "NULL");
		}
	}
	if (rc != SQLITE_DONE)
		fprintf(stderr, "# SQL error: %s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return buf;
}

/* The error @sql ends with ("" when it succeeds; static buffer). */
static const char *q_error(sqlite3 *db, const char *sql)
{
	static char buf[512];
	sqlite3_stmt *st;
	int rc;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(buf, sizeof(buf), "%s", sqlite3_errmsg(db));
		return buf;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		snprintf(buf, sizeof(buf), "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return buf;
}

static int64_t stat_val(sqlite3 *db, const char *name)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT value FROM dbos_stats WHERE name = '%s'", name);
	return q_int(db, sql);
}

/* ---- fds ---------------------------------------------------------------------- */

TEST_F(files, open_close_and_dup2_replacement)
{
	attach(self);
	SEND(0, OPEN(10, 100, 3, "/etc/passwd", 501), OPEN(11, 100, 4, "/tmp/a", 502));
	/* Nothing is visible before the commit. */
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM process_open_files"));
	flush(self);
	EXPECT_STREQ("100|3|/etc/passwd|2|501|2051|regular|33188;100|4|/tmp/a|2|502|2051|regular|33188",
		     q_rows(self->db, "SELECT pid, fd, path, flags, inode, device, type, mode "
				      "FROM process_open_files"));
	/* close(3); dup2(3 -> 4) as the kernel reports it: FD_CLOSE of the target, FD_OPEN. */
	SEND(0, CLOSE(12, 100, 3), CLOSE(13, 100, 4), OPEN(14, 100, 4, "/etc/hosts", 503));
	flush(self);
	EXPECT_STREQ("100|4|/etc/hosts|14",
		     q_rows(self->db, "SELECT pid, fd, path, seq - (SELECT value FROM dbos_stats "
				      "WHERE name = 'epoch_base') FROM process_open_files"));
	/* An FD_OPEN over a live fd (its close lost) replaces the row. */
	SEND(0, OPEN(15, 100, 4, "/etc/group", 504));
	flush(self);
	EXPECT_STREQ("/etc/group", q_rows(self->db, "SELECT path FROM process_open_files WHERE pid = 100"));
	EXPECT_STREQ("open|3|/etc/passwd;open|4|/tmp/a;close|3|/etc/passwd;close|4|/tmp/a;"
		     "open|4|/etc/hosts;open|4|/etc/group",
		     q_rows(self->db, "SELECT action, fd, path FROM file_events ORDER BY seq"));
	EXPECT_EQ(1, stat_val(self->db, "process_open_files_rows"));
	EXPECT_EQ(6, stat_val(self->db, "file_events_rows"));
}

TEST_F(files, close_on_exec_closes_only_those)
{
	attach(self);
	SEND(0, FORK(110, 1, 10), OPEN(11, 110, 3, "/keep", 1), OPEN(12, 110, 4, "/cloexec", 2));
	/* The exec: the kernel reports the close-on-exec fds' closes. */
	SEND(0, (struct trec){ .type = DBOS_REC_EXEC, .seq = 13, .p = proc(110, 1),
			       .path = "/bin/true", .cmdline = "true" },
	     CLOSE(14, 110, 4));
	flush(self);
	EXPECT_STREQ("3|/keep", q_rows(self->db, "SELECT fd, path FROM process_open_files WHERE pid = 110"));
}

TEST_F(files, fork_copies_the_table_and_exit_removes_it_row_by_row)
{
	char sql[128];
	size_t before;

	attach(self);
	SEND(0, FORK(200, 1, 10));
	for (uint32_t fd = 0; fd < 40; fd++) {
		char path[32];
		struct trec r;

		snprintf(path, sizeof(path), "/f%u", fd);
		r = OPEN(11 + fd, 200, fd, path, 1000 + fd);
		send_recs(self, 0, &r, 1);
	}
	SEND(0, OPEN_SOCK(60, 200, 40, 9000),
	     TCP4(DBOS_REC_SOCK_INFO, 61, 200, 40, 9000, ST_LISTEN, "0.0.0.0", 80, NULL, 0));
	flush(self);
	/* The fork: the child has the same 41 fds, and the socket two references. */
	SEND(1, FORK(201, 200, 70), OPEN(71, 201, 41, "/child-only", 77), OPEN(72, 200, 41, "/parent-only", 78));
	flush(self);
	EXPECT_EQ(42, q_int(self->db, "SELECT count(*) FROM process_open_files WHERE pid = 201"));
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM (SELECT fd, path FROM process_open_files "
				     "WHERE pid = 200 AND fd < 41 EXCEPT SELECT fd, path FROM "
				     "process_open_files WHERE pid = 201)"));
	EXPECT_STREQ("/child-only", q_rows(self->db, "SELECT path FROM process_open_files WHERE pid = 201 AND fd = 41"));
	EXPECT_STREQ("200|80;201|80", q_rows(self->db, "SELECT pid, port FROM listening_ports ORDER BY pid"));

	/*
	 * The child exits: a point delete per stored row, no range delete
	 * (each range tombstone in the memtable slows every later scan).
	 */
	before = mirror_pending(self->w.m);
	SEND(0, EXIT(201, 80));
	/* history, processes row, 42 fd rows, the change log's entries of both tables */
	EXPECT_GE(before + 2 + 42 + 2, mirror_pending(self->w.m));
	flush(self);
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM process_open_files WHERE pid = 201"));
	EXPECT_EQ(42, q_int(self->db, "SELECT count(*) FROM process_open_files WHERE pid = 200"));
	EXPECT_EQ(1, q_int(self->db, "SELECT count(*) FROM sockets"));
	/* A late record from before the exit does not bring an fd back. */
	SEND(1, OPEN(75, 201, 50, "/late", 79));
	flush(self);
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM process_open_files WHERE pid = 201"));
	/* The parent exits: the socket goes with its last fd. */
	SEND(0, EXIT(200, 90));
	flush(self);
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM process_open_files"));
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM sockets"));
	EXPECT_EQ(0, stat_val(self->db, "sockets_rows"));
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM process_open_files WHERE pid IN (200, 201)");
	EXPECT_EQ(0, q_int(self->db, sql));
}

/*
 * The drain sends one CPU's ring at a time, so a record can reach dbosd
 * before an older one of another CPU; the reorder stage holds both until
 * every CPU's watermark passed them (SEND_HELD, then WATERMARK), and the
 * mirror sees them in seq order.
 */
TEST_F(files, close_drained_before_its_open_is_applied_after_it)
{
	attach(self);
	/* cpu 1 drains first: the close (seq 21) before the open (seq 20). */
	SEND_HELD(1, CLOSE(21, 300, 5));
	SEND_HELD(0, OPEN(20, 300, 5, "/var/log/x", 42));
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM file_events"));
	WATERMARK(21);
	flush(self);
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM process_open_files"));
	EXPECT_STREQ("open|/var/log/x|20;close|/var/log/x|21",
		     q_rows(self->db, "SELECT action, path, time_ns / 1000000 - 1700000000000 "
				      "FROM file_events ORDER BY seq"));
	/* A newer open of the same number makes a row again. */
	SEND(0, OPEN(22, 300, 5, "/var/log/y", 43));
	flush(self);
	EXPECT_STREQ("/var/log/y", q_rows(self->db, "SELECT path FROM process_open_files"));
	/* A socket's info (cpu 1) and its later state change (cpu 0): the state wins. */
	SEND_HELD(0, OPEN_SOCK(30, 300, 6, 7000),
		  TCP4(DBOS_REC_SOCK_STATE, 32, 300, 6, 7000, ST_CLOSE_WAIT, "10.0.0.1", 5000, "10.0.0.2", 80));
	SEND_HELD(1, TCP4(DBOS_REC_SOCK_INFO, 31, 300, 6, 7000, ST_ESTABLISHED, "10.0.0.1", 5000, "10.0.0.2", 80));
	WATERMARK(32);
	flush(self);
	EXPECT_STREQ("CLOSE_WAIT", q_rows(self->db, "SELECT state FROM sockets"));
	EXPECT_EQ(0, stat_val(self->db, "file_records_stale"));
	EXPECT_EQ(0, stat_val(self->db, "reorder_late"));
}

TEST_F(files, fork_and_the_parents_records_across_cpus)
{
	attach(self);
	SEND(0, FORK(250, 1, 5), OPEN(10, 250, 5, "/five", 5));
	flush(self);
	/* The parent forks (seq 20, cpu 0), then closes fd 5 (seq 21) on cpu 1, which drains first. */
	SEND_HELD(1, CLOSE(21, 250, 5));
	SEND_HELD(0, FORK(251, 250, 20));
	WATERMARK(21);
	flush(self);
	EXPECT_STREQ("251|5|/five", q_rows(self->db, "SELECT pid, fd, path FROM process_open_files"));
	/* The parent opens fd 6 (seq 30, cpu 1) and forks (seq 31, cpu 0): the FORK comes first. */
	SEND_HELD(0, FORK(252, 250, 31), FORK(253, 250, 33), CLOSE(34, 253, 6));
	SEND_HELD(1, OPEN(30, 250, 6, "/six", 6));
	WATERMARK(34);
	flush(self);
	/* 252 got fd 6; 253 got it and closed it. */
	EXPECT_STREQ("250|6|/six;251|5|/five;252|6|/six",
		     q_rows(self->db, "SELECT pid, fd, path FROM process_open_files"));
	EXPECT_STREQ("close|6|/six", q_rows(self->db, "SELECT action, fd, path FROM file_events "
						   "WHERE pid = 253"));
	/* The child closes an inherited fd (cpu 1) before its FORK (cpu 0) arrives. */
	SEND_HELD(1, CLOSE(36, 255, 5));
	SEND_HELD(0, FORK(255, 251, 35));
	WATERMARK(36);
	flush(self);
	EXPECT_STREQ("close|5|/five", q_rows(self->db, "SELECT action, fd, path FROM file_events "
						    "WHERE pid = 255"));
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM process_open_files WHERE pid = 255"));
	/* The parent closes fd 7 and reuses it for a socket before its FORK (cpu 0) arrives. */
	SEND_HELD(1, OPEN(37, 251, 7, "/seven", 7), CLOSE(39, 251, 7), OPEN_SOCK(40, 251, 7, 9999));
	SEND_HELD(1, CLOSE(42, 256, 7));
	SEND_HELD(0, FORK(256, 251, 38));
	WATERMARK(42);
	flush(self);
	EXPECT_STREQ("close|7|/seven", q_rows(self->db, "SELECT action, fd, path FROM file_events "
						     "WHERE pid = 256"));
	/* A parent's close (cpu 1) before a fork (cpu 0, drained first): the child has no copy. */
	SEND_HELD(0, FORK(254, 250, 44));
	SEND_HELD(1, CLOSE(43, 250, 6));
	WATERMARK(44);
	flush(self);
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM process_open_files WHERE pid IN (250, 254)"));
	EXPECT_EQ(0, stat_val(self->db, "reorder_late"));
}

/* ---- sockets ---------------------------------------------------------------------- */

TEST_F(files, tcp_socket_lifecycle)
{
	attach(self);
	SEND(0, FORK(400, 1, 9),
	     OPEN_SOCK(10, 400, 3, 5000),
	     TCP4(DBOS_REC_SOCK_INFO, 11, 400, 3, 5000, ST_CLOSE, NULL, 0, NULL, 0),
	     TCP4(DBOS_REC_SOCK_BIND, 12, 400, 3, 5000, ST_CLOSE, "0.0.0.0", 8080, NULL, 0),
	     TCP4(DBOS_REC_SOCK_LISTEN, 13, 400, 3, 5000, ST_LISTEN, "0.0.0.0", 8080, NULL, 0));
	flush(self);
	EXPECT_STREQ("400|8080|6|2|0.0.0.0|3|5000||4026531840",
		     q_rows(self->db, "SELECT * FROM listening_ports"));
	/* A connection comes in: FD_OPEN + SOCK_INFO of the new socket, then ACCEPT. */
	SEND(0, OPEN_SOCK(14, 400, 4, 5001),
	     TCP4(DBOS_REC_SOCK_INFO, 15, 400, 4, 5001, ST_ESTABLISHED, "127.0.0.1", 8080, "127.0.0.1", 41000),
	     TCP4(DBOS_REC_SOCK_ACCEPT, 16, 400, 4, 5001, ST_ESTABLISHED, "127.0.0.1", 8080, "127.0.0.1", 41000));
	flush(self);
	EXPECT_STREQ("400|3|5000|2|6|0.0.0.0|8080|0.0.0.0|0|LISTEN;"
		     "400|4|5001|2|6|127.0.0.1|8080|127.0.0.1|41000|ESTABLISHED",
		     q_rows(self->db, "SELECT pid, fd, socket, family, protocol, local_address, "
				      "local_port, remote_address, remote_port, state "
				      "FROM process_open_sockets ORDER BY fd"));
	EXPECT_EQ(1, q_int(self->db, "SELECT count(*) FROM listening_ports"));
	/* The peer closes (pid 0: softirq), then we close. */
	SEND(1, TCP4(DBOS_REC_SOCK_STATE, 17, 0, ~0U, 5001, ST_CLOSE_WAIT, "127.0.0.1", 8080, "127.0.0.1", 41000));
	SEND(0, CLOSE(18, 400, 4));
	flush(self);
	EXPECT_EQ(-1, q_int(self->db, "SELECT socket FROM sockets WHERE socket = 5001"));
	EXPECT_STREQ("bind|400|3|5000|0.0.0.0|8080|CLOSE;listen|400|3|5000|0.0.0.0|8080|LISTEN;"
		     "accept|400|4|5001|127.0.0.1|8080|ESTABLISHED;state|0|NULL|5001|127.0.0.1|8080|CLOSE_WAIT;"
		     "close|400|4|5001|127.0.0.1|8080|CLOSE_WAIT",
		     q_rows(self->db, "SELECT action, pid, fd, socket, local_address, local_port, state "
				      "FROM socket_events ORDER BY seq"));
	EXPECT_EQ(1, q_int(self->db, "SELECT count(*) FROM file_events WHERE action = 'close' "
				     "AND path = 'socket:[5001]'"));
	/* A state change of a socket no fd holds keeps no row. */
	SEND(1, TCP4(DBOS_REC_SOCK_STATE, 19, 0, ~0U, 6000, ST_ESTABLISHED, "1.2.3.4", 1, "5.6.7.8", 2));
	flush(self);
	EXPECT_EQ(1, q_int(self->db, "SELECT count(*) FROM sockets"));
	EXPECT_EQ(1, stat_val(self->db, "sockets_rows"));
}

TEST_F(files, address_formats_and_listening_rules)
{
	struct trec unix_l = sock_rec(DBOS_REC_SOCK_INFO, 21, 500, 4, 8002, AF_UNIX, SOCK_STREAM,
				      0, ST_LISTEN, NULL, 0, NULL, 0);
	struct trec unix_a = sock_rec(DBOS_REC_SOCK_INFO, 23, 500, 5, 8003, AF_UNIX, SOCK_STREAM,
				      0, ST_ESTABLISHED, NULL, 0, NULL, 0);
	struct trec udp6 = sock_rec(DBOS_REC_SOCK_INFO, 25, 500, 6, 8004, AF_INET6, SOCK_DGRAM,
				    IPPROTO_UDP, ST_CLOSE, "::", 53, NULL, 0);
	struct trec mapped = sock_rec(DBOS_REC_SOCK_INFO, 27, 500, 7, 8005, AF_INET6, SOCK_STREAM,
				      IPPROTO_TCP, ST_ESTABLISHED, "::ffff:127.0.0.1", 22,
				      "2001:db8::1", 50000);
	struct trec udp_conn = sock_rec(DBOS_REC_SOCK_INFO, 29, 500, 8, 8006, AF_INET, SOCK_DGRAM,
					IPPROTO_UDP, ST_ESTABLISHED, "10.1.1.1", 4000, "10.1.1.2", 53);

	unix_l.path = "/run/x.sock";
	unix_l.path_len = sizeof("/run/x.sock");	/* with the NUL, as sun_path may have it */
	unix_a.path = "\0abs\0x";
	unix_a.path_len = 6;
	unix_a.peer_path = "/run/x.sock";
	unix_a.sk.peer_inode = 8002;
	attach(self);
	SEND(0, OPEN_SOCK(20, 500, 4, 8002), unix_l, OPEN_SOCK(22, 500, 5, 8003), unix_a,
	     OPEN_SOCK(24, 500, 6, 8004), udp6, OPEN_SOCK(26, 500, 7, 8005), mapped,
	     OPEN_SOCK(28, 500, 8, 8006), udp_conn);
	flush(self);
	EXPECT_STREQ("8002|1|0|1|||/run/x.sock||0|LISTEN;"
		     "8003|1|0|1|||@abs@x|/run/x.sock|8002|ESTABLISHED;"
		     "8004|10|17|2|::|::|||0|CLOSE;"
		     "8005|10|6|1|::ffff:127.0.0.1|2001:db8::1|||0|ESTABLISHED;"
		     "8006|2|17|2|10.1.1.1|10.1.1.2|||0|ESTABLISHED",
		     q_rows(self->db, "SELECT socket, family, protocol, type, local_address, "
				      "remote_address, path, peer_path, peer_socket, state "
				      "FROM sockets ORDER BY socket"));
	/* Listening: the unix listener and the bound unconnected UDP socket; not the others. */
	EXPECT_STREQ("0|0|1||4|8002|/run/x.sock;53|17|10|::|6|8004|",
		     q_rows(self->db, "SELECT port, protocol, family, address, fd, socket, path "
				      "FROM listening_ports ORDER BY fd"));
}

TEST_F(files, unix_pair_peers_follow_accept_and_close)
{
	struct trec cl = sock_rec(DBOS_REC_SOCK_CONNECT, 11, 600, 3, 9100, AF_UNIX, SOCK_STREAM,
				  0, ST_ESTABLISHED, NULL, 0, NULL, 0);
	struct trec sv = sock_rec(DBOS_REC_SOCK_ACCEPT, 13, 601, 4, 9101, AF_UNIX, SOCK_STREAM,
				  0, ST_ESTABLISHED, NULL, 0, NULL, 0);

	/* connect(): the peer is an embryo without an inode yet (peer 0). */
	cl.peer_path = "/run/s";
	sv.path = "/run/s";
	sv.sk.peer_inode = 9100;
	attach(self);
	SEND(0, OPEN_SOCK(10, 600, 3, 9100), cl);
	flush(self);
	EXPECT_STREQ("0", q_rows(self->db, "SELECT peer_socket FROM sockets WHERE socket = 9100"));
	/* accept(): the new socket names the client, and the client now names it. */
	SEND(0, OPEN_SOCK(12, 601, 4, 9101), sv);
	flush(self);
	EXPECT_STREQ("9100|9101;9101|9100",
		     q_rows(self->db, "SELECT socket, peer_socket FROM sockets ORDER BY socket"));
	/* The client closes: the server side's peer is gone (ss shows 0). */
	SEND(0, CLOSE(14, 600, 3));
	flush(self);
	EXPECT_STREQ("9101|0|/run/s", q_rows(self->db, "SELECT socket, peer_socket, path FROM sockets"));
}

/* ---- re-sync, filter, loss -------------------------------------------------------- */

static void fake_fd(struct fake *k, struct trec fd, const struct trec *sk)
{
	struct fake_fd *f = &k->fds[k->nfds++];

	f->alive = true;
	f->fd = fd;
	f->sock = sk != NULL;
	if (sk)
		f->sk = *sk;
}

TEST_F(files, resync_mark_and_sweep_of_fds_and_sockets)
{
	struct trec sk = TCP4(DBOS_REC_SOCK, 0, 0, 4, 3300, ST_LISTEN, "0.0.0.0", 22, NULL, 0);

	self->k.procs[self->k.nprocs++] = proc(600, 1);
	fake_fd(&self->k, OPEN(0, 600, 0, "/dev/null", 3), NULL);
	fake_fd(&self->k, OPEN(0, 600, 3, "/etc/ssh/sshd_config", 4), NULL);
	fake_fd(&self->k, OPEN_SOCK(0, 600, 4, 3300), &sk);
	self->k.seq = 10;
	attach(self);
	EXPECT_EQ(1, self->k.file_dumps);
	EXPECT_EQ(3, q_int(self->db, "SELECT count(*) FROM process_open_files WHERE pid = 600"));
	EXPECT_STREQ("600|22|0.0.0.0", q_rows(self->db, "SELECT pid, port, address FROM listening_ports"));
	EXPECT_NE(NULL, strstr(self->log, "2 processes, 3 open files, 1 sockets"));

	/* The socket and fd 3 close, their records are lost; fd 5 opens, lost too. */
	self->k.fds[1].alive = false;
	self->k.fds[2].alive = false;
	fake_fd(&self->k, OPEN(0, 600, 5, "/new", 6), NULL);
	self->k.seq = 20;
	intake_overrun(self->w.in);
	flush(self);
	EXPECT_STREQ("0|/dev/null;5|/new", q_rows(self->db, "SELECT fd, path FROM process_open_files"));
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM sockets"));
	EXPECT_EQ(2, stat_val(self->db, "files_swept"));
	EXPECT_NE(NULL, strstr(self->log, "2 open files, 2 vanished"));
	/* The lost close of fd 3 arriving late changes nothing. */
	SEND(0, CLOSE(15, 600, 3));
	flush(self);
	EXPECT_EQ(2, q_int(self->db, "SELECT count(*) FROM process_open_files"));

	/* dbosd restarts: stored rows load; fd 0 closed meanwhile; the dump sweeps it. */
	close_all(self);
	self->k.fds[0].alive = false;
	self->k.seq = 30;
	open_all(self, 1000000);
	EXPECT_EQ(2, stat_val(self->db, "process_open_files_rows"));
	attach(self);
	EXPECT_STREQ("5|/new", q_rows(self->db, "SELECT fd, path FROM process_open_files"));
}

/*
 * Records taken before a dump read the kernel but delivered after it (they
 * sat in a ring while dbosd attached): the dump already shows their effect,
 * so they go into the history and change no row. Here an open of fd 7,
 * closed again before the dump (its close discarded while nobody listened),
 * and a process that was born and died before the dump.
 */
TEST_F(files, records_older_than_the_dump_change_no_rows)
{
	self->k.procs[self->k.nprocs++] = proc(600, 1);
	fake_fd(&self->k, OPEN(0, 600, 0, "/dev/null", 3), NULL);
	self->k.seq = 10;
	attach(self);
	SEND(0, OPEN(5, 600, 7, "/gone", 9));
	SEND(1, FORK(700, 600, 6));
	SEND(1, OPEN(7, 700, 3, "/gone-too", 10));
	flush(self);
	EXPECT_STREQ("600|0|/dev/null", q_rows(self->db, "SELECT pid, fd, path FROM process_open_files"));
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM processes WHERE pid = 700"));
	EXPECT_EQ(2, q_int(self->db, "SELECT count(*) FROM file_events WHERE path GLOB '/gone*'"));
	EXPECT_EQ(1, q_int(self->db, "SELECT count(*) FROM process_events WHERE pid = 700"));
}

TEST_F(files, filter_is_sent_at_every_attach_and_missed_records_resync)
{
	self->filter.kinds = (1U << DBOS_FILE_REG) | (1U << DBOS_FILE_SOCK);
	self->filter.exclude[self->filter.nexclude++] = "/proc/";
	self->filter.exclude[self->filter.nexclude++] = "/sys/";
	attach(self);
	EXPECT_EQ(1, self->k.set_filters);
	EXPECT_EQ((1U << DBOS_FILE_REG) | (1U << DBOS_FILE_SOCK), self->k.filter.kinds);
	EXPECT_EQ(2, self->k.filter.nexclude);
	EXPECT_STREQ("/sys/", self->k.filter.exclude[1]);
	intake_detach(self->w.in);
	attach(self);
	EXPECT_EQ(2, self->k.set_filters);
	EXPECT_EQ(2, self->k.file_dumps);

	/* MISSED grows (a kretprobe could not run): re-sync, like DROPPED. */
	self->k.ks.v[DBOS_STATS_MISSED] = 3;
	self->k.ks.v[DBOS_STATS_FILTERED] = 99;
	self->now += INTAKE_STATS_PERIOD_NS;
	EXPECT_EQ(0, intake_tick(self->w.in, self->now));
	EXPECT_EQ(3, self->k.file_dumps);
	EXPECT_EQ(3, stat_val(self->db, "kernel_missed"));
	EXPECT_EQ(99, stat_val(self->db, "kernel_filtered"));
	/* A module that refuses the filter: not attached, and the log says why. */
	intake_detach(self->w.in);
	self->k.filter_rc = -EINVAL;
	EXPECT_EQ(-EINVAL, intake_attach(self->w.in, self->now));
	EXPECT_FALSE(intake_attached(self->w.in));
	EXPECT_NE(NULL, strstr(self->log, "refused the file filter: Invalid argument (not attaching)"));
	self->k.filter_rc = 0;
	attach(self);
	EXPECT_EQ(4, self->k.file_dumps);
	/* FILTERED alone is no loss. */
	self->k.ks.v[DBOS_STATS_FILTERED] = 200;
	self->now += INTAKE_STATS_PERIOD_NS;
	EXPECT_EQ(0, intake_tick(self->w.in, self->now));
	EXPECT_EQ(4, self->k.file_dumps);
}

TEST_F(files, retention_trims_file_events_by_range)
{
	close_all(self);
	open_all(self, 100);
	attach(self);
	for (uint32_t i = 0; i < 300; i++) {
		SEND(0, OPEN(10 + 2 * i, 700, 3, "/x", 1), CLOSE(11 + 2 * i, 700, 3));
		flush(self);
		ASSERT_GE(110, q_int(self->db, "SELECT count(*) FROM file_events"));
	}
	EXPECT_LE(90, q_int(self->db, "SELECT count(*) FROM file_events"));
	EXPECT_EQ(q_int(self->db, "SELECT count(*) FROM file_events"),
		  stat_val(self->db, "file_events_rows"));
	EXPECT_EQ(600 - q_int(self->db, "SELECT count(*) FROM file_events"),
		  stat_val(self->db, "file_events_trimmed"));
	EXPECT_EQ(stat_val(self->db, "epoch_base") + 11 + 2 * 299,
		  q_int(self->db, "SELECT max(seq) FROM file_events"));
	close_all(self);
	open_all(self, 100);
	EXPECT_EQ(q_int(self->db, "SELECT count(*) FROM file_events"),
		  stat_val(self->db, "file_events_rows"));
}

TEST_F(files, malformed_fd_and_sock_records_are_skipped)
{
	struct trec bad = OPEN(10, 800, 3, "/x", 1);

	attach(self);
	bad.fd.kind = __DBOS_FILE_MAX;
	SEND(0, bad, OPEN(11, 800, 4, "/ok", 2));
	/* A record too short for struct dbos_sock. */
	tmsg_begin(&self->msg, INST, 0);
	{
		struct dbos_rec_hdr h = { .type = DBOS_REC_SOCK_BIND, .len = 40, .cpu_seq = ++self->cpu_seq[0],
					  .seq = 12 };
		char pad[8] = { 0 };

		tmsg_raw(&self->msg, &h, sizeof(h));
		tmsg_raw(&self->msg, pad, sizeof(pad));
	}
	tmsg_end(&self->msg);
	tmsg_feed(self->w.in, &self->msg);
	flush(self);
	EXPECT_STREQ("4|/ok", q_rows(self->db, "SELECT fd, path FROM process_open_files"));
	EXPECT_EQ(2, stat_val(self->db, "records_malformed"));
}

/*
 * ---- randomized: per-CPU streams drained in passes, against a model in seq order ----
 *
 * 24 processes open, close, fork and exit at random; each record goes to the
 * CPU its task runs on (tasks migrate), and drain passes empty the CPUs in
 * order while the processes go on, as dbos.ko's drain worker does: CPU c is
 * emptied of what was recorded by the time the pass reaches it, and its
 * watermark is the seq recorded last by then; the pass ends with every
 * CPU's watermark. The reorder stage must hand the mirror every record in
 * seq order (none late, none forced) and the live table must end equal to
 * the model. DBOS_SIM_SEEDS sets the number of seeds (default 200; without
 * the reorder stage, about 1 in 8000 ended wrong).
 */

#define SIM_PIDS	24
#define SIM_FDS		12
#define SIM_EVENTS	400

struct sim_state {
	bool alive[SIM_PIDS];
	int path[SIM_PIDS][SIM_FDS];	/* 0 closed, else path number */
};

struct sim {
	uint64_t rng;
	uint32_t base;			/* pid of the first process; each seed its own range */
	bool alive[SIM_PIDS];
	bool born[SIM_PIDS];
	int path[SIM_PIDS][SIM_FDS];	/* model: 0 closed, else path number */
	int cpu[SIM_PIDS];
	struct trec ev[SIM_EVENTS + SIM_PIDS];
	int cpu_of[SIM_EVENTS + SIM_PIDS];
	struct sim_state after[SIM_EVENTS + SIM_PIDS];	/* the model after ev[i] */
	int n;
	char paths[SIM_EVENTS + SIM_PIDS][16];
};

static uint32_t sim_rand(struct sim *m, uint32_t n)
{
	m->rng = m->rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(m->rng >> 33) % n;
}

static void sim_event(struct sim *m, int pid, struct trec r)
{
	if (sim_rand(m, 10) < 3)	/* the task migrates */
		m->cpu[pid] = (int)sim_rand(m, 4);
	m->cpu_of[m->n] = m->cpu[pid];
	memcpy(m->after[m->n].alive, m->alive, sizeof(m->alive));
	memcpy(m->after[m->n].path, m->path, sizeof(m->path));
	m->ev[m->n++] = r;
}

/* One random step of the model, recorded as the record the kernel would send. */
static void sim_step(struct sim *m, uint64_t seq)
{
	int pid = (int)sim_rand(m, SIM_PIDS), fd = (int)sim_rand(m, SIM_FDS), op = (int)sim_rand(m, 10);
	uint32_t kpid = m->base + (uint32_t)pid;

	if (!m->alive[pid])
		return;
	if (op < 4 && !m->path[pid][fd]) {
		snprintf(m->paths[m->n], sizeof(m->paths[0]), "/p%d", m->n);
		m->path[pid][fd] = m->n + 1;
		sim_event(m, pid, OPEN(seq, kpid, (uint32_t)fd, m->paths[m->n], (uint64_t)m->n + 1));
	} else if (op < 8 && m->path[pid][fd]) {
		m->path[pid][fd] = 0;
		sim_event(m, pid, CLOSE(seq, kpid, (uint32_t)fd));
	} else if (op == 8) {
		for (int c = 0; c < SIM_PIDS; c++) {
			if (m->alive[c] || m->born[c])
				continue;
			m->alive[c] = m->born[c] = true;
			memcpy(m->path[c], m->path[pid], sizeof(m->path[pid]));
			m->cpu[c] = (int)sim_rand(m, 4);
			sim_event(m, pid, FORK(m->base + (uint32_t)c, kpid, seq));
			return;
		}
	} else if (op == 9 && pid && sim_rand(m, 4) == 0) {
		m->alive[pid] = false;
		memset(m->path[pid], 0, sizeof(m->path[pid]));
		sim_event(m, pid, EXIT(kpid, seq));
	}
}

/*
 * One seed of the simulation: SIM_EVENTS random steps of the model (pids
 * from m->base), delivered as the kernel's drain passes would (each CPU's
 * ring in turn, records of one CPU in order, then the watermarks), then
 * flushed. @sql gets the query of the seed's fds. Returns the last seq used.
 */
static uint64_t sim_run(struct __test_metadata *_metadata, struct _test_data_files *self,
			struct sim *m, int seed, char *sql, size_t sql_len)
{
	uint64_t seq = (uint64_t)seed * 100000, wm[TMSG_WM_CPUS] = { 0 };
	int next[4] = { 0 }, done = 0;

	memset(m, 0, sizeof(*m));
	m->rng = (uint64_t)seed;
	/*
	 * Pids of their own per seed: a scan over them does not walk the
	 * deleted rows of earlier seeds (RocksDB keeps them in the memtable).
	 */
	m->base = 100000 + (uint32_t)(seed % 1000000) * 32;
	snprintf(sql, sql_len, "SELECT pid, fd, path FROM process_open_files WHERE pid "
		 "BETWEEN %u AND %u ORDER BY pid, fd", m->base, m->base + SIM_PIDS - 1);
	/* the first process is born first (on cpu 0, delivered before the rest) */
	m->alive[0] = m->born[0] = true;
	SEND(0, FORK(m->base, 1, seq));
	flush(self);
	while (m->n < SIM_EVENTS)
		sim_step(m, ++seq);
	/*
	 * Drain passes like the kernel's: each CPU's ring in turn is
	 * emptied of what was recorded by then (events go on being
	 * recorded between two CPUs), so records of one CPU keep their
	 * order and the streams interleave; then the watermarks.
	 */
	while (done < m->n) {
		for (int c = 0; c < 4; c++) {
			int upto = done + (int)sim_rand(m, 7);

			if (upto > m->n)
				upto = m->n;
			for (int i = next[c]; i < upto; i++) {
				if (m->cpu_of[i] != c)
					continue;
				send_recs_wm(self, (uint16_t)c, &m->ev[i], 1, false);
			}
			next[c] = upto;
			done = upto;
			if (upto)
				wm[c] = m->ev[upto - 1].seq;
		}
		/* CPUs 4-7 are idle: their watermark follows the counter. */
		for (int c = 4; c < TMSG_WM_CPUS; c++)
			wm[c] = done ? m->ev[done - 1].seq : 0;
		tmsg_watermarks(&self->msg, self->k.ks.instance, wm, TMSG_WM_CPUS);
		intake_feed(self->w.in, tmsg_nlh(&self->msg), self->msg.len);
		if (sim_rand(m, 3) == 0)
			flush(self);
	}
	/* The last pass: what each CPU recorded since its turn, then every CPU at the last seq. */
	for (int c = 0; c < 4; c++)
		for (int i = next[c]; i < m->n; i++)
			if (m->cpu_of[i] == c)
				send_recs_wm(self, (uint16_t)c, &m->ev[i], 1, false);
	for (int c = 0; c < TMSG_WM_CPUS; c++)
		wm[c] = m->ev[m->n - 1].seq;
	tmsg_watermarks(&self->msg, self->k.ks.instance, wm, TMSG_WM_CPUS);
	intake_feed(self->w.in, tmsg_nlh(&self->msg), self->msg.len);
	flush(self);
	return seq;
}

/* The model's open fds, "pid|fd|path;..." in (pid, fd) order. */
static void model_fds(const struct sim *m, const bool alive[SIM_PIDS],
		      const int path[SIM_PIDS][SIM_FDS], char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (int pid = 0; pid < SIM_PIDS; pid++)
		for (int fd = 0; fd < SIM_FDS; fd++)
			if (alive[pid] && path[pid][fd])
				n += snprintf(out + n, cap - n, "%s%u|%d|%s", n ? ";" : "",
					      m->base + pid, fd, m->paths[path[pid][fd] - 1]);
}

/*
 * The model's fds that differ between @x and @y, as process_open_files_changes
 * lists them ("change|pid|fd|changed_columns;...": a reopened fd has another
 * path, inode and device).
 */
static void model_changes(const struct sim *m, const struct sim_state *x, const struct sim_state *y,
			  char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (int pid = 0; pid < SIM_PIDS; pid++)
		for (int fd = 0; fd < SIM_FDS; fd++) {
			int a = x->alive[pid] ? x->path[pid][fd] : 0, b = y->alive[pid] ? y->path[pid][fd] : 0;
			const char *what = a && !b ? "removed|%u|%d|NULL" : !a && b ? "added|%u|%d|NULL" :
					   a != b ? "changed|%u|%d|path,inode" : NULL;

			if (what) {
				n += snprintf(out + n, cap - n, "%s", n ? ";" : "");
				n += snprintf(out + n, cap - n, what, m->base + pid, fd);
			}
		}
}

/* The model's live pids, "pid;..." in order. */
static void model_pids(const struct sim *m, const bool alive[SIM_PIDS], char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (int pid = 0; pid < SIM_PIDS; pid++)
		if (alive[pid])
			n += snprintf(out + n, cap - n, "%s%u", n ? ";" : "", m->base + pid);
}

TEST_F_TIMEOUT(files, random_interleavings_across_cpus_end_exact, 86400)
{
	static struct sim m;
	char want[8192], sql[160];

	const char *env = getenv("DBOS_SIM_SEEDS");
	int seeds = env ? atoi(env) : 200;

	attach(self);
	for (int seed = 1; seed <= seeds; seed++) {
		uint64_t seq = sim_run(_metadata, self, &m, seed, sql, sizeof(sql));

		model_fds(&m, m.alive, m.path, want, sizeof(want));
		ASSERT_STREQ(want, q_rows(self->db, sql)) TH_LOG("seed %d", seed);
		/* and the processes table: exactly the live ones */
		model_pids(&m, m.alive, want, sizeof(want));
		snprintf(sql, sizeof(sql), "SELECT pid FROM processes WHERE pid BETWEEN %u AND %u "
			 "ORDER BY pid", m.base, m.base + SIM_PIDS - 1);
		ASSERT_STREQ(want, q_rows(self->db, sql)) TH_LOG("seed %d", seed);
		ASSERT_EQ(0, stat_val(self->db, "reorder_late")) TH_LOG("seed %d", seed);
		ASSERT_EQ(0, stat_val(self->db, "events_stale")) TH_LOG("seed %d", seed);
		ASSERT_EQ(0, stat_val(self->db, "reorder_forced")) TH_LOG("seed %d", seed);
		/* clean up for the next seed: every process exits */
		for (int pid = 0; pid < SIM_PIDS; pid++) {
			struct trec r = EXIT(m.base + (uint32_t)pid, ++seq);

			if (m.alive[pid])
				send_recs(self, 0, &r, 1);
		}
		flush(self);
		self->now += 10 * SEC;	/* what the files mirror keeps of this round expires */
		mirror_prune(self->w.m, 5 * SEC);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM process_open_files WHERE pid BETWEEN "
			 "%u AND %u", m.base, m.base + SIM_PIDS - 1);
		ASSERT_EQ(0, q_int(self->db, sql));
	}
}

/*
 * Table @t as of @bound, its rows of the seed's pids as model_fds() or
 * model_pids() print them; or "(as of: ...)" when changes_asof() refuses.
 */
static void asof_text(struct store *st, const struct sim *m, enum changes_table t,
		      enum changes_bound kind, uint64_t bound, char *out, size_t cap)
{
	struct changes_state cs;
	uint64_t oldest_seq = 0, oldest_time = 0;
	char *err = NULL;
	size_t n = 0;
	int rc = changes_asof(st, t, kind, bound, &cs, &oldest_seq, &oldest_time, &err);

	out[0] = '\0';
	if (rc) {
		snprintf(out, cap, "(as of: %d %s, oldest %llu)", rc, err ? err : "",
			 (unsigned long long)oldest_seq);
		free(err);
		return;
	}
	for (size_t i = 0; i < cs.n; i++) {
		uint32_t pid = (uint32_t)(t == CHANGES_PROCESSES ? cs.rows[i].key : cs.rows[i].key >> 32);
		struct row_value v[FDS__COUNT];

		if (pid < m->base || pid >= m->base + SIM_PIDS)
			continue;
		if (t == CHANGES_PROCESSES) {
			n += snprintf(out + n, cap - n, "%s%u", n ? ";" : "", pid);
			continue;
		}
		if (row_decode(cs.rows[i].row, cs.rows[i].len, v, FDS__COUNT)) {
			snprintf(out, cap, "(a malformed row)");
			break;
		}
		n += snprintf(out + n, cap - n, "%s%u|%u|%.*s", n ? ";" : "", pid,
			      (uint32_t)cs.rows[i].key, (int)v[FDS_PATH].len, v[FDS_PATH].s);
	}
	changes_state_free(&cs);
}

/*
 * Time travel: after each seed, the processes and fds tables rebuilt from
 * the change log as of every event's seq and time are the model right
 * after that event, whatever order the CPUs' records came in and wherever
 * the commits fell; with a checkpoint every 50 changes, from every kind of
 * starting point. A moment before the first checkpoint is refused.
 */
TEST_F_TIMEOUT(files, as_of_every_moment_of_random_interleavings_is_the_model, 3600)
{
	static struct sim m;
	char want[8192], got[8192], sql[160], q_sql[400];
	const char *env = getenv("DBOS_ASOF_SEEDS");
	int seeds = env ? atoi(env) : 30;

	close_all(self);
	checkpoint_every = 50;
	open_all(self, 1000000);
	checkpoint_every = 0;
	attach(self);
	for (int seed = 1; seed <= seeds; seed++) {
		uint64_t seq = sim_run(_metadata, self, &m, seed, sql, sizeof(sql));

		for (int i = 0; i < m.n; i++) {
			uint64_t q = mirror_history_seq(self->w.m, m.ev[i].seq);

			model_fds(&m, m.after[i].alive, m.after[i].path, want, sizeof(want));
			asof_text(self->st, &m, CHANGES_FDS, CHANGES_BY_SEQ, q, got, sizeof(got));
			ASSERT_STREQ(want, got) TH_LOG("seed %d, event %d, seq %llu", seed, i,
						       (unsigned long long)q);
			asof_text(self->st, &m, CHANGES_FDS, CHANGES_BY_TIME, m.ev[i].time_ns, got,
				  sizeof(got));
			ASSERT_STREQ(want, got) TH_LOG("seed %d, event %d, by time", seed, i);
			model_pids(&m, m.after[i].alive, want, sizeof(want));
			asof_text(self->st, &m, CHANGES_PROCESSES, CHANGES_BY_SEQ, q, got, sizeof(got));
			ASSERT_STREQ(want, got) TH_LOG("seed %d, event %d, seq %llu", seed, i,
						       (unsigned long long)q);
			asof_text(self->st, &m, CHANGES_PROCESSES, CHANGES_BY_TIME, m.ev[i].time_ns,
				  got, sizeof(got));
			ASSERT_STREQ(want, got) TH_LOG("seed %d, event %d, by time", seed, i);
			if (i % 10)
				continue;
			/* SQL: the hidden as_of_seq column, and as_of in seconds in a join */
			snprintf(q_sql, sizeof(q_sql), "SELECT pid FROM processes WHERE as_of_seq = %llu "
				 "AND pid BETWEEN %u AND %u ORDER BY pid", (unsigned long long)q,
				 m.base, m.base + SIM_PIDS - 1);
			ASSERT_STREQ(want, q_rows(self->db, q_sql)) TH_LOG("seed %d, event %d", seed, i);
			model_fds(&m, m.after[i].alive, m.after[i].path, want, sizeof(want));
			snprintf(q_sql, sizeof(q_sql), "SELECT pid, fd, f.path FROM processes(%.9f) p "
				 "JOIN process_open_files(%.9f) f USING (pid) WHERE pid BETWEEN %u AND %u "
				 "ORDER BY pid, fd", m.ev[i].time_ns / 1e9, m.ev[i].time_ns / 1e9,
				 m.base, m.base + SIM_PIDS - 1);
			ASSERT_STREQ(want, q_rows(self->db, q_sql)) TH_LOG("seed %d, event %d", seed, i);
			if (i < 10)
				continue;
			/* what changed since ten events ago (seq) until now (time) */
			model_changes(&m, &m.after[i - 10], &m.after[i], want, sizeof(want));
			snprintf(q_sql, sizeof(q_sql), "SELECT change, pid, fd, changed_columns FROM "
				 "process_open_files_changes WHERE since_seq = %llu AND until = %.6f AND "
				 "pid BETWEEN %u AND %u ORDER BY pid, fd",
				 (unsigned long long)mirror_history_seq(self->w.m, m.ev[i - 10].seq),
				 m.ev[i].time_ns / 1e9, m.base, m.base + SIM_PIDS - 1);
			ASSERT_STREQ(want, q_rows(self->db, q_sql)) TH_LOG("seed %d, event %d", seed, i);
		}
		/* every process exits: the tables stay small, checkpoints frequent */
		for (int pid = 0; pid < SIM_PIDS; pid++) {
			struct trec r = EXIT(m.base + (uint32_t)pid, ++seq);

			if (m.alive[pid])
				send_recs(self, 0, &r, 1);
		}
		flush(self);
	}
	/* a time as text (UTC, to the millisecond), which the hidden column shows */
	{
		int j = m.n / 2;
		time_t secs = (time_t)(m.ev[j].time_ns / 1000000000);
		char when[64];
		struct tm tm;

		gmtime_r(&secs, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03u",
			 (unsigned)(m.ev[j].time_ns / 1000000 % 1000));
		model_pids(&m, m.after[j].alive, want, sizeof(want));
		snprintf(q_sql, sizeof(q_sql), "SELECT pid FROM processes('%s') WHERE pid BETWEEN "
			 "%u AND %u", when, m.base, m.base + SIM_PIDS - 1);
		EXPECT_STREQ(want, q_rows(self->db, q_sql)) TH_LOG("%s", when);
		snprintf(q_sql, sizeof(q_sql), "SELECT DISTINCT as_of, as_of_seq FROM processes('%s')",
			 when);
		snprintf(got, sizeof(got), "%s|NULL", when);
		EXPECT_STREQ(got, q_rows(self->db, q_sql));
		/* what is read live has no past: NULL */
		snprintf(q_sql, sizeof(q_sql), "SELECT count(*) FROM processes('%s') WHERE "
			 "resident_size IS NOT NULL OR pid IS NULL", when);
		EXPECT_EQ(0, q_int(self->db, q_sql));
	}
	/* joined on another table's seq: every child exists right after its fork */
	snprintf(q_sql, sizeof(q_sql), "SELECT count(*) = (SELECT count(*) FROM process_events "
		 "WHERE event = 'fork' AND pid BETWEEN %u AND %u) FROM process_events e JOIN "
		 "processes p ON p.as_of_seq = e.seq AND p.pid = e.pid WHERE e.event = 'fork' AND "
		 "e.pid BETWEEN %u AND %u", m.base, m.base + SIM_PIDS - 1, m.base,
		 m.base + SIM_PIDS - 1);
	EXPECT_EQ(1, q_int(self->db, q_sql));
	snprintf(q_sql, sizeof(q_sql), "SELECT count(*) FROM process_events e JOIN processes p "
		 "ON p.as_of_seq = e.seq AND p.pid = e.pid WHERE e.event = 'fork' AND e.pid "
		 "BETWEEN %u AND %u", m.base, m.base + SIM_PIDS - 1);
	EXPECT_LT(0, q_int(self->db, q_sql));
	EXPECT_NE(NULL, strstr(q_error(self->db, "SELECT * FROM processes('noon-ish')"),
			       "is not a moment")) TH_LOG("%s", q_error(self->db, "SELECT * FROM processes('noon-ish')"));
	EXPECT_NE(NULL, strstr(q_error(self->db, "SELECT * FROM process_open_files('2001-01-01')"),
			       "before the oldest moment kept"));
	EXPECT_NE(NULL, strstr(q_error(self->db, "SELECT * FROM sockets(1, 5)"), "not both"));
	EXPECT_NE(NULL, strstr(q_error(self->db, "SELECT * FROM processes WHERE as_of_seq = -1"),
			       "not a sequence number"));
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM processes(NULL)"));
	EXPECT_NE(NULL, strstr(q_error(self->db, "SELECT * FROM processes_changes"),
			       "needs two moments"));
	EXPECT_NE(NULL, strstr(q_error(self->db, "SELECT * FROM processes_changes('2001-01-01', "
					     "'now')"), "before the oldest moment kept"));
	EXPECT_NE(NULL, strstr(q_error(self->db, "SELECT * FROM processes_changes('now', 'x')"),
			       "until 'x' is not a moment"));
	EXPECT_LT(seeds * 2, stat_val(self->db, "checkpoints_written"));
	EXPECT_EQ(0, stat_val(self->db, "changes_lost"));
	/* before the store's first moment: refused, naming it */
	asof_text(self->st, &m, CHANGES_FDS, CHANGES_BY_TIME, T0 / 2, got, sizeof(got));
	EXPECT_EQ(0, strncmp(got, "(as of: 1", 9)) TH_LOG("%s", got);
}

/*
 * The change log across a restart of dbosd, and under retention: the
 * moments of the last seed are right after a reopen; with 300 changes kept
 * per table, the first seed's moments end up refused, naming the oldest
 * moment kept, while the latest seed's stay right.
 */
TEST_F_TIMEOUT(files, as_of_across_a_restart_and_under_retention, 600)
{
	static struct sim m;
	char want[8192], got[8192], sql[160], first_want[8192];
	uint64_t first_q = 0;
	bool refused = false;

	close_all(self);
	checkpoint_every = 30;
	open_all(self, 300);
	attach(self);
	for (int seed = 1; seed <= 8; seed++) {
		uint64_t seq = sim_run(_metadata, self, &m, seed, sql, sizeof(sql));

		if (seed == 1) {
			first_q = mirror_history_seq(self->w.m, m.ev[0].seq);
			model_fds(&m, m.after[0].alive, m.after[0].path, first_want, sizeof(first_want));
		}
		if (seed == 4) {	/* dbosd restarts */
			close_all(self);
			open_all(self, 300);
			attach(self);
		}
		for (int i = m.n - 60; i < m.n; i++) {
			uint64_t q = mirror_history_seq(self->w.m, m.ev[i].seq);

			model_fds(&m, m.after[i].alive, m.after[i].path, want, sizeof(want));
			asof_text(self->st, &m, CHANGES_FDS, CHANGES_BY_SEQ, q, got, sizeof(got));
			ASSERT_STREQ(want, got) TH_LOG("seed %d, event %d", seed, i);
		}
		/* the first seed's first moment: right while kept, then refused */
		asof_text(self->st, &m, CHANGES_FDS, CHANGES_BY_SEQ, first_q, got, sizeof(got));
		if (!strncmp(got, "(as of: 1", 9)) {
			refused = true;
		} else {	/* (later seeds' pids are filtered: only seed 1 compares) */
			ASSERT_FALSE(refused) TH_LOG("seed %d: the first moment came back", seed);
			if (seed == 1)
				ASSERT_STREQ(first_want, got);
		}
		for (int pid = 0; pid < SIM_PIDS; pid++) {
			struct trec r = EXIT(m.base + (uint32_t)pid, ++seq);

			if (m.alive[pid])
				send_recs(self, 0, &r, 1);
		}
		flush(self);
	}
	EXPECT_TRUE(refused);
	EXPECT_LT(0, stat_val(self->db, "changes_trimmed"));
	checkpoint_every = 0;
}

static void keep_notice(void *arg, const char *text)
{
	snprintf(arg, 512, "%s", text);
}

/*
 * A moment inside a window where records were lost (a gap on a CPU, until
 * the re-sync's dump) is answered with a notice saying the tables may be
 * wrong then; moments outside it are not.
 */
TEST_F(files, as_of_inside_a_window_of_lost_events_says_so)
{
	char notice[512] = "", q[160], *err = NULL;
	struct sql_session who = { .uid = 0, .pid = getpid(), .notice = keep_notice,
				   .notice_arg = notice };
	uint64_t before, inside, after;
	sqlite3 *db;

	attach(self);
	SEND(0, FORK(500, 1, 10));
	SEND(0, FORK(501, 1, 20));
	flush(self);
	before = mirror_history_seq(self->w.m, 20);
	self->cpu_seq[0] += 5;	/* five records lost on CPU 0 */
	SEND(0, FORK(502, 1, 30));
	flush(self);		/* the re-sync */
	inside = mirror_history_seq(self->w.m, 30);
	SEND(0, FORK(503, 1, 1000));
	flush(self);
	after = mirror_history_seq(self->w.m, 1000);
	ASSERT_EQ(0, sql_open_session(&self->env, &who, &db, &err)) TH_LOG("%s", err);
	snprintf(q, sizeof(q), "SELECT count(*) FROM processes WHERE as_of_seq = %llu",
		 (unsigned long long)before);
	EXPECT_LT(0, q_int(db, q));
	EXPECT_STREQ("", notice);
	snprintf(q, sizeof(q), "SELECT count(*) FROM process_open_files WHERE as_of_seq = %llu",
		 (unsigned long long)inside);
	EXPECT_LE(0, q_int(db, q));
	EXPECT_NE(NULL, strstr(notice, "process_open_files as of this moment may be wrong: events "
				       "were lost between seq")) TH_LOG("%s", notice);
	notice[0] = '\0';
	snprintf(q, sizeof(q), "SELECT count(*) FROM processes_changes WHERE since_seq = %llu AND "
		 "until_seq = %llu", (unsigned long long)before, (unsigned long long)after);
	EXPECT_LE(0, q_int(db, q));
	EXPECT_STREQ("", notice);
	snprintf(q, sizeof(q), "SELECT count(*) FROM processes_changes WHERE since_seq = %llu AND "
		 "until_seq = %llu", (unsigned long long)inside, (unsigned long long)after);
	EXPECT_LE(0, q_int(db, q));
	EXPECT_NE(NULL, strstr(notice, "processes as of this moment may be wrong")) TH_LOG("%s", notice);
	sqlite3_close(db);
}

/*
 * The views as of a moment: a port listened on for a while is in
 * listening_ports and process_open_sockets as of a moment inside that
 * while, by time and by seq, not before or after; a join with processes as
 * of the same moment names its process; a child that lived for a while is
 * in process_ancestors then.
 */
TEST_F(files, views_as_of_a_moment)
{
	char q[256];

	attach(self);
	SEND(0, FORK(300, 1, 10));
	SEND(0, OPEN_SOCK(20, 300, 5, 7000),
	     TCP4(DBOS_REC_SOCK_INFO, 21, 300, 5, 7000, ST_LISTEN, "0.0.0.0", 8080, NULL, 0));
	flush(self);
	SEND(0, CLOSE(40, 300, 5));
	flush(self);
	EXPECT_EQ(0, q_int(self->db, "SELECT count(*) FROM listening_ports WHERE pid = 300"));
	snprintf(q, sizeof(q), "SELECT pid, port FROM listening_ports WHERE as_of_seq = %llu",
		 (unsigned long long)mirror_history_seq(self->w.m, 30));
	EXPECT_STREQ("300|8080", q_rows(self->db, q));
	snprintf(q, sizeof(q), "SELECT pid, port FROM listening_ports(%.6f)",
		 (T0 + 30 * MS) / 1e9);
	EXPECT_STREQ("300|8080", q_rows(self->db, q));
	snprintf(q, sizeof(q), "SELECT count(*) FROM listening_ports(%.6f)", (T0 + 45 * MS) / 1e9);
	EXPECT_EQ(0, q_int(self->db, q));
	/* (before the first fd the store saw: nothing is known) */
	snprintf(q, sizeof(q), "SELECT count(*) FROM listening_ports(%.6f)", (T0 + 15 * MS) / 1e9);
	EXPECT_NE(NULL, strstr(q_error(self->db, q), "before the oldest moment kept"));
	snprintf(q, sizeof(q), "SELECT fd, state, local_port FROM process_open_sockets WHERE "
		 "as_of_seq = %llu AND pid = 300", (unsigned long long)mirror_history_seq(self->w.m, 30));
	EXPECT_STREQ("5|LISTEN|8080", q_rows(self->db, q));
	snprintf(q, sizeof(q), "SELECT p.pid, l.port FROM processes(%.6f) p JOIN listening_ports(%.6f) "
		 "l USING (pid)", (T0 + 30 * MS) / 1e9, (T0 + 30 * MS) / 1e9);
	EXPECT_STREQ("300|8080", q_rows(self->db, q));
	/* process_ancestors: a child that lived from seq 50 to 70 */
	SEND(0, FORK(301, 300, 50));
	flush(self);
	SEND(0, EXIT(301, 70));
	flush(self);
	snprintf(q, sizeof(q), "SELECT pid, ancestor, depth FROM process_ancestors WHERE as_of_seq = "
		 "%llu AND pid >= 300 ORDER BY pid, depth",
		 (unsigned long long)mirror_history_seq(self->w.m, 60));
	EXPECT_STREQ("300|1|1;301|300|1;301|1|2", q_rows(self->db, q));
	snprintf(q, sizeof(q), "SELECT pid, ancestor FROM process_ancestors(%.6f) WHERE pid >= 300",
		 (T0 + 75 * MS) / 1e9);
	EXPECT_STREQ("300|1", q_rows(self->db, q));
	EXPECT_STREQ("300|1", q_rows(self->db, "SELECT pid, ancestor FROM process_ancestors WHERE "
					 "pid >= 300"));
	/* and their changes between two moments */
	snprintf(q, sizeof(q), "SELECT change, pid, port FROM listening_ports_changes(%.6f, %.6f)",
		 (T0 + 25 * MS) / 1e9, (T0 + 45 * MS) / 1e9);
	EXPECT_STREQ("removed|300|8080", q_rows(self->db, q));
	snprintf(q, sizeof(q), "SELECT change, pid, ancestor, depth FROM process_ancestors_changes "
		 "WHERE since_seq = %llu AND until_seq = %llu AND pid >= 300 ORDER BY change, depth",
		 (unsigned long long)mirror_history_seq(self->w.m, 45),
		 (unsigned long long)mirror_history_seq(self->w.m, 60));
	EXPECT_STREQ("added|301|300|1;added|301|1|2", q_rows(self->db, q));
	snprintf(q, sizeof(q), "SELECT count(*) FROM process_open_sockets_changes(%.6f, %.6f)",
		 (T0 + 45 * MS) / 1e9, (T0 + 75 * MS) / 1e9);
	EXPECT_EQ(0, q_int(self->db, q));
	EXPECT_NE(NULL, strstr(q_error(self->db, "SELECT * FROM listening_ports_changes"),
			       "needs two moments"));
}

TEST_HARNESS_MAIN
