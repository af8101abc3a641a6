/* The sandbox's network namespace holds only `lo`; bring it up. */
#include "sandbox/internal.h"

#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

int net_loopback_up(struct pc_error *err)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return pc_error_errno(err, errno, "socket for lo");
	struct ifreq ifr = {0};
	strncpy(ifr.ifr_name, "lo", sizeof(ifr.ifr_name) - 1);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return pc_error_errno(err, errno, "read lo flags");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return pc_error_errno(err, errno, "bring lo up");
	return 0;
}
