/* audit: the append-only, hash-chained record of every decision.
 *
 * One JSON object per line (JSON Lines). Every record carries, in this order:
 *   seq, time, type, agent, run, decision, reason, [fields...], prev, hash
 * `hash` is SHA-256 (hex) over the previous record's hash (hex, or 64 zeros
 * for the first record) followed by the record's bytes up to, not including,
 * `,"hash":`. Writers hold an exclusive flock on the log while appending, so
 * several `pincer run`s can share one file. Beside the log, FILE.head keeps
 * the last seq and hash, so removing records from the end is detected too.
 *
 * A line, exactly (no whitespace, keys in this order, strings escaped the
 * way pc_buf_json_string does and nothing else, invalid UTF-8 replaced by
 * U+FFFD before writing):
 *   {"seq":7,"time":"2026-11-24T03:25:32.123456Z","type":"run.end",
 *    "agent":"-","run":"3f2a91c0","decision":"-","reason":"exit 0",
 *    "exit":0,"prev":"<64 hex>","hash":"<64 hex>"}\n
 * FILE.head is one line, "SEQ HASH\n" (mode 0600), rewritten after every
 * append while the lock is held.
 *
 * An audit_log belongs to the process that opened it: after fork() a
 * child that writes reopens the files itself (audit_write does this), as
 * flock() locks are shared by inherited descriptors.
 */
#pragma once

#include "util/util.h"

/* What a record is about. The string forms are what the file holds. */
enum audit_type {
	AUDIT_RUN_START,    /* "run.start" */
	AUDIT_RUN_END,	    /* "run.end" */
	AUDIT_POLICY,	    /* "policy": loaded, rejected, reloaded */
	AUDIT_MOUNT,	    /* "mount": a filesystem grant refused */
	AUDIT_SANDBOX,	    /* "sandbox": a layer applied, degraded or missing */
	AUDIT_OOM,	    /* "oom" */
	AUDIT_LIMIT,	    /* "limit": wall time, pids, ... reached */
	AUDIT_EGRESS,	    /* "egress": a connection or request decided */
	AUDIT_EXFILTRATION, /* "exfiltration" */
	AUDIT_VAULT,	    /* "vault" */
	AUDIT_APPROVAL,	    /* "approval" */
	AUDIT_API,	    /* "api": a forbidden act at the daemon */
	AUDIT_EXEC,	    /* "exec": a process started in a running sandbox */
};

enum audit_decision {
	AUDIT_NONE,	  /* "-": lifecycle records */
	AUDIT_ALLOW,	  /* "allow" */
	AUDIT_DENY,	  /* "deny" */
	AUDIT_WOULD_DENY, /* "would-deny": enforcement: audit */
	AUDIT_HOLD,	  /* "hold" */
};

