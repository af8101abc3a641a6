/* audit: write/verify round trip, escaping, concurrent writers, head
 * recovery, and every kind of tampering verify must name. */
#include "audit/audit-internal.h"
#include "../check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char tmpdir[64];

static char *tpath(const char *name)
{
	return pc_xasprintf("%s/%s", tmpdir, name);
}

static char *slurp(const char *path, size_t *len)
{
	char *data = NULL;
	size_t l = 0;
	if (pc_read_file(path, 1 << 26, &data, &l, NULL) < 0)
		return NULL;
	if (len)
		*len = l;
	return data;
}

static void spit(const char *path, const char *data, size_t len)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(pc_write_all(fd, data, len) == 0);
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	_cleanup_free_ char *d = slurp(from, &len);
	CHECK(d != NULL);
	if (d)
		spit(to, d, len);
}

/* A fresh log with n records of assorted kinds. */
static void make_log(const char *path, int n)
{
	struct pc_error err = {0};
	_cleanup_audit_ struct audit_log *log = NULL;
	CHECK(audit_open(path, &log, &err) == 0);
	if (!log)
		return;
	for (int i = 0; i < n; i++) {
		struct audit_field f[] = {AUDIT_STR("host", "example.com"), AUDIT_NUM("port", 443),
					  AUDIT_NUM("delta", -7)};
		int r = audit_write(log, i % 3 == 0 ? AUDIT_RUN_START : AUDIT_EGRESS, "alice",
				    "3f2a91c0-aaaa-bbbb", i % 3 == 2 ? AUDIT_DENY : AUDIT_NONE,
				    "a reason", f, i % 3 == 0 ? 0 : 3, &err);
		CHECK(r == 0);
	}
}

/* verify: returns its result, with the report and summary out. */
static int verify(const char *path, struct audit_summary *sum, struct pc_buf *report)
{
	struct pc_error err = {0};
	pc_buf_reset(report);
	int r = audit_verify_summary(path, sum, report, &err);
	if (r < 0)
		fprintf(stderr, "verify %s: %s\n", path, err.msg);
	return r;
}

static void test_round_trip(void)
{
	_cleanup_free_ char *dir = tpath("a/b/c");
	_cleanup_free_ char *path = tpath("a/b/c/audit.jsonl");
	_cleanup_free_ char *head = tpath("a/b/c/audit.jsonl.head");
	make_log(path, 7);

	struct stat st;
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(head, &st) == 0 && (st.st_mode & 0777) == 0600);

	_cleanup_buf_ struct pc_buf rep = {0};
	struct audit_summary sum;
	CHECK(verify(path, &sum, &rep) == 0);
	CHECK(sum.records == 7 && sum.last_seq == 7 && sum.head_checked);
	CHECK_CONTAINS(rep.data, "7 records, intact (last seq 7, hash ");

	/* Each line parses back to what was written, chained. */
	_cleanup_free_ char *data = slurp(path, NULL);
	char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
	int n = 0;
	for (char *l = data, *nl; l && (nl = strchr(l, '\n')); l = nl + 1) {
		struct audit_record rec;
		CHECK(audit_record_parse(l, (size_t)(nl - l), &rec, NULL) == 0);
		n++;
		CHECK(rec.seq == (uint64_t)n);
		CHECK(strcmp(rec.prev, prev) == 0);
		CHECK(audit_record_hash_ok(&rec, l));
		CHECK_STR(rec.agent, "alice");
		CHECK_STR(rec.reason, "a reason");
		CHECK(strlen(rec.time) == 27 && rec.time[26] == 'Z');
		if (n == 2) {
			CHECK_STR(rec.type, "egress");
			CHECK(rec.n_fields == 3);
			CHECK_STR(rec.fields[0].key, "host");
			CHECK_STR(rec.fields[0].value, "example.com");
			CHECK(rec.fields[1].is_num && rec.fields[1].num == 443);
			CHECK(rec.fields[2].is_num && rec.fields[2].num == -7);
		}
		if (n == 3)
			CHECK_STR(rec.decision, "deny");
		memcpy(prev, rec.hash, 65);
		audit_record_free(&rec);
	}
	CHECK(n == 7);
	CHECK(strstr(data, "{\"seq\":1,\"time\":\"") == data);
	CHECK_CONTAINS(
		data,
		",\"type\":\"run.start\",\"agent\":\"alice\",\"run\":"
		"\"3f2a91c0-aaaa-bbbb\",\"decision\":\"-\",\"reason\":\"a reason\","
		"\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\","
		"\"hash\":\"");
	CHECK_CONTAINS(data, "\"decision\":\"deny\",\"reason\":\"a reason\",\"host\":"
			     "\"example.com\",\"port\":443,\"delta\":-7,\"prev\":\"");

	/* The head holds the last seq and hash. */
	_cleanup_free_ char *h = slurp(head, NULL);
	CHECK(h && strncmp(h, "7 ", 2) == 0 && strlen(h) == 2 + 64 + 1);
	CHECK(h && strncmp(h + 2, sum.last_hash, 64) == 0);
}

