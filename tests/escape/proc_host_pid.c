/* proc_host_pid: see and signal processes of the host (and of a neighbour
 * sandbox). argv: HOST-PID... (host pids, which are all far above the
 * handful of pids inside)
 *
 * Tries: /proc/PID, kill(PID, 0), getpriority, pidfd_open.
 * Stopped by: the pid namespace: host processes have no pid here.
 * Expected: ENOENT for /proc/PID, ESRCH for the calls.
 */
#include "escape.h"

#include <sys/resource.h>

int main(int argc, char **argv)
{
	arg(argc, argv, 1, "HOST-PID...");
	for (int i = 1; i < argc; i++) {
		pid_t pid = (pid_t)atol(argv[i]);
		if (pid <= 1)
			unexpected("pid %s is not a host pid", argv[i]);
		char path[64], what[96];
		snprintf(path, sizeof(path), "/proc/%d", pid);
		struct stat st;
		MUST_FAIL(path, stat(path, &st), BY(ENOENT, "pid namespace"));
		snprintf(what, sizeof(what), "kill(%d, 0)", pid);
		MUST_FAIL(what, kill(pid, 0), BY(ESRCH, "pid namespace"));
		snprintf(what, sizeof(what), "getpriority(%d)", pid);
		errno = 0;
		int prio = getpriority(PRIO_PROCESS, (id_t)pid);
		esc_check(what, prio == -1 && errno ? -1 : 0, errno,
			  (const struct want[]){BY(ESRCH, "pid namespace")}, 1);
		snprintf(what, sizeof(what), "pidfd_open(%d)", pid);
		MUST_FAIL(what, syscall(SYS_pidfd_open, pid, 0), BY(ESRCH, "pid namespace"));
	}
	verdict();
}
