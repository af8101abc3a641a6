/* What every pincer program prints for an error that travelled up. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

void cli_print_error(const struct pc_error *err)
{
	fprintf(stderr, "pincer: %s\n", err->msg[0] ? err->msg : strerror(err->code));
}

/* The length of the valid UTF-8 sequence at p (n bytes left), its code
 * point in *cp; 0: not UTF-8 (overlong, a surrogate, cut short, ...). */
static size_t utf8_at(const unsigned char *p, size_t n, unsigned *cp)
{
	static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3
				    : (p[0] & 0xf8) == 0xf0			  ? 4
										  : 0;
	if (!len || len > n)
		return 0;
	unsigned c = len == 1 ? p[0] : p[0] & (0x7fu >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3fu);
	}
	if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Characters that act on a terminal or hide text: C0, DEL, C1 (U+009B is
 * CSI), the zero-width and bidirectional controls, U+FEFF, the tags. */
static bool hidden(unsigned c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x200b && c <= 0x200f) ||
	       (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x206f) || c == 0xfeff ||
	       (c >= 0xfff9 && c <= 0xfffb) || (c >= 0xe0000 && c <= 0xe007f);
}

/* s[0..n) onto b, every hidden character as \xNN (one byte) or \u{...},
 * every byte that is not UTF-8 as \xNN: what an agent put in a request
 * (or anyone in a reason) never drives the approver's terminal. At most
 * max characters (an escape counts its length); returns the bytes taken. */
size_t cli_put_safe(struct pc_buf *b, const char *s, size_t n, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, cols = 0;
	while (i < n) {
		unsigned c = 0;
		size_t len = utf8_at(p + i, n - i, &c);
		char esc[16] = "";
		if (!len)
			snprintf(esc, sizeof(esc), "\\x%02x", p[i]), len = 1;
		else if (hidden(c))
			snprintf(esc, sizeof(esc), c < 0x80 ? "\\x%02x" : "\\u{%x}", c);
		size_t w = esc[0] ? strlen(esc) : 1;
		if (cols + w > max)
			break;
		if (esc[0])
			pc_buf_puts(b, esc);
		else
			pc_buf_append(b, s + i, len);
		cols += w;
		i += len;
	}
	return i;
}
