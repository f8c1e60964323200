// SPDX-License-Identifier: GPL-2.0
/*
 * schedrules.c - DBOS_CMD_SCHED_RULES: scheduling rules the module keeps true
 * at activation, exec, comm change and credential change.
 *
 * A rule set is immutable once built (struct dbos_sruleset). Stage parses and
 * checks one and keeps it as dbos_srules_staged; activate makes the staged one
 * dbos_srules_live, then walks every process and applies the first matching
 * term. The hooks (hooks.c) call dbos_srules_event(): with a live set they
 * queue a task_work on current, which runs before the task returns to user
 * mode, in process context, and applies the first matching term to current's
 * thread group.
 *
 * Locking and lifetimes:
 * - dbos_srules_mutex serializes stage and activate (the genl family is
 *   parallel_ops), and guards dbos_srules_staged and writers of
 *   dbos_srules_live. An activation's walk runs under it.
 * - dbos_srules_live is RCU-protected. Readers (task works) take a reference
 *   (dbos_sruleset.ref) under rcu_read_lock() and use the set outside it, as
 *   the changes may sleep. A writer unpublishes a set, waits for a grace
 *   period, then drops the reference the pointer held: after that nobody can
 *   take a new one, and the last holder frees the set.
 * - dbos_srules_pending counts queued task works. Unload unregisters the hooks
 *   (no new works), then waits on dbos_srules_wq for the count to reach 0.
 *   A work's last act is that wake-up; only its return instruction runs in
 *   module text after it (the same narrow window as any module that counts
 *   its own callbacks; the rest of the unload and free_module()'s grace
 *   period come first).
 * - The changes themselves are serialized by the scheduler's own locks; a
 *   rule's change is not ordered against a concurrent SCHED_SET (the later
 *   one wins).
 * The hooks only allocate with GFP_ATOMIC and never sleep.
 */

#include "schedrules.h"
#include "genl.h"
#include "policy.h"
#include "record.h"
#include "sched.h"
#include "dbos_uapi.h"

#include <linux/bsearch.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/task_work.h>
#include <linux/wait.h>
#include <net/genetlink.h>
#include <net/netlink.h>

/* One string value: exact, or (EXE only) a prefix. */
struct dbos_sstr {
	char *s;
	u32 len;
	bool prefix;
};

/* One MATCH: @field equals one of the values (or, @negate, none does). */
struct dbos_smatch {
	u32 field;
	bool negate;
	u32 n;
	u32 *ints;		/* PID, UID, EUID, GID: sorted */
	struct dbos_sstr *strs;	/* NAME, EXE */
};

/* One term: the rule's values, applied when every match holds. */
struct dbos_sterm {
	u32 rule_id;
	struct dbos_sched_vals vals;
	u32 nmatch;
	struct dbos_smatch *match;
};

/**
 * struct dbos_sruleset - an immutable rule set
 * @ref: the holders: the staged or live pointer, a walk, a task work
 * @version: the server's version
 * @need_exe: some term matches on EXE (only then is a path looked up)
 * @nterms: number of @terms, in the order they apply
 */
struct dbos_sruleset {
	refcount_t ref;
	u64 version;
	bool need_exe;
	u32 nterms;
	struct dbos_sterm *terms;
};

/* What a term is matched against. */
struct dbos_sctx {
	u32 pid, uid, euid, gid;
	char comm[TASK_COMM_LEN];
	const char *exe;	/* NULL: no executable path */
	u32 exe_len;
	char *buf;		/* kmalloc'd d_path() buffer, or NULL */
};

/* A queued task work: why, and for COMM the name that was set. */
struct dbos_swork {
	struct callback_head cb;
	u32 cause;
	bool has_comm;
	char comm[TASK_COMM_LEN];
};

struct dbos_sruleset __rcu *dbos_srules_live;
static struct dbos_sruleset *dbos_srules_staged;
static DEFINE_MUTEX(dbos_srules_mutex);
static atomic_t dbos_srules_pending = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(dbos_srules_wq);

