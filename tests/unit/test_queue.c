/* test_queue.c -- unit tests of core/store/queue.c and jobs.c against a real MariaDB
 * (tests/unit/testdb.h: where it comes from, and why `make test` fails without it).
 * Every test uses its own model names ("utest-<pid>-<random>-<n>") and worker ids, so
 * runs and tests never see each other's rows; the rows of this run are deleted at the
 * end. Most tests run one job of their own (struct tjob: a fresh model, its job and a
 * fresh worker; skipped without a database). Every claim made is freed at the end
 * (group_teardown). Runs with cwd tests/unit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "gcra.h"
#include "handoff.h"
#include "jobs.h"
#include "queue.h"
#include "registry.h"
#include "testdb.h"
#include "util.h"
#define REQ_BODY	"{\"model\":\"demo-chat\",\"messages\":[{\"role\":\"user\"," \
			"\"content\":\"Hello, <PERSON_1>!\"}]}"
#define RESP_BODY	"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\"," \
			"\"model\":\"demo-chat\",\"choices\":[]}"

static struct {
	struct testdb		 t;
	struct {
		struct aif_claimed	*c;
		size_t			 n;
	}			 claims[256];	/* every claim() result */
	size_t			 nclaims;
} g;

#define NEED_DB()	TESTDB_NEED(&g.t)

/* ------------------------------------------------------------------ helpers */

static void
new_model(char *buf, size_t cap)
{
	testdb_name(&g.t, buf, cap, "", "");
}

static uint64_t
new_worker(void)
{
	return testdb_id(&g.t);
}

static struct aif_job_new
job_for(const char *model)
{
	struct aif_job_new j = {
		.api_key_id = 7001, .tenant = "t-utest", .model = model, .kind = AIF_KIND_CHAT,
		.priority = 4, .max_attempts = 3, .reply_to = "/run/aif/api-1.sock",
		.request_id = "req-utest", .idempotency_key = NULL, .stream = 0,
		.prompt_tokens_estimate = 12, .max_tokens = 64,
		.request_body = REQ_BODY, .request_len = strlen(REQ_BODY),
	};
	return j;
}

/* A test's job: a fresh model, the job to enqueue for it (job_for; the test may change
 * it before enqueueing) and a fresh worker to claim it. */
struct tjob {
	char			 model[64];
	struct aif_job_new	 job;
	uint64_t		 worker;
};

/* A fresh tjob; skips the test when there is no database. */
static void
tjob_init(struct tjob *t)
{
	TESTDB_NEED(&g.t);
	new_model(t->model, sizeof(t->model));
	t->job = job_for(t->model);
	t->worker = new_worker();
}

static uint64_t
enqueue(const struct aif_job_new *j)
{
	char pid[AIF_JOB_ID_LEN + 1];
	uint64_t id = 0;

	assert_int_equal(aif_queue_enqueue(g.t.db, j, &id, pid), AIF_OK);
	assert_true(id > 0);
	return id;
}

static uint64_t
enqueue_simple(const char *model, int priority)
{
	struct aif_job_new j = job_for(model);

	j.priority = priority;
	return enqueue(&j);
}

/* Claims up to `limit` jobs of one model; returns the array (may be NULL). */
static struct aif_claimed *
claim(const char *model, uint64_t worker, int free_slots, int limit, size_t *n)
{
	const char *models[] = { model };
	int room[] = { free_slots };
	struct aif_claimed *jobs = NULL;

	assert_int_equal(aif_queue_claim(g.t.db, worker, models, room, 1, limit, 30, &jobs,
	    n), AIF_OK);
	assert_true(g.nclaims < sizeof(g.claims) / sizeof(g.claims[0]));
	g.claims[g.nclaims].c = jobs;
	g.claims[g.nclaims++].n = *n;
	return jobs;
}

/* The batch lane (docs/BATCH.md): a batch's lines (priority -1) come after every
 * interactive job, within the lane's caps (batch.max_share), and not at all when the
 * claim takes interactive work only (batch.yield). */
static void
claim_keeps_the_batch_lane_within_its_share(void **state)
{
	char model[64];
	const char *models[1];
	int room[] = { 16 }, batch_free[] = { 1 };
	struct aif_claim_lane lane = { .min_priority = AIF_BATCH_PRIORITY,
	    .batch_free = batch_free, .batch_total = 10 };
	struct aif_claim_lane interactive = { .min_priority = 0, .batch_total = 10 };
	struct aif_claimed *c = NULL;
	uint64_t worker;
	size_t n = 0;
	int batch = 0;

	(void)state;
	TESTDB_NEED(&g.t);
	new_model(model, sizeof(model));
	models[0] = model;
	worker = new_worker();
	for (int i = 0; i < 3; i++)
		(void)enqueue_simple(model, AIF_BATCH_PRIORITY);
	(void)enqueue_simple(model, 0);
	assert_int_equal(aif_queue_claim_from(g.t.db, worker, models, room, 1, 16,
	    &interactive, 30, &c, &n), AIF_OK);
	assert_int_equal(n, 1);			/* the interactive job only */
	assert_false(c[0].batch);
	aif_queue_claimed_free(c, n);
	assert_int_equal(aif_queue_claim_from(g.t.db, worker, models, room, 1, 16, &lane,
	    30, &c, &n), AIF_OK);
	assert_int_equal(n, 1);			/* one line: the model's batch share */
	assert_true(c[0].batch);
	aif_queue_claimed_free(c, n);
	batch_free[0] = 5;
	lane.batch_total = 1;			/* the worker's share: one more */
	assert_int_equal(aif_queue_claim_from(g.t.db, worker, models, room, 1, 16, &lane,
	    30, &c, &n), AIF_OK);
	assert_int_equal(n, 1);
	batch += c[0].batch;
	aif_queue_claimed_free(c, n);
	assert_int_equal(batch, 1);
}

/* Enqueues one job and claims it; returns the claim. */
static struct aif_claimed *
enqueue_and_claim(const struct aif_job_new *j, uint64_t worker)
{
	uint64_t id = enqueue(j);
	struct aif_claimed *c;
	size_t n = 0;

	c = claim(j->model, worker, 1, 1, &n);
	assert_int_equal(n, 1);
	assert_int_equal(c->id, id);
	return c;
}

/* tjob_init, then the job enqueued and claimed by the worker: it runs. */
static struct aif_claimed *
tjob_start(struct tjob *t)
{
	tjob_init(t);
	return enqueue_and_claim(&t->job, t->worker);
}

/* tjob_init, then two jobs of the model enqueued and claimed together by the worker. */
static struct aif_claimed *
tjob_start_two(struct tjob *t)
{
	struct aif_claimed *c;
	size_t n = 0;

	tjob_init(t);
	enqueue_simple(t->model, 4);
	enqueue_simple(t->model, 4);
	c = claim(t->model, t->worker, 2, 2, &n);
	assert_int_equal(n, 2);
	return c;
}

/* Runs "SELECT <expr> FROM jobs WHERE id = ?" and copies the cell ("<NULL>" for NULL). */
static void
job_str(uint64_t id, const char *expr, char *out, size_t cap)
{
	char sql[512];
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbrows *rows = NULL;

	snprintf(sql, sizeof(sql), "SELECT %s FROM jobs WHERE id = ?", expr);
	assert_int_equal(aif_db_query(g.t.db, sql, p, 1, &rows), AIF_OK);
	assert_int_equal(rows->nrows, 1);
	aif_strlcpy(out, aif_dbrows_get(rows, 0, 0) != NULL ?
	    aif_dbrows_get(rows, 0, 0) : "<NULL>", cap);
	aif_dbrows_free(rows);
}

static int64_t
job_i64(uint64_t id, const char *expr)
{
	char buf[64];
	int64_t v = 0;

	job_str(id, expr, buf, sizeof(buf));
	if (aif_parse_i64(buf, INT64_MIN, INT64_MAX, &v) != 0)
		fail_msg("%s of job %" PRIu64 " is \"%s\", not an integer", expr, id, buf);
	return v;
}

static void
assert_job_str(uint64_t id, const char *expr, const char *want)
{
	char buf[2048];

	job_str(id, expr, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("%s of job %" PRIu64 ": \"%s\", want \"%s\"", expr, id, buf, want);
}

/* No worker holds job id: no worker_id, no lease. */
static void
assert_no_lease(uint64_t id)
{
	assert_job_str(id, "worker_id", "<NULL>");
	assert_job_str(id, "lease_until", "<NULL>");
}

/* Runs a one-integer query with one id parameter. */
static int64_t
query_i64(const char *sql, uint64_t id, const char *s)
{
	struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_STR(s) };
	struct aif_dbrows *rows = NULL;
	int64_t v = -1;

	assert_int_equal(aif_db_query(g.t.db, sql, p, s != NULL ? 2 : 1, &rows), AIF_OK);
	assert_int_equal(rows->nrows, 1);
	if (aif_dbrows_get(rows, 0, 0) != NULL)
		assert_int_equal(aif_parse_i64(aif_dbrows_get(rows, 0, 0), INT64_MIN,
		    INT64_MAX, &v), 0);
	aif_dbrows_free(rows);
	return v;
}

static int64_t
count_events(uint64_t id, const char *event)
{
	return query_i64("SELECT COUNT(*) FROM job_timeline WHERE job_id = ? AND event = ?",
	    id, event);
}

/* Events of job id with this name and detail. */
static int64_t
count_events_detail(uint64_t id, const char *event, const char *detail)
{
	struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_STR(event), AIF_P_STR(detail) };

	return testdb_i64(&g.t, "SELECT COUNT(*) FROM job_events WHERE job_id = ?"
	    " AND event = ? AND detail = ?", p, 3);
}

/* The attempt the (one) event of this name of job id was written with. */
static int64_t
event_attempt(uint64_t id, const char *event)
{
	return query_i64("SELECT attempt FROM job_timeline WHERE job_id = ? AND event = ?",
	    id, event);
}

static int64_t
count_usage(uint64_t id)
{
	return query_i64("SELECT COUNT(*) FROM `usage` WHERE job_id = ?", id, NULL);
}

/* A column of the usage row of job id. */
static int64_t
usage_i64(uint64_t id, const char *col)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT %s FROM `usage` WHERE job_id = ?", col);
	return query_i64(sql, id, NULL);
}

static void
exec1(const char *sql, uint64_t id)
{
	struct aif_dbp p[] = { AIF_P_I64(id) };
	uint64_t affected = 0;

	assert_int_equal(aif_db_exec(g.t.db, sql, p, 1, &affected, NULL), AIF_OK);
	assert_int_equal(affected, 1);
}

static void
expire_lease(uint64_t id)
{
	exec1("UPDATE jobs SET lease_until = NOW(6) - INTERVAL 5 SECOND WHERE id = ?", id);
}

static struct aif_job_success
success_for(const struct aif_claimed *c, uint64_t worker)
{
	struct aif_job_success s = {
		.id = c->id, .lease_token = c->lease_token, .attempt = c->attempt,
		.first_claim = c->first_claim, .worker_id = worker, .api_key_id = c->api_key_id, .tenant = c->tenant,
		.model = c->model, .engine = "vllm", .replica = "http://127.0.0.1:9101",
		.response_body = RESP_BODY, .prompt_tokens = 6, .completion_tokens = 16,
		.cost_micros = 11, .queue_ms = 25, .engine_ms = 140, .committed = -1,
		.pii_counts = c->pii_counts[0] != '\0' ? c->pii_counts : NULL,
	};
	return s;
}

/* Worker reports job c a success (success_for); what it reported, `committed` set. */
static struct aif_job_success
succeed(const struct aif_claimed *c, uint64_t worker)
{
	struct aif_job_success s = success_for(c, worker);

	assert_int_equal(aif_queue_succeed(g.t.db, &s, 1), AIF_OK);
	return s;
}

static struct aif_job_failure
failure_for(const struct aif_claimed *c, uint64_t worker, int retry, int64_t delay_ms)
{
	struct aif_job_failure f = {
		.id = c->id, .lease_token = c->lease_token, .attempt = c->attempt,
		.worker_id = worker, .replica = "http://127.0.0.1:9101", .retry = retry,
		.delay_ms = delay_ms, .http_status = 400,
		.error_type = "invalid_request_error", .error_code = "context_length_exceeded",
		.error_message = "The engine rejected the request: too long",
		.event_detail = "fatal: The engine rejected the request: too long",
	};
	return f;
}

/* Worker reports job c a failure (failure_for). */
static void
fail_job(const struct aif_claimed *c, uint64_t worker, int retry, int64_t delay_ms)
{
	struct aif_job_failure f = failure_for(c, worker, retry, delay_ms);

	assert_int_equal(aif_queue_fail(g.t.db, &f), AIF_OK);
}

/* The stored answer of job id, read back in pieces, is `want`. */
static void
assert_response(uint64_t id, const char *want)
{
	char *body = NULL;
	size_t len = 0;

	assert_int_equal(aif_jobs_response_read(g.t.db, id, 1u << 20, &body, &len), AIF_OK);
	assert_int_equal(len, strlen(want));
	assert_string_equal(body, want);
	free(body);
}

/* ------------------------------------------------------------------ setup */

static int
group_setup(void **state)
{
	(void)state;
	return testdb_open(&g.t, "test_queue", "");
}

