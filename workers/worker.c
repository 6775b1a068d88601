/* worker.c -- aif-worker: claims jobs by priority, drives many engine calls at once with
 * libcurl multi, and commits outcomes. One thread, one event loop:
 *   wait (curl_multi_poll on the transfers + the doorbell, bounded by the next timer)
 *   -> claim while slots are free and there was a ring (or the slow poll came due)
 *   -> finish transfers: successes are committed in one batch transaction with their
 *      usage rows, failures are retried with backoff or failed
 *   -> ring the waiting aif-api of every finished job
 *   -> timers: lease extension + heartbeat, opportunistic reaping.
 * SIGTERM drains: no new claims, in-flight calls finish within worker.drain_timeout_ms,
 * whatever is left is released back to the queue. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "adapter.h"
#include "compensate.h"
#include "config.h"
#include "db.h"
#include "doorbell.h"
#include "embed.h"
#include "engine_call.h"
#include "log.h"
#include "metrics.h"
#include "pii.h"
#include "pricing.h"
#include "queue.h"
#include "registry.h"
#include "relay.h"
#include "routing.h"
#include "sdnotify.h"
#include "relay_proto.h"
#include "stream_asm.h"
#include "util.h"

#define REAP_INTERVAL_MS	5000
#define RELAYS_POLLED		32

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
}

struct worker {
	const struct aif_config	*cfg;
	struct aif_db		*db;
	CURLM			*multi;
	uint64_t		 id;
	char			 instance[32];
	char			 doorbell_path[AIF_DOORBELL_PATH_MAX];
	int			 doorbell_fd;
	int			 sender_fd;
	int			 slots;
	int			 in_flight;
	int			*model_in_flight;	/* per cfg->models[i] */
	struct routing		*rt;		/* replicas, circuit breakers, fallbacks */
	struct aif_pii		*pii;		/* masks responses when the config says so */
	const char		**model_ids;
	int			*model_free;
	int			 draining;
	int			 reexec;	/* drained for a reload: exec ourselves again */
	const char		*config_path;
	struct engine_call	*calls;		/* every call in the multi handle */
	struct relay_set	 relays;	/* stream relays to aif-api processes */
	uint64_t		 claimed_total;
	uint64_t		 done_total;
};

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

static void
usage(void)
{
	fprintf(stderr, "usage: aif-worker --config FILE --id N [--slots K]\n");
	exit(2);
}

static void
ring_reply(struct worker *w, const char *reply_to, uint64_t job_id)
{
	char msg[64];
	int n;

	if (reply_to == NULL || reply_to[0] == '\0')
		return;
	n = snprintf(msg, sizeof(msg), "job %" PRIu64 "\n", job_id);
	(void)aif_doorbell_ring_patient(w->sender_fd, reply_to, msg, (size_t)n, 20);
}

/* Tells the waiting aif-api that a streamed job is final (committed): success with its
 * usage, or the error the client should get. */
static void
relay_end(struct engine_call *c, int status, const char *type, const char *code,
    const char *message, int64_t prompt, int64_t completion, const char *id,
    int64_t created)
{
	json_t *end;
	char *text;

	if (!c->stream || c->relay == NULL)
		return;
	if (status == 200)
		end = json_pack("{s:i,s:s,s:I,s:s,s:{s:I,s:I,s:I}}", "status", 200, "id", id,
		    "created", (json_int_t)created, "model", c->model->id, "usage",
		    "prompt_tokens", (json_int_t)prompt, "completion_tokens",
		    (json_int_t)completion, "total_tokens", (json_int_t)(prompt + completion));
	else
		end = json_pack("{s:i,s:{s:s,s:s,s:n,s:o}}", "status", status, "error",
		    "message", message, "type", type, "param", "code",
		    code && *code ? json_string(code) : json_null());
	if (end == NULL || (text = json_dumps(end, JSON_COMPACT)) == NULL) {
		json_decref(end);
		return;
	}
	(void)relay_send(c->relay, c->job.id, AIF_RELAY_END, text, strlen(text));
	free(text);
	json_decref(end);
}

/* Appends `,extra` to the label set in buf; returns buf. */
static const char *
strcat_label(char *buf, size_t cap, const char *extra)
{
	size_t n = strlen(buf);

	snprintf(buf + n, cap - n, "%s%s", n ? "," : "", extra);
	return buf;
}

