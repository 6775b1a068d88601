/* wake.c -- after an enqueue, ring the doorbell of every live worker so one of them
 * claims the job at once. The list comes from the workers table and is refreshed at
 * most every WAKE_REFRESH_MS by whichever acceptor thread notices it is stale. */
#include <pthread.h>
#include <stdlib.h>

#include "api.h"
#include "log.h"
#include "registry.h"

#define WAKE_REFRESH_MS	2000
#define WAKE_STALE_S	30

static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;	/* the refresh flags */
static pthread_rwlock_t wake_rw = PTHREAD_RWLOCK_INITIALIZER;	/* the list: threads ring
								   together, a refresh swaps it */
static char **wake_list;
static size_t wake_n;
static int64_t wake_refreshed_ms = -WAKE_REFRESH_MS;
static int wake_refreshing;

void
wake_workers(struct api *api, struct aif_db *db)
{
	static const char msg[] = "wake\n";
	int64_t now = aif_now_ms();
	int refresh = 0;

	pthread_mutex_lock(&wake_mu);
	if (!wake_refreshing && now - wake_refreshed_ms >= WAKE_REFRESH_MS) {
		wake_refreshing = 1;
		refresh = 1;
	}
	pthread_mutex_unlock(&wake_mu);
	if (refresh) {
		char **list = NULL;
		size_t n = 0;
		enum aif_err err = aif_registry_doorbells(db, WAKE_STALE_S, &list, &n);
		if (err == AIF_OK) {
			pthread_rwlock_wrlock(&wake_rw);
			aif_registry_doorbells_free(wake_list, wake_n);
			wake_list = list;
			wake_n = n;
			pthread_rwlock_unlock(&wake_rw);
		}
		pthread_mutex_lock(&wake_mu);
		wake_refreshed_ms = now;
		wake_refreshing = 0;
		pthread_mutex_unlock(&wake_mu);
	}
	pthread_rwlock_rdlock(&wake_rw);
	for (size_t i = 0; i < wake_n; i++)
		(void)aif_doorbell_ring(api->sender_fd, wake_list[i], msg, sizeof(msg) - 1);
	pthread_rwlock_unlock(&wake_rw);
}
