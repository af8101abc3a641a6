/* escape.h: the reporting protocol of the escape battery, and the few
 * helpers every attack program shares.
 *
 * An attack program tries one kind of escape, usually in a few variants,
 * and ends with exactly one verdict line on stdout:
 *
 *   BLOCKED <how>       exit 0: every attempt failed the way a layer fails it
 *   ESCAPED <what>      exit 1: an attempt succeeded
 *   UNEXPECTED <what>   exit 2: an attempt failed in a way no layer explains,
 *                       so the test (or its environment) is wrong
 *
 * Lines before the verdict start with NOTE or PROGRESS and are for people.
 * <how> lists each attempt with the errno it got and the layer that gave
 * it, e.g. "mount tmpfs: EPERM (seccomp); mount proc: EPERM (seccomp)".
 *
 * EPERM is ambiguous: the seccomp deny-list answers with it, and so does
 * the kernel when a capability is missing. SECCOMP_OR(why) names seccomp
 * when a filter is loaded in this process (PR_GET_SECCOMP says 2), and
 * `why` otherwise; the e2e tests that turn seccomp off rely on that.
 *
 * These programs are linked statically and call the kernel directly (no
 * NSS, no getpwnam) so that they run in any sandbox view. Never run them on
 * the host outside `pincer run`: as root there they succeed, and some of
 * them (mount, swapoff, fork bombs) change the machine.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define ESC_BLOCKED    0
#define ESC_ESCAPED    1
#define ESC_UNEXPECTED 2

#define ESC_N(a) (sizeof(a) / sizeof((a)[0]))

/* The attempts that failed the expected way so far, for the BLOCKED line. */
__attribute__((unused)) static char esc_how[8192];

static inline const char *errname(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* Is a seccomp filter loaded in this process? */
static inline bool seccomp_on(void)
{
	return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2;
}

__attribute__((noreturn, format(printf, 3, 0))) static inline void
esc_vend(const char *word, int code, const char *fmt, va_list ap)
{
	printf("%s ", word);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	exit(code);
}

__attribute__((noreturn, format(printf, 1, 2))) static inline void escaped(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	esc_vend("ESCAPED", ESC_ESCAPED, fmt, ap);
}

__attribute__((noreturn, format(printf, 1, 2))) static inline void unexpected(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	esc_vend("UNEXPECTED", ESC_UNEXPECTED, fmt, ap);
}

__attribute__((noreturn, format(printf, 1, 2))) static inline void blocked(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	esc_vend("BLOCKED", ESC_BLOCKED, fmt, ap);
}

/* A progress or information line; flushed at once, since the program may be
 * killed (OOM, wall time) before it ends. */
__attribute__((format(printf, 1, 2))) static inline void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("NOTE ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

/* Add one "what: how" item to the BLOCKED line. */
__attribute__((format(printf, 1, 2))) static inline void add_how(const char *fmt, ...)
{
	size_t used = strlen(esc_how);
	if (used && used + 2 < sizeof(esc_how)) {
		strcpy(esc_how + used, "; ");
		used += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(esc_how + used, sizeof(esc_how) - used, fmt, ap);
	va_end(ap);
}

/* Every attempt failed as expected: BLOCKED with what add_how() gathered. */
__attribute__((noreturn)) static inline void verdict(void)
{
	blocked("%s", esc_how[0] ? esc_how : "(nothing attempted)");
}

/* One errno a layer answers with, and the layer's name: `sc` when a seccomp
 * filter is loaded, `plain` otherwise. */
struct want {
	int err;
	const char *sc;
	const char *plain;
};
#define BY(e, layer)                                                                               \
	{                                                                                          \
		(e), (layer), (layer)                                                              \
	}
#define SECCOMP_OR(why)                                                                            \
	{                                                                                          \
		EPERM, "seccomp", (why)                                                            \
	}

/* An attempt returned `ret` with errno `err`: a success escapes, a listed
 * errno is a block, anything else is unexpected. Returns the errno. */
static inline int esc_check(const char *what, long ret, int err, const struct want *w, size_t n)
{
	if (ret >= 0)
		escaped("%s succeeded (returned %ld)", what, ret);
	bool sc = seccomp_on();
	for (size_t i = 0; i < n; i++) {
		if (w[i].err == err) {
			add_how("%s: %s (%s)", what, errname(err), sc ? w[i].sc : w[i].plain);
			return err;
		}
	}
	char expected[256] = "";
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(expected);
		snprintf(expected + l, sizeof(expected) - l, "%s%s", i ? "/" : "",
			 errname(w[i].err));
	}
	unexpected("%s failed with %s (%s), expected %s", what, errname(err), strerror(err),
		   expected);
}

/* MUST_FAIL("what", call, BY(ENOENT, "not in view"), SECCOMP_OR("...")):
 * run the call (returning -1 and errno on failure, as libc does) and check
 * its failure with esc_check. Evaluates to the errno. */
#define MUST_FAIL(what, call, ...)                                                                 \
	({                                                                                         \
		errno = 0;                                                                         \
		long r_ = (long)(call);                                                            \
		int e_ = errno;                                                                    \
		const struct want w_[] = {__VA_ARGS__};                                            \
		esc_check((what), r_, e_, w_, ESC_N(w_));                                          \
	})

/* argv[i], or UNEXPECTED naming the usage. */
static inline const char *arg(int argc, char **argv, int i, const char *usage)
{
	if (i >= argc || !argv[i][0])
		unexpected("usage: %s %s", argv[0], usage);
	return argv[i];
}

/* A secret must not be readable: not in the view (ENOENT), masked
 * (EACCES, or an empty stand-in), or unreadable by permissions. Reading a
 * byte of it is an escape. */
/* An IPv4 or IPv6 socket address for addr:port; returns its length. */
static inline socklen_t inet_address(int family, const char *addr, int port,
				     struct sockaddr_storage *ss)
{
	*ss = (struct sockaddr_storage){0};
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &s->sin_addr);
		return sizeof(*s);
	}
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
	s->sin6_family = AF_INET6;
	s->sin6_port = htons((uint16_t)port);
	inet_pton(AF_INET6, addr, &s->sin6_addr);
	return sizeof(*s);
}

static inline void must_not_read(const char *path)
{
	errno = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		const struct want w[] = {BY(ENOENT, "not in view"),
					 BY(EACCES, "masked or permissions"),
					 BY(ENOTDIR, "masked")};
		esc_check(path, -1, errno, w, ESC_N(w));
		return;
	}
	char buf[256];
	ssize_t got = read(fd, buf, sizeof(buf));
	int e = errno;
	close(fd);
	if (got > 0)
		escaped("read %zd bytes of %s", got, path);
	if (got == 0)
		add_how("%s: empty (masked)", path);
	else if (e == EISDIR)
		add_how("%s: a directory stands in (masked)", path);
	else
		add_how("%s: read %s (masked)", path, errname(e));
}
