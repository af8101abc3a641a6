/* Unit tests for src/sandbox/cgroup.c against the host's real cgroups: the
 * limits land in the files, a process is attached, a fork loop is stopped by
 * pids, an allocation past memory is OOM-killed and reported as such, the
 * cpu quota is felt, destroy kills what is left and removes the groups, and
 * an unprivileged uid gets no group but a reason. On a v1/hybrid host, the
 * v2 path runs too, on a cgroup2 mount in a private mount namespace (it has
 * no controllers there: placement, CLONE_INTO_CGROUP, attach, cgroup.kill).
 *
 * They need root (else exit 77). Everything hostile runs in a forked child
 * inside a group made here, with small limits, and every loop is bounded. */
#include "sandbox/internal.h"

#include "../check.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define MiB	 (1024 * 1024)
#define SKIP	 77
#define NOBODY_U 54321

static bool host_v2;

/* ---- helpers ----------------------------------------------------------- */

/* A forked child that waits for a byte on a pipe before it runs body. */
struct held {
	pid_t pid;
	int go;
};

static struct held hold(int (*body)(void))
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	pid_t pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0) {
		char c;
		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 ? body() : 99);
	}
	close(p[0]);
	return (struct held){pid, p[1]};
}

/* Let it run; its wait status. */
static int release(struct held h)
{
	int st = -1;
	if (write(h.go, "x", 1) != 1)
		abort();
	close(h.go);
	waitpid(h.pid, &st, 0);
	return st;
}

static int body_nothing(void)
{
	return 0;
}

static char *name_for(const char *tag)
{
	return pc_xasprintf("pincer-test-%d-%s", (int)getpid(), tag);
}

/* Where pid's group is for ctrl (NULL: the v2 line), from /proc/PID/cgroup. */
static char *group_dir(pid_t pid, const char *ctrl)
{
	char file[64];
	_cleanup_free_ char *text = NULL;
	snprintf(file, sizeof(file), "/proc/%d/cgroup", (int)pid);
	if (pc_read_file(file, 65536, &text, NULL, NULL) < 0)
		return NULL;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		bool v2 = strcmp(line, "0:") == 0;
		char *path = c2 + 1;
		size_t n = strlen(path);
		if (n > 0 && path[n - 1] == '/')
			path[n - 1] = '\0';
		if (!ctrl && v2)
			return pc_xasprintf("/sys/fs/cgroup%s", path);
		if (ctrl && !v2 && strcmp(c1 + 1, ctrl) == 0)
			return pc_xasprintf("/sys/fs/cgroup/%s%s", ctrl, path);
	}
	return NULL;
}

/* Does dir/file hold want (one line)? An absent optional file passes. */
static bool holds(const char *dir, const char *file, const char *want, bool optional)
{
	_cleanup_free_ char *path = pc_xasprintf("%s/%s", dir, file), *text = NULL;
	if (optional && access(path, F_OK) < 0)
		return true;
	if (pc_read_file(path, 4096, &text, NULL, NULL) < 0)
		return false;
	text[strcspn(text, "\n")] = '\0';
	if (strcmp(text, want) != 0)
		fprintf(stderr, "%s holds \"%s\", expected \"%s\"\n", path, text, want);
	return strcmp(text, want) == 0;
}

static bool gone(const char *dir)
{
	struct stat st;
	return dir && stat(dir, &st) < 0 && errno == ENOENT;
}

static struct cgroup *make(const struct pc_limits *lim, const char *name)
{
	struct cgroup *cg = NULL;
	_cleanup_free_ char *why = NULL;
	struct pc_error err = {0};
	int r = cgroup_create(lim, name, &cg, &why, &err);
	if (r < 0)
		fprintf(stderr, "cgroup_create: %s\n", err.msg);
	if (why)
		fprintf(stderr, "cgroup_create: no cgroup: %s\n", why);
	CHECK(r == 0 && cg);
	return cg;
}

