/* route_batches.c -- OpenAI's Batch API (docs/BATCH.md): POST /v1/batches creates a
 * batch of an uploaded input file (validating; the feeder, batcher.c, runs it), GET
 * /v1/batches lists the caller's batches newest first (limit, after), GET
 * /v1/batches/{id} shows one with its progress, POST /v1/batches/{id}/cancel asks it
 * to stop (cancelling; the feeder ends it cancelled). Another key lineage's batch is
 * 404, as one that does not exist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "batches.h"
#include "log.h"

#define BATCH_BODY_MAX		65536
#define METADATA_PAIRS_MAX	16
#define WINDOW_MAX_S		86400	/* OpenAI's only window, 24h */

/* A unix time, or null for 0. */
static json_t *
when(int64_t t)
{
	return t > 0 ? json_integer(t) : json_null();
}

json_t *
batch_json(const struct aif_batch_row *b, int64_t completed, int64_t failed)
{
	json_t *md = b->metadata != NULL ? json_loads(b->metadata, 0, NULL) : NULL;
	json_t *errs = b->errors != NULL ? json_loads(b->errors, 0, NULL) : NULL;

	return json_pack("{s:s,s:s,s:s,s:o,s:s,s:s,s:s,s:s?,s:s?,s:I,s:o,s:o,s:o,s:o,s:o,"
	    "s:o,s:o,s:o,s:{s:I,s:I,s:I},s:o}",
	    "id", b->public_id, "object", "batch", "endpoint", b->endpoint,
	    "errors", errs != NULL ? errs : json_null(), "input_file_id", b->input_file,
	    "completion_window", b->window, "status", b->status,
	    "output_file_id", b->output_file[0] ? b->output_file : NULL,
	    "error_file_id", b->error_file[0] ? b->error_file : NULL,
	    "created_at", (json_int_t)b->created_at,
	    "in_progress_at", when(b->in_progress_at), "expires_at", when(b->expires_at),
	    "finalizing_at", when(b->finalizing_at), "completed_at", when(b->completed_at),
	    "failed_at", when(b->failed_at), "expired_at", when(b->expired_at),
	    "cancelling_at", when(b->cancelling_at), "cancelled_at", when(b->cancelled_at),
	    "request_counts", "total", (json_int_t)b->total, "completed",
	    (json_int_t)completed, "failed", (json_int_t)failed,
	    "metadata", md != NULL ? md : json_null());
}

/* Sets the Batch object j's usage, as OpenAI's has it (no cached or reasoning tokens
 * are told apart here). */
static void
with_usage(json_t *j, int64_t in, int64_t out)
{
	json_object_set_new(j, "usage", json_pack("{s:I,s:{s:i},s:I,s:{s:i},s:I}",
	    "input_tokens", (json_int_t)in, "input_tokens_details", "cached_tokens", 0,
	    "output_tokens", (json_int_t)out, "output_tokens_details", "reasoning_tokens", 0,
	    "total_tokens", (json_int_t)(in + out)));
}

/* The Batch object of b with its progress (counted from its jobs while it runs, the
 * final counts once it ended) and its usage (the sums of its lines' usage rows). New
 * reference, or NULL (the database). */
static json_t *
batch_now(struct req *r, const struct aif_batch_row *b)
{
	int64_t done = b->completed, failed = b->failed, open = 0, in = 0, out = 0;
	int final = strcmp(b->status, "completed") == 0 || strcmp(b->status, "failed") == 0 ||
	    strcmp(b->status, "expired") == 0 || strcmp(b->status, "cancelled") == 0;
	json_t *j;

	if ((!final && aif_batches_progress(r->db, b->id, &done, &failed, &open) != AIF_OK) ||
	    aif_batches_usage(r->db, b->id, &in, &out) != AIF_OK ||
	    (j = batch_json(b, done, failed)) == NULL)
		return NULL;
	with_usage(j, in, out);
	return j;
}

int
list_params(const char *q, int64_t *limit, int64_t max, char *after, size_t cap)
{
	return list_query(q, limit, max, after, cap, NULL, 0);
}

