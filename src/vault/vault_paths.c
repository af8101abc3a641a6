/* Where the vault's files are. Free of libcrypto: `pincer run` uses it to
 * keep them out of every sandbox without linking the vault. */
#include "vault/vault.h"

char *vault_default_path(void)
{
	return pc_state_file("vault.db");
}

char *vault_store_file(void)
{
	const char *p = getenv("PINCER_VAULT_FILE");
	return p && *p ? pc_xstrdup(p) : vault_default_path();
}

char *vault_key_file(const char *store)
{
	const char *k = getenv("PINCER_VAULT_KEY_FILE");
	return k && *k ? pc_xstrdup(k) : pc_xasprintf("%s.key", store);
}
