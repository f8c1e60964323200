// SPDX-License-Identifier: GPL-2.0
/*
 * test_fleet.c - the fleet on a real nats-server with JetStream: simulated
 * hosts (build/tests/fleet_sim, the real agent over synthetic tables) and the
 * coordinator (libdbos, and the `dbos --fleet` CLI).
 *
 * Each test starts its own nats-server on a random port of 127.0.0.1 with
 * its store in a fresh temporary directory. Every row a query returns is
 * checked against what the simulated host holds (tests/host/fleet_sim.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "kselftest_harness.h"

#include "dbos_client.h"
#include "fleet_proto.h"
#include "tests/host/fleet_side.h"
#include "tests/host/fleet_sim.h"

#define PROCS	20
#define MAX_SIMS 8

static char bin_dir[PATH_MAX];	/* build/tests/host */

#define now_s fleet_now_s

/* ---- a result, as text ---- */

struct rows {
	int ncol;
	char names[16][32];
	int n;
	char (*cell)[16][200];	/* n rows of ncol cells */
};

static int rows_columns(void *arg, int ncol, const char *const *names)
{
	struct rows *r = arg;

	r->ncol = ncol < 16 ? ncol : 16;
	for (int i = 0; i < r->ncol; i++)
		snprintf(r->names[i], sizeof(r->names[i]), "%s", names[i]);
	return 0;
}

static int rows_row(void *arg, int ncol, const struct dbos_value *v)
{
	struct rows *r = arg;

	r->cell = realloc(r->cell, (size_t)(r->n + 1) * sizeof(*r->cell));
	if (!r->cell)
		return 1;
	for (int i = 0; i < ncol && i < 16; i++) {
		char *c = r->cell[r->n][i];

		switch (v[i].type) {
		case DBOS_T_INT:
			snprintf(c, 200, "%lld", (long long)v[i].i);
			break;
		case DBOS_T_FLOAT:
			snprintf(c, 200, "%g", v[i].f);
			break;
		case DBOS_T_TEXT:
			snprintf(c, 200, "%.*s", (int)v[i].len, v[i].s);
			break;
		case DBOS_T_NULL:
			snprintf(c, 200, "NULL");
			break;
		default:
			snprintf(c, 200, "BLOB");
		}
	}
	r->n++;
	return 0;
}

static const struct dbos_callbacks rows_cb = { .on_columns = rows_columns, .on_row = rows_row };

/* ---- the fixture: a nats-server and simulated hosts ---- */

FIXTURE(fleet) {
	char dir[64];
	char url[64];
	pid_t nats;
	pid_t sims[MAX_SIMS];
	int nsims;
	struct dbos_fleet *f;
	struct rows r;
	int pg_port;		/* a PostgreSQL the test started (0: none) */
};

static int start_nats(FIXTURE_DATA(fleet) *self)
{
	self->nats = fleet_start_nats(self->dir, self->url, sizeof(self->url));
	return self->nats < 0 ? -1 : 0;
}

/* Start a fleet_sim process: @hosts hosts PREFIX<first>... */
static pid_t start_sim(FIXTURE_DATA(fleet) *self, const char *prefix, int first, int hosts,
		       const char *labels, int procs, int heartbeat_ms)
{
	char sim[PATH_MAX + 32];
	pid_t pid;

	snprintf(sim, sizeof(sim), "%s/../fleet_sim", bin_dir);
	pid = fleet_start_sim(sim, self->dir, self->url, prefix, first, hosts, labels, procs,
			      heartbeat_ms);
	if (pid <= 0) {		/* never kill(-1, ...) below */
		perror("fork");
		exit(1);
	}
	if (self->nsims < MAX_SIMS)
		self->sims[self->nsims++] = pid;
	return pid;
}

/* Connect a coordinator once @live hosts are live (10 s at most). */
static struct dbos_fleet *coordinator(FIXTURE_DATA(fleet) *self, const char *target,
				      int timeout_ms, int live, char **err)
{
	struct dbos_fleet_options o = { .url = self->url, .target = target,
					.timeout_ms = timeout_ms };
	double t0 = now_s();
	struct dbos_fleet *f;

	for (;;) {
		int n = 0;

		*err = NULL;
		f = dbos_fleet_connect(&o, err);
		if (f) {
			dbos_fleet_hosts(f, &n);
			if (n >= live)
				return f;
			dbos_fleet_close(f);
		}
		if (now_s() - t0 > 10)
			return NULL;
		free(*err);
		usleep(50000);
	}
}

static void rows_clear(struct rows *r)
{
	free(r->cell);
	memset(r, 0, sizeof(*r));
}

/* Run @sql on self->f into self->r; 0 or -1 (message in *err). */
static int q(FIXTURE_DATA(fleet) *self, const char *sql, char **err)
{
	rows_clear(&self->r);
	*err = NULL;
	return dbos_fleet_query(self->f, sql, &rows_cb, &self->r, err);
}

static int nreports(struct dbos_fleet *f)
{
	const char *h, *w;
	int i = 0;

	while (dbos_fleet_report(f, i, &h, &w))
		i++;
	return i;
}

static const char *report_of(struct dbos_fleet *f, const char *host)
{
	const char *h, *w;

	for (int i = 0; dbos_fleet_report(f, i, &h, &w); i++)
		if (!strcmp(h, host))
			return w;
	return NULL;
}

FIXTURE_SETUP(fleet)
{
	char *err = NULL;

	snprintf(self->dir, sizeof(self->dir), "/tmp/dbos-fleet-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, start_nats(self)) TH_LOG("nats-server did not start (see %s/nats.log)", self->dir);
	start_sim(self, "h", 1, 3, "web,eu", PROCS, 300);
	self->f = coordinator(self, NULL, 2000, 3, &err);
	ASSERT_NE(NULL, self->f) TH_LOG("the coordinator never saw 3 live hosts: %s", err);
}

static int pg_ctl(const char *dir, int port, const char *what, char *out, size_t size);

/* Everything a test started: coordinator, simulated hosts, nats-server, PostgreSQL, files. */
static void cleanup(FIXTURE_DATA(fleet) *self)
{
	char cmd[160];

	dbos_fleet_close(self->f);
	self->f = NULL;
	rows_clear(&self->r);
	for (int i = 0; i < self->nsims; i++) {
		if (self->sims[i] <= 0)
			continue;
		kill(self->sims[i], SIGCONT);
		kill(self->sims[i], SIGKILL);
		waitpid(self->sims[i], NULL, 0);
	}
	self->nsims = 0;
	if (self->nats > 0) {
		kill(self->nats, SIGTERM);
		waitpid(self->nats, NULL, 0);
	}
	if (self->pg_port) {
		char out[512];

		pg_ctl(self->dir, self->pg_port, "stop -m immediate", out, sizeof(out));
		self->pg_port = 0;
	}
	self->nats = 0;
	if (self->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %.64s", self->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "# could not remove %s\n", self->dir);
	}
}

FIXTURE_TEARDOWN(fleet)
{
	cleanup(self);
}

/* A test that starts its own nats-server: cleaned up even when it fails. */
FIXTURE(bare) {
	FIXTURE_DATA(fleet) s;
};

FIXTURE_SETUP(bare)
{
	memset(&self->s, 0, sizeof(self->s));
	snprintf(self->s.dir, sizeof(self->s.dir), "/tmp/dbos-fleet-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->s.dir));
}

FIXTURE_TEARDOWN(bare)
{
	cleanup(&self->s);
}

/* ---- tests ---- */

TEST_F(fleet, every_host_returns_each_row_with_its_host)
{
	char *err = NULL, host[8];
	int seen[3] = { 0 };

	ASSERT_EQ(0, q(self, "SELECT host, pid, name, cmdline, uid, parent, nice FROM processes", &err))
		TH_LOG("%s", err);
	EXPECT_EQ(0, nreports(self->f));
	ASSERT_EQ(7, self->r.ncol);
	EXPECT_STREQ("host", self->r.names[0]);
	ASSERT_EQ(3 * PROCS, self->r.n);
	for (int i = 0; i < self->r.n; i++) {
		char (*c)[200] = self->r.cell[i];
		struct fleet_sim_row want;
		int k = atoi(c[1]) - 1, h = c[0][1] - '1';

		ASSERT_TRUE(c[0][0] == 'h' && h >= 0 && h < 3 && !c[0][2]) TH_LOG("host %s", c[0]);
		ASSERT_TRUE(k >= 0 && k < PROCS);
		snprintf(host, sizeof(host), "h%d", h + 1);
		fleet_sim_row(host, k, &want);
		EXPECT_STREQ(want.name, c[2]);
		EXPECT_STREQ(want.cmdline, c[3]);
		EXPECT_EQ(want.uid, atoll(c[4]));
		EXPECT_EQ(want.parent, atoll(c[5]));
		EXPECT_EQ(want.nice, atoll(c[6]));
		seen[h]++;
	}
	for (int h = 0; h < 3; h++)
		EXPECT_EQ(PROCS, seen[h]);
}

TEST_F(fleet, aggregates_and_joins_across_hosts_are_computed_here)
{
	char *err = NULL, host[8];

	ASSERT_EQ(0, q(self, "SELECT host, count(*), sum(nice), max(uid) FROM processes "
			     "GROUP BY host ORDER BY host", &err)) TH_LOG("%s", err);
	ASSERT_EQ(3, self->r.n);
	for (int h = 0; h < 3; h++) {
		long long nice = 0, uid = 0;

		snprintf(host, sizeof(host), "h%d", h + 1);
		for (int k = 0; k < PROCS; k++) {
			struct fleet_sim_row w;

			fleet_sim_row(host, k, &w);
			nice += w.nice;
			uid = w.uid > uid ? w.uid : uid;
		}
		EXPECT_STREQ(host, self->r.cell[h][0]);
		EXPECT_EQ(PROCS, atoi(self->r.cell[h][1]));
		EXPECT_EQ(nice, atoll(self->r.cell[h][2]));
		EXPECT_EQ(uid, atoll(self->r.cell[h][3]));
	}
	/* a join of two hosts' tables: the same command line never runs on two hosts */
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM processes a JOIN processes b "
			     "ON a.cmdline = b.cmdline AND a.host <> b.host", &err)) TH_LOG("%s", err);
	EXPECT_STREQ("0", self->r.cell[0][0]);
	/* and a self-join within each host: every child's parent is its init */
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM processes c JOIN processes p "
			     "ON c.host = p.host AND c.parent = p.pid WHERE p.name = 'init'", &err))
		TH_LOG("%s", err);
	EXPECT_EQ(3 * (PROCS - 1), atoi(self->r.cell[0][0]));
}

