// SPDX-License-Identifier: GPL-2.0
/*
 * test_enforce.c - in the VM: dbosd's enforcer (dbserver/kernel/enforce.c) and
 * the BPF LSM programs (bpf/dbos_lsm.bpf.c), with generations built by hand
 * (no compiler, no dbosd), checked against what the real syscalls return.
 *
 * Runs as root in the test VM booted with lsm=...,bpf. Stops dbosd first (it
 * may have loaded its own copy) and pins under its own directory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "kselftest_harness.h"
#include "dbserver/kernel/enforce.h"

#define PIN	"/sys/fs/bpf/dbos-test"
#define X	"/tmp/x"
#define XY	"/tmp/xy"
#define MAXENT	2100

/* ---- generations built by hand: one term per rule, term t of its hook ---- */

/* A term's action, as the compiler would have set its bit. */
enum { POLICY_DENY, POLICY_AUDIT, POLICY_ALLOW };

struct gen {
	struct enforce_gen img;
	struct enforce_value v[MAXENT];
	struct enforce_path p[MAXENT];
};

static struct gen *gen_new(uint64_t version)
{
	struct gen *g = calloc(1, sizeof(*g));

	g->img.version = version;
	g->img.values = g->v;
	g->img.paths = g->p;
	return g;
}

static void set_bit(struct dbos_lsm_bits *b, int t)
{
	b->w[t / 64] |= 1ULL << (t % 64);
}

/* Term @t of @hook with @action; nwords covers it. */
static void gen_term(struct gen *g, int hook, int t, int action)
{
	struct dbos_lsm_hook_cfg *c = &g->img.cfg[hook];

	if (c->nwords < (uint32_t)t / 64 + 1)
		c->nwords = t / 64 + 1;
	set_bit(action == POLICY_DENY ? &c->deny : action == POLICY_AUDIT ? &c->audit : &c->allow, t);
}

/* Term @t requires field @f == the value @val (values no entry names satisfy no term). */
static void gen_value(struct gen *g, int hook, int f, int t, const void *val, size_t len)
{
	struct enforce_value *e = &g->v[g->img.nvalues++];

	g->img.cfg[hook].fields |= 1ULL << f;
	e->key.hook = hook;
	e->key.field = f;
	memcpy(e->key.value, val, len);
	set_bit(&e->bits, t);
}

static void gen_int(struct gen *g, int hook, int f, int t, uint64_t v)
{
	gen_value(g, hook, f, t, &v, sizeof(v));
}

/* Term @t requires path == @path (or, @prefix, path starting with it). */
static void gen_path(struct gen *g, int hook, int t, const char *path, int prefix)
{
	struct enforce_path *e;
	size_t len = strlen(path);

	if (!(g->img.cfg[hook].fields & (1ULL << DBOS_LSM_F_PATH))) {
		e = &g->p[g->img.npaths++];	/* the root entry: dflt[PATH], no terms */
		e->key.prefixlen = 32;
		e->key.hook = hook;
		e->key.field = DBOS_LSM_F_PATH;
	}
	g->img.cfg[hook].fields |= 1ULL << DBOS_LSM_F_PATH;
	e = &g->p[g->img.npaths++];
	e->key.prefixlen = (4 + len + !prefix) * 8;
	e->key.hook = hook;
	e->key.field = DBOS_LSM_F_PATH;
	memcpy(e->key.path, path, len);
	set_bit(&e->bits, t);
}

static int push(struct enforce *e, struct gen *g)
{
	char *err = NULL;
	int r = enforce_prepare(e, &g->img, &err);

	if (r)
		fprintf(stderr, "enforce_prepare: %s\n", err);
	else
		enforce_flip(e);
	free(err);
	free(g);
	return r;
}

/* ---- decisions ---- */

struct seen {
	int n;
	struct dbos_lsm_decision d[64];
};

static void on_decision(void *arg, const struct dbos_lsm_decision *d)
{
	struct seen *s = arg;

	if (s->n < 64)
		s->d[s->n++] = *d;
}

/* Poll until @want decisions arrived (or 3 s). */
static int collect(struct enforce *e, struct seen *s, int want)
{
	char *err = NULL;

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 30 && s->n < want; i++) {
		if (enforce_poll(e, 100, on_decision, s, &err) < 0) {
			fprintf(stderr, "enforce_poll: %s\n", err);
			free(err);
			return -1;
		}
	}
	return s->n;
}

/* ---- operations: 0 or the errno the real syscall gave ---- */

