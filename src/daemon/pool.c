/* The warm pool (daemon.h, "warm pool"): for each policy with
 * `sandbox.warm: N` that an agent uses, N `pincer run --warm` processes
 * built up to the agent's exec and waiting on their control sockets.
 * Starting such an agent hands one of them its command (box/control.h,
 * "start": one message) and makes a new one after the answer has gone. */
#include "daemon/internal.h"
#include "box/control.h"
#include "policy/policy.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define WARM_TRY_MS	 5     /* how often a new warm run's socket is tried */
#define WARM_READY_MAX_S 60    /* not ready by then: killed */
#define WARM_FAILS_MAX	 3     /* warm runs in a row that died unready: pool paused */
#define WARM_PAUSE_S	 60

struct warm {
	struct pool *pool;
	pid_t pid;
	int pidfd, ctl; /* ctl: connected once ready, else -1 */
	char *sock;
	uint64_t spawned_ns;
	struct event *ev_exit, *ev_try;
};

struct pool {
	struct daemon *d;
	char sha[65];
	char *policy_file;
	unsigned want;
	struct warm **w;
	size_t n;
	unsigned fails;
	bool paused;
	struct event *ev_resume, *ev_fill;
};

static void warm_free(struct warm *w, bool kill_it)
{
	struct pool *p = w->pool;
	for (size_t i = 0; i < p->n; i++)
		if (p->w[i] == w) {
			memmove(&p->w[i], &p->w[i + 1], (p->n - i - 1) * sizeof(*p->w));
			p->n--;
			break;
		}
	if (w->ev_exit)
		event_free(w->ev_exit);
	if (w->ev_try)
		event_free(w->ev_try);
	if (kill_it && w->pidfd >= 0) {
		syscall(SYS_pidfd_send_signal, w->pidfd, SIGKILL, NULL, 0);
		siginfo_t si;
		waitid((idtype_t)P_PIDFD, (id_t)w->pidfd, &si, WEXITED);
	}
	if (w->pidfd >= 0)
		close(w->pidfd);
	if (w->ctl >= 0)
		close(w->ctl);
	if (w->sock)
		unlink(w->sock);
	free(w->sock);
	free(w);
}

static void pool_fill(struct pool *p);

static void on_fill(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pool_fill(arg);
}

/* Fill later, off the path of the request that took a member. */
static void fill_soon(struct pool *p)
{
	struct timeval now = {0, 0};
	evtimer_add(p->ev_fill, &now);
}

static void on_exit_unclaimed(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct warm *w = arg;
	struct pool *p = w->pool;
	siginfo_t si = {0};
	waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED);
	bool was_ready = w->ctl >= 0;
	warm_free(w, false);
	if (!was_ready && ++p->fails >= WARM_FAILS_MAX && !p->paused) {
		/* a policy whose sandbox cannot be built: no busy loop of runs */
		pc_warn("warm pool %.12s: %u runs in a row ended before they were ready; "
			"paused for %d s (see %s/pool/log)",
			p->sha, p->fails, WARM_PAUSE_S, p->d->state_dir);
		p->paused = true;
		struct timeval tv = {WARM_PAUSE_S, 0};
		evtimer_add(p->ev_resume, &tv);
		return;
	}
	fill_soon(p);
}

