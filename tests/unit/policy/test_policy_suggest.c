/* policy: allow entries suggested from egress denials. The suggestion must
 * be valid YAML under network.egress.allow, admit exactly the fixable
 * denials it was made from, and keep what the agent chose (hosts, paths)
 * out of everything but quoted values and comments. */
#include "policy/policy.h"
#include "../check.h"

#define D(h, port_, m, p, proto_, why_)                                                            \
	((struct pc_egress_denial){.host = (h),                                                    \
				   .port = (port_),                                                \
				   .method = (m),                                                  \
				   .path = (p),                                                    \
				   .proto = (proto_),                                              \
				   .why = (why_),                                                  \
				   .rule = "no rule allows it",                                    \
				   .reason = "egress denied: test"})

static struct policy *with_allow(const char *entries)
{
	_cleanup_buf_ struct pc_buf text = {0};
	pc_buf_puts(&text, "version: 1\nnetwork:\n  egress:\n    allow:\n");
	pc_buf_puts(&text, entries);
	struct policy *p = NULL;
	struct pc_error err = {0};
	if (policy_load_string(text.data, text.len, "/x/suggested.yaml", &p, &err) < 0) {
		fprintf(stderr, "suggestion does not load: %s\n%s", err.msg, text.data);
		CHECK(!"suggestion loads");
	}
	return p;
}

/* Every line is a comment or part of a list item under allow:, printable. */
static void check_shape(const char *out)
{
	for (const char *l = out; *l;) {
		const char *nl = strchr(l, '\n');
		CHECK(nl != NULL);
		if (!nl)
			return;
		bool ok = l[0] == '#' || strncmp(l, "      - host: ", 14) == 0 ||
			  strncmp(l, "        ports: [", 16) == 0 ||
			  strncmp(l, "        methods: [", 17) == 0 ||
			  strncmp(l, "        paths: [", 16) == 0 ||
			  strncmp(l, "        # ", 10) == 0;
		if (!ok)
			fprintf(stderr, "unexpected line: %.*s\n", (int)(nl - l), l);
		CHECK(ok);
		for (const char *q = l; q < nl; q++)
			CHECK((unsigned char)*q >= 0x20 && (unsigned char)*q < 0x7f);
		l = nl + 1;
	}
}

static const struct pc_egress_denial fixable[] = {
	D("api.example.com", 443, NULL, NULL, "connect", "not-allowed"),
	D("api.example.com", 443, NULL, NULL, "connect", "not-allowed"),
	D("api.example.com", 8443, NULL, NULL, "socks5", "not-allowed"),
	D("api.example.com", 443, "GET", "/x", "capture-http", "not-allowed"),
	D("crm.example.com", 80, "GET", "/api/users/1", "http", "not-allowed"),
	D("crm.example.com", 80, "GET", "/api/users/2", "http", "not-allowed"),
	D("crm.example.com", 80, "GET", "/api/users/3?page=2", "http", "not-allowed"),
	D("crm.example.com", 80, "GET", "/api/users/4/notes", "http", "not-allowed"),
	D("crm.example.com", 80, "GET", "/api/users", "http", "not-allowed"),
	D("crm.example.com", 80, "POST", "/api/deals", "http", "not-allowed"),
	D("crm.example.com", 80, "GET", "/api-v2/x", "http", "not-allowed"),
	D("crm.example.com", 80, "GET", "/health?verbose=1", "http", "not-allowed"),
	D("crm.example.com", 8080, "GET", "/health", "http", "not-allowed"),
	D("crm.example.com", 443, NULL, NULL, "capture-tls", "not-allowed"),
	D("dav.example.com", 80, "PROPFIND", "/files/a", "http", "not-allowed"),
	D("dav.example.com", 80, "GET", "/files/b", "http", "not-allowed"),
	D("fd00:0::1", 443, NULL, NULL, "connect", "not-allowed"),
	D("10.0.0.7", 80, "HEAD", "/", "http", "not-allowed"),
};

