/* gate: HTTP request/response heads and the chunked decoder, strictly.
 * Every request case runs twice, all at once and one byte at a time, and
 * both must agree. */
#include "gate/proto.h"
#include "../check.h"

#include <stdlib.h>

static struct pc_http_request R, R2;
static struct pc_http_response S, S2;
static struct pc_http_limits lim;

static enum pc_http_result feed_all(struct pc_http_request *r, const char *s, size_t n)
{
	pc_http_request_init(r);
	return pc_http_request_parse(r, s, n, &lim);
}

static enum pc_http_result feed_bytes(struct pc_http_request *r, const char *s, size_t n)
{
	enum pc_http_result res = PC_HTTP_NEED_MORE;
	pc_http_request_init(r);
	for (size_t i = 1; i <= n && res == PC_HTTP_NEED_MORE; i++)
		res = pc_http_request_parse(r, s, i, &lim);
	return res;
}

/* Parse s both ways into R; returns the result; checks the ways agree. */
static enum pc_http_result req_n(const char *s, size_t n, int line)
{
	enum pc_http_result a = feed_bytes(&R2, s, n);
	enum pc_http_result b = feed_all(&R, s, n);
	if (a != b || R.h.status != R2.h.status || R.h.head_len != R2.h.head_len ||
	    strcmp(R.host, R2.host) != 0 || R.port != R2.port || R.h.body != R2.h.body ||
	    R.h.content_length != R2.h.content_length || R.h.keep_alive != R2.h.keep_alive ||
	    R.h.nheaders != R2.h.nheaders) {
		fprintf(stderr, "line %d: bytewise %d/%d and whole %d/%d differ (%s / %s)\n", line,
			a, R2.h.status, b, R.h.status, R2.h.reason ? R2.h.reason : "",
			R.h.reason ? R.h.reason : "");
		check_failures++;
	}
	return b;
}

#define REQ(s) req_n((s), strlen(s), __LINE__)

