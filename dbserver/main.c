// SPDX-License-Identifier: GPL-2.0
/* main.c - dbosd: mirrors kernel state from the dbos module into RocksDB and serves it as SQL on a Unix socket. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dbos_proto.h"
#include "dbserver/endpoint/endpoint.h"
#include "dbserver/pgwire/auth.h"
#include "dbserver/pgwire/pgwire.h"
#include "dbserver/intake/loop.h"
#include "dbserver/kernel/enforce.h"
#include "dbserver/kernel/kernel.h"
#include "dbserver/mirror/mirror.h"
#include "dbserver/policy/policy.h"
#include "dbserver/fleet/agent.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/store.h"

#define DEFAULT_DB		"/var/lib/dbos"
#define DEFAULT_RETENTION	1000000ULL
#define DEFAULT_SESSION_MEMORY	256	/* MiB of SQLite memory per client */
#define FLEET_UID		65534	/* who fleet queries run as: nobody (reads, never writes) */

struct dbosd {
	struct store *st;
	struct mirror *m;
	struct intake_loop *loop;
	struct sql_env env;
	struct enforce *enf;	/* NULL: no enforcement (--no-lsm or enforce_open failed) */
	struct policy *pol;
	uint64_t session_memory;	/* bytes per client (0: no limit) */
};

/* Seconds since *@t, and *@t set to now: the startup phases' times. */
static double lap(struct timespec *t)
{
	struct timespec now;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &now);
	s = (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
	*t = now;
	return s;
}

static void log_line(void *arg, const char *line)
{
	fprintf(stderr, "dbosd: %s\n", line);
}

