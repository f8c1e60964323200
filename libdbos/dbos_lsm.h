/* SPDX-License-Identifier: (GPL-2.0 OR BSD-3-Clause) */
/*
 * dbos_lsm.h - what the BPF LSM programs (bpf/) and dbosd's policy enforcer
 * (dbserver/policy/) share: the layout of the rule maps, the generation
 * state and the decision records. Fixed-width types, explicit padding.
 *
 * How a hook decides (docs/ARCHITECTURE.md, "Security policy"):
 *
 * The server compiles every rule's condition into disjunctive normal form;
 * each conjunct becomes one bit ("term") of its hook, at most
 * DBOS_LSM_MAX_TERMS per hook. For every context field f the server stores,
 * per value v that some term mentions, the bitmap of the terms that a call
 * with f = v satisfies as far as f is concerned (values map; for paths, the
 * longest-prefix trie), and in the hook's config the bitmap for values no
 * entry mentions (dflt[f]). A call ANDs one bitmap per constrained field
 * (cfg.fields) - a fixed number of lookups, whatever the number of rules - and
 * then: if any allow term is set, the call is allowed; else if any deny term
 * is set, it fails with -EPERM and the lowest such term is reported; else if
 * any audit term is set, it is allowed and the lowest audit term is reported.
 *
 * Generations: every map that holds rules exists twice, in the two slots of
 * an ARRAY_OF_MAPS (outer maps dbos_cfgs, dbos_values, dbos_paths). A hook
 * reads dbos_state.live once and uses slot `live` of every outer map, so it
 * sees one generation whole. dbosd builds the next generation in fresh inner
 * maps in slot !live, then stores live = !live (one aligned 32-bit store,
 * the commit point). Replacing an outer slot waits for an RCU grace period,
 * so no program still reads what it replaces.
 *
 * Lineage marks (docs/ARCHITECTURE.md, "Lineage in the kernel"): a condition
 * on the caller's ancestors (pid IN (SELECT pid FROM process_ancestors WHERE
 * <condition on the ancestor>)) is decided from bits the kernel keeps on each
 * thread group (dbos_marks, BPF task storage on the group leader): `self`
 * bit m is set while the process itself satisfies mark m's condition
 * (recomputed at exec, at a rename of the leader, at a credential change),
 * and `desc` bit m while some process it descends from satisfied it when the
 * lineage forked (child.desc = parent.desc | parent.self, at fork, before the
 * child runs; reparenting changes nothing). Mark m's condition is the terms
 * of the pseudo-hook DBOS_LSM_MARK whose bits the MARKDEF entry of m holds.
 * Mark ids are stable across generations while a condition stays (its
 * MARKID entry holds a hash of its text); a commit that introduces marks
 * computes them for every existing process with the task iterator
 * (dbos_mark_walk), from the current process tree, before the flip. Marks
 * the task storage helpers refuse (busy: see DBOS_LSM_C_MARK_BUSY) are read
 * without them or kept in dbos_marks_spill until they can be written.
 */
#ifndef DBOS_LSM_H
#define DBOS_LSM_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define DBOS_LSM_ABI_VERSION	5

/* Where dbosd pins the programs' links and maps (a bpffs directory). */
#define DBOS_LSM_PIN_DIR	"/sys/fs/bpf/dbos"

#define DBOS_LSM_WORDS		16			/* __u64 words of a term bitmap */
#define DBOS_LSM_MAX_TERMS	(DBOS_LSM_WORDS * 64)	/* terms per hook: 1024 */
#define DBOS_LSM_PATH_MAX	252	/* path bytes in a trie key (incl. NUL) */
#define DBOS_LSM_VALUES_MAX	65536	/* entries of one generation's values map */
#define DBOS_LSM_PATHS_MAX	16384	/* entries of one generation's path trie */
#define DBOS_LSM_MARKS		64	/* lineage marks: bits of a process's mark words */
#define DBOS_LSM_ANCESTORS	256	/* ancestors a mark walk looks at (deeper: counted) */
/*
 * Steps (dentries and mount crossings) the programs walk up from a file to
 * the root. A longer walk does not finish: the path is unknown, and the
 * call is decided as if it matched every deny and audit path constraint
 * (DBOS_LSM_C_PATH_UNRESOLVED).
 */
#define DBOS_LSM_PATH_STEPS	4096

