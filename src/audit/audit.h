/* audit: the append-only, hash-chained record of every decision.
 *
 * One JSON object per line (JSON Lines). Every record carries, in this order:
 *   seq, time, type, agent, run, decision, reason, [fields...], prev, hash
 * `hash` is SHA-256 (hex) over the previous record's hash (hex, or 64 zeros
 * for the first record) followed by the record's bytes up to, not including,
 * `,"hash":`. Writers hold an exclusive flock on the log while appending, so
 * several `pincer run`s can share one file. Beside the log, FILE.head keeps
 * the last seq and hash, so removing records from the end is detected too.
 */
#pragma once

#include "util/util.h"

/* What a record is about. The string forms are what the file holds. */
enum audit_type {
	AUDIT_RUN_START,   /* "run.start" */
	AUDIT_RUN_END,     /* "run.end" */
	AUDIT_POLICY,      /* "policy": loaded, rejected, reloaded */
	AUDIT_MOUNT,       /* "mount": a filesystem grant refused */
	AUDIT_SANDBOX,     /* "sandbox": a layer applied, degraded or missing */
	AUDIT_OOM,         /* "oom" */
	AUDIT_LIMIT,       /* "limit": wall time, pids, ... reached */
	AUDIT_EGRESS,      /* "egress": a connection or request decided */
	AUDIT_EXFILTRATION,/* "exfiltration" */
	AUDIT_VAULT,       /* "vault" */
	AUDIT_APPROVAL,    /* "approval" */
	AUDIT_API,         /* "api": a forbidden act at the daemon */
};

enum audit_decision {
	AUDIT_NONE,  /* "-": lifecycle records */
	AUDIT_ALLOW, /* "allow" */
	AUDIT_DENY,  /* "deny" */
	AUDIT_WOULD_DENY, /* "would-deny": enforcement: audit */
	AUDIT_HOLD,  /* "hold" */
};

/* Extra fields after `reason`: string or integer values, in the given order. */
struct audit_field {
	const char *key;
	const char *str; /* used when not NULL */
	long long num;   /* used when str is NULL */
};

#define AUDIT_STR(k, v) ((struct audit_field){.key = (k), .str = (v)})
#define AUDIT_NUM(k, v) ((struct audit_field){.key = (k), .str = NULL, .num = (long long)(v)})

struct audit_log;

/* Open (creating with 0600, and the directory with 0700) the log at path.
 * NULL path means the default: /var/lib/pincer/audit.jsonl for root,
 * $XDG_STATE_HOME/pincer/audit.jsonl (~/.local/state/...) for a user. */
int audit_open(const char *path, struct audit_log **out, struct pc_error *err);
void audit_close(struct audit_log *log);
static inline void audit_closep(struct audit_log **l)
{
	if (*l)
		audit_close(*l);
}
#define _cleanup_audit_ _cleanup_(audit_closep)

const char *audit_path(const struct audit_log *log);
/* The default path (caller frees). */
char *audit_default_path(void);

/* Append one record. `agent` and `run` identify who it is about ("-" if
 * none). Decision records (anything but AUDIT_NONE) are fdatasync'd before
 * this returns; lifecycle records reach the kernel but are not synced. */
int audit_write(struct audit_log *log, enum audit_type type, const char *agent, const char *run,
		enum audit_decision decision, const char *reason, const struct audit_field *fields,
		size_t n_fields, struct pc_error *err);

/* Check a whole log. Returns 0 when intact; 1 when tampered, truncated or
 * malformed, with `report` saying where ("seq 42 (line 42): hash does not
 * match"); negative errno when it cannot be read. */
int audit_verify(const char *path, struct pc_buf *report, struct pc_error *err);

const char *audit_type_name(enum audit_type t);
const char *audit_decision_name(enum audit_decision d);
