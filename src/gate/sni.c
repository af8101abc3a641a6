/* gate/sni: the server name in a TLS ClientHello, for connections the gate
 * captured transparently. Semantics are in proto.h.
 *
 * Two passes. The first walks record headers only, collecting the 4-byte
 * handshake header to learn the ClientHello's length, and says NEED_MORE
 * until every record holding it has arrived; so a buffer fed a byte at a
 * time costs a few record headers per call, not a reparse. The second
 * reads the complete message through a cursor that steps over record
 * headers, checking every length against what encloses it.
 *
 *   record:      type=22 version(2)=3.x length(2) fragment
 *   handshake:   type=1 length(3) body
 *   ClientHello: version(2) random(32) session_id<0..32>
 *                cipher_suites<2..2^16-2> compression_methods<1..2^8-1>
 *                [extensions<8..2^16-1>]           (RFC 8446 4.1.2)
 *   extension:   type(2) data<0..2^16-1>
 *   server_name (0): ServerNameList<1..2^16-1> of
 *                NameType(1)=host_name(0) HostName<1..2^16-1> (RFC 6066 3)
 *   ALPN (16):   ProtocolNameList<2..2^16-1> of ProtocolName<1..2^8-1>
 */
#include "gate/proto.h"

#include <string.h>

#define REC_HANDSHAKE	22
#define REC_HDR		5
#define REC_MAX		16384 /* 2^14, RFC 8446 5.1 */
#define HS_CLIENT_HELLO 1
#define HS_HDR		4
#define EXT_SERVER_NAME 0
#define EXT_ALPN	16
#define SNI_HOST_NAME	0

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* Reads the handshake message across records (all present, headers
 * checked by the first pass). left: bytes of the message not yet read. */
struct cursor {
	const uint8_t *buf;
	size_t pos, rec_left, left;
};

static bool take(struct cursor *c, uint8_t *out, size_t n)
{
	if (n > c->left)
		return false;
	c->left -= n;
	while (n > 0) {
		if (c->rec_left == 0) {
			c->rec_left = get16(c->buf + c->pos + 3);
			c->pos += REC_HDR;
		}
		size_t k = n < c->rec_left ? n : c->rec_left;
		if (out) {
			memcpy(out, c->buf + c->pos, k);
			out += k;
		}
		c->pos += k;
		c->rec_left -= k;
		n -= k;
	}
	return true;
}

static bool u8(struct cursor *c, unsigned *v)
{
	uint8_t b;
	if (!take(c, &b, 1))
		return false;
	*v = b;
	return true;
}

static bool u16(struct cursor *c, unsigned *v)
{
	uint8_t b[2];
	if (!take(c, b, 2))
		return false;
	*v = get16(b);
	return true;
}

static enum pc_sni_result fail(struct pc_tls_hello *h, const char *reason)
{
	h->host[0] = '\0';
	h->reason = reason;
	return PC_SNI_ERROR;
}

/* First pass: *msg_len and *end (the end of the last record holding the
 * message) once all of it is in buf. */
static enum pc_sni_result scan(const uint8_t *buf, size_t len, struct pc_tls_hello *h,
			       size_t *msg_len, size_t *end)
{
	uint8_t hs[HS_HDR];
	size_t pos = 0, seen = 0; /* handshake bytes seen, over all records */
	bool known = false;	  /* *msg_len is known */

	for (;;) {
		if (pos + REC_HDR + 1 > PC_TLS_SNI_INPUT_MAX) /* no room for another record */
			return fail(h, "ClientHello spread over too many bytes");
		if (pos >= len)
			return PC_SNI_NEED_MORE;
		if (buf[pos] != REC_HANDSHAKE)
			return fail(h, "not a TLS handshake record");
		if (pos + 1 < len && buf[pos + 1] != 3)
			return fail(h, "TLS record version is not 3.x");
		if (pos + REC_HDR > len)
			return PC_SNI_NEED_MORE;
		size_t rlen = get16(buf + pos + 3);
		if (rlen == 0)
			return fail(h, "empty TLS handshake record");
		if (rlen > REC_MAX)
			return fail(h, "TLS record longer than 2^14 bytes");
		if (pos + REC_HDR + rlen > PC_TLS_SNI_INPUT_MAX)
			return fail(h, "ClientHello spread over too many bytes");
		pos += REC_HDR;
		size_t avail = len - pos < rlen ? len - pos : rlen;
		for (size_t i = 0; seen + i < HS_HDR && i < avail; i++)
			hs[seen + i] = buf[pos + i];
		seen += avail;
		if (seen >= 1 && hs[0] != HS_CLIENT_HELLO)
			return fail(h, "first handshake message is not a ClientHello");
		if (seen >= HS_HDR && !known) {
			*msg_len = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
			if (*msg_len + HS_HDR > PC_TLS_HELLO_MAX)
				return fail(h, "ClientHello longer than 16 KiB");
			known = true;
		}
		if (avail < rlen)
			return PC_SNI_NEED_MORE;
		pos += rlen;
		if (known && seen >= *msg_len + HS_HDR) {
			*end = pos;
			return PC_SNI_FOUND;
		}
	}
}

