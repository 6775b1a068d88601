/* batches.h -- the rows of OpenAI's Batch API (docs/BATCH.md, sql/020_batches.sql):
 * uploaded and written files with their lines, batches with their status and progress,
 * the feeder's lease on a batch, lines refused at admission, and what a finished batch
 * writes its output and error files from. Reading is scoped to an owner (a key's
 * lineage) wherever a client asks; 0 means any (operators). Report rows are read
 * through the enums next to each statement. */
#ifndef AIF_BATCHES_H
#define AIF_BATCHES_H

#include <stddef.h>
#include <stdint.h>

#include "batchfile.h"
#include "db.h"
#include "err.h"


/* A file's row. */
struct aif_file_row {
	uint64_t	 id;
	char		 public_id[AIF_FILE_ID_LEN + 1];
	uint64_t	 api_key_id;		/* the owner key's lineage */
	char		 tenant[129];
	char		 purpose[17];		/* "batch" or "batch_output" */
	char		 filename[AIF_FILENAME_MAX + 1];
	int64_t		 bytes;
	int64_t		 lines;
	char		 endpoint[AIF_BATCH_ENDPOINT_MAX + 1];	/* "" when none */
	int64_t		 created_at;		/* unix seconds */
	int64_t		 expires_at;		/* unix seconds, 0: never */
};

/* Inserts f's row (f->public_id is drawn here; f->id set) in the caller's transaction,
 * with expires_at f->expires_at (0: none). */
enum aif_err	aif_files_create(struct aif_db *db, struct aif_file_row *f);
/* Appends lines[0..n) to file id as lines first, first + 1, ... (caller's transaction;
 * any n: written in statements of up to 150 rows and 4 MiB, a longer line alone). */
enum aif_err	aif_files_add_lines(struct aif_db *db, uint64_t id, uint32_t first,
		    const struct aif_file_line *lines, size_t n);
/* Sets a written file's size once its lines are in. */
enum aif_err	aif_files_set_size(struct aif_db *db, uint64_t id, int64_t bytes,
		    int64_t lines);
/* The file public_id of owner (0: any): AIF_NOTFOUND when there is none. */
enum aif_err	aif_files_get(struct aif_db *db, const char *public_id, uint64_t owner,
		    struct aif_file_row *out);
/* The file of row id. */
enum aif_err	aif_files_get_id(struct aif_db *db, uint64_t id, struct aif_file_row *out);
/* Lines after line `after` of file id, up to limit, in order: *out new, columns as
 * FL_* (line_no, custom_id, raw). */
enum { FL_LINE, FL_CUSTOM_ID, FL_RAW };
enum aif_err	aif_files_lines(struct aif_db *db, uint64_t id, uint32_t after,
		    size_t limit, struct aif_dbrows **out);
/* Deletes file id and its lines, unless it is the input of a batch that has not ended
 * (checked in the deleting transaction): AIF_CONFLICT then, its public id into batch
 * (AIF_BATCH_ID_LEN + 1). */
enum aif_err	aif_files_delete(struct aif_db *db, uint64_t id, char *batch);
/* Files of owner newest first, of one purpose (NULL: any), ids below before_id (0: from
 * the newest), up to limit: *out new with *n rows (calloc'd array, free). */
enum aif_err	aif_files_list(struct aif_db *db, uint64_t owner, const char *purpose,
		    uint64_t before_id, size_t limit, struct aif_file_row **out, size_t *n);
/* Retention: deletes up to `limit` files past their expires_at, each in a transaction
 * of its own unless the input of an open batch (left for a later run); *n how many. */
enum aif_err	aif_files_expire(struct aif_db *db, size_t limit, size_t *n);

