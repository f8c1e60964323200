// SPDX-License-Identifier: GPL-2.0
/*
 * record_test.c - KUnit suite "dbos_record": record encoding of
 * kmod/record.c (command-line trimming, fitting a record into half a ring,
 * event records written by dbos_record_emit(), DBOS_REC_PROC snapshots).
 *
 * kmod/buffer.c and kmod/record.c are compiled into this test module (they
 * are included below). The test sets up the per-CPU rings and scratch space
 * itself (with memory it owns) instead of calling the module's __init
 * functions, and stands in for the drain with a kick counter, so no hook,
 * work item or netlink family is involved.
 */

#include "../../kmod/buffer.c"
#include "../../kmod/record.c"

#include <kunit/test.h>
#include <linux/namei.h>
#include <linux/pid.h>

/* The drain (kmod/drain.c) is not part of this module: count the kicks. */
static atomic_t dbos_test_kicks = ATOMIC_INIT(0);

void dbos_drain_kick(void)
{
	atomic_inc(&dbos_test_kicks);
}

/* Give every possible CPU a ring of @size bytes and scratch space. */
static int dbos_record_test_init(struct kunit *test, u32 size)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct dbos_ring *ring = kunit_kzalloc(test, sizeof(*ring), GFP_KERNEL);
		void *data = kunit_kzalloc(test, size, GFP_KERNEL);
		struct dbos_scratch *s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);

		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ring);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, data);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, s);
		dbos_ring_init(ring, data, size);
		per_cpu(dbos_rings, cpu) = ring;
		per_cpu(dbos_scratch, cpu) = s;
	}
	dbos_rings_size = size;
	atomic_set(&dbos_test_kicks, 0);
	return 0;
}

/* Before each case: 4 KiB rings. */
static int dbos_record_case_init(struct kunit *test)
{
	return dbos_record_test_init(test, 4096);
}

/* After each case: the pointers point into test-managed memory, freed now. */
static void dbos_record_case_exit(struct kunit *test)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		per_cpu(dbos_rings, cpu) = NULL;
		per_cpu(dbos_scratch, cpu) = NULL;
	}
}

/*
 * The one record in all the rings (emit writes to whichever CPU it ran on):
 * sets *@cpu and consumes it from its ring after copying it to @out.
 */
static u32 take_only_record(struct kunit *test, void *out, u32 out_size, int *cpu)
{
	const struct dbos_rec_hdr *hdr;
	u32 len = 0, found = 0, l;
	int c;

	for_each_possible_cpu(c) {
		struct dbos_ring *ring = per_cpu(dbos_rings, c);

		while ((hdr = dbos_ring_peek(ring, &l))) {
			found++;
			if (l <= out_size)
				memcpy(out, hdr, l);
			len = l;
			*cpu = c;
			dbos_ring_consume(ring, l);
		}
	}
	KUNIT_EXPECT_EQ(test, found, 1U);
	KUNIT_EXPECT_LE(test, len, out_size);
	return len;
}

static void dbos_cmdline_trim_test(struct kunit *test)
{
	u16 flags = 0;

	KUNIT_EXPECT_EQ(test, dbos_cmdline_trim("", 0, false, &flags), 0U);
	/* Arguments end with a NUL, which is dropped. */
	KUNIT_EXPECT_EQ(test, dbos_cmdline_trim("ls\0-l\0", 6, false, &flags), 5U);
	KUNIT_EXPECT_EQ(test, flags, 0);
	/* setproctitle(): the title ends at the first NUL. */
	KUNIT_EXPECT_EQ(test, dbos_cmdline_trim("title\0rest", 10, false, &flags), 5U);
	KUNIT_EXPECT_EQ(test, flags, 0);
	/* A title that runs past the area is cut. */
	KUNIT_EXPECT_EQ(test, dbos_cmdline_trim("abcdef", 6, false, &flags), 6U);
	KUNIT_EXPECT_EQ(test, flags, (u16)DBOS_RECF_TRUNCATED);
	/* So is an area longer than the buffer. */
	flags = DBOS_RECF_THREAD;
	KUNIT_EXPECT_EQ(test, dbos_cmdline_trim("ab\0cd\0", 6, true, &flags), 6U);
	KUNIT_EXPECT_EQ(test, flags, (u16)(DBOS_RECF_THREAD | DBOS_RECF_TRUNCATED));
}

