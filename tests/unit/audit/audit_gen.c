/* audit-gen: append records to an audit log, for developing and testing
 * verify and tail without a sandbox.
 *
 *   audit-gen FILE N [TYPE [DECISION [REASON]]]
 *
 * Writes N records; TYPE is run.start, run.end or egress (default:
 * alternating run.start / run.end), DECISION one of - allow deny
 * would-deny hold. */
#include "audit/audit.h"

#include <string.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: audit-gen FILE N [TYPE [DECISION [REASON]]]\n");
		return 2;
	}
	long n = strtol(argv[2], NULL, 10);
	const char *type = argc > 3 ? argv[3] : NULL;
	enum audit_decision d = AUDIT_NONE;
	if (argc > 4) {
		for (int i = AUDIT_NONE; i <= AUDIT_HOLD; i++)
			if (strcmp(argv[4], audit_decision_name((enum audit_decision)i)) == 0)
				d = (enum audit_decision)i;
	}
	const char *reason = argc > 5 ? argv[5] : NULL;
	struct pc_error err = {0};
	_cleanup_audit_ struct audit_log *log = NULL;
	if (audit_open(argv[1], &log, &err) < 0) {
		fprintf(stderr, "audit-gen: %s\n", err.msg);
		return 1;
	}
	char run[16];
	snprintf(run, sizeof(run), "%08x", (unsigned)getpid());
	for (long i = 0; i < n; i++) {
		enum audit_type t = i % 2 ? AUDIT_RUN_END : AUDIT_RUN_START;
		if (type && strcmp(type, "run.start") == 0)
			t = AUDIT_RUN_START;
		else if (type && strcmp(type, "run.end") == 0)
			t = AUDIT_RUN_END;
		else if (type && strcmp(type, "egress") == 0)
			t = AUDIT_EGRESS;
		struct audit_field fields[] = {
			AUDIT_STR("command", "/bin/true"),
			AUDIT_NUM("exit", 0),
			AUDIT_NUM("duration_ms", 12),
		};
		const char *why = reason	       ? reason
				  : t == AUDIT_RUN_END ? "exit 0 after 12 ms"
						       : "started";
		if (audit_write(log, t, "-", run, d, why, fields, t == AUDIT_RUN_END ? 3 : 1,
				&err) < 0) {
			fprintf(stderr, "audit-gen: %s\n", err.msg);
			return 1;
		}
	}
	return 0;
}