/* Frees the claims and deletes the rows of this run's models and budgets. */
static int
group_teardown(void **state)
{
	(void)state;
	while (g.nclaims > 0) {
		g.nclaims--;
		aif_queue_claimed_free(g.claims[g.nclaims].c, g.claims[g.nclaims].n);
	}
	testdb_purge(&g.t, "DELETE e FROM job_events e JOIN jobs j ON j.id = e.job_id"
	    " WHERE j.model LIKE ?", "");
	testdb_purge(&g.t, "DELETE FROM `usage` WHERE model LIKE ?", "");
	testdb_purge(&g.t, "DELETE FROM jobs WHERE model LIKE ?", "");
	/* the budget of succeed_never_bills_more_than_the_hold: "key:utest-<model>" */
	testdb_purge(&g.t, "DELETE FROM budget_ledger WHERE subject LIKE ?", "key:utest-");
	testdb_purge(&g.t, "DELETE FROM budget_balances WHERE subject LIKE ?", "key:utest-");
	/* the TPM state of succeed_batch_corrects_tpm_by_the_sum_of_its_jobs */
	testdb_purge(&g.t, "DELETE FROM rate_limits WHERE subject LIKE ?", "tenant:t-");
	testdb_close(&g.t);
	return 0;
}

/* ------------------------------------------------------------------ enqueue */

static void
enqueue_stores_queued_job(void **state)
{
	struct tjob t;
	char pid[AIF_JOB_ID_LEN + 1];
	uint64_t id = 0;

	(void)state;
	tjob_init(&t);
	assert_int_equal(aif_queue_enqueue(g.t.db, &t.job, &id, pid), AIF_OK);
	assert_int_equal(strlen(pid), AIF_JOB_ID_LEN);
	assert_memory_equal(pid, "job_", 4);
	assert_job_str(id, "public_id", pid);
	assert_job_str(id, "state", "queued");
	assert_job_str(id, "model", t.model);
	assert_job_str(id, "tenant", "t-utest");
	assert_job_str(id, "kind", "chat");
	assert_job_str(id, "reply_to", "/run/aif/api-1.sock");
	assert_job_str(id, "request_body", REQ_BODY);
	assert_job_str(id, "idempotency_key", "<NULL>");
	assert_int_equal(job_i64(id, "api_key_id"), 7001);
	assert_int_equal(job_i64(id, "priority"), 4);
	assert_int_equal(job_i64(id, "attempts"), 0);
	assert_int_equal(job_i64(id, "max_attempts"), 3);
	assert_int_equal(job_i64(id, "lease_token"), 0);
	assert_int_equal(job_i64(id, "max_tokens"), 64);
	assert_job_str(id, "expires_at", "<NULL>");		/* nobody waits for it */
	assert_int_equal(count_events(id, "enqueued"), 1);
}

/* A job whose caller waits expires after the wait. */
static void
enqueue_with_a_wait_stores_its_expiry(void **state)
{
	struct tjob t;
	uint64_t id;

	(void)state;
	tjob_init(&t);
	t.job.wait_ms = 600000;
	id = enqueue(&t.job);
	assert_int_equal(job_i64(id, "expires_at BETWEEN NOW(6) + INTERVAL 590 SECOND"
	    " AND NOW(6) + INTERVAL 601 SECOND"), 1);
}

static void
enqueue_without_max_tokens_stores_null(void **state)
{
	struct tjob t;
	uint64_t id;

	(void)state;
	tjob_init(&t);
	t.job.max_tokens = -1;
	t.job.reply_to = NULL;
	id = enqueue(&t.job);
	assert_job_str(id, "max_tokens", "<NULL>");
	assert_job_str(id, "reply_to", "<NULL>");
}

static void
enqueue_gives_distinct_ids(void **state)
{
	struct tjob t;
	char p1[AIF_JOB_ID_LEN + 1], p2[AIF_JOB_ID_LEN + 1];
	uint64_t a, b;

	(void)state;
	tjob_init(&t);
	assert_int_equal(aif_queue_enqueue(g.t.db, &t.job, &a, p1), AIF_OK);
	assert_int_equal(aif_queue_enqueue(g.t.db, &t.job, &b, p2), AIF_OK);
	assert_true(b > a);
	assert_string_not_equal(p1, p2);
}

static void
enqueue_duplicate_idempotency_key_is_conflict(void **state)
{
	struct tjob t;
	char pid[AIF_JOB_ID_LEN + 1], key[80];
	uint64_t id = 99;

	(void)state;
	tjob_init(&t);
	snprintf(key, sizeof(key), "idem-%s", t.model);
	t.job.idempotency_key = key;
	(void)enqueue(&t.job);
	assert_int_equal(aif_queue_enqueue(g.t.db, &t.job, &id, pid), AIF_CONFLICT);
	assert_int_equal(id, 0);
	assert_string_equal(pid, "");
	assert_int_equal(query_i64("SELECT COUNT(*) FROM jobs WHERE api_key_id = ?"
	    " AND idempotency_key = ?", 7001, key), 1);
}

static void
enqueue_same_idempotency_key_of_another_api_key_is_accepted(void **state)
{
	struct tjob t;
	char key[80];

	(void)state;
	tjob_init(&t);
	snprintf(key, sizeof(key), "idem-%s", t.model);
	t.job.idempotency_key = key;
	(void)enqueue(&t.job);
	t.job.api_key_id = 7002;
	(void)enqueue(&t.job);
}

/* ------------------------------------------------------------------ claim */

/* ------------------------------------------------------------------ hand-off */

/* Enqueues j through the batch path offered to worker `to`; returns the id and sets
 * *handed. */
static uint64_t
enqueue_offered(struct aif_job_new *j, uint64_t to, int *handed)
{
	char pids[1][AIF_JOB_ID_LEN + 1];
	enum aif_err errs[1];
	uint64_t ids[1] = { 0 };

	j->handoff_worker = to;
	j->handoff_lease_s = 30;
	assert_int_equal(aif_queue_enqueue_batch(g.t.db, j, 1, ids, pids, errs, handed),
	    AIF_OK);
	assert_int_equal(errs[0], AIF_OK);
	assert_true(ids[0] > 0);
	return ids[0];
}

/* Loads the handed jobs among ids for worker `w`; the array (kept for the teardown). */
static struct aif_claimed *
take(uint64_t w, const uint64_t *ids, size_t n, size_t *nout)
{
	struct aif_claimed *c = NULL;

	assert_int_equal(aif_queue_take_handed(g.t.db, w, ids, n, &c, nout), AIF_OK);
	g.claims[g.nclaims].c = c;
	g.claims[g.nclaims++].n = *nout;
	return c;
}

static void
handed_job_is_written_running_under_the_workers_lease(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success s;
	uint64_t id, other;
	size_t n = 0;
	int handed = 0;

	(void)state;
	tjob_init(&t);
	t.job.pii_counts = "{\"EMAIL\":2}";
	id = enqueue_offered(&t.job, t.worker, &handed);
	assert_int_equal(handed, 1);
	assert_job_str(id, "state", "running");
	assert_int_equal(job_i64(id, "worker_id"), (int64_t)t.worker);
	assert_int_equal(job_i64(id, "attempts"), 1);
	assert_int_equal(job_i64(id, "lease_token"), 1);
	assert_int_equal(job_i64(id, "started_at = created_at"), 1);
	assert_int_equal(job_i64(id, "lease_until > NOW(6) + INTERVAL 20 SECOND"), 1);
	/* never queued: the queue's indexes never hold it (sql/021_narrow_indexes.sql) */
	assert_int_equal(job_i64(id, "queued_mark IS NULL AND run_state IS NULL"
	    " AND batch_state IS NULL"), 1);
	/* nobody claims it; another worker cannot take it; its worker can */
	claim(t.model, new_worker(), 4, 4, &n);
	assert_int_equal(n, 0);
	other = new_worker();
	take(other, &id, 1, &n);
	assert_int_equal(n, 0);
	c = take(t.worker, &id, 1, &n);
	assert_int_equal(n, 1);
	assert_int_equal(c->id, id);
	assert_int_equal(c->attempt, 1);
	assert_int_equal(c->lease_token, 1);
	assert_int_equal(c->first_claim, 1);
	assert_string_equal(c->request_body, REQ_BODY);
	assert_string_equal(c->model, t.model);
	assert_string_equal(c->pii_counts, "{\"EMAIL\":2}");
	assert_string_equal(c->relay_model, "");	/* no run's step */
	/* it succeeds like a claimed job: one usage row, the timeline from the row */
	s = succeed(c, t.worker);
	assert_int_equal(s.committed, 1);
	assert_job_str(id, "state", "succeeded");
	assert_int_equal(count_usage(id), 1);
	assert_int_equal(usage_i64(id, "JSON_VALUE(pii_counts, '$.EMAIL')"), 2);
	assert_int_equal(count_events(id, "claimed"), 1);
	assert_int_equal(count_events(id, "succeeded"), 1);
	/* done: no longer handed, nothing to take */
	take(t.worker, &id, 1, &n);
	assert_int_equal(n, 0);
}

static void
job_is_not_handed_while_its_model_has_a_runnable_queued_job(void **state)
{
	struct tjob t;
	char other_model[64];
	uint64_t queued, id, id2;
	int handed = 1;

	(void)state;
	tjob_init(&t);
	queued = enqueue_simple(t.model, 0);	/* lower priority, still ahead of a hand-off */
	id = enqueue_offered(&t.job, t.worker, &handed);
	assert_int_equal(handed, 0);
	assert_job_str(id, "state", "queued");
	assert_int_equal(job_i64(id, "queued_mark"), 1);
	assert_no_lease(id);
	assert_int_equal(job_i64(id, "attempts"), 0);
	/* another model's queue does not stop it */
	new_model(other_model, sizeof(other_model));
	t.job.model = other_model;
	id2 = enqueue_offered(&t.job, t.worker, &handed);
	assert_int_equal(handed, 1);
	assert_job_str(id2, "state", "running");
	/* queued jobs waiting for their retry time do not count */
	exec1("UPDATE jobs SET run_after = NOW(6) + INTERVAL 1 HOUR WHERE id = ?", queued);
	t.job.model = t.model;
	id2 = enqueue_offered(&t.job, t.worker, &handed);
	assert_int_equal(handed, 0);	/* the first offered one still waits, runnable */
	exec1("UPDATE jobs SET run_after = NOW(6) + INTERVAL 1 HOUR WHERE id = ?", id);
	exec1("UPDATE jobs SET run_after = NOW(6) + INTERVAL 1 HOUR WHERE id = ?", id2);
	id = enqueue_offered(&t.job, t.worker, &handed);
	assert_int_equal(handed, 1);
	assert_job_str(id, "state", "running");
}

/* The job a "take" bell carries (handoff.h) is the job its row holds, as the worker
 * would read it. */
static void
bell_job_reads_as_its_row(void **state)
{
	static const unsigned char secret[AIF_RELAY_SECRET_BYTES] = { 1, 2, 3, 250 };
	struct tjob t;
	struct aif_claimed *row, bell;
	char pid[AIF_JOB_ID_LEN + 1], *msg = NULL;
	uint64_t id;
	size_t n = 0, len = 0;
	int handed = 0;

	(void)state;
	tjob_init(&t);
	t.job.kind = AIF_KIND_EMBEDDING;
	t.job.stream = 1;
	t.job.pii_counts = "{\"PHONE\":3}";
	t.job.relay_secret = secret;
	t.job.zero_retention = 1;
	t.job.tokens_charged = 80;
	t.job.prompt_tokens_bound = 500;
	t.job.completion_tokens_bound = 64;
	t.job.traceparent = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01";
	t.job.tracestate = "a=b";
	t.job.guardrails = "pii";
	id = enqueue_offered(&t.job, t.worker, &handed);
	assert_int_equal(handed, 1);
	job_str(id, "public_id", pid, sizeof(pid));
	row = take(t.worker, &id, 1, &n);
	assert_int_equal(n, 1);
	assert_int_equal(aif_handoff_encode(&t.job, id, pid, &msg, &len), AIF_OK);
	assert_int_equal(aif_handoff_decode(msg, len, id, t.worker, &bell), AIF_OK);
	free(msg);
	bell.queue_ms = row->queue_ms;	/* a clock's reading either way */
	assert_string_equal(bell.request_body, row->request_body);
	free(bell.request_body);
	bell.request_body = row->request_body;
	assert_memory_equal(&bell, row, sizeof(bell));
}

/* Several jobs offered in one batch: each model is looked at once, and only the one
 * with runnable queued work keeps its jobs queued. */
static void
batch_hands_off_per_model(void **state)
{
	struct tjob t;
	char free_model[64];
	struct aif_job_new jobs[3];
	char pids[3][AIF_JOB_ID_LEN + 1];
	enum aif_err errs[3];
	uint64_t ids[3] = { 0 };
	int handed[3] = { 0 };

	(void)state;
	tjob_init(&t);
	(void)enqueue_simple(t.model, 0);	/* t.model has queued work */
	new_model(free_model, sizeof(free_model));
	for (size_t i = 0; i < 3; i++) {
		jobs[i] = t.job;
		jobs[i].handoff_worker = t.worker;
		jobs[i].handoff_lease_s = 30;
	}
	jobs[1].model = free_model;
	jobs[2].model = free_model;
	assert_int_equal(aif_queue_enqueue_batch(g.t.db, jobs, 3, ids, pids, errs, handed),
	    AIF_OK);
	assert_int_equal(handed[0], 0);
	assert_int_equal(handed[1], 1);
	assert_int_equal(handed[2], 1);
	assert_job_str(ids[0], "state", "queued");
	assert_job_str(ids[1], "state", "running");
	assert_job_str(ids[2], "state", "running");
	/* the other way round: the queued model second in the statement */
	jobs[0].model = free_model;
	jobs[1].model = t.model;
	jobs[2].model = t.model;
	assert_int_equal(aif_queue_enqueue_batch(g.t.db, jobs, 3, ids, pids, errs, handed),
	    AIF_OK);
	assert_int_equal(handed[0], 1);
	assert_int_equal(handed[1], 0);
	assert_int_equal(handed[2], 0);
}

