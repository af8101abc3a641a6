/* policy: the checked getters every section uses. Each one reads one node
 * and, when the node is wrong, says so with file:line:col, the key path and
 * what would have been accepted. */
#include "policy/policy_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <string.h>

size_t pctx_key(struct pctx *c, const char *key)
{
	size_t old = c->plen;
	int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s", c->plen ? "." : "",
			 key);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n
								: sizeof(c->path) - 1;
	return old;
}

size_t pctx_index(struct pctx *c, size_t i)
{
	size_t old = c->plen;
	int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%zu]", i);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n
								: sizeof(c->path) - 1;
	return old;
}

void pctx_pop(struct pctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

int perr(struct pctx *c, struct pc_src at, const char *fmt, ...)
{
	char what[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	char where[64] = "";
	if (at.line > 0)
		snprintf(where, sizeof(where), ":%d:%d", at.line, at.col);
	if (c->plen)
		return pc_error(c->err, EINVAL, "%s%s: %s: %s", c->file, where, c->path, what);
	return pc_error(c->err, EINVAL, "%s%s: %s", c->file, where, what);
}

static const char *kind_name(const struct ynode *n)
{
	switch (n->kind) {
	case YN_SEQ:
		return "a list";
	case YN_MAP:
		return "a mapping";
	case YN_SCALAR:
	default:
		return ynode_is_null(n) ? "empty" : "a single value";
	}
}

int check_map(struct pctx *c, const struct ynode *n, const char *accepted)
{
	if (n->kind == YN_MAP)
		return 0;
	return perr(c, n->at, "expected a mapping of keys, got %s (%s)", kind_name(n), accepted);
}

int check_seq(struct pctx *c, const struct ynode *n, const char *accepted)
{
	if (n->kind == YN_SEQ)
		return 0;
	return perr(c, n->at, "expected a list, got %s (%s)", kind_name(n), accepted);
}

int get_seq_items(struct pctx *c, const struct ynode *n, const char *accepted,
		  struct ynode *const **items, size_t *count)
{
	if (ynode_is_null(n)) {
		*items = NULL;
		*count = 0;
		return 0;
	}
	int r = check_seq(c, n, accepted);
	if (r < 0)
		return r;
	*items = n->items;
	*count = n->n;
	return 0;
}

int check_keys(struct pctx *c, const struct ynode *map, const char *const *keys)
{
	for (size_t i = 0; i < map->n; i += 2) {
		const struct ynode *k = map->items[i];
		bool known = false;
		for (size_t j = 0; keys[j] && !known; j++)
			known = strcmp(k->value, keys[j]) == 0;
		if (known)
			continue;
		char list[512] = "";
		size_t l = 0;
		for (size_t j = 0; keys[j]; j++) {
			int w = snprintf(list + l, sizeof(list) - l, "%s%s", j ? ", " : "",
					 keys[j]);
			if (w < 0 || (size_t)w >= sizeof(list) - l)
				break;
			l += (size_t)w;
		}
		size_t old = pctx_key(c, k->value);
		int r = perr(c, k->at, "unknown key (accepted here: %s)", list);
		pctx_pop(c, old);
		return r;
	}
	return 0;
}

int get_str(struct pctx *c, const struct ynode *n, const char *accepted, const char **out)
{
	if (n->kind != YN_SCALAR || ynode_is_null(n))
		return perr(c, n->at, "expected a value, got %s (%s)", kind_name(n), accepted);
	*out = n->value;
	return 0;
}

int get_bool(struct pctx *c, const struct ynode *n, bool *out)
{
	if (n->kind == YN_SCALAR) {
		if (strcmp(n->value, "true") == 0 || strcmp(n->value, "True") == 0 ||
		    strcmp(n->value, "TRUE") == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(n->value, "false") == 0 || strcmp(n->value, "False") == 0 ||
		    strcmp(n->value, "FALSE") == 0) {
			*out = false;
			return 0;
		}
		return perr(c, n->at, "'%.100s' is not a boolean (true or false)", n->value);
	}
	return perr(c, n->at, "expected true or false, got %s (true or false)", kind_name(n));
}

int get_uint(struct pctx *c, const struct ynode *n, uint64_t min, uint64_t max, const char *what,
	     uint64_t *out)
{
	char accepted[128];
	snprintf(accepted, sizeof(accepted), "%s: a whole number %llu-%llu", what,
		 (unsigned long long)min, (unsigned long long)max);
	const char *s;
	int r = get_str(c, n, accepted, &s);
	if (r < 0)
		return r;
	const char *d = s[0] == '+' ? s + 1 : s;
	if (!isdigit((unsigned char)d[0]) || strspn(d, "0123456789") != strlen(d))
		return perr(c, n->at, "'%.100s' is not a whole number (%s)", s, accepted);
	errno = 0;
	unsigned long long v = strtoull(d, NULL, 10);
	if (errno || v < min || v > max)
		return perr(c, n->at, "%.100s is not a %s (%llu-%llu)", s, what,
			    (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

int get_enum(struct pctx *c, const struct ynode *n, const char *const *names, int *out)
{
	char list[256] = "";
	size_t l = 0;
	for (size_t j = 0; names[j]; j++) {
		int w = snprintf(list + l, sizeof(list) - l, "%s%s", j ? " | " : "", names[j]);
		if (w < 0 || (size_t)w >= sizeof(list) - l)
			break;
		l += (size_t)w;
	}
	const char *s;
	int r = get_str(c, n, list, &s);
	if (r < 0)
		return r;
	for (int j = 0; names[j]; j++) {
		if (strcmp(s, names[j]) == 0) {
			*out = j;
			return 0;
		}
	}
	return perr(c, n->at, "'%.100s' is not accepted (%s)", s, list);
}

int get_size(struct pctx *c, const struct ynode *n, uint64_t *out)
{
	static const char accepted[] = "a size such as 512M, 1G, 64K, or bytes";
	const char *s;
	int r = get_str(c, n, accepted, &s);
	if (r < 0)
		return r;
	uint64_t v;
	r = pc_parse_size(s, &v);
	if (r == -ERANGE)
		return perr(c, n->at, "%.100s is too large (%s)", s, accepted);
	if (r < 0)
		return perr(c, n->at, "'%.100s' is not a size (%s)", s, accepted);
	if (v == 0)
		return perr(c, n->at, "must be larger than 0 (%s)", accepted);
	*out = v;
	return 0;
}

int get_duration(struct pctx *c, const struct ynode *n, bool allow_zero, uint64_t *out)
{
	static const char accepted[] = "a duration with its unit: 250ms, 30s, 10m, 1h, 2d";
	const char *s;
	int r = get_str(c, n, accepted, &s);
	if (r < 0)
		return r;
	uint64_t v;
	r = pc_parse_duration(s, &v);
	if (r == -ERANGE)
		return perr(c, n->at, "%.100s is too long (%s)", s, accepted);
	if (r < 0)
		return perr(c, n->at, "'%.100s' is not a duration (%s)", s, accepted);
	if (v == 0 && !allow_zero)
		return perr(c, n->at, "must be longer than 0 (%s)", accepted);
	*out = v;
	return 0;
}

/* "2", "1.5", "0.25": thousandths of a cpu, 1 to 1024 cpus. */
int get_cpus(struct pctx *c, const struct ynode *n, uint32_t *out)
{
	static const char accepted[] = "a number of cpus such as 1, 1.5 or 0.25; 0.001 to 1024";
	const char *s;
	int r = get_str(c, n, accepted, &s);
	if (r < 0)
		return r;
	size_t whole = strspn(s, "0123456789");
	const char *q = s + whole;
	uint64_t milli = 0;
	if (whole == 0 || whole > 5)
		goto bad;
	for (size_t i = 0; i < whole; i++)
		milli = milli * 10 + (uint64_t)(s[i] - '0');
	milli *= 1000;
	if (*q == '.') {
		size_t frac = strspn(q + 1, "0123456789");
		if (frac == 0 || frac > 3 || q[1 + frac] != '\0')
			goto bad;
		uint64_t f = 0;
		for (size_t i = 0; i < 3; i++)
			f = f * 10 + (i < frac ? (uint64_t)(q[1 + i] - '0') : 0);
		milli += f;
	} else if (*q != '\0') {
		goto bad;
	}
	if (milli == 0 || milli > 1024 * 1000)
		return perr(c, n->at, "%.100s cpus is out of range (%s)", s, accepted);
	*out = (uint32_t)milli;
	return 0;
bad:
	return perr(c, n->at, "'%.100s' is not a number of cpus (%s)", s, accepted);
}

int path_normalise(char *p)
{
	bool absolute = p[0] == '/';
	char *w = p;
	const char *r = p;
	if (absolute)
		*w++ = '/';
	while (*r) {
		while (*r == '/')
			r++;
		if (!*r)
			break;
		size_t len = strcspn(r, "/");
		if (len == 1 && r[0] == '.') {
			r += len;
			continue;
		}
		if (len == 2 && r[0] == '.' && r[1] == '.')
			return -EINVAL;
		if (w > p && w[-1] != '/')
			*w++ = '/';
		memmove(w, r, len);
		w += len;
		r += len;
	}
	if (w == p && absolute)
		w++;
	*w = '\0';
	return 0;
}

int get_path(struct pctx *c, const struct ynode *n, bool glob, struct pc_path *out)
{
	const char *accepted = glob ? "an absolute path or glob: /srv/x, ~/.ssh, **/.env"
				    : "an absolute path such as /srv/data, or ~/work";
	const char *s;
	int r = get_str(c, n, accepted, &s);
	if (r < 0)
		return r;
	for (const char *q = s; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return perr(c, n->at, "a path must not hold control characters (%s)",
				    accepted);
	if (!glob && strpbrk(s, "*?"))
		return perr(c, n->at,
			    "'%.200s': wildcards are only allowed in filesystem.deny (%s)", s,
			    accepted);
	_cleanup_free_ char *p = NULL;
	if (s[0] == '~' && s[1] != '\0' && s[1] != '/')
		return perr(c, n->at,
			    "'%.200s': ~user paths are not supported (~/... for your own home, or "
			    "an absolute path)",
			    s);
	if (s[0] == '~')
		p = pc_expand_home(s, c->home);
	else if (s[0] == '/' || (glob && strncmp(s, "**", 2) == 0))
		p = pc_xstrdup(s);
	else
		return perr(c, n->at, "'%.200s' is a relative path (%s)", s, accepted);
	if (path_normalise(p) < 0)
		return perr(c, n->at, "'%.200s' has a '..' component (%s, without '..')", s,
			    accepted);
	if (strlen(p) >= PATH_MAX)
		return perr(c, n->at, "the path is longer than %d bytes (%s)", PATH_MAX - 1,
			    accepted);
	out->path = pc_steal_ptr(&p);
	out->spec = pc_xstrdup(s);
	out->at = n->at;
	return 0;
}

bool valid_env_name(const char *s)
{
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

static bool valid_label(const char *s, size_t len)
{
	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

/* RFC 1123 host name; at most 64 bytes (the kernel's UTS name). */
bool valid_hostname(const char *s)
{
	size_t total = strlen(s);
	if (total == 0 || total > 64)
		return false;
	while (*s) {
		size_t len = strcspn(s, ".");
		if (!valid_label(s, len))
			return false;
		s += len;
		if (*s == '.' && *++s == '\0')
			return false;
	}
	return true;
}

bool ipv6_literal(const char *s, struct in6_addr *out)
{
	struct in6_addr a;
	char inner[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']' && n - 2 < sizeof(inner)) {
		memcpy(inner, s + 1, n - 2);
		inner[n - 2] = '\0';
		s = inner;
	}
	if (inet_pton(AF_INET6, s, &a) != 1)
		return false;
	if (out)
		*out = a;
	return true;
}

const char *host_pattern_problem(const char *s)
{
	if (!*s)
		return "an empty host";
	if (ipv6_literal(s, NULL))
		return NULL;
	/* The resolver reads "127.1", "0x7f.0.0.1" and "010.0.0.1" as IPv4
	 * addresses: a rule written so would not say what it matches. */
	struct in_addr a4;
	if (inet_aton(s, &a4) && inet_pton(AF_INET, s, &a4) != 1)
		return "an IPv4 address is written as four decimal numbers without leading "
		       "zeros (127.0.0.1)";
	if (strstr(s, "://"))
		return "a host, not a URL: leave out the scheme";
	if (strchr(s, '/'))
		return "a host, not a URL: leave out the path (use paths:)";
	if (strchr(s, ':'))
		return "a host without a port (use ports:)";
	if (strcmp(s, "*") == 0)
		return "'*' alone would allow every host; name the hosts";
	for (const char *q = s; *q; q++)
		if (isspace((unsigned char)*q))
			return "a host has no spaces";
	for (const char *q = s; *q; q++)
		if (isupper((unsigned char)*q))
			return "write the host in lower case";
	const char *rest = s;
	if (strncmp(s, "*.", 2) == 0) {
		rest = s + 2;
		if (!strchr(rest, '.'))
			return "a wildcard needs at least two labels after '*.' (*.example.com)";
	}
	if (strchr(rest, '*'))
		return "'*' is only allowed as the whole first label (*.example.com)";
	if (strlen(rest) > 253)
		return "a host name is at most 253 characters";
	while (*rest) {
		size_t len = strcspn(rest, ".");
		if (!valid_label(rest, len))
			return "each dot-separated label is 1-63 letters, digits or '-', not "
			       "starting or ending with '-'";
		rest += len;
		if (*rest == '.' && *++rest == '\0')
			return "a host does not end with '.'";
	}
	return NULL;
}

int cidr_parse(const char *s, struct pc_cidr *out, char *why, size_t n)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	struct pc_cidr c = {0};
	if (alen == 0 || alen >= sizeof(addr)) {
		snprintf(why, n, "'%.100s' is not an address or network", s);
		return -EINVAL;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, c.addr) == 1) {
		c.family = AF_INET;
		c.prefix = 32;
	} else if (inet_pton(AF_INET6, addr, c.addr) == 1) {
		c.family = AF_INET6;
		c.prefix = 128;
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(c.addr, mapped, sizeof(mapped)) == 0) {
			snprintf(why, n, "'%.100s' is an IPv4-mapped address: write it as IPv4", s);
			return -EINVAL;
		}
	} else {
		snprintf(why, n, "'%.100s' is not an IP address or network", s);
		return -EINVAL;
	}
	unsigned max = c.prefix;
	if (slash) {
		const char *d = slash + 1;
		size_t dl = strlen(d);
		if (dl == 0 || dl > 3 || strspn(d, "0123456789") != dl || (d[0] == '0' && dl > 1)) {
			snprintf(why, n, "'%.100s': the prefix length is a number 1-%u", s, max);
			return -EINVAL;
		}
		unsigned v = (unsigned)atoi(d);
		if (v == 0) {
			snprintf(why, n,
				 "'%.100s' would admit every address (set deny_private: false "
				 "instead, or name the networks)",
				 s);
			return -EINVAL;
		}
		if (v > max) {
			snprintf(why, n, "'%.100s': the prefix length is a number 1-%u", s, max);
			return -EINVAL;
		}
		c.prefix = (uint8_t)v;
	}
	/* Host bits beyond the prefix are a typo for the network or for a
	 * single address: say which network it would be. */
	size_t bytes = c.family == AF_INET ? 4 : 16;
	uint8_t net[16];
	memcpy(net, c.addr, sizeof(net));
	for (size_t i = 0; i < bytes; i++) {
		unsigned keep = c.prefix >= (i + 1) * 8 ? 8
				: c.prefix > i * 8	? c.prefix - i * 8
							: 0;
		net[i] &= (uint8_t)(0xff00u >> keep);
	}
	if (memcmp(net, c.addr, bytes) != 0) {
		char fixed[INET6_ADDRSTRLEN];
		inet_ntop(c.family, net, fixed, sizeof(fixed));
		snprintf(why, n, "%.100s has host bits set: did you mean %s/%u?", s, fixed,
			 (unsigned)c.prefix);
		return -EINVAL;
	}
	c.spec = NULL;
	*out = c;
	return 0;
}
