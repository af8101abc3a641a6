/* libFuzzer harness for the gate's SOCKS5 parsers (see README.md).
 *
 * The input is a greeting followed by a request. Each parser sees every
 * prefix: NEED_MORE until it decides, then the same answer as for the
 * whole input; DONE results must be well formed. Any violation aborts. */
#include "gate/proto.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MUST(c)                                                                                    \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pc_socks5_greeting g, g2;
	struct pc_socks5_request q, q2;
	enum pc_socks_result whole, r = PC_SOCKS_NEED_MORE;
	size_t i, off = 0;

	whole = pc_socks5_greeting_parse(data, size, &g);
	for (i = 0; i <= size && r == PC_SOCKS_NEED_MORE; i++)
		r = pc_socks5_greeting_parse(data, i, &g2);
	MUST(r == whole);
	if (whole == PC_SOCKS_DONE) {
		MUST(g.len >= 2 && g.len <= size && g.len == g2.len);
		MUST(g.method == PC_SOCKS5_NO_AUTH || g.method == PC_SOCKS5_NO_ACCEPTABLE);
		off = g.len;
	} else if (whole != PC_SOCKS_NEED_MORE) {
		MUST(g.reason);
	}

	const uint8_t *rq = data + off;
	size_t rn = size - off;
	whole = pc_socks5_request_parse(rq, rn, &q);
	r = PC_SOCKS_NEED_MORE;
	for (i = 0; i <= rn && r == PC_SOCKS_NEED_MORE; i++)
		r = pc_socks5_request_parse(rq, i, &q2);
	MUST(r == whole);
	if (whole == PC_SOCKS_DONE) {
		MUST(q.len >= 8 && q.len <= rn && q.len == q2.len && q.port != 0);
		size_t hl = strnlen(q.host, sizeof(q.host));
		MUST(hl > 0 && hl < sizeof(q.host) && !strcmp(q.host, q2.host));
		for (size_t k = 0; k < hl; k++)
			MUST(q.host[k] > 0x20 && q.host[k] < 0x7f);
	} else if (whole == PC_SOCKS_ERROR) {
		MUST(q.reply >= 1 && q.reply <= 8 && q.reason && q.reply == q2.reply);
	}

	uint8_t out[PC_SOCKS5_REPLY_MAX];
	uint8_t addr[16] = {0};
	memcpy(addr, data, size < 16 ? size : 16);
	int fam = size && (data[0] & 1) ? AF_INET6 : AF_INET;
	size_t n = pc_socks5_reply(out, size ? data[0] : 0, fam, addr, (uint16_t)size);
	MUST(n == (fam == AF_INET6 ? 22u : 10u) && out[0] == 5);
	return 0;
}