static void test_escaping(void)
{
	_cleanup_free_ char *path = tpath("esc.jsonl");
	static const char odd[] = "say \"hi\" \\ back\nslash\r\ttab \x01\x1b[31m\x7f "
				  "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80";
	struct pc_error err = {0};
	{
		_cleanup_audit_ struct audit_log *log = NULL;
		CHECK(audit_open(path, &log, &err) == 0);
		struct audit_field f[] = {AUDIT_STR("url", "http://x/\"a\"\n"),
					  AUDIT_STR("bad_utf8", "a\xff"
								"b\xc3(\xed\xa0\x80z")};
		CHECK(audit_write(log, AUDIT_POLICY, "ag\"ent", "r\nun", AUDIT_WOULD_DENY, odd, f,
				  2, &err) == 0);
		CHECK(audit_write(log, AUDIT_API, NULL, NULL, AUDIT_HOLD, "", NULL, 0, &err) == 0);
	}
	size_t len;
	_cleanup_free_ char *data = slurp(path, &len);
	CHECK(data != NULL);
	if (!data)
		return;
	/* Exactly two lines: no raw newline or control byte escaped the line. */
	int lines = 0;
	for (size_t i = 0; i < len; i++) {
		lines += data[i] == '\n';
		CHECK(data[i] == '\n' || (unsigned char)data[i] >= 0x20);
		CHECK((unsigned char)data[i] != 0x7f);
	}
	CHECK(lines == 2);
	CHECK_CONTAINS(data,
		       "\"reason\":\"say \\\"hi\\\" \\\\ back\\nslash\\r\\ttab "
		       "\\u0001\\u001b[31m\\u007f h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80\"");
	/* Invalid UTF-8 became U+FFFD, one per bad byte. */
	CHECK_CONTAINS(data, "\"bad_utf8\":\"a\xef\xbf\xbd"
			     "b\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd"
			     "\xef\xbf\xbdz\"");

	char *nl = strchr(data, '\n');
	struct audit_record rec;
	CHECK(audit_record_parse(data, (size_t)(nl - data), &rec, &err) == 0);
	CHECK_STR(rec.reason, odd);
	CHECK_STR(rec.agent, "ag\"ent");
	CHECK_STR(rec.run, "r\nun");
	CHECK_STR(rec.decision, "would-deny");
	CHECK_STR(rec.type, "policy");
	CHECK_STR(rec.fields[0].value, "http://x/\"a\"\n");
	audit_record_free(&rec);
	CHECK(audit_record_parse(nl + 1, len - (size_t)(nl + 1 - data) - 1, &rec, &err) == 0);
	CHECK_STR(rec.agent, "-");
	CHECK_STR(rec.reason, "");
	CHECK_STR(rec.decision, "hold");
	audit_record_free(&rec);

	_cleanup_buf_ struct pc_buf rep = {0};
	struct audit_summary sum;
	CHECK(verify(path, &sum, &rep) == 0 && sum.records == 2);
}

