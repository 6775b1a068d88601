/* streams.c -- streamed requests ("stream": true). A streamed request is parked like a
 * synchronous one (parked.h), but answered by the stream thread: workers connect to
 * this process's relay socket (ipc/relay_io.h, frames protocol/relay_proto.h) and send
 * BEGIN/CHUNK/END frames, each tagged with the key of its attempt (derived from the
 * job's random relay secret, which only this request and the claiming worker know): a
 * frame with a bad tag is dropped. Frames become OpenAI SSE events (`data: {chunk}`,
 * then the usage chunk when asked, then `data: [DONE]`; a failure after the stream
 * started is one `data: {"error":…}` and the stream closes without [DONE]). A stream
 * parked without the secret (an idempotent attach to a job another request started)
 * can check no frame: it is finished from its job's row, looked at once it is parked,
 * when an END of its job passes, and every other poll interval.
 *
 * Output to clients never blocks: every stream owns a bounded queue of FastCGI
 * records (fcgi_out.h) written when its socket takes them. A client that reads slower
 * than the engine writes gets flow control: past STREAM_PAUSE_AT unread bytes the
 * worker is told to PAUSE reading the engine, and to RESUME below STREAM_RESUME_AT. A
 * client that stops reading costs only its own queue; past STREAM_PENDING_MAX bytes,
 * or STREAM_STALL_MS without progress, its stream is dropped like a client that left.
 * A finished stream whose last bytes still wait is kept on a closing list until they
 * are written. Only the sockets that poll says take bytes are written to.
 *
 * The relay also carries the answers of synchronous zero-retention jobs (RESULT
 * pieces, then END), which the database never holds: the stream thread hands them to
 * their waiting requests (completer_relayed).
 *
 * The job row remains the truth: a stream whose relay went quiet is checked against its
 * row every poll interval and finished from it. A client that goes away is recorded as
 * `client_disconnected`; with server.stream_disconnect = cancel the worker is also told
 * (a tagged CANCEL frame) to abort the engine call. Acceptor threads hand new streams
 * over a short queue; only the stream thread puts them in the table, takes them out and
 * frees them, so it looks at them in place, and frames that came first (early notes)
 * are replayed in order. */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "fcgi_out.h"
#include "log.h"
#include "metrics.h"
#include "parked.h"
#include "passthru.h"
#include "queue.h"
#include "relay_io.h"
#include "relay_proto.h"
#include "stream_asm.h"
#include "unix_addr.h"

#define CONNS_MAX		256
#define QUIET_MAX		64	/* streams checked against their rows per turn */
#define DEADLINE_CHECK_MS	100	/* streams past their first-byte deadline, checked */
#define STREAM_PAUSE_AT		(1u << 20)	/* unread bytes that pause the engine */
#define STREAM_RESUME_AT	(256u << 10)	/* and resume it */
#define STREAM_PENDING_MAX	(16u << 20)	/* unread bytes one client may leave at most
						   (frames in flight when it paused) */
#define STREAM_STALL_MS		30000	/* a client that reads nothing for this long */
#define WAITING_MAX		4096	/* streams polled for their output at once */
#define SIBLINGS_MAX		8	/* parked streams of one job looked at per frame */

/* A finished stream whose last bytes wait for its client. */
struct closing {
	struct parked	*w;
	struct closing	*next;
};

struct streams {
	pthread_mutex_t	 mu;		/* the hand-over queue and stop */
	struct parked	*incoming;	/* parked by acceptors, not in the table yet */
	size_t		 nincoming;
	int		 listen_fd;
	struct aif_unix_file listen_file;	/* removed only while ours */
	int		 wake[2];	/* self-pipe: a stream came / stop */
	char		 path[AIF_DOORBELL_PATH_MAX];
	struct aif_relay_conn conns[CONNS_MAX];
	uint32_t	 conn_gen[CONNS_MAX];	/* bumped each time a place is given to a
						   new connection (parked.conn_gen) */
	pthread_t	 thread;
	int		 started;
	int		 stop;
	int		 grace_ms;
	struct aif_db	*db;
	struct api	*api;
	/* the stream thread's own */
	struct parked	**waiting;	/* streams whose output waits (w->wait_ix) */
	size_t		 nwaiting, capwaiting;
	struct closing	*closing;
	int		 check_soon;	/* look at due streams' rows on this turn */
};

/* ---- writing to the client ---- */

