// SPDX-License-Identifier: GPL-2.0
/*
 * test_policy.c - end to end in the VM: SQL policy rules -> dbosd -> BPF LSM,
 * checked against what the real syscalls return (errno), never against dbos.
 *
 * Runs as root in the test VM with dbos.ko loaded and dbosd serving on
 * /run/dbos/dbosd.sock with BPF LSM active (scripts/dbos-vm boots with
 * lsm=...,bpf and mounts bpffs). Every test starts and ends with an empty
 * policy (DELETE FROM policies).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "dbos_client.h"
#include "vm_policy.h"

#define D	"/tmp/dbos-policy"	/* every file a test makes lives here */

/* ---- SQL helpers: one connection per call, through the real client library ---- */

static long long nversions(void)
{
	return q_int("SELECT count(*) FROM policy_versions");
}

static long long live_version_stat(void)
{
	return q_int("SELECT value FROM dbos_stats WHERE name = 'policy_version'");
}

/* ---- ground-truth operations: 0, or -1 with the syscall's errno ---- */

static int tcp_connect(int port)
{
	struct sockaddr_in a = loopback(port);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r, e;

	if (s < 0)
		return -1;
	r = connect(s, (struct sockaddr *)&a, sizeof(a));
	e = errno;
	close(s);
	errno = e;
	return r;
}

static int tcp_bind(int port)
{
	struct sockaddr_in a = loopback(port);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r, e;

	if (s < 0)
		return -1;
	r = bind(s, (struct sockaddr *)&a, sizeof(a));
	e = errno;
	close(s);
	errno = e;
	return r;
}

static char *true_argv[] = { "true", NULL };


static void my_comm(char *buf, size_t cap)
{
	int fd = open("/proc/self/comm", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, cap - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

/* Live (not zombie) process whose comm is dbosd; 0 if none. */
static pid_t dbosd_pid(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (d && (e = readdir(d))) {
		char path[64], buf[512], *p;
		int fd, pid = atoi(e->d_name);
		ssize_t n;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = 0;
		p = strrchr(buf, ')');
		if (strstr(buf, "(dbosd)") && p && p[2] != 'Z')
			found = pid;
	}
	if (d)
		closedir(d);
	return found;
}

FIXTURE(policy) {
	long long seq0;		/* newest decision before the test */
	long long v0;		/* policy version at the start (empty policy) */
	char comm[32];
};

FIXTURE_SETUP(policy)
{
	ASSERT_EQ(0, wait_socket(30)) TH_LOG("dbosd does not answer on " SOCK);
	ASSERT_EQ(0, clear_policy(_metadata));
	self->seq0 = max_decision_seq();
	ASSERT_GE(self->seq0, 0) TH_LOG("policy_decisions cannot be read");
	self->v0 = version();
	ASSERT_GE(self->v0, 0);
	my_comm(self->comm, sizeof(self->comm));
	ASSERT_EQ(0, system("rm -rf " D " && mkdir -p " D " && chmod 755 " D));
}

FIXTURE_TEARDOWN(policy)
{
	if (!wait_socket(30))
		EXPECT_EQ(0, clear_policy(_metadata));
	system("rm -rf " D);
}

/* ---- one test per hook: allowed, denied with EPERM and recorded, allowed again ---- */

TEST_F_TIMEOUT(policy, exec_deny_records_and_delete_restores, 120)
{
	struct decision d;
	pid_t pid;
	long long v;

	ASSERT_EQ(0, copy_file("/bin/busybox", D "/true", 0755));
	EXPECT_EQ(0, exec_as(0, D "/true", true_argv, &pid));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-exec', 'exec', 'deny', 'path = ''" D "/true''')");
	v = version();
	EXPECT_EQ(self->v0 + 1, v);
	EXPECT_EQ(v, live_version_stat());
	EXPECT_EQ(v, q_int("SELECT version FROM policies WHERE name = 't-exec'"));

	EXPECT_EQ(-1, exec_as(0, D "/true", true_argv, &pid));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "hook = 'exec' AND pid = %d", pid));
	EXPECT_STREQ("deny", d.verdict);
	EXPECT_STREQ("t-exec", d.rule);
	EXPECT_EQ(v, d.version);
	EXPECT_STREQ(D "/true", d.path);
	EXPECT_EQ(0, d.uid);
	EXPECT_STREQ(self->comm, d.name);	/* the caller before the exec */
	EXPECT_EQ(q_int("SELECT id FROM policies WHERE name = 't-exec'"), d.rule_id);

	/* another file is not covered */
	ASSERT_EQ(0, copy_file("/bin/busybox", D "/true2", 0755));
	EXPECT_EQ(0, exec_as(0, D "/true2", true_argv, NULL));

	SQL_OK("DELETE FROM policies WHERE name = 't-exec'");
	EXPECT_EQ(v + 1, version());
	EXPECT_EQ(0, exec_as(0, D "/true", true_argv, NULL));
}

TEST_F_TIMEOUT(policy, open_deny_by_path_and_mode, 120)
{
	struct decision d;
	long long v;

	ASSERT_EQ(0, make_file(D "/secret", 0644));
	EXPECT_EQ(0, open_close(D "/secret", O_WRONLY));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-open', 'open', 'deny', 'path = ''" D "/secret'' AND mode IN (''w'', ''rw'')')");
	v = version();
	EXPECT_EQ(self->v0 + 1, v);

	EXPECT_EQ(0, open_close(D "/secret", O_RDONLY));	/* mode r: not covered */
	EXPECT_EQ(-1, open_close(D "/secret", O_RDWR));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, open_close(D "/secret", O_WRONLY));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "hook = 'open' AND pid = %d", getpid()));
	EXPECT_STREQ("deny", d.verdict);
	EXPECT_STREQ("t-open", d.rule);
	EXPECT_EQ(v, d.version);
	EXPECT_STREQ(D "/secret", d.path);
	EXPECT_STREQ(self->comm, d.name);
	EXPECT_TRUE(!strcmp(d.mode, "rw") || !strcmp(d.mode, "3")) TH_LOG("mode %s", d.mode);
	/* both denials are recorded */
	EXPECT_EQ(2, wait_int(2, 30, "SELECT count(*) FROM policy_decisions WHERE hook = 'open' "
			      "AND rule = 't-open'"));

	SQL_OK("DELETE FROM policies WHERE name = 't-open'");
	EXPECT_EQ(0, open_close(D "/secret", O_WRONLY));
	EXPECT_EQ(0, open_close(D "/secret", O_RDWR));
}

TEST_F_TIMEOUT(policy, connect_deny_and_policy_rollback, 120)
{
	struct decision d;
	long long v1, v2, v3;
	int port, l;

	l = tcp_listener(&port);
	ASSERT_GE(l, 0);
	EXPECT_EQ(0, tcp_connect(port));
	/* v1: a rule for another port (that one has no listener: ECONNREFUSED) */
	EXPECT_EQ(-1, tcp_connect(port + 1));
	EXPECT_EQ(ECONNREFUSED, errno);
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-connect-other', 'connect', 'deny', 'remote_port = %d')", port + 1);
	v1 = version();
	EXPECT_EQ(-1, tcp_connect(port + 1));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(0, tcp_connect(port));
	/* v2: this port too */
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-connect', 'connect', 'deny', 'remote_port = %d AND family = ''inet'' "
	       "AND remote_address = ''127.0.0.1''')", port);
	v2 = version();
	EXPECT_EQ(v1 + 1, v2);
	EXPECT_EQ(-1, tcp_connect(port));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "hook = 'connect' AND rule = 't-connect'"));
	EXPECT_STREQ("deny", d.verdict);
	EXPECT_EQ(v2, d.version);
	EXPECT_EQ(getpid(), d.pid);
	EXPECT_EQ(port, d.port);
	EXPECT_STREQ("127.0.0.1", d.address);

	/* rollback to v1: a new version with v1's rules */
	v3 = q_int("SELECT policy_rollback(%lld)", v1);
	EXPECT_EQ(v2 + 1, v3);
	EXPECT_EQ(v3, version());
	EXPECT_EQ(v3, live_version_stat());
	EXPECT_EQ(1, q_int("SELECT count(*) FROM policy_versions WHERE version = %lld AND "
			   "action = 'rollback' AND from_version = %lld AND live", v3, v1));
	EXPECT_EQ(1, q_int("SELECT count(*) FROM policy_rules WHERE version = %lld", v3));
	EXPECT_EQ(0, tcp_connect(port));
	EXPECT_EQ(-1, tcp_connect(port + 1));	/* v1's rule is back in force */
	EXPECT_EQ(EPERM, errno);
	close(l);
}

