// SPDX-License-Identifier: GPL-2.0
/*
 * test_bypass.c - in the VM: an attacker's moves around path and connect
 * rules (issue 13), each checked against what the real syscall returns. A
 * rule means what it says whatever name, mount, call or loader reaches the
 * object: other spellings of a unix socket's path, TCP Fast Open and
 * unconnected datagrams, ld.so running a file, paths deeper than the
 * kernel's walk, bind mounts.
 *
 * Runs as root in the test VM with dbos.ko, dbosd and BPF LSM (as
 * test_policy). Every test starts and ends with an empty policy.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "dbos_lsm.h"
#include "vm_policy.h"

#define D	"/tmp/dbos-bypass"	/* every file a test makes lives here */
#define SS	"/usr/bin/ss"		/* a dynamically linked program in the VM */

static char *ss_argv[] = { "ss", "-V", NULL };

/* ---- unix sockets: 0, or -1 with the syscall's errno ---- */

/* @path as a sockaddr_un ('@name': abstract); its length. */
static socklen_t unix_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	strncpy(a->sun_path, path, sizeof(a->sun_path) - 1);
	if (path[0] == '@')
		a->sun_path[0] = 0;
	return offsetof(struct sockaddr_un, sun_path) + strlen(path) + (path[0] != '@');
}

/* A socket of @type bound at @path (listening, for a stream); its fd or -1. */
static int unix_server(int type, const char *path)
{
	struct sockaddr_un a;
	socklen_t len = unix_addr(path, &a);
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	if (s < 0 || bind(s, (struct sockaddr *)&a, len) ||
	    (type == SOCK_STREAM && listen(s, 64)))
		return -1;
	return s;
}

/* @call (bind or connect) of a new unix socket of @type to @path. */
static int unix_call(int (*call)(int, const struct sockaddr *, socklen_t), int type,
		     const char *path)
{
	struct sockaddr_un a;
	socklen_t len = unix_addr(path, &a);
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0), r, e;

	r = call(s, (struct sockaddr *)&a, len);
	e = errno;
	close(s);
	errno = e;
	return r;
}

static int unix_bind(const char *path)
{
	return unix_call(bind, SOCK_STREAM, path);
}

static int unix_connect_type(int type, const char *path)
{
	return unix_call(connect, type, path);
}

static int unix_connect(const char *path)
{
	return unix_call(connect, SOCK_STREAM, path);
}

/* sendto(2) of one byte from a new unbound datagram socket to @path. */
static int unix_sendto(const char *path)
{
	struct sockaddr_un a;
	socklen_t len = unix_addr(path, &a);
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), e;
	ssize_t r;

	r = sendto(s, "x", 1, 0, (struct sockaddr *)&a, len);
	e = errno;
	close(s);
	errno = e;
	return r == 1 ? 0 : -1;
}

static int open_ro(const char *path)
{
	return open_close(path, O_RDONLY);
}

/* exec @path (ss -V, or busybox true); 0, -1 with execve's errno, 1 if it ran and failed. */
static int exec_ok(const char *path)
{
	char *argv[] = { "true", "-V", NULL };

	return exec_as(0, path, argv, NULL);
}

/*
 * In a child with a mount namespace of its own (and, unless @uid is 0, a
 * user namespace too, as @uid) where @src is bind-mounted on @dst:
 * @op(@arg). Returns what @op returned, with errno its errno; -2 (errno of
 * the step) when the namespace or the mount could not be made.
 */
static int in_bind_mount(uid_t uid, const char *src, const char *dst,
			 int (*op)(const char *), const char *arg)
{
	int p[2], res[2] = { -2, 0 };
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -2;
	pid = fork();
	if (pid == 0) {
		int ns = uid ? CLONE_NEWUSER | CLONE_NEWNS : CLONE_NEWNS;

		if ((uid && become(uid, 0)) || unshare(ns) ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount(src, dst, NULL, MS_BIND, NULL)) {
			res[1] = errno;
		} else {
			res[0] = op(arg);
			res[1] = errno;
		}
		if (write(p[1], res, sizeof(res)) < 0)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], res, sizeof(res)) != sizeof(res))
		res[0] = -2;
	close(p[0]);
	waitpid(pid, NULL, 0);
	errno = res[1];
	return res[0];
}

