/* net_packet_socket: open an AF_PACKET socket (raw Ethernet frames on any
 * interface: sniffing and spoofing below IP).
 *
 * Stopped by: the seccomp deny-list (EPERM: the family is not unix, inet,
 * inet6 or netlink); without it, no CAP_NET_RAW (EPERM).
 */
#include "escape.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <sys/socket.h>

int main(void)
{
	MUST_FAIL("socket(AF_PACKET, SOCK_RAW)", socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)),
		  SECCOMP_OR("no CAP_NET_RAW"));
	MUST_FAIL("socket(AF_PACKET, SOCK_DGRAM)", socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP)),
		  SECCOMP_OR("no CAP_NET_RAW"));
	verdict();
}