TEST_F_TIMEOUT(policy, bind_deny_and_cli_rollback, 120)
{
	struct decision d;
	char cmd[128];
	long long v;
	int port, l;

	l = tcp_listener(&port);	/* a port that is free once closed */
	ASSERT_GE(l, 0);
	close(l);
	EXPECT_EQ(0, tcp_bind(port));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-bind', 'bind', 'deny', 'local_port = %d')", port);
	v = version();
	EXPECT_EQ(self->v0 + 1, v);
	EXPECT_EQ(-1, tcp_bind(port));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(0, tcp_bind(port + 1 == 65536 ? port - 1 : port + 1));
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "hook = 'bind' AND pid = %d", getpid()));
	EXPECT_STREQ("deny", d.verdict);
	EXPECT_STREQ("t-bind", d.rule);
	EXPECT_EQ(v, d.version);
	EXPECT_EQ(port, d.port);
	EXPECT_STREQ("127.0.0.1", d.address);

	snprintf(cmd, sizeof(cmd), "dbos policy rollback %lld >/dev/null", self->v0);
	EXPECT_EQ(0, system(cmd));
	EXPECT_EQ(v + 1, version());
	EXPECT_EQ(0, q_int("SELECT count(*) FROM policies"));
	EXPECT_EQ(0, tcp_bind(port));
}

TEST_F_TIMEOUT(policy, kill_deny_then_audit_then_delete, 120)
{
	struct decision d;
	long long v, v2, after;
	pid_t child;

	child = fork();
	if (child == 0) {
		signal(SIGUSR1, SIG_IGN);
		signal(SIGUSR2, SIG_IGN);
		for (;;)
			pause();
	}
	ASSERT_GT(child, 0);
	usleep(100000);	/* (the ignore is in place before the first kill) */
	EXPECT_EQ(0, kill(child, SIGUSR1));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-kill', 'kill', 'deny', 'target_pid = %d AND signal = %d')", child, SIGUSR1);
	v = version();
	EXPECT_EQ(-1, kill(child, SIGUSR1));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(0, kill(child, SIGUSR2));	/* another signal: not covered */
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "hook = 'kill' AND target_pid = %d", child));
	EXPECT_STREQ("deny", d.verdict);
	EXPECT_STREQ("t-kill", d.rule);
	EXPECT_EQ(v, d.version);
	EXPECT_EQ(getpid(), d.pid);
	EXPECT_EQ(SIGUSR1, d.signal);

	/* audit: allowed, and recorded */
	after = d.seq;
	SQL_OK("UPDATE policies SET action = 'audit' WHERE name = 't-kill'");
	v2 = version();
	EXPECT_EQ(v + 1, v2);
	EXPECT_EQ(v2, q_int("SELECT version FROM policies WHERE name = 't-kill'"));
	EXPECT_EQ(0, kill(child, SIGUSR1));
	ASSERT_EQ(0, wait_decision(&d, after, 30, "hook = 'kill' AND target_pid = %d", child));
	EXPECT_STREQ("audit", d.verdict);
	EXPECT_STREQ("t-kill", d.rule);
	EXPECT_EQ(v2, d.version);

	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(0, kill(child, SIGUSR1));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

