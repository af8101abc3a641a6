/* policy: the egress decision for one connection or request, and the
 * allow_private exceptions to deny_private; what a request's method may be
 * read as (overrides). Pure: no I/O. The gate calls it for every attempt and
 * writes the reason into the audit log and the 403 it answers with. */
#include "policy/policy_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

/* A host made comparable: lower case, one trailing dot dropped, IP
 * literals in one spelling (IPv4 as the resolver would read it, IPv6
 * canonical, IPv4-mapped IPv6 as IPv4). */
struct chost {
	char name[256];
	bool is_ip;
};

static bool host_canon(const char *s, struct chost *h)
{
	size_t n = s ? strlen(s) : 0;
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n >= sizeof(h->name))
		return false;
	char tmp[sizeof(h->name)];
	for (size_t i = 0; i < n; i++)
		tmp[i] = (char)tolower((unsigned char)s[i]);
	tmp[n] = '\0';
	struct in_addr a4;
	struct in6_addr a6;
	h->is_ip = true;
	if (inet_aton(tmp, &a4)) { /* "127.1" and "0x7f.0.0.1" reach 127.0.0.1 too */
		inet_ntop(AF_INET, &a4, h->name, sizeof(h->name));
		return true;
	}
	if (ipv6_literal(tmp, &a6)) {
		if (IN6_IS_ADDR_V4MAPPED(&a6))
			inet_ntop(AF_INET, &a6.s6_addr[12], h->name, sizeof(h->name));
		else
			inet_ntop(AF_INET6, &a6, h->name, sizeof(h->name));
		return true;
	}
	h->is_ip = false;
	memcpy(h->name, tmp, n + 1);
	return true;
}

/* Exact, or "*.example.com" for any subdomain (not example.com itself).
 * Wildcards cover names only, never IP literals. */
static bool host_matches(const char *pattern, const struct chost *h)
{
	if (pattern[0] == '*' && pattern[1] == '.') {
		size_t pl = strlen(pattern + 1), hl = strlen(h->name);
		return !h->is_ip && hl > pl && strcasecmp(h->name + hl - pl, pattern + 1) == 0;
	}
	if (!h->is_ip) /* rule names are stored lower case, without a trailing dot */
		return strcmp(pattern, h->name) == 0;
	struct chost r;
	return host_canon(pattern, &r) && r.is_ip && strcmp(r.name, h->name) == 0;
}

