/* compensate.c -- the saga step runner; see compensate.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "compensate.h"
#include "http.h"
#include "secret.h"
#include "log.h"
#include "queue.h"
#include "util.h"

#define COMP_HEADERS_MAX	40	/* headers of one step */

/* Appends s JSON-escaped (without quotes) to out at *o; -1 when over cap. */
static int
put_escaped(char *out, size_t cap, size_t *o, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		char esc[8];
		const char *add = esc;
		size_t n;
		if (ch == '"' || ch == '\\')
			snprintf(esc, sizeof(esc), "\\%c", ch);
		else if (ch < 0x20)
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
		else {
			esc[0] = (char)ch;
			esc[1] = '\0';
		}
		n = strlen(add);
		if (*o + n + 1 > cap)
			return -1;
		memcpy(out + *o, add, n);
		*o += n;
	}
	return 0;
}

char *
aif_compensate_body(const struct aif_comp_step *s)
{
	static const char *const keys[] = { "{job_id}", "{public_id}", "{model}",
	    "{api_key_id}", "{tenant}" };
	static const char def[] = "{\"job_id\":\"{public_id}\",\"model\":\"{model}\","
	    "\"api_key_id\":{api_key_id},\"tenant\":\"{tenant}\",\"reason\":\"the job failed\"}";
	char job_id[24], key_id[24];
	const char *vals[] = { job_id, s->public_id, s->model, key_id, s->tenant };
	char *out = malloc(AIF_COMPENSATE_BODY_MAX);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	snprintf(job_id, sizeof(job_id), "%" PRIu64, s->job_id);
	snprintf(key_id, sizeof(key_id), "%" PRIu64, s->api_key_id);
	for (const char *p = s->body_template != NULL ? s->body_template : def; *p != '\0';) {
		size_t k;
		for (k = 0; k < AIF_NELEM(keys); k++)
			if (strncmp(p, keys[k], strlen(keys[k])) == 0)
				break;
		if (k < AIF_NELEM(keys)) {
			if (put_escaped(out, AIF_COMPENSATE_BODY_MAX, &o, vals[k]) != 0)
				goto fail;
			p += strlen(keys[k]);
			continue;
		}
		if (o + 2 > AIF_COMPENSATE_BODY_MAX)
			goto fail;
		out[o++] = *p++;
	}
	out[o] = '\0';
	return out;
fail:
	free(out);
	return NULL;
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
	aif_utf8_trim_tail(detail);
	(void)aif_queue_event(db, job, ev, detail);
}

/* The job is failed once no step is pending or running. */
static void
finish_job(struct aif_db *db, uint64_t job)
{
	int finished = 0;

	if (aif_comp_finish_job(db, job, &finished) == AIF_OK && finished)
		event(db, job, "failed", "every compensation step is finished");
}

int64_t
aif_compensate_backoff_ms(int64_t initial_ms, int64_t pct, int64_t max_ms, int attempt)
{
	int64_t d = initial_ms;

	for (int i = 1; i < attempt && d < max_ms; i++)
		d = d * pct / 100;
	return d > max_ms ? max_ms : d;
}

static void
record(struct aif_db *db, const struct aif_comp_step *s, long status, const char *err)
{
	char why[256];
	int64_t delay;
	int give_up;

