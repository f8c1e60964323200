// SPDX-License-Identifier: GPL-2.0
/*
 * test_live.c - the processes columns read live (state, cwd, root, saved ids, memory, CPU time,
 * I/O, process group, cgroup, executable on disk) against /proc, which is the ground truth.
 *
 * Runs in the VM with dbos.ko loaded and dbosd serving. No event reports any of these changes
 * (chdir, setpgid, memory, CPU), so each test also shows that a query sees them at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "dbos_client.h"
#include "vm_util.h"
#include "vm_truth.h"

#define LIVE_COLS "pid, state, cwd, root, suid, sgid, on_disk, wired_size, resident_size, " \
		  "total_size, user_time, system_time, disk_bytes_read, disk_bytes_written, " \
		  "pgroup, elapsed_time, cgroup_path"
#define NLIVE	17
#define ROOT_DIR "/tmp/dbos-live-root"

/* One process as /proc shows it, or as processes does (text NULL: ""; integer NULL: INT64_MIN). */
struct live {
	long long pid;
	char state[8];
	char cwd[512], root[512], cgroup[512];
	long long suid, sgid, on_disk, wired, resident, total, user_ms, system_ms, rbytes, wbytes;
	long long pgroup, elapsed;
};

static long long field_kb(const char *status, const char *name)
{
	const char *p = strstr(status, name);

	return p ? strtoll(p + strlen(name), NULL, 10) : 0;
}

static void read_link(const char *path, char *out, size_t cap)
{
	ssize_t n = readlink(path, out, cap - 1);

	out[n > 0 ? n : 0] = 0;
}

/* The ground truth of @pid; -1 when it cannot be read whole (gone). */
static int read_truth(pid_t pid, struct live *t)
{
	char path[64], buf[8192], *p;
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long ut, st, start;
	struct timespec boot;
	int pgrp;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_file(path, buf, sizeof(buf)) < 0 || !(p = strrchr(buf, ')')))
		return -1;
	/* 3 state, 5 pgrp, 14 utime, 15 stime, 22 starttime */
	if (sscanf(p + 2, "%c %*d %d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
		   "%*d %*d %llu", &t->state[0], &pgrp, &ut, &st, &start) != 5)
		return -1;
	t->pgroup = pgrp;
	t->user_ms = (long long)(ut * 1000 / hz);
	t->system_ms = (long long)(st * 1000 / hz);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	t->elapsed = boot.tv_sec - (long long)(start / hz);
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	if ((p = strstr(buf, "\nUid:")))
		sscanf(p + 5, "%*d %*d %lld", &t->suid);
	if ((p = strstr(buf, "\nGid:")))
		sscanf(p + 5, "%*d %*d %lld", &t->sgid);
	t->wired = field_kb(buf, "\nVmLck:") * 1024;
	t->resident = field_kb(buf, "\nVmRSS:") * 1024;
	t->total = field_kb(buf, "\nVmSize:") * 1024;
	snprintf(path, sizeof(path), "/proc/%d/io", pid);
	if (read_file(path, buf, sizeof(buf)) >= 0) {
		if ((p = strstr(buf, "\nread_bytes:")))
			t->rbytes = strtoll(p + 12, NULL, 10);
		if ((p = strstr(buf, "\nwrite_bytes:")))
			t->wbytes = strtoll(p + 13, NULL, 10);
	}
	snprintf(path, sizeof(path), "/proc/%d/cwd", pid);
	read_link(path, t->cwd, sizeof(t->cwd));
	snprintf(path, sizeof(path), "/proc/%d/root", pid);
	read_link(path, t->root, sizeof(t->root));
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	read_link(path, buf, sizeof(buf));
	t->on_disk = !buf[0] ? -1 : strstr(buf, " (deleted)") ? 0 : 1;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	if (read_file(path, buf, sizeof(buf)) >= 0) {
		p = strncmp(buf, "0::", 3) ? strstr(buf, "\n0::") : buf - 1;
		if (p) {
			snprintf(t->cgroup, sizeof(t->cgroup), "%s", p + 4);
			t->cgroup[strcspn(t->cgroup, "\n")] = 0;
		}
	}
	return 0;
}

struct rows {
	struct live *r;
	int n, cap;
};

static void text(char *dst, size_t cap, const struct dbos_value *v)
{
	size_t n = v->type == DBOS_T_TEXT ? (v->len < cap ? v->len : cap - 1) : 0;

	memcpy(dst, v->s, n);
	dst[n] = 0;
}