/* Rings the reply_to of every committed job, one datagram per waiting process. */
static void
ring_replies(struct worker *w, struct engine_call **calls, const struct aif_job_success *s,
    size_t n)
{
	char msg[AIF_DOORBELL_MSG_MAX];
	int done[256] = { 0 };

	for (size_t i = 0; i < n && i < 256; i++) {
		const char *to = calls[i]->job.reply_to;
		size_t len = 0;

		if (done[i] || !s[i].committed || to[0] == '\0')
			continue;
		for (size_t k = i; k < n && k < 256; k++) {
			int m;
			if (done[k] || !s[k].committed || strcmp(calls[k]->job.reply_to, to) != 0)
				continue;
			if (len + 24 >= sizeof(msg)) {
				msg[len++] = '\n';
				(void)aif_doorbell_ring_patient(w->sender_fd, to, msg, len, 20);
				len = 0;
			}
			m = snprintf(msg + len, sizeof(msg) - len, "%s%" PRIu64,
			    len == 0 ? "job " : " ", calls[k]->job.id);
			len += (size_t)m;
			done[k] = 1;
		}
		if (len > 0) {
			msg[len++] = '\n';
			(void)aif_doorbell_ring_patient(w->sender_fd, to, msg, len, 20);
		}
	}
}

/* Delay before attempt `attempt` + 1 under the model's retry policy:
 * min(initial * coefficient^(attempt-1), maximum) with +-jitter (Temporal's fields). */
static int64_t
backoff_ms(const struct aif_retry_policy *rp, int attempt)
{
	int64_t d = rp->initial_interval_ms;
	uint16_t j = 0;

	for (int i = 1; i < attempt && d < rp->maximum_interval_ms; i++)
		d = d * rp->backoff_coefficient_pct / 100;
	if (d > rp->maximum_interval_ms)
		d = rp->maximum_interval_ms;
	(void)aif_random_bytes(&j, sizeof(j));
	/* uniform in [100 - jitter, 100 + jitter] percent */
	return d * (100 - rp->jitter_pct + (int)(j % (2 * (unsigned)rp->jitter_pct + 1))) / 100;
}

/* The failure class a retry policy's non_retryable list can name. */
static unsigned
failure_class(const struct aif_engine_result *res)
{
	if (strcmp(res->error_code, "engine_timeout") == 0)
		return AIF_FAILCLASS_TIMEOUT;
	if (res->failure == AIF_FAIL_OVERLOADED)
		return AIF_FAILCLASS_OVERLOADED;
	return AIF_FAILCLASS_RETRYABLE;
}

static void
record_failure(struct worker *w, struct engine_call *c, struct aif_engine_result *res)
{
	const struct aif_replica *rep = &c->model->replicas[c->replica_idx];
	struct aif_job_failure f;
	char detail[600];
	size_t mi = aif_cfg_model_index(w->cfg, c->job.model);
	static const struct aif_retry_policy fallback_policy = {
		.initial_interval_ms = 500, .backoff_coefficient_pct = 200,
		.maximum_interval_ms = 10000, .jitter_pct = 10,
	};
	const struct aif_retry_policy *rp = mi != SIZE_MAX ? &w->cfg->models[mi].retry :
	    &fallback_policy;
	int retry = res->failure != AIF_FAIL_FATAL && c->job.attempt < c->job.max_attempts &&
	    (rp->non_retryable & failure_class(res)) == 0;
	enum aif_err err;
	const char *cls = res->failure == AIF_FAIL_FATAL ? "fatal" :
	    res->failure == AIF_FAIL_OVERLOADED ? "overloaded" : "retryable";

	snprintf(detail, sizeof(detail), "%s: %s", cls, res->message);
	memset(&f, 0, sizeof(f));
	f.id = c->job.id;
	f.lease_token = c->job.lease_token;
	f.attempt = c->job.attempt;
	f.worker_id = w->id;
	f.replica = rep->url;
	f.retry = retry;
	f.delay_ms = retry ? backoff_ms(rp, c->job.attempt) : 0;
	if (retry && mi != SIZE_MAX) {
		/* every replica's circuit is open: retry once one is due to close */
		int64_t wait = routing_wait_ms(w->rt, mi);
		if (wait > f.delay_ms)
			f.delay_ms = wait;
	}
	f.http_status = res->client_status ? res->client_status : 502;
	f.error_type = res->error_type[0] ? res->error_type : "server_error";
	f.error_code = res->error_code[0] ? res->error_code : NULL;
	f.error_message = res->message;
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
	else if (err != AIF_OK)
		aif_error("msg=\"cannot record failure\" job=%" PRIu64 " error=\"%s\"",
		    c->job.id, aif_strerror(err));
	{
		char l[400];
		snprintf(l, sizeof(l), "model=\"%s\",replica=\"%s\",class=\"%s\"",
		    c->model->id, rep->url, cls);
		aif_metrics_add("aif_engine_errors_total", l, 1);
		snprintf(l, sizeof(l), "model=\"%s\"", c->job.model);
		if (retry)
			aif_metrics_add("aif_job_retries_total", l, 1);
		else
			aif_metrics_add("aif_jobs_total", strcat_label(l, sizeof(l),
			    "outcome=\"failed\""), 1);
	}
	aif_info("msg=\"attempt failed\" job=%s attempt=%d retry=%d class=%s status=%d",
	    c->job.public_id, c->job.attempt, retry, cls, f.http_status);
	if (!retry && err == AIF_OK) {
		relay_end(c, f.http_status, f.error_type, f.error_code, f.error_message,
		    0, 0, NULL, 0);
		ring_reply(w, c->job.reply_to, c->job.id);
	}
}

