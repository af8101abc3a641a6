/* net_raw_socket: open raw IP sockets (forge packets, sniff, ping out
 * around any proxy): SOCK_RAW for ICMP, for IPPROTO_RAW, for IPv6, and the
 * obsolete SOCK_PACKET.
 *
 * Stopped by: the seccomp deny-list (EPERM for SOCK_RAW and SOCK_PACKET on
 * inet sockets); without it, no CAP_NET_RAW (EPERM). Unprivileged ICMP
 * "ping" sockets (SOCK_DGRAM) are noted, not counted: they are gated by
 * ping_group_range and see only lo here.
 */
#include "escape.h"

#include <netinet/in.h>
#include <sys/socket.h>

int main(void)
{
#define RAW_WANTS SECCOMP_OR("no CAP_NET_RAW"), BY(ESOCKTNOSUPPORT, "not supported")
	MUST_FAIL("socket(AF_INET, SOCK_RAW, ICMP)", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP),
		  RAW_WANTS);
	MUST_FAIL("socket(AF_INET, SOCK_RAW, IPPROTO_RAW)", socket(AF_INET, SOCK_RAW, IPPROTO_RAW),
		  RAW_WANTS);
	MUST_FAIL("socket(AF_INET6, SOCK_RAW, ICMPV6)", socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6),
		  RAW_WANTS);
	MUST_FAIL("socket(AF_INET, SOCK_PACKET)", socket(AF_INET, SOCK_PACKET, 0), RAW_WANTS,
		  BY(EINVAL, "SOCK_PACKET not for inet"));
	int ping = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	note("ping socket: %s", ping >= 0 ? "allowed (lo only)" : errname(errno));
	verdict();
}
