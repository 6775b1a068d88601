/* worker.h -- the parts of aif-worker shared between its files:
 *   main.c     the event loop: signals, timers (heartbeat, reaper), drain, re-exec
 *   dispatch.c claiming jobs and starting, cancelling and aborting engine calls
 *   outcome.c  turning one finished transfer into a result (success row or failure)
 *   commit.c   committing a batch of results with their metrics, relays and bells
 * One thread: nothing here is locked. */
#ifndef AIF_WORKER_H
#define AIF_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "config.h"
#include "db.h"
#include "doorbell.h"
#include "engine_call.h"
#include "flow.h"
#include "guard.h"
#include "queue.h"
#include "relay.h"
#include "routing.h"

#define WORKER_BATCH	256	/* finished transfers committed together at most */
#define WORKER_TAKE_MAX	256	/* handed jobs rung about, waiting to be taken */
#define WORKER_UNSETTLED_MAX	256	/* calls whose ending was not written, remembered */

struct aif_pii;

struct worker {
	const struct aif_config	*cfg;
	struct aif_db		*db;
	struct aif_db		*commit_db;	/* successes' transactions only
						   (aif_db_tx_only: no START
						   TRANSACTION round trip) */
	CURLM			*multi;
	uint64_t		 id;
	char			 instance[32];
	char			 doorbell_path[AIF_DOORBELL_PATH_MAX];
	int			 doorbell_fd;
	struct aif_doorbell_file doorbell_file;	/* removed only while still ours */
	int			 lock_fd;	/* flock of this worker id, -1 */
	struct otel		*otel;		/* the span exporter, or NULL (otel.h) */
	struct aif_guards	*guards;	/* the guardrails' block lists (guard.h) */
	int			 sender_fd;
	int			 slots;
	int			 in_flight;
	int			*model_in_flight;	/* per cfg->models[i] */
	int			*model_batch;	/* of those, batch lines (batch.max_share) */
	int			*batch_free;	/* scratch for claims */
	int			 batch_in_flight; /* batch lines in flight, all models */
	int			*model_hooks;	/* of those, jobs in a pre-call hook: they
						   will take a replica's place too */
	struct routing		*rt;		/* replicas, circuit breakers, fallbacks */
	struct aif_pii		*pii;		/* masks responses when the config says so */
	const char		**model_ids;	/* scratch for claims */
	int			*model_free;
	int			 draining;
	int			 reexec;	/* drained for a reload: exec ourselves again */
	const char		*config_path;
	struct engine_call	*calls;		/* every call in the multi handle */
	struct relay_set	 relays;	/* stream relays to aif-api processes */
	struct flow_pool	*flows;		/* the workflow runner threads */
	uint64_t		 claimed_total;
	uint64_t		 done_total;
	int64_t			 interactive_ms; /* when this worker last started an
						   interactive job (not a batch's line) */
	int64_t			 next_batch_ms;	/* while interactive work flows (batch.yield),
						   the next batch line not before this */
	char			**peers;	/* the other live workers' doorbells */
	size_t			 npeers;
	size_t			 peer_next;	/* round robin over peers */
	int			 wake_hops;	/* of the wake being served; -1 none */
	uint64_t		 take[WORKER_TAKE_MAX];	/* handed jobs rung about (take.c) */
	struct aif_claimed	*take_job[WORKER_TAKE_MAX];	/* and the job its bell
						   carried (new), or NULL: read the row */
	size_t			 ntake;
	struct {
		uint64_t	 id;
		int64_t		 until;		/* ms; forgotten then */
	}			 unsettled[WORKER_UNSETTLED_MAX];	/* take.c */
	size_t			 nunsettled;
};

/* dispatch.c: claims what free slots and replica shares allow and starts the calls;
 * *more = 1 when the claim came back full (claim again). Returns how many it claimed. */
size_t	dispatch_claim(struct worker *w, int *more);

/* take.c: jobs handed to this worker at insert ("take <id>", core/store/queue.h).
 * take_note remembers one a bell named (or an orphan), take_note_job one whose bell
 * carried the job (core/store/handoff.h; job is taken over); take_run starts those it has
 * room for and gives the others back to the queue (waking a peer), returning how many
 * it started, *requeued = 1 when a bell named jobs of a stopped worker that went back
 * to the queue (claim them); take_orphans (each heartbeat) notes handed rows nobody
 * rang about and gives back those of stopped workers (returns 1 when it did: claim);
 * take_give_back_all (at the end of a drain) gives back every one not started;
 * take_unsettled remembers a call whose ending could not be written (its row still
 * looks handed), so that it is not run again here. */
void	take_note(struct worker *w, uint64_t job_id);
void	take_note_job(struct worker *w, struct aif_claimed *job);
/* A "cancel" for job_id: a job its bell carried is not run from the bell (take_run
 * reads its row, which says whether it is still this worker's). */
void	take_cancelled(struct worker *w, uint64_t job_id);
size_t	take_run(struct worker *w, int *requeued);
int	take_orphans(struct worker *w);
void	take_give_back_all(struct worker *w);
void	take_unsettled(struct worker *w, uint64_t job_id);
/* Frees the jobs noted and not run (the worker ends: their rows stay handed here, and
 * take_give_back_all or the reaper gives them back). */
