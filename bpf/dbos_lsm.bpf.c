// SPDX-License-Identifier: GPL-2.0
/* dbos_lsm.bpf.c - BPF LSM programs enforcing dbosd's compiled policy from rule maps (dbos_lsm.h). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "dbos_lsm.h"

#define EPERM		1
#define AF_UNIX		1
#define AF_INET		2
#define AF_INET6	10
#define CLONE_THREAD	0x00010000
#define S_IFMT		00170000
#define S_IFSOCK	0140000
#define PROT_EXEC	0x4
#define VM_EXEC		0x00000004

/* Components kept of a walk (DBOS_LSM_PATH_STEPS steps at most). */
#define PATH_RING	128
#define NAME_MAX_COPY	255

/* v &= mask where the verifier sees it (clang drops masks it can prove redundant). */
#define BOUND(v, mask) asm volatile("%0 &= " #mask : "+r"(v))

char LICENSE[] SEC("license") = "GPL";

/*
 * Set by the loader: the kernel has the path_mknod hook (CONFIG_SECURITY_PATH)
 * and dbos_mknod is loaded, so unix binds to a path are decided there, on the
 * socket file the kernel makes, and not at socket_bind on sun_path.
 */
const volatile bool have_mknod = false;

/*
 * Inner maps (one generation each), the outer maps' templates. dbosd creates
 * each generation's maps with bpf_map_create() and no BTF, so the templates
 * have sizes, not BTF types: the kernel only accepts an inner map whose
 * metadata (BTF-derived fields included) equals the template's.
 */
struct cfg_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DBOS_LSM_CFGS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct dbos_lsm_hook_cfg));
};

struct values_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, DBOS_LSM_VALUES_MAX);
	__uint(key_size, sizeof(struct dbos_lsm_value_key));
	__uint(value_size, sizeof(struct dbos_lsm_bits));
};

struct paths_map {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, DBOS_LSM_PATHS_MAX);
	__uint(key_size, sizeof(struct dbos_lsm_path_key));
	__uint(value_size, sizeof(struct dbos_lsm_bits));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct cfg_map);
} dbos_cfgs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct values_map);
} dbos_values SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct paths_map);
} dbos_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dbos_lsm_state);
} dbos_state SEC(".maps");

/* Lineage marks of each thread group, on its leader (dbos_lsm.h, "Lineage marks"). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct dbos_lsm_marks);
} dbos_marks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DBOS_LSM_C__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} dbos_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} dbos_decisions SEC(".maps");

/*
 * What a hook knows about the call, built in per-CPU scratch (the stack is
 * 512 B). Programs run with migration disabled but may be preempted (and the
 * preempting task may run a hook on the same CPU), so each call claims one of
 * SCRATCH_SLOTS entries of its CPU with cmpxchg and frees it on return.
 */
struct scratch {
	__u32 busy;			/* claimed by a running program */
	__u32 slot;			/* this entry's index */
	struct dbos_lsm_path_key pkey;	/* the path, in the trie's lookup form */
	char slack[NAME_MAX_COPY + 1];	/* bounded copies may run past pkey.path */
	struct dbos_lsm_value_key vkey __attribute__((aligned(8)));
	struct dbos_lsm_bits acc;
	struct dbos_lsm_bits pbits;	/* the PATH field's bitmap, being built */
	const unsigned char *names[PATH_RING];	/* the last PATH_RING walked (nearest the root) */
	__u32 lens[PATH_RING];
	__u32 have_path;		/* pkey.path holds the path */
	__u32 path_ok;			/* ... and its walk reached the root */
	__u64 dentry, mnt;		/* the object (exec/open: the file; unix: the socket
					 * file), as plain numbers; dentry 0: none */
	__u64 sa;			/* a sockaddr, kernel copy, as a number (0: none) ... */
	__s32 salen;			/* ... of salen bytes */
	__u32 __pad;
	__u64 ino;			/* its inode (0: none) ... */
	__u32 dev;			/* ... and device (s_dev) */
	__u32 pid, uid, euid, gid, mode, target_pid, signal;
	__u16 family, port;
	__u64 cgroup;
	__u8 address[16];
	char name[16];
	struct dbos_lsm_marks marks;	/* the caller's, for lineage conditions */
};

#define SCRATCH_SLOTS	8

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct scratch);
} dbos_scratch SEC(".maps");

static __always_inline void count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&dbos_counters, &c);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* The walk of one path (bpf_loop callbacks: each is verified once, not per iteration). */
struct walk {
	struct dentry *d;
	struct vfsmount *vm;
	struct mount *m;
	__u32 n;		/* components recorded */
	__u32 reached;		/* got to the global root */
	__u32 off;		/* bytes written */
	__u32 slot;		/* scratch entry */
};

static __always_inline struct scratch *scratch_of_cpu(__u32 slot)
{
	return bpf_map_lookup_elem(&dbos_scratch, &slot);
}

/* Claim a free scratch entry of this CPU, or NULL when all are in use. */
static __always_inline struct scratch *scratch_claim(void)
{
	__u32 i;

	for (i = 0; i < SCRATCH_SLOTS; i++) {
		__u32 key = i;
		struct scratch *s = bpf_map_lookup_elem(&dbos_scratch, &key);

		if (s && !__sync_val_compare_and_swap(&s->busy, 0, 1)) {
			s->slot = key;
			return s;
		}
	}
	return NULL;
}

static __always_inline void scratch_release(struct scratch *s)
{
	*(volatile __u32 *)&s->busy = 0;
}

/* One step up: record the dentry's name, or cross to the parent mount, or stop at the root. */
static long walk_up(__u32 i, void *arg)
{
	struct walk *w = arg;
	struct scratch *s = scratch_of_cpu(w->slot);
	struct dentry *d = w->d;
	struct vfsmount *vm = w->vm;
	struct mount *m = w->m;
	struct dentry *root = BPF_CORE_READ(vm, mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	__u32 k = w->n & (PATH_RING - 1);

	if (!s)
		return 1;
	if (d == root || d == parent) {
		struct mount *mp = BPF_CORE_READ(m, mnt_parent);

		if (d != root || mp == m) {
			w->reached = 1;	/* global root (or a detached tree's root) */
			return 1;
		}
		w->d = BPF_CORE_READ(m, mnt_mountpoint);
		w->m = mp;
		w->vm = &mp->mnt;
		return 0;
	}
	s->names[k] = BPF_CORE_READ(d, d_name.name);
	s->lens[k] = BPF_CORE_READ(d, d_name.len);
	w->n++;
	w->d = parent;
	return 0;
}

/* Write component n-1-i (root first) as "/name", cut at DBOS_LSM_PATH_MAX bytes. */
static long write_down(__u32 i, void *arg)
{
	struct walk *w = arg;
	struct scratch *s = scratch_of_cpu(w->slot);
	__u32 k = (w->n - 1 - i) & (PATH_RING - 1), off = w->off, len;

	if (!s || i >= w->n || off >= DBOS_LSM_PATH_MAX)
		return 1;
	BOUND(off, 0xff);
	s->pkey.path[off] = '/';
	off++;
	if (off >= DBOS_LSM_PATH_MAX) {
		w->off = off;
		return 1;
	}
	len = s->lens[k];
	if (len > DBOS_LSM_PATH_MAX - off)
		len = DBOS_LSM_PATH_MAX - off;
	BOUND(off, 0xff);
	BOUND(len, 0xff);
	bpf_probe_read_kernel(&s->pkey.path[off], len, s->names[k]);
	w->off = off + len;
	return 0;
}

/*
 * Like d_path() for an absolute path with no chroot: walk the dentries up
 * from @dentry (on mount @mnt) to the global root, crossing mounts, then
 * write the names root first. Fills s->pkey.path NUL-terminated, or cut to
 * DBOS_LSM_PATH_MAX bytes without NUL; PATH_RING components (at least 2 bytes
 * each) cover the first DBOS_LSM_PATH_MAX bytes of any path. Returns 1 (and
 * s->path_ok) when the walk reached the root; 0 for a walk longer than
 * DBOS_LSM_PATH_STEPS, whose path is left empty. A global function: the
 * verifier checks it once, not at every call site and state.
 */
__noinline int resolve_path(__u64 dentry, __u64 mnt, __u32 slot)
{
	struct scratch *s = scratch_of_cpu(slot);
	struct walk w = { .slot = slot };
	__u32 off;

	if (!s)
		return 0;
	w.d = (struct dentry *)dentry;
	w.vm = (struct vfsmount *)mnt;
	w.m = container_of(w.vm, struct mount, mnt);
	__builtin_memset(s->pkey.path, 0, sizeof(s->pkey.path));
	s->have_path = 1;
	s->path_ok = 0;
	bpf_loop(DBOS_LSM_PATH_STEPS, walk_up, &w, 0);
	if (!w.reached)
		return 0;
	s->path_ok = 1;
	if (!w.n) {
		s->pkey.path[0] = '/';
		return 1;
	}
	bpf_loop(PATH_RING, write_down, &w, 0);
	off = w.off;
	/* A cut path keeps no NUL: the bounded copy may have written past it. */
	if (off < DBOS_LSM_PATH_MAX) {
		BOUND(off, 0xff);
		s->pkey.path[off] = 0;
	}
	return 1;
}

/* A kernel pointer as a plain number (what a global function may take). */
static __always_inline __u64 to_scalar(const void *p)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), &p);
	return v;
}

