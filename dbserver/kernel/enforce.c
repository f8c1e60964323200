// SPDX-License-Identifier: GPL-2.0
/* enforce.c - load/pin/adopt the BPF LSM programs, write and flip generations, read decisions. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dbserver/kernel/enforce.h"
#include "dbos_lsm.skel.h"

#define BPFFS_DIR	"/sys/fs/bpf"
#define BPFFS_MAGIC	0xcafe4a11
#define LSM_LIST	"/sys/kernel/security/lsm"

/* The pinned maps, by their names in bpf/dbos_lsm.bpf.c (also their pin file names). */
enum { M_CFGS, M_VALUES, M_PATHS, M_STATE, M_COUNTERS, M_DECISIONS, M_MARKS, M__COUNT };
static const char *const map_names[M__COUNT] = {
	"dbos_cfgs", "dbos_values", "dbos_paths", "dbos_state", "dbos_counters", "dbos_decisions",
	"dbos_marks",
};
/*
 * The programs; each one's link is pinned as link_<name>. A hook that
 * decides calls decide(), which dbos_decide replaces (bpf/dbos_lsm.bpf.c);
 * that link is pinned as ext_<name>.
 */
static const struct {
	const char *name;
	bool decides;
} progs[] = {
	{ "dbos_exec", true }, { "dbos_open", true }, { "dbos_connect", true },
	{ "dbos_bind", true }, { "dbos_kill", true }, { "dbos_fork", false },
	{ "dbos_exit", false }, { "dbos_mark_exec", false }, { "dbos_mark_rename", false },
	{ "dbos_mark_creds", false }, { "dbos_mmap", true }, { "dbos_mprotect", true },
	{ "dbos_sendmsg", true }, { "dbos_connect_unix", true }, { "dbos_send_unix", true },
	{ "dbos_mknod", true },
};
#define NPROGS (sizeof(progs) / sizeof(progs[0]))
/* The commit walk of lineage marks: a task iterator, pinned as a program (prog_<name>). */
#define WALK_PROG	"dbos_mark_walk"
/* Walks of the processes before giving up on completing their marks. */
#define WALK_PASSES	16

/*
 * dbos_mknod attaches to path_mknod, which only kernels with
 * CONFIG_SECURITY_PATH have (Debian's do); without it the program is not
 * loaded and unix binds are decided on sun_path at socket_bind (have_mknod).
 */
static bool have_mknod_hook(void)
{
	static int have = -1;	/* the kernel's BTF is parsed once: asked per program */

	if (have < 0)
		have = libbpf_find_vmlinux_btf_id("path_mknod", BPF_LSM_MAC) > 0;
	return have;
}

/* Whether program @name is loaded and attached on this kernel. */
static bool prog_wanted(const char *name)
{
	return strcmp(name, "dbos_mknod") || have_mknod_hook();
}

struct enforce {
	int adopted;
	int fd[M__COUNT];
	int walk_prog;			/* dbos_mark_walk */
	struct dbos_lsm_state *state;	/* dbos_state, mmapped */
	size_t state_len;
	int idle[3];			/* inner maps (cfg, values, paths) in the idle slot */
	int idle_clean;			/* they are fresh and empty */
	struct ring_buffer *rb;
	void (*cb)(void *arg, const struct dbos_lsm_decision *d);
	void *cb_arg;
	int ndecisions;
};

static int fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char **err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		if (vasprintf(err, fmt, ap) < 0)
			*err = NULL;
		va_end(ap);
	}
	return -1;
}

static void pin_path(char *buf, size_t n, const char *dir, const char *prefix, const char *name)
{
	snprintf(buf, n, "%s/%s%s", dir, prefix, name);
}

/* Mount bpffs on /sys/fs/bpf if it is not there. */
static int ensure_bpffs(char **err)
{
	struct statfs sf;

	if (statfs(BPFFS_DIR, &sf) == 0 && sf.f_type == BPFFS_MAGIC)
		return 0;
	if (mount("bpf", BPFFS_DIR, "bpf", 0, NULL))
		return fail(err, "mount bpffs on %s: %s", BPFFS_DIR, strerror(errno));
	return 0;
}

