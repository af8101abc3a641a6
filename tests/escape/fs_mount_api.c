/* fs_mount_api: the new mount API, which does not go through mount(2):
 * fsopen, fspick, open_tree(OPEN_TREE_CLONE), move_mount, fsmount.
 * argv: WRITABLE-GRANTED-DIR
 *
 * Stopped by: the seccomp deny-list (EPERM for each); without it, no
 * CAP_SYS_ADMIN (EPERM), and fsmount has no context to mount (EBADF).
 */
#include "escape.h"

#include <linux/mount.h>

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "WRITABLE-GRANTED-DIR");
#define API_WANTS SECCOMP_OR("no CAP_SYS_ADMIN, or Landlock")
	MUST_FAIL("fsopen tmpfs", syscall(SYS_fsopen, "tmpfs", 0), API_WANTS);
	MUST_FAIL("fspick /", syscall(SYS_fspick, AT_FDCWD, "/", 0), API_WANTS);
	MUST_FAIL("open_tree clone /",
		  syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | AT_RECURSIVE), API_WANTS);
	MUST_FAIL("move_mount /proc", syscall(SYS_move_mount, AT_FDCWD, "/proc", AT_FDCWD, dir, 0),
		  API_WANTS);
	MUST_FAIL("fsmount", syscall(SYS_fsmount, -1, 0, 0), API_WANTS,
		  BY(EBADF, "no filesystem context (fsopen refused)"));
	verdict();
}
