// SPDX-License-Identifier: GPL-2.0
/*
 * files_test.c - KUnit suite "dbos_files": the open-file and socket records
 * of kmod/fdrec.c (layout, alignment, truncation, filling from real files
 * and sockets, events in a ring, the path filter).
 *
 * kmod/buffer.c, record.c, filter.c and fdrec.c are compiled into this test
 * module (they are included below); the rings and scratch space are the
 * module's own, set up with dbos_buffers_init() and dbos_record_init().
 */

#include "../../kmod/buffer.c"
#include "../../kmod/record.c"
#include "../../kmod/filter.c"
#include "../../kmod/fdrec.c"

#include <kunit/test.h>
#include <linux/fcntl.h>
#include <linux/in.h>
#include <linux/un.h>

/* The drain (kmod/drain.c) is not part of this module. */
void dbos_drain_kick(void)
{
}

static int dbos_files_case_init(struct kunit *test)
{
	int ret = dbos_buffers_init(4096);

	if (ret)
		return ret;
	ret = dbos_record_init();
	if (ret)
		dbos_buffers_uninit();
	return ret;
}

static void dbos_files_case_exit(struct kunit *test)
{
	dbos_filter_uninit();
	rcu_barrier();
	dbos_record_uninit();
	dbos_buffers_uninit();
}

static void dbos_file_kind_test(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, dbos_file_kind(S_IFREG | 0644), DBOS_FILE_REG);
	KUNIT_EXPECT_EQ(test, dbos_file_kind(S_IFDIR | 0755), DBOS_FILE_DIR);
	KUNIT_EXPECT_EQ(test, dbos_file_kind(S_IFCHR), DBOS_FILE_CHR);
	KUNIT_EXPECT_EQ(test, dbos_file_kind(S_IFBLK), DBOS_FILE_BLK);
	KUNIT_EXPECT_EQ(test, dbos_file_kind(S_IFIFO), DBOS_FILE_FIFO);
	KUNIT_EXPECT_EQ(test, dbos_file_kind(S_IFSOCK), DBOS_FILE_SOCK);
	KUNIT_EXPECT_EQ(test, dbos_file_kind(S_IFLNK), DBOS_FILE_LNK);
	KUNIT_EXPECT_EQ(test, dbos_file_kind(0600), DBOS_FILE_OTHER);
}

/* Every path length from 0 to 17 gives an aligned record, zero padded. */
static void dbos_fd_rec_layout_test(struct kunit *test)
{
	u8 *rec = kunit_kmalloc(test, DBOS_FD_REC_MAX, GFP_KERNEL);
	const char *path = "/0123456789abcdef";
	struct dbos_rec_hdr *hdr = (struct dbos_rec_hdr *)rec;
	struct dbos_fd fd = { .pid = 7, .fd = 3, .kind = DBOS_FILE_REG,
			      .inode = 99, .dev = 0x801, .mode = S_IFREG | 0600 };
	char *long_path;
	u32 n, len, i;

	KUNIT_ASSERT_NOT_NULL(test, rec);
	for (n = 0; n <= 17; n++) {
		memset(rec, 0xa5, DBOS_FD_REC_MAX);
		fd.path_len = n;
		len = dbos_fd_rec_put(rec, DBOS_REC_FD_OPEN, DBOS_RECF_TRUNCATED,
				      &fd, path);
		KUNIT_EXPECT_EQ(test, len, DBOS_REC_ALIGN(32 + 40 + n));
		KUNIT_EXPECT_EQ(test, len % 8, 0);
		KUNIT_EXPECT_EQ(test, hdr->len, len);
		KUNIT_EXPECT_EQ(test, hdr->type, DBOS_REC_FD_OPEN);
		KUNIT_EXPECT_EQ(test, hdr->flags, DBOS_RECF_TRUNCATED);
		KUNIT_EXPECT_EQ(test, hdr->cpu_seq, 0);
		KUNIT_EXPECT_EQ(test, hdr->__pad, 0);
		KUNIT_EXPECT_EQ(test, hdr->seq, 0);
		KUNIT_EXPECT_EQ(test, memcmp(hdr + 1, &fd, sizeof(fd)), 0);
		KUNIT_EXPECT_EQ(test, memcmp(rec + 72, path, n), 0);
		for (i = 72 + n; i < len; i++)
			KUNIT_EXPECT_EQ_MSG(test, rec[i], 0, "pad byte %u", i);
	}
	/* the longest d_path(): exactly DBOS_FD_REC_MAX */
	long_path = kunit_kmalloc(test, DBOS_PATH_MAX, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, long_path);
	memset(long_path, 'x', DBOS_PATH_MAX);
	fd.path_len = DBOS_PATH_MAX - 1;
	KUNIT_EXPECT_EQ(test, dbos_fd_rec_put(rec, DBOS_REC_FD, 0, &fd,
					      long_path),
			DBOS_FD_REC_MAX);
	KUNIT_EXPECT_EQ(test, rec[72 + DBOS_PATH_MAX - 2], 'x');
	KUNIT_EXPECT_EQ(test, rec[DBOS_FD_REC_MAX - 1], 0);
}

