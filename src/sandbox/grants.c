/* Granted folders, prepared on the host side before the sandbox exists.
 *
 * Every grant is resolved here, once, and checked: it must exist, must not
 * lead (through a symlink an earlier agent may have planted) into a denied
 * path or a system directory, and must not contain pincer's own state. As
 * root, the grant becomes a detached mount whose idmap makes the folder's
 * owner the agent: the agent can work in the folder it was given without
 * ever being host root.
 */
#include "sandbox/internal.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Directories a symlinked read-write grant must never land in. */
static const char *const system_dirs[] = {"/",	  "/bin",   "/boot",  "/dev",	 "/etc",
					  "/lib", "/lib32", "/lib64", "/libx32", "/proc",
					  "/run", "/sbin",  "/sys",   "/usr",	 "/var"};

static bool is_system_path(const char *p)
{
	if (strcmp(p, "/") == 0)
		return true;
	for (size_t i = 1; i < PC_ARRAY_SIZE(system_dirs); i++) {
		/* /var itself, but /var/tmp/x is an ordinary place */
		if (strcmp(system_dirs[i], "/var") == 0) {
			if (strcmp(p, "/var") == 0 || path_within(p, "/var/lib") ||
			    path_within(p, "/var/log") || path_within(p, "/var/run"))
				return true;
			continue;
		}
		if (path_within(p, system_dirs[i]))
			return true;
	}
	return false;
}

/* The deny entry covering path (or one of its ancestors), if any. */
static const struct pc_path *denied_by(const struct policy *p, const char *path)
{
	_cleanup_free_ char *cur = pc_xstrdup(path);
	for (;;) {
		for (size_t i = 0; i < p->fs.n_deny; i++)
			if (policy_glob_match(p->fs.deny[i].path, cur))
				return &p->fs.deny[i];
		char *slash = strrchr(cur, '/');
		if (!slash || slash == cur)
			return NULL;
		*slash = '\0';
	}
}

/* Resolve a grant once and pin it: realpath follows the symlinks the
 * policy author meant, then the result is opened with no symlink allowed
 * anywhere, so a link swapped in after the check (an agent with write
 * access to a parent may try) fails instead of redirecting the grant. The
 * checks then run on where the pinned inode really is. */
static int pin_grant(struct grant_tree *g, const char *what, size_t idx, struct pc_error *err)
{
	const struct pc_path *path = g->path;
	_cleanup_free_ char *r = realpath(path->path, NULL);
	if (!r)
		return pc_error_errno(err, errno, "filesystem.%s[%zu] %s", what, idx, path->spec);
	struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS};
	g->pin = (int)syscall(SYS_openat2, AT_FDCWD, r, &how, sizeof(how));
	if (g->pin < 0)
		return pc_error_errno(err, errno,
				      "filesystem.%s[%zu] %s changed while pincer checked it", what,
				      idx, path->spec);
	char proc[64], now[PATH_MAX];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", g->pin);
	ssize_t n = readlink(proc, now, sizeof(now) - 1);
	if (n <= 0)
		return pc_error_errno(err, errno, "filesystem.%s[%zu] %s", what, idx, path->spec);
	now[n] = '\0';
	g->resolved = pc_xstrdup(now);
	return 0;
}

