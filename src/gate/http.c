/* gate/http: HTTP/1.1 request and response heads, strictly (RFC 9112).
 *
 * One scanner walks the bytes once, line by line, as they arrive: it
 * enforces CRLF, rejects NUL and the size limits early, and hands each
 * completed line to the request-line, status-line or field-line parser.
 * The empty line ends the head; then the framing rules decide the body.
 * See proto.h for the rules and why.
 */
#include "gate/proto.h"

#include "util/util.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* ---- characters -------------------------------------------------------- */

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* field-vchar / SP / HTAB; obs-text allowed (RFC 9110 section 5.5) */
static bool is_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static bool range_ieq(const char *buf, uint32_t s, uint32_t e, const char *str)
{
	size_t n = strlen(str);
	if (e - s != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(buf[s + i]) != lower(str[i]))
			return false;
	return true;
}

bool pc_http_span_eq(const char *buf, struct pc_http_span s, const char *str)
{
	return range_ieq(buf, s.off, s.off + s.len, str);
}

int pc_http_find_header(const struct pc_http_head *h, const char *buf, const char *name)
{
	for (unsigned i = 0; i < h->nheaders; i++)
		if (pc_http_span_eq(buf, h->headers[i].name, name))
			return (int)i;
	return -1;
}

bool pc_proto_valid_hostname(const char *s, size_t n)
{
	if (n == 0 || n > PC_HTTP_HOST_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
			  c == '-' || c == '_' || c == '.';
		if (!ok || (c == '.' && i + 1 < n && s[i + 1] == '.'))
			return false;
	}
	return true;
}

enum pc_proto pc_proto_detect(uint8_t first_byte)
{
	if (first_byte == 0x05)
		return PC_PROTO_SOCKS5;
	if (first_byte == 0x04)
		return PC_PROTO_SOCKS4;
	if (first_byte == 0x16)
		return PC_PROTO_TLS;
	if ((first_byte >= 'A' && first_byte <= 'Z') || (first_byte >= 'a' && first_byte <= 'z'))
		return PC_PROTO_HTTP;
	return PC_PROTO_UNKNOWN;
}

/* ---- errors ------------------------------------------------------------ */

static enum pc_http_result fail(struct pc_http_head *h, int status, const char *reason)
{
	h->status = h->is_response ? 502 : status;
	h->reason = reason;
	return PC_HTTP_ERROR;
}

/* ---- lists: 1#element with OWS, empty elements skipped ----------------- */

/* The next non-empty element of the comma list in [*p, end), trimmed. */
static bool list_next(const char *buf, uint32_t *p, uint32_t end, uint32_t *es, uint32_t *ee)
{
	while (*p < end) {
		uint32_t s = *p, e;
		while (*p < end && buf[*p] != ',')
			(*p)++;
		e = *p;
		if (*p < end)
			(*p)++; /* the comma */
		while (s < e && is_ows(buf[s]))
			s++;
		while (e > s && is_ows(buf[e - 1]))
			e--;
		if (e > s) {
			*es = s;
			*ee = e;
			return true;
		}
	}
	return false;
}

static bool range_is_token(const char *buf, uint32_t s, uint32_t e)
{
	if (s == e)
		return false;
	for (uint32_t i = s; i < e; i++)
		if (!is_tchar(buf[i]))
			return false;
	return true;
}

/* ---- authority: host[:port] -------------------------------------------- */

/* Parse [s, e) as uri-host [":" port] into host (lowercased), *port and
 * *ipv6. port_required for CONNECT. Returns NULL or the reason it is bad. */
