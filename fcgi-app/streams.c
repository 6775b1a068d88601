/* streams.c -- streamed requests ("stream": true). A streamed request is parked like a
 * synchronous one (parked.h), but answered by the stream thread: workers connect to
 * this process's relay socket (ipc/relay_io.h, frames protocol/relay_proto.h) and send
 * BEGIN/CHUNK/END frames, which become OpenAI SSE events written and flushed to the
 * client one by one (`data: {chunk}`, then the usage chunk when asked, then
 * `data: [DONE]`; a failure after the stream started is one `data: {"error":…}` and the
 * stream closes without [DONE]). The job row remains the truth: a stream whose relay
 * went quiet is checked against its row every poll interval and finished from it. A
 * client that goes away is recorded as `client_disconnected`; with
 * server.stream_disconnect = cancel the worker is also told to abort the engine call.
 * Acceptor threads hand new streams over a short queue; only the stream thread puts
 * them in the table, so frames that came first (early notes) are replayed in order. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "parked.h"
#include "queue.h"
#include "relay_io.h"
#include "relay_proto.h"
#include "stream_asm.h"
#include "version.h"

#define CONNS_MAX		256
#define QUIET_MAX		64	/* streams checked against their rows per turn */
#define CLIENT_SNDTIMEO_S	10
#define DEADLINE_CHECK_MS	100	/* streams past their first-byte deadline, checked */

struct streams {
	pthread_mutex_t	 mu;		/* the hand-over queue and stop */
	struct parked	*incoming;	/* parked by acceptors, not in the table yet */
	size_t		 nincoming;
	int		 listen_fd;
	int		 wake[2];	/* self-pipe: a stream came / stop */
	char		 path[AIF_DOORBELL_PATH_MAX];
	struct aif_relay_conn conns[CONNS_MAX];
	pthread_t	 thread;
	int		 started;
	int		 stop;
	int		 grace_ms;
	struct aif_db	*db;
	struct api	*api;
};

/* ---- writing to the client ---- */

static int
client_write(struct parked *w, const char *s, size_t n)
{
	if (w->reply.fcgi == NULL)
		return -1;
	if (FCGX_PutStr(s, (int)n, w->reply.fcgi->out) != (int)n)
		return -1;
	return 0;
}

static int
client_flush(struct parked *w)
{
	if (FCGX_FFlush(w->reply.fcgi->out) != 0 || FCGX_GetError(w->reply.fcgi->out) != 0)
		return -1;
	return 0;
}

static int
send_headers(struct parked *w)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
	    "Status: 200 OK\r\n"
	    "Content-Type: text/event-stream; charset=utf-8\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "Server: " AIF_SERVER_TOKEN "\r\n"
	    "x-request-id: %s\r\n"
	    "x-aif-job-id: %s\r\n%s\r\n", w->reply.request_id, w->reply.job_id,
	    w->reply.headers);

	w->headers_sent = 1;
	aif_metrics_add("aif_requests_total", "route=\"stream\",status=\"200\"", 1);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	return client_write(w, head, (size_t)n);
}

static int
send_event(struct parked *w, const char *json, size_t len)
{
	if (!w->headers_sent && send_headers(w) != 0)
		return -1;
	if (client_write(w, "data: ", 6) != 0 || client_write(w, json, len) != 0 ||
	    client_write(w, "\n\n", 2) != 0)
		return -1;
	return client_flush(w);
}

/* Sends a JSON value (borrowed) as one event; -1 when the client is gone. */
static int
send_json(struct parked *w, const json_t *v)
{
	char *s = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
	int rc = s != NULL ? send_event(w, s, strlen(s)) : -1;

	free(s);
	return rc;
}

/* Ends a stream that went well: the usage chunk when asked, then [DONE]. Frees w. */
static void
finish_ok(struct parked *w, const char *id, json_int_t created, const char *model,
    json_int_t prompt, json_int_t completion)
{
	int ok = 1;

	if (w->include_usage) {
		json_t *uc = aif_stream_usage_chunk(w->kind, id, created, model, prompt,
		    completion);
		ok = send_json(w, uc) == 0;
		json_decref(uc);
	}
	if (ok && !w->headers_sent)
		ok = send_headers(w) == 0;
	if (ok) {
		(void)client_write(w, "data: [DONE]\n\n", 14);
		(void)client_flush(w);
	}
	if (w->reply.fcgi != NULL) {
		FCGX_Finish_r(w->reply.fcgi);
		free(w->reply.fcgi);
	}
	free(w);
}

