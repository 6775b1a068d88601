/* flow.c -- the workflow runners: their threads, claims, the end of a run; see flow.h
 * and flow_int.h. */
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "bell.h"
#include "flow_int.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "spans.h"
#include "util.h"

#define CLAIM_LIMIT	8	/* runs claimed at once */
#define ADVANCE_MAX	512	/* step looks per claim: a bound, never reached by a
				   valid definition (64 steps, each visited once) */

/* ---- transitions -------------------------------------------------------------------- */

void
flow_tx_init(struct flow_tx *t)
{
	memset(t, 0, sizeof(*t));
	t->w.next = AIF_FLOW_KEEP;
}

void
flow_tx_step(struct flow_tx *t, const struct aif_flow_step *s, const char *output,
    int started, int finished)
{
	struct aif_flow_step_write *sw;

	if (t->w.nsteps >= AIF_FLOW_WRITES_MAX)
		return;
	sw = &t->w.steps[t->w.nsteps++];
	memset(sw, 0, sizeof(*sw));
	sw->name = s->name;
	sw->seq = s->seq;
	sw->kind = s->kind;
	sw->state = s->state;
	sw->attempts = s->attempts;
	sw->max_attempts = s->max_attempts;
	sw->output = output;
	sw->error = s->error[0] ? s->error : NULL;
	sw->child_job_id = s->child_job_id;
	sw->waiting_for = s->waiting_for[0] ? s->waiting_for : NULL;
	sw->wake_at_ms = s->wake_at_ms;
	sw->branch_taken = s->branch_taken[0] ? s->branch_taken : NULL;
	sw->started = started;
	sw->finished = finished;
}

void
flow_tx_event(struct flow_tx *t, const char *event, const char *fmt, ...)
{
	va_list ap;
	char *d;

	if (t->w.nevents >= AIF_FLOW_EVENTS_MAX)
		return;
	d = t->details[t->w.nevents];
	va_start(ap, fmt);
	vsnprintf(d, FLOW_DETAIL_MAX, fmt, ap);
	va_end(ap);
	aif_utf8_trim_tail(d);
	t->w.events[t->w.nevents].event = event;
	t->w.events[t->w.nevents].detail = d;
	t->w.nevents++;
}

static void
tx_own(struct flow_tx *t, char *p)
{
	if (t->nowned < AIF_NELEM(t->owned))
		t->owned[t->nowned++] = p;
	else
		free(p);	/* never: the bound is twice the rows */
}

static void
tx_free(struct flow_tx *t)
{
	for (size_t i = 0; i < t->nowned; i++)
		free(t->owned[i]);
	t->nowned = 0;
}

struct aif_flow_step *
flow_row(struct flow_run *fx, const char *name)
{
	for (size_t i = 0; i < fx->nrows; i++)
		if (strcmp(fx->rows[i].name, name) == 0)
			return &fx->rows[i];
	return NULL;
}

int
flow_schedule(struct flow_run *fx, struct flow_tx *t, const char *name)
{
	const json_t *d = json_object_get(fx->steps_def, name);
	struct aif_flow_step *s;
	const json_t *retry;

	if (d == NULL || fx->nrows >= FLOW_STEPS_MAX || flow_row(fx, name) != NULL)
		return -1;
	s = &fx->rows[fx->nrows++];
	memset(s, 0, sizeof(*s));
	aif_strlcpy(s->name, name, sizeof(s->name));
	aif_strlcpy(s->kind, json_string_value(json_object_get(d, "kind")) ?: "?",
	    sizeof(s->kind));
	aif_strlcpy(s->state, "scheduled", sizeof(s->state));
	s->seq = ++fx->max_seq;
	retry = json_object_get(d, "retry");
	s->max_attempts = retry != NULL ?
	    (int)json_integer_value(json_object_get(retry, "max_attempts")) : 1;
	if (s->max_attempts <= 0)
		s->max_attempts = 1;
	flow_tx_step(t, s, NULL, 0, 0);
	flow_tx_event(t, "step_scheduled", "%s (%s)", s->name, s->kind);
	return 0;
}

/* Appends the rows, events and owned strings of src to dst (src is left empty of
 * them). -1 when they do not fit (nothing moved). */
