/* take.c -- jobs handed to this worker at insert (core/store/queue.h): aif-api wrote
 * them running under this worker's lease and rang "take <id>", usually with the job
 * in the bell (core/store/handoff.h: then its row is not read back; otherwise the
 * rows rung about are read in one statement). They are run like
 * claimed jobs, without a claim transaction; one this worker has no room for (full,
 * draining, the model's limit or its share of the replicas used up, or every circuit
 * of it open here) goes back to the queue and the wake goes on to a peer. A bell can
 * be lost: every heartbeat looks for rows handed here that nobody rang about; a
 * stopping worker gives back those it never started; rows handed to a worker that has
 * stopped (a reload re-executes the worker under a new id) go back to the queue when a
 * bell names them here or at the next heartbeat of any worker.
 * Taking a job writes nothing, so a handed row looks the same before and after its
 * call ran. The calls this worker runs are known (dispatch_running); one whose ending
 * could not be written (the database failed) is remembered until its lease has run
 * out (take_unsettled), so the look for lost bells never runs it a second time. */
#include <stdlib.h>

#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "worker.h"

#define ORPHAN_AGE_MS	1000	/* a handed row this old was not rung about in time */
#define ORPHAN_PAGES	16	/* pages of WORKER_TAKE_MAX rows a look reads at most */

/* 1 when job_id's call ran here and its ending was not written (and its lease may
 * still be running); forgets those whose time is up. */
static int
unsettled(struct worker *w, uint64_t job_id)
{
	int64_t now = aif_now_ms();
	int found = 0;

	for (size_t i = 0; i < w->nunsettled;) {
		if (w->unsettled[i].until <= now) {
			w->unsettled[i] = w->unsettled[--w->nunsettled];
			continue;
		}
		found |= w->unsettled[i].id == job_id;
		i++;
	}
	return found;
}

void
take_unsettled(struct worker *w, uint64_t job_id)
{
	size_t i = w->nunsettled;

	if (i == WORKER_UNSETTLED_MAX) {	/* full: the oldest goes */
		i = 0;
		for (size_t k = 1; k < w->nunsettled; k++)
			if (w->unsettled[k].until < w->unsettled[i].until)
				i = k;
	} else {
		w->nunsettled++;
	}
	w->unsettled[i].id = job_id;
	/* its lease runs out, then the reaper's turn (every 5 s) */
	w->unsettled[i].until = aif_now_ms() +
	    (int64_t)w->cfg->queue.lease_seconds * 1000 + 10000;
}

/* Remembers job_id for take_run, with the job its bell carried (taken over) or NULL. */
static void
note(struct worker *w, uint64_t job_id, struct aif_claimed *job)
{
	for (size_t i = 0; i < w->ntake; i++)
		if (w->take[i] == job_id) {
			if (w->take_job[i] == NULL) {
				w->take_job[i] = job;
				job = NULL;
			}
			goto out;
		}
	if (w->ntake < WORKER_TAKE_MAX) {
		w->take[w->ntake] = job_id;
		w->take_job[w->ntake++] = job;
		job = NULL;
	}
	/* else the heartbeat's look for orphans finds it */
out:
	if (job != NULL)
		aif_queue_claimed_free(job, 1);
}

void
take_note(struct worker *w, uint64_t job_id)
{
	note(w, job_id, NULL);
}

void
take_note_job(struct worker *w, struct aif_claimed *job)
{
	uint64_t id = job->id;

	/* a bell this late may come after the look for lost bells took its job (and
	   ran it, or gave it back): only the row says whether it is still ours */
	if (job->queue_ms >= ORPHAN_AGE_MS / 2) {
		aif_queue_claimed_free(job, 1);
		job = NULL;
	}
	note(w, id, job);
}

void
take_cancelled(struct worker *w, uint64_t job_id)
{
	/* not run from its bell: the row (cancelled now) says it is no longer ours */
	for (size_t i = 0; i < w->ntake; i++)
		if (w->take[i] == job_id && w->take_job[i] != NULL) {
			aif_queue_claimed_free(w->take_job[i], 1);
			w->take_job[i] = NULL;
		}
}

/* Whether job (its model) has room here now: a slot, the model's limit, this worker's
 * share of its replicas, and a replica (or fallback) whose circuit is closed here (a
 * peer's may be: circuits are per worker). */
static int
has_room(const struct worker *w, const struct aif_claimed *job)
{
	size_t mi, smi, sri;

	if (w->draining || w->in_flight >= w->slots)
		return 0;
	if ((mi = aif_cfg_model_index(w->cfg, job->model)) == SIZE_MAX)
		return 1;	/* the call fails as model_gone (dispatch.c) */
	return w->cfg->models[mi].max_in_flight - w->model_in_flight[mi] > 0 &&
	    routing_room(w->rt, mi) - w->model_hooks[mi] > 0 &&
	    routing_pick_kind(w->rt, mi, (unsigned)job->kind, NULL, &smi, &sri) == 0;
}

/* ids[0..n) were rung about but not loaded: handed to another worker id. One that
 * went to a worker that has stopped (this worker before a reload re-executed it, with
 * a new id) goes back to the queue at once; *requeued = 1 then (claim now). */
static void
not_mine(struct worker *w, const uint64_t *ids, size_t n, int *requeued)
{
	size_t released = 0;

	if (n > 0 && aif_queue_release_stale_handed(w->db, ids, n, 0, &released) ==
	    AIF_OK && released > 0) {
		aif_metrics_add("aif_handoff_total", "result=\"stale_given_back\"",
		    (int64_t)released);
		*requeued = 1;
	}
}

