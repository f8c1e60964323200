// SPDX-License-Identifier: GPL-2.0
/*
 * test_privileges.c - who may do what: the privilege matrix, checked cell by
 * cell against the real dbosd and dbos.ko in the test VM.
 *
 * Six callers (one test each): root; a member of dbosd's --group; an
 * unrelated user; a user holding only CAP_NET_ADMIN; root in a user namespace
 * an unrelated user made; uid 0 in a user namespace root made, mapping 0 to
 * itself (uid 0 to dbosd, no capability to the kernel). Each does every operation of the matrix below:
 * SELECT from every name dbos_schema lists, INSERT/UPDATE/DELETE on the rule
 * tables, processes and every other table, the functions, the SQL guard's
 * refusals, and every command of the dbos generic netlink family plus
 * joining its events group. What happened is classified (enum outcome) and
 * compared with what the matrix says.
 *
 * The matrix is one table (rows[]); README.md's "Who may do what" carries
 * the same table (its rows are extracted when the test is built:
 * readme_matrix.h). readme_agrees fails when the two differ, and so does
 * make: tests/build.mk builds this file with PRIVMATRIX_README_CHECK into a
 * program that only compares, and runs it.
 *
 * Netlink probes change nothing: where the command would change state, the
 * probe is one the kernel refuses after its permission check (SET_FILTER
 * with an unknown file kind: EINVAL; SCHED_RULES activating a version never
 * staged: ESTALE) or one that sets what is already in force (SCHED_SET of
 * the caller's own nice). So "yes" means "passed the permission checks".
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#include "kselftest_harness.h"
#include "vm_util.h"
#include "vm_genl.h"
#include "../host/as_user.h"
#include "readme_matrix.h"	/* readme_matrix[]: README's "Who may do what" rows */

#define MEMBER_UID	1000	/* dbos-test */
#define MEMBER_GID	1000	/* group dbos-test: dbosd --group */
#define OTHER_UID	65534	/* nobody */
#define OTHER_GID	65534

enum caller { ROOT, MEMBER, OTHER, NET_ADMIN, USERNS, USERNS_UID0, NCALLERS };

/* The matrix's column heads, as the README writes them. */
static const char *const caller_head[NCALLERS] = {
	"root", "`--group` member", "other user", "only `CAP_NET_ADMIN`",
	"root in a user namespace", "uid 0 in a user namespace",
};

/* What happened to one operation; the README's words for it. */
enum outcome {
	YES,		/* it worked (netlink: passed every permission check) */
	EACCES_,	/* connect() to dbosd's socket: EACCES (its mode) */
	ONLY_ROOT,	/* "permission denied: only root may change ..." */
	READ_ONLY,	/* refused for what the table is, whoever asks */
	GUARD,		/* "not authorized: ...": refused for every client */
	EPERM_,		/* netlink: EPERM */
	EOPNOTSUPP_,	/* netlink: no such command */
	OTHER_ERR,	/* anything else: always a failure */
};

static const char *const outcome_text[] = {
	[YES] = "yes", [EACCES_] = "EACCES", [ONLY_ROOT] = "only root",
	[READ_ONLY] = "read-only", [GUARD] = "refused", [EPERM_] = "EPERM",
	[EOPNOTSUPP_] = "EOPNOTSUPP", [OTHER_ERR] = "other error",
};

enum kind {
	SQL,		/* @sql once */
	SQL_SELECT_EACH,	/* @sql for every table, view and table-valued function */
	SQL_WRITE_EACH,	/* @sql for every one but policies, sched_rules, processes */
	NL,		/* @nl(), which returns @nl_ok when allowed */
};

struct probe_env;
typedef int (*nl_probe)(struct nl *nl, const struct probe_env *env);

struct row {
	const char *name;	/* the README's first cell */
	enum kind kind;
	const char *sql;	/* with {table}, {col}, {pid}, {version}: sql_text() */
	nl_probe nl;
	int nl_ok;		/* what @nl returns when the caller may */
	const char *extack;	/* what the refusal of a CAP_NET_ADMIN holder names */
	enum outcome want[NCALLERS];
};

