/* runs.c -- the rows of workflow runs; see runs.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runs.h"

#define SIGNALS_PENDING_MAX	64	/* unconsumed signals one run may hold */
#define SAFETY_WAKE_MS		10000	/* a waiting run is looked at again at least this
					   often: a lost wake-up costs no more */

static int64_t
clamp(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

enum aif_err
aif_flow_def_put(struct aif_db *db, const char *hash, const char *name, const char *text)
{
	static const char sql[] =
	    "INSERT IGNORE INTO workflow_defs (hash, name, definition) VALUES (?, ?, ?)";
	struct aif_dbp p[] = { AIF_P_STR(hash), AIF_P_STR(name), AIF_P_STR(text) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

enum aif_err
aif_flow_def_get(struct aif_db *db, const char *hash, char **text)
{
	static const char sql[] = "SELECT definition FROM workflow_defs WHERE hash = ?";
	struct aif_dbp p[] = { AIF_P_STR(hash) };
	struct aif_dbrows *r = NULL;
	enum aif_err err;

	*text = NULL;
	if ((err = AIF_DB_QUERY(db, sql, p, &r)) != AIF_OK)
		return err;
	if (r->nrows == 1)
		*text = aif_dbrows_steal(r, 0, 0);
	aif_dbrows_free(r);
	return *text != NULL ? AIF_OK : AIF_NOTFOUND;
}

/* ---- claim ----------------------------------------------------------------------- */

#define RUN_COLS \
	"SELECT id, public_id, model, workflow_hash, api_key_id, tenant, priority," \
	" lease_token + 1, reply_to, request_id, stream, relay_secret," \
	" UNIX_TIMESTAMP(created_at) * 1000, COALESCE(traceparent, '')," \
	" COALESCE(tracestate, ''), request_body, COALESCE(trace_link, '') FROM jobs"
enum {
	RC_ID, RC_PUBLIC_ID, RC_WORKFLOW, RC_HASH, RC_KEY, RC_TENANT, RC_PRIORITY, RC_TOKEN,
	RC_REPLY_TO, RC_REQUEST_ID, RC_STREAM, RC_SECRET, RC_CREATED, RC_TRACEPARENT,
	RC_TRACESTATE, RC_BODY, RC_TRACE_LINK
};

void
aif_flow_runs_free(struct aif_flow_run *runs, size_t n)
{
	for (size_t i = 0; runs != NULL && i < n; i++)
		free(runs[i].request_body);
	free(runs);
}

static void
run_from_row(struct aif_flow_run *u, struct aif_dbrows *r, size_t k)
{
	const char *secret = aif_dbrows_get(r, k, RC_SECRET);

	u->id = (uint64_t)aif_dbrows_i64(r, k, RC_ID);
	aif_dbrows_copy(r, k, RC_PUBLIC_ID, u->public_id, sizeof(u->public_id));
	aif_dbrows_copy(r, k, RC_WORKFLOW, u->workflow, sizeof(u->workflow));
	aif_dbrows_copy(r, k, RC_HASH, u->hash, sizeof(u->hash));
	u->api_key_id = (uint64_t)aif_dbrows_i64(r, k, RC_KEY);
	aif_dbrows_copy(r, k, RC_TENANT, u->tenant, sizeof(u->tenant));
	u->priority = (int)clamp(aif_dbrows_i64(r, k, RC_PRIORITY), 0, 9);
	u->lease_token = (uint64_t)aif_dbrows_i64(r, k, RC_TOKEN);
	aif_dbrows_copy(r, k, RC_REPLY_TO, u->reply_to, sizeof(u->reply_to));
	aif_dbrows_copy(r, k, RC_REQUEST_ID, u->request_id, sizeof(u->request_id));
	u->stream = aif_dbrows_i64(r, k, RC_STREAM) != 0;
	if (secret != NULL && r->lens[k * r->ncols + RC_SECRET] == AIF_RELAY_SECRET_BYTES) {
		memcpy(u->relay_secret, secret, AIF_RELAY_SECRET_BYTES);
		u->has_relay_secret = 1;
	}
	u->created_ms = aif_dbrows_i64(r, k, RC_CREATED);
	aif_dbrows_copy(r, k, RC_TRACEPARENT, u->traceparent, sizeof(u->traceparent));
	aif_dbrows_copy(r, k, RC_TRACESTATE, u->tracestate, sizeof(u->tracestate));
	aif_dbrows_copy(r, k, RC_TRACE_LINK, u->trace_link, sizeof(u->trace_link));
	u->request_body = aif_dbrows_steal(r, k, RC_BODY);
}

enum aif_err
aif_flow_claim(struct aif_db *db, uint64_t worker_id, int limit, int lease_s,
    struct aif_flow_run **out, size_t *n)
{
	static const char sel[] = RUN_COLS
	    " WHERE kind = 'pipeline' AND run_state IN ('queued','waiting')"
	    " AND run_after <= NOW(6)"
	    " ORDER BY priority DESC, run_after LIMIT ? FOR UPDATE SKIP LOCKED";
	static const char take[] =
	    "UPDATE jobs SET state = 'running', lease_token = lease_token + 1,"
	    " worker_id = ?, lease_until = NOW(6) + INTERVAL ? SECOND,"
	    " started_at = COALESCE(started_at, NOW(6)) WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(limit) };
	struct aif_dbrows *r = NULL;
	struct aif_flow_run *u = NULL;
	size_t k = 0;
	enum aif_err err;

	*out = NULL;
	*n = 0;
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = AIF_DB_QUERY(db, sel, p, &r)) != AIF_OK)
		goto fail;
	if (r->nrows == 0) {
		aif_dbrows_free(r);
		aif_db_rollback(db);
		return AIF_OK;
	}
	if ((u = calloc(r->nrows, sizeof(*u))) == NULL) {
		err = AIF_NOMEM;
		goto fail;
	}
	for (; k < r->nrows; k++) {
		run_from_row(&u[k], r, k);
		struct aif_dbp t[] = { AIF_P_I64(worker_id), AIF_P_I64(lease_s),
		    AIF_P_I64(u[k].id) };
		if ((err = AIF_DB_EXEC(db, take, t, NULL, NULL)) != AIF_OK) {
			k++;
			goto fail;
		}
	}
	if ((err = aif_db_commit(db)) != AIF_OK)
		goto fail;
	aif_dbrows_free(r);
	*out = u;
	*n = k;
	return AIF_OK;
fail:
	aif_db_rollback(db);
	aif_dbrows_free(r);
	aif_flow_runs_free(u, k);
	return err;
}

/* ---- steps ----------------------------------------------------------------------- */

void
aif_flow_steps_free(struct aif_flow_step *s, size_t n)
{
	for (size_t i = 0; s != NULL && i < n; i++)
		free(s[i].output);
	free(s);
}

enum aif_err
aif_flow_steps(struct aif_db *db, uint64_t id, struct aif_flow_step **out, size_t *n)
{
	static const char sql[] =
	    "SELECT s.step, s.seq, s.kind, s.state, s.attempts, s.max_attempts, s.output,"
	    " s.error, s.child_job_id, c.state, s.waiting_for,"
	    " COALESCE(UNIX_TIMESTAMP(s.wake_at) * 1000, 0), s.branch_taken,"
	    " COALESCE(UNIX_TIMESTAMP(s.started_at) * 1000, 0),"
	    " COALESCE(UNIX_TIMESTAMP(s.finished_at) * 1000, 0), c.public_id"
	    " FROM job_steps s LEFT JOIN jobs c ON c.id = s.child_job_id"
	    " WHERE s.job_id = ? ORDER BY s.seq";
	enum {
		SC_STEP, SC_SEQ, SC_KIND, SC_STATE, SC_ATTEMPTS, SC_MAX, SC_OUTPUT, SC_ERROR,
		SC_CHILD, SC_CHILD_STATE, SC_WAITING, SC_WAKE, SC_BRANCH, SC_STARTED,
		SC_FINISHED, SC_CHILD_PUBLIC
	};
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbrows *r = NULL;
	struct aif_flow_step *s;
	enum aif_err err;

	*out = NULL;
	*n = 0;
	if ((err = AIF_DB_QUERY(db, sql, p, &r)) != AIF_OK)
		return err;
	if (r->nrows == 0) {
		aif_dbrows_free(r);
		return AIF_OK;
	}
	if ((s = calloc(r->nrows, sizeof(*s))) == NULL) {
		aif_dbrows_free(r);
		return AIF_NOMEM;
	}
	for (size_t k = 0; k < r->nrows; k++) {
		aif_dbrows_copy(r, k, SC_STEP, s[k].name, sizeof(s[k].name));
		s[k].seq = (int)aif_dbrows_i64(r, k, SC_SEQ);
		aif_dbrows_copy(r, k, SC_KIND, s[k].kind, sizeof(s[k].kind));
		aif_dbrows_copy(r, k, SC_STATE, s[k].state, sizeof(s[k].state));
		s[k].attempts = (int)aif_dbrows_i64(r, k, SC_ATTEMPTS);
		s[k].max_attempts = (int)aif_dbrows_i64(r, k, SC_MAX);
		s[k].output = aif_dbrows_steal(r, k, SC_OUTPUT);
		aif_dbrows_copy(r, k, SC_ERROR, s[k].error, sizeof(s[k].error));
		s[k].child_job_id = (uint64_t)aif_dbrows_i64(r, k, SC_CHILD);
		aif_dbrows_copy(r, k, SC_CHILD_STATE, s[k].child_state,
		    sizeof(s[k].child_state));
		aif_dbrows_copy(r, k, SC_WAITING, s[k].waiting_for, sizeof(s[k].waiting_for));
		s[k].wake_at_ms = aif_dbrows_i64(r, k, SC_WAKE);
		aif_dbrows_copy(r, k, SC_BRANCH, s[k].branch_taken, sizeof(s[k].branch_taken));
		s[k].started_ms = aif_dbrows_i64(r, k, SC_STARTED);
		s[k].finished_ms = aif_dbrows_i64(r, k, SC_FINISHED);
		aif_dbrows_copy(r, k, SC_CHILD_PUBLIC, s[k].child_public_id,
		    sizeof(s[k].child_public_id));
	}
	*n = r->nrows;
	*out = s;
	aif_dbrows_free(r);
	return AIF_OK;
}

enum aif_err
aif_flow_signal_peek(struct aif_db *db, uint64_t id, const char *name, uint64_t *sig_id,
    char **payload)
{
	static const char sql[] =
	    "SELECT id, payload FROM job_signals WHERE job_id = ? AND name = ?"
	    " AND consumed_at IS NULL ORDER BY id LIMIT 1";
	struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_STR(name) };
	struct aif_dbrows *r = NULL;
	enum aif_err err;

	*sig_id = 0;
	*payload = NULL;
	if ((err = AIF_DB_QUERY(db, sql, p, &r)) != AIF_OK)
		return err;
	if (r->nrows == 1) {
		*sig_id = (uint64_t)aif_dbrows_i64(r, 0, 0);
		*payload = aif_dbrows_steal(r, 0, 1);
	}
	aif_dbrows_free(r);
	return AIF_OK;
}

