/* testsys.h -- small fixtures of the unit tests that use the system: a private scratch
 * directory (mkdtemp(3) under /tmp, removed whole) and a TCP listener on a free
 * loopback port. Each program includes this once (static functions), after cmocka.h. */
#ifndef AIF_TESTSYS_H
#define AIF_TESTSYS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Makes a new directory /tmp/<prefix>-XXXXXX into dir (cap bytes). 0, or -1. */
static inline int
testsys_tmpdir(char *dir, size_t cap, const char *prefix)
{
	int n = snprintf(dir, cap, "/tmp/%s-XXXXXX", prefix);

	return n > 0 && (size_t)n < cap && mkdtemp(dir) != NULL ? 0 : -1;
}

/* Removes dir and everything in it. 0, or -1. */
static inline int
testsys_rmdir(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A TCP socket listening on 127.0.0.1 at a port the system picked (*port), backlog
 * `backlog`; the test fails when it cannot be had. */
static inline int
testsys_listen(int backlog, int *port)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

#endif