static void dbos_sock_rec_layout_test(struct kunit *test)
{
	struct dbos_sock_info *si = kunit_kzalloc(test, sizeof(*si), GFP_KERNEL);
	u8 *rec = kunit_kmalloc(test, DBOS_SOCK_REC_MAX, GFP_KERNEL);
	struct dbos_rec_hdr *hdr = (struct dbos_rec_hdr *)rec;
	u32 len, i;

	KUNIT_ASSERT_NOT_NULL(test, si);
	KUNIT_ASSERT_NOT_NULL(test, rec);
	si->sock.family = AF_UNIX;
	si->sock.path_len = 3;
	si->sock.peer_path_len = 4;
	memcpy(si->path, "\0ab", 3);	/* abstract: starts with a NUL */
	memcpy(si->peer_path, "/x/y", 4);
	memset(rec, 0xa5, DBOS_SOCK_REC_MAX);
	len = dbos_sock_rec_put(rec, DBOS_REC_SOCK_BIND, 0, si);
	KUNIT_EXPECT_EQ(test, len, DBOS_REC_ALIGN(32 + 80 + 7));
	KUNIT_EXPECT_EQ(test, hdr->len, len);
	KUNIT_EXPECT_EQ(test, hdr->type, DBOS_REC_SOCK_BIND);
	KUNIT_EXPECT_EQ(test, memcmp(hdr + 1, &si->sock, 80), 0);
	KUNIT_EXPECT_EQ(test, memcmp(rec + 112, "\0ab/x/y", 7), 0);
	for (i = 119; i < len; i++)
		KUNIT_EXPECT_EQ(test, rec[i], 0);

	/* two full names: the largest SOCK record */
	si->sock.path_len = DBOS_UNIX_PATH_MAX;
	si->sock.peer_path_len = DBOS_UNIX_PATH_MAX;
	KUNIT_EXPECT_EQ(test, dbos_sock_rec_put(rec, DBOS_REC_SOCK, 0, si),
			DBOS_SOCK_REC_MAX);
}

/* Fill from a real file: the root directory. */
static void dbos_fd_fill_test(struct kunit *test)
{
	struct file *f = filp_open("/", O_RDONLY | O_DIRECTORY, 0);
	struct dbos_fd fd;

	KUNIT_ASSERT_FALSE(test, IS_ERR(f));
	dbos_fd_fill(&fd, 12, 5, f, true);
	KUNIT_EXPECT_EQ(test, fd.pid, 12);
	KUNIT_EXPECT_EQ(test, fd.fd, 5);
	KUNIT_EXPECT_EQ(test, fd.kind, DBOS_FILE_DIR);
	KUNIT_EXPECT_EQ(test, fd.inode, file_inode(f)->i_ino);
	KUNIT_EXPECT_EQ(test, fd.dev, new_encode_dev(file_inode(f)->i_sb->s_dev));
	KUNIT_EXPECT_EQ(test, fd.mode, file_inode(f)->i_mode);
	KUNIT_EXPECT_TRUE(test, fd.flags & O_CLOEXEC);
	KUNIT_EXPECT_TRUE(test, fd.flags & O_DIRECTORY);
	KUNIT_EXPECT_EQ(test, fd.path_len, 0);
	dbos_fd_fill(&fd, 12, 5, f, false);
	KUNIT_EXPECT_FALSE(test, fd.flags & O_CLOEXEC);
	filp_close(f, NULL);
}

/* Take the only record of the current CPU's ring into @out. */
static u32 take_record(struct kunit *test, int cpu, void *out, u32 size)
{
	struct dbos_ring *ring = dbos_buffer(cpu);
	const void *rec;
	u32 len;

	rec = dbos_ring_peek(ring, &len);
	if (!rec)
		return 0;
	KUNIT_ASSERT_LE(test, len, size);
	memcpy(out, rec, len);
	dbos_ring_consume(ring, len);
	KUNIT_EXPECT_NULL(test, dbos_ring_peek(ring, &len));
	return len;
}