static void test_bad_input(void)
{
	_cleanup_free_ char *path = tpath("bad.jsonl");
	struct pc_error err = {0};
	_cleanup_audit_ struct audit_log *log = NULL;
	CHECK(audit_open(path, &log, &err) == 0);
	struct audit_field f1[] = {AUDIT_STR("hash", "x")};
	CHECK(audit_write(log, AUDIT_API, "-", "-", AUDIT_DENY, "r", f1, 1, &err) == -EINVAL);
	struct audit_field f2[] = {AUDIT_STR("Bad Key", "x")};
	CHECK(audit_write(log, AUDIT_API, "-", "-", AUDIT_DENY, "r", f2, 1, &err) == -EINVAL);
	CHECK(audit_write(log, (enum audit_type)99, "-", "-", AUDIT_DENY, "r", NULL, 0, &err) ==
	      -EINVAL);
	CHECK(audit_write(log, AUDIT_API, "-", "-", (enum audit_decision)99, "r", NULL, 0, &err) ==
	      -EINVAL);
	_cleanup_buf_ struct pc_buf rep = {0};
	struct audit_summary sum;
	CHECK(verify(path, &sum, &rep) == 0 && sum.records == 0);
	CHECK_CONTAINS(rep.data, "0 records, intact");

	CHECK_STR(audit_type_name(AUDIT_RUN_END), "run.end");
	CHECK_STR(audit_type_name(AUDIT_EXFILTRATION), "exfiltration");
	CHECK_STR(audit_decision_name(AUDIT_WOULD_DENY), "would-deny");
	CHECK_STR(audit_decision_name(AUDIT_NONE), "-");
}

static void test_refusals(void)
{
	_cleanup_free_ char *real = tpath("real.jsonl");
	_cleanup_free_ char *link = tpath("link.jsonl");
	_cleanup_free_ char *ww = tpath("ww.jsonl");
	struct pc_error err = {0};
	make_log(real, 1);
	CHECK(symlink(real, link) == 0);
	struct audit_log *log = NULL;
	CHECK(audit_open(link, &log, &err) == -ELOOP);
	CHECK_CONTAINS(err.msg, "symbolic link");
	spit(ww, "", 0);
	CHECK(chmod(ww, 0666) == 0);
	CHECK(audit_open(ww, &log, &err) == -EPERM);
	CHECK_CONTAINS(err.msg, "world-writable");
	CHECK(log == NULL);

	/* The default path follows root / XDG_STATE_HOME / HOME. */
	if (geteuid() != 0) {
		setenv("XDG_STATE_HOME", "/x/state", 1);
		_cleanup_free_ char *p1 = audit_default_path();
		CHECK_STR(p1, "/x/state/pincer/audit.jsonl");
		unsetenv("XDG_STATE_HOME");
		setenv("HOME", "/home/u", 1);
		_cleanup_free_ char *p2 = audit_default_path();
		CHECK_STR(p2, "/home/u/.local/state/pincer/audit.jsonl");
	} else {
		_cleanup_free_ char *p = audit_default_path();
		CHECK_STR(p, "/var/lib/pincer/audit.jsonl");
	}
}

static void writer(const char *path, int id, int n, struct audit_log *shared)
{
	struct pc_error err = {0};
	struct audit_log *log = shared;
	if (!log && audit_open(path, &log, &err) < 0)
		_exit(10);
	char run[16];
	snprintf(run, sizeof(run), "w%d", id);
	for (int i = 0; i < n; i++) {
		struct audit_field f[] = {AUDIT_NUM("i", i),
					  AUDIT_STR("pad", "xxxxxxxxxxxxxxxxxxxx")};
		if (audit_write(log, AUDIT_EGRESS, "-", run, i % 5 ? AUDIT_NONE : AUDIT_ALLOW,
				"concurrent", f, 2, &err) < 0)
			_exit(11);
	}
	_exit(0);
}