/* The hooks policy can name (policies.hook). */
enum dbos_lsm_hook {
	DBOS_LSM_EXEC,		/* bprm_check_security: executing a file; mmap_file and
				 * file_mprotect: mapping one executable (PROT_EXEC), but
				 * for the program the task runs (mm->exe_file) */
	DBOS_LSM_OPEN,		/* file_open: opening a file */
	DBOS_LSM_CONNECT,	/* socket_connect (not AF_UNIX); socket_sendmsg with an
				 * address (AF_INET, AF_INET6); AF_UNIX: unix_stream_connect
				 * and unix_may_send, on the socket the kernel found */
	DBOS_LSM_BIND,		/* socket_bind (AF_UNIX with a path: path_mknod of the
				 * socket file, where the kernel supports it) */
	DBOS_LSM_KILL,		/* task_kill: sending a signal */
	DBOS_LSM_HOOK__COUNT
};

/*
 * A pseudo-hook beside them, never attached: its terms are the lineage marks'
 * conditions over a process's identity (PID = its tgid, UID, EUID, GID,
 * NAME = the group leader's comm, EXE); cfg maps have DBOS_LSM_CFGS entries.
 */
#define DBOS_LSM_MARK	DBOS_LSM_HOOK__COUNT
#define DBOS_LSM_CFGS	(DBOS_LSM_HOOK__COUNT + 1)

/*
 * Context fields: what the kernel knows at the hook. Every hook has PID..CGROUP;
 * the others belong to the hooks named. Values map encoding of each field's
 * value (struct dbos_lsm_value_key.value, 16 bytes, zero-filled):
 *   integers: __u64 in host byte order in bytes 0-7
 *   NAME:     comm, NUL-padded (at most 15 characters)
 *   ADDRESS:  16 bytes of IPv6 address; IPv4 as ::ffff:a.b.c.d (v4-mapped)
 *   INODE:    i_ino (__u64) in bytes 0-7, the superblock's s_dev (__u32, the
 *             kernel's MAJOR << 20 | MINOR) in bytes 8-11, byte 12 the bitmap:
 *             DBOS_LSM_INODE_ADD or DBOS_LSM_INODE_KEEP (below)
 * PATH and EXE are matched in the trie (struct dbos_lsm_path_key), never in values.
 */
enum dbos_lsm_field {
	DBOS_LSM_F_PID,		/* caller's thread-group id */
	DBOS_LSM_F_UID,		/* caller's real uid */
	DBOS_LSM_F_EUID,	/* caller's effective uid */
	DBOS_LSM_F_GID,		/* caller's real gid */
	DBOS_LSM_F_NAME,	/* caller's comm */
	DBOS_LSM_F_CGROUP,	/* caller's cgroup v2 id (bpf_get_current_cgroup_id) */
	DBOS_LSM_F_PATH,	/* exec: the file executed or mapped; open: the file
				 * opened; connect on AF_UNIX: the path the peer socket
				 * is bound at; bind on AF_UNIX: the socket file made
				 * (abstract: '@' + name) */
	DBOS_LSM_F_MODE,	/* open: 1 read, 2 write, 3 both (f_mode & 3) */
	DBOS_LSM_F_FAMILY,	/* connect/bind: AF_INET, AF_INET6, AF_UNIX, ... */
	DBOS_LSM_F_ADDRESS,	/* connect: remote address; bind: local address (inet only) */
	DBOS_LSM_F_PORT,	/* connect: remote port; bind: local port (inet only) */
	DBOS_LSM_F_TARGET_PID,	/* kill: thread-group id of the target */
	DBOS_LSM_F_SIGNAL,	/* kill: signal number */
	DBOS_LSM_F_EXE,		/* caller's executable (current->mm->exe_file; exec: the
				 * program calling execve, not the one it loads); "" for
				 * kernel threads */
	DBOS_LSM_F_FORK,	/* not a context field, never looked up by a hook:
				 * entry {hook, FORK, P} = the PID bits a child of
				 * P gets at fork (see inherit) */
	DBOS_LSM_F_LINEAGE,	/* the caller's lineage marks (cfg.marks): entry
				 * {hook, LINEAGE, value[0] = m, value[1] = 1 or 0} =
				 * the terms that hold when the caller's desc bit m is
				 * set or clear; both exist for every m in cfg.marks */
	DBOS_LSM_F_MARKDEF,	/* MARK only, not a context field: {MARK, MARKDEF, m} =
				 * the MARK terms of mark m (self bit m: any of them holds) */
	DBOS_LSM_F_MARKID,	/* MARK only: {MARK, MARKID, m}: w[0] = the hash of mark
				 * m's condition (how dbosd keeps ids stable) */
	DBOS_LSM_F_INODE,	/* not looked up alone: with PATH (exec, open, connect),
				 * the device and inode of the file (of the peer's
				 * socket file). Exact paths of rules name the file
				 * found there too: entry INODE_ADD has the terms whose
				 * path constraints hold for a file those paths name
				 * (ORed into the PATH bitmap), entry INODE_KEEP, when
				 * some term's NOT fails for it, the terms that still
				 * hold (ANDed after) */
	DBOS_LSM_F__COUNT
};

