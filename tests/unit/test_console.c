/* test_console.c -- unit tests of core/store/console.c (the admin views the console and
 * aifctl share) against a real MariaDB (tests/unit/testdb.h). Every job of this program
 * has a model and a tenant of this run ("utest-<pid>-<random>-<n>") and an api_key_id
 * from testdb_id, so runs never see each other's rows; they are deleted at the end with
 * their events. Runs with cwd tests/unit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "db.h"
#include "queue.h"
#include "testdb.h"
#include "util.h"

#define CHAT_BODY	"{\"model\":\"utest\",\"messages\":[{\"role\":\"user\"," \
			"\"content\":\"<script>alert(1)</script>\"}]}"

static struct testdb g;

struct tjob {
	uint64_t	 id;
	char		 public_id[AIF_JOB_ID_LEN + 1];
};

/* Enqueues a queued chat job of model and tenant (borrowed), with body (NULL: CHAT_BODY)
 * and zero retention when asked. */
static void
enqueue(struct tjob *j, const char *model, const char *tenant, const char *body, int zr)
{
	struct aif_job_new n = {
		.api_key_id = testdb_id(&g), .tenant = tenant, .model = model,
		.kind = AIF_KIND_CHAT, .priority = 3, .max_attempts = 2, .max_tokens = -1,
		.request_body = body != NULL ? body : CHAT_BODY, .zero_retention = zr,
	};

	n.request_len = strlen(n.request_body);
	assert_int_equal(aif_queue_enqueue(g.db, &n, &j->id, j->public_id), AIF_OK);
}

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	assert_non_null(s);
	return s;
}

static json_int_t
num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* ------------------------------------------------------------------ the tests */

static void
jobs_page_newest_first_and_filter(void **state)
{
	char model[AIF_MODEL_ID_MAX + 1], other[AIF_MODEL_ID_MAX + 1], tenant[64];
	struct tjob a, b, c;
	struct aif_console_filter f = { .limit = 2 };
	json_t *p1 = NULL, *p2 = NULL, *one = NULL;

	(void)state;
	TESTDB_NEED(&g);
	testdb_name(&g, model, sizeof(model), "", "");
	testdb_name(&g, other, sizeof(other), "", "");
	testdb_name(&g, tenant, sizeof(tenant), "", "");
	enqueue(&a, model, tenant, NULL, 0);
	enqueue(&b, model, tenant, NULL, 0);
	enqueue(&c, other, tenant, NULL, 0);
	f.tenant = tenant;
	assert_int_equal(aif_console_jobs(g.db, &f, &p1), AIF_OK);
	assert_string_equal(str(p1, "object"), "list");
	assert_int_equal(json_array_size(json_object_get(p1, "data")), 2);
	assert_string_equal(str(json_array_get(json_object_get(p1, "data"), 0), "id"),
	    c.public_id);
	assert_string_equal(str(json_array_get(json_object_get(p1, "data"), 1), "id"),
	    b.public_id);
	assert_true(json_is_true(json_object_get(p1, "has_more")));
	assert_int_equal(num(p1, "next_before"), (json_int_t)b.id);
	f.before = (uint64_t)num(p1, "next_before");
	assert_int_equal(aif_console_jobs(g.db, &f, &p2), AIF_OK);
	assert_int_equal(json_array_size(json_object_get(p2, "data")), 1);
	assert_string_equal(str(json_array_get(json_object_get(p2, "data"), 0), "state"),
	    "queued");
	assert_true(json_is_false(json_object_get(p2, "has_more")));
	assert_true(json_is_null(json_object_get(p2, "next_before")));
	f = (struct aif_console_filter){ .model = other, .limit = 50 };
	assert_int_equal(aif_console_jobs(g.db, &f, &one), AIF_OK);
	assert_int_equal(json_array_size(json_object_get(one, "data")), 1);
	json_decref(one);
	f = (struct aif_console_filter){ .model = other, .state = "failed", .limit = 50 };
	assert_int_equal(aif_console_jobs(g.db, &f, &one), AIF_OK);
	assert_int_equal(json_array_size(json_object_get(one, "data")), 0);
	json_decref(one);
	f = (struct aif_console_filter){ .number = a.id, .limit = 50 };
	assert_int_equal(aif_console_jobs(g.db, &f, &one), AIF_OK);
	assert_string_equal(str(json_array_get(json_object_get(one, "data"), 0), "id"),
	    a.public_id);
	json_decref(one);
	json_decref(p1);
	json_decref(p2);
}