/* An FD_OPEN event of "/": payload, path, header; then the path filter. */
static void dbos_fd_emit_test(struct kunit *test)
{
	u8 *out = kunit_kmalloc(test, 4096, GFP_KERNEL);
	struct dbos_rec_hdr *hdr = (struct dbos_rec_hdr *)out;
	struct dbos_fd *got = (struct dbos_fd *)(hdr + 1);
	struct file *f = filp_open("/", O_RDONLY | O_DIRECTORY, 0);
	struct dbos_filter *filter;
	struct dbos_fd fd;
	u64 seq;
	int cpu;

	KUNIT_ASSERT_NOT_NULL(test, out);
	KUNIT_ASSERT_FALSE(test, IS_ERR(f));
	dbos_fd_fill(&fd, 1, 4, f, false);
	seq = atomic64_read(&dbos_seq);
	cpu = get_cpu();
	KUNIT_EXPECT_TRUE(test, dbos_fd_emit(DBOS_REC_FD_OPEN, &fd, &f->f_path));
	put_cpu();
	KUNIT_ASSERT_EQ(test, take_record(test, cpu, out, 4096), 80);
	KUNIT_EXPECT_EQ(test, hdr->type, DBOS_REC_FD_OPEN);
	KUNIT_EXPECT_EQ(test, hdr->cpu, cpu);
	KUNIT_EXPECT_EQ(test, hdr->seq, seq + 1);
	KUNIT_EXPECT_EQ(test, hdr->cpu_seq, 1);
	KUNIT_EXPECT_EQ(test, got->path_len, 1);
	KUNIT_EXPECT_EQ(test, got->inode, fd.inode);
	KUNIT_EXPECT_EQ(test, ((char *)(got + 1))[0], '/');

	/* FD_CLOSE carries no path */
	cpu = get_cpu();
	KUNIT_EXPECT_TRUE(test, dbos_fd_emit(DBOS_REC_FD_CLOSE, &fd, NULL));
	put_cpu();
	KUNIT_ASSERT_EQ(test, take_record(test, cpu, out, 4096), 72);
	KUNIT_EXPECT_EQ(test, got->path_len, 0);

	/* a prefix filter on "/" holds FD_OPEN back and counts it */
	filter = kzalloc(sizeof(*filter), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, filter);
	filter->kinds = DBOS_FILE_KINDS_ALL;
	filter->n = 1;
	filter->len[0] = 1;
	filter->prefix[0][0] = '/';
	dbos_filter_set(filter);
	cpu = get_cpu();
	KUNIT_EXPECT_FALSE(test, dbos_fd_emit(DBOS_REC_FD_OPEN, &fd, &f->f_path));
	put_cpu();
	KUNIT_EXPECT_EQ(test, take_record(test, cpu, out, 4096), 0);
	KUNIT_EXPECT_EQ(test, dbos_filter_filtered(), 1);
	filp_close(f, NULL);
}

/*
 * dbos_fd_emit() with a path that is cut: the ring advances by exactly the
 * record's hdr.len (no stale bytes between it and the next record). Rings of
 * 144 bytes leave no room for any path (half a ring is the header and the
 * payload), so even "/" is cut.
 */
static void dbos_fd_emit_truncated_test(struct kunit *test)
{
	u8 *out = kunit_kmalloc(test, 4096, GFP_KERNEL);
	struct dbos_rec_hdr *hdr = (struct dbos_rec_hdr *)out;
	struct dbos_fd *got = (struct dbos_fd *)(hdr + 1);
	struct file *f = filp_open("/", O_RDONLY | O_DIRECTORY, 0);
	struct dbos_ring *ring;
	struct dbos_fd fd;
	u32 used;
	int cpu;

	KUNIT_ASSERT_NOT_NULL(test, out);
	KUNIT_ASSERT_FALSE(test, IS_ERR(f));
	dbos_buffers_uninit();
	KUNIT_ASSERT_EQ(test, dbos_buffers_init(144), 0);
	dbos_fd_fill(&fd, 1, 4, f, false);
	cpu = get_cpu();
	ring = dbos_buffer(cpu);
	KUNIT_EXPECT_TRUE(test, dbos_fd_emit(DBOS_REC_FD_OPEN, &fd, &f->f_path));
	used = dbos_ring_used(ring);
	put_cpu();
	KUNIT_ASSERT_EQ(test, take_record(test, cpu, out, 4096), 72);
	KUNIT_EXPECT_EQ(test, used, hdr->len);
	KUNIT_EXPECT_EQ(test, hdr->flags, DBOS_RECF_TRUNCATED);
	KUNIT_EXPECT_EQ(test, got->path_len, 0);
	KUNIT_EXPECT_EQ(test, dbos_ring_used(ring), 0);
	filp_close(f, NULL);
}

