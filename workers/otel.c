/* otel.c -- a worker's OTLP exporter (otel.h): a receiver thread takes aif-api's spans
 * from the exporter socket, a sender thread posts batches to the collector. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "http.h"
#include "log.h"
#include "otel.h"
#include "span.h"
#include "spansock.h"
#include "unix_addr.h"
#include "util.h"
#include "version.h"

#define CLIENTS_MAX	64		/* aif-api connections at once */
#define WARN_EVERY_MS	60000		/* a failing collector is logged this often */

struct item {
	char	*p;
	size_t	 n;
};

struct otel {
	const struct aif_config	*cfg;
	char			 path[4096];	/* the socket */
	struct aif_unix_file	 file;
	int			 listen_fd;
	int			 wake[2];	/* stops the receiver */
	pthread_t		 rx, tx;
	int			 rx_up, tx_up;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;		/* spans came, or stop */
	struct item		*q;		/* ring of cfg->tracing.queue_size */
	size_t			 head, n;
	int			 stop;
	int64_t			 warned_ms;
};

static struct otel *sink_of;	/* the process's exporter (one per worker) */

/* Queues a copy of one encoded span; drops it (counted) when the queue is full. */
static void
push(struct otel *o, const char *json, size_t len)
{
	size_t cap = (size_t)o->cfg->tracing.queue_size;
	char *p;

	pthread_mutex_lock(&o->mu);
	if (o->n >= cap || o->stop || (p = malloc(len + 1)) == NULL) {
		pthread_mutex_unlock(&o->mu);
		aif_span_count("dropped_queue_full", 1);
		return;
	}
	memcpy(p, json, len);
	p[len] = '\0';
	o->q[(o->head + o->n) % cap] = (struct item){ p, len };
	if (++o->n >= (size_t)o->cfg->tracing.batch_size)
		pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

static void
sink(const char *json, size_t len)
{
	if (sink_of != NULL)
		push(sink_of, json, len);
}

/* ---- the receiver: aif-api's spans ---- */

/* Reads what client fd has; returns -1 when it is gone. */
static int
read_client(struct otel *o, int fd)
{
	static __thread char buf[AIF_SPAN_JSON_MAX + 1];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT | MSG_TRUNC)) > 0) {
		json_t *v;
		if ((size_t)n >= sizeof(buf)) {		/* over the bound: not a span of ours */
			aif_span_count("dropped_invalid", 1);
			continue;
		}
		buf[n] = '\0';
		v = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
		if (json_is_object(v) && json_is_string(json_object_get(v, "traceId")))
			push(o, buf, (size_t)n);
		else
			aif_span_count("dropped_invalid", 1);
		json_decref(v);
	}
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		return -1;
	return 0;
}

