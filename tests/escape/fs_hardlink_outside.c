/* fs_hardlink_outside: hard-link a file from outside the writable grant
 * into it, so that it could be changed (or kept) from there.
 * argv: WRITABLE-GRANTED-DIR OUTSIDE-FILE READ-ONLY-FILE
 *
 * Tries: link() of a host file outside the policy (not in view: ENOENT),
 * of a file in a read-only grant and of a system file (another mount:
 * EXDEV), and linkat(AT_EMPTY_PATH) / linkat via /proc/self/fd of an open
 * read-only file (needs CAP_DAC_READ_SEARCH: ENOENT; or EXDEV).
 * Stopped by: the mount namespace and mount boundaries; Landlock refuses
 * cross-folder links too (EXDEV). EPERM is accepted as protected_hardlinks.
 */
#include "escape.h"

int main(int argc, char **argv)
{
	const char *usage = "WRITABLE-GRANTED-DIR OUTSIDE-FILE READ-ONLY-FILE";
	const char *dir = arg(argc, argv, 1, usage);
	const char *outside = arg(argc, argv, 2, usage);
	const char *ro = arg(argc, argv, 3, usage);
	char dst[4096];
	snprintf(dst, sizeof(dst), "%s/escape-hardlink", dir);
	unlink(dst);
#define LINK_WANTS                                                                                 \
	BY(ENOENT, "not in view"), BY(EXDEV, "another mount"), BY(EPERM, "protected_hardlinks"),   \
		BY(EACCES, "Landlock"), BY(EROFS, "read-only mount")
	MUST_FAIL("link outside file", link(outside, dst), LINK_WANTS);
	MUST_FAIL("link read-only grant file", link(ro, dst), LINK_WANTS);
	MUST_FAIL("link /usr/bin/env", link("/usr/bin/env", dst), LINK_WANTS);
	MUST_FAIL("link /etc/passwd", link("/etc/passwd", dst), LINK_WANTS);

	int fd = open(ro, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		unexpected("open %s: %s", ro, strerror(errno));
	MUST_FAIL("linkat AT_EMPTY_PATH", linkat(fd, "", AT_FDCWD, dst, AT_EMPTY_PATH),
		  BY(ENOENT, "no CAP_DAC_READ_SEARCH"), LINK_WANTS);
	char via[64];
	snprintf(via, sizeof(via), "/proc/self/fd/%d", fd);
	MUST_FAIL("linkat /proc/self/fd", linkat(AT_FDCWD, via, AT_FDCWD, dst, AT_SYMLINK_FOLLOW),
		  LINK_WANTS);
	verdict();
}
