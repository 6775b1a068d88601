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
	int			 done;
	struct enq_item		*next;
};

static pthread_mutex_t enq_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t enq_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t enq_done = PTHREAD_COND_INITIALIZER;
static struct enq_item *enq_head, *enq_tail;
static int enq_stop;
static pthread_t enq_thread;
static struct aif_db *enq_db;

static void *
enqueuer(void *arg)
{
	struct aif_job_new jobs[AIF_ENQUEUE_BATCH_MAX];
	struct enq_item *items[AIF_ENQUEUE_BATCH_MAX];
	uint64_t ids[AIF_ENQUEUE_BATCH_MAX];
	char pids[AIF_ENQUEUE_BATCH_MAX][AIF_JOB_ID_LEN + 1];
	enum aif_err errs[AIF_ENQUEUE_BATCH_MAX];

	(void)arg;
	for (;;) {
		size_t n = 0;

		pthread_mutex_lock(&enq_mu);
		while (enq_head == NULL && !enq_stop)
			pthread_cond_wait(&enq_work, &enq_mu);
		if (enq_head == NULL && enq_stop) {
			pthread_mutex_unlock(&enq_mu);
			break;
		}
		while (enq_head != NULL && n < AIF_ENQUEUE_BATCH_MAX) {
			items[n] = enq_head;
			jobs[n] = *enq_head->job;
			enq_head = enq_head->next;
			n++;
		}
		if (enq_head == NULL)
			enq_tail = NULL;
		pthread_mutex_unlock(&enq_mu);

		enum aif_err err = aif_queue_enqueue_batch(enq_db, jobs, n, ids, pids, errs);
		pthread_mutex_lock(&enq_mu);
		for (size_t i = 0; i < n; i++) {
			items[i]->err = err == AIF_OK ? errs[i] : err;
			items[i]->id = ids[i];
			memcpy(items[i]->public_id, pids[i], sizeof(pids[i]));
			items[i]->done = 1;
		}
		pthread_cond_broadcast(&enq_done);
		pthread_mutex_unlock(&enq_mu);
	}
	return NULL;
}

int
enqueuer_start(struct api *api)
{
	(void)aif_db_open(api->cfg, &enq_db);
	if (enq_db == NULL)
		return -1;
	if (pthread_create(&enq_thread, NULL, enqueuer, NULL) != 0) {
		aif_db_close(enq_db);
		enq_db = NULL;
		return -1;
	}
	return 0;
}

void
enqueuer_stop(void)
{
	if (enq_db == NULL)
		return;
	pthread_mutex_lock(&enq_mu);
	enq_stop = 1;
	pthread_cond_signal(&enq_work);
	pthread_mutex_unlock(&enq_mu);
	pthread_join(enq_thread, NULL);
	aif_db_close(enq_db);
	enq_db = NULL;
}

enum aif_err
enqueue_job(const struct aif_job_new *job, uint64_t *id, char *public_id)
{
	struct enq_item item;

	memset(&item, 0, sizeof(item));
	item.job = job;
	pthread_mutex_lock(&enq_mu);
	if (enq_tail != NULL)
		enq_tail->next = &item;
	else
		enq_head = &item;
	enq_tail = &item;
	pthread_cond_signal(&enq_work);
	while (!item.done)
		pthread_cond_wait(&enq_done, &enq_mu);
	pthread_mutex_unlock(&enq_mu);
	*id = item.id;
	memcpy(public_id, item.public_id, sizeof(item.public_id));
	return item.err;
}
