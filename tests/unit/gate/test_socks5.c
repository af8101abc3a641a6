/* gate: SOCKS5 greeting, request and replies (RFC 1928). Every message is
 * also fed one prefix at a time: NEED_MORE until the last byte. */
#include "gate/proto.h"
#include "../check.h"

#include <arpa/inet.h>
#include <sys/socket.h>

static struct pc_socks5_request Q;
static struct pc_socks5_greeting G;

static enum pc_socks_result greet(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum pc_socks_result r = pc_socks5_greeting_parse(b, i, &G);
		if (r != PC_SOCKS_NEED_MORE)
			return r; /* decided early (errors) */
	}
	return pc_socks5_greeting_parse(b, n, &G);
}

static enum pc_socks_result req(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum pc_socks_result r = pc_socks5_request_parse(b, i, &Q);
		if (r != PC_SOCKS_NEED_MORE)
			return r;
	}
	return pc_socks5_request_parse(b, n, &Q);
}

#define GREET(...)                                                                                 \
	({                                                                                         \
		static const uint8_t b_[] = {__VA_ARGS__};                                         \
		greet(b_, sizeof(b_));                                                             \
	})
#define REQ(...)                                                                                   \
	({                                                                                         \
		static const uint8_t b_[] = {__VA_ARGS__};                                         \
		req(b_, sizeof(b_));                                                               \
	})

static void test_greeting(void)
{
	CHECK(GREET(5, 1, 0) == PC_SOCKS_DONE && G.method == PC_SOCKS5_NO_AUTH && G.len == 3);
	CHECK(GREET(5, 3, 2, 1, 0) == PC_SOCKS_DONE && G.method == PC_SOCKS5_NO_AUTH && G.len == 5);
	CHECK(GREET(5, 1, 2) == PC_SOCKS_DONE && G.method == PC_SOCKS5_NO_ACCEPTABLE && G.reason);
	CHECK(GREET(5, 0) == PC_SOCKS_DONE && G.method == PC_SOCKS5_NO_ACCEPTABLE && G.len == 2);
	CHECK(GREET(4, 1, 0, 80, 127, 0, 0, 1, 0) == PC_SOCKS_UNSUPPORTED);
	CHECK(GREET('G', 'E', 'T') == PC_SOCKS_ERROR);
	CHECK(pc_socks5_greeting_parse((const uint8_t *)"\x05\x02\x00", 3, &G) ==
	      PC_SOCKS_NEED_MORE);
	CHECK(pc_socks5_greeting_parse(NULL, 0, &G) == PC_SOCKS_NEED_MORE);
	/* bytes after the greeting (the request) are not consumed */
	CHECK(pc_socks5_greeting_parse((const uint8_t *)"\x05\x01\x00\x05\x01", 5, &G) ==
		      PC_SOCKS_DONE &&
	      G.len == 3);
	uint8_t out[2];
	CHECK(pc_socks5_method_reply(out, PC_SOCKS5_NO_AUTH) == 2 && out[0] == 5 && out[1] == 0);
	CHECK(pc_socks5_method_reply(out, PC_SOCKS5_NO_ACCEPTABLE) == 2 && out[1] == 0xff);
}

