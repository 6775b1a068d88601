/* enqueuer.c -- group commit of enqueues. Acceptor threads hand their job to the
 * enqueuer thread and wait; the enqueuer inserts everything that arrived meanwhile
 * (up to AIF_ENQUEUE_BATCH_MAX jobs) in one transaction, so concurrent requests share
 * one commit (one fsync) instead of paying one each. Under light load a batch is one
 * job and the extra hop costs a thread wake-up. */
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
	struct enq_item		*next;
};

struct enqueuer {
	pthread_mutex_t	 mu;
	pthread_cond_t	 work;		/* an item arrived, or stop */
	pthread_cond_t	 done;		/* a batch is committed */
	struct enq_item	*head, *tail;
	int		 stop;
	pthread_t	 thread;
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

static void *
enqueuer_main(void *arg)
{
	struct enqueuer *q = arg;
	struct aif_job_new jobs[AIF_ENQUEUE_BATCH_MAX];
	struct enq_item *items[AIF_ENQUEUE_BATCH_MAX];
	uint64_t ids[AIF_ENQUEUE_BATCH_MAX];
	char pids[AIF_ENQUEUE_BATCH_MAX][AIF_JOB_ID_LEN + 1];
	enum aif_err errs[AIF_ENQUEUE_BATCH_MAX];
	int handed[AIF_ENQUEUE_BATCH_MAX];

	for (;;) {
		size_t n;

		pthread_mutex_lock(&q->mu);
		while (q->head == NULL && !q->stop)
			pthread_cond_wait(&q->work, &q->mu);
		if (q->head == NULL) {
			pthread_mutex_unlock(&q->mu);
			break;
		}
		n = take_batch(q, items, jobs);
		pthread_mutex_unlock(&q->mu);

		enum aif_err err = aif_queue_enqueue_batch(q->db, jobs, n, ids, pids, errs,
		    handed);
		pthread_mutex_lock(&q->mu);
		for (size_t i = 0; i < n; i++) {
			items[i]->err = err == AIF_OK ? errs[i] : err;
			items[i]->id = ids[i];
			items[i]->handed = err == AIF_OK && errs[i] == AIF_OK && handed[i];
			memcpy(items[i]->public_id, pids[i], sizeof(pids[i]));
			items[i]->done = 1;
		}
		pthread_cond_broadcast(&q->done);
		pthread_mutex_unlock(&q->mu);
	}
	return NULL;
}

int
enqueuer_start(struct api *api)
{
	struct enqueuer *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return -1;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->work, NULL);
	pthread_cond_init(&q->done, NULL);
	(void)aif_db_open(api->cfg, &q->db);
	if (q->db == NULL || pthread_create(&q->thread, NULL, enqueuer_main, q) != 0) {
		aif_db_close(q->db);
		pthread_cond_destroy(&q->work);
		pthread_cond_destroy(&q->done);
		pthread_mutex_destroy(&q->mu);
		free(q);
		return -1;
	}
	api->enqueuer = q;
	return 0;
}

void
enqueuer_stop(struct api *api, int grace_ms)
{
	struct enqueuer *q = api->enqueuer;

	(void)grace_ms;	/* every job handed over is committed before it stops */
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = 1;
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	aif_db_close(q->db);
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->done);
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
	pthread_mutex_lock(&q->mu);
	if (q->tail != NULL)
		q->tail->next = &item;
	else
		q->head = &item;
	q->tail = &item;
	pthread_cond_signal(&q->work);
	while (!item.done)
		pthread_cond_wait(&q->done, &q->mu);
	pthread_mutex_unlock(&q->mu);
	*id = item.id;
	*handed = item.handed;
	memcpy(public_id, item.public_id, sizeof(item.public_id));
	return item.err;
}
