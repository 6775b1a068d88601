/* route_console.c -- the admin endpoints of the console (docs/CONSOLE.md), admin keys
 * only (the router checks the role):
 *   GET  /admin/overview             queue, replicas, workers, the last hour
 *   GET  /admin/jobs?...             search jobs (id, key, tenant, model, state, since,
 *                                    until; before + limit page them)
 *   GET  /admin/jobs/{id}            one job: timeline, steps, compensations, bodies
 *   POST /admin/jobs/{id}/cancel     cancel a job, or ask a run to stop
 *   POST /admin/jobs/{id}/signal     {name, payload} to a run's wait step
 *   POST /admin/jobs/{id}/retry      a failed or cancelled job's stored request as a new
 *                                    job of the same key
 * The views are core/store/console.c's, the same aifctl prints. Every action is
 * recorded as an event of the job with the admin key's id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "queue.h"
#include "runs.h"
#include "text.h"

#define PARAM_MAX	128	/* bytes of one decoded query parameter */
#define ID_MAX		32	/* bytes of a job id in a path */

/* s is 1..max bytes of well-formed UTF-8 without control characters. */
static int
text_ok(const char *s, size_t max)
{
	size_t n = strlen(s), i = 0, k;
	uint32_t cp;

	if (n == 0 || n > max)
		return 0;
	for (; i < n; i += k)
		if ((k = aif_utf8_seq((const unsigned char *)s + i, n - i, &cp)) == 0 ||
		    cp < 0x20 || cp == 0x7f)
			return 0;
	return 1;
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes n bytes of a form-encoded value into out (cap bytes); -1 when bad or long. */
static int
form_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int hi = hexval(s[i + 1]), lo = hi >= 0 ? hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == 0 || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* The search of a query string; its strings live in buf. */
struct search {
	struct aif_console_filter f;
	char	 buf[5][PARAM_MAX + 1];	/* id, key, tenant, model, state */
};

static const char *const states[] = {
	"queued", "running", "waiting", "succeeded", "failed", "compensating", "cancelled",
};

/* A text parameter's value v is what its name takes. */
static int
text_param_ok(size_t which, const char *v)
{
	int known = 0;

	switch (which) {
	case 1:		/* key: a key's prefix, or its start */
		return aif_token_ok(v, AIF_KEY_DISPLAY_LEN, "_");
	case 4:
		for (size_t k = 0; k < AIF_NELEM(states); k++)
			known |= strcmp(v, states[k]) == 0;
		return known;
	default:
		return text_ok(v, PARAM_MAX);
	}
}

/* One parameter name=value into s; refuses (answers) and returns -1 when bad. */
static int
search_param(struct req *r, struct search *s, const char *name, const char *v)
{
	static const char *const texts[] = { "id", "key", "tenant", "model", "state" };
	const char **to[] = { &s->f.public_id, &s->f.key_prefix, &s->f.tenant, &s->f.model,
	    &s->f.state };
	int64_t n;
	size_t i = 0;

	while (i < AIF_NELEM(texts) && strcmp(name, texts[i]) != 0)
		i++;
	if (v[0] == '\0' && (i < AIF_NELEM(texts) || strcmp(name, "since") == 0 ||
	    strcmp(name, "until") == 0 || strcmp(name, "before") == 0 ||
	    strcmp(name, "limit") == 0))
		return 0;	/* "any" */
	if (i == 0) {		/* one job: the last id given */
		s->f.number = 0;
		s->f.public_id = NULL;
	}
	if (i < AIF_NELEM(texts) && text_param_ok(i, v)) {
		aif_strlcpy(s->buf[i], v, sizeof(s->buf[i]));
		if (i == 0 && aif_parse_i64(v, 1, INT64_MAX, &n) == 0)
			s->f.number = (uint64_t)n;	/* a job's number */
		else
			*to[i] = s->buf[i];
	} else if (i == AIF_NELEM(texts) && strcmp(name, "since") == 0 &&
	    aif_parse_i64(v, 1, INT64_MAX / 2, &n) == 0) {
		s->f.since_ms = n;
	} else if (i == AIF_NELEM(texts) && strcmp(name, "until") == 0 &&
	    aif_parse_i64(v, 1, INT64_MAX / 2, &n) == 0) {
		s->f.until_ms = n;
	} else if (i == AIF_NELEM(texts) && strcmp(name, "before") == 0 &&
	    aif_parse_i64(v, 1, INT64_MAX, &n) == 0) {
		s->f.before = (uint64_t)n;
	} else if (i == AIF_NELEM(texts) && strcmp(name, "limit") == 0 &&
	    aif_parse_i64(v, 1, AIF_CONSOLE_LIST_MAX, &n) == 0) {
		s->f.limit = (int)n;
	} else {
		REFUSE(&r->reply, AIF_E_QUERY_PARAM_INVALID, NULL,
		    text_ok(name, 32) ? name : "?",
		    "see GET /admin/jobs in docs/CONSOLE.md for the parameters and their forms");
		return -1;
	}
	return 0;
}

/* Parses QUERY_STRING into s; refuses (answers) and returns -1 when it is bad. */
static int
search_parse(struct req *r, struct search *s)
{
	const char *q = FCGX_GetParam("QUERY_STRING", r->reply.fcgi->envp);
	char name[PARAM_MAX + 1], value[PARAM_MAX + 1];

	memset(s, 0, sizeof(*s));
	s->f.limit = 50;
	while (q != NULL && *q != '\0') {
		const char *amp = strchr(q, '&'), *end = amp != NULL ? amp : q + strlen(q);
		const char *eq = memchr(q, '=', (size_t)(end - q));
		if (end == q) {
			q++;
			continue;
		}
		if (eq == NULL || form_decode(q, (size_t)(eq - q), name, sizeof(name)) != 0 ||
		    form_decode(eq + 1, (size_t)(end - eq - 1), value, sizeof(value)) != 0) {
			REFUSE(&r->reply, AIF_E_QUERY_PARAM_INVALID, NULL, "?",
			    "each parameter is name=value, form-encoded, at most 128 bytes");
			return -1;
		}
		/* an empty value means "any", as a form with an empty field sends it; its
		   name must still be one of the search's */
		if (search_param(r, s, name, value) != 0)
			return -1;
		q = amp != NULL ? amp + 1 : end;
	}
	return 0;
}

/* Answers the document of a view, or the error that kept it. */
static void
reply_view(struct req *r, enum aif_err err, json_t *doc)
{
	if (err == AIF_NOTFOUND)
		REFUSE0(&r->reply, AIF_E_JOB_NOT_FOUND, "id");
	else if (err != AIF_OK)
		REFUSE0(&r->reply, err == AIF_NOMEM ? AIF_E_OUT_OF_MEMORY :
		    AIF_E_DB_UNAVAILABLE, NULL);
	else
		reply_json(&r->reply, 200, NULL, doc);
	json_decref(doc);
}

/* An operator's action answered: {"object":"console.action", ...}. */
static void
reply_action(struct req *r, int status, const char *action, const char *job,
    const char *key, const char *value)
{
	json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "object", "console.action", "action",
	    action, "job", job, key, value);

	reply_json(&r->reply, status, NULL, j);
	json_decref(j);
}