static void dbos_sruleset_free(struct dbos_sruleset *rs)
{
	u32 i, j, k;

	for (i = 0; i < rs->nterms; i++) {
		struct dbos_sterm *t = &rs->terms[i];

		free_cpumask_var(t->vals.cpus);
		for (j = 0; t->match && j < t->nmatch; j++) {
			struct dbos_smatch *m = &t->match[j];

			kvfree(m->ints);
			for (k = 0; m->strs && k < m->n; k++)
				kfree(m->strs[k].s);
			kvfree(m->strs);
		}
		kfree(t->match);
	}
	kvfree(rs->terms);
	kfree(rs);
}

static void dbos_sruleset_put(struct dbos_sruleset *rs)
{
	if (rs && refcount_dec_and_test(&rs->ref))
		dbos_sruleset_free(rs);
}

/* The live set, referenced; NULL when there is none. */
static struct dbos_sruleset *dbos_srules_get_live(void)
{
	struct dbos_sruleset *rs;

	rcu_read_lock();
	rs = rcu_dereference(dbos_srules_live);
	if (rs && !refcount_inc_not_zero(&rs->ref))
		rs = NULL;
	rcu_read_unlock();
	return rs;
}

/* ---------------------------------------------------------------------- */
/* Parsing                                                                 */

static int dbos_u32_cmp(const void *a, const void *b)
{
	u32 x = *(const u32 *)a, y = *(const u32 *)b;

	return x < y ? -1 : x > y;
}

static bool dbos_field_is_int(u32 field)
{
	return field == DBOS_SCHED_F_PID || field == DBOS_SCHED_F_UID ||
	       field == DBOS_SCHED_F_EUID || field == DBOS_SCHED_F_GID;
}

/*
 * The values of one MATCH into @m (m->field set). *@total counts the values
 * of the whole set. Return: NULL, or why not (a literal); *@bad the culprit.
 */
static const char *dbos_values_parse(struct dbos_smatch *m, struct nlattr *values,
				     u32 *total, struct nlattr **bad)
{
	bool is_int = dbos_field_is_int(m->field);
	struct nlattr *a;
	u32 n = 0, i = 0;
	int rem;

	*bad = values;
	nla_for_each_nested(a, values, rem)
		n++;
	if (n > DBOS_SCHED_VALUES_MAX - *total)
		return "term: more than DBOS_SCHED_VALUES_MAX values in the rule set";
	*total += n;
	if (!n)
		return NULL;
	if (is_int)
		m->ints = kvmalloc_array(n, sizeof(*m->ints), GFP_KERNEL | __GFP_ZERO);
	else
		m->strs = kvmalloc_array(n, sizeof(*m->strs), GFP_KERNEL | __GFP_ZERO);
	if (!m->ints && !m->strs)
		return ERR_PTR(-ENOMEM);

	nla_for_each_nested(a, values, rem) {
		int type = nla_type(a);
		u32 len;

		*bad = a;
		if (is_int) {
			if (type != DBOS_A_SCHED_INT)
				return "term: PID, UID, EUID and GID take DBOS_A_SCHED_INT values only";
			m->ints[i++] = nla_get_u32(a);
			m->n = i;
			continue;
		}
		if (type == DBOS_A_SCHED_INT)
			return "term: NAME and EXE take string values";
		if (type == DBOS_A_SCHED_PREFIX && m->field != DBOS_SCHED_F_EXE)
			return "term: DBOS_A_SCHED_PREFIX goes with EXE only";
		len = strnlen(nla_data(a), nla_len(a));
		if (!len)
			return "term: empty string value";
		if (m->field == DBOS_SCHED_F_NAME && len >= TASK_COMM_LEN)
			return "term: NAME values are 1 to 15 bytes";
		m->strs[i].s = kmemdup_nul(nla_data(a), len, GFP_KERNEL);
		if (!m->strs[i].s)
			return ERR_PTR(-ENOMEM);
		m->strs[i].len = len;
		m->strs[i].prefix = type == DBOS_A_SCHED_PREFIX;
		m->n = ++i;
	}
	if (is_int)
		sort(m->ints, n, sizeof(*m->ints), dbos_u32_cmp, NULL);
	return NULL;
}

