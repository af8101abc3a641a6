/* pincer policy: placeholder until the policy module lands. */
#include "cli/cli.h"
int cmd_policy(int argc, char **argv)
{
	(void)argc, (void)argv;
	fprintf(stderr, "pincer: policy: not implemented yet\n");
	return PC_EXIT_USAGE;
}
