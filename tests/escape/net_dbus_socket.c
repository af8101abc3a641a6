/* net_dbus_socket: reach the host's D-Bus (system and session buses,
 * systemd's private socket, journald, syslog): control of services as
 * root is one message away.
 *
 * Stopped by: the mount namespace: not even visible (ENOENT for stat and
 * connect).
 */
#include "escape.h"

#include <sys/socket.h>
#include <sys/un.h>

int main(void)
{
	const char *paths[] = {"/run/dbus/system_bus_socket",
			       "/var/run/dbus/system_bus_socket",
			       "/run/systemd/private",
			       "/run/systemd/journal/socket",
			       "/run/systemd/notify",
			       "/dev/log",
			       "/run/user/0/bus",
			       "/run/user/1000/bus"};
	for (size_t i = 0; i < ESC_N(paths); i++) {
		struct stat st;
		char what[160];
		snprintf(what, sizeof(what), "stat %s", paths[i]);
		MUST_FAIL(what, stat(paths[i], &st), BY(ENOENT, "not in view"));
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un s = {.sun_family = AF_UNIX};
		snprintf(s.sun_path, sizeof(s.sun_path), "%s", paths[i]);
		snprintf(what, sizeof(what), "connect %s", paths[i]);
		MUST_FAIL(what, connect(fd, (struct sockaddr *)&s, sizeof(s)),
			  BY(ENOENT, "not in view"));
		close(fd);
	}
	verdict();
}