/* ---------------------------------------------------------------------- */
/* Netlink probes                                                          */

struct probe_env {
	pid_t sleeper;		/* a child of the test: UPDATE processes' target */
	long long version;	/* the live policy version: policy_rollback's */
};

static int nl_get_stats(struct nl *nl, const struct probe_env *env)
{
	return nl_request(nl, DBOS_CMD_GET_STATS, NLM_F_ACK, NULL, NULL, NULL);
}

static int nl_dump_procs(struct nl *nl, const struct probe_env *env)
{
	return nl_request(nl, DBOS_CMD_DUMP_PROCS, NLM_F_DUMP, NULL, NULL, NULL);
}

static int nl_get_proc(struct nl *nl, const struct probe_env *env)
{
	struct attr_buf a = { .len = 0 };

	attr_put_u32(&a, DBOS_A_PID, getpid());
	return nl_request(nl, DBOS_CMD_GET_PROC, NLM_F_ACK, &a, NULL, NULL);
}

static int nl_dump_files(struct nl *nl, const struct probe_env *env)
{
	struct attr_buf a = { .len = 0 };

	attr_put_u32(&a, DBOS_A_PID, getpid());
	return nl_request(nl, DBOS_CMD_DUMP_FILES, NLM_F_DUMP, &a, NULL, NULL);
}

static int nl_get_live(struct nl *nl, const struct probe_env *env)
{
	struct attr_buf a = { .len = 0 };
	__u32 pids[2] = { getpid(), 1 };

	attr_put(&a, DBOS_A_PIDS, pids, sizeof(pids));
	return nl_request(nl, DBOS_CMD_GET_LIVE, NLM_F_DUMP, &a, NULL, NULL);
}

/*
 * dbosd's own filter here (its default: every kind, nothing excluded), so a
 * caller that may set it changes nothing. (A malformed one would be refused
 * by the attribute policy before the CAP_SYS_ADMIN check, whoever sends it.)
 */
static int nl_set_filter(struct nl *nl, const struct probe_env *env)
{
	struct attr_buf a = { .len = 0 };

	attr_put_u32(&a, DBOS_A_FILE_KINDS, DBOS_FILE_KINDS_ALL);
	return nl_request(nl, DBOS_CMD_SET_FILTER, NLM_F_ACK, &a, NULL, NULL);
}

/* The caller's own nice, set to what it is. */
static int nl_sched_set(struct nl *nl, const struct probe_env *env)
{
	struct attr_buf a = { .len = 0 };
	size_t targets, target;

	targets = attr_nest(&a, DBOS_A_SCHED_TARGETS);
	target = attr_nest(&a, DBOS_A_SCHED_TARGET);
	attr_put_u32(&a, DBOS_A_PID, getpid());
	attr_put_u32(&a, DBOS_A_NICE, (__u32)getpriority(PRIO_PROCESS, 0));
	attr_nest_end(&a, target);
	attr_nest_end(&a, targets);
	return nl_request(nl, DBOS_CMD_SCHED_SET, NLM_F_ACK, &a, NULL, NULL);
}

/* Activating a version nobody staged: ESTALE once past the check, nothing changes. */
static int nl_sched_rules(struct nl *nl, const struct probe_env *env)
{
	struct attr_buf a = { .len = 0 };
	__u64 version = ~0ULL - 7;

	attr_put(&a, DBOS_A_SCHED_VERSION, &version, sizeof(version));
	attr_put(&a, DBOS_A_SCHED_ACTIVATE, NULL, 0);
	return nl_request(nl, DBOS_CMD_SCHED_RULES, NLM_F_ACK, &a, NULL, NULL);
}

/* RECORDS goes from the kernel to userspace only. */
static int nl_records(struct nl *nl, const struct probe_env *env)
{
	return nl_request(nl, DBOS_CMD_RECORDS, NLM_F_ACK, NULL, NULL, NULL);
}