/* Takes w off the list of streams whose output waits. */
static void
unwait(struct streams *S, struct parked *w)
{
	size_t i = w->wait_ix;

	if (!w->blocked)
		return;
	S->waiting[i] = S->waiting[--S->nwaiting];
	S->waiting[i]->wait_ix = i;
	w->blocked = 0;
}

/* w is done: out of the table (when it is in) and off the waiting list. */
static void
unpark(struct streams *S, struct parked *w)
{
	(void)parked_remove(S->api->parked, w);
	unwait(S, w);
}

/* Frees a stream that is done, with its connection. */
static void
release(struct streams *S, struct parked *w)
{
	unpark(S, w);
	reply_span_end(&w->reply);
	fcgi_out_close(&w->out, w->reply.fcgi);
	free(w->reply.fcgi);
	parked_free(w);
}

/* Notes that w's output waits (the stream thread polls its socket for POLLOUT). */
static void
note_waiting(struct streams *S, struct parked *w)
{
	if (w->blocked || fcgi_out_pending(&w->out) == 0)
		return;
	if (S->nwaiting == S->capwaiting) {
		size_t cap = S->capwaiting ? 2 * S->capwaiting : 64;
		struct parked **p = cap <= WAITING_MAX ?
		    realloc(S->waiting, cap * sizeof(*p)) : NULL;
		if (p == NULL)
			return;		/* polled again when the next frame comes */
		S->waiting = p;
		S->capwaiting = cap;
	}
	w->wait_ix = S->nwaiting;
	S->waiting[S->nwaiting++] = w;
	w->blocked = 1;
}

/* Sends a control frame (PAUSE, RESUME, CANCEL) for w's current attempt to the worker
 * that streams it; 0, or -1 when there is no attempt or connection to tell. */
static int
tell_worker(struct streams *S, struct parked *w, uint32_t type)
{
	if (w->conn < 0 || S->conns[w->conn].fd < 0 || w->attempt == 0 ||
	    w->key_attempt != w->attempt || S->conn_gen[w->conn] != w->conn_gen)
		return -1;	/* (or its place was given to another connection since) */
	return aif_relay_send(&S->conns[w->conn], w->id, type, w->attempt, w->key, NULL, 0);
}

/* Flow control: the engine is paused while the client has STREAM_PAUSE_AT bytes or
 * more unread, and resumed once it is down to STREAM_RESUME_AT. */
static void
flow(struct streams *S, struct parked *w)
{
	size_t unread = fcgi_out_pending(&w->out);

	if (!w->paused && unread >= STREAM_PAUSE_AT && tell_worker(S, w, AIF_RELAY_PAUSE) == 0)
		w->paused = 1;
	else if (w->paused && unread <= STREAM_RESUME_AT &&
	    tell_worker(S, w, AIF_RELAY_RESUME) == 0)
		w->paused = 0;
}

/* Queues the n pieces of iov for the client: 0, or -1 when the client does not keep up
 * (its queue is full) or its connection failed. */
static int
client_writev(struct streams *S, struct parked *w, const struct iovec *iov, int n)
{
	if (fcgi_out_writev(&w->out, iov, n) != 0)
		return -1;
	note_waiting(S, w);
	flow(S, w);
	return 0;
}

static int
client_write(struct streams *S, struct parked *w, const char *s, size_t n)
{
	struct iovec v = { .iov_base = (void *)(uintptr_t)s, .iov_len = n };

	return client_writev(S, w, &v, 1);
}

static int
send_headers(struct streams *S, struct parked *w)
{
	char head[1024];
	int n = reply_format_head(&w->reply, 200, "text/event-stream; charset=utf-8",
	    "no-cache", "X-Accel-Buffering: no\r\n", REPLY_UNSIZED, head, sizeof(head));

	w->headers_sent = 1;
	w->reply.span.status = 200;
	aif_metrics_add("aif_requests_total", "route=\"stream\",status=\"200\"", 1);
	if (n < 0)
		return -1;
	return client_write(S, w, head, (size_t)n);
}

/* One SSE event `data: <json>` (json: len bytes), gathered into its record. */
static int
send_event(struct streams *S, struct parked *w, const char *json, size_t len)
{
	struct iovec ev[] = {
		{ .iov_base = "data: ", .iov_len = 6 },
		{ .iov_base = (void *)(uintptr_t)json, .iov_len = len },
		{ .iov_base = "\n\n", .iov_len = 2 },
	};

	if (!w->headers_sent && send_headers(S, w) != 0)
		return -1;
	return client_writev(S, w, ev, 3);
}

