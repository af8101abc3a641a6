/* policy: network (egress allow and deny rules), credentials, approvals. */
#include "policy/policy_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <sys/stat.h>

const char *const policy_http_methods[] = {"GET",   "HEAD",   "POST",	 "PUT",
					   "PATCH", "DELETE", "OPTIONS", NULL};
#define METHODS_ACCEPTED "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS; upper case"

static int parse_host(struct pctx *c, const struct ynode *n, char **out)
{
	static const char accepted[] = "a host name such as api.example.com or *.example.com";
	const char *s;
	int r = get_str(c, n, accepted, &s);
	if (r < 0)
		return r;
	const char *problem = host_pattern_problem(s);
	if (problem)
		return perr(c, n->at, "'%.200s' is not a host pattern: %s (%s)", s, problem,
			    accepted);
	struct in6_addr a6;
	char canon[INET6_ADDRSTRLEN];
	/* IPv6 is held in one spelling so that matching compares strings. */
	if (ipv6_literal(s, &a6) && inet_ntop(AF_INET6, &a6, canon, sizeof(canon)))
		s = canon;
	*out = pc_xstrdup(s);
	return 0;
}

/* A list of strings checked one by one; [] is an error when `what_empty`
 * says what leaving the key out means instead. */
static int parse_str_list(struct pctx *c, const struct ynode *n, const char *key,
			  const char *accepted, const char *what_empty,
			  int (*check)(struct pctx *c, const struct ynode *item, const char *s),
			  char ***out)
{
	size_t old = pctx_key(c, key);
	struct ynode *const *items;
	size_t k;
	int r = get_seq_items(c, n, accepted, &items, &k);
	if (r < 0)
		return r;
	if (k == 0)
		return perr(c, n->at, "an empty list %s (%s)", what_empty, accepted);
	pc_strv_free(*out);
	*out = pc_xcalloc(k + 1, sizeof(char *));
	for (size_t i = 0; i < k; i++) {
		size_t o = pctx_index(c, i);
		const char *s;
		r = get_str(c, items[i], accepted, &s);
		if (r < 0)
			return r;
		r = check(c, items[i], s);
		if (r < 0)
			return r;
		if (pc_strv_contains(*out, s))
			return perr(c, items[i]->at, "%.100s is listed twice (each once)", s);
		(*out)[i] = pc_xstrdup(s);
		pctx_pop(c, o);
	}
	pctx_pop(c, old);
	return 0;
}

static int check_method(struct pctx *c, const struct ynode *item, const char *s)
{
	for (size_t i = 0; policy_http_methods[i]; i++)
		if (strcmp(s, policy_http_methods[i]) == 0)
			return 0;
	return perr(c, item->at, "'%.100s' is not an HTTP method (%s)", s, METHODS_ACCEPTED);
}

static int check_url_glob(struct pctx *c, const struct ynode *item, const char *s)
{
	static const char accepted[] =
		"a URL path glob starting with /, e.g. /api/** or /v1/*/items";
	if (s[0] != '/')
		return perr(c, item->at, "'%.100s' does not start with / (%s)", s, accepted);
	for (const char *q = s; *q; q++)
		if ((unsigned char)*q <= 0x20 || *q == 0x7f || *q == '#')
			return perr(c, item->at,
				    "'%.100s' holds a space, control character or # (%s)", s,
				    accepted);
	return 0;
}

static int check_host_item(struct pctx *c, const struct ynode *item, const char *s)
{
	_cleanup_free_ char *h = NULL;
	(void)s;
	return parse_host(c, item, &h);
}

