/* doorbell.c -- Unix datagram doorbells; see doorbell.h. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "doorbell.h"
#include "unix_addr.h"

/* Binds the datagram socket (aif_unix_bind) with room for bursts of bells. */
static enum aif_err
bind_bell(const char *path, int *fd, struct aif_unix_file *file)
{
	int rcvbuf = 1 << 20;
	enum aif_err err = aif_unix_bind(path, SOCK_DGRAM, 0, fd, file);

	if (err == AIF_OK)
		(void)setsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	return err;
}

enum aif_err
aif_doorbell_bind(const char *path, int *fd)
{
	return bind_bell(path, fd, NULL);
}

int
aif_doorbell_sender(void)
{
	return socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

int
aif_doorbell_ring(int sender_fd, const char *path, const void *msg, size_t len)
{
	return aif_doorbell_ring_patient(sender_fd, path, msg, len, 0);
}

int
aif_doorbell_ring_patient(int sender_fd, const char *path, const void *msg, size_t len,
    int max_wait_ms)
{
	struct sockaddr_un sa;
	struct timespec ms = { 0, 1000000 };

	if (sender_fd < 0 || path == NULL || aif_unix_addr(&sa, path) != 0)
		return -1;
	for (int i = 0; ; i++) {
		if (sendto(sender_fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL,
		    (struct sockaddr *)&sa, sizeof(sa)) >= 0)
			return 0;
		if ((errno != EAGAIN && errno != EWOULDBLOCK) || i >= max_wait_ms)
			return -1;
		nanosleep(&ms, NULL);
	}
}

ssize_t
aif_doorbell_recv(int fd, char *buf, size_t cap)
{
	ssize_t n;

	if (cap == 0)
		return -1;
	n = recv(fd, buf, cap - 1, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		return -1;
	}
	buf[n] = '\0';
	return n;
}

void
aif_doorbell_close(int fd, const char *path)
{
	if (fd >= 0)
		close(fd);
	if (path != NULL)
		(void)unlink(path);
}

enum aif_err
aif_doorbell_bind_owned(const char *path, int *fd, struct aif_doorbell_file *file)
{
	return bind_bell(path, fd, &file->sock);
}

void
aif_doorbell_close_owned(int fd, const char *path, const struct aif_doorbell_file *file)
{
	if (fd >= 0)
		close(fd);
	aif_unix_unlink_owned(path, &file->sock);
}
