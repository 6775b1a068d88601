/* parked.h -- the one table of parked requests of aif-api: sync waiters (answered by
 * the completer) and streams (answered by the stream thread), found by job id in O(1)
 * for every bell and every relayed chunk. A parked request costs its FCGX_Request and
 * one entry, not a thread. Beside them, bounded "early" notes keep what arrived for a
 * job before its request was parked (it finished; frames of its stream), so nothing is
 * lost to that race. Thread-safe: one mutex. */
#ifndef AIF_PARKED_H
#define AIF_PARKED_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "fcgi_out.h"
#include "relay_proto.h"

#define PARKED_EARLY_MAX	4096		/* jobs with early notes */
#define PARKED_EARLY_BYTES	(32u << 20)	/* bytes of early frames */
#define PARKED_EARLY_TTL_MS	5000

/* One parked request. */
struct parked {
	uint64_t	 id;		/* the job's jobs.id */
	int		 stream;	/* 0: sync waiter, 1: stream */
	struct reply	 reply;
	int64_t		 deadline_ms;	/* sync: for the answer; stream: for the first byte */
	int64_t		 seen_ms;	/* parked, or last looked at by a slow poll */
	/* streams only */
	enum aif_kind	 kind;
	int		 include_usage;
	int		 headers_sent;
	int		 chunks;	/* relayed so far */
	int		 conn;		/* the relay connection that sends, -1 */
	int		 has_secret;	/* relay_secret is the job's (frames can be checked) */
	unsigned char	 relay_secret[AIF_RELAY_SECRET_BYTES];
	uint32_t	 attempt;	/* of the last BEGIN, 0 before one */
	uint32_t	 key_attempt;	/* the attempt `key` belongs to, 0: none yet */
	unsigned char	 key[AIF_RELAY_KEY_LEN];
	struct fcgi_out	 out;		/* the client's connection, written without
					   blocking (fcgi_out.h) */
	int		 blocked;	/* on the stream thread's list of waiting output */
	int		 paused;	/* PAUSE sent to the worker (flow control) */
	/* sync only: a zero-retention answer arriving over the relay */
	char		*result;
	size_t		 result_len;
	struct parked	*next;		/* hash chain */
};

/* A frame that came before its stream was parked (checked when it is). */
struct early_frame {
	struct aif_relay_header	 h;
	struct early_frame	*next;
	char			 payload[];	/* h.len bytes + NUL */
};

/* Inserts p (ownership moves to the table) unless `max` requests of its kind are
 * parked already (-1; the caller keeps p). Takes out the job's early notes: *finished
 * = 1 when a bell said it finished, *frames the frames that came for it (new; free with
 * parked_frames_free), either may be NULL when not wanted. */
int		 parked_put(struct parked_table *t, struct parked *p, size_t max,
		    int *finished, struct early_frame **frames);

/* Takes out a parked request of job id and kind (0 sync, 1 stream), or NULL. */
struct parked	*parked_take(struct parked_table *t, uint64_t id, int stream);

/* A bell said job id finished: takes out its parked sync request, or, when none is
 * parked, notes that it finished -- in one locked step, so a request parked at the same
 * moment sees either the note or is taken (no wakeup is lost between the two). */
struct parked	*parked_take_or_finished(struct parked_table *t, uint64_t id);

/* Puts back a request taken out before (no limit applies). */
void		 parked_return(struct parked_table *t, struct parked *p);

/* Takes out up to cap requests of a kind for which pred(p, arg) is 1. */
size_t		 parked_take_if(struct parked_table *t, int stream,
		    int (*pred)(const struct parked *, void *), void *arg,
		    struct parked **out, size_t cap);

/* The ids of up to cap requests of a kind last seen at or before `older_than`; marks
 * them seen at `now` (a slow poll looks at each once per interval). */
size_t		 parked_due(struct parked_table *t, int stream, int64_t older_than,
		    int64_t now, uint64_t *ids, size_t cap);

/* How many requests of a kind are parked. */
size_t		 parked_count(struct parked_table *t, int stream);

/* Early notes: job id finished (a bell for nobody parked), or a frame of its stream
 * came (copied; dropped when the notes are over their bounds). */
void		 parked_early_finished(struct parked_table *t, uint64_t id);
void		 parked_early_frame(struct parked_table *t, const struct aif_relay_header *h,
		    const char *payload);

/* Forgets notes older than PARKED_EARLY_TTL_MS. */
void		 parked_early_expire(struct parked_table *t, int64_t now);

void		 parked_frames_free(struct early_frame *f);

/* Frees a sync request's entry taken out of the table (its reply already sent). */
void		 parked_free(struct parked *p);

#endif
