/* The sandbox's filesystem, built in the child (DESIGN.md section 4, step 4).
 *
 * 1. Clone every source tree first (system dirs, grants, device nodes)
 *    while the host's paths are all still in view.
 * 2. Mount a small tmpfs over /tmp: the new root, staged.
 * 3. Place everything in it in path order (parents first), resolving every
 *    target with RESOLVE_IN_ROOT so no symlink can lead a mount or a mkdir
 *    outside the new root.
 * 4. Mask denied paths, remount the root read-only, pivot_root, detach the
 *    old root.
 */
#include "sandbox/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <string.h>

enum op_kind {
	OP_TREE,    /* move a cloned tree into place */
	OP_SYMLINK, /* a system entry that is a symlink on the host */
	OP_TMPFS,   /* scratch, HOME */
	OP_PROC,
	OP_DEV,
};

struct op {
	enum op_kind kind;
	char *target;  /* absolute path inside */
	int fd;	       /* OP_TREE: the tree */
	char *link;    /* OP_SYMLINK: its text */
	uint64_t size; /* OP_TMPFS */
	const char *mode;
	bool own;  /* OP_TMPFS: owned by the agent */
	int order; /* ties: system before grants before special */
};

struct plan {
	struct op *ops;
	size_t n, cap;
	int dev_fds[6];
};

static const char *const dev_nodes[6] = {"null", "zero", "full", "random", "urandom", "tty"};

static struct op *plan_add(struct plan *pl, enum op_kind kind, const char *target, int order)
{
	if (pl->n == pl->cap) {
		pl->cap = pl->cap ? pl->cap * 2 : 32;
		pl->ops = pc_xrealloc(pl->ops, pl->cap * sizeof(*pl->ops));
	}
	struct op *o = &pl->ops[pl->n++];
	*o = (struct op){.kind = kind, .target = pc_xstrdup(target), .fd = -1, .order = order};
	return o;
}

static int op_cmp(const void *a, const void *b)
{
	const struct op *x = a, *y = b;
	int c = strcmp(x->target, y->target);
	return c ? c : x->order - y->order;
}

static int clone_tree(int dfd, const char *path, bool recursive, uint64_t attrs,
		      struct pc_error *err)
{
	unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
	if (dfd >= 0)
		flags |= AT_EMPTY_PATH;
	_cleanup_close_ int fd = sys_open_tree(dfd >= 0 ? dfd : AT_FDCWD, path, flags);
	if (fd < 0)
		return pc_error_errno(err, errno, "bind %s", path);
	struct mount_attr attr = {.attr_set = attrs, .propagation = MS_PRIVATE};
	if (sys_mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr) < 0)
		return pc_error_errno(err, errno, "restrict %s", path);
	return pc_steal_fd(&fd);
}

