/* audit: opening the log and appending records to its chain.
 *
 * Appending, with an exclusive flock on the log held throughout:
 *   1. learn the chain's end (seq, hash) from FILE.head, checked cheaply
 *      against the log's last bytes; recover from the log's last line
 *      when the head is missing or behind (a writer stopped in between);
 *   2. build the line and hash it;
 *   3. append it with one write(2) (O_APPEND), rewrite FILE.head;
 *   4. for decision records, fdatasync both before returning.
 * The common case costs an fstat, two short preads, a write and a pwrite:
 * `pincer run` writes two records per run and its start-up is benchmarked.
 */
#include "audit/audit-internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

struct audit_log {
	char *path;
	char *head_path;
	int fd;			      /* O_RDWR | O_APPEND */
	int head_fd;		      /* O_RDWR */
	pid_t pid;		      /* the process the descriptors (and their locks) belong to */
	bool defer_sync;	      /* decision records synced by audit_sync(), not each write */
	void (*sync_soon)(void *arg); /* told whenever audit_sync() has work */
	void *sync_arg;
	bool unsynced; /* written since the last sync */
	/* The chain's end as of our last append: while the log still has the
	 * size we left it at, nobody appended since, and the head and tail need
	 * not be read again (a busy gate writes a record per request). */
	bool cached;
	off_t cached_size;
	uint64_t cached_seq;
	char cached_hash[AUDIT_HASH_HEX + 1];
	size_t cached_head_len;
	bool head_dirty; /* deferred: FILE.head is written by audit_sync() */
	uint64_t *counter; /* records appended, counted here too (audit_count_into) */
	struct pc_buf line;
	struct pc_buf tmp;
};

static const char *const type_names[] = {
	[AUDIT_RUN_START] = "run.start",
	[AUDIT_RUN_END] = "run.end",
	[AUDIT_POLICY] = "policy",
	[AUDIT_MOUNT] = "mount",
	[AUDIT_SANDBOX] = "sandbox",
	[AUDIT_OOM] = "oom",
	[AUDIT_LIMIT] = "limit",
	[AUDIT_EGRESS] = "egress",
	[AUDIT_EXFILTRATION] = "exfiltration",
	[AUDIT_VAULT] = "vault",
	[AUDIT_APPROVAL] = "approval",
	[AUDIT_API] = "api",
	[AUDIT_EXEC] = "exec",
};

static const char *const decision_names[] = {
	[AUDIT_NONE] = "-",    [AUDIT_ALLOW] = "allow",
	[AUDIT_DENY] = "deny", [AUDIT_WOULD_DENY] = "would-deny",
	[AUDIT_HOLD] = "hold",
};

const char *audit_type_name(enum audit_type t)
{
	if ((unsigned)t >= PC_ARRAY_SIZE(type_names))
		return NULL;
	return type_names[t];
}

const char *audit_decision_name(enum audit_decision d)
{
	if ((unsigned)d >= PC_ARRAY_SIZE(decision_names))
		return NULL;
	return decision_names[d];
}

char *audit_default_path(void)
{
	return pc_state_file("audit.jsonl");
}

const char *audit_path(const struct audit_log *log)
{
	return log->path;
}

/* Open one of our two files for writing, refusing what an attacker could
 * have planted: a symbolic link, something not a regular file, a file
 * anyone may write. */
static int open_private(const char *path, int flags, const char *what, struct pc_error *err)
{
	_cleanup_close_ int fd =
		open(path, flags | O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0 && errno == ELOOP)
		return pc_error(err, ELOOP, "refusing %s %s: it is a symbolic link", what, path);
	if (fd < 0)
		return pc_error_errno(err, errno, "cannot open %s %s", what, path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return pc_error_errno(err, errno, "cannot stat %s", path);
	if (!S_ISREG(st.st_mode))
		return pc_error(err, EINVAL, "refusing %s %s: not a regular file", what, path);
	if (st.st_mode & S_IWOTH)
		return pc_error(err, EPERM,
				"refusing %s %s: it is world-writable, so anyone could rewrite "
				"it (fix with: chmod o-w %s)",
				what, path, path);
	return pc_steal_fd(&fd);
}

static int open_files(struct audit_log *log, struct pc_error *err)
{
	int fd = open_private(log->path, O_APPEND, "audit log", err);
	if (fd == -ENOENT) {
		_cleanup_free_ char *dir = pc_xstrdup(log->path);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			int r = pc_mkdir_p(dir, 0700, err);
			if (r < 0)
				return pc_error_prefix(err, "audit log %s", log->path);
		}
		fd = open_private(log->path, O_APPEND, "audit log", err);
	}
	if (fd < 0)
		return fd;
	log->fd = fd;
	fd = open_private(log->head_path, 0, "audit head", err);
	if (fd < 0)
		return fd;
	log->head_fd = fd;
	log->pid = getpid();
	return 0;
}