/* The streamed step of a workflow run relays under the run's id and model. */
static void
streamed_step_relays_under_the_runs_model(void **state)
{
	struct tjob t;
	char run_model[64];
	struct aif_claimed *c;
	uint64_t run, step;
	size_t n = 0;

	(void)state;
	tjob_init(&t);
	new_model(run_model, sizeof(run_model));
	run = enqueue_simple(run_model, 0);
	exec1("UPDATE jobs SET run_after = NOW(6) + INTERVAL 1 HOUR WHERE id = ?", run);
	t.job.parent_job_id = run;
	t.job.parent_step = "s1";
	t.job.stream = 1;
	step = enqueue(&t.job);
	c = claim(t.model, t.worker, 1, 1, &n);
	assert_int_equal(n, 1);
	assert_int_equal(c->id, step);
	assert_int_equal(c->relay_id, run);
	assert_string_equal(c->relay_model, run_model);
}

static void
released_handed_job_is_queued_again_and_claimed_under_a_new_token(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	uint64_t id, found[8];
	size_t n = 0, released = 0;
	int handed = 0;

	(void)state;
	tjob_init(&t);
	id = enqueue_offered(&t.job, t.worker, &handed);
	assert_int_equal(handed, 1);
	/* an orphan once old enough; not before */
	assert_int_equal(aif_queue_handed_orphans(g.t.db, t.worker, 60000, 0, found, 8, &n),
	    AIF_OK);
	assert_int_equal(n, 0);
	assert_int_equal(aif_queue_handed_orphans(g.t.db, t.worker, 0, 0, found, 8, &n), AIF_OK);
	assert_int_equal(n, 1);
	assert_int_equal(found[0], id);
	/* another worker cannot give it back; its own can */
	assert_int_equal(aif_queue_release_handed(g.t.db, new_worker(), &id, 1, &released),
	    AIF_OK);
	assert_int_equal(released, 0);
	assert_int_equal(aif_queue_release_handed(g.t.db, t.worker, &id, 1, &released),
	    AIF_OK);
	assert_int_equal(released, 1);
	assert_job_str(id, "state", "queued");
	assert_no_lease(id);
	assert_int_equal(job_i64(id, "attempts"), 0);
	assert_int_equal(job_i64(id, "started_at IS NULL"), 1);
	assert_int_equal(aif_queue_handed_orphans(g.t.db, t.worker, 0, 0, found, 8, &n), AIF_OK);
	assert_int_equal(n, 0);
	take(t.worker, &id, 1, &n);
	assert_int_equal(n, 0);
	/* claimed as a first attempt under a newer token: the hand-off's is fenced off */
	c = claim(t.model, t.worker, 1, 1, &n);
	assert_int_equal(n, 1);
	assert_int_equal(c->id, id);
	assert_int_equal(c->attempt, 1);
	assert_int_equal(c->lease_token, 2);
	assert_int_equal(c->first_claim, 1);
	/* a claimed row is no handed one: not an orphan, not given back */
	assert_int_equal(aif_queue_handed_orphans(g.t.db, t.worker, 0, 0, found, 8, &n), AIF_OK);
	assert_int_equal(n, 0);
	assert_int_equal(aif_queue_release_handed(g.t.db, t.worker, &id, 1, &released),
	    AIF_OK);
	assert_int_equal(released, 0);
	assert_job_str(id, "state", "running");
}

static void
handed_job_of_a_dead_worker_is_reaped_like_a_claimed_one(void **state)
{
	struct tjob t;
	uint64_t id;
	size_t reaped = 0;
	int handed = 0;

	(void)state;
	tjob_init(&t);
	id = enqueue_offered(&t.job, t.worker, &handed);
	assert_int_equal(handed, 1);
	expire_lease(id);
	assert_int_equal(aif_queue_reap(g.t.db, NULL, 256, &reaped), AIF_OK);
	assert_true(reaped >= 1);
	assert_job_str(id, "state", "queued");
	assert_no_lease(id);
}

/* A handed job given back after its caller's deadline: the caller was told it goes on
 * (it looked started), so it runs; one given back before keeps its deadline. */
static void
handed_job_given_back_after_its_deadline_still_runs(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	uint64_t late, early;
	size_t n = 0, released = 0;
	int handed = 0;

	(void)state;
	tjob_init(&t);
	t.job.wait_ms = 60000;
	late = enqueue_offered(&t.job, t.worker, &handed);
	assert_int_equal(handed, 1);
	early = enqueue_offered(&t.job, t.worker, &handed);
	assert_int_equal(handed, 1);
	exec1("UPDATE jobs SET expires_at = NOW(6) - INTERVAL 1 SECOND WHERE id = ?", late);
	{
		uint64_t both[] = { late, early };
		assert_int_equal(aif_queue_release_handed(g.t.db, t.worker, both, 2, &released),
		    AIF_OK);
	}
	assert_int_equal(released, 2);
	assert_job_str(late, "expires_at", "<NULL>");
	assert_int_equal(job_i64(early, "expires_at > NOW(6) + INTERVAL 50 SECOND"), 1);
	c = claim(t.model, t.worker, 2, 2, &n);
	assert_int_equal(n, 2);	/* both run: neither is ended as request_expired */
	assert_true(c[0].id == late || c[1].id == late);
	assert_job_str(late, "state", "running");
}

/* Handed jobs go back when their worker has stopped (it drained: none was started);
 * not while it drains (its calls run), not when it merely went quiet or has no row
 * (dead: its leases run out, as for claimed jobs). */
static void
handed_job_of_a_stopped_worker_goes_back(void **state)
{
	struct tjob t;
	uint64_t a = 0, b = 0, ja, jb, jdead, ids[3], found[2];
	size_t released = 0, n = 0;
	int handed = 0;

	(void)state;
	tjob_init(&t);
	assert_int_equal(aif_registry_register(g.t.db, "utest-a", "localhost", 1, NULL, 4, &a),
	    AIF_OK);
	assert_int_equal(aif_registry_register(g.t.db, "utest-b", "localhost", 2, NULL, 4, &b),
	    AIF_OK);
	ja = enqueue_offered(&t.job, a, &handed);
	jb = enqueue_offered(&t.job, b, &handed);
	jdead = enqueue_offered(&t.job, t.worker, &handed);	/* no row in workers */
	assert_int_equal(handed, 1);
	ids[0] = ja;
	ids[1] = jb;
	ids[2] = jdead;
	/* b drains, then stops; too young for the given age at first */
	assert_int_equal(aif_registry_heartbeat(g.t.db, b, "draining", 1), AIF_OK);
	assert_int_equal(aif_queue_release_stale_handed(g.t.db, ids, 3, 0, &released), AIF_OK);
	assert_int_equal(released, 0);
	assert_int_equal(aif_registry_stop(g.t.db, b), AIF_OK);
	assert_int_equal(aif_queue_release_stale_handed(g.t.db, ids, 3, 60000, &released),
	    AIF_OK);
	assert_int_equal(released, 0);
	assert_int_equal(aif_queue_release_stale_handed(g.t.db, ids, 3, 0, &released), AIF_OK);
	assert_int_equal(released, 1);
	assert_job_str(jb, "state", "queued");
	assert_int_equal(job_i64(jb, "attempts"), 0);
	assert_no_lease(jb);
	assert_job_str(ja, "state", "running");
	assert_job_str(jdead, "state", "running");
	/* the sweep form (every stopped worker's), once a stops too */
	assert_int_equal(aif_registry_stop(g.t.db, a), AIF_OK);
	exec1("UPDATE jobs SET created_at = created_at - INTERVAL 5 SECOND,"
	    " started_at = started_at - INTERVAL 5 SECOND WHERE id = ?", ja);
	assert_int_equal(aif_queue_release_stale_handed(g.t.db, NULL, 0, 1000, &released),
	    AIF_OK);
	assert_true(released >= 1);
	assert_job_str(ja, "state", "queued");
	assert_job_str(jdead, "state", "running");
	/* orphans page by id (the two given back wait for later: no backlog) */
	exec1("UPDATE jobs SET run_after = NOW(6) + INTERVAL 1 HOUR WHERE id = ?", ja);
	exec1("UPDATE jobs SET run_after = NOW(6) + INTERVAL 1 HOUR WHERE id = ?", jb);
	ja = enqueue_offered(&t.job, t.worker, &handed);
	assert_int_equal(handed, 1);
	assert_int_equal(aif_queue_handed_orphans(g.t.db, t.worker, 0, 0, found, 1, &n),
	    AIF_OK);
	assert_int_equal(n, 1);
	assert_int_equal(found[0], jdead);
	assert_int_equal(aif_queue_handed_orphans(g.t.db, t.worker, 0, found[0], found, 2,
	    &n), AIF_OK);
	assert_int_equal(n, 1);
	assert_int_equal(found[0], ja);
}

static void
claim_returns_job_with_attempt_one_and_next_lease_token(void **state)
{
	struct tjob t;
	char pid[AIF_JOB_ID_LEN + 1];
	struct aif_claimed *c;
	uint64_t id;
	size_t n = 0;

	(void)state;
	tjob_init(&t);
	t.job.stream = 1;
	t.job.max_attempts = 5;
	assert_int_equal(aif_queue_enqueue(g.t.db, &t.job, &id, pid), AIF_OK);
	c = claim(t.model, t.worker, 4, 4, &n);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].id, id);
	assert_string_equal(c[0].public_id, pid);
	assert_string_equal(c[0].model, t.model);
	assert_int_equal(c[0].kind, AIF_KIND_CHAT);
	assert_string_equal(c[0].tenant, "t-utest");
	assert_string_equal(c[0].reply_to, "/run/aif/api-1.sock");
	assert_int_equal(c[0].api_key_id, 7001);
	assert_int_equal(c[0].attempt, 1);
	assert_int_equal(c[0].max_attempts, 5);
	assert_int_equal(c[0].stream, 1);
	assert_int_equal(c[0].lease_token, 1);
	assert_true(c[0].queue_ms >= 0 && c[0].queue_ms < 60000);
	assert_string_equal(c[0].request_body, REQ_BODY);
}

static void
claim_sets_job_running_under_a_lease(void **state)
{
	struct tjob t;
	char want_worker[32];
	struct aif_claimed *c;

	(void)state;
	c = tjob_start(&t);
	snprintf(want_worker, sizeof(want_worker), "%" PRIu64, t.worker);
	assert_job_str(c->id, "state", "running");
	assert_job_str(c->id, "worker_id", want_worker);
	assert_int_equal(job_i64(c->id, "attempts"), 1);
	assert_int_equal(job_i64(c->id, "lease_token"), 1);
	assert_int_equal(job_i64(c->id, "lease_until > NOW(6) + INTERVAL 20 SECOND"), 1);
	assert_int_equal(job_i64(c->id, "lease_until < NOW(6) + INTERVAL 40 SECOND"), 1);
	assert_int_equal(job_i64(c->id, "started_at IS NOT NULL"), 1);
	assert_int_equal(job_i64(c->id, "queued_mark IS NULL"), 1);	/* left the queue */
}

static void
claim_writes_claimed_event(void **state)
{
	struct tjob t;
	struct aif_claimed *c;

	(void)state;
	c = tjob_start(&t);
	assert_int_equal(count_events(c->id, "claimed"), 1);
	assert_int_equal(event_attempt(c->id, "claimed"), 1);
	assert_int_equal(query_i64("SELECT worker_id FROM job_timeline WHERE job_id = ?"
	    " AND event = 'claimed'", c->id, NULL), (int64_t)t.worker);
}

static void
claim_on_empty_queue_returns_nothing(void **state)
{
	char model[64];
	struct aif_claimed *c;
	size_t n = 99;

	(void)state;
	NEED_DB();
	new_model(model, sizeof(model));
	c = claim(model, new_worker(), 8, 8, &n);
	assert_null(c);
	assert_int_equal(n, 0);
}

static void
claimed_job_is_not_claimed_again(void **state)
{
	struct tjob t;
	struct aif_claimed *again;
	size_t n = 99;

	(void)state;
	(void)tjob_start(&t);
	again = claim(t.model, new_worker(), 8, 8, &n);
	assert_null(again);
	assert_int_equal(n, 0);
}

static void
claim_order_is_priority_desc_then_id(void **state)
{
	static const int prio[] = { 1, 5, 5, 9, 1, 0, 9 };
	/* indexes into prio[] in the order they must be claimed */
	static const size_t order[] = { 3, 6, 1, 2, 0, 4, 5 };
	char model[64];
	uint64_t ids[7], worker = new_worker();

	(void)state;
	NEED_DB();
	new_model(model, sizeof(model));
	for (size_t i = 0; i < 7; i++)
		ids[i] = enqueue_simple(model, prio[i]);
	for (size_t k = 0; k < 7; k++) {
		size_t n = 0;
		struct aif_claimed *c = claim(model, worker, 1, 1, &n);

		assert_int_equal(n, 1);
		if (c[0].id != ids[order[k]])
			fail_msg("claim %zu took job %" PRIu64 ", want %" PRIu64
			    " (priority %d)", k, c[0].id, ids[order[k]], prio[order[k]]);
	}
}

static void
claim_limit_takes_the_best_jobs(void **state)
{
	char model[64];
	uint64_t low, high1, high2, mid, worker = new_worker();
	struct aif_claimed *c;
	size_t n = 0;

	(void)state;
	NEED_DB();
	new_model(model, sizeof(model));
	low = enqueue_simple(model, 0);
	high1 = enqueue_simple(model, 8);
	mid = enqueue_simple(model, 4);
	high2 = enqueue_simple(model, 8);
	c = claim(model, worker, 10, 2, &n);
	assert_int_equal(n, 2);
	assert_true((c[0].id == high1 && c[1].id == high2) ||
	    (c[0].id == high2 && c[1].id == high1));
	assert_job_str(low, "state", "queued");
	assert_job_str(mid, "state", "queued");
}

