/* queue.c -- the durable job queue; see queue.h and sql/001_init.sql.
 * Claim query: FORCE INDEX (ix_jobs_claim) = (state, priority DESC, id), READ COMMITTED,
 * so a claim locks only the rows it takes (see shared/queue-notes.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue.h"
#include "ratelimit.h"

#define TX_RETRIES	5
#define MAX_IN		256
#define SQL_MAX		16384

static int	append_in(char *sql, size_t cap, size_t *off, size_t n);
static int	append_str(char *sql, size_t cap, size_t *off, const char *s);

/* Clamps a count into the range of an INT UNSIGNED column. */
static int64_t
u32(int64_t v)
{
	return v < 0 ? 0 : v > (int64_t)UINT32_MAX ? (int64_t)UINT32_MAX : v;
}

static void
copy_cell(char *dst, size_t cap, const char *src)
{
	aif_strlcpy(dst, src != NULL ? src : "", cap);
}

static int64_t
cell_i64(const char *s)
{
	int64_t v = 0;

	if (s != NULL && aif_parse_i64(s, INT64_MIN, INT64_MAX, &v) != 0) {
		/* decimals such as UNIX_TIMESTAMP(x.ffffff): keep the integer part */
		v = strtoll(s, NULL, 10);
	}
	return v;
}

enum aif_err
aif_queue_find_idempotent(struct aif_db *db, uint64_t api_key_id, const char *idem,
    const unsigned char *sha256, int64_t window_s, uint64_t *id, char *public_id,
    int *same_body)
{
	static const char by_key[] =
	    "SELECT id, public_id, request_sha256 = ?,"
	    " created_at < NOW(6) - INTERVAL ? SECOND FROM jobs"
	    " WHERE api_key_id = ? AND idempotency_key = ?";
	static const char release[] =
	    "UPDATE jobs SET idempotency_key = NULL WHERE id = ?";
	static const char by_hash[] =
	    "SELECT id, public_id, 1, 0 FROM jobs FORCE INDEX (ix_jobs_key_request)"
	    " WHERE api_key_id = ? AND request_sha256 = ?"
	    " AND created_at > NOW(6) - INTERVAL ? SECOND AND state <> 'failed'"
	    " ORDER BY created_at DESC LIMIT 1";
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*id = 0;
	public_id[0] = '\0';
	*same_body = 0;
	if (idem != NULL) {
		struct aif_dbp p[] = { AIF_P_STRN((const char *)sha256, 32), AIF_P_I64(window_s),
		    AIF_P_I64(api_key_id), AIF_P_STR(idem) };
		err = aif_db_query(db, by_key, p, 4, &rows);
	} else {
		struct aif_dbp p[] = { AIF_P_I64(api_key_id),
		    AIF_P_STRN((const char *)sha256, 32), AIF_P_I64(window_s) };
		err = aif_db_query(db, by_hash, p, 3, &rows);
	}
	if (err != AIF_OK)
		return err;
	if (rows->nrows == 0) {
		aif_dbrows_free(rows);
		return AIF_NOTFOUND;
	}
	*id = (uint64_t)cell_i64(aif_dbrows_get(rows, 0, 0));
	copy_cell(public_id, AIF_JOB_ID_LEN + 1, aif_dbrows_get(rows, 0, 1));
	*same_body = cell_i64(aif_dbrows_get(rows, 0, 2)) == 1;
	if (cell_i64(aif_dbrows_get(rows, 0, 3)) == 1) {
		/* past the window: the key is free again */
		struct aif_dbp p[] = { AIF_P_I64(*id) };
		aif_dbrows_free(rows);
		*id = 0;
		public_id[0] = '\0';
		if ((err = aif_db_exec(db, release, p, 1, NULL, NULL)) != AIF_OK)
			return err;
		return AIF_NOTFOUND;
	}
	aif_dbrows_free(rows);
	return AIF_OK;
}

int
aif_queue_state_final(const char *state)
{
	return strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
	    strcmp(state, "cancelled") == 0;
}

enum aif_err
aif_queue_enqueue(struct aif_db *db, const struct aif_job_new *j, uint64_t *id,
    char *public_id)
{
	static const char ins_job[] =
	    "INSERT INTO jobs (public_id, api_key_id, tenant, model, kind, priority,"
	    " max_attempts, reply_to, request_id, idempotency_key, stream,"
	    " prompt_tokens_estimate, max_tokens, request_body, pii_counts,"
	    " tokens_charged, budget_hold_micros, budget_state, request_sha256)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
	static const char ins_ev[] =
	    "INSERT INTO job_events (job_id, event, attempt) VALUES (?, 'enqueued', 0)";
	char pid[AIF_JOB_ID_LEN + 1];
	enum aif_err err = AIF_DB;
	uint64_t newid = 0;

	*id = 0;
	public_id[0] = '\0';
	for (int attempt = 0; attempt < TX_RETRIES; attempt++) {
		if ((err = aif_random_id("job_", 24, pid, sizeof(pid))) != AIF_OK)
			return err;
		struct aif_dbp p[] = {
			AIF_P_STR(pid), AIF_P_I64(j->api_key_id), AIF_P_STR(j->tenant),
			AIF_P_STR(j->model), AIF_P_STR(j->kind), AIF_P_I64(j->priority),
			AIF_P_I64(j->max_attempts), AIF_P_STR(j->reply_to),
			AIF_P_STR(j->request_id), AIF_P_STR(j->idempotency_key),
			AIF_P_I64(j->stream), AIF_P_I64(j->prompt_tokens_estimate),
			j->max_tokens >= 0 ? AIF_P_I64(j->max_tokens) : AIF_P_NULL(),
			AIF_P_STRN(j->request_body, j->request_len), AIF_P_STR(j->pii_counts),
			AIF_P_I64(j->tokens_charged), AIF_P_I64(j->nbudget ? j->budget_hold_micros : 0),
			AIF_P_STR(j->nbudget ? "held" : "none"),
			j->request_sha256 ? AIF_P_STRN((const char *)j->request_sha256, 32) :
			    AIF_P_NULL(),
		};
		if ((err = aif_db_begin(db)) != AIF_OK)
			return err;
		err = aif_db_exec(db, ins_job, p, sizeof(p) / sizeof(p[0]), NULL, &newid);
		if (err == AIF_OK) {
			struct aif_dbp pe[] = { AIF_P_I64(newid) };
			err = aif_db_exec(db, ins_ev, pe, 1, NULL, NULL);
		}
		if (err == AIF_OK && j->nbudget > 0)
			err = aif_budget_hold(db, newid, j->budget, j->nbudget,
			    j->budget_hold_micros);
		if (err == AIF_FORBIDDEN) {
			aif_db_rollback(db);
			return err;
		}
		if (err == AIF_OK)
			err = aif_db_commit(db);
		if (err == AIF_OK) {
			*id = newid;
			memcpy(public_id, pid, sizeof(pid));
			return AIF_OK;
		}
		aif_db_rollback(db);
		if (err != AIF_CONFLICT)
			return err;
		/* duplicate idempotency key: report; deadlock: retry */
		if (aif_db_errno(db) == 1062 && j->idempotency_key != NULL)
			return AIF_CONFLICT;
	}
	return err;
}