#define EXPECT_ERR(s, st)                                                                          \
	do {                                                                                       \
		enum pc_http_result r_ = REQ(s);                                                   \
		if (r_ != PC_HTTP_ERROR || R.h.status != (st)) {                                   \
			fprintf(stderr, "%s:%d: expected error %d, got result %d status %d\n",     \
				__FILE__, __LINE__, (st), r_, R.h.status);                         \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

#define EXPECT_OK(s)                                                                               \
	do {                                                                                       \
		enum pc_http_result r_ = REQ(s);                                                   \
		if (r_ != PC_HTTP_DONE) {                                                          \
			fprintf(stderr, "%s:%d: expected DONE, got %d (%d %s)\n", __FILE__,        \
				__LINE__, r_, R.h.status, R.h.reason ? R.h.reason : "");           \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

static const char *span(const char *buf, struct pc_http_span s)
{
	static char out[4096];
	snprintf(out, sizeof(out), "%.*s", (int)s.len, buf + s.off);
	return out;
}

static void test_detect(void)
{
	CHECK(pc_proto_detect('G') == PC_PROTO_HTTP);
	CHECK(pc_proto_detect('C') == PC_PROTO_HTTP);
	CHECK(pc_proto_detect(5) == PC_PROTO_SOCKS5);
	CHECK(pc_proto_detect(4) == PC_PROTO_SOCKS4);
	CHECK(pc_proto_detect(0x16) == PC_PROTO_TLS);
	CHECK(pc_proto_detect(0) == PC_PROTO_UNKNOWN);
	CHECK(pc_proto_detect(' ') == PC_PROTO_UNKNOWN);
}

static void test_targets(void)
{
	const char *s = "GET http://Example.COM/a/b?c=1&d HTTP/1.1\r\nHost: example.com\r\n"
			"User-Agent: t\r\n\r\nBODY";
	EXPECT_OK(s);
	CHECK(R.form == PC_HTTP_FORM_ABSOLUTE);
	CHECK_STR(R.host, "example.com");
	CHECK(R.port == 80 && !R.host_ipv6 && !R.is_connect);
	CHECK_STR(span(s, R.path), "/a/b?c=1&d");
	CHECK_STR(span(s, R.method), "GET");
	CHECK(R.h.head_len == strlen(s) - 4);
	CHECK(R.h.keep_alive && R.h.body == PC_HTTP_BODY_NONE && R.h.version_minor == 1);
	CHECK(R.h.nheaders == 2 && R.h.host_header == 0 && R.h.headers[0].hop);
	CHECK(!R.h.headers[1].hop);
	CHECK(pc_http_find_header(&R.h, s, "user-agent") == 1);

	/* Host disagreeing: RFC 9112 3.2.2, the target wins */
	s = "GET http://a.example:8080?q HTTP/1.1\r\nHost: other.example\r\n\r\n";
	EXPECT_OK(s);
	CHECK_STR(R.host, "a.example");
	CHECK(R.port == 8080 && R.h.headers[R.h.host_header].hop);
	CHECK_STR(span(s, R.path), "?q");
	EXPECT_OK("GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n");
	CHECK(R.path.len == 0);
	EXPECT_OK("GET HTTP://A.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n");

	EXPECT_OK("GET http://[::1]:8080/x HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
	CHECK_STR(R.host, "::1");
	CHECK(R.host_ipv6 && R.port == 8080);
	EXPECT_OK("GET http://192.0.2.1/ HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n");
	CHECK_STR(R.host, "192.0.2.1");

	s = "CONNECT Example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
	EXPECT_OK(s);
	CHECK(R.is_connect && R.form == PC_HTTP_FORM_AUTHORITY && R.port == 443);
	CHECK_STR(R.host, "example.com");
	CHECK(R.path.len == 0 && R.h.body == PC_HTTP_BODY_NONE);
	EXPECT_OK("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n");
	CHECK_STR(R.host, "2001:db8::1");
	CHECK(R.host_ipv6);
	EXPECT_OK("CONNECT a.example:443 HTTP/1.0\r\n\r\n");
	EXPECT_ERR("CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("CONNECT http://a.example:443/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("CONNECT [::1:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("CONNECT [zz::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("CONNECT [::1]x:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("CONNECT a.example:443 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 400);
	EXPECT_ERR("CONNECT a.example:443 HTTP/1.1\r\nHost: a\r\n"
		   "Transfer-Encoding: chunked\r\n\r\n",
		   400);
	EXPECT_OK("CONNECT a.example:443 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");

	/* origin-form: flagged, host from Host */
	s = "GET /p?q HTTP/1.1\r\nHost: Site.example:81\r\n\r\n";
	EXPECT_OK(s);
	CHECK(R.form == PC_HTTP_FORM_ORIGIN && R.port == 81 && !R.h.headers[0].hop);
	CHECK_STR(R.host, "site.example");
	CHECK_STR(span(s, R.path), "/p?q");
	EXPECT_OK("GET / HTTP/1.0\r\n\r\n");
	CHECK(R.form == PC_HTTP_FORM_ORIGIN && R.host[0] == '\0' && R.port == 0);
	EXPECT_ERR("GET / HTTP/1.1\r\n\r\n", 400);
	EXPECT_ERR("GET http://a.example/ HTTP/1.1\r\n\r\n", 400); /* RFC 9112 3.2 */

	/* schemes */
	EXPECT_ERR("GET https://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET ftp://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 501);
	EXPECT_ERR("GET 1http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http:/a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);

	/* userinfo, fragments, spaces, controls, encodings */
	EXPECT_ERR("GET http://user:pass@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http://user@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("CONNECT u@a.example:443 HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http://a.example/x#frag HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http://a.example/a b HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http://a.example/\x01 HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http://a.example/\x7f HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http://a.example/\xc3\xa9 HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http://a.example/%zz HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http://a.example/%4 HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_OK("GET http://a.example/%4a HTTP/1.1\r\nHost: a.example\r\n\r\n");
	EXPECT_ERR("GET http://a%2e.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http://a..example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http:/// HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);

	/* ports */
	EXPECT_ERR("GET http://a.example:0/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http://a.example:65536/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http://a.example:/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http://a.example:8a/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_ERR("GET http://a.example:000080/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400);
	EXPECT_OK("GET http://a.example:65535/ HTTP/1.1\r\nHost: a.example\r\n\r\n");
	CHECK(R.port == 65535);
}

static void test_request_line(void)
{
	EXPECT_ERR("GET http://a/ HTTP/1.2\r\nHost: a\r\n\r\n", 505);
	EXPECT_ERR("GET http://a/ HTTP/2.0\r\nHost: a\r\n\r\n", 505);
	EXPECT_ERR("GET http://a/ HTTP/0.9\r\nHost: a\r\n\r\n", 505);
	EXPECT_ERR("GET http://a/ http/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/11\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("GET  http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/  HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("GET\thttp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("G(T http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR(" GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("\r\nGET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("GET\r\n\r\n", 400);
	EXPECT_OK("PURGE-X http://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT_OK("HEAD http://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK(R.is_head);
	/* methods are case-sensitive: "connect" is not CONNECT */
	EXPECT_ERR("connect a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	/* not done before the empty line */
	CHECK(REQ("GET http://a/ HTTP/1.1\r\nHost: a\r\n") == PC_HTTP_NEED_MORE);
	CHECK(REQ("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r") == PC_HTTP_NEED_MORE);
}

static void test_line_endings(void)
{
	EXPECT_ERR("GET http://a/ HTTP/1.1\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\n\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\nHost: a\n\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\rHost: a\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\r\n", 400);
	/* a bare LF is refused as soon as it arrives */
	CHECK(REQ("GET http://a/ HTTP/1.1\r\nX: a\n") == PC_HTTP_ERROR);
	const char nul[] = "GET http://a/ HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	CHECK(req_n(nul, sizeof(nul) - 1, __LINE__) == PC_HTTP_ERROR && R.h.status == 400);
}

static void test_fields(void)
{
	const char *s = "GET http://a/ HTTP/1.1\r\nHost: a\r\nX-A: \t v 1 \t\r\nx-b:\r\n"
			"X-C: caf\xc3\xa9\r\n\r\n";
	EXPECT_OK(s);
	CHECK(R.h.nheaders == 4);
	CHECK_STR(span(s, R.h.headers[1].value), "v 1");
	CHECK(R.h.headers[2].value.len == 0);
	CHECK(pc_http_find_header(&R.h, s, "X-B") == 2);
	CHECK(pc_http_find_header(&R.h, s, "x-d") == -1);
	CHECK(pc_http_span_eq(s, R.h.headers[1].name, "x-a"));

	/* obs-fold, leading space, space before colon */
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\n Host: a\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost : a\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost\t: a\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\nX(Y: x\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\nX: a\x01 b\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400);

	/* Host */
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: u@a\r\n\r\n", 400);
	EXPECT_ERR("GET / HTTP/1.1\r\nHost: \r\n\r\n", 400);
	EXPECT_ERR("GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400);

	/* Connection, keep-alive, hop-by-hop */
	s = "GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\n"
	    "X-Secret: 1\r\nKeep-Alive: 5\r\nProxy-Authorization: Basic eA==\r\nTE: trailers\r\n"
	    "Upgrade: websocket\r\nExpect: 100-Continue\r\nX-Other: 2\r\n\r\n";
	EXPECT_OK(s);
	CHECK(R.h.keep_alive && R.h.proxy_authorization && R.h.upgrade && R.h.expect_continue);
	for (unsigned i = 0; i < R.h.nheaders; i++) {
		bool other = pc_http_span_eq(s, R.h.headers[i].name, "x-other") ||
			     pc_http_span_eq(s, R.h.headers[i].name, "expect");
		CHECK(R.h.headers[i].hop == !other);
	}
	EXPECT_OK("GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	CHECK(!R.h.keep_alive);
	EXPECT_OK("GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n");
	CHECK(!R.h.keep_alive);
	EXPECT_OK("GET http://a/ HTTP/1.0\r\n\r\n");
	CHECK(!R.h.keep_alive && R.h.version_minor == 0);
	EXPECT_OK("GET http://a/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	CHECK(R.h.keep_alive);
	EXPECT_OK("GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: ,,\r\n\r\n");
	CHECK(R.h.keep_alive);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: a b\r\n\r\n", 400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\n"
		   "Content-Length: 3\r\n\r\n",
		   400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: close, transfer-encoding\r\n"
		   "\r\n",
		   400);
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: host\r\n\r\n", 400);
}

static void test_framing(void)
{
	const char *s = "POST http://a/ HTTP/1.1\r\nHost: a\r\ncontent-LENGTH: 5\r\n\r\nhelloGET";
	EXPECT_OK(s);
	CHECK(R.h.body == PC_HTTP_BODY_LENGTH && R.h.content_length == 5);
	CHECK(!strcmp(s + R.h.head_len, "helloGET"));
	EXPECT_OK("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
	CHECK(R.h.body == PC_HTTP_BODY_NONE);
	EXPECT_OK("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: "
		  "9223372036854775807\r\n\r\n");
	CHECK(R.h.content_length == 9223372036854775807ULL);
	EXPECT_OK("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
	CHECK(R.h.body == PC_HTTP_BODY_CHUNKED);
	EXPECT_OK("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \tchunked \r\n\r\n");
	CHECK(R.h.body == PC_HTTP_BODY_CHUNKED);

	/* CL.TE and TE.CL */
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n"
		   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nX",
		   400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		   "Content-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
		   400);
	/* TE hidden by obs-fold, leading space, space before colon */
	EXPECT_ERR(
		"POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding:\r\n"
		" chunked\r\n\r\n",
		400);
	EXPECT_ERR(
		"POST http://a/ HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n",
		400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\n\r\n",
		   400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
		   400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", 400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0b"
		   "chunked\r\n\r\n",
		   400);

	/* Transfer-Encoding values */
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, "
		   "identity\r\n\r\n",
		   400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		   "Transfer-Encoding: identity\r\n\r\n",
		   400);
	EXPECT_ERR(
		"POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
		   400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n", 400);
	EXPECT_ERR(
		"POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked identity\r\n\r\n",
		400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
		   400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
		   501);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		   501);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
		   "Transfer-Encoding: chunked\r\n\r\n",
		   501);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
		   501);
	EXPECT_ERR("POST http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);

	/* Content-Length values */
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		   "Content-Length: 5\r\n\r\n",
		   400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\n", 400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400);
	EXPECT_ERR(
		"POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n",
		400);
	EXPECT_ERR("POST http://a/ HTTP/1.1\r\nHost: a\r\n"
		   "Content-Length: 99999999999999999999999999\r\n\r\n",
		   400);
}

static void test_limits(void)
{
	char buf[40000];
	const char *line = "GET http://a/ HTTP/1.1\r\nHost: a\r\n";
	size_t n;

	/* the default 16 KiB: a long header is 431, a long target 414 */
	n = (size_t)snprintf(buf, sizeof(buf), "%sX: ", line);
	memset(buf + n, 'x', 17000);
	n += 17000;
	memcpy(buf + n, "\r\n\r\n", 4);
	n += 4;
	CHECK(req_n(buf, n, __LINE__) == PC_HTTP_ERROR && R.h.status == 431);
	n = (size_t)snprintf(buf, sizeof(buf), "GET http://a/");
	memset(buf + n, 'a', 17000);
	n += 17000;
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, " HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK(req_n(buf, n, __LINE__) == PC_HTTP_ERROR && R.h.status == 414);

	/* exactly max_head is fine, one byte less is not */
	const char *s = "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n";
	lim.max_head = strlen(s);
	EXPECT_OK(s);
	lim.max_head = strlen(s) - 1;
	EXPECT_ERR(s, 431);
	lim.max_head = 10;
	EXPECT_ERR(s, 414);
	lim.max_head = 0;

	/* header count */
	lim.max_headers = 3;
	EXPECT_OK("GET http://a/ HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n");
	EXPECT_ERR("GET http://a/ HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431);
	lim.max_headers = 0;
	n = (size_t)snprintf(buf, sizeof(buf), "%s", line);
	for (int i = 0; i < 99; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
	memcpy(buf + n, "\r\n", 2);
	CHECK(req_n(buf, n + 2, __LINE__) == PC_HTTP_DONE && R.h.nheaders == 100);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-last: v\r\n\r\n");
	CHECK(req_n(buf, n, __LINE__) == PC_HTTP_ERROR && R.h.status == 431);
	lim.max_headers = 1000; /* clamped to the cap */
	CHECK(req_n(buf, n, __LINE__) == PC_HTTP_DONE && R.h.nheaders == 101);
	lim.max_headers = 0;
}

static void test_sticky(void)
{
	const char *s = "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\nGET http://b/ HTTP/1.1\r\n";
	pc_http_request_init(&R);
	CHECK(pc_http_request_parse(&R, s, strlen(s), NULL) == PC_HTTP_DONE);
	CHECK(pc_http_request_parse(&R, s, strlen(s), NULL) == PC_HTTP_DONE);
	CHECK_STR(R.host, "a");
	/* the next request starts at head_len with a fresh parser */
	size_t off = R.h.head_len;
	pc_http_request_init(&R);
	CHECK(pc_http_request_parse(&R, s + off, strlen(s + off), NULL) == PC_HTTP_NEED_MORE);
	pc_http_request_init(&R);
	CHECK(pc_http_request_parse(&R, "GET x\n", 6, NULL) == PC_HTTP_ERROR);
	CHECK(pc_http_request_parse(&R, "GET x\n", 6, NULL) == PC_HTTP_ERROR && R.h.status == 400);
	CHECK(R.h.reason != NULL);
}

/* ---- responses --------------------------------------------------------- */

static enum pc_http_result resp(const char *s, bool head, bool connect)
{
	size_t n = strlen(s);
	enum pc_http_result a = PC_HTTP_NEED_MORE, b;
	pc_http_response_init(&S2);
	for (size_t i = 1; i <= n && a == PC_HTTP_NEED_MORE; i++)
		a = pc_http_response_parse(&S2, s, i, NULL, head, connect);
	pc_http_response_init(&S);
	b = pc_http_response_parse(&S, s, n, NULL, head, connect);
	CHECK(a == b && S.h.body == S2.h.body && S.h.status == S2.h.status &&
	      S.h.head_len == S2.h.head_len);
	return b;
}

static void test_responses(void)
{
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	CHECK(resp(s, false, false) == PC_HTTP_DONE);
	CHECK(S.status_code == 200 && S.h.body == PC_HTTP_BODY_LENGTH && S.h.content_length == 5);
	CHECK(S.h.keep_alive && !S.interim && S.h.head_len == strlen(s) - 5);
	CHECK_STR(span(s, S.reason_phrase), "OK");
	CHECK(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0) == PC_HTTP_DONE &&
	      S.h.body == PC_HTTP_BODY_CHUNKED && S.h.keep_alive);
	CHECK(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, 0) ==
		      PC_HTTP_DONE &&
	      S.h.body == PC_HTTP_BODY_CHUNKED);
	CHECK(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, 0) == PC_HTTP_DONE &&
	      S.h.body == PC_HTTP_BODY_CLOSE && !S.h.keep_alive);
	CHECK(resp("HTTP/1.1 200 OK\r\n\r\n", 0, 0) == PC_HTTP_DONE &&
	      S.h.body == PC_HTTP_BODY_CLOSE && !S.h.keep_alive);
	CHECK(resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, 0) == PC_HTTP_DONE &&
	      S.h.body == PC_HTTP_BODY_NONE && S.h.keep_alive);
	CHECK(resp("HTTP/1.1 204 No Content\r\n\r\n", 0, 0) == PC_HTTP_DONE &&
	      S.h.body == PC_HTTP_BODY_NONE && S.h.keep_alive);
	CHECK(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", 0, 0) ==
		      PC_HTTP_DONE &&
	      S.h.body == PC_HTTP_BODY_NONE && S.h.keep_alive);
	CHECK(resp("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", true, false) == PC_HTTP_DONE &&
	      S.h.body == PC_HTTP_BODY_NONE && S.h.keep_alive);
	CHECK(resp("HTTP/1.1 100 Continue\r\n\r\n", 0, 0) == PC_HTTP_DONE && S.interim &&
	      S.h.body == PC_HTTP_BODY_NONE);
	CHECK(resp("HTTP/1.1 200 Connection established\r\n\r\n", false, true) == PC_HTTP_DONE &&
	      S.h.body == PC_HTTP_BODY_NONE);
	CHECK(resp("HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\n", false, true) == PC_HTTP_DONE &&
	      S.h.body == PC_HTTP_BODY_LENGTH);
	CHECK(resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", 0, 0) == PC_HTTP_DONE &&
	      !S.h.keep_alive);
	CHECK(resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", 0,
		   0) == PC_HTTP_DONE &&
	      S.h.keep_alive);
	CHECK(resp("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", 0, 0) ==
		      PC_HTTP_DONE &&
	      !S.h.keep_alive);

	/* the same framing rules, answered with 502 */
	CHECK(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
		   0) == PC_HTTP_ERROR &&
	      S.h.status == 502);
	CHECK(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 0, 0) ==
		      PC_HTTP_ERROR &&
	      S.h.status == 502);
	CHECK(resp("HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", 0, 0) == PC_HTTP_ERROR);
	CHECK(resp("HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n", 0, 0) == PC_HTTP_ERROR);
	CHECK(resp("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 0, 0) == PC_HTTP_ERROR);
	CHECK(resp("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0) == PC_HTTP_ERROR);
	CHECK(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 0, 0) ==
	      PC_HTTP_ERROR);
	CHECK(resp("HTTP/1.1 099 x\r\n\r\n", 0, 0) == PC_HTTP_ERROR);
	CHECK(resp("HTTP/1.1 20 x\r\n\r\n", 0, 0) == PC_HTTP_ERROR);
	CHECK(resp("HTTP/1.1 200x\r\n\r\n", 0, 0) == PC_HTTP_ERROR);
	CHECK(resp("HTTP/2 200 OK\r\n\r\n", 0, 0) == PC_HTTP_ERROR);
	CHECK(resp("HTTP/1.1 200 O\x01K\r\n\r\n", 0, 0) == PC_HTTP_ERROR && S.h.status == 502);
	CHECK(resp("HTTP/1.1 200 OK\r\n", 0, 0) == PC_HTTP_NEED_MORE);
}

/* ---- chunked ----------------------------------------------------------- */

static char out[4096];
static size_t out_len, body_end;
static struct pc_chunked C;

/* Decode s in pieces of step bytes; returns the last result. */
static enum pc_chunked_result dechunk(const char *s, size_t n, size_t step, unsigned max_ext,
				      size_t max_trailer)
{
	enum pc_chunked_result res = PC_CHUNKED_MORE;
	size_t pos = 0;

	pc_chunked_init(&C, max_ext, max_trailer);
	out_len = 0;
	body_end = 0;
	while (pos < n) {
		size_t end = pos + step < n ? pos + step : n;
		while (pos < end) {
			const char *d;
			size_t dl, used;
			res = pc_chunked_feed(&C, s + pos, end - pos, &used, &d, &dl);
			if (res == PC_CHUNKED_ERROR)
				return res;
			if (res == PC_CHUNKED_DATA) {
				memcpy(out + out_len, d, dl);
				out_len += dl;
			}
			pos += used;
			if (res == PC_CHUNKED_DONE) {
				body_end = pos;
				return res;
			}
		}
	}
	out[out_len] = '\0';
	return res == PC_CHUNKED_DATA ? PC_CHUNKED_MORE : res;
}

/* Both all at once and byte by byte. */
static enum pc_chunked_result dechunk2(const char *s, unsigned max_ext, size_t max_trailer)
{
	enum pc_chunked_result a = dechunk(s, strlen(s), 1, max_ext, max_trailer);
	char o1[4096];
	size_t l1 = out_len, e1 = body_end;
	memcpy(o1, out, out_len);
	enum pc_chunked_result b = dechunk(s, strlen(s), strlen(s), max_ext, max_trailer);
	CHECK(a == b && l1 == out_len && e1 == body_end && !memcmp(o1, out, l1));
	out[out_len] = '\0';
	return b;
}

static void test_chunked(void)
{
	const char *s = "5\r\nhello\r\n6;name=val;x\r\n world\r\n0\r\n\r\nNEXT";
	CHECK(dechunk2(s, 0, 0) == PC_CHUNKED_DONE);
	CHECK_STR(out, "hello world");
	CHECK(body_end == strlen(s) - 4 && C.body_bytes == 11);
	CHECK(dechunk2("A\r\n0123456789\r\n0\r\nX-Sum: 1\r\nX-B:\r\n\r\n", 0, 0) ==
	      PC_CHUNKED_DONE);
	CHECK_STR(out, "0123456789");
	CHECK(dechunk2("0005\r\nhello\r\n000\r\n\r\n", 0, 0) == PC_CHUNKED_DONE);
	CHECK(dechunk2("5 ;a\r\nhello\r\n0\r\n\r\n", 0, 0) == PC_CHUNKED_DONE);
	CHECK(dechunk2("7fffffffffffffff\r\nabc", 0, 0) == PC_CHUNKED_MORE);
	CHECK(dechunk2("5\r\nhel", 0, 0) == PC_CHUNKED_MORE);
	CHECK(dechunk2("0\r\n\r", 0, 0) == PC_CHUNKED_MORE);

	CHECK(dechunk2("\r\nhello\r\n0\r\n\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2(";x\r\nhello\r\n0\r\n\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("g\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("-5\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("+5\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("0x5\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("5\nhello\r\n0\r\n\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("5\r\nhello\n0\r\n\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("5\r\nhelloX\r\n0\r\n\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("5\r\nhello\r\n0\r\n\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("5 \r\nhello\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("8000000000000000\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("ffffffffffffffffff\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("5;a\x01\r\nhello\r\n0\r\n\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("5\r\r\nhello\r\n", 0, 0) == PC_CHUNKED_ERROR);
	/* extensions and trailers are bounded */
	CHECK(dechunk2("1;abcdefgh\r\nx\r\n0\r\n\r\n", 8, 0) == PC_CHUNKED_DONE);
	CHECK(dechunk2("1;abcdefghi\r\nx\r\n0\r\n\r\n", 8, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("0\r\nX: abcdef\r\n\r\n", 0, 9) == PC_CHUNKED_DONE);
	CHECK(dechunk2("0\r\nX: abcdefg\r\n\r\n", 0, 9) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("0\r\nX: a\r\n b\r\n\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("0\r\nX : a\r\n\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("0\r\n: a\r\n\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("0\r\nX: a\x01\r\n\r\n", 0, 0) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("0\r\nX: a\nY: b\r\n\r\n", 0, 0) == PC_CHUNKED_ERROR);
	char zeros[100];
	memset(zeros, '0', 80);
	memcpy(zeros + 80, "5\r\n", 4);
	CHECK(dechunk2(zeros, 0, 0) == PC_CHUNKED_ERROR);

	/* errors and DONE are sticky */
	const char *d;
	size_t dl, used;
	CHECK(dechunk2("g", 0, 0) == PC_CHUNKED_ERROR && C.reason);
	CHECK(pc_chunked_feed(&C, "0\r\n\r\n", 5, &used, &d, &dl) == PC_CHUNKED_ERROR);
	CHECK(dechunk2("0\r\n\r\n", 0, 0) == PC_CHUNKED_DONE);
	CHECK(pc_chunked_feed(&C, "5\r\n", 3, &used, &d, &dl) == PC_CHUNKED_DONE && used == 0);
}

int main(void)
{
	test_detect();
	test_targets();
	test_request_line();
	test_line_endings();
	test_fields();
	test_framing();
	test_limits();
	test_sticky();
	test_responses();
	test_chunked();
	CHECK_DONE();
}