/* Records action on job t with the admin key; the action stands if this fails. */
static void
note(struct req *r, const struct aif_console_retry *t, const char *event,
    const char *detail)
{
	if (aif_console_note(r->db, t->id, event, t->actor_key_id, detail) != AIF_OK)
		aif_warn("msg=\"an operator's action was not recorded\" job=%s event=%s",
		    t->public_id, event);
}

/* POST /admin/jobs/{id}/cancel: a queued job at once, a running one by telling its
 * worker; a run is asked to stop (its runner cancels its steps and compensates). */
static void
cancel(struct req *r, const struct aif_console_retry *t)
{
	int run = strcmp(t->kind, "pipeline") == 0;
	char detail[96];
	enum aif_err err;

	if (aif_jobs_state_final(t->state)) {
		REFUSE(&r->reply, AIF_E_JOB_ALREADY_FINAL, "id", t->state);
		return;
	}
	snprintf(detail, sizeof(detail), "cancelled by an operator (admin key %llu)",
	    (unsigned long long)t->actor_key_id);
	err = route_jobs_cancel(r, t->id, t->public_id, run, 0, detail);
	if (err == AIF_NOTFOUND || err == AIF_CONFLICT) {
		REFUSE(&r->reply, AIF_E_JOB_ALREADY_FINAL, "id", "finished");
		return;
	}
	if (err == AIF_TOOBIG) {	/* the run holds as many signals as it may */
		REFUSE(&r->reply, AIF_E_SIGNALS_PENDING, NULL, "64");
		return;
	}
	if (err != AIF_OK) {
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	note(r, t, "operator_cancel", detail);
	/* a run is cancelled by its runner: until then it is in the state it was */
	reply_action(r, 200, "cancel", t->public_id, "state", run ? t->state : "cancelled");
}

/* POST /admin/jobs/{id}/retry: only a failed or cancelled model job that is not a step
 * of a run, whose request was kept and whose key's lineage has a live key to bill; the
 * admission is that key's own (admit.c). */
static void
retry(struct req *r, struct aif_console_retry *t)
{
	struct aif_principal owner;
	enum aif_err err;

	if (strcmp(t->kind, "pipeline") == 0) {
		REFUSE0(&r->reply, AIF_E_RETRY_RUN, "id");
		return;
	}
	if (t->parent_job_id != 0) {
		REFUSE0(&r->reply, AIF_E_RETRY_STEP, "id");
		return;
	}
	if (strcmp(t->state, "failed") != 0 && strcmp(t->state, "cancelled") != 0) {
		REFUSE(&r->reply, AIF_E_RETRY_NOT_FINAL, "id", t->state);
		return;
	}
	if (t->request == NULL) {
		REFUSE0(&r->reply, AIF_E_RETRY_NOT_KEPT, "id");
		return;
	}
	if ((err = aif_auth_principal_by_lineage(r->db, t->api_key_id, &owner)) != AIF_OK) {
		REFUSE0(&r->reply, err == AIF_NOTFOUND ? AIF_E_RETRY_KEY_GONE :
		    AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	route_retry(r, &owner, t);
}

/* /admin/jobs/{id}[/action]: rest is what follows "/admin/jobs/". */
static void
one_job(struct req *r, const struct aif_principal *who, const char *rest)
{
	const char *slash = strchr(rest, '/'), *action = slash != NULL ? slash + 1 : "";
	char name[ID_MAX + 1];
	struct aif_console_retry t;
	uint64_t id = 0;
	enum aif_err err;
	json_t *doc = NULL;

	if (slash == NULL)
		slash = rest + strlen(rest);
	if (slash == rest || (size_t)(slash - rest) > ID_MAX ||
	    (*slash == '/' && *action == '\0') || (*action != '\0' &&
	    strcmp(action, "cancel") != 0 && strcmp(action, "signal") != 0 &&
	    strcmp(action, "retry") != 0)) {
		REFUSE(&r->reply, AIF_E_UNKNOWN_URL, NULL, r->method, r->path);
		return;
	}
	if (strcmp(r->method, *action != '\0' ? "POST" : "GET") != 0) {
		reply_header(&r->reply, "Allow", *action != '\0' ? "POST" : "GET");
		REFUSE(&r->reply, AIF_E_METHOD_USE, NULL, *action != '\0' ? "POST" : "GET",
		    r->path);
		return;
	}
	memcpy(name, rest, (size_t)(slash - rest));
	name[slash - rest] = '\0';
	if (!aif_token_ok(name, ID_MAX, "_") ||
	    (err = aif_jobs_resolve(r->db, name, &id)) == AIF_NOTFOUND) {
		REFUSE0(&r->reply, AIF_E_JOB_NOT_FOUND, "id");
		return;
	}
	if (err == AIF_OK && *action == '\0')
		err = aif_console_job(r->db, id, &doc);
	if (err != AIF_OK || *action == '\0') {
		reply_view(r, err, doc);
		return;
	}
	if ((err = aif_console_retry_source(r->db, id, action[0] == 'r', &t)) != AIF_OK) {
		reply_view(r, err, NULL);
		return;
	}
	aif_strlcpy(r->reply.job_id, t.public_id, sizeof(r->reply.job_id));
	t.actor_key_id = who->key_id;
	if (action[0] == 'c') {
		cancel(r, &t);
	} else if (action[0] == 'r') {
		retry(r, &t);
	} else if (strcmp(t.kind, "pipeline") != 0) {
		REFUSE0(&r->reply, AIF_E_NOT_A_RUN, "id");
	} else if (route_jobs_signal(r, who, t.public_id) == 0) {
		char detail[96];
		snprintf(detail, sizeof(detail), "signalled by an operator (admin key %llu)",
		    (unsigned long long)who->key_id);
		note(r, &t, "operator_signal", detail);
	}
	free(t.request);
}

void
route_console(struct req *r, const struct aif_principal *who)
{
	struct search s;
	enum aif_err err;
	json_t *doc = NULL;

	if (strncmp(r->path, "/admin/jobs/", 12) == 0) {
		one_job(r, who, r->path + 12);
		return;
	}
	if (strcmp(r->method, "GET") != 0) {
		reply_header(&r->reply, "Allow", "GET");
		REFUSE(&r->reply, AIF_E_METHOD_USE, NULL, "GET", r->path);
		return;
	}
	if (strcmp(r->path, "/admin/overview") == 0) {
		err = aif_console_overview(r->db, API_WORKER_STALE_S, &doc);
	} else if (strcmp(r->path, "/admin/jobs") == 0) {
		if (search_parse(r, &s) != 0)
			return;
		err = aif_console_jobs(r->db, &s.f, &doc);
	} else {
		REFUSE(&r->reply, AIF_E_UNKNOWN_URL, NULL, r->method, r->path);
		return;
	}
	reply_view(r, err, doc);
}
