/* fcgi_out.h -- non-blocking FastCGI output for the responses aif-api keeps open (SSE
 * streams): the bytes of a response are framed as FCGI_STDOUT records (FastCGI 1.0,
 * section 5.3) into a per-request queue (ipc/outq.h) and written when the socket takes
 * them, so a client that stops reading stalls only its own queue. The queue is bounded;
 * a request whose client does not read within the bound is dropped by its owner.
 * libfcgi's own (blocking) output is not used for such a request once this takes it
 * over. One thread uses one fcgi_out. */
#ifndef AIF_FCGI_OUT_H
#define AIF_FCGI_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <fcgiapp.h>

#include "outq.h"

struct fcgi_out {
	int		 fd;		/* the FastCGI connection, non-blocking; -1 closed */
	int		 request_id;
	struct aif_outq	 q;		/* records not written yet */
	int64_t		 blocked_since;	/* ms of the last progress while bytes wait; 0: none */
	int		 ended;		/* FCGI_END_REQUEST queued */
};

/* Takes over the output of request r (its socket becomes non-blocking) with at most
 * `max` bytes waiting. Returns 0, or -1 when r has no connection (nothing changed). */
int	fcgi_out_init(struct fcgi_out *o, FCGX_Request *r, size_t max);

/* Queues the n pieces of iov, in order, as the next bytes of the response (one
 * FCGI_STDOUT record per 65535 bytes, built in the queue: nothing else is copied) and
 * writes what the socket takes. Returns 0, or -1 when the queue would pass its bound
 * or the connection failed (the caller drops the request). */
int	fcgi_out_writev(struct fcgi_out *o, const struct iovec *iov, int n);

/* fcgi_out_writev of one piece. */
int	fcgi_out_write(struct fcgi_out *o, const void *p, size_t n);

/* Queues the end of the response (an empty FCGI_STDOUT and FCGI_END_REQUEST) and
 * writes what the socket takes. Returns as fcgi_out_write. */
int	fcgi_out_end(struct fcgi_out *o);

/* Writes what the socket takes now. Returns 1 when nothing waits, 0 when bytes still
 * wait (poll the fd for POLLOUT), -1 on a failed connection. */
int	fcgi_out_flush(struct fcgi_out *o);

/* The bytes waiting (0: none). */
size_t	fcgi_out_pending(const struct fcgi_out *o);

/* Frees the queue, closes the connection (without libfcgi's lingering close, which
 * waits for the peer) and releases r's libfcgi buffers. r itself is the caller's. */
void	fcgi_out_close(struct fcgi_out *o, FCGX_Request *r);

#endif
