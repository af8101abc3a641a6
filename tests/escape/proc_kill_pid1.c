/* proc_kill_pid1: kill or stop the sandbox's PID 1 (which would end the
 * sandbox's supervision, or, were it the host's init, the machine).
 *
 * PID 1 is pincer's init inside the pid namespace; the kernel drops
 * signals sent to a namespace's init from inside when it has no handler,
 * SIGKILL and SIGSTOP included. kill() itself may return 0.
 * Stopped by: the pid namespace (init protection). Checked after: PID 1
 * is still there, still our parent, and not stopped.
 */
#include "escape.h"

#include <time.h>

static char pid1_state(void)
{
	char buf[512];
	int fd = open("/proc/1/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

int main(void)
{
	const int sigs[] = {SIGKILL, SIGSTOP, SIGSEGV};
	for (size_t i = 0; i < ESC_N(sigs); i++) {
		errno = 0;
		int r = kill(1, sigs[i]);
		int e = errno;
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
		if (kill(1, 0) < 0 && errno == ESRCH)
			escaped("PID 1 is gone after signal %s", sigabbrev_np(sigs[i]));
		if (getppid() != 1)
			escaped("our parent is no longer PID 1 after signal %s",
				sigabbrev_np(sigs[i]));
		char st = pid1_state();
		if (st == 'T' || st == 't')
			escaped("PID 1 is stopped after signal %s", sigabbrev_np(sigs[i]));
		if (r == 0)
			add_how("SIG%s to PID 1: ignored (namespace init)", sigabbrev_np(sigs[i]));
		else if (e == EPERM)
			add_how("SIG%s to PID 1: EPERM", sigabbrev_np(sigs[i]));
		else
			unexpected("kill(1, %d): %s", sigs[i], strerror(e));
	}
	verdict();
}
