/* relay.h (workers) -- a worker's outgoing relay connections, one per aif-api process
 * that waits for a streamed job (frames: core/protocol/relay_proto.h; sockets and
 * buffering: core/ipc/relay_io.h, shared with aif-api). A connection that fails is
 * closed and its streams continue without a relay (the job row stays the truth). */
#ifndef AIF_WORKER_RELAY_H
#define AIF_WORKER_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "doorbell.h"
#include "relay_io.h"

struct relay_conn {
	char			 path[AIF_DOORBELL_PATH_MAX];
	struct aif_relay_conn	 io;
	struct relay_conn	*next;
};

struct relay_set {
	struct relay_conn *conns;
};

/* Returns the connection to the aif-api whose doorbell is `reply_to`, connecting if
 * needed, or NULL when it cannot be reached. The result is borrowed from the set. */
struct relay_conn *relay_get(struct relay_set *set, const char *reply_to);

/* Queues one frame of `attempt` of `job`, tagged with the attempt's key; -1 when the
 * connection is (or gets) closed. */
int	relay_send(struct relay_conn *c, uint64_t job, uint32_t type, uint32_t attempt,
	    const unsigned char key[AIF_RELAY_KEY_LEN], const void *payload, size_t len);

/* relay_send without the write (aif_relay_queue): frames queued together go out in
 * one write at relay_flush_all. */
int	relay_queue(struct relay_conn *c, uint64_t job, uint32_t type, uint32_t attempt,
	    const unsigned char key[AIF_RELAY_KEY_LEN], const void *payload, size_t len);

/* Writes what each connection has queued (what the socket does not take now goes at
 * the poll loop's POLLOUT). */
void	relay_flush_all(struct relay_set *set);

/* Closes every connection and frees the set's memory. */
void	relay_close_all(struct relay_set *set);

#endif
