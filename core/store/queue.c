/* queue.c -- the durable job queue's transitions; see queue.h and sql/001_init.sql.
 * Claim query: FORCE INDEX (ix_jobs_queue) = (queued_mark, priority DESC, id), where
 * queued_mark is 1 for a queued job and NULL otherwise (sql/021_narrow_indexes.sql),
 * READ COMMITTED, so a claim locks only the rows it takes (docs/STACK.md, "the
 * queue"). */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcra.h"
#include "jobs.h"
#include "log.h"
#include "queue.h"
#include "sqlbuf.h"

#define TX_RETRIES	5
#define MAX_IN		256
#define SUCCEED_ROWS	64	/* jobs per SELECT ... FOR UPDATE / UPDATE of a success batch */
#define USAGE_ROWS	32	/* jobs per multi-row INSERT of usage rows and events */

/* Runs the transaction `call` again while it ends in a deadlock or a lock wait timeout
 * (AIF_CONFLICT), at most TX_RETRIES times in all; err gets its last result. */
#define RETRY_CONFLICTS(err, call) \
	do { \
		for (int try_ = 0; try_ < TX_RETRIES; try_++) \
			if (((err) = (call)) != AIF_CONFLICT) \
				break; \
	} while (0)

/* The request body of a job once it ended: none when it was admitted with zero
 * retention. */
#define FINAL_BODY	"IF(zero_retention, '', request_body)"

/* The budget state a job's row gets in the statement that ends it, its holds being
 * released or captured in the same transaction: by its state where the job's holds are
 * read from its row, by its hold where they come with the worker's report (whose
 * budget_hold_micros is the row's, read at the claim). */
#define HELD_RELEASED	"budget_state = IF(budget_state = 'held', 'released', budget_state)"
#define HOLD_RELEASED	"budget_state = IF(budget_hold_micros > 0, 'released', budget_state)"
#define HOLD_CAPTURED	"budget_state = IF(budget_hold_micros > 0, 'captured', budget_state)"

/* Clamps a count into the range of an INT UNSIGNED column. */
static int64_t
u32(int64_t v)
{
	return v < 0 ? 0 : v > (int64_t)UINT32_MAX ? (int64_t)UINT32_MAX : v;
}

/* Runs `head` + "(?,...,?)" with nmarks markers: p holds the nparams parameters, those
 * of head first, then the nmarks of the list. A query (*rows new) when rows is not
 * NULL, else a statement (*affected when affected is not NULL). */
static enum aif_err
run_in(struct aif_db *db, const char *head, const struct aif_dbp *p, size_t nparams,
    size_t nmarks, struct aif_dbrows **rows, uint64_t *affected)
{
	struct aif_sqlbuf sql = { 0 };
	enum aif_err err;

	aif_sqlbuf_add(&sql, head);
	aif_sqlbuf_add(&sql, "(");
	aif_sqlbuf_marks(&sql, nmarks);
	aif_sqlbuf_add(&sql, ")");
	if ((err = aif_sqlbuf_status(&sql)) == AIF_OK)
		err = rows != NULL ? aif_db_query(db, aif_sqlbuf_get(&sql), p, nparams, rows) :
		    aif_db_exec(db, aif_sqlbuf_get(&sql), p, nparams, affected, NULL);
	aif_sqlbuf_free(&sql);
	return err;
}

/* run_in for a statement. */
static enum aif_err
exec_in(struct aif_db *db, const char *head, const struct aif_dbp *p, size_t nparams,
    size_t nmarks)
{
	return run_in(db, head, p, nparams, nmarks, NULL, NULL);
}

/* Runs an UPDATE that must change exactly one row (a transition fenced by the job's
 * state and lease): AIF_NOTFOUND when it changed none, so that the caller's
 * aif_db_finish rolls back. */
static enum aif_err
exec_fenced(struct aif_db *db, const char *sql, const struct aif_dbp *p, size_t n)
{
	uint64_t affected = 0;
	enum aif_err err = aif_db_exec(db, sql, p, n, &affected, NULL);

	return err == AIF_OK && affected != 1 ? AIF_NOTFOUND : err;
}

/* ---- enqueue ------------------------------------------------------------------------ */

/* The columns of a new job row, in the order of job_params(). */
#define JOB_INSERT \
	"INSERT INTO jobs (public_id, api_key_id, tenant, model, kind, priority," \
	" max_attempts, reply_to, request_id, idempotency_key, stream," \
	" prompt_tokens_estimate, max_tokens, request_body, pii_counts, tokens_charged," \
	" budget_hold_micros, budget_state, request_sha256, prompt_tokens_bound," \
	" completion_tokens_bound, zero_retention, relay_secret, workflow_hash," \
	" parent_job_id, parent_step, traceparent, tracestate, trace_link, guardrails," \
	" batch_id, batch_line, expires_at, state, attempts, lease_token, worker_id, lease_until, started_at)" \
	" VALUES "
/* One row: the plain columns (JOB_PLAIN of them), then expires_at from the wait (0:
 * none, NULL then), then the lease of a job handed to a worker at insert: running, its
 * first attempt under lease token 1 (what a claim would set), started when created. */
#define JOB_ROW_END	",NOW(6) + INTERVAL NULLIF(?, 0) MICROSECOND," \
	" IF(?, 'running', 'queued'), ?, ?, NULLIF(?, 0)," \
	" IF(?, NOW(6) + INTERVAL ? SECOND, NULL), IF(?, NOW(6), NULL))"
enum { JOB_PLAIN = 32, JOB_COLS = 40 };
_Static_assert(JOB_COLS * AIF_ENQUEUE_BATCH_MAX <= AIF_DB_PARAMS_MAX,
    "an enqueue batch binds its parameters in one statement");

/* Fills q[0..JOB_COLS) with the row of job j under public id pid (both borrowed),
 * handed to j->handoff_worker when `handed`. */
static void
job_params(struct aif_dbp *q, const struct aif_job_new *j, const char *pid, int handed)
{
	struct aif_dbp row[] = {
		AIF_P_STR(pid), AIF_P_I64(j->api_key_id), AIF_P_STR(j->tenant),
		AIF_P_STR(j->model), AIF_P_STR(j->workflow_hash != NULL ? "pipeline" :
		    aif_kind_name(j->kind)),
		AIF_P_I64(j->priority), AIF_P_I64(j->max_attempts), AIF_P_STR(j->reply_to),
		AIF_P_STR(j->request_id), AIF_P_STR(j->idempotency_key), AIF_P_I64(j->stream),
		AIF_P_I64(j->prompt_tokens_estimate),
		j->max_tokens >= 0 ? AIF_P_I64(j->max_tokens) : AIF_P_NULL(),
		AIF_P_STRN(j->request_body, j->request_len), AIF_P_STR(j->pii_counts),
		AIF_P_I64(j->tokens_charged),
		AIF_P_I64(j->nbudget ? j->budget_hold_micros : 0),
		AIF_P_STR(j->nbudget ? "held" : "none"),
		j->request_sha256 ? AIF_P_STRN((const char *)j->request_sha256, 32) :
		    AIF_P_NULL(),
		AIF_P_I64(j->prompt_tokens_bound), AIF_P_I64(j->completion_tokens_bound),
		AIF_P_I64(j->zero_retention != 0),
		j->relay_secret ? AIF_P_STRN((const char *)j->relay_secret,
		    AIF_RELAY_SECRET_BYTES) : AIF_P_NULL(),
		AIF_P_STR(j->workflow_hash),
		j->parent_job_id != 0 ? AIF_P_I64(j->parent_job_id) : AIF_P_NULL(),
		AIF_P_STR(j->parent_step), AIF_P_STR(j->traceparent), AIF_P_STR(j->tracestate),
		AIF_P_STR(j->trace_link), AIF_P_STR(j->guardrails),
		j->batch_id != 0 ? AIF_P_I64(j->batch_id) : AIF_P_NULL(),
		j->batch_id != 0 ? AIF_P_I64(j->batch_line) : AIF_P_NULL(),
		AIF_P_I64(j->wait_ms > 0 ? j->wait_ms * 1000 : 0),
		AIF_P_I64(handed), AIF_P_I64(handed), AIF_P_I64(handed),
		AIF_P_I64(handed ? (int64_t)j->handoff_worker : 0), AIF_P_I64(handed),
		AIF_P_I64(j->handoff_lease_s), AIF_P_I64(handed),
	};
	_Static_assert(sizeof(row) / sizeof(row[0]) == JOB_COLS, "JOB_INSERT columns");

	memcpy(q, row, sizeof(row));
}

/* Inserts n jobs (the statement `ins`, parameters p) and their holds in the caller's
 * transaction. A job whose hold does not fit is deleted again (errs[i] =
 * AIF_FORBIDDEN). No `enqueued` row: jobs.created_at stands for it (job_timeline). */
static enum aif_err
enqueue_rows(struct aif_db *db, struct aif_sqlbuf *sql, struct aif_dbp *p,
    const struct aif_job_new *jobs, size_t n, uint64_t *ids,
    char (*pids)[AIF_JOB_ID_LEN + 1], enum aif_err *errs)
{
	enum { RET_ID, RET_PUBLIC_ID };
	static const char del[] = "DELETE FROM jobs WHERE id = ?";
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	/* once: outside a transaction (no holds) the INSERT commits by itself */
	if ((err = aif_db_query_once(db, aif_sqlbuf_get(sql), p, n * JOB_COLS, &rows)) !=
	    AIF_OK)
		return err;
	if (rows->nrows != n) {
		aif_dbrows_free(rows);
		return AIF_DB;
	}
	for (size_t r = 0; r < n; r++) {
		const char *pid = aif_dbrows_get(rows, r, RET_PUBLIC_ID);
		for (size_t i = 0; i < n; i++)
			if (pid != NULL && strcmp(pid, pids[i]) == 0)
				ids[i] = (uint64_t)aif_dbrows_i64(rows, r, RET_ID);
	}
	aif_dbrows_free(rows);
	/* budget holds: a job whose hold does not fit is taken out again */
	for (size_t i = 0; i < n; i++) {
		errs[i] = AIF_OK;
		if (jobs[i].nbudget == 0)
			continue;
		err = aif_ledger_hold(db, ids[i], jobs[i].budget, jobs[i].nbudget,
		    jobs[i].budget_hold_micros);
		if (err == AIF_FORBIDDEN) {
			struct aif_dbp pd[] = { AIF_P_I64(ids[i]) };
			if ((err = AIF_DB_EXEC(db, del, pd, NULL, NULL)) != AIF_OK)
				return err;
			errs[i] = AIF_FORBIDDEN;
			ids[i] = 0;
			pids[i][0] = '\0';
		} else if (err != AIF_OK) {
			return err;
		}
	}
	return AIF_OK;
}

