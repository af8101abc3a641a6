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

/* ==== transparent capture: DNS responder and TLS SNI (dns.c, sni.c) ===== */

#include <netinet/in.h>

/* ---- DNS responder core (dns.c) ---------------------------------------- *
 *
 * Inside the sandbox a UDP socket on 127.0.0.1:53 receives the agent's
 * queries; the gate hands each datagram to pc_dns_answer() and sends back
 * what it writes. Every name gets a stable synthetic IPv4 address from
 * 198.18.0.0/15 (RFC 2544 benchmarking space, never routed): 198.18.0.1,
 * 198.18.0.2, ... in order of first query, up to 198.19.255.254 (the
 * network address and the all-ones one are never handed out). A program
 * that ignores the proxy variables then connects to that address, the
 * connect is captured, and the gate maps the address back to the name with
 * pc_dns_map_lookup(). A mapping lives as long as the map (one run).
 *
 * Answers (standard query: QR=0, OPCODE=0, exactly one question, class IN;
 * ID, RD and the question's bytes are echoed, RA=1, AA=0, no EDNS OPT in
 * the answer, which always fits 512 bytes):
 *  - A: one answer with the synthetic address, TTL 60; the first A query
 *    for a name allocates its address. AAAA: NOERROR without data (so
 *    clients use IPv4). Other types (MX, TXT, HTTPS, ANY, ...): NOERROR
 *    without data. None of these allocate.
 *  - "localhost" and names under ".localhost" (RFC 6761): A 127.0.0.1,
 *    AAAA ::1, never a synthetic address.
 *  - PTR for d.c.18|19.198.in-addr.arpa of an allocated address: the name.
 *    Any other PTR: NXDOMAIN (there is no reverse data).
 *  - Wire-format errors are FORMERR: a compression pointer or an extended
 *    label type in the question (not followed: refused), a name longer
 *    than 255 octets on the wire (253 characters as text), QDCOUNT other
 *    than 1, answer or authority records in a query. Their qname is "".
 *  - A well-formed question for a name that no host can have is NXDOMAIN:
 *    a label with bytes other than [A-Za-z0-9_-] (including '.' inside a
 *    label), or an IP literal (a name inet_aton() accepts, or whose last
 *    label is all digits: no top-level domain is numeric). The root name
 *    ("." itself) is NOERROR without data.
 *    NXDOMAIN rather than FORMERR because the query itself is valid DNS and
 *    the answer is definite: resolvers stop there instead of retrying
 *    another server or another EDNS setting. Such a qname is reported with
 *    the offending bytes as '?'.
 *  - Class other than IN (CHAOS "version.bind", ...): REFUSED. OPCODE
 *    other than QUERY: NOTIMP. Map full on an A query for a new name:
 *    SERVFAIL (the name is not answered, nothing else changes).
 *  - No reply at all (return -1) for a datagram shorter than the 12-byte
 *    header, a response (QR=1: never answer an answer), or a question
 *    cut short by the end of the datagram (nothing to echo).
 */

#define PC_DNS_MAX_NAMES_DEFAULT 65536
#define PC_DNS_MAX_NAMES_LIMIT	 131070 /* addresses in 198.18.0.0/15 less two */
#define PC_DNS_TTL		 60

#define PC_DNS_NOERROR	0
#define PC_DNS_FORMERR	1
#define PC_DNS_SERVFAIL 2
#define PC_DNS_NXDOMAIN 3
#define PC_DNS_NOTIMP	4
#define PC_DNS_REFUSED	5

#define PC_DNS_TYPE_A	 1
#define PC_DNS_TYPE_PTR	 12
#define PC_DNS_TYPE_AAAA 28

struct pc_dns_map; /* name <-> synthetic address, one per run */

/* max_names: 0 for the default; clamped to PC_DNS_MAX_NAMES_LIMIT. Memory
 * grows with the names actually mapped (a name, a pointer and two hash
 * slots each), never past max_names of them. Never NULL (aborts on OOM). */
struct pc_dns_map *pc_dns_map_new(size_t max_names);
void pc_dns_map_free(struct pc_dns_map *m);
/* The address for a name (any case, one trailing dot allowed: stored
 * lowercased without it), allocating the next free one for a new name.
 * 0 on success, -EINVAL for a name pc_dns_answer() would not map (see
 * above: bad bytes, too long, IP literal, localhost), -ENOSPC when full. */
