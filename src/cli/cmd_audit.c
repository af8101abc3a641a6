/* pincer audit: check the audit log's chain, or read it.
 *
 *   pincer audit verify [FILE]
 *   pincer audit tail [-f] [-n N] [--type T] [--agent A] [--run R]
 *                     [--decision D] [--json] [FILE]
 */
#include "cli/cli.h"
#include "audit/audit.h"

#include <getopt.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out, "usage: pincer audit verify [FILE]\n"
		     "       pincer audit tail [-f] [-n N] [--type T] [--agent A] [--run R]\n"
		     "                         [--decision D] [--json] [FILE]\n"
		     "\n"
		     "Every run, every policy decision and every refused act is a record in the\n"
		     "audit log, one JSON object per line. Each record carries the SHA-256 of the\n"
		     "one before it, so changing, removing or reordering any record breaks the\n"
		     "chain; FILE.head beside the log keeps the last seq and hash, so records cut\n"
		     "from the end are noticed too.\n"
		     "\n"
		     "commands:\n"
		     "  verify   check the whole chain; names the first record that is wrong\n"
		     "           exit 0 intact, 1 tampered or truncated, 2 cannot read\n"
		     "  tail     show records, one per line (times in UTC)\n"
		     "\n"
		     "tail options:\n"
		     "  -n, --lines N      the last N matching records (default 10; 'all')\n"
		     "  -f, --follow       keep going: show records as they are appended\n"
		     "      --type T       only these types (comma-separated; 'run' means run.*):\n"
		     "                     run.start run.end policy mount sandbox oom limit\n"
		     "                     egress exfiltration vault approval api\n"
		     "      --decision D   only these decisions: allow deny would-deny hold -\n"
		     "      --agent A      only this agent (comma-separated)\n"
		     "      --run R        only this run (a prefix of its id is enough)\n"
		     "      --json         print the records as stored (JSON Lines)\n"
		     "\n"
		     "FILE defaults to /var/lib/pincer/audit.jsonl for root, else\n"
		     "$XDG_STATE_HOME/pincer/audit.jsonl (~/.local/state/pincer/audit.jsonl).\n"
		     "\n"
		     "examples:\n"
		     "  pincer audit verify\n"
		     "  pincer audit verify ./run/audit.jsonl\n"
		     "  pincer audit tail -n 50 --decision deny,would-deny\n"
		     "  pincer audit tail -f --type egress,exfiltration\n"
		     "  pincer audit tail --run 3f2a91c0 --json | jq .reason\n");
}

static int usage_error(const char *fmt, ...) _printf_(1, 2);

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "pincer: audit: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'pincer audit --help' for usage.\n");
	return PC_EXIT_USAGE;
}

static bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0;
}

/* ---- verify ---------------------------------------------------------------- */

static int cmd_verify(int argc, char **argv)
{
	const char *file = NULL;
	bool dashdash = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!dashdash && is_help(a)) {
			usage(stdout);
			return PC_EXIT_OK;
		}
		if (!dashdash && strcmp(a, "--") == 0) {
			dashdash = true;
		} else if (!dashdash && a[0] == '-' && a[1]) {
			return usage_error("verify: unknown option '%s'", a);
		} else if (file) {
			return usage_error("verify: one FILE at most ('%s' is extra)", a);
		} else {
			file = a;
		}
	}
	_cleanup_free_ char *path = file ? pc_xstrdup(file) : audit_default_path();
	_cleanup_buf_ struct pc_buf report = {0};
	struct audit_summary sum;
	struct pc_error err = {0};
	int r = audit_verify_summary(path, &sum, &report, &err);
	if (r < 0) {
		cli_print_error(&err);
		return PC_EXIT_USAGE;
	}
	if (r == 0) {
		printf("audit log %s: %s\n", path, report.data);
		return PC_EXIT_OK;
	}
	printf("audit log %s: NOT intact: %s\n", path, report.data);
	if (sum.bad_seq > 1 && sum.last_seq > 0)
		printf("records before it (seq 1..%llu) verify; nothing from there on can be "
		       "trusted\n",
		       (unsigned long long)sum.last_seq);
	return PC_EXIT_FAIL;
}

/* ---- tail: filters ----------------------------------------------------------- */

struct filters {
	const char *type, *agent, *run, *decision; /* comma-separated lists */
};

/* Does value match one item of the comma-separated list? mode 0: equal;
 * 1: equal or item followed by '.' (types); 2: item is a prefix (runs). */
static bool list_match(const char *list, const char *value, int mode)
{
	if (!list)
		return true;
	size_t vl = strlen(value);
	for (const char *p = list;;) {
		const char *comma = strchr(p, ',');
		size_t l = comma ? (size_t)(comma - p) : strlen(p);
		if (l > 0) {
			bool hit;
			switch (mode) {
			case 1:
				hit = (vl == l || (vl > l && value[l] == '.')) &&
				      strncmp(value, p, l) == 0;
				break;
			case 2:
				hit = vl >= l && strncmp(value, p, l) == 0;
				break;
			default:
				hit = vl == l && strncmp(value, p, l) == 0;
				break;
			}
			if (hit)
				return true;
		}
		if (!comma)
			return false;
		p = comma + 1;
	}
}

