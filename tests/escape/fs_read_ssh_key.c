/* fs_read_ssh_key: read an SSH private key of the host user's home, given
 * as argv: FILE... (the e2e test passes a key in a home it grants, where
 * ~/.ssh is denied and so masked, and one in a folder it does not grant).
 *
 * Stopped by: the mounts. A folder outside the policy is not in the view
 * (ENOENT); a denied path inside a granted folder is masked (EACCES, or an
 * empty stand-in). Reading any byte of the key is an escape.
 */
#include "escape.h"

int main(int argc, char **argv)
{
	arg(argc, argv, 1, "KEY-FILE...");
	for (int i = 1; i < argc; i++)
		must_not_read(argv[i]);
	verdict();
}
