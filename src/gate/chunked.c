/* gate/chunked: the chunked transfer coding (RFC 9112 section 7.1), decoded
 * one byte state at a time so a body can arrive in any pieces.
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk   = 1*("0") [ chunk-ext ] CRLF
 *
 * Strict: CRLF everywhere (bare LF is an error), a size of at least one
 * hex digit and below 2^63, whitespace after the size only before ';',
 * extensions and trailers bounded, trailer lines shaped like header lines.
 */
#include "gate/proto.h"

#include <string.h>

enum {
	ST_SIZE = 0, /* hex digits */
	ST_SIZE_WS,  /* BWS after the size, before ';' */
	ST_EXT,	     /* chunk extensions, to CR */
	ST_SIZE_LF,  /* CR seen after the size line */
	ST_DATA,     /* chunk data */
	ST_DATA_CR,  /* CR after data */
	ST_DATA_LF,  /* LF after data */
	ST_TR_START, /* start of a trailer line or the final CRLF */
	ST_TR_NAME,  /* trailer field name */
	ST_TR_VALUE, /* trailer field value, to CR */
	ST_TR_LF,    /* LF after a trailer line */
	ST_FINAL_LF, /* LF of the final CRLF */
	ST_DONE,
	ST_ERROR,
};

#define MAX_SIZE_DIGITS 64 /* leading zeros included */

void pc_chunked_init(struct pc_chunked *c, unsigned max_ext, size_t max_trailer)
{
	memset(c, 0, sizeof(*c));
	c->state = ST_SIZE;
	c->max_ext = max_ext ? max_ext : PC_CHUNKED_MAX_EXT_DEFAULT;
	c->max_trailer = max_trailer ? max_trailer : PC_CHUNKED_MAX_TRAILER_DEFAULT;
}

static int hexval(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static bool is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch && strchr("!#$%&'*+-.^_`|~", ch);
}

static bool is_field_char(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static enum pc_chunked_result bad(struct pc_chunked *c, size_t i, size_t *consumed,
				  const char *reason)
{
	c->state = ST_ERROR;
	c->reason = reason;
	*consumed = i;
	return PC_CHUNKED_ERROR;
}

/* One byte of the framing (not data). Returns NULL or why it is wrong. */
static const char *step(struct pc_chunked *c, unsigned char ch)
{
	int v;

	switch (c->state) {
	case ST_SIZE:
		v = hexval(ch);
		if (v >= 0) {
			if (++c->digits > MAX_SIZE_DIGITS)
				return "chunk size too long";
			if (c->size > (UINT64_C(0x7fffffffffffffff) >> 4))
				return "chunk size too large";
			c->size = (c->size << 4) | (uint64_t)v;
			return NULL;
		}
		if (c->digits == 0)
			return "missing chunk size";
		if (ch == ';')
			c->state = ST_EXT;
		else if (ch == ' ' || ch == '\t')
			c->state = ST_SIZE_WS;
		else if (ch == '\r')
			c->state = ST_SIZE_LF;
		else
			return "invalid chunk size";
		return NULL;
	case ST_SIZE_WS:
		if (++c->ext_len > c->max_ext)
			return "chunk extension too long";
		if (ch == ';')
			c->state = ST_EXT;
		else if (ch != ' ' && ch != '\t')
			return "whitespace after chunk size";
		return NULL;
	case ST_EXT:
		if (ch == '\r') {
			c->state = ST_SIZE_LF;
			return NULL;
		}
		if (++c->ext_len > c->max_ext)
			return "chunk extension too long";
		if (!is_field_char(ch))
			return "control character in chunk extension";
		return NULL;
	case ST_SIZE_LF:
		if (ch != '\n')
			return "CR not followed by LF after chunk size";
		c->remaining = c->size;
		c->state = c->size ? ST_DATA : ST_TR_START;
		c->size = 0;
		c->digits = 0;
		c->ext_len = 0;
		return NULL;
	case ST_DATA_CR:
		if (ch != '\r')
			return "chunk data not followed by CRLF";
		c->state = ST_DATA_LF;
		return NULL;
	case ST_DATA_LF:
		if (ch != '\n')
			return "chunk data not followed by CRLF";
		c->state = ST_SIZE;
		return NULL;
	case ST_TR_START:
		if (ch == '\r') {
			c->state = ST_FINAL_LF;
			return NULL;
		}
		if (ch == ' ' || ch == '\t')
			return "obs-fold in trailer";
		c->line_len = 0;
		c->state = ST_TR_NAME;
		/* fall through */
	case ST_TR_NAME:
		if (++c->trailer_len > c->max_trailer)
			return "trailer section too large";
		if (ch == ':' && c->line_len > 0) {
			c->state = ST_TR_VALUE;
			return NULL;
		}
		if (!is_tchar(ch))
			return "invalid trailer field name";
		c->line_len++;
		return NULL;
	case ST_TR_VALUE:
		if (ch == '\r') {
			c->state = ST_TR_LF;
			return NULL;
		}
		if (++c->trailer_len > c->max_trailer)
			return "trailer section too large";
		if (!is_field_char(ch))
			return "control character in trailer";
		return NULL;
	case ST_TR_LF:
		if (ch != '\n')
			return "CR not followed by LF in trailer";
		c->state = ST_TR_START;
		return NULL;
	case ST_FINAL_LF:
		if (ch != '\n')
			return "CR not followed by LF at end of body";
		c->state = ST_DONE;
		return NULL;
	default:
		return "decoder in a bad state";
	}
}

enum pc_chunked_result pc_chunked_feed(struct pc_chunked *c, const char *in, size_t len,
				       size_t *consumed, const char **data, size_t *data_len)
{
	*data = NULL;
	*data_len = 0;
	if (c->state == ST_ERROR)
		return bad(c, 0, consumed, c->reason);
	if (c->state == ST_DONE) {
		*consumed = 0;
		return PC_CHUNKED_DONE;
	}
	for (size_t i = 0; i < len; i++) {
		if (c->state == ST_DATA) {
			size_t n = len - i;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			c->remaining -= n;
			c->body_bytes += n;
			if (c->remaining == 0)
				c->state = ST_DATA_CR;
			*data = in + i;
			*data_len = n;
			*consumed = i + n;
			return PC_CHUNKED_DATA;
		}
		const char *why = step(c, (unsigned char)in[i]);
		if (why)
			return bad(c, i, consumed, why);
		if (c->state == ST_DONE) {
			*consumed = i + 1;
			return PC_CHUNKED_DONE;
		}
	}
	*consumed = len;
	return PC_CHUNKED_MORE;
}