/* Polls @op(@arg) until it returns @want (errno @want_errno if -1) or @secs pass; 0 if it did. */
static int wait_op(int want, int want_errno, int secs, int (*op)(const char *), const char *arg)
{
	for (int i = 0; i < secs * 10; i++) {
		int r = op(arg);

		if (r == want && (r != -1 || errno == want_errno))
			return 0;
		usleep(100000);
	}
	return -1;
}

static long long stat_value(const char *name)
{
	return q_int("SELECT value FROM dbos_stats WHERE name = '%s'", name);
}

/* ---- ELF: the program interpreter (PT_INTERP) ---- */

/* The PT_INTERP program header of the ELF file @fd; 0 or -1. */
static int elf_interp_phdr(int fd, Elf64_Phdr *ph)
{
	Elf64_Ehdr eh;

	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG))
		return -1;
	for (int i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, ph, sizeof(*ph), eh.e_phoff + (off_t)i * eh.e_phentsize) != sizeof(*ph))
			return -1;
		if (ph->p_type == PT_INTERP)
			return 0;
	}
	return -1;
}

/* @path's interpreter (the dynamic loader) into @buf; 0 or -1. */
static int elf_interp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = -1;
	Elf64_Phdr ph;

	if (fd >= 0 && !elf_interp_phdr(fd, &ph) && ph.p_filesz < cap &&
	    pread(fd, buf, ph.p_filesz, ph.p_offset) == (ssize_t)ph.p_filesz) {
		buf[ph.p_filesz] = 0;
		r = 0;
	}
	if (fd >= 0)
		close(fd);
	return r;
}

/* Copies the program @src to @dst with @interp as its interpreter; 0 or -1. */
static int copy_with_interp(const char *src, const char *dst, const char *interp)
{
	char buf[256] = "";
	Elf64_Phdr ph;
	int fd, r = -1;

	if (copy_file(src, dst, 0755))
		return -1;
	fd = open(dst, O_RDWR | O_CLOEXEC);
	if (fd >= 0 && !elf_interp_phdr(fd, &ph) && strlen(interp) < ph.p_filesz &&
	    ph.p_filesz <= sizeof(buf)) {
		strcpy(buf, interp);
		r = pwrite(fd, buf, ph.p_filesz, ph.p_offset) == (ssize_t)ph.p_filesz ? 0 : -1;
	}
	if (fd >= 0)
		close(fd);
	return r;
}

/* ---- deep trees, made and removed relative to directory fds (no PATH_MAX) ---- */

/* @depth directories "d" nested under @top; the deepest one's fd, or -1. */
static int make_deep(const char *top, int depth)
{
	int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	for (int i = 0; i < depth && fd >= 0; i++) {
		int nfd;

		if (mkdirat(fd, "d", 0755) && errno != EEXIST) {
			close(fd);
			return -1;
		}
		nfd = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		fd = nfd;
	}
	return fd;
}

/* Removes what make_deep() made under @top (and the files "f", "x" at its bottom). */
static void remove_deep(const char *top)
{
	int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC), nfd, n = 0;

	while (fd >= 0 && (nfd = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		close(fd);
		fd = nfd;
		n++;
	}
	if (fd < 0)
		return;
	unlinkat(fd, "f", 0);
	unlinkat(fd, "x", 0);
	while (n-- > 0 && fd >= 0) {
		nfd = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		fd = nfd;
		if (fd >= 0)
			unlinkat(fd, "d", AT_REMOVEDIR);
	}
	if (fd >= 0)
		close(fd);
}

FIXTURE(bypass) {
	long long seq0;		/* newest decision before the test */
	int made_shadow;	/* /etc/shadow was made by the test */
};

FIXTURE_SETUP(bypass)
{
	ASSERT_EQ(0, wait_socket(30)) TH_LOG("dbosd does not answer on " SOCK);
	ASSERT_EQ(0, clear_policy(_metadata));
	self->seq0 = max_decision_seq();
	ASSERT_GE(self->seq0, 0) TH_LOG("policy_decisions cannot be read");
	ASSERT_EQ(0, system("rm -rf " D " && mkdir -p " D "/run " D "/mnt " D "/p " D "/sec "
			    D "/pub && chmod -R 755 " D " && chmod 1777 " D "/pub"));
}

FIXTURE_TEARDOWN(bypass)
{
	if (!wait_socket(30))
		EXPECT_EQ(0, clear_policy(_metadata));
	chdir("/");
	remove_deep(D "/deep");
	if (self->made_shadow)
		unlink("/etc/shadow");
	system("rm -rf " D);
}

