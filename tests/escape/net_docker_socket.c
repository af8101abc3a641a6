/* net_docker_socket: reach a container engine's API socket (docker,
 * containerd, podman, CRI-O, libvirt): one request starts a privileged
 * container with the host's root mounted.
 *
 * Stopped by: the mount namespace: not even visible (ENOENT for stat and
 * connect).
 */
#include "escape.h"

#include <sys/socket.h>
#include <sys/un.h>

int main(void)
{
	const char *paths[] = {
		"/var/run/docker.sock",	   "/run/docker.sock",	  "/run/containerd/containerd.sock",
		"/run/podman/podman.sock", "/run/crio/crio.sock", "/var/run/libvirt/libvirt-sock",
		"/run/firecracker.socket"};
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
