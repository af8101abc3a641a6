/* fs_read_root_home: read root's home, other users' homes and the host's
 * logs and state by absolute path.
 *
 * Stopped by: the mount namespace (none of these folders is in the view).
 * Expected: ENOENT; EACCES accepted as file permissions.
 */
#include "escape.h"

int main(void)
{
	const char *paths[] = {"/root",
			       "/root/.ssh/authorized_keys",
			       "/root/.bash_history",
			       "/var/log",
			       "/var/lib",
			       "/var/spool/cron",
			       "/home/pincer-test",
			       "/boot",
			       "/srv"};
	for (size_t i = 0; i < ESC_N(paths); i++)
		MUST_FAIL(paths[i], open(paths[i], O_RDONLY | O_CLOEXEC), BY(ENOENT, "not in view"),
			  BY(EACCES, "file permissions"));
	verdict();
}