static const char *parse_authority(const char *buf, uint32_t s, uint32_t e, bool port_required,
				   char host[PC_HTTP_HOST_MAX + 1], uint16_t *port, bool *ipv6)
{
	uint32_t hs, he, p;

	for (uint32_t i = s; i < e; i++) {
		if (buf[i] == '@')
			return "userinfo in authority";
		if (!is_field_char(buf[i]) || buf[i] == ' ' || buf[i] == '\t')
			return "invalid character in authority";
	}
	if (s == e)
		return "empty host";
	*ipv6 = buf[s] == '[';
	if (*ipv6) {
		char tmp[64];
		unsigned char bin[16];
		hs = s + 1;
		he = hs;
		while (he < e && buf[he] != ']')
			he++;
		if (he == e)
			return "unterminated IPv6 literal";
		if (he - hs == 0 || he - hs >= sizeof(tmp))
			return "invalid IPv6 literal";
		memcpy(tmp, buf + hs, he - hs);
		tmp[he - hs] = '\0';
		if (inet_pton(AF_INET6, tmp, bin) != 1)
			return "invalid IPv6 literal";
		p = he + 1;
		if (p < e && buf[p] != ':')
			return "garbage after IPv6 literal";
	} else {
		hs = s;
		he = s;
		while (he < e && buf[he] != ':')
			he++;
		if (!pc_proto_valid_hostname(buf + hs, he - hs))
			return "invalid host name";
		p = he;
	}
	for (uint32_t i = hs; i < he; i++)
		host[i - hs] = (char)lower(buf[i]);
	host[he - hs] = '\0';

	if (p == e) {
		if (port_required)
			return "port required";
		*port = 80;
		return NULL;
	}
	p++; /* ':' */
	if (p == e || e - p > 5)
		return "invalid port";
	uint32_t v = 0;
	for (; p < e; p++) {
		if (!is_digit(buf[p]))
			return "invalid port";
		v = v * 10 + (uint32_t)(buf[p] - '0');
	}
	if (v == 0 || v > 65535)
		return "port out of range";
	*port = (uint16_t)v;
	return NULL;
}

/* ---- request line ------------------------------------------------------ */

/* "HTTP/1.1" at [s, s+8) exactly. Returns 0 ok, 400 malformed, 505 other. */
static int parse_version(const char *buf, uint32_t s, uint32_t e, unsigned *minor)
{
	if (e - s != 8 || memcmp(buf + s, "HTTP/", 5) != 0 || !is_digit(buf[s + 5]) ||
	    buf[s + 6] != '.' || !is_digit(buf[s + 7]))
		return 400;
	if (buf[s + 5] != '1' || (buf[s + 7] != '0' && buf[s + 7] != '1'))
		return 505;
	*minor = (unsigned)(buf[s + 7] - '0');
	return 0;
}

static enum pc_http_result parse_target(struct pc_http_request *r, const char *buf, uint32_t s,
					uint32_t e)
{
	struct pc_http_head *h = &r->h;
	const char *why;

	for (uint32_t i = s; i < e; i++) {
		unsigned char c = buf[i];
		if (c <= 0x20 || c >= 0x7f)
			return fail(h, 400, "invalid character in request-target");
		if (c == '#')
			return fail(h, 400, "fragment in request-target");
		if (c == '%' && (i + 2 >= e || !is_hex(buf[i + 1]) || !is_hex(buf[i + 2])))
			return fail(h, 400, "bad percent-encoding in request-target");
	}
	r->target = (struct pc_http_span){s, e - s};

	if (r->is_connect) {
		if (buf[s] == '/' || memchr(buf + s, '/', e - s))
			return fail(h, 400, "CONNECT needs authority-form host:port");
		r->form = PC_HTTP_FORM_AUTHORITY;
		why = parse_authority(buf, s, e, true, r->host, &r->port, &r->host_ipv6);
		if (why)
			return fail(h, 400, why);
		r->path = (struct pc_http_span){e, 0};
		return PC_HTTP_NEED_MORE;
	}
	if (buf[s] == '/') {
		r->form = PC_HTTP_FORM_ORIGIN;
		r->path = r->target;
		return PC_HTTP_NEED_MORE;
	}
	/* absolute-form: scheme "://" authority path-abempty [ "?" query ] */
	uint32_t p = s;
	if (!((buf[p] >= 'a' && buf[p] <= 'z') || (buf[p] >= 'A' && buf[p] <= 'Z')))
		return fail(h, 400, "invalid request-target");
	while (p < e && (is_digit(buf[p]) || buf[p] == '+' || buf[p] == '-' || buf[p] == '.' ||
			 (lower(buf[p]) >= 'a' && lower(buf[p]) <= 'z')))
		p++;
	if (e - p < 3 || memcmp(buf + p, "://", 3) != 0)
		return fail(h, 400, "invalid request-target");
	if (range_ieq(buf, s, p, "https"))
		return fail(h, 400, "https in absolute-form: use CONNECT");
	if (!range_ieq(buf, s, p, "http"))
		return fail(h, 501, "scheme not supported");
	uint32_t as = p + 3, ae = as;
	while (ae < e && buf[ae] != '/' && buf[ae] != '?')
		ae++;
	why = parse_authority(buf, as, ae, false, r->host, &r->port, &r->host_ipv6);
	if (why)
		return fail(h, 400, why);
	r->form = PC_HTTP_FORM_ABSOLUTE;
	r->path = (struct pc_http_span){ae, e - ae};
	return PC_HTTP_NEED_MORE;
}

