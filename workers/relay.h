/* relay.h (workers) -- a worker's outgoing relay connections, one per aif-api process
 * that waits for a streamed job (see core/protocol/relay_proto.h for the protocol). Non-blocking:
 * frames are buffered (capped) and flushed when the socket is writable; a connection
 * that fails is closed and its streams continue without a relay (the job row stays
 * the truth). */
#ifndef AIF_WORKER_RELAY_H
#define AIF_WORKER_RELAY_H

#include <stddef.h>
#include <stdint.h>

#define RELAY_OUT_MAX	(16u << 20)

struct relay_conn {
	char		 path[108];
	int		 fd;		/* -1 when closed */
	unsigned char	*out;
	size_t		 out_len;	/* bytes buffered */
	size_t		 out_cap;
	unsigned char	 in[4096];	/* partial CANCEL frames */
	size_t		 in_len;
	struct relay_conn *next;
};

struct relay_set {
	struct relay_conn *conns;
};

/* Returns the connection to the aif-api whose doorbell is `reply_to`, connecting if
 * needed, or NULL when it cannot be reached. The result is borrowed from the set. */
struct relay_conn *relay_get(struct relay_set *set, const char *reply_to);

/* Queues one frame; closes the connection (returns -1) when the buffer would overflow
 * or the connection is closed. */
int	relay_send(struct relay_conn *c, uint64_t job, uint32_t type, const void *payload,
	    size_t len);

/* Writes what it can without blocking; -1 and closes on error. */
int	relay_flush(struct relay_conn *c);

/* Reads frames from aif-api; calls on_cancel(arg, job) per CANCEL. -1 on EOF/error
 * (the connection is closed). */
int	relay_read(struct relay_conn *c, void (*on_cancel)(void *, uint64_t), void *arg);

/* Closes every connection and frees the set's memory. */
void	relay_close_all(struct relay_set *set);

#endif
