/* gate/proto: the wire parsers of the egress gate, pure and without I/O.
 *
 * The gate listens on one port for HTTP/1.1 forward proxying (absolute-form
 * requests and CONNECT) and SOCKS5; pc_proto_detect() tells them apart by
 * the first byte. Everything here works on bytes the caller holds: nothing
 * reads a socket, nothing allocates.
 *
 * Incremental use. The head parsers (request, response, SOCKS5) are fed the
 * caller's whole accumulated buffer each time more bytes arrive (the same
 * bytes plus new ones at the end); they remember how far they scanned, so
 * a head delivered one byte at a time costs the same as one delivered at
 * once and gives the same result. They answer NEED_MORE, DONE (the head
 * length is then in the result: bytes after it belong to the body or the
 * next request) or ERROR (with a reason and the status to answer).
 * The chunked decoder instead consumes body bytes as they pass.
 *
 * Strictness, the request smuggling defence (RFC 9112):
 *  - lines end in CRLF; a bare LF or a lone CR is 400; NUL and other
 *    controls in the head are 400;
 *  - obs-fold (a line starting with SP or HTAB) is 400, including a first
 *    header line with leading whitespace; whitespace before ':' is 400;
 *  - both Content-Length and Transfer-Encoding is 400; more than one
 *    Content-Length (even equal values, even "5, 5") is 400; a
 *    Content-Length that is not all digits ("+5", "-1", "0x5", "") or
 *    does not fit 2^63 is 400;
 *  - Transfer-Encoding must be exactly "chunked" (case-insensitive): a
 *    list where chunked is not the final coding ("chunked, identity"),
 *    chunked twice, parameters on chunked, or a malformed list is 400; a
 *    well-formed list naming any other coding is 501; Transfer-Encoding in
 *    an HTTP/1.0 message is 400;
 *  - Connection naming Content-Length, Transfer-Encoding or Host is 400
 *    (a hop-by-hop strip must never change the framing or the target).
 *
 * Host (RFC 9112 section 3.2): "A server MUST respond with a 400 (Bad
 * Request) status code to any HTTP/1.1 request message that lacks a Host
 * header field and to any request message that contains more than one Host
 * header field line or a Host header field with an invalid field value."
 * And section 3.2.2: "When a proxy receives a request with an absolute-form
 * of request-target, the proxy MUST ignore the received Host header field
 * (if any) and instead replace it with the host information of the
 * request-target." So: the target wins; a Host that disagrees with it is
 * not an error, and the Host header is flagged hop (not to be forwarded):
 * the gate writes a new one from pc_http_request.host/port.
 *
 * Also: a CONNECT with a body (Transfer-Encoding or Content-Length > 0) is
 * 400; an HTTP/1.1 request without Host is 400 in every form (section 3.2
 * above); versions other than HTTP/1.0 and 1.1 are 505; "https://" in
 * absolute-form is 400 (use CONNECT), other schemes 501.
 *
 * Responses follow the same rules answered with 502, except that a
 * coding before chunked ("gzip, chunked") is accepted and a list whose
 * final coding is not chunked means the body runs until close (RFC 9112
 * section 6.3). No body after 1xx, 204, 304, HEAD or a 2xx to CONNECT.
 *
 * Errors are not struct pc_error: a parser failure is the client's, and
 * the gate answers it with h.status and records h.reason (static text).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- which protocol ---------------------------------------------------- */

enum pc_proto {
	PC_PROTO_UNKNOWN = 0,
	PC_PROTO_HTTP,	 /* a method token starts: an HTTP request */
	PC_PROTO_SOCKS5, /* 0x05 */
	PC_PROTO_SOCKS4, /* 0x04: not supported, close */
	PC_PROTO_TLS,	 /* 0x16: a TLS handshake (transparent capture) */
};

enum pc_proto pc_proto_detect(uint8_t first_byte);

/* ---- HTTP heads -------------------------------------------------------- */

#define PC_HTTP_MAX_HEAD_DEFAULT    (16 * 1024)
#define PC_HTTP_MAX_HEADERS_DEFAULT 100
#define PC_HTTP_HEADERS_CAP	    128 /* max_headers is clamped to this */
#define PC_HTTP_HOST_MAX	    255

struct pc_http_limits {
	size_t max_head;      /* request/status line + headers + CRLFs; 0: default */
	unsigned max_headers; /* header lines; 0: default */
};

enum pc_http_result {
	PC_HTTP_ERROR = -1,
	PC_HTTP_NEED_MORE = 0,
	PC_HTTP_DONE = 1,
};