/* ---- 1. unix sockets: the socket the kernel found, not the bytes of sun_path ---- */

TEST_F_TIMEOUT(bypass, unix_connect_rule_holds_for_every_name_of_the_socket, 180)
{
	struct decision d;
	int l = unix_server(SOCK_STREAM, D "/run/x.sock");

	ASSERT_LE(0, l);
	ASSERT_EQ(0, symlink(D "/run/x.sock", D "/lnk"));
	ASSERT_EQ(0, link(D "/run/x.sock", D "/hard.sock"));
	ASSERT_EQ(0, unix_connect(D "/run/x.sock"));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-unix', 'connect', 'deny', 'path = ''" D "/run/x.sock''')");

	EXPECT_EQ(-1, unix_connect(D "/run/x.sock"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unix_connect("/" D "/run/x.sock"));	/* //tmp/... */
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unix_connect(D "//run/./x.sock"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unix_connect(D "/mnt/../run/x.sock"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unix_connect(D "/lnk"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unix_connect(D "/hard.sock"));	/* a hard link: the same socket */
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, chdir(D "/run"));
	EXPECT_EQ(-1, unix_connect("x.sock"));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 't-unix' AND pid = %d", getpid()));
	EXPECT_STREQ("connect", d.hook);
	EXPECT_STREQ(D "/run/x.sock", d.path);	/* the socket's own path, whatever was asked */
	ASSERT_EQ(0, chdir("/"));
	/* through a bind mount of its directory */
	EXPECT_EQ(-1, in_bind_mount(0, D "/run", D "/mnt", unix_connect, D "/mnt/x.sock"));
	EXPECT_EQ(EPERM, errno);

	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(0, unix_connect(D "/lnk"));
	close(l);
}

TEST_F_TIMEOUT(bypass, unix_datagrams_are_decided_on_the_peer_socket, 180)
{
	struct sockaddr_un a;
	socklen_t alen = unix_addr(D "/run/x.dgram", &a);
	int l = unix_server(SOCK_DGRAM, D "/run/x.dgram");
	int early = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ASSERT_LE(0, l);
	ASSERT_EQ(0, connect(early, (struct sockaddr *)&a, alen));
	ASSERT_EQ(0, unix_sendto(D "/run/x.dgram"));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-dgram', 'connect', 'deny', 'path = ''" D "/run/x.dgram''')");

	EXPECT_EQ(-1, unix_sendto(D "/run/x.dgram"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unix_connect_type(SOCK_DGRAM, D "/run/x.dgram"));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, chdir(D "/run"));
	EXPECT_EQ(-1, unix_sendto("x.dgram"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unix_sendto("./x.dgram"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unix_connect_type(SOCK_DGRAM, "x.dgram"));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, chdir("/"));
	/* a socket connected before the rule keeps its peer, as a TCP connection would */
	EXPECT_EQ(1, send(early, "x", 1, 0));

	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(0, unix_sendto(D "/run/x.dgram"));
	close(early);
	close(l);
}

