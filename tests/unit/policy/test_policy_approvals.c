/* policy: approval rules (issue 7): match.json parsed with clear errors and
 * written back as it reads; which rule a request meets; the JSON body
 * match, including what a lenient server might read (the safe side). */
#include "policy/policy.h"
#include "../check.h"

#include <stdlib.h>

static struct policy *load(const char *text, struct pc_error *err)
{
	struct policy *p = NULL;
	if (policy_load_string(text, strlen(text), "t.yaml", &p, err) < 0)
		return NULL;
	return p;
}

#define HEAD "version: 1\napprovals:\n  - approvers: [bob]\n    match:\n      host: crm.test\n"

static void test_errors(void)
{
	static const struct {
		const char *json, *want;
	} bad[] = {
		{"[a]", "approvals[0].match.json: expected a mapping of keys, got a list"},
		{"{value: 1}", "approvals[0].match.json.path: missing"},
		{"{path: a}", "approvals[0].match.json.value: missing"},
		{"{path: a, value: 1, op: eq}", "approvals[0].match.json.op: unknown key"},
		{"{path: '', value: 1}", "'' is not a field path: it is empty"},
		{"{path: a..b, value: 1}", "'a..b' is not a field path: a key is empty"},
		{"{path: a., value: 1}", "a key is empty"},
		{"{path: 'a[x]', value: 1}", "an index is a number in brackets"},
		{"{path: 'a[1', value: 1}", "an index is a number in brackets"},
		{"{path: 'a[01]', value: 1}", "without leading zeros"},
		{"{path: 'a]', value: 1}", "a ] without its ["},
		{"{path: 'a[0]b', value: 1}", "after a key or an index comes .key or [index]"},
		{"{path: a, value: [1]}", "approvals[0].match.json.value: expected a scalar"},
		{"{path: a, value: {x: 1}}",
		 "expected a scalar (a string, a number, true, false or "
		 "null), got a mapping"},
		{"{path: a, value: yes}", "'yes' is ambiguous: write true or false"},
		{"{path: a, value: .inf}", "'.inf' is not a JSON number"},
		{"{path: a, value: 0x1f}", "'0x1f' is not a JSON number"},
	};
	for (size_t i = 0; i < PC_ARRAY_SIZE(bad); i++) {
		char text[512];
		snprintf(text, sizeof(text), HEAD "      json: %s\n", bad[i].json);
		struct pc_error err = {0};
		struct policy *p = load(text, &err);
		CHECK(p == NULL);
		CHECK_CONTAINS(err.msg, bad[i].want);
		CHECK_CONTAINS(err.msg, "t.yaml:6:");
		policy_free(p);
	}
}

/* Loaded, written back, loaded again: the same rule. */
static struct policy *roundtrip(const char *json, enum pc_json_kind kind, const char *value)
{
	char text[512];
	snprintf(text, sizeof(text), HEAD "      methods: [POST]\n      json: %s\n", json);
	struct pc_error err = {0};
	struct policy *p = load(text, &err);
	CHECK(p != NULL);
	if (!p) {
		fprintf(stderr, "%s\n", err.msg);
		return NULL;
	}
	CHECK(p->approvals[0].json_kind == kind);
	CHECK_STR(p->approvals[0].json_value, value);
	struct pc_buf y = {0};
	policy_emit_yaml(p, &y);
	pc_buf_append(&y, "", 1);
	struct policy *q = load(y.data, &err);
	CHECK(q != NULL);
	if (q) {
		CHECK(policy_approval_same(&p->approvals[0], &q->approvals[0]));
		policy_free(q);
	}
	pc_buf_free(&y);
	return p;
}

static void test_kinds(void)
{
	struct policy *p;
	p = roundtrip("{path: deal.amount, value: 1000}", PC_JSON_NUMBER, "1000");
	CHECK_STR(p->approvals[0].json_path, "deal.amount");
	policy_free(p);
	policy_free(roundtrip("{path: 'a[0].b', value: -12.5e1}", PC_JSON_NUMBER, "-12.5e1"));
	policy_free(roundtrip("{path: stage, value: won}", PC_JSON_STRING, "won"));
	policy_free(roundtrip("{path: stage, value: '1000'}", PC_JSON_STRING, "1000"));
	policy_free(roundtrip("{path: stage, value: 'true'}", PC_JSON_STRING, "true"));
	policy_free(
		roundtrip("{path: stage, value: \"a \\\"b\\\" c\"}", PC_JSON_STRING, "a \"b\" c"));
	policy_free(roundtrip("{path: live, value: True}", PC_JSON_BOOL, "true"));
	policy_free(roundtrip("{path: live, value: false}", PC_JSON_BOOL, "false"));
	policy_free(roundtrip("{path: owner, value: null}", PC_JSON_NULL, "null"));
	policy_free(roundtrip("{path: '[2]', value: 3}", PC_JSON_NUMBER, "3"));
}

