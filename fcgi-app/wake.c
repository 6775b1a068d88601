/* wake.c -- after an enqueue, ring the doorbell of one live worker ("wake", bell.h),
 * the next in turn, so it claims the job at once (a worker that claims nothing passes
 * the bell on to a peer: workers/wakeup.c), or, when the job was handed to a worker at
 * insert (core/store/queue.h), "take <id>" to that worker; after a workflow run was
 * started, signalled or cancelled, ring "run" to every worker, which stirs the workflow
 * runners only. The list (live: a heartbeat within the workers' own bound) comes from
 * the workers table and is refreshed at most every
 * WAKE_REFRESH_MS by whichever acceptor thread notices it is stale; acceptors ring
 * together under a read lock, a refresh swaps the list. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "bell.h"
#include "doorbell.h"
#include "log.h"
#include "netbell.h"
#include "registry.h"

#define WAKE_REFRESH_MS	2000
#define WAKE_RETRY_EMPTY_MS	100	/* while the list is empty */
/* A "take" waits this long for a full queue (a worker busy in a commit lets its
 * max_dgram_qlen datagrams, often 10, fill up): a job given back costs a commit and a
 * claim, and one whose give-back fails waits for the worker's look for lost bells. */
#define WAKE_TAKE_PATIENCE_MS	20

struct wake {
	pthread_mutex_t	 mu;		/* refreshed_ms, refreshing and next */
	pthread_rwlock_t rw;		/* list, ids, n */
	char		**list;		/* live workers' doorbells (live_s) */
	uint64_t	*ids;		/* their ids, as list */
	size_t		 n;
	int64_t		 refreshed_ms;
	int		 refreshing;
	size_t		 next;		/* round robin of wake_workers */
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
	free(w->ids);
	pthread_rwlock_destroy(&w->rw);
	pthread_mutex_destroy(&w->mu);
	free(w);
	api->wake = NULL;
}

/* The seconds without a heartbeat after which a worker is rung no more and handed no
 * job: the bound the workers themselves use to call a peer gone (a job handed to a
 * hung worker waits for its lease to run out). */
static int
live_s(const struct api *api)
{
	return 3 * api->cfg->worker.heartbeat_ms / 1000 + 1;
}

/* Refreshes the list of live workers' doorbells when it is due. */
static void
refresh(struct api *api, struct aif_db *db)
{
	struct wake *w = api->wake;
	int64_t now = aif_now_ms();
	int due = 0;
	size_t known;

	pthread_rwlock_rdlock(&w->rw);
	known = w->n;
	pthread_rwlock_unlock(&w->rw);
	pthread_mutex_lock(&w->mu);
	/* no worker known yet (they were starting): look again soon, not in 2 s */
	if (!w->refreshing && now - w->refreshed_ms >= (known == 0 ? WAKE_RETRY_EMPTY_MS :
	    WAKE_REFRESH_MS)) {
		w->refreshing = 1;
		due = 1;
	}
	pthread_mutex_unlock(&w->mu);
	if (due) {
		char **list = NULL;
		uint64_t *ids = NULL;
		size_t n = 0;
		if (aif_registry_doorbells(db, live_s(api), &list, &ids, &n) == AIF_OK) {
			pthread_rwlock_wrlock(&w->rw);
			aif_registry_doorbells_free(w->list, w->n);
			free(w->ids);
			w->list = list;
			w->ids = ids;
			w->n = n;
			pthread_rwlock_unlock(&w->rw);
		}
		pthread_mutex_lock(&w->mu);
		w->refreshed_ms = now;
		w->refreshing = 0;
		pthread_mutex_unlock(&w->mu);
	}
}

/* The list refreshed when due, and the next turn of the round robin. */
static size_t
next_turn(struct api *api, struct aif_db *db)
{
	struct wake *w = api->wake;
	size_t turn;

	refresh(api, db);
	pthread_mutex_lock(&w->mu);
	turn = w->next++;
	pthread_mutex_unlock(&w->mu);
	return turn;
}

