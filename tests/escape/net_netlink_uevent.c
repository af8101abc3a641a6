/* net_netlink_uevent: open a NETLINK_KOBJECT_UEVENT socket (watch, and
 * with privilege forge, device events that udev acts on as root).
 *
 * Stopped by: the seccomp deny-list (EPERM). The socket needs no
 * privilege, so success is an escape from the deny-list.
 */
#include "escape.h"

#include <linux/netlink.h>
#include <sys/socket.h>

int main(void)
{
	MUST_FAIL("socket(NETLINK_KOBJECT_UEVENT)",
		  socket(AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT), SECCOMP_OR("?"));
	MUST_FAIL("socket(NETLINK_KOBJECT_UEVENT, DGRAM)",
		  socket(AF_NETLINK, SOCK_DGRAM, NETLINK_KOBJECT_UEVENT), SECCOMP_OR("?"));
	verdict();
}
