/* console.c -- the admin views (console.h): each runs its queries and turns the rows
 * into the JSON document of docs/CONSOLE.md through one table of columns per query
 * (name and type), so a column added to a query is added to its table beside it. */
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "jobs.h"
#include "registry.h"
#include "runs.h"
#include "sqlbuf.h"
#include "util.h"

/* A column of a result as it goes into JSON. */
enum ctype {
	C_STR,		/* string, or null */
	C_INT,		/* integer (the leading digits of a decimal), or null */
	C_BOOL,		/* "1" true, anything else false; null stays null */
	C_NUM,		/* real number, or null */
	C_JSON,		/* JSON text stored by the gateway; null when it does not parse */
	C_US_MS,	/* microseconds shown as milliseconds */
	C_SKIP,		/* read but not shown */
};
struct col {
	const char	*name;
	enum ctype	 type;
};

/* Milliseconds since the epoch of a DATETIME column, as SQL. */
#define MS(x)	"ROUND(UNIX_TIMESTAMP(" x ") * 1000)"

static json_t *
cell_json(const char *v, enum ctype t)
{
	json_t *j;

	if (v == NULL)
		return json_null();
	switch (t) {
	case C_STR:
		return json_string(v);
	case C_INT:
		return json_integer(strtoll(v, NULL, 10));
	case C_US_MS:
		return json_integer(strtoll(v, NULL, 10) / 1000);
	case C_BOOL:
		return json_boolean(strcmp(v, "1") == 0);
	case C_NUM:
		return json_real(strtod(v, NULL));
	case C_JSON:
		j = json_loads(v, JSON_DECODE_ANY, NULL);
		return j != NULL ? j : json_null();
	case C_SKIP:
		break;
	}
	return json_null();
}

