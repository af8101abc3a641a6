/* fs_sys_visible: reach the host's kernel interfaces under /sys: cgroups,
 * firmware, kernel security and debug files, devices, network interfaces.
 *
 * Stopped by: the mount namespace (no /sys in the view). Expected: ENOENT.
 */
#include "escape.h"

int main(void)
{
	const char *paths[] = {"/sys/fs/cgroup",
			       "/sys/kernel/security",
			       "/sys/kernel/debug",
			       "/sys/firmware",
			       "/sys/class/net",
			       "/sys/block",
			       "/sys/kernel/uevent_helper",
			       "/sys/power/state"};
	for (size_t i = 0; i < ESC_N(paths); i++)
		MUST_FAIL(paths[i], open(paths[i], O_RDONLY | O_CLOEXEC),
			  BY(ENOENT, "not in view"));
	verdict();
}