void	take_forget(struct worker *w);

/* dispatch.c: starts the engine call of a job this worker holds the lease of (its body
 * moves into the call); dispatch_running says whether job_id's call runs here. */
void	dispatch_start(struct worker *w, struct aif_claimed *job);
/* Starts call c (its job filled in: a claimed job's, or a token count's, count.c);
 * owns c from here. */
void	dispatch_start_call(struct worker *w, struct engine_call *c);
int	dispatch_running(struct worker *w, uint64_t job_id);

/* count.c: token counts by a model's engine tokenizer for aif-api (no job, no row, no
 * usage). count_start takes the count <n> a bell named (its file under run_dir) and
 * starts its call; count_finish sends the count (or that there is none) over the relay
 * and frees c; count_refuse says there is none (a call that could not start). */
#define COUNT_TIMEOUT_MS	2000	/* aif-api waits as long (fcgi-app/count.c) */
void	count_start(struct worker *w, uint64_t n);
void	count_finish(struct worker *w, struct engine_call *c, CURLcode done);
void	count_refuse(struct worker *w, struct engine_call *c);

/* wakeup.c: a wake this worker could not use goes on to a peer. wakeup_peers re-reads
 * the other live workers' doorbells (w->peers, owned by w; wakeup_free frees them);
 * wakeup_forward rings the next peer with "wake <hops + 1>" unless every peer was
 * asked (hops >= npeers) or hops < 0 (no wake is being served). */
void	wakeup_peers(struct worker *w, int stale_s);
void	wakeup_forward(struct worker *w, int hops);
void	wakeup_free(struct worker *w);
/* A call left the multi handle: its slot, model and replica counts go back (a hook
 * call's slot only). */
void	dispatch_release(struct worker *w, struct engine_call *c);
/* A hook call (guard_hooks.c) joined the multi handle: it takes a slot and is listed. */
void	dispatch_track(struct worker *w, struct engine_call *c);
/* Fails the attempt of call c (not running) with error e of class f (FATAL, REFUSED:
 * for good), and frees c. */
void	dispatch_fail(struct worker *w, struct engine_call *c, enum aif_failure f,
	    const struct aif_error *e);

/* guard_hooks.c: a job's guardrails (docs/GUARDRAILS.md). guard_pre starts the next
 * pre-call hook of c and returns 1 (c is then the hook's; or failed and freed), or
 * returns 0 when none is left (the engine call goes on). guard_post, after a successful
 * answer res: returns 1 when it took c (blocked and freed, or held for post-call
 * hooks: committed once they allow it), 0 to commit as usual (a stream's audit runs on
 * a call of its own). guard_hook_done: a hook's transfer ended. */
enum { GUARD_PRE = 1, GUARD_POST, GUARD_AUDIT };
int	guard_pre(struct worker *w, struct engine_call *c);
int	guard_post(struct worker *w, struct engine_call *c, struct aif_engine_result *res);
void	guard_hook_done(struct worker *w, struct engine_call *c, CURLcode done);
/* A cancel bell for job_id: aborts its call if it runs here and the job row says it
 * was cancelled (by its owner). */
void	dispatch_cancel(struct worker *w, uint64_t job_id);
/* A frame from aif-api on a relay: CANCEL (the stream's client left under the cancel
 * policy), obeyed only with the attempt's tag; the job is cancelled and billed for
 * what it used. */
void	dispatch_relay_frame(void *w, const struct aif_relay_frame *f);
/* Aborts every call still running (the end of a drain). */
void	dispatch_abort_all(struct worker *w);

/* outcome.c: the result of a finished transfer (curl's code `done`), the replica's
 * health judged: on success *res has the response and c->answer its JSON text
 * (c->answer_len bytes, at most server.max_answer_bytes; freed with c). Returns 1 for
 * a success, 0 for a failure in *res. */
int	outcome_of(struct worker *w, struct engine_call *c, CURLcode done,
	    struct aif_engine_result *res);
/* Fills the success row of call c with its result (pointers borrowed from c and res;
 * the answer is c->answer, NULL for none). */
void	outcome_success_row(struct worker *w, const struct engine_call *c,
	    const struct aif_engine_result *res, struct aif_job_success *s);

/* commit.c: commits n successes in one transaction, tells their streams and waiting
 * aif-api processes, counts their metrics, and frees the calls. */
void	commit_successes(struct worker *w, struct engine_call **calls,
	    struct aif_job_success *s, size_t n);
/* Records a failed attempt: retried with backoff, or failed (the stream and the waiting
 * aif-api told), with its metrics. Does not free c. */
void	commit_failure(struct worker *w, struct engine_call *c,
	    const struct aif_engine_result *res);
/* A model step's job of workflow run `run` ended: the run is due now, and this
 * worker's runner is woken (any runner may take it). */
void	commit_wake_run(struct worker *w, uint64_t run);

#endif