TEST_F_TIMEOUT(bypass, unix_abstract_names_still_match, 120)
{
	struct decision d;
	int l = unix_server(SOCK_STREAM, "@dbos-bypass");
	int g = unix_server(SOCK_DGRAM, "@dbos-bypass-dgram");

	ASSERT_LE(0, l);
	ASSERT_LE(0, g);
	ASSERT_EQ(0, unix_connect("@dbos-bypass"));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-abstract', 'connect', 'deny', 'path IN (''@dbos-bypass'', ''@dbos-bypass-dgram'')')");
	EXPECT_EQ(-1, unix_connect("@dbos-bypass"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unix_sendto("@dbos-bypass-dgram"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unix_connect("@dbos-bypass-other"));	/* no such socket: not a rule's */
	EXPECT_EQ(ECONNREFUSED, errno);
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 't-abstract'"));
	EXPECT_STREQ("@dbos-bypass", d.path);
	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(0, unix_connect("@dbos-bypass"));
	close(l);
	close(g);
}

/*
 * A child named "bp-unix" connects (stream), sends (datagram) and connects
 * to a path with no socket, once each; their errnos to @res.
 */
static void unix_family_child(int go, int res)
{
	int e[3];
	char c;

	prctl(PR_SET_NAME, "bp-unix");
	if (read(go, &c, 1) != 1)
		_exit(9);
	e[0] = unix_connect(D "/run/x.sock") ? errno : 0;
	e[1] = unix_sendto(D "/run/x.dgram") ? errno : 0;
	e[2] = unix_connect(D "/run/none.sock") ? errno : 0;
	_exit(write(res, e, sizeof(e)) == sizeof(e) ? 0 : 9);
}

TEST_F_TIMEOUT(bypass, unix_family_rule_denies_and_records_once, 120)
{
	int l = unix_server(SOCK_STREAM, D "/run/x.sock"), g = unix_server(SOCK_DGRAM, D "/run/x.dgram");
	int go[2], res[2], e[3] = { -1, -1, -1 };
	pid_t pid;

	ASSERT_LE(0, l);
	ASSERT_LE(0, g);
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(res));
	pid = fork();
	if (pid == 0)
		unix_family_child(go[0], res[1]);
	close(go[0]);
	close(res[1]);
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-family', 'connect', 'deny', 'family = ''unix'' AND name = ''bp-unix''')");
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(sizeof(e), read(res[0], e, sizeof(e)));
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	EXPECT_EQ(EPERM, e[0]) TH_LOG("connect: %s", strerror(e[0]));
	EXPECT_EQ(EPERM, e[1]) TH_LOG("sendto: %s", strerror(e[1]));
	EXPECT_EQ(ENOENT, e[2]) TH_LOG("no socket: %s", strerror(e[2]));	/* and no decision */
	EXPECT_EQ(2, wait_int(2, 30, "SELECT count(*) FROM policy_decisions WHERE seq > %lld AND "
			      "rule = 't-family'", self->seq0));
	sleep(1);	/* (a second record of either would be here by now) */
	EXPECT_EQ(1, q_int("SELECT count(*) FROM policy_decisions WHERE seq > %lld AND "
			   "rule = 't-family' AND path = '" D "/run/x.sock'", self->seq0));
	EXPECT_EQ(1, q_int("SELECT count(*) FROM policy_decisions WHERE seq > %lld AND "
			   "rule = 't-family' AND path = '" D "/run/x.dgram'", self->seq0));
	close(go[1]);
	close(res[0]);
	close(l);
	close(g);
}

TEST_F_TIMEOUT(bypass, unix_bind_rule_holds_for_the_resolved_path, 120)
{
	struct decision d;

	ASSERT_EQ(0, symlink(D "/run", D "/rl"));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-bind', 'bind', 'deny', 'path IN (''" D "/run/y.sock'', ''@bp-abs'')')");
	EXPECT_EQ(-1, unix_bind(D "/run/y.sock"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unix_bind("/" D "/run/./y.sock"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unix_bind(D "/rl/y.sock"));	/* a symlinked directory */
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unix_bind("@bp-abs"));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, chdir(D "/run"));
	EXPECT_EQ(-1, unix_bind("y.sock"));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, chdir("/"));
	EXPECT_EQ(-1, access(D "/run/y.sock", F_OK));	/* refused before the file is made */
	EXPECT_EQ(-1, mknod(D "/run/y.sock", S_IFSOCK | 0644, 0));	/* the same operation */
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(0, mknod(D "/run/y.fifo", S_IFIFO | 0644, 0));
	EXPECT_EQ(0, unix_bind(D "/run/z.sock"));
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 't-bind' AND path <> '@bp-abs'"));
	EXPECT_STREQ("bind", d.hook);
	EXPECT_STREQ(D "/run/y.sock", d.path);
	SQL_OK("DELETE FROM policies");
	ASSERT_EQ(0, chdir(D "/run"));
	EXPECT_EQ(0, unix_bind("y.sock"));
	ASSERT_EQ(0, chdir("/"));
}

/* ---- 2. connects without connect(2): TCP Fast Open, unconnected datagrams ---- */

TEST_F_TIMEOUT(bypass, tcp_fast_open_is_a_connect, 120)
{
	struct sockaddr_in a;
	struct decision d;
	int port, l = tcp_listener(&port), s;
	long long tfo = -1;
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_fastopen", "r");

	ASSERT_LE(0, l);
	ASSERT_NE(NULL, f);
	ASSERT_EQ(1, fscanf(f, "%lld", &tfo));
	fclose(f);
	ASSERT_TRUE(tfo & 1) TH_LOG("net.ipv4.tcp_fastopen = %lld: the client side is off", tfo);
	a = loopback(port);
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-tfo', 'connect', 'deny', 'remote_port = %d')", port);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	EXPECT_EQ(-1, connect(s, (struct sockaddr *)&a, sizeof(a)));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, sendto(s, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&a, sizeof(a)));
	EXPECT_EQ(EPERM, errno);
	close(s);
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 't-tfo'"));
	EXPECT_EQ(port, d.port);
	SQL_OK("DELETE FROM policies");
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	EXPECT_EQ(1, sendto(s, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&a, sizeof(a)));
	close(s);
	close(l);
}

TEST_F_TIMEOUT(bypass, unconnected_udp_sends_are_connects, 120)
{
	struct sockaddr_in a = loopback(0), b;
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	socklen_t alen = sizeof(a);
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct mmsghdr mm = { .msg_hdr = mh };
	struct decision d;
	int r = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), other = socket(AF_INET, SOCK_DGRAM, 0);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int s6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int port;

	ASSERT_EQ(0, bind(r, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_EQ(0, getsockname(r, (struct sockaddr *)&a, &alen));
	port = ntohs(a.sin_port);
	b = loopback(0);
	ASSERT_EQ(0, bind(other, (struct sockaddr *)&b, sizeof(b)));
	alen = sizeof(b);
	ASSERT_EQ(0, getsockname(other, (struct sockaddr *)&b, &alen));
	a6.sin6_port = a.sin_port;
	ASSERT_EQ(1, inet_pton(AF_INET6, "::ffff:127.0.0.1", &a6.sin6_addr));
	ASSERT_EQ(1, sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-udp', 'connect', 'deny', 'remote_port = %d AND remote_address = ''127.0.0.1''')",
	       port);

	EXPECT_EQ(-1, sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)));
	EXPECT_EQ(EPERM, errno);
	mh.msg_name = &a;
	mh.msg_namelen = sizeof(a);
	EXPECT_EQ(-1, sendmsg(s, &mh, 0));
	EXPECT_EQ(EPERM, errno);
	mm.msg_hdr = mh;
	EXPECT_EQ(-1, sendmmsg(s, &mm, 1, 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, sendto(s6, "x", 1, 0, (struct sockaddr *)&a6, sizeof(a6)));	/* v4-mapped */
	EXPECT_EQ(EPERM, errno);
	/* connected elsewhere, sent here */
	ASSERT_EQ(0, connect(s, (struct sockaddr *)&b, sizeof(b)));
	EXPECT_EQ(-1, sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(1, send(s, "x", 1, 0));
	EXPECT_EQ(-1, connect(s, (struct sockaddr *)&a, sizeof(a)));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 't-udp'"));
	EXPECT_STREQ("connect", d.hook);
	EXPECT_EQ(port, d.port);
	EXPECT_STREQ("127.0.0.1", d.address);

	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(1, sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)));
	close(s);
	close(s6);
	close(r);
	close(other);
}