/* Byte 12 of an INODE value: which of the file's two entries. */
#define DBOS_LSM_INODE_ADD	0
#define DBOS_LSM_INODE_KEEP	1

struct dbos_lsm_bits {
	__u64 w[DBOS_LSM_WORDS];
};

/* Inner map of dbos_cfgs: ARRAY, key __u32 hook, value this. */
struct dbos_lsm_hook_cfg {
	__u32 nwords;		/* words of every bitmap in use; 0: no rules on this hook */
	__u32 __pad;
	__u64 fields;		/* bit f: some term constrains field f: look it up */
	__u64 marks;		/* hooks: marks their terms constrain (LINEAGE);
				 * MARK: the marks this generation defines */
	struct dbos_lsm_bits allow;	/* terms of allow rules */
	struct dbos_lsm_bits deny;	/* terms of deny rules */
	struct dbos_lsm_bits audit;	/* terms of audit rules */
	/*
	 * Terms whose PID constraint is a set the server keeps (pid IN (SELECT
	 * ...)). At fork (before the child can run), for these terms the child's
	 * PID entry gets the parent's FORK entry's bits - the server's answer to
	 * "would a child of P be in the set?" - or, when the parent has no FORK
	 * entry (it was itself born since the server last looked), the parent's
	 * PID entry's bits; a FORK entry is copied to the child as it is.
	 */
	struct dbos_lsm_bits inherit;
	struct dbos_lsm_bits dflt[DBOS_LSM_F__COUNT];	/* value with no entry */
};

/* Inner map of dbos_values: HASH (BPF_F_NO_PREALLOC), this -> struct dbos_lsm_bits. */
struct dbos_lsm_value_key {
	__u8 hook;		/* enum dbos_lsm_hook */
	__u8 field;		/* enum dbos_lsm_field */
	__u8 __pad[6];
	__u8 value[16];		/* encoded as above */
};

/*
 * Inner map of dbos_paths: LPM_TRIE (BPF_F_NO_PREALLOC), this -> struct
 * dbos_lsm_bits. The data is hook, field, two zero bytes, then the path.
 * An exact path is stored with its NUL (prefixlen = (4 + len + 1) * 8), a
 * prefix ("/tmp/" from GLOB '/tmp/' followed by '*') without it
 * (prefixlen = (4 + len) * 8),
 * and every hook with a PATH constraint has a root entry (prefixlen 32) whose
 * bits are dflt[PATH]. A lookup uses prefixlen (4 + DBOS_LSM_PATH_MAX) * 8 and
 * the NUL-terminated path (zero-filled after the NUL); a longer path is cut to
 * DBOS_LSM_PATH_MAX bytes without a NUL, so only prefix rules can match it.
 */
struct dbos_lsm_path_key {
	__u32 prefixlen;
	__u8 hook;
	__u8 field;
	__u8 __pad[2];
	char path[DBOS_LSM_PATH_MAX];
};

/*
 * dbos_state: ARRAY (BPF_F_MMAPABLE), one entry. dbosd writes it through
 * mmap; programs read `live` once per call.
 */
