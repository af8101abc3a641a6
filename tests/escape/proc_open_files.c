/* proc_open_files: open files until the limit, and raise the limit.
 * argv: N (more than the policy's open_files)
 *
 * Stopped by: RLIMIT_NOFILE from the policy (EMFILE before N), and raising
 * the hard limit needs CAP_SYS_RESOURCE (EPERM).
 */
#include "escape.h"

#include <sys/resource.h>

int main(int argc, char **argv)
{
	long n = atol(arg(argc, argv, 1, "N"));
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	note("RLIMIT_NOFILE %lu/%lu", (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);
	struct rlimit more = {.rlim_cur = (rlim_t)n * 4, .rlim_max = (rlim_t)n * 4};
	if (rl.rlim_max < more.rlim_max)
		MUST_FAIL("raise RLIMIT_NOFILE", setrlimit(RLIMIT_NOFILE, &more),
			  BY(EPERM, "no CAP_SYS_RESOURCE"));
	long opened = 0;
	while (opened < n) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd < 0) {
			if (errno == EMFILE)
				break;
			unexpected("open after %ld: %s", opened, strerror(errno));
		}
		opened++;
	}
	if (opened >= n)
		escaped("opened %ld files", opened);
	add_how("open: EMFILE after %ld files (RLIMIT_NOFILE)", opened);
	verdict();
}
