/* compensate.c -- the saga step runner; see compensate.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "compensate.h"
#include "log.h"
#include "queue.h"
#include "util.h"

#define BODY_MAX	8192

struct step {
	uint64_t job_id;
	int	 step_no;
	char	 name[65];
	char	 method[9];
	char	*url;
	char	*body;		/* expanded */
	long	 timeout_ms;
	int	 attempts;	/* including this one */
	int	 max_attempts;
	int64_t	 initial_ms, backoff_pct, max_ms;
};

static size_t
discard(char *p, size_t s, size_t n, void *a)
{
	(void)p;
	(void)a;
	return s * n;
}

/* Expands {job_id} {public_id} {model} {api_key_id} {tenant} in tmpl (NULL: default). */
static char *
expand(const char *tmpl, const char *const vals[5])
{
	static const char *const keys[5] = { "{job_id}", "{public_id}", "{model}",
	    "{api_key_id}", "{tenant}" };
	static const char def[] = "{\"job_id\":\"{public_id}\",\"model\":\"{model}\","
	    "\"api_key_id\":{api_key_id},\"tenant\":\"{tenant}\",\"reason\":\"the job failed\"}";
	char *out = malloc(BODY_MAX);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (const char *p = tmpl != NULL ? tmpl : def; *p != '\0';) {
		size_t k;
		for (k = 0; k < 5; k++)
			if (strncmp(p, keys[k], strlen(keys[k])) == 0)
				break;
		const char *v = k < 5 ? vals[k] : NULL;
		size_t vl = k < 5 ? strlen(v) : 1;
		if (o + vl + 1 > BODY_MAX) {
			free(out);
			return NULL;
		}
		if (k < 5) {
			memcpy(out + o, v, vl);
			p += strlen(keys[k]);
		} else {
			out[o] = *p++;
		}
		o += vl;
	}
	out[o] = '\0';
	return out;
}