static enum aif_err
enqueue_batch_once(struct aif_db *db, const struct aif_job_new *jobs, size_t n,
    uint64_t *ids, char (*pids)[AIF_JOB_ID_LEN + 1], enum aif_err *errs)
{
	enum { COLS = 19 };
	static const char head[] =
	    "INSERT INTO jobs (public_id, api_key_id, tenant, model, kind, priority,"
	    " max_attempts, reply_to, request_id, idempotency_key, stream,"
	    " prompt_tokens_estimate, max_tokens, request_body, pii_counts, tokens_charged,"
	    " budget_hold_micros, budget_state, request_sha256) VALUES ";
	static const char del[] = "DELETE FROM jobs WHERE id = ?";
	char sql[SQL_MAX];
	struct aif_dbp p[COLS * AIF_ENQUEUE_BATCH_MAX];
	struct aif_dbrows *rows = NULL;
	size_t off = 0;
	enum aif_err err;

	if (append_str(sql, sizeof(sql), &off, head) != 0)
		return AIF_TOOBIG;
	for (size_t i = 0; i < n; i++) {
		const struct aif_job_new *j = &jobs[i];
		if ((err = aif_random_id("job_", 24, pids[i], AIF_JOB_ID_LEN + 1)) != AIF_OK)
			return err;
		if (append_str(sql, sizeof(sql), &off, i ? ",(" : "(") != 0 ||
		    append_in(sql, sizeof(sql), &off, COLS) != 0 ||
		    append_str(sql, sizeof(sql), &off, ")") != 0)
			return AIF_TOOBIG;
		struct aif_dbp *q = &p[i * COLS];
		q[0] = AIF_P_STR(pids[i]);
		q[1] = AIF_P_I64(j->api_key_id);
		q[2] = AIF_P_STR(j->tenant);
		q[3] = AIF_P_STR(j->model);
		q[4] = AIF_P_STR(j->kind);
		q[5] = AIF_P_I64(j->priority);
		q[6] = AIF_P_I64(j->max_attempts);
		q[7] = AIF_P_STR(j->reply_to);
		q[8] = AIF_P_STR(j->request_id);
		q[9] = AIF_P_STR(j->idempotency_key);
		q[10] = AIF_P_I64(j->stream);
		q[11] = AIF_P_I64(j->prompt_tokens_estimate);
		q[12] = j->max_tokens >= 0 ? AIF_P_I64(j->max_tokens) : AIF_P_NULL();
		q[13] = AIF_P_STRN(j->request_body, j->request_len);
		q[14] = AIF_P_STR(j->pii_counts);
		q[15] = AIF_P_I64(j->tokens_charged);
		q[16] = AIF_P_I64(j->nbudget ? j->budget_hold_micros : 0);
		q[17] = AIF_P_STR(j->nbudget ? "held" : "none");
		q[18] = j->request_sha256 ? AIF_P_STRN((const char *)j->request_sha256, 32) :
		    AIF_P_NULL();
	}
	if (append_str(sql, sizeof(sql), &off, " RETURNING id, public_id") != 0)
		return AIF_TOOBIG;
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = aif_db_query(db, sql, p, n * COLS, &rows)) != AIF_OK)
		goto fail;
	if (rows->nrows != n) {
		err = AIF_DB;
		goto fail;
	}
	for (size_t r = 0; r < n; r++) {
		const char *pid = aif_dbrows_get(rows, r, 1);
		for (size_t i = 0; i < n; i++)
			if (pid != NULL && strcmp(pid, pids[i]) == 0)
				ids[i] = (uint64_t)cell_i64(aif_dbrows_get(rows, r, 0));
	}
	/* budget holds: a job whose hold does not fit is taken out again */
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		errs[i] = AIF_OK;
		if (jobs[i].nbudget == 0)
			continue;
		err = aif_budget_hold(db, ids[i], jobs[i].budget, jobs[i].nbudget,
		    jobs[i].budget_hold_micros);
		if (err == AIF_FORBIDDEN) {
			struct aif_dbp pd[] = { AIF_P_I64(ids[i]) };
			if ((err = aif_db_exec(db, del, pd, 1, NULL, NULL)) != AIF_OK)
				goto fail;
			errs[i] = AIF_FORBIDDEN;
			ids[i] = 0;
			pids[i][0] = '\0';
		} else if (err != AIF_OK) {
			goto fail;
		}
	}
	off = 0;
	if (append_str(sql, sizeof(sql), &off,
	    "INSERT INTO job_events (job_id, event, attempt) VALUES ") != 0) {
		err = AIF_TOOBIG;
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		if (errs[i] != AIF_OK)
			continue;
		if (append_str(sql, sizeof(sql), &off, k ? ",(?,'enqueued',0)" :
		    "(?,'enqueued',0)") != 0) {
			err = AIF_TOOBIG;
			goto fail;
		}
		p[k++] = AIF_P_I64(ids[i]);
	}
	if (k > 0 && (err = aif_db_exec(db, sql, p, k, NULL, NULL)) != AIF_OK)
		goto fail;
	if (
	    (err = aif_db_commit(db)) != AIF_OK)
		goto fail;
	aif_dbrows_free(rows);
	return AIF_OK;
fail:
	aif_db_rollback(db);
	aif_dbrows_free(rows);
	return err;
}

