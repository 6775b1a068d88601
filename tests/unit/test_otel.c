/* test_otel.c -- unit tests of workers/otel.c against a local HTTP collector thread:
 * spans of this process and spans aif-api hands over on the exporter socket are posted
 * as OTLP/HTTP JSON batches; a message that is not a span is dropped and counted; a
 * collector that never answers costs a bounded queue (the surplus dropped and counted)
 * and a stop within the export timeout, never a wait of the caller. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "http.h"
#include "metrics.h"
#include "otel.h"
#include "span.h"
#include "spansock.h"
#include "util.h"
#include "testsys.h"

#define SELF	"00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"

struct collector {
	int		 fd, port;
	int		 answer;		/* 0: accept and never answer */
	pthread_t	 t;
	pthread_mutex_t	 mu;
	char		 bodies[8][65536];
	int		 n;
};

static char dir[64];

/* Reads one request (headers, then Content-Length bytes) into body. */
static int
read_request(int fd, char *body, size_t cap)
{
	char buf[131072];
	size_t have = 0;
	char *end = NULL, *cl;
	long len;

	while (end == NULL && have < sizeof(buf) - 1) {
		ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
		if (n <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (end == NULL || (cl = strcasestr(buf, "content-length:")) == NULL)
		return -1;
	len = strtol(cl + 15, NULL, 10);
	end += 4;
	while ((long)(have - (size_t)(end - buf)) < len) {
		ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	if ((size_t)len >= cap)
		return -1;
	memcpy(body, end, (size_t)len);
	body[len] = '\0';
	return 0;
}

static void *
serve(void *arg)
{
	struct collector *c = arg;
	int fd;

	while ((fd = accept(c->fd, NULL, NULL)) >= 0) {
		char body[65536];
		if (!c->answer) {		/* hold it, never answer */
			usleep(800000);
			close(fd);
			continue;
		}
		while (read_request(fd, body, sizeof(body)) == 0) {
			static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
			pthread_mutex_lock(&c->mu);
			if (c->n < 8)
				strcpy(c->bodies[c->n++], body);
			pthread_mutex_unlock(&c->mu);
			(void)!write(fd, ok, sizeof(ok) - 1);
		}
		close(fd);
	}
	return NULL;
}

static void
collector_start(struct collector *c, int answer)
{
	memset(c, 0, sizeof(*c));
	c->answer = answer;
	pthread_mutex_init(&c->mu, NULL);
	c->fd = testsys_listen(8, &c->port);
	assert_int_equal(pthread_create(&c->t, NULL, serve, c), 0);
}

static void
collector_stop(struct collector *c)
{
	shutdown(c->fd, SHUT_RDWR);
	close(c->fd);
	pthread_join(c->t, NULL);
	pthread_mutex_destroy(&c->mu);
}

static struct aif_config *
config(int port, const char *extra)
{
	char yaml[2048], err[2048];
	struct aif_config *cfg = NULL;

	snprintf(yaml, sizeof(yaml),
	    "server:\n  listen: %s/api.sock\n  run_dir: %s\n"
	    "database:\n  socket: /nonexistent.sock\n  name: aif\n"
	    "models:\n  - id: m1\n    adapter: openai\n    replicas:\n"
	    "      - url: http://127.0.0.1:9\n"
	    "roles:\n  - name: user\n"
	    "tracing:\n  otlp_endpoint: http://127.0.0.1:%d/v1/traces\n"
	    "  service_name: unit\n  flush_interval: 50ms\n%s", dir, dir, port, extra);
	if (aif_cfg_load_string("t.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)) != AIF_OK)
		fail_msg("%s", err);
	return cfg;
}

/* Takes the metrics counted so far into *d (so that each test sees its own). */
static struct aif_metric_delta taken[AIF_METRICS_MAX];
static size_t ntaken;

static void
take_counts(void)
{
	ntaken = aif_metrics_take(taken, AIF_METRICS_MAX);
}

/* The sum of aif_trace_spans_total{result="<result>"} in what take_counts took. */
static int64_t
spans_counted(const char *result)
{
	char want[64];
	int64_t sum = 0;

	snprintf(want, sizeof(want), "result=\"%s\"", result);
	for (size_t i = 0; i < ntaken; i++)
		if (strcmp(taken[i].name, "aif_trace_spans_total") == 0 &&
		    strcmp(taken[i].labels, want) == 0)
			sum += taken[i].value;
	return sum;
}

static void
emit(const char *name)
{
	struct aif_span s;

	if (aif_span_begin(&s, SELF, NULL, name, AIF_SPAN_INTERNAL, 1) == 0)
		aif_span_end(&s, 2, NULL);
}

static int
setup(void **state)
{
	(void)state;
	take_counts();		/* start from no counts */
	return testsys_tmpdir(dir, sizeof(dir), "aif-otel");
}

static int
teardown(void **state)
{
	(void)state;
	return testsys_rmdir(dir);
}

static void
spans_of_both_processes_are_posted_as_otlp_json(void **state)
{
	struct collector col;
	struct aif_config *cfg;
	struct otel *o = NULL;
	struct aif_spansock_client api;
	const char *why;
	char *all;
	size_t total = 0;
	struct aif_span s;
	char *handed;
	size_t len;

	(void)state;
	collector_start(&col, 1);
	cfg = config(col.port, "");
	assert_int_equal(otel_start(cfg, "7", &o), 0);
	assert_non_null(o);
	emit("worker-span");
	/* what aif-api does: a span encoded, then handed over on the socket */
	assert_int_equal(aif_span_begin(&s, SELF, NULL, "api-span", AIF_SPAN_SERVER, 5), 0);
	handed = aif_span_encode(&s, 6, NULL, &len);
	aif_span_drop(&s);
	aif_spansock_client_init(&api, dir);
	assert_int_equal(aif_spansock_send(&api, handed, len, &why), 0);
	assert_int_equal(aif_spansock_send(&api, "not a span", 10, &why), 0);
	free(handed);
	for (int i = 0; i < 100; i++) {
		pthread_mutex_lock(&col.mu);
		total = 0;
		for (int k = 0; k < col.n; k++)
			total += strstr(col.bodies[k], "worker-span") != NULL ? 1 : 0,
			total += strstr(col.bodies[k], "api-span") != NULL ? 1 : 0;
		pthread_mutex_unlock(&col.mu);
		if (total == 2)
			break;
		usleep(20000);
	}
	assert_int_equal(total, 2);
	pthread_mutex_lock(&col.mu);
	all = col.bodies[0];
	assert_non_null(strstr(all, "\"resourceSpans\""));
	assert_non_null(strstr(all, "\"unit\""));	/* service.name */
	pthread_mutex_unlock(&col.mu);
	otel_stop(o);
	aif_spansock_client_close(&api);
	assert_false(aif_span_enabled());
	take_counts();
	assert_int_equal(spans_counted("dropped_invalid"), 1);	/* "not a span" */
	assert_int_equal(spans_counted("exported"), 2);
	collector_stop(&col);
	aif_cfg_free(cfg);
}

static void
a_silent_collector_costs_a_bounded_queue_and_a_bounded_stop(void **state)
{
	struct collector col;
	struct aif_config *cfg;
	struct otel *o = NULL;
	int64_t full, failed;

	(void)state;
	collector_start(&col, 0);
	cfg = config(col.port, "  timeout: 200ms\n  queue_size: 16\n  batch_size: 8\n");
	assert_int_equal(otel_start(cfg, "8", &o), 0);
	for (int i = 0; i < 1000; i++)	/* never a wait: the queue takes or drops */
		emit("lost");
	usleep(600000);
	otel_stop(o);
	take_counts();
	full = spans_counted("dropped_queue_full");
	failed = spans_counted("dropped_export_failed");
	assert_true(full >= 1000 - 16 - 16);	/* at most the queue and a batch or two */
	assert_true(failed >= 8);
	collector_stop(&col);
	aif_cfg_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(spans_of_both_processes_are_posted_as_otlp_json,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_silent_collector_costs_a_bounded_queue_and_a_bounded_stop, setup,
		    teardown),
	};
	int rc;

	if (aif_http_init() != AIF_OK)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	aif_http_cleanup();
	return rc;
}
