/* Private to src/daemon: the daemon's context, its agents, and the steps
 * its files share. */
#pragma once

#include "daemon/daemon.h"

#include <sys/types.h>

struct event_base;
struct event;
struct evhttp;
struct audit_log;
struct sqlite3;

enum agent_state { AG_STOPPED, AG_RUNNING, AG_BACKOFF, AG_FAILED };
enum agent_restart { RS_ON_FAILURE, RS_ALWAYS, RS_NEVER };

#define DAEMON_BACKOFF_FIRST_MS 1000
#define DAEMON_BACKOFF_MAX_MS	60000
#define DAEMON_LOOP_EXITS	5 /* exits within DAEMON_LOOP_WINDOW_S: failed */
#define DAEMON_LOOP_WINDOW_S	60
#define DAEMON_STOP_GRACE_MS	3000

struct agent {
	struct daemon *d;
	char *name, *user, *policy, *policy_sha256, *command_json;
	char **command;
	enum agent_restart restart;
	bool want; /* should be running (start asked, not stopped) */
	enum agent_state state;
	pid_t pid;	    /* its `pincer run`; 0 when none */
	uint64_t pid_start; /* the process's start time (/proc/PID/stat), to re-adopt it */
	int pidfd;	    /* -1 when none */
	bool adopted;	    /* started by an earlier daemon: its exit status is not ours */
	bool revoked;	    /* network revoked: its runs get the policy without egress rules */
	unsigned restarts;
	bool has_exit;
	int exit_code, exit_signal;
	bool exit_oom;
	char exit_at[32];
	char *failed_reason;
	char created[32], started[32];
	uint64_t started_ns; /* CLOCK_MONOTONIC of the last start */
	uint64_t exits_ns[DAEMON_LOOP_EXITS];
	unsigned backoff_ms;
	struct event *ev_exit, *ev_timer; /* pidfd readable; backoff / stop grace */
	bool stopping;			  /* SIGTERM sent, SIGKILL when the timer fires */
	bool restart_pending;		  /* start again once this run has ended */
	struct approval_sub *sub;	  /* approvals.c: subscribed to its run */
	unsigned ooms;			  /* runs ended by OOM, ever (usage.c: agent_ooms) */
	bool ooms_read;			  /* ooms loaded from the agent's folder */
};

struct daemon_group {
	char *name;
	char **members;
};

struct daemon_config {
	char **admins;
	struct daemon_group *groups; /* groups: for approvals' group:NAME */
	size_t n_groups;
	uid_t *uids; /* users: uid -> identity */
	char **names;
	size_t n_users;
	unsigned backoff_ms; /* the first wait before a restart */
};

struct follower;

struct daemon {
	struct event_base *base;
	struct evhttp *http;
	struct follower *followers; /* logs being followed (api.c) */
	size_t n_followers;
	uint64_t follow_refused_ns; /* the last refusal for too many, recorded */
	struct audit_log *log;
	const char *audit_path; /* for the runs; NULL: their default */
	char *state_dir, *socket, *pincer;
	struct sqlite3 *db;
	struct daemon_config cfg;
	struct agent **agents;
	size_t n_agents;
	struct event *ev_sig;
	struct evhttp *metrics_http; /* --metrics ADDR:PORT; NULL: none */
	struct exec_server *exec;    /* exec.c */
	char save_error[256];	     /* the last state.db write that failed ("" none) */
	struct pool **pools;	     /* pool.c: the warm pools, one per policy */
	struct json_t **approvals;   /* approvals.c: every approval, oldest first */
	size_t n_approvals;
	size_t n_pools;
};

/* config.c */
int daemon_config_load(const char *file, struct daemon_config *cfg, struct pc_error *err);
void daemon_config_free(struct daemon_config *cfg);
/* The identity of a peer uid, and whether it is an admin. */
char *daemon_identity(const struct daemon *d, uid_t uid);
bool daemon_is_admin(const struct daemon *d, const char *identity);
/* Is identity a member of the config's group NAME? */
bool daemon_in_group(const struct daemon *d, const char *identity, const char *group);

/* state.c: state.db, every change committed before it is answered */
int state_open(struct daemon *d, struct pc_error *err);
void state_close(struct daemon *d);
int state_load(struct daemon *d, struct pc_error *err); /* fills d->agents */
int state_save(struct daemon *d, const struct agent *a, struct pc_error *err);
int state_delete(struct daemon *d, const char *name, struct pc_error *err);
/* approvals: one JSON document each, by id */
int state_approval_put(struct daemon *d, const char *id, const char *agent, const char *doc,
		       struct pc_error *err);
int state_approvals_load(struct daemon *d, void (*each)(struct daemon *d, const char *doc),
			 struct pc_error *err);

/* agents.c: lifecycle */
struct agent *agent_find(struct daemon *d, const char *name);
void agent_free(struct agent *a);
int agent_start(struct agent *a, struct pc_error *err);
/* After a daemon restart: take a still running `pincer run` back (the
 * same process: pid and start time match), else forget it. true: adopted. */
bool agent_adopt(struct agent *a);
void agent_stop(struct agent *a);
/* Stop (with its grace time) and start again. */
void agent_restart(struct agent *a, struct pc_error *err);
/* Signal the agent's run through its pidfd. */
int agent_signal(struct agent *a, int sig);
/* Write the policy the agent's run reads (without egress rules while its
 * network is revoked); with reload, tell the running one (SIGHUP). */
