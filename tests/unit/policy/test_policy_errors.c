/* policy: every kind of bad policy is refused with file:line:col, the key
 * path and what would be accepted. */
#include "policy/policy.h"
#include "../check.h"

static const struct bad {
	const char *text;
	const char *want;   /* the start of the message after "FILE:" */
	const char *accept; /* part of the "(what would be accepted)" */
} bad[] = {
	{"", "1:1: the file holds no policy", "version: 1"},
	{"# nothing\n", "1:1: the file holds no policy", "version: 1"},
	{"- a\n- b\n", "1:1: the top level must be a mapping", "version: 1"},
	{"name: x\n", "1:1: version: missing", "version: 1"},
	{"version: 2\n", "1:10: version: version 2 is not supported", "version: 1"},
	{"version: [1]\n", "1:10: version: expected a value, got a list", "1-1"},
	{"version: 1\nnmae: x\n", "2:1: nmae: unknown key", "version, name, sandbox"},
	{"version: 1\nversion: 1\n", "2:1: version: duplicate key", "first at line 1"},
	{"version: 1\n---\nversion: 1\n", "2:1: a second YAML document", "one policy per file"},
	{"version: 1\nname: &a x\n", "2:7: name: YAML anchors", "write each value out"},
	{"version: 1\nname: *a\n", "2:7: name: YAML aliases", "write each value out"},
	{"version: 1\nname: !!str x\n", "2:7: name: YAML tags", "plain values"},
	{"version: 1\nname: [x\n", "3:1: name: not valid YAML", "indentation"},
	{"version: 1\nname: \"a b\"\n", "2:7: name: 'a b' is not a valid name", "letters, digits"},
	{"version: 1\nsandbox: {isolation: docker}\n", "2:22: sandbox.isolation: 'docker'",
	 "namespaces | microvm"},
	{"version: 1\nsandbox: {hostname: a_b}\n", "2:21: sandbox.hostname: 'a_b' is not a valid",
	 "letters, digits and '-'"},
	{"version: 1\nsandbox: {hostname: -x}\n", "2:21: sandbox.hostname:", "at most 64"},
	{"version: 1\nsandbox: [a]\n", "2:10: sandbox: expected a mapping of keys, got a list",
	 "isolation, hostname"},
	{"version: 1\nfilesystem: {scratch: {size: 512Q}}\n",
	 "2:30: filesystem.scratch.size: '512Q' is not a size", "512M, 1G"},
	{"version: 1\nfilesystem: {scratch: {size: 0}}\n",
	 "2:30: filesystem.scratch.size: must be larger than 0", "512M"},
	{"version: 1\nfilesystem: {scratch: {path: /}}\n",
	 "2:30: filesystem.scratch.path:", "/tmp"},
	{"version: 1\nfilesystem:\n  read_only: /usr\n",
	 "3:14: filesystem.read_only: expected a list, got a single value", "a list of paths"},
	{"version: 1\nfilesystem:\n  read_only: [usr/share]\n",
	 "3:15: filesystem.read_only[0]: 'usr/share' is a relative path", "absolute path"},
	{"version: 1\nfilesystem:\n  read_only: [~root/x]\n",
	 "3:15: filesystem.read_only[0]: '~root/x': ~user paths are not supported", "~/..."},
	{"version: 1\nfilesystem:\n  read_write: [/tmp/../etc]\n",
	 "3:16: filesystem.read_write[0]: '/tmp/../etc' has a '..' component", "without '..'"},
	{"version: 1\nfilesystem:\n  read_only: [/nonexistent/x]\n",
	 "3:15: filesystem.read_only[0]: /nonexistent/x: No such file", "must exist"},
	{"version: 1\nfilesystem:\n  read_only: [/usr/*]\n",
	 "3:15: filesystem.read_only[0]: '/usr/*': wildcards", "filesystem.deny"},
	{"version: 1\nfilesystem:\n  read_only: [/usr, /usr/]\n",
	 "3:21: filesystem.read_only[1]: /usr is already listed at line 3", "each path once"},
	{"version: 1\nfilesystem:\n  read_only: [/usr]\n  read_write: [/usr/]\n",
	 "4:16: filesystem.read_write[0]: /usr is also in filesystem.read_only[0] at line 3",
	 "either read_only or read_write"},
	{"version: 1\nfilesystem:\n  read_write: [/]\n",
	 "3:16: filesystem.read_write[0]:", "project folders"},
	{"version: 1\nfilesystem:\n  read_write: [/proc]\n",
	 "3:16: filesystem.read_write[0]:", "its own"},
	{"version: 1\nfilesystem:\n  read_only: [/usr/share]\n  deny: [/usr]\n",
	 "3:15: filesystem.read_only[0]: /usr/share is masked by filesystem.deny[0] '/usr'",
	 "change filesystem.deny"},
	{"version: 1\nfilesystem:\n  deny: [relative]\n",
	 "3:10: filesystem.deny[0]: 'relative' is a relative path", "**/.env"},
	{"version: 1\nnetwork: {egress: {default: allow}}\n",
	 "2:29: network.egress.default: 'allow' is not supported", "only supports deny"},
	{"version: 1\nnetwork: {egress: {deny_private: maybe}}\n",
	 "2:34: network.egress.deny_private: 'maybe' is not a boolean", "true or false"},
	{"version: 1\nnetwork: {egress: {upstream_ca: /nonexistent.pem}}\n",
	 "2:33: network.egress.upstream_ca: cannot use /nonexistent.pem", "PEM"},
	{"version: 1\nnetwork: {gate_port: 0}\n", "2:22: network.gate_port: 0 is not a port",
	 "1-65535"},
	{"version: 1\nnetwork: {egres: {}}\n", "2:11: network.egres: unknown key",
	 "egress, gate_port"},
	{"version: 1\nnetwork:\n  egress:\n    allow:\n      - host: a.example.com\n"
	 "      - host: b.example.com\n      - host: c.example.com\n        ports: [70000]\n",
	 "8:17: network.egress.allow[2].ports[0]: 70000 is not a port", "(1-65535)"},
	{"version: 1\nnetwork: {egress: {allow: [{host: a.example.com, ports: []}]}}\n",
	 "2:57: network.egress.allow[0].ports: an empty list", "80 and 443"},
	{"version: 1\nnetwork: {egress: {allow: [{host: a.example.com, ports: [https]}]}}\n",
	 "2:58: network.egress.allow[0].ports[0]: 'https' is not a whole number", "1-65535"},
	{"version: 1\nnetwork: {egress: {allow: [{ports: [443]}]}}\n",
	 "2:28: network.egress.allow[0].host: missing", "api.example.com"},
	{"version: 1\nnetwork: {egress: {allow: [{host: \"*\"}]}}\n",
	 "2:35: network.egress.allow[0].host: '*' is not a host pattern", "*.example.com"},
	{"version: 1\nnetwork: {egress: {allow: [{host: \"*.\"}]}}\n",
	 "2:35: network.egress.allow[0].host: '*.' is not a host pattern", "*.example.com"},
	{"version: 1\nnetwork: {egress: {allow: [{host: a.*.com}]}}\n",
	 "2:35: network.egress.allow[0].host: 'a.*.com' is not a host pattern", "first label"},
	{"version: 1\nnetwork: {egress: {allow: [{host: \"a b.com\"}]}}\n",
	 "2:35: network.egress.allow[0].host: 'a b.com' is not a host pattern", "no spaces"},
	{"version: 1\nnetwork: {egress: {allow: [{host: \"https://x.com\"}]}}\n",
	 "2:35: network.egress.allow[0].host: 'https://x.com' is not a host pattern", "scheme"},
	{"version: 1\nnetwork: {egress: {allow: [{host: x.com:443}]}}\n",
	 "2:35: network.egress.allow[0].host: 'x.com:443'", "use ports:"},
	{"version: 1\nnetwork: {egress: {allow: [{host: x.com, methods: [GET], "
	 "access: read-only}]}}\n",
	 "2:66: network.egress.allow[0].access: conflicts with methods",
	 "one of access or methods"},
	{"version: 1\nnetwork: {egress: {allow: [{host: x.com, methods: [get]}]}}\n",
	 "2:52: network.egress.allow[0].methods[0]: 'get' is not an HTTP method", "GET, HEAD"},
	{"version: 1\nnetwork: {egress: {allow: [{host: x.com, paths: [api]}]}}\n",
	 "2:50: network.egress.allow[0].paths[0]: 'api' does not start with /", "/api/**"},
	{"version: 1\nnetwork: {egress: {allow: [{host: x.com, access: rw}]}}\n",
	 "2:50: network.egress.allow[0].access: 'rw' is not accepted", "read-only | read-write"},
	{"version: 1\nnetwork: {egress: {allow: [{host: x.com, enforcement: log}]}}\n",
	 "2:55: network.egress.allow[0].enforcement: 'log'", "enforce | audit"},
	{"version: 1\ncredentials: [{host: x.com, header: h, placeholder: P}]\n",
	 "2:15: credentials[0].name: missing", "vault secret"},
	{"version: 1\ncredentials: [{name: n, header: h, placeholder: P}]\n",
	 "2:15: credentials[0].host: missing", "hosts the secret may go"},
	{"version: 1\ncredentials: [{name: n, host: x.com, header: h}]\n",
	 "2:15: credentials[0].placeholder: missing", "environment variable"},
	{"version: 1\ncredentials: [{name: n, host: x.com, header: h, placeholder: 9P}]\n",
	 "2:62: credentials[0].placeholder: '9P' is not an environment variable name", "letters"},
	{"version: 1\ncredentials: [{name: n, host: x.com, header: h, query: q, placeholder: P}]\n",
	 "2:56: credentials[0].query: conflicts with header: at line 2", "not both"},
	{"version: 1\nnetwork: {egress: {default: block}}\n",
	 "2:29: network.egress.default: 'block' is not supported",
	 "only supports deny (default: deny"},
	{"version: 1\ncredentials: [{name: n, host: x.com, header: h, format: x, "
	 "placeholder: P}]\n",
	 "2:57: credentials[0].format: 'x' has no {secret}", "Bearer {secret}"},
	{"version: 1\ncredentials: [{name: n, host: [x.com, \"*\"], header: h, "
	 "placeholder: P}]\n",
	 "2:39: credentials[0].host[1]: '*' is not a host pattern", "*.example.com"},
	{"version: 1\ncredentials: [{name: a, host: x.com, header: h, placeholder: P},\n"
	 "  {name: b, host: y.com, header: h, placeholder: P}]\n",
	 "3:50: credentials[1].placeholder: P is already the placeholder of credentials[0]",
	 "one variable per credential"},
	{"version: 1\ncredentials: [{name: a, host: x.com, header: h, placeholder: P}]\n"
	 "process: {env: {P: x}}\n",
	 "3:17: process.env.P: is the placeholder of credentials[0]", "remove it from env"},
	{"version: 1\napprovals: [{match: {host: x.com}}]\n",
	 "2:13: approvals[0].approvers: missing", "group:NAME"},
	{"version: 1\napprovals: [{match: {host: x.com}, approvers: []}]\n",
	 "2:47: approvals[0].approvers: an empty list", "group:NAME"},
	{"version: 1\napprovals: [{match: {host: x.com}, approvers: [a], act_as: root}]\n",
	 "2:60: approvals[0].act_as: 'root' is not accepted", "agent | approver"},
	{"version: 1\napprovals: [{match: {host: x.com}, approvers: [a], count: 0}]\n",
	 "2:59: approvals[0].count: 0 is not a number of approvals", "1-100"},
	{"version: 1\napprovals: [{match: {host: x.com}, approvers: [a], count: 2}]\n",
	 "2:59: approvals[0].count: 2 approvals needed but only 1 approvers", "group:"},
	{"version: 1\napprovals: [{match: {host: x.com}, approvers: [a], timeout: 10}]\n",
	 "2:61: approvals[0].timeout: '10' is not a duration", "10m"},
	{"version: 1\napprovals: [{match: {host: x.com}, approvers: [a], timeout: 1y}]\n",
	 "2:61: approvals[0].timeout: '1y' is not a duration", "1h"},
	{"version: 1\napprovals: [{match: {host: x.com}, approvers: [a], hold: 1h}]\n",
	 "2:58: approvals[0].hold: hold 1h is longer than timeout 15m", "hold <= timeout"},
	{"version: 1\napprovals: [{approvers: [a]}]\n", "2:13: approvals[0].match: missing",
	 "host: ..."},
	{"version: 1\nprocess: {env: {1X: a}}\n",
	 "2:17: process.env.1X: '1X' is not an "
	 "environment variable name",
	 "letters, digits"},
	{"version: 1\nprocess: {env: {X: 1}}\n", "2:20: process.env.X: '1' reads as a number",
	 "quote it"},
	{"version: 1\nprocess: {env: {X: yes}}\n", "2:20: process.env.X: 'yes' reads as a boolean",
	 "quote it"},
	{"version: 1\nprocess: {env: {X: [a]}}\n", "2:20: process.env.X: expected a string",
	 "quote"},
	{"version: 1\nprocess: {env: {HTTPS_PROXY: x}}\n",
	 "2:17: process.env.HTTPS_PROXY: is set "
	 "by pincer",
	 "network.egress"},
	{"version: 1\nprocess: {limits: {memory: 512Q}}\n",
	 "2:28: process.limits.memory: '512Q' is not a size", "512M"},
	{"version: 1\nprocess: {limits: {memory: 512}}\n",
	 "2:28: process.limits.memory: 512 bytes is too little memory", "512M"},
	{"version: 1\nprocess: {limits: {cpus: 0}}\n", "2:26: process.limits.cpus: 0 cpus is out",
	 "0.001 to 1024"},
	{"version: 1\nprocess: {limits: {cpus: -1}}\n",
	 "2:26: process.limits.cpus: '-1' is not a number of cpus", "1.5"},
	{"version: 1\nprocess: {limits: {cpus: 1025}}\n",
	 "2:26: process.limits.cpus: 1025 cpus is out of range", "1024"},
	{"version: 1\nprocess: {limits: {cpus: 1.0001}}\n",
	 "2:26: process.limits.cpus: '1.0001' is not a number of cpus", "0.25"},
	{"version: 1\nprocess: {limits: {pids: 0}}\n",
	 "2:26: process.limits.pids: 0 is not a number of processes", "1-"},
	{"version: 1\nprocess: {limits: {open_files: -5}}\n",
	 "2:32: process.limits.open_files: '-5' is not a whole number", "1-"},
	{"version: 1\nprocess: {limits: {wall_time: 10}}\n",
	 "2:31: process.limits.wall_time: '10' is not a duration", "30s"},
	{"version: 1\nprocess: {limits: {wall_time: 0s}}\n",
	 "2:31: process.limits.wall_time: must be longer than 0", "10m"},
	{"version: 1\nprocess: {limits: {swap: 1G}}\n", "2:20: process.limits.swap: unknown key",
	 "memory, cpus, pids, open_files, file_size, wall_time"},
	{"version: 1\nprocess: {on_oom: panic}\n", "2:19: process.on_oom: 'panic'",
	 "stop | restart"},
	{"version: 1\nprocess: {seccomp: strict}\n", "2:20: process.seccomp: 'strict'",
	 "default | off"},
	{"version: 1\nprocess: {seccomp: {deny: [nosuchcall]}}\n",
	 "2:28: process.seccomp.deny[0]: 'nosuchcall' is not a system call", "ptrace"},
	{"version: 1\nprocess: {seccomp: {deny: [ptrace], log: [ptrace]}}\n",
	 "2:43: process.seccomp.log[0]: ptrace is also in seccomp.deny", "not both"},
	{"version: 1\nprocess: {landlock: maybe}\n", "2:21: process.landlock: 'maybe'",
	 "best_effort | required | off"},
};