static int
tx_append(struct flow_tx *dst, struct flow_tx *src)
{
	if (dst->w.nsteps + src->w.nsteps > AIF_FLOW_WRITES_MAX ||
	    dst->w.nevents + src->w.nevents > AIF_FLOW_EVENTS_MAX ||
	    dst->nowned + src->nowned > AIF_NELEM(dst->owned))
		return -1;
	memcpy(&dst->w.steps[dst->w.nsteps], src->w.steps,
	    src->w.nsteps * sizeof(src->w.steps[0]));
	dst->w.nsteps += src->w.nsteps;
	for (size_t i = 0; i < src->w.nevents; i++) {
		size_t k = dst->w.nevents++;
		memcpy(dst->details[k], src->details[i], FLOW_DETAIL_MAX);
		dst->w.events[k].event = src->w.events[i].event;
		dst->w.events[k].detail = dst->details[k];
	}
	memcpy(&dst->owned[dst->nowned], src->owned, src->nowned * sizeof(src->owned[0]));
	dst->nowned += src->nowned;
	src->w.nsteps = src->w.nevents = src->nowned = 0;
	return 0;
}

static enum aif_err
tx_apply(struct flow_run *fx, struct flow_tx *t)
{
	if (t->w.next == AIF_FLOW_KEEP && t->w.lease_ms == 0)
		t->w.lease_ms = fx->fr->cfg->queue.lease_seconds * 1000;
	return aif_flow_apply(fx->fr->db, fx->run, &t->w);
}

/* Keeps t (the result of a pure step) to be written with the next transition. */
static int
flow_defer(struct flow_run *fx, struct flow_tx *t)
{
	if (fx->npend == 0)
		flow_tx_init(&fx->pend);
	if (tx_append(&fx->pend, t) == 0) {
		fx->npend++;
		return 0;
	}
	return flow_commit(fx, t);	/* full: written now, with what is pending */
}

int
flow_commit(struct flow_run *fx, struct flow_tx *t)
{
	enum aif_err err = AIF_OK;

	if (fx->npend > 0) {
		/* what pure steps found goes first, in the same transaction when it fits */
		struct flow_tx *p = &fx->pend;
		fx->npend = 0;
		if (tx_append(p, t) == 0) {
			p->w.next = t->w.next;
			p->w.lease_ms = t->w.lease_ms;
			p->w.wake_at_ms = t->w.wake_at_ms;
			memcpy(p->w.wait_signals, t->w.wait_signals, sizeof(p->w.wait_signals));
			p->w.nwait_signals = t->w.nwait_signals;
			p->w.response_body = t->w.response_body;
			p->w.http_status = t->w.http_status;
			p->w.error_type = t->w.error_type;
			p->w.error_code = t->w.error_code;
			p->w.error_message = t->w.error_message;
			p->w.comps = t->w.comps;
			p->w.ncomps = t->w.ncomps;
			p->w.consume_signal = t->w.consume_signal;
			p->w.consume_step = t->w.consume_step;
			err = tx_apply(fx, p);
			/* t's strings moved to p: both are freed below */
			tx_free(p);
			tx_free(t);
			goto done;
		}
		err = tx_apply(fx, p);
		tx_free(p);
		if (err != AIF_OK) {
			tx_free(t);
			goto done;
		}
	}
	err = tx_apply(fx, t);
	tx_free(t);
done:
	if (err == AIF_OK)
		return 0;
	if (err == AIF_NOTFOUND)
		aif_info("msg=\"workflow run is no longer ours\" job=%" PRIu64, fx->run->id);
	else
		aif_warn("msg=\"workflow transition not written\" job=%" PRIu64 " error=\"%s\"",
		    fx->run->id, aif_strerror(err));
	fx->over = 1;
	return -1;
}


int64_t
flow_backoff_ms(const json_t *retry, int attempt)
{
	int64_t d = json_integer_value(json_object_get(retry, "initial_ms"));
	int64_t coeff = json_integer_value(json_object_get(retry, "coefficient_pct"));
	int64_t max = json_integer_value(json_object_get(retry, "max_ms"));
	int64_t jitter = json_integer_value(json_object_get(retry, "jitter_pct"));
	uint32_t r = 0;

	if (d <= 0)
		d = 500;
	if (coeff < 100)
		coeff = 200;
	if (max <= 0)
		max = 10000;
	for (int i = 1; i < attempt && d < max; i++)
		d = d * coeff / 100;
	if (d > max)
		d = max;
	if (jitter > 0 && jitter <= 100 && aif_random_bytes((unsigned char *)&r,
	    sizeof(r)) == AIF_OK)
		d += d * jitter / 100 * ((int64_t)(r % 2001) - 1000) / 1000;
	return d < 1 ? 1 : d;
}

void
flow_wake_worker(struct flow_run *fx)
{
	(void)aif_doorbell_ring(fx->fr->sender_fd, fx->fr->doorbell, AIF_BELL_WAKE_MSG,
	    sizeof(AIF_BELL_WAKE_MSG) - 1);
}

