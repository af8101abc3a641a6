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

/* Print "pincer: <msg>" for an error that travelled up. */
void cli_print_error(const struct pc_error *err);
