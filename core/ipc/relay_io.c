/* relay_io.c -- framed, buffered relay connections; see relay_io.h. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "netbell.h"
#include "relay_io.h"
#include "relay_proto.h"
#include "unix_addr.h"
#include "util.h"

#define IN_CHUNK	65536
#define RECV_TURN_MAX	(1u << 20)	/* bytes read per call: one busy sender
					   does not keep its reader from the rest */

void
aif_relay_init(struct aif_relay_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	aif_outq_init(&c->out, AIF_RELAY_OUT_MAX);
}

/* 1 when the peer of a connected Unix socket runs as this process's user (the
 * service's): the relays are between the gateway's own processes. */
static int
peer_is_us(int fd)
{
	struct ucred cr;
	socklen_t n = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &n) != 0 || n != sizeof(cr))
		return 0;
	return cr.uid == geteuid();
}

enum aif_err
aif_relay_accept(int listen_fd, struct aif_relay_conn *c)
{
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	int fd = accept4(listen_fd, (struct sockaddr *)&sa, &salen,
	    SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;

	if (fd < 0)
		return AIF_UNAVAILABLE;
	aif_relay_init(c);
	if (sa.ss_family == AF_INET || sa.ss_family == AF_INET6) {
		salen = sizeof(sa);
		if (getsockname(fd, (struct sockaddr *)&sa, &salen) != 0 ||
		    aif_netbell_hostport(&sa, c->hello_to, sizeof(c->hello_to)) != 0) {
			close(fd);
			return AIF_UNAVAILABLE;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->need_hello = 1;
		c->hello_by_ms = aif_now_ms() + AIF_RELAY_HELLO_MS;
	} else if (!peer_is_us(fd)) {
		close(fd);
		return AIF_FORBIDDEN;
	}
	c->fd = fd;
	return AIF_OK;
}

/* A fresh connection's buffers. */
static void
reset(struct aif_relay_conn *c, int fd)
{
	c->fd = fd;
	c->in_len = 0;
	aif_outq_free(&c->out);
	c->out_len = 0;
	c->need_hello = 0;
}

/* Connects to "tcp:<host>:<port>" without waiting and queues the sealed HELLO. */
static enum aif_err
connect_tcp(struct aif_relay_conn *c, const char *addr)
{
	struct aif_relay_header h = { .job = 0, .type = AIF_RELAY_HELLO };
	struct sockaddr_storage sa;
	socklen_t salen;
	unsigned char sealed[sizeof(AIF_NETBELL_HELLO) + AIF_NETBELL_OVERHEAD], *p;
	char to[AIF_NETBELL_ADDR_MAX];
	size_t n;
	int fd, one = 1;

	/* sealed for this listener only: replayed to another aif-api it opens nowhere */
	if (aif_netbell_sockaddr(addr, &sa, &salen) != 0 ||
	    aif_netbell_hostport(&sa, to, sizeof(to)) != 0 ||
	    (n = aif_netbell_seal(AIF_NETBELL_HELLO, sizeof(AIF_NETBELL_HELLO) - 1, to,
	    sealed, sizeof(sealed))) == 0)
		return AIF_IO;
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return AIF_IO;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, salen) != 0 && errno != EINPROGRESS) {
		close(fd);
		return AIF_IO;
	}
	reset(c, fd);
	h.len = (uint32_t)n;
	if ((p = aif_outq_append(&c->out, AIF_RELAY_HEADER + n)) == NULL) {
		aif_relay_close(c);
		return AIF_NOMEM;
	}
	aif_relay_put_header(p, &h);
	memcpy(p + AIF_RELAY_HEADER, sealed, n);
	/* written once the connection is up: the caller polls for POLLOUT meanwhile */
	return aif_relay_flush(c) == 0 ? AIF_OK : AIF_IO;
}

enum aif_err
aif_relay_connect(struct aif_relay_conn *c, const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (aif_netbell_is_net(path))
		return connect_tcp(c, path);
	if (aif_unix_addr(&sa, path) != 0)
		return AIF_TOOBIG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return AIF_IO;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		/* a Unix stream socket connects at once or not at all */
		close(fd);
		return AIF_IO;
	}
	if (!peer_is_us(fd)) {
		close(fd);
		return AIF_FORBIDDEN;
	}
	reset(c, fd);
	return AIF_OK;
}

void
aif_relay_close(struct aif_relay_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	aif_outq_free(&c->out);
	aif_relay_init(c);
}

int
aif_relay_flush(struct aif_relay_conn *c)
{
	if (c->fd < 0)
		return -1;
	if (aif_outq_flush(&c->out, c->fd) < 0) {
		aif_relay_close(c);
		return -1;
	}
	c->out_len = aif_outq_pending(&c->out);
	return 0;
}

