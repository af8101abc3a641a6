/* policy: a full valid policy read into the struct, every default, the
 * built-in default, and emit -> load round trips. */
#include "policy/policy.h"
#include "../check.h"

#include <sys/stat.h>

static char home[256];

static struct policy *load(const char *text)
{
	struct policy *p = NULL;
	struct pc_error err = {0};
	int r = policy_load_string(text, strlen(text), "/x/test.yaml", &p, &err);
	if (r < 0)
		fprintf(stderr, "unexpected error: %s\n", err.msg);
	CHECK(r == 0);
	return p;
}

static const char full[] =
	"version: 1\n"
	"name: sales-assistant\n"
	"sandbox:\n"
	"  isolation: microvm\n"
	"  hostname: box-1.local\n"
	"filesystem:\n"
	"  system: [/usr, /lib, /nonexistent-but-fine]\n"
	"  read_only: [~/docs, /usr/share/./]\n"
	"  read_write: [\"~/work//crm-notes/\"]\n"
	"  deny: [\"~/.ssh\", \"**/.env\", /etc/shadow]\n"
	"  scratch: { path: /scratch, size: 1G }\n"
	"network:\n"
	"  gate_port: 8080\n"
	"  egress:\n"
	"    default: deny\n"
	"    deny_private: false\n"
	"    upstream_ca: /etc/hostname\n"
	"    enforcement: audit\n"
	"    allow:\n"
	"      - host: api.anthropic.com\n"
	"        ports: [443]\n"
	"      - host: \"*.github.com\"\n"
	"        enforcement: enforce\n"
	"      - host: crm.example.com\n"
	"        methods: [GET, POST]\n"
	"        paths: [\"/api/**\", /v1/*/items]\n"
	"      - host: api.github.com\n"
	"        access: read-only\n"
	"    deny:\n"
	"      - host: evil.example.com\n"
	"        ports: [8443, 443]\n"
	"credentials:\n"
	"  - name: anthropic\n"
	"    host: api.anthropic.com\n"
	"    header: x-api-key\n"
	"    placeholder: ANTHROPIC_API_KEY\n"
	"  - name: gh.token\n"
	"    host: [api.github.com, \"*.githubusercontent.com\"]\n"
	"    header: Authorization\n"
	"    format: \"Bearer {secret}\"\n"
	"    placeholder: GH_TOKEN\n"
	"  - name: maps\n"
	"    host: maps.example.com\n"
	"    query: key\n"
	"    placeholder: MAPS_KEY\n"
	"approvals:\n"
	"  - match: { host: crm.example.com, methods: [POST, PUT, PATCH, DELETE] }\n"
	"    approvers: [group:sales-managers]\n"
	"    act_as: approver\n"
	"    timeout: 30m\n"
	"    hold: 90s\n"
	"    count: 2\n"
	"  - match: { host: api.github.com, paths: [\"/repos/*/*/merges\"] }\n"
	"    approvers: [alice, bob]\n"
	"process:\n"
	"  env: { HOME: /home/agent, LANG: C.UTF-8, EMPTY: \"\", NUM: \"1\" }\n"
	"  limits: { memory: 512M, cpus: 1.5, pids: 256, open_files: 1024, file_size: 64M,\n"
	"            wall_time: 1h }\n"
	"  on_oom: restart\n"
	"  seccomp: { profile: off, deny: [ptrace, mount], log: [personality] }\n"
	"  landlock: required\n";

