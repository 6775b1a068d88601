/* test_http.c -- unit tests of http/http.c and the worker's wire cap
 * (workers/engine_call.h): what a transfer's result code means, the body callback's
 * cap, that a stream's transfer has no cap on its wire bytes while an answer read whole
 * does, and a blocking call against a one-shot local server. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine_call.h"
#include "http.h"
#include "testsys.h"

#define BIG_BODY	200000		/* bytes a server sends */
#define ANSWER_MAX	65536		/* server.max_answer_bytes of the tests */

/* A local server that answers one request with `status` and `body_len` bytes, with a
 * Content-Length. */
struct server {
	int		 fd;
	int		 port;
	int		 status;
	size_t		 body_len;
	pthread_t	 thread;
};

static void *
serve_one(void *arg)
{
	struct server *s = arg;
	char req[4096], head[256], *body;
	size_t got = 0;
	ssize_t n;
	int c = accept(s->fd, NULL, NULL);

	if (c < 0)
		return NULL;
	while (got < sizeof(req) - 1 && (n = read(c, req + got, sizeof(req) - 1 - got)) > 0) {
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", s->status, s->body_len);
	(void)!write(c, head, (size_t)n);
	if ((body = malloc(s->body_len + 1)) != NULL) {
		memset(body, 'b', s->body_len);
		for (size_t off = 0; off < s->body_len; off += (size_t)n)
			if ((n = write(c, body + off, s->body_len - off)) <= 0)
				break;
		free(body);
	}
	close(c);
	return NULL;
}

static void
server_start(struct server *s, int status, size_t body_len)
{
	s->status = status;
	s->body_len = body_len;
	s->fd = testsys_listen(1, &s->port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve_one, s), 0);
}

static void
server_stop(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->fd);
}

/* Bytes a transfer brought (a write callback that keeps nothing). */
static size_t
count(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr;
	*(size_t *)arg += size * nmemb;
	return size * nmemb;
}

/* GET of the server's URL with the given wire cap; the bytes received in *got. */
static CURLcode
fetch(const struct server *s, size_t wire_max, size_t *got)
{
	struct aif_http_limits lim = { .timeout_ms = 5000, .max_response = wire_max };
	char url[64];
	CURL *e;
	CURLcode rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s->port);
	*got = 0;
	assert_non_null(e = aif_http_easy(url, &lim));
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, count);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, got);
	rc = curl_easy_perform(e);
	curl_easy_cleanup(e);
	return rc;
}

static void
outcome_names_each_result(void **state)
{
	struct aif_http_body over = { .overflow = 1 }, fine = { 0 };

	(void)state;
	assert_int_equal(aif_http_outcome(CURLE_OK, NULL), AIF_OK);
	assert_int_equal(aif_http_outcome(CURLE_FILESIZE_EXCEEDED, NULL), AIF_TOOBIG);
	assert_int_equal(aif_http_outcome(CURLE_WRITE_ERROR, &over), AIF_TOOBIG);
	assert_int_equal(aif_http_outcome(CURLE_WRITE_ERROR, &fine), AIF_IO);
	assert_int_equal(aif_http_outcome(CURLE_WRITE_ERROR, NULL), AIF_IO);
	assert_int_equal(aif_http_outcome(CURLE_OPERATION_TIMEDOUT, &fine), AIF_TIMEOUT);
	assert_int_equal(aif_http_outcome(CURLE_COULDNT_CONNECT, NULL), AIF_IO);
}

/* The body keeps max - 1 bytes and its NUL; one more byte is an overflow. */
static void
body_write_stops_at_its_cap(void **state)
{
	struct aif_http_body b = { .max = 10 };
	char nine[9] = "123456789";

	(void)state;
	assert_int_equal(aif_http_body_write(nine, 1, 9, &b), 9);
	assert_int_equal(b.buf.len, 9);
	assert_string_equal(b.buf.p, "123456789");
	assert_false(b.overflow);
	assert_int_equal(aif_http_body_write(nine, 1, 1, &b), 0);
	assert_true(b.overflow);
	assert_int_equal(b.buf.len, 9);
	aif_http_body_free(&b);
	assert_null(b.buf.p);
}

/* An answer read whole is refused once it passes server.max_answer_bytes on the wire. */
static void
answer_read_whole_is_capped_on_the_wire(void **state)
{
	struct server s;
	size_t got;

	(void)state;
	server_start(&s, 200, BIG_BODY);
	assert_int_equal(fetch(&s, engine_call_wire_max(0, ANSWER_MAX), &got),
	    CURLE_FILESIZE_EXCEEDED);
	assert_int_equal(aif_http_outcome(CURLE_FILESIZE_EXCEEDED, NULL), AIF_TOOBIG);
	assert_true(got < BIG_BODY);
	server_stop(&s);
}

/* A stream's wire bytes are many times its text: they are not capped by
 * max_answer_bytes (the assembler caps the text). */
static void
stream_is_not_capped_on_the_wire(void **state)
{
	struct server s;
	size_t got;

	(void)state;
	assert_int_equal(engine_call_wire_max(1, ANSWER_MAX), 0);
	server_start(&s, 200, BIG_BODY);
	assert_int_equal(fetch(&s, engine_call_wire_max(1, ANSWER_MAX), &got), CURLE_OK);
	assert_int_equal(got, BIG_BODY);
	server_stop(&s);
}

