/* api.h -- the pieces of aif-api shared between its files: the process-wide state, the
 * per-request context, and what each part offers the others.
 *
 * Threads: N acceptors (accept, admit, enqueue, park; the one that finds no batch
 * being written writes the queued jobs, enqueuer.c), the completer (answers parked sync requests when their job is final or late) and the
 * stream thread (relays workers' chunks to parked streams). A parked request belongs to
 * the parked table (parked.c) until the thread that answers it takes it out; nothing
 * else touches it then.
 *
 * State: everything lives in struct api, one struct per subsystem, each started and
 * stopped the same way (the table in main.c): `int x_start(struct api *)` (0 or -1),
 * `void x_stop(struct api *, int grace_ms)` (accepts a subsystem that never started). */
#ifndef AIF_API_H
#define AIF_API_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "apierr.h"
#include "auth.h"
#include "bell.h"
#include "config.h"
#include "console.h"
#include "db.h"
#include "doorbell.h"
#include "guard.h"
#include "jobs.h"
#include "oai.h"
#include "tracectx.h"
#include "util.h"

#define AIF_REQUEST_ID_MAX	64

struct aif_pii;
struct aif_relay_header;
struct parked;
struct parked_table;
struct completer;
struct streams;
struct enqueuer;
struct wake;
struct batcher;

/* A loaded configuration and the requests using it (reload swaps the current one;
 * the old one is freed by its last user). */
struct cfg_holder {
	struct aif_config	*cfg;
	struct aif_pii		*pii;		/* the masking engine compiled for cfg */
	struct aif_guards	*guards;	/* and its guardrails' block lists */
	int			 refs;		/* api's own + one per request */
	int			 owned;		/* freed with the holder (not the boot one) */
};

struct api {
	const struct aif_config	*cfg;		/* the boot config: server, database and
						   auth settings, which need a restart */
	struct cfg_holder	*current;	/* models, roles, tenants, queue: reloadable */
	pthread_mutex_t		 cfg_mu;	/* current and the holders' refs */
	struct aif_auth		*auth;
	int			 listen_fd;
	char			 doorbell_path[AIF_DOORBELL_PATH_MAX];
	int			 doorbell_fd;		/* workers ring us here */
	struct aif_doorbell_file doorbell_file;	/* removed only while ours */
	int			 relay_listen_fd;	/* TCP relay listener opened with
							   a network doorbell, taken by
							   streams.c; -1 otherwise */
	int			 sender_fd;		/* we ring workers from here */
	int			 take_fd;		/* and "take" bells with their job
						   from here: until a worker reads them
						   they count against this socket's
						   send buffer, not sender_fd's */
	volatile sig_atomic_t	 stopping;
	/* subsystems (main.c starts and stops them in order) */
	struct parked_table	*parked;	/* parked requests, sync and stream */
	struct enqueuer		*enqueuer;	/* group commit */
	struct wake		*wake;		/* doorbells of live workers */
	struct completer	*completer;	/* answers parked sync requests */
	struct streams		*streams;	/* answers parked streams */
	int			 counts;	/* token counts asked of workers and not
						   answered yet (count.c; __atomic) */
	int			 uploads;	/* file uploads being read now
						   (route_files.c; __atomic) */
	struct batcher		*batcher;	/* the batch feeder */
};

/* The server span of a request that made a job (spans.c), while spans are on. */
struct reply_span {
	char		 self[AIF_TRACEPARENT_LEN + 1];	/* its trace and span id; "": none */
	char		 parent[AIF_TRACEPARENT_LEN + 1]; /* the caller's span, "" */
	char		 model[AIF_MODEL_ID_MAX + 1];	/* the model asked for */
	const char	*route;		/* http.route (static), NULL */
	const char	*operation;	/* gen_ai.operation.name (static), NULL */
	int64_t		 start_ns;	/* the request came, 0: spans off */
	int		 status;	/* the HTTP status sent */
};