/* One MATCH nest (validated by dbos_policy_sched_match) into @m. */
static const char *dbos_match_parse(struct dbos_sruleset *rs, struct dbos_smatch *m,
				    struct nlattr *nest, u32 *total,
				    struct nlattr **bad)
{
	struct nlattr *tb[DBOS_A_MAX + 1];

	*bad = nest;
	if (nla_parse_nested(tb, DBOS_A_MAX, nest, dbos_policy_sched_match, NULL))
		return "term: malformed DBOS_A_SCHED_MATCH";
	if (!tb[DBOS_A_SCHED_FIELD])
		return "term: DBOS_A_SCHED_MATCH without DBOS_A_SCHED_FIELD";
	if (!tb[DBOS_A_SCHED_VALUES])
		return "term: DBOS_A_SCHED_MATCH without DBOS_A_SCHED_VALUES";
	m->field = nla_get_u32(tb[DBOS_A_SCHED_FIELD]);
	m->negate = nla_get_flag(tb[DBOS_A_SCHED_NEGATE]);
	if (m->field == DBOS_SCHED_F_EXE)
		rs->need_exe = true;
	return dbos_values_parse(m, tb[DBOS_A_SCHED_VALUES], total, bad);
}

/* One TERM nest into @t. */
static const char *dbos_term_parse(struct dbos_sruleset *rs, struct dbos_sterm *t,
				   struct nlattr *nest, u32 *total,
				   struct nlattr **bad)
{
	struct nlattr *tb[DBOS_A_MAX + 1], *a;
	const char *why;
	int rem, n = 0;

	*bad = nest;
	if (nla_parse_nested(tb, DBOS_A_MAX, nest, dbos_policy_sched_term, NULL))
		return "term: malformed DBOS_A_SCHED_TERM";
	if (!tb[DBOS_A_SCHED_RULE_ID])
		return "term without DBOS_A_SCHED_RULE_ID";
	t->rule_id = nla_get_u32(tb[DBOS_A_SCHED_RULE_ID]);
	why = dbos_sched_vals_parse(tb, &t->vals);
	if (why)
		return why;

	nla_for_each_nested(a, nest, rem)
		if (nla_type(a) == DBOS_A_SCHED_MATCH)
			n++;
	if (n > DBOS_SCHED_MATCH_MAX)
		return "term: more than DBOS_SCHED_MATCH_MAX matches";
	if (!n)
		return NULL;
	t->match = kcalloc(n, sizeof(*t->match), GFP_KERNEL);
	if (!t->match)
		return ERR_PTR(-ENOMEM);
	nla_for_each_nested(a, nest, rem) {
		if (nla_type(a) != DBOS_A_SCHED_MATCH)
			continue;
		why = dbos_match_parse(rs, &t->match[t->nmatch++], a, total, bad);
		if (why)
			return why;
	}
	return NULL;
}

/* Build a rule set from a stage request; ERR_PTR on a bad one. */
static struct dbos_sruleset *dbos_sruleset_parse(struct genl_info *info)
{
	struct nlattr *rules = info->attrs[DBOS_A_SCHED_RULES], *a, *bad = NULL;
	struct dbos_sruleset *rs;
	const char *why = NULL;
	u32 n = 0, total = 0;
	int rem;

