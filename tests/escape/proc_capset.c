/* proc_capset: raise capabilities back: capset() into the effective and
 * permitted sets, an ambient capability, clearing the locked securebits,
 * unsetting no_new_privs.
 *
 * Stopped by: capabilities dropped, bounding set included (EPERM: not
 * permitted), securebits locked (EPERM), no_new_privs cannot be undone
 * (EINVAL). CapEff must read zero after.
 */
#include "escape.h"

#include <linux/capability.h>

int main(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {{0}};
	d[0].effective = d[0].permitted = 1u << CAP_SYS_ADMIN | 1u << CAP_NET_RAW;
	MUST_FAIL("capset CAP_SYS_ADMIN", syscall(SYS_capset, &h, d),
		  BY(EPERM, "not in the permitted set"));
	MUST_FAIL("ambient raise CAP_NET_RAW",
		  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0),
		  BY(EPERM, "not permitted, ambient raise locked"));
	MUST_FAIL("clear securebits", prctl(PR_SET_SECUREBITS, 0, 0, 0, 0),
		  BY(EPERM, "securebits locked"));
	MUST_FAIL("unset no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0),
		  BY(EINVAL, "no_new_privs is one-way"));
	struct __user_cap_data_struct now[2] = {{0}};
	if (syscall(SYS_capget, &h, now) < 0)
		unexpected("capget: %s", strerror(errno));
	if (now[0].effective || now[0].permitted || now[1].effective || now[1].permitted)
		escaped("capabilities: effective %08x%08x permitted %08x%08x", now[1].effective,
			now[0].effective, now[1].permitted, now[0].permitted);
	if (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0)
		escaped("CAP_SYS_ADMIN is in the bounding set");
	verdict();
}