static void
release_slot(struct worker *w, struct engine_call *c)
{
	w->in_flight--;
	w->model_in_flight[c->model_idx]--;
	routing_release(w->rt, c->model_idx, c->replica_idx);
}

/* Starts the engine call for a claimed job; on failure records it on the job. */
static void
start_call(struct worker *w, struct aif_claimed *job)
{
	struct engine_call *c = calloc(1, sizeof(*c));
	const struct aif_adapter *ad;
	struct aif_engine_result res;
	size_t mi, smi = 0, sri = 0;
	int ri;

	memset(&res, 0, sizeof(res));
	if (c == NULL) {
		aif_error("msg=\"out of memory starting a call\" job=%" PRIu64, job->id);
		free(job->request_body);
		return;
	}
	c->job = *job;
	job->request_body = NULL;
	mi = aif_cfg_model_index(w->cfg, c->job.model);
	if (mi == SIZE_MAX || routing_pick(w->rt, mi, c->job.last_replica[0] ?
	    c->job.last_replica : NULL, &smi, &sri) != 0) {
		/* The model left the config, or no replica is usable (all busy or open
		 * and no fallback): the attempt fails at once and the retry policy goes on. */
		static struct aif_model none = { .id = "?" };
		static struct aif_replica none_rep = { .url = "none" };
		none.replicas = &none_rep;
		c->model = mi == SIZE_MAX ? &none : &w->cfg->models[mi];
		c->replica_idx = 0;
		if (mi == SIZE_MAX) {
			res.failure = AIF_FAIL_FATAL;
			res.client_status = 404;
			snprintf(res.error_type, sizeof(res.error_type), "invalid_request_error");
			snprintf(res.error_code, sizeof(res.error_code), "model_not_found");
			snprintf(res.message, sizeof(res.message),
			    "The model is no longer configured.");
		} else {
			none.id = w->cfg->models[mi].id;
			c->model = &none;
			aif_adapter_transport_failure("no healthy replica of the model (or of its "
			    "fallbacks) is available", 0, &res);
		}
		record_failure(w, c, &res);
		engine_call_free(c);
		return;
	}
	if (smi != mi) {
		char detail[300];
		snprintf(detail, sizeof(detail), "no healthy replica of %s: served by fallback %s",
		    w->cfg->models[mi].id, w->cfg->models[smi].id);
		(void)aif_queue_event(w->db, c->job.id, "fallback", detail);
		aif_info("msg=\"fallback\" job=%s model=%s fallback=%s", c->job.public_id,
		    w->cfg->models[mi].id, w->cfg->models[smi].id);
	}
	mi = smi;
	ri = (int)sri;
	c->model = &w->cfg->models[mi];
	c->model_idx = mi;
	c->replica_idx = (size_t)ri;
	ad = aif_adapter_find(c->model->adapter);
	c->adapter = ad;
	c->stream = c->job.stream;
	if (c->stream && (ad == NULL || ad->parse_event == NULL)) {
		res.failure = AIF_FAIL_FATAL;
		res.client_status = 400;
		snprintf(res.error_type, sizeof(res.error_type), "invalid_request_error");
		snprintf(res.error_code, sizeof(res.error_code), "streaming_unsupported");
		snprintf(res.message, sizeof(res.message),
		    "This model's engine adapter cannot stream.");
		record_failure(w, c, &res);
		engine_call_free(c);
		return;
	}
	if (c->stream)
		c->relay = relay_get(&w->relays, c->job.reply_to);
	enum aif_err berr = ad == NULL ? AIF_CONFIG : ad->build(c->model,
	    &c->model->replicas[ri], aif_kind_from_name(c->job.kind), c->job.request_body,
	    strlen(c->job.request_body), &c->req);
	if (berr == AIF_OK)
		berr = engine_call_setup(c, c->job.public_id);
	if (berr != AIF_OK) {
		res.failure = AIF_FAIL_FATAL;
		if (berr == AIF_INVALID || berr == AIF_TOOBIG) {
			/* the request uses something this engine's protocol cannot carry */
			res.client_status = 400;
			snprintf(res.error_type, sizeof(res.error_type), "invalid_request_error");
			snprintf(res.error_code, sizeof(res.error_code), "unsupported_by_engine");
			snprintf(res.message, sizeof(res.message), "The engine behind model '%s' "
			    "cannot serve this request as sent (see docs/ADAPTERS.md).",
			    c->model->id);
		} else {
			res.client_status = 500;
			snprintf(res.error_type, sizeof(res.error_type), "server_error");
			snprintf(res.message, sizeof(res.message),
			    "The gateway could not build the engine request.");
		}
		record_failure(w, c, &res);
		engine_call_free(c);
		return;
	}
	w->in_flight++;
	w->model_in_flight[mi]++;
	routing_acquire(w->rt, mi, (size_t)ri);
	c->started_ms = aif_now_ms();
	if (curl_multi_add_handle(w->multi, c->easy) != CURLM_OK) {
		release_slot(w, c);
		aif_adapter_transport_failure("could not start transfer", 0, &res);
		record_failure(w, c, &res);
		engine_call_free(c);
		return;
	}
	list_add(w, c);
}

