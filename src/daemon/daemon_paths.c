/* Where the daemon's socket, state and config are (see daemon.h). */
#include "daemon/daemon.h"

#include <unistd.h>

char *daemon_default_socket(void)
{
	const char *s = getenv("PINCER_SOCKET");
	if (s && *s)
		return pc_xstrdup(s);
	if (geteuid() == 0)
		return pc_xstrdup("/run/pincer/pincer.sock");
	const char *rt = getenv("XDG_RUNTIME_DIR");
	if (rt && *rt == '/')
		return pc_xasprintf("%s/pincer.sock", rt);
	return pc_xasprintf("/tmp/pincer-%u/pincer.sock", (unsigned)geteuid());
}

char *daemon_default_state(void)
{
	return pc_state_file("daemon");
}

char *daemon_default_config(void)
{
	if (geteuid() == 0)
		return pc_xstrdup("/etc/pincer/daemon.yaml");
	const char *x = getenv("XDG_CONFIG_HOME");
	if (x && *x == '/')
		return pc_xasprintf("%s/pincer/daemon.yaml", x);
	const char *home = pc_home_dir();
	return pc_xasprintf("%s/.config/pincer/daemon.yaml", home ? home : "");
}
