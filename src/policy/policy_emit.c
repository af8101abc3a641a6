/* policy: the effective policy written back as YAML that policy_load
 * accepts, every default spelled out; and the sha256 of policy text. */
#include "policy/policy_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

void policy_hash_text(const char *text, size_t len, char out[65])
{
	pc_sha256_hex(text, len, out);
}

/* Plain when that reads back as the same string, double-quoted otherwise. */
void policy_emit_str(struct pc_buf *b, const char *s)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789._/~+-=@";
	bool plain = s[0] && (isalnum((unsigned char)s[0]) || strchr("/_.", s[0])) &&
		     strspn(s, safe) == strlen(s) && yscalar_of(s, true) == YS_STRING;
	if (plain) {
		pc_buf_puts(b, s);
		return;
	}
	pc_buf_puts(b, "\"");
	for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
		if (*q == '"' || *q == '\\')
			pc_buf_printf(b, "\\%c", *q);
		else if (*q < 0x20 || *q == 0x7f)
			pc_buf_printf(b, "\\x%02x", *q);
		else
			pc_buf_append(b, q, 1);
	}
	pc_buf_puts(b, "\"");
}

static void emit_kv(struct pc_buf *b, int indent, const char *key, const char *value)
{
	pc_buf_printf(b, "%*s%s: ", indent, "", key);
	policy_emit_str(b, value);
	pc_buf_puts(b, "\n");
}

static void emit_flow(struct pc_buf *b, int indent, const char *key, char *const *v)
{
	pc_buf_printf(b, "%*s%s: [", indent, "", key);
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			pc_buf_puts(b, ", ");
		policy_emit_str(b, v[i]);
	}
	pc_buf_puts(b, "]\n");
}

void policy_emit_comment_text(struct pc_buf *b, const char *s)
{
	for (; *s; s++)
		pc_buf_append(b, (unsigned char)*s < 0x20 ? "?" : s, 1);
}

static void emit_paths(struct pc_buf *b, const char *key, const struct pc_path *v, size_t n)
{
	if (n == 0) {
		pc_buf_printf(b, "  %s: []\n", key);
		return;
	}
	pc_buf_printf(b, "  %s:\n", key);
	for (size_t i = 0; i < n; i++) {
		pc_buf_puts(b, "    - ");
		policy_emit_str(b, v[i].path);
		if (v[i].spec && strcmp(v[i].spec, v[i].path) != 0) {
			pc_buf_puts(b, "  # ");
			policy_emit_comment_text(b, v[i].spec);
		}
		pc_buf_puts(b, "\n");
	}
}

static const char *enforcement_name(enum pc_enforcement e)
{
	return e == PC_ENFORCE_AUDIT_ONLY ? "audit" : "enforce";
}

static void emit_rules(struct pc_buf *b, const char *key, const struct pc_net_rule *v, size_t n)
{
	if (n == 0) {
		pc_buf_printf(b, "    %s: []\n", key);
		return;
	}
	pc_buf_printf(b, "    %s:\n", key);
	for (size_t i = 0; i < n; i++) {
		const struct pc_net_rule *r = &v[i];
		pc_buf_puts(b, "      - host: ");
		policy_emit_str(b, r->host);
		pc_buf_puts(b, "\n");
		if (r->n_ports > 0) { /* none: a deny rule for any port */
			pc_buf_puts(b, "        ports: [");
			for (size_t j = 0; j < r->n_ports; j++)
				pc_buf_printf(b, "%s%u", j ? ", " : "", (unsigned)r->ports[j]);
			pc_buf_puts(b, "]\n");
		}
		if (r->methods)
			emit_flow(b, 8, "methods", r->methods);
		if (r->paths)
			emit_flow(b, 8, "paths", r->paths);
		emit_kv(b, 8, "enforcement", enforcement_name(r->enforcement));
	}
}