TEST_F_TIMEOUT(policy, allow_rule_carves_an_exception, 120)
{
	ASSERT_EQ(0, make_file(D "/ok", 0644));
	ASSERT_EQ(0, make_file(D "/no", 0644));
	SQL_OK("BEGIN; "
	       "INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-deny-dir', 'open', 'deny', 'path GLOB ''" D "/*'''); "
	       "INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-allow-ok', 'open', 'allow', 'path = ''" D "/ok'''); COMMIT");
	EXPECT_EQ(self->v0 + 1, version());
	EXPECT_EQ(0, open_close(D "/ok", O_RDONLY));
	EXPECT_EQ(-1, open_close(D "/no", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(0, open_close("/etc/passwd", O_RDONLY));	/* outside the prefix */
	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(0, open_close(D "/no", O_RDONLY));
}

/*
 * exe is the caller's program (current->mm->exe_file), which a process
 * cannot change the way it can change its comm (prctl): a copy of busybox
 * under another path is told apart from /bin/busybox running the same applet.
 */
TEST_F_TIMEOUT(policy, exe_is_the_callers_program_not_its_name, 120)
{
	char *cat_argv[] = { "cat", D "/secret", NULL };
	char *sh_argv[] = { "sh", "-c", D "/true", NULL };
	struct decision d;
	pid_t pid;
	long long v;

	ASSERT_EQ(0, make_file(D "/secret", 0644));
	ASSERT_EQ(0, copy_file("/bin/busybox", D "/bb", 0755));
	ASSERT_EQ(0, copy_file("/bin/busybox", D "/true", 0755));
	EXPECT_EQ(0, exec_as(0, D "/bb", cat_argv, NULL));
	SQL_OK("BEGIN; "
	       "INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-exe-open', 'open', 'deny', 'path = ''" D "/secret'' AND exe = ''" D "/bb'''); "
	       "INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-exe-exec', 'exec', 'deny', 'exe GLOB ''" D "/b*'' AND path = ''" D "/true'''); "
	       "COMMIT");
	v = version();
	EXPECT_EQ(self->v0 + 1, v);

	/* the same applet and comm from the real busybox, and this test itself: allowed */
	EXPECT_EQ(0, exec_as(0, "/bin/busybox", cat_argv, NULL));
	EXPECT_EQ(0, open_close(D "/secret", O_RDONLY));
	/* the copy: cat's open fails (cat exits 1), recorded against the child */
	EXPECT_EQ(1, exec_as(0, D "/bb", cat_argv, &pid));
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "hook = 'open' AND pid = %d", pid));
	EXPECT_STREQ("t-exe-open", d.rule);
	EXPECT_STREQ(D "/secret", d.path);
	EXPECT_STREQ("bb", d.name);	/* comm: the file's name, not argv[0] */
	EXPECT_EQ(v, d.version);

	/* exec: exe is the program calling execve, not the one it loads */
	EXPECT_EQ(0, exec_as(0, D "/true", true_argv, NULL));
	EXPECT_NE(0, exec_as(0, D "/bb", sh_argv, &pid));
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "hook = 'exec' AND rule = 't-exe-exec'"));
	EXPECT_STREQ(D "/true", d.path);
	EXPECT_STREQ("bb", d.name);

	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(0, exec_as(0, D "/bb", cat_argv, NULL));
	EXPECT_EQ(0, exec_as(0, D "/bb", sh_argv, NULL));
}
/* ---- transactions ---- */

