/* dispatch.c -- claiming jobs and starting, cancelling and aborting their engine calls;
 * see worker.h. A job is claimed only for a model with free room (the worker's slots,
 * the model's max_in_flight and this worker's share of its replicas); its call goes to
 * the replica routing.h picks, or to a fallback model's. A call that cannot start
 * fails the attempt at once and the retry policy goes on. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "relay_proto.h"
#include "responses.h"
#include "spans.h"
#include "worker.h"

static void
list_add(struct worker *w, struct engine_call *c)
{
	c->prev = NULL;
	c->next = w->calls;
	if (w->calls != NULL)
		w->calls->prev = c;
	w->calls = c;
}

static void
list_remove(struct worker *w, struct engine_call *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (w->calls == c)
		w->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

void
dispatch_track(struct worker *w, struct engine_call *c)
{
	w->in_flight++;
	list_add(w, c);
}

void
dispatch_release(struct worker *w, struct engine_call *c)
{
	list_remove(w, c);
	w->in_flight--;
	if (c->hook) {
		/* a pre-call hook held its model's place (guard_hooks.c) */
		if (c->hook == GUARD_PRE && c->job_mi != SIZE_MAX) {
			w->model_in_flight[c->job_mi]--;
			w->model_hooks[c->job_mi]--;
		}
		return;
	}
	w->model_in_flight[c->model_idx]--;
	if (c->job.batch) {
		w->model_batch[c->model_idx]--;
		w->batch_in_flight--;
	}
	routing_release(w->rt, c->model_idx, c->replica_idx);
}

/* Fails the attempt of call c (not started, or taken out of the multi handle) with
 * result *res and frees c. */
static void
fail_start(struct worker *w, struct engine_call *c, const struct aif_engine_result *res)
{
	if (c->count)
		count_refuse(w, c);	/* no job: aif-api answers its estimate */
	else
		commit_failure(w, c, res);
	engine_call_free(c);
}

/* Fails the attempt of call c (not started) for good with error e and frees c. */
static void
fail_start_fatal(struct worker *w, struct engine_call *c, const struct aif_error *e)
{
	struct aif_engine_result res;

	memset(&res, 0, sizeof(res));
	aif_adapter_fail(&res, AIF_FAIL_FATAL, e);
	fail_start(w, c, &res);
}

void
dispatch_fail(struct worker *w, struct engine_call *c, enum aif_failure f,
    const struct aif_error *e)
{
	struct aif_engine_result res;

	memset(&res, 0, sizeof(res));
	aif_adapter_fail(&res, f, e);
	fail_start(w, c, &res);
}

/* No replica of the model (or of its fallbacks) can take the call, or the model left
 * the config (c->job_mi SIZE_MAX): the attempt fails now, on no model (c->model NULL:
 * replica "none" in its record). */
static void
no_replica(struct worker *w, struct engine_call *c)
{
	struct aif_engine_result res;
	struct aif_error e;

	if (c->job_mi == SIZE_MAX) {
		AIF_ERROR0(&e, AIF_E_MODEL_GONE, NULL);
		fail_start_fatal(w, c, &e);
		return;
	}
	memset(&res, 0, sizeof(res));
	aif_adapter_transport_failure("no healthy replica of the model (or of its "
	    "fallbacks) is available", 0, &res);
	fail_start(w, c, &res);
}

/* Builds the engine request and the transfer of call c on (mi, ri); returns 0, or -1
 * after failing the attempt (c freed). */
