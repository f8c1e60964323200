// SPDX-License-Identifier: GPL-2.0
/*
 * test_processes.c - end to end in the VM: dbos.ko -> dbosd -> SQL, checked
 * against the kernel's own view in /proc (never against dbos itself).
 *
 * Runs as root in the test VM with dbos.ko loaded and dbosd serving on
 * /run/dbos/dbosd.sock (scripts/dbos-vm sets that up).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "dbos_client.h"
#include "vm_util.h"
#include "vm_truth.h"

static pid_t spawn(const char *prog, char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		execv(prog, argv);
		_exit(127);
	}
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	waitpid(pid, &status, 0);
}

FIXTURE(vm) {
	int unused;
};

FIXTURE_SETUP(vm)
{
}

/* The reorder stage handed the mirror every record in seq order (no watermark lied). */
FIXTURE_TEARDOWN(vm)
{
	if (!wait_socket(30))
		EXPECT_EQ(0, q_int("SELECT value FROM dbos_stats WHERE name = 'reorder_late'"));
}

/* Kill and reap every process reparented to us (a child subreaper). */
static void kill_adopted(void)
{
	read_proc(&before);
	for (int i = 0; i < before.n; i++)
		if (before.p[i].ppid == getpid())
			kill(before.p[i].pid, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
}

static void *park(void *arg)
{
	pause();
	return arg;
}

TEST_F_TIMEOUT(vm, processes_equal_proc_at_rest, 120)
{
	char *sleep_argv[] = { "sleep", "1000", NULL };
	char *true_argv[] = { "true", NULL };
	pid_t sleepers[20], p;
	int i;

	ASSERT_EQ(0, wait_socket(10));
	/* orphans come to us, so the test can reap them and /proc has no zombies */
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	/* A burst: long-lived children, short-lived ones, and unusual cases. */
	for (i = 0; i < 20; i++)
		sleepers[i] = spawn("/bin/sleep", sleep_argv);
	for (i = 0; i < 30; i++)
		reap(spawn("/bin/true", true_argv));
	/* an orphan: its parent exits, the kernel reparents it to init */
	p = fork();
	if (p == 0) {
		if (fork() == 0) {
			execv("/bin/sleep", sleep_argv);
			_exit(127);
		}
		_exit(0);
	}
	reap(p);
	/* a rename and a credential change after exec-less forks */
	p = fork();
	if (p == 0) {
		prctl(PR_SET_NAME, "renamed-task");
		pause();
		_exit(0);
	}
	pid_t setuid_child = fork();

	if (setuid_child == 0) {
		if (setgid(1000) || setuid(1000))
			_exit(1);
		pause();
		_exit(0);
	}
	/* a multi-threaded process is one row, with its thread count */
	pid_t threaded = fork();

	if (threaded == 0) {
		pthread_t t;

		for (i = 0; i < 3; i++)
			pthread_create(&t, NULL, park, NULL);
		pause();
		_exit(0);
	}
	ASSERT_TRUE(converges(_metadata, 20));
	char sql[128];
	long long threads = -1;

	snprintf(sql, sizeof(sql), "SELECT threads FROM processes WHERE pid = %d", threaded);
	for (i = 0; i < 50 && threads != 4; i++, usleep(100000))
		threads = q_int("%s", sql);
	EXPECT_EQ(4, threads);
	kill(threaded, SIGKILL);
	reap(threaded);

	/* they all go away again and dbos follows */
	for (i = 0; i < 20; i++) {
		kill(sleepers[i], SIGKILL);
		reap(sleepers[i]);
	}
	kill(p, SIGKILL);
	reap(p);
	kill(setuid_child, SIGKILL);
	reap(setuid_child);
	/* the orphan was reparented to us (a child subreaper): kill and reap it */
	kill_adopted();
	ASSERT_TRUE(converges(_metadata, 20));
}

/* In a second thread: fork a child that waits, then end the whole process. */
static void *fork_then_exit_group(void *arg)
{
	if (fork() == 0) {
		pause();
		_exit(0);
	}
	syscall(SYS_exit_group, 0);
	return arg;
}

/*
 * The child of a thread whose process ends with exit_group() goes to a
 * reaper outside the process whenever the other thread is already exiting
 * when the thread's exit hands its children on; the last thread then has
 * none of its own. 200 such processes; every child must show the test (a
 * child subreaper) as its parent.
 */
TEST_F_TIMEOUT(vm, children_of_threads_of_exiting_processes_get_their_new_parent, 180)
{
	pid_t p;
	int i;

	ASSERT_EQ(0, wait_socket(10));
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	for (i = 0; i < 200; i++) {
		p = fork();
		ASSERT_LE(0, p);
		if (p == 0) {
			pthread_t t;

			pthread_create(&t, NULL, fork_then_exit_group, NULL);
			pause();
			_exit(0);
		}
		reap(p);
	}
	ASSERT_TRUE(converges(_metadata, 30));
	kill_adopted();
	ASSERT_TRUE(converges(_metadata, 20));
}

struct ev {
	long long seq;
	char event[8];
	int pid;
	int parent;
	char path[128];
};

struct ev_list {
	int n;
	struct ev e[4096];
};

static int on_ev_row(void *arg, int ncol, const struct dbos_value *v)
{
	struct ev_list *l = arg;
	struct ev *e;

	if (ncol != 5 || l->n == 4096)
		return 0;
	e = &l->e[l->n++];
	e->seq = v[0].i;
	copy_text(e->event, sizeof(e->event), &v[1]);
	e->pid = (int)v[2].i;
	e->parent = (int)v[3].i;
	copy_text(e->path, sizeof(e->path), &v[4]);
	return 0;
}

static int find_ev(const struct ev_list *l, const char *event, int pid)
{
	for (int i = 0; i < l->n; i++)
		if (l->e[i].pid == pid && !strcmp(l->e[i].event, event))
			return i;
	return -1;
}

TEST_F_TIMEOUT(vm, process_events_hold_every_fork_exec_exit_in_order, 120)
{
	static struct ev_list evs;
	static const struct dbos_callbacks cb = { .on_row = on_ev_row };
	char *true_argv[] = { "true", NULL };
	enum { N = 100 };
	pid_t kids[N];
	long long start;
	char sql[256];
	int i, complete = 0;

	ASSERT_EQ(0, wait_socket(10));
	start = q_int("SELECT coalesce(max(seq), 0) FROM process_events");
	ASSERT_GE(start, 0);
	for (i = 0; i < N; i++) {
		kids[i] = spawn("/bin/true", true_argv);
		ASSERT_GT(kids[i], 0);
		reap(kids[i]);
	}
	snprintf(sql, sizeof(sql),
		 "SELECT seq, event, pid, parent, path FROM process_events WHERE seq > %lld ORDER BY seq",
		 start);
	for (int tries = 0; tries < 100 && !complete; tries++) {
		struct dbos_conn *c = dbos_connect(SOCK, NULL);

		ASSERT_NE(NULL, c);
		evs.n = 0;
		ASSERT_EQ(0, dbos_query(c, sql, &cb, &evs, NULL));
		dbos_close(c);
		complete = 1;
		for (i = 0; i < N; i++)
			if (find_ev(&evs, "exit", kids[i]) < 0)
				complete = 0;
		if (!complete)
			usleep(100000);
	}
	ASSERT_TRUE(complete);
	for (i = 1; i < evs.n; i++)
		ASSERT_LT(evs.e[i - 1].seq, evs.e[i].seq);
	for (i = 0; i < N; i++) {
		int f = find_ev(&evs, "fork", kids[i]);
		int x = find_ev(&evs, "exec", kids[i]);
		int e = find_ev(&evs, "exit", kids[i]);

		ASSERT_GE(f, 0) TH_LOG("no fork event for pid %d", kids[i]);
		ASSERT_GE(x, 0) TH_LOG("no exec event for pid %d", kids[i]);
		ASSERT_GE(e, 0);
		EXPECT_LT(f, x);
		EXPECT_LT(x, e);
		EXPECT_EQ(getpid(), evs.e[f].parent);
		/* busybox applets: the executable is busybox itself */
		EXPECT_EQ(0, strcmp(evs.e[x].path, "/bin/busybox")) TH_LOG("exec path %s", evs.e[x].path);
	}
}

TEST_F_TIMEOUT(vm, unprivileged_user_cannot_use_the_server_socket, 60)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		char *err = NULL;
		struct dbos_conn *c;

		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(10);
		c = dbos_connect(SOCK, &err);
		if (c)
			_exit(11);
		if (errno != EACCES)
			_exit(12);
		/* the CLI says so and exits 2 */
		_exit(WEXITSTATUS(system("dbos -c 'SELECT 1' 2>/dev/null")) == 2 ? 0 : 13);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_F_TIMEOUT(vm, kill9_of_dbosd_keeps_acknowledged_rows_and_reconverges, 180)
{
	static struct ev_list acked, again;
	static const struct dbos_callbacks cb = { .on_row = on_ev_row };
	char *true_argv[] = { "true", NULL };
	long long start;
	pid_t storm, d;
	char sql[256];
	int i, status;

	ASSERT_EQ(0, wait_socket(10));
	start = q_int("SELECT coalesce(max(seq), 0) FROM process_events");
	storm = fork();
	if (storm == 0) {
		for (;;)
			reap(spawn("/bin/true", true_argv));
	}
	usleep(500000);
	/* what the server acknowledged: rows a query returned */
	snprintf(sql, sizeof(sql),
		 "SELECT seq, event, pid, parent, path FROM process_events WHERE seq > %lld ORDER BY seq LIMIT 4000",
		 start);
	struct dbos_conn *c = dbos_connect(SOCK, NULL);

	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, dbos_query(c, sql, &cb, &acked, NULL));
	dbos_close(c);
	ASSERT_GT(acked.n, 0);
	d = dbosd_pid();
	ASSERT_GT(d, 0);
	ASSERT_EQ(0, kill(d, SIGKILL));	/* mid-ingest: the storm is still running */
	waitpid(d, &status, WNOHANG);
	usleep(300000);
	kill(storm, SIGKILL);
	reap(storm);
	while (kill(d, 0) == 0)
		usleep(50000);
	start_dbosd();
	ASSERT_EQ(0, wait_socket(20));

	c = dbos_connect(SOCK, NULL);
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, dbos_query(c, sql, &cb, &again, NULL));
	dbos_close(c);
	ASSERT_GE(again.n, acked.n);
	for (i = 0; i < acked.n; i++) {
		ASSERT_EQ(acked.e[i].seq, again.e[i].seq);
		ASSERT_EQ(0, memcmp(&acked.e[i], &again.e[i], sizeof(acked.e[i])));
	}
	ASSERT_TRUE(converges(_metadata, 30));
}

TEST_F_TIMEOUT(vm, module_reload_under_dbosd_reconverges, 180)
{
	char *sleep_argv[] = { "sleep", "999", NULL };
	pid_t during;

	ASSERT_EQ(0, wait_socket(10));
	ASSERT_EQ(0, system("rmmod dbos"));
	during = spawn("/bin/sleep", sleep_argv);	/* unseen by any event */
	ASSERT_EQ(0, system("insmod /dbos/dbos.ko"));
	ASSERT_TRUE(converges(_metadata, 30));
	kill(during, SIGKILL);
	reap(during);
	ASSERT_TRUE(converges(_metadata, 30));
}

TEST_HARNESS_MAIN
