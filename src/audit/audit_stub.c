/* Placeholder until the audit module lands. */
#include "audit/audit.h"
int audit_open(const char *path, struct audit_log **out, struct pc_error *err)
{
	(void)out;
	return pc_error(err, ENOSYS, "%s: audit not supported yet", path ? path : "-");
}
void audit_close(struct audit_log *log)
{
	(void)log;
}
const char *audit_path(const struct audit_log *log)
{
	(void)log;
	return "";
}
char *audit_default_path(void)
{
	return pc_xstrdup("/dev/null");
}
int audit_write(struct audit_log *log, enum audit_type type, const char *agent, const char *run,
		enum audit_decision decision, const char *reason, const struct audit_field *fields,
		size_t n_fields, struct pc_error *err)
{
	(void)log, (void)type, (void)agent, (void)run, (void)decision, (void)reason, (void)fields,
		(void)n_fields, (void)err;
	return 0;
}
int audit_verify(const char *path, struct pc_buf *report, struct pc_error *err)
{
	(void)report;
	return pc_error(err, ENOSYS, "%s: not supported yet", path);
}
const char *audit_type_name(enum audit_type t)
{
	(void)t;
	return "";
}
const char *audit_decision_name(enum audit_decision d)
{
	(void)d;
	return "";
}
