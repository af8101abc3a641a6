/* fs_remount_rw: make a read-only grant (and the system folders, and the
 * root) writable again by remounting. argv: READ-ONLY-GRANTED-DIR
 *
 * Tries: mount(MS_REMOUNT|MS_BIND) without MS_RDONLY, and mount_setattr()
 * clearing MOUNT_ATTR_RDONLY; then writes in the grant to see.
 * Stopped by: the seccomp deny-list (EPERM); without it, no CAP_SYS_ADMIN
 * (EPERM) and Landlock (which refuses every mount change: EPERM); and the
 * kernel locks the read-only flag of mounts made in a more privileged
 * namespace.
 */
#include "escape.h"

#include <linux/mount.h>
#include <sys/mount.h>

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "READ-ONLY-GRANTED-DIR");
	const char *targets[] = {dir, "/usr", "/"};
	for (size_t i = 0; i < ESC_N(targets); i++) {
		char what[4200];
		snprintf(what, sizeof(what), "remount rw %s", targets[i]);
		MUST_FAIL(what, mount(NULL, targets[i], NULL, MS_REMOUNT | MS_BIND, NULL),
			  SECCOMP_OR("no CAP_SYS_ADMIN, or Landlock"));
		struct mount_attr attr = {.attr_clr = MOUNT_ATTR_RDONLY};
		snprintf(what, sizeof(what), "mount_setattr rw %s", targets[i]);
		MUST_FAIL(what,
			  syscall(SYS_mount_setattr, AT_FDCWD, targets[i], 0, &attr, sizeof(attr)),
			  SECCOMP_OR("no CAP_SYS_ADMIN, or Landlock"));
	}
	char probe[4200];
	snprintf(probe, sizeof(probe), "%s/escape-remount-probe", dir);
	MUST_FAIL("write after the remounts", open(probe, O_WRONLY | O_CREAT | O_CLOEXEC, 0644),
		  BY(EROFS, "still read-only"), BY(EACCES, "Landlock"));
	verdict();
}