TEST_F(fleet, constraints_filter_on_the_hosts)
{
	char *err = NULL;
	int want = 0;

	ASSERT_EQ(0, q(self, "SELECT host, pid FROM processes WHERE name = 'nginx'", &err));
	EXPECT_EQ(3, self->r.n);
	for (int i = 0; i < self->r.n; i++)
		EXPECT_STREQ("3", self->r.cell[i][1]);
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM processes WHERE pid > 18", &err));
	EXPECT_EQ(3 * (PROCS - 18), atoi(self->r.cell[0][0]));
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM processes WHERE name LIKE 'WORK%' AND nice = 2",
		       &err));
	for (int k = 3; k < PROCS; k++)
		want += k % 5 == 2;
	EXPECT_EQ(3 * want, atoi(self->r.cell[0][0]));
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM processes WHERE parent IS NULL OR name GLOB 'ss?d'",
		       &err));
	EXPECT_EQ(3, atoi(self->r.cell[0][0]));
	/* OR: SQLite may scan once per term and merge by rowid; nothing lost or doubled */
	ASSERT_EQ(0, q(self, "SELECT host, count(*) FROM processes WHERE name = 'nginx' OR pid = 1 "
			     "OR pid <= 3 GROUP BY host ORDER BY host", &err)) TH_LOG("%s", err);
	ASSERT_EQ(3, self->r.n);
	EXPECT_STREQ("3", self->r.cell[0][1]);
	EXPECT_STREQ("3", self->r.cell[1][1]);
	EXPECT_STREQ("3", self->r.cell[2][1]);
	/* ... rows the columns asked for make identical (the workers' uid and nice) count once each */
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM processes WHERE uid = 0 OR nice = 2 OR uid <= 0",
		       &err))
		TH_LOG("%s", err);
	want = 0;
	for (int k = 0; k < PROCS; k++)
		want += k % 5 == 2 || k < 3;
	EXPECT_EQ(3 * want, atoi(self->r.cell[0][0]));
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM processes WHERE (host = 'h1' OR host = 'h2') "
			     "AND pid = 1", &err)) TH_LOG("%s", err);
	EXPECT_STREQ("2", self->r.cell[0][0]);
	/* a value that is a parameter on the host, not SQL text: quotes stay data */
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM processes WHERE name = 'x'' OR ''1''=''1'", &err));
	EXPECT_STREQ("0", self->r.cell[0][0]);
	EXPECT_EQ(0, nreports(self->f));
}

TEST_F(fleet, targets_one_host_or_a_label)
{
	struct dbos_fleet *g;
	char *err = NULL;

	start_sim(self, "db", 1, 2, "db", PROCS, 300);
	dbos_fleet_close(self->f);
	self->f = coordinator(self, NULL, 2000, 5, &err);
	ASSERT_NE(NULL, self->f) TH_LOG("%s", err);
	ASSERT_EQ(0, q(self, "SELECT host, count(*) FROM processes GROUP BY host ORDER BY host", &err));
	ASSERT_EQ(5, self->r.n);
	EXPECT_STREQ("db1", self->r.cell[0][0]);
	EXPECT_STREQ("h3", self->r.cell[4][0]);

	ASSERT_EQ(0, q(self, "SELECT DISTINCT host FROM processes WHERE host = 'h2'", &err));
	ASSERT_EQ(1, self->r.n);
	EXPECT_STREQ("h2", self->r.cell[0][0]);
	EXPECT_EQ(0, nreports(self->f));
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM processes WHERE host = 'nosuch'", &err));
	EXPECT_STREQ("0", self->r.cell[0][0]);
	EXPECT_NE(NULL, report_of(self->f, "nosuch"));

	g = coordinator(self, "label:db", 2000, 5, &err);
	ASSERT_NE(NULL, g) TH_LOG("%s", err);
	rows_clear(&self->r);
	ASSERT_EQ(0, dbos_fleet_query(g, "SELECT DISTINCT host FROM processes ORDER BY host",
				      &rows_cb, &self->r, &err));
	ASSERT_EQ(2, self->r.n);
	EXPECT_STREQ("db1", self->r.cell[0][0]);
	EXPECT_STREQ("db2", self->r.cell[1][0]);
	dbos_fleet_close(g);

	g = coordinator(self, "host:h3", 2000, 5, &err);
	ASSERT_NE(NULL, g) TH_LOG("%s", err);
	rows_clear(&self->r);
	ASSERT_EQ(0, dbos_fleet_query(g, "SELECT DISTINCT host FROM processes", &rows_cb, &self->r,
				      &err));
	ASSERT_EQ(1, self->r.n);
	EXPECT_STREQ("h3", self->r.cell[0][0]);
	dbos_fleet_close(g);

	/* a target that is not (or no longer) in the fleet is reported, not an empty success */
	g = dbos_fleet_connect(&(struct dbos_fleet_options){ .url = self->url,
							     .target = "host:gone" }, &err);
	ASSERT_NE(NULL, g) TH_LOG("%s", err);
	rows_clear(&self->r);
	ASSERT_EQ(0, dbos_fleet_query(g, "SELECT count(*) FROM processes", &rows_cb, &self->r, &err))
		TH_LOG("%s", err);
	EXPECT_STREQ("0", self->r.cell[0][0]);
	EXPECT_NE(NULL, report_of(g, "gone"));
	dbos_fleet_close(g);

	EXPECT_EQ(NULL, dbos_fleet_connect(&(struct dbos_fleet_options){ .url = self->url,
							.target = "label:a.b" }, &err));
	EXPECT_NE(NULL, strstr(err, "not a fleet label")) TH_LOG("%s", err);
	free(err);
}

TEST_F(fleet, a_host_that_does_not_answer_is_reported_missing)
{
	pid_t lone = start_sim(self, "slow", 1, 1, "", PROCS, 300);
	char *err = NULL;
	double t0;

	dbos_fleet_close(self->f);
	self->f = coordinator(self, NULL, 700, 4, &err);
	ASSERT_NE(NULL, self->f) TH_LOG("%s", err);
	ASSERT_EQ(0, kill(lone, SIGSTOP));
	t0 = now_s();
	ASSERT_EQ(0, q(self, "SELECT host, count(*) FROM processes GROUP BY host ORDER BY host", &err))
		TH_LOG("%s", err);
	EXPECT_LT(now_s() - t0, 2.0);
	EXPECT_EQ(3, self->r.n);	/* h1..h3, whole */
	for (int i = 0; i < self->r.n; i++)
		EXPECT_EQ(PROCS, atoi(self->r.cell[i][1]));
	ASSERT_EQ(1, nreports(self->f));
	ASSERT_NE(NULL, report_of(self->f, "slow1"));
	EXPECT_NE(NULL, strstr(report_of(self->f, "slow1"), "no answer within 700 ms"));
	ASSERT_EQ(0, kill(lone, SIGCONT));
	usleep(200000);
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM processes", &err));
	EXPECT_EQ(4 * PROCS, atoi(self->r.cell[0][0]));
	EXPECT_EQ(0, nreports(self->f));
}

