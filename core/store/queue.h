/* queue.h -- the durable job queue in MariaDB: the state transitions of a job. Enqueue,
 * claim by priority with SELECT ... FOR UPDATE SKIP LOCKED, leases fenced by lease_token,
 * batched completion with the usage row in the same transaction, retry/fail, cancel,
 * release, reap. Every transition writes a job_events row in the same transaction,
 * except the enqueue, the first claim and the success that follows it: the job row
 * stands for those (the view job_timeline renders both, sql/012_timeline.sql).
 * Reading jobs (views, lists, statistics) is jobs.h.
 * Functions take a connection (struct aif_db, one thread) and retry a transaction that
 * hit a deadlock a bounded number of times. */
#ifndef AIF_QUEUE_H
#define AIF_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "ledger.h"
#include "relay_proto.h"
#include "util.h"

#define AIF_MODEL_ID_MAX	128
#define AIF_TENANT_MAX		128
#define AIF_REPLY_TO_MAX	108

/* What aif-api enqueues. Every pointer is borrowed for the call. */
struct aif_job_new {
	uint64_t	 api_key_id;
	const char	*tenant;
	const char	*model;
	enum aif_kind	 kind;
	int		 priority;		/* 0..9, or AIF_BATCH_PRIORITY */
	int		 max_attempts;
	const char	*reply_to;		/* doorbell path or NULL */
	const char	*request_id;		/* or NULL */
	const char	*idempotency_key;	/* or NULL */
	int		 stream;
	int64_t		 prompt_tokens_estimate;
	int64_t		 max_tokens;		/* -1 when absent */
	const char	*request_body;		/* masked request, JSON */
	size_t		 request_len;
	const char	*pii_counts;		/* JSON object of counts, or NULL */
	const unsigned char *request_sha256;	/* 32 bytes, or NULL */
	int64_t		 tokens_charged;	/* charged to TPM limits at admission (0:
						   none applies to the caller) */
	int64_t		 budget_hold_micros;	/* worst-case cost to hold, 0: none */
	struct aif_budget_subject budget[AIF_BUDGET_SUBJECTS_MAX];
	size_t		 nbudget;		/* subjects whose budgets apply */
	int64_t		 prompt_tokens_bound;	/* usage an engine may report at most */
	int64_t		 completion_tokens_bound;
	int64_t		 wait_ms;		/* not run when not claimed within this
						   (its caller stopped waiting); 0: no limit */
	int		 zero_retention;	/* no body kept once the job ends */
	const unsigned char *relay_secret;	/* AIF_RELAY_SECRET_BYTES bytes, or NULL */
	const char	*workflow_hash;		/* a workflow run (kind 'pipeline'): the
						   definition it keeps; NULL otherwise */
	uint64_t	 parent_job_id;		/* a model step of a run: the run, else 0 */
	const char	*parent_step;		/* and its step name, else NULL */
	uint64_t	 handoff_worker;	/* a live worker to hand the job to at insert
						   (written running under its lease), or 0:
						   queued for any worker to claim */
	int		 handoff_lease_s;	/* that lease, in seconds */
	const char	*traceparent;		/* its trace (tracectx.h), or NULL */
	const char	*tracestate;		/* the caller's, or NULL */
	const char	*trace_link;		/* an async job: the span its own trace
						   links to (the request's), or NULL */
	const char	*guardrails;		/* names with work for a worker (guard.h),
						   comma-separated, or NULL */
	uint64_t	 batch_id;		/* a batch's line: batches.id, else 0 */
	uint32_t	 batch_line;		/* and its line (1-based) */
};

/* The priority of a batch's lines: a lane below every interactive request (0..9). */
#define AIF_BATCH_PRIORITY	(-1)


