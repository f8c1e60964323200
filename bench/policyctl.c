// SPDX-License-Identifier: GPL-2.0
/* policyctl.c - loads N non-matching policy rules per hook, and times COMMIT -> enforced in the kernel (in the VM). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "dbos_client.h"

#define PROBE	"/tmp/policyctl.probe"

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct dbos_conn *conn(void)
{
	char *err = NULL;
	struct dbos_conn *c = dbos_connect(NULL, &err);

	if (!c) {
		fprintf(stderr, "policyctl: %s\n", err ? err : "cannot connect");
		exit(1);
	}
	return c;
}

static void run(struct dbos_conn *c, const char *sql)
{
	char *err = NULL;

	if (dbos_query(c, sql, NULL, NULL, &err)) {
		fprintf(stderr, "policyctl: %.200s: %s\n", sql, err ? err : "?");
		exit(1);
	}
}

/* Append to a growing buffer. */
static void add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n >= 0 && *len + n < *cap)
			break;
		*cap = *cap * 2 + n + 1;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			exit(1);
	}
	*len += n;
}

/*
 * Rule i of each hook, in the compilable forms, never matching what the
 * benchmark does (exec of /bin/busybox, open of /tmp/fileloop.dat, connect to
 * 127.0.0.1 on an ephemeral port >= 32768).
 */
static void rule(char **b, size_t *len, size_t *cap, const char *hook, int i)
{
	const char *sep = *len && (*b)[*len - 1] == ')' ? ", " : "";

	add(b, len, cap, "%s('bench-%s-%d', '%s', 'deny', ", sep, hook, i, hook);
	if (!strcmp(hook, "connect")) {
		switch (i % 3) {
		case 0: add(b, len, cap, "'remote_port = %d')", 20000 + i); break;
		case 1: add(b, len, cap, "'remote_address = ''10.%d.%d.1''')", i / 250, i % 250); break;
		default: add(b, len, cap, "'remote_port IN (%d, %d) AND family = ''inet''')",
			     21000 + i, 22000 + i); break;
		}
		return;
	}
	switch (i % 4) {
	case 0: add(b, len, cap, "'path = ''/opt/bench/%s/%d''')", hook, i); break;
	case 1: add(b, len, cap, "'path GLOB ''/opt/bench/%s/d%d/*''')", hook, i); break;
	case 2: add(b, len, cap, "'path = ''/opt/bench/%s/u%d'' AND uid = %d')", hook, i, 5000 + i); break;
	default: add(b, len, cap, "'name = ''bn%d'' AND path GLOB ''/opt/bench/%s/n%d*''')",
		     i, hook, i); break;
	}
}

/* Replace the policy by @n rules on each of exec, open and connect: one commit. */
static int load_rules(int n)
{
	static const char *const hooks[] = { "exec", "open", "connect" };
	struct dbos_conn *c = conn();
	size_t len = 0, cap = 1 << 16;
	char *b = malloc(cap);
	long long t;

	if (!b)
		return 1;
	add(&b, &len, &cap, "BEGIN; DELETE FROM policies; ");
	for (int h = 0; h < 3 && n > 0; h++) {
		add(&b, &len, &cap, "INSERT INTO policies(name, hook, action, condition) VALUES ");
		for (int i = 0; i < n; i++)
			rule(&b, &len, &cap, hooks[h], i);
		add(&b, &len, &cap, "; ");
	}
	add(&b, &len, &cap, "COMMIT");
	t = now_ns();
	run(c, b);
	printf("policy_load_rules%d_commit_ms %.1f (%d rules on each of exec, open, connect)\n", n,
	       (now_ns() - t) / 1e6, n);
	free(b);
	dbos_close(c);
	return 0;
}

/* Shared with the probe: what it waits for, and when it saw it. */
struct probe {
	volatile int want;	/* 0 nothing, 1 the first EPERM, 2 the first success */
	volatile int quit;
	volatile long long seen_ns;
};

