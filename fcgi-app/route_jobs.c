/* route_jobs.c -- GET /v1/jobs/{id}: a job's state and, once final, the same OpenAI
 * response body (or error) the synchronous call returned (a workflow run also shows its
 * steps: where it is, where it stopped); POST /v1/jobs/{id}/cancel; POST
 * /v1/jobs/{id}/signal for a workflow run that waits for one (docs/WORKFLOWS.md). A
 * key sees only its own jobs (another key's job id is a 404, as if it did not exist).
 * Also the shared writer of job objects and of the synchronous answer of a finished
 * job: a stored answer goes to the client as stored, read in pieces and never parsed,
 * so a reader of a large answer holds one piece of it (server.max_answer_bytes says
 * how large answers get). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "log.h"
#include "queue.h"
#include "pii.h"
#include "runs.h"
#include "text.h"

#define RUN_OUTPUT_SHOWN_MAX	(1u << 20)	/* a run's output shown as "output" */

static json_t *
time_or_null(int64_t t)
{
	return t > 0 ? json_integer(t) : json_null();
}

json_t *
job_json(const struct aif_job_view *v)
{
	json_t *err = json_null();

	if (strcmp(v->state, "failed") == 0 || strcmp(v->state, "cancelled") == 0 ||
	    strcmp(v->state, "compensating") == 0) {
		json_decref(err);
		err = json_pack("{s:s, s:s, s:n, s:o}",
		    "message", v->error_message[0] ? v->error_message :
		    aif_apierr_message(AIF_E_JOB_FAILED),
		    "type", v->error_type[0] ? v->error_type : aif_apierr_type(AIF_E_JOB_FAILED),
		    "param",
		    "code", v->error_code[0] ? json_string(v->error_code) : json_null());
	}
	/* "response" is null here: reply_job puts the stored answer in its place */
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:o, s:o, s:o, s:n, s:o}",
	    "id", v->public_id, "object", "job", "model", v->model,
	    "kind", v->workflow ? "workflow" : aif_kind_name(v->kind), "status", v->state, "priority", v->priority,
	    "attempts", v->attempts, "created_at", (json_int_t)v->created_at,
	    "started_at", time_or_null(v->started_at),
	    "finished_at", time_or_null(v->finished_at),
	    "http_status", v->http_status > 0 ? json_integer(v->http_status) : json_null(),
	    "response", "error", err);
}

/* Writes one piece of a stored answer to the client. */
static int
put_piece(void *arg, const char *piece, size_t len)
{
	FCGX_Stream *out = arg;

	return FCGX_PutStr(piece, (int)len, out) == (int)len ? 0 : -1;
}

/* Writes prefix, the stored answer of job v (a small one came with the view; a larger
 * one is read from the database in pieces, never parsed nor held whole), suffix, with
 * a Content-Length of all of it. A read that fails half-way ends the connection short
 * of its length (the client sees an error). */
static void
reply_spliced(struct reply *rp, struct aif_db *db, const struct aif_job_view *v,
    int status, const char *headers, const char *prefix, const char *suffix)
{
	size_t plen = strlen(prefix), slen = strlen(suffix);
	FCGX_Request *fr = rp->fcgi;
	enum aif_err err;

	if (fr == NULL)
		return;
	reply_send_head(rp, status, headers, plen + (size_t)v->response_len + slen);
	FCGX_PutStr(prefix, (int)plen, fr->out);
	if (v->response_inline != NULL)
		err = put_piece(fr->out, v->response_inline, (size_t)v->response_len) == 0 ?
		    AIF_OK : AIF_IO;
	else
		err = aif_jobs_response_each(db, v->id, put_piece, fr->out);
	if (err == AIF_OK)
		FCGX_PutStr(suffix, (int)slen, fr->out);
	else
		aif_warn("msg=\"stored answer could not be read whole\" job=%s error=\"%s\"",
		    v->public_id, aif_strerror(err));
	reply_finish(rp);
}

/* "Where did it stop": the steps of run v, in the order the run reached them; *failed
 * (static-length buffer of AIF_FLOW_NAME_MAX + 1) gets the step that failed, or "". */
