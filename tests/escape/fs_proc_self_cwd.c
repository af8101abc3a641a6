/* fs_proc_self_cwd: climb out through the agent's own /proc links:
 * /proc/self/cwd/../.., /proc/self/root/.., /proc/thread-self/root.
 *
 * These links point into the sandbox's tree; ".." stops at its root.
 * Stopped by: the mount namespace (pivot_root, old root detached).
 * Expected: ENOENT, and /proc/self/root reads "/".
 */
#include "escape.h"

int main(void)
{
	char buf[4096];
	ssize_t n = readlink("/proc/self/root", buf, sizeof(buf) - 1);
	if (n < 0)
		unexpected("readlink /proc/self/root: %s", strerror(errno));
	buf[n] = '\0';
	if (strcmp(buf, "/") != 0)
		escaped("/proc/self/root points to %s, not /", buf);
	const char *paths[] = {
		"/proc/self/cwd/../../../../../../../../../../etc/shadow",
		"/proc/self/root/../../../../etc/shadow",
		"/proc/self/root/root/.ssh",
		"/proc/thread-self/root/../../../etc/shadow",
		"/proc/self/cwd/../../../../../../../../../../root",
	};
	for (size_t i = 0; i < ESC_N(paths); i++)
		MUST_FAIL(paths[i], open(paths[i], O_RDONLY | O_CLOEXEC),
			  BY(ENOENT, "not in view"));
	verdict();
}
