// SPDX-License-Identifier: GPL-2.0
/*
 * bench_intake.c - host benchmark of dbosd's intake hot path: synthetic
 * FORK/EXEC/EXIT records (workload "procs") or FD_OPEN/FD_CLOSE pairs of
 * long-lived processes (workload "files") in ~32 KiB DBOS_CMD_RECORDS
 * messages (4 CPUs, as the kernel batches them, each drain's messages
 * followed by the CPUs' watermarks) go through intake_feed() (decode,
 * reorder stage, mirror) and intake_flush() (one RocksDB batch per burst) on
 * one thread, into a real store in a temp dir with the default retention.
 *
 * Usage: bench_intake [EVENTS [MESSAGES_PER_COMMIT [RETENTION [procs|files]]]]
 *        (default 3000000, 16, 1000000, procs)
 * Prints "intake_events_per_sec N (target >= 1000000)" and details (the
 * same rate in CPU time, the process's CPU time per event), among
 * them how the time splits between feeding (decode + mirror + encoding the
 * rows into the batch) and committing (store_write: RocksDB WAL + memtable).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include "dbserver/intake/intake.h"
#include "dbserver/mirror/mirror.h"
#include "dbserver/store/store.h"
#include "tests/host/test_intake_msg.h"

#define NCPU		4
#define MSG_TARGET	(32 << 10)
#define PID_BASE	1000
#define PID_RANGE	32768
#define TEMPLATES	64		/* messages per CPU, patched and reused */
#define INSTANCE	0x5EED5EED5EED5EEDULL

#include "bench/null_kernel.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* CPU time of the whole process (intake thread + RocksDB's background threads). */
static uint64_t process_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
}

/* ---- workload ---- */

struct prog {
	const char *path, *cmdline;
	size_t cmdline_len;	/* NUL-separated arguments, no trailing NUL */
};
#define PROG(path, cmd) { path, cmd, sizeof(cmd) - 1 }

static const struct prog progs[] = {
	PROG("/usr/bin/grep", "grep\0-q\0--color=never\0pattern\0/var/log/syslog"),
	PROG("/usr/bin/cat", "cat\0/proc/self/status"),
	PROG("/usr/bin/python3", "python3\0-m\0http.server\0--bind\0127.0.0.1\0" "8080"),
	PROG("/usr/lib/gcc/x86_64-linux-gnu/12/cc1", "cc1\0-quiet\0-I\0.\0main.c\0-O2\0-o\0/tmp/ccX.s"),
	PROG("/bin/sh", "sh\0-c\0make -j4 all"),
};
#define NPROGS (sizeof(progs) / sizeof(progs[0]))

struct tmpl {
	struct tmsg m;
	int nrec;
};

/*
 * Build TEMPLATES messages per CPU. CPU c runs processes whose pid % NCPU == c
 * (fork, exec, exit on the same CPU, as a short-lived child mostly does);
 * seqs interleave across CPUs, so messages of different CPUs overlap in seq.
 */
static const char *const file_paths[] = {
	"/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache", "/proc/self/status",
	"/home/user/src/dbos/dbserver/mirror/files.c", "/dev/null", "/var/log/syslog",
};

/*
 * Workload "files": CPU c runs process PID_BASE + c, which opens a file and
 * closes it again (FD_OPEN + FD_CLOSE; fd numbers 3..66 in turn), so the live
 * table stays small and every record writes a row and a history row.
 */