static void
claim_honours_per_model_free(void **state)
{
	char m1[64], m2[64], m3[64];
	const char *models[3];
	int room[] = { 1, 2, 0 };
	struct aif_claimed *c = NULL;
	size_t n = 0, got[3] = { 0, 0, 0 };

	(void)state;
	NEED_DB();
	new_model(m1, sizeof(m1));
	new_model(m2, sizeof(m2));
	new_model(m3, sizeof(m3));
	models[0] = m1;
	models[1] = m2;
	models[2] = m3;
	for (int i = 0; i < 3; i++) {
		enqueue_simple(m1, 4);
		enqueue_simple(m2, 4);
		enqueue_simple(m3, 4);
	}
	assert_int_equal(aif_queue_claim(g.t.db, new_worker(), models, room, 3, 16, 30, &c,
	    &n), AIF_OK);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < 3; k++)
			if (strcmp(c[i].model, models[k]) == 0)
				got[k]++;
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 2);
	assert_int_equal(got[2], 0);
	assert_int_equal(n, 3);
	aif_queue_claimed_free(c, n);
}

/* Two new models of the test's own: names in m, pointers to them in models. */
static void
two_models(char m[2][64], const char **models)
{
	for (int i = 0; i < 2; i++) {
		new_model(m[i], sizeof(m[i]));
		models[i] = m[i];
	}
}

/* This connection's count of SELECT statements so far. */
static int64_t
session_selects(void)
{
	struct aif_dbrows *rows = NULL;
	int64_t v = -1;

	assert_int_equal(aif_db_query_plain(g.t.db, "SHOW SESSION STATUS LIKE 'Com_select'",
	    &rows), AIF_OK);
	assert_int_equal(rows->nrows, 1);
	assert_int_equal(aif_parse_i64(aif_dbrows_get(rows, 0, 1), 0, INT64_MAX, &v), 0);
	aif_dbrows_free(rows);
	return v;
}

/* A claim over models of which some have less room than the batch asks one query when
 * no model's backlog crowds the others (the common case), and falls back to a query
 * per such model when one does, still taking what each has room for. */
static void
claim_asks_one_query_unless_crowded(void **state)
{
	char m[2][64];
	const char *models[2];
	int room[] = { 1, 16 };
	struct aif_claimed *c = NULL;
	size_t n = 0, got[2] = { 0, 0 };
	int64_t before;

	(void)state;
	NEED_DB();
	two_models(m, models);
	enqueue_simple(m[0], 4);
	before = session_selects();
	assert_int_equal(aif_queue_claim(g.t.db, new_worker(), models, room, 2, 16, 30, &c,
	    &n), AIF_OK);
	assert_int_equal(n, 1);
	assert_int_equal(session_selects() - before, 1);
	aif_queue_claimed_free(c, n);
	/* crowded: m1 (room 1) has 20 jobs ahead of m2's 3 */
	for (int i = 0; i < 20; i++)
		enqueue_simple(m[0], 9);
	for (int i = 0; i < 3; i++)
		enqueue_simple(m[1], 4);
	before = session_selects();
	assert_int_equal(aif_queue_claim(g.t.db, new_worker(), models, room, 2, 16, 30, &c,
	    &n), AIF_OK);
	assert_true(session_selects() - before > 1);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < 2; k++)
			if (strcmp(c[i].model, models[k]) == 0)
				got[k]++;
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 3);
	aif_queue_claimed_free(c, n);
}

static void
claim_ignores_models_not_asked_for(void **state)
{
	char mine[64], other[64];
	struct aif_claimed *c;
	size_t n = 99;

	(void)state;
	NEED_DB();
	new_model(mine, sizeof(mine));
	new_model(other, sizeof(other));
	enqueue_simple(other, 9);
	c = claim(mine, new_worker(), 8, 8, &n);
	assert_null(c);
	assert_int_equal(n, 0);
}

/* A model whose backlog is at its cap must not stop the claim from filling the room
 * other models have: here m1 has 20 older jobs but room for 1, m2 has 3 newer jobs of
 * the same priority and room for 10, and the worker asks for 16. The claim should
 * take 1 + 3 jobs; an implementation that picks the best `limit` rows first and drops
 * the ones over a cap afterwards takes only 1 and leaves m2 idle. */
static void
claim_fills_other_models_room_when_one_model_is_capped(void **state)
{
	char m[2][64];
	const char *models[2];
	int room[] = { 1, 10 };
	struct aif_claimed *c = NULL;
	size_t n = 0, of_m2 = 0;

	(void)state;
	NEED_DB();
	two_models(m, models);
	for (int i = 0; i < 20; i++)
		enqueue_simple(m[0], 4);
	for (int i = 0; i < 3; i++)
		enqueue_simple(m[1], 4);
	assert_int_equal(aif_queue_claim(g.t.db, new_worker(), models, room, 2, 16, 30, &c,
	    &n), AIF_OK);
	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].model, m[1]) == 0)
			of_m2++;
	aif_queue_claimed_free(c, n);
	if (n != 4 || of_m2 != 3)
		fail_msg("claimed %zu jobs, %zu of the uncapped model; want 4 and 3", n,
		    of_m2);
}

/* ------------------------------------------------------------------ fail / retry */

static void
retry_with_delay_is_not_claimed_before_run_after(void **state)
{
	struct tjob t;
	struct aif_claimed *c, *again;
	size_t n = 99;

	(void)state;
	c = tjob_start(&t);
	fail_job(c, t.worker, 1, 60000);
	assert_job_str(c->id, "state", "queued");
	assert_int_equal(job_i64(c->id, "run_after > NOW(6) + INTERVAL 50 SECOND"), 1);
	assert_no_lease(c->id);
	again = claim(t.model, t.worker, 8, 8, &n);
	assert_null(again);
	assert_int_equal(n, 0);
	assert_int_equal(count_events(c->id, "attempt_failed"), 1);
	assert_int_equal(count_events(c->id, "retry_scheduled"), 1);
}

static void
retry_without_delay_is_claimed_as_attempt_two(void **state)
{
	struct tjob t;
	struct aif_claimed *c, *again;
	size_t n = 0;

	(void)state;
	c = tjob_start(&t);
	fail_job(c, t.worker, 1, 0);
	again = claim(t.model, t.worker, 1, 1, &n);
	assert_int_equal(n, 1);
	assert_int_equal(again[0].id, c->id);
	assert_int_equal(again[0].attempt, 2);
	assert_int_equal(again[0].lease_token, 2);
	assert_int_equal(count_events(c->id, "claimed"), 2);
}

static void
final_failure_sets_failed_with_status_and_error(void **state)
{
	struct tjob t;
	struct aif_claimed *c;

	(void)state;
	c = tjob_start(&t);
	fail_job(c, t.worker, 0, 0);
	assert_job_str(c->id, "state", "failed");
	assert_int_equal(job_i64(c->id, "http_status"), 400);
	assert_job_str(c->id, "error_type", "invalid_request_error");
	assert_job_str(c->id, "error_code", "context_length_exceeded");
	assert_job_str(c->id, "error_message", "The engine rejected the request: too long");
	assert_job_str(c->id, "replica", "http://127.0.0.1:9101");
	assert_int_equal(job_i64(c->id, "finished_at IS NOT NULL"), 1);
	assert_no_lease(c->id);
	assert_int_equal(count_events(c->id, "attempt_failed"), 1);
	assert_int_equal(count_events(c->id, "failed"), 1);
	assert_int_equal(count_usage(c->id), 0);
}

static void
final_failure_without_code_stores_null(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_failure f;

	(void)state;
	c = tjob_start(&t);
	f = failure_for(c, t.worker, 0, 0);
	f.error_code = NULL;
	f.http_status = 502;
	assert_int_equal(aif_queue_fail(g.t.db, &f), AIF_OK);
	assert_job_str(c->id, "error_code", "<NULL>");
	assert_int_equal(job_i64(c->id, "http_status"), 502);
}

static void
fail_with_stale_lease_token_is_notfound_and_changes_nothing(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_failure f;

	(void)state;
	c = tjob_start(&t);
	f = failure_for(c, t.worker, 0, 0);
	f.lease_token = c->lease_token - 1;
	assert_int_equal(aif_queue_fail(g.t.db, &f), AIF_NOTFOUND);
	assert_job_str(c->id, "state", "running");
	assert_job_str(c->id, "http_status", "<NULL>");
	assert_int_equal(count_events(c->id, "attempt_failed"), 0);
}

/* ------------------------------------------------------------------ succeed */

static void
succeed_commits_response_usage_and_event_together(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success s;

	(void)state;
	c = tjob_start(&t);
	s = succeed(c, t.worker);
	assert_int_equal(s.committed, 1);
	assert_job_str(c->id, "state", "succeeded");
	assert_int_equal(job_i64(c->id, "http_status"), 200);
	assert_job_str(c->id, "response_body", RESP_BODY);
	assert_job_str(c->id, "replica", "http://127.0.0.1:9101");
	assert_int_equal(job_i64(c->id, "finished_at IS NOT NULL"), 1);
	assert_job_str(c->id, "lease_until", "<NULL>");
	assert_int_equal(job_i64(c->id, "worker_id"), (int64_t)t.worker);	/* who ran it */
	assert_int_equal(count_events(c->id, "succeeded"), 1);
	assert_int_equal(event_attempt(c->id, "succeeded"), 1);
	assert_int_equal(count_usage(c->id), 1);
	assert_int_equal(usage_i64(c->id, "prompt_tokens"), 6);
	assert_int_equal(usage_i64(c->id, "completion_tokens"), 16);
	assert_int_equal(usage_i64(c->id, "total_tokens"), 22);
	assert_int_equal(usage_i64(c->id, "cost_micros"), 11);
	assert_int_equal(usage_i64(c->id, "api_key_id"), 7001);
	assert_int_equal(usage_i64(c->id, "engine_ms"), 140);
	assert_int_equal(query_i64("SELECT COUNT(*) FROM `usage` WHERE job_id = ?"
	    " AND engine = ?", c->id, "vllm"), 1);
}

static void
succeed_with_stale_lease_token_commits_nothing(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success s;

	(void)state;
	c = tjob_start(&t);
	s = success_for(c, t.worker);
	s.lease_token = c->lease_token + 1;
	assert_int_equal(aif_queue_succeed(g.t.db, &s, 1), AIF_OK);
	assert_int_equal(s.committed, 0);
	assert_job_str(c->id, "state", "running");
	assert_job_str(c->id, "response_body", "<NULL>");
	assert_int_equal(count_usage(c->id), 0);
	assert_int_equal(count_events(c->id, "succeeded"), 0);
}

static void
second_succeed_of_a_job_is_a_noop(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success s;

	(void)state;
	c = tjob_start(&t);
	s = succeed(c, t.worker);
	assert_int_equal(s.committed, 1);
	s.response_body = "{\"second\":true}";
	assert_int_equal(aif_queue_succeed(g.t.db, &s, 1), AIF_OK);
	assert_int_equal(s.committed, 0);
	assert_job_str(c->id, "response_body", RESP_BODY);
	assert_int_equal(count_usage(c->id), 1);
	assert_int_equal(count_events(c->id, "succeeded"), 1);
}

static void
succeed_batch_skips_only_the_lost_lease(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success s[2];

	(void)state;
	c = tjob_start_two(&t);
	s[0] = success_for(&c[0], t.worker);
	s[1] = success_for(&c[1], t.worker);
	s[1].lease_token = 0;
	assert_int_equal(aif_queue_succeed(g.t.db, s, 2), AIF_OK);
	assert_int_equal(s[0].committed, 1);
	assert_int_equal(s[1].committed, 0);
	assert_job_str(c[0].id, "state", "succeeded");
	assert_job_str(c[1].id, "state", "running");
	assert_int_equal(count_usage(c[0].id), 1);
	assert_int_equal(count_usage(c[1].id), 0);
}

/* One integer from sql in a transaction of its own on the transactions-only tx. */
static int64_t
tx_i64(struct aif_db *tx, const char *sql)
{
	struct aif_dbrows *rows = NULL;
	int64_t v = -1;

	assert_int_equal(aif_db_begin(tx), AIF_OK);
	assert_int_equal(aif_db_query(tx, sql, NULL, 0, &rows), AIF_OK);
	assert_int_equal(aif_parse_i64(aif_dbrows_get(rows, 0, 0), INT64_MIN, INT64_MAX,
	    &v), 0);
	aif_dbrows_free(rows);
	assert_int_equal(aif_db_finish(tx, AIF_OK), AIF_OK);
	return v;
}

/* The worker commits successes on a transactions-only connection (aif_db_tx_only):
 * autocommit is off and no START TRANSACTION goes to the server; a job whose lease was
 * lost commits nothing; a statement outside a transaction is refused; a connection
 * that is down (new, or dropped by the server while idle) is opened for the
 * transaction, which still holds all its statements; a transaction whose connection
 * died fails as unavailable (the job is retried), never as bad data. */
