// SPDX-License-Identifier: GPL-2.0
/* intake.c - the intake session: per-CPU loss detection, re-sync, reparenting and commits over struct kernel_ops. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbserver/intake/decode.h"
#include "dbserver/intake/intake.h"
#include "dbserver/intake/reorder.h"

/* Expected next cpu_seq of one CPU. */
struct cpu_track {
	uint32_t next;
	bool known;
};

/* A child whose parent died: fetch a snapshot once the kernel reparented it. */
struct orphan {
	uint32_t pid, old_parent;
	uint64_t due;
	int tries;
};

/* What the records being decoded are: events as received, events the reorder stage released, replies. */
enum mode { MODE_EVENTS, MODE_RELEASED, MODE_SNAPSHOT, MODE_ORPHAN };

struct intake {
	struct intake_config cfg;
	struct mirror *m;
	uint64_t now;

	bool attached;
	bool has_instance;
	uint64_t instance;
	struct cpu_track *cpus;
	size_t ncpus;

	bool need_resync;
	uint64_t resync_not_before;
	uint64_t next_stats, next_prune;
	struct kernel_stats kbase;
	bool have_kbase;

	struct orphan *orph;
	size_t norph, orph_cap;
	struct orphan *cur;		/* MODE_ORPHAN: the child being fetched */
	bool cur_defer;

	enum mode mode;
	bool commit_failing;
	struct reorder *ro;		/* events wait here until every CPU's stream passed them */
	struct intake_decode_stats ds;
	struct intake_decode_stats ds_released;	/* the second decode of released records: not counted */
	uint64_t c[INTAKE_STAT__COUNT];
	_Atomic int64_t pub[INTAKE_STAT__COUNT];
};

const struct intake_stat_info intake_stat_info[INTAKE_STAT__COUNT] = {
	[INTAKE_STAT_EVENTS_RECEIVED] = { "events_received", "Records received from the kernel's events group" },
	[INTAKE_STAT_MESSAGES] = { "messages", "DBOS_CMD_RECORDS messages decoded (events, dumps, GET_PROC replies)" },
	[INTAKE_STAT_RECORDS_MALFORMED] = { "records_malformed", "Malformed netlink messages and records, counted and skipped" },
	[INTAKE_STAT_RECORDS_UNKNOWN] = { "records_unknown", "Records of a type (or SCHED records of a cause) this dbosd does not know, skipped" },
	[INTAKE_STAT_GAPS_DETECTED] = { "gaps_detected", "Holes in a CPU's cpu_seq (records lost in the kernel): each requests a re-sync" },
	[INTAKE_STAT_OVERRUNS] = { "overruns", "Event socket receive overruns (ENOBUFS): each requests a re-sync" },
	[INTAKE_STAT_RESYNCS] = { "resyncs", "Full re-syncs from a kernel dump (attach, gap, overrun, kernel-side drop)" },
	[INTAKE_STAT_RESYNC_FAILURES] = { "resync_failures", "Re-syncs whose dump failed (retried a second later)" },
	[INTAKE_STAT_REPARENT_QUERIES] = { "reparent_queries", "GET_PROC queries for children whose parent exited" },
	[INTAKE_STAT_KERNEL_PRODUCED] = { "kernel_produced", "Kernel: records produced by hooks since module load (last GET_STATS)" },
	[INTAKE_STAT_KERNEL_DROPPED] = { "kernel_dropped", "Kernel: records dropped because a per-CPU buffer was full (last GET_STATS)" },
	[INTAKE_STAT_KERNEL_SENT] = { "kernel_sent", "Kernel: records multicast to at least one listener (last GET_STATS)" },
	[INTAKE_STAT_KERNEL_SEND_FAILED] = { "kernel_send_failed", "Kernel: records in batches a listener could not take (last GET_STATS)" },
	[INTAKE_STAT_KERNEL_UNHEARD] = { "kernel_unheard", "Kernel: records drained while nobody listened, or in batches no listener received (last GET_STATS)" },
	[INTAKE_STAT_KERNEL_FILTERED] = { "kernel_filtered", "Kernel: fd and socket records held back by the file filter (last GET_STATS)" },
	[INTAKE_STAT_KERNEL_MISSED] = { "kernel_missed", "Kernel: events no record could be produced for, a loss like dropped (last GET_STATS)" },
	[INTAKE_STAT_KERNEL_SCHED_APPLIED] = { "kernel_sched_applied", "Kernel: processes changed by a sched rule since module load (last GET_STATS)" },
	[INTAKE_STAT_KERNEL_SCHED_FAILED] = { "kernel_sched_failed", "Kernel: sched rule changes that failed or could not be queued (last GET_STATS)" },
	[INTAKE_STAT_MODULE_ATTACHED] = { "module_attached", "1 while dbosd is attached to the dbos kernel module, else 0" },
	[INTAKE_STAT_MODULE_INSTANCE] = { "module_instance", "DBOS_A_INSTANCE of the module instance last attached (0: none)" },
	[INTAKE_STAT_REORDER_HELD] = { "reorder_held", "Records the reorder stage holds now, until every CPU's watermark passes them" },
	[INTAKE_STAT_REORDER_HELD_MAX] = { "reorder_held_max", "The most records the reorder stage ever held at once" },
	[INTAKE_STAT_REORDER_LATE] = { "reorder_late", "Records that came after the frontier had passed their seq, applied out of order and re-synced after (should stay 0)" },
	[INTAKE_STAT_REORDER_FORCED] = { "reorder_forced", "Records released before the frontier passed them (before a dump, at detach, a new module instance, or a full stage, which re-syncs)" },
};