/* What is needed to answer an HTTP request, from any thread. */
struct reply {
	FCGX_Request	*fcgi;				/* owned by whoever holds the reply */
	char		 request_id[AIF_REQUEST_ID_MAX + 1];
	char		 job_id[AIF_JOB_ID_LEN + 1];	/* "" until a job exists */
	char		 headers[512];	/* extra header lines ("...\r\n"), e.g. the
					   x-ratelimit-* of the caller's limits */
	const char	*route;		/* metrics label of the route, static */
	enum aif_surface surface;	/* the API the client speaks: its errors' and
					   answers' shape (OpenAI's unless the route
					   says otherwise) */
	json_t		*meta;		/* what the surface renders answers from (the
					   Responses API: the Response before its
					   answer), or NULL; each holder of a copy of
					   the reply holds a reference */
	int		 native;	/* 1: the job's answer and events are the
					   surface's own already (an engine serving
					   it, kind.h AIF_KIND_SURFACES): sent as
					   they are */
	struct reply_span span;
};

/* One request being handled by an acceptor thread. */
struct req {
	struct api	*api;
	const struct aif_config *cfg;	/* the config this request started with */
	const struct aif_pii *pii;	/* and its masking engine */
	const struct aif_guards *guards; /* and its guardrails' block lists */
	struct aif_db	*db;		/* the acceptor thread's connection (borrowed) */
	struct reply	 reply;
	const char	*method;	/* borrowed from the FastCGI params */
	char		 path[256];	/* without the query string */
	int		 parked;	/* 1: ownership of reply.fcgi went to the table */
	const struct aif_role *role;	/* the caller's, of cfg (borrowed); set by the
					   router for the routes with authentication */
};

/* main.c: the current config for one request, and its release (the last user of a
 * replaced config frees it). */
struct cfg_holder *api_cfg_acquire(struct api *api);
void	api_cfg_release(struct api *api, struct cfg_holder *h);

/* respond.c: writes the whole response and finishes the FastCGI request (frees it).
 * `headers` is extra header lines, each ending in "\r\n", or NULL. reply_send's body
 * is JSON, reply_send_typed's of Content-Type `type`. */
#define REPLY_JSON	"application/json"
void	reply_send(struct reply *rp, int status, const char *headers, const char *body,
	    size_t len);
void	reply_send_typed(struct reply *rp, int status, const char *type,
	    const char *headers, const char *body, size_t len);
/* Finishes the FastCGI request of rp (frees it; rp->fcgi is NULL after). */
void	reply_finish(struct reply *rp);
/* How finished requests close their connection, from the listening socket's family:
 * on a Unix socket a request whose input was read to its end closes at once; any other
 * (a TCP socket, input left unread) keeps libfcgi's lingering close (shutdown, then
 * wait up to 2 s for the peer to close), so that the peer cannot fail writing or lose
 * the answer to a reset. Streams close on their own (fcgi_out.h). Called once, before
 * the first request. */
void	reply_close_init(int listen_fd);
/* The head of a response (status line, the headers every response carries, extra
 * `headers`, through the blank line) into head: Content-Type `type`, Cache-Control
 * `cache`, Content-Length len unless REPLY_UNSIZED (a stream). Returns its length, or
 * -1 when it does not fit in cap. */
#define REPLY_UNSIZED	SIZE_MAX
int	reply_format_head(const struct reply *rp, int status, const char *type,
	    const char *cache, const char *headers, size_t len, char *head, size_t cap);
/* Sends the error as the surface's error object (Retry-After added for 429/503,
 * x-should-retry: false where a retry cannot help). */
void	reply_error(struct reply *rp, const struct aif_error *err);
/* Sends an error of the table (apierr.h) with its string arguments. */
void	reply_refuse(struct reply *rp, enum aif_apierr e, const char *param,
	    const char *const *args, size_t nargs);