enum aif_err
aif_queue_enqueue_batch(struct aif_db *db, const struct aif_job_new *jobs, size_t n,
    uint64_t *ids, char (*public_ids)[AIF_JOB_ID_LEN + 1], enum aif_err *errs)
{
	enum aif_err err = AIF_OK;

	if (n == 0)
		return AIF_OK;
	if (n > AIF_ENQUEUE_BATCH_MAX)
		return AIF_TOOBIG;
	for (int attempt = 0; attempt < TX_RETRIES; attempt++) {
		memset(ids, 0, n * sizeof(*ids));
		err = enqueue_batch_once(db, jobs, n, ids, public_ids, errs);
		if (err != AIF_CONFLICT)
			break;
		if (aif_db_errno(db) == 1062)
			break;	/* a duplicate idempotency key: sort it out one by one */
	}
	if (err == AIF_OK)
		return AIF_OK;	/* errs[] says which jobs were refused a budget hold */
	if (err != AIF_CONFLICT || n == 1) {
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

void
aif_queue_claimed_free(struct aif_claimed *jobs, size_t n)
{
	if (jobs == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(jobs[i].request_body);
	free(jobs);
}

/* Appends "?,?,?" for n items to sql at *off; returns -1 if it does not fit. */
static int
append_in(char *sql, size_t cap, size_t *off, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (*off + 3 >= cap)
			return -1;
		sql[(*off)++] = '?';
		if (i + 1 < n)
			sql[(*off)++] = ',';
	}
	sql[*off] = '\0';
	return 0;
}

static int
append_str(char *sql, size_t cap, size_t *off, const char *s)
{
	size_t n = strlen(s);

	if (*off + n + 1 > cap)
		return -1;
	memcpy(sql + *off, s, n + 1);
	*off += n;
	return 0;
}

#define CLAIM_COLS \
	"SELECT id, public_id, model, kind, tenant, COALESCE(reply_to, '')," \
	" api_key_id, attempts + 1, max_attempts, stream, lease_token + 1," \
	" TIMESTAMPDIFF(MICROSECOND, created_at, NOW(6)) DIV 1000, request_body," \
	" COALESCE(replica, ''), priority, budget_hold_micros, tokens_charged"

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

/* Candidate order: priority desc, then id asc. */
static int
row_before(const struct aif_dbrows *r, size_t a, size_t b)
{
	int64_t pa = cell_i64(aif_dbrows_get(r, a, 14)), pb = cell_i64(aif_dbrows_get(r, b, 14));

	if (pa != pb)
		return pa > pb;
	return cell_i64(aif_dbrows_get(r, a, 0)) < cell_i64(aif_dbrows_get(r, b, 0));
}

static enum aif_err
claim_once(struct aif_db *db, uint64_t worker_id, const char *const *models,
    const int *per_model_free, size_t n_models, int limit, int lease_s,
    struct aif_claimed **out, size_t *nout)
{
	char sql[SQL_MAX];
	size_t off = 0, ntake = 0, nfull = 0;
	struct aif_dbp p[MAX_IN + 2];
	struct aif_dbrows *rows = NULL;
	struct aif_claimed *jobs = NULL;
	size_t order[MAX_IN * 2];
	int taken[MAX_IN * 2];
	enum aif_err err;

	if (n_models == 0 || n_models > MAX_IN || limit <= 0)
		return AIF_OK;
	if (limit > MAX_IN)
		limit = MAX_IN;
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	/* Models with room for a whole batch share one query in priority order; a model
	 * with less room gets its own, so its backlog cannot crowd the others out. */
	for (size_t i = 0; i < n_models; i++)
		if (per_model_free[i] >= limit)
			p[nfull++] = AIF_P_STR(models[i]);
	if (nfull > 0) {
		if (append_str(sql, sizeof(sql), &off, CLAIM_COLS
		    " FROM jobs FORCE INDEX (ix_jobs_claim)"
		    " WHERE state = 'queued' AND run_after <= NOW(6) AND model IN (") != 0 ||
		    append_in(sql, sizeof(sql), &off, nfull) != 0 ||
		    append_str(sql, sizeof(sql), &off,
		    ") ORDER BY priority DESC, id LIMIT ? FOR UPDATE SKIP LOCKED") != 0) {
			err = AIF_TOOBIG;
			goto fail;
		}
		p[nfull] = AIF_P_I64(limit);
		if ((err = claim_select(db, sql, p, nfull + 1, &rows)) != AIF_OK)
			goto fail;
	}
	for (size_t i = 0; i < n_models; i++) {
		static const char one[] = CLAIM_COLS
		    " FROM jobs FORCE INDEX (ix_jobs_model_claim)"
		    " WHERE state = 'queued' AND model = ? AND run_after <= NOW(6)"
		    " ORDER BY priority DESC, id LIMIT ? FOR UPDATE SKIP LOCKED";
		struct aif_dbp q[2];
		if (per_model_free[i] >= limit || per_model_free[i] <= 0)
			continue;
		q[0] = AIF_P_STR(models[i]);
		q[1] = AIF_P_I64(per_model_free[i]);
		if ((err = claim_select(db, one, q, 2, &rows)) != AIF_OK)
			goto fail;
	}
	if (rows == NULL || rows->nrows == 0 || rows->nrows > MAX_IN * 2) {
		aif_dbrows_free(rows);
		aif_db_rollback(db);
		return AIF_OK;
	}
	/* merge: best candidates first, then take up to limit within each model's room */
	for (size_t r = 0; r < rows->nrows; r++)
		order[r] = r;
	for (size_t a = 1; a < rows->nrows; a++)
		for (size_t b = a; b > 0 && row_before(rows, order[b], order[b - 1]); b--) {
			size_t t = order[b];
			order[b] = order[b - 1];
			order[b - 1] = t;
		}
	memset(taken, 0, sizeof(taken));
	{
		int used[MAX_IN] = { 0 };
		for (size_t x = 0; x < rows->nrows && ntake < (size_t)limit; x++) {
			size_t r = order[x];
			const char *m = aif_dbrows_get(rows, r, 2);
			for (size_t k = 0; k < n_models; k++) {
				if (strcmp(models[k], m) == 0 && used[k] < per_model_free[k]) {
					used[k]++;
					taken[r] = 1;
					ntake++;
					break;
				}
			}
		}
	}
	if (ntake == 0) {
		aif_dbrows_free(rows);
		aif_db_rollback(db);
		return AIF_OK;
	}
	if ((jobs = calloc(ntake, sizeof(*jobs))) == NULL) {
		err = AIF_NOMEM;
		goto fail;
	}
	/* UPDATE ... WHERE id IN (taken) */
	off = 0;
	if (append_str(sql, sizeof(sql), &off,
	    "UPDATE jobs SET state = 'running', attempts = attempts + 1,"
	    " lease_token = lease_token + 1,"
	    " lease_until = NOW(6) + INTERVAL ? SECOND, worker_id = ?,"
	    " started_at = COALESCE(started_at, NOW(6)) WHERE id IN (") != 0 ||
	    append_in(sql, sizeof(sql), &off, ntake) != 0 ||
	    append_str(sql, sizeof(sql), &off, ")") != 0) {
		err = AIF_TOOBIG;
		goto fail;
	}
	p[0] = AIF_P_I64(lease_s);
	p[1] = AIF_P_I64(worker_id);
	{
		size_t k = 0;
		for (size_t x = 0; x < rows->nrows; x++) {
			size_t r = order[x];
			if (!taken[r])
				continue;
			struct aif_claimed *c = &jobs[k];
			c->id = (uint64_t)cell_i64(aif_dbrows_get(rows, r, 0));
			copy_cell(c->public_id, sizeof(c->public_id), aif_dbrows_get(rows, r, 1));
			copy_cell(c->model, sizeof(c->model), aif_dbrows_get(rows, r, 2));
			copy_cell(c->kind, sizeof(c->kind), aif_dbrows_get(rows, r, 3));
			copy_cell(c->tenant, sizeof(c->tenant), aif_dbrows_get(rows, r, 4));
			copy_cell(c->reply_to, sizeof(c->reply_to), aif_dbrows_get(rows, r, 5));
			c->api_key_id = (uint64_t)cell_i64(aif_dbrows_get(rows, r, 6));
			c->attempt = (int)cell_i64(aif_dbrows_get(rows, r, 7));
			c->max_attempts = (int)cell_i64(aif_dbrows_get(rows, r, 8));
			c->stream = (int)cell_i64(aif_dbrows_get(rows, r, 9));
			c->lease_token = (uint64_t)cell_i64(aif_dbrows_get(rows, r, 10));
			c->queue_ms = cell_i64(aif_dbrows_get(rows, r, 11));
			copy_cell(c->last_replica, sizeof(c->last_replica),
			    aif_dbrows_get(rows, r, 13));
			c->budget_hold_micros = cell_i64(aif_dbrows_get(rows, r, 15));
			c->tokens_charged = cell_i64(aif_dbrows_get(rows, r, 16));
			/* steal the body cell */
			c->request_body = rows->cells[r * rows->ncols + 12];
			rows->cells[r * rows->ncols + 12] = NULL;
			if (c->request_body == NULL && (c->request_body = strdup("{}")) == NULL) {
				err = AIF_NOMEM;
				goto fail;
			}
			p[2 + k] = AIF_P_I64(c->id);
			k++;
		}
	}
	if ((err = aif_db_exec(db, sql, p, 2 + ntake, NULL, NULL)) != AIF_OK)
		goto fail;
	off = 0;
	if (append_str(sql, sizeof(sql), &off,
	    "INSERT INTO job_events (job_id, event, attempt, worker_id)"
	    " SELECT id, 'claimed', attempts, worker_id FROM jobs WHERE id IN (") != 0 ||
	    append_in(sql, sizeof(sql), &off, ntake) != 0 ||
	    append_str(sql, sizeof(sql), &off, ")") != 0) {
		err = AIF_TOOBIG;
		goto fail;
	}
	if ((err = aif_db_exec(db, sql, p + 2, ntake, NULL, NULL)) != AIF_OK)
		goto fail;
	if ((err = aif_db_commit(db)) != AIF_OK)
		goto fail;
	aif_dbrows_free(rows);
	*out = jobs;
	*nout = ntake;
	return AIF_OK;
fail:
	aif_db_rollback(db);
	aif_dbrows_free(rows);
	aif_queue_claimed_free(jobs, ntake);
	return err;
}

enum aif_err
aif_queue_claim(struct aif_db *db, uint64_t worker_id, const char *const *models,
    const int *per_model_free, size_t n_models, int limit, int lease_s,
    struct aif_claimed **out, size_t *n)
{
	enum aif_err err = AIF_OK;

	*out = NULL;
	*n = 0;
	for (int i = 0; i < TX_RETRIES; i++) {
		err = claim_once(db, worker_id, models, per_model_free, n_models, limit,
		    lease_s, out, n);
		if (err != AIF_CONFLICT)
			return err;
	}
	return err;
}

static enum aif_err
set_budget_state(struct aif_db *db, uint64_t id, const char *state)
{
	static const char sql[] = "UPDATE jobs SET budget_state = ? WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_STR(state), AIF_P_I64(id) };

	return aif_db_exec(db, sql, p, 2, NULL, NULL);
}

/* Releases the budget holds of a job that ended without success (in its transaction). */
static enum aif_err
release_budget(struct aif_db *db, uint64_t id)
{
	enum aif_err err;

	if ((err = aif_budget_release(db, id)) != AIF_OK)
		return err;
	return set_budget_state(db, id, "released");
}

/* The tokens-per-minute charge was an estimate: correct it to the real count. */
static enum aif_err
correct_tokens(struct aif_db *db, const struct aif_job_success *s)
{
	char key[AIF_RL_SUBJECT_MAX], tenant[AIF_RL_SUBJECT_MAX];
	const char *subjects[2] = { key, tenant };

	snprintf(key, sizeof(key), "key:%" PRIu64 ":tpm", s->api_key_id);
	snprintf(tenant, sizeof(tenant), "tenant:%.150s:tpm", s->tenant);
	return aif_rl_correct_tokens(db, subjects, 2,
	    s->prompt_tokens + s->completion_tokens - s->tokens_charged);
}

/* Marks the jobs of s[base..end) that still hold their lease as succeeded: one
 * SELECT ... FOR UPDATE finds (and locks) them, one UPDATE sets them all. Sets
 * s[i].committed. Runs inside the caller's transaction. */
static enum aif_err
succeed_rows(struct aif_db *db, struct aif_job_success *s, size_t base, size_t end)
{
	char sql[SQL_MAX];
	struct aif_dbp p[5 * 64];
	struct aif_dbrows *rows = NULL;
	size_t off = 0, k = 0, n = end - base, mine = 0;
	enum aif_err err;

	if (n > 64)
		return AIF_TOOBIG;
	/* by primary key; the fencing token is compared here, under the row locks */
	if (append_str(sql, sizeof(sql), &off, "SELECT id, lease_token FROM jobs"
	    " WHERE state = 'running' AND id IN (") != 0 ||
	    append_in(sql, sizeof(sql), &off, n) != 0 ||
	    append_str(sql, sizeof(sql), &off, ") FOR UPDATE") != 0)
		return AIF_TOOBIG;
	for (size_t i = base; i < end; i++) {
		s[i].committed = 0;
		p[k++] = AIF_P_I64(s[i].id);
	}
	if ((err = aif_db_query(db, sql, p, k, &rows)) != AIF_OK)
		return err;
	for (size_t r = 0; r < rows->nrows; r++) {
		uint64_t id = (uint64_t)cell_i64(aif_dbrows_get(rows, r, 0));
		uint64_t token = (uint64_t)cell_i64(aif_dbrows_get(rows, r, 1));
		for (size_t i = base; i < end; i++)
			if (s[i].id == id && s[i].lease_token == token && !s[i].committed) {
				s[i].committed = 1;
				mine++;
			}
	}
	aif_dbrows_free(rows);
	for (size_t i = base; i < end; i++)
		if (!s[i].committed)
			aif_warn("msg=\"lease lost, result dropped\" job=%" PRIu64, s[i].id);
	if (mine == 0)
		return AIF_OK;
	/* one UPDATE for all of them; the rows are locked, so exactly these change */
	off = 0;
	k = 0;
	if (append_str(sql, sizeof(sql), &off, "UPDATE jobs SET state = 'succeeded',"
	    " http_status = 200, finished_at = NOW(6), lease_until = NULL, worker_id = NULL,"
	    " response_body = CASE id") != 0)
		return AIF_TOOBIG;
	for (size_t i = base; i < end; i++) {
		if (!s[i].committed)
			continue;
		if (append_str(sql, sizeof(sql), &off, " WHEN ? THEN ?") != 0)
			return AIF_TOOBIG;
		p[k++] = AIF_P_I64(s[i].id);
		p[k++] = AIF_P_STR(s[i].response_body);
	}
	if (append_str(sql, sizeof(sql), &off, " END, replica = CASE id") != 0)
		return AIF_TOOBIG;
	for (size_t i = base; i < end; i++) {
		if (!s[i].committed)
			continue;
		if (append_str(sql, sizeof(sql), &off, " WHEN ? THEN ?") != 0)
			return AIF_TOOBIG;
		p[k++] = AIF_P_I64(s[i].id);
		p[k++] = AIF_P_STR(s[i].replica);
	}
	if (append_str(sql, sizeof(sql), &off, " END WHERE id IN (") != 0 ||
	    append_in(sql, sizeof(sql), &off, mine) != 0 ||
	    append_str(sql, sizeof(sql), &off, ")") != 0)
		return AIF_TOOBIG;
	for (size_t i = base; i < end; i++)
		if (s[i].committed)
			p[k++] = AIF_P_I64(s[i].id);
	return aif_db_exec(db, sql, p, k, NULL, NULL);
}

static enum aif_err
succeed_once(struct aif_db *db, struct aif_job_success *s, size_t n)
{
	enum { UCOLS = 13, ECOLS = 4 };
	char sql[SQL_MAX];
	struct aif_dbp p[UCOLS * 32];
	size_t off, k;
	enum aif_err err;

	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	for (size_t base = 0; base < n; base += 64)
		if ((err = succeed_rows(db, s, base, base + 64 < n ? base + 64 : n)) != AIF_OK)
			goto fail;
	for (size_t i = 0; i < n; i++) {
		if (!s[i].committed)
			continue;
		if (s[i].budget_hold_micros > 0 &&
		    ((err = aif_budget_capture(db, s[i].id, s[i].cost_micros)) != AIF_OK ||
		    (err = set_budget_state(db, s[i].id, "captured")) != AIF_OK))
			goto fail;
		if (s[i].tokens_charged > 0 && (err = correct_tokens(db, &s[i])) != AIF_OK)
			goto fail;
	}
	/* usage rows and events of the updated jobs, 32 per multi-row INSERT */
	for (size_t base = 0; base < n; base += 32) {
		size_t end = base + 32 < n ? base + 32 : n;
		off = 0;
		k = 0;
		if (append_str(sql, sizeof(sql), &off,
		    "INSERT INTO `usage` (job_id, api_key_id, tenant, model, engine, replica,"
		    " prompt_tokens, completion_tokens, total_tokens, cost_micros, queue_ms,"
		    " engine_ms, pii_counts) VALUES ") != 0) {
			err = AIF_TOOBIG;
			goto fail;
		}
		for (size_t i = base; i < end; i++) {
			if (!s[i].committed)
				continue;
			if (append_str(sql, sizeof(sql), &off, k ? ",(" : "(") != 0 ||
			    append_in(sql, sizeof(sql), &off, UCOLS - 1) != 0 ||
			    /* the job's entity counts (a primary-key read of a row this
			       transaction holds locked) */
			    append_str(sql, sizeof(sql), &off,
			    ",(SELECT pii_counts FROM jobs WHERE id = ?))") != 0) {
				err = AIF_TOOBIG;
				goto fail;
			}
			struct aif_dbp *q = &p[k * UCOLS];
			q[0] = AIF_P_I64(s[i].id);
			q[1] = AIF_P_I64(s[i].api_key_id);
			q[2] = AIF_P_STR(s[i].tenant);
			q[3] = AIF_P_STR(s[i].model);
			q[4] = AIF_P_STR(s[i].engine);
			q[5] = AIF_P_STR(s[i].replica);
			/* the usage columns are INT UNSIGNED: one absurd count from an
			   engine must not roll back the whole batch */
			q[6] = AIF_P_I64(u32(s[i].prompt_tokens));
			q[7] = AIF_P_I64(u32(s[i].completion_tokens));
			q[8] = AIF_P_I64(u32(s[i].prompt_tokens + s[i].completion_tokens));
			q[9] = AIF_P_I64(s[i].cost_micros);
			q[10] = AIF_P_I64(u32(s[i].queue_ms));
			q[11] = AIF_P_I64(u32(s[i].engine_ms));
			q[12] = AIF_P_I64(s[i].id);
			k++;
		}
		if (k == 0)
			continue;
		if ((err = aif_db_exec(db, sql, p, k * UCOLS, NULL, NULL)) != AIF_OK)
			goto fail;
		off = 0;
		k = 0;
		if (append_str(sql, sizeof(sql), &off,
		    "INSERT INTO job_events (job_id, event, attempt, worker_id, replica)"
		    " VALUES ") != 0) {
			err = AIF_TOOBIG;
			goto fail;
		}
		for (size_t i = base; i < end; i++) {
			if (!s[i].committed)
				continue;
			if (append_str(sql, sizeof(sql), &off,
			    k ? ",(?,'succeeded',?,?,?)" : "(?,'succeeded',?,?,?)") != 0) {
				err = AIF_TOOBIG;
				goto fail;
			}
			struct aif_dbp *q = &p[k * ECOLS];
			q[0] = AIF_P_I64(s[i].id);
			q[1] = AIF_P_I64(s[i].attempt);
			q[2] = AIF_P_I64(s[i].worker_id);
			q[3] = AIF_P_STR(s[i].replica);
			k++;
		}
		if ((err = aif_db_exec(db, sql, p, k * ECOLS, NULL, NULL)) != AIF_OK)
			goto fail;
	}
	if ((err = aif_db_commit(db)) != AIF_OK)
		goto fail;
	return AIF_OK;
fail:
	aif_db_rollback(db);
	for (size_t i = 0; i < n; i++)
		s[i].committed = 0;
	return err;
}

enum aif_err
aif_queue_succeed(struct aif_db *db, struct aif_job_success *s, size_t n)
{
	enum aif_err err = AIF_OK;

	if (n == 0)
		return AIF_OK;
	for (int i = 0; i < TX_RETRIES; i++) {
		err = succeed_once(db, s, n);
		if (err != AIF_CONFLICT)
			return err;
	}
	return err;
}

static enum aif_err
fail_once(struct aif_db *db, const struct aif_job_failure *f)
{
	static const char upd_retry[] =
	    "UPDATE jobs SET state = 'queued', run_after = NOW(6) + INTERVAL ? MICROSECOND,"
	    " lease_until = NULL, worker_id = NULL, replica = ?, error_type = ?,"
	    " error_code = ?, error_message = ?"
	    " WHERE id = ? AND lease_token = ? AND state = 'running'";
	static const char upd_fail[] =
	    "UPDATE jobs SET state = ?, finished_at = NOW(6), lease_until = NULL,"
	    " worker_id = NULL, replica = ?, http_status = ?, error_type = ?,"
	    " error_code = ?, error_message = ?"
	    " WHERE id = ? AND lease_token = ? AND state = 'running'";
	static const char ins_ev[] =
	    "INSERT INTO job_events (job_id, event, attempt, worker_id, replica, detail)"
	    " VALUES (?, ?, ?, ?, ?, ?)";
	uint64_t affected = 0;
	enum aif_err err;

	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if (f->retry) {
		struct aif_dbp p[] = {
			AIF_P_I64(f->delay_ms * 1000), AIF_P_STR(f->replica),
			AIF_P_STR(f->error_type), AIF_P_STR(f->error_code),
			AIF_P_STR(f->error_message), AIF_P_I64(f->id),
			AIF_P_I64(f->lease_token),
		};
		err = aif_db_exec(db, upd_retry, p, 7, &affected, NULL);
	} else {
		struct aif_dbp p[] = {
			AIF_P_STR(f->ncompensations > 0 ? "compensating" : "failed"),
			AIF_P_STR(f->replica), AIF_P_I64(f->http_status),
			AIF_P_STR(f->error_type), AIF_P_STR(f->error_code),
			AIF_P_STR(f->error_message), AIF_P_I64(f->id),
			AIF_P_I64(f->lease_token),
		};
		err = aif_db_exec(db, upd_fail, p, 8, &affected, NULL);
	}
	if (err != AIF_OK)
		goto fail;
	if (affected != 1) {
		aif_db_rollback(db);
		return AIF_NOTFOUND;
	}
	if (!f->retry && f->budget_hold_micros > 0 &&
	    ((err = release_budget(db, f->id)) != AIF_OK ||
	    (err = aif_queue_event(db, f->id, "compensation_budget_released",
	    "the budget hold was released")) != AIF_OK))
		goto fail;
	{
		struct aif_dbp pe[] = {
			AIF_P_I64(f->id), AIF_P_STR("attempt_failed"), AIF_P_I64(f->attempt),
			AIF_P_I64(f->worker_id), AIF_P_STR(f->replica),
			AIF_P_STR(f->event_detail),
		};
		if ((err = aif_db_exec(db, ins_ev, pe, 6, NULL, NULL)) != AIF_OK)
			goto fail;
		pe[1] = AIF_P_STR(f->retry ? "retry_scheduled" : f->ncompensations > 0 ?
		    "compensating" : "failed");
		if ((err = aif_db_exec(db, ins_ev, pe, 6, NULL, NULL)) != AIF_OK)
			goto fail;
	}
	if (!f->retry && f->ncompensations > 0 && (err = aif_queue_schedule_compensations(db,
	    f->id, f->compensations, f->ncompensations)) != AIF_OK)
		goto fail;
	if ((err = aif_db_commit(db)) != AIF_OK)
		goto fail;
	return AIF_OK;
fail:
	aif_db_rollback(db);
	return err;
}

enum aif_err
aif_queue_fail(struct aif_db *db, const struct aif_job_failure *f)
{
	enum aif_err err = AIF_OK;

	for (int i = 0; i < TX_RETRIES; i++) {
		err = fail_once(db, f);
		if (err != AIF_CONFLICT)
			return err;
	}
	return err;
}

/* Releases the holds of job id if it still has them (reads budget_state in the tx). */
static enum aif_err
release_budget_if_held(struct aif_db *db, uint64_t id)
{
	static const char sql[] = "SELECT budget_state FROM jobs WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;
	int held;

	if ((err = aif_db_query(db, sql, p, 1, &rows)) != AIF_OK)
		return err;
	held = rows->nrows == 1 && aif_dbrows_get(rows, 0, 0) != NULL &&
	    strcmp(aif_dbrows_get(rows, 0, 0), "held") == 0;
	aif_dbrows_free(rows);
	return held ? release_budget(db, id) : AIF_OK;
}

enum aif_err
aif_queue_cancel(struct aif_db *db, uint64_t id, uint64_t lease_token, const char *detail)
{
	static const char upd[] =
	    "UPDATE jobs SET state = 'cancelled', finished_at = NOW(6), lease_until = NULL,"
	    " worker_id = NULL, http_status = 409, error_type = 'cancelled',"
	    " error_code = 'job_cancelled', error_message = ?"
	    " WHERE id = ? AND (state = 'queued' OR (state = 'running' AND (? = 0 OR"
	    " lease_token = ?)))";
	static const char ev[] =
	    "INSERT INTO job_events (job_id, event, attempt, detail)"
	    " SELECT id, 'cancelled', attempts, ? FROM jobs WHERE id = ?";
	struct aif_dbp p[] = {
		AIF_P_STR(detail), AIF_P_I64(id), AIF_P_I64(lease_token),
		AIF_P_I64(lease_token),
	};
	struct aif_dbp pe[] = { AIF_P_STR(detail), AIF_P_I64(id) };
	uint64_t affected = 0;
	enum aif_err err;

	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = aif_db_exec(db, upd, p, 4, &affected, NULL)) != AIF_OK)
		goto fail;
	if (affected != 1) {
		aif_db_rollback(db);
		return AIF_NOTFOUND;
	}
	if ((err = aif_db_exec(db, ev, pe, 2, NULL, NULL)) != AIF_OK ||
	    (err = release_budget_if_held(db, id)) != AIF_OK ||
	    (err = aif_db_commit(db)) != AIF_OK)
		goto fail;
	return AIF_OK;
fail:
	aif_db_rollback(db);
	return err;
}