static void
claim(struct worker *w, int *more)
{
	const struct aif_config *cfg = w->cfg;
	int free_slots = w->slots - w->in_flight;
	size_t n_models = 0, n = 0;
	struct aif_claimed *jobs = NULL;
	int limit;
	enum aif_err err;

	*more = 0;
	if (free_slots <= 0 || w->draining)
		return;
	for (size_t i = 0; i < cfg->nmodels; i++) {
		int cap = cfg->models[i].max_in_flight - w->model_in_flight[i];
		int rep_room = routing_room(w->rt, i);

		if (rep_room < cap)
			cap = rep_room;
		if (cap <= 0)
			continue;
		w->model_ids[n_models] = cfg->models[i].id;
		w->model_free[n_models] = cap;
		n_models++;
	}
	if (n_models == 0)
		return;
	limit = free_slots < cfg->queue.claim_batch ? free_slots : cfg->queue.claim_batch;
	err = aif_queue_claim(w->db, w->id, w->model_ids, w->model_free, n_models, limit,
	    cfg->queue.lease_seconds, &jobs, &n);
	if (err != AIF_OK) {
		if (err != AIF_UNAVAILABLE)
			aif_warn("msg=\"claim failed\" error=\"%s\"", aif_strerror(err));
		return;
	}
	for (size_t i = 0; i < n; i++)
		start_call(w, &jobs[i]);
	w->claimed_total += n;
	*more = (int)n == limit;
	aif_queue_claimed_free(jobs, n);	/* bodies were moved into the calls */
}

/* The outcome of a stream that ended with HTTP 200: the assembled response, or the
 * error event that ended it, or a retryable failure if it stopped early. */
static void
stream_outcome(struct engine_call *c, struct aif_engine_result *res)
{
	engine_call_stream_finish(c);
	if (c->stream_fail != AIF_FAIL_NONE) {
		*res = c->stream_err;
		memset(&c->stream_err, 0, sizeof(c->stream_err));
		return;
	}
	if (!c->st.done && !c->adapter->stream_eof_ends) {
		aif_adapter_transport_failure("the stream ended before its end marker", 0, res);
		return;
	}
	res->failure = AIF_FAIL_NONE;
	res->prompt_tokens = c->st.prompt_tokens;
	res->completion_tokens = c->st.completion_tokens;
	res->response = aif_stream_asm_result(c->assembled, c->st.id, c->st.created,
	    c->model->id, c->st.prompt_tokens, c->st.completion_tokens);
	if (res->response == NULL)
		aif_adapter_transport_failure("out of memory", 0, res);
}

/* Collects finished transfers: failures are recorded one by one, successes are
 * committed in one batch transaction with their usage rows. */
