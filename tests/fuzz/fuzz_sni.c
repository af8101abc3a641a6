/* libFuzzer harness for the gate's TLS ClientHello SNI parser (see
 * README.md).
 *
 * The input is what a client sent first. Every prefix gives NEED_MORE
 * until the parser decides, then the same answer as the whole input (so
 * bytes after the ClientHello never matter); FOUND gives a valid
 * lowercase host name without a trailing dot; a decided ClientHello cut
 * into records of another size (picked by the last input byte) gives the
 * same answer. Any violation aborts. */
#include "gate/proto.h"

#include <stdlib.h>
#include <string.h>

#define MUST(c)                                                                                    \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t msg[PC_TLS_SNI_INPUT_MAX], resplit[6 * PC_TLS_SNI_INPUT_MAX];

static bool same(const struct pc_tls_hello *a, const struct pc_tls_hello *b)
{
	return strcmp(a->host, b->host) == 0 && a->alpn == b->alpn && a->alpn_h2 == b->alpn_h2 &&
	       a->alpn_http11 == b->alpn_http11;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pc_tls_hello whole, part, other;
	enum pc_sni_result w, r = PC_SNI_NEED_MORE;
	size_t i;

	w = pc_tls_hello_parse(data, size, &whole);
	for (i = 0; i <= size && r == PC_SNI_NEED_MORE; i++)
		r = pc_tls_hello_parse(data, i, &part);
	MUST(r == w && same(&whole, &part) && whole.len == part.len);

	switch (w) {
	case PC_SNI_ERROR:
		MUST(whole.reason && !whole.host[0] && part.reason == whole.reason);
		return 0;
	case PC_SNI_NEED_MORE:
		MUST(!whole.host[0] && size < PC_TLS_SNI_INPUT_MAX);
		return 0;
	case PC_SNI_NONE:
		MUST(!whole.host[0]);
		break;
	case PC_SNI_FOUND: {
		size_t n = strlen(whole.host);
		MUST(n > 0 && n <= PC_HTTP_HOST_MAX && pc_proto_valid_hostname(whole.host, n));
		MUST(whole.host[n - 1] != '.' && !pc_dns_name_is_numeric(whole.host, n));
		for (size_t k = 0; k < n; k++)
			MUST(!(whole.host[k] >= 'A' && whole.host[k] <= 'Z'));
		break;
	}
	default:
		abort();
	}
	MUST(whole.len >= 5 + 4 + 38 && whole.len <= size && whole.len <= PC_TLS_SNI_INPUT_MAX);
	MUST(!whole.reason);

	/* the records' payload, cut again into records of k bytes */
	size_t m = 0, o = 0, k = 1 + (size_t)data[size - 1] * 67 % 16384;
	for (size_t p = 0; p < whole.len;) {
		size_t l = (size_t)data[p + 3] << 8 | data[p + 4];
		MUST(data[p] == 22 && p + 5 + l <= whole.len);
		memcpy(msg + m, data + p + 5, l);
		m += l;
		p += 5 + l;
	}
	for (size_t p = 0; p < m; p += k) {
		size_t l = m - p < k ? m - p : k;
		memcpy(resplit + o, data, 3);
		resplit[o + 3] = (uint8_t)(l >> 8);
		resplit[o + 4] = (uint8_t)l;
		memcpy(resplit + o + 5, msg + p, l);
		o += 5 + l;
	}
	r = pc_tls_hello_parse(resplit, o, &other);
	if (o < PC_TLS_SNI_INPUT_MAX)
		MUST(r == w && same(&whole, &other) && other.len <= o);
	else
		MUST(r == PC_SNI_ERROR || (r == w && same(&whole, &other)));
	return 0;
}
