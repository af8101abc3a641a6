/* proc_kexec: load a new kernel to boot into (kexec_load,
 * kexec_file_load).
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, no CAP_SYS_BOOT
 * (EPERM), or a kernel built without kexec (ENOSYS).
 */
#include "escape.h"

int main(void)
{
#define KEXEC_WANTS SECCOMP_OR("no CAP_SYS_BOOT"), BY(ENOSYS, "kernel without kexec")
	/* No segments: were it allowed, this would only unload. */
	MUST_FAIL("kexec_load", syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL), KEXEC_WANTS);
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	MUST_FAIL("kexec_file_load",
		  syscall(SYS_kexec_file_load, fd, -1, 1UL, "", 4UL /* no initramfs */),
		  KEXEC_WANTS);
	verdict();
}