static void run_writers(const char *path, int procs, int n, struct audit_log *shared)
{
	for (int p = 0; p < procs; p++) {
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			writer(path, p, n, shared);
	}
	for (int p = 0; p < procs; p++) {
		int status;
		CHECK(wait(&status) > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

static void test_concurrency(void)
{
	_cleanup_free_ char *path = tpath("conc.jsonl");
	run_writers(path, 8, 50, NULL);
	_cleanup_buf_ struct pc_buf rep = {0};
	struct audit_summary sum;
	CHECK(verify(path, &sum, &rep) == 0);
	CHECK(sum.records == 400 && sum.head_checked);
	if (sum.records != 400)
		fprintf(stderr, "concurrency: %s\n", rep.data);

	/* A handle opened before fork(): each child must lock on its own. */
	_cleanup_free_ char *path2 = tpath("conc2.jsonl");
	struct pc_error err = {0};
	_cleanup_audit_ struct audit_log *log = NULL;
	CHECK(audit_open(path2, &log, &err) == 0);
	CHECK(audit_write(log, AUDIT_RUN_START, "-", "parent", AUDIT_NONE, "x", NULL, 0, &err) ==
	      0);
	run_writers(path2, 6, 40, log);
	CHECK(audit_write(log, AUDIT_RUN_END, "-", "parent", AUDIT_NONE, "x", NULL, 0, &err) == 0);
	CHECK(verify(path2, &sum, &rep) == 0);
	CHECK(sum.records == 242);
}

static void test_head_recovery(void)
{
	_cleanup_free_ char *path = tpath("rec.jsonl");
	_cleanup_free_ char *head = tpath("rec.jsonl.head");
	_cleanup_buf_ struct pc_buf rep = {0};
	struct audit_summary sum;
	make_log(path, 3);

	/* Head gone: verify still passes with a note; the next write
	 * recovers the chain from the log's last line and restores it. */
	CHECK(unlink(head) == 0);
	CHECK(verify(path, &sum, &rep) == 0 && !sum.head_checked);
	CHECK_CONTAINS(rep.data, "cannot be detected");
	make_log(path, 1);
	CHECK(verify(path, &sum, &rep) == 0 && sum.records == 4 && sum.head_checked);

	/* Head behind (a writer stopped between append and head update). */
	_cleanup_free_ char *h4 = slurp(head, NULL);
	make_log(path, 1);
	spit(head, h4, strlen(h4));
	CHECK(verify(path, &sum, &rep) == 0 && sum.records == 5);
	CHECK_CONTAINS(rep.data, "behind the log");
	make_log(path, 1);
	CHECK(verify(path, &sum, &rep) == 0 && sum.records == 6);
	_cleanup_free_ char *h6 = slurp(head, NULL);
	CHECK(h6 && strncmp(h6, "6 ", 2) == 0);

	/* An empty head file (created, never written) counts as missing. */
	spit(head, "", 0);
	make_log(path, 1);
	CHECK(verify(path, &sum, &rep) == 0 && sum.records == 7 && sum.head_checked);

	/* A torn last line: the next record starts on a line of its own,
	 * and verify names the torn one. */
	_cleanup_free_ char *torn = tpath("torn.jsonl");
	_cleanup_free_ char *torn_head = tpath("torn.jsonl.head");
	make_log(torn, 2);
	{
		_cleanup_close_ int fd = open(torn, O_WRONLY | O_APPEND | O_CLOEXEC);
		CHECK(pc_write_all(fd, "{\"seq\":3,\"ti", 12) == 0);
	}
	make_log(torn, 1);
	CHECK(verify(torn, &sum, &rep) == 1 && sum.bad_seq == 3 && sum.bad_line == 3);
	CHECK_CONTAINS(rep.data, "seq 3 (line 3): malformed record");
	_cleanup_free_ char *th = slurp(torn_head, NULL);
	CHECK(th && strncmp(th, "3 ", 2) == 0);

	/* Records removed from the end: the writer continues from the head,
	 * so the gap stays visible instead of being papered over. */
	_cleanup_free_ char *cut = tpath("cut.jsonl");
	make_log(cut, 4);
	size_t len;
	_cleanup_free_ char *d = slurp(cut, &len);
	char *third = d;
	for (int i = 0; i < 3; i++)
		third = strchr(third, '\n') + 1;
	CHECK(truncate(cut, third - d) == 0);
	make_log(cut, 1);
	CHECK(verify(cut, &sum, &rep) == 1 && sum.bad_seq == 4);
	CHECK_CONTAINS(rep.data, "expected seq 4, found 5");
}

/* Line i (1-based) of data: offset and length (with '\n'). */
static size_t line_at(const char *data, int i, size_t *len)
{
	const char *p = data;
	for (int k = 1; k < i; k++)
		p = strchr(p, '\n') + 1;
	*len = (size_t)(strchr(p, '\n') - p) + 1;
	return (size_t)(p - data);
}

static void test_tamper(void)
{
	_cleanup_free_ char *orig = tpath("orig.jsonl");
	_cleanup_free_ char *orig_head = tpath("orig.jsonl.head");
	_cleanup_free_ char *t = tpath("t.jsonl");
	_cleanup_free_ char *t_head = tpath("t.jsonl.head");
	make_log(orig, 6);
	size_t len;
	_cleanup_free_ char *d = slurp(orig, &len);
	_cleanup_buf_ struct pc_buf rep = {0};
	_cleanup_buf_ struct pc_buf m = {0};
	struct audit_summary sum;
	size_t o3, l3, o4, l4, o6, l6;
	o3 = line_at(d, 3, &l3);
	o4 = line_at(d, 4, &l4);
	o6 = line_at(d, 6, &l6);
	copy_file(orig_head, t_head);

	/* Altered: "a reason" -> "A reason" in record 4. */
	pc_buf_reset(&m);
	pc_buf_append(&m, d, len);
	char *r = strstr(m.data + o4, "a reason");
	*r = 'A';
	spit(t, m.data, m.len);
	CHECK(verify(t, &sum, &rep) == 1 && sum.bad_seq == 4 && sum.bad_line == 4);
	CHECK_CONTAINS(rep.data,
		       "seq 4 (line 4): hash does not match its content (record altered)");
	CHECK(sum.records == 3);

	/* Altered and re-hashed: the next record's prev no longer links. */
	struct audit_record rec;
	CHECK(audit_record_parse(m.data + o4, l4 - 1, &rec, NULL) == 0);
	char hex[65];
	audit_hash(rec.prev, m.data + o4, rec.hashed_len, hex);
	memcpy(m.data + o4 + l4 - 1 - 2 - 64, hex, 64);
	audit_record_free(&rec);
	spit(t, m.data, m.len);
	CHECK(verify(t, &sum, &rep) == 1 && sum.bad_seq == 5);
	CHECK_CONTAINS(rep.data, "seq 5 (line 5): prev does not match the hash of seq 4");

	/* Deleted in the middle. */
	pc_buf_reset(&m);
	pc_buf_append(&m, d, o3);
	pc_buf_append(&m, d + o4, len - o4);
	spit(t, m.data, m.len);
	CHECK(verify(t, &sum, &rep) == 1 && sum.bad_seq == 3);
	CHECK_CONTAINS(rep.data, "seq 3 (line 3): expected seq 3, found 4 (record deleted)");

	/* Swapped. */
	pc_buf_reset(&m);
	pc_buf_append(&m, d, o3);
	pc_buf_append(&m, d + o4, l4);
	pc_buf_append(&m, d + o3, l3);
	pc_buf_append(&m, d + o4 + l4, len - o4 - l4);
	spit(t, m.data, m.len);
	CHECK(verify(t, &sum, &rep) == 1 && sum.bad_seq == 3);
	CHECK_CONTAINS(rep.data, "expected seq 3, found 4");

	/* Duplicated. */
	pc_buf_reset(&m);
	pc_buf_append(&m, d, o4);
	pc_buf_append(&m, d + o3, len - o3);
	spit(t, m.data, m.len);
	CHECK(verify(t, &sum, &rep) == 1 && sum.bad_seq == 4);
	CHECK_CONTAINS(rep.data, "expected seq 4, found 3 (record duplicated or moved)");

	/* Truncated mid-line. */
	spit(t, d, o4 + 20);
	CHECK(verify(t, &sum, &rep) == 1 && sum.bad_seq == 4 && sum.bad_line == 4);
	CHECK_CONTAINS(rep.data, "seq 4 (line 4): incomplete record");

	/* Last records removed at a line boundary: caught by the head. */
	spit(t, d, o4);
	CHECK(verify(t, &sum, &rep) == 1 && sum.bad_seq == 4);
	CHECK_CONTAINS(rep.data, "seq 4..6 (line 4 on): missing: the log ends at seq 3");
	spit(t, d, o6);
	CHECK(verify(t, &sum, &rep) == 1 && sum.bad_seq == 6);
	CHECK_CONTAINS(rep.data, "seq 6 (line 6): missing");
	spit(t, "", 0);
	CHECK(verify(t, &sum, &rep) == 1 && sum.bad_seq == 1);

	/* Last record replaced by a well-formed, correctly chained forgery. */
	pc_buf_reset(&m);
	pc_buf_append(&m, d, len);
	r = strstr(m.data + o6, "a reason");
	*r = 'A';
	CHECK(audit_record_parse(m.data + o6, l6 - 1, &rec, NULL) == 0);
	audit_hash(rec.prev, m.data + o6, rec.hashed_len, hex);
	audit_record_free(&rec);
	memcpy(m.data + o6 + l6 - 1 - 2 - 64, hex, 64);
	spit(t, m.data, m.len);
	CHECK(verify(t, &sum, &rep) == 1 && sum.bad_seq == 6);
	CHECK_CONTAINS(rep.data, "seq 6 (line 6): hash differs from the one t.jsonl.head keeps");

	/* A malformed head. */
	spit(t, d, len);
	spit(t_head, "12 nothex\n", 10);
	CHECK(verify(t, &sum, &rep) == 1);
	CHECK_CONTAINS(rep.data, "t.jsonl.head is malformed");
	copy_file(orig_head, t_head);
	CHECK(verify(t, &sum, &rep) == 0);

	/* Every single byte changed, three ways: caught, and blamed on the
	 * record that holds the byte. */
	int missed = 0;
	for (size_t off = 0; off < len; off++) {
		int holder = 1;
		for (size_t k = 0; k < off; k++)
			holder += d[k] == '\n';
		static const unsigned char flips[] = {0x01, 0x20, 0x80};
		for (size_t f = 0; f < sizeof(flips); f++) {
			pc_buf_reset(&m);
			pc_buf_append(&m, d, len);
			m.data[off] = (char)(m.data[off] ^ flips[f]);
			spit(t, m.data, m.len);
			int res = verify(t, &sum, &rep);
			if (res != 1 || sum.bad_seq != (uint64_t)holder) {
				if (missed++ < 5)
					fprintf(stderr, "flip %#x at %zu (seq %d): %d %s\n",
						flips[f], off, holder, res, rep.data);
			}
		}
	}
	CHECK(missed == 0);
}

static void test_parser_strict(void)
{
	_cleanup_free_ char *path = tpath("strict.jsonl");
	make_log(path, 1);
	size_t len;
	_cleanup_free_ char *d = slurp(path, &len);
	struct audit_record rec;
	struct pc_error err = {0};
	CHECK(audit_record_parse(d, len - 1, &rec, &err) == 0);
	audit_record_free(&rec);

	static const struct {
		const char *from, *to;
	} edits[] = {
		{"\"seq\":1", "\"seq\": 1"},
		{"\"seq\":1", "\"seq\":01"},
		{"\"alice\"", "\"\\u0061lice\""},
		{"\"alice\"", "\"al\\/ice\""},
		{",\"agent\"", ", \"agent\""},
		{"\"decision\":\"-\"", "\"decision\":\"DENY\""},
		{"\"type\":\"run.start\"", "\"type\":\"\""},
		{"\"reason\":\"a reason\"", "\"reason\":\"a\x01reason\""},
	};
	for (size_t i = 0; i < PC_ARRAY_SIZE(edits); i++) {
		_cleanup_buf_ struct pc_buf m = {0};
		char *at = strstr(d, edits[i].from);
		CHECK(at != NULL);
		if (!at)
			continue;
		pc_buf_append(&m, d, (size_t)(at - d));
		pc_buf_puts(&m, edits[i].to);
		pc_buf_puts(&m, at + strlen(edits[i].from));
		int r = audit_record_parse(m.data, m.len - 1, &rec, &err);
		CHECK(r == -EBADMSG);
		if (r == 0) {
			fprintf(stderr, "accepted: %s\n", edits[i].to);
			audit_record_free(&rec);
		}
	}
	CHECK(audit_record_parse("{\"seq\":1}", 9, &rec, &err) == -EBADMSG);
	CHECK_CONTAINS(err.msg, "byte 9: expected ',\"time\":'");
}

static void rm_rf(const char *dir)
{
	_cleanup_free_ char *cmd = pc_xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pincer-audit-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	test_round_trip();
	test_escaping();
	test_bad_input();
	test_refusals();
	test_concurrency();
	test_head_recovery();
	test_tamper();
	test_parser_strict();
	if (!check_failures)
		rm_rf(tmpdir);
	else
		fprintf(stderr, "left %s for inspection\n", tmpdir);
	CHECK_DONE();
}
