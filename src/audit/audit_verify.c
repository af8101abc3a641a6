/* audit: verify a log from its first line to its last, and against
 * FILE.head. Stops at the first problem and names its seq and line.
 *
 * Checked, per line: it ends in '\n' (else the file was cut), it is a
 * well-formed record in the exact format (audit.h), its seq is one more
 * than the previous record's, its hash recomputes from prev and its bytes,
 * and prev is the previous record's hash. At the end: the log's last
 * record is the one FILE.head names (records removed from the end).
 *
 * The size of the log and FILE.head are read together under a shared lock
 * (writers hold it exclusively), then the log is read up to that size
 * without the lock: records are only appended, so that prefix is stable
 * and a long verify never stalls `pincer run`.
 */
#include "audit/audit-internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

struct head_state {
	bool present; /* FILE.head exists and is not empty */
	bool malformed;
	uint64_t seq;
	char hash[AUDIT_HASH_HEX + 1];
};

static int read_head(const char *head_path, struct head_state *h, struct pc_error *err)
{
	*h = (struct head_state){0};
	_cleanup_close_ int fd = open(head_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return pc_error_errno(err, errno, "cannot open %s", head_path);
	char buf[128];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) < 0 && errno == EINTR)
		;
	if (n < 0)
		return pc_error_errno(err, errno, "cannot read %s", head_path);
	if (n == 0)
		return 0;
	h->present = true;
	h->malformed = audit_head_parse(buf, (size_t)n, &h->seq, h->hash) < 0;
	return 0;
}

/* Take the log's size and its head at one instant. */
static int snapshot(const char *path, const char *head_path, uint64_t *size, struct head_state *h,
		    struct pc_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return pc_error_errno(err, errno, "cannot open audit log %s", path);
	struct stat st;
	int r;
	while ((r = flock(fd, LOCK_SH)) < 0 && errno == EINTR)
		;
	/* Without the lock (EOLNOTSUPP on some filesystems) read anyway:
	 * a writer racing us can then only cause a false "head behind". */
	if (fstat(fd, &st) < 0)
		return pc_error_errno(err, errno, "cannot stat %s", path);
	if (!S_ISREG(st.st_mode))
		return pc_error(err, EINVAL, "%s is not a regular file", path);
	*size = (uint64_t)st.st_size;
	r = read_head(head_path, h, err);
	flock(fd, LOCK_UN);
	return r;
}

static int fail(struct audit_summary *sum, struct pc_buf *report, uint64_t seq, uint64_t line,
		const char *fmt, ...) _printf_(5, 6);

static int fail(struct audit_summary *sum, struct pc_buf *report, uint64_t seq, uint64_t line,
		const char *fmt, ...)
{
	sum->bad_seq = seq;
	sum->bad_line = line;
	pc_buf_reset(report);
	if (line)
		pc_buf_printf(report, "seq %llu (line %llu): ", (unsigned long long)seq,
			      (unsigned long long)line);
	va_list ap;
	va_start(ap, fmt);
	pc_buf_vprintf(report, fmt, ap);
	va_end(ap);
	return 1;
}

int audit_verify_summary(const char *path, struct audit_summary *sum, struct pc_buf *report,
			 struct pc_error *err)
{
	*sum = (struct audit_summary){.last_hash = AUDIT_ZERO_HASH};
	_cleanup_free_ char *head_path = pc_xasprintf("%s" AUDIT_HEAD_SUFFIX, path);
	const char *head_name = strrchr(head_path, '/') ? strrchr(head_path, '/') + 1 : head_path;
	uint64_t size = 0;
	struct head_state head;
	int r = snapshot(path, head_path, &size, &head, err);
	if (r < 0)
		return r;

	_cleanup_audit_reader_ struct audit_reader *rd = NULL;
	r = audit_reader_open(path, &rd, err);
	if (r < 0)
		return r;
	audit_reader_set_limit(rd, size);

