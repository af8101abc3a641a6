/* cgroup.c (parent): the sandbox's cgroup with the policy's memory, pids and
 * cpu limits, on cgroup v2 (unified) and on v1/hybrid hosts.
 *
 * What it decides:
 * - No limit set: nothing is made. cgroup_create returns 0 with *out == NULL
 *   and *why == NULL ("not needed"): the PID namespace already takes every
 *   process down with PID 1, and a group only for accounting would cost
 *   start-up time.
 * - Only the controllers of the limits that are set are used. When memory
 *   or pids cannot be had (no hierarchy, not offered, not delegated, not
 *   writable), nothing is made (*out == NULL, *why says why) so that the
 *   caller's rlimit fallback covers both. A missing cpu controller only
 *   loses the quota, which has no fallback anyway: the group is made and
 *   cgroup_describe says "no cpu quota: ...". Likewise "swap not limited"
 *   where the kernel has no swap accounting.
 * - v1 or hybrid (/sys/fs/cgroup is not cgroup2): one group per controller,
 *   /sys/fs/cgroup/<controller>/<our own group>/<name>, nested so that the
 *   limits on pincer's own group still apply. The controller-less v2 tree
 *   of a hybrid host (/sys/fs/cgroup/unified) is not used.
 * - v2: our own group holds processes, so the "no internal processes" rule
 *   keeps it from handing controllers to a child. The group goes beside it:
 *   <parent of our group>/pincer/<name> (/sys/fs/cgroup/pincer/<name> when
 *   we are in the root), the controllers enabled in the parent's and in
 *   pincer/'s cgroup.subtree_control. Unprivileged, this works where that
 *   parent is delegated to us (systemd user@.service). pincer/ is shared by
 *   concurrent runs and never removed (removing it races their mkdir).
 * - The sandbox's OOM: v2 memory.events "oom_kill"/"oom_group_kill", with
 *   memory.oom.group = 1 so that the whole sandbox dies together; v1
 *   memory.oom_control "oom_kill" (or "under_oom"), and before kernel 4.13,
 *   which has no count, memory.failcnt > 0 as a hint.
 * - cgroup_destroy(NULL) does nothing; cgroup_destroy frees, so the caller
 *   drops its pointer.
 */
#include "sandbox/internal.h"

#include <dirent.h>

#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>

#define CG_ROOT	      "/sys/fs/cgroup"
#define CPU_PERIOD_US 100000

enum { CG_MEMORY, CG_PIDS, CG_CPU, CG_N };
static const char *const cg_name[CG_N] = {"memory", "pids", "cpu"};

/* A directory we made: v2 has one for every controller, v1 one per
 * hierarchy. Its files are opened relative to fd. */
struct cg_dir {
	char *path;
	int fd;
	unsigned ctrls; /* 1u << CG_* */
};

struct cgroup {
	int version; /* 1 or 2 */
	struct cg_dir dirs[CG_N];
	size_t n_dirs;
	struct pc_buf note; /* limits that could not be had, for describe */
	char *desc;
};

static void note(struct cgroup *cg, const char *fmt, ...) _printf_(2, 3);
static void note(struct cgroup *cg, const char *fmt, ...)
{
	va_list ap;
	if (cg->note.len)
		pc_buf_puts(&cg->note, "; ");
	va_start(ap, fmt);
	pc_buf_vprintf(&cg->note, fmt, ap);
	va_end(ap);
}

/* Write val to a file of d. An optional file that does not exist: 1. */
static int cg_write(const struct cg_dir *d, const char *file, const char *val, bool optional,
		    struct pc_error *err)
{
	_cleanup_close_ int fd = openat(d->fd, file, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && optional)
		return 1;
	if (fd < 0)
		return pc_error_errno(err, errno, "cgroup: cannot open %s/%s", d->path, file);
	int r = pc_write_all(fd, val, strlen(val));
	if (r < 0)
		return pc_error_errno(err, -r, "cgroup: cannot write %s to %s/%s", val, d->path,
				      file);
	return 0;
}

