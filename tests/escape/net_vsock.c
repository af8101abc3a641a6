/* net_vsock: open an AF_VSOCK socket: a channel from a virtual machine to
 * its hypervisor (CID 2), which no network namespace covers.
 *
 * Stopped by: the seccomp deny-list (EPERM: not unix/inet/inet6/netlink).
 * Without it the kernel hands the socket out to anyone, so success is an
 * escape (nothing is connected). EAFNOSUPPORT: no vsock in this kernel.
 */
#include "escape.h"

#include <linux/vm_sockets.h>
#include <sys/socket.h>

int main(void)
{
	MUST_FAIL("socket(AF_VSOCK, SOCK_STREAM)", socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0),
		  SECCOMP_OR("?"), BY(EAFNOSUPPORT, "no vsock in this kernel"));
	MUST_FAIL("socket(AF_VSOCK, SOCK_DGRAM)", socket(AF_VSOCK, SOCK_DGRAM | SOCK_CLOEXEC, 0),
		  SECCOMP_OR("?"), BY(EAFNOSUPPORT, "no vsock in this kernel"),
		  BY(ESOCKTNOSUPPORT, "no vsock datagrams"));
	verdict();
}
