// SPDX-License-Identifier: GPL-2.0
/*
 * test_asof.c - time travel against the real kernel: at random moments of a
 * workload (forks, execs, exits, opens, closes) stopped for a quiet moment,
 * /proc and /proc/PID/fd are recorded with the seq and time dbos has
 * reached; afterwards, also after a dbosd restart, processes and
 * process_open_files as of each moment (by seq and by time) are what was
 * recorded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "dbos_client.h"
#include "vm_util.h"
#include "vm_truth.h"

#define WORKERS		4
#define MOMENTS		8		/* Debian's kernel; fewer on the debug kernel */

/* A recorded moment: what /proc showed while nothing happened, and dbos's position then. */
struct moment {
	long long seq;
	struct timespec when;		/* CLOCK_REALTIME, inside the quiet moment */
	struct proc_set procs;
	struct fd_set_ fds;
	struct sk_set socks, listening;	/* process_open_sockets and listening_ports, as ss shows them */
};

static struct moment moments[MOMENTS];

/* A socket of @type bound to 127.0.0.1 (any port), listening if TCP; -1 on failure. */
static int bound_socket(int type)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, type, 0);

	if (s >= 0 && (bind(s, (struct sockaddr *)&a, sizeof(a)) ||
		       (type == SOCK_STREAM && listen(s, 4)))) {
		close(s);
		s = -1;
	}
	return s;
}