/* A job a worker holds a lease on. */
struct aif_claimed {
	uint64_t	 id;
	char		 public_id[AIF_JOB_ID_LEN + 1];
	char		 model[AIF_MODEL_ID_MAX + 1];
	enum aif_kind	 kind;
	char		 tenant[AIF_TENANT_MAX + 1];
	char		 reply_to[AIF_REPLY_TO_MAX + 1];	/* "" when none */
	uint64_t	 api_key_id;
	int		 attempt;		/* this attempt's number, 1-based */
	int		 first_claim;		/* the job's first claim ever: no `claimed`
						   row was written (job_timeline) */
	int		 max_attempts;
	int		 stream;
	uint64_t	 lease_token;
	int64_t		 queue_ms;		/* created -> this claim */
	char		 last_replica[256];	/* replica of the previous attempt, or "" */
	int64_t		 budget_hold_micros;	/* 0: no budget hold */
	int64_t		 tokens_charged;	/* TPM charge to correct at the end */
	int		 batch;			/* a batch's line: its limits are the
						   batch lane's (ratelimit.h) */
	int64_t		 prompt_tokens_bound;	/* 0: unknown (a job of an older version) */
	int64_t		 completion_tokens_bound;
	int64_t		 prompt_tokens_estimate;
	int		 zero_retention;
	int		 has_relay_secret;
	unsigned char	 relay_secret[AIF_RELAY_SECRET_BYTES];
	uint64_t	 parent_job_id;		/* a step of a workflow run: the run, else 0 */
	uint64_t	 relay_id;		/* the job id its stream frames carry: the
						   run's for the streamed step of a run */
	char		 relay_model[AIF_MODEL_ID_MAX + 1];	/* and the model name its
						   chunks show then (the workflow's); "" */
	char		 traceparent[56];	/* its trace, "" (tracectx.h) */
	char		 tracestate[513];	/* the caller's, "" */
	char		 trace_link[56];	/* the span its trace links to, "" */
	char		 guardrails[256];	/* its guardrails' names (guard.h), "" */
	char		 pii_counts[1025];	/* jobs.pii_counts (JSON), "" for NULL */
	char		*request_body;		/* new (free) */
};

/* A successful attempt to commit. Pointers borrowed. */
struct aif_job_success {
	uint64_t	 id;
	uint64_t	 lease_token;
	int		 attempt;
	int		 first_claim;	/* of aif_claimed: no `succeeded` row either */
	uint64_t	 worker_id;
	uint64_t	 api_key_id;
	const char	*tenant;
	const char	*model;
	const char	*engine;
	const char	*replica;
	const char	*response_body;
	const char	*pii_counts;		/* the job's entity counts for its usage
						   row (aif_claimed), or NULL */
	int64_t		 prompt_tokens;
	int64_t		 completion_tokens;
	int64_t		 cost_micros;
	int64_t		 queue_ms;
	int64_t		 engine_ms;
	int64_t		 budget_hold_micros;	/* captured at cost_micros when > 0, never
						   more (the excess is a budget_overage
						   event and the usage row's cost is the
						   hold) */
	int64_t		 tokens_charged;	/* TPM correction when > 0 */
	int		 batch;			/* of a batch's line: the correction goes
						   to the batch lane's limits */
	int		 zero_retention;	/* no answer stored, request body removed */
	int		 committed;		/* out: 1 when this job's row was updated */
	int		 unstorable;		/* out: 1 when this job alone could not be
						   committed (a data error: too large, out
						   of range); the others were */
};

/* Whether job s cost more than its budget hold: its capture stops at the hold, the
 * excess is recorded, never billed. */
static inline int
aif_job_over_hold(const struct aif_job_success *s)
{
	return s->budget_hold_micros > 0 && s->cost_micros > s->budget_hold_micros;
}

/* A failed attempt. Pointers borrowed. */
struct aif_job_failure {
	uint64_t	 id;
	uint64_t	 lease_token;
	int		 attempt;
	uint64_t	 worker_id;
	const char	*replica;
	int		 retry;			/* 1: back to queued after delay_ms */
	int64_t		 delay_ms;
	int		 http_status;		/* for a final failure */
	const char	*error_type;
	const char	*error_code;		/* or NULL */
	const char	*error_message;		/* no prompt text */
	const char	*event_detail;		/* e.g. "retryable: HTTP 503" */
	int64_t		 budget_hold_micros;	/* released on a final failure when > 0 */
	const struct aif_compensation *compensations; /* the model's saga steps (borrowed):
						   a final failure with some becomes
						   `compensating` */
	size_t		 ncompensations;
};

#define AIF_ENQUEUE_BATCH_MAX	19	/* 40 parameters a job: within AIF_DB_PARAMS_MAX */
#define AIF_SUCCEED_BATCH_BYTES	(4u << 20)

/* Inserts the job (queued: no hand-off) and its budget holds in one transaction.
 * On AIF_OK *id and public_id (AIF_JOB_ID_LEN + 1 bytes) are set.
 * AIF_FORBIDDEN: a budget would be exceeded (nothing was written).
 * AIF_CONFLICT: the idempotency key is taken (the existing job is not looked up here).
 * AIF_UNAVAILABLE: database unreachable; nothing was written. */
enum aif_err	aif_queue_enqueue(struct aif_db *db, const struct aif_job_new *job,
		    uint64_t *id, char *public_id);

