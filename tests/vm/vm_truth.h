/* SPDX-License-Identifier: GPL-2.0 */
/* vm_truth.h - the kernel's own view (/proc, /proc/PID/fd, ss) read by the VM tests, and compared with dbos's tables. */
#ifndef DBOS_VM_TRUTH_H
#define DBOS_VM_TRUTH_H

/*
 * processes vs /proc: converges(); process_open_files vs /proc/PID/fd:
 * fds_converge(); sockets and listening ports vs ss(8): sockets_converge().
 * Each waits for a quiet moment (the kernel's view read twice, the same)
 * and compares dbos's table with it then; on a mismatch it logs the
 * differences (kselftest harness) and returns 0.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "dbos_client.h"

#ifndef SOCK
#define SOCK	"/run/dbos/dbosd.sock"
#endif
#define MAXROWS	8192
#define TXT	256

static inline void copy_text(char *dst, size_t cap, const struct dbos_value *v)
{
	size_t n = v->s ? (v->len < cap - 1 ? v->len : cap - 1) : 0;

	if (n)
		memcpy(dst, v->s, n);
	dst[n] = 0;
}

#define MAXP	4096

/* What the tests compare: the columns /proc shows for every process. */
struct proc_row {
	int pid;
	int ppid;
	int uid;
	char comm[64];
	char exe[512];
};

struct proc_set {
	int n;
	struct proc_row p[MAXP];
};

static inline int cmp_pid(const void *a, const void *b)
{
	return ((const struct proc_row *)a)->pid - ((const struct proc_row *)b)->pid;
}

static inline int read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return (int)n;
}

/* Ground truth: one pass over /proc. Processes that vanish mid-read, and zombies, are skipped. */
static inline void read_proc(struct proc_set *s)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	s->n = 0;
	while (d && (e = readdir(d))) {
		struct proc_row r = { 0 };
		char path[64], buf[4096], *p, state;
		ssize_t n;

		r.pid = atoi(e->d_name);
		if (r.pid <= 0 || s->n == MAXP)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", r.pid);
		if (read_file(path, buf, sizeof(buf)) < 0)
			continue;
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 2, "%c %d", &state, &r.ppid) != 2)
			continue;
		if (state == 'Z')	/* exited, not reaped: gone from processes (README) */
			continue;
		snprintf(path, sizeof(path), "/proc/%d/status", r.pid);
		if (read_file(path, buf, sizeof(buf)) < 0)
			continue;
		p = strstr(buf, "\nUid:");
		if (!p || sscanf(p + 5, "%d", &r.uid) != 1)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", r.pid);
		if (read_file(path, r.comm, sizeof(r.comm)) < 0)
			continue;
		r.comm[strcspn(r.comm, "\n")] = 0;
		snprintf(path, sizeof(path), "/proc/%d/exe", r.pid);
		n = readlink(path, r.exe, sizeof(r.exe) - 1);
		r.exe[n > 0 ? n : 0] = 0;
		s->p[s->n++] = r;
	}
	if (d)
		closedir(d);
	qsort(s->p, s->n, sizeof(s->p[0]), cmp_pid);
}

static inline int on_proc_row(void *arg, int ncol, const struct dbos_value *v)
{
	struct proc_set *s = arg;
	struct proc_row *r;

	if (ncol != 5 || s->n == MAXP)
		return 0;
	r = &s->p[s->n++];
	r->pid = (int)v[0].i;
	r->ppid = (int)v[1].i;
	r->uid = (int)v[2].i;
	copy_text(r->comm, sizeof(r->comm), &v[3]);
	copy_text(r->exe, sizeof(r->exe), &v[4]);
	return 0;
}

/* The mirror: the same columns from dbos, through the real client library. */
/*
 * A connection to dbosd held open across a ground-truth read: one query
 * first, so dbosd's first-query timeout (10 s) cannot close it while a slow
 * read (ss with hundreds of sockets on the debug kernel) runs; a reopened
 * connection is another socket, and the comparison would never settle.
 */
static inline struct dbos_conn *connect_held(char **err)
{
	struct dbos_conn *c = dbos_connect(SOCK, err);

	if (c && dbos_query(c, "SELECT 1", NULL, NULL, err)) {
		dbos_close(c);
		return NULL;
	}
	return c;
}

