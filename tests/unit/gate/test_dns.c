/* gate: the DNS responder core and the synthetic address map. Real queries
 * captured from glibc's stub resolver (python getaddrinfo and curl in a
 * network namespace whose resolv.conf named a recording socket on
 * 127.0.0.1:53), hand-built ones for every edge. */
#include "gate/proto.h"
#include "util/util.h"
#include "../check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

/* glibc 2.36, python getaddrinfo("pypi.org"): A then AAAA, no EDNS */
static const uint8_t glibc_a[] = {0x70, 0x9d, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
				  0x00, 0x00, 0x00, 0x04, 0x70, 0x79, 0x70, 0x69, 0x03,
				  0x6f, 0x72, 0x67, 0x00, 0x00, 0x01, 0x00, 0x01};
static const uint8_t glibc_aaaa[] = {0xbd, 0x90, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
				     0x00, 0x00, 0x00, 0x04, 0x70, 0x79, 0x70, 0x69, 0x03,
				     0x6f, 0x72, 0x67, 0x00, 0x00, 0x1c, 0x00, 0x01};
/* the same with "options edns0 trust-ad": AD set, an OPT record (UDP 1200) */
static const uint8_t glibc_edns_a[] = {
	0x30, 0xea, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x61, 0x70,
	0x69, 0x06, 0x67, 0x69, 0x74, 0x68, 0x75, 0x62, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01,
	0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
/* curl http://www.example.org/ with EDNS: AAAA */
static const uint8_t glibc_edns_aaaa[] = {
	0x28, 0x25, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x77, 0x77,
	0x77, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x6f, 0x72, 0x67, 0x00, 0x00,
	0x1c, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

static struct pc_dns_map *M;
static uint8_t out[512];
static size_t out_len;
static char qname[256];
static uint16_t qtype;

/* A query: flags2/3 are header bytes 2 and 3; name in dotted text, each
 * label copied byte for byte (so "a b" makes a label with a space). */
static size_t mkq(uint8_t *b, uint8_t flags2, const char *name, uint16_t type, uint16_t cls)
{
	size_t p = 12;
	memset(b, 0, 12);
	b[0] = 0x12;
	b[1] = 0x34;
	b[2] = flags2;
	b[5] = 1;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		b[p++] = (uint8_t)l;
		memcpy(b + p, name, l);
		p += l;
		name += l + (dot ? 1 : 0);
	}
	b[p++] = 0;
	b[p++] = (uint8_t)(type >> 8);
	b[p++] = (uint8_t)type;
	b[p++] = (uint8_t)(cls >> 8);
	b[p++] = (uint8_t)cls;
	return p;
}

static int ask(const uint8_t *q, size_t n)
{
	memset(out, 0xee, sizeof(out));
	return pc_dns_answer(M, q, n, out, sizeof(out), &out_len, qname, &qtype);
}

static int ask_name(const char *name, uint16_t type)
{
	uint8_t q[600];
	return ask(q, mkq(q, 0x01, name, type, 1));
}

static unsigned rcode(void)
{
	return out[3] & 0x0f;
}

static unsigned count(int i) /* 0 QD, 1 AN, 2 NS, 3 AR */
{
	return (unsigned)out[4 + 2 * i] << 8 | out[5 + 2 * i];
}

/* The RDATA of the only answer (owner a pointer to the question). */
static const uint8_t *rdata(size_t qlen_question, uint16_t type, uint16_t *rdlen)
{
	const uint8_t *a = out + 12 + qlen_question;
	if (count(1) != 1 || a[0] != 0xc0 || a[1] != 12 || a[2] != type >> 8 ||
	    a[3] != (type & 0xff) || a[4] != 0 || a[5] != 1 || a[6] || a[7] || a[8] ||
	    a[9] != PC_DNS_TTL)
		return NULL;
	*rdlen = (uint16_t)(a[10] << 8 | a[11]);
	return a + 12;
}

static const char *a_answer(const char *name)
{
	static char s[INET_ADDRSTRLEN];
	uint16_t l = 0;
	if (ask_name(name, PC_DNS_TYPE_A) != 0 || rcode() != 0)
		return "(no answer)";
	const uint8_t *d = rdata(out_len - 12 - 16, PC_DNS_TYPE_A, &l);
	if (!d || l != 4)
		return "(bad answer)";
	return inet_ntop(AF_INET, d, s, sizeof(s));
}

static void test_glibc_packets(void)
{
	static const uint8_t want[] = {
		0x70, 0x9d, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x04, 0x70,
		0x79, 0x70, 0x69, 0x03, 0x6f, 0x72, 0x67, 0x00, 0x00, 0x01, 0x00, 0x01, 0xc0, 0x0c,
		0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 0xc6, 0x12, 0x00, 0x01};
	CHECK(ask(glibc_a, sizeof(glibc_a)) == 0);
	CHECK(out_len == sizeof(want) && memcmp(out, want, sizeof(want)) == 0);
	CHECK_STR(qname, "pypi.org");
	CHECK(qtype == PC_DNS_TYPE_A);

	CHECK(ask(glibc_aaaa, sizeof(glibc_aaaa)) == 0);
	CHECK(out_len == sizeof(glibc_aaaa) && out[0] == 0xbd && out[1] == 0x90);
	CHECK(out[2] == 0x81 && out[3] == 0x80 && count(0) == 1 && count(1) == 0);
	CHECK(memcmp(out + 12, glibc_aaaa + 12, sizeof(glibc_aaaa) - 12) == 0);
	CHECK(qtype == PC_DNS_TYPE_AAAA);
	CHECK(pc_dns_map_count(M) == 1); /* AAAA allocates nothing */

	/* EDNS: the OPT is ignored, no OPT back, AD not echoed */
	CHECK(ask(glibc_edns_a, sizeof(glibc_edns_a)) == 0);
	CHECK(out_len == 12 + 20 + 16 && out[2] == 0x81 && out[3] == 0x80);
	CHECK(count(0) == 1 && count(1) == 1 && count(2) == 0 && count(3) == 0);
	CHECK_STR(qname, "api.github.com");
	CHECK(out[out_len - 4] == 198 && out[out_len - 3] == 18 && out[out_len - 1] == 2);
	CHECK(ask(glibc_edns_aaaa, sizeof(glibc_edns_aaaa)) == 0);
	CHECK(rcode() == 0 && count(1) == 0 && count(3) == 0 && out_len == 12 + 21);
	CHECK_STR(qname, "www.example.org");
}

static void test_stable(void)
{
	uint8_t q[64];
	size_t n;
	CHECK_STR(a_answer("pypi.org"), "198.18.0.1");
	CHECK_STR(a_answer("PyPI.Org"), "198.18.0.1");
	/* the question comes back as asked (DNS 0x20 clients check the case) */
	n = mkq(q, 0x01, "PyPI.Org", PC_DNS_TYPE_A, 1);
	CHECK(ask(q, n) == 0 && memcmp(out + 12, q + 12, n - 12) == 0);
	CHECK_STR(qname, "pypi.org");
	CHECK_STR(a_answer("api.github.com"), "198.18.0.2");
	/* RD is copied, RA always set */
	n = mkq(q, 0x00, "pypi.org", PC_DNS_TYPE_A, 1);
	CHECK(ask(q, n) == 0 && out[2] == 0x80 && out[3] == 0x80 && out[0] == 0x12);

	struct in_addr a;
	CHECK(pc_dns_map_name(M, "PYPI.ORG.", &a) == 0 && ntohl(a.s_addr) == 0xc6120001);
	CHECK_STR(pc_dns_map_lookup(M, a), "pypi.org");
	CHECK(pc_dns_map_name(M, "bad name", &a) == -EINVAL);
	CHECK(pc_dns_map_name(M, "", &a) == -EINVAL);
	CHECK(pc_dns_map_name(M, ".", &a) == -EINVAL);
	CHECK(pc_dns_map_name(M, "a..b", &a) == -EINVAL);
	CHECK(pc_dns_map_name(M, "10.0.0.1", &a) == -EINVAL);
	CHECK(pc_dns_map_name(M, "localhost", &a) == -EINVAL);
	CHECK(pc_dns_map_name(M, "x.LOCALHOST", &a) == -EINVAL);
	CHECK(pc_dns_map_count(M) == 2);
}

static void test_many(void)
{
	struct pc_dns_map *m = pc_dns_map_new(0);
	char name[64];
	struct in_addr a;
	bool ok = true;
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "host%u.example.com", i);
		ok = ok && pc_dns_map_name(m, name, &a) == 0 && ntohl(a.s_addr) == 0xc6120001 + i;
	}
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "host%u.example.com", i);
		a.s_addr = htonl(0xc6120001 + i);
		const char *back = pc_dns_map_lookup(m, a);
		ok = ok && back && strcmp(back, name) == 0;
		struct in_addr again;
		ok = ok && pc_dns_map_name(m, name, &again) == 0 && again.s_addr == a.s_addr;
	}
	CHECK(ok);
	CHECK(pc_dns_map_count(m) == 1000);
	a.s_addr = htonl(0xc6120001 + 1000);
	CHECK(pc_dns_map_lookup(m, a) == NULL);
	pc_dns_map_free(m);
}

