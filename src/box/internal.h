/* Private to src/box. */
#pragma once

#include "box/box.h"

#include <poll.h>
#include <termios.h>

struct event;
struct event_base;

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
	/* driven by the box's event loop: one event per fd, re-armed after
	 * every step to what tty_relay_fill asks for */
	struct event_base *base;
	struct event *ev[3]; /* in_fd, master, out_fd */
	short armed[3];
};

void tty_relay_start(struct tty_relay *t, int master);
/* Add the relay's fds to pfd (up to 4); returns how many were added. */
int tty_relay_fill(struct tty_relay *t, struct pollfd *pfd);
void tty_relay_handle(struct tty_relay *t, const struct pollfd *pfd, int n);
void tty_relay_resize(struct tty_relay *t);
/* Serve the relay from an event loop until tty_relay_finish. */
void tty_relay_attach(struct tty_relay *t, struct event_base *base);
/* After the agent exited: copy what it still wrote, restore the terminal. */
void tty_relay_finish(struct tty_relay *t);

/* env.c: set NAME=value in env, replacing an earlier NAME. */
void box_env_set(char ***env, const char *name, const char *value);

/* intercept.c: TLS interception and credentials, for a policy that needs
 * them (all NULL otherwise). */
struct pc_tls_ops;
struct pc_tls;
struct gate_creds;
struct box_intercept {
	const struct pc_tls_ops *ops;
	struct pc_tls *tls;
	struct gate_creds *creds;
	char *bundle; /* PEM the sandbox trusts */
};
int box_intercept_open(const struct box_config *bc, struct box_intercept *bi,
		       struct pc_error *err);
/* The placeholders and the CA variables, into the agent's environment. */
void box_intercept_env(const struct box_intercept *bi, char ***env);
void box_intercept_close(struct box_intercept *bi);
/* For the sandbox's process: its copy of the secrets and keys, wiped. */
void box_intercept_forget(void *arg);

/* The foreground loop of one box (loop.c). */
struct sandbox;
struct sandbox_exit;
struct gate;
struct box_loop {
	const struct box_config *bc;
	struct sandbox *sb;
	struct sandbox_exit *ex;
	struct audit_log *log;
	const char *agent, *run;
	int sigfd;
	pid_t parent;	  /* 0: not watching for the parent's death */
	uint64_t wall_ms; /* 0: no wall-time limit */
	bool orphaned;	  /* the parent died: sandbox killed */
	bool timed_out;	  /* the wall time ran out */
	bool reaped;
	struct event_base *base;
	struct event *ev_sig, *ev_ctl, *ev_pid, *ev_term, *ev_kill;
	struct tty_relay relay;
	bool relaying;
	struct gate *gate;
	const struct box_intercept *icpt;
	struct pc_buf summary; /* what the gate denied, for stderr at exit */
	/* the policy in force, and every one reloaded (freed after the run) */
	const struct policy *current;
	struct policy **policies;
	size_t n_policies;
	int inotify_fd;
	struct event *ev_watch, *ev_settle;
};

/* Run until the sandbox's PID 1 has been reaped. */
int box_loop_run(struct box_loop *L, struct pc_error *err);
/* reload.c: re-read the policy file; trigger says why ("SIGHUP"). */
void box_reload(struct box_loop *L, const char *trigger);
void box_watch_start(struct box_loop *L);
void box_watch_stop(struct box_loop *L);
