/* vault internals shared by the files (store, key, lock) and the records.
 * Not a contract: nothing outside src/vault includes this. */
#pragma once

#include "vault/vault.h"

#define VAULT_KEY_LEN	 32
#define VAULT_NONCE_LEN	 12
#define VAULT_TAG_LEN	 16
#define VAULT_KEY_ID_LEN 16
/* A store larger than this is refused rather than read into memory. */
#define VAULT_STORE_MAX (16u * 1024 * 1024)

/* Open an existing file that must be a regular file owned by the caller
 * and closed to group and others (what names the file: "vault store",
 * "vault key"). O_NOFOLLOW: a symlink is refused. -ENOENT when missing. */
int vault_open_private(const char *what, const char *path, int flags, struct pc_error *err);

/* Read the key at path into key; create it (32 random bytes, 0600,
 * O_EXCL|O_NOFOLLOW) when it is missing and create is set. */
int vault_key_load(const char *path, bool create, uint8_t key[VAULT_KEY_LEN], struct pc_error *err);

/* Take STORE.lock (creating it 0600): exclusive or shared. Returns the fd. */
int vault_lock(const char *store, bool exclusive, struct pc_error *err);

/* Replace path with data atomically: a temporary file in the same folder,
 * fsync, rename, fsync of the folder. */
int vault_write_atomic(const char *path, const void *data, size_t len, struct pc_error *err);

/* AES-256-GCM. Encrypt: out gets len bytes, tag is written. Decrypt:
 * -EBADMSG when the tag does not match (out is wiped then). */
int vault_gcm(bool encrypt, const uint8_t key[VAULT_KEY_LEN], const uint8_t nonce[VAULT_NONCE_LEN],
	      const void *aad, size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
	      uint8_t tag[VAULT_TAG_LEN]);