static void
finish_transfers(struct worker *w)
{
	enum { BATCH = 256 };
	struct engine_call *ok_calls[BATCH];
	struct aif_job_success succ[BATCH];
	char *bodies[BATCH];
	size_t ns = 0;
	CURLMsg *msg;
	int left;

	while (ns < BATCH && (msg = curl_multi_info_read(w->multi, &left)) != NULL) {
		struct engine_call *c = NULL;
		struct aif_engine_result res;
		long status = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		curl_multi_remove_handle(w->multi, c->easy);
		release_slot(w, c);
		list_remove(w, c);
		memset(&res, 0, sizeof(res));
		if (msg->data.result != CURLE_OK && c->stream && c->stream_fail != AIF_FAIL_NONE) {
			res = c->stream_err;	/* an error event ended the stream */
			memset(&c->stream_err, 0, sizeof(c->stream_err));
		} else if (msg->data.result != CURLE_OK) {
			aif_adapter_transport_failure(
			    c->overflow ? "response over the size limit" :
			    curl_easy_strerror(msg->data.result),
			    msg->data.result == CURLE_OPERATION_TIMEDOUT, &res);
		} else {
			const struct aif_adapter *ad = c->adapter;
			curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
			if (c->stream && status == 200)
				stream_outcome(c, &res);
			else {
				ad->parse(c->model, aif_kind_from_name(c->job.kind), status,
				    c->resp ? c->resp : "", c->resp_len, &res);
				engine_call_fill_prompt_tokens(c, &res);
			}
		}
		/* the replica's health: transport errors, timeouts and 5xx count against it;
		 * an answer, a 4xx or an overload signal (429/503: back-pressure, retried
		 * later, not a dead replica) do not */
		if (msg->data.result == CURLE_COULDNT_CONNECT)
			routing_down(w->rt, c->model_idx, c->replica_idx);
		else
			routing_result(w->rt, c->model_idx, c->replica_idx,
			    res.failure != AIF_FAIL_RETRYABLE);
		if (res.failure == AIF_FAIL_NONE &&
		    aif_kind_from_name(c->job.kind) == AIF_KIND_EMBEDDING &&
		    aif_embed_wants_base64(c->job.request_body) &&
		    aif_embed_to_base64(res.response) != AIF_OK) {
			aif_engine_result_clear(&res);
			res.failure = AIF_FAIL_RETRYABLE;
			res.client_status = 502;
			snprintf(res.error_type, sizeof(res.error_type), "server_error");
			snprintf(res.error_code, sizeof(res.error_code), "engine_bad_response");
			snprintf(res.message, sizeof(res.message),
			    "The engine returned embeddings that are not arrays of numbers.");
		}
		if (res.failure == AIF_FAIL_NONE && aif_pii_masks_responses(w->pii) &&
		    aif_pii_mask_response(w->pii, c->job.model, NULL,
		    aif_kind_from_name(c->job.kind), res.response, NULL) != AIF_OK) {
			aif_engine_result_clear(&res);
			res.failure = AIF_FAIL_FATAL;
			res.client_status = 502;
			snprintf(res.error_type, sizeof(res.error_type), "server_error");
			snprintf(res.error_code, sizeof(res.error_code), "response_unmaskable");
			snprintf(res.message, sizeof(res.message),
			    "The engine's answer could not be screened for personal data.");
		}
		if (res.failure == AIF_FAIL_NONE &&
		    (bodies[ns] = json_dumps(res.response, JSON_COMPACT)) == NULL) {
			aif_engine_result_clear(&res);
			aif_adapter_transport_failure("out of memory", 0, &res);
		}
		if (res.failure != AIF_FAIL_NONE) {
			record_failure(w, c, &res);
			aif_engine_result_clear(&res);
			engine_call_free(c);
			continue;
		}
		struct aif_job_success *s = &succ[ns];
		memset(s, 0, sizeof(*s));
		s->id = c->job.id;
		s->lease_token = c->job.lease_token;
		s->attempt = c->job.attempt;
		s->worker_id = w->id;
		s->api_key_id = c->job.api_key_id;
		s->tenant = c->job.tenant;
		s->model = c->model->id;
		s->engine = c->model->engine;
		s->replica = c->model->replicas[c->replica_idx].url;
		s->response_body = bodies[ns];
		s->prompt_tokens = res.prompt_tokens;
		s->completion_tokens = res.completion_tokens;
		s->cost_micros = aif_price_micros(&c->model->pricing, res.prompt_tokens,
		    res.completion_tokens);
		s->queue_ms = c->job.queue_ms;
		s->engine_ms = aif_now_ms() - c->started_ms;
		s->budget_hold_micros = c->job.budget_hold_micros;
		s->tokens_charged = c->job.tokens_charged;
		aif_engine_result_clear(&res);
		ok_calls[ns++] = c;
	}
	if (ns == 0)
		return;
	enum aif_err err = aif_queue_succeed(w->db, succ, ns);
	if (err != AIF_OK)
		aif_error("msg=\"cannot commit results; the leases will expire and the jobs"
		    " run again\" jobs=%zu error=\"%s\"", ns, aif_strerror(err));
	for (size_t i = 0; i < ns; i++)
		if (succ[i].committed && ok_calls[i]->stream)
			relay_end(ok_calls[i], 200, NULL, NULL, NULL, succ[i].prompt_tokens,
			    succ[i].completion_tokens, ok_calls[i]->st.id,
			    ok_calls[i]->st.created);
	ring_replies(w, ok_calls, succ, ns);
	for (size_t i = 0; i < ns; i++) {
		if (succ[i].committed) {
			char l[200];
			w->done_total++;
			snprintf(l, sizeof(l), "model=\"%s\"", succ[i].model);
			aif_metrics_observe_ms("aif_job_queue_seconds", l, succ[i].queue_ms);
			aif_metrics_observe_ms("aif_job_engine_seconds", l, succ[i].engine_ms);
			aif_metrics_observe_ms("aif_job_total_seconds", l,
			    succ[i].queue_ms + succ[i].engine_ms);
			aif_metrics_add("aif_jobs_total", strcat_label(l, sizeof(l),
			    "outcome=\"succeeded\""), 1);
			snprintf(l, sizeof(l), "model=\"%s\",direction=\"in\"", succ[i].model);
			aif_metrics_add("aif_tokens_total", l, succ[i].prompt_tokens);
			snprintf(l, sizeof(l), "model=\"%s\",direction=\"out\"", succ[i].model);
			aif_metrics_add("aif_tokens_total", l, succ[i].completion_tokens);
		}
		free(bodies[i]);
		engine_call_free(ok_calls[i]);
	}
}

static void	on_cancel(void *arg, uint64_t job_id);
static void	update_share(struct worker *w);

