/* test_handoff.c -- unit tests of core/store/handoff.c: the job a "take" bell carries.
 * What decoding gives for a job read from its row is checked against the row itself in
 * test_queue.c (handoff group); here: every field through, and every bell that must
 * not be believed (another worker, another job, cut short, wrong types, too large). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "bell.h"
#include "handoff.h"

#define BODY	"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"안녕 \\\"hi\\\"\"}]}"

static const unsigned char SECRET[AIF_RELAY_SECRET_BYTES] = {
	0x00, 0x01, 0xfe, 0xff, 0x10, 0x20, 0x30, 0x40,
	0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0,
};

static struct aif_job_new
job(void)
{
	struct aif_job_new j = {
		.api_key_id = 4242, .tenant = "acme", .model = "demo-chat",
		.kind = AIF_KIND_EMBEDDING, .priority = 7, .max_attempts = 3,
		.reply_to = "/run/aif/api-1.sock", .stream = 1,
		.prompt_tokens_estimate = 12, .max_tokens = 64,
		.request_body = BODY, .request_len = strlen(BODY),
		.pii_counts = "{\"EMAIL\":1}", .tokens_charged = 76,
		.budget_hold_micros = 900, .nbudget = 1, .prompt_tokens_bound = 300,
		.completion_tokens_bound = 64, .zero_retention = 1, .relay_secret = SECRET,
		.handoff_worker = 77, .handoff_lease_s = 30,
		.traceparent = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01",
		.tracestate = "k=v", .guardrails = "g1,g2",
	};
	return j;
}

/* The bell of j as job 99 "job_x", decoded for worker w into c. */
static enum aif_err
round_trip(const struct aif_job_new *j, uint64_t w, struct aif_claimed *c)
{
	char *bell = NULL;
	size_t len = 0;
	enum aif_err err;

	assert_int_equal(aif_handoff_encode(j, 99, "job_x", &bell, &len), AIF_OK);
	assert_int_equal(strlen(bell), len);
	assert_true(len < AIF_HANDOFF_BELL_MAX);
	assert_memory_equal(bell, "take 99\n{", 9);
	err = aif_handoff_decode(bell, len, 99, w, c);
	free(bell);
	return err;
}

static void
every_field_comes_through(void **state)
{
	struct aif_job_new j = job();
	struct aif_claimed c;

	(void)state;
	assert_int_equal(round_trip(&j, 77, &c), AIF_OK);
	assert_int_equal(c.id, 99);
	assert_string_equal(c.public_id, "job_x");
	assert_string_equal(c.model, "demo-chat");
	assert_int_equal(c.kind, AIF_KIND_EMBEDDING);
	assert_string_equal(c.tenant, "acme");
	assert_string_equal(c.reply_to, "/run/aif/api-1.sock");
	assert_int_equal(c.api_key_id, 4242);
	assert_int_equal(c.attempt, 1);
	assert_int_equal(c.first_claim, 1);
	assert_int_equal(c.lease_token, 1);
	assert_int_equal(c.max_attempts, 3);
	assert_int_equal(c.stream, 1);
	assert_true(c.queue_ms >= 0 && c.queue_ms < 5000);
	assert_string_equal(c.last_replica, "");
	assert_int_equal(c.budget_hold_micros, 900);
	assert_int_equal(c.tokens_charged, 76);
	assert_int_equal(c.batch, 0);
	assert_int_equal(c.prompt_tokens_bound, 300);
	assert_int_equal(c.completion_tokens_bound, 64);
	assert_int_equal(c.prompt_tokens_estimate, 12);
	assert_int_equal(c.zero_retention, 1);
	assert_int_equal(c.has_relay_secret, 1);
	assert_memory_equal(c.relay_secret, SECRET, sizeof(SECRET));
	assert_int_equal(c.parent_job_id, 0);
	assert_int_equal(c.relay_id, 99);
	assert_string_equal(c.relay_model, "");
	assert_string_equal(c.traceparent, j.traceparent);
	assert_string_equal(c.tracestate, "k=v");
	assert_string_equal(c.trace_link, "");
	assert_string_equal(c.guardrails, "g1,g2");
	assert_string_equal(c.pii_counts, "{\"EMAIL\":1}");
	assert_string_equal(c.request_body, BODY);
	free(c.request_body);
}

/* What a row holds for absent values: no budget (no hold), no relay secret, no reply_to,
 * no counts; a batch's line is below every interactive priority. */
static void
absent_values_read_as_the_row_has_them(void **state)
{
	struct aif_job_new j = job();
	struct aif_claimed c;

	(void)state;
	j.nbudget = 0;
	j.relay_secret = NULL;
	j.reply_to = NULL;
	j.pii_counts = NULL;
	j.traceparent = NULL;
	j.tracestate = NULL;
	j.guardrails = NULL;
	j.priority = AIF_BATCH_PRIORITY;
	assert_int_equal(round_trip(&j, 77, &c), AIF_OK);
	assert_int_equal(c.budget_hold_micros, 0);
	assert_int_equal(c.has_relay_secret, 0);
	assert_string_equal(c.reply_to, "");
	assert_string_equal(c.pii_counts, "");
	assert_string_equal(c.traceparent, "");
	assert_string_equal(c.guardrails, "");
	assert_int_equal(c.batch, 1);
	free(c.request_body);
}

/* A bell for the worker that had this socket before (a reload starts it under a new
 * id), or the plain line: the row is read. */