static int check_approver(struct pctx *c, const struct ynode *item, const char *s)
{
	static const char ok[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
	const char *name = strncmp(s, "group:", 6) == 0 ? s + 6 : s;
	if (name[0] && name[0] != '-' && strlen(name) <= 64 && strspn(name, ok) == strlen(name))
		return 0;
	return perr(c, item->at,
		    "'%.100s' is not an approver (a user name such as alice, or group:NAME)", s);
}

static int check_group(struct pctx *c, const struct ynode *item, const char *s)
{
	static const char ok[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-";
	const char *name = s + 6;
	if (strncmp(s, "group:", 6) == 0 && name[0] && strlen(name) <= 128 &&
	    strspn(name, ok) == strlen(name))
		return 0;
	return perr(c, item->at, "'%.100s' is not a group (group:NAME, e.g. group:sales)", s);
}

static int parse_ports(struct pctx *c, const struct ynode *n, bool is_deny,
		       struct pc_net_rule *rule)
{
	static const char accepted[] = "a list of ports 1-65535, e.g. [443] or [80, 443]";
	size_t old = pctx_key(c, "ports");
	struct ynode *const *items;
	size_t k;
	int r = get_seq_items(c, n, accepted, &items, &k);
	if (r < 0)
		return r;
	if (k == 0)
		return perr(c, n->at, "an empty list would %s no port (%s; leave ports out for %s)",
			    is_deny ? "deny" : "allow", accepted,
			    is_deny ? "any port" : "80 and 443");
	free(rule->ports);
	rule->ports = pc_xcalloc(k, sizeof(*rule->ports));
	rule->n_ports = 0;
	for (size_t i = 0; i < k; i++) {
		size_t o = pctx_index(c, i);
		uint64_t port;
		r = get_uint(c, items[i], 1, 65535, "port", &port);
		if (r < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (rule->ports[j] == port)
				return perr(c, items[i]->at,
					    "port %llu is listed twice (each once)",
					    (unsigned long long)port);
		rule->ports[rule->n_ports++] = (uint16_t)port;
		pctx_pop(c, o);
	}
	pctx_pop(c, old);
	return 0;
}

static int parse_rule(struct pctx *c, const struct ynode *n, bool is_deny, enum pc_enforcement dflt,
		      struct pc_net_rule *rule)
{
	static const char *const keys[] = {"host",   "ports",	    "methods", "paths",
					   "access", "enforcement", NULL};
	static const char *const accesses[] = {"read-only", "read-write", NULL};
	static const char *const enforcements[] = {"enforce", "audit", NULL};
	int r = check_map(c, n, "a rule: host, ports, methods, paths, access, enforcement");
	if (r < 0)
		return r;
	r = check_keys(c, n, keys);
	if (r < 0)
		return r;
	rule->at = n->at;
	rule->enforcement = dflt;
	if (!is_deny) { /* a deny rule without ports: stays NULL, any port */
		rule->ports = pc_xcalloc(2, sizeof(*rule->ports));
		rule->ports[0] = 80;
		rule->ports[1] = 443;
		rule->n_ports = 2;
	}
	const struct ynode *v = ynode_get(n, "host");
	size_t old = pctx_key(c, "host");
	if (!v)
		return perr(c, n->at, "missing (every rule names a host, e.g. api.example.com)");
	r = parse_host(c, v, &rule->host);
	if (r < 0)
		return r;
	pctx_pop(c, old);
	if ((v = ynode_get(n, "ports")) && (r = parse_ports(c, v, is_deny, rule)) < 0)
		return r;
	if ((v = ynode_get(n, "methods")) &&
	    (r = parse_str_list(c, v, "methods", METHODS_ACCEPTED,
				"would allow no method; leave methods out to allow any",
				check_method, &rule->methods)) < 0)
		return r;
	if ((v = ynode_get(n, "paths")) &&
	    (r = parse_str_list(c, v, "paths", "a list of URL path globs such as /api/**",
				"would allow no path; leave paths out to allow any", check_url_glob,
				&rule->paths)) < 0)
		return r;
	if ((v = ynode_get(n, "access"))) {
		old = pctx_key(c, "access");
		int a;
		r = get_enum(c, v, accesses, &a);
		if (r < 0)
			return r;
		if (rule->methods)
			return perr(c, v->at,
				    "conflicts with methods: at line %d (use one of access or "
				    "methods)",
				    ynode_get(n, "methods")->at.line);
		if (a == 0) {
			pc_strv_push(&rule->methods, "GET");
			pc_strv_push(&rule->methods, "HEAD");
			pc_strv_push(&rule->methods, "OPTIONS");
		}
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "enforcement"))) {
		old = pctx_key(c, "enforcement");
		int e;
		r = get_enum(c, v, enforcements, &e);
		if (r < 0)
			return r;
		rule->enforcement = e == 1 ? PC_ENFORCE_AUDIT_ONLY : PC_ENFORCE;
		pctx_pop(c, old);
	}
	return 0;
}

static int parse_rules(struct pctx *c, const struct ynode *n, const char *key,
		       enum pc_enforcement dflt, struct pc_net_rule **out, size_t *count)
{
	size_t old = pctx_key(c, key);
	struct ynode *const *items;
	size_t k;
	int r = get_seq_items(c, n, "a list of rules: - host: api.example.com", &items, &k);
	if (r < 0)
		return r;
	*out = pc_xcalloc(k, sizeof(**out));
	for (size_t i = 0; i < k; i++) {
		size_t o = pctx_index(c, i);
		*count = i + 1;
		r = parse_rule(c, items[i], strcmp(key, "deny") == 0, dflt, &(*out)[i]);
		if (r < 0)
			return r;
		pctx_pop(c, o);
	}
	pctx_pop(c, old);
	return 0;
}

static int parse_upstream_ca(struct pctx *c, const struct ynode *n, struct policy *p)
{
	struct pc_path ca = {0};
	int r = get_path(c, n, false, &ca);
	if (r < 0)
		return r;
	free(ca.spec);
	_cleanup_free_ char *path = ca.path;
	struct stat st;
	if (stat(path, &st) < 0)
		return perr(c, n->at, "cannot use %.200s: %s (a PEM file of CA certificates)", path,
			    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return perr(c, n->at, "%.200s is not a file (a PEM file of CA certificates)", path);
	p->net.upstream_ca = pc_steal_ptr(&path);
	return 0;
}

static int parse_allow_private(struct pctx *c, const struct ynode *n, struct pc_net_policy *net)
{
	static const char accepted[] = "a list of addresses or networks, e.g. [127.0.0.1/32, "
				       "\"fd00::/8\"]";
	size_t old = pctx_key(c, "allow_private");
	struct ynode *const *items;
	size_t k;
	int r = get_seq_items(c, n, accepted, &items, &k);
	if (r < 0)
		return r;
	net->allow_private = pc_xcalloc(k, sizeof(*net->allow_private));
	for (size_t i = 0; i < k; i++) {
		size_t o = pctx_index(c, i);
		const char *s;
		char why[256];
		r = get_str(c, items[i], accepted, &s);
		if (r < 0)
			return r;
		struct pc_cidr cidr;
		if (cidr_parse(s, &cidr, why, sizeof(why)) < 0)
			return perr(c, items[i]->at, "%s (%s)", why, accepted);
		for (size_t j = 0; j < i; j++) {
			const struct pc_cidr *d = &net->allow_private[j];
			if (d->family == cidr.family && d->prefix == cidr.prefix &&
			    memcmp(d->addr, cidr.addr, sizeof(d->addr)) == 0)
				return perr(c, items[i]->at,
					    "%.100s is already listed at line %d (each once)", s,
					    d->at.line);
		}
		cidr.spec = pc_xstrdup(s);
		cidr.at = items[i]->at;
		net->allow_private[net->n_allow_private++] = cidr;
		pctx_pop(c, o);
	}
	pctx_pop(c, old);
	return 0;
}

static int parse_egress(struct pctx *c, const struct ynode *n, struct policy *p)
{
	static const char *const keys[] = {
		"default",     "deny_private", "allow_private", "upstream_ca",
		"enforcement", "allow",	       "deny",		NULL};
	static const char *const defaults[] = {"deny", NULL};
	static const char *const enforcements[] = {"enforce", "audit", NULL};
	int r = check_map(c, n,
			  "default, deny_private, allow_private, upstream_ca, enforcement, allow, "
			  "deny");
	if (r < 0)
		return r;
	r = check_keys(c, n, keys);
	if (r < 0)
		return r;
	struct pc_net_policy *net = &p->net;
	const struct ynode *v;
	int m;
	if ((v = ynode_get(n, "default"))) {
		size_t old = pctx_key(c, "default");
		if (v->kind == YN_SCALAR && !ynode_is_null(v) && strcmp(v->value, "deny") != 0)
			return perr(
				c, v->at,
				"'%.100s' is not supported: policy version 1 only supports deny "
				"(default: deny, and list what may be reached under allow:)",
				v->value);
		r = get_enum(c, v, defaults, &m);
		if (r < 0)
			return r;
		net->default_deny = true;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "deny_private"))) {
		size_t old = pctx_key(c, "deny_private");
		r = get_bool(c, v, &net->deny_private);
		if (r < 0)
			return r;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "allow_private")) && (r = parse_allow_private(c, v, net)) < 0)
		return r;
	if ((v = ynode_get(n, "upstream_ca"))) {
		size_t old = pctx_key(c, "upstream_ca");
		r = parse_upstream_ca(c, v, p);
		if (r < 0)
			return r;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "enforcement"))) {
		size_t old = pctx_key(c, "enforcement");
		r = get_enum(c, v, enforcements, &m);
		if (r < 0)
			return r;
		net->enforcement = m == 1 ? PC_ENFORCE_AUDIT_ONLY : PC_ENFORCE;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "allow")) &&
	    (r = parse_rules(c, v, "allow", net->enforcement, &net->allow, &net->n_allow)) < 0)
		return r;
	if ((v = ynode_get(n, "deny")) &&
	    (r = parse_rules(c, v, "deny", net->enforcement, &net->deny, &net->n_deny)) < 0)
		return r;
	return 0;
}