static void
succeed_on_a_transactions_only_connection(void **state)
{
	static const char begins_sql[] = "SELECT VARIABLE_VALUE FROM"
	    " information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'COM_BEGIN'";
	struct aif_db *tx = NULL;
	struct aif_dbrows *rows = NULL;
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success s[2];
	struct aif_dbp pid[1];
	int64_t conn;
	char kill[64];

	(void)state;
	assert_int_equal(aif_db_open(g.t.cfg, &tx), AIF_OK);
	aif_db_tx_only(tx);	/* down until its next use */
	c = tjob_start_two(&t);
	s[0] = success_for(&c[0], t.worker);
	s[1] = success_for(&c[1], t.worker);
	/* one job alone on the connection opened for it: nothing to fall back on */
	assert_int_equal(aif_queue_succeed(tx, &s[0], 1), AIF_OK);
	assert_int_equal(s[0].committed, 1);
	assert_int_equal(aif_db_query(tx, "SELECT 1", NULL, 0, &rows), AIF_INVALID);
	assert_null(rows);
	assert_int_equal(tx_i64(tx, "SELECT @@autocommit"), 0);
	/* a lost lease: rolled back, then the held jobs (none) under locks */
	s[1].lease_token = 0;
	assert_int_equal(aif_queue_succeed(tx, &s[1], 1), AIF_OK);
	assert_int_equal(s[1].committed, 0);
	/* committed: another connection sees it */
	assert_job_str(c[0].id, "state", "succeeded");
	assert_job_str(c[1].id, "state", "running");
	assert_int_equal(count_usage(c[0].id), 1);
	assert_int_equal(count_usage(c[1].id), 0);
	/* rolled back: nothing of the transaction stays */
	pid[0] = AIF_P_I64(c[1].id);
	assert_int_equal(aif_db_begin(tx), AIF_OK);
	assert_int_equal(aif_db_exec(tx, "UPDATE jobs SET http_status = 299 WHERE id = ?",
	    pid, 1, NULL, NULL), AIF_OK);
	aif_db_rollback(tx);
	assert_job_str(c[1].id, "http_status", "<NULL>");
	/* the connection dies inside a transaction: the rest of it is refused as
	   unavailable, and the next transaction opens a new connection */
	conn = tx_i64(tx, "SELECT CONNECTION_ID()");
	snprintf(kill, sizeof(kill), "KILL CONNECTION %lld", (long long)conn);
	assert_int_equal(aif_db_begin(tx), AIF_OK);
	assert_int_equal(aif_db_exec(tx, "UPDATE jobs SET http_status = 299 WHERE id = ?",
	    pid, 1, NULL, NULL), AIF_OK);
	assert_int_equal(aif_db_exec_plain(g.t.db, kill, NULL), AIF_OK);
	assert_int_equal(aif_db_exec(tx, "UPDATE jobs SET http_status = 298 WHERE id = ?",
	    pid, 1, NULL, NULL), AIF_UNAVAILABLE);
	assert_int_equal(aif_db_exec(tx, "UPDATE jobs SET http_status = 297 WHERE id = ?",
	    pid, 1, NULL, NULL), AIF_UNAVAILABLE);
	assert_int_equal(aif_db_finish(tx, AIF_OK), AIF_UNAVAILABLE);
	assert_job_str(c[1].id, "http_status", "<NULL>");
	/* the server drops the idle connection: the next transaction opens a new one */
	conn = tx_i64(tx, "SELECT CONNECTION_ID()");
	snprintf(kill, sizeof(kill), "KILL CONNECTION %lld", (long long)conn);
	assert_int_equal(aif_db_exec_plain(g.t.db, kill, NULL), AIF_OK);
	s[1].lease_token = c[1].lease_token;
	assert_int_equal(aif_queue_succeed(tx, &s[1], 1), AIF_OK);
	assert_int_equal(s[1].committed, 1);
	assert_job_str(c[1].id, "state", "succeeded");
	assert_int_equal(count_usage(c[1].id), 1);
	assert_int_not_equal(tx_i64(tx, "SELECT CONNECTION_ID()"), conn);
	assert_int_equal(tx_i64(tx, "SELECT @@autocommit"), 0);
	/* the new session ran a whole success and never sent START TRANSACTION */
	assert_int_equal(tx_i64(tx, begins_sql), 0);
	aif_db_close(tx);
}

/* One engine reporting an absurd token count (beyond the INT UNSIGNED usage columns)
 * must not cost the other jobs of the same batch their results: they would run again
 * on the engine, and the bad one would poison every batch it rejoins. */
static void
succeed_batch_survives_usage_beyond_column_range(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success s[2];
	enum aif_err err;

	(void)state;
	c = tjob_start_two(&t);
	s[0] = success_for(&c[0], t.worker);
	s[1] = success_for(&c[1], t.worker);
	s[1].completion_tokens = INT64_C(5000000000);
	err = aif_queue_succeed(g.t.db, s, 2);
	if (err != AIF_OK || s[0].committed != 1)
		fail_msg("succeed returned \"%s\", job with sane usage committed=%d",
		    aif_strerror(err), s[0].committed);
	assert_job_str(s[0].id, "state", "succeeded");
}

/* The worker whose lease expired finishes late, after the job was reclaimed: its
 * result must be dropped; the new holder's result wins. */
static void
late_success_after_reclaim_is_fenced_off(void **state)
{
	struct tjob t;
	struct aif_claimed *first, *second;
	struct aif_job_success s_old, s_new;
	uint64_t w2 = new_worker();
	size_t n = 0, reaped = 0;

	(void)state;
	first = tjob_start(&t);
	expire_lease(first->id);
	assert_int_equal(aif_queue_reap(g.t.db, NULL, 256, &reaped), AIF_OK);
	second = claim(t.model, w2, 1, 1, &n);
	assert_int_equal(n, 1);
	assert_int_equal(second[0].lease_token, first->lease_token + 1);
	s_old = succeed(first, t.worker);
	assert_int_equal(s_old.committed, 0);
	assert_int_equal(count_usage(first->id), 0);
	s_new = succeed(&second[0], w2);
	assert_int_equal(s_new.committed, 1);
	assert_int_equal(count_usage(first->id), 1);
}

/* ------------------------------------------------------------------ cancel */

static void
cancel_queued_job_makes_it_final_409_with_event(void **state)
{
	char model[64];
	uint64_t id;

	(void)state;
	NEED_DB();
	new_model(model, sizeof(model));
	id = enqueue_simple(model, 4);
	assert_int_equal(aif_queue_cancel(g.t.db, id, 0, "client cancelled"), AIF_OK);
	assert_job_str(id, "state", "cancelled");
	assert_int_equal(job_i64(id, "http_status"), 409);
	assert_int_equal(job_i64(id, "finished_at IS NOT NULL"), 1);
	assert_int_equal(job_i64(id, "error_type IS NOT NULL"), 1);
	assert_int_equal(count_events_detail(id, "cancelled", "client cancelled"), 1);
}

static void
cancelled_job_is_not_claimed(void **state)
{
	char model[64];
	struct aif_claimed *c;
	uint64_t id;
	size_t n = 99;

	(void)state;
	NEED_DB();
	new_model(model, sizeof(model));
	id = enqueue_simple(model, 4);
	assert_int_equal(aif_queue_cancel(g.t.db, id, 0, "client cancelled"), AIF_OK);
	c = claim(model, new_worker(), 4, 4, &n);
	assert_null(c);
	assert_int_equal(n, 0);
}

static void
cancel_running_job_under_its_lease_token(void **state)
{
	struct tjob t;
	struct aif_claimed *c;

	(void)state;
	c = tjob_start(&t);
	assert_int_equal(aif_queue_cancel(g.t.db, c->id, c->lease_token, "stream closed"),
	    AIF_OK);
	assert_job_str(c->id, "state", "cancelled");
	assert_no_lease(c->id);
}

static void
cancel_running_job_with_token_zero_takes_any_lease(void **state)
{
	struct tjob t;
	struct aif_claimed *c;

	(void)state;
	c = tjob_start(&t);
	assert_int_equal(aif_queue_cancel(g.t.db, c->id, 0, "admin"), AIF_OK);
	assert_job_str(c->id, "state", "cancelled");
}

static void
cancel_running_job_with_stale_token_is_notfound(void **state)
{
	struct tjob t;
	struct aif_claimed *c;

	(void)state;
	c = tjob_start(&t);
	assert_int_equal(aif_queue_cancel(g.t.db, c->id, c->lease_token + 1, "late"),
	    AIF_NOTFOUND);
	assert_job_str(c->id, "state", "running");
	assert_int_equal(count_events(c->id, "cancelled"), 0);
}

static void
cancel_final_job_is_notfound(void **state)
{
	struct tjob t;
	struct aif_claimed *c;

	(void)state;
	c = tjob_start(&t);
	(void)succeed(c, t.worker);
	assert_int_equal(aif_queue_cancel(g.t.db, c->id, 0, "too late"), AIF_NOTFOUND);
	assert_job_str(c->id, "state", "succeeded");
	assert_int_equal(job_i64(c->id, "http_status"), 200);
	assert_int_equal(count_events(c->id, "cancelled"), 0);
}

static void
success_after_cancel_commits_nothing(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success s;

	(void)state;
	c = tjob_start(&t);
	assert_int_equal(aif_queue_cancel(g.t.db, c->id, c->lease_token, "stream closed"),
	    AIF_OK);
	s = succeed(c, t.worker);
	assert_int_equal(s.committed, 0);
	assert_job_str(c->id, "state", "cancelled");
	assert_int_equal(count_usage(c->id), 0);
}

static void
event_writes_one_row_with_current_attempt(void **state)
{
	struct tjob t;
	struct aif_claimed *c;

	(void)state;
	c = tjob_start(&t);
	assert_int_equal(aif_queue_event(g.t.db, c->id, "client_disconnected", "sync wait"),
	    AIF_OK);
	assert_int_equal(count_events_detail(c->id, "client_disconnected", "sync wait"), 1);
	assert_int_equal(event_attempt(c->id, "client_disconnected"), 1);
	assert_job_str(c->id, "state", "running");
}

/* ------------------------------------------------------------------ leases */

static void
extend_leases_pushes_lease_of_own_running_jobs(void **state)
{
	struct tjob t;
	struct aif_claimed *mine, *theirs;

	(void)state;
	mine = tjob_start(&t);
	theirs = enqueue_and_claim(&t.job, new_worker());
	/* the other worker's job named by mistake: still not extended (not t.worker's) */
	uint64_t ids[] = { mine->id, theirs->id };
	assert_int_equal(aif_queue_extend_leases(g.t.db, t.worker, ids, 2, 600), AIF_OK);
	assert_int_equal(job_i64(mine->id, "lease_until > NOW(6) + INTERVAL 500 SECOND"), 1);
	assert_int_equal(job_i64(theirs->id, "lease_until < NOW(6) + INTERVAL 60 SECOND"),
	    1);
}

/* A job the worker still has running in the database but whose call it no longer
 * holds (its commit failed) is not renewed: the reaper takes it back. */
static void
extend_leases_renews_only_the_jobs_named(void **state)
{
	struct tjob t;
	struct aif_claimed *held, *dropped;

	(void)state;
	held = tjob_start(&t);
	dropped = enqueue_and_claim(&t.job, t.worker);
	assert_int_equal(aif_queue_extend_leases(g.t.db, t.worker, &held->id, 1, 600),
	    AIF_OK);
	assert_int_equal(job_i64(held->id, "lease_until > NOW(6) + INTERVAL 500 SECOND"), 1);
	assert_int_equal(job_i64(dropped->id, "lease_until < NOW(6) + INTERVAL 60 SECOND"),
	    1);
}

static void
release_requeues_running_jobs_without_counting_the_attempt(void **state)
{
	struct tjob t;
	struct aif_claimed *c, *again;
	size_t released = 0;

	(void)state;
	c = tjob_start_two(&t);
	assert_int_equal(aif_queue_release(g.t.db, t.worker, &released), AIF_OK);
	assert_int_equal(released, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_job_str(c[i].id, "state", "queued");
		assert_int_equal(job_i64(c[i].id, "attempts"), 0);
		assert_no_lease(c[i].id);
		assert_int_equal(count_events(c[i].id, "released"), 1);
	}
	/* claimed again: attempt 1 again, but a new fencing token */
	again = claim(t.model, t.worker, 1, 1, &released);
	assert_int_equal(released, 1);
	assert_int_equal(again[0].attempt, 1);
	assert_int_equal(again[0].lease_token, 2);
}

/* The first-attempt success path writes no job_events row: the job row stands for
 * enqueued, claimed and succeeded, and job_timeline renders them with the worker and
 * the replica. A claim after a release is no first claim: it writes its row, and so
 * does the success that follows it. */
static void
timeline_of_the_common_path_is_the_job_row(void **state)
{
	struct tjob t, t2;
	struct aif_claimed *c, *again;
	size_t n = 0;

	(void)state;
	c = tjob_start(&t);
	assert_int_equal(c->first_claim, 1);
	(void)succeed(c, t.worker);
	assert_int_equal(query_i64("SELECT COUNT(*) FROM job_events WHERE job_id = ?", c->id,
	    NULL), 0);
	assert_int_equal(query_i64("SELECT COUNT(*) FROM job_timeline WHERE job_id = ?", c->id,
	    NULL), 3);
	assert_int_equal(count_events(c->id, "enqueued"), 1);
	assert_int_equal(count_events(c->id, "claimed"), 1);
	assert_int_equal(count_events(c->id, "succeeded"), 1);
	assert_int_equal(query_i64("SELECT worker_id FROM job_timeline WHERE job_id = ?"
	    " AND event = 'succeeded'", c->id, NULL), (int64_t)t.worker);
	assert_int_equal(query_i64("SELECT COUNT(*) FROM job_timeline WHERE job_id = ?"
	    " AND event = 'succeeded' AND replica = 'http://127.0.0.1:9101'", c->id, NULL), 1);
	/* in order: enqueued, claimed, succeeded */
	assert_int_equal(query_i64("SELECT GROUP_CONCAT(event ORDER BY at, seq) ="
	    " 'enqueued,claimed,succeeded' FROM job_timeline WHERE job_id = ?", c->id, NULL), 1);

	/* released, claimed again (attempt 1 again), succeeded: two claims in the timeline,
	   the second one a row; the first one names its worker (the release's) */
	c = tjob_start(&t2);
	assert_int_equal(aif_queue_release(g.t.db, t2.worker, &n), AIF_OK);
	again = claim(t2.model, t2.worker, 1, 1, &n);
	assert_int_equal(n, 1);
	assert_int_equal(again[0].first_claim, 0);
	(void)succeed(&again[0], t2.worker);
	assert_int_equal(count_events(c->id, "claimed"), 2);
	assert_int_equal(query_i64("SELECT COUNT(*) FROM job_events WHERE job_id = ?"
	    " AND event IN ('claimed', 'released', 'succeeded')", c->id, NULL), 3);
	assert_int_equal(count_events(c->id, "succeeded"), 1);
	assert_int_equal(query_i64("SELECT COUNT(*) FROM job_timeline WHERE job_id = ?"
	    " AND event = 'claimed' AND worker_id IS NULL", c->id, NULL), 0);
}