static bool host_ok(const char *s, size_t n)
{
	return pc_proto_valid_hostname(s, n) && s[n - 1] != '.' && !pc_dns_name_is_numeric(s, n);
}

static enum pc_sni_result server_name(struct cursor *c, size_t elen, struct pc_tls_hello *h)
{
	unsigned list, type, n;

	if (h->host[0])
		return fail(h, "two server_name extensions");
	if (elen < 2 || !u16(c, &list) || list + 2 != elen || list == 0)
		return fail(h, "malformed server_name extension");
	while (list > 0) {
		if (list < 3 || !u8(c, &type) || !u16(c, &n) || n + 3 > list)
			return fail(h, "malformed server_name list");
		if (type != SNI_HOST_NAME)
			return fail(h, "server_name of an unknown type");
		if (h->host[0])
			return fail(h, "two host names in server_name");
		if (n == 0 || n > PC_HTTP_HOST_MAX)
			return fail(h, "server_name host name of a bad length");
		if (!take(c, (uint8_t *)h->host, n))
			return fail(h, "malformed server_name list");
		if (!host_ok(h->host, n))
			return fail(h, "server_name is not a valid host name");
		for (unsigned i = 0; i < n; i++)
			if (h->host[i] >= 'A' && h->host[i] <= 'Z')
				h->host[i] = (char)(h->host[i] + 32);
		h->host[n] = '\0';
		list -= 3 + n;
	}
	return PC_SNI_FOUND;
}

static enum pc_sni_result alpn(struct cursor *c, size_t elen, struct pc_tls_hello *h)
{
	unsigned list, n;
	char name[256];

	if (h->alpn)
		return fail(h, "two ALPN extensions");
	h->alpn = true;
	if (elen < 2 || !u16(c, &list) || list + 2 != elen || list < 2)
		return fail(h, "malformed ALPN extension");
	while (list > 0) {
		if (!u8(c, &n) || n == 0 || n + 1 > list || !take(c, (uint8_t *)name, n))
			return fail(h, "malformed ALPN protocol list");
		if (n == 2 && memcmp(name, "h2", 2) == 0)
			h->alpn_h2 = true;
		if (n == 8 && memcmp(name, "http/1.1", 8) == 0)
			h->alpn_http11 = true;
		list -= 1 + n;
	}
	return PC_SNI_FOUND;
}

enum pc_sni_result pc_tls_hello_parse(const uint8_t *buf, size_t len, struct pc_tls_hello *h)
{
	size_t msg_len = 0, end = 0;
	unsigned v, n, ext_total, type, elen;
	enum pc_sni_result r;

	memset(h, 0, sizeof(*h));
	r = scan(buf, len, h, &msg_len, &end);
	if (r != PC_SNI_FOUND)
		return r;

	struct cursor c = {.buf = buf, .left = HS_HDR};
	take(&c, NULL, HS_HDR);
	c.left = msg_len;
	if (!u16(&c, &v) || v >> 8 != 3)
		return fail(h, "ClientHello version is not 3.x");
	if (!take(&c, NULL, 32))
		return fail(h, "ClientHello cut short in random");
	if (!u8(&c, &n) || n > 32 || !take(&c, NULL, n))
		return fail(h, "malformed ClientHello session_id");
	if (!u16(&c, &n) || n < 2 || n % 2 || !take(&c, NULL, n))
		return fail(h, "malformed ClientHello cipher_suites");
	if (!u8(&c, &n) || n < 1 || !take(&c, NULL, n))
		return fail(h, "malformed ClientHello compression_methods");
	if (c.left > 0) { /* extensions are optional before TLS 1.3 */
		if (!u16(&c, &ext_total) || ext_total != c.left)
			return fail(h, "ClientHello extensions length does not match");
		while (c.left > 0) {
			if (!u16(&c, &type) || !u16(&c, &elen) || elen > c.left)
				return fail(h, "malformed ClientHello extension");
			size_t after = c.left - elen;
			if (type == EXT_SERVER_NAME)
				r = server_name(&c, elen, h);
			else if (type == EXT_ALPN)
				r = alpn(&c, elen, h);
			else
				take(&c, NULL, elen);
			if (r == PC_SNI_ERROR)
				return r;
			if (c.left != after) /* sub-parsers check; this is the backstop */
				return fail(h, "ClientHello extension length does not match");
		}
	}
	h->len = end;
	return h->host[0] ? PC_SNI_FOUND : PC_SNI_NONE;
}

enum pc_sni_result pc_tls_sni_parse(const uint8_t *buf, size_t len, char host[PC_HTTP_HOST_MAX + 1],
				    const char **reason)
{
	struct pc_tls_hello h;
	enum pc_sni_result r = pc_tls_hello_parse(buf, len, &h);

	memcpy(host, h.host, sizeof(h.host));
	if (reason)
		*reason = h.reason;
	return r;
}
