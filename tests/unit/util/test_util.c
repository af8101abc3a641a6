/* util: sizes, durations, buffers, JSON strings, errors. */
#include "util/util.h"
#include "../check.h"

#include <sys/socket.h>

static void test_sizes(void)
{
	uint64_t v;
	CHECK(pc_parse_size("512M", &v) == 0 && v == 512ULL << 20);
	CHECK(pc_parse_size("1G", &v) == 0 && v == 1ULL << 30);
	CHECK(pc_parse_size("64Ki", &v) == 0 && v == 64ULL << 10);
	CHECK(pc_parse_size("4096", &v) == 0 && v == 4096);
	CHECK(pc_parse_size("12X", &v) == -EINVAL);
	CHECK(pc_parse_size("-1M", &v) == -EINVAL);
	CHECK(pc_parse_size("", &v) == -EINVAL);
	CHECK(pc_parse_size("99999999999999999999T", &v) == -ERANGE);
	CHECK(pc_parse_size("20000000T", &v) == -ERANGE);
	char out[32];
	pc_format_size(512ULL << 20, out, sizeof(out));
	CHECK_STR(out, "512M");
	pc_format_size(1000, out, sizeof(out));
	CHECK_STR(out, "1000");
}

static void test_durations(void)
{
	uint64_t v;
	CHECK(pc_parse_duration("10m", &v) == 0 && v == 600000);
	CHECK(pc_parse_duration("1h", &v) == 0 && v == 3600000);
	CHECK(pc_parse_duration("250ms", &v) == 0 && v == 250);
	CHECK(pc_parse_duration("30s", &v) == 0 && v == 30000);
	CHECK(pc_parse_duration("30", &v) == -EINVAL);
	CHECK(pc_parse_duration("1y", &v) == -EINVAL);
	char out[32];
	pc_format_duration(600000, out, sizeof(out));
	CHECK_STR(out, "10m");
	pc_format_duration(1500, out, sizeof(out));
	CHECK_STR(out, "1500ms");
}

static void test_buf_json(void)
{
	_cleanup_buf_ struct pc_buf b = {0};
	pc_buf_json_string(&b, "a\"b\\c\nd\x01");
	CHECK_STR(b.data, "\"a\\\"b\\\\c\\nd\\u0001\"");
	pc_buf_reset(&b);
	pc_buf_printf(&b, "%d-%s", 42, "x");
	CHECK_STR(b.data, "42-x");
}

static void test_errors(void)
{
	struct pc_error err = {0};
	CHECK(pc_error(&err, ENOENT, "no %s", "file") == -ENOENT);
	CHECK_STR(err.msg, "no file");
	pc_error_prefix(&err, "policy.yaml:%d:%d", 3, 7);
	CHECK_STR(err.msg, "policy.yaml:3:7: no file");
	CHECK(pc_error_errno(&err, EACCES, "open x") == -EACCES);
	CHECK_CONTAINS(err.msg, "open x: Permission denied");
}

static void test_paths(void)
{
	_cleanup_free_ char *a = pc_expand_home("~/docs", "/home/alice");
	_cleanup_free_ char *b = pc_expand_home("~", "/home/alice");
	_cleanup_free_ char *c = pc_expand_home("~bob/x", "/home/alice");
	CHECK_STR(a, "/home/alice/docs");
	CHECK_STR(b, "/home/alice");
	CHECK_STR(c, "~bob/x");
}

static void test_sha256(void)
{
	char hex[65];
	pc_sha256_hex("", 0, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	pc_sha256_hex("abc", 3, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	pc_sha256_hex(two, strlen(two), hex);
	CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* a million 'a's, fed in uneven pieces */
	struct pc_sha256 c;
	pc_sha256_init(&c);
	char a[997];
	memset(a, 'a', sizeof(a));
	size_t left = 1000000;
	while (left) {
		size_t n = left < 997 ? left : (left % 7) + 990;
		pc_sha256_update(&c, a, n);
		left -= n;
	}
	uint8_t d[32];
	pc_sha256_final(&c, d);
	pc_hex(d, 32, hex);
	CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* A seqpacket peer that sent its last word and closed with ours unread:
 * the kernel reports ECONNRESET first; the word must still be read. */
static void test_recv_after_reset(void)
{
	for (int with_fds = 0; with_fds < 2; with_fds++) {
		int sv[2];
		CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
		CHECK(send(sv[0], "ours", 4, 0) == 4);
		CHECK(send(sv[1], "last", 4, 0) == 4);
		close(sv[1]); /* "ours" unread */
		char buf[8] = {0};
		if (with_fds) {
			int fds[1];
			size_t n = 1;
			CHECK(pc_recv_fds(sv[0], buf, sizeof(buf), fds, &n) == 4 && n == 0);
			CHECK(pc_recv_fds(sv[0], buf, sizeof(buf), fds, &n) == 0);
		} else {
			CHECK(pc_recv(sv[0], buf, sizeof(buf), 0) == 4);
			CHECK(pc_recv(sv[0], buf, sizeof(buf), 0) == 0);
		}
		CHECK(memcmp(buf, "last", 4) == 0);
		close(sv[0]);
	}
}

int main(void)
{
	test_recv_after_reset();
	test_sha256();
	test_sizes();
	test_durations();
	test_buf_json();
	test_errors();
	test_paths();
	CHECK_DONE();
}
