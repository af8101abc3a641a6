/* gate: the server name from a TLS ClientHello. Real ClientHellos from
 * openssl, curl and python (tls_hellos.h) fed at once, a byte at a time,
 * cut at every length, re-split into records of every size; hand-built
 * ones for each rule. */
#include "gate/proto.h"
#include "util/util.h"
#include "../check.h"
#include "tls_hellos.h"

#include <stdlib.h>

static struct pc_tls_hello H;
static uint8_t B[6 * PC_TLS_SNI_INPUT_MAX];

struct sample {
	const char *what;
	const uint8_t *bytes;
	size_t len;
	enum pc_sni_result want;
	const char *host;
	bool alpn, h2, http11;
};

static char long_name[254];

static const struct sample samples[] = {
	{"openssl", hello_openssl, sizeof(hello_openssl), PC_SNI_FOUND, "example.com", 0, 0, 0},
	{"curl", hello_curl, sizeof(hello_curl), PC_SNI_FOUND, "api.example.com", 1, 1, 1},
	{"python", hello_python, sizeof(hello_python), PC_SNI_FOUND, "pypi.org", 0, 0, 0},
	{"no sni", hello_nosni, sizeof(hello_nosni), PC_SNI_NONE, "", 0, 0, 0},
	{"tls1.2", hello_tls12, sizeof(hello_tls12), PC_SNI_FOUND, "tls12.example.net", 0, 0, 0},
	{"split", hello_split, sizeof(hello_split), PC_SNI_FOUND, long_name, 0, 0, 0},
};

static bool same(const struct sample *s, enum pc_sni_result r, size_t len)
{
	return r == s->want && strcmp(H.host, s->host) == 0 && H.len == len && H.alpn == s->alpn &&
	       H.alpn_h2 == s->h2 && H.alpn_http11 == s->http11 && !H.reason;
}

/* Re-split the ClientHello in s into records of at most k bytes; returns
 * the new length. */
static size_t resplit(const struct sample *s, size_t k, uint8_t *out)
{
	uint8_t msg[PC_TLS_HELLO_MAX];
	size_t m = 0, o = 0;
	for (size_t p = 0; p + 5 <= s->len;) {
		size_t l = (size_t)s->bytes[p + 3] << 8 | s->bytes[p + 4];
		memcpy(msg + m, s->bytes + p + 5, l);
		m += l;
		p += 5 + l;
	}
	for (size_t p = 0; p < m; p += k) {
		size_t l = m - p < k ? m - p : k;
		memcpy(out + o, s->bytes, 3);
		out[o + 3] = (uint8_t)(l >> 8);
		out[o + 4] = (uint8_t)l;
		memcpy(out + o + 5, msg + p, l);
		o += 5 + l;
	}
	return o;
}

static void test_real(void)
{
	for (size_t i = 0; i < PC_ARRAY_SIZE(samples); i++) {
		const struct sample *s = &samples[i];
		bool ok = true;
		/* at once */
		if (!same(s, pc_tls_hello_parse(s->bytes, s->len, &H), s->len)) {
			fprintf(stderr, "%s: whole: host '%s' reason %s\n", s->what, H.host,
				H.reason ? H.reason : "-");
			ok = false;
		}
		/* every shorter prefix wants more: the byte-at-a-time feed */
		for (size_t n = 0; n < s->len && ok; n++)
			ok = pc_tls_hello_parse(s->bytes, n, &H) == PC_SNI_NEED_MORE;
		/* what follows the ClientHello does not matter */
		memcpy(B, s->bytes, s->len);
		memcpy(B + s->len, "\x17\x03\x03\x00\x05hello", 10);
		ok = ok && same(s, pc_tls_hello_parse(B, s->len + 10, &H), s->len);
		/* the thin wrapper */
		char host[PC_HTTP_HOST_MAX + 1];
		const char *reason = "x";
		ok = ok && pc_tls_sni_parse(s->bytes, s->len, host, &reason) == s->want &&
		     strcmp(host, s->host) == 0 && reason == NULL;
		/* records of every size from 1 byte up */
		for (size_t k = 1; k <= 600 && ok; k += (k < 40 ? 1 : 37)) {
			size_t n = resplit(s, k, B);
			ok = same(s, pc_tls_hello_parse(B, n, &H), n);
			for (size_t j = n - 1; j > n - 40 && ok; j--)
				ok = pc_tls_hello_parse(B, j, &H) == PC_SNI_NEED_MORE;
			if (!ok)
				fprintf(stderr, "%s: records of %zu: %s\n", s->what, k,
					H.reason ? H.reason : "-");
		}
		if (!ok)
			fprintf(stderr, "%s failed\n", s->what);
		CHECK(ok);
	}
}

