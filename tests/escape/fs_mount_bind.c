/* fs_mount_bind: bind-mount things around: the root into a writable folder,
 * a writable folder over a read-only one, /proc somewhere else (MS_MOVE).
 * argv: WRITABLE-GRANTED-DIR
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
#define MOUNT_WANTS SECCOMP_OR("no CAP_SYS_ADMIN, or Landlock")
	MUST_FAIL("bind / into the grant", mount("/", mnt, NULL, MS_BIND | MS_REC, NULL),
		  MOUNT_WANTS);
	MUST_FAIL("bind the grant over /usr", mount(dir, "/usr", NULL, MS_BIND, NULL), MOUNT_WANTS);
	MUST_FAIL("move /proc", mount("/proc", mnt, NULL, MS_MOVE, NULL), MOUNT_WANTS);
	MUST_FAIL("make / shared", mount(NULL, "/", NULL, MS_SHARED | MS_REC, NULL), MOUNT_WANTS);
	rmdir(mnt);
	verdict();
}