static void test_full(void)
{
	_cleanup_policy_ struct policy *p = load(full);
	if (!p)
		return;
	char want[512];
	CHECK_STR(p->file, "/x/test.yaml");
	CHECK_STR(p->name, "sales-assistant");
	CHECK(p->version == 1);
	CHECK(strlen(p->hash) == 64);
	CHECK(p->isolation == PC_ISOLATION_MICROVM);
	CHECK_STR(p->hostname, "box-1.local");

	const struct pc_fs_policy *fs = &p->fs;
	CHECK(fs->n_system == 3);
	CHECK_STR(fs->system[2].path, "/nonexistent-but-fine");
	CHECK(fs->n_read_only == 2);
	snprintf(want, sizeof(want), "%s/docs", home);
	CHECK_STR(fs->read_only[0].path, want);
	CHECK_STR(fs->read_only[0].spec, "~/docs");
	CHECK(fs->read_only[0].at.line == 8 && fs->read_only[0].at.col == 15);
	CHECK_STR(fs->read_only[1].path, "/usr/share");
	CHECK(fs->n_read_write == 1);
	snprintf(want, sizeof(want), "%s/work/crm-notes", home);
	CHECK_STR(fs->read_write[0].path, want);
	CHECK_STR(fs->read_write[0].spec, "~/work//crm-notes/");
	CHECK(fs->n_deny == 3);
	snprintf(want, sizeof(want), "%s/.ssh", home);
	CHECK_STR(fs->deny[0].path, want);
	CHECK_STR(fs->deny[1].path, "**/.env");
	CHECK_STR(fs->scratch_path, "/scratch");
	CHECK(fs->scratch_size == 1ULL << 30);

	const struct pc_net_policy *net = &p->net;
	CHECK(net->gate_port == 8080);
	CHECK(net->default_deny);
	CHECK(!net->deny_private);
	CHECK_STR(net->upstream_ca, "/etc/hostname");
	CHECK(net->enforcement == PC_ENFORCE_AUDIT_ONLY);
	CHECK(net->n_allow == 4);
	CHECK_STR(net->allow[0].host, "api.anthropic.com");
	CHECK(net->allow[0].n_ports == 1 && net->allow[0].ports[0] == 443);
	CHECK(net->allow[0].methods == NULL && net->allow[0].paths == NULL);
	CHECK(net->allow[0].enforcement == PC_ENFORCE_AUDIT_ONLY); /* inherited */
	CHECK(net->allow[0].at.line == 20 && net->allow[0].at.col == 9);
	CHECK_STR(net->allow[1].host, "*.github.com");
	CHECK(net->allow[1].n_ports == 2 && net->allow[1].ports[0] == 80 &&
	      net->allow[1].ports[1] == 443);
	CHECK(net->allow[1].enforcement == PC_ENFORCE);
	CHECK(pc_strv_len(net->allow[2].methods) == 2);
	CHECK_STR(net->allow[2].methods[1], "POST");
	CHECK_STR(net->allow[2].paths[0], "/api/**");
	CHECK_STR(net->allow[2].paths[1], "/v1/*/items");
	CHECK(pc_strv_len(net->allow[3].methods) == 3);
	CHECK_STR(net->allow[3].methods[0], "GET");
	CHECK_STR(net->allow[3].methods[1], "HEAD");
	CHECK_STR(net->allow[3].methods[2], "OPTIONS");
	CHECK(net->n_deny == 1);
	CHECK(net->deny[0].n_ports == 2 && net->deny[0].ports[0] == 8443);

	CHECK(p->n_credentials == 3);
	CHECK_STR(p->credentials[0].name, "anthropic");
	CHECK(pc_strv_len(p->credentials[0].hosts) == 1);
	CHECK_STR(p->credentials[0].header, "x-api-key");
	CHECK_STR(p->credentials[0].format, "{secret}");
	CHECK(p->credentials[0].query == NULL);
	CHECK_STR(p->credentials[0].placeholder, "ANTHROPIC_API_KEY");
	CHECK(pc_strv_len(p->credentials[1].hosts) == 2);
	CHECK_STR(p->credentials[1].hosts[1], "*.githubusercontent.com");
	CHECK_STR(p->credentials[1].format, "Bearer {secret}");
	CHECK(p->credentials[2].header == NULL);
	CHECK_STR(p->credentials[2].query, "key");

	CHECK(p->n_approvals == 2);
	const struct pc_approval_rule *a = &p->approvals[0];
	CHECK_STR(a->host, "crm.example.com");
	CHECK(pc_strv_len(a->methods) == 4);
	CHECK(a->paths == NULL);
	CHECK_STR(a->approvers[0], "group:sales-managers");
	CHECK(a->act_as == PC_ACT_AS_APPROVER);
	CHECK(a->timeout_ms == 30 * 60 * 1000);
	CHECK(a->hold_ms == 90 * 1000);
	CHECK(a->count == 2);
	a = &p->approvals[1];
	CHECK(a->methods == NULL);
	CHECK_STR(a->paths[0], "/repos/*/*/merges");
	CHECK(a->act_as == PC_ACT_AS_AGENT);
	CHECK(a->timeout_ms == 15 * 60 * 1000);
	CHECK(a->hold_ms == 60 * 1000);
	CHECK(a->count == 1);

	const struct pc_process_policy *pr = &p->process;
	CHECK(pr->n_env == 4);
	CHECK_STR(pr->env[0].name, "HOME");
	CHECK_STR(pr->env[0].value, "/home/agent");
	CHECK_STR(pr->env[2].value, "");
	CHECK_STR(pr->env[3].value, "1");
	CHECK(pr->limits.memory == 512ULL << 20);
	CHECK(pr->limits.cpus_milli == 1500);
	CHECK(pr->limits.pids == 256);
	CHECK(pr->limits.open_files == 1024);
	CHECK(pr->limits.file_size == 64ULL << 20);
	CHECK(pr->limits.wall_time_ms == 3600 * 1000);
	CHECK(pr->on_oom == PC_ON_OOM_RESTART);
	CHECK(pr->seccomp == PC_SECCOMP_OFF);
	CHECK(pc_strv_len(pr->seccomp_deny) == 2);
	CHECK_STR(pr->seccomp_deny[1], "mount");
	CHECK_STR(pr->seccomp_log[0], "personality");
	CHECK(pr->landlock == PC_LANDLOCK_REQUIRED);
}