TEST_F(fleet, killed_hosts_are_missing_then_gone_and_leavers_are_not_missed)
{
	pid_t killed = start_sim(self, "k", 1, 1, "", PROCS, 200);
	pid_t leaver = start_sim(self, "l", 1, 1, "", PROCS, 200);
	char *err = NULL;
	double t0;

	dbos_fleet_close(self->f);
	self->f = coordinator(self, NULL, 500, 5, &err);
	ASSERT_NE(NULL, self->f) TH_LOG("%s", err);
	ASSERT_EQ(0, kill(killed, SIGKILL));
	ASSERT_EQ(0, kill(leaver, SIGTERM));
	waitpid(leaver, NULL, 0);
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM processes", &err));
	EXPECT_EQ(3 * PROCS, atoi(self->r.cell[0][0]));
	EXPECT_NE(NULL, report_of(self->f, "k1")) TH_LOG("a killed host is missing");
	EXPECT_EQ(NULL, report_of(self->f, "l1")) TH_LOG("a host that left is not");
	ASSERT_EQ(0, q(self, "SELECT host FROM fleet_hosts WHERE host = 'l1'", &err));
	EXPECT_EQ(0, self->r.n);
	/* after FLEET_STALE_BEATS heartbeats without one, k1 is no longer expected */
	t0 = now_s();
	do {
		usleep(100000);
		ASSERT_EQ(0, q(self, "SELECT live FROM fleet_hosts WHERE host = 'k1'", &err));
	} while (self->r.n == 1 && !strcmp(self->r.cell[0][0], "1") && now_s() - t0 < 5);
	EXPECT_STREQ("0", self->r.cell[0][0]);
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM processes", &err));
	EXPECT_EQ(0, nreports(self->f));
}

/* nats-server stopped (SIGTERM) and started again on its port with its store: a server restart. */
static int restart_nats(FIXTURE_DATA(fleet) *self)
{
	char port[16];

	snprintf(port, sizeof(port), "%s", strrchr(self->url, ':') + 1);
	kill(self->nats, SIGTERM);
	waitpid(self->nats, NULL, 0);
	self->nats = fleet_start_nats_on(self->dir, NULL, port, self->url, sizeof(self->url));
	return self->nats < 0 ? -1 : 0;
}

/* The live members, as the coordinator sees them: "h1 h2 ..." */
static const char *live_hosts(FIXTURE_DATA(fleet) *self)
{
	static char out[256];
	char *err = NULL;

	out[0] = 0;
	if (q(self, "SELECT host FROM fleet_hosts WHERE live ORDER BY host", &err)) {
		snprintf(out, sizeof(out), "error: %s", err);
		free(err);
		return out;
	}
	for (int i = 0; i < self->r.n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? " " : "",
			 self->r.cell[i][0]);
	return out;
}

/*
 * A coordinator that stays connected (an interactive dbos --fleet) across a
 * restart of the NATS server: it reconnects, and still sees the hosts'
 * heartbeats (they stay live) and a host that joins afterwards.
 */
TEST_F_TIMEOUT(fleet, a_coordinator_follows_the_members_across_a_server_restart, 120)
{
	const char *want = "h1 h2 h3 late1";
	char *err = NULL;
	double t0;

	ASSERT_EQ(0, restart_nats(self)) TH_LOG("nats-server did not start again");
	start_sim(self, "late", 1, 1, "", PROCS, 300);
	t0 = now_s();
	while (strcmp(live_hosts(self), want) && now_s() - t0 < 30)
		usleep(200000);
	EXPECT_STREQ(want, live_hosts(self));
	/* and so for longer than a member goes stale without a heartbeat */
	sleep(3);
	EXPECT_STREQ(want, live_hosts(self));
	ASSERT_EQ(0, q(self, "SELECT host, count(*) FROM processes GROUP BY host ORDER BY host", &err))
		TH_LOG("%s", err);
	EXPECT_EQ(4, self->r.n);
	EXPECT_EQ(0, nreports(self->f));
}

TEST_F(fleet, large_answers_come_in_chunks_and_whole)
{
	const int big = 30000;	/* ~7 MB of rows: 28 chunks */
	char *err = NULL, sql[128];
	long long len = 0;

	start_sim(self, "big", 1, 1, "", big, 300);
	dbos_fleet_close(self->f);
	self->f = coordinator(self, NULL, 10000, 4, &err);
	ASSERT_NE(NULL, self->f) TH_LOG("%s", err);
	snprintf(sql, sizeof(sql), "SELECT count(*), sum(pid), sum(length(cmdline)) FROM processes "
		 "WHERE host = 'big1'");
	ASSERT_EQ(0, q(self, sql, &err)) TH_LOG("%s", err);
	EXPECT_EQ(big, atoi(self->r.cell[0][0]));
	EXPECT_EQ((long long)big * (big + 1) / 2, atoll(self->r.cell[0][1]));
	for (int k = 0; k < big; k++) {
		struct fleet_sim_row w;

		fleet_sim_row("big1", k, &w);
		len += (long long)strlen(w.cmdline);
	}
	EXPECT_EQ(len, atoll(self->r.cell[0][2]));
	EXPECT_EQ(0, nreports(self->f));
}

/* A request straight on NATS, as anyone allowed to publish could send it. */
static int raw_request(const char *url, const char *subject, const void *body, int len,
		       char *answer, size_t size)
{
	natsConnection *nc = NULL;
	natsSubscription *sub = NULL;
	natsMsg *reply = NULL;
	char inbox[64], answers[80];
	int rc = -1;

	snprintf(inbox, sizeof(inbox), "dbos.answer.test%d", rand());
	snprintf(answers, sizeof(answers), "%s.*", inbox);
	if (natsConnection_ConnectTo(&nc, url) != NATS_OK)
		return -1;
	if (natsConnection_SubscribeSync(&sub, nc, answers) == NATS_OK &&
	    natsConnection_PublishRequest(nc, subject, inbox, body, len) == NATS_OK &&
	    natsSubscription_NextMsg(&reply, sub, 2000) == NATS_OK) {
		const uint8_t *p = (const uint8_t *)natsMsg_GetData(reply);
		int n = natsMsg_GetDataLength(reply);

		/* the first frame's type and text */
		if (n >= 5)
			snprintf(answer, size, "%c %.*s", p[4], n - 5, (const char *)p + 5);
		rc = 0;
	}
	natsMsg_Destroy(reply);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	return rc;
}

static int frame_n(uint8_t *out, char type, const void *text, uint32_t n)
{
	out[0] = n & 0xff;
	out[1] = n >> 8 & 0xff;
	out[2] = n >> 16 & 0xff;
	out[3] = n >> 24;
	out[4] = (uint8_t)type;
	memcpy(out + 5, text, n);
	return (int)n + 5;
}

static int frame(uint8_t *out, char type, const char *text)
{
	return frame_n(out, type, text, (uint32_t)strlen(text));
}

