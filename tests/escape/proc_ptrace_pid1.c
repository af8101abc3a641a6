/* proc_ptrace_pid1: attach to the sandbox's PID 1 with ptrace (PID 1 holds
 * the control socket to pincer and set the sandbox up), and read its
 * memory through /proc/1/mem.
 *
 * Stopped by: the seccomp deny-list (EPERM for ptrace of pid 1); without
 * it, PID 1 is not dumpable (EPERM; EACCES for /proc/1/mem).
 */
#include "escape.h"

#include <sys/ptrace.h>

int main(void)
{
	MUST_FAIL("PTRACE_ATTACH 1", ptrace(PTRACE_ATTACH, 1, NULL, NULL),
		  SECCOMP_OR("PID 1 not dumpable"));
	MUST_FAIL("PTRACE_SEIZE 1", ptrace(PTRACE_SEIZE, 1, NULL, NULL),
		  SECCOMP_OR("PID 1 not dumpable"));
	MUST_FAIL("open /proc/1/mem", open("/proc/1/mem", O_RDONLY | O_CLOEXEC),
		  BY(EACCES, "PID 1 not dumpable"), BY(EPERM, "PID 1 not dumpable"));
	verdict();
}
