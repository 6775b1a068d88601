/* outq.h -- a bounded output queue for a non-blocking socket: bytes are appended at its
 * end and written from its front when the socket takes them (never waiting), so a peer
 * that reads slowly costs only its own queue. The relay connections (relay_io.h) and
 * aif-api's streamed responses (fcgi-app/fcgi_out.h) queue through it. One queue is used
 * by one thread. */
#ifndef AIF_OUTQ_H
#define AIF_OUTQ_H

#include <stddef.h>

struct aif_outq {
	unsigned char	*buf;		/* bytes not written yet: buf[off..len) */
	size_t		 off, len, cap;
	size_t		 max;		/* bytes that may wait; more is refused */
};

/* An empty queue that lets at most `max` bytes wait. */
void		 aif_outq_init(struct aif_outq *q, size_t max);

/* Room for n more bytes at the end of the queue, counted as queued: returns where the
 * caller writes them (borrowed, valid until the next call on q), or NULL when more than
 * `max` bytes would wait or memory runs out (q unchanged then). */
unsigned char	*aif_outq_append(struct aif_outq *q, size_t n);

/* Writes what socket fd takes now (MSG_DONTWAIT, no SIGPIPE). Returns 1 when nothing
 * waits any more, 0 when bytes still wait (poll fd for POLLOUT), -1 when the socket
 * failed (what waits stays queued). */
int		 aif_outq_flush(struct aif_outq *q, int fd);

/* The bytes waiting. */
size_t		 aif_outq_pending(const struct aif_outq *q);

/* Frees the buffer: the queue is empty and keeps its bound. */
void		 aif_outq_free(struct aif_outq *q);

#endif