static int nl_join_events(struct nl *nl, const struct probe_env *env)
{
	return join_group(nl->fd, nl->events);
}

/* ---------------------------------------------------------------------- */
/* The matrix                                                              */

#define ALL(o)		{ o, o, o, o, o, o }
#define CLIENTS(o)	{ o, o, EACCES_, EACCES_, EACCES_, o }	/* the three who may connect */
#define ROOT_ONLY	{ YES, ONLY_ROOT, EACCES_, EACCES_, EACCES_, YES }
#define KERNEL(a, b)	{ YES, EPERM_, EPERM_, a, b, EPERM_ }

/*
 * In the SQL: {table} the table, {col} its first column, {pid} the
 * sleeper's pid, {version} the live policy version (sql_text()).
 */
static const struct row rows[] = {
	{ "connect to dbosd's socket", SQL, "SELECT 1", .want = CLIENTS(YES) },
	{ "`SELECT` from every table, view and table-valued function in `dbos_schema`",
	  SQL_SELECT_EACH, "SELECT * FROM {table} LIMIT 1", .want = CLIENTS(YES) },
	{ "`CREATE TEMP TABLE` (the session's own)", SQL,
	  "CREATE TEMP TABLE privmatrix(x); INSERT INTO privmatrix VALUES (1)",
	  .want = CLIENTS(YES) },
	{ "`INSERT INTO policies`", SQL,
	  "INSERT INTO policies(name, hook, action, condition) VALUES "
	  "('privmatrix', 'exec', 'audit', 'path = ''/nonexistent/privmatrix''')",
	  .want = ROOT_ONLY },
	{ "`UPDATE policies`", SQL,
	  "UPDATE policies SET condition = 'path = ''/nonexistent/privmatrix2''' "
	  "WHERE name = 'privmatrix'", .want = ROOT_ONLY },
	{ "`DELETE FROM policies`", SQL,
	  "DELETE FROM policies WHERE name = 'privmatrix'", .want = ROOT_ONLY },
	{ "`INSERT INTO sched_rules`", SQL,
	  "INSERT INTO sched_rules(name, condition, nice) VALUES "
	  "('privmatrix', 'name = ''privmatrix-none''', 5)", .want = ROOT_ONLY },
	{ "`UPDATE sched_rules`", SQL,
	  "UPDATE sched_rules SET nice = 6 WHERE name = 'privmatrix'", .want = ROOT_ONLY },
	{ "`DELETE FROM sched_rules`", SQL,
	  "DELETE FROM sched_rules WHERE name = 'privmatrix'", .want = ROOT_ONLY },
	{ "`UPDATE processes SET nice`", SQL,
	  "UPDATE processes SET nice = 3 WHERE pid = {pid}", .want = ROOT_ONLY },
	{ "`INSERT INTO processes`", SQL,
	  "INSERT INTO processes(pid) VALUES ({pid})",
	  .want = { READ_ONLY, ONLY_ROOT, EACCES_, EACCES_, EACCES_, READ_ONLY } },
	{ "`DELETE FROM processes`", SQL,
	  "DELETE FROM processes WHERE pid = {pid}",
	  .want = { READ_ONLY, ONLY_ROOT, EACCES_, EACCES_, EACCES_, READ_ONLY } },
	{ "`INSERT` into every other table", SQL_WRITE_EACH,
	  "INSERT INTO {table}({col}) VALUES (NULL)", .want = CLIENTS(READ_ONLY) },
	{ "`UPDATE` every other table", SQL_WRITE_EACH,
	  "UPDATE {table} SET {col} = {col} WHERE {col} = (SELECT {col} FROM {table} LIMIT 1)",
	  .want = CLIENTS(READ_ONLY) },
	{ "`DELETE FROM` every other table", SQL_WRITE_EACH,
	  "DELETE FROM {table} WHERE {col} = (SELECT {col} FROM {table} LIMIT 1)",
	  .want = CLIENTS(READ_ONLY) },
	{ "`SELECT policy_rollback(N)`", SQL, "SELECT policy_rollback({version})",
	  .want = ROOT_ONLY },
	{ "`ATTACH`", SQL, "ATTACH '/tmp/privmatrix.db' AS x",
	  .want = CLIENTS(GUARD) },
	{ "`load_extension()`", SQL, "SELECT load_extension('/tmp/privmatrix.so')",
	  .want = CLIENTS(GUARD) },
	{ "`PRAGMA` that sets a value", SQL, "PRAGMA cache_size = 10",
	  .want = CLIENTS(GUARD) },
	{ "netlink `GET_STATS`", NL, .nl = nl_get_stats, .want = KERNEL(YES, EPERM_) },
	{ "netlink `DUMP_PROCS`", NL, .nl = nl_dump_procs, .extack = "CAP_SYS_ADMIN",
	  .want = KERNEL(EPERM_, EPERM_) },
	{ "netlink `GET_PROC`", NL, .nl = nl_get_proc, .extack = "CAP_SYS_ADMIN",
	  .want = KERNEL(EPERM_, EPERM_) },
	{ "netlink `DUMP_FILES`", NL, .nl = nl_dump_files, .extack = "CAP_SYS_ADMIN",
	  .want = KERNEL(EPERM_, EPERM_) },
	{ "netlink `GET_LIVE`", NL, .nl = nl_get_live, .extack = "CAP_SYS_ADMIN",
	  .want = KERNEL(EPERM_, EPERM_) },
	{ "netlink `SET_FILTER`", NL, .nl = nl_set_filter,
	  .extack = "CAP_SYS_ADMIN", .want = KERNEL(EPERM_, EPERM_) },
	{ "netlink `SCHED_SET`", NL, .nl = nl_sched_set, .extack = "CAP_SYS_NICE",
	  .want = KERNEL(EPERM_, EPERM_) },
	{ "netlink `SCHED_RULES`", NL, .nl = nl_sched_rules, .nl_ok = -ESTALE,
	  .extack = "CAP_SYS_NICE", .want = KERNEL(EPERM_, EPERM_) },
	{ "netlink `RECORDS` (kernel to userspace only)", NL, .nl = nl_records,
	  .want = ALL(EOPNOTSUPP_) },
	{ "join the netlink `events` group", NL, .nl = nl_join_events,
	  .want = KERNEL(EPERM_, EPERM_) },
};