/* ---- 3. exec rules and the loader: mapping a file executable is executing it ---- */

TEST_F_TIMEOUT(bypass, exec_rule_stops_the_loader_running_the_file, 180)
{
	char ldso[256], *ld_argv[] = { "ld.so", D "/x", "-V", NULL };
	char *ld_ss_argv[] = { "ld.so", SS, "-V", NULL };
	struct decision d;
	void *p;
	pid_t pid;
	int fd;

	ASSERT_EQ(0, elf_interp(SS, ldso, sizeof(ldso))) TH_LOG(SS " is not a dynamic ELF program");
	ASSERT_EQ(0, copy_file(SS, D "/x", 0755));
	EXPECT_EQ(0, exec_as(0, ldso, ld_argv, NULL));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-x', 'exec', 'deny', 'path = ''" D "/x''')");

	EXPECT_EQ(-1, exec_as(0, D "/x", ss_argv, NULL));
	EXPECT_EQ(EPERM, errno);
	/* ld.so opens and maps it itself: no execve of it */
	EXPECT_EQ(1, exec_as(0, ldso, ld_argv, &pid)) TH_LOG("ld.so ran the file");
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 't-x' AND pid = %d", pid));
	EXPECT_STREQ("exec", d.hook);
	EXPECT_STREQ("deny", d.verdict);
	EXPECT_STREQ(D "/x", d.path);
	/* or any program, mapping it with PROT_EXEC or adding PROT_EXEC later */
	fd = open(D "/x", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0));
	EXPECT_EQ(EPERM, errno);
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, 4096, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EPERM, errno);
	munmap(p, 4096);
	close(fd);

	/* ordinary programs still start, with ld.so mapping their libraries */
	EXPECT_EQ(0, exec_as(0, SS, ss_argv, NULL));
	EXPECT_EQ(0, exec_as(0, ldso, ld_ss_argv, NULL));
	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(0, exec_as(0, ldso, ld_argv, NULL));
}

/* mmap(@path, PROT_READ | @prot): 0, or -1 with its errno. */
static int map_file(const char *path, int prot)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), e;
	void *p;

	if (fd < 0)
		return -1;
	p = mmap(NULL, 4096, PROT_READ | prot, MAP_PRIVATE, fd, 0);
	e = errno;
	close(fd);
	if (p == MAP_FAILED) {
		errno = e;
		return -1;
	}
	munmap(p, 4096);
	return 0;
}

/* A child named "bp-nolib" maps @path with PROT_EXEC; 0 or its errno. */
static int map_exec_as_nolib(const char *path)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_NAME, "bp-nolib");
		_exit(map_file(path, PROT_EXEC) ? errno : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * An exec rule without a path refuses its callers every executable mapping
 * of a file (a library, dlopen), but that of their own program.
 */
TEST_F_TIMEOUT(bypass, exec_rule_without_path_refuses_every_executable_mapping, 120)
{
	EXPECT_EQ(0, map_exec_as_nolib(SS));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-nolib', 'exec', 'deny', 'name = ''bp-nolib''')");
	EXPECT_EQ(EPERM, map_exec_as_nolib(SS));
	EXPECT_EQ(0, map_exec_as_nolib("/proc/self/exe"));	/* its own program */
	EXPECT_EQ(0, map_file(SS, PROT_EXEC));			/* another caller */
	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(0, map_exec_as_nolib(SS));
}

