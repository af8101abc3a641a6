/* box: ONE agent — its sandbox, its gate, its lifecycle, and the
 * audit records that say what happened to it. `pincer run` is one box in
 * the foreground; the daemon will hold many.
 */
#pragma once

#include "policy/policy.h"
#include "audit/audit.h"

struct box_config {
	const struct policy *policy;
	char *const *argv;	 /* the command */
	char *const *setenv;	 /* "NAME=value" from --setenv, applied last */
	const char *audit_path;	 /* NULL: the default log */
	const char *agent;	 /* who the box is for, in audit records ("-") */
	bool quiet;		 /* no summary on stderr at exit */
	const char *policy_file; /* re-read on SIGHUP; NULL: the built-in default */
	bool watch;		 /* and whenever it changes */
	bool die_with_parent;	 /* the parent of pincer dies: so does the box */
	const char *identity;	 /* whose secrets credentials use; NULL: the caller's */
	/* At the end, one JSON line here: {"exit":N,"signal":N,"oom":bool}
	 * (the daemon tells an OOM kill from a crash by it); NULL: none */
	const char *status_file;
	/* Host paths no grant may reach (--hide): the daemon's sockets and
	 * state, so that no agent can talk to its daemon as its user. */
	char *const *hide;
	/* The control socket to listen on (box/control.h); NULL: none */
	const char *control_path;
	/* The gate's numbers and the run's audit records counted here, in a
	 * file of gate/stats.h (reset now, kept at the end); NULL: none */
	const char *stats_file;
	/* Build the sandbox and wait on control_path for the agent's start
	 * (box/control.h, "warm runs"); argv, setenv, agent, identity,
	 * status_file and stats_file then come with the start. */
	bool warm;
};

/* The environment the agent gets: a clean base (PATH, HOME, USER, LANG,
 * TERM when on a terminal), then the policy's process.env, then setenv. */
char **box_environment(const struct policy *p, char *const *setenv, bool tty);

/* Run the command in a new sandbox in the foreground: relay the terminal,
 * forward signals, record start and end in the audit log. *status is what
 * `pincer run` exits with: the command's code, 128+N for signal N, 125 when
 * pincer could not start it, 126/127 when it could not be executed. */
int box_run(const struct box_config *bc, int *status, struct pc_error *err);

/* Why a policy file must never be reloaded into a box running p: the agent
 * can write it, or its folder, through p's read_write grants. NULL when it
 * cannot. (Caller frees.) */
char *box_policy_writable_by_agent(const struct policy *p, const char *file);

/* A fresh run id: 16 hex characters. */
void box_new_run_id(char out[17]);