static void test_full(void)
{
	struct pc_dns_map *keep = M;
	M = pc_dns_map_new(3);
	CHECK_STR(a_answer("a.example"), "198.18.0.1");
	CHECK_STR(a_answer("b.example"), "198.18.0.2");
	CHECK_STR(a_answer("c.example"), "198.18.0.3");
	CHECK(ask_name("d.example", PC_DNS_TYPE_A) == 0 && rcode() == PC_DNS_SERVFAIL);
	CHECK(count(0) == 1 && count(1) == 0);
	CHECK_STR(qname, "d.example");
	CHECK_STR(a_answer("b.example"), "198.18.0.2"); /* known names still answer */
	CHECK(ask_name("d.example", PC_DNS_TYPE_AAAA) == 0 && rcode() == 0);
	CHECK(ask_name("localhost", PC_DNS_TYPE_A) == 0 && rcode() == 0 && count(1) == 1);
	struct in_addr a;
	CHECK(pc_dns_map_name(M, "d.example", &a) == -ENOSPC);
	pc_dns_map_free(M);

	/* the whole /15 less network and all-ones addresses, then -ENOSPC */
	M = pc_dns_map_new(1u << 20);
	char name[32];
	bool ok = true;
	for (unsigned i = 0; i < PC_DNS_MAX_NAMES_LIMIT; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		ok = ok && pc_dns_map_name(M, name, &a) == 0;
	}
	CHECK(ok);
	CHECK(ntohl(a.s_addr) == 0xc613fffe); /* 198.19.255.254 */
	CHECK(pc_dns_map_name(M, "one-more", &a) == -ENOSPC);
	CHECK(ask_name("one-more", PC_DNS_TYPE_A) == 0 && rcode() == PC_DNS_SERVFAIL);
	CHECK_STR(a_answer("n0"), "198.18.0.1");
	a.s_addr = htonl(0xc613ffff);
	CHECK(pc_dns_map_lookup(M, a) == NULL);
	pc_dns_map_free(M);
	M = keep;
}