/* Doorbell messages: "wake" (new jobs), "cancel <job id>" (abort that call) or "share"
 * (the set of live workers changed: recompute this worker's share of the replicas). */
static void
drain_doorbell(struct worker *w, int *woken)
{
	char buf[AIF_DOORBELL_MSG_MAX];

	while (aif_doorbell_recv(w->doorbell_fd, buf, sizeof(buf)) > 0) {
		if (strncmp(buf, "cancel ", 7) == 0) {
			uint64_t id = strtoull(buf + 7, NULL, 10);
			if (id > 0)
				on_cancel(w, id);
			continue;
		}
		if (strcmp(buf, "share") == 0) {
			update_share(w);
			continue;
		}
		*woken = 1;
	}
}

/* Aborts every transfer still running (end of a drain). */
static void
abort_all(struct worker *w)
{
	while (w->calls != NULL) {
		struct engine_call *c = w->calls;
		curl_multi_remove_handle(w->multi, c->easy);
		release_slot(w, c);
		list_remove(w, c);
		engine_call_free(c);
	}
}

/* This worker's view of each replica (calls in flight, circuit) for /metrics and
 * aifctl: one upsert per heartbeat. */
static void
publish_replicas(struct worker *w)
{
	char sql[8192];
	struct aif_dbp p[400];
	size_t off, k = 0;

	off = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO replica_state (worker_id, model,"
	    " replica, in_flight, circuit_open) VALUES ");
	for (size_t i = 0; i < w->cfg->nmodels && k + 5 <= 400; i++)
		for (size_t r = 0; r < w->cfg->models[i].nreplicas && k + 5 <= 400; r++) {
			if (off + 20 >= sizeof(sql))
				break;
			off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s(?,?,?,?,?)",
			    k ? "," : "");
			p[k++] = AIF_P_I64(w->id);
			p[k++] = AIF_P_STR(w->cfg->models[i].id);
			p[k++] = AIF_P_STR(w->cfg->models[i].replicas[r].url);
			p[k++] = AIF_P_I64(routing_in_flight(w->rt, i, r));
			p[k++] = AIF_P_I64(routing_is_open(w->rt, i, r));
		}
	if (k == 0 || off + 120 >= sizeof(sql))
		return;
	snprintf(sql + off, sizeof(sql) - off, " ON DUPLICATE KEY UPDATE"
	    " in_flight = VALUES(in_flight), circuit_open = VALUES(circuit_open),"
	    " updated_at = NOW(6)");
	(void)aif_db_exec(w->db, sql, p, k, NULL, NULL);
}

/* Replica limits are shared by the live workers: take this worker's share. */
static void
update_share(struct worker *w)
{
	int rank = 0, n = 1;

	if (aif_registry_rank(w->db, w->id, 3 * w->cfg->worker.heartbeat_ms / 1000 + 1,
	    &rank, &n) == AIF_OK)
		routing_set_share(w->rt, rank, n);
}

/* A worker started or stopped: ring the others ("share") so that they take their new
 * share of the replica limits now, not at their next heartbeat. */
static void
ring_peers_share(struct worker *w)
{
	char **list = NULL;
	size_t n = 0;

	if (aif_registry_doorbells(w->db, 3 * w->cfg->worker.heartbeat_ms / 1000 + 1,
	    &list, &n) != AIF_OK)
		return;
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], w->doorbell_path) != 0)
			(void)aif_doorbell_ring_patient(w->sender_fd, list[i], "share", 5, 20);
	aif_registry_doorbells_free(list, n);
}

static void
heartbeat(struct worker *w)
{
	enum aif_err err;

	err = aif_registry_heartbeat(w->db, w->id, w->draining ? "draining" : "running",
	    w->in_flight);
	if (err == AIF_OK)
		update_share(w);
	if (err == AIF_OK) {
		(void)aif_metrics_flush(w->db);
		publish_replicas(w);
	}
	if (err == AIF_OK && w->in_flight > 0)
		err = aif_queue_extend_leases(w->db, w->id, w->cfg->queue.lease_seconds);
	if (err != AIF_OK)
		aif_warn("msg=\"heartbeat failed\" error=\"%s\"", aif_strerror(err));
}

static void
reap(struct worker *w)
{
	size_t n = 0;

	if (aif_queue_reap(w->db, w->cfg, 100, &n) == AIF_OK && n > 0)
		aif_info("msg=\"requeued jobs with expired leases\" count=%zu", n);
	/* a few due saga steps too (blocking, each bounded by its own timeout) */
	(void)aif_compensate_run(w->db, 2);
}

