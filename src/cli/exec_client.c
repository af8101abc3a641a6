/* `pincer agent exec`: a command in a running agent's sandbox, through the
 * daemon's exec socket (daemon.h, "exec").
 *
 * We hand the daemon three pipes of our own making, never our terminal or
 * files: the sandboxed process gets only pipe ends, and we copy between
 * them and our stdin/stdout/stderr. Ctrl-C and friends are sent on as
 * signals to the process; if we die, the daemon's connection closes and
 * the process is killed.
 */
#include "cli/cli.h"

#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#define DRAIN_AFTER_EXIT_MS 2000 /* output still coming after the exit record */

struct relay {
	int from, to;
	char buf[65536];
	size_t len, off;
	bool eof;
};

/* One step of a pipe relay: read when empty, write what is buffered. */
static void relay_step(struct relay *r, short from_ev, short to_ev)
{
	if (r->len == 0 && (from_ev & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t n = read(r->from, r->buf, sizeof(r->buf));
		if (n > 0) {
			r->len = (size_t)n;
			r->off = 0;
		} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			r->eof = true;
		}
	}
	if (r->len && (to_ev & (POLLOUT | POLLERR | POLLHUP))) {
		ssize_t n = write(r->to, r->buf + r->off, r->len);
		if (n > 0) {
			r->off += (size_t)n;
			r->len -= (size_t)n;
		} else if (n < 0 && errno != EINTR && errno != EAGAIN) {
			r->len = 0; /* the reader went away (EPIPE): drop the rest */
			r->eof = true;
		}
	}
}

static int error_status(const char *msg, json_int_t status)
{
	if (status) /* the daemon refused */
		return PC_EXIT_FAIL;
	if (strstr(msg, "No such file"))
		return 127; /* as a shell says it */
	if (strncmp(msg, "cannot run", 10) == 0)
		return 126;
	return PC_EXIT_FAIL;
}

/* A record from the daemon: 0 to go on, else the exit status + 1000 marker
 * in *done. */
static bool on_record(const char *buf, size_t n, const char *agent, int *exit_status)
{
	_cleanup_free_ char *text = pc_xstrndup(buf, n);
	json_t *j = json_loads(text, 0, NULL);
	bool done = false;
	json_t *v;
	if (!j || !json_is_object(j)) {
		fprintf(stderr, "pincer: agent exec %s: the daemon's answer is not JSON\n", agent);
		*exit_status = PC_EXIT_SETUP;
		done = true;
	} else if ((v = json_object_get(j, "error"))) {
		const char *msg = json_string_value(v) ? json_string_value(v) : "?";
		fprintf(stderr, "pincer: agent exec %s: %s\n", agent, msg);
		*exit_status = error_status(msg, json_integer_value(json_object_get(j, "status")));
		done = true;
	} else if ((v = json_object_get(j, "exited"))) {
		json_t *sig = json_object_get(v, "signal");
		*exit_status = sig ? 128 + (int)json_integer_value(sig)
				   : (int)json_integer_value(json_object_get(v, "code"));
		done = true;
	}
	json_decref(j);
	return done;
}

