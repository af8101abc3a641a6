/* Policy reload of a running box: on SIGHUP, and with --watch whenever the
 * file changes. A file that does not validate changes nothing. What a
 * reload does with each part of the new policy, the sandbox running:
 *
 *   at once    network egress rules (the gate's next request and
 *              connection; open connections they now refuse are closed);
 *              credentials (gate_creds_reload: from the next request; a
 *              vault that cannot be read keeps every credential in force);
 *              approvals; process.on_oom (read when the run ends)
 *   in place   process.limits memory, pids and cpus through the sandbox's
 *              cgroup (sandbox_set_limits); wall_time on the run's own
 *              timer, still counted from the start
 *   restart    filesystem, sandbox.isolation/hostname, process.env,
 *              seccomp, landlock, limits.open_files/file_size (rlimits),
 *              network.gate_port, upstream_ca, captured ports the start
 *              did not have; credentials and method/path rules when the
 *              run started without TLS interception (no CA of the gate's
 *              in its sandbox); a limit the cgroup could not take (no
 *              cgroup of its own: rlimits; memory in use above a lower one)
 *
 * Restart items are compared with the policy the sandbox started with, so
 * they are listed for as long as they differ from it. Credentials the vault
 * could not give are tried again by the next reload, even of the same file. Each reload writes
 * one policy record saying what applied now, what needs a restart and what
 * was not applied, and why. With --status-file FILE it also writes
 * FILE.reload, which the daemon answers a policy apply with (daemon.h):
 *
 *   {"policy_sha256": "...", "outcome": "applied" | "unchanged" | "rejected",
 *    "applied": [...], "restart_needed": [...], "not_applied": [...],
 *    "notes": ["..."], "error": "..."}
 */
#include "box/internal.h"
#include "gate/gate.h"
#include "sandbox/sandbox.h"

#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#define WATCH_SETTLE_MS 100 /* editors write in steps: reload once they stop */

/* What one reload did. */
struct reload_report {
	char **now;	    /* parts applied at once */
	char **restart;	    /* parts that apply only from the next start */
	char **not_applied; /* refused (a restart would not help): the old stays */
	char **notes;	    /* a sentence each: what and why */
};

static void report_free(struct reload_report *R)
{
	pc_strv_free(R->now);
	pc_strv_free(R->restart);
	pc_strv_free(R->not_applied);
	pc_strv_free(R->notes);
}

static void add(char ***list, const char *what)
{
	if (!pc_strv_contains(*list, what))
		pc_strv_push(list, what);
}

static void say(struct reload_report *R, const char *fmt, ...) _printf_(2, 3);
static void say(struct reload_report *R, const char *fmt, ...)
{
	va_list ap;
	_cleanup_buf_ struct pc_buf b = {0};
	va_start(ap, fmt);
	pc_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	pc_strv_push(&R->notes, b.data ? b.data : "");
}

static void join(struct pc_buf *b, char *const *v, const char *sep)
{
	for (size_t i = 0; v && v[i]; i++)
		pc_buf_printf(b, "%s%s", i ? sep : "", v[i]);
	pc_buf_append(b, "", 0);
}

/* The lines of an effective policy (policy_emit_yaml) under key: a
 * top-level key ("filesystem") or one below it ("process.env"). Equal
 * text is equal meaning: every default is filled in. */
static char *part(const char *yaml, const char *key)
{
	const char *dot = strchr(key, '.');
	_cleanup_free_ char *top = dot ? pc_xstrndup(key, (size_t)(dot - key)) : pc_xstrdup(key);
	const char *keys[2] = {top, dot ? dot + 1 : NULL};
	const char *from = yaml, *found = NULL;
	size_t indent = 0;
	for (int level = 0; level < 2 && keys[level]; level++) {
		indent = (size_t)level * 2;
		size_t kl = strlen(keys[level]);
		found = NULL;
		for (const char *l = from; l && *l;
		     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
			size_t sp = strspn(l, " ");
			if (level && sp < indent)
				break; /* out of the block above */
			if (sp == indent && strncmp(l + sp, keys[level], kl) == 0 &&
			    l[sp + kl] == ':') {
				found = l;
				break;
			}
		}
		if (!found)
			return pc_xstrdup("");
		from = strchr(found, '\n') ? strchr(found, '\n') + 1 : "";
	}
	/* the key's line and every line below it indented deeper (top-level
	 * lists are written "  - ...") */
	const char *end = strchr(found, '\n');
	while (end && end[1] && strspn(end + 1, " ") > indent)
		end = strchr(end + 1, '\n');
	return pc_xstrndup(found, end ? (size_t)(end - found) : strlen(found));
}