static int
setup(struct worker *w, const char *instance, int slots_override)
{
	const struct aif_config *cfg = w->cfg;
	char host[256] = "localhost";
	enum aif_err err;
	int n;

	aif_strlcpy(w->instance, instance, sizeof(w->instance));
	w->slots = slots_override > 0 ? slots_override : cfg->worker.slots;
	w->model_in_flight = calloc(cfg->nmodels, sizeof(int));
	w->rt = routing_new(cfg);
	{
		char errbuf[4096];
		if (aif_pii_new(cfg, 0, &w->pii, errbuf, sizeof(errbuf)) != AIF_OK) {
			fputs(errbuf, stderr);
			return -1;
		}
	}
	w->model_ids = calloc(cfg->nmodels, sizeof(char *));
	w->model_free = calloc(cfg->nmodels, sizeof(int));
	if (!w->model_in_flight || !w->rt || !w->model_ids || !w->model_free)
		return -1;
	n = snprintf(w->doorbell_path, sizeof(w->doorbell_path), "%s/worker-%s.sock",
	    cfg->server.run_dir, instance);
	if (n < 0 || (size_t)n >= sizeof(w->doorbell_path)) {
		aif_error("msg=\"doorbell path too long\" run_dir=%s", cfg->server.run_dir);
		return -1;
	}
	if ((err = aif_doorbell_bind(w->doorbell_path, &w->doorbell_fd)) != AIF_OK) {
		aif_error("msg=\"cannot bind doorbell\" path=%s error=\"%s\"",
		    w->doorbell_path, aif_strerror(err));
		return -1;
	}
	if ((w->sender_fd = aif_doorbell_sender()) < 0)
		return -1;
	if ((w->multi = curl_multi_init()) == NULL)
		return -1;
	curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)w->slots + 16);
	(void)aif_db_open(cfg, &w->db);
	if (w->db == NULL)
		return -1;
	(void)gethostname(host, sizeof(host) - 1);
	/* The database may be starting: retry registration for a while. */
	for (int i = 0; i < 100 && !stop_requested; i++) {
		err = aif_registry_register(w->db, w->instance, host, (long)getpid(),
		    w->doorbell_path, w->slots, &w->id);
		if (err == AIF_OK)
			break;
		usleep(200000);
	}
	if (w->id == 0) {
		aif_error("msg=\"cannot register in the workers table\"");
		return -1;
	}
	heartbeat(w);	/* learn this worker's share of the replicas at once */
	ring_peers_share(w);	/* and let the others give up theirs */
	(void)aif_sd_notify("READY=1");
	aif_info("msg=\"worker started\" worker_id=%" PRIu64 " instance=%s slots=%d"
	    " doorbell=%s", w->id, w->instance, w->slots, w->doorbell_path);
	return 0;
}

static void
teardown(struct worker *w)
{
	relay_close_all(&w->relays);
	if (w->multi != NULL)
		curl_multi_cleanup(w->multi);
	aif_doorbell_close(w->doorbell_fd, w->doorbell_path[0] ? w->doorbell_path : NULL);
	if (w->sender_fd >= 0)
		close(w->sender_fd);
	aif_db_close(w->db);
	routing_free(w->rt);
	aif_pii_free(w->pii);
	free(w->model_in_flight);
	free(w->model_ids);
	free(w->model_free);
}

/* A job to abort: CANCEL from an aif-api whose streaming client left (policy cancel),
 * or "cancel <id>" on the doorbell after POST /v1/jobs/{id}/cancel. */
static void
on_cancel(void *arg, uint64_t job_id)
{
	struct worker *w = arg;
	struct engine_call *c;
	enum aif_err err;

	for (c = w->calls; c != NULL; c = c->next)
		if (c->job.id == job_id)
			break;
	if (c == NULL)
		return;
	curl_multi_remove_handle(w->multi, c->easy);
	release_slot(w, c);
	list_remove(w, c);
	/* already cancelled when the owner asked: then this finds nothing to change */
	err = aif_queue_cancel(w->db, c->job.id, c->job.lease_token,
	    "client disconnected from the stream; engine call cancelled");
	aif_info("msg=\"engine call cancelled\" job=%s recorded_here=%d",
	    c->job.public_id, err == AIF_OK);
	engine_call_free(c);
}

