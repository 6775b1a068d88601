/* waiters.c -- synchronous requests parked until their job is final, and the completer
 * thread that answers them. A parked request costs its FCGX_Request and one table entry,
 * not a thread. The completer wakes on its doorbell ("job <id>" from a worker), answers
 * from the job row, and falls back to a slow poll (server.poll_interval_ms) of every
 * parked job so a lost datagram only costs latency. Past its deadline a request gets
 * 504 with the job id; the job itself goes on. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"

#define RECENT_MAX	4096	/* ids finished with nobody parked yet */
#define FETCH_MAX	256	/* ids per final-state query */

struct waiter {
	uint64_t	 id;
	int64_t		 deadline_ms;
	int64_t		 parked_ms;
	struct reply	 reply;
	struct waiter	*next;		/* hash chain */
};

struct waiters {
	pthread_mutex_t	 mu;
	struct waiter	**buckets;
	size_t		 nbuckets;
	size_t		 count;
	size_t		 max;
	uint64_t	 recent[RECENT_MAX];
	size_t		 recent_pos;
	pthread_t	 thread;
	int		 stop;
	int		 grace_ms;
	struct aif_db	*db;
};

static size_t
bucket_of(const struct waiters *ws, uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 20) % ws->nbuckets;
}

/* Removes and returns the waiter of `id`, or NULL. Caller holds mu. */
static struct waiter *
take_locked(struct waiters *ws, uint64_t id)
{
	struct waiter **pp = &ws->buckets[bucket_of(ws, id)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct waiter *w = *pp;
			*pp = w->next;
			w->next = NULL;
			ws->count--;
			return w;
		}
	}
	return NULL;
}

static void
insert_locked(struct waiters *ws, struct waiter *w)
{
	size_t b = bucket_of(ws, w->id);

	w->next = ws->buckets[b];
	ws->buckets[b] = w;
	ws->count++;
}

int
waiters_park(struct api *api, uint64_t id, const struct reply *rp, int64_t deadline_ms)
{
	struct waiters *ws = api->waiters;
	struct waiter *w;
	int seen = 0;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	w->id = id;
	w->deadline_ms = deadline_ms;
	w->parked_ms = aif_now_ms();
	w->reply = *rp;
	pthread_mutex_lock(&ws->mu);
	if (ws->count >= ws->max) {
		pthread_mutex_unlock(&ws->mu);
		free(w);
		return -1;
	}
	insert_locked(ws, w);
	for (size_t i = 0; i < RECENT_MAX; i++)
		if (ws->recent[i] == id)
			seen = 1;
	pthread_mutex_unlock(&ws->mu);
	if (seen) {	/* finished before we parked: have the completer look now */
		char msg[48];
		int n = snprintf(msg, sizeof(msg), "job %" PRIu64 "\n", id);
		(void)aif_doorbell_ring_patient(api->sender_fd, api->doorbell_path, msg,
		    (size_t)n, 20);
	}
	return 0;
}

/* Answers the taken waiters from their job rows; those not final go back. */
static void
answer(struct api *api, struct waiter **taken, size_t n)
{
	struct waiters *ws = api->waiters;
	struct aif_job_view *views = NULL;
	uint64_t ids[FETCH_MAX];
	size_t nv = 0;
	enum aif_err err;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		ids[i] = taken[i]->id;
	err = aif_queue_final_views(ws->db, ids, n, &views, &nv);
	for (size_t i = 0; i < n; i++) {
		struct waiter *w = taken[i];
		const struct aif_job_view *v = NULL;
		for (size_t k = 0; err == AIF_OK && k < nv; k++)
			if (views[k].id == w->id)
				v = &views[k];
		if (v != NULL) {
			reply_job_outcome(&w->reply, v);
			free(w);
			continue;
		}
		pthread_mutex_lock(&ws->mu);
		insert_locked(ws, w);
		pthread_mutex_unlock(&ws->mu);
	}
	aif_queue_views_free(views, nv);
}

static void
timeout_reply(struct waiter *w, int stopping)
{
	if (stopping)
		reply_fail(&w->reply, 503, "server_error", "gateway_restarting", NULL,
		    "The gateway is restarting; your job %s continues. Poll GET /v1/jobs/%s "
		    "for its result.", w->reply.job_id, w->reply.job_id);
	else
		reply_fail(&w->reply, 504, "timeout", "job_timeout", NULL,
		    "The job %s did not finish in time; it continues. Poll GET /v1/jobs/%s "
		    "for its result.", w->reply.job_id, w->reply.job_id);
	free(w);
}

/* Takes out (up to cap) waiters whose deadline is at or before `now`. */
static size_t
collect_expired(struct waiters *ws, int64_t now, struct waiter **out, size_t cap)
{
	size_t n = 0;

	pthread_mutex_lock(&ws->mu);
	for (size_t b = 0; b < ws->nbuckets && n < cap; b++) {
		struct waiter **pp = &ws->buckets[b];
		while (*pp != NULL && n < cap) {
			struct waiter *w = *pp;
			if (w->deadline_ms <= now) {
				*pp = w->next;
				w->next = NULL;
				ws->count--;
				out[n++] = w;
			} else {
				pp = &w->next;
			}
		}
	}
	pthread_mutex_unlock(&ws->mu);
	return n;
}

/* The slow-poll fallback: reads the rows of (up to FETCH_MAX at a time) waiters parked
 * before `older_than` and answers those whose job is final. */
