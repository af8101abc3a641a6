/* pincer-daemon: `pincer daemon` in the foreground. One event loop for the
 * API and every agent's lifecycle; each agent's sandbox and gate are its
 * own `pincer run` (see daemon.h). */
#include "daemon/internal.h"
#include "audit/audit.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void usage(FILE *out)
{
	_cleanup_free_ char *sock = daemon_default_socket();
	_cleanup_free_ char *state = daemon_default_state();
	_cleanup_free_ char *cfg = daemon_default_config();
	fprintf(out,
		"usage: pincer daemon [--socket PATH] [--state DIR] [--config FILE] [--audit FILE]\n"
		"                     [--metrics ADDRESS:PORT]\n"
		"\n"
		"Keep agents running, one sandbox each, and answer `pincer agent ...` on a\n"
		"unix socket. Runs in the foreground (contrib/pincer.service for systemd);\n"
		"SIGTERM stops every agent and the daemon, which starts them again next time.\n"
		"\n"
		"options:\n"
		"  --socket PATH   the API socket (default %s)\n"
		"  --state DIR     state.db and each agent's policy and log (default %s)\n"
		"  --config FILE   admins and uid -> identity (default %s):\n"
		"                    admins: [root, alice]\n"
		"                    users: {1001: alice}\n"
		"  --audit FILE    the audit log of the daemon and its agents' runs\n"
		"  --metrics ADDRESS:PORT  also serve GET /metrics (Prometheus) on this TCP\n"
		"                  address, e.g. 127.0.0.1:9464 or [::1]:9464: every agent's\n"
		"                  numbers to whoever connects (the socket's /metrics shows a\n"
		"                  caller only their own agents), nothing else of the API\n"
		"  -h, --help      this text\n"
		"\n"
		"examples:\n"
		"  pincer daemon &\n"
		"  pincer agent create crm-bot --policy crm.yaml --user alice -- python3 bot.py\n"
		"  pincer agent ls\n",
		sock, state, cfg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct daemon *d = arg;
	pc_info("daemon: %s: stopping every agent", sigabbrev_np((int)sig) ? sigabbrev_np((int)sig) : "signal");
	event_base_loopbreak(d->base);
}

/* Stop every running agent (SIGTERM, then SIGKILL after the grace time)
 * and reap them; their wish to run stays in the state for the next start. */
static void stop_all(struct daemon *d)
{
	struct pollfd pfd[1024];
	size_t n = 0;
	for (size_t i = 0; i < d->n_agents; i++)
		if (d->agents[i]->pid)
			agent_signal(d->agents[i], SIGTERM);
	uint64_t end = pc_now_ns() + DAEMON_STOP_GRACE_MS * 1000000ULL;
	for (;;) {
		n = 0;
		for (size_t i = 0; i < d->n_agents && n < PC_ARRAY_SIZE(pfd); i++)
			if (d->agents[i]->pid)
				pfd[n++] = (struct pollfd){.fd = d->agents[i]->pidfd, .events = POLLIN};
		if (!n)
			break;
		uint64_t now = pc_now_ns();
		if (now >= end) {
			for (size_t i = 0; i < d->n_agents; i++)
				if (d->agents[i]->pid)
					agent_signal(d->agents[i], SIGKILL);
			end = now + 1000000000ULL;
		}
		if (poll(pfd, n, (int)((end - now) / 1000000) + 1) <= 0)
			continue;
		for (size_t i = 0; i < d->n_agents; i++) {
			struct agent *a = d->agents[i];
			struct pollfd p = {.fd = a->pidfd, .events = POLLIN};
			siginfo_t si;
			if (a->pid && poll(&p, 1, 0) == 1) {
				/* reaped, or (adopted, not our child) simply gone */
				waitid((idtype_t)P_PIDFD, (id_t)a->pidfd, &si, WEXITED);
				a->pid = 0;
			}
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'}, {"state", required_argument, NULL, 'S'},
		{"config", required_argument, NULL, 'c'}, {"audit", required_argument, NULL, 'a'},
		{"metrics", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},	  {NULL, 0, NULL, 0},
	};
	struct daemon d = {0};
	_cleanup_free_ char *cfg_file = NULL;
	const char *metrics_addr = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			d.socket = pc_xstrdup(optarg);
			break;
		case 'S':
			d.state_dir = pc_xstrdup(optarg);
			break;
		case 'c':
			cfg_file = pc_xstrdup(optarg);
			break;
		case 'a':
			d.audit_path = optarg;
			break;
		case 'm':
			metrics_addr = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pincer: daemon: unexpected argument '%s'\n\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!d.socket)
		d.socket = daemon_default_socket();
	if (!d.state_dir)
		d.state_dir = daemon_default_state();
	if (!cfg_file)
		cfg_file = daemon_default_config();
	d.pincer = pc_sibling_path("pincer");

	struct pc_error err = {0};
	int r = daemon_config_load(cfg_file, &d.cfg, &err);
	if (r == 0)
		r = pc_mkdir_p(d.state_dir, 0700, &err);
	if (r == 0)
		r = audit_open(d.audit_path, &d.log, &err);
	if (r == 0)
		r = state_open(&d, &err);
	if (r == 0)
		r = state_load(&d, &err);
	if (r == 0)
		r = approvals_load(&d, &err);
	if (r < 0) {
		fprintf(stderr, "pincer: daemon: %s\n", err.msg);
		return 125;
	}
	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	d.base = event_base_new();
	struct event *ev_term = evsignal_new(d.base, SIGTERM, on_signal, &d);
	struct event *ev_int = evsignal_new(d.base, SIGINT, on_signal, &d);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	r = api_start(&d, &err);
	if (r >= 0)
		r = exec_start(&d, &err);
	if (r >= 0 && metrics_addr)
		r = metrics_start(&d, metrics_addr, &err);
	if (r < 0) {
		fprintf(stderr, "pincer: daemon: %s\n", err.msg);
		return 125;
	}
	/* runs an earlier daemon left going are taken back; the agents that
	 * should run and do not, run */
	size_t adopted = 0;
	for (size_t i = 0; i < d.n_agents; i++) {
		struct agent *a = d.agents[i];
		if (agent_adopt(a)) {
			adopted++;
			continue;
		}
		if (!a->want) {
			if (a->state == AG_RUNNING || a->state == AG_BACKOFF)
				a->state = AG_STOPPED;
			state_save(&d, a, &err);
			continue;
		}
		if (agent_start(a, &err) < 0)
			pc_warn("agent %s: %s", a->name, err.msg);
	}
	pool_sync(&d);
	const struct audit_field f[] = {AUDIT_STR("socket", d.socket),
					AUDIT_STR("state", d.state_dir),
					AUDIT_NUM("agents", d.n_agents), AUDIT_NUM("adopted", adopted)};
	if (audit_write(d.log, AUDIT_RUN_START, "-", "daemon", AUDIT_NONE, "daemon started", f,
			PC_ARRAY_SIZE(f), &err) < 0)
		pc_warn("audit: %s", err.msg);
	pc_info("daemon: listening on %s (state %s, %zu agents, %zu still running taken back)",
		d.socket, d.state_dir, d.n_agents, adopted);

	event_base_dispatch(d.base);

	exec_stop(&d);
	metrics_stop(&d);
	pool_stop(&d);
	api_stop(&d);
	stop_all(&d);
	audit_write(d.log, AUDIT_RUN_END, "-", "daemon", AUDIT_NONE, "daemon stopped", NULL, 0,
		    &err);
	for (size_t i = 0; i < d.n_agents; i++)
		agent_free(d.agents[i]);
	free(d.agents);
	approvals_free(&d);
	event_free(ev_term);
	event_free(ev_int);
	event_base_free(d.base);
	state_close(&d);
	audit_close(d.log);
	daemon_config_free(&d.cfg);
	free(d.socket);
	free(d.state_dir);
	free(d.pincer);
	return 0;
}
