/* proc_x32_abi: make an x32 system call (the syscall number with bit 30
 * set), a third ABI that shares x86_64's audit architecture: a filter that
 * only checks the architecture would let it through.
 *
 * Stopped by: the seccomp filter, which refuses syscall numbers with the
 * x32 bit (EPERM); a kernel without x32 answers ENOSYS. A uid coming back
 * is an escape.
 */
#include "escape.h"

int main(void)
{
#if defined(__x86_64__)
	const long x32_bit = 0x40000000L;
	MUST_FAIL("x32 getuid", syscall(x32_bit | SYS_getuid), SECCOMP_OR("?"),
		  BY(ENOSYS, "kernel without x32"));
	MUST_FAIL("x32 getpid", syscall(x32_bit | SYS_getpid), SECCOMP_OR("?"),
		  BY(ENOSYS, "kernel without x32"));
	verdict();
#else
	blocked("not x86_64: no x32 ABI to try");
#endif
}