/* ---- transitions ----------------------------------------------------------------- */

static enum aif_err
write_step(struct aif_db *db, uint64_t id, const struct aif_flow_step_write *s)
{
	static const char sql[] =
	    "INSERT INTO job_steps (job_id, step, seq, kind, state, attempts, max_attempts,"
	    " input_sha256, output, error, child_job_id, waiting_for, wake_at, branch_taken,"
	    " started_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,"
	    " IF(? = 0, NULL, FROM_UNIXTIME(? / 1000)), ?, IF(?, NOW(6), NULL),"
	    " IF(?, NOW(6), NULL))"
	    " ON DUPLICATE KEY UPDATE state = VALUES(state), attempts = VALUES(attempts),"
	    " max_attempts = VALUES(max_attempts),"
	    " input_sha256 = COALESCE(VALUES(input_sha256), input_sha256),"
	    " output = VALUES(output), error = VALUES(error),"
	    " child_job_id = VALUES(child_job_id), waiting_for = VALUES(waiting_for),"
	    " wake_at = VALUES(wake_at), branch_taken = VALUES(branch_taken),"
	    " started_at = COALESCE(started_at, VALUES(started_at)),"
	    " finished_at = VALUES(finished_at)";
	struct aif_dbp p[] = {
		AIF_P_I64(id), AIF_P_STR(s->name), AIF_P_I64(s->seq), AIF_P_STR(s->kind),
		AIF_P_STR(s->state), AIF_P_I64(clamp(s->attempts, 0, 65535)),
		AIF_P_I64(clamp(s->max_attempts, 0, 65535)),
		s->input_sha256 != NULL ? AIF_P_STRN((const char *)s->input_sha256, 32) :
		    AIF_P_NULL(),
		AIF_P_STR(s->output), AIF_P_STR(s->error),
		s->child_job_id != 0 ? AIF_P_I64(s->child_job_id) : AIF_P_NULL(),
		AIF_P_STR(s->waiting_for), AIF_P_I64(s->wake_at_ms), AIF_P_I64(s->wake_at_ms),
		AIF_P_STR(s->branch_taken), AIF_P_I64(s->started != 0),
		AIF_P_I64(s->finished != 0),
	};

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

static enum aif_err
write_comps(struct aif_db *db, uint64_t id, const struct aif_flow_comp *c, size_t n)
{
	static const char ins[] =
	    "INSERT IGNORE INTO job_compensations (job_id, step_no, name, method, url,"
	    " body_template, timeout_ms, max_attempts, initial_interval_ms, backoff_pct,"
	    " maximum_interval_ms, headers, idempotency_key)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)";
	enum aif_err err;

	for (size_t k = 0; k < n; k++) {
		struct aif_dbp p[] = {
			AIF_P_I64(id), AIF_P_I64(k + 1), AIF_P_STR(c[k].name),
			AIF_P_STR(c[k].method), AIF_P_STR(c[k].url), AIF_P_STR(c[k].body),
			AIF_P_I64(c[k].timeout_ms), AIF_P_I64(c[k].max_attempts),
			AIF_P_I64(c[k].initial_ms), AIF_P_I64(c[k].backoff_pct),
			AIF_P_I64(c[k].max_ms), AIF_P_STR(c[k].headers),
			AIF_P_STR(c[k].idempotency_key),
		};
		if ((err = AIF_DB_EXEC(db, ins, p, NULL, NULL)) != AIF_OK)
			return err;
	}
	return AIF_OK;
}

static enum aif_err
event(struct aif_db *db, uint64_t id, const char *ev, const char *detail)
{
	static const char sql[] =
	    "INSERT INTO job_events (job_id, event, detail) VALUES (?, ?, ?)";
	struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_STR(ev), AIF_P_STR(detail) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

/* 1 when something the released run waits for is already there: a child job of a step
 * still open is final, or a signal it waits for is unconsumed. */
static enum aif_err
ready(struct aif_db *db, const struct aif_flow_run *run, const struct aif_flow_write *w,
    int *yes)
{
	static const char child[] =
	    "SELECT 1 FROM job_steps s JOIN jobs c ON c.id = s.child_job_id"
	    " WHERE s.job_id = ? AND s.state IN ('running','waiting')"
	    " AND c.state IN ('succeeded','failed','cancelled') LIMIT 1";
	static const char sig[] =
	    "SELECT 1 FROM job_signals WHERE job_id = ? AND name = ?"
	    " AND consumed_at IS NULL LIMIT 1";
	struct aif_dbp p[] = { AIF_P_I64(run->id) };
	struct aif_dbrows *r = NULL;
	enum aif_err err;

	*yes = 0;
	if ((err = AIF_DB_QUERY(db, child, p, &r)) != AIF_OK)
		return err;
	*yes = r->nrows > 0;
	aif_dbrows_free(r);
	for (size_t i = 0; !*yes && i < w->nwait_signals; i++) {
		struct aif_dbp q[] = { AIF_P_I64(run->id), AIF_P_STR(w->wait_signals[i]) };
		if ((err = AIF_DB_QUERY(db, sig, q, &r)) != AIF_OK)
			return err;
		*yes = r->nrows > 0;
		aif_dbrows_free(r);
	}
	return AIF_OK;
}

/* Whether a released run waits for a signal a caller sends (the "__cancel" every run
 * listens for does not count): such a run sleeps until its deadline, any other is
 * looked at again within SAFETY_WAKE_MS. */
static int
waits_for_signal(const struct aif_flow_write *w)
{
	for (size_t i = 0; i < w->nwait_signals; i++)
		if (strcmp(w->wait_signals[i], "__cancel") != 0)
			return 1;
	return 0;
}

static enum aif_err
finish_run(struct aif_db *db, const struct aif_flow_run *run, const struct aif_flow_write *w)
{
	static const char keep[] =
	    "UPDATE jobs SET lease_until = NOW(6) + INTERVAL ? MICROSECOND WHERE id = ?";
	static const char release[] =
	    "UPDATE jobs SET state = 'waiting', worker_id = NULL, lease_until = NULL,"
	    " run_after = IF(?, NOW(6), FROM_UNIXTIME(? / 1000)) WHERE id = ?";
	static const char succeed[] =
	    "UPDATE jobs SET state = 'succeeded', response_body = ?, http_status = 200,"
	    " worker_id = NULL, lease_until = NULL, finished_at = NOW(6) WHERE id = ?";
	static const char fail[] =
	    "UPDATE jobs SET state = IF(?, 'compensating', 'failed'), http_status = ?,"
	    " error_type = ?, error_code = ?, error_message = ?, worker_id = NULL,"
	    " lease_until = NULL, finished_at = IF(?, NULL, NOW(6)) WHERE id = ?";
	int64_t now = aif_wall_ms(), due;
	int yes = 0;
	enum aif_err err;

	switch (w->next) {
	case AIF_FLOW_KEEP: {
		struct aif_dbp p[] = { AIF_P_I64((int64_t)w->lease_ms * 1000),
		    AIF_P_I64(run->id) };
		return AIF_DB_EXEC(db, keep, p, NULL, NULL);
	}
	case AIF_FLOW_RELEASE: {
		static const char now_due[] = "UPDATE jobs SET run_after = NOW(6) WHERE id = ?";
		due = w->wake_at_ms > 0 ? w->wake_at_ms : now + SAFETY_WAKE_MS;
		if (due > now + SAFETY_WAKE_MS && !waits_for_signal(w))
			due = now + SAFETY_WAKE_MS;
		struct aif_dbp p[] = { AIF_P_I64(0), AIF_P_I64(due), AIF_P_I64(run->id) };
		struct aif_dbp q[] = { AIF_P_I64(run->id) };
		/* waiting first, then the look: a child or a signal that commits meanwhile
		   either is seen here or finds the run waiting (its wake-up waits for this
		   row's lock and then moves run_after) -- never neither */
		if ((err = AIF_DB_EXEC(db, release, p, NULL, NULL)) != AIF_OK ||
		    (err = ready(db, run, w, &yes)) != AIF_OK || !yes)
			return err;
		return AIF_DB_EXEC(db, now_due, q, NULL, NULL);
	}
	case AIF_FLOW_SUCCEED: {
		struct aif_dbp p[] = { AIF_P_STR(w->response_body), AIF_P_I64(run->id) };
		if ((err = AIF_DB_EXEC(db, succeed, p, NULL, NULL)) != AIF_OK)
			return err;
		return event(db, run->id, "succeeded", "workflow finished");
	}
	case AIF_FLOW_FAIL:
	case AIF_FLOW_CANCELLED:
		break;
	}
	if (w->ncomps > 0 && (err = write_comps(db, run->id, w->comps, w->ncomps)) != AIF_OK)
		return err;
	if (w->next == AIF_FLOW_CANCELLED) {
		static const char cancel[] =
		    "UPDATE jobs SET state = IF(?, 'compensating', 'cancelled'),"
		    " http_status = 409, error_type = 'invalid_request_error',"
		    " error_code = 'job_cancelled', error_message = ?, worker_id = NULL,"
		    " lease_until = NULL, finished_at = IF(?, NULL, NOW(6)) WHERE id = ?";
		struct aif_dbp p[] = { AIF_P_I64(w->ncomps > 0), AIF_P_STR(w->error_message),
		    AIF_P_I64(w->ncomps > 0), AIF_P_I64(run->id) };
		if ((err = AIF_DB_EXEC(db, cancel, p, NULL, NULL)) != AIF_OK)
			return err;
		return event(db, run->id, w->ncomps > 0 ? "compensating" : "cancelled",
		    w->error_message);
	}
	struct aif_dbp p[] = {
		AIF_P_I64(w->ncomps > 0), AIF_P_I64(w->http_status), AIF_P_STR(w->error_type),
		AIF_P_STR(w->error_code), AIF_P_STR(w->error_message), AIF_P_I64(w->ncomps > 0),
		AIF_P_I64(run->id),
	};
	if ((err = AIF_DB_EXEC(db, fail, p, NULL, NULL)) != AIF_OK)
		return err;
	return event(db, run->id, w->ncomps > 0 ? "compensating" : "failed",
	    w->error_message);
}

static enum aif_err
apply_once(struct aif_db *db, const struct aif_flow_run *run, const struct aif_flow_write *w)
{
	static const char lock[] =
	    "SELECT lease_token, state FROM jobs WHERE id = ? FOR UPDATE";
	static const char consume[] =
	    "UPDATE job_signals SET consumed_at = NOW(6), consumed_step = ?"
	    " WHERE id = ? AND job_id = ? AND consumed_at IS NULL";
	struct aif_dbp p[] = { AIF_P_I64(run->id) };
	struct aif_dbrows *r = NULL;
	uint64_t affected = 0;
	enum aif_err err;
	int ours;

	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = AIF_DB_QUERY(db, lock, p, &r)) != AIF_OK)
		goto fail;
	ours = r->nrows == 1 && (uint64_t)aif_dbrows_i64(r, 0, 0) == run->lease_token &&
	    aif_dbrows_get(r, 0, 1) != NULL && strcmp(aif_dbrows_get(r, 0, 1), "running") == 0;
	aif_dbrows_free(r);
	if (!ours) {
		err = AIF_NOTFOUND;
		goto fail;
	}
	for (size_t i = 0; i < w->nsteps; i++)
		if ((err = write_step(db, run->id, &w->steps[i])) != AIF_OK)
			goto fail;
	for (size_t i = 0; i < w->nevents; i++)
		if ((err = event(db, run->id, w->events[i].event, w->events[i].detail)) != AIF_OK)
			goto fail;
	if (w->consume_signal != 0) {
		struct aif_dbp q[] = { AIF_P_STR(w->consume_step), AIF_P_I64(w->consume_signal),
		    AIF_P_I64(run->id) };
		if ((err = AIF_DB_EXEC(db, consume, q, &affected, NULL)) != AIF_OK)
			goto fail;
		if (affected != 1) {	/* another runner took it: not ours */
			err = AIF_NOTFOUND;
			goto fail;
		}
	}
	if ((err = finish_run(db, run, w)) != AIF_OK)
		goto fail;
	return aif_db_commit(db);
fail:
	aif_db_rollback(db);
	return err;
}