static void test_entries(void)
{
	_cleanup_(policy_suggest_freep) struct policy_suggest *s = policy_suggest_new();
	for (size_t i = 0; i < PC_ARRAY_SIZE(fixable); i++)
		policy_suggest_add(s, &fixable[i]);
	size_t fix = 0;
	CHECK(policy_suggest_count(s, &fix) == PC_ARRAY_SIZE(fixable));
	CHECK(fix == PC_ARRAY_SIZE(fixable));
	_cleanup_buf_ struct pc_buf out = {0};
	policy_suggest_emit(s, &out);
	check_shape(out.data);
	/* hosts sorted; tunnels and plain HTTP on a tunnel's port in one entry */
	CHECK_CONTAINS(out.data,
		       "      - host: 10.0.0.7  # 1 denied plain HTTP request on 1 path\n"
		       "        ports: [80]\n        methods: [HEAD]\n        paths: [/]\n");
	CHECK_CONTAINS(out.data, "      - host: api.example.com  # 3 denied connections and 1 "
				 "plain HTTP request (connect, socks5)\n"
				 "        ports: [443, 8443]\n");
	CHECK(!strstr(out.data, "paths: [/x]"));
	/* many paths in one folder collapse; a terminal path sorts with it */
	CHECK_CONTAINS(out.data,
		       "      - host: crm.example.com  # 1 denied connection "
		       "(capture-tls)\n        ports: [443]\n"
		       "      - host: crm.example.com  # 9 denied plain HTTP requests on 8 "
		       "paths\n        ports: [80, 8080]\n        methods: [GET, POST]\n"
		       "        paths: [/api/deals, \"/api/users/**\", /api-v2/x, /health]\n");
	CHECK_CONTAINS(out.data,
		       "      - host: dav.example.com  # 2 denied plain HTTP requests "
		       "on 2 paths\n        ports: [80]\n"
		       "        # methods left out: PROPFIND was seen and a policy cannot "
		       "name it\n        paths: [/files/a, /files/b]\n");
	CHECK_CONTAINS(out.data, "      - host: \"fd00::1\"  # 1 denied connection (connect)\n");
	CHECK(!strstr(out.data, "Not fixable"));

	/* pasted under allow:, it loads and admits every one of them */
	_cleanup_policy_ struct policy *p = with_allow(out.data);
	if (!p)
		return;
	for (size_t i = 0; i < PC_ARRAY_SIZE(fixable); i++) {
		const struct pc_egress_denial *d = &fixable[i];
		struct pc_egress_decision dec;
		policy_egress_decide(p, d->host, d->port, d->method, d->path, &dec);
		if (dec.verdict != PC_EGRESS_ALLOW)
			fprintf(stderr, "not admitted: %s\n", dec.reason);
		CHECK(dec.verdict == PC_EGRESS_ALLOW);
	}
	/* and no more than that: other methods, hosts, folders stay denied */
	struct pc_egress_decision dec;
	policy_egress_decide(p, "crm.example.com", 80, "DELETE", "/api/deals", &dec);
	CHECK(dec.verdict == PC_EGRESS_DENY);
	policy_egress_decide(p, "crm.example.com", 80, "GET", "/admin", &dec);
	CHECK(dec.verdict == PC_EGRESS_DENY);
	policy_egress_decide(p, "crm.example.com", 80, "GET", "/api/users/9/x", &dec);
	CHECK(dec.verdict == PC_EGRESS_ALLOW);
	policy_egress_decide(p, "www.example.com", 443, NULL, NULL, &dec);
	CHECK(dec.verdict == PC_EGRESS_DENY);
	policy_egress_decide(p, "api.example.com", 80, NULL, NULL, &dec);
	CHECK(dec.verdict == PC_EGRESS_DENY);
}

