/* fs_write_system: plant something in the system folders and the root:
 * a program in /usr/bin, a library preload (/etc/ld.so.preload), a change
 * to /etc/passwd, a file at /.
 *
 * Stopped by: read-only mounts (the system binds and the sandbox's root
 * are read-only: EROFS) and Landlock (EACCES: no write rights outside the
 * writable grants).
 */
#include "escape.h"

#define RO_WANTS BY(EROFS, "read-only mount"), BY(EACCES, "Landlock")

int main(void)
{
	const char *create[] = {"/usr/bin/escape-planted", "/usr/lib/escape.so",
				"/etc/ld.so.preload", "/escape-at-root", "/bin/escape-planted"};
	for (size_t i = 0; i < ESC_N(create); i++)
		MUST_FAIL(create[i], open(create[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0755),
			  RO_WANTS);
	MUST_FAIL("/etc/passwd O_WRONLY", open("/etc/passwd", O_WRONLY | O_APPEND | O_CLOEXEC),
		  RO_WANTS);
	MUST_FAIL("/etc/hosts O_WRONLY", open("/etc/hosts", O_WRONLY | O_CLOEXEC), RO_WANTS);
	MUST_FAIL("rename /usr/bin/env", rename("/usr/bin/env", "/usr/bin/env.escape"), RO_WANTS);
	verdict();
}