static void test_same(void)
{
	struct pc_error err = {0};
	struct policy *a = load(HEAD "      json: {path: x, value: 1}\n", &err);
	struct policy *b = load(HEAD "      json: {path: x, value: 2}\n", &err);
	struct policy *c = load(HEAD "      json: {path: x, value: '1'}\n", &err);
	struct policy *d = load(HEAD "      json: {path: x, value: 1}\n    count: 1\n", &err);
	struct policy *e = load(HEAD, &err);
	CHECK(a && b && c && d && e);
	if (a && b && c && d && e) {
		CHECK(!policy_approval_same(&a->approvals[0], &b->approvals[0]));
		CHECK(!policy_approval_same(&a->approvals[0], &c->approvals[0]));
		CHECK(policy_approval_same(&a->approvals[0], &d->approvals[0]));
		CHECK(!policy_approval_same(&a->approvals[0], &e->approvals[0]));
	}
	policy_free(a);
	policy_free(b);
	policy_free(c);
	policy_free(d);
	policy_free(e);
}

static int am(const struct policy *p, size_t from, const char *host, const char *method,
	      const char *path)
{
	char *const m[] = {(char *)method, NULL};
	return policy_approval_match(p, from, host, m, path);
}

/* policy_request_methods, joined by ',' */
static char *rm(const char *headers, const char *path, const char *body)
{
	_cleanup_strv_ char **v =
		policy_request_methods("POST", headers, path, body, body ? strlen(body) : 0);
	_cleanup_buf_ struct pc_buf b = {0};
	for (size_t i = 0; v[i]; i++)
		pc_buf_printf(&b, "%s%s", i ? "," : "", v[i]);
	pc_buf_append(&b, "", 1);
	return pc_steal_ptr(&b.data);
}

static void test_overrides(void)
{
	static const struct {
		const char *headers, *path, *body, *want;
	} t[] = {
		{"", "/d", "", "POST"},
		{"accept: */*\n", "/d?x=1", "", "POST"},
		{"x-http-method-override: DELETE\n", "/d", "", "POST,DELETE"},
		{"x-http-method:  put \nx-method-override: a, b\n", "/d", "", "POST,put,a,b"},
		{"", "/d?a=1&_method=delete", "", "POST,delete"},
		{"", "/d?%5FMETHOD=DEL%45TE;_method=+patch+", "", "POST,DELETE,patch"},
		{"content-type: application/x-www-form-urlencoded\n", "/d", "x=1&_method=DELETE",
		 "POST,DELETE"},
		{"content-type: Application/X-WWW-Form-Urlencoded; charset=utf-8\n", "/d",
		 "_method=put", "POST,put"},
		/* a form not read yet: any method */
		{"content-type: application/x-www-form-urlencoded\n", "/d", NULL, "POST,*"},
		{"content-type: multipart/form-data; boundary=b\n", "/d", NULL, "POST,*"},
		{"content-type: multipart/form-data; boundary=b\n", "/d",
		 "--b\r\nContent-Disposition: form-data; name=\"_METHOD\"\r\n\r\nDELETE", "POST,*"},
		{"content-type: multipart/form-data; boundary=b\n", "/d", "--b\r\nx", "POST"},
		/* Laravel reads a JSON body's _method too; JSON without one */
		{"content-type: application/json\n", "/d", "{\"_method\": \"DELETE\"}", "POST,*"},
		{"content-type: application/json\n", "/d", NULL, "POST,*"},
		{"content-type: application/json\n", "/d", "{\"a\": 1}", "POST"},
		/* what a server may read one from that the gate cannot */
		{"content-type: application/x-www-form-urlencoded\n"
		 "content-type: application/x-www-form-urlencoded\n",
		 "/d", "_method=DELETE", "POST,*"},
		{"content-type: application/x-www-form-urlencoded\ncontent-encoding: gzip\n", "/d",
		 "\x1f\x8b", "POST,*"},
		{"content-encoding: identity\n", "/d", "x", "POST"},
		{"content-type: multipart/form-data; boundary=b\n", "/d",
		 "--b\r\nContent-Disposition: form-data; name*=UTF-8''%5Fmethod\r\n\r\nDELETE",
		 "POST,*"},
		/* names servers read as _method (review rev40): PHP's '.' and ' ',
		 * Rack's brackets and backslashes, JSON escapes, Laravel's JSON
		 * types; and names that are not */
		{"", "/d?.method=DELETE", "", "POST,DELETE"},
		{"content-type: application/x-www-form-urlencoded\n", "/d", "a=1&[_method]=PUT",
		 "POST,PUT"},
		{"content-type: application/x-www-form-urlencoded\n", "/d", "_method_x=PUT&method=a",
		 "POST"},
		{"content-type: multipart/form-data; boundary=b\n", "/d",
		 "--b\r\nContent-Disposition: form-data; name=\"_\\method\"\r\n\r\nDELETE", "POST,*"},
		{"content-type: multipart/form-data; boundary=b\n", "/d",
		 "--b\r\ncontent-disposition: form-data; name=.Method\r\n\r\nDELETE", "POST,*"},
		{"content-type: multipart/form-data; boundary=b\n", "/d",
		 "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\".method\"\r\n\r\nx",
		 "POST"},
		{"content-type: application/json\n", "/d", "{\"\\u005fmethod\": \"DELETE\"}", "POST,*"},
		{"content-type: application/json\n", "/d", "{\"_\\u006DETHOD\": 1}", "POST,*"},
		{"content-type: application/json\n", "/d", "{\"a\": \"\\u00e9 method\"}", "POST"},
		{"content-type: text/json\n", "/d", "{\"_method\": \"DELETE\"}", "POST,*"},
		{"content-type: application/json5\n", "/d", NULL, "POST,*"},
		{"content-type: text/plain\n", "/d", "{\"_method\": \"DELETE\"}", "POST"},
	};
	for (size_t i = 0; i < PC_ARRAY_SIZE(t); i++) {
		_cleanup_free_ char *got = rm(t[i].headers, t[i].path, t[i].body);
		if (strcmp(got, t[i].want) != 0)
			fprintf(stderr, "case %zu: %s, want %s\n", i, got, t[i].want);
		CHECK_STR(got, t[i].want);
	}
}