/* Ends a stream with an error: before the headers an ordinary HTTP error, after them
 * one error event (no [DONE]). Frees w. */
static void
finish_error(struct parked *w, const struct aif_error *e)
{
	if (!w->headers_sent) {
		reply_error(&w->reply, e);
		free(w);
		return;
	}
	char *s = aif_error_render(e, AIF_SURFACE_OPENAI);
	if (s != NULL) {
		(void)send_event(w, s, strlen(s));
		free(s);
	}
	FCGX_Finish_r(w->reply.fcgi);
	free(w->reply.fcgi);
	free(w);
}

/* An error of the table with the stream's job id as its argument(s). */
static void
finish_refused(struct parked *w, enum aif_apierr e)
{
	struct aif_error err;

	if (aif_apierr_nargs(e) == 2)
		AIF_ERROR(&err, e, NULL, w->reply.job_id, w->reply.job_id);
	else
		AIF_ERROR(&err, e, NULL, w->reply.job_id);
	finish_error(w, &err);
}

/* ---- parking ---- */

int
streams_park(struct api *api, uint64_t id, const struct reply *rp, enum aif_kind kind,
    int include_usage, int64_t deadline_ms)
{
	struct streams *S = api->streams;
	struct parked *w = calloc(1, sizeof(*w));
	struct timeval tv = { CLIENT_SNDTIMEO_S, 0 };
	int full;

	if (w == NULL)
		return -1;
	w->id = id;
	w->stream = 1;
	w->reply = *rp;
	w->kind = kind;
	w->include_usage = include_usage;
	w->deadline_ms = deadline_ms;
	w->seen_ms = aif_now_ms();
	w->conn = -1;
	/* a client that stops reading must not stall every other stream */
	(void)setsockopt(rp->fcgi->ipcFd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&S->mu);
	full = parked_count(api->parked, 1) + S->nincoming >=
	    (size_t)api->cfg->server.max_waiting;
	if (!full) {
		w->next = S->incoming;
		S->incoming = w;
		S->nincoming++;
	}
	pthread_mutex_unlock(&S->mu);
	if (full) {
		free(w);
		return -1;
	}
	(void)!write(S->wake[1], "p", 1);
	return 0;
}

/* ---- frames ---- */

static void
client_gone(struct streams *S, struct parked *w)
{
	int cancel = S->api->cfg->server.stream_disconnect_cancel;

	aif_info("msg=\"stream client disconnected\" job=%s policy=%s", w->reply.job_id,
	    cancel ? "cancel" : "finish");
	(void)aif_queue_event(S->db, w->id, "client_disconnected", cancel ?
	    "client left the stream; cancelling the engine call" :
	    "client left the stream; the job finishes and its result is stored");
	if (cancel && w->conn >= 0 && S->conns[w->conn].fd >= 0)
		(void)aif_relay_send(&S->conns[w->conn], w->id, AIF_RELAY_CANCEL, NULL, 0);
	if (w->reply.fcgi != NULL) {
		FCGX_Finish_r(w->reply.fcgi);
		free(w->reply.fcgi);
	}
	free(w);
}

/* Handles END: the job is committed. Frees w. */
static void
handle_end(struct parked *w, const char *payload, size_t len)
{
	json_t *end = json_loadb(payload, len, 0, NULL);
	json_int_t status = json_integer_value(json_object_get(end, "status"));

	if (status == 200) {
		json_t *u = json_object_get(end, "usage");
		finish_ok(w, json_string_value(json_object_get(end, "id")) ?: "",
		    json_integer_value(json_object_get(end, "created")),
		    json_string_value(json_object_get(end, "model")) ?: "",
		    json_integer_value(json_object_get(u, "prompt_tokens")),
		    json_integer_value(json_object_get(u, "completion_tokens")));
	} else {
		json_t *e = json_object_get(end, "error");
		struct aif_error err;
		aif_error_set(&err, status >= 400 ? (int)status : 502,
		    json_string_value(json_object_get(e, "type")) ?:
		    aif_apierr_type(AIF_E_JOB_FAILED),
		    json_string_value(json_object_get(e, "code")), NULL, "%s",
		    json_string_value(json_object_get(e, "message")) ?: "The job failed.");
		finish_error(w, &err);
	}
	json_decref(end);
}