/* BPF LSM is active only when "bpf" is in the boot's lsm= list. */
static int check_lsm_active(char **err)
{
	char list[512] = "";
	FILE *f = fopen(LSM_LIST, "r");
	size_t n;
	char *tok, *save;
	int found = 0;

	if (!f)
		return 0;	/* no securityfs: let attaching say what is wrong */
	n = fread(list, 1, sizeof(list) - 1, f);
	fclose(f);
	list[n] = 0;
	list[strcspn(list, "\n")] = 0;
	char copy[sizeof(list)];

	memcpy(copy, list, sizeof(list));
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		found |= !strcmp(tok, "bpf");
	if (!found)
		return fail(err, "BPF LSM is not active (%s = %s): boot with lsm=%s,bpf",
			    LSM_LIST, list, list);
	return 0;
}

/* Fresh empty inner maps for one slot: the same definitions as the templates. */
static int create_inner(int fds[3], char **err)
{
	LIBBPF_OPTS(bpf_map_create_opts, nopre, .map_flags = BPF_F_NO_PREALLOC);

	fds[0] = bpf_map_create(BPF_MAP_TYPE_ARRAY, "dbos_cfg", sizeof(__u32),
				sizeof(struct dbos_lsm_hook_cfg), DBOS_LSM_CFGS, NULL);
	fds[1] = bpf_map_create(BPF_MAP_TYPE_HASH, "dbos_val", sizeof(struct dbos_lsm_value_key),
				sizeof(struct dbos_lsm_bits), DBOS_LSM_VALUES_MAX, &nopre);
	fds[2] = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "dbos_path",
				sizeof(struct dbos_lsm_path_key), sizeof(struct dbos_lsm_bits),
				DBOS_LSM_PATHS_MAX, &nopre);
	if (fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0)
		return 0;
	int e = errno;

	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return fail(err, "bpf_map_create(rule maps): %s", strerror(e));
}

/* Fresh empty maps into @slot of the outer maps; @keep: *fds gets them (the old ones closed). */
static int install_slot(const int outer[3], __u32 slot, int fds[3], int keep, char **err)
{
	static const char *const what[3] = { "dbos_cfgs", "dbos_values", "dbos_paths" };
	int nfds[3];

	if (create_inner(nfds, err))
		return -1;
	for (int i = 0; i < 3; i++) {
		/* Replacing a slot waits for an RCU grace period: no program still reads the old map. */
		if (bpf_map_update_elem(outer[i], &slot, &nfds[i], BPF_ANY)) {
			int e = errno;

			for (int j = 0; j < 3; j++)
				close(nfds[j]);
			return fail(err, "bpf_map_update_elem(%s[%u]): %s", what[i], slot, strerror(e));
		}
	}
	for (int i = 0; i < 3; i++) {
		if (keep) {
			if (fds[i] >= 0)
				close(fds[i]);
			fds[i] = nfds[i];
		} else {
			close(nfds[i]);	/* the outer map holds them */
		}
	}
	return 0;
}

static int rearm(struct enforce *e, char **err)
{
	int outer[3] = { e->fd[M_CFGS], e->fd[M_VALUES], e->fd[M_PATHS] };
	__u32 idle = !__atomic_load_n(&e->state->live, __ATOMIC_SEQ_CST);

	e->idle_clean = 0;
	if (install_slot(outer, idle, e->idle, 1, err))
		return -1;
	e->state->version[idle] = 0;
	e->idle_clean = 1;
	return 0;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct enforce *e = ctx;

	if (size < sizeof(struct dbos_lsm_decision))
		return 0;
	e->ndecisions++;
	if (e->cb)
		e->cb(e->cb_arg, data);
	return 0;
}