static void
release_leaves_other_workers_jobs(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	uint64_t other = new_worker();
	size_t released = 99;

	(void)state;
	c = tjob_start(&t);
	assert_int_equal(aif_queue_release(g.t.db, other, &released), AIF_OK);
	assert_int_equal(released, 0);
	assert_job_str(c->id, "state", "running");
	assert_int_equal(count_events(c->id, "released"), 0);
}

static void
reap_requeues_expired_job_with_attempts_left(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	size_t reaped = 0;

	(void)state;
	c = tjob_start(&t);
	expire_lease(c->id);
	assert_int_equal(aif_queue_reap(g.t.db, NULL, 256, &reaped), AIF_OK);
	assert_job_str(c->id, "state", "queued");
	assert_int_equal(job_i64(c->id, "attempts"), 1);
	assert_no_lease(c->id);
	assert_job_str(c->id, "finished_at", "<NULL>");
	assert_int_equal(count_events(c->id, "lease_expired"), 1);
	assert_int_equal(count_events_detail(c->id, "lease_expired", "requeued"), 1);
}

static void
reap_fails_expired_job_out_of_attempts(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	size_t reaped = 0;

	(void)state;
	tjob_init(&t);
	t.job.max_attempts = 1;
	c = enqueue_and_claim(&t.job, t.worker);
	expire_lease(c->id);
	assert_int_equal(aif_queue_reap(g.t.db, NULL, 256, &reaped), AIF_OK);
	assert_job_str(c->id, "state", "failed");
	assert_int_equal(job_i64(c->id, "http_status"), 503);
	assert_job_str(c->id, "error_type", "server_error");
	assert_job_str(c->id, "error_code", "lease_expired");
	assert_int_equal(job_i64(c->id, "finished_at IS NOT NULL"), 1);
	assert_job_str(c->id, "worker_id", "<NULL>");
	assert_int_equal(count_events_detail(c->id, "lease_expired", "out of attempts"), 1);
}

static void
reap_leaves_live_leases(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	size_t reaped = 0;

	(void)state;
	c = tjob_start(&t);
	assert_int_equal(aif_queue_reap(g.t.db, NULL, 256, &reaped), AIF_OK);
	assert_job_str(c->id, "state", "running");
	assert_int_equal(count_events(c->id, "lease_expired"), 0);
}

/* ------------------------------------------------------------------ views */

static void
final_views_return_only_final_jobs(void **state)
{
	struct tjob t;
	struct aif_claimed *c_ok, *c_fail, *c_run;
	struct aif_job_view *v = NULL;
	uint64_t ids[4];
	size_t nv = 99;

	(void)state;
	tjob_init(&t);
	c_ok = enqueue_and_claim(&t.job, t.worker);
	c_fail = enqueue_and_claim(&t.job, t.worker);
	c_run = enqueue_and_claim(&t.job, t.worker);
	ids[0] = c_ok->id;
	ids[1] = c_fail->id;
	ids[2] = c_run->id;
	ids[3] = enqueue(&t.job);			/* still queued */
	(void)succeed(c_ok, t.worker);
	fail_job(c_fail, t.worker, 0, 0);

	assert_int_equal(aif_jobs_final_views(g.t.db, ids, 4, &v, &nv), AIF_OK);
	assert_int_equal(nv, 2);
	for (size_t i = 0; i < nv; i++) {
		if (v[i].id == c_ok->id) {
			assert_string_equal(v[i].state, "succeeded");
			assert_int_equal(v[i].http_status, 200);
			assert_int_equal(v[i].response_len, (int64_t)strlen(RESP_BODY));
			assert_response(v[i].id, RESP_BODY);
			/* a small answer comes with its view */
			assert_non_null(v[i].response_inline);
			assert_string_equal(v[i].response_inline, RESP_BODY);
			assert_string_equal(v[i].public_id, c_ok->public_id);
		} else if (v[i].id == c_fail->id) {
			assert_string_equal(v[i].state, "failed");
			assert_int_equal(v[i].http_status, 400);
			assert_int_equal(v[i].response_len, -1);
			assert_null(v[i].response_inline);
			assert_string_equal(v[i].error_type, "invalid_request_error");
			assert_string_equal(v[i].error_code, "context_length_exceeded");
			assert_string_equal(v[i].error_message,
			    "The engine rejected the request: too long");
		} else {
			fail_msg("job %" PRIu64 " is not final", v[i].id);
		}
		assert_true(v[i].finished_at > 0);
	}
	aif_jobs_views_free(v, nv);
}

static void
final_views_of_no_final_job_is_empty(void **state)
{
	char model[64];
	struct aif_job_view *v = (struct aif_job_view *)1;
	uint64_t id;
	size_t nv = 99;

	(void)state;
	NEED_DB();
	new_model(model, sizeof(model));
	id = enqueue_simple(model, 4);
	assert_int_equal(aif_jobs_final_views(g.t.db, &id, 1, &v, &nv), AIF_OK);
	assert_null(v);
	assert_int_equal(nv, 0);
	assert_int_equal(aif_jobs_final_views(g.t.db, &id, 0, &v, &nv), AIF_OK);
	assert_null(v);
	assert_int_equal(nv, 0);
}

static void
final_views_of_too_many_ids_is_toobig(void **state)
{
	uint64_t ids[257];
	struct aif_job_view *v = NULL;
	size_t nv = 0;

	(void)state;
	NEED_DB();
	for (size_t i = 0; i < 257; i++)
		ids[i] = i + 1;
	assert_int_equal(aif_jobs_final_views(g.t.db, ids, 256, &v, &nv), AIF_OK);
	aif_jobs_views_free(v, nv);
	assert_int_equal(aif_jobs_final_views(g.t.db, ids, 257, &v, &nv), AIF_TOOBIG);
	assert_null(v);
}

static void
view_public_shows_the_owners_job(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_view *v = NULL;
	int64_t now = (int64_t)time(NULL);

	(void)state;
	tjob_init(&t);
	t.job.priority = 6;
	c = enqueue_and_claim(&t.job, t.worker);
	(void)succeed(c, t.worker);
	assert_int_equal(aif_jobs_view_public(g.t.db, c->public_id, 7001, &v), AIF_OK);
	assert_non_null(v);
	assert_int_equal(v->id, c->id);
	assert_string_equal(v->public_id, c->public_id);
	assert_int_equal(v->api_key_id, 7001);
	assert_string_equal(v->model, t.model);
	assert_int_equal(v->kind, AIF_KIND_CHAT);
	assert_string_equal(v->state, "succeeded");
	assert_int_equal(v->priority, 6);
	assert_int_equal(v->attempts, 1);
	assert_int_equal(v->http_status, 200);
	assert_int_equal(v->response_len, (int64_t)strlen(RESP_BODY));
	assert_response(v->id, RESP_BODY);
	/* unix seconds, UTC: within a minute of this process's clock */
	assert_true(v->created_at > now - 60 && v->created_at < now + 60);
	assert_true(v->started_at >= v->created_at && v->started_at < now + 60);
	assert_true(v->finished_at >= v->started_at && v->finished_at < now + 60);
	aif_jobs_views_free(v, 1);
}

static void
view_public_shows_queued_job_without_times(void **state)
{
	struct tjob t;
	char pid[AIF_JOB_ID_LEN + 1];
	struct aif_job_view *v = NULL;
	uint64_t id;

	(void)state;
	tjob_init(&t);
	assert_int_equal(aif_queue_enqueue(g.t.db, &t.job, &id, pid), AIF_OK);
	assert_int_equal(aif_jobs_view_public(g.t.db, pid, 7001, &v), AIF_OK);
	assert_string_equal(v->state, "queued");
	assert_int_equal(v->http_status, 0);
	assert_int_equal(v->started_at, 0);
	assert_int_equal(v->finished_at, 0);
	assert_int_equal(v->response_len, -1);
	aif_jobs_views_free(v, 1);
}

static void
view_public_hides_job_of_another_api_key(void **state)
{
	struct tjob t;
	char pid[AIF_JOB_ID_LEN + 1];
	struct aif_job_view *v = (struct aif_job_view *)1;
	uint64_t id;

	(void)state;
	tjob_init(&t);
	assert_int_equal(aif_queue_enqueue(g.t.db, &t.job, &id, pid), AIF_OK);
	assert_int_equal(aif_jobs_view_public(g.t.db, pid, 7002, &v), AIF_NOTFOUND);
	assert_null(v);
}

static void
view_public_of_unknown_id_is_notfound(void **state)
{
	struct aif_job_view *v = (struct aif_job_view *)1;

	(void)state;
	NEED_DB();
	assert_int_equal(aif_jobs_view_public(g.t.db, "job_000000000000000000000000", 7001,
	    &v), AIF_NOTFOUND);
	assert_null(v);
}

/* ------------------------------------------------------------------ no database */

