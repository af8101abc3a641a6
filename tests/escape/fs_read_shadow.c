/* fs_read_shadow: read the host's password hashes and sudo rules by
 * absolute path.
 *
 * Stopped by: the mount namespace. The sandbox's root is a tmpfs holding
 * only what the policy names; its /etc is a generated minimal one.
 * Expected: ENOENT. (EACCES, a file in view but unreadable, is accepted
 * and named: file permissions.)
 */
#include "escape.h"

int main(void)
{
	const char *paths[] = {"/etc/shadow",  "/etc/gshadow",	 "/etc/shadow-",
			       "/etc/sudoers", "/etc/sudoers.d", "/etc/security/opasswd"};
	for (size_t i = 0; i < ESC_N(paths); i++)
		MUST_FAIL(paths[i], open(paths[i], O_RDONLY | O_CLOEXEC), BY(ENOENT, "not in view"),
			  BY(EACCES, "file permissions"));
	verdict();
}