/* Half the ring is the most one record may take: cmdline is cut first. */
static void dbos_fit_test(struct kunit *test)
{
	struct dbos_ring ring = { .size = 1024 };
	const u32 room = 512 - sizeof(struct dbos_rec_hdr) - sizeof(struct dbos_proc);
	u32 path, cmd;
	u16 flags = 0;

	path = 100, cmd = room - 100;
	dbos_fit(&ring, &path, &cmd, &flags);
	KUNIT_EXPECT_EQ(test, path, 100U);
	KUNIT_EXPECT_EQ(test, cmd, room - 100);
	KUNIT_EXPECT_EQ(test, flags, 0);

	path = 100, cmd = room;
	dbos_fit(&ring, &path, &cmd, &flags);
	KUNIT_EXPECT_EQ(test, path, 100U);
	KUNIT_EXPECT_EQ(test, cmd, room - 100);
	KUNIT_EXPECT_EQ(test, flags, (u16)DBOS_RECF_TRUNCATED);

	flags = 0;
	path = room + 50, cmd = 10;
	dbos_fit(&ring, &path, &cmd, &flags);
	KUNIT_EXPECT_EQ(test, path, room);
	KUNIT_EXPECT_EQ(test, cmd, 0U);
	KUNIT_EXPECT_EQ(test, flags, (u16)DBOS_RECF_TRUNCATED);
}

/* An event without strings: header, payload, numbering, kick. */
static void dbos_record_emit_test(struct kunit *test)
{
	struct dbos_event ev = {
		.type = DBOS_REC_COMM,
		.flags = DBOS_RECF_THREAD,
		.task = current,
		.comm = "kunit-renamed",
	};
	u8 *buf = kunit_kzalloc(test, 512, GFP_KERNEL);
	struct dbos_rec_hdr *hdr = (void *)buf;
	struct dbos_proc *proc = (void *)(hdr + 1);
	u64 seq = atomic64_read(&dbos_seq);
	u64 before = ktime_get_real_ns();
	int cpu = -1;
	u32 len;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
	dbos_record_emit(&ev);
	len = take_only_record(test, buf, 512, &cpu);

	KUNIT_EXPECT_EQ(test, len, (u32)(sizeof(*hdr) + sizeof(*proc)));
	KUNIT_EXPECT_EQ(test, (u32)hdr->len, len);
	KUNIT_EXPECT_EQ(test, hdr->type, DBOS_REC_COMM);
	KUNIT_EXPECT_EQ(test, (int)hdr->cpu, cpu);
	KUNIT_EXPECT_EQ(test, hdr->flags, (u16)DBOS_RECF_THREAD);
	KUNIT_EXPECT_EQ(test, hdr->cpu_seq, 1U);
	KUNIT_EXPECT_EQ(test, hdr->__pad, 0U);
	KUNIT_EXPECT_EQ(test, hdr->seq, seq + 1);
	KUNIT_EXPECT_GE(test, hdr->time_ns, before);
	KUNIT_EXPECT_LE(test, hdr->time_ns, ktime_get_real_ns());

	KUNIT_EXPECT_EQ(test, proc->pid, (u32)task_tgid_nr(current));
	KUNIT_EXPECT_EQ(test, proc->tid, (u32)task_pid_nr(current));
	KUNIT_EXPECT_EQ(test, proc->uid, 0U);
	KUNIT_EXPECT_STREQ(test, proc->comm, "kunit-renamed");
	KUNIT_EXPECT_EQ(test, proc->path_len, 0);
	KUNIT_EXPECT_EQ(test, proc->cmdline_len, 0);	/* a kthread has none */
	KUNIT_EXPECT_EQ(test, proc->cwd_len, 0);
	KUNIT_EXPECT_EQ(test, proc->__pad2, 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&dbos_test_kicks), 1);	/* ring was empty */
}

