/* policy: checks that span sections, run once every key has been read. */
#include "policy/policy_internal.h"

#include <string.h>
#include <sys/stat.h>

bool policy_denies(const char *pattern, const char *path)
{
	if (policy_glob_match(pattern, path))
		return true;
	/* A denied folder covers everything inside it. */
	_cleanup_free_ char *parent = pc_xstrdup(path);
	for (char *slash = strrchr(parent, '/'); slash; slash = strrchr(parent, '/')) {
		if (slash == parent) {
			parent[1] = '\0';
			return policy_glob_match(pattern, parent);
		}
		*slash = '\0';
		if (policy_glob_match(pattern, parent))
			return true;
	}
	return false;
}

static bool path_under(const char *path, const char *dir)
{
	size_t l = strlen(dir);
	return strncmp(path, dir, l) == 0 && (path[l] == '\0' || path[l] == '/');
}

/* A granted path must exist (a mount point cannot be made up), must not be
 * denied, and read-write must not hand over the machine. */
static int check_granted(struct pctx *c, const char *key, const struct pc_path *v, size_t n,
			 const struct policy *p, bool rw)
{
	for (size_t i = 0; i < n; i++) {
		size_t old = pctx_key(c, key);
		pctx_index(c, i);
		struct stat st;
		if (stat(v[i].path, &st) < 0)
			return perr(c, v[i].at,
				    "%.200s: %s (a granted path must exist: create it, or remove "
				    "this entry)",
				    v[i].path, strerror(errno));
		if (rw && strcmp(v[i].path, "/") == 0)
			return perr(c, v[i].at,
				    "/ read-write would hand the agent the whole machine (grant "
				    "project folders)");
		if (rw && (path_under(v[i].path, "/proc") || path_under(v[i].path, "/sys") ||
			   path_under(v[i].path, "/dev")))
			return perr(
				c, v[i].at,
				"%.200s cannot be granted read-write (the sandbox makes its own "
				"/proc, /sys and /dev)",
				v[i].path);
		for (size_t j = 0; j < p->fs.n_deny; j++) {
			const struct pc_path *d = &p->fs.deny[j];
			if (!policy_denies(d->path, v[i].path))
				continue;
			if (d->at.line)
				return perr(c, v[i].at,
					    "%.200s is masked by filesystem.deny[%zu] '%.200s' at "
					    "line %d (grant a path that is not denied, or change "
					    "filesystem.deny)",
					    v[i].path, j, d->spec, d->at.line);
			return perr(c, v[i].at,
				    "%.200s is masked by the default deny list ('%.200s'; grant a "
				    "path that is not denied, or set filesystem.deny yourself)",
				    v[i].path, d->spec);
		}
		pctx_pop(c, old);
	}
	return 0;
}

int policy_cross_check(struct pctx *c, struct policy *p)
{
	const struct pc_fs_policy *fs = &p->fs;
	int r = check_granted(c, "filesystem.read_only", fs->read_only, fs->n_read_only, p, false);
	if (r < 0)
		return r;
	r = check_granted(c, "filesystem.read_write", fs->read_write, fs->n_read_write, p, true);
	if (r < 0)
		return r;
	for (size_t i = 0; i < fs->n_read_write; i++) {
		for (size_t j = 0; j < fs->n_read_only; j++) {
			if (strcmp(fs->read_write[i].path, fs->read_only[j].path) != 0)
				continue;
			size_t old = pctx_key(c, "filesystem.read_write");
			pctx_index(c, i);
			r = perr(
				c, fs->read_write[i].at,
				"%.200s is also in filesystem.read_only[%zu] at line %d (a path is "
				"either read_only or read_write, not both)",
				fs->read_write[i].path, j, fs->read_only[j].at.line);
			pctx_pop(c, old);
			return r;
		}
	}
	return 0;
}