	if (err == NULL && status >= 200 && status < 300) {
		(void)aif_comp_done(db, s);
		event(db, s->job_id, "compensation_succeeded", "%s (step %d, attempt %d): HTTP %ld",
		    s->name, s->step_no, s->attempts, status);
		finish_job(db, s->job_id);
		return;
	}
	give_up = s->max_attempts > 0 && s->attempts >= s->max_attempts;
	if (err != NULL)
		snprintf(why, sizeof(why), "%s", err);
	else
		snprintf(why, sizeof(why), "HTTP %ld", status);
	/* the step's backoff after s->attempts attempts */
	delay = aif_compensate_backoff_ms(s->initial_ms, s->backoff_pct, s->max_ms,
	    s->attempts);
	(void)aif_comp_failed(db, s, give_up, why, delay);
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

char *
aif_compensate_header_line(const char *name, const json_t *v, char *err, size_t errcap)
{
	const char *file = json_string_value(json_object_get(v, "file"));
	char *line = NULL;

	if (file != NULL) {
		unsigned char *sec = NULL;
		size_t len = 0;
		enum aif_err rc = aif_secret_load(file, &sec, &len);
		char why[160];
		if (rc != AIF_OK) {
			snprintf(err, errcap, "header %s: secret file %s", name,
			    aif_secret_why(file, rc, why, sizeof(why)));
			return NULL;
		}
		len = aif_secret_line_len(sec, len);
		if (asprintf(&line, "%s: %s%.*s", name, json_string_value(json_object_get(v,
		    "prefix")) ?: "", (int)len, (const char *)sec) < 0)
			line = NULL;
		aif_secret_free(sec, len);
	} else if (asprintf(&line, "%s: %s", name, json_string_value(json_object_get(v,
	    "value")) ?: "") < 0) {
		line = NULL;
	}
	if (line == NULL || strpbrk(line, "\r\n") != NULL) {
		if (line != NULL)
			explicit_bzero(line, strlen(line));
		free(line);
		snprintf(err, errcap, "header %s cannot be sent", name);
		return NULL;
	}
	return line;
}

/* The header lines of a workflow step's compensation (s->headers) after the first `n`
 * of lines (cap in all). Returns the new count, or -1 with err set. */
static int
extra_headers(const struct aif_comp_step *s, char **lines, int n, int cap, char *err,
    size_t errcap)
{
	json_t *h = s->headers != NULL ? json_loads(s->headers, 0, NULL) : NULL, *v;
	const char *name;

	json_object_foreach(h, name, v) {
		if (n >= cap)
			break;
		if ((lines[n] = aif_compensate_header_line(name, v, err, errcap)) == NULL) {
			json_decref(h);
			return -1;
		}
		n++;
	}
	json_decref(h);
	return n;
}

/* Calls one step: its status, or 0 with *err set when no answer came. */
static long
call(const struct aif_comp_step *s, const char *body, char *err, size_t cap)
{
	char *lines[COMP_HEADERS_MAX + 2];
	struct aif_http_result res;
	enum aif_err rc;
	int n = 0;

	memset(lines, 0, sizeof(lines));
	err[0] = '\0';
	/* the target can deduplicate retries of the same step */
	if (asprintf(&lines[n++], "Content-Type: application/json") < 0 ||
	    (s->idempotency_key != NULL ? asprintf(&lines[n++], "Idempotency-Key: %s",
	    s->idempotency_key) : asprintf(&lines[n++], "Idempotency-Key: %" PRIu64 ":%d:undo",
	    s->job_id, s->step_no)) < 0 ||
	    asprintf(&lines[n++], "X-AIF-Job: %s", s->public_id) < 0 ||
	    (n = extra_headers(s, lines, n, COMP_HEADERS_MAX + 2, err, cap)) < 0) {
		for (int i = 0; i < COMP_HEADERS_MAX + 2; i++) {
			if (lines[i] != NULL)
				explicit_bzero(lines[i], strlen(lines[i]));
			free(lines[i]);
		}
		if (err[0] == '\0')
			aif_strlcpy(err, "out of memory", cap);
		return 0;
	}
	struct aif_http_call c = {
		.method = s->method, .url = s->url, .headers = (const char *const *)lines,
		.nheaders = (size_t)n, .body = body,
		.lim = { .timeout_ms = s->timeout_ms, .max_response = AIF_COMPENSATE_RESPONSE_MAX },
	};
	rc = aif_http_run(&c, 0, &res);
	for (int i = 0; i < n; i++) {
		explicit_bzero(lines[i], strlen(lines[i]));	/* may hold a secret */
		free(lines[i]);
	}
	if (rc != AIF_OK)
		aif_strlcpy(err, res.error[0] ? res.error : aif_strerror(rc), cap);
	aif_http_body_free(&res.body);
	return rc == AIF_OK ? res.status : 0;
}

int
aif_compensate_run(struct aif_db *db, int limit)
{
	struct aif_comp_step *s = NULL;
	size_t n = 0;

	if (aif_comp_claim(db, limit, &s, &n) != AIF_OK)
		return -1;
	for (size_t i = 0; i < n; i++) {
		/* a workflow step's compensation comes rendered (its own Idempotency-Key) */
		char *body = s[i].idempotency_key != NULL ? strdup(s[i].body_template != NULL ?
		    s[i].body_template : "{}") : aif_compensate_body(&s[i]);
		char err[CURL_ERROR_SIZE];
		long status = 0;

		event(db, s[i].job_id, "compensation_started", "%s (step %d, attempt %d)",
		    s[i].name, s[i].step_no, s[i].attempts);
		if (body == NULL)
			aif_strlcpy(err, "the body is over its limit", sizeof(err));
		else
			status = call(&s[i], body, err, sizeof(err));
		record(db, &s[i], status, err[0] != '\0' ? err : NULL);
		free(body);
	}
	aif_comp_steps_free(s, n);
	return (int)n;
}