static void
final_states_are_succeeded_failed_cancelled(void **state)
{
	static const struct {
		const char	*state;
		int		 final;
	} cases[] = {
		{ "succeeded", 1 }, { "failed", 1 }, { "cancelled", 1 },
		{ "queued", 0 }, { "running", 0 }, { "compensating", 0 }, { "", 0 },
		{ "Succeeded", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (aif_jobs_state_final(cases[i].state) != cases[i].final)
			fail_msg("state \"%s\"", cases[i].state);
}

/* ------------------------------------------------------------------ issue 11 */

/* One job whose usage row the database refuses (a key id out of BIGINT UNSIGNED's
 * range is impossible from C; an out-of-range cost is: the column is BIGINT) fails
 * alone: the others of its batch are committed. */
static void
succeed_isolates_the_job_the_database_refuses(void **state)
{
	struct tjob t;
	struct aif_claimed *a, *b, *c;
	struct aif_job_success s[3];
	char tenant[200];

	(void)state;
	tjob_init(&t);
	a = enqueue_and_claim(&t.job, t.worker);
	b = enqueue_and_claim(&t.job, t.worker);
	c = enqueue_and_claim(&t.job, t.worker);
	s[0] = success_for(a, t.worker);
	s[1] = success_for(b, t.worker);
	s[2] = success_for(c, t.worker);
	/* usage.tenant is VARCHAR(128): strict mode refuses 150 characters */
	memset(tenant, 'x', 150);
	tenant[150] = '\0';
	s[1].tenant = tenant;
	assert_int_equal(aif_queue_succeed(g.t.db, s, 3), AIF_OK);
	assert_int_equal(s[0].committed, 1);
	assert_int_equal(s[0].unstorable, 0);
	assert_int_equal(s[1].committed, 0);
	assert_int_equal(s[1].unstorable, 1);
	assert_int_equal(s[2].committed, 1);
	assert_job_str(a->id, "state", "succeeded");
	assert_job_str(b->id, "state", "running");	/* the caller fails it */
	assert_job_str(c->id, "state", "succeeded");
	assert_int_equal(count_usage(a->id), 1);
	assert_int_equal(count_usage(b->id), 0);
	assert_int_equal(count_usage(c->id), 1);
}

/* A cost over the hold (a price raised since admission) captures the hold, bills the
 * hold in the usage row and records the excess as an event. */
static void
succeed_never_bills_more_than_the_hold(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success s;

	(void)state;
	tjob_init(&t);
	t.job.nbudget = 1;
	snprintf(t.job.budget[0].subject, sizeof(t.job.budget[0].subject), "key:utest-%s",
	    t.model);
	t.job.budget[0].limit_micros = 1000;
	t.job.budget_hold_micros = 100;
	c = enqueue_and_claim(&t.job, t.worker);
	s = success_for(c, t.worker);
	s.budget_hold_micros = c->budget_hold_micros;
	s.cost_micros = 81936;
	assert_int_equal(aif_queue_succeed(g.t.db, &s, 1), AIF_OK);
	assert_int_equal(s.committed, 1);
	assert_int_equal(usage_i64(c->id, "cost_micros"), 100);
	{
		struct aif_dbp p[] = { AIF_P_STR(t.job.budget[0].subject) };
		struct aif_dbrows *rows = NULL;
		assert_int_equal(aif_db_query(g.t.db, "SELECT spent_micros FROM budget_balances"
		    " WHERE subject = ?", p, 1, &rows), AIF_OK);
		assert_int_equal(rows->nrows, 1);
		assert_string_equal(aif_dbrows_get(rows, 0, 0), "100");	/* not 81936 */
		aif_dbrows_free(rows);
	}
	assert_int_equal(count_events(c->id, "budget_overage"), 1);
}

/* A job its caller stopped waiting for before it was claimed is not run: cancelled
 * (request_expired), its hold released, no usage row, not handed to the worker. */
static void
claim_ends_jobs_whose_caller_stopped_waiting(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	uint64_t expired, fresh;
	size_t n = 0;

	(void)state;
	tjob_init(&t);
	t.job.wait_ms = 1;
	expired = enqueue(&t.job);
	t.job.wait_ms = 600000;
	fresh = enqueue(&t.job);
	usleep(20000);		/* the first one's deadline passes */
	c = claim(t.model, t.worker, 4, 4, &n);
	assert_int_equal(n, 1);
	assert_int_equal(c->id, fresh);
	assert_job_str(expired, "state", "cancelled");
	assert_job_str(expired, "error_code", "request_expired");
	assert_int_equal(count_events(expired, "expired"), 1);
	assert_int_equal(count_usage(expired), 0);
}

/* Queued jobs of a model no longer configured fail (model_not_found) after the grace;
 * jobs of configured models are untouched. */
static void
jobs_of_removed_models_fail(void **state)
{
	char gone[64], kept[64];
	struct aif_job_new j;
	const char *models[1];
	uint64_t a, b;
	size_t failed = 0;

	(void)state;
	NEED_DB();
	new_model(gone, sizeof(gone));
	new_model(kept, sizeof(kept));
	j = job_for(gone);
	a = enqueue(&j);
	j = job_for(kept);
	b = enqueue(&j);
	models[0] = kept;
	/* within the grace nothing happens */
	assert_int_equal(aif_queue_fail_unconfigured(g.t.db, models, 1, 3600, 10, &failed),
	    AIF_OK);
	assert_job_str(a, "state", "queued");
	assert_int_equal(aif_queue_fail_unconfigured(g.t.db, models, 1, 0, 100000, &failed),
	    AIF_OK);
	assert_true(failed >= 1);
	assert_job_str(a, "state", "failed");
	assert_job_str(a, "error_code", "model_not_found");
	assert_job_str(b, "state", "queued");
}

/* Zero retention: the answer is not stored and the request body is emptied at the end;
 * counts and usage stay. */
static void
zero_retention_keeps_no_body(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success s;

	(void)state;
	tjob_init(&t);
	t.job.zero_retention = 1;
	c = enqueue_and_claim(&t.job, t.worker);
	assert_int_equal(c->zero_retention, 1);
	assert_int_equal(job_i64(c->id, "LENGTH(request_body) > 0"), 1);	/* until it ends */
	s = success_for(c, t.worker);
	s.zero_retention = c->zero_retention;
	assert_int_equal(aif_queue_succeed(g.t.db, &s, 1), AIF_OK);
	assert_job_str(c->id, "state", "succeeded");
	assert_job_str(c->id, "response_body", "<NULL>");
	assert_job_str(c->id, "request_body", "");
	assert_int_equal(count_usage(c->id), 1);
}

/* A stream cancelled because its client left is billed for what it used. */
static void
cancel_billed_writes_usage(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success u;

	(void)state;
	tjob_init(&t);
	t.job.stream = 1;
	c = enqueue_and_claim(&t.job, t.worker);
	u = success_for(c, t.worker);
	u.completion_tokens = 95;
	assert_int_equal(aif_queue_cancel_billed(g.t.db, &u, "client left"), AIF_OK);
	assert_job_str(c->id, "state", "cancelled");
	assert_int_equal(count_usage(c->id), 1);
	assert_int_equal(usage_i64(c->id, "completion_tokens"), 95);
	/* the lease is checked: a second try finds nothing */
	assert_int_equal(aif_queue_cancel_billed(g.t.db, &u, "again"), AIF_NOTFOUND);
}

/* Queued jobs are counted per tenant, or per key for keys without one. */
static void
count_queued_per_tenant_and_key(void **state)
{
	struct tjob t;
	char tenant[80];
	int64_t n = -1;

	(void)state;
	tjob_init(&t);
	snprintf(tenant, sizeof(tenant), "t-%s", t.model);
	t.job.tenant = tenant;
	(void)enqueue(&t.job);
	(void)enqueue(&t.job);
	assert_int_equal(aif_jobs_count_queued(g.t.db, tenant, 0, &n), AIF_OK);
	assert_int_equal(n, 2);
	assert_int_equal(aif_jobs_count_queued(g.t.db, "t-nobody-at-all", 0, &n), AIF_OK);
	assert_int_equal(n, 0);
}

/* The bounds and the relay secret travel with the job to its claim. */
static void
claim_carries_bounds_and_relay_secret(void **state)
{
	static const unsigned char secret[AIF_RELAY_SECRET_BYTES] = "abcdefghijklmnop";
	struct tjob t;
	struct aif_claimed *c;

	(void)state;
	tjob_init(&t);
	t.job.prompt_tokens_bound = 1234;
	t.job.completion_tokens_bound = 5678;
	t.job.relay_secret = secret;
	c = enqueue_and_claim(&t.job, t.worker);
	assert_int_equal(c->prompt_tokens_bound, 1234);
	assert_int_equal(c->completion_tokens_bound, 5678);
	assert_int_equal(c->prompt_tokens_estimate, 12);
	assert_int_equal(c->has_relay_secret, 1);
	assert_memory_equal(c->relay_secret, secret, AIF_RELAY_SECRET_BYTES);
}

/* ------------------------------------------------------------------ answers in pieces */

struct pieces {
	char	*buf;
	size_t	 len, cap, n;
};

static int
add_piece(void *arg, const char *piece, size_t len)
{
	struct pieces *p = arg;

	assert_true(p->len + len <= p->cap);
	memcpy(p->buf + p->len, piece, len);
	p->len += len;
	p->n++;
	return 0;
}

/* Stores `body` as the answer of a job of its own, reads it back with
 * aif_jobs_response_each: the bytes are the same, in `want_pieces` pieces. */
static void
assert_read_in_pieces(const char *body, size_t want_pieces)
{
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success s;
	struct pieces p = { 0 };

	c = tjob_start(&t);
	s = success_for(c, t.worker);
	s.response_body = body;
	assert_int_equal(aif_queue_succeed(g.t.db, &s, 1), AIF_OK);
	assert_int_equal(s.committed, 1);
	p.cap = strlen(body) + 1;
	assert_non_null(p.buf = malloc(p.cap));
	assert_int_equal(aif_jobs_response_each(g.t.db, c->id, add_piece, &p), AIF_OK);
	assert_int_equal(p.len, strlen(body));
	assert_memory_equal(p.buf, body, p.len);
	assert_int_equal(p.n, want_pieces);
	free(p.buf);
	/* too big to come with the view: it is read in pieces */
	{
		struct aif_job_view *v = NULL;
		size_t nv = 0;
		assert_int_equal(aif_jobs_final_views(g.t.db, &c->id, 1, &v, &nv), AIF_OK);
		assert_int_equal(nv, 1);
		assert_null(v[0].response_inline);
		assert_int_equal(v[0].response_len, (int64_t)strlen(body));
		aif_jobs_views_free(v, nv);
	}
}

/* An answer of exactly two pieces' characters: both pieces, nothing lost at the end. */
static void
answer_of_exact_pieces_reads_back_whole(void **state)
{
	size_t n = 2 * AIF_JOBS_PIECE_CHARS;
	char *body = malloc(n + 1);

	(void)state;
	assert_non_null(body);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	body[n] = '\0';
	assert_read_in_pieces(body, 2);
	free(body);
}

/* Two-byte characters: a last piece of fewer characters than a piece may still hold
 * more bytes than a piece has characters; it is read whole all the same. */
static void
answer_of_wide_characters_reads_back_whole(void **state)
{
	size_t chars = AIF_JOBS_PIECE_CHARS + AIF_JOBS_PIECE_CHARS / 2 + 7;
	char *body = malloc(2 * chars + 1);

	(void)state;
	assert_non_null(body);
	for (size_t i = 0; i < chars; i++) {
		body[2 * i] = (char)0xc3;		/* U+00E9 */
		body[2 * i + 1] = (char)0xa9;
	}
	body[2 * chars] = '\0';
	assert_read_in_pieces(body, 2);
	free(body);
}

/* ------------------------------------------------------------------ budget holds */

/* tjob_init with a budget hold of 100 on the test's own subject (the budget of 1000
 * micros named in t->hold); the job is enqueued and claimed. */
static struct aif_claimed *
tjob_start_held(struct tjob *t, char *subject, size_t cap)
{
	tjob_init(t);
	t->job.nbudget = 1;
	snprintf(t->job.budget[0].subject, sizeof(t->job.budget[0].subject),
	    "key:utest-%s", t->model);
	aif_strlcpy(subject, t->job.budget[0].subject, cap);
	t->job.budget[0].limit_micros = 1000;
	t->job.budget_hold_micros = 100;
	return enqueue_and_claim(&t->job, t->worker);
}

/* The held and spent micros of a budget subject. */
static void
assert_budget(const char *subject, int64_t want_held, int64_t want_spent)
{
	int64_t h = testdb_i64_str(&g.t, "SELECT SUM(held_micros) FROM budget_balances"
	    " WHERE subject = ?", subject);
	int64_t sp = testdb_i64_str(&g.t, "SELECT SUM(spent_micros) FROM budget_balances"
	    " WHERE subject = ?", subject);

	if (h != want_held || sp != want_spent)
		fail_msg("%s: held %" PRId64 " spent %" PRId64 ", want %" PRId64 " %" PRId64,
		    subject, h, sp, want_held, want_spent);
}

/* A success captures the hold at the cost, and its row says so. */
static void
success_captures_the_hold(void **state)
{
	char subject[128];
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success s;

	(void)state;
	c = tjob_start_held(&t, subject, sizeof(subject));
	assert_job_str(c->id, "budget_state", "held");
	assert_budget(subject, 100, 0);
	s = success_for(c, t.worker);
	s.budget_hold_micros = c->budget_hold_micros;
	assert_int_equal(aif_queue_succeed(g.t.db, &s, 1), AIF_OK);
	assert_int_equal(s.committed, 1);
	assert_job_str(c->id, "budget_state", "captured");
	assert_budget(subject, 0, 11);
}

/* A final failure releases the hold; a retry keeps it. */
static void
final_failure_releases_the_hold(void **state)
{
	char subject[128];
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_failure f;

	(void)state;
	c = tjob_start_held(&t, subject, sizeof(subject));
	f = failure_for(c, t.worker, 1, 0);
	f.budget_hold_micros = c->budget_hold_micros;
	assert_int_equal(aif_queue_fail(g.t.db, &f), AIF_OK);
	assert_job_str(c->id, "budget_state", "held");
	assert_budget(subject, 100, 0);
	c = claim(t.model, t.worker, 1, 1, &(size_t){ 0 });
	assert_non_null(c);
	f = failure_for(c, t.worker, 0, 0);
	f.budget_hold_micros = c->budget_hold_micros;
	assert_int_equal(aif_queue_fail(g.t.db, &f), AIF_OK);
	assert_job_str(c->id, "state", "failed");
	assert_job_str(c->id, "budget_state", "released");
	assert_budget(subject, 0, 0);
	assert_int_equal(count_events(c->id, "compensation_budget_released"), 1);
}

/* Cancelling a job releases its hold, queued or running. */
static void
cancel_releases_the_hold(void **state)
{
	char subject[128];
	struct tjob t;
	struct aif_claimed *c;

	(void)state;
	c = tjob_start_held(&t, subject, sizeof(subject));
	assert_int_equal(aif_queue_cancel(g.t.db, c->id, 0, "admin"), AIF_OK);
	assert_job_str(c->id, "budget_state", "released");
	assert_budget(subject, 0, 0);
	assert_int_equal(count_events_detail(c->id, "cancelled", "admin"), 1);
	assert_int_equal(event_attempt(c->id, "cancelled"), 1);
}

/* The cancel that tells whom to ring: the doorbell of the worker running the job, none
 * for a queued job. */
static void
cancel_doorbell_names_the_running_worker(void **state)
{
	struct tjob t;
	struct aif_claimed *c;
	uint64_t queued;
	char bell[128] = "x";

	(void)state;
	c = tjob_start(&t);
	{
		struct aif_dbp p[] = { AIF_P_I64(t.worker) };
		assert_int_equal(aif_db_exec(g.t.db, "INSERT INTO workers (id, instance, host,"
		    " pid, doorbell, slots) VALUES (?, 'utest', 'utest', 1, '/run/aif/w.bell',"
		    " 1)", p, 1, NULL, NULL), AIF_OK);
	}
	assert_int_equal(aif_queue_cancel_doorbell(g.t.db, c->id, 0, "admin", bell,
	    sizeof(bell)), AIF_OK);
	assert_string_equal(bell, "/run/aif/w.bell");
	assert_job_str(c->id, "state", "cancelled");
	queued = enqueue_simple(t.model, 4);
	assert_int_equal(aif_queue_cancel_doorbell(g.t.db, queued, 0, "admin", bell,
	    sizeof(bell)), AIF_OK);
	assert_string_equal(bell, "");
	/* a final job: nothing to cancel, nobody to ring */
	aif_strlcpy(bell, "x", sizeof(bell));
	assert_int_equal(aif_queue_cancel_doorbell(g.t.db, c->id, 0, "again", bell,
	    sizeof(bell)), AIF_NOTFOUND);
	assert_string_equal(bell, "");
	exec1("DELETE FROM workers WHERE id = ?", t.worker);
}

/* A job whose caller stopped waiting gives its hold back when a claim ends it. */
static void
expired_job_releases_the_hold(void **state)
{
	char subject[128];
	struct tjob t;
	uint64_t id;
	size_t n = 0;

	(void)state;
	tjob_init(&t);
	t.job.nbudget = 1;
	snprintf(t.job.budget[0].subject, sizeof(t.job.budget[0].subject), "key:utest-%s",
	    t.model);
	aif_strlcpy(subject, t.job.budget[0].subject, sizeof(subject));
	t.job.budget[0].limit_micros = 1000;
	t.job.budget_hold_micros = 100;
	t.job.wait_ms = 1;
	id = enqueue(&t.job);
	assert_budget(subject, 100, 0);
	usleep(20000);
	assert_null(claim(t.model, t.worker, 4, 4, &n));
	assert_int_equal(n, 0);
	assert_job_str(id, "state", "cancelled");
	assert_job_str(id, "budget_state", "released");
	assert_budget(subject, 0, 0);
	assert_int_equal(event_attempt(id, "expired"), 0);
}

/* aif_queue_expire ends a queued job and releases its hold; a second time (or a
 * running job) is AIF_NOTFOUND. */
static void
expire_releases_the_hold_once(void **state)
{
	char subject[128];
	struct tjob t;
	struct aif_claimed *c;
	uint64_t id;

	(void)state;
	c = tjob_start_held(&t, subject, sizeof(subject));
	assert_int_equal(aif_queue_expire(g.t.db, c->id), AIF_NOTFOUND);	/* it runs */
	assert_job_str(c->id, "state", "running");
	id = enqueue(&t.job);
	assert_budget(subject, 200, 0);
	assert_int_equal(aif_queue_expire(g.t.db, id), AIF_OK);
	assert_job_str(id, "state", "cancelled");
	assert_job_str(id, "budget_state", "released");
	assert_budget(subject, 100, 0);
	assert_int_equal(aif_queue_expire(g.t.db, id), AIF_NOTFOUND);
	assert_int_equal(count_events(id, "expired"), 1);
}

/* A job the reaper fails for good gives its hold back; one it requeues keeps it. */
static void
reap_out_of_attempts_releases_the_hold(void **state)
{
	char subject[128];
	struct tjob t;
	struct aif_claimed *c;
	size_t reaped = 0;

	(void)state;
	c = tjob_start_held(&t, subject, sizeof(subject));
	expire_lease(c->id);
	assert_int_equal(aif_queue_reap(g.t.db, NULL, 256, &reaped), AIF_OK);
	assert_job_str(c->id, "state", "queued");
	assert_job_str(c->id, "budget_state", "held");
	assert_budget(subject, 100, 0);
	exec1("UPDATE jobs SET max_attempts = 2 WHERE id = ?", c->id);
	c = claim(t.model, t.worker, 1, 1, &reaped);
	assert_non_null(c);
	expire_lease(c->id);
	assert_int_equal(aif_queue_reap(g.t.db, NULL, 256, &reaped), AIF_OK);
	assert_true(reaped >= 1);
	assert_job_str(c->id, "state", "failed");
	assert_job_str(c->id, "budget_state", "released");
	assert_budget(subject, 0, 0);
}

/* A job of a removed model fails with its hold released, and its event carries the
 * attempts it had (a job that was retried is at attempt 1, not 0). */
static void
removed_model_job_releases_the_hold_at_its_attempt(void **state)
{
	char subject[128], other[64];
	const char *models[1] = { other };
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_failure f;
	size_t failed = 0;

	(void)state;
	c = tjob_start_held(&t, subject, sizeof(subject));
	f = failure_for(c, t.worker, 1, 0);
	f.budget_hold_micros = c->budget_hold_micros;
	assert_int_equal(aif_queue_fail(g.t.db, &f), AIF_OK);	/* back to queued */
	new_model(other, sizeof(other));
	assert_int_equal(aif_queue_fail_unconfigured(g.t.db, models, 1, 0, 100000, &failed),
	    AIF_OK);
	assert_true(failed >= 1);
	assert_job_str(c->id, "state", "failed");
	assert_job_str(c->id, "error_code", "model_not_found");
	assert_job_str(c->id, "budget_state", "released");
	assert_budget(subject, 0, 0);
	assert_int_equal(event_attempt(c->id, "failed"), 1);
}

/* A cancelled stream billed for what it used captures its hold. */
static void
cancel_billed_captures_the_hold(void **state)
{
	char subject[128];
	struct tjob t;
	struct aif_claimed *c;
	struct aif_job_success u;

	(void)state;
	c = tjob_start_held(&t, subject, sizeof(subject));
	u = success_for(c, t.worker);
	u.budget_hold_micros = c->budget_hold_micros;
	assert_int_equal(aif_queue_cancel_billed(g.t.db, &u, "client left"), AIF_OK);
	assert_job_str(c->id, "state", "cancelled");
	assert_job_str(c->id, "budget_state", "captured");
	assert_budget(subject, 0, 11);
	assert_int_equal(usage_i64(c->id, "cost_micros"), 11);
}

/* Two jobs of one key and tenant succeed in one batch: their token charges were
 * estimates, and each TPM subject is corrected by the sum of both jobs' errors. */
static void
succeed_batch_corrects_tpm_by_the_sum_of_its_jobs(void **state)
{
	char tenant[80], key[AIF_GCRA_SUBJECT_MAX], ten[AIF_GCRA_SUBJECT_MAX];
	const char *subjects[2] = { key, ten };
	struct aif_gcra_check chk[2];
	struct aif_job_success s[2];
	struct aif_claimed *c;
	struct tjob t;
	int64_t tat_key, tat_ten;
	size_t n = 0;
	int allowed = 0;

	(void)state;
	tjob_init(&t);
	snprintf(tenant, sizeof(tenant), "t-%s", t.model);
	t.job.tenant = tenant;
	t.job.api_key_id = testdb_id(&g.t);
	t.job.tokens_charged = 40;
	snprintf(key, sizeof(key), "key:%" PRIu64 ":tpm", t.job.api_key_id);
	snprintf(ten, sizeof(ten), "tenant:%s:tpm", tenant);
	for (size_t i = 0; i < 2; i++) {	/* limit 6000: 10 ms a token */
		memset(&chk[i], 0, sizeof(chk[i]));
		aif_strlcpy(chk[i].subject, subjects[i], sizeof(chk[i].subject));
		chk[i].limit = 6000;
		chk[i].cost = 80;
	}
	assert_int_equal(aif_gcra_charge(g.t.db, chk, 2, &allowed), AIF_OK);
	assert_int_equal(allowed, 1);
	tat_key = testdb_i64_str(&g.t, "SELECT tat_us FROM rate_limits WHERE subject = ?",
	    key);
	tat_ten = testdb_i64_str(&g.t, "SELECT tat_us FROM rate_limits WHERE subject = ?",
	    ten);
	enqueue(&t.job);
	enqueue(&t.job);
	c = claim(t.model, t.worker, 2, 2, &n);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < 2; i++) {
		s[i] = success_for(&c[i], t.worker);
		s[i].tokens_charged = c[i].tokens_charged;
		s[i].prompt_tokens = 10;
		s[i].completion_tokens = 5 + 10 * (int64_t)i;	/* 15 and 25 of 40 */
	}
	assert_int_equal(aif_queue_succeed(g.t.db, s, 2), AIF_OK);
	assert_int_equal(s[0].committed + s[1].committed, 2);
	/* (15 - 40) + (25 - 40) = -40 tokens of 10000 us */
	assert_int_equal(testdb_i64_str(&g.t, "SELECT tat_us FROM rate_limits"
	    " WHERE subject = ?", key), tat_key - 40 * 10000);
	assert_int_equal(testdb_i64_str(&g.t, "SELECT tat_us FROM rate_limits"
	    " WHERE subject = ?", ten), tat_ten - 40 * 10000);
	exec1("DELETE FROM rate_limits WHERE subject = CONCAT('key:', ?, ':tpm')",
	    t.job.api_key_id);
}

/* Claims (aif_queue_claim). */
static const struct CMUnitTest claim_tests[] = {
	cmocka_unit_test(claim_returns_job_with_attempt_one_and_next_lease_token),
	cmocka_unit_test(claim_keeps_the_batch_lane_within_its_share),
	cmocka_unit_test(claim_sets_job_running_under_a_lease),
	cmocka_unit_test(claim_writes_claimed_event),
	cmocka_unit_test(claim_asks_one_query_unless_crowded),
	cmocka_unit_test(claim_on_empty_queue_returns_nothing),
	cmocka_unit_test(claimed_job_is_not_claimed_again),
	cmocka_unit_test(claim_order_is_priority_desc_then_id),
	cmocka_unit_test(claim_limit_takes_the_best_jobs),
	cmocka_unit_test(claim_honours_per_model_free),
	cmocka_unit_test(claim_ignores_models_not_asked_for),
	cmocka_unit_test(claim_fills_other_models_room_when_one_model_is_capped),
	cmocka_unit_test(claim_ends_jobs_whose_caller_stopped_waiting),
	cmocka_unit_test(claim_carries_bounds_and_relay_secret),
};

/* Jobs handed to a worker at insert (queue.h, hand-off). */
static const struct CMUnitTest handoff_tests[] = {
	cmocka_unit_test(handed_job_is_written_running_under_the_workers_lease),
	cmocka_unit_test(job_is_not_handed_while_its_model_has_a_runnable_queued_job),
	cmocka_unit_test(bell_job_reads_as_its_row),
	cmocka_unit_test(batch_hands_off_per_model),
	cmocka_unit_test(streamed_step_relays_under_the_runs_model),
	cmocka_unit_test(released_handed_job_is_queued_again_and_claimed_under_a_new_token),
	cmocka_unit_test(handed_job_of_a_dead_worker_is_reaped_like_a_claimed_one),
	cmocka_unit_test(handed_job_of_a_stopped_worker_goes_back),
	cmocka_unit_test(handed_job_given_back_after_its_deadline_still_runs),
};

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(enqueue_stores_queued_job),
		cmocka_unit_test(enqueue_with_a_wait_stores_its_expiry),
		cmocka_unit_test(answer_of_exact_pieces_reads_back_whole),
		cmocka_unit_test(answer_of_wide_characters_reads_back_whole),
		cmocka_unit_test(success_captures_the_hold),
		cmocka_unit_test(succeed_batch_corrects_tpm_by_the_sum_of_its_jobs),
		cmocka_unit_test(final_failure_releases_the_hold),
		cmocka_unit_test(cancel_releases_the_hold),
		cmocka_unit_test(cancel_doorbell_names_the_running_worker),
		cmocka_unit_test(expired_job_releases_the_hold),
		cmocka_unit_test(expire_releases_the_hold_once),
		cmocka_unit_test(reap_out_of_attempts_releases_the_hold),
		cmocka_unit_test(removed_model_job_releases_the_hold_at_its_attempt),
		cmocka_unit_test(cancel_billed_captures_the_hold),
		cmocka_unit_test(enqueue_without_max_tokens_stores_null),
		cmocka_unit_test(enqueue_gives_distinct_ids),
		cmocka_unit_test(enqueue_duplicate_idempotency_key_is_conflict),
		cmocka_unit_test(enqueue_same_idempotency_key_of_another_api_key_is_accepted),
		cmocka_unit_test(timeline_of_the_common_path_is_the_job_row),
		cmocka_unit_test(retry_with_delay_is_not_claimed_before_run_after),
		cmocka_unit_test(retry_without_delay_is_claimed_as_attempt_two),
		cmocka_unit_test(final_failure_sets_failed_with_status_and_error),
		cmocka_unit_test(final_failure_without_code_stores_null),
		cmocka_unit_test(fail_with_stale_lease_token_is_notfound_and_changes_nothing),
		cmocka_unit_test(succeed_commits_response_usage_and_event_together),
		cmocka_unit_test(succeed_with_stale_lease_token_commits_nothing),
		cmocka_unit_test(second_succeed_of_a_job_is_a_noop),
		cmocka_unit_test(succeed_batch_skips_only_the_lost_lease),
		cmocka_unit_test(succeed_on_a_transactions_only_connection),
		cmocka_unit_test(succeed_batch_survives_usage_beyond_column_range),
		cmocka_unit_test(late_success_after_reclaim_is_fenced_off),
		cmocka_unit_test(cancel_queued_job_makes_it_final_409_with_event),
		cmocka_unit_test(cancelled_job_is_not_claimed),
		cmocka_unit_test(cancel_running_job_under_its_lease_token),
		cmocka_unit_test(cancel_running_job_with_token_zero_takes_any_lease),
		cmocka_unit_test(cancel_running_job_with_stale_token_is_notfound),
		cmocka_unit_test(cancel_final_job_is_notfound),
		cmocka_unit_test(success_after_cancel_commits_nothing),
		cmocka_unit_test(event_writes_one_row_with_current_attempt),
		cmocka_unit_test(succeed_isolates_the_job_the_database_refuses),
		cmocka_unit_test(succeed_never_bills_more_than_the_hold),
		cmocka_unit_test(jobs_of_removed_models_fail),
		cmocka_unit_test(zero_retention_keeps_no_body),
		cmocka_unit_test(cancel_billed_writes_usage),
		cmocka_unit_test(count_queued_per_tenant_and_key),
		cmocka_unit_test(extend_leases_pushes_lease_of_own_running_jobs),
		cmocka_unit_test(extend_leases_renews_only_the_jobs_named),
		cmocka_unit_test(release_requeues_running_jobs_without_counting_the_attempt),
		cmocka_unit_test(release_leaves_other_workers_jobs),
		cmocka_unit_test(reap_requeues_expired_job_with_attempts_left),
		cmocka_unit_test(reap_fails_expired_job_out_of_attempts),
		cmocka_unit_test(reap_leaves_live_leases),
		cmocka_unit_test(final_views_return_only_final_jobs),
		cmocka_unit_test(final_views_of_no_final_job_is_empty),
		cmocka_unit_test(final_views_of_too_many_ids_is_toobig),
		cmocka_unit_test(view_public_shows_the_owners_job),
		cmocka_unit_test(view_public_shows_queued_job_without_times),
		cmocka_unit_test(view_public_hides_job_of_another_api_key),
		cmocka_unit_test(view_public_of_unknown_id_is_notfound),
		cmocka_unit_test(final_states_are_succeeded_failed_cancelled),
	};
	if (testdb_check(&g.t, "test_queue") != 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown) +
	    cmocka_run_group_tests_name("claim", claim_tests, group_setup, group_teardown) +
	    cmocka_run_group_tests_name("handoff", handoff_tests, group_setup, group_teardown);
}