static bool build_files(struct tmpl *t, uint64_t *seq, uint64_t *records, uint32_t cpu_seq[NCPU])
{
	for (int c = 0; c < NCPU; c++) {
		struct tmpl *mt = &t[c];

		while (mt->m.len + 2 * 128 <= MSG_TARGET) {
			const char *path = file_paths[*records / 2 % (sizeof(file_paths) / sizeof(file_paths[0]))];
			struct trec r = {
				.cpu = (uint16_t)c, .type = DBOS_REC_FD_OPEN, .path = path,
				.fd = { .pid = PID_BASE + (uint32_t)c, .fd = 3 + (uint32_t)(*records / 2 % 64),
					.flags = 0100000, .kind = DBOS_FILE_REG, .inode = 1000 + *records % 977,
					.dev = 0x803, .mode = 0100644 },
			};

			r.seq = ++*seq; r.cpu_seq = ++cpu_seq[c];
			r.time_ns = 1700000000ULL * 1000000000ULL + *seq;
			tmsg_rec(&mt->m, &r);
			r.type = DBOS_REC_FD_CLOSE; r.path = NULL;
			r.seq = ++*seq; r.cpu_seq = ++cpu_seq[c]; r.time_ns++;
			tmsg_rec(&mt->m, &r);
			mt->nrec += 2;
			*records += 2;
		}
	}
	return true;
}

static struct tmpl *build(uint64_t *records_out, uint64_t *seq_span, uint32_t cpu_seq[NCPU],
			  bool files)
{
	struct tmpl *t = calloc(NCPU * TEMPLATES, sizeof(*t));

	uint64_t seq = 0, records = 0;

	if (!t)
		return NULL;
	for (int i = 0; i < TEMPLATES; i++) {
		for (int c = 0; c < NCPU; c++)
			tmsg_begin(&t[i * NCPU + c].m, INSTANCE, (uint32_t)c);
		for (int full = files ? build_files(&t[i * NCPU], &seq, &records, cpu_seq) : 0;
		     !full; ) {
			for (int c = 0; c < NCPU && !full; c++) {
				struct tmpl *mt = &t[i * NCPU + c];
				uint32_t pid = PID_BASE + (uint32_t)((records / 3) % (PID_RANGE / NCPU)) * NCPU + (uint32_t)c;
				const struct prog *pg = &progs[(records / 3) % NPROGS];
				struct trec r = {
					.cpu = (uint16_t)c,
					.p = { .pid = pid, .tid = pid, .ppid = 900, .uid = 1000, .gid = 1000,
					       .euid = 1000, .egid = 1000, .state = 'R',
					       .start_time_ns = 1700000000ULL * 1000000000ULL },
				};
				if (mt->m.len + 3 * 256 > MSG_TARGET) {
					full = 1;
					break;
				}
				strcpy(r.p.comm, "sh");
				r.type = DBOS_REC_FORK; r.path = "/bin/sh"; r.cmdline = "sh\0-c\0run";
				r.cmdline_len = 9;
				r.seq = ++seq; r.cpu_seq = ++cpu_seq[c]; r.time_ns = r.p.start_time_ns + seq;
				tmsg_proc(&mt->m, &r);
				snprintf(r.p.comm, sizeof(r.p.comm), "%s", strrchr(pg->path, '/') + 1);
				r.type = DBOS_REC_EXEC; r.path = pg->path; r.cmdline = pg->cmdline;
				r.cmdline_len = pg->cmdline_len;
				r.seq = ++seq; r.cpu_seq = ++cpu_seq[c]; r.time_ns++;
				tmsg_proc(&mt->m, &r);
				r.type = DBOS_REC_EXIT; r.flags = DBOS_RECF_GROUP_DEAD; r.path = r.cmdline = NULL;
				r.cmdline_len = 0; r.p.state = 'X';
				r.seq = ++seq; r.cpu_seq = ++cpu_seq[c]; r.time_ns++;
				tmsg_proc(&mt->m, &r);
				mt->nrec += 3;
				records += 3;
			}
		}
		for (int c = 0; c < NCPU; c++)
			tmsg_end(&t[i * NCPU + c].m);
	}
	*records_out = records;
	*seq_span = seq;
	return t;
}

