/* SPDX-License-Identifier: GPL-2.0 */
/* fleet_sim.h - what a simulated fleet host's tables hold (tests/host/fleet_sim.c), for the tests to check against. */
#ifndef TESTS_HOST_FLEET_SIM_H
#define TESTS_HOST_FLEET_SIM_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The tables, and the catalogue the coordinator learns them from (dbosd's dbos_schema). */
#define FLEET_SIM_SCHEMA \
	"CREATE TABLE processes(pid INTEGER, name TEXT, cmdline TEXT, uid INTEGER, " \
	"parent INTEGER, nice INTEGER);" \
	"CREATE TABLE dbos_schema(name TEXT, type TEXT, sql TEXT);" \
	"INSERT INTO dbos_schema VALUES ('processes', 'table', ''), ('dbos_schema', 'table', '');"

/*
 * With --events-per-s R: a history table process_events (not in dbos_schema:
 * only published) whose rows 1..n appear at R per second from the host's
 * start, up to --events-max M; row k of every host is what
 * FLEET_SIM_EVENT_PG(k) computes in PostgreSQL (a tab, a newline, a
 * backslash and a quote in `args`, NULL every 7th row; `weight` REAL).
 */
#define FLEET_SIM_EVENTS_VIEW \
	"CREATE VIEW process_events AS WITH RECURSIVE c(seq) AS (" \
	" SELECT 1 WHERE sim_events_now() > 0" \
	" UNION ALL SELECT seq + 1 FROM c WHERE seq < sim_events_now())" \
	" SELECT seq, 1700000000 + seq AS time, seq % 500 AS pid, 'exec' AS event," \
	" CASE WHEN seq % 7 = 0 THEN NULL ELSE 'run' || char(9) || seq || char(92) || 'n' ||" \
	" char(10) || '''' END AS args, seq / 4.0 AS weight FROM c"
#define FLEET_SIM_EVENT_PG(k) \
	"1700000000 + " k ", " k " % 500, 'exec', CASE WHEN " k " % 7 = 0 THEN NULL ELSE " \
	"'run' || chr(9) || " k " || chr(92) || 'n' || chr(10) || '''' END, " k " / 4.0"

struct fleet_sim_row {
	int64_t pid, uid, parent, nice;
	char name[32];
	char cmdline[160];
};

/* Row @k (0, 1, ...) of @host's processes: every host has init, sshd, nginx, then workers. */
static inline void fleet_sim_row(const char *host, int k, struct fleet_sim_row *r)
{
	static const char *const names[] = { "init", "sshd", "nginx" };
	unsigned h = 0;

	for (const char *p = host; *p; p++)
		h = h * 31 + (unsigned char)*p;
	r->pid = k + 1;
	r->parent = k ? 1 : 0;
	r->uid = k < 3 ? 0 : 1000 + (h % 7);
	r->nice = k % 5;
	if (k < 3)
		snprintf(r->name, sizeof(r->name), "%s", names[k]);
	else
		snprintf(r->name, sizeof(r->name), "worker-%d", k);
	snprintf(r->cmdline, sizeof(r->cmdline), "/usr/bin/%s --host %s --k %d --pad %.*s", r->name,
		 host, k, 64, "................................................................");
}

#endif /* TESTS_HOST_FLEET_SIM_H */
