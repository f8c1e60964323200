// SPDX-License-Identifier: GPL-2.0
/* schedctl.c - scheduling benchmark (in the VM): UPDATE processes over live sleepers, and a fork/exec storm with and without a sched rule, with the exec -> rule in force latency. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dbos_client.h"

#define PROBE		"/dbos/tests/bench_probe"
#define RULE		"bench-storm"

struct probe_rep {		/* as bench/schedprobe.c writes it */
	int32_t nice;
	int32_t ok;
	int64_t lat_ns;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct dbos_conn *conn(void)
{
	char *err = NULL;
	struct dbos_conn *c = dbos_connect(NULL, &err);

	if (!c) {
		fprintf(stderr, "schedctl: %s\n", err ? err : "cannot connect");
		exit(1);
	}
	return c;
}

/* Run @sql; 0, or -1 with the message printed (prefixed by @what) when @what. */
static int run(struct dbos_conn *c, const char *sql, const char *what)
{
	char *err = NULL;

	if (!dbos_query(c, sql, NULL, NULL, &err))
		return 0;
	if (what)
		printf("%s unavailable: %.300s\n", what, err ? err : "?");
	free(err);
	return -1;
}

static int first_int(void *arg, int ncol, const struct dbos_value *v)
{
	*(int64_t *)arg = ncol && v[0].type == DBOS_T_INT ? v[0].i : -1;
	return 0;
}

