/* net_netlink_other: the other netlink families: sock_diag (list every
 * socket), netfilter (firewall rules), generic netlink (WireGuard, nl80211,
 * taskstats...), xfrm (IPsec), crypto, connector (process events).
 * NETLINK_ROUTE stays allowed (ip, getaddrinfo use it) and is checked to
 * open.
 *
 * Stopped by: the seccomp deny-list (EPERM); a family the kernel lacks
 * answers EPROTONOSUPPORT.
 */
#include "escape.h"

#include <linux/netlink.h>
#include <sys/socket.h>

int main(void)
{
	const struct {
		const char *name;
		int proto;
	} fam[] = {{"NETLINK_SOCK_DIAG", NETLINK_SOCK_DIAG},
		   {"NETLINK_NETFILTER", NETLINK_NETFILTER},
		   {"NETLINK_GENERIC", NETLINK_GENERIC},
		   {"NETLINK_XFRM", NETLINK_XFRM},
		   {"NETLINK_CRYPTO", NETLINK_CRYPTO},
		   {"NETLINK_CONNECTOR", NETLINK_CONNECTOR},
		   {"NETLINK_SELINUX", NETLINK_SELINUX},
		   {"NETLINK_FIB_LOOKUP", NETLINK_FIB_LOOKUP},
		   {"NETLINK_RDMA", NETLINK_RDMA},
		   {"NETLINK_SCSITRANSPORT", NETLINK_SCSITRANSPORT}};
	for (size_t i = 0; i < ESC_N(fam); i++) {
		char what[64];
		snprintf(what, sizeof(what), "socket(%s)", fam[i].name);
		MUST_FAIL(what, socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, fam[i].proto),
			  SECCOMP_OR("?"), BY(EPROTONOSUPPORT, "not in this kernel"));
	}
	int route = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (route < 0)
		unexpected("NETLINK_ROUTE is refused too (%s): the filter is too broad",
			   errname(errno));
	verdict();
}