/* A small cgroup file in one read (the kernel hands it over whole). */
static int cg_read(const struct cg_dir *d, const char *file, char *buf, size_t n)
{
	_cleanup_close_ int fd = openat(d->fd, file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t k = read(fd, buf, n - 1);
	if (k < 0)
		return -errno;
	buf[k] = '\0';
	return 0;
}

/* The number after "key " at the start of a line; false when absent. */
static bool cg_key(const char *text, const char *key, uint64_t *val)
{
	size_t n = strlen(key);
	for (const char *p = text; *p;) {
		if (strncmp(p, key, n) == 0 && p[n] == ' ') {
			*val = strtoull(p + n + 1, NULL, 10);
			return true;
		}
		p = strchrnul(p, '\n');
		if (*p)
			p++;
	}
	return false;
}

static bool has_token(const char *list, const char *end, const char *tok)
{
	size_t n = strlen(tok);
	for (const char *t = list; t < end;) {
		const char *comma = memchr(t, ',', (size_t)(end - t));
		if (!comma)
			comma = end;
		if ((size_t)(comma - t) == n && strncmp(t, tok, n) == 0)
			return true;
		t = comma + 1;
	}
	return false;
}

/* Our own group from /proc/self/cgroup: in the v1 hierarchy carrying ctrl,
 * or the v2 one ("0::") when ctrl is NULL. The root comes back as "". */
static char *own_group(const char *self, const char *ctrl)
{
	for (const char *p = self; *p;) {
		const char *end = strchrnul(p, '\n');
		const char *c1 = memchr(p, ':', (size_t)(end - p));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		bool match = false;
		if (c2 && !ctrl)
			match = c1 == p + 1 && *p == '0' && c2 == c1 + 1;
		else if (c2)
			match = has_token(c1 + 1, c2, ctrl);
		if (match) {
			size_t len = (size_t)(end - c2 - 1);
			while (len > 0 && c2[len] == '/')
				len--;
			return pc_xstrndup(c2 + 1, len);
		}
		p = *end ? end + 1 : end;
	}
	return NULL;
}

/* Keep path (taken) as one of ours, so that destroy removes it. */
static int add_dir(struct cgroup *cg, char *path, unsigned ctrls, struct pc_error *err)
{
	struct cg_dir *d = &cg->dirs[cg->n_dirs++];
	*d = (struct cg_dir){.path = path, .ctrls = ctrls};
	d->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0)
		return pc_error_errno(err, errno, "cgroup: cannot open %s", path);
	return 0;
}

static bool denied(int e)
{
	return e == EACCES || e == EPERM || e == EROFS;
}

/* A run killed with SIGKILL never removes its group. The next run in the
 * same place clears empty ones that are old enough not to be a concurrent
 * run's, still waiting for its first process (rmdir refuses a group in use). */
#define STALE_AFTER_SECONDS 60

static void sweep_stale(const char *parent)
{
	_cleanup_close_ int dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	DIR *d = fdopendir(dfd);
	if (!d)
		return;
	dfd = -1;
	time_t now = time(NULL);
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (strncmp(e->d_name, "pincer-", 7) != 0 || e->d_type != DT_DIR)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    now - st.st_ctime < STALE_AFTER_SECONDS)
			continue;
		(void)unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

