/* proc_tiocsti: push keystrokes into a terminal's input queue with
 * TIOCSTI: on stdin/stdout/stderr and on /dev/tty. Were one of them the
 * user's own terminal, the injected text would run in the user's shell
 * once the agent exits.
 *
 * Stopped by: the seccomp deny-list (EPERM, whatever the fd); a new
 * session (no controlling terminal: /dev/tty gives ENXIO) and, on a
 * terminal, a pty of the agent's own. Without seccomp the kernel answers
 * EPERM (not the caller's controlling tty), EIO (legacy TIOCSTI off) or
 * ENOTTY (not a terminal).
 */
#include "escape.h"

#include <sys/ioctl.h>

int main(void)
{
	char c = '#';
	for (int fd = 0; fd < 3; fd++) {
		char what[48];
		snprintf(what, sizeof(what), "TIOCSTI on fd %d (%s)", fd,
			 isatty(fd) ? "a terminal" : "not a terminal");
		MUST_FAIL(what, ioctl(fd, TIOCSTI, &c), SECCOMP_OR("not our controlling tty"),
			  BY(EIO, "legacy TIOCSTI off"), BY(ENOTTY, "not a terminal"));
	}
	errno = 0;
	int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (tty < 0) {
		const struct want w[] = {BY(ENXIO, "new session: no controlling terminal"),
					 BY(ENOENT, "no /dev/tty")};
		esc_check("open /dev/tty", -1, errno, w, ESC_N(w));
	} else {
		MUST_FAIL("TIOCSTI on /dev/tty", ioctl(tty, TIOCSTI, &c),
			  SECCOMP_OR("not our controlling tty"), BY(EIO, "legacy TIOCSTI off"));
	}
	verdict();
}
