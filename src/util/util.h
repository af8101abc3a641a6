/* util: the small shared pieces every part of pincer uses.
 *
 * Cleanup attributes (systemd style), errors that travel up with a message,
 * growable buffers, logging to stderr, fd passing and file helpers.
 * Nothing here knows about policies, sandboxes or audit records.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_     __attribute__((noreturn))
#define _unused_       __attribute__((unused))
#define _cleanup_(f)   __attribute__((cleanup(f)))

#define PC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- cleanup ----------------------------------------------------------- */

void pc_freep(void *p);
void pc_closep(int *fd);
void pc_fclosep(FILE **f);
void pc_strvfreep(char ***v);

#define _cleanup_free_	 _cleanup_(pc_freep)
#define _cleanup_close_	 _cleanup_(pc_closep)
#define _cleanup_fclose_ _cleanup_(pc_fclosep)
#define _cleanup_strv_	 _cleanup_(pc_strvfreep)

/* Ownership leaves a cleanup variable explicitly. */
static inline int pc_steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

static inline void *pc_steal_ptr(void *pp)
{
	void **p = pp;
	void *r = *p;
	*p = NULL;
	return r;
}

/* ---- errors ------------------------------------------------------------ */

/* A failure on its way up to main(): the negative errno it returns and a
 * message a user can act on. Only main() prints it. */
struct pc_error {
	int code; /* positive errno, 0 when no error */
	char msg[1024];
};

/* Fill err (when not NULL) with the formatted message and return -code.
 * code is a positive errno; 0 is taken as EINVAL. */
int pc_error(struct pc_error *err, int code, const char *fmt, ...) _printf_(3, 4);
/* Like pc_error, with ": strerror(code)" appended. */
int pc_error_errno(struct pc_error *err, int code, const char *fmt, ...) _printf_(3, 4);
/* Put "prefix: " in front of an existing message; returns -err->code. */
int pc_error_prefix(struct pc_error *err, const char *fmt, ...) _printf_(2, 3);

/* ---- memory ------------------------------------------------------------ */

/* Allocation failures in small strings are not recoverable: these abort. */
void *pc_xmalloc(size_t n);
void *pc_xcalloc(size_t n, size_t size);
void *pc_xrealloc(void *p, size_t n);
char *pc_xstrdup(const char *s);
char *pc_xstrndup(const char *s, size_t n);
char *pc_xasprintf(const char *fmt, ...) _printf_(1, 2);

/* NULL-terminated string vectors. */
size_t pc_strv_len(char *const *v);
void pc_strv_push(char ***v, const char *s); /* appends a copy */
void pc_strv_free(char **v);
bool pc_strv_contains(char *const *v, const char *s);

/* ---- buffers ----------------------------------------------------------- */

struct pc_buf {
	char *data; /* always NUL-terminated when len > 0 or after any append */
	size_t len;
	size_t cap;
};

void pc_buf_append(struct pc_buf *b, const void *data, size_t n);
void pc_buf_puts(struct pc_buf *b, const char *s);
void pc_buf_printf(struct pc_buf *b, const char *fmt, ...) _printf_(2, 3);
void pc_buf_vprintf(struct pc_buf *b, const char *fmt, va_list ap);
/* Append s as a JSON string literal, quotes included. */
void pc_buf_json_string(struct pc_buf *b, const char *s);
void pc_buf_reset(struct pc_buf *b);
void pc_buf_free(struct pc_buf *b);
void pc_buf_freep(struct pc_buf *b);
#define _cleanup_buf_ _cleanup_(pc_buf_freep)

/* ---- logging ----------------------------------------------------------- */

/* Messages go to stderr as "pincer: ...". pc_log_quiet silences info. */
void pc_log_set_quiet(bool quiet);
void pc_info(const char *fmt, ...) _printf_(1, 2);
void pc_warn(const char *fmt, ...) _printf_(1, 2);

/* ---- files and fds ----------------------------------------------------- */

/* Read a whole file (at most max bytes; larger is -EFBIG). *out is
 * NUL-terminated. */
int pc_read_file(const char *path, size_t max, char **out, size_t *len, struct pc_error *err);
/* Write all of buf to fd, retrying on EINTR and short writes. */
int pc_write_all(int fd, const void *buf, size_t n);
/* Write a short string to an existing file (procfs, sysfs, cgroupfs). */
int pc_write_string(const char *path, const char *s, struct pc_error *err);
/* mkdir -p with mode for each created component. */
int pc_mkdir_p(const char *path, mode_t mode, struct pc_error *err);
/* Send / receive up to n fds and a small payload over a unix socket. */
int pc_send_fds(int sock, const void *data, size_t len, const int *fds, size_t n);
/* Is fd one end of an anonymous pipe (pipe2): not a FIFO of some
 * filesystem, not an O_PATH handle? The only kind that may be handed into
 * a sandbox: it names nothing on the host. */
bool pc_fd_is_anon_pipe(int fd);
ssize_t pc_recv_fds(int sock, void *data, size_t len, int *fds, size_t *n);
/* recv(2), read on past EINTR and the one ECONNRESET a unix peer that
 * closed with our data unread leaves ahead of its last messages. -1 and
 * errno on error, like recv. */
ssize_t pc_recv(int sock, void *buf, size_t len, int flags);

/* "~" and "~/x" expanded against home; other paths copied. */
char *pc_expand_home(const char *path, const char *home);
/* The invoking user's home directory ($HOME, else the passwd entry). */
const char *pc_home_dir(void);
/* Where pincer keeps a state file named `name`: /var/lib/pincer/NAME for
 * root, else $XDG_STATE_HOME/pincer/NAME (~/.local/state/pincer/NAME). */
char *pc_state_file(const char *name);
/* NAME in the folder of the running executable (the programs and module
 * installed beside pincer); NULL when /proc/self/exe cannot be read. */
char *pc_sibling_path(const char *name);

/* ---- parsing ----------------------------------------------------------- */

/* "512M", "1G", "4096", "64K": bytes. Returns -EINVAL or -ERANGE. */
int pc_parse_size(const char *s, uint64_t *out);
/* "10m", "1h", "30s", "250ms", "2d": milliseconds. */
int pc_parse_duration(const char *s, uint64_t *out_ms);
/* Size and duration written back the way a human would ("512M", "10m"). */
void pc_format_size(uint64_t bytes, char *out, size_t n);
void pc_format_duration(uint64_t ms, char *out, size_t n);

/* ---- time and randomness ----------------------------------------------- */

uint64_t pc_now_ns(void);      /* CLOCK_MONOTONIC */
uint64_t pc_realtime_ns(void); /* CLOCK_REALTIME */
/* Fill buf with random bytes from getrandom(). Aborts if the kernel cannot. */
void pc_random(void *buf, size_t n);
/* Lowercase hex of n bytes into out (2n+1 bytes). */
void pc_hex(const void *data, size_t n, char *out);

/* ---- SHA-256 ----------------------------------------------------------- */

struct pc_sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t n;
};

void pc_sha256_init(struct pc_sha256 *c);
void pc_sha256_update(struct pc_sha256 *c, const void *data, size_t n);
void pc_sha256_final(struct pc_sha256 *c, uint8_t out[32]);
/* Lowercase hex digest of data into out (65 bytes). */
void pc_sha256_hex(const void *data, size_t n, char out[65]);