static bool differs(const char *a, const char *b, const char *key)
{
	_cleanup_free_ char *x = part(a, key), *y = part(b, key);
	return strcmp(x, y) != 0;
}

static char *yaml_of(const struct policy *p)
{
	_cleanup_buf_ struct pc_buf b = {0};
	policy_emit_yaml(p, &b);
	pc_buf_append(&b, "", 0);
	return pc_steal_ptr(&b.data);
}

/* ---- network ----------------------------------------------------------- */

static bool names_methods_or_paths(const struct policy *p)
{
	const struct pc_net_rule *lists[] = {p->net.allow, p->net.deny};
	const size_t counts[] = {p->net.n_allow, p->net.n_deny};
	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; i < counts[l]; i++)
			if (lists[l][i].methods || lists[l][i].paths)
				return true;
	return false;
}

/* The parts of network the sandbox and the gate were built with. */
static void network_fixed(struct box_loop *L, const struct policy *start, const struct policy *p,
			  struct reload_report *R)
{
	if (p->net.gate_port != start->net.gate_port) {
		add(&R->restart, "network.gate_port");
		say(R, "network.gate_port: the gate listens on %u in this sandbox, on %u from the "
		       "next start",
		    start->net.gate_port, p->net.gate_port);
	}
	const char *ca0 = start->net.upstream_ca ? start->net.upstream_ca : "";
	const char *ca1 = p->net.upstream_ca ? p->net.upstream_ca : "";
	if (L->icpt && L->icpt->tls && strcmp(ca0, ca1) != 0) {
		add(&R->restart, "network.upstream_ca");
		say(R, "network.upstream_ca: the gate's trust in upstreams was set at start, the "
		       "new one from the next start");
	}
	/* captured ports (and Landlock's) were fixed when the sandbox started */
	uint16_t before[SANDBOX_MAX_CAPTURE_PORTS], after[SANDBOX_MAX_CAPTURE_PORTS];
	size_t nb = sandbox_capture_ports(start, before, PC_ARRAY_SIZE(before));
	size_t na = sandbox_capture_ports(p, after, PC_ARRAY_SIZE(after));
	nb = nb < PC_ARRAY_SIZE(before) ? nb : PC_ARRAY_SIZE(before);
	na = na < PC_ARRAY_SIZE(after) ? na : PC_ARRAY_SIZE(after);
	_cleanup_buf_ struct pc_buf ports = {0};
	for (size_t i = 0; i < na; i++) {
		bool had = false;
		for (size_t j = 0; j < nb && !had; j++)
			had = before[j] == after[i];
		if (!had)
			pc_buf_printf(&ports, "%s%u", ports.len ? ", " : "", after[i]);
	}
	if (ports.len) {
		add(&R->restart, "network.ports");
		say(R, "port(s) %s reach the gate through the proxy only until the next start "
		       "(connections that ignore the proxy are captured on the ports of the start)",
		    ports.data);
	}
	if (L->icpt && !L->icpt->tls && p->n_approvals) {
		add(&R->restart, "network.interception");
		say(R, "approval rules need TLS interception to hold HTTPS requests, which this "
		       "run started without: HTTPS to their hosts is denied until the next start");
	}
	if (L->icpt && !L->icpt->tls && names_methods_or_paths(p)) {
		add(&R->restart, "network.interception");
		say(R, "rules with methods or paths need TLS interception to decide HTTPS, which "
		       "this run started without: HTTPS to their hosts is denied until the next "
		       "start");
	}
}

/* ---- credentials ------------------------------------------------------- */