int parse_network(struct pctx *c, const struct ynode *n, struct policy *p)
{
	static const char *const keys[] = {"egress", "gate_port", NULL};
	int r = check_map(c, n, "egress, gate_port");
	if (r < 0)
		return r;
	r = check_keys(c, n, keys);
	if (r < 0)
		return r;
	const struct ynode *v;
	if ((v = ynode_get(n, "gate_port"))) {
		size_t old = pctx_key(c, "gate_port");
		uint64_t port;
		r = get_uint(c, v, 1, 65535, "port", &port);
		if (r < 0)
			return r;
		p->net.gate_port = (uint16_t)port;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "egress"))) {
		size_t old = pctx_key(c, "egress");
		r = parse_egress(c, v, p);
		if (r < 0)
			return r;
		pctx_pop(c, old);
	}
	return 0;
}

/* A required scalar: missing is an error at the enclosing mapping. */
static int required(struct pctx *c, const struct ynode *map, const char *key, const char *accepted,
		    const struct ynode **out)
{
	*out = ynode_get(map, key);
	if (*out)
		return 0;
	size_t old = pctx_key(c, key);
	int r = perr(c, map->at, "missing (%s)", accepted);
	pctx_pop(c, old);
	return r;
}

static bool all_in(const char *s, const char *set)
{
	return s[0] && strspn(s, set) == strlen(s);
}