TEST_F_TIMEOUT(policy, transaction_is_one_version_and_a_failed_commit_changes_nothing, 120)
{
	struct dbos_conn *c;
	long long v, n;
	char *err = NULL;

	ASSERT_EQ(0, make_file(D "/a", 0644));
	ASSERT_EQ(0, make_file(D "/b", 0644));
	ASSERT_EQ(0, make_file(D "/c", 0644));
	n = nversions();
	SQL_OK("BEGIN; "
	       "INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-a', 'open', 'deny', 'path = ''" D "/a'''); "
	       "INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-b', 'open', 'deny', 'path = ''" D "/b'''); COMMIT");
	v = version();
	EXPECT_EQ(self->v0 + 1, v);
	EXPECT_EQ(n + 1, nversions());
	EXPECT_EQ(2, q_int("SELECT count(*) FROM policy_rules WHERE version = %lld", v));
	EXPECT_EQ(v, q_int("SELECT version FROM policy_versions WHERE live"));
	EXPECT_EQ(-1, open_close(D "/a", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, open_close(D "/b", O_RDONLY));
	EXPECT_EQ(EPERM, errno);

	c = dbos_connect(SOCK, &err);
	ASSERT_NE(NULL, c) TH_LOG("%s", err);
	/* second statement's condition cannot be compiled */
	EXPECT_EQ(-1, dbos_query(c, "BEGIN; "
				 "INSERT INTO policies(name, hook, action, condition) VALUES "
				 "('t-c', 'open', 'deny', 'path = ''" D "/c'''); "
				 "INSERT INTO policies(name, hook, action, condition) VALUES "
				 "('t-bad', 'connect', 'deny', 'remote_port > 1024'); COMMIT",
				 NULL, NULL, &err));
	TH_LOG("uncompilable condition refused: %s", err ? err : "(no message)");
	EXPECT_TRUE(err && strstr(err, "remote_port > 1024")) TH_LOG("message should name the part");
	free(err);
	err = NULL;
	dbos_query(c, "ROLLBACK", NULL, NULL, NULL);	/* if the failure left it open */
	/* a bad hook */
	EXPECT_EQ(-1, dbos_query(c, "BEGIN; DELETE FROM policies WHERE name = 't-a'; "
				 "INSERT INTO policies(name, hook, action, condition) VALUES "
				 "('t-hook', 'chown', 'deny', NULL); COMMIT",
				 NULL, NULL, &err));
	TH_LOG("bad hook refused: %s", err ? err : "(no message)");
	EXPECT_TRUE(err && strstr(err, "chown"));
	free(err);
	dbos_query(c, "ROLLBACK", NULL, NULL, NULL);
	dbos_close(c);

	/* nothing changed: versions, rows, kernel */
	EXPECT_EQ(v, version());
	EXPECT_EQ(n + 1, nversions());
	EXPECT_EQ(v, live_version_stat());
	EXPECT_EQ(2, q_int("SELECT count(*) FROM policies"));
	EXPECT_EQ(-1, open_close(D "/a", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, open_close(D "/b", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(0, open_close(D "/c", O_RDONLY));
}

/* ---- ancestry: pid sets follow fork in the kernel ---- */

struct anc_result {
	int status;	/* exit status of the exec'ing process: 7 = /bin/sh ran, 100 + errno = exec failed */
	int pid;	/* that process */
};

/* Fork a process that immediately execs /bin/sh; report how it ended on @res. */
static void fork_exec_sh(int res)
{
	struct anc_result r = { -1, 0 };
	int status;
	pid_t g = fork();

	if (g == 0) {
		execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
		_exit(100 + errno);
	}
	waitpid(g, &status, 0);
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	r.pid = g;
	if (write(res, &r, sizeof(r)) != sizeof(r))
		_exit(1);
}

/* Per byte on @ctl: 'g' fork the exec'ing process here; 'c' fork a fresh child that does. */
static void spawner(int ctl, int res)
{
	char cmd;

	while (read(ctl, &cmd, 1) == 1) {
		if (cmd == 'g') {
			fork_exec_sh(res);
		} else if (cmd == 'c') {
			pid_t c = fork();

			if (c == 0) {
				fork_exec_sh(res);
				_exit(0);
			}
			waitpid(c, NULL, 0);
		}
	}
	_exit(0);
}

/*
 * The tree: the test -> X (renamed 'polanc') -> C0 (an existing child). X
 * obeys ctl[0], C0 ctl[1]; both report on res.
 */
struct anc_tree {
	pid_t x, c0;
	int ctl[2], res;
};

static int anc_start(struct anc_tree *t)
{
	int cx[2], cc[2], res[2];

	if (pipe(cx) || pipe(cc) || pipe(res))
		return -1;
	t->x = fork();
	if (t->x == 0) {
		prctl(PR_SET_NAME, "polanc");
		close(cx[1]);
		close(cc[1]);
		close(res[0]);
		t->c0 = fork();
		if (t->c0 == 0)
			spawner(cc[0], res[1]);
		if (write(res[1], &t->c0, sizeof(t->c0)) != sizeof(t->c0))
			_exit(1);
		spawner(cx[0], res[1]);
	}
	close(cx[0]);
	close(cc[0]);
	close(res[1]);
	t->ctl[0] = cx[1];
	t->ctl[1] = cc[1];
	t->res = res[0];
	return read(t->res, &t->c0, sizeof(t->c0)) == sizeof(t->c0) ? 0 : -1;
}

/* Ask X (@who 0) or C0 (@who 1) to run @cmd; the exec'ing process's result. */
static struct anc_result anc_run(struct anc_tree *t, int who, char cmd)
{
	struct anc_result r = { -1, 0 };

	if (write(t->ctl[who], &cmd, 1) != 1 || read(t->res, &r, sizeof(r)) != sizeof(r))
		r.status = -2;
	return r;
}

static void anc_stop(struct anc_tree *t)
{
	close(t->ctl[0]);
	close(t->ctl[1]);
	waitpid(t->x, NULL, 0);
	close(t->res);
}

/* X is 'polanc' in the mirror, with C0 below it, then the rule is committed. */
static int anc_setup(struct __test_metadata *_metadata, struct anc_tree *t)
{
	char q[256], *err = NULL;

	if (anc_start(t))
		return -1;
	snprintf(q, sizeof(q), "SELECT count(*) FROM process_ancestors WHERE pid = %d AND "
		 "ancestor = %d AND ancestor_name = 'polanc'", t->c0, t->x);
	if (wait_int(1, 20, "%s", q) != 1) {
		TH_LOG("the mirror never showed C0 %d below 'polanc' %d", t->c0, t->x);
		return -1;
	}
	/* without a rule, the execs work */
	if (anc_run(t, 1, 'g').status != 7 || anc_run(t, 0, 'c').status != 7) {
		TH_LOG("/bin/sh did not run in the tree without a rule");
		return -1;
	}
	if (sql(&err, "INSERT INTO policies(name, hook, action, condition) VALUES "
		"('t-anc', 'exec', 'deny', 'path IN (''/bin/sh'', ''/bin/busybox'') AND "
		"pid IN (SELECT pid FROM process_ancestors WHERE ancestor_name = ''polanc'')')")) {
		TH_LOG("SQL failed: %s", err ? err : "?");
		free(err);
		return -1;
	}
	return 0;
}

TEST_F_TIMEOUT(policy, ancestry_rule_stops_a_grandchild_forked_just_before_its_exec, 180)
{
	struct anc_tree t;
	struct anc_result r;
	struct decision d;

	ASSERT_EQ(0, anc_setup(_metadata, &t));
	/* C0 (in the set) forks G, which execs at once: G is in the set by inheritance */
	r = anc_run(&t, 1, 'g');
	EXPECT_EQ(100 + EPERM, r.status) TH_LOG("grandchild exec status %d", r.status);
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "hook = 'exec' AND pid = %d", r.pid));
	EXPECT_STREQ("t-anc", d.rule);
	EXPECT_EQ(version(), d.version);
	/* outside the tree: not denied */
	EXPECT_EQ(0, exec_as(0, "/bin/sh", (char *[]){ "sh", "-c", "exit 0", NULL }, NULL));

	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(7, anc_run(&t, 1, 'g').status);
	anc_stop(&t);
}

/*
 * X's own new children: X is not its own ancestor, so it is not in the set the
 * server evaluated, and fork inheritance alone cannot cover a child it forks
 * after the commit; only seeding X (inherit-only) closes that race.
 */
TEST_F_TIMEOUT(policy, ancestry_rule_stops_the_grandchild_of_a_child_forked_after_commit, 180)
{
	struct anc_tree t;
	struct anc_result r;

	ASSERT_EQ(0, anc_setup(_metadata, &t));
	/* X forks a fresh child C, C forks G, G execs at once */
	r = anc_run(&t, 0, 'c');
	EXPECT_EQ(100 + EPERM, r.status) TH_LOG("grandchild exec status %d", r.status);
	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(7, anc_run(&t, 0, 'c').status);
	anc_stop(&t);
}

/* ---- swaps under load: no decision from a mixed generation ---- */

struct hammer_counts {
	volatile int stop;
	long opens[2], eperm[2], other[2];	/* per child pair, summed below */
};

static void hammer(struct hammer_counts *hc, int k)
{
	static const char *const files[2] = { D "/f1", D "/f2" };
	long opens[2] = { 0 }, eperm[2] = { 0 }, other[2] = { 0 };

	while (!hc->stop) {
		for (int f = 0; f < 2; f++) {
			opens[f]++;
			if (open_close(files[f], O_RDONLY) == 0)
				continue;
			if (errno == EPERM)
				eperm[f]++;
			else
				other[f]++;
		}
		usleep(500);	/* (keeps the decision stream below the ring buffer's size) */
	}
	for (int f = 0; f < 2; f++) {
		__atomic_add_fetch(&hc->opens[f], opens[f], __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&hc->eperm[f], eperm[f], __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&hc->other[f], other[f], __ATOMIC_SEQ_CST);
	}
	_exit(k);
}

/* Which set each version holds: 'A' (f1 deny, f2 audit) or 'B' (f1 audit, f2 deny). */
struct swap_check {
	long long vmin, vmax;
	char set[512];
	long rows, bad, deny[2], audit[2];
	char first_bad[512];
};

static int on_swap_row(void *arg, int ncol, const struct dbos_value *v)
{
	struct swap_check *s = arg;
	struct decision d;
	char want_rule[32], want_verdict[8];
	int f, set;

	if (ncol != 15)
		return 0;
	decision_of(&d, v);
	s->rows++;
	f = !strcmp(d.path, D "/f2");
	set = d.version >= s->vmin && d.version <= s->vmax ? s->set[d.version - s->vmin] : 0;
	snprintf(want_rule, sizeof(want_rule), "swap%c-f%d", set, f + 1);
	snprintf(want_verdict, sizeof(want_verdict), "%s", (set == 'A') == (f == 0) ? "deny" : "audit");
	if (!set || strcmp(d.rule, want_rule) || strcmp(d.verdict, want_verdict) ||
	    (!f && strcmp(d.path, D "/f1"))) {
		if (!s->bad++)
			snprintf(s->first_bad, sizeof(s->first_bad),
				 "seq %lld version %lld path %s rule %s verdict %s", d.seq, d.version,
				 d.path, d.rule, d.verdict);
		return 0;
	}
	if (!strcmp(d.verdict, "deny"))
		s->deny[f]++;
	else
		s->audit[f]++;
	return 0;
}

static const char *swap_sql(char set)
{
	static char q[1024];

	snprintf(q, sizeof(q), "BEGIN; DELETE FROM policies; "
		 "INSERT INTO policies(name, hook, action, condition) VALUES "
		 "('swap%c-f1', 'open', '%s', 'path = ''" D "/f1'''), "
		 "('swap%c-f2', 'open', '%s', 'path = ''" D "/f2'''); COMMIT",
		 set, set == 'A' ? "deny" : "audit", set, set == 'A' ? "audit" : "deny");
	return q;
}

TEST_F_TIMEOUT(policy, swaps_under_load_never_mix_generations, 600)
{
	static const struct dbos_callbacks cb = { .on_row = on_swap_row };
	const char *kernel = getenv("DBOS_TEST_KERNEL");
	int flips = kernel && !strcmp(kernel, "debug") ? 10 : 40;
	struct swap_check *s = calloc(1, sizeof(*s));
	struct hammer_counts *hc;
	struct dbos_conn *c;
	long long lost0, lost, v;
	pid_t kids[2];
	char q[256], *err = NULL;

	ASSERT_NE(NULL, s);
	hc = mmap(NULL, sizeof(*hc), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hc);
	ASSERT_EQ(0, make_file(D "/f1", 0644));
	ASSERT_EQ(0, make_file(D "/f2", 0644));
	lost0 = q_int("SELECT value FROM dbos_stats WHERE name = 'lsm_lost'");
	ASSERT_GE(lost0, 0);
	c = dbos_connect(SOCK, &err);
	ASSERT_NE(NULL, c) TH_LOG("%s", err);
	ASSERT_EQ(0, dbos_query(c, swap_sql('A'), NULL, NULL, &err)) TH_LOG("%s", err);
	s->vmin = version();
	s->set[0] = 'A';
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] == 0)
			hammer(hc, 0);
	}
	for (int i = 1; i <= flips; i++) {
		char set = i % 2 ? 'B' : 'A';

		usleep(20000);
		ASSERT_EQ(0, dbos_query(c, swap_sql(set), NULL, NULL, &err)) TH_LOG("flip %d: %s", i, err);
		v = version();
		ASSERT_EQ(s->vmin + i, v) TH_LOG("each flip is exactly one version");
		s->set[v - s->vmin] = set;
	}
	s->vmax = s->vmin + flips;
	usleep(20000);
	hc->stop = 1;
	for (int k = 0; k < 2; k++)
		waitpid(kids[k], NULL, 0);
	dbos_close(c);
	TH_LOG("%d flips; opens f1 %ld (EPERM %ld), f2 %ld (EPERM %ld)", flips, hc->opens[0],
	       hc->eperm[0], hc->opens[1], hc->eperm[1]);
	EXPECT_EQ(0, hc->other[0] + hc->other[1]);
	EXPECT_GT(hc->eperm[0], 0);
	EXPECT_GT(hc->eperm[1], 0);

	/* every open of f1/f2 ran under A or B: one decision each, once all have arrived */
	snprintf(q, sizeof(q), "SELECT count(*) FROM policy_decisions WHERE seq > %lld AND "
		 "hook = 'open' AND path IN ('" D "/f1', '" D "/f2')", self->seq0);
	lost = q_int("SELECT value FROM dbos_stats WHERE name = 'lsm_lost'") - lost0;
	EXPECT_EQ(0, lost) TH_LOG("decisions lost: the checks below are partial");
	wait_int(hc->opens[0] + hc->opens[1] - lost, 30, "%s", q);
	snprintf(q, sizeof(q), "SELECT " DEC_COLS " FROM policy_decisions WHERE seq > %lld AND "
		 "hook = 'open' AND path IN ('" D "/f1', '" D "/f2') ORDER BY seq", self->seq0);
	c = dbos_connect(SOCK, &err);
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, dbos_query(c, q, &cb, s, &err)) TH_LOG("%s", err);
	dbos_close(c);
	TH_LOG("%ld decisions: f1 deny %ld audit %ld, f2 deny %ld audit %ld", s->rows, s->deny[0],
	       s->audit[0], s->deny[1], s->audit[1]);
	EXPECT_EQ(0, s->bad) TH_LOG("%ld decisions do not match their version's rules; first: %s",
				    s->bad, s->first_bad);
	if (lost == 0) {
		/* each EPERM the callers saw is one deny decision, each other open one audit */
		EXPECT_EQ(hc->eperm[0], s->deny[0]);
		EXPECT_EQ(hc->eperm[1], s->deny[1]);
		EXPECT_EQ(hc->opens[0] - hc->eperm[0], s->audit[0]);
		EXPECT_EQ(hc->opens[1] - hc->eperm[1], s->audit[1]);
	}
	munmap(hc, sizeof(*hc));
	free(s);
}