static void
event(struct aif_db *db, uint64_t job, const char *ev, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
event(struct aif_db *db, uint64_t job, const char *ev, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	(void)aif_queue_event(db, job, ev, detail);
}

/* Claims due steps under a lease. On success *out is a new array of *n steps. */
static int
claim(struct aif_db *db, int limit, struct step **out, size_t *n)
{
	static const char unstick[] =
	    "UPDATE job_compensations SET state = 'pending' WHERE state = 'running'"
	    " AND lease_until < NOW(6)";
	static const char sel[] =
	    "SELECT c.job_id, c.step_no, c.name, c.method, c.url, c.body_template,"
	    " c.timeout_ms, c.attempts + 1, c.max_attempts, c.initial_interval_ms,"
	    " c.backoff_pct, c.maximum_interval_ms, j.public_id, j.model, j.api_key_id,"
	    " j.tenant FROM job_compensations c JOIN jobs j ON j.id = c.job_id"
	    " WHERE c.state = 'pending' AND c.next_at <= NOW(6) AND NOT EXISTS"
	    " (SELECT 1 FROM job_compensations e WHERE e.job_id = c.job_id"
	    "  AND e.step_no < c.step_no AND e.state IN ('pending','running'))"
	    " ORDER BY c.next_at LIMIT ? FOR UPDATE SKIP LOCKED";
	static const char take[] =
	    "UPDATE job_compensations SET state = 'running', attempts = attempts + 1,"
	    " lease_until = NOW(6) + INTERVAL (timeout_ms + 30000) * 1000 MICROSECOND"
	    " WHERE job_id = ? AND step_no = ?";
	struct aif_dbp p[] = { AIF_P_I64(limit) };
	struct aif_dbrows *r = NULL;
	struct step *s = NULL;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	(void)aif_db_exec(db, unstick, NULL, 0, NULL, NULL);
	if (aif_db_begin(db) != AIF_OK)
		return -1;
	if (aif_db_query(db, sel, p, 1, &r) != AIF_OK)
		goto fail;
	if (r->nrows == 0) {
		aif_dbrows_free(r);
		aif_db_rollback(db);
		return 0;
	}
	if ((s = calloc(r->nrows, sizeof(*s))) == NULL)
		goto fail;
	for (; k < r->nrows; k++) {
		int64_t v = 0;
		const char *vals[5] = { aif_dbrows_get(r, k, 0), aif_dbrows_get(r, k, 12),
		    aif_dbrows_get(r, k, 13), aif_dbrows_get(r, k, 14), aif_dbrows_get(r, k, 15) };
		for (int i = 0; i < 5; i++)
			if (vals[i] == NULL)
				vals[i] = "";
		(void)aif_parse_i64(aif_dbrows_get(r, k, 0), 0, INT64_MAX, &v);
		s[k].job_id = (uint64_t)v;
		(void)aif_parse_i64(aif_dbrows_get(r, k, 1), 0, 65535, &v);
		s[k].step_no = (int)v;
		aif_strlcpy(s[k].name, aif_dbrows_get(r, k, 2), sizeof(s[k].name));
		aif_strlcpy(s[k].method, aif_dbrows_get(r, k, 3), sizeof(s[k].method));
		s[k].url = strdup(aif_dbrows_get(r, k, 4));
		s[k].body = expand(aif_dbrows_get(r, k, 5), vals);
		(void)aif_parse_i64(aif_dbrows_get(r, k, 6), 100, 600000, &v);
		s[k].timeout_ms = (long)v;
		(void)aif_parse_i64(aif_dbrows_get(r, k, 7), 0, 100000, &v);
		s[k].attempts = (int)v;
		(void)aif_parse_i64(aif_dbrows_get(r, k, 8), 0, 100000, &v);
		s[k].max_attempts = (int)v;
		(void)aif_parse_i64(aif_dbrows_get(r, k, 9), 0, INT64_MAX, &s[k].initial_ms);
		(void)aif_parse_i64(aif_dbrows_get(r, k, 10), 100, 1000, &s[k].backoff_pct);
		(void)aif_parse_i64(aif_dbrows_get(r, k, 11), 0, INT64_MAX, &s[k].max_ms);
		struct aif_dbp t[] = { AIF_P_I64(s[k].job_id), AIF_P_I64(s[k].step_no) };
		if (s[k].url == NULL || s[k].body == NULL ||
		    aif_db_exec(db, take, t, 2, NULL, NULL) != AIF_OK) {
			k++;
			goto fail;
		}
	}
	if (aif_db_commit(db) != AIF_OK)
		goto fail;
	aif_dbrows_free(r);
	*out = s;
	*n = k;
	return 0;
fail:
	aif_db_rollback(db);
	aif_dbrows_free(r);
	for (size_t i = 0; s != NULL && i < k; i++) {
		free(s[i].url);
		free(s[i].body);
	}
	free(s);
	return -1;
}

/* The job is failed once no step is pending or running. */
static void
finish_job(struct aif_db *db, uint64_t job)
{
	static const char sql[] =
	    "UPDATE jobs SET state = 'failed' WHERE id = ? AND state = 'compensating'"
	    " AND NOT EXISTS (SELECT 1 FROM job_compensations WHERE job_id = ?"
	    " AND state IN ('pending','running'))";
	struct aif_dbp p[] = { AIF_P_I64(job), AIF_P_I64(job) };
	uint64_t affected = 0;

	if (aif_db_exec(db, sql, p, 2, &affected, NULL) == AIF_OK && affected == 1)
		event(db, job, "failed", "every compensation step is finished");
}

static void
record(struct aif_db *db, const struct step *s, long status, const char *err)
{
	static const char done[] =
	    "UPDATE job_compensations SET state = 'done', lease_until = NULL, last_error = NULL"
	    " WHERE job_id = ? AND step_no = ?";
	static const char again[] =
	    "UPDATE job_compensations SET state = ?, lease_until = NULL, last_error = ?,"
	    " next_at = NOW(6) + INTERVAL ? MICROSECOND WHERE job_id = ? AND step_no = ?";
	struct aif_dbp pd[] = { AIF_P_I64(s->job_id), AIF_P_I64(s->step_no) };

	if (err == NULL && status >= 200 && status < 300) {
		(void)aif_db_exec(db, done, pd, 2, NULL, NULL);
		event(db, s->job_id, "compensation_succeeded", "%s (step %d, attempt %d): HTTP %ld",
		    s->name, s->step_no, s->attempts, status);
		finish_job(db, s->job_id);
		return;
	}
	char why[256];
	int64_t delay = s->initial_ms;
	int give_up = s->max_attempts > 0 && s->attempts >= s->max_attempts;

	if (err != NULL)
		snprintf(why, sizeof(why), "%s", err);
	else
		snprintf(why, sizeof(why), "HTTP %ld", status);
	for (int i = 1; i < s->attempts && delay < s->max_ms; i++)
		delay = delay * s->backoff_pct / 100;
	if (delay > s->max_ms)
		delay = s->max_ms;
	struct aif_dbp pa[] = { AIF_P_STR(give_up ? "gave_up" : "pending"), AIF_P_STR(why),
	    AIF_P_I64(delay * 1000), AIF_P_I64(s->job_id), AIF_P_I64(s->step_no) };
	(void)aif_db_exec(db, again, pa, 5, NULL, NULL);
	if (give_up) {
		event(db, s->job_id, "compensation_gave_up", "%s (step %d) after %d attempts: %s",
		    s->name, s->step_no, s->attempts, why);
		aif_error("msg=\"compensation gave up; needs an operator\" job=%" PRIu64
		    " step=%s", s->job_id, s->name);
		finish_job(db, s->job_id);
	} else {
		event(db, s->job_id, "compensation_failed", "%s (step %d, attempt %d): %s; next "
		    "in %lld ms", s->name, s->step_no, s->attempts, why, (long long)delay);
	}
}

int
aif_compensate_run(struct aif_db *db, int limit)
{
	struct step *s = NULL;
	size_t n = 0;

	if (claim(db, limit, &s, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		CURL *e = curl_easy_init();
		struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
		char idem[64];
		long status = 0;
		CURLcode rc = CURLE_FAILED_INIT;

		/* the target can deduplicate retries of the same step */
		snprintf(idem, sizeof(idem), "Idempotency-Key: %" PRIu64 ":%d:undo", s[i].job_id,
		    s[i].step_no);
		h = curl_slist_append(h, idem);
		event(db, s[i].job_id, "compensation_started", "%s (step %d, attempt %d)",
		    s[i].name, s[i].step_no, s[i].attempts);
		if (e != NULL && h != NULL) {
			curl_easy_setopt(e, CURLOPT_URL, s[i].url);
			curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
			curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
			curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s[i].timeout_ms);
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, s[i].method);
			if (strcmp(s[i].method, "GET") != 0)
				curl_easy_setopt(e, CURLOPT_POSTFIELDS, s[i].body);
			curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
			curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
			rc = curl_easy_perform(e);
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		}
		record(db, &s[i], status, rc == CURLE_OK ? NULL : curl_easy_strerror(rc));
		curl_slist_free_all(h);
		if (e != NULL)
			curl_easy_cleanup(e);
		free(s[i].url);
		free(s[i].body);
	}
	free(s);
	return (int)n;
}
