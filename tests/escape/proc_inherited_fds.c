/* proc_inherited_fds: look for file descriptors pincer or PID 1 left open
 * in the agent: the control socket, the audit log, a directory of the
 * host (an open directory fd is a way out of any mount namespace).
 *
 * Stopped by: PID 1 closing every fd but 0, 1 and 2 before exec
 * (close_range). Any other open fd is an escape; so is a directory on 0-2.
 */
#include "escape.h"

#include <dirent.h>

int main(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		unexpected("opendir /proc/self/fd: %s", strerror(errno));
	int self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		char path[64], target[4096] = "?";
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n >= 0)
			target[n] = '\0';
		if (fd == self)
			continue;
		struct stat st;
		if (fd > 2)
			escaped("fd %d is open: %s", fd, target);
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
			escaped("fd %d is a directory: %s", fd, target);
		add_how("fd %d: %s", fd, target);
	}
	closedir(d);
	add_how("nothing else open");
	verdict();
}