static int parse_credential(struct pctx *c, const struct ynode *n, struct pc_credential *cr)
{
	static const char *const keys[] = {"name",	  "host",     "header", "format",
					   "query",	  "placeholder", "fallback", NULL};
	static const char name_ok[] = "the vault secret's name: letters, digits, '.', '_', '-'";
	static const char ph_ok[] = "the environment variable the agent gets, e.g. API_KEY";
	static const char tchar[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789!#$%&'*+-.^_`|~";
	static const char qchar[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789-._~";
	int r = check_map(c, n, "name, host, header or query, format, placeholder");
	if (r < 0)
		return r;
	r = check_keys(c, n, keys);
	if (r < 0)
		return r;
	cr->at = n->at;
	const struct ynode *v;
	const char *s;
	size_t old;

	if ((r = required(c, n, "name", name_ok, &v)) < 0)
		return r;
	old = pctx_key(c, "name");
	if ((r = get_str(c, v, name_ok, &s)) < 0)
		return r;
	if (!all_in(s, qchar) || strlen(s) > 128)
		return perr(c, v->at, "'%.100s' is not a secret name (%s)", s, name_ok);
	cr->name = pc_xstrdup(s);
	pctx_pop(c, old);

	if ((r = required(c, n, "host", "the host or hosts the secret may go to", &v)) < 0)
		return r;
	if (v->kind == YN_SEQ) {
		r = parse_str_list(c, v, "host", "a host or a list of hosts",
				   "would let the secret go nowhere", check_host_item, &cr->hosts);
		if (r < 0)
			return r;
	} else {
		old = pctx_key(c, "host");
		_cleanup_free_ char *h = NULL;
		if ((r = parse_host(c, v, &h)) < 0)
			return r;
		pc_strv_push(&cr->hosts, h);
		pctx_pop(c, old);
	}

	const struct ynode *hv = ynode_get(n, "header"), *qv = ynode_get(n, "query");
	if (hv && qv) {
		pctx_key(c, "query");
		return perr(c, qv->at,
			    "conflicts with header: at line %d (the secret goes in a header or "
			    "a query parameter, not both)",
			    hv->at.line);
	}
	if (hv) {
		old = pctx_key(c, "header");
		if ((r = get_str(c, hv, "an HTTP header name such as x-api-key", &s)) < 0)
			return r;
		if (!all_in(s, tchar))
			return perr(c, hv->at,
				    "'%.100s' is not an HTTP header name (e.g. x-api-key, "
				    "Authorization)",
				    s);
		cr->header = pc_xstrdup(s);
		pctx_pop(c, old);
	}
	if (qv) {
		old = pctx_key(c, "query");
		if ((r = get_str(c, qv, "a query parameter name such as key", &s)) < 0)
			return r;
		if (!all_in(s, qchar))
			return perr(c, qv->at,
				    "'%.100s' is not a query parameter name (letters, digits, "
				    "'-', '.', '_', '~')",
				    s);
		cr->query = pc_xstrdup(s);
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "format"))) {
		static const char fmt_ok[] = "text holding {secret} or {secret_base64}, e.g. "
					     "\"Bearer {secret}\", \"Basic {secret_base64}\"";
		old = pctx_key(c, "format");
		if ((r = get_str(c, v, fmt_ok, &s)) < 0)
			return r;
		if (!strstr(s, "{secret}") && !strstr(s, "{secret_base64}"))
			return perr(c, v->at, "'%.100s' has no {secret} in it (%s)", s, fmt_ok);
		if (!ynode_get(n, "header") && strcmp(s, "{secret}") != 0)
			return perr(c, v->at,
				    "format is for a header: add header: (e.g. Authorization)");
		for (const char *q = s; *q; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				return perr(c, v->at, "control characters are not allowed (%s)",
					    fmt_ok);
		free(cr->format);
		cr->format = pc_xstrdup(s);
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "fallback")) &&
	    (r = parse_str_list(c, v, "fallback",
				"groups whose secret is used when the run's identity has none, "
				"e.g. [group:sales]",
				"means no fallback; leave fallback out", check_group,
				&cr->fallback)) < 0)
		return r;
	if ((r = required(c, n, "placeholder", ph_ok, &v)) < 0)
		return r;
	old = pctx_key(c, "placeholder");
	if ((r = get_str(c, v, ph_ok, &s)) < 0)
		return r;
	if (!valid_env_name(s))
		return perr(c, v->at,
			    "'%.100s' is not an environment variable name (letters, digits and _, "
			    "not starting with a digit)",
			    s);
	cr->placeholder = pc_xstrdup(s);
	pctx_pop(c, old);
	return 0;
}