/* A path longer than half the ring is cut and flagged TRUNCATED. */
static void dbos_fd_fit_test(struct kunit *test)
{
	struct dbos_ring ring = { .size = 4096 };
	u32 room = 2048 - 32 - 40;
	u16 flags = 0;

	KUNIT_EXPECT_EQ(test, dbos_fd_fit(&ring, 0, &flags), 0);
	KUNIT_EXPECT_EQ(test, dbos_fd_fit(&ring, room, &flags), room);
	KUNIT_EXPECT_EQ(test, flags, 0);
	KUNIT_EXPECT_EQ(test, dbos_fd_fit(&ring, room + 1, &flags), room);
	KUNIT_EXPECT_EQ(test, flags, DBOS_RECF_TRUNCATED);
	flags = 0;
	ring.size = 1 << 20;
	KUNIT_EXPECT_EQ(test, dbos_fd_fit(&ring, DBOS_PATH_MAX - 1, &flags),
			DBOS_PATH_MAX - 1);
	KUNIT_EXPECT_EQ(test, flags, 0);
}

/* A TCP socket bound to 127.0.0.1:port, filled from its sock. */
static void dbos_sock_fill_inet_test(struct kunit *test)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct dbos_sock_info *si = kunit_kzalloc(test, sizeof(*si), GFP_KERNEL);
	struct socket *sock;
	u8 lo[4] = { 127, 0, 0, 1 };

	KUNIT_ASSERT_NOT_NULL(test, si);
	KUNIT_ASSERT_EQ(test, sock_create_kern(&init_net, AF_INET, SOCK_STREAM,
					       IPPROTO_TCP, &sock), 0);
	KUNIT_ASSERT_EQ(test, kernel_bind(sock, (struct sockaddr *)&sin,
					  sizeof(sin)), 0);
	KUNIT_ASSERT_EQ(test, kernel_listen(sock, 1), 0);
	KUNIT_ASSERT_GE(test, kernel_getsockname(sock, (struct sockaddr *)&sin), 0);
	dbos_sock_fill(si, sock->sk, true);
	KUNIT_EXPECT_EQ(test, si->sock.family, AF_INET);
	KUNIT_EXPECT_EQ(test, si->sock.type, SOCK_STREAM);
	KUNIT_EXPECT_EQ(test, si->sock.protocol, IPPROTO_TCP);
	KUNIT_EXPECT_EQ(test, si->sock.state, TCP_LISTEN);
	KUNIT_EXPECT_EQ(test, si->sock.local_port, ntohs(sin.sin_port));
	KUNIT_EXPECT_NE(test, si->sock.local_port, 0);
	KUNIT_EXPECT_EQ(test, memcmp(si->sock.local_addr, lo, 4), 0);
	KUNIT_EXPECT_EQ(test, si->sock.remote_port, 0);
	KUNIT_EXPECT_EQ(test, si->sock.netns, init_net.ns.inum);
	KUNIT_EXPECT_EQ(test, si->sock.fd, ~0U);
	KUNIT_EXPECT_EQ(test, si->sock.path_len, 0);
	sock_release(sock);
}

/* A unix socket bound to an abstract name. */
static void dbos_sock_fill_unix_test(struct kunit *test)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct dbos_sock_info *si = kunit_kzalloc(test, sizeof(*si), GFP_KERNEL);
	struct socket *sock;

	KUNIT_ASSERT_NOT_NULL(test, si);
	memcpy(sun.sun_path, "\0dbos-kunit", 11);
	KUNIT_ASSERT_EQ(test, sock_create_kern(&init_net, AF_UNIX, SOCK_STREAM,
					       0, &sock), 0);
	KUNIT_ASSERT_EQ(test, kernel_bind(sock, (struct sockaddr *)&sun,
					  offsetof(struct sockaddr_un, sun_path) + 11), 0);
	dbos_sock_fill(si, sock->sk, true);
	KUNIT_EXPECT_EQ(test, si->sock.family, AF_UNIX);
	KUNIT_EXPECT_EQ(test, si->sock.path_len, 11);
	KUNIT_EXPECT_EQ(test, memcmp(si->path, "\0dbos-kunit", 11), 0);
	KUNIT_EXPECT_EQ(test, si->sock.peer_inode, 0);
	KUNIT_EXPECT_EQ(test, si->sock.peer_path_len, 0);
	sock_release(sock);
}

static struct kunit_case dbos_files_cases[] = {
	KUNIT_CASE(dbos_file_kind_test),
	KUNIT_CASE(dbos_fd_rec_layout_test),
	KUNIT_CASE(dbos_sock_rec_layout_test),
	KUNIT_CASE(dbos_fd_fill_test),
	KUNIT_CASE(dbos_fd_emit_test),
	KUNIT_CASE(dbos_fd_emit_truncated_test),
	KUNIT_CASE(dbos_fd_fit_test),
	KUNIT_CASE(dbos_sock_fill_inet_test),
	KUNIT_CASE(dbos_sock_fill_unix_test),
	{}
};

static struct kunit_suite dbos_files_suite = {
	.name = "dbos_files",
	.init = dbos_files_case_init,
	.exit = dbos_files_case_exit,
	.test_cases = dbos_files_cases,
};
kunit_test_suite(dbos_files_suite);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("KUnit tests for dbos.ko's open-file and socket records");