/* Open the pinned maps. 1: adopted, 0: nothing (usable) pinned, -1: error. */
static int adopt(struct enforce *e, const char *dir, char **err)
{
	char path[PATH_MAX];
	long page = sysconf(_SC_PAGESIZE);
	int missing = 0;

	for (int i = 0; i < M__COUNT; i++) {
		pin_path(path, sizeof(path), dir, "", map_names[i]);
		e->fd[i] = bpf_obj_get(path);
		if (e->fd[i] < 0)
			missing++;
	}
	for (size_t i = 0; i < NPROGS; i++) {
		if (!prog_wanted(progs[i].name))
			continue;
		pin_path(path, sizeof(path), dir, "link_", progs[i].name);
		if (access(path, F_OK))
			missing++;
		pin_path(path, sizeof(path), dir, "ext_", progs[i].name);
		if (progs[i].decides && access(path, F_OK))
			missing++;
	}
	pin_path(path, sizeof(path), dir, "prog_", WALK_PROG);
	e->walk_prog = bpf_obj_get(path);
	if (e->walk_prog < 0)
		missing++;
	if (missing)
		return 0;	/* none, or a partial set (removed and loaded again) */
	e->state_len = (sizeof(struct dbos_lsm_state) + page - 1) & ~(page - 1);
	e->state = mmap(NULL, e->state_len, PROT_READ | PROT_WRITE, MAP_SHARED, e->fd[M_STATE], 0);
	if (e->state == MAP_FAILED) {
		e->state = NULL;
		return fail(err, "mmap(%s/dbos_state): %s", dir, strerror(errno));
	}
	if (e->state->abi != DBOS_LSM_ABI_VERSION)
		return 0;
	return 1;
}

static void release(struct enforce *e)
{
	if (e->rb)
		ring_buffer__free(e->rb);
	if (e->state)
		munmap(e->state, e->state_len);
	e->rb = NULL;
	e->state = NULL;
	for (int i = 0; i < M__COUNT; i++) {
		if (e->fd[i] >= 0)
			close(e->fd[i]);
		e->fd[i] = -1;
	}
	for (int i = 0; i < 3; i++) {
		if (e->idle[i] >= 0)
			close(e->idle[i]);
		e->idle[i] = -1;
	}
	if (e->walk_prog >= 0)
		close(e->walk_prog);
	e->walk_prog = -1;
}

/*
 * The one copy of the decision: dbos_decide loaded from a second open of the
 * object, alone, as the replacement of decide() in the loaded hook @target,
 * on @skel's maps. NULL on error.
 */
static struct dbos_lsm *load_decide(const struct dbos_lsm *skel, int target, char **err)
{
	struct dbos_lsm *ext = dbos_lsm__open();
	struct bpf_program *p;
	struct bpf_map *m;

	if (!ext) {
		fail(err, "opening the BPF LSM programs: %s", strerror(errno));
		return NULL;
	}
	ext->rodata->have_mknod = skel->rodata->have_mknod;
	bpf_object__for_each_program(p, ext->obj)
		bpf_program__set_autoload(p, p == ext->progs.dbos_decide);
	bpf_object__for_each_map(m, ext->obj) {
		const struct bpf_map *shared;

		if (bpf_map__is_internal(m))
			continue;
		shared = bpf_object__find_map_by_name(skel->obj, bpf_map__name(m));
		if (!shared || bpf_map__reuse_fd(m, bpf_map__fd(shared))) {
			fail(err, "sharing map %s with dbos_decide: %s", bpf_map__name(m),
			     shared ? strerror(errno) : "not found");
			goto err;
		}
	}
	if (bpf_program__set_attach_target(ext->progs.dbos_decide, target, "decide") ||
	    dbos_lsm__load(ext)) {
		fail(err, "loading the BPF LSM decision (dbos_decide): %s", strerror(errno));
		goto err;
	}
	return ext;
err:
	dbos_lsm__destroy(ext);
	return NULL;
}

/* Attach program @name of @skel and pin its link as <prefix><name>; @ext: as decide() of it. */
static int attach_pin(struct dbos_lsm *skel, struct dbos_lsm *ext, const char *name,
		      const char *dir, const char *prefix, char **err)
{
	struct bpf_program *p = bpf_object__find_program_by_name(skel->obj, name);
	char path[PATH_MAX];
	struct bpf_link *l;

	if (!p)
		return fail(err, "no BPF program %s", name);
	if (ext)
		l = bpf_program__attach_freplace(ext->progs.dbos_decide, bpf_program__fd(p),
						 "decide");
	else
		l = bpf_program__attach(p);
	if (!l) {
		int e = errno;

		return fail(err, "attaching BPF program %s%s: %s%s", ext ? "dbos_decide to " : "",
			    name, strerror(e), !ext && (e == EOPNOTSUPP || e == EINVAL) ?
			    " (is BPF LSM active? boot with lsm=...,bpf)" : "");
	}
	pin_path(path, sizeof(path), dir, prefix, name);
	if (bpf_link__pin(l, path)) {
		int e = errno;

		bpf_link__destroy(l);
		return fail(err, "pinning %s: %s", path, strerror(e));
	}
	bpf_link__destroy(l);	/* the pin keeps it attached */
	return 0;
}