/* The first column of the first row of @sql as an integer; -1 on error or NULL. */
static int64_t q_int(struct dbos_conn *c, const char *sql)
{
	static const struct dbos_callbacks cb = { .on_row = first_int };
	int64_t v = -1;
	char *err = NULL;

	if (dbos_query(c, sql, &cb, &v, &err)) {
		free(err);
		return -1;
	}
	return v;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t pct(int64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return n ? v[i < n ? i : n - 1] : 0;
}

/* ---- UPDATE processes over live sleepers ---- */

static pid_t *sleepers(int n)
{
	pid_t *p = calloc((size_t)n, sizeof(*p));

	for (int i = 0; p && i < n; i++) {
		p[i] = fork();
		if (p[i] < 0) {
			perror("fork");
			exit(1);
		}
		if (!p[i]) {
			for (;;)
				pause();
		}
	}
	return p;
}

static void reap(pid_t *p, int n)
{
	for (int i = 0; i < n; i++)
		kill(p[i], SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(p[i], NULL, 0);
	free(p);
}

/* "pid IN (...)" list of the first @k sleepers. */
static char *pid_list(const pid_t *p, int k)
{
	char *s = malloc((size_t)k * 12 + 1);
	size_t n = 0;

	for (int i = 0; s && i < k; i++)
		n += (size_t)sprintf(s + n, "%s%d", i ? "," : "", p[i]);
	return s;
}

/*
 * update NPROCS SECONDS SIZE...: NPROCS sleepers; for each SIZE, statements
 * "UPDATE processes SET nice = 1 or 2 WHERE pid IN (SIZE of them)" for
 * SECONDS; rows changed per second, statement latency, and a check against
 * getpriority() that the kernel has the last value.
 */
static int update_bench(int n, double secs, char **sizes, int nsizes)
{
	struct dbos_conn *c = conn();
	pid_t *p = sleepers(n);
	char *all = pid_list(p, n), *sql = malloc((size_t)n * 12 + 128);
	int64_t t0 = now_ns(), seen = 0;

	/* the table shows them once the mirror committed their FORKs */
	snprintf(sql, (size_t)n * 12 + 128, "SELECT count(*) FROM processes WHERE pid IN (%s)", all);
	while ((seen = q_int(c, sql)) != n && now_ns() - t0 < 10000000000LL)
		usleep(10000);
	if (seen != n) {
		printf("sched_update unavailable: %lld of %d sleepers in processes\n", (long long)seen, n);
		reap(p, n);
		return 1;
	}
	for (int s = 0; s < nsizes; s++) {
		int k = atoi(sizes[s]), stmts = 0, bad = 0, cap = 1 << 16;
		int64_t *lat = malloc(sizeof(*lat) * (size_t)cap), rows = 0, start, el;
		char *list;

		if (k < 1 || k > n)
			k = n;
		list = pid_list(p, k);
		start = now_ns();
		do {
			int v = 1 + stmts % 2;
			int64_t a = now_ns();

			snprintf(sql, (size_t)n * 12 + 128,
				 "UPDATE processes SET nice = %d WHERE pid IN (%s)", v, list);
			if (run(c, sql, stmts ? "sched_update (a later statement)" : "sched_update"))
				goto out;
			if (stmts < cap)
				lat[stmts] = now_ns() - a;
			rows += dbos_changes(c);
			stmts++;
		} while (now_ns() - start < (int64_t)(secs * 1e9));
		el = now_ns() - start;
		for (int i = 0; i < k; i++) {
			int got = getpriority(PRIO_PROCESS, (id_t)p[i]);

			if (got != 1 + (stmts - 1) % 2 && !bad++)
				fprintf(stderr, "schedctl: pid %d (target %d of %d) has nice %d, not %d\n",
					p[i], i, k, got, 1 + (stmts - 1) % 2);
		}
		if (stmts > cap)
			stmts = cap;
		qsort(lat, (size_t)stmts, sizeof(*lat), cmp_i64);
		printf("sched_update_rows_per_sec_stmt%d %.0f (%lld rows, %d statements of %d rows in %.2f s)\n",
		       k, (double)rows * 1e9 / (double)el, (long long)rows, stmts, k, el / 1e9);
		printf("sched_update_stmt_us_p50_stmt%d %.0f\n", k, pct(lat, (size_t)stmts, 0.5) / 1e3);
		printf("sched_update_stmt_us_p99_stmt%d %.0f\n", k, pct(lat, (size_t)stmts, 0.99) / 1e3);
		printf("sched_update_kernel_agrees_stmt%d %s (getpriority() of the %d targets: %d differ)\n",
		       k, bad ? "no" : "yes", k, bad);
out:
		free(list);
		free(lat);
	}
	reap(p, n);
	free(all);
	free(sql);
	dbos_close(c);
	return 0;
}

/* ---- fork/exec storm ---- */

/* One storm worker: @n times fork + execve(bench_probe) + wait; the probes report on @wfd. */
static int storm_worker(int n, int wfd)
{
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		int status;

		if (pid < 0)
			return 1;
		if (!pid) {
			char t[32];

			dup2(wfd, 3);
			snprintf(t, sizeof(t), "%lld", (long long)now_ns());
			execl(PROBE, "bench_probe", t, (char *)NULL);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			return 1;
	}
	return 0;
}

/*
 * storm LABEL ITER NICE [WORKERS]: ITER times fork + execve(bench_probe) +
 * wait, split over WORKERS processes (default 1: one at a time); each probe
 * reports its nice value at its first instruction and the time since the
 * clock_gettime() just before its execve().
 */
static int storm(const char *label, int iter, int want, int workers)
{
	int64_t *lat = malloc(sizeof(*lat) * (size_t)iter), start, el;
	int fds[2], had = 0, got = 0, other = 0, failed = 0;
	struct probe_rep r;
	char others[64] = "";

	if (workers < 1)
		workers = 1;
	if (!lat || pipe(fds)) {
		perror("schedctl");
		return 1;
	}
	start = now_ns();
	for (int w = 0; w < workers; w++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (!pid) {
			close(fds[0]);
			_exit(storm_worker(iter / workers + (w < iter % workers), fds[1]));
		}
	}
	close(fds[1]);
	while (got < iter && read(fds[0], &r, sizeof(r)) == sizeof(r)) {
		lat[got++] = r.lat_ns;
		had += r.nice == want;
		if (r.nice != want)
			other = r.nice;
	}
	for (int w = 0; w < workers; w++) {
		int status;

		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			failed++;
	}
	el = now_ns() - start;
	close(fds[0]);
	if (failed || got != iter) {
		fprintf(stderr, "schedctl: %d workers failed, %d of %d probes reported\n", failed, got, iter);
		return 1;
	}
	qsort(lat, (size_t)got, sizeof(*lat), cmp_i64);
	if (had < iter)
		snprintf(others, sizeof(others), "; others had nice %d", other);
	printf("sched_storm_execs_per_sec_%s %.0f\n", label, (double)iter * 1e9 / (double)el);
	printf("sched_storm_exec_to_main_us_p50_%s %.1f\n", label, pct(lat, (size_t)got, 0.5) / 1e3);
	printf("sched_storm_exec_to_main_us_p99_%s %.1f\n", label, pct(lat, (size_t)got, 0.99) / 1e3);
	printf("sched_storm_nice%d_at_main_%s %.4f (%d of %d execs%s)\n", want, label,
	       (double)had / iter, had, iter, others);
	printf("sched_storm_seconds_%s %.3f\n", label, el / 1e9);
	free(lat);
	return 0;
}

/* rule NICE: the storm's rule (replacing any); prints its COMMIT time. norule: remove it. */
static int rule(int nice)
{
	struct dbos_conn *c = conn();
	char sql[256];
	int64_t a;

	run(c, "DELETE FROM sched_rules WHERE name = '" RULE "'", NULL);
	snprintf(sql, sizeof(sql), "INSERT INTO sched_rules(name, condition, nice) VALUES "
		 "('" RULE "', 'name = ''bench_probe''', %d)", nice);
	a = now_ns();
	if (run(c, sql, "sched_rules")) {
		dbos_close(c);
		return 1;
	}
	printf("sched_rule_commit_ms %.2f (INSERT INTO sched_rules: stored, staged, activated)\n",
	       (now_ns() - a) / 1e6);
	printf("sched_rule_id %lld\n",
	       (long long)q_int(c, "SELECT id FROM sched_rules WHERE name = '" RULE "'"));
	dbos_close(c);
	return 0;
}

/* count RULE_ID SINCE_SEQ: sched_decisions rows of the rule at exec after a seq, once they stop growing. */
static int count(const char *id, const char *since)
{
	struct dbos_conn *c = conn();
	char sql[256];
	int64_t n = -1, prev;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM sched_decisions WHERE cause = 'exec' "
		 "AND rule_id = %s AND seq > %s", id, since);
	do {
		prev = n;
		usleep(300000);
		n = q_int(c, sql);
	} while (n != prev);
	printf("%lld\n", (long long)n);
	dbos_close(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "update"))
		return update_bench(atoi(argv[2]), atof(argv[3]), argv + 4, argc - 4);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "storm"))
		return storm(argv[2], atoi(argv[3]), atoi(argv[4]), argc == 6 ? atoi(argv[5]) : 1);
	if (argc == 3 && !strcmp(argv[1], "rule"))
		return rule(atoi(argv[2]));
	if (argc == 2 && !strcmp(argv[1], "norule"))
		return run(conn(), "DELETE FROM sched_rules WHERE name = '" RULE "'", "sched_rules") ? 1 : 0;
	if (argc == 4 && !strcmp(argv[1], "count"))
		return count(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "int")) {
		printf("%lld\n", (long long)q_int(conn(), argv[2]));
		return 0;
	}
	fprintf(stderr, "usage: schedctl update NPROCS SECONDS SIZE... | storm LABEL ITER NICE [WORKERS] |\n"
		"       rule NICE | norule | count RULE_ID SINCE_SEQ | int SQL\n");
	return 2;
}
