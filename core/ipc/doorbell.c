/* doorbell.c -- doorbells: Unix datagram sockets on one host, sealed UDP datagrams
 * between hosts (netbell.c); see doorbell.h. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "doorbell.h"
#include "netbell.h"
#include "unix_addr.h"

/* Binds the datagram socket (aif_unix_bind) with room for bursts of bells, and with
 * the sender's credentials on every datagram (aif_doorbell_recv_local). */
static enum aif_err
bind_bell(const char *path, int *fd, struct aif_unix_file *file)
{
	int rcvbuf = 1 << 20, one = 1;
	enum aif_err err = aif_unix_bind(path, SOCK_DGRAM, 0, fd, file);

	if (err == AIF_OK) {
		(void)setsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		(void)setsockopt(*fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	}
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

	if (path != NULL && aif_netbell_is_net(path))
		return aif_netbell_ring(path, msg, len);	/* sealed, never waits */
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

#define REFUSED_TURN	32

ssize_t
aif_doorbell_recv(int fd, char *buf, size_t cap)
{
	unsigned char raw[AIF_DOORBELL_MSG_MAX + AIF_NETBELL_OVERHEAD];
	struct sockaddr_storage from, self;
	socklen_t fl, sl = sizeof(self);
	char to[AIF_NETBELL_ADDR_MAX] = "", peer[AIF_NETBELL_ADDR_MAX];
	ssize_t n;

	if (cap == 0)
		return -1;
	/* a flood of refused datagrams costs the caller at most REFUSED_TURN of them a
	 * call: its loop (heartbeats, claims) goes on */
	for (int refusals = 0; refusals < REFUSED_TURN;) {
		fl = sizeof(from);
		n = recvfrom(fd, raw, sizeof(raw), MSG_DONTWAIT, (struct sockaddr *)&from,
		    &fl);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			return -1;
		}
		if (fl >= sizeof(sa_family_t) &&
		    (from.ss_family == AF_INET || from.ss_family == AF_INET6)) {
			/* from another host: only a fresh one sealed for this socket */
			if (to[0] == '\0' && (getsockname(fd, (struct sockaddr *)&self,
			    &sl) != 0 || aif_netbell_hostport(&self, to, sizeof(to)) != 0))
				return -1;
			if ((n = aif_netbell_open(raw, (size_t)n, to, buf, cap)) >= 0)
				return n;
			if (aif_netbell_hostport(&from, peer, sizeof(peer)) == 0)
				aif_netbell_log_refusal("doorbell datagram", peer);
			refusals++;
			continue;
		}
		if ((size_t)n > cap - 1)
			n = (ssize_t)(cap - 1);
		memcpy(buf, raw, (size_t)n);
		buf[n] = '\0';
		return n;
	}
	return 0;
}

ssize_t
aif_doorbell_recv_local(int fd, char *buf, size_t cap, int *own)
{
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap > 0 ? cap - 1 : 0 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
	    .msg_controllen = sizeof(ctl.b) };
	ssize_t n;

	*own = 0;
	if (cap == 0)
		return -1;
	if ((n = recvmsg(fd, &m, MSG_DONTWAIT)) < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	buf[n] = '\0';
	if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return n;	/* cut short: only its first line counts */
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h != NULL; h = CMSG_NXTHDR(&m, h)) {
		struct ucred u;
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_CREDENTIALS ||
		    h->cmsg_len != CMSG_LEN(sizeof(u)))
			continue;
		memcpy(&u, CMSG_DATA(h), sizeof(u));
		*own = u.uid == geteuid();
	}
	return n;
}

enum aif_err
aif_doorbell_open(const char *host, const char *unix_path, char *addr, size_t cap,
    int *fd, int *relay_fd, struct aif_doorbell_file *file)
{
	size_t n;

	memset(file, 0, sizeof(*file));
	if (relay_fd != NULL)
		*relay_fd = -1;
	if (host != NULL)
		return aif_netbell_bind(host, addr, cap, fd, relay_fd);
	if ((n = strlen(unix_path)) >= cap) {
		*fd = -1;
		return AIF_TOOBIG;
	}
	memcpy(addr, unix_path, n + 1);
	return bind_bell(addr, fd, &file->sock);
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