/*
 * Load and attach the programs, with an empty version 0 in slot 0, and pin
 * everything. Each hook's decide() is replaced by dbos_decide before any hook
 * is attached.
 */
static int load_fresh(const char *dir, char **err)
{
	struct dbos_lsm *skel, *ext = NULL;
	struct dbos_lsm_state *st;
	char path[PATH_MAX];
	int none[3] = { -1, -1, -1 }, outer[3], rc = -1;
	size_t len = (sizeof(*st) + sysconf(_SC_PAGESIZE) - 1) & ~(sysconf(_SC_PAGESIZE) - 1);

	skel = dbos_lsm__open();
	if (!skel)
		return fail(err, "opening the BPF LSM programs: %s", strerror(errno));
	skel->rodata->have_mknod = have_mknod_hook();
	if (!skel->rodata->have_mknod)
		bpf_program__set_autoload(skel->progs.dbos_mknod, false);
	if (dbos_lsm__load(skel)) {
		rc = errno;
		dbos_lsm__destroy(skel);
		return fail(err, "loading the BPF LSM programs: %s", strerror(rc));
	}
	outer[0] = bpf_map__fd(skel->maps.dbos_cfgs);
	outer[1] = bpf_map__fd(skel->maps.dbos_values);
	outer[2] = bpf_map__fd(skel->maps.dbos_paths);
	if (install_slot(outer, 0, none, 0, err) || install_slot(outer, 1, none, 0, err))
		goto out;
	st = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
		  bpf_map__fd(skel->maps.dbos_state), 0);
	if (st == MAP_FAILED) {
		fail(err, "mmap(dbos_state): %s", strerror(errno));
		goto out;
	}
	st->live = 0;
	st->version[0] = st->version[1] = 0;
	st->abi = DBOS_LSM_ABI_VERSION;
	munmap(st, len);

	struct bpf_map *maps[M__COUNT] = {
		skel->maps.dbos_cfgs, skel->maps.dbos_values, skel->maps.dbos_paths,
		skel->maps.dbos_state, skel->maps.dbos_counters, skel->maps.dbos_decisions,
		skel->maps.dbos_marks,
	};
	for (int i = 0; i < M__COUNT; i++) {
		pin_path(path, sizeof(path), dir, "", map_names[i]);
		if (bpf_obj_pin(bpf_map__fd(maps[i]), path)) {
			fail(err, "bpf_obj_pin(%s): %s", path, strerror(errno));
			goto out;
		}
	}
	ext = load_decide(skel, bpf_program__fd(skel->progs.dbos_exec), err);
	if (!ext)
		goto out;
	for (size_t i = 0; i < NPROGS; i++)
		if (progs[i].decides && prog_wanted(progs[i].name) &&
		    attach_pin(skel, ext, progs[i].name, dir, "ext_", err))
			goto out;
	for (size_t i = 0; i < NPROGS; i++)
		if (prog_wanted(progs[i].name) &&
		    attach_pin(skel, NULL, progs[i].name, dir, "link_", err))
			goto out;
	pin_path(path, sizeof(path), dir, "prog_", WALK_PROG);
	if (bpf_program__pin(skel->progs.dbos_mark_walk, path)) {
		fail(err, "pinning %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	dbos_lsm__destroy(ext);
	dbos_lsm__destroy(skel);
	if (rc)
		enforce_unload(dir, NULL);
	return rc;
}

int enforce_open(const char *pin_dir, struct enforce **out, char **err)
{
	const char *dir = pin_dir ? pin_dir : DBOS_LSM_PIN_DIR;
	struct enforce *e;
	int r, loaded = 0;

	if (err)
		*err = NULL;
	if (check_lsm_active(err) || ensure_bpffs(err))
		return -1;
	if (mkdir(dir, 0700) && errno != EEXIST)
		return fail(err, "mkdir %s: %s", dir, strerror(errno));
	e = calloc(1, sizeof(*e));
	if (!e)
		return fail(err, "out of memory");
	for (int i = 0; i < M__COUNT; i++)
		e->fd[i] = -1;
	for (int i = 0; i < 3; i++)
		e->idle[i] = -1;
	e->walk_prog = -1;
	for (;;) {
		r = adopt(e, dir, err);
		if (r < 0)
			goto err;
		if (r > 0)
			break;
		release(e);
		if (loaded) {
			fail(err, "the BPF LSM state pinned under %s is incomplete after loading", dir);
			goto err;
		}
		/* Nothing usable pinned (none, partial, or another ABI): start over. */
		if (enforce_unload(dir, err) || mkdir(dir, 0700) || load_fresh(dir, err))
			goto err_msg;
		loaded = 1;
	}
	e->adopted = !loaded;
	e->rb = ring_buffer__new(e->fd[M_DECISIONS], on_sample, e, NULL);
	if (!e->rb) {
		fail(err, "ring_buffer__new(dbos_decisions): %s", strerror(errno));
		goto err;
	}
	if (rearm(e, err))
		goto err;
	*out = e;
	return 0;
err_msg:
	if (err && !*err)
		fail(err, "preparing %s: %s", dir, strerror(errno));
err:
	release(e);
	free(e);
	return -1;
}

int enforce_adopted(const struct enforce *e)
{
	return e->adopted;
}

uint64_t enforce_live_version(const struct enforce *e)
{
	__u32 live = __atomic_load_n(&e->state->live, __ATOMIC_SEQ_CST) & 1;

	return e->state->version[live];
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * A re-push of the live version (the server refreshing its sets): the
 * kernel gave every process forked since the server read processes its PID
 * entries at fork (bpf: dbos_fork), and the image, computed without them,
 * has none. Copy those from the live slot into @idle, unless a fork already
 * wrote one there. The terms are the same, so the bits mean the same.
 */
static int keep_unknown(struct enforce *e, const struct enforce_gen *gen, __u32 live,
			int idle, char **err)
{
	struct dbos_lsm_value_key key, next;
	struct dbos_lsm_bits bits;
	__u32 id = 0;
	int fd, r = 0;
	void *prev = NULL;

	if (bpf_map_lookup_elem(e->fd[M_VALUES], &live, &id))
		return fail(err, "live values map: %s", strerror(errno));
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return fail(err, "live values map %u: %s", id, strerror(errno));
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		uint64_t pid;
		uint32_t p32;

		key = next;
		prev = &key;
		if (key.field != DBOS_LSM_F_PID)
			continue;
		memcpy(&pid, key.value, sizeof(pid));
		p32 = (uint32_t)pid;
		if (bsearch(&p32, gen->known_pids, gen->nknown, sizeof(p32), u32_cmp))
			continue;
		if (bpf_map_lookup_elem(fd, &key, &bits))
			continue;	/* gone meanwhile (exit) */
		if (bpf_map_update_elem(idle, &key, &bits, BPF_NOEXIST) && errno != EEXIST) {
			r = fail(err, "bpf_map_update_elem(values, pid %u): %s", p32, strerror(errno));
			break;
		}
	}
	close(fd);
	return r;
}

/*
 * Writes @n value entries into the values map @fd, VALUES_BATCH at a time
 * (BPF_MAP_UPDATE_BATCH: one system call for each batch instead of one for
 * each entry; 65,536 entries took minutes on the debug kernel under TCG).
 */
#define VALUES_BATCH	4096
static int push_values(int fd, const struct enforce_value *v, size_t n, char **err)
{
	struct dbos_lsm_value_key *keys = malloc(VALUES_BATCH * sizeof(*keys));
	struct dbos_lsm_bits *bits = malloc(VALUES_BATCH * sizeof(*bits));
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	int r = 0;

	if (!keys || !bits)
		r = fail(err, "out of memory");
	for (size_t done = 0; !r && done < n;) {
		__u32 count = n - done < VALUES_BATCH ? n - done : VALUES_BATCH;

		for (__u32 i = 0; i < count; i++) {
			keys[i] = v[done + i].key;
			bits[i] = v[done + i].bits;
		}
		if (bpf_map_update_batch(fd, keys, bits, &count, &opts))
			r = fail(err, "bpf_map_update_batch(values, entry %zu of %zu): %s",
				 done + count + 1, n, strerror(errno));
		done += count;
	}
	free(keys);
	free(bits);
	return r;
}

/*
 * One walk of every process (the task iterator dbos_mark_walk, through a
 * link on @link): how many processes it completed, or -1 with *@err.
 */
static long walk_once(int link, char **err)
{
	char buf[4096];
	long n = 0;
	ssize_t r;
	int fd = bpf_iter_create(link);

	if (fd < 0)
		return fail(err, "bpf_iter_create(%s): %s", WALK_PROG, strerror(errno));
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < r; i++)
			n += buf[i] == '\n';
	if (r < 0) {
		int e = errno;

		close(fd);
		return fail(err, "reading the %s iterator: %s", WALK_PROG, strerror(e));
	}
	close(fd);
	return n;
}

