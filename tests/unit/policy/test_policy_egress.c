/* policy: the egress decision (every branch of policy_egress_decide), the
 * allow_private key and policy_private_allowed, deny rules without ports,
 * and IP literal hosts in rules. */
#include "policy/policy.h"
#include "../check.h"

#include <arpa/inet.h>

static struct policy *load(const char *text)
{
	struct policy *p = NULL;
	struct pc_error err = {0};
	int r = policy_load_string(text, strlen(text), "/x/policy.yaml", &p, &err);
	if (r < 0)
		fprintf(stderr, "unexpected error: %s\n", err.msg);
	CHECK(r == 0);
	return p;
}

static const char *load_error(const char *text, char *msg, size_t n)
{
	struct policy *p = NULL;
	struct pc_error err = {0};
	int r = policy_load_string(text, strlen(text), "/x/bad.yaml", &p, &err);
	if (r == 0) {
		fprintf(stderr, "accepted: %s", text);
		policy_free(p);
	}
	CHECK(r == -EINVAL);
	snprintf(msg, n, "%s", err.msg);
	return msg;
}

/* Line numbers matter: reasons name them. */
static const char rules[] = "version: 1\n"			    /* 1 */
			    "network:\n"			    /* 2 */
			    "  egress:\n"			    /* 3 */
			    "    allow:\n"			    /* 4 */
			    "      - host: api.example.com\n"	    /* 5 */
			    "        ports: [443]\n"		    /* 6 */
			    "      - host: \"*.github.com\"\n"	    /* 7 */
			    "      - host: crm.example.com\n"	    /* 8 */
			    "        methods: [GET]\n"		    /* 9 */
			    "        paths: [\"/api/**\"]\n"	    /* 10 */
			    "      - host: crm.example.com\n"	    /* 11 */
			    "        ports: [8443]\n"		    /* 12 */
			    "      - host: docs.example.com\n"	    /* 13 */
			    "        methods: [GET]\n"		    /* 14 */
			    "      - host: docs.example.com\n"	    /* 15 */
			    "        ports: [443]\n"		    /* 16 */
			    "      - host: 10.0.0.7\n"		    /* 17 */
			    "        ports: [80]\n"		    /* 18 */
			    "      - host: \"[fd00:0::1]\"\n"	    /* 19 */
			    "      - host: soft.example.com\n"	    /* 20 */
			    "        paths: [\"/v1/*\"]\n"	    /* 21 */
			    "        enforcement: audit\n"	    /* 22 */
			    "      - host: gist.github.com\n"	    /* 23 */
			    "    deny:\n"			    /* 24 */
			    "      - host: gist.github.com\n"	    /* 25 */
			    "      - host: api.github.com\n"	    /* 26 */
			    "        methods: [DELETE]\n"	    /* 27 */
			    "        paths: [\"/repos/**\"]\n"	    /* 28 */
			    "      - host: raw.github.com\n"	    /* 29 */
			    "        ports: [80]\n"		    /* 30 */
			    "      - host: \"*.evil.github.com\"\n" /* 31 */
			    "        enforcement: audit\n"	    /* 32 */
			    "      - host: 10.0.0.9\n";		    /* 33 */

static struct pc_egress_decision decide(const struct policy *p, const char *host, uint16_t port,
					const char *method, const char *path)
{
	struct pc_egress_decision d;
	memset(&d, 0x5a, sizeof(d)); /* the call must fill every field */
	policy_egress_decide(p, host, port, method, path, &d);
	return d;
}

