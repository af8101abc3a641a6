/* proc_fork_bomb: fork until the kernel says no. argv: N (more than the
 * policy's pids limit)
 *
 * Stopped by: the pids cgroup controller (or, unprivileged without a
 * cgroup, RLIMIT_NPROC). Expected: fork fails with EAGAIN before N
 * processes. Reaching N is an escape; the bomb stops there either way.
 */
#include "escape.h"

#include <sys/wait.h>

int main(int argc, char **argv)
{
	long n = atol(arg(argc, argv, 1, "N"));
	if (n <= 0 || n > 4096)
		unexpected("N must be 1..4096");
	pid_t *kids = calloc((size_t)n, sizeof(pid_t));
	long made = 0;
	int err = 0;
	while (made < n) {
		pid_t p = fork();
		if (p == 0) {
			for (;;)
				pause();
		}
		if (p < 0) {
			err = errno;
			break;
		}
		kids[made++] = p;
	}
	for (long i = 0; i < made; i++)
		kill(kids[i], SIGKILL);
	for (long i = 0; i < made; i++)
		waitpid(kids[i], NULL, 0);
	if (made >= n)
		escaped("forked %ld processes, no limit stopped it", made);
	if (err == EAGAIN)
		blocked("fork: EAGAIN after %ld processes (pids limit)", made);
	unexpected("fork failed after %ld processes with %s", made, errname(err));
}