static bool killed(int st)
{
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

/* ---- tests ------------------------------------------------------------- */

static void test_not_needed(void)
{
	struct pc_limits lim = {.open_files = 64, .wall_time_ms = 1000};
	struct cgroup *cg = (struct cgroup *)1;
	char *why = (char *)1;
	struct pc_error err = {0};
	CHECK(cgroup_create(&lim, "pincer-x", &cg, &why, &err) == 0);
	CHECK(cg == NULL && why == NULL);
	CHECK_STR(cgroup_describe(NULL), "no cgroup");
	CHECK(cgroup_clone_fd(NULL) == -1);
	CHECK(!cgroup_oom_killed(NULL));
	cgroup_destroy(NULL);
}

static void test_bad_name(void)
{
	struct pc_limits lim = {.pids = 8};
	struct cgroup *cg = NULL;
	char *why = NULL;
	struct pc_error err = {0};
	CHECK(cgroup_create(&lim, "../escape", &cg, &why, &err) == -EINVAL);
	CHECK(cg == NULL && why == NULL);
	CHECK_CONTAINS(err.msg, "not a group name");
}

/* The limits land in the files, the group nests under ours (v1), a child
 * attached shows up there, destroy removes it all. */
static int test_limits(void)
{
	struct pc_limits lim = {.memory = 32 * MiB, .pids = 8, .cpus_milli = 1500};
	_cleanup_free_ char *name = name_for("limits");
	struct cgroup *cg = NULL;
	_cleanup_free_ char *why = NULL;
	struct pc_error err = {0};
	int r = cgroup_create(&lim, name, &cg, &why, &err);
	if (r == 0 && !cg) {
		fprintf(stderr, "skip: no cgroup here: %s\n", why);
		return SKIP;
	}
	CHECK(r == 0);
	if (!cg)
		return fprintf(stderr, "cgroup_create: %s\n", err.msg), -1;
	fprintf(stderr, "cgroup: %s\n", cgroup_describe(cg));
	CHECK_CONTAINS(cgroup_describe(cg), host_v2 ? "v2 memory+pids+cpu at " : "v1 memory at ");
	CHECK_CONTAINS(cgroup_describe(cg), name);
	CHECK(host_v2 ? cgroup_clone_fd(cg) >= 0 : cgroup_clone_fd(cg) == -1);

	struct held h = hold(body_nothing);
	CHECK(cgroup_attach(cg, h.pid, &err) == 0);
	const char *ctrls[] = {"memory", "pids", "cpu"};
	char *dirs[3] = {NULL, NULL, NULL};
	for (size_t i = 0; i < 3; i++) {
		dirs[i] = group_dir(h.pid, host_v2 ? NULL : ctrls[i]);
		_cleanup_free_ char *mine = group_dir(getpid(), host_v2 ? NULL : ctrls[i]);
		_cleanup_free_ char *nested = pc_xasprintf("%s/%s", mine ? mine : "?", name);
		CHECK_CONTAINS(dirs[i], name);
		if (!host_v2)
			CHECK_STR(dirs[i], nested);
	}
	const char *d = dirs[0] ? dirs[0] : "?";
	if (host_v2) {
		CHECK(holds(d, "memory.max", "33554432", false));
		CHECK(holds(d, "memory.swap.max", "0", true));
		CHECK(holds(d, "memory.oom.group", "1", false));
		CHECK(holds(d, "pids.max", "8", false));
		CHECK(holds(d, "cpu.max", "150000 100000", false));
	} else {
		CHECK(holds(d, "memory.limit_in_bytes", "33554432", false));
		CHECK(holds(d, "memory.memsw.limit_in_bytes", "33554432", true));
		CHECK(holds(d, "memory.swappiness", "0", true));
		CHECK(holds(dirs[1] ? dirs[1] : "?", "pids.max", "8", false));
		CHECK(holds(dirs[2] ? dirs[2] : "?", "cpu.cfs_period_us", "100000", false));
		CHECK(holds(dirs[2] ? dirs[2] : "?", "cpu.cfs_quota_us", "150000", false));
	}
	int st = release(h);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(!cgroup_oom_killed(cg));
	cgroup_destroy(cg);
	for (size_t i = 0; i < 3; i++) {
		CHECK(gone(dirs[i]));
		free(dirs[i]);
	}
	return 0;
}

/* Forks until it cannot (at most 32 times): how many it made when the
 * kernel said EAGAIN, 100 + that otherwise. */
static int body_forks(void)
{
	pid_t kids[32];
	int n = 0, e = 0;
	for (int i = 0; i < 32; i++) {
		pid_t k = fork();
		if (k == 0) {
			pause();
			_exit(0);
		}
		if (k < 0) {
			e = errno;
			break;
		}
		kids[n++] = k;
	}
	for (int i = 0; i < n; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	return e == EAGAIN ? n : 100 + n;
}

static void test_pids(void)
{
	struct pc_limits lim = {.pids = 8};
	_cleanup_free_ char *name = name_for("pids");
	struct cgroup *cg = make(&lim, name);
	if (!cg)
		return;
	struct pc_error err = {0};
	struct held h = hold(body_forks);
	CHECK(cgroup_attach(cg, h.pid, &err) == 0);
	int st = release(h);
	/* the child itself and 7 more make 8 */
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	if (WIFEXITED(st) && WEXITSTATUS(st) != 7)
		fprintf(stderr, "fork loop: exit %d\n", WEXITSTATUS(st));
	cgroup_destroy(cg);
}

/* Touches up to 128 MiB, a MiB at a time. */
static int body_alloc(void)
{
	for (int i = 0; i < 128; i++) {
		char *p = malloc(MiB);
		if (!p)
			return 2;
		memset(p, i + 1, MiB);
	}
	return 0;
}

static void test_oom(void)
{
	struct pc_limits lim = {.memory = 32 * MiB};
	_cleanup_free_ char *name = name_for("oom");
	struct cgroup *cg = make(&lim, name);
	if (!cg)
		return;
	struct pc_error err = {0};
	struct held h = hold(body_alloc);
	CHECK(cgroup_attach(cg, h.pid, &err) == 0);
	CHECK(!cgroup_oom_killed(cg));
	int st = release(h);
	CHECK(killed(st));
	CHECK(cgroup_oom_killed(cg));
	cgroup_destroy(cg);
}

/* Spins for 300 ms of wall time: the cpu time it got, in units of 4 ms. */
static int body_spin(void)
{
	uint64_t end = pc_now_ns() + 300 * 1000000ull;
	while (pc_now_ns() < end)
		;
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	long ms = ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return ms / 4 > 255 ? 255 : (int)(ms / 4);
}

static void test_cpu(void)
{
	struct pc_limits lim = {.cpus_milli = 100}; /* 10 ms per 100 ms */
	_cleanup_free_ char *name = name_for("cpu");
	struct cgroup *cg = make(&lim, name);
	if (!cg)
		return;
	struct pc_error err = {0};
	struct held h = hold(body_spin);
	CHECK(cgroup_attach(cg, h.pid, &err) == 0);
	int st = release(h);
	/* unlimited it gets ~300 ms; 0.1 cpu gives ~40 */
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) * 4 < 150);
	fprintf(stderr, "spin for 300 ms at 0.1 cpu: ~%d ms of cpu\n", WEXITSTATUS(st) * 4);
	cgroup_destroy(cg);
}