/* Rings the run's waiting request (sync or stream) in aif-api. */
static void
ring_waiter(struct flow_run *fx)
{
	char msg[AIF_BELL_MAX];
	size_t used, n;

	if (fx->run->reply_to[0] == '\0')
		return;
	n = aif_bell_jobs(msg, sizeof(msg), &fx->run->id, 1, &used);
	if (n > 0)
		(void)aif_doorbell_ring_patient(fx->fr->sender_fd, fx->run->reply_to, msg, n, 20);
}

int
flow_step_done(struct flow_run *fx, struct aif_flow_step *s, json_t *output,
    const char *next, const char *branch_taken)
{
	return flow_step_consumed(fx, s, output, next, branch_taken, 0);
}

int
flow_step_consumed(struct flow_run *fx, struct aif_flow_step *s, json_t *output,
    const char *next, const char *branch_taken, uint64_t signal)
{
	struct flow_tx t;
	char *text = json_dumps(output, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_t *slot;
	int rc;

	flow_tx_init(&t);
	if (text == NULL || strlen(text) > FLOW_OUTPUT_MAX) {
		free(text);
		json_decref(output);
		flow_fail_run(fx, s, "workflow_output_too_large",
		    "the step's output is over its limit");
		return -1;
	}
	tx_own(&t, text);
	aif_strlcpy(s->state, "succeeded", sizeof(s->state));
	s->error[0] = '\0';
	s->waiting_for[0] = '\0';
	s->wake_at_ms = 0;
	if (branch_taken != NULL)
		aif_strlcpy(s->branch_taken, branch_taken, sizeof(s->branch_taken));
	s->finished_ms = aif_wall_ms();
	flow_tx_step(&t, s, text, 1, 1);
	flow_tx_event(&t, "step_succeeded", "%s (attempt %d)%s%s", s->name, s->attempts,
	    branch_taken ? ": took " : "", branch_taken ? branch_taken : "");
	if (next != NULL && flow_schedule(fx, &t, next) != 0) {
		json_decref(output);
		tx_free(&t);
		flow_fail_run(fx, s, "workflow_invalid", "the next step cannot be scheduled");
		return -1;
	}
	slot = json_pack("{s:o}", "output", output);
	json_object_set_new(json_object_get(fx->root, "steps"), s->name, slot);
	if (signal != 0) {	/* consumed in the same transaction */
		t.w.consume_signal = signal;
		t.w.consume_step = s->name;
		rc = flow_commit(fx, &t);
	} else if (strcmp(s->kind, "http") != 0 && strcmp(s->kind, "model") != 0) {
		/* a pure step's result is written with the next transition (it would be
		   the same if computed again); a call's result at once */
		rc = flow_defer(fx, &t);
	} else {
		rc = flow_commit(fx, &t);
	}
	if (rc == 0)	/* its span once it is the run's record */
		spans_step(fx->run, s, NULL);
	return rc;
}

/* ---- the end of a run --------------------------------------------------------------- */

/* Usage of the run: the sum of its model steps' usage rows. */
static json_t *
run_usage(struct flow_run *fx)
{
	int64_t p = 0, c = 0, cost = 0;

	(void)aif_flow_usage(fx->fr->db, fx->run->id, &p, &c, &cost);
	return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)p,
	    "completion_tokens", (json_int_t)c, "total_tokens", (json_int_t)(p + c));
}

/* The answer text of an output: a model step's text, a string, else compact JSON. */
static char *
answer_text(const json_t *out)
{
	const json_t *t = json_object_get(out, "text");

	if (json_is_string(out))
		return strdup(json_string_value(out));
	if (json_is_string(t))
		return strdup(json_string_value(t));
	return json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
}

