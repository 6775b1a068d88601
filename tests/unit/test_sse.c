/* test_sse.c -- unit tests of adapters/sse.c, the incremental Server-Sent Events parser
 * of the engines' streams: events cut at any byte give the same events, LF and CRLF
 * line ends, multi-line data joined with "\n", comments and unknown fields ignored,
 * `event:` types (and llama.cpp's `error:` line), a callback that stops the feed,
 * aif_sse_finish for a last event without its blank line, the AIF_SSE_EVENT_MAX bound,
 * and aif_sse_free on a fresh or used parser. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

#define MAX_EVENTS	32

/* What the callback saw: a copy of every event, and when to stop. */
struct seen {
	size_t	 n;
	struct {
		char	 event[sizeof(((struct aif_sse *)0)->event)];
		char	*data;
		size_t	 len;
	} ev[MAX_EVENTS];
	size_t	 stop_after;	/* return `stop_rc` from this event on (1-based); 0: never */
	int	 stop_rc;
};

static int
collect(void *arg, const char *event, const char *data, size_t len)
{
	struct seen *s = arg;

	if (s->n == MAX_EVENTS)
		fail_msg("more than %d events", MAX_EVENTS);
	assert_non_null(event);
	assert_non_null(data);
	assert_true(strlen(event) < sizeof(s->ev[0].event));
	memcpy(s->ev[s->n].event, event, strlen(event) + 1);
	assert_int_equal(data[len], '\0');
	assert_non_null(s->ev[s->n].data = malloc(len + 1));
	memcpy(s->ev[s->n].data, data, len + 1);
	s->ev[s->n].len = len;
	s->n++;
	return s->stop_after != 0 && s->n >= s->stop_after ? s->stop_rc : 0;
}

/* Feeds the string literal `text` to parser p. */
#define FEED(p, text, s)	aif_sse_feed((p), (text), strlen(text), collect, (s))

static void
seen_clear(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->ev[i].data);
	memset(s, 0, sizeof(*s));
}

/* Feeds text[0, len) `chunk` bytes at a time (all at once when chunk is 0), then
 * finishes; every call must succeed. */
static void
feed_chunked(const char *text, size_t len, size_t chunk, struct seen *s)
{
	struct aif_sse p;

	memset(&p, 0, sizeof(p));
	if (chunk == 0)
		chunk = len;
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		if (aif_sse_feed(&p, text + off, n, collect, s) != 0)
			fail_msg("feed failed at byte %zu (chunks of %zu)", off, chunk);
	}
	assert_int_equal(aif_sse_finish(&p, collect, s), 0);
	aif_sse_free(&p);
}

struct want {
	const char	*event;
	const char	*data;
};

/* Asserts s holds exactly the events of want[0, n). */
static void
expect_events(const struct seen *s, const struct want *want, size_t n, const char *how)
{
	if (s->n != n)
		fail_msg("%s: %zu events, want %zu", how, s->n, n);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s->ev[i].event, want[i].event) != 0 ||
		    s->ev[i].len != strlen(want[i].data) ||
		    memcmp(s->ev[i].data, want[i].data, s->ev[i].len) != 0)
			fail_msg("%s: event %zu is (\"%s\", \"%s\", %zu), want (\"%s\", \"%s\")",
			    how, i, s->ev[i].event, s->ev[i].data, s->ev[i].len,
			    want[i].event, want[i].data);
	}
}

/* ------------------------------------------------------------------ framing */

/* A vLLM-like stream with every feature the parser handles, LF and CRLF mixed. */
static const char mixed_stream[] =
    ": keep-alive\r\n"
    "\r\n"
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[]}\n"
    "\n"
    "data:no space after the colon\r\n"
    "\r\n"
    "event: delta\n"
    "data: first line\n"
    ": a comment inside the event\n"
    "data: second line\r\n"
    "data:\n"
    "data:  two spaces keep one\n"
    "\n"
    "id: 7\n"
    "retry: 1000\n"
    "x-unknown: field\n"
    "data: after id and retry\n"
    "\n"
    "event:error\r\n"
    "data: {\"error\":{\"message\":\"boom\"}}\r\n"
    "\r\n"
    "error: {\"code\":500,\"message\":\"llama.cpp\"}\n"
    "\n"
    "data: [DONE]\n"
    "\n";

static const struct want mixed_events[] = {
	{ "", "{\"id\":\"chatcmpl-1\",\"choices\":[]}" },
	{ "", "no space after the colon" },
	{ "delta", "first line\nsecond line\n\n two spaces keep one" },
	{ "", "after id and retry" },
	{ "error", "{\"error\":{\"message\":\"boom\"}}" },
	{ "error", "{\"code\":500,\"message\":\"llama.cpp\"}" },
	{ "", "[DONE]" },
};

