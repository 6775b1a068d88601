/* batcher.c -- the batch feeder of one aif-api process (docs/BATCH.md). Every
 * batch.poll_interval (or when poked) it leases the open batches no other feeder holds
 * (batches.feeder_token: a lease checked before each step and each insert, and renewed
 * once half of it is gone, so a process that dies hands its batches on) and moves each
 * along:
 *
 *   validating  -> in_progress   (its input file is still there)
 *   in_progress -> lines fed while fewer than batch.lane_depth of its lines are
 *                  queued in the batch lane (priority -1): each line with neither a
 *                  job nor a refusal admitted as a request of the batch's owner would
 *                  be (admit_line: role, PII, guardrails, the batch lane's rate
 *                  limits, budget) and inserted as a job (jobs(batch_id, batch_line)
 *                  is unique: a line fed twice is one job), or refused with its error
 *   cancelling, or past expires_at -> queued lines cancelled, running ones finish
 *   -> finalizing once no job of it is open -> the output and error files written in
 *      one transaction with the final counts -> completed | expired | cancelled
 *
 * One thread, its own database connection; the requests' config is taken per round. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "batches.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"

#define LEASED_MAX	64	/* batches one feeder moves along at once */
#define LEASE_S		15
#define FEED_MAX	512	/* lines one batch is fed per round */
#define CANCEL_PAGE	256
#define FINISH_RETRY_MS	5000	/* a batch whose files could not be written waits */

struct batcher {
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 stop, poked;
	uint64_t	 token;		/* this feeder's lease token */
	struct aif_db	*db;
	struct api	*api;
};

/* ---- feeding ----------------------------------------------------------------------- */

/* Lines admitted and waiting for their insert. */
struct pending {
	struct admission	*adm[AIF_ENQUEUE_BATCH_MAX];
	struct aif_job_new	 jobs[AIF_ENQUEUE_BATCH_MAX];
	uint32_t		 line[AIF_ENQUEUE_BATCH_MAX];
	size_t			 n;
};

/* Records line `line` refused with err (its error object as a client gets it). */
static enum aif_err
refuse(struct aif_db *db, uint64_t batch, uint32_t line, const struct aif_error *err)
{
	char *body = aif_error_render(err, AIF_SURFACE_OPENAI);
	enum aif_err e;

	if (body == NULL)
		return AIF_NOMEM;
	e = aif_batches_refuse(db, batch, line, err->status, body);
	free(body);
	aif_metrics_add("aif_batch_lines_total", "result=\"refused\"", 1);
	return e;
}

/* Inserts the pending jobs in one statement. AIF_OK when every line is settled: a job,
 * or refused (a budget that cannot hold it while no job of the batch holds a part of
 * it; data the database cannot store). Otherwise the line waits for a later round: a
 * budget full of the batch's own holds (*wait_ms set), a conflict (its job may exist
 * already: that round's look at the unfed lines tells), the database. */
static enum aif_err
flush(struct aif_db *db, uint64_t batch, uint64_t token, struct pending *p,
    int64_t *wait_ms)
{
	uint64_t ids[AIF_ENQUEUE_BATCH_MAX];
	char pids[AIF_ENQUEUE_BATCH_MAX][AIF_JOB_ID_LEN + 1];
	enum aif_err errs[AIF_ENQUEUE_BATCH_MAX], out = AIF_OK, e = AIF_OK;
	int handed[AIF_ENQUEUE_BATCH_MAX], open = 1;
	struct aif_error why;

	if (p->n == 0)
		return AIF_OK;
	/* still this feeder's batch (a slow round may have lost it): else nothing goes in */
	if ((out = aif_batches_renew(db, batch, token, LEASE_S)) != AIF_OK) {
		for (size_t i = 0; i < p->n; i++)
			admit_line_free(p->adm[i]);
		p->n = 0;
		return out;
	}
	(void)aif_queue_enqueue_batch(db, p->jobs, p->n, ids, pids, errs, handed);
	for (size_t i = 0; i < p->n; i++) {
		switch (errs[i]) {
		case AIF_OK:
			aif_metrics_add("aif_batch_lines_total", "result=\"queued\"", 1);
			continue;
		case AIF_FORBIDDEN:
			if (aif_batches_open(db, batch, &open) != AIF_OK || open) {
				/* its own holds come back as its lines end */
				*wait_ms = *wait_ms > 1000 ? *wait_ms : 1000;
				out = AIF_CONFLICT;
				continue;
			}
			AIF_ERROR0(&why, AIF_E_INSUFFICIENT_QUOTA, NULL);
			break;
		case AIF_DB:
		case AIF_TOOBIG:
			AIF_ERROR0(&why, AIF_E_REQUEST_NOT_STORABLE, NULL);
			break;
		default:
			/* a conflict or the database: a later round looks again */
			*wait_ms = *wait_ms > 200 ? *wait_ms : 200;
			out = errs[i];
			continue;
		}
		if ((e = refuse(db, batch, p->line[i], &why)) != AIF_OK)
			out = e;
	}
	for (size_t i = 0; i < p->n; i++)
		admit_line_free(p->adm[i]);
	p->n = 0;
	return out;
}