void
flow_succeed_run(struct flow_run *fx, struct aif_flow_step *s, const json_t *output,
    const char *finish_reason)
{
	struct flow_tx t;
	char *text = answer_text(output), *body = NULL, cid[64];
	json_t *resp = NULL, *usage = run_usage(fx);
	json_int_t now = (json_int_t)aif_unix_now();

	flow_tx_init(&t);
	snprintf(cid, sizeof(cid), "%s-%s", strcmp(fx->surface, "completion") == 0 ?
	    "cmpl" : "chatcmpl", fx->run->public_id);
	if (text == NULL)
		resp = NULL;
	else if (strcmp(fx->surface, "chat") == 0)
		resp = json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{s:s,s:s},s:n,s:s}],s:O}",
		    "id", cid, "object", "chat.completion", "created", now,
		    "model", fx->run->workflow, "choices", "index", 0, "message",
		    "role", "assistant", "content", text, "logprobs", "finish_reason",
		    finish_reason ?: "stop", "usage", usage);
	else if (strcmp(fx->surface, "completion") == 0)
		resp = json_pack("{s:s,s:s,s:I,s:s,s:[{s:s,s:i,s:n,s:s}],s:O}",
		    "id", cid, "object", "text_completion", "created", now,
		    "model", fx->run->workflow, "choices", "text", text, "index", 0,
		    "logprobs", "finish_reason", finish_reason ?: "stop", "usage", usage);
	else
		resp = json_pack("{s:s,s:s,s:s,s:O,s:O}", "id", fx->run->public_id,
		    "object", "workflow.run", "workflow", fx->run->workflow, "output", output,
		    "usage", usage);
	free(text);
	json_decref(usage);
	if (resp == NULL || (body = json_dumps(resp, JSON_COMPACT)) == NULL) {
		json_decref(resp);
		flow_fail_run(fx, s, "workflow_output_invalid", "the answer cannot be built");
		return;
	}
	json_decref(resp);
	tx_own(&t, body);
	aif_strlcpy(s->state, "succeeded", sizeof(s->state));
	s->finished_ms = aif_wall_ms();
	flow_tx_step(&t, s, NULL, 1, 1);
	flow_tx_event(&t, "step_succeeded", "%s: the run's answer", s->name);
	t.w.next = AIF_FLOW_SUCCEED;
	t.w.response_body = body;
	if (flow_commit(fx, &t) == 0) {
		aif_metrics_add("aif_workflow_runs_total", "outcome=\"succeeded\"", 1);
		spans_step(fx->run, s, NULL);
		spans_run_end(fx->run, NULL);
		ring_waiter(fx);
	}
	fx->over = 1;
}

/* Cancels the child jobs of steps still open (a run that failed or was cancelled). */
static void
cancel_children(struct flow_run *fx)
{
	for (size_t i = 0; i < fx->nrows; i++) {
		struct aif_flow_step *s = &fx->rows[i];
		if (s->child_job_id != 0 && (strcmp(s->state, "running") == 0 ||
		    strcmp(s->state, "waiting") == 0))
			(void)aif_queue_cancel(fx->fr->db, s->child_job_id, 0,
			    "its workflow run ended");
	}
}

/* The rows of the steps that succeeded, into order[], the last finished first (seq
 * breaks ties). Returns how many. */
static size_t
succeeded_latest_first(const struct flow_run *fx, size_t *order)
{
	size_t n = 0;

	for (size_t i = 0; i < fx->nrows; i++)
		if (strcmp(fx->rows[i].state, "succeeded") == 0)
			order[n++] = i;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0; j--) {
			const struct aif_flow_step *a = &fx->rows[order[j - 1]];
			const struct aif_flow_step *b = &fx->rows[order[j]];
			size_t x = order[j];
			if (a->finished_ms > b->finished_ms || (a->finished_ms == b->finished_ms &&
			    a->seq > b->seq))
				break;
			order[j] = order[j - 1];
			order[j - 1] = x;
		}
	return n;
}

/* The headers of a compensation as its row keeps them: templates rendered now, secret
 * ones as {file, prefix} (read when it is called). New JSON text, or NULL. */
static char *
comp_headers(struct flow_run *fx, const json_t *h)
{
	json_t *out = json_object(), *v;
	const char *name;
	char why[128], *text;

	json_object_foreach((json_t *)h, name, v) {
		if (json_object_get(v, "value") != NULL) {
			char *val = aif_wfx_render(json_string_value(json_object_get(v, "value")) ?:
			    "", fx->root, AIF_WFX_TEXT, 4096, why, sizeof(why));
			json_object_set_new(out, name, json_pack("{s:s}", "value", val ?: ""));
			free(val);
		} else {
			json_object_set(out, name, v);
		}
	}
	text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	return text;
}

/* Compensation d of step s rendered into *c (its strings owned by t). -1 when its URL
 * cannot be built (it is left out). */
static int
comp_render(struct flow_run *fx, const struct aif_flow_step *s, const json_t *d,
    struct aif_flow_comp *c, struct flow_tx *t)
{
	const json_t *retry = json_object_get(d, "retry"), *b;
	char why[128], *url, *key = NULL, *body = NULL, *hdrs = NULL;

