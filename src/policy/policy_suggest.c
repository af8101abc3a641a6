/* policy: allow entries suggested from egress denials (`pincer policy
 * suggest`). The denials come from an audit log, which the agent filled:
 * every host, path and method in them is the agent's choice. So hosts
 * must be valid host names, paths plain printable ASCII without glob
 * characters, and anything else shows up only inside a comment, escaped.
 * The output is for a human to review, never applied by itself. */
#include "policy/policy_internal.h"

#include <arpa/inet.h>
#include <string.h>

#define MAX_EXACT_PATHS 3  /* more distinct paths under one folder: folder glob */
#define MAX_ENTRY_PATHS 12 /* more paths than this in one entry: leave paths out */
#define MAX_NOTES	50 /* unfixable denials listed; the rest counted */

struct sg_path {
	char *path; /* without the query */
	size_t count;
};

struct sg_host {
	char *host;
	size_t tunnel_count, http_count;
	uint16_t *tunnel_ports, *http_ports;
	size_t n_tunnel_ports, n_http_ports;
	unsigned methods;      /* bit i: policy_http_methods[i] seen */
	char *other_method;    /* a method the policy cannot name, seen */
	struct sg_path *paths; /* distinct */
	size_t n_paths;
	bool protos[5];
};

/* Denials no allow entry can fix, one per (why, host, port). */
struct sg_note {
	char *why, *host, *first_reason;
	uint16_t port;
	size_t count;
};

struct policy_suggest {
	struct sg_host *hosts;
	size_t n_hosts;
	struct sg_note *notes;
	size_t n_notes;
	size_t total, fixable;
};

static const char *const protos[] = {"http", "connect", "socks5", "capture-http", "capture-tls"};

struct policy_suggest *policy_suggest_new(void)
{
	return pc_xcalloc(1, sizeof(struct policy_suggest));
}

void policy_suggest_free(struct policy_suggest *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_hosts; i++) {
		struct sg_host *h = &s->hosts[i];
		free(h->host);
		free(h->tunnel_ports);
		free(h->http_ports);
		free(h->other_method);
		for (size_t j = 0; j < h->n_paths; j++)
			free(h->paths[j].path);
		free(h->paths);
	}
	free(s->hosts);
	for (size_t i = 0; i < s->n_notes; i++) {
		free(s->notes[i].why);
		free(s->notes[i].host);
		free(s->notes[i].first_reason);
	}
	free(s->notes);
	free(s);
}

size_t policy_suggest_count(const struct policy_suggest *s, size_t *fixable)
{
	if (fixable)
		*fixable = s->fixable;
	return s->total;
}

static void add_port(uint16_t **v, size_t *n, uint16_t port)
{
	for (size_t i = 0; i < *n; i++)
		if ((*v)[i] == port)
			return;
	*v = pc_xrealloc(*v, (*n + 1) * sizeof(**v));
	size_t at = *n;
	while (at > 0 && (*v)[at - 1] > port) { /* kept sorted */
		(*v)[at] = (*v)[at - 1];
		at--;
	}
	(*v)[at] = port;
	(*n)++;
}

static void add_note(struct policy_suggest *s, const char *why, const char *host, uint16_t port,
		     const char *reason)
{
	why = why ? why : "unknown";
	host = host ? host : "";
	for (size_t i = 0; i < s->n_notes; i++) {
		struct sg_note *n = &s->notes[i];
		if (n->port == port && strcmp(n->why, why) == 0 && strcmp(n->host, host) == 0) {
			n->count++;
			return;
		}
	}
	s->notes = pc_xrealloc(s->notes, (s->n_notes + 1) * sizeof(*s->notes));
	s->notes[s->n_notes++] = (struct sg_note){
		.why = pc_xstrdup(why),
		.host = pc_xstrdup(host),
		.first_reason = pc_xstrdup(reason ? reason : ""),
		.port = port,
		.count = 1,
	};
}

static struct sg_host *host_of(struct policy_suggest *s, const char *host)
{
	for (size_t i = 0; i < s->n_hosts; i++)
		if (strcmp(s->hosts[i].host, host) == 0)
			return &s->hosts[i];
	s->hosts = pc_xrealloc(s->hosts, (s->n_hosts + 1) * sizeof(*s->hosts));
	struct sg_host *h = &s->hosts[s->n_hosts++];
	*h = (struct sg_host){.host = pc_xstrdup(host)};
	return h;
}

