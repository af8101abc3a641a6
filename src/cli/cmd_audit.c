/* pincer audit: placeholder until the audit module lands. */
#include "cli/cli.h"
int cmd_audit(int argc, char **argv)
{
	(void)argc, (void)argv;
	fprintf(stderr, "pincer: audit: not implemented yet\n");
	return PC_EXIT_USAGE;
}
