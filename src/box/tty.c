/* The terminal relay for `pincer run` on a terminal.
 *
 * The agent never gets pincer's own terminal: it gets a pty from its own
 * devpts, so job control and window size work while TIOCSTI and friends
 * can reach nothing outside. pincer copies bytes between the two.
 */
#include "box/internal.h"

#include <event2/event.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>

void tty_relay_start(struct tty_relay *t, int master)
{
	/* Only the terminal is relayed: a redirected stdin, stdout or stderr
	 * went to the agent directly and is not ours to read or write. */
	*t = (struct tty_relay){.master = master,
				.in_fd = isatty(STDIN_FILENO) ? STDIN_FILENO : -1,
				.out_fd = isatty(STDOUT_FILENO) ? STDOUT_FILENO : STDERR_FILENO};
	t->stdin_eof = t->in_fd < 0;
	int fl = fcntl(master, F_GETFL);
	fcntl(master, F_SETFL, fl | O_NONBLOCK);
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
		struct termios raw = t->saved;
		cfmakeraw(&raw);
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
			t->raw = true;
	}
	tty_relay_resize(t);
}

void tty_relay_resize(struct tty_relay *t)
{
	struct winsize ws;
	int src = isatty(STDOUT_FILENO) ? STDOUT_FILENO : STDIN_FILENO;
	if (ioctl(src, TIOCGWINSZ, &ws) == 0)
		ioctl(t->master, TIOCSWINSZ, &ws);
}

int tty_relay_fill(struct tty_relay *t, struct pollfd *pfd)
{
	int n = 0;
	/* Read more only when the last bytes went out: back-pressure both ways. */
	if (!t->stdin_eof && t->to_agent_len == 0)
		pfd[n++] = (struct pollfd){.fd = t->in_fd, .events = POLLIN};
	short mev = 0;
	if (!t->master_eof && t->to_user_len == 0)
		mev |= POLLIN;
	if (t->to_agent_len)
		mev |= POLLOUT;
	if (mev)
		pfd[n++] = (struct pollfd){.fd = t->master, .events = mev};
	if (t->to_user_len)
		pfd[n++] = (struct pollfd){.fd = t->out_fd, .events = POLLOUT};
	return n;
}

static void flush(int fd, char *buf, size_t *len)
{
	ssize_t w = write(fd, buf, *len);
	if (w > 0) {
		memmove(buf, buf + w, *len - (size_t)w);
		*len -= (size_t)w;
	} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
		*len = 0; /* the other side is gone: drop, never spin */
	}
}

void tty_relay_handle(struct tty_relay *t, const struct pollfd *pfd, int n)
{
	for (int i = 0; i < n; i++) {
		short re = pfd[i].revents;
		if (!re)
			continue;
		if (pfd[i].fd == t->in_fd) {
			ssize_t r = read(t->in_fd, t->to_agent, sizeof(t->to_agent));
			if (r > 0)
				t->to_agent_len = (size_t)r;
			else if (r == 0 || (errno != EAGAIN && errno != EINTR))
				t->stdin_eof = true;
		} else if (pfd[i].fd == t->master) {
			if (re & POLLOUT)
				flush(t->master, t->to_agent, &t->to_agent_len);
			if (re & (POLLIN | POLLHUP)) {
				ssize_t r = read(t->master, t->to_user, sizeof(t->to_user));
				if (r > 0)
					t->to_user_len = (size_t)r;
				else if (r == 0 || (errno != EAGAIN && errno != EINTR))
					t->master_eof = true;
			}
		} else if (pfd[i].fd == t->out_fd) {
			flush(t->out_fd, t->to_user, &t->to_user_len);
		}
	}
}

static void relay_arm(struct tty_relay *t);

static void relay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tty_relay *t = arg;
	struct pollfd p = {.fd = fd,
			   .revents = (short)(((what & EV_READ) ? POLLIN : 0) |
					      ((what & EV_WRITE) ? POLLOUT : 0))};
	tty_relay_handle(t, &p, 1);
	relay_arm(t);
}

static void relay_arm(struct tty_relay *t)
{
	struct pollfd pfd[4];
	int n = tty_relay_fill(t, pfd);
	const int fds[3] = {t->in_fd, t->master, t->out_fd};
	for (int k = 0; k < 3; k++) {
		short want = 0;
		for (int i = 0; i < n; i++) {
			if (pfd[i].fd != fds[k] || fds[k] < 0)
				continue;
			if (pfd[i].events & POLLIN)
				want |= EV_READ;
			if (pfd[i].events & POLLOUT)
				want |= EV_WRITE;
		}
		if (want == t->armed[k])
			continue;
		if (t->ev[k]) {
			event_free(t->ev[k]);
			t->ev[k] = NULL;
		}
		t->armed[k] = want;
		if (!want)
			continue;
		t->ev[k] = event_new(t->base, fds[k], want | EV_PERSIST, relay_cb, t);
		if (t->ev[k])
			event_add(t->ev[k], NULL);
	}
}

void tty_relay_attach(struct tty_relay *t, struct event_base *base)
{
	t->base = base;
	relay_arm(t);
}

void tty_relay_finish(struct tty_relay *t)
{
	for (int k = 0; k < 3; k++) {
		if (t->ev[k])
			event_free(t->ev[k]);
		t->ev[k] = NULL;
		t->armed[k] = 0;
	}
	/* What the agent wrote just before it exited is still in the pty. */
	for (int rounds = 0; rounds < 64; rounds++) {
		if (t->to_user_len) {
			int fl = fcntl(t->out_fd, F_GETFL);
			fcntl(t->out_fd, F_SETFL, fl & ~O_NONBLOCK);
			(void)pc_write_all(t->out_fd, t->to_user, t->to_user_len);
			t->to_user_len = 0;
		}
		ssize_t r = read(t->master, t->to_user, sizeof(t->to_user));
		if (r <= 0)
			break;
		t->to_user_len = (size_t)r;
	}
	if (t->raw)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &t->saved);
	t->raw = false;
}