static void test_synthetic(void)
{
	struct in_addr a;
	a.s_addr = htonl(0xc611ffff); /* 198.17.255.255 */
	CHECK(!pc_dns_is_synthetic(a));
	a.s_addr = htonl(0xc6120000);
	CHECK(pc_dns_is_synthetic(a) && pc_dns_map_lookup(M, a) == NULL);
	a.s_addr = htonl(0xc613ffff);
	CHECK(pc_dns_is_synthetic(a));
	a.s_addr = htonl(0xc6140000); /* 198.20.0.0 */
	CHECK(!pc_dns_is_synthetic(a));
	a.s_addr = htonl(0x7f000001);
	CHECK(!pc_dns_is_synthetic(a) && pc_dns_map_lookup(M, a) == NULL);
}

static void test_lengths(void)
{
	char name[300], l63[64], l62[63];
	memset(l63, 'a', 63);
	l63[63] = 0;
	memset(l62, 'b', 62);
	l62[62] = 0;
	snprintf(name, sizeof(name), "%s.com", l63);
	CHECK(ask_name(name, PC_DNS_TYPE_A) == 0 && rcode() == 0 && count(1) == 1);
	CHECK_STR(qname, name);
	/* 64: the length byte 0x40 is an extended label type on the wire */
	snprintf(name, sizeof(name), "%sa.com", l63);
	CHECK(ask_name(name, PC_DNS_TYPE_A) == 0 && rcode() == PC_DNS_FORMERR);
	CHECK(count(0) == 0 && out_len == 12 && qname[0] == 0);
	/* 253 characters (255 octets on the wire): the longest name */
	snprintf(name, sizeof(name), "%s.%s.%s.%s", l63, l63, l63, l62 + 1);
	CHECK(strlen(name) == 253);
	CHECK(ask_name(name, PC_DNS_TYPE_A) == 0 && rcode() == 0 && count(1) == 1);
	CHECK(out_len == 12 + 255 + 4 + 16 && out_len <= 512);
	CHECK_STR(qname, name);
	/* its PTR answer is the longest answer there is, and fits 512 */
	const uint8_t *d = out + out_len - 4;
	char ptr[64];
	snprintf(ptr, sizeof(ptr), "%u.%u.18.198.in-addr.arpa", d[3], d[2]);
	CHECK(ask_name(ptr, PC_DNS_TYPE_PTR) == 0 && rcode() == 0 && count(1) == 1);
	CHECK(out_len <= 512);
	uint16_t rdl = 0;
	const uint8_t *rd = rdata(strlen(ptr) + 2 + 4, PC_DNS_TYPE_PTR, &rdl);
	CHECK(rd && rdl == 255 && rd[0] == 63 && rd[64] == 63 && rd[254] == 0);
	/* 254 characters: FORMERR */
	snprintf(name, sizeof(name), "%s.%s.%s.%s", l63, l63, l63, l62);
	CHECK(strlen(name) == 254);
	CHECK(ask_name(name, PC_DNS_TYPE_A) == 0 && rcode() == PC_DNS_FORMERR && count(0) == 0);
}

