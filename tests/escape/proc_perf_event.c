/* proc_perf_event: open perf events: on itself (kernel side included), on
 * PID 1, and system-wide on CPU 0 (a side channel on everything else).
 *
 * Stopped by: the seccomp deny-list (EPERM); without it the kernel's
 * perf_event_paranoid refuses the kernel-side and system-wide ones
 * (EACCES) but not all (then an escape from the deny-list).
 */
#include "escape.h"

#include <linux/perf_event.h>

static long perf_open(pid_t pid, int cpu, bool kernel)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_CPU_CLOCK;
	a.exclude_kernel = !kernel;
	a.exclude_hv = 1;
	return syscall(SYS_perf_event_open, &a, pid, cpu, -1, 0UL);
}

int main(void)
{
	MUST_FAIL("perf_event_open self", perf_open(0, -1, false), SECCOMP_OR("paranoid"),
		  BY(EACCES, "perf_event_paranoid"));
	MUST_FAIL("perf_event_open self+kernel", perf_open(0, -1, true), SECCOMP_OR("paranoid"),
		  BY(EACCES, "perf_event_paranoid"));
	MUST_FAIL("perf_event_open pid 1", perf_open(1, -1, false),
		  SECCOMP_OR("PID 1 not dumpable"), BY(EACCES, "PID 1 not dumpable"));
	MUST_FAIL("perf_event_open cpu 0", perf_open(-1, 0, false), SECCOMP_OR("paranoid"),
		  BY(EACCES, "perf_event_paranoid"));
	verdict();
}
