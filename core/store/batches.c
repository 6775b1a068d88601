/* batches.c -- the rows of the Batch API: files and their lines, batches, the feeder's
 * lease, refusals and outcomes (batches.h, sql/020_batches.sql). Prepared statements
 * only; multi-row inserts are built from "?" markers (sqlbuf.h). */
#include <stdlib.h>
#include <string.h>

#include "batches.h"
#include "sqlbuf.h"

#define LINES_PER_INSERT	150	/* 4 parameters a row: within AIF_DB_PARAMS_MAX */
_Static_assert(4 * LINES_PER_INSERT <= AIF_DB_PARAMS_MAX, "one statement's parameters");
#define INSERT_BYTES_MAX	(4u << 20)

/* ---- files ------------------------------------------------------------------------ */

#define FILE_COLS \
	"SELECT f.id, f.public_id, f.api_key_id, f.tenant, f.purpose, f.filename, f.bytes," \
	" f.line_count, COALESCE(f.endpoint, ''), UNIX_TIMESTAMP(f.created_at)," \
	" COALESCE(UNIX_TIMESTAMP(f.expires_at), 0) FROM files f "
enum { FC_ID, FC_PUBLIC, FC_KEY, FC_TENANT, FC_PURPOSE, FC_NAME, FC_BYTES, FC_LINES,
	FC_ENDPOINT, FC_CREATED, FC_EXPIRES };

static void
file_of(const struct aif_dbrows *rows, size_t r, struct aif_file_row *f)
{
	memset(f, 0, sizeof(*f));
	f->id = (uint64_t)aif_dbrows_i64(rows, r, FC_ID);
	aif_dbrows_copy(rows, r, FC_PUBLIC, f->public_id, sizeof(f->public_id));
	f->api_key_id = (uint64_t)aif_dbrows_i64(rows, r, FC_KEY);
	aif_dbrows_copy(rows, r, FC_TENANT, f->tenant, sizeof(f->tenant));
	aif_dbrows_copy(rows, r, FC_PURPOSE, f->purpose, sizeof(f->purpose));
	aif_dbrows_copy(rows, r, FC_NAME, f->filename, sizeof(f->filename));
	f->bytes = aif_dbrows_i64(rows, r, FC_BYTES);
	f->lines = aif_dbrows_i64(rows, r, FC_LINES);
	aif_dbrows_copy(rows, r, FC_ENDPOINT, f->endpoint, sizeof(f->endpoint));
	f->created_at = aif_dbrows_i64(rows, r, FC_CREATED);
	f->expires_at = aif_dbrows_i64(rows, r, FC_EXPIRES);
}

static enum aif_err
file_query(struct aif_db *db, const char *sql, const struct aif_dbp *p, size_t np,
    struct aif_file_row *out)
{
	struct aif_dbrows *rows = NULL;
	enum aif_err err = aif_db_query(db, sql, p, np, &rows);

	if (err != AIF_OK)
		return err;
	if (rows->nrows == 0)
		err = AIF_NOTFOUND;
	else
		file_of(rows, 0, out);
	aif_dbrows_free(rows);
	return err;
}

enum aif_err
aif_files_create(struct aif_db *db, struct aif_file_row *f)
{
	static const char sql[] =
	    "INSERT INTO files (public_id, api_key_id, tenant, purpose, filename, bytes,"
	    " line_count, endpoint, expires_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''), IF(? > 0, FROM_UNIXTIME(?), NULL))";
	enum aif_err err;

	if ((err = aif_random_id("file-", 24, f->public_id, sizeof(f->public_id))) != AIF_OK)
		return err;
	struct aif_dbp p[] = { AIF_P_STR(f->public_id), AIF_P_I64(f->api_key_id),
	    AIF_P_STR(f->tenant), AIF_P_STR(f->purpose), AIF_P_STR(f->filename),
	    AIF_P_I64(f->bytes), AIF_P_I64(f->lines), AIF_P_STR(f->endpoint),
	    AIF_P_I64(f->expires_at), AIF_P_I64(f->expires_at) };
	return AIF_DB_EXEC(db, sql, p, NULL, &f->id);
}

