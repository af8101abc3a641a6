/* pincer run: placeholder. */
#include "cli/cli.h"
int cmd_run(int argc, char **argv)
{
	(void)argc, (void)argv;
	return PC_EXIT_SETUP;
}