/* ---- simulate ---- */

TEST_F_TIMEOUT(policy, simulate_counts_past_execs, 180)
{
	char q[512];
	int i, root = 5, nobody = 3;
	char *err = NULL;

	ASSERT_EQ(0, copy_file("/bin/busybox", D "/simtrue", 0755));
	for (i = 0; i < root; i++)
		ASSERT_EQ(0, exec_as(0, D "/simtrue", true_argv, NULL));
	for (i = 0; i < nobody; i++)
		ASSERT_EQ(0, exec_as(NOBODY, D "/simtrue", true_argv, NULL));
	snprintf(q, sizeof(q), "SELECT count(*) FROM policy_simulate('exec', "
		 "'path GLOB ''" D "/sim*''')");
	EXPECT_EQ(root + nobody, wait_int(root + nobody, 30, "%s", q));
	EXPECT_EQ(nobody, q_int("SELECT count(*) FROM policy_simulate('exec', "
				"'path GLOB ''" D "/sim*'' AND uid = %d')", NOBODY));
	EXPECT_EQ(0, q_int("SELECT count(*) FROM policy_simulate('exec', 'path = ''" D "/none''')"));
	/* and what it matched is the history's own rows */
	EXPECT_EQ(root + nobody, q_int("SELECT count(*) FROM policy_simulate('exec', "
				       "'path GLOB ''" D "/sim*''') WHERE path = '" D "/simtrue'"));
	/* simulate commits nothing */
	EXPECT_EQ(self->v0, version());
	/* bad SQL gets SQLite's message */
	EXPECT_EQ(-1, sql(&err, "SELECT count(*) FROM policy_simulate('exec', 'no_such_column = 1')"));
	EXPECT_TRUE(err && strstr(err, "no_such_column")) TH_LOG("%s", err ? err : "(no message)");
	free(err);
}

