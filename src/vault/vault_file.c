/* vault files: the permission checks, the key file, the lock, atomic
 * replacement of the store, and the one place that calls AES-GCM. */
#include "vault/vault-internal.h"

#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

void vault_wipe(void *p, size_t n)
{
	if (p && n)
		OPENSSL_cleanse(p, n);
}

int vault_open_private(const char *what, const char *path, int flags, struct pc_error *err)
{
	_cleanup_close_ int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return pc_error(err, ENOENT, "%s %s does not exist", what, path);
		if (errno == ELOOP)
			return pc_error(err, EACCES,
					"%s %s is a symbolic link: refused (point --vault or the "
					"environment at the real file)",
					what, path);
		return pc_error_errno(err, errno, "%s %s", what, path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return pc_error_errno(err, errno, "%s %s", what, path);
	if (!S_ISREG(st.st_mode))
		return pc_error(err, EACCES, "%s %s is not a regular file: refused", what, path);
	if (st.st_uid != geteuid())
		return pc_error(err, EACCES,
				"%s %s is owned by uid %u, not by you (uid %u): refused; run "
				"'chown %u %s' if it is yours",
				what, path, (unsigned)st.st_uid, (unsigned)geteuid(),
				(unsigned)geteuid(), path);
	if (st.st_mode & 077)
		return pc_error(err, EACCES,
				"%s %s is accessible to group or others (mode %04o): refused; run "
				"'chmod 600 %s'",
				what, path, (unsigned)(st.st_mode & 07777), path);
	return pc_steal_fd(&fd);
}

int vault_key_load(const char *path, bool create, uint8_t key[VAULT_KEY_LEN], struct pc_error *err)
{
	_cleanup_close_ int fd = vault_open_private("vault key", path, O_RDONLY, err);
	if (fd == -ENOENT && create) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return pc_error_errno(err, errno, "cannot create vault key %s", path);
		pc_random(key, VAULT_KEY_LEN);
		if (pc_write_all(fd, key, VAULT_KEY_LEN) < 0 || fsync(fd) < 0) {
			int e = errno;
			vault_wipe(key, VAULT_KEY_LEN);
			unlink(path);
			return pc_error_errno(err, e, "cannot write vault key %s", path);
		}
		return 0;
	}
	if (fd < 0)
		return fd;
	/* One byte more than a key, to tell a longer file from a key. */
	uint8_t buf[VAULT_KEY_LEN + 1];
	size_t got = 0;
	while (got < sizeof(buf)) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			vault_wipe(buf, sizeof(buf));
			return pc_error_errno(err, e, "vault key %s", path);
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != VAULT_KEY_LEN) {
		vault_wipe(buf, sizeof(buf));
		return pc_error(err, EBADMSG,
				"vault key %s is not a key (%s%zu bytes, expected exactly %d)",
				path, got > VAULT_KEY_LEN ? "more than " : "",
				got > VAULT_KEY_LEN ? (size_t)VAULT_KEY_LEN : got, VAULT_KEY_LEN);
	}
	memcpy(key, buf, VAULT_KEY_LEN);
	vault_wipe(buf, sizeof(buf));
	return 0;
}

int vault_lock(const char *store, bool exclusive, struct pc_error *err)
{
	_cleanup_free_ char *path = pc_xasprintf("%s.lock", store);
	_cleanup_close_ int fd =
		open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0 && errno == EACCES && !exclusive)
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return pc_error_errno(err, errno, "vault lock %s", path);
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0)
		if (errno != EINTR)
			return pc_error_errno(err, errno, "vault lock %s", path);
	return pc_steal_fd(&fd);
}

int vault_write_atomic(const char *path, const void *data, size_t len, struct pc_error *err)
{
	_cleanup_free_ char *tmp = pc_xasprintf("%s.tmp.XXXXXX", path);
	_cleanup_free_ char *dircopy = pc_xstrdup(path);
	const char *dir = dirname(dircopy);
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return pc_error_errno(err, errno, "cannot write vault store %s (temporary file)",
				      path);
	int e = 0;
	if (fchmod(fd, 0600) < 0 || pc_write_all(fd, data, len) < 0 || fsync(fd) < 0)
		e = errno ? errno : EIO;
	else if (close(pc_steal_fd(&fd)) < 0)
		e = errno;
	else if (rename(tmp, path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		return pc_error_errno(err, e, "cannot write vault store %s (left unchanged)", path);
	}
	/* The rename is durable only once the folder is. */
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		return pc_error_errno(err, errno, "vault store %s written, folder %s not synced",
				      path, dir);
	return 0;
}

int vault_gcm(bool encrypt, const uint8_t key[VAULT_KEY_LEN], const uint8_t nonce[VAULT_NONCE_LEN],
	      const void *aad, size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
	      uint8_t tag[VAULT_TAG_LEN])
{
	if (aad_len > INT32_MAX || len > INT32_MAX)
		return -EFBIG;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	int r = -EIO, n;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, encrypt ? 1 : 0) != 1)
		goto out;
	if (aad_len && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, VAULT_TAG_LEN, tag) != 1)
		goto out;
	/* GCM has no padding: Final writes nothing, it checks or makes the tag. */
	uint8_t none[16];
	if (EVP_CipherFinal_ex(ctx, none, &n) != 1) {
		r = encrypt ? -EIO : -EBADMSG;
		goto out;
	}
	if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, VAULT_TAG_LEN, tag) != 1)
		goto out;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (r < 0 && !encrypt)
		vault_wipe(out, len);
	return r;
}