/* Applies one frame to its stream (taken out of the table by the caller). Returns 1
 * when the stream is finished (freed), 0 when it stays. */
static int
apply(struct streams *S, struct parked *w, int conn, uint32_t type, const char *payload,
    size_t len)
{
	w->seen_ms = aif_now_ms();
	if (conn >= 0)
		w->conn = conn;
	switch (type) {
	case AIF_RELAY_BEGIN: {
		json_t *b = json_loadb(payload, len, 0, NULL);
		json_int_t attempt = json_integer_value(json_object_get(b, "attempt"));
		json_decref(b);
		if (attempt > 1 && w->chunks > 0) {
			finish_refused(w, AIF_E_STREAM_RETRIED);
			return 1;
		}
		return 0;
	}
	case AIF_RELAY_CHUNK:
		if (send_event(w, payload, len) != 0) {
			client_gone(S, w);
			return 1;
		}
		w->chunks++;
		return 0;
	case AIF_RELAY_END:
		handle_end(w, payload, len);
		return 1;
	default:
		return 0;
	}
}

/* The relay connection a frame came on, for apply (the frame callback's argument). */
struct frame_ctx {
	struct streams	*S;
	int		 conn;
};

static void
on_frame(void *arg, uint64_t id, uint32_t type, const char *payload, uint32_t len)
{
	struct frame_ctx *f = arg;
	struct parked *w = parked_take(f->S->api->parked, id, 1);

	if (w == NULL) {
		parked_early_frame(f->S->api->parked, id, type, payload, len);
		return;
	}
	if (!apply(f->S, w, f->conn, type, payload, len))
		parked_return(f->S->api->parked, w);
}

/* Moves the streams acceptors parked into the table, replaying frames that came
 * before them. */
static void
take_incoming(struct streams *S)
{
	struct parked *w;

	pthread_mutex_lock(&S->mu);
	w = S->incoming;
	S->incoming = NULL;
	S->nincoming = 0;
	pthread_mutex_unlock(&S->mu);
	while (w != NULL) {
		struct parked *next = w->next;
		struct early_frame *frames = NULL;
		int ended = 0;
		w->next = NULL;
		(void)parked_put(S->api->parked, w, SIZE_MAX, NULL, &frames);
		for (struct early_frame *f = frames; f != NULL && !ended; f = f->next) {
			struct parked *x = parked_take(S->api->parked, w->id, 1);
			if (x == NULL)
				break;
			ended = apply(S, x, -1, f->type, f->payload, f->len);
			if (!ended)
				parked_return(S->api->parked, x);
		}
		parked_frames_free(frames);
		w = next;
	}
}

/* ---- fallbacks: deadlines and streams whose relay went quiet ---- */

/* Builds the stream of a finished job from its row (no chunk was relayed). */
static void
replay_from_row(struct parked *w, const struct aif_job_view *v)
{
	json_t *full = v->response_body ? json_loads(v->response_body, 0, NULL) : NULL;
	json_t *choices = json_object_get(full, "choices"), *ch;
	const char *id = json_string_value(json_object_get(full, "id")) ?: v->public_id;
	json_int_t created = json_integer_value(json_object_get(full, "created"));
	json_t *usage = json_object_get(full, "usage");
	size_t i;
	int ok = 1;

	json_array_foreach(choices, i, ch) {
		json_t *chunk;
		if (w->kind == AIF_KIND_CHAT)
			chunk = json_pack("{s:s,s:s,s:I,s:s,s:[{s:O,s:{s:s,s:O},s:n,s:O}]}",
			    "id", id, "object", "chat.completion.chunk", "created", created,
			    "model", v->model, "choices", "index", json_object_get(ch, "index"),
			    "delta", "role", "assistant", "content",
			    json_object_get(json_object_get(ch, "message"), "content"),
			    "logprobs", "finish_reason", json_object_get(ch, "finish_reason"));
		else
			chunk = json_pack("{s:s,s:s,s:I,s:s,s:[{s:O,s:O,s:n,s:O}]}",
			    "id", id, "object", "text_completion", "created", created,
			    "model", v->model, "choices", "text", json_object_get(ch, "text"),
			    "index", json_object_get(ch, "index"), "logprobs",
			    "finish_reason", json_object_get(ch, "finish_reason"));
		ok = send_json(w, chunk) == 0;
		json_decref(chunk);
		if (!ok)
			break;
	}
	if (ok) {
		finish_ok(w, id, created, v->model,
		    json_integer_value(json_object_get(usage, "prompt_tokens")),
		    json_integer_value(json_object_get(usage, "completion_tokens")));
	} else {
		if (w->reply.fcgi != NULL) {
			FCGX_Finish_r(w->reply.fcgi);
			free(w->reply.fcgi);
		}
		free(w);
	}
	json_decref(full);
}