/* destroy kills what is still running inside and removes the groups. */
static void test_destroy_kills(void)
{
	struct pc_limits lim = {.pids = 16, .memory = 64 * MiB};
	_cleanup_free_ char *name = name_for("destroy");
	struct cgroup *cg = make(&lim, name);
	if (!cg)
		return;
	struct pc_error err = {0};
	struct held h = hold(body_nothing);
	CHECK(cgroup_attach(cg, h.pid, &err) == 0);
	_cleanup_free_ char *mem = group_dir(h.pid, host_v2 ? NULL : "memory");
	_cleanup_free_ char *pids = group_dir(h.pid, host_v2 ? NULL : "pids");
	CHECK(!gone(mem) && !gone(pids));
	cgroup_destroy(cg);
	close(h.go); /* alive, it would now exit 99 */
	int st = -1;
	waitpid(h.pid, &st, 0);
	CHECK(killed(st));
	CHECK(gone(mem) && gone(pids));
}

/* An unused uid: no group, a reason that names it, the run goes on. */
static void test_unprivileged(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(NOBODY_U, NOBODY_U, NOBODY_U) < 0 ||
		    setresuid(NOBODY_U, NOBODY_U, NOBODY_U) < 0)
			_exit(10);
		struct pc_limits lim = {.memory = 32 * MiB, .pids = 8};
		struct cgroup *cg = NULL;
		char *why = NULL;
		struct pc_error err = {0};
		int r = cgroup_create(&lim, "pincer-test-unpriv", &cg, &why, &err);
		fprintf(stderr, "unprivileged: r=%d why=%s err=%s\n", r, why, err.msg);
		if (r != 0)
			_exit(11);
		if (cg) {
			cgroup_destroy(cg);
			_exit(12);
		}
		if (!why || !strstr(why, "uid 54321") || !strstr(why, "/sys/fs/cgroup"))
			_exit(13);
		_exit(0);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* In a child with a private mount namespace and cgroup2 on /sys/fs/cgroup. */
