// SPDX-License-Identifier: GPL-2.0
/*
 * test_sched_rules.c - end to end in the VM: sched_rules -> dbosd -> dbos.ko
 * (SCHED_RULES), checked against /proc/PID/stat (nice: field 19, policy:
 * field 41) and /proc/PID/status Cpus_allowed_list, never against dbos.
 *
 * Runs as root in the test VM (2 CPUs) with dbos.ko loaded and dbosd serving
 * on /run/dbos/dbosd.sock with BPF LSM active. Every test starts and ends
 * with no sched rules and no policies. Test processes are copies of busybox
 * under distinctive file names (the comm is the file's name) running sleep.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "dbos_client.h"
#include "vm_util.h"

#define D	"/tmp/dbos-sched"	/* every file a test makes lives here */
#define NOBODY	65534
#define TEST_GID 1000			/* group dbos-test (scripts/mkinitramfs.sh) */

#ifndef SCHED_BATCH
#define SCHED_BATCH	3
#endif
#ifndef SCHED_IDLE
#define SCHED_IDLE	5
#endif

/* ---- SQL through the real client library, one connection per call ---- */

static long long version(void)
{
	return q_int("SELECT coalesce(max(version), 0) FROM policy_versions");
}

/* ---- ground truth: /proc ---- */

/* nice (field 19) of @pid from /proc/PID/stat; 99 if gone. */
static int proc_nice(pid_t pid)
{
	return (int)proc_stat_field(pid, 19, 99);
}

/* Its policy (field 41); -1 if gone. */
static int proc_policy(pid_t pid)
{
	return (int)proc_stat_field(pid, 41, -1);
}

/* Cpus_allowed_list of @pid into @buf ("" if gone). */
static const char *proc_cpus(pid_t pid, char *buf, size_t size)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	buf[0] = 0;
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Cpus_allowed_list:", 18)) {
			snprintf(buf, size, "%s", line + 18 + strspn(line + 18, " \t"));
			buf[strcspn(buf, "\n")] = 0;
		}
	if (f)
		fclose(f);
	return buf;
}

static int proc_comm_is(pid_t pid, const char *comm)
{
	char path[64], buf[64] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return !strcmp(buf, comm);
}

/* Poll until proc_nice(@pid) == @want (up to 10 s); the last value. */
static int wait_nice(pid_t pid, int want)
{
	int v = proc_nice(pid);

	for (int i = 0; i < 1000 && v != want; i++) {
		usleep(10000);
		v = proc_nice(pid);
	}
	return v;
}

static int wait_policy(pid_t pid, int want)
{
	int v = proc_policy(pid);

	for (int i = 0; i < 1000 && v != want; i++) {
		usleep(10000);
		v = proc_policy(pid);
	}
	return v;
}

/* ---- processes ---- */


