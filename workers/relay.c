/* relay.c (workers) -- relay connections to aif-api processes; see relay.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "relay.h"
#include "relay_proto.h"

static void
conn_close(struct relay_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->out_len = 0;
	c->in_len = 0;
}

static int
conn_open(struct relay_conn *c)
{
	struct sockaddr_un sa;
	size_t n = strlen(c->path);
	int fd;

	if (n >= sizeof(sa.sun_path))
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, c->path, n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS &&
	    errno != EAGAIN) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	return 0;
}

struct relay_conn *
relay_get(struct relay_set *set, const char *reply_to)
{
	char path[108];
	struct relay_conn *c;

	if (reply_to == NULL || *reply_to == '\0' ||
	    aif_relay_path(reply_to, path, sizeof(path)) != 0)
		return NULL;
	for (c = set->conns; c != NULL; c = c->next)
		if (strcmp(c->path, path) == 0)
			break;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return NULL;
		memcpy(c->path, path, strlen(path) + 1);
		c->fd = -1;
		c->next = set->conns;
		set->conns = c;
	}
	if (c->fd < 0 && conn_open(c) != 0) {
		aif_warn("msg=\"cannot reach the relay of a waiting aif-api\" path=%s", c->path);
		return NULL;
	}
	return c;
}

int
relay_send(struct relay_conn *c, uint64_t job, uint32_t type, const void *payload,
    size_t len)
{
	size_t need;

	if (c == NULL || c->fd < 0 || len > AIF_RELAY_PAYLOAD_MAX)
		return -1;
	need = c->out_len + AIF_RELAY_HEADER + len;
	if (need > RELAY_OUT_MAX) {
		aif_warn("msg=\"relay buffer full; closing the relay\" path=%s", c->path);
		conn_close(c);
		return -1;
	}
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 65536;
		unsigned char *p;
		while (cap < need)
			cap *= 2;
		if ((p = realloc(c->out, cap)) == NULL) {
			conn_close(c);
			return -1;
		}
		c->out = p;
		c->out_cap = cap;
	}
	aif_relay_put_header(c->out + c->out_len, job, type, (uint32_t)len);
	if (len > 0)
		memcpy(c->out + c->out_len + AIF_RELAY_HEADER, payload, len);
	c->out_len = need;
	return relay_flush(c);
}

int
relay_flush(struct relay_conn *c)
{
	size_t off = 0;

	if (c->fd < 0)
		return -1;
	while (off < c->out_len) {
		ssize_t n = send(c->fd, c->out + off, c->out_len - off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			aif_warn("msg=\"relay write failed; closing\" path=%s", c->path);
			conn_close(c);
			return -1;
		}
		off += (size_t)n;
	}
	if (off > 0) {
		memmove(c->out, c->out + off, c->out_len - off);
		c->out_len -= off;
	}
	return 0;
}

int
relay_read(struct relay_conn *c, void (*on_cancel)(void *, uint64_t), void *arg)
{
	for (;;) {
		ssize_t n;

		if (c->fd < 0)
			return -1;
		n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
		if (n == 0) {
			conn_close(c);
			return -1;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			conn_close(c);
			return -1;
		}
		c->in_len += (size_t)n;
		while (c->in_len >= AIF_RELAY_HEADER) {
			uint64_t job;
			uint32_t type, len;
			aif_relay_get_header(c->in, &job, &type, &len);
			if (len > sizeof(c->in) - AIF_RELAY_HEADER) {
				conn_close(c);
				return -1;
			}
			if (c->in_len < AIF_RELAY_HEADER + len)
				break;
			if (type == AIF_RELAY_CANCEL && on_cancel != NULL)
				on_cancel(arg, job);
			memmove(c->in, c->in + AIF_RELAY_HEADER + len,
			    c->in_len - AIF_RELAY_HEADER - len);
			c->in_len -= AIF_RELAY_HEADER + len;
		}
	}
}

void
relay_close_all(struct relay_set *set)
{
	struct relay_conn *c = set->conns, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		conn_close(c);
		free(c->out);
		free(c);
	}
	set->conns = NULL;
}