/* --pg-hash-password USER: the password from stdin (one line), USER's verifier line on stdout. */
static int hash_password(const char *user)
{
	char *pw = NULL, *line;
	size_t cap = 0;
	ssize_t n;

	if (!user[0] || strchr(user, ':') || strchr(user, '\n')) {
		fprintf(stderr, "dbosd: --pg-hash-password: a user name without ':'\n");
		return 2;
	}
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "password for %s: ", user);
	n = getline(&pw, &cap, stdin);
	if (n <= 0) {
		fprintf(stderr, "dbosd: --pg-hash-password: no password on stdin\n");
		free(pw);
		return 2;
	}
	if (pw[n - 1] == '\n')
		pw[--n] = 0;
	line = scram_hash_line(user, pw);
	explicit_bzero(pw, cap);
	free(pw);
	if (!line) {
		fprintf(stderr, "dbosd: --pg-hash-password: cannot hash\n");
		return 1;
	}
	printf("%s\n", line);
	free(line);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: dbosd [OPTION]...\n"
		"Mirror kernel state from the dbos module into a RocksDB store and serve it as SQL.\n"
		"\n"
		"  --db DIR         database directory (default " DEFAULT_DB ")\n"
		"  --socket PATH    SQL endpoint socket (default " DBOS_DEFAULT_SOCKET ")\n"
		"  --group NAME     also let members of group NAME query (default: root only)\n"
		"  --pg-socket PATH  PostgreSQL's protocol on socket PATH (default: the\n"
		"                   directory of --socket, .s.PGSQL.5432 in it, so that\n"
		"                   `psql -h /run/dbos -d dbos` connects); same access as --socket\n"
		"  --no-pg          do not serve PostgreSQL's protocol\n"
		"  --pg-listen HOST:PORT  also on TCP (\":5432\": every address), TLS only,\n"
		"                   SCRAM-SHA-256 logins of local users (root, or --group's\n"
		"                   members); needs the three options below. Default: off\n"
		"  --pg-tls-cert FILE, --pg-tls-key FILE  the server's certificate chain and key (PEM)\n"
		"  --pg-passwords FILE  user:SCRAM verifier lines (not readable by others)\n"
		"  --pg-hash-password USER  print USER's line for --pg-passwords, the password\n"
		"                   read from stdin, and exit\n"
		"  --retention N    keep at most N rows in each history table (process_events,\n"
		"                   file_events, socket_events; default %llu; 0: none)\n"
		"  --file-kinds LIST  mirror only these kinds of open files, a comma list of\n"
		"                   regular,directory,character,block,fifo,socket,symlink,other\n"
		"                   (default: all)\n"
		"  --exclude-path PREFIX  do not mirror open files whose path starts with\n"
		"                   PREFIX (repeatable, at most %d)\n"
		"  --no-lsm         do not enforce security policy (writes to policies fail;\n"
		"                   sched_rules still work)\n"
		"  --bpf-pin DIR    where the BPF LSM programs and maps are pinned\n"
		"                   (default " DBOS_LSM_PIN_DIR ")\n"
		"\n"
		"The fleet (every dbosd on one NATS server with JetStream, queried as one\n"
		"database with `dbos --fleet URL`):\n"
		"  --fleet URL      join the fleet at URL (nats://host:port); fleet queries\n"
		"                   run here read-only, as an unprivileged session; the\n"
		"                   fleet's policy is enforced here (rules fleet:NAME); the\n"
		"                   history tables are published to the stream DBOS_EVENTS\n"
		"  --fleet-host ID  this host's id (default: the hostname)\n"
		"  --fleet-labels LIST  comma list of labels queries can target (label:NAME)\n"
		"  --fleet-creds FILE   NATS credentials (.creds: JWT and NKey seed)\n"
		"  --fleet-ca FILE  TLS to NATS, trusting this CA; --fleet-cert FILE and\n"
		"                   --fleet-key FILE: this host's client certificate\n"
		"\n"
		"Limits on clients (0: none, except --max-connections):\n"
		"  --max-connections N           clients served at once (default %u)\n"
		"  --reserved-connections N      of them, kept for root (default %u)\n"
		"  --max-connections-per-user N  per uid other than root (default %u)\n"
		"  --statement-timeout SECS      a statement is cancelled after SECS of work\n"
		"                                (default %u)\n"
		"  --first-query-timeout SECS    a connection must send a query within SECS\n"
		"                                (default %u)\n"
		"  --send-timeout SECS           a client that reads none of its rows for SECS\n"
		"                                is dropped (default %u)\n"
		"  --session-memory MIB          SQLite memory one client may use (default %u)\n"
		"  -h, --help       show this help\n"
		"\n"
		"Runs until SIGTERM or SIGINT. Works without the module (serving the stored\n"
		"state) and attaches when it is loaded. Must run as root. Policy stays\n"
		"enforced by the pinned BPF programs after dbosd stops; a restarted dbosd\n"
		"adopts them.\n",
		DEFAULT_RETENTION, DBOS_FILTER_PREFIXES, ENDPOINT_DEFAULT_MAX_CONNECTIONS,
		ENDPOINT_DEFAULT_RESERVED, ENDPOINT_DEFAULT_PER_USER,
		ENDPOINT_DEFAULT_STATEMENT_TIMEOUT, ENDPOINT_DEFAULT_FIRST_QUERY_TIMEOUT,
		ENDPOINT_DEFAULT_SEND_TIMEOUT, DEFAULT_SESSION_MEMORY);
}

/* dbos_stats: the intake's counters, then the mirror's. Thread-safe (atomics). */
static int stats(void *arg, struct sql_stat *out, int max)
{
	const struct dbosd *d = arg;
	int64_t iv[INTAKE_STAT__COUNT], mv[MIRROR_STAT__COUNT];
	int n = 0;

	intake_stats_read(intake_loop_session(d->loop), iv);
	mirror_stats_read(d->m, mv);
	for (int i = 0; i < INTAKE_STAT__COUNT && n < max; i++)
		out[n++] = (struct sql_stat){ intake_stat_info[i].name, iv[i], intake_stat_info[i].doc };
	for (int i = 0; i < MIRROR_STAT__COUNT && n < max; i++)
		out[n++] = (struct sql_stat){ mirror_stat_info[i].name, mv[i], mirror_stat_info[i].doc };
	if (d->pol)
		n += policy_stats(d->pol, out + n, max - n);
	return n;
}

