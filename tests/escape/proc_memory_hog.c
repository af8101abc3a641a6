/* proc_memory_hog: allocate and touch memory past the policy's memory
 * limit. argv: MB (the most to try; well above the limit)
 *
 * Stopped by: the memory cgroup: the kernel OOM-kills the sandbox (the
 * program dies of SIGKILL with no verdict; the e2e test expects status 137
 * and an audit record of type "oom"). Unprivileged without a cgroup, by
 * RLIMIT_AS: mmap fails (ENOMEM) and the program says BLOCKED.
 * Reaching MB is an escape. Progress lines say how far it got.
 */
#include "escape.h"

#include <sys/mman.h>

int main(int argc, char **argv)
{
	long limit = atol(arg(argc, argv, 1, "MB"));
	const size_t chunk = 4 << 20;
	long mb = 0;
	while (mb < limit) {
		char *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			       0);
		if (p == MAP_FAILED) {
			if (errno == ENOMEM)
				blocked("mmap: ENOMEM after %ld MB (RLIMIT_AS)", mb);
			unexpected("mmap after %ld MB: %s", mb, strerror(errno));
		}
		for (size_t off = 0; off < chunk; off += 4096)
			p[off] = 1;
		mb += (long)(chunk >> 20);
		if (mb % 16 == 0) {
			printf("PROGRESS %ld MB\n", mb);
			fflush(stdout);
		}
	}
	escaped("allocated and touched %ld MB", mb);
}
