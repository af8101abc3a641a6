/* fs_symlink_shadow: plant a symlink to /etc/shadow in a granted folder and
 * read through it. argv: WRITABLE-GRANTED-DIR
 *
 * Symlinks resolve inside the sandbox, so the link points at the sandbox's
 * /etc/shadow, which does not exist.
 * Stopped by: the mount namespace. Expected: ENOENT.
 * Creating the link must work (the folder is writable); if it does not,
 * the test set-up is wrong: UNEXPECTED.
 */
#include "escape.h"

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "WRITABLE-GRANTED-DIR");
	const char *targets[] = {"/etc/shadow", "../../../../../../../../../etc/shadow",
				 "/proc/1/root/etc/shadow", "/root/.ssh/id_rsa"};
	for (size_t i = 0; i < ESC_N(targets); i++) {
		char link_path[4096];
		snprintf(link_path, sizeof(link_path), "%s/escape-link-%zu", dir, i);
		unlink(link_path);
		if (symlink(targets[i], link_path) < 0)
			unexpected("symlink in %s: %s", dir, strerror(errno));
		errno = 0;
		int fd = open(link_path, O_RDONLY | O_CLOEXEC);
		int e = errno;
		unlink(link_path);
		const struct want w[] = {BY(ENOENT, "not in view"),
					 BY(EACCES, "PID 1 not dumpable")};
		char what[4200];
		snprintf(what, sizeof(what), "open link -> %s", targets[i]);
		esc_check(what, fd, e, w, ESC_N(w));
	}
	verdict();
}