static int
prepare(struct worker *w, struct engine_call *c, size_t mi, size_t ri)
{
	struct aif_error e;
	enum aif_err err;
	char *stripped = NULL;
	size_t slen = 0;

	c->model = &w->cfg->models[mi];
	c->model_idx = mi;
	c->replica_idx = ri;
	c->answer_max = w->cfg->server.max_answer_bytes;
	c->choices_max = (size_t)w->cfg->server.max_choices;
	c->adapter = aif_adapter_find(c->model->adapter);
	c->stream = c->job.stream;
	if (c->stream && (c->adapter == NULL || c->adapter->parse_event == NULL)) {
		AIF_ERROR0(&e, AIF_E_STREAMING_UNSUPPORTED, NULL);
		fail_start_fatal(w, c, &e);
		return -1;
	}
	/* the relay of a stream or of a synchronous answer (commit.c); a job without a
	   relay secret (async, or from an older version) has its row read */
	if (c->job.has_relay_secret) {
		aif_relay_key(c->job.relay_secret, c->job.relay_id, (uint32_t)c->job.attempt,
		    c->relay_key);
		c->relay = relay_get(&w->relays, c->job.reply_to);
	}
	/* a request made through the Responses API carries the gateway's note of it: not
	   for the engine (responses.h); a Response passed through gets back the id of the
	   one it continues, which the engine never sees (outcome.c) */
	if (aif_resp_strip(c->job.request_body, strlen(c->job.request_body), &stripped,
	    &slen, c->prev_resp, sizeof(c->prev_resp))) {
		free(c->job.request_body);
		c->job.request_body = stripped;
	}
	err = c->adapter == NULL ? AIF_CONFIG : c->adapter->build(c->model,
	    &c->model->replicas[ri], c->job.kind, c->job.request_body,
	    strlen(c->job.request_body), &c->req);
	if (err == AIF_OK)
		err = engine_call_setup(c, c->job.public_id);
	if (err == AIF_OK)
		return 0;
	/* AIF_INVALID/TOOBIG: the request uses what this engine's protocol cannot carry */
	if (err == AIF_INVALID || err == AIF_TOOBIG)
		AIF_ERROR(&e, AIF_E_UNSUPPORTED_BY_ENGINE, NULL, c->model->id);
	else
		AIF_ERROR0(&e, AIF_E_BUILD_FAILED, NULL);
	fail_start_fatal(w, c, &e);
	return -1;
}

void
dispatch_start(struct worker *w, struct aif_claimed *job)
{
	struct engine_call *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		aif_error("msg=\"out of memory starting a call\" job=%" PRIu64, job->id);
		free(job->request_body);
		job->request_body = NULL;
		return;
	}
	c->job = *job;
	job->request_body = NULL;
	if (!c->job.batch)
		w->interactive_ms = aif_now_ms();
	spans_claimed(c);
	dispatch_start_call(w, c);
}

void
dispatch_start_call(struct worker *w, struct engine_call *c)
{
	size_t smi = 0, sri = 0;

	c->job_mi = aif_cfg_model_index(w->cfg, c->job.model);
	if (guard_pre(w, c))	/* a pre-call hook runs first */
		return;
	/* a fallback serves the job only when it serves its kind; a token count is the
	   model's own tokenizer's or none */
	if (c->job_mi == SIZE_MAX || routing_pick_kind(w->rt, c->job_mi, c->count ? 0 :
	    (unsigned)c->job.kind, c->job.last_replica[0] ? c->job.last_replica : NULL,
	    &smi, &sri) != 0) {
		no_replica(w, c);
		return;
	}
	if (smi != c->job_mi) {
		char detail[300];
		snprintf(detail, sizeof(detail), "no healthy replica of %s: served by fallback %s",
		    w->cfg->models[c->job_mi].id, w->cfg->models[smi].id);
		(void)aif_queue_event(w->db, c->job.id, "fallback", detail);
		aif_info("msg=\"fallback\" job=%s model=%s fallback=%s", c->job.public_id,
		    w->cfg->models[c->job_mi].id, w->cfg->models[smi].id);
	}
	if (prepare(w, c, smi, sri) != 0)
		return;
	if (c->count)	/* the client waits a moment, then takes the estimate */
		curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)COUNT_TIMEOUT_MS);
	w->in_flight++;
	w->model_in_flight[smi]++;
	if (c->job.batch) {
		w->model_batch[smi]++;
		w->batch_in_flight++;
	}
	routing_acquire(w->rt, smi, sri);
	c->started_ms = aif_now_ms();
	list_add(w, c);
	if (curl_multi_add_handle(w->multi, c->easy) != CURLM_OK) {
		struct aif_engine_result res;
		memset(&res, 0, sizeof(res));
		dispatch_release(w, c);
		aif_adapter_transport_failure("could not start transfer", 0, &res);
		fail_start(w, c, &res);
	}
}

