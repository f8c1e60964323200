/* SPDX-License-Identifier: GPL-2.0 */
/* fleet_side.h - a real nats-server and simulated fleet hosts, started for a test or a benchmark. */
#ifndef TESTS_HOST_FLEET_SIDE_H
#define TESTS_HOST_FLEET_SIDE_H

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double fleet_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run @argv with stdout and stderr appended to @out; its pid. */
static inline pid_t fleet_spawn(char *const argv[], const char *out)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/*
 * nats-server with JetStream on @port of 127.0.0.1 (NULL: a random one), its
 * store and log in @dir; its URL in @url; with @accounts (configuration text:
 * accounts, users, permissions; then on a random port), from a configuration
 * file. The pid, or -1 when it did not start in 10 s.
 */
static inline pid_t fleet_start_nats_on(const char *dir, const char *accounts, const char *port,
					char *url, size_t size)
{
	char log[PATH_MAX], store[PATH_MAX], conf[PATH_MAX], line[512];
	double t0 = fleet_now_s();
	pid_t pid;

	snprintf(log, sizeof(log), "%s/nats.log", dir);
	unlink(log);	/* (a restart's "ready" is its own) */
	snprintf(store, sizeof(store), "%s/js", dir);
	if (accounts) {
		FILE *f;

		snprintf(conf, sizeof(conf), "%s/nats.conf", dir);
		f = fopen(conf, "w");
		if (!f)
			return -1;
		fprintf(f, "host: 127.0.0.1\nport: -1\njetstream { store_dir: \"%s\" }\n%s\n",
			store, accounts);
		fclose(f);
		pid = fleet_spawn((char *const[]){ "nats-server", "-c", conf, "-l", log, NULL },
				  "/dev/null");
	} else {
		pid = fleet_spawn((char *const[]){ "nats-server", "-js", "-a", "127.0.0.1", "-p",
						   (char *)(port ? port : "-1"), "-sd", store, "-l", log,
						   NULL },
				  "/dev/null");
	}
	while (fleet_now_s() - t0 < 10) {
		FILE *f = fopen(log, "r");
		int listening = 0;

		while (f && fgets(line, sizeof(line), f)) {
			char *p = strstr(line, "Listening for client connections on 127.0.0.1:");

			if (p)
				listening = atoi(strrchr(p, ':') + 1);
			if (listening && strstr(line, "Server is ready")) {
				fclose(f);
				snprintf(url, size, "nats://127.0.0.1:%d", listening);
				return pid;
			}
		}
		if (f)
			fclose(f);
		usleep(20000);
	}
	return -1;
}

/*
 * build/tests/fleet_sim (found from @bin_dir, this program's directory under
 * build/) with @hosts hosts PREFIX<first>..., output in @dir/sim-PREFIX.log,
 * following the fleet policy into @dir/policy/<host>.
 */
static inline pid_t fleet_start_sim(const char *sim, const char *dir, const char *url,
				    const char *prefix, int first, int hosts, const char *labels,
				    int procs, int heartbeat_ms)
{
	char out[PATH_MAX], pol[PATH_MAX], n[16], k[16], p[16], hb[16];

	snprintf(out, sizeof(out), "%s/sim-%s.log", dir, prefix);
	snprintf(pol, sizeof(pol), "%s/policy", dir);
	snprintf(n, sizeof(n), "%d", hosts);
	snprintf(k, sizeof(k), "%d", first);
	snprintf(p, sizeof(p), "%d", procs);
	snprintf(hb, sizeof(hb), "%d", heartbeat_ms);
	return fleet_spawn((char *const[]){ (char *)sim, "--url", (char *)url, "--hosts", n,
					    "--prefix", (char *)prefix, "--first", k, "--procs", p,
					    "--heartbeat-ms", hb, "--labels",
					    (char *)(labels ? labels : ""), "--policy", pol, NULL }, out);
}

static inline pid_t fleet_start_nats_conf(const char *dir, const char *accounts, char *url,
					  size_t size)
{
	return fleet_start_nats_on(dir, accounts, NULL, url, size);
}

static inline pid_t fleet_start_nats(const char *dir, char *url, size_t size)
{
	return fleet_start_nats_conf(dir, NULL, url, size);
}

#endif /* TESTS_HOST_FLEET_SIDE_H */