	if ((url = flow_url(fx, d, why, sizeof(why))) == NULL)
		return -1;
	if ((b = json_object_get(d, "body")) != NULL) {
		json_t *r = aif_wfx_render_json(b, fx->root, 65536, why, sizeof(why));
		if (r != NULL && flow_screen(fx, &r, why, sizeof(why)) != 0) {
			json_decref(r);	/* sent as {}: blocked data never leaves */
			r = json_object();
		}
		body = r ? json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		json_decref(r);
	}
	if (json_object_get(d, "headers") != NULL)
		hdrs = comp_headers(fx, json_object_get(d, "headers"));
	if (asprintf(&key, "%s:%s:compensation", fx->run->public_id, s->name) < 0)
		key = NULL;
	tx_own(t, url);
	if (body)
		tx_own(t, body);
	if (hdrs)
		tx_own(t, hdrs);
	if (key)
		tx_own(t, key);
	*c = (struct aif_flow_comp){
		.name = s->name,
		.method = json_string_value(json_object_get(d, "method")) ?: "POST",
		.url = url, .body = body, .headers = hdrs, .idempotency_key = key,
		.timeout_ms = (int)json_integer_value(json_object_get(d, "timeout_ms")),
		.max_attempts = (int)json_integer_value(json_object_get(retry, "max_attempts")),
		.initial_ms = (int)json_integer_value(json_object_get(retry, "initial_ms")),
		.backoff_pct = (int)json_integer_value(json_object_get(retry, "coefficient_pct")),
		.max_ms = (int)json_integer_value(json_object_get(retry, "max_ms")),
	};
	if (c->timeout_ms < 100)
		c->timeout_ms = 5000;
	if (c->initial_ms <= 0)
		c->initial_ms = 500;
	if (c->backoff_pct < 100)
		c->backoff_pct = 200;
	if (c->max_ms <= 0)
		c->max_ms = 10000;
	return 0;
}

/* The compensations of the steps that succeeded, the last finished first. Each is an
 * http call rendered now (the step's own output visible as steps.<name>.output). */
static size_t
compensations(struct flow_run *fx, struct aif_flow_comp *c, size_t cap, struct flow_tx *t)
{
	size_t order[FLOW_STEPS_MAX], n = succeeded_latest_first(fx, order), k = 0;

	for (size_t i = 0; i < n && k < cap; i++) {
		const struct aif_flow_step *s = &fx->rows[order[i]];
		const json_t *d = json_object_get(json_object_get(fx->steps_def, s->name),
		    "compensation");
		if (d != NULL && comp_render(fx, s, d, &c[k], t) == 0)
			k++;
	}
	return k;
}

/* The run ends without an answer: failed (or cancelled), compensations scheduled. */
static void
end_run(struct flow_run *fx, struct aif_flow_step *s, enum aif_flow_next how,
    const char *code, const char *message)
{
	struct aif_flow_comp comps[FLOW_STEPS_MAX];
	struct flow_tx t;
	char msg[512];

	flow_tx_init(&t);
	if (s != NULL) {
		aif_strlcpy(s->state, how == AIF_FLOW_CANCELLED ? "cancelled" : "failed",
		    sizeof(s->state));
		aif_strlcpy(s->error, message, sizeof(s->error));
		s->finished_ms = aif_wall_ms();
		s->waiting_for[0] = '\0';
		flow_tx_step(&t, s, NULL, 1, 1);
		flow_tx_event(&t, how == AIF_FLOW_CANCELLED ? "step_cancelled" : "step_failed",
		    "%s (attempt %d): %s", s->name, s->attempts, message);
	}
	/* the other open steps stop where they are */
	for (size_t i = 0; i < fx->nrows; i++) {
		struct aif_flow_step *o = &fx->rows[i];
		if (o == s || (strcmp(o->state, "scheduled") != 0 &&
		    strcmp(o->state, "running") != 0 && strcmp(o->state, "waiting") != 0))
			continue;
		aif_strlcpy(o->state, "cancelled", sizeof(o->state));
		o->waiting_for[0] = '\0';
		flow_tx_step(&t, o, NULL, 0, 1);
	}
	if (s != NULL)
		snprintf(msg, sizeof(msg), "Workflow '%s' stopped at step '%s': %s",
		    fx->run->workflow, s->name, message);
	else
		snprintf(msg, sizeof(msg), "Workflow '%s': %s", fx->run->workflow, message);
	aif_utf8_trim_tail(msg);
	t.w.next = how;
	t.w.http_status = strcmp(code, "insufficient_quota") == 0 ? 429 :
	    strcmp(code, "workflow_timeout") == 0 ? 504 : 502;
	t.w.error_type = strcmp(code, "insufficient_quota") == 0 ? "insufficient_quota" :
	    "server_error";
	t.w.error_code = code;
	t.w.error_message = msg;
	t.w.comps = comps;
	t.w.ncomps = compensations(fx, comps, AIF_NELEM(comps), &t);
	if (flow_commit(fx, &t) == 0) {
		aif_metrics_add("aif_workflow_runs_total", how == AIF_FLOW_CANCELLED ?
		    "outcome=\"cancelled\"" : "outcome=\"failed\"", 1);
		if (s != NULL)
			spans_step(fx->run, s, how == AIF_FLOW_CANCELLED ? "cancelled" : code);
		spans_run_end(fx->run, how == AIF_FLOW_CANCELLED ? "cancelled" : code);
		cancel_children(fx);
		ring_waiter(fx);
	}
	fx->over = 1;
}

