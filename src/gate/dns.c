/* gate/dns: the DNS responder behind 127.0.0.1:53 in the sandbox (pure
 * part: the gate does the socket) and the map from names to synthetic
 * addresses in 198.18.0.0/15. Semantics are in proto.h.
 *
 * The map: names[i] is the name of 198.18.0.0 + i + 1, so address to name
 * is an index; name to address is an open-addressing hash table of indexes
 * (linear probing, never deleted). The agent picks the names, so the hash
 * is keyed (SipHash-2-4 with a random key per map): it cannot make its
 * names collide to slow the gate down. */
#include "gate/proto.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#define SYNTH_BASE 0xc6120000u /* 198.18.0.0 */
#define SYNTH_MASK 0xfffe0000u /* /15 */

struct pc_dns_map {
	size_t max, count, names_cap;
	char **names;	 /* by index: the name of SYNTH_BASE + index + 1 */
	uint32_t *slots; /* index + 1, 0 when empty */
	size_t nslots;	 /* a power of two, at least twice count */
	uint64_t k0, k1; /* hash key */
};

/* ---- SipHash-2-4 (Aumasson and Bernstein), the reference algorithm ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

static uint64_t siphash(const uint8_t *in, size_t n, uint64_t k0, uint64_t k1)
{
	uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
	uint64_t b = (uint64_t)n << 56, m;
	size_t i, full = n & ~(size_t)7;

	for (i = 0; i < full; i += 8) {
		m = 0;
		for (int j = 7; j >= 0; j--)
			m = (m << 8) | in[i + (size_t)j];
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < n; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- names ------------------------------------------------------------- */

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool label_byte_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
	       c == '_';
}

static char lower(unsigned char c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

bool pc_dns_name_is_numeric(const char *s, size_t n)
{
	char tmp[256];
	struct in_addr a;
	size_t last = n;

	if (n == 0)
		return false;
	while (last > 0 && s[last - 1] != '.')
		last--;
	bool digits = last < n;
	for (size_t i = last; i < n; i++)
		digits = digits && is_digit((unsigned char)s[i]);
	if (digits)
		return true;
	/* inet_aton also takes hex and octal parts ("0x7f000001"); a resolver
	 * library would take such a name as an address, never look it up. */
	if (n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_aton(tmp, &a) != 0;
}

static bool is_localhost(const char *s, size_t n)
{
	return (n == 9 && memcmp(s, "localhost", 9) == 0) ||
	       (n > 10 && memcmp(s + n - 10, ".localhost", 10) == 0);
}

/* A text name the map takes (already lowercase or not): labels of 1..63
 * allowed bytes, 1..253 in all. */
static bool text_name_ok(const char *s, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!label_byte_ok((unsigned char)s[i]) || ++label > 63) {
			return false;
		}
	}
	return label > 0;
}

/* ---- the map ----------------------------------------------------------- */

struct pc_dns_map *pc_dns_map_new(size_t max_names)
{
	struct pc_dns_map *m = pc_xcalloc(1, sizeof(*m));
	uint64_t key[2];

	if (max_names == 0)
		max_names = PC_DNS_MAX_NAMES_DEFAULT;
	m->max = max_names < PC_DNS_MAX_NAMES_LIMIT ? max_names : PC_DNS_MAX_NAMES_LIMIT;
	m->nslots = 64;
	m->slots = pc_xcalloc(m->nslots, sizeof(*m->slots));
	pc_random(key, sizeof(key));
	m->k0 = key[0];
	m->k1 = key[1];
	return m;
}

void pc_dns_map_free(struct pc_dns_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->count; i++)
		free(m->names[i]);
	free(m->names);
	free(m->slots);
	free(m);
}

size_t pc_dns_map_count(const struct pc_dns_map *m)
{
	return m->count;
}

static size_t slot_of(const struct pc_dns_map *m, const char *s, size_t n)
{
	return (size_t)siphash((const uint8_t *)s, n, m->k0, m->k1) & (m->nslots - 1);
}

static void grow_slots(struct pc_dns_map *m)
{
	size_t old_n = m->nslots;
	uint32_t *old = m->slots;

	m->nslots = old_n * 2;
	m->slots = pc_xcalloc(m->nslots, sizeof(*m->slots));
	for (size_t i = 0; i < old_n; i++) {
		if (!old[i])
			continue;
		const char *name = m->names[old[i] - 1];
		size_t s = slot_of(m, name, strlen(name));
		while (m->slots[s])
			s = (s + 1) & (m->nslots - 1);
		m->slots[s] = old[i];
	}
	free(old);
}

static struct in_addr addr_of_index(size_t idx)
{
	struct in_addr a = {.s_addr = htonl(SYNTH_BASE + (uint32_t)idx + 1)};
	return a;
}

