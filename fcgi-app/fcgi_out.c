/* fcgi_out.c -- non-blocking FastCGI output; see fcgi_out.h. Records are libfcgi's
 * <fastcgi.h> layout: FCGI_Header (FastCGI 1.0, section 3.3), and FCGI_EndRequestBody
 * (section 5.5) after the last one. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fastcgi.h>

#include "fcgi_out.h"
#include "util.h"

int
fcgi_out_init(struct fcgi_out *o, FCGX_Request *r, size_t max)
{
	int fl;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	aif_outq_init(&o->q, max);
	if (r == NULL || r->ipcFd < 0)
		return -1;
	o->fd = r->ipcFd;
	o->request_id = r->requestId;
	if ((fl = fcntl(o->fd, F_GETFL)) >= 0)
		(void)fcntl(o->fd, F_SETFL, fl | O_NONBLOCK);
	return 0;
}

/* The header of a record of `type` with len bytes of content, at p. */
static void
put_header(unsigned char *p, int type, int id, size_t len)
{
	FCGI_Header h = {
		.version = FCGI_VERSION_1,
		.type = (unsigned char)type,
		.requestIdB1 = (unsigned char)((id >> 8) & 0xff),
		.requestIdB0 = (unsigned char)(id & 0xff),
		.contentLengthB1 = (unsigned char)((len >> 8) & 0xff),
		.contentLengthB0 = (unsigned char)(len & 0xff),
	};

	memcpy(p, &h, FCGI_HEADER_LEN);
}

int
fcgi_out_writev(struct fcgi_out *o, const struct iovec *iov, int n)
{
	size_t total = 0, at = 0, records;
	unsigned char *p;
	int i = 0;

	if (o->fd < 0 || o->ended)
		return -1;
	for (int k = 0; k < n; k++)
		total += iov[k].iov_len;
	if (total == 0)
		return fcgi_out_flush(o) < 0 ? -1 : 0;
	records = (total + FCGI_MAX_LENGTH - 1) / FCGI_MAX_LENGTH;
	if ((p = aif_outq_append(&o->q, total + records * FCGI_HEADER_LEN)) == NULL)
		return -1;
	while (total > 0) {
		size_t k = total < FCGI_MAX_LENGTH ? total : FCGI_MAX_LENGTH;
		put_header(p, FCGI_STDOUT, o->request_id, k);
		p += FCGI_HEADER_LEN;
		total -= k;
		while (k > 0) {		/* k bytes of the pieces, from piece i at `at` */
			size_t take = iov[i].iov_len - at < k ? iov[i].iov_len - at : k;
			if (take > 0)
				memcpy(p, (const unsigned char *)iov[i].iov_base + at, take);
			p += take;
			k -= take;
			if ((at += take) == iov[i].iov_len) {
				i++;
				at = 0;
			}
		}
	}
	return fcgi_out_flush(o) < 0 ? -1 : 0;
}

int
fcgi_out_write(struct fcgi_out *o, const void *p, size_t n)
{
	struct iovec v = { .iov_base = (void *)(uintptr_t)p, .iov_len = n };

	return fcgi_out_writev(o, &v, 1);
}

int
fcgi_out_end(struct fcgi_out *o)
{
	/* appStatus 0, FCGI_REQUEST_COMPLETE */
	FCGI_EndRequestBody end = { .protocolStatus = FCGI_REQUEST_COMPLETE };
	const size_t n = 2 * FCGI_HEADER_LEN + sizeof(end);
	unsigned char *p;

	if (o->fd < 0 || o->ended)
		return -1;
	/* the end records are few bytes: allowed past the bound */
	o->q.max += n;
	if ((p = aif_outq_append(&o->q, n)) == NULL)
		return -1;
	put_header(p, FCGI_STDOUT, o->request_id, 0);
	put_header(p + FCGI_HEADER_LEN, FCGI_END_REQUEST, o->request_id, sizeof(end));
	memcpy(p + 2 * FCGI_HEADER_LEN, &end, sizeof(end));
	o->ended = 1;
	return fcgi_out_flush(o) < 0 ? -1 : 0;
}

int
fcgi_out_flush(struct fcgi_out *o)
{
	int rc;

	size_t before;

	if (o->fd < 0)
		return -1;
	before = aif_outq_pending(&o->q);
	/* the stall clock runs from the last byte the client took, not from when bytes
	   first waited: a client that reads slowly but steadily is never "stalled" */
	if ((rc = aif_outq_flush(&o->q, o->fd)) == 0 &&
	    (o->blocked_since == 0 || aif_outq_pending(&o->q) < before))
		o->blocked_since = aif_now_ms();
	else if (rc == 1)
		o->blocked_since = 0;
	return rc;
}

size_t
fcgi_out_pending(const struct fcgi_out *o)
{
	return o->fd >= 0 ? aif_outq_pending(&o->q) : 0;
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
	aif_outq_free(&o->q);
	memset(o, 0, sizeof(*o));
	o->fd = -1;
}