/* Which of the n jobs offered for a hand-off may be handed (handed[i]): those whose
 * model has no queued interactive job that could run now. A handed job thus never goes
 * ahead of queued interactive work of its model, of any priority (a batch's lines,
 * below them all, do not hold it back); and it runs only where a slot is free at once
 * (its worker gives it back otherwise): a queued job of another model can lose a
 * worker's last free slot to it only in the moment before that worker claims, as it
 * could to a concurrent claim. A model with a backlog (its replicas are full) queues
 * as before. One statement: per distinct model an index probe (LIMIT 1) returning the
 * model's place when it has such a job, joined by UNION ALL; no subquery, which the
 * server would plan again at every execution. */
static enum aif_err
handoff_allowed(struct aif_db *db, const struct aif_job_new *jobs, size_t n, int *handed)
{
	static const char probe[] = " FROM jobs FORCE INDEX (ix_jobs_model_queue)"
	    " WHERE queued_mark = 1 AND model = ? AND priority >= 0 AND run_after <= NOW(6)"
	    " LIMIT 1";
	struct aif_dbp p[AIF_ENQUEUE_BATCH_MAX];
	size_t of[AIF_ENQUEUE_BATCH_MAX], k = 0;
	int busy[AIF_ENQUEUE_BATCH_MAX] = { 0 };
	struct aif_sqlbuf sql = { 0 };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	for (size_t i = 0; i < n; i++) {
		size_t m = 0;
		char head[40];
		handed[i] = 0;
		if (jobs[i].handoff_worker == 0)
			continue;
		while (m < k && strcmp(p[m].s, jobs[i].model) != 0)
			m++;
		if (m == k) {
			p[k++] = AIF_P_STR(jobs[i].model);
			(void)snprintf(head, sizeof(head), "%s(SELECT %zu",
			    m ? " UNION ALL " : "", m);
			aif_sqlbuf_add(&sql, head);
			aif_sqlbuf_add(&sql, probe);
			aif_sqlbuf_add(&sql, ")");
		}
		of[i] = m;
	}
	if (k == 0)
		return AIF_OK;
	if ((err = aif_sqlbuf_status(&sql)) == AIF_OK &&
	    (err = aif_db_query(db, aif_sqlbuf_get(&sql), p, k, &rows)) == AIF_OK) {
		for (size_t r = 0; r < rows->nrows; r++) {
			int64_t m = aif_dbrows_i64(rows, r, 0);
			if (m >= 0 && (size_t)m < k)
				busy[m] = 1;
		}
		for (size_t i = 0; i < n; i++)
			handed[i] = jobs[i].handoff_worker != 0 && !busy[of[i]];
		aif_dbrows_free(rows);
	}
	aif_sqlbuf_free(&sql);
	return err;
}

/* The rows of enqueue_batch_once in its transaction: which jobs are handed
 * (handoff_allowed), then the insert and the holds. */
static enum aif_err
enqueue_tx(struct aif_db *db, const struct aif_job_new *jobs, size_t n, uint64_t *ids,
    char (*pids)[AIF_JOB_ID_LEN + 1], enum aif_err *errs, int *handed)
{
	struct aif_dbp p[JOB_COLS * AIF_ENQUEUE_BATCH_MAX];
	struct aif_sqlbuf sql = { 0 };
	enum aif_err err;

	if ((err = handoff_allowed(db, jobs, n, handed)) != AIF_OK)
		return err;
	for (size_t i = 0; i < n; i++)
		job_params(&p[i * JOB_COLS], &jobs[i], pids[i], handed[i]);
	aif_sqlbuf_add(&sql, JOB_INSERT);
	for (size_t i = 0; i < n; i++) {
		aif_sqlbuf_add(&sql, i ? ",(" : "(");
		aif_sqlbuf_marks(&sql, JOB_PLAIN);
		aif_sqlbuf_add(&sql, JOB_ROW_END);
	}
	aif_sqlbuf_add(&sql, " RETURNING id, public_id");
	if ((err = aif_sqlbuf_status(&sql)) == AIF_OK)
		err = enqueue_rows(db, &sql, p, jobs, n, ids, pids, errs);
	aif_sqlbuf_free(&sql);
	return err;
}

/* One try of inserting n jobs and their holds in one transaction. Without holds the
 * transaction is the multi-row INSERT alone (atomic, committing by itself, run at most
 * once: aif_db_query_once): no BEGIN and COMMIT round trips; the hand-off look before
 * it is advisory and needs none. */
static enum aif_err
enqueue_batch_once(struct aif_db *db, const struct aif_job_new *jobs, size_t n,
    uint64_t *ids, char (*pids)[AIF_JOB_ID_LEN + 1], enum aif_err *errs, int *handed)
{
	enum aif_err err;
	int holds = 0;

	for (size_t i = 0; i < n; i++) {
		if ((err = aif_random_id("job_", 24, pids[i], AIF_JOB_ID_LEN + 1)) != AIF_OK)
			return err;
		holds |= jobs[i].nbudget > 0;
	}
	if (!holds)
		return enqueue_tx(db, jobs, n, ids, pids, errs, handed);
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	return aif_db_finish(db, enqueue_tx(db, jobs, n, ids, pids, errs, handed));
}

enum aif_err
aif_queue_enqueue(struct aif_db *db, const struct aif_job_new *j, uint64_t *id,
    char *public_id)
{
	char pids[1][AIF_JOB_ID_LEN + 1];
	enum aif_err err = AIF_OK, errs[1];
	struct aif_job_new queued = *j;
	int handed[1];

	*id = 0;
	public_id[0] = '\0';
	queued.handoff_worker = 0;	/* one by one: queued, for any worker to claim */
	for (int attempt = 0; attempt < TX_RETRIES; attempt++) {
		err = enqueue_batch_once(db, &queued, 1, id, pids, errs, handed);
		if (err == AIF_OK)
			err = errs[0];
		if (err == AIF_OK) {
			memcpy(public_id, pids[0], sizeof(pids[0]));
			return AIF_OK;
		}
		*id = 0;
		if (err != AIF_CONFLICT)
			return err;	/* no retry helps */
		if (aif_db_last_was_duplicate(db) && j->idempotency_key != NULL)
			return AIF_CONFLICT;	/* its idempotency key is taken */
		/* a deadlock, or a public id that collided: again, with a new one */
	}
	return err;
}

enum aif_err
aif_queue_enqueue_batch(struct aif_db *db, const struct aif_job_new *jobs, size_t n,
    uint64_t *ids, char (*public_ids)[AIF_JOB_ID_LEN + 1], enum aif_err *errs,
    int *handed)
{
	enum aif_err err = AIF_OK;

	if (n == 0)
		return AIF_OK;
	if (n > AIF_ENQUEUE_BATCH_MAX)
		return AIF_TOOBIG;
	for (int attempt = 0; attempt < TX_RETRIES; attempt++) {
		memset(ids, 0, n * sizeof(*ids));
		memset(handed, 0, n * sizeof(*handed));
		err = enqueue_batch_once(db, jobs, n, ids, public_ids, errs, handed);
		if (err != AIF_CONFLICT)
			break;
		if (aif_db_last_was_duplicate(db))
			break;	/* a duplicate idempotency key: sort it out one by one */
	}
	if (err == AIF_OK)
		return AIF_OK;	/* errs[] says which jobs were refused a budget hold */
	memset(handed, 0, n * sizeof(*handed));	/* rolled back; one by one they queue */
	/* a duplicate idempotency key, or one job's data the database refused (a value
	   out of range, bytes it cannot store): one by one, only the offender fails */
	if ((err != AIF_CONFLICT && err != AIF_DB && err != AIF_TOOBIG) || n == 1) {
		for (size_t i = 0; i < n; i++) {
			errs[i] = err;
			public_ids[i][0] = '\0';
		}
		return err;
	}
	for (size_t i = 0; i < n; i++)
		errs[i] = aif_queue_enqueue(db, &jobs[i], &ids[i], public_ids[i]);
	return AIF_OK;
}

/* ---- claim ------------------------------------------------------------------------- */

void
aif_queue_claimed_free(struct aif_claimed *jobs, size_t n)
{
	if (jobs == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(jobs[i].request_body);
	free(jobs);
}

/* The columns of a job taken to run: NEXT is what its attempt and lease token are past
 * the row's, EXPIRED whether its caller stopped waiting, FIRST whether this is its first
 * attempt ever. */
#define TAKE_COLS(NEXT, EXPIRED, FIRST) \
	"SELECT id, public_id, model, kind, tenant, COALESCE(reply_to, '')," \
	" api_key_id, attempts" NEXT ", max_attempts, stream, lease_token" NEXT "," \
	" TIMESTAMPDIFF(MICROSECOND, created_at, NOW(6)) DIV 1000, request_body," \
	" COALESCE(replica, ''), priority, budget_hold_micros, tokens_charged," \
	" prompt_tokens_bound, completion_tokens_bound, zero_retention, relay_secret," \
	" " EXPIRED ", prompt_tokens_estimate, budget_state = 'held'," \
	" COALESCE(parent_job_id, 0), " FIRST "," \
	" COALESCE(traceparent, ''), COALESCE(tracestate, ''), COALESCE(trace_link, '')," \
	" COALESCE(guardrails, ''), pii_counts"
/* A claim: the next attempt under the next token. */
#define CLAIM_COLS TAKE_COLS(" + 1", \
	"expires_at IS NOT NULL AND expires_at < NOW(6) AND attempts = 0", \
	"started_at IS NULL")
/* A job handed to a worker at insert: its lease is set already. */
#define HANDED_COLS TAKE_COLS("", "0", "1")
/* Which running rows are handed ones not taken over since: a handed row starts when
 * it is created (one statement's NOW(6)); a claim starts later. */
#define HANDED_ROW \
	" state = 'running' AND worker_id = ? AND attempts = 1 AND lease_token = 1" \
	" AND started_at = created_at"
enum {
	CL_ID, CL_PUBLIC_ID, CL_MODEL, CL_KIND, CL_TENANT, CL_REPLY_TO, CL_KEY,
	CL_ATTEMPT, CL_MAX_ATTEMPTS, CL_STREAM, CL_LEASE_TOKEN, CL_QUEUE_MS, CL_BODY,
	CL_LAST_REPLICA, CL_PRIORITY, CL_HOLD, CL_TOKENS, CL_PROMPT_BOUND,
	CL_COMPLETION_BOUND, CL_ZERO_RETENTION, CL_RELAY_SECRET, CL_EXPIRED,
	CL_PROMPT_ESTIMATE, CL_HELD, CL_PARENT, CL_FIRST, CL_TRACEPARENT,
	CL_TRACESTATE, CL_TRACE_LINK, CL_GUARDRAILS, CL_PII_COUNTS
};