int
list_query(const char *q, int64_t *limit, int64_t max, char *after, size_t cap,
    char *purpose, size_t pcap)
{
	while (q != NULL && *q != '\0') {
		const char *amp = strchr(q, '&'), *end = amp != NULL ? amp : q + strlen(q);
		const char *eq = memchr(q, '=', (size_t)(end - q));
		char v[64];
		size_t n;

		if (eq == NULL || (n = (size_t)(end - eq - 1)) >= sizeof(v))
			return -1;
		memcpy(v, eq + 1, n);
		v[n] = '\0';
		if ((size_t)(eq - q) == 5 && strncmp(q, "limit", 5) == 0) {
			if (aif_parse_i64(v, 1, max, limit) != 0)
				return -1;
		} else if ((size_t)(eq - q) == 5 && strncmp(q, "after", 5) == 0) {
			/* ids are letters, digits, '-' and '_': nothing to decode */
			if (n >= cap || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
			    "VWXYZ0123456789-_") != n)
				return -1;
			memcpy(after, v, n + 1);
		} else if (purpose != NULL && (size_t)(eq - q) == 7 &&
		    strncmp(q, "purpose", 7) == 0) {
			if (n >= pcap || strspn(v, "abcdefghijklmnopqrstuvwxyz_-") != n)
				return -1;
			memcpy(purpose, v, n + 1);
		}
		q = amp != NULL ? amp + 1 : end;
	}
	return 0;
}

/* completion_window: "24h", or a shorter "<n>h", "<n>m" or "<n>s" no shorter than
 * batch.min_completion_window. Seconds, or -1. */
static int64_t
window_seconds(const struct aif_config *cfg, const char *w)
{
	size_t n = w != NULL ? strlen(w) : 0;
	int64_t v, unit;
	char num[12];

	if (n < 2 || n > sizeof(num))
		return -1;
	unit = w[n - 1] == 'h' ? 3600 : w[n - 1] == 'm' ? 60 : w[n - 1] == 's' ? 1 : 0;
	memcpy(num, w, n - 1);
	num[n - 1] = '\0';
	if (unit == 0 || strspn(num, "0123456789") != n - 1 ||
	    aif_parse_i64(num, 1, WINDOW_MAX_S, &v) != 0 || v * unit > WINDOW_MAX_S)
		return -1;
	if (v * unit != WINDOW_MAX_S && v * unit * 1000 < cfg->batch.min_window_ms)
		return -1;
	return v * unit;
}

/* metadata: null, or an object of at most 16 string values (keys up to 64 bytes,
 * values up to 512), as OpenAI takes it. */
static int
metadata_ok(const json_t *md)
{
	const char *k;
	json_t *v;

	if (md == NULL || json_is_null(md))
		return 1;
	if (!json_is_object(md) || json_object_size(md) > METADATA_PAIRS_MAX)
		return 0;
	json_object_foreach((json_t *)md, k, v)
		if (strlen(k) > 64 || !json_is_string(v) || json_string_length(v) > 512)
			return 0;
	return 1;
}

/* The request body of POST /v1/batches (new), or NULL after answering. */
static json_t *
read_body(struct req *r)
{
	char *buf = malloc(BATCH_BODY_MAX + 1);
	int n = buf != NULL ? FCGX_GetStr(buf, BATCH_BODY_MAX + 1, r->reply.fcgi->in) : -1;
	json_t *j = n > 0 && n <= BATCH_BODY_MAX ? json_loadb(buf, (size_t)n,
	    JSON_REJECT_DUPLICATES, NULL) : NULL;

	free(buf);
	if (!json_is_object(j)) {
		json_decref(j);
		REFUSE(&r->reply, AIF_E_BATCH_INVALID, NULL, "The body must be a JSON object"
		    " of at most 64 KiB with input_file_id, endpoint and completion_window.");
		return NULL;
	}
	return j;
}