static void
job_shows_timeline_bodies_and_actor(void **state)
{
	char model[AIF_MODEL_ID_MAX + 1];
	struct tjob a;
	json_t *doc = NULL, *ev, *last;

	(void)state;
	TESTDB_NEED(&g);
	testdb_name(&g, model, sizeof(model), "", "");
	enqueue(&a, model, model, NULL, 0);
	assert_int_equal(aif_console_note(g.db, a.id, "operator_cancel", 42, "by utest"),
	    AIF_OK);
	assert_int_equal(aif_console_job(g.db, a.id, &doc), AIF_OK);
	assert_string_equal(str(doc, "object"), "console.job");
	assert_string_equal(str(json_object_get(doc, "job"), "id"), a.public_id);
	assert_int_equal(num(json_object_get(doc, "job"), "number"), (json_int_t)a.id);
	assert_true(json_is_null(json_object_get(json_object_get(doc, "job"), "error")));
	ev = json_object_get(doc, "events");
	assert_true(json_array_size(ev) >= 2);
	assert_string_equal(str(json_array_get(ev, 0), "event"), "enqueued");
	assert_true(json_is_null(json_object_get(json_array_get(ev, 0), "actor_key_id")));
	last = json_array_get(ev, json_array_size(ev) - 1);
	assert_string_equal(str(last, "event"), "operator_cancel");
	assert_int_equal(num(last, "actor_key_id"), 42);
	assert_string_equal(str(last, "detail"), "by utest");
	assert_string_equal(str(json_object_get(doc, "request"), "text"), CHAT_BODY);
	assert_true(json_is_false(json_object_get(json_object_get(doc, "request"),
	    "truncated")));
	assert_true(json_is_null(json_object_get(doc, "response")));
	assert_true(json_is_null(json_object_get(doc, "usage")));
	assert_int_equal(json_array_size(json_object_get(doc, "steps")), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "compensations")), 0);
	json_decref(doc);
}

static void
job_body_is_cut_at_the_limit(void **state)
{
	char model[AIF_MODEL_ID_MAX + 1];
	size_t len = AIF_CONSOLE_BODY_MAX + 100;
	char *body = malloc(len + 1);
	struct tjob a;
	json_t *doc = NULL, *req;

	(void)state;
	TESTDB_NEED(&g);
	assert_non_null(body);
	memset(body, 'x', len);
	body[len] = '\0';
	testdb_name(&g, model, sizeof(model), "", "");
	enqueue(&a, model, model, body, 0);
	assert_int_equal(aif_console_job(g.db, a.id, &doc), AIF_OK);
	req = json_object_get(doc, "request");
	assert_true(json_is_true(json_object_get(req, "truncated")));
	assert_int_equal(strlen(str(req, "text")), AIF_CONSOLE_BODY_MAX);
	assert_int_equal(num(req, "bytes"), (json_int_t)len);
	json_decref(doc);
	free(body);
}

static void
missing_job_is_notfound(void **state)
{
	json_t *doc = NULL;
	struct aif_console_retry r;

	(void)state;
	TESTDB_NEED(&g);
	assert_int_equal(aif_console_job(g.db, testdb_id(&g), &doc), AIF_NOTFOUND);
	assert_null(doc);
	assert_int_equal(aif_console_note(g.db, testdb_id(&g), "operator_cancel", 1, NULL),
	    AIF_NOTFOUND);
	assert_int_equal(aif_console_retry_source(g.db, testdb_id(&g), 1, &r), AIF_NOTFOUND);
	assert_null(r.request);
}

