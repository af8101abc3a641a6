/* Policy reload of a running box: on SIGHUP, and with --watch whenever the
 * file changes. The network egress rules apply to the gate's next request
 * and connection; the rest of a policy (filesystem, process, limits) was
 * built into the sandbox at start and takes effect at the next run. A file
 * that does not validate changes nothing. Both outcomes are recorded.
 */
#include "box/internal.h"
#include "gate/gate.h"
#include "sandbox/sandbox.h"

#include <event2/event.h>
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>

#define WATCH_SETTLE_MS 100 /* editors write in steps: reload once they stop */

/* Captured ports (and Landlock's) were fixed when the sandbox started. */
static void new_ports_warning(struct box_loop *L, const struct policy *old, const struct policy *p)
{
	uint16_t before[SANDBOX_MAX_CAPTURE_PORTS], after[SANDBOX_MAX_CAPTURE_PORTS];
	size_t nb = sandbox_capture_ports(old, before, PC_ARRAY_SIZE(before));
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
	if (!ports.len)
		return;
	_cleanup_free_ char *why = pc_xasprintf(
		"policy reload: port(s) %.*s reach the gate through the proxy only until the next "
		"run (connections that ignore the proxy are captured on the ports of the start)",
		(int)ports.len, ports.data);
	pc_warn("%s", why);
	struct pc_error err = {0};
	if (audit_write(L->log, AUDIT_POLICY, L->agent, L->run, AUDIT_NONE, why, NULL, 0, &err) < 0)
		pc_warn("audit: %s", err.msg);
}

char *box_policy_writable_by_agent(const struct policy *p, const char *file)
{
	/* the folder counts: a file renamed over the policy replaces it */
	_cleanup_free_ char *copy = pc_xstrdup(file);
	char *slash = strrchr(copy, '/');
	const char *dir = slash ? (slash == copy ? "/" : copy) : ".";
	if (slash && slash != copy)
		*slash = '\0';
	_cleanup_free_ char *real = realpath(dir, NULL);
	if (!real)
		return NULL;
	for (size_t i = 0; i < p->fs.n_read_write; i++) {
		_cleanup_free_ char *g = realpath(p->fs.read_write[i].path, NULL);
		if (!g)
			continue;
		size_t n = strlen(g);
		if (strcmp(g, "/") == 0 ||
		    (strncmp(real, g, n) == 0 && (real[n] == '\0' || real[n] == '/')))
			return pc_xasprintf("the agent can write %s (filesystem.read_write "
					    "grants %s): it could rewrite its own policy",
					    file, p->fs.read_write[i].spec);
	}
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
		return;
	}
	if (strcmp(p->hash, L->current->hash) == 0) {
		policy_free(p);
		return; /* touched, not changed */
	}
	/* the old policy stays alive: connections in flight name its rules */
	L->policies = pc_xrealloc(L->policies, (L->n_policies + 1) * sizeof(*L->policies));
	L->policies[L->n_policies++] = p;
	const struct policy *was_policy = L->current;
	const char *was = L->current->hash;
	_cleanup_free_ char *why = pc_xasprintf(
		"policy reloaded (%s): sha256 %.12s -> %.12s; network egress rules apply to new "
		"requests, other sections at the next run",
		trigger, was, p->hash);
	L->current = p;
	if (L->gate)
		gate_set_policy(L->gate, p);
	pc_info("%s", why);
	const struct audit_field f[] = {AUDIT_STR("policy_file", p->file),
					AUDIT_STR("policy_sha256", p->hash),
					AUDIT_STR("previous_sha256", was)};
	if (audit_write(L->log, AUDIT_POLICY, L->agent, L->run, AUDIT_NONE, why, f,
			PC_ARRAY_SIZE(f), &aerr) < 0)
		pc_warn("audit: %s", aerr.msg);
	new_ports_warning(L, was_policy, p);
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