TEST_F(fleet, hosts_run_no_statement_that_writes_and_survive_bad_requests)
{
	static const char *const writes[] = {
		"DELETE FROM processes", "UPDATE processes SET nice = 19",
		"INSERT INTO processes(pid) VALUES (99)", "CREATE TABLE t(x)", "DROP TABLE processes",
		"BEGIN", "SELECT 1; DELETE FROM processes", "ATTACH 'x.db' AS x",
		"PRAGMA writable_schema = 1", "CREATE TEMP TABLE t AS SELECT 1",
	};
	uint8_t body[512];
	char answer[512], *err = NULL;
	int len;

	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		len = frame(body, 'Q', writes[i]);
		answer[0] = 0;
		ASSERT_EQ(0, raw_request(self->url, "dbos.query.host.h1", body, len, answer,
					 sizeof(answer))) TH_LOG("%s: no answer", writes[i]);
		EXPECT_EQ('E', answer[0]) TH_LOG("%s: %s", writes[i], answer);
	}
	len = frame(body, 'Q', "DELETE FROM processes");
	ASSERT_EQ(0, raw_request(self->url, "dbos.query.host.h1", body, len, answer, sizeof(answer)));
	EXPECT_NE(NULL, strstr(answer, "only reads")) TH_LOG("%s", answer);

	/* malformed: empty, a short frame, a wrong type, trailing junk, too many parameters */
	ASSERT_EQ(0, raw_request(self->url, "dbos.query.host.h1", "", 0, answer, sizeof(answer)));
	EXPECT_NE(NULL, strstr(answer, "protocol error")) TH_LOG("%s", answer);
	ASSERT_EQ(0, raw_request(self->url, "dbos.query.host.h1", "\x09\0\0\0QSEL", 8, answer,
				 sizeof(answer)));
	EXPECT_NE(NULL, strstr(answer, "protocol error")) TH_LOG("%s", answer);
	len = frame(body, 'R', "SELECT 1");
	ASSERT_EQ(0, raw_request(self->url, "dbos.query.host.h1", body, len, answer, sizeof(answer)));
	EXPECT_NE(NULL, strstr(answer, "protocol error")) TH_LOG("%s", answer);
	len = frame(body, 'Q', "SELECT 1");
	body[len++] = 'x';
	ASSERT_EQ(0, raw_request(self->url, "dbos.query.host.h1", body, len, answer, sizeof(answer)));
	EXPECT_NE(NULL, strstr(answer, "protocol error")) TH_LOG("%s", answer);
	len = frame(body, 'Q', "SELECT ?1");
	len += frame_n(body + len, 'R', "\x01\x01\0\0\0\0\0\0\0\x01\x02\0\0\0\0\0\0\0", 18);
	ASSERT_EQ(0, raw_request(self->url, "dbos.query.host.h1", body, len, answer, sizeof(answer)));
	EXPECT_NE(NULL, strstr(answer, "more parameters")) TH_LOG("%s", answer);
	len = frame(body, 'Q', "SELECT nosuchcolumn FROM processes");
	ASSERT_EQ(0, raw_request(self->url, "dbos.query.host.h1", body, len, answer, sizeof(answer)));
	EXPECT_NE(NULL, strstr(answer, "no such column")) TH_LOG("%s", answer);

	/* and everything is still there, and answered */
	ASSERT_EQ(0, q(self, "SELECT host, count(*), sum(nice) FROM processes GROUP BY host", &err))
		TH_LOG("%s", err);
	ASSERT_EQ(3, self->r.n);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(PROCS, atoi(self->r.cell[i][1]));
	EXPECT_EQ(0, nreports(self->f));
}

TEST_F(fleet, the_coordinator_only_reads)
{
	static const char *const writes[] = {
		"DELETE FROM processes", "INSERT INTO fleet_hosts(host) VALUES ('evil')",
		"DELETE FROM fleet_hosts", "CREATE TABLE t(x)", "DROP TABLE processes",
		"ATTACH ':memory:' AS x", "PRAGMA writable_schema = 1",
		"CREATE VIRTUAL TABLE x USING dbos_fleet(0)",
	};
	char *err = NULL;

	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		EXPECT_EQ(-1, q(self, writes[i], &err)) TH_LOG("%s ran", writes[i]);
		free(err);
	}
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM fleet_hosts", &err)) TH_LOG("%s", err);
	EXPECT_STREQ("3", self->r.cell[0][0]);
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM processes", &err)) TH_LOG("%s", err);
	EXPECT_EQ(3 * PROCS, atoi(self->r.cell[0][0]));
}

/* Run the CLI; its stdout in @out, stderr in @errout, exit status returned. */
static int cli(FIXTURE_DATA(fleet) *self, const char *args, char *out, size_t size, char *errout,
	       size_t esize)
{
	char cmd[PATH_MAX + 1024], path[128];
	FILE *f;
	int st;
	size_t n;

	snprintf(path, sizeof(path), "%s/cli.err", self->dir);
	snprintf(cmd, sizeof(cmd), "%s/../../bin/dbos %s 2>%s", bin_dir, args, path);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	n = fread(out, 1, size - 1, f);
	out[n] = 0;
	st = pclose(f);
	f = fopen(path, "r");
	n = f ? fread(errout, 1, esize - 1, f) : 0;
	errout[n] = 0;
	if (f)
		fclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST_F(fleet, the_cli_queries_the_fleet_and_says_who_is_missing)
{
	char args[512 + PATH_MAX], out[4096], errout[1024], path[PATH_MAX];
	pid_t lone = start_sim(self, "z", 1, 1, "", PROCS, 300);
	char *err = NULL;
	struct dbos_fleet *g = coordinator(self, NULL, 2000, 4, &err);
	FILE *f;

	ASSERT_NE(NULL, g) TH_LOG("%s", err);
	dbos_fleet_close(g);
	snprintf(args, sizeof(args), "--fleet %s --csv -c \"SELECT host, count(*) AS n FROM "
		 "processes GROUP BY host ORDER BY host\"", self->url);
	ASSERT_EQ(0, cli(self, args, out, sizeof(out), errout, sizeof(errout))) TH_LOG("%s", errout);
	EXPECT_STREQ("host,n\nh1,20\nh2,20\nh3,20\nz1,20\n", out);

	ASSERT_EQ(0, kill(lone, SIGSTOP));
	snprintf(args, sizeof(args), "--fleet %s --fleet-timeout 500 --csv -c \"SELECT host, "
		 "count(*) AS n FROM processes GROUP BY host ORDER BY host\"", self->url);
	EXPECT_EQ(3, cli(self, args, out, sizeof(out), errout, sizeof(errout)));
	EXPECT_STREQ("host,n\nh1,20\nh2,20\nh3,20\n", out);
	EXPECT_NE(NULL, strstr(errout, "dbos: fleet: host z1: no answer within 500 ms"))
		TH_LOG("%s", errout);
	kill(lone, SIGCONT);

	snprintf(args, sizeof(args), "--fleet %s --target label:web --csv -c \"SELECT count(*) "
		 "FROM processes WHERE name = 'sshd'\"", self->url);
	ASSERT_EQ(0, cli(self, args, out, sizeof(out), errout, sizeof(errout))) TH_LOG("%s", errout);
	EXPECT_STREQ("count(*)\n3\n", out);

	EXPECT_EQ(2, cli(self, "--fleet nats://127.0.0.1:1 -c 'SELECT 1'", out, sizeof(out),
			 errout, sizeof(errout)));
	EXPECT_NE(NULL, strstr(errout, "dbos: fleet: nats://127.0.0.1:1")) TH_LOG("%s", errout);
	snprintf(args, sizeof(args), "--fleet %s --target bogus -c 'SELECT 1'", self->url);
	EXPECT_EQ(2, cli(self, args, out, sizeof(out), errout, sizeof(errout)));
	EXPECT_NE(NULL, strstr(errout, "host:ID or label:NAME")) TH_LOG("%s", errout);
	snprintf(args, sizeof(args), "--fleet %s -c 'DELETE FROM processes'", self->url);
	EXPECT_EQ(1, cli(self, args, out, sizeof(out), errout, sizeof(errout)));

	/* the shell's dot-commands describe the coordinator's tables, each once */
	snprintf(path, sizeof(path), "%s/dots", self->dir);
	f = fopen(path, "w");
	ASSERT_NE(NULL, f);
	fputs(".tables\n.schema processes\n.schema fleet_hosts\n.schema nosuch\n", f);
	fclose(f);
	snprintf(args, sizeof(args), "--fleet %s < %s", self->url, path);
	EXPECT_EQ(1, cli(self, args, out, sizeof(out), errout, sizeof(errout)));
	EXPECT_NE(NULL, strstr(out, "\nfleet_hosts\nfleet_policies\n")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "\nprocesses\n")) TH_LOG("%s", out);
	EXPECT_EQ(NULL, strstr(strstr(out, "\nprocesses\n") + 1, "\nprocesses\n"));
	EXPECT_NE(NULL, strstr(out, "CREATE TABLE processes(host TEXT, pid INTEGER, ")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "CREATE TABLE fleet_hosts(host TEXT PRIMARY KEY, "))
		TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(errout, "no such table: nosuch")) TH_LOG("%s", errout);
}

/* ---- fleet policy ---- */

/* The text of file @path (the first 64 KiB), "" if there is none. */
static const char *slurp(const char *path)
{
	static char text[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;

	text[n] = 0;
	if (f)
		fclose(f);
	return text;
}

/* What simulated host @host enforces (its policy file), "" if nothing yet. */
static const char *enforced(FIXTURE_DATA(fleet) *self, const char *host)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/policy/%s", self->dir, host);
	return slurp(path);
}

/* Wait (5 s at most) until @host's policy file starts with "version @v\n". */
static bool enforces(FIXTURE_DATA(fleet) *self, const char *host, int v)
{
	char want[32];
	double t0 = now_s();

	snprintf(want, sizeof(want), "version %d\n", v);
	while (now_s() - t0 < 5) {
		if (!strncmp(enforced(self, host), want, strlen(want)))
			return true;
		usleep(20000);
	}
	return false;
}