static void
run_reports_the_status_and_discards_the_body(void **state)
{
	struct server s;
	struct aif_http_result res;
	char url[64];
	struct aif_http_call c = { .method = "POST", .url = url, .body = "{}",
	    .lim = { .timeout_ms = 5000, .max_response = BIG_BODY + 1 } };

	(void)state;
	server_start(&s, 503, 1000);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/undo", s.port);
	assert_int_equal(aif_http_run(&c, 0, &res), AIF_OK);
	assert_int_equal(res.status, 503);
	assert_string_equal(res.error, "");
	server_stop(&s);
}

static void
run_keeps_the_body_when_asked_and_caps_it(void **state)
{
	struct server s;
	struct aif_http_result res;
	char url[64];
	struct aif_http_call c = { .method = "POST", .url = url, .body = "{}",
	    .lim = { .timeout_ms = 5000, .max_response = 4096 } };

	(void)state;
	server_start(&s, 200, 1000);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/step", s.port);
	assert_int_equal(aif_http_run(&c, 1, &res), AIF_OK);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.body.buf.len, 1000);
	aif_http_body_free(&res.body);
	server_stop(&s);
	/* past its cap the answer is refused, not cut */
	server_start(&s, 200, 8192);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/step", s.port);
	assert_int_equal(aif_http_run(&c, 1, &res), AIF_TOOBIG);
	aif_http_body_free(&res.body);
	server_stop(&s);
}

struct many { size_t calls, first; };

static int
stop_at_first(void *arg, size_t i)
{
	struct many *m = arg;

	if (m->calls++ == 0)
		m->first = i;
	return 1;
}

static void
run_many_reports_each_and_stops_when_told(void **state)
{
	struct server a, b;
	struct aif_http_result res[2];
	enum aif_err errs[2];
	char u1[64], u2[64];
	struct aif_http_call c[2] = {
		{ .method = "GET", .url = u1, .lim = { .timeout_ms = 5000, .max_response = 4096 } },
		{ .method = "GET", .url = u2, .lim = { .timeout_ms = 5000, .max_response = 4096 } },
	};
	struct many m = { 0, 0 };

	(void)state;
	server_start(&a, 200, 10);
	server_start(&b, 201, 20);
	snprintf(u1, sizeof(u1), "http://127.0.0.1:%d/a", a.port);
	snprintf(u2, sizeof(u2), "http://127.0.0.1:%d/b", b.port);
	/* both, bodies kept */
	assert_int_equal(aif_http_run_many(c, 2, 1, res, errs, NULL, NULL), AIF_OK);
	assert_int_equal(errs[0], AIF_OK);
	assert_int_equal(errs[1], AIF_OK);
	assert_int_equal(res[0].status, 200);
	assert_int_equal(res[1].status, 201);
	assert_int_equal(res[0].body.buf.len, 10);
	assert_int_equal(res[1].body.buf.len, 20);
	aif_http_body_free(&res[0].body);
	aif_http_body_free(&res[1].body);
	server_stop(&a);
	server_stop(&b);
	/* the callback ends the group at the first answer: the other is never reported
	   (the second call goes to a port that refuses, so either may come first) */
	{
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int fd;
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
		server_start(&a, 200, 10);
		snprintf(u1, sizeof(u1), "http://127.0.0.1:%d/a", a.port);
		snprintf(u2, sizeof(u2), "http://127.0.0.1:%d/b", ntohs(sa.sin_port));
		assert_int_equal(aif_http_run_many(c, 2, 1, res, errs, stop_at_first, &m),
		    AIF_OK);
		assert_int_equal(m.calls, 1);
		assert_int_equal(errs[m.first], m.first == 0 ? AIF_OK : AIF_IO);
		assert_int_equal(errs[1 - m.first], AIF_NOMEM);
		aif_http_body_free(&res[0].body);
		aif_http_body_free(&res[1].body);
		/* an abandoned call may never have reached the server: wake its accept */
		(void)shutdown(a.fd, SHUT_RDWR);
		server_stop(&a);
		close(fd);
	}
}

static void
run_without_a_server_is_io_with_a_reason(void **state)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	struct aif_http_result res;
	char url[64];
	struct aif_http_call c = { .method = "GET", .url = url,
	    .lim = { .timeout_ms = 5000, .max_response = 1024 } };
	int fd;

	(void)state;
	/* a port held by a socket that does not listen: the connection is refused */
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
	assert_int_equal(aif_http_run(&c, 0, &res), AIF_IO);
	assert_int_equal(res.status, 0);
	assert_true(res.error[0] != '\0');
	close(fd);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);	/* a server thread may write to a call left early */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(outcome_names_each_result),
		cmocka_unit_test(run_keeps_the_body_when_asked_and_caps_it),
		cmocka_unit_test(run_many_reports_each_and_stops_when_told),
		cmocka_unit_test(body_write_stops_at_its_cap),
		cmocka_unit_test(answer_read_whole_is_capped_on_the_wire),
		cmocka_unit_test(stream_is_not_capped_on_the_wire),
		cmocka_unit_test(run_reports_the_status_and_discards_the_body),
		cmocka_unit_test(run_without_a_server_is_io_with_a_reason),
	};
	int rc;

	if (aif_http_init() != AIF_OK)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	aif_http_cleanup();
	return rc;
}
