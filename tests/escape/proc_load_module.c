/* proc_load_module: load a kernel module (init_module with an image,
 * finit_module from a file) or unload one (delete_module).
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, no CAP_SYS_MODULE
 * (EPERM), or a kernel built without modules (ENOSYS).
 */
#include "escape.h"

int main(void)
{
	static const char image[64] = "\177ELF";
#define MOD_WANTS SECCOMP_OR("no CAP_SYS_MODULE"), BY(ENOSYS, "kernel without modules")
	MUST_FAIL("init_module", syscall(SYS_init_module, image, sizeof(image), ""), MOD_WANTS);
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	MUST_FAIL("finit_module", syscall(SYS_finit_module, fd, "", 0), MOD_WANTS);
	MUST_FAIL("delete_module", syscall(SYS_delete_module, "ext4", O_NONBLOCK), MOD_WANTS);
	verdict();
}
