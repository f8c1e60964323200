// SPDX-License-Identifier: GPL-2.0
/*
 * test_userland.c - the README's policy and scheduling rules against the real programs of a Debian system: nginx's master and workers, dash as /bin/sh, bash, coreutils, passwd, sshd.
 *
 * Runs on the Debian image only (scripts/dbos-vm --image debian; tests/run-all.sh
 * run_userland), as root with dbos.ko loaded and dbosd serving. The busybox VM
 * has none of these programs: its /bin/sh is busybox, which runs some applets
 * without an exec. Here nginx runs as Debian ships it, with its perl module
 * (libnginx-mod-http-perl) standing in for remote code execution in a worker:
 * a request makes a worker call system(), as an exploited web application would.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vm_policy.h"
#include "readme_policy.h"	/* readme_policy_sql: README's "Security policy in SQL" example */

#define D		"/var/tmp/dbos-userland"	/* nginx's config, pid, log, perl module */
#define WWW		D "/www"			/* where a worker may write (www-data's) */
#define TMPD		"/tmp/dbos-userland"		/* files under /tmp, for no-tmp-exec */
#define NGINX		"/usr/sbin/nginx"
#define PORT		8080
#define USER		1000
#define WWW_DATA	33				/* Debian's www-data: nginx's workers */

/* The perl module: /run/NAME makes the worker run one command with system(). */
static const char run_pm[] =
	"package Run;\n"
	"use nginx;\n"
	"use File::Copy ();\n"	/* loaded in the master, before the workers fork */
	"my %cmd = (\n"
	"  sh       => ['/bin/sh', '-c', 'exit 3'],\n"
	"  bash     => ['/bin/bash', '-c', 'exit 3'],\n"
	"  dash     => ['/usr/bin/dash', '-c', 'exit 3'],\n"
	"  env      => ['/usr/bin/env', 'true'],\n"
	"  shellstr => ['true; exit 3'],\n"	/* one string with ';': perl runs /bin/sh -c */
	"  copy     => ['" WWW "/sh', '-c', 'exit 3'],\n"	/* dash, copied by the worker */
	");\n"
	"sub handler {\n"
	"  my $r = shift;\n"
	"  my ($name) = $r->uri =~ m{^/run/(\\w+)$};\n"
	"  my $c = $cmd{$name // ''} or return 404;\n"
	"  if ($name eq 'copy') {\n"
	"    File::Copy::copy('/usr/bin/dash', $c->[0]) or return 500;\n"
	"    chmod 0755, $c->[0];\n"
	"  }\n"
	"  my $rc = system(@$c);\n"
	"  my $e = $rc == -1 ? $! + 0 : 0;\n"
	"  $r->send_http_header('text/plain');\n"
	"  $r->print(\"rc=$rc errno=$e\\n\");\n"
	"  return OK;\n"
	"}\n"
	"1;\n";

static const char nginx_conf[] =
	"load_module /usr/lib/nginx/modules/ngx_http_perl_module.so;\n"
	"user www-data;\n"
	"worker_processes 2;\n"
	"pid " D "/nginx.pid;\n"
	"error_log " D "/error.log;\n"
	"events { worker_connections 64; }\n"
	"http {\n"
	"  access_log off;\n"
	"  perl_modules " D ";\n"
	"  perl_require Run.pm;\n"
	"  server {\n"
	"    listen 127.0.0.1:8080;\n"
	"    location / { return 200 \"hello\\n\"; }\n"
	"    location /run/ { perl Run::handler; }\n"
	"  }\n"
	"}\n";

