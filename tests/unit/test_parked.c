/* test_parked.c -- unit tests of fcgi-app/parked.c, the one table of parked requests:
 * sync waiters and streams are found by job id and kind, the limit holds per kind,
 * early notes (a job that finished, frames of a stream) reach a request parked after
 * them, expire, and stay within their bounds; predicates and slow-poll marks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "parked.h"

static struct api api;

static int
setup(void **state)
{
	(void)state;
	memset(&api, 0, sizeof(api));
	return parked_start(&api);
}

static int
teardown(void **state)
{
	(void)state;
	parked_stop(&api, 0);
	return 0;
}

static struct parked *
new_parked(uint64_t id, int stream)
{
	struct parked *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->id = id;
	p->stream = stream;
	p->conn = -1;
	return p;
}

/* A frame of job `id` that came before its stream was parked. */
static void
early(uint64_t id, uint32_t type, const char *payload)
{
	struct aif_relay_header h = { .job = id, .type = type,
	    .len = (uint32_t)strlen(payload), .attempt = 1 };

	parked_early_frame(api.parked, &h, payload);
}

static int
take_all(const struct parked *p, void *arg)
{
	(void)p;
	(void)arg;
	return 1;
}

static void
drain(int stream)
{
	struct parked *out[64];
	size_t n;

	while ((n = parked_take_if(api.parked, stream, take_all, NULL, out, 64)) > 0)
		for (size_t i = 0; i < n; i++)
			free(out[i]);
}

static void
requests_are_found_by_id_and_kind(void **state)
{
	struct parked *p;

	(void)state;
	assert_int_equal(parked_put(api.parked, new_parked(10, 0), 8, NULL, NULL), 0);
	assert_int_equal(parked_put(api.parked, new_parked(10, 1), 8, NULL, NULL), 0);
	assert_int_equal(parked_put(api.parked, new_parked(11, 0), 8, NULL, NULL), 0);
	assert_int_equal(parked_count(api.parked, 0), 2);
	assert_int_equal(parked_count(api.parked, 1), 1);
	assert_null(parked_take(api.parked, 12, 0));
	p = parked_take(api.parked, 10, 1);
	assert_non_null(p);
	assert_int_equal(p->stream, 1);
	free(p);
	assert_null(parked_take(api.parked, 10, 1));
	p = parked_take(api.parked, 10, 0);
	assert_non_null(p);
	free(p);
	assert_int_equal(parked_count(api.parked, 0), 1);
	drain(0);
}

static void
the_limit_holds_per_kind(void **state)
{
	struct parked *extra = new_parked(99, 0);

	(void)state;
	for (uint64_t i = 0; i < 3; i++)
		assert_int_equal(parked_put(api.parked, new_parked(i, 0), 3, NULL, NULL), 0);
	assert_int_equal(parked_put(api.parked, extra, 3, NULL, NULL), -1);
	free(extra);
	/* streams count apart */
	assert_int_equal(parked_put(api.parked, new_parked(5, 1), 3, NULL, NULL), 0);
	drain(0);
	drain(1);
}

static void
many_requests_share_buckets(void **state)
{
	(void)state;
	for (uint64_t i = 0; i < 20000; i++)
		assert_int_equal(parked_put(api.parked, new_parked(i * 4096, 0), 100000, NULL,
		    NULL), 0);
	for (uint64_t i = 0; i < 20000; i++) {
		struct parked *p = parked_take(api.parked, i * 4096, 0);
		assert_non_null(p);
		assert_int_equal(p->id, i * 4096);
		free(p);
	}
	assert_int_equal(parked_count(api.parked, 0), 0);
}

static void
a_finished_note_reaches_a_later_park(void **state)
{
	int finished = 0;

	(void)state;
	parked_early_finished(api.parked, 42);
	assert_int_equal(parked_put(api.parked, new_parked(41, 0), 8, &finished, NULL), 0);
	assert_int_equal(finished, 0);
	assert_int_equal(parked_put(api.parked, new_parked(42, 0), 8, &finished, NULL), 0);
	assert_int_equal(finished, 1);
	/* the note is used up */
	free(parked_take(api.parked, 42, 0));
	assert_int_equal(parked_put(api.parked, new_parked(42, 0), 8, &finished, NULL), 0);
	assert_int_equal(finished, 0);
	drain(0);
}

