/* fs_dotdot_traversal: climb out of a granted folder with "..".
 * argv: GRANTED-DIR OUTSIDE-FILE (a host file next to the grant, not in
 * the policy).
 *
 * Tries: "../" repeated from inside the grant to reach the outside file's
 * absolute path and /etc/shadow, by chdir, by openat on a directory fd, and
 * in one absolute path.
 * Stopped by: the mount namespace. ".." walks the sandbox's own tree,
 * which does not hold the outside file. Expected: ENOENT.
 */
#include "escape.h"

int main(int argc, char **argv)
{
	const char *granted = arg(argc, argv, 1, "GRANTED-DIR OUTSIDE-FILE");
	const char *outside = arg(argc, argv, 2, "GRANTED-DIR OUTSIDE-FILE");
	if (outside[0] != '/')
		unexpected("OUTSIDE-FILE must be absolute");

	/* As many ".." as the grant is deep, then the outside path. */
	char up[4096] = "";
	for (const char *c = granted; *c; c++)
		if (*c == '/')
			strcat(up, "../");
	char rel[8192], abs_path[8192];
	snprintf(rel, sizeof(rel), "%s%s", up, outside + 1);
	snprintf(abs_path, sizeof(abs_path), "%s/%s../../../../../../../../etc/shadow", granted,
		 up);

	if (chdir(granted) < 0)
		unexpected("chdir %s: %s", granted, strerror(errno));
	const struct want w[] = {BY(ENOENT, "not in view")};
	errno = 0;
	int fd = open(rel, O_RDONLY | O_CLOEXEC);
	esc_check("open ../ to the outside file", fd, errno, w, 1);
	fd = open("../../../../../../../../../../../etc/shadow", O_RDONLY | O_CLOEXEC);
	esc_check("open ../../etc/shadow", fd, errno, w, 1);
	fd = open(abs_path, O_RDONLY | O_CLOEXEC);
	esc_check("open GRANT/../../etc/shadow", fd, errno, w, 1);

	int dir = open(granted, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		unexpected("open %s: %s", granted, strerror(errno));
	fd = openat(dir, rel, O_RDONLY | O_CLOEXEC);
	esc_check("openat(grant, ../outside)", fd, errno, w, 1);
	/* Walking up step by step must end at the sandbox's root, whose
	 * parent is itself. */
	for (int i = 0; i < 64; i++)
		if (chdir("..") < 0)
			unexpected("chdir ..: %s", strerror(errno));
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, "/") != 0)
		unexpected("64 times .. did not end at / (at %s)", cwd);
	fd = open(outside + 1, O_RDONLY | O_CLOEXEC);
	esc_check("open the outside file from the top", fd, errno, w, 1);
	verdict();
}
