/* completer.c -- synchronous requests parked until their job is final, and the
 * completer thread that answers them. The completer wakes on its doorbell ("job <id>"
 * bells from workers, bell.h), answers from the job rows, and falls back to a slow poll
 * (server.poll_interval_ms) of every parked job so a lost datagram only costs latency.
 * Past its deadline a request gets 504 with the job id; the job itself goes on. It
 * also flushes this process's metric counters with the slow poll. */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "counters.h"
#include "log.h"
#include "parked.h"

#define FETCH_MAX	256	/* ids per final-state query */
#define TAKEN_MAX	1024	/* requests answered per loop turn */

struct completer {
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	int		 stop;
	int		 grace_ms;
	struct aif_db	*db;
};

int
completer_park(struct api *api, uint64_t id, const struct reply *rp, int64_t deadline_ms,
    const unsigned char *relay_secret)
{
	struct parked *p = calloc(1, sizeof(*p));
	int finished = 0;

	if (p == NULL)
		return -1;
	if (relay_secret != NULL) {
		memcpy(p->relay_secret, relay_secret, AIF_RELAY_SECRET_BYTES);
		p->has_secret = 1;
	}
	p->id = id;
	p->deadline_ms = deadline_ms;
	p->seen_ms = aif_now_ms();
	p->reply = *rp;
	p->conn = -1;
	if (parked_put(api->parked, p, (size_t)api->cfg->server.max_waiting, &finished,
	    NULL) != 0) {
		free(p);
		return -1;
	}
	if (finished) {	/* finished before we parked: have the completer look now */
		char msg[AIF_BELL_MAX];
		size_t used, n = aif_bell_jobs(msg, sizeof(msg), &id, 1, &used);
		(void)aif_doorbell_ring_patient(api->sender_fd, api->doorbell_path, msg, n, 20);
	}
	return 0;
}

/* 1 when job v's answer comes over the relay, not from its row (zero retention): the
 * stream thread answers its request (streams.c). */
static int
relayed(const struct aif_job_view *v)
{
	return v->zero_retention && v->response_len < 0 && strcmp(v->state, "succeeded") == 0;
}

/* Answers the taken requests from their job rows; those not final go back. */
static void
answer(struct api *api, struct parked **taken, size_t n)
{
	struct completer *c = api->completer;
	struct aif_job_view *views = NULL;
	uint64_t ids[FETCH_MAX];
	size_t nv = 0;
	enum aif_err err;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		ids[i] = taken[i]->id;
	err = aif_jobs_final_views(c->db, ids, n, &views, &nv);
	for (size_t i = 0; i < n; i++) {
		const struct aif_job_view *v = NULL;
		for (size_t k = 0; err == AIF_OK && k < nv; k++)
			if (views[k].id == taken[i]->id)
				v = &views[k];
		if (v == NULL || relayed(v)) {
			parked_return(api->parked, taken[i]);
			continue;
		}
		reply_job_outcome(&taken[i]->reply, c->db, v);
		parked_free(taken[i]);
	}
	aif_jobs_views_free(views, nv);
}

static void
answer_all(struct api *api, struct parked **taken, size_t n)
{
	for (size_t off = 0; off < n; off += FETCH_MAX)
		answer(api, taken + off, n - off < FETCH_MAX ? n - off : FETCH_MAX);
}

/* Late: a job that never started is not run (504 request_expired); one that started
 * goes on (504 job_timeout, poll it); 503 when the gateway stops. Frees p. */
static void
late_reply(struct api *api, struct parked *p, int stopping)
{
	if (!stopping && aif_queue_expire(api->completer->db, p->id) == AIF_OK)
		REFUSE(&p->reply, AIF_E_REQUEST_EXPIRED, NULL, p->reply.job_id);
	else
		REFUSE(&p->reply, stopping ? AIF_E_GATEWAY_RESTARTING : AIF_E_JOB_TIMEOUT, NULL,
		    p->reply.job_id, p->reply.job_id);
	parked_free(p);
}

static int
expired(const struct parked *p, void *now)
{
	return p->deadline_ms <= *(const int64_t *)now;
}