/* The object of the call: @dentry on @mnt, its inode's number and device. */
static __always_inline void set_object(struct scratch *s, struct dentry *dentry,
				       struct vfsmount *mnt)
{
	struct inode *inode = BPF_CORE_READ(dentry, d_inode);

	s->dentry = to_scalar(dentry);
	s->mnt = to_scalar(mnt);
	if (inode) {
		s->ino = BPF_CORE_READ(inode, i_ino);
		s->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	}
}

/* The object's path into pkey, computed once and only when needed; "" without one. */
static __always_inline void set_path(struct scratch *s)
{
	if (s->have_path)
		return;
	if (s->dentry) {
		resolve_path(s->dentry, s->mnt, s->slot);
		return;
	}
	__builtin_memset(s->pkey.path, 0, sizeof(s->pkey.path));
	s->have_path = 1;
	s->path_ok = 1;
}

/* Encode field @f of the call into s->vkey.value (zero-filled, as in the header). */
static __always_inline void encode(struct scratch *s, __u32 f)
{
	__u64 v = 0;

	__builtin_memset(s->vkey.value, 0, sizeof(s->vkey.value));
	switch (f) {
	case DBOS_LSM_F_PID: v = s->pid; break;
	case DBOS_LSM_F_UID: v = s->uid; break;
	case DBOS_LSM_F_EUID: v = s->euid; break;
	case DBOS_LSM_F_GID: v = s->gid; break;
	case DBOS_LSM_F_CGROUP: v = s->cgroup; break;
	case DBOS_LSM_F_MODE: v = s->mode; break;
	case DBOS_LSM_F_FAMILY: v = s->family; break;
	case DBOS_LSM_F_PORT: v = s->port; break;
	case DBOS_LSM_F_TARGET_PID: v = s->target_pid; break;
	case DBOS_LSM_F_SIGNAL: v = s->signal; break;
	case DBOS_LSM_F_NAME:
		__builtin_memcpy(s->vkey.value, s->name, 16);
		return;
	case DBOS_LSM_F_ADDRESS:
		__builtin_memcpy(s->vkey.value, s->address, 16);
		return;
	}
	*(__u64 *)s->vkey.value = v;
}

static __always_inline void report(struct scratch *s, __u32 hook, __u32 term, __u32 verdict,
				   __u64 version)
{
	struct dbos_lsm_decision *d;

	d = bpf_ringbuf_reserve(&dbos_decisions, sizeof(*d), 0);
	if (!d) {
		count(DBOS_LSM_C_LOST);
		return;
	}
	set_path(s);
	d->time_ns = bpf_ktime_get_boot_ns();
	d->version = version;
	d->hook = hook;
	d->term = term;
	d->verdict = verdict;
	d->pid = s->pid;
	d->uid = s->uid;
	d->gid = s->gid;
	d->target_pid = s->target_pid;
	d->signal = s->signal;
	d->family = s->family;
	d->port = s->port;
	d->mode = s->mode;
	__builtin_memcpy(d->address, s->address, 16);
	__builtin_memcpy(d->name, s->name, 16);
	if (s->have_path) {
		bpf_probe_read_kernel(d->path, sizeof(d->path), s->pkey.path);
		d->path[DBOS_LSM_PATH_MAX - 1] = 0;
	} else {
		d->path[0] = 0;
	}
	__builtin_memset(d->__pad, 0, sizeof(d->__pad));
	bpf_ringbuf_submit(d, 0);
}

/*
 * The live generation's config of @hook, or NULL when it has no rules (the
 * hot path without rules: three array lookups). *live gets the slot.
 */
static __always_inline struct dbos_lsm_hook_cfg *live_cfg(__u32 hook, __u32 *live,
							  struct dbos_lsm_state **stp)
{
	struct dbos_lsm_hook_cfg *cfg;
	struct dbos_lsm_state *st;
	__u32 zero = 0;
	void *cfgs;

	st = bpf_map_lookup_elem(&dbos_state, &zero);
	if (!st)
		return NULL;
	*live = *(volatile __u32 *)&st->live & 1;
	cfgs = bpf_map_lookup_elem(&dbos_cfgs, live);
	if (!cfgs)
		return NULL;
	cfg = bpf_map_lookup_elem(cfgs, &hook);
	if (!cfg || !cfg->nwords)
		return NULL;
	*stp = st;
	return cfg;
}

/* A claimed scratch entry with the hook-specific context cleared. */
static __always_inline struct scratch *scratch_get(void)
{
	struct scratch *s = scratch_claim();

	if (!s)
		return NULL;
	s->have_path = 0;
	s->path_ok = 1;
	s->dentry = 0;
	s->mnt = 0;
	s->ino = 0;
	s->dev = 0;
	s->mode = 0;
	s->family = 0;
	s->port = 0;
	s->target_pid = 0;
	s->signal = 0;
	__builtin_memset(s->address, 0, 16);
	return s;
}

/*
 * Every scratch entry of this CPU is in use (SCRATCH_SLOTS nested, preempted
 * checks): no decision can be computed. Fail closed when the hook has deny
 * terms, and count it as a decision not reported.
 */
static __always_inline int no_scratch(struct dbos_lsm_hook_cfg *cfg)
{
	__u64 any = 0;
	__u32 i;

	for (i = 0; i < DBOS_LSM_WORDS; i++)
		any |= cfg->deny.w[i];
	count(DBOS_LSM_C_LOST);
	return any ? -EPERM : 0;
}

/* The caller's identity (every hook's PID..CGROUP). */
static __always_inline void caller(struct scratch *s)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 ug = bpf_get_current_uid_gid();

	s->pid = bpf_get_current_pid_tgid() >> 32;
	s->uid = (__u32)ug;
	s->gid = ug >> 32;
	s->euid = BPF_CORE_READ(t, cred, euid.val);
	s->cgroup = bpf_get_current_cgroup_id();
	/* zero-filled, as in the values map: the helper stops at the NUL */
	__builtin_memset(s->name, 0, sizeof(s->name));
	bpf_get_current_comm(s->name, sizeof(s->name));
}

/* Index of the lowest set bit of @w (not 0): BPF has no ctz instruction. */
static __always_inline int ctz64(__u64 w)
{
	int n = 0;

	if (!(w & 0xffffffffULL)) { n += 32; w >>= 32; }
	if (!(w & 0xffffULL)) { n += 16; w >>= 16; }
	if (!(w & 0xffULL)) { n += 8; w >>= 8; }
	if (!(w & 0xfULL)) { n += 4; w >>= 4; }
	if (!(w & 0x3ULL)) { n += 2; w >>= 2; }
	if (!(w & 0x1ULL))
		n += 1;
	return n;
}

/*
 * Family, address, port and unix path of a sockaddr (kernel copy, @len
 * bytes; a unix socket's own address too). A unix address without a name
 * (autobind) has the path "".
 */
static __always_inline void sockaddr_ctx(struct scratch *s, struct sockaddr *sa, int len)
{
	__u16 family = 0;

	if (len < 2)
		return;
	bpf_probe_read_kernel(&family, 2, &sa->sa_family);
	s->family = family;
	if (family == AF_INET && len >= 8) {
		struct sockaddr_in *in = (void *)sa;
		__u16 port = 0;

		bpf_probe_read_kernel(&port, 2, &in->sin_port);
		bpf_probe_read_kernel(&s->address[12], 4, &in->sin_addr);
		s->address[10] = 0xff;
		s->address[11] = 0xff;
		s->port = __builtin_bswap16(port);
	} else if (family == AF_INET6 && len >= 24) {
		struct sockaddr_in6 *in6 = (void *)sa;
		__u16 port = 0;

		bpf_probe_read_kernel(&port, 2, &in6->sin6_port);
		bpf_probe_read_kernel(s->address, 16, &in6->sin6_addr);
		s->port = __builtin_bswap16(port);
	} else if (family == AF_UNIX) {
		struct sockaddr_un *un = (void *)sa;
		__u32 n = len - 2;
		char *p = s->pkey.path;

		if (n > sizeof(un->sun_path))
			n = sizeof(un->sun_path);
		__builtin_memset(s->pkey.path, 0, sizeof(s->pkey.path));
		s->have_path = 1;
		s->path_ok = 1;
		if (!n)
			return;
		BOUND(n, 0x7f);
		bpf_probe_read_kernel(p, n, un->sun_path);
		if (!p[0] && n > 1) {	/* abstract: '@' + name */
			__u32 m = n - 1;

			p[0] = '@';
			BOUND(m, 0x7f);
			bpf_probe_read_kernel(p + 1, m, &un->sun_path[1]);
		}
		p[n] = 0;
	}
}