/* The fleet agent's session: nobody's rights (reads), on the agent's own thread. */
static int open_fleet_db(void *arg, sqlite3 **db, char **err)
{
	const struct dbosd *d = arg;
	struct sql_session who = { .uid = FLEET_UID, .pid = getpid(),
				   .memory_limit = d->session_memory };

	*db = NULL;
	return sql_open_session(&d->env, &who, db, err);
}

/* The history tables a host in the fleet publishes (dbos-fleet-sink copies them into PostgreSQL). */
static const char *const fleet_history[] = {
	"process_events", "file_events", "socket_events", "policy_decisions", NULL
};

/* The fleet agent's apply_policy(): the fleet's rules for this host become the live fleet rules. */
static int apply_fleet_policy(void *arg, const struct fleet_rule *rules, size_t n, uint64_t version,
			      uint64_t *local, char **err)
{
	const struct dbosd *d = arg;
	struct policy_set s = { 0 };
	int ret = 0;

	for (size_t i = 0; i < n && !ret; i++) {
		const struct fleet_rule *f = &rules[i];
		struct policy_row r = {
			.id = (int64_t)i, .name = f->name, .hook = f->hook, .action = f->action,
			.condition = f->condition, .has_nice = f->has_nice, .nice = f->nice,
			.has_priority = f->has_priority, .priority = f->priority,
			.sched_policy = f->sched_policy, .cpus = f->cpus,
		};

		if (policy_set_add_row(&s, &r)) {
			*err = strdup("out of memory");
			ret = -1;
		}
	}
	if (!ret)
		ret = policy_fleet_apply(d->pol, &s, version, local, err);
	policy_set_free(&s);
	return ret;
}

/* The --fleet options that can be checked before anything starts. 0, or 2 after saying why. */
static int check_fleet(const struct fleet_agent_config *fc)
{
	const char *files[] = { fc->nats.creds, fc->nats.ca, fc->nats.cert, fc->nats.key };
	char *labels, *l, *save = NULL;
	int bad = 0;

	if (!fc->nats.url) {
		if (fc->host || fc->labels || fc->nats.creds || fc->nats.ca || fc->nats.cert) {
			fprintf(stderr, "dbosd: the --fleet-* options need --fleet URL\n");
			return 2;
		}
		return 0;
	}
	if (fc->host && !fleet_name_ok(fc->host)) {
		fprintf(stderr, "dbosd: --fleet-host: '%s' is not a host id (1-%d letters, digits, "
			"'-' or '_')\n", fc->host, FLEET_NAME_MAX);
		return 2;
	}
	labels = strdup(fc->labels ? fc->labels : "");
	for (l = labels ? strtok_r(labels, ",", &save) : NULL; l; l = strtok_r(NULL, ",", &save))
		if (!fleet_name_ok(l)) {
			fprintf(stderr, "dbosd: --fleet-labels: '%s' is not a label (1-%d letters, "
				"digits, '-' or '_')\n", l, FLEET_NAME_MAX);
			bad = 2;
		}
	free(labels);
	for (size_t i = 0; !bad && i < sizeof(files) / sizeof(files[0]); i++)
		if (files[i] && access(files[i], R_OK)) {
			fprintf(stderr, "dbosd: cannot read %s: %s\n", files[i], strerror(errno));
			bad = 2;
		}
	return bad;
}

static sqlite3 *open_db(void *arg, const struct ucred *peer, void *sink, char **err)
{
	const struct dbosd *d = arg;
	struct sql_session who = { .uid = peer->uid, .pid = peer->pid,
				   .notice = endpoint_notice, .notice_arg = sink,
				   .memory_limit = d->session_memory };
	sqlite3 *db = NULL;

	if (sql_open_session(&d->env, &who, &db, err))
		return NULL;
	return db;
}