/* execv @path ("sh -c 'exit 7'") in a child; 0 if it ran (and exited 7). *@pid: the child. */
static int run_exec(const char *path, pid_t *pid)
{
	int pfd[2], err = 0, st;
	pid_t c;

	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	c = fork();
	if (c == 0) {
		char *argv[] = { "sh", "-c", "exit 7", NULL };

		execv(path, argv);
		err = errno;
		write(pfd[1], &err, sizeof(err));
		_exit(127);
	}
	close(pfd[1]);
	if (read(pfd[0], &err, sizeof(err)) != sizeof(err))
		err = 0;
	close(pfd[0]);
	waitpid(c, &st, 0);
	if (pid)
		*pid = c;
	if (!err && !(WIFEXITED(st) && WEXITSTATUS(st) == 7))
		return -1;
	return err;
}

static int try_open(const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0 || bind(s, (void *)&a, sizeof(a)) || listen(s, 16) ||
	    getsockname(s, (void *)&a, &len))
		return -1;
	*port = ntohs(a.sin_port);
	return s;
}

static int try_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM, 0), r = 0;

	if (connect(s, (void *)&a, sizeof(a)))
		r = errno;
	close(s);
	return r;
}

/* A unix stream listener at @path ('@name': abstract); its fd. */
static int unix_listener(const char *path, struct sockaddr_un *a, socklen_t *len)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	strcpy(a->sun_path, path);
	if (path[0] == '@')
		a->sun_path[0] = 0;
	*len = offsetof(struct sockaddr_un, sun_path) + strlen(path) + (path[0] != '@');
	unlink(path);
	if (s < 0 || bind(s, (void *)a, *len) || listen(s, 4))
		return -1;
	return s;
}

static int try_connect_unix(const struct sockaddr_un *a, socklen_t len)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0), r = 0;

	if (connect(s, (const void *)a, len))
		r = errno;
	close(s);
	return r;
}

static int try_bind(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM, 0), r = 0;

	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (bind(s, (void *)&a, sizeof(a)))
		r = errno;
	close(s);
	return r;
}

static int try_kill(pid_t pid, int sig)
{
	return kill(pid, sig) ? errno : 0;
}

/* The live generation's values entry of @pid for @hook: 1 present, 0 absent, -1 error. */
static int pid_entry(int hook, pid_t pid)
{
	struct dbos_lsm_value_key k = { .hook = hook, .field = DBOS_LSM_F_PID };
	struct dbos_lsm_bits b;
	struct dbos_lsm_state st;
	int outer = bpf_obj_get(PIN "/dbos_values"), state = bpf_obj_get(PIN "/dbos_state");
	__u32 zero = 0, id = 0;
	uint64_t v = pid;
	int fd, r = -1;

	memcpy(k.value, &v, sizeof(v));
	if (outer >= 0 && state >= 0 && !bpf_map_lookup_elem(state, &zero, &st) &&
	    !bpf_map_lookup_elem(outer, &st.live, &id) && (fd = bpf_map_get_fd_by_id(id)) >= 0) {
		r = !bpf_map_lookup_elem(fd, &k, &b);
		close(fd);
	}
	close(outer);
	close(state);
	return r;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

FIXTURE(enf) {
	struct enforce *e;
	uint64_t version;
};

FIXTURE_SETUP(enf)
{
	char *err = NULL;

	ASSERT_EQ(0, system("vm-dbosd stop >/dev/null 2>&1; mkdir -p " X " " XY " && "
			    "cp /bin/busybox " X "/sh-copy && cp /bin/busybox " XY "/sh-copy && "
			    "cp /bin/busybox " X "/sh-copy2 && echo hi > " X "/f"));
	ASSERT_EQ(0, enforce_unload(PIN, &err)) TH_LOG("%s", err);
	ASSERT_EQ(0, enforce_open(PIN, &self->e, &err)) TH_LOG("enforce_open: %s", err);
	ASSERT_EQ(0, enforce_adopted(self->e));
	ASSERT_EQ(0, enforce_live_version(self->e));
	self->version = 0;
}

FIXTURE_TEARDOWN(enf)
{
	enforce_close(self->e);
	enforce_unload(PIN, NULL);
}

/* A generation without rules, the next version. */
#define CLEAR()	ASSERT_EQ(0, push(self->e, gen_new(++self->version)))

TEST_F_TIMEOUT(enf, exec_by_prefix_and_exact_path, 120)
{
	struct seen s;
	struct gen *g;
	pid_t pid;

	ASSERT_EQ(0, run_exec(X "/sh-copy", NULL));
	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_EXEC, 0, POLICY_DENY);
	gen_path(g, DBOS_LSM_EXEC, 0, X "/", 1);
	ASSERT_EQ(0, push(self->e, g));
	ASSERT_EQ(self->version, enforce_live_version(self->e));
	EXPECT_EQ(EPERM, run_exec(X "/sh-copy", &pid));
	EXPECT_EQ(0, run_exec(XY "/sh-copy", NULL));	/* a sibling, not under the prefix */
	ASSERT_EQ(1, collect(self->e, &s, 1));
	EXPECT_EQ(DBOS_LSM_EXEC, s.d[0].hook);
	EXPECT_EQ(DBOS_LSM_DENY, s.d[0].verdict);
	EXPECT_EQ(0, s.d[0].term);
	EXPECT_EQ(self->version, s.d[0].version);
	EXPECT_EQ(pid, s.d[0].pid);
	EXPECT_STREQ(X "/sh-copy", s.d[0].path);
	EXPECT_EQ(getuid(), s.d[0].uid);

	CLEAR();
	EXPECT_EQ(0, run_exec(X "/sh-copy", NULL));

	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_EXEC, 0, POLICY_DENY);
	gen_path(g, DBOS_LSM_EXEC, 0, X "/sh-copy", 0);
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(EPERM, run_exec(X "/sh-copy", NULL));
	EXPECT_EQ(0, run_exec(X "/sh-copy2", NULL));	/* exact: a longer name does not match */
	EXPECT_EQ(0, run_exec(XY "/sh-copy", NULL));
	ASSERT_EQ(1, collect(self->e, &s, 1));
	EXPECT_EQ(self->version, s.d[0].version);
	CLEAR();
	EXPECT_EQ(0, run_exec(X "/sh-copy", NULL));
}

