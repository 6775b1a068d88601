/* outq.c -- a bounded output queue for a non-blocking socket; see outq.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "outq.h"

#define OUTQ_MIN_CAP	4096

void
aif_outq_init(struct aif_outq *q, size_t max)
{
	memset(q, 0, sizeof(*q));
	q->max = max;
}

unsigned char *
aif_outq_append(struct aif_outq *q, size_t n)
{
	size_t waiting = q->len - q->off, cap;
	unsigned char *p;

	if (n > q->max || waiting > q->max - n)
		return NULL;
	if (q->off > 0 && q->len + n > q->cap) {	/* slide what waits to the front */
		memmove(q->buf, q->buf + q->off, waiting);
		q->len = waiting;
		q->off = 0;
	}
	if (q->len + n > q->cap) {
		cap = q->cap ? q->cap : OUTQ_MIN_CAP;
		while (cap < q->len + n)
			cap *= 2;
		if ((p = realloc(q->buf, cap)) == NULL)
			return NULL;
		q->buf = p;
		q->cap = cap;
	}
	p = q->buf + q->len;
	q->len += n;
	return p;
}

int
aif_outq_flush(struct aif_outq *q, int fd)
{
	while (q->off < q->len) {
		ssize_t k = send(fd, q->buf + q->off, q->len - q->off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		q->off += (size_t)k;
	}
	q->off = q->len = 0;
	return 1;
}

size_t
aif_outq_pending(const struct aif_outq *q)
{
	return q->len - q->off;
}

void
aif_outq_free(struct aif_outq *q)
{
	free(q->buf);
	aif_outq_init(q, q->max);
}