/* Extra fields after `reason`: string or integer values, in the given order. */
struct audit_field {
	const char *key;
	const char *str; /* used when not NULL */
	long long num;	 /* used when str is NULL */
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

/* A busy writer (the gate: one record per request) defers the fdatasync
 * of decision records: each record still reaches the kernel with write(2)
 * before audit_write returns, so a crash of pincer loses nothing, and
 * audit_sync() makes them durable against a crash of the machine. After
 * every write that leaves work for audit_sync(), soon(arg) is called: the
 * writer promises to run audit_sync() shortly (the gate: within 50 ms, and
 * at exit). soon NULL: every decision record synced at once (default). */
void audit_defer_sync(struct audit_log *log, void (*soon)(void *arg), void *arg);
/* Something for audit_sync() to do: records to make durable, FILE.head to
 * bring up to date. */
bool audit_sync_pending(const struct audit_log *log);
int audit_sync(struct audit_log *log, struct pc_error *err);

/* Count every record this process appends in *counter (a run's stats
 * file, gate/stats.h: shared memory, one writer); NULL: stop. A forked
 * child that writes stops counting (the memory may not be its). */
void audit_count_into(struct audit_log *log, uint64_t *counter);

/* Check a whole log. Returns 0 when intact; 1 when tampered, truncated or
 * malformed, with `report` saying where ("seq 42 (line 42): hash does not
 * match"); negative errno when it cannot be read.
 * When intact, `report` holds a summary ("12 records, intact (last seq 12,
 * hash 3f2a91c0…)"). A log with records but no FILE.head (a copy, or an
 * older log) still verifies (0): the summary then says that records removed
 * from the end cannot be detected. A log that is ahead of its head by
 * records whose chain is intact (a writer stopped between the append and
 * the head update) verifies too, with a note. */
int audit_verify(const char *path, struct pc_buf *report, struct pc_error *err);

/* audit_verify, with the outcome in numbers as well. */
struct audit_summary {
	uint64_t records;   /* complete, valid records before the first problem */
	uint64_t last_seq;  /* seq of the last valid record (0: none) */
	char last_hash[65]; /* its hash (64 zeros: none) */
	bool head_checked;  /* FILE.head was present and compared */
	uint64_t bad_seq;   /* first problem: the seq it concerns (0: intact) */
	uint64_t bad_line;  /* and the line it is on (0: none, e.g. FILE.head) */
};
int audit_verify_summary(const char *path, struct audit_summary *sum, struct pc_buf *report,
			 struct pc_error *err);

/* ---- reading records (verify, tail) ------------------------------------ */

struct audit_record_field {
	const char *key;
	const char *value; /* the string, or the number as written */
	bool is_num;
	long long num;
};

/* One parsed line. Strings are decoded (escapes undone) and point into
 * storage the record owns. */
struct audit_record {
	uint64_t seq;
	const char *time; /* "2026-11-24T03:25:32.123456Z" */
	const char *type, *agent, *run, *decision, *reason;
	struct audit_record_field *fields;
	size_t n_fields;
	char prev[65];
	char hash[65];
	size_t hashed_len; /* bytes of the line the hash covers (up to ,"hash":) */
	char *storage_;
};

/* Parse one line (without its '\n') strictly: the exact format above, or
 * -EBADMSG with a message naming the byte ("byte 12: expected \"time\"").
 * The hash is not checked here. */
int audit_record_parse(const char *line, size_t len, struct audit_record *rec,
		       struct pc_error *err);
void audit_record_free(struct audit_record *rec);
/* Does the record's hash recompute from prev and its bytes? */
bool audit_record_hash_ok(const struct audit_record *rec, const char *line);

/* Reads a log line by line, from the start, and can wait for more
 * (`pincer audit tail -f`). */
struct audit_reader;
int audit_reader_open(const char *path, struct audit_reader **out, struct pc_error *err);
void audit_reader_close(struct audit_reader *r);
static inline void audit_reader_closep(struct audit_reader **r)
{
	if (*r)
		audit_reader_close(*r);
}
#define _cleanup_audit_reader_ _cleanup_(audit_reader_closep)
/* Stop at `limit` bytes (a size taken under the lock), as if the file
 * ended there. */
void audit_reader_set_limit(struct audit_reader *r, uint64_t limit);
/* The next complete line, without its '\n': 1 and *line, *len (valid
 * until the next call), *lineno (1-based); 0 at the end of what is there.
 * An incomplete last line is held back until its newline arrives. */
int audit_reader_next(struct audit_reader *r, const char **line, size_t *len, uint64_t *lineno,
		      struct pc_error *err);
/* Bytes of an incomplete last line held back (0: the file ends in '\n'). */
size_t audit_reader_pending(const struct audit_reader *r);
/* Wait up to timeout_ms for the log to grow. 0 when it may have grown or
 * the time passed; -ESTALE when the file was truncated or replaced. */
int audit_reader_wait(struct audit_reader *r, int timeout_ms, struct pc_error *err);

const char *audit_type_name(enum audit_type t);
const char *audit_decision_name(enum audit_decision d);
