/* jobs.c -- reading and tidying job rows; see jobs.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "sqlbuf.h"

#define MAX_IN		256
#define RETENTION_BATCH	5000

/* ---- views ------------------------------------------------------------------------- */

#define STRINGIFY_(x)	#x
#define STRINGIFY(x)	STRINGIFY_(x)
#define INLINE_MAX_SQL	STRINGIFY(AIF_JOBS_INLINE_MAX)	/* the answer read with its view */
#define VIEW_COLS \
	"SELECT id, public_id, api_key_id, model, kind, state, priority, attempts," \
	" COALESCE(http_status, 0), UNIX_TIMESTAMP(created_at)," \
	" COALESCE(UNIX_TIMESTAMP(started_at), 0), COALESCE(UNIX_TIMESTAMP(finished_at), 0)," \
	" COALESCE(LENGTH(response_body), -1), error_type, error_code, error_message," \
	" zero_retention, IF(LENGTH(response_body) <= " INLINE_MAX_SQL "," \
	" response_body, NULL) FROM jobs "
enum {
	VW_ID, VW_PUBLIC_ID, VW_KEY, VW_MODEL, VW_KIND, VW_STATE, VW_PRIORITY, VW_ATTEMPTS,
	VW_HTTP_STATUS, VW_CREATED, VW_STARTED, VW_FINISHED, VW_RESPONSE, VW_ERROR_TYPE,
	VW_ERROR_CODE, VW_ERROR_MESSAGE, VW_ZERO_RETENTION, VW_INLINE
};

void
aif_jobs_views_free(struct aif_job_view *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i].response_inline);
	free(v);
}

static void
fill_view(struct aif_job_view *v, struct aif_dbrows *rows, size_t r)
{
	v->id = (uint64_t)aif_dbrows_i64(rows, r, VW_ID);
	aif_dbrows_copy(rows, r, VW_PUBLIC_ID, v->public_id, sizeof(v->public_id));
	v->api_key_id = (uint64_t)aif_dbrows_i64(rows, r, VW_KEY);
	aif_dbrows_copy(rows, r, VW_MODEL, v->model, sizeof(v->model));
	v->kind = AIF_KIND_CHAT;
	(void)aif_kind_parse(aif_dbrows_get(rows, r, VW_KIND), &v->kind);
	v->workflow = aif_dbrows_get(rows, r, VW_KIND) != NULL &&
	    strcmp(aif_dbrows_get(rows, r, VW_KIND), "pipeline") == 0;
	aif_dbrows_copy(rows, r, VW_STATE, v->state, sizeof(v->state));
	v->priority = (int)aif_dbrows_i64(rows, r, VW_PRIORITY);
	v->attempts = (int)aif_dbrows_i64(rows, r, VW_ATTEMPTS);
	v->http_status = (int)aif_dbrows_i64(rows, r, VW_HTTP_STATUS);
	v->created_at = aif_dbrows_i64(rows, r, VW_CREATED);
	v->started_at = aif_dbrows_i64(rows, r, VW_STARTED);
	v->finished_at = aif_dbrows_i64(rows, r, VW_FINISHED);
	v->response_len = aif_dbrows_i64(rows, r, VW_RESPONSE);
	aif_dbrows_copy(rows, r, VW_ERROR_TYPE, v->error_type, sizeof(v->error_type));
	aif_dbrows_copy(rows, r, VW_ERROR_CODE, v->error_code, sizeof(v->error_code));
	aif_dbrows_copy(rows, r, VW_ERROR_MESSAGE, v->error_message,
	    sizeof(v->error_message));
	v->zero_retention = aif_dbrows_i64(rows, r, VW_ZERO_RETENTION) != 0;
	/* NULL when too big (or none): then it is read in pieces */
	v->response_inline = aif_dbrows_steal(rows, r, VW_INLINE);
}

