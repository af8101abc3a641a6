/* net_abstract_unix: connect to abstract unix sockets of the host (X11's
 * "\0/tmp/.X11-unix/X0", session buses, and a name the e2e test binds on
 * the host). Abstract names have no file, so no mount hides them.
 * argv: [NAME...] (without the leading NUL)
 *
 * Stopped by: the network namespace (the abstract namespace is per network
 * namespace: ECONNREFUSED) and Landlock's scope for abstract sockets
 * (EPERM for sockets outside the sandbox's domain).
 */
#include "escape.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

static void try_name(const char *name)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un s = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	if (n > sizeof(s.sun_path) - 1)
		n = sizeof(s.sun_path) - 1;
	memcpy(s.sun_path + 1, name, n);
	char what[160];
	snprintf(what, sizeof(what), "connect @%s", name);
	MUST_FAIL(what,
		  connect(fd, (struct sockaddr *)&s,
			  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)),
		  BY(ECONNREFUSED, "network namespace"), BY(EPERM, "Landlock scope"));
	close(fd);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		try_name(argv[i]);
	try_name("/tmp/.X11-unix/X0");
	try_name("/tmp/.ICE-unix/1");
	try_name("/run/user/0/bus");
	verdict();
}
