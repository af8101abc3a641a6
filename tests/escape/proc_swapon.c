/* proc_swapon: add a swap file of the agent's (the host would page other
 * processes' memory into it) or turn the host's swap off.
 * argv: WRITABLE-DIR
 *
 * Stopped by: the seccomp deny-list (EPERM); without it, no CAP_SYS_ADMIN
 * (EPERM).
 */
#include "escape.h"

#include <sys/swap.h>

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "WRITABLE-DIR");
	char path[4200];
	snprintf(path, sizeof(path), "%s/escape-swap", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		unexpected("create %s: %s", path, strerror(errno));
	static char page[65536];
	(void)!write(fd, page, sizeof(page));
	close(fd);
	MUST_FAIL("swapon(file)", swapon(path, 0), SECCOMP_OR("no CAP_SYS_ADMIN"));
	MUST_FAIL("swapoff(file)", swapoff(path), SECCOMP_OR("no CAP_SYS_ADMIN"));
	unlink(path);
	verdict();
}
