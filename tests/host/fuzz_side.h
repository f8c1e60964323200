/* SPDX-License-Identifier: GPL-2.0 */
/* fuzz_side.h - what the in-process fuzzers (test_fuzz_proto, test_fuzz_pgwire) measure of the server after a run: descriptors and memory. */
#ifndef DBOS_TEST_FUZZ_SIDE_H
#define DBOS_TEST_FUZZ_SIDE_H

#include <dirent.h>
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>

/*
 * Descriptors open in this process, but for the store's own files (RocksDB
 * keeps the table files it wrote meanwhile open in its table cache).
 */
static inline int count_fds(const char *store)
{
	DIR *d = opendir("/proc/self/fd");
	char link[64], target[PATH_MAX];
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		ssize_t len;

		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", atoi(e->d_name));
		len = readlink(link, target, sizeof(target) - 1);
		target[len < 0 ? 0 : len] = 0;
		n += strncmp(target, store, strlen(store)) != 0;
	}
	closedir(d);
	return n;
}

/* Heap in use (every arena) and SQLite's own count, in bytes. */
static inline void memory(size_t *heap, int64_t *sqlite)
{
	struct mallinfo2 mi = mallinfo2();

	*heap = mi.uordblks + mi.hblkhd;
	*sqlite = sqlite3_memory_used();
}

#endif /* DBOS_TEST_FUZZ_SIDE_H */