enum aif_err
aif_queue_event(struct aif_db *db, uint64_t id, const char *event, const char *detail)
{
	static const char sql[] =
	    "INSERT INTO job_events (job_id, event, attempt, detail)"
	    " SELECT id, ?, attempts, ? FROM jobs WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_STR(event), AIF_P_STR(detail), AIF_P_I64(id) };

	return aif_db_exec(db, sql, p, 3, NULL, NULL);
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
		if ((err = aif_db_exec(db, ins, p, 11, NULL, NULL)) != AIF_OK)
			return err;
	}
	snprintf(detail, sizeof(detail), "%zu compensation step(s), last declared first", n);
	return aif_queue_event(db, id, "compensation_scheduled", detail);
}

enum aif_err
aif_queue_extend_leases(struct aif_db *db, uint64_t worker_id, int lease_s)
{
	static const char sql[] =
	    "UPDATE jobs SET lease_until = NOW(6) + INTERVAL ? SECOND"
	    " WHERE worker_id = ? AND state = 'running'";
	struct aif_dbp p[] = { AIF_P_I64(lease_s), AIF_P_I64(worker_id) };

	return aif_db_exec(db, sql, p, 2, NULL, NULL);
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
	if ((err = aif_db_exec(db, ev, p, 1, NULL, NULL)) != AIF_OK ||
	    (err = aif_db_exec(db, upd, p, 1, &affected, NULL)) != AIF_OK ||
	    (err = aif_db_commit(db)) != AIF_OK) {
		aif_db_rollback(db);
		return err;
	}
	*n = (size_t)affected;
	return AIF_OK;
}