#define NROWS	(sizeof(rows) / sizeof(rows[0]))

/* ---------------------------------------------------------------------- */
/* Probes: the rows, expanded over dbos_schema's names                     */

#define MAX_PROBES	512

struct probe {
	const struct row *row;
	char table[64];		/* the expanded name, or "" */
	char sql[1024];
};

/* What a caller's child found, in memory shared with the test. */
struct result {
	enum outcome got;
	char detail[400];
};

static struct probe probes[MAX_PROBES];
static size_t nprobes;

struct name {
	char name[64], type[32], col0[64];
};

static int on_name(void *arg, int ncol, const struct dbos_value *v)
{
	struct { struct name *n; size_t cnt; } *acc = arg;
	struct name *n = &acc->n[acc->cnt];

	if (acc->cnt >= 128 || ncol < 3)
		return -1;
	snprintf(n->name, sizeof(n->name), "%s", v[0].type == DBOS_T_TEXT ? v[0].s : "");
	snprintf(n->type, sizeof(n->type), "%s", v[1].type == DBOS_T_TEXT ? v[1].s : "");
	snprintf(n->col0, sizeof(n->col0), "%s", v[2].type == DBOS_T_TEXT ? v[2].s : "");
	acc->cnt++;
	return 0;
}

/* Arguments of each table-valued function, for SELECT; a new one fails the test until added. */
static const char *tvf_args(const char *name)
{
	size_t n = strlen(name);

	if (!strcmp(name, "policy_simulate"))
		return "('exec', 'path = ''/nonexistent/privmatrix''')";
	if (n > 8 && !strcmp(name + n - 8, "_changes"))	/* processes_changes, ... */
		return "('now', 'now')";
	return NULL;
}

