/* enqueuer.c -- group commit of enqueues, leader and followers. A request thread
 * queues its job; when no batch is being written it becomes the leader: it takes
 * everything queued (up to AIF_ENQUEUE_BATCH_MAX jobs) and inserts it in one
 * transaction on the enqueuer's connection, so concurrent requests share one commit
 * (one fsync) instead of paying one each. The others wait for their job to be
 * written, each on its own condition variable: once a batch is written its leader
 * wakes exactly the threads whose job was in it, and the first still queued, which
 * leads the next batch; the others sleep on. Under light load a request writes its
 * own job: no hand-over to another thread, no wake-up. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "queue.h"

struct enq_item {
	const struct aif_job_new *job;
	uint64_t		 id;
	char			 public_id[AIF_JOB_ID_LEN + 1];
	enum aif_err		 err;
	int			 handed;	/* written leased to job->handoff_worker */
	int			 done;
	pthread_cond_t		 wake;		/* its thread's: done, or it leads next */
	struct enq_item		*next;
};

struct enqueuer {
	pthread_mutex_t	 mu;
	struct enq_item	*head, *tail;
	int		 busy;		/* a leader is writing a batch (on db) */
	int		 users;		/* threads in enqueue_job */
	struct aif_db	*db;
};

/* Takes up to AIF_ENQUEUE_BATCH_MAX items off the queue (mu held). */
static size_t
take_batch(struct enqueuer *q, struct enq_item **items, struct aif_job_new *jobs)
{
	size_t n = 0;

	while (q->head != NULL && n < AIF_ENQUEUE_BATCH_MAX) {
		items[n] = q->head;
		jobs[n] = *q->head->job;
		q->head = q->head->next;
		n++;
	}
	if (q->head == NULL)
		q->tail = NULL;
	return n;
}

/* The leader's turn (mu held, busy set by the caller): writes the jobs queued now in
 * one transaction, with mu released meanwhile, and marks them done. Returns how many. */
static size_t
lead_batch(struct enqueuer *q)
{
	struct aif_job_new jobs[AIF_ENQUEUE_BATCH_MAX];
	struct enq_item *items[AIF_ENQUEUE_BATCH_MAX];
	uint64_t ids[AIF_ENQUEUE_BATCH_MAX];
	char pids[AIF_ENQUEUE_BATCH_MAX][AIF_JOB_ID_LEN + 1];
	enum aif_err errs[AIF_ENQUEUE_BATCH_MAX], err;
	int handed[AIF_ENQUEUE_BATCH_MAX];
	size_t n = take_batch(q, items, jobs);

	pthread_mutex_unlock(&q->mu);
	err = aif_queue_enqueue_batch(q->db, jobs, n, ids, pids, errs, handed);
	pthread_mutex_lock(&q->mu);
	for (size_t i = 0; i < n; i++) {
		items[i]->err = err == AIF_OK ? errs[i] : err;
		items[i]->id = ids[i];
		items[i]->handed = err == AIF_OK && errs[i] == AIF_OK && handed[i];
		memcpy(items[i]->public_id, pids[i], sizeof(pids[i]));
		items[i]->done = 1;
		pthread_cond_signal(&items[i]->wake);	/* the leader's own: nobody */
	}
	return n;
}

int
enqueuer_start(struct api *api)
{
	struct enqueuer *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return -1;
	(void)aif_db_open(api->cfg, &q->db);
	if (q->db == NULL) {
		free(q);
		return -1;
	}
	pthread_mutex_init(&q->mu, NULL);
	api->enqueuer = q;
	return 0;
}

void
enqueuer_stop(struct api *api, int grace_ms)
{
	struct enqueuer *q = api->enqueuer;

	(void)grace_ms;	/* the request threads have stopped: every job is written */
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	if (q->users > 0) {
		/* a request thread that did not stop still writes or waits: it keeps the
		   connection (the process is ending) */
		pthread_mutex_unlock(&q->mu);
		aif_warn("msg=\"enqueuer left to a request thread that did not stop\"");
		return;
	}
	pthread_mutex_unlock(&q->mu);
	aif_db_close(q->db);
	pthread_mutex_destroy(&q->mu);
	free(q);
	api->enqueuer = NULL;
}

enum aif_err
enqueue_job(struct api *api, const struct aif_job_new *job, uint64_t *id, char *public_id,
    int *handed)
{
	struct enqueuer *q = api->enqueuer;
	struct enq_item item;

	memset(&item, 0, sizeof(item));
	item.job = job;
	pthread_cond_init(&item.wake, NULL);
	pthread_mutex_lock(&q->mu);
	q->users++;
	if (q->tail != NULL)
		q->tail->next = &item;
	else
		q->head = &item;
	q->tail = &item;
	while (!item.done) {
		if (q->busy) {
			pthread_cond_wait(&item.wake, &q->mu);
			continue;
		}
		/* this thread leads (its job is in the batch unless a full batch is
		   ahead of it: then it leads again); lead_batch wakes the batch's */
		q->busy = 1;
		(void)lead_batch(q);
		q->busy = 0;
		/* jobs queued meanwhile: the first one's thread leads next (this one,
		   when its own job is still queued: it goes round again) */
		if (item.done && q->head != NULL)
			pthread_cond_signal(&q->head->wake);
	}
	q->users--;
	pthread_mutex_unlock(&q->mu);
	pthread_cond_destroy(&item.wake);
	*id = item.id;
	*handed = item.handed;
	memcpy(public_id, item.public_id, sizeof(item.public_id));
	return item.err;
}