int parse_credentials(struct pctx *c, const struct ynode *n, struct policy *p)
{
	struct ynode *const *items;
	size_t k;
	int r = get_seq_items(c, n, "a list of credentials: - name: ...", &items, &k);
	if (r < 0)
		return r;
	p->credentials = pc_xcalloc(k, sizeof(*p->credentials));
	for (size_t i = 0; i < k; i++) {
		size_t o = pctx_index(c, i);
		struct pc_credential *cr = &p->credentials[i];
		p->n_credentials = i + 1;
		cr->format = pc_xstrdup("{secret}");
		r = parse_credential(c, items[i], cr);
		if (r < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->credentials[j].placeholder, cr->placeholder) == 0) {
				pctx_key(c, "placeholder");
				return perr(c, ynode_get(items[i], "placeholder")->at,
					    "%s is already the placeholder of credentials[%zu] "
					    "(one variable per credential)",
					    cr->placeholder, j);
			}
		pctx_pop(c, o);
	}
	return 0;
}

/* ---- match.json ---------------------------------------------------------- */

#define JSON_PATH_MAX  512
#define JSON_STEPS_MAX 32
#define JSON_DEPTH_MAX 64
#define JSON_INDEX_MAX 1000000

/* One step of a match.json path: a key, or an index when key is NULL. */
struct jstep {
	const char *key;
	size_t klen;
	unsigned long index;
};

/* "a.b[0].c" into steps; NULL when well formed, else what is wrong. */
static const char *json_path_steps(const char *s, struct jstep *st, size_t *n)
{
	size_t k = 0;
	const char *q = s;
	if (!*q)
		return "it is empty";
	if (strlen(q) > JSON_PATH_MAX)
		return "it is longer than 512 bytes";
	while (*q) {
		if (k == JSON_STEPS_MAX)
			return "it has more than 32 steps";
		if (*q == '[') {
			char *e;
			if (!isdigit((unsigned char)q[1]))
				return "an index is a number in brackets, e.g. items[0]";
			unsigned long i = strtoul(q + 1, &e, 10);
			if (*e != ']')
				return "an index is a number in brackets, e.g. items[0]";
			if (i > JSON_INDEX_MAX || (q[1] == '0' && e - q > 2))
				return "an index is 0 to 1000000, without leading zeros";
			st[k++] = (struct jstep){NULL, 0, i};
			q = e + 1;
			continue;
		}
		if (k) {
			if (*q != '.')
				return "after a key or an index comes .key or [index]";
			q++;
		}
		size_t len = strcspn(q, ".[]");
		if (len == 0)
			return "a key is empty (a.b, not a..b or a.)";
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)q[i] < 0x20 || q[i] == 0x7f)
				return "a key holds a control character";
		if (q[len] == ']')
			return "a ] without its [";
		st[k++] = (struct jstep){q, len, 0};
		q += len;
	}
	*n = k;
	return NULL;
}

static int parse_json_match(struct pctx *c, const struct ynode *n, struct pc_approval_rule *a)
{
	static const char *const keys[] = {"path", "value", NULL};
	static const char accepted[] =
		"{path: \"deal.amount\", value: 1000}: a field of the JSON body and the "
		"scalar it must equal";
	int r = check_map(c, n, accepted);
	if (r < 0 || (r = check_keys(c, n, keys)) < 0)
		return r;
	const struct ynode *v;
	if ((r = required(c, n, "path", "the field: dotted keys with [i] indexes, e.g. items[0].id",
			  &v)) < 0)
		return r;
	size_t old = pctx_key(c, "path");
	const char *path;
	if ((r = get_str(c, v, "a field path such as deal.amount or items[0].id", &path)) < 0)
		return r;
	struct jstep st[JSON_STEPS_MAX];
	size_t k;
	const char *bad = json_path_steps(path, st, &k);
	if (bad)
		return perr(c, v->at,
			    "'%.100s' is not a field path: %s (dotted keys with [i] indexes, e.g. "
			    "deal.items[0].amount)",
			    path, bad);
	pctx_pop(c, old);
	if ((r = required(c, n, "value", "the scalar the field must equal", &v)) < 0)
		return r;
	old = pctx_key(c, "value");
	if (v->kind != YN_SCALAR)
		return perr(c, v->at,
			    "expected a scalar (a string, a number, true, false or null), got a %s",
			    v->kind == YN_MAP ? "mapping" : "list");
	const char *s = v->value;
	switch (yscalar_of(s, v->plain)) {
	case YS_NULL:
		a->json_kind = PC_JSON_NULL;
		s = "null";
		break;
	case YS_BOOL:
		if (strcmp(s, "true") && strcmp(s, "True") && strcmp(s, "TRUE") &&
		    strcmp(s, "false") && strcmp(s, "False") && strcmp(s, "FALSE"))
			return perr(c, v->at,
				    "'%.20s' is ambiguous: write true or false, or quote it for a "
				    "string",
				    s);
		a->json_kind = PC_JSON_BOOL;
		s = tolower((unsigned char)s[0]) == 't' ? "true" : "false";
		break;
	case YS_INT:
	case YS_FLOAT: {
		char *e;
		double d = strtod(s, &e);
		if (*e || !isdigit((unsigned char)s[strspn(s, "+-.")]) || d != d || d - d != 0 ||
		    strpbrk(s, "xXoO"))
			return perr(c, v->at,
				    "'%.40s' is not a JSON number (decimal, e.g. 1000 or 12.5; "
				    "quote it for a string)",
				    s);
		a->json_kind = PC_JSON_NUMBER;
		break;
	}
	case YS_STRING:
	default:
		a->json_kind = PC_JSON_STRING;
		break;
	}
	pctx_pop(c, old);
	a->json_path = pc_xstrdup(path);
	a->json_value = pc_xstrdup(s);
	return 0;
}