static void emit_network(struct pc_buf *b, const struct pc_net_policy *net)
{
	pc_buf_printf(b, "network:\n  gate_port: %u\n  egress:\n", (unsigned)net->gate_port);
	pc_buf_puts(b, "    default: deny\n");
	pc_buf_printf(b, "    deny_private: %s\n", net->deny_private ? "true" : "false");
	if (net->n_allow_private > 0) {
		pc_buf_puts(b, "    allow_private:\n");
		for (size_t i = 0; i < net->n_allow_private; i++) {
			const struct pc_cidr *c = &net->allow_private[i];
			char a[INET6_ADDRSTRLEN], spec[INET6_ADDRSTRLEN + 8];
			inet_ntop(c->family, c->addr, a, sizeof(a));
			snprintf(spec, sizeof(spec), "%s/%u", a, (unsigned)c->prefix);
			pc_buf_puts(b, "      - ");
			policy_emit_str(b, spec);
			if (c->spec && strcmp(c->spec, spec) != 0) {
				pc_buf_puts(b, "  # ");
				policy_emit_comment_text(b, c->spec);
			}
			pc_buf_puts(b, "\n");
		}
	}
	if (net->upstream_ca)
		emit_kv(b, 4, "upstream_ca", net->upstream_ca);
	emit_kv(b, 4, "enforcement", enforcement_name(net->enforcement));
	emit_rules(b, "allow", net->allow, net->n_allow);
	emit_rules(b, "deny", net->deny, net->n_deny);
}

static void emit_credentials(struct pc_buf *b, const struct policy *p)
{
	if (p->n_credentials == 0) {
		pc_buf_puts(b, "credentials: []\n");
		return;
	}
	pc_buf_puts(b, "credentials:\n");
	for (size_t i = 0; i < p->n_credentials; i++) {
		const struct pc_credential *c = &p->credentials[i];
		pc_buf_puts(b, "  - name: ");
		policy_emit_str(b, c->name);
		pc_buf_puts(b, "\n");
		emit_flow(b, 4, "host", c->hosts);
		if (c->header)
			emit_kv(b, 4, "header", c->header);
		if (c->query)
			emit_kv(b, 4, "query", c->query);
		emit_kv(b, 4, "format", c->format);
		emit_kv(b, 4, "placeholder", c->placeholder);
		if (c->fallback)
			emit_flow(b, 4, "fallback", c->fallback);
	}
}

static void emit_approvals(struct pc_buf *b, const struct policy *p)
{
	if (p->n_approvals == 0) {
		pc_buf_puts(b, "approvals: []\n");
		return;
	}
	pc_buf_puts(b, "approvals:\n");
	for (size_t i = 0; i < p->n_approvals; i++) {
		const struct pc_approval_rule *a = &p->approvals[i];
		char t[32], h[32];
		pc_buf_puts(b, "  - match:\n");
		emit_kv(b, 6, "host", a->host);
		if (a->methods)
			emit_flow(b, 6, "methods", a->methods);
		if (a->paths)
			emit_flow(b, 6, "paths", a->paths);
		if (a->json_path) {
			/* a string value quoted when it would read as another kind */
			pc_buf_puts(b, "      json:\n");
			emit_kv(b, 8, "path", a->json_path);
			pc_buf_puts(b, "        value: ");
			if (a->json_kind == PC_JSON_STRING)
				policy_emit_str(b, a->json_value);
			else
				pc_buf_puts(b, a->json_value);
			pc_buf_puts(b, "\n");
		}
		emit_flow(b, 4, "approvers", a->approvers);
		emit_kv(b, 4, "act_as", a->act_as == PC_ACT_AS_APPROVER ? "approver" : "agent");
		pc_format_duration(a->timeout_ms, t, sizeof(t));
		pc_format_duration(a->hold_ms, h, sizeof(h));
		char bm[32];
		pc_format_size(a->body_max, bm, sizeof(bm));
		pc_buf_printf(b, "    timeout: %s\n    hold: %s\n    count: %u\n    body_max: %s\n",
			      t, h, (unsigned)a->count, bm);
	}
}