static void test_match(void)
{
	struct pc_error err = {0};
	struct policy *p =
		load("version: 1\napprovals:\n"
		     "  - approvers: [bob]\n"
		     "    match: {host: crm.test, methods: [POST, PUT], paths: [/deals/**]}\n"
		     "  - approvers: [bob]\n"
		     "    match: {host: '*.pay.test'}\n",
		     &err);
	CHECK(p != NULL);
	if (!p) {
		fprintf(stderr, "%s\n", err.msg);
		return;
	}
	CHECK(am(p, 0, "crm.test", "POST", "/deals/7") == 0);
	CHECK(am(p, 0, "CRM.test.", "PUT", "/deals/7?x=1") == 0);
	CHECK(am(p, 0, "crm.test", "GET", "/deals/7") == -1);
	CHECK(am(p, 0, "crm.test", "POST", "/contacts") == -1);
	CHECK(am(p, 1, "crm.test", "POST", "/deals/7") == -1);
	/* a path a server may read as one of the rule's: held */
	CHECK(am(p, 0, "crm.test", "POST", "/x/../deals/7") == 0);
	CHECK(am(p, 0, "crm.test", "POST", "/%64eals/7") == 0);
	CHECK(am(p, 0, "eu.pay.test", "GET", "/") == 1);
	CHECK(am(p, 0, "pay.test", "GET", "/") == -1);
	/* case: methods and paths folded (servers route "post" and /DEALS) */
	CHECK(am(p, 0, "crm.test", "post", "/deals/7") == 0);
	CHECK(am(p, 0, "crm.test", "pUt", "/DEALS/7") == 0);
	CHECK(am(p, 0, "crm.test", "get", "/deals/7") == -1);
	/* a method not known yet (a form body to read): every rule's */
	CHECK(policy_approval_match(p, 0, "crm.test", NULL, "/deals/7") == 0);
	/* an override: the real method or the one it names */
	char *const ov[] = {"GET", "post", NULL}, *const no[] = {"GET", "PATCH", NULL},
		    *const star[] = {"GET", "*", NULL};
	CHECK(policy_approval_match(p, 0, "crm.test", ov, "/deals/7") == 0);
	CHECK(policy_approval_match(p, 0, "crm.test", no, "/deals/7") == -1);
	CHECK(policy_approval_match(p, 0, "crm.test", star, "/deals/7") == 0);
	CHECK(policy_approval_host(p, "a.pay.test"));
	CHECK(policy_approval_host(p, "crm.test"));
	CHECK(!policy_approval_host(p, "other.test"));
	/* their hosts are intercepted, whatever the port */
	CHECK(policy_intercepts(p));
	CHECK(policy_egress_needs_l7(p, "crm.test", 8443));
	CHECK(!policy_egress_needs_l7(p, "other.test", 443));
	policy_free(p);
}