/* Step 1: every source, cloned while the host paths are in view. */
static int plan_sources(const struct child_args *a, struct plan *pl, struct pc_error *err)
{
	const struct policy *p = a->cfg->policy;
	const uint64_t ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;

	for (size_t i = 0; i < p->fs.n_system; i++) {
		const char *path = p->fs.system[i].path;
		struct stat st;
		if (lstat(path, &st) < 0)
			continue; /* system dirs differ across distributions */
		if (S_ISLNK(st.st_mode)) {
			char buf[4096];
			ssize_t l = readlink(path, buf, sizeof(buf) - 1);
			if (l < 0)
				continue;
			buf[l] = '\0';
			plan_add(pl, OP_SYMLINK, path, 0)->link = pc_xstrdup(buf);
			continue;
		}
		int fd = clone_tree(-1, path, true, ro, err);
		if (fd < 0)
			return pc_error_prefix(err, "filesystem.system[%zu]", i);
		plan_add(pl, OP_TREE, path, 0)->fd = fd;
	}

	for (size_t i = 0; i < a->n_grants; i++) {
		struct grant_tree *g = &a->grants[i];
		int fd = g->fd;
		if (fd < 0) {
			/* Not root: clone it here, from the path the parent resolved,
			 * refusing any symlink that appeared since. */
			struct open_how how = {.flags = O_PATH | O_CLOEXEC,
					       .resolve = RESOLVE_NO_SYMLINKS};
			_cleanup_close_ int pfd =
				(int)syscall(SYS_openat2, AT_FDCWD, g->resolved, &how, sizeof(how));
			struct stat want, got;
			if (pfd < 0 || fstat(pfd, &got) < 0 || fstat(g->pin, &want) < 0)
				return pc_error_errno(err, errno, "%s", g->path->spec);
			if (got.st_dev != want.st_dev || got.st_ino != want.st_ino)
				return pc_error(err, EPERM,
						"%s changed while the sandbox was built",
						g->path->spec);
			uint64_t attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					 (g->writable ? 0 : MOUNT_ATTR_RDONLY);
			fd = clone_tree(pfd, "", true, attrs, err);
			if (fd < 0)
				return pc_error_prefix(err, "%s", g->path->spec);
		} else {
			fd = dup(fd);
		}
		plan_add(pl, OP_TREE, g->path->path, 1)->fd = fd;
	}

	for (size_t i = 0; i < PC_ARRAY_SIZE(dev_nodes); i++) {
		char path[32];
		snprintf(path, sizeof(path), "/dev/%s", dev_nodes[i]);
		pl->dev_fds[i] =
			clone_tree(-1, path, false, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
		if (pl->dev_fds[i] < 0)
			return pl->dev_fds[i];
	}

	struct op *o = plan_add(pl, OP_TMPFS, p->fs.scratch_path, 2);
	o->size = p->fs.scratch_size;
	o->mode = "1777";
	plan_add(pl, OP_PROC, "/proc", 2);
	plan_add(pl, OP_DEV, "/dev", 2);
	return 0;
}

/* ---- placing things in the new root ------------------------------------ */

static int open_in_root(int root, const char *path, int flags, unsigned extra)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra};
	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	return (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
}

/* mkdir -p inside the new root; returns an O_PATH fd of the directory. */
static int mkdirs_in_root(int root, const char *path, struct pc_error *err)
{
	_cleanup_close_ int cur = open_in_root(root, "/", O_PATH | O_DIRECTORY, 0);
	if (cur < 0)
		return pc_error_errno(err, errno, "open new root");
	_cleanup_free_ char *copy = pc_xstrdup(path);
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST)
			return pc_error_errno(err, errno, "create %s in the sandbox", path);
		/* Resolve one step at a time, staying inside the new root. */
		struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
		int next = (int)syscall(SYS_openat2, cur, c, &how, sizeof(how));
		if (next < 0)
			return pc_error_errno(err, errno, "enter %s in the sandbox", path);
		close(cur);
		cur = next;
	}
	return pc_steal_fd(&cur);
}

/* The mount point for target: a directory, or an empty file when the source
 * is a file. Returns an O_PATH fd of it. */