enum aif_err
aif_queue_reap(struct aif_db *db, const struct aif_config *cfg, int limit, size_t *n)
{
	static const char sel[] =
	    "SELECT id FROM jobs FORCE INDEX (ix_jobs_lease)"
	    " WHERE state = 'running' AND lease_until < NOW(6)"
	    " ORDER BY lease_until LIMIT ? FOR UPDATE SKIP LOCKED";
	char sql[SQL_MAX];
	struct aif_dbp p[MAX_IN];
	struct aif_dbrows *rows = NULL;
	size_t off = 0, k;
	enum aif_err err;

	*n = 0;
	if (limit > MAX_IN)
		limit = MAX_IN;
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	p[0] = AIF_P_I64(limit);
	if ((err = aif_db_query(db, sel, p, 1, &rows)) != AIF_OK)
		goto fail;
	k = rows->nrows;
	if (k == 0) {
		aif_dbrows_free(rows);
		aif_db_rollback(db);
		return AIF_OK;
	}
	for (size_t i = 0; i < k; i++)
		p[i] = AIF_P_I64(cell_i64(aif_dbrows_get(rows, i, 0)));
	if (append_str(sql, sizeof(sql), &off,
	    "INSERT INTO job_events (job_id, event, attempt, worker_id, detail)"
	    " SELECT id, 'lease_expired', attempts, worker_id,"
	    " IF(attempts < max_attempts, 'requeued', 'out of attempts')"
	    " FROM jobs WHERE id IN (") != 0 ||
	    append_in(sql, sizeof(sql), &off, k) != 0 ||
	    append_str(sql, sizeof(sql), &off, ")") != 0 ||
	    (err = aif_db_exec(db, sql, p, k, NULL, NULL)) != AIF_OK)
		goto fail;
	off = 0;
	if (append_str(sql, sizeof(sql), &off,
	    "UPDATE jobs SET lease_until = NULL, worker_id = NULL,"
	    " finished_at = IF(attempts < max_attempts, NULL, NOW(6)),"
	    " http_status = IF(attempts < max_attempts, NULL, 503),"
	    " error_type = IF(attempts < max_attempts, error_type, 'server_error'),"
	    " error_code = IF(attempts < max_attempts, error_code, 'lease_expired'),"
	    " error_message = IF(attempts < max_attempts, error_message,"
	    " 'The job ran out of attempts: its worker stopped responding.'),"
	    " state = IF(attempts < max_attempts, 'queued', 'failed')"
	    " WHERE state = 'running' AND id IN (") != 0 ||
	    append_in(sql, sizeof(sql), &off, k) != 0 ||
	    append_str(sql, sizeof(sql), &off, ")") != 0 ||
	    (err = aif_db_exec(db, sql, p, k, NULL, NULL)) != AIF_OK)
		goto fail;
	/* jobs the reaper failed for good give their budget holds back and start the
	 * compensations of their model */
	for (size_t i = 0; i < k; i++) {
		static const char st[] =
		    "SELECT budget_state = 'held', model FROM jobs WHERE id = ? AND state = 'failed'";
		static const char comp[] =
		    "UPDATE jobs SET state = 'compensating' WHERE id = ? AND state = 'failed'";
		struct aif_dbrows *fr = NULL;
		const struct aif_model *m;
		if ((err = aif_db_query(db, st, &p[i], 1, &fr)) != AIF_OK)
			goto fail;
		if (fr->nrows == 0) {
			aif_dbrows_free(fr);
			continue;
		}
		int held = cell_i64(aif_dbrows_get(fr, 0, 0)) == 1;
		m = cfg != NULL && aif_dbrows_get(fr, 0, 1) != NULL ?
		    aif_cfg_model(cfg, aif_dbrows_get(fr, 0, 1)) : NULL;
		aif_dbrows_free(fr);
		if (held && (err = release_budget(db, (uint64_t)p[i].i)) != AIF_OK)
			goto fail;
		if (m != NULL && m->ncompensations > 0 &&
		    ((err = aif_db_exec(db, comp, &p[i], 1, NULL, NULL)) != AIF_OK ||
		    (err = aif_queue_schedule_compensations(db, (uint64_t)p[i].i,
		    m->compensations, m->ncompensations)) != AIF_OK))
			goto fail;
	}
	if ((err = aif_db_commit(db)) != AIF_OK)
		goto fail;
	aif_dbrows_free(rows);
	*n = k;
	return AIF_OK;
fail:
	aif_db_rollback(db);
	aif_dbrows_free(rows);
	return err;
}

