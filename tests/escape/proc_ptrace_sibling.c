/* proc_ptrace_sibling: attach with ptrace to a sibling agent: a process of
 * another sandbox started by the same user (same host uid when pincer runs
 * unprivileged). argv: HOST-PID (of the neighbour's agent)
 *
 * Tries: PTRACE_ATTACH, PTRACE_SEIZE, process_vm_readv of that pid.
 * Stopped by: the pid namespace: the neighbour has no pid here (ESRCH); the
 * seccomp deny-list answers EPERM for process_vm_readv first.
 * (Tracing the agent's own children stays allowed: debuggers work.)
 */
#include "escape.h"

#include <sys/ptrace.h>
#include <sys/uio.h>

int main(int argc, char **argv)
{
	pid_t pid = (pid_t)atol(arg(argc, argv, 1, "HOST-PID"));
	if (pid <= 1)
		unexpected("pid %d is not a host pid", pid);
	MUST_FAIL("PTRACE_ATTACH neighbour", ptrace(PTRACE_ATTACH, pid, NULL, NULL),
		  BY(ESRCH, "pid namespace"));
	MUST_FAIL("PTRACE_SEIZE neighbour", ptrace(PTRACE_SEIZE, pid, NULL, NULL),
		  BY(ESRCH, "pid namespace"));
	char buf[64];
	struct iovec local = {buf, sizeof(buf)}, remote = {(void *)0x400000, sizeof(buf)};
	MUST_FAIL("process_vm_readv neighbour", process_vm_readv(pid, &local, 1, &remote, 1, 0),
		  SECCOMP_OR("?"), BY(ESRCH, "pid namespace"));
	verdict();
}
