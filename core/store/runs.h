/* runs.h -- the rows of workflow runs (sql/011_workflows.sql): a run is a job of kind
 * 'pipeline'; its steps are job_steps rows, its signals job_signals rows, its pinned
 * definition a workflow_defs row. A runner claims a due run under a lease (fenced by
 * lease_token like any job), reads its steps, and writes each transition -- step rows,
 * events, a consumed signal and what becomes of the run -- in one transaction that
 * first checks the lease is still its own. Running the steps is workers/flow.h. */
#ifndef AIF_RUNS_H
#define AIF_RUNS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"
#include "queue.h"

#define AIF_FLOW_NAME_MAX	64	/* bytes of a step or signal name */
#define AIF_FLOW_HASH_LEN	64	/* hex SHA-256 */
#define AIF_FLOW_WRITES_MAX	20	/* step rows one transition writes at most */
#define AIF_FLOW_EVENTS_MAX	20

/* A run a runner holds. */
struct aif_flow_run {
	uint64_t	 id;
	char		 public_id[AIF_JOB_ID_LEN + 1];
	char		 workflow[AIF_MODEL_ID_MAX + 1];
	char		 hash[AIF_FLOW_HASH_LEN + 1];
	uint64_t	 api_key_id;		/* the lineage that owns the run */
	char		 tenant[AIF_TENANT_MAX + 1];
	int		 priority;
	uint64_t	 lease_token;
	char		 reply_to[AIF_REPLY_TO_MAX + 1];	/* "" when none */
	char		 request_id[65];
	int		 stream;
	int		 has_relay_secret;
	unsigned char	 relay_secret[AIF_RELAY_SECRET_BYTES];
	int64_t		 created_ms;
	char		 traceparent[56];	/* its trace, "": its steps' too */
	char		 tracestate[513];
	char		 trace_link[56];	/* an async run: the span its trace links to */
	char		*request_body;		/* new: {"surface": ..., "input": ...} */
};

/* One job_steps row as read. */
struct aif_flow_step {
	char		 name[AIF_FLOW_NAME_MAX + 1];
	int		 seq;
	char		 kind[17];
	char		 state[16];	/* scheduled running waiting succeeded failed
					   cancelled */
	int		 attempts, max_attempts;
	char		*output;	/* new JSON, or NULL */
	char		 error[1025];
	uint64_t	 child_job_id;	/* 0: none */
	char		 child_state[16]; /* state of that job ("" when none) */
	char		 child_public_id[AIF_JOB_ID_LEN + 1];	/* "" when none */
	char		 waiting_for[129];
	int64_t		 wake_at_ms;	/* 0: none */
	char		 branch_taken[AIF_FLOW_NAME_MAX + 1];
	int64_t		 started_ms, finished_ms;	/* 0: not yet */
};

/* A step row to write (insert or replace; seq and started_at are kept once set).
 * Pointers borrowed. */
struct aif_flow_step_write {
	const char	*name;
	int		 seq;
	const char	*kind;
	const char	*state;
	int		 attempts, max_attempts;
	const unsigned char *input_sha256;	/* 32 bytes or NULL (kept) */
	const char	*output;		/* or NULL */
	const char	*error;			/* or NULL */
	uint64_t	 child_job_id;
	const char	*waiting_for;		/* or NULL */
	int64_t		 wake_at_ms;		/* 0: none */
	const char	*branch_taken;		/* or NULL */
	int		 started;		/* sets started_at when still NULL */
	int		 finished;		/* sets finished_at */
};

/* What becomes of the run at the end of a transition. */
enum aif_flow_next {
	AIF_FLOW_KEEP,		/* the runner goes on: lease extended */
	AIF_FLOW_RELEASE,	/* waits: state `waiting`, due at wake_at_ms (or at once
				   when a child it waits for is final or a signal it
				   waits for has arrived) */
	AIF_FLOW_SUCCEED,	/* final: response stored, http 200 */
	AIF_FLOW_FAIL,		/* final failure (compensating first when comps) */
	AIF_FLOW_CANCELLED,	/* it had been cancelled: compensations only */
};

/* A compensation to schedule, in run order (first runs first). Pointers borrowed. */
struct aif_flow_comp {
	const char	*name;
	const char	*method;
	const char	*url;
	const char	*body;		/* rendered JSON, or NULL */
	const char	*headers;	/* JSON object, or NULL */
	const char	*idempotency_key;
	int		 timeout_ms;
	int		 max_attempts;	/* 0: until done */
	int		 initial_ms, backoff_pct, max_ms;
};

