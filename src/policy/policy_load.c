/* policy: the walk from the YAML tree into `struct policy` for the top
 * level, sandbox, filesystem and process; network, credentials and
 * approvals are in policy_rules.c. */
#include "policy/policy_internal.h"

#include <limits.h>
#include <seccomp.h>
#include <string.h>
#include <strings.h>

static int parse_sandbox(struct pctx *c, const struct ynode *n, struct policy *p)
{
	static const char *const keys[] = {"isolation", "hostname", "warm", NULL};
	static const char *const isolations[] = {"namespaces", "microvm", NULL};
	int r = check_map(c, n, "isolation, hostname, warm");
	if (r < 0)
		return r;
	r = check_keys(c, n, keys);
	if (r < 0)
		return r;
	const struct ynode *v;
	if ((v = ynode_get(n, "isolation"))) {
		size_t old = pctx_key(c, "isolation");
		int i;
		r = get_enum(c, v, isolations, &i);
		if (r < 0)
			return r;
		p->isolation = i == 1 ? PC_ISOLATION_MICROVM : PC_ISOLATION_NAMESPACES;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "hostname"))) {
		size_t old = pctx_key(c, "hostname");
		static const char accepted[] =
			"a host name: letters, digits and '-', dot-separated labels, at most 64 "
			"characters";
		const char *s;
		r = get_str(c, v, accepted, &s);
		if (r < 0)
			return r;
		if (!valid_hostname(s))
			return perr(c, v->at, "'%.100s' is not a valid host name (%s)", s,
				    accepted);
		free(p->hostname);
		p->hostname = pc_xstrdup(s);
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "warm"))) {
		size_t old = pctx_key(c, "warm");
		uint64_t u;
		r = get_uint(c, v, 0, PC_WARM_MAX, "number of sandboxes kept ready", &u);
		if (r < 0)
			return r;
		p->warm = (unsigned)u;
		pctx_pop(c, old);
	}
	return 0;
}

/* A list of paths; replaces whatever default the list had. */
static int parse_path_list(struct pctx *c, const struct ynode *n, const char *key, bool glob,
			   struct pc_path **v, size_t *count)
{
	size_t old = pctx_key(c, key);
	struct ynode *const *items;
	size_t k;
	int r = get_seq_items(c, n, glob ? "a list of paths or globs" : "a list of paths", &items,
			      &k);
	if (r < 0)
		return r;
	pc_paths_free(*v, *count);
	*v = pc_xcalloc(k, sizeof(**v));
	*count = 0;
	for (size_t i = 0; i < k; i++) {
		size_t o = pctx_index(c, i);
		r = get_path(c, items[i], glob, &(*v)[i]);
		if (r < 0)
			return r;
		*count = i + 1;
		for (size_t j = 0; j < i; j++)
			if (strcmp((*v)[j].path, (*v)[i].path) == 0)
				return perr(c, items[i]->at,
					    "%.200s is already listed at line %d (each path once)",
					    (*v)[i].path, (*v)[j].at.line);
		pctx_pop(c, o);
	}
	pctx_pop(c, old);
	return 0;
}

static int parse_scratch(struct pctx *c, const struct ynode *n, struct policy *p)
{
	static const char *const keys[] = {"path", "size", NULL};
	int r = check_map(c, n, "path, size; e.g. { path: /tmp, size: 256M }");
	if (r < 0)
		return r;
	r = check_keys(c, n, keys);
	if (r < 0)
		return r;
	const struct ynode *v;
	if ((v = ynode_get(n, "path"))) {
		size_t old = pctx_key(c, "path");
		struct pc_path sp = {0};
		r = get_path(c, v, false, &sp);
		if (r < 0)
			return r;
		free(sp.spec);
		if (strcmp(sp.path, "/") == 0) {
			free(sp.path);
			return perr(c, v->at, "the scratch cannot be / (a folder such as /tmp)");
		}
		free(p->fs.scratch_path);
		p->fs.scratch_path = sp.path;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "size"))) {
		size_t old = pctx_key(c, "size");
		r = get_size(c, v, &p->fs.scratch_size);
		if (r < 0)
			return r;
		pctx_pop(c, old);
	}
	return 0;
}