__attribute__((format(printf, 2, 3)))
static void logf_(struct intake *in, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!in->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	in->cfg.log(in->cfg.log_arg, line);
}

static void publish(struct intake *in)
{
	struct reorder_stats rs;

	reorder_stats(in->ro, &rs);
	in->c[INTAKE_STAT_REORDER_HELD] = rs.held;
	in->c[INTAKE_STAT_REORDER_HELD_MAX] = rs.held_max;
	in->c[INTAKE_STAT_REORDER_LATE] = rs.late;
	in->c[INTAKE_STAT_REORDER_FORCED] = rs.forced;
	in->c[INTAKE_STAT_MESSAGES] = in->ds.messages;
	in->c[INTAKE_STAT_RECORDS_MALFORMED] = in->ds.malformed_records + in->ds.malformed_messages;
	in->c[INTAKE_STAT_RECORDS_UNKNOWN] = in->ds.unknown_records;
	in->c[INTAKE_STAT_MODULE_ATTACHED] = in->attached;
	for (int i = 0; i < INTAKE_STAT__COUNT; i++)
		atomic_store_explicit(&in->pub[i], (int64_t)in->c[i], memory_order_relaxed);
}

static void set_kstats(struct intake *in, const struct kernel_stats *ks)
{
	in->c[INTAKE_STAT_KERNEL_PRODUCED] = ks->v[DBOS_STATS_PRODUCED];
	in->c[INTAKE_STAT_KERNEL_DROPPED] = ks->v[DBOS_STATS_DROPPED];
	in->c[INTAKE_STAT_KERNEL_SENT] = ks->v[DBOS_STATS_SENT];
	in->c[INTAKE_STAT_KERNEL_SEND_FAILED] = ks->v[DBOS_STATS_SEND_FAILED];
	in->c[INTAKE_STAT_KERNEL_UNHEARD] = ks->v[DBOS_STATS_UNHEARD];
	in->c[INTAKE_STAT_KERNEL_FILTERED] = ks->v[DBOS_STATS_FILTERED];
	in->c[INTAKE_STAT_KERNEL_MISSED] = ks->v[DBOS_STATS_MISSED];
	in->c[INTAKE_STAT_KERNEL_SCHED_APPLIED] = ks->v[DBOS_STATS_SCHED_APPLIED];
	in->c[INTAKE_STAT_KERNEL_SCHED_FAILED] = ks->v[DBOS_STATS_SCHED_FAILED];
	in->kbase = *ks;
	in->have_kbase = true;
}

static void reset_baselines(struct intake *in)
{
	if (in->cpus)
		memset(in->cpus, 0, in->ncpus * sizeof(*in->cpus));
}

static void request_resync(struct intake *in)
{
	in->need_resync = true;
	mirror_lost(in->m);	/* the tables may be wrong from here to the re-sync's end */
}

/* ---- records ------------------------------------------------------------ */

/*
 * A record applied out of seq order (late, or released early when the
 * reorder stage was full): the tables' rules assume seq order, so a re-sync
 * makes them exact again. Logged once per re-sync.
 */