/* @fmt with {table}, {col}, {pid} and {version} replaced, into @out. */
static void sql_text(char *out, size_t size, const char *fmt, const char *table,
		     const char *col, const struct probe_env *env)
{
	char pid[16], version[24];
	const struct { const char *key, *val; } subst[] = {
		{ "{table}", table }, { "{col}", col }, { "{pid}", pid }, { "{version}", version },
	};
	size_t n = 0;

	snprintf(pid, sizeof(pid), "%d", (int)env->sleeper);
	snprintf(version, sizeof(version), "%lld", env->version);
	while (*fmt && n + 1 < size) {
		size_t k;

		for (k = 0; k < sizeof(subst) / sizeof(subst[0]); k++)
			if (!strncmp(fmt, subst[k].key, strlen(subst[k].key)))
				break;
		if (k == sizeof(subst) / sizeof(subst[0])) {
			out[n++] = *fmt++;
			continue;
		}
		n += snprintf(out + n, size - n, "%s", subst[k].val);
		if (n >= size)
			n = size - 1;
		fmt += strlen(subst[k].key);
	}
	out[n] = 0;
}

/* The probe of row @r on @table, whose SQL reads it as @from and @col0. */
static void probe_add(const struct row *r, const char *table, const char *from,
		      const char *col0, const struct probe_env *env)
{
	struct probe *p = &probes[nprobes];

	if (nprobes == MAX_PROBES)
		return;		/* probes_build() fails */
	nprobes++;
	p->row = r;
	snprintf(p->table, sizeof(p->table), "%s", table);
	if (r->sql)
		sql_text(p->sql, sizeof(p->sql), r->sql, from, col0, env);
}

/*
 * The probes of every row, with dbos_schema's names (read as root): 0, or
 * -1 with *@why. Functions (type 'function') must each have a row.
 */