/* Inserts n jobs (n <= AIF_ENQUEUE_BATCH_MAX) and their budget holds in one
 * transaction (one multi-row INSERT): group commit for concurrent requests.
 * ids[i], public_ids[i] (AIF_JOB_ID_LEN + 1 bytes each) and errs[i] are set per job.
 * If the batch hits a duplicate idempotency key or a data error (one job's values the
 * database refuses), the jobs are inserted one by one and only the duplicates get
 * AIF_CONFLICT and the offenders their error; a job whose budget hold does not fit gets
 * AIF_FORBIDDEN and leaves no trace. Returns AIF_OK when every job has its own
 * result in errs[], or the error that failed the whole batch (all errs[] set to it). */
enum aif_err	aif_queue_enqueue_batch(struct aif_db *db, const struct aif_job_new *jobs,
		    size_t n, uint64_t *ids, char (*public_ids)[AIF_JOB_ID_LEN + 1],
		    enum aif_err *errs, int *handed);

/*
 * Hand-off at insert. A job with handoff_worker set is written already running under
 * that worker's lease (attempt 1, lease token 1, started_at = created_at: what its
 * first claim would write), so no claim transaction stands between the caller and the
 * engine: handed[i] = 1 says it was. It is handed only when no queued job of its
 * model could run now (so never ahead of higher-priority work; a backlog means the
 * model is full and the job queues). The caller rings the worker ("take <id>", bell.h) after it waits
 * for the answer; a worker that is full, draining or out of room for the model gives
 * it back (aif_queue_release_handed) and passes a "wake" on; a worker looks for rows
 * handed to it that it never heard of (aif_queue_handed_orphans); rows handed to a
 * worker that stopped go back (aif_queue_release_stale_handed); a worker that dies or
 * hangs keeps them until their leases run out, like claimed jobs (the reaper).
 */

/* Loads the jobs among ids[0..n) (n <= 256) still handed to worker_id and not taken
 * over since, to run them: *out new (aif_queue_claimed_free), *nout of them, in any
 * order. No write, no transaction. */
enum aif_err	aif_queue_take_handed(struct aif_db *db, uint64_t worker_id,
		    const uint64_t *ids, size_t n, struct aif_claimed **out, size_t *nout);

/* Gives the jobs among ids[0..n) (n <= 256) still handed to worker_id back to the
 * queue as if just enqueued; *released gets how many were. One statement. */
enum aif_err	aif_queue_release_handed(struct aif_db *db, uint64_t worker_id,
		    const uint64_t *ids, size_t n, size_t *released);

/* Gives back to the queue the jobs handed more than older_ms ago to a worker that has
 * stopped (drained: it started none of them) and not taken over since: among
 * ids[0..n) (n <= 256), or every such job when ids is NULL. A bell that reached a
 * worker after its drain (a reload re-executes it under a new id) leaves them so;
 * *released gets how many. A worker that dies or hangs without stopping leaves its
 * handed jobs to their leases (the reaper), like claimed ones: taking a job writes
 * nothing, so its row cannot tell a started job from one never started. */
enum aif_err	aif_queue_release_stale_handed(struct aif_db *db, const uint64_t *ids,
		    size_t n, int older_ms, size_t *released);

/* Up to cap ids (ascending, all > after: page with the last one) of jobs handed to
 * worker_id more than older_ms ago and still not taken over by anyone: those its
 * bell did not bring, and those it runs or ran (the caller tells them apart). */
enum aif_err	aif_queue_handed_orphans(struct aif_db *db, uint64_t worker_id,
		    int older_ms, uint64_t after, uint64_t *ids, size_t cap, size_t *n);

/* Claims up to `limit` queued jobs whose run_after has passed, highest priority first,
 * then oldest, restricted to `models` (n_models ids, borrowed) with at most
 * `per_model_free[i]` jobs of models[i]. Sets them running with a lease of lease_s
 * seconds held by worker_id, increments attempts and lease_token, writes `claimed`
 * events, commits. On AIF_OK *out is a new array (aif_queue_claimed_free) of *n jobs. */
enum aif_err	aif_queue_claim(struct aif_db *db, uint64_t worker_id,
		    const char *const *models, const int *per_model_free, size_t n_models,
		    int limit, int lease_s, struct aif_claimed **out, size_t *n);
/* What a claim may take of the batch lane (docs/BATCH.md): jobs of priority
 * min_priority and above only (0: no batch line); of a batch's lines, at most
 * batch_free[i] of models[i] (NULL: no such cap) and batch_total in all. */
struct aif_claim_lane {
	int		 min_priority;
	const int	*batch_free;
	int		 batch_total;
};
/* aif_queue_claim within lane (borrowed). */
enum aif_err	aif_queue_claim_from(struct aif_db *db, uint64_t worker_id,
		    const char *const *models, const int *per_model_free, size_t n_models,
		    int limit, const struct aif_claim_lane *lane, int lease_s,
		    struct aif_claimed **out, size_t *n);