/* ---- paths: symlinks, hard links, renames ---- */

/* Runs `dbos -c SQL` and returns what it wrote to stderr (NOTICE lines, errors) in @buf. */
static int cli_stderr(const char *sql, char *buf, size_t size)
{
	char cmd[1024];
	FILE *f;
	size_t n;

	snprintf(cmd, sizeof(cmd), "dbos -c \"%s\" 2>&1 >/dev/null", sql);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, size - 1, f);
	buf[n] = 0;
	return pclose(f);
}

/*
 * A literal path that is a symlink names a path the kernel never sees (it
 * compares paths with symlinks resolved): COMMIT says so as a notice, the
 * row's notes say what the kernel compares, and the rule matches that too.
 */
TEST_F_TIMEOUT(policy, a_symlink_in_a_rule_is_resolved_and_the_commit_says_so, 180)
{
	char out[2048];

	ASSERT_EQ(0, copy_file("/bin/busybox", D "/true", 0755));
	ASSERT_EQ(0, symlink(D "/true", D "/link"));
	EXPECT_EQ(0, cli_stderr("INSERT INTO policies(name, hook, action, condition) VALUES "
				"('t-link', 'exec', 'deny', 'path = ''" D "/link''')", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "NOTICE: rule 't-link': '" D "/link' is '" D "/true' once "
			       "symlinks are resolved")) TH_LOG("stderr: %s", out);
	EXPECT_EQ(1, q_int("SELECT count(*) FROM policies WHERE name = 't-link' AND notes LIKE "
			   "'%%is ''" D "/true''%%'"));
	EXPECT_EQ(-1, exec_as(0, D "/link", true_argv, NULL));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, exec_as(0, D "/true", true_argv, NULL));
	EXPECT_EQ(EPERM, errno);
}