void
aif_queue_views_free(struct aif_job_view *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].response_body);
	free(v);
}

#define VIEW_COLS \
	"SELECT id, public_id, api_key_id, model, kind, state, priority, attempts," \
	" COALESCE(http_status, 0), UNIX_TIMESTAMP(created_at)," \
	" COALESCE(UNIX_TIMESTAMP(started_at), 0), COALESCE(UNIX_TIMESTAMP(finished_at), 0)," \
	" response_body, error_type, error_code, error_message FROM jobs "

static void
fill_view(struct aif_job_view *v, struct aif_dbrows *rows, size_t r)
{
	v->id = (uint64_t)cell_i64(aif_dbrows_get(rows, r, 0));
	copy_cell(v->public_id, sizeof(v->public_id), aif_dbrows_get(rows, r, 1));
	v->api_key_id = (uint64_t)cell_i64(aif_dbrows_get(rows, r, 2));
	copy_cell(v->model, sizeof(v->model), aif_dbrows_get(rows, r, 3));
	copy_cell(v->kind, sizeof(v->kind), aif_dbrows_get(rows, r, 4));
	copy_cell(v->state, sizeof(v->state), aif_dbrows_get(rows, r, 5));
	v->priority = (int)cell_i64(aif_dbrows_get(rows, r, 6));
	v->attempts = (int)cell_i64(aif_dbrows_get(rows, r, 7));
	v->http_status = (int)cell_i64(aif_dbrows_get(rows, r, 8));
	v->created_at = cell_i64(aif_dbrows_get(rows, r, 9));
	v->started_at = cell_i64(aif_dbrows_get(rows, r, 10));
	v->finished_at = cell_i64(aif_dbrows_get(rows, r, 11));
	v->response_body = rows->cells[r * rows->ncols + 12];
	rows->cells[r * rows->ncols + 12] = NULL;
	copy_cell(v->error_type, sizeof(v->error_type), aif_dbrows_get(rows, r, 13));
	copy_cell(v->error_code, sizeof(v->error_code), aif_dbrows_get(rows, r, 14));
	copy_cell(v->error_message, sizeof(v->error_message), aif_dbrows_get(rows, r, 15));
}