static void test_bad(void)
{
	for (size_t i = 0; i < PC_ARRAY_SIZE(bad); i++) {
		struct policy *p = NULL;
		struct pc_error err = {0};
		int r = policy_load_string(bad[i].text, strlen(bad[i].text), "/p/bad.yaml", &p,
					   &err);
		if (r >= 0) {
			fprintf(stderr, "accepted: %s", bad[i].text);
			policy_free(p);
		}
		CHECK(r == -EINVAL);
		CHECK(p == NULL);
		char want[512];
		snprintf(want, sizeof(want), "/p/bad.yaml:%s", bad[i].want);
		if (strncmp(err.msg, want, strlen(want)) != 0)
			fprintf(stderr, "case %zu: got  %s\n         want %s...\n", i, err.msg,
				want);
		CHECK(strncmp(err.msg, want, strlen(want)) == 0);
		CHECK_CONTAINS(err.msg, bad[i].accept);
	}
}

static void test_limits_of_input(void)
{
	struct policy *p = NULL;
	struct pc_error err = {0};
	/* over 1 MiB */
	size_t big = 1024 * 1024 + 1;
	char *text = malloc(big);
	memset(text, '#', big);
	CHECK(policy_load_string(text, big, "/p/big.yaml", &p, &err) == -EFBIG);
	CHECK_CONTAINS(err.msg, "1 MiB");
	free(text);
	/* billion laughs: refused at the first anchor, nothing is expanded */
	const char *laughs = "version: 1\n"
			     "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n"
			     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
			     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n";
	CHECK(policy_load_string(laughs, strlen(laughs), "/p/l.yaml", &p, &err) == -EINVAL);
	CHECK_CONTAINS(err.msg, "/p/l.yaml:2:4: a: YAML anchors");
	/* deep nesting is refused before it can exhaust the stack */
	char deep[4096] = "version: 1\nx: ";
	size_t l = strlen(deep);
	memset(deep + l, '[', 3000);
	deep[l + 3000] = '\0';
	CHECK(policy_load_string(deep, strlen(deep), "/p/d.yaml", &p, &err) == -EINVAL);
	CHECK_CONTAINS(err.msg, "nested too deeply");
	/* a NUL inside a value */
	const char *nul = "version: 1\nname: \"a\\0b\"\n";
	CHECK(policy_load_string(nul, strlen(nul), "/p/n.yaml", &p, &err) == -EINVAL);
	CHECK_CONTAINS(err.msg, "/p/n.yaml:2:7: name: a value contains a NUL");
	/* not UTF-8 */
	const char *latin1 = "version: 1\nname: caf\xe9\n";
	CHECK(policy_load_string(latin1, strlen(latin1), "/p/u.yaml", &p, &err) == -EINVAL);
	CHECK_CONTAINS(err.msg, "/p/u.yaml:2:10: not valid YAML text");
	CHECK(p == NULL);
}

int main(void)
{
	setenv("HOME", "/nonexistent-home", 1);
	test_bad();
	test_limits_of_input();
	CHECK_DONE();
}
