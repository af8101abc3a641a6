/* net_netlink_audit: open a NETLINK_AUDIT socket (read or forge the host's
 * audit trail, switch auditing off).
 *
 * Stopped by: the seccomp deny-list (EPERM: netlink other than
 * NETLINK_ROUTE). The socket itself needs no privilege, so success is an
 * escape from the deny-list.
 */
#include "escape.h"

#include <linux/netlink.h>
#include <sys/socket.h>

int main(void)
{
	MUST_FAIL("socket(NETLINK_AUDIT)", socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT),
		  SECCOMP_OR("?"), BY(EPROTONOSUPPORT, "no audit in this kernel"));
	MUST_FAIL("socket(NETLINK_AUDIT, DGRAM)", socket(AF_NETLINK, SOCK_DGRAM, NETLINK_AUDIT),
		  SECCOMP_OR("?"), BY(EPROTONOSUPPORT, "no audit in this kernel"));
	verdict();
}
