/* proc_keyring: the kernel keyrings: add a key, look one up, join or read
 * the session and user keyrings (where the host user's secrets may live).
 *
 * Stopped by: the seccomp deny-list (add_key, keyctl, request_key: EPERM).
 * The kernel itself allows these to anyone, so success is an escape from
 * the deny-list.
 */
#include "escape.h"

#include <linux/keyctl.h>

int main(void)
{
	MUST_FAIL("add_key user",
		  syscall(SYS_add_key, "user", "escape", "x", 1, KEY_SPEC_SESSION_KEYRING),
		  SECCOMP_OR("?"));
	MUST_FAIL("keyctl GET_KEYRING_ID user",
		  syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0),
		  SECCOMP_OR("?"));
	MUST_FAIL("keyctl JOIN_SESSION_KEYRING",
		  syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL), SECCOMP_OR("?"));
	char buf[256];
	MUST_FAIL("keyctl READ session",
		  syscall(SYS_keyctl, KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, buf, sizeof(buf)),
		  SECCOMP_OR("?"));
	MUST_FAIL("request_key user", syscall(SYS_request_key, "user", "escape", NULL, 0),
		  SECCOMP_OR("?"));
	verdict();
}
