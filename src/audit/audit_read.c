/* audit: reading the log back. The strict parser of our own line format
 * (shared by verify and tail), the hash (util's SHA-256: no libcrypto on
 * the run path), and a line reader that can follow a growing file. */
#include "audit/audit-internal.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>

/* ---- small pieces -------------------------------------------------------- */

void audit_hash(const char prev[AUDIT_HASH_HEX], const char *data, size_t len,
		char hex[AUDIT_HASH_HEX + 1])
{
	struct pc_sha256 c;
	uint8_t md[32];
	pc_sha256_init(&c);
	pc_sha256_update(&c, prev, AUDIT_HASH_HEX);
	pc_sha256_update(&c, data, len);
	pc_sha256_final(&c, md);
	pc_hex(md, sizeof(md), hex);
}

size_t audit_utf8_len(const unsigned char *s, size_t n)
{
	if (n == 0)
		return 0;
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t need;
	unsigned int cp, min;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

bool audit_is_hash(const char *s, size_t n)
{
	if (n != AUDIT_HASH_HEX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool audit_field_key_ok(const char *key)
{
	static const char *const fixed[] = {"seq",	"time",	  "type", "agent", "run",
					    "decision", "reason", "prev", "hash"};
	size_t n = strlen(key);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = key[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	for (size_t i = 0; i < PC_ARRAY_SIZE(fixed); i++)
		if (strcmp(key, fixed[i]) == 0)
			return false;
	return true;
}

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

int audit_head_parse(const char *data, size_t n, uint64_t *seq, char hash[AUDIT_HASH_HEX + 1])
{
	const char *sp = memchr(data, ' ', n);
	if (!sp || n == 0 || data[n - 1] != '\n')
		return -EBADMSG;
	size_t seq_len = (size_t)(sp - data);
	size_t hash_len = n - seq_len - 2;
	if (!parse_u64(data, seq_len, seq) || !audit_is_hash(sp + 1, hash_len))
		return -EBADMSG;
	memcpy(hash, sp + 1, AUDIT_HASH_HEX);
	hash[AUDIT_HASH_HEX] = '\0';
	if (*seq == 0 && strcmp(hash, AUDIT_ZERO_HASH) != 0)
		return -EBADMSG;
	return 0;
}

/* ---- the line parser ------------------------------------------------------ */

struct cursor {
	const char *s;
	size_t n, i;
	char *out; /* next free byte in the record's storage */
	struct pc_error *err;
};

static int bad(struct cursor *c, const char *what)
{
	return pc_error(c->err, EBADMSG, "byte %zu: %s", c->i + 1, what);
}

static bool lit(struct cursor *c, const char *s)
{
	size_t l = strlen(s);
	if (c->n - c->i < l || memcmp(c->s + c->i, s, l) != 0)
		return false;
	c->i += l;
	return true;
}

static int hexval(char h)
{
	if (h >= '0' && h <= '9')
		return h - '0';
	if (h >= 'a' && h <= 'f')
		return h - 'a' + 10;
	return -1;
}

/* A string literal exactly as pc_buf_json_string writes it, decoded into
 * the storage. */
static int string(struct cursor *c, const char **out)
{
	if (!lit(c, "\""))
		return bad(c, "expected a string");
	char *start = c->out;
	for (;;) {
		if (c->i >= c->n)
			return bad(c, "unterminated string");
		unsigned char ch = (unsigned char)c->s[c->i];
		if (ch == '"') {
			c->i++;
			break;
		}
		if (ch == '\\') {
			if (c->n - c->i < 2)
				return bad(c, "unterminated escape");
			char e = c->s[c->i + 1];
			char v;
			size_t adv = 2;
			switch (e) {
			case '"':
			case '\\':
				v = e;
				break;
			case 'n':
				v = '\n';
				break;
			case 'r':
				v = '\r';
				break;
			case 't':
				v = '\t';
				break;
			case 'u': {
				int h1 = -1, h2 = -1;
				if (c->n - c->i >= 6 && memcmp(c->s + c->i, "\\u00", 4) == 0) {
					h1 = hexval(c->s[c->i + 4]);
					h2 = hexval(c->s[c->i + 5]);
				}
				if (h1 < 0 || h2 < 0)
					return bad(c, "escape other than \\u00XX (lowercase)");
				int b = h1 * 16 + h2;
				if (b == 0 || (b >= 0x20 && b != 0x7f) || b == '\n' || b == '\r' ||
				    b == '\t')
					return bad(c, "needless \\u escape");
				v = (char)b;
				adv = 6;
				break;
			}
			default:
				return bad(c, "unknown escape");
			}
			*c->out++ = v;
			c->i += adv;
			continue;
		}
		if (ch < 0x20 || ch == 0x7f)
			return bad(c, "control byte in a string");
		size_t l = audit_utf8_len((const unsigned char *)c->s + c->i, c->n - c->i);
		if (l == 0)
			return bad(c, "invalid UTF-8");
		memcpy(c->out, c->s + c->i, l);
		c->out += l;
		c->i += l;
	}
	*c->out++ = '\0';
	*out = start;
	return 0;
}

/* A string value that must match a simple shape. */
static int word(struct cursor *c, const char *key, const char *charset, const char **out)
{
	size_t at = c->i;
	int r = string(c, out);
	if (r < 0)
		return r;
	if (**out == '\0' || strspn(*out, charset) != strlen(*out)) {
		c->i = at;
		return pc_error(c->err, EBADMSG, "byte %zu: \"%s\" is not a valid %s", at + 1, *out,
				key);
	}
	return 0;
}

static int timestamp(struct cursor *c, const char **out)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	size_t at = c->i;
	int r = string(c, out);
	if (r < 0)
		return r;
	bool ok = strlen(*out) == sizeof(shape) - 1;
	for (size_t i = 0; ok && shape[i]; i++)
		ok = shape[i] == 'd' ? ((*out)[i] >= '0' && (*out)[i] <= '9')
				     : (*out)[i] == shape[i];
	if (!ok) {
		c->i = at;
		return bad(c, "time is not YYYY-MM-DDTHH:MM:SS.ffffffZ");
	}
	return 0;
}

static int number(struct cursor *c, struct audit_record_field *f)
{
	size_t at = c->i, end = c->i;
	if (end < c->n && c->s[end] == '-')
		end++;
	size_t digits = end;
	while (end < c->n && c->s[end] >= '0' && c->s[end] <= '9')
		end++;
	size_t nd = end - digits;
	uint64_t mag;
	if (nd == 0 || !parse_u64(c->s + digits, nd, &mag))
		return bad(c, "expected a string or an integer");
	bool neg = digits > at;
	if ((neg && (mag == 0 || mag > (uint64_t)LLONG_MAX + 1)) || (!neg && mag > LLONG_MAX))
		return bad(c, "integer out of range or -0");
	f->num = neg ? (long long)(0 - mag) : (long long)mag;
	f->is_num = true;
	memcpy(c->out, c->s + at, end - at);
	f->value = c->out;
	c->out += end - at;
	*c->out++ = '\0';
	c->i = end;
	return 0;
}

#define EXPECT(c, s)                                                                               \
	do {                                                                                       \
		if (!lit((c), (s)))                                                                \
			return bad((c), "expected '" s "'");                                       \
	} while (0)

static int parse(struct cursor *c, struct audit_record *rec)
{
	static const char type_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789.-";
	static const char decision_chars[] = "abcdefghijklmnopqrstuvwxyz-";
	size_t cap = 0;
	int r;

	EXPECT(c, "{\"seq\":");
	size_t at = c->i;
	while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9')
		c->i++;
	if (!parse_u64(c->s + at, c->i - at, &rec->seq) || rec->seq == 0) {
		c->i = at;
		return bad(c, "seq is not a positive integer");
	}
	EXPECT(c, ",\"time\":");
	if ((r = timestamp(c, &rec->time)) < 0)
		return r;
	EXPECT(c, ",\"type\":");
	if ((r = word(c, "type", type_chars, &rec->type)) < 0)
		return r;
	EXPECT(c, ",\"agent\":");
	if ((r = string(c, &rec->agent)) < 0)
		return r;
	EXPECT(c, ",\"run\":");
	if ((r = string(c, &rec->run)) < 0)
		return r;
	EXPECT(c, ",\"decision\":");
	if ((r = word(c, "decision", decision_chars, &rec->decision)) < 0)
		return r;
	EXPECT(c, ",\"reason\":");
	if ((r = string(c, &rec->reason)) < 0)
		return r;
	for (;;) {
		EXPECT(c, ",");
		const char *key;
		at = c->i;
		if ((r = string(c, &key)) < 0)
			return r;
		EXPECT(c, ":");
		if (strcmp(key, "prev") == 0)
			break;
		if (!audit_field_key_ok(key)) {
			c->i = at;
			return pc_error(c->err, EBADMSG, "byte %zu: \"%s\" is not a field name",
					at + 1, key);
		}
		if (rec->n_fields == cap) {
			cap = cap ? cap * 2 : 4;
			rec->fields = pc_xrealloc(rec->fields, cap * sizeof(*rec->fields));
		}
		struct audit_record_field *f = &rec->fields[rec->n_fields++];
		*f = (struct audit_record_field){.key = key};
		if (c->i < c->n && c->s[c->i] == '"')
			r = string(c, &f->value);
		else
			r = number(c, f);
		if (r < 0)
			return r;
	}
	EXPECT(c, "\"");
	if (!audit_is_hash(c->s + c->i, c->n - c->i < 64 ? c->n - c->i : 64))
		return bad(c, "prev is not 64 lowercase hex digits");
	memcpy(rec->prev, c->s + c->i, 64);
	c->i += 64;
	EXPECT(c, "\"");
	rec->hashed_len = c->i;
	EXPECT(c, AUDIT_HASH_KEY);
	if (!audit_is_hash(c->s + c->i, c->n - c->i < 64 ? c->n - c->i : 64))
		return bad(c, "hash is not 64 lowercase hex digits");
	memcpy(rec->hash, c->s + c->i, 64);
	c->i += 64;
	EXPECT(c, "\"}");
	if (c->i != c->n)
		return bad(c, "text after the end of the record");
	return 0;
}

int audit_record_parse(const char *line, size_t len, struct audit_record *rec, struct pc_error *err)
{
	*rec = (struct audit_record){0};
	rec->storage_ = pc_xmalloc(len + 1);
	struct cursor c = {.s = line, .n = len, .out = rec->storage_, .err = err};
	int r = parse(&c, rec);
	if (r < 0)
		audit_record_free(rec);
	return r;
}

void audit_record_free(struct audit_record *rec)
{
	free(rec->storage_);
	free(rec->fields);
	*rec = (struct audit_record){0};
}

bool audit_record_hash_ok(const struct audit_record *rec, const char *line)
{
	char hex[AUDIT_HASH_HEX + 1];
	audit_hash(rec->prev, line, rec->hashed_len, hex);
	return memcmp(hex, rec->hash, AUDIT_HASH_HEX) == 0;
}

/* ---- the line reader ------------------------------------------------------- */

struct audit_reader {
	int fd;
	int ino_fd; /* inotify, -1 when unavailable */
	char *path;
	dev_t dev;
	ino_t ino;
	char *buf;
	size_t cap, start, end;
	uint64_t read_off; /* file offset of buf[end] */
	uint64_t limit;	   /* UINT64_MAX: none */
	uint64_t lineno;
};

int audit_reader_open(const char *path, struct audit_reader **out, struct pc_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return pc_error_errno(err, errno, "cannot open audit log %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return pc_error_errno(err, errno, "cannot stat %s", path);
	if (!S_ISREG(st.st_mode))
		return pc_error(err, EINVAL, "%s is not a regular file", path);
	struct audit_reader *r = pc_xcalloc(1, sizeof(*r));
	r->fd = pc_steal_fd(&fd);
	r->ino_fd = -1;
	r->path = pc_xstrdup(path);
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	r->cap = 64 * 1024;
	r->buf = pc_xmalloc(r->cap);
	r->limit = UINT64_MAX;
	*out = r;
	return 0;
}

void audit_reader_close(struct audit_reader *r)
{
	pc_closep(&r->fd);
	pc_closep(&r->ino_fd);
	free(r->path);
	free(r->buf);
	free(r);
}

void audit_reader_set_limit(struct audit_reader *r, uint64_t limit)
{
	r->limit = limit;
}

size_t audit_reader_pending(const struct audit_reader *r)
{
	return r->end - r->start;
}

int audit_reader_next(struct audit_reader *r, const char **line, size_t *len, uint64_t *lineno,
		      struct pc_error *err)
{
	for (;;) {
		char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
		if (nl) {
			*line = r->buf + r->start;
			*len = (size_t)(nl - *line);
			r->start = (size_t)(nl - r->buf) + 1;
			*lineno = ++r->lineno;
			return 1;
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->end == r->cap) {
			r->cap *= 2;
			r->buf = pc_xrealloc(r->buf, r->cap);
		}
		size_t want = r->cap - r->end;
		if (r->limit != UINT64_MAX) {
			if (r->read_off >= r->limit)
				return 0;
			if (want > r->limit - r->read_off)
				want = (size_t)(r->limit - r->read_off);
		}
		ssize_t n = read(r->fd, r->buf + r->end, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pc_error_errno(err, errno, "cannot read %s", r->path);
		if (n == 0)
			return 0;
		r->end += (size_t)n;
		r->read_off += (uint64_t)n;
	}
}

int audit_reader_wait(struct audit_reader *r, int timeout_ms, struct pc_error *err)
{
	struct stat st, now;
	if (r->ino_fd < 0) {
		r->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (r->ino_fd >= 0 &&
		    inotify_add_watch(r->ino_fd, r->path,
				      IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF) < 0) {
			pc_closep(&r->ino_fd);
			r->ino_fd = -1;
		}
	}
	if (fstat(r->fd, &st) < 0)
		return pc_error_errno(err, errno, "cannot stat %s", r->path);
	if ((uint64_t)st.st_size < r->read_off)
		return pc_error(err, ESTALE, "%s was truncated while being read", r->path);
	if (stat(r->path, &now) < 0 || now.st_dev != r->dev || now.st_ino != r->ino)
		return pc_error(err, ESTALE, "%s was removed or replaced while being read",
				r->path);
	if ((uint64_t)st.st_size > r->read_off)
		return 0;
	if (r->ino_fd < 0) {
		/* No inotify (limits, seccomp): look again soon. */
		struct timespec ts = {0, 200 * 1000 * 1000};
		if (timeout_ms < 200)
			ts.tv_nsec = (long)timeout_ms * 1000 * 1000;
		nanosleep(&ts, NULL);
		return 0;
	}
	struct pollfd p = {.fd = r->ino_fd, .events = POLLIN};
	int n = poll(&p, 1, timeout_ms);
	if (n < 0 && errno != EINTR)
		return pc_error_errno(err, errno, "cannot wait for %s", r->path);
	if (n > 0) {
		char ev[4096];
		while (read(r->ino_fd, ev, sizeof(ev)) > 0)
			;
	}
	return 0;
}