/* A program whose interpreter (PT_INTERP) is a denied file: the kernel maps it at exec. */
TEST_F_TIMEOUT(bypass, exec_rule_stops_a_denied_program_interpreter, 180)
{
	char ldso[256];
	struct decision d;
	pid_t pid;

	ASSERT_EQ(0, elf_interp(SS, ldso, sizeof(ldso)));
	ASSERT_EQ(0, copy_file(ldso, D "/ldx", 0755));
	ASSERT_EQ(0, copy_with_interp(SS, D "/ok", D "/ldx"));
	EXPECT_EQ(0, exec_as(0, D "/ok", ss_argv, NULL));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-interp', 'exec', 'deny', 'path = ''" D "/ldx''')");
	/* past the point of no return: the kernel kills the process */
	EXPECT_EQ(1, exec_as(0, D "/ok", ss_argv, &pid)) TH_LOG("the denied interpreter ran");
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 't-interp' AND pid = %d", pid));
	EXPECT_STREQ(D "/ldx", d.path);
	EXPECT_EQ(0, exec_as(0, SS, ss_argv, NULL));
	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(0, exec_as(0, D "/ok", ss_argv, NULL));
}

/* ---- 4. paths the walk cannot finish, and long paths ---- */

TEST_F_TIMEOUT(bypass, path_deeper_than_the_walk_fails_closed, 600)
{
	long long unresolved;
	char *true_argv[] = { "true", NULL };
	int bottom, fd;

	ASSERT_EQ(0, mkdir(D "/deep", 0755));
	ASSERT_EQ(0, copy_file("/bin/busybox", D "/true", 0755));
	bottom = make_deep(D "/deep", DBOS_LSM_PATH_STEPS + 8);
	ASSERT_LE(0, bottom);
	fd = openat(bottom, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_EQ(0, linkat(AT_FDCWD, D "/true", bottom, "x", 0));
	fd = openat(bottom, "f", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	close(fd);
	unresolved = stat_value("lsm_path_unresolved");
	EXPECT_LE(0, unresolved) TH_LOG("dbos_stats has no lsm_path_unresolved");
	SQL_OK("BEGIN; INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-deep', 'open', 'deny', 'path GLOB ''" D "/*'''); "
	       "INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-deep-x', 'exec', 'deny', 'path GLOB ''" D "/*'''); COMMIT");

	EXPECT_EQ(-1, openat(bottom, "f", O_RDONLY | O_CLOEXEC));
	EXPECT_EQ(EPERM, errno);
	pid_t pid = fork();

	if (pid == 0) {
		execveat(bottom, "x", true_argv, NULL, 0);
		_exit(errno == EPERM ? 100 : 101);
	}
	int status;

	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(100, WEXITSTATUS(status)) TH_LOG("exec at depth %d allowed", DBOS_LSM_PATH_STEPS + 8);
	EXPECT_LE(unresolved + 2, stat_value("lsm_path_unresolved"));
	/* paths the walk finishes are decided as before */
	EXPECT_EQ(0, open_ro("/etc/passwd"));
	EXPECT_EQ(-1, open_ro(D "/true"));
	EXPECT_EQ(EPERM, errno);

	SQL_OK("DELETE FROM policies");
	fd = openat(bottom, "f", O_RDONLY | O_CLOEXEC);
	EXPECT_LE(0, fd);
	if (fd >= 0)
		close(fd);
	close(bottom);
}

