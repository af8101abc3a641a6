/* proc_cpu_spin: spin on the CPU and measure how much CPU time it got.
 * argv: WALL-MS MAX-CPU-MS
 *
 * Spins for WALL-MS of wall-clock time, then reads its CPU time (utime +
 * stime from /proc/self/stat, and CLOCK_PROCESS_CPUTIME_ID).
 * Stopped by: the cpu cgroup quota (cpus: 0.2 gives 20 ms per 100 ms).
 * BLOCKED if it got at most MAX-CPU-MS; more is an escape.
 */
#include "escape.h"

#include <time.h>

static long ms_of(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static long stat_cpu_ms(void)
{
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* Fields after "(comm)": state is 3rd; utime 14th, stime 15th. */
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

int main(int argc, char **argv)
{
	long wall = atol(arg(argc, argv, 1, "WALL-MS MAX-CPU-MS"));
	long max_cpu = atol(arg(argc, argv, 2, "WALL-MS MAX-CPU-MS"));
	long start = ms_of(CLOCK_MONOTONIC);
	volatile unsigned long x = 0;
	while (ms_of(CLOCK_MONOTONIC) - start < wall)
		for (int i = 0; i < 100000; i++)
			x += (unsigned long)i;
	long took = ms_of(CLOCK_MONOTONIC) - start;
	long cpu = ms_of(CLOCK_PROCESS_CPUTIME_ID);
	long stat = stat_cpu_ms();
	note("cpu_ms=%ld stat_cpu_ms=%ld wall_ms=%ld", cpu, stat, took);
	if (cpu > max_cpu)
		escaped("used %ld ms of CPU in %ld ms of wall time (allowed %ld)", cpu, took,
			max_cpu);
	blocked("used %ld ms of CPU in %ld ms of wall time (cpu quota)", cpu, took);
}