static bool matches(const struct filters *f, const struct audit_record *rec)
{
	return list_match(f->type, rec->type, 1) && list_match(f->agent, rec->agent, 0) &&
	       list_match(f->run, rec->run, 2) && list_match(f->decision, rec->decision, 0);
}

/* ---- tail: printing ------------------------------------------------------------ */

struct out {
	bool json;
	bool color;
};

/* A record's strings come from anywhere (host names, paths, commands):
 * nothing in them may reach the terminal as a control sequence. C0 and C1
 * controls and the bidirectional overrides are shown escaped. */
static void put_safe(struct pc_buf *b, const char *s, bool quote_if_needed)
{
	bool quote = quote_if_needed && (s[0] == '\0' || strpbrk(s, " \"=") != NULL);
	if (quote)
		pc_buf_puts(b, "\"");
	/* newline, tab, backslash and the quote spelled as in C; the rest
	 * made safe for a terminal (cli_put_safe) */
	const char *specials = quote ? "\n\t\\\"" : "\n\t\\";
	for (const char *p = s; *p;) {
		size_t run = strcspn(p, specials);
		cli_put_safe(b, p, run, SIZE_MAX);
		p += run;
		if (!*p)
			break;
		pc_buf_printf(b, "\\%c", *p == '\n' ? 'n' : *p == '\t' ? 't' : *p);
		p++;
	}
	if (quote)
		pc_buf_puts(b, "\"");
}

static void pad(struct pc_buf *b, size_t from, size_t width)
{
	size_t cols = 0; /* UTF-8 aware enough: count lead bytes */
	for (size_t i = from; i < b->len; i++)
		cols += ((unsigned char)b->data[i] & 0xc0) != 0x80;
	do
		pc_buf_puts(b, " ");
	while (++cols < width);
}

static void print_record(const struct out *o, const struct audit_record *rec)
{
	_cleanup_buf_ struct pc_buf b = {0};
	size_t at;

	/* "2026-11-24T03:25:32.123456Z" -> "2026-11-24 03:25:32" */
	pc_buf_printf(&b, "%-6llu %.10s %.8s  ", (unsigned long long)rec->seq, rec->time,
		      rec->time + 11);
	at = b.len;
	put_safe(&b, rec->type, false);
	pad(&b, at, 13);

	const char *d = rec->decision, *shown = d, *color = NULL;
	if (strcmp(d, "deny") == 0)
		shown = "DENY", color = "\033[1;31m";
	else if (strcmp(d, "would-deny") == 0)
		shown = "WOULD-DENY", color = "\033[1;33m";
	else if (strcmp(d, "hold") == 0)
		shown = "HOLD", color = "\033[1;36m";
	if (color && o->color)
		pc_buf_puts(&b, color);
	at = b.len;
	put_safe(&b, shown, false);
	size_t vis = b.len - at;
	if (color && o->color)
		pc_buf_puts(&b, "\033[0m");
	for (; vis < 11; vis++)
		pc_buf_puts(&b, " ");

	/* Long run ids (uuids) are shown by their first 8 characters, as
	 * git shows commits; --run takes such a prefix. */
	pc_buf_puts(&b, "run=");
	at = b.len;
	if (strlen(rec->run) > 12) {
		_cleanup_free_ char *s = pc_xstrndup(rec->run, 8);
		put_safe(&b, s, true);
	} else {
		put_safe(&b, rec->run, true);
	}
	pad(&b, at, 9);
	pc_buf_puts(&b, "agent=");
	at = b.len;
	put_safe(&b, rec->agent, true);
	pad(&b, at, 9);
	pc_buf_puts(&b, " ");
	put_safe(&b, rec->reason, false);
	for (size_t i = 0; i < rec->n_fields; i++) {
		pc_buf_puts(&b, i == 0 ? "  " : " ");
		put_safe(&b, rec->fields[i].key, false);
		pc_buf_puts(&b, "=");
		put_safe(&b, rec->fields[i].value, !rec->fields[i].is_num);
	}
	pc_buf_puts(&b, "\n");
	fwrite(b.data, 1, b.len, stdout);
}

/* Print one line if it is a record that passes the filters. */
static void show(const struct out *o, const struct filters *f, const char *path, const char *line,
		 size_t len, uint64_t lineno)
{
	struct audit_record rec;
	struct pc_error err = {0};
	if (audit_record_parse(line, len, &rec, &err) < 0) {
		fprintf(stderr,
			"pincer: %s line %llu: not a valid record, skipped (%s); run 'pincer "
			"audit verify'\n",
			path, (unsigned long long)lineno, err.msg);
		return;
	}
	if (matches(f, &rec)) {
		if (o->json) {
			fwrite(line, 1, len, stdout);
			fputc('\n', stdout);
		} else {
			print_record(o, &rec);
		}
	}
	audit_record_free(&rec);
}

/* ---- tail ---------------------------------------------------------------------- */