/* A comm longer than TASK_COMM_LEN is cut and NUL-terminated. */
static void dbos_record_emit_comm_test(struct kunit *test)
{
	struct dbos_event ev = {
		.type = DBOS_REC_COMM,
		.task = current,
		.comm = "a-very-long-name-beyond-sixteen",
	};
	u8 *buf = kunit_kzalloc(test, 512, GFP_KERNEL);
	struct dbos_proc *proc = (void *)(buf + sizeof(struct dbos_rec_hdr));
	int cpu;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
	dbos_record_emit(&ev);
	take_only_record(test, buf, 512, &cpu);
	KUNIT_EXPECT_STREQ(test, proc->comm, "a-very-long-nam");
}

/* A path is stored after the payload, unterminated, and zero-padded to 8. */
static void dbos_record_emit_path_test(struct kunit *test)
{
	struct dbos_event ev = { .type = DBOS_REC_EXEC, .task = current };
	u8 *buf = kunit_kzalloc(test, 512, GFP_KERNEL);
	struct dbos_rec_hdr *hdr = (void *)buf;
	struct dbos_proc *proc = (void *)(hdr + 1);
	const char *str = (const char *)(proc + 1);
	struct path path;
	int cpu, i;
	u32 len;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
	KUNIT_ASSERT_EQ(test, kern_path("/init", LOOKUP_FOLLOW, &path), 0);
	ev.exe = &path;
	/* Dirty the ring so that missing padding would show. */
	for_each_possible_cpu(cpu)
		memset(per_cpu(dbos_rings, cpu)->data, 0xff, 4096);
	dbos_record_emit(&ev);
	path_put(&path);
	len = take_only_record(test, buf, 512, &cpu);

	KUNIT_EXPECT_EQ(test, proc->path_len, 5);	/* "/init" */
	KUNIT_EXPECT_EQ(test, len, (u32)DBOS_REC_ALIGN(sizeof(*hdr) + sizeof(*proc) + 5));
	KUNIT_EXPECT_EQ(test, len % 8, 0U);
	KUNIT_EXPECT_EQ(test, memcmp(str, "/init", 5), 0);
	for (i = sizeof(*hdr) + sizeof(*proc) + 5; i < len; i++)
		KUNIT_EXPECT_EQ_MSG(test, buf[i], 0, "padding byte %d", i);
	KUNIT_EXPECT_EQ(test, hdr->flags & DBOS_RECF_TRUNCATED, 0);
}

/* In a small ring the path is cut to half the ring, and flagged. */
static void dbos_record_emit_truncated_test(struct kunit *test)
{
	struct dbos_event ev = { .type = DBOS_REC_EXEC, .task = current };
	u8 *buf = kunit_kzalloc(test, 512, GFP_KERNEL);
	struct dbos_rec_hdr *hdr = (void *)buf;
	struct dbos_proc *proc = (void *)(hdr + 1);
	struct path path;
	int cpu;
	u32 len;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
	/* 240-byte rings: half is 120, 8 bytes left for strings. */
	dbos_record_test_init(test, 240);
	KUNIT_ASSERT_EQ(test, kern_path("/dbos/tests", LOOKUP_FOLLOW, &path), 0);
	ev.exe = &path;
	dbos_record_emit(&ev);
	path_put(&path);
	len = take_only_record(test, buf, 512, &cpu);

	KUNIT_EXPECT_EQ(test, len, 120U);
	KUNIT_EXPECT_EQ(test, proc->path_len, 8);
	KUNIT_EXPECT_EQ(test, memcmp(proc + 1, "/dbos/te", 8), 0);
	KUNIT_EXPECT_EQ(test, hdr->flags, (u16)DBOS_RECF_TRUNCATED);
}

/*
 * When the ring is full the event is dropped, counted, and still kicks the
 * consumer; its cpu_seq is skipped, so the next record shows the hole.
 */
