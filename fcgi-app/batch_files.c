/* batch_files.c -- the output and error files of a batch that ends (docs/BATCH.md), in
 * OpenAI's line format, in line order:
 *
 *   {"id":"batch_req_…","custom_id":…,"response":{"status_code":200,
 *    "request_id":"job_…","body":{…the answer…}},"error":null}
 *
 * A job that failed goes to the error file with its HTTP status and error object, as a
 * client of the live route gets them; a line refused at admission the same way (no
 * request_id: no job was made); a line that never ran (cancelled, expired) with
 * "response": null and "error": {"code": "batch_cancelled" | "batch_expired"}. Both
 * files, the final counts and the status are written in one transaction, so a feeder
 * that dies here leaves the batch finalizing for the next round. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "batches.h"
#include "log.h"

#define PAGE	16		/* outcomes read at a time: each holds an answer */
#define PUT_ROWS	150	/* lines inserted per statement, at most */
#define PUT_BYTES	(4u << 20)	/* and bytes held before they go in */
/* A line longer than this (an answer near server.max_answer_bytes) is written as an
 * error line instead: a file's line is one row, within the database's packet limit. */
#define LINE_MAX_BYTES	(8u << 20)

/* A file being written: created at its first line; lines go in PUT_ROWS at a time. */
struct out_file {
	struct aif_file_row	 row;
	const char		*kind;		/* "output" or "error" */
	uint32_t		 lines;		/* written, pending included */
	int64_t			 bytes;
	struct aif_file_line	 pend[PUT_ROWS];	/* raw owned */
	size_t			 npend;
	size_t			 pend_bytes;
};

/* Inserts f's pending lines. */
static enum aif_err
put_flush(struct aif_db *db, struct out_file *f)
{
	enum aif_err err = AIF_OK;

	if (f->npend > 0)
		err = aif_files_add_lines(db, f->row.id, f->lines - (uint32_t)f->npend + 1,
		    f->pend, f->npend);
	for (size_t i = 0; i < f->npend; i++)
		free((char *)f->pend[i].raw);
	f->npend = 0;
	f->pend_bytes = 0;
	return err;
}

/* Appends one line (text, len bytes with its line break; taken over) to f. */
static enum aif_err
put(struct aif_db *db, const struct aif_batch_row *b, struct out_file *f, char *text,
    size_t len, int64_t retention_s)
{
	enum aif_err err;

	if (f->row.id == 0) {
		f->row.api_key_id = b->api_key_id;
		aif_strlcpy(f->row.tenant, b->tenant, sizeof(f->row.tenant));
		aif_strlcpy(f->row.purpose, "batch_output", sizeof(f->row.purpose));
		snprintf(f->row.filename, sizeof(f->row.filename), "%s_%s.jsonl", b->public_id,
		    f->kind);
		f->row.expires_at = aif_unix_now() + retention_s;
		if ((err = aif_files_create(db, &f->row)) != AIF_OK) {
			free(text);
			return err;
		}
	}
	f->pend[f->npend++] = (struct aif_file_line){ .raw = text, .len = len };
	f->pend_bytes += len;
	f->lines++;
	f->bytes += (int64_t)len;
	return f->npend == PUT_ROWS || f->pend_bytes >= PUT_BYTES ? put_flush(db, f) : AIF_OK;
}

/* One output line: the envelope around a JSON `response` (text, borrowed) or `error`. */
static char *
line_text(const char *id, const char *custom_id, const char *response, const char *error,
    size_t *len)
{
	json_t *cid = json_string(custom_id != NULL ? custom_id : "");
	char *c = cid != NULL ? json_dumps(cid, JSON_ENCODE_ANY) : NULL, *out = NULL;
	int n;

	json_decref(cid);
	if (c == NULL)
		return NULL;
	n = asprintf(&out, "{\"id\":\"batch_req_%s\",\"custom_id\":%s,\"response\":%s,"
	    "\"error\":%s}\n", id, c, response != NULL ? response : "null",
	    error != NULL ? error : "null");
	free(c);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return out;
}

/* The `response` member of a job's outcome (new text): the answer with 200, or the
 * error object with the job's status. */
