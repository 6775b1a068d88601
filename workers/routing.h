/* routing.h -- where a worker sends each engine call: the replica with the fewest
 * outstanding calls among those with room whose circuit breaker is not open; when every
 * replica of a model is open, the model's fallback models in order. A replica that
 * fails models[].circuit_failures times in a row is opened for circuit_open_ms, then
 * probed (GET on the adapter's health path) and closed again when it answers 200, or
 * let through again (half-open) when its time is up. Every replica is also probed every
 * AIF_ROUTING_HEALTH_MS, and the workers publish the result (store/registry.h) for
 * aif-api's /readyz. State is per worker process.
 *
 * A replica's max_in_flight holds for all workers together: each live worker gets an
 * equal share (the first max % n workers by id one more, so the shares add up to
 * exactly max_in_flight; with more workers than slots some get none). Jobs beyond the
 * shares stay queued in the database, in priority order. The share follows the live
 * worker count read with every heartbeat (routing_set_share). */
#ifndef AIF_ROUTING_H
#define AIF_ROUTING_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define AIF_ROUTING_PROBE_TIMEOUT_MS	2000
#define AIF_ROUTING_HEALTH_MS		5000	/* every replica is probed this often */

struct routing;

/* New routing state for cfg (borrowed; must outlive it; its engines' credentials
 * already read: each replica's probe header is built here once); NULL on no memory. */
struct routing	*routing_new(const struct aif_config *cfg);
void		 routing_free(struct routing *rt);

/* This worker is number `rank` (0-based, by workers.id) of `n` live workers. */
void		 routing_set_share(struct routing *rt, int rank, int n);

/* Free call slots of model mi over all its replicas (open or not): what a claim may
 * take for it. */
int		 routing_room(const struct routing *rt, size_t mi);

/* Picks a replica for a job of model mi, preferring replicas other than avoid_url (the
 * one its last attempt failed on, or NULL). Falls back to the model's fallbacks when
 * none of its own replicas is usable. Returns 0 with out_mi and out_ri set, or -1. */
int		 routing_pick(struct routing *rt, size_t mi, const char *avoid_url,
		    size_t *out_mi, size_t *out_ri);
/* routing_pick for a job of one of `kinds` (a mask): a fallback that serves none of
 * them is passed over (0: no fallback at all). */
int		 routing_pick_kind(struct routing *rt, size_t mi, unsigned kinds,
		    const char *avoid_url, size_t *out_mi, size_t *out_ri);

/* Call bookkeeping: a call starts / ends on (mi, ri). */
void		 routing_acquire(struct routing *rt, size_t mi, size_t ri);
void		 routing_release(struct routing *rt, size_t mi, size_t ri);

/* The outcome of a call on (mi, ri): ok = 1 closes the circuit, ok = 0 counts a failure
 * of the replica (transport error, timeout, 5xx other than 503) and may open it. */
void		 routing_result(struct routing *rt, size_t mi, size_t ri, int ok);

/* The replica refused the connection: nothing listens there, open its circuit now. */
void		 routing_down(struct routing *rt, size_t mi, size_t ri);

/* How long a retry of a model-mi job should wait for a circuit: 0 when a replica of
 * the model or of one of its fallbacks has a closed circuit (busy or not), else the
 * milliseconds until the first open circuit is due to be probed again. A retry sooner
 * would only find every circuit still open and burn an attempt. */
int64_t		 routing_wait_ms(const struct routing *rt, size_t mi);

/* Drives health probes (of open circuits, and every replica's periodic one) without
 * blocking; call once per loop turn. */
void		 routing_probe(struct routing *rt);

/* 1 when (mi, ri)'s last health probe answered 200 and its circuit is closed. */
int		 routing_is_healthy(const struct routing *rt, size_t mi, size_t ri);

/* Outstanding calls on (mi, ri) and whether its circuit is open (for tests and logs). */
int		 routing_in_flight(const struct routing *rt, size_t mi, size_t ri);
int		 routing_is_open(const struct routing *rt, size_t mi, size_t ri);

#endif