static int create_v1(struct cgroup *cg, unsigned want, const char *self, const char *name,
		     char **why, struct pc_error *err)
{
	for (int c = 0; c < CG_N; c++) {
		if (!(want & (1u << c)))
			continue;
		char mnt[64];
		snprintf(mnt, sizeof(mnt), CG_ROOT "/%s", cg_name[c]);
		_cleanup_free_ char *own = own_group(self, cg_name[c]);
		struct statfs sf;
		if (!own || statfs(mnt, &sf) < 0 || sf.f_type != CGROUP_SUPER_MAGIC) {
			if (c == CG_CPU) {
				note(cg, "no cpu quota: no cgroup v1 hierarchy at %s", mnt);
				continue;
			}
			*why = pc_xasprintf("cgroup v1 has no %s hierarchy at %s", cg_name[c], mnt);
			return 0;
		}
		_cleanup_free_ char *path = pc_xasprintf("%s%s/%s", mnt, own, name);
		int r = mkdir(path, 0755);
		if (r < 0 && errno == ENOENT && *own) {
			/* Our group is this mount's root (a container's view). */
			free(path);
			path = pc_xasprintf("%s/%s", mnt, name);
			r = mkdir(path, 0755);
		}
		if (r < 0 && denied(errno)) {
			*why = pc_xasprintf("cgroup v1 hierarchy %s is not writable by uid %u", mnt,
					    (unsigned)geteuid());
			return 0;
		}
		if (r < 0)
			return pc_error_errno(err, errno, "cgroup: cannot create %s", path);
		_cleanup_free_ char *parent = pc_xstrdup(path);
		*strrchr(parent, '/') = '\0';
		sweep_stale(parent);
		r = add_dir(cg, pc_steal_ptr(&path), 1u << c, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Enable the controllers in *have for the children of dir. One that cannot
 * be had: cpu is dropped from *have (and noted), memory or pids set *why. */
static int enable_v2(struct cgroup *cg, const char *dir, unsigned *have, char **why,
		     struct pc_error *err)
{
	if (!*have)
		return 0;
	_cleanup_free_ char *file = pc_xasprintf("%s/cgroup.subtree_control", dir);
	_cleanup_close_ int fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && denied(errno)) {
		*why = pc_xasprintf("cgroup v2 at %s is not delegated to uid %u", dir,
				    (unsigned)geteuid());
		return 0;
	}
	if (fd < 0)
		return pc_error_errno(err, errno, "cgroup: cannot open %s", file);
	for (int c = 0; c < CG_N; c++) {
		if (!(*have & (1u << c)))
			continue;
		char op[16];
		snprintf(op, sizeof(op), "+%s", cg_name[c]);
		int r = pc_write_all(fd, op, strlen(op));
		if (r == 0)
			continue;
		const char *what = r == -ENOENT	 ? "is not offered"
				   : r == -EBUSY ? "cannot be enabled (it holds processes)"
						 : strerror(-r);
		if (c == CG_CPU) {
			*have &= ~(1u << c);
			note(cg, "no cpu quota: cgroup v2 at %s: cpu controller %s", dir, what);
			continue;
		}
		*why = pc_xasprintf("cgroup v2 at %s: %s controller %s", dir, cg_name[c], what);
		return 0;
	}
	return 0;
}

static int create_v2(struct cgroup *cg, unsigned want, const char *self, const char *name,
		     char **why, struct pc_error *err)
{
	_cleanup_free_ char *own = own_group(self, NULL);
	if (!own)
		return pc_error(err, ENOENT, "cgroup: /proc/self/cgroup has no cgroup v2 line");
	char *slash = strrchr(own, '/');
	if (slash)
		*slash = '\0';
	_cleanup_free_ char *base = pc_xasprintf(CG_ROOT "%s", own);
	_cleanup_free_ char *procs = pc_xasprintf("%s/cgroup.procs", base);
	_cleanup_free_ char *shared = pc_xasprintf("%s/pincer", base);
	_cleanup_free_ char *leaf = pc_xasprintf("%s/%s", shared, name);
	/* CLONE_INTO_CGROUP and attach need write access to the common
	 * ancestor's cgroup.procs: base. */
	if (faccessat(AT_FDCWD, procs, W_OK, AT_EACCESS) < 0) {
		*why = pc_xasprintf("cgroup v2 at %s is not delegated to uid %u", base,
				    (unsigned)geteuid());
		return 0;
	}
	unsigned have = want;
	int r = enable_v2(cg, base, &have, why, err);
	if (r < 0 || *why)
		return r;
	const char *made = shared;
	if (mkdir(shared, 0755) < 0 && errno != EEXIST)
		goto mkdir_failed;
	r = enable_v2(cg, shared, &have, why, err);
	if (r < 0 || *why)
		return r;
	made = leaf;
	if (mkdir(leaf, 0755) < 0)
		goto mkdir_failed;
	sweep_stale(shared);
	return add_dir(cg, pc_steal_ptr(&leaf), have, err);
mkdir_failed:
	if (!denied(errno))
		return pc_error_errno(err, errno, "cgroup: cannot create %s", made);
	*why = pc_xasprintf("cgroup v2 at %s is not delegated to uid %u", base,
			    (unsigned)geteuid());
	return 0;
}

static int memory_limits(struct cgroup *cg, const struct cg_dir *d, uint64_t bytes,
			 struct pc_error *err)
{
	char v[32];
	snprintf(v, sizeof(v), "%" PRIu64, bytes);
	if (cg->version == 2) {
		int r = cg_write(d, "memory.max", v, false, err);
		if (r == 0)
			r = cg_write(d, "memory.swap.max", "0", true, err);
		if (r == 1)
			note(cg, "swap not limited: no memory.swap.max in %s", d->path);
		if (r >= 0)
			r = cg_write(d, "memory.oom.group", "1", true, err);
		return r < 0 ? r : 0;
	}
	int r = cg_write(d, "memory.limit_in_bytes", v, false, err);
	/* memory+swap equal to memory: no swap (only with swap accounting) */
	if (r == 0)
		r = cg_write(d, "memory.memsw.limit_in_bytes", v, true, err);
	if (r == 1)
		note(cg, "swap not limited: no memory.memsw.limit_in_bytes in %s", d->path);
	if (r < 0)
		return r;
	(void)cg_write(d, "memory.swappiness", "0", true, NULL); /* a hint; memsw holds */
	return 0;
}

static int apply_limits(struct cgroup *cg, const struct pc_limits *lim, struct pc_error *err)
{
	char pids[16], quota[48];
	snprintf(pids, sizeof(pids), "%" PRIu32, lim->pids);
	uint64_t q = (uint64_t)lim->cpus_milli * CPU_PERIOD_US / 1000;
	if (q < 1000)
		q = 1000; /* the kernel's smallest quota, 1ms */
	int r = 0;
	for (size_t i = 0; i < cg->n_dirs && r == 0; i++) {
		const struct cg_dir *d = &cg->dirs[i];
		if (d->ctrls & (1u << CG_MEMORY))
			r = memory_limits(cg, d, lim->memory, err);
		if (r == 0 && (d->ctrls & (1u << CG_PIDS)))
			r = cg_write(d, "pids.max", pids, false, err);
		if (r == 0 && (d->ctrls & (1u << CG_CPU)) && cg->version == 2) {
			snprintf(quota, sizeof(quota), "%" PRIu64 " %d", q, CPU_PERIOD_US);
			r = cg_write(d, "cpu.max", quota, false, err);
		} else if (r == 0 && (d->ctrls & (1u << CG_CPU))) {
			snprintf(quota, sizeof(quota), "%" PRIu64, q);
			r = cg_write(d, "cpu.cfs_period_us", "100000", false, err);
			if (r == 0)
				r = cg_write(d, "cpu.cfs_quota_us", quota, false, err);
		}
	}
	return r;
}

static char *describe(const struct cgroup *cg)
{
	_cleanup_buf_ struct pc_buf b = {0};
	pc_buf_printf(&b, "v%d", cg->version);
	for (size_t i = 0; i < cg->n_dirs; i++) {
		const struct cg_dir *d = &cg->dirs[i];
		const char *sep = i ? ", " : " ";
		if (!d->ctrls)
			pc_buf_printf(&b, "%sno controllers", sep);
		for (int c = 0; c < CG_N; c++) {
			if (d->ctrls & (1u << c)) {
				pc_buf_printf(&b, "%s%s", sep, cg_name[c]);
				sep = "+";
			}
		}
		pc_buf_printf(&b, " at %s", d->path);
	}
	if (cg->note.len)
		pc_buf_printf(&b, "; %s", cg->note.data);
	return pc_steal_ptr(&b.data);
}

int cgroup_create(const struct pc_limits *lim, const char *name, struct cgroup **out, char **why,
		  struct pc_error *err)
{
	*out = NULL;
	*why = NULL;
	unsigned want = (lim->memory ? 1u << CG_MEMORY : 0) | (lim->pids ? 1u << CG_PIDS : 0) |
			(lim->cpus_milli ? 1u << CG_CPU : 0);
	if (!want)
		return 0;
	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strcmp(name, "pincer") == 0)
		return pc_error(err, EINVAL, "cgroup: \"%s\" is not a group name", name);
	struct statfs sf;
	if (statfs(CG_ROOT, &sf) < 0) {
		*why = pc_xasprintf("no cgroup file system at " CG_ROOT ": %s", strerror(errno));
		return 0;
	}
	_cleanup_free_ char *self = NULL;
	if (pc_read_file("/proc/self/cgroup", 65536, &self, NULL, err) < 0)
		return pc_error_prefix(err, "cgroup");
	struct cgroup *cg = pc_xcalloc(1, sizeof(*cg));
	cg->version = sf.f_type == CGROUP2_SUPER_MAGIC ? 2 : 1;
	int r = cg->version == 2 ? create_v2(cg, want, self, name, why, err)
				 : create_v1(cg, want, self, name, why, err);
	if (r == 0 && !*why)
		r = apply_limits(cg, lim, err);
	if (r < 0 || *why) {
		cgroup_destroy(cg);
		if (r < 0) {
			free(*why);
			*why = NULL;
		}
		return r;
	}
	cg->desc = describe(cg);
	*out = cg;
	return 0;
}

int cgroup_clone_fd(const struct cgroup *cg)
{
	return cg && cg->version == 2 && cg->n_dirs == 1 ? cg->dirs[0].fd : -1;
}

int cgroup_attach(struct cgroup *cg, pid_t pid, struct pc_error *err)
{
	char v[16];
	snprintf(v, sizeof(v), "%d", (int)pid);
	for (size_t i = 0; cg && i < cg->n_dirs; i++) {
		int r = cg_write(&cg->dirs[i], "cgroup.procs", v, false, err);
		if (r < 0)
			return r;
	}
	return 0;
}

bool cgroup_oom_killed(struct cgroup *cg)
{
	char buf[1024];
	uint64_t n = 0, m = 0;
	for (size_t i = 0; cg && i < cg->n_dirs; i++) {
		const struct cg_dir *d = &cg->dirs[i];
		if (!(d->ctrls & (1u << CG_MEMORY)))
			continue;
		if (cg->version == 2)
			return cg_read(d, "memory.events", buf, sizeof(buf)) == 0 &&
			       ((cg_key(buf, "oom_kill", &n) && n) ||
				(cg_key(buf, "oom_group_kill", &m) && m));
		if (cg_read(d, "memory.oom_control", buf, sizeof(buf)) == 0 &&
		    cg_key(buf, "oom_kill", &n))
			return n || (cg_key(buf, "under_oom", &m) && m);
		/* Before 4.13 there is no count: the limit having been hit is a hint. */
		return cg_read(d, "memory.failcnt", buf, sizeof(buf)) == 0 &&
		       strtoull(buf, NULL, 10) > 0;
	}
	return false;
}

const char *cgroup_describe(const struct cgroup *cg)
{
	return cg ? cg->desc : "no cgroup";
}

/* SIGKILL every process in d: how many there were, -1 when unreadable. */
static int kill_procs(const struct cg_dir *d)
{
	_cleanup_free_ char *file = pc_xasprintf("%s/cgroup.procs", d->path);
	_cleanup_free_ char *text = NULL;
	if (pc_read_file(file, 1 << 22, &text, NULL, NULL) < 0)
		return -1;
	int n = 0;
	for (char *p = text, *end;; p = end) {
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
			n++;
	}
	return n;
}

static void empty_and_remove(const struct cgroup *cg, const struct cg_dir *d)
{
	if (rmdir(d->path) == 0 || errno == ENOENT)
		return;
	if (cg->version == 2)
		(void)cg_write(d, "cgroup.kill", "1", true, NULL);
	uint64_t deadline = pc_now_ns() + 2000000000ull;
	int e = 0;
	for (;;) {
		if (kill_procs(d) <= 0) {
			if (rmdir(d->path) == 0 || errno == ENOENT)
				return;
			e = errno;
		}
		if (pc_now_ns() > deadline)
			break;
		nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
	}
	pc_warn("cgroup: cannot remove %s: %s", d->path, e ? strerror(e) : "processes remain");
}

void cgroup_destroy(struct cgroup *cg)
{
	if (!cg)
		return;
	for (size_t i = cg->n_dirs; i-- > 0;) {
		struct cg_dir *d = &cg->dirs[i];
		empty_and_remove(cg, d);
		if (d->fd >= 0)
			close(d->fd);
		free(d->path);
	}
	pc_buf_free(&cg->note);
	free(cg->desc);
	free(cg);
}

/* ---- limits changed in place (a policy reload) --------------------------
 *
 * The running sandbox's groups are found from its PID 1's /proc/PID/cgroup
 * (paths in our cgroup namespace): a group of its own is one named
 * "pincer-..." that is not ours. Without one for a controller the limit
 * cannot change in place: cgroups were not available at start (the limits
 * are rlimits, which cannot be changed for processes already running), or,
 * on v1, the run started without that limit (moving a live sandbox into a
 * new group races its forks). On v2 a controller missing from the leaf is
 * enabled above it, as cgroup_create does.
 */

static void why_add(struct pc_buf *why, const char *fmt, ...) _printf_(2, 3);
static void why_add(struct pc_buf *why, const char *fmt, ...)
{
	va_list ap;
	if (why->len)
		pc_buf_puts(why, "; ");
	va_start(ap, fmt);
	pc_buf_vprintf(why, fmt, ap);
	va_end(ap);
}

static void mib(uint64_t bytes, char *out, size_t n)
{
	if (bytes % (1024 * 1024) == 0)
		pc_format_size(bytes, out, n);
	else
		snprintf(out, n, "%.1fM", (double)bytes / (1024 * 1024));
}

/* The sandbox's own group for ctrl (v1) or its leaf (v2: ctrl NULL). */
static char *sandbox_group(const char *theirs, const char *self, const char *ctrl)
{
	_cleanup_free_ char *g = own_group(theirs, ctrl);
	_cleanup_free_ char *mine = own_group(self, ctrl);
	if (!g || (mine && strcmp(g, mine) == 0))
		return NULL;
	const char *base = strrchr(g, '/');
	if (!base || strncmp(base + 1, "pincer-", 7) != 0)
		return NULL;
	return pc_steal_ptr(&g);
}

static bool cg_number(const struct cg_dir *d, const char *file, uint64_t *v)
{
	char buf[64];
	if (cg_read(d, file, buf, sizeof(buf)) < 0)
		return false;
	*v = strncmp(buf, "max", 3) == 0 ? UINT64_MAX : strtoull(buf, NULL, 10);
	return true;
}

static int set_memory(int version, const struct cg_dir *d, uint64_t bytes, struct pc_buf *why)
{
	char v[32], want[32], use[32], was[32] = "none";
	struct pc_error err = {0};
	uint64_t cur = UINT64_MAX, usage = 0;
	if (bytes)
		snprintf(v, sizeof(v), "%" PRIu64, bytes);
	else
		snprintf(v, sizeof(v), "%s", version == 2 ? "max" : "-1");
	mib(bytes, want, sizeof(want));
	if (version == 2) {
		/* memory.max below what is in use makes the kernel OOM-kill
		 * the whole sandbox (memory.oom.group): not done in place */
		if (bytes && cg_number(d, "memory.current", &usage) && usage > bytes) {
			mib(usage, use, sizeof(use));
			why_add(why,
				"memory: not lowered to %s in place: the sandbox uses %s, and "
				"cgroup v2 would OOM-kill it",
				want, use);
			return -EBUSY;
		}
		int r = cg_write(d, "memory.max", v, false, &err);
		if (r < 0)
			why_add(why, "memory: %s", err.msg);
		if (r == 0 && bytes) { /* as cgroup_create: no swap, the sandbox dies whole */
			(void)cg_write(d, "memory.swap.max", "0", true, NULL);
			(void)cg_write(d, "memory.oom.group", "1", true, NULL);
		}
		return r;
	}
	(void)cg_number(d, "memory.limit_in_bytes", &cur);
	if (cur < (1ULL << 60))
		mib(cur, was, sizeof(was));
	/* v1 keeps memory+swap at or above memory: raised first, lowered last */
	bool memsw = faccessat(d->fd, "memory.memsw.limit_in_bytes", F_OK, 0) == 0;
	int r = 0;
	if (!bytes || bytes >= cur) {
		if (memsw)
			r = cg_write(d, "memory.memsw.limit_in_bytes", v, false, &err);
		if (r == 0)
			r = cg_write(d, "memory.limit_in_bytes", v, false, &err);
	} else {
		r = cg_write(d, "memory.limit_in_bytes", v, false, &err);
		if (r == 0 && memsw) {
			r = cg_write(d, "memory.memsw.limit_in_bytes", v, false, &err);
			if (r < 0) { /* memory went down, memory+swap could not: as before */
				char back[32];
				snprintf(back, sizeof(back), "%" PRIu64, cur);
				(void)cg_write(d, "memory.limit_in_bytes", back, false, NULL);
			}
		}
	}
	if (r == -EBUSY) {
		(void)cg_number(d, "memory.usage_in_bytes", &usage);
		mib(usage, use, sizeof(use));
		why_add(why,
			"memory: cannot lower the limit to %s in place: the sandbox uses %s, "
			"which the kernel could not reclaim (EBUSY); the limit stays %s",
			want, use, was);
	} else if (r < 0) {
		why_add(why, "memory: %s", err.msg);
	}
	return r;
}

static int set_one(int version, int c, const struct cg_dir *d, const struct pc_limits *l,
		   struct pc_buf *why)
{
	struct pc_error err = {0};
	char v[48];
	int r;
	switch (c) {
	case CG_MEMORY:
		return set_memory(version, d, l->memory, why);
	case CG_PIDS:
		if (l->pids)
			snprintf(v, sizeof(v), "%" PRIu32, l->pids);
		else
			snprintf(v, sizeof(v), "max");
		r = cg_write(d, "pids.max", v, false, &err);
		break;
	case CG_CPU:
	default: {
		uint64_t q = (uint64_t)l->cpus_milli * CPU_PERIOD_US / 1000;
		if (q < 1000)
			q = 1000;
		if (version == 2 && l->cpus_milli)
			snprintf(v, sizeof(v), "%" PRIu64 " %d", q, CPU_PERIOD_US);
		else if (version == 2)
			snprintf(v, sizeof(v), "max %d", CPU_PERIOD_US);
		else if (l->cpus_milli)
			snprintf(v, sizeof(v), "%" PRIu64, q);
		else
			snprintf(v, sizeof(v), "-1");
		r = version == 1 ? cg_write(d, "cpu.cfs_period_us", "100000", false, &err) : 0;
		if (r == 0)
			r = cg_write(d, version == 2 ? "cpu.max" : "cpu.cfs_quota_us", v, false,
				     &err);
		break;
	}
	}
	if (r < 0)
		why_add(why, "%s: %s", cg_name[c], err.msg);
	return r;
}

/* v2: is ctrl enabled for the leaf (in its parent's subtree_control)?
 * If not, enable it above, as cgroup_create does. */
static bool leaf_has(const char *leaf, const struct cg_dir *d, int c, struct pc_buf *why)
{
	char have[512];
	if (cg_read(d, "cgroup.controllers", have, sizeof(have)) == 0) {
		char *save = NULL;
		for (char *t = strtok_r(have, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
			if (strcmp(t, cg_name[c]) == 0)
				return true;
	}
	_cleanup_free_ char *shared = pc_xstrdup(leaf);
	*strrchr(shared, '/') = '\0';
	_cleanup_free_ char *base = pc_xstrdup(shared);
	char *slash = strrchr(base, '/');
	if (slash)
		*slash = '\0';
	char op[16];
	snprintf(op, sizeof(op), "+%s", cg_name[c]);
	const char *dirs[] = {base, shared};
	for (size_t i = 0; i < PC_ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *file = pc_xasprintf("%s/cgroup.subtree_control", dirs[i]);
		struct pc_error err = {0};
		if (pc_write_string(file, op, &err) < 0) {
			why_add(why, "%s: the sandbox's cgroup v2 group has no %s controller (%s)",
				cg_name[c], cg_name[c], err.msg);
			return false;
		}
	}
	return true;
}

unsigned sandbox_set_limits(struct sandbox *sb, const struct pc_limits *l, unsigned which,
			    char **report)
{
	static const unsigned bit[CG_N] = {SANDBOX_LIMIT_MEMORY, SANDBOX_LIMIT_PIDS,
					   SANDBOX_LIMIT_CPU};
	_cleanup_buf_ struct pc_buf why = {0};
	unsigned done = 0;
	*report = NULL;
	char file[64];
	snprintf(file, sizeof(file), "/proc/%d/cgroup", (int)sandbox_pid(sb));
	_cleanup_free_ char *theirs = NULL, *self = NULL;
	struct statfs sf;
	bool read = pc_read_file(file, 65536, &theirs, NULL, NULL) == 0 &&
		    pc_read_file("/proc/self/cgroup", 65536, &self, NULL, NULL) == 0 &&
		    statfs(CG_ROOT, &sf) == 0;
	int version = read && sf.f_type == CGROUP2_SUPER_MAGIC ? 2 : 1;
	_cleanup_free_ char *leaf = NULL;
	if (read && version == 2) {
		_cleanup_free_ char *g = sandbox_group(theirs, self, NULL);
		leaf = g ? pc_xasprintf(CG_ROOT "%s", g) : NULL;
	}
	bool any_own = leaf != NULL;
	for (int c = 0; read && version == 1 && c < CG_N; c++) {
		_cleanup_free_ char *g = sandbox_group(theirs, self, cg_name[c]);
		any_own |= g != NULL;
	}
	for (int c = 0; c < CG_N; c++) {
		if (!(which & bit[c]))
			continue;
		_cleanup_free_ char *path = NULL;
		if (version == 2) {
			path = leaf ? pc_xstrdup(leaf) : NULL;
		} else if (read) {
			_cleanup_free_ char *g = sandbox_group(theirs, self, cg_name[c]);
			path = g ? pc_xasprintf(CG_ROOT "/%s%s", cg_name[c], g) : NULL;
		}
		if (!path) {
			why_add(&why, "%s: %s", cg_name[c],
				!read	   ? "the sandbox's cgroups cannot be read"
				: !any_own ? "the sandbox has no cgroup of its own (cgroups were not "
					     "available at its start: its limits are rlimits, which "
					     "cannot change for processes already running)"
					   : "the sandbox has no cgroup for it (cgroup v1 groups are "
					     "made only for the limits set at start)");
			continue;
		}
		struct cg_dir d = {.path = path, .fd = -1};
		d.fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d.fd < 0) {
			why_add(&why, "%s: cannot open %s: %s", cg_name[c], path, strerror(errno));
			continue;
		}
		if ((version == 1 || leaf_has(path, &d, c, &why)) &&
		    set_one(version, c, &d, l, &why) == 0)
			done |= bit[c];
		close(d.fd);
	}
	if (why.len)
		*report = pc_steal_ptr(&why.data);
	return done;
}