static inline int read_dbos(struct proc_set *s, char **err)
{
	static const struct dbos_callbacks cb = { .on_row = on_proc_row };
	struct dbos_conn *c = dbos_connect(SOCK, err);
	int ret;

	s->n = 0;
	if (!c)
		return -1;
	ret = dbos_query(c, "SELECT pid, parent, uid, name, path FROM processes ORDER BY pid",
			 &cb, s, err);
	dbos_close(c);
	return ret;
}

/*
 * Kernel threads: /proc decorates their names (a kworker shows the last
 * workqueue it ran, "kworker/0:1-events"; long kthread names are shown whole),
 * and that decoration changes with no event at all. dbos reports the task's
 * comm, which is what /proc shows up to that decoration: compare as a prefix.
 */
static inline int same_name(const struct proc_row *proc, const struct proc_row *mirror)
{
	size_t n = strlen(mirror->comm);

	if (proc->exe[0] || (proc->ppid != 2 && proc->pid != 2))
		return !strcmp(proc->comm, mirror->comm);
	return !strncmp(proc->comm, mirror->comm, n) &&
	       (n == 15 || proc->comm[n] == 0 || proc->comm[n] == '-');
}

static inline int same_row(const struct proc_row *a, const struct proc_row *b)
{
	return a->pid == b->pid && a->ppid == b->ppid && a->uid == b->uid &&
	       !strcmp(a->exe, b->exe) && same_name(a, b);
}

/* @a and @b: /proc twice, or /proc then the mirror (names compared as above). */
static inline int same_set(const struct proc_set *a, const struct proc_set *b)
{
	if (a->n != b->n)
		return 0;
	for (int i = 0; i < a->n; i++)
		if (!same_row(&a->p[i], &b->p[i]))
			return 0;
	return 1;
}

static inline void log_diff(struct __test_metadata *_metadata, const struct proc_set *want,
		     const struct proc_set *got)
{
	int i = 0, j = 0, shown = 0;

	while ((i < want->n || j < got->n) && shown < 20) {
		const struct proc_row *w = i < want->n ? &want->p[i] : NULL;
		const struct proc_row *g = j < got->n ? &got->p[j] : NULL;

		if (w && (!g || w->pid < g->pid)) {
			TH_LOG("missing in dbos: pid %d ppid %d uid %d %s %s", w->pid, w->ppid,
			       w->uid, w->comm, w->exe);
			i++, shown++;
		} else if (g && (!w || g->pid < w->pid)) {
			TH_LOG("extra in dbos: pid %d ppid %d uid %d %s %s", g->pid, g->ppid,
			       g->uid, g->comm, g->exe);
			j++, shown++;
		} else {
			if (!same_row(w, g)) {
				TH_LOG("differs: /proc pid %d ppid %d uid %d %s %s | dbos ppid %d uid %d %s %s",
				       w->pid, w->ppid, w->uid, w->comm, w->exe, g->ppid, g->uid,
				       g->comm, g->exe);
				shown++;
			}
			i++, j++;
		}
	}
}

static inline int on_text_row(void *arg, int ncol, const struct dbos_value *v)
{
	struct __test_metadata *_metadata = arg;
	char text[256];

	if (ncol == 1) {
		copy_text(text, sizeof(text), &v[0]);
		TH_LOG("  %s", text);
	}
	return 0;
}

/*
 * What the mirror knows of the first pid whose row differs, for the log of
 * a failed comparison: its history and its parent's, and the counters of
 * what can leave a row behind (re-syncs, reparenting queries, order).
 */