static void test_malformed(void)
{
	uint8_t q[600], full[64];
	size_t n = mkq(full, 0x01, "www.example.com", PC_DNS_TYPE_A, 1);

	/* every truncation: no reply (header cut, or question cut) */
	for (size_t i = 0; i < n; i++)
		CHECK(ask(full, i) == -1 && out_len == 0);
	CHECK(ask(full, n) == 0);

	/* a response is never answered */
	memcpy(q, full, n);
	q[2] |= 0x80;
	CHECK(ask(q, n) == -1);

	/* compression pointer in the question: refused, not followed */
	n = mkq(q, 0x01, "www.example.com", PC_DNS_TYPE_A, 1);
	q[16] = 0xc0;
	q[17] = 0x0c;
	CHECK(ask(q, n) == 0 && rcode() == PC_DNS_FORMERR && count(0) == 0 && out_len == 12);
	CHECK(out[0] == 0x12 && out[1] == 0x34 && (out[2] & 0x80));
	/* a pointer loop to itself is just as refused */
	n = mkq(q, 0x01, "x", PC_DNS_TYPE_A, 1);
	q[12] = 0xc0;
	q[13] = 12;
	CHECK(ask(q, n) == 0 && rcode() == PC_DNS_FORMERR);

	/* two questions, none, an answer or authority record in a query */
	n = mkq(q, 0x01, "a.example", PC_DNS_TYPE_A, 1);
	memcpy(q + n, q + 12, n - 12);
	q[5] = 2;
	CHECK(ask(q, n + n - 12) == 0 && rcode() == PC_DNS_FORMERR && count(0) == 0);
	q[5] = 0;
	CHECK(ask(q, n) == 0 && rcode() == PC_DNS_FORMERR);
	n = mkq(q, 0x01, "a.example", PC_DNS_TYPE_A, 1);
	q[7] = 1;
	CHECK(ask(q, n) == 0 && rcode() == PC_DNS_FORMERR);
	q[7] = 0;
	q[9] = 1;
	CHECK(ask(q, n) == 0 && rcode() == PC_DNS_FORMERR);

	/* other opcodes: NOTIMP, opcode echoed */
	n = mkq(q, 0x01 | (2 << 3), "a.example", PC_DNS_TYPE_A, 1);
	CHECK(ask(q, n) == 0 && rcode() == PC_DNS_NOTIMP && out[2] == (0x80 | (2 << 3) | 1));
	/* class CHAOS: REFUSED with the question */
	n = mkq(q, 0x01, "version.bind", 16, 3);
	CHECK(ask(q, n) == 0 && rcode() == PC_DNS_REFUSED && count(0) == 1 && out_len == n);
	CHECK_STR(qname, "version.bind");
	CHECK(qtype == 16);
	/* type/class cut short */
	n = mkq(q, 0x01, "a.example", PC_DNS_TYPE_A, 1);
	CHECK(ask(q, n - 1) == -1 && ask(q, n - 4) == -1);
	/* trailing bytes after the question are ignored */
	CHECK(ask(q, n + 7) == 0 && rcode() == 0 && out_len == n + 16);
	CHECK(pc_dns_map_count(M) >= 1);
}