/* The request a batch's lines are admitted as: no HTTP, the round's config. */
static void
line_req(struct batcher *bt, struct cfg_holder *h, const struct aif_batch_row *b,
    struct req *r)
{
	memset(r, 0, sizeof(*r));
	r->api = bt->api;
	r->cfg = h->cfg;
	r->pii = h->pii;
	r->guards = h->guards;
	r->db = bt->db;
	r->reply.surface = AIF_SURFACE_OPENAI;
	r->reply.route = "batch";
	aif_strlcpy(r->reply.request_id, b->public_id, sizeof(r->reply.request_id));
}

/* One line: admitted into p, or refused. 0 settled (or pending), 1 wait (*wait_ms),
 * -1 stop this round. */
static int
feed_line(struct req *r, const struct aif_principal *who, const struct aif_role *role,
    const struct aif_batch_row *b, struct aif_dbrows *rows, size_t i, struct pending *p,
    int64_t *wait_ms)
{
	uint32_t line = (uint32_t)aif_dbrows_i64(rows, i, FL_LINE);
	size_t blen = 0;
	char *body = aif_batchfile_body(aif_dbrows_get(rows, i, FL_RAW),
	    rows->lens[i * rows->ncols + FL_RAW], &blen);
	struct line_in in = { .body = body, .len = blen,
	    .kind = aif_batchfile_kind(b->endpoint), .batch_id = b->id, .line = line };
	struct aif_error e;
	enum line_verdict v;

	if (body == NULL) {
		AIF_ERROR0(&e, AIF_E_BODY_UNREADABLE, NULL);
		return refuse(r->db, b->id, line, &e) == AIF_OK ? 0 : -1;
	}
	v = admit_line(r, who, role, &in, &p->adm[p->n], &p->jobs[p->n], &e, wait_ms);
	free(body);
	switch (v) {
	case LINE_JOB:
		p->line[p->n++] = line;
		return 0;
	case LINE_REFUSED:
		return refuse(r->db, b->id, line, &e) == AIF_OK ? 0 : -1;
	case LINE_WAIT:
		return 1;
	case LINE_FAILED:
		/* the database: the round stops; anything else would fail the line
		   again each round: it is refused with what it got */
		if (e.status == 503)
			break;
		return refuse(r->db, b->id, line, &e) == AIF_OK ? 0 : -1;
	}
	return -1;
}

/* Feeds up to n of b's unfed lines after b->fed; *fed gets the line before the first
 * one not settled (every line up to it has a job or a refusal). */
static void
feed_lines(struct req *r, const struct aif_principal *who, const struct aif_role *role,
    const struct aif_batch_row *b, uint64_t token, size_t n, int64_t *fed, int64_t *wait_ms)
{
	struct aif_dbrows *rows = NULL;
	struct pending p = { .n = 0 };
	int64_t settled = b->fed, first_pending = 0, stop = 0;

	if (aif_batches_unfed(r->db, b->id, b->input_file_id, (uint32_t)b->fed, n,
	    &rows) != AIF_OK)
		return;
	for (size_t i = 0; i < rows->nrows && stop == 0; i++) {
		int64_t line = aif_dbrows_i64(rows, i, FL_LINE);
		if (p.n == 0)
			first_pending = line;
		if (feed_line(r, who, role, b, rows, i, &p, wait_ms) != 0)
			stop = line;		/* this line waits */
		else if (p.n == 0)
			settled = line;		/* refused, nothing pending */
		else if (p.n == AIF_ENQUEUE_BATCH_MAX || i + 1 == rows->nrows)
			settled = flush(r->db, b->id, token, &p, wait_ms) == AIF_OK ? line :
			    (stop = first_pending) - 1;
	}
	/* a stop with lines pending: those admitted go in, the rest waits */
	if (p.n > 0)
		settled = flush(r->db, b->id, token, &p, wait_ms) == AIF_OK ? stop - 1 :
		    first_pending - 1;
	if (stop == 0 && rows->nrows < n)
		settled = b->total;	/* no unfed line left */
	aif_dbrows_free(rows);
	*fed = settled;
}

/* Every unfed line of b refused with err (the owner's key is gone); the last line
 * settled. */