static json_t *
run_json(struct aif_db *db, const struct aif_job_view *v, char *failed)
{
	struct aif_flow_step *s = NULL;
	json_t *steps = json_array(), *cur = json_null();
	size_t n = 0;

	failed[0] = '\0';
	if (aif_flow_steps(db, v->id, &s, &n) != AIF_OK) {
		json_decref(steps);
		return json_null();
	}
	for (size_t i = 0; i < n; i++) {
		int open = strcmp(s[i].state, "scheduled") == 0 ||
		    strcmp(s[i].state, "running") == 0 || strcmp(s[i].state, "waiting") == 0;
		if (strcmp(s[i].state, "failed") == 0 && failed[0] == '\0')
			aif_strlcpy(failed, s[i].name, AIF_FLOW_NAME_MAX + 1);
		if (open && json_is_null(cur)) {
			json_decref(cur);
			cur = json_string(s[i].name);
		}
		json_array_append_new(steps, json_pack(
		    "{s:s,s:s,s:s,s:i,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
		    "name", s[i].name, "kind", s[i].kind, "state", s[i].state,
		    "attempts", s[i].attempts, "max_attempts", s[i].max_attempts,
		    "error", s[i].error[0] ? json_string(s[i].error) : json_null(),
		    "branch_taken", s[i].branch_taken[0] ? json_string(s[i].branch_taken) :
		    json_null(),
		    "waiting_for", open && s[i].waiting_for[0] ? json_string(s[i].waiting_for) :
		    json_null(),
		    "wake_at", open && s[i].wake_at_ms > 0 ?
		    json_integer(s[i].wake_at_ms / 1000) : json_null(),
		    "job", s[i].child_public_id[0] ? json_string(s[i].child_public_id) :
		    json_null(),
		    "started_at", time_or_null(s[i].started_ms / 1000),
		    "finished_at", time_or_null(s[i].finished_ms / 1000)));
	}
	aif_flow_steps_free(s, n);
	return json_pack("{s:s,s:o,s:o}", "name", v->model, "current_step", cur,
	    "steps", steps);
}

/* What a run's job object shows besides a job's: its steps, the step its error
 * happened at, and the output of a run started through /v1/workflows (its stored
 * answer's "output", also in "response"). */
static void
run_extras(struct aif_db *db, const struct aif_job_view *v, json_t *j)
{
	char failed[AIF_FLOW_NAME_MAX + 1], *body = NULL;
	size_t len = 0;
	json_t *err = json_object_get(j, "error"), *resp;

	json_object_set_new(j, "workflow", run_json(db, v, failed));
	if (json_is_object(err))
		json_object_set_new(err, "step", failed[0] ? json_string(failed) : json_null());
	if (strcmp(v->state, "succeeded") != 0 || v->response_len < 0 ||
	    v->response_len > RUN_OUTPUT_SHOWN_MAX ||
	    aif_jobs_response_read(db, v->id, RUN_OUTPUT_SHOWN_MAX, &body, &len) != AIF_OK)
		return;
	resp = json_loadb(body, len, 0, NULL);
	free(body);
	if (json_object_get(resp, "output") != NULL)
		json_object_set(j, "output", json_object_get(resp, "output"));
	json_decref(resp);
}

void
reply_job(struct reply *rp, struct aif_db *db, const struct aif_job_view *v, int status,
    const char *headers)
{
	static const char slot[] = "\"response\":null";
	json_t *j = job_json(v);
	char *s, *at;

	if (j != NULL && v->workflow)
		run_extras(db, v, j);
	s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (s == NULL) {
		REFUSE0(rp, AIF_E_OUT_OF_MEMORY, NULL);
		return;
	}
	/* the one unescaped `"response":null` of the compact text is the slot */
	if (strcmp(v->state, "succeeded") != 0 || v->response_len < 0 ||
	    (at = strstr(s, slot)) == NULL) {
		reply_send(rp, status, headers, s, strlen(s));
		free(s);
		return;
	}
	at[sizeof(slot) - 5] = '\0';	/* prefix ends with "response": */
	reply_spliced(rp, db, v, status, headers, s, at + sizeof(slot) - 1);
	free(s);
}

