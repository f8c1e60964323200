// SPDX-License-Identifier: GPL-2.0
/*
 * test_crash_loop.c - kill -9 dbosd at random moments under heavy ingest, again and again: nothing it acknowledged is lost, and after each restart its tables equal the kernel's view.
 *
 * Runs as root in the test VM with dbos.ko loaded and dbosd serving (scripts/dbos-vm).
 * Each cycle, with a seeded random schedule (the seed is logged):
 *   - one cycle in three, dbosd is also killed while it starts (0-2 s after exec:
 *     opening the store, replaying its WAL, dumping the kernel's state);
 *   - after a restart: every row acknowledged before the last kill (a query
 *     returned it) is still there, byte for byte; every acknowledged policy
 *     COMMIT is still the live version and its rules are still enforced;
 *   - the load is paused (SIGSTOP) and processes, process_open_files and
 *     process_open_sockets equal /proc and ss (vm_truth.h); then it goes on;
 *   - the newest rows of the three histories are acknowledged, every fifth
 *     cycle a policy version is committed, and dbosd is killed 0-300 ms later
 *     while the load runs.
 * Cycles: DBOS_TEST_CRASH_CYCLES, default 20 (4 on the debug kernel, where a
 * restart takes much longer; ~14 s a cycle on Debian's under TCG, most of it
 * dbosd's restart, the BPF verifier's time); `make crash-loop` runs 100.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vm_util.h"
#include "vm_truth.h"

#define DENIED		"/tmp/crash-denied"	/* a copy of /bin/true a committed rule denies */
#define ACK_ROWS	300			/* newest rows acknowledged per history, per cycle */
#define MAX_ACKED	400000
#define MAX_SEGMENTS	4096

static const char *const histories[] = { "process_events", "file_events", "socket_events" };

/* A row a query returned before a kill: which history, its seq, all its values as text. */
struct acked_row {
	unsigned char table;
	long long seq;
	char *values;
};

static struct acked_row *acked;
static int nacked;

static int cycles(void)
{
	const char *n = getenv("DBOS_TEST_CRASH_CYCLES");
	const char *k = getenv("DBOS_TEST_KERNEL");

	if (n && atoi(n) > 0)
		return atoi(n);
	return k && !strcmp(k, "debug") ? 4 : 20;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- load: processes, files and sockets, in a process group of its own ---- */

static void one_round(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	char path[64];
	int l, c, a, sp[2], fd;
	pid_t pid = fork();

	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	snprintf(path, sizeof(path), "/tmp/crash-storm.%d", getpid());
	fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	unlink(path);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0) {
		close(sp[0]);
		close(sp[1]);
	}
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l >= 0 && bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(l, 4) == 0 &&
	    getsockname(l, (struct sockaddr *)&sa, &len) == 0) {
		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c >= 0 && connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
			if (a >= 0)
				close(a);
		}
		if (c >= 0)
			close(c);
	}
	if (l >= 0)
		close(l);
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static pid_t start_load(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		setpgid(0, 0);
		if (fork() == 0)	/* two of them, same group */
			for (;;)
				one_round();
		for (;;)
			one_round();
	}
	setpgid(pid, pid);
	return pid;
}

/* ---- dbosd: started here (so its pid is known and it can be reaped) ---- */

/* SIGKILL @pid and wait until it is gone (reaped if it is our child). */
static void kill9(pid_t pid)
{
	kill(pid, SIGKILL);
	if (waitpid(pid, NULL, 0) == pid)
		return;
	while (kill(pid, 0) == 0)	/* the first one, started by vm-dbosd */
		usleep(20000);
}

/* ---- acknowledged rows ---- */

/* Rows read from one history, in the order the query returned them. */
struct rows {
	unsigned char table;
	int n, cap;
	struct acked_row *r;
};

/* A cycle's acknowledged rows of one history: acked[start .. start + n), ascending seq. */
struct segment {
	unsigned char table;
	int start, n;
};

static struct segment *segments;
static int nsegments;

/* Every value of a row as one string: type, then value. */
static char *row_text(int ncol, const struct dbos_value *v)
{
	size_t cap = 64, len = 0;
	char *s = malloc(cap);

	for (int i = 0; s && i < ncol; i++) {
		size_t need = 48 + v[i].len;
		char *p;

		if (len + need >= cap) {
			cap = (len + need) * 2;
			p = realloc(s, cap);
			if (!p) {
				free(s);
				return NULL;
			}
			s = p;
		}
		switch (v[i].type) {
		case DBOS_T_INT:
			len += (size_t)sprintf(s + len, "i%lld|", (long long)v[i].i);
			break;
		case DBOS_T_FLOAT:
			len += (size_t)sprintf(s + len, "f%.17g|", v[i].f);
			break;
		case DBOS_T_TEXT:
		case DBOS_T_BLOB:
			s[len++] = v[i].type == DBOS_T_TEXT ? 't' : 'b';
			memcpy(s + len, v[i].s, v[i].len);
			len += v[i].len;
			s[len++] = '|';
			s[len] = 0;
			break;
		default:
			len += (size_t)sprintf(s + len, "n|");
		}
	}
	return s;
}