static int v2_in_private_mount(void)
{
	check_failures = 0; /* a fresh count in this child */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL) < 0) {
		fprintf(stderr, "skip v2: cannot mount cgroup2: %s\n", strerror(errno));
		return SKIP;
	}
	_cleanup_free_ char *offered = NULL;
	if (pc_read_file("/sys/fs/cgroup/cgroup.controllers", 4096, &offered, NULL, NULL) < 0)
		return SKIP;
	struct cgroup *cg = NULL;
	struct pc_error err = {0};
	if (!strstr(offered, "memory")) {
		struct pc_limits mem = {.memory = 32 * MiB, .pids = 8};
		_cleanup_free_ char *why = NULL;
		CHECK(cgroup_create(&mem, "pincer-test-v2mem", &cg, &why, &err) == 0);
		CHECK(cg == NULL);
		CHECK_CONTAINS(why, "memory controller is not offered");
	}
	/* cpu alone: without the controller, a group that only holds and kills */
	struct pc_limits lim = {.cpus_milli = 500};
	_cleanup_free_ char *name = name_for("v2");
	cg = make(&lim, name);
	if (!cg)
		return check_failures;
	fprintf(stderr, "cgroup: %s\n", cgroup_describe(cg));
	CHECK_CONTAINS(cgroup_describe(cg), "v2 ");
	CHECK_CONTAINS(cgroup_describe(cg), name);
	int fd = cgroup_clone_fd(cg);
	CHECK(fd >= 0);

	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	struct clone_args ca = {
		.flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)fd};
	pid_t a = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (a == 0) {
		char c;
		_exit(read(p[0], &c, 1) == 1 ? 0 : 99);
	}
	CHECK(a > 0);
	struct held b = hold(body_nothing);
	CHECK(cgroup_attach(cg, b.pid, &err) == 0);
	_cleanup_free_ char *want = pc_xasprintf("/sys/fs/cgroup/pincer/%s", name);
	_cleanup_free_ char *in_a = group_dir(a, NULL), *in_b = group_dir(b.pid, NULL);
	CHECK_STR(in_a, want);
	CHECK_STR(in_b, want);
	cgroup_destroy(cg); /* both still waiting: cgroup.kill */
	close(p[1]);
	close(b.go);
	int st = -1;
	waitpid(a, &st, 0);
	CHECK(killed(st));
	waitpid(b.pid, &st, 0);
	CHECK(killed(st));
	CHECK(gone(want));
	rmdir("/sys/fs/cgroup/pincer");
	return check_failures;
}

static void test_v2(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(v2_in_private_mount());
	int st = -1;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == SKIP));
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skip: the cgroup tests need root\n");
		return SKIP;
	}
	struct statfs sf;
	host_v2 = statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
	test_not_needed();
	test_bad_name();
	if (test_limits() == SKIP)
		return SKIP;
	test_pids();
	test_oom();
	test_cpu();
	test_destroy_kills();
	test_unprivileged();
	if (!host_v2)
		test_v2();
	CHECK_DONE();
}