static void out_of_order(struct intake *in, const char *why, const struct dbos_rec_hdr *hdr)
{
	if (!in->need_resync) {
		if (hdr)
			logf_(in, "record seq %" PRIu64 " of CPU %u %s: re-syncing",
			      (uint64_t)hdr->seq, hdr->cpu, why);
		else
			logf_(in, "%s: re-syncing", why);
	}
	request_resync(in);
}

static void track_cpu(struct intake *in, uint16_t cpu, uint32_t cpu_seq)
{
	struct cpu_track *t;

	if (cpu >= in->ncpus) {
		size_t n = in->ncpus ? in->ncpus : 64;
		struct cpu_track *p;

		while (n <= cpu)
			n *= 2;
		p = realloc(in->cpus, n * sizeof(*p));
		if (!p)
			return;
		memset(p + in->ncpus, 0, (n - in->ncpus) * sizeof(*p));
		in->cpus = p;
		in->ncpus = n;
	}
	t = &in->cpus[cpu];
	if (t->known && cpu_seq != t->next) {
		in->c[INTAKE_STAT_GAPS_DETECTED]++;
		if (!in->need_resync)
			logf_(in, "gap on cpu %u (expected %" PRIu32 ", got %" PRIu32 "): re-syncing",
			      cpu, t->next, cpu_seq);
		request_resync(in);
	}
	t->known = true;
	t->next = cpu_seq + 1;
}

static void release_all(struct intake *in);

static void set_instance(struct intake *in, uint64_t instance)
{
	in->has_instance = true;
	in->instance = instance;
	in->c[INTAKE_STAT_MODULE_INSTANCE] = instance;
	mirror_set_instance(in->m, instance);
}

static void on_message(void *ctx, const struct intake_msg *msg)
{
	struct intake *in = ctx;

	if (in->mode != MODE_EVENTS || !msg->has_instance)
		return;
	if (!in->has_instance) {
		set_instance(in, msg->instance);
	} else if (msg->instance != in->instance) {
		logf_(in, "records from module instance %016" PRIx64 " (attached to %016" PRIx64
		      "): new epoch, re-syncing", msg->instance, in->instance);
		/* The old instance's records first, under its epoch; its seqs start again. */
		release_all(in);
		reorder_reset(in->ro, 0);
		set_instance(in, msg->instance);
		reset_baselines(in);
		request_resync(in);
	}
}

static void on_record(void *ctx, const struct dbos_rec_hdr *hdr, const void *raw,
		      const struct mirror_rec *rec, enum intake_rec_status st)
{
	struct intake *in = ctx;

	switch (in->mode) {
	case MODE_EVENTS:
		if (st == INTAKE_REC_WATERMARK) {
			reorder_watermark(in->ro, hdr->cpu, hdr->seq);
			return;
		}
		in->c[INTAKE_STAT_EVENTS_RECEIVED]++;
		track_cpu(in, hdr->cpu, hdr->cpu_seq);
		/* Held until every CPU's stream passed it; late or unheld: now. */
		if (rec) {
			int ret = reorder_push(in->ro, hdr, raw);

			if (!ret)
				return;
			if (ret == -EALREADY)
				out_of_order(in, "came after the merge had passed its seq", hdr);
		}
		break;
	case MODE_RELEASED:
		break;
	case MODE_ORPHAN:
		if (!rec || rec->hdr.type != DBOS_REC_PROC || rec->proc.pid != in->cur->pid)
			return;
		/* Not reparented yet: try again shortly rather than show the dead parent. */
		if (rec->proc.ppid == in->cur->old_parent) {
			if (in->cur->tries + 1 < INTAKE_REPARENT_TRIES) {
				in->cur_defer = true;
				return;
			}
			logf_(in, "pid %" PRIu32 " still shows exited parent %" PRIu32
			      " after %d queries", in->cur->pid, in->cur->old_parent,
			      INTAKE_REPARENT_TRIES);
		}
		break;
	case MODE_SNAPSHOT:
		break;
	}
	if (rec && mirror_apply(in->m, rec) == MIRROR_ENOMEM) {
		logf_(in, "out of memory applying a record: re-syncing");
		request_resync(in);
	}
}

static const struct intake_sink sink_proto = {
	.message = on_message,
	.record = on_record,
};

static void decode(struct intake *in, const struct nlmsghdr *nlh, size_t len)
{
	struct intake_sink sink = sink_proto;

	sink.ctx = in;
	intake_decode(nlh, len, &sink, &in->ds);
}