static int on_row(void *arg, int ncol, const struct dbos_value *v)
{
	struct rows *rs = arg;
	struct acked_row *r;

	if (ncol < 1 || v[0].type != DBOS_T_INT)
		return 0;
	if (rs->n == rs->cap) {
		int cap = rs->cap ? rs->cap * 2 : 1024;

		r = realloc(rs->r, (size_t)cap * sizeof(*r));
		if (!r)
			return 1;
		rs->r = r;
		rs->cap = cap;
	}
	r = &rs->r[rs->n];
	r->table = rs->table;
	r->seq = v[0].i;
	r->values = row_text(ncol, v);
	if (!r->values)
		return 1;
	rs->n++;
	return 0;
}

static void rows_clear(struct rows *rs, int keep_values)
{
	for (int i = 0; !keep_values && i < rs->n; i++)
		free(rs->r[i].values);
	rs->n = 0;
}

/* Rows of history @t with seq in [@lo, @hi], ascending (or the newest ACK_ROWS, descending). */
static int read_rows(int t, long long lo, long long hi, int newest, struct rows *out, char **err)
{
	static const struct dbos_callbacks cb = { .on_row = on_row };
	struct dbos_conn *c = dbos_connect(SOCK, err);
	char q[256];
	int ret;

	out->table = (unsigned char)t;
	if (!c)
		return -1;
	if (newest)
		snprintf(q, sizeof(q), "SELECT * FROM %s ORDER BY seq DESC LIMIT %d",
			 histories[t], ACK_ROWS);
	else
		snprintf(q, sizeof(q), "SELECT * FROM %s WHERE seq BETWEEN %lld AND %lld ORDER BY seq",
			 histories[t], lo, hi);
	ret = dbos_query(c, q, &cb, out, err);
	dbos_close(c);
	return ret;
}

/* Acknowledge the newest rows of each history: from now on they must survive every kill. */
static int acknowledge(struct __test_metadata *_metadata)
{
	static struct rows got;
	int before = nacked;
	char *err = NULL;

	for (int t = 0; t < 3; t++) {
		rows_clear(&got, 1);
		if (read_rows(t, 0, 0, 1, &got, &err)) {
			TH_LOG("%s: %s", histories[t], err ? err : "?");
			free(err);
			return -1;
		}
		if (!got.n || nacked + got.n > MAX_ACKED || nsegments == MAX_SEGMENTS)
			continue;
		segments[nsegments++] = (struct segment){ (unsigned char)t, nacked, got.n };
		for (int i = got.n - 1; i >= 0; i--)	/* ascending */
			acked[nacked++] = got.r[i];
	}
	return nacked - before;
}

/* Every acknowledged row of segments [@from, nsegments) is still stored, unchanged; the number that is not. */
static int check_acked(struct __test_metadata *_metadata, int from)
{
	static struct rows now;
	int bad = 0;

	for (int s = from; s < nsegments; s++) {
		const struct segment *g = &segments[s];
		const struct acked_row *a = &acked[g->start];
		char *err = NULL;
		int j = 0;

		rows_clear(&now, 0);
		if (read_rows(g->table, a[0].seq, a[g->n - 1].seq, 0, &now, &err)) {
			TH_LOG("%s: %s", histories[g->table], err ? err : "?");
			free(err);
			return g->n;
		}
		for (int i = 0; i < g->n; i++) {
			while (j < now.n && now.r[j].seq < a[i].seq)
				j++;
			if (j < now.n && now.r[j].seq == a[i].seq && !strcmp(now.r[j].values, a[i].values))
				continue;
			if (bad++ < 10)
				TH_LOG("lost or changed: %s seq %lld (%s)", histories[g->table], a[i].seq,
				       a[i].values);
		}
	}
	return bad;
}

/* ---- acknowledged policy ---- */

static long long live_version(void)
{
	return q_int("SELECT version FROM policy_versions WHERE live");
}

/* The committed deny rule still holds in the kernel: exec of DENIED fails with EPERM. */
static int denied_still(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execl(DENIED, DENIED, (char *)NULL);
		_exit(errno == EPERM ? 0 : 1);
	}
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* dbosd's last startup lines: what it loaded ("store ...: N processes, ...") and its phases' times. */
static const char *store_line(void)
{
	static char line[512], last[512], started[256];
	static char out[800];
	FILE *f = fopen("/tmp/dbosd.log", "r");
	const char *p;

	snprintf(last, sizeof(last), "%s", "no store line");
	started[0] = 0;
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "dbosd: store ", 13))
			snprintf(last, sizeof(last), "%s", line);
		else if ((p = strstr(line, "(started in ")))
			snprintf(started, sizeof(started), "%s", p);
	}
	if (f)
		fclose(f);
	snprintf(out, sizeof(out), "%s %s", last, started);
	return out;
}

