/* test_enqueuer.c -- unit tests of fcgi-app/enqueuer.c, the group commit of enqueues
 * (leader and followers) against the scratch database: many threads enqueuing at once
 * each get their own committed job, none is lost or written twice, and concurrent
 * jobs share transactions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "api.h"
#include "queue.h"
#include "testdb.h"

#define THREADS	12
#define PER	40

static struct {
	struct testdb	 t;
	struct api	 api;
	char		 model[64];
} g;

struct worker_arg {
	uint64_t	 ids[PER];
	char		 pids[PER][AIF_JOB_ID_LEN + 1];
	enum aif_err	 errs[PER];
};

static void *
enqueue_many(void *p)
{
	struct worker_arg *a = p;
	struct aif_job_new j = {
		.api_key_id = 7001, .tenant = "t-utest", .model = g.model,
		.kind = AIF_KIND_CHAT, .priority = 4, .max_attempts = 1,
		.request_body = "{}", .request_len = 2, .max_tokens = -1,
	};
	int handed;

	for (int i = 0; i < PER; i++)
		a->errs[i] = enqueue_job(&g.api, &j, &a->ids[i], a->pids[i], &handed);
	return NULL;
}

static int64_t
count(const char *sql)
{
	return testdb_i64_str(&g.t, sql, g.model);
}

static void
concurrent_enqueues_each_commit_once(void **state)
{
	static struct worker_arg args[THREADS];
	static const char inserts[] = "SELECT VARIABLE_VALUE FROM"
	    " information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = ?";
	pthread_t th[THREADS];
	int64_t before, ins;

	(void)state;
	TESTDB_NEED(&g.t);
	before = count("SELECT COUNT(*) FROM jobs WHERE model = ?");
	ins = testdb_i64_str(&g.t, inserts, "COM_INSERT");
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, enqueue_many, &args[i]), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	/* jobs that arrived together went in together: fewer INSERTs than jobs */
	assert_true(testdb_i64_str(&g.t, inserts, "COM_INSERT") - ins < THREADS * PER);
	for (int i = 0; i < THREADS; i++)
		for (int k = 0; k < PER; k++) {
			assert_int_equal(args[i].errs[k], AIF_OK);
			assert_true(args[i].ids[k] > 0);
			assert_int_equal(strncmp(args[i].pids[k], "job_", 4), 0);
			/* the id and public id a thread got are one row's */
			assert_int_equal(testdb_i64_str(&g.t, "SELECT id FROM jobs WHERE"
			    " public_id = ?", args[i].pids[k]), (int64_t)args[i].ids[k]);
		}
	assert_int_equal(count("SELECT COUNT(*) FROM jobs WHERE model = ?") - before,
	    THREADS * PER);
	assert_int_equal(count("SELECT COUNT(DISTINCT id) FROM jobs WHERE model = ?") -
	    before, THREADS * PER);
}

/* One thread alone writes its own job (it leads every time) and nothing waits. */
static void
a_lone_enqueue_commits(void **state)
{
	struct worker_arg *a = calloc(1, sizeof(*a));

	(void)state;
	TESTDB_NEED(&g.t);
	assert_non_null(a);
	(void)enqueue_many(a);
	for (int k = 0; k < PER; k++) {
		assert_int_equal(a->errs[k], AIF_OK);
		assert_int_equal(testdb_i64_str(&g.t, "SELECT COUNT(*) FROM jobs WHERE"
		    " public_id = ?", a->pids[k]), 1);
	}
	free(a);
}

static int
setup(void **state)
{
	(void)state;
	if (testdb_open(&g.t, "test_enqueuer", "") != 0)
		return -1;
	testdb_name(&g.t, g.model, sizeof(g.model), "", "");	/* "<tag>-<n>" */
	g.api.cfg = g.t.cfg;
	return g.t.db == NULL ? 0 : enqueuer_start(&g.api);
}

static int
teardown(void **state)
{
	(void)state;
	enqueuer_stop(&g.api, 0);
	if (g.t.db != NULL)
		testdb_purge(&g.t, "DELETE FROM jobs WHERE model LIKE ?", "");
	testdb_close(&g.t);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(concurrent_enqueues_each_commit_once),
		cmocka_unit_test(a_lone_enqueue_commits),
	};

	if (testdb_check(&g.t, "test_enqueuer") != 0)
		return 1;
	return cmocka_run_group_tests_name("enqueuer", tests, setup, teardown);
}
