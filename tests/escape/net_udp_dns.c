/* net_udp_dns: send UDP out: a DNS query to public resolvers (IPv4, IPv6),
 * to the metadata address, to a private one, and on a connected UDP socket
 * (DNS tunnelling is the classic way to leak data past an HTTP proxy).
 *
 * Stopped by: the network namespace: only lo, with a `local` default
 * route, so every datagram is delivered inside, where nothing listens on
 * those addresses (the gate's DNS socket is bound to 127.0.0.1:53 only):
 * the kernel's own port-unreachable comes back (ECONNREFUSED, asked for
 * with IP_RECVERR). Without the route: no route (ENETUNREACH). An answer
 * from anywhere is an escape. Landlock does not handle UDP.
 */
#include "escape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

/* A query for "example.com" A. */
static const unsigned char query[] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
				      0x00, 0x00, 7,	'e',  'x',  'a',  'm',	'p',  'l',  'e',
				      3,    'c',  'o',	'm',  0,    0x00, 0x01, 0x00, 0x01};

#define UDP_WANTS                                                                                  \
	BY(ECONNREFUSED, "local route: nothing listens"),                                          \
		BY(ENETUNREACH, "no route: network namespace"), BY(EHOSTUNREACH, "no route")

static void probe(int family, const char *addr, int port, bool connected)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		unexpected("socket: %s", strerror(errno));
	int on = 1;
	if (family == AF_INET)
		setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
	else
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
	struct sockaddr_storage ss;
	socklen_t len = inet_address(family, addr, port, &ss);
	char what[96];
	snprintf(what, sizeof(what), family == AF_INET ? "%s udp %s:%d" : "%s udp [%s]:%d",
		 connected ? "send" : "sendto", addr, port);
	const struct want w[] = {UDP_WANTS};
	errno = 0;
	long r = connected ? (connect(fd, (struct sockaddr *)&ss, len) < 0
				      ? -1
				      : send(fd, query, sizeof(query), 0))
			   : sendto(fd, query, sizeof(query), 0, (struct sockaddr *)&ss, len);
	if (r < 0) {
		esc_check(what, -1, errno, w, ESC_N(w));
		close(fd);
		return;
	}
	/* Sent: what comes back says where it went. */
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 2000) != 1)
		unexpected("%s: neither an answer nor a refusal in 2 s", what);
	char buf[512];
	errno = 0;
	r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (r >= 0)
		escaped("%s: an answer of %ld bytes came back", what, r);
	esc_check(what, -1, errno, w, ESC_N(w));
	close(fd);
}

int main(void)
{
	probe(AF_INET, "8.8.8.8", 53, false);
	probe(AF_INET, "1.1.1.1", 53, false);
	probe(AF_INET, "169.254.169.254", 53, false);
	probe(AF_INET, "10.0.0.2", 53, false);
	probe(AF_INET, "1.1.1.1", 53, true);
	probe(AF_INET6, "2001:4860:4860::8888", 53, false);
	verdict();
}