	if (rules)
		nla_for_each_nested(a, rules, rem)
			n++;
	if (n > DBOS_SCHED_TERMS_MAX) {
		NL_SET_ERR_MSG_ATTR(info->extack, rules,
				    "more than DBOS_SCHED_TERMS_MAX terms");
		return ERR_PTR(-EINVAL);
	}
	rs = kzalloc(sizeof(*rs), GFP_KERNEL);
	if (!rs)
		return ERR_PTR(-ENOMEM);
	refcount_set(&rs->ref, 1);
	rs->version = nla_get_u64(info->attrs[DBOS_A_SCHED_VERSION]);
	if (n) {
		rs->terms = kvcalloc(n, sizeof(*rs->terms), GFP_KERNEL);
		if (!rs->terms)
			goto nomem;
	}
	/* Allocate every term's mask first: the free path then sees them all. */
	for (rs->nterms = 0; rs->nterms < n; rs->nterms++)
		if (!zalloc_cpumask_var(&rs->terms[rs->nterms].vals.cpus,
					GFP_KERNEL))
			goto nomem;
	n = 0;
	if (rules) {
		nla_for_each_nested(a, rules, rem) {
			why = dbos_term_parse(rs, &rs->terms[n++], a, &total, &bad);
			if (why)
				break;
		}
	}
	if (IS_ERR(why))
		goto nomem;
	if (why) {
		/* @why is always a string literal: static storage, as extack wants. */
		NL_SET_BAD_ATTR(info->extack, bad);
		if (info->extack)
			info->extack->_msg = why;
		dbos_sruleset_free(rs);
		return ERR_PTR(-EINVAL);
	}
	return rs;

nomem:
	dbos_sruleset_free(rs);
	NL_SET_ERR_MSG(info->extack, "out of memory");
	return ERR_PTR(-ENOMEM);
}

/* ---------------------------------------------------------------------- */
/* Matching and applying                                                   */

static bool dbos_smatch_holds(const struct dbos_smatch *m,
			      const struct dbos_sctx *c)
{
	const char *s = NULL;
	bool hit = false;
	u32 v = 0, len = 0, i;

	switch (m->field) {
	case DBOS_SCHED_F_PID:
		v = c->pid;
		break;
	case DBOS_SCHED_F_UID:
		v = c->uid;
		break;
	case DBOS_SCHED_F_EUID:
		v = c->euid;
		break;
	case DBOS_SCHED_F_GID:
		v = c->gid;
		break;
	case DBOS_SCHED_F_NAME:
		s = c->comm;
		len = strlen(c->comm);
		break;
	case DBOS_SCHED_F_EXE:
		s = c->exe;
		len = c->exe_len;
		break;
	}
	if (m->ints) {
		hit = bsearch(&v, m->ints, m->n, sizeof(*m->ints), dbos_u32_cmp);
	} else if (s) {
		for (i = 0; i < m->n && !hit; i++) {
			const struct dbos_sstr *p = &m->strs[i];

			hit = p->prefix ? len >= p->len && !memcmp(s, p->s, p->len) :
					  len == p->len && !memcmp(s, p->s, len);
		}
	}
	return hit != m->negate;
}

/* The first term whose every match holds for @c, or NULL. */
static const struct dbos_sterm *dbos_sterm_find(const struct dbos_sruleset *rs,
					       const struct dbos_sctx *c)
{
	u32 i, j;

	for (i = 0; i < rs->nterms; i++) {
		const struct dbos_sterm *t = &rs->terms[i];

		for (j = 0; j < t->nmatch; j++)
			if (!dbos_smatch_holds(&t->match[j], c))
				break;
		if (j == t->nmatch)
			return t;
	}
	return NULL;
}

/*
 * What @task (current, or a referenced leader) is matched against; @comm
 * replaces its name when not NULL. -ESRCH when it has no executable and the
 * set needs one. Process context; sleeps.
 */
static int dbos_sctx_fill(struct dbos_sctx *c, struct task_struct *task,
			  const char *comm, bool need_exe)
{
	const struct cred *cred;
	struct mm_struct *mm;
	struct file *exe;
	char *p;

	memset(c, 0, sizeof(*c));
	rcu_read_lock();
	cred = __task_cred(task);
	c->pid = task_tgid_nr(task);
	c->uid = from_kuid_munged(&init_user_ns, cred->uid);
	c->euid = from_kuid_munged(&init_user_ns, cred->euid);
	c->gid = from_kgid_munged(&init_user_ns, cred->gid);
	rcu_read_unlock();
	if (comm)
		strscpy(c->comm, comm, sizeof(c->comm));
	else
		get_task_comm(c->comm, task);
	if (!need_exe)
		return 0;

	mm = get_task_mm(task);
	if (!mm)
		return -ESRCH;
	exe = dbos_mm_exe_file(mm);
	mmput(mm);
	if (!exe)
		return -ESRCH;
	c->buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (c->buf) {
		p = d_path(&exe->f_path, c->buf, PATH_MAX);
		if (!IS_ERR(p)) {
			c->exe = p;
			c->exe_len = c->buf + PATH_MAX - 1 - p;
		}
	}
	fput(exe);
	return c->buf ? 0 : -ENOMEM;
}

