/* fs_symlink_host_path: plant a symlink to a host path outside the grants
 * in a granted folder and read through it.
 * argv: WRITABLE-GRANTED-DIR HOST-FILE
 *
 * Stopped by: the mount namespace (the link resolves in the sandbox's
 * view, where the host file does not exist). Expected: ENOENT.
 */
#include "escape.h"

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "WRITABLE-GRANTED-DIR HOST-FILE");
	const char *target = arg(argc, argv, 2, "WRITABLE-GRANTED-DIR HOST-FILE");
	char link_path[4096];
	snprintf(link_path, sizeof(link_path), "%s/escape-host-link", dir);
	unlink(link_path);
	if (symlink(target, link_path) < 0)
		unexpected("symlink in %s: %s", dir, strerror(errno));
	errno = 0;
	int fd = open(link_path, O_RDONLY | O_CLOEXEC);
	int e = errno;
	/* And the directory holding the host file, through a second link. */
	char dir_link[4096], parent[4096];
	snprintf(dir_link, sizeof(dir_link), "%s/escape-host-dir-link", dir);
	snprintf(parent, sizeof(parent), "%s", target);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	unlink(dir_link);
	if (symlink(parent, dir_link) < 0)
		unexpected("symlink in %s: %s", dir, strerror(errno));
	errno = 0;
	int dfd = open(dir_link, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int de = errno;
	unlink(link_path);
	unlink(dir_link);
	const struct want w[] = {BY(ENOENT, "not in view")};
	esc_check("open link -> host file", fd, e, w, 1);
	esc_check("open link -> host file's folder", dfd, de, w, 1);
	verdict();
}
