/* What every pincer program prints for an error that travelled up. */
#include "cli/cli.h"

#include <string.h>

void cli_print_error(const struct pc_error *err)
{
	fprintf(stderr, "pincer: %s\n", err->msg[0] ? err->msg : strerror(err->code));
}
