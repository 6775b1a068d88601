/* test_runs.c -- unit tests of core/store/runs.c (the rows of workflow runs) against a
 * real MariaDB (tests/unit/testdb.h: where it comes from, and why `make test` fails
 * without it). A run is a job enqueued with workflow_hash set (kind 'pipeline'); every
 * job of this program has a model (a run: its workflow name) of this run
 * ("utest-<pid>-<random>-<n>") and an api_key_id from testdb_id, so runs of the program
 * never see each other's rows; they are deleted at the end with their steps, signals,
 * compensations, events and usage. aif_flow_claim takes every due run of the database:
 * the tests look for their own runs among what it returns. Runs with cwd tests/unit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "queue.h"
#include "runs.h"
#include "testdb.h"
#include "util.h"

#define RUN_BODY	"{\"surface\":\"responses\",\"input\":\"Hello, <PERSON_1>!\"}"
#define RESP_BODY	"{\"object\":\"response\",\"output\":[]}"
#define CHAT_BODY	"{\"model\":\"utest\",\"messages\":[{\"role\":\"user\"," \
			"\"content\":\"hi\"}]}"
#define CLAIM_LIMIT	64	/* runs one claim() takes at most */

static struct {
	struct testdb		 t;
	struct {
		struct aif_flow_run	*r;
		size_t			 n;
	}			 claims[128];	/* every claim() result */
	size_t			 nclaims;
} g;

/* ------------------------------------------------------------------ helpers */

/* A workflow hash of this run: 64 hex digits, distinct per call. */
static void
new_hash(char *hash)
{
	int n = snprintf(hash, AIF_FLOW_HASH_LEN + 1, "%048x%016" PRIx64, 0u,
	    testdb_id(&g.t));

	assert_int_equal(n, AIF_FLOW_HASH_LEN);
}

/* A job of this run. */
struct tjob {
	uint64_t	 id;
	char		 public_id[AIF_JOB_ID_LEN + 1];
	char		 model[AIF_MODEL_ID_MAX + 1];	/* a run: its workflow name */
	char		 hash[AIF_FLOW_HASH_LEN + 1];	/* a run: its definition */
	uint64_t	 key;				/* api_key_id */
};

static void
exec_id(const char *sql, uint64_t id)
{
	struct aif_dbp p[] = { AIF_P_I64(id) };
	uint64_t affected = 0;

	assert_int_equal(aif_db_exec(g.t.db, sql, p, 1, &affected, NULL), AIF_OK);
	assert_int_equal(affected, 1);
}

/* Enqueues a job of key `key` (a fresh one when 0): a run (kind 'pipeline') when
 * `run`, else a chat job; a child of run `parent` when not 0; with idempotency key
 * `idem` (or NULL). Due at once: run_after a second ago. */
static void
enqueue(struct tjob *j, int run, uint64_t key, uint64_t parent, const char *idem)
{
	struct aif_job_new n = {
		.tenant = "t-utest", .kind = AIF_KIND_CHAT, .priority = 9,
		.max_attempts = 1, .reply_to = "/run/aif/api-1.sock",
		.request_id = "req-utest-runs", .max_tokens = -1,
	};

	TESTDB_NEED(&g.t);
	memset(j, 0, sizeof(*j));
	testdb_name(&g.t, j->model, sizeof(j->model), "", "");
	j->key = key != 0 ? key : testdb_id(&g.t);
	n.api_key_id = j->key;
	n.model = j->model;
	n.idempotency_key = idem;
	if (run) {
		new_hash(j->hash);
		n.workflow_hash = j->hash;
		n.request_body = RUN_BODY;
	} else {
		n.request_body = CHAT_BODY;
	}
	n.request_len = strlen(n.request_body);
	if (parent != 0) {
		n.parent_job_id = parent;
		n.parent_step = "ask";
	}
	assert_int_equal(aif_queue_enqueue(g.t.db, &n, &j->id, j->public_id), AIF_OK);
	assert_true(j->id > 0);
	exec_id("UPDATE jobs SET run_after = NOW(6) - INTERVAL 1 SECOND WHERE id = ?",
	    j->id);
}

static void
enqueue_run(struct tjob *j)
{
	enqueue(j, 1, 0, 0, NULL);
}

/* Claims every due run (at most CLAIM_LIMIT) for worker; the array is freed at the
 * end. */
static struct aif_flow_run *
claim(uint64_t worker, int lease_s, size_t *n)
{
	struct aif_flow_run *r = NULL;

	assert_int_equal(aif_flow_claim(g.t.db, worker, CLAIM_LIMIT, lease_s, &r, n),
	    AIF_OK);
	assert_true(g.nclaims < sizeof(g.claims) / sizeof(g.claims[0]));
	g.claims[g.nclaims].r = r;
	g.claims[g.nclaims++].n = *n;
	return r;
}

/* Run id among n claimed, or NULL. */
static const struct aif_flow_run *
find(const struct aif_flow_run *r, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].id == id)
			return &r[i];
	return NULL;
}

/* Enqueues a run and claims it (lease 30 s): what the runner holds. */
static const struct aif_flow_run *
start_run(struct tjob *j)
{
	const struct aif_flow_run *r;
	struct aif_flow_run *all;
	size_t n = 0;

	enqueue_run(j);
	all = claim(testdb_id(&g.t), 30, &n);
	r = find(all, n, j->id);
	assert_non_null(r);
	return r;
}

/* The first cell of `sql` (parameters: id, then s unless NULL) as a string
 * ("<NULL>" for NULL); fails unless there is exactly one row. */
static void
q_str(const char *sql, uint64_t id, const char *s, char *out, size_t cap)
{
	struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_STR(s) };
	struct aif_dbrows *rows = NULL;

	assert_int_equal(aif_db_query(g.t.db, sql, p, s != NULL ? 2 : 1, &rows), AIF_OK);
	assert_int_equal(rows->nrows, 1);
	aif_strlcpy(out, aif_dbrows_get(rows, 0, 0) != NULL ?
	    aif_dbrows_get(rows, 0, 0) : "<NULL>", cap);
	aif_dbrows_free(rows);
}