/* The same for a PostgreSQL client: its session also has pg_catalog (pgwire/). */
static sqlite3 *open_pg_db(void *arg, const struct ucred *peer, void *sink, char **err)
{
	const struct dbosd *d = arg;
	struct sql_session who = { .uid = peer->uid, .pid = peer->pid,
				   .notice = endpoint_notice, .notice_arg = sink,
				   .memory_limit = d->session_memory,
				   .setup = pgwire_session_setup, .setup_arg = sink };
	sqlite3 *db = NULL;

	if (sql_open_session(&d->env, &who, &db, err))
		return NULL;
	return db;
}

/* The policy manager's view of the kernel: kernel/enforce.h. */
static int ops_prepare(void *arg, const struct policy_image *img, char **err)
{
	return enforce_prepare(arg, &img->gen, err);
}

static void ops_flip(void *arg)
{
	enforce_flip(arg);
}

static uint64_t ops_live_version(void *arg)
{
	return enforce_live_version(arg);
}

static void ops_live_marks(void *arg, uint64_t hash[DBOS_LSM_MARKS])
{
	enforce_live_marks(arg, hash);
}

static int ops_poll(void *arg, int timeout_ms,
		    void (*cb)(void *cbarg, const struct dbos_lsm_decision *d), void *cbarg,
		    char **err)
{
	return enforce_poll(arg, timeout_ms, cb, cbarg, err);
}

static void ops_counters(void *arg, uint64_t out[DBOS_LSM_C__COUNT])
{
	enforce_counters(arg, out);
}

/* Scheduling rules go to dbos.ko (kernel/kernel.h): stage, then activate after the store write. */
static int ops_sched_stage(void *arg, uint64_t version, const struct sched_term *t, size_t n,
			   char **err)
{
	return kernel_sched_rules_stage(version, t, n, err) ? -1 : 0;
}

static int ops_sched_activate(void *arg, uint64_t version, char **err)
{
	return kernel_sched_rules_activate(version, err) ? -1 : 0;
}

/* Moves whenever the mirror commits a change: the refresher's cue. */
static uint64_t mirror_changes(void *arg)
{
	const struct dbosd *d = arg;
	int64_t mv[MIRROR_STAT__COUNT];

	mirror_stats_read(d->m, mv);
	return (uint64_t)(mv[MIRROR_STAT_EVENTS_APPLIED] + mv[MIRROR_STAT_SNAPSHOTS] +
			  mv[MIRROR_STAT_LAST_SEQ] + mv[MIRROR_STAT_EPOCH_BASE]);
}

