// SPDX-License-Identifier: GPL-2.0
/*
 * shared.c - fd tables shared by more than one process (CLONE_FILES without
 * CLONE_THREAD): which processes use each, so that an fd hook records an
 * open or close once for every process that sees it.
 *
 * A hash of entries, one per shared table, keyed by the files_struct's
 * address (compared, never dereferenced). A process joins its parent's entry
 * at fork, and leaves at its group's exit. A member that stopped using the
 * table (exec, unshare(CLONE_FILES)) stays listed until then but is skipped:
 * dbos_shared_each() checks each member's leader still uses the table.
 *
 * Order: the fd hooks record an open or close, for current and then for
 * every member, under the table's file_lock. The fork hook holds the same
 * lock from the child's joining to its FORK record's seq, and the exit hook
 * from the EXIT record's seq to the leaving (dbos_shared_with(),
 * dbos_shared_leaving()). So an fd record either comes wholly before the
 * FORK (the parent, current or a member, has it, and the server gives the
 * child the parent's rows older than the FORK) or lists the child; and
 * either comes wholly before the EXIT (the server drops the rows at the
 * EXIT) or no longer lists the process. Without the lock, a hook that read
 * the members just before a child joined could take its parent's record's
 * seq after the child's FORK: the child never had the fd (seen once in 33
 * runs of test_files).
 *
 * Locking: dbos_shared_lock serializes changes (fork and exit tracepoints,
 * process context; taken inside a table's file_lock); the fd hooks read
 * under RCU. A member never moves in
 * its entry (a reader walking it cannot skip one): a process that leaves
 * zeroes its slot, a new one takes a free slot or the next one, published
 * with a release store of @n. Entries are freed after a grace period
 * (kfree_rcu). dbos_shared_count is the number of entries: with none (the
 * usual case) the hooks skip the lookup after one read.
 */

#include "shared.h"

#include <linux/atomic.h>
#include <linux/hashtable.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#define DBOS_SHARED_BITS	6
#define DBOS_SHARED_MAX		16	/* processes listed per table (see @full) */

/**
 * struct dbos_shared - one fd table used by more than one process
 * @node: in dbos_shared_tab
 * @rcu: for kfree_rcu()
 * @files: the table (a key: never dereferenced)
 * @full: a process that uses the table could not be listed: every record of
 *	the table counts as missed from then on, so the server re-syncs (the
 *	dump lists every process's fds) until the table is gone
 * @n: slots of @tgid ever used (only grows)
 * @tgid: the processes that use it (or used it: see dbos_shared_each()); 0: free
 */
struct dbos_shared {
	struct hlist_node node;
	struct rcu_head rcu;
	const struct files_struct *files;
	bool full;
	u32 n;
	pid_t tgid[DBOS_SHARED_MAX];
};

static DEFINE_HASHTABLE(dbos_shared_tab, DBOS_SHARED_BITS);
static DEFINE_SPINLOCK(dbos_shared_lock);
static atomic_t dbos_shared_count = ATOMIC_INIT(0);
static atomic64_t dbos_shared_lost = ATOMIC64_INIT(0);

/* The entry of @files, under RCU or dbos_shared_lock; NULL when none. */
static struct dbos_shared *dbos_shared_find(const struct files_struct *files)
{
	struct dbos_shared *s;

	hash_for_each_possible_rcu(dbos_shared_tab, s, node, (unsigned long)files,
				   lockdep_is_held(&dbos_shared_lock))
		if (s->files == files)
			return s;
	return NULL;
}

/* Does the process @tgid use @files now? Under RCU. */
static bool dbos_shared_uses(pid_t tgid, const struct files_struct *files)
{
	struct task_struct *t = pid_task(find_pid_ns(tgid, &init_pid_ns), PIDTYPE_TGID);

	return t && READ_ONCE(t->files) == files;
}

/* Members of @s. Under the lock. */
static u32 dbos_shared_members(const struct dbos_shared *s)
{
	u32 i, m = 0;

	for (i = 0; i < s->n; i++)
		m += s->tgid[i] != 0;
	return m;
}

/* Frees @s once fewer than two processes use it. Under the lock. */
static void dbos_shared_put(struct dbos_shared *s)
{
	if (dbos_shared_members(s) < 2) {
		hash_del_rcu(&s->node);
		atomic_dec(&dbos_shared_count);
		kfree_rcu(s, rcu);
	}
}

/* Lists @tgid in a free slot of @s; false when it is full. Under the lock. */
static bool dbos_shared_add(struct dbos_shared *s, pid_t tgid)
{
	u32 i;

	for (i = 0; i < s->n; i++)
		if (!s->tgid[i]) {
			WRITE_ONCE(s->tgid[i], tgid);
			return true;
		}
	if (s->n == DBOS_SHARED_MAX)
		return false;
	s->tgid[s->n] = tgid;
	smp_store_release(&s->n, s->n + 1);	/* the slot before the count */
	return true;
}

/**
 * dbos_shared_with - the fd table @child (a new task) shares with @parent as
 * another process (CLONE_FILES without CLONE_THREAD), or NULL
 *
 * The fork hook holds its file_lock from dbos_shared_fork() to the FORK
 * record (see the top of this file).
 */
struct files_struct *dbos_shared_with(struct task_struct *parent, struct task_struct *child)
{
	/* kthreadd gives every kernel thread its own table: none to follow */
	if (!child->files || child->files != parent->files || same_thread_group(parent, child) ||
	    (child->flags & PF_KTHREAD))
		return NULL;
	return child->files;
}

