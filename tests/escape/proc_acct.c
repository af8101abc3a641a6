/* proc_acct: switch on process accounting into a file of the agent's
 * (every process on the host would be logged there) or switch it off.
 * argv: WRITABLE-DIR
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, no CAP_SYS_PACCT
 * (EPERM).
 */
#include "escape.h"

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "WRITABLE-DIR");
	char path[4200];
	snprintf(path, sizeof(path), "%s/escape-acct", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		unexpected("create %s: %s", path, strerror(errno));
	close(fd);
	MUST_FAIL("acct(file)", acct(path), SECCOMP_OR("no CAP_SYS_PACCT"));
	MUST_FAIL("acct(NULL)", acct(NULL), SECCOMP_OR("no CAP_SYS_PACCT"));
	unlink(path);
	verdict();
}
