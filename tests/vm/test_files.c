// SPDX-License-Identifier: GPL-2.0
/*
 * test_files.c - end to end in the VM: open files and sockets mirrored by
 * dbos.ko -> dbosd -> SQL, checked against /proc/PID/fd and ss(8).
 *
 * Runs as root in the test VM with dbos.ko loaded and dbosd serving on
 * /run/dbos/dbosd.sock (scripts/dbos-vm sets that up; the image carries ss and
 * the sock_diag modules it needs).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "dbos_client.h"

#define SOCK	"/run/dbos/dbosd.sock"
#define MAXROWS	8192
#define TXT	256

static void copy_text(char *dst, size_t cap, const struct dbos_value *v)
{
	size_t n = v->s ? (v->len < cap - 1 ? v->len : cap - 1) : 0;

	if (n)
		memcpy(dst, v->s, n);
	dst[n] = 0;
}

static int on_int_row(void *arg, int ncol, const struct dbos_value *vals)
{
	if (ncol > 0 && vals[0].type == DBOS_T_INT)
		*(long long *)arg = vals[0].i;
	return 0;
}

/* One query that returns a single integer (or -1). */
static long long query_int(const char *sql)
{
	static const struct dbos_callbacks cb = { .on_row = on_int_row };
	struct dbos_conn *c = dbos_connect(SOCK, NULL);
	long long v = -1;

	if (!c)
		return -1;
	if (dbos_query(c, sql, &cb, &v, NULL))
		v = -1;
	dbos_close(c);
	return v;
}

static long long stat_value(const char *name)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT value FROM dbos_stats WHERE name = '%s'", name);
	return query_int(sql);
}

static int wait_socket(int secs)
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