static void test_many_paths(void)
{
	_cleanup_(policy_suggest_freep) struct policy_suggest *s = policy_suggest_new();
	char path[64];
	/* 30 top-level folders: too many to list */
	for (int i = 0; i < 30; i++) {
		snprintf(path, sizeof(path), "/f%02d/x", i);
		struct pc_egress_denial d =
			D("many.example.com", 80, "GET", path, "http", "not-allowed");
		policy_suggest_add(s, &d);
	}
	/* a deep tree: collapses at the deepest folder holding more than 3 */
	for (int i = 0; i < 10; i++) {
		snprintf(path, sizeof(path), "/v1/repos/r%d", i);
		struct pc_egress_denial d =
			D("deep.example.com", 80, "GET", path, "http", "not-allowed");
		policy_suggest_add(s, &d);
	}
	struct pc_egress_denial one =
		D("deep.example.com", 80, "GET", "/v1/user", "http", "not-allowed");
	policy_suggest_add(s, &one);
	/* a folder with many subfolders of one path each collapses itself */
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "/docs/s%d/index.html", i);
		struct pc_egress_denial d =
			D("wide.example.com", 80, "GET", path, "http", "not-allowed");
		policy_suggest_add(s, &d);
	}
	_cleanup_buf_ struct pc_buf out = {0};
	policy_suggest_emit(s, &out);
	check_shape(out.data);
	CHECK_CONTAINS(out.data, "        paths: [\"/v1/repos/**\", /v1/user]\n");
	CHECK_CONTAINS(out.data, "        paths: [\"/docs/**\"]\n");
	CHECK_CONTAINS(out.data,
		       "      - host: many.example.com  # 30 denied plain HTTP requests "
		       "on 30 paths\n        ports: [80]\n        methods: [GET]\n"
		       "        # paths left out: 30 folders seen; name the ones the agent "
		       "needs\n");
	_cleanup_policy_ struct policy *p = with_allow(out.data);
	struct pc_egress_decision dec;
	if (p) {
		policy_egress_decide(p, "many.example.com", 80, "GET", "/f07/x", &dec);
		CHECK(dec.verdict == PC_EGRESS_ALLOW);
		policy_egress_decide(p, "deep.example.com", 80, "GET", "/v1/users", &dec);
		CHECK(dec.verdict == PC_EGRESS_DENY);
	}
}