/* Appends the candidate rows of one SELECT ... FOR UPDATE SKIP LOCKED to *all. */
static enum aif_err
claim_select(struct aif_db *db, const char *sql, const struct aif_dbp *p, size_t np,
    struct aif_dbrows **all)
{
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	if ((err = aif_db_query(db, sql, p, np, &rows)) != AIF_OK)
		return err;
	if (*all == NULL) {
		*all = rows;
		return AIF_OK;
	}
	if (rows->nrows > 0) {
		size_t n = (*all)->nrows + rows->nrows, nc = rows->ncols;
		char **cells = realloc((*all)->cells, n * nc * sizeof(char *));
		size_t *lens;
		if (cells == NULL) {
			aif_dbrows_free(rows);
			return AIF_NOMEM;
		}
		(*all)->cells = cells;
		if ((lens = realloc((*all)->lens, n * nc * sizeof(size_t))) == NULL) {
			aif_dbrows_free(rows);
			return AIF_NOMEM;
		}
		(*all)->lens = lens;
		memcpy(cells + (*all)->nrows * nc, rows->cells, rows->nrows * nc * sizeof(char *));
		memcpy(lens + (*all)->nrows * nc, rows->lens, rows->nrows * nc * sizeof(size_t));
		(*all)->nrows = n;
		rows->nrows = 0;	/* the cells moved */
	}
	aif_dbrows_free(rows);
	return AIF_OK;
}

/* The candidates of every model. all = 1: one query over every model with room, in
 * priority order (the common case: one round trip). all = 0: models with room for a
 * whole batch share one query; a model with less room gets its own, so its backlog
 * cannot crowd the others out (claim_rows falls back to it when the first try was
 * crowded). */
static enum aif_err
claim_candidates(struct aif_db *db, const char *const *models, const int *per_model_free,
    size_t n_models, int limit, const struct aif_claim_lane *lane, int all,
    struct aif_dbrows **rows)
{
	static const char one[] = CLAIM_COLS
	    " FROM jobs FORCE INDEX (ix_jobs_model_queue)"
	    " WHERE queued_mark = 1 AND model = ? AND priority >= ? AND run_after <= NOW(6)"
	    " ORDER BY priority DESC, id LIMIT ? FOR UPDATE SKIP LOCKED";
	struct aif_dbp p[MAX_IN + 2];
	struct aif_sqlbuf sql = { 0 };
	size_t nfull = 0;
	enum aif_err err = AIF_OK;

	for (size_t i = 0; i < n_models; i++)
		if (per_model_free[i] >= limit || (all && per_model_free[i] > 0))
			p[nfull++] = AIF_P_STR(models[i]);
	if (nfull > 0) {
		aif_sqlbuf_add(&sql, CLAIM_COLS " FROM jobs FORCE INDEX (ix_jobs_queue)"
		    " WHERE queued_mark = 1 AND run_after <= NOW(6) AND model IN (");
		aif_sqlbuf_marks(&sql, nfull);
		aif_sqlbuf_add(&sql, ") AND priority >= ?"
		    " ORDER BY priority DESC, id LIMIT ? FOR UPDATE SKIP LOCKED");
		p[nfull] = AIF_P_I64(lane->min_priority);
		p[nfull + 1] = AIF_P_I64(limit);
		if ((err = aif_sqlbuf_status(&sql)) != AIF_OK ||
		    (err = claim_select(db, aif_sqlbuf_get(&sql), p, nfull + 2, rows)) != AIF_OK)
			goto out;
	}
	for (size_t i = 0; i < n_models; i++) {
		struct aif_dbp q[] = { AIF_P_STR(models[i]), AIF_P_I64(lane->min_priority),
		    AIF_P_I64(per_model_free[i]) };
		if (all || per_model_free[i] >= limit || per_model_free[i] <= 0)
			continue;
		if ((err = claim_select(db, one, q, AIF_NELEM(q), rows)) != AIF_OK)
			goto out;
	}
out:
	aif_sqlbuf_free(&sql);
	return err;
}

/* Picks the best candidates (priority desc, then id asc), up to limit within each
 * model's room: taken[r] = 1, order[] the candidates in that order. *crowded = 1 when a
 * candidate was left for lack of its model's room. Returns how many. */
static size_t
claim_pick(const struct aif_dbrows *rows, const char *const *models,
    const int *per_model_free, size_t n_models, int limit,
    const struct aif_claim_lane *lane, size_t *order, int *taken, int *crowded)
{
	int64_t prio[MAX_IN * 2], id[MAX_IN * 2];
	int used[MAX_IN] = { 0 }, batch_used[MAX_IN] = { 0 }, batch_all = 0;
	size_t ntake = 0;

	for (size_t r = 0; r < rows->nrows; r++) {
		order[r] = r;
		taken[r] = 0;
		prio[r] = aif_dbrows_i64(rows, r, CL_PRIORITY);
		id[r] = aif_dbrows_i64(rows, r, CL_ID);
	}
	for (size_t a = 1; a < rows->nrows; a++)
		for (size_t b = a; b > 0; b--) {
			size_t x = order[b], y = order[b - 1], t;
			if (prio[x] < prio[y] || (prio[x] == prio[y] && id[x] > id[y]))
				break;
			t = order[b];
			order[b] = order[b - 1];
			order[b - 1] = t;
		}
	*crowded = 0;
	for (size_t x = 0; x < rows->nrows && ntake < (size_t)limit; x++) {
		size_t r = order[x];
		const char *m = aif_dbrows_get(rows, r, CL_MODEL);
		if (aif_dbrows_i64(rows, r, CL_EXPIRED))
			continue;	/* not run: claim_expire() ends it */
		for (size_t k = 0; k < n_models; k++) {
			int batch = prio[r] < 0;
			if (strcmp(models[k], m) != 0)
				continue;
			/* a batch's line within the lane's share (batch.max_share) */
			if (batch && (batch_all >= lane->batch_total || (lane->batch_free != NULL &&
			    batch_used[k] >= lane->batch_free[k])))
				break;
			if (used[k] < per_model_free[k]) {
				used[k]++;
				batch_used[k] += batch;
				batch_all += batch;
				taken[r] = 1;
				ntake++;
			} else {
				*crowded = 1;
			}
			break;
		}
	}
	return ntake;
}

/* Fills c from candidate row r, stealing its request body. */
static enum aif_err
claimed_from_row(struct aif_claimed *c, struct aif_dbrows *rows, size_t r)
{
	c->id = (uint64_t)aif_dbrows_i64(rows, r, CL_ID);
	aif_dbrows_copy(rows, r, CL_PUBLIC_ID, c->public_id, sizeof(c->public_id));
	aif_dbrows_copy(rows, r, CL_MODEL, c->model, sizeof(c->model));
	c->kind = AIF_KIND_CHAT;
	(void)aif_kind_parse(aif_dbrows_get(rows, r, CL_KIND), &c->kind);
	aif_dbrows_copy(rows, r, CL_TENANT, c->tenant, sizeof(c->tenant));
	aif_dbrows_copy(rows, r, CL_REPLY_TO, c->reply_to, sizeof(c->reply_to));
	c->api_key_id = (uint64_t)aif_dbrows_i64(rows, r, CL_KEY);
	c->attempt = (int)aif_dbrows_i64(rows, r, CL_ATTEMPT);
	c->first_claim = aif_dbrows_i64(rows, r, CL_FIRST) == 1;
	c->max_attempts = (int)aif_dbrows_i64(rows, r, CL_MAX_ATTEMPTS);
	c->stream = (int)aif_dbrows_i64(rows, r, CL_STREAM);
	c->lease_token = (uint64_t)aif_dbrows_i64(rows, r, CL_LEASE_TOKEN);
	c->queue_ms = aif_dbrows_i64(rows, r, CL_QUEUE_MS);
	aif_dbrows_copy(rows, r, CL_LAST_REPLICA, c->last_replica, sizeof(c->last_replica));
	c->budget_hold_micros = aif_dbrows_i64(rows, r, CL_HOLD);
	c->tokens_charged = aif_dbrows_i64(rows, r, CL_TOKENS);
	c->batch = aif_dbrows_i64(rows, r, CL_PRIORITY) < 0;
	c->prompt_tokens_bound = aif_dbrows_i64(rows, r, CL_PROMPT_BOUND);
	c->prompt_tokens_estimate = aif_dbrows_i64(rows, r, CL_PROMPT_ESTIMATE);
	c->completion_tokens_bound = aif_dbrows_i64(rows, r, CL_COMPLETION_BOUND);
	c->zero_retention = aif_dbrows_i64(rows, r, CL_ZERO_RETENTION) != 0;
	if (aif_dbrows_get(rows, r, CL_RELAY_SECRET) != NULL &&
	    rows->lens[r * rows->ncols + CL_RELAY_SECRET] == AIF_RELAY_SECRET_BYTES) {
		memcpy(c->relay_secret, aif_dbrows_get(rows, r, CL_RELAY_SECRET),
		    AIF_RELAY_SECRET_BYTES);
		c->has_relay_secret = 1;
	}
	c->parent_job_id = (uint64_t)aif_dbrows_i64(rows, r, CL_PARENT);
	c->relay_id = c->parent_job_id != 0 && c->stream ? c->parent_job_id : c->id;
	aif_dbrows_copy(rows, r, CL_TRACEPARENT, c->traceparent, sizeof(c->traceparent));
	aif_dbrows_copy(rows, r, CL_TRACESTATE, c->tracestate, sizeof(c->tracestate));
	aif_dbrows_copy(rows, r, CL_TRACE_LINK, c->trace_link, sizeof(c->trace_link));
	aif_dbrows_copy(rows, r, CL_GUARDRAILS, c->guardrails, sizeof(c->guardrails));
	/* ASCII JSON (type names are [A-Z][A-Z0-9_]*) of at most 1024 characters: fits */
	aif_dbrows_copy(rows, r, CL_PII_COUNTS, c->pii_counts, sizeof(c->pii_counts));
	c->request_body = aif_dbrows_steal(rows, r, CL_BODY);
	if (c->request_body == NULL && (c->request_body = strdup("{}")) == NULL)
		return AIF_NOMEM;
	return AIF_OK;
}