static enum pc_http_result parse_request_line(struct pc_http_request *r, const char *buf,
					      uint32_t s, uint32_t e)
{
	struct pc_http_head *h = &r->h;
	uint32_t p = s;

	while (p < e && is_tchar(buf[p]))
		p++;
	if (p == s || p == e || buf[p] != ' ')
		return fail(h, 400, "invalid method");
	r->method = (struct pc_http_span){s, p - s};
	uint32_t ts = ++p;
	while (p < e && buf[p] != ' ')
		p++;
	if (p == ts || p == e)
		return fail(h, 400, "invalid request line");
	uint32_t te = p++;
	int st = parse_version(buf, p, e, &h->version_minor);
	if (st)
		return fail(h, st,
			    st == 505 ? "HTTP version not supported" : "invalid HTTP version");
	/* methods are case-sensitive */
	r->is_connect = r->method.len == 7 && memcmp(buf + s, "CONNECT", 7) == 0;
	r->is_head = r->method.len == 4 && memcmp(buf + s, "HEAD", 4) == 0;
	return parse_target(r, buf, ts, te);
}

/* ---- status line ------------------------------------------------------- */

static enum pc_http_result parse_status_line(struct pc_http_response *r, const char *buf,
					     uint32_t s, uint32_t e)
{
	struct pc_http_head *h = &r->h;

	if (e - s < 12 || buf[s + 8] != ' ')
		return fail(h, 502, "invalid status line");
	if (parse_version(buf, s, s + 8, &h->version_minor))
		return fail(h, 502, "invalid HTTP version in status line");
	uint32_t p = s + 9;
	if (!is_digit(buf[p]) || !is_digit(buf[p + 1]) || !is_digit(buf[p + 2]) || buf[p] == '0')
		return fail(h, 502, "invalid status code");
	r->status_code =
		(unsigned)((buf[p] - '0') * 100 + (buf[p + 1] - '0') * 10 + (buf[p + 2] - '0'));
	p += 3;
	if (p < e && buf[p] != ' ')
		return fail(h, 502, "invalid status line");
	if (p < e)
		p++;
	for (uint32_t i = p; i < e; i++)
		if (!is_field_char(buf[i]))
			return fail(h, 502, "invalid character in reason phrase");
	r->reason_phrase = (struct pc_http_span){p, e - p};
	return PC_HTTP_NEED_MORE;
}

/* ---- field lines ------------------------------------------------------- */

static const char *const hop_names[] = {
	"connection",	      "keep-alive", "proxy-connection", "proxy-authorization",
	"proxy-authenticate", "te",	    "trailer",		"upgrade",
};

static enum pc_http_result parse_content_length(struct pc_http_head *h, const char *buf, uint32_t s,
						uint32_t e)
{
	uint64_t v = 0;

	if (++h->cl_count > 1)
		return fail(h, 400, "more than one Content-Length");
	if (s == e)
		return fail(h, 400, "empty Content-Length");
	for (uint32_t i = s; i < e; i++) {
		if (!is_digit(buf[i]))
			return fail(h, 400, "Content-Length is not a number");
		unsigned d = (unsigned)(buf[i] - '0');
		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return fail(h, 400, "Content-Length too large");
		v = v * 10 + d;
	}
	h->content_length = v;
	return PC_HTTP_NEED_MORE;
}