/*
 * The decision runs as bpf_loop callbacks over fields and words: each is
 * verified once (unrolled, the combinations of branches exceed the
 * verifier's budget). The generation's maps are looked up once, before: a
 * second lookup in the outer maps could already see the next generation.
 */
struct dctx {
	struct dbos_lsm_hook_cfg *cfg;
	void *values, *paths;		/* the generation's inner maps (may be NULL) */
	__u64 fields;
	__u32 hook, nwords, slot;
	int allow, deny, audit;		/* lowest matching term of each, or -1 */
};

/* The trie key's header for a lookup of s->pkey.path as field @f of @hook. */
static __always_inline void set_pkey(struct scratch *s, __u32 hook, __u32 f)
{
	s->pkey.prefixlen = (4 + DBOS_LSM_PATH_MAX) * 8;
	s->pkey.hook = hook;
	s->pkey.field = f;
	s->pkey.__pad[0] = 0;
	s->pkey.__pad[1] = 0;
}

/*
 * s->pbits = the bitmap of path field @f when its walk did not finish (the
 * path is unknown): the deny and audit terms as if their constraints on @f
 * held (fail closed), the allow terms as for a path no rule names.
 */
static __always_inline void unresolved_bits(struct scratch *s, struct dbos_lsm_hook_cfg *cfg,
					    __u32 f)
{
	__u32 i;

	count(DBOS_LSM_C_PATH_UNRESOLVED);
	for (i = 0; i < DBOS_LSM_WORDS; i++)
		s->pbits.w[i] = cfg->deny.w[i] | cfg->audit.w[i] |
				(cfg->allow.w[i] & cfg->dflt[f].w[i]);
}

/*
 * acc &= the EXE bitmap of task @t's executable (the caller's, for hooks).
 * Uses pkey, before the hook's own path is put there: have_path is cleared
 * after. A kernel thread (no mm) looks up the empty path, whose exact entry
 * holds only the terms with no EXE constraint, as SQL's NULL would.
 */
static __always_inline void and_exe(struct scratch *s, struct dctx *c, struct task_struct *t)
{
	struct file *exe = BPF_CORE_READ(t, mm, exe_file);
	struct dbos_lsm_bits *b = NULL;
	int ok = 1;
	__u32 i;

	if (exe)
		ok = resolve_path(to_scalar(BPF_CORE_READ(exe, f_path.dentry)),
				  to_scalar(BPF_CORE_READ(exe, f_path.mnt)), s->slot);
	else
		__builtin_memset(s->pkey.path, 0, sizeof(s->pkey.path));
	s->have_path = 0;
	if (!ok) {
		unresolved_bits(s, c->cfg, DBOS_LSM_F_EXE);
		for (i = 0; i < DBOS_LSM_WORDS; i++)
			s->acc.w[i] &= s->pbits.w[i];
		return;
	}
	set_pkey(s, c->hook, DBOS_LSM_F_EXE);
	if (c->paths)
		b = bpf_map_lookup_elem(c->paths, &s->pkey);
	if (!b)
		b = &c->cfg->dflt[DBOS_LSM_F_EXE];
	for (i = 0; i < DBOS_LSM_WORDS; i++)
		s->acc.w[i] &= b->w[i];
}

/* s->vkey = the INODE entry @kind of the object's file for @hook. */
static __always_inline void set_inode_key(struct scratch *s, __u32 hook, __u8 kind)
{
	s->vkey.hook = hook;
	s->vkey.field = DBOS_LSM_F_INODE;
	__builtin_memset(s->vkey.__pad, 0, sizeof(s->vkey.__pad));
	__builtin_memset(s->vkey.value, 0, sizeof(s->vkey.value));
	*(__u64 *)s->vkey.value = s->ino;
	*(__u32 *)&s->vkey.value[8] = s->dev;
	s->vkey.value[12] = kind;
}

/*
 * acc &= the PATH bitmap: the trie's for the object's path (or the unknown
 * path's, for a walk that did not finish), then for a file that exact paths
 * of the rules name (its INODE entries, dbos_lsm.h): | ADD, & KEEP.
 */
static __always_inline void and_path(struct scratch *s, struct dctx *c)
{
	struct dbos_lsm_hook_cfg *cfg = c->cfg;
	struct dbos_lsm_bits *b = NULL, *add = NULL, *keep = NULL;
	__u32 i;

	if (!s->path_ok) {
		unresolved_bits(s, cfg, DBOS_LSM_F_PATH);
	} else {
		set_pkey(s, c->hook, DBOS_LSM_F_PATH);
		if (c->paths)
			b = bpf_map_lookup_elem(c->paths, &s->pkey);
		if (!b)
			b = &cfg->dflt[DBOS_LSM_F_PATH];
		for (i = 0; i < DBOS_LSM_WORDS; i++)
			s->pbits.w[i] = b->w[i];
	}
	if ((c->fields & (1ULL << DBOS_LSM_F_INODE)) && s->ino && c->values) {
		set_inode_key(s, c->hook, DBOS_LSM_INODE_ADD);
		add = bpf_map_lookup_elem(c->values, &s->vkey);
		if (add) {
			s->vkey.value[12] = DBOS_LSM_INODE_KEEP;
			keep = bpf_map_lookup_elem(c->values, &s->vkey);
		}
	}
	if (add)
		for (i = 0; i < DBOS_LSM_WORDS; i++)
			s->pbits.w[i] |= add->w[i];
	if (keep)
		for (i = 0; i < DBOS_LSM_WORDS; i++)
			s->pbits.w[i] &= keep->w[i];
	for (i = 0; i < DBOS_LSM_WORDS; i++)
		s->acc.w[i] &= s->pbits.w[i];
}

/* acc &= the bitmap of field @f's value (its entry, or dflt[f]). */
static long and_field(__u32 f, void *arg)
{
	struct dctx *c = arg;
	__u32 hook = c->hook, i;
	struct scratch *s = scratch_of_cpu(c->slot);
	struct dbos_lsm_hook_cfg *cfg = c->cfg;
	struct dbos_lsm_bits *b = NULL;
	void *m;

	if (f >= DBOS_LSM_F__COUNT)
		return 1;
	/* EXE: and_exe() did it; PATH (with INODE): and_path(); LINEAGE: and_lineage() */
	if (!(c->fields & (1ULL << f)) || f == DBOS_LSM_F_EXE || f == DBOS_LSM_F_PATH ||
	    f == DBOS_LSM_F_INODE || f == DBOS_LSM_F_LINEAGE)
		return 0;
	if (!s || !cfg)
		return 1;
	s->vkey.hook = hook;
	s->vkey.field = f;
	__builtin_memset(s->vkey.__pad, 0, sizeof(s->vkey.__pad));
	encode(s, f);
	m = c->values;
	if (m)
		b = bpf_map_lookup_elem(m, &s->vkey);
	if (!b)
		b = &cfg->dflt[f];
	for (i = 0; i < DBOS_LSM_WORDS; i++)
		s->acc.w[i] &= b->w[i];
	return 0;
}

/* Word @i of acc against the allow, deny and audit terms. */
static long scan_word(__u32 i, void *arg)
{
	struct dctx *c = arg;
	struct scratch *s = scratch_of_cpu(c->slot);
	struct dbos_lsm_hook_cfg *cfg = c->cfg;
	__u64 a, w;

	if (i >= c->nwords || !s || !cfg)
		return 1;
	i &= DBOS_LSM_WORDS - 1;
	a = s->acc.w[i];
	w = a & cfg->allow.w[i];
	if (w && c->allow < 0)
		c->allow = i * 64 + ctz64(w);
	w = a & cfg->deny.w[i];
	if (w && c->deny < 0)
		c->deny = i * 64 + ctz64(w);
	w = a & cfg->audit.w[i];
	if (w && c->audit < 0)
		c->audit = i * 64 + ctz64(w);
	return c->allow >= 0;
}

/* and_lineage()'s loop: the caller's desc bits against the hook's LINEAGE entries. */
struct lctx {
	void *values;
	__u64 marks, desc;
	__u32 hook, slot;
};