static int64_t
refuse_rest(struct aif_db *db, const struct aif_batch_row *b, const struct aif_error *err)
{
	struct aif_dbrows *rows = NULL;
	int64_t line = b->fed;

	if (aif_batches_unfed(db, b->id, b->input_file_id, (uint32_t)b->fed, FEED_MAX,
	    &rows) != AIF_OK)
		return b->fed;
	for (size_t i = 0; i < rows->nrows; i++) {
		if (refuse(db, b->id, (uint32_t)aif_dbrows_i64(rows, i, FL_LINE), err) != AIF_OK)
			break;
		line = aif_dbrows_i64(rows, i, FL_LINE);
	}
	if (rows->nrows < FEED_MAX && line == (rows->nrows > 0 ?
	    aif_dbrows_i64(rows, rows->nrows - 1, FL_LINE) : b->fed))
		line = b->total;
	aif_dbrows_free(rows);
	return line;
}

/* The role endpoint (roles[].endpoints) of a batch's url. */
const char *
batch_endpoint(const char *url)
{
	switch (aif_batchfile_kind(url)) {
	case AIF_KIND_COMPLETION:	return "completions";
	case AIF_KIND_EMBEDDING:	return "embeddings";
	default:			return "chat";
	}
}

/* Feeds batch b while the lane has room. */
static void
feed(struct batcher *bt, struct cfg_holder *h, const struct aif_batch_row *b)
{
	struct aif_principal who;
	const struct aif_role *role;
	struct aif_error e;
	struct req r;
	int64_t depth = 0, fed = b->fed, wait_ms = 0;
	enum aif_err err;

	if (b->paused_until_ms > b->now_ms ||
	    aif_batches_lane_depth(bt->db, b->id, &depth) != AIF_OK ||
	    depth >= h->cfg->batch.lane_depth)
		return;
	err = aif_auth_principal_by_lineage(bt->db, b->api_key_id, &who);
	role = err == AIF_OK ? aif_cfg_role(h->cfg, who.role) : NULL;
	line_req(bt, h, b, &r);
	if (err == AIF_NOTFOUND || (err == AIF_OK && role == NULL)) {
		AIF_ERROR0(&e, AIF_E_INVALID_API_KEY, NULL);
		fed = refuse_rest(bt->db, b, &e);
	} else if (err == AIF_OK && !aif_cfg_role_allows_endpoint(role,
	    batch_endpoint(b->endpoint))) {
		AIF_ERROR0(&e, AIF_E_ENDPOINT_FORBIDDEN, NULL);
		fed = refuse_rest(bt->db, b, &e);
	} else if (err == AIF_OK) {
		size_t n = (size_t)(h->cfg->batch.lane_depth - depth);
		feed_lines(&r, &who, role, b, bt->token, n < FEED_MAX ? n : FEED_MAX, &fed,
		    &wait_ms);
	}
	if (fed > b->fed && aif_batches_fed(bt->db, b->id, bt->token, fed) == AIF_OK)
		wake_workers(bt->api, bt->db);
	if (wait_ms > 0)
		(void)aif_batches_pause(bt->db, b->id, wait_ms);
}

/* ---- stopping and ending ----------------------------------------------------------- */

/* Cancels b's queued jobs (running ones finish); 1 while a job of it is still open. */
static int
stop_lines(struct aif_db *db, const struct aif_batch_row *b, const char *why)
{
	uint64_t ids[CANCEL_PAGE];
	size_t n = 0;
	int open = 1;

	if (aif_batches_queued(db, b->id, ids, CANCEL_PAGE, &n) != AIF_OK)
		return 1;
	/* queued ones only (a lease token no claim has): a line claimed meanwhile runs */
	for (size_t i = 0; i < n; i++)
		(void)aif_queue_cancel(db, ids[i], INT64_MAX, why);
	if (n == CANCEL_PAGE || aif_batches_open(db, b->id, &open) != AIF_OK)
		return 1;
	return open;
}

/* Moves b to finalizing, to end as `ending` (a batch finalizing already: as it was to),
 * and writes its files. */
static void
finish(struct batcher *bt, const struct aif_batch_row *b, const char *ending)
{
	const char *status = ending;

	if (strcmp(b->status, "finalizing") == 0)
		status = b->ending[0] != '\0' ? b->ending : "completed";
	else if (aif_batches_finalize(bt->db, b->id, bt->token, b->status, ending) != AIF_OK)
		return;
	if (batcher_write_files(bt->db, b, status, bt->token,
	    bt->api->cfg->batch.file_retention_ms / 1000) == 0)
		aif_info("msg=\"batch ended\" batch=%s status=%s", b->public_id, status);
	else
		(void)aif_batches_pause(bt->db, b->id, FINISH_RETRY_MS);
}