static void close_files(struct audit_log *log)
{
	pc_closep(&log->fd);
	pc_closep(&log->head_fd);
	log->fd = log->head_fd = -1;
}

int audit_open(const char *path, struct audit_log **out, struct pc_error *err)
{
	struct audit_log *log = pc_xcalloc(1, sizeof(*log));
	log->fd = log->head_fd = -1;
	log->path = path ? pc_xstrdup(path) : audit_default_path();
	log->head_path = pc_xasprintf("%s" AUDIT_HEAD_SUFFIX, log->path);
	int r = open_files(log, err);
	if (r < 0) {
		audit_close(log);
		return r;
	}
	*out = log;
	return 0;
}

void audit_close(struct audit_log *log)
{
	struct pc_error err = {0};
	if (audit_sync_pending(log) && log->pid == getpid() && audit_sync(log, &err) < 0)
		pc_warn("audit: %s", err.msg);
	close_files(log);
	free(log->path);
	free(log->head_path);
	pc_buf_free(&log->line);
	pc_buf_free(&log->tmp);
	free(log);
}

/* ---- the end of the chain ------------------------------------------------- */

struct chain_end {
	uint64_t seq;
	char hash[AUDIT_HASH_HEX + 1];
};

static int pread_full(int fd, void *buf, size_t n, off_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (int)got;
}

/* The last parsable record among the complete lines of the log's final
 * `size` bytes, reading backwards in growing chunks. 1 found, 0 none. */
static int recover_from_log(int fd, off_t size, struct chain_end *end)
{
	size_t chunk = 64 * 1024;
	for (;;) {
		size_t n = (off_t)chunk < size ? chunk : (size_t)size;
		off_t from = size - (off_t)n;
		_cleanup_free_ char *buf = pc_xmalloc(n);
		int r = pread_full(fd, buf, n, from);
		if (r < 0)
			return r;
		n = (size_t)r;
		/* Drop an incomplete last line; then walk complete lines back. */
		size_t stop = n;
		while (stop > 0 && buf[stop - 1] != '\n')
			stop--;
		while (stop > 0) {
			size_t line_end = stop - 1; /* the '\n' */
			size_t start = line_end;
			while (start > 0 && buf[start - 1] != '\n')
				start--;
			if (start == 0 && from > 0)
				break; /* the line may begin before this chunk */
			struct audit_record rec;
			if (audit_record_parse(buf + start, line_end - start, &rec, NULL) == 0) {
				end->seq = rec.seq;
				memcpy(end->hash, rec.hash, sizeof(end->hash));
				audit_record_free(&rec);
				return 1;
			}
			stop = start;
		}
		if (from == 0 || chunk >= 16 * 1024 * 1024)
			return 0;
		chunk *= 4;
	}
}

/* Where the next record links to. *need_nl: the log does not end in '\n'
 * (a writer died mid-line); the new record then starts on a line of its
 * own and verify reports the broken one. */
static int chain_end(struct audit_log *log, struct chain_end *end, off_t *size, bool *need_nl,
		     size_t *head_len, struct pc_error *err)
{
	struct stat st;
	if (fstat(log->fd, &st) < 0)
		return pc_error_errno(err, errno, "cannot stat %s", log->path);
	*size = st.st_size;
	*need_nl = false;
	if (log->cached && st.st_size == log->cached_size) {
		end->seq = log->cached_seq;
		memcpy(end->hash, log->cached_hash, sizeof(end->hash));
		*head_len = log->cached_head_len;
		return 0;
	}
	log->cached = false;

	char hb[128];
	struct chain_end head = {0};
	int n = pread_full(log->head_fd, hb, sizeof(hb), 0);
	if (n < 0)
		return pc_error_errno(err, -n, "cannot read %s", log->head_path);
	*head_len = (size_t)n;
	bool have_head = n > 0 && audit_head_parse(hb, (size_t)n, &head.seq, head.hash) == 0;

	*end = (struct chain_end){.seq = 0, .hash = AUDIT_ZERO_HASH};
	if (st.st_size == 0) {
		/* Emptied behind our back: keep counting from the head so
		 * verify shows the gap instead of a fresh, clean chain. */
		if (have_head)
			*end = head;
		return 0;
	}

	char tail[AUDIT_TAIL_LEN];
	if (have_head && st.st_size >= (off_t)sizeof(tail)) {
		n = pread_full(log->fd, tail, sizeof(tail), st.st_size - (off_t)sizeof(tail));
		if (n < 0)
			return pc_error_errno(err, -n, "cannot read %s", log->path);
		if (n == (int)sizeof(tail) && memcmp(tail, "\"hash\":\"", 8) == 0 &&
		    memcmp(tail + 8, head.hash, AUDIT_HASH_HEX) == 0 &&
		    memcmp(tail + 8 + AUDIT_HASH_HEX, "\"}\n", 3) == 0) {
			*end = head;
			return 0;
		}
	}

	/* Slow path: the head is missing, stale or disagrees. */
	char last;
	n = pread_full(log->fd, &last, 1, st.st_size - 1);
	if (n < 0)
		return pc_error_errno(err, -n, "cannot read %s", log->path);
	*need_nl = n == 1 && last != '\n';
	struct chain_end found;
	int r = recover_from_log(log->fd, st.st_size, &found);
	if (r < 0)
		return pc_error_errno(err, -r, "cannot read %s", log->path);
	if (have_head && !(r > 0 && found.seq > head.seq))
		*end = head; /* records vanished from the end: keep the evidence */
	else if (r > 0)
		*end = found; /* no head, or a writer stopped before updating it */
	return 0;
}