/*
 * The lineage marks of a prepared generation in slot @idle: marks new to it
 * (gen->marks_new) are computed by the kernel for every process, walked
 * again until a walk finds none left (a process forked meanwhile from one
 * not walked yet is not complete), then the slot requires the new epoch.
 * Without new marks the slot requires what the live one does.
 */
static int prepare_marks(struct enforce *e, const struct enforce_gen *gen, __u32 idle,
			 char **err)
{
	struct dbos_lsm_state *st = e->state;
	__u64 epoch;
	long left = 1;
	int link;

	if (!gen->marks_new || !gen->cfg[DBOS_LSM_MARK].marks) {
		st->mark_epoch[idle] = st->mark_epoch[!idle];
		return 0;
	}
	epoch = st->walk_epoch;
	if (st->mark_epoch[0] > epoch)
		epoch = st->mark_epoch[0];
	if (st->mark_epoch[1] > epoch)
		epoch = st->mark_epoch[1];
	epoch++;
	st->walk_slot = idle;
	st->walk_new = gen->marks_new;
	__atomic_store_n(&st->walk_epoch, epoch, __ATOMIC_SEQ_CST);
	link = bpf_link_create(e->walk_prog, 0, BPF_TRACE_ITER, NULL);
	if (link < 0)
		return fail(err, "attaching the %s iterator: %s", WALK_PROG, strerror(errno));
	for (int pass = 0; pass < WALK_PASSES && left > 0; pass++)
		left = walk_once(link, err);
	close(link);
	if (left < 0)
		return -1;
	if (left)
		return fail(err, "lineage marks: processes kept appearing faster than %d walks "
			    "could complete them; nothing changed, try again", WALK_PASSES);
	st->mark_epoch[idle] = epoch;
	return 0;
}