/* A batch's row, with the public ids of its files and its progress. */
struct aif_batch_row {
	uint64_t	 id;
	char		 public_id[AIF_BATCH_ID_LEN + 1];
	uint64_t	 api_key_id;
	char		 tenant[129];
	uint64_t	 input_file_id;
	char		 input_file[AIF_FILE_ID_LEN + 1];
	char		 output_file[AIF_FILE_ID_LEN + 1];	/* "" when none */
	char		 error_file[AIF_FILE_ID_LEN + 1];	/* "" when none */
	char		 endpoint[AIF_BATCH_ENDPOINT_MAX + 1];
	char		 window[17];
	char		 status[16];
	char		*metadata;		/* JSON text or NULL (owned: free) */
	char		*errors;		/* JSON text or NULL (owned: free) */
	int64_t		 total, fed, completed, failed;	/* completed/failed: final */
	/* unix seconds, 0: not yet */
	int64_t		 created_at, expires_at, in_progress_at, finalizing_at,
			 completed_at, failed_at, expired_at, cancelling_at, cancelled_at;
	int64_t		 paused_until_ms;	/* unix ms, 0: none */
	char		 ending[16];		/* finalizing: the status it ends in */
	int64_t		 now_ms;		/* the database's clock when read */
};
void		aif_batch_row_clear(struct aif_batch_row *b);

/* Inserts b (public_id drawn here, id set; status validating, expires_at = now +
 * window_s) with its input file locked: AIF_NOTFOUND when the file is gone. */
enum aif_err	aif_batches_create(struct aif_db *db, struct aif_batch_row *b,
		    int64_t window_s);
/* The batch public_id of owner (0: any), or row id (public_id NULL). */
enum aif_err	aif_batches_get(struct aif_db *db, const char *public_id, uint64_t owner,
		    struct aif_batch_row *out);
enum aif_err	aif_batches_get_id(struct aif_db *db, uint64_t id, struct aif_batch_row *out);
/* Batches of owner (0: all) newest first, after the batch `after` (public id or NULL),
 * up to limit: *out (calloc'd, aif_batch_rows_free) with *n rows. */
enum aif_err	aif_batches_list(struct aif_db *db, uint64_t owner, const char *after,
		    size_t limit, struct aif_batch_row **out, size_t *n);
void		aif_batch_rows_free(struct aif_batch_row *rows, size_t n);
/* Progress now: lines done and failed so far (jobs final, refusals), and jobs of it
 * not final yet (queued or running). */
enum aif_err	aif_batches_progress(struct aif_db *db, uint64_t id, int64_t *completed,
		    int64_t *failed, int64_t *open);
/* The tokens batch id's lines used so far: the sums of their usage rows. */
enum aif_err	aif_batches_usage(struct aif_db *db, uint64_t id, int64_t *input,
		    int64_t *output);
/* Batch id's jobs by state and its lines refused at admission (operators' view). */
struct aif_batch_lane {
	int64_t	 queued, running, succeeded, failed, cancelled, refused;
};
enum aif_err	aif_batches_lane(struct aif_db *db, uint64_t id, struct aif_batch_lane *out);
/* Asks batch id to stop: cancelling when validating or in progress. AIF_CONFLICT
 * otherwise (its status into status, 16 bytes). */
enum aif_err	aif_batches_cancel(struct aif_db *db, uint64_t id, char *status);

/* ---- the feeder (fcgi-app/batcher.c) ---------------------------------------------- */

/* Leases for lease_s seconds, under token, the oldest open batches (validating, in
 * progress, finalizing, cancelling) no feeder holds, up to cap with those token holds
 * already: the ids token holds into ids (cap), *n. */
enum aif_err	aif_batches_lease(struct aif_db *db, uint64_t token, int lease_s,
		    uint64_t *ids, size_t cap, size_t *n);
/* Renews token's lease of batch id for lease_s seconds before a step: AIF_NOTFOUND
 * when it lapsed (another feeder may hold it now: the step is not taken). */
enum aif_err	aif_batches_renew(struct aif_db *db, uint64_t id, uint64_t token,
		    int lease_s);
