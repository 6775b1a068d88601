/* route_files.c -- OpenAI's Files API for batches (docs/BATCH.md): POST /v1/files
 * takes a multipart upload of purpose "batch" within batch.max_file_bytes, checks it
 * line by line (batchfile.h: shape, the models the caller's role may use) and stores it
 * line by line in one transaction; GET /v1/files lists, GET /v1/files/{id} and
 * /content read, DELETE /v1/files/{id} deletes, each of the caller's key lineage only
 * (another's file is 404, as one that does not exist). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "batches.h"
#include "log.h"
#include "multipart.h"

/* Form overhead allowed beyond the file itself (boundaries, part headers, purpose). */
#define FORM_SLACK	65536
/* Lines read from the database at a time while sending a file. */
#define CONTENT_PAGE	8	/* an output line may be an answer of up to 8 MiB */

/* The File object of a row (new reference). */
static json_t *
file_json(const struct aif_file_row *f)
{
	return json_pack("{s:s,s:s,s:I,s:I,s:o,s:s,s:s,s:s,s:n}", "id", f->public_id,
	    "object", "file", "bytes", (json_int_t)f->bytes, "created_at",
	    (json_int_t)f->created_at, "expires_at", f->expires_at > 0 ?
	    json_integer(f->expires_at) : json_null(), "filename", f->filename, "purpose",
	    f->purpose, "status", "processed", "status_details");
}

/* May the uploader's role send `model` as `kind` in a batch? (batchfile.h) */
static int
model_ok(void *arg, const char *model, enum aif_kind kind, char *why, size_t cap)
{
	struct req *r = arg;
	const struct aif_model *m = aif_cfg_model(r->cfg, model);

	if (m == NULL)
		snprintf(why, cap, "model \"%.128s\" does not exist", model);
	else if (!aif_cfg_role_allows_model(r->role, m->id))
		snprintf(why, cap, "model \"%.128s\" may not be used by this key", model);
	else if (!aif_cfg_role_allows_endpoint(r->role, batch_endpoint(
	    kind == AIF_KIND_COMPLETION ? "/v1/completions" : kind == AIF_KIND_EMBEDDING ?
	    "/v1/embeddings" : "/v1/chat/completions")))
		snprintf(why, cap, "this key may not use the %s endpoint", aif_kind_noun(kind));
	else if ((m->kinds & kind) == 0)
		snprintf(why, cap, "model \"%.128s\" does not serve %s", model,
		    aif_kind_noun(kind));
	else if (m->zero_retention || r->role->zero_retention)
		snprintf(why, cap, "model \"%.128s\" keeps no answers (zero retention), so"
		    " it cannot run in a batch", model);
	else
		return 0;
	return -1;
}

/* expires_after[anchor] / [seconds] of the form, as OpenAI takes them: the seconds
 * after upload the file is deleted (3600..2592000), or the configured retention. */
static int
expiry(struct req *r, const struct aif_mp_part *parts, size_t n, int64_t *seconds)
{
	const struct aif_mp_part *anchor = aif_multipart_find(parts, n, "expires_after[anchor]");
	const struct aif_mp_part *secs = aif_multipart_find(parts, n, "expires_after[seconds]");
	char num[24];

	*seconds = r->cfg->batch.file_retention_ms / 1000;
	if (anchor == NULL && secs == NULL)
		return 0;
	if (anchor == NULL || secs == NULL || anchor->len != 10 ||
	    memcmp(anchor->data, "created_at", 10) != 0 || secs->len == 0 ||
	    secs->len >= sizeof(num))
		return -1;
	memcpy(num, secs->data, secs->len);
	num[secs->len] = '\0';
	return aif_parse_i64(num, 3600, 2592000, seconds);
}

/* Reads the body (CONTENT_LENGTH bytes, at most max): new, or NULL after answering. */
static char *
read_upload(struct req *r, size_t max, size_t *len)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", r->reply.fcgi->envp);
	int64_t declared = 0;
	size_t n = 0;
	char lim[24], *body;

	if (cl == NULL || aif_parse_i64(cl, 1, INT64_MAX, &declared) != 0) {
		REFUSE(&r->reply, AIF_E_FILE_FORM_INVALID, NULL, "the body is empty");
		return NULL;
	}
	if ((size_t)declared > max + FORM_SLACK) {
		char scratch[8192];
		while (FCGX_GetStr(scratch, sizeof(scratch), r->reply.fcgi->in) > 0)
			;
		snprintf(lim, sizeof(lim), "%zu", max);
		REFUSE(&r->reply, AIF_E_FILE_TOO_LARGE, "file", lim);
		return NULL;
	}
	if ((body = malloc((size_t)declared)) == NULL) {
		REFUSE0(&r->reply, AIF_E_OUT_OF_MEMORY, NULL);
		return NULL;
	}
	while (n < (size_t)declared) {
		int got = FCGX_GetStr(body + n, (int)((size_t)declared - n), r->reply.fcgi->in);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	*len = n;
	return body;
}