/* README: paths longer than 251 bytes are compared on their first 251 bytes, by prefix rules only. */
TEST_F_TIMEOUT(bypass, long_paths_match_prefix_rules_on_their_first_251_bytes, 180)
{
	char dir[512], lng[512], p251[512], p252[512], prefix[512], *err = NULL;
	size_t n;

	/* dir: D/aaa...a (200 a), p251: dir/fff...f, 251 bytes */
	n = strlen(D);
	memcpy(dir, D "/", n + 1);
	memset(dir + n + 1, 'a', 200);
	dir[n + 201] = 0;
	ASSERT_EQ(0, mkdir(dir, 0755));
	n = strlen(dir);
	memcpy(p251, dir, n);
	p251[n] = '/';
	memset(p251 + n + 1, 'f', DBOS_LSM_PATH_MAX - 2 - n);
	p251[DBOS_LSM_PATH_MAX - 1] = 0;
	ASSERT_EQ(DBOS_LSM_PATH_MAX - 1, strlen(p251));
	snprintf(p252, sizeof(p252), "%sg", p251);
	snprintf(lng, sizeof(lng), "%sgggggggggggggggggggggggggggggggggggggggggggggggg", p251);
	ASSERT_EQ(0, make_file(p251, 0644));
	ASSERT_EQ(0, make_file(p252, 0644));
	ASSERT_EQ(0, make_file(lng, 0644));

	/* an exact path of 252 bytes cannot be a rule */
	EXPECT_EQ(-1, sql(&err, "INSERT INTO policies(name, hook, action, condition) VALUES "
			  "('t-exact-252', 'open', 'deny', 'path = ''%s''')", p252));
	EXPECT_TRUE(err && strstr(err, "paths longer than 251 bytes do not compile"))
		TH_LOG("%s", err ? err : "(no message)");
	free(err);
	/* an exact rule of 251 bytes: that file, not the longer ones that start with it */
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-exact-251', 'open', 'deny', 'path = ''%s''')", p251);
	EXPECT_EQ(-1, open_ro(p251));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(0, open_ro(p252));
	EXPECT_EQ(0, open_ro(lng));
	/* a prefix rule of 251 bytes: every path that starts with them */
	snprintf(prefix, sizeof(prefix), "%.*s*", DBOS_LSM_PATH_MAX - 1, lng);
	SQL_OK("BEGIN; DELETE FROM policies; INSERT INTO policies(name, hook, action, condition) "
	       "VALUES ('t-prefix-251', 'open', 'deny', 'path GLOB ''%s'''); COMMIT", prefix);
	EXPECT_EQ(-1, open_ro(p252));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, open_ro(lng));
	EXPECT_EQ(EPERM, errno);
	/* and a short prefix rule covers long paths under it */
	SQL_OK("BEGIN; DELETE FROM policies; INSERT INTO policies(name, hook, action, condition) "
	       "VALUES ('t-tmp', 'open', 'deny', 'path GLOB ''" D "/*'''); COMMIT");
	EXPECT_EQ(-1, open_ro(lng));
	EXPECT_EQ(EPERM, errno);
	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(0, open_ro(lng));
}

/* ---- 5. bind mounts and mount namespaces: exact paths name the file too ---- */

