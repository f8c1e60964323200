// SPDX-License-Identifier: GPL-2.0
/* fileloop.c - times open+close of one tmpfs file, and TCP connect+accept+close on loopback (what dbos adds to each). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int die(const char *what)
{
	fprintf(stderr, "fileloop: %s: %s\n", what, strerror(errno));
	return 1;
}

static int open_loop(long n, const char *path)
{
	int fd = open(path, O_CREAT | O_RDWR, 0600);

	if (fd < 0)
		return die(path);
	close(fd);
	for (long i = 0; i < n; i++) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return die("open");
		close(fd);
	}
	return 0;
}

/*
 * One thread plays both ends: connect() completes against the listener's
 * backlog, accept() takes it, and both are closed. The client closes first
 * with SO_LINGER 0 (an RST), so no TIME_WAIT piles up and ports never run out.
 */
static int tcp_loop(long n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 16) ||
	    getsockname(l, (struct sockaddr *)&a, &len))
		return die("listener");
	for (long i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0), s;

		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)))
			return die("connect");
		s = accept(l, NULL, NULL);
		if (s < 0)
			return die("accept");
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c);
		close(s);
	}
	close(l);
	return 0;
}

/*
 * Usage: fileloop open ITERATIONS [PATH]   (default PATH /tmp/fileloop.dat)
 *        fileloop tcp ITERATIONS
 * Prints "iterations N seconds S ns_per_op X".
 */
int main(int argc, char **argv)
{
	double start;
	long n;
	int ret;

	if (argc < 3 || (strcmp(argv[1], "open") && strcmp(argv[1], "tcp")) ||
	    (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: fileloop open|tcp ITERATIONS [PATH]\n");
		return 2;
	}
	start = now_sec();
	if (!strcmp(argv[1], "open"))
		ret = open_loop(n, argc > 3 ? argv[3] : "/tmp/fileloop.dat");
	else
		ret = tcp_loop(n);
	if (ret)
		return ret;
	start = now_sec() - start;
	printf("iterations %ld seconds %.3f ns_per_op %.0f\n", n, start, start * 1e9 / n);
	return 0;
}
