/* fs_pivot_root: swap the root for a folder of the agent's choosing (the
 * first step to rebuilding a view with more in it).
 * argv: WRITABLE-GRANTED-DIR
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, no CAP_SYS_ADMIN
 * and Landlock (EPERM).
 */
#include "escape.h"

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "WRITABLE-GRANTED-DIR");
	char old[4200];
	snprintf(old, sizeof(old), "%s/escape-old", dir);
	if (mkdir(old, 0755) < 0 && errno != EEXIST)
		unexpected("mkdir %s: %s", old, strerror(errno));
	MUST_FAIL("pivot_root", syscall(SYS_pivot_root, dir, old),
		  SECCOMP_OR("no CAP_SYS_ADMIN, or Landlock"));
	if (chdir(dir) < 0)
		unexpected("chdir %s: %s", dir, strerror(errno));
	MUST_FAIL("pivot_root . .", syscall(SYS_pivot_root, ".", "."),
		  SECCOMP_OR("no CAP_SYS_ADMIN, or Landlock"));
	rmdir(old);
	verdict();
}