static int probes_build(const struct probe_env *env, char *why, size_t size)
{
	static struct name names[128];
	struct { struct name *n; size_t cnt; } acc = { names, 0 };
	static const struct dbos_callbacks cb = { .on_row = on_name };
	struct dbos_conn *c = dbos_connect(SOCK, NULL);
	char *err = NULL;

	if (!c || dbos_query(c, "SELECT s.name, s.type, (SELECT name FROM pragma_table_info(s.name) "
			     "LIMIT 1) FROM dbos_schema s ORDER BY s.name", &cb, &acc, &err)) {
		snprintf(why, size, "dbos_schema: %s", err ? err : "cannot connect");
		free(err);
		if (c)
			dbos_close(c);
		return -1;
	}
	dbos_close(c);
	nprobes = 0;
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i];

		if (r->kind == SQL || r->kind == NL) {
			probe_add(r, "", "", "", env);
			continue;
		}
		for (size_t k = 0; k < acc.cnt; k++) {
			const struct name *n = &names[k];

			if (!strcmp(n->type, "function"))
				continue;
			if (r->kind == SQL_SELECT_EACH) {
				const char *args = tvf_args(n->name);
				char t[160];

				snprintf(t, sizeof(t), "%s%s", n->name, args ? args : "");
				probe_add(r, n->name, t, n->col0, env);
			} else if (strcmp(n->name, "policies") && strcmp(n->name, "sched_rules") &&
				   strcmp(n->name, "processes")) {
				probe_add(r, n->name, n->name, n->col0[0] ? n->col0 : "rowid", env);
			}
		}
	}
	for (size_t k = 0; k < acc.cnt; k++)
		if (!strcmp(names[k].type, "function") && strcmp(names[k].name, "policy_rollback")) {
			snprintf(why, size, "function %s has no row in the matrix", names[k].name);
			return -1;
		}
	if (nprobes == MAX_PROBES) {
		snprintf(why, size, "more than %d probes: raise MAX_PROBES", MAX_PROBES);
		return -1;
	}
	if (acc.cnt < 10) {
		snprintf(why, size, "dbos_schema lists only %zu names", acc.cnt);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Running the probes as one caller                                        */

static enum outcome sql_outcome(const char *err)
{
	if (strstr(err, "Permission denied") && strstr(err, "cannot connect"))
		return EACCES_;
	if (strstr(err, "permission denied: only root may"))
		return ONLY_ROOT;
	if (strstr(err, "not authorized"))
		return GUARD;
	if (strstr(err, "read-only") || strstr(err, "may not be modified") ||
	    strstr(err, "because it is a view") || strstr(err, "rows come from the kernel"))
		return READ_ONLY;
	return OTHER_ERR;
}

static void run_sql(const struct probe *p, struct result *res)
{
	struct dbos_conn *c;
	char *err = NULL;

	c = dbos_connect(SOCK, &err);
	if (c && !dbos_query(c, p->sql, NULL, NULL, &err)) {
		res->got = YES;
		snprintf(res->detail, sizeof(res->detail), "%lld changes",
			 (long long)dbos_changes(c));
	} else {
		res->got = sql_outcome(err ? err : "");
		snprintf(res->detail, sizeof(res->detail), "%s", err ? err : "?");
	}
	free(err);
	if (c)
		dbos_close(c);
}

static void run_nl(const struct probe *p, const struct probe_env *env, struct result *res)
{
	struct nl nl;
	int ret = nl_open(&nl);

	if (!ret)
		ret = p->row->nl(&nl, env);
	if (ret == p->row->nl_ok)
		res->got = YES;
	else if (ret == -EPERM)
		res->got = EPERM_;
	else if (ret == -EOPNOTSUPP)
		res->got = EOPNOTSUPP_;
	else
		res->got = OTHER_ERR;
	snprintf(res->detail, sizeof(res->detail), "%s%s%s", ret ? strerror(-ret) : "0",
		 nl.errmsg[0] ? ": " : "", nl.errmsg);
	if (nl.fd >= 0)
		close(nl.fd);
}

struct run {
	enum caller who;
	const struct probe_env *env;
	struct result *res;	/* [nprobes], shared */
};

/*
 * After a setuid() with keep-caps: only capability @cap (< 32), effective
 * and permitted. 0, or -1 with @msg.
 */
static int only_cap(int cap, char *msg, size_t size)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { { 0 } };

	d[0].effective = d[0].permitted = 1U << cap;
	if (syscall(SYS_capset, &h, d)) {
		snprintf(msg, size, "capset: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* In the caller's child (as_user_fn): become what @who needs beyond its uid, run every probe. */
static int run_probes(void *arg, char *msg, size_t size)
{
	struct run *run = arg;

	if (run->who == NET_ADMIN && only_cap(CAP_NET_ADMIN, msg, size))
		return 1;
	if (run->who == USERNS || run->who == USERNS_UID0) {
		uid_t uid = run->who == USERNS ? OTHER_UID : 0;
		gid_t gid = run->who == USERNS ? OTHER_GID : 0;
		char map[64];

		/* After setuid() /proc/self is root's until the process is dumpable again. */
		snprintf(map, sizeof(map), "0 %d 1", (int)uid);
		if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) || unshare(CLONE_NEWUSER) ||
		    write_str("/proc/self/uid_map", map) ||
		    write_str("/proc/self/setgroups", "deny") ||
		    (snprintf(map, sizeof(map), "0 %d 1", (int)gid),
		     write_str("/proc/self/gid_map", map)) || getuid() != 0) {
			snprintf(msg, size, "user namespace: %s", strerror(errno));
			return 1;
		}
	}
	for (size_t i = 0; i < nprobes; i++) {
		if (probes[i].row->kind == NL)
			run_nl(&probes[i], run->env, &run->res[i]);
		else
			run_sql(&probes[i], &run->res[i]);
	}
	return 0;
}

FIXTURE(priv) {
	struct probe_env env;
	struct result *res;
};

FIXTURE_SETUP(priv)
{
	struct stat st;
	char why[256];

	ASSERT_EQ(0, wait_socket(60)) TH_LOG("dbosd does not answer on " SOCK);
	/* The test VM starts dbosd without --group: once, with it. */
	ASSERT_EQ(0, stat(SOCK, &st));
	if (st.st_gid != MEMBER_GID)
		ASSERT_EQ(0, restart_dbosd("--group dbos-test"))
			TH_LOG("dbosd did not come back with --group dbos-test");
	ASSERT_EQ(0, stat(SOCK, &st));
	ASSERT_EQ(MEMBER_GID, st.st_gid);
	self->env.sleeper = fork();
	if (self->env.sleeper == 0) {
		pause();
		_exit(0);
	}
	ASSERT_LT(0, self->env.sleeper);
	ASSERT_EQ(1, wait_int(1, 30, "SELECT count(*) FROM processes WHERE pid = %d",
			      self->env.sleeper));
	self->env.version = q_int("SELECT coalesce(max(version), 0) FROM policy_versions WHERE live");
	ASSERT_LE(0, self->env.version);
	ASSERT_EQ(0, probes_build(&self->env, why, sizeof(why))) TH_LOG("%s", why);
	self->res = mmap(NULL, sizeof(struct result) * MAX_PROBES, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->res);
}

FIXTURE_TEARDOWN(priv)
{
	if (self->env.sleeper > 0) {
		kill(self->env.sleeper, SIGKILL);
		waitpid(self->env.sleeper, NULL, 0);
	}
}

/* Runs every probe as @who and compares each outcome with the matrix. */
static void check_caller(struct __test_metadata *_metadata, FIXTURE_DATA(priv) *self,
			 enum caller who)
{
	static const struct { uid_t uid; gid_t gid, group; } as[NCALLERS] = {
		[ROOT] = { 0, 0, (gid_t)-1 },
		[MEMBER] = { MEMBER_UID, OTHER_GID, MEMBER_GID },	/* a supplementary group */
		[OTHER] = { OTHER_UID, OTHER_GID, (gid_t)-1 },
		[NET_ADMIN] = { OTHER_UID, OTHER_GID, (gid_t)-1 },
		[USERNS] = { OTHER_UID, OTHER_GID, (gid_t)-1 },
		[USERNS_UID0] = { 0, 0, (gid_t)-1 },
	};
	struct run run = { who, &self->env, self->res };
	char msg[4096];
	int status;

	for (size_t i = 0; i < nprobes; i++)
		self->res[i] = (struct result){ OTHER_ERR, "not run" };
	/* Capabilities survive the setuid() only with keep-caps (inherited by the child). */
	if (who == NET_ADMIN)
		ASSERT_EQ(0, prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	status = as_user(as[who].uid, as[who].gid, as[who].group, run_probes, &run, msg,
			 sizeof(msg));
	ASSERT_EQ(0, status) TH_LOG("as %s: %s", caller_head[who], msg);
	for (size_t i = 0; i < nprobes; i++) {
		const struct probe *p = &probes[i];
		const struct result *r = &self->res[i];

		EXPECT_EQ(p->row->want[who], r->got)
			TH_LOG("%s%s%s as %s: want %s, got %s (%s)", p->row->name,
			       p->table[0] ? " on " : "", p->table, caller_head[who],
			       outcome_text[p->row->want[who]], outcome_text[r->got], r->detail);
		if (who == NET_ADMIN && r->got == EPERM_ && p->row->extack)
			EXPECT_NE(NULL, strstr(r->detail, p->row->extack))
				TH_LOG("%s: the refusal does not name %s: %s", p->row->name,
				       p->row->extack, r->detail);
		if (getenv("PRIVMATRIX_VERBOSE"))
			printf("# %s%s%s as %s: %s (%s)\n", p->row->name, p->table[0] ? " on " : "",
			       p->table, caller_head[who], outcome_text[r->got], r->detail);
	}
}

TEST_F_TIMEOUT(priv, root, 300)
{
	check_caller(_metadata, self, ROOT);
	/* What root did was undone: the matrix's rule rows are gone. */
	EXPECT_EQ(0, q_int("SELECT count(*) FROM policies WHERE name = 'privmatrix'"));
	EXPECT_EQ(0, q_int("SELECT count(*) FROM sched_rules WHERE name = 'privmatrix'"));
}

TEST_F_TIMEOUT(priv, group_member, 300)
{
	check_caller(_metadata, self, MEMBER);
}

TEST_F_TIMEOUT(priv, other_user, 300)
{
	check_caller(_metadata, self, OTHER);
}

TEST_F_TIMEOUT(priv, only_cap_net_admin, 300)
{
	check_caller(_metadata, self, NET_ADMIN);
}

TEST_F_TIMEOUT(priv, userns_root, 300)
{
	check_caller(_metadata, self, USERNS);
}

TEST_F_TIMEOUT(priv, userns_uid0, 300)
{
	check_caller(_metadata, self, USERNS_UID0);
	EXPECT_EQ(0, q_int("SELECT count(*) FROM policies WHERE name = 'privmatrix'"));
}

/* In a child that may bypass file modes (CAP_DAC_OVERRIDE): what dbosd says to SELECT 1. */
static int connect_past_mode(void *arg, char *msg, size_t size)
{
	struct dbos_conn *c;
	char *err = NULL;

	if (only_cap(CAP_DAC_OVERRIDE, msg, size))
		return 1;
	c = dbos_connect(SOCK, &err);
	if (c && !dbos_query(c, "SELECT 1", NULL, NULL, &err))
		snprintf(msg, size, "served");
	else
		snprintf(msg, size, "%s", err ? err : "?");
	free(err);
	if (c)
		dbos_close(c);
	return 0;
}

/* Past the socket's mode, dbosd itself refuses by the peer's credentials. */
TEST_F(priv, peer_credentials_checked)
{
	char msg[4096];

	ASSERT_EQ(0, prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	ASSERT_EQ(0, as_user(OTHER_UID, OTHER_GID, (gid_t)-1, connect_past_mode, NULL, msg,
			     sizeof(msg))) TH_LOG("%s", msg);
	EXPECT_NE(NULL, strstr(msg, "permission denied: dbosd accepts root (or group dbos-test) only"))
		TH_LOG("%s", msg);
}

/* Line @i of the matrix as the README writes it (0: the column heads), into @line. */
static void matrix_line(size_t i, char *line, size_t size)
{
	if (i)
		snprintf(line, size, "| %s |", rows[i - 1].name);
	else
		snprintf(line, size, "| |");
	for (int c = 0; c < NCALLERS; c++)
		snprintf(line + strlen(line), size - strlen(line), " %s |",
			 i ? outcome_text[rows[i - 1].want[c]] : caller_head[c]);
}

/* How many lines of README's matrix differ from this one; the first difference in @why. */
static int readme_mismatches(char *why, size_t size)
{
	size_t n = sizeof(readme_matrix) / sizeof(readme_matrix[0]);
	char line[1024];
	int bad = 0;

	why[0] = 0;
	if (n != NROWS + 1) {
		snprintf(why, size, "README's matrix has %zu rows, the test's %zu", n - 1, NROWS);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		matrix_line(i, line, sizeof(line));
		if (!strcmp(line, readme_matrix[i]))
			continue;
		if (!bad++)
			snprintf(why, size, "README.md has\n  %s\nthe test\n  %s", readme_matrix[i],
				 line);
	}
	return bad;
}

/* The README's "Who may do what" is this matrix, row for row. */
TEST(readme_agrees)
{
	char why[4096];

	EXPECT_EQ(0, readme_mismatches(why, sizeof(why))) TH_LOG("%s", why);
}

#ifdef PRIVMATRIX_README_CHECK
/* Built and run on the build machine by tests/build.mk: README and test agree, or make fails. */
int main(void)
{
	char why[4096];

	if (!readme_mismatches(why, sizeof(why)))
		return 0;
	fprintf(stderr, "README.md's \"Who may do what\" is not tests/vm/test_privileges.c's "
		"matrix:\n%s\n", why);
	return 1;
}
#else
TEST_HARNESS_MAIN
#endif
