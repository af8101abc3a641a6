/* Private to src/box. */
#pragma once

#include "box/box.h"

#include <poll.h>
#include <termios.h>

/* Relays the host terminal to the agent's pty: raw mode while it runs,
 * window size kept in step, restored at the end whatever happens. */
struct tty_relay {
	int master;
	int in_fd;  /* our stdin when it is the terminal, else -1 (it went to the agent) */
	int out_fd; /* the terminal among our stdout and stderr */
	bool raw;
	struct termios saved;
	char to_agent[16384];
	size_t to_agent_len;
	char to_user[16384];
	size_t to_user_len;
	bool stdin_eof;
	bool master_eof;
};

void tty_relay_start(struct tty_relay *t, int master);
/* Add the relay's fds to pfd (up to 4); returns how many were added. */
int tty_relay_fill(struct tty_relay *t, struct pollfd *pfd);
void tty_relay_handle(struct tty_relay *t, const struct pollfd *pfd, int n);
void tty_relay_resize(struct tty_relay *t);
/* After the agent exited: copy what it still wrote, restore the terminal. */
void tty_relay_finish(struct tty_relay *t);