/* A JSON text walked in place (RFC 8259, strictly). */
struct jcur {
	const char *p, *end;
	int depth;
};

static void jws(struct jcur *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int jhex4(const char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int d = isdigit((unsigned char)p[i])   ? p[i] - '0'
			: (p[i] >= 'a' && p[i] <= 'f') ? p[i] - 'a' + 10
			: (p[i] >= 'A' && p[i] <= 'F') ? p[i] - 'A' + 10
						       : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static void put_utf8(struct pc_buf *b, unsigned long cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	pc_buf_append(b, u, n);
}

/* The string at j->p (its opening quote), unescaped into out (NULL: only
 * checked). */
static bool jstring(struct jcur *j, struct pc_buf *out)
{
	if (j->p >= j->end || *j->p != '"')
		return false;
	j->p++;
	while (j->p < j->end) {
		unsigned char ch = (unsigned char)*j->p++;
		if (ch == '"')
			return true;
		if (ch < 0x20)
			return false;
		if (ch != '\\') {
			if (out)
				pc_buf_append(out, &ch, 1);
			continue;
		}
		if (j->p >= j->end)
			return false;
		char e = *j->p++;
		const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
		const char *at = strchr(from, e);
		if (e && at) {
			if (out)
				pc_buf_append(out, &to[at - from], 1);
			continue;
		}
		if (e != 'u' || j->end - j->p < 4)
			return false;
		long cp = jhex4(j->p);
		j->p += 4;
		if (cp < 0)
			return false;
		if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 && j->p[0] == '\\' &&
		    j->p[1] == 'u') {
			long lo = jhex4(j->p + 2);
			if (lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				j->p += 6;
			}
		}
		if (out)
			put_utf8(out, (unsigned long)cp);
	}
	return false;
}

static bool jnumber(struct jcur *j)
{
	const char *q = j->p;
	if (q < j->end && *q == '-')
		q++;
	if (q >= j->end || !isdigit((unsigned char)*q))
		return false;
	if (*q == '0')
		q++;
	else
		while (q < j->end && isdigit((unsigned char)*q))
			q++;
	if (q < j->end && *q == '.') {
		if (++q >= j->end || !isdigit((unsigned char)*q))
			return false;
		while (q < j->end && isdigit((unsigned char)*q))
			q++;
	}
	if (q < j->end && (*q == 'e' || *q == 'E')) {
		if (++q < j->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= j->end || !isdigit((unsigned char)*q))
			return false;
		while (q < j->end && isdigit((unsigned char)*q))
			q++;
	}
	j->p = q;
	return true;
}

static bool jliteral(struct jcur *j, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
		return false;
	j->p += n;
	return true;
}

/* Past the value at j->p (whitespace before it skipped). */
static bool jskip(struct jcur *j)
{
	jws(j);
	if (j->p >= j->end)
		return false;
	char open = *j->p;
	if (open != '{' && open != '[') {
		if (open == '"')
			return jstring(j, NULL);
		if (open == 't')
			return jliteral(j, "true");
		if (open == 'f')
			return jliteral(j, "false");
		if (open == 'n')
			return jliteral(j, "null");
		return jnumber(j);
	}
	if (++j->depth > JSON_DEPTH_MAX)
		return false;
	j->p++;
	jws(j);
	char close = open == '{' ? '}' : ']';
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		if (open == '{') {
			jws(j);
			if (!jstring(j, NULL))
				return false;
			jws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return false;
		}
		if (!jskip(j))
			return false;
		jws(j);
		if (j->p >= j->end)
			return false;
		char ch = *j->p++;
		if (ch == close) {
			j->depth--;
			return true;
		}
		if (ch != ',')
			return false;
	}
}

/* Is the scalar at j->p what the rule asks for? Leniently, the safe side:
 * a server may read "1000" as the number, so a number matches its string
 * spelling too, and a string rule the literal of the same text. */