enum aif_err
aif_files_add_lines(struct aif_db *db, uint64_t id, uint32_t first,
    const struct aif_file_line *lines, size_t n)
{
	struct aif_dbp p[4 * LINES_PER_INSERT];
	struct aif_sqlbuf sql = { 0 };
	enum aif_err err = AIF_OK;

	for (size_t at = 0, k; at < n && err == AIF_OK; at += k) {
		size_t bytes = lines[at].len;
		/* rows by count and by bytes: a statement stays well within the server's
		   max_allowed_packet (one longer line goes alone) */
		for (k = 1; at + k < n && k < LINES_PER_INSERT &&
		    bytes + lines[at + k].len <= INSERT_BYTES_MAX; k++)
			bytes += lines[at + k].len;
		aif_sqlbuf_reset(&sql);
		aif_sqlbuf_add(&sql, "INSERT INTO file_lines (file_id, line_no, custom_id, raw)"
		    " VALUES ");
		aif_sqlbuf_rows(&sql, k, 4);
		for (size_t i = 0; i < k; i++) {
			const struct aif_file_line *l = &lines[at + i];
			p[4 * i] = AIF_P_I64(id);
			p[4 * i + 1] = AIF_P_I64(first + at + i);
			p[4 * i + 2] = AIF_P_STR(l->custom_id);
			p[4 * i + 3] = AIF_P_STRN(l->raw, l->len);
		}
		if ((err = aif_sqlbuf_status(&sql)) == AIF_OK)
			err = aif_db_exec(db, aif_sqlbuf_get(&sql), p, 4 * k, NULL, NULL);
	}
	aif_sqlbuf_free(&sql);
	return err;
}

enum aif_err
aif_files_set_size(struct aif_db *db, uint64_t id, int64_t bytes, int64_t lines)
{
	static const char sql[] = "UPDATE files SET bytes = ?, line_count = ? WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(bytes), AIF_P_I64(lines), AIF_P_I64(id) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

enum aif_err
aif_files_get(struct aif_db *db, const char *public_id, uint64_t owner,
    struct aif_file_row *out)
{
	static const char sql[] = FILE_COLS
	    "WHERE f.public_id = ? AND (? = 0 OR f.api_key_id = ?)";
	struct aif_dbp p[] = { AIF_P_STR(public_id), AIF_P_I64(owner), AIF_P_I64(owner) };

	return file_query(db, sql, p, AIF_NELEM(p), out);
}

enum aif_err
aif_files_get_id(struct aif_db *db, uint64_t id, struct aif_file_row *out)
{
	static const char sql[] = FILE_COLS "WHERE f.id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };

	return file_query(db, sql, p, AIF_NELEM(p), out);
}

enum aif_err
aif_files_lines(struct aif_db *db, uint64_t id, uint32_t after, size_t limit,
    struct aif_dbrows **out)
{
	static const char sql[] = "SELECT line_no, custom_id, raw FROM file_lines"
	    " WHERE file_id = ? AND line_no > ? ORDER BY line_no LIMIT ?";
	struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_I64(after), AIF_P_I64(limit) };

	return AIF_DB_QUERY(db, sql, p, out);
}

#define OPEN_BATCH "status IN ('validating', 'in_progress', 'finalizing', 'cancelling')"

/* Deletes file id and its lines unless an open batch reads it (the caller's
 * transaction; a batch being created holds the file's row, so this waits for it and
 * then sees it, or the create finds no file): AIF_CONFLICT
 * then, that batch's public id into batch (or "" when NULL). */
static enum aif_err
file_drop(struct aif_db *db, uint64_t id, char *batch)
{
	static const char user[] = "SELECT public_id FROM batches FORCE INDEX"
	    " (ix_batches_input) WHERE input_file_id = ? AND " OPEN_BATCH
	    " LIMIT 1 LOCK IN SHARE MODE";
	static const char row[] = "DELETE FROM files WHERE id = ?";
	static const char lines[] = "DELETE FROM file_lines WHERE file_id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbrows *rows = NULL;
	uint64_t affected = 0;
	enum aif_err err;

	if ((err = AIF_DB_EXEC(db, row, p, &affected, NULL)) != AIF_OK || affected == 0)
		return err;	/* the row first: an insert of a batch of it waits on it */
	if ((err = AIF_DB_QUERY(db, user, p, &rows)) != AIF_OK)
		return err;
	if (rows->nrows > 0) {
		if (batch != NULL)
			aif_dbrows_copy(rows, 0, 0, batch, AIF_BATCH_ID_LEN + 1);
		aif_dbrows_free(rows);
		return AIF_CONFLICT;
	}
	aif_dbrows_free(rows);
	return AIF_DB_EXEC(db, lines, p, NULL, NULL);
}

enum aif_err
aif_files_delete(struct aif_db *db, uint64_t id, char *batch)
{
	enum aif_err err;

	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = file_drop(db, id, batch)) == AIF_CONFLICT) {
		aif_db_rollback(db);
		return AIF_CONFLICT;
	}
	return aif_db_finish(db, err);
}

