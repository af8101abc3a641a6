/* proc_pidfd_getfd: steal PID 1's file descriptors (its control socket to
 * pincer, the pty master) with pidfd_getfd.
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, PID 1 is not
 * dumpable (EPERM: the call needs ptrace rights).
 */
#include "escape.h"

int main(void)
{
	errno = 0;
	int pidfd = (int)syscall(SYS_pidfd_open, 1, 0);
	if (pidfd < 0)
		unexpected("pidfd_open(1): %s", strerror(errno));
	for (int fd = 0; fd < 8; fd++) {
		char what[48];
		snprintf(what, sizeof(what), "pidfd_getfd(1, %d)", fd);
		MUST_FAIL(what, syscall(SYS_pidfd_getfd, pidfd, fd, 0),
			  SECCOMP_OR("PID 1 not dumpable"));
	}
	verdict();
}