static void test_names(void)
{
	/* bytes no host name has: NXDOMAIN, shown as '?' */
	CHECK(ask_name("ex!ample.com", PC_DNS_TYPE_A) == 0 && rcode() == PC_DNS_NXDOMAIN);
	CHECK_STR(qname, "ex?ample.com");
	CHECK(count(0) == 1 && count(1) == 0);
	uint8_t q[64];
	size_t n = mkq(q, 0x01, "ab.com", PC_DNS_TYPE_A, 1);
	q[14] = '.'; /* a dot inside a label */
	CHECK(ask(q, n) == 0 && rcode() == PC_DNS_NXDOMAIN);
	CHECK_STR(qname, "a?.com");
	q[14] = 0;
	CHECK(ask(q, n) == 0 && rcode() == PC_DNS_NXDOMAIN);
	CHECK_STR(qname, "a?.com");
	CHECK(ask_name("under_score-ok.Example", PC_DNS_TYPE_A) == 0 && rcode() == 0);
	CHECK_STR(qname, "under_score-ok.example");

	/* IP literals: NXDOMAIN, for A and AAAA */
	const char *lit[] = {"1.2.3.4", "127.1", "0x7f000001", "0x7f.1", "foo.123", "10"};
	for (size_t i = 0; i < PC_ARRAY_SIZE(lit); i++) {
		CHECK(ask_name(lit[i], PC_DNS_TYPE_A) == 0 && rcode() == PC_DNS_NXDOMAIN);
		CHECK(count(1) == 0);
		CHECK(ask_name(lit[i], PC_DNS_TYPE_AAAA) == 0 && rcode() == PC_DNS_NXDOMAIN);
	}
	char first[INET_ADDRSTRLEN];
	snprintf(first, sizeof(first), "%s", a_answer("123abc.com"));
	CHECK(first[0] == '1');
	CHECK_STR(a_answer("123ABC.com"), first);
	CHECK(ask_name("1.2.3.4.example", PC_DNS_TYPE_A) == 0 && rcode() == 0);

	/* localhost */
	size_t before = pc_dns_map_count(M);
	CHECK_STR(a_answer("localhost"), "127.0.0.1");
	CHECK_STR(a_answer("LocalHost"), "127.0.0.1");
	CHECK_STR(a_answer("db.localhost"), "127.0.0.1");
	uint16_t l = 0;
	CHECK(ask_name("localhost", PC_DNS_TYPE_AAAA) == 0 && rcode() == 0);
	const uint8_t *d = rdata(11 + 4, PC_DNS_TYPE_AAAA, &l);
	static const uint8_t lo6[16] = {[15] = 1};
	CHECK(d && l == 16 && memcmp(d, lo6, 16) == 0);
	CHECK(ask_name("localhost", 15) == 0 && rcode() == 0 && count(1) == 0);
	CHECK(pc_dns_map_count(M) == before);
	CHECK(strcmp(a_answer("notlocalhost"), "127.0.0.1") != 0);
	before = pc_dns_map_count(M);

	/* other types: NOERROR, no data, nothing allocated */
	const uint16_t types[] = {15 /* MX */,	16 /* TXT */,  65 /* HTTPS */,
				  33 /* SRV */, 255 /* ANY */, 6 /* SOA */};
	for (size_t i = 0; i < PC_ARRAY_SIZE(types); i++) {
		CHECK(ask_name("fresh.example", types[i]) == 0 && rcode() == 0 && count(1) == 0);
		CHECK(qtype == types[i]);
	}
	CHECK(pc_dns_map_count(M) == before);

	/* the root: NOERROR, no data */
	CHECK(ask_name("", PC_DNS_TYPE_A) == 0 && rcode() == 0 && count(1) == 0);
	CHECK(qname[0] == 0 && out_len == 17);
}