/* One worker: opens and closes files and sockets, forks children that exec, exit or wait. */
static void worker(unsigned int seed)
{
	static const char *const files[] = { "/etc/passwd", "/etc/group", "/dev/null", "/proc/self/stat",
					     "/tmp", "/" };
	int kept[8], nkept = 0;

	for (;;) {
		int op = (int)(rand_r(&seed) % 8);

		if ((op == 0 || op >= 6) && nkept < 8) {
			int fd = op == 0 ? open(files[rand_r(&seed) % 6], O_RDONLY) :
				 bound_socket(op == 6 ? SOCK_STREAM : SOCK_DGRAM);

			if (fd >= 0)
				kept[nkept++] = fd;
		} else if (op == 1 && nkept) {
			close(kept[--nkept]);
		} else if (op == 2) {
			pid_t c = fork();

			if (c == 0) {
				execl("/bin/true", "true", (char *)NULL);
				_exit(0);
			}
		} else if (op == 3) {
			if (fork() == 0)
				_exit(0);
		} else if (op == 4) {
			if (fork() == 0) {
				usleep(1000 * (rand_r(&seed) % 50));
				_exit(0);
			}
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		usleep(500 + rand_r(&seed) % 3000);
	}
}

/* The workload: a process group of WORKERS workers. Returns the group's id. */
static pid_t start_workload(void)
{
	pid_t leader = fork();

	if (leader == 0) {
		setpgid(0, 0);
		for (int i = 0; i < WORKERS; i++)
			if (fork() == 0)
				worker((unsigned int)(getpid() * 7919));
		for (;;)
			pause();
	}
	setpgid(leader, leader);
	return leader;
}

static long long last_seq(struct dbos_conn *c)
{
	static const struct dbos_callbacks cb = { .on_row = vm_sql_on_int };
	long long v = -1;
	char *err = NULL;

	if (dbos_query(c, "SELECT value FROM dbos_stats WHERE name = 'last_seq'", &cb, &v, &err))
		v = -1;
	free(err);
	return v;
}

static struct proc_set p_before, p_after;
static struct fd_set_ f_before, f_after;
static struct sk_set s_before, s_after, l_before, l_after;

/*
 * With the workload stopped, waits for a moment in which /proc, its fds and
 * ss read before and after a query of dbos are the same and equal to what
 * dbos returned, and records it in @m: the time right before the query
 * (after a pause in which dbosd sees the first reads' ss processes end),
 * and dbos's last seq right after it, on the same connection (this
 * process's reads open and close fds and run ss: none of it is open or
 * running at either).
 */
static int record_moment(struct __test_metadata *_metadata, struct moment *m, int secs)
{
	static const struct dbos_callbacks pcb = { .on_row = on_proc_row };
	time_t end = time(NULL) + secs;
	const char *why = NULL;

	do {
		char *err = NULL;
		struct dbos_conn *c = connect_held(&err);
		int ok = 0;

		if (c) {
			read_proc(&p_before);
			read_proc_fds(&f_before);
			ASSERT_EQ(0, read_ss(&s_before, 0));
			ASSERT_EQ(0, read_ss(&l_before, 1));
			usleep(150000);	/* dbosd sees the end of the ss processes */
			clock_gettime(CLOCK_REALTIME, &m->when);
			m->procs.n = 0;
			if (!dbos_query(c, "SELECT pid, parent, uid, name, path FROM processes ORDER BY pid",
					&pcb, &m->procs, &err) &&
			    !read_mirror_fds(c, &m->fds, &err) &&
			    !read_mirror_sockets(c, &m->socks, sql_open_sockets, &err) &&
			    !read_mirror_sockets(c, &m->listening, sql_listening, &err)) {
				m->seq = last_seq(c);
				read_proc(&p_after);
				read_proc_fds(&f_after);
				ASSERT_EQ(0, read_ss(&s_after, 0));
				ASSERT_EQ(0, read_ss(&l_after, 1));
				/*
				 * Processes as converges() takes them: dbos equal to
				 * /proc read before or after (on the debug kernel,
				 * kernel threads come and go between two reads).
				 */
				why = m->seq <= 0 ? "no last_seq" :
				      !same_set(&p_before, &m->procs) &&
				      !same_set(&p_after, &m->procs) ? "processes" :
				      !same_fds(&f_before, &f_after) ? "fds changed" :
				      !same_fds(&f_after, &m->fds) ? "fds" :
				      !same_sks(&s_before, &s_after) ? "sockets changed" :
				      !same_sks(&s_after, &m->socks) ? "sockets" :
				      !same_sks(&l_before, &l_after) ? "listening changed" :
				      !same_sks(&l_after, &m->listening) ? "listening" : NULL;
				ok = !why;
			} else {
				why = "a query failed";
			}
			dbos_close(c);
		} else {
			why = "no connection";
		}
		if (!ok && err)
			TH_LOG("%s", err);
		free(err);
		if (ok)
			return 1;
		usleep(200000);
	} while (time(NULL) < end);
	TH_LOG("no quiet moment in %d s: last try failed on %s", secs, why ? why : "?");
	log_diff(_metadata, &p_after, &m->procs);
	log_fd_diff(_metadata, &f_after, &m->fds);
	log_sk_diff(_metadata, &s_after, &m->socks);
	log_sk_diff(_metadata, &l_after, &m->listening);
	return 0;
}

/* @sql (a query of vm_truth.h) with "@cond AND " put after its WHERE, into @out. */
static void with_cond(const char *sql, const char *cond, char *out, size_t cap)
{
	const char *w = strstr(sql, "WHERE ");

	if (w)
		snprintf(out, cap, "%.*sWHERE %s AND %s", (int)(w - sql), sql, cond, w + 6);
	else if ((w = strstr(sql, " ORDER BY")))
		snprintf(out, cap, "%.*s WHERE %s%s", (int)(w - sql), sql, cond, w);
	else
		snprintf(out, cap, "%s WHERE %s", sql, cond);
}

static struct proc_set past_procs;
static struct fd_set_ past_fds;
static struct sk_set past_socks;

/* Checks processes and process_open_files as of moment @m, by seq and by time. */
static void check_moment(struct __test_metadata *_metadata, const struct moment *m, int k)
{
	static const struct dbos_callbacks pcb = { .on_row = on_proc_row };
	static const struct dbos_callbacks fcb = { .on_row = on_fd_row };
	char q[1024], *err = NULL;
	struct dbos_conn *c = dbos_connect(SOCK, &err);

	ASSERT_NE(NULL, c) TH_LOG("%s", err);
	for (int by_time = 0; by_time < 2; by_time++) {
		char when[64];

		if (by_time)
			snprintf(when, sizeof(when), "as_of = %lld.%06ld", (long long)m->when.tv_sec,
				 m->when.tv_nsec / 1000);
		else
			snprintf(when, sizeof(when), "as_of_seq = %lld", m->seq);
		past_procs.n = 0;
		snprintf(q, sizeof(q), "SELECT pid, parent, uid, name, path FROM processes WHERE %s "
			 "ORDER BY pid", when);
		ASSERT_EQ(0, dbos_query(c, q, &pcb, &past_procs, &err)) TH_LOG("%s: %s", q, err);
		if (!same_set(&m->procs, &past_procs)) {
			log_diff(_metadata, &m->procs, &past_procs);
			ASSERT_TRUE(0) TH_LOG("moment %d: processes %s differ", k, when);
		}
		past_fds.n = 0;
		snprintf(q, sizeof(q), "SELECT pid, fd, path, inode, device, type FROM "
			 "process_open_files WHERE %s ORDER BY pid, fd", when);
		ASSERT_EQ(0, dbos_query(c, q, &fcb, &past_fds, &err)) TH_LOG("%s: %s", q, err);
		if (!same_fds(&m->fds, &past_fds)) {
			log_fd_diff(_metadata, &m->fds, &past_fds);
			ASSERT_TRUE(0) TH_LOG("moment %d: process_open_files %s differ", k, when);
		}
		with_cond(sql_open_sockets, when, q, sizeof(q));
		ASSERT_EQ(0, read_mirror_sockets(c, &past_socks, q, &err)) TH_LOG("%s: %s", q, err);
		if (!same_sks(&m->socks, &past_socks)) {
			log_sk_diff(_metadata, &m->socks, &past_socks);
			ASSERT_TRUE(0) TH_LOG("moment %d: process_open_sockets %s differ", k, when);
		}
		with_cond(sql_listening, when, q, sizeof(q));
		ASSERT_EQ(0, read_mirror_sockets(c, &past_socks, q, &err)) TH_LOG("%s: %s", q, err);
		if (!same_sks(&m->listening, &past_socks)) {
			log_sk_diff(_metadata, &m->listening, &past_socks);
			ASSERT_TRUE(0) TH_LOG("moment %d: listening_ports %s differ", k, when);
		}
	}
	dbos_close(c);
}

FIXTURE(vm) {
	pid_t workload;
};

FIXTURE_SETUP(vm)
{
	ASSERT_EQ(0, wait_socket(30));
	self->workload = 0;
}

FIXTURE_TEARDOWN(vm)
{
	if (self->workload > 0) {
		kill(-self->workload, SIGKILL);
		waitpid(self->workload, NULL, 0);
	}
}

TEST_F_TIMEOUT(vm, the_tables_as_of_random_moments_are_what_proc_showed, 1200)
{
	const char *k = getenv("DBOS_TEST_KERNEL");
	int n = k && !strcmp(k, "debug") ? 4 : MOMENTS;
	unsigned int seed = (unsigned int)time(NULL);
	char *err = NULL;

	TH_LOG("seed %u", seed);
	self->workload = start_workload();
	for (int i = 0; i < n; i++) {
		usleep(200000 + rand_r(&seed) % 800000);	/* the workload runs */
		ASSERT_EQ(0, kill(-self->workload, SIGSTOP));
		ASSERT_EQ(1, record_moment(_metadata, &moments[i], 180)) TH_LOG("moment %d", i);
		ASSERT_EQ(0, kill(-self->workload, SIGCONT));
		if (i == n / 2) {	/* the log outlives dbosd */
			ASSERT_EQ(0, restart_dbosd(""));
		}
		if (i == n / 2 + 1) {	/* ... and the module: a new epoch, with small rings */
			ASSERT_EQ(0, system("vm-dbosd stop && rmmod dbos && "
					    "insmod /dbos/dbos.ko buffer_kb=8 && "
					    "DBOSD_START_WAIT=180 setsid vm-dbosd start"));
			ASSERT_EQ(0, wait_socket(60));
		}
	}
	kill(-self->workload, SIGKILL);
	waitpid(self->workload, NULL, 0);
	self->workload = 0;
	TH_LOG("re-syncs %lld, records dropped by the kernel %lld",
	       q_int("SELECT value FROM dbos_stats WHERE name = 'resyncs'"),
	       q_int("SELECT value FROM dbos_stats WHERE name = 'kernel_dropped'"));
	for (int i = 0; i < n; i++)
		check_moment(_metadata, &moments[i], i);
	/* back to the module's default rings for whatever runs next */
	ASSERT_EQ(0, system("vm-dbosd stop && rmmod dbos && insmod /dbos/dbos.ko && "
			    "DBOSD_START_WAIT=180 setsid vm-dbosd start"));
	ASSERT_EQ(0, wait_socket(60));
	/* a moment before the store's first: refused, naming the oldest kept */
	ASSERT_NE(0, sql(&err, "SELECT count(*) FROM processes('2001-01-01')"));
	ASSERT_NE(NULL, err);
	EXPECT_NE(NULL, strstr(err, "before the oldest moment kept")) TH_LOG("%s", err);
	free(err);
	EXPECT_EQ(0, q_int("SELECT value FROM dbos_stats WHERE name = 'changes_lost'"));
}

/*
 * Undo: the nice values of processes as they were at a moment, put back
 * with one UPDATE reading the table as of that moment, as the README shows;
 * the kernel's values (/proc/PID/stat) are the old ones again.
 */
TEST_F_TIMEOUT(vm, one_update_puts_back_the_nice_values_of_a_moment, 300)
{
	pid_t a = fork(), b;
	long long q, n = -1;
	char *err = NULL;

	if (a == 0) {
		for (;;)
			pause();
	}
	b = fork();
	if (b == 0) {
		for (;;)
			pause();
	}
	/* both children mirrored first: an UPDATE of rows not there yet changes nothing */
	ASSERT_EQ(2, wait_int(2, 120, "SELECT count(*) FROM processes WHERE pid IN (%d, %d)", a, b));
	ASSERT_EQ(0, sqlc(&n, &err, "UPDATE processes SET nice = 5 WHERE pid IN (%d, %d)", a, b))
		TH_LOG("%s", err);
	EXPECT_EQ(2, n);
	ASSERT_EQ(2, wait_int(2, 60, "SELECT count(*) FROM processes WHERE pid IN (%d, %d) AND "
			      "nice = 5", a, b));
	q = q_int("SELECT value FROM dbos_stats WHERE name = 'last_seq'");
	/* the incident: both reniced, one of them again */
	ASSERT_EQ(0, sqlc(&n, &err, "UPDATE processes SET nice = 15 WHERE pid IN (%d, %d)", a, b));
	ASSERT_EQ(0, sqlc(&n, &err, "UPDATE processes SET nice = 19 WHERE pid = %d", b));
	ASSERT_EQ(1, wait_int(1, 60, "SELECT count(*) FROM processes WHERE pid = %d AND nice = 19", b));
	EXPECT_EQ(15, proc_stat_field(a, 19, -100));
	/* undo: as they were at q */
	ASSERT_EQ(0, sqlc(&n, &err, "UPDATE processes SET nice = (SELECT p.nice FROM processes p "
			  "WHERE p.as_of_seq = %lld AND p.pid = processes.pid) WHERE pid IN (%d, %d)",
			  q, a, b)) TH_LOG("%s", err);
	EXPECT_EQ(2, n);
	EXPECT_EQ(5, proc_stat_field(a, 19, -100));
	EXPECT_EQ(5, proc_stat_field(b, 19, -100));
	EXPECT_EQ(2, wait_int(2, 60, "SELECT count(*) FROM processes WHERE pid IN (%d, %d) AND "
			      "nice = 5", a, b));
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	free(err);
}

TEST_HARNESS_MAIN