#define REFUSE0(rp, e, param)	reply_refuse((rp), (e), (param), NULL, 0)
#define REFUSE(rp, e, param, ...)						\
	reply_refuse((rp), (e), (param), (const char *const []){ __VA_ARGS__ },	\
	    sizeof((const char *const []){ __VA_ARGS__ }) / sizeof(const char *))
/* Error e of the table whose arguments (none, one or two) are all the reply's job id
 * into *out; reply_refuse_job sends it. */
void	reply_job_refusal(const struct reply *rp, enum aif_apierr e, struct aif_error *out);
void	reply_refuse_job(struct reply *rp, enum aif_apierr e);
/* Sends a JSON value (borrowed) with the given status. */
void	reply_json(struct reply *rp, int status, const char *headers, json_t *v);
/* Appends one header line ("Name: value\r\n") to the reply's extra headers. */
void	reply_header(struct reply *rp, const char *name, const char *value);
/* Writes the head of a JSON response of `len` body bytes (the caller writes the body
 * and finishes the request). */
void	reply_send_head(struct reply *rp, int status, const char *headers, size_t len);
/* The same with a body of Content-Type `type` (a file's bytes). */
void	reply_send_head_typed(struct reply *rp, int status, const char *type,
	    const char *headers, size_t len);
/* The whole HTTP response of error `err` as bytes (new, *outlen set), for a request
 * whose output is written elsewhere (streams); NULL on no memory. */
char	*reply_render_error(const struct reply *rp, const struct aif_error *err,
	    size_t *outlen);

/* router.c */
void	api_handle(struct req *r);

/* admit.c: POST /v1/chat/completions, /v1/completions and /v1/embeddings. */
void	route_completions(struct req *r, const struct aif_principal *who,
	    enum aif_kind kind);
/* admit.c: POST /v1/messages (Anthropic's surface, bridged as a chat job) and, with
 * count_only, /v1/messages/count_tokens (an estimate, no job). */
void	route_messages(struct req *r, const struct aif_principal *who, int count_only);
/* admit.c: POST /v1/responses and, with count_only, /v1/responses/input_tokens (the
 * Responses API, bridged as a chat job). */
void	route_responses_create(struct req *r, const struct aif_principal *who,
	    int count_only);
/* route_responses.c: GET and DELETE /v1/responses/{id}, POST /v1/responses/{id}/cancel
 * (the caller's own responses). */
void	route_responses_item(struct req *r, const struct aif_principal *who,
	    const char *id, const char *action);
/* surface.c: a job's answer (a chat completion, len bytes, borrowed) sent 200 in the
 * reply's surface: as it is for OpenAI's, converted for the others. */
void	reply_answer(struct reply *rp, const char *body, size_t len);
/* admit.c: POST /v1/workflows/{name}/runs (the same phases; always answered 202). */
void	route_workflow_runs(struct req *r, const struct aif_principal *who,
	    const char *name);
/* route_models.c: GET /v1/models and /v1/models/{id}, of r->role's models */
void	route_models(struct req *r, const char *id);
/* route_ops.c: GET /healthz, /readyz; GET /metrics (trusted: nginx vouched for the
 * address) */
void	route_healthz(struct req *r);
void	route_readyz(struct req *r);
void	route_metrics(struct req *r, int trusted);
/* prometheus.c: the /metrics page. On AIF_OK *out is new (free). */
enum aif_err	prometheus_page(struct aif_db *db, int stale_s, char **out);

/* route_admin.c: /admin/keys... (the router lets only admin roles in) */
void	route_admin(struct req *r);
/* route_files.c: POST /v1/files (a batch input, checked line by line), GET /v1/files,
 * GET /v1/files/{id}, GET /v1/files/{id}/content, DELETE /v1/files/{id} (the caller's
 * key lineage's files; docs/BATCH.md). */
void	route_files(struct req *r, const struct aif_principal *who);
/* route_batches.c: POST /v1/batches, GET /v1/batches, GET /v1/batches/{id}, POST
 * /v1/batches/{id}/cancel; batch_json is the Batch object of a row (new reference). */
