// SPDX-License-Identifier: GPL-2.0
/*
 * lineage_helper.c - the attacker's moves test_lineage makes: programs that
 * exec into a matching name, rename or change uid and fork at once, double
 * forks, a holder that forks on command. Copied under other names (nginx,
 * target) so that comm and exe are what the rules name.
 *
 *   (no arguments)            exit 0: the harmless target
 *   try TARGET                fork; the child execs TARGET; exit 0 if the exec
 *                             was refused with EPERM, 1 if it ran, 2 on error
 *   race NGINX TARGET N       N times: fork, exec NGINX with "try TARGET" (a
 *                             program that becomes 'nginx' and spawns at once);
 *                             prints "ran R denied D" and exits 0 if R == 0
 *   rename NAME TARGET        prctl(PR_SET_NAME, NAME), then "try TARGET" in-process
 *   setuid UID TARGET         setuid(UID), then "try TARGET"
 *   dfork TARGET N            N double forks: each grandchild, once reparented,
 *                             tries to exec TARGET and reports on a pipe; prints
 *                             "ran R denied D", exits 0 if R == 0
 *   hold                      prints its pid, then reads commands from stdin,
 *                             one per line, and answers each with one line:
 *                             "child TARGET" forks a waiter and prints its pid,
 *                             "orphan TARGET" double-forks one (reparented to
 *                             init); a waiter, on SIGUSR1, tries TARGET and
 *                             writes the result (0 refused, 1 ran) to
 *                             RESULT_DIR/<its pid>; "dfork TARGET N" and
 *                             "try TARGET" as above
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESULT_DIR	"/tmp/dbos-lineage"
#define EXEC_DENIED	77	/* a child's exit code: execve failed with EPERM */
#define EXEC_FAILED	78	/* execve failed otherwise */

/* Fork; the child execs @target. 0: refused with EPERM, 1: it ran, 2: error. */
static int try_exec(const char *target)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 2;
	if (pid == 0) {
		execl(target, target, (char *)NULL);
		_exit(errno == EPERM ? EXEC_DENIED : EXEC_FAILED);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 2;
	if (WEXITSTATUS(status) == EXEC_DENIED)
		return 0;
	return WEXITSTATUS(status) == EXEC_FAILED ? 2 : 1;
}

static int race(const char *nginx, const char *target, int n)
{
	int ran = 0, denied = 0, err = 0;

	for (int i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return 2;
		if (pid == 0) {
			execl(nginx, "nginx", "try", target, (char *)NULL);
			_exit(2);
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
			err++;
		else if (WEXITSTATUS(status) == 0)
			denied++;
		else if (WEXITSTATUS(status) == 1)
			ran++;
		else
			err++;
	}
	printf("ran %d denied %d errors %d\n", ran, denied, err);
	return ran || err ? 1 : 0;
}

/* @n double forks whose grandchildren try @target once reparented; results on a pipe. */
static int dfork(const char *target, int n, FILE *out)
{
	int ran = 0, denied = 0, err = 0, p[2];
	char c;

	if (pipe(p))
		return 2;
	for (int i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return 2;
		if (pid == 0) {
			pid_t mid = getpid();

			close(p[0]);
			if (fork() == 0) {
				int r;

				while (getppid() == mid)
					usleep(100);	/* until reparented */
				r = try_exec(target);
				c = r == 0 ? 'D' : r == 1 ? 'R' : 'E';
				if (write(p[1], &c, 1) != 1)
					_exit(2);
				_exit(0);
			}
			_exit(0);	/* the grandchild is reparented */
		}
		waitpid(pid, &status, 0);
	}
	close(p[1]);
	while (read(p[0], &c, 1) == 1) {
		ran += c == 'R';
		denied += c == 'D';
		err += c == 'E';
	}
	close(p[0]);
	fprintf(out, "ran %d denied %d errors %d\n", ran, denied, err);
	fflush(out);
	return ran || err || denied != n ? 1 : 0;
}

static const char *usr1_target;

/* SIGUSR1 in a waiter: try the target, write the result where the test looks. */
static void on_usr1(int sig)
{
	char path[64], c = '0' + try_exec(usr1_target);
	int fd;

	snprintf(path, sizeof(path), RESULT_DIR "/%d", getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0 && write(fd, &c, 1) == 1)
		close(fd);
	_exit(0);
}

/* A child (or, @orphan, a grandchild reparented to init) waiting for SIGUSR1: its pid. */
static pid_t waiter(const char *target, int orphan)
{
	int p[2];
	pid_t pid, got = -1;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (orphan && fork() != 0)
			_exit(0);
		usr1_target = target;
		signal(SIGUSR1, on_usr1);
		got = getpid();
		if (write(p[1], &got, sizeof(got)) != sizeof(got))
			_exit(2);
		close(p[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	if (read(p[0], &got, sizeof(got)) != sizeof(got))
		got = -1;
	close(p[0]);
	if (orphan)
		waitpid(pid, NULL, 0);
	return got;
}

static int hold(void)
{
	char line[512], target[256];
	int n;

	printf("%d\n", getpid());
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "child %255s", target) == 1 ||
		    sscanf(line, "orphan %255s", target) == 1) {
			printf("%d\n", waiter(target, line[0] == 'o'));
		} else if (sscanf(line, "dfork %255s %d", target, &n) == 2) {
			dfork(target, n, stdout);
		} else if (sscanf(line, "try %255s", target) == 1) {
			printf("%d\n", try_exec(target));
		} else {
			printf("?\n");
		}
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 0;
	if (!strcmp(argv[1], "try") && argc == 3)
		return try_exec(argv[2]);
	if (!strcmp(argv[1], "race") && argc == 5)
		return race(argv[2], argv[3], atoi(argv[4]));
	if (!strcmp(argv[1], "rename") && argc == 4) {
		prctl(PR_SET_NAME, argv[2]);
		return try_exec(argv[3]);
	}
	if (!strcmp(argv[1], "setuid") && argc == 4) {
		if (setuid(atoi(argv[2])))
			return 2;
		return try_exec(argv[3]);
	}
	if (!strcmp(argv[1], "dfork") && argc == 4)
		return dfork(argv[2], atoi(argv[3]), stdout);
	if (!strcmp(argv[1], "hold"))
		return hold();
	fprintf(stderr, "lineage_helper: bad arguments\n");
	return 2;
}