static inline void log_history(struct __test_metadata *_metadata, const struct proc_set *want,
			       const struct proc_set *got)
{
	static const struct dbos_callbacks cb = { .on_row = on_text_row };
	struct dbos_conn *c;
	char sql[512], *err = NULL;
	int i = 0, j = 0;

	while (i < want->n && j < got->n) {
		if (want->p[i].pid < got->p[j].pid) {
			i++;
		} else if (got->p[j].pid < want->p[i].pid) {
			j++;
		} else if (!same_row(&want->p[i], &got->p[j])) {
			break;
		} else {
			i++, j++;
		}
	}
	if (i == want->n || j == got->n)
		return;
	c = dbos_connect(SOCK, &err);
	if (!c) {
		free(err);
		return;
	}
	snprintf(sql, sizeof(sql),
		 "SELECT seq || ' ' || event || ' pid ' || pid || ' tid ' || tid || ' parent ' || "
		 "parent || ' cpu ' || cpu FROM process_events WHERE pid IN (%d, %d) ORDER BY seq",
		 got->p[j].pid, got->p[j].ppid);
	TH_LOG("history of pids %d, %d:", got->p[j].pid, got->p[j].ppid);
	dbos_query(c, sql, &cb, _metadata, &err);
	free(err);
	err = NULL;
	TH_LOG("counters:");
	dbos_query(c, "SELECT name || ' ' || value FROM dbos_stats WHERE name IN ('resyncs', "
		   "'reparent_queries', 'reorder_late', 'reorder_forced', 'events_stale', "
		   "'gaps_detected', 'kernel_dropped', 'seq')", &cb, _metadata, &err);
	free(err);
	dbos_close(c);
}

/* The pid of a running dbosd (the newest, if several), or 0. */
static inline pid_t dbosd_pid(void)
{
	struct proc_set *s = malloc(sizeof(*s));
	pid_t pid = 0;

	if (!s)
		return 0;
	read_proc(s);
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->p[i].comm, "dbosd"))
			pid = s->p[i].pid;
	free(s);
	return pid;
}

static struct proc_set before, mirror, after;

/*
 * Waits (up to @secs) for a quiet moment in which /proc read before and after
 * the query agree, and checks that dbos equals it then. Returns 1 on a match.
 */
static inline int converges(struct __test_metadata *_metadata, int secs)
{
	time_t end = time(NULL) + secs;
	char *err = NULL;

	do {
		read_proc(&before);
		if (read_dbos(&mirror, &err)) {
			TH_LOG("query failed: %s", err ? err : "?");
			free(err);
			err = NULL;
			usleep(200000);
			continue;
		}
		read_proc(&after);
		/*
		 * Equal to /proc as read just before or just after the query: on
		 * a slow (debug) kernel, kernel threads come and go often enough
		 * that the two reads rarely agree with each other.
		 */
		if (same_set(&before, &mirror) || same_set(&after, &mirror))
			return 1;
		usleep(100000);
	} while (time(NULL) < end);
	log_diff(_metadata, &after, &mirror);
	log_history(_metadata, &after, &mirror);
	return 0;
}

/* ---- open files: /proc/PID/fd (ground truth) and process_open_files ---- */

struct fd_row {
	int pid, fd;
	uint64_t ino, dev;
	char type[12];
	char path[TXT];
};

struct fd_set_ {
	int n;
	struct fd_row r[MAXROWS];
};

static inline int cmp_fd(const void *a, const void *b)
{
	const struct fd_row *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

/* dbos' name of the kind of file (enum dbos_file_kind), from st_mode. */
static inline const char *kind_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "regular";
	case S_IFDIR: return "directory";
	case S_IFCHR: return "character";
	case S_IFBLK: return "block";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFLNK: return "symlink";
	default: return "other";	/* anon inodes have no type bits */
	}
}

/*
 * Ground truth: every fd of every process, as `ls -l /proc/PID/fd` shows it
 * (target of the link) plus stat() of it (inode, device, kind). The reader's
 * own directory fds (/proc and /proc/self/fd, open while it lists itself) are
 * left out: they exist only while this function runs.
 */
static inline void read_proc_fds(struct fd_set_ *s)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	s->n = 0;
	while (d && (e = readdir(d))) {
		int pid = atoi(e->d_name);
		char dir[64];
		struct dirent *f;
		DIR *fds;

		if (pid <= 0)
			continue;
		snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
		fds = opendir(dir);
		if (!fds)
			continue;	/* exited meanwhile */
		while ((f = readdir(fds)) && s->n < MAXROWS) {
			struct fd_row *r = &s->r[s->n];
			char link[96];
			struct stat st;
			ssize_t n;

			if (f->d_name[0] == '.')
				continue;
			r->pid = pid;
			r->fd = atoi(f->d_name);
			if (pid == getpid() && (r->fd == dirfd(d) || r->fd == dirfd(fds)))
				continue;
			snprintf(link, sizeof(link), "%s/%d", dir, r->fd);
			n = readlink(link, r->path, sizeof(r->path) - 1);
			if (n < 0 || stat(link, &st))
				continue;	/* closed meanwhile */
			r->path[n] = 0;
			r->ino = st.st_ino;
			r->dev = st.st_dev;
			snprintf(r->type, sizeof(r->type), "%s", kind_name(st.st_mode));
			s->n++;
		}
		closedir(fds);
	}
	if (d)
		closedir(d);
	qsort(s->r, s->n, sizeof(s->r[0]), cmp_fd);
}

