// SPDX-License-Identifier: GPL-2.0
/* schedprobe.c - exec'ed by schedctl: its nice value at the first instruction of main() and the time since its parent's execve(). */
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/*
 * Usage: bench_probe T0_NS, with a pipe on fd 3: writes one struct probe_rep
 * (nice, CLOCK_MONOTONIC now - T0_NS) to it. Any other use: exits 0.
 */
struct probe_rep {
	int32_t nice;
	int32_t ok;
	int64_t lat_ns;
};

int main(int argc, char **argv)
{
	int nice = getpriority(PRIO_PROCESS, 0);	/* first: what is in force before any work */
	struct timespec ts;
	struct probe_rep r;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (argc < 2)
		return 0;
	r.nice = nice;
	r.ok = 1;
	r.lat_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - atoll(argv[1]);
	return write(3, &r, sizeof(r)) == sizeof(r) ? 0 : 1;
}