/* Turns every row into a view: *out new, *nout set. */
static enum aif_err
views_of(struct aif_dbrows *rows, struct aif_job_view **out, size_t *nout)
{
	struct aif_job_view *v;

	if (rows->nrows == 0)
		return AIF_OK;
	if ((v = calloc(rows->nrows, sizeof(*v))) == NULL)
		return AIF_NOMEM;
	for (size_t r = 0; r < rows->nrows; r++)
		fill_view(&v[r], rows, r);
	*nout = rows->nrows;
	*out = v;
	return AIF_OK;
}

enum aif_err
aif_jobs_response_piece(struct aif_db *db, uint64_t id, int64_t from_char, int64_t nchars,
    char **out, size_t *len)
{
	enum { RP_TEXT };
	static const char sql[] =
	    "SELECT SUBSTRING(response_body, ?, ?) FROM jobs WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(from_char + 1), AIF_P_I64(nchars), AIF_P_I64(id) };
	struct aif_dbrows *r = NULL;
	enum aif_err err;

	*out = NULL;
	*len = 0;
	if ((err = AIF_DB_QUERY(db, sql, p, &r)) != AIF_OK)
		return err;
	if (r->nrows != 1 || aif_dbrows_get(r, 0, RP_TEXT) == NULL) {
		aif_dbrows_free(r);
		return AIF_NOTFOUND;
	}
	*len = r->lens[RP_TEXT];
	*out = aif_dbrows_steal(r, 0, RP_TEXT);
	aif_dbrows_free(r);
	return *out != NULL ? AIF_OK : AIF_NOMEM;
}

enum aif_err
aif_jobs_response_each(struct aif_db *db, uint64_t id,
    int (*fn)(void *arg, const char *piece, size_t len), void *arg)
{
	int64_t at = 0;

	for (;;) {
		char *piece;
		size_t len;
		enum aif_err err = aif_jobs_response_piece(db, id, at, AIF_JOBS_PIECE_CHARS,
		    &piece, &len);
		if (err != AIF_OK)
			return err;
		if (len > 0 && fn(arg, piece, len) != 0) {
			free(piece);
			return AIF_IO;
		}
		free(piece);
		/* fewer bytes than the characters asked for: fewer characters, so this
		   was the last piece (a full one may be too: the next read says) */
		if (len < AIF_JOBS_PIECE_CHARS)
			return AIF_OK;
		at += AIF_JOBS_PIECE_CHARS;
	}
}

struct gather {
	char	*buf;
	size_t	 len, max;
};

static int
gather_piece(void *arg, const char *piece, size_t len)
{
	struct gather *g = arg;
	char *p;

	if (len > g->max - g->len || (p = realloc(g->buf, g->len + len + 1)) == NULL)
		return -1;
	memcpy(p + g->len, piece, len);
	g->buf = p;
	g->len += len;
	g->buf[g->len] = '\0';
	return 0;
}

enum aif_err
aif_jobs_response_read(struct aif_db *db, uint64_t id, size_t max, char **out, size_t *len)
{
	struct gather g = { NULL, 0, max };
	enum aif_err err = aif_jobs_response_each(db, id, gather_piece, &g);

	if (err != AIF_OK || g.buf == NULL) {
		free(g.buf);
		*out = NULL;
		*len = 0;
		return err != AIF_OK ? err : AIF_NOTFOUND;
	}
	*out = g.buf;
	*len = g.len;
	return AIF_OK;
}

enum aif_err
aif_jobs_request_read(struct aif_db *db, uint64_t id, char **out, size_t *len)
{
	enum { RR_BODY };
	static const char sql[] = "SELECT request_body FROM jobs WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*out = NULL;
	*len = 0;
	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
		return err;
	if (rows->nrows == 1 && aif_dbrows_get(rows, 0, RR_BODY) != NULL) {
		*len = rows->lens[RR_BODY];
		*out = aif_dbrows_steal(rows, 0, RR_BODY);
	} else {
		err = AIF_NOTFOUND;
	}
	aif_dbrows_free(rows);
	return err;
}

