/* audit internals shared by the writer, the reader and verify. Not a
 * contract: nothing outside src/audit includes this. */
#pragma once

#include "audit/audit.h"

#define AUDIT_HASH_HEX	  64
#define AUDIT_ZERO_HASH	  "0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_HEAD_SUFFIX ".head"
/* The tail of every line: `"hash":"<64 hex>"}` and '\n'. */
#define AUDIT_HASH_KEY ",\"hash\":\""
#define AUDIT_TAIL_LEN (sizeof("\"hash\":\"") - 1 + AUDIT_HASH_HEX + 3)

/* hex = SHA-256(prev (64 hex chars) || data[0..len)) as lowercase hex. */
void audit_hash(const char prev[AUDIT_HASH_HEX], const char *data, size_t len,
		char hex[AUDIT_HASH_HEX + 1]);

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
size_t audit_utf8_len(const unsigned char *s, size_t n);

/* Is s 64 lowercase hex digits? */
bool audit_is_hash(const char *s, size_t n);

/* Is key a name a field may have: [a-z0-9_.-]+, at most 64 bytes, and not
 * one of the fixed keys? */
bool audit_field_key_ok(const char *key);

/* FILE.head: "SEQ HASH\n". Parse n bytes; -EBADMSG when malformed. */
int audit_head_parse(const char *data, size_t n, uint64_t *seq, char hash[AUDIT_HASH_HEX + 1]);