static inline int on_fd_row(void *arg, int ncol, const struct dbos_value *v)
{
	struct fd_set_ *s = arg;
	struct fd_row *r;

	if (ncol != 6 || s->n == MAXROWS)
		return 0;
	r = &s->r[s->n];
	r->pid = (int)v[0].i;
	r->fd = (int)v[1].i;
	copy_text(r->path, sizeof(r->path), &v[2]);
	/*
	 * This test's own walk of /proc (left out of the /proc side too): its
	 * directory fds come and go with every walk, and under a loss storm a
	 * re-sync can catch one open whose close is then lost again.
	 */
	if (r->pid == getpid() && !strncmp(r->path, "/proc", 5))
		return 0;
	s->n++;
	r->ino = (uint64_t)v[3].i;
	r->dev = (uint64_t)v[4].i;
	copy_text(r->type, sizeof(r->type), &v[5]);
	return 0;
}

static inline int read_mirror_fds(struct dbos_conn *c, struct fd_set_ *s, char **err)
{
	static const struct dbos_callbacks cb = { .on_row = on_fd_row };

	s->n = 0;
	return dbos_query(c, "SELECT pid, fd, path, inode, device, type FROM process_open_files "
			  "ORDER BY pid, fd", &cb, s, err);
}

static inline int same_fd(const struct fd_row *a, const struct fd_row *b)
{
	return a->pid == b->pid && a->fd == b->fd && a->ino == b->ino && a->dev == b->dev &&
	       !strcmp(a->path, b->path) && !strcmp(a->type, b->type);
}

static inline int same_fds(const struct fd_set_ *a, const struct fd_set_ *b)
{
	if (a->n != b->n)
		return 0;
	for (int i = 0; i < a->n; i++)
		if (!same_fd(&a->r[i], &b->r[i]))
			return 0;
	return 1;
}

#define FD_FMT "pid %d fd %d %s ino %" PRIu64 " dev %" PRIu64 " %s"
#define FD_ARGS(r) (r)->pid, (r)->fd, (r)->path, (r)->ino, (r)->dev, (r)->type

static inline void log_fd_diff(struct __test_metadata *_metadata, const struct fd_set_ *want,
			const struct fd_set_ *got)
{
	int i = 0, j = 0, shown = 0;

	while ((i < want->n || j < got->n) && shown < 30) {
		const struct fd_row *w = i < want->n ? &want->r[i] : NULL;
		const struct fd_row *g = j < got->n ? &got->r[j] : NULL;
		int c = !w ? 1 : !g ? -1 : cmp_fd(w, g);

		if (c < 0) {
			TH_LOG("missing in dbos: " FD_FMT, FD_ARGS(w));
			i++, shown++;
		} else if (c > 0) {
			TH_LOG("extra in dbos: " FD_FMT, FD_ARGS(g));
			j++, shown++;
		} else {
			if (!same_fd(w, g)) {
				TH_LOG("differs: /proc " FD_FMT, FD_ARGS(w));
				TH_LOG("          dbos " FD_FMT, FD_ARGS(g));
				shown++;
			}
			i++, j++;
		}
	}
}

static struct fd_set_ fds_before, fds_mirror, fds_after;

/*
 * Waits (up to @secs) for a quiet moment in which /proc read before and after
 * the query agree, and checks that process_open_files equals it then. One
 * connection is held across the three reads, so its sockets (ours and the one
 * dbosd accepted) are part of the state compared.
 */
static inline int fds_converge(struct __test_metadata *_metadata, int secs)
{
	time_t end = time(NULL) + secs;

	do {
		char *err = NULL;
		struct dbos_conn *c = connect_held(&err);
		int ok = 0;

		if (c) {
			read_proc_fds(&fds_before);
			if (read_mirror_fds(c, &fds_mirror, &err) == 0) {
				read_proc_fds(&fds_after);
				ok = same_fds(&fds_before, &fds_after) &&
				     same_fds(&fds_after, &fds_mirror);
			}
			dbos_close(c);
		}
		if (ok)
			return 1;
		if (err)
			TH_LOG("query failed: %s", err);
		free(err);
		usleep(200000);
	} while (time(NULL) < end);
	log_fd_diff(_metadata, &fds_after, &fds_mirror);
	return 0;
}

