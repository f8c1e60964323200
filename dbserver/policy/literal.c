// SPDX-License-Identifier: GPL-2.0
/* literal.c - a condition's literals -> the kernel's encoding of each context column (values map, path trie). */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "dbserver/policy/compile_int.h"

/* @l for column @col -> @v; -1 with @why. */
int lit_value(const struct pcol *col, const struct plit *l, struct pval *v, char *why,
	      size_t size)
{
	static const struct { const char *s; int v; } words[] = {
		{ "r", 1 }, { "w", 2 }, { "rw", 3 },			/* PCOL_MODE */
		{ "unix", AF_UNIX }, { "inet", AF_INET }, { "inet6", AF_INET6 },
	};
	int64_t lo = 0, hi = UINT32_MAX;
	uint64_t u;

	memset(v, 0, sizeof(*v));
	switch (col->kind) {
	case PCOL_NAME:
		if (!l->is_str)
			break;
		if (l->len > 15) {
			snprintf(why, size, "names are at most 15 bytes (the kernel's comm)");
			return -1;
		}
		memcpy(v->b, l->str, l->len);
		return 0;
	case PCOL_ADDR: {
		struct in6_addr a6;
		struct in_addr a4;
		char back[INET6_ADDRSTRLEN];

		if (!l->is_str)
			break;
		if (inet_pton(AF_INET, l->str, &a4) == 1) {
			v->b[10] = v->b[11] = 0xff;
			memcpy(v->b + 12, &a4, 4);
			inet_ntop(AF_INET, &a4, back, sizeof(back));
		} else if (inet_pton(AF_INET6, l->str, &a6) == 1) {
			memcpy(v->b, &a6, 16);
			if (IN6_IS_ADDR_V4MAPPED(&a6))
				inet_ntop(AF_INET, v->b + 12, back, sizeof(back));
			else
				inet_ntop(AF_INET6, &a6, back, sizeof(back));
		} else {
			snprintf(why, size, "not an IPv4 or IPv6 address");
			return -1;
		}
		if (strcmp(back, l->str)) {	/* the tables show this form */
			snprintf(why, size, "write the address as '%s'", back);
			return -1;
		}
		return 0;
	}
	case PCOL_MODE:
	case PCOL_FAMILY:
		/*
		 * The tables (and so policy_simulate) show mode and the known
		 * families as words: a number there would compile but never
		 * simulate the same, so only unnamed families are numbers.
		 */
		if (!l->is_str) {
			for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
				if ((i < 3) == (col->kind == PCOL_MODE) && words[i].v == l->ival) {
					snprintf(why, size, "write '%s' (the tables show %s as text)",
						 words[i].s, col->name);
					return -1;
				}
			}
			break;
		}
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
			if ((i < 3) == (col->kind == PCOL_MODE) && !strcmp(words[i].s, l->str)) {
				u = words[i].v;
				memcpy(v->b, &u, sizeof(u));
				return 0;
			}
		}
		snprintf(why, size, col->kind == PCOL_MODE ? "mode is 'r', 'w' or 'rw'" :
			 "family is 'inet', 'inet6', 'unix' or the number of another family");
		return -1;
	case PCOL_PATH:
		break;
	default:
		break;
	}
	switch (col->kind) {
	case PCOL_NAME:
	case PCOL_ADDR:
	case PCOL_PATH:
		snprintf(why, size, "%s is a text column: write '%lld', not %lld", col->name,
			 (long long)l->ival, (long long)l->ival);
		return -1;
	case PCOL_U63:
		hi = INT64_MAX;
		break;
	case PCOL_PORT:
	case PCOL_FAMILY:
		hi = 65535;
		break;
	case PCOL_SIGNAL:
		hi = 64;
		break;
	case PCOL_MODE:
		lo = 1, hi = 3;
		break;
	default:
		break;
	}
	if (l->is_str) {
		snprintf(why, size, "%s is an integer column: write a number, not '%s'",
			 col->name, l->str);
		return -1;
	}
	if (l->overflow || l->ival < lo || l->ival > hi) {
		snprintf(why, size, "%s is %lld..%lld", col->name, (long long)lo, (long long)hi);
		return -1;
	}
	u = l->ival;
	memcpy(v->b, &u, sizeof(u));
	return 0;
}

/* A literal (exact) or GLOB pattern of path column @col -> @p; -1 with @why. */
int lit_path(const struct pcol *col, const struct plit *l, int glob, struct pstr *p, char *why,
	     size_t size)
{
	size_t n = l->len, wild;

	if (!l->is_str) {
		snprintf(why, size, "%s is a text column: write '%lld', not %lld",
			 col->name, (long long)l->ival, (long long)l->ival);
		return -1;
	}
	if (!n) {
		/* no path is empty; the kernel's empty key stands for "none" (NULL) */
		snprintf(why, size, "%s is never ''", col->name);
		return -1;
	}
	wild = strcspn(l->str, "*?[");
	if (glob && wild < n) {
		if (wild != n - 1 || l->str[wild] != '*') {
			snprintf(why, size, "only an exact path or 'prefix*' (one '*' at the end, "
				 "no ? or [) compiles into the kernel");
			return -1;
		}
		n--;		/* prefix */
	}
	if (n > DBOS_LSM_PATH_MAX - 1) {
		snprintf(why, size, "paths longer than %d bytes do not compile",
			 DBOS_LSM_PATH_MAX - 1);
		return -1;
	}
	if (!glob || wild == l->len)
		n++;		/* exact: with its NUL */
	memcpy(p->s, l->str, n);
	memset(p->s + n, 0, sizeof(p->s) - n);
	p->len = n;
	return 0;
}

/* realpath() of @path's directory part (up to the last '/') + the rest, into @buf. */
static int resolve_dir(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX], real[PATH_MAX];
	size_t n = slash - path;

	if (!slash || n >= sizeof(dir))
		return -1;
	memcpy(dir, path, n);
	dir[n] = 0;
	if (!realpath(n ? dir : "/", real))
		return -1;
	return snprintf(buf, size, "%s%s%s", real, strcmp(real, "/") ? "/" : "", slash + 1) <
	       (int)size ? 0 : -1;
}

int lit_resolve(const struct pstr *p, struct pstr *out)
{
	char path[DBOS_LSM_PATH_MAX + 1], real[PATH_MAX];
	int exact = p->len && !p->s[p->len - 1];
	size_t n = exact ? p->len - 1 : p->len;

	if (!n || p->s[0] != '/')
		return 0;	/* unix abstract names ('@...'), the empty path */
	memcpy(path, p->s, n);
	path[n] = 0;
	/* an exact path: the file itself, symlinks resolved; else (or missing) its directory */
	if (!(exact && realpath(path, real)) && resolve_dir(path, real, sizeof(real)))
		return 0;
	if (!strcmp(real, path) || strlen(real) > DBOS_LSM_PATH_MAX - 1)
		return 0;
	memset(out, 0, sizeof(*out));
	out->len = strlen(real) + exact;
	memcpy(out->s, real, strlen(real));
	return 1;
}

int lit_inode(const char *path, uint64_t *ino, uint32_t *dev)
{
	struct stat st;

	if (stat(path, &st))
		return 0;
	*ino = st.st_ino;
	*dev = (uint32_t)(major(st.st_dev) << 20 | minor(st.st_dev));
	return 1;
}