enum aif_err
aif_jobs_forget_bodies(struct aif_db *db, uint64_t id)
{
	static const char sql[] =
	    "UPDATE jobs SET request_body = '{}', response_body = NULL WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	uint64_t affected = 0;
	enum aif_err err = AIF_DB_EXEC(db, sql, p, &affected, NULL);

	return err != AIF_OK ? err : affected == 0 ? AIF_NOTFOUND : AIF_OK;
}

enum aif_err
aif_jobs_final_views(struct aif_db *db, const uint64_t *ids, size_t n,
    struct aif_job_view **out, size_t *nout)
{
	struct aif_dbp p[MAX_IN];
	struct aif_sqlbuf sql = { 0 };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return AIF_OK;
	if (n > MAX_IN)
		return AIF_TOOBIG;
	aif_sqlbuf_add(&sql, VIEW_COLS "WHERE state IN ('succeeded','failed','cancelled',"
	    "'compensating') AND id IN (");
	aif_sqlbuf_marks(&sql, n);
	aif_sqlbuf_add(&sql, ")");
	for (size_t i = 0; i < n; i++)
		p[i] = AIF_P_I64(ids[i]);
	if ((err = aif_sqlbuf_status(&sql)) == AIF_OK &&
	    (err = aif_db_query(db, aif_sqlbuf_get(&sql), p, n, &rows)) == AIF_OK)
		err = views_of(rows, out, nout);
	aif_dbrows_free(rows);
	aif_sqlbuf_free(&sql);
	return err;
}

enum aif_err
aif_jobs_view_public(struct aif_db *db, const char *public_id, uint64_t api_key_id,
    struct aif_job_view **out)
{
	static const char sql[] = VIEW_COLS "WHERE public_id = ? AND api_key_id = ?";
	struct aif_dbp p[] = { AIF_P_STR(public_id), AIF_P_I64(api_key_id) };
	struct aif_dbrows *rows = NULL;
	size_t n = 0;
	enum aif_err err;

	*out = NULL;
	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
		return err;
	err = rows->nrows == 0 ? AIF_NOTFOUND : views_of(rows, out, &n);
	aif_dbrows_free(rows);
	return err;
}

int
aif_jobs_state_final(const char *state)
{
	return strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
	    strcmp(state, "cancelled") == 0;
}

/* ---- idempotency --------------------------------------------------------------------- */

enum aif_err
aif_jobs_find_idempotent(struct aif_db *db, uint64_t api_key_id, const char *idem,
    const unsigned char *sha256, int64_t window_s, uint64_t *id, char *public_id,
    int *same_body)
{
	enum { ID_ID, ID_PUBLIC_ID, ID_SAME_BODY, ID_EXPIRED };
	static const char by_key[] =
	    "SELECT id, public_id, request_sha256 = ?,"
	    " created_at < NOW(6) - INTERVAL ? SECOND FROM jobs"
	    " WHERE api_key_id = ? AND idempotency_key = ? AND batch_id IS NULL";
	static const char release[] =
	    "UPDATE jobs SET idempotency_key = NULL WHERE id = ?";
	static const char by_hash[] =
	    "SELECT id, public_id, 1, 0 FROM jobs FORCE INDEX (ix_jobs_key_request)"
	    " WHERE api_key_id = ? AND request_sha256 = ?"
	    " AND created_at > NOW(6) - INTERVAL ? SECOND AND state <> 'failed'"
	    " AND batch_id IS NULL ORDER BY created_at DESC LIMIT 1";
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*id = 0;
	public_id[0] = '\0';
	*same_body = 0;
	if (idem != NULL) {
		struct aif_dbp p[] = { AIF_P_STRN((const char *)sha256, 32),
		    AIF_P_I64(window_s), AIF_P_I64(api_key_id), AIF_P_STR(idem) };
		err = AIF_DB_QUERY(db, by_key, p, &rows);
	} else {
		struct aif_dbp p[] = { AIF_P_I64(api_key_id),
		    AIF_P_STRN((const char *)sha256, 32), AIF_P_I64(window_s) };
		err = AIF_DB_QUERY(db, by_hash, p, &rows);
	}
	if (err != AIF_OK)
		return err;
	if (rows->nrows == 0) {
		aif_dbrows_free(rows);
		return AIF_NOTFOUND;
	}
	*id = (uint64_t)aif_dbrows_i64(rows, 0, ID_ID);
	aif_dbrows_copy(rows, 0, ID_PUBLIC_ID, public_id, AIF_JOB_ID_LEN + 1);
	*same_body = aif_dbrows_i64(rows, 0, ID_SAME_BODY) == 1;
	if (aif_dbrows_i64(rows, 0, ID_EXPIRED) == 1) {
		/* past the window: the key is free again */
		struct aif_dbp p[] = { AIF_P_I64(*id) };
		aif_dbrows_free(rows);
		*id = 0;
		public_id[0] = '\0';
		if ((err = AIF_DB_EXEC(db, release, p, NULL, NULL)) != AIF_OK)
			return err;
		return AIF_NOTFOUND;
	}
	aif_dbrows_free(rows);
	return AIF_OK;
}