void enforce_live_marks(const struct enforce *e, uint64_t hash[DBOS_LSM_MARKS])
{
	__u32 live = __atomic_load_n(&e->state->live, __ATOMIC_SEQ_CST) & 1, id = 0;
	struct dbos_lsm_value_key key = { .hook = DBOS_LSM_MARK, .field = DBOS_LSM_F_MARKID };
	struct dbos_lsm_bits bits;
	int fd;

	memset(hash, 0, DBOS_LSM_MARKS * sizeof(*hash));
	if (bpf_map_lookup_elem(e->fd[M_VALUES], &live, &id))
		return;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return;
	for (int m = 0; m < DBOS_LSM_MARKS; m++) {
		key.value[0] = m;
		if (!bpf_map_lookup_elem(fd, &key, &bits))
			hash[m] = bits.w[0];
	}
	close(fd);
}

int enforce_prepare(struct enforce *e, const struct enforce_gen *gen, char **err)
{
	__u32 idle;

	if (err)
		*err = NULL;
	if (!e->idle_clean && rearm(e, err))
		return -1;
	idle = !__atomic_load_n(&e->state->live, __ATOMIC_SEQ_CST);
	e->idle_clean = 0;
	/*
	 * The version first: while the live version is filled in again, a fork
	 * takes the parent's entries from the live slot (bpf: dbos_fork).
	 */
	e->state->version[idle] = gen->version;
	/* Configs first: a fork meanwhile sees the new inherit bits for parents already written. */
	for (__u32 h = 0; h < DBOS_LSM_CFGS; h++)
		if (bpf_map_update_elem(e->idle[0], &h, &gen->cfg[h], BPF_ANY))
			return fail(err, "bpf_map_update_elem(cfg %u): %s", h, strerror(errno));
	if (push_values(e->idle[1], gen->values, gen->nvalues, err))
		return -1;
	for (size_t i = 0; i < gen->npaths; i++)
		if (bpf_map_update_elem(e->idle[2], &gen->paths[i].key, &gen->paths[i].bits,
					BPF_ANY))
			return fail(err, "bpf_map_update_elem(paths, '%.*s' prefixlen %u): %s",
				    DBOS_LSM_PATH_MAX, gen->paths[i].key.path,
				    gen->paths[i].key.prefixlen, strerror(errno));
	if (gen->known_pids && e->state->version[!idle] == gen->version &&
	    keep_unknown(e, gen, !idle, e->idle[1], err))
		return -1;
	return prepare_marks(e, gen, idle, err);
}