size_t
aif_relay_pending(const struct aif_relay_conn *c)
{
	return aif_outq_pending(&c->out);
}

int
aif_relay_queue(struct aif_relay_conn *c, uint64_t job, uint32_t type, uint32_t attempt,
    const unsigned char key[AIF_RELAY_KEY_LEN], const void *payload, size_t len)
{
	struct aif_relay_header h = { .job = job, .type = type, .len = (uint32_t)len,
	    .attempt = attempt };
	unsigned char *p;

	if (c->fd < 0)
		return -1;
	if (len > AIF_RELAY_PAYLOAD_MAX ||
	    (p = aif_outq_append(&c->out, AIF_RELAY_HEADER + len)) == NULL) {
		aif_relay_close(c);
		return -1;
	}
	aif_relay_sign(key, &h, payload);
	aif_relay_put_header(p, &h);
	if (len > 0)
		memcpy(p + AIF_RELAY_HEADER, payload, len);
	c->out_len = aif_outq_pending(&c->out);
	return 0;
}

int
aif_relay_send(struct aif_relay_conn *c, uint64_t job, uint32_t type, uint32_t attempt,
    const unsigned char key[AIF_RELAY_KEY_LEN], const void *payload, size_t len)
{
	if (aif_relay_queue(c, job, type, attempt, key, payload, len) != 0)
		return -1;
	return aif_relay_flush(c);
}

/* 1 when f is the sealed HELLO a TCP connection must start with (a refusal is said in
 * the log: a wrong secret or a clock far off on a worker host). */
static int
hello_ok(const struct aif_relay_conn *c, const struct aif_relay_frame *f)
{
	char msg[sizeof(AIF_NETBELL_HELLO)];

	if (f->h.type == AIF_RELAY_HELLO && f->h.job == 0 &&
	    aif_netbell_open((const unsigned char *)f->payload, f->h.len, c->hello_to, msg,
	    sizeof(msg)) == (ssize_t)sizeof(AIF_NETBELL_HELLO) - 1 &&
	    strcmp(msg, AIF_NETBELL_HELLO) == 0)
		return 1;
	aif_netbell_log_refusal("relay connection", c->hello_to);
	return 0;
}

/* Hands every complete frame at the front of c->in to fn; -1 for an oversized one. */
static int
deliver(struct aif_relay_conn *c, aif_relay_frame_fn fn, void *arg)
{
	size_t off = 0;

	while (c->in_len - off >= AIF_RELAY_HEADER) {
		struct aif_relay_frame f;
		aif_relay_get_header(c->in + off, &f.h);
		if (f.h.len > AIF_RELAY_PAYLOAD_MAX ||
		    (c->need_hello && f.h.len > AIF_NETBELL_OVERHEAD + 64))
			return -1;
		if (c->in_len - off < AIF_RELAY_HEADER + (size_t)f.h.len)
			break;
		f.payload = (const char *)c->in + off + AIF_RELAY_HEADER;
		if (c->need_hello) {
			/* a TCP peer proves it holds the cluster secret, once */
			if (!hello_ok(c, &f))
				return -1;
			c->need_hello = 0;
		} else
			fn(arg, &f);
		off += AIF_RELAY_HEADER + (size_t)f.h.len;
		if (c->fd < 0)		/* fn closed it */
			return 0;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	return 0;
}

int
aif_relay_recv(struct aif_relay_conn *c, aif_relay_frame_fn fn, void *arg)
{
	for (size_t taken = 0; taken < RECV_TURN_MAX;) {
		ssize_t n;

		if (c->fd < 0)
			return -1;
		if (c->in_cap - c->in_len < IN_CHUNK) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 2 * IN_CHUNK;
			unsigned char *p;
			if (cap > AIF_RELAY_PAYLOAD_MAX + AIF_RELAY_HEADER + IN_CHUNK)
				cap = AIF_RELAY_PAYLOAD_MAX + AIF_RELAY_HEADER + IN_CHUNK;
			if (cap <= c->in_cap || (p = realloc(c->in, cap)) == NULL) {
				aif_relay_close(c);
				return -1;
			}
			c->in = p;
			c->in_cap = cap;
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)) {
			aif_relay_close(c);
			return -1;
		}
		if (n < 0)
			return 0;
		c->in_len += (size_t)n;
		taken += (size_t)n;
		if (deliver(c, fn, arg) != 0) {
			aif_relay_close(c);
			return -1;
		}
	}
	return 0;	/* more may wait: the caller's poll says so again */
}