enum aif_err
aif_flow_apply(struct aif_db *db, const struct aif_flow_run *run, const struct aif_flow_write *w)
{
	enum aif_err err = AIF_CONFLICT;

	for (int tries = 0; tries < 5 && err == AIF_CONFLICT; tries++)
		err = apply_once(db, run, w);
	return err;
}

/* ---- signals, wake-ups, usage ---------------------------------------------------- */

/* One try of aif_flow_signal; *final = 1 when the run is final (AIF_CONFLICT then). */
static enum aif_err
signal_once(struct aif_db *db, const char *public_id, uint64_t owner, const char *name,
    const char *payload, uint64_t *job_id, int *final)
{
	static const char lock[] =
	    "SELECT id, state FROM jobs WHERE public_id = ? AND kind = 'pipeline'"
	    " AND (? = 0 OR api_key_id = ?) FOR UPDATE";
	static const char pending[] =
	    "SELECT COUNT(*) FROM job_signals WHERE job_id = ? AND consumed_at IS NULL";
	static const char ins[] =
	    "INSERT INTO job_signals (job_id, name, payload) VALUES (?, ?, ?)";
	static const char wake[] =
	    "UPDATE jobs SET run_after = NOW(6) WHERE id = ? AND state IN ('queued','waiting')";
	struct aif_dbp p[] = { AIF_P_STR(public_id), AIF_P_I64(owner), AIF_P_I64(owner) };
	struct aif_dbrows *r = NULL;
	const char *st;
	char detail[96];
	enum aif_err err;

	*job_id = 0;
	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = AIF_DB_QUERY(db, lock, p, &r)) != AIF_OK)
		goto fail;
	if (r->nrows != 1) {
		err = AIF_NOTFOUND;
		goto fail;
	}
	*job_id = (uint64_t)aif_dbrows_i64(r, 0, 0);
	st = aif_dbrows_get(r, 0, 1);
	if (st == NULL || (strcmp(st, "queued") != 0 && strcmp(st, "running") != 0 &&
	    strcmp(st, "waiting") != 0)) {
		*final = 1;
		err = AIF_CONFLICT;
		goto fail;
	}
	aif_dbrows_free(r);
	r = NULL;
	struct aif_dbp q[] = { AIF_P_I64(*job_id) };
	if ((err = AIF_DB_QUERY(db, pending, q, &r)) != AIF_OK)
		goto fail;
	if (aif_dbrows_i64(r, 0, 0) >= SIGNALS_PENDING_MAX) {
		err = AIF_TOOBIG;
		goto fail;
	}
	struct aif_dbp s[] = { AIF_P_I64(*job_id), AIF_P_STR(name), AIF_P_STR(payload) };
	if ((err = AIF_DB_EXEC(db, ins, s, NULL, NULL)) != AIF_OK ||
	    (err = AIF_DB_EXEC(db, wake, q, NULL, NULL)) != AIF_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "signal %s", name);
	if ((err = event(db, *job_id, "signal_received", detail)) != AIF_OK)
		goto fail;
	aif_dbrows_free(r);
	return aif_db_commit(db);