static int on_live(void *arg, int ncol, const struct dbos_value *v)
{
	struct rows *rs = arg;
	struct live *l;

	if (ncol != NLIVE)
		return -1;
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 512;
		rs->r = realloc(rs->r, rs->cap * sizeof(*rs->r));
		if (!rs->r)
			return -1;
	}
	l = &rs->r[rs->n++];
	memset(l, 0, sizeof(*l));
#define COLV(n) (v[n].type == DBOS_T_INT ? (long long)v[n].i : INT64_MIN)
	l->pid = COLV(0);
	text(l->state, sizeof(l->state), &v[1]);
	text(l->cwd, sizeof(l->cwd), &v[2]);
	text(l->root, sizeof(l->root), &v[3]);
	l->suid = COLV(4);
	l->sgid = COLV(5);
	l->on_disk = COLV(6);
	l->wired = COLV(7);
	l->resident = COLV(8);
	l->total = COLV(9);
	l->user_ms = COLV(10);
	l->system_ms = COLV(11);
	l->rbytes = COLV(12);
	l->wbytes = COLV(13);
	l->pgroup = COLV(14);
	l->elapsed = COLV(15);
	text(l->cgroup, sizeof(l->cgroup), &v[16]);
#undef COLV
	return 0;
}

/* The live columns of the rows @where selects (and orders); 0 or -1 with *@err. */
static int query_live(struct rows *rs, char **err, const char *where)
{
	static const struct dbos_callbacks cb = { .on_row = on_live };
	struct dbos_conn *c = dbos_connect(SOCK, err);
	char q[512];
	int ret;

	rs->n = 0;
	if (!c)
		return -1;
	snprintf(q, sizeof(q), "SELECT " LIVE_COLS " FROM processes %s", where);
	ret = dbos_query(c, q, &cb, rs, err);
	dbos_close(c);
	return ret;
}

static const struct live *find(const struct rows *rs, long long pid)
{
	for (int i = 0; i < rs->n; i++)
		if (rs->r[i].pid == pid)
			return &rs->r[i];
	return NULL;
}

#define LIVE_FMT "pid %lld %s cwd %s root %s suid %lld sgid %lld on_disk %lld pgroup %lld cgroup %s"
#define LIVE_ARGS(l) (l)->pid, (l)->state, (l)->cwd, (l)->root, (l)->suid, (l)->sgid, \
		     (l)->on_disk, (l)->pgroup, (l)->cgroup

/* What stays the same at rest for every process. */
static int same_at_rest(const struct live *a, const struct live *b)
{
	return a->suid == b->suid && a->sgid == b->sgid && a->on_disk == b->on_disk &&
	       a->pgroup == b->pgroup && !strcmp(a->cwd, b->cwd) && !strcmp(a->root, b->root) &&
	       !strcmp(a->cgroup, b->cgroup);
}

static void q_text(char *out, const char *fmt, int pid);

FIXTURE(vm) {
	int unused;
};

FIXTURE_SETUP(vm)
{
	ASSERT_EQ(0, wait_socket(30));
}

FIXTURE_TEARDOWN(vm)
{
}

/* Burns about @ms of CPU, a share of it in system calls. */
static void burn(int ms)
{
	struct timespec a, b;
	volatile unsigned long x = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		for (int i = 0; i < 100000; i++)
			x += i;
		for (int i = 0; i < 200; i++)
			getppid();
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

/* Each live column asked for alone (the kernel reads only the part it needs) equals @d's value. */
static void expect_each_column_alone(struct __test_metadata *_metadata, pid_t pid,
				     const struct live *d)
{
	char want[32][512], got[512], q[128];
	static const char *const cols[] = {
		"state", "cwd", "root", "cgroup_path", "suid", "sgid", "on_disk", "wired_size",
		"resident_size", "total_size", "user_time", "system_time", "disk_bytes_read",
		"disk_bytes_written", "pgroup",
	};
	const long long ints[] = {
		d->suid, d->sgid, d->on_disk, d->wired, d->resident, d->total, d->user_ms,
		d->system_ms, d->rbytes, d->wbytes, d->pgroup,
	};

	snprintf(want[0], sizeof(want[0]), "%s", d->state);
	snprintf(want[1], sizeof(want[1]), "%s", d->cwd);
	snprintf(want[2], sizeof(want[2]), "%s", d->root);
	snprintf(want[3], sizeof(want[3]), "%s", d->cgroup);
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		snprintf(want[4 + i], sizeof(want[0]), "%lld", ints[i]);
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		snprintf(q, sizeof(q), "SELECT CAST(%s AS TEXT) FROM processes WHERE pid = %%d",
			 cols[i]);
		q_text(got, q, pid);
		EXPECT_STREQ(want[i], got) TH_LOG("%s alone", cols[i]);
	}
}