/*
 * Match @task (current, or @leader itself) against @rs and apply the first
 * matching term to @leader's group if it differs; one SCHED record per
 * change. Process context; sleeps.
 */
static void dbos_srules_check(const struct dbos_sruleset *rs,
			      struct task_struct *task,
			      struct task_struct *leader, u32 cause,
			      const char *comm)
{
	const struct dbos_sterm *t;
	struct dbos_sctx c;
	int ret;

	ret = dbos_sctx_fill(&c, task, comm, rs->need_exe);
	if (ret) {
		if (ret != -ESRCH)
			atomic64_inc(&dbos_sched_failed);
		goto out;
	}
	t = dbos_sterm_find(rs, &c);
	if (!t || dbos_sched_group_has(leader, &t->vals))
		goto out;
	if (dbos_sched_apply_group(leader, &t->vals)) {
		atomic64_inc(&dbos_sched_failed);
		goto out;
	}
	atomic64_inc(&dbos_sched_applied);
	dbos_sched_report(leader, cause, t->rule_id);
out:
	kfree(c.buf);
}

/* Activation: every user process, checked against @rs. */
static void dbos_srules_walk(const struct dbos_sruleset *rs)
{
	unsigned long next = 1;
	struct task_struct *task;

	while ((task = dbos_next_tgid(&next))) {
		if (!(task->flags & (PF_KTHREAD | PF_EXITING)))
			dbos_srules_check(rs, task, task,
					  DBOS_SCHED_RULE_COMMIT, NULL);
		put_task_struct(task);
		cond_resched();
	}
}

/* The task work: current is about to return to user mode. */
static void dbos_srules_work(struct callback_head *cb)
{
	struct dbos_swork *w = container_of(cb, struct dbos_swork, cb);
	struct task_struct *leader;
	struct dbos_sruleset *rs;

	if (!(current->flags & PF_EXITING)) {
		rs = dbos_srules_get_live();
		if (rs) {
			leader = current->group_leader;
			get_task_struct(leader);
			dbos_srules_check(rs, current, leader, w->cause,
					  w->has_comm ? w->comm : NULL);
			put_task_struct(leader);
			dbos_sruleset_put(rs);
		}
	}
	kfree(w);
	/* Last: unload may proceed once this reaches 0 (see the top). */
	if (atomic_dec_and_test(&dbos_srules_pending))
		wake_up(&dbos_srules_wq);
}

/**
 * dbos_srules_queue - check current against the live rules before it returns
 * @cause: DBOS_SCHED_RULE_EXEC, _COMM or _CRED
 * @task: the task the event is about; nothing is done unless it is in
 *	current's thread group (e.g. a kthread being named by its creator)
 * @comm: the new name (COMM), or NULL
 *
 * Any context a hook runs in: GFP_ATOMIC, no sleeping. A work that cannot be
 * queued is counted in DBOS_STATS_SCHED_FAILED.
 */
void dbos_srules_queue(u32 cause, struct task_struct *task, const char *comm)
{
	struct dbos_swork *w;

	if ((current->flags & (PF_KTHREAD | PF_EXITING)) ||
	    !same_thread_group(task, current))
		return;
	/* An exec's change of ids is left to the exec hook. */
	if (cause == DBOS_SCHED_RULE_CRED && current->in_execve)
		return;
	w = kmalloc(sizeof(*w), GFP_ATOMIC | __GFP_NOWARN);
	if (!w) {
		atomic64_inc(&dbos_sched_failed);
		return;
	}
	w->cause = cause;
	w->has_comm = comm != NULL;
	if (comm)
		strscpy_pad(w->comm, comm, sizeof(w->comm));
	init_task_work(&w->cb, dbos_srules_work);
	atomic_inc(&dbos_srules_pending);
	if (task_work_add(current, &w->cb, TWA_RESUME)) {
		kfree(w);
		atomic64_inc(&dbos_sched_failed);
		if (atomic_dec_and_test(&dbos_srules_pending))
			wake_up(&dbos_srules_wq);
	}
}

