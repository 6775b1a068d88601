/* commit.c -- committing results; see worker.h. Successes are committed in one batch
 * transaction with their usage rows (store/queue.h); failures are retried with the
 * model's retry policy (Temporal's fields, with jitter) or failed for good, starting
 * the model's compensations. Then the streams get their END frame, the waiting aif-api
 * processes one bell each ("job <id> ...", bell.h), and the metrics their counts. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bell.h"
#include "compensate.h"
#include "flow.h"
#include "log.h"
#include "metrics.h"
#include "relay_proto.h"
#include "runs.h"
#include "spans.h"
#include "worker.h"

/* Rings the aif-api waiting for job `id` at reply_to ("" or NULL: nobody). */
static void
commit_ring(struct worker *w, const char *reply_to, uint64_t id)
{
	char msg[AIF_BELL_MAX];
	size_t used, n;

	if (reply_to == NULL || reply_to[0] == '\0')
		return;
	n = aif_bell_jobs(msg, sizeof(msg), &id, 1, &used);
	(void)aif_doorbell_ring_patient(w->sender_fd, reply_to, msg, n, 20);
}

void
commit_wake_run(struct worker *w, uint64_t run)
{
	(void)aif_flow_wake(w->db, run);
	flow_pool_kick(w->flows);
}

/* Tells the waiting aif-api that a streamed job is final (committed): success with its
 * usage (e NULL), or the error e the client should get. */
static void
relay_end(struct engine_call *c, const struct aif_error *e, int64_t prompt,
    int64_t completion)
{
	char *text;
	size_t len;

	if (!c->stream || c->relay == NULL)
		return;
	text = e == NULL ? aif_relay_end_ok(c->st.id, c->st.created, c->job.relay_model[0] ?
	    c->job.relay_model : c->model->id, prompt,
	    completion, c->relayed, &len) : aif_relay_end_error(e, &len);
	if (text == NULL)
		return;
	(void)relay_send(c->relay, c->job.relay_id, AIF_RELAY_END, (uint32_t)c->job.attempt,
	    c->relay_key, text, len);
	free(text);
}

/* A committed synchronous job's answer goes to the waiting aif-api over its relay
 * (c->relay and c->relay_key, set up with the call), in RESULT pieces, then END, when
 * the job has a relay secret and either the database does not keep the answer (zero
 * retention: without a relay the request times out, nothing else holds it) or the
 * answer is small (up to AIF_RELAY_ANSWER_MAX: aif-api answers without reading the
 * row; a larger one it reads from the row in pieces, never holding it whole). The
 * frames are queued: the batch's go out together (relay_flush_answers). Sets
 * c->answer_relayed (and c->answer_conn) when the END was queued. */
static void
relay_result(struct worker *w, struct engine_call *c)
{
	struct relay_conn *r = c->relay;
	uint32_t attempt = (uint32_t)c->job.attempt;
	size_t len = c->answer_len, off = 0;
	char *end;

	if (c->stream || !c->job.has_relay_secret || c->answer == NULL ||
	    (!c->job.zero_retention && len > AIF_RELAY_ANSWER_MAX))
		return;
	/* unreachable when the call started, or closed since: connect again */
	if ((r == NULL || r->io.fd < 0) &&
	    (r = relay_get(&w->relays, c->job.reply_to)) == NULL)
		return;
	while (off < len) {
		size_t k = len - off < AIF_RELAY_PAYLOAD_MAX ? len - off : AIF_RELAY_PAYLOAD_MAX;
		if (relay_queue(r, c->job.relay_id, AIF_RELAY_RESULT, attempt, c->relay_key,
		    c->answer + off, k) != 0)
			return;
		off += k;
		/* large answers go out as they are queued, as the socket takes them */
		if (r->io.out_len >= AIF_RELAY_PAYLOAD_MAX && aif_relay_flush(&r->io) != 0)
			return;
	}
	if ((end = aif_relay_end_result(c->answer_len, &len)) != NULL &&
	    relay_queue(r, c->job.relay_id, AIF_RELAY_END, attempt, c->relay_key, end,
	    len) == 0) {
		c->answer_relayed = 1;
		c->answer_conn = r;
	}
	free(end);
}

/* Writes the relayed answers of a batch, one write per aif-api; an answer whose
 * connection closed on the way gets its bell after all (its waiter reads the row). */
