/* fs_write_ro_bind: change a file in a read-only grant, every way there is.
 * argv: FILE-IN-A-READ-ONLY-GRANT
 *
 * Tries: open for writing, truncate, create beside it, unlink, rename,
 * mkdir, chmod, utimes, setxattr.
 * Stopped by: the read-only bind mount (EROFS) and Landlock (EACCES: no
 * write rights under a read-only grant). chmod/utimes/setxattr may answer
 * EPERM (not the owner) first. The file must be unchanged after.
 */
#include "escape.h"

#include <libgen.h>
#include <sys/time.h>
#include <sys/xattr.h>

#define RO_WANTS BY(EROFS, "read-only mount"), BY(EACCES, "Landlock or file permissions")

int main(int argc, char **argv)
{
	const char *file = arg(argc, argv, 1, "FILE-IN-A-READ-ONLY-GRANT");
	char before[4096];
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		unexpected("open %s for reading: %s", file, strerror(errno));
	ssize_t n = read(fd, before, sizeof(before));
	close(fd);
	char dcopy[4096], newf[4200], newd[4200], moved[4200];
	snprintf(dcopy, sizeof(dcopy), "%s", file);
	const char *dir = dirname(dcopy);
	snprintf(newf, sizeof(newf), "%s/escape-new", dir);
	snprintf(newd, sizeof(newd), "%s/escape-dir", dir);
	snprintf(moved, sizeof(moved), "%s/escape-moved", dir);

	MUST_FAIL("open O_WRONLY", open(file, O_WRONLY | O_CLOEXEC), RO_WANTS);
	MUST_FAIL("open O_RDWR|O_TRUNC", open(file, O_RDWR | O_TRUNC | O_CLOEXEC), RO_WANTS);
	MUST_FAIL("open O_APPEND", open(file, O_WRONLY | O_APPEND | O_CLOEXEC), RO_WANTS);
	MUST_FAIL("truncate", truncate(file, 0), RO_WANTS);
	MUST_FAIL("create beside", open(newf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644),
		  RO_WANTS);
	MUST_FAIL("unlink", unlink(file), RO_WANTS);
	MUST_FAIL("rename", rename(file, moved), RO_WANTS, BY(EXDEV, "Landlock"));
	MUST_FAIL("mkdir", mkdir(newd, 0755), RO_WANTS);
	MUST_FAIL("chmod", chmod(file, 0777), RO_WANTS, BY(EPERM, "not the owner"));
	MUST_FAIL("utimes", utimes(file, NULL), RO_WANTS, BY(EPERM, "not the owner"));
	MUST_FAIL("setxattr", setxattr(file, "user.escape", "x", 1, 0), RO_WANTS,
		  BY(EPERM, "not the owner"), BY(ENOTSUP, "no user xattrs"));

	char after[4096];
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		escaped("%s is gone after the attempts", file);
	ssize_t m = read(fd, after, sizeof(after));
	close(fd);
	if (m != n || memcmp(before, after, (size_t)n) != 0)
		escaped("%s changed", file);
	verdict();
}