void
flow_fail_run(struct flow_run *fx, struct aif_flow_step *s, const char *code,
    const char *message)
{
	end_run(fx, s, AIF_FLOW_FAIL, code, message);
}

/* ---- one run ------------------------------------------------------------------------ */

/* The definition of hash, parsed once per runner (a small cache by hash). Borrowed. */
static json_t *
definition(struct flow_runner *fr, const char *hash)
{
	char *text = NULL;
	json_t *def;
	size_t slot;

	for (size_t i = 0; i < FLOW_DEFS_CACHED; i++)
		if (fr->defs[i].def != NULL && strcmp(fr->defs[i].hash, hash) == 0)
			return fr->defs[i].def;
	if (aif_flow_def_get(fr->db, hash, &text) != AIF_OK)
		return NULL;
	def = json_loads(text, 0, NULL);
	free(text);
	if (def == NULL)
		return NULL;
	slot = fr->defs_next++ % FLOW_DEFS_CACHED;
	json_decref(fr->defs[slot].def);
	fr->defs[slot].def = def;
	aif_strlcpy(fr->defs[slot].hash, hash, sizeof(fr->defs[slot].hash));
	return def;
}

/* The principal the run was admitted for, as the envelope recorded it. */
static void
principal(struct flow_run *fx)
{
	const json_t *w = json_object_get(fx->env, "who");

	memset(&fx->who, 0, sizeof(fx->who));
	fx->who.key_id = (uint64_t)json_integer_value(json_object_get(w, "key_id"));
	fx->who.lineage_id = fx->run->api_key_id;
	aif_strlcpy(fx->who.role, json_string_value(json_object_get(w, "role")) ?: "",
	    sizeof(fx->who.role));
	aif_strlcpy(fx->who.tenant, fx->run->tenant, sizeof(fx->who.tenant));
	fx->who.max_priority = json_is_integer(json_object_get(w, "max_priority")) ?
	    (int)json_integer_value(json_object_get(w, "max_priority")) : -1;
	fx->who.rpm = json_is_integer(json_object_get(w, "rpm")) ?
	    json_integer_value(json_object_get(w, "rpm")) : -1;
	fx->who.tpm = json_is_integer(json_object_get(w, "tpm")) ?
	    json_integer_value(json_object_get(w, "tpm")) : -1;
	fx->who.monthly_budget_micros = json_is_integer(json_object_get(w, "budget")) ?
	    json_integer_value(json_object_get(w, "budget")) : -1;
	fx->role = aif_cfg_role(fx->fr->cfg, fx->who.role);
}

/* Builds fx from the run's rows: definition, input, the outputs of finished steps. */
static int
load(struct flow_run *fx)
{
	struct aif_flow_step *rows = NULL;
	json_t *input, *steps;
	size_t n = 0;

	if ((fx->def = definition(fx->fr, fx->run->hash)) == NULL)
		return -1;
	fx->steps_def = json_object_get(fx->def, "steps");
	if ((fx->env = json_loads(fx->run->request_body ?: "{}", 0, NULL)) == NULL)
		return -1;
	fx->surface = json_string_value(json_object_get(fx->env, "surface")) ?: "run";
	input = json_object_get(fx->env, "input");
	if (input == NULL)
		json_object_set_new(fx->env, "input", input = json_object());
	if (strcmp(fx->surface, "run") != 0 && json_is_object(input) &&
	    json_object_get(input, "text") == NULL) {
		char *text = aif_wfx_input_text(input);
		json_object_set_new(input, "text", json_string(text ? text : ""));
		free(text);
	}
	principal(fx);
	steps = json_object();
	fx->root = json_pack("{s:O,s:o,s:{s:s,s:s}}", "input", input, "steps", steps, "run",
	    "id", fx->run->public_id, "workflow", fx->run->workflow);
	if (fx->root == NULL)
		return -1;
	if (aif_flow_steps(fx->fr->db, fx->run->id, &rows, &n) != AIF_OK)
		return -1;
	for (size_t i = 0; i < n && fx->nrows < FLOW_STEPS_MAX; i++) {
		struct aif_flow_step *s = &fx->rows[fx->nrows++];
		*s = rows[i];
		rows[i].output = NULL;
		if (s->seq > fx->max_seq)
			fx->max_seq = s->seq;
		if (strcmp(s->state, "succeeded") == 0 && s->output != NULL) {
			json_t *o = json_loads(s->output, JSON_DECODE_ANY, NULL);
			json_object_set_new(steps, s->name, json_pack("{s:o}", "output",
			    o ? o : json_null()));
		}
		free(s->output);
		s->output = NULL;
	}
	aif_flow_steps_free(rows, n);
	return 0;
}