/* A path that can be written into paths: as it is. */
static bool path_usable(const char *p, size_t len)
{
	if (len == 0 || len > 1024 || egress_path_ambiguous(p, len))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f ||
		    strchr("*?#[]{}\"'", p[i]))
			return false;
	return true;
}

void policy_suggest_add(struct policy_suggest *s, const struct pc_egress_denial *d)
{
	s->total++;
	if (!d->why || strcmp(d->why, "not-allowed") != 0) {
		add_note(s, d->why, d->host, d->port, d->reason);
		return;
	}
	if (!d->host || host_pattern_problem(d->host) || d->host[0] == '*' || d->port == 0) {
		add_note(s, "not-a-host", d->host, d->port, d->reason);
		return;
	}
	/* A rule holds IPv6 in its canonical spelling: suggest that one. */
	_cleanup_free_ char *canon = NULL;
	struct in6_addr a6;
	char buf[INET6_ADDRSTRLEN];
	if (ipv6_literal(d->host, &a6) && inet_ntop(AF_INET6, &a6, buf, sizeof(buf)))
		canon = pc_xstrdup(buf);
	const char *host = canon ? canon : d->host;

	bool http = d->method && d->path;
	size_t plen = http ? strcspn(d->path, "?") : 0;
	if (http && !path_usable(d->path, plen)) {
		add_note(s, "path", host, d->port, d->reason);
		return;
	}
	s->fixable++;
	struct sg_host *h = host_of(s, host);
	for (size_t i = 0; d->proto && i < PC_ARRAY_SIZE(protos); i++)
		h->protos[i] |= strcmp(d->proto, protos[i]) == 0;
	if (!http) {
		h->tunnel_count++;
		add_port(&h->tunnel_ports, &h->n_tunnel_ports, d->port);
		return;
	}
	h->http_count++;
	add_port(&h->http_ports, &h->n_http_ports, d->port);
	bool known = false;
	for (size_t i = 0; policy_http_methods[i]; i++)
		if (strcmp(d->method, policy_http_methods[i]) == 0) {
			h->methods |= 1u << i;
			known = true;
		}
	if (!known && !h->other_method)
		h->other_method = pc_xstrndup(d->method, 32);
	for (size_t i = 0; i < h->n_paths; i++)
		if (strlen(h->paths[i].path) == plen &&
		    strncmp(h->paths[i].path, d->path, plen) == 0) {
			h->paths[i].count++;
			return;
		}
	h->paths = pc_xrealloc(h->paths, (h->n_paths + 1) * sizeof(*h->paths));
	h->paths[h->n_paths++] = (struct sg_path){pc_xstrndup(d->path, plen), 1};
}

/* ---- paths: collapse many under one folder ------------------------------ */

/* '/' before every other character, so that the paths of one folder sort
 * together ("/api", "/api/a", "/api-x"). */
static int cmp_path(const void *a, const void *b)
{
	const unsigned char *x = (const unsigned char *)((const struct sg_path *)a)->path;
	const unsigned char *y = (const unsigned char *)((const struct sg_path *)b)->path;
	for (; *x && *x == *y; x++, y++)
		;
	int cx = *x == '/' ? 1 : *x, cy = *y == '/' ? 1 : *y;
	return cx - cy;
}

/* Where segment `depth` (0-based) of p starts and how long it is; false
 * when p has no such segment. */
static bool segment(const char *p, size_t depth, const char **seg, size_t *len)
{
	const char *q = p + 1;
	for (size_t i = 0; i < depth; i++) {
		const char *slash = strchr(q, '/');
		if (!slash)
			return false;
		q = slash + 1;
	}
	*seg = q;
	*len = strcspn(q, "/");
	return true;
}

/* The entries for paths[0..n), which share their first `depth` segments:
 * exact paths, or "/a/b/" followed by two stars when a folder holds more
 * than MAX_EXACT_PATHS entries. Never collapses at the root. */