/* The model names the chunks of the streamed steps of workflow runs among c[0..n)
 * show: the run's (its row's model), one primary-key read per such step. A column of
 * the claim would cost every claim a subquery; steps that stream are few. */
static enum aif_err
relay_models(struct aif_db *db, struct aif_claimed *c, size_t n)
{
	static const char sql[] = "SELECT model FROM jobs WHERE id = ?";
	enum aif_err err;

	for (size_t i = 0; i < n; i++) {
		struct aif_dbp p[] = { AIF_P_I64(c[i].relay_id) };
		struct aif_dbrows *rows = NULL;

		if (c[i].relay_id == c[i].id)
			continue;
		if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
			return err;
		if (rows->nrows == 1)
			aif_dbrows_copy(rows, 0, 0, c[i].relay_model,
			    sizeof(c[i].relay_model));
		aif_dbrows_free(rows);
	}
	return AIF_OK;
}

/* Sets the taken jobs (ids in p[2..2+n), claimed c[0..n)) running under this worker's
 * lease and writes the `claimed` events of those claimed before: a job's first claim
 * is its started_at (job_timeline). */
static enum aif_err
claim_mark(struct aif_db *db, struct aif_dbp *p, size_t n, const struct aif_claimed *c)
{
	struct aif_dbp again[MAX_IN];
	size_t k = 0;
	enum aif_err err;

	if ((err = exec_in(db, "UPDATE jobs SET state = 'running', attempts = attempts + 1,"
	    " lease_token = lease_token + 1, lease_until = NOW(6) + INTERVAL ? SECOND,"
	    " worker_id = ?, started_at = COALESCE(started_at, NOW(6)) WHERE id IN ",
	    p, 2 + n, n)) != AIF_OK)
		return err;
	for (size_t i = 0; i < n && k < MAX_IN; i++)
		if (!c[i].first_claim)
			again[k++] = AIF_P_I64(c[i].id);
	if (k == 0)
		return AIF_OK;
	return exec_in(db, "INSERT INTO job_events (job_id, event, attempt, worker_id)"
	    " SELECT id, 'claimed', attempts, worker_id FROM jobs WHERE id IN ", again, k, k);
}

/* Ends job id without running it (its caller stopped waiting before any attempt
 * started), in the caller's transaction: cancelled as request_expired, no usage; the
 * caller releases its holds (the row says so already). *done = 1 when the job was still
 * queued and never claimed. */
static enum aif_err
expire_one(struct aif_db *db, uint64_t id, int *done)
{
	static const char upd[] =
	    "UPDATE jobs SET state = 'cancelled', finished_at = NOW(6), http_status = 504,"
	    " error_type = 'timeout', error_code = 'request_expired', error_message ="
	    " 'The caller stopped waiting before the job started; it was not run.',"
	    " request_body = " FINAL_BODY ", " HELD_RELEASED
	    " WHERE id = ? AND state = 'queued' AND attempts = 0 AND kind <> 'pipeline'";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	uint64_t affected = 0;
	enum aif_err err;

	*done = 0;
	if ((err = AIF_DB_EXEC(db, upd, p, &affected, NULL)) != AIF_OK || affected != 1)
		return err;
	if ((err = aif_queue_event(db, id, "expired",
	    "its caller stopped waiting before it was claimed")) != AIF_OK)
		return err;
	*done = 1;
	return AIF_OK;
}

/* The candidates whose caller stopped waiting before they were claimed (expires_at
 * passed, never attempted): cancelled without running, their holds released. */
static enum aif_err
claim_expire(struct aif_db *db, const struct aif_dbrows *rows)
{
	enum aif_err err;
	int done;

	for (size_t r = 0; r < rows->nrows; r++) {
		uint64_t id = (uint64_t)aif_dbrows_i64(rows, r, CL_ID);
		if (!aif_dbrows_i64(rows, r, CL_EXPIRED))
			continue;
		if ((err = expire_one(db, id, &done)) != AIF_OK ||
		    (done && aif_dbrows_i64(rows, r, CL_HELD) == 1 &&
		    (err = aif_ledger_release(db, id)) != AIF_OK))
			return err;
	}
	return AIF_OK;
}

/* Whether job id holds budget, read by `sql` (SELECT budget_state = 'held' ... FOR
 * UPDATE, the id its one parameter) under a lock on its row, in the caller's
 * transaction: *held is 1 or 0; AIF_NOTFOUND when no row matches. */
static enum aif_err
lock_held(struct aif_db *db, const char *sql, uint64_t id, int *held)
{
	struct aif_dbp p[] = { AIF_P_I64(id) };
	int64_t v = 0;
	enum aif_err err = AIF_DB_QUERY_I64(db, sql, p, &v);

	*held = v == 1;
	return err;
}

/* aif_queue_expire in its transaction. */
static enum aif_err
expire_locked(struct aif_db *db, uint64_t id)
{
	static const char sel[] = "SELECT budget_state = 'held' FROM jobs"
	    " WHERE id = ? AND state = 'queued' AND attempts = 0 AND kind <> 'pipeline'"
	    " FOR UPDATE";
	enum aif_err err;
	int held = 0, done = 0;

	if ((err = lock_held(db, sel, id, &held)) != AIF_OK ||
	    (err = expire_one(db, id, &done)) != AIF_OK)
		return err;
	if (!done)
		return AIF_NOTFOUND;
	return held ? aif_ledger_release(db, id) : AIF_OK;
}

enum aif_err
aif_queue_expire(struct aif_db *db, uint64_t id)
{
	enum aif_err err;

	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	return aif_db_finish(db, expire_locked(db, id));
}

/* The claim of claim_once in its transaction: *out (new) gets the *nout jobs taken. */
static enum aif_err
claim_rows(struct aif_db *db, uint64_t worker_id, const char *const *models,
    const int *per_model_free, size_t n_models, int limit,
    const struct aif_claim_lane *lane, int lease_s, struct aif_claimed **out, size_t *nout)
{
	struct aif_dbp p[MAX_IN + 2];
	struct aif_dbrows *rows = NULL;
	size_t order[MAX_IN * 2], k = 0;
	int taken[MAX_IN * 2], crowded = 0;
	enum aif_err err;

	for (int all = 1; all >= 0; all--) {
		/* one query first; per-model queries only when a model's backlog crowded
		   the others out of that one (its rows stay locked by us: no one else
		   takes them meanwhile, and the second query sees them again) */
		aif_dbrows_free(rows);
		rows = NULL;
		*nout = 0;
		if ((err = claim_candidates(db, models, per_model_free, n_models, limit,
		    lane, all, &rows)) != AIF_OK || rows == NULL || rows->nrows == 0 ||
		    rows->nrows > MAX_IN * 2)
			goto out;
		if ((err = claim_expire(db, rows)) != AIF_OK)
			goto out;
		*nout = claim_pick(rows, models, per_model_free, n_models, limit, lane, order, taken,
		    &crowded);
		if (!crowded || *nout == (size_t)limit)
			break;
	}
	if (*nout == 0)
		goto out;
	if ((*out = calloc(*nout, sizeof(**out))) == NULL) {
		err = AIF_NOMEM;
		goto out;
	}
	p[0] = AIF_P_I64(lease_s);
	p[1] = AIF_P_I64(worker_id);
	for (size_t x = 0; x < rows->nrows; x++) {
		if (!taken[order[x]])
			continue;
		if ((err = claimed_from_row(&(*out)[k], rows, order[x])) != AIF_OK)
			goto out;
		p[2 + k] = AIF_P_I64((*out)[k].id);
		k++;
	}
	if ((err = claim_mark(db, p, *nout, *out)) == AIF_OK)
		err = relay_models(db, *out, *nout);
out:
	aif_dbrows_free(rows);
	return err;
}

static enum aif_err
claim_once(struct aif_db *db, uint64_t worker_id, const char *const *models,
    const int *per_model_free, size_t n_models, int limit,
    const struct aif_claim_lane *lane, int lease_s, struct aif_claimed **out, size_t *nout)
{
	struct aif_claimed *jobs = NULL;
	size_t ntake = 0;
	enum aif_err err;

	if (n_models == 0 || n_models > MAX_IN || limit <= 0)
		return AIF_OK;
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	err = claim_rows(db, worker_id, models, per_model_free, n_models,
	    limit > MAX_IN ? MAX_IN : limit, lane, lease_s, &jobs, &ntake);
	if ((err = aif_db_finish(db, err)) != AIF_OK) {
		aif_queue_claimed_free(jobs, ntake);
		return err;
	}
	*out = jobs;
	*nout = ntake;
	return AIF_OK;
}

enum aif_err
aif_queue_claim_from(struct aif_db *db, uint64_t worker_id, const char *const *models,
    const int *per_model_free, size_t n_models, int limit,
    const struct aif_claim_lane *lane, int lease_s, struct aif_claimed **out, size_t *n)
{
	enum aif_err err;

	*out = NULL;
	*n = 0;
	RETRY_CONFLICTS(err, claim_once(db, worker_id, models, per_model_free, n_models,
	    limit, lane, lease_s, out, n));
	return err;
}

enum aif_err
aif_queue_claim(struct aif_db *db, uint64_t worker_id, const char *const *models,
    const int *per_model_free, size_t n_models, int limit, int lease_s,
    struct aif_claimed **out, size_t *n)
{
	static const struct aif_claim_lane all = { .min_priority = AIF_BATCH_PRIORITY,
	    .batch_total = INT_MAX };

	return aif_queue_claim_from(db, worker_id, models, per_model_free, n_models, limit,
	    &all, lease_s, out, n);
}

/* ---- jobs handed to a worker at insert -------------------------------------------- */

/* The parameters of a statement on handed rows: worker_id, then the n ids (p holds
 * 1 + MAX_IN). AIF_TOOBIG when n > MAX_IN. */
static enum aif_err
handed_params(struct aif_dbp *p, uint64_t worker_id, const uint64_t *ids, size_t n)
{
	if (n > MAX_IN)
		return AIF_TOOBIG;
	p[0] = AIF_P_I64(worker_id);
	for (size_t i = 0; i < n; i++)
		p[1 + i] = AIF_P_I64(ids[i]);
	return AIF_OK;
}

