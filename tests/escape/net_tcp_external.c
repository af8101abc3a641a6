/* net_tcp_external: open TCP connections out of the sandbox other than
 * through the gate's proxy port: to public addresses (IPv4, IPv6), the
 * cloud metadata address, private addresses, and the gate's port on a
 * public address.
 *
 * Stopped by: Landlock (TCP connect only to the gate's port and the ports
 * its capture listeners take: EACCES) and the network namespace: only lo,
 * with a `local` default route, so a connect to any address stays inside.
 * On a captured port (80, 443) it lands on the gate's capture listener,
 * which decides as the proxy does; the connection is "captured" when the
 * kernel gave it a source address only a local delivery has (the
 * destination itself, or loopback). Elsewhere nothing listens: refused.
 */
#include "escape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#define NET_WANTS                                                                                  \
	BY(EACCES, "Landlock"), BY(ECONNREFUSED, "local route: nothing listens"),                  \
		BY(ENETUNREACH, "no route: network namespace"),                                    \
		BY(EHOSTUNREACH, "no route: network namespace")

/* Did the kernel deliver this connection inside the namespace? */
static bool captured(int fd, const struct sockaddr_storage *dst)
{
	struct sockaddr_storage me;
	socklen_t len = sizeof(me);
	if (getsockname(fd, (struct sockaddr *)&me, &len) < 0)
		return false;
	if (me.ss_family == AF_INET) {
		const struct in_addr *a = &((struct sockaddr_in *)&me)->sin_addr;
		const struct in_addr *d = &((const struct sockaddr_in *)dst)->sin_addr;
		return a->s_addr == d->s_addr || (ntohl(a->s_addr) >> 24) == 127;
	}
	const struct in6_addr *a = &((struct sockaddr_in6 *)&me)->sin6_addr;
	const struct in6_addr *d = &((const struct sockaddr_in6 *)dst)->sin6_addr;
	return memcmp(a, d, sizeof(*a)) == 0 || IN6_IS_ADDR_LOOPBACK(a);
}

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
	errno = 0;
	if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
		if (!captured(fd, &ss))
			escaped("%s reached a peer outside the sandbox", what);
		add_how("%s: captured (local route to the gate)", what);
	} else {
		const struct want w[] = {NET_WANTS};
		esc_check(what, -1, errno, w, ESC_N(w));
	}
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