fail:
	aif_dbrows_free(r);
	aif_db_rollback(db);
	return err;
}

enum aif_err
aif_flow_signal(struct aif_db *db, const char *public_id, uint64_t owner, const char *name,
    const char *payload, uint64_t *job_id)
{
	enum aif_err err = AIF_CONFLICT;
	int final = 0;

	/* a deadlock or a lock wait (a runner holds the row) is tried again */
	for (int tries = 0; tries < 5 && err == AIF_CONFLICT && !final; tries++)
		err = signal_once(db, public_id, owner, name, payload, job_id, &final);
	return err == AIF_CONFLICT && !final ? AIF_UNAVAILABLE : err;
}

enum aif_err
aif_flow_wake(struct aif_db *db, uint64_t id)
{
	static const char sql[] =
	    "UPDATE jobs SET run_after = NOW(6) WHERE id = ? AND state = 'waiting'"
	    " AND kind = 'pipeline'";
	struct aif_dbp p[] = { AIF_P_I64(id) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

enum aif_err
aif_flow_child_by_key(struct aif_db *db, uint64_t owner, const char *key, uint64_t *id)
{
	static const char sql[] =
	    "SELECT id FROM jobs WHERE api_key_id = ? AND idempotency_key = ?";
	struct aif_dbp p[] = { AIF_P_I64(owner), AIF_P_STR(key) };
	int64_t v = 0;
	enum aif_err err = AIF_DB_QUERY_I64(db, sql, p, &v);

	*id = err == AIF_OK ? (uint64_t)v : 0;
	return err;
}

enum aif_err
aif_flow_usage(struct aif_db *db, uint64_t id, int64_t *prompt, int64_t *completion,
    int64_t *cost_micros)
{
	static const char sql[] =
	    "SELECT COALESCE(SUM(u.prompt_tokens), 0), COALESCE(SUM(u.completion_tokens), 0),"
	    " COALESCE(SUM(u.cost_micros), 0) FROM jobs c JOIN `usage` u ON u.job_id = c.id"
	    " WHERE c.parent_job_id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbrows *r = NULL;
	enum aif_err err;

	*prompt = *completion = *cost_micros = 0;
	if ((err = AIF_DB_QUERY(db, sql, p, &r)) != AIF_OK)
		return err;
	if (r->nrows == 1) {
		*prompt = aif_dbrows_i64(r, 0, 0);
		*completion = aif_dbrows_i64(r, 0, 1);
		*cost_micros = aif_dbrows_i64(r, 0, 2);
	}
	aif_dbrows_free(r);
	return AIF_OK;
}

enum aif_err
aif_flow_child(struct aif_db *db, uint64_t id, char *st, char **response, char *etype,
    char *ecode, char *emsg, size_t emsg_len)
{
	static const char sql[] =
	    "SELECT state, response_body, error_type, error_code, error_message"
	    " FROM jobs WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbrows *r = NULL;
	enum aif_err err;

	st[0] = etype[0] = ecode[0] = emsg[0] = '\0';
	*response = NULL;
	if ((err = AIF_DB_QUERY(db, sql, p, &r)) != AIF_OK)
		return err;
	if (r->nrows != 1) {
		aif_dbrows_free(r);
		return AIF_NOTFOUND;
	}
	aif_dbrows_copy(r, 0, 0, st, 16);
	*response = aif_dbrows_steal(r, 0, 1);
	aif_dbrows_copy(r, 0, 2, etype, 64);
	aif_dbrows_copy(r, 0, 3, ecode, 64);
	aif_dbrows_copy(r, 0, 4, emsg, emsg_len);
	aif_dbrows_free(r);
	return AIF_OK;
}