/* A piece of the caller's buffer, by offset (buffers may move). */
struct pc_http_span {
	uint32_t off, len;
};

struct pc_http_header {
	struct pc_http_span name, value; /* value without leading/trailing OWS */
	bool hop; /* hop-by-hop: a standard one, nominated by Connection, or the
		     Host of an absolute-form/CONNECT request: do not forward */
};

enum pc_http_body {
	PC_HTTP_BODY_NONE = 0,
	PC_HTTP_BODY_LENGTH,  /* content_length bytes follow */
	PC_HTTP_BODY_CHUNKED, /* run pc_chunked over what follows */
	PC_HTTP_BODY_CLOSE,   /* responses only: the body ends when upstream closes */
};

/* What request and response heads share. */
struct pc_http_head {
	/* scanner state (private) */
	uint32_t scanned, line_start;
	bool cr, have_first_line, is_response;
	size_t max_head;
	unsigned max_headers, host_count, cl_count, te_lines, te_chunked;
	bool te_final_chunked, te_other, te_bad, conn_close, conn_keep_alive;
	/* results */
	uint32_t head_len;	/* bytes of head consumed, the final CRLF included */
	unsigned version_minor; /* 0 or 1 */
	unsigned nheaders;
	struct pc_http_header headers[PC_HTTP_HEADERS_CAP];
	enum pc_http_body body;
	uint64_t content_length;
	bool keep_alive;	  /* the connection may carry another message */
	bool upgrade;		  /* an Upgrade header is present */
	bool proxy_authorization; /* a Proxy-Authorization header is present */
	bool expect_continue;	  /* Expect: 100-continue */
	int host_header;	  /* index of the Host header, -1 when none */
	/* on PC_HTTP_ERROR */
	int status;	    /* the status to answer: 400, 414, 431, 501, 505, 502 */
	const char *reason; /* static text naming the rule that failed */
};

enum pc_http_form {
	PC_HTTP_FORM_ABSOLUTE = 1, /* http://host[:port]/path?query */
	PC_HTTP_FORM_AUTHORITY,	   /* CONNECT host:port */
	PC_HTTP_FORM_ORIGIN,	   /* /path?query: transparent capture, host from Host */
};

struct pc_http_request {
	struct pc_http_head h;
	struct pc_http_span method;
	bool is_connect, is_head;
	enum pc_http_form form;
	struct pc_http_span target;	 /* the whole request-target */
	struct pc_http_span path;	 /* path+query; empty for CONNECT; see below */
	char host[PC_HTTP_HOST_MAX + 1]; /* lowercased, IPv6 without brackets */
	bool host_ipv6;			 /* host is an IPv6 literal */
	uint16_t port;			 /* default 80; 0 for origin-form without Host */
};

/* path: for absolute-form "http://h" the span is empty and for "http://h?q"
 * it starts with '?': the gate writes "/" in front when it does not start
 * with '/'. */

void pc_http_request_init(struct pc_http_request *r);
/* Feed buf[0..len): the same bytes as before plus any new ones. After DONE
 * the request is in r and r->h.head_len bytes of buf were its head. */
enum pc_http_result pc_http_request_parse(struct pc_http_request *r, const char *buf, size_t len,
					  const struct pc_http_limits *lim);

struct pc_http_response {
	struct pc_http_head h;
	unsigned status_code; /* 100..999 */
	struct pc_http_span reason_phrase;
	bool interim; /* 1xx: another response head follows */
};

void pc_http_response_init(struct pc_http_response *r);
/* Like pc_http_request_parse for the upstream's answer. request_method_head
 * and request_connect say what it answers: no body after HEAD, a 2xx to
 * CONNECT is a tunnel (body NONE). Errors carry status 502. */
enum pc_http_result pc_http_response_parse(struct pc_http_response *r, const char *buf, size_t len,
					   const struct pc_http_limits *lim,
					   bool request_method_head, bool request_connect);

/* Case-insensitive comparisons of a span of buf against a string. */
bool pc_http_span_eq(const char *buf, struct pc_http_span s, const char *str);
/* The first header with this name (case-insensitive), or -1. */
int pc_http_find_header(const struct pc_http_head *h, const char *buf, const char *name);

/* A hostname as the gate accepts it (HTTP reg-name, SOCKS5 domain):
 * 1..255 of [A-Za-z0-9._-], no empty label, no leading '.'. */
bool pc_proto_valid_hostname(const char *s, size_t n);

/* ---- chunked body decoder ---------------------------------------------- */