static void
early_frames_come_back_in_order(void **state)
{
	struct early_frame *f = NULL;

	(void)state;
	early(7, 1, "{\"attempt\":1}");
	early(7, 2, "one");
	early(8, 2, "other");
	early(7, 2, "two");
	assert_int_equal(parked_put(api.parked, new_parked(7, 1), 8, NULL, &f), 0);
	assert_non_null(f);
	assert_int_equal(f->h.type, 1);
	assert_string_equal(f->next->payload, "one");
	assert_string_equal(f->next->next->payload, "two");
	assert_null(f->next->next->next);
	parked_frames_free(f);
	drain(1);
}

static void
early_notes_expire(void **state)
{
	int finished = 1;

	(void)state;
	parked_early_finished(api.parked, 55);
	parked_early_expire(api.parked, aif_now_ms() + PARKED_EARLY_TTL_MS + 1);
	assert_int_equal(parked_put(api.parked, new_parked(55, 0), 8, &finished, NULL), 0);
	assert_int_equal(finished, 0);
	drain(0);
}

static void
early_notes_are_bounded(void **state)
{
	int finished = 1;

	(void)state;
	/* more jobs than the notes keep: the oldest go first */
	for (uint64_t i = 0; i < PARKED_EARLY_MAX + 10; i++)
		parked_early_finished(api.parked, 100000 + i);
	assert_int_equal(parked_put(api.parked, new_parked(100000, 0), 8, &finished, NULL), 0);
	assert_int_equal(finished, 0);
	assert_int_equal(parked_put(api.parked, new_parked(100000 + PARKED_EARLY_MAX + 9, 0), 8,
	    &finished, NULL), 0);
	assert_int_equal(finished, 1);
	drain(0);
}

static void
a_bell_takes_the_request_or_leaves_a_note(void **state)
{
	struct parked *p;
	int finished = 0;

	(void)state;
	/* parked first: the bell takes it */
	assert_int_equal(parked_put(api.parked, new_parked(61, 0), 8, &finished, NULL), 0);
	p = parked_take_or_finished(api.parked, 61);
	assert_non_null(p);
	assert_int_equal(p->id, 61);
	free(p);
	/* the bell first: the request parked after it learns that its job finished */
	assert_null(parked_take_or_finished(api.parked, 62));
	assert_int_equal(parked_put(api.parked, new_parked(62, 0), 8, &finished, NULL), 0);
	assert_int_equal(finished, 1);
	/* a stream of the same id is not a sync waiter: left parked */
	assert_int_equal(parked_put(api.parked, new_parked(63, 1), 8, NULL, NULL), 0);
	assert_null(parked_take_or_finished(api.parked, 63));
	assert_int_equal(parked_count(api.parked, 1), 1);
	drain(0);
	drain(1);
}

static void
finished_notes_go_before_early_frames(void **state)
{
	struct early_frame *f = NULL;

	(void)state;
	/* a stream's early frame, then more "finished" notes than the notes keep (every
	 * finished stream job leaves one): the frame is still there for its stream */
	early(9, 2, "kept");
	for (uint64_t i = 0; i < PARKED_EARLY_MAX + 100; i++)
		parked_early_finished(api.parked, 200000 + i);
	assert_int_equal(parked_put(api.parked, new_parked(9, 1), 8, NULL, &f), 0);
	assert_non_null(f);
	assert_string_equal(f->payload, "kept");
	parked_frames_free(f);
	drain(1);
}

static int
older_than(const struct parked *p, void *arg)
{
	return p->deadline_ms <= *(const int64_t *)arg;
}

static void
predicates_and_slow_poll_marks(void **state)
{
	struct parked *out[8], *a = new_parked(1, 0), *b = new_parked(2, 0);
	uint64_t ids[8];
	int64_t now = 1000;

	(void)state;
	a->deadline_ms = 500;
	b->deadline_ms = 5000;
	a->seen_ms = b->seen_ms = 100;
	assert_int_equal(parked_put(api.parked, a, 8, NULL, NULL), 0);
	assert_int_equal(parked_put(api.parked, b, 8, NULL, NULL), 0);
	assert_int_equal(parked_due(api.parked, 0, 100, 900, ids, 8), 2);
	/* marked seen at 900: not due again before then */
	assert_int_equal(parked_due(api.parked, 0, 800, 950, ids, 8), 0);
	assert_int_equal(parked_take_if(api.parked, 0, older_than, &now, out, 8), 1);
	assert_int_equal(out[0]->id, 1);
	free(out[0]);
	drain(0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(requests_are_found_by_id_and_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(the_limit_holds_per_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(many_requests_share_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(a_finished_note_reaches_a_later_park, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(early_frames_come_back_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(early_notes_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(early_notes_are_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(a_bell_takes_the_request_or_leaves_a_note, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(finished_notes_go_before_early_frames, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(predicates_and_slow_poll_marks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
