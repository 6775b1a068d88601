/* route_jobs.c -- GET /v1/jobs/{id}: a job's state and, once final, the same OpenAI
 * response body (or error) the synchronous call returned. A key sees only its own jobs
 * (another key's job id is a 404, as if it did not exist). Also the shared builder of
 * job objects and of the synchronous answer for a finished job. */
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
	if (strcmp(state, "failed") == 0 || strcmp(state, "cancelled") == 0) {
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

void
route_jobs(struct req *r, const struct aif_principal *who, const char *id)
{
	struct aif_job_view *v = NULL;
	enum aif_err err;
	json_t *j;

	if (strlen(id) != AIF_JOB_ID_LEN || strncmp(id, "job_", 4) != 0) {
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