void	route_batches(struct req *r, const struct aif_principal *who);
struct aif_batch_row;
json_t	*batch_json(const struct aif_batch_row *b, int64_t completed, int64_t failed);
/* batcher.c: the feeder. Each aif-api process runs one: it leases open batches, turns
 * their lines into jobs through admission (admit_line) while the batch lane has room,
 * cancels and expires them, and writes the output and error files of those that end.
 * batcher_poke wakes it (a batch was created or cancelled here). */
int	batcher_start(struct api *api);
void	batcher_stop(struct api *api, int grace_ms);
void	batcher_poke(struct api *api);
/* batch_files.c: writes the output and error files of batch b (finalizing under the
 * lease `token`) from its jobs, refusals and unfed lines, and ends it as `status`
 * (completed, expired, cancelled) with its final counts, in one transaction that
 * holds the batch's row (aif_batches_lock); the files expire after retention_s. 0, or
 * -1 (the database, the lease lost: the next round tries again). */
int	batcher_write_files(struct aif_db *db, const struct aif_batch_row *b,
	    const char *status, uint64_t token, int64_t retention_s);
/* batcher.c: the role endpoint (roles[].endpoints) of a batch's url: "chat",
 * "completions" or "embeddings" (static). */
const char	*batch_endpoint(const char *url);
/* route_batches.c: limit and after of a list's query string (q may be NULL): limit in
 * 1..max, after an id (cap bytes). 0, or -1 when either is malformed. */
int	list_params(const char *q, int64_t *limit, int64_t max, char *after, size_t cap);
/* list_params that also reads `purpose` (lower-case letters, '_' and '-', into purpose,
 * pcap bytes; left as it is when absent). */
int	list_query(const char *q, int64_t *limit, int64_t max, char *after, size_t cap,
	    char *purpose, size_t pcap);

/* route_jobs.c: GET /v1/jobs/{id}, POST /v1/jobs/{id}/cancel */
void	route_jobs(struct req *r, const struct aif_principal *who);
/* route_jobs.c: cancels job id (public_id): a queued one at once, a running one by
 * ringing its worker (detail goes into its `cancelled` event); a run (run 1) by its
 * `__cancel` signal, of owner's runs only (0: any). As aif_queue_cancel_doorbell /
 * aif_flow_signal answer: AIF_NOTFOUND (not open, or not the owner's run),
 * AIF_CONFLICT (a final run), AIF_TOOBIG (the run holds too many signals). */
enum aif_err	route_jobs_cancel(struct req *r, uint64_t id, const char *public_id,
		    int run, uint64_t owner, const char *detail);
/* route_jobs.c: POST .../signal of run public_id, the body read from r (its own key's
 * run, or any for an admin). Answers; 0 when the signal was accepted. */
int	route_jobs_signal(struct req *r, const struct aif_principal *who,
	    const char *public_id);
/* route_console.c: GET /admin/overview, /admin/jobs, /admin/jobs/{id}; POST
 * /admin/jobs/{id}/cancel, /signal, /retry (docs/CONSOLE.md; admin roles only). */
void	route_console(struct req *r, const struct aif_principal *who);
/* admit.c: POST /admin/jobs/{id}/retry: the stored request of job src sent again as a
 * new async job of owner (its key: its role, limits and budget apply). */
void	route_retry(struct req *r, const struct aif_principal *owner,
	    const struct aif_console_retry *src);
/* admit.c: one line of a batch (batcher.c) admitted for owner `who` under `role`, as
 * an async job in the batch lane (AIF_BATCH_PRIORITY): the phases of a request from
 * parse to budget. LINE_JOB: *job is filled, borrowing from *adm (admit_line_free
 * once the job is inserted); LINE_REFUSED: *err is what a request would have been
 * answered; LINE_WAIT: a rate limit, try again in *wait_ms; LINE_FAILED: the gateway
 * could not decide (the database, memory), *err says which. r is a request without
 * FastCGI (reply.fcgi NULL) holding the config, the masking engine, the guardrails and
 * a connection. */
