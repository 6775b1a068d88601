/* compensations.c -- the job_compensations table; see compensations.h. */
#include <stdlib.h>
#include <string.h>

#include "compensations.h"

#define SELECT_DUE \
	"SELECT c.job_id, c.step_no, c.name, c.method, c.url, c.body_template," \
	" c.timeout_ms, c.attempts + 1, c.max_attempts, c.initial_interval_ms," \
	" c.backoff_pct, c.maximum_interval_ms, j.public_id, j.model, j.api_key_id," \
	" j.tenant, c.headers, c.idempotency_key FROM job_compensations c JOIN jobs j ON j.id = c.job_id" \
	" WHERE c.state = 'pending' AND c.next_at <= NOW(6) AND NOT EXISTS" \
	" (SELECT 1 FROM job_compensations e WHERE e.job_id = c.job_id" \
	"  AND e.step_no < c.step_no AND e.state IN ('pending','running'))" \
	" ORDER BY c.next_at LIMIT ? FOR UPDATE SKIP LOCKED"
enum {
	CS_JOB, CS_STEP, CS_NAME, CS_METHOD, CS_URL, CS_BODY, CS_TIMEOUT, CS_ATTEMPT,
	CS_MAX_ATTEMPTS, CS_INITIAL, CS_BACKOFF, CS_MAXIMUM, CS_PUBLIC_ID, CS_MODEL,
	CS_KEY, CS_TENANT, CS_HEADERS, CS_IDEMPOTENCY
};

static int64_t
clamp(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void
aif_comp_steps_free(struct aif_comp_step *s, size_t n)
{
	for (size_t i = 0; s != NULL && i < n; i++) {
		free(s[i].url);
		free(s[i].body_template);
		free(s[i].headers);
		free(s[i].idempotency_key);
	}
	free(s);
}

static void
fill(struct aif_comp_step *s, struct aif_dbrows *r, size_t k)
{
	s->job_id = (uint64_t)aif_dbrows_i64(r, k, CS_JOB);
	s->step_no = (int)clamp(aif_dbrows_i64(r, k, CS_STEP), 0, 65535);
	aif_dbrows_copy(r, k, CS_NAME, s->name, sizeof(s->name));
	aif_dbrows_copy(r, k, CS_METHOD, s->method, sizeof(s->method));
	s->url = aif_dbrows_steal(r, k, CS_URL);
	s->body_template = aif_dbrows_steal(r, k, CS_BODY);
	s->timeout_ms = (long)clamp(aif_dbrows_i64(r, k, CS_TIMEOUT), 100, 600000);
	s->attempts = (int)clamp(aif_dbrows_i64(r, k, CS_ATTEMPT), 0, 100000);
	s->max_attempts = (int)clamp(aif_dbrows_i64(r, k, CS_MAX_ATTEMPTS), 0, 100000);
	s->initial_ms = clamp(aif_dbrows_i64(r, k, CS_INITIAL), 0, INT64_MAX);
	s->backoff_pct = clamp(aif_dbrows_i64(r, k, CS_BACKOFF), 100, 1000);
	s->max_ms = clamp(aif_dbrows_i64(r, k, CS_MAXIMUM), 0, INT64_MAX);
	aif_dbrows_copy(r, k, CS_PUBLIC_ID, s->public_id, sizeof(s->public_id));
	aif_dbrows_copy(r, k, CS_MODEL, s->model, sizeof(s->model));
	s->api_key_id = (uint64_t)aif_dbrows_i64(r, k, CS_KEY);
	aif_dbrows_copy(r, k, CS_TENANT, s->tenant, sizeof(s->tenant));
	s->headers = aif_dbrows_steal(r, k, CS_HEADERS);
	s->idempotency_key = aif_dbrows_steal(r, k, CS_IDEMPOTENCY);
}

/* The steps of r marked running, in the caller's transaction: *out (new) gets them,
 * *n how many (also on error: aif_comp_steps_free takes them back). */
static enum aif_err
comp_take(struct aif_db *db, struct aif_dbrows *r, struct aif_comp_step **out,
    size_t *n)
{
	static const char take[] =
	    "UPDATE job_compensations SET state = 'running', attempts = attempts + 1,"
	    " lease_until = NOW(6) + INTERVAL (timeout_ms + 30000) * 1000 MICROSECOND"
	    " WHERE job_id = ? AND step_no = ?";
	struct aif_comp_step *s;
	enum aif_err err;

	if ((*out = s = calloc(r->nrows, sizeof(*s))) == NULL)
		return AIF_NOMEM;
	for (size_t k = 0; k < r->nrows; k++) {
		fill(&s[k], r, k);
		*n = k + 1;
		struct aif_dbp t[] = { AIF_P_I64(s[k].job_id), AIF_P_I64(s[k].step_no) };
		if (s[k].url == NULL)
			return AIF_DB;
		if ((err = AIF_DB_EXEC(db, take, t, NULL, NULL)) != AIF_OK)
			return err;
	}
	return AIF_OK;
}

enum aif_err
aif_comp_claim(struct aif_db *db, int limit, struct aif_comp_step **out, size_t *n)
{
	static const char unstick[] =
	    "UPDATE job_compensations SET state = 'pending' WHERE state = 'running'"
	    " AND lease_until < NOW(6)";
	struct aif_dbp p[] = { AIF_P_I64(limit) };
	struct aif_dbrows *r = NULL;
	struct aif_comp_step *s = NULL;
	size_t k = 0;
	enum aif_err err;

	*out = NULL;
	*n = 0;
	(void)aif_db_exec_plain(db, unstick, NULL);
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = AIF_DB_QUERY(db, SELECT_DUE, p, &r)) == AIF_OK && r->nrows > 0)
		err = comp_take(db, r, &s, &k);
	aif_dbrows_free(r);
	if ((err = aif_db_finish(db, err)) != AIF_OK) {
		aif_comp_steps_free(s, k);
		return err;
	}
	*out = s;
	*n = k;
	return AIF_OK;
}