int agent_write_policy(struct agent *a, bool reload, struct pc_error *err);
/* Remove from d (stopped first) and from the state; a is freed. */
int agent_remove(struct agent *a, struct pc_error *err);
const char *agent_state_name(enum agent_state s);
const char *agent_restart_name(enum agent_restart r);
int agent_restart_parse(const char *s, enum agent_restart *out);
void daemon_now_iso(char out[32]);

/* usage.c: one process as /proc/PID/stat tells it */
struct proc_stat {
	char comm[32];
	pid_t ppid;
	uint64_t ticks; /* utime + stime */
	uint64_t start; /* starttime: with the pid, names the process */
	uint64_t rss_pages;
};
bool proc_stat(pid_t pid, struct proc_stat *out);
/* memory (RSS) and CPU time of each agent (d->agents order) */
void usage_collect(struct daemon *d, uint64_t *rss_bytes, double *cpu_seconds);
/* The agent's OOM kills, kept in its folder ("ooms") across daemon
 * restarts; count one more. */
unsigned agent_ooms(struct agent *a);
void agent_count_oom(struct agent *a);
/* /metrics (daemon.h) for identity (admin: every agent); NULL identity:
 * every agent (the --metrics address, which has no identity). */
void daemon_metrics(struct daemon *d, struct pc_buf *out, const char *identity, bool admin);
struct evhttp_request;
void daemon_metrics_reply(struct daemon *d, struct evhttp_request *req, const char *identity,
			  bool admin);
/* --metrics ADDR:PORT: GET /metrics on TCP, nothing else (404). */
int metrics_start(struct daemon *d, const char *address, struct pc_error *err);
void metrics_stop(struct daemon *d);

/* api.c */
int api_start(struct daemon *d, struct pc_error *err);
void api_stop(struct daemon *d);
/* A listener's error callback: out of fds, it pauses accepting a second. */
struct evconnlistener;
void daemon_accept_error(struct evconnlistener *l, void *arg);
/* Answers: JSON (a reference taken), or {"error": message}. */
struct evhttp_request;
struct json_t;
void api_reply_json(struct evhttp_request *req, int code, struct json_t *j);
void api_reply_error(struct evhttp_request *req, int code, const char *fmt, ...) _printf_(3, 4);
/* exec.c: a connected SOCK_SEQPACKET socket to the agent's run's control
 * socket (box/control.h), checked to be that run's. */
int daemon_connect_run(const struct agent *a, struct pc_error *err);
/* A listening unix socket at path (type SOCK_STREAM or SOCK_SEQPACKET),
 * non-blocking, its mode set at bind (0666 as root, 0600 for a user), in a
 * folder only we can write; a stale socket file is replaced. Returns the fd. */
int daemon_listen(const char *path, int type, struct pc_error *err);
/* Is the socket's peer in the daemon's user namespace (not in a sandbox)? */
bool daemon_peer_local(int fd);
/* May this identity see and steer agent a? Its user and admins may. */
bool daemon_may_steer(const struct agent *a, const char *identity, bool admin);
/* An "api" deny record: identity (uid) was refused `what` on agent. */
void daemon_audit_refusal(struct daemon *d, const char *identity, uid_t uid, const char *what,
			  const char *agent, const char *path);

/* exec.c: the exec socket (daemon.h "exec"), at the API socket's path +
 * ".exec"; stopping closes every relayed exec (their processes are killed
 * by their runs). */
int exec_start(struct daemon *d, struct pc_error *err);
void exec_stop(struct daemon *d);
/* approvals.c (daemon.h, "approvals"): load them at start; watch an
 * agent's run once it runs (subscribe when its policy has approval rules),
 * unwatch when it ends (why: its pending approvals expire, recorded; NULL:
 * just let go); the /v1/approvals routes. */
int approvals_load(struct daemon *d, struct pc_error *err);
void approvals_free(struct daemon *d);
void approvals_watch(struct agent *a);
void approvals_unwatch(struct agent *a, const char *why);
void approvals_route(struct daemon *d, struct evhttp_request *req, const char *path,
		     const char *identity, uid_t uid, bool admin);
/* pool.c: the warm pools (daemon.h). pool_sync: after agents or their
 * policies changed, keep sandbox.warm runs ready for each policy in use
 * (and end the pools no one uses). pool_claim: hand a ready run of a's
 * policy the agent's command and stdio; 1 with its pid and pidfd (ours
 * now), 0 when none was ready (start cold). pool_stop: end them all. */
void pool_sync(struct daemon *d);
int pool_claim(struct agent *a, const int fds[3], const char *status_file, pid_t *pid, int *pidfd);
void pool_stop(struct daemon *d);
/* agents.c: start a `pincer run` (argv) as our child in a session of its
 * own, in /, with io as its stdin/out/err and nothing else of ours; its
 * pid and a pidfd. */
int daemon_spawn(const char *what, char **argv, const int io[3], pid_t *pid, int *pidfd,
		 struct pc_error *err);
/* agents.c: the --hide options of every run the daemon starts: its
 * sockets and its state folder, never in any sandbox's view */
void daemon_hide_args(const struct daemon *d, char ***argv);
/* agents.c: the agent's folder in the state (caller frees) */
char *agent_dir(const struct agent *a);
