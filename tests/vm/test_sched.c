// SPDX-License-Identifier: GPL-2.0
/*
 * test_sched.c - end to end in the VM: UPDATE processes SET nice / sched_policy
 * / sched_priority / cpus -> dbosd -> DBOS_CMD_SCHED_SET -> the real processes,
 * checked against the kernel's own view (/proc/PID/stat, /proc/PID/status
 * Cpus_allowed_list, sched_getscheduler, sched_getparam, getpriority), never
 * against dbos; then that the table and sched_decisions follow the kernel.
 *
 * Runs as root in the test VM with dbos.ko loaded and dbosd serving on
 * /run/dbos/dbosd.sock. Every process a test changes is its own child (a
 * sleeper), killed at the end.
 */
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "dbos_client.h"
#include "vm_util.h"

#define NOBODY	65534
#define TEST_GID 1000			/* group dbos-test (scripts/mkinitramfs.sh) */
#define MAXKIDS	8

/* ---- SQL through the real client library ---- */

/* Polls until "SELECT count(*) ... WHERE @where" is 1, at most @secs; the last count. */
static long long wait_row(int secs, const char *fmt, ...)
{
	char where[2048];
	long long v = -1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(where, sizeof(where), fmt, ap);
	va_end(ap);
	for (int i = 0; i < secs * 20; i++) {
		v = q_int("SELECT count(*) FROM %s", where);
		if (v == 1)
			break;
		usleep(50000);
	}
	return v;
}

/* ---- the kernel's view ---- */

struct kview {
	int nice;		/* /proc/PID/stat field 19 */
	int policy;		/* field 41 */
	int rtprio;		/* field 40 */
	char cpus[64];		/* /proc/PID/status Cpus_allowed_list */
};

static int kview(pid_t pid, struct kview *k)
{
	char path[64], buf[2048], *p;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n > 0 ? n : 0] = 0;
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	/* p + 2 is field 3 (state) */
	p += 2;
	for (int field = 3; field <= 41 && p; field++) {
		if (field == 19)
			k->nice = atoi(p);
		if (field == 40)
			k->rtprio = atoi(p);
		if (field == 41)
			k->policy = atoi(p);
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	k->cpus[0] = 0;
	while (fgets(buf, sizeof(buf), f))
		if (!strncmp(buf, "Cpus_allowed_list:", 18))
			sscanf(buf + 18, " %63s", k->cpus);
	fclose(f);
	return 0;
}

/* Does @pid have nice @nice and policy @policy (priority @prio) by every account of the kernel? */
static int kernel_has(pid_t pid, int nice, int policy, int prio)
{
	struct sched_param sp = { 0 };
	struct kview k;
	int pol;

	errno = 0;
	if (kview(pid, &k) || sched_getparam(pid, &sp))
		return -1;
	pol = sched_getscheduler(pid);
	if (k.policy != policy || pol != policy || sp.sched_priority != prio || k.rtprio != prio)
		return 0;
	if (policy != SCHED_FIFO && policy != SCHED_RR &&
	    (k.nice != nice || getpriority(PRIO_PROCESS, pid) != nice))
		return 0;
	return 1;
}

static const char *cpus_of(pid_t pid, char *buf)
{
	struct kview k;

	if (kview(pid, &k))
		return "(gone)";
	strcpy(buf, k.cpus);
	return buf;
}

/* ---- sleepers ---- */

/* A child named @name (comm) that sleeps until killed; returns once the mirror shows it. */
static pid_t sleeper(const char *name)
{
	int fds[2];
	pid_t pid;
	char c;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, name);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	if (pid < 0 || read(fds[0], &c, 1) != 1) {
		close(fds[0]);
		return -1;
	}
	close(fds[0]);
	if (wait_row(10, "processes WHERE pid = %d AND name = '%s'", pid, name) != 1)
		return -1;
	return pid;
}