/* acc &= the LINEAGE entry of mark @m for the caller's desc bit m (its absence: no term holds). */
static long and_mark(__u32 m, void *arg)
{
	struct lctx *l = arg;
	struct scratch *s = scratch_of_cpu(l->slot);
	struct dbos_lsm_bits *b = NULL;
	__u32 i;

	if (m >= DBOS_LSM_MARKS || !s)
		return 1;
	if (!(l->marks & (1ULL << m)))
		return 0;
	__builtin_memset(&s->vkey, 0, sizeof(s->vkey));
	s->vkey.hook = l->hook;
	s->vkey.field = DBOS_LSM_F_LINEAGE;
	s->vkey.value[0] = m;
	s->vkey.value[1] = (l->desc >> m) & 1;
	if (l->values)
		b = bpf_map_lookup_elem(l->values, &s->vkey);
	for (i = 0; i < DBOS_LSM_WORDS; i++)
		s->acc.w[i] &= b ? b->w[i] : 0;
	return 0;
}

/*
 * ---- Access to lineage marks ----
 *
 * Linux 6.1's task storage helpers return NULL, whatever the storage holds,
 * while another task on the same CPU is inside one of them (a per-CPU
 * counter taken with migration, not preemption, disabled: a preemptible
 * kernel, CONFIG_PREEMPT, lets that task be preempted there). Marks must not
 * be lost that way, nor a process refused for it. So a read that is refused
 * copies the marks without the helpers (marks_peek), and a write that is
 * refused goes to dbos_marks_spill, keyed by the process, from where the
 * next access that gets the storage applies it (marks_get); reads take it
 * from there meanwhile, and the process's exit removes what is left.
 */
/* BPF_LOCAL_STORAGE_CACHE_SIZE (a define: not in the BTF) */
#define MARKS_CACHE_SLOTS	16

struct marks_spill_key {
	__u64 start;		/* the leader's start_time: a reused pid is another key */
	__u32 tgid;
	__u32 pad;
};

#define SPILL_MARKS	1	/* m.self, m.desc and m.epoch are the fork's marks */
#define SPILL_REFRESH	2	/* the identity changed: self is to be recomputed */
#define SPILL_SET_LOST	4	/* DBOS_LSM_MARKF_SET_LOST */

struct marks_spill {
	struct dbos_lsm_marks m;
	__u32 what;		/* SPILL_* */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct marks_spill_key);
	__type(value, struct marks_spill);
} dbos_marks_spill SEC(".maps");

__u64 marks_of(__u64 task, __u64 comm, __u32 gen, __u32 sslot);

/* The marks either generation defines (events keep them all current). */
static __always_inline __u64 marks_defined(__u32 slot)
{
	__u32 hook = DBOS_LSM_MARK;
	void *cfgs = bpf_map_lookup_elem(&dbos_cfgs, &slot);
	struct dbos_lsm_hook_cfg *cfg = cfgs ? bpf_map_lookup_elem(cfgs, &hook) : NULL;

	return cfg && cfg->nwords ? cfg->marks : 0;
}

/*
 * The self bits of the process led by @leader now (@comm: its new name during
 * a rename, else 0), under both generations' mark definitions, which agree on
 * every mark both define (ids are stable): 0, or -1 without scratch.
 */
static __always_inline int marks_self(struct task_struct *leader, __u64 comm, __u64 *self)
{
	__u64 m0 = marks_defined(0), m1 = marks_defined(1);
	struct scratch *s = scratch_claim();

	if (!s)
		return -1;
	*self = 0;
	if (m0)
		*self |= marks_of(to_scalar(leader), comm, 0, s->slot) & m0;
	if (m1)
		*self |= marks_of(to_scalar(leader), comm, 1, s->slot) & m1;
	scratch_release(s);
	return 0;
}

static __always_inline struct dbos_lsm_state *state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&dbos_state, &zero);
}

static __always_inline void spill_key(struct task_struct *leader, struct marks_spill_key *k)
{
	k->start = BPF_CORE_READ(leader, start_time);
	k->tgid = BPF_CORE_READ(leader, tgid);
	k->pad = 0;
}

/*
 * @leader's marks in task storage (created when @create), with what was
 * spilled for it applied first. NULL when the storage is refused or absent;
 * then *@pending is its spill entry, if it has one.
 */
static __always_inline struct dbos_lsm_marks *marks_get(struct task_struct *leader, bool create,
							struct marks_spill **pending)
{
	struct dbos_lsm_state *st = state();
	struct dbos_lsm_marks *mk;
	struct marks_spill_key k;
	struct marks_spill *e;
	__u64 self;

