/* jobs.h -- reading and tidying job rows: the outcome of jobs as aif-api returns them,
 * idempotent lookups, the worker running a job, operators' views (a job with its
 * timeline, lists, queue depth and age) and retention. The state transitions are
 * queue.h. Report queries return rows whose columns are read through the enums below
 * (each the order of its statement's aliases, checked by tests/unit/test_queue.c). */
#ifndef AIF_JOBS_H
#define AIF_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "queue.h"
#include "util.h"

/* The outcome of a job, as aif-api returns it. */
struct aif_job_view {
	uint64_t	 id;
	char		 public_id[AIF_JOB_ID_LEN + 1];
	uint64_t	 api_key_id;
	char		 model[AIF_MODEL_ID_MAX + 1];
	enum aif_kind	 kind;
	char		 state[16];
	int		 priority;
	int		 attempts;
	int		 http_status;		/* 0 until final */
	int64_t		 created_at;		/* unix seconds */
	int64_t		 started_at;		/* 0 when never */
	int64_t		 finished_at;		/* 0 when not final */
	int64_t		 response_len;		/* bytes of the stored answer, -1: none
						   (read it with aif_jobs_response_*) */
	char		*response_inline;	/* the answer itself when it is at most
						   AIF_JOBS_INLINE_MAX bytes (read with the
						   view, no second query), else NULL; owned
						   by the view (aif_jobs_views_free) */
	char		 error_type[65];
	char		 error_code[65];
	char		 error_message[1025];
	int		 zero_retention;	/* its answer is never stored: a waiting
						   request gets it over the relay */
	int		 workflow;		/* a workflow run (model is its name) */
};

/* A stored answer is read in pieces of at most AIF_JOBS_PIECE_CHARS characters (1 MiB
 * at most), never whole: a reader holds one piece at a time whatever the answer's size. */
#define AIF_JOBS_PIECE_CHARS	262144
/* An answer up to this many bytes comes with its view (response_inline). */
#define AIF_JOBS_INLINE_MAX	8192

/* Characters [from_char, from_char + nchars) of job id's answer: *out new (len bytes),
 * empty past the end. AIF_NOTFOUND when the job or its answer is gone. */
enum aif_err	aif_jobs_response_piece(struct aif_db *db, uint64_t id, int64_t from_char,
		    int64_t nchars, char **out, size_t *len);

/* Calls fn(arg, piece, len) for each piece of job id's answer in order; fn returning
 * non-zero stops it (AIF_IO). */
enum aif_err	aif_jobs_response_each(struct aif_db *db, uint64_t id,
		    int (*fn)(void *arg, const char *piece, size_t len), void *arg);

/* The whole answer of job id (at most max bytes) in *out (new, NUL-terminated), for
 * the few readers that must parse it. */
enum aif_err	aif_jobs_response_read(struct aif_db *db, uint64_t id, size_t max,
		    char **out, size_t *len);

/* Reads jobs by internal id (ids borrowed, n <= 256) whose outcome is known: final,
 * or compensating (failed, its saga still running).
 * On AIF_OK *out is a new array (aif_jobs_views_free) of *nout views. */
/* The stored request of job id: *out new (its length in *len). AIF_NOTFOUND when
 * there is no such job. */
enum aif_err	aif_jobs_request_read(struct aif_db *db, uint64_t id, char **out,
		    size_t *len);

/* Forgets what job id kept of its request and answer (a Responses API delete): the
 * request becomes "{}", the answer NULL; the row, its events and usage stay (billing,
 * audit). AIF_NOTFOUND when no such job. */
enum aif_err	aif_jobs_forget_bodies(struct aif_db *db, uint64_t id);

enum aif_err	aif_jobs_final_views(struct aif_db *db, const uint64_t *ids, size_t n,
		    struct aif_job_view **out, size_t *nout);

/* Reads one job by public id, only if it belongs to api_key_id.
 * AIF_NOTFOUND when absent or not the caller's. On AIF_OK *out is new. */
enum aif_err	aif_jobs_view_public(struct aif_db *db, const char *public_id,
		    uint64_t api_key_id, struct aif_job_view **out);

void		aif_jobs_views_free(struct aif_job_view *v, size_t n);

/* Finds the job an idempotent request refers to: by (api_key_id, idempotency_key) when
 * idem is set, else (a retried SDK request) the newest job of api_key_id with the same
 * request hash created within window_s seconds that did not fail. *id, public_id
 * (AIF_JOB_ID_LEN + 1) and *same_body are set on AIF_OK; AIF_NOTFOUND when none.
 * An Idempotency-Key older than window_s is released (cleared on the old job) and
 * reported as AIF_NOTFOUND, so it can be used again. */
enum aif_err	aif_jobs_find_idempotent(struct aif_db *db, uint64_t api_key_id,
		    const char *idem, const unsigned char *sha256, int64_t window_s,
		    uint64_t *id, char *public_id, int *same_body);

/* Returns 1 for succeeded, failed and cancelled (compensating is not final yet). */
int		aif_jobs_state_final(const char *state);

/* The doorbell of the worker running job id into buf (cap bytes); "" when the job is
 * not running or its worker has none. */
enum aif_err	aif_jobs_worker_doorbell(struct aif_db *db, uint64_t id, char *buf,
		    size_t cap);

/* The internal id of a job named by its public id or its number; AIF_NOTFOUND. */
enum aif_err	aif_jobs_resolve(struct aif_db *db, const char *name, uint64_t *id);

/* Jobs not final by model, priority and state, with the age of the oldest
 * (microseconds), for /metrics and aifctl queue. */
enum aif_queue_depth_col {
	AIF_QD_MODEL, AIF_QD_PRIORITY, AIF_QD_STATE, AIF_QD_JOBS, AIF_QD_OLDEST_AGE_US,
};
enum aif_err	aif_jobs_queue_depth(struct aif_db *db, struct aif_dbrows **out);

/* Queued + running jobs and the age (ms) of the oldest queued one, of one model or of
 * all (model NULL), for the autoscaler. */
enum aif_err	aif_jobs_backlog(struct aif_db *db, const char *model, int64_t *depth,
		    int64_t *oldest_ms);

/* Sets *cancelled to 1 when job id is in state cancelled. */
enum aif_err	aif_jobs_is_cancelled(struct aif_db *db, uint64_t id, int *cancelled);

/* Queued jobs of tenant `tenant`, or of key api_key_id when tenant is NULL (index
 * reads: ix_jobs_tenant_queued, ix_jobs_key_queued). */
enum aif_err	aif_jobs_count_queued(struct aif_db *db, const char *tenant,
		    uint64_t api_key_id, int64_t *n);

/* Jobs that succeeded (usage rows) and failed in the last minute, for aifctl top. */
enum aif_err	aif_jobs_last_minute(struct aif_db *db, int64_t *succeeded,
		    int64_t *failed);

/* Retention: drops request and response bodies of jobs final for more than `days` days
 * and deletes job events older than 3 * days, in bounded batches. Counts in *payloads
 * and *events. */
enum aif_err	aif_jobs_retention(struct aif_db *db, int64_t days, uint64_t *payloads,
		    uint64_t *events);

#endif
