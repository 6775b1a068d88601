/* completer.c -- synchronous requests parked until their job is final, and the
 * completer thread that answers them. The completer wakes on its doorbell ("job <id>"
 * bells from workers, bell.h), answers from the job rows, and falls back to a slow poll
 * (server.poll_interval_ms) of every parked job so a lost datagram only costs latency.
 * Past its deadline a request gets 504 with the job id; the job itself goes on. It
 * also flushes this process's metric counters with the slow poll.
 *
 * The answer of a zero-retention job is not in its row: it comes over the relay in
 * RESULT pieces and an END (completer_relayed, called by the stream thread, and here
 * for frames that came while the request was not in the table). */
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
#include "relay_proto.h"

#define TAKEN_MAX		1024	/* requests answered per loop turn */
#define DEADLINE_CHECK_MS	100	/* deadlines looked at no more often (a walk of
					   the table) */
#define WAKE_MAX_MS		200	/* and at least this often */

struct completer {
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	int		 stop;
	int		 grace_ms;
	struct aif_db	*db;
};

void
completer_look(struct api *api, uint64_t id)
{
	char msg[AIF_BELL_MAX];
	size_t used, n = aif_bell_jobs(msg, sizeof(msg), &id, 1, &used);

	(void)aif_doorbell_ring_patient(api->sender_fd, api->doorbell_path, msg, n, 20);
}

/* Answers token count p (count.c) with the engine's count when it came whole (ok),
 * else with its estimate; the header says which. Frees p; one count less waits. */
static void
count_answer(struct api *api, struct parked *p, int ok)
{
	count_done(api, p->id);
	if (ok && p->result != NULL)
		reply_send(&p->reply, 200, "x-aif-token-count: engine\r\n", p->result,
		    p->result_len);
	else
		reply_send(&p->reply, 200, "x-aif-token-count: estimate\r\n", p->estimate,
		    p->estimate_len);
	parked_free(p);
}

int
completer_relayed(struct api *api, struct parked *p, const struct aif_relay_header *h,
    const char *payload)
{
	size_t max = api->cfg->server.max_answer_bytes;
	struct aif_relay_end end;
	char *r;

	p->seen_ms = aif_now_ms();
	if (h->type == AIF_RELAY_RESULT) {
		if (p->result_over)
			return 0;
		if (h->len > max - p->result_len ||
		    (r = realloc(p->result, p->result_len + h->len + 1)) == NULL) {
			free(p->result);	/* over the cap: END answers with an error */
			p->result = NULL;
			p->result_len = 0;
			p->result_over = 1;
			return 0;
		}
		memcpy(r + p->result_len, payload, h->len);
		p->result = r;
		p->result_len += h->len;
		return 0;
	}
	if (h->type != AIF_RELAY_END)
		return 0;
	if (p->estimate != NULL) {	/* a token count: the engine's, else the estimate */
		count_answer(api, p, aif_relay_end_parse(payload, h->len, &end) == 0 &&
		    end.bytes >= 0 && !p->result_over && (size_t)end.bytes == p->result_len);
		return 1;
	}
	if (aif_relay_end_parse(payload, h->len, &end) == 0 && end.bytes >= 0 &&
	    !p->result_over && (size_t)end.bytes != p->result_len) {
		/* a piece was lost on the way: the row (when it keeps the answer) says it */
		aif_warn("msg=\"relay lost a piece of an answer; it is read from its row\" job=%"
		    PRIu64, p->id);
		free(p->result);
		p->result = NULL;
		p->result_len = 0;
		p->relay_lost = 1;
		return 0;
	}
	if (p->result != NULL && !p->result_over)
		reply_answer(&p->reply, p->result, p->result_len);
	else
		REFUSE0(&p->reply, AIF_E_RESULT_NOT_STORABLE, NULL);
	parked_free(p);
	return 1;
}

/* An early frame of p's zero-retention answer (parked_put_replay). */
static int
replay(struct parked *p, const struct early_frame *f, void *arg)
{
	if (parked_check_frame(p, &f->h, f->payload) != PARKED_FRAME_OK)
		return 0;
	return completer_relayed(arg, p, &f->h, f->payload);
}

/* Puts sync request p into the table, after the pieces of its answer that came while
 * it was not there: 0 parked, 1 answered by them (p freed), -1 full. */
static int
put(struct api *api, struct parked *p, size_t max)
{
	int finished = 0, rc = parked_put_replay(api->parked, p, max, replay, api, &finished);

	if (rc == 0 && finished)	/* it finished before: look now */
		completer_look(api, p->id);
	return rc;
}

int
completer_park_count(struct api *api, uint64_t id, const struct reply *rp,
    int64_t deadline_ms, const unsigned char *relay_secret, const char *estimate)
{
	struct parked *p = parked_new(id, 0, rp, deadline_ms, relay_secret);

	if (p == NULL || (p->estimate = strdup(estimate)) == NULL) {
		parked_free(p);
		return -1;
	}
	p->estimate_len = strlen(estimate);
	if (put(api, p, (size_t)api->cfg->server.max_waiting) < 0) {
		parked_free(p);
		return -1;
	}
	return 0;
}

