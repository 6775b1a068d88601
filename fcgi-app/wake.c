/* wake.c -- after an enqueue, ring the doorbell of every live worker ("wake", bell.h)
 * so one of them claims the job at once; after a workflow run was started, signalled or
 * cancelled, ring "run" instead, which stirs the workflow runners and nothing else. The list comes from the workers table and is
 * refreshed at most every WAKE_REFRESH_MS by whichever acceptor thread notices it is
 * stale; acceptors ring together under a read lock, a refresh swaps the list. */
#include <pthread.h>
#include <stdlib.h>

#include "api.h"
#include "log.h"
#include "registry.h"

#define WAKE_REFRESH_MS	2000
#define WAKE_RETRY_EMPTY_MS	100	/* while the list is empty */

struct wake {
	pthread_mutex_t	 mu;		/* refreshed_ms and refreshing */
	pthread_rwlock_t rw;		/* list, n */
	char		**list;
	size_t		 n;
	int64_t		 refreshed_ms;
	int		 refreshing;
};

int
wake_start(struct api *api)
{
	struct wake *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_rwlock_init(&w->rw, NULL);
	w->refreshed_ms = -WAKE_REFRESH_MS;
	api->wake = w;
	return 0;
}

void
wake_stop(struct api *api, int grace_ms)
{
	struct wake *w = api->wake;

	(void)grace_ms;
	if (w == NULL)
		return;
	aif_registry_doorbells_free(w->list, w->n);
	pthread_rwlock_destroy(&w->rw);
	pthread_mutex_destroy(&w->mu);
	free(w);
	api->wake = NULL;
}

/* Rings every live worker with msg (len bytes). */
static void
ring_all(struct api *api, struct aif_db *db, const char *msg, size_t len)
{
	struct wake *w = api->wake;
	int64_t now = aif_now_ms();
	int refresh = 0;
	size_t known;

	pthread_rwlock_rdlock(&w->rw);
	known = w->n;
	pthread_rwlock_unlock(&w->rw);
	pthread_mutex_lock(&w->mu);
	/* no worker known yet (they were starting): look again soon, not in 2 s */
	if (!w->refreshing && now - w->refreshed_ms >= (known == 0 ? WAKE_RETRY_EMPTY_MS :
	    WAKE_REFRESH_MS)) {
		w->refreshing = 1;
		refresh = 1;
	}
	pthread_mutex_unlock(&w->mu);
	if (refresh) {
		char **list = NULL;
		size_t n = 0;
		if (aif_registry_doorbells(db, API_WORKER_STALE_S, &list, &n) == AIF_OK) {
			pthread_rwlock_wrlock(&w->rw);
			aif_registry_doorbells_free(w->list, w->n);
			w->list = list;
			w->n = n;
			pthread_rwlock_unlock(&w->rw);
		}
		pthread_mutex_lock(&w->mu);
		w->refreshed_ms = now;
		w->refreshing = 0;
		pthread_mutex_unlock(&w->mu);
	}
	pthread_rwlock_rdlock(&w->rw);
	for (size_t i = 0; i < w->n; i++)
		(void)aif_doorbell_ring(api->sender_fd, w->list[i], msg, len);
	pthread_rwlock_unlock(&w->rw);
}

void
wake_workers(struct api *api, struct aif_db *db)
{
	ring_all(api, db, AIF_BELL_WAKE_MSG, sizeof(AIF_BELL_WAKE_MSG) - 1);
}

void
wake_runners(struct api *api, struct aif_db *db)
{
	ring_all(api, db, AIF_BELL_RUN_MSG, sizeof(AIF_BELL_RUN_MSG) - 1);
}
