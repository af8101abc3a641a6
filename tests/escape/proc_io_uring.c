/* proc_io_uring: set up an io_uring (its requests bypass the syscall
 * filter entirely, and it has been a steady source of kernel exploits).
 *
 * Stopped by: the seccomp deny-list (io_uring_setup, io_uring_enter,
 * io_uring_register: EPERM). The kernel itself allows it (unless
 * kernel.io_uring_disabled), so success is an escape from the deny-list.
 */
#include "escape.h"

#include <linux/io_uring.h>

int main(void)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	MUST_FAIL("io_uring_setup", syscall(SYS_io_uring_setup, 4, &p), SECCOMP_OR("?"),
		  BY(EPERM, "io_uring disabled"));
	MUST_FAIL("io_uring_enter", syscall(SYS_io_uring_enter, 0, 0, 0, 0, NULL, 0),
		  SECCOMP_OR("?"), BY(EBADF, "no ring (setup refused)"));
	MUST_FAIL("io_uring_register", syscall(SYS_io_uring_register, 0, 0, NULL, 0),
		  SECCOMP_OR("?"), BY(EBADF, "no ring (setup refused)"));
	verdict();
}
