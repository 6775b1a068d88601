/* api.h -- the pieces of aif-api shared between its files: the process-wide state, the
 * per-request context, and the functions each part offers the others.
 * Threads: N acceptors (accept, admit, enqueue, park) and one completer (answers parked
 * requests when their job finishes or times out). A parked request belongs to the
 * waiters table until the completer takes it out; nothing else touches it then. */
#ifndef AIF_API_H
#define AIF_API_H

#include <signal.h>
#include <stdint.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "auth.h"
#include "config.h"
#include "db.h"
#include "doorbell.h"
#include "oai.h"
#include "util.h"

#define AIF_REQUEST_ID_MAX	64

struct waiters;

/* A loaded configuration and the requests using it (reload swaps the current one;
 * the old one is freed by its last user). */
struct aif_pii;

struct cfg_holder {
	struct aif_config	*cfg;
	struct aif_pii		*pii;		/* the masking engine compiled for cfg */
	int			 refs;		/* api's own + one per request */
	int			 owned;		/* freed with the holder (not the boot one) */
};

struct api {
	const struct aif_config	*cfg;		/* the boot config: server, database and
						   auth settings, which need a restart */
	struct cfg_holder	*current;	/* models, roles, tenants, queue: reloadable */
	struct aif_auth		*auth;
	int			 listen_fd;
	char			 doorbell_path[AIF_DOORBELL_PATH_MAX];
	int			 doorbell_fd;		/* workers ring us here */
	int			 sender_fd;		/* we ring workers from here */
	struct waiters		*waiters;
	volatile sig_atomic_t	 stopping;
};

/* What is needed to answer an HTTP request, from any thread. */
struct reply {
	FCGX_Request	*fcgi;				/* owned by whoever holds the reply */
	char		 request_id[AIF_REQUEST_ID_MAX + 1];
	char		 job_id[AIF_JOB_ID_LEN + 1];	/* "" until a job exists */
	char		 headers[512];	/* extra header lines ("...\r\n"), e.g. the
					   x-ratelimit-* of the caller's limits */
	const char	*route;		/* metrics label of the route, static */
};

/* One request being handled by an acceptor thread. */
struct req {
	struct api	*api;
	const struct aif_config *cfg;	/* the config this request started with */
	const struct aif_pii *pii;	/* and its masking engine */
	struct aif_db	*db;		/* the acceptor thread's connection (borrowed) */
	struct reply	 reply;
	const char	*method;	/* borrowed from the FastCGI params */
	char		 path[256];	/* without the query string */
	int		 parked;	/* 1: ownership of reply.fcgi went to the waiters */
};

/* main.c: the current config for one request, and its release. */
struct cfg_holder *api_cfg_acquire(struct api *api);
void	api_cfg_release(struct cfg_holder *h);

/* respond.c: writes the whole response and finishes the FastCGI request (frees it).
 * `headers` is extra header lines, each ending in "\r\n", or NULL. */
void	reply_send(struct reply *rp, int status, const char *headers, const char *body,
	    size_t len);
/* Sends the error as an OpenAI error object (Retry-After added for 429/503). */
void	reply_error(struct reply *rp, const struct aif_oai_error *err);
/* Shorthand: builds the error from its parts. */
void	reply_fail(struct reply *rp, int status, const char *type, const char *code,
	    const char *param, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Sends a JSON value (borrowed) with the given status. */
void	reply_json(struct reply *rp, int status, const char *headers, json_t *v);

/* router.c */
void	api_handle(struct req *r);

/* route_completions.c: POST /v1/chat/completions and /v1/completions */
void	route_completions(struct req *r, const struct aif_principal *who,
	    enum aif_kind kind);
/* route_models.c: GET /v1/models and /v1/models/{id} */
void	route_models(struct req *r, const struct aif_principal *who, const char *id);
/* route_ops.c: GET /readyz; GET /metrics (trusted: nginx vouched for the address) */
void	route_readyz(struct req *r);
void	route_metrics(struct req *r, int trusted);

/* route_admin.c: /admin/keys... for admin roles */
void	route_admin(struct req *r, const struct aif_principal *who);
/* route_jobs.c: GET /v1/jobs/{id}, POST /v1/jobs/{id}/cancel; job_json builds the job
 * object (new reference) */
void	route_jobs(struct req *r, const struct aif_principal *who);
json_t	*job_json(const char *public_id, const char *model, const char *kind,
	    const char *state, int priority, int attempts, int64_t created_at,
	    int64_t started_at, int64_t finished_at, const char *response_body,
	    int http_status, const char *error_type, const char *error_code,
	    const char *error_message);
/* Sends the final outcome of a job view as the sync answer. */
struct aif_job_view;
void	reply_job_outcome(struct reply *rp, const struct aif_job_view *v);

/* waiters.c: the parked requests and the completer thread. */
int	waiters_start(struct api *api);
/* Parks rp (moved: the caller must not touch rp->fcgi afterwards) until job `id`
 * is final or `deadline_ms` (monotonic) passes. Returns 0, or -1 when the table is
 * full (the caller still owns the reply then). */
int	waiters_park(struct api *api, uint64_t id, const struct reply *rp,
	    int64_t deadline_ms);
/* Stops the completer after answering every parked request (grace_ms at most). */
void	waiters_stop(struct api *api, int grace_ms);

/* enqueuer.c: group commit of enqueues (one transaction for concurrent requests).
 * enqueue_job blocks until its job is committed; results as aif_queue_enqueue. */
int		enqueuer_start(struct api *api);
void		enqueuer_stop(void);
struct aif_job_new;
enum aif_err	enqueue_job(const struct aif_job_new *job, uint64_t *id, char *public_id);

/* streams.c: streamed requests, answered from the workers' relay frames. */
int	streams_start(struct api *api);
void	streams_stop(int grace_ms);
/* Parks rp (moved on success) for a stream of `kind`; -1 when full (caller keeps rp). */
int	streams_park(struct api *api, uint64_t id, const struct reply *rp,
	    enum aif_kind kind, int include_usage, int64_t deadline_ms);

/* admission.c: rate limits (answers 429/503 itself and returns -1; sets the
 * x-ratelimit-* headers of the reply on 0) and the budget subjects of a job. */
int	admit_rate_limits(struct req *r, const struct aif_principal *who,
	    const struct aif_role *role, const struct aif_model *model, int64_t tokens);
void	admit_budget(const struct aif_config *cfg, const struct aif_principal *who,
	    const struct aif_role *role, const struct aif_model *model,
	    int64_t prompt_tokens, int64_t max_output_tokens, struct aif_job_new *job);

/* wake.c: rings the doorbells of live workers (list cached, refreshed every 2 s). */
void	wake_workers(struct api *api, struct aif_db *db);

#endif