void		aif_queue_claimed_free(struct aif_claimed *jobs, size_t n);

/* Commits n successes: job succeeded + response, usage row, event, budget capture,
 * in transactions of at most AIF_SUCCEED_BATCH_BYTES of answers (a larger answer goes
 * alone). A job whose lease was lost (lease_token moved on) is skipped (committed = 0).
 * When a transaction fails on its data, its jobs are committed one by one, so that one
 * bad job (too large, out of range) fails alone: it gets unstorable = 1. Returns the
 * error of a transaction that failed for another reason (its jobs uncommitted). */
enum aif_err	aif_queue_succeed(struct aif_db *db, struct aif_job_success *s, size_t n);

/* Records a failed attempt: requeue with run_after = now + delay (retry) or final
 * failure. Fenced by lease_token; returns AIF_NOTFOUND if the lease was lost. */
enum aif_err	aif_queue_fail(struct aif_db *db, const struct aif_job_failure *f);

/* Cancels job `id` if it is queued, or running under lease_token (any lease when 0):
 * state cancelled, http_status 409, error and a `cancelled` event with `detail`
 * (borrowed, no prompt text). AIF_NOTFOUND when it is in neither state. */
enum aif_err	aif_queue_cancel(struct aif_db *db, uint64_t id, uint64_t lease_token,
		    const char *detail);

/* aif_queue_cancel that also tells whom to ring: doorbell (cap bytes) gets the doorbell
 * of the worker running the job, read in the cancel's transaction ("" when it was
 * queued, or on an error). */
enum aif_err	aif_queue_cancel_doorbell(struct aif_db *db, uint64_t id,
		    uint64_t lease_token, const char *detail, char *doorbell, size_t cap);

/* The caller of job id stopped waiting (its deadline passed): the job is cancelled as
 * request_expired, its holds released, if it is still queued and no attempt started
 * (never a workflow run: it goes on whoever waits for it);
 * AIF_NOTFOUND otherwise (it runs, ran, or is final: it continues as it is). */
enum aif_err	aif_queue_expire(struct aif_db *db, uint64_t id);

/* Cancels a running stream whose client left (stream_disconnect: cancel), fenced by
 * u->lease_token, and bills what was used: the prompt and the tokens already relayed
 * (u's counts and cost), as a usage row and a budget capture (never over the hold),
 * with the TPM charge corrected. AIF_NOTFOUND when the lease was lost. */
enum aif_err	aif_queue_cancel_billed(struct aif_db *db, const struct aif_job_success *u,
		    const char *detail);

/* Writes one job_events row (e.g. "client_disconnected") outside any transition. */
enum aif_err	aif_queue_event(struct aif_db *db, uint64_t id, const char *event,
		    const char *detail);

/* Extends to now + lease_s the leases of the n jobs `ids` that worker_id still holds
 * (running under it): the jobs whose calls are in flight, not every job the database
 * says it has -- a job whose commit failed is no longer renewed, so the reaper takes
 * it back. */
enum aif_err	aif_queue_extend_leases(struct aif_db *db, uint64_t worker_id,
		    const uint64_t *ids, size_t n, int lease_s);

/* Fails, with model_not_found and its budget holds released, up to `limit` jobs queued
 * for more than grace_s seconds whose model is none of the n `models` (a reload
 * removed it). Sets *failed. */
enum aif_err	aif_queue_fail_unconfigured(struct aif_db *db, const char *const *models,
		    size_t n, int grace_s, int limit, size_t *failed);

/* Puts every running job of worker_id back to queued (a drain that ran out of time);
 * the interrupted attempt is not counted. *n gets the count. */
enum aif_err	aif_queue_release(struct aif_db *db, uint64_t worker_id, size_t *n);

/* Requeues (or fails, when out of attempts) up to `limit` running jobs whose lease
 * expired, with a `lease_expired` event; a job failed here releases its budget hold and,
 * when cfg (borrowed, may be NULL) gives its model compensations, starts them.
 * *n gets the count. */
enum aif_err	aif_queue_reap(struct aif_db *db, const struct aif_config *cfg, int limit,
		    size_t *n);

/* Schedules the saga steps of job id (in the caller's transaction): one
 * job_compensations row per compensation, the last declared first, and a
 * `compensation_scheduled` event. */
enum aif_err	aif_queue_schedule_compensations(struct aif_db *db, uint64_t id,
		    const struct aif_compensation *c, size_t n);

#endif