/* Stores a checked file in one transaction; f->id and f->public_id set. */
static enum aif_err
store(struct req *r, struct aif_file_row *f, const struct aif_batchfile *bf)
{
	enum aif_err err;

	if ((err = aif_db_begin(r->db)) != AIF_OK)
		return err;
	if ((err = aif_files_create(r->db, f)) == AIF_OK)
		err = aif_files_add_lines(r->db, f->id, 1, bf->lines, bf->n);
	return aif_db_finish(r->db, err);
}

/* 1 when s is valid UTF-8 (jansson's check), what the database and a JSON answer take. */
static int
utf8_ok(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

/* The form's parts checked: purpose batch, a file within the limit. */
static const struct aif_mp_part *
form_file(struct req *r, const struct aif_mp_part *parts, size_t n, int64_t *expires_s)
{
	const struct aif_mp_part *purpose = aif_multipart_find(parts, n, "purpose");
	const struct aif_mp_part *file = aif_multipart_find(parts, n, "file");
	char what[40], lim[24];

	if (purpose == NULL || file == NULL) {
		REFUSE(&r->reply, AIF_E_FILE_FORM_INVALID, purpose == NULL ? "purpose" : "file",
		    purpose == NULL ? "the purpose field is missing" : "the file is missing");
		return NULL;
	}
	if (purpose->len != 5 || memcmp(purpose->data, "batch", 5) != 0) {
		snprintf(what, sizeof(what), "%.*s", (int)(purpose->len < 32 ? purpose->len : 32),
		    purpose->data);
		REFUSE(&r->reply, AIF_E_FILE_PURPOSE, "purpose", utf8_ok(what) ? what : "?");
		return NULL;
	}
	if (file->len > r->cfg->batch.max_file_bytes) {
		snprintf(lim, sizeof(lim), "%zu", r->cfg->batch.max_file_bytes);
		REFUSE(&r->reply, AIF_E_FILE_TOO_LARGE, "file", lim);
		return NULL;
	}
	if (expiry(r, parts, n, expires_s) != 0) {
		REFUSE(&r->reply, AIF_E_FILE_FORM_INVALID, "expires_after",
		    "expires_after[anchor] must be created_at and expires_after[seconds]"
		    " 3600 to 2592000");
		return NULL;
	}
	return file;
}

/* Checks the parsed form's file and stores it; answers. */
static void
upload_parsed(struct req *r, const struct aif_principal *who,
    const struct aif_mp_part *parts, size_t n)
{
	const struct aif_config *cfg = r->cfg;
	struct aif_oai_limits lim = { .max_body_bytes = cfg->server.max_body_bytes,
	    .max_depth = cfg->server.max_json_depth, .max_messages = cfg->server.max_messages,
	    .max_string_bytes = cfg->server.max_body_bytes };
	const struct aif_mp_part *file;
	struct aif_file_row f;
	struct aif_batchfile bf;
	int64_t expires_s = 0;
	char why[2048];
	enum aif_err err;
	json_t *j;

	if ((file = form_file(r, parts, n, &expires_s)) == NULL)
		return;
	err = aif_batchfile_check(file->data, file->len, cfg->batch.max_lines, &lim,
	    model_ok, r, &bf, why, sizeof(why));
	if (err != AIF_OK) {
		if (err == AIF_NOMEM)
			REFUSE0(&r->reply, AIF_E_OUT_OF_MEMORY, NULL);
		else
			REFUSE(&r->reply, AIF_E_FILE_INVALID, "file", why);
		return;
	}
	memset(&f, 0, sizeof(f));
	f.api_key_id = who->lineage_id;
	aif_strlcpy(f.tenant, who->tenant, sizeof(f.tenant));
	aif_strlcpy(f.purpose, "batch", sizeof(f.purpose));
	/* a name the database can store: valid UTF-8 (jansson's check), else a stand-in */
	snprintf(f.filename, sizeof(f.filename), "%s", file->filename);
	if (!utf8_ok(f.filename) || f.filename[0] == '\0')
		aif_strlcpy(f.filename, "upload.jsonl", sizeof(f.filename));
	f.bytes = (int64_t)file->len;
	f.lines = (int64_t)bf.n;
	aif_strlcpy(f.endpoint, bf.endpoint, sizeof(f.endpoint));
	f.created_at = aif_unix_now();
	f.expires_at = f.created_at + expires_s;
	err = store(r, &f, &bf);
	aif_batchfile_free(&bf);
	if (err != AIF_OK) {
		REFUSE0(&r->reply, err == AIF_DB || err == AIF_TOOBIG ?
		    AIF_E_REQUEST_NOT_STORABLE : AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	aif_info("msg=\"file uploaded\" file=%s bytes=%lld lines=%lld key=%llu", f.public_id,
	    (long long)f.bytes, (long long)f.lines, (unsigned long long)who->lineage_id);
	j = file_json(&f);
	reply_json(&r->reply, 200, NULL, j);
	json_decref(j);
}

/* POST /v1/files: at most batch.uploads bodies held at once by this process. */
static void
upload(struct req *r, const struct aif_principal *who)
{
	const char *ct = FCGX_GetParam("CONTENT_TYPE", r->reply.fcgi->envp);
	struct aif_mp_part parts[AIF_MP_MAX_PARTS];
	const char *why = NULL;
	size_t len = 0, n = 0;
	char *body;

	if (ct == NULL || strncasecmp(ct, "multipart/form-data", 19) != 0) {
		REFUSE(&r->reply, AIF_E_FILE_FORM_INVALID, NULL,
		    "the Content-Type is not multipart/form-data");
		return;
	}
	if (__atomic_add_fetch(&r->api->uploads, 1, __ATOMIC_ACQ_REL) > r->cfg->batch.uploads) {
		__atomic_sub_fetch(&r->api->uploads, 1, __ATOMIC_ACQ_REL);
		REFUSE0(&r->reply, AIF_E_UPLOADS_BUSY, NULL);
		return;
	}
	if ((body = read_upload(r, r->cfg->batch.max_file_bytes, &len)) != NULL) {
		if (aif_multipart_parse(ct, body, len, parts, AIF_NELEM(parts), &n, &why) !=
		    AIF_OK)
			REFUSE(&r->reply, AIF_E_FILE_FORM_INVALID, NULL, why != NULL ? why : "?");
		else
			upload_parsed(r, who, parts, n);
		free(body);
	}
	__atomic_sub_fetch(&r->api->uploads, 1, __ATOMIC_ACQ_REL);
}

/* GET /v1/files/{id}/content: the lines in order, as uploaded or written. */
static void
content(struct req *r, const struct aif_file_row *f)
{
	uint32_t after = 0;
	int64_t sent = 0;

	reply_send_head_typed(&r->reply, 200, "application/octet-stream", NULL,
	    (size_t)f->bytes);
	while (sent < f->bytes) {
		struct aif_dbrows *rows = NULL;
		if (aif_files_lines(r->db, f->id, after, CONTENT_PAGE, &rows) != AIF_OK)
			break;	/* the client sees a body shorter than its length */
		for (size_t i = 0; i < rows->nrows; i++) {
			size_t n = rows->lens[i * rows->ncols + FL_RAW];
			FCGX_PutStr(aif_dbrows_get(rows, i, FL_RAW), (int)n, r->reply.fcgi->out);
			sent += (int64_t)n;
			after = (uint32_t)aif_dbrows_i64(rows, i, FL_LINE);
		}
		if (rows->nrows == 0)
			sent = f->bytes;
		aif_dbrows_free(rows);
	}
	reply_finish(&r->reply);
}

/* GET /v1/files?limit=&after=&purpose=: the caller's files, newest first. */
static void
list(struct req *r, const struct aif_principal *who)
{
	const char *q = FCGX_GetParam("QUERY_STRING", r->reply.fcgi->envp);
	struct aif_file_row *rows = NULL, after;
	char after_id[AIF_FILE_ID_LEN + 1] = "", purpose[17] = "";
	int64_t limit = 100;
	size_t n = 0;
	json_t *data = json_array(), *j;
	enum aif_err err;

	if (list_query(q, &limit, 10000, after_id, sizeof(after_id), purpose,
	    sizeof(purpose)) != 0) {
		json_decref(data);
		REFUSE(&r->reply, AIF_E_QUERY_PARAM_INVALID, NULL, "limit",
		    "limit is 1 to 10000, after a file id, purpose a file purpose");
		return;
	}
	after.id = 0;
	err = after_id[0] != '\0' ? aif_files_get(r->db, after_id, who->lineage_id, &after) :
	    AIF_OK;
	if (err == AIF_NOTFOUND) {
		json_decref(data);
		REFUSE(&r->reply, AIF_E_QUERY_PARAM_INVALID, NULL, "after",
		    "after is the id of one of your files");
		return;
	}
	if (err != AIF_OK || aif_files_list(r->db, who->lineage_id, purpose[0] ? purpose :
	    NULL, after.id, (size_t)limit + 1, &rows, &n) != AIF_OK) {
		json_decref(data);
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	for (size_t i = 0; i < n && i < (size_t)limit; i++)
		json_array_append_new(data, file_json(&rows[i]));
	j = json_pack("{s:s,s:o,s:s?,s:s?,s:b}", "object", "list", "data", data, "first_id",
	    n > 0 ? rows[0].public_id : NULL, "last_id", n > 0 ? rows[(n > (size_t)limit ?
	    (size_t)limit : n) - 1].public_id : NULL, "has_more", n > (size_t)limit);
	free(rows);
	reply_json(&r->reply, 200, NULL, j);
	json_decref(j);
}

/* The {id} and what follows it in /v1/files/{id}[/content]. */
static int
split_path(const char *path, char *id, size_t cap, const char **rest)
{
	const char *p = path + strlen("/v1/files/"), *slash = strchr(p, '/');
	size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);

	if (n == 0 || n >= cap)
		return -1;
	memcpy(id, p, n);
	id[n] = '\0';
	*rest = slash != NULL ? slash : "";
	return 0;
}

/* GET, DELETE /v1/files/{id} and GET /v1/files/{id}/content. */
static void
item(struct req *r, const struct aif_principal *who)
{
	char id[AIF_FILE_ID_LEN + 1], batch[AIF_BATCH_ID_LEN + 1];
	const char *rest = "";
	struct aif_file_row f;
	enum aif_err err;
	json_t *j;

	if (split_path(r->path, id, sizeof(id), &rest) != 0 ||
	    (strcmp(rest, "") != 0 && strcmp(rest, "/content") != 0)) {
		REFUSE(&r->reply, AIF_E_UNKNOWN_URL, NULL, r->method, r->path);
		return;
	}
	if ((err = aif_files_get(r->db, id, who->lineage_id, &f)) != AIF_OK) {
		if (err == AIF_NOTFOUND)
			REFUSE(&r->reply, AIF_E_FILE_NOT_FOUND, "file_id", id);
		else
			REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	if (strcmp(r->method, "GET") == 0 && rest[0] != '\0') {
		content(r, &f);
		return;
	}
	if (strcmp(r->method, "GET") == 0) {
		j = file_json(&f);
		reply_json(&r->reply, 200, NULL, j);
		json_decref(j);
		return;
	}
	if (strcmp(r->method, "DELETE") != 0 || rest[0] != '\0') {
		reply_header(&r->reply, "Allow", rest[0] != '\0' ? "GET" : "GET, DELETE");
		REFUSE(&r->reply, AIF_E_METHOD_NOT_ALLOWED, NULL, r->method, r->path);
		return;
	}
	if ((err = aif_files_delete(r->db, f.id, batch)) == AIF_CONFLICT) {
		REFUSE(&r->reply, AIF_E_FILE_IN_USE, "file_id", f.public_id, batch);
		return;
	}
	if (err != AIF_OK) {
		REFUSE0(&r->reply, AIF_E_DB_UNAVAILABLE, NULL);
		return;
	}
	j = json_pack("{s:s,s:s,s:b}", "id", f.public_id, "object", "file", "deleted", 1);
	reply_json(&r->reply, 200, NULL, j);
	json_decref(j);
}

void
route_files(struct req *r, const struct aif_principal *who)
{
	if (strcmp(r->path, "/v1/files") == 0 || strcmp(r->path, "/v1/files/") == 0) {
		if (strcmp(r->method, "POST") == 0)
			upload(r, who);
		else if (strcmp(r->method, "GET") == 0)
			list(r, who);
		else {
			reply_header(&r->reply, "Allow", "GET, POST");
			REFUSE(&r->reply, AIF_E_METHOD_NOT_ALLOWED, NULL, r->method, r->path);
		}
		return;
	}
	item(r, who);
}
