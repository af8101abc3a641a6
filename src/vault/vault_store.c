/* vault store: records in memory, the file format (see vault.h), sealing
 * and opening of values, and the API the CLI and the gate use. */
#include "vault/vault-internal.h"

#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>

#define VAULT_MAGIC   "PINCERVT"
#define VAULT_VERSION 1u
#define TRAILER_LEN   (VAULT_NONCE_LEN + VAULT_TAG_LEN)

struct blob {
	uint8_t nonce[VAULT_NONCE_LEN];
	uint8_t *ct;
	uint32_t len;
	uint8_t tag[VAULT_TAG_LEN];
};

struct rec {
	char *name, *owner;
	uint64_t created_s, rotated_s, prev_until_ms;
	struct blob cur, prev; /* prev.ct NULL: none */
};

struct vault {
	char *path, *key_path;
	uint8_t key[VAULT_KEY_LEN];
	int lock_fd;
	bool write, dirty;
	bool existed; /* the store file was there at open */
	struct stat st;
	struct rec *recs;
	size_t n;
};

const char *vault_path(const struct vault *v)
{
	return v->path;
}

const char *vault_key_path(const struct vault *v)
{
	return v->key_path;
}

/* ---- records ------------------------------------------------------------ */

static void blob_free(struct blob *b)
{
	free(b->ct);
	memset(b, 0, sizeof(*b));
}

static void rec_free(struct rec *r)
{
	free(r->name);
	free(r->owner);
	blob_free(&r->cur);
	blob_free(&r->prev);
}

static struct rec *find(struct vault *v, const char *name, const char *owner)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->recs[i].name, name) == 0 && strcmp(v->recs[i].owner, owner) == 0)
			return &v->recs[i];
	return NULL;
}

static void put_u16(struct pc_buf *b, uint16_t x)
{
	uint8_t c[2] = {(uint8_t)x, (uint8_t)(x >> 8)};
	pc_buf_append(b, c, 2);
}

static void put_u32(struct pc_buf *b, uint32_t x)
{
	uint8_t c[4];
	for (int i = 0; i < 4; i++)
		c[i] = (uint8_t)(x >> (8 * i));
	pc_buf_append(b, c, 4);
}

static void put_u64(struct pc_buf *b, uint64_t x)
{
	uint8_t c[8];
	for (int i = 0; i < 8; i++)
		c[i] = (uint8_t)(x >> (8 * i));
	pc_buf_append(b, c, 8);
}

/* What a sealed value is bound to: format, name, owner and slot. */
static void blob_aad(struct pc_buf *b, const struct rec *r, const char *slot)
{
	pc_buf_append(b, "pincer-vault", sizeof("pincer-vault"));
	put_u32(b, VAULT_VERSION);
	pc_buf_append(b, r->name, strlen(r->name) + 1);
	pc_buf_append(b, r->owner, strlen(r->owner) + 1);
	pc_buf_puts(b, slot);
}

static int seal(struct vault *v, const struct rec *r, const char *slot, const void *value,
		size_t len, struct blob *out, struct pc_error *err)
{
	_cleanup_buf_ struct pc_buf aad = {0};
	blob_aad(&aad, r, slot);
	struct blob b = {.ct = pc_xmalloc(len ? len : 1), .len = (uint32_t)len};
	pc_random(b.nonce, sizeof(b.nonce));
	int rc = vault_gcm(true, v->key, b.nonce, aad.data, aad.len, value, len, b.ct, b.tag);
	if (rc < 0) {
		blob_free(&b);
		return pc_error(err, -rc, "cannot encrypt secret %s (owner %s)", r->name, r->owner);
	}
	*out = b;
	return 0;
}

