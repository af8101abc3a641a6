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
	struct sockaddr_storage ss;
	socklen_t len = inet_address(family, addr, port, &ss);
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