/* A record the reorder stage releases: decoded again (cheap) and applied. */
static void apply_released(void *arg, const struct dbos_rec_hdr *rec)
{
	struct intake *in = arg;
	struct intake_sink sink = sink_proto;
	enum mode mode = in->mode;

	sink.ctx = in;
	in->mode = MODE_RELEASED;
	intake_decode_records(rec, rec->len, &sink, &in->ds_released);
	in->mode = mode;
}

/* Every held record, in seq order: before a dump, a new epoch, a detach. */
static void release_all(struct intake *in)
{
	reorder_release_all(in->ro, apply_released, in);
}

static void reply_msg(void *ctx, const struct nlmsghdr *nlh, size_t len)
{
	decode(ctx, nlh, len);
}

void intake_feed(struct intake *in, const struct nlmsghdr *nlh, size_t len)
{
	struct reorder_stats before, after;

	in->mode = MODE_EVENTS;
	decode(in, nlh, len);
	reorder_stats(in->ro, &before);
	reorder_release(in->ro, apply_released, in);
	reorder_stats(in->ro, &after);
	if (after.forced != before.forced)
		out_of_order(in, "the reorder stage was full and released records early", NULL);
}

/* ---- orphans -------------------------------------------------------------- */

static void on_orphan(void *arg, uint32_t child, uint32_t old_parent)
{
	struct intake *in = arg;

	if (in->norph == in->orph_cap) {
		size_t cap = in->orph_cap ? in->orph_cap * 2 : 64;
		struct orphan *p = realloc(in->orph, cap * sizeof(*p));

		if (!p)
			return;	/* the next re-sync fixes its parent */
		in->orph = p;
		in->orph_cap = cap;
	}
	in->orph[in->norph++] = (struct orphan){
		.pid = child, .old_parent = old_parent, .due = in->now,
	};
}

static void query_orphans(struct intake *in, uint64_t now)
{
	size_t w = 0;

	for (size_t i = 0; i < in->norph; i++) {
		struct orphan o = in->orph[i];
		int rc;

		if (o.due > now) {
			in->orph[w++] = o;
			continue;
		}
		in->c[INTAKE_STAT_REPARENT_QUERIES]++;
		in->mode = MODE_ORPHAN;
		in->cur = &o;
		in->cur_defer = false;
		rc = in->cfg.ops->get_proc(in->cfg.ops_arg, o.pid, reply_msg, in);
		in->mode = MODE_EVENTS;
		in->cur = NULL;
		/*
		 * -ESRCH: the child is gone too; its own EXIT tells the rest.
		 * Another error (a full socket, no memory): ask again later,
		 * as for an answer that still shows the dead parent.
		 */
		if ((rc == 0 && in->cur_defer) ||
		    (rc && rc != -ESRCH && o.tries + 1 < INTAKE_REPARENT_TRIES)) {
			uint64_t delay = INTAKE_REPARENT_RETRY_NS << (o.tries < 7 ? o.tries : 7);

			o.tries++;
			o.due = now + (delay < INTAKE_REPARENT_RETRY_MAX_NS ? delay
								: INTAKE_REPARENT_RETRY_MAX_NS);
			in->orph[w++] = o;
		}
	}
	in->norph = w;
}

/* ---- re-sync ----------------------------------------------------------------- */

