/* parked.c -- the table of parked requests and early notes; see parked.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "parked.h"

#define NBUCKETS	4096	/* power of two */

struct early {
	uint64_t		 id;
	int64_t			 at_ms;
	int			 finished;
	struct early_frame	*frames, *last;
	size_t			 bytes;
	struct early		*next;		/* hash chain */
	struct early		*older, *newer;	/* age list, for expiry and eviction */
};

struct parked_table {
	pthread_mutex_t	 mu;
	struct parked	*buckets[NBUCKETS];
	size_t		 count[2];
	struct early	*ebuckets[NBUCKETS];
	struct early	*oldest, *newest;
	size_t		 nearly, early_bytes;
};

static size_t
bucket_of(uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 52) & (NBUCKETS - 1);
}

/* ---- entries -------------------------------------------------------------------------- */

struct parked *
parked_new(uint64_t id, int stream, const struct reply *rp, int64_t deadline_ms,
    const unsigned char *relay_secret)
{
	struct parked *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->id = id;
	p->stream = stream != 0;
	p->reply = *rp;
	json_incref(p->reply.meta);
	p->deadline_ms = deadline_ms;
	p->seen_ms = aif_now_ms();
	p->conn = -1;
	p->out.fd = -1;
	if (relay_secret != NULL) {
		memcpy(p->relay_secret, relay_secret, AIF_RELAY_SECRET_BYTES);
		p->has_secret = 1;
	}
	return p;
}

void
parked_free(struct parked *p)
{
	if (p == NULL)
		return;
	free(p->result);
	free(p->estimate);
	json_decref(p->reply.meta);
	if (p->resp != NULL) {
		aif_resp_stream_free(p->resp);
		free(p->resp);
	}
	free(p);
}

enum parked_verdict
parked_check_frame(struct parked *p, const struct aif_relay_header *h, const char *payload)
{
	if (!p->has_secret)
		return PARKED_FRAME_UNVERIFIABLE;
	if (h->attempt != 0 && p->key_attempt != h->attempt) {
		aif_relay_key(p->relay_secret, p->id, h->attempt, p->key);
		p->key_attempt = h->attempt;
	}
	if (h->attempt != 0 && aif_relay_verify(p->key, h, payload))
		return PARKED_FRAME_OK;
	aif_warn("msg=\"relay frame with a bad tag dropped\" job=%s", p->reply.job_id);
	aif_metrics_add("aif_relay_rejected_frames_total", "side=\"api\"", 1);
	return PARKED_FRAME_BAD;
}

void
parked_frames_free(struct early_frame *f)
{
	while (f != NULL) {
		struct early_frame *next = f->next;
		free(f);
		f = next;
	}
}

/* ---- early notes (mu held) ---------------------------------------------------------- */

static struct early *
early_find(struct parked_table *t, uint64_t id)
{
	struct early *e = t->ebuckets[bucket_of(id)];

	while (e != NULL && e->id != id)
		e = e->next;
	return e;
}

