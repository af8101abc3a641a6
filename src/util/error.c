/* Errors, memory and logging: the pieces every function touches. */
#include "util.h"

#include <string.h>

void pc_freep(void *p)
{
	free(*(void **)p);
}

void pc_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

void pc_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

void pc_strvfreep(char ***v)
{
	pc_strv_free(*v);
}

static int error_vfill(struct pc_error *err, int code, bool with_errno, const char *fmt, va_list ap)
{
	if (code <= 0)
		code = code < 0 ? -code : EINVAL;
	if (err) {
		err->code = code;
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		if (with_errno) {
			size_t l = strlen(err->msg);
			snprintf(err->msg + l, sizeof(err->msg) - l, ": %s", strerror(code));
		}
	}
	return -code;
}

int pc_error(struct pc_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = error_vfill(err, code, false, fmt, ap);
	va_end(ap);
	return r;
}

int pc_error_errno(struct pc_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = error_vfill(err, code, true, fmt, ap);
	va_end(ap);
	return r;
}

int pc_error_prefix(struct pc_error *err, const char *fmt, ...)
{
	if (!err)
		return -EINVAL;
	char prefix[512];
	char old[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	struct pc_buf b = {0};
	pc_buf_printf(&b, "%s: %s", prefix, old);
	size_t n = b.len < sizeof(err->msg) - 1 ? b.len : sizeof(err->msg) - 1;
	memcpy(err->msg, b.data, n);
	err->msg[n] = '\0';
	pc_buf_free(&b);
	if (err->code <= 0)
		err->code = EINVAL;
	return -err->code;
}

_noreturn_ static void oom(void)
{
	static const char m[] = "pincer: out of memory\n";
	(void)!write(STDERR_FILENO, m, sizeof(m) - 1);
	abort();
}

void *pc_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *pc_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *pc_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *pc_xstrdup(const char *s)
{
	if (!s)
		return NULL;
	char *r = strdup(s);
	if (!r)
		oom();
	return r;
}

char *pc_xstrndup(const char *s, size_t n)
{
	char *r = strndup(s, n);
	if (!r)
		oom();
	return r;
}

char *pc_xasprintf(const char *fmt, ...)
{
	char *r;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&r, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return r;
}

size_t pc_strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

void pc_strv_push(char ***v, const char *s)
{
	size_t n = pc_strv_len(*v);
	*v = pc_xrealloc(*v, (n + 2) * sizeof(char *));
	(*v)[n] = pc_xstrdup(s);
	(*v)[n + 1] = NULL;
}

void pc_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

bool pc_strv_contains(char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Logging is configured once by main(); the flag is the only process-wide
 * setting util keeps. */
static bool log_quiet;

void pc_log_set_quiet(bool quiet)
{
	log_quiet = quiet;
}

static void log_v(const char *level, const char *fmt, va_list ap)
{
	char line[2048];
	int n = snprintf(line, sizeof(line), "pincer: %s", level);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	size_t l = strlen(line);
	if (l < sizeof(line) - 1)
		line[l++] = '\n';
	(void)pc_write_all(STDERR_FILENO, line, l);
}

void pc_info(const char *fmt, ...)
{
	if (log_quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_v("", fmt, ap);
	va_end(ap);
}

void pc_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v("warning: ", fmt, ap);
	va_end(ap);
}