TEST_F_TIMEOUT(bypass, bind_mount_of_etc_does_not_rename_shadow, 180)
{
	struct decision d;

	if (access("/etc/shadow", F_OK)) {
		ASSERT_EQ(0, make_file("/etc/shadow", 0640));
		self->made_shadow = 1;
	}
	ASSERT_EQ(0, mkdir(D "/etc2", 0755));
	EXPECT_EQ(0, in_bind_mount(0, "/etc", D "/etc2", open_ro, D "/etc2/shadow"));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-shadow', 'open', 'deny', 'path = ''/etc/shadow''')");
	EXPECT_EQ(-1, open_ro("/etc/shadow"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, in_bind_mount(0, "/etc", D "/etc2", open_ro, D "/etc2/shadow"));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 't-shadow' AND path <> '/etc/shadow'"));
	EXPECT_STREQ(D "/etc2/shadow", d.path);	/* the name it was reached by */
	EXPECT_EQ(0, in_bind_mount(0, "/etc", D "/etc2", open_ro, D "/etc2/passwd"));
	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(0, in_bind_mount(0, "/etc", D "/etc2", open_ro, D "/etc2/shadow"));
}

TEST_F_TIMEOUT(bypass, unprivileged_user_namespace_bind_mount, 180)
{
	int r;

	ASSERT_EQ(0, make_file(D "/sec/secret", 0644));
	ASSERT_EQ(0, mkdir(D "/pub/m", 0755));
	ASSERT_EQ(0, chown(D "/pub/m", NOBODY, NOBODY));
	r = in_bind_mount(NOBODY, D "/sec", D "/pub/m", open_ro, D "/pub/m/secret");
	if (r == -2)
		SKIP(return, "no user namespace for uid %d: %s", NOBODY, strerror(errno));
	EXPECT_EQ(0, r);
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-userns', 'open', 'deny', 'path = ''" D "/sec/secret''')");
	EXPECT_EQ(-1, in_bind_mount(NOBODY, D "/sec", D "/pub/m", open_ro, D "/pub/m/secret"));
	EXPECT_EQ(EPERM, errno);
	SQL_OK("DELETE FROM policies");
}

TEST_F_TIMEOUT(bypass, exec_and_connect_through_a_bind_mount, 180)
{
	int l = unix_server(SOCK_STREAM, D "/p/s.sock");

	ASSERT_LE(0, l);
	ASSERT_EQ(0, copy_file("/bin/busybox", D "/p/tool", 0755));
	SQL_OK("BEGIN; INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-tool', 'exec', 'deny', 'path = ''" D "/p/tool'''); "
	       "INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-sock', 'connect', 'deny', 'path = ''" D "/p/s.sock'''); COMMIT");
	EXPECT_EQ(-1, in_bind_mount(0, D "/p", D "/mnt", exec_ok, D "/mnt/tool"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, in_bind_mount(0, D "/p", D "/mnt", unix_connect, D "/mnt/s.sock"));
	EXPECT_EQ(EPERM, errno);
	SQL_OK("DELETE FROM policies");
	EXPECT_EQ(0, in_bind_mount(0, D "/p", D "/mnt", exec_ok, D "/mnt/tool"));
	close(l);
}

/* The server reads the file at an exact path again when it is replaced. */
TEST_F_TIMEOUT(bypass, exact_path_follows_a_replaced_file, 180)
{
	ASSERT_EQ(0, make_file(D "/sec/secret", 0644));
	ASSERT_EQ(0, link(D "/sec/secret", D "/old"));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-replace', 'open', 'deny', 'path = ''" D "/sec/secret''')");
	EXPECT_EQ(-1, open_ro(D "/old"));	/* another name of the same file */
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, make_file(D "/sec/new", 0644));
	ASSERT_EQ(0, rename(D "/sec/new", D "/sec/secret"));
	EXPECT_EQ(-1, open_ro(D "/sec/secret"));
	EXPECT_EQ(EPERM, errno);
	/* within moments: the new file is the one named, the old one is not any more */
	EXPECT_EQ(0, wait_op(0, 0, 10, open_ro, D "/old"));
	EXPECT_EQ(-1, in_bind_mount(0, D "/sec", D "/mnt", open_ro, D "/mnt/secret"));
	EXPECT_EQ(EPERM, errno);
	SQL_OK("DELETE FROM policies");
}

/* A limit (README): prefix rules are about names; a bind mount gives the files under it others. */
TEST_F_TIMEOUT(bypass, prefix_rules_do_not_follow_a_bind_mount, 120)
{
	ASSERT_EQ(0, make_file(D "/sec/secret", 0644));
	SQL_OK("INSERT INTO policies(name, hook, action, condition) VALUES "
	       "('t-prefix', 'open', 'deny', 'path GLOB ''" D "/sec/*''')");
	EXPECT_EQ(-1, open_ro(D "/sec/secret"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(0, in_bind_mount(0, D "/sec", D "/mnt", open_ro, D "/mnt/secret"));
	SQL_OK("DELETE FROM policies");
}

TEST_HARNESS_MAIN