	*pending = NULL;
	if (!st || !*(volatile __u64 *)&st->spilled)
		return bpf_task_storage_get(&dbos_marks, leader, 0,
					    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	spill_key(leader, &k);
	e = bpf_map_lookup_elem(&dbos_marks_spill, &k);
	if (!e)
		return bpf_task_storage_get(&dbos_marks, leader, 0,
					    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	mk = bpf_task_storage_get(&dbos_marks, leader, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!mk) {
		*pending = e;
		return NULL;
	}
	if (e->what & SPILL_MARKS) {
		mk->self = e->m.self;
		mk->desc = e->m.desc;
		asm volatile("" ::: "memory");
		*(volatile __u64 *)&mk->epoch = e->m.epoch;
	}
	if (e->what & SPILL_SET_LOST)
		__sync_fetch_and_or(&mk->flags, DBOS_LSM_MARKF_SET_LOST);
	if (e->what & SPILL_REFRESH) {
		if (marks_self(leader, 0, &self)) {
			count(DBOS_LSM_C_MARK_FAILED);
			mk->epoch = 0;	/* unknown until a walk */
		} else {
			mk->self = self;
			__sync_fetch_and_add(&mk->gen, 1);
		}
	}
	if (!bpf_map_delete_elem(&dbos_marks_spill, &k))
		__sync_fetch_and_sub(&st->spilled, 1);
	return mk;
}

/* Record @what (and the marks, for SPILL_MARKS) for @leader, whose storage was refused. */
static __always_inline void marks_spill(struct task_struct *leader, __u32 what,
					__u64 self, __u64 desc, __u64 epoch)
{
	struct dbos_lsm_state *st = state();
	struct marks_spill v = { .what = what };
	struct marks_spill_key k;
	struct marks_spill *e;

	count(DBOS_LSM_C_MARK_BUSY);
	spill_key(leader, &k);
	v.m.self = self;
	v.m.desc = desc;
	v.m.epoch = epoch;
	if (st && !bpf_map_update_elem(&dbos_marks_spill, &k, &v, BPF_NOEXIST)) {
		__sync_fetch_and_add(&st->spilled, 1);
		return;
	}
	e = bpf_map_lookup_elem(&dbos_marks_spill, &k);	/* there already */
	if (!st || !e) {
		count(DBOS_LSM_C_MARK_FAILED);	/* the spill map is full */
		return;
	}
	if (what & SPILL_MARKS) {
		e->m.self = self;
		e->m.desc = desc;
		e->m.epoch = epoch;
	}
	__sync_fetch_and_or(&e->what, what);
}

/*
 * Where dbos_marks's data for @task is, found as the kernel's lookup finds it
 * (the storage's cache slot for the map, else its list of elements, of
 * which a few are looked at) but without the helpers: 0 when not found.
 */
static __always_inline __u64 marks_data(struct task_struct *task)
{
	struct bpf_local_storage_map *smap = (struct bpf_local_storage_map *)&dbos_marks;
	struct bpf_local_storage *ls = BPF_CORE_READ(task, bpf_storage);
	__u32 idx = smap->cache_idx;	/* a map's own fields: read through its BTF */
	__u64 me = to_scalar(smap), sd = 0, node = 0;

	if (!ls || idx >= MARKS_CACHE_SLOTS)
		return 0;
	if (!bpf_probe_read_kernel(&sd, sizeof(sd), (void *)ls +
				   bpf_core_field_offset(struct bpf_local_storage, cache) +
				   idx * sizeof(void *)) &&
	    sd && to_scalar(BPF_CORE_READ((struct bpf_local_storage_data *)sd, smap)) == me)
		goto found;
	node = (__u64)BPF_CORE_READ(ls, list.first);
	for (int i = 0; i < 4 && node; i++) {
		sd = node - bpf_core_field_offset(struct bpf_local_storage_elem, snode) +
		     bpf_core_field_offset(struct bpf_local_storage_elem, sdata);
		if (to_scalar(BPF_CORE_READ((struct bpf_local_storage_data *)sd, smap)) == me)
			goto found;
		node = (__u64)BPF_CORE_READ((struct hlist_node *)node, next);
	}
	return 0;
found:
	return sd + bpf_core_field_offset(struct bpf_local_storage_data, data);
}

/*
 * A copy of @task's marks read without the task storage helpers, epoch
 * before the bits (the writers write them in the other order): 0, or -1
 * when it has none.
 */
static __always_inline int marks_peek(struct task_struct *task, struct dbos_lsm_marks *out)
{
	void *data = (void *)marks_data(task);

	if (!data || bpf_probe_read_kernel(&out->epoch, sizeof(out->epoch),
					   data + __builtin_offsetof(struct dbos_lsm_marks, epoch)))
		return -1;
	asm volatile("" ::: "memory");
	if (bpf_probe_read_kernel(out, __builtin_offsetof(struct dbos_lsm_marks, epoch), data) ||
	    bpf_probe_read_kernel(&out->flags, sizeof(out->flags),
				  data + __builtin_offsetof(struct dbos_lsm_marks, flags)))
		return -1;
	return 0;
}

/*
 * @out from @leader's storage @mk, else its spill entry @e's marks, else a
 * lock-free copy: 0, or -1 when none has them.
 */
static __always_inline int marks_copy(struct task_struct *leader, struct dbos_lsm_marks *mk,
				      struct marks_spill *e, struct dbos_lsm_marks *out)
{
	if (mk) {
		out->epoch = *(volatile __u64 *)&mk->epoch;
		asm volatile("" ::: "memory");
		out->self = *(volatile __u64 *)&mk->self;
		out->desc = *(volatile __u64 *)&mk->desc;
		out->flags = *(volatile __u64 *)&mk->flags;
	} else if (e && (e->what & SPILL_MARKS)) {
		count(DBOS_LSM_C_MARK_BUSY);
		out->epoch = e->m.epoch;
		out->self = e->m.self;
		out->desc = e->m.desc;
		out->flags = 0;
	} else if (marks_peek(leader, out)) {
		return -1;
	} else {
		count(DBOS_LSM_C_MARK_BUSY);
	}
	if (e && (e->what & SPILL_SET_LOST))
		out->flags |= DBOS_LSM_MARKF_SET_LOST;
	return 0;
}

/*
 * @leader's marks, into @out, what was spilled applied to its storage when
 * it can be had; self recomputed if an identity change is still pending.
 * -1: not known.
 */
static __always_inline int marks_read(struct task_struct *leader, struct dbos_lsm_marks *out)
{
	struct marks_spill *e;
	struct dbos_lsm_marks *mk = marks_get(leader, false, &e);

	if (marks_copy(leader, mk, e, out))
		return -1;
	if (!mk && e && (e->what & SPILL_REFRESH) && marks_self(leader, 0, &out->self))
		return -1;
	return 0;
}

/*
 * The calling process's marks into scratch entry @sslot's `marks`, read
 * only (desc and flags: a decision's; self may be stale while a change of
 * identity waits in the spill map): 0, or -1 when not known. A global
 * function, so the verifier checks it once per program, not once per path
 * of decide() that reaches it (inlined, loading the programs took 4-5
 * times as long: 30 s -> 125-150 s on the debug kernel); and it calls no
 * other function, as the stack of a hook's calls is at its limit.
 */
__noinline int current_marks(__u32 sslot)
{
	struct task_struct *leader = bpf_get_current_task_btf()->group_leader;
	struct scratch *s = scratch_of_cpu(sslot);
	struct dbos_lsm_state *st = state();
	struct marks_spill *e = NULL;
	struct marks_spill_key k;

	if (!s)
		return -1;
	if (st && *(volatile __u64 *)&st->spilled) {
		spill_key(leader, &k);
		e = bpf_map_lookup_elem(&dbos_marks_spill, &k);
	}
	return marks_copy(leader, bpf_task_storage_get(&dbos_marks, leader, 0, 0), e, &s->marks);
}

/*
 * acc &= what the caller's lineage marks satisfy. -1 when its marks are not
 * known for the live generation's epoch (no storage, or not yet walked).
 */
static __always_inline int and_lineage(struct scratch *s, struct dctx *c,
				       struct dbos_lsm_state *st, __u32 live)
{
	struct lctx l = { .values = c->values, .marks = c->cfg->marks, .hook = c->hook,
			  .slot = s->slot };

	if (current_marks(s->slot) || s->marks.epoch < st->mark_epoch[live & 1])
		return -1;
	l.desc = s->marks.desc;
	bpf_loop(DBOS_LSM_MARKS, and_mark, &l, 0);
	return 0;
}

/* A check of a caller whose pid-set membership was lost: -EPERM where the hook could deny. */
static __always_inline int set_lost_check(struct scratch *s, struct dbos_lsm_hook_cfg *cfg,
					  __u32 hook, __u64 version)
{
	__u64 inherit = 0, deny = 0;
	__u32 i;

	for (i = 0; i < DBOS_LSM_WORDS; i++) {
		inherit |= cfg->inherit.w[i];
		deny |= cfg->deny.w[i];
	}
	if (!inherit || !deny)
		return 0;
	if (current_marks(s->slot) || !(s->marks.flags & DBOS_LSM_MARKF_SET_LOST))
		return 0;
	count(DBOS_LSM_C_SET_UNKNOWN);
	count(DBOS_LSM_C_DENIED);
	report(s, hook, DBOS_LSM_MAX_TERMS, DBOS_LSM_DENY, version);
	return -EPERM;
}

/*
 * The decision of the comment at the top of dbos_lsm.h on the call in
 * scratch entry @slot (its object set by set_object(), or none; its
 * sockaddr, or none) by @hook's config @cfg of live generation @live (state
 * @st): 0 or -EPERM.
 *
 * The hooks call decide(), a stub: dbosd loads dbos_decide, the decision,
 * once more as a program of its own (freplace) and puts it in place of every
 * hook's decide() before it attaches any hook. So the verifier checks the
 * decision once, not in each hook (11 x ~17,000 instructions: a minute of
 * every boot of the debug kernel). The stub runs only if root removes that
 * replacement's pin (ext_<hook>): like removing the hook's own link, that
 * ends the hook's enforcement, so the stub allows, counting the call as
 * lost. (Failing closed would refuse every call of the hook for good: with a
 * deny rule on open, nothing could open a file again, not even to reload.)
 */
__noinline int decide(__u32 slot, __u32 hook, __u32 live, struct dbos_lsm_hook_cfg *cfg,
		      struct dbos_lsm_state *st)
{
	int ret = 0;

	/*
	 * What clang knows of this body must not shape the calls: it reads every
	 * argument (clang does not set up those a callee ignores) and hides its
	 * result (clang would fold a constant into the callers).
	 */
	if (cfg && st && slot < SCRATCH_SLOTS && hook < DBOS_LSM_HOOK__COUNT && live < 2)
		count(DBOS_LSM_C_LOST);
	asm volatile("" : "+r"(ret));
	return ret;
}

SEC("?freplace/decide")
int dbos_decide(__u32 slot, __u32 hook, __u32 live, struct dbos_lsm_hook_cfg *cfg,
		struct dbos_lsm_state *st)
{
	const __u64 paths = (1ULL << DBOS_LSM_F_PATH) | (1ULL << DBOS_LSM_F_EXE);
	struct scratch *s = scratch_of_cpu(slot);
	struct dctx c = {
		.cfg = cfg, .hook = hook, .slot = slot,
		.allow = -1, .deny = -1, .audit = -1,
	};
	__u32 i;

	if (!s || !cfg || !st)
		return 0;
	c.nwords = cfg->nwords;
	c.fields = cfg->fields;
	count(DBOS_LSM_C_CHECKS);
	caller(s);
	if (c.fields & ~paths)
		c.values = bpf_map_lookup_elem(&dbos_values, &live);
	if (c.fields & paths)
		c.paths = bpf_map_lookup_elem(&dbos_paths, &live);
	for (i = 0; i < DBOS_LSM_WORDS; i++)
		s->acc.w[i] = ~0ULL;
	if (c.fields & (1ULL << DBOS_LSM_F_EXE))
		and_exe(s, &c, bpf_get_current_task_btf());
	if (s->sa)
		sockaddr_ctx(s, (struct sockaddr *)s->sa, s->salen);
	if ((c.fields & (1ULL << DBOS_LSM_F_LINEAGE)) && and_lineage(s, &c, st, live)) {
		/* Lineage unknown: fail closed where a rule could deny (no rule to name). */
		count(DBOS_LSM_C_MARK_UNKNOWN);
		for (i = 0; i < DBOS_LSM_WORDS; i++) {
			if (cfg->deny.w[i]) {
				count(DBOS_LSM_C_DENIED);
				report(s, hook, DBOS_LSM_MAX_TERMS, DBOS_LSM_DENY,
				       st->version[live & 1]);
				return -EPERM;
			}
		}
		return 0;
	}
	if ((c.fields & (1ULL << DBOS_LSM_F_PID)) &&
	    set_lost_check(s, cfg, hook, st->version[live & 1]))
		return -EPERM;
	if (c.fields & (1ULL << DBOS_LSM_F_PATH)) {
		set_path(s);
		and_path(s, &c);
	}
	bpf_loop(DBOS_LSM_F__COUNT, and_field, &c, 0);
	bpf_loop(DBOS_LSM_WORDS, scan_word, &c, 0);
	if (c.allow >= 0)
		return 0;
	if (c.deny >= 0) {
		count(DBOS_LSM_C_DENIED);
		report(s, hook, c.deny, DBOS_LSM_DENY, st->version[live & 1]);
		return -EPERM;
	}
	if (c.audit >= 0) {
		count(DBOS_LSM_C_AUDITED);
		report(s, hook, c.audit, DBOS_LSM_AUDIT, st->version[live & 1]);
	}
	return 0;
}

/*
 * What a hook knows of its call, before a scratch entry is claimed: only
 * pointers and numbers it has at hand, so that a hook without rules reads
 * nothing more. The object is one of @file, @dentry on @mnt (a file being
 * made) or the unix socket @peer; @sa (@salen bytes) a sockaddr, a kernel
 * copy.
 */
struct call {
	struct file *file;
	struct dentry *dentry;
	struct vfsmount *mnt;
	struct sock *peer;
	struct sockaddr *sa;
	int salen;
	__u32 mode, target_pid, signal;
	__u16 family;
};

/*
 * The unix socket @other as the object: where it is bound (walked like any
 * file: the name a caller used, relative, through a symlink or another
 * mount, does not matter), or its abstract address into *@sa ('@' + name).
 */
static __always_inline void set_peer(struct scratch *s, struct sock *other, struct sockaddr **sa,
				     int *salen)
{
	struct unix_sock *u = (struct unix_sock *)other;
	struct dentry *dentry = BPF_CORE_READ(u, path.dentry);
	struct unix_address *addr;

	if (dentry) {
		set_object(s, dentry, BPF_CORE_READ(u, path.mnt));
		return;
	}
	addr = BPF_CORE_READ(u, addr);
	if (addr) {
		*sa = (struct sockaddr *)addr->name;
		*salen = BPF_CORE_READ(addr, len);
	}
}

/* @hook's decision on call @a (0 or -EPERM); returns at once when the hook has no rules. */
static __always_inline int check(__u32 hook, const struct call *a)
{
	struct sockaddr *sa = a->sa;
	struct file *file = a->file;	/* (not in BPF_CORE_READ: struct call has no CO-RE) */
	struct dbos_lsm_hook_cfg *cfg;
	struct dbos_lsm_state *st;
	int salen = a->salen, ret;
	struct scratch *s;
	__u32 live;

	cfg = live_cfg(hook, &live, &st);
	if (!cfg)
		return 0;
	s = scratch_get();
	if (!s)
		return no_scratch(cfg);
	s->mode = a->mode;
	s->target_pid = a->target_pid;
	s->signal = a->signal;
	s->family = a->family;
	if (file)
		set_object(s, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt));
	else if (a->dentry)
		set_object(s, a->dentry, a->mnt);
	else if (a->peer)
		set_peer(s, a->peer, &sa, &salen);
	s->sa = sa ? to_scalar(sa) : 0;
	s->salen = salen;
	ret = decide(s->slot, hook, live, cfg, st);
	scratch_release(s);
	return ret;
}

SEC("lsm/bprm_check_security")
int BPF_PROG(dbos_exec, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret;
	return check(DBOS_LSM_EXEC, &(struct call){ .file = bprm->file });
}

SEC("lsm/file_open")
int BPF_PROG(dbos_open, struct file *file, int ret)
{
	if (ret)
		return ret;
	return check(DBOS_LSM_OPEN, &(struct call){ .file = file, .mode = file->f_mode & 3 });
}

/*
 * Mapping a file executable runs code from it as execve does: ld.so running
 * a program itself ("ld.so /tmp/x"), a program's interpreter (PT_INTERP), a
 * library. The exec rules decide it, the mapping task being the caller;
 * not for the program the task runs (the inode of mm->exe_file): execve maps
 * it after bprm_check_security decided, and a program mapping itself runs
 * nothing new.
 */
static __always_inline int check_exec_map(struct file *file)
{
	struct task_struct *t = bpf_get_current_task_btf();

	if (to_scalar(BPF_CORE_READ(file, f_inode)) ==
	    to_scalar(BPF_CORE_READ(t, mm, exe_file, f_inode)))
		return 0;
	return check(DBOS_LSM_EXEC, &(struct call){ .file = file });
}

SEC("lsm/mmap_file")
int BPF_PROG(dbos_mmap, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	if (ret)
		return ret;
	if (!file || !(prot & PROT_EXEC))
		return 0;
	return check_exec_map(file);
}

SEC("lsm/file_mprotect")
int BPF_PROG(dbos_mprotect, struct vm_area_struct *vma, unsigned long reqprot,
	     unsigned long prot, int ret)
{
	struct file *file;

	if (ret)
		return ret;
	if (!(prot & PROT_EXEC) || (vma->vm_flags & VM_EXEC))
		return 0;	/* not adding PROT_EXEC */
	file = vma->vm_file;
	if (!file)
		return 0;
	return check_exec_map(file);
}

static __always_inline __u16 sock_family(struct socket *sock)
{
	return BPF_CORE_READ(sock, sk, __sk_common.skc_family);
}

/* A unix socket's connect is decided on the socket the kernel finds: dbos_connect_unix. */
SEC("lsm/socket_connect")
int BPF_PROG(dbos_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	if (ret)
		return ret;
	if (sock_family(sock) == AF_UNIX)
		return 0;
	return check(DBOS_LSM_CONNECT, &(struct call){ .sa = address, .salen = addrlen });
}

/*
 * A datagram sent to an address is a connect to it (unconnected UDP,
 * sendmmsg), and so is TCP Fast Open (MSG_FASTOPEN connects inside
 * sendmsg). Unix datagrams: dbos_send_unix.
 */
SEC("lsm/socket_sendmsg")
int BPF_PROG(dbos_sendmsg, struct socket *sock, struct msghdr *msg, int size, int ret)
{
	struct sockaddr *name;
	__u16 family;

	if (ret)
		return ret;
	name = BPF_CORE_READ(msg, msg_name);
	if (!name)
		return 0;
	family = sock_family(sock);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	return check(DBOS_LSM_CONNECT, &(struct call){ .sa = name,
						      .salen = BPF_CORE_READ(msg, msg_namelen) });
}

/* connect(2) of a unix stream or seqpacket socket, once the listener is found. */
SEC("lsm/unix_stream_connect")
int BPF_PROG(dbos_connect_unix, struct sock *sock, struct sock *other, struct sock *newsk, int ret)
{
	if (ret)
		return ret;
	return check(DBOS_LSM_CONNECT, &(struct call){ .peer = other, .family = AF_UNIX });
}

/*
 * connect(2) of a unix datagram socket, and every datagram sent: one to
 * the socket's connected peer was decided at its connect (as a TCP
 * connection made before a rule is not cut), one to an address is a connect.
 */
SEC("lsm/unix_may_send")
int BPF_PROG(dbos_send_unix, struct socket *sock, struct socket *other, int ret)
{
	struct unix_sock *u = (struct unix_sock *)BPF_CORE_READ(sock, sk);
	struct sock *osk = BPF_CORE_READ(other, sk);

	if (ret)
		return ret;
	if (BPF_CORE_READ(u, peer) == osk)
		return 0;
	return check(DBOS_LSM_CONNECT, &(struct call){ .peer = osk, .family = AF_UNIX });
}

/* A unix bind to a path is decided at path_mknod (dbos_mknod) where the kernel has it. */
SEC("lsm/socket_bind")
int BPF_PROG(dbos_bind, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	if (ret)
		return ret;
	if (have_mknod && addrlen > 2 && sock_family(sock) == AF_UNIX) {
		char first = 0;

		bpf_probe_read_kernel(&first, 1, ((struct sockaddr_un *)address)->sun_path);
		if (first)
			return 0;
	}
	return check(DBOS_LSM_BIND, &(struct call){ .sa = address, .salen = addrlen });
}

/*
 * unix_bind() making the socket file (and mknod(2) of one, the same thing
 * to the file system): bind rules decide on the path the kernel resolved
 * (relative to the caller's directory, symlinks followed), the new file's.
 */
SEC("lsm/path_mknod")
int BPF_PROG(dbos_mknod, const struct path *dir, struct dentry *dentry, umode_t mode,
	     unsigned int dev, int ret)
{
	if (ret)
		return ret;
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	return check(DBOS_LSM_BIND, &(struct call){ .dentry = dentry, .mnt = dir->mnt,
						   .family = AF_UNIX });
}

SEC("lsm/task_kill")
int BPF_PROG(dbos_kill, struct task_struct *p, struct kernel_siginfo *info, int sig,
	     const struct cred *cred, int ret)
{
	if (ret)
		return ret;
	return check(DBOS_LSM_KILL, &(struct call){ .target_pid = p->tgid, .signal = sig });
}

/* ---- Lineage marks (dbos_lsm.h, "Lineage marks") ---- */

/* marks_of()'s loop over the marks a generation defines. */
struct mctx {
	void *values;
	__u64 marks, self;
	__u32 nwords, slot;
};

/* self bit @m: some MARK term of mark @m holds (its MARKDEF bits AND acc). */
static long mark_bit(__u32 m, void *arg)
{
	struct mctx *mc = arg;
	struct scratch *s = scratch_of_cpu(mc->slot);
	struct dbos_lsm_bits *b;
	__u64 any = 0;
	__u32 i;

	if (m >= DBOS_LSM_MARKS || !s || !mc->values)
		return 1;
	if (!(mc->marks & (1ULL << m)))
		return 0;
	__builtin_memset(&s->vkey, 0, sizeof(s->vkey));
	s->vkey.hook = DBOS_LSM_MARK;
	s->vkey.field = DBOS_LSM_F_MARKDEF;
	s->vkey.value[0] = m;
	b = bpf_map_lookup_elem(mc->values, &s->vkey);
	if (!b)
		return 0;
	for (i = 0; i < DBOS_LSM_WORDS; i++)
		any |= s->acc.w[i] & b->w[i];
	if (any)
		mc->self |= 1ULL << m;
	return 0;
}

/*
 * The marks of generation @gen (a slot) that the process of task @task (a
 * kernel pointer, as a number) satisfies now: its tgid, real uid, euid and
 * gid, its leader's comm (or @comm, a kernel string, when not 0: a rename in
 * progress) and its executable, against the MARK terms. 0 when @gen defines
 * no marks. @sslot: the caller's scratch entry. A global function: the
 * verifier checks it once.
 */
__noinline __u64 marks_of(__u64 task, __u64 comm, __u32 gen, __u32 sslot)
{
	struct task_struct *t = (struct task_struct *)task;
	struct scratch *s = scratch_of_cpu(sslot);
	struct dbos_lsm_hook_cfg *cfg;
	__u32 hook = DBOS_LSM_MARK, slot = gen & 1, i;
	struct dctx c = { .hook = DBOS_LSM_MARK, .slot = sslot,
			  .allow = -1, .deny = -1, .audit = -1 };
	struct mctx mc = { .slot = sslot };
	void *cfgs;

	if (!s || !t)
		return 0;
	cfgs = bpf_map_lookup_elem(&dbos_cfgs, &slot);
	if (!cfgs)
		return 0;
	cfg = bpf_map_lookup_elem(cfgs, &hook);
	if (!cfg || !cfg->nwords || !cfg->marks)
		return 0;
	c.cfg = cfg;
	c.fields = cfg->fields;
	c.nwords = cfg->nwords;
	c.values = bpf_map_lookup_elem(&dbos_values, &slot);
	c.paths = bpf_map_lookup_elem(&dbos_paths, &slot);
	s->pid = BPF_CORE_READ(t, tgid);
	s->uid = BPF_CORE_READ(t, real_cred, uid.val);
	s->euid = BPF_CORE_READ(t, real_cred, euid.val);
	s->gid = BPF_CORE_READ(t, real_cred, gid.val);
	__builtin_memset(s->name, 0, sizeof(s->name));
	if (comm)
		bpf_probe_read_kernel_str(s->name, sizeof(s->name), (const void *)comm);
	else
		BPF_CORE_READ_STR_INTO(&s->name, t, group_leader, comm);
	for (i = 0; i < DBOS_LSM_WORDS; i++)
		s->acc.w[i] = ~0ULL;
	if (c.fields & (1ULL << DBOS_LSM_F_EXE))
		and_exe(s, &c, t);
	bpf_loop(DBOS_LSM_F__COUNT, and_field, &c, 0);
	mc.values = c.values;
	mc.marks = cfg->marks;
	mc.nwords = cfg->nwords;
	bpf_loop(DBOS_LSM_MARKS, mark_bit, &mc, 0);
	return mc.self;
}

/*
 * Recompute the self bits of the process led by @leader, whose identity just
 * changed (exec, rename to @comm, credentials). Storage refused: spilled, to
 * be recomputed at the next access that gets it.
 */
static __always_inline void marks_refresh(struct task_struct *leader, __u64 comm)
{
	struct marks_spill *e;
	struct dbos_lsm_marks *mk;
	__u64 self;

	if (!(marks_defined(0) | marks_defined(1)))
		return;
	mk = marks_get(leader, true, &e);
	if (!mk) {
		marks_spill(leader, SPILL_REFRESH, 0, 0, 0);
		return;
	}
	if (marks_self(leader, comm, &self)) {
		/* Unknown from now on (an epoch it never reached). */
		count(DBOS_LSM_C_MARK_FAILED);
		mk->epoch = 0;
		return;
	}
	mk->self = self;
	__sync_fetch_and_add(&mk->gen, 1);
}

/* exec: the new program, comm and credentials are in place (the task is its group's leader). */
SEC("lsm/bprm_committed_creds")
int BPF_PROG(dbos_mark_exec, struct linux_binprm *bprm)
{
	marks_refresh(bpf_get_current_task_btf()->group_leader, 0);
	return 0;
}

/* A rename (prctl, /proc/PID/comm): only the leader's comm names the process. */
SEC("tp_btf/task_rename")
int BPF_PROG(dbos_mark_rename, struct task_struct *task, const char *comm)
{
	if (task->group_leader == task)
		marks_refresh(task, (__u64)comm);
	return 0;
}

/* setuid and friends (and exec's own commit, which dbos_mark_exec follows). */
SEC("fexit/commit_creds")
int BPF_PROG(dbos_mark_creds, struct cred *new, int ret)
{
	struct task_struct *t = bpf_get_current_task_btf();

	if (t->group_leader == t)
		marks_refresh(t, 0);
	return 0;
}

/* Fork: the child's lineage, before it runs, from its parent's marks @pm (epoch 0: unknown). */
static __always_inline void marks_fork(struct task_struct *child, const struct dbos_lsm_marks *pm)
{
	struct dbos_lsm_marks *cm;
	struct marks_spill *e;

	if (!(marks_defined(0) | marks_defined(1)))
		return;
	cm = marks_get(child, true, &e);
	if (!cm) {
		marks_spill(child, SPILL_MARKS, pm->self, pm->desc | pm->self, pm->epoch);
		return;
	}
	cm->self = pm->self;
	cm->desc = pm->desc | pm->self;
	asm volatile("" ::: "memory");
	*(volatile __u64 *)&cm->epoch = pm->epoch;
}

/* The walk's loop up the ancestors: each one's marks (as defined by the walked slot). */
struct actx {
	__u64 task;		/* the ancestor to look at next */
	__u64 marks, desc;
	__u32 gen, sslot;
};

static long ancestor_marks(__u32 i, void *arg)
{
	struct actx *a = arg;
	struct task_struct *t = (struct task_struct *)a->task;

	if (!t || !BPF_CORE_READ(t, pid))
		return 1;	/* past init: the idle task */
	a->desc |= marks_of(a->task, 0, a->gen, a->sslot) & a->marks;
	a->task = (__u64)BPF_CORE_READ(t, real_parent);
	return 0;
}

/*
 * The commit walk (read by dbosd through a task iterator, before the flip):
 * every process whose marks are not complete for walk_epoch gets them, as
 * slot walk_slot defines them: self from its identity, desc from its
 * current ancestors (their identities now; a process born before the rule
 * has no record of the lineage it forked from). A process it completes is
 * printed (its tgid and a newline), so dbosd walks again until none is.
 */
SEC("iter/task")
int dbos_mark_walk(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *t = ctx->task;
	struct dbos_lsm_marks *mk;
	struct dbos_lsm_state *st;
	struct marks_spill *e;
	struct actx a = {};
	struct scratch *s;
	__u64 mask, gen, self, epoch;
	__u32 zero = 0, slot;

	if (!t || t->group_leader != t)
		return 0;	/* threads: their leader holds the marks */
	st = bpf_map_lookup_elem(&dbos_state, &zero);
	if (!st)
		return 0;
	epoch = st->walk_epoch;
	slot = st->walk_slot & 1;
	mk = marks_get(t, true, &e);
	if (!mk) {
		count(DBOS_LSM_C_MARK_FAILED);
		return 0;
	}
	if (mk->epoch >= epoch)
		return 0;
	/* Complete for the live generation: only the new marks; else every mark. */
	mask = mk->epoch && mk->epoch >= st->mark_epoch[!slot] ? st->walk_new : marks_defined(slot);
	s = scratch_claim();
	if (!s) {
		count(DBOS_LSM_C_MARK_FAILED);
		return 0;
	}
	gen = *(volatile __u64 *)&mk->gen;
	self = marks_of(to_scalar(t), 0, slot, s->slot) & mask;
	a.task = to_scalar(t->real_parent);
	a.marks = mask;
	a.gen = slot;
	a.sslot = s->slot;
	bpf_loop(DBOS_LSM_ANCESTORS, ancestor_marks, &a, 0);
	mk->desc = (mk->desc & ~mask) | a.desc;
	mk->self = (mk->self & ~mask) | self;
	/* An exec, rename or setuid meanwhile: its identity may be newer than ours. */
	if (*(volatile __u64 *)&mk->gen != gen)
		mk->self = (mk->self & ~mask) | (marks_of(to_scalar(t), 0, slot, s->slot) & mask);
	scratch_release(s);
	asm volatile("" ::: "memory");
	*(volatile __u64 *)&mk->epoch = epoch;
	BPF_SEQ_PRINTF(seq, "%d\n", t->tgid);
	return 0;
}

/* @child's (and its descendants') server-side pid-set membership is unknown. */
static __always_inline void set_lost(struct task_struct *child)
{
	struct marks_spill *e;
	struct dbos_lsm_marks *mk = marks_get(child, true, &e);

	count(DBOS_LSM_C_INHERIT_FAILED);
	if (mk)
		__sync_fetch_and_or(&mk->flags, DBOS_LSM_MARKF_SET_LOST);
	else
		marks_spill(child, SPILL_SET_LOST, 0, 0, 0);
}

/* The child's pid-set bits from @pb: inherited terms, dflt for the others. */
static __always_inline void inherit_bits(struct scratch *s, struct dbos_lsm_hook_cfg *cfg,
					 struct dbos_lsm_bits *pb)
{
	__u32 i;