static void test_defaults(void)
{
	struct policy *p = NULL;
	struct pc_error err = {0};
	CHECK(policy_load_string("version: 1\n", 11, "/srv/pol/my-agent.yml", &p, &err) == 0);
	if (!p)
		return;
	CHECK_STR(p->name, "my-agent");
	CHECK_STR(p->hostname, "agent");
	CHECK(p->isolation == PC_ISOLATION_NAMESPACES);
	CHECK(p->fs.n_system == 18);
	CHECK_STR(p->fs.system[0].path, "/usr");
	CHECK_STR(p->fs.system[17].path, "/etc/mime.types");
	CHECK(p->fs.n_read_only == 0 && p->fs.n_read_write == 0);
	CHECK(p->fs.n_deny == 9);
	char want[512];
	snprintf(want, sizeof(want), "%s/.ssh", home);
	CHECK_STR(p->fs.deny[0].path, want);
	CHECK_STR(p->fs.deny[0].spec, "~/.ssh");
	snprintf(want, sizeof(want), "%s/.config/gcloud", home);
	CHECK_STR(p->fs.deny[3].path, want);
	snprintf(want, sizeof(want), "%s/.password-store", home);
	CHECK_STR(p->fs.deny[8].path, want);
	CHECK_STR(p->fs.scratch_path, "/tmp");
	CHECK(p->fs.scratch_size == 256ULL << 20);
	CHECK(p->net.default_deny);
	CHECK(p->net.deny_private);
	CHECK(p->net.gate_port == 3128);
	CHECK(p->net.upstream_ca == NULL);
	CHECK(p->net.enforcement == PC_ENFORCE);
	CHECK(p->net.n_allow == 0 && p->net.n_deny == 0);
	CHECK(p->n_credentials == 0 && p->n_approvals == 0);
	CHECK(p->process.n_env == 0);
	CHECK(p->process.limits.memory == 0 && p->process.limits.cpus_milli == 0);
	CHECK(p->process.on_oom == PC_ON_OOM_STOP);
	CHECK(p->process.seccomp == PC_SECCOMP_DEFAULT);
	CHECK(p->process.seccomp_deny == NULL && p->process.seccomp_log == NULL);
	CHECK(p->process.landlock == PC_LANDLOCK_BEST_EFFORT);
	policy_free(p);

	/* an explicit empty list replaces a default list */
	p = NULL;
	const char *t = "version: 1\nname: x\nfilesystem: { system: [], deny: [] }\n";
	CHECK(policy_load_string(t, strlen(t), "/y.yaml", &p, &err) == 0);
	if (p) {
		CHECK_STR(p->name, "x");
		CHECK(p->fs.n_system == 0 && p->fs.n_deny == 0);
		policy_free(p);
	}
	/* a credential may leave header and query out: the gate swaps the
	 * placeholder where the agent put it */
	p = NULL;
	t = "version: 1\ncredentials: [{name: n, host: a.example.com, placeholder: N}]\n";
	CHECK(policy_load_string(t, strlen(t), "/y.yaml", &p, &err) == 0);
	if (p) {
		CHECK(p->credentials[0].header == NULL && p->credentials[0].query == NULL);
		CHECK_STR(p->credentials[0].format, "{secret}");
		policy_free(p);
	}
	/* a short timeout clamps the default hold */
	p = NULL;
	t = "version: 1\n"
	    "approvals: [{match: {host: a.example.com}, approvers: [a], timeout: 10s}]\n";
	CHECK(policy_load_string(t, strlen(t), "/y.yaml", &p, &err) == 0);
	if (p) {
		CHECK(p->approvals[0].timeout_ms == 10000 && p->approvals[0].hold_ms == 10000);
		policy_free(p);
	}
}