static void reload_credentials(struct box_loop *L, const struct policy *p, struct reload_report *R)
{
	_cleanup_free_ char *was = yaml_of(L->creds_policy), *now = yaml_of(p);
	if (!L->icpt || !differs(was, now, "credentials"))
		return;
	_cleanup_buf_ struct pc_buf notes = {0};
	bool restart = false;
	struct pc_error err = {0};
	if (box_intercept_reload(L->icpt, L->bc, L->gate, p, &notes, &restart, &err) < 0) {
		if (restart) {
			add(&R->restart, "credentials");
			say(R, "credentials: %s", err.msg);
		} else {
			add(&R->not_applied, "credentials");
			say(R, "credentials not changed: %s; every credential in force stays until a "
			       "reload whose secrets can be read",
			    err.msg);
		}
		return;
	}
	L->creds_policy = p;
	add(&R->now, "credentials");
	if (restart)
		add(&R->restart, "credentials");
	if (notes.len)
		say(R, "%s", notes.data);
}

/* ---- limits ------------------------------------------------------------ */

static void limit_text(uint64_t v, char kind, char *out, size_t n)
{
	if (!v)
		snprintf(out, n, "unlimited");
	else if (kind == 'm')
		pc_format_size(v, out, n);
	else if (kind == 'c')
		snprintf(out, n, "%.3g", (double)v / 1000);
	else
		snprintf(out, n, "%llu", (unsigned long long)v);
}

static void reload_limits(struct box_loop *L, const struct policy *p, struct reload_report *R)
{
	const struct pc_limits *want = &p->process.limits;
	const struct pc_limits *start = &L->bc->policy->process.limits;
	struct pc_limits *have = &L->limits;
	bool now = false, later = false;
	unsigned which = (want->memory != have->memory ? SANDBOX_LIMIT_MEMORY : 0) |
			 (want->pids != have->pids ? SANDBOX_LIMIT_PIDS : 0) |
			 (want->cpus_milli != have->cpus_milli ? SANDBOX_LIMIT_CPU : 0);
	if (which && !start->memory && !start->pids && !start->cpus_milli) {
		/* none is made for a run that needs none (cgroup_create) */
		later = true;
		say(R, "limits not changed in place: the run started without memory, pids or cpu "
		       "limits, so its sandbox has no cgroup of its own; they apply from the next "
		       "start");
	} else if (which && L->sb) {
		_cleanup_free_ char *why = NULL;
		unsigned done = sandbox_set_limits(L->sb, want, which, &why);
		_cleanup_buf_ struct pc_buf b = {0};
		char v[32];
		if (done & SANDBOX_LIMIT_MEMORY) {
			have->memory = want->memory;
			limit_text(want->memory, 'm', v, sizeof(v));
			pc_buf_printf(&b, "%smemory %s", b.len ? ", " : "", v);
		}
		if (done & SANDBOX_LIMIT_PIDS) {
			have->pids = want->pids;
			limit_text(want->pids, 'p', v, sizeof(v));
			pc_buf_printf(&b, "%spids %s", b.len ? ", " : "", v);
		}
		if (done & SANDBOX_LIMIT_CPU) {
			have->cpus_milli = want->cpus_milli;
			limit_text(want->cpus_milli, 'c', v, sizeof(v));
			pc_buf_printf(&b, "%scpus %s", b.len ? ", " : "", v);
		}
		if (done) {
			now = true;
			say(R, "limits changed in place, in the sandbox's cgroup: %s", b.data);
		}
		if (why) {
			later = true;
			say(R, "limits not changed in place (they apply from the next start): %s",
			    why);
		}
	}
	if (want->wall_time_ms != have->wall_time_ms && !L->timed_out) {
		/* still counted from the start, as the first one was */
		have->wall_time_ms = L->wall_ms = want->wall_time_ms;
		if (L->ev_term) {
			evtimer_del(L->ev_term);
			uint64_t ran = (pc_now_ns() - L->start_ns) / 1000000;
			uint64_t left = want->wall_time_ms > ran ? want->wall_time_ms - ran : 0;
			struct timeval tv = {(time_t)(left / 1000),
					     (suseconds_t)(left % 1000) * 1000};
			if (want->wall_time_ms)
				evtimer_add(L->ev_term, &tv);
		}
		char d[32] = "none";
		if (want->wall_time_ms)
			pc_format_duration(want->wall_time_ms, d, sizeof(d));
		now = true;
		say(R, "wall time now %s, counted from the run's start", d);
	}
	if (want->open_files != start->open_files || want->file_size != start->file_size) {
		later = true;
		say(R, "limits.open_files and limits.file_size are rlimits each process of the "
		       "sandbox inherited at start: the new ones from the next start");
	}
	if (now)
		add(&R->now, "process.limits");
	if (later)
		add(&R->restart, "process.limits");
}

