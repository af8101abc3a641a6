/* gate/socks5: the SOCKS5 greeting and CONNECT request (RFC 1928), and the
 * replies. No authentication method but "no authentication required":
 * the sandbox is the only client and the policy decides per destination.
 *
 *   greeting: VER=5 NMETHODS METHODS[NMETHODS]
 *   request:  VER=5 CMD RSV=0 ATYP DST.ADDR DST.PORT
 *   reply:    VER=5 REP RSV=0 ATYP BND.ADDR BND.PORT
 */
#include "gate/proto.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

enum pc_socks_result pc_socks5_greeting_parse(const uint8_t *buf, size_t len,
					      struct pc_socks5_greeting *g)
{
	memset(g, 0, sizeof(*g));
	g->method = PC_SOCKS5_NO_ACCEPTABLE;
	if (len < 1)
		return PC_SOCKS_NEED_MORE;
	if (buf[0] == 0x04) {
		g->reason = "SOCKS4 is not supported";
		return PC_SOCKS_UNSUPPORTED;
	}
	if (buf[0] != 0x05) {
		g->reason = "not a SOCKS5 greeting";
		return PC_SOCKS_ERROR;
	}
	if (len < 2)
		return PC_SOCKS_NEED_MORE;
	size_t n = buf[1];
	if (len < 2 + n)
		return PC_SOCKS_NEED_MORE;
	for (size_t i = 0; i < n; i++)
		if (buf[2 + i] == PC_SOCKS5_NO_AUTH)
			g->method = PC_SOCKS5_NO_AUTH;
	if (g->method != PC_SOCKS5_NO_AUTH)
		g->reason = "no acceptable authentication method";
	g->len = 2 + n;
	return PC_SOCKS_DONE;
}

size_t pc_socks5_method_reply(uint8_t out[2], uint8_t method)
{
	out[0] = 0x05;
	out[1] = method;
	return 2;
}

static enum pc_socks_result req_fail(struct pc_socks5_request *r, uint8_t reply, const char *reason)
{
	r->reply = reply;
	r->reason = reason;
	return PC_SOCKS_ERROR;
}

enum pc_socks_result pc_socks5_request_parse(const uint8_t *buf, size_t len,
					     struct pc_socks5_request *r)
{
	size_t need, alen;

	memset(r, 0, sizeof(*r));
	if (len < 1)
		return PC_SOCKS_NEED_MORE;
	if (buf[0] != 0x05)
		return req_fail(r, PC_SOCKS5_GENERAL_FAILURE, "not a SOCKS5 request");
	if (len < 2)
		return PC_SOCKS_NEED_MORE;
	if (buf[1] != 0x01)
		return req_fail(r, PC_SOCKS5_CMD_NOT_SUPPORTED,
				buf[1] == 0x02	 ? "BIND is not supported"
				: buf[1] == 0x03 ? "UDP ASSOCIATE is not supported"
						 : "unknown SOCKS5 command");
	if (len < 4)
		return PC_SOCKS_NEED_MORE;
	if (buf[2] != 0x00)
		return req_fail(r, PC_SOCKS5_GENERAL_FAILURE, "reserved byte is not zero");
	r->atyp = buf[3];
	switch (r->atyp) {
	case PC_SOCKS5_ATYP_IPV4:
		alen = 4;
		break;
	case PC_SOCKS5_ATYP_IPV6:
		alen = 16;
		break;
	case PC_SOCKS5_ATYP_DOMAIN:
		if (len < 5)
			return PC_SOCKS_NEED_MORE;
		alen = 1 + (size_t)buf[4];
		if (alen == 1)
			return req_fail(r, PC_SOCKS5_GENERAL_FAILURE, "empty domain name");
		break;
	default:
		return req_fail(r, PC_SOCKS5_ATYP_NOT_SUPPORTED, "unknown address type");
	}
	need = 4 + alen + 2;
	if (len < need)
		return PC_SOCKS_NEED_MORE;

	const uint8_t *a = buf + 4;
	if (r->atyp == PC_SOCKS5_ATYP_IPV4) {
		memcpy(r->addr, a, 4);
		snprintf(r->host, sizeof(r->host), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
	} else if (r->atyp == PC_SOCKS5_ATYP_IPV6) {
		memcpy(r->addr, a, 16);
		if (!inet_ntop(AF_INET6, a, r->host, sizeof(r->host)))
			return req_fail(r, PC_SOCKS5_GENERAL_FAILURE, "bad IPv6 address");
	} else {
		size_t n = a[0];
		for (size_t i = 0; i < n; i++) {
			uint8_t ch = a[1 + i];
			if (ch < 0x21 || ch >= 0x7f)
				return req_fail(r, PC_SOCKS5_GENERAL_FAILURE,
						"control character in domain name");
		}
		if (!pc_proto_valid_hostname((const char *)a + 1, n))
			return req_fail(r, PC_SOCKS5_GENERAL_FAILURE, "invalid domain name");
		for (size_t i = 0; i < n; i++) {
			uint8_t ch = a[1 + i];
			r->host[i] = (char)((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
		}
		r->host[n] = '\0';
	}
	r->port = (uint16_t)((buf[4 + alen] << 8) | buf[4 + alen + 1]);
	if (r->port == 0)
		return req_fail(r, PC_SOCKS5_GENERAL_FAILURE, "port 0");
	r->len = need;
	return PC_SOCKS_DONE;
}

size_t pc_socks5_reply(uint8_t out[PC_SOCKS5_REPLY_MAX], uint8_t rep, int bound_family,
		       const void *bound_addr, uint16_t bound_port)
{
	size_t n = 4;

	out[0] = 0x05;
	out[1] = rep;
	out[2] = 0x00;
	if (bound_family == AF_INET6 && bound_addr) {
		out[3] = PC_SOCKS5_ATYP_IPV6;
		memcpy(out + 4, bound_addr, 16);
		n += 16;
	} else {
		out[3] = PC_SOCKS5_ATYP_IPV4;
		if (bound_family == AF_INET && bound_addr)
			memcpy(out + 4, bound_addr, 4);
		else
			memset(out + 4, 0, 4), bound_port = 0;
		n += 4;
	}
	out[n++] = (uint8_t)(bound_port >> 8);
	out[n++] = (uint8_t)(bound_port & 0xff);
	return n;
}
