/* fs_umount_mask: unmount the mask over a denied path to uncover what it
 * hides, and unmount /proc and the root.
 * argv: MASKED-PATH SECRET-FILE-UNDER-IT
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, no CAP_SYS_ADMIN
 * and Landlock (EPERM); and masks are locked to the mounts they cover.
 * The secret must stay unreadable after.
 */
#include "escape.h"

#include <sys/mount.h>

int main(int argc, char **argv)
{
	const char *mask = arg(argc, argv, 1, "MASKED-PATH SECRET-FILE");
	const char *secret = arg(argc, argv, 2, "MASKED-PATH SECRET-FILE");
#define UMOUNT_WANTS SECCOMP_OR("no CAP_SYS_ADMIN, or Landlock")
	MUST_FAIL("umount the mask", umount2(mask, 0), UMOUNT_WANTS);
	MUST_FAIL("umount -l the mask", umount2(mask, MNT_DETACH), UMOUNT_WANTS);
	MUST_FAIL("umount -l /proc", umount2("/proc", MNT_DETACH), UMOUNT_WANTS);
	MUST_FAIL("umount -l /", umount2("/", MNT_DETACH), UMOUNT_WANTS);
	must_not_read(secret);
	verdict();
}