/* ---- lookups for cancellation and operators ------------------------------------------ */

enum aif_err
aif_jobs_worker_doorbell(struct aif_db *db, uint64_t id, char *buf, size_t cap)
{
	enum { WD_DOORBELL };
	static const char sql[] =
	    "SELECT w.doorbell FROM jobs j JOIN workers w ON w.id = j.worker_id"
	    " WHERE j.id = ? AND j.state = 'running'";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	buf[0] = '\0';
	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
		return err;
	if (rows->nrows == 1)
		aif_dbrows_copy(rows, 0, WD_DOORBELL, buf, cap);
	aif_dbrows_free(rows);
	return AIF_OK;
}

enum aif_err
aif_jobs_resolve(struct aif_db *db, const char *name, uint64_t *id)
{
	static const char sql[] = "SELECT id FROM jobs WHERE public_id = ? OR id = ?";
	int64_t n = 0, v = 0;
	enum aif_err err;

	*id = 0;
	(void)aif_parse_i64(name, 1, INT64_MAX, &n);
	struct aif_dbp p[] = { AIF_P_STR(name), AIF_P_I64(n) };
	if ((err = AIF_DB_QUERY_I64(db, sql, p, &v)) == AIF_OK && v <= 0)
		err = AIF_NOTFOUND;
	if (err == AIF_OK)
		*id = (uint64_t)v;
	return err;
}

enum aif_err
aif_jobs_queue_depth(struct aif_db *db, struct aif_dbrows **out)
{
	static const char sql[] =
	    "SELECT model, priority, state, COUNT(*) AS jobs,"
	    " COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(created_at), NOW(6)), 0)"
	    " AS oldest_age_us FROM jobs WHERE state IN ('queued','running','compensating')"
	    " AND kind <> 'pipeline' GROUP BY model, priority, state ORDER BY model, priority DESC, state";

	return aif_db_query_plain(db, sql, out);
}

enum aif_err
aif_jobs_backlog(struct aif_db *db, const char *model, int64_t *depth, int64_t *oldest_ms)
{
	enum { BL_DEPTH, BL_AGE };
	static const char sql[] =
	    "SELECT COUNT(*), COALESCE(MAX(IF(state = 'queued',"
	    " TIMESTAMPDIFF(MICROSECOND, created_at, NOW(6)) DIV 1000, 0)), 0)"
	    " FROM jobs WHERE state IN ('queued','running') AND kind <> 'pipeline'"
	    " AND (? IS NULL OR model = ?)";
	struct aif_dbp p[] = { AIF_P_STR(model), AIF_P_STR(model) };
	struct aif_dbrows *r = NULL;
	enum aif_err err;

	*depth = *oldest_ms = 0;
	if ((err = AIF_DB_QUERY(db, sql, p, &r)) != AIF_OK)
		return err;
	if (r->nrows == 1) {
		*depth = aif_dbrows_i64(r, 0, BL_DEPTH);
		*oldest_ms = aif_dbrows_i64(r, 0, BL_AGE);
	}
	aif_dbrows_free(r);
	return AIF_OK;
}

