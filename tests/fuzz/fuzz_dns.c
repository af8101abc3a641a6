/* libFuzzer harness for the gate's DNS responder core (see README.md).
 *
 * The input is one query datagram. A fresh map per input holds
 * "a.example" and room for one more name or none (bit 0 of the second
 * ID byte), so allocation and the full-map SERVFAIL are both reached and a
 * run does not depend on the ones before. Every reply is walked as a DNS
 * message: header echoes, the question echoed byte for byte, an answer
 * whose lengths add up to the reply's; an A answer maps back to the name
 * and its PTR gives the name again; asking twice gives the same reply; a
 * small output buffer gets a truncated reply or none. Any violation
 * aborts. */
#include "gate/proto.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MUST(c)                                                                                    \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned g16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void check_qname(const char *s)
{
	size_t n = strlen(s);
	MUST(n <= 253);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		MUST((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		     c == '.' || c == '?');
	}
}

/* Walk the reply: returns the answer's rdata offset (0 when none). */
static size_t check_reply(const uint8_t *q, size_t qlen, const uint8_t *out, size_t len,
			  size_t *qend)
{
	MUST(len >= 12 && len <= 512);
	MUST(out[0] == q[0] && out[1] == q[1]);
	MUST((out[2] & 0x80) && (out[2] & 0x78) == (q[2] & 0x78) && (out[2] & 1) == (q[2] & 1));
	MUST((out[3] & 0xf0) == 0x80 && (out[3] & 0x0f) <= 5);
	unsigned qd = g16(out + 4), an = g16(out + 6);
	MUST(qd <= 1 && an <= 1 && g16(out + 8) == 0 && g16(out + 10) == 0);
	*qend = 12;
	if (qd == 0) {
		MUST(len == 12 && an == 0);
		return 0;
	}
	size_t p = 12;
	MUST(p < len);
	while (out[p] != 0) {
		MUST(out[p] < 64);
		p += 1 + out[p];
		MUST(p < len);
	}
	p += 5;
	MUST(p <= len && p <= qlen && memcmp(out + 12, q + 12, p - 12) == 0);
	*qend = p;
	if (an == 0) {
		MUST(len == p);
		return 0;
	}
	MUST((out[3] & 0x0f) == 0 && len >= p + 12);
	MUST(out[p] == 0xc0 && out[p + 1] == 12);
	MUST(g16(out + p + 10) + p + 12 == len);
	return p + 12;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[512], again[512], small[64];
	size_t len, len2, qend;
	char qname[256], q2name[256];
	uint16_t qtype, qtype2;
	struct in_addr a;

	struct pc_dns_map *m = pc_dns_map_new(size > 1 && (data[1] & 1) ? 2 : 1);
	MUST(pc_dns_map_name(m, "A.Example.", &a) == 0 && ntohl(a.s_addr) == 0xc6120001);

	int r = pc_dns_answer(m, data, size, out, sizeof(out), &len, qname, &qtype);
	check_qname(qname);
	if (r < 0) {
		MUST(r == -1 && len == 0);
		MUST(pc_dns_answer(m, data, size, again, sizeof(again), &len2, q2name, &qtype2) ==
		     -1);
		pc_dns_map_free(m);
		return 0;
	}
	MUST(r == 0);
	size_t rd = check_reply(data, size, out, len, &qend);

	/* the same question again: the same reply, and nothing new mapped */
	size_t count = pc_dns_map_count(m);
	MUST(pc_dns_answer(m, data, size, again, sizeof(again), &len2, q2name, &qtype2) == 0);
	MUST(len2 == len && memcmp(out, again, len) == 0 && strcmp(qname, q2name) == 0);
	MUST(qtype == qtype2 && pc_dns_map_count(m) == count && count <= 2);

	if (rd && qtype == PC_DNS_TYPE_A) {
		MUST(g16(out + rd - 2) == 4);
		memcpy(&a, out + rd, 4);
		if (a.s_addr == htonl(0x7f000001)) {
			MUST(strcmp(qname, "localhost") == 0 || strstr(qname, ".localhost"));
		} else {
			MUST(pc_dns_is_synthetic(a));
			const char *back = pc_dns_map_lookup(m, a);
			MUST(back && strcmp(back, qname) == 0);
			/* its PTR names it again */
			uint8_t pq[64];
			char ptr[40];
			uint32_t h = ntohl(a.s_addr);
			int pn = snprintf(ptr, sizeof(ptr), "%u.%u.%u.%u.in-addr.arpa", h & 255,
					  (h >> 8) & 255, (h >> 16) & 255, h >> 24);
			size_t p = 12;
			memcpy(pq, data, 12);
			pq[2] &= 0x01;
			pq[4] = 0, pq[5] = 1;
			memset(pq + 6, 0, 6);
			for (const char *s = ptr; s < ptr + pn;) {
				const char *dot = strchr(s, '.');
				size_t l = dot ? (size_t)(dot - s) : strlen(s);
				pq[p++] = (uint8_t)l;
				memcpy(pq + p, s, l);
				p += l;
				s += l + 1;
			}
			memcpy(pq + p, "\0\0\x0c\0\x01", 5);
			p += 5;
			MUST(pc_dns_answer(m, pq, p, again, sizeof(again), &len2, q2name,
					   &qtype2) == 0);
			size_t qe, prd = check_reply(pq, p, again, len2, &qe);
			MUST(prd && qtype2 == PC_DNS_TYPE_PTR);
			MUST(g16(again + prd - 2) == strlen(qname) + 2);
		}
	} else if (rd) {
		MUST(qtype == PC_DNS_TYPE_AAAA || qtype == PC_DNS_TYPE_PTR);
	}

	/* a small buffer: the header and question with TC, or nothing */
	size_t cap = size ? data[size - 1] % sizeof(small) : 0;
	r = pc_dns_answer(m, data, size, small, cap, &len2, q2name, &qtype2);
	MUST(r == -1 || (len2 <= cap && len2 >= 12));
	if (r == 0 && len2 < len)
		MUST((small[2] & 0x02) && len2 == qend);
	pc_dns_map_free(m);
	return 0;
}