static void dbos_record_emit_full_test(struct kunit *test)
{
	struct dbos_event ev = { .type = DBOS_REC_FORK, .task = current };
	const u32 rec = sizeof(struct dbos_rec_hdr) + sizeof(struct dbos_proc);
	u64 produced = 0, dropped = 0;
	const struct dbos_rec_hdr *hdr;
	struct dbos_ring *ring;
	int cpu, i;
	u32 len;

	/* Rings of 2 records + the 8 bytes that always stay free. */
	dbos_record_test_init(test, 2 * rec + 8);
	/* Stay on one CPU, so that all four land in the same ring. */
	migrate_disable();
	cpu = smp_processor_id();
	for (i = 0; i < 4; i++)
		dbos_record_emit(&ev);
	migrate_enable();
	ring = per_cpu(dbos_rings, cpu);
	produced = READ_ONCE(ring->produced);
	dropped = READ_ONCE(ring->dropped);
	KUNIT_EXPECT_EQ(test, produced, 4ULL);
	KUNIT_EXPECT_EQ(test, dropped, 2ULL);
	/* 1st: ring was empty; 2nd: crossed half; 3rd, 4th: dropped, kick anyway. */
	KUNIT_EXPECT_EQ(test, atomic_read(&dbos_test_kicks), 4);

	hdr = dbos_ring_peek(ring, &len);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, hdr);
	KUNIT_EXPECT_EQ(test, hdr->cpu_seq, 1U);
	dbos_ring_consume(ring, len);
	hdr = dbos_ring_peek(ring, &len);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, hdr);
	KUNIT_EXPECT_EQ(test, hdr->cpu_seq, 2U);
	dbos_ring_consume(ring, len);
	KUNIT_EXPECT_PTR_EQ(test, dbos_ring_peek(ring, &len), NULL);

	migrate_disable();
	cpu = smp_processor_id();
	dbos_record_emit(&ev);
	migrate_enable();
	hdr = dbos_ring_peek(per_cpu(dbos_rings, cpu), &len);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, hdr);
	/* cpu_seq 3 and 4 were the dropped ones (if we are back on that CPU). */
	if (per_cpu(dbos_rings, cpu) == ring)
		KUNIT_EXPECT_EQ(test, hdr->cpu_seq, 5U);
	else
		KUNIT_EXPECT_EQ(test, hdr->cpu_seq, 1U);
}

/* Global seq numbers increase by one per event, across CPUs. */
static void dbos_record_emit_seq_test(struct kunit *test)
{
	struct dbos_event ev = { .type = DBOS_REC_FORK, .task = current };
	u64 first = atomic64_read(&dbos_seq) + 1, seen = 0;
	const struct dbos_rec_hdr *hdr;
	int cpu, i;
	u32 len;

	for (i = 0; i < 10; i++)
		dbos_record_emit(&ev);
	for_each_possible_cpu(cpu) {
		struct dbos_ring *ring = per_cpu(dbos_rings, cpu);
		u64 last = 0;

		while ((hdr = dbos_ring_peek(ring, &len))) {
			KUNIT_EXPECT_GE(test, hdr->seq, first);
			KUNIT_EXPECT_LT(test, hdr->seq, first + 10);
			KUNIT_EXPECT_GT(test, hdr->seq, last);	/* per CPU: in order */
			last = hdr->seq;
			seen |= 1ULL << (hdr->seq - first);
			dbos_ring_consume(ring, len);
		}
	}
	KUNIT_EXPECT_EQ(test, seen, (1ULL << 10) - 1);
}

/*
 * A snapshot of a kernel thread: no mm, so no path nor command line; the cwd
 * of the fs_struct that kthreads share with init; outside the CPU streams.
 */