/* Unlinks e from the hash and the age list and frees it with its frames. */
static void
early_drop(struct parked_table *t, struct early *e)
{
	struct early **pp = &t->ebuckets[bucket_of(e->id)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	t->nearly--;
	t->early_bytes -= e->bytes;
	parked_frames_free(e->frames);
	free(e);
}

/* The notes of id, created (the oldest dropped when full) or made the newest: notes
 * expire PARKED_EARLY_TTL_MS after their last frame, so a long stream whose request is
 * slow to park keeps its head. NULL on no memory. */
static struct early *
early_get(struct parked_table *t, uint64_t id, int64_t now)
{
	struct early *e = early_find(t, id);
	size_t b;

	if (e != NULL) {
		e->at_ms = now;
		if (e == t->newest)
			return e;
		if (e->older != NULL)	/* unlinked from the age list, linked at its end */
			e->older->newer = e->newer;
		else
			t->oldest = e->newer;
		e->newer->older = e->older;
		e->older = t->newest;
		e->newer = NULL;
		t->newest->newer = e;
		t->newest = e;
		return e;
	}
	while (t->nearly >= PARKED_EARLY_MAX && t->oldest != NULL)
		early_drop(t, t->oldest);
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->id = id;
	e->at_ms = now;
	b = bucket_of(id);
	e->next = t->ebuckets[b];
	t->ebuckets[b] = e;
	e->older = t->newest;
	if (t->newest != NULL)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
	t->nearly++;
	return e;
}

void
parked_early_frame(struct parked_table *t, const struct aif_relay_header *h,
    const char *payload)
{
	uint32_t len = h->len;
	struct early_frame *f;
	struct early *e;

	pthread_mutex_lock(&t->mu);
	while (t->early_bytes + len > PARKED_EARLY_BYTES && t->oldest != NULL)
		early_drop(t, t->oldest);
	if ((e = early_get(t, h->job, aif_now_ms())) != NULL &&
	    (f = malloc(sizeof(*f) + (size_t)len + 1)) != NULL) {
		f->h = *h;
		f->next = NULL;
		memcpy(f->payload, payload, len);
		f->payload[len] = '\0';
		if (e->last != NULL)
			e->last->next = f;
		else
			e->frames = f;
		e->last = f;
		e->bytes += len;
		t->early_bytes += len;
	}
	pthread_mutex_unlock(&t->mu);
}

void
parked_early_expire(struct parked_table *t, int64_t now)
{
	pthread_mutex_lock(&t->mu);
	while (t->oldest != NULL && now - t->oldest->at_ms > PARKED_EARLY_TTL_MS)
		early_drop(t, t->oldest);
	pthread_mutex_unlock(&t->mu);
}

/* ---- parked requests (mu held) ---------------------------------------------------------- */

static int
is(const struct parked *p, uint64_t id, int stream)
{
	return p->id == id && p->stream == (stream != 0);
}

static void
insert_locked(struct parked_table *t, struct parked *p)
{
	size_t b = bucket_of(p->id);

	p->next = t->buckets[b];
	t->buckets[b] = p;
	t->count[p->stream]++;
}

static int
unlink_locked(struct parked_table *t, struct parked *p)
{
	struct parked **pp = &t->buckets[bucket_of(p->id)];

	while (*pp != NULL && *pp != p)
		pp = &(*pp)->next;
	if (*pp == NULL)
		return 0;
	*pp = p->next;
	p->next = NULL;
	t->count[p->stream]--;
	return 1;
}

/* The request of job id and kind that holds the relay secret, else the first one. */
static struct parked *
find_locked(struct parked_table *t, uint64_t id, int stream)
{
	struct parked *p, *first = NULL;

	for (p = t->buckets[bucket_of(id)]; p != NULL; p = p->next)
		if (is(p, id, stream)) {
			if (p->has_secret)
				return p;
			if (first == NULL)
				first = p;
		}
	return first;
}

/* ---- parked requests ------------------------------------------------------------------ */

int
parked_put(struct parked_table *t, struct parked *p, size_t max, int *finished,
    struct early_frame **frames)
{
	struct early *e;
	int rc = 0;

	if (finished != NULL)
		*finished = 0;
	if (frames != NULL)
		*frames = NULL;
	pthread_mutex_lock(&t->mu);
	if (t->count[p->stream] >= max) {
		pthread_mutex_unlock(&t->mu);
		return -1;
	}
	if ((e = early_find(t, p->id)) != NULL) {
		if (finished != NULL) {
			*finished = e->finished;
			e->finished = 0;
		}
		if (frames != NULL && p->has_secret && e->frames != NULL) {
			*frames = e->frames;
			e->frames = e->last = NULL;
			rc = 1;
		}
		if (e->frames == NULL)
			early_drop(t, e);
	}
	if (rc == 0)
		insert_locked(t, p);
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int
parked_put_replay(struct parked_table *t, struct parked *p, size_t max,
    parked_replay_fn apply, void *arg, int *finished)
{
	struct early_frame *frames, *f;
	int fin = 0, rc;

	if (finished != NULL)
		*finished = 0;
	while ((rc = parked_put(t, p, max, &fin, &frames)) == 1) {
		if (finished != NULL)
			*finished |= fin;
		for (f = frames; f != NULL; f = f->next)
			if (apply(p, f, arg))
				break;
		parked_frames_free(frames);
		if (f != NULL)
			return 1;
	}
	if (finished != NULL)
		*finished |= fin;
	return rc;
}

void
parked_return(struct parked_table *t, struct parked *p)
{
	pthread_mutex_lock(&t->mu);
	insert_locked(t, p);
	pthread_mutex_unlock(&t->mu);
}

struct parked *
parked_take(struct parked_table *t, uint64_t id, int stream)
{
	struct parked *p;

	pthread_mutex_lock(&t->mu);
	if ((p = find_locked(t, id, stream)) != NULL)
		(void)unlink_locked(t, p);
	pthread_mutex_unlock(&t->mu);
	return p;
}

size_t
parked_find(struct parked_table *t, uint64_t id, int stream, struct parked **out,
    size_t cap)
{
	struct parked *p, *first;
	size_t n = 0;

	pthread_mutex_lock(&t->mu);
	if (cap > 0 && (first = find_locked(t, id, stream)) != NULL) {
		out[n++] = first;
		for (p = t->buckets[bucket_of(id)]; p != NULL && n < cap; p = p->next)
			if (p != first && is(p, id, stream))
				out[n++] = p;
	}
	pthread_mutex_unlock(&t->mu);
	return n;
}

int
parked_remove(struct parked_table *t, struct parked *p)
{
	int found;

	pthread_mutex_lock(&t->mu);
	found = unlink_locked(t, p);
	pthread_mutex_unlock(&t->mu);
	return found;
}

struct parked *
parked_take_or_finished(struct parked_table *t, uint64_t id)
{
	struct parked *p;
	struct early *e;

	pthread_mutex_lock(&t->mu);
	if ((p = find_locked(t, id, 0)) != NULL)
		(void)unlink_locked(t, p);
	else if ((e = early_get(t, id, aif_now_ms())) != NULL)
		e->finished = 1;
	pthread_mutex_unlock(&t->mu);
	return p;
}

size_t
parked_take_if(struct parked_table *t, int stream,
    int (*pred)(const struct parked *, void *), void *arg, struct parked **out, size_t cap)
{
	size_t n = 0;

	stream = stream != 0;
	pthread_mutex_lock(&t->mu);
	for (size_t b = 0; b < NBUCKETS && n < cap && t->count[stream] > 0; b++) {
		struct parked **pp = &t->buckets[b];
		while (*pp != NULL && n < cap) {
			struct parked *p = *pp;
			if (p->stream == stream && pred(p, arg)) {
				*pp = p->next;
				p->next = NULL;
				t->count[stream]--;
				out[n++] = p;
			} else {
				pp = &p->next;
			}
		}
	}
	pthread_mutex_unlock(&t->mu);
	return n;
}

static int
seen_by(const struct parked *p, void *arg)
{
	return p->seen_ms <= *(const int64_t *)arg;
}

size_t
parked_take_due(struct parked_table *t, int stream, int64_t older_than, int64_t now,
    struct parked **out, size_t cap)
{
	size_t n = parked_take_if(t, stream, seen_by, &older_than, out, cap);

	for (size_t i = 0; i < n; i++)
		out[i]->seen_ms = now;
	return n;
}

size_t
parked_count(struct parked_table *t, int stream)
{
	size_t n;

	pthread_mutex_lock(&t->mu);
	n = t->count[stream != 0];
	pthread_mutex_unlock(&t->mu);
	return n;
}

void
parked_settle(struct aif_db *db, struct parked **taken, size_t n, parked_settle_fn settle,
    void *arg)
{
	for (size_t off = 0; off < n; off += PARKED_SETTLE_MAX) {
		size_t k = n - off < PARKED_SETTLE_MAX ? n - off : PARKED_SETTLE_MAX, nv = 0;
		uint64_t ids[PARKED_SETTLE_MAX];
		struct aif_job_view *views = NULL;

		for (size_t i = 0; i < k; i++)
			ids[i] = taken[off + i]->id;
		if (aif_jobs_final_views(db, ids, k, &views, &nv) != AIF_OK) {
			aif_jobs_views_free(views, nv);
			views = NULL;
			nv = 0;
		}
		for (size_t i = 0; i < k; i++) {
			const struct aif_job_view *v = NULL;
			for (size_t j = 0; j < nv && v == NULL; j++)
				if (views[j].id == ids[i])
					v = &views[j];
			settle(taken[off + i], v, arg);
		}
		aif_jobs_views_free(views, nv);
	}
}

/* ---- the subsystem ----------------------------------------------------------------- */

int
parked_start(struct api *api)
{
	struct parked_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	pthread_mutex_init(&t->mu, NULL);
	api->parked = t;
	return 0;
}

void
parked_stop(struct api *api, int grace_ms)
{
	struct parked_table *t = api->parked;

	(void)grace_ms;
	if (t == NULL)
		return;
	/* the completer and the stream thread answered or refused every request */
	if (t->count[0] + t->count[1] > 0)
		aif_warn("msg=\"parked requests left at exit\" sync=%zu stream=%zu",
		    t->count[0], t->count[1]);
	while (t->oldest != NULL)
		early_drop(t, t->oldest);
	pthread_mutex_destroy(&t->mu);
	free(t);
	api->parked = NULL;
}
