/* route_jobs.c -- GET /v1/jobs/{id}: a job's state and, once final, the same OpenAI
 * response body (or error) the synchronous call returned. A key sees only its own jobs
 * (another key's job id is a 404, as if it did not exist). Also the shared builder of
 * job objects and of the synchronous answer for a finished job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "queue.h"

static json_t *
time_or_null(int64_t t)
{
	return t > 0 ? json_integer(t) : json_null();
}

json_t *
job_json(const char *public_id, const char *model, const char *kind, const char *state,
    int priority, int attempts, int64_t created_at, int64_t started_at,
    int64_t finished_at, const char *response_body, int http_status,
    const char *error_type, const char *error_code, const char *error_message)
{
	json_t *resp = json_null(), *err = json_null();

	if (response_body != NULL && strcmp(state, "succeeded") == 0) {
		json_t *p = json_loads(response_body, 0, NULL);
		if (p != NULL) {
			json_decref(resp);
			resp = p;
		}
	}
	if (strcmp(state, "failed") == 0 || strcmp(state, "cancelled") == 0 ||
	    strcmp(state, "compensating") == 0) {
		json_decref(err);
		err = json_pack("{s:s, s:s, s:n, s:o}",
		    "message", error_message && *error_message ? error_message : "The job failed.",
		    "type", error_type && *error_type ? error_type : "server_error",
		    "param",
		    "code", error_code && *error_code ? json_string(error_code) : json_null());
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:o, s:o, s:o, s:o, s:o}",
	    "id", public_id, "object", "job", "model", model, "kind", kind,
	    "status", state, "priority", priority, "attempts", attempts,
	    "created_at", (json_int_t)created_at,
	    "started_at", time_or_null(started_at),
	    "finished_at", time_or_null(finished_at),
	    "http_status", http_status > 0 ? json_integer(http_status) : json_null(),
	    "response", resp, "error", err);
}

void
reply_job_outcome(struct reply *rp, const struct aif_job_view *v)
{
	if (strcmp(v->state, "succeeded") == 0 && v->response_body != NULL) {
		reply_send(rp, 200, NULL, v->response_body, strlen(v->response_body));
		return;
	}
	reply_fail(rp, v->http_status >= 400 ? v->http_status : 500,
	    v->error_type[0] ? v->error_type : "server_error",
	    v->error_code[0] ? v->error_code : NULL, NULL, "%s",
	    v->error_message[0] ? v->error_message : "The job failed.");
}

static void
send_view(struct req *r, struct aif_job_view *v)
{
	json_t *j;

	aif_strlcpy(r->reply.job_id, v->public_id, sizeof(r->reply.job_id));
	j = job_json(v->public_id, v->model, v->kind, v->state, v->priority, v->attempts,
	    v->created_at, v->started_at, v->finished_at, v->response_body, v->http_status,
	    v->error_type, v->error_code, v->error_message);
	aif_queue_views_free(v, 1);
	if (j == NULL) {
		reply_fail(&r->reply, 500, "server_error", NULL, NULL, "Out of memory.");
		return;
	}
	reply_json(&r->reply, 200, NULL, j);
	json_decref(j);
}

/* Cancels job v (the caller's): a queued job at once, a running one by telling its
 * worker to abort the engine call; the budget hold is released. */
static void
cancel(struct req *r, const struct aif_principal *who, struct aif_job_view *v)
{
	static const char doorbell[] =
	    "SELECT w.doorbell FROM jobs j JOIN workers w ON w.id = j.worker_id"
	    " WHERE j.id = ? AND j.state = 'running'";
	uint64_t job = v->id;
	struct aif_dbp p[] = { AIF_P_I64(job) };
	struct aif_dbrows *rows = NULL;
	char public_id[AIF_JOB_ID_LEN + 1];
	enum aif_err err;

	aif_strlcpy(public_id, v->public_id, sizeof(public_id));
	if (aif_queue_state_final(v->state)) {
		aif_strlcpy(r->reply.job_id, public_id, sizeof(r->reply.job_id));
		reply_fail(&r->reply, 409, "invalid_request_error", "job_already_final", "id",
		    "The job is already %s.", v->state);
		aif_queue_views_free(v, 1);
		return;
	}
	aif_queue_views_free(v, 1);
	(void)aif_db_query(r->db, doorbell, p, 1, &rows);
	err = aif_queue_cancel(r->db, job, 0,
	    "cancelled by its owner (POST /v1/jobs/{id}/cancel)");
	if (err == AIF_OK && rows != NULL && rows->nrows == 1 &&
	    aif_dbrows_get(rows, 0, 0) != NULL) {
		char msg[64];
		int n = snprintf(msg, sizeof(msg), "cancel %llu\n", (unsigned long long)job);
		(void)aif_doorbell_ring(r->api->sender_fd, aif_dbrows_get(rows, 0, 0), msg,
		    (size_t)n);
	}
	aif_dbrows_free(rows);
	if (err != AIF_OK && err != AIF_NOTFOUND) {
		reply_fail(&r->reply, 503, "server_error", "database_unavailable", NULL,
		    "The service is temporarily unavailable, please retry shortly.");
		return;
	}
	/* NOTFOUND: it became final meanwhile; show it as it is */
	if (aif_queue_view_public(r->db, public_id, who->key_id, &v) != AIF_OK) {
		reply_fail(&r->reply, 503, "server_error", "database_unavailable", NULL,
		    "The service is temporarily unavailable, please retry shortly.");
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
		reply_fail(&r->reply, 404, "invalid_request_error", "unknown_url", NULL,
		    "Invalid URL (%.16s %.128s)", r->method, r->path);
		return;
	}
	memcpy(id, rest + 1, AIF_JOB_ID_LEN);
	id[AIF_JOB_ID_LEN] = '\0';
	rest += 1 + AIF_JOB_ID_LEN;
	if (strcmp(rest, "/cancel") == 0)
		is_cancel = 1;
	else if (*rest != '\0') {
		reply_fail(&r->reply, 404, "invalid_request_error", "unknown_url", NULL,
		    "Invalid URL (%.16s %.128s)", r->method, r->path);
		return;
	}
	if ((is_cancel && strcmp(r->method, "POST") != 0) ||
	    (!is_cancel && strcmp(r->method, "GET") != 0)) {
		size_t n = strlen(r->reply.headers);
		snprintf(r->reply.headers + n, sizeof(r->reply.headers) - n, "Allow: %s\r\n",
		    is_cancel ? "POST" : "GET");
		reply_fail(&r->reply, 405, "invalid_request_error", "method_not_allowed", NULL,
		    "Use %s on %.128s.", is_cancel ? "POST" : "GET", r->path);
		return;
	}
	if (strncmp(id, "job_", 4) != 0) {
		reply_fail(&r->reply, 404, "invalid_request_error", "job_not_found", "id",
		    "No job with that id.");
		return;
	}
	err = aif_queue_view_public(r->db, id, who->key_id, &v);
	if (err == AIF_NOTFOUND) {
		reply_fail(&r->reply, 404, "invalid_request_error", "job_not_found", "id",
		    "No job with that id.");
		return;
	}
	if (err != AIF_OK) {
		reply_fail(&r->reply, 503, "server_error", "database_unavailable", NULL,
		    "The service is temporarily unavailable, please retry shortly.");
		return;
	}
	if (is_cancel) {
		cancel(r, who, v);
		return;
	}
	send_view(r, v);
}
