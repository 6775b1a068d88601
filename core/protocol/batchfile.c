/* batchfile.c -- a Batch API input file checked line by line (batchfile.h): each line
 * parsed with jansson (which also rejects invalid UTF-8), its envelope checked, its
 * body checked as the request of its url by the same validator the live routes use
 * (oai.c). Duplicate custom_ids are found with a sorted index once every line is read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchfile.h"

/* The problems found so far: the first AIF_BATCHFILE_PROBLEMS written, all counted. */
struct problems {
	char	*buf;
	size_t	 cap, used;
	size_t	 n;
};

static void
problem(struct problems *p, size_t line, const char *what)
{
	int m;

	if (p->n++ >= AIF_BATCHFILE_PROBLEMS || p->used >= p->cap)
		return;
	m = snprintf(p->buf + p->used, p->cap - p->used, "%sline %zu: %s",
	    p->used ? "; " : "", line, what);
	if (m > 0)
		p->used += (size_t)m < p->cap - p->used ? (size_t)m : p->cap - p->used - 1;
}

enum aif_kind
aif_batchfile_kind(const char *url)
{
	if (strcmp(url, "/v1/chat/completions") == 0)
		return AIF_KIND_CHAT;
	if (strcmp(url, "/v1/completions") == 0)
		return AIF_KIND_COMPLETION;
	if (strcmp(url, "/v1/embeddings") == 0)
		return AIF_KIND_EMBEDDING;
	return 0;
}

/* The body of a line as the live route would take it: valid for the url's kind, not a
 * stream, a model the caller may use. Problems go to p. */
static void
check_body(struct aif_batchfile *f, size_t line, json_t *body,
    const struct aif_oai_limits *lim, aif_batchfile_model_fn model_ok, void *arg,
    struct problems *p)
{
	struct aif_oai_req req;
	struct aif_error err;
	char why[256];
	char *text = json_dumps(body, JSON_COMPACT);

	if (text == NULL) {
		problem(p, line, "the body could not be read");
		return;
	}
	memset(&err, 0, sizeof(err));
	if (aif_oai_parse(f->kind, text, strlen(text), lim, &req, &err) != AIF_OK) {
		snprintf(why, sizeof(why), "body: %.200s", err.message);
		problem(p, line, why);
	} else if (req.stream) {
		problem(p, line, "body: \"stream\": true is not allowed in a batch");
	} else if (model_ok(arg, req.model, f->kind, why, sizeof(why)) != 0) {
		problem(p, line, why);
	}
	aif_oai_req_free(&req);
	free(text);
}

/* One line (its text without the line break: t[0..n)). */
static void
check_line(struct aif_batchfile *f, size_t line, const char *t, size_t n,
    const struct aif_oai_limits *lim, aif_batchfile_model_fn model_ok, void *arg,
    struct problems *p)
{
	json_error_t je;
	json_t *j = json_loadb(t, n, JSON_REJECT_DUPLICATES, &je), *body;
	const char *cid, *method, *url;
	char what[192];

	if (j == NULL || !json_is_object(j)) {
		snprintf(what, sizeof(what), "not JSON (%.120s)", je.text);
		problem(p, line, n == 0 ? "an empty line" : j == NULL ? what :
		    "not a JSON object");
		json_decref(j);
		return;
	}
	cid = json_string_value(json_object_get(j, "custom_id"));
	method = json_string_value(json_object_get(j, "method"));
	url = json_string_value(json_object_get(j, "url"));
	body = json_object_get(j, "body");
	if (cid == NULL || cid[0] == '\0' || strlen(cid) > AIF_CUSTOM_ID_MAX)
		problem(p, line, "custom_id must be a string of 1 to 512 bytes");
	else if (method == NULL || strcmp(method, "POST") != 0)
		problem(p, line, "method must be \"POST\"");
	else if (url == NULL || aif_batchfile_kind(url) == 0)
		problem(p, line, "url must be /v1/chat/completions, /v1/completions or"
		    " /v1/embeddings");
	else if (f->endpoint[0] != '\0' && strcmp(url, f->endpoint) != 0) {
		snprintf(what, sizeof(what), "url must be %s like line 1", f->endpoint);
		problem(p, line, what);
	} else if (!json_is_object(body))
		problem(p, line, "body must be a JSON object");
	else {
		if (f->endpoint[0] == '\0') {
			snprintf(f->endpoint, sizeof(f->endpoint), "%s", url);
			f->kind = aif_batchfile_kind(url);
		}
		check_body(f, line, body, lim, model_ok, arg, p);
		if ((f->lines[line - 1].custom_id = strdup(cid)) == NULL)
			problem(p, line, "out of memory");
	}
	json_decref(j);
}

