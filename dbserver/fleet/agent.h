/* SPDX-License-Identifier: GPL-2.0 */
/*
 * agent.h - a host's side of the fleet: joins the NATS fleet, keeps its
 * membership entry current and answers fleet queries from its own tables.
 *
 *	struct fleet_agent_config cfg = {
 *		.nats = { .url = "nats://10.0.0.1:4222" },
 *		.host = "web-1", .labels = "web,eu",
 *		.open_db = open_readonly_session, .open_arg = env,
 *	};
 *	struct fleet_agent *a = fleet_agent_start(&cfg, &err);
 *	...
 *	fleet_agent_stop(a);	(leaves the fleet: its entry is deleted)
 *
 * Queries run one at a time on the agent's own thread, on the connection
 * open_db() gives it (opened on that thread). Whatever that connection
 * allows, the agent runs only one statement per query, only if SQLite says
 * it is read-only and returns rows, for at most the coordinator's deadline
 * (capped at FLEET_TIMEOUT_MAX_MS), with at most FLEET_RESULT_MAX bytes of
 * rows. The wire format is libdbos/fleet_proto.h's.
 *
 * With @apply_policy, the agent also follows the fleet's policy (bucket
 * dbos_policy) on a thread of its own: each version's rules meant for this
 * host go to apply_policy() at once, again every heartbeat (so that rules
 * changed on the host come back), and again whenever the connection comes
 * back; the membership entry says which version this host enforces, or why
 * it cannot.
 */
#ifndef DBSERVER_FLEET_AGENT_H
#define DBSERVER_FLEET_AGENT_H

#include <sqlite3.h>

#include "fleet_proto.h"

struct fleet_agent_config {
	struct fleet_nats nats;
	const char *host;	/* this host's id; NULL: the hostname (must be a valid id) */
	const char *labels;	/* comma-separated labels, or NULL */
	const char *version;	/* what the membership entry says runs here */
	int heartbeat_ms;	/* 0: FLEET_HEARTBEAT_MS */
	/* The connection queries run on, opened on the agent's thread. 0, or -1 and *err. */
	int (*open_db)(void *arg, sqlite3 **db, char **err);
	void *open_arg;
	/* The text of @db's last error (NULL: sqlite3_errmsg). */
	const char *(*errmsg)(sqlite3 *db);
	/*
	 * Enforce fleet policy version @version: @rules are its rules for this
	 * host, replacing the fleet rules enforced before (none: @n 0).
	 * Called on the agent's policy thread. 0 and *@local (the host's own
	 * policy version that carries it), or -1 and *@err (malloc()ed).
	 * NULL: this host takes no fleet policy.
	 */
	int (*apply_policy)(void *arg, const struct fleet_rule *rules, size_t n, uint64_t version,
			    uint64_t *local, char **err);
	void *policy_arg;
	/*
	 * History tables (NULL-terminated; NULL: none) whose rows the agent
	 * publishes, in seq order, to the fleet's history stream (fleet_proto.h,
	 * "History."), read on the query connection between queries.
	 */
	const char *const *events_tables;
};

struct fleet_agent;

/*
 * fleet_agent_start() - check @cfg, connect (while the NATS server is
 * unreachable the agent keeps trying in the background), subscribe, start
 * the agent's thread. Returns the agent, or NULL and *@err (malloc()ed)
 * when @cfg is wrong (a bad host id or label, an unreadable credentials file).
 */
struct fleet_agent *fleet_agent_start(const struct fleet_agent_config *cfg, char **err);

/* fleet_agent_host() - the agent's host id (owned by @a). */
const char *fleet_agent_host(const struct fleet_agent *a);

/* fleet_agent_stop() - leave the fleet (delete the entry), stop, free. NULL is accepted. */
void fleet_agent_stop(struct fleet_agent *a);

#endif /* DBSERVER_FLEET_AGENT_H */