/* Tight loop: open+close PROBE; note the time of the first result the parent asked for. */
static void probe_loop(struct probe *p)
{
	while (!p->quit) {
		int fd = open(PROBE, O_RDONLY), e = errno;
		long long t = now_ns();

		if (fd >= 0)
			close(fd);
		if ((p->want == 1 && fd < 0 && e == EPERM) || (p->want == 2 && fd >= 0)) {
			p->seen_ns = t;
			__atomic_store_n(&p->want, 0, __ATOMIC_SEQ_CST);
		}
	}
	_exit(0);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static double pct(long long *v, int n, double p)
{
	int i = (int)(p * (n - 1) + 0.5);

	return v[i] / 1e3;
}

/* Wait (polling) until the probe saw what it was asked for; its time, or -1 5 s after @since. */
static long long wait_probe(struct probe *p, long long since)
{
	while (__atomic_load_n(&p->want, __ATOMIC_SEQ_CST))
		if (now_ns() - since > 5000000000LL) {
			p->want = 0;
			return -1;
		}
		else
			usleep(50);
	return p->seen_ns;
}

/*
 * As "lagprobe" (a copy of this program under that name, just exec'ed):
 * open PROBE until it is refused; the nanoseconds that took, on stdout.
 */
static int lagprobe(void)
{
	long long t0 = now_ns();
	int fd;

	while ((fd = open(PROBE, O_RDONLY)) >= 0 || errno != EPERM) {
		if (fd >= 0)
			close(fd);
		if (now_ns() - t0 > 10000000000LL) {
			printf("-1\n");
			return 1;
		}
		usleep(100);
	}
	printf("%lld\n", now_ns() - t0);
	return 0;
}

/*
 * The refresh lag of a server-side set: with a deny rule on PROBE for the
 * processes named lagprobe (a set dbosd keeps from the mirror), @n times:
 * exec @prog (a copy of this program named lagprobe) and time until its
 * open of PROBE is refused: how long a process that comes to match runs
 * uncovered. (A lineage condition has no such window: the kernel sets the
 * mark at the exec, test_lineage.)
 */
static int setlag(int n, const char *prog)
{
	long long *lag = calloc(n, sizeof(*lag));
	struct dbos_conn *c = conn();
	char line[64], sql[512];
	int fd, ok = 0;

	fd = open(PROBE, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (!lag || fd < 0)
		return 1;
	close(fd);
	snprintf(sql, sizeof(sql),
		 "BEGIN; DELETE FROM policies; INSERT INTO policies(name, hook, action, condition) "
		 "VALUES ('lag', 'open', 'deny', 'path = ''%s'' AND pid IN (SELECT pid FROM "
		 "processes WHERE name = ''lagprobe'')'); COMMIT", PROBE);
	run(c, sql);
	for (int i = 0; i < n; i++) {
		FILE *f;
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "%s lagprobe", prog);
		f = popen(cmd, "r");
		if (f && fgets(line, sizeof(line), f) && atoll(line) > 0)
			lag[ok++] = atoll(line);
		if (f)
			pclose(f);
	}
	run(c, "DELETE FROM policies");
	dbos_close(c);
	if (!ok)
		return 1;
	qsort(lag, ok, sizeof(*lag), cmp_ll);
	printf("policy_set_lag_us_p50 %.0f (exec -> covered by a server-side set; %d of %d within 10 s)\n",
	       pct(lag, ok, 0.5), ok, n);
	printf("policy_set_lag_us_p99 %.0f\n", pct(lag, ok, 0.99));
	return 0;
}

/*
 * @n times: commit a deny rule for PROBE and measure until the probe's open
 * first fails (enforced), and the commit's round trip; then delete it and
 * wait until the probe's open works again.
 */
static int latency(int n, const char *label)
{
	struct probe *p = mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long long *enf = calloc(n, sizeof(*enf)), *rt = calloc(n, sizeof(*rt));
	long long *off = calloc(n, sizeof(*off));
	struct dbos_conn *c = conn();
	int fd, ok = 0, before_ack = 0;
	char sql[512];
	pid_t kid;

	fd = open(PROBE, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (p == MAP_FAILED || !enf || !rt || !off || fd < 0)
		return 1;
	close(fd);
	run(c, "DELETE FROM policies WHERE name = 'bench-latency'");
	kid = fork();
	if (kid == 0)
		probe_loop(p);
	usleep(100000);
	/* LABEL lineage: the rule also names the probe's lineage (every task descends from init) */
	snprintf(sql, sizeof(sql), "INSERT INTO policies(name, hook, action, condition) VALUES "
		 "('bench-latency', 'open', 'deny', 'path = ''" PROBE "''%s')",
		 strcmp(label, "lineage") ? "" :
		 " AND pid IN (SELECT pid FROM process_ancestors WHERE ancestor = 1)");
	for (int i = 0; i < n; i++) {
		long long t0, t1, seen;

		usleep(20000);
		p->want = 1;
		t0 = now_ns();
		run(c, sql);
		t1 = now_ns();
		seen = wait_probe(p, t1);
		if (seen < 0) {
			fprintf(stderr, "policyctl: the rule was not enforced 5 s after COMMIT returned\n");
			break;
		}
		enf[ok] = seen - t0;
		rt[ok] = t1 - t0;
		before_ack += seen <= t1;
		usleep(20000);
		p->want = 2;
		t0 = now_ns();
		run(c, "DELETE FROM policies WHERE name = 'bench-latency'");
		seen = wait_probe(p, now_ns());
		if (seen < 0) {
			fprintf(stderr, "policyctl: the rule was not lifted 5 s after DELETE returned\n");
			break;
		}
		off[ok++] = seen - t0;
	}
	p->quit = 1;
	waitpid(kid, NULL, 0);
	dbos_close(c);
	unlink(PROBE);
	if (!ok)
		return 1;
	qsort(enf, ok, sizeof(*enf), cmp_ll);
	qsort(rt, ok, sizeof(*rt), cmp_ll);
	qsort(off, ok, sizeof(*off), cmp_ll);
	printf("policy_commits_%s %d\n", label, ok);
	printf("policy_commit_to_enforced_us_p50_%s %.0f\n", label, pct(enf, ok, 0.5));
	printf("policy_commit_to_enforced_us_p99_%s %.0f (target < 1000)\n", label, pct(enf, ok, 0.99));
	printf("policy_commit_to_enforced_us_max_%s %.0f\n", label, pct(enf, ok, 1));
	printf("policy_commit_roundtrip_us_p50_%s %.0f\n", label, pct(rt, ok, 0.5));
	printf("policy_commit_roundtrip_us_p99_%s %.0f\n", label, pct(rt, ok, 0.99));
	printf("policy_delete_to_lifted_us_p50_%s %.0f\n", label, pct(off, ok, 0.5));
	printf("policy_delete_to_lifted_us_p99_%s %.0f\n", label, pct(off, ok, 0.99));
	printf("policy_enforced_before_commit_returned_%s %d of %d\n", label, before_ack, ok);
	return ok == n ? 0 : 1;
}

/*
 * Each loaded BPF program named dbos_*: "prog NAME run_cnt N run_time_ns T"
 * (the kernel counts them while /proc/sys/kernel/bpf_stats_enabled is 1).
 */
static int progstats(void)
{
	__u32 id = 0;

	while (!bpf_prog_get_next_id(id, &id)) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !strncmp(info.name, "dbos_", 5))
			printf("prog %s run_cnt %llu run_time_ns %llu\n", info.name,
			       (unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns);
		close(fd);
	}
	return 0;
}

/*
 * Usage: policyctl rules N            replace the policy by N rules on each of exec, open, connect
 *        policyctl latency N [LABEL]  N commits of a deny rule (beside the rules in place):
 *                                     COMMIT -> enforced, p50/p99; LABEL ends each figure's name
 *        policyctl progstats          run counts and times of the dbos_* BPF programs
 *        policyctl setlag N PROG      N execs of PROG (this program copied as lagprobe) that
 *                                     come to match a server-side set: exec -> covered, p50/p99
 *        policyctl lagprobe           (as PROG) open the probe until refused; print the ns
 * Connects to $DBOS_SOCKET (default /run/dbos/dbosd.sock).
 */
int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : -1;

	if (argc == 3 && !strcmp(argv[1], "rules") && n >= 0)
		return load_rules(n);
	if (argc == 2 && !strcmp(argv[1], "progstats"))
		return progstats();
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "latency") && n > 0)
		return latency(n, argc == 4 ? argv[3] : "rules0");
	if (argc == 4 && !strcmp(argv[1], "setlag") && n > 0)
		return setlag(n, argv[3]);
	if (argc == 2 && !strcmp(argv[1], "lagprobe"))
		return lagprobe();
	fprintf(stderr, "usage: policyctl rules N | policyctl latency N [LABEL] | policyctl progstats"
		" | policyctl setlag N PROG\n");
	return 2;
}