/* One named SSE event `event: <name>` + `data: <json>` (Anthropic's streams). */
static int
send_named(struct streams *S, struct parked *w, const char *name, const char *json,
    size_t len)
{
	struct iovec ev[] = {
		{ .iov_base = "event: ", .iov_len = 7 },
		{ .iov_base = (void *)(uintptr_t)name, .iov_len = strlen(name) },
		{ .iov_base = "\ndata: ", .iov_len = 7 },
		{ .iov_base = (void *)(uintptr_t)json, .iov_len = len },
		{ .iov_base = "\n\n", .iov_len = 2 },
	};

	if (!w->headers_sent && send_headers(S, w) != 0)
		return -1;
	return client_writev(S, w, ev, 5);
}

/* The stream a translated surface writes to (aif_sse_emit_fn's argument). */
struct emit_ctx {
	struct streams	*S;
	struct parked	*w;
};

static int
emit_named(void *arg, const char *event, const json_t *data)
{
	struct emit_ctx *x = arg;
	char *s = json_dumps(data, JSON_COMPACT);
	int rc = s != NULL ? send_named(x->S, x->w, event, s, strlen(s)) : -1;

	free(s);
	return rc;
}

/* One event of a surface an engine serves itself (len bytes of JSON, relayed as the
 * engine sent it), named by its type as the surface names its events; -1 when the
 * client is gone or the event has no type (the worker relays none such). */
static int
send_native(struct streams *S, struct parked *w, const char *payload, size_t len)
{
	json_t *ev = json_loadb(payload, len, 0, NULL);
	const char *t = json_string_value(json_object_get(ev, "type"));
	int rc = t != NULL && strlen(t) < 64 ? send_named(S, w, t, payload, len) : -1;

	json_decref(ev);
	return rc;
}

/* One chat completion chunk (len bytes of JSON) to the client, in its surface's
 * shape; -1 when the client is gone. */
static int
send_chunk(struct streams *S, struct parked *w, const char *payload, size_t len)
{
	struct emit_ctx x = { S, w };

	if (w->reply.native)
		return send_native(S, w, payload, len);
	if (w->reply.surface == AIF_SURFACE_ANTHROPIC)
		return aif_anth_stream_chunk(&w->anth, payload, len, "", emit_named, &x);
	if (w->resp != NULL)
		return aif_resp_stream_chunk(w->resp, payload, len, emit_named, &x);
	return send_event(S, w, payload, len);
}

/* Sends a JSON value (borrowed) as one event; -1 when the client is gone. */
static int
send_json(struct streams *S, struct parked *w, const json_t *v)
{
	char *s = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
	int rc = s != NULL ? send_event(S, w, s, strlen(s)) : -1;

	free(s);
	return rc;
}

/* Ends the response of w: queues the end of the FastCGI request; w is freed now when
 * everything was written, else once it is. */
static void
finish(struct streams *S, struct parked *w)
{
	struct closing *c;

	unpark(S, w);
	if (fcgi_out_end(&w->out) != 0 || fcgi_out_pending(&w->out) == 0 ||
	    (c = malloc(sizeof(*c))) == NULL) {
		release(S, w);
		return;
	}
	c->w = w;
	c->next = S->closing;
	S->closing = c;
}

/* Ends a stream that went well: the usage chunk when asked, then [DONE]. */
static void
finish_ok(struct streams *S, struct parked *w, const char *id, json_int_t created,
    const char *model, json_int_t prompt, json_int_t completion)
{
	struct emit_ctx x = { S, w };
	int ok = 1;

	if (w->reply.native) {	/* the engine's events said everything */
		if (!w->headers_sent)
			(void)send_headers(S, w);
		finish(S, w);
		return;
	}
	if (w->reply.surface == AIF_SURFACE_ANTHROPIC || w->resp != NULL) {
		if (w->resp != NULL)
			(void)aif_resp_stream_end(w->resp, prompt, completion, emit_named, &x);
		else
			(void)aif_anth_stream_end(&w->anth, model, prompt, completion,
			    emit_named, &x);
		finish(S, w);
		return;
	}
	if (w->include_usage) {
		json_t *uc = aif_stream_usage_chunk(w->kind, id, created, model, prompt,
		    completion);
		ok = send_json(S, w, uc) == 0;
		json_decref(uc);
	}
	if (ok && !w->headers_sent)
		ok = send_headers(S, w) == 0;
	if (ok)
		(void)client_write(S, w, "data: [DONE]\n\n", 14);
	finish(S, w);
}

/* Ends a stream with an error: before the headers an ordinary HTTP error, after them
 * one error event (no [DONE]). */