/* Reads every pending bell: takes the requests of jobs that are final. */
static size_t
read_bells(struct api *api, struct parked **taken, size_t cap)
{
	char buf[AIF_BELL_MAX];
	uint64_t ids[AIF_BELL_IDS_MAX];
	size_t n = 0, nids;

	while (n + AIF_BELL_IDS_MAX <= cap &&
	    aif_doorbell_recv(api->doorbell_fd, buf, sizeof(buf)) > 0) {
		if (aif_bell_parse(buf, ids, AIF_BELL_IDS_MAX, &nids) != AIF_BELL_JOBS)
			continue;
		for (size_t i = 0; i < nids; i++) {
			struct parked *p = parked_take_or_finished(api->parked, ids[i]);
			if (p != NULL)
				taken[n++] = p;
		}
	}
	return n;
}

/* The slow-poll fallback: answers the requests parked (or last looked at) before
 * `older_than` whose job is final. */
static void
poll_parked(struct api *api, int64_t older_than, int64_t now)
{
	struct completer *c = api->completer;
	struct aif_job_view *views = NULL;
	uint64_t ids[FETCH_MAX];
	size_t n, nv = 0;

	n = parked_due(api->parked, 0, older_than, now, ids, FETCH_MAX);
	if (n == 0 || aif_jobs_final_views(c->db, ids, n, &views, &nv) != AIF_OK)
		return;
	for (size_t k = 0; k < nv; k++) {
		struct parked *p;
		if (relayed(&views[k]) || (p = parked_take(api->parked, views[k].id, 0)) == NULL)
			continue;
		reply_job_outcome(&p->reply, c->db, &views[k]);
		parked_free(p);
	}
	aif_jobs_views_free(views, nv);
}

/* Deadlines: a last look at the rows, then 504 for the rest. */
static void
expire(struct api *api, int64_t now, int stopping)
{
	struct parked *taken[FETCH_MAX];
	int64_t when = stopping ? INT64_MAX : now;
	size_t n;

	while ((n = parked_take_if(api->parked, 0, expired, &when, taken, FETCH_MAX)) > 0) {
		answer(api, taken, n);	/* finished just in time? */
		while ((n = parked_take_if(api->parked, 0, expired, &when, taken,
		    FETCH_MAX)) > 0)
			for (size_t i = 0; i < n; i++)
				late_reply(api, taken[i], stopping);
	}
}

static void *
completer_main(void *arg)
{
	struct api *api = arg;
	struct completer *c = api->completer;
	const int poll_ms = api->cfg->server.poll_interval_ms;
	int64_t next_poll = aif_now_ms() + poll_ms, stop_deadline = 0;
	struct parked *taken[TAKEN_MAX];

	for (;;) {
		struct pollfd pfd = { .fd = api->doorbell_fd, .events = POLLIN };
		int64_t now = aif_now_ms();
		int timeout = (int)(next_poll > now ? next_poll - now : 0), stop;

		if (timeout > 200)
			timeout = 200;	/* deadlines are checked at least this often */
		(void)poll(&pfd, 1, timeout);
		answer_all(api, taken, read_bells(api, taken, TAKEN_MAX));
		now = aif_now_ms();
		/* slow poll: every request parked for a while is checked against its row;
		 * and this process's metric counters go to the database */
		if (now >= next_poll) {
			next_poll = now + poll_ms;
			poll_parked(api, now - poll_ms / 2, now);
			parked_early_expire(api->parked, now);
			(void)aif_counters_flush(c->db);
		}
		expire(api, now, 0);
		pthread_mutex_lock(&c->mu);
		stop = c->stop;
		pthread_mutex_unlock(&c->mu);
		if (!stop)
			continue;
		if (stop_deadline == 0)
			stop_deadline = now + c->grace_ms;
		if (parked_count(api->parked, 0) == 0)
			break;
		if (now >= stop_deadline) {
			expire(api, now, 1);
			break;
		}
	}
	return NULL;
}

int
completer_start(struct api *api)
{
	struct completer *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	pthread_mutex_init(&c->mu, NULL);
	(void)aif_db_open(api->cfg, &c->db);
	api->completer = c;
	if (c->db == NULL || pthread_create(&c->thread, NULL, completer_main, api) != 0) {
		aif_db_close(c->db);
		pthread_mutex_destroy(&c->mu);
		free(c);
		api->completer = NULL;
		return -1;
	}
	return 0;
}

void
completer_stop(struct api *api, int grace_ms)
{
	struct completer *c = api->completer;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	c->grace_ms = grace_ms;
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	aif_db_close(c->db);
	pthread_mutex_destroy(&c->mu);
	free(c);
	api->completer = NULL;
}
