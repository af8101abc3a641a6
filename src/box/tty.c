/* The terminal relay for `pincer run` on a terminal.
 *
 * The agent never gets pincer's own terminal: it gets a pty from its own
 * devpts, so job control and window size work while TIOCSTI and friends
 * can reach nothing outside. pincer copies bytes between the two.
 */
#include "box/internal.h"

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

void tty_relay_finish(struct tty_relay *t)
{
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