/* One round of batch id, under a lease renewed first. */
static void
step(struct batcher *bt, struct cfg_holder *h, uint64_t id)
{
	struct aif_batch_row b;
	int open = 1, cancelling;

	if (aif_batches_renew(bt->db, id, bt->token, LEASE_S) != AIF_OK ||
	    aif_batches_get_id(bt->db, id, &b) != AIF_OK)
		return;
	cancelling = strcmp(b.status, "cancelling") == 0;
	if (strcmp(b.status, "validating") == 0) {
		if (b.input_file[0] == '\0')
			(void)aif_batches_fail(bt->db, b.id, bt->token, "{\"object\":\"list\","
			    "\"data\":[{\"code\":\"invalid_input_file\",\"message\":\"The input"
			    " file was deleted.\",\"param\":\"input_file_id\",\"line\":null}]}");
		else
			(void)aif_batches_move(bt->db, b.id, bt->token, "validating",
			    "in_progress");
	} else if (strcmp(b.status, "finalizing") == 0) {
		if (b.paused_until_ms <= b.now_ms)	/* a failed write waits a little */
			finish(bt, &b, NULL);
	} else if (cancelling || b.now_ms >= b.expires_at * 1000) {
		if (stop_lines(bt->db, &b, cancelling ? "the batch was cancelled" :
		    "the batch's completion window ended") == 0)
			finish(bt, &b, cancelling ? "cancelled" : "expired");
	} else if (b.fed < b.total) {
		feed(bt, h, &b);
	} else if (aif_batches_open(bt->db, b.id, &open) == AIF_OK && !open) {
		finish(bt, &b, "completed");
	}
	aif_batch_row_clear(&b);
}

/* ---- the thread -------------------------------------------------------------------- */

static void *
batcher_main(void *arg)
{
	struct batcher *bt = arg;
	uint64_t ids[LEASED_MAX];
	size_t n = 0;

	for (;;) {
		struct cfg_holder *h;
		int64_t wait = bt->api->cfg->batch.poll_ms * (n > 0 ? 1 : 10);
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait / 1000;
		until.tv_nsec += (wait % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&bt->mu);
		while (!bt->stop && !bt->poked &&
		    pthread_cond_timedwait(&bt->cv, &bt->mu, &until) == 0)
			;
		bt->poked = 0;
		if (bt->stop) {
			pthread_mutex_unlock(&bt->mu);
			break;
		}
		pthread_mutex_unlock(&bt->mu);
		if (aif_batches_lease(bt->db, bt->token, LEASE_S, ids, LEASED_MAX, &n) != AIF_OK) {
			n = 0;
			continue;
		}
		h = api_cfg_acquire(bt->api);
		for (size_t i = 0; i < n && !bt->api->stopping; i++)
			step(bt, h, ids[i]);
		api_cfg_release(bt->api, h);
	}
	return NULL;
}

int
batcher_start(struct api *api)
{
	struct batcher *bt = calloc(1, sizeof(*bt));

	if (bt == NULL)
		return -1;
	bt->api = api;
	pthread_mutex_init(&bt->mu, NULL);
	pthread_cond_init(&bt->cv, NULL);
	if (aif_random_bytes(&bt->token, sizeof(bt->token)) != AIF_OK)
		bt->token = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	bt->token &= INT64_MAX;	/* the column is read back as a signed number */
	(void)aif_db_open(api->cfg, &bt->db);
	if (bt->db == NULL || pthread_create(&bt->thread, NULL, batcher_main, bt) != 0) {
		aif_db_close(bt->db);
		pthread_cond_destroy(&bt->cv);
		pthread_mutex_destroy(&bt->mu);
		free(bt);
		return -1;
	}
	api->batcher = bt;
	return 0;
}

void
batcher_stop(struct api *api, int grace_ms)
{
	struct batcher *bt = api->batcher;

	(void)grace_ms;	/* a round ends with its lines settled; the rest waits in db */
	if (bt == NULL)
		return;
	pthread_mutex_lock(&bt->mu);
	bt->stop = 1;
	pthread_cond_signal(&bt->cv);
	pthread_mutex_unlock(&bt->mu);
	pthread_join(bt->thread, NULL);
	/* its leases go now, not in LEASE_S: another aif-api takes its batches at once */
	(void)aif_batches_release(bt->db, bt->token);
	aif_db_close(bt->db);
	pthread_cond_destroy(&bt->cv);
	pthread_mutex_destroy(&bt->mu);
	free(bt);
	api->batcher = NULL;
}

void
batcher_poke(struct api *api)
{
	struct batcher *bt = api->batcher;

	if (bt == NULL)
		return;
	pthread_mutex_lock(&bt->mu);
	bt->poked = 1;
	pthread_cond_signal(&bt->cv);
	pthread_mutex_unlock(&bt->mu);
}