/* A quiet stream whose job row is known (v): finished from the row. Frees w. */
static void
finish_from_row(struct parked *w, const struct aif_job_view *v)
{
	struct aif_error e;

	if (strcmp(v->state, "succeeded") == 0 && w->chunks == 0) {
		replay_from_row(w, v);
	} else if (strcmp(v->state, "succeeded") == 0) {
		finish_refused(w, AIF_E_STREAM_INTERRUPTED);
	} else {
		aif_error_set(&e, v->http_status >= 400 ? v->http_status : 502,
		    v->error_type[0] ? v->error_type : aif_apierr_type(AIF_E_JOB_FAILED),
		    v->error_code[0] ? v->error_code : NULL, NULL, "%s",
		    v->error_message[0] ? v->error_message : aif_apierr_message(AIF_E_JOB_FAILED));
		finish_error(w, &e);
	}
}

static int
is_quiet(const struct parked *p, void *arg)
{
	const int64_t *before = arg;

	return p->seen_ms <= *before;
}

static void
check_quiet(struct streams *S, int64_t now, int poll_ms)
{
	struct parked *quiet[QUIET_MAX];
	uint64_t ids[QUIET_MAX];
	struct aif_job_view *views = NULL;
	int64_t before = now - 2 * poll_ms;
	size_t n, nv = 0;

	n = parked_take_if(S->api->parked, 1, is_quiet, &before, quiet, QUIET_MAX);
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		ids[i] = quiet[i]->id;
	(void)aif_jobs_final_views(S->db, ids, n, &views, &nv);
	for (size_t i = 0; i < n; i++) {
		const struct aif_job_view *v = NULL;
		quiet[i]->seen_ms = now;
		for (size_t k = 0; k < nv; k++)
			if (views[k].id == quiet[i]->id)
				v = &views[k];
		if (v == NULL)
			parked_return(S->api->parked, quiet[i]);
		else
			finish_from_row(quiet[i], v);
	}
	aif_jobs_views_free(views, nv);
}

static int
not_started_by(const struct parked *p, void *arg)
{
	return !p->headers_sent && p->deadline_ms <= *(const int64_t *)arg;
}

static int
any(const struct parked *p, void *arg)
{
	(void)p;
	(void)arg;
	return 1;
}

/* Streams whose first byte did not come in time: 504 (or 503 when stopping). */
static void
check_deadlines(struct streams *S, int64_t now, int stopping)
{
	struct parked *late[QUIET_MAX];
	size_t n;

	while ((n = parked_take_if(S->api->parked, 1, stopping ? any : not_started_by, &now,
	    late, QUIET_MAX)) > 0)
		for (size_t i = 0; i < n; i++)
			finish_refused(late[i], stopping ? AIF_E_GATEWAY_RESTARTING :
			    AIF_E_STREAM_START_TIMEOUT);
}

/* ---- the thread ---- */

static void
accept_conn(struct streams *S)
{
	struct aif_relay_conn c;

	if (aif_relay_accept(S->listen_fd, &c) != AIF_OK)
		return;
	for (int i = 0; i < CONNS_MAX; i++)
		if (S->conns[i].fd < 0) {
			S->conns[i] = c;
			return;
		}
	aif_relay_close(&c);	/* full */
}