static int parse_filesystem(struct pctx *c, const struct ynode *n, struct policy *p)
{
	static const char *const keys[] = {"system", "read_only", "read_write",
					   "deny",   "scratch",	  NULL};
	int r = check_map(c, n, "system, read_only, read_write, deny, scratch");
	if (r < 0)
		return r;
	r = check_keys(c, n, keys);
	if (r < 0)
		return r;
	struct pc_fs_policy *fs = &p->fs;
	const struct ynode *v;
	if ((v = ynode_get(n, "system")) &&
	    (r = parse_path_list(c, v, "system", false, &fs->system, &fs->n_system)) < 0)
		return r;
	if ((v = ynode_get(n, "read_only")) &&
	    (r = parse_path_list(c, v, "read_only", false, &fs->read_only, &fs->n_read_only)) < 0)
		return r;
	if ((v = ynode_get(n, "read_write")) &&
	    (r = parse_path_list(c, v, "read_write", false, &fs->read_write, &fs->n_read_write)) <
		    0)
		return r;
	if ((v = ynode_get(n, "deny")) &&
	    (r = parse_path_list(c, v, "deny", true, &fs->deny, &fs->n_deny)) < 0)
		return r;
	if ((v = ynode_get(n, "scratch"))) {
		size_t old = pctx_key(c, "scratch");
		r = parse_scratch(c, v, p);
		if (r < 0)
			return r;
		pctx_pop(c, old);
	}
	return 0;
}

static int parse_env(struct pctx *c, const struct ynode *n, struct policy *p)
{
	if (ynode_is_null(n))
		return 0;
	int r = check_map(c, n, "NAME: value pairs, e.g. { HOME: /home/agent, LANG: C.UTF-8 }");
	if (r < 0)
		return r;
	struct pc_process_policy *pr = &p->process;
	pr->env = pc_xcalloc(n->n / 2, sizeof(*pr->env));
	for (size_t i = 0; i + 1 < n->n; i += 2) {
		const struct ynode *k = n->items[i], *v = n->items[i + 1];
		size_t old = pctx_key(c, k->value);
		if (!valid_env_name(k->value))
			return perr(c, k->at,
				    "'%.100s' is not an environment variable name "
				    "(letters, digits and _, not starting with a digit)",
				    k->value);
		for (size_t j = 0; j < p->n_credentials; j++)
			if (strcmp(p->credentials[j].placeholder, k->value) == 0)
				return perr(
					c, k->at,
					"is the placeholder of credentials[%zu] (pincer sets it; "
					"remove it from env)",
					j);
		if (strcasecmp(k->value, "http_proxy") == 0 ||
		    strcasecmp(k->value, "https_proxy") == 0 ||
		    strcasecmp(k->value, "all_proxy") == 0 || strcasecmp(k->value, "no_proxy") == 0)
			return perr(
				c, k->at,
				"is set by pincer to reach the gate (remove it from env; egress is "
				"configured under network.egress)");
		if (v->kind != YN_SCALAR)
			return perr(c, v->at, "expected a string, got %s (quote the value)",
				    v->kind == YN_SEQ ? "a list" : "a mapping");
		enum yscalar t = yscalar_of(v->value, v->plain);
		if (t != YS_STRING)
			return perr(c, v->at,
				    "'%.100s' reads as a %s, not a string (quote it: \"%.100s\")",
				    v->value,
				    t == YS_NULL   ? "null"
				    : t == YS_BOOL ? "boolean"
						   : "number",
				    v->value);
		pr->env[pr->n_env].name = pc_xstrdup(k->value);
		pr->env[pr->n_env].value = pc_xstrdup(v->value);
		pr->n_env++;
		pctx_pop(c, old);
	}
	return 0;
}

