/* proc_core_limit: get a core dump written (it carries the agent's memory,
 * tokens included, to wherever the host's core_pattern says): read
 * RLIMIT_CORE and raise it.
 *
 * Stopped by: RLIMIT_CORE 0, soft and hard, set by PID 1; raising the hard
 * limit needs CAP_SYS_RESOURCE (EPERM).
 */
#include "escape.h"

#include <sys/resource.h>

int main(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_CORE, &rl) < 0)
		unexpected("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur != 0 || rl.rlim_max != 0)
		escaped("RLIMIT_CORE is %lu/%lu: core dumps are possible",
			(unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);
	add_how("RLIMIT_CORE 0/0");
	struct rlimit inf = {RLIM_INFINITY, RLIM_INFINITY};
	MUST_FAIL("raise RLIMIT_CORE", setrlimit(RLIMIT_CORE, &inf),
		  BY(EPERM, "no CAP_SYS_RESOURCE"));
	struct rlimit soft = {1 << 20, 0};
	MUST_FAIL("soft above hard", setrlimit(RLIMIT_CORE, &soft), BY(EINVAL, "hard limit 0"));
	verdict();
}
