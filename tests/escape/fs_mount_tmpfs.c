/* fs_mount_tmpfs: mount a tmpfs, over a writable folder and over /etc
 * (where it would hide the generated passwd and let the agent write its
 * own). argv: WRITABLE-GRANTED-DIR
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, no CAP_SYS_ADMIN
 * and Landlock (EPERM).
 */
#include "escape.h"

#include <sys/mount.h>

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "WRITABLE-GRANTED-DIR");
	char mnt[4200];
	snprintf(mnt, sizeof(mnt), "%s/escape-mnt", dir);
	if (mkdir(mnt, 0755) < 0 && errno != EEXIST)
		unexpected("mkdir %s: %s", mnt, strerror(errno));
	MUST_FAIL("mount tmpfs on the grant", mount("tmpfs", mnt, "tmpfs", 0, "size=1m"),
		  SECCOMP_OR("no CAP_SYS_ADMIN, or Landlock"));
	MUST_FAIL("mount tmpfs on /etc", mount("tmpfs", "/etc", "tmpfs", 0, "size=1m"),
		  SECCOMP_OR("no CAP_SYS_ADMIN, or Landlock"));
	rmdir(mnt);
	verdict();
}