static void
relay_flush_answers(struct worker *w, struct engine_call **calls, size_t n)
{
	relay_flush_all(&w->relays);
	for (size_t i = 0; i < n; i++)
		if (calls[i]->answer_relayed && calls[i]->answer_conn->io.fd < 0)
			calls[i]->answer_relayed = 0;
}

/* Rings the reply_to of every committed job, one bell per waiting process; not for a
 * stream, whose waiter is told by END on the relay (or polls the row), never by a bell
 * (its reply_to only names the relay), nor for an answer the relay carries whole (its
 * connection still open after the batch's write, relay_flush_answers). */
static void
ring_replies(struct worker *w, struct engine_call **calls, const struct aif_job_success *s,
    size_t n)
{
	uint64_t ids[WORKER_BATCH];
	char msg[AIF_BELL_MAX], done[WORKER_BATCH] = { 0 };

	for (size_t i = 0; i < n && i < WORKER_BATCH; i++) {
		const char *to = calls[i]->job.reply_to;
		size_t k = 0, off = 0, used, len;

		if (done[i] || !s[i].committed || calls[i]->job.stream ||
		    calls[i]->answer_relayed || to[0] == '\0')
			continue;
		for (size_t j = i; j < n && j < WORKER_BATCH; j++)
			if (!done[j] && s[j].committed && !calls[j]->job.stream &&
			    !calls[j]->answer_relayed &&
			    strcmp(calls[j]->job.reply_to, to) == 0) {
				ids[k++] = calls[j]->job.id;
				done[j] = 1;
			}
		while (off < k && (len = aif_bell_jobs(msg, sizeof(msg), ids + off, k - off,
		    &used)) > 0) {
			(void)aif_doorbell_ring_patient(w->sender_fd, to, msg, len, 20);
			off += used;
		}
	}
}

/* What the engine reported beside what the gateway counted itself, per model
 * (aif_usage_compared_tokens_total{model,direction,source}): prompt tokens as the engine
 * reported them and as admission estimated them (what rate limits and budget holds
 * were charged), and for a stream its completion tokens beside the token-bearing chunks
 * the worker relayed. A ratio far from 1 shows an estimate to tune or an engine that
 * reports usage wrongly. */
static void
usage_compared(const struct aif_job_success *s, const struct engine_call *c)
{
	static const char *const dir[] = { "in", "in", "out", "out" };
	static const char *const src[] = { "engine", "gateway", "engine", "gateway" };
	int64_t v[] = { s->prompt_tokens, c->job.prompt_tokens_estimate,
	    s->completion_tokens, c->chunks_timed };
	size_t n = c->stream && c->first_chunk_ms > 0 ? 4 : 2;
	char l[200];

	for (size_t i = 0; i < n; i++) {
		snprintf(l, sizeof(l), "model=\"%s\",direction=\"%s\",source=\"%s\"",
		    s->model, dir[i], src[i]);
		aif_metrics_add("aif_usage_compared_tokens_total", l, v[i]);
	}
}

/* Counts a committed success (its call c) in the metrics. A stream also gives its
 * time to first token (from the job's creation: its queue wait, then the engine's
 * first chunk) and its mean time between chunks (one observation per stream). */
