/* fcgi_out.c -- non-blocking FastCGI output; see fcgi_out.h. Record layout: FastCGI
 * 1.0, section 3.3 (version, type, request id, content length, padding length,
 * reserved) and 5.5 (FCGI_END_REQUEST body: app status, protocol status). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fcgi_out.h"
#include "util.h"

#define FCGI_VERSION_1		1
#define FCGI_END_REQUEST	3
#define FCGI_STDOUT		6
#define FCGI_REQUEST_COMPLETE	0
#define RECORD_HEADER		8
#define RECORD_MAX		65535

int
fcgi_out_init(struct fcgi_out *o, FCGX_Request *r, size_t max)
{
	int fl;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (r == NULL || r->ipcFd < 0)
		return -1;
	o->fd = r->ipcFd;
	o->request_id = r->requestId;
	o->max = max;
	if ((fl = fcntl(o->fd, F_GETFL)) >= 0)
		(void)fcntl(o->fd, F_SETFL, fl | O_NONBLOCK);
	return 0;
}

/* Makes room for n more bytes within the bound. */
static int
room(struct fcgi_out *o, size_t n)
{
	size_t waiting = o->len - o->off, cap;
	unsigned char *p;

	if (waiting + n > o->max)
		return -1;
	if (o->off > 0 && o->len + n > o->cap) {	/* slide what waits to the front */
		memmove(o->buf, o->buf + o->off, waiting);
		o->len = waiting;
		o->off = 0;
	}
	if (o->len + n <= o->cap)
		return 0;
	cap = o->cap ? o->cap : 4096;
	while (cap < o->len + n)
		cap *= 2;
	if ((p = realloc(o->buf, cap)) == NULL)
		return -1;
	o->buf = p;
	o->cap = cap;
	return 0;
}

static void
put_header(unsigned char *h, int type, int id, size_t len)
{
	h[0] = FCGI_VERSION_1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)((id >> 8) & 0xff);
	h[3] = (unsigned char)(id & 0xff);
	h[4] = (unsigned char)((len >> 8) & 0xff);
	h[5] = (unsigned char)(len & 0xff);
	h[6] = 0;	/* no padding */
	h[7] = 0;
}

int
fcgi_out_write(struct fcgi_out *o, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t records = (n + RECORD_MAX - 1) / RECORD_MAX;

	if (o->fd < 0 || o->ended)
		return -1;
	if (n == 0)
		return fcgi_out_flush(o) < 0 ? -1 : 0;
	if (room(o, n + records * RECORD_HEADER) != 0)
		return -1;
	while (n > 0) {
		size_t k = n < RECORD_MAX ? n : RECORD_MAX;
		put_header(o->buf + o->len, FCGI_STDOUT, o->request_id, k);
		memcpy(o->buf + o->len + RECORD_HEADER, s, k);
		o->len += RECORD_HEADER + k;
		s += k;
		n -= k;
	}
	return fcgi_out_flush(o) < 0 ? -1 : 0;
}

int
fcgi_out_end(struct fcgi_out *o)
{
	unsigned char *e;

	if (o->fd < 0 || o->ended)
		return -1;
	/* the end records are few bytes: allowed past the bound */
	o->max += 2 * RECORD_HEADER + 8;
	if (room(o, 2 * RECORD_HEADER + 8) != 0)
		return -1;
	put_header(o->buf + o->len, FCGI_STDOUT, o->request_id, 0);
	e = o->buf + o->len + RECORD_HEADER;
	put_header(e, FCGI_END_REQUEST, o->request_id, 8);
	memset(e + RECORD_HEADER, 0, 8);	/* appStatus 0, FCGI_REQUEST_COMPLETE */
	e[RECORD_HEADER + 4] = FCGI_REQUEST_COMPLETE;
	o->len += 2 * RECORD_HEADER + 8;
	o->ended = 1;
	return fcgi_out_flush(o) < 0 ? -1 : 0;
}

int
fcgi_out_flush(struct fcgi_out *o)
{
	if (o->fd < 0)
		return -1;
	while (o->off < o->len) {
		ssize_t k = send(o->fd, o->buf + o->off, o->len - o->off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (o->blocked_since == 0)
					o->blocked_since = aif_now_ms();
				return 0;
			}
			return -1;
		}
		o->off += (size_t)k;
	}
	o->off = o->len = 0;
	o->blocked_since = 0;
	return 1;
}

int
fcgi_out_pending(const struct fcgi_out *o)
{
	return o->fd >= 0 && o->off < o->len;
}

void
fcgi_out_close(struct fcgi_out *o, FCGX_Request *r)
{
	if (r != NULL) {
		r->ipcFd = -1;		/* closed here, not by libfcgi */
		FCGX_Free(r, 0);
	}
	if (o->fd >= 0)
		close(o->fd);
	free(o->buf);
	memset(o, 0, sizeof(*o));
	o->fd = -1;
}