static int parse_limits(struct pctx *c, const struct ynode *n, struct policy *p)
{
	static const char *const keys[] = {"memory",	"cpus",	     "pids", "open_files",
					   "file_size", "wall_time", NULL};
	int r = check_map(c, n, "memory, cpus, pids, open_files, file_size, wall_time");
	if (r < 0)
		return r;
	r = check_keys(c, n, keys);
	if (r < 0)
		return r;
	struct pc_limits *l = &p->process.limits;
	const struct ynode *v;
	uint64_t u;
	if ((v = ynode_get(n, "memory"))) {
		size_t old = pctx_key(c, "memory");
		r = get_size(c, v, &l->memory);
		if (r < 0)
			return r;
		if (l->memory < (1ULL << 20))
			return perr(c, v->at,
				    "%.100s bytes is too little memory to run anything (at least "
				    "1M; a unit such as 512M)",
				    v->value);
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "cpus"))) {
		size_t old = pctx_key(c, "cpus");
		r = get_cpus(c, v, &l->cpus_milli);
		if (r < 0)
			return r;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "pids"))) {
		size_t old = pctx_key(c, "pids");
		r = get_uint(c, v, 1, 4194304, "number of processes", &u);
		if (r < 0)
			return r;
		l->pids = (uint32_t)u;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "open_files"))) {
		size_t old = pctx_key(c, "open_files");
		r = get_uint(c, v, 1, 1048576, "number of open files", &u);
		if (r < 0)
			return r;
		l->open_files = (uint32_t)u;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "file_size"))) {
		size_t old = pctx_key(c, "file_size");
		r = get_size(c, v, &l->file_size);
		if (r < 0)
			return r;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "wall_time"))) {
		size_t old = pctx_key(c, "wall_time");
		r = get_duration(c, v, false, &l->wall_time_ms);
		if (r < 0)
			return r;
		pctx_pop(c, old);
	}
	return 0;
}

static int parse_syscalls(struct pctx *c, const struct ynode *n, const char *key, char ***out)
{
	size_t old = pctx_key(c, key);
	struct ynode *const *items;
	size_t k;
	int r = get_seq_items(c, n, "a list of system call names, e.g. [ptrace, mount]", &items,
			      &k);
	if (r < 0)
		return r;
	pc_strv_free(*out);
	*out = pc_xcalloc(k + 1, sizeof(char *));
	for (size_t i = 0; i < k; i++) {
		size_t o = pctx_index(c, i);
		const char *s;
		r = get_str(c, items[i], "a system call name such as ptrace", &s);
		if (r < 0)
			return r;
		if (strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(s) ||
		    seccomp_syscall_resolve_name(s) == __NR_SCMP_ERROR)
			return perr(c, items[i]->at,
				    "'%.100s' is not a system call this machine knows (a name "
				    "such as ptrace, mount, io_uring_setup)",
				    s);
		if (pc_strv_contains(*out, s))
			return perr(c, items[i]->at, "%.100s is listed twice (each name once)", s);
		(*out)[i] = pc_xstrdup(s);
		pctx_pop(c, o);
	}
	pctx_pop(c, old);
	return 0;
}

static int parse_seccomp(struct pctx *c, const struct ynode *n, struct policy *p)
{
	static const char *const modes[] = {"default", "off", NULL};
	static const char *const keys[] = {"profile", "deny", "log", NULL};
	struct pc_process_policy *pr = &p->process;
	int r, m;
	if (n->kind == YN_SCALAR) {
		r = get_enum(c, n, modes, &m);
		if (r < 0)
			return r;
		pr->seccomp = m == 1 ? PC_SECCOMP_OFF : PC_SECCOMP_DEFAULT;
		return 0;
	}
	if (n->kind != YN_MAP)
		return perr(c, n->at,
			    "expected default, off or a mapping (profile: default | off, deny: "
			    "[names], log: [names])");
	r = check_keys(c, n, keys);
	if (r < 0)
		return r;
	const struct ynode *v;
	if ((v = ynode_get(n, "profile"))) {
		size_t old = pctx_key(c, "profile");
		r = get_enum(c, v, modes, &m);
		if (r < 0)
			return r;
		pr->seccomp = m == 1 ? PC_SECCOMP_OFF : PC_SECCOMP_DEFAULT;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "deny")) && (r = parse_syscalls(c, v, "deny", &pr->seccomp_deny)) < 0)
		return r;
	if ((v = ynode_get(n, "log")) && (r = parse_syscalls(c, v, "log", &pr->seccomp_log)) < 0)
		return r;
	for (size_t i = 0; pr->seccomp_log && pr->seccomp_log[i]; i++) {
		if (!pc_strv_contains(pr->seccomp_deny, pr->seccomp_log[i]))
			continue;
		pctx_key(c, "log");
		pctx_index(c, i);
		return perr(c, v->items[i]->at,
			    "%s is also in seccomp.deny (a system call is denied or logged, not "
			    "both)",
			    pr->seccomp_log[i]);
	}
	return 0;
}

