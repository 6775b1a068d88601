/* spansock.c -- aif-api's span hand-off to a worker's exporter (spansock.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spansock.h"
#include "unix_addr.h"
#include "util.h"

#define EXPORTERS_MAX	64	/* sockets looked at per search */
#define RETRY_MS	1000

int
aif_spansock_path(const char *run_dir, const char *instance, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/" AIF_SPANSOCK_PREFIX "%s" AIF_SPANSOCK_SUFFIX,
	    run_dir, instance);

	return n > 0 && (size_t)n < cap ? 0 : -1;
}

enum aif_err
aif_spansock_listen(const char *path, int *fd)
{
	return aif_unix_bind(path, SOCK_SEQPACKET, 64, fd, NULL);
}

void
aif_spansock_client_init(struct aif_spansock_client *c, const char *run_dir)
{
	pthread_mutex_init(&c->mu, NULL);
	aif_strlcpy(c->run_dir, run_dir != NULL ? run_dir : "", sizeof(c->run_dir));
	c->fd = -1;
	c->retry_ms = 0;
	c->next = 0;
}

void
aif_spansock_client_close(struct aif_spansock_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	pthread_mutex_destroy(&c->mu);
}

/* 1 when name is "otel-<instance>.sock". */
static int
exporter_name(const char *name)
{
	size_t pl = strlen(AIF_SPANSOCK_PREFIX), sl = strlen(AIF_SPANSOCK_SUFFIX);
	size_t n = strlen(name), i;

	if (n <= pl + sl || strncmp(name, AIF_SPANSOCK_PREFIX, pl) != 0 ||
	    strcmp(name + n - sl, AIF_SPANSOCK_SUFFIX) != 0)
		return 0;
	for (i = pl; i < n - sl; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') || name[i] == '-' || name[i] == '_'))
			return 0;
	return 1;
}

/* Connects to the exporter socket at dir/name; the fd or -1. */
static int
dial(const char *dir, const char *name)
{
	struct sockaddr_un sa;
	char path[sizeof(sa.sun_path)];
	int fd, n = snprintf(path, sizeof(path), "%s/%s", dir, name);

	if (n <= 0 || (size_t)n >= sizeof(path) || aif_unix_addr(&sa, path) != 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Connects c to one of the exporters of its run directory, starting the search at a
 * different one each time so that aif-api processes spread over them. */
static void
connect_any(struct aif_spansock_client *c)
{
	char names[EXPORTERS_MAX][64];
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir(c->run_dir);

	if (d == NULL)
		return;
	while (n < EXPORTERS_MAX && (e = readdir(d)) != NULL)
		if (exporter_name(e->d_name) && strlen(e->d_name) < sizeof(names[0]))
			aif_strlcpy(names[n++], e->d_name, sizeof(names[0]));
	closedir(d);
	for (size_t i = 0; i < n && c->fd < 0; i++)
		c->fd = dial(c->run_dir, names[(c->next + i) % n]);
	c->next++;
}

/* One send on c's connection: 0 sent, 1 busy (EAGAIN), -1 the connection is gone
 * (closed here). */
static int
send_once(struct aif_spansock_client *c, const void *msg, size_t len)
{
	if (send(c->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return 1;
	close(c->fd);
	c->fd = -1;
	return -1;
}

int
aif_spansock_send(struct aif_spansock_client *c, const void *msg, size_t len,
    const char **why)
{
	int rc = -1;

	*why = "no_exporter";
	pthread_mutex_lock(&c->mu);
	/* a connection that broke (its worker restarted) is replaced at once, once */
	for (int tries = 0; rc < 0 && tries < 2; tries++) {
		if (c->fd < 0 && (tries > 0 || aif_now_ms() >= c->retry_ms)) {
			connect_any(c);
			if (c->fd < 0)
				c->retry_ms = aif_now_ms() + RETRY_MS;
		}
		if (c->fd < 0)
			break;
		rc = send_once(c, msg, len);
	}
	if (rc > 0) {
		*why = "busy";
		rc = -1;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}