	for (i = 0; i < DBOS_LSM_WORDS; i++) {
		__u64 inh = cfg->inherit.w[i];

		s->acc.w[i] = (pb->w[i] & inh) | (cfg->dflt[DBOS_LSM_F_PID].w[i] & ~inh);
	}
}

/* dbos_fork's loop over the hooks of one slot (a bpf_loop callback: verified once, not per hook). */
struct fctx {
	void *cfgs, *values;
	void *from;		/* where the parent's entries come from */
	__u32 ptgid, ctgid;
	__u32 sslot;		/* scratch entry */
	__u32 lost;		/* an entry of the child's could not be written */
};

static long fork_hook(__u32 hook, void *arg)
{
	struct fctx *f = arg;
	struct scratch *s = scratch_of_cpu(f->sslot);
	__u32 hkey = hook, i;
	struct dbos_lsm_hook_cfg *cfg;
	struct dbos_lsm_bits *pb, *fb;
	__u64 any = 0;

	if (hook >= DBOS_LSM_HOOK__COUNT || !s || !f->cfgs || !f->from || !f->values)
		return 1;
	cfg = bpf_map_lookup_elem(f->cfgs, &hkey);
	if (!cfg || !cfg->nwords)
		return 0;
	for (i = 0; i < DBOS_LSM_WORDS; i++)
		any |= cfg->inherit.w[i];	/* zero past nwords */
	if (!any)
		return 0;
	__builtin_memset(&s->vkey, 0, sizeof(s->vkey));
	s->vkey.hook = hook;
	s->vkey.field = DBOS_LSM_F_FORK;
	*(__u64 *)s->vkey.value = f->ptgid;
	fb = bpf_map_lookup_elem(f->from, &s->vkey);
	s->vkey.field = DBOS_LSM_F_PID;
	pb = bpf_map_lookup_elem(f->from, &s->vkey);
	/* (two branches: clang would OR the two pointers, which the verifier refuses) */
	if (fb)
		inherit_bits(s, cfg, fb);
	else if (pb)
		inherit_bits(s, cfg, pb);
	else
		return 0;
	*(__u64 *)s->vkey.value = f->ctgid;
	if (bpf_map_update_elem(f->values, &s->vkey, &s->acc, BPF_ANY))
		f->lost = 1;
	return 0;
}

/* The child's entries in slot @slot, from the parent's there or, when @from is set, there. */
static __always_inline void fork_slot(__u32 slot, struct fctx *f, void *from)
{
	/* Keys are copies: a counter whose address a helper takes is lost to the verifier. */
	__u32 skey = slot;

	f->cfgs = bpf_map_lookup_elem(&dbos_cfgs, &skey);
	f->values = bpf_map_lookup_elem(&dbos_values, &skey);
	f->from = from ? from : f->values;
	if (f->cfgs && f->values)
		bpf_loop(DBOS_LSM_HOOK__COUNT, fork_hook, f, 0);
}

/*
 * Pid sets: a child is in them before it can run. Its PID bits for the
 * inherited terms are its parent's FORK entry's (the server's answer to
 * "would a child of this pid be a member?", e.g. for the descendants of a
 * process that is not itself a member) or, without one (the parent was born
 * since the server last looked), its parent's own PID entry's.
 *
 * Both slots get the child's entry. While the idle slot is being filled
 * with the live version again (the server refreshing its sets, same terms),
 * the parent's entries may not be written there yet: they are then taken
 * from the live slot, so the refreshed generation has the child too.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(dbos_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid, zero = 0, live = 0;
	struct fctx f = {};
	struct dbos_lsm_marks pm;
	struct dbos_lsm_state *st;
	void *live_values = NULL;
	bool same = false;
	struct scratch *s;

	if (ptgid == ctgid)
		return 0;	/* a thread: same tgid, same entries */
	/* the child is unknown until a walk reaches it when its parent is */
	if (marks_read(parent->group_leader, &pm))
		pm.epoch = pm.self = pm.desc = pm.flags = 0;
	marks_fork(child, &pm);
	if (pm.flags & DBOS_LSM_MARKF_SET_LOST)
		set_lost(child);
	st = bpf_map_lookup_elem(&dbos_state, &zero);
	if (st) {
		live = *(volatile __u32 *)&st->live & 1;
		same = st->version[0] && st->version[0] == st->version[1];
		live_values = bpf_map_lookup_elem(&dbos_values, &live);
	}
	s = scratch_claim();
	if (!s) {
		set_lost(child);
		return 0;
	}
	f.ptgid = ptgid;
	f.ctgid = ctgid;
	f.sslot = s->slot;
	/* (no loop around bpf_loop: 6.1's verifier refuses a back-edge that is a call's fallthrough) */
	fork_slot(0, &f, same && live != 0 ? live_values : NULL);
	fork_slot(1, &f, same && live != 1 ? live_values : NULL);
	if (f.lost)
		set_lost(child);
	scratch_release(s);
	return 0;
}

