/* vault: round trips, lookup with group fallback, rotation, and every way
 * a store can be damaged (each byte flipped, each length cut, records
 * swapped, wrong key, loose permissions) refused without garbage. */
#include "vault/vault.h"
#include "../check.h"

#include <fcntl.h>
#include <sys/stat.h>

static char dir[] = "/tmp/pincer-vault-test.XXXXXX";
static char store[256], key[256];

static struct vault *open_rw(bool create, struct pc_error *err)
{
	struct vault_options o = {.path = store, .key_path = key, .write = true, .create = create};
	struct vault *v = NULL;
	return vault_open(&o, &v, err) == 0 ? v : NULL;
}

static int try_open(struct pc_error *err)
{
	struct vault_options o = {.path = store, .key_path = key};
	struct vault *v = NULL;
	int r = vault_open(&o, &v, err);
	vault_close(v);
	return r;
}

static void put(const char *name, const char *owner, const char *value)
{
	struct pc_error err = {0};
	struct vault *v = open_rw(true, &err);
	CHECK(v != NULL);
	if (!v)
		return;
	CHECK(vault_set(v, name, owner, value, strlen(value), &err) >= 0);
	CHECK(vault_commit(v, &err) == 0);
	vault_close(v);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	char *d = NULL;
	CHECK(pc_read_file(path, 1 << 20, &d, len, NULL) == 0);
	return (uint8_t *)d;
}

static void spit(const char *path, const uint8_t *d, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && pc_write_all(fd, d, len) == 0);
	close(fd);
}