TEST_F_TIMEOUT(enf, open_by_path_and_mode_allow_and_audit, 120)
{
	struct seen s;
	struct gen *g;

	ASSERT_EQ(0, try_open(X "/f", O_WRONLY));
	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_OPEN, 0, POLICY_DENY);	/* path = X/f AND mode = 'w' */
	gen_path(g, DBOS_LSM_OPEN, 0, X "/f", 0);
	gen_int(g, DBOS_LSM_OPEN, DBOS_LSM_F_MODE, 0, 2);
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(0, try_open(X "/f", O_RDONLY));
	EXPECT_EQ(0, try_open(X "/f", O_RDWR));		/* mode 3, not 2 */
	EXPECT_EQ(EPERM, try_open(X "/f", O_WRONLY));
	ASSERT_EQ(1, collect(self->e, &s, 1));
	EXPECT_EQ(DBOS_LSM_OPEN, s.d[0].hook);
	EXPECT_EQ(2, s.d[0].mode);
	EXPECT_EQ(getpid(), s.d[0].pid);
	EXPECT_STREQ(X "/f", s.d[0].path);
	EXPECT_EQ(self->version, s.d[0].version);

	/* deny the prefix, allow one file (term 1), audit another (term 2) */
	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_OPEN, 0, POLICY_DENY);
	gen_term(g, DBOS_LSM_OPEN, 1, POLICY_ALLOW);
	gen_term(g, DBOS_LSM_OPEN, 2, POLICY_AUDIT);
	gen_path(g, DBOS_LSM_OPEN, 0, X "/", 1);
	gen_path(g, DBOS_LSM_OPEN, 1, X "/f", 0);
	gen_path(g, DBOS_LSM_OPEN, 2, XY "/sh-copy", 0);
	/* the trie's longest match must carry every term a shorter entry has */
	g->p[2].bits.w[0] |= 1;
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(0, try_open(X "/f", O_RDONLY));
	EXPECT_EQ(EPERM, try_open(X "/sh-copy", O_RDONLY));
	EXPECT_EQ(0, try_open(XY "/sh-copy", O_RDONLY));
	ASSERT_EQ(2, collect(self->e, &s, 2));
	EXPECT_EQ(DBOS_LSM_DENY, s.d[0].verdict);
	EXPECT_EQ(0, s.d[0].term);
	EXPECT_EQ(DBOS_LSM_AUDIT, s.d[1].verdict);
	EXPECT_EQ(2, s.d[1].term);
	EXPECT_STREQ(XY "/sh-copy", s.d[1].path);
	CLEAR();
	EXPECT_EQ(0, try_open(X "/f", O_WRONLY));
	EXPECT_EQ(0, try_open(X "/sh-copy", O_RDONLY));
}