enum aif_err
aif_queue_take_handed(struct aif_db *db, uint64_t worker_id, const uint64_t *ids,
    size_t n, struct aif_claimed **out, size_t *nout)
{
	struct aif_dbp p[1 + MAX_IN];
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return AIF_OK;
	if ((err = handed_params(p, worker_id, ids, n)) != AIF_OK)
		return err;
	if ((err = run_in(db, HANDED_COLS " FROM jobs WHERE" HANDED_ROW " AND id IN ", p,
	    1 + n, n, &rows, NULL)) != AIF_OK)
		return err;
	if (rows->nrows > 0 && (*out = calloc(rows->nrows, sizeof(**out))) == NULL)
		err = AIF_NOMEM;
	for (size_t r = 0; err == AIF_OK && r < rows->nrows; r++)
		if ((err = claimed_from_row(&(*out)[(*nout)++], rows, r)) != AIF_OK)
			break;
	aif_dbrows_free(rows);
	if (err == AIF_OK)
		err = relay_models(db, *out, *nout);
	if (err != AIF_OK) {
		aif_queue_claimed_free(*out, *nout);
		*out = NULL;
		*nout = 0;
	}
	return err;
}

/* A handed job given back: what an enqueue writes (queued, never attempted, not
 * started). Its caller's deadline (expires_at) stays while it is ahead; once passed,
 * the caller was told the job goes on (aif-api could not expire a job that looked
 * started), so the job must run: the deadline goes, and no claim ends it unrun. */
#define GIVE_BACK \
	"state = 'queued', attempts = 0, worker_id = NULL, lease_until = NULL," \
	" started_at = NULL, expires_at = IF(expires_at < NOW(6), NULL, expires_at)"

enum aif_err
aif_queue_release_handed(struct aif_db *db, uint64_t worker_id, const uint64_t *ids,
    size_t n, size_t *released)
{
	struct aif_dbp p[1 + MAX_IN];
	uint64_t affected = 0;
	enum aif_err err;

	*released = 0;
	if (n == 0)
		return AIF_OK;
	if ((err = handed_params(p, worker_id, ids, n)) != AIF_OK)
		return err;
	/* a conflict (a deadlock with a concurrent batch's statements): once more, not
	   longer (a lock wait times out slowly; its caller waits) */
	for (int try = 0; try < 2; try++)
		if ((err = run_in(db, "UPDATE jobs SET " GIVE_BACK " WHERE" HANDED_ROW
		    " AND id IN ", p, 1 + n, n, NULL, &affected)) != AIF_CONFLICT)
			break;
	*released = (size_t)affected;
	return err;
}

/* Handed rows more than ? µs old whose worker stopped. A stopped worker drained first:
 * every call it started ended (committed, or released back at the drain's deadline),
 * so a row still handed to it was never started. Not a draining worker (its calls
 * run), not one that went quiet or died without stopping: a taken row looks like an
 * untaken one (taking writes nothing), so those are left to their leases and the
 * reaper, like claimed jobs. */
#define STALE_HANDED \
	"UPDATE jobs FORCE INDEX (ix_jobs_lease) SET " GIVE_BACK \
	" WHERE state = 'running' AND attempts = 1 AND lease_token = 1" \
	" AND started_at = created_at AND created_at < NOW(6) - INTERVAL ? MICROSECOND" \
	" AND worker_id IN (SELECT id FROM workers WHERE state = 'stopped')"

enum aif_err
aif_queue_release_stale_handed(struct aif_db *db, const uint64_t *ids, size_t n,
    int older_ms, size_t *released)
{
	enum { HEAD = 1 };	/* the parameters of STALE_HANDED */
	struct aif_dbp p[HEAD + MAX_IN];
	uint64_t affected = 0;
	enum aif_err err;

	*released = 0;
	if (ids != NULL && n == 0)
		return AIF_OK;
	if (n > MAX_IN)
		return AIF_TOOBIG;
	p[0] = AIF_P_I64((int64_t)older_ms * 1000);
	for (size_t i = 0; ids != NULL && i < n; i++)
		p[HEAD + i] = AIF_P_I64(ids[i]);
	err = ids == NULL ? aif_db_exec(db, STALE_HANDED, p, HEAD, &affected, NULL) :
	    run_in(db, STALE_HANDED " AND id IN ", p, HEAD + n, n, NULL, &affected);
	*released = (size_t)affected;
	return err;
}

