/* libFuzzer harness for the gate's HTTP parsers (see README.md).
 *
 * The first byte picks the parser and how the rest is cut into pieces;
 * the request and response parsers must give the same answer fed whole
 * and fed one byte at a time, and every span they return must lie inside
 * the head. Any disagreement aborts. */
#include "gate/proto.h"

#include <stdlib.h>
#include <string.h>

static struct pc_http_request r1, r2;
static struct pc_http_response s1, s2;

#define MUST(c)                                                                                    \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

static void check_head(const struct pc_http_head *h, enum pc_http_result res, size_t len)
{
	if (res == PC_HTTP_ERROR) {
		MUST(h->status >= 400 && h->status <= 505 && h->reason);
		return;
	}
	if (res != PC_HTTP_DONE)
		return;
	MUST(h->head_len >= 4 && h->head_len <= len);
	MUST(h->nheaders <= PC_HTTP_HEADERS_CAP);
	for (unsigned i = 0; i < h->nheaders; i++) {
		MUST(h->headers[i].name.off + h->headers[i].name.len <= h->head_len);
		MUST(h->headers[i].value.off + h->headers[i].value.len <= h->head_len);
		MUST(h->headers[i].name.len > 0);
	}
	if (h->body == PC_HTTP_BODY_LENGTH)
		MUST(h->content_length > 0 && h->content_length <= INT64_MAX);
}

static void fuzz_request(const char *d, size_t n, const struct pc_http_limits *lim)
{
	enum pc_http_result a = PC_HTTP_NEED_MORE, b;

	pc_http_request_init(&r1);
	b = pc_http_request_parse(&r1, d, n, lim);
	check_head(&r1.h, b, n);
	if (b == PC_HTTP_DONE) {
		MUST(strlen(r1.host) <= PC_HTTP_HOST_MAX);
		MUST(r1.path.off + r1.path.len <= r1.h.head_len);
		MUST(r1.form != PC_HTTP_FORM_ABSOLUTE || (r1.port && r1.host[0]));
		MUST(r1.form != PC_HTTP_FORM_AUTHORITY || (r1.port && r1.host[0]));
		MUST(!(r1.h.body == PC_HTTP_BODY_CHUNKED && r1.h.version_minor == 0));
		MUST(pc_http_request_parse(&r1, d, n, lim) == PC_HTTP_DONE);
	}
	pc_http_request_init(&r2);
	for (size_t i = 1; i <= n && a == PC_HTTP_NEED_MORE; i++)
		a = pc_http_request_parse(&r2, d, i, lim);
	MUST(a == b);
	MUST(r1.h.status == r2.h.status && r1.h.head_len == r2.h.head_len);
	if (b == PC_HTTP_DONE)
		MUST(!strcmp(r1.host, r2.host) && r1.port == r2.port && r1.h.body == r2.h.body &&
		     r1.h.content_length == r2.h.content_length && r1.h.nheaders == r2.h.nheaders);
}

static void fuzz_response(const char *d, size_t n, bool head, bool connect)
{
	enum pc_http_result a = PC_HTTP_NEED_MORE, b;

	pc_http_response_init(&s1);
	b = pc_http_response_parse(&s1, d, n, NULL, head, connect);
	check_head(&s1.h, b, n);
	if (b == PC_HTTP_ERROR)
		MUST(s1.h.status == 502);
	pc_http_response_init(&s2);
	for (size_t i = 1; i <= n && a == PC_HTTP_NEED_MORE; i++)
		a = pc_http_response_parse(&s2, d, i, NULL, head, connect);
	MUST(a == b && s1.h.body == s2.h.body && s1.h.head_len == s2.h.head_len);
}

/* Decode in pieces of `step`; returns the total data and where it ended. */
static enum pc_chunked_result dechunk(const char *d, size_t n, size_t step, uint64_t *total,
				      size_t *end)
{
	struct pc_chunked c;
	enum pc_chunked_result res = PC_CHUNKED_MORE;
	size_t pos = 0;

	pc_chunked_init(&c, 64, 256);
	*total = 0;
	*end = 0;
	while (pos < n) {
		size_t lim = pos + step < n ? pos + step : n;
		while (pos < lim) {
			const char *data;
			size_t dl, used;
			res = pc_chunked_feed(&c, d + pos, lim - pos, &used, &data, &dl);
			MUST(used <= lim - pos);
			if (res == PC_CHUNKED_ERROR) {
				MUST(c.reason);
				return res;
			}
			if (res == PC_CHUNKED_DATA) {
				MUST(data >= d + pos && data + dl <= d + pos + used && dl > 0);
				*total += dl;
			} else {
				MUST(data == NULL && dl == 0);
			}
			pos += used;
			if (res == PC_CHUNKED_DONE) {
				*end = pos;
				MUST(c.body_bytes == *total);
				return res;
			}
		}
	}
	return res == PC_CHUNKED_DATA ? PC_CHUNKED_MORE : res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	const char *d = (const char *)data + 1;
	size_t n = size - 1;

	switch (sel % 4) {
	case 0: {
		fuzz_request(d, n, NULL);
		break;
	}
	case 1: {
		struct pc_http_limits lim = {.max_head = 64 + (sel >> 2),
					     .max_headers = 1 + (sel >> 5)};
		fuzz_request(d, n, &lim);
		break;
	}
	case 2:
		fuzz_response(d, n, sel & 4, sel & 8);
		break;
	default: {
		uint64_t t1, t2;
		size_t e1, e2;
		enum pc_chunked_result a = dechunk(d, n, n ? n : 1, &t1, &e1);
		enum pc_chunked_result b = dechunk(d, n, 1 + (sel >> 2), &t2, &e2);
		MUST(a == b);
		if (a == PC_CHUNKED_DONE)
			MUST(t1 == t2 && e1 == e2);
		break;
	}
	}
	return 0;
}