static char *
response_of(struct aif_dbrows *rows, size_t r, int ok)
{
	const char *pid = aif_dbrows_get(rows, r, BO_PUBLIC_ID);
	char *out = NULL, *err = NULL;
	struct aif_error e;
	int n;

	if (ok) {
		const char *body = aif_dbrows_get(rows, r, BO_BODY);
		n = asprintf(&out, "{\"status_code\":200,\"request_id\":\"%s\",\"body\":%s}",
		    pid, body != NULL && body[0] != '\0' ? body : "null");
		return n < 0 ? NULL : out;
	}
	job_error_set(&e, (int)aif_dbrows_i64(rows, r, BO_STATUS),
	    aif_dbrows_get(rows, r, BO_ERR_TYPE), aif_dbrows_get(rows, r, BO_ERR_CODE),
	    aif_dbrows_get(rows, r, BO_ERR_MESSAGE));
	if ((err = aif_error_render(&e, AIF_SURFACE_OPENAI)) == NULL)
		return NULL;
	n = asprintf(&out, "{\"status_code\":%d,\"request_id\":\"%s\",\"body\":%s}",
	    e.status, pid, err);
	free(err);
	return n < 0 ? NULL : out;
}

/* The error of a line that never ran (static). */
static const char *
unrun_error(const char *status)
{
	return strcmp(status, "expired") == 0 ?
	    "{\"code\":\"batch_expired\",\"message\":\"This request could not be executed"
	    " before the completion window expired.\"}" :
	    "{\"code\":\"batch_cancelled\",\"message\":\"This request was not executed"
	    " because the batch was cancelled.\"}";
}

struct files {
	struct out_file	 out, err;
	int64_t		 completed, failed;
	const char	*status;
	int64_t		 retention_s;
};

/* One line of a job's outcome (a row of aif_batches_outcomes) into the right file. */
static enum aif_err
write_outcome(struct aif_db *db, const struct aif_batch_row *b, struct files *fs,
    struct aif_dbrows *rows, size_t r)
{
	const char *state = aif_dbrows_get(rows, r, BO_STATE);
	const char *pid = aif_dbrows_get(rows, r, BO_PUBLIC_ID);
	int ok = strcmp(state, "succeeded") == 0;
	int ran = ok || strcmp(state, "failed") == 0 || aif_dbrows_i64(rows, r, BO_STARTED);
	char *resp = ran ? response_of(rows, r, ok) : NULL, *text = NULL;
	size_t len = 0;

	if (resp != NULL && strlen(resp) > LINE_MAX_BYTES) {
		char big[256];
		free(resp);
		resp = NULL;
		ok = 0;
		snprintf(big, sizeof(big), "{\"code\":\"result_not_storable\",\"message\":"
		    "\"The answer is larger than a batch output line may be (8 MiB); GET"
		    " /v1/jobs/%.40s has it.\"}", pid);
		text = line_text(pid + 4, aif_dbrows_get(rows, r, BO_CUSTOM_ID), NULL, big,
		    &len);
	} else if (!ran || resp != NULL) {
		text = line_text(pid + 4, aif_dbrows_get(rows, r, BO_CUSTOM_ID), resp,
		    ran ? NULL : unrun_error(fs->status), &len);
	}
	free(resp);
	fs->completed += ok;
	fs->failed += !ok;
	return text == NULL ? AIF_NOMEM : put(db, b, ok ? &fs->out : &fs->err, text, len,
	    fs->retention_s);
}

/* The jobs' outcomes. */
static enum aif_err
write_jobs(struct aif_db *db, const struct aif_batch_row *b, struct files *fs)
{
	uint32_t after = 0;
	enum aif_err err = AIF_OK;

	for (;;) {
		struct aif_dbrows *rows = NULL;
		size_t got;
		if ((err = aif_batches_outcomes(db, b->id, b->input_file_id, after, PAGE,
		    &rows)) != AIF_OK)
			return err;
		for (size_t r = 0; r < rows->nrows && err == AIF_OK; r++) {
			after = (uint32_t)aif_dbrows_i64(rows, r, BO_LINE);
			err = write_outcome(db, b, fs, rows, r);
		}
		got = rows->nrows;
		aif_dbrows_free(rows);
		if (err != AIF_OK || got < PAGE)
			return err;
	}
}

/* Lines without a job (refused at admission, or never fed): rows of `fetch` a page at a
 * time (its line number in column `line_col`, its custom_id in `cid_col`), each written
 * to the error file with a `response` from response_of_row (new, or NULL) or else
 * `error`. */
struct jobless {
	enum aif_err	(*fetch)(struct aif_db *, uint64_t, uint64_t, uint32_t, size_t,
			    struct aif_dbrows **);
	size_t		 line_col, cid_col;
	char		*(*response_of_row)(struct aif_dbrows *, size_t);
	const char	*error;
};