static int check_grant(const struct sandbox_config *cfg, struct grant_tree *g, const char *what,
		       size_t idx, struct pc_error *err)
{
	const struct policy *p = cfg->policy;
	const struct pc_path *path = g->path;
	int pr = pin_grant(g, what, idx, err);
	if (pr < 0)
		return pr;
	const char *r = g->resolved;

	const struct pc_path *d = denied_by(p, r);
	if (d) {
		if (strcmp(r, path->path) != 0)
			return pc_error(
				err, EPERM,
				"filesystem.%s[%zu] %s leads to %s, which the policy denies "
				"(deny: %s)",
				what, idx, path->spec, r, d->spec);
		return pc_error(err, EPERM,
				"filesystem.%s[%zu] %s lies in a path the policy denies (deny: %s)",
				what, idx, path->spec, d->spec);
	}
	for (size_t i = 0; cfg->hidden && cfg->hidden[i]; i++) {
		const char *h = cfg->hidden[i];
		if (path_within(h, r) || path_within(r, h))
			return pc_error(
				err, EPERM,
				"filesystem.%s[%zu] %s would expose pincer's own state %s to "
				"the agent",
				what, idx, path->spec, h);
	}
	/* System directories are never the agent's to write, and never reached
	 * through a link (the link may be an earlier agent's work). */
	if (is_system_path(r) && (g->writable || strcmp(r, path->path) != 0))
		return pc_error(err, EPERM, "filesystem.%s[%zu] %s%s%s is a system directory: %s",
				what, idx, path->spec, strcmp(r, path->path) ? " leads to " : "",
				strcmp(r, path->path) ? r : "",
				g->writable ? "it is never granted read-write"
					    : "name it directly to grant it read-only");
	return 0;
}

/* A user namespace whose only mapping is owner -> agent: the idmap of a
 * grant. It needs a process to exist while its maps are written; a child
 * sharing our memory costs no page-table copy. */
struct idmap_child {
	int pipe_rd;
	int pipe_wr;
};

static int idmap_child_fn(void *arg)
{
	struct idmap_child *c = arg;
	char x;
	/* Our copy of the write end would keep the pipe open forever. */
	close(c->pipe_wr);
	/* Wait for the parent to close the pipe; no libc state touched. */
	while (read(c->pipe_rd, &x, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

static int idmap_userns(uid_t owner, gid_t owner_gid, uid_t agent_uid, gid_t agent_gid,
			struct pc_error *err)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return pc_error_errno(err, errno, "pipe");
	_cleanup_close_ int rd = pfd[0], wr = pfd[1];
	const size_t stack_size = 64 * 1024;
	void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return pc_error_errno(err, errno, "mmap");
	struct idmap_child c = {.pipe_rd = rd, .pipe_wr = wr};
	pid_t pid = clone(idmap_child_fn, (char *)stack + stack_size,
			  CLONE_NEWUSER | CLONE_VM | SIGCHLD, &c);
	if (pid < 0) {
		int e = errno;
		munmap(stack, stack_size);
		return pc_error_errno(err, e, "clone (idmap user namespace)");
	}
	char path[64], map[64];
	int r = 0;
	snprintf(map, sizeof(map), "%u %u 1\n", owner, agent_uid);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
	r = pc_write_string(path, map, err);
	if (r == 0) {
		snprintf(path, sizeof(path), "/proc/%d/setgroups", pid);
		r = pc_write_string(path, "deny", err);
	}
	if (r == 0) {
		snprintf(map, sizeof(map), "%u %u 1\n", owner_gid, agent_gid);
		snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
		r = pc_write_string(path, map, err);
	}
	int nsfd = -1;
	if (r == 0) {
		snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
		nsfd = open(path, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0)
			r = pc_error_errno(err, errno, "open %s", path);
	}
	close(pc_steal_fd(&wr));
	while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
	munmap(stack, stack_size);
	return r < 0 ? r : nsfd;
}

static int make_tree(struct grant_tree *g, uid_t agent_uid, gid_t agent_gid, int *ns_cache,
		     uid_t *ns_owner, struct pc_error *err)
{
	/* From the pinned fd: nothing is looked up by path again. */
	_cleanup_close_ int tree = sys_open_tree(
		g->pin, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		return pc_error_errno(err, errno, "cannot bind %s", g->path->spec);
	struct stat st;
	if (fstat(tree, &st) < 0)
		return pc_error_errno(err, errno, "stat %s", g->resolved);

	uint64_t flags = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	if (!g->writable)
		flags |= MOUNT_ATTR_RDONLY;
	/* Reading root's private files is not what a read-only grant of a
	 * root-owned folder means: there the agent reads as any user would. A
	 * writable folder is the agent's to work in whoever owns it (seccomp
	 * keeps it from making setuid or setgid files there). */
	if (!g->writable && st.st_uid == 0) {
		struct mount_attr plain = {.attr_set = flags};
		if (sys_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &plain) < 0)
			return pc_error_errno(err, errno, "cannot restrict %s", g->path->spec);
		g->fd = pc_steal_fd(&tree);
		return 0;
	}

	/* The folder's owner becomes the agent. One user namespace per owner. */
	if (*ns_cache < 0 || *ns_owner != st.st_uid) {
		if (*ns_cache >= 0)
			close(*ns_cache);
		*ns_cache = idmap_userns(st.st_uid, st.st_gid, agent_uid, agent_gid, err);
		*ns_owner = st.st_uid;
		if (*ns_cache < 0)
			return *ns_cache;
	}
	struct mount_attr attr = {.attr_set = flags | MOUNT_ATTR_IDMAP,
				  .userns_fd = (uint64_t)*ns_cache};
	if (sys_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr) < 0) {
		/* A filesystem without idmap support (NFS, FUSE): bind it plainly;
		 * the agent then reads and writes there as "others". */
		pc_warn("%s: cannot map its owner to the agent (%s); the agent gets "
			"only the access any user has",
			g->path->spec, strerror(errno));
		attr = (struct mount_attr){.attr_set = flags};
		if (sys_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr) < 0)
			return pc_error_errno(err, errno, "cannot restrict %s", g->path->spec);
	}
	g->fd = pc_steal_fd(&tree);
	return 0;
}