/* A copy of busybox at @path, started as "sleep 60" (its comm: the file's name). */
static pid_t start_sleeper(const char *path)
{
	pid_t pid;

	if (access(path, X_OK) && copy_file("/bin/busybox", path, 0755))
		return -1;
	pid = fork();
	if (pid == 0) {
		execl(path, "sleep", "60", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Wait until @pid runs the program named @comm (its exec done). */
static int wait_comm(pid_t pid, const char *comm)
{
	for (int i = 0; i < 1000; i++) {
		if (proc_comm_is(pid, comm))
			return 0;
		usleep(10000);
	}
	return -1;
}

static void stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static int clear_rules(struct __test_metadata *_metadata)
{
	char *err = NULL;

	if ((q_int("SELECT count(*) FROM sched_rules") || q_int("SELECT count(*) FROM policies")) &&
	    sql(&err, "BEGIN; DELETE FROM sched_rules; DELETE FROM policies; COMMIT")) {
		TH_LOG("clearing the rules: %s", err ? err : "?");
		free(err);
		return -1;
	}
	return q_int("SELECT count(*) FROM sched_rules") == 0 ? 0 : -1;
}

/* Rows of sched_decisions for @pid with @cause and rule @rule_id, waiting up to 10 s. */
static long long wait_decision(pid_t pid, const char *cause, long long rule_id)
{
	return wait_int(1, 10, "SELECT count(*) > 0 FROM sched_decisions WHERE pid = %d AND "
			"cause = '%s' AND rule_id = %lld", pid, cause, rule_id);
}

static long long rule_id(const char *name)
{
	return q_int("SELECT id FROM sched_rules WHERE name = '%s'", name);
}

FIXTURE(sr) {
	long long v0;
	pid_t kids[4];
};

FIXTURE_SETUP(sr)
{
	ASSERT_EQ(0, wait_socket(30)) TH_LOG("dbosd does not answer on " SOCK);
	ASSERT_EQ(0, clear_rules(_metadata));
	self->v0 = version();
	ASSERT_EQ(0, system("rm -rf " D " && mkdir -p " D "/bin && chmod -R 755 " D));
}

FIXTURE_TEARDOWN(sr)
{
	for (int i = 0; i < 4; i++)
		stop(self->kids[i]);
	if (!wait_socket(30))
		EXPECT_EQ(0, clear_rules(_metadata));
	system("rm -rf " D);
}

/* ---- a rule applies at exec, to processes started after it ---- */

TEST_F_TIMEOUT(sr, rule_applies_at_exec_and_delete_stops_it, 120)
{
	char cpus[64];
	pid_t a, other, b;

	SQL_OK("INSERT INTO sched_rules(name, condition, nice, cpus) VALUES "
	       "('t-exec', 'name = ''sr-exec''', 7, '1')");
	EXPECT_EQ(self->v0 + 1, version());
	a = self->kids[0] = start_sleeper(D "/sr-exec");
	other = self->kids[1] = start_sleeper(D "/sr-other");
	ASSERT_EQ(0, wait_comm(a, "sr-exec"));
	ASSERT_EQ(0, wait_comm(other, "sr-other"));
	EXPECT_EQ(7, wait_nice(a, 7));
	EXPECT_STREQ("1", proc_cpus(a, cpus, sizeof(cpus)));
	EXPECT_EQ(0, proc_nice(other));
	EXPECT_STREQ("0-1", proc_cpus(other, cpus, sizeof(cpus)));
	EXPECT_EQ(1, wait_decision(a, "exec", rule_id("t-exec")));
	/* Deleting the rule stops new applications; what it set stays. */
	SQL_OK("DELETE FROM sched_rules WHERE name = 't-exec'");
	EXPECT_EQ(self->v0 + 2, version());
	b = self->kids[2] = start_sleeper(D "/sr-exec");
	ASSERT_EQ(0, wait_comm(b, "sr-exec"));
	usleep(300000);
	EXPECT_EQ(0, proc_nice(b));
	EXPECT_STREQ("0-1", proc_cpus(b, cpus, sizeof(cpus)));
	EXPECT_EQ(7, proc_nice(a));
}

/* ---- a rule applies at COMMIT to the processes that match then ---- */

TEST_F_TIMEOUT(sr, rule_applies_to_existing_processes_at_commit, 120)
{
	pid_t a, other;

	a = self->kids[0] = start_sleeper(D "/sr-old");
	other = self->kids[1] = start_sleeper(D "/sr-old2");
	ASSERT_EQ(0, wait_comm(a, "sr-old"));
	ASSERT_EQ(0, wait_comm(other, "sr-old2"));
	EXPECT_EQ(SCHED_OTHER, proc_policy(a));
	SQL_OK("INSERT INTO sched_rules(id, name, condition, nice, sched_policy) VALUES "
	       "(50, 't-commit', 'name = ''sr-old''', 3, 'batch')");
	/* COMMIT returned after the module walked every process: no polling */
	EXPECT_EQ(3, proc_nice(a));
	EXPECT_EQ(SCHED_BATCH, proc_policy(a));
	EXPECT_EQ(0, proc_nice(other));
	EXPECT_EQ(SCHED_OTHER, proc_policy(other));
	EXPECT_EQ(1, wait_decision(a, "commit", rule_id("t-commit")));
	/* the lowest id wins: an earlier rule takes over when activated */
	SQL_OK("INSERT INTO sched_rules(id, name, condition, nice) VALUES "
	       "(10, 't-first', 'name IN (''sr-old'', ''sr-old2'')', -2)");
	EXPECT_EQ(SCHED_BATCH, proc_policy(a));	/* what t-commit set stays */
	EXPECT_EQ(-2, proc_nice(a));
	EXPECT_EQ(-2, proc_nice(other));
}

/* ---- a comm change (prctl) into a matching name ---- */

TEST_F_TIMEOUT(sr, rename_into_a_matching_name, 120)
{
	int go[2];
	pid_t c;
	char x = 0;

	SQL_OK("INSERT INTO sched_rules(name, condition, sched_policy) VALUES "
	       "('t-comm', 'name = ''sr-renamed''', 'idle')");
	ASSERT_EQ(0, pipe(go));
	c = self->kids[0] = fork();
	if (c == 0) {
		if (read(go[0], &x, 1) != 1)
			_exit(1);
		prctl(PR_SET_NAME, "sr-renamed", 0, 0, 0);
		pause();
		_exit(0);
	}
	close(go[0]);
	usleep(200000);
	EXPECT_EQ(SCHED_OTHER, proc_policy(c));
	ASSERT_EQ(1, write(go[1], &x, 1));
	close(go[1]);
	ASSERT_EQ(0, wait_comm(c, "sr-renamed"));
	EXPECT_EQ(SCHED_IDLE, wait_policy(c, SCHED_IDLE));
	EXPECT_EQ(1, wait_decision(c, "comm", rule_id("t-comm")));
}

/* ---- a credential change (setuid) into a matching uid ---- */

TEST_F_TIMEOUT(sr, setuid_into_a_matching_uid, 120)
{
	int go[2];
	pid_t c;
	char x = 0;

	SQL_OK("INSERT INTO sched_rules(name, condition, nice) VALUES "
	       "('t-cred', 'uid = 4242', 11)");
	ASSERT_EQ(0, pipe(go));
	c = self->kids[0] = fork();
	if (c == 0) {
		if (read(go[0], &x, 1) != 1)
			_exit(1);
		if (setresgid(4242, 4242, 4242) || setresuid(4242, 4242, 4242))
			_exit(2);
		pause();
		_exit(0);
	}
	close(go[0]);
	usleep(200000);
	EXPECT_EQ(0, proc_nice(c));
	ASSERT_EQ(1, write(go[1], &x, 1));
	close(go[1]);
	EXPECT_EQ(11, wait_nice(c, 11));
	EXPECT_EQ(1, wait_decision(c, "cred", rule_id("t-cred")));
}

/* ---- exe GLOB: a copy of busybox under a directory, told apart from /bin/busybox ---- */

TEST_F_TIMEOUT(sr, exe_glob_matches_the_executable, 120)
{
	pid_t in, out;

	SQL_OK("INSERT INTO sched_rules(name, condition, nice) VALUES "
	       "('t-exe', 'exe GLOB ''" D "/bin/*''', 5)");
	in = self->kids[0] = start_sleeper(D "/bin/sr-tool");
	out = self->kids[1] = start_sleeper(D "/sr-tool");
	ASSERT_EQ(0, wait_comm(in, "sr-tool"));
	ASSERT_EQ(0, wait_comm(out, "sr-tool"));
	EXPECT_EQ(5, wait_nice(in, 5));
	usleep(300000);
	EXPECT_EQ(0, proc_nice(out));
	EXPECT_EQ(1, wait_decision(in, "exec", rule_id("t-exe")));
}

/* ---- a set (pid IN (SELECT ...)) kept current: a process that joins it later gets the settings ---- */

TEST_F_TIMEOUT(sr, set_members_that_join_later_get_the_settings, 120)
{
	int go[2];
	pid_t x, c;
	char b = 0;

	ASSERT_EQ(0, pipe(go));
	x = self->kids[0] = fork();
	if (x == 0) {		/* forks a child that waits, once told to */
		if (read(go[0], &b, 1) != 1)
			_exit(1);
		if (fork() == 0) {
			pause();
			_exit(0);
		}
		pause();
		_exit(0);
	}
	close(go[0]);
	ASSERT_EQ(1, wait_int(1, 10, "SELECT count(*) FROM processes WHERE pid = %d", x));
	SQL_OK("INSERT INTO sched_rules(name, condition, nice) VALUES "
	       "('t-set', 'pid IN (SELECT pid FROM processes WHERE parent = %d)', 4)", x);
	ASSERT_EQ(1, write(go[1], &b, 1));
	close(go[1]);
	ASSERT_EQ(1, wait_int(1, 10, "SELECT count(*) FROM processes WHERE parent = %d", x));
	c = q_int("SELECT pid FROM processes WHERE parent = %d", x);
	ASSERT_LT(0, c);
	/* the server re-evaluates the set and the module applies it to the new member */
	EXPECT_EQ(4, wait_nice(c, 4));
	EXPECT_EQ(0, proc_nice(x));
	EXPECT_EQ(1, wait_decision(c, "commit", rule_id("t-set")));
	kill(c, SIGKILL);
}

/* ---- quarantine: deny network and idle priority for a process tree, in one COMMIT ---- */

static int tcp_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r, e;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0)
		return -1;
	r = connect(s, (struct sockaddr *)&a, sizeof(a));
	e = errno;
	close(s);
	errno = e;
	return r;
}

TEST_F_TIMEOUT(sr, quarantine_is_one_version, 120)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int lsn, port, go[2], res[2], e = -1;
	pid_t x, y = 0;
	char c = 0;

	lsn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(0, bind(lsn, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_EQ(0, listen(lsn, 16));
	ASSERT_EQ(0, getsockname(lsn, (struct sockaddr *)&a, &len));
	port = ntohs(a.sin_port);
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(res));
	/* X forks Y; on "go" X connects and reports errno */
	x = self->kids[0] = fork();
	if (x == 0) {
		int err = 0;

		close(lsn);
		if (fork() == 0) {
			pause();
			_exit(0);
		}
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		if (tcp_connect(port))
			err = errno;
		if (write(res[1], &err, sizeof(err)) != sizeof(err))
			_exit(2);
		pause();
		_exit(0);
	}
	close(go[0]);
	close(res[1]);
	/* the mirror shows X and its child Y */
	ASSERT_EQ(1, wait_int(1, 10, "SELECT count(*) FROM processes WHERE parent = %d", x));
	y = q_int("SELECT pid FROM processes WHERE parent = %d", x);
	ASSERT_LT(0, y);
	EXPECT_EQ(SCHED_OTHER, proc_policy(x));
	EXPECT_EQ(0, tcp_connect(port));
	SQL_OK("BEGIN; "
	       "INSERT INTO policies(name, hook, action, condition) VALUES ('q-net', 'connect', 'deny', "
	       "'pid IN (SELECT pid FROM process_ancestors WHERE ancestor = %d) OR pid = %d'); "
	       "INSERT INTO sched_rules(name, condition, sched_policy) VALUES ('q-cpu', "
	       "'pid IN (SELECT pid FROM process_ancestors WHERE ancestor = %d) OR pid = %d', 'idle'); "
	       "COMMIT", x, x, x, x);
	/* one new version holding both rules */
	EXPECT_EQ(self->v0 + 1, version());
	EXPECT_EQ(2, q_int("SELECT rules FROM policy_versions WHERE version = %lld", self->v0 + 1));
	EXPECT_EQ(SCHED_IDLE, proc_policy(x));
	EXPECT_EQ(SCHED_IDLE, proc_policy(y));
	EXPECT_EQ(SCHED_OTHER, proc_policy(getpid()));
	ASSERT_EQ(1, write(go[1], &c, 1));
	ASSERT_EQ((ssize_t)sizeof(e), read(res[0], &e, sizeof(e)));
	EXPECT_EQ(EPERM, e);
	EXPECT_EQ(0, tcp_connect(port));	/* outside the tree */
	EXPECT_EQ(1, wait_decision(y, "commit", rule_id("q-cpu")));
	if (y > 0)
		kill(y, SIGKILL);
	close(lsn);
}

/* ---- invalid rules: refused, nothing changed anywhere ---- */

TEST_F_TIMEOUT(sr, invalid_rules_change_nothing, 120)
{
	static const struct { const char *sql, *msg; } bad[] = {
		{ "INSERT INTO sched_rules(name, condition, nice) VALUES ('t-bad', 'name = ''sr-inv''', 40)",
		  "nice is -20..19" },
		{ "INSERT INTO sched_rules(name, condition, sched_policy) VALUES ('t-bad', 'name = ''sr-inv''', 'fifo')",
		  "needs sched_priority 1..99" },
		{ "INSERT INTO sched_rules(name, condition, nice) VALUES ('t-bad', 'uid > 5', 1)",
		  "only =, <>, IN, NOT IN" },
		/* CPU 1000 does not exist: the module refuses it at COMMIT, with the policy rule beside it */
		{ "BEGIN; INSERT INTO policies(name, hook, action, condition) VALUES "
		  "('t-pol', 'exec', 'deny', 'name = ''sr-inv'''); INSERT INTO sched_rules(name, "
		  "condition, cpus) VALUES ('t-bad', 'name = ''sr-inv''', '1000'); COMMIT",
		  "rule 't-bad' (id 2): " },
	};
	char cpus[64];
	pid_t p;

	p = self->kids[0] = start_sleeper(D "/sr-inv");
	ASSERT_EQ(0, wait_comm(p, "sr-inv"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dbos_conn *c = dbos_connect(SOCK, NULL);
		char *err = NULL;

		ASSERT_NE(NULL, c);
		EXPECT_NE(0, dbos_query(c, bad[i].sql, NULL, NULL, &err)) TH_LOG("%s", bad[i].sql);
		EXPECT_NE(NULL, err);
		if (err)
			EXPECT_NE(NULL, strstr(err, bad[i].msg)) TH_LOG("%s", err);
		TH_LOG("%s", err ? err : "(no message)");
		free(err);
		dbos_close(c);
	}
	EXPECT_EQ(self->v0, version());
	EXPECT_EQ(0, q_int("SELECT count(*) FROM sched_rules"));
	EXPECT_EQ(0, q_int("SELECT count(*) FROM policies"));
	EXPECT_EQ(0, proc_nice(p));
	EXPECT_STREQ("0-1", proc_cpus(p, cpus, sizeof(cpus)));
	/* the module still takes a good rule after the refused one */
	SQL_OK("INSERT INTO sched_rules(name, condition, nice) VALUES ('t-good', 'name = ''sr-inv''', 2)");
	EXPECT_EQ(2, proc_nice(p));
}

/* ---- only root changes scheduling ---- */

TEST_F_TIMEOUT(sr, only_root_changes_scheduling, 240)
{
	int status;
	pid_t pid;

	ASSERT_EQ(0, restart_dbosd("--group dbos-test"));
	pid = fork();
	if (pid == 0) {
		static const char *const writes[] = {
			"INSERT INTO sched_rules(name, condition, nice) VALUES ('t-user', NULL, 19)",
			"DELETE FROM sched_rules",
		};
		struct dbos_conn *c;
		gid_t g = TEST_GID;
		int bad = 0;

		if (setgroups(1, &g) || setgid(NOBODY) || setuid(NOBODY))
			_exit(100);
		c = dbos_connect(SOCK, NULL);
		if (!c)
			_exit(101);
		if (dbos_query(c, "SELECT count(*) FROM sched_rules", NULL, NULL, NULL))
			bad |= 1 << 5;
		for (int i = 0; i < 2; i++) {
			char *err = NULL;

			if (dbos_query(c, writes[i], NULL, NULL, &err) == 0 || !err ||
			    strcmp(err, "permission denied: only root may change scheduling"))
				bad |= 1 << i;
			free(err);
		}
		dbos_close(c);
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("status %d: bits 0-1 writes not refused, 5 read refused",
						 WEXITSTATUS(status));
	EXPECT_EQ(self->v0, version());
	EXPECT_EQ(0, q_int("SELECT count(*) FROM sched_rules"));
	EXPECT_LE(1, q_int("SELECT count(*) FROM policy_decisions WHERE verdict = 'refused' AND "
			   "uid = %d AND pid = %d", NOBODY, pid));
	EXPECT_EQ(0, restart_dbosd(""));
}

/* ---- without BPF LSM (dbosd --no-lsm): sched rules work, security rules are refused ---- */

TEST_F_TIMEOUT(sr, sched_rules_work_without_the_lsm_enforcer, 240)
{
	char *err = NULL;
	pid_t a;

	ASSERT_EQ(0, restart_dbosd("--no-lsm"));
	SQL_OK("INSERT INTO sched_rules(name, condition, nice) VALUES ('t-nolsm', 'name = ''sr-nolsm''', 8)");
	a = self->kids[0] = start_sleeper(D "/sr-nolsm");
	ASSERT_EQ(0, wait_comm(a, "sr-nolsm"));
	EXPECT_EQ(8, wait_nice(a, 8));
	EXPECT_NE(0, sql(&err, "INSERT INTO policies(name, hook, action, condition) VALUES "
			 "('t-pol', 'exec', 'deny', 'name = ''sr-nolsm''')"));
	EXPECT_NE(NULL, err ? strstr(err, "policy cannot change: dbosd runs with --no-lsm") : NULL)
		TH_LOG("%s", err ? err : "(no message)");
	free(err);
	EXPECT_EQ(0, q_int("SELECT count(*) FROM policies"));
	EXPECT_EQ(0, restart_dbosd(""));
}

/* ---- the rules outlive dbosd (the module keeps them; a new dbosd pushes them again) ---- */

TEST_F_TIMEOUT(sr, rules_keep_applying_across_a_dbosd_restart, 240)
{
	pid_t a;

	SQL_OK("INSERT INTO sched_rules(name, condition, nice) VALUES ('t-restart', 'name = ''sr-rst''', 6)");
	ASSERT_EQ(0, restart_dbosd(""));
	a = self->kids[0] = start_sleeper(D "/sr-rst");
	ASSERT_EQ(0, wait_comm(a, "sr-rst"));
	EXPECT_EQ(6, wait_nice(a, 6));
}

TEST_HARNESS_MAIN