/* Gives up every lease token holds (a feeder that stops). */
enum aif_err	aif_batches_release(struct aif_db *db, uint64_t token);
/* Locks batch id's row while it is finalizing under token (the caller's transaction):
 * a feeder that would take the lease over waits until it commits. AIF_NOTFOUND when
 * the lease or the status is not that any more. */
enum aif_err	aif_batches_lock(struct aif_db *db, uint64_t id, uint64_t token);
/* Whether batch id has a job not final yet (queued, running, compensating). */
enum aif_err	aif_batches_open(struct aif_db *db, uint64_t id, int *open);
/* The lines after `after` of batch id's input file (file_id) that have neither a job
 * nor a refusal, up to limit, in order: *out new, columns FL_*. */
enum aif_err	aif_batches_unfed(struct aif_db *db, uint64_t id, uint64_t file_id,
		    uint32_t after, size_t limit, struct aif_dbrows **out);
/* Moves batch id from `from` to finalizing under token's lease, to end as `ending`
 * (completed, expired, cancelled). AIF_NOTFOUND when the lease or status changed. */
enum aif_err	aif_batches_finalize(struct aif_db *db, uint64_t id, uint64_t token,
		    const char *from, const char *ending);
/* Moves batch id from status `from` to `to` under token's lease (the column
 * <to>_at set now); AIF_NOTFOUND when the lease or the status is not that any more. */
enum aif_err	aif_batches_move(struct aif_db *db, uint64_t id, uint64_t token,
		    const char *from, const char *to);
/* Records that lines up to `fed` became jobs or were refused (never goes back). */
enum aif_err	aif_batches_fed(struct aif_db *db, uint64_t id, uint64_t token, int64_t fed);
/* Holds batch id's next lines for ms milliseconds (a rate limit). */
enum aif_err	aif_batches_pause(struct aif_db *db, uint64_t id, int64_t ms);
/* Records line `line` of batch id refused with an HTTP status and its error object
 * (JSON text); a line recorded already stays as it was. */
enum aif_err	aif_batches_refuse(struct aif_db *db, uint64_t id, uint32_t line,
		    int status, const char *body);
/* Lines of batch id queued now (its depth in the lane). */
enum aif_err	aif_batches_lane_depth(struct aif_db *db, uint64_t id, int64_t *n);
/* Up to cap jobs of batch id still queued: ids into ids, *n. */
enum aif_err	aif_batches_queued(struct aif_db *db, uint64_t id, uint64_t *ids,
		    size_t cap, size_t *n);
/* The outcome of batch id's jobs with lines after `after`, in line order, up to limit:
 * *out new, columns as BO_*. */
enum { BO_LINE, BO_CUSTOM_ID, BO_PUBLIC_ID, BO_STATE, BO_STATUS, BO_BODY, BO_ERR_TYPE,
	BO_ERR_CODE, BO_ERR_MESSAGE, BO_STARTED };
enum aif_err	aif_batches_outcomes(struct aif_db *db, uint64_t id, uint64_t file_id,
		    uint32_t after, size_t limit, struct aif_dbrows **out);
/* Lines of batch id refused at admission after `after`: columns BR_*. */
enum { BR_LINE, BR_CUSTOM_ID, BR_STATUS, BR_BODY };
enum aif_err	aif_batches_refusals(struct aif_db *db, uint64_t id, uint64_t file_id,
		    uint32_t after, size_t limit, struct aif_dbrows **out);
/* Ends batch id (status finalizing under token's lease) as `status` with its final
 * counts and files (0: none), in the caller's transaction. */
enum aif_err	aif_batches_finish(struct aif_db *db, uint64_t id, uint64_t token,
		    const char *status, int64_t completed, int64_t failed,
		    uint64_t output_file, uint64_t error_file);
/* Fails batch id (validating) with errors (a JSON list object). */
enum aif_err	aif_batches_fail(struct aif_db *db, uint64_t id, uint64_t token,
		    const char *errors);

#endif