static int parse_process(struct pctx *c, const struct ynode *n, struct policy *p)
{
	static const char *const keys[] = {"env", "limits", "on_oom", "seccomp", "landlock", NULL};
	static const char *const ooms[] = {"stop", "restart", NULL};
	static const char *const landlocks[] = {"best_effort", "required", "off", NULL};
	int r = check_map(c, n, "env, limits, on_oom, seccomp, landlock");
	if (r < 0)
		return r;
	r = check_keys(c, n, keys);
	if (r < 0)
		return r;
	const struct ynode *v;
	int m;
	if ((v = ynode_get(n, "env"))) {
		size_t old = pctx_key(c, "env");
		r = parse_env(c, v, p);
		if (r < 0)
			return r;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "limits"))) {
		size_t old = pctx_key(c, "limits");
		r = parse_limits(c, v, p);
		if (r < 0)
			return r;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "on_oom"))) {
		size_t old = pctx_key(c, "on_oom");
		r = get_enum(c, v, ooms, &m);
		if (r < 0)
			return r;
		p->process.on_oom = m == 1 ? PC_ON_OOM_RESTART : PC_ON_OOM_STOP;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "seccomp"))) {
		size_t old = pctx_key(c, "seccomp");
		r = parse_seccomp(c, v, p);
		if (r < 0)
			return r;
		pctx_pop(c, old);
	}
	if ((v = ynode_get(n, "landlock"))) {
		size_t old = pctx_key(c, "landlock");
		r = get_enum(c, v, landlocks, &m);
		if (r < 0)
			return r;
		p->process.landlock = m == 1   ? PC_LANDLOCK_REQUIRED
				      : m == 2 ? PC_LANDLOCK_OFF
					       : PC_LANDLOCK_BEST_EFFORT;
		pctx_pop(c, old);
	}
	return 0;
}

static bool valid_name(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 64 || s[0] == '.' || s[0] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	       len;
}

/* The file's base name without .yaml/.yml, made into a valid name. */
static char *name_from_file(const char *file)
{
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	size_t len = strlen(base);
	if (len > 5 && strcmp(base + len - 5, ".yaml") == 0)
		len -= 5;
	else if (len > 4 && strcmp(base + len - 4, ".yml") == 0)
		len -= 4;
	if (len > 64)
		len = 64;
	char *name = pc_xstrndup(base, len);
	for (char *q = name; *q; q++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
			    *q))
			*q = '-';
	while (name[0] == '.' || name[0] == '-')
		memmove(name, name + 1, strlen(name));
	if (!name[0]) {
		free(name);
		name = pc_xstrdup("policy");
	}
	return name;
}