/*
 * A process that changed everything no event reports (process group, memory,
 * mlock, CPU time, saved ids, root and working directory), then stopped: every
 * live column equals /proc, read before and after.
 */
TEST_F_TIMEOUT(vm, a_stopped_process_shows_what_proc_shows, 120)
{
	struct live before, after;
	struct rows rs = { 0 };
	const struct live *d;
	char *err = NULL, where[64];
	int status;
	pid_t pid;

	mkdir(ROOT_DIR, 0755);
	mkdir(ROOT_DIR "/work", 0755);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		size_t big = 8 << 20;
		char *m = malloc(big), *l = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
						 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (!m || l == MAP_FAILED || setpgid(0, 0) || mlock(l, 65536))
			_exit(1);
		memset(m, 1, big);
		burn(300);
		if (setresgid(0, 0, 4322) || setresuid(0, 0, 4321) ||
		    chroot(ROOT_DIR) || chdir("/work"))
			_exit(2);
		raise(SIGSTOP);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, WUNTRACED));
	ASSERT_TRUE(WIFSTOPPED(status)) TH_LOG("the child failed: status %d", status);
	ASSERT_EQ(1, wait_int(1, 20, "SELECT count(*) FROM processes WHERE pid = %d", pid));

	snprintf(where, sizeof(where), "WHERE pid = %d", pid);
	ASSERT_EQ(0, read_truth(pid, &before));
	ASSERT_EQ(0, query_live(&rs, &err, where)) TH_LOG("%s", err);
	ASSERT_EQ(0, read_truth(pid, &after));
	ASSERT_EQ(1, rs.n);
	d = &rs.r[0];
	TH_LOG("/proc: " LIVE_FMT, LIVE_ARGS(&before));
	TH_LOG("dbos:  " LIVE_FMT, LIVE_ARGS(d));
	EXPECT_STREQ("T", d->state);
	EXPECT_STREQ(before.state, d->state);
	EXPECT_STREQ(ROOT_DIR "/work", d->cwd);
	EXPECT_STREQ(before.cwd, d->cwd);
	EXPECT_STREQ(ROOT_DIR, d->root);
	EXPECT_STREQ(before.root, d->root);
	EXPECT_EQ(4321, d->suid);
	EXPECT_EQ(4322, d->sgid);
	EXPECT_EQ(1, d->on_disk);
	EXPECT_EQ(pid, d->pgroup);
	EXPECT_STREQ(before.cgroup, d->cgroup);
	EXPECT_EQ(before.wired, d->wired);
	EXPECT_LE(65536, d->wired);
	EXPECT_EQ(before.resident, d->resident);
	EXPECT_LE(8 << 20, d->resident);
	EXPECT_EQ(before.total, d->total);
	EXPECT_EQ(before.rbytes, d->rbytes);
	EXPECT_EQ(before.wbytes, d->wbytes);
	/* /proc counts whole clock ticks; dbos milliseconds: within one tick, never below */
	EXPECT_EQ(before.user_ms, after.user_ms);
	EXPECT_LE(before.user_ms, d->user_ms);
	EXPECT_GT(before.user_ms + 1000 / sysconf(_SC_CLK_TCK), d->user_ms);
	EXPECT_LE(before.system_ms, d->system_ms);
	EXPECT_GT(before.system_ms + 1000 / sysconf(_SC_CLK_TCK), d->system_ms);
	EXPECT_LT(100, d->user_ms + d->system_ms);
	EXPECT_LE(before.elapsed - 2, d->elapsed);
	EXPECT_GE(after.elapsed + 2, d->elapsed);
	expect_each_column_alone(_metadata, pid, d);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	free(rs.r);
}

/*
 * More processes than one batch asks the kernel for (300 in their own process
 * groups, one running a deleted executable), read in both orders: every
 * process's columns that stay the same at rest equal /proc's.
 */