void
reply_job_outcome(struct reply *rp, struct aif_db *db, const struct aif_job_view *v)
{
	struct aif_error e;

	char *body = NULL;
	size_t len = 0;

	if (strcmp(v->state, "succeeded") == 0 && v->response_len >= 0 &&
	    rp->surface != AIF_SURFACE_OPENAI) {
		/* converted whole: the answer is within server.max_answer_bytes */
		if (aif_jobs_response_read(db, v->id, (size_t)v->response_len, &body,
		    &len) != AIF_OK) {
			REFUSE0(rp, AIF_E_DB_UNAVAILABLE, NULL);
			return;
		}
		reply_answer(rp, body, len);
		free(body);
		return;
	}
	if (strcmp(v->state, "succeeded") == 0 && v->response_len >= 0) {
		reply_spliced(rp, db, v, 200, NULL, "", "");
		return;
	}
	/* the job's own error, as its row keeps it */
	job_error_set(&e, v->http_status, v->error_type, v->error_code, v->error_message);
	reply_error(rp, &e);
}

void
job_error_set(struct aif_error *e, int status, const char *type, const char *code,
    const char *message)
{
	aif_error_set(e, status >= 400 ? status : aif_apierr_status(AIF_E_JOB_FAILED),
	    type != NULL && type[0] ? type : aif_apierr_type(AIF_E_JOB_FAILED),
	    code != NULL && code[0] ? code : NULL, NULL, "%s",
	    message != NULL && message[0] ? message : aif_apierr_message(AIF_E_JOB_FAILED));
}

/* Sends a job view and frees it. */
static void
send_view(struct req *r, struct aif_job_view *v)
{
	aif_strlcpy(r->reply.job_id, v->public_id, sizeof(r->reply.job_id));
	reply_job(&r->reply, r->db, v, 200, NULL);
	aif_jobs_views_free(v, 1);
}

enum aif_err
route_jobs_cancel(struct req *r, uint64_t id, const char *public_id, int run,
    uint64_t owner, const char *detail)
{
	char doorbell[AIF_DOORBELL_PATH_MAX] = "";
	enum aif_err err;
	uint64_t rid = 0;

	if (run) {
		/* a run stops at its runner, which cancels its open steps and runs the
		   compensations of the finished ones: it is told with a signal */
		err = aif_flow_signal(r->db, public_id, owner, "__cancel", "null", &rid);
		wake_runners(r->api, r->db);
		return err;
	}
	/* the doorbell of the worker running it, read in the cancel's transaction */
	err = aif_queue_cancel_doorbell(r->db, id, 0, detail, doorbell, sizeof(doorbell));
	if (err == AIF_OK && doorbell[0] != '\0') {
		char msg[64];
		size_t n = aif_bell_cancel(msg, sizeof(msg), id);
		(void)aif_doorbell_ring(r->api->sender_fd, doorbell, msg, n);
	}
	return err;
}

/* Cancels job v (the caller's; freed here): a queued job at once, a running one by
 * telling its worker to abort the engine call; the budget hold is released. */
