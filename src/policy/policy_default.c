/* policy: the defaults of DESIGN.md section 5 and the built-in policy used
 * when no file is given. */
#include "policy/policy_internal.h"

#include <string.h>

/* Read-only system folders when filesystem.system is absent. Missing ones
 * are skipped when mounting. */
const char *const pc_default_system[] = {
	"/usr",
	"/bin",
	"/sbin",
	"/lib",
	"/lib32",
	"/lib64",
	"/libx32",
	"/etc/alternatives",
	"/etc/ssl",
	"/etc/ca-certificates",
	"/etc/ld.so.cache",
	"/etc/ld.so.conf",
	"/etc/ld.so.conf.d",
	"/etc/localtime",
	"/etc/nsswitch.conf",
	"/etc/protocols",
	"/etc/services",
	"/etc/mime.types",
	NULL,
};

/* Masked when filesystem.deny is absent: where credentials usually live. */
const char *const pc_default_deny[] = {
	"~/.ssh",
	"~/.gnupg",
	"~/.aws",
	"~/.config/gcloud",
	"~/.kube",
	"~/.docker",
	"~/.netrc",
	"~/.git-credentials",
	"~/.password-store",
	NULL,
};

void pc_paths_free(struct pc_path *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].spec);
	}
	free(v);
}

void pc_paths_default(struct pc_path **v, size_t *n, const char *const *specs, const char *home)
{
	size_t k = 0;
	while (specs[k])
		k++;
	*v = pc_xcalloc(k, sizeof(**v));
	for (size_t i = 0; i < k; i++) {
		(*v)[i].spec = pc_xstrdup(specs[i]);
		(*v)[i].path = pc_expand_home(specs[i], home);
		(void)path_normalise((*v)[i].path);
	}
	*n = k;
}

void policy_fill_defaults(struct policy *p, const char *home)
{
	p->version = PC_POLICY_VERSION;
	p->isolation = PC_ISOLATION_NAMESPACES;
	p->hostname = pc_xstrdup("agent");
	pc_paths_default(&p->fs.system, &p->fs.n_system, pc_default_system, home);
	pc_paths_default(&p->fs.deny, &p->fs.n_deny, pc_default_deny, home);
	p->fs.scratch_path = pc_xstrdup("/tmp");
	p->fs.scratch_size = 256ULL << 20;
	p->net.default_deny = true;
	p->net.deny_private = true;
	p->net.gate_port = PC_GATE_PORT_DEFAULT;
	p->net.enforcement = PC_ENFORCE;
	p->process.on_oom = PC_ON_OOM_STOP;
	p->process.seccomp = PC_SECCOMP_DEFAULT;
	p->process.landlock = PC_LANDLOCK_BEST_EFFORT;
}

/* The folders the built-in default never grants read-write: the whole
 * machine, and the system's own folders. */
static bool is_system_dir(const char *cwd)
{
	static const char *const trees[] = {"/bin",   "/boot",	"/dev",	   "/etc",  "/lib",
					    "/lib32", "/lib64", "/libx32", "/proc", "/run",
					    "/sbin",  "/sys",	"/usr",	   NULL};
	static const char *const exact[] = {"/", "/var", "/var/lib", "/var/log", "/home", NULL};
	for (size_t i = 0; exact[i]; i++)
		if (strcmp(cwd, exact[i]) == 0)
			return true;
	for (size_t i = 0; trees[i]; i++) {
		size_t l = strlen(trees[i]);
		if (strncmp(cwd, trees[i], l) == 0 && (cwd[l] == '\0' || cwd[l] == '/'))
			return true;
	}
	return false;
}

int policy_default(const char *cwd, struct policy **out, struct pc_error *err)
{
	if (!cwd || cwd[0] != '/')
		return pc_error(err, EINVAL,
				"the built-in default policy needs an absolute working folder, not "
				"'%s'",
				cwd ? cwd : "(none)");
	_cleanup_free_ char *dir = pc_xstrdup(cwd);
	if (path_normalise(dir) < 0)
		return pc_error(err, EINVAL, "the working folder %s has a '..' component", cwd);
	if (is_system_dir(dir))
		return pc_error(err, EPERM,
				"the built-in default policy would give the agent %s read-write; "
				"cd into a project folder first, or pass --policy FILE",
				dir);
	const char *home = pc_home_dir();
	_cleanup_policy_ struct policy *p = pc_xcalloc(1, sizeof(*p));
	p->file = pc_xstrdup(PC_POLICY_BUILTIN);
	p->name = pc_xstrdup("default");
	policy_fill_defaults(p, home);
	p->fs.read_write = pc_xcalloc(1, sizeof(*p->fs.read_write));
	p->fs.read_write[0].path = pc_steal_ptr(&dir);
	p->fs.read_write[0].spec = pc_xstrdup(cwd);
	p->fs.n_read_write = 1;

	struct pctx c = {.file = PC_POLICY_BUILTIN, .home = home, .err = err};
	for (size_t i = 0; i < p->fs.n_deny; i++)
		if (policy_denies(p->fs.deny[i].path, p->fs.read_write[0].path))
			return pc_error(err, EPERM,
					"the built-in default policy masks %s (%s), so it cannot "
					"give it to the agent; cd into a project folder first, or "
					"pass --policy FILE",
					p->fs.read_write[0].path, p->fs.deny[i].spec);
	int r = policy_cross_check(&c, p);
	if (r < 0)
		return pc_error_prefix(err, "cannot use the built-in default policy here");

	_cleanup_buf_ struct pc_buf body = {0};
	policy_emit_body(p, &body);
	policy_hash_text(body.data, body.len, p->hash);
	*out = pc_steal_ptr(&p);
	return 0;
}
