/* proc_reboot: call reboot(). Asked for is the harmless
 * LINUX_REBOOT_CMD_CAD_OFF: the capability check comes first, and in a pid
 * namespace the kernel then refuses that command (EINVAL), which would
 * mean the check passed.
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, no CAP_SYS_BOOT
 * (EPERM). EINVAL is an escape (the caller held CAP_SYS_BOOT).
 */
#include "escape.h"

#include <linux/reboot.h>

int main(void)
{
	errno = 0;
	long r = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
			 LINUX_REBOOT_CMD_CAD_OFF, NULL);
	if (r < 0 && errno == EINVAL)
		escaped("reboot() passed the CAP_SYS_BOOT check (EINVAL for CAD_OFF)");
	const struct want w[] = {SECCOMP_OR("no CAP_SYS_BOOT")};
	esc_check("reboot(CAD_OFF)", r, errno, w, 1);
	verdict();
}
