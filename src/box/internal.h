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
/* A reloaded policy's credentials, from the gate's next request on (see
 * gate_creds_reload): 0 applied (notes say what changed; *restart set when
 * a part works only from the next start), <0 not applied, err says why
 * and the credentials in force stay. A run started without interception
 * has no CA in its sandbox: credentials then need a restart (-ENOTSUP). */
struct gate;
int box_intercept_reload(struct box_intercept *bi, const struct box_config *bc, struct gate *g,
			 const struct policy *p, struct pc_buf *notes, bool *restart,
			 struct pc_error *err);
/* The credentials of p for identity (NULL: the caller's), read now: what
 * box_intercept_open does, or a warm run at its start. */
int box_intercept_creds(struct box_intercept *bi, const struct policy *p, const char *identity,
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
	struct gate_stats *stats; /* --stats: where the gate counts (NULL: none) */
	struct box_intercept *icpt;
	struct pc_buf summary; /* what the gate denied, for stderr at exit */
	/* the policy in force, and every one reloaded (freed after the run) */
	const struct policy *current;
	struct policy **policies;
	size_t n_policies;
	/* what a reload changes in place (reload.c): the limits in force, the
	 * policy whose credentials the gate uses, when the sandbox started */
	struct pc_limits limits;
	const struct policy *creds_policy;
	uint64_t start_ns;
	int inotify_fd;
	struct event *ev_watch, *ev_settle;
	struct control *control; /* --control: the run's control socket, or NULL */
	/* a warm run (box/control.h): box_run's copy of its configuration,
	 * which the start completes (NULL: not warm); claimed once a start
	 * asked for the agent (its run.start written), start_failed when one
	 * was refused before (the run ends: 125) */
	struct box_config *claim;
	bool claimed, start_failed;
	struct box_approvals *approvals; /* approvals.c: while the gate runs */
};

/* box.c: the command as one line, quoted where needed ("" for none). */
char *box_join_argv(char *const *argv);
/* The run's first records: run.start (identity: named when not NULL) and
 * one per credential in use; a warm run writes them at its start. */
struct sandbox;
int box_record_start(struct audit_log *log, const char *agent, const char *run,
		     const struct policy *p, const char *policy_file, const char *cmd,
		     const char *identity, const struct gate_creds *creds, struct pc_error *err);
/* One record per note of the sandbox's layers (a shortfall also warned). */
void box_record_notes(struct audit_log *log, const char *agent, const char *run,
		      const struct sandbox *sb);

/* Run until the sandbox's PID 1 has been reaped. */
int box_loop_run(struct box_loop *L, struct pc_error *err);
/* reload.c: re-read the policy file; trigger says why ("SIGHUP"). */
void box_reload(struct box_loop *L, const char *trigger);
void box_watch_start(struct box_loop *L);
void box_watch_stop(struct box_loop *L);

/* approvals.c: the run's side of approvals (box/control.h): the gate's
 * hooks, from its start until its shutdown; the control socket's ops. */
struct json_t;
void box_approvals_attach(struct box_loop *L);
void box_approvals_detach(struct box_loop *L);
/* "subscribe" or "decide" on connection fd: 0 answered (a decision the
 * gate refused gets {"error"} too); <0 a malformed request, why says it
 * (the caller refuses it and closes). */
int box_approvals_op(struct box_loop *L, int fd, struct json_t *j, char *why, size_t n);
/* fd closes: no longer a subscriber. */
void box_approvals_gone(struct box_loop *L, int fd);

/* control.c: the run's control socket (box/control.h). Made before the
 * sandbox starts; served from the loop while the sandbox runs; removed by
 * control_free. */
struct control;
int control_open(const char *path, struct control **out, struct pc_error *err);
int control_attach(struct control *c, struct box_loop *L, struct pc_error *err);
/* Closes every connection (their processes are killed). */
void control_detach(struct control *c);
void control_free(struct control *c);
static inline void control_freep(struct control **c)
{
	if (*c)
		control_free(*c);
}