int
completer_park(struct api *api, uint64_t id, const struct reply *rp, int64_t deadline_ms,
    const unsigned char *relay_secret, int look)
{
	struct parked *p = parked_new(id, 0, rp, deadline_ms, relay_secret);
	int rc;

	if (p == NULL)
		return -1;
	if ((rc = put(api, p, (size_t)api->cfg->server.max_waiting)) < 0) {
		parked_free(p);
		return -1;
	}
	if (rc == 0 && look)
		completer_look(api, id);
	return 0;
}

/* 1 when job v's answer comes over the relay, not from its row (zero retention): the
 * stream thread answers its request (streams.c). */
static int
relayed(const struct aif_job_view *v)
{
	return v->zero_retention && v->response_len < 0 && strcmp(v->state, "succeeded") == 0;
}

/* A request taken out for its row: answered when final, else put back. */
static void
settle(struct parked *p, const struct aif_job_view *v, void *arg)
{
	struct api *api = arg;

	if (v != NULL && relayed(v) && p->relay_lost) {
		/* zero retention: the row never holds what the relay lost */
		REFUSE0(&p->reply, AIF_E_RESULT_NOT_STORABLE, NULL);
		parked_free(p);
		return;
	}
	if (v == NULL || relayed(v)) {
		(void)put(api, p, SIZE_MAX);
		return;
	}
	reply_job_outcome(&p->reply, api->completer->db, v);
	parked_free(p);
}

enum aif_apierr
late_error(struct aif_db *db, uint64_t id, int stopping, enum aif_apierr timeout)
{
	if (stopping)
		return AIF_E_GATEWAY_RESTARTING;
	return aif_queue_expire(db, id) == AIF_OK ? AIF_E_REQUEST_EXPIRED : timeout;
}

/* Late: a job that never started is not run (504 request_expired); one that started
 * goes on (504 job_timeout, poll it); 503 when the gateway stops. Frees p. */
static void
late_reply(struct api *api, struct parked *p, int stopping)
{
	if (p->estimate != NULL) {	/* a token count: no job behind it */
		count_answer(api, p, 0);
		return;
	}
	reply_refuse_job(&p->reply, late_error(api->completer->db, p->id, stopping,
	    AIF_E_JOB_TIMEOUT));
	parked_free(p);
}

struct late {
	struct api	*api;
	int		 stopping;
};

/* A request past its deadline: answered when its job finished just in time, else
 * late_reply. */
static void
settle_late(struct parked *p, const struct aif_job_view *v, void *arg)
{
	struct late *l = arg;

	if (v != NULL && !relayed(v)) {
		reply_job_outcome(&p->reply, l->api->completer->db, v);
		parked_free(p);
		return;
	}
	late_reply(l->api, p, l->stopping);
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

/* Deadlines: a last look at the rows, then 504 for the rest (everything taken is
 * answered, so this ends). */
static void
expire(struct api *api, int64_t now, int stopping)
{
	struct parked *taken[PARKED_SETTLE_MAX];
	struct late l = { api, stopping };
	int64_t when = stopping ? INT64_MAX : now;
	size_t n;

	while ((n = parked_take_if(api->parked, 0, expired, &when, taken,
	    PARKED_SETTLE_MAX)) > 0)
		parked_settle(api->completer->db, taken, n, settle_late, &l);
}

static void *
completer_main(void *arg)
{
	struct api *api = arg;
	struct completer *c = api->completer;
	const int poll_ms = api->cfg->server.poll_interval_ms;
	int64_t next_poll = aif_now_ms() + poll_ms, next_expire = 0, stop_deadline = 0;
	struct parked *taken[TAKEN_MAX];

	for (;;) {
		struct pollfd pfd = { .fd = api->doorbell_fd, .events = POLLIN };
		int64_t now = aif_now_ms();
		int timeout = (int)(next_poll > now ? next_poll - now : 0), stop;

		if (timeout > WAKE_MAX_MS)
			timeout = WAKE_MAX_MS;	/* deadlines are checked at least this often */
		(void)poll(&pfd, 1, timeout);
		parked_settle(c->db, taken, read_bells(api, taken, TAKEN_MAX), settle, api);
		now = aif_now_ms();
		/* slow poll: every request parked for a while is checked against its row;
		 * and this process's metric counters go to the database */
		if (now >= next_poll) {
			next_poll = now + poll_ms;
			parked_settle(c->db, taken, parked_take_due(api->parked, 0,
			    now - poll_ms / 2, now, taken, PARKED_SETTLE_MAX), settle, api);
			parked_early_expire(api->parked, now);
			(void)aif_counters_flush(c->db);
		}
		if (now >= next_expire) {	/* not after every bell: a walk of the table */
			next_expire = now + DEADLINE_CHECK_MS;
			expire(api, now, 0);
		}
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