enum aif_err
aif_comp_done(struct aif_db *db, const struct aif_comp_step *s)
{
	static const char sql[] =
	    "UPDATE job_compensations SET state = 'done', lease_until = NULL, last_error = NULL"
	    " WHERE job_id = ? AND step_no = ?";
	struct aif_dbp p[] = { AIF_P_I64(s->job_id), AIF_P_I64(s->step_no) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

enum aif_err
aif_comp_failed(struct aif_db *db, const struct aif_comp_step *s, int give_up,
    const char *why, int64_t delay_ms)
{
	static const char sql[] =
	    "UPDATE job_compensations SET state = ?, lease_until = NULL, last_error = ?,"
	    " next_at = NOW(6) + INTERVAL ? MICROSECOND WHERE job_id = ? AND step_no = ?";
	struct aif_dbp p[] = { AIF_P_STR(give_up ? "gave_up" : "pending"), AIF_P_STR(why),
	    AIF_P_I64(delay_ms * 1000), AIF_P_I64(s->job_id), AIF_P_I64(s->step_no) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

enum aif_err
aif_comp_finish_job(struct aif_db *db, uint64_t job, int *finished)
{
	static const char sql[] =
	    "UPDATE jobs SET state = IF(error_code = 'job_cancelled', 'cancelled', 'failed'),"
	    " finished_at = COALESCE(finished_at, NOW(6))"
	    " WHERE id = ? AND state = 'compensating'"
	    " AND NOT EXISTS (SELECT 1 FROM job_compensations WHERE job_id = ?"
	    " AND state IN ('pending','running'))";
	struct aif_dbp p[] = { AIF_P_I64(job), AIF_P_I64(job) };
	uint64_t affected = 0;
	enum aif_err err;

	*finished = 0;
	if ((err = AIF_DB_EXEC(db, sql, p, &affected, NULL)) == AIF_OK)
		*finished = affected == 1;
	return err;
}
