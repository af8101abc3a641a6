/* proc_userns_clone: make a new user namespace with clone() and clone3()
 * instead of unshare() (a filter that checks one may miss the others).
 *
 * Stopped by: the seccomp deny-list: clone with a namespace flag fails
 * EPERM; clone3, whose flags seccomp cannot read, fails ENOSYS so that
 * libc falls back to clone. Without seccomp a user namespace is granted:
 * an escape from the deny-list.
 */
#include "escape.h"

#include <linux/sched.h>
#include <sched.h>
#include <sys/wait.h>

static long try_clone(unsigned long flags)
{
	long pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0UL);
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

static long try_clone3(unsigned long flags)
{
	struct clone_args ca = {.flags = flags, .exit_signal = SIGCHLD};
	long pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

int main(void)
{
	MUST_FAIL("clone(CLONE_NEWUSER)", try_clone(CLONE_NEWUSER), SECCOMP_OR("?"));
	MUST_FAIL("clone(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID)",
		  try_clone(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID), SECCOMP_OR("?"));
	MUST_FAIL("clone(CLONE_NEWNET)", try_clone(CLONE_NEWNET), SECCOMP_OR("no CAP_SYS_ADMIN"));
	MUST_FAIL("clone3(CLONE_NEWUSER)", try_clone3(CLONE_NEWUSER), SECCOMP_OR("?"),
		  {ENOSYS, "seccomp: clone3 hidden", "clone3 not in this kernel"});
	MUST_FAIL("clone3(CLONE_NEWUSER|CLONE_NEWNS)", try_clone3(CLONE_NEWUSER | CLONE_NEWNS),
		  SECCOMP_OR("?"), {ENOSYS, "seccomp: clone3 hidden", "clone3 not in this kernel"});
	/* An ordinary fork through clone must still work. */
	if (try_clone(0) < 0)
		unexpected("plain clone() fails: %s", strerror(errno));
	verdict();
}
