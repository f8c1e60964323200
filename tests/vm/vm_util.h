/* SPDX-License-Identifier: GPL-2.0 */
/* vm_util.h - what several VM tests need: SQL against dbosd through libdbos, restarting it, copying a program, /proc/PID/stat. */
#ifndef DBOS_VM_UTIL_H
#define DBOS_VM_UTIL_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbos_client.h"

#define SOCK	"/run/dbos/dbosd.sock"

/* Runs @fmt on a new connection; 0, or -1 and *@err. *@changes (if not NULL): dbos_changes(). */
static inline int sqlc(long long *changes, char **err, const char *fmt, ...)
{
	struct dbos_conn *c;
	char q[8192];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	c = dbos_connect(SOCK, err);
	if (!c)
		return -1;
	ret = dbos_query(c, q, NULL, NULL, err);
	if (changes)
		*changes = ret ? -1 : dbos_changes(c);
	dbos_close(c);
	return ret;
}

#define sql(err, ...)	sqlc(NULL, err, __VA_ARGS__)

/* Asserts (kselftest harness) that the statement succeeds, logging the error. */
#define SQL_OK(...)							\
	do {								\
		char *_e = NULL;					\
		int _r = sqlc(NULL, &_e, __VA_ARGS__);			\
		ASSERT_EQ(0, _r) TH_LOG("SQL failed: %s", _e ? _e : "?"); \
		free(_e);						\
	} while (0)

static inline int vm_sql_on_int(void *arg, int ncol, const struct dbos_value *v)
{
	if (ncol > 0 && v[0].type == DBOS_T_INT)
		*(long long *)arg = v[0].i;
	return 0;
}

/* One integer (first column of the last row), or -1 (no row, NULL, not an integer, an error). */
static inline long long q_int(const char *fmt, ...)
{
	static const struct dbos_callbacks cb = { .on_row = vm_sql_on_int };
	struct dbos_conn *c = dbos_connect(SOCK, NULL);
	long long v = -1;
	char q[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	if (!c)
		return -1;
	if (dbos_query(c, q, &cb, &v, NULL))
		v = -1;
	dbos_close(c);
	return v;
}

/* Polls until q_int(@fmt...) == @want or @secs pass; returns the last value. */
static inline long long wait_int(long long want, int secs, const char *fmt, ...)
{
	long long v = -1;
	char q[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	for (int i = 0; i < secs * 10; i++) {
		v = q_int("%s", q);
		if (v == want)
			break;
		usleep(100000);
	}
	return v;
}

/* 0 once dbosd accepts connections, -1 after @secs. */
static inline int wait_socket(int secs)
{
	for (int i = 0; i < secs * 10; i++) {
		struct dbos_conn *c = dbos_connect(SOCK, NULL);

		if (c) {
			dbos_close(c);
			return 0;
		}
		usleep(100000);
	}
	return -1;
}

/*
 * Restarts dbosd in the VM with the boot's options (dbos-vm's DBOSD_ARGS, e.g.
 * --no-lsm) and @args (vm-dbosd); 0 once it answers queries, or -1.
 */
static inline int restart_dbosd(const char *args)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd),
		 "vm-dbosd stop && DBOSD_ARGS=\"$DBOSD_ARGS %s\" DBOSD_START_WAIT=180 setsid vm-dbosd start",
		 args);
	if (system(cmd))
		return -1;
	for (int i = 0; i < 300; i++) {
		if (q_int("SELECT 1") == 1)
			return 0;
		usleep(100000);
	}
	return -1;
}

/* Starts dbosd as the VM does (vm-dbosd, with the boot's DBOSD_ARGS), as a child of the caller; its pid. */
static inline pid_t start_dbosd(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/tmp/dbosd.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		setsid();
		/* (sh execs dbosd: the pid is dbosd's; the boot's options, e.g. --no-lsm, apply) */
		execl("/bin/sh", "sh", "-c",
		      "exec /usr/bin/dbosd --db /var/lib/dbos --socket " SOCK " $DBOSD_ARGS",
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Writes @s to the existing file @path (a /proc or cgroup file); 0, or -1 if not all of it. */
static inline int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

/* Field @field of /proc/@pid/stat (as proc(5) numbers them: 19 nice, 41 policy), or @gone if it cannot be read. */
static inline long proc_stat_field(pid_t pid, int field, long gone)
{
	char path[64], buf[1024], *p;
	long v = gone;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return gone;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')'))) {
		p += 2;	/* field 3, state (the comm may hold spaces and parentheses) */
		for (int i = 3; i < field && p; i++) {
			p = strchr(p, ' ');
			if (p)
				p++;
		}
		if (p && *p)
			v = strtol(p, NULL, 10);
	}
	fclose(f);
	return v;
}

/* Copies @src to @dst (replacing it, even while it runs) with mode @mode; 0 or -1. */
static inline int copy_file(const char *src, const char *dst, mode_t mode)
{
	int in = open(src, O_RDONLY), out;
	char buf[65536];
	ssize_t n;

	if (in < 0)
		return -1;
	unlink(dst);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			n = -1;
	close(in);
	close(out);
	return n < 0 ? -1 : chmod(dst, mode);
}

#endif /* DBOS_VM_UTIL_H */
