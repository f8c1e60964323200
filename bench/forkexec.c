// SPDX-License-Identifier: GPL-2.0
/* forkexec.c - times a fork+exec+exit+wait loop (the cost dbos adds to process churn). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Usage: forkexec ITERATIONS [PROGRAM]
 *        forkexec --for SECONDS [PROGRAM]
 * Prints "iterations N seconds S usec_per_iter U".
 */
int main(int argc, char **argv)
{
	const char *prog = "/bin/true";
	double limit = 0, start, end;
	long n = 1000, i;

	if (argc > 2 && !strcmp(argv[1], "--for")) {
		limit = atof(argv[2]);
		n = -1;
		if (argc > 3)
			prog = argv[3];
	} else {
		if (argc > 1)
			n = atol(argv[1]);
		if (argc > 2)
			prog = argv[2];
	}
	start = now_sec();
	for (i = 0; n < 0 || i < n; i++) {
		pid_t pid = fork();
		int status;

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			execl(prog, prog, (char *)NULL);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "child failed (%s)\n", strerror(errno));
			return 1;
		}
		if (limit > 0 && (i & 15) == 0 && now_sec() - start >= limit) {
			i++;
			break;
		}
	}
	end = now_sec();
	printf("iterations %ld seconds %.3f usec_per_iter %.1f\n", i, end - start,
	       (end - start) * 1e6 / i);
	return 0;
}