static enum aif_err
write_jobless(struct aif_db *db, const struct aif_batch_row *b, struct files *fs,
    const struct jobless *w)
{
	uint32_t after = 0;
	enum aif_err err = AIF_OK;
	char rid[32];

	for (;;) {
		struct aif_dbrows *rows = NULL;
		size_t got;
		if ((err = w->fetch(db, b->id, b->input_file_id, after, PAGE, &rows)) != AIF_OK)
			return err;
		for (size_t r = 0; r < rows->nrows && err == AIF_OK; r++) {
			char *resp = w->response_of_row != NULL ? w->response_of_row(rows, r) :
			    NULL, *text = NULL;
			size_t len = 0;
			after = (uint32_t)aif_dbrows_i64(rows, r, w->line_col);
			if ((w->response_of_row == NULL || resp != NULL) &&
			    aif_random_id("", 24, rid, sizeof(rid)) == AIF_OK)
				text = line_text(rid, aif_dbrows_get(rows, r, w->cid_col), resp,
				    resp != NULL ? NULL : w->error, &len);
			free(resp);
			err = text == NULL ? AIF_NOMEM : put(db, b, &fs->err, text, len,
			    fs->retention_s);
			fs->failed++;
		}
		got = rows->nrows;
		aif_dbrows_free(rows);
		if (err != AIF_OK || got < PAGE)
			return err;
	}
}

/* A refused line's `response`: its status and the error it was refused with. */
static char *
refusal_response(struct aif_dbrows *rows, size_t r)
{
	char *resp = NULL;

	if (asprintf(&resp, "{\"status_code\":%d,\"request_id\":null,\"body\":%s}",
	    (int)aif_dbrows_i64(rows, r, BR_STATUS), aif_dbrows_get(rows, r, BR_BODY)) < 0)
		return NULL;
	return resp;
}

static enum aif_err
write_all(struct aif_db *db, const struct aif_batch_row *b, struct files *fs,
    uint64_t token)
{
	enum aif_err err;

	const struct jobless refused = { aif_batches_refusals, BR_LINE, BR_CUSTOM_ID,
	    refusal_response, NULL };
	/* lines that never became a job nor were refused (cancelled or expired first) */
	const struct jobless unfed = { aif_batches_unfed, FL_LINE, FL_CUSTOM_ID, NULL,
	    unrun_error(fs->status) };

	if ((err = aif_batches_lock(db, b->id, token)) != AIF_OK ||
	    (err = write_jobs(db, b, fs)) != AIF_OK ||
	    (err = write_jobless(db, b, fs, &refused)) != AIF_OK ||
	    (err = write_jobless(db, b, fs, &unfed)) != AIF_OK ||
	    (err = put_flush(db, &fs->out)) != AIF_OK ||
	    (err = put_flush(db, &fs->err)) != AIF_OK)
		return err;
	if (fs->out.row.id != 0 && (err = aif_files_set_size(db, fs->out.row.id,
	    fs->out.bytes, fs->out.lines)) != AIF_OK)
		return err;
	if (fs->err.row.id != 0 && (err = aif_files_set_size(db, fs->err.row.id,
	    fs->err.bytes, fs->err.lines)) != AIF_OK)
		return err;
	return aif_batches_finish(db, b->id, token, fs->status, fs->completed, fs->failed,
	    fs->out.row.id, fs->err.row.id);
}

int
batcher_write_files(struct aif_db *db, const struct aif_batch_row *b, const char *status,
    uint64_t token, int64_t retention_s)
{
	struct files *fs = calloc(1, sizeof(*fs));	/* 2 x PUT_ROWS lines pending */
	enum aif_err err;

	if (fs == NULL)
		return -1;
	fs->status = status;
	fs->retention_s = retention_s;
	fs->out.kind = "output";
	fs->err.kind = "error";
	if ((err = aif_db_begin(db)) == AIF_OK)
		err = aif_db_finish(db, write_all(db, b, fs, token));
	/* what did not go in (an error midway) is freed here */
	for (size_t i = 0; i < fs->out.npend; i++)
		free((char *)fs->out.pend[i].raw);
	for (size_t i = 0; i < fs->err.npend; i++)
		free((char *)fs->err.pend[i].raw);
	free(fs);
	if (err != AIF_OK) {
		aif_warn("msg=\"a batch's files were not written; the next round tries again\""
		    " batch=%s error=\"%s\"", b->public_id, aif_strerror(err));
		return -1;
	}
	return 0;
}