static void *
stream_main(void *arg)
{
	struct streams *S = arg;
	const int poll_ms = S->api->cfg->server.poll_interval_ms;
	int64_t next_check = aif_now_ms() + poll_ms, next_deadlines = 0, stop_deadline = 0;

	for (;;) {
		struct pollfd pfd[2 + CONNS_MAX];
		int map[2 + CONNS_MAX], n = 0, stop;
		int64_t now;

		pfd[n].fd = S->listen_fd;
		pfd[n].events = POLLIN;
		map[n++] = -1;
		pfd[n].fd = S->wake[0];
		pfd[n].events = POLLIN;
		map[n++] = -2;
		for (int i = 0; i < CONNS_MAX; i++) {
			if (S->conns[i].fd < 0)
				continue;
			pfd[n].fd = S->conns[i].fd;
			pfd[n].events = POLLIN;
			map[n++] = i;
		}
		(void)poll(pfd, (nfds_t)n, 200);
		for (int k = 0; k < n; k++) {
			if (pfd[k].revents == 0)
				continue;
			if (map[k] == -1) {
				accept_conn(S);
			} else if (map[k] == -2) {
				char buf[256];
				(void)!read(S->wake[0], buf, sizeof(buf));
			} else {
				struct frame_ctx f = { S, map[k] };
				(void)aif_relay_recv(&S->conns[map[k]], on_frame, &f);
			}
		}
		take_incoming(S);
		now = aif_now_ms();
		if (now >= next_deadlines) {	/* a walk of the table: not per chunk */
			next_deadlines = now + DEADLINE_CHECK_MS;
			check_deadlines(S, now, 0);
		}
		if (now >= next_check) {
			next_check = now + poll_ms;
			check_quiet(S, now, poll_ms);
		}
		pthread_mutex_lock(&S->mu);
		stop = S->stop;
		pthread_mutex_unlock(&S->mu);
		if (!stop)
			continue;
		if (stop_deadline == 0)
			stop_deadline = now + S->grace_ms;
		if (parked_count(S->api->parked, 1) == 0)
			break;
		if (now >= stop_deadline) {
			check_deadlines(S, now, 1);
			break;
		}
	}
	return NULL;
}

static void
streams_free(struct streams *S)
{
	for (int i = 0; i < CONNS_MAX; i++)
		aif_relay_close(&S->conns[i]);
	if (S->listen_fd >= 0) {
		close(S->listen_fd);
		(void)unlink(S->path);
	}
	if (S->wake[0] >= 0)
		close(S->wake[0]);
	if (S->wake[1] >= 0)
		close(S->wake[1]);
	aif_db_close(S->db);
	pthread_mutex_destroy(&S->mu);
	free(S);
}

int
streams_start(struct api *api)
{
	struct streams *S = calloc(1, sizeof(*S));

	if (S == NULL)
		return -1;
	pthread_mutex_init(&S->mu, NULL);
	S->api = api;
	S->listen_fd = -1;
	S->wake[0] = S->wake[1] = -1;
	for (int i = 0; i < CONNS_MAX; i++)
		aif_relay_init(&S->conns[i]);
	api->streams = S;
	if (aif_relay_path(api->doorbell_path, S->path, sizeof(S->path)) != 0 ||
	    aif_relay_listen(S->path, &S->listen_fd) != AIF_OK ||
	    pipe2(S->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		aif_error("msg=\"cannot open the stream relay socket\" path=%s", S->path);
		goto fail;
	}
	(void)aif_db_open(api->cfg, &S->db);
	if (S->db == NULL || pthread_create(&S->thread, NULL, stream_main, S) != 0)
		goto fail;
	S->started = 1;
	return 0;
fail:
	streams_free(S);
	api->streams = NULL;
	return -1;
}

void
streams_stop(struct api *api, int grace_ms)
{
	struct streams *S = api->streams;

	if (S == NULL)
		return;
	pthread_mutex_lock(&S->mu);
	S->stop = 1;
	S->grace_ms = grace_ms;
	pthread_mutex_unlock(&S->mu);
	(void)!write(S->wake[1], "s", 1);
	if (S->started)
		pthread_join(S->thread, NULL);
	/* streams handed over after the thread's last turn */
	take_incoming(S);
	check_deadlines(S, aif_now_ms(), 1);
	streams_free(S);
	api->streams = NULL;
}
