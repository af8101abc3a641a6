/* vault: secrets kept encrypted at rest, keyed by (owner identity, name).
 *
 * One store file holds every record. Each secret value is sealed with
 * AES-256-GCM under a 32-byte key, with a fresh random 12-byte nonce, and
 * with the format version, the record's name, its owner and its slot
 * ("current" or "previous") as associated data: a value moved to another
 * name, owner or slot no longer opens. The whole file is authenticated too
 * (a GMAC over every byte, fresh nonce per write), so a flipped byte
 * anywhere (times, counts, lengths), a truncated file or a removed record
 * is an error, never garbage.
 *
 * Store layout (little-endian):
 *   "PINCERVT" u32 version(1) key_id[16] u32 n_records
 *   n_records x { u16 name_len, name, u16 owner_len, owner,
 *                 u64 created_s, u64 rotated_s (0: never), u64 prev_until_ms
 *                 (0: no previous value), current blob, [previous blob] }
 *   blob: nonce[12] u32 len ciphertext[len] tag[16]
 *   file nonce[12] file tag[16]   (GCM, no plaintext, all bytes before as AAD)
 * key_id is the first 16 bytes of SHA-256("pincer-vault-key-id-v1" || key),
 * so a wrong key is told apart from a modified store.
 *
 * Files: the store (default /var/lib/pincer/vault.db for root,
 * $XDG_STATE_HOME/pincer/vault.db for a user; PINCER_VAULT_FILE overrides),
 * the key (PINCER_VAULT_KEY_FILE, else STORE.key, created with 32 random
 * bytes, 0600, O_EXCL|O_NOFOLLOW, when neither it nor the store exists) and
 * STORE.lock (flock: shared while reading, exclusive for a writer until
 * vault_close). Store and key must be regular files owned by the caller and
 * not accessible to group or others; anything else is refused with the
 * chmod/chown that fixes it. Writes are atomic: a temporary file in the same
 * folder, fsync, rename, fsync of the folder.
 *
 * Identities: "alice" (a person, by user name), "group:sales" (a group),
 * "agent:crm-bot" (an agent's service identity). Names and identity bodies
 * are 1-128 of [A-Za-z0-9._@-].
 *
 * Secret values only leave this part in a struct vault_secret, which the
 * caller wipes with vault_secret_wipe() as soon as it is done. Error
 * messages name files, secrets and owners, never values. Only vault
 * functions touch libcrypto, so a program that never opens a vault never
 * initialises OpenSSL.
 *
 * Errors: -ENOENT not found (no such record, no store); -EACCES refused
 * (permissions, ownership, symlink); -EBADMSG store corrupt, truncated or
 * modified; -EKEYREJECTED the key is not the store's; -EINVAL bad name,
 * identity or value. Each fills err with a one-line message.
 */
#pragma once

#include "util/util.h"

#define VAULT_NAME_MAX	128
#define VAULT_VALUE_MAX (64 * 1024)

struct vault;

struct vault_options {
	const char *path;     /* NULL: $PINCER_VAULT_FILE, else the default */
	const char *key_path; /* NULL: $PINCER_VAULT_KEY_FILE, else STORE.key */
	bool write;	      /* hold the exclusive lock until vault_close */
	bool create;	      /* a missing store (and key) is created (needs write) */
};

/* Open and authenticate the whole store. A previous value whose keep time
 * has passed is dropped here (and, with write, purged from the file by the
 * next vault_commit). A missing store without create: -ENOENT. */
int vault_open(const struct vault_options *o, struct vault **out, struct pc_error *err);
void vault_close(struct vault *v); /* wipes the key; releases the lock */
static inline void vault_closep(struct vault **v)
{
	if (*v)
		vault_close(*v);
}
#define _cleanup_vault_ _cleanup_(vault_closep)

const char *vault_path(const struct vault *v);
const char *vault_key_path(const struct vault *v);
/* Where the store is without --vault / PINCER_VAULT_FILE (caller frees). */
char *vault_default_path(void);
/* The store and key vault_open() uses without options: $PINCER_VAULT_FILE
 * else the default; $PINCER_VAULT_KEY_FILE else STORE.key (caller frees).
 * These need no libcrypto: pincer run hides them from every sandbox. */
char *vault_store_file(void);
char *vault_key_file(const char *store);
/* The identity a command acts as by default: the caller's user name. */
char *vault_default_identity(void);

bool vault_valid_name(const char *name);
bool vault_valid_identity(const char *identity);

/* ---- changes (need write; durable only after vault_commit) ----------- */

/* Store value for (owner, name). Replaces an existing value outright (no
 * previous kept): 1 replaced, 0 new. */
int vault_set(struct vault *v, const char *name, const char *owner, const void *value, size_t len,
	      struct pc_error *err);
/* New value for an existing secret; the old one stays usable by lookups for
 * keep_ms (0: dropped now). -ENOENT when there is no such secret. */
int vault_rotate(struct vault *v, const char *name, const char *owner, const void *value,
		 size_t len, uint64_t keep_ms, struct pc_error *err);
int vault_remove(struct vault *v, const char *name, const char *owner, struct pc_error *err);
/* Write the store atomically if anything changed (or a purge is due). */
int vault_commit(struct vault *v, struct pc_error *err);

/* ---- reading ----------------------------------------------------------- */

struct vault_info {
	const char *name, *owner;
	uint64_t created_s, rotated_s; /* unix seconds; rotated 0: never */
	uint64_t previous_until_ms;    /* unix ms; 0: no previous value kept */
};
size_t vault_count(const struct vault *v);
/* Records in store order (sorted by owner, then name). */
void vault_info(const struct vault *v, size_t i, struct vault_info *info);

struct vault_secret {
	const char *name, *owner; /* point into the vault: valid until close */
	uint8_t *value;		  /* NUL-terminated for convenience */
	size_t len;
	uint8_t *previous; /* the value before the last rotation, while kept */
	size_t previous_len;
	uint64_t previous_until_ms;
};
/* Zero and free the values (OPENSSL_cleanse). Safe on a zeroed struct. */
void vault_secret_wipe(struct vault_secret *s);
/* Zero memory in a way the compiler keeps (OPENSSL_cleanse): for a value
 * the caller read or copied itself. */
void vault_wipe(void *p, size_t n);

/* Exactly (owner, name), no fallback. -ENOENT when absent. */
int vault_get(struct vault *v, const char *name, const char *owner, struct vault_secret *out,
	      struct pc_error *err);

/* What the gate calls to inject a credential for a run acting as identity:
 * the identity's own secret `name` if it has one; otherwise, only when the
 * caller passes groups (the groups the policy lets this credential fall
 * back to, in order of preference, each "sales" or "group:sales"), the
 * first of those groups' secrets. out->owner says whose secret was used,
 * for the audit record. out->previous is set while a rotated-out value is
 * still kept, so an in-flight call made with it can be recognised.
 * -ENOENT when neither exists. A store changed on disk since vault_open is
 * not seen: reopen (vault_changed tells when) to pick up a rotation. */
int vault_lookup(struct vault *v, const char *name, const char *identity, const char *const *groups,
		 struct vault_secret *out, struct pc_error *err);
/* Has the store file been replaced since this vault was opened? */
bool vault_changed(const struct vault *v);