static void reap(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

FIXTURE(sched) {
	pid_t kid[MAXKIDS];
	int nkids;
	int ncpus;
};

FIXTURE_SETUP(sched)
{
	cpu_set_t set;

	self->nkids = 0;
	CPU_ZERO(&set);
	ASSERT_EQ(0, sched_getaffinity(0, sizeof(set), &set));
	self->ncpus = CPU_COUNT(&set);
	ASSERT_EQ(1, q_int("SELECT 1")) TH_LOG("dbosd does not answer on %s", SOCK);
}

FIXTURE_TEARDOWN(sched)
{
	for (int i = 0; i < self->nkids; i++)
		reap(self->kid[i]);
}

/* A sleeper that the teardown kills. */
static pid_t kid(FIXTURE_DATA(sched) *self, const char *name)
{
	pid_t pid = sleeper(name);

	if (pid > 0 && self->nkids < MAXKIDS)
		self->kid[self->nkids++] = pid;
	return pid;
}

#define UPDATE_OK(nrows, ...)						\
	do {								\
		char *_e = NULL;					\
		long long _n = -1;					\
		int _r = sqlc(&_n, &_e, __VA_ARGS__);			\
		ASSERT_EQ(0, _r) TH_LOG("UPDATE failed: %s", _e ? _e : "?"); \
		EXPECT_EQ(nrows, _n);					\
		free(_e);						\
	} while (0)

/* ---- tests ---- */

TEST_F_TIMEOUT(sched, nice_by_pid_changes_the_process_and_the_table_follows, 60)
{
	pid_t a = kid(self, "dbos-sch-pid"), b = kid(self, "dbos-sch-pid2");

	ASSERT_GT(a, 0);
	ASSERT_GT(b, 0);
	ASSERT_EQ(1, kernel_has(a, 0, SCHED_OTHER, 0));
	UPDATE_OK(1, "UPDATE processes SET nice = 10 WHERE pid = %d", a);
	EXPECT_EQ(1, kernel_has(a, 10, SCHED_OTHER, 0));
	EXPECT_EQ(1, kernel_has(b, 0, SCHED_OTHER, 0));	/* only the row named */
	/* The table shows it because the kernel reported it. */
	EXPECT_EQ(1, wait_row(5, "processes WHERE pid = %d AND nice = 10", a));
	/* Back down (needs privilege the kernel grants the module). */
	UPDATE_OK(1, "UPDATE processes SET nice = -5 WHERE pid = %d", a);
	EXPECT_EQ(1, kernel_has(a, -5, SCHED_OTHER, 0));
	EXPECT_EQ(1, wait_row(5, "processes WHERE pid = %d AND nice = -5", a));
}

TEST_F_TIMEOUT(sched, by_name_changes_every_match_and_counts_them, 60)
{
	pid_t a = kid(self, "dbos-sch-nm"), b = kid(self, "dbos-sch-nm"), c = kid(self, "dbos-sch-x");

	ASSERT_GT(a, 0);
	ASSERT_GT(b, 0);
	ASSERT_GT(c, 0);
	UPDATE_OK(2, "UPDATE processes SET nice = 7 WHERE name = 'dbos-sch-nm'");
	EXPECT_EQ(1, kernel_has(a, 7, SCHED_OTHER, 0));
	EXPECT_EQ(1, kernel_has(b, 7, SCHED_OTHER, 0));
	EXPECT_EQ(1, kernel_has(c, 0, SCHED_OTHER, 0));
	EXPECT_EQ(2, q_int("SELECT count(*) FROM processes WHERE name = 'dbos-sch-nm' AND nice = 7"));
	/* changes() in the same session says the same */
	EXPECT_EQ(2, q_int("UPDATE processes SET nice = 8 WHERE name = 'dbos-sch-nm'; SELECT changes()"));
	EXPECT_EQ(1, kernel_has(a, 8, SCHED_OTHER, 0));
	EXPECT_EQ(1, kernel_has(b, 8, SCHED_OTHER, 0));
}

TEST_F_TIMEOUT(sched, by_a_join_on_process_ancestors, 60)
{
	pid_t parent, kids[2] = { 0, 0 };
	int fds[2], status;
	char c;

	/* a child of ours with two children of its own */
	ASSERT_EQ(0, pipe(fds));
	parent = fork();
	ASSERT_GE(parent, 0);
	if (parent == 0) {
		prctl(PR_SET_NAME, "dbos-sch-par");
		for (int i = 0; i < 2; i++)
			if (fork() == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				prctl(PR_SET_NAME, "dbos-sch-gk");
				for (;;)
					pause();
			}
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	self->kid[self->nkids++] = parent;
	close(fds[1]);
	ASSERT_EQ(1, read(fds[0], &c, 1));
	close(fds[0]);
	ASSERT_EQ(1, wait_row(10, "(SELECT count(*) AS n FROM processes WHERE parent = %d AND "
			      "name = 'dbos-sch-gk') WHERE n = 2", parent));
	kids[0] = q_int("SELECT min(pid) FROM processes WHERE parent = %d", parent);
	kids[1] = q_int("SELECT max(pid) FROM processes WHERE parent = %d", parent);
	ASSERT_GT(kids[0], 0);
	ASSERT_NE(kids[0], kids[1]);
	UPDATE_OK(2, "UPDATE processes SET nice = 5, sched_policy = 'batch' WHERE pid IN "
		  "(SELECT pid FROM process_ancestors WHERE ancestor = %d)", parent);
	EXPECT_EQ(1, kernel_has(kids[0], 5, SCHED_BATCH, 0));
	EXPECT_EQ(1, kernel_has(kids[1], 5, SCHED_BATCH, 0));
	EXPECT_EQ(1, kernel_has(parent, 0, SCHED_OTHER, 0));	/* not its own ancestor */
	kill(parent, SIGKILL);
	waitpid(parent, &status, 0);
	self->nkids--;
	/* the grandchildren die with their parent (PDEATHSIG) */
}

TEST_F_TIMEOUT(sched, policies_idle_batch_fifo_and_back, 60)
{
	pid_t a = kid(self, "dbos-sch-pol");
	struct sched_param sp;

	ASSERT_GT(a, 0);
	UPDATE_OK(1, "UPDATE processes SET sched_policy = 'idle' WHERE pid = %d", a);
	EXPECT_EQ(1, kernel_has(a, 0, SCHED_IDLE, 0));
	EXPECT_EQ(1, wait_row(5, "processes WHERE pid = %d AND sched_policy = 'idle'", a));
	UPDATE_OK(1, "UPDATE processes SET sched_policy = 'batch', nice = 3 WHERE pid = %d", a);
	EXPECT_EQ(1, kernel_has(a, 3, SCHED_BATCH, 0));
	UPDATE_OK(1, "UPDATE processes SET sched_policy = 'fifo', sched_priority = 10 WHERE pid = %d", a);
	EXPECT_EQ(SCHED_FIFO, sched_getscheduler(a));
	ASSERT_EQ(0, sched_getparam(a, &sp));
	EXPECT_EQ(10, sp.sched_priority);
	EXPECT_EQ(1, kernel_has(a, 3, SCHED_FIFO, 10));
	EXPECT_EQ(1, wait_row(5, "processes WHERE pid = %d AND sched_policy = 'fifo' AND "
			      "sched_priority = 10", a));
	/* a new priority alone keeps fifo */
	UPDATE_OK(1, "UPDATE processes SET sched_priority = 20 WHERE pid = %d", a);
	EXPECT_EQ(1, kernel_has(a, 3, SCHED_FIFO, 20));
	UPDATE_OK(1, "UPDATE processes SET sched_policy = 'rr', sched_priority = 5 WHERE pid = %d", a);
	EXPECT_EQ(1, kernel_has(a, 3, SCHED_RR, 5));
	UPDATE_OK(1, "UPDATE processes SET sched_policy = 'other', nice = 0 WHERE pid = %d", a);
	EXPECT_EQ(1, kernel_has(a, 0, SCHED_OTHER, 0));
	EXPECT_EQ(1, wait_row(5, "processes WHERE pid = %d AND sched_policy = 'other' AND "
			      "sched_priority = 0 AND nice = 0", a));
}

TEST_F_TIMEOUT(sched, cpus_set_affinity, 60)
{
	pid_t a = kid(self, "dbos-sch-cpu");
	char buf[64];

	ASSERT_GT(a, 0);
	UPDATE_OK(1, "UPDATE processes SET cpus = '0' WHERE pid = %d", a);
	EXPECT_STREQ("0", cpus_of(a, buf));
	EXPECT_EQ(1, wait_row(5, "processes WHERE pid = %d AND cpus = '0'", a));
	if (self->ncpus < 2) {
		TH_LOG("one CPU: not moving to a second CPU");
		return;
	}
	UPDATE_OK(1, "UPDATE processes SET cpus = '1' WHERE pid = %d", a);
	EXPECT_STREQ("1", cpus_of(a, buf));
	EXPECT_EQ(1, wait_row(5, "processes WHERE pid = %d AND cpus = '1'", a));
	UPDATE_OK(1, "UPDATE processes SET cpus = '0-1', nice = 2 WHERE pid = %d", a);
	EXPECT_STREQ("0-1", cpus_of(a, buf));
	EXPECT_EQ(1, kernel_has(a, 2, SCHED_OTHER, 0));
}

/* A bad value or a gone process fails the statement, and no target changes. */
TEST_F_TIMEOUT(sched, refusals_change_nothing, 60)
{
	pid_t a = kid(self, "dbos-sch-ra"), b = kid(self, "dbos-sch-rb");
	struct dbos_conn *c;
	char *err = NULL, buf[64], all[64];
	long long n;

	ASSERT_GT(a, 0);
	ASSERT_GT(b, 0);
	cpus_of(a, all);
	/* a bad value on one row (checked by dbosd) */
	EXPECT_EQ(-1, sqlc(&n, &err, "UPDATE processes SET nice = CASE pid WHEN %d THEN 5 ELSE 20 END "
			   "WHERE pid IN (%d, %d)", a, a, b));
	EXPECT_NE(NULL, err ? strstr(err, "processes.nice must be an integer from -20 to 19") : NULL)
		TH_LOG("%s", err);
	free(err);
	err = NULL;
	/* a CPU that does not exist (checked by the kernel) */
	EXPECT_EQ(-1, sqlc(&n, &err, "UPDATE processes SET cpus = CASE pid WHEN %d THEN '0' ELSE '%d' END "
			   "WHERE pid IN (%d, %d)", a, self->ncpus + 5, a, b));
	TH_LOG("non-existent CPU: %s", err);
	EXPECT_NE(NULL, err ? strstr(err, "nothing was changed") : NULL);
	free(err);
	err = NULL;
	EXPECT_EQ(1, kernel_has(a, 0, SCHED_OTHER, 0));
	EXPECT_EQ(1, kernel_has(b, 0, SCHED_OTHER, 0));
	EXPECT_STREQ(all, cpus_of(a, buf));
	EXPECT_STREQ(all, cpus_of(b, buf));

	/* a process gone between the UPDATE and the COMMIT */
	c = dbos_connect(SOCK, NULL);
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, dbos_query(c, "BEGIN", NULL, NULL, NULL));
	snprintf(buf, sizeof(buf), "UPDATE processes SET nice = 4 WHERE pid IN (%d, %d)", a, b);
	ASSERT_EQ(0, dbos_query(c, buf, NULL, NULL, &err)) TH_LOG("%s", err);
	EXPECT_EQ(2, dbos_changes(c));
	EXPECT_EQ(1, kernel_has(a, 0, SCHED_OTHER, 0));	/* nothing before COMMIT */
	reap(b);
	EXPECT_EQ(-1, dbos_query(c, "COMMIT", NULL, NULL, &err));
	TH_LOG("gone process: %s", err);
	snprintf(buf, sizeof(buf), "pid %d: no such process", b);
	EXPECT_NE(NULL, err ? strstr(err, buf) : NULL);
	free(err);
	err = NULL;
	dbos_close(c);
	EXPECT_EQ(1, kernel_has(a, 0, SCHED_OTHER, 0));
	EXPECT_EQ(1, wait_row(5, "processes WHERE pid = %d AND nice = 0", a));
}

/* A statement that fails half-way in a transaction leaves none of its rows staged. */
TEST_F_TIMEOUT(sched, transaction_commits_only_the_statements_that_succeeded, 60)
{
	pid_t a = kid(self, "dbos-sch-ta"), b = kid(self, "dbos-sch-tb"), c = kid(self, "dbos-sch-tc");
	struct dbos_conn *cn;
	char q[256], *err = NULL;

	ASSERT_GT(a, 0);
	ASSERT_GT(b, 0);
	ASSERT_GT(c, 0);
	cn = dbos_connect(SOCK, NULL);
	ASSERT_NE(NULL, cn);
	ASSERT_EQ(0, dbos_query(cn, "BEGIN", NULL, NULL, NULL));
	snprintf(q, sizeof(q), "UPDATE processes SET nice = 3 WHERE pid = %d", a);
	ASSERT_EQ(0, dbos_query(cn, q, NULL, NULL, &err)) TH_LOG("%s", err);
	/* b is staged first (pid order), then c's bad value fails the statement */
	snprintf(q, sizeof(q), "UPDATE processes SET nice = CASE pid WHEN %d THEN 4 ELSE 40 END "
		 "WHERE pid IN (%d, %d)", b < c ? b : c, b, c);
	EXPECT_EQ(-1, dbos_query(cn, q, NULL, NULL, &err));
	free(err);
	err = NULL;
	EXPECT_EQ(0, dbos_query(cn, "COMMIT", NULL, NULL, &err)) TH_LOG("%s", err);
	dbos_close(cn);
	EXPECT_EQ(1, kernel_has(a, 3, SCHED_OTHER, 0));
	EXPECT_EQ(1, kernel_has(b, 0, SCHED_OTHER, 0));
	EXPECT_EQ(1, kernel_has(c, 0, SCHED_OTHER, 0));
}

/* sched_decisions: one 'statement' row per process, naming the client. */
TEST_F_TIMEOUT(sched, sched_decisions_name_the_client, 60)
{
	pid_t a = kid(self, "dbos-sch-dec");
	long long seq0 = q_int("SELECT coalesce(max(seq), 0) FROM sched_decisions");

	ASSERT_GT(a, 0);
	UPDATE_OK(1, "UPDATE processes SET nice = 6, cpus = '0' WHERE pid = %d", a);
	EXPECT_EQ(1, kernel_has(a, 6, SCHED_OTHER, 0));
	/* the client is this process: the endpoint takes its SO_PEERCRED */
	EXPECT_EQ(1, wait_row(5, "sched_decisions WHERE seq > %lld AND pid = %d AND cause = 'statement' "
			      "AND by_uid = 0 AND by_pid = %d AND nice = 6 AND cpus = '0' AND "
			      "sched_policy = 'other' AND rule_id IS NULL AND name = 'dbos-sch-dec'",
			      seq0, a, getpid()));
}

/* Only root may change scheduling: a member of --group dbos-test may read, not UPDATE. */
TEST_F_TIMEOUT(sched, only_root_changes_scheduling, 180)
{
	pid_t a, pid;
	int status;

	ASSERT_EQ(0, restart_dbosd("--group dbos-test"));
	a = kid(self, "dbos-sch-root");
	ASSERT_GT(a, 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		gid_t g = TEST_GID;
		struct dbos_conn *c;
		char q[128], *err = NULL;
		int bad = 0;

		if (setgroups(1, &g) || setgid(NOBODY) || setuid(NOBODY))
			_exit(100);
		c = dbos_connect(SOCK, NULL);
		if (!c)
			_exit(101);
		snprintf(q, sizeof(q), "UPDATE processes SET nice = 9 WHERE pid = %d", a);
		if (dbos_query(c, q, NULL, NULL, &err) == 0 || !err ||
		    strcmp(err, "permission denied: only root may change scheduling"))
			bad |= 1;
		free(err);
		if (dbos_query(c, "SELECT count(*) FROM processes", NULL, NULL, NULL))
			bad |= 2;
		dbos_close(c);
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("bit 0: UPDATE not refused; bit 1: read refused");
	EXPECT_EQ(1, kernel_has(a, 0, SCHED_OTHER, 0));
	EXPECT_EQ(0, restart_dbosd(""));
}

TEST_HARNESS_MAIN