/* The largest seq of @t's records (its last: each message is one CPU's, in order). */
static uint64_t last_seq(struct tmpl *t)
{
	const struct nlattr *a = (const struct nlattr *)(t->m.buf + t->m.recs);
	const unsigned char *p = (const unsigned char *)a + NLA_HDRLEN, *end = (const unsigned char *)a + a->nla_len;
	uint64_t seq = 0;

	while (p < end) {
		const struct dbos_rec_hdr *h = (const void *)p;

		seq = h->seq;
		p += h->len;
	}
	return seq;
}

/* Advance a template to its next round: seqs, cpu_seqs and pids move on. */
static void patch(struct tmpl *t, uint64_t seq_span, const uint32_t cpu_span[NCPU], uint32_t pid_shift)
{
	unsigned char *p = t->m.buf + t->m.recs + NLA_HDRLEN, *end = t->m.buf + t->m.len;

	while (p < end) {
		struct dbos_rec_hdr *h = (struct dbos_rec_hdr *)p;
		struct dbos_proc *pr = (struct dbos_proc *)(p + sizeof(*h));

		h->seq += seq_span;
		h->cpu_seq += cpu_span[h->cpu];
		if (h->type >= DBOS_REC_FORK && h->type <= DBOS_REC_PROC) {
			pr->pid = PID_BASE + (pr->pid - PID_BASE + pid_shift) % PID_RANGE;
			pr->tid = pr->pid;
		}
		p += h->len;
	}
}

