/* proc_setuid_binary: gain root through a setuid-root program: a copy of
 * this program made setuid root by the test (argv: SETUID-COPY), and the
 * system's own (su, passwd, mount...).
 *
 * The copy, run as "--whoami", prints its ids and capabilities; the
 * system ones are watched through /proc/PID/status while they run.
 * Stopped by: no_new_privs (setuid bits are ignored on exec), nosuid on
 * every mount in the view, and the file's owner (host root) having no id
 * in the sandbox's user namespace. Any euid 0 or any capability is an
 * escape.
 */
#include "escape.h"

#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>

static int whoami(void)
{
	char caps[64] = "?";
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		char *p = strstr(buf, "CapEff:\t");
		if (p)
			sscanf(p + 8, "%63s", caps);
	}
	printf("IDS %d %d %s\n", getuid(), geteuid(), caps);
	return 0;
}

/* Highest effective uid and any capability seen in /proc/PID/status. */
static void watch(pid_t pid, long *max_euid, bool *caps)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	for (int i = 0; i < 20000; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return;
		buf[n] = '\0';
		if (strstr(buf, "State:\tZ"))
			return;
		long r, e;
		char *u = strstr(buf, "\nUid:\t");
		if (u && sscanf(u + 6, "%ld %ld", &r, &e) == 2 && e > *max_euid)
			*max_euid = e;
		char *c = strstr(buf, "\nCapEff:\t");
		if (c && strncmp(c + 9, "0000000000000000", 16) != 0)
			*caps = true;
	}
}

static void run_copy(const char *copy)
{
	int p[2];
	if (pipe(p) < 0)
		unexpected("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execl(copy, copy, "--whoami", (char *)NULL);
		printf("EXEC %d\n", errno);
		_exit(127);
	}
	close(p[1]);
	char buf[256] = "";
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(p[0]);
	waitpid(pid, NULL, 0);
	int ruid, euid;
	char caps[64];
	if (sscanf(buf, "IDS %d %d %63s", &ruid, &euid, caps) != 3) {
		int e;
		if (sscanf(buf, "EXEC %d", &e) == 1)
			unexpected("cannot run the setuid copy %s: %s", copy, strerror(e));
		unexpected("the setuid copy said %s", buf);
	}
	if (euid != ruid || euid == 0)
		escaped("the setuid copy ran with euid %d (uid %d)", euid, ruid);
	if (strcmp(caps, "0000000000000000") != 0)
		escaped("the setuid copy ran with capabilities %s", caps);
	add_how("setuid copy: euid stayed %d, no capabilities", euid);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--whoami") == 0)
		return whoami();
	const char *copy = arg(argc, argv, 1, "SETUID-COPY");
	struct stat st;
	if (stat(copy, &st) < 0)
		unexpected("stat %s: %s", copy, strerror(errno));
	note("%s: mode %o owner %d inside; no_new_privs %d", copy, st.st_mode & 07777, st.st_uid,
	     prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	struct statvfs vfs;
	if (statvfs(copy, &vfs) == 0)
		note("%s is on a %s mount", copy, vfs.f_flag & ST_NOSUID ? "nosuid" : "suid");
	run_copy(copy);

	const char *sys[][3] = {{"/usr/bin/su", "-c", "true"},
				{"/usr/bin/passwd", "-S", NULL},
				{"/usr/bin/mount", "--version", NULL},
				{"/usr/bin/newgrp", "root", NULL},
				{"/usr/bin/chfn", "-f", "x"}};
	for (size_t i = 0; i < ESC_N(sys); i++) {
		if (access(sys[i][0], X_OK) < 0)
			continue;
		pid_t pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_RDWR);
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			execl(sys[i][0], sys[i][0], sys[i][1], sys[i][2], (char *)NULL);
			_exit(127);
		}
		long max_euid = -1;
		bool caps = false;
		watch(pid, &max_euid, &caps);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (max_euid == 0 || caps)
			escaped("%s ran with euid %ld%s", sys[i][0], max_euid,
				caps ? " and capabilities" : "");
		add_how("%s: euid seen %ld", sys[i][0], max_euid);
	}
	verdict();
}
