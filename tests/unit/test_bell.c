/* test_bell.c -- unit tests of core/protocol/bell.c: the doorbell messages between our
 * processes are built and parsed symmetrically, job lists are split to fit a datagram,
 * and malformed messages are told apart. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "bell.h"

static void
jobs_round_trip(void **state)
{
	uint64_t ids[] = { 1, 42, 18446744073709551615ull }, got[8];
	char buf[AIF_BELL_MAX];
	size_t used, n, len;

	(void)state;
	len = aif_bell_jobs(buf, sizeof(buf), ids, 3, &used);
	assert_int_equal(used, 3);
	assert_string_equal(buf, "job 1 42 18446744073709551615\n");
	assert_int_equal(len, strlen(buf));
	assert_int_equal(aif_bell_parse(buf, got, 8, &n), AIF_BELL_JOBS);
	assert_int_equal(n, 3);
	assert_memory_equal(got, ids, sizeof(ids));
}

static void
a_long_list_is_cut_at_whole_ids(void **state)
{
	uint64_t ids[1000], got[AIF_BELL_IDS_MAX];
	char buf[64];
	size_t used, n, len, total = 0;

	(void)state;
	for (size_t i = 0; i < 1000; i++)
		ids[i] = 1000000 + i;
	while (total < 1000) {
		len = aif_bell_jobs(buf, sizeof(buf), ids + total, 1000 - total, &used);
		assert_true(len > 0 && len < sizeof(buf));
		assert_int_equal(buf[len - 1], '\n');
		assert_int_equal(aif_bell_parse(buf, got, AIF_BELL_IDS_MAX, &n), AIF_BELL_JOBS);
		assert_int_equal(n, used);
		assert_memory_equal(got, ids + total, used * sizeof(ids[0]));
		total += used;
	}
	assert_int_equal(total, 1000);
}

static void
nothing_fits_in_a_tiny_buffer(void **state)
{
	uint64_t id = 123456789;
	char buf[8];
	size_t used;

	(void)state;
	assert_int_equal(aif_bell_jobs(buf, sizeof(buf), &id, 1, &used), 0);
	assert_int_equal(used, 0);
}

static void
cancel_round_trip(void **state)
{
	uint64_t id = 0;
	char buf[64];
	size_t n;

	(void)state;
	assert_int_equal(aif_bell_cancel(buf, sizeof(buf), 77), strlen("cancel 77\n"));
	assert_int_equal(aif_bell_parse(buf, &id, 1, &n), AIF_BELL_CANCEL);
	assert_int_equal(id, 77);
	assert_int_equal(n, 1);
}

static void
take_round_trip(void **state)
{
	uint64_t id = 0;
	char buf[64];
	size_t n;

	(void)state;
	assert_int_equal(aif_bell_take(buf, sizeof(buf), 123456789012ULL),
	    strlen("take 123456789012\n"));
	assert_int_equal(aif_bell_parse(buf, &id, 1, &n), AIF_BELL_TAKE);
	assert_int_equal(id, 123456789012ULL);
	assert_int_equal(n, 1);
	assert_int_equal(aif_bell_parse("take 0", &id, 1, &n), AIF_BELL_UNKNOWN);
	assert_int_equal(aif_bell_parse("take x", &id, 1, &n), AIF_BELL_UNKNOWN);
	assert_int_equal(aif_bell_parse("take", &id, 1, &n), AIF_BELL_UNKNOWN);
	assert_int_equal(aif_bell_take(buf, 6, 77), 0);	/* does not fit */
	/* a token count's number (bit 62 set: no jobs.id) */
	assert_int_equal(aif_bell_count(buf, sizeof(buf), (1ULL << 62) | 5),
	    strlen("count 4611686018427387909\n"));
	assert_int_equal(aif_bell_parse(buf, &id, 1, &n), AIF_BELL_COUNT);
	assert_int_equal(id, (1ULL << 62) | 5);
	assert_int_equal(aif_bell_parse("count ", &id, 1, &n), AIF_BELL_UNKNOWN);
	{
		char path[32];
		assert_int_equal(aif_bell_count_file("/run/aif", 42, path, sizeof(path)), 0);
		assert_string_equal(path, "/run/aif/count-42.json");
		assert_int_equal(aif_bell_count_file("/run/aif", 42, path, 12), -1);
	}
}

/* A wake passed on between workers carries its hop count; hop 0 is the plain message. */
static void
wake_hops(void **state)
{
	char buf[32];
	uint64_t ids[4] = { 0 };
	size_t n, len;

	(void)state;
	len = aif_bell_wake(buf, sizeof(buf), 0);
	assert_int_equal(len, sizeof(AIF_BELL_WAKE_MSG) - 1);
	assert_string_equal(buf, AIF_BELL_WAKE_MSG);
	len = aif_bell_wake(buf, sizeof(buf), 3);
	assert_string_equal(buf, "wake 3\n");
	assert_int_equal(len, 7);
	assert_int_equal(aif_bell_parse(buf, ids, 4, &n), AIF_BELL_WAKE);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 3);
	assert_int_equal(aif_bell_wake(buf, 4, 3), 0);	/* does not fit */
}

static void
fixed_messages_and_garbage(void **state)
{
	uint64_t ids[4];
	size_t n;

	(void)state;
	assert_int_equal(aif_bell_parse(AIF_BELL_WAKE_MSG, ids, 4, &n), AIF_BELL_WAKE);
	assert_int_equal(aif_bell_parse(AIF_BELL_SHARE_MSG, ids, 4, &n), AIF_BELL_SHARE);
	assert_int_equal(aif_bell_parse(AIF_BELL_RUN_MSG, ids, 4, &n), AIF_BELL_RUN);
	assert_int_equal(aif_bell_parse(AIF_BELL_WAKE_MSG, ids, 4, &n), AIF_BELL_WAKE);
	assert_int_equal(n, 0);	/* a wake from aif-api: no hops */
	assert_int_equal(aif_bell_parse("cancel x", ids, 4, &n), AIF_BELL_UNKNOWN);
	assert_int_equal(aif_bell_parse("cancel 0", ids, 4, &n), AIF_BELL_UNKNOWN);
	assert_int_equal(aif_bell_parse("hello", ids, 4, &n), AIF_BELL_UNKNOWN);
	assert_int_equal(aif_bell_parse("job x y", ids, 4, &n), AIF_BELL_JOBS);
	assert_int_equal(n, 0);
	/* more ids than the caller has room for: the first ones */
	assert_int_equal(aif_bell_parse("job 1 2 3 4 5 6", ids, 4, &n), AIF_BELL_JOBS);
	assert_int_equal(n, 4);
	assert_int_equal(ids[3], 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(jobs_round_trip),
		cmocka_unit_test(a_long_list_is_cut_at_whole_ids),
		cmocka_unit_test(nothing_fits_in_a_tiny_buffer),
		cmocka_unit_test(cancel_round_trip),
		cmocka_unit_test(take_round_trip),
		cmocka_unit_test(wake_hops),
		cmocka_unit_test(fixed_messages_and_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