static void on_try(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct warm *w = arg;
	if (pc_now_ns() - w->spawned_ns > WARM_READY_MAX_S * 1000000000ULL) {
		pc_warn("warm pool %.12s: a run was not ready after %d s; killed", w->pool->sha,
			WARM_READY_MAX_S);
		struct pool *p = w->pool;
		warm_free(w, true);
		p->fails++;
		return;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", w->sock);
	int fd2 = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	/* ready when it listens: the run makes its socket last (control.h);
	 * and it must be that run's socket */
	if (fd2 >= 0 && connect(fd2, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockopt(fd2, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0 && cr.pid == w->pid) {
		w->ctl = fd2;
		w->pool->fails = 0;
		return;
	}
	if (fd2 >= 0)
		close(fd2);
	struct timeval tv = {0, WARM_TRY_MS * 1000};
	evtimer_add(w->ev_try, &tv);
}

static int spawn(struct pool *p, struct pc_error *err)
{
	struct daemon *d = p->d;
	_cleanup_free_ char *dir = pc_xasprintf("%s/pool", d->state_dir);
	_cleanup_free_ char *logpath = pc_xasprintf("%s/log", dir);
	_cleanup_close_ int logfd =
		open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (logfd < 0)
		return pc_error_errno(err, -errno, "warm pool: open %s", logpath);
	char id[17];
	uint64_t r64;
	pc_random(&r64, sizeof(r64));
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)r64);
	struct warm *w = pc_xcalloc(1, sizeof(*w));
	w->pool = p;
	w->pidfd = w->ctl = -1;
	w->sock = pc_xasprintf("%s/%s.sock", dir, id);

	char **argv = NULL;
	pc_strv_push(&argv, d->pincer);
	pc_strv_push(&argv, "run");
	pc_strv_push(&argv, "--warm");
	pc_strv_push(&argv, "--quiet");
	pc_strv_push(&argv, "--survive-parent"); /* once it is an agent's */
	daemon_hide_args(d, &argv);
	pc_strv_push(&argv, "--control");
	pc_strv_push(&argv, w->sock);
	if (d->audit_path) {
		pc_strv_push(&argv, "--audit");
		pc_strv_push(&argv, d->audit_path);
	}
	pc_strv_push(&argv, "--policy");
	pc_strv_push(&argv, p->policy_file);
	_cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int io[3] = {null, logfd, logfd};
	int r = null < 0 ? pc_error_errno(err, -errno, "/dev/null")
			 : daemon_spawn("warm pool", argv, io, &w->pid, &w->pidfd, err);
	pc_strv_free(argv);
	if (r < 0) {
		free(w->sock);
		free(w);
		return r;
	}
	w->spawned_ns = pc_now_ns();
	w->ev_exit = event_new(d->base, w->pidfd, EV_READ, on_exit_unclaimed, w);
	w->ev_try = evtimer_new(d->base, on_try, w);
	event_add(w->ev_exit, NULL);
	struct timeval tv = {0, WARM_TRY_MS * 1000};
	evtimer_add(w->ev_try, &tv);
	p->w = pc_xrealloc(p->w, (p->n + 1) * sizeof(*p->w));
	p->w[p->n++] = w;
	return 0;
}

static void pool_fill(struct pool *p)
{
	struct pc_error err = {0};
	while (!p->paused && p->n < p->want)
		if (spawn(p, &err) < 0) {
			pc_warn("%s", err.msg);
			return;
		}
	/* fewer wanted now: the extra ones go (ready or not) */
	while (p->n > p->want)
		warm_free(p->w[p->n - 1], true);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct pool *p = arg;
	p->paused = false;
	p->fails = 0;
	pool_fill(p);
}

static void pool_free(struct pool *p)
{
	while (p->n)
		warm_free(p->w[p->n - 1], true);
	free(p->w);
	event_free(p->ev_resume);
	event_free(p->ev_fill);
	if (p->policy_file)
		unlink(p->policy_file);
	free(p->policy_file);
	free(p);
}

static struct pool *pool_find(struct daemon *d, const char *sha)
{
	for (size_t i = 0; i < d->n_pools; i++)
		if (strcmp(d->pools[i]->sha, sha) == 0)
			return d->pools[i];
	return NULL;
}

static struct pool *pool_new(struct daemon *d, const struct agent *a, unsigned want,
			     struct pc_error *err)
{
	_cleanup_free_ char *dir = pc_xasprintf("%s/pool", d->state_dir);
	int r = pc_mkdir_p(dir, 0700, err);
	if (r < 0)
		return NULL;
	_cleanup_free_ char *file = pc_xasprintf("%s/%s.yaml", dir, a->policy_sha256);
	_cleanup_free_ char *tmp = pc_xasprintf("%s.tmp", file);
	_cleanup_close_ int fd =
		open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || pc_write_all(fd, a->policy, strlen(a->policy)) < 0 || rename(tmp, file) < 0) {
		pc_error_errno(err, -errno, "warm pool: write %s", file);
		unlink(tmp);
		return NULL;
	}
	struct pool *p = pc_xcalloc(1, sizeof(*p));
	p->d = d;
	snprintf(p->sha, sizeof(p->sha), "%s", a->policy_sha256);
	p->policy_file = pc_steal_ptr(&file);
	p->want = want;
	p->ev_resume = evtimer_new(d->base, on_resume, p);
	p->ev_fill = evtimer_new(d->base, on_fill, p);
	d->pools = pc_xrealloc(d->pools, (d->n_pools + 1) * sizeof(*d->pools));
	d->pools[d->n_pools++] = p;
	return p;
}