/*
 * A dead thread group's PID and FORK entries go, so that a reused pid
 * inherits no rule; so does what was spilled of its marks.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(dbos_exit, struct task_struct *p)
{
	__u32 tgid = p->tgid, slot, hook;
	struct dbos_lsm_value_key key __attribute__((aligned(8))) = {};
	struct marks_spill_key sk;
	struct dbos_lsm_state *st;

	if (BPF_CORE_READ(p, signal, live.counter))
		return 0;	/* other threads still run */
	st = state();
	if (st && *(volatile __u64 *)&st->spilled) {
		spill_key(p->group_leader, &sk);
		if (!bpf_map_delete_elem(&dbos_marks_spill, &sk))
			__sync_fetch_and_sub(&st->spilled, 1);
	}
	key.field = DBOS_LSM_F_PID;
	*(__u64 *)key.value = tgid;
	for (slot = 0; slot < 2; slot++) {
		/* Keys are copies: a counter whose address a helper takes is lost to the verifier. */
		__u32 skey = slot;
		void *cfgs = bpf_map_lookup_elem(&dbos_cfgs, &skey);
		void *values = bpf_map_lookup_elem(&dbos_values, &skey);

		if (!cfgs || !values)
			continue;
		for (hook = 0; hook < DBOS_LSM_HOOK__COUNT; hook++) {
			__u32 hkey = hook;
			struct dbos_lsm_hook_cfg *cfg = bpf_map_lookup_elem(cfgs, &hkey);

			if (!cfg || !cfg->nwords || !(cfg->fields & (1ULL << DBOS_LSM_F_PID)))
				continue;
			key.hook = hook;
			key.field = DBOS_LSM_F_PID;
			bpf_map_delete_elem(values, &key);
			key.field = DBOS_LSM_F_FORK;
			bpf_map_delete_elem(values, &key);
		}
	}
	return 0;
}
