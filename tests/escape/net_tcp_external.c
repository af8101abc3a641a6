/* net_tcp_external: open TCP connections out of the sandbox other than
 * through the gate: to public addresses (IPv4, IPv6), the cloud metadata
 * address, a private address, and the gate's port on a public address.
 *
 * Stopped by: Landlock (TCP connect only to the gate's port: EACCES) and
 * the network namespace (only lo, no route: ENETUNREACH). The gate's port
 * on a public address passes Landlock and meets no route.
 */
#include "escape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#define NET_WANTS                                                                                  \
	BY(EACCES, "Landlock"), BY(ENETUNREACH, "no route: network namespace"),                    \
		BY(EHOSTUNREACH, "no route: network namespace")

static void try_connect(int family, const char *addr, int port)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		unexpected("socket: %s", strerror(errno));
	struct timeval tv = {2, 0};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_storage ss;
	socklen_t len = inet_address(family, addr, port, &ss);
	char what[96];
	snprintf(what, sizeof(what), family == AF_INET ? "connect %s:%d" : "connect [%s]:%d", addr,
		 port);
	MUST_FAIL(what, connect(fd, (struct sockaddr *)&ss, len), NET_WANTS);
	close(fd);
}

int main(void)
{
	try_connect(AF_INET, "1.1.1.1", 443);
	try_connect(AF_INET, "8.8.8.8", 53);
	try_connect(AF_INET, "169.254.169.254", 80);
	try_connect(AF_INET, "10.0.0.1", 22);
	try_connect(AF_INET, "192.168.1.1", 80);
	try_connect(AF_INET, "1.1.1.1", 3128);
	try_connect(AF_INET6, "2606:4700:4700::1111", 443);
	try_connect(AF_INET6, "::ffff:1.1.1.1", 443);
	verdict();
}