/* ---- the rest, and the record ----------------------------------------- */

/* The parts only a new sandbox takes, compared with the one it started
 * with (start) and the one in force until now (was) for those at once. */
static void classify(const char *start, const char *was, const char *p, struct reload_report *R)
{
	static const struct {
		const char *key, *why;
	} fixed[] = {
		{"filesystem", "the sandbox's mounts and Landlock rules were made at start"},
		{"sandbox.isolation", "the isolation was chosen at start"},
		{"sandbox.hostname", "the hostname was set at start"},
		{"process.env", "the agent's environment was given at start"},
		{"process.seccomp", "the seccomp filter was loaded at start"},
		{"process.landlock", "Landlock was applied at start"},
	};
	for (size_t i = 0; i < PC_ARRAY_SIZE(fixed); i++) {
		if (!differs(start, p, fixed[i].key))
			continue;
		add(&R->restart, fixed[i].key);
		say(R, "%s: %s, the new one from the next start", fixed[i].key, fixed[i].why);
	}
	/* approvals apply at once: gate_set_policy handed the gate the new
	 * rules, and rejected ("policy changed") the pending and approved
	 * approvals whose rule is gone or asks otherwise now */
	if (differs(was, p, "approvals"))
		add(&R->now, "approvals");
	if (differs(was, p, "process.on_oom"))
		add(&R->now, "process.on_oom"); /* read when the run ends */
}

static void json_list(struct pc_buf *b, const char *key, char *const *v)
{
	pc_buf_printf(b, ",\"%s\":[", key);
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			pc_buf_puts(b, ",");
		pc_buf_json_string(b, v[i]);
	}
	pc_buf_puts(b, "]");
}

/* FILE.reload beside --status-file FILE, written whole then renamed into
 * place: the daemon answers a policy apply with it. */
static void write_result(struct box_loop *L, const char *hash, const char *outcome,
			 const struct reload_report *R, const char *error)
{
	if (!L->bc->status_file)
		return;
	_cleanup_buf_ struct pc_buf b = {0};
	pc_buf_puts(&b, "{\"policy_sha256\":");
	pc_buf_json_string(&b, hash);
	pc_buf_puts(&b, ",\"outcome\":");
	pc_buf_json_string(&b, outcome);
	json_list(&b, "applied", R ? R->now : NULL);
	json_list(&b, "restart_needed", R ? R->restart : NULL);
	json_list(&b, "not_applied", R ? R->not_applied : NULL);
	json_list(&b, "notes", R ? R->notes : NULL);
	if (error) {
		pc_buf_puts(&b, ",\"error\":");
		pc_buf_json_string(&b, error);
	}
	pc_buf_puts(&b, "}\n");
	_cleanup_free_ char *file = pc_xasprintf("%s.reload", L->bc->status_file);
	_cleanup_free_ char *tmp = pc_xasprintf("%s.reload.new", L->bc->status_file);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
				      0600);
	if (fd < 0 || pc_write_all(fd, b.data, b.len) < 0 || rename(tmp, file) < 0)
		pc_warn("policy reload: cannot write %s: %s", file, strerror(errno));
}