enum aif_err
aif_queue_handed_orphans(struct aif_db *db, uint64_t worker_id, int older_ms,
    uint64_t after, uint64_t *ids, size_t cap, size_t *n)
{
	static const char sql[] = "SELECT id FROM jobs FORCE INDEX (ix_jobs_lease) WHERE"
	    HANDED_ROW " AND created_at < NOW(6) - INTERVAL ? MICROSECOND AND id > ?"
	    " ORDER BY id LIMIT ?";
	struct aif_dbp p[] = { AIF_P_I64(worker_id), AIF_P_I64((int64_t)older_ms * 1000),
	    AIF_P_I64((int64_t)after), AIF_P_I64((int64_t)cap) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*n = 0;
	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
		return err;
	for (size_t r = 0; r < rows->nrows && *n < cap; r++)
		ids[(*n)++] = (uint64_t)aif_dbrows_i64(rows, r, 0);
	aif_dbrows_free(rows);
	return AIF_OK;
}

/* ---- budgets and limits of finished jobs ------------------------------------------- */

/* The subjects of job s's tokens-per-minute charge, and how far off that estimate was:
 * fills d[0..2). */
static void
token_deltas(struct aif_gcra_delta *d, const struct aif_job_success *s)
{
	int64_t delta = aif_sat_add(aif_sat_add(s->prompt_tokens, s->completion_tokens),
	    -s->tokens_charged);
	const char *lane = s->batch ? "batch:" : "";

	snprintf(d[0].subject, sizeof(d[0].subject), "key:%" PRIu64 ":%stpm", s->api_key_id,
	    lane);
	snprintf(d[1].subject, sizeof(d[1].subject), "tenant:%.150s:%stpm", s->tenant, lane);
	d[0].tokens = d[1].tokens = delta;
}

/* The tokens-per-minute charges of the committed jobs of s[0..n) were estimates:
 * corrects them to the real counts, one statement per 32 distinct subjects. */
static enum aif_err
correct_tokens(struct aif_db *db, const struct aif_job_success *s, size_t n)
{
	struct aif_gcra_delta *d;
	size_t k = 0;
	enum aif_err err;

	if (n == 0)
		return AIF_OK;
	if ((d = calloc(2 * n, sizeof(*d))) == NULL)
		return AIF_NOMEM;
	for (size_t i = 0; i < n; i++)
		if (s[i].committed && s[i].tokens_charged > 0) {
			token_deltas(&d[k], &s[i]);
			k += 2;
		}
	err = k > 0 ? aif_gcra_correct_each(db, d, &k) : AIF_OK;
	free(d);
	return err;
}

/* ---- success ------------------------------------------------------------------------ */

/* Finds (and locks) the jobs of s[base..end) that still hold their lease: sets
 * s[i].committed and returns how many in *mine. */
static enum aif_err
succeed_lock(struct aif_db *db, struct aif_job_success *s, size_t base, size_t end,
    size_t *mine)
{
	enum { LK_ID, LK_TOKEN };
	struct aif_dbp p[SUCCEED_ROWS];
	struct aif_sqlbuf sql = { 0 };
	struct aif_dbrows *rows = NULL;
	size_t k = 0;
	enum aif_err err;

	*mine = 0;
	/* by primary key; the fencing token is compared here, under the row locks */
	aif_sqlbuf_add(&sql, "SELECT id, lease_token FROM jobs WHERE state = 'running'"
	    " AND id IN (");
	aif_sqlbuf_marks(&sql, end - base);
	aif_sqlbuf_add(&sql, ") FOR UPDATE");
	for (size_t i = base; i < end; i++) {
		s[i].committed = 0;
		p[k++] = AIF_P_I64(s[i].id);
	}
	if ((err = aif_sqlbuf_status(&sql)) != AIF_OK ||
	    (err = aif_db_query(db, aif_sqlbuf_get(&sql), p, k, &rows)) != AIF_OK)
		goto out;
	for (size_t r = 0; r < rows->nrows; r++) {
		uint64_t id = (uint64_t)aif_dbrows_i64(rows, r, LK_ID);
		uint64_t token = (uint64_t)aif_dbrows_i64(rows, r, LK_TOKEN);
		for (size_t i = base; i < end; i++)
			if (s[i].id == id && s[i].lease_token == token && !s[i].committed) {
				s[i].committed = 1;
				(*mine)++;
			}
	}
	for (size_t i = base; i < end; i++)
		if (!s[i].committed)
			aif_warn("msg=\"lease lost, result dropped\" job=%" PRIu64, s[i].id);
out:
	aif_dbrows_free(rows);
	aif_sqlbuf_free(&sql);
	return err;
}

/* Marks the jobs of s[base..end) that still hold their lease as succeeded, one UPDATE
 * for them all, and sets s[i].committed. fenced = 1 (the common case: every lease
 * held): the UPDATE itself compares each job's fencing token and AIF_NOTFOUND says
 * one did not match (the caller rolls back and tries again with fenced = 0); fenced =
 * 0: one SELECT ... FOR UPDATE finds (and locks) those still held first. Runs inside
 * the caller's transaction. */
static enum aif_err
succeed_rows(struct aif_db *db, struct aif_job_success *s, size_t base, size_t end,
    int fenced)
{
	struct aif_dbp p[7 * SUCCEED_ROWS];	/* 7 per job: answer, replica, id, token */
	struct aif_sqlbuf sql = { 0 };
	size_t k = 0, mine = 0;
	uint64_t affected = 0;
	enum aif_err err;

	if (end - base > SUCCEED_ROWS)
		return AIF_TOOBIG;
	if (fenced) {
		for (size_t i = base; i < end; i++)
			s[i].committed = 1;
		mine = end - base;
	} else if ((err = succeed_lock(db, s, base, end, &mine)) != AIF_OK || mine == 0) {
		return err;
	}
	/* one UPDATE for all of them: exactly these change (locked, or fenced here) */
	/* worker_id stays: with replica it tells who ran the last attempt */
	aif_sqlbuf_add(&sql, "UPDATE jobs SET state = 'succeeded', http_status = 200,"
	    " finished_at = NOW(6), lease_until = NULL,"
	    " request_body = " FINAL_BODY ", " HOLD_CAPTURED ", response_body = CASE id");
	for (size_t i = base; i < end; i++) {
		if (!s[i].committed)
			continue;
		aif_sqlbuf_add(&sql, " WHEN ? THEN ?");
		p[k++] = AIF_P_I64(s[i].id);
		p[k++] = s[i].zero_retention ? AIF_P_NULL() : AIF_P_STR(s[i].response_body);
	}
	aif_sqlbuf_add(&sql, " END, replica = CASE id");
	for (size_t i = base; i < end; i++) {
		if (!s[i].committed)
			continue;
		aif_sqlbuf_add(&sql, " WHEN ? THEN ?");
		p[k++] = AIF_P_I64(s[i].id);
		p[k++] = AIF_P_STR(s[i].replica);
	}
	aif_sqlbuf_add(&sql, " END WHERE id IN (");
	aif_sqlbuf_marks(&sql, mine);
	aif_sqlbuf_add(&sql, ")");
	for (size_t i = base; i < end; i++)
		if (s[i].committed)
			p[k++] = AIF_P_I64(s[i].id);
	if (fenced) {
		aif_sqlbuf_add(&sql, " AND state = 'running' AND lease_token = CASE id");
		for (size_t i = base; i < end; i++) {
			aif_sqlbuf_add(&sql, " WHEN ? THEN ?");
			p[k++] = AIF_P_I64(s[i].id);
			p[k++] = AIF_P_I64((int64_t)s[i].lease_token);
		}
		aif_sqlbuf_add(&sql, " END");
	}
	if ((err = aif_sqlbuf_status(&sql)) == AIF_OK)
		err = aif_db_exec(db, aif_sqlbuf_get(&sql), p, k, &affected, NULL);
	aif_sqlbuf_free(&sql);
	if (err == AIF_OK && fenced && affected != mine)
		return AIF_NOTFOUND;	/* a lease was lost: sort it out under locks */
	return err;
}

/* What a job is billed: its cost, but never more than its budget hold. */
static int64_t
billed(const struct aif_job_success *s)
{
	if (s->cost_micros < 0)
		return 0;
	return aif_job_over_hold(s) ? s->budget_hold_micros : s->cost_micros;
}

/* A cost over its hold (an engine's usage or a price raised since admission): the
 * capture stops at the hold and the excess is recorded, never billed. */
static enum aif_err
record_overage(struct aif_db *db, const struct aif_job_success *s)
{
	static const char ev[] =
	    "INSERT INTO job_events (job_id, event, attempt, worker_id, detail)"
	    " VALUES (?, 'budget_overage', ?, ?, CONCAT('cost ', ?, ' micros over the hold"
	    " of ', ?, ': not billed'))";
	struct aif_dbp p[] = { AIF_P_I64(s->id), AIF_P_I64(s->attempt),
	    AIF_P_I64(s->worker_id), AIF_P_I64(aif_sat_add(s->cost_micros,
	    -s->budget_hold_micros)), AIF_P_I64(s->budget_hold_micros) };

	return AIF_DB_EXEC(db, ev, p, NULL, NULL);
}

/* The budget a job that used the engine owes, in its transaction: the capture (at most
 * the hold; the excess an event). The statement that ended the job marked its row's
 * holds captured (HOLD_CAPTURED); the caller corrects its TPM charge. */
static enum aif_err
settle_billing(struct aif_db *db, const struct aif_job_success *s)
{
	enum aif_err err;

	if (s->budget_hold_micros > 0 &&
	    (err = aif_ledger_capture(db, s->id, s->cost_micros)) != AIF_OK)
		return err;
	if (aif_job_over_hold(s) && (err = record_overage(db, s)) != AIF_OK)
		return err;
	return AIF_OK;
}

/* The columns of a usage row, in the order of usage_params(); its entity counts are
 * the job's, as the worker read them with the job (aif_claimed.pii_counts). */
#define USAGE_INSERT \
	"INSERT INTO `usage` (job_id, api_key_id, tenant, model, engine, replica," \
	" prompt_tokens, completion_tokens, total_tokens, cost_micros, queue_ms," \
	" engine_ms, pii_counts) VALUES "
#define USAGE_ROW \
	"(?,?,?,?,?,?,?,?,?,?,?,?,?)"
enum { USAGE_COLS = 13 };

/* Fills q[0..USAGE_COLS) with the usage row of job s (borrowed). The usage columns are
 * INT UNSIGNED: one absurd count from an engine must not roll back a whole batch. */
static void
usage_params(struct aif_dbp *q, const struct aif_job_success *s)
{
	struct aif_dbp row[] = {
		AIF_P_I64(s->id), AIF_P_I64(s->api_key_id), AIF_P_STR(s->tenant),
		AIF_P_STR(s->model), AIF_P_STR(s->engine), AIF_P_STR(s->replica),
		AIF_P_I64(u32(s->prompt_tokens)), AIF_P_I64(u32(s->completion_tokens)),
		AIF_P_I64(u32(aif_sat_add(s->prompt_tokens, s->completion_tokens))),
		AIF_P_I64(billed(s)), AIF_P_I64(u32(s->queue_ms)), AIF_P_I64(u32(s->engine_ms)),
		AIF_P_STR(s->pii_counts),
	};
	_Static_assert(sizeof(row) / sizeof(row[0]) == USAGE_COLS, "usage columns");

	memcpy(q, row, sizeof(row));
}

/* The usage rows and `succeeded` events of the committed jobs of s[base..end). */
static enum aif_err
succeed_usage(struct aif_db *db, const struct aif_job_success *s, size_t base, size_t end)
{
	enum { ECOLS = 4 };
	struct aif_dbp p[USAGE_COLS * USAGE_ROWS];
	struct aif_sqlbuf sql = { 0 };
	size_t k = 0;
	enum aif_err err = AIF_OK;

	aif_sqlbuf_add(&sql, USAGE_INSERT);
	for (size_t i = base; i < end; i++) {
		if (!s[i].committed)
			continue;
		aif_sqlbuf_add(&sql, k ? "," USAGE_ROW : USAGE_ROW);
		usage_params(&p[k * USAGE_COLS], &s[i]);
		k++;
	}
	if (k == 0)
		goto out;
	if ((err = aif_sqlbuf_status(&sql)) != AIF_OK ||
	    (err = aif_db_exec(db, aif_sqlbuf_get(&sql), p, k * USAGE_COLS, NULL, NULL)) !=
	    AIF_OK)
		goto out;
	aif_sqlbuf_reset(&sql);
	aif_sqlbuf_add(&sql, "INSERT INTO job_events (job_id, event, attempt, worker_id,"
	    " replica) VALUES ");
	k = 0;
	for (size_t i = base; i < end; i++) {
		/* a first claim's success is the job row's finished_at (job_timeline) */
		if (!s[i].committed || s[i].first_claim)
			continue;
		struct aif_dbp row[] = { AIF_P_I64(s[i].id), AIF_P_I64(s[i].attempt),
		    AIF_P_I64(s[i].worker_id), AIF_P_STR(s[i].replica) };
		_Static_assert(sizeof(row) / sizeof(row[0]) == ECOLS, "event columns");
		aif_sqlbuf_add(&sql, k ? ",(?,'succeeded',?,?,?)" : "(?,'succeeded',?,?,?)");
		memcpy(&p[k * ECOLS], row, sizeof(row));
		k++;
	}
	if (k > 0 && (err = aif_sqlbuf_status(&sql)) == AIF_OK)
		err = aif_db_exec(db, aif_sqlbuf_get(&sql), p, k * ECOLS, NULL, NULL);
out:
	aif_sqlbuf_free(&sql);
	return err;
}

/* The work of succeed_once in its transaction (fenced: succeed_rows). */
static enum aif_err
succeed_all(struct aif_db *db, struct aif_job_success *s, size_t n, int fenced)
{
	enum aif_err err;

	for (size_t base = 0; base < n; base += SUCCEED_ROWS)
		if ((err = succeed_rows(db, s, base, base + SUCCEED_ROWS < n ?
		    base + SUCCEED_ROWS : n, fenced)) != AIF_OK)
			return err;
	for (size_t i = 0; i < n; i++)
		if (s[i].committed && (err = settle_billing(db, &s[i])) != AIF_OK)
			return err;
	if ((err = correct_tokens(db, s, n)) != AIF_OK)
		return err;
	for (size_t base = 0; base < n; base += USAGE_ROWS)
		if ((err = succeed_usage(db, s, base, base + USAGE_ROWS < n ?
		    base + USAGE_ROWS : n)) != AIF_OK)
			return err;
	return AIF_OK;
}

/* One transaction of succeed_once. */
static enum aif_err
succeed_tx(struct aif_db *db, struct aif_job_success *s, size_t n, int fenced)
{
	enum aif_err err;

	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = aif_db_finish(db, succeed_all(db, s, n, fenced))) != AIF_OK)
		for (size_t i = 0; i < n; i++)
			s[i].committed = 0;
	return err;
}

/* Commits the successes s[0..n): first with the fencing tokens compared in the UPDATE
 * (no locking read), and only when a lease was lost again with the jobs still held
 * found under locks, so the others commit without the lost ones. */
static enum aif_err
succeed_once(struct aif_db *db, struct aif_job_success *s, size_t n)
{
	enum aif_err err = succeed_tx(db, s, n, 1);

	return err == AIF_NOTFOUND ? succeed_tx(db, s, n, 0) : err;
}

/* succeed_once with deadlock retries. */
static enum aif_err
succeed_retried(struct aif_db *db, struct aif_job_success *s, size_t n)
{
	enum aif_err err;

	RETRY_CONFLICTS(err, succeed_once(db, s, n));
	return err;
}

/* An error that comes from the data of the transaction, not from the database being
 * away or busy: committing its jobs one by one finds the one it came from. */
static int
data_error(enum aif_err err)
{
	return err == AIF_DB || err == AIF_TOOBIG || err == AIF_INVALID;
}

enum aif_err
aif_queue_succeed(struct aif_db *db, struct aif_job_success *s, size_t n)
{
	enum aif_err err, first = AIF_OK;
	size_t base = 0, end, bytes;

	for (size_t i = 0; i < n; i++)
		s[i].committed = s[i].unstorable = 0;
	while (base < n) {
		/* a transaction of at most AIF_SUCCEED_BATCH_BYTES of answers */
		bytes = s[base].response_body ? strlen(s[base].response_body) : 0;
		for (end = base + 1; end < n; end++) {
			size_t b = s[end].response_body ? strlen(s[end].response_body) : 0;
			if (bytes + b > AIF_SUCCEED_BATCH_BYTES)
				break;
			bytes += b;
		}
		err = succeed_retried(db, s + base, end - base);
		if (err != AIF_OK && data_error(err) && end - base > 1) {
			aif_warn("msg=\"a success batch failed on its data; committing its"
			    " jobs one by one\" jobs=%zu error=\"%s\"", end - base,
			    aif_strerror(err));
			err = AIF_OK;
			for (size_t i = base; i < end; i++) {
				enum aif_err e1 = succeed_retried(db, &s[i], 1);
				if (e1 != AIF_OK && data_error(e1))
					s[i].unstorable = 1;
				else if (e1 != AIF_OK && first == AIF_OK)
					first = e1;
			}
		} else if (err != AIF_OK && data_error(err)) {
			s[base].unstorable = 1;
		} else if (err != AIF_OK && first == AIF_OK) {
			first = err;
		}
		base = end;
	}
	return first;
}