static void test_request(void)
{
	CHECK(REQ(5, 1, 0, 1, 127, 0, 0, 1, 0, 80) == PC_SOCKS_DONE);
	CHECK_STR(Q.host, "127.0.0.1");
	CHECK(Q.port == 80 && Q.atyp == PC_SOCKS5_ATYP_IPV4 && Q.len == 10);
	CHECK(Q.addr[0] == 127 && Q.addr[3] == 1);

	CHECK(REQ(5, 1, 0, 3, 11, 'E', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'C', 'O', 'M', 1, 187) ==
	      PC_SOCKS_DONE);
	CHECK_STR(Q.host, "example.com");
	CHECK(Q.port == 443 && Q.atyp == PC_SOCKS5_ATYP_DOMAIN && Q.len == 18);

	CHECK(REQ(5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1f,
		  0x90) == PC_SOCKS_DONE);
	CHECK_STR(Q.host, "2001:db8::1");
	CHECK(Q.port == 8080 && Q.atyp == PC_SOCKS5_ATYP_IPV6 && Q.len == 22);

	/* a 255-byte name is the maximum */
	uint8_t big[5 + 255 + 2] = {5, 1, 0, 3, 255};
	memset(big + 5, 'a', 255);
	for (int i = 1; i < 255; i += 2)
		big[5 + i] = '.';
	big[5 + 255] = 0;
	big[5 + 256] = 80;
	CHECK(req(big, sizeof(big)) == PC_SOCKS_DONE && strlen(Q.host) == 255);

	/* commands */
	CHECK(REQ(5, 2, 0, 1, 127, 0, 0, 1, 0, 80) == PC_SOCKS_ERROR &&
	      Q.reply == PC_SOCKS5_CMD_NOT_SUPPORTED);
	CHECK(REQ(5, 3, 0, 1, 127, 0, 0, 1, 0, 80) == PC_SOCKS_ERROR &&
	      Q.reply == PC_SOCKS5_CMD_NOT_SUPPORTED);
	CHECK(REQ(5, 9, 0, 1, 127, 0, 0, 1, 0, 80) == PC_SOCKS_ERROR &&
	      Q.reply == PC_SOCKS5_CMD_NOT_SUPPORTED && Q.reason);
	/* address types */
	CHECK(REQ(5, 1, 0, 2, 127, 0, 0, 1, 0, 80) == PC_SOCKS_ERROR &&
	      Q.reply == PC_SOCKS5_ATYP_NOT_SUPPORTED);
	CHECK(REQ(5, 1, 0, 0, 127, 0, 0, 1, 0, 80) == PC_SOCKS_ERROR &&
	      Q.reply == PC_SOCKS5_ATYP_NOT_SUPPORTED);
	/* malformed */
	CHECK(REQ(4, 1, 0, 1, 127, 0, 0, 1, 0, 80) == PC_SOCKS_ERROR &&
	      Q.reply == PC_SOCKS5_GENERAL_FAILURE);
	CHECK(REQ(5, 1, 1, 1, 127, 0, 0, 1, 0, 80) == PC_SOCKS_ERROR &&
	      Q.reply == PC_SOCKS5_GENERAL_FAILURE);
	CHECK(REQ(5, 1, 0, 3, 0, 0, 80) == PC_SOCKS_ERROR && Q.reply == PC_SOCKS5_GENERAL_FAILURE);
	CHECK(REQ(5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80) == PC_SOCKS_ERROR &&
	      Q.reply == PC_SOCKS5_GENERAL_FAILURE);
	CHECK(REQ(5, 1, 0, 3, 3, 'a', '\n', 'b', 0, 80) == PC_SOCKS_ERROR);
	CHECK(REQ(5, 1, 0, 3, 3, 'a', ' ', 'b', 0, 80) == PC_SOCKS_ERROR);
	CHECK(REQ(5, 1, 0, 3, 3, 'a', 0x7f, 'b', 0, 80) == PC_SOCKS_ERROR);
	CHECK(REQ(5, 1, 0, 3, 3, 'a', 0xc3, 'b', 0, 80) == PC_SOCKS_ERROR);
	CHECK(REQ(5, 1, 0, 3, 3, 'a', '/', 'b', 0, 80) == PC_SOCKS_ERROR);
	CHECK(REQ(5, 1, 0, 3, 3, 'a', '@', 'b', 0, 80) == PC_SOCKS_ERROR);
	CHECK(REQ(5, 1, 0, 3, 3, 'a', '.', '.', 0, 80) == PC_SOCKS_ERROR);
	CHECK(REQ(5, 1, 0, 1, 127, 0, 0, 1, 0, 0) == PC_SOCKS_ERROR);
	/* incomplete */
	CHECK(pc_socks5_request_parse((const uint8_t *)"\x05\x01\x00\x03\x05"
						       "abcde\x00",
				      11, &Q) == PC_SOCKS_NEED_MORE);
	CHECK(pc_socks5_request_parse((const uint8_t *)"\x05\x01\x00\x01\x7f\x00\x00\x01\x00", 9,
				      &Q) == PC_SOCKS_NEED_MORE);
}

static void test_replies(void)
{
	uint8_t out[PC_SOCKS5_REPLY_MAX];
	struct in_addr a4;
	struct in6_addr a6;
	inet_pton(AF_INET, "127.0.0.1", &a4);
	inet_pton(AF_INET6, "::1", &a6);

	size_t n = pc_socks5_reply(out, PC_SOCKS5_OK, AF_INET, &a4, 1080);
	const uint8_t ok4[] = {5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38};
	CHECK(n == sizeof(ok4) && !memcmp(out, ok4, n));

	n = pc_socks5_reply(out, PC_SOCKS5_OK, AF_INET6, &a6, 443);
	CHECK(n == 22 && out[0] == 5 && out[1] == 0 && out[3] == 4 && out[19] == 1 &&
	      out[20] == 1 && out[21] == 187);

	const uint8_t codes[] = {PC_SOCKS5_GENERAL_FAILURE,   PC_SOCKS5_NOT_ALLOWED,
				 PC_SOCKS5_HOST_UNREACHABLE,  PC_SOCKS5_REFUSED,
				 PC_SOCKS5_CMD_NOT_SUPPORTED, PC_SOCKS5_ATYP_NOT_SUPPORTED};
	for (size_t i = 0; i < sizeof(codes); i++) {
		const uint8_t want[] = {5, codes[i], 0, 1, 0, 0, 0, 0, 0, 0};
		n = pc_socks5_reply(out, codes[i], 0, NULL, 1234);
		CHECK(n == sizeof(want) && !memcmp(out, want, n));
	}
	CHECK(PC_SOCKS5_NOT_ALLOWED == 2 && PC_SOCKS5_HOST_UNREACHABLE == 4 &&
	      PC_SOCKS5_REFUSED == 5 && PC_SOCKS5_CMD_NOT_SUPPORTED == 7 &&
	      PC_SOCKS5_ATYP_NOT_SUPPORTED == 8);
}

int main(void)
{
	test_greeting();
	test_request();
	test_replies();
	CHECK_DONE();
}
