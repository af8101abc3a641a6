/* fs_file_size: write one file bigger than the policy's file_size limit.
 * argv: WRITABLE-DIR MB (the limit)
 *
 * Stopped by: RLIMIT_FSIZE (SIGXFSZ, ignored here, then EFBIG). Writing
 * more than MB megabytes into one file is an escape.
 */
#include "escape.h"

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "WRITABLE-DIR MB");
	long limit = atol(arg(argc, argv, 2, "WRITABLE-DIR MB"));
	signal(SIGXFSZ, SIG_IGN);
	char path[4200];
	snprintf(path, sizeof(path), "%s/escape-big", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		unexpected("open %s: %s", path, strerror(errno));
	static char block[64 << 10];
	memset(block, 'x', sizeof(block));
	long total = 0;
	while (total <= limit * (1L << 20)) {
		ssize_t n = write(fd, block, sizeof(block));
		if (n > 0) {
			total += n;
			continue;
		}
		int e = errno;
		close(fd);
		unlink(path);
		if (n < 0 && e == EFBIG)
			blocked("EFBIG after %ld KB (RLIMIT_FSIZE)", total >> 10);
		unexpected("write: %s", n < 0 ? strerror(e) : "wrote 0");
	}
	close(fd);
	unlink(path);
	escaped("wrote %ld KB into one file, past the %ld MB limit", total >> 10, limit);
}