static void
run(struct worker *w)
{
	const struct aif_config *cfg = w->cfg;
	int64_t now = aif_now_ms();
	int64_t next_poll = now, next_beat = now + cfg->worker.heartbeat_ms;
	int64_t next_reap = now + REAP_INTERVAL_MS, drain_deadline = 0;
	int woken = 1, more = 0, running = 0;

	for (;;) {
		now = aif_now_ms();
		if (reload_requested && !w->draining) {
			/* a reload: check the new file; if good, drain and start again on it
			 * (in-flight calls finish on the config they started with) */
			struct aif_config *next = NULL;
			char errbuf[8192];
			reload_requested = 0;
			(void)aif_sd_notify("RELOADING=1");
			if (aif_cfg_load(w->config_path, &next, errbuf, sizeof(errbuf)) != AIF_OK) {
				char *save = NULL;
				for (char *l = strtok_r(errbuf, "\n", &save); l != NULL;
				    l = strtok_r(NULL, "\n", &save))
					aif_error("msg=\"reload refused; keeping the running config\""
					    " error=\"%s\"", l);
				(void)aif_sd_notify("READY=1");
			} else {
				aif_cfg_free(next);
				w->reexec = 1;
				stop_requested = 1;
			}
		}
		if (stop_requested && !w->draining) {
			w->draining = 1;
			drain_deadline = now + cfg->worker.drain_timeout_ms;
			aif_info("msg=\"draining\" in_flight=%d reload=%d", w->in_flight, w->reexec);
			(void)aif_sd_notify(w->reexec ? "STATUS=reloading: draining" : "STOPPING=1");
			heartbeat(w);
		}
		if (w->draining && (w->in_flight == 0 || now >= drain_deadline))
			break;
		if (!w->draining && w->in_flight < w->slots &&
		    (woken || more || now >= next_poll)) {
			woken = 0;
			claim(w, &more);
			next_poll = now + cfg->queue.poll_interval_ms;
		}
		curl_multi_perform(w->multi, &running);
		finish_transfers(w);
		routing_probe(w->rt);
		if (now >= next_beat) {
			heartbeat(w);
			next_beat = now + cfg->worker.heartbeat_ms;
		}
		if (now >= next_reap) {
			reap(w);
			next_reap = now + REAP_INTERVAL_MS;
		}
		if (more && w->in_flight < w->slots)
			continue;
		int64_t wait = next_poll - aif_now_ms();
		if (next_beat - aif_now_ms() < wait)
			wait = next_beat - aif_now_ms();
		if (w->draining)
			wait = 50;
		if (wait < 0)
			wait = 0;
		if (wait > 1000)
			wait = 1000;
		struct curl_waitfd extra[1 + RELAYS_POLLED];
		struct relay_conn *polled[RELAYS_POLLED];
		unsigned nextra = 1, np = 0;
		int numfds = 0;
		extra[0].fd = w->doorbell_fd;
		extra[0].events = CURL_WAIT_POLLIN;
		extra[0].revents = 0;
		for (struct relay_conn *rc = w->relays.conns; rc && np < RELAYS_POLLED;
		    rc = rc->next) {
			if (rc->fd < 0)
				continue;
			extra[nextra].fd = rc->fd;
			extra[nextra].events = CURL_WAIT_POLLIN |
			    (rc->out_len > 0 ? CURL_WAIT_POLLOUT : 0);
			extra[nextra].revents = 0;
			polled[np++] = rc;
			nextra++;
		}
		curl_multi_poll(w->multi, extra, nextra, (int)wait, &numfds);
		if (extra[0].revents != 0)
			drain_doorbell(w, &woken);
		for (unsigned i = 0; i < np; i++) {
			if (extra[1 + i].revents & CURL_WAIT_POLLOUT)
				(void)relay_flush(polled[i]);
			if (extra[1 + i].revents & CURL_WAIT_POLLIN)
				(void)relay_read(polled[i], on_cancel, w);
		}
	}
	if (w->in_flight > 0) {
		size_t n = 0;
		aif_warn("msg=\"drain timed out; releasing jobs\" in_flight=%d", w->in_flight);
		abort_all(w);
		if (aif_queue_release(w->db, w->id, &n) == AIF_OK)
			aif_info("msg=\"released jobs back to the queue\" count=%zu", n);
	}
	(void)aif_registry_stop(w->db, w->id);
	ring_peers_share(w);
	aif_info("msg=\"worker stopped\" claimed=%" PRIu64 " succeeded=%" PRIu64,
	    w->claimed_total, w->done_total);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "id", required_argument, NULL, 'i' },
		{ "slots", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *instance = NULL;
	struct aif_config *cfg = NULL;
	struct worker w;
	char errbuf[8192];
	int64_t slots = 0;
	int ch, rc = 1;

	aif_log_init("aif-worker");
	while ((ch = getopt_long(argc, argv, "c:i:s:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'i':
			instance = optarg;
			break;
		case 's':
			if (aif_parse_i64(optarg, 1, 4096, &slots) != 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (config_path == NULL || instance == NULL || strlen(instance) > 16)
		usage();
	if (aif_cfg_load(config_path, &cfg, errbuf, sizeof(errbuf)) != AIF_OK) {
		fprintf(stderr, "%s", errbuf);
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	w.config_path = config_path;
	w.doorbell_fd = -1;
	w.sender_fd = -1;
	if (setup(&w, instance, (int)slots) == 0) {
		run(&w);
		rc = 0;
	}
	teardown(&w);
	curl_global_cleanup();
	aif_cfg_free(cfg);
	if (rc == 0 && w.reexec) {
		/* same pid, same arguments, the new config (systemd keeps tracking us) */
		aif_info("msg=\"restarting on the reloaded config\"");
		execv("/proc/self/exe", argv);
		aif_error("msg=\"exec for reload failed\"");
		return 1;
	}
	return rc;
}