/* What this claim may take of the batch lane (docs/BATCH.md). batch.max_share: a
 * batch's lines hold at most that share of this worker's slots and of each model's
 * places (one at least), so interactive work finds room even on a slow engine.
 * batch.yield: while this worker has started interactive jobs within it, batch lines
 * are taken only one every 1/batch.yield_rate s (*limit 1: an interactive job first
 * if there is one), so they leave it the CPU, the database and the engines. */
static void
batch_lane(struct worker *w, int *limit, struct aif_claim_lane *lane)
{
	const struct aif_config *cfg = w->cfg;
	int64_t now = aif_now_ms();
	int total = w->slots * cfg->batch.max_share / 100;

	lane->min_priority = AIF_BATCH_PRIORITY;
	lane->batch_free = w->batch_free;	/* per model: dispatch_claim fills it */
	lane->batch_total = (total > 0 ? total : 1) - w->batch_in_flight;
	if (cfg->batch.yield_ms == 0 || now - w->interactive_ms >= cfg->batch.yield_ms)
		return;
	if (now < w->next_batch_ms) {
		lane->min_priority = 0;
		return;
	}
	w->next_batch_ms = now + 1000 / cfg->batch.yield_rate;
	*limit = 1;
}

size_t
dispatch_claim(struct worker *w, int *more)
{
	const struct aif_config *cfg = w->cfg;
	int free_slots = w->slots - w->in_flight, limit;
	struct aif_claim_lane lane;
	size_t n_models = 0, n = 0;
	struct aif_claimed *jobs = NULL;
	enum aif_err err;

	*more = 0;
	if (free_slots <= 0 || w->draining)
		return 0;
	for (size_t i = 0; i < cfg->nmodels; i++) {
		int cap = cfg->models[i].max_in_flight - w->model_in_flight[i];
		/* jobs in a pre-call hook will take a replica's place next */
		int rep_room = routing_room(w->rt, i) - w->model_hooks[i];

		if (rep_room < cap)
			cap = rep_room;
		if (cap <= 0)
			continue;
		w->model_ids[n_models] = cfg->models[i].id;
		w->model_free[n_models] = cap;
		/* batch.max_share of its places at most for batch lines, one at least */
		cap = cfg->models[i].max_in_flight * cfg->batch.max_share / 100;
		w->batch_free[n_models] = (cap > 0 ? cap : 1) - w->model_batch[i];
		n_models++;
	}
	if (n_models == 0)
		return 0;
	limit = free_slots < cfg->queue.claim_batch ? free_slots : cfg->queue.claim_batch;
	batch_lane(w, &limit, &lane);
	err = aif_queue_claim_from(w->db, w->id, w->model_ids, w->model_free, n_models, limit,
	    &lane, cfg->queue.lease_seconds, &jobs, &n);
	if (err != AIF_OK) {
		if (err != AIF_UNAVAILABLE)
			aif_warn("msg=\"claim failed\" error=\"%s\"", aif_strerror(err));
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		dispatch_start(w, &jobs[i]);
	w->claimed_total += n;
	*more = (int)n == limit;
	aif_queue_claimed_free(jobs, n);	/* bodies were moved into the calls */
	return n;
}

static struct engine_call *
call_of(struct worker *w, uint64_t job_id)
{
	struct engine_call *c;

	for (c = w->calls; c != NULL; c = c->next)
		if (c->job.id == job_id)
			break;
	return c;
}

int
dispatch_running(struct worker *w, uint64_t job_id)
{
	return call_of(w, job_id) != NULL;
}

/* The client of a stream left under stream_disconnect: cancel: the call is aborted
 * and the job cancelled, billed for its prompt and the tokens already relayed (the
 * engine did that work and the client got it). */
static void
cancel_left_stream(struct worker *w, struct engine_call *c)
{
	struct aif_engine_result res;
	struct aif_job_success u;
	enum aif_err err;

	memset(&res, 0, sizeof(res));
	res.prompt_tokens = c->st.prompt_tokens > 0 ? c->st.prompt_tokens :
	    c->job.prompt_tokens_estimate;
	/* a chat chunk carries a token or more; of a surface's events, its deltas do */
	res.completion_tokens = (c->job.kind & AIF_KIND_SURFACES) ?
	    (c->st.completion_tokens > c->st.deltas ? c->st.completion_tokens :
	    c->st.deltas) : c->st.completion_tokens > c->relayed ?
	    c->st.completion_tokens : c->relayed;
	outcome_success_row(w, c, &res, &u);
	err = aif_queue_cancel_billed(w->db, &u,
	    "client disconnected from the stream; engine call cancelled");
	if (err != AIF_OK)
		take_unsettled(w, c->job.id);	/* not run again here meanwhile */
	aif_info("msg=\"engine call cancelled\" job=%s prompt_tokens=%lld"
	    " completion_tokens=%lld recorded_here=%d", c->job.public_id,
	    (long long)res.prompt_tokens, (long long)res.completion_tokens, err == AIF_OK);
}

void
dispatch_relay_frame(void *arg, const struct aif_relay_frame *f)
{
	struct worker *w = arg;
	struct engine_call *c;

	/* a call in a guardrail's hook has no stream yet (its frames come after BEGIN) */
	if ((c = call_of(w, f->h.job)) == NULL || c->hook)
		return;
	/* only the aif-api that waits for this attempt's stream holds its key */
	if (!c->stream || !c->job.has_relay_secret || f->h.attempt != (uint32_t)c->job.attempt ||
	    !aif_relay_verify(c->relay_key, &f->h, f->payload)) {
		aif_warn("msg=\"relay frame with a bad tag dropped\" job=%s",
		    c->job.public_id);
		aif_metrics_add("aif_relay_rejected_frames_total", "side=\"worker\"", 1);
		return;
	}
	if (f->h.type == AIF_RELAY_PAUSE || f->h.type == AIF_RELAY_RESUME) {
		/* flow control: the stream's client reads slower than the engine writes */
		(void)curl_easy_pause(c->easy, f->h.type == AIF_RELAY_PAUSE ? CURLPAUSE_RECV :
		    CURLPAUSE_CONT);
		return;
	}
	if (f->h.type != AIF_RELAY_CANCEL)
		return;
	curl_multi_remove_handle(w->multi, c->easy);
	dispatch_release(w, c);
	cancel_left_stream(w, c);
	engine_call_free(c);
}

void
dispatch_cancel(struct worker *w, uint64_t job_id)
{
	struct engine_call *c = call_of(w, job_id);
	int cancelled = 0;

	if (c == NULL)
		return;
	/* a bell is a hint anyone on the host with the socket could send: the owner's
	   cancel is in the job row first, so the row decides */
	if (aif_jobs_is_cancelled(w->db, job_id, &cancelled) != AIF_OK || !cancelled)
		return;
	curl_multi_remove_handle(w->multi, c->easy);
	dispatch_release(w, c);
	aif_info("msg=\"engine call cancelled by its owner\" job=%s", c->job.public_id);
	engine_call_free(c);
}

void
dispatch_abort_all(struct worker *w)
{
	while (w->calls != NULL) {
		struct engine_call *c = w->calls;
		curl_multi_remove_handle(w->multi, c->easy);
		dispatch_release(w, c);
		engine_call_free(c);
	}
}
