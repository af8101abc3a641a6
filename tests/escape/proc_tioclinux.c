/* proc_tioclinux: TIOCLINUX, the Linux console's ioctl that can paste the
 * selection into the console's input (another way to inject keystrokes),
 * on stdin/stdout/stderr, /dev/tty and the consoles.
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, these are not
 * virtual consoles (ENOTTY/EINVAL) and /dev/tty0, /dev/console are not in
 * the view (ENOENT).
 */
#include "escape.h"

#include <linux/tiocl.h>
#include <sys/ioctl.h>

int main(void)
{
	char sub = TIOCL_PASTESEL;
#define LINUX_WANTS                                                                                \
	SECCOMP_OR("not a console"), BY(ENOTTY, "not a virtual console"),                          \
		BY(EINVAL, "not a virtual console")
	for (int fd = 0; fd < 3; fd++) {
		char what[32];
		snprintf(what, sizeof(what), "TIOCLINUX on fd %d", fd);
		MUST_FAIL(what, ioctl(fd, TIOCLINUX, &sub), LINUX_WANTS);
	}
	int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (tty >= 0)
		MUST_FAIL("TIOCLINUX on /dev/tty", ioctl(tty, TIOCLINUX, &sub), LINUX_WANTS);
	MUST_FAIL("open /dev/tty0", open("/dev/tty0", O_RDWR | O_CLOEXEC),
		  BY(ENOENT, "not in /dev"));
	MUST_FAIL("open /dev/console", open("/dev/console", O_RDWR | O_CLOEXEC),
		  BY(ENOENT, "not in /dev"));
	verdict();
}
