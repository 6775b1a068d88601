/* parked.c -- the table of parked requests and early notes; see parked.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "parked.h"

#define NBUCKETS	4096	/* power of two */
#define EARLY_VICTIM_SCAN	32	/* oldest notes looked at for one to drop */

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

/* Unlinks e from the hash and the age list; the caller frees it. */
static void
early_unlink(struct parked_table *t, struct early *e)
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
}

static void
early_drop(struct parked_table *t, struct early *e)
{
	early_unlink(t, e);
	parked_frames_free(e->frames);
	free(e);
}

/* The note to drop when the notes are full: the oldest that only says "finished" among
 * the few oldest (most are: every finished stream job leaves one, since no sync waiter
 * takes its bell), else the oldest; frames a stream is about to need go last. */
static struct early *
early_victim(struct parked_table *t)
{
	struct early *e = t->oldest;

	for (int i = 0; e != NULL && i < EARLY_VICTIM_SCAN; i++, e = e->newer)
		if (e->frames == NULL)
			return e;
	return t->oldest;
}

/* The notes of id, created (evicting one when full: early_victim); NULL on no memory. */
static struct early *
early_get(struct parked_table *t, uint64_t id, int64_t now)
{
	struct early *e = early_find(t, id);
	size_t b;

	if (e != NULL)
		return e;
	while (t->nearly >= PARKED_EARLY_MAX && t->oldest != NULL)
		early_drop(t, early_victim(t));
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
parked_early_finished(struct parked_table *t, uint64_t id)
{
	struct early *e;

	pthread_mutex_lock(&t->mu);
	if ((e = early_get(t, id, aif_now_ms())) != NULL)
		e->finished = 1;
	pthread_mutex_unlock(&t->mu);
}

static struct parked *
take_locked(struct parked_table *t, uint64_t id, int stream)
{
	struct parked **pp, *p;

	for (pp = &t->buckets[bucket_of(id)]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == id && ((*pp)->stream != 0) == (stream != 0)) {
			p = *pp;
			*pp = p->next;
			p->next = NULL;
			t->count[stream != 0]--;
			return p;
		}
	return NULL;
}

struct parked *
parked_take_or_finished(struct parked_table *t, uint64_t id)
{
	struct parked *p;
	struct early *e;

	pthread_mutex_lock(&t->mu);
	if ((p = take_locked(t, id, 0)) == NULL &&
	    (e = early_get(t, id, aif_now_ms())) != NULL)
		e->finished = 1;
	pthread_mutex_unlock(&t->mu);
	return p;
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

/* ---- parked requests ------------------------------------------------------------------ */

static void
insert_locked(struct parked_table *t, struct parked *p)
{
	size_t b = bucket_of(p->id);

	p->next = t->buckets[b];
	t->buckets[b] = p;
	t->count[p->stream != 0]++;
}

int
parked_put(struct parked_table *t, struct parked *p, size_t max, int *finished,
    struct early_frame **frames)
{
	struct early *e;

	if (finished != NULL)
		*finished = 0;
	if (frames != NULL)
		*frames = NULL;
	pthread_mutex_lock(&t->mu);
	if (t->count[p->stream != 0] >= max) {
		pthread_mutex_unlock(&t->mu);
		return -1;
	}
	insert_locked(t, p);
	if ((e = early_find(t, p->id)) != NULL) {
		early_unlink(t, e);
		if (finished != NULL)
			*finished = e->finished;
		if (frames != NULL) {
			*frames = e->frames;
			e->frames = NULL;
		}
		parked_frames_free(e->frames);
		free(e);
	}
	pthread_mutex_unlock(&t->mu);
	return 0;
}

struct parked *
parked_take(struct parked_table *t, uint64_t id, int stream)
{
	struct parked *p;

	pthread_mutex_lock(&t->mu);
	p = take_locked(t, id, stream);
	pthread_mutex_unlock(&t->mu);
	return p;
}

void
parked_return(struct parked_table *t, struct parked *p)
{
	pthread_mutex_lock(&t->mu);
	insert_locked(t, p);
	pthread_mutex_unlock(&t->mu);
}

size_t
parked_take_if(struct parked_table *t, int stream,
    int (*pred)(const struct parked *, void *), void *arg, struct parked **out, size_t cap)
{
	size_t n = 0;

	pthread_mutex_lock(&t->mu);
	for (size_t b = 0; b < NBUCKETS && n < cap && t->count[stream != 0] > 0; b++) {
		struct parked **pp = &t->buckets[b];
		while (*pp != NULL && n < cap) {
			struct parked *p = *pp;
			if ((p->stream != 0) == (stream != 0) && pred(p, arg)) {
				*pp = p->next;
				p->next = NULL;
				t->count[stream != 0]--;
				out[n++] = p;
			} else {
				pp = &p->next;
			}
		}
	}
	pthread_mutex_unlock(&t->mu);
	return n;
}

size_t
parked_due(struct parked_table *t, int stream, int64_t older_than, int64_t now,
    uint64_t *ids, size_t cap)
{
	size_t n = 0;

	pthread_mutex_lock(&t->mu);
	for (size_t b = 0; b < NBUCKETS && n < cap && t->count[stream != 0] > 0; b++)
		for (struct parked *p = t->buckets[b]; p != NULL && n < cap; p = p->next)
			if ((p->stream != 0) == (stream != 0) && p->seen_ms <= older_than) {
				ids[n++] = p->id;
				p->seen_ms = now;
			}
	pthread_mutex_unlock(&t->mu);
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

void
parked_free(struct parked *p)
{
	if (p == NULL)
		return;
	free(p->result);
	free(p);
}
