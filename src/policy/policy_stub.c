/* Placeholder until the policy module lands. */
#include "policy/policy.h"
int policy_load(const char *file, struct policy **out, struct pc_error *err)
{
	(void)out;
	return pc_error(err, ENOSYS, "%s: policy files are not supported yet", file);
}
int policy_load_string(const char *text, size_t len, const char *file, struct policy **out,
		       struct pc_error *err)
{
	(void)text, (void)len, (void)out;
	return pc_error(err, ENOSYS, "%s: policy files are not supported yet", file);
}
int policy_default(const char *cwd, struct policy **out, struct pc_error *err)
{
	(void)cwd, (void)out;
	return pc_error(err, ENOSYS, "no default policy yet");
}
void policy_emit_yaml(const struct policy *p, struct pc_buf *out)
{
	(void)p, (void)out;
}
void policy_free(struct policy *p)
{
	free(p);
}
bool policy_glob_match(const char *pattern, const char *path)
{
	return pattern == path;
}