/**
 * dbos_shared_fork - @child (a new process) shares @parent's fd table
 *
 * From the fork tracepoint, before the FORK record, under the table's
 * file_lock (dbos_shared_with()). Members that no longer use the table make
 * room first. No memory, or a full entry: the child's records would be
 * missing, which is loss: counted (DBOS_STATS_MISSED), so the server
 * re-syncs; a full entry goes on counting (@full).
 */
void dbos_shared_fork(struct task_struct *parent, struct task_struct *child)
{
	const struct files_struct *files = dbos_shared_with(parent, child);
	struct dbos_shared *s, *fresh;
	u32 i;

	if (!files)
		return;
	fresh = kzalloc(sizeof(*fresh), GFP_NOWAIT | __GFP_NOWARN);
	spin_lock(&dbos_shared_lock);
	s = dbos_shared_find(files);
	if (!s) {
		if (!fresh)
			goto lost;
		s = fresh;
		fresh = NULL;
		s->files = files;
		s->tgid[0] = parent->tgid;
		s->n = 1;
		hash_add_rcu(dbos_shared_tab, &s->node, (unsigned long)files);
		atomic_inc(&dbos_shared_count);
	}
	/* s is listed: a reader that sees the child sees it whole */
	if (!dbos_shared_add(s, child->tgid)) {
		/* make room: members that no longer use the table */
		rcu_read_lock();
		for (i = 0; i < s->n; i++)
			if (s->tgid[i] && !dbos_shared_uses(s->tgid[i], files))
				WRITE_ONCE(s->tgid[i], 0);
		rcu_read_unlock();
		if (!dbos_shared_add(s, child->tgid)) {
			WRITE_ONCE(s->full, true);
			goto lost;
		}
	}
	spin_unlock(&dbos_shared_lock);
	kfree(fresh);
	return;
lost:
	spin_unlock(&dbos_shared_lock);
	kfree(fresh);
	atomic64_inc(&dbos_shared_lost);
}

/**
 * dbos_shared_leaving - the fd table whose hooks may still record for
 * @task (current, its group's last thread, exiting), or NULL
 *
 * Its table now: a table it used before (exec, unshare) no longer records
 * for it (dbos_shared_each() checks). NULL when no table is shared: then
 * @task is listed nowhere (an entry lives as long as two members). The exit
 * hook holds its file_lock from the EXIT record to dbos_shared_exit().
 */
struct files_struct *dbos_shared_leaving(struct task_struct *task)
{
	return atomic_read(&dbos_shared_count) ? task->files : NULL;
}

/**
 * dbos_shared_exit - @task's process is gone: it leaves every entry
 *
 * From the exit tracepoint of its group's last thread, under the file_lock
 * of dbos_shared_leaving()'s table. Its fd table may be another one by now
 * (exec, unshare): every entry is looked at, and there are few (only tables
 * shared across processes).
 */
void dbos_shared_exit(struct task_struct *task)
{
	struct hlist_node *tmp;
	struct dbos_shared *s;
	int bkt;
	u32 i;

	if (!atomic_read(&dbos_shared_count))
		return;
	spin_lock(&dbos_shared_lock);
	hash_for_each_safe(dbos_shared_tab, bkt, tmp, s, node)
		for (i = 0; i < s->n; i++)
			if (s->tgid[i] == task->tgid) {
				WRITE_ONCE(s->tgid[i], 0);
				dbos_shared_put(s);
				break;
			}
	spin_unlock(&dbos_shared_lock);
}

/**
 * dbos_shared_each - @fn for every other process that uses @files now
 * @files: current's fd table
 * @fn: called with each such process's tgid (not current's), in atomic
 *	context, under RCU
 * @arg: for @fn
 *
 * Any context the fd hooks run in. Nothing when @files is current's alone.
 */
void dbos_shared_each(const struct files_struct *files,
		      void (*fn)(pid_t tgid, void *arg), void *arg)
{
	struct dbos_shared *s;
	u32 i;

	if (!atomic_read(&dbos_shared_count))
		return;
	rcu_read_lock();
	s = dbos_shared_find(files);
	if (s) {
		u32 n = smp_load_acquire(&s->n);	/* pairs with dbos_shared_add() */

		if (READ_ONCE(s->full))
			atomic64_inc(&dbos_shared_lost);
		for (i = 0; i < n; i++) {
			pid_t tgid = READ_ONCE(s->tgid[i]);

			if (tgid && tgid != current->tgid &&
			    dbos_shared_uses(tgid, files))
				fn(tgid, arg);
		}
	}
	rcu_read_unlock();
}

/* Processes that could not be listed with the table they share: DBOS_STATS_MISSED. */
u64 dbos_shared_missed(void)
{
	return atomic64_read(&dbos_shared_lost);
}

/* Frees every entry; the hooks that use them are gone. */
void dbos_shared_uninit(void)
{
	struct hlist_node *tmp;
	struct dbos_shared *s;
	int bkt;

	spin_lock(&dbos_shared_lock);
	hash_for_each_safe(dbos_shared_tab, bkt, tmp, s, node) {
		hash_del_rcu(&s->node);
		kfree_rcu(s, rcu);
	}
	atomic_set(&dbos_shared_count, 0);
	spin_unlock(&dbos_shared_lock);
	rcu_barrier();	/* every kfree_rcu() done before the module's text goes */
}
