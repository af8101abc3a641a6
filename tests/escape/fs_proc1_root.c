/* fs_proc1_root: reach the host's tree through PID 1's root and working
 * directory links (/proc/1/root, /proc/1/cwd), the classic way out of a
 * chroot.
 *
 * PID 1 is pincer's init inside the sandbox: its root is the sandbox's own
 * and it is not dumpable, so its /proc links are closed to the agent.
 * Stopped by: the pid namespace (PID 1 is ours, not the host's init) and
 * PR_SET_DUMPABLE 0 on PID 1 (EACCES); ENOENT if a path resolves in the
 * sandbox's own tree.
 */
#include "escape.h"

int main(void)
{
	const char *paths[] = {"/proc/1/root/etc/shadow",
			       "/proc/1/root/root",
			       "/proc/1/root/",
			       "/proc/1/cwd/",
			       "/proc/1/cwd/../../../../etc/shadow",
			       "/proc/1/fd/3"};
	for (size_t i = 0; i < ESC_N(paths); i++)
		MUST_FAIL(paths[i], open(paths[i], O_RDONLY | O_CLOEXEC),
			  BY(EACCES, "PID 1 not dumpable"), BY(ENOENT, "not in view"));
	char buf[256];
	MUST_FAIL("readlink /proc/1/root", readlink("/proc/1/root", buf, sizeof(buf)),
		  BY(EACCES, "PID 1 not dumpable"));
	verdict();
}