#define PC_CHUNKED_MAX_EXT_DEFAULT     1024	   /* bytes of chunk extensions per line */
#define PC_CHUNKED_MAX_TRAILER_DEFAULT (16 * 1024) /* bytes of trailer section */

enum pc_chunked_result {
	PC_CHUNKED_ERROR = -1,
	PC_CHUNKED_MORE = 0, /* all input consumed, body not complete */
	PC_CHUNKED_DATA = 1, /* *data, *data_len: body data to pass on */
	PC_CHUNKED_DONE = 2, /* last chunk and trailers seen: body complete */
};

struct pc_chunked {
	int state;	    /* private */
	uint64_t remaining; /* of the current chunk */
	uint64_t size;	    /* hex digits being read */
	unsigned digits, ext_len, line_len, max_ext;
	size_t trailer_len, max_trailer;
	uint64_t body_bytes; /* data bytes decoded so far */
	const char *reason;  /* on error; the status is 400 */
};

/* max_ext, max_trailer: 0 for the defaults. */
void pc_chunked_init(struct pc_chunked *c, unsigned max_ext, size_t max_trailer);
/* Consume from in[0..len): *consumed says how far (call again with the
 * rest). DATA leaves a span of in to pass on; DONE says the body ended at
 * in + *consumed (what follows is the next message). The raw bytes up to
 * *consumed are the chunked encoding, to forward unchanged if wanted. */
enum pc_chunked_result pc_chunked_feed(struct pc_chunked *c, const char *in, size_t len,
				       size_t *consumed, const char **data, size_t *data_len);

/* ---- SOCKS5 (RFC 1928) ------------------------------------------------- */

enum pc_socks_result {
	PC_SOCKS_UNSUPPORTED = -2, /* SOCKS4 (first byte 4): close */
	PC_SOCKS_ERROR = -1,	   /* answer with the reply code, then close */
	PC_SOCKS_NEED_MORE = 0,
	PC_SOCKS_DONE = 1,
};

#define PC_SOCKS5_NO_AUTH	0x00
#define PC_SOCKS5_NO_ACCEPTABLE 0xff

/* Reply codes (RFC 1928 section 6). */
#define PC_SOCKS5_OK		     0x00
#define PC_SOCKS5_GENERAL_FAILURE    0x01
#define PC_SOCKS5_NOT_ALLOWED	     0x02
#define PC_SOCKS5_NET_UNREACHABLE    0x03
#define PC_SOCKS5_HOST_UNREACHABLE   0x04
#define PC_SOCKS5_REFUSED	     0x05
#define PC_SOCKS5_TTL_EXPIRED	     0x06
#define PC_SOCKS5_CMD_NOT_SUPPORTED  0x07
#define PC_SOCKS5_ATYP_NOT_SUPPORTED 0x08

#define PC_SOCKS5_ATYP_IPV4   0x01
#define PC_SOCKS5_ATYP_DOMAIN 0x03
#define PC_SOCKS5_ATYP_IPV6   0x04

struct pc_socks5_greeting {
	size_t len;	/* bytes of the greeting consumed on DONE */
	uint8_t method; /* PC_SOCKS5_NO_AUTH, or PC_SOCKS5_NO_ACCEPTABLE: reply and close */
	const char *reason;
};

/* buf holds all bytes received so far. */
enum pc_socks_result pc_socks5_greeting_parse(const uint8_t *buf, size_t len,
					      struct pc_socks5_greeting *g);
/* The two-byte method selection message. */
size_t pc_socks5_method_reply(uint8_t out[2], uint8_t method);

struct pc_socks5_request {
	size_t len; /* bytes of the request consumed on DONE */
	uint8_t atyp;
	uint8_t addr[16];		 /* the raw IPv4 (4) or IPv6 (16) address */
	char host[PC_HTTP_HOST_MAX + 1]; /* domain lowercased, or the IP as text */
	uint16_t port;
	uint8_t reply; /* on ERROR: the reply code to send */
	const char *reason;
};

/* buf starts at the request (after the greeting). */
enum pc_socks_result pc_socks5_request_parse(const uint8_t *buf, size_t len,
					     struct pc_socks5_request *r);

#define PC_SOCKS5_REPLY_MAX 22
/* Format a reply: rep is PC_SOCKS5_OK or an error code. bound_family is
 * AF_INET (addr 4 bytes) or AF_INET6 (16 bytes); 0 writes 0.0.0.0:0.
 * Returns the length written (10 or 22). */
size_t pc_socks5_reply(uint8_t out[PC_SOCKS5_REPLY_MAX], uint8_t rep, int bound_family,
		       const void *bound_addr, uint16_t bound_port);