#define ALLOWED(d, ln)                                                                             \
	do {                                                                                       \
		CHECK((d).verdict == PC_EGRESS_ALLOW);                                             \
		CHECK(!(d).by_deny_rule);                                                          \
		CHECK((d).rule && (d).rule->at.line == (ln));                                      \
		CHECK_STR((d).rule_at, "/x/policy.yaml:" #ln);                                     \
		CHECK_CONTAINS((d).reason, "egress allowed: ");                                    \
	} while (0)

#define DENIED_NO_RULE(d)                                                                          \
	do {                                                                                       \
		CHECK((d).verdict == PC_EGRESS_DENY);                                              \
		CHECK((d).rule == NULL && !(d).by_deny_rule);                                      \
		CHECK_STR((d).rule_at, "no rule allows it");                                       \
		CHECK_CONTAINS((d).reason, "egress denied: host ");                                \
	} while (0)

static void test_hosts(void)
{
	_cleanup_policy_ struct policy *p = load(rules);
	if (!p)
		return;
	struct pc_egress_decision d;

	/* exact, any case, one trailing dot */
	d = decide(p, "api.example.com", 443, NULL, NULL);
	ALLOWED(d, 5);
	CHECK_STR(d.reason, "egress allowed: host api.example.com port 443 by /x/policy.yaml:5");
	d = decide(p, "API.Example.COM.", 443, NULL, NULL);
	ALLOWED(d, 5);
	d = decide(p, "api.example.com..", 443, NULL, NULL);
	DENIED_NO_RULE(d);
	d = decide(p, "xapi.example.com", 443, NULL, NULL);
	DENIED_NO_RULE(d);
	d = decide(p, "api.example.co", 443, NULL, NULL);
	DENIED_NO_RULE(d);

	/* wildcard: subdomains at any depth, not the domain, not a suffix */
	ALLOWED(decide(p, "codeload.github.com", 443, NULL, NULL), 7);
	ALLOWED(decide(p, "a.b.github.com", 80, NULL, NULL), 7);
	ALLOWED(decide(p, "A.GitHub.com.", 80, NULL, NULL), 7);
	DENIED_NO_RULE(decide(p, "github.com", 443, NULL, NULL));
	DENIED_NO_RULE(decide(p, "badgithub.com", 443, NULL, NULL));
	DENIED_NO_RULE(decide(p, ".github.com", 443, NULL, NULL));
	DENIED_NO_RULE(decide(p, "github.com.evil.net", 443, NULL, NULL));

	/* IP literals: compared as addresses */
	ALLOWED(decide(p, "10.0.0.7", 80, NULL, NULL), 17);
	ALLOWED(decide(p, "fd00::1", 443, NULL, NULL), 19);
	ALLOWED(decide(p, "[FD00:0:0::1]", 443, NULL, NULL), 19);
	ALLOWED(decide(p, "fd00:0000::0001", 80, NULL, NULL), 19);
	DENIED_NO_RULE(decide(p, "fd00::2", 443, NULL, NULL));
	DENIED_NO_RULE(decide(p, "10.0.0.70", 80, NULL, NULL));
	/* a wildcard never matches an address */
	_cleanup_policy_ struct policy *w = load("version: 1\nnetwork:\n  egress:\n    allow:\n"
						 "      - host: \"*.0.0.1\"\n");
	if (w)
		DENIED_NO_RULE(decide(w, "127.0.0.1", 443, NULL, NULL));

	/* empty, missing, absurdly long */
	DENIED_NO_RULE(decide(p, "", 443, NULL, NULL));
	DENIED_NO_RULE(decide(p, NULL, 443, NULL, NULL));
	char longhost[600];
	memset(longhost, 'a', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	d = decide(p, longhost, 443, NULL, NULL);
	DENIED_NO_RULE(d);
	CHECK(strlen(d.reason) < sizeof(d.reason));
}

static void test_ports(void)
{
	_cleanup_policy_ struct policy *p = load(rules);
	if (!p)
		return;
	/* allow rules default to 80 and 443 */
	ALLOWED(decide(p, "x.github.com", 443, NULL, NULL), 7);
	ALLOWED(decide(p, "x.github.com", 80, NULL, NULL), 7);
	struct pc_egress_decision d = decide(p, "x.github.com", 8080, NULL, NULL);
	DENIED_NO_RULE(d);
	CHECK_STR(d.reason, "egress denied: host x.github.com port 8080 not in allowlist: "
			    "/x/policy.yaml:7 allows it on ports 80, 443 only");
	d = decide(p, "api.example.com", 80, NULL, NULL);
	DENIED_NO_RULE(d);
	CHECK_CONTAINS(d.reason, "/x/policy.yaml:5 allows it on port 443 only");
	/* a later rule for another port of the same host */
	ALLOWED(decide(p, "crm.example.com", 8443, NULL, NULL), 11);
}

static void test_deny_rules(void)
{
	_cleanup_policy_ struct policy *p = load(rules);
	if (!p)
		return;
	struct pc_egress_decision d;

	/* a deny rule wins over an allow rule (gist.github.com is allowed by
	 * line 7 and line 23) and, without ports, covers every port */
	for (unsigned port = 1; port < 65536; port += 997) {
		d = decide(p, "gist.github.com", (uint16_t)port, NULL, NULL);
		CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
		CHECK(d.rule == &p->net.deny[0]);
	}
	d = decide(p, "gist.github.com", 443, "GET", "/");
	CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
	CHECK_STR(d.rule_at, "/x/policy.yaml:25");
	CHECK_STR(d.reason, "egress denied: GET / on gist.github.com port 443 matches deny rule "
			    "/x/policy.yaml:25");
	CHECK(p->net.deny[0].n_ports == 0 && p->net.deny[0].ports == NULL);

	/* a deny rule with ports covers only those */
	d = decide(p, "raw.github.com", 80, NULL, NULL);
	CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
	ALLOWED(decide(p, "raw.github.com", 443, NULL, NULL), 7);

	/* methods and paths: a known request must match them */
	d = decide(p, "api.github.com", 80, "DELETE", "/repos/a/b");
	CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
	CHECK_STR(d.rule_at, "/x/policy.yaml:26");
	ALLOWED(decide(p, "api.github.com", 80, "GET", "/repos/a/b"), 7);
	ALLOWED(decide(p, "api.github.com", 80, "DELETE", "/user"), 7);
	d = decide(p, "api.github.com", 80, "DELETE", "/repos/a?x=1");
	CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
	/* a tunnel could carry the denied request: it is denied whole */
	d = decide(p, "api.github.com", 443, NULL, NULL);
	CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
	CHECK_STR(d.reason, "egress denied: host api.github.com port 443 matches deny rule "
			    "/x/policy.yaml:26, which denies DELETE on /repos/**: a tunnel "
			    "could carry them and its requests cannot be seen");
	/* a path the server could read as /repos/... is denied too */
	d = decide(p, "api.github.com", 80, "DELETE", "/x/../repos/a");
	CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
	CHECK_CONTAINS(d.reason, "dot segments");
	d = decide(p, "api.github.com", 80, "DELETE", "/%72epos/a");
	CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
	d = decide(p, "api.github.com", 80, "DELETE", "//repos/a");
	CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
	/* a deny rule folds case: a server may read "delete" or /REPOS as its own */
	d = decide(p, "api.github.com", 80, "delete", "/repos/a");
	CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
	d = decide(p, "api.github.com", 80, "DELETE", "/RePos/a");
	CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
	/* and a method override: POST read as DELETE */
	char *const del[] = {"Delete", NULL}, *const put[] = {"PUT", NULL},
		    *const any[] = {"*", NULL};
	policy_egress_decide_req(p, "api.github.com", 80, "POST", del, "/repos/a", &d);
	CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
	CHECK_STR(d.reason, "egress denied: POST /repos/a on api.github.com port 80 matches "
			    "deny rule /x/policy.yaml:26 (by the method override it carries)");
	policy_egress_decide_req(p, "api.github.com", 80, "POST", any, "/repos/a", &d);
	CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
	policy_egress_decide_req(p, "api.github.com", 80, "POST", put, "/repos/a", &d);
	ALLOWED(d, 7);
	policy_egress_decide_req(p, "api.github.com", 80, "POST", del, "/user", &d);
	ALLOWED(d, 7);

	/* wildcard deny under audit: let through, recorded as would-deny */
	d = decide(p, "x.evil.github.com", 443, NULL, NULL);
	CHECK(d.verdict == PC_EGRESS_WOULD_DENY && d.by_deny_rule);
	CHECK_STR(d.rule_at, "/x/policy.yaml:31");
	CHECK(strncmp(d.reason, "would deny: ", 12) == 0);
	CHECK_CONTAINS(d.reason, "matches deny rule /x/policy.yaml:31");

	/* IPv4 in any spelling the resolver accepts meets the deny rule */
	const char *spellings[] = {"10.0.0.9",	    "10.9",	 "0x0a.0.0.9",
				   "012.0.0.9",	    "167772169", "::ffff:10.0.0.9",
				   "[::ffff:a00:9]"};
	for (size_t i = 0; i < PC_ARRAY_SIZE(spellings); i++) {
		d = decide(p, spellings[i], 80, NULL, NULL);
		if (!d.by_deny_rule)
			fprintf(stderr, "not denied: %s (%s)\n", spellings[i], d.reason);
		CHECK(d.verdict == PC_EGRESS_DENY && d.by_deny_rule);
		CHECK_CONTAINS(d.reason, "host 10.0.0.9 port 80");
	}
}

static void test_allow_methods_paths(void)
{
	_cleanup_policy_ struct policy *p = load(rules);
	if (!p)
		return;
	struct pc_egress_decision d;
	ALLOWED(decide(p, "crm.example.com", 80, "GET", "/api/deals/1"), 8);
	ALLOWED(decide(p, "crm.example.com", 443, "GET", "/api"), 8);
	ALLOWED(decide(p, "crm.example.com", 80, "GET", "/api/x?q=/etc/../passwd"), 8);

	d = decide(p, "crm.example.com", 80, "POST", "/api/deals");
	CHECK(d.verdict == PC_EGRESS_DENY && !d.by_deny_rule);
	CHECK(d.rule == &p->net.allow[2]);
	CHECK_STR(d.rule_at, "/x/policy.yaml:8");
	CHECK_STR(d.reason, "egress denied: POST /api/deals on crm.example.com port 80: "
			    "/x/policy.yaml:8 allows only GET on /api/** for crm.example.com");
	d = decide(p, "crm.example.com", 80, "GET", "/admin");
	CHECK(d.verdict == PC_EGRESS_DENY && d.rule == &p->net.allow[2]);
	d = decide(p, "crm.example.com", 80, "get", "/api/x");
	CHECK(d.verdict == PC_EGRESS_DENY); /* allow rules: methods case-sensitive */
	d = decide(p, "crm.example.com", 80, "GET", "/API/x");
	CHECK(d.verdict == PC_EGRESS_DENY); /* and paths: folding would widen them */
	/* an override never widens an allow rule */
	char *const get[] = {"GET", NULL};
	policy_egress_decide_req(p, "crm.example.com", 80, "POST", get, "/api/x", &d);
	CHECK(d.verdict == PC_EGRESS_DENY && !d.by_deny_rule);
	d = decide(p, "crm.example.com", 80, "GET", "/api/../admin");
	CHECK(d.verdict == PC_EGRESS_DENY && d.rule == &p->net.allow[2]);
	CHECK_CONTAINS(d.reason, "dot segments");
	const char *ambiguous[] = {
		"/api/./x", "/api/%2e%2e/admin", "/api/x%2fy", "/api;x/y", "/api\\x",
		"/api/%",   "/api/%zz",		 "api/x",      "",	   "/api//x",
		"/api/%41"};
	for (size_t i = 0; i < PC_ARRAY_SIZE(ambiguous); i++) {
		d = decide(p, "crm.example.com", 80, "GET", ambiguous[i]);
		if (d.verdict != PC_EGRESS_DENY)
			fprintf(stderr, "allowed: %s\n", ambiguous[i]);
		CHECK(d.verdict == PC_EGRESS_DENY);
	}
	ALLOWED(decide(p, "crm.example.com", 80, "GET", "/api/a%20b/"), 8);
	ALLOWED(decide(p, "crm.example.com", 80, "GET", "/api/x.json"), 8);
	ALLOWED(decide(p, "crm.example.com", 80, "GET", "/api/...x"), 8);

	/* a tunnel cannot show its method and path */
	d = decide(p, "crm.example.com", 443, NULL, NULL);
	CHECK(d.verdict == PC_EGRESS_DENY && !d.by_deny_rule);
	CHECK_STR(d.reason, "egress denied: host crm.example.com port 443: /x/policy.yaml:8 "
			    "allows only GET on /api/** for crm.example.com, which cannot be "
			    "checked inside an encrypted tunnel (TLS interception comes with "
			    "credentials)");

	/* methods only; a later rule for the same host without restrictions */
	ALLOWED(decide(p, "docs.example.com", 80, "GET", "/x"), 13);
	d = decide(p, "docs.example.com", 80, "POST", "/x");
	CHECK(d.verdict == PC_EGRESS_DENY && d.rule == &p->net.allow[4]);
	ALLOWED(decide(p, "docs.example.com", 443, "POST", "/x"), 15);
	ALLOWED(decide(p, "docs.example.com", 443, NULL, NULL), 15);
	d = decide(p, "docs.example.com", 80, NULL, NULL);
	CHECK(d.verdict == PC_EGRESS_DENY && d.rule == &p->net.allow[4]);
	CHECK_STR(d.reason, "egress denied: host docs.example.com port 80: /x/policy.yaml:13 "
			    "allows only GET for docs.example.com, which cannot be checked inside "
			    "an encrypted tunnel (TLS interception comes with credentials)");

	/* paths only, under audit: would deny, and says which rule */
	ALLOWED(decide(p, "soft.example.com", 80, "PUT", "/v1/x"), 20);
	d = decide(p, "soft.example.com", 80, "PUT", "/v2/x");
	CHECK(d.verdict == PC_EGRESS_WOULD_DENY && d.rule == &p->net.allow[8]);
	CHECK_STR(d.reason, "would deny: PUT /v2/x on soft.example.com port 80: "
			    "/x/policy.yaml:20 allows only requests on /v1/* for "
			    "soft.example.com");
}

static void test_enforcement(void)
{
	_cleanup_policy_ struct policy *p =
		load("version: 1\nnetwork:\n  egress:\n    enforcement: audit\n    allow:\n"
		     "      - host: a.example.com\n        methods: [GET]\n"
		     "      - host: b.example.com\n        methods: [GET]\n"
		     "        enforcement: enforce\n"
		     "    deny:\n      - host: c.example.com\n"
		     "      - host: d.example.com\n        enforcement: enforce\n");
	if (!p)
		return;
	struct pc_egress_decision d = decide(p, "evil.example", 443, NULL, NULL);
	CHECK(d.verdict == PC_EGRESS_WOULD_DENY && d.rule == NULL);
	CHECK_STR(d.rule_at, "no rule allows it");
	CHECK_STR(d.reason, "would deny: host evil.example port 443 not in allowlist (policy "
			    "/x/policy.yaml)");
	/* the rules inherit the policy's enforcement unless they say */
	CHECK(decide(p, "a.example.com", 80, "POST", "/").verdict == PC_EGRESS_WOULD_DENY);
	CHECK(decide(p, "b.example.com", 80, "POST", "/").verdict == PC_EGRESS_DENY);
	CHECK(decide(p, "c.example.com", 80, NULL, NULL).verdict == PC_EGRESS_WOULD_DENY);
	CHECK(decide(p, "d.example.com", 80, NULL, NULL).verdict == PC_EGRESS_DENY);
	CHECK(decide(p, "a.example.com", 80, "GET", "/").verdict == PC_EGRESS_ALLOW);

	/* enforce (the default): no rule is a denial */
	_cleanup_policy_ struct policy *e = load("version: 1\n");
	if (e) {
		d = decide(e, "evil.example", 443, NULL, NULL);
		DENIED_NO_RULE(d);
		CHECK_STR(d.reason, "egress denied: host evil.example port 443 not in allowlist "
				    "(policy /x/policy.yaml)");
	}
}

static void test_reason_is_one_clean_line(void)
{
	_cleanup_policy_ struct policy *p = load(rules);
	if (!p)
		return;
	char path[2000] = "/api/";
	memset(path + 5, 'x', sizeof(path) - 6);
	path[sizeof(path) - 1] = '\0';
	const char *methods[] = {"POST", "GET\r\nX-Evil: 1", NULL};
	for (size_t i = 0; i < PC_ARRAY_SIZE(methods); i++) {
		struct pc_egress_decision d =
			decide(p, "crm.example.com", 80, methods[i], methods[i] ? path : NULL);
		CHECK(d.verdict == PC_EGRESS_DENY);
		CHECK(strlen(d.reason) < sizeof(d.reason));
		for (const char *q = d.reason; *q; q++)
			CHECK((unsigned char)*q >= 0x20 && (unsigned char)*q < 0x7f);
	}
	struct pc_egress_decision d = decide(p, "a\x1b[31m.example", 443, NULL, NULL);
	CHECK(strchr(d.reason, '\x1b') == NULL);
}

static bool admitted(const struct policy *p, const char *addr)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else
		CHECK(!"a test address");
	return policy_private_allowed(p, (struct sockaddr *)&ss);
}

static void test_allow_private(void)
{
	_cleanup_policy_ struct policy *p =
		load("version: 1\nnetwork:\n  egress:\n    allow_private:\n"
		     "      - 127.0.0.1\n      - 10.1.0.0/16\n      - \"::1\"\n"
		     "      - fd00::/8\n      - 192.168.1.128/25\n");
	if (!p)
		return;
	CHECK(p->net.n_allow_private == 5);
	CHECK(p->net.allow_private[0].family == AF_INET && p->net.allow_private[0].prefix == 32);
	CHECK_STR(p->net.allow_private[0].spec, "127.0.0.1");
	CHECK(p->net.allow_private[1].at.line == 6);
	CHECK(p->net.allow_private[2].family == AF_INET6 && p->net.allow_private[2].prefix == 128);
	CHECK(admitted(p, "127.0.0.1"));
	CHECK(!admitted(p, "127.0.0.2"));
	CHECK(admitted(p, "::ffff:127.0.0.1")); /* mapped: the same address */
	CHECK(admitted(p, "10.1.0.0") && admitted(p, "10.1.255.255"));
	CHECK(!admitted(p, "10.2.0.1") && !admitted(p, "10.0.255.255"));
	CHECK(admitted(p, "::1") && !admitted(p, "::2"));
	CHECK(admitted(p, "fd12:3456::1") && admitted(p, "fdff::") && !admitted(p, "fe00::1"));
	CHECK(admitted(p, "192.168.1.128") && admitted(p, "192.168.1.255"));
	CHECK(!admitted(p, "192.168.1.127"));
	CHECK(!admitted(p, "169.254.169.254"));
	struct sockaddr su = {.sa_family = AF_UNIX};
	CHECK(!policy_private_allowed(p, &su));
	CHECK(!policy_private_allowed(p, NULL));

	/* nothing listed: nothing admitted */
	_cleanup_policy_ struct policy *none = load("version: 1\n");
	if (none) {
		CHECK(none->net.n_allow_private == 0);
		CHECK(!admitted(none, "127.0.0.1"));
	}

	/* emitted and read back */
	_cleanup_buf_ struct pc_buf out = {0};
	policy_emit_yaml(p, &out);
	CHECK_CONTAINS(out.data, "    allow_private:\n      - 127.0.0.1/32  # 127.0.0.1\n"
				 "      - 10.1.0.0/16\n      - \"::1/128\"  # ::1\n"
				 "      - \"fd00::/8\"\n      - 192.168.1.128/25\n");
	struct policy *q = NULL;
	struct pc_error err = {0};
	CHECK(policy_load_string(out.data, out.len, "/x/again.yaml", &q, &err) == 0);
	if (q) {
		CHECK(q->net.n_allow_private == 5);
		for (size_t i = 0; i < 5 && i < q->net.n_allow_private; i++)
			CHECK(q->net.allow_private[i].prefix == p->net.allow_private[i].prefix &&
			      memcmp(q->net.allow_private[i].addr, p->net.allow_private[i].addr,
				     16) == 0);
		policy_free(q);
	}
}

static void test_allow_private_errors(void)
{
	static const struct {
		const char *item, *want;
	} bad[] = {
		{"10.1.2.3/16",
		 "5:9: network.egress.allow_private[0]: 10.1.2.3/16 has host bits set: did you "
		 "mean 10.1.0.0/16?"},
		{"\"fd00::1/8\"", "has host bits set: did you mean fd00::/8?"},
		{"10.0.0.0/33", "'10.0.0.0/33': the prefix length is a number 1-32"},
		{"\"::/129\"", "the prefix length is a number 1-128"},
		{"10.0.0.0/", "the prefix length"},
		{"10.0.0.0/08", "the prefix length"},
		{"10.0.0.0/-1", "the prefix length"},
		{"0.0.0.0/0", "would admit every address (set deny_private: false"},
		{"localhost", "'localhost' is not an IP address or network"},
		{"10.1", "'10.1' is not an IP address"},
		{"010.0.0.1", "is not an IP address"},
		{"\"[::1]\"", "is not an IP address"},
		{"\"::ffff:127.0.0.1\"", "IPv4-mapped address: write it as IPv4"},
		{"[a]", "expected a value, got a list"},
	};
	char text[512], msg[1024];
	for (size_t i = 0; i < PC_ARRAY_SIZE(bad); i++) {
		snprintf(text, sizeof(text),
			 "version: 1\nnetwork:\n  egress:\n    allow_private:\n      - %s\n",
			 bad[i].item);
		load_error(text, msg, sizeof(msg));
		if (!strstr(msg, bad[i].want))
			fprintf(stderr, "case %zu: got %s\n", i, msg);
		CHECK_CONTAINS(msg, bad[i].want);
		CHECK_CONTAINS(msg, "network.egress.allow_private[0]");
		CHECK_CONTAINS(msg, "a list of addresses or networks");
	}
	load_error("version: 1\nnetwork:\n  egress:\n    allow_private: [127.0.0.1, "
		   "127.0.0.1/32]\n",
		   msg, sizeof(msg));
	CHECK_CONTAINS(msg, "/x/bad.yaml:4:32: network.egress.allow_private[1]: "
			    "127.0.0.1/32 is already listed at line 4");
	load_error("version: 1\nnetwork:\n  egress:\n    allow_private: 127.0.0.1\n", msg,
		   sizeof(msg));
	CHECK_CONTAINS(msg, "network.egress.allow_private: expected a list");
	/* unknown keys name the new one among the accepted */
	load_error("version: 1\nnetwork:\n  egress:\n    allow_privat: []\n", msg, sizeof(msg));
	CHECK_CONTAINS(msg, "allow_private");
}

static void test_rule_hosts_and_ports(void)
{
	_cleanup_policy_ struct policy *p =
		load("version: 1\nnetwork:\n  egress:\n    allow:\n"
		     "      - host: \"FD00:0::1\"\n"
		     "      - host: 10.0.0.1\n"
		     "    deny:\n      - host: a.example.com\n"
		     "      - host: b.example.com\n        ports: [22]\n");
	if (!p)
		return;
	CHECK_STR(p->net.allow[0].host, "fd00::1");
	CHECK_STR(p->net.allow[1].host, "10.0.0.1");
	CHECK(p->net.allow[0].n_ports == 2 && p->net.allow[0].ports[1] == 443);
	CHECK(p->net.deny[0].n_ports == 0 && p->net.deny[0].ports == NULL);
	CHECK(p->net.deny[1].n_ports == 1 && p->net.deny[1].ports[0] == 22);
	_cleanup_buf_ struct pc_buf out = {0};
	policy_emit_yaml(p, &out);
	CHECK_CONTAINS(out.data, "    deny:\n      - host: a.example.com\n"
				 "        enforcement: enforce\n"
				 "      - host: b.example.com\n        ports: [22]\n");
	CHECK_CONTAINS(out.data, "      - host: \"fd00::1\"\n        ports: [80, 443]\n");
	struct policy *q = NULL;
	struct pc_error err = {0};
	CHECK(policy_load_string(out.data, out.len, "/x/again.yaml", &q, &err) == 0);
	if (q) {
		CHECK(q->net.deny[0].n_ports == 0 && q->net.deny[0].ports == NULL);
		CHECK(q->net.deny[1].n_ports == 1);
		CHECK_STR(q->net.allow[0].host, "fd00::1");
		policy_free(q);
	}

	char msg[1024];
	load_error("version: 1\nnetwork:\n  egress:\n    deny:\n      - host: a.example.com\n"
		   "        ports: []\n",
		   msg, sizeof(msg));
	CHECK_CONTAINS(msg, "network.egress.deny[0].ports: an empty list would deny no port");
	CHECK_CONTAINS(msg, "leave ports out for any port");
	load_error("version: 1\nnetwork:\n  egress:\n    allow:\n      - host: a.example.com\n"
		   "        ports: []\n",
		   msg, sizeof(msg));
	CHECK_CONTAINS(msg, "an empty list would allow no port");
	CHECK_CONTAINS(msg, "leave ports out for 80 and 443");
	const char *hosts[] = {"127.1", "010.0.0.1", "0x7f.0.0.1", "2130706433"};
	for (size_t i = 0; i < PC_ARRAY_SIZE(hosts); i++) {
		char text[256];
		snprintf(text, sizeof(text),
			 "version: 1\nnetwork:\n  egress:\n    allow:\n      - host: \"%s\"\n",
			 hosts[i]);
		load_error(text, msg, sizeof(msg));
		CHECK_CONTAINS(msg, "network.egress.allow[0].host");
		CHECK_CONTAINS(msg, "four decimal numbers");
	}
	load_error("version: 1\nnetwork:\n  egress:\n    allow:\n      - host: \"[::1]:80\"\n", msg,
		   sizeof(msg));
	CHECK_CONTAINS(msg, "network.egress.allow[0].host");
}

int main(void)
{
	setenv("HOME", "/nonexistent-home", 1);
	test_hosts();
	test_ports();
	test_deny_rules();
	test_allow_methods_paths();
	test_enforcement();
	test_reason_is_one_clean_line();
	test_allow_private();
	test_allow_private_errors();
	test_rule_hosts_and_ports();
	CHECK_DONE();
}
