/* proc_vm_readv: read and write PID 1's memory with process_vm_readv and
 * process_vm_writev (no ptrace attach needed).
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, PID 1 is not
 * dumpable (EPERM).
 */
#include "escape.h"

#include <sys/uio.h>

int main(void)
{
	char buf[64] = {0};
	/* Any address will do: the permission check comes first. */
	struct iovec local = {buf, sizeof(buf)}, remote = {(void *)0x400000, sizeof(buf)};
	MUST_FAIL("process_vm_readv(1)", process_vm_readv(1, &local, 1, &remote, 1, 0),
		  SECCOMP_OR("PID 1 not dumpable"));
	MUST_FAIL("process_vm_writev(1)", process_vm_writev(1, &local, 1, &remote, 1, 0),
		  SECCOMP_OR("PID 1 not dumpable"));
	verdict();
}