TEST_F_TIMEOUT(policy, path_rules_follow_the_resolved_path, 180)
{
	int dfd, pid, status;

	ASSERT_EQ(0, mkdir(D "/p", 0755));
	ASSERT_EQ(0, mkdir(D "/pub", 0755));
	ASSERT_EQ(0, chmod(D "/pub", 01777));	/* (mkdir's mode is masked by the umask) */
	ASSERT_EQ(0, make_file(D "/p/secret", 0644));
	ASSERT_EQ(0, symlink("p/secret", D "/link"));
	ASSERT_EQ(0, link(D "/p/secret", D "/hard"));	/* root made it, before the rule */
	ASSERT_EQ(0, copy_file("/bin/busybox", D "/p/tool", 0755));
	ASSERT_EQ(0, symlink("p/tool", D "/toollink"));
	SQL_OK("BEGIN; INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-secret', 'open', 'deny', 'path = ''" D "/p/secret'''); "
	       "INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-tool', 'exec', 'deny', 'path = ''" D "/p/tool'''); COMMIT");

	/* every name that resolves to the path is denied: the kernel checks the file's path */
	EXPECT_EQ(-1, open_close(D "/p/secret", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, open_close(D "/link", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, open_close(D "//p/./secret", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, open_close(D "/p/../p/secret", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	dfd = open(D "/p", O_RDONLY | O_DIRECTORY);
	ASSERT_GE(dfd, 0);
	EXPECT_EQ(-1, openat(dfd, "secret", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, fchdir(dfd));
	EXPECT_EQ(-1, open_close("secret", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, chdir("/"));
	close(dfd);
	EXPECT_EQ(-1, exec_as(0, D "/p/tool", true_argv, NULL));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, exec_as(0, D "/toollink", true_argv, NULL));
	EXPECT_EQ(EPERM, errno);

	/* a hard link is another name of the same file: an exact path names the file too (README) */
	EXPECT_EQ(-1, open_close(D "/hard", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	/* ... and fs.protected_hardlinks keeps other users from making one */
	EXPECT_EQ(0, system("grep -qx 1 /proc/sys/fs/protected_hardlinks"));
	pid = fork();
	if (pid == 0) {
		if (become(NOBODY, 0))
			_exit(2);
		_exit(link(D "/p/secret", D "/pub/hard2") == -1 && errno == EPERM ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("nobody could hard-link the secret");

	/*
	 * renaming a parent directory: the rule names a path, and the file
	 * found there; once dbosd has looked again (within a second), the file
	 * under its new name is not covered (README)
	 */
	ASSERT_EQ(0, rename(D "/p", D "/q"));
	for (int i = 0; i < 50 && open_close(D "/q/secret", O_RDONLY); i++)
		usleep(100000);
	EXPECT_EQ(0, open_close(D "/q/secret", O_RDONLY));
	EXPECT_EQ(0, open_close(D "/hard", O_RDONLY));
	EXPECT_EQ(-1, open_close(D "/link", O_RDONLY));	/* dangling now */
	EXPECT_EQ(ENOENT, errno);
	/*
	 * whatever is at the path is covered: creating a file there fails, but
	 * the (empty) file exists, since file_open runs after the create (README)
	 */
	ASSERT_EQ(0, mkdir(D "/p", 0755));
	EXPECT_EQ(-1, open(D "/p/secret", O_WRONLY | O_CREAT | O_EXCL, 0644));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(0, access(D "/p/secret", F_OK));
	EXPECT_EQ(-1, open_close(D "/p/secret", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, open_close(D "/link", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	/* moving a file into the path: denied too */
	ASSERT_EQ(0, rename(D "/q/secret", D "/p/secret"));
	EXPECT_EQ(-1, open_close(D "/p/secret", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
}

/* ---- only root changes policy ---- */

TEST_F_TIMEOUT(policy, only_root_changes_policy, 240)
{
	int status, refused;
	long long v, n;
	pid_t pid;

	ASSERT_EQ(0, make_file(D "/secret", 0644));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-root', 'open', 'deny', 'path = ''" D "/secret''')");
	v = version();
	n = nversions();
	/* by default the endpoint serves root only: the connection itself is refused */
	pid = fork();
	if (pid == 0) {
		if (become(NOBODY, 0))
			_exit(2);
		_exit(dbos_connect(SOCK, NULL) == NULL && errno == EACCES ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("uid %d was served by default", NOBODY);

	/* with --group dbos-test, a member may query but not change policy */
	ASSERT_EQ(0, restart_dbosd("--group dbos-test"));
	pid = fork();
	if (pid == 0) {
		static const char *const writes[] = {
			"INSERT INTO policies(name, hook, action, condition) VALUES "
			"('t-user', 'open', 'deny', NULL)",
			"DELETE FROM policies",
			"UPDATE policies SET action = 'audit'",
			"SELECT policy_rollback(0)",
		};
		struct dbos_conn *c;
		int bad = 0;

		if (become(NOBODY, 1))
			_exit(100);
		c = dbos_connect(SOCK, NULL);
		if (!c)
			_exit(101);
		if (dbos_query(c, "SELECT count(*) FROM policies", NULL, NULL, NULL))
			bad |= 1 << 5;
		for (int i = 0; i < 4; i++) {
			char *err = NULL;

			if (dbos_query(c, writes[i], NULL, NULL, &err) == 0 || !err ||
			    !strstr(err, "permission denied: only root may change policy"))
				bad |= 1 << i;
			free(err);
		}
		dbos_close(c);
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("status %d: bits 0-3 writes not refused, 5 read refused",
						 WEXITSTATUS(status));
	/* nothing changed, and the attempts are recorded */
	EXPECT_EQ(v, version());
	EXPECT_EQ(n, nversions());
	EXPECT_EQ(1, q_int("SELECT count(*) FROM policies WHERE name = 't-root' AND action = 'deny'"));
	EXPECT_EQ(-1, open_close(D "/secret", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	refused = q_int("SELECT count(*) FROM policy_decisions WHERE seq > %lld AND hook = 'policy' "
			"AND verdict = 'refused' AND uid = %d AND pid = %d", self->seq0, NOBODY, pid);
	EXPECT_GE(refused, 1);
	TH_LOG("%d refused attempts recorded", refused);
	EXPECT_EQ(0, restart_dbosd(""));
}

/* ---- kill -9 of dbosd: the kernel keeps enforcing, a new dbosd adopts ---- */

TEST_F_TIMEOUT(policy, kill9_of_dbosd_keeps_enforcing_and_restart_adopts, 240)
{
	struct decision d;
	long long v, n;
	pid_t daemon;
	int i;

	ASSERT_EQ(0, make_file(D "/secret", 0644));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-k9', 'open', 'deny', 'path = ''" D "/secret''')");
	v = version();
	n = nversions();
	EXPECT_EQ(-1, open_close(D "/secret", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 't-k9'"));

	daemon = dbosd_pid();
	ASSERT_GT(daemon, 0);
	ASSERT_EQ(0, kill(daemon, SIGKILL));
	for (i = 0; i < 100 && dbosd_pid() == daemon; i++)
		usleep(50000);
	ASSERT_EQ(0, dbosd_pid());
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(-1, open_close(D "/secret", O_RDONLY));
		EXPECT_EQ(EPERM, errno);
	}
	EXPECT_EQ(0, open_close("/etc/passwd", O_RDONLY));

	ASSERT_EQ(0, system("DBOSD_START_WAIT=180 setsid vm-dbosd start"));
	ASSERT_EQ(0, wait_socket(30));
	EXPECT_EQ(v, live_version_stat());
	EXPECT_EQ(v, version());
	EXPECT_EQ(n, nversions());
	EXPECT_EQ(1, q_int("SELECT count(*) FROM policies WHERE name = 't-k9'"));
	EXPECT_EQ(-1, open_close(D "/secret", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	/* 1 before, 3 while no dbosd ran (kept in the pinned ring buffer), 1 after */
	EXPECT_EQ(5, wait_int(5, 30, "SELECT count(*) FROM policy_decisions WHERE rule = 't-k9'"));
	ASSERT_EQ(0, wait_decision(&d, d.seq, 30, "rule = 't-k9'"));
	EXPECT_EQ(v, d.version);
	EXPECT_EQ(getpid(), d.pid);
	/* and it still commits */
	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(v + 1, version());
	EXPECT_EQ(0, open_close(D "/secret", O_RDONLY));
}

TEST_HARNESS_MAIN