/* ---- sockets: ss(8) (ground truth) and process_open_sockets ---- */

struct sk_row {
	int pid, fd;
	uint64_t ino, peer;
	int family, protocol, lport, rport;
	char laddr[INET6_ADDRSTRLEN], raddr[INET6_ADDRSTRLEN];
	char state[16];
	char path[112];
};

struct sk_set {
	int n;
	struct sk_row r[MAXROWS / 4];
};

static inline int cmp_sk(const void *a, const void *b)
{
	return cmp_fd(a, b);	/* pid, fd lead both structs' layouts */
}

/* ss prints the kernel's tcp_state names its own way; dbos uses the kernel's. */
static inline const char *state_name(const char *ss_state)
{
	static const char *const map[][2] = {
		{ "UNCONN", "CLOSE" }, { "ESTAB", "ESTABLISHED" }, { "SYN-SENT", "SYN_SENT" },
		{ "SYN-RECV", "SYN_RECV" }, { "FIN-WAIT-1", "FIN_WAIT1" },
		{ "FIN-WAIT-2", "FIN_WAIT2" }, { "TIME-WAIT", "TIME_WAIT" },
		{ "CLOSE-WAIT", "CLOSE_WAIT" }, { "LAST-ACK", "LAST_ACK" },
		{ "LISTEN", "LISTEN" }, { "CLOSING", "CLOSING" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(ss_state, map[i][0]))
			return map[i][1];
	return ss_state;
}

/* "127.0.0.1:80", "[::1]:80", "*:80", "0.0.0.0:*" -> address as inet_ntop prints it, port. */
static inline int parse_inet(const char *tok, int family, char *addr, int *port)
{
	char host[INET6_ADDRSTRLEN + 16];
	const char *colon = strrchr(tok, ':');
	unsigned char bin[16];
	size_t n;

	if (!colon)
		return -1;
	n = colon - tok;
	if (n >= sizeof(host))
		return -1;
	memcpy(host, tok, n);
	host[n] = 0;
	*port = strcmp(colon + 1, "*") ? atoi(colon + 1) : 0;
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = 0;
	}
	host[strcspn(host, "%")] = 0;	/* scope: "fe80::1%lo" */
	if (!strcmp(host, "*"))
		strcpy(host, family == AF_INET ? "0.0.0.0" : "::");
	if (inet_pton(family, host, bin) != 1)
		return -1;
	inet_ntop(family, bin, addr, INET6_ADDRSTRLEN);
	return 0;
}

/*
 * One line of `ss -H -a -n -p -e`; adds a row per process holding the socket
 * (users:(("name",pid=P,fd=F),...)). Sockets no process holds are skipped.
 */
static inline void parse_ss_line(char *line, int family, int listening, struct sk_set *s)
{
	char *users = strstr(line, "users:(");
	char *tok[16], *save = NULL, *p;
	int nt = 0;
	struct sk_row r = { .family = family };

	if (!users)
		return;
	*users++ = 0;
	for (p = strtok_r(line, " \t\n", &save); p && nt < 16; p = strtok_r(NULL, " \t\n", &save))
		tok[nt++] = p;
	if (nt < 6)
		return;
	snprintf(r.state, sizeof(r.state), "%s", state_name(tok[1]));
	if (family == AF_UNIX) {
		if (nt < 8 || strncmp(tok[0], "u_", 2))
			return;
		snprintf(r.path, sizeof(r.path), "%s", strcmp(tok[4], "*") ? tok[4] : "");
		r.ino = strtoull(tok[5], NULL, 10);
		r.peer = strtoull(tok[7], NULL, 10);
	} else {
		char *ino = strstr(users, " ino:");

		if (!strcmp(tok[0], "tcp"))
			r.protocol = IPPROTO_TCP;
		else if (!strcmp(tok[0], "udp"))
			r.protocol = IPPROTO_UDP;
		else
			return;
		if (parse_inet(tok[4], family, r.laddr, &r.lport) ||
		    parse_inet(tok[5], family, r.raddr, &r.rport) || !ino)
			return;
		r.ino = strtoull(ino + 5, NULL, 10);
	}
	/*
	 * -l shows LISTEN and CLOSE sockets; of the CLOSE ones only bound UDP
	 * sockets receive anything (listening_ports' definition).
	 */
	if (listening && strcmp(r.state, "LISTEN") &&
	    !(r.protocol == IPPROTO_UDP && r.lport && !strcmp(r.state, "CLOSE")))
		return;
	for (p = users; (p = strstr(p, "pid=")) && s->n < MAXROWS / 4; p++) {
		if (sscanf(p, "pid=%d,fd=%d", &r.pid, &r.fd) == 2)
			s->r[s->n++] = r;
	}
}