void enforce_flip(struct enforce *e)
{
	__u32 idle = !__atomic_load_n(&e->state->live, __ATOMIC_SEQ_CST);

	__atomic_store_n(&e->state->live, idle, __ATOMIC_SEQ_CST);
	/*
	 * A program that read the old `live` may not have looked up its maps
	 * yet. Putting the new live cfg map back in its own slot changes
	 * nothing but returns after an RCU grace period, when no such program
	 * runs any more; only then is the old slot's content replaced.
	 */
	if (e->idle[0] >= 0)
		bpf_map_update_elem(e->fd[M_CFGS], &idle, &e->idle[0], BPF_ANY);
	/* The next prepare retries on failure. */
	rearm(e, NULL);
}

int enforce_poll(struct enforce *e, int timeout_ms,
		 void (*cb)(void *arg, const struct dbos_lsm_decision *d), void *arg, char **err)
{
	int r;

	e->cb = cb;
	e->cb_arg = arg;
	e->ndecisions = 0;
	r = ring_buffer__poll(e->rb, timeout_ms);
	e->cb = NULL;
	if (r == -EINTR)
		return e->ndecisions;
	if (r < 0)
		return fail(err, "ring_buffer__poll(dbos_decisions): %s", strerror(-r));
	return e->ndecisions;
}

void enforce_counters(const struct enforce *e, uint64_t out[DBOS_LSM_C__COUNT])
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 *v = ncpus > 0 ? calloc(ncpus, sizeof(*v)) : NULL;

	for (__u32 c = 0; c < DBOS_LSM_C__COUNT; c++) {
		out[c] = 0;
		if (!v || bpf_map_lookup_elem(e->fd[M_COUNTERS], &c, v))
			continue;
		for (int i = 0; i < ncpus; i++)
			out[c] += v[i];
	}
	free(v);
}

void enforce_close(struct enforce *e)
{
	if (!e)
		return;
	release(e);
	free(e);
}

/*
 * Unpin what is pinned under @dir (pass 0: the hooks' links, so that no hook
 * runs the decide() stub once dbos_decide is detached; pass 1: the rest).
 */
static int unpin_all(const char *dir, int pass, char **err)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return errno == ENOENT ? 0 : fail(err, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!pass && strncmp(de->d_name, "link_", 5))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		/* A link detaches when its pin goes and no one holds it open. */
		if (unlink(path)) {
			int e = errno;

			closedir(d);
			return fail(err, "unlink %s: %s", path, strerror(e));
		}
	}
	closedir(d);
	return 0;
}

int enforce_unload(const char *pin_dir, char **err)
{
	const char *dir = pin_dir ? pin_dir : DBOS_LSM_PIN_DIR;

	if (err)
		*err = NULL;
	if (unpin_all(dir, 0, err) || unpin_all(dir, 1, err))
		return -1;
	if (rmdir(dir) && errno != ENOENT)
		return fail(err, "rmdir %s: %s", dir, strerror(errno));
	return 0;
}