/* ---- hand-built ClientHellos ------------------------------------------- */

static size_t put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

/* One record holding a ClientHello with these extension bytes (with_ext:
 * whether the extensions block is there at all). */
static size_t build(uint8_t *out, const uint8_t *ext, size_t elen, bool with_ext)
{
	uint8_t body[PC_TLS_HELLO_MAX];
	size_t b = 0;
	body[b++] = 3;
	body[b++] = 3;
	memset(body + b, 0xab, 32);
	b += 32;
	body[b++] = 0;		 /* session id */
	b += put16(body + b, 2); /* cipher suites */
	b += put16(body + b, 0x1301);
	body[b++] = 1; /* compression methods */
	body[b++] = 0;
	if (with_ext) {
		b += put16(body + b, elen);
		if (elen)
			memcpy(body + b, ext, elen);
		b += elen;
	}
	out[0] = 22;
	out[1] = 3;
	out[2] = 1;
	put16(out + 3, b + 4);
	out[5] = 1;
	out[6] = (uint8_t)(b >> 16);
	out[7] = (uint8_t)(b >> 8);
	out[8] = (uint8_t)b;
	memcpy(out + 9, body, b);
	return 9 + b;
}

/* A server_name extension with one entry of this type and name. */
static size_t sni_ext(uint8_t *e, unsigned type, const char *name)
{
	size_t n = strlen(name), p = 0;
	p += put16(e + p, 0);
	p += put16(e + p, n + 5);
	p += put16(e + p, n + 3);
	e[p++] = (uint8_t)type;
	p += put16(e + p, n);
	memcpy(e + p, name, n);
	return p + n;
}

static enum pc_sni_result ext_case(const uint8_t *ext, size_t elen)
{
	size_t n = build(B, ext, elen, true);
	return pc_tls_hello_parse(B, n, &H);
}

static enum pc_sni_result name_case(const char *name)
{
	uint8_t e[600];
	return ext_case(e, sni_ext(e, 0, name));
}

static void test_names(void)
{
	CHECK(name_case("Example.COM") == PC_SNI_FOUND);
	CHECK_STR(H.host, "example.com");
	CHECK(name_case("a_b-c.example") == PC_SNI_FOUND);
	CHECK(name_case(long_name) == PC_SNI_FOUND);
	CHECK_STR(H.host, long_name);
	const char *bad[] = {"example.com.", "1.2.3.4", "0x7f000001", "host.123",   "::1", "[::1]",
			     "a b.com",	     "a..b",	".a.com",     "ex\x01.com", "a/b"};
	for (size_t i = 0; i < PC_ARRAY_SIZE(bad); i++) {
		CHECK(name_case(bad[i]) == PC_SNI_ERROR);
		CHECK(H.reason && H.host[0] == 0);
	}
	char too_long[300];
	memset(too_long, 'a', 256);
	too_long[256] = 0;
	CHECK(name_case(too_long) == PC_SNI_ERROR);
	CHECK_CONTAINS(H.reason, "length");
	too_long[255] = 0;
	CHECK(name_case(too_long) == PC_SNI_FOUND); /* 255: the gate's own limit */
	CHECK(name_case("") == PC_SNI_ERROR);
}

