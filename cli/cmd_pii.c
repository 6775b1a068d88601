/* cmd_pii.c -- `aifctl pii ...`: being written (issue 5); until then it says so. */
#include <stdio.h>

#include "commands.h"

int
aifctl_cmd_pii(const char *config_path, int argc, char **argv)
{
	(void)config_path;
	(void)argc;
	(void)argv;
	fprintf(stderr, "aifctl: pii commands are not available in this build\n");
	return 2;
}
