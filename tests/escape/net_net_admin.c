/* net_net_admin: reconfigure the network: give lo a new address, take it
 * down, add a default route, create a tunnel device.
 *
 * Stopped by: no CAP_NET_ADMIN (EPERM), in any namespace; /dev/net/tun is
 * not in the view (ENOENT).
 */
#include "escape.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

int main(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		unexpected("socket: %s", strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		unexpected("SIOCGIFFLAGS lo: %s", strerror(errno));
	ifr.ifr_flags &= ~IFF_UP;
	MUST_FAIL("lo down", ioctl(fd, SIOCSIFFLAGS, &ifr), BY(EPERM, "no CAP_NET_ADMIN"));
	struct sockaddr_in *a = (struct sockaddr_in *)&ifr.ifr_addr;
	memset(&ifr.ifr_addr, 0, sizeof(ifr.ifr_addr));
	a->sin_family = AF_INET;
	inet_pton(AF_INET, "10.66.0.1", &a->sin_addr);
	MUST_FAIL("lo address 10.66.0.1", ioctl(fd, SIOCSIFADDR, &ifr),
		  BY(EPERM, "no CAP_NET_ADMIN"));
	struct rtentry rt;
	memset(&rt, 0, sizeof(rt));
	((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
	((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
	((struct sockaddr_in *)&rt.rt_gateway)->sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &((struct sockaddr_in *)&rt.rt_gateway)->sin_addr);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = "lo";
	MUST_FAIL("default route via lo", ioctl(fd, SIOCADDRT, &rt), BY(EPERM, "no CAP_NET_ADMIN"));
	MUST_FAIL("open /dev/net/tun", open("/dev/net/tun", O_RDWR | O_CLOEXEC),
		  BY(ENOENT, "not in /dev"));
	verdict();
}
