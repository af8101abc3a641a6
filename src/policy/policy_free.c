/* policy: freeing a policy, every field of it. */
#include "policy/policy_internal.h"

static void rules_free(struct pc_net_rule *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].host);
		free(v[i].ports);
		pc_strv_free(v[i].methods);
		pc_strv_free(v[i].paths);
	}
	free(v);
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	free(p->file);
	free(p->name);
	free(p->hostname);
	pc_paths_free(p->fs.system, p->fs.n_system);
	pc_paths_free(p->fs.read_only, p->fs.n_read_only);
	pc_paths_free(p->fs.read_write, p->fs.n_read_write);
	pc_paths_free(p->fs.deny, p->fs.n_deny);
	free(p->fs.scratch_path);
	free(p->net.upstream_ca);
	rules_free(p->net.allow, p->net.n_allow);
	rules_free(p->net.deny, p->net.n_deny);
	for (size_t i = 0; i < p->net.n_allow_private; i++)
		free(p->net.allow_private[i].spec);
	free(p->net.allow_private);
	for (size_t i = 0; i < p->n_credentials; i++) {
		struct pc_credential *c = &p->credentials[i];
		free(c->name);
		pc_strv_free(c->hosts);
		free(c->header);
		free(c->format);
		free(c->query);
		free(c->placeholder);
		pc_strv_free(c->fallback);
	}
	free(p->credentials);
	for (size_t i = 0; i < p->n_approvals; i++) {
		struct pc_approval_rule *a = &p->approvals[i];
		free(a->host);
		pc_strv_free(a->methods);
		pc_strv_free(a->paths);
		free(a->json_path);
		free(a->json_value);
		pc_strv_free(a->approvers);
	}
	free(p->approvals);
	for (size_t i = 0; i < p->process.n_env; i++) {
		free(p->process.env[i].name);
		free(p->process.env[i].value);
	}
	free(p->process.env);
	pc_strv_free(p->process.seccomp_deny);
	pc_strv_free(p->process.seccomp_log);
	free(p);
}