int agent_exec(const char *socket, const char *agent, char **argv, char **env, bool interactive)
{
	struct pc_error err = {0};
	_cleanup_free_ char *path = pc_xasprintf("%s.exec", socket);
	_cleanup_close_ int sock = api_dial(path, SOCK_SEQPACKET, true, &err);
	if (sock < 0) {
		cli_print_error(&err);
		return PC_EXIT_SETUP;
	}
	int in[2], out[2], errp[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		fprintf(stderr, "pincer: agent exec: pipe: %s\n", strerror(errno));
		return PC_EXIT_SETUP;
	}
	json_t *jargv = json_array(), *jenv = json_array();
	for (size_t i = 0; argv[i]; i++)
		json_array_append_new(jargv, json_string(argv[i]));
	for (size_t i = 0; env && env[i]; i++)
		json_array_append_new(jenv, json_string(env[i]));
	json_t *req = json_pack("{s:s, s:s, s:o, s:o}", "op", "exec", "agent", agent, "argv", jargv,
				"env", jenv);
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	int theirs[3] = {in[0], out[1], errp[1]};
	int r = text ? pc_send_fds(sock, text, strlen(text), theirs, 3) : -ENOMEM;
	free(text);
	for (int i = 0; i < 3; i++)
		close(theirs[i]);
	if (r < 0) {
		fprintf(stderr, "pincer: agent exec: sending to %s: %s\n", path, strerror(-r));
		return PC_EXIT_SETUP;
	}

	/* our signals go on to the process; SIGPIPE is a write error here */
	sigset_t set;
	sigemptyset(&set);
	int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	for (size_t i = 0; i < PC_ARRAY_SIZE(fwd); i++)
		sigaddset(&set, fwd[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	_cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC);

	struct relay rin = {.from = 0, .to = in[1], .eof = !interactive};
	struct relay rout = {.from = out[0], .to = 1}, rerr = {.from = errp[0], .to = 2};
	if (!interactive) {
		close(in[1]); /* the process reads end of file */
		in[1] = -1;
	} else {
		fcntl(in[1], F_SETFL, O_NONBLOCK);
	}
	int status = -1;
	bool exited = false;
	uint64_t exit_ns = 0;
	char rec[65536];
	for (;;) {
		if (rin.eof && !rin.len && in[1] >= 0) {
			close(in[1]);
			in[1] = -1;
		}
		bool outputs_done = rout.eof && !rout.len && rerr.eof && !rerr.len;
		if (exited && outputs_done)
			break;
		int timeout = -1;
		if (exited) {
			uint64_t spent = (pc_now_ns() - exit_ns) / 1000000;
			if (spent >= DRAIN_AFTER_EXIT_MS)
				break; /* something it started still holds the pipes */
			timeout = (int)(DRAIN_AFTER_EXIT_MS - spent);
		}
		struct pollfd p[8];
		int n = 0;
		int i_sock = -1, i_sig = -1, i_in = -1, i_inw = -1, i_out = -1, i_outw = -1,
		    i_err = -1, i_errw = -1;
		if (!exited) {
			p[i_sock = n++] = (struct pollfd){.fd = sock, .events = POLLIN};
			p[i_sig = n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		}
		if (!rin.eof && !rin.len)
			p[i_in = n++] = (struct pollfd){.fd = 0, .events = POLLIN};
		if (rin.len && in[1] >= 0)
			p[i_inw = n++] = (struct pollfd){.fd = in[1], .events = POLLOUT};
		if (!rout.eof && !rout.len)
			p[i_out = n++] = (struct pollfd){.fd = out[0], .events = POLLIN};
		if (rout.len)
			p[i_outw = n++] = (struct pollfd){.fd = 1, .events = POLLOUT};
		if (!rerr.eof && !rerr.len)
			p[i_err = n++] = (struct pollfd){.fd = errp[0], .events = POLLIN};
		if (rerr.len)
			p[i_errw = n++] = (struct pollfd){.fd = 2, .events = POLLOUT};
		if (poll(p, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
#define EV(i) ((i) >= 0 ? p[i].revents : 0)
		relay_step(&rin, EV(i_in), EV(i_inw));
		relay_step(&rout, EV(i_out), EV(i_outw));
		relay_step(&rerr, EV(i_err), EV(i_errw));
		if (EV(i_sig) & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				char m[64];
				int k = snprintf(m, sizeof(m), "{\"op\":\"signal\",\"signal\":%u}",
						 si.ssi_signo);
				(void)send(sock, m, (size_t)k, MSG_NOSIGNAL);
			}
		}
		if (EV(i_sock) & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t k = pc_recv(sock, rec, sizeof(rec), 0);
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (k <= 0) {
				fprintf(stderr,
					"pincer: agent exec %s: the daemon closed the connection "
					"before the command ended\n",
					agent);
				status = PC_EXIT_SETUP;
				break;
			}
			if (on_record(rec, (size_t)k, agent, &status)) {
				exited = true;
				exit_ns = pc_now_ns();
			}
		}
#undef EV
	}
	if (in[1] >= 0)
		close(in[1]);
	close(out[0]);
	close(errp[0]);
	return status < 0 ? PC_EXIT_SETUP : status;
}