static void test_round_trip(void)
{
	put("anthropic", "alice", "sk-ant-alice");
	put("github", "group:sales", "ghp_sales");
	put("crm", "agent:crm-bot", "crm-token");
	struct pc_error err = {0};
	struct stat st;
	CHECK(stat(store, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(key, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 32);

	struct vault_options o = {.path = store, .key_path = key};
	struct vault *v = NULL;
	CHECK(vault_open(&o, &v, &err) == 0);
	if (!v)
		return;
	CHECK(vault_count(v) == 3);
	struct vault_secret s = {0};
	CHECK(vault_get(v, "anthropic", "alice", &s, &err) == 0);
	CHECK_STR((char *)s.value, "sk-ant-alice");
	CHECK(s.previous == NULL);
	vault_secret_wipe(&s);
	CHECK(s.value == NULL && s.len == 0);

	/* No fallback without groups; the named groups only, in order. */
	CHECK(vault_lookup(v, "github", "alice", NULL, &s, &err) == -ENOENT);
	const char *other[] = {"marketing", NULL};
	CHECK(vault_lookup(v, "github", "alice", other, &s, &err) == -ENOENT);
	const char *groups[] = {"marketing", "sales", NULL};
	CHECK(vault_lookup(v, "github", "alice", groups, &s, &err) == 0);
	CHECK_STR((char *)s.value, "ghp_sales");
	CHECK_STR(s.owner, "group:sales");
	vault_secret_wipe(&s);
	/* One's own secret comes before a group's. */
	CHECK(vault_lookup(v, "anthropic", "alice", groups, &s, &err) == 0);
	CHECK_STR(s.owner, "alice");
	vault_secret_wipe(&s);
	CHECK(vault_lookup(v, "anthropic", "bob", NULL, &s, &err) == -ENOENT);
	CHECK(strstr(err.msg, "sk-") == NULL);
	CHECK(vault_lookup(v, "crm", "agent:crm-bot", NULL, &s, &err) == 0);
	vault_secret_wipe(&s);
	/* Read-only: no changes. */
	CHECK(vault_set(v, "x", "alice", "y", 1, &err) == -EBADF);
	CHECK(!vault_changed(v));
	vault_close(v);
}

static void test_rotate(void)
{
	struct pc_error err = {0};
	struct vault *v = open_rw(false, &err);
	CHECK(v != NULL);
	if (!v)
		return;
	CHECK(vault_rotate(v, "nope", "alice", "z", 1, 1000, &err) == -ENOENT);
	CHECK(vault_rotate(v, "anthropic", "alice", "sk-ant-new", 10, 60000, &err) == 0);
	/* Already expired: kept for 1 ms. */
	CHECK(vault_rotate(v, "github", "group:sales", "ghp_new", 7, 1, &err) == 0);
	CHECK(vault_commit(v, &err) == 0);
	vault_close(v);
	usleep(5000);

	struct vault_options o = {.path = store, .key_path = key};
	v = NULL;
	CHECK(vault_open(&o, &v, &err) == 0);
	if (!v)
		return;
	struct vault_secret s = {0};
	CHECK(vault_get(v, "anthropic", "alice", &s, &err) == 0);
	CHECK_STR((char *)s.value, "sk-ant-new");
	CHECK(s.previous && strcmp((char *)s.previous, "sk-ant-alice") == 0);
	vault_secret_wipe(&s);
	CHECK(vault_get(v, "github", "group:sales", &s, &err) == 0);
	CHECK_STR((char *)s.value, "ghp_new");
	CHECK(s.previous == NULL);
	vault_secret_wipe(&s);
	vault_close(v);

	/* A writer purges what has expired from the file. */
	size_t before, after;
	free(slurp(store, &before));
	v = open_rw(false, &err);
	CHECK(v && vault_commit(v, &err) == 0);
	vault_close(v);
	free(slurp(store, &after));
	CHECK(after < before);
}

/* Every single flipped byte and every shorter length is an error. */
static void test_damage(void)
{
	size_t len;
	uint8_t *orig = slurp(store, &len);
	struct pc_error err = {0};
	int bad = 0, keyrej = 0;
	for (size_t i = 0; i < len; i++) {
		orig[i] ^= 0x01;
		spit(store, orig, len);
		orig[i] ^= 0x01;
		int r = try_open(&err);
		if (r != -EBADMSG && r != -EKEYREJECTED) {
			fprintf(stderr, "flip at %zu: %d %s\n", i, r, err.msg);
			bad++;
		}
		keyrej += r == -EKEYREJECTED;
	}
	CHECK(bad == 0);
	CHECK(keyrej == 16); /* only the key id bytes read as another key */
	for (size_t l = 0; l < len; l++) {
		spit(store, orig, l);
		int r = try_open(&err);
		if (r != -EBADMSG) {
			fprintf(stderr, "cut at %zu: %d %s\n", l, r, err.msg);
			bad++;
		}
	}
	CHECK(bad == 0);
	spit(store, orig, len);
	CHECK(try_open(&err) == 0);
	free(orig);
}

/* Two records of equal value length: their sealed values swapped. */
static void test_swap(void)
{
	put("aaaa", "alice", "value-one");
	put("bbbb", "alice", "value-two");
	size_t len;
	uint8_t *d = slurp(store, &len);
	_cleanup_free_ uint8_t *keep = pc_xmalloc(len);
	memcpy(keep, d, len);
	uint8_t *a = memmem(d, len,
			    "aaaa\x05\x00"
			    "alice",
			    11);
	uint8_t *b = memmem(d, len,
			    "bbbb\x05\x00"
			    "alice",
			    11);
	CHECK(a && b);
	if (a && b) {
		/* After name and owner: 3 u64 times, then nonce+len+ct+tag. */
		size_t off = 11 + 24, n = 12 + 4 + 9 + 16;
		uint8_t tmp[64];
		memcpy(tmp, a + off, n);
		memcpy(a + off, b + off, n);
		memcpy(b + off, tmp, n);
		spit(store, d, len);
		struct pc_error err = {0};
		CHECK(try_open(&err) == -EBADMSG);
		CHECK_CONTAINS(err.msg, "moved from another name or owner");
		CHECK(strstr(err.msg, "value-") == NULL);
	}
	spit(store, keep, len);
	free(d);
}

static void test_refusals(void)
{
	struct pc_error err = {0};
	uint8_t other[32] = {1};
	char wrong[300];
	snprintf(wrong, sizeof(wrong), "%s/wrong.key", dir);
	int fd = open(wrong, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0 && pc_write_all(fd, other, 32) == 0);
	close(fd);
	struct vault_options o = {.path = store, .key_path = wrong};
	struct vault *v = NULL;
	CHECK(vault_open(&o, &v, &err) == -EKEYREJECTED);
	CHECK_CONTAINS(err.msg, "is not the key");

	chmod(store, 0640);
	CHECK(try_open(&err) == -EACCES);
	CHECK_CONTAINS(err.msg, "chmod 600");
	chmod(store, 0600);
	chmod(key, 0604);
	CHECK(try_open(&err) == -EACCES);
	CHECK_CONTAINS(err.msg, key);
	chmod(key, 0600);
	CHECK(try_open(&err) == 0);

	v = open_rw(false, &err);
	CHECK(v != NULL);
	CHECK(vault_set(v, "bad name", "alice", "x", 1, &err) == -EINVAL);
	CHECK(vault_set(v, "ok", "team:x", "x", 1, &err) == -EINVAL);
	CHECK(vault_set(v, "ok", "alice", "", 0, &err) == -EINVAL);
	vault_close(v);

	/* No store, no create: not found, and nothing made. */
	char none[300];
	snprintf(none, sizeof(none), "%s/sub/none.db", dir);
	o = (struct vault_options){.path = none};
	CHECK(vault_open(&o, &v, &err) == -ENOENT);
}

int main(void)
{
	CHECK(mkdtemp(dir) != NULL);
	snprintf(store, sizeof(store), "%s/vault.db", dir);
	snprintf(key, sizeof(key), "%s/vault.db.key", dir);
	test_round_trip();
	test_rotate();
	test_damage();
	test_swap();
	test_refusals();
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	CHECK_DONE();
}