/* Paths of 100 components (exact match) and of more than DBOS_LSM_PATH_MAX bytes (prefix only). */
TEST_F_TIMEOUT(enf, open_deep_and_long_paths, 120)
{
	char deep[1024] = X, lng[1024];
	struct seen s;
	struct gen *g;
	int fd;

	for (int i = 0; i < 100; i++) {
		strcat(deep, "/a");
		mkdir(deep, 0755);
	}
	snprintf(lng, sizeof(lng), "%s", deep);
	for (int i = 0; i < 30; i++) {
		strcat(lng, "/bbb");
		mkdir(lng, 0755);
	}
	strcat(deep, "/f");
	strcat(lng, "/f");
	ASSERT_LT(DBOS_LSM_PATH_MAX, strlen(lng));
	ASSERT_LE(0, fd = open(deep, O_CREAT | O_WRONLY, 0644));
	close(fd);
	ASSERT_LE(0, fd = open(lng, O_CREAT | O_WRONLY, 0644));
	close(fd);
	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_OPEN, 0, POLICY_DENY);
	gen_term(g, DBOS_LSM_OPEN, 1, POLICY_DENY);
	gen_path(g, DBOS_LSM_OPEN, 0, deep, 0);
	gen_path(g, DBOS_LSM_OPEN, 1, X "/a/a/a/", 1);
	g->p[1].bits.w[0] |= 2;		/* deep is under the prefix too */
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(EPERM, try_open(deep, O_RDONLY));
	EXPECT_EQ(EPERM, try_open(lng, O_RDONLY));
	EXPECT_EQ(0, try_open(X "/f", O_RDONLY));
	ASSERT_EQ(2, collect(self->e, &s, 2));
	EXPECT_EQ(0, s.d[0].term);
	EXPECT_STREQ(deep, s.d[0].path);
	EXPECT_EQ(1, s.d[1].term);
	EXPECT_EQ(0, strncmp(lng, s.d[1].path, DBOS_LSM_PATH_MAX - 1));
	CLEAR();
	EXPECT_EQ(0, try_open(deep, O_RDONLY));
}

TEST_F_TIMEOUT(enf, connect_by_remote_port, 120)
{
	uint16_t port, other;
	int l = listener(&port), l2 = listener(&other);
	struct seen s;
	struct gen *g;
	uint8_t lo[16] = { [10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1 };

	ASSERT_LE(0, l);
	ASSERT_LE(0, l2);
	ASSERT_EQ(0, try_connect(port));
	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_CONNECT, 0, POLICY_DENY);
	gen_int(g, DBOS_LSM_CONNECT, DBOS_LSM_F_PORT, 0, port);
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(EPERM, try_connect(port));
	EXPECT_EQ(0, try_connect(other));
	ASSERT_EQ(1, collect(self->e, &s, 1));
	EXPECT_EQ(DBOS_LSM_CONNECT, s.d[0].hook);
	EXPECT_EQ(port, s.d[0].port);
	EXPECT_EQ(AF_INET, s.d[0].family);
	EXPECT_EQ(0, memcmp(lo, s.d[0].address, 16));
	EXPECT_EQ(getpid(), s.d[0].pid);
	CLEAR();
	EXPECT_EQ(0, try_connect(port));
	close(l);
	close(l2);
}

TEST_F_TIMEOUT(enf, connect_unix_by_path_and_abstract_name, 120)
{
	struct sockaddr_un a, ab;
	socklen_t alen, ablen;
	int l = unix_listener(X "/sock", &a, &alen), l2 = unix_listener("@dbos-test", &ab, &ablen);
	struct seen s;
	struct gen *g;

	ASSERT_LE(0, l);
	ASSERT_LE(0, l2);
	ASSERT_EQ(0, try_connect_unix(&a, alen));
	ASSERT_EQ(0, try_connect_unix(&ab, ablen));
	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_CONNECT, 0, POLICY_DENY);
	gen_term(g, DBOS_LSM_CONNECT, 1, POLICY_DENY);
	gen_path(g, DBOS_LSM_CONNECT, 0, X "/sock", 0);
	gen_path(g, DBOS_LSM_CONNECT, 1, "@dbos-test", 0);
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(EPERM, try_connect_unix(&a, alen));
	EXPECT_EQ(EPERM, try_connect_unix(&ab, ablen));
	ASSERT_EQ(2, collect(self->e, &s, 2));
	EXPECT_EQ(AF_UNIX, s.d[0].family);
	EXPECT_EQ(0, s.d[0].term);
	EXPECT_STREQ(X "/sock", s.d[0].path);
	EXPECT_EQ(1, s.d[1].term);
	EXPECT_STREQ("@dbos-test", s.d[1].path);
	CLEAR();
	EXPECT_EQ(0, try_connect_unix(&a, alen));
	EXPECT_EQ(0, try_connect_unix(&ab, ablen));
	close(l);
	close(l2);
}

