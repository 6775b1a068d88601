/* streams.c -- streamed requests ("stream": true). A streamed request is parked like a
 * synchronous one, but answered by the stream thread: workers connect to this
 * process's relay socket (core/protocol/relay_proto.h) and send BEGIN/CHUNK/END frames, which
 * become OpenAI SSE events written and flushed to the client one by one
 * (`data: {chunk}`, then the usage chunk when asked, then `data: [DONE]`; a failure
 * after the stream started is one `data: {"error":…}` and the stream closes without
 * [DONE]). The job row remains the truth: a stream whose relay went quiet is checked
 * against its row every poll interval and finished from it. A client that goes away is
 * recorded as `client_disconnected`; with server.stream_disconnect = cancel the worker
 * is also told to abort the engine call. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "relay_proto.h"
#include "stream_asm.h"

#define CONNS_MAX	256
#define PENDING_MAX	4096		/* frames for jobs not parked yet */
#define PENDING_TTL_MS	5000
#define CLIENT_SNDTIMEO_S 10

struct sconn {
	int		 fd;
	unsigned char	*in;
	size_t		 in_len, in_cap;
};

struct swaiter {
	uint64_t	 id;
	struct reply	 reply;
	enum aif_kind	 kind;
	int		 include_usage;
	int		 headers_sent;
	int		 chunks;
	int		 replay;		/* pending frames may exist */
	int64_t		 deadline_ms;		/* for the first byte */
	int64_t		 last_ms;		/* last frame or check */
	int		 conn;			/* index of the sending worker conn, -1 */
	struct swaiter	*next;
};

struct pending {
	uint64_t	 id;
	uint32_t	 type;
	char		*payload;
	uint32_t	 len;
	int64_t		 at_ms;
};

static struct {
	pthread_mutex_t	 mu;
	struct swaiter	*waiters;
	size_t		 count;
	struct pending	 pend[PENDING_MAX];
	size_t		 npend;
	int		 listen_fd;
	int		 wake[2];		/* self-pipe: park / stop */
	char		 path[AIF_DOORBELL_PATH_MAX];
	struct sconn	 conns[CONNS_MAX];
	pthread_t	 thread;
	int		 stop;
	int		 grace_ms;
	struct aif_db	*db;
	struct api	*api;
} S = { .mu = PTHREAD_MUTEX_INITIALIZER, .listen_fd = -1, .wake = { -1, -1 } };

/* ---- writing to the client ---- */

static int
client_write(struct swaiter *w, const char *s, size_t n)
{
	if (w->reply.fcgi == NULL)
		return -1;
	if (FCGX_PutStr(s, (int)n, w->reply.fcgi->out) != (int)n)
		return -1;
	return 0;
}

static int
client_flush(struct swaiter *w)
{
	if (FCGX_FFlush(w->reply.fcgi->out) != 0 || FCGX_GetError(w->reply.fcgi->out) != 0)
		return -1;
	return 0;
}

static int
send_headers(struct swaiter *w)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
	    "Status: 200 OK\r\n"
	    "Content-Type: text/event-stream; charset=utf-8\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n"
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
send_event(struct swaiter *w, const char *json, size_t len)
{
	if (!w->headers_sent && send_headers(w) != 0)
		return -1;
	if (client_write(w, "data: ", 6) != 0 || client_write(w, json, len) != 0 ||
	    client_write(w, "\n\n", 2) != 0)
		return -1;
	return client_flush(w);
}

static void
finish_request(struct swaiter *w)
{
	if (w->reply.fcgi != NULL) {
		FCGX_Finish_r(w->reply.fcgi);
		free(w->reply.fcgi);
		w->reply.fcgi = NULL;
	}
	free(w);
}

/* Ends a started stream with an error event (no [DONE]); before the headers, answers
 * with an ordinary HTTP error instead. Frees w. */