static void
count_success(const struct aif_job_success *s, const struct engine_call *c)
{
	char l[400], esc[2 * 128 + 1];

	snprintf(l, sizeof(l), "model=\"%s\"", s->model);
	aif_metrics_observe_ms("aif_job_queue_seconds", l, s->queue_ms);
	aif_metrics_observe_ms("aif_job_engine_seconds", l, s->engine_ms);
	aif_metrics_observe_ms("aif_job_total_seconds", l, s->queue_ms + s->engine_ms);
	if (c->stream && c->first_chunk_ms > 0) {
		aif_metrics_observe_ms("aif_stream_ttft_seconds", l, s->queue_ms +
		    c->first_chunk_ms - c->started_ms);
		if (c->chunks_timed > 1)
			aif_metrics_observe_ms("aif_stream_inter_token_seconds", l,
			    (c->last_chunk_ms - c->first_chunk_ms) / (c->chunks_timed - 1));
	}
	usage_compared(s, c);
	snprintf(l, sizeof(l), "model=\"%s\",outcome=\"succeeded\"", s->model);
	aif_metrics_add("aif_jobs_total", l, 1);
	snprintf(l, sizeof(l), "model=\"%s\",direction=\"in\"", s->model);
	aif_metrics_add("aif_tokens_total", l, s->prompt_tokens);
	snprintf(l, sizeof(l), "model=\"%s\",direction=\"out\"", s->model);
	aif_metrics_add("aif_tokens_total", l, s->completion_tokens);
	/* spend per tenant (a key without one: "none"); the ledger stays the truth */
	snprintf(l, sizeof(l), "tenant=\"%s\"", aif_metrics_label(s->tenant != NULL &&
	    s->tenant[0] ? s->tenant : "none", esc, sizeof(esc)));
	aif_metrics_add("aif_spend_micros_total", l, s->cost_micros);
	if (aif_job_over_hold(s)) {
		snprintf(l, sizeof(l), "model=\"%s\"", s->model);
		aif_metrics_add("aif_budget_overages_total", l, 1);
		aif_metrics_add("aif_budget_overage_micros_total", l,
		    aif_sat_add(s->cost_micros, -s->budget_hold_micros));
	}
}

void
commit_successes(struct worker *w, struct engine_call **calls, struct aif_job_success *s,
    size_t n)
{
	enum aif_err err;

	if (n == 0)
		return;
	if ((err = aif_queue_succeed(w->commit_db, s, n)) != AIF_OK)
		aif_error("msg=\"cannot commit results; their leases are no longer renewed,"
		    " the jobs run again once they expire\" error=\"%s\"", aif_strerror(err));
	for (size_t i = 0; i < n; i++)
		if (!s[i].committed && !s[i].unstorable)
			take_unsettled(w, s[i].id);	/* not run again here meanwhile */
	for (size_t i = 0; i < n; i++) {
		struct aif_engine_result res;
		struct aif_error e;
		if (!s[i].unstorable)
			continue;
		/* this job alone could not be stored (the others of its batch were): it
		   fails for good, it would fail the same way again */
		memset(&res, 0, sizeof(res));
		AIF_ERROR0(&e, AIF_E_RESULT_NOT_STORABLE, NULL);
		aif_adapter_fail(&res, AIF_FAIL_FATAL, &e);
		commit_failure(w, calls[i], &res);
	}
	for (size_t i = 0; i < n; i++) {
		if (!s[i].committed)
			continue;
		relay_end(calls[i], NULL, s[i].prompt_tokens, s[i].completion_tokens);
		relay_result(w, calls[i]);
	}
	relay_flush_answers(w, calls, n);
	ring_replies(w, calls, s, n);
	for (size_t i = 0; i < n; i++)
		if (s[i].committed && calls[i]->job.parent_job_id != 0)
			commit_wake_run(w, calls[i]->job.parent_job_id);
	for (size_t i = 0; i < n; i++) {
		if (s[i].committed) {
			w->done_total++;
			count_success(&s[i], calls[i]);
			spans_job_end(calls[i], NULL);
		}
		engine_call_free(calls[i]);
	}
}

/* Delay before attempt `attempt` + 1 under a retry policy:
 * min(initial * coefficient^(attempt-1), maximum) with +-jitter (Temporal's fields). */
static int64_t
backoff_ms(const struct aif_retry_policy *rp, int attempt)
{
	int64_t d = aif_compensate_backoff_ms(rp->initial_interval_ms,
	    rp->backoff_coefficient_pct, rp->maximum_interval_ms, attempt);
	uint16_t j = 0;

	(void)aif_random_bytes(&j, sizeof(j));
	/* uniform in [100 - jitter, 100 + jitter] percent */
	return d * (100 - rp->jitter_pct + (int)(j % (2 * (unsigned)rp->jitter_pct + 1))) / 100;
}

/* The failure class a retry policy's non_retryable list can name. */
static unsigned
failure_class(const struct aif_engine_result *res)
{
	if (res->timed_out)
		return AIF_FAILCLASS_TIMEOUT;
	if (res->failure == AIF_FAIL_OVERLOADED)
		return AIF_FAILCLASS_OVERLOADED;
	return AIF_FAILCLASS_RETRYABLE;
}