/* Transfer-Encoding lines form one list; the verdict comes at the end. */
static void note_transfer_encoding(struct pc_http_head *h, const char *buf, uint32_t s, uint32_t e)
{
	uint32_t p = s, es, ee, n = 0;

	h->te_lines++;
	while (list_next(buf, &p, e, &es, &ee)) {
		n++;
		uint32_t ts = es;
		while (ts < ee && buf[ts] != ';')
			ts++;
		uint32_t tend = ts;
		while (tend > es && is_ows(buf[tend - 1]))
			tend--;
		if (!range_is_token(buf, es, tend)) {
			h->te_bad = true;
			continue;
		}
		if (range_ieq(buf, es, tend, "chunked")) {
			h->te_chunked++;
			h->te_final_chunked = true;
			if (ts != ee)
				h->te_bad = true; /* chunked takes no parameters */
		} else {
			h->te_other = true;
			h->te_final_chunked = false;
		}
	}
	if (n == 0)
		h->te_bad = true;
}

static enum pc_http_result parse_field_line(struct pc_http_head *h, const char *buf, uint32_t s,
					    uint32_t e)
{
	uint32_t p = s;

	if (is_ows(buf[s]))
		return fail(h, 400, "obs-fold or whitespace at start of header line");
	while (p < e && is_tchar(buf[p]))
		p++;
	if (p == e)
		return fail(h, 400, "header line without colon");
	if (buf[p] != ':')
		return fail(h, 400,
			    is_ows(buf[p]) ? "whitespace before colon in header"
					   : "invalid header name");
	if (p == s)
		return fail(h, 400, "empty header name");
	uint32_t ns = s, ne = p, vs = p + 1, ve = e;
	while (vs < ve && is_ows(buf[vs]))
		vs++;
	while (ve > vs && is_ows(buf[ve - 1]))
		ve--;
	for (uint32_t i = vs; i < ve; i++)
		if (!is_field_char(buf[i]))
			return fail(h, 400, "control character in header value");
	if (h->nheaders >= h->max_headers)
		return fail(h, 431, "too many header fields");

	struct pc_http_header *f = &h->headers[h->nheaders++];
	f->name = (struct pc_http_span){ns, ne - ns};
	f->value = (struct pc_http_span){vs, ve - vs};
	f->hop = false;
	for (size_t i = 0; i < PC_ARRAY_SIZE(hop_names); i++)
		if (range_ieq(buf, ns, ne, hop_names[i]))
			f->hop = true;

	if (range_ieq(buf, ns, ne, "content-length"))
		return parse_content_length(h, buf, vs, ve);
	if (range_ieq(buf, ns, ne, "transfer-encoding")) {
		note_transfer_encoding(h, buf, vs, ve);
	} else if (range_ieq(buf, ns, ne, "host")) {
		if (++h->host_count > 1)
			return fail(h, 400, "more than one Host");
		h->host_header = (int)(h->nheaders - 1);
	} else if (range_ieq(buf, ns, ne, "proxy-authorization")) {
		h->proxy_authorization = true;
	} else if (range_ieq(buf, ns, ne, "upgrade")) {
		h->upgrade = true;
	} else if (range_ieq(buf, ns, ne, "expect")) {
		if (range_ieq(buf, vs, ve, "100-continue"))
			h->expect_continue = true;
	} else if (range_ieq(buf, ns, ne, "connection")) {
		uint32_t q = vs, es, ee;
		while (list_next(buf, &q, ve, &es, &ee)) {
			if (!range_is_token(buf, es, ee))
				return fail(h, 400, "invalid Connection option");
			if (range_ieq(buf, es, ee, "close"))
				h->conn_close = true;
			else if (range_ieq(buf, es, ee, "keep-alive"))
				h->conn_keep_alive = true;
			else if (range_ieq(buf, es, ee, "content-length") ||
				 range_ieq(buf, es, ee, "transfer-encoding") ||
				 range_ieq(buf, es, ee, "host"))
				return fail(h, 400, "Connection names a framing header");
		}
	}
	return PC_HTTP_NEED_MORE;
}

/* ---- the end of the head: framing -------------------------------------- */

/* Mark the headers that Connection nominates as hop-by-hop. */
static void mark_connection_options(struct pc_http_head *h, const char *buf)
{
	for (unsigned i = 0; i < h->nheaders; i++) {
		if (!pc_http_span_eq(buf, h->headers[i].name, "connection"))
			continue;
		struct pc_http_span v = h->headers[i].value;
		uint32_t q = v.off, es, ee;
		while (list_next(buf, &q, v.off + v.len, &es, &ee))
			for (unsigned j = 0; j < h->nheaders; j++)
				if (h->headers[j].name.len == ee - es &&
				    strncasecmp(buf + h->headers[j].name.off, buf + es, ee - es) ==
					    0)
					h->headers[j].hop = true;
	}
}