int pc_dns_map_name(struct pc_dns_map *m, const char *name, struct in_addr *out)
{
	char low[254];
	size_t n = strlen(name), s;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (!text_name_ok(name, n) || pc_dns_name_is_numeric(name, n))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		low[i] = lower((unsigned char)name[i]);
	low[n] = '\0';
	if (is_localhost(low, n))
		return -EINVAL;

	for (s = slot_of(m, low, n); m->slots[s]; s = (s + 1) & (m->nslots - 1)) {
		if (strcmp(m->names[m->slots[s] - 1], low) == 0) {
			*out = addr_of_index(m->slots[s] - 1);
			return 0;
		}
	}
	if (m->count >= m->max)
		return -ENOSPC;
	if (m->count == m->names_cap) {
		m->names_cap = m->names_cap ? m->names_cap * 2 : 64;
		if (m->names_cap > m->max)
			m->names_cap = m->max;
		m->names = pc_xrealloc(m->names, m->names_cap * sizeof(*m->names));
	}
	m->names[m->count] = pc_xstrndup(low, n);
	m->slots[s] = (uint32_t)m->count + 1;
	*out = addr_of_index(m->count);
	m->count++;
	if (m->count * 2 > m->nslots) /* keep probes short: load at most 1/2 */
		grow_slots(m);
	return 0;
}

bool pc_dns_is_synthetic(struct in_addr a)
{
	return (ntohl(a.s_addr) & SYNTH_MASK) == SYNTH_BASE;
}

const char *pc_dns_map_lookup(const struct pc_dns_map *m, struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr);

	if (!pc_dns_is_synthetic(a) || h == SYNTH_BASE)
		return NULL;
	size_t idx = h - SYNTH_BASE - 1;
	return idx < m->count ? m->names[idx] : NULL;
}

/* ---- the responder ----------------------------------------------------- */

#define HDR	     12
#define CLASS_IN     1
#define PTR_SUFFIX   ".in-addr.arpa"
#define PTR_SUFFIX_N (sizeof(PTR_SUFFIX) - 1)
#define ANSWER_FIXED 12	    /* compressed owner, type, class, TTL, RDLENGTH */
#define NAME_POINTER 0xc000 /* | offset: the question's name at offset 12 */
#define FLAG_QR	     0x80
#define FLAG_TC	     0x02
#define FLAG_RD	     0x01
#define FLAG_RA	     0x80
#define OPCODE(b2)   (((b2) >> 3) & 0x0f)

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

/* The PTR owner "d.c.b.a.in-addr.arpa" as an address, or false. Each part
 * is 1..3 digits without a leading zero, at most 255. */
static bool parse_ptr_name(const char *s, size_t n, struct in_addr *out)
{
	uint32_t v = 0;
	size_t i = 0;

	if (n <= PTR_SUFFIX_N || memcmp(s + n - PTR_SUFFIX_N, PTR_SUFFIX, PTR_SUFFIX_N) != 0)
		return false;
	n -= PTR_SUFFIX_N;
	for (int part = 0; part < 4; part++) {
		unsigned x = 0, digits = 0;
		for (; i < n && is_digit((unsigned char)s[i]); i++, digits++)
			x = x * 10 + (unsigned)(s[i] - '0');
		if (digits == 0 || digits > 3 || x > 255 || (digits > 1 && s[i - digits] == '0'))
			return false;
		v |= (uint32_t)x << (8 * part); /* reversed: d.c.b.a */
		if (part < 3 && (i >= n || s[i++] != '.'))
			return false;
	}
	if (i != n)
		return false;
	out->s_addr = htonl(v);
	return true;
}

struct reply {
	uint8_t *out;
	size_t cap, len;
	bool truncated;
};

/* Header, then the question bytes q[HDR..qend) (none when qend is 0). */
static int begin(struct reply *r, const uint8_t *q, size_t qend, uint8_t rcode)
{
	size_t need = qend ? qend : HDR;

	if (r->cap < need)
		return -1;
	memcpy(r->out, q, 2);						   /* ID */
	r->out[2] = (uint8_t)(FLAG_QR | (q[2] & 0x78) | (q[2] & FLAG_RD)); /* opcode echoed */
	r->out[3] = (uint8_t)(FLAG_RA | rcode);
	put16(r->out + 4, qend ? 1 : 0);
	memset(r->out + 6, 0, 6);
	if (qend)
		memcpy(r->out + HDR, q + HDR, qend - HDR);
	r->len = need;
	return 0;
}

/* One answer to the question: rdata of rdlen bytes (written by the caller
 * when it returns non-NULL); a reply that would pass cap gets TC=1. */
static uint8_t *add_answer(struct reply *r, uint16_t type, uint16_t rdlen)
{
	if (r->truncated || r->len + ANSWER_FIXED + rdlen > r->cap) {
		r->out[2] |= FLAG_TC;
		r->truncated = true;
		return NULL;
	}
	uint8_t *p = r->out + r->len;
	p = put16(p, NAME_POINTER | HDR);
	p = put16(p, type);
	p = put16(p, CLASS_IN);
	p = put16(p, 0);
	p = put16(p, PC_DNS_TTL);
	p = put16(p, rdlen);
	r->len += ANSWER_FIXED + rdlen;
	put16(r->out + 6, (uint16_t)(get16(r->out + 6) + 1));
	return p;
}

