/* net_af_alg: open an AF_ALG socket: the kernel crypto API from user
 * space, a frequent home of kernel bugs (CVE-2017-17805, CVE-2021-3493's
 * cousins...).
 *
 * Stopped by: the seccomp deny-list (EPERM). The kernel hands the socket
 * out to anyone, so success is an escape from the deny-list.
 */
#include "escape.h"

#include <linux/if_alg.h>
#include <sys/socket.h>

int main(void)
{
	MUST_FAIL("socket(AF_ALG)", socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0),
		  SECCOMP_OR("?"), BY(EAFNOSUPPORT, "no AF_ALG in this kernel"));
	verdict();
}