FIXTURE(vm) {
	int unused;
};

FIXTURE_SETUP(vm)
{
}

FIXTURE_TEARDOWN(vm)
{
}

TEST_F_TIMEOUT(vm, kill9_again_and_again_loses_nothing_acknowledged, 14400)
{
	int n = cycles(), startup_kills = 0, commits = 0, from = 0, cycle;
	unsigned int seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	long long acked_version, t0 = now_ms(), restart_ms = 0, converge_ms = 0;
	long long win_restart = 0, win_converge = 0;
	pid_t load, d;
	char *err = NULL;

	acked = calloc(MAX_ACKED, sizeof(*acked));
	segments = calloc(MAX_SEGMENTS, sizeof(*segments));
	ASSERT_NE(NULL, acked);
	ASSERT_NE(NULL, segments);
	ASSERT_EQ(0, wait_socket(60));
	TH_LOG("%d cycles, seed %u", n, seed);
	srand(seed);
	ASSERT_EQ(0, copy_file("/bin/true", DENIED, 0755));
	SQL_OK("DELETE FROM policies WHERE name GLOB 'crash-*'");
	SQL_OK("INSERT INTO policies(name, hook, action, condition) "
	       "VALUES ('crash-denied', 'exec', 'deny', 'path = ''" DENIED "''')");
	acked_version = live_version();
	ASSERT_TRUE(denied_still());
	load = start_load();
	d = dbosd_pid();	/* the one vm-dbosd started */
	ASSERT_GT(d, 0);
	usleep(300000);
	ASSERT_LT(0, acknowledge(_metadata));
	kill9(d);

	for (cycle = 1; cycle <= n; cycle++) {
		long long t;
		int bad;

		if (rand() % 3 == 0) {
			d = start_dbosd();
			usleep((rand() % 2000) * 1000);
			kill9(d);
			startup_kills++;
		}
		t = now_ms();
		d = start_dbosd();
		ASSERT_EQ(0, wait_socket(180)) TH_LOG("cycle %d: dbosd did not come back", cycle);
		restart_ms += now_ms() - t;
		win_restart += now_ms() - t;

		bad = check_acked(_metadata, from);
		ASSERT_EQ(0, bad) TH_LOG("cycle %d: %d acknowledged rows lost or changed", cycle, bad);
		ASSERT_EQ(acked_version, live_version()) TH_LOG("cycle %d", cycle);
		ASSERT_EQ(commits, q_int("SELECT count(*) FROM policies WHERE name GLOB 'crash-v*'"));
		ASSERT_TRUE(denied_still()) TH_LOG("cycle %d: the committed rule no longer holds", cycle);

		t = now_ms();
		kill(-load, SIGSTOP);
		ASSERT_TRUE(converges(_metadata, 60)) TH_LOG("cycle %d: processes", cycle);
		ASSERT_TRUE(fds_converge(_metadata, 60)) TH_LOG("cycle %d: process_open_files", cycle);
		ASSERT_TRUE(sockets_converge(_metadata, 60, 0)) TH_LOG("cycle %d: sockets", cycle);
		kill(-load, SIGCONT);
		converge_ms += now_ms() - t;
		win_converge += now_ms() - t;

		usleep((rand() % 500) * 1000);
		from = nsegments;
		ASSERT_LT(0, acknowledge(_metadata)) TH_LOG("cycle %d", cycle);
		if (cycle % 5 == 0) {
			ASSERT_EQ(0, sql(&err, "INSERT INTO policies(name, hook, action, condition) "
					 "VALUES ('crash-v%d', 'exec', 'deny', 'path = ''/nonexistent/%d''')",
					 cycle, cycle)) TH_LOG("%s", err);
			commits++;
			acked_version = live_version();
		}
		usleep((rand() % 300) * 1000);
		kill9(d);
		if (cycle % 10 == 0) {
			TH_LOG("%d cycles, %lld s, %d rows acknowledged; last 10: restart %lld ms, "
			       "views equal %lld ms (means); %s", cycle, (now_ms() - t0) / 1000,
			       nacked, win_restart / 10, win_converge / 10, store_line());
			win_restart = win_converge = 0;
		}
	}

	d = start_dbosd();
	ASSERT_EQ(0, wait_socket(180));
	kill(-load, SIGKILL);
	waitpid(load, NULL, 0);
	EXPECT_EQ(0, check_acked(_metadata, 0)) TH_LOG("of all %d acknowledged rows", nacked);
	EXPECT_EQ(acked_version, live_version());
	TH_LOG("%d kills under load (+%d while starting) in %lld s: %d rows and %d COMMITs "
	       "acknowledged, none lost; restart to first answer %lld ms, kernel views equal "
	       "after %lld ms (means)",
	       n, startup_kills, (now_ms() - t0) / 1000, nacked, commits, restart_ms / n,
	       converge_ms / n);
	SQL_OK("DELETE FROM policies WHERE name GLOB 'crash-*'");
	unlink(DENIED);
}

TEST_HARNESS_MAIN
