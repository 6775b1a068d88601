/* parked.h -- the one table of parked requests of aif-api: sync waiters (answered by
 * the completer) and streams (answered by the stream thread), found by job id in O(1)
 * for every bell and every relayed chunk. A parked request costs its FCGX_Request and
 * one entry, not a thread. Beside them, bounded "early" notes keep what arrived for a
 * job before its request was parked (it finished; frames of its relay), so nothing is
 * lost to that race. Thread-safe: one mutex.
 *
 * Ownership: an entry in the table belongs to the table; whoever takes it out owns it
 * until it puts it back. Stream entries are the stream thread's alone (only it
 * inserts, removes and frees them), so it may look at them in place (parked_find);
 * sync entries are taken out to be looked at. */
#ifndef AIF_PARKED_H
#define AIF_PARKED_H

#include <stddef.h>
#include <stdint.h>

#include "anthropic.h"
#include "api.h"
#include "fcgi_out.h"
#include "relay_proto.h"
#include "responses.h"

#define PARKED_EARLY_MAX	4096		/* jobs with early notes */
#define PARKED_EARLY_BYTES	(32u << 20)	/* bytes of early frames */
#define PARKED_EARLY_TTL_MS	5000
#define PARKED_SETTLE_MAX	256		/* jobs per look at the rows */

/* One parked request. */
struct parked {
	uint64_t	 id;		/* the job's jobs.id */
	int		 stream;	/* 0: sync waiter, 1: stream */
	struct reply	 reply;
	int64_t		 deadline_ms;	/* sync: for the answer; stream: for the first byte */
	int64_t		 seen_ms;	/* parked, or last looked at by a slow poll */
	int		 has_secret;	/* relay_secret is the job's (frames can be checked) */
	unsigned char	 relay_secret[AIF_RELAY_SECRET_BYTES];
	uint32_t	 key_attempt;	/* the attempt `key` belongs to, 0: none yet */
	unsigned char	 key[AIF_RELAY_KEY_LEN];
	/* streams only */
	enum aif_kind	 kind;
	int		 include_usage;
	int		 headers_sent;
	int		 chunks;	/* relayed so far */
	int		 conn;		/* the relay connection that sends, -1 */
	uint32_t	 conn_gen;	/* its place's generation then (streams.c) */
	uint32_t	 attempt;	/* of the last BEGIN, 0 before one */
	struct fcgi_out	 out;		/* the client's connection, written without
					   blocking (fcgi_out.h) */
	int		 blocked;	/* on the stream thread's list of waiting output */
	size_t		 wait_ix;	/* its index there */
	int		 paused;	/* PAUSE sent to the worker (flow control) */
	struct aif_anth_stream anth;	/* the Messages surface's translation */
	struct aif_resp_stream *resp;	/* the Responses surface's, or NULL (owned) */
	/* sync only: a zero-retention answer arriving over the relay */
	char		*result;
	size_t		 result_len;
	int		 result_over;	/* it passed server.max_answer_bytes: dropped */
	int		 relay_lost;	/* a piece of it was lost on the way */
	/* a token count asked of a worker (count.c): no job, no row */
	char		*estimate;	/* the answer when the engine's count does not
					   come (new), or NULL for a job's request */
	size_t		 estimate_len;
	struct parked	*next;		/* hash chain */
};

/* A frame that came before a request that can check it was parked. */
struct early_frame {
	struct aif_relay_header	 h;
	struct early_frame	*next;
	char			 payload[];	/* h.len bytes + NUL */
};

/* A new entry (free with parked_free, or streams.c's release) for job id of the kind
 * (0 sync, 1 stream), answering rp (copied; its FastCGI request moves with it when
 * parked), with its deadline (monotonic ms) and the job's relay secret (copied), or
 * NULL when this request cannot know it. NULL on no memory. */
struct parked	*parked_new(uint64_t id, int stream, const struct reply *rp,
		    int64_t deadline_ms, const unsigned char *relay_secret);

/* Frees an entry out of the table (its reply sent or not the entry's to send), with
 * its reference to the reply's meta and its stream translation. */
void		 parked_free(struct parked *p);

/* What a relay frame's tag says for one parked request. */
enum parked_verdict {
	PARKED_FRAME_OK,		/* the tag of its attempt: the frame is the job's */
	PARKED_FRAME_UNVERIFIABLE,	/* p does not hold the job's relay secret */
	PARKED_FRAME_BAD,		/* forged or corrupt: logged, counted in
					   aif_relay_rejected_frames_total */
};