static bool port_matches(const struct pc_net_rule *r, uint16_t port)
{
	if (r->n_ports == 0)
		return true; /* a deny rule without ports */
	for (size_t i = 0; i < r->n_ports; i++)
		if (r->ports[i] == port)
			return true;
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Could a server read this path as another one than the glob sees? Dot
 * segments (raw or %2e), empty segments ("//admin"), ';' parameters,
 * backslashes, escapes of unreserved characters or of '/' (servers decode
 * them), bad escapes and control bytes. Such a path never satisfies an
 * allow rule's paths and always meets a deny rule's: the safe side. */
bool egress_path_ambiguous(const char *p, size_t len)
{
	if (len == 0 || p[0] != '/')
		return true;
	size_t dots = 0, seg_len = 0;
	/* i == len stands for a closing '/' so that the last segment is seen */
	for (size_t i = 1; i <= len; i++) {
		char c = i < len ? p[i] : '/';
		if (c == '/') {
			if (seg_len == 0 && i < len)
				return true; /* "//" */
			if (seg_len > 0 && dots == seg_len && seg_len <= 2)
				return true; /* "." or ".." */
			dots = seg_len = 0;
			continue;
		}
		if (c == ';' || c == '\\' || (unsigned char)c < 0x20 || c == 0x7f)
			return true;
		if (c == '%') {
			if (i + 2 >= len)
				return true;
			int a = hexval(p[i + 1]), b = hexval(p[i + 2]);
			if (a < 0 || b < 0)
				return true;
			unsigned char v = (unsigned char)(a * 16 + b);
			if (isalnum(v) || (v && strchr("-._~/\\;", v)) || v < 0x20 || v == 0x7f)
				return true;
			i += 2;
		}
		seg_len++;
		dots += c == '.';
	}
	return false;
}

enum l7 { L7_NO, L7_YES, L7_UNSEEN, L7_AMBIGUOUS };

/* Is method one of the rule's? Deny and approval rules fold case and
 * take a method override too (the safe side: a server may read "delete"
 * or an override as DELETE); allow rules compare exactly (folding would
 * widen them). "*" among `also`: a method not known yet, any of them. */
static bool method_in(char *const *methods, const char *method, char *const *also, bool fold)
{
	if (!fold)
		return pc_strv_contains(methods, method);
	for (size_t i = 0; methods[i]; i++) {
		if (method && strcasecmp(methods[i], method) == 0)
			return true;
		for (size_t k = 0; also && also[k]; k++)
			if (strcmp(also[k], "*") == 0 || strcasecmp(methods[i], also[k]) == 0)
				return true;
	}
	return false;
}

/* policy_glob_match, in ASCII case folded when `fold` (deny and approval
 * rules: many servers route /Admin as /admin). */
static bool glob_match(const char *pattern, const char *path, bool fold)
{
	if (!fold)
		return policy_glob_match(pattern, path);
	_cleanup_free_ char *a = pc_xstrdup(pattern), *b = pc_xstrdup(path);
	for (char *q = a; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	for (char *q = b; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	return policy_glob_match(a, b);
}

/* Do the rule's paths take path (its query left out)? */
static bool paths_match(char *const *paths, const char *path, size_t len, bool fold)
{
	_cleanup_free_ char *bare = path[len] ? pc_xstrndup(path, len) : NULL;
	for (size_t i = 0; paths[i]; i++)
		if (glob_match(paths[i], bare ? bare : path, fold))
			return true;
	return false;
}

/* Does the request satisfy the rule's methods and paths? UNSEEN: the rule
 * names some and the request's are not known (a tunnel). `deny`: a deny
 * rule (see method_in). */
static enum l7 l7_match(const struct pc_net_rule *r, const char *method, char *const *also,
			const char *path, bool deny)
{
	enum l7 t = L7_YES;
	if (r->methods) {
		if (!method)
			t = L7_UNSEEN;
		else if (!method_in(r->methods, method, deny ? also : NULL, deny))
			return L7_NO;
	}
	if (!r->paths)
		return t;
	if (!path)
		return L7_UNSEEN;
	size_t len = strcspn(path, "?");
	if (egress_path_ambiguous(path, len))
		return t == L7_UNSEEN ? L7_UNSEEN : L7_AMBIGUOUS;
	return paths_match(r->paths, path, len, deny) ? t : L7_NO;
}

/* ---- reasons ------------------------------------------------------------ */

static const char *file_shown(const struct policy *p)
{
	const char *f = p->file ? p->file : "(unnamed)";
	const char *slash = strrchr(f, '/');
	return strlen(f) <= 150 || !slash ? f : slash + 1;
}

/* snprintf that may cut: reasons are bounded, and the cut is visible. */
static void put(char *out, size_t n, const char *fmt, ...) _printf_(3, 4);

static void put(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(out, n, fmt, ap);
	va_end(ap);
	if (w >= 0 && (size_t)w >= n && n > 4)
		memcpy(out + n - 4, "...", 4);
}

static void join(char *out, size_t n, char *const *v)
{
	size_t l = 0;
	out[0] = '\0';
	for (size_t i = 0; v[i] && l < n; i++) {
		put(out + l, n - l, "%s%s", i ? ", " : "", v[i]);
		l += strlen(out + l);
	}
}

/* "GET on /api/[**]", "requests on /v1/[*]", "DELETE" (brackets left out). */
static void l7_text(const struct pc_net_rule *r, char *out, size_t n)
{
	char m[96] = "requests", p[128] = "";
	if (r->methods)
		join(m, sizeof(m), r->methods);
	if (r->paths)
		join(p, sizeof(p), r->paths);
	put(out, n, "%s%s%s", m, r->paths ? " on " : "", p);
}

/* Only printable ASCII leaves: reasons go into HTTP headers and terminals. */
static void clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static const char ambiguous_text[] =
	"the path has dot segments, '//', ';' or escapes a server may read as another path";

void policy_egress_decide(const struct policy *p, const char *host, uint16_t port,
			  const char *method, const char *path, struct pc_egress_decision *d)
{
	policy_egress_decide_req(p, host, port, method, NULL, path, d);
}

void policy_egress_decide_req(const struct policy *p, const char *host, uint16_t port,
			      const char *method, char *const *also, const char *path,
			      struct pc_egress_decision *d)
{
	const struct pc_net_policy *net = &p->net;
	memset(d, 0, sizeof(*d));
	struct chost h;
	bool named = host_canon(host, &h);
	if (!named)
		snprintf(h.name, sizeof(h.name), "%s", host && *host ? "(too long)" : "(none)");

	char what[320];
	if (method && path)
		put(what, sizeof(what), "%.20s %.120s on %.120s port %u", method, path, h.name,
		    (unsigned)port);
	else
		put(what, sizeof(what), "host %.120s port %u", h.name, (unsigned)port);

	const struct pc_net_rule *miss = NULL; /* allow rule whose methods/paths failed */
	enum l7 miss_kind = L7_NO;
	char l7[240];

	for (size_t i = 0; named && i < net->n_deny; i++) {
		const struct pc_net_rule *r = &net->deny[i];
		if (!host_matches(r->host, &h) || !port_matches(r, port))
			continue;
		enum l7 m = l7_match(r, method, also, path, true);
		if (m == L7_NO)
			continue;
		d->rule = r;
		d->by_deny_rule = true;
		put(d->rule_at, sizeof(d->rule_at), "%s:%d", file_shown(p), r->at.line);
		bool audit = r->enforcement == PC_ENFORCE_AUDIT_ONLY;
		d->verdict = audit ? PC_EGRESS_WOULD_DENY : PC_EGRESS_DENY;
		const char *pre = audit ? "would deny: " : "egress denied: ";
		l7_text(r, l7, sizeof(l7));
		d->l7_unseen = m == L7_UNSEEN;
		if (m == L7_UNSEEN)
			put(d->reason, sizeof(d->reason),
			    "%s%s matches deny rule %s, which denies %s: a tunnel could carry "
			    "them and its requests cannot be seen",
			    pre, what, d->rule_at, l7);
		else if (m == L7_AMBIGUOUS)
			put(d->reason, sizeof(d->reason), "%s%s matches deny rule %s (%s): %s", pre,
			    what, d->rule_at, l7, ambiguous_text);
		else
			put(d->reason, sizeof(d->reason), "%s%s matches deny rule %s%s", pre, what,
			    d->rule_at,
			    r->methods && method && !method_in(r->methods, method, NULL, true)
				    ? " (by the method override it carries)"
				    : "");
		goto out;
	}

	const struct pc_net_rule *other_port = NULL;
	for (size_t i = 0; named && i < net->n_allow; i++) {
		const struct pc_net_rule *r = &net->allow[i];
		if (!host_matches(r->host, &h))
			continue;
		if (!port_matches(r, port)) {
			if (!other_port)
				other_port = r;
			continue;
		}
		enum l7 m = l7_match(r, method, NULL, path, false);
		if (m == L7_YES) {
			d->verdict = PC_EGRESS_ALLOW;
			d->rule = r;
			put(d->rule_at, sizeof(d->rule_at), "%s:%d", file_shown(p), r->at.line);
			put(d->reason, sizeof(d->reason), "egress allowed: %s by %s", what,
			    d->rule_at);
			goto out;
		}
		if (!miss) { /* a later rule for the same host may still allow it */
			miss = r;
			miss_kind = m;
		}
	}

	if (miss) {
		d->rule = miss;
		put(d->rule_at, sizeof(d->rule_at), "%s:%d", file_shown(p), miss->at.line);
		bool audit = miss->enforcement == PC_ENFORCE_AUDIT_ONLY;
		d->verdict = audit ? PC_EGRESS_WOULD_DENY : PC_EGRESS_DENY;
		const char *pre = audit ? "would deny: " : "egress denied: ";
		l7_text(miss, l7, sizeof(l7));
		d->l7_unseen = miss_kind == L7_UNSEEN;
		const char *tail = miss_kind == L7_UNSEEN
					   ? ", which cannot be checked inside an encrypted tunnel "
					     "(TLS interception comes with credentials)"
				   : miss_kind == L7_AMBIGUOUS ? "; "
							       : "";
		put(d->reason, sizeof(d->reason), "%s%s: %s allows only %s for %s%s%s", pre, what,
		    d->rule_at, l7, miss->host, tail,
		    miss_kind == L7_AMBIGUOUS ? ambiguous_text : "");
		goto out;
	}

	put(d->rule_at, sizeof(d->rule_at), "no rule allows it");
	bool audit = net->enforcement == PC_ENFORCE_AUDIT_ONLY;
	d->verdict = audit ? PC_EGRESS_WOULD_DENY : PC_EGRESS_DENY;
	const char *pre = audit ? "would deny: " : "egress denied: ";
	if (other_port) {
		char ports[96] = "";
		size_t l = 0;
		for (size_t i = 0; i < other_port->n_ports && l < sizeof(ports) - 8; i++)
			l += (size_t)snprintf(ports + l, sizeof(ports) - l, "%s%u", i ? ", " : "",
					      (unsigned)other_port->ports[i]);
		put(d->reason, sizeof(d->reason),
		    "%shost %.120s port %u not in allowlist: %s:%d allows it on port%s %s "
		    "only",
		    pre, h.name, (unsigned)port, file_shown(p), other_port->at.line,
		    other_port->n_ports > 1 ? "s" : "", ports);
	} else {
		put(d->reason, sizeof(d->reason),
		    "%shost %.120s port %u not in allowlist (policy %s)", pre, h.name,
		    (unsigned)port, file_shown(p));
	}
out:
	clean(d->reason);
	clean(d->rule_at);
}

bool policy_host_match(const char *pattern, const char *host)
{
	struct chost h;
	return host_canon(host, &h) && host_matches(pattern, &h);
}

bool policy_egress_needs_l7(const struct policy *p, const char *host, uint16_t port)
{
	struct chost h;
	if (!host_canon(host, &h))
		return false;
	const struct pc_net_rule *lists[] = {p->net.allow, p->net.deny};
	const size_t counts[] = {p->net.n_allow, p->net.n_deny};
	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; i < counts[l]; i++) {
			const struct pc_net_rule *r = &lists[l][i];
			if ((r->methods || r->paths) && host_matches(r->host, &h) &&
			    port_matches(r, port))
				return true;
		}
	for (size_t i = 0; i < p->n_approvals; i++)
		if (host_matches(p->approvals[i].host, &h))
			return true;
	return false;
}

bool policy_intercepts(const struct policy *p)
{
	if (p->n_credentials || p->n_approvals)
		return true;
	for (size_t i = 0; i < p->net.n_allow; i++)
		if (p->net.allow[i].methods || p->net.allow[i].paths)
			return true;
	for (size_t i = 0; i < p->net.n_deny; i++)
		if (p->net.deny[i].methods || p->net.deny[i].paths)
			return true;
	return false;
}

/* ---- approvals ----------------------------------------------------------- */

static bool approval_l7(const struct pc_approval_rule *r, char *const *methods, const char *path)
{
	if (r->methods && methods &&
	    !method_in(r->methods, methods[0], methods + !!methods[0], true))
		return false;
	if (!r->paths)
		return true;
	if (!path)
		return false;
	size_t len = strcspn(path, "?");
	if (egress_path_ambiguous(path, len))
		return true; /* what the server reads may be one of the paths: held */
	return paths_match(r->paths, path, len, true);
}

int policy_approval_match(const struct policy *p, size_t from, const char *host,
			  char *const *methods, const char *path)
{
	struct chost h;
	if (from >= p->n_approvals || !host_canon(host, &h))
		return -1;
	for (size_t i = from; i < p->n_approvals; i++)
		if (host_matches(p->approvals[i].host, &h) &&
		    approval_l7(&p->approvals[i], methods, path))
			return (int)i;
	return -1;
}

/* ---- what a request may be read as ---------------------------------------- */

/* The value of the only `name` line of headers ("name: value\n", names in
 * lower case), trimmed, in *v / *n; how many such lines there are. */
static size_t header_value(const char *headers, const char *name, const char **v, size_t *n)
{
	size_t count = 0, nl = strlen(name);
	for (const char *l = headers; l && *l;) {
		const char *eol = strchrnul(l, '\n');
		if ((size_t)(eol - l) > nl && strncmp(l, name, nl) == 0 && l[nl] == ':') {
			const char *a = l + nl + 1, *b = eol;
			while (a < b && (*a == ' ' || *a == '\t'))
				a++;
			while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
				b--;
			if (!count++) {
				*v = a;
				*n = (size_t)(b - a);
			}
		}
		l = *eol ? eol + 1 : eol;
	}
	return count;
}

/* Is the Content-Type (one header) of the media type `want`; for want
 * "+json", application/json or any type ending in +json (what a json: rule
 * reads as JSON); for "~json", any type a server may read as JSON (where a
 * _method is looked for)? */
static bool content_type_is(const char *headers, const char *want)
{
	const char *v = NULL;
	size_t n = 0;
	if (header_value(headers, "content-type", &v, &n) != 1)
		return false; /* none, or two a server may pick from */
	size_t t = 0;
	while (t < n && v[t] != ';' && v[t] != ' ' && v[t] != '\t')
		t++;
	if (strcmp(want, "+json") == 0)
		return (t == 16 && strncasecmp(v, "application/json", 16) == 0) ||
		       (t > 5 && strncasecmp(v + t - 5, "+json", 5) == 0);
	if (strcmp(want, "~json") == 0) {
		/* may be read as JSON: as Laravel's isJson(), "/json" or "+json"
		 * anywhere in the type (text/json, application/json5) */
		for (size_t i = 0; i + 5 <= t; i++)
			if ((v[i] == '/' || v[i] == '+') && strncasecmp(v + i + 1, "json", 4) == 0)
				return true;
		return false;
	}
	return t == strlen(want) && strncasecmp(v, want, t) == 0;
}

/* Is a field named name[0..n) read as _method by some server? PHP turns
 * '.' and ' ' into '_' (and drops a lone '['), Rack unescapes '\' in a
 * quoted part name and strips brackets ("[_method]"): compared with those
 * gone, the ends trimmed, in any case. */
static bool names_method(const char *name, size_t n)
{
	static const char want[] = "_method";
	size_t k = 0, a = 0, b = n;
	while (a < b && isspace((unsigned char)name[a]))
		a++;
	while (b > a && isspace((unsigned char)name[b - 1]))
		b--;
	for (size_t i = a; i < b; i++) {
		char ch = name[i];
		if (ch == '\\' || ch == '[' || ch == ']')
			continue;
		if (ch == '.' || ch == ' ')
			ch = '_';
		if (k >= sizeof(want) - 1 || tolower((unsigned char)ch) != want[k])
			return false;
		k++;
	}
	return k == sizeof(want) - 1;
}

static void push_trimmed(char ***out, const char *a, const char *b)
{
	while (a < b && isspace((unsigned char)*a))
		a++;
	while (b > a && isspace((unsigned char)b[-1]))
		b--;
	if (b > a) {
		_cleanup_free_ char *s = pc_xstrndup(a, (size_t)(b - a));
		pc_strv_push(out, s);
	}
}

/* s[0..n) with '+' as space and %XX decoded (a NUL ends it). */
static char *form_decode(const char *s, size_t n)
{
	char *o = pc_xmalloc(n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		int a, b;
		if (s[i] == '%' && i + 2 < n && (a = hexval(s[i + 1])) >= 0 &&
		    (b = hexval(s[i + 2])) >= 0) {
			o[k++] = (char)(a * 16 + b);
			i += 2;
		} else {
			o[k++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	o[k] = '\0';
	return o;
}

/* Every _method= of a form (a query, a urlencoded body): fields split at
 * '&' and ';' (servers differ), names decoded and folded. */
static void form_methods(const char *s, size_t n, char ***out)
{
	for (size_t i = 0; i < n;) {
		size_t e = i;
		while (e < n && s[e] != '&' && s[e] != ';')
			e++;
		const char *eq = memchr(s + i, '=', e - i);
		if (eq) {
			_cleanup_free_ char *name = form_decode(s + i, (size_t)(eq - s - i));
			_cleanup_free_ char *val = form_decode(eq + 1, (size_t)(s + e - eq - 1));
			char *z = name + strlen(name);
			char *a = name;
			while (a < z && isspace((unsigned char)*a))
				a++;
			while (z > a && isspace((unsigned char)z[-1]))
				*--z = '\0';
			if (names_method(a, (size_t)(z - a)))
				push_trimmed(out, val, val + strlen(val));
		}
		i = e + 1;
	}
}

/* Does body[0..len) hold "_method" in any case (a multipart field)? */
static bool has_method_word(const char *body, size_t len)
{
	for (size_t i = 0; i + 7 <= len; i++)
		if (body[i] == '_' && strncasecmp(body + i, "_method", 7) == 0)
			return true;
	return false;
}

/* Does a string of a JSON body, its escapes decoded (\u005f is '_'), name
 * _method? Any string, key or value: a key is one. */
static bool json_names_method(const char *body, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (body[i] != '"')
			continue;
		char dec[16];
		size_t k = 0;
		for (i++; i < len && body[i] != '"'; i++) {
			char ch = body[i];
			if (ch == '\\' && i + 1 < len) {
				ch = body[++i];
				int h[4];
				if (ch == 'u' && i + 4 < len && (h[0] = hexval(body[i + 1])) >= 0 &&
				    (h[1] = hexval(body[i + 2])) >= 0 &&
				    (h[2] = hexval(body[i + 3])) >= 0 &&
				    (h[3] = hexval(body[i + 4])) >= 0) {
					int cp = h[0] << 12 | h[1] << 8 | h[2] << 4 | h[3];
					ch = cp < 0x80 ? (char)cp : '\x80'; /* no ASCII letter */
					i += 4;
				}
			}
			if (k < sizeof(dec))
				dec[k] = ch;
			k++;
		}
		if (k <= sizeof(dec) && names_method(dec, k))
			return true;
	}
	return false;
}

/* Does a part of a multipart body have a name some server reads as
 * _method? Every Content-Disposition line is looked at (a part's head;
 * a line of content that looks like one only errs towards holding). */
static bool multipart_names_method(const char *body, size_t len)
{
	static const char cd[] = "content-disposition:";
	for (size_t i = 0; i < len;) {
		const char *eol = memchr(body + i, '\n', len - i);
		size_t e = eol ? (size_t)(eol - body) : len;
		if (e - i > sizeof(cd) - 1 && strncasecmp(body + i, cd, sizeof(cd) - 1) == 0) {
			for (size_t j = i + sizeof(cd) - 1; j + 5 <= e; j++) {
				if (strncasecmp(body + j, "name=", 5) != 0 ||
				    (j > 0 && (isalnum((unsigned char)body[j - 1]) ||
					       body[j - 1] == '*')))
					continue;
				size_t a = j + 5, b;
				if (a < e && body[a] == '"') {
					/* quoted: to the closing quote, escapes kept
					 * (names_method drops the backslashes) */
					for (b = ++a; b < e && body[b] != '"'; b++)
						if (body[b] == '\\' && b + 1 < e)
							b++;
				} else {
					for (b = a; b < e && body[b] != ';' && body[b] != '\r'; b++)
						;
				}
				if (names_method(body + a, b - a))
					return true;
			}
		}
		i = e + 1;
	}
	return false;
}

char **policy_request_methods(const char *method, const char *headers, const char *path,
			      const char *body, size_t len)
{
	static const char *const names[] = {"x-http-method-override", "x-http-method",
					    "x-method-override"};
	char **out = NULL;
	pc_strv_push(&out, method ? method : "");
	for (const char *l = headers; l && *l;) {
		const char *eol = strchrnul(l, '\n');
		for (size_t i = 0; i < PC_ARRAY_SIZE(names); i++) {
			size_t nl = strlen(names[i]);
			if ((size_t)(eol - l) <= nl || strncmp(l, names[i], nl) != 0 ||
			    l[nl] != ':')
				continue;
			/* "DELETE, PUT": each may be the one read */
			for (const char *a = l + nl + 1; a < eol;) {
				const char *b = memchr(a, ',', (size_t)(eol - a));
				b = b ? b : eol;
				push_trimmed(&out, a, b);
				a = b + 1;
			}
		}
		l = *eol ? eol + 1 : eol;
	}
	const char *q = path ? strchr(path, '?') : NULL;
	if (q)
		form_methods(q + 1, strlen(q + 1), &out);
	bool form = content_type_is(headers, "application/x-www-form-urlencoded");
	bool multi = content_type_is(headers, "multipart/form-data");
	bool json = content_type_is(headers, "~json");
	const char *v;
	size_t n;
	/* what a server may read a _method from that we cannot: two
	 * Content-Types (it picks one), an encoded body (it inflates it) */
	bool unsure = header_value(headers, "content-type", &v, &n) > 1 ||
		      (header_value(headers, "content-encoding", &v, &n) &&
		       !(n == 8 && strncasecmp(v, "identity", 8) == 0));
	if (body && !len) {
		/* nothing in it */
	} else if (unsure) {
		pc_strv_push(&out, "*");
	} else if (!body) {
		if (form || multi || json)
			pc_strv_push(&out, "*"); /* its body may name one: not read yet */
	} else if (form) {
		form_methods(body, len, &out);
	} else if ((multi || json) && has_method_word(body, len)) {
		/* a part or a key named _method (Laravel reads JSON input too),
		 * or a part named in RFC 5987 form (name*=): held */
		pc_strv_push(&out, "*");
	} else if ((json && json_names_method(body, len)) ||
		   (multi && multipart_names_method(body, len))) {
		pc_strv_push(&out, "*"); /* spelled so that a server reads _method */
	} else if (multi && memmem(body, len, "name*=", 6)) {
		pc_strv_push(&out, "*");
	}
	return out;
}

bool policy_approval_json_body(const char *headers)
{
	return content_type_is(headers, "+json");
}

bool policy_approval_host(const struct policy *p, const char *host)
{
	struct chost h;
	if (!p->n_approvals || !host_canon(host, &h))
		return false;
	for (size_t i = 0; i < p->n_approvals; i++)
		if (host_matches(p->approvals[i].host, &h))
			return true;
	return false;
}

bool policy_private_allowed(const struct policy *p, const struct sockaddr *sa)
{
	const uint8_t *a;
	int family;
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
			&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		family = IN6_IS_ADDR_V4MAPPED(a6) ? AF_INET : AF_INET6;
		a = family == AF_INET ? &a6->s6_addr[12] : a6->s6_addr;
	} else {
		return false;
	}
	for (size_t i = 0; i < p->net.n_allow_private; i++) {
		const struct pc_cidr *c = &p->net.allow_private[i];
		if (c->family != family)
			continue;
		unsigned full = c->prefix / 8, rest = c->prefix % 8;
		if (memcmp(a, c->addr, full) != 0)
			continue;
		if (rest && ((a[full] ^ c->addr[full]) & (uint8_t)(0xff00u >> rest)))
			continue;
		return true;
	}
	return false;
}
