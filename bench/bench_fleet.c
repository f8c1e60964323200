// SPDX-License-Identifier: GPL-2.0
/*
 * bench_fleet.c - fleet query latency (p50/p99) over simulated hosts on a real
 * nats-server: a one-row query and a whole-table query at 10, 100 and 1,000
 * hosts (build/tests/fleet_sim: the real agent over synthetic tables, 20
 * processes each), all on this machine; a fleet policy commit, from
 * COMMIT until every host says it enforces the new version; and history
 * rows per second from 10 hosts through dbos-fleet-sink into a real
 * PostgreSQL 15. Prints "name value" lines.
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

/* Run @cmd; its exit status (its output dropped). */
static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The number psql prints for @sql in the benchmark's PostgreSQL (-1: failed). */
static long pg_count(const char *dir, int port, const char *sql)
{
	char cmd[1024], out[64] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "psql -X -A -t -h '%s/pg' -p %d -U postgres -d postgres -c \"%s\" "
		 "2>/dev/null", dir, port, sql);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (!fgets(out, sizeof(out), f))
		out[0] = 0;
	pclose(f);
	return out[0] ? atol(out) : -1;
}

/*
 * Events/s through dbos-fleet-sink into PostgreSQL 15: @hosts simulated hosts
 * publish @rows history rows each at once; from their start until PostgreSQL
 * has every row (host publishing, JetStream, the sink's COPY and insert).
 */
static void bench_sink(const char *dir, const char *url, const char *sim, const char *bin,
		       int hosts, long rows)
{
	char cmd[2048], sink[PATH_MAX + 64], conninfo[512], n[16], m[24], log[PATH_MAX];
	int port = 40000 + (getpid() * 13) % 20000;
	long want = hosts * rows, got = 0;
	pid_t simp, sinkp;
	double t0;

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/pg' && chown postgres: '%s/pg' && chmod 755 '%s' && "
		 "cd / && runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -A trust -D "
		 "'%s/pg/data' >/dev/null 2>&1 && runuser -u postgres -- "
		 "/usr/lib/postgresql/15/bin/pg_ctl -w -D '%s/pg/data' -l '%s/pg/log' -o \"-p %d "
		 "-k '%s/pg' -c listen_addresses=''\" start >/dev/null", dir, dir, dir, dir, dir, dir,
		 port, dir);
	if (run(cmd)) {
		fprintf(stderr, "bench_fleet: PostgreSQL did not start (see %s/pg)\n", dir);
		return;
	}
	snprintf(conninfo, sizeof(conninfo), "host=%s/pg port=%d user=postgres dbname=postgres",
		 dir, port);
	snprintf(sink, sizeof(sink), "%s/dbos-fleet-sink", bin);
	snprintf(log, sizeof(log), "%s/sink.log", dir);
	sinkp = fleet_spawn((char *const[]){ sink, "--fleet", (char *)url, "--pg", conninfo, NULL },
			    log);
	snprintf(n, sizeof(n), "%d", hosts);
	snprintf(m, sizeof(m), "%ld", rows);
	t0 = fleet_now_s();
	simp = fleet_spawn((char *const[]){ (char *)sim, "--url", (char *)url, "--hosts", n,
					    "--prefix", "ev", "--events-per-s", "-1", "--events-max",
					    m, NULL }, "/dev/null");
	while (fleet_now_s() - t0 < 300 &&
	       (got = pg_count(dir, port, "SELECT count(*) FROM process_events")) < want)
		usleep(200000);
	printf("fleet_sink_%d_hosts_rows %ld\n", hosts, got);
	printf("fleet_sink_events_per_s %.0f (%d hosts x %ld rows, publish + JetStream + sink + "
	       "PostgreSQL COPY/INSERT, all on this machine)\n", got / (fleet_now_s() - t0), hosts,
	       rows);
	kill(simp, SIGTERM);
	kill(sinkp, SIGTERM);
	waitpid(simp, NULL, 0);
	waitpid(sinkp, NULL, 0);
	snprintf(cmd, sizeof(cmd), "cd / && runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl "
		 "-D '%s/pg/data' stop -m fast >/dev/null 2>&1", dir);
	run(cmd);
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
	snprintf(sim, sizeof(sim), "%s/../bin", self);
	{
		char simbin[PATH_MAX + 32];

		snprintf(simbin, sizeof(simbin), "%s/../tests/fleet_sim", self);
		bench_sink(dir, url, simbin, sim, 10, 20000);
	}
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