int grants_prepare(const struct sandbox_config *cfg, bool as_root, uid_t agent_uid, gid_t agent_gid,
		   struct grant_tree **out, size_t *n_out, struct pc_error *err)
{
	const struct policy *p = cfg->policy;
	size_t n = p->fs.n_read_only + p->fs.n_read_write;
	struct grant_tree *g = pc_xcalloc(n ? n : 1, sizeof(*g));
	for (size_t i = 0; i < n; i++) {
		bool rw = i >= p->fs.n_read_only;
		g[i].path = rw ? &p->fs.read_write[i - p->fs.n_read_only] : &p->fs.read_only[i];
		g[i].writable = rw;
		g[i].fd = -1;
		g[i].pin = -1;
	}
	/* pincer's own state must not be in view through a system dir either. */
	for (size_t i = 0; i < p->fs.n_system; i++)
		for (size_t h = 0; cfg->hidden && cfg->hidden[h]; h++)
			if (path_within(cfg->hidden[h], p->fs.system[i].path)) {
				grants_free(g, n);
				return pc_error(
					err, EPERM,
					"filesystem.system[%zu] %s would expose pincer's own "
					"state %s to the agent",
					i, p->fs.system[i].spec, cfg->hidden[h]);
			}
	int ns = -1;
	uid_t ns_owner = 0;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		bool rw = g[i].writable;
		size_t idx = rw ? i - p->fs.n_read_only : i;
		r = check_grant(cfg, &g[i], rw ? "read_write" : "read_only", idx, err);
		if (r == 0 && as_root)
			r = make_tree(&g[i], agent_uid, agent_gid, &ns, &ns_owner, err);
	}
	if (ns >= 0)
		close(ns);
	if (r < 0) {
		grants_free(g, n);
		return r;
	}
	*out = g;
	*n_out = n;
	return 0;
}

void grants_free(struct grant_tree *g, size_t n)
{
	for (size_t i = 0; g && i < n; i++) {
		free(g[i].resolved);
		if (g[i].fd >= 0)
			close(g[i].fd);
		if (g[i].pin >= 0)
			close(g[i].pin);
	}
	free(g);
}