static void collapse(const struct sg_path *v, size_t n, size_t depth, char ***out)
{
	_cleanup_strv_ char **mine = NULL;
	for (size_t i = 0; i < n;) {
		const char *seg;
		size_t len;
		if (!segment(v[i].path, depth, &seg, &len) || (len == 0 && !seg[0])) {
			pc_strv_push(&mine, v[i].path); /* ends here */
			i++;
			continue;
		}
		size_t j = i + 1; /* the run sharing this segment */
		for (; j < n; j++) {
			const char *s2;
			size_t l2;
			if (!segment(v[j].path, depth, &s2, &l2) || l2 != len ||
			    strncmp(s2, seg, len) != 0)
				break;
		}
		_cleanup_strv_ char **sub = NULL;
		collapse(v + i, j - i, depth + 1, &sub);
		for (size_t k = 0; sub && sub[k]; k++)
			pc_strv_push(&mine, sub[k]);
		i = j;
	}
	if (depth > 0 && pc_strv_len(mine) > MAX_EXACT_PATHS) {
		const char *seg = v[0].path;
		size_t len = 0;
		(void)segment(v[0].path, depth - 1, &seg, &len); /* all share it */
		_cleanup_free_ char *glob =
			pc_xasprintf("%.*s/**", (int)(seg + len - v[0].path), v[0].path);
		pc_strv_push(out, glob);
		return;
	}
	for (size_t k = 0; mine && mine[k]; k++)
		pc_strv_push(out, mine[k]);
}

/* ---- emission ------------------------------------------------------------ */

/* Inside a comment: printable ASCII, the rest escaped, at most `max`. */
static void comment_text(struct pc_buf *b, const char *s, size_t max)
{
	size_t n = 0;
	for (const unsigned char *q = (const unsigned char *)s; *q; q++, n++) {
		if (n >= max) {
			pc_buf_puts(b, "...");
			return;
		}
		if (*q >= 0x20 && *q < 0x7f)
			pc_buf_append(b, q, 1);
		else
			pc_buf_printf(b, "\\x%02x", *q);
	}
}

static void emit_ports(struct pc_buf *b, const uint16_t *v, size_t n)
{
	pc_buf_puts(b, "        ports: [");
	for (size_t i = 0; i < n; i++)
		pc_buf_printf(b, "%s%u", i ? ", " : "", (unsigned)v[i]);
	pc_buf_puts(b, "]\n");
}

static const char *plural(size_t n)
{
	return n == 1 ? "" : "s";
}

/* Plain HTTP seen on a port where a tunnel was seen too: the tunnel's
 * entry (no methods, no paths) admits it already. */
static bool tunnel_port(const struct sg_host *h, uint16_t port)
{
	for (size_t i = 0; i < h->n_tunnel_ports; i++)
		if (h->tunnel_ports[i] == port)
			return true;
	return false;
}

static void emit_tunnel_entry(struct pc_buf *b, const struct sg_host *h, bool with_http)
{
	pc_buf_puts(b, "      - host: ");
	policy_emit_str(b, h->host);
	if (with_http)
		pc_buf_printf(b, "  # %zu denied connection%s and %zu plain HTTP request%s (",
			      h->tunnel_count, plural(h->tunnel_count), h->http_count,
			      plural(h->http_count));
	else
		pc_buf_printf(b, "  # %zu denied connection%s (", h->tunnel_count,
			      plural(h->tunnel_count));
	bool first = true;
	for (size_t i = 0; i < PC_ARRAY_SIZE(protos); i++)
		if (h->protos[i] && strcmp(protos[i], "http") != 0 &&
		    strcmp(protos[i], "capture-http") != 0) {
			pc_buf_printf(b, "%s%s", first ? "" : ", ", protos[i]);
			first = false;
		}
	pc_buf_printf(b, "%s)\n", first ? "tunnel" : "");
	emit_ports(b, h->tunnel_ports, h->n_tunnel_ports);
}

static void emit_http_entry(struct pc_buf *b, const struct sg_host *h)
{
	struct sg_path *sorted = pc_xcalloc(h->n_paths, sizeof(*sorted));
	memcpy(sorted, h->paths, h->n_paths * sizeof(*sorted));
	qsort(sorted, h->n_paths, sizeof(*sorted), cmp_path);
	_cleanup_strv_ char **paths = NULL;
	collapse(sorted, h->n_paths, 0, &paths);
	free(sorted);
	size_t np = pc_strv_len(paths);

	pc_buf_puts(b, "      - host: ");
	policy_emit_str(b, h->host);
	pc_buf_printf(b, "  # %zu denied plain HTTP request%s on %zu path%s\n", h->http_count,
		      plural(h->http_count), h->n_paths, plural(h->n_paths));
	pc_buf_puts(b, "        ports: [");
	for (size_t i = 0, k = 0; i < h->n_http_ports; i++)
		if (!tunnel_port(h, h->http_ports[i]))
			pc_buf_printf(b, "%s%u", k++ ? ", " : "", (unsigned)h->http_ports[i]);
	pc_buf_puts(b, "]\n");
	if (h->other_method) {
		pc_buf_puts(b, "        # methods left out: ");
		comment_text(b, h->other_method, 32);
		pc_buf_puts(b, " was seen and a policy cannot name it\n");
	} else {
		pc_buf_puts(b, "        methods: [");
		bool first = true;
		for (size_t i = 0; policy_http_methods[i]; i++)
			if (h->methods & (1u << i)) {
				pc_buf_printf(b, "%s%s", first ? "" : ", ", policy_http_methods[i]);
				first = false;
			}
		pc_buf_puts(b, "]\n");
	}
	if (np > MAX_ENTRY_PATHS) {
		pc_buf_printf(b,
			      "        # paths left out: %zu folders seen; name the ones the agent "
			      "needs\n",
			      np);
		return;
	}
	pc_buf_puts(b, "        paths: [");
	for (size_t i = 0; i < np; i++) {
		if (i)
			pc_buf_puts(b, ", ");
		policy_emit_str(b, paths[i]);
	}
	pc_buf_puts(b, "]\n");
}