struct aif_flow_write {
	struct aif_flow_step_write steps[AIF_FLOW_WRITES_MAX];
	size_t		 nsteps;
	struct { const char *event, *detail; } events[AIF_FLOW_EVENTS_MAX];
	size_t		 nevents;
	uint64_t	 consume_signal;	/* job_signals.id consumed, 0: none */
	const char	*consume_step;
	enum aif_flow_next next;
	int		 lease_ms;		/* KEEP: the new lease */
	int64_t		 wake_at_ms;		/* RELEASE: when due (0: in 10 s) */
	const char	*wait_signals[8];	/* RELEASE: names waited for */
	size_t		 nwait_signals;
	const char	*response_body;		/* SUCCEED */
	int		 http_status;		/* FAIL */
	const char	*error_type, *error_code, *error_message;	/* FAIL */
	const struct aif_flow_comp *comps;	/* FAIL / CANCELLED */
	size_t		 ncomps;
};

/* Writes workflow definition `text` (borrowed) under hash when it is not there yet. */
enum aif_err	aif_flow_def_put(struct aif_db *db, const char *hash, const char *name,
		    const char *text);

/* The definition stored under hash: new string in *text (free). AIF_NOTFOUND. */
enum aif_err	aif_flow_def_get(struct aif_db *db, const char *hash, char **text);

/* Claims up to `limit` due runs (queued or waiting, run_after passed), highest
 * priority first:
 * running under a new lease token, held by worker_id for lease_s seconds. Attempts are
 * not counted (a run is resumed, not retried). On AIF_OK *out is a new array
 * (aif_flow_runs_free) of *n runs. */
enum aif_err	aif_flow_claim(struct aif_db *db, uint64_t worker_id, int limit, int lease_s,
		    struct aif_flow_run **out, size_t *n);
void		aif_flow_runs_free(struct aif_flow_run *runs, size_t n);

/* The step rows of run `id` in seq order, with each child job's state. On AIF_OK *out
 * is a new array (aif_flow_steps_free) of *n. */
enum aif_err	aif_flow_steps(struct aif_db *db, uint64_t id, struct aif_flow_step **out,
		    size_t *n);
void		aif_flow_steps_free(struct aif_flow_step *s, size_t n);

/* The oldest unconsumed signal `name` of run id: *sig_id (0 when none) and its payload
 * (new, free) in *payload. */
enum aif_err	aif_flow_signal_peek(struct aif_db *db, uint64_t id, const char *name,
		    uint64_t *sig_id, char **payload);

/* Writes transition w of run (fenced by its lease token) in one transaction.
 * AIF_NOTFOUND: the lease is no longer ours (nothing written). */
enum aif_err	aif_flow_apply(struct aif_db *db, const struct aif_flow_run *run,
		    const struct aif_flow_write *w);

/* A signal for run `public_id` owned by lineage owner (0: any owner: an admin): stored,
 * the run woken. AIF_NOTFOUND (no such run of this owner), AIF_CONFLICT (the run is
 * final), AIF_TOOBIG (it holds 64 unconsumed signals), AIF_UNAVAILABLE (the database
 * is unreachable, or the row stayed locked through the retries). *job_id gets the
 * run's id. */
enum aif_err	aif_flow_signal(struct aif_db *db, const char *public_id, uint64_t owner,
		    const char *name, const char *payload, uint64_t *job_id);

/* Makes run `id` due now if it waits (a child job of it ended). */
enum aif_err	aif_flow_wake(struct aif_db *db, uint64_t id);

/* The job lineage `owner` enqueued with Idempotency-Key `key` (a model step's attempt
 * whose runner died before recording it): *id. AIF_NOTFOUND. */
enum aif_err	aif_flow_child_by_key(struct aif_db *db, uint64_t owner, const char *key,
		    uint64_t *id);

/* Sum of the usage of the child jobs of run id. */
enum aif_err	aif_flow_usage(struct aif_db *db, uint64_t id, int64_t *prompt,
		    int64_t *completion, int64_t *cost_micros);

/* The final state of job `id` (a child): state into st (16 bytes), its response body
 * (new, or NULL) and its error fields (type/code/message copied, may be ""). */
enum aif_err	aif_flow_child(struct aif_db *db, uint64_t id, char *st, char **response,
		    char *etype, char *ecode, char *emsg, size_t emsg_len);

#endif
