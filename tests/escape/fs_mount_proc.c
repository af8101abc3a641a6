/* fs_mount_proc: mount a proc, sysfs, or cgroup filesystem of its own (a
 * second /proc with other options, the host's /sys, the cgroup tree).
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
	const char *types[] = {"proc", "sysfs", "cgroup2", "devpts", "mqueue", "debugfs"};
	for (size_t i = 0; i < ESC_N(types); i++) {
		char what[64];
		snprintf(what, sizeof(what), "mount %s", types[i]);
		MUST_FAIL(what, mount(types[i], mnt, types[i], 0, NULL),
			  SECCOMP_OR("no CAP_SYS_ADMIN, or Landlock"));
	}
	rmdir(mnt);
	verdict();
}