static void
cancel(struct req *r, const struct aif_principal *who, struct aif_job_view *v)
{
	char public_id[AIF_JOB_ID_LEN + 1];
	uint64_t job = v->id;
	int run = v->workflow;
	enum aif_err err;

	aif_strlcpy(public_id, v->public_id, sizeof(public_id));
	if (aif_jobs_state_final(v->state)) {
		aif_strlcpy(r->reply.job_id, public_id, sizeof(r->reply.job_id));
		REFUSE(&r->reply, AIF_E_JOB_ALREADY_FINAL, "id", v->state);
		aif_jobs_views_free(v, 1);
		return;
	}
	aif_jobs_views_free(v, 1);
	err = route_jobs_cancel(r, job, public_id, run, who->lineage_id,
	    "cancelled by its owner (POST /v1/jobs/{id}/cancel)");
	if (run) {
		if (err != AIF_OK && err != AIF_CONFLICT && err != AIF_TOOBIG) {
			REFUSE0(&r->reply, err == AIF_NOTFOUND ? AIF_E_JOB_NOT_FOUND :
			    AIF_E_DB_UNAVAILABLE, NULL);
			return;
		}
		if (aif_jobs_view_public(r->db, public_id, who->lineage_id, &v) != AIF_OK) {
			REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
			return;
		}
		reply_header(&r->reply, "x-aif-cancel", "requested");
		send_view(r, v);
		return;
	}
	if (err != AIF_OK && err != AIF_NOTFOUND) {
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	/* NOTFOUND: it became final meanwhile; show it as it is */
	if (aif_jobs_view_public(r->db, public_id, who->lineage_id, &v) != AIF_OK) {
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	send_view(r, v);
}

#define SIGNAL_BODY_MAX	65536	/* bytes of a signal's body */

/* POST /v1/jobs/{id}/signal {"name": ..., "payload": <any JSON>}: kept for run v until
 * a wait step of it consumes the name (it may arrive before the run waits). Only the
 * run's own key, or an admin, may signal it. */
static int
signal_run(struct req *r, const struct aif_principal *who, const char *public_id,
    const char *name, const json_t *payload)
{
	const struct aif_role *role = r->role;
	struct aif_pii_refusal why;
	struct aif_error e;
	uint64_t id = 0;
	enum aif_err err;
	json_t *j, *wrap;
	char *text;

	/* personal data in the payload is masked before it is stored, as in a request's
	   free-form fields (the caller's role's policies; none of a model) */
	if ((wrap = json_pack("{s:O}", "input", payload != NULL ? payload :
	    json_null())) == NULL) {
		REFUSE0(&r->reply, AIF_E_OUT_OF_MEMORY, NULL);
		return -1;
	}
	err = aif_pii_screen_request(r->pii, NULL, who->role, AIF_KIND_CHAT, wrap, NULL,
	    &why);
	if (err != AIF_OK) {
		json_decref(wrap);
		if (err == AIF_FORBIDDEN) {
			aif_pii_refusal_error(&why, &e);
			reply_error(&r->reply, &e);
		} else {
			REFUSE0(&r->reply, AIF_E_PII_FAILED, NULL);
		}
		return -1;
	}
	text = json_dumps(json_object_get(wrap, "input"), JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(wrap);
	if (text == NULL) {
		REFUSE0(&r->reply, AIF_E_OUT_OF_MEMORY, NULL);
		return -1;
	}
	err = aif_flow_signal(r->db, public_id, role != NULL && role->admin ? 0 :
	    who->lineage_id, name, text, &id);
	free(text);
	switch (err) {
	case AIF_OK:
		break;
	case AIF_NOTFOUND: {
		struct aif_job_view *v = NULL;
		/* the caller's own job that is not a run is told so */
		if (aif_jobs_view_public(r->db, public_id, who->lineage_id, &v) == AIF_OK &&
		    !v->workflow)
			REFUSE0(&r->reply, AIF_E_NOT_A_RUN, "id");
		else
			REFUSE0(&r->reply, AIF_E_JOB_NOT_FOUND, "id");
		aif_jobs_views_free(v, v != NULL);
		return -1;
	}
	case AIF_CONFLICT:
		REFUSE(&r->reply, AIF_E_JOB_ALREADY_FINAL, "id", "finished");
		return -1;
	case AIF_TOOBIG:
		REFUSE(&r->reply, AIF_E_SIGNALS_PENDING, NULL, "64");
		return -1;
	default:
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return -1;
	}
	wake_runners(r->api, r->db);
	j = json_pack("{s:s,s:s,s:s,s:b}", "object", "workflow.signal", "job", public_id,
	    "name", name, "accepted", 1);
	reply_json(&r->reply, 202, NULL, j);
	json_decref(j);
	return 0;
}

/* Reads and checks the body of a signal; refuses and returns -1 when it is bad. */
static int
signal_body(struct req *r, json_t **body, const char **name)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", r->reply.fcgi->envp);
	const char *ct = FCGX_GetParam("CONTENT_TYPE", r->reply.fcgi->envp);
	int64_t len = 0;
	char *buf;
	int got, n = 0;
	json_error_t je;
	const char *k;
	json_t *v;

	*body = NULL;
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0) {
		REFUSE0(&r->reply, AIF_E_UNSUPPORTED_MEDIA_TYPE, NULL);
		return -1;
	}
	if (cl != NULL && *cl != '\0' && aif_parse_i64(cl, 0, INT64_MAX, &len) != 0) {
		REFUSE0(&r->reply, AIF_E_BODY_UNREADABLE, NULL);
		return -1;
	}
	if (len > SIGNAL_BODY_MAX) {
		REFUSE(&r->reply, AIF_E_BODY_TOO_LARGE, NULL, "65536");
		return -1;
	}
	if ((buf = malloc((size_t)len + 1)) == NULL) {
		REFUSE0(&r->reply, AIF_E_OUT_OF_MEMORY, NULL);
		return -1;
	}
	while (n < len && (got = FCGX_GetStr(buf + n, (int)len - n, r->reply.fcgi->in)) > 0)
		n += got;
	*body = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	if (!json_is_object(*body)) {
		REFUSE(&r->reply, AIF_E_WORKFLOW_BODY_INVALID, NULL,
		    "The body must be a JSON object {\"name\": ..., \"payload\": ...}.");
		return -1;
	}
	json_object_foreach(*body, k, v)
		if (strcmp(k, "name") != 0 && strcmp(k, "payload") != 0) {
			REFUSE(&r->reply, AIF_E_WORKFLOW_BODY_INVALID, k,
			    "A signal takes only \"name\" and \"payload\".");
			return -1;
		}
	*name = json_string_value(json_object_get(*body, "name"));
	if (*name == NULL || !aif_token_ok(*name, 64, "_.-") || strncmp(*name, "__", 2) == 0) {
		REFUSE(&r->reply, AIF_E_WORKFLOW_BODY_INVALID, "name",
		    "\"name\" must be 1 to 64 of A-Z a-z 0-9 _ . - (not starting with __).");
		return -1;
	}
	return 0;
}

int
route_jobs_signal(struct req *r, const struct aif_principal *who, const char *public_id)
{
	json_t *body = NULL;
	const char *name = NULL;
	int rc = -1;

	if (signal_body(r, &body, &name) == 0)
		rc = signal_run(r, who, public_id, name, json_object_get(body, "payload"));
	json_decref(body);
	return rc;
}

void
route_jobs(struct req *r, const struct aif_principal *who)
{
	const char *rest = r->path + strlen("/v1/jobs");
	char id[AIF_JOB_ID_LEN + 1];
	struct aif_job_view *v = NULL;
	int is_cancel = 0, is_signal = 0;
	enum aif_err err;

	if (*rest != '/' || strlen(rest + 1) < AIF_JOB_ID_LEN) {
		REFUSE(&r->reply, AIF_E_UNKNOWN_URL, NULL, r->method, r->path);
		return;
	}
	memcpy(id, rest + 1, AIF_JOB_ID_LEN);
	id[AIF_JOB_ID_LEN] = '\0';
	rest += 1 + AIF_JOB_ID_LEN;
	if (strcmp(rest, "/cancel") == 0) {
		is_cancel = 1;
	} else if (strcmp(rest, "/signal") == 0) {
		is_signal = 1;
	} else if (*rest != '\0') {
		REFUSE(&r->reply, AIF_E_UNKNOWN_URL, NULL, r->method, r->path);
		return;
	}
	if (strcmp(r->method, is_cancel || is_signal ? "POST" : "GET") != 0) {
		reply_header(&r->reply, "Allow", is_cancel || is_signal ? "POST" : "GET");
		REFUSE(&r->reply, AIF_E_METHOD_USE, NULL, is_cancel || is_signal ? "POST" :
		    "GET", r->path);
		return;
	}
	if (strncmp(id, "job_", 4) != 0) {
		REFUSE0(&r->reply, AIF_E_JOB_NOT_FOUND, "id");
		return;
	}
	if (is_signal) {
		(void)route_jobs_signal(r, who, id);
		return;
	}
	err = aif_jobs_view_public(r->db, id, who->lineage_id, &v);
	if (err == AIF_NOTFOUND) {
		REFUSE0(&r->reply, AIF_E_JOB_NOT_FOUND, "id");
		return;
	}
	if (err != AIF_OK) {
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	if (is_cancel)
		cancel(r, who, v);
	else
		send_view(r, v);
}