struct admission;
struct line_in {
	const char	*body;		/* the line's body, JSON text (borrowed) */
	size_t		 len;
	enum aif_kind	 kind;		/* of the batch's url */
	uint64_t	 batch_id;
	uint32_t	 line;
};
enum line_verdict { LINE_JOB, LINE_REFUSED, LINE_WAIT, LINE_FAILED };
enum line_verdict admit_line(struct req *r, const struct aif_principal *who,
		    const struct aif_role *role, const struct line_in *in,
		    struct admission **adm, struct aif_job_new *job, struct aif_error *err,
		    int64_t *wait_ms);
void	admit_line_free(struct admission *a);

/* The job object of a view (new reference), and the answer a sync call gets for a
 * finished job. */
json_t	*job_json(const struct aif_job_view *v);
/* Answers with the job object of v (status, extra headers): its stored answer, read
 * from db in pieces, in the "response" field. */
void	reply_job(struct reply *rp, struct aif_db *db, const struct aif_job_view *v,
	    int status, const char *headers);
/* Answers a waiting synchronous request with the outcome of its job: the stored answer
 * as stored (read from db in pieces), or the job's error. */
void	reply_job_outcome(struct reply *rp, struct aif_db *db, const struct aif_job_view *v);
/* Fills *e with a job's stored error (from its row or its END frame; strings borrowed,
 * NULL or "" when missing): AIF_E_JOB_FAILED's status, type and message stand in for
 * missing ones (a status below 400 is missing), the code stays null. */
void	job_error_set(struct aif_error *e, int status, const char *type, const char *code,
	    const char *message);

/* parked.c: the parked requests, sync and stream, by job id. */
int	parked_start(struct api *api);
void	parked_stop(struct api *api, int grace_ms);

/* completer.c: parks sync request rp (moved: the caller must not touch rp->fcgi
 * afterwards) until job `id` is final or `deadline_ms` (monotonic) passes. Returns 0,
 * or -1 when the table is full (the caller still owns the reply then). relay_secret
 * (or NULL): the job's, for a zero-retention answer that arrives over the relay.
 * look: the job may be final already, have the completer look at once. */
int	completer_start(struct api *api);
void	completer_stop(struct api *api, int grace_ms);
int	completer_park(struct api *api, uint64_t id, const struct reply *rp,
	    int64_t deadline_ms, const unsigned char *relay_secret, int look);
/* Parks a token count (count.c) under id, which names no job: the worker's count comes
 * over the relay (relay_secret); estimate (copied JSON text) answers when it does not
 * come whole by deadline_ms. 0, or -1 (full, no memory) when the caller keeps rp. */
int	completer_park_count(struct api *api, uint64_t id, const struct reply *rp,
	    int64_t deadline_ms, const unsigned char *relay_secret, const char *estimate);
/* count.c: counts the prompt of chat (a bridged request, borrowed; masked) with model
 * m's engine tokenizer through a worker, the request parked until the count comes or
 * the estimate (JSON text, copied) answers; object: the answer's "object" (Responses)
 * or NULL. 0 when parked, -1 when the caller answers (no tokenize kind, no live
 * worker, COUNT_IN_FLIGHT_MAX counts waiting already, full). count_done: count n
 * was answered (its file goes, in case no worker took it). */
#define COUNT_IN_FLIGHT_MAX	64
int	count_by_engine(struct req *r, const struct aif_model *m, const json_t *chat,
	    const char *object, const char *estimate);
void	count_done(struct api *api, uint64_t n);
/* spans.c: when tracing.otlp_endpoint is set, aif-api's spans go to a worker's exporter
 * (core/ipc/spansock.h); spans_start sets that up before the acceptors start. */