/* Gives ids[0..n) back to the queue and wakes a peer for them. */
static void
give_back(struct worker *w, const uint64_t *ids, size_t n)
{
	size_t released = 0;

	if (n == 0)
		return;
	if (aif_queue_release_handed(w->db, w->id, ids, n, &released) != AIF_OK) {
		aif_warn("msg=\"handed jobs not given back; their lease runs out\" count=%zu", n);
		return;
	}
	aif_metrics_add("aif_handoff_total", "result=\"given_back\"", (int64_t)released);
	if (released > 0)
		wakeup_forward(w, 0);
}

/* Reads the rows of the handed jobs ids[0..n) their bells did not carry into *jobs
 * (new) and *nj; those not handed here (any more) are not_mine. */
static void
load(struct worker *w, const uint64_t *ids, size_t n, struct aif_claimed **jobs,
    size_t *nj, int *requeued)
{
	uint64_t back[WORKER_TAKE_MAX];
	enum aif_err err;

	*jobs = NULL;
	*nj = 0;
	if (n == 0)
		return;
	if ((err = aif_queue_take_handed(w->db, w->id, ids, n, jobs, nj)) != AIF_OK) {
		aif_warn("msg=\"handed jobs not loaded; looked for again\" error=\"%s\"",
		    aif_strerror(err));
		return;
	}
	if (*nj < n) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			size_t j = 0;
			while (j < *nj && (*jobs)[j].id != ids[i])
				j++;
			if (j == *nj)
				back[k++] = ids[i];
		}
		not_mine(w, back, k, requeued);
	}
}

/* Starts job when there is room for it, else lists it in back[*nback]; its body moves
 * to the call. Returns 1 when started. */
static size_t
start(struct worker *w, struct aif_claimed *job, uint64_t *back, size_t *nback)
{
	if (!has_room(w, job)) {
		back[(*nback)++] = job->id;
		return 0;
	}
	dispatch_start(w, job);
	return 1;
}

size_t
take_run(struct worker *w, int *requeued)
{
	uint64_t ids[WORKER_TAKE_MAX], back[WORKER_TAKE_MAX];
	struct aif_claimed *jobs, *carried[WORKER_TAKE_MAX];
	size_t n = 0, nc = 0, nj, nback = 0, started = 0;

	*requeued = 0;
	for (size_t i = 0; i < w->ntake; i++) {
		struct aif_claimed *job = w->take_job[i];
		w->take_job[i] = NULL;
		if (dispatch_running(w, w->take[i]) || unsettled(w, w->take[i]))
			aif_queue_claimed_free(job, job != NULL);
		else if (job != NULL)
			carried[nc++] = job;	/* its bell carried it: no read */
		else
			ids[n++] = w->take[i];
	}
	w->ntake = 0;
	load(w, ids, n, &jobs, &nj, requeued);
	for (size_t i = 0; i < nc; i++) {
		started += start(w, carried[i], back, &nback);
		aif_queue_claimed_free(carried[i], 1);
	}
	for (size_t i = 0; i < nj; i++)
		started += start(w, &jobs[i], back, &nback);
	aif_queue_claimed_free(jobs, nj);	/* the started ones' bodies moved */
	if (nc + nj == 0)
		return 0;
	aif_metrics_add("aif_handoff_total", "result=\"taken\"", (int64_t)started);
	aif_metrics_add("aif_handoff_bell_jobs_total", "", (int64_t)nc);
	w->claimed_total += started;
	give_back(w, back, nback);
	return started;
}

int
take_orphans(struct worker *w)
{
	uint64_t ids[WORKER_TAKE_MAX], after = 0;
	size_t n = 0, k = 0, released = 0;

	/* every row handed here over a second ago: those whose call runs or ran here are
	   not orphans; the others' bell was lost */
	for (int page = 0; page < ORPHAN_PAGES; page++) {
		if (aif_queue_handed_orphans(w->db, w->id, ORPHAN_AGE_MS, after, ids,
		    WORKER_TAKE_MAX, &n) != AIF_OK || n == 0)
			break;
		for (size_t i = 0; i < n; i++)
			if (!dispatch_running(w, ids[i]) && !unsettled(w, ids[i])) {
				take_note(w, ids[i]);
				k++;
			}
		after = ids[n - 1];
		if (n < WORKER_TAKE_MAX)
			break;
	}
	if (k > 0)
		aif_info("msg=\"handed jobs found without their bell\" count=%zu", k);
	/* and those handed to workers that have stopped since */
	if (aif_queue_release_stale_handed(w->db, NULL, 0, ORPHAN_AGE_MS, &released) !=
	    AIF_OK || released == 0)
		return 0;
	aif_info("msg=\"jobs handed to a stopped worker given back\" count=%zu", released);
	aif_metrics_add("aif_handoff_total", "result=\"stale_given_back\"",
	    (int64_t)released);
	return 1;
}

void
take_give_back_all(struct worker *w)
{
	uint64_t ids[WORKER_TAKE_MAX];
	size_t n = 0;

	/* every row still handed here whose call did not run: nothing runs any more (a
	   call whose ending was not written keeps its row for its lease to run out) */
	if (aif_queue_handed_orphans(w->db, w->id, 0, 0, ids, WORKER_TAKE_MAX, &n) ==
	    AIF_OK) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (!unsettled(w, ids[i]))
				ids[k++] = ids[i];
		give_back(w, ids, k);
	}
}

void
take_forget(struct worker *w)
{
	for (size_t i = 0; i < w->ntake; i++) {
		aif_queue_claimed_free(w->take_job[i], w->take_job[i] != NULL);
		w->take_job[i] = NULL;
	}
	w->ntake = 0;
}
