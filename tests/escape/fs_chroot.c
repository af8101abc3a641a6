/* fs_chroot: the classic chroot escape: chroot into a subfolder while
 * keeping the working directory outside it, climb "..", chroot(".").
 * argv: WRITABLE-GRANTED-DIR
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, no CAP_SYS_CHROOT
 * (EPERM). Were chroot allowed, ".." would still end at the sandbox's
 * root (pivot_root, old root detached), checked after.
 */
#include "escape.h"

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "WRITABLE-GRANTED-DIR");
	char jail[4200];
	snprintf(jail, sizeof(jail), "%s/escape-jail", dir);
	if (mkdir(jail, 0755) < 0 && errno != EEXIST)
		unexpected("mkdir %s: %s", jail, strerror(errno));
	if (chdir(dir) < 0)
		unexpected("chdir %s: %s", dir, strerror(errno));
	errno = 0;
	if (chroot(jail) == 0) {
		for (int i = 0; i < 64; i++)
			(void)!chdir("..");
		(void)!chroot(".");
		if (access("/etc/shadow", F_OK) == 0 || access("/root", F_OK) == 0)
			escaped("chroot + .. reached the host's root");
		escaped("chroot() succeeded (the deny-list misses it), though .. stayed inside");
	}
	rmdir(jail);
	const struct want w[] = {SECCOMP_OR("no CAP_SYS_CHROOT")};
	esc_check("chroot", -1, errno, w, 1);
	verdict();
}