static int unseal(struct vault *v, const struct rec *r, const char *slot, const struct blob *b,
		  uint8_t **value, size_t *len, struct pc_error *err)
{
	_cleanup_buf_ struct pc_buf aad = {0};
	blob_aad(&aad, r, slot);
	uint8_t *out = pc_xmalloc((size_t)b->len + 1);
	uint8_t tag[VAULT_TAG_LEN];
	memcpy(tag, b->tag, sizeof(tag));
	int rc = vault_gcm(false, v->key, b->nonce, aad.data, aad.len, b->ct, b->len, out, tag);
	if (rc < 0) {
		free(out);
		return pc_error(err, EBADMSG,
				"vault store %s: secret %s (owner %s) does not open: its record "
				"was modified or moved from another name or owner; restore the "
				"store from a backup",
				v->path, r->name, r->owner);
	}
	out[b->len] = 0;
	*value = out;
	*len = b->len;
	return 0;
}

static void key_id(const uint8_t key[VAULT_KEY_LEN], uint8_t id[VAULT_KEY_ID_LEN])
{
	struct pc_sha256 c;
	uint8_t d[32];
	pc_sha256_init(&c);
	pc_sha256_update(&c, "pincer-vault-key-id-v1", 22);
	pc_sha256_update(&c, key, VAULT_KEY_LEN);
	pc_sha256_final(&c, d);
	memcpy(id, d, VAULT_KEY_ID_LEN);
	vault_wipe(&c, sizeof(c));
}

/* ---- parsing ------------------------------------------------------------ */

