/* net_tcp_loopback: reach a TCP service on loopback other than the gate:
 * start a listener on 127.0.0.1:8080 (or, if bind is refused, wherever
 * listen() puts it), then connect to it.
 *
 * Stopped by: Landlock: connect only to the gate's port (EACCES), bind
 * refused. Without Landlock this connects: local services on other ports
 * would be reachable.
 */
#include "escape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &s.sin_addr);
	int r = connect(fd, (struct sockaddr *)&s, sizeof(s));
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

int main(void)
{
	int port = 8080;
	int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(8080)};
	inet_pton(AF_INET, "127.0.0.1", &s.sin_addr);
	int one = 1;
	setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv, (struct sockaddr *)&s, sizeof(s)) < 0) {
		note("bind 127.0.0.1:8080: %s", errname(errno));
		port = 0;
	}
	if (listen(srv, 4) == 0) {
		socklen_t len = sizeof(s);
		getsockname(srv, (struct sockaddr *)&s, &len);
		port = ntohs(s.sin_port);
		note("listening on 127.0.0.1:%d", port);
	} else {
		note("listen: %s", errname(errno));
	}
	const int ports[] = {8080, port ? port : 8081, 22, 5432};
	for (size_t i = 0; i < ESC_N(ports); i++) {
		char what[64];
		snprintf(what, sizeof(what), "connect 127.0.0.1:%d", ports[i]);
		MUST_FAIL(what, connect_to(ports[i]), BY(EACCES, "Landlock"),
			  BY(ECONNREFUSED, "nothing listening (Landlock did not refuse)"));
	}
	verdict();
}
