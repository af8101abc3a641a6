/* proc_setns: join other namespaces with setns(): PID 1's (through
 * /proc/1/ns), the agent's own again, and by pidfd.
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, /proc/1/ns is
 * closed (PID 1 not dumpable: EACCES), and joining needs CAP_SYS_ADMIN
 * (EPERM) or is refused for the caller's own user namespace (EINVAL).
 * The host's namespaces are not reachable at all: no host pid is visible.
 */
#include "escape.h"

#include <sched.h>

int main(void)
{
	const char *kinds[] = {"mnt", "net", "pid", "user", "uts", "ipc", "cgroup", "time"};
	for (size_t i = 0; i < ESC_N(kinds); i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/1/ns/%s", kinds[i]);
		MUST_FAIL(path, open(path, O_RDONLY | O_CLOEXEC), BY(EACCES, "PID 1 not dumpable"),
			  BY(EPERM, "PID 1 not dumpable"));
		snprintf(path, sizeof(path), "/proc/self/ns/%s", kinds[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			unexpected("open %s: %s", path, strerror(errno));
		char what[96];
		snprintf(what, sizeof(what), "setns(%s)", path);
		MUST_FAIL(what, setns(fd, 0), SECCOMP_OR("no CAP_SYS_ADMIN"),
			  BY(EINVAL, "own user namespace"));
		close(fd);
	}
	int pidfd = (int)syscall(SYS_pidfd_open, 1, 0);
	if (pidfd >= 0)
		MUST_FAIL("setns(pidfd 1, mnt|net)", setns(pidfd, CLONE_NEWNS | CLONE_NEWNET),
			  SECCOMP_OR("PID 1 not dumpable, no CAP_SYS_ADMIN"));
	verdict();
}