TEST_F_TIMEOUT(vm, every_process_shows_what_proc_shows, 180)
{
	static const char *const orders[] = { "ORDER BY pid", "ORDER BY pid DESC" };
	char *sleep_argv[] = { "sleep", "1000", NULL };
	pid_t kids[301];
	struct rows rs = { 0 };
	char *err = NULL;
	int nk = 0;

	for (; nk < 300; nk++) {
		kids[nk] = fork();
		ASSERT_LE(0, kids[nk]);
		if (kids[nk] == 0) {
			setpgid(0, 0);
			pause();
			_exit(0);
		}
	}
	ASSERT_EQ(0, copy_file("/bin/sleep", "/tmp/dbos-live-sleep", 0755));
	kids[nk] = fork();
	ASSERT_LE(0, kids[nk]);
	if (kids[nk] == 0) {
		execv("/tmp/dbos-live-sleep", sleep_argv);
		_exit(127);
	}
	nk++;
	usleep(300000);
	ASSERT_EQ(0, unlink("/tmp/dbos-live-sleep"));
	ASSERT_EQ(nk, wait_int(nk, 30, "SELECT count(*) FROM processes WHERE pid BETWEEN %d AND %d "
			       "AND (pgroup = pid OR on_disk = 0)", kids[0], kids[nk - 1]));

	for (size_t o = 0; o < sizeof(orders) / sizeof(orders[0]); o++) {
		int bad = 0, checked = 0;

		ASSERT_EQ(0, query_live(&rs, &err, orders[o])) TH_LOG("%s", err);
		for (int i = 1; i < rs.n; i++)
			ASSERT_TRUE(o ? rs.r[i - 1].pid > rs.r[i].pid : rs.r[i - 1].pid < rs.r[i].pid);
		for (int i = 0; i < rs.n; i++) {
			struct live t;

			if (read_truth((pid_t)rs.r[i].pid, &t))
				continue;	/* gone since */
			checked++;
			if (!same_at_rest(&t, &rs.r[i])) {
				if (bad++ < 5)
					TH_LOG("%s: /proc " LIVE_FMT " | dbos " LIVE_FMT, orders[o],
					       LIVE_ARGS(&t), LIVE_ARGS(&rs.r[i]));
			}
		}
		EXPECT_EQ(0, bad);
		EXPECT_LE(nk, checked);
		for (int k = 0; k < nk; k++) {
			const struct live *d = find(&rs, kids[k]);

			ASSERT_NE(NULL, d) TH_LOG("pid %d missing", kids[k]);
			EXPECT_STREQ("S", d->state);
			EXPECT_EQ(k < nk - 1 ? kids[k] : getpgrp(), d->pgroup);
			EXPECT_EQ(k < nk - 1 ? 1 : 0, d->on_disk);
		}
		/* a kernel thread has no executable */
		EXPECT_EQ(-1, find(&rs, 2) ? find(&rs, 2)->on_disk : -2);
	}
	for (int k = 0; k < nk; k++)
		kill(kids[k], SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
	free(rs.r);
}

static int on_text(void *arg, int ncol, const struct dbos_value *v)
{
	if (ncol > 0)
		text(arg, 512, &v[0]);
	return 0;
}

/* One text value (first column of the last row), "" when none. */
static void q_text(char *out, const char *fmt, int pid)
{
	static const struct dbos_callbacks cb = { .on_row = on_text };
	struct dbos_conn *c = dbos_connect(SOCK, NULL);
	char q[256];

	out[0] = 0;
	snprintf(q, sizeof(q), fmt, pid);
	if (c) {
		dbos_query(c, q, &cb, out, NULL);
		dbos_close(c);
	}
}

/* chdir() and setpgid() report no event: the next query after each sees it. */
TEST_F_TIMEOUT(vm, changes_without_events_are_seen_at_once, 60)
{
	int cmd[2], ack[2];
	char out[512], c;
	pid_t pid;

	ASSERT_EQ(0, pipe(cmd));
	ASSERT_EQ(0, pipe(ack));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(cmd[1]);
		while (read(cmd[0], &c, 1) == 1) {
			if (c == 't' && chdir("/tmp"))
				_exit(1);
			if (c == '/' && chdir("/"))
				_exit(1);
			if (c == 'g' && setpgid(0, 0))
				_exit(1);
			if (write(ack[1], &c, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	close(cmd[0]);
	close(ack[1]);
	ASSERT_EQ(1, wait_int(1, 20, "SELECT count(*) FROM processes WHERE pid = %d", pid));
	for (int round = 0; round < 20; round++) {
		c = round % 2 ? '/' : 't';
		ASSERT_EQ(1, write(cmd[1], &c, 1));
		ASSERT_EQ(1, read(ack[0], &c, 1));
		q_text(out, "SELECT cwd FROM processes WHERE pid = %d", pid);
		EXPECT_STREQ(round % 2 ? "/" : "/tmp", out) TH_LOG("round %d", round);
	}
	EXPECT_EQ(getpgrp(), q_int("SELECT pgroup FROM processes WHERE pid = %d", pid));
	c = 'g';
	ASSERT_EQ(1, write(cmd[1], &c, 1));
	ASSERT_EQ(1, read(ack[0], &c, 1));
	EXPECT_EQ(pid, q_int("SELECT pgroup FROM processes WHERE pid = %d", pid));
	close(cmd[1]);
	waitpid(pid, NULL, 0);
}

TEST_HARNESS_MAIN