	bool head_seen = false; /* the record FILE.head names was met */
	const char *line;
	size_t len;
	uint64_t lineno = 0;
	for (;;) {
		r = audit_reader_next(rd, &line, &len, &lineno, err);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		uint64_t want = sum->last_seq + 1;
		struct audit_record rec;
		struct pc_error perr = {0};
		if (audit_record_parse(line, len, &rec, &perr) < 0)
			return fail(sum, report, want, lineno, "malformed record (%s)", perr.msg);
		if (rec.seq != want) {
			uint64_t found = rec.seq;
			audit_record_free(&rec);
			return fail(sum, report, want, lineno, "expected seq %llu, found %llu (%s)",
				    (unsigned long long)want, (unsigned long long)found,
				    found > want ? "record deleted" : "record duplicated or moved");
		}
		bool hash_ok = audit_record_hash_ok(&rec, line);
		bool link_ok = memcmp(rec.prev, sum->last_hash, AUDIT_HASH_HEX) == 0;
		memcpy(sum->last_hash, rec.hash, sizeof(sum->last_hash));
		audit_record_free(&rec);
		if (!hash_ok)
			return fail(sum, report, want, lineno,
				    "hash does not match its content (record altered)");
		if (!link_ok)
			return fail(sum, report, want, lineno,
				    "prev does not match the hash of seq %llu (record "
				    "replaced, inserted or removed before it)",
				    (unsigned long long)want - 1);
		sum->last_seq = want;
		sum->records++;
		if (head.present && !head.malformed && head.seq == want) {
			head_seen = true;
			if (memcmp(head.hash, sum->last_hash, AUDIT_HASH_HEX) != 0)
				return fail(sum, report, want, lineno,
					    "hash differs from the one %s keeps (record "
					    "replaced)",
					    head_name);
		}
	}
	if (audit_reader_pending(rd) > 0)
		return fail(sum, report, sum->last_seq + 1, lineno + 1,
			    "incomplete record, no newline at its end (file truncated or a "
			    "write cut short)");

	sum->head_checked = head.present && !head.malformed;
	if (head.present && head.malformed)
		return fail(sum, report, 0, 0,
			    "%s is malformed (expected one line \"SEQ HASH\"): the end of the log "
			    "cannot be checked",
			    head_name);
	if (sum->head_checked && head.seq > sum->last_seq) {
		uint64_t first = sum->last_seq + 1;
		pc_buf_reset(report);
		sum->bad_seq = first;
		sum->bad_line = lineno + 1;
		if (first == head.seq)
			pc_buf_printf(report, "seq %llu (line %llu): missing",
				      (unsigned long long)first, (unsigned long long)lineno + 1);
		else
			pc_buf_printf(report, "seq %llu..%llu (line %llu on): missing",
				      (unsigned long long)first, (unsigned long long)head.seq,
				      (unsigned long long)lineno + 1);
		pc_buf_printf(report,
			      ": the log ends at seq %llu but %s records seq %llu (truncated: "
			      "records removed from the end)",
			      (unsigned long long)sum->last_seq, head_name,
			      (unsigned long long)head.seq);
		return 1;
	}

	if (sum->head_checked && head.seq == 0 && sum->records > 0)
		return fail(sum, report, 0, 0, "%s records seq 0 but the log holds %llu records",
			    head_name, (unsigned long long)sum->records);

	pc_buf_reset(report);
	if (sum->records == 0)
		pc_buf_puts(report, "0 records, intact (empty)");
	else
		pc_buf_printf(report, "%llu records, intact (last seq %llu, hash %.8s…)",
			      (unsigned long long)sum->records, (unsigned long long)sum->last_seq,
			      sum->last_hash);
	if (!head.present && sum->records > 0)
		pc_buf_printf(report,
			      "\nnote: %s is missing, so records removed from the end of the log "
			      "cannot be detected",
			      head_name);
	else if (sum->head_checked && head.seq < sum->last_seq && head_seen)
		pc_buf_printf(report,
			      "\nnote: %s is behind the log (seq %llu of %llu): a writer stopped "
			      "between appending and updating it; the next record repairs it",
			      head_name, (unsigned long long)head.seq,
			      (unsigned long long)sum->last_seq);
	return 0;
}

int audit_verify(const char *path, struct pc_buf *report, struct pc_error *err)
{
	struct audit_summary sum;
	return audit_verify_summary(path, &sum, report, err);
}
