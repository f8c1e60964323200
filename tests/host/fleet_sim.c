// SPDX-License-Identifier: GPL-2.0
/* fleet_sim.c - simulated fleet hosts: the real fleet agent over synthetic tables, many per process. */

/*
 * fleet_sim --url URL [--hosts N] [--prefix P] [--first K] [--labels a,b]
 *           [--procs N] [--heartbeat-ms MS] [--ready FILE] [--policy DIR]
 *
 * Starts N agents (dbserver/fleet/agent.c, as dbosd runs it), hosts
 * P<K> .. P<K+N-1>, each with its own in-memory SQLite holding a synthetic
 * `processes` table (fleet_sim_row() says what is in it, so a test can
 * check every row it gets back) and the dbos_schema catalogue the
 * coordinator learns tables from. Writes FILE when every agent started;
 * on SIGTERM or SIGINT the agents leave the fleet and it exits 0.
 *
 * With --policy DIR the hosts follow the fleet policy: a host "enforces" a
 * version by writing DIR/<host> ("version N", then "<target> <name>" per
 * rule it was given), and refuses one that has a rule whose condition is
 * 'sim_fail' (its error: "simulated failure"), as dbosd refuses rules that
 * do not compile.
 *
 * With --events-per-s R --events-max M the hosts publish a history table,
 * process_events (fleet_sim.h), growing at R rows a second up to M rows
 * (R -1: all M rows at once, in a table: a benchmark's source).
 */
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbserver/fleet/agent.h"
#include "tests/host/fleet_sim.h"

static int nprocs = 20;
static double events_per_s;
static const char *const history[] = { "process_events", NULL };
static long events_max;

/* sim_events_now(): how many history rows this host has by now. */
static void events_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct timespec *t0 = sqlite3_user_data(ctx);
	struct timespec t;
	double n;

	clock_gettime(CLOCK_MONOTONIC, &t);
	n = ((double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9) * events_per_s;
	sqlite3_result_int64(ctx, n > (double)events_max ? events_max : (sqlite3_int64)n);
}