static bool jscalar_equal(struct jcur *j, const struct pc_approval_rule *r)
{
	jws(j);
	const char *at = j->p;
	_cleanup_buf_ struct pc_buf s = {0};
	bool is_str = at < j->end && *at == '"';
	if (is_str) {
		if (!jstring(j, &s))
			return false;
		pc_buf_append(&s, "", 1);
	} else if (!jskip(j) || (at < j->end && (*at == '{' || *at == '['))) {
		return false;
	} else {
		pc_buf_append(&s, at, (size_t)(j->p - at));
		pc_buf_append(&s, "", 1);
	}
	char *text = s.data;
	if (strlen(text) != s.len - 1)
		return false; /* a NUL inside equals no rule's value */
	/* servers trim and fold more often than not: " Won" is "won" */
	char *end = text + strlen(text);
	while (*text && isspace((unsigned char)*text))
		text++;
	while (end > text && isspace((unsigned char)end[-1]))
		*--end = '\0';
	switch (r->json_kind) {
	case PC_JSON_NUMBER: {
		char *e;
		if (!*text)
			return false;
		double got = strtod(text, &e);
		return !*e && got == strtod(r->json_value, NULL);
	}
	case PC_JSON_BOOL:
	case PC_JSON_NULL:
	case PC_JSON_STRING:
	default: {
		const char *v = r->json_value;
		size_t vl = strlen(v);
		while (vl && isspace((unsigned char)*v))
			v++, vl--;
		while (vl && isspace((unsigned char)v[vl - 1]))
			vl--;
		return strlen(text) == vl && strncasecmp(text, v, vl) == 0;
	}
	}
}

/* Does the value at j->p, followed along st[0..n), hold the rule's value?
 * Every member of a repeated key is followed: which one a server takes is
 * its own choice. -1: not JSON. */
static int jfind(struct jcur *j, const struct jstep *st, size_t n, const struct pc_approval_rule *r)
{
	jws(j);
	if (n == 0) {
		struct jcur probe = *j;
		bool eq = jscalar_equal(&probe, r);
		return jskip(j) ? eq : -1;
	}
	char want = st->key ? '{' : '[';
	if (j->p >= j->end || *j->p != want)
		return jskip(j) ? 0 : -1;
	if (++j->depth > JSON_DEPTH_MAX)
		return -1;
	j->p++;
	jws(j);
	char close = want == '{' ? '}' : ']';
	int found = 0;
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return 0;
	}
	for (unsigned long i = 0;; i++) {
		bool follow;
		if (want == '{') {
			_cleanup_buf_ struct pc_buf key = {0};
			jws(j);
			if (!jstring(j, &key))
				return -1;
			jws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return -1;
			follow = key.len == st->klen &&
				 (!key.len || strncasecmp(key.data, st->key, key.len) == 0);
		} else {
			follow = i == st->index;
		}
		if (follow) {
			int f = jfind(j, st + 1, n - 1, r);
			if (f < 0)
				return -1;
			found |= f;
		} else if (!jskip(j)) {
			return -1;
		}
		jws(j);
		if (j->p >= j->end)
			return -1;
		char ch = *j->p++;
		if (ch == close) {
			j->depth--;
			return found;
		}
		if (ch != ',')
			return -1;
	}
}

bool policy_approval_json_match(const struct pc_approval_rule *r, const char *headers,
				const char *body, size_t len)
{
	struct jstep st[JSON_STEPS_MAX];
	size_t n;
	if (!r->json_path)
		return true;
	if (json_path_steps(r->json_path, st, &n))
		return true; /* never: checked at load */
	struct jcur j = {body, body + len, 0};
	jws(&j);
	if (j.p == j.end)
		return false; /* no body, no field */
	/* a body sent as something else (a form, text) may carry the field
	 * in a way this cannot read: held */
	if (!policy_approval_json_body(headers))
		return true;
	int f = jfind(&j, st, n, r);
	jws(&j);
	/* what a server would read in a body that is not JSON cannot be
	 * told: held (the safe side) */
	return f != 0 || j.p != j.end;
}