static int make_mountpoint(int root, const char *target, bool dir, struct pc_error *err)
{
	if (dir)
		return mkdirs_in_root(root, target, err);
	_cleanup_free_ char *parent = pc_xstrdup(target);
	char *slash = strrchr(parent, '/');
	const char *name = slash + 1;
	*slash = '\0';
	_cleanup_close_ int pfd = mkdirs_in_root(root, parent[0] ? parent : "/", err);
	if (pfd < 0)
		return pfd;
	_cleanup_close_ int f =
		openat(pfd, name, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (f < 0 && errno != EEXIST && errno != EISDIR && errno != EROFS && errno != EACCES)
		return pc_error_errno(err, errno, "create %s in the sandbox", target);
	int fd = open_in_root(root, target, O_PATH, RESOLVE_NO_SYMLINKS);
	if (fd < 0)
		return pc_error_errno(err, errno, "mount point %s", target);
	return fd;
}

static int attach(int tree, int at, const char *what, struct pc_error *err)
{
	if (sys_move_mount(tree, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return pc_error_errno(err, errno, "mount %s", what);
	return 0;
}

/* A new filesystem instance (tmpfs, proc, devpts) as a detached mount. */
static int new_fs(const char *type, const char *const *opts, unsigned attrs, struct pc_error *err)
{
	_cleanup_close_ int fs = sys_fsopen(type, FSOPEN_CLOEXEC);
	if (fs < 0)
		return pc_error_errno(err, errno, "fsopen %s", type);
	for (size_t i = 0; opts && opts[i]; i += 2) {
		int r = opts[i + 1] ? sys_fsconfig(fs, FSCONFIG_SET_STRING, opts[i], opts[i + 1], 0)
				    : sys_fsconfig(fs, FSCONFIG_SET_FLAG, opts[i], NULL, 0);
		if (r < 0)
			return pc_error_errno(err, errno, "%s option %s", type, opts[i]);
	}
	if (sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return pc_error_errno(err, errno, "create %s", type);
	int m = sys_fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	if (m < 0)
		return pc_error_errno(err, errno, "fsmount %s", type);
	return m;
}

static int mount_new_fs(int root, const char *target, const char *type, const char *const *opts,
			unsigned attrs, struct pc_error *err)
{
	_cleanup_close_ int m = new_fs(type, opts, attrs, err);
	if (m < 0)
		return m;
	_cleanup_close_ int at = mkdirs_in_root(root, target, err);
	if (at < 0)
		return at;
	return attach(m, at, target, err);
}

static int write_in_root(int root, const char *path, const char *content, mode_t mode,
			 struct pc_error *err)
{
	_cleanup_close_ int fd = open_in_root(root, path, O_WRONLY | O_CREAT | O_TRUNC, 0);
	if (fd < 0)
		return pc_error_errno(err, errno, "create %s", path);
	if (pc_write_all(fd, content, strlen(content)) < 0 || fchmod(fd, mode) < 0)
		return pc_error_errno(err, errno, "write %s", path);
	return 0;
}

static int build_dev(int root, const struct plan *pl, struct pc_error *err)
{
	const char *const tmpfs_opts[] = {"mode", "0755", "size", "64k", NULL};
	int r = mount_new_fs(root, "/dev", "tmpfs", tmpfs_opts,
			     MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < PC_ARRAY_SIZE(dev_nodes); i++) {
		char target[32];
		snprintf(target, sizeof(target), "/dev/%s", dev_nodes[i]);
		_cleanup_close_ int at = make_mountpoint(root, target, false, err);
		if (at < 0)
			return at;
		if ((r = attach(pl->dev_fds[i], at, target, err)) < 0)
			return r;
	}
	/* A devpts of our own: the agent sees only its own terminals. */
	const char *const pts_opts[] = {"newinstance", NULL,   "ptmxmode", "0666",
					"mode",	       "0620", NULL};
	r = mount_new_fs(root, "/dev/pts", "devpts", pts_opts,
			 MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
	if (r < 0)
		return r;
	const char *const shm_opts[] = {"mode", "1777", "size", "64m", NULL};
	r = mount_new_fs(root, "/dev/shm", "tmpfs", shm_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
			 err);
	if (r < 0)
		return r;
	_cleanup_close_ int dev = open_in_root(root, "/dev", O_PATH | O_DIRECTORY, 0);
	static const char *const links[][2] = {
		{"pts/ptmx", "ptmx"},	       {"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"},  {"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},
	};
	for (size_t i = 0; i < PC_ARRAY_SIZE(links); i++)
		if (symlinkat(links[i][0], dev, links[i][1]) < 0)
			return pc_error_errno(err, errno, "symlink /dev/%s", links[i][1]);
	return 0;
}

static int place(int root, struct op *o, const struct child_args *a, struct pc_error *err)
{
	switch (o->kind) {
	case OP_TREE: {
		struct stat st;
		if (fstat(o->fd, &st) < 0)
			return pc_error_errno(err, errno, "stat %s", o->target);
		_cleanup_close_ int at = make_mountpoint(root, o->target, S_ISDIR(st.st_mode), err);
		if (at < 0)
			return at;
		return attach(o->fd, at, o->target, err);
	}
	case OP_SYMLINK: {
		_cleanup_free_ char *parent = pc_xstrdup(o->target);
		char *slash = strrchr(parent, '/');
		*slash = '\0';
		_cleanup_close_ int pfd = mkdirs_in_root(root, parent[0] ? parent : "/", err);
		if (pfd < 0)
			return pfd;
		if (symlinkat(o->link, pfd, slash + 1) < 0 && errno != EEXIST)
			return pc_error_errno(err, errno, "symlink %s", o->target);
		return 0;
	}
	case OP_TMPFS: {
		char size[32], uid[16];
		snprintf(size, sizeof(size), "%llu", (unsigned long long)o->size);
		snprintf(uid, sizeof(uid), "%d", SANDBOX_AGENT_UID);
		const char *const opts[] = {"mode", o->mode, "size", size, "uid",
					    uid,    "gid",   uid,    NULL};
		return mount_new_fs(root, o->target, "tmpfs", opts,
				    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
	}
	case OP_PROC: {
		const char *const opts[] = {NULL};
		return mount_new_fs(root, "/proc", "proc", opts,
				    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
	}
	case OP_DEV:
		(void)a;
		return 0; /* built after the loop: needs the device trees */
	default:
		return pc_error(err, EINVAL, "unknown mount step");
	}
}

/* ---- denied paths ------------------------------------------------------ */

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* Scanning granted trees for glob matches must end: past this many entries
 * the sandbox refuses to start rather than miss a match. */
#define DENY_SCAN_BUDGET 200000

struct mask_ctx {
	int root;
	const struct child_args *a;
	size_t budget;
	int empty_file; /* O_PATH of an empty, unreadable file in the root */
	struct pc_error *err;
};

/* Cover what `path` (inside the new root) names. A symlink is followed,
 * inside the root, and its target covered: a denied name that is a link
 * (~/.ssh -> dotfiles/ssh) hides what it points to. */
static int mask_one(struct mask_ctx *m, const char *path)
{
	/* Links are followed, but only ever inside the new root. */
	_cleanup_close_ int at = open_in_root(m->root, path, O_PATH, 0);
	struct stat st;
	if (at < 0)
		return 0; /* not in the sandbox's view: nothing to hide */
	if (fstat(at, &st) < 0)
		return pc_error_errno(m->err, errno, "stat %s", path);
	if (S_ISDIR(st.st_mode)) {
		const char *const opts[] = {"mode", "0000", "size", "4k", NULL};
		_cleanup_close_ int t = new_fs("tmpfs", opts,
					       MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
						       MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
					       m->err);
		if (t < 0)
			return t;
		return attach(t, at, path, m->err);
	}
	_cleanup_close_ int t = clone_tree(m->empty_file, "", false,
					   MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
						   MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
					   m->err);
	if (t < 0)
		return t;
	return attach(t, at, path, m->err);
}

/* A grant is mounted at the path the policy wrote (W) from where that
 * resolves on the host (R). A host path under R is at W + rest inside. */
static char *host_to_inside(const struct grant_tree *g, const char *host)
{
	if (!path_within(host, g->resolved))
		return NULL;
	const char *rest = host + strlen(g->resolved);
	if (strcmp(g->resolved, "/") == 0)
		rest = host;
	return pc_xasprintf("%s%s", g->path->path, rest);
}

static char *inside_to_host(const struct grant_tree *g, const char *inside)
{
	if (!path_within(inside, g->path->path))
		return NULL;
	return pc_xasprintf("%s%s", g->resolved, inside + strlen(g->path->path));
}

static bool deny_matches(const char *pattern, const struct grant_tree *g, const char *inside)
{
	if (policy_glob_match(pattern, inside))
		return true;
	_cleanup_free_ char *host = g ? inside_to_host(g, inside) : NULL;
	return host && policy_glob_match(pattern, host);
}

static int mask_walk(struct mask_ctx *m, const char *pattern, const struct grant_tree *g,
		     struct pc_buf *path)
{
	_cleanup_close_ int dfd = open_in_root(m->root, path->len ? path->data : "/",
					       O_RDONLY | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
	if (dfd < 0)
		return 0;
	DIR *d = fdopendir(dfd);
	if (!d)
		return pc_error_errno(m->err, errno, "scan %s", path->data);
	dfd = -1;
	size_t base = path->len;
	int r = 0;
	struct dirent *e;
	while (r == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (m->budget-- == 0) {
			r = pc_error(m->err, E2BIG,
				     "deny pattern %s: more than %d entries to scan in the granted "
				     "folders; narrow the grant or the pattern",
				     pattern, DENY_SCAN_BUDGET);
			break;
		}
		path->len = base;
		pc_buf_printf(path, "/%s", e->d_name);
		if (deny_matches(pattern, g, path->data))
			r = mask_one(m, path->data);
		else if (e->d_type == DT_DIR)
			r = mask_walk(m, pattern, g, path);
	}
	path->len = base;
	if (path->data)
		path->data[base] = '\0';
	closedir(d);
	return r;
}

/* Where a glob can match at all: the literal directory before its first
 * wildcard: "/home/a/x*" gives "/home/a". */
static char *glob_base(const char *pattern)
{
	const char *w = strpbrk(pattern, "*?[");
	_cleanup_free_ char *b = pc_xstrndup(pattern, (size_t)(w - pattern));
	char *slash = strrchr(b, '/');
	if (slash)
		*slash = '\0';
	return pc_steal_ptr(&b);
}

/* A literal deny path: where it is inside, directly and through every
 * grant whose host side holds it (as written, and as it resolves). */
static int mask_literal(struct mask_ctx *m, size_t i)
{
	const struct child_args *a = m->a;
	const char *pat = a->cfg->policy->fs.deny[i].path;
	int r = mask_one(m, pat);
	const char *real = a->deny_real ? a->deny_real[i] : NULL;
	for (size_t g = 0; r == 0 && g < a->n_grants; g++) {
		const char *hosts[] = {pat, real && *real ? real : NULL};
		for (size_t k = 0; r == 0 && k < PC_ARRAY_SIZE(hosts); k++) {
			_cleanup_free_ char *in =
				hosts[k] ? host_to_inside(&a->grants[g], hosts[k]) : NULL;
			if (in && strcmp(in, pat) != 0)
				r = mask_one(m, in);
		}
	}
	return r;
}

static int mask_glob(struct mask_ctx *m, const char *pat)
{
	const struct child_args *a = m->a;
	_cleanup_free_ char *gb = glob_base(pat);
	const char *base = gb[0] ? gb : "/";
	int r = 0;
	/* Only granted folders hold the agent's host files worth a walk. */
	for (size_t g = 0; g < a->n_grants && r == 0; g++) {
		const struct grant_tree *gt = &a->grants[g];
		const char *gp = gt->path->path;
		const char *start = NULL;
		_cleanup_free_ char *via_host = NULL;
		if (path_within(gp, base) || path_within(gt->resolved, base))
			start = gp;
		else if (path_within(base, gp))
			start = base;
		else if ((via_host = host_to_inside(gt, base)))
			start = via_host;
		if (!start)
			continue;
		_cleanup_buf_ struct pc_buf walk = {0};
		pc_buf_puts(&walk, strcmp(start, "/") == 0 ? "" : start);
		if (deny_matches(pat, gt, start))
			r = mask_one(m, start);
		else
			r = mask_walk(m, pat, gt, &walk);
	}
	return r;
}

static int apply_denies(int root, const struct child_args *a, struct pc_error *err)
{
	const struct policy *p = a->cfg->policy;
	if (p->fs.n_deny == 0)
		return 0;
	int r = write_in_root(root, "/.pincer/empty", "", 0000, err);
	if (r < 0)
		return r;
	_cleanup_close_ int empty = open_in_root(root, "/.pincer/empty", O_PATH, 0);
	struct mask_ctx m = {
		.root = root, .a = a, .budget = DENY_SCAN_BUDGET, .empty_file = empty, .err = err};
	for (size_t i = 0; i < p->fs.n_deny && r == 0; i++) {
		const char *pat = p->fs.deny[i].path;
		r = has_glob(pat) ? mask_glob(&m, pat) : mask_literal(&m, i);
	}
	return r;
}

/* ---- generated files ---------------------------------------------------- */

/* Lay the file staged (a path in the new root) read-only over path, when
 * path exists in the new root; else leave it out. */
static int overlay_file(int root, const char *staged, const char *path, struct pc_error *err)
{
	_cleanup_close_ int src = open_in_root(root, staged, O_PATH, 0);
	if (src < 0)
		return pc_error_errno(err, errno, "open %s", staged);
	_cleanup_close_ int at = open_in_root(root, path, O_PATH, RESOLVE_NO_SYMLINKS);
	if (at < 0)
		return 0; /* not in this view (or a symlink): nothing to cover */
	_cleanup_close_ int t = clone_tree(src, "", false,
					   MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
	if (t < 0)
		return t;
	return attach(t, at, path, err);
}

static int write_etc(int root, const struct child_args *a, struct pc_error *err)
{
	const struct policy *p = a->cfg->policy;
	char passwd[512], group[256], hosts[512];
	snprintf(passwd, sizeof(passwd),
		 "root:x:0:0:root:/root:/usr/sbin/nologin\n"
		 "agent:x:%d:%d:pincer agent:%s:/bin/sh\n"
		 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		 SANDBOX_AGENT_UID, SANDBOX_AGENT_GID, a->home);
	snprintf(group, sizeof(group), "root:x:0:\nagent:x:%d:\nnogroup:x:65534:\n",
		 SANDBOX_AGENT_GID);
	snprintf(hosts, sizeof(hosts),
		 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		 "127.0.1.1\t%s\n",
		 p->hostname);
	char hostname[300];
	snprintf(hostname, sizeof(hostname), "%s\n", p->hostname);
	const char *const files[][2] = {
		{"passwd", passwd},
		{"group", group},
		{"hosts", hosts},
		{"hostname", hostname},
		/* The gate's DNS socket: it answers every name, so that the
		 * name reaches the gate with the connection that follows. */
		{"resolv.conf", "# pincer's gate answers every name here; the sandbox reaches "
				"the network only through the gate\nnameserver 127.0.0.1\n"},
	};
	_cleanup_close_ int etc = mkdirs_in_root(root, "/etc", err);
	if (etc < 0)
		return etc;
	int r = 0;
	for (size_t i = 0; i < PC_ARRAY_SIZE(files) && r == 0; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/etc/%s", files[i][0]);
		_cleanup_close_ int fd = open_in_root(root, path, O_WRONLY | O_CREAT | O_EXCL, 0);
		if (fd >= 0) {
			if (pc_write_all(fd, files[i][1], strlen(files[i][1])) < 0 ||
			    fchmod(fd, 0644) < 0)
				r = pc_error_errno(err, errno, "write %s", path);
			continue;
		}
		/* /etc is a bind of the host's: lay ours over the host file. */
		char staged[64];
		snprintf(staged, sizeof(staged), "/.pincer/%s", files[i][0]);
		if ((r = write_in_root(root, staged, files[i][1], 0644, err)) < 0)
			break;
		r = overlay_file(root, staged, path, err);
	}
	return r;
}

/* The CA bundle of a run that intercepts TLS: the system roots plus the
 * run's CA, at /.pincer/ca-bundle.pem (where the environment points) and
 * over the distribution's bundle for programs that read only that. */
static int write_ca_bundle(int root, const struct child_args *a, struct pc_error *err)
{
	const char *bundle = a->cfg->ca_bundle;
	if (!bundle)
		return 0;
	int r = write_in_root(root, SANDBOX_CA_BUNDLE, bundle, 0444, err);
	static const char *const usual[] = {"/etc/ssl/certs/ca-certificates.crt",
					    "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"};
	for (size_t i = 0; i < PC_ARRAY_SIZE(usual) && r == 0; i++)
		r = overlay_file(root, SANDBOX_CA_BUNDLE, usual[i], err);
	return r;
}

/* ---- the whole build ---------------------------------------------------- */

bool rootfs_home_needs_tmpfs(const struct policy *p, const char *home)
{
	if (!home || home[0] != '/' || strcmp(home, "/") == 0)
		return false;
	if (path_within(home, p->fs.scratch_path))
		return false;
	for (size_t i = 0; i < p->fs.n_read_write; i++)
		if (path_within(home, p->fs.read_write[i].path))
			return false;
	return true;
}

int rootfs_build(const struct child_args *a, struct pc_error *err)
{
	struct plan pl = {0};
	for (size_t i = 0; i < PC_ARRAY_SIZE(pl.dev_fds); i++)
		pl.dev_fds[i] = -1;
	int r = 0;

	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		r = pc_error_errno(err, errno, "make mounts private");
		goto out;
	}
	if ((r = plan_sources(a, &pl, err)) < 0)
		goto out;
	if (a->home_tmpfs) {
		struct op *o = plan_add(&pl, OP_TMPFS, a->home, 3);
		o->size = a->cfg->policy->fs.scratch_size;
		o->mode = "0700";
	}
	qsort(pl.ops, pl.n, sizeof(*pl.ops), op_cmp);

	/* The staged root: small, since only mount points and /etc live here. */
	const char *const root_opts[] = {"mode", "0755", "size", "2m", NULL};
	_cleanup_close_ int rootmnt =
		new_fs("tmpfs", root_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
	if (rootmnt < 0) {
		r = rootmnt;
		goto out;
	}
	if (sys_move_mount(rootmnt, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		r = pc_error_errno(err, errno, "mount the new root");
		goto out;
	}
	_cleanup_close_ int root = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		r = pc_error_errno(err, errno, "open the new root");
		goto out;
	}
	if (mkdirat(root, ".pincer", 0755) < 0) {
		r = pc_error_errno(err, errno, "create /.pincer");
		goto out;
	}

	for (size_t i = 0; i < pl.n && r == 0; i++)
		r = place(root, &pl.ops[i], a, err);
	if (r == 0)
		r = build_dev(root, &pl, err);
	if (r == 0)
		r = write_etc(root, a, err);
	if (r == 0)
		r = write_ca_bundle(root, a, err);
	if (r == 0)
		r = apply_denies(root, a, err);
	if (r < 0)
		goto out;

	/* The root itself is read-only: the agent writes only where granted. */
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
	if (sys_mount_setattr(root, "", AT_EMPTY_PATH, &ro) < 0) {
		r = pc_error_errno(err, errno, "make the root read-only");
		goto out;
	}
	if (fchdir(root) < 0 || sys_pivot_root(".", ".") < 0) {
		r = pc_error_errno(err, errno, "pivot_root");
		goto out;
	}
	/* The old root is stacked on top of the new one: detach it. */
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
		r = pc_error_errno(err, errno, "detach the old root");
		goto out;
	}
out:
	for (size_t i = 0; i < pl.n; i++) {
		free(pl.ops[i].target);
		free(pl.ops[i].link);
		if (pl.ops[i].fd >= 0)
			close(pl.ops[i].fd);
	}
	for (size_t i = 0; i < PC_ARRAY_SIZE(pl.dev_fds); i++)
		if (pl.dev_fds[i] >= 0)
			close(pl.dev_fds[i]);
	free(pl.ops);
	return r;
}
