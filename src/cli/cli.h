/* cli: the `pincer` subcommands. Each command is one file, takes the
 * arguments after its name (argv[0] is the command name) and returns the
 * process exit status. Only these files and main.c print errors and exit.
 *
 * Exit statuses shared by all commands:
 *   0 success, 1 a check failed (e.g. audit tampered), 2 bad usage or input,
 *   125 pincer itself failed before the command ran (as `docker run` does),
 *   otherwise the sandboxed command's own status (128+N for signal N).
 */
#pragma once

#include "util/util.h"

#define PC_EXIT_OK    0
#define PC_EXIT_FAIL  1
#define PC_EXIT_USAGE 2
#define PC_EXIT_SETUP 125

int cmd_run(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_vault(int argc, char **argv);
int cmd_agent(int argc, char **argv);  /* cmd_agent.c: the daemon's client */
int cmd_daemon(int argc, char **argv); /* main.c: runs pincer-daemon */
int cmd_top(int argc, char **argv);    /* cmd_top.c: the daemon's agents, live */
/* cmd_approvals.c: approvals, approve, reject (argv[0] says which) */
int cmd_approvals(int argc, char **argv);

/* Print "pincer: <msg>" for an error that travelled up. */
void cli_print_error(const struct pc_error *err);
/* s[0..n) onto b for a terminal: every character that acts on one or
 * hides text (C0, DEL, C1, zero-width and bidi controls, U+FEFF, tags) as
 * \xNN or \u{...}, every byte that is not UTF-8 as \xNN; at most max
 * columns (an escape counts its length). Returns the bytes of s taken. */
size_t cli_put_safe(struct pc_buf *b, const char *s, size_t n, size_t max);

/* api_client.c: one request to the daemon's API over its unix socket
 * (daemon.h). */
struct api_request {
	const char *socket;
	const char *method, *path; /* "GET", "/v1/agents" */
	const char *body;	   /* JSON, or NULL */
	int stream_fd;		   /* >= 0: a 2xx answer's body is written here as
				    * it arrives instead of kept in the reply */
	bool follow;		   /* no read timeout: the answer lasts */
};

struct api_reply {
	int status;	    /* the HTTP status */
	struct pc_buf body; /* NUL-terminated (empty when streamed) */
};

/* Send rq and read the whole answer. Returns 0 with any HTTP status, or a
 * negative errno when no answer came: the daemon not reachable ("no daemon
 * at SOCKET: ..."), a 30 s timeout, a broken answer. */
int api_call(const struct api_request *rq, struct api_reply *rep, struct pc_error *err);
/* A connected socket of type (SOCK_STREAM, SOCK_SEQPACKET) to the daemon at
 * path, served by root or by us; reads time out after 30 s unless follow. */
int api_dial(const char *path, int type, bool follow, struct pc_error *err);

/* exec_client.c: `pincer agent exec`: run argv in agent's sandbox through
 * the daemon's exec socket (daemon.h), relaying our stdin (interactive),
 * stdout and stderr; returns the exit status pincer should end with. */
int agent_exec(const char *socket, const char *agent, char **argv, char **env, bool interactive);
