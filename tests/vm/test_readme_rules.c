// SPDX-License-Identifier: GPL-2.0
/*
 * test_readme_rules.c - the README's example security policy, run as written
 * (its SQL is taken from README.md when the test is built: readme_policy.h),
 * each rule shown to deny what it says, and nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vm_policy.h"
#include "readme_policy.h"	/* readme_policy_sql: README's "Security policy in SQL" example */

#define D	"/tmp/dbos-readme"
#define USER	1000		/* dbos-test */

static int connect_port(int port)
{
	struct sockaddr_in a = loopback(port);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (s < 0)
		return -1;
	r = connect(s, (struct sockaddr *)&a, sizeof(a));
	if (r) {
		int e = errno;

		close(s);
		errno = e;
		return -1;
	}
	close(s);
	return 0;
}

FIXTURE(readme) {
	long long seq0;
};

FIXTURE_SETUP(readme)
{
	ASSERT_EQ(0, wait_socket(30)) TH_LOG("dbosd does not answer on " SOCK);
	ASSERT_EQ(0, clear_policy(_metadata));
	self->seq0 = max_decision_seq();
	ASSERT_EQ(0, system("rm -rf " D " && mkdir -p " D " && chmod 755 " D));
	ASSERT_EQ(0, copy_file("/bin/busybox", D "/true", 0755));
	ASSERT_EQ(0, copy_file("/dbos/tests/lineage_helper", D "/nginx", 0755));
	ASSERT_EQ(0, copy_file("/dbos/tests/lineage_helper", D "/other", 0755));
	if (access("/etc/shadow", F_OK))
		ASSERT_EQ(0, make_file("/etc/shadow", 0600));
	SQL_OK("%s", readme_policy_sql);
	ASSERT_EQ(5, q_int("SELECT count(*) FROM policies"));
}

FIXTURE_TEARDOWN(readme)
{
	if (!wait_socket(30))
		EXPECT_EQ(0, clear_policy(_metadata));
	system("rm -rf " D);
}

static char *true_argv[] = { "true", NULL };

/* no-tmp-exec: path GLOB '/tmp/' followed by '*', AND uid <> 0 */
TEST_F_TIMEOUT(readme, no_tmp_exec_stops_users_not_root, 120)
{
	struct decision d;

	EXPECT_EQ(-1, exec_as(USER, D "/true", true_argv, NULL));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 'no-tmp-exec'"));
	EXPECT_STREQ(D "/true", d.path);
	EXPECT_EQ(USER, d.uid);
	/* root may; the user may run what is not under /tmp */
	EXPECT_EQ(0, exec_as(0, D "/true", true_argv, NULL));
	EXPECT_EQ(0, exec_as(USER, "/bin/busybox", true_argv, NULL));
}

/* no-4444: 'remote_port = 4444' */
TEST_F_TIMEOUT(readme, no_4444_refuses_only_that_port, 120)
{
	EXPECT_EQ(-1, connect_port(4444));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, connect_port(4445));	/* nobody listens: refused by TCP, not by policy */
	EXPECT_EQ(ECONNREFUSED, errno);
}

/* shadow: 'path = ''/etc/shadow'' AND exe <> ''/usr/bin/passwd''' */
TEST_F_TIMEOUT(readme, shadow_is_for_passwd_only, 120)
{
	char *cat_argv[] = { "cat", "/etc/shadow", NULL };

	EXPECT_EQ(-1, open_close("/etc/shadow", O_RDONLY));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(0, open_close("/etc/passwd", O_RDONLY));
	/* a program at /usr/bin/passwd (busybox, as cat) may read it */
	ASSERT_EQ(0, copy_file("/bin/busybox", "/usr/bin/passwd", 0755));
	EXPECT_EQ(0, exec_as(0, "/usr/bin/passwd", cat_argv, NULL));
	unlink("/usr/bin/passwd");
}

/*
 * web-no-shell: 'path IN (''/bin/sh'',''/bin/bash'') AND pid IN (SELECT pid
 * FROM process_ancestors WHERE ancestor_name = ''nginx'')'. /bin/sh is a
 * symlink (to busybox here, to dash on Debian): the commit resolved it.
 */
TEST_F_TIMEOUT(readme, web_no_shell_stops_nginx_children_only, 180)
{
	EXPECT_EQ(1, q_int("SELECT count(*) FROM policies WHERE name = 'web-no-shell' AND "
			   "exactness = 'kernel' AND notes LIKE '%%''/bin/sh'' is %%'"));
	EXPECT_EQ(0, system(D "/nginx try /bin/sh"));		/* 0: refused */
	EXPECT_EQ(1, WEXITSTATUS(system(D "/other try /bin/sh")));	/* 1: ran */
	EXPECT_EQ(1, WEXITSTATUS(system(D "/nginx try " D "/true")));	/* not a shell: ran */
}

/* watch-ssh: audit 'remote_port = 22': allowed, recorded */
TEST_F_TIMEOUT(readme, watch_ssh_records_and_allows, 120)
{
	struct decision d;

	EXPECT_EQ(-1, connect_port(22));
	EXPECT_EQ(ECONNREFUSED, errno);
	ASSERT_EQ(0, wait_decision(&d, self->seq0, 30, "rule = 'watch-ssh'"));
	EXPECT_STREQ("audit", d.verdict);
	EXPECT_EQ(22, d.port);
}

TEST_HARNESS_MAIN