static int write_file(const char *path, const char *s, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t n = strlen(s);

	if (fd < 0)
		return -1;
	if (write(fd, s, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* GET @path from nginx; the response body in @body (the status line's code, or -1). */
static int http_get(const char *path, char *body, size_t cap)
{
	struct sockaddr_in a = loopback(PORT);
	char req[256], buf[4096], *p;
	size_t len = 0;
	ssize_t n;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), code = -1;

	body[0] = 0;
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&a, sizeof(a))) {
		close(s);
		return -1;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
	if (write(s, req, strlen(req)) == (ssize_t)strlen(req))
		while (len < sizeof(buf) - 1 && (n = read(s, buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)n;
	close(s);
	buf[len] = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1)
		return -1;
	p = strstr(buf, "\r\n\r\n");
	if (p)
		snprintf(body, cap, "%s", p + 4);
	return code;
}

/* What the worker's system() returned for /run/@name: "rc=R errno=E\n". */
static const char *worker_runs(const char *name)
{
	static char body[256];
	char path[64];

	snprintf(path, sizeof(path), "/run/%s", name);
	if (http_get(path, body, sizeof(body)) != 200)
		snprintf(body, sizeof(body), "no answer");
	return body;
}

/* nginx's master and worker pids (processes running NGINX), up to @max; how many. */
static int nginx_pids(pid_t *out, int max)
{
	FILE *f = popen("pgrep -x nginx", "r");
	int n = 0, pid;

	while (f && n < max && fscanf(f, "%d", &pid) == 1)
		out[n++] = pid;
	if (f)
		pclose(f);
	return n;
}

/* Starts nginx; 0 once its master and both workers run (the command returns before they fork). */
static int nginx_start(void)
{
	pid_t pids[16];

	if (system(NGINX " -c " D "/nginx.conf"))
		return -1;
	for (int i = 0; i < 300; i++) {
		if (nginx_pids(pids, 16) >= 3)
			return 0;
		usleep(100000);
	}
	return -1;
}

static void nginx_stop(void)
{
	pid_t pids[16];

	if (!access(D "/nginx.pid", F_OK))
		system(NGINX " -c " D "/nginx.conf -s stop");
	for (int i = 0; i < 100 && (!access(D "/nginx.pid", F_OK) || nginx_pids(pids, 16)); i++)
		usleep(100000);
}

#define NICE(pid)	proc_stat_field(pid, 19, -1000)
#define POLICY(pid)	proc_stat_field(pid, 41, -1000)	/* SCHED_OTHER 0, SCHED_BATCH 3 */

/* /bin/sh -c @script as @uid; its exit status, or -1. */
static int shell_as(uid_t uid, const char *shell, const char *script)
{
	char *argv[] = { (char *)shell, "-c", (char *)script, NULL };
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 2);
		if (uid && become(uid, 0))
			_exit(120);
		execv(shell, argv);
		_exit(125);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

FIXTURE(userland) {
	long long seq0;
};

FIXTURE_SETUP(userland)
{
	if (access(NGINX, X_OK) || access("/usr/lib/nginx/modules/ngx_http_perl_module.so", R_OK))
		SKIP(return, "not the Debian image (scripts/dbos-vm --image debian)");
	ASSERT_EQ(0, wait_socket(30)) TH_LOG("dbosd does not answer on " SOCK);
	ASSERT_EQ(0, clear_policy(_metadata));
	SQL_OK("DELETE FROM sched_rules");
	self->seq0 = max_decision_seq();
	ASSERT_EQ(0, system("rm -rf " D " " TMPD " && mkdir -p " D " " TMPD " " WWW
			    " && chmod 755 " D " " TMPD " && chown 33:33 " WWW));
	ASSERT_EQ(0, write_file(D "/Run.pm", run_pm, 0644));
	ASSERT_EQ(0, write_file(D "/nginx.conf", nginx_conf, 0644));
	ASSERT_EQ(0, copy_file("/usr/bin/true", TMPD "/true", 0755));
	system("systemctl stop nginx 2>/dev/null");	/* Debian's own, on port 80 */
	ASSERT_EQ(0, nginx_start()) TH_LOG("nginx did not start: see " D "/error.log");
}

FIXTURE_TEARDOWN(userland)
{
	nginx_stop();
	if (!wait_socket(30)) {
		EXPECT_EQ(0, clear_policy(_metadata));
		EXPECT_EQ(0, sql(NULL, "DELETE FROM sched_rules"));
	}
	system("rm -rf " D " " TMPD);
}

/*
 * web-no-shell, as the README writes it, against real nginx: a worker that
 * runs a shell (any of the names it has on Debian: /bin/sh is dash, /bin/bash
 * is /usr/bin/bash through the merged /usr) is refused; the worker goes on
 * serving, other programs still run from it, and shells outside nginx run.
 */
TEST_F_TIMEOUT(userland, web_no_shell_stops_a_real_nginx_worker, 300)
{
	static const char *const shells[] = { "sh", "bash", "dash", "shellstr" };
	char body[256];
	struct decision d;
	pid_t pids[16], w;
	int n;

	/* without the rule the worker runs them (the test can fail) */
	ASSERT_EQ(200, http_get("/", body, sizeof(body)));
	EXPECT_STREQ("hello\n", body);
	for (size_t i = 0; i < sizeof(shells) / sizeof(*shells); i++) {
		EXPECT_STREQ("rc=768 errno=0\n", worker_runs(shells[i])) TH_LOG("%s", shells[i]);
	}

	SQL_OK("%s", readme_policy_sql);
	for (size_t i = 0; i < sizeof(shells) / sizeof(*shells); i++) {
		EXPECT_STREQ("rc=-1 errno=1\n", worker_runs(shells[i])) TH_LOG("%s", shells[i]);
	}
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 'web-no-shell'"));
	EXPECT_STREQ("deny", d.verdict);
	EXPECT_STREQ("nginx", d.name);
	EXPECT_EQ(WWW_DATA, d.uid);
	EXPECT_TRUE(!strcmp(d.path, "/usr/bin/dash") || !strcmp(d.path, "/usr/bin/bash"))
		TH_LOG("%s", d.path);
	EXPECT_STREQ("rc=0 errno=0\n", worker_runs("env"));	/* not a shell */
	EXPECT_EQ(200, http_get("/", body, sizeof(body)));

	/* workers forked later (reload: no exec) and one respawned after a kill */
	ASSERT_EQ(0, system(NGINX " -c " D "/nginx.conf -s reload"));
	sleep(2);
	EXPECT_STREQ("rc=-1 errno=1\n", worker_runs("sh"));
	n = nginx_pids(pids, 16);
	ASSERT_LE(3, n);
	w = 0;
	for (int i = 0; i < n; i++)
		if (proc_stat_field(pids[i], 4, 1) != 1)	/* a worker: its parent is the master */
			w = pids[i];
	ASSERT_LT(0, w);
	kill(w, SIGKILL);
	sleep(1);
	for (int i = 0; i < 8; i++)	/* whichever worker takes the connection */
		EXPECT_STREQ("rc=-1 errno=1\n", worker_runs("bash"));

	/*
	 * The rule names shells by file (path, device and inode): a worker that
	 * copies dash elsewhere runs the copy. The README's documented limit;
	 * the rule that closes it refuses nginx's descendants every exec (and
	 * every executable mapping of a file, so modules load in the master).
	 */
	EXPECT_STREQ("rc=768 errno=0\n", worker_runs("copy"));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES ('web-exec-nothing', "
	       "'exec', 'deny', 'pid IN (SELECT pid FROM process_ancestors "
	       "WHERE ancestor_name = ''nginx'')')");
	EXPECT_STREQ("rc=-1 errno=1\n", worker_runs("copy"));
	EXPECT_STREQ("rc=-1 errno=1\n", worker_runs("env"));
	EXPECT_EQ(200, http_get("/", body, sizeof(body)));
	ASSERT_EQ(0, system(NGINX " -c " D "/nginx.conf -s reload"));
	sleep(2);
	EXPECT_EQ(200, http_get("/", body, sizeof(body)));
	EXPECT_STREQ("rc=-1 errno=1\n", worker_runs("copy"));

	/* outside nginx the same shells run */
	EXPECT_EQ(3, shell_as(0, "/bin/sh", "exit 3"));
	EXPECT_EQ(3, shell_as(USER, "/bin/bash", "exit 3"));
	EXPECT_EQ(3, shell_as(WWW_DATA, "/usr/bin/dash", "exit 3"));
}

/*
 * no-tmp-exec against real shells and the real loader: bash and dash as a user
 * get "permission denied" (126) for a program under /tmp, whether they exec it
 * (bash -c's last command is an exec without fork) or fork first; ld.so
 * running the file itself fails too; root runs it.
 */
TEST_F_TIMEOUT(userland, no_tmp_exec_holds_under_bash_dash_and_ld_so, 300)
{
	struct decision d;
	char *ld_argv[] = { "ld.so", TMPD "/true", NULL };

	SQL_OK("%s", readme_policy_sql);
	EXPECT_EQ(126, shell_as(USER, "/bin/bash", TMPD "/true"));
	EXPECT_EQ(126, shell_as(USER, "/bin/bash", TMPD "/true; exit $?"));
	EXPECT_EQ(126, shell_as(USER, "/bin/sh", TMPD "/true"));
	EXPECT_EQ(126, shell_as(USER, "/bin/sh", "cd " TMPD " && ./true; exit $?"));
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 'no-tmp-exec' AND name = 'bash'"));
	EXPECT_STREQ(TMPD "/true", d.path);
	EXPECT_EQ(USER, d.uid);
	EXPECT_EQ(1, exec_as(USER, "/lib64/ld-linux-x86-64.so.2", ld_argv, NULL))
		TH_LOG("ld.so ran a program under /tmp for a user");
	/* root may; the user runs what is not under /tmp */
	EXPECT_EQ(0, shell_as(0, "/bin/bash", TMPD "/true"));
	EXPECT_EQ(0, shell_as(USER, "/bin/bash", "/usr/bin/true"));
	EXPECT_EQ(0, shell_as(USER, "/bin/sh", "true"));	/* dash's builtin: no exec at all */
}

/* shadow: coreutils' cat is refused /etc/shadow, the real passwd reads it. */
TEST_F_TIMEOUT(userland, shadow_is_for_the_real_passwd_only, 300)
{
	struct decision d;

	SQL_OK("%s", readme_policy_sql);
	EXPECT_EQ(1, shell_as(0, "/bin/sh", "cat /etc/shadow >/dev/null"));
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 'shadow'"));
	EXPECT_STREQ("cat", d.name);
	EXPECT_STREQ("/etc/shadow", d.path);
	/* passwd -S reads root's entry from /etc/shadow */
	EXPECT_EQ(0, shell_as(0, "/bin/sh", "passwd -S root | grep -q '^root '"));
	EXPECT_EQ(0, shell_as(0, "/bin/sh", "cat /etc/passwd >/dev/null"));
}

/* watch-ssh: bash's /dev/tcp reaches the real sshd (its banner), and the connect is recorded. */
TEST_F_TIMEOUT(userland, watch_ssh_records_a_real_ssh_connection, 300)
{
	struct decision d;

	ASSERT_EQ(0, system("ssh-keygen -A >/dev/null 2>&1; systemctl start ssh 2>/dev/null || "
			    "{ mkdir -p /run/sshd && /usr/sbin/sshd; }"));
	SQL_OK("%s", readme_policy_sql);
	EXPECT_EQ(0, shell_as(0, "/bin/bash", "for i in 1 2 3 4 5 6 7 8 9 10; do "
			      "exec 3<>/dev/tcp/127.0.0.1/22 && break; sleep 1; done; "
			      "head -c 4 <&3 | grep -q SSH-"));
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 'watch-ssh'"));
	EXPECT_STREQ("audit", d.verdict);
	EXPECT_STREQ("bash", d.name);
	EXPECT_EQ(22, d.port);
}

/*
 * Scheduling real nginx: a rule on its executable sets its master and
 * workers at COMMIT; a restarted nginx (a new exec) gets it from the kernel
 * and its workers inherit it; UPDATE processes changes every nginx process.
 * A rule on dash applies to `sh -c`, whose shell sees it in its own /proc entry.
 */
TEST_F_TIMEOUT(userland, sched_rules_and_updates_reach_real_nginx_and_dash, 300)
{
	pid_t pids[16];
	int n;

	SQL_OK("INSERT INTO sched_rules(name, condition, nice, sched_policy) VALUES "
	       "('web-batch', 'exe = ''" NGINX "''', 5, 'batch')");
	n = nginx_pids(pids, 16);
	ASSERT_LE(3, n);
	for (int i = 0; i < n; i++) {
		EXPECT_EQ(5, NICE(pids[i])) TH_LOG("nginx pid %d at COMMIT", pids[i]);
		EXPECT_EQ(3, POLICY(pids[i])) TH_LOG("nginx pid %d", pids[i]);
	}
	nginx_stop();
	ASSERT_EQ(0, nginx_start());
	n = nginx_pids(pids, 16);
	ASSERT_LE(3, n);
	for (int i = 0; i < n; i++) {
		EXPECT_EQ(5, NICE(pids[i])) TH_LOG("nginx pid %d after a restart", pids[i]);
		EXPECT_EQ(3, POLICY(pids[i])) TH_LOG("nginx pid %d", pids[i]);
	}

	SQL_OK("DELETE FROM sched_rules");
	SQL_OK("UPDATE processes SET nice = 2 WHERE path = '" NGINX "'");
	for (int i = 0; i < n; i++) {
		EXPECT_EQ(2, NICE(pids[i])) TH_LOG("nginx pid %d after UPDATE", pids[i]);
	}

	SQL_OK("INSERT INTO sched_rules(name, condition, nice) VALUES "
	       "('dash-7', 'exe = ''/usr/bin/dash''', 7)");
	EXPECT_EQ(7, shell_as(0, "/bin/sh", "exit $(cut -d' ' -f19 /proc/$$/stat)"));
	EXPECT_EQ(0, shell_as(0, "/bin/bash", "exit $(cut -d' ' -f19 /proc/$$/stat)"));
}

TEST_HARNESS_MAIN