static void test_not_fixable(void)
{
	_cleanup_(policy_suggest_freep) struct policy_suggest *s = policy_suggest_new();
	struct pc_egress_denial v[] = {
		D("gist.github.com", 443, NULL, NULL, "connect", "deny-rule"),
		D("gist.github.com", 443, NULL, NULL, "connect", "deny-rule"),
		D("metadata.internal", 80, "GET", "/latest", "http", "private-address"),
		D("x.example.com", 80, NULL, NULL, "http", "bad-request"),
		D("down.example.com", 443, NULL, NULL, "connect", "upstream"),
		D("odd.example.com", 443, NULL, NULL, "connect", "gremlins\x1b[2J"),
		D("nowhy.example.com", 443, NULL, NULL, "connect", NULL),
		/* what an agent might send to get lines into a reviewer's policy */
		D("a.com\n      - host: evil.com", 443, NULL, NULL, "connect", "not-allowed"),
		D("Upper.Example.com", 443, NULL, NULL, "connect", "not-allowed"),
		D("*.example.com", 443, NULL, NULL, "connect", "not-allowed"),
		D("noport.example.com", 0, NULL, NULL, "connect", "not-allowed"),
		D(NULL, 443, NULL, NULL, "connect", "not-allowed"),
		D("p.example.com", 80, "GET", "/a/../etc/passwd", "http", "not-allowed"),
		D("p.example.com", 80, "GET", "/**", "http", "not-allowed"),
		D("p.example.com", 80, "GET", "/a\"]\n      - host: evil.com", "http",
		  "not-allowed"),
		D("p.example.com", 80, "GET", "/caf\xc3\xa9", "http", "not-allowed"),
	};
	v[0].reason = "egress denied: host gist.github.com port 443 matches deny rule "
		      "/x/p.yaml:25";
	v[7].reason = "egress denied: \x1b]0;pwned\x07 host";
	for (size_t i = 0; i < PC_ARRAY_SIZE(v); i++)
		policy_suggest_add(s, &v[i]);
	size_t fix = 99;
	CHECK(policy_suggest_count(s, &fix) == PC_ARRAY_SIZE(v));
	CHECK(fix == 0);
	_cleanup_buf_ struct pc_buf out = {0};
	policy_suggest_emit(s, &out);
	check_shape(out.data);
	CHECK(!strstr(out.data, "\n      "));
	CHECK_CONTAINS(out.data, "# Not fixable by an allow entry (16 denials):\n");
	CHECK_CONTAINS(out.data, "#   gist.github.com port 443, 2 times: a deny rule blocks it; "
				 "an allow entry cannot override it\n#     egress denied: host "
				 "gist.github.com port 443 matches deny rule /x/p.yaml:25\n");
	CHECK_CONTAINS(out.data, "#   metadata.internal port 80, 1 time: a private address");
	CHECK_CONTAINS(out.data, "#   x.example.com port 80, 1 time: a malformed request");
	CHECK_CONTAINS(out.data, "#   down.example.com port 443, 1 time: the upstream failed");
	CHECK_CONTAINS(out.data, "odd.example.com port 443, 1 time: denied (gremlins\\x1b[2J)");
	CHECK_CONTAINS(out.data, "nowhy.example.com port 443, 1 time: denied (unknown)");
	CHECK_CONTAINS(out.data, "#   a.com\\x0a      - host: evil.com port 443, 1 time: not a "
				 "host name");
	CHECK_CONTAINS(out.data, "#     egress denied: \\x1b]0;pwned\\x07 host\n");
	CHECK_CONTAINS(out.data, "#   Upper.Example.com port 443");
	CHECK_CONTAINS(out.data, "#   (no host) port 443");
	CHECK_CONTAINS(out.data, "#   noport.example.com, 1 time: not a host name");
	CHECK_CONTAINS(out.data, "#   p.example.com port 80, 4 times: its path cannot be matched");
	_cleanup_policy_ struct policy *p = with_allow(out.data);
	CHECK(p && p->net.n_allow == 0);
}

static void test_many_notes(void)
{
	_cleanup_(policy_suggest_freep) struct policy_suggest *s = policy_suggest_new();
	char host[64];
	for (int i = 0; i < 60; i++) {
		snprintf(host, sizeof(host), "h%d.internal", i);
		struct pc_egress_denial d = D(host, 80, NULL, NULL, "connect", "private-address");
		policy_suggest_add(s, &d);
		policy_suggest_add(s, &d);
	}
	_cleanup_buf_ struct pc_buf out = {0};
	policy_suggest_emit(s, &out);
	check_shape(out.data);
	CHECK_CONTAINS(out.data, "#   h49.internal port 80, 2 times:");
	CHECK(!strstr(out.data, "h50.internal"));
	CHECK_CONTAINS(out.data, "#   ... and 20 more denials of 10 other hosts and ports");
}

static void test_empty(void)
{
	_cleanup_(policy_suggest_freep) struct policy_suggest *s = policy_suggest_new();
	size_t fix = 99;
	CHECK(policy_suggest_count(s, &fix) == 0 && fix == 0);
	_cleanup_buf_ struct pc_buf out = {0};
	policy_suggest_emit(s, &out);
	CHECK(out.len == 0);
}

int main(void)
{
	setenv("HOME", "/nonexistent-home", 1);
	test_entries();
	test_many_paths();
	test_not_fixable();
	test_many_notes();
	test_empty();
	CHECK_DONE();
}