/* ---- building and appending a record -------------------------------------- */

/* s, with every byte that is not part of valid UTF-8 replaced by U+FFFD,
 * so that each line stays valid JSON. Returns s itself when it is clean. */
static const char *utf8_clean(const char *s, struct pc_buf *tmp)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;
	while (i < n) {
		size_t l = audit_utf8_len(p + i, n - i);
		if (l == 0)
			break;
		i += l;
	}
	if (i == n)
		return s;
	pc_buf_reset(tmp);
	pc_buf_append(tmp, s, i);
	while (i < n) {
		size_t l = audit_utf8_len(p + i, n - i);
		if (l == 0) {
			pc_buf_puts(tmp, "\xef\xbf\xbd");
			i++;
		} else {
			pc_buf_append(tmp, p + i, l);
			i += l;
		}
	}
	return tmp->data;
}

static void put_string(struct audit_log *log, const char *s)
{
	pc_buf_json_string(&log->line, utf8_clean(s ? s : "-", &log->tmp));
}

static void format_time(char out[32])
{
	uint64_t ns = pc_realtime_ns();
	time_t secs = (time_t)(ns / 1000000000ULL);
	unsigned usec = (unsigned)(ns % 1000000000ULL / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t l = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + l, 32 - l, ".%06uZ", usec);
}

static void unlockp(int *fd)
{
	if (*fd >= 0)
		flock(*fd, LOCK_UN);
}

/* FILE.head <- the cached end of the chain. Called with the lock held. */
static int write_head(struct audit_log *log, struct pc_error *err)
{
	char head[96];
	int hl = snprintf(head, sizeof(head), "%llu %s\n", (unsigned long long)log->cached_seq,
			  log->cached_hash);
	ssize_t w = pwrite(log->head_fd, head, (size_t)hl, 0);
	if (w != hl) {
		log->cached = false;
		return pc_error_errno(err, w < 0 ? errno : EIO, "cannot update %s", log->head_path);
	}
	if (log->cached_head_len > (size_t)hl && ftruncate(log->head_fd, hl) < 0) {
		log->cached = false;
		return pc_error_errno(err, errno, "cannot update %s", log->head_path);
	}
	log->cached_head_len = (size_t)hl;
	return 0;
}

static int sync_files(struct audit_log *log, struct pc_error *err)
{
	if (fdatasync(log->fd) < 0)
		return pc_error_errno(err, errno, "cannot sync %s", log->path);
	if (fdatasync(log->head_fd) < 0)
		return pc_error_errno(err, errno, "cannot sync %s", log->head_path);
	log->unsynced = false;
	return 0;
}

