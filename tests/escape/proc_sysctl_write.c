/* proc_sysctl_write: open host-wide kernel settings for writing:
 * core_pattern (a pipe there runs a program as host root on the next
 * crash), modprobe (run as root for unknown binaries), and others. Nothing
 * is written: opening for writing is already the escape.
 *
 * Stopped by: /proc/sys belongs to host root (EACCES) or is read-only
 * (EROFS); per-namespace settings belong to the namespace's root, which
 * the agent is not (EACCES).
 */
#include "escape.h"

int main(void)
{
	const char *paths[] = {
		"/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
		"/proc/sys/kernel/panic",	 "/proc/sys/kernel/randomize_va_space",
		"/proc/sys/vm/drop_caches",	 "/proc/sys/user/max_user_namespaces",
		"/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/hostname"};
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
