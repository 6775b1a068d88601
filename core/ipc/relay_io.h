/* relay_io.h -- the socket side of the stream relay (frames: protocol/relay_proto.h):
 * aif-api listens on a Unix stream socket beside its doorbell (aif_unix_bind,
 * unix_addr.h), workers connect to it; both ends use the same non-blocking, buffered,
 * framed connection. Bounded: frames over AIF_RELAY_PAYLOAD_MAX close the connection,
 * and so does an outgoing buffer over its cap (the stream goes on without a relay: the
 * job row stays the truth). One connection is used by one thread. */
#ifndef AIF_RELAY_IO_H
#define AIF_RELAY_IO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "outq.h"
#include "relay_proto.h"

#define AIF_RELAY_OUT_MAX	(64u << 20)	/* bytes a sender may have queued */

struct aif_relay_conn {
	int		 fd;		/* -1 when closed */
	unsigned char	*in;		/* bytes of frames not complete yet */
	size_t		 in_len, in_cap;
	struct aif_outq	 out;		/* frames not written yet */
	size_t		 out_len;	/* bytes of them (aif_relay_pending), kept for
					   callers that read the field */
	int		 need_hello;	/* accepted over TCP: the first frame must be a
					   sealed HELLO, or the connection closes */
	int64_t		 hello_by_ms;	/* aif_now_ms() it must have come by */
	char		 hello_to[64];	/* this end's "<ip>:<port>": what the HELLO
					   must be sealed for (netbell.h) */
};

#define AIF_RELAY_HELLO_MS	2000	/* an unproven TCP connection may be closed
					   after this to free its place */

/* One received frame: its header (job, type, length, attempt, tag) and payload
 * (borrowed until the callback returns). The receiver checks the tag with the key it
 * holds for the job (aif_relay_verify). */
struct aif_relay_frame {
	struct aif_relay_header	 h;
	const char		*payload;
};

/* Called per complete frame. */
typedef void	(*aif_relay_frame_fn)(void *arg, const struct aif_relay_frame *f);

/* A zeroed, closed connection. */
void		aif_relay_init(struct aif_relay_conn *c);

/* Accepts one connection on a listening socket into c. AIF_OK; AIF_UNAVAILABLE when
 * none is waiting; AIF_FORBIDDEN (closed) when the peer of a Unix socket runs as
 * another user. A TCP connection (between hosts) must prove itself with a sealed
 * HELLO first (need_hello). */
enum aif_err	aif_relay_accept(int listen_fd, struct aif_relay_conn *c);

/* Connects c (non-blocking) to the relay at path: a Unix socket, or "tcp:<host>:<port>"
 * (then a sealed HELLO is queued first; AIF_IO without the cluster secret);
 * AIF_FORBIDDEN (closed) when the process listening on a Unix socket runs as another
 * user. */
enum aif_err	aif_relay_connect(struct aif_relay_conn *c, const char *path);

/* Queues one frame of `attempt` of `job`, tagged with the attempt's key, and writes
 * what the socket takes now. -1 (and c closed) when the connection is closed, the
 * payload is too large or the buffer would pass AIF_RELAY_OUT_MAX. */
int		aif_relay_send(struct aif_relay_conn *c, uint64_t job, uint32_t type,
		    uint32_t attempt, const unsigned char key[AIF_RELAY_KEY_LEN],
		    const void *payload, size_t len);

/* aif_relay_send without the write: frames queued together go out in one write at the
 * next aif_relay_flush (the caller's, or its poll loop's on POLLOUT). */
int		aif_relay_queue(struct aif_relay_conn *c, uint64_t job, uint32_t type,
		    uint32_t attempt, const unsigned char key[AIF_RELAY_KEY_LEN],
		    const void *payload, size_t len);

/* Writes what it can of the queued frames without blocking; -1 (closed) on error. */
int		aif_relay_flush(struct aif_relay_conn *c);

/* The bytes of queued frames not written yet (poll for POLLOUT while not 0). */
size_t		aif_relay_pending(const struct aif_relay_conn *c);

/* Reads what is there without blocking (up to about 1 MiB per call: poll again for
 * the rest) and calls fn per complete frame. Returns 0, or
 * -1 when the peer closed, on error, or for a frame over AIF_RELAY_PAYLOAD_MAX (c is
 * closed then). */
int		aif_relay_recv(struct aif_relay_conn *c, aif_relay_frame_fn fn, void *arg);

/* Closes the socket and frees the buffers; c can be connected again. */
void		aif_relay_close(struct aif_relay_conn *c);

#endif
