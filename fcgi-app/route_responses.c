/* route_responses.c -- the stored responses of the Responses API: GET
 * /v1/responses/{id} (the Response as it is now: queued, in progress, or finished with
 * its output, usage or error), DELETE /v1/responses/{id} (the stored request and answer
 * are forgotten; the job row, its events and usage stay for billing and audit), POST
 * /v1/responses/{id}/cancel (a background response). A response is the job of the same
 * id ("resp_X" is "job_X"), made through POST /v1/responses, of the caller's key
 * lineage; one made with store: false is not kept (404). Creating one is admission's
 * (admit.c). */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "responses.h"

/* The stored answer of job v: what the engine answered (a Response, passed through),
 * which the template resp (stolen) stands in for when that is what it keeps. */
static json_t *
stored_answer(struct req *r, const struct aif_job_view *v, json_t *resp)
{
	char *body = NULL;
	size_t len = 0;
	json_t *answer = NULL;

	if (aif_jobs_response_read(r->db, v->id, (size_t)v->response_len, &body,
	    &len) != AIF_OK || (answer = json_loadb(body, len, 0, NULL)) == NULL) {
		free(body);
		json_decref(resp);
		return NULL;	/* the caller answers 503 */
	}
	free(body);
	if (v->kind == AIF_KIND_RESPONSES) {
		json_object_set(answer, "previous_response_id", json_object_get(resp,
		    "previous_response_id"));
		json_object_set(answer, "metadata", json_object_get(resp, "metadata"));
		json_decref(resp);
		return answer;
	}
	aif_resp_complete(resp, answer);
	json_decref(answer);
	return resp;
}

/* The Response of job v (its stored request chat, borrowed: bridged, or the
 * Response's own when passed through) as it is now. New, or NULL when its stored
 * answer cannot be read (or no memory). */
static json_t *
response_now(struct req *r, const struct aif_job_view *v, const json_t *chat)
{
	json_t *resp = v->kind == AIF_KIND_RESPONSES ? aif_resp_native_template(chat,
	    v->public_id, v->model, v->created_at) : aif_resp_template(chat, NULL,
	    v->public_id, v->model, v->created_at);
	struct aif_error e;

	if (resp == NULL)
		return NULL;
	if (strcmp(v->state, "succeeded") == 0 && v->response_len >= 0) {
		return stored_answer(r, v, resp);
	} else if (strcmp(v->state, "failed") == 0) {
		job_error_set(&e, v->http_status, v->error_type, v->error_code,
		    v->error_message);
		aif_resp_fail(resp, "failed", &e);
	} else if (strcmp(v->state, "cancelled") == 0) {
		aif_resp_fail(resp, "cancelled", NULL);
	} else if (strcmp(v->state, "queued") != 0) {
		aif_resp_fail(resp, "in_progress", NULL);
	}
	return resp;
}

/* The job of response id when it is the caller's and kept: *v new, *chat its stored
 * chat request (new). Answers (404, 503) and returns -1 otherwise. */
static int
find(struct req *r, const struct aif_principal *who, const char *id,
    struct aif_job_view **v, json_t **chat)
{
	char job[AIF_JOB_ID_LEN + 8], *req = NULL;
	size_t len = 0;
	enum aif_err err;

	*v = NULL;
	*chat = NULL;
	if (aif_resp_job_id(id, job, sizeof(job)) != 0) {
		REFUSE(&r->reply, AIF_E_RESPONSE_NOT_FOUND, NULL, id);
		return -1;
	}
	if ((err = aif_jobs_view_public(r->db, job, who->lineage_id, v)) == AIF_OK &&
	    !(*v)->zero_retention &&
	    (err = aif_jobs_request_read(r->db, (*v)->id, &req, &len)) == AIF_OK)
		*chat = json_loadb(req, len, 0, NULL);
	free(req);
	if (err != AIF_OK && err != AIF_NOTFOUND) {
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
	} else if (!aif_resp_is_response(*chat)) {
		REFUSE(&r->reply, AIF_E_RESPONSE_NOT_FOUND, NULL, id);
	} else {
		aif_strlcpy(r->reply.job_id, (*v)->public_id, sizeof(r->reply.job_id));
		return 0;
	}
	aif_jobs_views_free(*v, *v != NULL ? 1 : 0);
	json_decref(*chat);
	*v = NULL;
	*chat = NULL;
	return -1;
}

static void
delete(struct req *r, const struct aif_job_view *v, const char *id)
{
	json_t *j;

	if (!aif_jobs_state_final(v->state)) {
		REFUSE(&r->reply, AIF_E_RESPONSE_IN_PROGRESS, NULL, id);
		return;
	}
	if (aif_jobs_forget_bodies(r->db, v->id) != AIF_OK) {
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	j = json_pack("{s:s,s:s,s:b}", "id", id, "object", "response.deleted", "deleted", 1);
	reply_json(&r->reply, 200, NULL, j);
	json_decref(j);
}

void
route_responses_item(struct req *r, const struct aif_principal *who, const char *id,
    const char *action)
{
	struct aif_job_view *v = NULL, *now = NULL;
	json_t *chat = NULL, *resp;

	if (find(r, who, id, &v, &chat) != 0)
		return;
	if (action == NULL && strcmp(r->method, "DELETE") == 0) {
		delete(r, v, id);
	} else {
		if (action != NULL && !aif_jobs_state_final(v->state)) {
			/* cancel: the job's own cancel, then the Response as it is now */
			(void)route_jobs_cancel(r, v->id, v->public_id, v->workflow, 0,
			    "cancelled through the Responses API");
			if (aif_jobs_view_public(r->db, v->public_id, who->lineage_id,
			    &now) == AIF_OK) {
				aif_jobs_views_free(v, 1);
				v = now;
			}
		}
		if ((resp = response_now(r, v, chat)) == NULL) {
			REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		} else {
			reply_json(&r->reply, 200, NULL, resp);
			json_decref(resp);
		}
	}
	aif_jobs_views_free(v, 1);
	json_decref(chat);
}