static bool strv_same(char *const *a, char *const *b)
{
	size_t n = pc_strv_len(a);
	if (n != pc_strv_len(b) || (!a) != (!b))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool str_same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool policy_approval_same(const struct pc_approval_rule *a, const struct pc_approval_rule *b)
{
	return strcmp(a->host, b->host) == 0 && strv_same(a->methods, b->methods) &&
	       strv_same(a->paths, b->paths) && str_same(a->json_path, b->json_path) &&
	       str_same(a->json_value, b->json_value) && a->json_kind == b->json_kind &&
	       strv_same(a->approvers, b->approvers) && a->act_as == b->act_as &&
	       a->timeout_ms == b->timeout_ms && a->hold_ms == b->hold_ms && a->count == b->count &&
	       a->body_max == b->body_max;
}

static int parse_match(struct pctx *c, const struct ynode *n, struct pc_approval_rule *a)
{
	static const char *const keys[] = {"host", "methods", "paths", "json", NULL};
	int r = check_map(c, n, "host, methods, paths, json");
	if (r < 0)
		return r;
	r = check_keys(c, n, keys);
	if (r < 0)
		return r;
	const struct ynode *v;
	if ((r = required(c, n, "host", "the host whose requests are held", &v)) < 0)
		return r;
	size_t old = pctx_key(c, "host");
	if ((r = parse_host(c, v, &a->host)) < 0)
		return r;
	pctx_pop(c, old);
	if ((v = ynode_get(n, "methods")) &&
	    (r = parse_str_list(c, v, "methods", METHODS_ACCEPTED,
				"would match nothing; leave methods out to match any", check_method,
				&a->methods)) < 0)
		return r;
	if ((v = ynode_get(n, "paths")) &&
	    (r = parse_str_list(c, v, "paths", "a list of URL path globs such as /api/**",
				"would match nothing; leave paths out to match any", check_url_glob,
				&a->paths)) < 0)
		return r;
	if ((v = ynode_get(n, "json"))) {
		size_t o = pctx_key(c, "json");
		if ((r = parse_json_match(c, v, a)) < 0)
			return r;
		pctx_pop(c, o);
	}
	return 0;
}

static int parse_approval(struct pctx *c, const struct ynode *n, struct pc_approval_rule *a)
{
	static const char *const keys[] = {"match", "approvers", "act_as",   "timeout",
					   "hold",  "count",	 "body_max", NULL};
	static const char *const act_as[] = {"agent", "approver", NULL};
	int r = check_map(c, n, "match, approvers, act_as, timeout, hold, count, body_max");
	if (r < 0)
		return r;
	r = check_keys(c, n, keys);
	if (r < 0)
		return r;
	a->at = n->at;
	const struct ynode *v;
	size_t old;
	if ((r = required(c, n, "match", "match: { host: ..., methods: [...] }", &v)) < 0)
		return r;
	old = pctx_key(c, "match");
	if ((r = parse_match(c, v, a)) < 0)
		return r;
	pctx_pop(c, old);
	if ((r = required(c, n, "approvers", "who may approve: [alice, group:NAME]", &v)) < 0)
		return r;
	r = parse_str_list(c, v, "approvers", "a list of user names or group:NAME",
			   "means nobody could approve", check_approver, &a->approvers);
	if (r < 0)
		return r;
	if ((v = ynode_get(n, "act_as"))) {
		old = pctx_key(c, "act_as");
		int m;
		if ((r = get_enum(c, v, act_as, &m)) < 0)
			return r;
		a->act_as = m == 1 ? PC_ACT_AS_APPROVER : PC_ACT_AS_AGENT;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "timeout"))) {
		old = pctx_key(c, "timeout");
		if ((r = get_duration(c, v, false, &a->timeout_ms)) < 0)
			return r;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "hold"))) {
		old = pctx_key(c, "hold");
		if ((r = get_duration(c, v, true, &a->hold_ms)) < 0)
			return r;
		pctx_pop(c, old);
	}
	if (a->hold_ms > a->timeout_ms && !ynode_get(n, "hold"))
		a->hold_ms = a->timeout_ms; /* the default hold never outlasts a short timeout */
	if (a->hold_ms > a->timeout_ms) {
		v = ynode_get(n, "hold");
		pctx_key(c, "hold");
		char h[32], t[32];
		pc_format_duration(a->hold_ms, h, sizeof(h));
		pc_format_duration(a->timeout_ms, t, sizeof(t));
		return perr(c, v->at, "hold %s is longer than timeout %s (hold <= timeout)", h, t);
	}
	a->body_max = PC_APPROVAL_BODY_DEFAULT;
	if ((v = ynode_get(n, "body_max"))) {
		old = pctx_key(c, "body_max");
		if ((r = get_size(c, v, &a->body_max)) < 0)
			return r;
		if (a->body_max > PC_APPROVAL_BODY_MOST)
			return perr(c, v->at,
				    "%llu bytes is more than a held request may have (at most "
				    "8M: the gate keeps it in memory while a person decides)",
				    (unsigned long long)a->body_max);
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "count"))) {
		old = pctx_key(c, "count");
		uint64_t count;
		if ((r = get_uint(c, v, 1, 100, "number of approvals", &count)) < 0)
			return r;
		a->count = (uint32_t)count;
		bool groups = false;
		for (size_t i = 0; a->approvers[i]; i++)
			groups |= strncmp(a->approvers[i], "group:", 6) == 0;
		if (!groups && count > pc_strv_len(a->approvers))
			return perr(c, v->at,
				    "%llu approvals needed but only %zu approvers listed (at most "
				    "the number of approvers, or name a group:)",
				    (unsigned long long)count, pc_strv_len(a->approvers));
		pctx_pop(c, old);
	}
	return 0;
}

int parse_approvals(struct pctx *c, const struct ynode *n, struct policy *p)
{
	struct ynode *const *items;
	size_t k;
	int r = get_seq_items(c, n, "a list of approval rules: - match: ...", &items, &k);
	if (r < 0)
		return r;
	p->approvals = pc_xcalloc(k, sizeof(*p->approvals));
	for (size_t i = 0; i < k; i++) {
		size_t o = pctx_index(c, i);
		struct pc_approval_rule *a = &p->approvals[i];
		p->n_approvals = i + 1;
		a->act_as = PC_ACT_AS_AGENT;
		a->timeout_ms = 15 * 60 * 1000;
		a->hold_ms = 60 * 1000;
		a->count = 1;
		r = parse_approval(c, items[i], a);
		if (r < 0)
			return r;
		pctx_pop(c, o);
	}
	return 0;
}