/* One cell of the last result as an int (-1: NULL). */
#define CELL(row, col) atoi(self->r.cell[row][col] ? self->r.cell[row][col] : "-1")

TEST_F(fleet, a_policy_commit_reaches_every_host_it_targets_and_each_says_so)
{
	char *err = NULL;

	start_sim(self, "z", 1, 1, "db", PROCS, 300);
	dbos_fleet_close(self->f);
	self->f = coordinator(self, NULL, 3000, 4, &err);
	ASSERT_NE(NULL, self->f) TH_LOG("%s", err);
	/* before any commit: version 0 everywhere */
	ASSERT_EQ(0, q(self, "SELECT host, version, live FROM fleet_policy_status ORDER BY host",
		       &err)) TH_LOG("%s", err);
	ASSERT_EQ(4, self->r.n);
	for (int i = 0; i < 4; i++) {
		EXPECT_EQ(0, CELL(i, 1)) TH_LOG("%s", self->r.cell[i][0]);
		EXPECT_EQ(1, CELL(i, 2)) TH_LOG("%s", self->r.cell[i][0]);
	}
	/* one transaction: one version */
	ASSERT_EQ(0, q(self, "BEGIN; "
		       "INSERT INTO fleet_policies(name, hook, action, condition) VALUES "
		       "('no-nc', 'exec', 'deny', 'path = ''/usr/bin/nc''');"
		       "INSERT INTO fleet_policies(target, name, hook, action) VALUES "
		       "('label:web', 'web-audit', 'connect', 'audit');"
		       "INSERT INTO fleet_policies(target, name, hook, action, nice) VALUES "
		       "('host:h2', 'h2-nice', 'sched', NULL, 5);"
		       "COMMIT", &err)) TH_LOG("%s", err);
	EXPECT_EQ(0, nreports(self->f));
	/* COMMIT returned after every host said it enforces it: no waiting here */
	EXPECT_STREQ("version 1\nall no-nc\nlabel:web web-audit\n", enforced(self, "h1"));
	EXPECT_STREQ("version 1\nhost:h2 h2-nice\nall no-nc\nlabel:web web-audit\n",
		     enforced(self, "h2"));
	EXPECT_STREQ("version 1\nall no-nc\nlabel:web web-audit\n", enforced(self, "h3"));
	EXPECT_STREQ("version 1\nall no-nc\n", enforced(self, "z1"));
	ASSERT_EQ(0, q(self, "SELECT host, version, live, error, local_version, online "
		       "FROM fleet_policy_status ORDER BY host", &err)) TH_LOG("%s", err);
	ASSERT_EQ(4, self->r.n);
	for (int i = 0; i < 4; i++) {
		EXPECT_EQ(1, CELL(i, 1));
		EXPECT_EQ(1, CELL(i, 2));
		EXPECT_STREQ("NULL", self->r.cell[i][3]);
		EXPECT_EQ(1, CELL(i, 4));
		EXPECT_EQ(1, CELL(i, 5));
	}
	/* the next commit: version 2, history of both */
	ASSERT_EQ(0, q(self, "DELETE FROM fleet_policies WHERE name = 'web-audit'", &err))
		TH_LOG("%s", err);
	EXPECT_STREQ("version 2\nall no-nc\n", enforced(self, "h1"));
	ASSERT_EQ(0, q(self, "SELECT version, action, from_version, rules, live "
		       "FROM fleet_policy_versions ORDER BY version", &err)) TH_LOG("%s", err);
	ASSERT_EQ(2, self->r.n);
	EXPECT_EQ(1, CELL(0, 0));
	EXPECT_STREQ("commit", self->r.cell[0][1]);
	EXPECT_EQ(0, CELL(0, 2));
	EXPECT_EQ(3, CELL(0, 3));
	EXPECT_EQ(0, CELL(0, 4));
	EXPECT_EQ(2, CELL(1, 0));
	EXPECT_EQ(1, CELL(1, 2));
	EXPECT_EQ(2, CELL(1, 3));
	EXPECT_EQ(1, CELL(1, 4));
	/* a statement that changes nothing commits nothing */
	ASSERT_EQ(0, q(self, "UPDATE fleet_policies SET hook = hook", &err)) TH_LOG("%s", err);
	ASSERT_EQ(0, q(self, "BEGIN; DELETE FROM fleet_policies; ROLLBACK", &err)) TH_LOG("%s", err);
	ASSERT_EQ(0, q(self, "SELECT max(version) FROM fleet_policy_versions", &err));
	EXPECT_EQ(2, CELL(0, 0));
}

TEST_F(fleet, a_host_that_cannot_enforce_a_version_says_why_and_the_others_go_on)
{
	char *err = NULL;

	ASSERT_EQ(0, q(self, "INSERT INTO fleet_policies(name, hook, action) VALUES "
		       "('a', 'kill', 'audit')", &err)) TH_LOG("%s", err);
	/* h2 refuses version 2 (as dbosd refuses a rule that does not compile there) */
	ASSERT_EQ(0, q(self, "INSERT INTO fleet_policies(target, name, hook, action, condition) "
		       "VALUES ('host:h2', 'b', 'exec', 'deny', 'sim_fail')", &err)) TH_LOG("%s", err);
	EXPECT_EQ(1, nreports(self->f));
	EXPECT_STREQ("fleet policy version 2: simulated failure", report_of(self->f, "h2"));
	EXPECT_STREQ("version 2\nall a\n", enforced(self, "h1"));
	EXPECT_STREQ("version 1\nall a\n", enforced(self, "h2"));
	ASSERT_EQ(0, q(self, "SELECT host, version, live, error FROM fleet_policy_status "
		       "ORDER BY host", &err)) TH_LOG("%s", err);
	ASSERT_EQ(3, self->r.n);
	EXPECT_EQ(2, CELL(0, 1));
	EXPECT_EQ(1, CELL(0, 2));
	EXPECT_EQ(1, CELL(1, 1));	/* h2 still enforces version 1 */
	EXPECT_EQ(0, CELL(1, 2));
	EXPECT_STREQ("fleet policy version 2: simulated failure", self->r.cell[1][3]);
	/* fixed by the next version */
	ASSERT_EQ(0, q(self, "UPDATE fleet_policies SET condition = NULL WHERE name = 'b'", &err));
	EXPECT_EQ(0, nreports(self->f));
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM fleet_policy_status WHERE version = 3 AND live "
		       "AND error IS NULL", &err));
	EXPECT_EQ(3, CELL(0, 0));
}

TEST_F(fleet, two_coordinators_cannot_both_commit_over_one_version)
{
	struct dbos_fleet_options o = { .url = self->url, .timeout_ms = 2000 };
	struct dbos_fleet *other;
	char *err = NULL;

	ASSERT_EQ(0, q(self, "INSERT INTO fleet_policies(name, hook, action) VALUES "
		       "('base', 'kill', 'audit')", &err)) TH_LOG("%s", err);
	other = dbos_fleet_connect(&o, &err);
	ASSERT_NE(NULL, other) TH_LOG("%s", err);
	/* this one starts from version 1 ... */
	ASSERT_EQ(0, q(self, "BEGIN; INSERT INTO fleet_policies(name, hook, action) VALUES "
		       "('mine', 'kill', 'audit')", &err)) TH_LOG("%s", err);
	/* ... the other commits version 2 meanwhile ... */
	ASSERT_EQ(0, dbos_fleet_query(other, "INSERT INTO fleet_policies(name, hook, action) "
				      "VALUES ('theirs', 'kill', 'deny')", NULL, NULL, &err))
		TH_LOG("%s", err);
	/* ... so this COMMIT fails, and nothing of it is anywhere */
	EXPECT_EQ(-1, q(self, "COMMIT", &err));
	EXPECT_NE(NULL, err ? strstr(err, "fleet policy changed concurrently (version 2 is "
				    "current") : NULL) TH_LOG("%s", err);
	free(err);
	EXPECT_STREQ("version 2\nall base\nall theirs\n", enforced(self, "h1"));
	/* a retry starts from version 2 and keeps the other's rule */
	ASSERT_EQ(0, q(self, "INSERT INTO fleet_policies(name, hook, action) VALUES "
		       "('mine', 'kill', 'audit')", &err)) TH_LOG("%s", err);
	EXPECT_STREQ("version 3\nall base\nall mine\nall theirs\n", enforced(self, "h3"));
	dbos_fleet_close(other);
}

