/* test_parked.c -- unit tests of fcgi-app/parked.c, the one table of parked requests:
 * sync waiters and streams are found by job id and kind (the one holding the relay
 * secret first), the limit holds per kind, early notes (a job that finished, frames of
 * its relay) reach a request parked after them that can check them, expire, and stay
 * within their bounds (oldest first); frames are checked three ways; predicates,
 * slow-poll marks and settling against job rows. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "metrics.h"
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

static const unsigned char SECRET[AIF_RELAY_SECRET_BYTES] = "0123456789abcdef";

static struct parked *
new_parked(uint64_t id, int stream)
{
	struct reply rp;
	struct parked *p;

	memset(&rp, 0, sizeof(rp));
	p = parked_new(id, stream, &rp, 0, NULL);
	assert_non_null(p);
	return p;
}

/* One that holds the job's relay secret (it can check the job's frames). */
static struct parked *
new_holder(uint64_t id, int stream)
{
	struct reply rp;
	struct parked *p;

	memset(&rp, 0, sizeof(rp));
	p = parked_new(id, stream, &rp, 0, SECRET);
	assert_non_null(p);
	return p;
}

/* A frame of job id's attempt 1 signed with its key (the job's secret is SECRET). */
static struct aif_relay_header
signed_frame(uint64_t id, uint32_t type, const char *payload)
{
	struct aif_relay_header h = { .job = id, .type = type,
	    .len = (uint32_t)strlen(payload), .attempt = 1 };
	unsigned char key[AIF_RELAY_KEY_LEN];

	aif_relay_key(SECRET, id, 1, key);
	aif_relay_sign(key, &h, payload);
	return h;
}

