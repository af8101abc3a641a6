/* proc_setuid_root: become root by asking: setuid(0), setresuid,
 * setgid(0), setgroups([0]), setfsuid(0).
 *
 * Stopped by: no CAP_SETUID/CAP_SETGID (EPERM), and uid 0 has no mapping
 * in the sandbox's user namespace (EINVAL). setgroups is also denied in
 * the namespace (EPERM).
 */
#include "escape.h"

#include <grp.h>
#include <sys/fsuid.h>

#define ID_WANTS BY(EPERM, "no CAP_SETUID/CAP_SETGID"), BY(EINVAL, "uid 0 not mapped")

int main(void)
{
	uid_t me = getuid();
	MUST_FAIL("setuid(0)", setuid(0), ID_WANTS);
	MUST_FAIL("setresuid(0,0,0)", setresuid(0, 0, 0), ID_WANTS);
	MUST_FAIL("setreuid(0,0)", setreuid(0, 0), ID_WANTS);
	MUST_FAIL("setgid(0)", setgid(0), ID_WANTS);
	gid_t zero = 0;
	MUST_FAIL("setgroups([0])", setgroups(1, &zero), ID_WANTS);
	setfsuid(0);
	if ((uid_t)setfsuid((uid_t)-1) == 0)
		escaped("setfsuid(0) took");
	add_how("setfsuid(0): ignored");
	if (getuid() != me || geteuid() != me)
		escaped("uid changed to %d/%d", getuid(), geteuid());
	verdict();
}
