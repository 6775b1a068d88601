/* test_metrics.c -- unit tests of core/base/metrics.c: counters add up per name and
 * label set until taken, histograms fill every bucket at or above the observation, and
 * label values from outside are escaped for the Prometheus text format. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "metrics.h"

static struct aif_metric_delta d[AIF_METRICS_MAX];

static int64_t
value(size_t n, const char *name, const char *labels)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(d[i].name, name) == 0 && strcmp(d[i].labels, labels) == 0)
			return d[i].value;
	return -1;
}

static void
counters_add_until_taken(void **state)
{
	size_t n;

	(void)state;
	(void)aif_metrics_take(d, AIF_METRICS_MAX);
	aif_metrics_add("t_total", "a=\"1\"", 2);
	aif_metrics_add("t_total", "a=\"1\"", 3);
	aif_metrics_add("t_total", "a=\"2\"", 1);
	n = aif_metrics_take(d, AIF_METRICS_MAX);
	assert_int_equal(value(n, "t_total", "a=\"1\""), 5);
	assert_int_equal(value(n, "t_total", "a=\"2\""), 1);
	assert_int_equal(aif_metrics_take(d, AIF_METRICS_MAX), 0);	/* taken */
}

static void
histograms_fill_buckets(void **state)
{
	size_t n;

	(void)state;
	aif_metrics_observe_ms("h_seconds", "m=\"x\"", 3);
	n = aif_metrics_take(d, AIF_METRICS_MAX);
	assert_int_equal(value(n, "h_seconds_count", "m=\"x\""), 1);
	assert_int_equal(value(n, "h_seconds_sum", "m=\"x\""), 3000);	/* microseconds */
	assert_int_equal(value(n, "h_seconds_bucket", "m=\"x\",le=\"+Inf\""), 1);
	assert_int_equal(value(n, "h_seconds_bucket", "m=\"x\",le=\"0.001\""), -1);
}

/* Buckets are cumulative over every observation since the last take, and those below
 * the smallest observation are not written at all. */
static void
histograms_sum_observations(void **state)
{
	size_t n;

	(void)state;
	(void)aif_metrics_take(d, AIF_METRICS_MAX);
	aif_metrics_observe_ms("h_seconds", "m=\"y\"", 3);
	aif_metrics_observe_ms("h_seconds", "m=\"y\"", 3);
	aif_metrics_observe_ms("h_seconds", "m=\"y\"", 700);
	aif_metrics_observe_ms("h_seconds", "", 200000);	/* above every bound */
	aif_metrics_add("t_total", "", 1);
	n = aif_metrics_take(d, AIF_METRICS_MAX);
	assert_int_equal(value(n, "h_seconds_bucket", "m=\"y\",le=\"0.002\""), -1);
	assert_int_equal(value(n, "h_seconds_bucket", "m=\"y\",le=\"0.005\""), 2);
	assert_int_equal(value(n, "h_seconds_bucket", "m=\"y\",le=\"0.5\""), 2);
	assert_int_equal(value(n, "h_seconds_bucket", "m=\"y\",le=\"1\""), 3);
	assert_int_equal(value(n, "h_seconds_bucket", "m=\"y\",le=\"120\""), 3);
	assert_int_equal(value(n, "h_seconds_bucket", "m=\"y\",le=\"+Inf\""), 3);
	assert_int_equal(value(n, "h_seconds_count", "m=\"y\""), 3);
	assert_int_equal(value(n, "h_seconds_sum", "m=\"y\""), 706000);
	assert_int_equal(value(n, "h_seconds_bucket", "le=\"120\""), -1);
	assert_int_equal(value(n, "h_seconds_bucket", "le=\"+Inf\""), 1);
	assert_int_equal(value(n, "h_seconds_count", ""), 1);
	assert_int_equal(value(n, "t_total", ""), 1);
	/* taken: nothing is left, and a later take starts from zero */
	assert_int_equal(aif_metrics_take(d, AIF_METRICS_MAX), 0);
	aif_metrics_observe_ms("h_seconds", "m=\"y\"", 3);
	n = aif_metrics_take(d, AIF_METRICS_MAX);
	assert_int_equal(value(n, "h_seconds_count", "m=\"y\""), 1);
	assert_int_equal(value(n, "h_seconds_bucket", "m=\"y\",le=\"1\""), 1);
}

/* A histogram's series go out whole: with too little room left in the table, the label
 * set waits for the next take instead of losing its count or sum. */
static void
histograms_wait_for_room(void **state)
{
	char labels[32];
	size_t n;

	(void)state;
	(void)aif_metrics_take(d, AIF_METRICS_MAX);
	for (int i = 0; i < AIF_METRICS_MAX - 8; i++) {
		snprintf(labels, sizeof(labels), "i=\"%d\"", i);
		aif_metrics_add("fill_total", labels, 1);
	}
	aif_metrics_observe_ms("h_seconds", "m=\"z\"", 3);
	n = aif_metrics_take(d, AIF_METRICS_MAX);
	assert_int_equal(n, AIF_METRICS_MAX - 8);
	assert_int_equal(value(n, "h_seconds_count", "m=\"z\""), -1);
	assert_int_equal(value(n, "h_seconds_bucket", "m=\"z\",le=\"+Inf\""), -1);
	n = aif_metrics_take(d, AIF_METRICS_MAX);
	assert_int_equal(value(n, "h_seconds_count", "m=\"z\""), 1);
	assert_int_equal(value(n, "h_seconds_bucket", "m=\"z\",le=\"+Inf\""), 1);
	assert_int_equal(value(n, "h_seconds_sum", "m=\"z\""), 3000);
	assert_int_equal(value(n, "fill_total", "i=\"0\""), -1);
}

static void
label_values_are_escaped(void **state)
{
	char out[32];

	(void)state;
	assert_string_equal(aif_metrics_label("team-a", out, sizeof(out)), "team-a");
	assert_string_equal(aif_metrics_label("a\"b\\c\nd", out, sizeof(out)),
	    "a\\\"b\\\\c\\nd");
	/* cut before an escape that does not fit, never inside it */
	assert_string_equal(aif_metrics_label("abc\"", out, 5), "abc");
	assert_string_equal(aif_metrics_label(NULL, out, sizeof(out)), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counters_add_until_taken),
		cmocka_unit_test(histograms_fill_buckets),
		cmocka_unit_test(histograms_sum_observations),
		cmocka_unit_test(histograms_wait_for_room),
		cmocka_unit_test(label_values_are_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
