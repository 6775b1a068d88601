/* route_jobs.c -- GET /v1/jobs/{id}: a job's state and, once final, the same OpenAI
 * response body (or error) the synchronous call returned; POST /v1/jobs/{id}/cancel. A
 * key sees only its own jobs (another key's job id is a 404, as if it did not exist).
 * Also the shared writer of job objects and of the synchronous answer of a finished
 * job: a stored answer goes to the client as stored, read in pieces and never parsed,
 * so a reader of a large answer holds one piece of it (server.max_answer_bytes says
 * how large answers get). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "queue.h"

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
	    "kind", aif_kind_name(v->kind), "status", v->state, "priority", v->priority,
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

/* Writes prefix, the stored answer of job v (read from the database in pieces, never
 * parsed nor held whole), suffix, with a Content-Length of all of it. A read that
 * fails half-way ends the connection short of its length (the client sees an error). */
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
	err = aif_jobs_response_each(db, v->id, put_piece, fr->out);
	if (err == AIF_OK)
		FCGX_PutStr(suffix, (int)slen, fr->out);
	else
		aif_warn("msg=\"stored answer could not be read whole\" job=%s error=\"%s\"",
		    v->public_id, aif_strerror(err));
	reply_finish(rp);
}

void
reply_job(struct reply *rp, struct aif_db *db, const struct aif_job_view *v, int status,
    const char *headers)
{
	static const char slot[] = "\"response\":null";
	json_t *j = job_json(v);
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL, *at;

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

/* Cancels job v (the caller's; freed here): a queued job at once, a running one by
 * telling its worker to abort the engine call; the budget hold is released. */
static void
cancel(struct req *r, const struct aif_principal *who, struct aif_job_view *v)
{
	char public_id[AIF_JOB_ID_LEN + 1], doorbell[AIF_DOORBELL_PATH_MAX] = "";
	uint64_t job = v->id;
	enum aif_err err;

	aif_strlcpy(public_id, v->public_id, sizeof(public_id));
	if (aif_jobs_state_final(v->state)) {
		aif_strlcpy(r->reply.job_id, public_id, sizeof(r->reply.job_id));
		REFUSE(&r->reply, AIF_E_JOB_ALREADY_FINAL, "id", v->state);
		aif_jobs_views_free(v, 1);
		return;
	}
	aif_jobs_views_free(v, 1);
	(void)aif_jobs_worker_doorbell(r->db, job, doorbell, sizeof(doorbell));
	err = aif_queue_cancel(r->db, job, 0,
	    "cancelled by its owner (POST /v1/jobs/{id}/cancel)");
	if (err == AIF_OK && doorbell[0] != '\0') {
		char msg[64];
		size_t n = aif_bell_cancel(msg, sizeof(msg), job);
		(void)aif_doorbell_ring(r->api->sender_fd, doorbell, msg, n);
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

void
route_jobs(struct req *r, const struct aif_principal *who)
{
	const char *rest = r->path + strlen("/v1/jobs");
	char id[AIF_JOB_ID_LEN + 1];
	struct aif_job_view *v = NULL;
	int is_cancel = 0;
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
	} else if (*rest != '\0') {
		REFUSE(&r->reply, AIF_E_UNKNOWN_URL, NULL, r->method, r->path);
		return;
	}
	if (strcmp(r->method, is_cancel ? "POST" : "GET") != 0) {
		reply_header(&r->reply, "Allow", is_cancel ? "POST" : "GET");
		REFUSE(&r->reply, AIF_E_METHOD_USE, NULL, is_cancel ? "POST" : "GET", r->path);
		return;
	}
	if (strncmp(id, "job_", 4) != 0) {
		REFUSE0(&r->reply, AIF_E_JOB_NOT_FOUND, "id");
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