void
wake_workers(struct api *api, struct aif_db *db)
{
	struct wake *w = api->wake;
	size_t start;

	start = next_turn(api, db);
	/* one worker, the next in turn that takes the bell (a gone one refuses it); it
	   passes the bell on when it claims nothing (workers/wakeup.c). A UDP ring to
	   another host is never refused, even by a worker that died: two of those */
	pthread_rwlock_rdlock(&w->rw);
	for (size_t k = 0, rung = 0; k < w->n; k++) {
		const char *to = w->list[(start + k) % w->n];
		if (aif_doorbell_ring(api->sender_fd, to, AIF_BELL_WAKE_MSG,
		    sizeof(AIF_BELL_WAKE_MSG) - 1) == 0 &&
		    (!aif_netbell_is_net(to) || ++rung == 2))
			break;
	}
	pthread_rwlock_unlock(&w->rw);
}

void
wake_runners(struct api *api, struct aif_db *db)
{
	struct wake *w = api->wake;

	refresh(api, db);
	pthread_rwlock_rdlock(&w->rw);
	for (size_t i = 0; i < w->n; i++)
		(void)aif_doorbell_ring(api->sender_fd, w->list[i], AIF_BELL_RUN_MSG,
		    sizeof(AIF_BELL_RUN_MSG) - 1);
	pthread_rwlock_unlock(&w->rw);
}

/* 1 when a worker ringing at `bell` reads this host's run_dir: a Unix doorbell, or a
 * network one at `host` (this host's cluster.address). */
static int
bell_on_host(const char *host, const char *bell)
{
	const char *h = bell + 4;
	size_t n;

	if (!aif_netbell_is_net(bell))
		return 1;
	if (host == NULL)
		return 0;
	n = strlen(host);
	if (*h == '[')
		return strncmp(h + 1, host, n) == 0 && h[1 + n] == ']';
	return strncmp(h, host, n) == 0 && h[n] == ':';
}

/* The next live worker in turn, or with `local` the next one on this host. */
static int
pick(struct api *api, struct aif_db *db, int local, uint64_t *worker_id, char *doorbell,
    size_t cap)
{
	struct wake *w = api->wake;
	size_t start;
	int rc = -1;

	start = next_turn(api, db);
	pthread_rwlock_rdlock(&w->rw);
	for (size_t k = 0; k < w->n && rc != 0; k++) {
		size_t i = (start + k) % w->n;
		if ((!local || bell_on_host(api->cfg->cluster.address, w->list[i])) &&
		    aif_strlcpy(doorbell, w->list[i], cap) == 0) {
			*worker_id = w->ids[i];
			rc = 0;
		}
	}
	pthread_rwlock_unlock(&w->rw);
	return rc;
}

int
wake_pick(struct api *api, struct aif_db *db, uint64_t *worker_id, char *doorbell,
    size_t cap)
{
	return pick(api, db, 0, worker_id, doorbell, cap);
}

int
wake_pick_local(struct api *api, struct aif_db *db, uint64_t *worker_id, char *doorbell,
    size_t cap)
{
	return pick(api, db, 1, worker_id, doorbell, cap);
}

int
wake_take(struct api *api, const char *doorbell, uint64_t job_id, const char *bell,
    size_t bell_len)
{
	char msg[64];
	size_t len = aif_bell_take(msg, sizeof(msg), job_id);

	/* the job's bell from its own socket, whose buffer unread ones may fill: then,
	   or with no job in it, the plain line; a short wait when the worker's queue is
	   full: giving the job back costs a commit */
	if (bell != NULL && aif_doorbell_ring(api->take_fd, doorbell, bell, bell_len) == 0)
		return 0;
	return len > 0 && aif_doorbell_ring_patient(api->sender_fd, doorbell, msg, len,
	    WAKE_TAKE_PATIENCE_MS) == 0 ? 0 : -1;
}