static void test_extensions(void)
{
	uint8_t e[1200];
	size_t n, m;

	/* no extensions at all (TLS 1.2 and before), an empty block, others */
	n = build(B, NULL, 0, false);
	CHECK(pc_tls_hello_parse(B, n, &H) == PC_SNI_NONE && H.len == n);
	CHECK(ext_case(NULL, 0) == PC_SNI_NONE);
	memcpy(e, "\x00\x0a\x00\x04\x00\x02\x00\x1d", 8); /* supported_groups */
	CHECK(ext_case(e, 8) == PC_SNI_NONE);

	/* two server_name extensions, two host names in one, unknown type */
	n = sni_ext(e, 0, "a.example");
	m = sni_ext(e + n, 0, "b.example");
	CHECK(ext_case(e, n + m) == PC_SNI_ERROR);
	CHECK_CONTAINS(H.reason, "two server_name");
	n = sni_ext(e, 0, "a.example");
	memcpy(e + n,
	       "\x00\x00\x09"
	       "b.example",
	       12);
	put16(e + 2, n - 4 + 12);
	put16(e + 4, n - 6 + 12);
	CHECK(ext_case(e, n + 12) == PC_SNI_ERROR);
	CHECK_CONTAINS(H.reason, "two host names");
	CHECK(ext_case(e, sni_ext(e, 1, "a.example")) == PC_SNI_ERROR);
	/* an empty server_name (what servers send back) and an empty list */
	CHECK(ext_case((const uint8_t *)"\0\0\0\0", 4) == PC_SNI_ERROR);
	CHECK(ext_case((const uint8_t *)"\0\0\0\2\0\0", 6) == PC_SNI_ERROR);

	/* inner lengths that disagree with their container */
	n = sni_ext(e, 0, "a.example");
	e[3]++; /* extension longer than the block */
	CHECK(ext_case(e, n) == PC_SNI_ERROR);
	e[3] -= 2;
	CHECK(ext_case(e, n) == PC_SNI_ERROR);
	e[3]++;
	e[5]++; /* list longer than the extension */
	CHECK(ext_case(e, n) == PC_SNI_ERROR);
	e[5]--;
	e[8]++; /* name longer than the list */
	CHECK(ext_case(e, n) == PC_SNI_ERROR);
	e[8]--;
	CHECK(ext_case(e, n) == PC_SNI_FOUND);
	n = build(B, e, n, true);
	B[8]++; /* handshake longer than what it holds: the parser waits */
	CHECK(pc_tls_hello_parse(B, n, &H) == PC_SNI_NEED_MORE);
	B[4]++; /* and when the record says the byte is there, it is garbage */
	B[n] = 0;
	CHECK(pc_tls_hello_parse(B, n + 1, &H) == PC_SNI_ERROR);
	CHECK_CONTAINS(H.reason, "extensions length");

	/* ALPN */
	n = sni_ext(e, 0, "a.example");
	memcpy(e + n, "\x00\x10\x00\x0e\x00\x0c\x02h2\x08http/1.1", 18);
	CHECK(ext_case(e, n + 18) == PC_SNI_FOUND && H.alpn && H.alpn_h2 && H.alpn_http11);
	memcpy(e + n, "\x00\x10\x00\x05\x00\x03\x02h3", 9);
	CHECK(ext_case(e, n + 9) == PC_SNI_FOUND && H.alpn && !H.alpn_h2 && !H.alpn_http11);
	memcpy(e + n, "\x00\x10\x00\x05\x00\x03\x03h3", 9); /* name past its list */
	CHECK(ext_case(e, n + 9) == PC_SNI_ERROR);
	memcpy(e + n, "\x00\x10\x00\x02\x00\x00", 6); /* empty list */
	CHECK(ext_case(e, n + 6) == PC_SNI_ERROR);
}