static void *
receiver(void *arg)
{
	struct otel *o = arg;
	struct pollfd p[2 + CLIENTS_MAX];
	size_t nc = 0;

	p[0] = (struct pollfd){ .fd = o->wake[0], .events = POLLIN };
	p[1] = (struct pollfd){ .fd = o->listen_fd, .events = POLLIN };
	for (;;) {
		if (poll(p, 2 + nc, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents != 0)
			break;
		for (size_t i = 0; i < nc; i++)
			if (p[2 + i].revents != 0 && read_client(o, p[2 + i].fd) != 0) {
				close(p[2 + i].fd);
				p[2 + i] = p[2 + --nc];
				i--;
			}
		if (p[1].revents & POLLIN) {
			int fd;
			while ((fd = accept4(o->listen_fd, NULL, NULL,
			    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
				if (nc == CLIENTS_MAX) {
					close(fd);
					continue;
				}
				p[2 + nc++] = (struct pollfd){ .fd = fd, .events = POLLIN };
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				/* out of descriptors: the listener stays readable; pause
				   instead of spinning on it */
				struct timespec pause = { 0, 100000000 };
				nanosleep(&pause, NULL);
			}
		}
	}
	for (size_t i = 0; i < nc; i++)
		close(p[2 + i].fd);
	return NULL;
}

/* ---- the sender: batches to the collector ---- */

/* Posts n spans; returns 0 when the collector took them (2xx). */
static int
post(struct otel *o, const struct item *it, size_t n)
{
	const char *spans[10000];
	size_t lens[10000];
	static const char *const hdr[] = { "Content-Type: application/json" };
	struct aif_buf body = { 0 };
	struct aif_http_result res;
	struct aif_http_call call = {
		.method = "POST", .url = o->cfg->tracing.otlp_endpoint,
		.headers = hdr, .nheaders = 1,
		.lim = { .timeout_ms = (long)o->cfg->tracing.timeout_ms,
			 .connect_timeout_ms = (long)o->cfg->tracing.timeout_ms,
			 .max_response = 65536 },
	};
	enum aif_err err;
	int64_t now;

	for (size_t i = 0; i < n; i++) {
		spans[i] = it[i].p;
		lens[i] = it[i].n;
	}
	if (aif_otlp_body(&body, o->cfg->tracing.service_name, AIF_VERSION, spans, lens,
	    n) != 0) {
		aif_buf_free(&body);
		return -1;
	}
	call.body = body.p;
	err = aif_http_run(&call, 0, &res);
	aif_buf_free(&body);
	aif_http_body_free(&res.body);
	if (err == AIF_OK && res.status >= 200 && res.status < 300)
		return 0;
	now = aif_now_ms();
	if (now - o->warned_ms >= WARN_EVERY_MS || o->warned_ms == 0) {
		o->warned_ms = now;
		aif_warn("msg=\"span export failed; spans dropped\" status=%ld error=\"%s\"",
		    res.status, err != AIF_OK ? aif_strerror(err) : "status");
	}
	return -1;
}

/* Takes up to batch spans off the queue into it (o->mu held); returns how many. */
static size_t
take(struct otel *o, struct item *it, size_t batch)
{
	size_t cap = (size_t)o->cfg->tracing.queue_size, k = 0;

	while (k < batch && o->n > 0) {
		it[k++] = o->q[o->head];
		o->head = (o->head + 1) % cap;
		o->n--;
	}
	return k;
}

static void *
sender(void *arg)
{
	struct otel *o = arg;
	size_t batch = (size_t)o->cfg->tracing.batch_size;
	struct item *it = calloc(batch, sizeof(*it));
	int last = 0;

	if (it == NULL)
		return NULL;
	while (!last) {
		struct timespec until;
		size_t k;
		int64_t ns;

		clock_gettime(CLOCK_MONOTONIC, &until);
		ns = until.tv_nsec + (o->cfg->tracing.flush_interval_ms % 1000) * 1000000;
		until.tv_sec += o->cfg->tracing.flush_interval_ms / 1000 + ns / 1000000000;
		until.tv_nsec = ns % 1000000000;
		pthread_mutex_lock(&o->mu);
		while (!o->stop && o->n < batch &&
		    pthread_cond_timedwait(&o->cv, &o->mu, &until) != ETIMEDOUT)
			;
		last = o->stop;
		k = take(o, it, batch);
		pthread_mutex_unlock(&o->mu);
		/* at the stop: what waits goes while the collector takes it */
		while (k > 0) {
			int ok = post(o, it, k) == 0;
			aif_span_count(ok ? "exported" : "dropped_export_failed", (int64_t)k);
			for (size_t i = 0; i < k; i++)
				free(it[i].p);
			pthread_mutex_lock(&o->mu);
			k = last && ok ? take(o, it, batch) : 0;
			pthread_mutex_unlock(&o->mu);
		}
	}
	free(it);
	return NULL;
}

/* ---- start and stop ---- */

static int
threads_start(struct otel *o)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&o->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&o->mu, NULL);
	o->tx_up = pthread_create(&o->tx, NULL, sender, o) == 0;
	o->rx_up = o->tx_up && pthread_create(&o->rx, NULL, receiver, o) == 0;
	return o->rx_up ? 0 : -1;
}

int
otel_start(const struct aif_config *cfg, const char *instance, struct otel **out)
{
	struct otel *o;

	*out = NULL;
	if (cfg->tracing.otlp_endpoint == NULL)
		return 0;
	if ((o = calloc(1, sizeof(*o))) == NULL ||
	    (o->q = calloc((size_t)cfg->tracing.queue_size, sizeof(*o->q))) == NULL) {
		free(o);
		return -1;
	}
	o->cfg = cfg;
	o->listen_fd = o->wake[0] = o->wake[1] = -1;
	if (aif_spansock_path(cfg->server.run_dir, instance, o->path, sizeof(o->path)) != 0 ||
	    aif_unix_bind(o->path, SOCK_SEQPACKET, 64, &o->listen_fd, &o->file) != AIF_OK ||
	    pipe2(o->wake, O_CLOEXEC) != 0 || threads_start(o) != 0) {
		aif_error("msg=\"cannot start the span exporter\" path=%s", o->path);
		otel_stop(o);
		return -1;
	}
	sink_of = o;
	aif_span_set_sink(sink);
	aif_info("msg=\"span exporter started\" socket=%s batch=%d queue=%d", o->path,
	    cfg->tracing.batch_size, cfg->tracing.queue_size);
	*out = o;
	return 0;
}

void
otel_stop(struct otel *o)
{
	if (o == NULL)
		return;
	aif_span_set_sink(NULL);
	sink_of = NULL;
	if (o->rx_up) {
		(void)!write(o->wake[1], "x", 1);
		pthread_join(o->rx, NULL);
	}
	if (o->tx_up) {
		pthread_mutex_lock(&o->mu);
		o->stop = 1;
		pthread_cond_signal(&o->cv);
		pthread_mutex_unlock(&o->mu);
		pthread_join(o->tx, NULL);
	}
	if (o->tx_up) {
		pthread_mutex_destroy(&o->mu);
		pthread_cond_destroy(&o->cv);
	}
	for (size_t i = 0; i < o->n; i++)
		free(o->q[(o->head + i) % (size_t)o->cfg->tracing.queue_size].p);
	if (o->listen_fd >= 0) {
		close(o->listen_fd);
		aif_unix_unlink_owned(o->path, &o->file);
	}
	if (o->wake[0] >= 0)
		close(o->wake[0]);
	if (o->wake[1] >= 0)
		close(o->wake[1]);
	free(o->q);
	free(o);
}