static void
finish_error(struct streams *S, struct parked *w, const struct aif_error *e)
{
	char *s;
	size_t n;

	if (!w->headers_sent) {
		w->reply.span.status = e->status;
		if ((s = reply_render_error(&w->reply, e, &n)) != NULL)
			(void)client_write(S, w, s, n);
	} else if (w->resp != NULL || (w->reply.native &&
	    w->reply.surface == AIF_SURFACE_RESPONSES)) {
		json_t *ev = aif_resp_stream_error(w->resp, e);
		s = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
		json_decref(ev);
		if (s != NULL)
			(void)send_named(S, w, "error", s, strlen(s));
	} else if ((s = aif_error_render(e, w->reply.surface)) != NULL) {
		if (w->reply.surface == AIF_SURFACE_ANTHROPIC)
			(void)send_named(S, w, "error", s, strlen(s));
		else
			(void)send_event(S, w, s, strlen(s));
	}
	free(s);
	finish(S, w);
}

/* An error of the table with the stream's job id as its argument(s). */
static void
finish_refused(struct streams *S, struct parked *w, enum aif_apierr e)
{
	struct aif_error err;

	reply_job_refusal(&w->reply, e, &err);
	finish_error(S, w, &err);
}

/* ---- parking ---- */

int
streams_park(struct api *api, uint64_t id, const struct reply *rp, enum aif_kind kind,
    int include_usage, int64_t deadline_ms, const unsigned char *relay_secret)
{
	struct streams *S = api->streams;
	struct parked *w = parked_new(id, 1, rp, deadline_ms, relay_secret);
	int rc = -1;

	if (w == NULL)
		return -1;
	w->kind = kind;
	w->include_usage = include_usage;
	aif_anth_stream_init(&w->anth, rp->job_id);
	if (rp->surface == AIF_SURFACE_RESPONSES && rp->meta != NULL && !rp->native) {
		if ((w->resp = calloc(1, sizeof(*w->resp))) == NULL) {
			parked_free(w);
			return -1;
		}
		aif_resp_stream_init(w->resp, json_deep_copy(rp->meta));
	}
	if (relay_secret == NULL)
		w->seen_ms = 0;		/* no frame for it: its row is due at once */
	pthread_mutex_lock(&S->mu);
	/* the limit first: the caller answers a refused request, blocking as usual; from
	   here on the client's connection is written without blocking */
	if (parked_count(api->parked, 1) + S->nincoming <
	    (size_t)api->cfg->server.max_waiting &&
	    fcgi_out_init(&w->out, rp->fcgi, STREAM_PENDING_MAX) == 0) {
		w->next = S->incoming;
		S->incoming = w;
		S->nincoming++;
		rc = 0;
	}
	pthread_mutex_unlock(&S->mu);
	if (rc != 0) {
		parked_free(w);
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
	if (cancel)
		(void)tell_worker(S, w, AIF_RELAY_CANCEL);
	else if (w->paused)	/* nobody reads now: the job finishes at full speed */
		(void)tell_worker(S, w, AIF_RELAY_RESUME);
	release(S, w);
}

/* Handles END: the job is committed. */
static void
handle_end(struct streams *S, struct parked *w, const char *payload, size_t len)
{
	struct aif_relay_end end;

	if (aif_relay_end_parse(payload, len, &end) != 0)
		aif_warn("msg=\"relay END that is no END; the stream ends in an error\" job=%"
		    PRIu64, w->id);
	if (end.status == 200 && end.chunks >= 0 && end.chunks != w->chunks) {
		/* frames were lost on the way (a relay connection that closed and opened
		   again, notes dropped): the client must not take the rest for whole */
		aif_warn("msg=\"relay lost chunks of a stream; it ends in an error\" job=%"
		    PRIu64 " relayed=%" PRId64 " applied=%" PRId64, w->id, end.chunks,
		    (int64_t)w->chunks);
		finish_refused(S, w, AIF_E_STREAM_INTERRUPTED);
	} else if (end.status == 200)
		finish_ok(S, w, end.id, end.created, end.model, end.prompt_tokens,
		    end.completion_tokens);
	else
		finish_error(S, w, &end.error);
}

/* Applies one frame (its tag checked) to stream w. Returns 1 when w is finished (no
 * longer the caller's), 0 when it goes on. */
static int
apply(struct streams *S, struct parked *w, int conn, const struct aif_relay_header *h,
    const char *payload)
{
	w->seen_ms = aif_now_ms();
	if (conn >= 0) {
		w->conn = conn;
		w->conn_gen = S->conn_gen[conn];
	}
	switch (h->type) {
	case AIF_RELAY_BEGIN:
		if (h->attempt > 1 && w->chunks > 0) {
			finish_refused(S, w, AIF_E_STREAM_RETRIED);
			return 1;
		}
		w->attempt = h->attempt;
		return 0;
	case AIF_RELAY_CHUNK:
		if (h->attempt < w->attempt)
			return 0;	/* a late frame of an attempt given up */
		if (send_chunk(S, w, payload, h->len) != 0) {
			client_gone(S, w);
			return 1;
		}
		w->chunks++;
		return 0;
	case AIF_RELAY_END:
		handle_end(S, w, payload, h->len);
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

/* A frame goes to the request that can check it: the stream of its job that holds the
 * relay secret, else the sync request waiting for its zero-retention answer. One that
 * nobody parked can check is kept as an early note (its request may come yet). An END
 * also has the streams that cannot check it (attaches) look at their job's row. */
static void
on_frame(void *arg, const struct aif_relay_frame *f)
{
	struct frame_ctx *x = arg;
	struct parked_table *t = x->S->api->parked;
	struct parked *ws[SIBLINGS_MAX], *p;
	size_t n = parked_find(t, f->h.job, 1, ws, SIBLINGS_MAX);

	for (size_t i = 0; f->h.type == AIF_RELAY_END && i < n; i++)
		if (!ws[i]->has_secret) {
			ws[i]->seen_ms = 0;
			x->S->check_soon = 1;
		}
	if (n > 0 && ws[0]->has_secret) {
		if (parked_check_frame(ws[0], &f->h, f->payload) == PARKED_FRAME_OK)
			(void)apply(x->S, ws[0], x->conn, &f->h, f->payload);
		return;
	}
	if (n == 0 && (f->h.type == AIF_RELAY_RESULT || f->h.type == AIF_RELAY_END) &&
	    (p = parked_take(t, f->h.job, 0)) != NULL) {
		if (p->has_secret) {
			if (parked_check_frame(p, &f->h, f->payload) != PARKED_FRAME_OK ||
			    !completer_relayed(x->S->api, p, &f->h, f->payload)) {
				parked_return(t, p);
				if (f->h.type == AIF_RELAY_END)	/* a piece was lost */
					completer_look(x->S->api, f->h.job);
			} else if (parked_find(t, f->h.job, 0, ws, 1) > 0)
				completer_look(x->S->api, f->h.job);	/* an attach waits too:
									   it reads the row */
			return;
		}
		parked_return(t, p);
	}
	parked_early_frame(t, &f->h, f->payload);
}

/* An early frame of stream w, before w goes into the table (parked_put_replay). */
static int
replay(struct parked *w, const struct early_frame *f, void *arg)
{
	if (parked_check_frame(w, &f->h, f->payload) != PARKED_FRAME_OK)
		return 0;
	return apply(arg, w, -1, &f->h, f->payload);
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
		w->next = NULL;
		if (!w->has_secret)
			S->check_soon = 1;
		(void)parked_put_replay(S->api->parked, w, SIZE_MAX, replay, S, NULL);
		w = next;
	}
}

/* ---- fallbacks: deadlines and streams whose relay went quiet ---- */

/* The one delta that carries a whole chat message (borrowed): its role, content and
 * tool calls, each tool call with the "index" a delta names it by. New reference. */
static json_t *
delta_of(const json_t *message)
{
	json_t *d = json_pack("{s:s,s:O}", "role", "assistant", "content",
	    json_object_get(message, "content") ?: json_null());
	const json_t *calls = json_object_get(message, "tool_calls"), *tc;
	json_t *out = json_is_array(calls) && json_array_size(calls) > 0 ? json_array() : NULL;
	size_t i;

	json_array_foreach(calls, i, tc) {
		json_t *c = json_deep_copy(tc);
		if (json_object_set_new(c, "index", json_integer((json_int_t)i)) == 0)
			json_array_append_new(out, c);
		else
			json_decref(c);
	}
	if (out != NULL)
		json_object_set_new(d, "tool_calls", out);
	return d;
}

/* The stream of a surface an engine serves itself from its stored answer (full,
 * borrowed; passthru.h); frees nothing. */
static void
replay_native(struct streams *S, struct parked *w, const json_t *full)
{
	json_t *evs = aif_passthru_replay(w->kind, full), *ev;
	size_t i;
	int ok = evs != NULL;

	json_array_foreach(evs, i, ev) {
		char *text = json_dumps(ev, JSON_COMPACT);
		ok = text != NULL && send_native(S, w, text, strlen(text)) == 0;
		free(text);
		if (!ok)
			break;
	}
	json_decref(evs);
	if (ok)
		finish_ok(S, w, NULL, 0, NULL, 0, 0);
	else if (!w->headers_sent)
		finish_refused(S, w, AIF_E_STREAM_INTERRUPTED);
	else
		release(S, w);
}

/* Builds the stream of a finished job from its row (no chunk was relayed). */
static void
replay_from_row(struct streams *S, struct parked *w, const struct aif_job_view *v)
{
	char *body = NULL;
	size_t blen = 0;
	json_t *full = v->response_len >= 0 && aif_jobs_response_read(S->db, v->id,
	    S->api->cfg->server.max_answer_bytes, &body, &blen) == AIF_OK ?
	    json_loadb(body, blen, 0, NULL) : NULL;
	json_t *choices = json_object_get(full, "choices"), *ch;
	const char *id = json_string_value(json_object_get(full, "id")) ?: v->public_id;
	json_int_t created = json_integer_value(json_object_get(full, "created"));
	json_t *usage = json_object_get(full, "usage");
	char *text;
	size_t i;
	int ok = 1;

	if (w->reply.native) {
		replay_native(S, w, full);
		json_decref(full);
		free(body);
		return;
	}
	json_array_foreach(choices, i, ch) {
		json_t *chunk;
		if (w->kind == AIF_KIND_CHAT)
			chunk = json_pack("{s:s,s:s,s:I,s:s,s:[{s:O,s:o,s:n,s:O}]}",
			    "id", id, "object", "chat.completion.chunk", "created", created,
			    "model", v->model, "choices", "index", json_object_get(ch, "index"),
			    "delta", delta_of(json_object_get(ch, "message")),
			    "logprobs", "finish_reason", json_object_get(ch, "finish_reason"));
		else
			chunk = json_pack("{s:s,s:s,s:I,s:s,s:[{s:O,s:O,s:n,s:O}]}",
			    "id", id, "object", "text_completion", "created", created,
			    "model", v->model, "choices", "text", json_object_get(ch, "text"),
			    "index", json_object_get(ch, "index"), "logprobs",
			    "finish_reason", json_object_get(ch, "finish_reason"));
		text = chunk != NULL ? json_dumps(chunk, JSON_COMPACT) : NULL;
		ok = text != NULL && send_chunk(S, w, text, strlen(text)) == 0;
		free(text);
		json_decref(chunk);
		if (!ok)
			break;
	}
	if (ok)
		finish_ok(S, w, id, created, v->model,
		    json_integer_value(json_object_get(usage, "prompt_tokens")),
		    json_integer_value(json_object_get(usage, "completion_tokens")));
	else
		release(S, w);
	json_decref(full);
	free(body);
}

/* A quiet stream whose job row is known (v): finished from the row. */
static void
finish_from_row(struct streams *S, struct parked *w, const struct aif_job_view *v)
{
	struct aif_error e;

	if (strcmp(v->state, "succeeded") == 0 && w->chunks == 0) {
		replay_from_row(S, w, v);
	} else if (strcmp(v->state, "succeeded") == 0) {
		finish_refused(S, w, AIF_E_STREAM_INTERRUPTED);
	} else {
		job_error_set(&e, v->http_status, v->error_type, v->error_code,
		    v->error_message);
		finish_error(S, w, &e);
	}
}

/* A stream taken out for its row: finished from it when final, else put back. */
static void
settle_quiet(struct parked *w, const struct aif_job_view *v, void *arg)
{
	struct streams *S = arg;

	if (v == NULL)
		parked_return(S->api->parked, w);
	else
		finish_from_row(S, w, v);
}

/* Streams nothing came for in two poll intervals (or due at once) against their rows. */
static void
check_quiet(struct streams *S, int64_t now, int poll_ms)
{
	struct parked *quiet[QUIET_MAX];
	size_t n = parked_take_due(S->api->parked, 1, now - 2 * poll_ms, now, quiet,
	    QUIET_MAX);

	parked_settle(S->db, quiet, n, settle_quiet, S);
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

/* Streams whose first byte did not come in time: 504 request_expired (not run) or
 * 504 job_timeout (it goes on), or 503 when stopping. */
static void
check_deadlines(struct streams *S, int64_t now, int stopping)
{
	struct parked *late[QUIET_MAX];
	size_t n;

	while ((n = parked_take_if(S->api->parked, 1, stopping ? any : not_started_by, &now,
	    late, QUIET_MAX)) > 0)
		for (size_t i = 0; i < n; i++)
			finish_refused(S, late[i], late_error(S->db, late[i]->id, stopping,
			    AIF_E_STREAM_START_TIMEOUT));
}

/* ---- the thread ---- */

#define UNPROVEN_MAX	32	/* TCP connections waiting for their HELLO at once */

/* Closes the TCP relay connections that have not proved themselves (sealed HELLO,
 * relay_io.h) by their deadline; with `room`, also the oldest such one when there are
 * UNPROVEN_MAX or more, or when no place is free: a stranger holding sockets open never
 * keeps a worker's relay out. Returns a free place, or -1. */
static int
prune_unproven(struct streams *S, int room)
{
	int64_t now = aif_now_ms();
	int oldest = -1, unproven = 0, free_at = -1;

	for (int i = 0; i < CONNS_MAX; i++) {
		struct aif_relay_conn *c = &S->conns[i];
		if (c->fd >= 0 && c->need_hello && now >= c->hello_by_ms)
			aif_relay_close(c);
		if (c->fd < 0) {
			free_at = free_at < 0 ? i : free_at;
			continue;
		}
		if (c->need_hello && (unproven++, oldest < 0 ||
		    c->hello_by_ms < S->conns[oldest].hello_by_ms))
			oldest = i;
	}
	if (room && oldest >= 0 && (free_at < 0 || unproven >= UNPROVEN_MAX)) {
		aif_relay_close(&S->conns[oldest]);
		free_at = free_at < 0 ? oldest : free_at;
	}
	return free_at;
}

static void
accept_conn(struct streams *S)
{
	struct aif_relay_conn c;
	enum aif_err err;
	int at;

	if ((err = aif_relay_accept(S->listen_fd, &c)) != AIF_OK) {
		if (err == AIF_FORBIDDEN)
			aif_warn("msg=\"relay connection from another user refused\"");
		return;
	}
	if ((at = prune_unproven(S, c.need_hello)) < 0) {
		aif_relay_close(&c);	/* full of proven connections */
		return;
	}
	S->conns[at] = c;
	S->conn_gen[at]++;
}

/* A stalled client: it read nothing for STREAM_STALL_MS, or its connection failed. */
static void
stalled(struct streams *S, struct parked *w)
{
	aif_metrics_add("aif_stream_stalled_clients_total", "", 1);
	client_gone(S, w);
}

/* Writes what a waiting stream's socket takes now; keeps it waiting while bytes are
 * left. */
static void
flush_waiting(struct streams *S, struct parked *w, int64_t now)
{
	int rc = fcgi_out_flush(&w->out);

	if (rc < 0 || (rc == 0 && now - w->out.blocked_since > STREAM_STALL_MS)) {
		stalled(S, w);
		return;
	}
	if (rc == 1)
		unwait(S, w);
	flow(S, w);
}

/* Drops the waiting streams whose client read nothing for STREAM_STALL_MS; one whose
 * bytes all went out since (a later write took them: no stall clock runs) stops
 * waiting. The list is walked from its end: unwait moves its last entry into the hole. */
static void
check_stalled(struct streams *S, int64_t now)
{
	for (size_t i = S->nwaiting; i-- > 0;) {
		struct parked *w = S->waiting[i];
		if (fcgi_out_pending(&w->out) == 0)
			unwait(S, w);
		else if (w->out.blocked_since != 0 &&
		    now - w->out.blocked_since > STREAM_STALL_MS)
			stalled(S, w);
	}
}

/* Writes the last bytes of finished streams; frees those done, stalled or failed. */
static void
service_closing(struct streams *S, int64_t now, int all)
{
	struct closing **pp = &S->closing, *c;

	while ((c = *pp) != NULL) {
		int rc = fcgi_out_flush(&c->w->out);
		if (rc != 0 || all || now - c->w->out.blocked_since > STREAM_STALL_MS) {
			*pp = c->next;
			release(S, c->w);
			free(c);
		} else {
			pp = &c->next;
		}
	}
}

/* The fds of the waiting streams, then of the closing ones, for POLLOUT (at most cap;
 * every waiting one fits: WAITING_MAX); outw[k] is the waiting stream of pfd[k], NULL
 * for a closing one. */
static int
output_fds(struct streams *S, struct pollfd *pfd, struct parked **outw, int cap)
{
	int n = 0;

	for (size_t i = 0; i < S->nwaiting && n < cap; i++, n++) {
		pfd[n].fd = S->waiting[i]->out.fd;
		pfd[n].events = POLLOUT;
		outw[n] = S->waiting[i];
	}
	for (struct closing *c = S->closing; c != NULL && n < cap; c = c->next, n++) {
		pfd[n].fd = c->w->out.fd;
		pfd[n].events = POLLOUT;
		outw[n] = NULL;
	}
	return n;
}

/* Writes to the waiting streams whose socket poll found writable (before any frame is
 * applied: outw holds no stream freed since). Returns 1 when a closing one was. */
static int
service_output(struct streams *S, const struct pollfd *pfd, struct parked **outw, int n,
    int64_t now)
{
	int closing = 0;

	for (int k = 0; k < n; k++) {
		if (pfd[k].revents == 0)
			continue;
		if (outw[k] == NULL)
			closing = 1;
		else
			flush_waiting(S, outw[k], now);
	}
	return closing;
}

static void *
stream_main(void *arg)
{
	struct streams *S = arg;
	const int poll_ms = S->api->cfg->server.poll_interval_ms;
	int64_t next_check = aif_now_ms() + poll_ms, next_tick = 0, stop_deadline = 0;
	static struct pollfd pfd[2 + CONNS_MAX + WAITING_MAX];
	static int map[2 + CONNS_MAX];
	static struct parked *outw[WAITING_MAX];

	for (;;) {
		int n = 0, nrelay, nout, stop, closing_ready;
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
			pfd[n].events = POLLIN |
			    (aif_relay_pending(&S->conns[i]) > 0 ? POLLOUT : 0);
			map[n++] = i;
		}
		nrelay = n;
		nout = output_fds(S, pfd + nrelay, outw, WAITING_MAX);
		(void)poll(pfd, (nfds_t)(nrelay + nout), 200);
		now = aif_now_ms();
		closing_ready = service_output(S, pfd + nrelay, outw, nout, now);
		for (int k = 0; k < nrelay; k++) {
			if (pfd[k].revents == 0 || map[k] == -1)
				continue;	/* the listener: after the others, below */
			if (map[k] == -2) {
				char buf[256];
				(void)!read(S->wake[0], buf, sizeof(buf));
			} else {
				struct frame_ctx f = { S, map[k] };
				if (pfd[k].revents & POLLOUT)
					(void)aif_relay_flush(&S->conns[map[k]]);
				if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
					(void)aif_relay_recv(&S->conns[map[k]], on_frame, &f);
			}
		}
		/* new connections last: a HELLO that came in this round is read before an
		 * unproven connection may be evicted to make room */
		if (pfd[0].revents != 0)
			accept_conn(S);
		take_incoming(S);
		now = aif_now_ms();
		if (now >= next_tick) {		/* walks of the table: not per chunk */
			next_tick = now + DEADLINE_CHECK_MS;
			(void)prune_unproven(S, 0);
			check_deadlines(S, now, 0);
			check_stalled(S, now);
			closing_ready = 1;	/* and closing ones the poll had no room for */
		}
		if (closing_ready && S->closing != NULL)
			service_closing(S, now, 0);
		if (now >= next_check || S->check_soon) {
			next_check = now + poll_ms;
			S->check_soon = 0;
			check_quiet(S, now, poll_ms);
		}
		pthread_mutex_lock(&S->mu);
		stop = S->stop;
		pthread_mutex_unlock(&S->mu);
		if (!stop)
			continue;
		if (stop_deadline == 0)
			stop_deadline = now + S->grace_ms;
		if (parked_count(S->api->parked, 1) == 0 && S->closing == NULL)
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
	service_closing(S, aif_now_ms(), 1);
	for (int i = 0; i < CONNS_MAX; i++)
		aif_relay_close(&S->conns[i]);
	if (S->listen_fd >= 0) {
		close(S->listen_fd);
		aif_unix_unlink_owned(S->path, &S->listen_file);
	}
	if (S->wake[0] >= 0)
		close(S->wake[0]);
	if (S->wake[1] >= 0)
		close(S->wake[1]);
	aif_db_close(S->db);
	free(S->waiting);
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
	if (aif_relay_path(api->doorbell_path, S->path, sizeof(S->path)) != 0)
		goto fail;
	if (api->relay_listen_fd >= 0) {	/* TCP, bound with the doorbell */
		S->listen_fd = api->relay_listen_fd;
		api->relay_listen_fd = -1;
	} else if (aif_unix_bind(S->path, SOCK_STREAM, 128, &S->listen_fd,
	    &S->listen_file) != AIF_OK)
		S->listen_fd = -1;
	if (S->listen_fd < 0 || pipe2(S->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
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