/* Checks relay frame h (payload) against p's relay secret; keeps the attempt's key in
 * p. Attempt 0 (none) is never the job's. */
enum parked_verdict parked_check_frame(struct parked *p, const struct aif_relay_header *h,
		    const char *payload);

/* Inserts p (ownership moves to the table) unless `max` requests of its kind are
 * parked already (-1; the caller keeps p). Takes the job's early notes: *finished = 1
 * when a bell said it finished (may be NULL). When `frames` is not NULL and frames
 * came for the job that p can check (it holds the relay secret), p is NOT inserted:
 * returns 1 with *frames (new; parked_frames_free) for the caller to apply first, then
 * to put p again. Frames p cannot check stay for a request that can. */
int		 parked_put(struct parked_table *t, struct parked *p, size_t max,
		    int *finished, struct early_frame **frames);

/* Applies early frame f to p (out of the table); returns 1 when that consumed p (it was
 * answered: no longer the caller's), 0 when p goes on. */
typedef int	(*parked_replay_fn)(struct parked *p, const struct early_frame *f,
		    void *arg);

/* parked_put that replays the early frames p can check through apply(p, f, arg) before
 * p goes in, so that they reach it in order and none is lost: 0 parked, 1 consumed by
 * apply, -1 full (the caller keeps p). *finished as parked_put (may be NULL). */
int		 parked_put_replay(struct parked_table *t, struct parked *p, size_t max,
		    parked_replay_fn apply, void *arg, int *finished);

/* Puts back a request taken out before (no limit; early notes untouched). */
void		 parked_return(struct parked_table *t, struct parked *p);

/* Takes out a parked request of job id and kind (0 sync, 1 stream), the one holding
 * the relay secret first, or NULL. */
struct parked	*parked_take(struct parked_table *t, uint64_t id, int stream);

/* Up to cap requests of job id and kind, left in the table (borrowed: for the stream
 * thread's own streams only), the one holding the relay secret first. Returns how
 * many. */
size_t		 parked_find(struct parked_table *t, uint64_t id, int stream,
		    struct parked **out, size_t cap);

/* Takes p itself out of the table; 0 when it was not in. */
int		 parked_remove(struct parked_table *t, struct parked *p);

/* A bell said job id finished: takes out its parked sync request, or, when none is
 * parked, notes that it finished -- in one locked step, so a request parked at the same
 * moment sees either the note or is taken (no wakeup is lost between the two). */
struct parked	*parked_take_or_finished(struct parked_table *t, uint64_t id);

/* Takes out up to cap requests of a kind for which pred(p, arg) is 1. */
size_t		 parked_take_if(struct parked_table *t, int stream,
		    int (*pred)(const struct parked *, void *), void *arg,
		    struct parked **out, size_t cap);

/* Takes out up to cap requests of a kind last seen at or before `older_than` and marks
 * them seen at `now` (a slow poll looks at each once per interval). */
size_t		 parked_take_due(struct parked_table *t, int stream, int64_t older_than,
		    int64_t now, struct parked **out, size_t cap);

/* How many requests of a kind are parked. */
size_t		 parked_count(struct parked_table *t, int stream);

/* Hands request p to its owner with the final view of its job, or v NULL when the job
 * is not final or its row could not be read (v borrowed for the call). The callee owns
 * p: it answers and frees it, or puts it back. */
typedef void	(*parked_settle_fn)(struct parked *p, const struct aif_job_view *v,
		    void *arg);

/* Settles the n requests `taken` out of the table against their job rows, read from db
 * PARKED_SETTLE_MAX jobs at a time: settle(p, v, arg) for each of them. */
void		 parked_settle(struct aif_db *db, struct parked **taken, size_t n,
		    parked_settle_fn settle, void *arg);

/* Early note: a frame of job h->job came and no parked request could check it (copied;
 * the oldest notes are dropped to stay within their bounds). */
void		 parked_early_frame(struct parked_table *t, const struct aif_relay_header *h,
		    const char *payload);

/* Forgets notes older than PARKED_EARLY_TTL_MS. */
void		 parked_early_expire(struct parked_table *t, int64_t now);

void		 parked_frames_free(struct early_frame *f);

#endif