int	spans_start(struct api *api);
void	spans_stop(struct api *api, int grace_ms);
/* The server span of rp's request ends now, with rp->span.status (nothing when the
 * request made no traced job). Called once, before the request is finished. */
void	reply_span_end(struct reply *rp);

/* count_start removes count files left in run_dir by a process that died (older than
 * a minute: other aif-api processes share the directory); count_stop does nothing. */
int	count_start(struct api *api);
void	count_stop(struct api *api, int grace_ms);

/* The error of a request whose job was not final by its deadline: gateway_restarting
 * when stopping; request_expired when the job had not started (it is expired in db
 * now, so it is not run); else `timeout` (the job goes on). */
enum aif_apierr late_error(struct aif_db *db, uint64_t id, int stopping,
	    enum aif_apierr timeout);
/* A relay frame (its tag checked) of the answer of sync request p (out of the table;
 * a zero-retention answer, or a small one): RESULT pieces are gathered within
 * server.max_answer_bytes, END answers the request. Returns 1 when p was answered and
 * freed, 0 when it goes on waiting. */
int	completer_relayed(struct api *api, struct parked *p,
	    const struct aif_relay_header *h, const char *payload);
/* Rings this process's own doorbell for job id: the completer looks at its row now
 * (for requests that wait on it without its relay secret: idempotent attaches). */
void	completer_look(struct api *api, uint64_t id);

/* streams.c: parks a streamed request of `kind` (moved on success; -1 when full and
 * the caller keeps rp). relay_secret (AIF_RELAY_SECRET_BYTES, copied) is the job's key
 * material for checking its relay frames; NULL when this request cannot know it (an
 * idempotent attach): then the stream is finished from the job row. */
int	streams_start(struct api *api);
void	streams_stop(struct api *api, int grace_ms);
int	streams_park(struct api *api, uint64_t id, const struct reply *rp,
	    enum aif_kind kind, int include_usage, int64_t deadline_ms,
	    const unsigned char *relay_secret);

/* enqueuer.c: group commit of enqueues (one transaction for concurrent requests,
 * written by one of their threads on the enqueuer's connection). enqueue_job blocks
 * until its job is committed; results as aif_queue_enqueue. */
struct aif_job_new;
int		enqueuer_start(struct api *api);
void		enqueuer_stop(struct api *api, int grace_ms);
enum aif_err	enqueue_job(struct api *api, const struct aif_job_new *job, uint64_t *id,
		    char *public_id, int *handed);

/* wake.c: rings the doorbells of live workers (list cached, refreshed every 2 s):
 * "wake" to one of them in turn, "run" to all, "take" to the one a job was handed to. */
int	wake_start(struct api *api);
void	wake_stop(struct api *api, int grace_ms);
void	wake_workers(struct api *api, struct aif_db *db);	/* "wake": jobs to claim */
void	wake_runners(struct api *api, struct aif_db *db);	/* "run": a run is due */
/* The next live worker in turn to hand a job to: its id, and its doorbell copied into
 * doorbell (cap bytes). 0, or -1 when none is known. */
int	wake_pick(struct api *api, struct aif_db *db, uint64_t *worker_id, char *doorbell,
	    size_t cap);
/* The same among the workers on this host (a Unix doorbell, or a network one at this
 * host's cluster.address): those read this process's run_dir. */
int	wake_pick_local(struct api *api, struct aif_db *db, uint64_t *worker_id,
	    char *doorbell, size_t cap);
/* Rings "take <job_id>" at doorbell (a worker's, from wake_pick), as `bell` (bell_len
 * bytes: the bell with the job, aif_handoff_encode) when not NULL, else or when that
 * is refused as the plain line; 0, or -1 when the worker does not take the bell (gone,
 * or its queue is full). */
int	wake_take(struct api *api, const char *doorbell, uint64_t job_id,
	    const char *bell, size_t bell_len);

/* The seconds after which a worker that has not heartbeat counts as gone. */
#define API_WORKER_STALE_S	30

#endif