/* Row `row` of r as an object of the columns cols (n of them, r's own count). */
static json_t *
row_json(const struct aif_dbrows *r, size_t row, const struct col *cols, size_t n)
{
	json_t *o = json_object();

	for (size_t c = 0; o != NULL && c < n && c < r->ncols; c++)
		if (cols[c].type != C_SKIP &&
		    json_object_set_new(o, cols[c].name,
		    cell_json(aif_dbrows_get(r, row, c), cols[c].type)) != 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

/* Rows [from, to) of r, as an array of row_json objects; NULL when out of memory. */
static json_t *
rows_json(const struct aif_dbrows *r, size_t from, size_t to, const struct col *cols,
    size_t n)
{
	json_t *a = json_array();

	for (size_t i = from; a != NULL && i < to && i < r->nrows; i++)
		if (json_array_append_new(a, row_json(r, i, cols, n)) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* Sets `key` of o to the rows of r (freed here) as cols say. */
static enum aif_err
put_owned(json_t *o, const char *key, struct aif_dbrows *r, const struct col *cols,
    size_t n)
{
	enum aif_err err = json_object_set_new(o, key, rows_json(r, 0, r->nrows, cols,
	    n)) == 0 ?
	    AIF_OK : AIF_NOMEM;

	aif_dbrows_free(r);
	return err;
}

/* Runs sql with p (np of them) and sets `key` of o to rows_json of the result. */
static enum aif_err
put_rows(struct aif_db *db, json_t *o, const char *key, const char *sql,
    struct aif_dbp *p, size_t np, const struct col *cols, size_t n)
{
	struct aif_dbrows *r = NULL;
	enum aif_err err = aif_db_query(db, sql, p, np, &r);

	return err == AIF_OK ? put_owned(o, key, r, cols, n) : err;
}

/* ---- the overview ------------------------------------------------------------------ */

/* The last hour, one row per minute that had jobs, of the jobs clients sent (a
 * workflow run counts once, not its model steps): succeeded (their usage rows: queue +
 * engine time gives p50 and p95; a cancelled job that was billed is not a success),
 * failed (a `failed` event: after its compensations, if any; or never run before its
 * deadline). ix_usage_created and ix_job_events_at bound the reads. */
static const char q_hour[] =
    "SELECT m, SUM(ok), SUM(bad), MAX(p50), MAX(p95) FROM ("
    " SELECT FLOOR(UNIX_TIMESTAMP(u.created_at) / 60) AS m, 1 AS ok, 0 AS bad,"
    "  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY u.queue_ms + u.engine_ms)"
    "   OVER (PARTITION BY FLOOR(UNIX_TIMESTAMP(u.created_at) / 60)) AS p50,"
    "  PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY u.queue_ms + u.engine_ms)"
    "   OVER (PARTITION BY FLOOR(UNIX_TIMESTAMP(u.created_at) / 60)) AS p95"
    "  FROM `usage` u JOIN jobs j ON j.id = u.job_id"
    "  WHERE u.created_at >= NOW(6) - INTERVAL 1 HOUR AND j.state = 'succeeded'"
    "  AND j.parent_job_id IS NULL"
    " UNION ALL"
    " SELECT FLOOR(UNIX_TIMESTAMP(e.at) / 60), 0, 1, NULL, NULL FROM job_events e"
    "  JOIN jobs j ON j.id = e.job_id"
    "  WHERE e.at >= NOW(6) - INTERVAL 1 HOUR AND e.event IN ('failed', 'expired')"
    "  AND j.parent_job_id IS NULL"
    ") x GROUP BY m ORDER BY m";
enum { H_MINUTE, H_OK, H_BAD, H_P50, H_P95 };

/* A minute of the hour as a point (zeros and null latencies when row is -1). */
static json_t *
hour_point(const struct aif_dbrows *r, long row, int64_t minute)
{
	const char *p50 = row >= 0 ? aif_dbrows_get(r, (size_t)row, H_P50) : NULL;
	const char *p95 = row >= 0 ? aif_dbrows_get(r, (size_t)row, H_P95) : NULL;

	return json_pack("{s:I,s:I,s:I,s:o,s:o}", "t_ms", (json_int_t)(minute * 60000),
	    "succeeded", (json_int_t)(row >= 0 ? aif_dbrows_i64(r, (size_t)row, H_OK) : 0),
	    "failed", (json_int_t)(row >= 0 ? aif_dbrows_i64(r, (size_t)row, H_BAD) : 0),
	    "p50_ms", p50 != NULL ? json_integer((json_int_t)(strtod(p50, NULL) + 0.5)) : json_null(),
	    "p95_ms", p95 != NULL ? json_integer((json_int_t)(strtod(p95, NULL) + 0.5)) : json_null());
}

/* o.hour (60 points, the oldest first, ending with the current minute) and o.totals. */
static enum aif_err
put_hour(struct aif_db *db, json_t *o, int64_t now_ms)
{
	struct aif_dbrows *r = NULL;
	int64_t last = now_ms / 60000, ok = 0, bad = 0;
	json_t *points = json_array();
	size_t next = 0;
	enum aif_err err;

	if (points == NULL)
		return AIF_NOMEM;
	if ((err = aif_db_query_plain(db, q_hour, &r)) != AIF_OK) {
		json_decref(points);
		return err;
	}
	for (int64_t m = last - 59; m <= last; m++) {
		long row = -1;
		while (next < r->nrows && aif_dbrows_i64(r, next, H_MINUTE) < m)
			next++;
		if (next < r->nrows && aif_dbrows_i64(r, next, H_MINUTE) == m) {
			row = (long)next;
			ok += aif_dbrows_i64(r, next, H_OK);
			bad += aif_dbrows_i64(r, next, H_BAD);
		}
		json_array_append_new(points, hour_point(r, row, m));
	}
	aif_dbrows_free(r);
	if (json_object_set_new(o, "hour", json_pack("{s:i,s:o}", "bucket_s", 60, "points",
	    points)) != 0 || json_object_set_new(o, "totals", json_pack("{s:I,s:I,s:f}",
	    "succeeded", (json_int_t)ok, "failed", (json_int_t)bad, "error_rate",
	    ok + bad > 0 ? (double)bad / (double)(ok + bad) : 0.0)) != 0)
		return AIF_NOMEM;
	return AIF_OK;
}

static const struct col c_queue[] = {
	{ "model", C_STR }, { "priority", C_INT }, { "state", C_STR }, { "jobs", C_INT },
	{ "oldest_age_ms", C_US_MS },
};
static const struct col c_replicas[] = {
	{ "model", C_STR }, { "replica", C_STR }, { "in_flight", C_INT },
	{ "circuit_open", C_BOOL }, { "healthy", C_BOOL },
};
static const struct col c_workers[] = {
	{ "id", C_INT }, { "instance", C_STR }, { "host", C_STR }, { "pid", C_INT },
	{ "state", C_STR }, { "slots", C_INT }, { "in_flight", C_INT },
	{ "started_at", C_SKIP }, { "heartbeat_age_s", C_NUM }, { "started_at_ms", C_INT },
	{ "live", C_BOOL },
};

enum aif_err
aif_console_overview(struct aif_db *db, int stale_s, json_t **out)
{
	int64_t now_ms = aif_wall_ms();
	struct aif_dbrows *r = NULL;
	json_t *o = json_pack("{s:s,s:I}", "object", "console.overview", "now_ms",
	    (json_int_t)now_ms);
	enum aif_err err = o != NULL ? AIF_OK : AIF_NOMEM;

	if (err == AIF_OK && (err = aif_jobs_queue_depth(db, &r)) == AIF_OK)
		err = put_owned(o, "queue", r, c_queue, AIF_NELEM(c_queue));
	if (err == AIF_OK && (err = aif_registry_replicas(db, stale_s, &r)) == AIF_OK)
		err = put_owned(o, "replicas", r, c_replicas, AIF_NELEM(c_replicas));
	if (err == AIF_OK && (err = aif_registry_workers(db, stale_s, &r)) == AIF_OK)
		err = put_owned(o, "workers", r, c_workers, AIF_NELEM(c_workers));
	if (err == AIF_OK)
		err = put_hour(db, o, now_ms);
	if (err != AIF_OK) {
		json_decref(o);
		o = NULL;
	}
	*out = o;
	return err;
}

/* ---- the list of jobs ------------------------------------------------------------- */

/* The list: the filters that are set are added as conditions (values as parameters),
 * so the server plans each search with the indexes that serve it. A key's jobs carry
 * its lineage's id (the first key of its rotation chain): a prefix of any key of the
 * lineage finds them, compared case-sensitively (the column's collation is not). */
static const char q_jobs_head[] =
    "SELECT j.public_id, j.id, j.model, j.kind, j.state, j.priority, j.attempts,"
    " j.max_attempts, j.api_key_id, k.key_prefix, j.tenant, j.kind = 'pipeline',"
    " " MS("j.created_at") ", " MS("j.finished_at") ", j.http_status, j.error_code"
    " FROM jobs j LEFT JOIN api_keys k ON k.id = j.api_key_id WHERE 1 = 1";
enum { JOBS_PARAMS_MAX = 12 };

/* Adds the conditions of f to sql and their values to p (*n of them). */
static void
jobs_where(struct aif_sqlbuf *sql, const struct aif_console_filter *f, struct aif_dbp *p,
    size_t *n)
{
	const struct { const char *cond; const char *v; } text[] = {
		{ " AND j.public_id = ?", f->public_id }, { " AND j.tenant = ?", f->tenant },
		{ " AND j.model = ?", f->model }, { " AND j.state = ?", f->state },
	};
	const struct { const char *cond; int64_t v; } nums[] = {
		{ " AND j.id = ?", (int64_t)f->number },
		{ " AND j.created_at >= FROM_UNIXTIME(? / 1000)", f->since_ms },
		{ " AND j.created_at < FROM_UNIXTIME(? / 1000)", f->until_ms },
		{ " AND j.id < ?", (int64_t)f->before },
	};

	for (size_t i = 0; i < AIF_NELEM(text); i++)
		if (text[i].v != NULL) {
			aif_sqlbuf_add(sql, text[i].cond);
			p[(*n)++] = AIF_P_STR(text[i].v);
		}
	for (size_t i = 0; i < AIF_NELEM(nums); i++)
		if (nums[i].v != 0) {
			aif_sqlbuf_add(sql, nums[i].cond);
			p[(*n)++] = AIF_P_I64(nums[i].v);
		}
	if (f->key_prefix != NULL) {
		aif_sqlbuf_add(sql, " AND j.api_key_id IN (SELECT IF(x.lineage_id = 0, x.id,"
		    " x.lineage_id) FROM api_keys x WHERE CAST(LEFT(x.key_prefix, CHAR_LENGTH(?))"
		    " AS BINARY) = CAST(? AS BINARY))");
		p[(*n)++] = AIF_P_STR(f->key_prefix);
		p[(*n)++] = AIF_P_STR(f->key_prefix);
	}
	aif_sqlbuf_add(sql, " ORDER BY j.id DESC LIMIT ?");
}

static const struct col c_jobs[] = {
	{ "id", C_STR }, { "number", C_INT }, { "model", C_STR }, { "kind", C_STR },
	{ "state", C_STR }, { "priority", C_INT }, { "attempts", C_INT },
	{ "max_attempts", C_INT }, { "key_id", C_INT }, { "key_prefix", C_STR },
	{ "tenant", C_STR }, { "workflow", C_BOOL }, { "created_ms", C_INT },
	{ "finished_ms", C_INT }, { "http_status", C_INT }, { "error_code", C_STR },
};
enum { JL_NUMBER = 1 };

enum aif_err
aif_console_jobs(struct aif_db *db, const struct aif_console_filter *f, json_t **out)
{
	int limit = f->limit < 1 ? 1 : f->limit > AIF_CONSOLE_LIST_MAX ?
	    AIF_CONSOLE_LIST_MAX : f->limit;
	struct aif_sqlbuf sql = { 0 };
	struct aif_dbp p[JOBS_PARAMS_MAX];
	struct aif_dbrows *r = NULL;
	enum aif_err err;
	size_t n = 0;
	int more;
	json_t *o;

	*out = NULL;
	aif_sqlbuf_add(&sql, q_jobs_head);
	jobs_where(&sql, f, p, &n);
	p[n++] = AIF_P_I64(limit + 1);
	if ((err = aif_sqlbuf_status(&sql)) == AIF_OK)
		err = aif_db_query(db, aif_sqlbuf_get(&sql), p, n, &r);
	aif_sqlbuf_free(&sql);
	if (err != AIF_OK)
		return err;
	/* the extra row only says there is more */
	more = r->nrows > (size_t)limit;
	o = json_pack("{s:s,s:o,s:b,s:o}", "object", "list", "data",
	    rows_json(r, 0, (size_t)limit, c_jobs, AIF_NELEM(c_jobs)), "has_more", more,
	    "next_before", more ? json_integer(aif_dbrows_i64(r, (size_t)limit - 1,
	    JL_NUMBER)) : json_null());
	aif_dbrows_free(r);
	*out = o;
	return o != NULL ? AIF_OK : AIF_NOMEM;
}

/* ---- one job ----------------------------------------------------------------------- */

static const char q_job[] =
    "SELECT j.public_id, j.id, j.model, j.kind, j.kind = 'pipeline', j.state,"
    " j.priority, j.attempts, j.max_attempts, j.api_key_id, k.key_prefix, k.name,"
    " j.tenant, j.stream, " MS("j.created_at") ", " MS("j.started_at") ","
    " " MS("j.finished_at") ", j.http_status, j.error_type, j.error_code,"
    " j.error_message, j.replica, j.budget_state, j.budget_hold_micros, j.pii_counts,"
    " p.public_id, j.parent_step"
    " FROM jobs j LEFT JOIN api_keys k ON k.id = j.api_key_id"
    " LEFT JOIN jobs p ON p.id = j.parent_job_id WHERE j.id = ?";
static const struct col c_job[] = {
	{ "id", C_STR }, { "number", C_INT }, { "model", C_STR }, { "kind", C_STR },
	{ "workflow", C_BOOL }, { "state", C_STR }, { "priority", C_INT },
	{ "attempts", C_INT }, { "max_attempts", C_INT }, { "key_id", C_INT },
	{ "key_prefix", C_STR }, { "key_name", C_STR }, { "tenant", C_STR },
	{ "stream", C_BOOL }, { "created_ms", C_INT }, { "started_ms", C_INT },
	{ "finished_ms", C_INT }, { "http_status", C_INT }, { "error_type", C_SKIP },
	{ "error_code", C_SKIP }, { "error_message", C_SKIP }, { "replica", C_STR },
	{ "budget_state", C_STR }, { "budget_hold_micros", C_INT },
	{ "pii_counts", C_JSON }, { "parent", C_STR }, { "parent_step", C_STR },
};
enum { JC_ERROR_TYPE = 18, JC_ERROR_CODE, JC_ERROR_MESSAGE };

/* The bodies: their size in bytes, and their first AIF_CONSOLE_BODY_MAX characters;
 * none of a zero-retention job (its body is dropped when it ends, not before). */
static const char q_bodies[] =
    "SELECT LENGTH(request_body), CHAR_LENGTH(request_body) > ?,"
    " IF(zero_retention, NULL, LEFT(request_body, ?)),"
    " LENGTH(response_body), CHAR_LENGTH(response_body) > ?,"
    " IF(zero_retention, NULL, LEFT(response_body, ?))"
    " FROM jobs WHERE id = ?";
/* The newest AIF_CONSOLE_EVENTS_MAX events (a long run's end is what matters), in
 * order; one more is read to tell that older ones were left out. */
static const char q_events[] =
    "SELECT * FROM (SELECT " MS("at") " AS at_ms, event, attempt, worker_id, replica,"
    " detail, actor_key_id, at, seq FROM job_timeline WHERE job_id = ?"
    " ORDER BY at DESC, seq DESC LIMIT ?) t ORDER BY at, seq";
static const struct col c_events[] = {
	{ "at_ms", C_INT }, { "event", C_STR }, { "attempt", C_INT },
	{ "worker_id", C_INT }, { "replica", C_STR }, { "detail", C_STR },
	{ "actor_key_id", C_INT }, { "at", C_SKIP }, { "seq", C_SKIP },
};
static const char q_comps[] =
    "SELECT step_no, name, state, attempts, max_attempts, " MS("next_at") ", last_error"
    " FROM job_compensations WHERE job_id = ? ORDER BY step_no";
static const struct col c_comps[] = {
	{ "step_no", C_INT }, { "name", C_STR }, { "state", C_STR }, { "attempts", C_INT },
	{ "max_attempts", C_INT }, { "next_ms", C_INT }, { "last_error", C_STR },
};
static const char q_usage[] =
    "SELECT prompt_tokens, completion_tokens, cost_micros, queue_ms, engine_ms, engine,"
    " replica FROM `usage` WHERE job_id = ?";
static const struct col c_usage[] = {
	{ "prompt_tokens", C_INT }, { "completion_tokens", C_INT },
	{ "cost_micros", C_INT }, { "queue_ms", C_INT }, { "engine_ms", C_INT },
	{ "engine", C_STR }, { "replica", C_STR },
};

/* A stored body as {"text","bytes","truncated"}, or null when none was kept. */
static json_t *
body_json(const struct aif_dbrows *r, size_t col)
{
	const char *text = aif_dbrows_get(r, 0, col + 2);

	if (text == NULL || text[0] == '\0')
		return json_null();
	return json_pack("{s:o,s:I,s:b}", "text", json_stringn_nocheck(text,
	    r->lens[col + 2]), "bytes", (json_int_t)aif_dbrows_i64(r, 0, col),
	    "truncated", strcmp(aif_dbrows_get(r, 0, col + 1), "1") == 0);
}

/* The job row of id into o.job (with its error as one object) and its bodies. */
static enum aif_err
put_job_row(struct aif_db *db, json_t *o, uint64_t id)
{
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbp pb[] = { AIF_P_I64(AIF_CONSOLE_BODY_MAX),
	    AIF_P_I64(AIF_CONSOLE_BODY_MAX), AIF_P_I64(AIF_CONSOLE_BODY_MAX),
	    AIF_P_I64(AIF_CONSOLE_BODY_MAX), AIF_P_I64(id) };
	struct aif_dbrows *r = NULL, *b = NULL;
	enum aif_err err;
	json_t *job;

	if ((err = AIF_DB_QUERY(db, q_job, p, &r)) != AIF_OK)
		return err;
	if (r->nrows != 1 || (err = AIF_DB_QUERY(db, q_bodies, pb, &b)) != AIF_OK ||
	    b->nrows != 1) {
		aif_dbrows_free(r);
		aif_dbrows_free(b);
		return err != AIF_OK ? err : AIF_NOTFOUND;
	}
	job = row_json(r, 0, c_job, AIF_NELEM(c_job));
	if (job != NULL)
		json_object_set_new(job, "error", aif_dbrows_get(r, 0, JC_ERROR_TYPE) == NULL ?
		    json_null() : json_pack("{s:o,s:o,s:o}",
		    "type", cell_json(aif_dbrows_get(r, 0, JC_ERROR_TYPE), C_STR),
		    "code", cell_json(aif_dbrows_get(r, 0, JC_ERROR_CODE), C_STR),
		    "message", cell_json(aif_dbrows_get(r, 0, JC_ERROR_MESSAGE), C_STR)));
	err = job != NULL && json_object_set_new(o, "job", job) == 0 &&
	    json_object_set_new(o, "request", body_json(b, 0)) == 0 &&
	    json_object_set_new(o, "response", body_json(b, 3)) == 0 ? AIF_OK : AIF_NOMEM;
	aif_dbrows_free(r);
	aif_dbrows_free(b);
	return err;
}

/* o.events (q_events with p) and o.events_truncated: whether older ones were left out. */
static enum aif_err
put_events(struct aif_db *db, json_t *o, struct aif_dbp *p, size_t np)
{
	struct aif_dbrows *r = NULL;
	enum aif_err err = aif_db_query(db, q_events, p, np, &r);
	size_t from;
	json_t *a;

	if (err != AIF_OK)
		return err;
	from = r->nrows > AIF_CONSOLE_EVENTS_MAX ? r->nrows - AIF_CONSOLE_EVENTS_MAX : 0;
	a = rows_json(r, from, r->nrows, c_events, AIF_NELEM(c_events));
	err = a != NULL && json_object_set_new(o, "events", a) == 0 &&
	    json_object_set_new(o, "events_truncated", json_boolean(from > 0)) == 0 ?
	    AIF_OK : AIF_NOMEM;
	aif_dbrows_free(r);
	return err;
}

static json_t *
ms_or_null(int64_t ms)
{
	return ms > 0 ? json_integer(ms) : json_null();
}

static json_t *
str_or_null(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
}

/* The steps of run id (none for a job that is not a run) into o.steps. */
static enum aif_err
put_steps(struct aif_db *db, json_t *o, uint64_t id)
{
	struct aif_flow_step *s = NULL;
	size_t n = 0;
	json_t *a = json_array();
	enum aif_err err = a != NULL ? aif_flow_steps(db, id, &s, &n) : AIF_NOMEM;

	for (size_t i = 0; err == AIF_OK && i < n; i++)
		if (json_array_append_new(a, json_pack("{s:i,s:s,s:s,s:s,s:i,s:i,s:o,s:o,"
		    "s:o,s:o,s:o,s:o,s:o,s:o}", "seq", s[i].seq, "name", s[i].name,
		    "kind", s[i].kind, "state", s[i].state, "attempts", s[i].attempts,
		    "max_attempts", s[i].max_attempts, "started_ms", ms_or_null(s[i].started_ms),
		    "finished_ms", ms_or_null(s[i].finished_ms), "error", str_or_null(s[i].error),
		    "branch_taken", str_or_null(s[i].branch_taken),
		    "waiting_for", str_or_null(s[i].waiting_for),
		    "wake_at_ms", ms_or_null(s[i].wake_at_ms),
		    "child", str_or_null(s[i].child_public_id),
		    "child_state", str_or_null(s[i].child_state))) != 0)
			err = AIF_NOMEM;
	aif_flow_steps_free(s, n);
	if (err == AIF_OK && json_object_set_new(o, "steps", a) == 0)
		return AIF_OK;
	if (err == AIF_OK)
		return AIF_NOMEM;
	json_decref(a);
	return err;
}

enum aif_err
aif_console_job(struct aif_db *db, uint64_t id, json_t **out)
{
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbp pe[] = { AIF_P_I64(id), AIF_P_I64(AIF_CONSOLE_EVENTS_MAX + 1) };
	struct aif_dbrows *u = NULL;
	json_t *o = json_pack("{s:s}", "object", "console.job");
	enum aif_err err = o != NULL ? put_job_row(db, o, id) : AIF_NOMEM;

	if (err == AIF_OK)
		err = put_events(db, o, pe, AIF_NELEM(pe));
	if (err == AIF_OK)
		err = put_steps(db, o, id);
	if (err == AIF_OK)
		err = put_rows(db, o, "compensations", q_comps, p, AIF_NELEM(p), c_comps,
		    AIF_NELEM(c_comps));
	if (err == AIF_OK && (err = AIF_DB_QUERY(db, q_usage, p, &u)) == AIF_OK) {
		if (json_object_set_new(o, "usage", u->nrows == 1 ?
		    row_json(u, 0, c_usage, AIF_NELEM(c_usage)) : json_null()) != 0)
			err = AIF_NOMEM;
		aif_dbrows_free(u);
	}
	if (err != AIF_OK) {
		json_decref(o);
		o = NULL;
	}
	*out = o;
	return err;
}

/* ---- actions ----------------------------------------------------------------------- */

enum aif_err
aif_console_note(struct aif_db *db, uint64_t id, const char *event, uint64_t actor_key_id,
    const char *detail)
{
	static const char sql[] =
	    "INSERT INTO job_events (job_id, event, attempt, detail, actor_key_id)"
	    " SELECT id, ?, attempts, ?, ? FROM jobs WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_STR(event), AIF_P_STR(detail), AIF_P_I64(actor_key_id),
	    AIF_P_I64(id) };
	uint64_t n = 0;
	enum aif_err err = AIF_DB_EXEC(db, sql, p, &n, NULL);

	return err == AIF_OK && n == 0 ? AIF_NOTFOUND : err;
}

enum aif_err
aif_console_retry_source(struct aif_db *db, uint64_t id, int with_request,
    struct aif_console_retry *r)
{
	static const char sql[] =
	    "SELECT api_key_id, public_id, kind, state, priority,"
	    " IF(? AND NOT zero_retention, NULLIF(request_body, ''), NULL),"
	    " COALESCE(parent_job_id, 0) FROM jobs WHERE id = ?";
	enum { RS_KEY, RS_PUBLIC, RS_KIND, RS_STATE, RS_PRIO, RS_BODY, RS_PARENT };
	struct aif_dbp p[] = { AIF_P_I64(with_request != 0), AIF_P_I64(id) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	memset(r, 0, sizeof(*r));
	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
		return err;
	if (rows->nrows != 1) {
		aif_dbrows_free(rows);
		return AIF_NOTFOUND;
	}
	r->id = id;
	r->api_key_id = (uint64_t)aif_dbrows_i64(rows, 0, RS_KEY);
	aif_dbrows_copy(rows, 0, RS_PUBLIC, r->public_id, sizeof(r->public_id));
	aif_dbrows_copy(rows, 0, RS_KIND, r->kind, sizeof(r->kind));
	aif_dbrows_copy(rows, 0, RS_STATE, r->state, sizeof(r->state));
	r->priority = (int)aif_dbrows_i64(rows, 0, RS_PRIO);
	r->parent_job_id = (uint64_t)aif_dbrows_i64(rows, 0, RS_PARENT);
	r->request_len = rows->lens[RS_BODY];
	r->request = aif_dbrows_steal(rows, 0, RS_BODY);
	aif_dbrows_free(rows);
	return AIF_OK;
}
