/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vm_policy.h - what the policy suites (test_policy, test_bypass) share:
 * versions, policy_decisions rows, clearing the policy, and the ground-truth
 * operations they check against (open, exec as another user, sockets).
 * Include kselftest_harness.h first.
 */
#ifndef DBOS_VM_POLICY_H
#define DBOS_VM_POLICY_H

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "vm_util.h"

#define NOBODY	65534
#define TEST_GID 1000			/* group dbos-test (scripts/mkinitramfs.sh) */

/* The newest policy version (what a commit just made). */
static inline long long version(void)
{
	return q_int("SELECT coalesce(max(version), 0) FROM policy_versions");
}

static inline long long max_decision_seq(void)
{
	return q_int("SELECT coalesce(max(seq), 0) FROM policy_decisions");
}

/* ---- decisions ---- */

struct decision {
	long long seq, pid, uid, port, target_pid, signal, rule_id, version;
	char hook[16], verdict[16], name[32], path[256], address[64], mode[16], rule[64];
};

#define DEC_COLS "seq, hook, verdict, pid, uid, name, path, address, port, target_pid, " \
		 "signal, mode, rule_id, rule, version"

static inline void copy_text(char *dst, size_t cap, const struct dbos_value *v)
{
	size_t n = 0;

	if (v->type == DBOS_T_INT)
		n = snprintf(dst, cap, "%lld", (long long)v->i);
	else if (v->s)
		n = v->len < cap - 1 ? v->len : cap - 1, memcpy(dst, v->s, n);
	if (n >= cap)
		n = cap - 1;
	dst[n] = 0;
}

static inline long long int_of(const struct dbos_value *v)
{
	return v->type == DBOS_T_INT ? v->i : -1;
}

static inline void decision_of(struct decision *d, const struct dbos_value *v)
{
	d->seq = int_of(&v[0]);
	copy_text(d->hook, sizeof(d->hook), &v[1]);
	copy_text(d->verdict, sizeof(d->verdict), &v[2]);
	d->pid = int_of(&v[3]);
	d->uid = int_of(&v[4]);
	copy_text(d->name, sizeof(d->name), &v[5]);
	copy_text(d->path, sizeof(d->path), &v[6]);
	copy_text(d->address, sizeof(d->address), &v[7]);
	d->port = int_of(&v[8]);
	d->target_pid = int_of(&v[9]);
	d->signal = int_of(&v[10]);
	copy_text(d->mode, sizeof(d->mode), &v[11]);
	d->rule_id = int_of(&v[12]);
	copy_text(d->rule, sizeof(d->rule), &v[13]);
	d->version = int_of(&v[14]);
}

static inline int on_decision(void *arg, int ncol, const struct dbos_value *v)
{
	struct decision *d = arg;

	if (ncol == 15 && d->seq < 0)
		decision_of(d, v);
	return 0;
}

/* First decision with seq > @after matching @where, waiting up to @secs. 0 if found. */
static inline int wait_decision(struct decision *d, long long after, int secs, const char *where, ...)
{
	static const struct dbos_callbacks cb = { .on_row = on_decision };
	char w[1024], q[2048];
	va_list ap;

	va_start(ap, where);
	vsnprintf(w, sizeof(w), where, ap);
	va_end(ap);
	snprintf(q, sizeof(q), "SELECT " DEC_COLS " FROM policy_decisions WHERE seq > %lld AND (%s) "
		 "ORDER BY seq LIMIT 1", after, w);
	for (int i = 0; i < secs * 10; i++) {
		struct dbos_conn *c = dbos_connect(SOCK, NULL);

		memset(d, 0, sizeof(*d));
		d->seq = -1;
		if (c) {
			dbos_query(c, q, &cb, d, NULL);
			dbos_close(c);
		}
		if (d->seq >= 0)
			return 0;
		usleep(100000);
	}
	return -1;
}

/* ---- ground-truth operations: 0, or -1 with the syscall's errno ---- */

static inline int open_close(const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static inline struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* A listening socket on 127.0.0.1, any port; *@port gets it. */
static inline int tcp_listener(int *port)
{
	struct sockaddr_in a = loopback(0);
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 64) ||
	    getsockname(s, (struct sockaddr *)&a, &len))
		return -1;
	*port = ntohs(a.sin_port);
	return s;
}

/* Drop to @uid (and gid @uid; with group dbos-test as supplementary group if @test_group). */
static inline int become(uid_t uid, int test_group)
{
	gid_t g = TEST_GID;

	if (setgroups(test_group ? 1 : 0, &g) || setgid(uid) || setuid(uid))
		return -1;
	return 0;
}

/*
 * Fork; the child (as @uid unless 0) execs @path with @argv. Returns 0 when
 * the program ran and exited 0, -1 with errno = the child's execve() errno,
 * 1 when it ran and failed. *@pidp: the child.
 */
static inline int exec_as(uid_t uid, const char *path, char *const argv[], pid_t *pidp)
{
	int p[2], e = 0, status;
	ssize_t n;
	pid_t pid;

	if (pidp)
		*pidp = 0;
	if (pipe2(p, O_CLOEXEC))
		return 1;
	pid = fork();
	if (pid == 0) {
		if (uid && become(uid, 0))
			_exit(120);
		execv(path, argv);
		e = errno;
		if (write(p[1], &e, sizeof(e)) < 0)
			_exit(121);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], &e, sizeof(e));
	close(p[0]);
	waitpid(pid, &status, 0);
	if (pidp)
		*pidp = pid;
	if (n == sizeof(e)) {
		errno = e;
		return -1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static inline int make_file(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, "x\n", 2) != 2)
		return -1;
	close(fd);
	return chmod(path, mode);
}

/* Empty policy, or -1 (with the reason logged). */
static inline int clear_policy(struct __test_metadata *_metadata)
{
	char *err = NULL;

	if (q_int("SELECT count(*) FROM policies") != 0 && sql(&err, "DELETE FROM policies")) {
		TH_LOG("DELETE FROM policies: %s", err ? err : "?");
		free(err);
		return -1;
	}
	return q_int("SELECT count(*) FROM policies") == 0 ? 0 : -1;
}

#endif /* DBOS_VM_POLICY_H */
