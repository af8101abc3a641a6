/* Where the vault's files are, and what names and identities look like.
 * Free of libcrypto: `pincer run` uses it to keep the files out of every
 * sandbox, and to know whom a run acts for, without linking the vault. */
#include "vault/vault.h"

#include <pwd.h>
#include <string.h>
#include <unistd.h>

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

/* ---- names ------------------------------------------------------------- */

static bool valid_body(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > VAULT_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._@-", *p)))
			return false;
	return true;
}

bool vault_valid_name(const char *name)
{
	return name && valid_body(name);
}

bool vault_valid_identity(const char *id)
{
	if (!id)
		return false;
	if (strncmp(id, "group:", 6) == 0)
		return valid_body(id + 6);
	if (strncmp(id, "agent:", 6) == 0)
		return valid_body(id + 6);
	return valid_body(id);
}

char *vault_default_identity(void)
{
	struct passwd *pw = getpwuid(geteuid());
	if (pw && pw->pw_name && vault_valid_identity(pw->pw_name))
		return pc_xstrdup(pw->pw_name);
	return pc_xasprintf("uid-%u", (unsigned)geteuid());
}