struct ring {
	char **lines;
	size_t *lens;
	uint64_t *linenos;
	size_t cap, n, next;
};

static void ring_free(struct ring *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->lines[i]);
	free(r->lines);
	free(r->lens);
	free(r->linenos);
}

static void ring_push(struct ring *r, const char *line, size_t len, uint64_t lineno)
{
	if (r->cap == 0)
		return;
	if (r->n < r->cap && r->n == r->next) {
		/* still filling: grow the arrays as needed */
		size_t want = r->n + 1;
		r->lines = pc_xrealloc(r->lines, want * sizeof(*r->lines));
		r->lens = pc_xrealloc(r->lens, want * sizeof(*r->lens));
		r->linenos = pc_xrealloc(r->linenos, want * sizeof(*r->linenos));
		r->n++;
	} else {
		free(r->lines[r->next]);
	}
	r->lines[r->next] = pc_xstrndup(line, len);
	r->lens[r->next] = len;
	r->linenos[r->next] = lineno;
	r->next = (r->next + 1) % r->cap;
}

static int cmd_tail(int argc, char **argv)
{
	static const struct option opts[] = {
		{"follow", no_argument, NULL, 'f'},
		{"lines", required_argument, NULL, 'n'},
		{"type", required_argument, NULL, 'T'},
		{"agent", required_argument, NULL, 'A'},
		{"run", required_argument, NULL, 'R'},
		{"decision", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct filters f = {0};
	struct out o = {0};
	bool follow = false;
	size_t count = 10;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":fn:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			follow = true;
			break;
		case 'n': {
			char *end;
			if (strcmp(optarg, "all") == 0) {
				count = SIZE_MAX;
				break;
			}
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-')
				return usage_error("tail: -n wants a number or 'all', not '%s'",
						   optarg);
			count = v > SIZE_MAX ? SIZE_MAX : (size_t)v;
			break;
		}
		case 'T':
			f.type = optarg;
			break;
		case 'A':
			f.agent = optarg;
			break;
		case 'R':
			f.run = optarg;
			break;
		case 'D':
			f.decision = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			return PC_EXIT_OK;
		case ':':
			return usage_error("tail: %s needs a value", argv[optind - 1]);
		default:
			if (strncmp(argv[optind - 1], "--", 2) == 0)
				return usage_error("tail: bad option '%s'", argv[optind - 1]);
			return usage_error("tail: unknown option '-%c'", optopt);
		}
	}
	if (argc - optind > 1)
		return usage_error("tail: one FILE at most ('%s' is extra)", argv[optind + 1]);
	_cleanup_free_ char *path = optind < argc ? pc_xstrdup(argv[optind]) : audit_default_path();
	o.color = !o.json && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");

	struct pc_error err = {0};
	_cleanup_audit_reader_ struct audit_reader *rd = NULL;
	if (audit_reader_open(path, &rd, &err) < 0) {
		cli_print_error(&err);
		return PC_EXIT_USAGE;
	}

	/* What is there now: keep the last `count` matches, then print. */
	struct ring ring = {.cap = count == SIZE_MAX ? 0 : count};
	const char *line;
	size_t len;
	uint64_t lineno;
	int r;
	while ((r = audit_reader_next(rd, &line, &len, &lineno, &err)) > 0) {
		if (count == SIZE_MAX) {
			show(&o, &f, path, line, len, lineno);
			continue;
		}
		struct audit_record rec;
		if (audit_record_parse(line, len, &rec, NULL) == 0) {
			if (matches(&f, &rec))
				ring_push(&ring, line, len, lineno);
			audit_record_free(&rec);
		} else {
			ring_push(&ring, line, len, lineno); /* show() reports it */
		}
	}
	for (size_t i = 0; i < ring.n; i++) {
		size_t k = (ring.next + ring.cap - ring.n + i) % ring.cap;
		show(&o, &f, path, ring.lines[k], ring.lens[k], ring.linenos[k]);
	}
	ring_free(&ring);
	fflush(stdout);
	if (r < 0) {
		cli_print_error(&err);
		return PC_EXIT_FAIL;
	}

	while (follow) {
		if (audit_reader_wait(rd, 1000, &err) < 0) {
			cli_print_error(&err);
			return PC_EXIT_FAIL;
		}
		while ((r = audit_reader_next(rd, &line, &len, &lineno, &err)) > 0)
			show(&o, &f, path, line, len, lineno);
		if (fflush(stdout) == EOF || ferror(stdout))
			return PC_EXIT_OK; /* the reader went away */
		if (r < 0) {
			cli_print_error(&err);
			return PC_EXIT_FAIL;
		}
	}
	return PC_EXIT_OK;
}

int cmd_audit(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return PC_EXIT_USAGE;
	}
	const char *sub = argv[1];
	if (is_help(sub)) {
		usage(stdout);
		return PC_EXIT_OK;
	}
	if (strcmp(sub, "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	if (strcmp(sub, "tail") == 0)
		return cmd_tail(argc - 1, argv + 1);
	return usage_error("unknown command '%s' (verify or tail)", sub);
}
