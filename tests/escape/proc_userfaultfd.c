/* proc_userfaultfd: get a userfaultfd (lets a program stall the kernel in
 * the middle of a copy from user memory: the classic way to win kernel
 * races).
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, the kernel's
 * vm.unprivileged_userfaultfd=0 refuses kernel-mode faults (EPERM) but
 * not UFFD_USER_MODE_ONLY (then an escape from the deny-list).
 * /dev/userfaultfd is not in the view (ENOENT).
 */
#include "escape.h"

#include <linux/userfaultfd.h>

int main(void)
{
	MUST_FAIL("userfaultfd(0)", syscall(SYS_userfaultfd, O_CLOEXEC),
		  SECCOMP_OR("vm.unprivileged_userfaultfd=0"));
	MUST_FAIL("userfaultfd(USER_MODE_ONLY)",
		  syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY), SECCOMP_OR("?"));
	MUST_FAIL("open /dev/userfaultfd", open("/dev/userfaultfd", O_RDWR | O_CLOEXEC),
		  BY(ENOENT, "not in /dev"));
	verdict();
}
