/* Placeholders: shaped like the secret (prefix, length, alphabet), random
 * otherwise, never the secret; and the policy questions interception asks. */
#include "../check.h"
#include "gate/gate.h"
#include "policy/policy.h"

#include <ctype.h>
#include <stdlib.h>

static void shape(const char *secret, const char *prefix)
{
	size_t n = strlen(secret);
	char a[256], b[256];
	gate_placeholder((const uint8_t *)secret, n, a);
	gate_placeholder((const uint8_t *)secret, n, b);
	CHECK(strlen(a) == n);
	CHECK(strncmp(a, prefix, strlen(prefix)) == 0);
	CHECK(strcmp(a, secret) != 0);
	CHECK(strcmp(a, b) != 0 || n - strlen(prefix) < 4); /* fresh each time */
	bool upper = false, lower = false, digit = false;
	for (size_t i = strlen(prefix); i < n; i++) {
		upper |= isupper((unsigned char)secret[i]) != 0;
		lower |= islower((unsigned char)secret[i]) != 0;
		digit |= isdigit((unsigned char)secret[i]) != 0;
	}
	for (size_t i = strlen(prefix); i < n; i++) {
		unsigned char ch = (unsigned char)a[i];
		CHECK(isgraph(ch));
		if (isalnum((unsigned char)secret[i])) {
			/* drawn from the classes the secret's body uses */
			CHECK(!isupper(ch) || upper);
			CHECK(!islower(ch) || lower || (!upper && !digit));
			CHECK(!isdigit(ch) || digit || (!upper && !lower));
		} else if (isgraph((unsigned char)secret[i])) {
			CHECK(ch == (unsigned char)secret[i]); /* '-', '=' keep their place */
		}
	}
	if (check_failures)
		fprintf(stderr, "  secret %s -> %s\n", secret, a);
}

static void test_placeholders(void)
{
	shape("sk-ant-api03-Xy7_8QabcDEF0123456789abcdefGHIJ-xyzXYZ0123==", "sk-ant-api03-");
	shape("ghp_16C7e42F292c6912E7710c838347Ae178B4a", "ghp_");
	shape("xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy", "xoxb-");
	shape("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_");
	shape("AKIAIOSFODNN7EXAMPLE", "");
	shape("0123456789", "");
	shape("hunter2 with spaces\x01", "");
	/* a prefix is never more than half: the rest must stay random */
	shape("abc-defgh-ij", "");
	char one[2];
	gate_placeholder((const uint8_t *)"x", 1, one);
	CHECK(strlen(one) == 1 && one[0] != 'x');
}

static void test_policy_questions(void)
{
	static const char text[] = "version: 1\n"
				   "network:\n"
				   "  egress:\n"
				   "    allow:\n"
				   "      - host: api.example.com\n"
				   "      - host: \"*.crm.example.com\"\n"
				   "        access: read-only\n";
	struct pc_error err = {0};
	struct policy *p = NULL;
	CHECK(policy_load_string(text, sizeof(text) - 1, "t.yaml", &p, &err) == 0);
	if (!p) {
		fprintf(stderr, "%s\n", err.msg);
		return;
	}
	CHECK(policy_intercepts(p));
	CHECK(policy_egress_needs_l7(p, "eu.crm.example.com", 443));
	CHECK(policy_egress_needs_l7(p, "EU.crm.example.com.", 443));
	CHECK(!policy_egress_needs_l7(p, "crm.example.com", 443));
	CHECK(!policy_egress_needs_l7(p, "api.example.com", 443));
	CHECK(!policy_egress_needs_l7(p, "eu.crm.example.com", 8443)); /* no rule for it */
	CHECK(policy_host_match("*.crm.example.com", "a.b.crm.example.com"));
	CHECK(!policy_host_match("*.crm.example.com", "crm.example.com"));
	CHECK(policy_host_match("127.0.0.1", "127.1"));
	CHECK(policy_host_match("api.example.com", "API.example.com"));
	struct pc_egress_decision d;
	policy_egress_decide(p, "eu.crm.example.com", 443, NULL, NULL, &d);
	CHECK(d.verdict == PC_EGRESS_DENY && d.l7_unseen);
	policy_egress_decide(p, "other.example.com", 443, NULL, NULL, &d);
	CHECK(d.verdict == PC_EGRESS_DENY && !d.l7_unseen);
	policy_free(p);

	static const char plain[] = "version: 1\nnetwork:\n  egress:\n    allow:\n"
				    "      - host: api.example.com\n";
	CHECK(policy_load_string(plain, sizeof(plain) - 1, "t.yaml", &p, &err) == 0);
	if (p) {
		CHECK(!policy_intercepts(p));
		policy_free(p);
	}
}

int main(void)
{
	test_placeholders();
	test_policy_questions();
	CHECK_DONE();
}