struct rd {
	const uint8_t *p;
	size_t left;
	bool shrt;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	if (r->shrt || r->left < n) {
		r->shrt = true;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

static uint64_t get_le(struct rd *r, size_t n)
{
	const uint8_t *p = take(r, n);
	uint64_t x = 0;
	for (size_t i = 0; p && i < n; i++)
		x |= (uint64_t)p[i] << (8 * i);
	return x;
}

static char *get_str(struct rd *r)
{
	size_t n = (size_t)get_le(r, 2);
	const uint8_t *p = take(r, n);
	return p ? pc_xstrndup((const char *)p, n) : NULL;
}

static bool get_blob(struct rd *r, struct blob *b)
{
	const uint8_t *nonce = take(r, VAULT_NONCE_LEN);
	uint32_t len = (uint32_t)get_le(r, 4);
	const uint8_t *ct = take(r, len);
	const uint8_t *tag = take(r, VAULT_TAG_LEN);
	if (!tag)
		return false;
	memcpy(b->nonce, nonce, VAULT_NONCE_LEN);
	b->len = len;
	b->ct = pc_xmalloc(len ? len : 1);
	memcpy(b->ct, ct, len);
	memcpy(b->tag, tag, VAULT_TAG_LEN);
	return true;
}

static int corrupt(struct vault *v, struct pc_error *err, const char *what)
{
	return pc_error(err, EBADMSG, "vault store %s %s: restore it from a backup", v->path, what);
}

/* Which record does not open? Names it when one does not; else the whole
 * file's check is what failed. */
static int diagnose(struct vault *v, struct pc_error *err)
{
	for (size_t i = 0; i < v->n; i++) {
		struct rec *r = &v->recs[i];
		uint8_t *val = NULL;
		size_t len = 0;
		int rc = unseal(v, r, "current", &r->cur, &val, &len, err);
		if (rc == 0) {
			vault_wipe(val, len);
			free(val);
			if (r->prev.ct) {
				rc = unseal(v, r, "previous", &r->prev, &val, &len, err);
				if (rc == 0) {
					vault_wipe(val, len);
					free(val);
				}
			}
		}
		if (rc < 0)
			return rc;
	}
	return corrupt(v, err, "was modified (its integrity check fails)");
}

static int parse(struct vault *v, const uint8_t *data, size_t size, struct pc_error *err)
{
	struct rd r = {.p = data, .left = size};
	const uint8_t *magic = take(&r, 8);
	if (!magic || memcmp(magic, VAULT_MAGIC, 8) != 0) {
		if (size < 8 && memcmp(data, VAULT_MAGIC, size) == 0)
			return corrupt(v, err, size ? "is truncated" : "is empty");
		return corrupt(v, err, "is not a pincer vault (bad magic) or was modified");
	}
	uint32_t version = (uint32_t)get_le(&r, 4);
	const uint8_t *id = take(&r, VAULT_KEY_ID_LEN);
	uint32_t count = (uint32_t)get_le(&r, 4);
	if (r.shrt)
		return corrupt(v, err, "is truncated (inside its header)");
	if (version != VAULT_VERSION)
		return pc_error(
			err, EBADMSG,
			"vault store %s has format version %u; this pincer reads version %u "
			"(or the file was modified)",
			v->path, version, VAULT_VERSION);
	uint8_t want[VAULT_KEY_ID_LEN];
	key_id(v->key, want);
	if (memcmp(id, want, sizeof(want)) != 0)
		return pc_error(err, EKEYREJECTED,
				"vault key %s is not the key of vault store %s (wrong key, or the "
				"store was modified): point PINCER_VAULT_KEY_FILE at the right key",
				v->key_path, v->path);
	for (uint32_t i = 0; i < count; i++) {
		struct rec rc = {0};
		rc.name = get_str(&r);
		rc.owner = get_str(&r);
		rc.created_s = get_le(&r, 8);
		rc.rotated_s = get_le(&r, 8);
		rc.prev_until_ms = get_le(&r, 8);
		bool ok = !r.shrt && get_blob(&r, &rc.cur) &&
			  (!rc.prev_until_ms || get_blob(&r, &rc.prev));
		if (!ok) {
			rec_free(&rc);
			char what[96];
			snprintf(what, sizeof(what),
				 "is truncated (it ends inside record %u of %u)", i + 1, count);
			return corrupt(v, err, what);
		}
		v->recs = pc_xrealloc(v->recs, (v->n + 1) * sizeof(*v->recs));
		v->recs[v->n++] = rc;
		if (!vault_valid_name(rc.name) || !vault_valid_identity(rc.owner))
			return corrupt(v, err, "was modified (a record has an invalid name)");
	}
	if (r.left < TRAILER_LEN)
		return corrupt(v, err, "is truncated (its integrity check is missing)");
	if (r.left > TRAILER_LEN)
		return corrupt(v, err, "was modified (unexpected bytes after its records)");
	uint8_t tag[VAULT_TAG_LEN];
	memcpy(tag, r.p + VAULT_NONCE_LEN, VAULT_TAG_LEN);
	if (vault_gcm(false, v->key, r.p, data, size - TRAILER_LEN, NULL, 0, NULL, tag) < 0)
		return diagnose(v, err);
	return 0;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	int c = strcmp(x->owner, y->owner);
	return c ? c : strcmp(x->name, y->name);
}

static void put_blob(struct pc_buf *b, const struct blob *bl)
{
	pc_buf_append(b, bl->nonce, VAULT_NONCE_LEN);
	put_u32(b, bl->len);
	pc_buf_append(b, bl->ct, bl->len);
	pc_buf_append(b, bl->tag, VAULT_TAG_LEN);
}

static int serialize(struct vault *v, struct pc_buf *b, struct pc_error *err)
{
	uint8_t id[VAULT_KEY_ID_LEN];
	key_id(v->key, id);
	qsort(v->recs, v->n, sizeof(*v->recs), rec_cmp);
	pc_buf_append(b, VAULT_MAGIC, 8);
	put_u32(b, VAULT_VERSION);
	pc_buf_append(b, id, sizeof(id));
	put_u32(b, (uint32_t)v->n);
	for (size_t i = 0; i < v->n; i++) {
		const struct rec *r = &v->recs[i];
		put_u16(b, (uint16_t)strlen(r->name));
		pc_buf_puts(b, r->name);
		put_u16(b, (uint16_t)strlen(r->owner));
		pc_buf_puts(b, r->owner);
		put_u64(b, r->created_s);
		put_u64(b, r->rotated_s);
		put_u64(b, r->prev.ct ? r->prev_until_ms : 0);
		put_blob(b, &r->cur);
		if (r->prev.ct)
			put_blob(b, &r->prev);
	}
	uint8_t nonce[VAULT_NONCE_LEN], tag[VAULT_TAG_LEN];
	pc_random(nonce, sizeof(nonce));
	int rc = vault_gcm(true, v->key, nonce, b->data, b->len, NULL, 0, NULL, tag);
	if (rc < 0)
		return pc_error(err, -rc, "vault store %s: cannot seal the store", v->path);
	pc_buf_append(b, nonce, sizeof(nonce));
	pc_buf_append(b, tag, sizeof(tag));
	return 0;
}

/* ---- open / close --------------------------------------------------------- */

static uint64_t now_ms(void)
{
	return pc_realtime_ns() / 1000000;
}

static void purge_expired(struct vault *v)
{
	uint64_t now = now_ms();
	for (size_t i = 0; i < v->n; i++) {
		struct rec *r = &v->recs[i];
		if (r->prev.ct && r->prev_until_ms <= now) {
			blob_free(&r->prev);
			r->prev_until_ms = 0;
			v->dirty = true;
		}
	}
}

static int load(struct vault *v, bool create, struct pc_error *err)
{
	_cleanup_close_ int fd = vault_open_private("vault store", v->path, O_RDONLY, err);
	if (fd == -ENOENT) {
		if (!create)
			return pc_error(err, ENOENT,
					"no vault at %s (create one with 'pincer vault set NAME')",
					v->path);
		/* A key without a store is used; never a new key for an old store. */
		return vault_key_load(v->key_path, true, v->key, err);
	}
	if (fd < 0)
		return fd;
	v->existed = true;
	if (fstat(fd, &v->st) < 0)
		return pc_error_errno(err, errno, "vault store %s", v->path);
	if ((uint64_t)v->st.st_size > VAULT_STORE_MAX)
		return corrupt(v, err, "is larger than 16 MiB");
	int rc = vault_key_load(v->key_path, false, v->key, err);
	if (rc == -ENOENT)
		return pc_error(err, ENOENT,
				"vault key %s does not exist, so vault store %s cannot be opened: "
				"point PINCER_VAULT_KEY_FILE at its key",
				v->key_path, v->path);
	if (rc < 0)
		return rc;
	size_t size = (size_t)v->st.st_size;
	_cleanup_free_ uint8_t *data = pc_xmalloc(size + 1);
	size_t got = 0;
	while (got < size) {
		ssize_t n = pread(fd, data + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pc_error_errno(err, errno, "vault store %s", v->path);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return parse(v, data, got, err);
}

int vault_open(const struct vault_options *o, struct vault **out, struct pc_error *err)
{
	if (o->create && !o->write)
		return pc_error(err, EINVAL, "vault: create needs write");
	struct vault *v = pc_xcalloc(1, sizeof(*v));
	v->lock_fd = -1;
	v->write = o->write;
	v->path = o->path ? pc_xstrdup(o->path) : vault_store_file();
	v->key_path = o->key_path ? pc_xstrdup(o->key_path) : vault_key_file(v->path);

	int rc = 0;
	if (o->create) {
		_cleanup_free_ char *copy = pc_xstrdup(v->path);
		rc = pc_mkdir_p(dirname(copy), 0700, err);
	}
	if (rc == 0) {
		rc = vault_lock(v->path, o->write, err);
		if (rc == -ENOENT)
			rc = pc_error(err, ENOENT,
				      "no vault at %s (create one with 'pincer vault set NAME')",
				      v->path);
	}
	if (rc >= 0) {
		v->lock_fd = rc;
		rc = load(v, o->create, err);
	}
	if (rc < 0) {
		vault_close(v);
		return rc;
	}
	if (!o->write) {
		close(v->lock_fd); /* what we read is a whole, authenticated file */
		v->lock_fd = -1;
	}
	purge_expired(v);
	*out = v;
	return 0;
}

void vault_close(struct vault *v)
{
	if (!v)
		return;
	vault_wipe(v->key, sizeof(v->key));
	for (size_t i = 0; i < v->n; i++)
		rec_free(&v->recs[i]);
	free(v->recs);
	free(v->path);
	free(v->key_path);
	if (v->lock_fd >= 0)
		close(v->lock_fd);
	free(v);
}

bool vault_changed(const struct vault *v)
{
	struct stat st;
	if (stat(v->path, &st) < 0)
		return v->existed;
	return !v->existed || st.st_ino != v->st.st_ino || st.st_dev != v->st.st_dev ||
	       st.st_size != v->st.st_size || st.st_mtim.tv_sec != v->st.st_mtim.tv_sec ||
	       st.st_mtim.tv_nsec != v->st.st_mtim.tv_nsec;
}

int vault_commit(struct vault *v, struct pc_error *err)
{
	if (!v->write)
		return pc_error(err, EBADF, "vault %s was opened read-only", v->path);
	if (!v->dirty)
		return 0;
	_cleanup_buf_ struct pc_buf b = {0};
	int rc = serialize(v, &b, err);
	if (rc == 0)
		rc = vault_write_atomic(v->path, b.data, b.len, err);
	if (rc == 0) {
		v->dirty = false;
		v->existed = true;
		if (stat(v->path, &v->st) < 0)
			memset(&v->st, 0, sizeof(v->st));
	}
	return rc;
}

/* ---- changes and reading ---------------------------------------------------- */

static int check_args(struct vault *v, const char *name, const char *owner, size_t len, bool value,
		      struct pc_error *err)
{
	if (!vault_valid_name(name))
		return pc_error(err, EINVAL,
				"'%s' is not a secret name (1-%d of A-Z a-z 0-9 . _ @ -)",
				name ? name : "", VAULT_NAME_MAX);
	if (!vault_valid_identity(owner))
		return pc_error(err, EINVAL,
				"'%s' is not an identity (a user name, group:NAME or agent:NAME)",
				owner ? owner : "");
	if (value && (len == 0 || len > VAULT_VALUE_MAX))
		return pc_error(err, EINVAL, "secret %s: the value is %s (1 to %d bytes)", name,
				len ? "too long" : "empty", VAULT_VALUE_MAX);
	if (!v->write)
		return pc_error(err, EBADF, "vault %s was opened read-only", v->path);
	return 0;
}

int vault_set(struct vault *v, const char *name, const char *owner, const void *value, size_t len,
	      struct pc_error *err)
{
	int rc = check_args(v, name, owner, len, true, err);
	if (rc < 0)
		return rc;
	struct rec *r = find(v, name, owner);
	uint64_t now = now_ms() / 1000;
	if (r) {
		struct blob b;
		rc = seal(v, r, "current", value, len, &b, err);
		if (rc < 0)
			return rc;
		blob_free(&r->cur);
		blob_free(&r->prev);
		r->cur = b;
		r->prev_until_ms = 0;
		r->rotated_s = now;
		v->dirty = true;
		return 1;
	}
	struct rec n = {.name = pc_xstrdup(name), .owner = pc_xstrdup(owner), .created_s = now};
	rc = seal(v, &n, "current", value, len, &n.cur, err);
	if (rc < 0) {
		rec_free(&n);
		return rc;
	}
	v->recs = pc_xrealloc(v->recs, (v->n + 1) * sizeof(*v->recs));
	v->recs[v->n++] = n;
	v->dirty = true;
	return 0;
}

static int not_found(struct vault *v, const char *name, const char *owner, struct pc_error *err)
{
	return pc_error(err, ENOENT, "no secret %s for %s in vault %s", name, owner, v->path);
}

int vault_rotate(struct vault *v, const char *name, const char *owner, const void *value,
		 size_t len, uint64_t keep_ms, struct pc_error *err)
{
	int rc = check_args(v, name, owner, len, true, err);
	if (rc < 0)
		return rc;
	struct rec *r = find(v, name, owner);
	if (!r)
		return not_found(v, name, owner, err);
	/* The current value becomes the previous one: open it, seal it again
	 * in the "previous" slot (the slot is part of what it is bound to). */
	uint8_t *old = NULL;
	size_t old_len = 0;
	struct blob prev = {0}, cur;
	if (keep_ms) {
		rc = unseal(v, r, "current", &r->cur, &old, &old_len, err);
		if (rc == 0) {
			rc = seal(v, r, "previous", old, old_len, &prev, err);
			vault_wipe(old, old_len);
			free(old);
		}
		if (rc < 0)
			return rc;
	}
	rc = seal(v, r, "current", value, len, &cur, err);
	if (rc < 0) {
		blob_free(&prev);
		return rc;
	}
	blob_free(&r->cur);
	blob_free(&r->prev);
	r->cur = cur;
	r->prev = prev;
	/* saturating: a huge keep means "kept", never a wrapped-round 0 */
	uint64_t now = now_ms();
	r->prev_until_ms = !keep_ms ? 0 : keep_ms > UINT64_MAX - now ? UINT64_MAX : now + keep_ms;
	r->rotated_s = now_ms() / 1000;
	v->dirty = true;
	return 0;
}

int vault_remove(struct vault *v, const char *name, const char *owner, struct pc_error *err)
{
	int rc = check_args(v, name, owner, 0, false, err);
	if (rc < 0)
		return rc;
	struct rec *r = find(v, name, owner);
	if (!r)
		return not_found(v, name, owner, err);
	rec_free(r);
	size_t i = (size_t)(r - v->recs);
	memmove(r, r + 1, (v->n - i - 1) * sizeof(*r));
	v->n--;
	v->dirty = true;
	return 0;
}

size_t vault_count(const struct vault *v)
{
	return v->n;
}

void vault_info(const struct vault *v, size_t i, struct vault_info *info)
{
	const struct rec *r = &v->recs[i];
	*info = (struct vault_info){.name = r->name,
				    .owner = r->owner,
				    .created_s = r->created_s,
				    .rotated_s = r->rotated_s,
				    .previous_until_ms = r->prev.ct ? r->prev_until_ms : 0};
}

void vault_secret_wipe(struct vault_secret *s)
{
	vault_wipe(s->value, s->len);
	vault_wipe(s->previous, s->previous_len);
	free(s->value);
	free(s->previous);
	memset(s, 0, sizeof(*s));
}

static int open_rec(struct vault *v, struct rec *r, struct vault_secret *out, struct pc_error *err)
{
	struct vault_secret s = {.name = r->name, .owner = r->owner};
	int rc = unseal(v, r, "current", &r->cur, &s.value, &s.len, err);
	/* A kept value past its time is not handed out, even read-only. */
	if (rc == 0 && r->prev.ct && r->prev_until_ms > now_ms()) {
		rc = unseal(v, r, "previous", &r->prev, &s.previous, &s.previous_len, err);
		s.previous_until_ms = r->prev_until_ms;
	}
	if (rc < 0) {
		vault_secret_wipe(&s);
		return rc;
	}
	*out = s;
	return 0;
}

int vault_get(struct vault *v, const char *name, const char *owner, struct vault_secret *out,
	      struct pc_error *err)
{
	struct rec *r =
		vault_valid_name(name) && vault_valid_identity(owner) ? find(v, name, owner) : NULL;
	if (!r)
		return not_found(v, name ? name : "", owner ? owner : "", err);
	return open_rec(v, r, out, err);
}

int vault_lookup(struct vault *v, const char *name, const char *identity, const char *const *groups,
		 struct vault_secret *out, struct pc_error *err)
{
	if (!vault_valid_name(name) || !vault_valid_identity(identity))
		return pc_error(err, EINVAL, "vault lookup: bad secret name or identity");
	struct rec *r = find(v, name, identity);
	for (size_t i = 0; !r && groups && groups[i]; i++) {
		_cleanup_free_ char *g = strncmp(groups[i], "group:", 6) == 0
						 ? pc_xstrdup(groups[i])
						 : pc_xasprintf("group:%s", groups[i]);
		r = find(v, name, g);
	}
	if (!r)
		return pc_error(err, ENOENT, "no secret %s for %s%s in vault %s", name, identity,
				groups && groups[0] ? " or its groups" : "", v->path);
	return open_rec(v, r, out, err);
}