/* ---------------------------------------------------------------------- */
/* The command                                                             */

/* Make @rs (may be NULL or empty) the live set; drop the old one. */
static void dbos_srules_publish(struct dbos_sruleset *rs)
{
	struct dbos_sruleset *old;

	lockdep_assert_held(&dbos_srules_mutex);
	if (rs && !rs->nterms) {
		dbos_sruleset_put(rs);
		rs = NULL;
	}
	old = rcu_replace_pointer(dbos_srules_live, rs,
				  lockdep_is_held(&dbos_srules_mutex));
	if (old) {
		synchronize_rcu();
		dbos_sruleset_put(old);
	}
}

static int dbos_srules_activate(struct genl_info *info, u64 version)
{
	struct dbos_sruleset *rs;
	bool walk;

	if (info->attrs[DBOS_A_SCHED_RULES]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[DBOS_A_SCHED_RULES],
				    "activate takes no rules: stage them first");
		return -EINVAL;
	}
	mutex_lock(&dbos_srules_mutex);
	rs = dbos_srules_staged;
	if (!rs || rs->version != version) {
		mutex_unlock(&dbos_srules_mutex);
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[DBOS_A_SCHED_VERSION],
				    "no rule set of this version is staged");
		return -ESTALE;
	}
	dbos_srules_staged = NULL;
	walk = rs->nterms;
	if (walk)
		refcount_inc(&rs->ref);		/* the walk's */
	dbos_srules_publish(rs);		/* an empty set is freed here */
	if (walk) {
		dbos_srules_walk(rs);
		dbos_sruleset_put(rs);
	}
	mutex_unlock(&dbos_srules_mutex);
	return 0;
}

int dbos_sched_rules(struct sk_buff *skb, struct genl_info *info)
{
	struct dbos_sruleset *rs, *old;
	u64 version;
	int ret;

	ret = dbos_sched_capable(skb, info->extack);
	if (ret)
		return ret;
	if (GENL_REQ_ATTR_CHECK(info, DBOS_A_SCHED_VERSION)) {
		NL_SET_ERR_MSG(info->extack, "DBOS_A_SCHED_VERSION is required");
		return -EINVAL;
	}
	version = nla_get_u64(info->attrs[DBOS_A_SCHED_VERSION]);
	if (nla_get_flag(info->attrs[DBOS_A_SCHED_ACTIVATE]))
		return dbos_srules_activate(info, version);

	rs = dbos_sruleset_parse(info);
	if (IS_ERR(rs))
		return PTR_ERR(rs);
	mutex_lock(&dbos_srules_mutex);
	old = dbos_srules_staged;
	dbos_srules_staged = rs;
	mutex_unlock(&dbos_srules_mutex);
	dbos_sruleset_put(old);
	return 0;
}

/*
 * Wait until every queued task work has run. The hooks must be unregistered
 * already, so that no new work is queued. Works run when their task returns
 * to user mode (or exits), so this is short unless a task sits in the kernel
 * (e.g. stopped by a tracer at exec).
 */
void dbos_srules_quiesce(void)
{
	wait_event(dbos_srules_wq, !atomic_read(&dbos_srules_pending));
}

/* Drop the rule sets. No hook, work or command may run any more. */
void dbos_srules_uninit(void)
{
	mutex_lock(&dbos_srules_mutex);
	dbos_srules_publish(NULL);
	dbos_sruleset_put(dbos_srules_staged);
	dbos_srules_staged = NULL;
	mutex_unlock(&dbos_srules_mutex);
}