int main(int argc, char **argv)
{
	uint64_t target = argc > 1 ? strtoull(argv[1], NULL, 10) : 3000000;
	int per_commit = argc > 2 ? atoi(argv[2]) : 16;
	char dir[] = "/tmp/bench_intake.XXXXXX", cmd[64];
	struct mirror_config mc = { .retention = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000 };
	bool files = argc > 4 && !strcmp(argv[4], "files");
	struct intake_config ic = { .ops = &k_ops };
	struct store *st;
	struct mirror *m;
	struct intake *in;
	struct tmpl *t;
	uint64_t records, span, done = 0, msgs = 0, busy = 0, commits = 0, t_start, t0, feed = 0;
	uint64_t cpu = 0, pcpu;
	uint32_t cpu_span[NCPU] = { 0 };
	uint64_t wm[NCPU] = { 0 };
	static struct tmsg wmsg;
	char *err = NULL;
	int64_t mv[MIRROR_STAT__COUNT], iv[INTAKE_STAT__COUNT];

	if (per_commit < 1)
		per_commit = 1;
	if (!mkdtemp(dir) || store_open(dir, &st, &err) || mirror_open(st, &mc, &m, &err)) {
		fprintf(stderr, "bench_intake: %s\n", err ? err : strerror(errno));
		return 1;
	}
	ic.mirror = m;
	if (argc > 4 && !files && strcmp(argv[4], "procs")) {
		fprintf(stderr, "bench_intake: workload is procs or files, not '%s'\n", argv[4]);
		return 2;
	}
	if (intake_new(&ic, &in) || !(t = build(&records, &span, cpu_span, files))) {
		fprintf(stderr, "bench_intake: out of memory\n");
		return 1;
	}
	t0 = mono_ns();
	intake_attach(in, t0);
	t_start = mono_ns();
	pcpu = process_cpu_ns();
	for (uint32_t round = 0; done < target; round++) {
		if (round)
			for (int i = 0; i < NCPU * TEMPLATES; i++)
				patch(&t[i], span, cpu_span, 7920);	/* keeps pid % NCPU */
		for (int i = 0; i < NCPU * TEMPLATES && done < target; i++) {
			uint64_t a = mono_ns(), ca = clock_ns(CLOCK_THREAD_CPUTIME_ID);

			intake_feed(in, tmsg_nlh(&t[i].m), t[i].m.len);
			if (i % NCPU == NCPU - 1) {
				/* a drain run's end: every CPU's watermark (built outside the timing) */
				uint64_t b = mono_ns();

				for (int c = 0; c < NCPU; c++)
					wm[c] = last_seq(&t[i - (NCPU - 1) + c]);
				tmsg_watermarks(&wmsg, INSTANCE, wm, NCPU);
				a += mono_ns() - b;
				intake_feed(in, tmsg_nlh(&wmsg), wmsg.len);
			}
			feed += mono_ns() - a;
			done += (uint64_t)t[i].nrec;
			if (++msgs % (uint64_t)per_commit == 0) {
				if (intake_tick(in, a))
					fprintf(stderr, "bench_intake: tick failed\n");
				commits++;
			}
			busy += mono_ns() - a;
			cpu += clock_ns(CLOCK_THREAD_CPUTIME_ID) - ca;
		}
	}
	{
		uint64_t a = mono_ns(), ca = clock_ns(CLOCK_THREAD_CPUTIME_ID);

		intake_flush(in, a);
		busy += mono_ns() - a;
		cpu += clock_ns(CLOCK_THREAD_CPUTIME_ID) - ca;
	}
	pcpu = process_cpu_ns() - pcpu;
	double wall = (double)(mono_ns() - t_start) / 1e9;
	intake_stats_read(in, iv);
	mirror_stats_read(m, mv);
	if (files)
		printf("workload files: FD_OPEN + FD_CLOSE pairs (process_open_files + file_events rows)\n");
	printf("intake_events_per_sec %.0f (target >= 1000000)\n", (double)done / ((double)busy / 1e9));
	printf("intake_wall_events_per_sec %.0f\n", (double)done / wall);
	/* CPU time does not depend on what else the machine runs (or on emulation). */
	printf("intake_cpu_events_per_sec %.0f (the intake thread's CPU time)\n",
	       (double)done / ((double)cpu / 1e9));
	printf("intake_process_cpu_ns_per_event %.0f (with RocksDB's background flushes and compactions)\n",
	       (double)pcpu / (double)done);
	/* Where the time goes: decode + mirror + history rows into the batch, vs the commits. */
	printf("intake_feed_events_per_sec %.0f (decode + mirror + batch, without the RocksDB write)\n",
	       (double)done / ((double)feed / 1e9));
	printf("intake_commit_share %.0f%% (store_write of the batches: RocksDB WAL + memtable)\n",
	       100.0 * (double)(busy - feed) / (double)busy);
	printf("intake_events %llu messages %llu commits %llu (%d messages = %.0f KiB per commit)\n",
	       (unsigned long long)done, (unsigned long long)msgs, (unsigned long long)commits,
	       per_commit, (double)per_commit * (double)t[0].m.len / 1024);
	printf("intake_process_events_rows %lld trimmed %lld processes_rows %lld gaps %lld malformed %lld\n",
	       (long long)mv[MIRROR_STAT_PROCESS_EVENTS_ROWS], (long long)mv[MIRROR_STAT_HISTORY_TRIMMED],
	       (long long)mv[MIRROR_STAT_PROCESSES_ROWS], (long long)iv[INTAKE_STAT_GAPS_DETECTED],
	       (long long)iv[INTAKE_STAT_RECORDS_MALFORMED]);
	printf("intake_reorder held_max %lld late %lld forced %lld (records the stage held at most; out of order)\n",
	       (long long)iv[INTAKE_STAT_REORDER_HELD_MAX], (long long)iv[INTAKE_STAT_REORDER_LATE],
	       (long long)iv[INTAKE_STAT_REORDER_FORCED]);
	if (files)
		printf("intake_file_events_rows %lld trimmed %lld process_open_files_rows %lld\n",
		       (long long)mv[MIRROR_STAT_FILE_EVENTS_ROWS],
		       (long long)mv[MIRROR_STAT_FILE_EVENTS_TRIMMED],
		       (long long)mv[MIRROR_STAT_FILES_ROWS]);
	intake_free(in);
	mirror_close(m);
	store_close(st);
	free(t);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (getenv("BENCH_INTAKE_KEEP"))
		fprintf(stderr, "bench_intake: kept %s\n", dir);
	else if (system(cmd))
		fprintf(stderr, "bench_intake: cannot remove %s\n", dir);
	return 0;
}