static int mkdir_p(const char *path, mode_t mode)
{
	char *p = strdup(path);
	int rc = 0;

	if (!p)
		return -1;
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || !*s) {
			char c = *s;

			*s = '\0';
			if (mkdir(p, mode) && errno != EEXIST) {
				rc = -1;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return rc;
}

/* --file-kinds: a comma list of kind names -> mask of 1 << DBOS_FILE_*. 0, or -1 (*@bad: the word). */
static int parse_kinds(const char *s, uint32_t *out, char bad[64])
{
	static const char *const names[__DBOS_FILE_MAX] = {
		[DBOS_FILE_OTHER] = "other", [DBOS_FILE_REG] = "regular",
		[DBOS_FILE_DIR] = "directory", [DBOS_FILE_CHR] = "character",
		[DBOS_FILE_BLK] = "block", [DBOS_FILE_FIFO] = "fifo",
		[DBOS_FILE_SOCK] = "socket", [DBOS_FILE_LNK] = "symlink",
	};
	uint32_t mask = 0;

	for (const char *p = s;;) {
		size_t n = strcspn(p, ",");
		int k;

		for (k = 0; k < __DBOS_FILE_MAX; k++)
			if (strlen(names[k]) == n && !strncmp(names[k], p, n))
				break;
		if (k == __DBOS_FILE_MAX) {
			snprintf(bad, 64, "%.*s", (int)(n < 60 ? n : 60), p);
			return -1;
		}
		mask |= 1U << k;
		if (!p[n])
			break;
		p += n + 1;
	}
	*out = mask;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*out = v;
	return 0;
}

/*
 * A client limit for endpoint_config: a number up to @max, where 0 means
 * no limit (ENDPOINT_OFF). 0, or -1 after saying what is wrong.
 */
static int parse_limit(const char *opt, const char *s, uint64_t max, unsigned int *out)
{
	uint64_t v;

	if (parse_u64(s, &v) || v > max) {
		fprintf(stderr, "dbosd: --%s wants a number from 0 (no limit) to %llu, not '%s'\n",
			opt, (unsigned long long)max, s);
		return -1;
	}
	*out = v ? (unsigned int)v : ENDPOINT_OFF;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "group", required_argument, NULL, 'g' },
		{ "pg-socket", required_argument, NULL, 'p' },
		{ "no-pg", no_argument, NULL, 'N' },
		{ "pg-listen", required_argument, NULL, 'l' },
		{ "pg-tls-cert", required_argument, NULL, 'c' },
		{ "pg-tls-key", required_argument, NULL, 'K' },
		{ "pg-passwords", required_argument, NULL, 'W' },
		{ "pg-hash-password", required_argument, NULL, 'H' },
		{ "retention", required_argument, NULL, 'r' },
		{ "file-kinds", required_argument, NULL, 'k' },
		{ "exclude-path", required_argument, NULL, 'x' },
		{ "no-lsm", no_argument, NULL, 'L' },
		{ "bpf-pin", required_argument, NULL, 'P' },
		{ "max-connections", required_argument, NULL, 'C' },
		{ "reserved-connections", required_argument, NULL, 'R' },
		{ "max-connections-per-user", required_argument, NULL, 'U' },
		{ "statement-timeout", required_argument, NULL, 'T' },
		{ "first-query-timeout", required_argument, NULL, 'F' },
		{ "send-timeout", required_argument, NULL, 'S' },
		{ "session-memory", required_argument, NULL, 'M' },
		{ "fleet", required_argument, NULL, 1000 },
		{ "fleet-host", required_argument, NULL, 1001 },
		{ "fleet-labels", required_argument, NULL, 1002 },
		{ "fleet-creds", required_argument, NULL, 1003 },
		{ "fleet-ca", required_argument, NULL, 1004 },
		{ "fleet-cert", required_argument, NULL, 1005 },
		{ "fleet-key", required_argument, NULL, 1006 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct fleet_agent_config fc = { .version = DBOS_RELEASE, .open_db = open_fleet_db,
					 .errmsg = sql_errmsg };
	struct fleet_agent *fleet = NULL;
	const char *db_dir = DEFAULT_DB, *sock = DBOS_DEFAULT_SOCKET, *group = NULL;
	const char *pin_dir = DBOS_LSM_PIN_DIR, *pg_sock = NULL;
	char *pg_default = NULL;
	struct endpoint_protocol pg = pgwire_protocol, pg_tcp = pgwire_protocol;
	const char *pg_listen = NULL, *pg_cert = NULL, *pg_key = NULL, *pg_passwords = NULL;
	struct pgwire_tcp *tcp = NULL;
	bool no_lsm = false, no_pg = false;
	struct policy_kernel_ops kops = {
		.prepare = ops_prepare, .flip = ops_flip, .live_version = ops_live_version,
		.live_marks = ops_live_marks,
		.poll = ops_poll, .counters = ops_counters,
		.sched_stage = ops_sched_stage, .sched_activate = ops_sched_activate,
	};
	struct policy_config pc = { .log = log_line };
	char *no_kernel = NULL;
	struct mirror_config mc = { .retention = DEFAULT_RETENTION };
	struct endpoint_config ec = { 0 };
	struct intake_loop_config lc = { .log = log_line };
	struct kernel_filter filter = { .kinds = DBOS_FILE_KINDS_ALL };
	char bad[64];
	struct dbosd d = { 0 };
	struct endpoint *ep = NULL;
	unsigned int mib = DEFAULT_SESSION_MEMORY;
	struct timespec t;
	double phase[5] = { 0 };	/* startup: store, tables, BPF, policy, intake */
	/* The client limits: option, largest value, where it goes (0 on the command line: ENDPOINT_OFF). */
	const struct { int val; uint64_t max; unsigned int *out; } limits[] = {
		{ 'C', 65536, &ec.max_connections }, { 'R', 65536, &ec.reserved_connections },
		{ 'U', 65536, &ec.max_connections_per_user }, { 'T', 1u << 30, &ec.statement_timeout },
		{ 'F', 1u << 30, &ec.first_query_timeout }, { 'S', 1u << 30, &ec.send_timeout },
		{ 'M', 1u << 20, &mib },
	}, *lim;
	int idx = 0;
	sigset_t sigs;
	char *err = NULL;
	int c, sig = 0, status = 1;

	while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		switch (c) {
		case 'd': db_dir = optarg; break;
		case 's': sock = optarg; break;
		case 'g': group = optarg; break;
		case 'p': pg_sock = optarg; break;
		case 'N': no_pg = true; break;
		case 'l': pg_listen = optarg; break;
		case 'c': pg_cert = optarg; break;
		case 'K': pg_key = optarg; break;
		case 'W': pg_passwords = optarg; break;
		case 'H': return hash_password(optarg);
		case 'r':
			if (parse_u64(optarg, &mc.retention)) {
				fprintf(stderr, "dbosd: --retention wants a number of rows, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'k':
			if (parse_kinds(optarg, &filter.kinds, bad)) {
				fprintf(stderr, "dbosd: --file-kinds: unknown kind '%s' (want a comma list of "
					"regular, directory, character, block, fifo, socket, symlink, other)\n",
					bad);
				return 2;
			}
			break;
		case 'x':
			if (filter.nexclude == DBOS_FILTER_PREFIXES) {
				fprintf(stderr, "dbosd: --exclude-path: at most %d prefixes\n",
					DBOS_FILTER_PREFIXES);
				return 2;
			}
			if (!optarg[0] || strlen(optarg) >= DBOS_FILTER_PREFIX_MAX) {
				fprintf(stderr, "dbosd: --exclude-path: a prefix is 1 to %d bytes, not '%s'\n",
					DBOS_FILTER_PREFIX_MAX - 1, optarg);
				return 2;
			}
			filter.exclude[filter.nexclude++] = optarg;
			break;
		case 'L': no_lsm = true; break;
		case 'P':
			if (!optarg[0]) {
				fprintf(stderr, "dbosd: --bpf-pin wants a directory\n");
				return 2;
			}
			pin_dir = optarg;
			break;
		case 'C': case 'R': case 'U': case 'T': case 'F': case 'S': case 'M':
			for (lim = limits; lim->val != c; lim++)
				;
			if (parse_limit(opts[idx].name, optarg, lim->max, lim->out))
				return 2;
			break;
		case 1000: fc.nats.url = optarg; break;
		case 1001: fc.host = optarg; break;
		case 1002: fc.labels = optarg; break;
		case 1003: fc.nats.creds = optarg; break;
		case 1004: fc.nats.ca = optarg; break;
		case 1005: fc.nats.cert = optarg; break;
		case 1006: fc.nats.key = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dbosd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (ec.max_connections == ENDPOINT_OFF) {
		fprintf(stderr, "dbosd: --max-connections cannot be 0: every client is a thread\n");
		return 2;
	}
	d.session_memory = mib == ENDPOINT_OFF ? 0 : (uint64_t)mib << 20;
	if (ec.reserved_connections && ec.reserved_connections != ENDPOINT_OFF &&
	    ec.reserved_connections >= (ec.max_connections ? ec.max_connections
						       : ENDPOINT_DEFAULT_MAX_CONNECTIONS)) {
		fprintf(stderr, "dbosd: --reserved-connections must be fewer than --max-connections "
			"(%u)\n", ec.max_connections ? ec.max_connections
						  : ENDPOINT_DEFAULT_MAX_CONNECTIONS);
		return 2;
	}
	if (pg_listen && (no_pg || !pg_cert || !pg_key || !pg_passwords)) {
		fprintf(stderr, "dbosd: --pg-listen needs --pg-tls-cert, --pg-tls-key and "
			"--pg-passwords (dbosd never takes a password in plain text), and not "
			"--no-pg\n");
		return 2;
	}
	if (check_fleet(&fc))
		return 2;
	if (geteuid() != 0) {
		fprintf(stderr, "dbosd: must run as root (the dbos netlink family and its events "
			"group require CAP_NET_ADMIN, its dumps CAP_SYS_ADMIN, its scheduling "
			"commands CAP_SYS_NICE, and the socket is owned by root)\n");
		return 1;
	}
	ec.group = (gid_t)-1;
	if (group) {
		struct group *g = getgrnam(group);

		if (!g) {
			fprintf(stderr, "dbosd: no such group '%s'\n", group);
			return 2;
		}
		ec.group = g->gr_gid;
	}

	/* The TLS files and the password file, before anything touches the system. */
	if (pg_listen && pgwire_tcp_open(pg_cert, pg_key, pg_passwords, &tcp, &err)) {
		fprintf(stderr, "dbosd: --pg-listen: %s\n", err ? err : "?");
		free(err);
		return 1;
	}

	/* Before anything uses SQLite: the allocator that keeps --session-memory. */
	if (sql_init(&err)) {
		fprintf(stderr, "dbosd: %s\n", err);
		free(err);
		return 1;
	}

	/* Every thread started from here on inherits this mask; main waits in sigwait(). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	lap(&t);
	if (mkdir_p(db_dir, 0700)) {
		fprintf(stderr, "dbosd: cannot create %s: %s\n", db_dir, strerror(errno));
		return 1;
	}
	if (store_open(db_dir, &d.st, &err)) {
		fprintf(stderr, "dbosd: cannot open the store in %s: %s\n", db_dir, err ? err : "?");
		goto out;
	}
	phase[0] = lap(&t);
	if (mirror_open(d.st, &mc, &d.m, &err)) {
		fprintf(stderr, "dbosd: cannot load the store in %s: %s\n", db_dir, err ? err : "?");
		goto out;
	}
	{
		int64_t mv[MIRROR_STAT__COUNT];

		mirror_stats_read(d.m, mv);
		fprintf(stderr, "dbosd: store %s: %" PRId64 " processes, %" PRId64 " process events, %"
			PRId64 " open files, %" PRId64 " sockets\n", db_dir,
			mv[MIRROR_STAT_PROCESSES_ROWS], mv[MIRROR_STAT_PROCESS_EVENTS_ROWS],
			mv[MIRROR_STAT_FILES_ROWS], mv[MIRROR_STAT_SOCKETS_ROWS]);
	}
	phase[1] = lap(&t);
	d.env.st = d.st;
	d.env.stats = stats;
	d.env.stats_arg = &d;

	if (no_lsm) {
		no_kernel = strdup("dbosd runs with --no-lsm: no policy is enforced");
	} else if (enforce_open(pin_dir, &d.enf, &err)) {
		no_kernel = err ? err : strdup("the BPF LSM enforcer did not start");
		err = NULL;
		fprintf(stderr, "dbosd: policy not enforced: %s\n", no_kernel ? no_kernel : "?");
	} else {
		kops.arg = d.enf;
		fprintf(stderr, "dbosd: BPF LSM %s under %s, live policy version %" PRIu64 "\n",
			enforce_adopted(d.enf) ? "adopted" : "loaded", pin_dir,
			enforce_live_version(d.enf));
	}
	phase[2] = lap(&t);
	pc.st = d.st;
	pc.env = &d.env;
	/* Without the enforcer only the sched ops: sched_rules work, policies writes fail. */
	if (!d.enf)
		kops = (struct policy_kernel_ops){ .sched_stage = ops_sched_stage,
						   .sched_activate = ops_sched_activate };
	pc.ops = &kops;
	pc.no_kernel_reason = no_kernel;
	pc.retention = mc.retention;
	pc.mirror_changes = mirror_changes;
	pc.mirror_arg = &d;
	if (policy_open(&pc, &d.pol, &err)) {
		fprintf(stderr, "dbosd: cannot start the policy manager: %s\n", err ? err : "?");
		goto out;
	}
	phase[3] = lap(&t);
	d.env.extend = policy_sql_register;
	d.env.extend_arg = d.pol;

	lc.mirror = d.m;
	lc.filter = &filter;
	if (intake_loop_start(&lc, &d.loop, &err)) {
		fprintf(stderr, "dbosd: cannot start the intake: %s\n", err ? err : "?");
		goto out;
	}
	phase[4] = lap(&t);
	ec.socket_path = sock;
	if (!no_pg) {
		if (!pg_sock) {
			const char *slash = strrchr(sock, '/');
			int dirlen = slash ? (int)(slash - sock) : 1;

			if (asprintf(&pg_default, "%.*s/.s.PGSQL.5432", dirlen,
				     slash ? sock : ".") < 0) {
				fprintf(stderr, "dbosd: out of memory\n");
				goto out;
			}
			pg_sock = pg_default;
		}
		pg.socket_path = pg_sock;
		pg.open_db_peer = open_pg_db;
		ec.also[0] = &pg;
	}
	if (pg_listen) {
		pg_tcp.socket_path = NULL;
		pg_tcp.tcp_address = pg_listen;
		pg_tcp.open_db_peer = open_pg_db;
		pg_tcp.arg = tcp;
		ec.also[1] = &pg_tcp;
	}
	ec.open_db_peer = open_db;
	ec.errmsg = sql_errmsg;
	ec.park = sql_park;
	ec.nomem = sql_nomem_errmsg;
	ec.arg = &d;
	if (endpoint_start(&ec, &ep, &err)) {
		fprintf(stderr, "dbosd: cannot serve SQL on %s: %s\n", sock, err ? err : strerror(errno));
		goto out;
	}
	if (!no_pg)
		fprintf(stderr, "dbosd: serving PostgreSQL's protocol on %s%s%s (TLS)\n", pg_sock,
			pg_listen ? " and TCP " : "", pg_listen ? pg_listen : "");
	fprintf(stderr, "dbosd: serving SQL on %s (started in %.1f s: store %.1f, tables %.1f, "
		"BPF %.1f, policy %.1f, intake %.1f)\n", sock,
		phase[0] + phase[1] + phase[2] + phase[3] + phase[4] + lap(&t),
		phase[0], phase[1], phase[2], phase[3], phase[4]);

	if (fc.nats.url) {
		fc.nats.name = "dbosd";
		fc.open_arg = &d;
		fc.apply_policy = apply_fleet_policy;
		fc.policy_arg = &d;
		fc.events_tables = fleet_history;
		fleet = fleet_agent_start(&fc, &err);
		if (!fleet) {
			fprintf(stderr, "dbosd: --fleet: %s\n", err ? err : "?");
			goto out;
		}
		fprintf(stderr, "dbosd: in the fleet at %s as host %s\n", fc.nats.url,
			fleet_agent_host(fleet));
	}

	while (sigwait(&sigs, &sig) == EINTR)
		;
	fprintf(stderr, "dbosd: %s: shutting down\n", strsignal(sig));
	status = 0;
out:
	free(err);
	free(pg_default);
	fleet_agent_stop(fleet);	/* leaves the fleet; its session closes */
	intake_loop_stop(d.loop);	/* commits what it received */
	endpoint_stop(ep);		/* no client reads the stats after this */
	pgwire_tcp_close(tcp);
	intake_loop_free(d.loop);
	policy_close(d.pol);		/* its threads read the mirror's stats */
	enforce_close(d.enf);		/* the pins stay: enforcement continues */
	free(no_kernel);
	mirror_close(d.m);
	if (d.st)
		store_close(d.st);
	if (status == 0)
		fprintf(stderr, "dbosd: stopped cleanly\n");
	return status;
}