TEST_F(fleet, rollback_restores_an_earlier_version_on_every_host)
{
	char *err = NULL;

	ASSERT_EQ(0, q(self, "INSERT INTO fleet_policies(name, hook, action) VALUES "
		       "('one', 'kill', 'audit')", &err)) TH_LOG("%s", err);
	ASSERT_EQ(0, q(self, "INSERT INTO fleet_policies(name, hook, action) VALUES "
		       "('two', 'exec', 'deny')", &err)) TH_LOG("%s", err);
	ASSERT_EQ(0, q(self, "SELECT fleet_policy_rollback(1)", &err)) TH_LOG("%s", err);
	EXPECT_EQ(3, CELL(0, 0));
	for (int i = 1; i <= 3; i++) {
		char h[8];

		snprintf(h, sizeof(h), "h%d", i);
		EXPECT_STREQ("version 3\nall one\n", enforced(self, h)) TH_LOG("%s", h);
	}
	ASSERT_EQ(0, q(self, "SELECT action, from_version, rules FROM fleet_policy_versions "
		       "WHERE version = 3", &err)) TH_LOG("%s", err);
	EXPECT_STREQ("rollback", self->r.cell[0][0]);
	EXPECT_EQ(1, CELL(0, 1));
	EXPECT_EQ(1, CELL(0, 2));
	ASSERT_EQ(0, q(self, "SELECT name FROM fleet_policies", &err));
	ASSERT_EQ(1, self->r.n);
	EXPECT_STREQ("one", self->r.cell[0][0]);
	/* to the empty policy, and a version that is not there */
	ASSERT_EQ(0, q(self, "SELECT fleet_policy_rollback(0)", &err)) TH_LOG("%s", err);
	EXPECT_STREQ("version 4\n", enforced(self, "h2"));
	EXPECT_EQ(-1, q(self, "SELECT fleet_policy_rollback(99)", &err));
	EXPECT_NE(NULL, err ? strstr(err, "no fleet policy version 99") : NULL) TH_LOG("%s", err);
	free(err);
}

TEST_F(fleet, hosts_that_were_away_or_start_later_catch_up)
{
	char *err = NULL;

	ASSERT_EQ(0, q(self, "INSERT INTO fleet_policies(name, hook, action) VALUES "
		       "('v1', 'kill', 'audit')", &err)) TH_LOG("%s", err);
	/* h1..h3 are one process: stop it; the commit waits (500 ms) and says who lags */
	dbos_fleet_close(self->f);
	self->f = coordinator(self, NULL, 500, 3, &err);
	ASSERT_NE(NULL, self->f) TH_LOG("%s", err);
	ASSERT_EQ(0, kill(self->sims[0], SIGSTOP));
	ASSERT_EQ(0, q(self, "INSERT INTO fleet_policies(name, hook, action) VALUES "
		       "('v2', 'kill', 'audit')", &err)) TH_LOG("%s", err);
	EXPECT_EQ(3, nreports(self->f));
	EXPECT_NE(NULL, strstr(report_of(self->f, "h1") ? report_of(self->f, "h1") : "",
			       "has not enforced fleet policy version 2 within 500 ms (it "
			       "enforces 1)"));
	EXPECT_STREQ("version 1\nall v1\n", enforced(self, "h1"));
	ASSERT_EQ(0, kill(self->sims[0], SIGCONT));
	EXPECT_TRUE(enforces(self, "h1", 2));
	EXPECT_TRUE(enforces(self, "h3", 2));
	/* a host that joins now gets the current version at once */
	start_sim(self, "late", 1, 1, "", PROCS, 300);
	EXPECT_TRUE(enforces(self, "late1", 2));
	EXPECT_STREQ("version 2\nall v1\nall v2\n", enforced(self, "late1"));
}

TEST_F(fleet, fleet_policy_checks_what_a_coordinator_can)
{
	static const char *const bad[] = {
		"INSERT INTO fleet_policies(target, name, hook, action) VALUES ('label:a b', 'x', 'exec', 'deny')",
		"INSERT INTO fleet_policies(target, name, hook, action) VALUES ('host:', 'x', 'exec', 'deny')",
		"INSERT INTO fleet_policies(target, name, hook, action) VALUES ('everyone', 'x', 'exec', 'deny')",
		"INSERT INTO fleet_policies(name, hook, action) VALUES ('x', 'mount', 'deny')",
		"INSERT INTO fleet_policies(name, hook, action) VALUES ('x', 'exec', 'set')",
		"INSERT INTO fleet_policies(name, hook, action) VALUES ('', 'exec', 'deny')",
		"INSERT INTO fleet_policies(name, hook, nice) VALUES ('x', 'sched', 'high')",
		"INSERT INTO fleet_policy_versions(version) VALUES (7)",
		"DELETE FROM fleet_policy_status",
		"UPDATE fleet_policy_versions SET live = 1",
	};
	char *err = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-1, q(self, bad[i], &err)) TH_LOG("%s ran", bad[i]);
		free(err);
	}
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM fleet_policy_versions", &err)) TH_LOG("%s", err);
	EXPECT_EQ(0, CELL(0, 0));
	EXPECT_STREQ("version 0\n", enforced(self, "h1"));
}

/* ---- the fleet's history into PostgreSQL (dbos-fleet-sink) ---- */

#define PG_BIN "/usr/lib/postgresql/15/bin"
#define EVENTS_MAX 7000		/* rows per host: 70 s at 100 a second */
#define PG_DOWN_S 60

static int shell_out(const char *cmd, char *out, size_t size)
{
	FILE *f = popen(cmd, "r");
	size_t n = f ? fread(out, 1, size - 1, f) : 0;
	int st;

	out[n] = 0;
	if (!f)
		return -1;
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* PostgreSQL 15 in @dir/pg (a socket there, port @port, no TCP): start or stop. 0, or not. */
static int pg_ctl(const char *dir, int port, const char *what, char *out, size_t size)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "cd / && runuser -u postgres -- " PG_BIN "/pg_ctl -w -t 60 "
		 "-D '%s/pg/data' -l '%s/pg/log' -o \"-p %d -k '%s/pg' -c listen_addresses=''\" "
		 "%s 2>&1", dir, dir, port, dir, what);
	return shell_out(cmd, out, size);
}

/* One value (the first line) of @sql in the test's PostgreSQL; "" if it failed. */
static const char *pg_value(const char *dir, int port, const char *sql)
{
	static char out[4096];
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "psql -X -A -t -h '%s/pg' -p %d -U postgres -d postgres "
		 "-c \"%s\" 2>/dev/null", dir, port, sql);
	if (shell_out(cmd, out, sizeof(out)))
		return "";
	out[strcspn(out, "\n")] = 0;
	return out;
}

static pid_t start_sink(FIXTURE_DATA(fleet) *self, int port)
{
	char sink[PATH_MAX + 32], conninfo[256], log[PATH_MAX];

	snprintf(sink, sizeof(sink), "%s/../../bin/dbos-fleet-sink", bin_dir);
	snprintf(conninfo, sizeof(conninfo), "host=%s/pg port=%d user=postgres dbname=postgres",
		 self->dir, port);
	snprintf(log, sizeof(log), "%s/sink.log", self->dir);
	return fleet_spawn((char *const[]){ sink, "--fleet", self->url, "--pg", conninfo, NULL }, log);
}

/* Wait (at most @s seconds) until every host of @hosts has @n rows in PostgreSQL. */
static bool pg_rows(FIXTURE_DATA(fleet) *self, int port, int hosts, int n, int s)
{
	char sql[256];
	double t0 = now_s();

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM (SELECT host FROM process_events GROUP BY "
		 "host HAVING count(*) >= %d) h", n);
	while (now_s() - t0 < s) {
		if (atoi(pg_value(self->dir, port, sql)) >= hosts)
			return true;
		usleep(200000);
	}
	return false;
}