enum aif_err
aif_queue_final_views(struct aif_db *db, const uint64_t *ids, size_t n,
    struct aif_job_view **out, size_t *nout)
{
	char sql[SQL_MAX];
	struct aif_dbp p[MAX_IN];
	struct aif_dbrows *rows = NULL;
	struct aif_job_view *v;
	size_t off = 0;
	enum aif_err err;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return AIF_OK;
	if (n > MAX_IN)
		return AIF_TOOBIG;
	if (append_str(sql, sizeof(sql), &off, VIEW_COLS
	    "WHERE state IN ('succeeded','failed','cancelled','compensating') AND id IN (") != 0 ||
	    append_in(sql, sizeof(sql), &off, n) != 0 ||
	    append_str(sql, sizeof(sql), &off, ")") != 0)
		return AIF_TOOBIG;
	for (size_t i = 0; i < n; i++)
		p[i] = AIF_P_I64(ids[i]);
	if ((err = aif_db_query(db, sql, p, n, &rows)) != AIF_OK)
		return err;
	if (rows->nrows == 0) {
		aif_dbrows_free(rows);
		return AIF_OK;
	}
	if ((v = calloc(rows->nrows, sizeof(*v))) == NULL) {
		aif_dbrows_free(rows);
		return AIF_NOMEM;
	}
	for (size_t r = 0; r < rows->nrows; r++)
		fill_view(&v[r], rows, r);
	*nout = rows->nrows;
	*out = v;
	aif_dbrows_free(rows);
	return AIF_OK;
}

enum aif_err
aif_queue_view_public(struct aif_db *db, const char *public_id, uint64_t api_key_id,
    struct aif_job_view **out)
{
	static const char sql[] = VIEW_COLS "WHERE public_id = ? AND api_key_id = ?";
	struct aif_dbp p[] = { AIF_P_STR(public_id), AIF_P_I64(api_key_id) };
	struct aif_dbrows *rows = NULL;
	struct aif_job_view *v;
	enum aif_err err;

	*out = NULL;
	if ((err = aif_db_query(db, sql, p, 2, &rows)) != AIF_OK)
		return err;
	if (rows->nrows == 0) {
		aif_dbrows_free(rows);
		return AIF_NOTFOUND;
	}
	if ((v = calloc(1, sizeof(*v))) == NULL) {
		aif_dbrows_free(rows);
		return AIF_NOMEM;
	}
	fill_view(v, rows, 0);
	aif_dbrows_free(rows);
	*out = v;
	return AIF_OK;
}
