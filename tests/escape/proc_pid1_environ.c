/* proc_pid1_environ: read PID 1's environment, memory map and auxv from
 * /proc. PID 1 starts as a copy of pincer, so its environment is the
 * host user's (tokens, paths), not the agent's clean one.
 *
 * Stopped by: PID 1 is not dumpable: /proc/1/{environ,mem,maps,auxv} are
 * closed to the agent. Expected: EACCES (EPERM accepted).
 */
#include "escape.h"

int main(void)
{
	const char *paths[] = {"/proc/1/environ", "/proc/1/mem",   "/proc/1/maps",
			       "/proc/1/auxv",	  "/proc/1/stack", "/proc/1/syscall"};
	for (size_t i = 0; i < ESC_N(paths); i++) {
		errno = 0;
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			char buf[256];
			ssize_t n = read(fd, buf, sizeof(buf));
			int e = errno;
			close(fd);
			if (n > 0)
				escaped("read %zd bytes of %s", n, paths[i]);
			if (n == 0) {
				add_how("%s: empty", paths[i]);
				continue;
			}
			errno = e;
		}
		const struct want w[] = {BY(EACCES, "PID 1 not dumpable"),
					 BY(EPERM, "PID 1 not dumpable"),
					 BY(ENOENT, "not offered")};
		esc_check(paths[i], -1, errno, w, ESC_N(w));
	}
	verdict();
}