static void test_ptr(void)
{
	struct in_addr a;
	uint16_t l = 0;
	CHECK(pc_dns_map_name(M, "Mirror.Example.NET", &a) == 0);
	char ptr[64];
	uint32_t h = ntohl(a.s_addr);
	snprintf(ptr, sizeof(ptr), "%u.%u.%u.%u.in-addr.arpa", h & 255, (h >> 8) & 255,
		 (h >> 16) & 255, h >> 24);
	CHECK(ask_name(ptr, PC_DNS_TYPE_PTR) == 0 && rcode() == 0 && qtype == PC_DNS_TYPE_PTR);
	const uint8_t *d = rdata(strlen(ptr) + 2 + 4, PC_DNS_TYPE_PTR, &l);
	static const uint8_t want[] = "\6mirror\7example\3net";
	CHECK(d && l == sizeof(want) && memcmp(d, want, sizeof(want)) == 0);

	CHECK(ask_name("7.7.19.198.in-addr.arpa", PC_DNS_TYPE_PTR) == 0);
	CHECK(rcode() == PC_DNS_NXDOMAIN && count(0) == 1 && count(1) == 0);
	CHECK(ask_name("8.8.8.8.in-addr.arpa", PC_DNS_TYPE_PTR) == 0 && rcode() == PC_DNS_NXDOMAIN);
	CHECK(ask_name("01.0.18.198.in-addr.arpa", PC_DNS_TYPE_PTR) == 0);
	CHECK(rcode() == PC_DNS_NXDOMAIN);
	CHECK(ask_name("1.0.18.198.198.in-addr.arpa", PC_DNS_TYPE_PTR) == 0);
	CHECK(rcode() == PC_DNS_NXDOMAIN);
	CHECK(ask_name("0.18.198.in-addr.arpa", PC_DNS_TYPE_PTR) == 0);
	CHECK(rcode() == PC_DNS_NXDOMAIN);
	CHECK(ask_name("256.0.18.198.in-addr.arpa", PC_DNS_TYPE_PTR) == 0);
	CHECK(rcode() == PC_DNS_NXDOMAIN);
	CHECK(ask_name("mirror.example.net", PC_DNS_TYPE_PTR) == 0 && rcode() == PC_DNS_NXDOMAIN);
}

static void test_small_cap(void)
{
	uint8_t q[64];
	size_t n = mkq(q, 0x01, "pypi.org", PC_DNS_TYPE_A, 1);
	/* the answer does not fit: header and question with TC */
	CHECK(pc_dns_answer(M, q, n, out, n + 15, &out_len, qname, &qtype) == 0);
	CHECK(out_len == n && (out[2] & 0x02) && count(1) == 0 && count(0) == 1);
	CHECK(pc_dns_answer(M, q, n, out, n + 16, &out_len, qname, &qtype) == 0);
	CHECK(out_len == n + 16 && !(out[2] & 0x02) && count(1) == 1);
	CHECK(pc_dns_answer(M, q, n, out, n - 1, &out_len, qname, &qtype) == -1);
	q[5] = 2;
	CHECK(pc_dns_answer(M, q, n, out, 11, &out_len, qname, &qtype) == -1);
	CHECK(pc_dns_answer(M, q, n, out, 12, &out_len, qname, &qtype) == 0 && out_len == 12);
}

/* Bytes from a fixed generator: no crash, no reply past 512 bytes. */
static void test_noise(void)
{
	uint8_t q[300], big[1024];
	uint32_t x = 12345;
	bool ok = true;
	for (int round = 0; round < 200000; round++) {
		size_t n = (x >> 7) % sizeof(q);
		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245 + 12345;
			q[i] = (uint8_t)(x >> 16);
		}
		if (n > 5 && (round & 1)) { /* mostly well-formed headers */
			q[2] &= 0x07;
			q[4] = 0;
			q[5] = 1;
			memset(q + 6, 0, 4);
			for (size_t i = 12; i < n; i += 1 + (q[i] & 0x3f))
				q[i] &= (round & 2) ? 0x3f : 0xff;
		}
		int r = pc_dns_answer(M, q, n, big, sizeof(big), &out_len, qname, &qtype);
		ok = ok && (r == -1 || (out_len >= 12 && out_len <= 512)) && strlen(qname) <= 253;
	}
	CHECK(ok);
}

int main(void)
{
	M = pc_dns_map_new(PC_DNS_MAX_NAMES_DEFAULT);
	test_glibc_packets();
	test_stable();
	test_many();
	test_full();
	test_synthetic();
	test_lengths();
	test_malformed();
	test_names();
	test_ptr();
	test_small_cap();
	test_noise();
	pc_dns_map_free(M);
	pc_dns_map_free(NULL);
	CHECK_DONE();
}