/* The run was asked to stop (POST /v1/jobs/{id}/cancel on a run: a "__cancel" signal). */
static int
cancel_requested(struct flow_run *fx)
{
	uint64_t sig = 0;
	char *payload = NULL;

	(void)aif_flow_signal_peek(fx->fr->db, fx->run->id, "__cancel", &sig, &payload);
	free(payload);
	return sig != 0;
}

/* Before its steps: a run asked to stop or past its timeout ends; a new one schedules
 * its start step. 0 to go on, -1 when it is over. *deadline: its timeout (0: none). */
static int
begin(struct flow_run *fx, int64_t *deadline)
{
	int64_t timeout = json_integer_value(json_object_get(fx->def, "timeout_ms"));
	const char *start = json_string_value(json_object_get(fx->def, "start"));
	struct flow_tx t;

	*deadline = timeout > 0 ? fx->run->created_ms + timeout : 0;
	if (cancel_requested(fx)) {
		end_run(fx, NULL, AIF_FLOW_CANCELLED, "job_cancelled", "cancelled by its owner");
		return -1;
	}
	if (*deadline > 0 && aif_wall_ms() >= *deadline) {
		end_run(fx, NULL, AIF_FLOW_FAIL, "workflow_timeout", "the run passed its timeout");
		return -1;
	}
	if (fx->nrows > 0)
		return 0;
	flow_tx_init(&t);
	flow_tx_event(&t, "workflow_started", "%s (definition %.12s)", fx->run->workflow,
	    fx->run->hash);
	if (start == NULL || flow_schedule(fx, &t, start) != 0) {
		tx_free(&t);
		end_run(fx, NULL, AIF_FLOW_FAIL, "workflow_invalid", "no start step");
		return -1;
	}
	return flow_defer(fx, &t);
}

/* One look at every open step; 1 when one of them changed. A cancel that came while a
 * call was out stops the run before its next step. */
static int
pass(struct flow_run *fx)
{
	int progressed = 0;

	fx->wake_ms = 0;
	fx->nwait_sig = 0;
	for (size_t i = 0; i < fx->nrows && !fx->over; i++) {
		struct aif_flow_step *s = &fx->rows[i];
		if (strcmp(s->state, "scheduled") != 0 && strcmp(s->state, "running") != 0 &&
		    strcmp(s->state, "waiting") != 0)
			continue;
		if (flow_step_advance(fx, s) > 0)
			progressed = 1;
		if (fx->called && !fx->over) {
			fx->called = 0;
			if (cancel_requested(fx))
				end_run(fx, NULL, AIF_FLOW_CANCELLED, "job_cancelled",
				    "cancelled by its owner");
		}
	}
	return progressed;
}

/* Everything open waits: the run waits too, due at what comes first of its steps'
 * deadlines and its own (at once when this runner stops: the next goes on). */
static void
release(struct flow_run *fx, int64_t deadline)
{
	int64_t wake = atomic_load(&fx->fr->stop) ? aif_wall_ms() : fx->wake_ms;
	struct flow_tx t;

	if (deadline > 0 && (wake == 0 || wake > deadline))
		wake = deadline;
	flow_tx_init(&t);
	t.w.next = AIF_FLOW_RELEASE;
	t.w.wake_at_ms = wake;
	for (size_t i = 0; i < fx->nwait_sig; i++)
		t.w.wait_signals[t.w.nwait_signals++] = fx->wait_sig[i];
	t.w.wait_signals[t.w.nwait_signals++] = "__cancel";
	(void)flow_commit(fx, &t);
}

/* Advances one claimed run until everything open waits; then releases it. */
static void
advance(struct flow_runner *fr, struct aif_flow_run *run)
{
	struct flow_run *fx = calloc(1, sizeof(*fx));
	int64_t deadline = 0;

	if (fx == NULL)
		return;
	fx->fr = fr;
	fx->run = run;
	if (load(fx) != 0) {
		aif_error("msg=\"workflow run cannot be loaded; failing it\" job=%" PRIu64,
		    run->id);
		if (fx->root == NULL)
			fx->root = json_pack("{s:{},s:{}}", "input", "steps");
		if (fx->surface == NULL)
			fx->surface = "run";
		end_run(fx, NULL, AIF_FLOW_FAIL, "workflow_invalid",
		    "its definition or input cannot be read");
	} else if (begin(fx, &deadline) == 0) {
		for (int looks = 0; looks < ADVANCE_MAX && !fx->over &&
		    !atomic_load(&fr->stop); looks++)
			if (!pass(fx))
				break;
		if (!fx->over)
			release(fx, deadline);
	}
	if (fx->npend > 0)
		tx_free(&fx->pend);
	json_decref(fx->env);
	json_decref(fx->root);
	free(fx);
}

/* ---- the thread --------------------------------------------------------------------- */