/* Checks the body against the input file; fills b (the caller's). 0, or -1 answered. */
static int
check_create(struct req *r, const json_t *j, struct aif_file_row *f, int64_t *window_s)
{
	const char *fid = json_string_value(json_object_get(j, "input_file_id"));
	const char *ep = json_string_value(json_object_get(j, "endpoint"));
	const char *w = json_string_value(json_object_get(j, "completion_window"));
	enum aif_err err;

	if (fid == NULL || ep == NULL || w == NULL) {
		REFUSE(&r->reply, AIF_E_BATCH_INVALID, fid == NULL ? "input_file_id" :
		    ep == NULL ? "endpoint" : "completion_window", "input_file_id, endpoint and"
		    " completion_window are required strings.");
		return -1;
	}
	if (strlen(fid) > AIF_FILE_ID_LEN || (err = aif_files_get(r->db, fid,
	    r->reply.fcgi != NULL ? f->api_key_id : 0, f)) == AIF_NOTFOUND ||
	    (err == AIF_OK && strcmp(f->purpose, "batch") != 0)) {
		REFUSE(&r->reply, AIF_E_FILE_NOT_FOUND, "input_file_id",
		    strlen(fid) <= 64 ? fid : "?");
		return -1;
	}
	if (err != AIF_OK) {
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return -1;
	}
	if (strcmp(ep, f->endpoint) != 0) {
		REFUSE(&r->reply, AIF_E_BATCH_INVALID, "endpoint", "endpoint must be the url of"
		    " every line of the input file (/v1/chat/completions, /v1/completions or"
		    " /v1/embeddings).");
		return -1;
	}
	if ((*window_s = window_seconds(r->cfg, w)) < 0) {
		REFUSE(&r->reply, AIF_E_BATCH_INVALID, "completion_window", "completion_window"
		    " must be 24h (or a shorter window this gateway allows:"
		    " batch.min_completion_window).");
		return -1;
	}
	if (!metadata_ok(json_object_get(j, "metadata"))) {
		REFUSE(&r->reply, AIF_E_BATCH_INVALID, "metadata", "metadata is at most 16"
		    " string values, keys up to 64 bytes, values up to 512.");
		return -1;
	}
	return 0;
}