/* The first cell of `sql` (as q_str) as an integer; -1 for NULL. */
static int64_t
q_i64(const char *sql, uint64_t id, const char *s)
{
	char buf[64];
	int64_t v = 0;

	q_str(sql, id, s, buf, sizeof(buf));
	if (strcmp(buf, "<NULL>") == 0)
		return -1;
	if (aif_parse_i64(buf, INT64_MIN, INT64_MAX, &v) != 0)
		fail_msg("\"%s\" of %" PRIu64 " is \"%s\", not an integer", sql, id, buf);
	return v;
}

/* Column expression `expr` of job id. */
static void
job_str(uint64_t id, const char *expr, char *out, size_t cap)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "SELECT %s FROM jobs WHERE id = ?", expr);
	q_str(sql, id, NULL, out, cap);
}

static int64_t
job_i64(uint64_t id, const char *expr)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "SELECT %s FROM jobs WHERE id = ?", expr);
	return q_i64(sql, id, NULL);
}

static void
assert_job_str(uint64_t id, const char *expr, const char *want)
{
	char buf[2048];

	job_str(id, expr, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("%s of job %" PRIu64 ": \"%s\", want \"%s\"", expr, id, buf,
		    want);
}

static int64_t
count_events(uint64_t id, const char *event)
{
	return q_i64("SELECT COUNT(*) FROM job_timeline WHERE job_id = ? AND event = ?", id,
	    event);
}

static int64_t
count_steps(uint64_t id)
{
	return q_i64("SELECT COUNT(*) FROM job_steps WHERE job_id = ?", id, NULL);
}

static int64_t
count_signals(uint64_t id)
{
	return q_i64("SELECT COUNT(*) FROM job_signals WHERE job_id = ?", id, NULL);
}

/* A step row to write: name, seq, kind, state; the rest zero. */
static struct aif_flow_step_write
step(const char *name, int seq, const char *kind, const char *state)
{
	struct aif_flow_step_write s = { .name = name, .seq = seq, .kind = kind,
	    .state = state, .max_attempts = 1 };

	return s;
}

/* Releases run r (apply RELEASE) due at wake_ms, waiting for signal `sig` (or none)
 * and, as every run the workers release, for "__cancel". */
static void
release(const struct aif_flow_run *r, int64_t wake_ms, const char *sig)
{
	struct aif_flow_write w = { .next = AIF_FLOW_RELEASE, .wake_at_ms = wake_ms };

	if (sig != NULL)
		w.wait_signals[w.nwait_signals++] = sig;
	w.wait_signals[w.nwait_signals++] = "__cancel";
	assert_int_equal(aif_flow_apply(g.t.db, r, &w), AIF_OK);
	assert_job_str(r->id, "state", "waiting");
	assert_job_str(r->id, "worker_id", "<NULL>");
	assert_job_str(r->id, "lease_until", "<NULL>");
}

/* Whether job id is due: run_after <= NOW(6). */
static int
due_now(uint64_t id)
{
	return (int)job_i64(id, "run_after <= NOW(6)");
}

/* Job id waits: due in an hour. */
static void
not_due(uint64_t id)
{
	exec_id("UPDATE jobs SET run_after = NOW(6) + INTERVAL 1 HOUR WHERE id = ?", id);
}

static void
insert_usage(const struct tjob *j, int64_t prompt, int64_t completion, int64_t cost)
{
	static const char sql[] =
	    "INSERT INTO `usage` (job_id, api_key_id, tenant, model, engine, replica,"
	    " prompt_tokens, completion_tokens, total_tokens, cost_micros, queue_ms,"
	    " engine_ms) VALUES (?, ?, 't-utest', ?, 'vllm', 'http://127.0.0.1:9101',"
	    " ?, ?, ?, ?, 1, 1)";
	struct aif_dbp p[] = { AIF_P_I64(j->id), AIF_P_I64(j->key), AIF_P_STR(j->model),
	    AIF_P_I64(prompt), AIF_P_I64(completion), AIF_P_I64(prompt + completion),
	    AIF_P_I64(cost) };

	assert_int_equal(AIF_DB_EXEC(g.t.db, sql, p, NULL, NULL), AIF_OK);
}

/* ------------------------------------------------------------------ claim */

static void
claim_takes_only_due_pipeline_runs(void **state)
{
	struct tjob run, chat, later;
	const struct aif_flow_run *r;
	uint64_t worker;
	size_t n = 0;
	struct aif_flow_run *all;

	(void)state;
	enqueue_run(&run);
	enqueue(&chat, 0, 0, 0, NULL);
	enqueue_run(&later);
	not_due(later.id);
	assert_int_equal(job_i64(run.id, "lease_token"), 0);
	worker = testdb_id(&g.t);
	all = claim(worker, 30, &n);
	r = find(all, n, run.id);
	assert_non_null(r);
	assert_null(find(all, n, chat.id));
	assert_null(find(all, n, later.id));
	/* what the runner gets */
	assert_string_equal(r->public_id, run.public_id);
	assert_string_equal(r->workflow, run.model);
	assert_string_equal(r->hash, run.hash);
	assert_int_equal(r->api_key_id, run.key);
	assert_string_equal(r->tenant, "t-utest");
	assert_int_equal(r->priority, 9);
	assert_int_equal(r->lease_token, 1);
	assert_string_equal(r->reply_to, "/run/aif/api-1.sock");
	assert_string_equal(r->request_id, "req-utest-runs");
	assert_int_equal(r->has_relay_secret, 0);
	assert_true(r->created_ms > 0);
	assert_non_null(r->request_body);
	assert_string_equal(r->request_body, RUN_BODY);
	/* the row: running under the new token, attempts not counted */
	assert_job_str(run.id, "state", "running");
	assert_int_equal(job_i64(run.id, "lease_token"), 1);
	assert_int_equal(job_i64(run.id, "attempts"), 0);
	assert_int_equal(job_i64(run.id, "worker_id"), (int64_t)worker);
	assert_int_equal(job_i64(run.id, "lease_until > NOW(6)"), 1);
	/* the others are as they were */
	assert_job_str(chat.id, "state", "queued");
	assert_int_equal(job_i64(chat.id, "lease_token"), 0);
	assert_job_str(later.id, "state", "queued");
	assert_int_equal(job_i64(later.id, "lease_token"), 0);
}

static void
claimed_run_is_not_claimed_again(void **state)
{
	struct tjob run;
	size_t n = 0;
	struct aif_flow_run *all;

	(void)state;
	start_run(&run);
	all = claim(testdb_id(&g.t), 30, &n);
	assert_null(find(all, n, run.id));
	assert_int_equal(job_i64(run.id, "lease_token"), 1);
}

/* ------------------------------------------------------------------ apply */

static void
apply_with_the_lease_writes_steps_and_event(void **state)
{
	struct aif_flow_write w = { .next = AIF_FLOW_KEEP, .lease_ms = 60000 };
	const struct aif_flow_run *r;
	struct aif_flow_step *s = NULL;
	struct tjob run, child;
	int64_t wake = aif_wall_ms() + 60000;
	size_t n = 0;

	(void)state;
	r = start_run(&run);
	enqueue(&child, 0, run.key, run.id, NULL);
	/* written out of seq order: read back in seq order */
	w.steps[0] = step("wait", 2, "wait", "waiting");
	w.steps[0].waiting_for = "signal:approve";
	w.steps[0].wake_at_ms = wake;
	w.steps[0].started = 1;
	w.steps[1] = step("route", 1, "branch", "succeeded");
	w.steps[1].attempts = 1;
	w.steps[1].max_attempts = 3;
	w.steps[1].output = "{\"n\":1}";
	w.steps[1].branch_taken = "wait";
	w.steps[1].child_job_id = child.id;
	w.steps[1].started = 1;
	w.steps[1].finished = 1;
	w.nsteps = 2;
	w.events[0].event = "step_succeeded";
	w.events[0].detail = "route";
	w.nevents = 1;
	assert_int_equal(aif_flow_apply(g.t.db, r, &w), AIF_OK);

	assert_int_equal(aif_flow_steps(g.t.db, run.id, &s, &n), AIF_OK);
	assert_int_equal(n, 2);
	assert_string_equal(s[0].name, "route");
	assert_int_equal(s[0].seq, 1);
	assert_string_equal(s[0].kind, "branch");
	assert_string_equal(s[0].state, "succeeded");
	assert_int_equal(s[0].attempts, 1);
	assert_int_equal(s[0].max_attempts, 3);
	assert_non_null(s[0].output);
	assert_string_equal(s[0].output, "{\"n\":1}");
	assert_string_equal(s[0].branch_taken, "wait");
	assert_string_equal(s[0].waiting_for, "");
	assert_int_equal(s[0].child_job_id, child.id);
	assert_string_equal(s[0].child_state, "queued");
	assert_string_equal(s[0].child_public_id, child.public_id);
	assert_true(s[0].started_ms > 0);
	assert_true(s[0].finished_ms > 0);
	assert_string_equal(s[1].name, "wait");
	assert_int_equal(s[1].seq, 2);
	assert_string_equal(s[1].state, "waiting");
	assert_int_equal(s[1].attempts, 0);
	assert_null(s[1].output);
	assert_string_equal(s[1].waiting_for, "signal:approve");
	assert_string_equal(s[1].branch_taken, "");
	assert_int_equal(s[1].wake_at_ms, wake);
	assert_int_equal(s[1].child_job_id, 0);
	assert_string_equal(s[1].child_state, "");
	assert_true(s[1].started_ms > 0);
	assert_int_equal(s[1].finished_ms, 0);
	aif_flow_steps_free(s, n);

	assert_int_equal(count_events(run.id, "step_succeeded"), 1);
	/* KEEP: still running, the lease extended to the new one */
	assert_job_str(run.id, "state", "running");
	assert_int_equal(job_i64(run.id, "lease_until > NOW(6) + INTERVAL 45 SECOND"), 1);
}

static void
apply_with_a_wrong_lease_token_writes_nothing(void **state)
{
	struct aif_flow_write w = { .next = AIF_FLOW_SUCCEED, .response_body = "{}" };
	struct aif_flow_run stale;
	struct tjob run;

	(void)state;
	stale = *start_run(&run);
	stale.request_body = NULL;	/* the claim's array owns it */
	stale.lease_token++;
	w.steps[0] = step("only", 1, "http", "succeeded");
	w.nsteps = 1;
	w.events[0].event = "step_succeeded";
	w.nevents = 1;
	assert_int_equal(aif_flow_apply(g.t.db, &stale, &w), AIF_NOTFOUND);
	assert_int_equal(count_steps(run.id), 0);
	assert_int_equal(count_events(run.id, "step_succeeded"), 0);
	assert_int_equal(count_events(run.id, "succeeded"), 0);
	assert_job_str(run.id, "state", "running");
	assert_job_str(run.id, "response_body", "<NULL>");
}

static void
apply_to_a_released_run_is_notfound(void **state)
{
	struct aif_flow_write w = { .next = AIF_FLOW_KEEP, .lease_ms = 1000 };
	const struct aif_flow_run *r;
	struct tjob run;

	(void)state;
	r = start_run(&run);
	release(r, aif_wall_ms() + 5000, NULL);
	w.steps[0] = step("late", 1, "http", "running");
	w.nsteps = 1;
	assert_int_equal(aif_flow_apply(g.t.db, r, &w), AIF_NOTFOUND);
	assert_int_equal(count_steps(run.id), 0);
	assert_job_str(run.id, "state", "waiting");
}

static void
upsert_keeps_seq_and_started_at(void **state)
{
	struct aif_flow_write w = { .next = AIF_FLOW_KEEP, .lease_ms = 30000 };
	const struct aif_flow_run *r;
	struct aif_flow_step *s = NULL;
	struct tjob run;
	char buf[64];
	size_t n = 0;

	(void)state;
	r = start_run(&run);
	w.steps[0] = step("ask", 1, "model", "running");
	w.steps[0].attempts = 1;
	w.steps[0].started = 1;
	w.nsteps = 1;
	assert_int_equal(aif_flow_apply(g.t.db, r, &w), AIF_OK);
	assert_int_equal(q_i64("SELECT finished_at IS NULL FROM job_steps"
	    " WHERE job_id = ? AND step = 'ask'", run.id, NULL), 1);
	/* a first attempt long ago: an upsert must not move it */
	exec_id("UPDATE job_steps SET started_at = '2020-01-02 03:04:05.000006'"
	    " WHERE job_id = ? AND step = 'ask'", run.id);

	w.steps[0] = step("ask", 7, "model", "succeeded");
	w.steps[0].attempts = 2;
	w.steps[0].output = "{\"answer\":42}";
	w.steps[0].started = 1;
	w.steps[0].finished = 1;
	assert_int_equal(aif_flow_apply(g.t.db, r, &w), AIF_OK);

	assert_int_equal(aif_flow_steps(g.t.db, run.id, &s, &n), AIF_OK);
	assert_int_equal(n, 1);
	assert_int_equal(s[0].seq, 1);
	assert_string_equal(s[0].state, "succeeded");
	assert_int_equal(s[0].attempts, 2);
	assert_non_null(s[0].output);
	assert_string_equal(s[0].output, "{\"answer\":42}");
	assert_true(s[0].finished_ms > 0);
	aif_flow_steps_free(s, n);
	q_str("SELECT started_at FROM job_steps WHERE job_id = ? AND step = 'ask'", run.id,
	    NULL, buf, sizeof(buf));
	assert_string_equal(buf, "2020-01-02 03:04:05.000006");
}

/* ------------------------------------------------------------------ release */

static void
release_requeues_the_run_due_at_its_wake_time(void **state)
{
	const struct aif_flow_run *r;
	struct tjob run;
	int64_t wake = aif_wall_ms() + 5000;

	(void)state;
	r = start_run(&run);
	release(r, wake, NULL);
	assert_int_equal(due_now(run.id), 0);
	assert_int_equal(job_i64(run.id, "run_after > NOW(6)"), 1);
	assert_int_equal(job_i64(run.id, "ROUND(UNIX_TIMESTAMP(run_after) * 1000)"),
	    wake);
	assert_int_equal(job_i64(run.id, "attempts"), 0);
}

static void
release_waits_at_most_the_safety_interval_without_signals(void **state)
{
	const struct aif_flow_run *r;
	struct tjob run;

	(void)state;
	r = start_run(&run);
	release(r, aif_wall_ms() + 3600 * 1000, NULL);
	assert_int_equal(due_now(run.id), 0);
	assert_int_equal(job_i64(run.id, "run_after <= NOW(6) + INTERVAL 11 SECOND"), 1);
}

static void
release_with_an_arrived_signal_is_due_at_once(void **state)
{
	const struct aif_flow_run *r;
	struct tjob run;
	uint64_t job = 0;

	(void)state;
	r = start_run(&run);
	assert_int_equal(aif_flow_signal(g.t.db, run.public_id, run.key, "approve",
	    "{\"ok\":true}", &job), AIF_OK);
	assert_int_equal(job, run.id);
	assert_job_str(run.id, "state", "running");
	release(r, aif_wall_ms() + 3600 * 1000, "approve");
	assert_int_equal(due_now(run.id), 1);
}

static void
release_with_another_signal_waits(void **state)
{
	const struct aif_flow_run *r;
	struct tjob run;
	uint64_t job = 0;

	(void)state;
	r = start_run(&run);
	assert_int_equal(aif_flow_signal(g.t.db, run.public_id, run.key, "reject", "{}",
	    &job), AIF_OK);
	release(r, aif_wall_ms() + 3600 * 1000, "approve");
	assert_int_equal(due_now(run.id), 0);
	/* waiting for a signal, the wake time is kept as it is */
	assert_int_equal(job_i64(run.id, "run_after > NOW(6) + INTERVAL 1800 SECOND"), 1);
}

static void
release_with_a_final_child_of_an_open_step_is_due_at_once(void **state)
{
	struct aif_flow_write w = { .next = AIF_FLOW_KEEP, .lease_ms = 30000 };
	const struct aif_flow_run *r;
	struct tjob run, child;

	(void)state;
	r = start_run(&run);
	enqueue(&child, 0, run.key, run.id, NULL);
	w.steps[0] = step("ask", 1, "model", "running");
	w.steps[0].child_job_id = child.id;
	w.nsteps = 1;
	assert_int_equal(aif_flow_apply(g.t.db, r, &w), AIF_OK);
	exec_id("UPDATE jobs SET state = 'succeeded' WHERE id = ?", child.id);
	release(r, aif_wall_ms() + 5000, NULL);
	assert_int_equal(due_now(run.id), 1);
}

/* ------------------------------------------------------------------ signals */

static void
signal_checks_the_owner(void **state)
{
	struct tjob run;
	uint64_t job = 0;

	(void)state;
	enqueue_run(&run);
	assert_int_equal(aif_flow_signal(g.t.db, run.public_id, run.key + 1000000,
	    "approve", "{}", &job), AIF_NOTFOUND);
	assert_int_equal(job, 0);
	assert_int_equal(count_signals(run.id), 0);
	assert_int_equal(aif_flow_signal(g.t.db, run.public_id, 0, "approve", "{\"by\":0}",
	    &job), AIF_OK);
	assert_int_equal(job, run.id);
	job = 0;
	assert_int_equal(aif_flow_signal(g.t.db, run.public_id, run.key, "approve",
	    "{\"by\":1}", &job), AIF_OK);
	assert_int_equal(job, run.id);
	assert_int_equal(count_signals(run.id), 2);
	assert_int_equal(count_events(run.id, "signal_received"), 2);
	assert_int_equal(q_i64("SELECT COUNT(*) FROM job_events WHERE job_id = ?"
	    " AND event = 'signal_received' AND detail = ?", run.id, "signal approve"),
	    2);
}

static void
signal_wakes_a_waiting_run(void **state)
{
	struct tjob run;
	uint64_t job = 0;

	(void)state;
	enqueue_run(&run);
	not_due(run.id);
	assert_int_equal(due_now(run.id), 0);
	assert_int_equal(aif_flow_signal(g.t.db, run.public_id, run.key, "approve", "{}",
	    &job), AIF_OK);
	assert_int_equal(due_now(run.id), 1);
}

static void
signal_to_a_final_run_is_conflict(void **state)
{
	struct tjob run;
	uint64_t job = 0;

	(void)state;
	enqueue_run(&run);
	exec_id("UPDATE jobs SET state = 'succeeded' WHERE id = ?", run.id);
	assert_int_equal(aif_flow_signal(g.t.db, run.public_id, run.key, "approve", "{}",
	    &job), AIF_CONFLICT);
	assert_int_equal(count_signals(run.id), 0);
	assert_int_equal(count_events(run.id, "signal_received"), 0);
}

static void
signal_past_64_pending_is_toobig(void **state)
{
	struct tjob run;
	uint64_t job = 0;

	(void)state;
	enqueue_run(&run);
	not_due(run.id);
	for (int i = 0; i < 64; i++)
		assert_int_equal(aif_flow_signal(g.t.db, run.public_id, run.key, "tick",
		    "{}", &job), AIF_OK);
	assert_int_equal(aif_flow_signal(g.t.db, run.public_id, run.key, "tick", "{}",
	    &job), AIF_TOOBIG);
	assert_int_equal(count_signals(run.id), 64);
	assert_int_equal(count_events(run.id, "signal_received"), 64);
	/* a consumed one frees room */
	exec_id("UPDATE job_signals SET consumed_at = NOW(6) WHERE job_id = ?"
	    " ORDER BY id LIMIT 1", run.id);
	assert_int_equal(aif_flow_signal(g.t.db, run.public_id, run.key, "tick", "{}",
	    &job), AIF_OK);
	assert_int_equal(count_signals(run.id), 65);
}

static void
signal_to_a_job_that_is_not_a_run_is_notfound(void **state)
{
	struct tjob chat;
	uint64_t job = 0;

	(void)state;
	enqueue(&chat, 0, 0, 0, NULL);
	assert_int_equal(aif_flow_signal(g.t.db, chat.public_id, 0, "approve", "{}", &job),
	    AIF_NOTFOUND);
	assert_int_equal(aif_flow_signal(g.t.db, "job_doesnotexistdoesnotexist00", 0,
	    "approve", "{}", &job), AIF_NOTFOUND);
	assert_int_equal(count_signals(chat.id), 0);
}

static void
consumed_signal_gives_way_to_the_next(void **state)
{
	struct aif_flow_write w = { .next = AIF_FLOW_KEEP, .lease_ms = 30000 };
	const struct aif_flow_run *r;
	struct tjob run;
	uint64_t job = 0, first = 0, second = 0;
	char *payload = NULL;
	char buf[64];

	(void)state;
	r = start_run(&run);
	assert_int_equal(aif_flow_signal_peek(g.t.db, run.id, "approve", &first, &payload),
	    AIF_OK);
	assert_int_equal(first, 0);
	assert_null(payload);
	assert_int_equal(aif_flow_signal(g.t.db, run.public_id, run.key, "approve",
	    "{\"n\":1}", &job), AIF_OK);
	assert_int_equal(aif_flow_signal(g.t.db, run.public_id, run.key, "other",
	    "{\"n\":0}", &job), AIF_OK);
	assert_int_equal(aif_flow_signal(g.t.db, run.public_id, run.key, "approve",
	    "{\"n\":2}", &job), AIF_OK);

	assert_int_equal(aif_flow_signal_peek(g.t.db, run.id, "approve", &first, &payload),
	    AIF_OK);
	assert_true(first > 0);
	assert_non_null(payload);
	assert_string_equal(payload, "{\"n\":1}");
	free(payload);
	payload = NULL;

	w.steps[0] = step("wait", 1, "wait", "succeeded");
	w.steps[0].output = "{\"n\":1}";
	w.steps[0].finished = 1;
	w.nsteps = 1;
	w.consume_signal = first;
	w.consume_step = "wait";
	assert_int_equal(aif_flow_apply(g.t.db, r, &w), AIF_OK);
	q_str("SELECT consumed_step FROM job_signals WHERE id = ?", first, NULL, buf,
	    sizeof(buf));
	assert_string_equal(buf, "wait");
	assert_int_equal(q_i64("SELECT consumed_at IS NOT NULL FROM job_signals"
	    " WHERE id = ?", first, NULL), 1);

	assert_int_equal(aif_flow_signal_peek(g.t.db, run.id, "approve", &second,
	    &payload), AIF_OK);
	assert_true(second > first);
	assert_non_null(payload);
	assert_string_equal(payload, "{\"n\":2}");
	free(payload);
	payload = NULL;

	/* the first again: another runner took it; nothing of this write is kept */
	w.steps[0] = step("wait2", 2, "wait", "succeeded");
	w.events[0].event = "step_succeeded";
	w.nevents = 1;
	assert_int_equal(aif_flow_apply(g.t.db, r, &w), AIF_NOTFOUND);
	assert_int_equal(q_i64("SELECT COUNT(*) FROM job_steps WHERE job_id = ?"
	    " AND step = ?", run.id, "wait2"), 0);
	assert_int_equal(count_events(run.id, "step_succeeded"), 0);
	assert_int_equal(aif_flow_signal_peek(g.t.db, run.id, "approve", &first,
	    &payload), AIF_OK);
	assert_int_equal(first, second);
	free(payload);
}

/* A runner holds the run's row while a signal comes: the signal waits for it and is
 * stored (it used to come back as "the run is final"). */
struct locker { struct aif_db *db; };

static void *
release_later(void *arg)
{
	struct locker *l = arg;

	usleep(700000);
	aif_db_rollback(l->db);
	return NULL;
}

static void
signal_while_the_run_row_is_locked_is_not_final(void **state)
{
	struct aif_db *other = NULL;
	struct aif_dbrows *rows = NULL;
	struct locker l;
	pthread_t th;
	struct tjob run;
	uint64_t job = 0;

	(void)state;
	enqueue_run(&run);
	assert_int_equal(aif_db_open(g.t.cfg, &other), AIF_OK);
	assert_int_equal(aif_db_begin(other), AIF_OK);
	struct aif_dbp p[] = { AIF_P_I64(run.id) };
	assert_int_equal(aif_db_query(other, "SELECT state FROM jobs WHERE id = ? FOR UPDATE",
	    p, 1, &rows), AIF_OK);
	aif_dbrows_free(rows);
	l.db = other;
	assert_int_equal(pthread_create(&th, NULL, release_later, &l), 0);
	assert_int_equal(aif_flow_signal(g.t.db, run.public_id, run.key, "approve", "{}",
	    &job), AIF_OK);
	pthread_join(th, NULL);
	aif_db_close(other);
	assert_int_equal(job, run.id);
	assert_job_str(run.id, "state", "queued");
}

/* ------------------------------------------------------------------ final */

static void
succeed_stores_the_response(void **state)
{
	struct aif_flow_write w = { .next = AIF_FLOW_SUCCEED,
	    .response_body = RESP_BODY };
	const struct aif_flow_run *r;
	struct tjob run;

	(void)state;
	r = start_run(&run);
	assert_int_equal(aif_flow_apply(g.t.db, r, &w), AIF_OK);
	assert_job_str(run.id, "state", "succeeded");
	assert_job_str(run.id, "response_body", RESP_BODY);
	assert_int_equal(job_i64(run.id, "http_status"), 200);
	assert_int_equal(job_i64(run.id, "finished_at IS NOT NULL"), 1);
	assert_job_str(run.id, "worker_id", "<NULL>");
	assert_job_str(run.id, "lease_until", "<NULL>");
	assert_int_equal(count_events(run.id, "succeeded"), 1);
	/* final: the same lease writes no more */
	assert_int_equal(aif_flow_apply(g.t.db, r, &w), AIF_NOTFOUND);
	assert_int_equal(count_events(run.id, "succeeded"), 1);
}

static void
fail_with_compensations_schedules_them_in_order(void **state)
{
	static const struct aif_flow_comp comps[] = {
		{ .name = "refund", .method = "POST", .url = "http://127.0.0.1:9/refund",
		  .body = "{\"order\":1}", .headers = "{\"X-A\":{\"value\":\"1\"}}",
		  .idempotency_key = "idem-refund", .timeout_ms = 2000, .max_attempts = 5,
		  .initial_ms = 100, .backoff_pct = 200, .max_ms = 5000 },
		{ .name = "release", .method = "DELETE",
		  .url = "http://127.0.0.1:9/hold", .idempotency_key = "idem-release",
		  .timeout_ms = 3000, .initial_ms = 50, .backoff_pct = 150,
		  .max_ms = 1000 },
	};
	struct aif_flow_write w = { .next = AIF_FLOW_FAIL, .http_status = 502,
	    .error_type = "server_error", .error_code = "step_failed",
	    .error_message = "step charge failed", .comps = comps, .ncomps = 2 };
	const struct aif_flow_run *r;
	struct tjob run;
	char buf[256];

	(void)state;
	r = start_run(&run);
	assert_int_equal(aif_flow_apply(g.t.db, r, &w), AIF_OK);
	assert_job_str(run.id, "state", "compensating");
	assert_int_equal(job_i64(run.id, "finished_at IS NULL"), 1);
	assert_int_equal(job_i64(run.id, "http_status"), 502);
	assert_job_str(run.id, "error_code", "step_failed");
	assert_int_equal(count_events(run.id, "compensating"), 1);
	assert_int_equal(count_events(run.id, "failed"), 0);
	assert_int_equal(q_i64("SELECT COUNT(*) FROM job_compensations WHERE job_id = ?",
	    run.id, NULL), 2);

#define COMP_SQL(col) "SELECT " col " FROM job_compensations WHERE job_id = ?" \
	" AND step_no = ?"
	q_str(COMP_SQL("CONCAT_WS('|', name, method, url, body_template, timeout_ms,"
	    " max_attempts, initial_interval_ms, backoff_pct, maximum_interval_ms,"
	    " state)"), run.id, "1", buf, sizeof(buf));
	assert_string_equal(buf, "refund|POST|http://127.0.0.1:9/refund|{\"order\":1}|"
	    "2000|5|100|200|5000|pending");
	q_str(COMP_SQL("headers"), run.id, "1", buf, sizeof(buf));
	assert_string_equal(buf, "{\"X-A\":{\"value\":\"1\"}}");
	q_str(COMP_SQL("idempotency_key"), run.id, "1", buf, sizeof(buf));
	assert_string_equal(buf, "idem-refund");
	q_str(COMP_SQL("CONCAT_WS('|', name, method, url, timeout_ms, max_attempts,"
	    " state)"), run.id, "2", buf, sizeof(buf));
	assert_string_equal(buf, "release|DELETE|http://127.0.0.1:9/hold|3000|0|pending");
	q_str(COMP_SQL("body_template"), run.id, "2", buf, sizeof(buf));
	assert_string_equal(buf, "<NULL>");
	q_str(COMP_SQL("headers"), run.id, "2", buf, sizeof(buf));
	assert_string_equal(buf, "<NULL>");
	q_str(COMP_SQL("idempotency_key"), run.id, "2", buf, sizeof(buf));
	assert_string_equal(buf, "idem-release");
#undef COMP_SQL
}

static void
fail_without_compensations_is_final(void **state)
{
	struct aif_flow_write w = { .next = AIF_FLOW_FAIL, .http_status = 504,
	    .error_type = "server_error", .error_code = "step_timeout",
	    .error_message = "step ask timed out" };
	const struct aif_flow_run *r;
	struct tjob run;

	(void)state;
	r = start_run(&run);
	assert_int_equal(aif_flow_apply(g.t.db, r, &w), AIF_OK);
	assert_job_str(run.id, "state", "failed");
	assert_int_equal(job_i64(run.id, "http_status"), 504);
	assert_job_str(run.id, "error_type", "server_error");
	assert_job_str(run.id, "error_code", "step_timeout");
	assert_job_str(run.id, "error_message", "step ask timed out");
	assert_int_equal(job_i64(run.id, "finished_at IS NOT NULL"), 1);
	assert_job_str(run.id, "worker_id", "<NULL>");
	assert_int_equal(count_events(run.id, "failed"), 1);
	assert_int_equal(count_events(run.id, "compensating"), 0);
	assert_int_equal(q_i64("SELECT COUNT(*) FROM job_compensations WHERE job_id = ?",
	    run.id, NULL), 0);
}

static void
cancelled_without_compensations_is_final_409(void **state)
{
	struct aif_flow_write w = { .next = AIF_FLOW_CANCELLED,
	    .error_message = "cancelled by the client" };
	const struct aif_flow_run *r;
	struct tjob run;

	(void)state;
	r = start_run(&run);
	assert_int_equal(aif_flow_apply(g.t.db, r, &w), AIF_OK);
	assert_job_str(run.id, "state", "cancelled");
	assert_int_equal(job_i64(run.id, "http_status"), 409);
	assert_job_str(run.id, "error_code", "job_cancelled");
	assert_job_str(run.id, "error_message", "cancelled by the client");
	assert_int_equal(job_i64(run.id, "finished_at IS NOT NULL"), 1);
	assert_int_equal(count_events(run.id, "cancelled"), 1);
}

/* ------------------------------------------------------------------ children, defs */

static void
child_by_key_finds_the_owners_job(void **state)
{
	struct tjob run, child;
	char idem[96];
	uint64_t id = 1;

	(void)state;
	enqueue_run(&run);
	testdb_name(&g.t, idem, sizeof(idem), "idem-", ":ask:1");
	enqueue(&child, 0, run.key, run.id, idem);
	assert_int_equal(aif_flow_child_by_key(g.t.db, run.key, idem, &id), AIF_OK);
	assert_int_equal(id, child.id);
	id = 1;
	assert_int_equal(aif_flow_child_by_key(g.t.db, run.key + 1000000, idem, &id),
	    AIF_NOTFOUND);
	assert_int_equal(id, 0);
	id = 1;
	assert_int_equal(aif_flow_child_by_key(g.t.db, run.key, "idem-unknown", &id),
	    AIF_NOTFOUND);
	assert_int_equal(id, 0);
}

static void
usage_sums_the_children_of_the_run(void **state)
{
	struct tjob run, other, lone, c1, c2, c3, stranger;
	int64_t prompt = -1, completion = -1, cost = -1;

	(void)state;
	enqueue_run(&run);
	enqueue_run(&other);
	enqueue(&c1, 0, run.key, run.id, NULL);
	enqueue(&c2, 0, run.key, run.id, NULL);
	enqueue(&c3, 0, run.key, run.id, NULL);	/* no usage yet */
	enqueue(&stranger, 0, run.key, other.id, NULL);
	insert_usage(&c1, 10, 20, 300);
	insert_usage(&c2, 1, 2, 30);
	insert_usage(&stranger, 1000, 2000, 30000);
	assert_int_equal(aif_flow_usage(g.t.db, run.id, &prompt, &completion, &cost),
	    AIF_OK);
	assert_int_equal(prompt, 11);
	assert_int_equal(completion, 22);
	assert_int_equal(cost, 330);

	/* a run without children */
	enqueue_run(&lone);
	assert_int_equal(aif_flow_usage(g.t.db, lone.id, &prompt, &completion, &cost),
	    AIF_OK);
	assert_int_equal(prompt, 0);
	assert_int_equal(completion, 0);
	assert_int_equal(cost, 0);
}

static void
wake_makes_a_waiting_run_due(void **state)
{
	struct tjob run, chat;

	(void)state;
	enqueue_run(&run);
	enqueue(&chat, 0, 0, 0, NULL);
	not_due(run.id);
	not_due(chat.id);
	/* a queued run is due already: only a waiting one is woken */
	assert_int_equal(aif_flow_wake(g.t.db, run.id), AIF_OK);
	assert_int_equal(due_now(run.id), 0);
	exec_id("UPDATE jobs SET state = 'waiting' WHERE id = ?", run.id);
	assert_int_equal(due_now(run.id), 0);
	assert_int_equal(aif_flow_wake(g.t.db, run.id), AIF_OK);
	assert_int_equal(due_now(run.id), 1);
	/* only runs */
	assert_int_equal(aif_flow_wake(g.t.db, chat.id), AIF_OK);
	assert_int_equal(due_now(chat.id), 0);
}

static void
wake_leaves_a_running_run(void **state)
{
	struct tjob run;
	char before[64], after[64];

	(void)state;
	start_run(&run);
	job_str(run.id, "run_after", before, sizeof(before));
	assert_int_equal(aif_flow_wake(g.t.db, run.id), AIF_OK);
	job_str(run.id, "run_after", after, sizeof(after));
	assert_string_equal(before, after);
	assert_job_str(run.id, "state", "running");
}

static void
def_put_is_idempotent_and_get_returns_it(void **state)
{
	char hash[AIF_FLOW_HASH_LEN + 1], unknown[AIF_FLOW_HASH_LEN + 1], name[64];
	char *text = NULL;

	(void)state;
	TESTDB_NEED(&g.t);
	new_hash(hash);
	new_hash(unknown);
	testdb_name(&g.t, name, sizeof(name), "", "");
	assert_int_equal(aif_flow_def_put(g.t.db, hash, name, "{\"steps\":[1]}"), AIF_OK);
	assert_int_equal(aif_flow_def_put(g.t.db, hash, name, "{\"steps\":[2]}"), AIF_OK);
	assert_int_equal(aif_flow_def_get(g.t.db, hash, &text), AIF_OK);
	assert_non_null(text);
	assert_string_equal(text, "{\"steps\":[1]}");
	free(text);
	text = NULL;
	assert_int_equal(testdb_i64_str(&g.t, "SELECT COUNT(*) FROM workflow_defs"
	    " WHERE name = ?", name), 1);
	assert_int_equal(aif_flow_def_get(g.t.db, unknown, &text), AIF_NOTFOUND);
	assert_null(text);
}

static void
child_reports_the_final_state_and_error(void **state)
{
	struct tjob run, child;
	char st[16], etype[64], ecode[64], emsg[128];
	char *resp = NULL;

	(void)state;
	enqueue_run(&run);
	enqueue(&child, 0, run.key, run.id, NULL);
	exec_id("UPDATE jobs SET state = 'failed', error_type = 'server_error',"
	    " error_code = 'engine_error', error_message = 'engine said no' WHERE id = ?",
	    child.id);
	assert_int_equal(aif_flow_child(g.t.db, child.id, st, &resp, etype, ecode, emsg,
	    sizeof(emsg)), AIF_OK);
	assert_string_equal(st, "failed");
	assert_null(resp);
	assert_string_equal(etype, "server_error");
	assert_string_equal(ecode, "engine_error");
	assert_string_equal(emsg, "engine said no");
	assert_int_equal(aif_flow_child(g.t.db, testdb_id(&g.t), st, &resp, etype, ecode,
	    emsg, sizeof(emsg)), AIF_NOTFOUND);
}

/* ------------------------------------------------------------------ setup */

static int
group_setup(void **state)
{
	(void)state;
	return testdb_open(&g.t, "test_runs", "");
}

/* Frees the claims and deletes the rows of this run's jobs and definitions. */
static int
group_teardown(void **state)
{
	(void)state;
	while (g.nclaims > 0) {
		g.nclaims--;
		aif_flow_runs_free(g.claims[g.nclaims].r, g.claims[g.nclaims].n);
	}
	testdb_purge(&g.t, "DELETE s FROM job_steps s JOIN jobs j ON j.id = s.job_id"
	    " WHERE j.model LIKE ?", "");
	testdb_purge(&g.t, "DELETE s FROM job_signals s JOIN jobs j ON j.id = s.job_id"
	    " WHERE j.model LIKE ?", "");
	testdb_purge(&g.t, "DELETE c FROM job_compensations c JOIN jobs j"
	    " ON j.id = c.job_id WHERE j.model LIKE ?", "");
	testdb_purge(&g.t, "DELETE e FROM job_events e JOIN jobs j ON j.id = e.job_id"
	    " WHERE j.model LIKE ?", "");
	testdb_purge(&g.t, "DELETE FROM `usage` WHERE model LIKE ?", "");
	testdb_purge(&g.t, "DELETE FROM jobs WHERE model LIKE ?", "");
	testdb_purge(&g.t, "DELETE FROM workflow_defs WHERE name LIKE ?", "");
	testdb_close(&g.t);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(claim_takes_only_due_pipeline_runs),
		cmocka_unit_test(claimed_run_is_not_claimed_again),
		cmocka_unit_test(apply_with_the_lease_writes_steps_and_event),
		cmocka_unit_test(apply_with_a_wrong_lease_token_writes_nothing),
		cmocka_unit_test(apply_to_a_released_run_is_notfound),
		cmocka_unit_test(upsert_keeps_seq_and_started_at),
		cmocka_unit_test(release_requeues_the_run_due_at_its_wake_time),
		cmocka_unit_test(release_waits_at_most_the_safety_interval_without_signals),
		cmocka_unit_test(release_with_an_arrived_signal_is_due_at_once),
		cmocka_unit_test(release_with_another_signal_waits),
		cmocka_unit_test(release_with_a_final_child_of_an_open_step_is_due_at_once),
		cmocka_unit_test(signal_while_the_run_row_is_locked_is_not_final),
		cmocka_unit_test(signal_checks_the_owner),
		cmocka_unit_test(signal_wakes_a_waiting_run),
		cmocka_unit_test(signal_to_a_final_run_is_conflict),
		cmocka_unit_test(signal_past_64_pending_is_toobig),
		cmocka_unit_test(signal_to_a_job_that_is_not_a_run_is_notfound),
		cmocka_unit_test(consumed_signal_gives_way_to_the_next),
		cmocka_unit_test(succeed_stores_the_response),
		cmocka_unit_test(fail_with_compensations_schedules_them_in_order),
		cmocka_unit_test(fail_without_compensations_is_final),
		cmocka_unit_test(cancelled_without_compensations_is_final_409),
		cmocka_unit_test(child_by_key_finds_the_owners_job),
		cmocka_unit_test(usage_sums_the_children_of_the_run),
		cmocka_unit_test(wake_makes_a_waiting_run_due),
		cmocka_unit_test(wake_leaves_a_running_run),
		cmocka_unit_test(def_put_is_idempotent_and_get_returns_it),
		cmocka_unit_test(child_reports_the_final_state_and_error),
	};
	if (testdb_check(&g.t, "test_runs") != 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
