/* SPDX-License-Identifier: GPL-2.0 */
/* as_user.h - host tests that act as another user: a child process drops to a uid and groups, runs a function, reports back. */
#ifndef DBOS_TEST_AS_USER_H
#define DBOS_TEST_AS_USER_H

#include <grp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the child does: fill @msg (a C string) and return its exit status. */
typedef int (*as_user_fn)(void *arg, char *msg, size_t size);

struct as_user {
	pid_t pid;
	int report;	/* read end: the child's @msg */
	int hold;	/* write end: a held child waits until it is closed (-1: not held) */
};

/*
 * as_user_start - fork a child that drops to uid @uid, gid @gid and the
 * supplementary group @group ((gid_t)-1: none; the caller must be root),
 * runs @fn and sends back what it wrote into its message. With @hold, the
 * child then stays (keeping what it opened) until as_user_wait(). The child
 * closes every other descriptor it inherited first. Exit status 100: the
 * child could not drop to the user. 0, or -1.
 */
static inline int as_user_start(struct as_user *u, uid_t uid, gid_t gid, gid_t group,
				as_user_fn fn, void *arg, bool hold)
{
	int rep[2], hp[2] = { -1, -1 };

	if (pipe(rep) < 0 || (hold && pipe(hp) < 0))
		return -1;
	u->pid = fork();
	if (u->pid == 0) {
		char msg[4096] = "", c;
		int ret;

		/* Only its own ends: another held child's pipe must not stay open here. */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != rep[1] && fd != hp[0])
				close(fd);
		if (setgroups(group == (gid_t)-1 ? 0 : 1, &group) < 0 || setgid(gid) < 0 ||
		    setuid(uid) < 0)
			_exit(100);
		ret = fn(arg, msg, sizeof(msg));
		if (write(rep[1], msg, strlen(msg)) < 0)
			_exit(101);
		close(rep[1]);
		if (hold)
			(void)!read(hp[0], &c, 1);	/* until the parent closes its end */
		_exit(ret);
	}
	close(rep[1]);
	if (hold)
		close(hp[0]);
	u->report = rep[0];
	u->hold = hp[1];
	return u->pid < 0 ? -1 : 0;
}

/* as_user_report - the child's message, once it has written it, into @msg. */
static inline void as_user_report(struct as_user *u, char *msg, size_t size)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < size && (r = read(u->report, msg + n, size - 1 - n)) > 0)
		n += (size_t)r;
	msg[n] = 0;
}

/* as_user_wait - let a held child go, wait for it: its exit status (-1: killed). */
static inline int as_user_wait(struct as_user *u)
{
	int status;

	if (u->hold >= 0)
		close(u->hold);
	close(u->report);
	waitpid(u->pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* as_user - run @fn as that user and wait: its exit status, its message in @msg. */
static inline int as_user(uid_t uid, gid_t gid, gid_t group, as_user_fn fn, void *arg,
			  char *msg, size_t size)
{
	struct as_user u;

	if (as_user_start(&u, uid, gid, group, fn, arg, false))
		return -1;
	as_user_report(&u, msg, size);
	return as_user_wait(&u);
}

#endif /* DBOS_TEST_AS_USER_H */