static void
retry_source_has_the_request_unless_not_kept(void **state)
{
	char model[AIF_MODEL_ID_MAX + 1];
	struct aif_console_retry r;
	struct tjob a, b;

	(void)state;
	TESTDB_NEED(&g);
	testdb_name(&g, model, sizeof(model), "", "");
	enqueue(&a, model, model, NULL, 0);
	enqueue(&b, model, model, NULL, 1);
	assert_int_equal(aif_console_retry_source(g.db, a.id, 0, &r), AIF_OK);
	assert_null(r.request);		/* not asked for */
	assert_string_equal(r.state, "queued");
	assert_int_equal(aif_console_retry_source(g.db, a.id, 1, &r), AIF_OK);
	assert_int_equal(r.id, a.id);
	assert_string_equal(r.public_id, a.public_id);
	assert_string_equal(r.kind, "chat");
	assert_string_equal(r.state, "queued");
	assert_int_equal(r.priority, 3);
	assert_non_null(r.request);
	assert_int_equal(r.request_len, strlen(CHAT_BODY));
	assert_string_equal(r.request, CHAT_BODY);
	free(r.request);
	assert_int_equal(aif_console_retry_source(g.db, b.id, 1, &r), AIF_OK);
	assert_null(r.request);
}

static void
overview_counts_the_queue_and_has_sixty_minutes(void **state)
{
	char model[AIF_MODEL_ID_MAX + 1];
	struct tjob a, b;
	json_t *doc = NULL, *row, *points;
	size_t i;
	int seen = 0;

	(void)state;
	TESTDB_NEED(&g);
	testdb_name(&g, model, sizeof(model), "", "");
	enqueue(&a, model, model, NULL, 0);
	enqueue(&b, model, model, NULL, 0);
	assert_int_equal(aif_console_overview(g.db, 30, &doc), AIF_OK);
	assert_string_equal(str(doc, "object"), "console.overview");
	json_array_foreach(json_object_get(doc, "queue"), i, row)
		if (strcmp(str(row, "model"), model) == 0) {
			assert_string_equal(str(row, "state"), "queued");
			assert_int_equal(num(row, "priority"), 3);
			assert_int_equal(num(row, "jobs"), 2);
			assert_true(num(row, "oldest_age_ms") >= 0);
			seen++;
		}
	assert_int_equal(seen, 1);
	points = json_object_get(json_object_get(doc, "hour"), "points");
	assert_int_equal(json_array_size(points), 60);
	for (i = 1; i < 60; i++)
		assert_int_equal(num(json_array_get(points, i), "t_ms") -
		    num(json_array_get(points, i - 1), "t_ms"), 60000);
	assert_true(num(json_array_get(points, 59), "t_ms") <= num(doc, "now_ms"));
	assert_true(num(json_array_get(points, 59), "t_ms") + 60000 > num(doc, "now_ms"));
	assert_true(json_is_object(json_object_get(doc, "totals")));
	assert_true(json_is_array(json_object_get(doc, "workers")));
	assert_true(json_is_array(json_object_get(doc, "replicas")));
	json_decref(doc);
}

/* ------------------------------------------------------------------ main */

static int
group_setup(void **state)
{
	(void)state;
	return testdb_open(&g, "test_console", "");
}

static int
group_teardown(void **state)
{
	(void)state;
	testdb_purge(&g, "DELETE e FROM job_events e JOIN jobs j ON j.id = e.job_id"
	    " WHERE j.model LIKE ?", "");
	testdb_purge(&g, "DELETE FROM jobs WHERE model LIKE ?", "");
	testdb_close(&g);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(jobs_page_newest_first_and_filter),
		cmocka_unit_test(job_shows_timeline_bodies_and_actor),
		cmocka_unit_test(job_body_is_cut_at_the_limit),
		cmocka_unit_test(missing_job_is_notfound),
		cmocka_unit_test(retry_source_has_the_request_unless_not_kept),
		cmocka_unit_test(overview_counts_the_queue_and_has_sixty_minutes),
	};
	if (testdb_check(&g, "test_console") != 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