static int resync(struct intake *in, uint64_t now, bool attach)
{
	struct kernel_stats ks;
	int64_t mv[MIRROR_STAT__COUNT];
	uint32_t swept;
	char *err = NULL;
	int rc;

	in->need_resync = false;
	in->c[INTAKE_STAT_RESYNCS]++;
	/* Every event received happened before the dump: apply them all first. */
	release_all(in);
	/* Re-base the kernel's loss counters: what they count so far, the dump covers. */
	rc = in->cfg.ops->get_stats(in->cfg.ops_arg, &ks);
	if (rc == 0)
		set_kstats(in, &ks);
	if (rc == 0) {
		mirror_resync_begin(in->m);
		in->mode = MODE_SNAPSHOT;
		rc = in->cfg.ops->dump_procs(in->cfg.ops_arg, reply_msg, in);
		if (rc == 0 && in->cfg.ops->dump_files) {
			rc = in->cfg.ops->dump_files(in->cfg.ops_arg, reply_msg, in);
			if (rc == 0)
				mirror_resync_files_dumped(in->m);
		}
		in->mode = MODE_EVENTS;
	}
	if (rc) {
		mirror_resync_abort(in->m);
		in->c[INTAKE_STAT_RESYNC_FAILURES]++;
		in->need_resync = true;
		in->resync_not_before = now + INTAKE_RESYNC_RETRY_NS;
		logf_(in, "re-sync failed: %s (retrying in 1 s)", strerror(-rc));
		return rc;
	}
	/*
	 * The dump shows every child's current parent, except a child read
	 * between its parent's exit and the reparenting: mirror_resync_end()
	 * names those again.
	 */
	in->norph = 0;
	swept = mirror_resync_end(in->m);
	if (mirror_commit(in->m, &err)) {
		logf_(in, "store write failed: %s", err ? err : "?");
		free(err);
	}
	mirror_stats_read(in->m, mv);
	if (attach)
		logf_(in, "attached to dbos module instance %016" PRIx64 ", %" PRId64
		      " processes, %" PRId64 " open files, %" PRId64 " sockets",
		      in->instance, mv[MIRROR_STAT_PROCESSES_ROWS], mv[MIRROR_STAT_FILES_ROWS],
		      mv[MIRROR_STAT_SOCKETS_ROWS]);
	else
		logf_(in, "re-synced: %" PRId64 " processes, %" PRIu32 " vanished; %" PRId64
		      " open files, %" PRIu32 " vanished", mv[MIRROR_STAT_PROCESSES_ROWS], swept,
		      mv[MIRROR_STAT_FILES_ROWS], mirror_files_swept(in->m));
	return 0;
}

/* ---- session ------------------------------------------------------------------- */

int intake_new(const struct intake_config *cfg, struct intake **out)
{
	struct intake *in = calloc(1, sizeof(*in));

	*out = NULL;
	if (!in)
		return -ENOMEM;
	in->cfg = *cfg;
	in->m = cfg->mirror;
	if (reorder_new(0, &in->ro)) {
		free(in);
		return -ENOMEM;
	}
	mirror_set_orphan_handler(in->m, on_orphan, in);
	publish(in);
	*out = in;
	return 0;
}

void intake_free(struct intake *in)
{
	if (!in)
		return;
	mirror_set_orphan_handler(in->m, NULL, NULL);
	reorder_free(in->ro);
	free(in->cpus);
	free(in->orph);
	free(in);
}

int intake_attach(struct intake *in, uint64_t now_ns)
{
	struct kernel_stats ks;
	int rc;

	in->now = now_ns;
	mirror_set_now(in->m, now_ns);
	rc = in->cfg.ops->get_stats(in->cfg.ops_arg, &ks);
	if (rc)
		return rc;
	if (ks.version != DBOS_GENL_VERSION) {
		logf_(in, "dbos module instance %016" PRIx64 " speaks protocol version %" PRIu32
		      ", this dbosd speaks %d: not attaching (load a matching module)",
		      ks.instance, ks.version, DBOS_GENL_VERSION);
		return -EPROTO;
	}
	if (in->cfg.ops->set_filter) {
		static const struct kernel_filter all = { .kinds = DBOS_FILE_KINDS_ALL };

		rc = in->cfg.ops->set_filter(in->cfg.ops_arg, in->cfg.filter ? in->cfg.filter : &all);
		if (rc) {
			logf_(in, "dbos module instance %016" PRIx64 " refused the file filter: %s"
			      " (not attaching)", ks.instance, strerror(-rc));
			return rc;
		}
	}
	release_all(in);
	reorder_reset(in->ro, (uint32_t)ks.v[DBOS_STATS_NR_CPUS]);
	set_instance(in, ks.instance);
	set_kstats(in, &ks);
	reset_baselines(in);
	in->attached = true;
	in->norph = 0;
	in->next_stats = now_ns + INTAKE_STATS_PERIOD_NS;
	resync(in, now_ns, true);
	publish(in);
	return 0;
}

void intake_detach(struct intake *in)
{
	char *err = NULL;

	if (in->attached)
		logf_(in, "detached from dbos module instance %016" PRIx64
		      "; serving the stored state", in->instance);
	in->attached = false;
	in->need_resync = false;
	in->norph = 0;
	in->have_kbase = false;
	reset_baselines(in);
	release_all(in);
	if (mirror_commit(in->m, &err)) {
		logf_(in, "store write failed: %s", err ? err : "?");
		free(err);
	}
	publish(in);
}

bool intake_attached(const struct intake *in)
{
	return in->attached;
}