/* POST /v1/batches */
static void
create(struct req *r, const struct aif_principal *who)
{
	json_t *j = read_body(r), *md, *out;
	struct aif_batch_row b;
	struct aif_file_row f;
	int64_t window_s = 0;
	enum aif_err err;

	if (j == NULL)
		return;
	memset(&f, 0, sizeof(f));
	memset(&b, 0, sizeof(b));
	f.api_key_id = who->lineage_id;
	if (check_create(r, j, &f, &window_s) != 0) {
		json_decref(j);
		return;
	}
	md = json_object_get(j, "metadata");
	b.metadata = md != NULL && json_is_object(md) ? json_dumps(md, JSON_COMPACT) : NULL;
	b.api_key_id = who->lineage_id;
	aif_strlcpy(b.tenant, who->tenant, sizeof(b.tenant));
	b.input_file_id = f.id;
	aif_strlcpy(b.input_file, f.public_id, sizeof(b.input_file));
	aif_strlcpy(b.endpoint, f.endpoint, sizeof(b.endpoint));
	aif_strlcpy(b.window, json_string_value(json_object_get(j, "completion_window")),
	    sizeof(b.window));
	aif_strlcpy(b.status, "validating", sizeof(b.status));
	b.total = f.lines;
	json_decref(j);
	if ((err = aif_batches_create(r->db, &b, window_s)) != AIF_OK) {
		aif_batch_row_clear(&b);
		if (err == AIF_NOTFOUND)	/* deleted meanwhile */
			REFUSE(&r->reply, AIF_E_FILE_NOT_FOUND, "input_file_id", f.public_id);
		else
			REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	b.created_at = aif_unix_now();
	b.expires_at = b.created_at + window_s;
	aif_info("msg=\"batch created\" batch=%s file=%s lines=%lld key=%llu", b.public_id,
	    f.public_id, (long long)b.total, (unsigned long long)who->lineage_id);
	batcher_poke(r->api);
	if ((out = batch_json(&b, 0, 0)) != NULL)
		with_usage(out, 0, 0);
	aif_batch_row_clear(&b);
	reply_json(&r->reply, 200, NULL, out);
	json_decref(out);
}

/* GET /v1/batches?limit=&after= */
static void
list(struct req *r, const struct aif_principal *who)
{
	const char *q = FCGX_GetParam("QUERY_STRING", r->reply.fcgi->envp);
	struct aif_batch_row *rows = NULL;
	char after[AIF_BATCH_ID_LEN + 1] = "";
	int64_t limit = 20;
	size_t n = 0, shown;
	json_t *data, *j;

	if (list_params(q, &limit, 100, after, sizeof(after)) != 0) {
		REFUSE(&r->reply, AIF_E_QUERY_PARAM_INVALID, NULL, "limit",
		    "limit is 1 to 100 and after a batch id");
		return;
	}
	if (aif_batches_list(r->db, who->lineage_id, after[0] ? after : NULL,
	    (size_t)limit + 1, &rows, &n) != AIF_OK) {
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	shown = n > (size_t)limit ? (size_t)limit : n;
	data = json_array();
	for (size_t i = 0; i < shown; i++) {
		json_t *b = batch_now(r, &rows[i]);
		if (b == NULL) {
			json_decref(data);
			aif_batch_rows_free(rows, n);
			REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
			return;
		}
		json_array_append_new(data, b);
	}
	j = json_pack("{s:s,s:o,s:s?,s:s?,s:b}", "object", "list", "data", data, "first_id",
	    shown > 0 ? rows[0].public_id : NULL, "last_id", shown > 0 ?
	    rows[shown - 1].public_id : NULL, "has_more", n > (size_t)limit);
	aif_batch_rows_free(rows, n);
	reply_json(&r->reply, 200, NULL, j);
	json_decref(j);
}

/* GET /v1/batches/{id} and POST /v1/batches/{id}/cancel */
static void
item(struct req *r, const struct aif_principal *who, const char *id, int cancel)
{
	struct aif_batch_row b;
	char status[16];
	enum aif_err err;
	json_t *j;

	if ((err = aif_batches_get(r->db, id, who->lineage_id, &b)) == AIF_NOTFOUND) {
		REFUSE(&r->reply, AIF_E_BATCH_NOT_FOUND, "batch_id", id);
		return;
	}
	if (err == AIF_OK && cancel) {
		err = aif_batches_cancel(r->db, b.id, status);
		if (err == AIF_CONFLICT) {
			aif_batch_row_clear(&b);
			REFUSE(&r->reply, AIF_E_BATCH_NOT_CANCELLABLE, "batch_id", status);
			return;
		}
		aif_batch_row_clear(&b);
		if (err == AIF_OK) {
			batcher_poke(r->api);
			err = aif_batches_get(r->db, id, who->lineage_id, &b);
		}
	}
	if (err != AIF_OK || (j = batch_now(r, &b)) == NULL) {
		aif_batch_row_clear(&b);
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	aif_batch_row_clear(&b);
	reply_json(&r->reply, 200, NULL, j);
	json_decref(j);
}

void
route_batches(struct req *r, const struct aif_principal *who)
{
	const char *p = r->path + strlen("/v1/batches"), *slash;
	char id[AIF_BATCH_ID_LEN + 1];
	size_t n;

	if (*p == '\0' || strcmp(p, "/") == 0) {
		if (strcmp(r->method, "POST") == 0)
			create(r, who);
		else if (strcmp(r->method, "GET") == 0)
			list(r, who);
		else {
			reply_header(&r->reply, "Allow", "GET, POST");
			REFUSE(&r->reply, AIF_E_METHOD_NOT_ALLOWED, NULL, r->method, r->path);
		}
		return;
	}
	p++;
	slash = strchr(p, '/');
	n = slash != NULL ? (size_t)(slash - p) : strlen(p);
	if (n == 0 || n >= sizeof(id) || (slash != NULL && strcmp(slash, "/cancel") != 0)) {
		REFUSE(&r->reply, AIF_E_UNKNOWN_URL, NULL, r->method, r->path);
		return;
	}
	memcpy(id, p, n);
	id[n] = '\0';
	if (strcmp(r->method, slash != NULL ? "POST" : "GET") != 0) {
		reply_header(&r->reply, "Allow", slash != NULL ? "POST" : "GET");
		REFUSE(&r->reply, AIF_E_METHOD_NOT_ALLOWED, NULL, r->method, r->path);
		return;
	}
	item(r, who, id, slash != NULL);
}