/* aif_relay_rejected_frames_total{side="api"} counted since the last call. */
static int64_t
rejected_frames(void)
{
	struct aif_metric_delta d[64];
	size_t n = aif_metrics_take(d, 64);
	int64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		if (strcmp(d[i].name, "aif_relay_rejected_frames_total") == 0)
			sum += d[i].value;
	return sum;
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
	assert_null(parked_take_or_finished(api.parked, 42));
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

/* The frames come back, in order, to a request that can check them; it goes in once
 * they were applied (the next put finds none). */
static void
early_frames_come_back_in_order(void **state)
{
	struct parked *p = new_holder(7, 1);
	struct early_frame *f = NULL;

	(void)state;
	early(7, 1, "{\"attempt\":1}");
	early(7, 2, "one");
	early(8, 2, "other");
	early(7, 2, "two");
	assert_int_equal(parked_put(api.parked, p, 8, NULL, &f), 1);
	assert_int_equal(parked_count(api.parked, 1), 0);
	assert_non_null(f);
	assert_int_equal(f->h.type, 1);
	assert_string_equal(f->next->payload, "one");
	assert_string_equal(f->next->next->payload, "two");
	assert_null(f->next->next->next);
	parked_frames_free(f);
	assert_int_equal(parked_put(api.parked, p, 8, NULL, &f), 0);
	assert_null(f);
	assert_int_equal(parked_count(api.parked, 1), 1);
	drain(1);
}

/* A request without the relay secret (an attach) cannot check frames: they stay for one
 * that can. */
static void
early_frames_wait_for_a_request_that_can_check_them(void **state)
{
	struct parked *holder = new_holder(17, 1);
	struct early_frame *f = NULL;

	(void)state;
	early(17, 2, "kept");
	assert_int_equal(parked_put(api.parked, new_parked(17, 1), 8, NULL, &f), 0);
	assert_null(f);
	assert_int_equal(parked_put(api.parked, holder, 8, NULL, &f), 1);
	assert_non_null(f);
	assert_string_equal(f->payload, "kept");
	parked_frames_free(f);
	/* the frames applied, the holder goes in */
	assert_int_equal(parked_put(api.parked, holder, 8, NULL, &f), 0);
	assert_int_equal(parked_count(api.parked, 1), 2);
	drain(1);
}

struct replayed {
	char	 got[64];
	int	 consumed;
};

/* A test's replay: appends each checked frame's payload; END consumes the request. */
static int
replay_into(struct parked *p, const struct early_frame *f, void *arg)
{
	struct replayed *r = arg;

	if (parked_check_frame(p, &f->h, f->payload) != PARKED_FRAME_OK)
		return 0;
	strncat(r->got, f->payload, sizeof(r->got) - strlen(r->got) - 1);
	if (f->h.type != AIF_RELAY_END)
		return 0;
	r->consumed = 1;
	parked_free(p);
	return 1;
}

/* A sync waiter parked after the pieces of its zero-retention answer and their END
 * came gets them, in order, and is answered by them instead of waiting in the table. */
static void
a_sync_waiter_parked_after_its_answer_gets_it(void **state)
{
	struct aif_relay_header h[3];
	struct replayed r = { "", 0 };
	int finished = 1;

	(void)state;
	h[0] = signed_frame(21, AIF_RELAY_RESULT, "ab");
	h[1] = signed_frame(21, AIF_RELAY_RESULT, "cd");
	h[2] = signed_frame(21, AIF_RELAY_END, "!");
	parked_early_frame(api.parked, &h[0], "ab");
	parked_early_frame(api.parked, &h[1], "cd");
	parked_early_frame(api.parked, &h[2], "!");
	assert_int_equal(parked_put_replay(api.parked, new_holder(21, 0), 8, replay_into, &r,
	    &finished), 1);
	assert_int_equal(r.consumed, 1);
	assert_string_equal(r.got, "abcd!");
	assert_int_equal(finished, 0);
	assert_int_equal(parked_count(api.parked, 0), 0);
	/* pieces without their END yet: applied, then the waiter goes in */
	memset(&r, 0, sizeof(r));
	h[0] = signed_frame(22, AIF_RELAY_RESULT, "xy");
	parked_early_frame(api.parked, &h[0], "xy");
	assert_int_equal(parked_put_replay(api.parked, new_holder(22, 0), 8, replay_into, &r,
	    NULL), 0);
	assert_string_equal(r.got, "xy");
	assert_int_equal(r.consumed, 0);
	assert_int_equal(parked_count(api.parked, 0), 1);
	drain(0);
}

/* A frame is the job's, cannot be checked by a request without the secret, or is bad:
 * only a bad one is counted as rejected. Attempt 0 is no attempt. */
static void
frames_are_checked_three_ways(void **state)
{
	struct parked *holder = new_holder(31, 1), *attach = new_parked(31, 1);
	struct parked *fresh = new_holder(32, 1);
	struct aif_relay_header h = signed_frame(31, AIF_RELAY_CHUNK, "hello");
	unsigned char zero[AIF_RELAY_KEY_LEN] = { 0 };

	(void)state;
	(void)rejected_frames();
	assert_int_equal(parked_check_frame(holder, &h, "hello"), PARKED_FRAME_OK);
	assert_int_equal(parked_check_frame(attach, &h, "hello"), PARKED_FRAME_UNVERIFIABLE);
	assert_int_equal(rejected_frames(), 0);
	assert_int_equal(parked_check_frame(holder, &h, "jello"), PARKED_FRAME_BAD);
	assert_int_equal(rejected_frames(), 1);
	/* another attempt's key does not pass for this one */
	h.attempt = 2;
	assert_int_equal(parked_check_frame(holder, &h, "hello"), PARKED_FRAME_BAD);
	/* the key of no attempt yet (all zeros) proves nothing: attempt 0 is refused */
	h.job = 32;
	h.attempt = 0;
	aif_relay_sign(zero, &h, "hello");
	assert_int_equal(parked_check_frame(fresh, &h, "hello"), PARKED_FRAME_BAD);
	assert_int_equal(rejected_frames(), 2);
	parked_free(holder);
	parked_free(attach);
	parked_free(fresh);
}

/* Of several requests of one job (an attach beside the original), the one holding the
 * relay secret is found and taken first, whichever was parked first. */
static void
the_request_that_can_check_frames_comes_first(void **state)
{
	struct parked *attach = new_parked(41, 1), *holder = new_holder(41, 1), *out[4];

	(void)state;
	assert_int_equal(parked_put(api.parked, attach, 8, NULL, NULL), 0);
	assert_int_equal(parked_put(api.parked, holder, 8, NULL, NULL), 0);
	assert_int_equal(parked_put(api.parked, new_parked(41, 1), 8, NULL, NULL), 0);
	assert_int_equal(parked_find(api.parked, 41, 1, out, 4), 3);
	assert_ptr_equal(out[0], holder);
	assert_false(out[1]->has_secret || out[2]->has_secret);
	assert_int_equal(parked_find(api.parked, 41, 1, out, 1), 1);
	assert_ptr_equal(out[0], holder);
	assert_int_equal(parked_find(api.parked, 41, 0, out, 4), 0);
	/* found in place: still parked */
	assert_int_equal(parked_count(api.parked, 1), 3);
	assert_ptr_equal(parked_take(api.parked, 41, 1), holder);
	free(holder);
	/* sync waiters alike */
	assert_int_equal(parked_put(api.parked, new_parked(42, 0), 8, NULL, NULL), 0);
	holder = new_holder(42, 0);
	assert_int_equal(parked_put(api.parked, holder, 8, NULL, NULL), 0);
	assert_ptr_equal(parked_take(api.parked, 42, 0), holder);
	free(holder);
	/* one request taken out by itself */
	assert_int_equal(parked_remove(api.parked, attach), 1);
	assert_int_equal(parked_remove(api.parked, attach), 0);
	free(attach);
	assert_int_equal(parked_count(api.parked, 1), 1);
	drain(0);
	drain(1);
}

static void
early_notes_expire(void **state)
{
	int finished = 1;

	(void)state;
	assert_null(parked_take_or_finished(api.parked, 55));
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
		assert_null(parked_take_or_finished(api.parked, 100000 + i));
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
early_notes_are_dropped_oldest_first(void **state)
{
	struct parked *holder = new_holder(10, 1);
	struct early_frame *f = NULL;

	(void)state;
	/* a stream's early frame, then as many "finished" notes as the notes keep: the
	 * oldest goes first, whatever it holds; a newer frame is kept */
	early(9, 2, "old");
	for (uint64_t i = 0; i < PARKED_EARLY_MAX - 1; i++)
		assert_null(parked_take_or_finished(api.parked, 200000 + i));
	early(10, 2, "new");
	assert_int_equal(parked_put(api.parked, new_holder(9, 1), 8, NULL, &f), 0);
	assert_null(f);
	assert_int_equal(parked_put(api.parked, holder, 8, NULL, &f), 1);
	assert_non_null(f);
	assert_string_equal(f->payload, "new");
	parked_frames_free(f);
	assert_int_equal(parked_put(api.parked, holder, 8, NULL, &f), 0);
	drain(1);
}

static void
notes_that_get_frames_stay_the_newest(void **state)
{
	struct parked *holder = new_holder(11, 1);
	struct early_frame *f = NULL;

	(void)state;
	/* a long stream whose request is slow to park: each frame makes its notes the
	 * newest, so notes of other jobs that came meanwhile go first, not its head */
	early(11, 2, "head");
	for (uint64_t i = 0; i < PARKED_EARLY_MAX - 1; i++)
		assert_null(parked_take_or_finished(api.parked, 300000 + i));
	early(11, 2, "tail");
	assert_null(parked_take_or_finished(api.parked, 400000));	/* one over: drops 300000 */
	assert_int_equal(parked_put(api.parked, holder, 8, NULL, &f), 1);
	assert_non_null(f);
	assert_string_equal(f->payload, "head");
	assert_non_null(f->next);
	assert_string_equal(f->next->payload, "tail");
	parked_frames_free(f);
	assert_int_equal(parked_put(api.parked, holder, 8, NULL, &f), 0);
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
	int64_t now = 1000;

	(void)state;
	a->deadline_ms = 500;
	b->deadline_ms = 5000;
	a->seen_ms = b->seen_ms = 100;
	assert_int_equal(parked_put(api.parked, a, 8, NULL, NULL), 0);
	assert_int_equal(parked_put(api.parked, b, 8, NULL, NULL), 0);
	assert_int_equal(parked_take_due(api.parked, 0, 100, 900, out, 8), 2);
	assert_int_equal(out[0]->seen_ms, 900);
	parked_return(api.parked, out[0]);
	parked_return(api.parked, out[1]);
	/* marked seen at 900: not due again before then */
	assert_int_equal(parked_take_due(api.parked, 0, 800, 950, out, 8), 0);
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
		cmocka_unit_test_setup_teardown(early_notes_are_dropped_oldest_first, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(notes_that_get_frames_stay_the_newest, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(early_frames_wait_for_a_request_that_can_check_them,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(a_sync_waiter_parked_after_its_answer_gets_it, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(frames_are_checked_three_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(the_request_that_can_check_frames_comes_first, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(predicates_and_slow_poll_marks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