static void
another_workers_bell_or_the_plain_line_is_not_found(void **state)
{
	struct aif_job_new j = job();
	struct aif_claimed c;
	char plain[64];
	size_t n = aif_bell_take(plain, sizeof(plain), 99);

	(void)state;
	assert_int_equal(round_trip(&j, 78, &c), AIF_NOTFOUND);
	assert_null(c.request_body);
	assert_int_equal(aif_handoff_decode(plain, n, 99, 77, &c), AIF_NOTFOUND);
	assert_null(c.request_body);
}

/* Not believed: a bell for another job id than its line says, one cut short, one
 * whose fields have the wrong types or do not fit. */
static void
malformed_bells_are_invalid(void **state)
{
	static const char *const bad[] = {
		"take 99\n{\"w\":77,\"id\":98,\"pid\":\"p\",\"model\":\"m\",\"body\":\"{}\"}",
		"take 99\n{\"w\":77,\"id\":99,\"pid\":\"p\",\"model\":5,\"body\":\"{}\"}",
		"take 99\n{\"w\":77,\"id\":99,\"pid\":\"p\",\"model\":\"m\",\"body\":7}",
		"take 99\n{\"w\":77,\"id\":99,\"pid\":\"p\",\"model\":\"m\",\"key\":-1,"
		    "\"body\":\"{}\"}",
		"take 99\n{\"w\":77,\"id\":99,\"pid\":\"p\",\"model\":\"m\",\"secret\":\"zz\","
		    "\"body\":\"{}\"}",
		"take 99\n{\"w\":77,\"id\":99,\"model\":\"m\",\"body\":\"{}\"}",
		"take 99\n{\"w\":77,\"id\":99,\"pid\":\"p\",\"model\":\"m\",\"body\":\"{}\"",
		"take 99\n[77,99]",
		"take 99\nnot json",
	};
	struct aif_job_new j = job();
	struct aif_claimed c;
	char *bell = NULL, *big;
	size_t len = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(aif_handoff_decode(bad[i], strlen(bad[i]), 99, 77, &c),
		    AIF_INVALID);
		assert_null(c.request_body);
	}
	/* cut anywhere inside its object */
	assert_int_equal(aif_handoff_encode(&j, 99, "job_x", &bell, &len), AIF_OK);
	for (size_t cut = 9; cut < len; cut += 7) {
		bell[cut] = '\0';
		assert_int_equal(aif_handoff_decode(bell, cut, 99, 77, &c), AIF_INVALID);
	}
	free(bell);
	/* a tenant longer than a row's */
	assert_non_null(big = malloc(AIF_TENANT_MAX + 2));
	memset(big, 'x', AIF_TENANT_MAX + 1);
	big[AIF_TENANT_MAX + 1] = '\0';
	j.tenant = big;
	assert_int_equal(round_trip(&j, 77, &c), AIF_INVALID);
	assert_null(c.request_body);
	free(big);
}

/* A run or a run's step, or a body too large for a bell: rung plain, the row is read. */
static void
runs_steps_and_large_bodies_get_the_plain_bell(void **state)
{
	struct aif_job_new j = job();
	char *bell = NULL, *body;
	size_t len = 0;

	(void)state;
	j.parent_job_id = 5;
	assert_int_equal(aif_handoff_encode(&j, 99, "job_x", &bell, &len), AIF_TOOBIG);
	assert_null(bell);
	j = job();
	j.workflow_hash = "ab";
	assert_int_equal(aif_handoff_encode(&j, 99, "job_x", &bell, &len), AIF_TOOBIG);
	j = job();
	j.handoff_worker = 0;
	assert_int_equal(aif_handoff_encode(&j, 99, "job_x", &bell, &len), AIF_TOOBIG);
	/* a body that fits alone but not with its escapes and fields */
	assert_non_null(body = malloc(AIF_HANDOFF_BELL_MAX));
	memset(body, '"', AIF_HANDOFF_BELL_MAX - 1);
	body[AIF_HANDOFF_BELL_MAX - 1] = '\0';
	j = job();
	j.request_body = body;
	j.request_len = AIF_HANDOFF_BELL_MAX / 2;
	assert_int_equal(aif_handoff_encode(&j, 99, "job_x", &bell, &len), AIF_TOOBIG);
	assert_null(bell);
	/* one that fits */
	j.request_len = 1000;
	assert_int_equal(aif_handoff_encode(&j, 99, "job_x", &bell, &len), AIF_OK);
	assert_true(len > 2000 && len < 3000);
	free(bell);
	free(body);
}

/* Bytes that are no UTF-8 cannot go into the object: the plain bell. */
static void
invalid_utf8_gets_the_plain_bell(void **state)
{
	struct aif_job_new j = job();
	char *bell = NULL;
	size_t len = 0;

	(void)state;
	j.tracestate = "k=\xff";
	assert_int_equal(aif_handoff_encode(&j, 99, "job_x", &bell, &len), AIF_TOOBIG);
	assert_null(bell);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_field_comes_through),
		cmocka_unit_test(absent_values_read_as_the_row_has_them),
		cmocka_unit_test(another_workers_bell_or_the_plain_line_is_not_found),
		cmocka_unit_test(malformed_bells_are_invalid),
		cmocka_unit_test(runs_steps_and_large_bodies_get_the_plain_bell),
		cmocka_unit_test(invalid_utf8_gets_the_plain_bell),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