/* The framing shared by requests and responses. */
static enum pc_http_result framing(struct pc_http_head *h, const char *buf)
{
	mark_connection_options(h, buf);
	h->keep_alive =
		h->version_minor == 1 ? !h->conn_close : (h->conn_keep_alive && !h->conn_close);
	if (h->te_lines) {
		if (h->cl_count)
			return fail(h, 400, "both Content-Length and Transfer-Encoding");
		if (h->version_minor == 0)
			return fail(h, 400, "Transfer-Encoding in HTTP/1.0");
		if (h->te_bad || h->te_chunked > 1)
			return fail(h, 400, "malformed Transfer-Encoding");
		if (h->te_chunked && !h->te_final_chunked)
			return fail(h, 400, "chunked is not the final transfer coding");
		h->body = PC_HTTP_BODY_CHUNKED;
		return PC_HTTP_DONE;
	}
	if (h->cl_count)
		h->body = h->content_length ? PC_HTTP_BODY_LENGTH : PC_HTTP_BODY_NONE;
	return PC_HTTP_DONE;
}

static enum pc_http_result finish_request(struct pc_http_request *r, const char *buf)
{
	struct pc_http_head *h = &r->h;
	enum pc_http_result res = framing(h, buf);

	if (res != PC_HTTP_DONE)
		return res;
	if (h->te_lines && h->te_other)
		return fail(h, 501, "transfer coding not implemented");
	if (h->version_minor == 1 && h->host_count == 0)
		return fail(h, 400, "HTTP/1.1 request without Host");
	if (h->host_header >= 0) {
		struct pc_http_span v = h->headers[h->host_header].value;
		char host[PC_HTTP_HOST_MAX + 1];
		uint16_t port;
		bool v6;
		const char *why =
			parse_authority(buf, v.off, v.off + v.len, false, host, &port, &v6);
		if (why)
			return fail(h, 400, "invalid Host header");
		if (r->form == PC_HTTP_FORM_ORIGIN) {
			memcpy(r->host, host, sizeof(host));
			r->port = port;
			r->host_ipv6 = v6;
		} else {
			/* RFC 9112 3.2.2: the target wins, Host is replaced */
			h->headers[h->host_header].hop = true;
		}
	}
	if (r->is_connect) {
		if (h->body != PC_HTTP_BODY_NONE)
			return fail(h, 400, "CONNECT with a body");
	}
	return PC_HTTP_DONE;
}

static enum pc_http_result finish_response(struct pc_http_response *r, const char *buf, bool head,
					   bool connect)
{
	struct pc_http_head *h = &r->h;
	unsigned c = r->status_code;

	/* responses may carry other codings before chunked ("gzip, chunked");
	 * if chunked is not final the body runs until close (RFC 9112 6.3) */
	if (h->te_lines && !h->te_bad && h->te_chunked <= 1 && !h->te_final_chunked &&
	    !h->cl_count && h->version_minor == 1) {
		h->te_lines = 0;
		mark_connection_options(h, buf);
		h->body = PC_HTTP_BODY_CLOSE;
	} else {
		enum pc_http_result res = framing(h, buf);
		if (res != PC_HTTP_DONE)
			return res;
		if (h->body == PC_HTTP_BODY_NONE && !h->cl_count)
			h->body = PC_HTTP_BODY_CLOSE;
	}
	r->interim = c >= 100 && c < 200 && c != 101;
	if ((c >= 100 && c < 200) || c == 204 || c == 304 || head ||
	    (connect && c >= 200 && c < 300)) {
		h->body = PC_HTTP_BODY_NONE;
		if (c == 101 || connect)
			h->keep_alive = false;
		return PC_HTTP_DONE;
	}
	if (h->body == PC_HTTP_BODY_CLOSE)
		h->keep_alive = false;
	return PC_HTTP_DONE;
}

/* ---- the scanner ------------------------------------------------------- */

static void head_init(struct pc_http_head *h, const struct pc_http_limits *lim)
{
	h->max_head = lim && lim->max_head ? lim->max_head : PC_HTTP_MAX_HEAD_DEFAULT;
	if (h->max_head > UINT32_MAX - 1)
		h->max_head = UINT32_MAX - 1;
	h->max_headers = lim && lim->max_headers ? lim->max_headers : PC_HTTP_MAX_HEADERS_DEFAULT;
	if (h->max_headers > PC_HTTP_HEADERS_CAP)
		h->max_headers = PC_HTTP_HEADERS_CAP;
}