/* Runs ss with @args (no shell; our fds are not inherited) and parses its output. */
static inline int run_ss(const char *args, int family, int listening, struct sk_set *s)
{
	char buf[1024], cmd[128];
	int p[2], status;
	pid_t pid;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "%s", args);
	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		char *argv[10], *save = NULL;
		int n = 0;

		dup2(p[1], 1);
		syscall(SYS_close_range, 3, ~0U, 0);
		for (char *a = strtok_r(cmd, " ", &save); a && n < 8; a = strtok_r(NULL, " ", &save))
			argv[n++] = a;
		if (family != AF_UNIX)
			argv[n++] = family == AF_INET ? "-4" : "-6";
		argv[n] = NULL;
		execv("/usr/bin/ss", argv);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	while (f && fgets(buf, sizeof(buf), f))
		parse_ss_line(buf, family, listening, s);
	if (f)
		fclose(f);
	else
		close(p[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return 0;
}

/* Ground truth: TCP and UDP (v4, v6) and unix sockets held by processes, per ss. */
static inline int read_ss(struct sk_set *s, int listening)
{
	const char *all = listening ? "-l" : "-a";
	char tcpudp[64], unx[64];

	snprintf(tcpudp, sizeof(tcpudp), "ss -H %s -t -u -n -p -e", all);
	snprintf(unx, sizeof(unx), "ss -H %s -x -n -p", all);
	s->n = 0;
	if (run_ss(tcpudp, AF_INET, listening, s) || run_ss(tcpudp, AF_INET6, listening, s) ||
	    run_ss(unx, AF_UNIX, listening, s))
		return -1;
	qsort(s->r, s->n, sizeof(s->r[0]), cmp_sk);
	return 0;
}

static inline int on_sk_row(void *arg, int ncol, const struct dbos_value *v)
{
	struct sk_set *s = arg;
	struct sk_row r = { 0 };

	if (ncol != 12 || s->n == MAXROWS / 4)
		return 0;
	r.pid = (int)v[0].i;
	r.fd = (int)v[1].i;
	r.ino = (uint64_t)v[2].i;
	r.family = (int)v[3].i;
	r.protocol = (int)v[4].i;
	copy_text(r.laddr, sizeof(r.laddr), &v[5]);
	r.lport = (int)v[6].i;
	copy_text(r.raddr, sizeof(r.raddr), &v[7]);
	r.rport = (int)v[8].i;
	copy_text(r.path, sizeof(r.path), &v[9]);
	copy_text(r.state, sizeof(r.state), &v[10]);
	r.peer = (uint64_t)v[11].i;
	if (r.family == AF_UNIX) {
		r.laddr[0] = r.raddr[0] = 0;	/* ss has no addresses for unix */
		r.lport = r.rport = 0;
	} else {
		r.path[0] = 0;
		r.peer = 0;
		/*
		 * Sockets sock_diag cannot show: TCP that neither listens nor
		 * connected (bound or not: not in a lookup table), UDP never
		 * bound. They are real rows, but ss has no ground truth for them.
		 */
		if ((r.protocol == IPPROTO_TCP && !strcmp(r.state, "CLOSE")) ||
		    (r.protocol == IPPROTO_UDP && r.lport == 0))
			return 0;
	}
	s->r[s->n++] = r;
	return 0;
}

/* The mirror, in on_sk_row()'s columns. */
static const char sql_open_sockets[] =
	"SELECT pid, fd, socket, family, protocol, local_address, local_port, remote_address, "
	"remote_port, path, state, peer_socket FROM process_open_sockets "
	"WHERE family IN (1, 2, 10) ORDER BY pid, fd";

/*
 * listening_ports has no remote side or state: what ss -l shows for them is
 * implied (TCP and unix LISTEN, UDP unconnected, no peer).
 */
static const char sql_listening[] =
	"SELECT pid, fd, socket, family, protocol, address, port, "
	"CASE family WHEN 2 THEN '0.0.0.0' WHEN 10 THEN '::' ELSE '' END, 0, path, "
	"CASE protocol WHEN 17 THEN 'CLOSE' ELSE 'LISTEN' END, 0 FROM listening_ports "
	"ORDER BY pid, fd";

static inline int read_mirror_sockets(struct dbos_conn *c, struct sk_set *s, const char *sql, char **err)
{
	static const struct dbos_callbacks cb = { .on_row = on_sk_row };

	s->n = 0;
	return dbos_query(c, sql, &cb, s, err);
}

static inline int same_sk(const struct sk_row *a, const struct sk_row *b)
{
	return a->pid == b->pid && a->fd == b->fd && a->ino == b->ino && a->peer == b->peer &&
	       a->family == b->family && a->protocol == b->protocol && a->lport == b->lport &&
	       a->rport == b->rport && !strcmp(a->laddr, b->laddr) &&
	       !strcmp(a->raddr, b->raddr) && !strcmp(a->state, b->state) &&
	       !strcmp(a->path, b->path);
}

static inline int same_sks(const struct sk_set *a, const struct sk_set *b)
{
	if (a->n != b->n)
		return 0;
	for (int i = 0; i < a->n; i++)
		if (!same_sk(&a->r[i], &b->r[i]))
			return 0;
	return 1;
}

#define SK_FMT "pid %d fd %d ino %" PRIu64 " fam %d proto %d %s:%d -> %s:%d %s path '%s' peer %" PRIu64
#define SK_ARGS(r) (r)->pid, (r)->fd, (r)->ino, (r)->family, (r)->protocol, (r)->laddr, \
	(r)->lport, (r)->raddr, (r)->rport, (r)->state, (r)->path, (r)->peer

static inline void log_sk_diff(struct __test_metadata *_metadata, const struct sk_set *want,
			const struct sk_set *got)
{
	int i = 0, j = 0, shown = 0;

	while ((i < want->n || j < got->n) && shown < 30) {
		const struct sk_row *w = i < want->n ? &want->r[i] : NULL;
		const struct sk_row *g = j < got->n ? &got->r[j] : NULL;
		int c = !w ? 1 : !g ? -1 : cmp_sk(w, g);

		if (c < 0) {
			TH_LOG("missing in dbos: " SK_FMT, SK_ARGS(w));
			i++, shown++;
		} else if (c > 0) {
			TH_LOG("extra in dbos: " SK_FMT, SK_ARGS(g));
			j++, shown++;
		} else {
			if (!same_sk(w, g)) {
				TH_LOG("differs: ss   " SK_FMT, SK_ARGS(w));
				TH_LOG("         dbos " SK_FMT, SK_ARGS(g));
				shown++;
			}
			i++, j++;
		}
	}
}

static struct sk_set sk_before, sk_mirror, sk_after;

/* As fds_converge(), for sockets: ss before and after, the query in between. */
static inline int sockets_converge(struct __test_metadata *_metadata, int secs, int listening)
{
	const char *sql = listening ? sql_listening : sql_open_sockets;
	time_t end = time(NULL) + secs;

	do {
		char *err = NULL;
		struct dbos_conn *c = connect_held(&err);
		int ok = 0;

		if (c) {
			if (read_ss(&sk_before, listening)) {
				TH_LOG("/usr/bin/ss failed (missing from the image, or no sock_diag?)");
				dbos_close(c);
				return 0;
			}
			if (read_mirror_sockets(c, &sk_mirror, sql, &err) == 0 &&
			    read_ss(&sk_after, listening) == 0)
				ok = same_sks(&sk_before, &sk_after) &&
				     same_sks(&sk_after, &sk_mirror);
			dbos_close(c);
		}
		if (ok)
			return 1;
		if (err)
			TH_LOG("query failed: %s", err);
		free(err);
		usleep(200000);
	} while (time(NULL) < end);
	log_sk_diff(_metadata, &sk_after, &sk_mirror);
	return 0;
}

#endif /* DBOS_VM_TRUTH_H */
