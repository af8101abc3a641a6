/* net_tcp_bind: listen for TCP connections (a server inside, reached
 * through a port on loopback that something else forwards): bind
 * 127.0.0.1:8080, 0.0.0.0:8080, [::1]:8080, and port 0.
 *
 * Stopped by: Landlock, which handles TCP bind and allows it nowhere
 * (EACCES). Without Landlock binds succeed (in a namespace with only lo).
 */
#include "escape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static void try_bind(int family, const char *addr, int port)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		unexpected("socket: %s", strerror(errno));
	struct sockaddr_storage ss = {0};
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &s->sin_addr);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &s->sin6_addr);
		len = sizeof(*s);
	}
	char what[96];
	snprintf(what, sizeof(what), family == AF_INET ? "bind %s:%d" : "bind [%s]:%d", addr, port);
	MUST_FAIL(what, bind(fd, (struct sockaddr *)&ss, len), BY(EACCES, "Landlock"));
	close(fd);
}

int main(void)
{
	try_bind(AF_INET, "127.0.0.1", 8080);
	try_bind(AF_INET, "0.0.0.0", 8080);
	try_bind(AF_INET, "127.0.0.1", 0);
	try_bind(AF_INET6, "::1", 8080);
	verdict();
}