static void answer_ptr(struct reply *r, const char *name)
{
	size_t n = strlen(name);
	uint8_t *p = add_answer(r, PC_DNS_TYPE_PTR, (uint16_t)(n + 2));

	if (!p)
		return;
	/* text to wire: each label behind its length; names are validated */
	for (size_t start = 0; start <= n;) {
		const char *dot = memchr(name + start, '.', n - start);
		size_t l = dot ? (size_t)(dot - name) - start : n - start;
		*p++ = (uint8_t)l;
		memcpy(p, name + start, l);
		p += l;
		start += l + 1;
	}
	*p = 0;
}

/* The question's name from wire to text: lowercased, bytes no host name
 * has shown as '?' (*bad set). Returns the offset after the name, 0 when
 * the name is cut short by the datagram's end (no reply), or -1 for a
 * wire-format error (FORMERR). */
static ssize_t read_qname(const uint8_t *q, size_t qlen, char name[256], size_t *name_len,
			  bool *bad)
{
	size_t p = HDR, n = 0;

	*bad = false;
	for (;;) {
		if (p >= qlen)
			return 0;
		uint8_t l = q[p];
		if (l == 0)
			break;
		if (l & 0xc0) /* 11: compression pointer; 01, 10: extended label types */
			return -1;
		if (p + 1 + l - HDR + 1 > 255) /* wire length, final zero included */
			return -1;
		if (p + 1 + l > qlen)
			return 0;
		if (n)
			name[n++] = '.';
		for (size_t i = 0; i < l; i++) {
			unsigned char c = q[p + 1 + i];
			if (!label_byte_ok(c)) {
				*bad = true;
				c = '?';
			}
			name[n++] = lower(c);
		}
		p += 1 + (size_t)l;
	}
	name[n] = '\0';
	*name_len = n;
	return (ssize_t)p + 1;
}

int pc_dns_answer(struct pc_dns_map *m, const uint8_t *q, size_t qlen, uint8_t *out, size_t cap,
		  size_t *out_len, char qname[256], uint16_t *qtype)
{
	struct reply r = {.out = out, .cap = cap};
	char name[256];
	size_t n = 0;
	bool bad;
	struct in_addr a;
	int ret;

	*out_len = 0;
	qname[0] = '\0';
	*qtype = 0;
	if (qlen < HDR || (q[2] & FLAG_QR))
		return -1;
	if (OPCODE(q[2]) != 0 || get16(q + 4) != 1 || get16(q + 6) != 0 || get16(q + 8) != 0) {
		ret = begin(&r, q, 0, OPCODE(q[2]) != 0 ? PC_DNS_NOTIMP : PC_DNS_FORMERR);
		*out_len = r.len;
		return ret;
	}
	ssize_t e = read_qname(q, qlen, name, &n, &bad);
	if (e == 0)
		return -1;
	if (e < 0) {
		ret = begin(&r, q, 0, PC_DNS_FORMERR);
		*out_len = r.len;
		return ret;
	}
	size_t qend = (size_t)e + 4;
	if (qend > qlen)
		return -1;
	memcpy(qname, name, n + 1);
	*qtype = get16(q + e);
	uint16_t qclass = get16(q + e + 2);

	uint8_t rcode = PC_DNS_NOERROR;
	if (qclass != CLASS_IN)
		rcode = PC_DNS_REFUSED;
	else if (bad)
		rcode = PC_DNS_NXDOMAIN;
	else if (pc_dns_name_is_numeric(name, n))
		rcode = PC_DNS_NXDOMAIN;
	if (begin(&r, q, qend, rcode) < 0)
		return -1;
	if (rcode != PC_DNS_NOERROR || n == 0)
		goto done;

	if (is_localhost(name, n)) {
		static const uint8_t lo4[4] = {127, 0, 0, 1};
		static const uint8_t lo6[16] = {[15] = 1};
		uint8_t *p;
		if (*qtype == PC_DNS_TYPE_A && (p = add_answer(&r, PC_DNS_TYPE_A, 4)))
			memcpy(p, lo4, 4);
		else if (*qtype == PC_DNS_TYPE_AAAA && (p = add_answer(&r, PC_DNS_TYPE_AAAA, 16)))
			memcpy(p, lo6, 16);
	} else if (*qtype == PC_DNS_TYPE_A) {
		int k = pc_dns_map_name(m, name, &a);
		uint8_t *p;
		if (k < 0) /* -ENOSPC; -EINVAL cannot happen after the checks above */
			out[3] = FLAG_RA | PC_DNS_SERVFAIL;
		else if ((p = add_answer(&r, PC_DNS_TYPE_A, 4)))
			memcpy(p, &a.s_addr, 4);
	} else if (*qtype == PC_DNS_TYPE_PTR) {
		const char *mapped = parse_ptr_name(name, n, &a) ? pc_dns_map_lookup(m, a) : NULL;
		if (mapped)
			answer_ptr(&r, mapped);
		else
			out[3] = FLAG_RA | PC_DNS_NXDOMAIN;
	}
	/* AAAA and every other type: NOERROR, no data */
done:
	*out_len = r.len;
	return 0;
}