static int parse_top(struct pctx *c, const struct ynode *root, struct policy *p)
{
	static const char *const keys[] = {"version",	 "name",    "sandbox",
					   "filesystem", "network", "credentials",
					   "approvals",	 "process", NULL};
	int r = check_keys(c, root, keys);
	if (r < 0)
		return r;
	const struct ynode *v = ynode_get(root, "version");
	size_t old = pctx_key(c, "version");
	if (!v)
		return perr(c, root->at, "missing (every policy starts with 'version: 1')");
	uint64_t version;
	if (v->kind != YN_SCALAR || strcmp(v->value, "1") != 0) {
		if (v->kind == YN_SCALAR && !ynode_is_null(v))
			return perr(
				c, v->at,
				"version %.100s is not supported (this pincer reads version: 1)",
				v->value);
		r = get_uint(c, v, 1, 1, "policy version", &version);
		if (r < 0)
			return r;
	}
	p->version = PC_POLICY_VERSION;
	pctx_pop(c, old);

	if ((v = ynode_get(root, "name"))) {
		old = pctx_key(c, "name");
		static const char accepted[] =
			"letters, digits, '.', '_' and '-', at most 64, e.g. sales-assistant";
		const char *s;
		r = get_str(c, v, accepted, &s);
		if (r < 0)
			return r;
		if (!valid_name(s))
			return perr(c, v->at, "'%.100s' is not a valid name (%s)", s, accepted);
		free(p->name);
		p->name = pc_xstrdup(s);
		pctx_pop(c, old);
	}
	static const struct {
		const char *key;
		int (*fn)(struct pctx *c, const struct ynode *n, struct policy *p);
	} sections[] = {
		{"sandbox", parse_sandbox},	{"filesystem", parse_filesystem},
		{"network", parse_network},	{"credentials", parse_credentials},
		{"approvals", parse_approvals}, {"process", parse_process},
	};
	for (size_t i = 0; i < PC_ARRAY_SIZE(sections); i++) {
		if (!(v = ynode_get(root, sections[i].key)))
			continue;
		old = pctx_key(c, sections[i].key);
		r = sections[i].fn(c, v, p);
		if (r < 0)
			return r;
		pctx_pop(c, old);
	}
	return 0;
}

int policy_load_string(const char *text, size_t len, const char *file, struct policy **out,
		       struct pc_error *err)
{
	if (len > PC_POLICY_MAX_BYTES)
		return pc_error(err, EFBIG,
				"%s: the file is larger than 1 MiB (a policy is at most "
				"1 MiB; is this the right file?)",
				file);
	_cleanup_(ynode_freep) struct ynode *root = NULL;
	int r = ynode_parse(text, len, file, &root, err);
	if (r < 0)
		return r;
	struct pctx c = {.file = file, .home = pc_home_dir(), .err = err};
	_cleanup_policy_ struct policy *p = pc_xcalloc(1, sizeof(*p));
	p->file = pc_xstrdup(file);
	p->name = name_from_file(file);
	policy_fill_defaults(p, c.home);
	policy_hash_text(text, len, p->hash);
	r = parse_top(&c, root, p);
	if (r < 0)
		return r;
	pctx_pop(&c, 0);
	r = policy_cross_check(&c, p);
	if (r < 0)
		return r;
	*out = pc_steal_ptr(&p);
	return 0;
}

int policy_load(const char *file, struct policy **out, struct pc_error *err)
{
	_cleanup_free_ char *abs = NULL;
	if (file[0] == '/') {
		abs = pc_xstrdup(file);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return pc_error_errno(err, errno, "cannot resolve %s", file);
		abs = pc_xasprintf("%s/%s", cwd, file);
	}
	if (path_normalise(abs) < 0) {
		/* ".." in the policy file's own name: resolve it. */
		free(abs);
		abs = realpath(file, NULL);
		if (!abs)
			return pc_error_errno(err, errno, "cannot read policy %s", file);
	}
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	struct pc_error e = {0};
	int r = pc_read_file(abs, PC_POLICY_MAX_BYTES, &text, &len, &e);
	if (r == -EFBIG)
		return pc_error(err, EFBIG,
				"%s: the file is larger than 1 MiB (a policy is at most 1 MiB; is "
				"this the right file?)",
				abs);
	if (r < 0)
		return pc_error_errno(err, -r, "cannot read policy %s", abs);
	return policy_load_string(text, len, abs, out, err);
}