int pc_dns_map_name(struct pc_dns_map *m, const char *name, struct in_addr *out);
/* The name for a synthetic address (lowercased, no trailing dot), or NULL
 * when the address was never handed out. Valid until the map is freed. */
const char *pc_dns_map_lookup(const struct pc_dns_map *m, struct in_addr a);
/* How many names are mapped. */
size_t pc_dns_map_count(const struct pc_dns_map *m);
/* a is in 198.18.0.0/15 (mapped or not). */
bool pc_dns_is_synthetic(struct in_addr a);
/* A name no host can have because it is an IP literal: inet_aton() takes
 * it ("1.2.3.4", "127.1", "0x7f000001") or its last label is all digits.
 * n: length of s, without a trailing dot. Shared with the SNI check. */
bool pc_dns_name_is_numeric(const char *s, size_t n);

/* Answer one query datagram q[0..qlen): writes the response into out (cap
 * bytes; 512 is always enough) and its length into *out_len, fills qname
 * (lowercased, no trailing dot; "" when there is no usable question) and
 * *qtype (0 when unknown) for the caller to record. Returns 0 when there
 * is an answer to send, -1 when the datagram gets no reply. The rcode
 * sent is out[3] & 0x0f. A cap too small for the answer gets the header
 * and question with TC=1 (or -1 below 12 + question bytes). */
int pc_dns_answer(struct pc_dns_map *m, const uint8_t *q, size_t qlen, uint8_t *out, size_t cap,
		  size_t *out_len, char qname[256], uint16_t *qtype);

/* ---- TLS ClientHello SNI (sni.c) --------------------------------------- *
 *
 * On a captured connection the client speaks first; when its first byte is
 * 0x16 (pc_proto_detect() says PC_PROTO_TLS) the gate reads the host name
 * it wants from the ClientHello's server_name extension (RFC 6066), to
 * check against the name the synthetic address stands for. The parser is
 * fed the whole buffer received so far, like the head parsers, and looks
 * at record headers only until the ClientHello is complete, so feeding it
 * a byte at a time stays cheap.
 *
 * Accepted: handshake records (type 22, version 3.x, 1..16384 bytes each)
 * carrying one ClientHello (RFC 8446 4.1.2, also the TLS 1.0-1.2 form
 * with or without extensions), which may span any number of records as
 * long as it is complete within PC_TLS_SNI_INPUT_MAX bytes of input and is
 * at most PC_TLS_HELLO_MAX bytes long. Every length inside is checked
 * against its container; bytes after the ClientHello in its last record
 * are ignored. The server_name extension must appear at most once and hold
 * exactly one host_name (RFC 6066 section 3 forbids two of a type; other
 * name types have no defined encoding, so they are an error as in
 * OpenSSL); the name must pass pc_proto_valid_hostname(), have no trailing
 * dot and not be an IP literal ("Literal IPv4 and IPv6 addresses are not
 * permitted in HostName"). With Encrypted Client Hello the name seen is
 * the outer, public one.
 *
 * Results: NEED_MORE (nothing wrong so far, feed more), FOUND (host is set,
 * lowercased), NONE (a well-formed ClientHello without server_name: the
 * gate decides by address alone or refuses), ERROR (reason is static text;
 * close the connection). Never reads past len; work is linear in len.
 */

#define PC_TLS_HELLO_MAX     16384 /* ClientHello message, 4-byte header included */
#define PC_TLS_SNI_INPUT_MAX (PC_TLS_HELLO_MAX + 1024) /* the most input ever waited for */

enum pc_sni_result {
	PC_SNI_ERROR = -1,
	PC_SNI_NEED_MORE = 0,
	PC_SNI_FOUND = 1,
	PC_SNI_NONE = 2,
};

struct pc_tls_hello {
	char host[PC_HTTP_HOST_MAX + 1]; /* on FOUND; "" otherwise */
	size_t len;	    /* on FOUND/NONE: bytes of the records holding the ClientHello */
	bool alpn;	    /* an ALPN extension (RFC 7301) is offered ... */
	bool alpn_h2;	    /* ... naming "h2" */
	bool alpn_http11;   /* ... naming "http/1.1" */
	const char *reason; /* on ERROR */
};

enum pc_sni_result pc_tls_hello_parse(const uint8_t *buf, size_t len, struct pc_tls_hello *h);
/* The same, for callers that want only the name. reason may be NULL. */
enum pc_sni_result pc_tls_sni_parse(const uint8_t *buf, size_t len, char host[PC_HTTP_HOST_MAX + 1],
				    const char **reason);