static void
stream_fed_at_once_gives_the_expected_events(void **state)
{
	struct seen s = { 0 };

	(void)state;
	feed_chunked(mixed_stream, sizeof(mixed_stream) - 1, 0, &s);
	expect_events(&s, mixed_events, sizeof(mixed_events) / sizeof(mixed_events[0]),
	    "at once");
	seen_clear(&s);
}

/* Every chunk size, from byte by byte up: a cut inside "data:", between '\r' and
 * '\n', or between the two line ends of a blank line changes nothing. */
static void
stream_cut_at_any_byte_gives_the_same_events(void **state)
{
	(void)state;
	for (size_t chunk = 1; chunk < sizeof(mixed_stream); chunk++) {
		struct seen s = { 0 };
		char how[32];

		snprintf(how, sizeof(how), "chunks of %zu", chunk);
		feed_chunked(mixed_stream, sizeof(mixed_stream) - 1, chunk, &s);
		expect_events(&s, mixed_events,
		    sizeof(mixed_events) / sizeof(mixed_events[0]), how);
		seen_clear(&s);
	}
}

static void
crlf_and_lf_line_ends_give_the_same_events(void **state)
{
	static const char lf[] = "data: a\ndata: b\n\nevent: e\ndata: c\n\n";
	static const char crlf[] = "data: a\r\ndata: b\r\n\r\nevent: e\r\ndata: c\r\n\r\n";
	static const struct want want[] = { { "", "a\nb" }, { "e", "c" } };
	struct seen s = { 0 };

	(void)state;
	feed_chunked(lf, sizeof(lf) - 1, 0, &s);
	expect_events(&s, want, 2, "LF");
	seen_clear(&s);
	feed_chunked(crlf, sizeof(crlf) - 1, 0, &s);
	expect_events(&s, want, 2, "CRLF");
	seen_clear(&s);
	feed_chunked(crlf, sizeof(crlf) - 1, 1, &s);
	expect_events(&s, want, 2, "CRLF byte by byte");
	seen_clear(&s);
}

static void
multi_line_data_is_joined_with_newlines(void **state)
{
	static const char text[] = "data: {\"a\":\ndata: 1,\ndata: \"b\":2}\n\n";
	struct seen s = { 0 };

	(void)state;
	feed_chunked(text, sizeof(text) - 1, 0, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ev[0].data, "{\"a\":\n1,\n\"b\":2}");
	assert_int_equal(s.ev[0].len, strlen("{\"a\":\n1,\n\"b\":2}"));
	seen_clear(&s);
}

/* Keep-alives and blank lines alone are no events: only data makes one. */
static void
comments_and_blank_lines_alone_give_no_event(void **state)
{
	static const char text[] = ": ping\n\n:\n\r\n\n: ping again\r\n\r\n";
	static const char after[] = "event: only-a-type\n\nid: 3\n\ndata: real\n\n";
	struct seen s = { 0 };

	(void)state;
	feed_chunked(text, sizeof(text) - 1, 0, &s);
	assert_int_equal(s.n, 0);
	/* an event type or id without data is no event either, and is not carried over */
	feed_chunked(after, sizeof(after) - 1, 0, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ev[0].event, "");
	assert_string_equal(s.ev[0].data, "real");
	seen_clear(&s);
}

/* ------------------------------------------------------------------ event types */

static void
event_type_is_passed_and_reset_after_each_event(void **state)
{
	static const char text[] =
	    "event: message_start\ndata: 1\n\n"
	    "data: 2\n\n"
	    "event: content_block_delta\ndata: 3\n\n";
	static const struct want want[] = {
		{ "message_start", "1" }, { "", "2" }, { "content_block_delta", "3" },
	};
	struct seen s = { 0 };

	(void)state;
	feed_chunked(text, sizeof(text) - 1, 0, &s);
	expect_events(&s, want, 3, "types");
	seen_clear(&s);
}

static void
empty_data_line_is_an_event_with_empty_data(void **state)
{
	static const char text[] = "event: ping\ndata:\n\n";
	struct seen s = { 0 };

	(void)state;
	feed_chunked(text, sizeof(text) - 1, 0, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ev[0].event, "ping");
	assert_string_equal(s.ev[0].data, "");
	assert_int_equal(s.ev[0].len, 0);
	seen_clear(&s);
}