static int cmp_host(const void *a, const void *b)
{
	return strcmp(((const struct sg_host *)a)->host, ((const struct sg_host *)b)->host);
}

static const char *note_text(const char *why)
{
	static const struct {
		const char *why, *text;
	} known[] = {
		{"deny-rule", "a deny rule blocks it; an allow entry cannot override it"},
		{"private-address", "a private address (deny_private); see allow_private"},
		{"bad-request", "a malformed request, refused whatever the policy"},
		{"upstream", "the upstream failed; not a policy matter"},
		{"exfiltration", "a secret on its way out; never suggested"},
		{"not-a-host", "not a host name an allow entry can hold"},
		{"path", "its path cannot be matched by paths: (ambiguous or glob characters); "
			 "only an entry without paths would admit it"},
	};
	for (size_t i = 0; i < PC_ARRAY_SIZE(known); i++)
		if (strcmp(why, known[i].why) == 0)
			return known[i].text;
	return NULL;
}

void policy_suggest_emit(const struct policy_suggest *s, struct pc_buf *out)
{
	struct sg_host *hosts = pc_xcalloc(s->n_hosts ? s->n_hosts : 1, sizeof(*hosts));
	if (s->n_hosts)
		memcpy(hosts, s->hosts, s->n_hosts * sizeof(*hosts));
	qsort(hosts, s->n_hosts, sizeof(*hosts), cmp_host);
	for (size_t i = 0; i < s->n_hosts; i++) {
		struct sg_host *h = &hosts[i];
		size_t own = 0; /* HTTP ports the tunnel entry does not cover */
		for (size_t j = 0; j < h->n_http_ports; j++)
			if (!tunnel_port(h, h->http_ports[j]))
				own++;
		if (h->tunnel_count)
			emit_tunnel_entry(out, h, h->http_count && own == 0);
		if (h->http_count && own > 0)
			emit_http_entry(out, h);
	}
	free(hosts);
	if (s->n_notes == 0)
		return;
	pc_buf_printf(out, "# Not fixable by an allow entry (%zu denial%s):\n",
		      s->total - s->fixable, plural(s->total - s->fixable));
	for (size_t i = 0; i < s->n_notes; i++) {
		const struct sg_note *n = &s->notes[i];
		if (i == MAX_NOTES) {
			size_t more = 0;
			for (size_t j = i; j < s->n_notes; j++)
				more += s->notes[j].count;
			pc_buf_printf(out,
				      "#   ... and %zu more denial%s of %zu other hosts and ports "
				      "('pincer audit tail --type egress --decision deny' shows "
				      "them)\n",
				      more, plural(more), s->n_notes - i);
			break;
		}
		pc_buf_puts(out, "#   ");
		comment_text(out, n->host[0] ? n->host : "(no host)", 120);
		if (n->port)
			pc_buf_printf(out, " port %u", (unsigned)n->port);
		pc_buf_printf(out, ", %zu time%s: ", n->count, plural(n->count));
		const char *t = note_text(n->why);
		if (t) {
			pc_buf_puts(out, t);
		} else {
			pc_buf_puts(out, "denied (");
			comment_text(out, n->why, 40);
			pc_buf_puts(out, ")");
		}
		pc_buf_puts(out, "\n");
		if (n->first_reason[0]) {
			pc_buf_puts(out, "#     ");
			comment_text(out, n->first_reason, 300);
			pc_buf_puts(out, "\n");
		}
	}
}