typedef enum pc_http_result (*first_line_fn)(void *msg, const char *buf, uint32_t s, uint32_t e);

static enum pc_http_result req_line(void *msg, const char *buf, uint32_t s, uint32_t e)
{
	return parse_request_line(msg, buf, s, e);
}

static enum pc_http_result status_line(void *msg, const char *buf, uint32_t s, uint32_t e)
{
	return parse_status_line(msg, buf, s, e);
}

/* Walk the new bytes; DONE when the empty line is reached. */
static enum pc_http_result scan(struct pc_http_head *h, void *msg, first_line_fn first,
				const char *buf, size_t len)
{
	if (h->status)
		return PC_HTTP_ERROR; /* sticky */
	if (h->head_len)
		return PC_HTTP_DONE;
	for (size_t i = h->scanned; i < len; i++) {
		unsigned char c = buf[i];
		if (i >= h->max_head) {
			h->scanned = (uint32_t)i;
			return fail(h, h->have_first_line ? 431 : 414,
				    h->have_first_line ? "request header fields too large"
						       : "request line too long");
		}
		if (h->cr) {
			if (c != '\n')
				return fail(h, 400, "CR not followed by LF");
			h->cr = false;
			uint32_t s = h->line_start, e = (uint32_t)i - 1;
			enum pc_http_result res;
			h->line_start = (uint32_t)i + 1;
			h->scanned = (uint32_t)i + 1;
			if (!h->have_first_line) {
				h->have_first_line = true;
				if (s == e)
					return fail(h, 400, "empty request line");
				res = first(msg, buf, s, e);
			} else if (s == e) {
				h->head_len = (uint32_t)i + 1;
				return PC_HTTP_DONE;
			} else {
				res = parse_field_line(h, buf, s, e);
			}
			if (res == PC_HTTP_ERROR)
				return res;
			continue;
		}
		if (c == '\r')
			h->cr = true;
		else if (c == '\n')
			return fail(h, 400, "bare LF");
		else if (c == '\0')
			return fail(h, 400, "NUL in head");
	}
	h->scanned = (uint32_t)len;
	return PC_HTTP_NEED_MORE;
}

void pc_http_request_init(struct pc_http_request *r)
{
	memset(r, 0, offsetof(struct pc_http_request, h.headers));
	memset(&r->h.body, 0, sizeof(*r) - offsetof(struct pc_http_request, h.body));
	r->h.host_header = -1;
}

enum pc_http_result pc_http_request_parse(struct pc_http_request *r, const char *buf, size_t len,
					  const struct pc_http_limits *lim)
{
	bool fresh = r->h.scanned == 0 && !r->h.head_len && !r->h.status;
	if (fresh)
		head_init(&r->h, lim);
	bool was_done = r->h.head_len != 0;
	enum pc_http_result res = scan(&r->h, r, req_line, buf, len);
	if (res == PC_HTTP_DONE && !was_done) {
		res = finish_request(r, buf);
		if (res == PC_HTTP_ERROR)
			r->h.head_len = 0;
	}
	return res;
}

void pc_http_response_init(struct pc_http_response *r)
{
	memset(r, 0, offsetof(struct pc_http_response, h.headers));
	memset(&r->h.body, 0, sizeof(*r) - offsetof(struct pc_http_response, h.body));
	r->h.host_header = -1;
	r->h.is_response = true;
}

enum pc_http_result pc_http_response_parse(struct pc_http_response *r, const char *buf, size_t len,
					   const struct pc_http_limits *lim,
					   bool request_method_head, bool request_connect)
{
	bool fresh = r->h.scanned == 0 && !r->h.head_len && !r->h.status;
	if (fresh)
		head_init(&r->h, lim);
	bool was_done = r->h.head_len != 0;
	enum pc_http_result res = scan(&r->h, r, status_line, buf, len);
	if (res == PC_HTTP_DONE && !was_done) {
		res = finish_response(r, buf, request_method_head, request_connect);
		if (res == PC_HTTP_ERROR)
			r->h.head_len = 0;
	}
	return res;
}