static void dbos_record_snapshot_kthread_test(struct kunit *test)
{
	struct dbos_snapshot_buf *buf = kunit_kzalloc(test, sizeof(*buf), GFP_KERNEL);
	struct dbos_rec_hdr *hdr = (void *)buf->rec;
	struct dbos_proc *proc = (void *)(hdr + 1);
	u64 seq = atomic64_read(&dbos_seq);
	u32 len;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
	len = dbos_record_snapshot(current, buf);
	KUNIT_EXPECT_EQ(test, (u32)hdr->len, len);
	KUNIT_EXPECT_EQ(test, len % 8, 0U);
	KUNIT_EXPECT_EQ(test, hdr->type, DBOS_REC_PROC);
	KUNIT_EXPECT_EQ(test, hdr->cpu_seq, 0U);
	KUNIT_EXPECT_EQ(test, hdr->seq, seq);
	KUNIT_EXPECT_EQ(test, proc->pid, (u32)task_tgid_nr(current));
	KUNIT_EXPECT_EQ(test, proc->threads, 1U);
	KUNIT_EXPECT_EQ(test, proc->path_len, 0);
	KUNIT_EXPECT_EQ(test, proc->cmdline_len, 0);
	KUNIT_EXPECT_GT(test, proc->cwd_len, 0);
	KUNIT_EXPECT_EQ(test, ((char *)(proc + 1))[0], '/');
	KUNIT_EXPECT_EQ(test, len, (u32)DBOS_REC_ALIGN(sizeof(*hdr) + sizeof(*proc) +
						proc->cwd_len));
	/* The snapshot does not touch the rings. */
	KUNIT_EXPECT_EQ(test, atomic_read(&dbos_test_kicks), 0);
}

/*
 * A snapshot of /init (pid 1, the test VM's shell script): the interpreter's
 * path, the command line "/bin/sh\0/init", read from its memory.
 */
static void dbos_record_snapshot_init_test(struct kunit *test)
{
	struct dbos_snapshot_buf *buf = kunit_kzalloc(test, sizeof(*buf), GFP_KERNEL);
	struct dbos_rec_hdr *hdr = (void *)buf->rec;
	struct dbos_proc *proc = (void *)(hdr + 1);
	const char *str = (const char *)(proc + 1);
	struct task_struct *init;
	struct pid *pid;
	u32 len;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
	pid = find_get_pid(1);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, pid);
	init = get_pid_task(pid, PIDTYPE_PID);
	put_pid(pid);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, init);
	len = dbos_record_snapshot(init, buf);
	put_task_struct(init);

	KUNIT_EXPECT_EQ(test, proc->pid, 1U);
	KUNIT_EXPECT_EQ(test, proc->ppid, 0U);
	KUNIT_EXPECT_EQ(test, (u32)hdr->len, len);
	KUNIT_EXPECT_EQ(test, len, (u32)DBOS_REC_ALIGN(sizeof(*hdr) + sizeof(*proc) +
						proc->path_len + proc->cmdline_len +
						proc->cwd_len));
	KUNIT_EXPECT_EQ(test, proc->path_len, 12);
	KUNIT_EXPECT_EQ(test, memcmp(str, "/bin/busybox", 12), 0);
	KUNIT_ASSERT_EQ(test, proc->cmdline_len, 13);
	KUNIT_EXPECT_EQ(test, memcmp(str + 12, "/bin/sh\0/init", 13), 0);
	KUNIT_EXPECT_GT(test, proc->cwd_len, 0);
	KUNIT_EXPECT_EQ(test, hdr->flags, 0);
}

static struct kunit_case dbos_record_cases[] = {
	KUNIT_CASE(dbos_cmdline_trim_test),
	KUNIT_CASE(dbos_fit_test),
	KUNIT_CASE(dbos_record_emit_test),
	KUNIT_CASE(dbos_record_emit_comm_test),
	KUNIT_CASE(dbos_record_emit_path_test),
	KUNIT_CASE(dbos_record_emit_truncated_test),
	KUNIT_CASE(dbos_record_emit_full_test),
	KUNIT_CASE(dbos_record_emit_seq_test),
	KUNIT_CASE(dbos_record_snapshot_kthread_test),
	KUNIT_CASE(dbos_record_snapshot_init_test),
	{}
};

static struct kunit_suite dbos_record_suite = {
	.name = "dbos_record",
	.init = dbos_record_case_init,
	.exit = dbos_record_case_exit,
	.test_cases = dbos_record_cases,
};

kunit_test_suite(dbos_record_suite);

MODULE_DESCRIPTION("KUnit tests for dbos.ko's record encoding");
MODULE_LICENSE("GPL");
