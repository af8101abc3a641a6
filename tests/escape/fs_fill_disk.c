/* fs_fill_disk: fill the host's disk by writing to /tmp until something
 * gives. argv: MB (the scratch size the policy gives, or more)
 *
 * /tmp is a size-limited tmpfs of the sandbox's own. Writes go in 1 MB
 * blocks; a file that hits the file-size limit (EFBIG) is left and the
 * next one started, so only the scratch size can stop it.
 * Stopped by: the scratch tmpfs size. Expected: ENOSPC before MB
 * megabytes were written; writing MB megabytes or more is an escape.
 */
#include "escape.h"

int main(int argc, char **argv)
{
	long limit = atol(arg(argc, argv, 1, "MB"));
	signal(SIGXFSZ, SIG_IGN);
	static char block[1 << 20];
	memset(block, 'x', sizeof(block));
	long total = 0; /* bytes */
	for (int file = 0; total < limit * (1L << 20); file++) {
		char path[64];
		snprintf(path, sizeof(path), "/tmp/escape-fill-%d", file);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			if (errno == ENOSPC)
				blocked("ENOSPC creating a file after %ld MB (scratch size)",
					total >> 20);
			unexpected("open %s: %s", path, strerror(errno));
		}
		for (;;) {
			ssize_t n = write(fd, block, sizeof(block));
			if (n > 0) {
				total += n;
				if (total >= limit * (1L << 20))
					break;
				continue;
			}
			if (n < 0 && errno == EFBIG)
				break; /* file-size limit: next file */
			if (n < 0 && errno == ENOSPC)
				blocked("ENOSPC after %ld MB (scratch size)", total >> 20);
			unexpected("write %s: %s", path, n < 0 ? strerror(errno) : "wrote 0");
		}
		close(fd);
	}
	escaped("wrote %ld MB to /tmp without running out of space", total >> 20);
}