static void
end_with_error(struct swaiter *w, int status, const char *type, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
end_with_error(struct swaiter *w, int status, const char *type, const char *code,
    const char *fmt, ...)
{
	struct aif_oai_error e;
	char msg[sizeof(e.message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	aif_oai_error_set(&e, status, type, code, NULL, "%s", msg);
	if (!w->headers_sent) {
		reply_error(&w->reply, &e);
		free(w);
		return;
	}
	char *s = aif_oai_error_json(&e);
	if (s != NULL) {
		(void)send_event(w, s, strlen(s));
		free(s);
	}
	finish_request(w);
}

/* ---- the waiters table (S.mu) ---- */

static struct swaiter *
take_locked(uint64_t id)
{
	for (struct swaiter **pp = &S.waiters; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct swaiter *w = *pp;
			*pp = w->next;
			w->next = NULL;
			S.count--;
			return w;
		}
	}
	return NULL;
}

static void
put_locked(struct swaiter *w)
{
	w->next = S.waiters;
	S.waiters = w;
	S.count++;
}

int
streams_park(struct api *api, uint64_t id, const struct reply *rp, enum aif_kind kind,
    int include_usage, int64_t deadline_ms)
{
	struct swaiter *w = calloc(1, sizeof(*w));
	struct timeval tv = { CLIENT_SNDTIMEO_S, 0 };

	if (w == NULL)
		return -1;
	w->id = id;
	w->reply = *rp;
	w->kind = kind;
	w->include_usage = include_usage;
	w->deadline_ms = deadline_ms;
	w->last_ms = aif_now_ms();
	w->conn = -1;
	w->replay = 1;
	/* a client that stops reading must not stall every other stream */
	(void)setsockopt(rp->fcgi->ipcFd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&S.mu);
	if (S.count >= (size_t)api->cfg->server.max_waiting) {
		pthread_mutex_unlock(&S.mu);
		free(w);
		return -1;
	}
	put_locked(w);
	pthread_mutex_unlock(&S.mu);
	(void)!write(S.wake[1], "p", 1);
	return 0;
}

/* ---- frames ---- */

static void
client_gone(struct swaiter *w)
{
	const struct aif_config *cfg = S.api->cfg;
	int cancel = cfg->server.stream_disconnect_cancel;

	aif_info("msg=\"stream client disconnected\" job=%s policy=%s", w->reply.job_id,
	    cancel ? "cancel" : "finish");
	(void)aif_queue_event(S.db, w->id, "client_disconnected", cancel ?
	    "client left the stream; cancelling the engine call" :
	    "client left the stream; the job finishes and its result is stored");
	if (cancel && w->conn >= 0 && S.conns[w->conn].fd >= 0) {
		unsigned char h[AIF_RELAY_HEADER];
		aif_relay_put_header(h, w->id, AIF_RELAY_CANCEL, 0);
		(void)!send(S.conns[w->conn].fd, h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	finish_request(w);
}

/* Handles END: the job is committed. Frees w. */
static void
handle_end(struct swaiter *w, const char *payload, size_t len)
{
	json_t *end = json_loadb(payload, len, 0, NULL);
	json_int_t status = json_integer_value(json_object_get(end, "status"));

	if (status == 200) {
		json_t *u = json_object_get(end, "usage");
		int ok = 1;
		if (w->include_usage) {
			json_t *uc = aif_stream_usage_chunk(w->kind,
			    json_string_value(json_object_get(end, "id")) ?: "",
			    json_integer_value(json_object_get(end, "created")),
			    json_string_value(json_object_get(end, "model")) ?: "",
			    json_integer_value(json_object_get(u, "prompt_tokens")),
			    json_integer_value(json_object_get(u, "completion_tokens")));
			char *s = uc ? json_dumps(uc, JSON_COMPACT) : NULL;
			ok = s != NULL && send_event(w, s, strlen(s)) == 0;
			free(s);
			json_decref(uc);
		}
		if (ok && !w->headers_sent)
			ok = send_headers(w) == 0;
		if (ok) {
			(void)client_write(w, "data: [DONE]\n\n", 14);
			(void)client_flush(w);
		}
		finish_request(w);
	} else {
		json_t *e = json_object_get(end, "error");
		const char *code = json_string_value(json_object_get(e, "code"));
		end_with_error(w, status >= 400 ? (int)status : 502,
		    json_string_value(json_object_get(e, "type")) ?: "server_error", code,
		    "%s", json_string_value(json_object_get(e, "message")) ?: "The job failed.");
	}
	json_decref(end);
}

/* Applies one frame to its waiter (taken out of the table by the caller). Returns 1
 * when the waiter is finished (freed), 0 when it stays. */
static int
apply(struct swaiter *w, int conn, uint32_t type, const char *payload, size_t len)
{
	w->last_ms = aif_now_ms();
	if (conn >= 0)
		w->conn = conn;
	switch (type) {
	case AIF_RELAY_BEGIN: {
		json_t *b = json_loadb(payload, len, 0, NULL);
		json_int_t attempt = json_integer_value(json_object_get(b, "attempt"));
		json_decref(b);
		if (attempt > 1 && w->chunks > 0) {
			end_with_error(w, 502, "server_error", "stream_interrupted",
			    "The stream was interrupted and the engine call is being retried; "
			    "the complete result will be at GET /v1/jobs/%s.", w->reply.job_id);
			return 1;
		}
		return 0;
	}
	case AIF_RELAY_CHUNK:
		if (send_event(w, payload, len) != 0) {
			client_gone(w);
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

static void
pending_add(uint64_t id, uint32_t type, const char *payload, uint32_t len)
{
	struct pending *p;

	if (S.npend >= PENDING_MAX) {
		free(S.pend[0].payload);
		memmove(&S.pend[0], &S.pend[1], (PENDING_MAX - 1) * sizeof(S.pend[0]));
		S.npend--;
	}
	p = &S.pend[S.npend];
	if ((p->payload = malloc(len + 1)) == NULL)
		return;
	memcpy(p->payload, payload, len);
	p->payload[len] = '\0';
	p->id = id;
	p->type = type;
	p->len = len;
	p->at_ms = aif_now_ms();
	S.npend++;
}

/* Replays frames that arrived before job `w->id` was parked. Returns 1 if w ended. */
static int
pending_replay(struct swaiter *w)
{
	size_t i = 0;
	int ended = 0;

	while (i < S.npend) {
		if (S.pend[i].id != w->id) {
			i++;
			continue;
		}
		struct pending p = S.pend[i];
		memmove(&S.pend[i], &S.pend[i + 1], (S.npend - i - 1) * sizeof(S.pend[0]));
		S.npend--;
		if (!ended)
			ended = apply(w, -1, p.type, p.payload, p.len);
		free(p.payload);
	}
	return ended;
}

static void
pending_expire(int64_t now)
{
	size_t k = 0;

	for (size_t i = 0; i < S.npend; i++) {
		if (now - S.pend[i].at_ms > PENDING_TTL_MS)
			free(S.pend[i].payload);
		else
			S.pend[k++] = S.pend[i];
	}
	S.npend = k;
}

static void
dispatch(int conn, uint64_t id, uint32_t type, const char *payload, uint32_t len)
{
	struct swaiter *w;

	pthread_mutex_lock(&S.mu);
	w = take_locked(id);
	pthread_mutex_unlock(&S.mu);
	if (w == NULL) {
		pending_add(id, type, payload, len);
		return;
	}
	if (!apply(w, conn, type, payload, len)) {
		pthread_mutex_lock(&S.mu);
		put_locked(w);
		pthread_mutex_unlock(&S.mu);
	}
}

static void
conn_close(int i)
{
	if (S.conns[i].fd >= 0)
		close(S.conns[i].fd);
	S.conns[i].fd = -1;
	free(S.conns[i].in);
	S.conns[i].in = NULL;
	S.conns[i].in_len = S.conns[i].in_cap = 0;
}

static void
conn_read(int i)
{
	struct sconn *c = &S.conns[i];

	for (;;) {
		if (c->in_cap - c->in_len < 65536) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 131072;
			unsigned char *p;
			if (cap > AIF_RELAY_PAYLOAD_MAX * 2 + 131072 ||
			    (p = realloc(c->in, cap)) == NULL) {
				conn_close(i);
				return;
			}
			c->in = p;
			c->in_cap = cap;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)) {
			conn_close(i);
			return;
		}
		if (n < 0)
			break;
		c->in_len += (size_t)n;
		size_t off = 0;
		while (c->in_len - off >= AIF_RELAY_HEADER) {
			uint64_t id;
			uint32_t type, len;
			aif_relay_get_header(c->in + off, &id, &type, &len);
			if (len > AIF_RELAY_PAYLOAD_MAX) {
				conn_close(i);
				return;
			}
			if (c->in_len - off < AIF_RELAY_HEADER + len)
				break;
			dispatch(i, id, type, (const char *)c->in + off + AIF_RELAY_HEADER, len);
			off += AIF_RELAY_HEADER + len;
		}
		if (off > 0) {
			memmove(c->in, c->in + off, c->in_len - off);
			c->in_len -= off;
		}
	}
}

/* ---- fallbacks: deadlines and streams whose relay went quiet ---- */

/* Builds the stream of a finished job from its row (no chunk was relayed). */
static void
replay_from_row(struct swaiter *w, const struct aif_job_view *v)
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
		char *s = chunk ? json_dumps(chunk, JSON_COMPACT) : NULL;
		if (s == NULL || send_event(w, s, strlen(s)) != 0)
			ok = 0;
		free(s);
		json_decref(chunk);
		if (!ok)
			break;
	}
	if (ok && w->include_usage) {
		json_t *uc = aif_stream_usage_chunk(w->kind, id, created, v->model,
		    json_integer_value(json_object_get(usage, "prompt_tokens")),
		    json_integer_value(json_object_get(usage, "completion_tokens")));
		char *s = uc ? json_dumps(uc, JSON_COMPACT) : NULL;
		ok = s != NULL && send_event(w, s, strlen(s)) == 0;
		free(s);
		json_decref(uc);
	}
	if (ok && !w->headers_sent)
		ok = send_headers(w) == 0;
	if (ok) {
		(void)client_write(w, "data: [DONE]\n\n", 14);
		(void)client_flush(w);
	}
	json_decref(full);
	finish_request(w);
}

static void
check_quiet(int64_t now, int poll_ms)
{
	struct swaiter *quiet[64], *w;
	uint64_t ids[64];
	struct aif_job_view *views = NULL;
	size_t n = 0, nv = 0;

	pthread_mutex_lock(&S.mu);
	for (struct swaiter **pp = &S.waiters; *pp != NULL && n < 64;) {
		w = *pp;
		if (now - w->last_ms >= 2 * poll_ms) {
			*pp = w->next;
			w->next = NULL;
			S.count--;
			quiet[n] = w;
			ids[n++] = w->id;
		} else {
			pp = &w->next;
		}
	}
	pthread_mutex_unlock(&S.mu);
	if (n == 0)
		return;
	(void)aif_queue_final_views(S.db, ids, n, &views, &nv);
	for (size_t i = 0; i < n; i++) {
		const struct aif_job_view *v = NULL;
		w = quiet[i];
		w->last_ms = now;
		for (size_t k = 0; k < nv; k++)
			if (views[k].id == w->id)
				v = &views[k];
		if (v == NULL) {
			pthread_mutex_lock(&S.mu);
			put_locked(w);
			pthread_mutex_unlock(&S.mu);
		} else if (strcmp(v->state, "succeeded") == 0 && w->chunks == 0) {
			replay_from_row(w, v);
		} else if (strcmp(v->state, "succeeded") == 0) {
			end_with_error(w, 502, "server_error", "stream_interrupted",
			    "The stream was interrupted; the complete result is at "
			    "GET /v1/jobs/%s.", v->public_id);
		} else {
			end_with_error(w, v->http_status >= 400 ? v->http_status : 502,
			    v->error_type[0] ? v->error_type : "server_error",
			    v->error_code[0] ? v->error_code : NULL, "%s",
			    v->error_message[0] ? v->error_message : "The job failed.");
		}
	}
	aif_queue_views_free(views, nv);
}

static void
check_deadlines(int64_t now)
{
	for (;;) {
		struct swaiter *w = NULL;
		pthread_mutex_lock(&S.mu);
		for (struct swaiter **pp = &S.waiters; *pp != NULL; pp = &(*pp)->next) {
			if (!(*pp)->headers_sent && (*pp)->deadline_ms <= now) {
				w = *pp;
				*pp = w->next;
				S.count--;
				break;
			}
		}
		pthread_mutex_unlock(&S.mu);
		if (w == NULL)
			return;
		end_with_error(w, 504, "timeout", "job_timeout",
		    "The job %s did not start streaming in time; it continues. Poll "
		    "GET /v1/jobs/%s for its result.", w->reply.job_id, w->reply.job_id);
	}
}

static void
replay_parked(void)
{
	for (;;) {
		struct swaiter *w = NULL;
		pthread_mutex_lock(&S.mu);
		for (struct swaiter **pp = &S.waiters; *pp != NULL; pp = &(*pp)->next) {
			if ((*pp)->replay) {
				w = *pp;
				*pp = w->next;
				S.count--;
				break;
			}
		}
		pthread_mutex_unlock(&S.mu);
		if (w == NULL)
			return;
		w->replay = 0;
		if (!pending_replay(w)) {
			pthread_mutex_lock(&S.mu);
			put_locked(w);
			pthread_mutex_unlock(&S.mu);
		}
	}
}

static void *
stream_thread(void *arg)
{
	const int poll_ms = S.api->cfg->server.poll_interval_ms;
	int64_t next_check = aif_now_ms() + poll_ms, stop_deadline = 0;

	(void)arg;
	for (;;) {
		struct pollfd pfd[2 + CONNS_MAX];
		int map[2 + CONNS_MAX], n = 0;
		int64_t now;

		pfd[n].fd = S.listen_fd;
		pfd[n].events = POLLIN;
		map[n++] = -1;
		pfd[n].fd = S.wake[0];
		pfd[n].events = POLLIN;
		map[n++] = -2;
		for (int i = 0; i < CONNS_MAX; i++) {
			if (S.conns[i].fd < 0)
				continue;
			pfd[n].fd = S.conns[i].fd;
			pfd[n].events = POLLIN;
			map[n++] = i;
		}
		(void)poll(pfd, (nfds_t)n, 200);
		for (int k = 0; k < n; k++) {
			if (pfd[k].revents == 0)
				continue;
			if (map[k] == -1) {
				int fd = accept4(S.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				int slot = -1;
				for (int i = 0; fd >= 0 && i < CONNS_MAX; i++)
					if (S.conns[i].fd < 0) {
						slot = i;
						break;
					}
				if (slot < 0 && fd >= 0)
					close(fd);
				else if (fd >= 0)
					S.conns[slot].fd = fd;
			} else if (map[k] == -2) {
				char buf[256];
				(void)!read(S.wake[0], buf, sizeof(buf));
			} else {
				conn_read(map[k]);
			}
		}
		replay_parked();
		now = aif_now_ms();
		check_deadlines(now);
		if (now >= next_check) {
			next_check = now + poll_ms;
			pending_expire(now);
			check_quiet(now, poll_ms);
		}
		pthread_mutex_lock(&S.mu);
		int stop = S.stop;
		size_t count = S.count;
		pthread_mutex_unlock(&S.mu);
		if (stop) {
			if (stop_deadline == 0)
				stop_deadline = now + S.grace_ms;
			if (count == 0)
				break;
			if (now >= stop_deadline) {
				struct swaiter *w;
				pthread_mutex_lock(&S.mu);
				w = S.waiters;
				S.waiters = NULL;
				S.count = 0;
				pthread_mutex_unlock(&S.mu);
				while (w != NULL) {
					struct swaiter *next = w->next;
					end_with_error(w, 503, "server_error", "gateway_restarting",
					    "The gateway is restarting; your job %s continues. Poll "
					    "GET /v1/jobs/%s for its result.", w->reply.job_id,
					    w->reply.job_id);
					w = next;
				}
				break;
			}
		}
	}
	return NULL;
}

int
streams_start(struct api *api)
{
	struct sockaddr_un sa;

	S.api = api;
	for (int i = 0; i < CONNS_MAX; i++)
		S.conns[i].fd = -1;
	if (aif_relay_path(api->doorbell_path, S.path, sizeof(S.path)) != 0 ||
	    strlen(S.path) >= sizeof(sa.sun_path))
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, S.path, strlen(S.path) + 1);
	(void)unlink(S.path);
	S.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (S.listen_fd < 0 || bind(S.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(S.listen_fd, 128) != 0 || pipe2(S.wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		aif_error("msg=\"cannot open the stream relay socket\" path=%s", S.path);
		return -1;
	}
	(void)chmod(S.path, 0660);
	(void)aif_db_open(api->cfg, &S.db);
	if (S.db == NULL || pthread_create(&S.thread, NULL, stream_thread, NULL) != 0)
		return -1;
	return 0;
}

void
streams_stop(int grace_ms)
{
	if (S.db == NULL)
		return;
	pthread_mutex_lock(&S.mu);
	S.stop = 1;
	S.grace_ms = grace_ms;
	pthread_mutex_unlock(&S.mu);
	(void)!write(S.wake[1], "s", 1);
	pthread_join(S.thread, NULL);
	for (int i = 0; i < CONNS_MAX; i++)
		conn_close(i);
	for (size_t i = 0; i < S.npend; i++)
		free(S.pend[i].payload);
	S.npend = 0;
	close(S.listen_fd);
	(void)unlink(S.path);
	close(S.wake[0]);
	close(S.wake[1]);
	aif_db_close(S.db);
	S.db = NULL;
}
