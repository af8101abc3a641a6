/* pincer-vault: the vault's commands, run by `pincer vault ARGS...` with
 * argv[0] "vault". A program of its own because it is the one that links
 * libcrypto (see src/vault/meson.build). */
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return cmd_vault(argc, argv);
}