/* ---- failure, cancellation, events ------------------------------------------------ */

/* The job row of a failed attempt: back to queued after the delay, or final (its holds
 * marked released). AIF_NOTFOUND when the lease was lost. */
static enum aif_err
fail_update(struct aif_db *db, const struct aif_job_failure *f)
{
	static const char upd_retry[] =
	    "UPDATE jobs SET state = 'queued', run_after = NOW(6) + INTERVAL ? MICROSECOND,"
	    " lease_until = NULL, worker_id = NULL, replica = ?, error_type = ?,"
	    " error_code = ?, error_message = ?"
	    " WHERE id = ? AND lease_token = ? AND state = 'running'";
	static const char upd_fail[] =
	    "UPDATE jobs SET state = ?, finished_at = NOW(6), lease_until = NULL,"
	    " worker_id = NULL, replica = ?, http_status = ?, error_type = ?,"
	    " error_code = ?, error_message = ?, request_body = " FINAL_BODY ","
	    " " HOLD_RELEASED
	    " WHERE id = ? AND lease_token = ? AND state = 'running'";

	if (f->retry) {
		struct aif_dbp p[] = {
			AIF_P_I64(f->delay_ms * 1000), AIF_P_STR(f->replica),
			AIF_P_STR(f->error_type), AIF_P_STR(f->error_code),
			AIF_P_STR(f->error_message), AIF_P_I64(f->id),
			AIF_P_I64(f->lease_token),
		};
		return exec_fenced(db, upd_retry, p, AIF_NELEM(p));
	}
	struct aif_dbp p[] = {
		AIF_P_STR(f->ncompensations > 0 ? "compensating" : "failed"),
		AIF_P_STR(f->replica), AIF_P_I64(f->http_status),
		AIF_P_STR(f->error_type), AIF_P_STR(f->error_code),
		AIF_P_STR(f->error_message), AIF_P_I64(f->id),
		AIF_P_I64(f->lease_token),
	};
	return exec_fenced(db, upd_fail, p, AIF_NELEM(p));
}

/* The work of fail_once in its transaction. */
static enum aif_err
fail_rows(struct aif_db *db, const struct aif_job_failure *f)
{
	static const char ins_ev[] =
	    "INSERT INTO job_events (job_id, event, attempt, worker_id, replica, detail)"
	    " VALUES (?, ?, ?, ?, ?, ?)";
	enum aif_err err;

	if ((err = fail_update(db, f)) != AIF_OK)
		return err;
	if (!f->retry && f->budget_hold_micros > 0 &&
	    ((err = aif_ledger_release(db, f->id)) != AIF_OK ||
	    (err = aif_queue_event(db, f->id, "compensation_budget_released",
	    "the budget hold was released")) != AIF_OK))
		return err;
	struct aif_dbp pe[] = {
		AIF_P_I64(f->id), AIF_P_STR("attempt_failed"), AIF_P_I64(f->attempt),
		AIF_P_I64(f->worker_id), AIF_P_STR(f->replica), AIF_P_STR(f->event_detail),
	};
	if ((err = AIF_DB_EXEC(db, ins_ev, pe, NULL, NULL)) != AIF_OK)
		return err;
	pe[1] = AIF_P_STR(f->retry ? "retry_scheduled" : f->ncompensations > 0 ?
	    "compensating" : "failed");
	if ((err = AIF_DB_EXEC(db, ins_ev, pe, NULL, NULL)) != AIF_OK)
		return err;
	if (!f->retry && f->ncompensations > 0)
		return aif_queue_schedule_compensations(db, f->id, f->compensations,
		    f->ncompensations);
	return AIF_OK;
}

static enum aif_err
fail_once(struct aif_db *db, const struct aif_job_failure *f)
{
	enum aif_err err;

	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	return aif_db_finish(db, fail_rows(db, f));
}

enum aif_err
aif_queue_fail(struct aif_db *db, const struct aif_job_failure *f)
{
	enum aif_err err;

	RETRY_CONFLICTS(err, fail_once(db, f));
	return err;
}

/* The start of the UPDATE that cancels a job (its error message a parameter). */
#define CANCEL_SET \
	"UPDATE jobs SET state = 'cancelled', finished_at = NOW(6), lease_until = NULL," \
	" worker_id = NULL, http_status = 409, error_type = 'cancelled'," \
	" error_code = 'job_cancelled', error_message = ?, request_body = " FINAL_BODY

/* The work of aif_queue_cancel in its transaction. */
static enum aif_err
cancel_rows(struct aif_db *db, uint64_t id, uint64_t lease_token, const char *detail,
    char *doorbell, size_t doorbell_cap)
{
	static const char sel[] = "SELECT budget_state = 'held' FROM jobs WHERE id = ?"
	    " FOR UPDATE";
	static const char upd[] = CANCEL_SET ", " HELD_RELEASED
	    " WHERE id = ? AND (state = 'queued' OR (state = 'running' AND (? = 0 OR"
	    " lease_token = ?)))";
	struct aif_dbp p[] = {
		AIF_P_STR(detail), AIF_P_I64(id), AIF_P_I64(lease_token),
		AIF_P_I64(lease_token),
	};
	enum aif_err err;
	int held = 0;

	/* the row locked first: its worker (read next) cannot change until the end */
	if ((err = lock_held(db, sel, id, &held)) != AIF_OK)
		return err;
	if (doorbell != NULL && doorbell_cap > 0 &&
	    (err = aif_jobs_worker_doorbell(db, id, doorbell, doorbell_cap)) != AIF_OK)
		return err;
	if ((err = exec_fenced(db, upd, p, AIF_NELEM(p))) != AIF_OK ||
	    (err = aif_queue_event(db, id, "cancelled", detail)) != AIF_OK)
		return err;
	return held ? aif_ledger_release(db, id) : AIF_OK;
}

enum aif_err
aif_queue_cancel_doorbell(struct aif_db *db, uint64_t id, uint64_t lease_token,
    const char *detail, char *doorbell, size_t doorbell_cap)
{
	enum aif_err err;

	if (doorbell != NULL && doorbell_cap > 0)
		doorbell[0] = '\0';
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = aif_db_finish(db, cancel_rows(db, id, lease_token, detail, doorbell,
	    doorbell_cap))) != AIF_OK && doorbell != NULL && doorbell_cap > 0)
		doorbell[0] = '\0';
	return err;
}

enum aif_err
aif_queue_cancel(struct aif_db *db, uint64_t id, uint64_t lease_token, const char *detail)
{
	return aif_queue_cancel_doorbell(db, id, lease_token, detail, NULL, 0);
}

/* The work of aif_queue_cancel_billed in its transaction. */
static enum aif_err
cancel_billed_rows(struct aif_db *db, const struct aif_job_success *u, const char *detail)
{
	static const char upd[] = CANCEL_SET ", " HOLD_CAPTURED
	    " WHERE id = ? AND state = 'running' AND lease_token = ?";
	static const char ev[] =
	    "INSERT INTO job_events (job_id, event, attempt, worker_id, detail)"
	    " VALUES (?, 'cancelled', ?, ?, ?)";
	static const char usage[] = USAGE_INSERT USAGE_ROW;
	struct aif_dbp pu[] = { AIF_P_STR(detail), AIF_P_I64(u->id),
	    AIF_P_I64(u->lease_token) };
	struct aif_dbp pe[] = { AIF_P_I64(u->id), AIF_P_I64(u->attempt),
	    AIF_P_I64(u->worker_id), AIF_P_STR(detail) };
	struct aif_dbp pr[USAGE_COLS];
	struct aif_gcra_delta d[2];
	size_t nd = AIF_NELEM(d);
	enum aif_err err;

	usage_params(pr, u);
	if ((err = exec_fenced(db, upd, pu, AIF_NELEM(pu))) != AIF_OK ||
	    (err = AIF_DB_EXEC(db, ev, pe, NULL, NULL)) != AIF_OK ||
	    (err = AIF_DB_EXEC(db, usage, pr, NULL, NULL)) != AIF_OK ||
	    (err = settle_billing(db, u)) != AIF_OK)
		return err;
	if (u->tokens_charged <= 0)
		return AIF_OK;
	token_deltas(d, u);
	return aif_gcra_correct_each(db, d, &nd);
}

enum aif_err
aif_queue_cancel_billed(struct aif_db *db, const struct aif_job_success *u,
    const char *detail)
{
	enum aif_err err;

	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	return aif_db_finish(db, cancel_billed_rows(db, u, detail));
}