static void test_values(void)
{
	static const struct {
		const char *cpus;
		uint32_t milli;
	} cpus[] = {{"1", 1000},       {"1.5", 1500}, {"0.25", 250},  {"0.001", 1},
		    {"1024", 1024000}, {"2.0", 2000}, {"\"3\"", 3000}};
	for (size_t i = 0; i < PC_ARRAY_SIZE(cpus); i++) {
		char t[128];
		snprintf(t, sizeof(t), "version: 1\nprocess: {limits: {cpus: %s}}\n", cpus[i].cpus);
		_cleanup_policy_ struct policy *p = load(t);
		CHECK(p && p->process.limits.cpus_milli == cpus[i].milli);
	}
	static const struct {
		const char *text;
		uint64_t bytes;
	} sizes[] = {{"512M", 512ULL << 20},  {"1G", 1ULL << 30},  {"2048K", 2ULL << 20},
		     {"1048576", 1ULL << 20}, {"1Gi", 1ULL << 30}, {"1T", 1ULL << 40}};
	for (size_t i = 0; i < PC_ARRAY_SIZE(sizes); i++) {
		char t[128];
		snprintf(t, sizeof(t), "version: 1\nprocess: {limits: {memory: %s}}\n",
			 sizes[i].text);
		_cleanup_policy_ struct policy *p = load(t);
		CHECK(p && p->process.limits.memory == sizes[i].bytes);
	}
	static const struct {
		const char *text;
		uint64_t ms;
	} durs[] = {{"250ms", 250},
		    {"30s", 30000},
		    {"10m", 600000},
		    {"1h", 3600000},
		    {"2d", 172800000}};
	for (size_t i = 0; i < PC_ARRAY_SIZE(durs); i++) {
		char t[128];
		snprintf(t, sizeof(t), "version: 1\nprocess: {limits: {wall_time: %s}}\n",
			 durs[i].text);
		_cleanup_policy_ struct policy *p = load(t);
		CHECK(p && p->process.limits.wall_time_ms == durs[i].ms);
	}
	/* the scalar forms of booleans, seccomp and null lists */
	_cleanup_policy_ struct policy *p =
		load("version: 1\nnetwork: {egress: {deny_private: False, allow: }}\n"
		     "process: {seccomp: off}\n");
	CHECK(p && !p->net.deny_private && p->net.n_allow == 0);
	CHECK(p && p->process.seccomp == PC_SECCOMP_OFF);
}

/* Loading what was emitted gives the same policy, and emitting it again
 * gives the same text (after the header line, which names the file). */
static void round_trip(const struct policy *p)
{
	_cleanup_buf_ struct pc_buf one = {0}, two = {0}, three = {0};
	policy_emit_yaml(p, &one);
	CHECK(strncmp(one.data, "# effective policy of ", 22) == 0);
	CHECK_CONTAINS(one.data, p->hash);
	struct policy *q = NULL;
	struct pc_error err = {0};
	int r = policy_load_string(one.data, one.len, "/x/again.yaml", &q, &err);
	if (r < 0)
		fprintf(stderr, "round trip failed: %s\n%s", err.msg, one.data);
	CHECK(r == 0);
	if (!q)
		return;
	policy_emit_yaml(q, &two);
	struct policy *q2 = NULL;
	CHECK(policy_load_string(two.data, two.len, "/x/again.yaml", &q2, &err) == 0);
	if (q2) {
		policy_emit_yaml(q2, &three);
		CHECK_STR(strchr(two.data, '\n'), strchr(three.data, '\n'));
		policy_free(q2);
	}
	/* the first emission differs from the second only in comments */
	CHECK_STR(q->name, p->name);
	CHECK(q->fs.n_deny == p->fs.n_deny && q->net.n_allow == p->net.n_allow);
	for (size_t i = 0; i < p->fs.n_deny; i++)
		CHECK_STR(q->fs.deny[i].path, p->fs.deny[i].path);
	for (size_t i = 0; i < p->fs.n_read_write; i++)
		CHECK_STR(q->fs.read_write[i].path, p->fs.read_write[i].path);
	CHECK(q->process.limits.cpus_milli == p->process.limits.cpus_milli);
	CHECK(q->process.limits.memory == p->process.limits.memory);
	CHECK(q->process.limits.wall_time_ms == p->process.limits.wall_time_ms);
	CHECK(q->process.n_env == p->process.n_env);
	for (size_t i = 0; i < p->process.n_env; i++)
		CHECK_STR(q->process.env[i].value, p->process.env[i].value);
	CHECK(q->n_approvals == p->n_approvals);
	for (size_t i = 0; i < p->n_approvals; i++)
		CHECK(q->approvals[i].hold_ms == p->approvals[i].hold_ms &&
		      q->approvals[i].count == p->approvals[i].count);
	CHECK(q->net.enforcement == p->net.enforcement);
	CHECK(q->process.seccomp == p->process.seccomp);
	policy_free(q);
}