enum aif_err
aif_jobs_is_cancelled(struct aif_db *db, uint64_t id, int *cancelled)
{
	static const char sql[] = "SELECT state = 'cancelled' FROM jobs WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	int64_t v = 0;
	enum aif_err err = AIF_DB_QUERY_I64(db, sql, p, &v);

	*cancelled = v == 1;
	return err == AIF_NOTFOUND ? AIF_OK : err;
}

enum aif_err
aif_jobs_count_queued(struct aif_db *db, const char *tenant, uint64_t api_key_id,
    int64_t *n)
{
	static const char by_tenant[] =
	    "SELECT COUNT(*) FROM jobs FORCE INDEX (ix_jobs_tenant_queued)"
	    " WHERE tenant = ? AND queued_mark = 1"
	    " AND kind <> 'pipeline' AND priority >= 0";
	static const char by_key[] =
	    "SELECT COUNT(*) FROM jobs FORCE INDEX (ix_jobs_key_queued)"
	    " WHERE api_key_id = ? AND queued_mark = 1"
	    " AND kind <> 'pipeline' AND priority >= 0";
	struct aif_dbp pt[] = { AIF_P_STR(tenant) }, pk[] = { AIF_P_I64(api_key_id) };
	enum aif_err err;

	err = tenant != NULL ? AIF_DB_QUERY_I64(db, by_tenant, pt, n) :
	    AIF_DB_QUERY_I64(db, by_key, pk, n);
	return err == AIF_NOTFOUND ? AIF_OK : err;
}

enum aif_err
aif_jobs_last_minute(struct aif_db *db, int64_t *succeeded, int64_t *failed)
{
	enum { LM_SUCCEEDED, LM_FAILED };
	static const char sql[] =
	    "SELECT (SELECT COUNT(*) FROM `usage` WHERE created_at > NOW(6) - INTERVAL 1 MINUTE),"
	    " (SELECT COUNT(*) FROM jobs WHERE state = 'failed'"
	    "  AND finished_at > NOW(6) - INTERVAL 1 MINUTE)";
	struct aif_dbrows *r = NULL;
	enum aif_err err;

	*succeeded = *failed = 0;
	if ((err = aif_db_query_plain(db, sql, &r)) != AIF_OK)
		return err;
	if (r->nrows == 1) {
		*succeeded = aif_dbrows_i64(r, 0, LM_SUCCEEDED);
		*failed = aif_dbrows_i64(r, 0, LM_FAILED);
	}
	aif_dbrows_free(r);
	return AIF_OK;
}

enum aif_err
aif_jobs_retention(struct aif_db *db, int64_t days, uint64_t *payloads, uint64_t *events)
{
	static const char q_payloads[] =
	    "UPDATE jobs SET request_body = '', response_body = NULL"
	    " WHERE state IN ('succeeded','failed','cancelled')"
	    " AND finished_at < NOW(6) - INTERVAL ? DAY AND request_body <> '' LIMIT 5000";
	static const char q_events[] =
	    "DELETE FROM job_events WHERE at < NOW(6) - INTERVAL ? DAY LIMIT 5000";
	struct aif_dbp p[] = { AIF_P_I64(days) };
	struct aif_dbp pe[] = { AIF_P_I64(3 * days) };
	uint64_t n = 0;
	enum aif_err err;

	*payloads = *events = 0;
	do {
		if ((err = AIF_DB_EXEC(db, q_payloads, p, &n, NULL)) != AIF_OK)
			return err;
		*payloads += n;
	} while (n == RETENTION_BATCH);
	do {
		if ((err = AIF_DB_EXEC(db, q_events, pe, &n, NULL)) != AIF_OK)
			return err;
		*events += n;
	} while (n == RETENTION_BATCH);
	return AIF_OK;
}