static const char *jm_headers = "content-type: application/json\n";

static bool jm(const char *json, const char *body)
{
	char text[512];
	snprintf(text, sizeof(text), HEAD "      json: %s\n", json);
	struct pc_error err = {0};
	struct policy *p = load(text, &err);
	if (!p) {
		fprintf(stderr, "%s\n", err.msg);
		check_failures++;
		return false;
	}
	bool m = policy_approval_json_match(&p->approvals[0], jm_headers, body, strlen(body));
	policy_free(p);
	return m;
}

static void test_json(void)
{
	const char *amt = "{path: deal.amount, value: 1000}";
	CHECK(jm(amt, "{\"deal\": {\"amount\": 1000}}"));
	CHECK(jm(amt, " {\"deal\":{\"x\":[1,{\"y\":null}],\"amount\":1000.0}} \n"));
	CHECK(jm(amt, "{\"deal\": {\"amount\": 1e3}}"));
	CHECK(!jm(amt, "{\"deal\": {\"amount\": 999}}"));
	CHECK(!jm(amt, "{\"deal\": {\"amounts\": 1000}}"));
	CHECK(!jm(amt, "{\"amount\": 1000}"));
	CHECK(!jm(amt, "{\"deal\": [1000]}"));
	CHECK(!jm(amt, "[]"));
	CHECK(!jm(amt, ""));
	CHECK(!jm(amt, "   "));
	/* what a server may read as the value: held */
	CHECK(jm(amt, "{\"deal\": {\"amount\": \"1000\"}}"));
	CHECK(jm(amt, "{\"deal\": {\"amount\": 1, \"amount\": 1000}}"));
	CHECK(jm(amt, "{\"deal\": {\"amount\": 1000, \"amount\": 1}}"));
	CHECK(jm(amt, "{\"de\\u0061l\": {\"amount\": 1000}}"));
	/* not JSON: what a server would read there cannot be told */
	CHECK(jm(amt, "{\"deal\": {\"amount\": 999,}}"));
	CHECK(jm(amt, "amount=1000"));
	CHECK(jm(amt, "{\"deal\": {\"amount\": 999}} x"));
	/* nested deeper than 64: held */
	char deep[300] = "{\"a\":";
	for (int i = 0; i < 70; i++)
		strcat(deep, "[");
	for (int i = 0; i < 70; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	CHECK(jm(amt, deep));

	const char *idx = "{path: 'items[1].sku', value: X-9}";
	CHECK(jm(idx, "{\"items\": [{\"sku\": \"A\"}, {\"sku\": \"X-9\"}]}"));
	CHECK(!jm(idx, "{\"items\": [{\"sku\": \"X-9\"}, {\"sku\": \"A\"}]}"));
	CHECK(!jm(idx, "{\"items\": [{\"sku\": \"X-9\"}]}"));
	CHECK(jm("{path: 'name', value: \"caf\\u00e9 \\\"x\\\"\"}",
		 "{\"name\": \"caf\\u00e9 \\\"x\\\"\"}"));
	CHECK(jm("{path: 'name', value: \"\\U0001F600\"}", "{\"name\": \"\\ud83d\\ude00\"}"));
	CHECK(!jm("{path: 'name', value: a}", "{\"name\": \"a\\u0000\"}"));
	CHECK(jm("{path: live, value: true}", "{\"live\": true}"));
	CHECK(!jm("{path: live, value: true}", "{\"live\": false}"));
	CHECK(jm("{path: live, value: true}", "{\"live\": \"true\"}"));
	CHECK(jm("{path: o, value: null}", "{\"o\": null}"));
	CHECK(!jm("{path: o, value: null}", "{\"o\": 0}"));
	CHECK(jm("{path: '[0]', value: 5}", "[5, 6]"));
	CHECK(!jm("{path: '[1]', value: 5}", "[5, 6]"));
	CHECK(jm("{path: s, value: '1000'}", "{\"s\": 1000}"));

	/* keys folded; strings folded and trimmed; numbers as strings read */
	const char *won = "{path: deal.stage, value: won}";
	CHECK(jm(won, "{\"deal\": {\"stage\": \"won\"}}"));
	CHECK(jm(won, "{\"Deal\": {\"STAGE\": \"won\"}}"));
	CHECK(jm(won, "{\"deal\": {\"stage\": \" Won\\t\"}}"));
	CHECK(!jm(won, "{\"deal\": {\"stage\": \"lost\"}}"));
	CHECK(!jm(won, "{\"deal\": {\"stage\": \"w on\"}}"));
	CHECK(jm("{path: s, value: '1000'}", "{\"s\": \"1000 \"}"));
	CHECK(jm(amt, "{\"deal\": {\"amount\": \" 1000 \"}}"));
	CHECK(jm(amt, "{\"deal\": {\"amount\": \"1000.00\"}}"));
	CHECK(!jm(amt, "{\"deal\": {\"amount\": \"10 00\"}}"));
	/* duplicates: any one */
	CHECK(jm(won, "{\"deal\": {\"stage\": \"lost\", \"Stage\": \"WON\"}}"));
	CHECK(jm(won, "{\"deal\": {\"stage\": \"lost\"}, \"deal\": {\"stage\": \"won\"}}"));

	/* only a JSON body by its Content-Type is read; any other is held */
	static const struct {
		const char *headers;
		bool json;
	} ct[] = {
		{"content-type: application/json\n", true},
		{"content-type: Application/JSON; charset=utf-8\n", true},
		{"accept: x\ncontent-type: application/vnd.api+json\n", true},
		{"", false},
		{"content-type: application/x-www-form-urlencoded\n", false},
		{"content-type: text/plain\n", false},
		{"content-type: application/jsonx\n", false},
		{"content-type: application/json\ncontent-type: text/plain\n", false},
	};
	const char *lost = "{\"deal\": {\"stage\": \"lost\"}}";
	for (size_t i = 0; i < PC_ARRAY_SIZE(ct); i++) {
		jm_headers = ct[i].headers;
		CHECK(policy_approval_json_body(ct[i].headers) == ct[i].json);
		CHECK(jm(won, lost) == !ct[i].json);
		CHECK(!jm(won, "")); /* no body, no field */
		CHECK(jm(won, "{\"note\": \"&deal.stage=won&\"}") == !ct[i].json);
	}
	jm_headers = "content-type: application/json\n";
}

/* body_max: a size, 1 MiB unless said, at most 8 MiB, written back. */
static void test_body_max(void)
{
	struct pc_error err = {0};
	struct policy *p = load(HEAD, &err);
	CHECK(p && p->approvals[0].body_max == PC_APPROVAL_BODY_DEFAULT);
	policy_free(p);
	p = load("version: 1\napprovals:\n  - approvers: [bob]\n    body_max: 64K\n"
		 "    match: {host: crm.test}\n",
		 &err);
	CHECK(p && p->approvals[0].body_max == 64 << 10);
	if (p) {
		struct pc_buf y = {0};
		policy_emit_yaml(p, &y);
		pc_buf_append(&y, "", 1);
		CHECK_CONTAINS(y.data, "body_max: 64K");
		struct policy *q = load(y.data, &err);
		CHECK(q && policy_approval_same(&p->approvals[0], &q->approvals[0]));
		policy_free(q);
		pc_buf_free(&y);
	}
	policy_free(p);
	static const struct {
		const char *v, *want;
	} bad[] = {
		{"9M", "more than a held request may have (at most 8M"},
		{"0", "must be larger than 0"},
		{"lots", "'lots' is not a size"},
	};
	for (size_t i = 0; i < PC_ARRAY_SIZE(bad); i++) {
		char text[256];
		snprintf(text, sizeof(text),
			 "version: 1\napprovals:\n  - approvers: [bob]\n    body_max: %s\n"
			 "    match: {host: crm.test}\n",
			 bad[i].v);
		p = load(text, &err);
		CHECK(p == NULL);
		CHECK_CONTAINS(err.msg, bad[i].want);
		CHECK_CONTAINS(err.msg, "approvals[0].body_max");
		policy_free(p);
	}
}

int main(void)
{
	test_body_max();
	test_errors();
	test_kinds();
	test_same();
	test_match();
	test_overrides();
	test_json();
	CHECK_DONE();
}
