/* unix_addr.c -- the address of a Unix socket by path; see unix_addr.h. */
#include <string.h>
#include <sys/socket.h>

#include "unix_addr.h"

int
aif_unix_addr(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(sa->sun_path))
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}