static void test_round_trip(void)
{
	_cleanup_policy_ struct policy *p = load(full);
	if (p)
		round_trip(p);
	_cleanup_policy_ struct policy *d = load("version: 1\n");
	if (d)
		round_trip(d);
	/* strings that need quoting survive */
	_cleanup_policy_ struct policy *s =
		load("version: 1\nprocess:\n  env:\n    A: \"yes\"\n    B: \"#x: [y]\"\n"
		     "    C: \"quote \\\" and \\\\ and \\t tab\"\n    D: \"~\"\n    E: \"1.5\"\n"
		     "    F: \"- dash\"\n    G: \"\"\n  limits: {cpus: 0.125, memory: 2000000, "
		     "file_size: 1000}\n");
	if (s) {
		CHECK_STR(s->process.env[2].value, "quote \" and \\ and \t tab");
		round_trip(s);
	}
}

static void test_builtin_default(void)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/project", home);
	mkdir(dir, 0755);
	struct policy *p = NULL;
	struct pc_error err = {0};
	CHECK(policy_default(dir, &p, &err) == 0);
	if (p) {
		CHECK_STR(p->file, "<built-in default>");
		CHECK_STR(p->name, "default");
		CHECK(p->fs.n_read_write == 1);
		CHECK_STR(p->fs.read_write[0].path, dir);
		CHECK(p->fs.n_system == 18 && p->fs.n_deny == 9);
		CHECK(p->net.n_allow == 0);
		CHECK(p->fs.scratch_size == 256ULL << 20);
		CHECK(strlen(p->hash) == 64);
		round_trip(p);
		policy_free(p);
	}
	static const char *const refused[] = {
		"/",	    "/usr",	 "/usr/local/src", "/etc", "/etc/x", "/proc/1", "/sys",
		"/dev",	    "/run/user", "/boot",	   "/bin", "/lib64", "/var",	"/var/lib",
		"/var/log", "/home",	 "/sbin",	   "/lib", "/lib32", "/libx32",
	};
	for (size_t i = 0; i < PC_ARRAY_SIZE(refused); i++) {
		p = NULL;
		err = (struct pc_error){0};
		CHECK(policy_default(refused[i], &p, &err) < 0);
		CHECK(p == NULL);
		CHECK_CONTAINS(err.msg, "--policy");
	}
	/* /var/tmp and /home/x are fine as far as the system list goes */
	p = NULL;
	CHECK(policy_default("/var/tmp", &p, &err) == 0);
	policy_free(p);
	/* a folder the default deny list masks */
	snprintf(dir, sizeof(dir), "%s/.ssh", home);
	mkdir(dir, 0700);
	p = NULL;
	CHECK(policy_default(dir, &p, &err) < 0);
	CHECK_CONTAINS(err.msg, "masks");
}

static void test_load_file(void)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/from-file.yaml", home);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("version: 1\n", f);
	fclose(f);
	struct policy *p = NULL;
	struct pc_error err = {0};
	CHECK(policy_load(path, &p, &err) == 0);
	if (p) {
		CHECK_STR(p->file, path);
		CHECK_STR(p->name, "from-file");
		/* sha256 of "version: 1\n" */
		CHECK_STR(p->hash,
			  "09bfcc6a14b83e2192b8673677725c84883ee9cd0c70e45c9ec09daa8f2b2847");
		policy_free(p);
	}
	p = NULL;
	CHECK(policy_load("/nonexistent/p.yaml", &p, &err) < 0);
	CHECK_CONTAINS(err.msg, "/nonexistent/p.yaml");
}

int main(void)
{
	snprintf(home, sizeof(home), "/tmp/pincer-policy-test-XXXXXX");
	if (!mkdtemp(home))
		return 1;
	setenv("HOME", home, 1);
	char d[512];
	snprintf(d, sizeof(d), "%s/docs", home);
	mkdir(d, 0755);
	snprintf(d, sizeof(d), "%s/work", home);
	mkdir(d, 0755);
	snprintf(d, sizeof(d), "%s/work/crm-notes", home);
	mkdir(d, 0755);
	test_full();
	test_defaults();
	test_values();
	test_round_trip();
	test_builtin_default();
	test_load_file();
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", home);
	CHECK_DONE();
}