static void
poll_parked(struct api *api, int64_t older_than)
{
	struct waiters *ws = api->waiters;
	struct aif_job_view *views = NULL;
	uint64_t ids[FETCH_MAX];
	size_t n = 0, nv = 0;

	pthread_mutex_lock(&ws->mu);
	for (size_t b = 0; b < ws->nbuckets && n < FETCH_MAX; b++)
		for (struct waiter *w = ws->buckets[b]; w != NULL && n < FETCH_MAX; w = w->next)
			if (w->parked_ms <= older_than) {
				ids[n++] = w->id;
				w->parked_ms = aif_now_ms();	/* next look in a poll interval */
			}
	pthread_mutex_unlock(&ws->mu);
	if (n == 0 || aif_queue_final_views(ws->db, ids, n, &views, &nv) != AIF_OK)
		return;
	for (size_t k = 0; k < nv; k++) {
		pthread_mutex_lock(&ws->mu);
		struct waiter *w = take_locked(ws, views[k].id);
		pthread_mutex_unlock(&ws->mu);
		if (w != NULL) {
			reply_job_outcome(&w->reply, &views[k]);
			free(w);
		}
	}
	aif_queue_views_free(views, nv);
}

static void *
completer(void *arg)
{
	struct api *api = arg;
	struct waiters *ws = api->waiters;
	const int poll_ms = api->cfg->server.poll_interval_ms;
	int64_t next_poll = aif_now_ms() + poll_ms, stop_deadline = 0;
	struct waiter *taken[FETCH_MAX * 4];
	char buf[AIF_DOORBELL_MSG_MAX];

	for (;;) {
		struct pollfd pfd = { .fd = api->doorbell_fd, .events = POLLIN };
		int64_t now = aif_now_ms();
		int timeout = (int)(next_poll > now ? next_poll - now : 0);
		size_t n = 0, count;

		if (timeout > 200)
			timeout = 200;	/* deadlines are checked at least this often */
		(void)poll(&pfd, 1, timeout);
		/* doorbell: "job <id>" lines */
		while (n + 600 < FETCH_MAX * 4 &&
		    aif_doorbell_recv(api->doorbell_fd, buf, sizeof(buf)) > 0) {
			char *p = buf, *end;
			if (strncmp(p, "job ", 4) != 0)
				continue;
			p += 4;
			pthread_mutex_lock(&ws->mu);
			for (;;) {
				uint64_t id = strtoull(p, &end, 10);
				if (end == p)
					break;
				p = end;
				struct waiter *w = take_locked(ws, id);
				if (w == NULL) {
					ws->recent[ws->recent_pos] = id;
					ws->recent_pos = (ws->recent_pos + 1) % RECENT_MAX;
				} else {
					taken[n++] = w;
				}
			}
			pthread_mutex_unlock(&ws->mu);
		}
		for (size_t off = 0; off < n; off += FETCH_MAX)
			answer(api, taken + off, n - off < FETCH_MAX ? n - off : FETCH_MAX);
		now = aif_now_ms();
		/* slow poll: every waiter parked for a while is checked against its row;
		 * and this process's metric counters go to the database */
		if (now >= next_poll) {
			next_poll = now + poll_ms;
			poll_parked(api, now - poll_ms / 2);
			(void)aif_metrics_flush(ws->db);
		}
		/* deadlines */
		while ((n = collect_expired(ws, now, taken, FETCH_MAX)) > 0) {
			answer(api, taken, n);	/* finished just in time? */
			while ((n = collect_expired(ws, now, taken, FETCH_MAX)) > 0)
				for (size_t i = 0; i < n; i++)
					timeout_reply(taken[i], 0);
		}
		pthread_mutex_lock(&ws->mu);
		int stop = ws->stop;
		count = ws->count;
		pthread_mutex_unlock(&ws->mu);
		if (stop) {
			if (stop_deadline == 0)
				stop_deadline = now + ws->grace_ms;
			if (count == 0)
				break;
			if (now >= stop_deadline) {
				while ((n = collect_expired(ws, INT64_MAX, taken, FETCH_MAX)) > 0)
					for (size_t i = 0; i < n; i++)
						timeout_reply(taken[i], 1);
				break;
			}
		}
	}
	return NULL;
}

int
waiters_start(struct api *api)
{
	struct waiters *ws = calloc(1, sizeof(*ws));

	if (ws == NULL)
		return -1;
	ws->max = (size_t)api->cfg->server.max_waiting;
	ws->nbuckets = 4096;
	ws->buckets = calloc(ws->nbuckets, sizeof(*ws->buckets));
	pthread_mutex_init(&ws->mu, NULL);
	(void)aif_db_open(api->cfg, &ws->db);
	if (ws->buckets == NULL || ws->db == NULL) {
		free(ws->buckets);
		aif_db_close(ws->db);
		free(ws);
		return -1;
	}
	api->waiters = ws;
	if (pthread_create(&ws->thread, NULL, completer, api) != 0) {
		api->waiters = NULL;
		free(ws->buckets);
		aif_db_close(ws->db);
		free(ws);
		return -1;
	}
	return 0;
}

void
waiters_stop(struct api *api, int grace_ms)
{
	struct waiters *ws = api->waiters;

	if (ws == NULL)
		return;
	pthread_mutex_lock(&ws->mu);
	ws->stop = 1;
	ws->grace_ms = grace_ms;
	pthread_mutex_unlock(&ws->mu);
	pthread_join(ws->thread, NULL);
	aif_db_close(ws->db);
	pthread_mutex_destroy(&ws->mu);
	free(ws->buckets);
	free(ws);
	api->waiters = NULL;
}
