/* proc_int80: make a 32-bit system call from a 64-bit process with
 * "int $0x80" (getuid32). The i386 table is a second syscall interface
 * that a filter written for x86_64 numbers would not see.
 *
 * Stopped by: the seccomp filter, which fails every non-native ABI
 * (EPERM); a kernel without IA32 emulation answers ENOSYS, or, with the
 * 32-bit entry switched off (ia32_emulation=0, some hypervisors), the
 * instruction faults (SIGSEGV, caught here). A uid coming back is an
 * escape.
 */
#include "escape.h"

#include <setjmp.h>

static sigjmp_buf fault;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(fault, 1);
}

int main(void)
{
#if defined(__x86_64__)
	struct sigaction sa = {.sa_handler = on_segv};
	sigaction(SIGSEGV, &sa, NULL);
	if (sigsetjmp(fault, 1)) {
		add_how("int $0x80: general protection fault (no 32-bit entry in this kernel)");
		verdict();
	}
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(199L) /* __NR_getuid32 on i386 */
			 : "memory", "r8", "r9", "r10", "r11");
	if (ret >= 0)
		escaped("32-bit getuid32 via int $0x80 returned %ld", ret);
	const struct want w[] = {SECCOMP_OR("?"), BY(ENOSYS, "no IA32 emulation")};
	esc_check("int $0x80 getuid32", -1, (int)-ret, w, ESC_N(w));
	verdict();
#else
	blocked("not x86_64: no int $0x80 ABI to try");
#endif
}