/* The type is a fixed buffer: a longer one is cut, never written past. */
static void
overlong_event_type_is_cut_to_fit(void **state)
{
	char text[256];
	struct seen s = { 0 };
	const size_t cap = sizeof(((struct aif_sse *)0)->event);
	int n;

	(void)state;
	n = snprintf(text, sizeof(text), "event: %s\ndata: x\n\n",
	    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ");
	assert_true(n > 0 && (size_t)n < sizeof(text));
	feed_chunked(text, (size_t)n, 0, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(strlen(s.ev[0].event), cap - 1);
	assert_memory_equal(s.ev[0].event, "abcdefghijklmnopqrstuvwxyz0123456789", cap - 1);
	assert_string_equal(s.ev[0].data, "x");
	seen_clear(&s);
}

/* ------------------------------------------------------------------ stopping */

/* The callback's -1 (or any non-zero value) makes the feed return -1 at once: the
 * events after it in the same bytes are not delivered. */
static void
callback_returning_nonzero_stops_the_feed(void **state)
{
	static const char text[] = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
	static const int rcs[] = { -1, 1 };

	(void)state;
	for (size_t i = 0; i < sizeof(rcs) / sizeof(rcs[0]); i++) {
		struct aif_sse p;
		struct seen s = { 0 };

		memset(&p, 0, sizeof(p));
		s.stop_after = 2;
		s.stop_rc = rcs[i];
		if (FEED(&p, text, &s) != -1)
			fail_msg("callback returned %d: the feed went on", rcs[i]);
		assert_int_equal(s.n, 2);
		assert_string_equal(s.ev[1].data, "2");
		aif_sse_free(&p);
		seen_clear(&s);
	}
}

static void
callback_returning_nonzero_fails_finish(void **state)
{
	struct aif_sse p;
	struct seen s = { 0 };

	(void)state;
	memset(&p, 0, sizeof(p));
	s.stop_after = 1;
	s.stop_rc = -1;
	assert_int_equal(FEED(&p, "data: last", &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(aif_sse_finish(&p, collect, &s), -1);
	assert_int_equal(s.n, 1);
	aif_sse_free(&p);
	seen_clear(&s);
}

/* ------------------------------------------------------------------ finish */

static void
finish_delivers_a_last_event_without_its_blank_line(void **state)
{
	static const char *const tails[] = {
		"data: last",		/* no line end at all */
		"data: last\n",		/* the line, but no blank line */
		"data: last\r\n",
		"event: end\ndata: la\ndata: st\r\n",
	};
	static const char *const want[] = { "last", "last", "last", "la\nst" };

	(void)state;
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		struct aif_sse p;
		struct seen s = { 0 };

		memset(&p, 0, sizeof(p));
		assert_int_equal(FEED(&p, "data: first\n\n", &s), 0);
		assert_int_equal(aif_sse_feed(&p, tails[i], strlen(tails[i]), collect, &s), 0);
		if (s.n != 1)
			fail_msg("\"%s\": %zu events before finish", tails[i], s.n);
		assert_int_equal(aif_sse_finish(&p, collect, &s), 0);
		if (s.n != 2 || strcmp(s.ev[1].data, want[i]) != 0)
			fail_msg("\"%s\": finish gave %zu events", tails[i], s.n);
		aif_sse_free(&p);
		seen_clear(&s);
	}
}

static void
finish_with_nothing_pending_delivers_nothing(void **state)
{
	struct aif_sse p;
	struct seen s = { 0 };

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(aif_sse_finish(&p, collect, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(FEED(&p, "data: x\n\n: bye", &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(aif_sse_finish(&p, collect, &s), 0);
	assert_int_equal(s.n, 1);	/* a trailing comment is no event */
	aif_sse_free(&p);
	seen_clear(&s);
}

/* ------------------------------------------------------------------ bounds */

/* Returns "data:" + n bytes of 'x' + "\n\n" (new); *len its length. */
static char *
data_event(size_t n, size_t *len)
{
	char *t = malloc(n + 8);

	assert_non_null(t);
	memcpy(t, "data:", 5);
	memset(t + 5, 'x', n);
	memcpy(t + 5 + n, "\n\n", 2);
	*len = n + 7;
	return t;
}

static void
event_below_the_cap_is_delivered_whole(void **state)
{
	struct aif_sse p;
	struct seen s = { 0 };
	size_t len;
	char *t = data_event(AIF_SSE_EVENT_MAX - 1, &len);

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(aif_sse_feed(&p, t, len, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0].len, AIF_SSE_EVENT_MAX - 1);
	assert_int_equal(strlen(s.ev[0].data), AIF_SSE_EVENT_MAX - 1);
	aif_sse_free(&p);
	seen_clear(&s);
	free(t);
}

static void
event_over_the_cap_is_an_error(void **state)
{
	struct aif_sse p;
	struct seen s = { 0 };
	size_t len;
	char *t = data_event(AIF_SSE_EVENT_MAX + 1, &len);

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(aif_sse_feed(&p, t, len, collect, &s), -1);
	assert_int_equal(s.n, 0);
	assert_true(p.data.cap <= AIF_SSE_EVENT_MAX);
	aif_sse_free(&p);
	free(t);
}

/* Many small data lines of one event: the joined data is bounded, not the lines. */
static void
event_of_many_small_lines_over_the_cap_is_an_error(void **state)
{
	char line[1024 + 7];
	struct aif_sse p;
	struct seen s = { 0 };
	size_t lines = 0;
	int rc = 0;

	(void)state;
	memcpy(line, "data: ", 6);
	memset(line + 6, 'y', 1024);
	line[sizeof(line) - 1] = '\n';
	memset(&p, 0, sizeof(p));
	while (rc == 0 && lines <= 2 * AIF_SSE_EVENT_MAX / 1024) {
		rc = aif_sse_feed(&p, line, sizeof(line), collect, &s);
		lines++;
	}
	assert_int_equal(rc, -1);
	/* each line adds more than 1024 bytes of data: refused at the line that crosses
	 * the cap, with no more memory than the cap */
	assert_true(lines <= AIF_SSE_EVENT_MAX / 1024 + 1);
	assert_true(p.data.cap <= AIF_SSE_EVENT_MAX);
	assert_int_equal(s.n, 0);
	aif_sse_free(&p);
}

/* A line that never ends, fed in pieces, stops at the cap instead of growing. */
static void
endless_line_fed_in_pieces_is_an_error(void **state)
{
	char piece[4096];
	struct aif_sse p;
	struct seen s = { 0 };
	size_t fed = 0;
	int rc = 0;

	(void)state;
	memset(piece, 'z', sizeof(piece));
	memcpy(piece, "data: ", 6);
	memset(&p, 0, sizeof(p));
	while (rc == 0 && fed <= 2 * (size_t)AIF_SSE_EVENT_MAX) {
		rc = aif_sse_feed(&p, piece, sizeof(piece), collect, &s);
		fed += sizeof(piece);
	}
	assert_int_equal(rc, -1);
	assert_true(fed <= (size_t)AIF_SSE_EVENT_MAX + sizeof(piece));
	assert_true(p.line.cap <= AIF_SSE_EVENT_MAX);
	assert_int_equal(s.n, 0);
	aif_sse_free(&p);
}

/* ------------------------------------------------------------------ free */

static void
free_accepts_a_zeroed_parser_and_leaves_it_usable(void **state)
{
	struct aif_sse p, zero;
	struct seen s = { 0 };

	(void)state;
	memset(&p, 0, sizeof(p));
	memset(&zero, 0, sizeof(zero));
	aif_sse_free(&p);
	assert_memory_equal(&p, &zero, sizeof(p));
	assert_int_equal(FEED(&p, "data: ok\n\n", &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ev[0].data, "ok");
	aif_sse_free(&p);
	seen_clear(&s);
}

/* Freeing mid-event releases both buffers and zeroes the struct, so a second free
 * and a new stream are safe (ASan checks the buffers). */
static void
free_mid_event_releases_and_zeroes(void **state)
{
	struct aif_sse p, zero;
	struct seen s = { 0 };

	(void)state;
	memset(&p, 0, sizeof(p));
	memset(&zero, 0, sizeof(zero));
	assert_int_equal(FEED(&p, "event: e\ndata: held\ndata: partial li", &s), 0);
	assert_non_null(p.data.p);
	assert_non_null(p.line.p);
	aif_sse_free(&p);
	assert_memory_equal(&p, &zero, sizeof(p));
	aif_sse_free(&p);
	/* nothing of the old event survives */
	assert_int_equal(FEED(&p, "data: new\n\n", &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ev[0].event, "");
	assert_string_equal(s.ev[0].data, "new");
	aif_sse_free(&p);
	seen_clear(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stream_fed_at_once_gives_the_expected_events),
		cmocka_unit_test(stream_cut_at_any_byte_gives_the_same_events),
		cmocka_unit_test(crlf_and_lf_line_ends_give_the_same_events),
		cmocka_unit_test(multi_line_data_is_joined_with_newlines),
		cmocka_unit_test(comments_and_blank_lines_alone_give_no_event),
		cmocka_unit_test(event_type_is_passed_and_reset_after_each_event),
		cmocka_unit_test(empty_data_line_is_an_event_with_empty_data),
		cmocka_unit_test(overlong_event_type_is_cut_to_fit),
		cmocka_unit_test(callback_returning_nonzero_stops_the_feed),
		cmocka_unit_test(callback_returning_nonzero_fails_finish),
		cmocka_unit_test(finish_delivers_a_last_event_without_its_blank_line),
		cmocka_unit_test(finish_with_nothing_pending_delivers_nothing),
		cmocka_unit_test(event_below_the_cap_is_delivered_whole),
		cmocka_unit_test(event_over_the_cap_is_an_error),
		cmocka_unit_test(event_of_many_small_lines_over_the_cap_is_an_error),
		cmocka_unit_test(endless_line_fed_in_pieces_is_an_error),
		cmocka_unit_test(free_accepts_a_zeroed_parser_and_leaves_it_usable),
		cmocka_unit_test(free_mid_event_releases_and_zeroes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
