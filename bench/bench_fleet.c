// SPDX-License-Identifier: GPL-2.0
/*
 * bench_fleet.c - fleet query latency (p50/p99) over simulated hosts on a real
 * nats-server: a one-row query and a whole-table query at 10, 100 and 1,000
 * hosts (build/tests/fleet_sim: the real agent over synthetic tables, 20
 * processes each), all on this machine; and a fleet policy commit, from
 * COMMIT until every host says it enforces the new version. Prints "name
 * value" lines.
 *
 * Usage: bench_fleet [MAX_HOSTS] (default 1000)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbos_client.h"
#include "tests/host/fleet_side.h"

static int rows;

static int count_row(void *arg, int ncol, const struct dbos_value *v)
{
	rows++;
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Run @sql @n times; print its p50 and p99 in ms. */
static void measure(struct dbos_fleet *f, const char *name, int hosts, const char *sql, int n)
{
	static const struct dbos_callbacks cb = { .on_row = count_row };
	double *t = calloc((size_t)n, sizeof(*t));
	const char *h, *why;
	int missing = 0;
	char *err = NULL;

	for (int i = 0; i < n; i++) {
		double t0 = fleet_now_s();

		rows = 0;
		if (dbos_fleet_query(f, sql, &cb, NULL, &err)) {
			fprintf(stderr, "bench_fleet: %s\n", err);
			exit(1);
		}
		t[i] = (fleet_now_s() - t0) * 1e3;
		while (dbos_fleet_report(f, missing, &h, &why))
			missing++;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("fleet_%s_%d_hosts_p50_ms %.2f\n", name, hosts, t[n / 2]);
	printf("fleet_%s_%d_hosts_p99_ms %.2f\n", name, hosts, t[(n * 99) / 100]);
	printf("fleet_%s_%d_hosts_rows %d\n", name, hosts, rows);
	if (missing)
		printf("fleet_%s_%d_hosts_missing_reports %d\n", name, hosts, missing);
	free(t);
}

int main(int argc, char **argv)
{
	int max = argc > 1 ? atoi(argv[1]) : 1000;
	char dir[] = "/tmp/dbos-bench-fleet-XXXXXX", url[64], sim[PATH_MAX + 32], self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t nats, sims[8];
	int nsims = 0, started = 0;

	if (len <= 0 || !mkdtemp(dir))
		return 1;
	self[len] = 0;
	*strrchr(self, '/') = 0;	/* build/bench */
	snprintf(sim, sizeof(sim), "%s/../tests/fleet_sim", self);
	nats = fleet_start_nats(dir, url, sizeof(url));
	if (nats < 0) {
		fprintf(stderr, "bench_fleet: nats-server did not start (see %s)\n", dir);
		return 1;
	}
	for (int hosts = 10; hosts <= max && nsims < 8; hosts *= 10) {
		struct dbos_fleet_options o = { .url = url, .timeout_ms = 30000 };
		struct dbos_fleet *f = NULL;
		char prefix[16], *err = NULL;
		double t0 = fleet_now_s();
		int live = 0;

		/* the hosts beyond those already running, in one more process */
		snprintf(prefix, sizeof(prefix), "s%d-", hosts);
		sims[nsims] = fleet_start_sim(sim, dir, url, prefix, 1, hosts - started, NULL, 20,
					      5000);
		if (sims[nsims++] <= 0)
			break;
		started = hosts;
		while (live < hosts && fleet_now_s() - t0 < 120) {
			dbos_fleet_close(f);
			f = dbos_fleet_connect(&o, &err);
			if (f)
				dbos_fleet_hosts(f, &live);
			free(err);
			err = NULL;
			usleep(200000);
		}
		if (!f || live < hosts) {
			fprintf(stderr, "bench_fleet: only %d of %d hosts joined\n", live, hosts);
			break;
		}
		printf("fleet_join_%d_hosts_s %.2f\n", hosts, fleet_now_s() - t0);
		measure(f, "one_row", hosts, "SELECT count(*) FROM processes WHERE pid = 1",
			hosts >= 1000 ? 50 : 200);
		measure(f, "all_rows", hosts, "SELECT host, pid, name, cmdline FROM processes",
			hosts >= 1000 ? 20 : 100);
		measure(f, "group_by_host", hosts,
			"SELECT host, count(*), max(nice) FROM processes GROUP BY host",
			hosts >= 1000 ? 20 : 100);
		/* each run a new version (the condition flips), enforced everywhere */
		if (dbos_fleet_query(f, "DELETE FROM fleet_policies; INSERT INTO fleet_policies"
				     "(name, hook, action) VALUES ('bench', 'kill', 'audit')",
				     NULL, NULL, &err)) {
			fprintf(stderr, "bench_fleet: %s\n", err);
			return 1;
		}
		measure(f, "policy_commit_to_enforced", hosts,
			"UPDATE fleet_policies SET condition = CASE WHEN condition IS NULL "
			"THEN 'pid = 1' ELSE NULL END", hosts >= 1000 ? 10 : 40);
		dbos_fleet_close(f);
	}
	printf("fleet_osquery_fleet_poll_interval_s 10-60 (Fleet's documented live-query "
	       "check-in, for comparison)\n");
	for (int i = 0; i < nsims; i++) {
		if (sims[i] > 0) {
			kill(sims[i], SIGTERM);
			waitpid(sims[i], NULL, 0);
		}
	}
	kill(nats, SIGTERM);
	waitpid(nats, NULL, 0);
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_fleet: could not remove %s\n", dir);
	}
	return 0;
}