static int write_record(struct audit_log *log, enum audit_type type, const char *agent,
			const char *run, enum audit_decision decision, const char *reason,
			const struct audit_field *fields, size_t n_fields, struct pc_error *err)
{
	const char *type_s = audit_type_name(type);
	const char *decision_s = audit_decision_name(decision);
	if (!type_s)
		return pc_error(err, EINVAL, "audit: unknown record type %d", (int)type);
	if (!decision_s)
		return pc_error(err, EINVAL, "audit: unknown decision %d", (int)decision);
	for (size_t i = 0; i < n_fields; i++)
		if (!fields[i].key || !audit_field_key_ok(fields[i].key))
			return pc_error(err, EINVAL,
					"audit: '%s' cannot name a field (use [a-z0-9_.-], not a "
					"fixed key)",
					fields[i].key ? fields[i].key : "(null)");

	if (log->pid != getpid()) {
		/* A forked child: the inherited descriptors share the parent's
		 * lock, so get our own. */
		close_files(log);
		log->cached = log->head_dirty = log->unsynced = false;
		log->counter = NULL;
		int r = open_files(log, err);
		if (r < 0)
			return r;
	}

	/* The lock is taken per record, never kept: a stopped pincer must not
	 * hold up every other writer of the log. */
	int r;
	while ((r = flock(log->fd, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return pc_error_errno(err, errno, "cannot lock %s", log->path);
	_cleanup_(unlockp) int locked = log->fd;

	struct chain_end end;
	off_t size = 0;
	bool need_nl = false;
	size_t head_len = 0;
	r = chain_end(log, &end, &size, &need_nl, &head_len, err);
	if (r < 0)
		return r;

	char when[32];
	format_time(when);
	struct pc_buf *b = &log->line;
	pc_buf_reset(b);
	if (need_nl)
		pc_buf_puts(b, "\n");
	size_t start = b->len;
	pc_buf_printf(b, "{\"seq\":%llu,\"time\":\"%s\",\"type\":\"%s\",\"agent\":",
		      (unsigned long long)end.seq + 1, when, type_s);
	put_string(log, agent);
	pc_buf_puts(b, ",\"run\":");
	put_string(log, run);
	pc_buf_printf(b, ",\"decision\":\"%s\",\"reason\":", decision_s);
	put_string(log, reason);
	for (size_t i = 0; i < n_fields; i++) {
		pc_buf_printf(b, ",\"%s\":", fields[i].key);
		if (fields[i].str)
			put_string(log, fields[i].str);
		else
			pc_buf_printf(b, "%lld", fields[i].num);
	}
	pc_buf_printf(b, ",\"prev\":\"%s\"", end.hash);
	char hash[AUDIT_HASH_HEX + 1];
	audit_hash(end.hash, b->data + start, b->len - start, hash);
	pc_buf_printf(b, AUDIT_HASH_KEY "%s\"}\n", hash);

	r = pc_write_all(log->fd, b->data, b->len);
	if (r < 0) {
		/* Take back a partial line so the chain stays readable. */
		int saved = -r;
		if (ftruncate(log->fd, size) < 0)
			return pc_error_errno(err, saved,
					      "cannot append to %s (and a partial record remains)",
					      log->path);
		return pc_error_errno(err, saved, "cannot append to %s", log->path);
	}

	if (log->counter)
		__atomic_store_n(log->counter, __atomic_load_n(log->counter, __ATOMIC_RELAXED) + 1,
				 __ATOMIC_RELAXED);
	log->cached = true;
	log->cached_size = size + (off_t)b->len;
	log->cached_seq = end.seq + 1;
	memcpy(log->cached_hash, hash, sizeof(log->cached_hash));
	log->cached_head_len = head_len;
	if (log->defer_sync && decision != AUDIT_NONE) {
		log->head_dirty = true; /* audit_sync() writes it, soon */
	} else {
		r = write_head(log, err);
		if (r < 0)
			return r;
	}

	if (decision != AUDIT_NONE) {
		log->unsynced = true;
		if (log->defer_sync)
			return 0;
		return sync_files(log, err);
	}
	(void)locked;
	return 0;
}

int audit_write(struct audit_log *log, enum audit_type type, const char *agent, const char *run,
		enum audit_decision decision, const char *reason, const struct audit_field *fields,
		size_t n_fields, struct pc_error *err)
{
	int r = write_record(log, type, agent, run, decision, reason, fields, n_fields, err);
	if (log->sync_soon && audit_sync_pending(log))
		log->sync_soon(log->sync_arg);
	return r;
}

void audit_count_into(struct audit_log *log, uint64_t *counter)
{
	log->counter = counter;
}

void audit_defer_sync(struct audit_log *log, void (*soon)(void *arg), void *arg)
{
	log->defer_sync = soon != NULL;
	log->sync_soon = soon;
	log->sync_arg = arg;
}

bool audit_sync_pending(const struct audit_log *log)
{
	return log->unsynced || log->head_dirty;
}

int audit_sync(struct audit_log *log, struct pc_error *err)
{
	if (log->head_dirty) {
		int r;
		while ((r = flock(log->fd, LOCK_EX)) < 0 && errno == EINTR)
			;
		if (r < 0)
			return pc_error_errno(err, errno, "cannot lock %s", log->path);
		_cleanup_(unlockp) int locked = log->fd;
		struct stat st;
		/* a writer that appended after us wrote a newer head: keep it */
		if (fstat(log->fd, &st) == 0 && log->cached && st.st_size == log->cached_size &&
		    (r = write_head(log, err)) < 0)
			return r;
		log->head_dirty = false;
		(void)locked;
	}
	return log->unsynced ? sync_files(log, err) : 0;
}