enum aif_err
aif_queue_event(struct aif_db *db, uint64_t id, const char *event, const char *detail)
{
	static const char sql[] =
	    "INSERT INTO job_events (job_id, event, attempt, detail)"
	    " SELECT id, ?, attempts, ? FROM jobs WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_STR(event), AIF_P_STR(detail), AIF_P_I64(id) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

enum aif_err
aif_queue_schedule_compensations(struct aif_db *db, uint64_t id,
    const struct aif_compensation *c, size_t n)
{
	static const char ins[] =
	    "INSERT IGNORE INTO job_compensations (job_id, step_no, name, method, url,"
	    " body_template, timeout_ms, max_attempts, initial_interval_ms, backoff_pct,"
	    " maximum_interval_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?)";
	enum aif_err err;
	char detail[128];

	for (size_t k = 0; k < n; k++) {
		const struct aif_compensation *s = &c[n - 1 - k];	/* reverse order */
		struct aif_dbp p[] = {
			AIF_P_I64(id), AIF_P_I64(k + 1), AIF_P_STR(s->name), AIF_P_STR(s->method),
			AIF_P_STR(s->url), AIF_P_STR(s->body), AIF_P_I64(s->timeout_ms),
			AIF_P_I64(s->retry.maximum_attempts),
			AIF_P_I64(s->retry.initial_interval_ms),
			AIF_P_I64(s->retry.backoff_coefficient_pct),
			AIF_P_I64(s->retry.maximum_interval_ms),
		};
		if ((err = AIF_DB_EXEC(db, ins, p, NULL, NULL)) != AIF_OK)
			return err;
	}
	snprintf(detail, sizeof(detail), "%zu compensation step(s), last declared first", n);
	return aif_queue_event(db, id, "compensation_scheduled", detail);
}

/* ---- leases ------------------------------------------------------------------------ */

enum aif_err
aif_queue_extend_leases(struct aif_db *db, uint64_t worker_id, const uint64_t *ids,
    size_t n, int lease_s)
{
	struct aif_dbp p[2 + MAX_IN];
	enum aif_err err = AIF_OK;

	for (size_t base = 0; base < n && err == AIF_OK; base += MAX_IN) {
		size_t k = n - base < MAX_IN ? n - base : MAX_IN;
		p[0] = AIF_P_I64(lease_s);
		p[1] = AIF_P_I64(worker_id);
		for (size_t i = 0; i < k; i++)
			p[2 + i] = AIF_P_I64(ids[base + i]);
		err = exec_in(db, "UPDATE jobs SET lease_until = NOW(6) + INTERVAL ? SECOND"
		    " WHERE worker_id = ? AND state = 'running' AND id IN ", p, 2 + k, k);
	}
	return err;
}

/* The work of aif_queue_fail_unconfigured in its transaction: sel (parameters p[0..np))
 * picks and locks the jobs, which fail as a batch; *failed gets how many. */
static enum aif_err
unconfigured_rows(struct aif_db *db, const char *sel, const struct aif_dbp *p, size_t np,
    size_t *failed)
{
	enum { UC_ID, UC_HELD };
	struct aif_dbp q[MAX_IN];
	struct aif_dbrows *rows = NULL;
	size_t k;
	enum aif_err err;

	if ((err = aif_db_query(db, sel, p, np, &rows)) != AIF_OK)
		return err;
	if ((k = rows->nrows) == 0 || k > MAX_IN)
		goto out;
	for (size_t r = 0; r < k; r++)
		q[r] = AIF_P_I64(aif_dbrows_i64(rows, r, UC_ID));
	if ((err = exec_in(db, "INSERT INTO job_events (job_id, event, attempt, detail)"
	    " SELECT id, 'failed', attempts, 'model_not_found: the model left the"
	    " configuration' FROM jobs WHERE id IN ", q, k, k)) != AIF_OK ||
	    (err = exec_in(db, "UPDATE jobs SET state = 'failed', finished_at = NOW(6),"
	    " http_status = 404, error_type = 'invalid_request_error',"
	    " error_code = 'model_not_found',"
	    " error_message = 'The model is no longer configured.',"
	    " request_body = " FINAL_BODY ", " HELD_RELEASED
	    " WHERE state = 'queued' AND id IN ", q, k, k)) != AIF_OK)
		goto out;
	for (size_t r = 0; r < k; r++)
		if (aif_dbrows_i64(rows, r, UC_HELD) == 1 &&
		    (err = aif_ledger_release(db, (uint64_t)q[r].i)) != AIF_OK)
			goto out;
	*failed = k;
out:
	aif_dbrows_free(rows);
	return err;
}

enum aif_err
aif_queue_fail_unconfigured(struct aif_db *db, const char *const *models, size_t n,
    int grace_s, int limit, size_t *failed)
{
	struct aif_dbp *p;
	struct aif_sqlbuf sql = { 0 };
	enum aif_err err;

	*failed = 0;
	if (n == 0 || limit <= 0)
		return AIF_INVALID;
	if ((p = calloc(n + 2, sizeof(*p))) == NULL)
		return AIF_NOMEM;
	for (size_t i = 0; i < n; i++)
		p[i] = AIF_P_STR(models[i]);
	p[n] = AIF_P_I64((int64_t)grace_s * 1000000);
	p[n + 1] = AIF_P_I64(limit > MAX_IN ? MAX_IN : limit);
	aif_sqlbuf_add(&sql, "SELECT id, budget_state = 'held' FROM jobs"
	    " WHERE state = 'queued' AND kind <> 'pipeline' AND model NOT IN (");
	aif_sqlbuf_marks(&sql, n);
	aif_sqlbuf_add(&sql, ") AND created_at < NOW(6) - INTERVAL ? MICROSECOND"
	    " LIMIT ? FOR UPDATE SKIP LOCKED");
	if ((err = aif_sqlbuf_status(&sql)) == AIF_OK && (err = aif_db_begin(db)) == AIF_OK &&
	    (err = aif_db_finish(db, unconfigured_rows(db, aif_sqlbuf_get(&sql), p, n + 2,
	    failed))) != AIF_OK)
		*failed = 0;
	aif_sqlbuf_free(&sql);
	free(p);
	return err;
}

enum aif_err
aif_queue_release(struct aif_db *db, uint64_t worker_id, size_t *n)
{
	static const char ev[] =
	    "INSERT INTO job_events (job_id, event, attempt, worker_id, detail)"
	    " SELECT id, 'released', attempts, worker_id, 'worker stopped before the"
	    " attempt finished' FROM jobs WHERE worker_id = ? AND state = 'running'";
	static const char upd[] =
	    "UPDATE jobs SET state = 'queued', lease_until = NULL, worker_id = NULL,"
	    " attempts = IF(attempts > 0, attempts - 1, 0)"
	    " WHERE worker_id = ? AND state = 'running'";
	struct aif_dbp p[] = { AIF_P_I64(worker_id) };
	uint64_t affected = 0;
	enum aif_err err;

	*n = 0;
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = AIF_DB_EXEC(db, ev, p, NULL, NULL)) == AIF_OK)
		err = AIF_DB_EXEC(db, upd, p, &affected, NULL);
	if ((err = aif_db_finish(db, err)) == AIF_OK)
		*n = (size_t)affected;
	return err;
}

/* The columns of the reaper's SELECT (in reap_rows). */
enum { RP_ID, RP_FINAL, RP_HELD, RP_MODEL };

/* The compensations of the jobs the reaper failed for good, whose model declares some
 * (cfg may be NULL): rows[0..k) gives each reaped job's id, whether it ran out of
 * attempts and its model. */
static enum aif_err
reap_compensate(struct aif_db *db, const struct aif_config *cfg,
    const struct aif_dbrows *rows, size_t k)
{
	const struct aif_model *m[MAX_IN];
	struct aif_dbp q[MAX_IN];
	size_t nc = 0;
	enum aif_err err;

	for (size_t i = 0; i < k && cfg != NULL; i++) {
		const char *model = aif_dbrows_get(rows, i, RP_MODEL);
		if (aif_dbrows_i64(rows, i, RP_FINAL) != 1 || model == NULL ||
		    (m[nc] = aif_cfg_model(cfg, model)) == NULL || m[nc]->ncompensations == 0)
			continue;
		q[nc++] = AIF_P_I64(aif_dbrows_i64(rows, i, RP_ID));
	}
	if (nc == 0)
		return AIF_OK;
	if ((err = exec_in(db, "UPDATE jobs SET state = 'compensating'"
	    " WHERE state = 'failed' AND id IN ", q, nc, nc)) != AIF_OK)
		return err;
	for (size_t i = 0; i < nc; i++)
		if ((err = aif_queue_schedule_compensations(db, (uint64_t)q[i].i,
		    m[i]->compensations, m[i]->ncompensations)) != AIF_OK)
			return err;
	return AIF_OK;
}

/* The work of aif_queue_reap in its transaction: *n gets how many jobs it reaped. */
static enum aif_err
reap_rows(struct aif_db *db, const struct aif_config *cfg, int limit, size_t *n)
{
	static const char sel[] =
	    "SELECT id, attempts >= max_attempts, budget_state = 'held', model"
	    " FROM jobs FORCE INDEX (ix_jobs_lease)"
	    " WHERE state = 'running' AND lease_until < NOW(6)"
	    " ORDER BY lease_until LIMIT ? FOR UPDATE SKIP LOCKED";
	struct aif_dbp pl[] = { AIF_P_I64(limit) };
	struct aif_dbp p[MAX_IN];
	struct aif_dbrows *rows = NULL;
	size_t k;
	enum aif_err err;

	if ((err = AIF_DB_QUERY(db, sel, pl, &rows)) != AIF_OK)
		return err;
	if ((k = rows->nrows) == 0 || k > MAX_IN)
		goto out;
	for (size_t i = 0; i < k; i++)
		p[i] = AIF_P_I64(aif_dbrows_i64(rows, i, RP_ID));
	if ((err = exec_in(db, "INSERT INTO job_events (job_id, event, attempt, worker_id,"
	    " detail) SELECT id, 'lease_expired', attempts, worker_id,"
	    " IF(attempts < max_attempts, 'requeued', 'out of attempts')"
	    " FROM jobs WHERE id IN ", p, k, k)) != AIF_OK ||
	    (err = exec_in(db, "UPDATE jobs SET lease_until = NULL, worker_id = NULL,"
	    " finished_at = IF(attempts < max_attempts, NULL, NOW(6)),"
	    " http_status = IF(attempts < max_attempts, NULL, 503),"
	    " error_type = IF(attempts < max_attempts, error_type, 'server_error'),"
	    " error_code = IF(attempts < max_attempts, error_code, 'lease_expired'),"
	    " error_message = IF(attempts < max_attempts, error_message,"
	    " 'The job ran out of attempts: its worker stopped responding.'),"
	    " request_body = IF(attempts >= max_attempts AND zero_retention, '',"
	    " request_body),"
	    " budget_state = IF(attempts >= max_attempts AND budget_state = 'held',"
	    " 'released', budget_state),"
	    " state = IF(attempts < max_attempts, 'queued', 'failed')"
	    " WHERE state = 'running' AND id IN ", p, k, k)) != AIF_OK)
		goto out;
	/* out of attempts: the holds go back, the compensations start */
	for (size_t i = 0; i < k; i++)
		if (aif_dbrows_i64(rows, i, RP_FINAL) == 1 &&
		    aif_dbrows_i64(rows, i, RP_HELD) == 1 &&
		    (err = aif_ledger_release(db, (uint64_t)p[i].i)) != AIF_OK)
			goto out;
	if ((err = reap_compensate(db, cfg, rows, k)) == AIF_OK)
		*n = k;
out:
	aif_dbrows_free(rows);
	return err;
}

enum aif_err
aif_queue_reap(struct aif_db *db, const struct aif_config *cfg, int limit, size_t *n)
{
	enum aif_err err;

	*n = 0;
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = aif_db_finish(db, reap_rows(db, cfg, limit > MAX_IN ? MAX_IN : limit,
	    n))) != AIF_OK)
		*n = 0;
	return err;
}