TEST_F_TIMEOUT(bare, history_reaches_postgresql_whole_and_once_across_an_outage, 300)
{
	FIXTURE_DATA(bare) *bare = self;
	{
	FIXTURE_DATA(fleet) *self = &bare->s;
	char out[8192], pgdir[256], cmd[PATH_MAX + 1024], sim[PATH_MAX + 32];
	const char *sink_log;
	int port = 40000 + (getpid() * 7) % 20000;
	struct passwd *pw = getpwnam("postgres");
	pid_t sink;

	ASSERT_NE(NULL, pw) TH_LOG("no postgres user: is postgresql-15 installed?");
	ASSERT_EQ(0, start_nats(self));
	snprintf(pgdir, sizeof(pgdir), "%s/pg", self->dir);
	ASSERT_EQ(0, mkdir(pgdir, 0700));
	ASSERT_EQ(0, chown(pgdir, pw->pw_uid, pw->pw_gid));
	ASSERT_EQ(0, chmod(self->dir, 0755));
	snprintf(cmd, sizeof(cmd), "cd / && runuser -u postgres -- " PG_BIN "/initdb -A trust "
		 "-D '%s/data' >'%s/initdb.log' 2>&1", pgdir, pgdir);
	ASSERT_EQ(0, shell_out(cmd, out, sizeof(out))) TH_LOG("initdb failed: see %s", pgdir);
	ASSERT_EQ(0, pg_ctl(self->dir, port, "start", out, sizeof(out))) TH_LOG("%s", out);
	self->pg_port = port;

	/* two hosts whose history grows at 100 rows a second, and the sink */
	snprintf(sim, sizeof(sim), "%s/../fleet_sim", bin_dir);
	self->sims[self->nsims++] = fleet_spawn((char *const[]){ sim, "--url", self->url,
		"--hosts", "2", "--prefix", "e", "--heartbeat-ms", "500", "--events-per-s", "100",
		"--events-max", "7000", NULL }, "/dev/null");
	sink = start_sink(self, port);
	ASSERT_GT(sink, 0);
	self->sims[self->nsims++] = sink;
	ASSERT_TRUE(pg_rows(self, port, 2, 200, 30)) TH_LOG("rows never reached PostgreSQL");

	/* the sink killed and started again: it goes on where the stream says */
	kill(sink, SIGKILL);
	waitpid(sink, NULL, 0);
	sink = start_sink(self, port);
	ASSERT_GT(sink, 0);
	self->sims[self->nsims - 1] = sink;
	ASSERT_TRUE(pg_rows(self, port, 2, 500, 30));

	/* PostgreSQL down for a minute while the hosts go on */
	ASSERT_EQ(0, pg_ctl(self->dir, port, "stop -m fast", out, sizeof(out))) TH_LOG("%s", out);
	sleep(PG_DOWN_S);
	ASSERT_EQ(0, pg_ctl(self->dir, port, "start", out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_TRUE(pg_rows(self, port, 2, EVENTS_MAX, 90)) TH_LOG("%s", pg_value(self->dir, port,
		"SELECT string_agg(host || ': ' || n, ', ') FROM (SELECT host, count(*) n FROM "
		"process_events GROUP BY host) h"));

	/* every row of 1..EVENTS_MAX of each host once, each value as the host had it */
	EXPECT_STREQ("e1|7000|1|7000|7000", pg_value(self->dir, port, "SELECT host, count(*), "
		     "min(seq), max(seq), count(DISTINCT seq) FROM process_events WHERE host = 'e1' "
		     "GROUP BY host"));
	EXPECT_STREQ("e2|7000|1|7000|7000", pg_value(self->dir, port, "SELECT host, count(*), "
		     "min(seq), max(seq), count(DISTINCT seq) FROM process_events WHERE host = 'e2' "
		     "GROUP BY host"));
	EXPECT_STREQ("0", pg_value(self->dir, port, "SELECT count(*) FROM process_events WHERE "
		     "(time, pid, event, args, weight) IS DISTINCT FROM (" FLEET_SIM_EVENT_PG("seq")
		     ")"));
	EXPECT_STREQ("bigint,bigint,text,text,double precision", pg_value(self->dir, port,
		     "SELECT string_agg(data_type, ',' ORDER BY ordinal_position) FROM "
		     "information_schema.columns WHERE table_name = 'process_events' AND "
		     "column_name IN ('time', 'pid', 'event', 'args', 'weight')"));
	/* the sink said PostgreSQL was gone, and back */
	snprintf(cmd, sizeof(cmd), "%s/sink.log", self->dir);
	sink_log = slurp(cmd);
	EXPECT_NE(NULL, strstr(sink_log, "the stream keeps the rows")) TH_LOG("%s", sink_log);
	EXPECT_NE(NULL, strstr(sink_log, "PostgreSQL is back")) TH_LOG("%s", sink_log);
	}
}

TEST_F(bare, an_empty_fleet_has_no_tables_yet)
{
	FIXTURE_DATA(bare) *bare = self;
	{
		FIXTURE_DATA(fleet) *self = &bare->s;
		char *err = NULL;

		ASSERT_EQ(0, start_nats(self));
		self->f = dbos_fleet_connect(&(struct dbos_fleet_options){ .url = self->url }, &err);
		ASSERT_NE(NULL, self->f) TH_LOG("%s", err);
		EXPECT_EQ(0, dbos_fleet_hosts(self->f, NULL));
		EXPECT_EQ(0, q(self, "SELECT count(*) FROM fleet_hosts", &err));
		EXPECT_EQ(-1, q(self, "SELECT * FROM processes", &err));
		EXPECT_NE(NULL, strstr(err, "no such table: processes")) TH_LOG("%s", err);
		free(err);
	}
}

/* The README's permissions: hosts may answer only as themselves and only answer. */
static const char fleet_accounts[] =
	"accounts { FLEET { jetstream: enabled, users: [\n"
	"  { user: admin, password: apw, permissions: {\n"
	"      publish: [\"dbos.query.>\", \"$JS.API.>\", \"$JS.FC.>\", \"$JS.ACK.>\",\n"
	"                \"$KV.dbos_policy.>\"],\n"
	"      subscribe: [\"dbos.answer.>\", \"_INBOX.>\"] } }\n"
	"  { user: h1, password: p1, permissions: HOST(h1) }\n"
	"  { user: h2, password: p2, permissions: HOST(h2) }\n"
	"  { user: h3, password: p3, permissions: HOST(h3) }\n"
	"] } }\n";

static char *host_permissions(const char *conf)
{
	static const char tmpl[] =
		"{ publish: [\"dbos.answer.*.%1$s\", \"$KV.dbos_hosts.%1$s\", "
		"\"$JS.API.STREAM.INFO.KV_dbos_hosts\", \"$JS.API.STREAM.CREATE.KV_dbos_hosts\", "
		"\"$JS.API.STREAM.INFO.KV_dbos_policy\", \"$JS.API.STREAM.NAMES\", "
		"\"$JS.API.CONSUMER.CREATE.KV_dbos_policy\", "
		"\"$JS.API.CONSUMER.CREATE.KV_dbos_policy.>\", \"$JS.API.CONSUMER.DELETE.KV_dbos_policy.>\", "
		"\"dbos.events.%1$s.>\", \"$JS.API.STREAM.INFO.DBOS_EVENTS\", "
		"\"$JS.API.STREAM.CREATE.DBOS_EVENTS\", \"$JS.API.STREAM.MSG.GET.DBOS_EVENTS\"], "
		"subscribe: [\"dbos.query.all\", \"dbos.query.host.%1$s\", \"dbos.query.label.*\", "
		"\"_INBOX.>\"] }";
	char *out = malloc(8192), *o = out;
	const char *p = conf;

	while (*p) {
		if (!strncmp(p, "HOST(", 5)) {
			char id[8] = { 0 };

			memcpy(id, p + 5, 2);
			o += sprintf(o, tmpl, id);
			p += 8;
		} else {
			*o++ = *p++;
		}
	}
	*o = 0;
	return out;
}

/* @url with user:password@ in it. */
static void as_user(char *out, size_t size, const char *url, const char *user, const char *pw)
{
	snprintf(out, size, "nats://%.8s:%.8s@%.40s", user, pw, url + strlen("nats://"));
}

/* Connect as @user; NULL on failure. */
static natsConnection *connect_as(const char *url, const char *user, const char *pw)
{
	natsConnection *nc = NULL;
	char u[128];

	as_user(u, sizeof(u), url, user, pw);
	return natsConnection_ConnectTo(&nc, u) == NATS_OK ? nc : NULL;
}

static natsMsg *next_msg(natsSubscription *sub, int ms)
{
	natsMsg *m = NULL;

	return natsSubscription_NextMsg(&m, sub, ms) == NATS_OK ? m : NULL;
}

/* How many of put, delete and purge of the fleet policy @nc could do (0: none). */
static int rogue_policy_writes(natsConnection *nc)
{
	jsCtx *js = NULL;
	kvStore *kv = NULL;
	int n = 0;

	if (natsConnection_JetStream(&js, nc, NULL) != NATS_OK ||
	    js_KeyValue(&kv, js, "dbos_policy") != NATS_OK)
		return -1;
	n += kvStore_PutString(NULL, kv, "fleet", "rogue") == NATS_OK;
	n += kvStore_Delete(kv, "fleet") == NATS_OK;
	n += kvStore_Purge(kv, "fleet", NULL) == NATS_OK;
	kvStore_Destroy(kv);
	jsCtx_Destroy(js);
	return n;
}

/*
 * Whether @nc (h1's credentials) may publish history as h1 (it should) and as
 * h2 (it should not): 0 when both are as they should be.
 */
static int rogue_events(natsConnection *nc, natsConnection *admin)
{
	jsCtx *js = NULL, *ajs = NULL;
	jsPubOptions po;
	jsErrCode jerr = 0;
	int wrong = 0;

	if (natsConnection_JetStream(&ajs, admin, NULL) != NATS_OK ||
	    fleet_events_stream(ajs, true, NULL) ||
	    natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
		return -1;
	jsPubOptions_Init(&po);
	po.MaxWait = 1000;
	wrong += js_Publish(NULL, js, "dbos.events.h1.process_events", "x", 1, &po, &jerr) != NATS_OK;
	wrong += js_Publish(NULL, js, "dbos.events.h2.process_events", "x", 1, &po, &jerr) == NATS_OK;
	jsCtx_Destroy(js);
	jsCtx_Destroy(ajs);
	return wrong;
}

TEST_F(bare, permissions_keep_each_host_to_answering_as_itself)
{
	FIXTURE_DATA(bare) *bare = self;
	{
	FIXTURE_DATA(fleet) *self = &bare->s;
	char *conf = host_permissions(fleet_accounts), *err = NULL, url[128], plain[64];
	const char *ids[3] = { "h1", "h2", "h3" }, *pws[3] = { "p1", "p2", "p3" };
	natsConnection *rogue = NULL, *admin = NULL;
	natsSubscription *sub = NULL, *spy = NULL;
	natsMsg *m;
	uint8_t body[128];
	int len;

	self->nats = fleet_start_nats_conf(self->dir, conf, self->url, sizeof(self->url));
	free(conf);
	ASSERT_GT(self->nats, 0) TH_LOG("nats-server did not start (see %s)", self->dir);
	for (int i = 0; i < 3; i++) {
		char sim[PATH_MAX + 32];

		snprintf(sim, sizeof(sim), "%s/../fleet_sim", bin_dir);
		as_user(url, sizeof(url), self->url, ids[i], pws[i]);
		self->sims[self->nsims] = fleet_start_sim(sim, self->dir, url, "h", i + 1, 1,
							  NULL, PROCS, 300);
		ASSERT_GT(self->sims[self->nsims], 0);
		self->nsims++;
	}
	/* the coordinator, as admin, sees all three answer whole */
	strcpy(plain, self->url);
	as_user(self->url, sizeof(self->url), plain, "admin", "apw");
	self->f = coordinator(self, NULL, 2000, 3, &err);
	ASSERT_NE(NULL, self->f) TH_LOG("%s", err);
	ASSERT_EQ(0, q(self, "SELECT host, count(*) FROM processes GROUP BY host ORDER BY host", &err))
		TH_LOG("%s", err);
	ASSERT_EQ(3, self->r.n);
	EXPECT_EQ(0, nreports(self->f));

	/* h1's credentials, stolen by an attacker, answering every query as h2 */
	rogue = connect_as(plain, "h1", "p1");
	admin = connect_as(plain, "admin", "apw");
	ASSERT_NE(NULL, rogue);
	ASSERT_NE(NULL, admin);
	ASSERT_EQ(NATS_OK, natsConnection_SubscribeSync(&sub, rogue, "dbos.query.all"));
	/* it may not read the answers of others either */
	ASSERT_EQ(NATS_OK, natsConnection_SubscribeSync(&spy, rogue, "dbos.answer.>"));
	natsConnection_Flush(rogue);
	ASSERT_EQ(0, q(self, "SELECT host, cmdline FROM processes WHERE pid = 1 ORDER BY host", &err));
	m = next_msg(sub, 2000);
	ASSERT_NE(NULL, m) TH_LOG("h1 may read queries");
	natsMsg_Destroy(m);
	EXPECT_EQ(NULL, next_msg(spy, 500)) TH_LOG("h1 read another host's answer");
	ASSERT_EQ(3, self->r.n);
	for (int i = 0; i < 3; i++) {
		char want[32];

		snprintf(want, sizeof(want), "--host %.8s ", self->r.cell[i][0]);
		EXPECT_NE(NULL, strstr(self->r.cell[i][1], want)) TH_LOG("%s: %s", self->r.cell[i][0],
									 self->r.cell[i][1]);
	}

	/* h1 may answer as h1, not as h2 (what reaches a coordinator, seen by admin) */
	{
		natsSubscription *forge = NULL;

		ASSERT_EQ(NATS_OK, natsConnection_SubscribeSync(&forge, admin, "dbos.answer.forge.*"));
		natsConnection_Flush(admin);
		len = frame(body, 'D', "");
		natsConnection_Publish(rogue, "dbos.answer.forge.h2", body, len);
		natsConnection_FlushTimeout(rogue, 1000);
		EXPECT_EQ(NULL, (m = next_msg(forge, 1000))) TH_LOG("h1 answered as h2");
		natsMsg_Destroy(m);
		natsConnection_Publish(rogue, "dbos.answer.forge.h1", body, len);
		natsConnection_FlushTimeout(rogue, 1000);
		EXPECT_NE(NULL, (m = next_msg(forge, 2000))) TH_LOG("h1 could not answer as itself");
		natsMsg_Destroy(m);
		natsSubscription_Destroy(forge);
	}

	/* h1 may not ask: a query it publishes reaches no host */
	{
		natsSubscription *answers = NULL;

		ASSERT_EQ(NATS_OK, natsConnection_SubscribeSync(&answers, admin, "dbos.answer.probe.*"));
		natsConnection_Flush(admin);
		len = frame(body, 'Q', "SELECT 1");
		natsConnection_PublishRequest(rogue, "dbos.query.all", "dbos.answer.probe", body, len);
		natsConnection_FlushTimeout(rogue, 1000);
		EXPECT_EQ(NULL, next_msg(answers, 1000)) TH_LOG("a query from h1 was answered");
		/* the same from admin is answered (the probe works) */
		natsConnection_PublishRequest(admin, "dbos.query.all", "dbos.answer.probe", body, len);
		m = next_msg(answers, 3000);
		EXPECT_NE(NULL, m) TH_LOG("admin's query was not answered");
		natsMsg_Destroy(m);
		natsSubscription_Destroy(answers);
	}

	/* h1 may not write h2's membership entry */
	{
		jsCtx *js = NULL;
		kvStore *kv = NULL;

		ASSERT_EQ(NATS_OK, natsConnection_JetStream(&js, rogue, NULL));
		ASSERT_EQ(NATS_OK, js_KeyValue(&kv, js, "dbos_hosts"));
		EXPECT_NE(NATS_OK, kvStore_PutString(NULL, kv, "h2", "labels=evil\n"));
		EXPECT_NE(NATS_OK, kvStore_Delete(kv, "h3"));
		EXPECT_EQ(NATS_OK, kvStore_PutString(NULL, kv, "h1", "labels=\nversion=x\n"));
		kvStore_Destroy(kv);
		jsCtx_Destroy(js);
	}
	ASSERT_EQ(0, q(self, "SELECT host, labels FROM fleet_hosts ORDER BY host", &err));
	ASSERT_EQ(3, self->r.n);
	EXPECT_STREQ("", self->r.cell[1][1]);

	/* the admin commits fleet policy; every host follows it */
	ASSERT_EQ(0, q(self, "INSERT INTO fleet_policies(name, hook, action) VALUES "
		       "('admins', 'kill', 'audit')", &err)) TH_LOG("%s", err);
	EXPECT_EQ(0, nreports(self->f));
	ASSERT_EQ(0, q(self, "SELECT count(*) FROM fleet_policy_status WHERE version = 1 AND live",
		       &err)) TH_LOG("%s", err);
	EXPECT_STREQ("3", self->r.cell[0][0]);
	/* h1 may not: neither put a version nor delete the policy */
	EXPECT_EQ(0, rogue_policy_writes(rogue));
	/* its history goes on its own subjects only */
	EXPECT_EQ(0, rogue_events(rogue, admin));
	ASSERT_EQ(0, q(self, "SELECT count(*), max(version) FROM fleet_policy_versions", &err));
	EXPECT_STREQ("1", self->r.cell[0][0]);
	EXPECT_STREQ("1", self->r.cell[0][1]);
	EXPECT_STREQ("version 1\nall admins\n", enforced(self, "h1"));
	EXPECT_STREQ("version 1\nall admins\n", enforced(self, "h2"));
	EXPECT_STREQ("version 1\nall admins\n", enforced(self, "h3"));

	natsSubscription_Destroy(sub);
	natsSubscription_Destroy(spy);
	natsConnection_Destroy(rogue);
	natsConnection_Destroy(admin);
	}
}

static void __attribute__((constructor)) find_bins(void)
{
	ssize_t n = readlink("/proc/self/exe", bin_dir, sizeof(bin_dir) - 1);

	if (n > 0) {
		bin_dir[n] = 0;
		*strrchr(bin_dir, '/') = 0;
	}
	signal(SIGPIPE, SIG_IGN);
}

TEST_HARNESS_MAIN
