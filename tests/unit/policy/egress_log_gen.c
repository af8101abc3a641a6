/* egress-log-gen: write egress records, as the gate writes them, into an
 * audit log through the real audit API (the log is hash-chained, so tests
 * cannot write it by hand). For `pincer policy suggest` tests.
 *
 *   egress-log-gen FILE < RECORDS
 *
 * One record per line, fields separated by tabs, "-" for absent:
 *   TYPE AGENT RUN DECISION WHY PROTO HOST PORT METHOD PATH REASON
 * TYPE is egress or run.start; DECISION allow, deny or would-deny. The
 * rule field is "no rule allows it" for why=not-allowed, else
 * "/etc/pincer/p.yaml:7". */
#include "audit/audit.h"

#include <string.h>

static const char *opt(const char *s)
{
	return strcmp(s, "-") == 0 ? NULL : s;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: egress-log-gen FILE < RECORDS\n");
		return 2;
	}
	struct pc_error err = {0};
	_cleanup_audit_ struct audit_log *log = NULL;
	if (audit_open(argv[1], &log, &err) < 0) {
		fprintf(stderr, "egress-log-gen: %s\n", err.msg);
		return 1;
	}
	char line[8192];
	unsigned lineno = 0;
	while (fgets(line, sizeof(line), stdin)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		char *col[11] = {0};
		size_t n = 0;
		for (char *save = NULL, *tok = strtok_r(line, "\t", &save); tok && n < 11;
		     tok = strtok_r(NULL, "\t", &save))
			col[n++] = tok;
		if (n != 11) {
			fprintf(stderr, "egress-log-gen: line %u: %zu fields, want 11\n", lineno,
				n);
			return 2;
		}
		enum audit_decision d = AUDIT_NONE;
		for (int i = AUDIT_NONE; i <= AUDIT_HOLD; i++)
			if (strcmp(col[3], audit_decision_name((enum audit_decision)i)) == 0)
				d = (enum audit_decision)i;
		enum audit_type t = strcmp(col[0], "egress") == 0 ? AUDIT_EGRESS : AUDIT_RUN_START;
		const char *why = opt(col[4]);
		struct audit_field f[7];
		size_t k = 0;
		if (t == AUDIT_EGRESS) {
			f[k++] = AUDIT_STR("host", col[6]);
			f[k++] = AUDIT_NUM("port", strtol(col[7], NULL, 10));
			if (opt(col[8]))
				f[k++] = AUDIT_STR("method", col[8]);
			if (opt(col[9]))
				f[k++] = AUDIT_STR("path", col[9]);
			f[k++] = AUDIT_STR("proto", col[5]);
			f[k++] = AUDIT_STR("rule", why && strcmp(why, "not-allowed") == 0
							   ? "no rule allows it"
							   : "/etc/pincer/p.yaml:7");
			if (why)
				f[k++] = AUDIT_STR("why", why);
		}
		if (audit_write(log, t, col[1], col[2], d, col[10], f, k, &err) < 0) {
			fprintf(stderr, "egress-log-gen: %s\n", err.msg);
			return 1;
		}
	}
	return 0;
}
