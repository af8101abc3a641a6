/* proc_personality: switch personality flags that weaken the process:
 * READ_IMPLIES_EXEC (readable memory becomes executable), ADDR_NO_RANDOMIZE
 * (no ASLR for what it execs), MMAP_PAGE_ZERO (a mapping at address 0, for
 * NULL-pointer kernel bugs), ADDR_COMPAT_LAYOUT.
 *
 * Stopped by: the seccomp deny-list (EPERM). The kernel itself allows
 * them, so success is an escape from the deny-list. PER_LINUX32 (uname
 * says i686) is allowed, as in Docker's profile; it is only noted.
 */
#include "escape.h"

#include <sys/personality.h>

/* The persona now, from /proc (the query form personality(0xffffffff) may
 * itself be refused by a filter that checks flag bits). */
static int current(void)
{
	char buf[32] = "";
	int fd = open("/proc/self/personality", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		unexpected("open /proc/self/personality: %s", strerror(errno));
	(void)!read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return (int)strtol(buf, NULL, 16);
}

int main(void)
{
	int before = current();
	if (personality(0xffffffff) == -1)
		note("the query personality(0xffffffff) fails: %s", errname(errno));
	const struct {
		const char *name;
		unsigned long flag;
	} bad[] = {{"READ_IMPLIES_EXEC", READ_IMPLIES_EXEC},
		   {"ADDR_NO_RANDOMIZE", ADDR_NO_RANDOMIZE},
		   {"MMAP_PAGE_ZERO", MMAP_PAGE_ZERO},
		   {"ADDR_COMPAT_LAYOUT", ADDR_COMPAT_LAYOUT},
		   {"PER_LINUX32|READ_IMPLIES_EXEC", PER_LINUX32 | READ_IMPLIES_EXEC}};
	for (size_t i = 0; i < ESC_N(bad); i++) {
		char what[64];
		snprintf(what, sizeof(what), "personality(%s)", bad[i].name);
		errno = 0;
		int r = personality(bad[i].flag);
		if (r != -1 && (current() & (int)bad[i].flag))
			escaped("%s set", what);
		if (r != -1)
			unexpected("%s returned %d but did not take", what, r);
		const struct want w[] = {SECCOMP_OR("?")};
		esc_check(what, -1, errno, w, 1);
	}
	int r = personality(PER_LINUX32);
	note("personality(PER_LINUX32): %s", r == -1 ? strerrorname_np(errno) : "allowed");
	personality((unsigned long)before);
	int now = current();
	if (now & (READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE | MMAP_PAGE_ZERO))
		escaped("personality is %#x", now);
	verdict();
}
