/* fs_name_to_handle: get a file handle (name_to_handle_at), the first half
 * of every handle-based escape; handles outlive paths and masks.
 * argv: GRANTED-DIR
 *
 * Stopped by: the seccomp deny-list. Expected: EPERM (seccomp). The kernel
 * itself hands handles out freely, so success means the deny-list is
 * missing the call.
 */
#include "escape.h"

int main(int argc, char **argv)
{
	const char *dir = arg(argc, argv, 1, "GRANTED-DIR");
	struct {
		struct file_handle fh;
		unsigned char bytes[MAX_HANDLE_SZ];
	} h = {.fh.handle_bytes = MAX_HANDLE_SZ};
	int mount_id;
	MUST_FAIL("name_to_handle_at grant", name_to_handle_at(AT_FDCWD, dir, &h.fh, &mount_id, 0),
		  SECCOMP_OR("?"));
	MUST_FAIL("name_to_handle_at /usr",
		  name_to_handle_at(AT_FDCWD, "/usr", &h.fh, &mount_id, 0), SECCOMP_OR("?"));
	verdict();
}