TEST_F_TIMEOUT(enf, bind_by_local_port_and_address, 120)
{
	uint16_t port;
	int l = listener(&port);
	struct seen s;
	struct gen *g;
	uint8_t lo[16] = { [10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1 };

	ASSERT_LE(0, l);
	close(l);	/* a free port */
	ASSERT_EQ(0, try_bind(port));
	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_BIND, 0, POLICY_DENY);
	gen_int(g, DBOS_LSM_BIND, DBOS_LSM_F_PORT, 0, port);
	gen_value(g, DBOS_LSM_BIND, DBOS_LSM_F_ADDRESS, 0, lo, 16);
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(EPERM, try_bind(port));
	EXPECT_EQ(0, try_bind(0));
	ASSERT_EQ(1, collect(self->e, &s, 1));
	EXPECT_EQ(DBOS_LSM_BIND, s.d[0].hook);
	EXPECT_EQ(port, s.d[0].port);
	CLEAR();
	EXPECT_EQ(0, try_bind(port));
}

TEST_F_TIMEOUT(enf, kill_by_signal_and_target, 120)
{
	pid_t c = fork(), other;
	struct seen s;
	struct gen *g;
	int st;

	if (c == 0) {
		for (;;)
			pause();
	}
	other = fork();
	if (other == 0) {
		for (;;)
			pause();
	}
	ASSERT_EQ(0, try_kill(c, 0));
	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_KILL, 0, POLICY_DENY);
	gen_int(g, DBOS_LSM_KILL, DBOS_LSM_F_SIGNAL, 0, SIGTERM);
	gen_int(g, DBOS_LSM_KILL, DBOS_LSM_F_TARGET_PID, 0, c);
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(EPERM, try_kill(c, SIGTERM));
	EXPECT_EQ(0, try_kill(c, SIGCONT));		/* another signal */
	EXPECT_EQ(0, try_kill(other, SIGTERM));		/* another target */
	ASSERT_EQ(1, collect(self->e, &s, 1));
	EXPECT_EQ(DBOS_LSM_KILL, s.d[0].hook);
	EXPECT_EQ(c, s.d[0].target_pid);
	EXPECT_EQ(SIGTERM, s.d[0].signal);
	EXPECT_EQ(getpid(), s.d[0].pid);
	CLEAR();
	EXPECT_EQ(0, try_kill(c, SIGTERM));
	ASSERT_EQ(c, waitpid(c, &st, 0));
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	waitpid(other, &st, 0);
}