struct dbos_lsm_state {
	__u32 live;		/* slot (0 or 1) of the live generation */
	__u32 abi;		/* DBOS_LSM_ABI_VERSION of the loaded programs */
	__u64 version[2];	/* policy version held by each slot (0: none) */
	/*
	 * Lineage marks: a slot's generation needs every process's marks to be
	 * complete for mark_epoch[slot] (struct dbos_lsm_marks.epoch >= it); a
	 * process whose marks are not is "unknown" to it (fails closed). The
	 * walk (dbos_mark_walk) completes walk_new's marks, as defined by slot
	 * walk_slot, for every process whose epoch is below walk_epoch.
	 */
	__u64 mark_epoch[2];
	__u64 walk_epoch;
	__u64 walk_new;
	__u32 walk_slot;
	__u32 __pad;
	/*
	 * Entries in dbos_marks_spill: marks the programs could not write to a
	 * process's task storage (see DBOS_LSM_C_MARK_BUSY). Only the programs
	 * write it; while it is 0 they never look there.
	 */
	__u64 spilled;
};

/* dbos_marks: TASK_STORAGE on thread-group leaders (see "Lineage marks" above). */
struct dbos_lsm_marks {
	__u64 self;		/* marks the process satisfies now */
	__u64 desc;		/* marks a process it descends from satisfied at the fork */
	__u64 epoch;		/* the bits are complete for marks of this epoch and older */
	__u64 gen;		/* + 1 at each recomputation of self (exec, rename, creds) */
	__u64 flags;		/* DBOS_LSM_MARKF_* */
};

/*
 * The process (or a process it descends from) was forked while its entry in
 * a server-side pid set could not be written (values map full, no scratch):
 * its membership is unknown, and hooks with deny rules on such sets refuse
 * its calls (DBOS_LSM_C_SET_UNKNOWN) for as long as it lives.
 */
#define DBOS_LSM_MARKF_SET_LOST	1ULL

/* dbos_counters: PERCPU_ARRAY, key enum dbos_lsm_counter, value __u64. */
enum dbos_lsm_counter {
	DBOS_LSM_C_CHECKS,	/* hook calls that looked at rules */
	DBOS_LSM_C_DENIED,	/* calls refused */
	DBOS_LSM_C_AUDITED,	/* calls allowed and reported */
	DBOS_LSM_C_LOST,	/* not reported (ring buffer full) or not made */
	DBOS_LSM_C_INHERIT_FAILED,	/* fork: child's pid-set entry could not be written */
	DBOS_LSM_C_MARK_UNKNOWN,	/* checks of a caller whose lineage marks were not
					 * known (decided as if failing closed: denied when
					 * the hook has deny rules) */
	DBOS_LSM_C_MARK_FAILED,		/* fork/exec/rename/creds: marks not recorded
					 * (storage could not be had); the process is unknown */
	DBOS_LSM_C_SET_UNKNOWN,		/* checks of a caller whose server-side pid-set
					 * membership was lost at fork (MARKF_SET_LOST): denied
					 * when the hook has deny rules (fail closed) */
	DBOS_LSM_C_PATH_UNRESOLVED,	/* a PATH or EXE a check needed was deeper than
					 * DBOS_LSM_PATH_STEPS: decided as if every deny and
					 * audit constraint on it held (fail closed) */
	DBOS_LSM_C_MARK_BUSY,		/* lineage marks the task storage helpers refused
					 * (Linux 6.1: another task on the CPU, preempted,
					 * was inside one): read from a lock-free copy or
					 * written to dbos_marks_spill, and applied later */
	DBOS_LSM_C__COUNT
};

enum dbos_lsm_verdict {
	DBOS_LSM_DENY = 1,
	DBOS_LSM_AUDIT = 2,
};

/* One decision, in the dbos_decisions RINGBUF (1 MiB). */
struct dbos_lsm_decision {
	__u64 time_ns;		/* bpf_ktime_get_boot_ns(); dbosd converts it to CLOCK_REALTIME */
	__u64 version;		/* policy version of the generation that decided */
	__u32 hook;		/* enum dbos_lsm_hook */
	__u32 term;		/* bit index of the deciding term in that generation */
	__u32 verdict;		/* enum dbos_lsm_verdict */
	__u32 pid;		/* caller tgid */
	__u32 uid;
	__u32 gid;
	__u32 target_pid;	/* kill */
	__u32 signal;		/* kill */
	__u16 family;		/* connect/bind */
	__u16 port;		/* connect/bind, host order */
	__u32 mode;		/* open */
	__u8 address[16];	/* connect/bind, as in the values map */
	char name[16];		/* caller comm */
	char path[DBOS_LSM_PATH_MAX];	/* exec/open/unix socket, NUL-terminated; "" when
					 * the walk did not finish */
	__u8 __pad[4];
};

#endif /* DBOS_LSM_H */
