/* pincer-vault: the vault's commands, run by `pincer vault ARGS...` with
 * argv[0] "vault". A program of its own because it is the one that links
 * libcrypto (see src/vault/meson.build). */
#include "cli/cli.h"

#include <sys/prctl.h>
#include <sys/resource.h>

int main(int argc, char **argv)
{
	/* plaintext passes through this process: no core file, and no other
	 * process of the same user may read its memory */
	struct rlimit none = {0, 0};
	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return cmd_vault(argc, argv);
}
