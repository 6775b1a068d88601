/* doorbell.c -- Unix datagram doorbells; see doorbell.h. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "doorbell.h"
#include "unix_addr.h"

enum aif_err
aif_doorbell_bind(const char *path, int *fd)
{
	struct sockaddr_un sa;
	int s, rcvbuf = 1 << 20;

	*fd = -1;
	if (aif_unix_addr(&sa, path) != 0)
		return AIF_TOOBIG;
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return AIF_IO;
	(void)unlink(path);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(s);
		return AIF_IO;
	}
	(void)chmod(path, 0660);
	(void)setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	*fd = s;
	return AIF_OK;
}

int
aif_doorbell_sender(void)
{
	return socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

int
aif_doorbell_ring(int sender_fd, const char *path, const void *msg, size_t len)
{
	struct sockaddr_un sa;

	if (sender_fd < 0 || path == NULL || aif_unix_addr(&sa, path) != 0)
		return -1;
	if (sendto(sender_fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return 0;
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
	struct stat st;
	enum aif_err err;

	memset(file, 0, sizeof(*file));
	if ((err = aif_doorbell_bind(path, fd)) != AIF_OK)
		return err;
	if (stat(path, &st) == 0) {
		file->dev = st.st_dev;
		file->ino = st.st_ino;
	}
	return AIF_OK;
}

void
aif_doorbell_close_owned(int fd, const char *path, const struct aif_doorbell_file *file)
{
	struct stat st;

	if (fd >= 0)
		close(fd);
	if (path != NULL && file->ino != 0 && stat(path, &st) == 0 &&
	    st.st_dev == file->dev && st.st_ino == file->ino)
		(void)unlink(path);
}