static const char *
failure_name(enum aif_failure f)
{
	return f == AIF_FAIL_FATAL ? "fatal" : f == AIF_FAIL_REFUSED ? "guardrail" :
	    f == AIF_FAIL_OVERLOADED ? "overloaded" : "retryable";
}

static void
count_failure(const struct engine_call *c, const char *replica, enum aif_failure f,
    int retry)
{
	char l[400];

	/* a guardrail's refusal is no engine's error (aif_guardrail_results_total) */
	if (f != AIF_FAIL_REFUSED) {
		snprintf(l, sizeof(l), "model=\"%s\",replica=\"%s\",class=\"%s\"",
		    c->model != NULL ? c->model->id : c->job.model, replica, failure_name(f));
		aif_metrics_add("aif_engine_errors_total", l, 1);
	}
	if (retry) {
		snprintf(l, sizeof(l), "model=\"%s\"", c->job.model);
		aif_metrics_add("aif_job_retries_total", l, 1);
	} else {
		snprintf(l, sizeof(l), "model=\"%s\",outcome=\"failed\"", c->job.model);
		aif_metrics_add("aif_jobs_total", l, 1);
	}
}

void
commit_failure(struct worker *w, struct engine_call *c, const struct aif_engine_result *res)
{
	const char *replica = c->model != NULL ? c->model->replicas[c->replica_idx].url :
	    "none";
	size_t mi = c->job_mi;
	const struct aif_retry_policy *rp = mi != SIZE_MAX ? &w->cfg->models[mi].retry :
	    NULL;
	const char *cls = failure_name(res->failure);
	/* a job whose model left the config fails for good (AIF_E_MODEL_GONE) */
	int retry = res->failure != AIF_FAIL_FATAL && res->failure != AIF_FAIL_REFUSED &&
	    rp != NULL &&
	    c->job.attempt < c->job.max_attempts &&
	    (rp->non_retryable & failure_class(res)) == 0;
	struct aif_job_failure f;
	struct aif_error e = res->error;
	char detail[600];
	enum aif_err err;

	if (e.status == 0)
		e.status = 502;
	if (e.type[0] == '\0')
		aif_strlcpy(e.type, aif_apierr_type(AIF_E_ENGINE_ERROR), sizeof(e.type));
	snprintf(detail, sizeof(detail), "%s: %s", cls, res->error.message);
	memset(&f, 0, sizeof(f));
	f.id = c->job.id;
	f.lease_token = c->job.lease_token;
	f.attempt = c->job.attempt;
	f.worker_id = w->id;
	f.replica = replica;
	f.retry = retry;
	f.delay_ms = retry ? backoff_ms(rp, c->job.attempt) : 0;
	if (retry) {
		/* every replica's circuit is open: retry once one is due to close */
		int64_t wait = routing_wait_ms(w->rt, mi);
		if (wait > f.delay_ms)
			f.delay_ms = wait;
	}
	f.http_status = e.status;
	f.error_type = e.type;
	f.error_code = e.code[0] ? e.code : NULL;
	f.error_message = e.message;
	f.event_detail = detail;
	f.budget_hold_micros = c->job.budget_hold_micros;
	if (mi != SIZE_MAX) {	/* the saga of the job's own model */
		f.compensations = w->cfg->models[mi].compensations;
		f.ncompensations = w->cfg->models[mi].ncompensations;
	}
	err = aif_queue_fail(w->db, &f);
	if (err == AIF_NOTFOUND)
		aif_warn("msg=\"lease lost before failure was recorded\" job=%" PRIu64,
		    c->job.id);
	else if (err != AIF_OK) {
		aif_error("msg=\"cannot record failure\" job=%" PRIu64 " error=\"%s\"",
		    c->job.id, aif_strerror(err));
		take_unsettled(w, c->job.id);	/* its row waits for its lease to run out */
	}
	count_failure(c, replica, res->failure, retry);
	aif_info("msg=\"attempt failed\" job=%s attempt=%d retry=%d class=%s status=%d",
	    c->job.public_id, c->job.attempt, retry, cls, f.http_status);
	if (!retry && err == AIF_OK) {
		spans_job_end(c, cls);
		relay_end(c, &e, 0, 0);
		if (!c->job.stream)
			commit_ring(w, c->job.reply_to, c->job.id);
		if (c->job.parent_job_id != 0)
			commit_wake_run(w, c->job.parent_job_id);
	}
}
