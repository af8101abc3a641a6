/* net_udp_dns: send UDP out: a DNS query to public resolvers (IPv4, IPv6),
 * to the metadata address, and a connected UDP socket (DNS tunnelling is
 * the classic way to leak data past an HTTP proxy).
 *
 * Stopped by: the network namespace: only lo, no route (ENETUNREACH).
 * Landlock does not handle UDP.
 */
#include "escape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* A query for "example.com" A. */
static const unsigned char query[] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
				      0x00, 0x00, 7,	'e',  'x',  'a',  'm',	'p',  'l',  'e',
				      3,    'c',  'o',	'm',  0,    0x00, 0x01, 0x00, 0x01};

#define UDP_WANTS BY(ENETUNREACH, "no route: network namespace"), BY(EHOSTUNREACH, "no route")

static void send4(const char *addr, int port, bool connected)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, addr, &s.sin_addr);
	char what[96];
	if (connected) {
		snprintf(what, sizeof(what), "connect udp %s:%d", addr, port);
		MUST_FAIL(what, connect(fd, (struct sockaddr *)&s, sizeof(s)), UDP_WANTS);
	} else {
		snprintf(what, sizeof(what), "sendto %s:%d", addr, port);
		MUST_FAIL(what,
			  sendto(fd, query, sizeof(query), 0, (struct sockaddr *)&s, sizeof(s)),
			  UDP_WANTS);
	}
	close(fd);
}

int main(void)
{
	send4("8.8.8.8", 53, false);
	send4("1.1.1.1", 53, false);
	send4("169.254.169.254", 53, false);
	send4("10.0.0.2", 53, false);
	send4("1.1.1.1", 53, true);
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(53)};
	inet_pton(AF_INET6, "2001:4860:4860::8888", &s6.sin6_addr);
	MUST_FAIL("sendto [2001:4860:4860::8888]:53",
		  sendto(fd, query, sizeof(query), 0, (struct sockaddr *)&s6, sizeof(s6)),
		  UDP_WANTS);
	verdict();
}