static int
by_custom_id(const void *a, const void *b)
{
	const struct aif_file_line *x = *(const struct aif_file_line *const *)a;
	const struct aif_file_line *y = *(const struct aif_file_line *const *)b;
	int c = strcmp(x->custom_id, y->custom_id);

	return c != 0 ? c : (x < y ? -1 : x > y);
}

/* custom_id repeats: each repeat named with the line it repeats. */
static void
check_unique(struct aif_batchfile *f, struct problems *p)
{
	const struct aif_file_line **ix = calloc(f->n ? f->n : 1, sizeof(*ix));
	size_t k = 0;
	char what[160];

	if (ix == NULL) {
		problem(p, 1, "out of memory");
		return;
	}
	for (size_t i = 0; i < f->n; i++)
		if (f->lines[i].custom_id != NULL)
			ix[k++] = &f->lines[i];
	qsort(ix, k, sizeof(*ix), by_custom_id);
	for (size_t i = 1, at = 0; i < k; i++) {
		if (strcmp(ix[i]->custom_id, ix[i - 1]->custom_id) != 0) {
			at = i;		/* a run of equal ids starts here */
			continue;
		}
		snprintf(what, sizeof(what), "custom_id \"%.80s\" repeats line %zu",
		    ix[i]->custom_id, (size_t)(ix[at] - f->lines) + 1);
		problem(p, (size_t)(ix[i] - f->lines) + 1, what);
	}
	free(ix);
}

/* Splits data into lines (each with its break; no empty last one). */
static enum aif_err
split(struct aif_batchfile *f, const char *data, size_t len)
{
	size_t cap = 0;

	for (size_t at = 0; at < len;) {
		const char *nl = memchr(data + at, '\n', len - at);
		size_t end = nl != NULL ? (size_t)(nl - data) + 1 : len;
		if (f->n == cap) {
			struct aif_file_line *m;
			cap = cap ? cap * 2 : 256;
			if ((m = realloc(f->lines, cap * sizeof(*m))) == NULL)
				return AIF_NOMEM;
			f->lines = m;
		}
		f->lines[f->n].raw = data + at;
		f->lines[f->n].len = end - at;
		f->lines[f->n].custom_id = NULL;
		f->n++;
		at = end;
	}
	return AIF_OK;
}

enum aif_err
aif_batchfile_check(const char *data, size_t len, int max_lines,
    const struct aif_oai_limits *lim, aif_batchfile_model_fn model_ok, void *arg,
    struct aif_batchfile *out, char *why, size_t cap)
{
	struct problems p = { .buf = why, .cap = cap };
	size_t nlines = 0;
	char more[64];

	memset(out, 0, sizeof(*out));
	why[0] = '\0';
	for (size_t i = 0; i < len; i++)
		nlines += data[i] == '\n';
	if (len > 0 && data[len - 1] != '\n')
		nlines++;
	if (nlines > (size_t)max_lines) {
		snprintf(why, cap, "the file has %zu lines; at most %d are allowed (batch."
		    "max_lines)", nlines, max_lines);
		return AIF_INVALID;
	}
	if (split(out, data, len) != AIF_OK) {
		aif_batchfile_free(out);
		return AIF_NOMEM;
	}
	if (out->n == 0)
		snprintf(why, cap, "the file has no requests");
	for (size_t i = 0; i < out->n; i++) {
		size_t n = out->lines[i].len;
		const char *t = out->lines[i].raw;
		n -= n > 0 && t[n - 1] == '\n';
		n -= n > 0 && t[n - 1] == '\r';
		check_line(out, i + 1, t, n, lim, model_ok, arg, &p);
	}
	check_unique(out, &p);
	if (p.n > AIF_BATCHFILE_PROBLEMS && p.used + 1 < cap) {
		snprintf(more, sizeof(more), "; and %zu more", p.n - AIF_BATCHFILE_PROBLEMS);
		snprintf(why + p.used, cap - p.used, "%s", more);
	}
	if (p.n == 0 && out->n > 0)
		return AIF_OK;
	aif_batchfile_free(out);
	return AIF_INVALID;
}

void
aif_batchfile_free(struct aif_batchfile *f)
{
	for (size_t i = 0; f->lines != NULL && i < f->n; i++)
		free((char *)f->lines[i].custom_id);
	free(f->lines);
	memset(f, 0, sizeof(*f));
}

char *
aif_batchfile_body(const char *raw, size_t len, size_t *blen)
{
	json_t *j = json_loadb(raw, len, 0, NULL);
	char *text = NULL;

	if (j != NULL && json_is_object(json_object_get(j, "body")))
		text = json_dumps(json_object_get(j, "body"), JSON_COMPACT);
	json_decref(j);
	*blen = text != NULL ? strlen(text) : 0;
	return text;
}