TEST_F_TIMEOUT(enf, pid_set_is_inherited_at_fork_and_dropped_at_exit, 120)
{
	int go[2], st, err = 0;
	pid_t outsider, c;
	struct gen *g;
	char b;

	/* forked before the rule: not a member */
	ASSERT_EQ(0, pipe(go));
	outsider = fork();
	if (outsider == 0) {
		close(go[1]);
		read(go[0], &b, 1);
		_exit(run_exec(X "/sh-copy", NULL));
	}
	close(go[0]);
	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_EXEC, 0, POLICY_DENY);	/* pid IN (me) AND path under X/ */
	set_bit(&g->img.cfg[DBOS_LSM_EXEC].inherit, 0);
	gen_int(g, DBOS_LSM_EXEC, DBOS_LSM_F_PID, 0, getpid());
	gen_path(g, DBOS_LSM_EXEC, 0, X "/", 1);
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(1, pid_entry(DBOS_LSM_EXEC, getpid()));
	EXPECT_EQ(EPERM, run_exec(X "/sh-copy", &c));	/* a child: a member */
	EXPECT_EQ(0, pid_entry(DBOS_LSM_EXEC, c));	/* gone with it */
	/* a grandchild too */
	c = fork();
	if (c == 0)
		_exit(run_exec(X "/sh-copy", NULL));
	ASSERT_EQ(c, waitpid(c, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == EPERM);
	write(go[1], "g", 1);
	ASSERT_EQ(outsider, waitpid(outsider, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) TH_LOG("outsider: %d", err);
	EXPECT_EQ(0, pid_entry(DBOS_LSM_EXEC, outsider));
	CLEAR();
	EXPECT_EQ(0, run_exec(X "/sh-copy", NULL));
}

/* A spawn entry: the children a process forks join the set, the process itself does not. */
TEST_F_TIMEOUT(enf, spawn_entry_makes_children_members, 120)
{
	int go[2], st;
	pid_t spawner;
	struct gen *g;
	struct enforce_value *e;
	char b;

	ASSERT_EQ(0, pipe(go));
	spawner = fork();
	if (spawner == 0) {
		char *argv[] = { "sh", "-c", "exit 7", NULL };

		close(go[1]);
		read(go[0], &b, 1);
		if (run_exec(X "/sh-copy", NULL) != EPERM)	/* its child: a member */
			_exit(50);
		execv(X "/sh-copy", argv);			/* itself: not */
		_exit(100 + errno);
	}
	close(go[0]);
	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_EXEC, 0, POLICY_DENY);	/* pid IN (descendants of spawner) */
	set_bit(&g->img.cfg[DBOS_LSM_EXEC].inherit, 0);
	g->img.cfg[DBOS_LSM_EXEC].fields |= 1ULL << DBOS_LSM_F_PID;
	e = &g->v[g->img.nvalues++];
	e->key.hook = DBOS_LSM_EXEC;
	e->key.field = DBOS_LSM_F_FORK;	/* its children: members; itself: not */
	memcpy(e->key.value, &(uint64_t){ spawner }, 8);
	set_bit(&e->bits, 0);
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(0, run_exec(X "/sh-copy", NULL));	/* not a descendant */
	write(go[1], "g", 1);
	ASSERT_EQ(spawner, waitpid(spawner, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 7) TH_LOG("spawner status %d", st);
	CLEAR();
}

/*
 * The server re-pushes the live version when its sets change. A process the
 * live generation counts as a member forks while the idle slot is being
 * filled, before the parent's own entry is written there: the child's entry
 * comes from the live slot, so it is a member in the new generation too.
 */
TEST_F_TIMEOUT(enf, refresh_keeps_a_child_forked_while_it_is_prepared, 120)
{
	struct gen *g;
	char *err = NULL, b;
	int go[2], st;
	pid_t c;

	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_EXEC, 0, POLICY_DENY);	/* pid IN (me) AND path under X/ */
	set_bit(&g->img.cfg[DBOS_LSM_EXEC].inherit, 0);
	gen_int(g, DBOS_LSM_EXEC, DBOS_LSM_F_PID, 0, getpid());
	gen_path(g, DBOS_LSM_EXEC, 0, X "/", 1);
	ASSERT_EQ(0, push(self->e, g));

	/* the same version, filled only up to before this process's entry */
	g = gen_new(self->version);
	gen_term(g, DBOS_LSM_EXEC, 0, POLICY_DENY);
	set_bit(&g->img.cfg[DBOS_LSM_EXEC].inherit, 0);
	g->img.cfg[DBOS_LSM_EXEC].fields |= 1ULL << DBOS_LSM_F_PID;
	gen_path(g, DBOS_LSM_EXEC, 0, X "/", 1);
	ASSERT_EQ(0, enforce_prepare(self->e, &g->img, &err)) TH_LOG("%s", err);
	free(g);

	ASSERT_EQ(0, pipe(go));
	c = fork();
	if (c == 0) {
		close(go[1]);
		read(go[0], &b, 1);
		_exit(run_exec(X "/sh-copy", NULL));
	}
	close(go[0]);
	enforce_flip(self->e);
	write(go[1], "g", 1);
	ASSERT_EQ(c, waitpid(c, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == EPERM) TH_LOG("child status %d", st);
	CLEAR();
}

/*
 * A child forked before the server read processes for a refresh is in the
 * image; one forked after it is not (the server has not seen it): its PID
 * entry, given by the kernel at fork, is carried from the live slot into the
 * refreshed generation. A pid the server did see and left out is dropped.
 */
TEST_F_TIMEOUT(enf, refresh_keeps_children_the_server_has_not_seen, 120)
{
	int go[2], go2[2], st;
	pid_t seen, unseen;
	struct gen *g;
	uint32_t known[2];
	char b;

	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_EXEC, 0, POLICY_DENY);	/* pid IN (me) AND path under X/ */
	set_bit(&g->img.cfg[DBOS_LSM_EXEC].inherit, 0);
	gen_int(g, DBOS_LSM_EXEC, DBOS_LSM_F_PID, 0, getpid());
	gen_path(g, DBOS_LSM_EXEC, 0, X "/", 1);
	ASSERT_EQ(0, push(self->e, g));
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(go2));
	seen = fork();
	if (seen == 0) {
		close(go[1]);
		read(go[0], &b, 1);
		_exit(run_exec(X "/sh-copy", NULL));
	}
	unseen = fork();
	if (unseen == 0) {
		close(go2[1]);
		read(go2[0], &b, 1);
		_exit(run_exec(X "/sh-copy", NULL));
	}
	close(go[0]);
	close(go2[0]);
	EXPECT_EQ(1, pid_entry(DBOS_LSM_EXEC, seen));
	EXPECT_EQ(1, pid_entry(DBOS_LSM_EXEC, unseen));

	/* the refresh: same version, this process still a member, "seen" known and left out */
	g = gen_new(self->version);
	gen_term(g, DBOS_LSM_EXEC, 0, POLICY_DENY);
	set_bit(&g->img.cfg[DBOS_LSM_EXEC].inherit, 0);
	gen_int(g, DBOS_LSM_EXEC, DBOS_LSM_F_PID, 0, getpid());
	gen_path(g, DBOS_LSM_EXEC, 0, X "/", 1);
	known[0] = getpid() < seen ? getpid() : seen;
	known[1] = getpid() < seen ? seen : getpid();
	g->img.known_pids = known;
	g->img.nknown = 2;
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(0, pid_entry(DBOS_LSM_EXEC, seen));
	EXPECT_EQ(1, pid_entry(DBOS_LSM_EXEC, unseen));

	write(go[1], "g", 1);
	write(go2[1], "g", 1);
	ASSERT_EQ(seen, waitpid(seen, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) TH_LOG("seen: status %d", st);
	ASSERT_EQ(unseen, waitpid(unseen, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == EPERM) TH_LOG("unseen: status %d", st);
	CLEAR();
}

TEST_F_TIMEOUT(enf, adopt_keeps_enforcing_unload_stops_counters_move, 120)
{
	uint64_t c0[DBOS_LSM_C__COUNT], c1[DBOS_LSM_C__COUNT];
	char *err = NULL;
	struct gen *g;

	enforce_counters(self->e, c0);
	g = gen_new(self->version = 5);
	gen_term(g, DBOS_LSM_OPEN, 0, POLICY_DENY);
	gen_path(g, DBOS_LSM_OPEN, 0, X "/f", 0);
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(EPERM, try_open(X "/f", O_RDONLY));
	enforce_close(self->e);
	self->e = NULL;
	EXPECT_EQ(EPERM, try_open(X "/f", O_RDONLY));	/* nobody holds it open: the pins do */
	ASSERT_EQ(0, enforce_open(PIN, &self->e, &err)) TH_LOG("%s", err);
	EXPECT_EQ(1, enforce_adopted(self->e));
	EXPECT_EQ(5, enforce_live_version(self->e));
	EXPECT_EQ(EPERM, try_open(X "/f", O_RDONLY));
	enforce_counters(self->e, c1);
	EXPECT_LE(c0[DBOS_LSM_C_CHECKS] + 3, c1[DBOS_LSM_C_CHECKS]);
	EXPECT_EQ(c0[DBOS_LSM_C_DENIED] + 3, c1[DBOS_LSM_C_DENIED]);
	EXPECT_EQ(c0[DBOS_LSM_C_LOST], c1[DBOS_LSM_C_LOST]);
	ASSERT_EQ(0, enforce_unload(PIN, &err)) TH_LOG("%s", err);
	EXPECT_EQ(0, try_open(X "/f", O_RDONLY));
	EXPECT_EQ(-1, access(PIN, F_OK));
}

/*
 * The decision is one program (dbos_decide) that replaces each hook's
 * decide() stub; every deciding hook has that link pinned. Its pin removed
 * under a live policy (as root may remove a hook's own link) ends that
 * hook's enforcement, each call counted as lost, not the other hooks'; the
 * next enforce_open() loads everything again.
 */
TEST_F_TIMEOUT(enf, a_hook_without_its_decision_allows_counts_and_is_reloaded, 120)
{
	static const char *const deciders[] = {
		"exec", "open", "connect", "bind", "kill", "mmap", "mprotect", "sendmsg",
		"connect_unix", "send_unix",
	};
	uint64_t c0[DBOS_LSM_C__COUNT], c1[DBOS_LSM_C__COUNT];
	uint16_t port, other;
	int l = listener(&port), l2 = listener(&other);
	char path[128], *err = NULL;
	struct gen *g;

	ASSERT_LE(0, l);
	ASSERT_LE(0, l2);
	for (size_t i = 0; i < sizeof(deciders) / sizeof(deciders[0]); i++) {
		snprintf(path, sizeof(path), PIN "/ext_dbos_%s", deciders[i]);
		EXPECT_EQ(0, access(path, F_OK)) TH_LOG("%s missing", path);
	}
	g = gen_new(++self->version);
	gen_term(g, DBOS_LSM_OPEN, 0, POLICY_DENY);
	gen_path(g, DBOS_LSM_OPEN, 0, X "/f", 0);
	gen_term(g, DBOS_LSM_CONNECT, 0, POLICY_DENY);
	gen_int(g, DBOS_LSM_CONNECT, DBOS_LSM_F_PORT, 0, port);
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(EPERM, try_open(X "/f", O_RDONLY));
	EXPECT_EQ(0, try_open(X "/sh-copy", O_RDONLY));
	enforce_counters(self->e, c0);
	ASSERT_EQ(0, unlink(PIN "/ext_dbos_open"));
	EXPECT_EQ(0, try_open(X "/f", O_RDONLY));
	EXPECT_EQ(0, try_open(X "/sh-copy", O_RDONLY));
	enforce_counters(self->e, c1);
	EXPECT_LE(c0[DBOS_LSM_C_LOST] + 2, c1[DBOS_LSM_C_LOST]);
	EXPECT_EQ(c0[DBOS_LSM_C_CHECKS], c1[DBOS_LSM_C_CHECKS]);
	/* the other hooks still decide */
	EXPECT_EQ(EPERM, try_connect(port));
	EXPECT_EQ(0, try_connect(other));
	close(l);
	close(l2);
	enforce_close(self->e);
	self->e = NULL;
	ASSERT_EQ(0, enforce_open(PIN, &self->e, &err)) TH_LOG("%s", err);
	EXPECT_EQ(0, enforce_adopted(self->e));		/* a pin was missing: loaded again */
	EXPECT_EQ(0, enforce_live_version(self->e));
	EXPECT_EQ(0, access(PIN "/ext_dbos_open", F_OK));
	EXPECT_EQ(0, try_open(X "/f", O_RDONLY));
	g = gen_new(self->version = 1);
	gen_term(g, DBOS_LSM_OPEN, 0, POLICY_DENY);
	gen_path(g, DBOS_LSM_OPEN, 0, X "/f", 0);
	ASSERT_EQ(0, push(self->e, g));
	EXPECT_EQ(EPERM, try_open(X "/f", O_RDONLY));
	CLEAR();
}

/*
 * Generations flip while children hammer open(): every generation denies the
 * file (with its term at a different bit), so any open that succeeds or any
 * decision with a term/version pair no generation had is a mixed or missing
 * generation.
 */
TEST_F_TIMEOUT(enf, flips_under_load_never_mix_generations, 300)
{
	const int flips = 60, kids = 2;
	pid_t pids[2];
	struct seen s = { 0 };
	int st, bad = 0;

	ASSERT_EQ(0, push(self->e, ({
		struct gen *g = gen_new(++self->version);
		gen_term(g, DBOS_LSM_OPEN, 0, POLICY_DENY);
		gen_path(g, DBOS_LSM_OPEN, 0, X "/f", 0);
		g;
	})));
	for (int k = 0; k < kids; k++) {
		pids[k] = fork();
		if (pids[k] == 0) {
			for (;;)
				if (try_open(X "/f", O_RDONLY) != EPERM)
					_exit(1);
		}
	}
	for (int i = 0; i < flips; i++) {
		/* version v denies with term v % 3 */
		struct gen *g = gen_new(++self->version);
		int t = self->version % 3;

		gen_term(g, DBOS_LSM_OPEN, t, POLICY_DENY);
		gen_path(g, DBOS_LSM_OPEN, t, X "/f", 0);
		ASSERT_EQ(0, push(self->e, g));
		while (enforce_poll(self->e, 0, on_decision, &s, NULL) > 0) {
			for (int d = 0; d < s.n; d++)
				bad += s.d[d].term != s.d[d].version % 3 && s.d[d].version > 1;
			s.n = 0;
		}
	}
	for (int k = 0; k < kids; k++) {
		EXPECT_EQ(0, waitpid(pids[k], &st, WNOHANG)) TH_LOG("an open() was allowed");
		kill(pids[k], SIGKILL);
		waitpid(pids[k], &st, 0);
	}
	EXPECT_EQ(0, bad);
	CLEAR();
}

/* Not a pass/fail figure: ns per open() with no programs, 0 rules, 1000 rules on open. */
TEST_F_TIMEOUT(enf, cost_of_open, 300)
{
	const int n = 100000;
	double t[3];
	char path[64], *err = NULL;
	struct gen *g;

	for (int k = 0; k < 3; k++) {
		if (k == 0) {
			enforce_close(self->e);
			self->e = NULL;
			ASSERT_EQ(0, enforce_unload(PIN, &err));
		} else if (k == 1) {
			ASSERT_EQ(0, enforce_open(PIN, &self->e, &err)) TH_LOG("%s", err);
		} else {
			g = gen_new(++self->version);
			for (int r = 0; r < 1000; r++) {
				gen_term(g, DBOS_LSM_OPEN, r, POLICY_DENY);
				snprintf(path, sizeof(path), "/nonexistent/%d", r);
				gen_path(g, DBOS_LSM_OPEN, r, path, 0);
				gen_int(g, DBOS_LSM_OPEN, DBOS_LSM_F_UID, r, 1000 + r);
			}
			ASSERT_EQ(0, push(self->e, g));
		}
		double t0 = now_s(), t1;
		long i = 0;

		/* up to n calls or 3 s (the debug kernel is 10-50x slower) */
		do {
			ASSERT_EQ(0, try_open(X "/f", O_RDONLY));
		} while (++i < n && ((i & 255) || now_s() - t0 < 3));
		t1 = now_s();
		t[k] = (t1 - t0) / i * 1e9;
	}
	TH_LOG("open(): %.0f ns without programs, %.0f ns with 0 rules, %.0f ns with 1000 rules",
	       t[0], t[1], t[2]);
}

TEST_HARNESS_MAIN
