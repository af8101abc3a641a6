/* Growable byte buffers. */
#include "util.h"

#include <string.h>

static void buf_reserve(struct pc_buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	b->data = pc_xrealloc(b->data, cap);
	b->cap = cap;
}

void pc_buf_append(struct pc_buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void pc_buf_puts(struct pc_buf *b, const char *s)
{
	pc_buf_append(b, s, strlen(s));
}

void pc_buf_vprintf(struct pc_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void pc_buf_printf(struct pc_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pc_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void pc_buf_json_string(struct pc_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	pc_buf_append(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			pc_buf_puts(b, "\\\"");
			break;
		case '\\':
			pc_buf_puts(b, "\\\\");
			break;
		case '\n':
			pc_buf_puts(b, "\\n");
			break;
		case '\r':
			pc_buf_puts(b, "\\r");
			break;
		case '\t':
			pc_buf_puts(b, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				char e[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
				pc_buf_puts(b, e);
			} else {
				pc_buf_append(b, p, 1);
			}
		}
	}
	pc_buf_append(b, "\"", 1);
}

void pc_buf_reset(struct pc_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void pc_buf_free(struct pc_buf *b)
{
	free(b->data);
	*b = (struct pc_buf){0};
}

void pc_buf_freep(struct pc_buf *b)
{
	pc_buf_free(b);
}