void pool_sync(struct daemon *d)
{
	/* what each policy in use asks for: the most any of its agents' says
	 * (one text, one sha: they say the same) */
	unsigned *want = pc_xcalloc(d->n_agents ? d->n_agents : 1, sizeof(*want));
	for (size_t i = 0; i < d->n_agents; i++) {
		const struct agent *a = d->agents[i];
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(d->agents[j]->policy_sha256, a->policy_sha256) == 0;
		if (seen)
			continue;
		struct policy *pol = NULL;
		struct pc_error err = {0};
		if (policy_load_string(a->policy, strlen(a->policy), a->name, &pol, &err) == 0) {
			want[i] = pol->warm;
			policy_free(pol);
		}
	}
	/* pools no agent's policy asks for any more go */
	for (size_t k = d->n_pools; k-- > 0;) {
		struct pool *p = d->pools[k];
		bool used = false;
		for (size_t i = 0; i < d->n_agents && !used; i++)
			used = want[i] && strcmp(d->agents[i]->policy_sha256, p->sha) == 0;
		if (!used) {
			pool_free(p);
			memmove(&d->pools[k], &d->pools[k + 1], (d->n_pools - k - 1) * sizeof(*d->pools));
			d->n_pools--;
		}
	}
	for (size_t i = 0; i < d->n_agents; i++) {
		if (!want[i])
			continue;
		struct pool *p = pool_find(d, d->agents[i]->policy_sha256);
		struct pc_error err = {0};
		if (!p && !(p = pool_new(d, d->agents[i], want[i], &err))) {
			pc_warn("%s", err.msg);
			continue;
		}
		p->want = want[i];
		pool_fill(p);
	}
	free(want);
}

int pool_claim(struct agent *a, const int fds[3], const char *status_file, pid_t *pid,
	       int *pidfd)
{
	struct daemon *d = a->d;
	struct pool *p = a->revoked ? NULL : pool_find(d, a->policy_sha256);
	struct warm *w = NULL;
	for (size_t i = 0; p && i < p->n && !w; i++)
		if (p->w[i]->ctl >= 0)
			w = p->w[i];
	if (!w)
		return 0; /* none ready: a cold start */
	_cleanup_free_ char *dir = agent_dir(a);
	_cleanup_free_ char *policy_file = pc_xasprintf("%s/policy.yaml", dir);
	json_t *argv = json_array();
	for (size_t i = 0; a->command[i]; i++)
		json_array_append_new(argv, json_string(a->command[i]));
	_cleanup_free_ char *control = pc_xasprintf("%s/control.sock", dir);
	_cleanup_free_ char *stats = pc_xasprintf("%s/stats", dir);
	json_t *msg = json_pack("{s:s, s:o, s:[], s:s, s:s, s:s, s:s, s:s, s:s}", "op", "start",
				"argv", argv, "env", "agent", a->name, "as", a->user,
				"status_file", status_file, "policy_file", policy_file, "control",
				control, "stats", stats);
	char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	int r = text ? pc_send_fds(w->ctl, text, strlen(text), fds, 3) : -ENOMEM;
	free(text);
	if (r < 0) {
		pc_warn("warm pool %.12s: a run did not take its agent (%s); starting cold", p->sha,
			strerror(-r));
		warm_free(w, true);
		fill_soon(p);
		return 0;
	}
	/* the run is the agent's now: its pid and pidfd go with it */
	*pid = w->pid;
	*pidfd = w->pidfd;
	w->pidfd = -1;
	free(w->sock);
	w->sock = NULL; /* the run removes its socket itself at its end */
	warm_free(w, false);
	fill_soon(p);
	return 1;
}

void pool_stop(struct daemon *d)
{
	for (size_t i = 0; i < d->n_pools; i++)
		pool_free(d->pools[i]);
	free(d->pools);
	d->pools = NULL;
	d->n_pools = 0;
}
