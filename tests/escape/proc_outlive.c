/* proc_outlive: outlive the sandbox's wall_time: ignore SIGTERM, SIGINT
 * and SIGHUP, and leave a daemon behind (double fork, new session) that
 * keeps touching a file. argv: WRITABLE-DIR
 *
 * It never prints a verdict: the e2e test judges from outside. With
 * wall_time set, pincer must kill the whole sandbox (SIGTERM, grace,
 * SIGKILL), record a "limit" audit record, and the daemon's file must stop
 * changing. Stopped by: the wall-time limit, the pid namespace (PID 1's
 * death takes every process in it).
 */
#include "escape.h"

#include <time.h>

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "WRITABLE-DIR");
	char path[4200];
	snprintf(path, sizeof(path), "%s/escape-alive", dir);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (fork() == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		for (;;) {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd >= 0) {
				char buf[64];
				int n = snprintf(buf, sizeof(buf), "%ld.%09ld\n", (long)now.tv_sec,
						 now.tv_nsec);
				(void)!write(fd, buf, (size_t)n);
				close(fd);
			}
			struct timespec ts = {0, 50 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	note("ignoring SIGTERM, daemon started");
	for (;;)
		pause();
}