enum aif_err
aif_files_list(struct aif_db *db, uint64_t owner, const char *purpose, uint64_t before_id,
    size_t limit, struct aif_file_row **out, size_t *n)
{
	static const char sql[] = FILE_COLS
	    "WHERE f.api_key_id = ? AND (? IS NULL OR f.purpose = ?) AND (? = 0 OR f.id < ?)"
	    " ORDER BY f.id DESC LIMIT ?";
	struct aif_dbp p[] = { AIF_P_I64(owner), AIF_P_STR(purpose), AIF_P_STR(purpose),
	    AIF_P_I64(before_id), AIF_P_I64(before_id), AIF_P_I64(limit) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*out = NULL;
	*n = 0;
	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
		return err;
	if (rows->nrows > 0 && (*out = calloc(rows->nrows, sizeof(**out))) == NULL) {
		aif_dbrows_free(rows);
		return AIF_NOMEM;
	}
	for (size_t r = 0; r < rows->nrows; r++)
		file_of(rows, r, &(*out)[r]);
	*n = rows->nrows;
	aif_dbrows_free(rows);
	return AIF_OK;
}

enum aif_err
aif_files_expire(struct aif_db *db, size_t limit, size_t *n)
{
	static const char sql[] = "SELECT id FROM files FORCE INDEX (ix_files_expires)"
	    " WHERE expires_at < NOW(6) ORDER BY expires_at LIMIT ?";
	struct aif_dbp p[] = { AIF_P_I64(limit) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*n = 0;
	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
		return err;
	for (size_t r = 0; r < rows->nrows; r++) {
		if ((err = aif_db_begin(db)) != AIF_OK)
			break;
		err = file_drop(db, (uint64_t)aif_dbrows_i64(rows, r, 0), NULL);
		if (err == AIF_CONFLICT) {	/* still read by a batch: a later run */
			aif_db_rollback(db);
			err = AIF_OK;
			continue;
		}
		if ((err = aif_db_finish(db, err)) != AIF_OK)
			break;
		(*n)++;
	}
	aif_dbrows_free(rows);
	return err;
}

/* ---- batches ---------------------------------------------------------------------- */

static enum aif_err	batch_insert(struct aif_db *, struct aif_batch_row *, int64_t);

#define BATCH_COLS \
	"SELECT b.id, b.public_id, b.api_key_id, b.tenant, b.input_file_id," \
	" COALESCE(fi.public_id, ''), COALESCE(fo.public_id, ''), COALESCE(fe.public_id, '')," \
	" b.endpoint, b.completion_window, b.status, b.metadata, b.errors, b.total, b.fed," \
	" b.completed, b.failed, UNIX_TIMESTAMP(b.created_at), UNIX_TIMESTAMP(b.expires_at)," \
	" COALESCE(UNIX_TIMESTAMP(b.in_progress_at), 0)," \
	" COALESCE(UNIX_TIMESTAMP(b.finalizing_at), 0)," \
	" COALESCE(UNIX_TIMESTAMP(b.completed_at), 0), COALESCE(UNIX_TIMESTAMP(b.failed_at), 0)," \
	" COALESCE(UNIX_TIMESTAMP(b.expired_at), 0)," \
	" COALESCE(UNIX_TIMESTAMP(b.cancelling_at), 0)," \
	" COALESCE(UNIX_TIMESTAMP(b.cancelled_at), 0)," \
	" COALESCE(FLOOR(UNIX_TIMESTAMP(b.paused_until) * 1000), 0)," \
	" FLOOR(UNIX_TIMESTAMP(NOW(6)) * 1000), COALESCE(b.ending, '')" \
	" FROM batches b LEFT JOIN files fi ON fi.id = b.input_file_id" \
	" LEFT JOIN files fo ON fo.id = b.output_file_id" \
	" LEFT JOIN files fe ON fe.id = b.error_file_id "
enum { BC_ID, BC_PUBLIC, BC_KEY, BC_TENANT, BC_INPUT_ID, BC_INPUT, BC_OUTPUT, BC_ERROR,
	BC_ENDPOINT, BC_WINDOW, BC_STATUS, BC_METADATA, BC_ERRORS, BC_TOTAL, BC_FED,
	BC_COMPLETED, BC_FAILED, BC_TIMES };
enum { BC_NTIMES = 11 };

void
aif_batch_row_clear(struct aif_batch_row *b)
{
	free(b->metadata);
	free(b->errors);
	b->metadata = b->errors = NULL;
}

void
aif_batch_rows_free(struct aif_batch_row *rows, size_t n)
{
	for (size_t i = 0; rows != NULL && i < n; i++)
		aif_batch_row_clear(&rows[i]);
	free(rows);
}

static void
batch_of(struct aif_dbrows *rows, size_t r, struct aif_batch_row *b)
{
	int64_t *t[BC_NTIMES] = { &b->created_at, &b->expires_at, &b->in_progress_at,
	    &b->finalizing_at, &b->completed_at, &b->failed_at, &b->expired_at,
	    &b->cancelling_at, &b->cancelled_at, &b->paused_until_ms, &b->now_ms };

	memset(b, 0, sizeof(*b));
	b->id = (uint64_t)aif_dbrows_i64(rows, r, BC_ID);
	aif_dbrows_copy(rows, r, BC_PUBLIC, b->public_id, sizeof(b->public_id));
	b->api_key_id = (uint64_t)aif_dbrows_i64(rows, r, BC_KEY);
	aif_dbrows_copy(rows, r, BC_TENANT, b->tenant, sizeof(b->tenant));
	b->input_file_id = (uint64_t)aif_dbrows_i64(rows, r, BC_INPUT_ID);
	aif_dbrows_copy(rows, r, BC_INPUT, b->input_file, sizeof(b->input_file));
	aif_dbrows_copy(rows, r, BC_OUTPUT, b->output_file, sizeof(b->output_file));
	aif_dbrows_copy(rows, r, BC_ERROR, b->error_file, sizeof(b->error_file));
	aif_dbrows_copy(rows, r, BC_ENDPOINT, b->endpoint, sizeof(b->endpoint));
	aif_dbrows_copy(rows, r, BC_WINDOW, b->window, sizeof(b->window));
	aif_dbrows_copy(rows, r, BC_STATUS, b->status, sizeof(b->status));
	b->metadata = aif_dbrows_steal(rows, r, BC_METADATA);
	b->errors = aif_dbrows_steal(rows, r, BC_ERRORS);
	b->total = aif_dbrows_i64(rows, r, BC_TOTAL);
	b->fed = aif_dbrows_i64(rows, r, BC_FED);
	b->completed = aif_dbrows_i64(rows, r, BC_COMPLETED);
	b->failed = aif_dbrows_i64(rows, r, BC_FAILED);
	for (size_t i = 0; i < BC_NTIMES; i++)
		*t[i] = aif_dbrows_i64(rows, r, BC_TIMES + i);
	aif_dbrows_copy(rows, r, BC_TIMES + BC_NTIMES, b->ending, sizeof(b->ending));
}

static enum aif_err
batch_query(struct aif_db *db, const char *sql, const struct aif_dbp *p, size_t np,
    struct aif_batch_row *out)
{
	struct aif_dbrows *rows = NULL;
	enum aif_err err = aif_db_query(db, sql, p, np, &rows);

	memset(out, 0, sizeof(*out));
	if (err != AIF_OK)
		return err;
	if (rows->nrows == 0)
		err = AIF_NOTFOUND;
	else
		batch_of(rows, 0, out);
	aif_dbrows_free(rows);
	return err;
}

enum aif_err
aif_batches_create(struct aif_db *db, struct aif_batch_row *b, int64_t window_s)
{
	/* the file locked while the batch goes in: a delete of it waits, then sees it */
	static const char lock[] = "SELECT id FROM files WHERE id = ? LOCK IN SHARE MODE";
	struct aif_dbp pl[] = { AIF_P_I64(b->input_file_id) };
	int64_t v = 0;
	enum aif_err err;

	if ((err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = AIF_DB_QUERY_I64(db, lock, pl, &v)) == AIF_OK)
		err = batch_insert(db, b, window_s);
	if (err == AIF_NOTFOUND) {
		aif_db_rollback(db);
		return AIF_NOTFOUND;
	}
	return aif_db_finish(db, err);
}

static enum aif_err
batch_insert(struct aif_db *db, struct aif_batch_row *b, int64_t window_s)
{
	static const char sql[] =
	    "INSERT INTO batches (public_id, api_key_id, tenant, input_file_id, endpoint,"
	    " completion_window, metadata, total, expires_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, NOW(6) + INTERVAL ? SECOND)";
	enum aif_err err;

	if ((err = aif_random_id("batch_", 24, b->public_id, sizeof(b->public_id))) != AIF_OK)
		return err;
	struct aif_dbp p[] = { AIF_P_STR(b->public_id), AIF_P_I64(b->api_key_id),
	    AIF_P_STR(b->tenant), AIF_P_I64(b->input_file_id), AIF_P_STR(b->endpoint),
	    AIF_P_STR(b->window), AIF_P_STR(b->metadata), AIF_P_I64(b->total),
	    AIF_P_I64(window_s) };
	return AIF_DB_EXEC(db, sql, p, NULL, &b->id);
}

enum aif_err
aif_batches_get(struct aif_db *db, const char *public_id, uint64_t owner,
    struct aif_batch_row *out)
{
	static const char sql[] = BATCH_COLS
	    "WHERE b.public_id = ? AND (? = 0 OR b.api_key_id = ?)";
	struct aif_dbp p[] = { AIF_P_STR(public_id), AIF_P_I64(owner), AIF_P_I64(owner) };

	return batch_query(db, sql, p, AIF_NELEM(p), out);
}

enum aif_err
aif_batches_get_id(struct aif_db *db, uint64_t id, struct aif_batch_row *out)
{
	static const char sql[] = BATCH_COLS "WHERE b.id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };

	return batch_query(db, sql, p, AIF_NELEM(p), out);
}

enum aif_err
aif_batches_list(struct aif_db *db, uint64_t owner, const char *after, size_t limit,
    struct aif_batch_row **out, size_t *n)
{
	static const char sql[] = BATCH_COLS
	    "WHERE (? = 0 OR b.api_key_id = ?) AND (? IS NULL OR b.id <"
	    " (SELECT a.id FROM batches a WHERE a.public_id = ? AND (? = 0 OR"
	    " a.api_key_id = ?))) ORDER BY b.id DESC LIMIT ?";
	struct aif_dbp p[] = { AIF_P_I64(owner), AIF_P_I64(owner), AIF_P_STR(after),
	    AIF_P_STR(after), AIF_P_I64(owner), AIF_P_I64(owner), AIF_P_I64(limit) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*out = NULL;
	*n = 0;
	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
		return err;
	if (rows->nrows > 0 && (*out = calloc(rows->nrows, sizeof(**out))) == NULL) {
		aif_dbrows_free(rows);
		return AIF_NOMEM;
	}
	for (size_t r = 0; r < rows->nrows; r++)
		batch_of(rows, r, &(*out)[r]);
	*n = rows->nrows;
	aif_dbrows_free(rows);
	return AIF_OK;
}

/* The first n integers of a query's first row into out[0..n) (0s when no row). */
static enum aif_err
row_i64(struct aif_db *db, const char *sql, const struct aif_dbp *p, size_t np,
    int64_t *out, size_t n)
{
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	memset(out, 0, n * sizeof(*out));
	if ((err = aif_db_query(db, sql, p, np, &rows)) != AIF_OK)
		return err;
	for (size_t c = 0; rows->nrows == 1 && c < n && c < rows->ncols; c++)
		out[c] = aif_dbrows_i64(rows, 0, c);
	aif_dbrows_free(rows);
	return AIF_OK;
}

enum aif_err
aif_batches_progress(struct aif_db *db, uint64_t id, int64_t *completed, int64_t *failed,
    int64_t *open)
{
	static const char sql[] =
	    "SELECT COALESCE(SUM(batch_state = 'succeeded'), 0),"
	    " COALESCE(SUM(batch_state IN ('failed', 'cancelled')), 0)"
	    " + (SELECT COUNT(*) FROM batch_refusals WHERE batch_id = ?),"
	    " COALESCE(SUM(batch_state IN ('queued', 'running', 'compensating')), 0)"
	    " FROM jobs FORCE INDEX (ix_jobs_batch_state) WHERE batch_id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_I64(id) };
	int64_t v[3];
	enum aif_err err = row_i64(db, sql, p, AIF_NELEM(p), v, 3);

	*completed = v[0];
	*failed = v[1];
	*open = v[2];
	return err;
}

enum aif_err
aif_batches_usage(struct aif_db *db, uint64_t id, int64_t *input, int64_t *output)
{
	static const char sql[] = "SELECT COALESCE(SUM(u.prompt_tokens), 0),"
	    " COALESCE(SUM(u.completion_tokens), 0) FROM jobs j"
	    " FORCE INDEX (ix_jobs_batch_state)"
	    " JOIN `usage` u ON u.job_id = j.id WHERE j.batch_id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	int64_t v[2];
	enum aif_err err = row_i64(db, sql, p, AIF_NELEM(p), v, 2);

	*input = v[0];
	*output = v[1];
	return err;
}

enum aif_err
aif_batches_lane(struct aif_db *db, uint64_t id, struct aif_batch_lane *out)
{
	static const char sql[] =
	    "SELECT batch_state, COUNT(*) FROM jobs FORCE INDEX (ix_jobs_batch_state)"
	    " WHERE batch_id = ? GROUP BY batch_state"
	    " UNION ALL SELECT 'refused', COUNT(*) FROM batch_refusals"
	    " WHERE batch_id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_I64(id) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	memset(out, 0, sizeof(*out));
	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
		return err;
	for (size_t r = 0; r < rows->nrows; r++) {
		const char *st = aif_dbrows_get(rows, r, 0);
		int64_t n = aif_dbrows_i64(rows, r, 1);
		if (st == NULL)
			continue;
		if (strcmp(st, "queued") == 0)
			out->queued += n;
		else if (strcmp(st, "running") == 0 || strcmp(st, "compensating") == 0)
			out->running += n;
		else if (strcmp(st, "succeeded") == 0)
			out->succeeded += n;
		else if (strcmp(st, "failed") == 0)
			out->failed += n;
		else if (strcmp(st, "cancelled") == 0)
			out->cancelled += n;
		else if (strcmp(st, "refused") == 0)
			out->refused += n;
	}
	aif_dbrows_free(rows);
	return AIF_OK;
}

enum aif_err
aif_batches_cancel(struct aif_db *db, uint64_t id, char *status)
{
	static const char upd[] = "UPDATE batches SET status = 'cancelling',"
	    " cancelling_at = NOW(6) WHERE id = ? AND status IN ('validating', 'in_progress')";
	static const char now[] = "SELECT status FROM batches WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbrows *rows = NULL;
	uint64_t affected = 0;
	enum aif_err err;

	status[0] = '\0';
	if ((err = AIF_DB_EXEC(db, upd, p, &affected, NULL)) != AIF_OK || affected == 1)
		return err;
	if ((err = AIF_DB_QUERY(db, now, p, &rows)) != AIF_OK)
		return err;
	if (rows->nrows == 0)
		err = AIF_NOTFOUND;
	else {
		aif_dbrows_copy(rows, 0, 0, status, 16);
		err = AIF_CONFLICT;
	}
	aif_dbrows_free(rows);
	return err;
}

/* ---- the feeder ------------------------------------------------------------------- */

#define OPEN_LEASABLE "status IN ('validating', 'in_progress', 'finalizing', 'cancelling')"

enum aif_err
aif_batches_lease(struct aif_db *db, uint64_t token, int lease_s, uint64_t *ids,
    size_t cap, size_t *n)
{
	/* the free ones, oldest first, up to cap with those held already */
	static const char held[] = "SELECT COUNT(*) FROM batches FORCE INDEX"
	    " (ix_batches_status) WHERE " OPEN_LEASABLE " AND feeder_token = ?"
	    " AND feeder_until >= NOW(6)";
	static const char take[] = "UPDATE batches SET feeder_token = ?,"
	    " feeder_until = NOW(6) + INTERVAL ? SECOND WHERE " OPEN_LEASABLE
	    " AND (feeder_until IS NULL OR feeder_until < NOW(6)) ORDER BY id LIMIT ?";
	static const char mine[] = "SELECT id FROM batches FORCE INDEX (ix_batches_status)"
	    " WHERE " OPEN_LEASABLE " AND feeder_token = ? AND feeder_until >= NOW(6)"
	    " ORDER BY id LIMIT ?";
	struct aif_dbp ph[] = { AIF_P_I64(token) };
	struct aif_dbp pm[] = { AIF_P_I64(token), AIF_P_I64(cap) };
	struct aif_dbrows *rows = NULL;
	int64_t have = 0;
	enum aif_err err;

	*n = 0;
	if ((err = AIF_DB_QUERY_I64(db, held, ph, &have)) != AIF_OK && err != AIF_NOTFOUND)
		return err;
	if (have < (int64_t)cap) {
		struct aif_dbp pt[] = { AIF_P_I64(token), AIF_P_I64(lease_s),
		    AIF_P_I64((int64_t)cap - have) };
		if ((err = AIF_DB_EXEC(db, take, pt, NULL, NULL)) != AIF_OK)
			return err;
	}
	if ((err = AIF_DB_QUERY(db, mine, pm, &rows)) != AIF_OK)
		return err;
	for (size_t r = 0; r < rows->nrows && *n < cap; r++)
		ids[(*n)++] = (uint64_t)aif_dbrows_i64(rows, r, 0);
	aif_dbrows_free(rows);
	return AIF_OK;
}

enum aif_err
aif_batches_renew(struct aif_db *db, uint64_t id, uint64_t token, int lease_s)
{
	/* a write only once half of the lease is gone; else a read says it holds */
	static const char upd[] = "UPDATE batches SET feeder_until = NOW(6) + INTERVAL ?"
	    " SECOND WHERE id = ? AND feeder_token = ? AND feeder_until >= NOW(6)"
	    " AND feeder_until < NOW(6) + INTERVAL ? SECOND";
	static const char held[] = "SELECT COUNT(*) FROM batches WHERE id = ?"
	    " AND feeder_token = ? AND feeder_until >= NOW(6)";
	struct aif_dbp p[] = { AIF_P_I64(lease_s), AIF_P_I64(id), AIF_P_I64(token),
	    AIF_P_I64(lease_s / 2) };
	struct aif_dbp ph[] = { AIF_P_I64(id), AIF_P_I64(token) };
	uint64_t affected = 0;
	int64_t n = 0;
	enum aif_err err = AIF_DB_EXEC(db, upd, p, &affected, NULL);

	if (err != AIF_OK || affected == 1)
		return err;
	if ((err = AIF_DB_QUERY_I64(db, held, ph, &n)) != AIF_OK)
		return err;
	return n == 1 ? AIF_OK : AIF_NOTFOUND;
}

enum aif_err
aif_batches_release(struct aif_db *db, uint64_t token)
{
	static const char sql[] = "UPDATE batches SET feeder_until = NULL"
	    " WHERE feeder_token = ? AND feeder_until IS NOT NULL";
	struct aif_dbp p[] = { AIF_P_I64(token) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

enum aif_err
aif_batches_lock(struct aif_db *db, uint64_t id, uint64_t token)
{
	static const char sql[] = "SELECT id FROM batches WHERE id = ? AND feeder_token = ?"
	    " AND status = 'finalizing' FOR UPDATE";
	struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_I64(token) };
	int64_t v = 0;

	return AIF_DB_QUERY_I64(db, sql, p, &v);
}

enum aif_err
aif_batches_open(struct aif_db *db, uint64_t id, int *open)
{
	static const char sql[] = "SELECT EXISTS(SELECT 1 FROM jobs FORCE INDEX"
	    " (ix_jobs_batch_state) WHERE batch_id = ?"
	    " AND batch_state IN ('queued', 'running', 'compensating'))";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	int64_t v = 1;
	enum aif_err err = AIF_DB_QUERY_I64(db, sql, p, &v);

	*open = v != 0;
	return err;
}

enum aif_err
aif_batches_unfed(struct aif_db *db, uint64_t id, uint64_t file_id, uint32_t after,
    size_t limit, struct aif_dbrows **out)
{
	static const char sql[] = "SELECT l.line_no, l.custom_id, l.raw FROM file_lines l"
	    " WHERE l.file_id = ? AND l.line_no > ?"
	    " AND NOT EXISTS (SELECT 1 FROM jobs j FORCE INDEX (uq_jobs_batch_line)"
	    " WHERE j.batch_id = ? AND j.batch_line = l.line_no)"
	    " AND NOT EXISTS (SELECT 1 FROM batch_refusals r WHERE r.batch_id = ?"
	    " AND r.line_no = l.line_no) ORDER BY l.line_no LIMIT ?";
	struct aif_dbp p[] = { AIF_P_I64(file_id), AIF_P_I64(after), AIF_P_I64(id),
	    AIF_P_I64(id), AIF_P_I64(limit) };

	return AIF_DB_QUERY(db, sql, p, out);
}

/* The column a status's time is kept in (static), or NULL. */
static const char *
status_column(const char *status)
{
	static const char *const cols[][2] = {
		{ "in_progress", "in_progress_at" }, { "finalizing", "finalizing_at" },
		{ "completed", "completed_at" }, { "failed", "failed_at" },
		{ "expired", "expired_at" }, { "cancelling", "cancelling_at" },
		{ "cancelled", "cancelled_at" },
	};

	for (size_t i = 0; i < AIF_NELEM(cols); i++)
		if (strcmp(cols[i][0], status) == 0)
			return cols[i][1];
	return NULL;
}

enum aif_err
aif_batches_move(struct aif_db *db, uint64_t id, uint64_t token, const char *from,
    const char *to)
{
	const char *col = status_column(to);
	struct aif_sqlbuf sql = { 0 };
	struct aif_dbp p[] = { AIF_P_STR(to), AIF_P_I64(id), AIF_P_I64(token),
	    AIF_P_STR(from) };
	uint64_t affected = 0;
	enum aif_err err;

	if (col == NULL)
		return AIF_INVALID;
	/* the column name is one of the fixed names above, never input */
	aif_sqlbuf_add(&sql, "UPDATE batches SET status = ?, ");
	aif_sqlbuf_add(&sql, col);
	aif_sqlbuf_add(&sql, " = COALESCE(");
	aif_sqlbuf_add(&sql, col);
	aif_sqlbuf_add(&sql, ", NOW(6)) WHERE id = ? AND feeder_token = ? AND status = ?");
	if ((err = aif_sqlbuf_status(&sql)) == AIF_OK)
		err = aif_db_exec(db, aif_sqlbuf_get(&sql), p, AIF_NELEM(p), &affected, NULL);
	aif_sqlbuf_free(&sql);
	return err == AIF_OK && affected != 1 ? AIF_NOTFOUND : err;
}

enum aif_err
aif_batches_finalize(struct aif_db *db, uint64_t id, uint64_t token, const char *from,
    const char *ending)
{
	static const char sql[] = "UPDATE batches SET status = 'finalizing', ending = ?,"
	    " finalizing_at = NOW(6) WHERE id = ? AND feeder_token = ? AND status = ?";
	struct aif_dbp p[] = { AIF_P_STR(ending), AIF_P_I64(id), AIF_P_I64(token),
	    AIF_P_STR(from) };
	uint64_t affected = 0;
	enum aif_err err = AIF_DB_EXEC(db, sql, p, &affected, NULL);

	return err == AIF_OK && affected != 1 ? AIF_NOTFOUND : err;
}

enum aif_err
aif_batches_fed(struct aif_db *db, uint64_t id, uint64_t token, int64_t fed)
{
	static const char sql[] = "UPDATE batches SET fed = GREATEST(fed, ?),"
	    " paused_until = NULL WHERE id = ? AND feeder_token = ?";
	struct aif_dbp p[] = { AIF_P_I64(fed), AIF_P_I64(id), AIF_P_I64(token) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

enum aif_err
aif_batches_pause(struct aif_db *db, uint64_t id, int64_t ms)
{
	static const char sql[] = "UPDATE batches SET paused_until = NOW(6) +"
	    " INTERVAL ? MICROSECOND WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(ms * 1000), AIF_P_I64(id) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

enum aif_err
aif_batches_refuse(struct aif_db *db, uint64_t id, uint32_t line, int status,
    const char *body)
{
	static const char sql[] = "INSERT IGNORE INTO batch_refusals (batch_id, line_no,"
	    " status_code, body) VALUES (?, ?, ?, ?)";
	struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_I64(line), AIF_P_I64(status),
	    AIF_P_STR(body) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

enum aif_err
aif_batches_lane_depth(struct aif_db *db, uint64_t id, int64_t *n)
{
	static const char sql[] = "SELECT COUNT(*) FROM jobs"
	    " FORCE INDEX (ix_jobs_batch_state)"
	    " WHERE batch_id = ? AND batch_state = 'queued'";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	enum aif_err err = AIF_DB_QUERY_I64(db, sql, p, n);

	return err == AIF_NOTFOUND ? AIF_OK : err;
}

enum aif_err
aif_batches_queued(struct aif_db *db, uint64_t id, uint64_t *ids, size_t cap, size_t *n)
{
	static const char sql[] = "SELECT id FROM jobs FORCE INDEX (ix_jobs_batch_state)"
	    " WHERE batch_id = ? AND batch_state = 'queued' ORDER BY id LIMIT ?";
	struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_I64(cap) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*n = 0;
	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
		return err;
	for (size_t r = 0; r < rows->nrows && *n < cap; r++)
		ids[(*n)++] = (uint64_t)aif_dbrows_i64(rows, r, 0);
	aif_dbrows_free(rows);
	return AIF_OK;
}

enum aif_err
aif_batches_outcomes(struct aif_db *db, uint64_t id, uint64_t file_id, uint32_t after,
    size_t limit, struct aif_dbrows **out)
{
	static const char sql[] =
	    "SELECT j.batch_line, l.custom_id, j.public_id, j.state,"
	    " COALESCE(j.http_status, 0), j.response_body, j.error_type, j.error_code,"
	    " j.error_message, j.started_at IS NOT NULL"
	    " FROM jobs j FORCE INDEX (uq_jobs_batch_line)"
	    " LEFT JOIN file_lines l ON l.file_id = ? AND l.line_no = j.batch_line"
	    " WHERE j.batch_id = ? AND j.batch_line > ? ORDER BY j.batch_line LIMIT ?";
	struct aif_dbp p[] = { AIF_P_I64(file_id), AIF_P_I64(id), AIF_P_I64(after),
	    AIF_P_I64(limit) };

	return AIF_DB_QUERY(db, sql, p, out);
}

enum aif_err
aif_batches_refusals(struct aif_db *db, uint64_t id, uint64_t file_id, uint32_t after,
    size_t limit, struct aif_dbrows **out)
{
	static const char sql[] =
	    "SELECT r.line_no, l.custom_id, r.status_code, r.body FROM batch_refusals r"
	    " LEFT JOIN file_lines l ON l.file_id = ? AND l.line_no = r.line_no"
	    " WHERE r.batch_id = ? AND r.line_no > ? ORDER BY r.line_no LIMIT ?";
	struct aif_dbp p[] = { AIF_P_I64(file_id), AIF_P_I64(id), AIF_P_I64(after),
	    AIF_P_I64(limit) };

	return AIF_DB_QUERY(db, sql, p, out);
}

enum aif_err
aif_batches_finish(struct aif_db *db, uint64_t id, uint64_t token, const char *status,
    int64_t completed, int64_t failed, uint64_t output_file, uint64_t error_file)
{
	const char *col = status_column(status);
	struct aif_sqlbuf sql = { 0 };
	struct aif_dbp p[] = { AIF_P_STR(status), AIF_P_I64(completed), AIF_P_I64(failed),
	    output_file ? AIF_P_I64(output_file) : AIF_P_NULL(),
	    error_file ? AIF_P_I64(error_file) : AIF_P_NULL(), AIF_P_I64(id),
	    AIF_P_I64(token) };
	uint64_t affected = 0;
	enum aif_err err;

	if (col == NULL)
		return AIF_INVALID;
	aif_sqlbuf_add(&sql, "UPDATE batches SET status = ?, completed = ?, failed = ?,"
	    " output_file_id = ?, error_file_id = ?, feeder_token = NULL, feeder_until = NULL, ");
	aif_sqlbuf_add(&sql, col);	/* a fixed name (status_column), never input */
	aif_sqlbuf_add(&sql, " = NOW(6) WHERE id = ? AND feeder_token = ?"
	    " AND status = 'finalizing'");
	if ((err = aif_sqlbuf_status(&sql)) == AIF_OK)
		err = aif_db_exec(db, aif_sqlbuf_get(&sql), p, AIF_NELEM(p), &affected, NULL);
	aif_sqlbuf_free(&sql);
	return err == AIF_OK && affected != 1 ? AIF_NOTFOUND : err;
}

enum aif_err
aif_batches_fail(struct aif_db *db, uint64_t id, uint64_t token, const char *errors)
{
	static const char sql[] = "UPDATE batches SET status = 'failed', failed_at = NOW(6),"
	    " errors = ?, feeder_token = NULL, feeder_until = NULL"
	    " WHERE id = ? AND feeder_token = ? AND status = 'validating'";
	struct aif_dbp p[] = { AIF_P_STR(errors), AIF_P_I64(id), AIF_P_I64(token) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}