static void record(struct box_loop *L, const char *trigger, const char *was,
		   const struct policy *p, const struct reload_report *R)
{
	_cleanup_buf_ struct pc_buf now = {0}, later = {0}, refused = {0}, notes = {0};
	join(&now, R->now, ", ");
	join(&later, R->restart, ", ");
	join(&refused, R->not_applied, ", ");
	join(&notes, R->notes, "; ");
	_cleanup_buf_ struct pc_buf why = {0};
	pc_buf_printf(&why, "policy reloaded (%s): sha256 %.12s -> %.12s; applied now: %s", trigger,
		      was, p->hash, R->now ? now.data : "nothing");
	if (R->restart)
		pc_buf_printf(&why, "; needs a restart: %s", later.data);
	if (R->not_applied)
		pc_buf_printf(&why, "; not applied: %s", refused.data);
	if (R->notes)
		pc_buf_printf(&why, " (%s)", notes.data);
	pc_buf_append(&why, "", 0);
	if (R->restart || R->not_applied)
		pc_warn("%s", why.data);
	else
		pc_info("%s", why.data);
	const struct audit_field f[] = {
		AUDIT_STR("policy_file", p->file),   AUDIT_STR("policy_sha256", p->hash),
		AUDIT_STR("previous_sha256", was),   AUDIT_STR("applied", now.data),
		AUDIT_STR("restart_needed", later.data), AUDIT_STR("not_applied", refused.data)};
	struct pc_error err = {0};
	if (audit_write(L->log, AUDIT_POLICY, L->agent, L->run, AUDIT_NONE, why.data, f,
			PC_ARRAY_SIZE(f), &err) < 0)
		pc_warn("audit: %s", err.msg);
	write_result(L, p->hash, "applied", R, NULL);
}

/* The grant of p through which the agent can write path (a file or a
 * folder), or NULL. */
static const struct pc_path *writable_grant(const struct policy *p, const char *path)
{
	for (size_t i = 0; i < p->fs.n_read_write; i++) {
		_cleanup_free_ char *g = realpath(p->fs.read_write[i].path, NULL);
		if (!g)
			continue;
		size_t n = strlen(g);
		if (strcmp(g, "/") == 0 ||
		    (strncmp(path, g, n) == 0 && (path[n] == '\0' || path[n] == '/')))
			return &p->fs.read_write[i];
	}
	return NULL;
}

static char *folder_of(const char *file)
{
	_cleanup_free_ char *copy = pc_xstrdup(file);
	char *slash = strrchr(copy, '/');
	if (!slash)
		return realpath(".", NULL);
	if (slash == copy)
		return pc_xstrdup("/");
	*slash = '\0';
	return realpath(copy, NULL);
}

char *box_policy_writable_by_agent(const struct policy *p, const char *file)
{
	/* the folder that names the file (a file renamed over it replaces
	 * it), the file itself wherever a link leads (a symlink into a grant
	 * is the agent's file), and the file's own folder there */
	_cleanup_free_ char *dir = folder_of(file);
	_cleanup_free_ char *real = realpath(file, NULL);
	_cleanup_free_ char *real_dir = real ? folder_of(real) : NULL;
	const char *paths[] = {dir, real, real_dir};
	for (size_t i = 0; i < PC_ARRAY_SIZE(paths); i++) {
		const struct pc_path *g = paths[i] ? writable_grant(p, paths[i]) : NULL;
		if (g)
			return pc_xasprintf("the agent can write %s%s%s (filesystem.read_write "
					    "grants %s): it could rewrite its own policy",
					    file, real && strcmp(real, file) ? ", which leads to " : "",
					    real && strcmp(real, file) ? real : "", g->spec);
	}
	/* a second name for the file may sit anywhere, a grant included */
	struct stat st;
	if (real && stat(real, &st) == 0 && st.st_nlink > 1)
		return pc_xasprintf("%s has %ju hard links: one may be in the agent's reach, so "
				    "it could rewrite its own policy (keep one name)",
				    file, (uintmax_t)st.st_nlink);
	return NULL;
}