static void emit_limits(struct pc_buf *b, const struct pc_limits *l)
{
	char s[32];
	if (!l->memory && !l->cpus_milli && !l->pids && !l->open_files && !l->file_size &&
	    !l->wall_time_ms) {
		pc_buf_puts(b, "  limits: {}\n");
		return;
	}
	pc_buf_puts(b, "  limits:\n");
	if (l->memory) {
		pc_format_size(l->memory, s, sizeof(s));
		pc_buf_printf(b, "    memory: %s\n", s);
	}
	if (l->cpus_milli) {
		unsigned frac = l->cpus_milli % 1000;
		if (frac == 0)
			snprintf(s, sizeof(s), "%u", l->cpus_milli / 1000);
		else if (frac % 100 == 0)
			snprintf(s, sizeof(s), "%u.%u", l->cpus_milli / 1000, frac / 100);
		else if (frac % 10 == 0)
			snprintf(s, sizeof(s), "%u.%02u", l->cpus_milli / 1000, frac / 10);
		else
			snprintf(s, sizeof(s), "%u.%03u", l->cpus_milli / 1000, frac);
		pc_buf_printf(b, "    cpus: %s\n", s);
	}
	if (l->pids)
		pc_buf_printf(b, "    pids: %u\n", l->pids);
	if (l->open_files)
		pc_buf_printf(b, "    open_files: %u\n", l->open_files);
	if (l->file_size) {
		pc_format_size(l->file_size, s, sizeof(s));
		pc_buf_printf(b, "    file_size: %s\n", s);
	}
	if (l->wall_time_ms) {
		pc_format_duration(l->wall_time_ms, s, sizeof(s));
		pc_buf_printf(b, "    wall_time: %s\n", s);
	}
}

static void emit_process(struct pc_buf *b, const struct pc_process_policy *pr)
{
	static const char *const landlock[] = {
		[PC_LANDLOCK_BEST_EFFORT] = "best_effort",
		[PC_LANDLOCK_REQUIRED] = "required",
		[PC_LANDLOCK_OFF] = "off",
	};
	pc_buf_puts(b, "process:\n");
	if (pr->n_env == 0) {
		pc_buf_puts(b, "  env: {}\n");
	} else {
		pc_buf_puts(b, "  env:\n");
		for (size_t i = 0; i < pr->n_env; i++)
			emit_kv(b, 4, pr->env[i].name, pr->env[i].value);
	}
	emit_limits(b, &pr->limits);
	emit_kv(b, 2, "on_oom", pr->on_oom == PC_ON_OOM_RESTART ? "restart" : "stop");
	const char *profile = pr->seccomp == PC_SECCOMP_OFF ? "off" : "default";
	if (!pr->seccomp_deny && !pr->seccomp_log) {
		emit_kv(b, 2, "seccomp", profile);
	} else {
		pc_buf_puts(b, "  seccomp:\n");
		emit_kv(b, 4, "profile", profile);
		if (pr->seccomp_deny)
			emit_flow(b, 4, "deny", pr->seccomp_deny);
		if (pr->seccomp_log)
			emit_flow(b, 4, "log", pr->seccomp_log);
	}
	unsigned ll = (unsigned)pr->landlock;
	emit_kv(b, 2, "landlock", ll < PC_ARRAY_SIZE(landlock) ? landlock[ll] : "best_effort");
}

void policy_emit_body(const struct policy *p, struct pc_buf *b)
{
	char s[32];
	pc_buf_printf(b, "version: %d\n", PC_POLICY_VERSION);
	emit_kv(b, 0, "name", p->name);
	pc_buf_puts(b, "sandbox:\n");
	emit_kv(b, 2, "isolation", p->isolation == PC_ISOLATION_MICROVM ? "microvm" : "namespaces");
	emit_kv(b, 2, "hostname", p->hostname);
	if (p->warm)
		pc_buf_printf(b, "  warm: %u\n", p->warm);
	pc_buf_puts(b, "filesystem:\n");
	emit_paths(b, "system", p->fs.system, p->fs.n_system);
	emit_paths(b, "read_only", p->fs.read_only, p->fs.n_read_only);
	emit_paths(b, "read_write", p->fs.read_write, p->fs.n_read_write);
	emit_paths(b, "deny", p->fs.deny, p->fs.n_deny);
	pc_buf_puts(b, "  scratch:\n");
	emit_kv(b, 4, "path", p->fs.scratch_path);
	pc_format_size(p->fs.scratch_size, s, sizeof(s));
	pc_buf_printf(b, "    size: %s\n", s);
	emit_network(b, &p->net);
	emit_credentials(b, p);
	emit_approvals(b, p);
	emit_process(b, &p->process);
}

void policy_emit_yaml(const struct policy *p, struct pc_buf *out)
{
	pc_buf_puts(out, "# effective policy of ");
	policy_emit_comment_text(out, p->file ? p->file : "(unnamed)");
	pc_buf_printf(out, " (sha256 %s)\n", p->hash[0] ? p->hash : "unknown");
	policy_emit_body(p, out);
}