static int open_db(void *arg, sqlite3 **db, char **err)
{
	const char *host = arg;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_open_v2(":memory:", db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(*db, FLEET_SIM_SCHEMA, NULL, NULL, NULL);
	if (rc == SQLITE_OK && events_per_s < 0) {
		/* all rows at once, in a real table (the benchmark's source) */
		char sql[1024];

		snprintf(sql, sizeof(sql), "CREATE TABLE process_events(seq INTEGER PRIMARY KEY, "
			 "time INTEGER, pid INTEGER, event TEXT, args TEXT, weight REAL);"
			 "INSERT INTO process_events WITH RECURSIVE c(seq) AS (SELECT 1 UNION ALL "
			 "SELECT seq + 1 FROM c WHERE seq < %ld) SELECT seq, 1700000000 + seq, "
			 "seq %% 500, 'exec', 'run ' || seq, seq / 4.0 FROM c", events_max);
		rc = sqlite3_exec(*db, sql, NULL, NULL, NULL);
	} else if (rc == SQLITE_OK && events_per_s > 0) {
		struct timespec *t0 = malloc(sizeof(*t0));	/* lives as long as the host */

		if (t0)
			clock_gettime(CLOCK_MONOTONIC, t0);
		rc = !t0 ? SQLITE_NOMEM :
		     sqlite3_create_function_v2(*db, "sim_events_now", 0, SQLITE_UTF8, t0,
						events_now, NULL, NULL, free);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(*db, FLEET_SIM_EVENTS_VIEW, NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(*db, "INSERT INTO processes VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
					-1, &st, NULL);
	for (int k = 0; rc == SQLITE_OK && k < nprocs; k++) {
		struct fleet_sim_row r;

		fleet_sim_row(host, k, &r);
		sqlite3_bind_int64(st, 1, r.pid);
		sqlite3_bind_text(st, 2, r.name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, r.cmdline, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, r.uid);
		sqlite3_bind_int64(st, 5, r.parent);
		sqlite3_bind_int64(st, 6, r.nice);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		if (asprintf(err, "synthetic tables: %s", sqlite3_errmsg(*db)) < 0)
			*err = NULL;
		return -1;
	}
	return 0;
}

static const char *policy_dir;

static int apply_policy(void *arg, const struct fleet_rule *rules, size_t n, uint64_t version,
			uint64_t *local, char **err)
{
	const char *host = arg;
	char path[4096], tmp[4200];
	FILE *f;

	for (size_t i = 0; i < n; i++)
		if (rules[i].condition && !strcmp(rules[i].condition, "sim_fail")) {
			*err = strdup("simulated failure");
			return -1;
		}
	snprintf(path, sizeof(path), "%s/%s", policy_dir, host);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		*err = strdup("cannot write the policy file");
		return -1;
	}
	fprintf(f, "version %llu\n", (unsigned long long)version);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %s\n", rules[i].target, rules[i].name);
	if (fclose(f) || rename(tmp, path)) {
		*err = strdup("cannot write the policy file");
		return -1;
	}
	*local = version;
	return 0;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

int main(int argc, char **argv)
{
	struct fleet_agent_config cfg = { .version = "sim", .open_db = open_db };
	const char *prefix = "sim", *ready = NULL;
	int hosts = 1, first = 1;
	struct fleet_agent **agents;
	char **names;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--url"))
			cfg.nats.url = argv[i + 1];
		else if (!strcmp(argv[i], "--hosts"))
			hosts = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--prefix"))
			prefix = argv[i + 1];
		else if (!strcmp(argv[i], "--first"))
			first = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--labels"))
			cfg.labels = argv[i + 1];
		else if (!strcmp(argv[i], "--procs"))
			nprocs = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--heartbeat-ms"))
			cfg.heartbeat_ms = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--ready"))
			ready = argv[i + 1];
		else if (!strcmp(argv[i], "--policy"))
			policy_dir = argv[i + 1];
		else if (!strcmp(argv[i], "--events-per-s"))
			events_per_s = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--events-max"))
			events_max = atol(argv[i + 1]);
		else {
			fprintf(stderr, "fleet_sim: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (!cfg.nats.url || hosts < 1) {
		fprintf(stderr, "usage: fleet_sim --url URL [--hosts N] [--prefix P] [--first K] "
			"[--labels a,b] [--procs N] [--heartbeat-ms MS] [--ready FILE] "
			"[--policy DIR] [--events-per-s R --events-max M]\n");
		return 2;
	}
	if (hosts > 8) {
		/* a socket per host; libnats' shared threads, not ~5 per host */
		struct rlimit rl;

		cfg.nats.shared_threads = true;
		if (!getrlimit(RLIMIT_NOFILE, &rl)) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (policy_dir && mkdir(policy_dir, 0755) && errno != EEXIST) {
		perror(policy_dir);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	agents = calloc((size_t)hosts, sizeof(*agents));
	names = calloc((size_t)hosts, sizeof(*names));
	if (!agents || !names)
		return 1;
	for (int i = 0; i < hosts; i++) {
		char *err = NULL;

		if (asprintf(&names[i], "%s%d", prefix, first + i) < 0)
			return 1;
		cfg.host = names[i];
		cfg.open_arg = names[i];
		if (policy_dir) {
			cfg.apply_policy = apply_policy;
			cfg.policy_arg = names[i];
		}
		if (events_per_s != 0)
			cfg.events_tables = history;
		agents[i] = fleet_agent_start(&cfg, &err);
		if (!agents[i]) {
			fprintf(stderr, "fleet_sim: %s: %s\n", names[i], err);
			return 1;
		}
	}
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f)
			fclose(f);
	}
	while (!stop)
		pause();
	for (int i = 0; i < hosts; i++) {
		fleet_agent_stop(agents[i]);
		free(names[i]);
	}
	free(agents);
	free(names);
	return 0;
}