static int cmp_fd(const void *a, const void *b)
{
	const struct fd_row *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

/* dbos' name of the kind of file (enum dbos_file_kind), from st_mode. */
static const char *kind_name(mode_t mode)
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
static void read_proc_fds(struct fd_set_ *s)
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

static int on_fd_row(void *arg, int ncol, const struct dbos_value *v)
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

static int read_mirror_fds(struct dbos_conn *c, struct fd_set_ *s, char **err)
{
	static const struct dbos_callbacks cb = { .on_row = on_fd_row };

	s->n = 0;
	return dbos_query(c, "SELECT pid, fd, path, inode, device, type FROM process_open_files "
			  "ORDER BY pid, fd", &cb, s, err);
}

static int same_fd(const struct fd_row *a, const struct fd_row *b)
{
	return a->pid == b->pid && a->fd == b->fd && a->ino == b->ino && a->dev == b->dev &&
	       !strcmp(a->path, b->path) && !strcmp(a->type, b->type);
}

static int same_fds(const struct fd_set_ *a, const struct fd_set_ *b)
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

static void log_fd_diff(struct __test_metadata *_metadata, const struct fd_set_ *want,
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
static int fds_converge(struct __test_metadata *_metadata, int secs)
{
	time_t end = time(NULL) + secs;

	do {
		char *err = NULL;
		struct dbos_conn *c = dbos_connect(SOCK, &err);
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

static int cmp_sk(const void *a, const void *b)
{
	return cmp_fd(a, b);	/* pid, fd lead both structs' layouts */
}

/* ss prints the kernel's tcp_state names its own way; dbos uses the kernel's. */
static const char *state_name(const char *ss_state)
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
static int parse_inet(const char *tok, int family, char *addr, int *port)
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
static void parse_ss_line(char *line, int family, int listening, struct sk_set *s)
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
static int run_ss(const char *args, int family, int listening, struct sk_set *s)
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
static int read_ss(struct sk_set *s, int listening)
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

static int on_sk_row(void *arg, int ncol, const struct dbos_value *v)
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

static int read_mirror_sockets(struct dbos_conn *c, struct sk_set *s, const char *sql, char **err)
{
	static const struct dbos_callbacks cb = { .on_row = on_sk_row };

	s->n = 0;
	return dbos_query(c, sql, &cb, s, err);
}

static int same_sk(const struct sk_row *a, const struct sk_row *b)
{
	return a->pid == b->pid && a->fd == b->fd && a->ino == b->ino && a->peer == b->peer &&
	       a->family == b->family && a->protocol == b->protocol && a->lport == b->lport &&
	       a->rport == b->rport && !strcmp(a->laddr, b->laddr) &&
	       !strcmp(a->raddr, b->raddr) && !strcmp(a->state, b->state) &&
	       !strcmp(a->path, b->path);
}

static int same_sks(const struct sk_set *a, const struct sk_set *b)
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

static void log_sk_diff(struct __test_metadata *_metadata, const struct sk_set *want,
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
static int sockets_converge(struct __test_metadata *_metadata, int secs, int listening)
{
	const char *sql = listening ? sql_listening : sql_open_sockets;
	time_t end = time(NULL) + secs;

	do {
		char *err = NULL;
		struct dbos_conn *c = dbos_connect(SOCK, &err);
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

/* ---- the scenario: a child opens files and sockets, records what it did ---- */

struct exp_ev {
	char action[8];
	int fd;
	int lport, rport;	/* socket events: -1 = not checked */
	char path[TXT];		/* file events: the file's path; unix bind: its name */
};

struct expect {
	int nfile, nsock;
	int failed_line;
	struct exp_ev file[64], sock[64];
};

static struct expect *x;	/* shared with the scenario child (MAP_SHARED) */

#define CK(cond) do { if (!(cond)) { x->failed_line = __LINE__; return -1; } } while (0)

static void fd_path(int fd, char *buf, size_t cap)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, cap - 1);
	buf[n > 0 ? n : 0] = 0;
}

static int note_open(int fd)
{
	struct exp_ev *e = &x->file[x->nfile];

	if (fd < 0)
		return -1;
	x->nfile++;
	strcpy(e->action, "open");
	e->fd = fd;
	fd_path(fd, e->path, sizeof(e->path));
	return fd;
}

static void note_sock(const char *action, int fd, int lport, int rport)
{
	struct exp_ev *e = &x->sock[x->nsock++];

	snprintf(e->action, sizeof(e->action), "%s", action);
	e->fd = fd;
	e->lport = lport;
	e->rport = rport;
}

static int note_close(int fd)
{
	struct exp_ev *e = &x->file[x->nfile++];

	strcpy(e->action, "close");
	e->fd = fd;
	fd_path(fd, e->path, sizeof(e->path));
	if (!strncmp(e->path, "socket:", 7))
		note_sock("close", fd, -1, -1);
	return close(fd);
}

static int port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A bound (and for TCP listening) socket on loopback; *port gets its port. */
static int inet_socket(int family, int type, int listening, int *port)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = note_open(socket(family, type, 0));

	CK(fd >= 0);
	CK(!bind(fd, family == AF_INET ? (struct sockaddr *)&a4 : (struct sockaddr *)&a6,
		 family == AF_INET ? sizeof(a4) : sizeof(a6)));
	*port = port_of(fd);
	note_sock("bind", fd, *port, -1);
	if (listening) {
		CK(!listen(fd, 8));
		note_sock("listen", fd, *port, -1);
	}
	return fd;
}

static int inet_connect(int family, int type, int port)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = note_open(socket(family, type, 0));

	CK(fd >= 0);
	CK(!connect(fd, family == AF_INET ? (struct sockaddr *)&a4 : (struct sockaddr *)&a6,
		    family == AF_INET ? sizeof(a4) : sizeof(a6)));
	note_sock("connect", fd, -1, port);
	return fd;
}

static int do_accept(int lfd, int lport, int cfd)
{
	int fd = note_open(accept(lfd, NULL, NULL));

	CK(fd >= 0);
	note_sock("accept", fd, lport, cfd >= 0 ? port_of(cfd) : -1);
	return fd;
}

static int unix_socket(const char *name, size_t len, int listening)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = note_open(socket(AF_UNIX, SOCK_STREAM, 0));

	CK(fd >= 0);
	memcpy(a.sun_path, name, len);
	if (listening) {
		CK(!bind(fd, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + len));
		note_sock("bind", fd, -1, -1);
		/* what ss and dbos show: abstract names with '@' for the NUL */
		snprintf(x->sock[x->nsock - 1].path, TXT, "%s%s", name[0] ? "" : "@", name + !name[0]);
		CK(!listen(fd, 8));
		note_sock("listen", fd, -1, -1);
	} else {
		CK(!connect(fd, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + len));
		note_sock("connect", fd, -1, -1);
	}
	return fd;
}

/* Sends @fd over the unix pair @tx -> @rx (SCM_RIGHTS); returns the fd received. */
static int pass_fd(int tx, int rx, int fd)
{
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u = { 0 };
	char byte = 'x';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	int got;

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	CK(sendmsg(tx, &m, 0) == 1);
	memset(u.buf, 0, sizeof(u.buf));
	m.msg_controllen = sizeof(u.buf);
	CK(recvmsg(rx, &m, 0) == 1 && (c = CMSG_FIRSTHDR(&m)) && c->cmsg_type == SCM_RIGHTS);
	memcpy(&got, CMSG_DATA(c), sizeof(int));
	return note_open(got);
}

/*
 * Files (some close-on-exec), a dup, a pipe, TCP listeners and connected
 * pairs on v4 and v6, UDP bound v4/v6 and one connected, a unix listener with
 * a connected pair (passing a file over it) and an abstract listener; then
 * closes some of each.
 */
static int scenario(const char *dir)
{
	int files[8], l4, l6, c4, c6, a4, a6, u4, u6, uc, ul, uc2, ua, ab, p[2], d;
	int port4, port6, uport4, uport6;
	char path[128], abstract[64];

	for (int i = 0; i < 8; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		files[i] = note_open(open(path, O_CREAT | O_RDWR | (i % 2 ? O_CLOEXEC : 0), 0600));
		CK(files[i] >= 0);
	}
	d = note_open(dup(files[0]));
	CK(d >= 0 && !pipe(p));
	note_open(p[0]);
	note_open(p[1]);
	l4 = inet_socket(AF_INET, SOCK_STREAM, 1, &port4);
	l6 = inet_socket(AF_INET6, SOCK_STREAM, 1, &port6);
	CK(l4 >= 0 && l6 >= 0);
	c4 = inet_connect(AF_INET, SOCK_STREAM, port4);
	a4 = do_accept(l4, port4, c4);
	c6 = inet_connect(AF_INET6, SOCK_STREAM, port6);
	a6 = do_accept(l6, port6, c6);
	u4 = inet_socket(AF_INET, SOCK_DGRAM, 0, &uport4);
	u6 = inet_socket(AF_INET6, SOCK_DGRAM, 0, &uport6);
	uc = inet_connect(AF_INET, SOCK_DGRAM, uport4);
	snprintf(path, sizeof(path), "%s/sock", dir);
	ul = unix_socket(path, strlen(path) + 1, 1);
	uc2 = unix_socket(path, strlen(path) + 1, 0);
	ua = do_accept(ul, -1, -1);
	CK(uc2 >= 0 && ua >= 0 && pass_fd(uc2, ua, files[2]) >= 0);
	snprintf(abstract, sizeof(abstract), "%cdbos-test-%d", 0, getpid());
	ab = unix_socket(abstract, strlen(abstract + 1) + 1, 1);
	CK(c4 >= 0 && a4 >= 0 && c6 >= 0 && a6 >= 0 && u4 >= 0 && u6 >= 0 && uc >= 0);
	CK(ul >= 0 && uc2 >= 0 && ua >= 0 && ab >= 0);
	CK(!note_close(files[1]) && !note_close(files[4]) && !note_close(d));
	CK(!note_close(p[1]) && !note_close(c4) && !note_close(u6) && !note_close(uc2));
	return 0;
}

/* Forks the scenario child; returns its pid once it is done (it then waits to be killed). */
static pid_t start_scenario(const char *dir)
{
	int ready[2];
	char c = 0;
	pid_t pid;

	x = mmap(NULL, sizeof(*x), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (x == MAP_FAILED || mkdir(dir, 0700) || pipe(ready))
		return -1;
	memset(x, 0, sizeof(*x));
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "dbos-scenario");
		note_close(ready[0]);
		c = scenario(dir) ? 'f' : 'r';
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (pid < 0 || read(ready[0], &c, 1) != 1 || c != 'r')
		pid = -1;
	close(ready[0]);
	return pid;
}

static void stop_child(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static void remove_dir(const char *dir)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return;
}

/* ---- events ---- */

struct got_ev {
	long long seq;
	char action[8];
	int fd, lport, rport;
	int path_null;
	char path[TXT];
};

struct got_list {
	int n;
	struct got_ev e[256];
};

static int on_ev_row(void *arg, int ncol, const struct dbos_value *v)
{
	struct got_list *l = arg;
	struct got_ev *e;

	if (ncol != 6 || l->n == 256)
		return 0;
	e = &l->e[l->n++];
	e->seq = v[0].i;
	copy_text(e->action, sizeof(e->action), &v[1]);
	e->fd = v[2].type == DBOS_T_INT ? (int)v[2].i : -1;
	e->path_null = v[3].s == NULL;
	copy_text(e->path, sizeof(e->path), &v[3]);
	e->lport = (int)v[4].i;
	e->rport = (int)v[5].i;
	return 0;
}

static int read_events(const char *sql, struct got_list *l)
{
	static const struct dbos_callbacks cb = { .on_row = on_ev_row };
	struct dbos_conn *c = dbos_connect(SOCK, NULL);
	int ret;

	l->n = 0;
	if (!c)
		return -1;
	ret = dbos_query(c, sql, &cb, l, NULL);
	dbos_close(c);
	return ret;
}

/* Polls @sql until it returns at least @want rows (or @secs pass). */
static void wait_events(const char *sql, struct got_list *l, int want, int secs)
{
	time_t end = time(NULL) + secs;

	while (read_events(sql, l) || l->n < want) {
		if (time(NULL) >= end)
			return;
		usleep(200000);
	}
}

static void log_events(struct __test_metadata *_metadata, const char *what,
		       const struct exp_ev *want, int nwant, const struct got_list *got)
{
	for (int i = 0; i < nwant || i < got->n; i++)
		TH_LOG("%s %2d: expected %-7s fd %3d %s | dbos %-7s fd %3d %s", what, i,
		       i < nwant ? want[i].action : "-", i < nwant ? want[i].fd : -1,
		       i < nwant ? want[i].path : "", i < got->n ? got->e[i].action : "-",
		       i < got->n ? got->e[i].fd : -1, i < got->n ? got->e[i].path : "");
}

FIXTURE(vm) {
	int unused;
};

FIXTURE_SETUP(vm)
{
}

FIXTURE_TEARDOWN(vm)
{
}

static int on_flags_row(void *arg, int ncol, const struct dbos_value *v)
{
	int *flags = arg;

	if (ncol == 2 && v[0].i >= 0 && v[0].i < 64)
		flags[v[0].i] = (int)v[1].i;
	return 0;
}

/*
 * The scenario's fds (it calls no fcntl): flags as /proc/PID/fdinfo shows
 * them (f_flags, plus O_CLOEXEC for close-on-exec). Returns how many differ.
 */
static int flags_differ(struct __test_metadata *_metadata, pid_t pid)
{
	static const struct dbos_callbacks cb = { .on_row = on_flags_row };
	struct dbos_conn *c = dbos_connect(SOCK, NULL);
	int flags[64], differ = 0, checked = 0;
	char sql[128], buf[512];

	for (int fd = 0; fd < 64; fd++)
		flags[fd] = -1;
	snprintf(sql, sizeof(sql), "SELECT fd, flags FROM process_open_files WHERE pid = %d", pid);
	if (!c || dbos_query(c, sql, &cb, flags, NULL))
		differ = 1000;
	if (c)
		dbos_close(c);
	for (int fd = 3; fd < 64 && !differ; fd++) {
		char path[64];
		unsigned int want;
		char *p;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
		f = fopen(path, "r");
		if (!f)
			continue;
		buf[fread(buf, 1, sizeof(buf) - 1, f)] = 0;
		fclose(f);
		p = strstr(buf, "flags:");
		if (!p || sscanf(p + 6, "%o", &want) != 1)
			continue;
		checked++;
		if ((unsigned int)flags[fd] != want) {
			TH_LOG("pid %d fd %d: fdinfo flags 0%o, dbos 0%o", pid, fd, want, flags[fd]);
			differ++;
		}
	}
	return checked >= 15 ? differ : -1;	/* the scenario has 18 fds above 2 */
}

/*
 * The scenario, then at rest: process_open_files equals /proc/PID/fd for every
 * process, and process_open_sockets equals ss, both ways.
 */
TEST_F_TIMEOUT(vm, open_files_and_sockets_equal_proc_and_ss_at_rest, 180)
{
	char dir[64];
	pid_t child;

	ASSERT_EQ(0, wait_socket(10));
	snprintf(dir, sizeof(dir), "/tmp/dbos-files-%d", getpid());
	child = start_scenario(dir);
	ASSERT_GT(child, 0) TH_LOG("scenario failed at line %d", x->failed_line);
	EXPECT_TRUE(fds_converge(_metadata, 30));
	EXPECT_TRUE(sockets_converge(_metadata, 30, 0));
	/* the scenario's own sockets are there: the comparison was not vacuous */
	int mine = 0;

	for (int i = 0; i < sk_mirror.n; i++)
		mine += sk_mirror.r[i].pid == child;
	EXPECT_EQ(10, mine);	/* 13 opened, 3 closed */
	EXPECT_EQ(0, flags_differ(_metadata, child));
	stop_child(child);
	remove_dir(dir);
	EXPECT_TRUE(fds_converge(_metadata, 30));
}

/* The history holds every open, close, bind, listen, connect, accept of the scenario, in order. */
TEST_F_TIMEOUT(vm, file_and_socket_events_hold_the_scenario_in_seq_order, 120)
{
	static struct got_list got;
	long long fstart, sstart;
	char dir[64], sql[512];
	pid_t child;
	int i, bad;

	ASSERT_EQ(0, wait_socket(10));
	fstart = query_int("SELECT coalesce(max(seq), 0) FROM file_events");
	sstart = query_int("SELECT coalesce(max(seq), 0) FROM socket_events");
	ASSERT_GE(fstart, 0);
	ASSERT_GE(sstart, 0);
	snprintf(dir, sizeof(dir), "/tmp/dbos-events-%d", getpid());
	child = start_scenario(dir);
	ASSERT_GT(child, 0) TH_LOG("scenario failed at line %d", x->failed_line);

	snprintf(sql, sizeof(sql),
		 "SELECT seq, action, fd, path, 0, 0 FROM file_events WHERE pid = %d AND seq > %lld "
		 "ORDER BY seq", child, fstart);
	wait_events(sql, &got, x->nfile, 20);
	for (i = 1; i < got.n; i++)
		EXPECT_LT(got.e[i - 1].seq, got.e[i].seq);
	EXPECT_EQ(x->nfile, got.n);
	for (bad = -1, i = 0; bad < 0 && i < x->nfile && i < got.n; i++) {
		const struct exp_ev *w = &x->file[i];
		const struct got_ev *g = &got.e[i];

		if (strcmp(w->action, g->action) || w->fd != g->fd ||
		    (strcmp(w->path, g->path) && !(g->path_null && !strcmp(w->action, "close"))))
			bad = i;
	}
	EXPECT_EQ(-1, bad);
	if (bad >= 0 || x->nfile != got.n) {
		log_events(_metadata, "file", x->file, x->nfile, &got);
		/* for the diagnosis: the parent's events around the fork, and any pid's pipe closes */
		snprintf(sql, sizeof(sql),
			 "SELECT seq, action, fd, path || ' pid ' || pid, 0, 0 FROM file_events "
			 "WHERE seq > %lld AND (pid = %d OR (action = 'close' AND path LIKE 'pipe:%%')) "
			 "ORDER BY seq LIMIT 12", fstart, getpid());
		read_events(sql, &got);
		for (i = 0; i < got.n; i++)
			TH_LOG("seq %lld %s fd %d %s", got.e[i].seq, got.e[i].action, got.e[i].fd,
			       got.e[i].path);
	}

	snprintf(sql, sizeof(sql),
		 "SELECT seq, action, fd, path, local_port, remote_port FROM socket_events "
		 "WHERE pid = %d AND seq > %lld AND action IN ('bind', 'listen', 'connect', "
		 "'accept', 'close') ORDER BY seq", child, sstart);
	wait_events(sql, &got, x->nsock, 20);
	for (i = 1; i < got.n; i++)
		EXPECT_LT(got.e[i - 1].seq, got.e[i].seq);
	EXPECT_EQ(x->nsock, got.n);
	for (bad = -1, i = 0; bad < 0 && i < x->nsock && i < got.n; i++) {
		const struct exp_ev *w = &x->sock[i];
		const struct got_ev *g = &got.e[i];

		if (strcmp(w->action, g->action) || w->fd != g->fd ||
		    (w->lport >= 0 && w->lport != g->lport) || (w->rport >= 0 && w->rport != g->rport) ||
		    (w->path[0] && strcmp(w->path, g->path))) {
			TH_LOG("socket event %d: expected %s fd %d ports %d %d '%s', dbos %s fd %d ports %d %d '%s'",
			       i, w->action, w->fd, w->lport, w->rport, w->path, g->action, g->fd,
			       g->lport, g->rport, g->path);
			bad = i;
		}
	}
	EXPECT_EQ(-1, bad);
	if (bad >= 0 || x->nsock != got.n)
		log_events(_metadata, "sock", x->sock, x->nsock, &got);
	stop_child(child);
	remove_dir(dir);
}

static long long count_rows(const char *table, pid_t pid)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE pid = %d", table, pid);
	return query_int(sql);
}

static int count_proc_fds(pid_t pid)
{
	char dir[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	d = opendir(dir);
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* A process that exits takes its files and sockets (and their socket rows) with it. */
TEST_F_TIMEOUT(vm, exited_process_leaves_no_rows, 120)
{
	long long files = -1, socks = -1, orphans = -1;
	char dir[64], sql[256];
	pid_t child;
	int want, i;

	ASSERT_EQ(0, wait_socket(10));
	snprintf(dir, sizeof(dir), "/tmp/dbos-exit-%d", getpid());
	child = start_scenario(dir);
	ASSERT_GT(child, 0) TH_LOG("scenario failed at line %d", x->failed_line);
	want = count_proc_fds(child);
	ASSERT_GT(want, 15);
	for (i = 0; i < 100 && files != want; i++, usleep(200000))
		files = count_rows("process_open_files", child);
	ASSERT_EQ(want, files);
	ASSERT_GT(count_rows("process_open_sockets", child), 0);
	stop_child(child);
	files = socks = -1;
	/* sockets no fd refers to any more: the child's were its own */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM sockets WHERE socket NOT IN "
		 "(SELECT inode FROM process_open_files WHERE type = 'socket')");
	for (i = 0; i < 100 && (files || socks || orphans); i++, usleep(200000)) {
		files = count_rows("process_open_files", child);
		socks = count_rows("process_open_sockets", child);
		orphans = query_int(sql);
	}
	EXPECT_EQ(0, files);
	EXPECT_EQ(0, socks);
	EXPECT_EQ(0, orphans);
	remove_dir(dir);
}

struct port_list {
	int n;
	int port[64];
};

static int on_port_row(void *arg, int ncol, const struct dbos_value *v)
{
	struct port_list *l = arg;

	if (ncol == 2 && l->n < 64 && v[0].s && !strcmp(v[0].s, "dbos-scenario"))
		l->port[l->n++] = (int)v[1].i;
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* listening_ports equals ss -l (both ways), and joins with processes by pid. */
TEST_F_TIMEOUT(vm, listening_ports_equal_ss_and_join_processes, 120)
{
	static struct port_list ports;
	int i, mine = 0, want[16], nwant = 0;
	char dir[64];
	pid_t child;

	ASSERT_EQ(0, wait_socket(10));
	snprintf(dir, sizeof(dir), "/tmp/dbos-listen-%d", getpid());
	child = start_scenario(dir);
	ASSERT_GT(child, 0) TH_LOG("scenario failed at line %d", x->failed_line);
	EXPECT_TRUE(sockets_converge(_metadata, 30, 1));
	for (i = 0; i < sk_after.n; i++)
		mine += sk_after.r[i].pid == child;
	/* TCP v4 + v6, UDP v4 (v6 was closed), unix path + abstract */
	EXPECT_EQ(5, mine);

	/* the join: the scenario's listeners, under the name it gave itself */
	struct dbos_conn *c = dbos_connect(SOCK, NULL);
	static const struct dbos_callbacks cb = { .on_row = on_port_row };

	ASSERT_NE(NULL, c);
	ports.n = 0;
	ASSERT_EQ(0, dbos_query(c, "SELECT p.name, l.port FROM listening_ports l "
				"JOIN processes p USING (pid) WHERE p.name = 'dbos-scenario' "
				"ORDER BY l.port", &cb, &ports, NULL));
	dbos_close(c);
	for (i = 0; i < sk_after.n; i++)
		if (sk_after.r[i].pid == child)
			want[nwant++] = sk_after.r[i].lport;
	qsort(want, nwant, sizeof(want[0]), cmp_int);
	ASSERT_EQ(nwant, ports.n);
	for (i = 0; i < nwant; i++)
		EXPECT_EQ(want[i], ports.port[i]);
	stop_child(child);
	remove_dir(dir);
}

/* Bit N set: fd N (< 64) of @pid is close-on-exec, per /proc/PID/fdinfo. */
static long long cloexec_fds(pid_t pid)
{
	long long set = 0;

	for (int fd = 0; fd < 64; fd++) {
		char path[64], buf[512], *p;
		unsigned int flags;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
		f = fopen(path, "r");
		if (!f)
			continue;
		buf[fread(buf, 1, sizeof(buf) - 1, f)] = 0;
		fclose(f);
		p = strstr(buf, "flags:");
		if (p && sscanf(p + 6, "%o", &flags) == 1 && (flags & O_CLOEXEC))
			set |= 1LL << fd;
	}
	return set;
}

/*
 * exec closes the close-on-exec fds: each gets a close event, the others stay,
 * and the tables equal /proc afterwards.
 */
TEST_F_TIMEOUT(vm, exec_closes_close_on_exec_fds, 120)
{
	static struct got_list got;
	int go[2], i, seen = 0;
	long long cloexec;
	char sql[256], c;
	long long start;
	pid_t child;

	ASSERT_EQ(0, wait_socket(10));
	start = query_int("SELECT coalesce(max(seq), 0) FROM file_events");
	ASSERT_GE(start, 0);
	ASSERT_EQ(0, pipe(go));
	child = fork();
	if (child == 0) {
		char *argv[] = { "sleep", "1000", NULL };

		for (i = 0; i < 2; i++)	/* these stay */
			if (open("/dev/null", O_RDONLY) < 0)
				_exit(1);
		for (i = 0; i < 3; i++)	/* these go at exec */
			if (open("/dev/zero", O_RDONLY | O_CLOEXEC) < 0)
				_exit(1);
		if (read(go[0], &c, 1) != 1)	/* the parent has seen the opens */
			_exit(1);
		execv("/bin/sleep", argv);
		_exit(127);
	}
	ASSERT_GT(child, 0);
	close(go[0]);
	snprintf(sql, sizeof(sql),
		 "SELECT seq, action, fd, path, 0, 0 FROM file_events WHERE pid = %d AND seq > %lld "
		 "ORDER BY seq", child, start);
	wait_events(sql, &got, 5, 20);
	ASSERT_EQ(5, got.n);
	/* ground truth: the fds /proc shows close-on-exec now (ours, and any inherited) */
	cloexec = cloexec_fds(child);

	ASSERT_EQ(1, write(go[1], "g", 1));
	close(go[1]);
	wait_events(sql, &got, 5 + __builtin_popcountll(cloexec), 20);
	for (i = 5; i < got.n; i++) {
		EXPECT_EQ(0, strcmp(got.e[i].action, "close"));
		if (got.e[i].fd >= 0 && got.e[i].fd < 64 && (cloexec >> got.e[i].fd & 1))
			seen++;
	}
	EXPECT_EQ(__builtin_popcountll(cloexec), seen);
	EXPECT_EQ(5 + __builtin_popcountll(cloexec), got.n);
	EXPECT_GE(seen, 3);
	EXPECT_TRUE(fds_converge(_metadata, 30));
	stop_child(child);
}

static int shell(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * Opens 128 fds, closes them, and again, for @secs seconds: bursts of 256
 * records (~25 KiB) per round, far more than a 4 KiB buffer holds.
 */
static void churn(const char *dir, int secs)
{
	time_t end = time(NULL) + secs;
	char path[96];
	int fds[128];

	snprintf(path, sizeof(path), "%s/churn-%d", dir, getpid());
	close(open(path, O_CREAT | O_RDWR, 0600));
	while (time(NULL) < end) {
		for (int i = 0; i < 128; i++)
			fds[i] = open(path, O_RDONLY);
		for (int i = 0; i < 128; i++)
			close(fds[i]);
	}
	unlink(path);
	_exit(0);
}

/*
 * Storm: a 4 KiB buffer per CPU and four processes opening and closing files
 * as fast as they can. The loss is counted, the server re-syncs, and the
 * tables are exact at rest afterwards.
 */
TEST_F_TIMEOUT(vm, storm_with_tiny_buffers_counts_loss_resyncs_and_reconverges, 300)
{
	long long dropped, resyncs, gaps;
	pid_t kids[4];
	char dir[64];
	int i;

	ASSERT_EQ(0, wait_socket(10));
	/* (dbosd's first dump takes > 10 s on the debug kernel) */
	ASSERT_EQ(0, shell("vm-dbosd stop && rmmod dbos && insmod /dbos/dbos.ko buffer_kb=4 && "
			   "DBOSD_START_WAIT=180 vm-dbosd start"));
	ASSERT_EQ(0, wait_socket(20));
	ASSERT_TRUE(fds_converge(_metadata, 60));
	resyncs = stat_value("resyncs");
	ASSERT_GE(resyncs, 1);	/* the attach */
	snprintf(dir, sizeof(dir), "/tmp/dbos-storm-%d", getpid());
	ASSERT_EQ(0, mkdir(dir, 0700));
	for (i = 0; i < 4; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			churn(dir, 5);
		ASSERT_GT(kids[i], 0);
	}
	for (i = 0; i < 4; i++)
		waitpid(kids[i], NULL, 0);
	EXPECT_TRUE(fds_converge(_metadata, 60));
	dropped = stat_value("kernel_dropped");
	gaps = stat_value("gaps_detected");
	TH_LOG("storm: kernel_dropped %lld, gaps_detected %lld, resyncs %lld -> %lld", dropped,
	       gaps, resyncs, stat_value("resyncs"));
	EXPECT_GT(dropped, 0);
	EXPECT_GT(stat_value("resyncs"), resyncs);
	remove_dir(dir);
	/* back to the default buffer for whatever runs next */
	EXPECT_EQ(0, shell("vm-dbosd stop && rmmod dbos && insmod /dbos/dbos.ko && "
			   "DBOSD_START_WAIT=180 vm-dbosd start"));
	EXPECT_EQ(0, wait_socket(20));
}

TEST_HARNESS_MAIN
