/* proc_sysrq: open the magic SysRq trigger for writing (one byte crashes,
 * reboots or syncs the host) and the sysrq switch. Nothing is written:
 * opening for writing is already the escape.
 *
 * Stopped by: file permissions in the sandbox's /proc (host root owns
 * these; the agent is not root: EACCES), or read-only /proc/sys (EROFS),
 * or nothing there (ENOENT).
 */
#include "escape.h"

int main(void)
{
	const char *paths[] = {"/proc/sysrq-trigger", "/proc/sys/kernel/sysrq"};
	for (size_t i = 0; i < ESC_N(paths); i++) {
		errno = 0;
		int fd = open(paths[i], O_WRONLY | O_CLOEXEC);
		if (fd >= 0)
			escaped("opened %s for writing", paths[i]);
		const struct want w[] = {BY(EACCES, "permissions"), BY(EROFS, "read-only"),
					 BY(ENOENT, "not in view"), BY(EPERM, "permissions")};
		esc_check(paths[i], -1, errno, w, ESC_N(w));
	}
	verdict();
}