static void test_framing(void)
{
	uint8_t e[600];
	size_t n = build(B, e, sni_ext(e, 0, "a.example"), true);

	/* decided by the first bytes: not a handshake, not TLS 3.x */
	CHECK(pc_tls_hello_parse((const uint8_t *)"\x17", 1, &H) == PC_SNI_ERROR);
	CHECK(pc_tls_hello_parse((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &H) == PC_SNI_ERROR);
	CHECK(pc_tls_hello_parse((const uint8_t *)"\x80\x2e\x01", 3, &H) == PC_SNI_ERROR);
	CHECK(pc_tls_hello_parse((const uint8_t *)"\x16\x02", 2, &H) == PC_SNI_ERROR);
	CHECK(pc_tls_hello_parse((const uint8_t *)"\x16\x03", 2, &H) == PC_SNI_NEED_MORE);
	CHECK(pc_tls_hello_parse((const uint8_t *)"", 0, &H) == PC_SNI_NEED_MORE);
	/* record lengths: 0, over 2^14 */
	CHECK(pc_tls_hello_parse((const uint8_t *)"\x16\x03\x01\x00\x00", 5, &H) == PC_SNI_ERROR);
	CHECK(pc_tls_hello_parse((const uint8_t *)"\x16\x03\x01\x40\x01", 5, &H) == PC_SNI_ERROR);
	CHECK(pc_tls_hello_parse((const uint8_t *)"\x16\x03\x01\x40\x00", 5, &H) ==
	      PC_SNI_NEED_MORE);
	/* not a ClientHello, known from its first byte */
	CHECK(pc_tls_hello_parse((const uint8_t *)"\x16\x03\x01\x00\x10\x02", 6, &H) ==
	      PC_SNI_ERROR);
	/* a ClientHello longer than 16 KiB, known from its header */
	CHECK(pc_tls_hello_parse((const uint8_t *)"\x16\x03\x01\x40\x00\x01\x00\x3f\xfd", 9, &H) ==
	      PC_SNI_ERROR);
	CHECK(pc_tls_hello_parse((const uint8_t *)"\x16\x03\x01\x40\x00\x01\x00\x3f\xfc", 9, &H) ==
	      PC_SNI_NEED_MORE);
	/* a second record of another type before the ClientHello is whole */
	memcpy(B + 600, B, 9);
	B[603] = 0;
	B[604] = 4;
	B[609] = 0x15;
	CHECK(pc_tls_hello_parse(B + 600, 10, &H) == PC_SNI_ERROR);
	/* bad version, session id, cipher suites, compression */
	B[9] = 2;
	CHECK(pc_tls_hello_parse(B, n, &H) == PC_SNI_ERROR);
	B[9] = 3;
	B[43] = 33;
	CHECK(pc_tls_hello_parse(B, n, &H) == PC_SNI_ERROR);
	B[43] = 0;
	B[45] = 3;
	CHECK(pc_tls_hello_parse(B, n, &H) == PC_SNI_ERROR);
	B[45] = 0;
	CHECK(pc_tls_hello_parse(B, n, &H) == PC_SNI_ERROR);
	B[45] = 2;
	B[48] = 0;
	CHECK(pc_tls_hello_parse(B, n, &H) == PC_SNI_ERROR);
	B[48] = 1;
	CHECK(pc_tls_hello_parse(B, n, &H) == PC_SNI_FOUND);

	/* a ClientHello of the largest size, in records of 1 KiB: FOUND; in
	 * 1-byte records it needs more input than the gate waits for */
	static uint8_t big[PC_TLS_HELLO_MAX], one[PC_TLS_HELLO_MAX + 5];
	size_t el = sni_ext(big, 0, "a.example");
	/* handshake header, fixed fields, extensions length, padding header */
	size_t pad = PC_TLS_HELLO_MAX - (4 + 41 + 2 + el + 4);
	put16(big + el, 21); /* padding extension */
	put16(big + el + 2, pad);
	memset(big + el + 4, 0, pad);
	n = build(one, big, el + 4 + pad, true);
	CHECK(n == 5 + PC_TLS_HELLO_MAX);
	CHECK(pc_tls_hello_parse(one, n, &H) == PC_SNI_FOUND);
	struct sample s = {"big", one, n, PC_SNI_FOUND, "a.example", 0, 0, 0};
	size_t m = resplit(&s, 1024, B);
	CHECK(m <= PC_TLS_SNI_INPUT_MAX && same(&s, pc_tls_hello_parse(B, m, &H), m));
	m = resplit(&s, 1, B);
	CHECK(pc_tls_hello_parse(B, m, &H) == PC_SNI_ERROR);
	CHECK_CONTAINS(H.reason, "too many bytes");
	/* one byte more than 16 KiB is refused */
	put16(big + el + 2, pad + 1);
	n = build(B, big, el + 5 + pad, true);
	CHECK(pc_tls_hello_parse(B, n, &H) == PC_SNI_ERROR);
}

/* Every byte of each real ClientHello set to a few values: never a crash
 * or a read past the input (ASan), and FOUND always a valid name. */
static void test_mutations(void)
{
	static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x10, 0x7f, 0x80, 0xfe, 0xff};
	bool ok = true;
	for (size_t i = 0; i < PC_ARRAY_SIZE(samples); i++) {
		const struct sample *s = &samples[i];
		uint8_t *copy = malloc(s->len);
		for (size_t p = 0; p < s->len; p++) {
			for (size_t v = 0; v < PC_ARRAY_SIZE(vals); v++) {
				memcpy(copy, s->bytes, s->len);
				copy[p] = vals[v];
				enum pc_sni_result r = pc_tls_hello_parse(copy, s->len, &H);
				if (r == PC_SNI_FOUND)
					ok = ok && pc_proto_valid_hostname(H.host, strlen(H.host));
				else if (r == PC_SNI_ERROR)
					ok = ok && H.reason && !H.host[0];
				else
					ok = ok && !H.host[0];
			}
		}
		free(copy);
	}
	CHECK(ok);
}

int main(void)
{
	snprintf(long_name, sizeof(long_name), "%.63s.%.63s.%.63s.%.57s.com",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		 "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
		 "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddd");
	test_real();
	test_names();
	test_extensions();
	test_framing();
	test_mutations();
	CHECK_DONE();
}