void box_reload(struct box_loop *L, const char *trigger)
{
	const char *file = L->bc->policy_file;
	struct pc_error err = {0};
	if (!file) {
		const char *why = "policy reload skipped: the built-in default has no file";
		pc_info("%s (%s)", why, trigger);
		if (audit_write(L->log, AUDIT_POLICY, L->agent, L->run, AUDIT_NONE, why, NULL, 0,
				&err) < 0)
			pc_warn("audit: %s", err.msg);
		return;
	}
	if (!L->creds_policy) { /* the first reload: what the run started with */
		L->creds_policy = L->bc->policy;
		L->limits = L->bc->policy->process.limits;
	}
	struct policy *p = NULL;
	/* the sandbox's grants are the ones it started with */
	_cleanup_free_ char *writable = box_policy_writable_by_agent(L->bc->policy, file);
	int r = writable ? pc_error(&err, EPERM, "%s", writable) : policy_load(file, &p, &err);
	struct pc_error aerr = {0};
	if (r < 0) {
		_cleanup_free_ char *why = pc_xasprintf(
			"policy reload rejected (%s): %s; keeping the policy with sha256 %.12s",
			trigger, err.msg, L->current->hash);
		pc_warn("%s", why);
		const struct audit_field f[] = {AUDIT_STR("policy_file", file),
						AUDIT_STR("policy_sha256", L->current->hash)};
		if (audit_write(L->log, AUDIT_POLICY, L->agent, L->run, AUDIT_DENY, why, f,
				PC_ARRAY_SIZE(f), &aerr) < 0)
			pc_warn("audit: %s", aerr.msg);
		/* the file's hash, as the daemon wrote it, names this attempt */
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		char hash[65] = "";
		if (pc_read_file(file, 1 << 20, &text, &len, NULL) == 0)
			pc_sha256_hex(text, len, hash);
		write_result(L, hash, "rejected", NULL, err.msg);
		return;
	}
	if (strcmp(p->hash, L->current->hash) == 0) {
		policy_free(p); /* touched, not changed */
		_cleanup_free_ char *yc = yaml_of(L->creds_policy), *yp = yaml_of(L->current);
		if (!differs(yc, yp, "credentials")) {
			write_result(L, L->current->hash, "unchanged", NULL, NULL);
			return;
		}
		/* credentials the vault could not give before: tried again */
		struct reload_report R = {0};
		reload_credentials(L, L->current, &R);
		record(L, trigger, L->current->hash, L->current, &R);
		report_free(&R);
		return;
	}
	/* the old policy stays alive: connections in flight name its rules */
	L->policies = pc_xrealloc(L->policies, (L->n_policies + 1) * sizeof(*L->policies));
	L->policies[L->n_policies++] = p;
	const struct policy *start = L->bc->policy, *was = L->current;
	_cleanup_free_ char *ys = yaml_of(start), *yw = yaml_of(was), *yp = yaml_of(p);
	struct reload_report R = {0};
	L->current = p;
	if (L->gate)
		gate_set_policy(L->gate, p);
	if (differs(yw, yp, "network.egress"))
		add(&R.now, "network");
	network_fixed(L, start, p, &R);
	reload_credentials(L, p, &R);
	reload_limits(L, p, &R);
	classify(ys, yw, yp, &R);
	record(L, trigger, was->hash, p, &R);
	report_free(&R);
}

static void on_settled(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	box_reload(arg, "file changed");
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct box_loop *L = arg;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	const char *base = strrchr(L->bc->policy_file, '/');
	base = base ? base + 1 : L->bc->policy_file;
	bool ours = false;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			if (e->len && strcmp(e->name, base) == 0)
				ours = true;
			p += sizeof(*e) + e->len;
		}
	}
	if (ours) {
		struct timeval tv = {0, WATCH_SETTLE_MS * 1000};
		evtimer_add(L->ev_settle, &tv);
	}
}

void box_watch_start(struct box_loop *L)
{
	/* the folder, not the file: editors replace files by rename */
	_cleanup_free_ char *dir = pc_xstrdup(L->bc->policy_file);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		strcpy(dir, ".");
	L->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (L->inotify_fd < 0 ||
	    inotify_add_watch(L->inotify_fd, dir,
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB) < 0) {
		pc_warn("--watch: cannot watch %s: %s (SIGHUP still reloads)", dir,
			strerror(errno));
		box_watch_stop(L);
		return;
	}
	L->ev_watch = event_new(L->base, L->inotify_fd, EV_READ | EV_PERSIST, on_inotify, L);
	L->ev_settle = evtimer_new(L->base, on_settled, L);
	if (L->ev_watch)
		event_add(L->ev_watch, NULL);
}

void box_watch_stop(struct box_loop *L)
{
	if (L->ev_watch)
		event_free(L->ev_watch);
	if (L->ev_settle)
		event_free(L->ev_settle);
	L->ev_watch = L->ev_settle = NULL;
	if (L->inotify_fd > 0)
		close(L->inotify_fd);
	L->inotify_fd = -1;
}
