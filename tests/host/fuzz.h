/* SPDX-License-Identifier: GPL-2.0 */
/* fuzz.h - what the fuzzers share (test_fuzz_proto on the host, test_fuzz_genl in the VM): random numbers, settings, time. */
#ifndef DBOS_TEST_FUZZ_H
#define DBOS_TEST_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* xorshift64*: the next number of the sequence in *@s (never 0). */
static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* 0 .. @n-1 */
static inline uint32_t below(uint64_t *s, uint32_t n)
{
	return (uint32_t)((rnd(s) >> 32) % n);
}

/* The environment variable @name as a number (0x... too), or @def if unset or empty. */
static inline long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 0) : def;
}

/* Seconds on CLOCK_MONOTONIC. */
static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif /* DBOS_TEST_FUZZ_H */