static void *
runner_main(void *arg)
{
	struct flow_runner *fr = arg;
	int poll_ms = fr->cfg->queue.poll_interval_ms;

	while (!atomic_load(&fr->stop)) {
		struct aif_flow_run *runs = NULL;
		size_t n = 0;
		struct pollfd pfd = { .fd = fr->efd, .events = POLLIN };
		uint64_t v;

		if (aif_flow_claim(fr->db, fr->worker_id, CLAIM_LIMIT,
		    fr->cfg->queue.lease_seconds, &runs, &n) == AIF_OK) {
			for (size_t i = 0; i < n && !atomic_load(&fr->stop); i++)
				advance(fr, &runs[i]);
			aif_flow_runs_free(runs, n);
		}
		if (n == CLAIM_LIMIT)
			continue;
		if (poll(&pfd, 1, poll_ms) > 0 && read(fr->efd, &v, sizeof(v)) < 0)
			v = 0;
	}
	return NULL;
}

static void	runner_stop(struct flow_runner *fr);
static void	runner_kick(struct flow_runner *fr);

static int
runner_start(const struct aif_config *cfg, uint64_t worker_id, const char *doorbell,
    struct aif_pii *pii, struct flow_runner **out)
{
	struct flow_runner *fr = calloc(1, sizeof(*fr));
	sigset_t all, old;
	int rc;

	*out = NULL;
	if (fr == NULL)
		return -1;
	fr->cfg = cfg;
	fr->worker_id = worker_id;
	fr->sender_fd = -1;
	aif_strlcpy(fr->doorbell, doorbell, sizeof(fr->doorbell));
	if ((fr->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		goto fail;
	if ((fr->sender_fd = aif_doorbell_sender()) < 0)
		goto fail;
	(void)aif_db_open(cfg, &fr->db);
	if (fr->db == NULL)
		goto fail;
	fr->pii = pii;
	/* signals are the main thread's: the runner starts with all of them blocked */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&fr->thread, NULL, runner_main, fr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		goto fail;
	fr->started = 1;
	*out = fr;
	return 0;
fail:
	runner_stop(fr);
	return -1;
}

static void
runner_kick(struct flow_runner *fr)
{
	uint64_t one = 1;

	if (fr != NULL && fr->efd >= 0 && write(fr->efd, &one, sizeof(one)) < 0)
		one = 0;	/* full: it is awake anyway */
}

static void
runner_stop(struct flow_runner *fr)
{
	if (fr == NULL)
		return;
	atomic_store(&fr->stop, 1);
	if (fr->started) {
		runner_kick(fr);
		pthread_join(fr->thread, NULL);
	}
	for (size_t i = 0; i < FLOW_DEFS_CACHED; i++)
		json_decref(fr->defs[i].def);
	aif_db_close(fr->db);
	if (fr->sender_fd >= 0)
		close(fr->sender_fd);
	if (fr->efd >= 0)
		close(fr->efd);
	free(fr);
}

/* ---- the pool ----------------------------------------------------------------------- */

struct flow_pool {
	struct flow_runner	*r[FLOW_RUNNERS];
	struct aif_pii		*pii;		/* shared: read-only, thread-safe */
};

int
flow_pool_start(const struct aif_config *cfg, uint64_t worker_id, const char *doorbell,
    struct flow_pool **out)
{
	struct flow_pool *p = calloc(1, sizeof(*p));
	char errbuf[1024];

	*out = NULL;
	if (p == NULL)
		return -1;
	if (aif_pii_new(cfg, 0, &p->pii, errbuf, sizeof(errbuf)) != AIF_OK) {
		aif_error("msg=\"workflow runners: PII engine failed\"");
		free(p);
		return -1;
	}
	for (size_t i = 0; i < FLOW_RUNNERS; i++)
		if (runner_start(cfg, worker_id, doorbell, p->pii, &p->r[i]) != 0) {
			flow_pool_stop(p);
			return -1;
		}
	*out = p;
	return 0;
}

void
flow_pool_kick(struct flow_pool *p)
{
	for (size_t i = 0; p != NULL && i < FLOW_RUNNERS; i++)
		runner_kick(p->r[i]);
}

void
flow_pool_quit(struct flow_pool *p)
{
	for (size_t i = 0; p != NULL && i < FLOW_RUNNERS; i++)
		if (p->r[i] != NULL) {
			atomic_store(&p->r[i]->stop, 1);
			runner_kick(p->r[i]);
		}
}

void
flow_pool_stop(struct flow_pool *p)
{
	if (p == NULL)
		return;
	flow_pool_quit(p);	/* all stop together, then each is joined */
	for (size_t i = 0; i < FLOW_RUNNERS; i++)
		runner_stop(p->r[i]);
	aif_pii_free(p->pii);
	free(p);
}