void intake_overrun(struct intake *in)
{
	in->c[INTAKE_STAT_OVERRUNS]++;
	if (!in->need_resync)
		logf_(in, "event socket overrun (ENOBUFS): re-syncing");
	/* Whole messages are gone: the holes they leave are not new losses. */
	reset_baselines(in);
	request_resync(in);
}

bool intake_resync_requested(const struct intake *in)
{
	return in->need_resync;
}

int intake_flush(struct intake *in, uint64_t now_ns)
{
	char *err = NULL;
	int rc = 0;

	in->now = now_ns;
	mirror_set_now(in->m, now_ns);
	if (in->need_resync && now_ns >= in->resync_not_before)
		resync(in, now_ns, false);
	if (in->norph && !in->need_resync)
		query_orphans(in, now_ns);
	if (mirror_commit(in->m, &err)) {
		if (!in->commit_failing)
			logf_(in, "store write failed: %s (keeping the batch, retrying)", err ? err : "?");
		in->commit_failing = true;
		free(err);
		rc = -1;
	} else {
		if (in->commit_failing)
			logf_(in, "store writes succeed again");
		in->commit_failing = false;
	}
	publish(in);
	return rc;
}

static int poll_stats(struct intake *in)
{
	struct kernel_stats ks;
	int rc = in->cfg.ops->get_stats(in->cfg.ops_arg, &ks);

	if (rc)
		return rc;
	if (ks.instance != in->instance)
		return -ESTALE;
	/*
	 * Records that reached no listener while this one is attached are lost
	 * to it too (its socket overran or filtered them): UNHEARD counts as a
	 * loss like DROPPED (the event socket asks for NETLINK_BROADCAST_ERROR,
	 * so an overrun of it is SEND_FAILED; UNHEARD covers the rest).
	 */
	if (in->have_kbase &&
	    (ks.v[DBOS_STATS_DROPPED] > in->kbase.v[DBOS_STATS_DROPPED] ||
	     ks.v[DBOS_STATS_SEND_FAILED] > in->kbase.v[DBOS_STATS_SEND_FAILED] ||
	     ks.v[DBOS_STATS_UNHEARD] > in->kbase.v[DBOS_STATS_UNHEARD] ||
	     ks.v[DBOS_STATS_MISSED] > in->kbase.v[DBOS_STATS_MISSED])) {
		if (!in->need_resync)
			logf_(in, "kernel dropped %" PRIu64 ", failed to send %" PRIu64
			      ", sent to nobody %" PRIu64 " and missed %" PRIu64
			      " records since the last check: re-syncing",
			      ks.v[DBOS_STATS_DROPPED] - in->kbase.v[DBOS_STATS_DROPPED],
			      ks.v[DBOS_STATS_SEND_FAILED] - in->kbase.v[DBOS_STATS_SEND_FAILED],
			      ks.v[DBOS_STATS_UNHEARD] - in->kbase.v[DBOS_STATS_UNHEARD],
			      ks.v[DBOS_STATS_MISSED] - in->kbase.v[DBOS_STATS_MISSED]);
		request_resync(in);
	}
	set_kstats(in, &ks);
	return 0;
}

int intake_tick(struct intake *in, uint64_t now_ns)
{
	int rc = 0;

	in->now = now_ns;
	mirror_set_now(in->m, now_ns);
	if (in->attached && now_ns >= in->next_stats) {
		in->next_stats = now_ns + INTAKE_STATS_PERIOD_NS;
		rc = poll_stats(in);
	}
	if (now_ns >= in->next_prune) {
		in->next_prune = now_ns + INTAKE_STATS_PERIOD_NS;
		mirror_prune(in->m, INTAKE_PRUNE_TTL_NS);
	}
	if (rc == 0)
		intake_flush(in, now_ns);
	else
		publish(in);
	return rc;
}

uint64_t intake_next_deadline(const struct intake *in)
{
	uint64_t t = in->next_prune;

	if (in->attached && in->next_stats < t)
		t = in->next_stats;
	if (in->need_resync && in->resync_not_before < t)
		t = in->resync_not_before;
	for (size_t i = 0; i < in->norph; i++)
		if (in->orph[i].due < t)
			t = in->orph[i].due;
	return t;
}

void intake_stats_read(const struct intake *in, int64_t vals[INTAKE_STAT__COUNT])
{
	for (int i = 0; i < INTAKE_STAT__COUNT; i++)
		vals[i] = atomic_load_explicit(&in->pub[i], memory_order_relaxed);
}
